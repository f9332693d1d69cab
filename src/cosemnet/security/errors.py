"""Exception family of the security layer.

Every security failure raised by :mod:`cosemnet.security` derives from :class:`SecurityError` (itself a
:class:`cosemnet.errors.CosemnetError`); malformed bytes are :class:`cosemnet.errors.DecodeError`,
unencodable values :class:`cosemnet.errors.EncodeError`. Messages never carry key material.
"""

from __future__ import annotations

from cosemnet.errors import CosemnetError


class SecurityError(CosemnetError):
    """Base class of every security failure."""


class AuthenticationError(SecurityError):
    """A GCM tag, a GMAC, a hash response, a password or a key unwrap did not verify.

    Raised for tampered ciphertext, tag or security header, and for a wrong key: the two cannot be
    told apart (that is the point of an authentication tag).
    """


class ReplayError(SecurityError):
    """The invocation counter of a received APDU is not greater than the last accepted one."""


class DowngradeError(SecurityError):
    """A received APDU is protected less than the security policy requires (or with another suite)."""


class UnsupportedSecurityError(SecurityError):
    """A security option this implementation does not provide (compression, unknown suite, ...)."""


class InvocationCounterExhaustedError(SecurityError):
    """The invocation counter reached 2**32 - 1: the key must be renewed before sending again."""


class InvalidKeyError(SecurityError):
    """A key has the wrong length for the security suite (the message never shows the key)."""


class KeyMissingError(InvalidKeyError):
    """A key needed for the requested operation is not configured in the security context."""


class CounterStoreError(SecurityError):
    """Persisted invocation-counter state is unreadable or cannot be written durably."""


__all__ = [
    "AuthenticationError",
    "CounterStoreError",
    "DowngradeError",
    "InvalidKeyError",
    "InvocationCounterExhaustedError",
    "KeyMissingError",
    "ReplayError",
    "SecurityError",
    "UnsupportedSecurityError",
]
