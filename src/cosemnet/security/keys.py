"""Key material holders. Their ``repr`` shows which keys are set and how long they are, never the bytes.

:class:`KeySet` holds the symmetric keys of one security context (IEC 62056-5-3 9.2.5):

* ``ek`` -- global unicast encryption key (GUEK), the "block cipher key";
* ``ak`` -- authentication key, part of the GCM additional authenticated data;
* ``broadcast_key`` -- global broadcast encryption key (GBEK), selected by security control bit 6;
* ``dedicated_key`` -- the dedicated key of the current association (carried in the
  InitiateRequest), used by ded- and general-ded-ciphering;
* ``kek`` -- the master key (key encrypting key) used to wrap the others.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from cosemnet.security.errors import InvalidKeyError, KeyMissingError
from cosemnet.security.suite import SecuritySuite


class KeyRole(IntEnum):
    """Which key an APDU is ciphered with; invocation counters and replay windows are kept per role."""

    GLOBAL_UNICAST = 0
    GLOBAL_BROADCAST = 1
    DEDICATED = 2
    CONTENT = 3
    """A per-message key: wrapped-key or agreed-key of general-ciphering."""


class GlobalKeyType(IntEnum):
    """key_id of Security setup key_transfer / global_key_transfer (Blue Book class 64)."""

    UNICAST_ENCRYPTION = 0
    BROADCAST_ENCRYPTION = 1
    AUTHENTICATION = 2
    MASTER_KEY = 3
    """The key encrypting key (KEK)."""


def _describe(key: bytes | None) -> str:
    return "None" if key is None else f"<{len(key)} bytes>"


@dataclass(slots=True, repr=False, eq=False)
class KeySet:
    """The symmetric keys of a security context. ``eq=False``: keys are never compared with ``==``."""

    ek: bytes | None = None
    ak: bytes | None = None
    broadcast_key: bytes | None = None
    dedicated_key: bytes | None = None
    kek: bytes | None = None

    def __repr__(self) -> str:
        return (
            f"KeySet(ek={_describe(self.ek)}, ak={_describe(self.ak)}, "
            f"broadcast_key={_describe(self.broadcast_key)}, dedicated_key={_describe(self.dedicated_key)}, "
            f"kek={_describe(self.kek)})"
        )

    def validate(self, suite: SecuritySuite) -> None:
        """Raise :class:`InvalidKeyError` if a key that is set has the wrong length for ``suite``."""
        expected = suite.parameters.key_length
        for name in ("ek", "ak", "broadcast_key", "dedicated_key", "kek"):
            key = getattr(self, name)
            if key is not None and len(key) != expected:
                raise InvalidKeyError(f"{name} has {len(key)} bytes; suite {int(suite)} needs {expected}")

    def encryption_key(self, role: KeyRole) -> bytes:
        """The encryption key for ``role`` (not CONTENT); :class:`KeyMissingError` if it is not set."""
        if role is KeyRole.GLOBAL_UNICAST:
            key = self.ek
        elif role is KeyRole.GLOBAL_BROADCAST:
            key = self.broadcast_key
        elif role is KeyRole.DEDICATED:
            key = self.dedicated_key
        else:
            raise KeyMissingError("a content key comes from key-info, not from the key set")
        if key is None:
            raise KeyMissingError(f"no {role.name.lower().replace('_', ' ')} encryption key is configured")
        return key


@dataclass(slots=True, repr=False, eq=False)
class Secret:
    """An LLS password or HLS secret; ``repr`` shows only its length."""

    value: bytes

    def __repr__(self) -> str:
        return f"Secret(<{len(self.value)} bytes>)"


__all__ = ["GlobalKeyType", "KeyRole", "KeySet", "Secret"]
