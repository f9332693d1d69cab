"""Key hierarchy of the OSGP-AES-128-PSK suite (Annex D.6, Figure D.1, Table D.2; D.11.2) [design].

=====================================  ============  ==========================================  ===========
key (Table D.2)                        scope         origin                                      lifetime
=====================================  ============  ==========================================  ===========
long-term meter-unique key (LTK)       one meter     provisioned (pre-shared), ``ltk_id``        years
MAC key K_MAC                          one meter     OSGP_KDF(LTK, "OSGP-AES MAC" || lnap_id)    = LTK
session key K_S (short-term)           one channel   OSGP_KDF(LTK, "OSGP-AES SESSION" || ...)    ``lifetime``
domain key K_D (short-term, domain)    all meters    OSGP_CSPRNG at the NNAP, sent sealed        ``lifetime``
=====================================  ============  ==========================================  ===========

K_MAC authenticates the channel set-up (D.3-D.6) and the error messages (D.16/D.17), which must work when
no session exists. The labels and contexts are decision 0045. The concentrator keeps LTKs and the domain
key in a :class:`KeyStore` file: mode 0600 (refused when group or others may read it), written atomically,
optionally every key wrapped (RFC 3394) under a key-encrypting key. Keys never appear in reprs, logs or
errors.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from cosemnet.security.errors import AuthenticationError, InvalidKeyError, SecurityError
from cosemnet.security.keywrap import unwrap_key, wrap_key
from cosemnet.security.osgp import KEY_LENGTH, osgp_kdf

MAC_LABEL: Final = b"OSGP-AES MAC"
SESSION_LABEL: Final = b"OSGP-AES SESSION"
STORE_FORMAT: Final = "cosemnet-osgp-keys-v1"


def mac_key(ltk: bytes, lnap_id: bytes) -> bytes:
    """K_MAC of a meter (decision 0045)."""
    return osgp_kdf(ltk, MAC_LABEL + b"\x00" + lnap_id)


def session_key(
    ltk: bytes, nnap_id: bytes, lnap_id: bytes, r_n: bytes, r_l: bytes, suite_id: int, session_id: int
) -> bytes:
    """K_S of one secure channel (decision 0045): both identities, both challenges, suite and session id."""
    context = nnap_id + lnap_id + r_n + r_l + bytes((suite_id, session_id))
    return osgp_kdf(ltk, SESSION_LABEL + b"\x00" + context)


@dataclass(slots=True)
class LongTermKey:
    """A provisioned long-term meter-unique key."""

    key_id: int
    key: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.key) != KEY_LENGTH:
            raise InvalidKeyError(f"a long-term key has 16 bytes, not {len(self.key)}")
        if not 0 <= self.key_id <= 255:
            raise ValueError("ltk_id is one byte")


@dataclass(slots=True)
class MeterKeyEntry:
    """What the concentrator holds for one meter: the current LTK and, during an update, the next one."""

    current: LongTermKey
    pending: LongTermKey | None = None

    def candidates(self) -> list[LongTermKey]:
        """Keys to try, newest first (a pending key the meter may or may not have installed)."""
        return [k for k in (self.pending, self.current) if k is not None]


class KeyStoreError(SecurityError):
    """The key file is unreadable, malformed, too widely readable, or its keys do not unwrap."""


@dataclass(slots=True)
class KeyStore:
    """The concentrator's keys: per-meter LTKs (by 6-byte node id) and the domain key."""

    meters: dict[bytes, MeterKeyEntry] = field(default_factory=dict, repr=False)
    domain_key: bytes | None = field(default=None, repr=False)
    domain_key_id: int = 0

    def __repr__(self) -> str:
        return f"KeyStore({len(self.meters)} meters, domain key id {self.domain_key_id})"

    def provision(self, node_id: bytes, key: bytes, key_id: int = 1) -> None:
        if len(node_id) != 6:
            raise ValueError("a node id has 6 bytes")
        self.meters[bytes(node_id)] = MeterKeyEntry(LongTermKey(key_id, bytes(key)))

    def entry(self, node_id: bytes) -> MeterKeyEntry | None:
        return self.meters.get(bytes(node_id))

    # ---------------------------------------------------------------------------------------------
    # File form

    def _key_text(self, key: bytes, kek: bytes | None) -> str:
        return (wrap_key(kek, key) if kek is not None else key).hex()

    def to_json(self, kek: bytes | None = None) -> dict[str, Any]:
        meters = {}
        for node_id, entry in sorted(self.meters.items()):
            item: dict[str, Any] = {
                "ltk_id": entry.current.key_id,
                "ltk": self._key_text(entry.current.key, kek),
            }
            if entry.pending is not None:
                item["pending_id"] = entry.pending.key_id
                item["pending"] = self._key_text(entry.pending.key, kek)
            meters[node_id.hex()] = item
        return {
            "format": STORE_FORMAT,
            "wrapped": kek is not None,
            "domain_key_id": self.domain_key_id,
            "domain_key": None if self.domain_key is None else self._key_text(self.domain_key, kek),
            "meters": meters,
        }

    def save(self, path: str | os.PathLike[str], kek: bytes | None = None) -> None:
        """Write atomically with mode 0600 (temporary file, fsync, rename)."""
        target = Path(path)
        tmp = target.with_name(f".{target.name}.tmp")
        data = json.dumps(self.to_json(kek), indent=1).encode()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)

    @classmethod
    def load(cls, path: str | os.PathLike[str], kek: bytes | None = None) -> KeyStore:
        """Read a key file; :class:`KeyStoreError` if group/others may access it or it is malformed."""
        target = Path(path)
        try:
            mode = target.stat().st_mode
        except OSError as exc:
            raise KeyStoreError(f"cannot read the key file: {exc.strerror}") from None
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise KeyStoreError(
                f"key file {target.name} is accessible to others (mode {mode & 0o777:o}, want 600)"
            )
        try:
            raw = json.loads(target.read_text())
            return cls._from_json(raw, kek)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise KeyStoreError(f"malformed key file ({type(exc).__name__})") from None

    @classmethod
    def _from_json(cls, raw: dict[str, Any], kek: bytes | None) -> KeyStore:
        if raw.get("format") != STORE_FORMAT:
            raise ValueError("not an OSGP key file")
        wrapped = bool(raw.get("wrapped"))
        if wrapped and kek is None:
            raise KeyStoreError("the key file is wrapped: give the key-encrypting key")

        def key_of(text: str) -> bytes:
            data = bytes.fromhex(text)
            if not wrapped:
                return data
            assert kek is not None
            try:
                return unwrap_key(kek, data)
            except AuthenticationError:
                raise KeyStoreError("a key of the key file does not unwrap (wrong KEK?)") from None

        store = cls(domain_key_id=int(raw.get("domain_key_id", 0)))
        if raw.get("domain_key"):
            store.domain_key = key_of(raw["domain_key"])
        for node_hex, item in raw["meters"].items():
            entry = MeterKeyEntry(LongTermKey(int(item["ltk_id"]), key_of(item["ltk"])))
            if "pending" in item:
                entry.pending = LongTermKey(int(item["pending_id"]), key_of(item["pending"]))
            store.meters[bytes.fromhex(node_hex)] = entry
        return store


__all__ = [
    "MAC_LABEL",
    "SESSION_LABEL",
    "KeyStore",
    "KeyStoreError",
    "LongTermKey",
    "MeterKeyEntry",
    "mac_key",
    "session_key",
]
