"""general-signing (0xDF): signature over the APDU without its signature field."""

from __future__ import annotations

from dataclasses import replace

import pytest

from cosemnet.codec.ciphered import GeneralSigning
from cosemnet.errors import DecodeError
from cosemnet.security.ecc import EcKeyPair, ecdsa_verify, signature_length
from cosemnet.security.errors import AuthenticationError, UnsupportedSecurityError
from cosemnet.security.signing import (
    create_general_signing,
    general_signing_input,
    sign_general_signing,
    verify_general_signing,
    verify_general_signing_bytes,
)

H = bytes.fromhex
TRANSACTION_ID = H("0102030405060708")
ORIGINATOR = H("4D4D4D0000BC614E")
RECIPIENT = H("4D4D4D0000000001")
GET_REQUEST = H("C001C1000100002B0100FF0200")
SUITES = [1, 2]


def flip(data: bytes, index: int) -> bytes:
    out = bytearray(data)
    out[index] ^= 0x01
    return bytes(out)


def test_signing_input_is_the_apdu_without_signature() -> None:
    apdu = GeneralSigning(TRANSACTION_ID, ORIGINATOR, RECIPIENT, b"", H("AA"), GET_REQUEST, b"\x00" * 64)
    expected = (
        b"\xdf"
        + b"\x08"
        + TRANSACTION_ID
        + b"\x08"
        + ORIGINATOR
        + b"\x08"
        + RECIPIENT
        + b"\x00"  # date-time absent (empty octet-string)
        + b"\x01\xaa"  # other-information
        + bytes((len(GET_REQUEST),))
        + GET_REQUEST
    )
    assert general_signing_input(apdu) == expected
    assert apdu.encode() == expected + b"\x40" + b"\x00" * 64


@pytest.mark.parametrize("suite", SUITES)
def test_general_signing_round_trip(suite: int) -> None:
    signer = EcKeyPair.generate(suite)
    apdu = create_general_signing(
        transaction_id=TRANSACTION_ID,
        originator_system_title=ORIGINATOR,
        recipient_system_title=RECIPIENT,
        content=GET_REQUEST,
        private_key=signer.private_key,
        suite=suite,
        date_time=H("07E50118FF0E303950FFC400"),
    )
    assert len(apdu.signature) == signature_length(suite)
    assert ecdsa_verify(signer.public_key, general_signing_input(apdu), apdu.signature, suite)
    assert verify_general_signing(apdu, signer.public_bytes(), suite)
    wire = apdu.encode()
    assert verify_general_signing_bytes(wire, signer.public_key, suite) == apdu


def test_long_content_uses_long_form_lengths() -> None:
    signer = EcKeyPair.generate(1)
    content = bytes(range(256)) * 2  # 512 bytes: length field 82 02 00
    apdu = create_general_signing(
        transaction_id=TRANSACTION_ID,
        originator_system_title=ORIGINATOR,
        recipient_system_title=RECIPIENT,
        content=content,
        private_key=signer.private_key,
        suite=1,
    )
    wire = apdu.encode()
    assert H("820200") + content in wire
    assert verify_general_signing_bytes(wire, signer.public_key, 1).content == content


@pytest.mark.parametrize("suite", SUITES)
def test_every_signed_byte_is_protected(suite: int) -> None:
    signer = EcKeyPair.generate(suite)
    apdu = create_general_signing(
        transaction_id=TRANSACTION_ID,
        originator_system_title=ORIGINATOR,
        recipient_system_title=RECIPIENT,
        content=GET_REQUEST,
        private_key=signer.private_key,
        suite=suite,
    )
    wire = apdu.encode()
    signed_length = len(general_signing_input(apdu))
    for index in range(1, len(wire)):
        tampered = flip(wire, index)
        with pytest.raises((AuthenticationError, DecodeError)):
            verify_general_signing_bytes(tampered, signer.public_key, suite)
        if index >= signed_length + 1:  # inside the signature itself: structure intact, signature bad
            with pytest.raises(AuthenticationError):
                verify_general_signing_bytes(tampered, signer.public_key, suite)


def test_field_changes_and_wrong_key_fail() -> None:
    signer, other = EcKeyPair.generate(1), EcKeyPair.generate(1)
    apdu = sign_general_signing(
        GeneralSigning(TRANSACTION_ID, ORIGINATOR, RECIPIENT, b"", b"", GET_REQUEST, b""),
        signer.private_key,
        1,
    )
    assert verify_general_signing(apdu, signer.public_key, 1)
    assert not verify_general_signing(apdu, other.public_key, 1)
    assert not verify_general_signing(replace(apdu, recipient_system_title=ORIGINATOR), signer.public_key, 1)
    assert not verify_general_signing(replace(apdu, transaction_id=b"\x00" * 8), signer.public_key, 1)
    assert not verify_general_signing(replace(apdu, content=GET_REQUEST + b"\x00"), signer.public_key, 1)
    assert not verify_general_signing(replace(apdu, signature=apdu.signature[:-1]), signer.public_key, 1)
    with pytest.raises(AuthenticationError):
        verify_general_signing_bytes(apdu.encode(), other.public_key, 1)
    # a suite-2 verifier does not accept a suite-1 signature
    assert not verify_general_signing(apdu, EcKeyPair.generate(2).public_key, 2)
    with pytest.raises(UnsupportedSecurityError):
        verify_general_signing(apdu, signer.public_key, 0)


def test_malformed_general_signing_bytes() -> None:
    signer = EcKeyPair.generate(1)
    with pytest.raises(DecodeError):
        verify_general_signing_bytes(b"\xdf\x08", signer.public_key, 1)
    with pytest.raises(DecodeError):
        verify_general_signing_bytes(b"\xdd" + bytes(10), signer.public_key, 1)
