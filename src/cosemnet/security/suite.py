"""DLMS/COSEM security suites 0, 1 and 2 (IEC 62056-5-3, DLMS UA Green Book 9.2.3.7).

=====  ==================================  ============  =======  ==========  ===============
suite  name                                AES key       hash     curve       KDF algorithm-ID
=====  ==================================  ============  =======  ==========  ===============
0      AES-GCM-128                         16 bytes      --       --          --
1      ECDH-ECDSA-AES-GCM-128-SHA-256      16 bytes      SHA-256  P-256       60857405080300
2      ECDH-ECDSA-AES-GCM-256-SHA-384      32 bytes      SHA-384  P-384       60857405080301
=====  ==================================  ============  =======  ==========  ===============

Key wrap is AES-128 key wrap (RFC 3394) for suites 0 and 1, AES-256 key wrap for suite 2. The
KDF algorithm-ID is the OtherInfo ``AlgorithmID`` of the NIST SP 800-56A one-step KDF (the encoded
object identifier of the AES-GCM variant the derived key is used with).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from cosemnet.security.errors import UnsupportedSecurityError


class SecuritySuite(IntEnum):
    """Security suite id, as carried in bits 0-3 of the security control byte."""

    SUITE_0 = 0
    SUITE_1 = 1
    SUITE_2 = 2

    @property
    def parameters(self) -> SuiteParameters:
        """The algorithm parameters of this suite."""
        return SUITE_PARAMETERS[self]


@dataclass(frozen=True, slots=True)
class SuiteParameters:
    """Algorithms and sizes a security suite fixes."""

    suite_id: int
    name: str
    key_length: int
    """AES key length in bytes (global, dedicated, authentication and key-encrypting keys)."""
    hash_name: str | None
    """``hashlib`` / ``cryptography`` name of the suite hash, None for suite 0."""
    curve_name: str | None
    """SEC 2 name of the elliptic curve, None for suite 0."""
    kdf_algorithm_id: bytes | None
    """AlgorithmID of the one-step KDF OtherInfo, None for suite 0 (no key agreement)."""
    key_wrap: str
    """Name of the key wrap algorithm (RFC 3394 with the suite's AES key length)."""
    signature_length: int | None
    """Length of a raw ECDSA signature r || s in bytes, None for suite 0."""
    tag_length: int = 12
    """GCM authentication tag length in bytes (12 for every suite)."""


SUITE_PARAMETERS: dict[SecuritySuite, SuiteParameters] = {
    SecuritySuite.SUITE_0: SuiteParameters(0, "AES-GCM-128", 16, None, None, None, "AES-128 key wrap", None),
    SecuritySuite.SUITE_1: SuiteParameters(
        1,
        "ECDH-ECDSA-AES-GCM-128-SHA-256",
        16,
        "sha256",
        "secp256r1",
        bytes.fromhex("60857405080300"),
        "AES-128 key wrap",
        64,
    ),
    SecuritySuite.SUITE_2: SuiteParameters(
        2,
        "ECDH-ECDSA-AES-GCM-256-SHA-384",
        32,
        "sha384",
        "secp384r1",
        bytes.fromhex("60857405080301"),
        "AES-256 key wrap",
        96,
    ),
}


def security_suite(suite_id: int) -> SecuritySuite:
    """The :class:`SecuritySuite` for a suite id; :class:`UnsupportedSecurityError` for 3..15."""
    try:
        return SecuritySuite(suite_id)
    except ValueError:
        raise UnsupportedSecurityError(f"security suite {suite_id} is not supported (only 0, 1, 2)") from None


__all__ = ["SUITE_PARAMETERS", "SecuritySuite", "SuiteParameters", "security_suite"]
