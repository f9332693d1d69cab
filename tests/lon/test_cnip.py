"""ISO/IEC 14908-4 CN/IP: header vectors, EIA-852 MD5 authentication, aggregation, negative cases."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import hashes
from hypothesis import given, settings
from hypothesis import strategies as st

from cosemnet.errors import DecodeError, EncodeError
from cosemnet.profiles.lon import (
    ApplicationMessage,
    BroadcastAddress,
    CnipAuthenticationError,
    CnipPacket,
    CnipPacketType,
    LonFrame,
    Npdu,
    authentication_digest,
    decode_datagram,
)
from cosemnet.profiles.lon.crc import check_crc

from .strategies import frames

SECRET = bytes(range(0x10, 0x20))
FRAME_HEX = "00 30 10 ff 00 3f 68 69"  # broadcast, application message 0x3F "hi"
FRAME = LonFrame(Npdu(0x10, 0x7F, BroadcastAddress(0), ApplicationMessage(0x3F, b"hi")))

# length 28, version 1, data, no extended header, flags 0, vendor 0, session 0x01020304, seq 5,
# timestamp 0x11223344, then the 14908-1 frame without CRC.
PACKET_HEX = "001c 01 01 00 00 0000 01020304 00000005 11223344 " + FRAME_HEX


def md5(*parts: bytes) -> bytes:
    digest = hashes.Hash(hashes.MD5())
    for part in parts:
        digest.update(part)
    return digest.finalize()


def test_header_vector() -> None:
    raw = bytes.fromhex(PACKET_HEX)
    packet = CnipPacket.decode(raw)
    assert packet == CnipPacket(
        CnipPacketType.DATA,
        bytes.fromhex(FRAME_HEX),
        session_id=0x01020304,
        sequence_number=5,
        timestamp=0x11223344,
    )
    assert packet.encode() == raw
    assert packet.lon_frame() == FRAME
    built = CnipPacket.data_packet(FRAME, session_id=0x01020304, sequence_number=5, timestamp=0x11223344)
    assert built.encode() == raw


def test_extended_header_vendor_protocol_and_reserved_bits() -> None:
    raw = bytes.fromhex("001c 1f 7f 02 c5 1234 00000000 ffffffff 00000000 aabbccdd 00112233")
    packet = CnipPacket.decode(raw)
    assert packet.version == 0x1F
    assert packet.packet_type == CnipPacketType.SEGMENT
    assert packet.extended_header == bytes.fromhex("aabbccdd00112233")
    assert packet.payload == b""
    assert packet.flags_reserved == 3 and packet.protocol == 5 and not packet.security
    assert packet.vendor_code == 0x1234 and packet.sequence_number == 0xFFFFFFFF
    assert packet.payload_offset == 28
    assert packet.encode() == raw
    with pytest.raises(DecodeError):
        packet.lon_frame()


def test_authentication_construction() -> None:
    packet = CnipPacket.data_packet(FRAME, session_id=0x01020304, sequence_number=5, timestamp=0x11223344)
    packet.security = True
    wire = packet.encode(secret=SECRET)
    body = bytes.fromhex(PACKET_HEX)
    body = body[:5] + b"\x20" + body[6:]  # the security flag is set before the digest is computed
    assert wire[:28] == body
    assert wire[28:] == md5(body, bytes(16), SECRET)  # MD5(packet || 16 zero bytes || secret)
    assert authentication_digest(body, SECRET) == wire[28:]
    assert int.from_bytes(wire[:2], "big") == 28  # length excludes the digest
    decoded = CnipPacket.decode(wire, secret=SECRET)
    assert decoded == packet
    assert decoded.lon_frame() == FRAME


def test_wrong_secret_or_tampering() -> None:
    packet = CnipPacket.data_packet(FRAME, security=True)
    wire = packet.encode(secret=SECRET)
    with pytest.raises(CnipAuthenticationError) as auth_info:
        CnipPacket.decode(wire, secret=bytes(16))
    assert auth_info.value.offset == 28
    assert "digest does not match" in str(auth_info.value)
    for position in (0, 5, 12, 25, 27, 28, 43):
        tampered = bytearray(wire)
        tampered[position] ^= 0x01
        with pytest.raises(DecodeError):
            CnipPacket.decode(bytes(tampered), secret=SECRET)
    with pytest.raises(DecodeError) as info:
        CnipPacket.decode(wire[:-1], secret=SECRET)
    assert info.value.offset == len(wire) - 1
    with pytest.raises(DecodeError) as info:  # flag set: a secret is required
        CnipPacket.decode(wire)
    assert info.value.offset == 5
    plain = CnipPacket.data_packet(FRAME).encode()
    with pytest.raises(CnipAuthenticationError):  # no security flag, no digest
        CnipPacket.decode(plain + md5(plain, bytes(16), SECRET), secret=SECRET)
    assert SECRET.hex() not in str(info.value)


def test_secret_and_flag_consistency() -> None:
    with pytest.raises(EncodeError):
        CnipPacket.data_packet(FRAME).encode(secret=SECRET)  # flag not set
    with pytest.raises(EncodeError):
        CnipPacket.data_packet(FRAME, security=True).encode()  # flag set, nothing to sign with
    with pytest.raises(EncodeError):
        CnipPacket.data_packet(FRAME, security=True).encode(secret=b"short")
    with pytest.raises(DecodeError):
        CnipPacket.decode(bytes.fromhex(PACKET_HEX), secret=b"short")


def test_aggregated_datagram() -> None:
    first = CnipPacket.data_packet(FRAME, sequence_number=1, security=True).encode(SECRET)
    second = CnipPacket.data_packet(FRAME, sequence_number=2, security=True).encode(SECRET)
    packets = decode_datagram(first + second, SECRET)
    assert [p.sequence_number for p in packets] == [1, 2]
    plain = CnipPacket.data_packet(FRAME, sequence_number=3).encode()
    assert [p.sequence_number for p in decode_datagram(plain * 3)] == [3, 3, 3]
    packet, end = CnipPacket.decode_from(b"\xee" + plain + b"\xee", 1)
    assert end == 1 + len(plain) and packet.sequence_number == 3
    with pytest.raises(DecodeError):
        decode_datagram(b"")
    with pytest.raises(DecodeError) as info:
        decode_datagram(plain + plain[:10])
    assert info.value.offset == len(plain)


def test_payload_with_crc_option() -> None:
    packet = CnipPacket.data_packet(FRAME, crc=True)
    assert check_crc(packet.payload)
    assert packet.lon_frame(crc=True) == FRAME
    with pytest.raises(DecodeError):
        CnipPacket.data_packet(FRAME).lon_frame(crc=True)


def test_lon_frame_error_offsets_relative_to_packet() -> None:
    packet = CnipPacket(payload=bytes.fromhex("00 09 01 85 02 89 42 33 10"))
    with pytest.raises(DecodeError) as info:
        packet.lon_frame()
    assert info.value.offset == 20 + 7


@pytest.mark.parametrize(
    ("hex_bytes", "offset"),
    [
        ("", 0),
        ("0014 01 01 00 00 0000 00000000 00000000", 0),  # 19 bytes of header
        ("0013 01 01 00 00 0000 00000000 00000000 00000000", 0),  # length < 20
        ("0017 01 01 01 00 0000 00000000 00000000 00000000 000000", 0),  # length < 20 + 4
        ("0016 01 01 00 00 0000 00000000 00000000 00000000 00", 21),  # says 22, has 21
        ("0014 01 01 00 00 0000 00000000 00000000 00000000 00", 20),  # trailing byte
    ],
)
def test_decode_errors(hex_bytes: str, offset: int) -> None:
    with pytest.raises(DecodeError) as info:
        CnipPacket.decode(bytes.fromhex(hex_bytes))
    assert info.value.offset == offset


@pytest.mark.parametrize(
    "packet",
    [
        CnipPacket(extended_header=b"\x00\x01"),
        CnipPacket(extended_header=bytes(1024)),
        CnipPacket(payload=bytes(0xFFFF - 19)),
        CnipPacket(packet_type=256),
        CnipPacket(protocol=32),
        CnipPacket(session_id=-1),
        CnipPacket(sequence_number=1 << 32),
        CnipPacket(vendor_code=0x10000),
        CnipPacket(version=256),
        CnipPacket(flags_reserved=4),
    ],
)
def test_encode_errors(packet: CnipPacket) -> None:
    with pytest.raises(EncodeError):
        packet.encode()


u32 = st.integers(0, 0xFFFFFFFF)
packets = st.builds(
    CnipPacket,
    st.integers(0, 255),
    st.binary(max_size=60),
    u32,
    u32,
    u32,
    st.integers(0, 0xFFFF),
    st.integers(0, 31),
    st.just(False),
    st.integers(0, 255),
    st.integers(0, 4).flatmap(lambda n: st.binary(min_size=4 * n, max_size=4 * n)),
    st.integers(0, 3),
)


@given(packets, st.booleans())
def test_round_trip(packet: CnipPacket, authenticated: bool) -> None:
    secret = SECRET if authenticated else None
    packet.security = authenticated
    raw = packet.encode(secret)
    assert CnipPacket.decode(raw, secret) == packet
    assert int.from_bytes(raw[:2], "big") == len(raw) - (16 if authenticated else 0)
    for cut in range(len(raw)):
        with pytest.raises(DecodeError):
            CnipPacket.decode(raw[:cut], secret)


@given(frames, packets)
def test_frames_in_data_packets(frame: LonFrame, header: CnipPacket) -> None:
    packet = CnipPacket.data_packet(
        frame,
        session_id=header.session_id,
        sequence_number=header.sequence_number,
        timestamp=header.timestamp,
    )
    assert CnipPacket.decode(packet.encode()).lon_frame() == frame


@settings(max_examples=400)
@given(st.binary(max_size=60), st.booleans())
def test_fuzz(data: bytes, authenticated: bool) -> None:
    secret = SECRET if authenticated else None
    try:
        packet = CnipPacket.decode(data, secret)
    except DecodeError as exc:
        assert 0 <= exc.offset <= len(data)
    else:
        assert packet.encode(secret) == data
