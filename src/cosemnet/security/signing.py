"""general-signing (0xDF): ECDSA signature over a whole xDLMS APDU (security suites 1 and 2).

The signature covers the encoding of the GeneralSigning APDU without its signature field::

    DF || transaction-id || originator-system-title || recipient-system-title
       || date-time || other-information || content

each field an A-XDR length-prefixed octet-string (:meth:`GeneralSigning.encode_signed_part`); the
signature field that follows is the raw ``r || s`` (64 bytes for suite 1, 96 for suite 2), signed with
the originator's digital-signature key and the suite hash.

When verifying received bytes, :func:`verify_general_signing_bytes` checks the signature over the
bytes as received (everything before the signature field), not over a re-encoding.
"""

from __future__ import annotations

from dataclasses import replace

from cryptography.hazmat.primitives.asymmetric import ec

from cosemnet.codec.axdr import length_bytes
from cosemnet.codec.ciphered import GeneralSigning
from cosemnet.security.ecc import PublicKeyLike, ecdsa_sign, ecdsa_verify
from cosemnet.security.errors import AuthenticationError


def general_signing_input(apdu: GeneralSigning) -> bytes:
    """The bytes the signature covers: the APDU from its tag through content."""
    return apdu.encode_signed_part()


def sign_general_signing(
    apdu: GeneralSigning, private_key: ec.EllipticCurvePrivateKey, suite: int
) -> GeneralSigning:
    """A copy of ``apdu`` whose signature field is the originator's signature of the rest."""
    signature = ecdsa_sign(private_key, general_signing_input(apdu), suite)
    return replace(apdu, signature=signature)


def create_general_signing(
    *,
    transaction_id: bytes,
    originator_system_title: bytes,
    recipient_system_title: bytes,
    content: bytes,
    private_key: ec.EllipticCurvePrivateKey,
    suite: int,
    date_time: bytes = b"",
    other_information: bytes = b"",
) -> GeneralSigning:
    """Build and sign a general-signing APDU around ``content`` (an encoded xDLMS APDU)."""
    unsigned = GeneralSigning(
        transaction_id=bytes(transaction_id),
        originator_system_title=bytes(originator_system_title),
        recipient_system_title=bytes(recipient_system_title),
        date_time=bytes(date_time),
        other_information=bytes(other_information),
        content=bytes(content),
        signature=b"",
    )
    return sign_general_signing(unsigned, private_key, suite)


def verify_general_signing(apdu: GeneralSigning, public_key: PublicKeyLike, suite: int) -> bool:
    """True if the APDU's signature is the signer's (``public_key``) signature of its signed part."""
    return ecdsa_verify(public_key, general_signing_input(apdu), apdu.signature, suite)


def verify_general_signing_bytes(data: bytes, public_key: PublicKeyLike, suite: int) -> GeneralSigning:
    """Decode a general-signing APDU and check its signature over the received bytes.

    Returns the decoded APDU; raises :class:`cosemnet.errors.DecodeError` for malformed input and
    :class:`AuthenticationError` for a signature that does not verify.
    """
    apdu = GeneralSigning.decode(data)
    signature_field = len(length_bytes(len(apdu.signature))) + len(apdu.signature)
    signed = bytes(data[: len(data) - signature_field])
    if not ecdsa_verify(public_key, signed, apdu.signature, suite):
        raise AuthenticationError("general-signing signature does not verify")
    return apdu


__all__ = [
    "create_general_signing",
    "general_signing_input",
    "sign_general_signing",
    "verify_general_signing",
    "verify_general_signing_bytes",
]
