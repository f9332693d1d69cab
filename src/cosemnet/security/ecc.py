"""Elliptic-curve primitives of security suites 1 and 2 (IEC 62056-5-3 9.2.3, Green Book Annex C).

=====  ========  ========  ===================  ============  ===========
suite  curve     hash      public key on wire   signature     ECDH ``Z``
=====  ========  ========  ===================  ============  ===========
1      P-256     SHA-256   x || y, 64 bytes     r || s, 64    x, 32 bytes
2      P-384     SHA-384   x || y, 96 bytes     r || s, 96    x, 48 bytes
=====  ========  ========  ===================  ============  ===========

Wire formats (pinned by the Green Book test vectors of Table C.1, checked in ``tests/security``):

* a public key is the uncompressed point **without** the SEC 1 ``0x04`` prefix: ``FE2OS(x) || FE2OS(y)``;
* an ECDSA signature is the fixed-length concatenation ``r || s`` (each left-padded to the coordinate
  length), not the DER ``Ecdsa-Sig-Value`` that X.509 and ``cryptography`` use;
* the ECDH shared secret ``Z`` is the x-coordinate of the shared point (NIST SP 800-56A ECC CDH).

Every primitive comes from ``cryptography``. Private scalars are drawn with :mod:`secrets`
(uniform in ``[1, n-1]``); the per-signature ECDSA nonce is drawn by OpenSSL inside ``cryptography``.

Private keys never appear in a ``repr``: :class:`EcKeyPair` hides its private key and the
``cryptography`` key objects print no key material.

HLS mechanism 7 (``hls7_sign`` / ``hls7_verify``) only signs/verifies the bytes it is given: the
data to sign (system titles and challenges) is assembled by :mod:`cosemnet.security.hls`.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Final

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from cosemnet.errors import DecodeError
from cosemnet.security.errors import InvalidKeyError, SecurityError, UnsupportedSecurityError
from cosemnet.security.suite import SecuritySuite, SuiteParameters, security_suite

PublicKeyLike = ec.EllipticCurvePublicKey | bytes | bytearray | memoryview
"""A public key object, or its DLMS wire form (``x || y``)."""

_CURVES: Final[dict[str, type[ec.EllipticCurve]]] = {"secp256r1": ec.SECP256R1, "secp384r1": ec.SECP384R1}
_HASHES: Final[dict[str, type[hashes.HashAlgorithm]]] = {"sha256": hashes.SHA256, "sha384": hashes.SHA384}
_CURVE_ORDERS: Final[dict[str, int]] = {
    "secp256r1": 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
    "secp384r1": int(
        "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973", 16
    ),
}
_SUITE_BY_CURVE: Final[dict[str, SecuritySuite]] = {
    "secp256r1": SecuritySuite.SUITE_1,
    "secp384r1": SecuritySuite.SUITE_2,
}


# --------------------------------------------------------------------------------------------------
# Suite parameters


def asymmetric_parameters(suite: int) -> SuiteParameters:
    """The parameters of an asymmetric suite (1 or 2).

    Raises :class:`UnsupportedSecurityError` for suite 0 (no public-key algorithms) and unknown suites.
    """
    params = security_suite(suite).parameters
    if params.curve_name is None:
        raise UnsupportedSecurityError(f"security suite {suite} has no public-key algorithms (only 1 and 2)")
    return params


def curve_for_suite(suite: int) -> ec.EllipticCurve:
    """P-256 for suite 1, P-384 for suite 2."""
    name = asymmetric_parameters(suite).curve_name
    assert name is not None
    return _CURVES[name]()


def hash_for_suite(suite: int) -> hashes.HashAlgorithm:
    """SHA-256 for suite 1, SHA-384 for suite 2."""
    name = asymmetric_parameters(suite).hash_name
    assert name is not None
    return _HASHES[name]()


def coordinate_length(suite: int) -> int:
    """Length of one field element (and of ``Z``): 32 for suite 1, 48 for suite 2."""
    return (curve_for_suite(suite).key_size + 7) // 8


def public_key_length(suite: int) -> int:
    """Length of a public key on the wire (``x || y``): 64 for suite 1, 96 for suite 2."""
    return 2 * coordinate_length(suite)


def signature_length(suite: int) -> int:
    """Length of a raw ECDSA signature ``r || s``: 64 for suite 1, 96 for suite 2."""
    return 2 * coordinate_length(suite)


def suite_for_curve(curve: ec.EllipticCurve) -> SecuritySuite:
    """The suite that uses ``curve`` (P-256 -> 1, P-384 -> 2); :class:`UnsupportedSecurityError` otherwise."""
    try:
        return _SUITE_BY_CURVE[curve.name]
    except KeyError:
        raise UnsupportedSecurityError(f"curve {curve.name} is not used by DLMS security suites") from None


def hash_data(data: bytes, suite: int) -> bytes:
    """The suite hash (SHA-256 / SHA-384) of ``data``."""
    digest = hashes.Hash(hash_for_suite(suite))
    digest.update(bytes(data))
    return digest.finalize()


# --------------------------------------------------------------------------------------------------
# Keys


@dataclass(slots=True, frozen=True)
class EcKeyPair:
    """A private key with the suite it belongs to. The private key never shows in the repr."""

    suite: SecuritySuite
    private_key: ec.EllipticCurvePrivateKey = field(repr=False)

    def __post_init__(self) -> None:
        check_curve(self.private_key.curve, self.suite)

    @property
    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self.private_key.public_key()

    def public_bytes(self) -> bytes:
        """The public key as DLMS carries it (``x || y``)."""
        return public_key_to_bytes(self.public_key)

    @classmethod
    def generate(cls, suite: int) -> EcKeyPair:
        """A fresh key pair on the suite's curve (see :func:`generate_private_key`)."""
        return cls(security_suite(suite), generate_private_key(suite))

    @classmethod
    def from_private_bytes(cls, suite: int, scalar: bytes) -> EcKeyPair:
        """A key pair from a raw private scalar (fixed length, big-endian), e.g. a test vector."""
        return cls(security_suite(suite), private_key_from_bytes(suite, scalar))


