"""read_envelope (cosemnet.security.envelope): sender, key role and counter of every protected APDU
kind, read from the cleartext header before any decryption; typed errors for malformed headers."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cosemnet.codec.ciphered import (
    DED_TAGS,
    GLO_TAGS,
    AgreedKey,
    GeneralCiphering,
    GeneralDedCiphering,
    GeneralGloCiphering,
    GeneralSigning,
    IdentifiedKey,
    KekId,
    KeyId,
    ServiceSpecificCiphered,
    WrappedKey,
)
from cosemnet.errors import DecodeError
from cosemnet.security.ciphering import protect_apdu, unprotect_apdu
from cosemnet.security.envelope import EnvelopeError, EnvelopeFault, EnvelopeKind, read_envelope
from cosemnet.security.keys import KeyRole

from .test_protect import CLIENT_TITLE, pair

TITLE = bytes.fromhex("4D4D4D0000BC614E")
PEER = bytes.fromhex("4D4D4D0000000001")


def _content(sc: int, ic: int, payload: bytes = b"\x01\x02\x03") -> bytes:
    return bytes((sc,)) + ic.to_bytes(4, "big") + payload


@pytest.mark.parametrize(("sc", "role"), [(0x30, KeyRole.GLOBAL_UNICAST), (0x70, KeyRole.GLOBAL_BROADCAST)])
def test_general_glo(sc: int, role: KeyRole) -> None:
    data = GeneralGloCiphering(TITLE, _content(sc, 0x01020304)).encode()
    info = read_envelope(data)
    assert (info.kind, info.system_title, info.role) == (EnvelopeKind.GENERAL_GLO, TITLE, role)
    assert (info.security_control, info.invocation_counter) == (sc, 0x01020304)
    assert info.authenticated and info.encrypted
    assert data[info.payload_offset :] == b"\x01\x02\x03"


def test_general_glo_long_length() -> None:
    payload = bytes(300)
    data = GeneralGloCiphering(TITLE, _content(0x10, 7, payload)).encode()
    info = read_envelope(data)
    assert info.invocation_counter == 7 and not info.encrypted and info.authenticated
    assert data[info.payload_offset :] == payload


def test_general_ded() -> None:
    info = read_envelope(GeneralDedCiphering(TITLE, _content(0x30, 9)).encode())
    assert (info.kind, info.role, info.invocation_counter) == (EnvelopeKind.GENERAL_DED, KeyRole.DEDICATED, 9)


def test_general_ded_with_broadcast_bit_refused() -> None:
    with pytest.raises(EnvelopeError) as err:
        read_envelope(GeneralDedCiphering(TITLE, _content(0x70, 9)).encode())
    assert err.value.fault is EnvelopeFault.DEDICATED_WITH_BROADCAST_KEY


@pytest.mark.parametrize("plain_tag", sorted(GLO_TAGS))
def test_service_specific_global(plain_tag: int) -> None:
    data = ServiceSpecificCiphered.for_plain_tag(plain_tag, _content(0x30, 42)).encode()
    info = read_envelope(data, PEER)
    assert info.kind is EnvelopeKind.SERVICE_SPECIFIC_GLOBAL
    assert (info.system_title, info.role, info.plain_tag, info.invocation_counter) == (
        PEER,
        KeyRole.GLOBAL_UNICAST,
        plain_tag,
        42,
    )
    assert read_envelope(data).system_title is None


@pytest.mark.parametrize("plain_tag", sorted(DED_TAGS))
def test_service_specific_dedicated(plain_tag: int) -> None:
    data = ServiceSpecificCiphered.for_plain_tag(plain_tag, _content(0x30, 1), dedicated=True).encode()
    info = read_envelope(data, PEER)
    assert (info.kind, info.role, info.plain_tag) == (
        EnvelopeKind.SERVICE_SPECIFIC_DEDICATED,
        KeyRole.DEDICATED,
        plain_tag,
    )


def _general_ciphering(key_info: object, sc: int = 0x30) -> bytes:
    return GeneralCiphering(
        b"\x01",
        TITLE,
        PEER,
        b"",
        b"",
        key_info,
        _content(sc, 5),  # type: ignore[arg-type]
    ).encode()


@pytest.mark.parametrize(
    ("key_info", "sc", "role"),
    [
        (None, 0x30, KeyRole.GLOBAL_UNICAST),
        (None, 0x70, KeyRole.GLOBAL_BROADCAST),
        (IdentifiedKey(KeyId.GLOBAL_UNICAST_ENCRYPTION_KEY), 0x30, KeyRole.GLOBAL_UNICAST),
        (IdentifiedKey(KeyId.GLOBAL_BROADCAST_ENCRYPTION_KEY), 0x70, KeyRole.GLOBAL_BROADCAST),
        (WrappedKey(KekId.MASTER_KEY, bytes(24)), 0x30, KeyRole.CONTENT),
        (AgreedKey(bytes(1), bytes(64)), 0x31, KeyRole.CONTENT),
    ],
)
def test_general_ciphering(key_info: object, sc: int, role: KeyRole) -> None:
    info = read_envelope(_general_ciphering(key_info, sc))
    assert (info.kind, info.system_title, info.role, info.invocation_counter) == (
        EnvelopeKind.GENERAL_CIPHERING,
        TITLE,
        role,
        5,
    )


def test_general_ciphering_key_mismatch() -> None:
    with pytest.raises(EnvelopeError) as err:
        read_envelope(_general_ciphering(IdentifiedKey(KeyId.GLOBAL_BROADCAST_ENCRYPTION_KEY), 0x30))
    assert err.value.fault is EnvelopeFault.KEY_MISMATCH


def test_general_signing() -> None:
    data = GeneralSigning(b"\x01", TITLE, PEER, b"", b"", b"\xc0\x01", bytes(64)).encode()
    info = read_envelope(data)
    assert (info.kind, info.system_title, info.role, info.invocation_counter) == (
        EnvelopeKind.GENERAL_SIGNING,
        TITLE,
        None,
        None,
    )


def test_plain_apdu_refused() -> None:
    with pytest.raises(EnvelopeError) as err:
        read_envelope(bytes.fromhex("C001C1000301000100FF0200"))
    assert err.value.fault is EnvelopeFault.NOT_PROTECTED


@pytest.mark.parametrize(
    ("data", "fault"),
    [
        (b"", EnvelopeFault.TRUNCATED),
        (b"\xdb", EnvelopeFault.TRUNCATED),
        (b"\xdb\x08" + TITLE, EnvelopeFault.TRUNCATED),
        (b"\xdb\x08" + TITLE + b"\x03\x30\x00\x00", EnvelopeFault.TRUNCATED),  # content under 5 bytes
        (b"\xdb\x08" + TITLE + b"\x09\x30\x00\x00\x00\x01", EnvelopeFault.TRUNCATED),  # length too long
        (b"\xdb\x04\x01\x02\x03\x04\x05\x30\x00\x00\x00\x01", EnvelopeFault.BAD_SYSTEM_TITLE),
        (b"\xc8\x02\x30\x00", EnvelopeFault.TRUNCATED),
    ],
)
def test_malformed(data: bytes, fault: EnvelopeFault) -> None:
    with pytest.raises(EnvelopeError) as err:
        read_envelope(data)
    assert err.value.fault is fault
    assert isinstance(err.value, DecodeError)


def test_agrees_with_protect_and_unprotect() -> None:
    """What read_envelope reports before decryption is what unprotect_apdu then verifies."""
    client, server = pair()
    for broadcast in (False, True):
        data = protect_apdu(bytes.fromhex("C001C1000301000100FF0200"), client, broadcast=broadcast)
        info = read_envelope(data)
        _, _, header = unprotect_apdu(data, server)
        assert header is not None
        assert info.system_title == CLIENT_TITLE
        assert info.invocation_counter == header.invocation_counter
        assert info.security_control == header.security_control
        assert info.role is (KeyRole.GLOBAL_BROADCAST if broadcast else KeyRole.GLOBAL_UNICAST)


@given(st.binary(max_size=80))
def test_never_crashes(data: bytes) -> None:
    try:
        read_envelope(b"\xdb" + data)
        read_envelope(b"\xdd" + data)
        read_envelope(b"\xc8" + data)
    except EnvelopeError:
        pass
