"""CRC-16 of ISO/IEC 14908-1 frames: poly 0x1021 MSB first, init 0xFFFF, final XOR 0xFFFF (GENIBUS)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cosemnet.errors import DecodeError
from cosemnet.profiles.lon.crc import append_crc, check_crc, crc16, crc_bytes, verify_crc


def reference_crc(data: bytes) -> int:
    """Bit-by-bit shift register written from the parameters, independent of binascii."""
    register = 0xFFFF
    for byte in data:
        for bit in range(7, -1, -1):
            feedback = ((register >> 15) & 1) ^ ((byte >> bit) & 1)
            register = (register << 1) & 0xFFFF
            if feedback:
                register ^= 0x1021
    return register ^ 0xFFFF


def test_catalogue_check_value() -> None:
    # CRC-16/GENIBUS check value over ASCII "123456789" (published CRC catalogue value).
    assert crc16(b"123456789") == 0xD64E
    assert reference_crc(b"123456789") == 0xD64E


def test_not_the_ccitt_false_variant() -> None:
    # Same polynomial and init without the final XOR gives 0x29B1: the two must not be confused.
    assert crc16(b"123456789") ^ 0xFFFF == 0x29B1


def test_empty_input() -> None:
    assert crc16(b"") == 0x0000  # init 0xFFFF, no data, complemented


@given(st.binary(max_size=300))
def test_matches_bitwise_reference(data: bytes) -> None:
    assert crc16(data) == reference_crc(data)
    assert crc16(bytearray(data)) == crc16(memoryview(data)) == crc16(data)


@given(st.binary(max_size=300))
def test_append_and_check(data: bytes) -> None:
    framed = append_crc(data)
    assert framed[:-2] == data
    assert framed[-2:] == reference_crc(data).to_bytes(2, "big")  # high byte first
    assert crc_bytes(data) == framed[-2:]
    assert check_crc(framed)
    verify_crc(framed, 0, len(framed))


@given(st.binary(min_size=1, max_size=100), st.data())
def test_single_bit_errors_detected(data: bytes, draw: st.DataObject) -> None:
    framed = bytearray(append_crc(data))
    bit = draw.draw(st.integers(0, len(framed) * 8 - 1))
    framed[bit // 8] ^= 1 << (bit % 8)
    assert not check_crc(framed)
    with pytest.raises(DecodeError) as info:
        verify_crc(bytes(framed), 0, len(framed))
    assert info.value.offset == len(framed) - 2


def test_check_crc_too_short() -> None:
    assert not check_crc(b"")
    assert not check_crc(b"\x00")
    with pytest.raises(DecodeError) as info:
        verify_crc(b"abc\x00", 3, 4)
    assert info.value.offset == 3


def test_verify_offsets_are_absolute() -> None:
    frame = append_crc(b"\x01\x02\x03")
    buf = b"\xff" * 10 + frame[:-1] + b"\x00" + b"\xee" * 4
    with pytest.raises(DecodeError) as info:
        verify_crc(buf, 10, 10 + len(frame))
    assert info.value.offset == 10 + len(frame) - 2
