"""Security control byte and security policy (IEC 62056-5-3 9.2.7.2.3, Blue Book Security setup).

Security control byte (first byte of every security header)::

    bit 7      compression          (not supported here: UnsupportedSecurityError)
    bit 6      key set              0 = unicast (global unicast / dedicated key), 1 = broadcast key
    bit 5      encryption (E)
    bit 4      authentication (A)
    bits 3..0  security suite id

Security policy (Security setup, class 64, version 1, attribute 2) is a bit field; version 0 used an
enum, mapped by :meth:`SecurityPolicy.from_version_0`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, IntFlag
from typing import Final

from cosemnet.errors import DecodeError, EncodeError
from cosemnet.security.errors import UnsupportedSecurityError
from cosemnet.security.suite import SecuritySuite

AUTHENTICATION_BIT: Final = 0x10
ENCRYPTION_BIT: Final = 0x20
BROADCAST_BIT: Final = 0x40
COMPRESSION_BIT: Final = 0x80
SUITE_MASK: Final = 0x0F


@dataclass(frozen=True, slots=True)
class SecurityControl:
    """The security control byte, field by field."""

    suite_id: int = 0
    authentication: bool = False
    encryption: bool = False
    broadcast_key: bool = False
    """Key set bit: the broadcast (group) key instead of the unicast one."""
    compression: bool = False

    @classmethod
    def parse(cls, value: int) -> SecurityControl:
        """Split a security control byte into its fields (no support check: see :meth:`check_supported`)."""
        if not 0 <= value <= 0xFF:
            raise DecodeError(f"security control {value} is not a byte", 0, "0..255")
        return cls(
            value & SUITE_MASK,
            bool(value & AUTHENTICATION_BIT),
            bool(value & ENCRYPTION_BIT),
            bool(value & BROADCAST_BIT),
            bool(value & COMPRESSION_BIT),
        )

    def build(self) -> int:
        """The security control byte."""
        if not 0 <= self.suite_id <= SUITE_MASK:
            raise EncodeError(f"security suite id {self.suite_id} does not fit 4 bits")
        return (
            self.suite_id
            | (AUTHENTICATION_BIT if self.authentication else 0)
            | (ENCRYPTION_BIT if self.encryption else 0)
            | (BROADCAST_BIT if self.broadcast_key else 0)
            | (COMPRESSION_BIT if self.compression else 0)
        )

    def __int__(self) -> int:
        return self.build()

    @property
    def suite(self) -> SecuritySuite:
        """The security suite; :class:`UnsupportedSecurityError` for ids 3..15."""
        return check_security_control(self.build())

    def check_supported(self) -> None:
        """Raise :class:`UnsupportedSecurityError` for compression or an unknown suite."""
        check_security_control(self.build())


_SUITES: Final = (SecuritySuite.SUITE_0, SecuritySuite.SUITE_1, SecuritySuite.SUITE_2)


def check_security_control(sc: int) -> SecuritySuite:
    """The suite of security control byte ``sc``; UnsupportedSecurityError for what is not implemented."""
    if sc & COMPRESSION_BIT:
        raise UnsupportedSecurityError("compression (security control bit 7) is not supported")
    suite_id = sc & SUITE_MASK
    if suite_id > 2:
        raise UnsupportedSecurityError(f"security suite {suite_id} is not supported (only 0, 1, 2)")
    return _SUITES[suite_id]


class SecurityPolicy(IntFlag):
    """Security policy of Security setup version 1 (bits 0 and 1 are unused)."""

    NOTHING = 0
    NONE = 0  # alias of NOTHING (the name cosemnet.cosem.security_setup used)
    AUTHENTICATED_REQUEST = 0x04
    ENCRYPTED_REQUEST = 0x08
    DIGITALLY_SIGNED_REQUEST = 0x10
    AUTHENTICATED_RESPONSE = 0x20
    ENCRYPTED_RESPONSE = 0x40
    DIGITALLY_SIGNED_RESPONSE = 0x80

    @classmethod
    def from_version_0(cls, value: int) -> SecurityPolicy:
        """Map the version 0 enum (0 nothing, 1 all authenticated, 2 all encrypted, 3 both)."""
        try:
            return _VERSION_0[SecurityPolicyV0(value)]
        except ValueError:
            raise DecodeError(f"security policy (version 0) {value}", 0, "0..3") from None

    def requirements(self, request: bool) -> tuple[bool, bool]:
        """(authentication required, encryption required) for requests or responses."""
        if request:
            return bool(self & SecurityPolicy.AUTHENTICATED_REQUEST), bool(
                self & SecurityPolicy.ENCRYPTED_REQUEST
            )
        return bool(self & SecurityPolicy.AUTHENTICATED_RESPONSE), bool(
            self & SecurityPolicy.ENCRYPTED_RESPONSE
        )


class SecurityPolicyV0(IntEnum):
    """Security policy of Security setup version 0."""

    NOTHING = 0
    ALL_AUTHENTICATED = 1
    ALL_ENCRYPTED = 2
    ALL_AUTHENTICATED_AND_ENCRYPTED = 3


_VERSION_0: Final[dict[SecurityPolicyV0, SecurityPolicy]] = {
    SecurityPolicyV0.NOTHING: SecurityPolicy.NOTHING,
    SecurityPolicyV0.ALL_AUTHENTICATED: SecurityPolicy.AUTHENTICATED_REQUEST
    | SecurityPolicy.AUTHENTICATED_RESPONSE,
    SecurityPolicyV0.ALL_ENCRYPTED: SecurityPolicy.ENCRYPTED_REQUEST | SecurityPolicy.ENCRYPTED_RESPONSE,
    SecurityPolicyV0.ALL_AUTHENTICATED_AND_ENCRYPTED: (
        SecurityPolicy.AUTHENTICATED_REQUEST
        | SecurityPolicy.AUTHENTICATED_RESPONSE
        | SecurityPolicy.ENCRYPTED_REQUEST
        | SecurityPolicy.ENCRYPTED_RESPONSE
    ),
}


__all__ = [
    "AUTHENTICATION_BIT",
    "BROADCAST_BIT",
    "COMPRESSION_BIT",
    "ENCRYPTION_BIT",
    "SUITE_MASK",
    "SecurityControl",
    "SecurityPolicy",
    "SecurityPolicyV0",
    "check_security_control",
]