def check_curve(curve: ec.EllipticCurve, suite: int) -> None:
    """Raise :class:`InvalidKeyError` unless ``curve`` is the curve of ``suite``."""
    expected = curve_for_suite(suite)
    if curve.name != expected.name:
        raise InvalidKeyError(f"key on curve {curve.name} does not belong to suite {suite} ({expected.name})")


def generate_private_key(suite: int) -> ec.EllipticCurvePrivateKey:
    """A fresh private key on the suite's curve.

    The scalar is drawn uniformly from ``[1, n-1]`` with :func:`secrets.randbelow` (the method of FIPS
    186-5 A.2.2 with a uniform source) and turned into a key by ``cryptography``.
    """
    params = asymmetric_parameters(suite)
    assert params.curve_name is not None
    order = _CURVE_ORDERS[params.curve_name]
    scalar = secrets.randbelow(order - 1) + 1
    return ec.derive_private_key(scalar, _CURVES[params.curve_name]())


def private_key_from_bytes(suite: int, scalar: bytes) -> ec.EllipticCurvePrivateKey:
    """A private key from its raw big-endian scalar (exactly the coordinate length).

    Raises :class:`InvalidKeyError` for a wrong length or a scalar outside ``[1, n-1]`` (the message
    never contains the scalar).
    """
    params = asymmetric_parameters(suite)
    assert params.curve_name is not None
    size = coordinate_length(suite)
    if len(scalar) != size:
        raise InvalidKeyError(f"private key of {len(scalar)} bytes, suite {suite} needs {size}")
    value = int.from_bytes(scalar, "big")
    if not 1 <= value < _CURVE_ORDERS[params.curve_name]:
        raise InvalidKeyError(f"private key scalar out of range for suite {suite}")
    return ec.derive_private_key(value, _CURVES[params.curve_name]())


def private_key_to_bytes(private_key: ec.EllipticCurvePrivateKey) -> bytes:
    """The raw big-endian private scalar, left-padded to the coordinate length (handle with care)."""
    size = (private_key.curve.key_size + 7) // 8
    return private_key.private_numbers().private_value.to_bytes(size, "big")


def public_key_to_bytes(public_key: ec.EllipticCurvePublicKey) -> bytes:
    """The DLMS wire form of a public key: the uncompressed point without its 0x04 prefix."""
    point = public_key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return point[1:]


def public_key_from_bytes(suite: int, data: bytes | bytearray | memoryview) -> ec.EllipticCurvePublicKey:
    """Parse a public key in DLMS wire form (``x || y``, 64 or 96 bytes) for ``suite``.

    The point is validated (on the curve, not the point at infinity). Bad input raises
    :class:`DecodeError` with offset 0; an unsupported suite raises :class:`UnsupportedSecurityError`.
    """
    size = public_key_length(suite)
    raw = bytes(data)
    if len(raw) != size:
        raise DecodeError(f"public key of {len(raw)} bytes", 0, f"{size} bytes (x || y)")
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(curve_for_suite(suite), b"\x04" + raw)
    except ValueError:
        raise DecodeError(
            "public key is not a point of the curve", 0, f"a point of {suite_curve_label(suite)}"
        ) from None


def suite_curve_label(suite: int) -> str:
    """``"P-256"`` or ``"P-384"``."""
    return "P-256" if coordinate_length(suite) == 32 else "P-384"


def public_key_to_spki(public_key: ec.EllipticCurvePublicKey) -> bytes:
    """DER X.509 SubjectPublicKeyInfo of a public key (named curve, uncompressed point)."""
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def public_key_from_spki(data: bytes | bytearray | memoryview) -> ec.EllipticCurvePublicKey:
    """Parse a DER SubjectPublicKeyInfo holding a P-256 or P-384 key.

    Anything else (bad DER, RSA, another curve) raises :class:`DecodeError` with offset 0.
    """
    try:
        key = serialization.load_der_public_key(bytes(data))
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise DecodeError("not a DER SubjectPublicKeyInfo", 0, "SubjectPublicKeyInfo") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name not in _SUITE_BY_CURVE:
        raise DecodeError("SubjectPublicKeyInfo is not a P-256 or P-384 key", 0, "an ECC P-256/P-384 key")
    return key


