"""Where the head-end finds the keys of each meter (decision 0027).

A :class:`KeyStore` answers, for a system title, the :class:`MeterKeys` of that meter: the global
unicast encryption key (GUEK) and authentication key (AK) used for its association, and the *counter
owner*: the system title under which our sending invocation counter for that key is persisted.

GCM forbids using one (key, IV) pair twice and our IV is ``head-end system title || counter``, so a
key shared by several meters must have **one** counter for all of them (otherwise two meters would
receive APDUs ciphered with the same key, IV and counter). [design] A store therefore names the owner:
the meter's own system title for per-meter keys, :data:`SHARED_KEY_OWNER` for a shared key.

Stores:

* :class:`StaticKeyStore` -- one key set for every meter (default: the published Green Book example
  keys of the simulator's default profile; test use only);
* :class:`DerivedKeyStore` -- per-meter keys derived from a master key: ``HMAC-SHA-256(master,
  label || system_title)[:16]`` with labels ``b"cosemnet-guek"`` and ``b"cosemnet-ak"`` [design];
* :class:`MappingKeyStore` -- an explicit table, with an optional fallback store.

The broadcast key (GBEK) and the AK used with it are the same for every member of a group
(:meth:`KeyStore.broadcast_keys`). Keys never appear in reprs.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, Protocol

from cosemnet.security.keys import KeySet

__all__ = [
    "DEFAULT_HEAD_END_SYSTEM_TITLE",
    "SHARED_KEY_OWNER",
    "TEST_AK",
    "TEST_BROADCAST_KEY",
    "TEST_EK",
    "DerivedKeyStore",
    "KeyStore",
    "MappingKeyStore",
    "MeterKeys",
    "StaticKeyStore",
]

TEST_EK: Final = bytes.fromhex("000102030405060708090A0B0C0D0E0F")
"""Green Book example GUEK (published test vector; the simulator's default profile uses it)."""
TEST_AK: Final = bytes.fromhex("D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF")
"""Green Book example AK (published test vector)."""
TEST_BROADCAST_KEY: Final = bytes.fromhex("000102030405060708090A0B0C0D0E0F")
"""The simulator's default broadcast key (test value)."""
DEFAULT_HEAD_END_SYSTEM_TITLE: Final = bytes.fromhex("4D4D4D0000000001")
"""The client system title of the simulator's default management Security setup."""
_DERIVED_CACHE: Final = 4096
"""Derived key sets kept (oldest dropped first; deriving again costs two HMACs)."""
SHARED_KEY_OWNER: Final = bytes(8)
"""Counter owner of a key shared by several meters (one counter for all of them)."""


@dataclass(slots=True, frozen=True, eq=False)
class MeterKeys:
    """The keys of one meter; ``counter_owner`` names the persisted sending counter for them."""

    keys: KeySet = field(repr=False)
    counter_owner: bytes


class KeyStore(Protocol):
    """Where the head-end finds each meter's keys and the broadcast keys."""

    def keys_for(self, system_title: bytes) -> MeterKeys:
        """The keys of ``system_title`` (KeyError when unknown)."""
        ...

    def broadcast_keys(self) -> KeySet:
        """The broadcast key and the AK that group requests are protected with."""
        ...


def _check(key: bytes, what: str) -> bytes:
    if len(key) != 16:
        raise ValueError(f"{what} must be 16 bytes (security suite 0/1)")
    return bytes(key)


class StaticKeyStore:
    """The same keys for every meter, one shared sending counter."""

    __slots__ = ("_broadcast", "_keys")

    def __init__(
        self, ek: bytes = TEST_EK, ak: bytes = TEST_AK, broadcast_key: bytes = TEST_BROADCAST_KEY
    ) -> None:
        self._keys = MeterKeys(
            KeySet(ek=_check(ek, "ek"), ak=_check(ak, "ak"), broadcast_key=_check(broadcast_key, "gbek")),
            SHARED_KEY_OWNER,
        )
        self._broadcast = KeySet(ak=self._keys.keys.ak, broadcast_key=self._keys.keys.broadcast_key)

    def __repr__(self) -> str:
        return "StaticKeyStore()"

    def keys_for(self, system_title: bytes) -> MeterKeys:
        """The same keys for every meter."""
        return self._keys

    def broadcast_keys(self) -> KeySet:
        """The broadcast (group) keys."""
        return self._broadcast


def derive_key(master: bytes, label: bytes, system_title: bytes) -> bytes:
    """``HMAC-SHA-256(master, label || system_title)`` truncated to 16 bytes [design]."""
    return hmac.new(master, label + bytes(system_title), hashlib.sha256).digest()[:16]


class DerivedKeyStore:
    """Per-meter GUEK and AK derived from ``master`` (see the module docstring); each meter has its
    own counter. The broadcast key is given (shared by the group), with the AK derived for the
    all-zero system title."""

    __slots__ = ("_broadcast", "_cache", "_master")

    def __init__(self, master: bytes, broadcast_key: bytes = TEST_BROADCAST_KEY) -> None:
        if len(master) < 16:
            raise ValueError("the master key must be at least 16 bytes")
        self._master = bytes(master)
        self._cache: dict[bytes, MeterKeys] = {}
        self._broadcast = KeySet(
            ak=derive_key(self._master, b"cosemnet-ak", SHARED_KEY_OWNER),
            broadcast_key=_check(broadcast_key, "gbek"),
        )

    def __repr__(self) -> str:
        return "DerivedKeyStore()"

    def keys_for(self, system_title: bytes) -> MeterKeys:
        """The keys derived for ``system_title`` from the master key (cached)."""
        title = bytes(system_title)
        found = self._cache.get(title)
        if found is None:
            found = MeterKeys(
                KeySet(
                    ek=derive_key(self._master, b"cosemnet-guek", title),
                    ak=derive_key(self._master, b"cosemnet-ak", title),
                    broadcast_key=self._broadcast.broadcast_key,
                ),
                title,
            )
            if len(self._cache) >= _DERIVED_CACHE:
                # bounded: any system title has derived keys, so a hostile peer must not grow this
                self._cache.pop(next(iter(self._cache)))
            self._cache[title] = found
        return found

    def broadcast_keys(self) -> KeySet:
        """The broadcast (group) keys derived from the master key."""
        return self._broadcast


class MappingKeyStore:
    """Explicit per-meter keys (each meter its own counter), else ``fallback`` (KeyError without)."""

    __slots__ = ("_broadcast", "_fallback", "_keys")

    def __init__(
        self,
        keys: Mapping[bytes, KeySet],
        broadcast: KeySet | None = None,
        fallback: KeyStore | None = None,
    ) -> None:
        self._keys = {bytes(t): MeterKeys(k, bytes(t)) for t, k in keys.items()}
        self._fallback = fallback
        if broadcast is None:
            broadcast = fallback.broadcast_keys() if fallback is not None else KeySet()
        self._broadcast = broadcast

    def __repr__(self) -> str:
        return f"MappingKeyStore({len(self._keys)} meters)"

    def keys_for(self, system_title: bytes) -> MeterKeys:
        """The keys stored for ``system_title``, else the fallback store's (KeyError when unknown)."""
        found = self._keys.get(bytes(system_title))
        if found is not None:
            return found
        if self._fallback is None:
            raise KeyError(bytes(system_title).hex())
        return self._fallback.keys_for(system_title)

    def broadcast_keys(self) -> KeySet:
        """The broadcast (group) keys."""
        return self._broadcast
