"""Who sent a protected APDU, with which key and counter -- read before any decryption.

:func:`read_envelope` reads the cleartext header of every protected xDLMS APDU (Green Book 9.3: the
service-specific ``glo-*`` / ``ded-*`` forms, general-glo-, general-ded- and general-ciphering,
general-signing) and returns an :class:`EnvelopeInfo`: the sender's system title, the
:class:`~cosemnet.security.keys.KeyRole` of the key the content is protected with, the security
control byte and the invocation counter. It runs no cryptography: nothing it returns is
authenticated. Use it to route (to a session, a key, a replay window); the receiver then verifies
and deciphers once with :func:`cosemnet.security.ciphering.unprotect_apdu`.

Errors are :class:`EnvelopeError` (a :class:`~cosemnet.errors.DecodeError`) with a typed
:class:`EnvelopeFault` field, never matched on text.

The common case (general-glo/ded-ciphering with an 8-byte system title) is read without building
the envelope objects of :mod:`cosemnet.codec.ciphered`; every other form goes through them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Final

from cosemnet.codec.ciphered import (
    CIPHERED_TO_PLAIN,
    GENERAL_DED_CIPHERING_TAG,
    GENERAL_GLO_CIPHERING_TAG,
    SECURITY_HEADER_LENGTH,
    GeneralCiphering,
    GeneralSigning,
    IdentifiedKey,
    KeyId,
    ServiceSpecificCiphered,
    decode_protected_apdu,
    is_protected_tag,
)
from cosemnet.codec.types import Buffer
from cosemnet.errors import DecodeError
from cosemnet.security.control import AUTHENTICATION_BIT, BROADCAST_BIT, ENCRYPTION_BIT
from cosemnet.security.keys import KeyRole

__all__ = ["EnvelopeError", "EnvelopeFault", "EnvelopeInfo", "EnvelopeKind", "read_envelope"]

_TITLE_LENGTH: Final = 8


class EnvelopeKind(Enum):
    SERVICE_SPECIFIC_GLOBAL = "glo"
    SERVICE_SPECIFIC_DEDICATED = "ded"
    GENERAL_GLO = "general-glo"
    GENERAL_DED = "general-ded"
    GENERAL_CIPHERING = "general-ciphering"
    GENERAL_SIGNING = "general-signing"


class EnvelopeFault(Enum):
    """Why :func:`read_envelope` refused an APDU."""

    NOT_PROTECTED = "not a protected APDU"
    TRUNCATED = "envelope truncated or malformed"
    BAD_SYSTEM_TITLE = "system title is not 8 bytes"
    DEDICATED_WITH_BROADCAST_KEY = "dedicated ciphering with the broadcast key bit"
    KEY_MISMATCH = "key-info names another key than the key set bit"


class EnvelopeError(DecodeError):
    """A protected APDU whose cleartext header cannot be read; ``fault`` says why."""

    def __init__(self, fault: EnvelopeFault, offset: int = 0, detail: str = "") -> None:
        self.fault = fault
        super().__init__(fault.value + (f": {detail}" if detail else ""), offset, "a protected APDU")


@dataclass(frozen=True, slots=True)
class EnvelopeInfo:
    """The cleartext header of a protected APDU (not authenticated)."""

    kind: EnvelopeKind
    tag: int
    system_title: bytes | None
    """The sender's: from the envelope, or the ``peer_system_title`` handed to :func:`read_envelope`
    for the service-specific forms (None if none was)."""
    role: KeyRole | None
    """The key the content is protected with (None for general-signing: a signature, no key)."""
    security_control: int | None
    invocation_counter: int | None
    payload_offset: int
    """Where the bytes after the security header start (general-signing: the content)."""
    plain_tag: int | None = None
    """The plain APDU tag a service-specific form announces (None: only known after deciphering)."""

    @property
    def authenticated(self) -> bool:
        return self.security_control is not None and bool(self.security_control & AUTHENTICATION_BIT)

    @property
    def encrypted(self) -> bool:
        return self.security_control is not None and bool(self.security_control & ENCRYPTION_BIT)


def _length(data: Buffer, offset: int) -> tuple[int, int]:
    """An A-XDR length at ``offset``: (value, offset after it)."""
    first = data[offset]
    if first < 0x80:
        return first, offset + 1
    count = first & 0x7F
    if count == 0 or count > 3 or offset + 1 + count > len(data):
        raise EnvelopeError(EnvelopeFault.TRUNCATED, offset, "length")
    return int.from_bytes(data[offset + 1 : offset + 1 + count], "big"), offset + 1 + count


def _role(security_control: int, dedicated: bool, offset: int) -> KeyRole:
    broadcast = bool(security_control & BROADCAST_BIT)
    if dedicated:
        if broadcast:
            raise EnvelopeError(EnvelopeFault.DEDICATED_WITH_BROADCAST_KEY, offset)
        return KeyRole.DEDICATED
    return KeyRole.GLOBAL_BROADCAST if broadcast else KeyRole.GLOBAL_UNICAST


def _general_glo_or_ded(data: Buffer) -> EnvelopeInfo:
    """general-glo/ded-ciphering: tag, system-title (8), ciphered-content (SC, IC, payload)."""
    tag = data[0]
    if len(data) < 2:
        raise EnvelopeError(EnvelopeFault.TRUNCATED, 1, "system title length")
    if data[1] != _TITLE_LENGTH:
        raise EnvelopeError(EnvelopeFault.BAD_SYSTEM_TITLE, 1, f"{data[1]} bytes")
    if len(data) < 2 + _TITLE_LENGTH + 1:
        raise EnvelopeError(EnvelopeFault.TRUNCATED, 2, "system title")
    length, start = _length(data, 2 + _TITLE_LENGTH)
    if start + length != len(data) or length < SECURITY_HEADER_LENGTH:
        raise EnvelopeError(EnvelopeFault.TRUNCATED, start, "ciphered content")
    sc = data[start]
    dedicated = tag == GENERAL_DED_CIPHERING_TAG
    return EnvelopeInfo(
        EnvelopeKind.GENERAL_DED if dedicated else EnvelopeKind.GENERAL_GLO,
        tag,
        bytes(data[2 : 2 + _TITLE_LENGTH]),
        _role(sc, dedicated, start),
        sc,
        int.from_bytes(data[start + 1 : start + SECURITY_HEADER_LENGTH], "big"),
        start + SECURITY_HEADER_LENGTH,
    )


def _general_ciphering_role(apdu: GeneralCiphering, sc: int, offset: int) -> KeyRole:
    key_info = apdu.key_info
    if key_info is None:
        return _role(sc, False, offset)
    if isinstance(key_info, IdentifiedKey):
        role = _role(sc, False, offset)
        named = (
            KeyRole.GLOBAL_BROADCAST
            if key_info.key_id == KeyId.GLOBAL_BROADCAST_ENCRYPTION_KEY
            else KeyRole.GLOBAL_UNICAST
        )
        if named is not role:
            raise EnvelopeError(EnvelopeFault.KEY_MISMATCH, offset)
        return role
    return KeyRole.CONTENT


def _decoded(data: Buffer, peer_system_title: bytes | None) -> EnvelopeInfo:
    """Every form but general-glo/ded, through the envelope classes of the codec."""
    try:
        apdu = decode_protected_apdu(data)
    except DecodeError as exc:
        raise EnvelopeError(EnvelopeFault.TRUNCATED, exc.offset, exc.reason) from None
    tag = data[0]
    if isinstance(apdu, GeneralSigning):
        title = apdu.originator_system_title
        if len(title) != _TITLE_LENGTH:
            raise EnvelopeError(EnvelopeFault.BAD_SYSTEM_TITLE, 1, f"{len(title)} bytes")
        return EnvelopeInfo(EnvelopeKind.GENERAL_SIGNING, tag, title, None, None, None, 0)
    content = apdu.ciphered_content
    start = len(data) - len(content)
    if len(content) < SECURITY_HEADER_LENGTH:
        raise EnvelopeError(EnvelopeFault.TRUNCATED, start, "security header")
    sc = content[0]
    ic = int.from_bytes(content[1:SECURITY_HEADER_LENGTH], "big")
    payload = start + SECURITY_HEADER_LENGTH
    if isinstance(apdu, ServiceSpecificCiphered):
        plain_tag, dedicated = CIPHERED_TO_PLAIN[tag]
        kind = EnvelopeKind.SERVICE_SPECIFIC_DEDICATED if dedicated else EnvelopeKind.SERVICE_SPECIFIC_GLOBAL
        return EnvelopeInfo(
            kind, tag, peer_system_title, _role(sc, dedicated, start), sc, ic, payload, plain_tag
        )
    if isinstance(apdu, GeneralCiphering):
        title = apdu.originator_system_title
        if len(title) != _TITLE_LENGTH:
            raise EnvelopeError(EnvelopeFault.BAD_SYSTEM_TITLE, 1, f"{len(title)} bytes")
        role = _general_ciphering_role(apdu, sc, start)
        return EnvelopeInfo(EnvelopeKind.GENERAL_CIPHERING, tag, title, role, sc, ic, payload)
    raise EnvelopeError(EnvelopeFault.BAD_SYSTEM_TITLE, 1, f"{len(apdu.system_title)} bytes")


def read_envelope(data: Buffer, peer_system_title: bytes | None = None) -> EnvelopeInfo:
    """The cleartext header of the protected APDU ``data`` (exactly one APDU), without decrypting.

    ``peer_system_title``: the sender known from the association, reported for the service-specific
    forms (which carry none). :class:`EnvelopeError`: not a protected APDU, or a malformed header.
    """
    if not data:
        raise EnvelopeError(EnvelopeFault.TRUNCATED, 0, "APDU tag")
    tag = data[0]
    if tag in (GENERAL_GLO_CIPHERING_TAG, GENERAL_DED_CIPHERING_TAG):
        if len(data) > 1 and data[1] == _TITLE_LENGTH:
            return _general_glo_or_ded(data)
        return _decoded(data, peer_system_title)
    if not is_protected_tag(tag):
        raise EnvelopeError(EnvelopeFault.NOT_PROTECTED, 0, f"tag 0x{tag:02X}")
    return _decoded(data, peer_system_title)