def coerce_public_key(suite: int, public_key: PublicKeyLike) -> ec.EllipticCurvePublicKey:
    """A public key object from either an object (checked against the suite's curve) or wire bytes."""
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        check_curve(public_key.curve, suite)
        return public_key
    return public_key_from_bytes(suite, public_key)


# --------------------------------------------------------------------------------------------------
# ECDSA


def signature_to_der(signature: bytes, suite: int) -> bytes:
    """Raw ``r || s`` -> DER ``Ecdsa-Sig-Value``. :class:`DecodeError` if the length is wrong."""
    size = signature_length(suite)
    if len(signature) != size:
        raise DecodeError(f"signature of {len(signature)} bytes", 0, f"{size} bytes (r || s)")
    half = size // 2
    return encode_dss_signature(
        int.from_bytes(signature[:half], "big"), int.from_bytes(signature[half:], "big")
    )


def signature_from_der(der: bytes, suite: int) -> bytes:
    """DER ``Ecdsa-Sig-Value`` -> raw ``r || s`` (each padded to the coordinate length)."""
    half = coordinate_length(suite)
    try:
        r, s = decode_dss_signature(bytes(der))
    except ValueError:
        raise DecodeError("not a DER ECDSA signature", 0, "Ecdsa-Sig-Value") from None
    if r.bit_length() > 8 * half or s.bit_length() > 8 * half or r < 0 or s < 0:
        raise DecodeError("ECDSA signature component too large for the suite", 0, f"{half}-byte r and s")
    return r.to_bytes(half, "big") + s.to_bytes(half, "big")


def ecdsa_sign(private_key: ec.EllipticCurvePrivateKey, data: bytes, suite: int) -> bytes:
    """ECDSA signature of ``data`` with the suite hash, in DLMS form ``r || s``."""
    check_curve(private_key.curve, suite)
    der = private_key.sign(bytes(data), ec.ECDSA(hash_for_suite(suite)))
    return signature_from_der(der, suite)


def ecdsa_verify(public_key: PublicKeyLike, data: bytes, signature: bytes, suite: int) -> bool:
    """True if ``signature`` (``r || s``) is a valid suite-hash ECDSA signature of ``data``.

    Any malformed signature, a public key that does not parse or lies on another curve gives False;
    only an unsupported suite raises (:class:`UnsupportedSecurityError`).
    """
    asymmetric_parameters(suite)
    try:
        key = coerce_public_key(suite, public_key)
        der = signature_to_der(bytes(signature), suite)
    except (DecodeError, SecurityError):
        return False
    try:
        key.verify(der, bytes(data), ec.ECDSA(hash_for_suite(suite)))
    except InvalidSignature:
        return False
    return True


def hls7_sign(private_key: ec.EllipticCurvePrivateKey, data: bytes, suite: int) -> bytes:
    """HLS mechanism 7 (HIGH_LEVEL_SECURITY_ECDSA): sign the assembled ``data``, giving ``r || s``.

    ``data`` is what :mod:`cosemnet.security.hls` builds (system titles and challenges); this
    function adds nothing to it.
    """
    return ecdsa_sign(private_key, data, suite)


def hls7_verify(public_key: PublicKeyLike, data: bytes, signature: bytes, suite: int) -> bool:
    """HLS mechanism 7: verify the peer's ``r || s`` signature of the assembled ``data``."""
    return ecdsa_verify(public_key, data, signature, suite)


# --------------------------------------------------------------------------------------------------
# ECDH


def ecdh_shared_secret(
    private_key: ec.EllipticCurvePrivateKey, peer_public_key: PublicKeyLike, suite: int
) -> bytes:
    """ECC CDH primitive (NIST SP 800-56A 5.7.1.2): ``Z`` = x-coordinate of ``d * Q_peer``.

    The peer key is validated (on the curve) by ``cryptography``; a bad peer key raises
    :class:`DecodeError` (wire bytes) or :class:`SecurityError` (wrong curve).
    """
    check_curve(private_key.curve, suite)
    peer = coerce_public_key(suite, peer_public_key)
    return private_key.exchange(ec.ECDH(), peer)


__all__ = [
    "EcKeyPair",
    "PublicKeyLike",
    "asymmetric_parameters",
    "check_curve",
    "coerce_public_key",
    "coordinate_length",
    "curve_for_suite",
    "ecdh_shared_secret",
    "ecdsa_sign",
    "ecdsa_verify",
    "generate_private_key",
    "hash_data",
    "hash_for_suite",
    "hls7_sign",
    "hls7_verify",
    "private_key_from_bytes",
    "private_key_to_bytes",
    "public_key_from_bytes",
    "public_key_from_spki",
    "public_key_length",
    "public_key_to_bytes",
    "public_key_to_spki",
    "signature_from_der",
    "signature_length",
    "signature_to_der",
    "suite_curve_label",
    "suite_for_curve",
]
