"""AES key wrap (RFC 3394, NIST SP 800-38F KW) and Security setup key transfer data.

The KEK (master key) wraps the global keys sent with Security setup (class 64) ``key_transfer``
(version 0) / ``global_key_transfer`` (version 1)::

    key_transfer data ::= array key_data
    key_data ::= structure { key_id: enum, key_wrapped: octet-string }
    key_id: (0) global unicast encryption key, (1) global broadcast encryption key,
            (2) authentication key, (3) master key (KEK)

This module builds and parses that Data value; the COSEM object itself lives in the object model.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap

from cosemnet.codec.types import DataValue, Enumerated
from cosemnet.errors import DecodeError, EncodeError
from cosemnet.security.errors import AuthenticationError, InvalidKeyError
from cosemnet.security.keys import GlobalKeyType


def _check_kek(kek: bytes) -> None:
    if len(kek) not in (16, 24, 32):
        raise InvalidKeyError(f"a key encrypting key has 16, 24 or 32 bytes, not {len(kek)}")


def wrap_key(kek: bytes, key: bytes) -> bytes:
    """RFC 3394 wrap of ``key`` (a multiple of 8 bytes, at least 16) under ``kek``."""
    _check_kek(kek)
    if len(key) < 16 or len(key) % 8:
        raise InvalidKeyError(f"a wrapped key has a multiple of 8 bytes, at least 16, not {len(key)}")
    return aes_key_wrap(kek, key)


def unwrap_key(kek: bytes, wrapped: bytes) -> bytes:
    """RFC 3394 unwrap; :class:`AuthenticationError` if the integrity check fails (wrong KEK, tampering)."""
    _check_kek(kek)
    if len(wrapped) < 24 or len(wrapped) % 8:
        raise AuthenticationError(f"a wrapped key has a multiple of 8 bytes, at least 24, not {len(wrapped)}")
    try:
        return aes_key_unwrap(kek, wrapped)
    except InvalidUnwrap:
        raise AuthenticationError("key unwrap integrity check failed (wrong KEK or tampered data)") from None


def build_key_transfer_data(items: Iterable[tuple[GlobalKeyType, bytes]]) -> DataValue:
    """The key_transfer argument for already wrapped keys: ``[(enum key_id, key_wrapped), ...]``."""
    out: list[DataValue] = []
    for key_id, wrapped in items:
        if not isinstance(key_id, GlobalKeyType):
            raise EncodeError(f"key_id must be a GlobalKeyType, not {key_id!r}")
        out.append((Enumerated(int(key_id)), bytes(wrapped)))
    return out


def key_transfer_data(kek: bytes, keys: Mapping[GlobalKeyType, bytes]) -> DataValue:
    """Wrap each key of ``keys`` under ``kek`` and build the key_transfer argument."""
    return build_key_transfer_data((key_id, wrap_key(kek, key)) for key_id, key in keys.items())


def parse_key_transfer_data(value: DataValue) -> list[tuple[GlobalKeyType, bytes]]:
    """Split a key_transfer argument into ``(key_id, key_wrapped)`` pairs (DecodeError if malformed).

    Offsets in errors are element indexes (the value is already decoded from A-XDR).
    """
    if not isinstance(value, list):
        raise DecodeError("key transfer data is not an array", 0, "array of key_data")
    result: list[tuple[GlobalKeyType, bytes]] = []
    for index, item in enumerate(value):
        if not isinstance(item, tuple) or len(item) != 2:
            raise DecodeError(
                f"key_data {index} is not a structure of 2", index, "structure {key_id, key_wrapped}"
            )
        key_id, wrapped = item
        if not isinstance(key_id, Enumerated):
            raise DecodeError(f"key_id of key_data {index} is not an enum", index, "enum")
        try:
            kind = GlobalKeyType(int(key_id))
        except ValueError:
            raise DecodeError(f"unknown key_id {int(key_id)} in key_data {index}", index, "0..3") from None
        if not isinstance(wrapped, bytes):
            raise DecodeError(
                f"key_wrapped of key_data {index} is not an octet-string", index, "octet-string"
            )
        result.append((kind, wrapped))
    return result


def unwrap_key_transfer(kek: bytes, value: DataValue) -> dict[GlobalKeyType, bytes]:
    """Parse a key_transfer argument and unwrap every key (AuthenticationError if one fails)."""
    keys: dict[GlobalKeyType, bytes] = {}
    for key_id, wrapped in parse_key_transfer_data(value):
        if key_id in keys:
            raise DecodeError(f"key_id {key_id.name} appears twice", 0, "distinct key_ids")
        keys[key_id] = unwrap_key(kek, wrapped)
    return keys


__all__ = [
    "build_key_transfer_data",
    "key_transfer_data",
    "parse_key_transfer_data",
    "unwrap_key",
    "unwrap_key_transfer",
    "wrap_key",
]
