"""RFC 3394 key wrap and Security setup key transfer data."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cosemnet.codec.axdr import decode_data_exact, encode_data
from cosemnet.codec.types import Enumerated, Unsigned
from cosemnet.errors import DecodeError, EncodeError
from cosemnet.security import AuthenticationError, InvalidKeyError
from cosemnet.security.keys import GlobalKeyType
from cosemnet.security.keywrap import (
    build_key_transfer_data,
    key_transfer_data,
    parse_key_transfer_data,
    unwrap_key,
    unwrap_key_transfer,
    wrap_key,
)

H = bytes.fromhex
KEK = H("000102030405060708090A0B0C0D0E0F")
KEY = H("00112233445566778899AABBCCDDEEFF")
WRAPPED = H("1FA68B0A8112B447AEF34BD8FB5A7B829D3E862371D2CFE5")


def test_rfc3394_vector() -> None:
    assert wrap_key(KEK, KEY) == WRAPPED
    assert unwrap_key(KEK, WRAPPED) == KEY


def test_rfc3394_256_bit_vector() -> None:
    # RFC 3394 4.6: 256-bit key data with a 256-bit KEK
    kek = H("000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F")
    key = H("00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F")
    wrapped = H("28C9F404C4B810F4CBCCB35CFB87F8263F5786E2D80ED326CBC7F0E71A99F43BFB988B9B7A02DD21")
    assert wrap_key(kek, key) == wrapped and unwrap_key(kek, wrapped) == key


def test_unwrap_failures() -> None:
    with pytest.raises(AuthenticationError):
        unwrap_key(bytes(16), WRAPPED)
    tampered = bytearray(WRAPPED)
    tampered[3] ^= 1
    with pytest.raises(AuthenticationError):
        unwrap_key(KEK, bytes(tampered))
    with pytest.raises(AuthenticationError):
        unwrap_key(KEK, WRAPPED[:-1])
    with pytest.raises(InvalidKeyError):
        unwrap_key(KEK[:15], WRAPPED)
    with pytest.raises(InvalidKeyError):
        wrap_key(KEK, KEY[:15])


def test_key_transfer_data_bytes() -> None:
    value = key_transfer_data(KEK, {GlobalKeyType.UNICAST_ENCRYPTION: KEY})
    # array(1) of structure(2) {enum 0, octet-string(24)}
    assert encode_data(value) == H("0101020216000918") + WRAPPED
    decoded = decode_data_exact(H("0101020216000918") + WRAPPED)
    assert parse_key_transfer_data(decoded) == [(GlobalKeyType.UNICAST_ENCRYPTION, WRAPPED)]
    assert unwrap_key_transfer(KEK, decoded) == {GlobalKeyType.UNICAST_ENCRYPTION: KEY}


def test_key_transfer_all_key_types() -> None:
    keys = {kind: bytes([kind * 16 + i for i in range(16)]) for kind in GlobalKeyType}
    value = decode_data_exact(encode_data(key_transfer_data(KEK, keys)))
    assert [kind for kind, _ in parse_key_transfer_data(value)] == list(GlobalKeyType)
    assert unwrap_key_transfer(KEK, value) == keys
    with pytest.raises(AuthenticationError):
        unwrap_key_transfer(bytes(16), value)


@pytest.mark.parametrize(
    "value",
    [
        (Enumerated(0), WRAPPED),
        [(Enumerated(0),)],
        [(Unsigned(0), WRAPPED)],
        [(Enumerated(4), WRAPPED)],
        [(Enumerated(0), "text")],
        [(Enumerated(0), WRAPPED), (Enumerated(0), WRAPPED)],
    ],
)
def test_malformed_key_transfer(value: object) -> None:
    with pytest.raises(DecodeError):
        unwrap_key_transfer(KEK, value)  # type: ignore[arg-type]


def test_build_checks_key_id() -> None:
    with pytest.raises(EncodeError):
        build_key_transfer_data([(0, WRAPPED)])  # type: ignore[list-item]


@given(
    kek=st.sampled_from([KEK, bytes(range(32))]), key=st.binary(min_size=2, max_size=8).map(lambda b: b * 8)
)
def test_wrap_round_trip(kek: bytes, key: bytes) -> None:
    key = key[: len(key) // 8 * 8]
    assert unwrap_key(kek, wrap_key(kek, key)) == key
