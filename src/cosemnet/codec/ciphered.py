"""Ciphered and signed xDLMS APDU envelopes (IEC 62056-5-3 / Green Book 9.3): structures only.

This module belongs to the codec layer: it knows where the bytes of a protected APDU go, never how
they are computed (that is :mod:`cosemnet.security.ciphering`).

Envelopes
---------

* :class:`ServiceSpecificCiphered` -- the ``glo-*`` and ``ded-*`` APDUs: ``tag || length ||
  ciphered-content``. One class for the 32 tags of :data:`GLO_TAGS` / :data:`DED_TAGS`; the tag is a
  field. They carry no system title: the receiver takes the peer's from the association
  (calling-/responding-AP-title), which is why :func:`parse_ciphered_apdu` takes one.
* :class:`GeneralGloCiphering` (0xDB), :class:`GeneralDedCiphering` (0xDC): ``system-title``,
  ``ciphered-content``.
* :class:`GeneralCiphering` (0xDD): transaction-id, originator- and recipient-system-title,
  date-time, other-information, optional :data:`KeyInfo`, ciphered-content.
* :class:`GeneralSigning` (0xDF): the same addressing fields, then content and signature.

Every octet-string is A-XDR length-prefixed. ``ciphered-content`` is ``SC || IC || payload``:
:class:`SecurityHeader` and :func:`split_ciphered_content` separate the five header bytes.

Design choice (the standard leaves the encoder free only in theory): lengths must use the minimal
A-XDR form; a non-minimal length (``81 05`` for 5) is a :class:`DecodeError`. This keeps the exact
round trip (``X.decode(b).encode() == b``) without storing length forms in every field.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import ClassVar, Final, Self

from cosemnet.codec.axdr import encode_length
from cosemnet.codec.types import Buffer
from cosemnet.errors import DecodeError, EncodeError

# --------------------------------------------------------------------------------------------------
# Tag tables

GLO_TAGS: Final[dict[int, int]] = {
    0x01: 0x21,  # initiate-request -> glo-initiate-request
    0x05: 0x25,  # read-request
    0x06: 0x26,  # write-request
    0x08: 0x28,  # initiate-response
    0x0C: 0x2C,  # read-response
    0x0D: 0x2D,  # write-response
    0x0E: 0x2E,  # confirmed-service-error
    0x16: 0x36,  # unconfirmed-write-request
    0x18: 0x38,  # information-report-request
    0xC0: 0xC8,  # get-request
    0xC1: 0xC9,  # set-request
    0xC2: 0xCA,  # event-notification-request
    0xC3: 0xCB,  # action-request
    0xC4: 0xCC,  # get-response
    0xC5: 0xCD,  # set-response
    0xC7: 0xCF,  # action-response
}
"""Plain xDLMS APDU tag -> tag of its globally ciphered service-specific form."""

DED_TAGS: Final[dict[int, int]] = {
    0x01: 0x41,  # initiate-request -> ded-initiate-request (defined, never usable: no dedicated key yet)
    0x05: 0x45,
    0x06: 0x46,
    0x08: 0x48,
    0x0C: 0x4C,
    0x0D: 0x4D,
    0x0E: 0x4E,
    0x16: 0x56,
    0x18: 0x58,
    0xC0: 0xD0,  # get-request -> ded-get-request
    0xC1: 0xD1,
    0xC2: 0xD2,
    0xC3: 0xD3,  # ded-actionRequest
    0xC4: 0xD4,
    0xC5: 0xD5,
    0xC7: 0xD7,
}
"""Plain xDLMS APDU tag -> tag of its dedicated-key ciphered service-specific form."""

CIPHERED_TO_PLAIN: Final[dict[int, tuple[int, bool]]] = {
    **{glo: (plain, False) for plain, glo in GLO_TAGS.items()},
    **{ded: (plain, True) for plain, ded in DED_TAGS.items()},
}
"""Service-specific ciphered tag -> (plain tag, dedicated)."""

GENERAL_GLO_CIPHERING_TAG: Final = 0xDB
GENERAL_DED_CIPHERING_TAG: Final = 0xDC
GENERAL_CIPHERING_TAG: Final = 0xDD
GENERAL_SIGNING_TAG: Final = 0xDF

SECURITY_HEADER_LENGTH: Final = 5
AUTHENTICATION_TAG_LENGTH: Final = 12
"""Bytes of the GCM authentication tag (security suites 0-2)."""
MAX_LENGTH_FIELD: Final = 3
"""Bytes of an A-XDR length of up to 65,535 (0x82 + two bytes)."""
SYSTEM_TITLE_LENGTH: Final = 8
"""Security control byte (1) + invocation counter (4)."""


# --------------------------------------------------------------------------------------------------
# Low-level helpers


def _byte(data: Buffer, offset: int, what: str) -> int:
    if offset >= len(data):
        raise DecodeError(f"input ends before {what}", offset, what)
    return data[offset]


def _read_length(data: Buffer, offset: int, what: str) -> tuple[int, int]:
    """A minimal-form A-XDR length at ``offset`` -> (length, offset after the length field)."""
    first = _byte(data, offset, f"length of {what}")
    if first < 0x80:
        return first, offset + 1
    count = first & 0x7F
    if count == 0 or count > 4:
        raise DecodeError(f"length of {what} with {count} length bytes", offset, "1..4 length bytes")
    end = offset + 1 + count
    if end > len(data):
        raise DecodeError(f"input ends inside the length of {what}", offset, f"length of {what}")
    n = int.from_bytes(data[offset + 1 : end], "big")
    if n < 0x80 or n < 1 << (8 * (count - 1)):
        raise DecodeError(f"non-minimal length {n} of {what}", offset, "minimal A-XDR length")
    return n, end


def _read_octets(data: Buffer, offset: int, what: str) -> tuple[bytes, int]:
    n, start = _read_length(data, offset, what)
    end = start + n
    if end > len(data):
        raise DecodeError(f"{what} of {n} bytes is longer than the input", start, f"{n} bytes")
    return bytes(data[start:end]), end


def _put_octets(out: bytearray, value: bytes) -> None:
    encode_length(len(value), out)
    out += value


def _check_end(data: Buffer, end: int, name: str) -> None:
    if end != len(data):
        raise DecodeError(f"{len(data) - end} trailing bytes after {name}", end, "end of input")


# --------------------------------------------------------------------------------------------------
# Security header


@dataclass(slots=True)
class SecurityHeader:
    """The five bytes at the start of every ciphered-content: SC (1) and IC (4, big-endian)."""

    security_control: int
    invocation_counter: int

    def encode(self) -> bytes:
        if not 0 <= self.security_control <= 0xFF:
            raise EncodeError(f"security control {self.security_control} is not a byte")
        if not 0 <= self.invocation_counter <= 0xFFFFFFFF:
            raise EncodeError(f"invocation counter {self.invocation_counter} does not fit 32 bits")
        return bytes((self.security_control,)) + self.invocation_counter.to_bytes(4, "big")

    @classmethod
    def decode_from(cls, data: Buffer, offset: int) -> tuple[Self, int]:
        end = offset + SECURITY_HEADER_LENGTH
        if end > len(data):
            raise DecodeError("ciphered content shorter than its security header", offset, "SC and IC")
        return cls(data[offset], int.from_bytes(data[offset + 1 : end], "big")), end

    @classmethod
    def decode(cls, data: Buffer) -> Self:
        header, end = cls.decode_from(data, 0)
        _check_end(data, end, "security header")
        return header


def split_ciphered_content(content: Buffer, base_offset: int = 0) -> tuple[SecurityHeader, bytes]:
    """Split a ciphered-content into its :class:`SecurityHeader` and the rest (ciphertext || tag).

    ``base_offset`` is where ``content`` starts in the outermost buffer (for error offsets).
    """
    if len(content) < SECURITY_HEADER_LENGTH:
        raise DecodeError("ciphered content shorter than its security header", base_offset, "SC and IC")
    header = SecurityHeader(content[0], int.from_bytes(content[1:5], "big"))
    return header, bytes(content[5:])


# --------------------------------------------------------------------------------------------------
# Envelopes


@dataclass(slots=True)
class ServiceSpecificCiphered:
    """A glo-/ded- service-specific ciphered APDU: ``tag || length || ciphered-content``."""

    TAGS: ClassVar[frozenset[int]] = frozenset(CIPHERED_TO_PLAIN)
    MAX_OVERHEAD: ClassVar[int] = 1 + MAX_LENGTH_FIELD + SECURITY_HEADER_LENGTH + AUTHENTICATION_TAG_LENGTH
    """Bytes the envelope adds to a plain APDU of up to 65,535 bytes: tag, length, SC, IC, tag (21)."""

    tag: int
    ciphered_content: bytes

    @property
    def plain_tag(self) -> int:
        """Tag of the APDU this one protects (0xC0 for glo-get-request, ...)."""
        return CIPHERED_TO_PLAIN[self.tag][0]

    @property
    def dedicated(self) -> bool:
        """True for ded- (dedicated key) APDUs, False for glo- (global key)."""
        return CIPHERED_TO_PLAIN[self.tag][1]

    @classmethod
    def for_plain_tag(cls, plain_tag: int, ciphered_content: bytes, dedicated: bool = False) -> Self:
        """The glo- (or ded-) envelope for an APDU whose first byte is ``plain_tag``."""
        table = DED_TAGS if dedicated else GLO_TAGS
        try:
            return cls(table[plain_tag], ciphered_content)
        except KeyError:
            kind = "ded" if dedicated else "glo"
            raise EncodeError(f"APDU tag 0x{plain_tag:02X} has no {kind}- ciphered form") from None

    def encode(self) -> bytes:
        if self.tag not in CIPHERED_TO_PLAIN:
            raise EncodeError(f"0x{self.tag:02X} is not a service-specific ciphered APDU tag")
        out = bytearray((self.tag,))
        _put_octets(out, self.ciphered_content)
        return bytes(out)

    @classmethod
    def decode_from(cls, data: Buffer, offset: int) -> tuple[Self, int]:
        tag = _byte(data, offset, "ciphered APDU tag")
        if tag not in CIPHERED_TO_PLAIN:
            raise DecodeError(
                f"tag 0x{tag:02X} is not a service-specific ciphered APDU", offset, "a glo- or ded- tag"
            )
        content, end = _read_octets(data, offset + 1, "ciphered-content")
        return cls(tag, content), end

    @classmethod
    def decode(cls, data: Buffer) -> Self:
        apdu, end = cls.decode_from(data, 0)
        _check_end(data, end, "ciphered APDU")
        return apdu


@dataclass(slots=True)
class _SystemTitleEnvelope:
    """What general-glo- and general-ded-ciphering share: TAG, system-title, ciphered-content."""

    TAG: ClassVar[int]
    MAX_OVERHEAD: ClassVar[int] = (
        1 + 1 + SYSTEM_TITLE_LENGTH + MAX_LENGTH_FIELD + SECURITY_HEADER_LENGTH + AUTHENTICATION_TAG_LENGTH
    )
    """Bytes the envelope adds to a plain APDU of up to 65,535 bytes: tag, title length, title, length,
    SC, IC, tag (30)."""

    system_title: bytes
    ciphered_content: bytes

    def encode(self) -> bytes:
        out = bytearray((self.TAG,))
        _put_octets(out, self.system_title)
        _put_octets(out, self.ciphered_content)
        return bytes(out)

    @classmethod
    def decode_from(cls, data: Buffer, offset: int) -> tuple[Self, int]:
        tag = _byte(data, offset, "APDU tag")
        if tag != cls.TAG:
            raise DecodeError(f"tag 0x{tag:02X} is not {cls.__name__}", offset, f"0x{cls.TAG:02X}")
        system_title, pos = _read_octets(data, offset + 1, "system-title")
        content, pos = _read_octets(data, pos, "ciphered-content")
        return cls(system_title, content), pos

    @classmethod
    def decode(cls, data: Buffer) -> Self:
        apdu, end = cls.decode_from(data, 0)
        _check_end(data, end, cls.__name__)
        return apdu


@dataclass(slots=True)
class GeneralGloCiphering(_SystemTitleEnvelope):
    """general-glo-ciphering (0xDB): system-title, ciphered-content."""

    TAG: ClassVar[int] = GENERAL_GLO_CIPHERING_TAG


@dataclass(slots=True)
class GeneralDedCiphering(_SystemTitleEnvelope):
    """general-ded-ciphering (0xDC): system-title, ciphered-content (dedicated key)."""

    TAG: ClassVar[int] = GENERAL_DED_CIPHERING_TAG


class KeyId(IntEnum):
    """Key-Id of an identified-key (general-ciphering key-info)."""

    GLOBAL_UNICAST_ENCRYPTION_KEY = 0
    GLOBAL_BROADCAST_ENCRYPTION_KEY = 1


class KekId(IntEnum):
    """Kek-Id of a wrapped-key (general-ciphering key-info)."""

    MASTER_KEY = 0


@dataclass(slots=True)
class IdentifiedKey:
    """key-info identified-key [0]: the content is ciphered with a global key named by ``key_id``."""

    CHOICE: ClassVar[int] = 0

    key_id: KeyId


@dataclass(slots=True)
class WrappedKey:
    """key-info wrapped-key [1]: a fresh content key, wrapped (RFC 3394) with the KEK ``kek_id``."""

    CHOICE: ClassVar[int] = 1

    kek_id: KekId
    key_ciphered_data: bytes


@dataclass(slots=True)
class AgreedKey:
    """key-info agreed-key [2]: the content key comes from a key agreement (suites 1 and 2)."""

    CHOICE: ClassVar[int] = 2

    key_parameters: bytes
    key_ciphered_data: bytes


KeyInfo = IdentifiedKey | WrappedKey | AgreedKey
"""The Key-Info CHOICE of general-ciphering."""


def _encode_key_info(out: bytearray, key_info: KeyInfo | None) -> None:
    if key_info is None:
        out.append(0)
        return
    out.append(1)
    if isinstance(key_info, IdentifiedKey):
        out += bytes((0, int(key_info.key_id)))
    elif isinstance(key_info, WrappedKey):
        out += bytes((1, int(key_info.kek_id)))
        _put_octets(out, key_info.key_ciphered_data)
    elif isinstance(key_info, AgreedKey):
        out.append(2)
        _put_octets(out, key_info.key_parameters)
        _put_octets(out, key_info.key_ciphered_data)
    else:
        raise EncodeError(f"{type(key_info).__name__} is not a Key-Info choice")


def _decode_key_info(data: Buffer, offset: int) -> tuple[KeyInfo | None, int]:
    present = _byte(data, offset, "key-info presence flag")
    if present == 0:
        return None, offset + 1
    if present != 1:
        raise DecodeError(f"OPTIONAL presence flag {present}", offset, "0 or 1")
    pos = offset + 1
    choice = _byte(data, pos, "key-info choice")
    pos += 1
    if choice == 0:
        raw = _byte(data, pos, "key-id")
        try:
            key_id = KeyId(raw)
        except ValueError:
            raise DecodeError(f"unknown key-id {raw}", pos, "0 or 1") from None
        return IdentifiedKey(key_id), pos + 1
    if choice == 1:
        raw = _byte(data, pos, "kek-id")
        try:
            kek_id = KekId(raw)
        except ValueError:
            raise DecodeError(f"unknown kek-id {raw}", pos, "0 (master-key)") from None
        wrapped, pos = _read_octets(data, pos + 1, "key-ciphered-data")
        return WrappedKey(kek_id, wrapped), pos
    if choice == 2:
        parameters, pos = _read_octets(data, pos, "key-parameters")
        ciphered, pos = _read_octets(data, pos, "key-ciphered-data")
        return AgreedKey(parameters, ciphered), pos
    raise DecodeError(f"unknown key-info choice {choice}", pos - 1, "0, 1 or 2")


@dataclass(slots=True)
class GeneralCiphering:
    """general-ciphering (0xDD)."""

    TAG: ClassVar[int] = GENERAL_CIPHERING_TAG
    MAX_OVERHEAD: ClassVar[int] = 64
    """Bytes the envelope adds with short transaction id, titles, no date-time and no key-info (an
    estimate, not a bound: key-info can add more) [design]."""

    transaction_id: bytes
    originator_system_title: bytes
    recipient_system_title: bytes
    date_time: bytes
    other_information: bytes
    key_info: KeyInfo | None
    ciphered_content: bytes

    def encode_addressing(self, out: bytearray) -> None:
        """Append transaction-id .. other-information as on the wire (also the extra AAD of suites 1/2)."""
        _put_octets(out, self.transaction_id)
        _put_octets(out, self.originator_system_title)
        _put_octets(out, self.recipient_system_title)
        _put_octets(out, self.date_time)
        _put_octets(out, self.other_information)

    def encode(self) -> bytes:
        out = bytearray((self.TAG,))
        self.encode_addressing(out)
        _encode_key_info(out, self.key_info)
        _put_octets(out, self.ciphered_content)
        return bytes(out)

    @classmethod
    def decode_from(cls, data: Buffer, offset: int) -> tuple[Self, int]:
        tag = _byte(data, offset, "APDU tag")
        if tag != cls.TAG:
            raise DecodeError(f"tag 0x{tag:02X} is not {cls.__name__}", offset, f"0x{cls.TAG:02X}")
        transaction_id, pos = _read_octets(data, offset + 1, "transaction-id")
        originator, pos = _read_octets(data, pos, "originator-system-title")
        recipient, pos = _read_octets(data, pos, "recipient-system-title")
        date_time, pos = _read_octets(data, pos, "date-time")
        other, pos = _read_octets(data, pos, "other-information")
        key_info, pos = _decode_key_info(data, pos)
        content, pos = _read_octets(data, pos, "ciphered-content")
        return cls(transaction_id, originator, recipient, date_time, other, key_info, content), pos

    @classmethod
    def decode(cls, data: Buffer) -> Self:
        apdu, end = cls.decode_from(data, 0)
        _check_end(data, end, cls.__name__)
        return apdu


@dataclass(slots=True)
class GeneralSigning:
    """general-signing (0xDF): addressing fields, the signed content (an APDU) and its signature."""

    TAG: ClassVar[int] = GENERAL_SIGNING_TAG

    transaction_id: bytes
    originator_system_title: bytes
    recipient_system_title: bytes
    date_time: bytes
    other_information: bytes
    content: bytes
    signature: bytes

    def encode_signed_part(self) -> bytes:
        """The APDU without its signature field (tag through content)."""
        out = bytearray((self.TAG,))
        _put_octets(out, self.transaction_id)
        _put_octets(out, self.originator_system_title)
        _put_octets(out, self.recipient_system_title)
        _put_octets(out, self.date_time)
        _put_octets(out, self.other_information)
        _put_octets(out, self.content)
        return bytes(out)

    def encode(self) -> bytes:
        out = bytearray(self.encode_signed_part())
        _put_octets(out, self.signature)
        return bytes(out)

    @classmethod
    def decode_from(cls, data: Buffer, offset: int) -> tuple[Self, int]:
        tag = _byte(data, offset, "APDU tag")
        if tag != cls.TAG:
            raise DecodeError(f"tag 0x{tag:02X} is not {cls.__name__}", offset, f"0x{cls.TAG:02X}")
        transaction_id, pos = _read_octets(data, offset + 1, "transaction-id")
        originator, pos = _read_octets(data, pos, "originator-system-title")
        recipient, pos = _read_octets(data, pos, "recipient-system-title")
        date_time, pos = _read_octets(data, pos, "date-time")
        other, pos = _read_octets(data, pos, "other-information")
        content, pos = _read_octets(data, pos, "content")
        signature, pos = _read_octets(data, pos, "signature")
        return cls(transaction_id, originator, recipient, date_time, other, content, signature), pos

    @classmethod
    def decode(cls, data: Buffer) -> Self:
        apdu, end = cls.decode_from(data, 0)
        _check_end(data, end, cls.__name__)
        return apdu


CipheredEnvelope = ServiceSpecificCiphered | GeneralGloCiphering | GeneralDedCiphering | GeneralCiphering
"""Every envelope whose content starts with a security header."""

ProtectedApdu = CipheredEnvelope | GeneralSigning
"""Every envelope this module decodes."""

_GENERAL: Final[
    dict[int, type[GeneralGloCiphering | GeneralDedCiphering | GeneralCiphering | GeneralSigning]]
] = {
    GENERAL_GLO_CIPHERING_TAG: GeneralGloCiphering,
    GENERAL_DED_CIPHERING_TAG: GeneralDedCiphering,
    GENERAL_CIPHERING_TAG: GeneralCiphering,
    GENERAL_SIGNING_TAG: GeneralSigning,
}

PROTECTED_TAGS: Final[frozenset[int]] = frozenset(CIPHERED_TO_PLAIN) | frozenset(_GENERAL)
"""First bytes of every APDU :func:`decode_protected_apdu` accepts."""


def is_protected_tag(tag: int) -> bool:
    """True if an APDU starting with ``tag`` is one of the envelopes of this module."""
    return tag in PROTECTED_TAGS


def decode_protected_apdu(data: Buffer) -> ProtectedApdu:
    """Decode any envelope of this module from a buffer holding exactly one APDU."""
    tag = _byte(data, 0, "APDU tag")
    general = _GENERAL.get(tag)
    if general is not None:
        return general.decode(data)
    if tag in CIPHERED_TO_PLAIN:
        return ServiceSpecificCiphered.decode(data)
    raise DecodeError(f"tag 0x{tag:02X} is not a ciphered or signed APDU", 0, "a protected APDU tag")


@dataclass(slots=True)
class CipheredParts:
    """A ciphered APDU split into what decryption needs.

    ``system_title`` is the sender's: from the envelope (general-glo/ded: system-title,
    general-ciphering: originator-system-title) or, for service-specific APDUs, the one handed to
    :func:`parse_ciphered_apdu` (None if none was).
    """

    envelope: CipheredEnvelope
    system_title: bytes | None
    header: SecurityHeader
    payload: bytes
    """Everything after the security header: ciphertext || tag, plaintext || tag or ciphertext."""


def parse_ciphered_apdu(data: Buffer, system_title: bytes | None = None) -> CipheredParts:
    """Decode a ciphered APDU (not general-signing) and split its security header off.

    ``system_title`` is the sender's system title known from the association; it is used for the
    service-specific forms, which do not carry one, and ignored for the general forms.
    """
    apdu = decode_protected_apdu(data)
    if isinstance(apdu, GeneralSigning):
        raise DecodeError("general-signing carries no security header", 0, "a ciphered APDU")
    content = apdu.ciphered_content
    # the content is the last field of every envelope: it starts len(content) bytes before the end
    base = len(data) - len(content)
    header, payload = split_ciphered_content(content, base)
    if isinstance(apdu, ServiceSpecificCiphered):
        title = system_title
    elif isinstance(apdu, GeneralCiphering):
        title = apdu.originator_system_title
    else:
        title = apdu.system_title
    return CipheredParts(apdu, title, header, payload)


__all__ = [
    "CIPHERED_TO_PLAIN",
    "DED_TAGS",
    "GENERAL_CIPHERING_TAG",
    "GENERAL_DED_CIPHERING_TAG",
    "GENERAL_GLO_CIPHERING_TAG",
    "GENERAL_SIGNING_TAG",
    "GLO_TAGS",
    "PROTECTED_TAGS",
    "SECURITY_HEADER_LENGTH",
    "AgreedKey",
    "CipheredEnvelope",
    "CipheredParts",
    "GeneralCiphering",
    "GeneralDedCiphering",
    "GeneralGloCiphering",
    "GeneralSigning",
    "IdentifiedKey",
    "KekId",
    "KeyId",
    "KeyInfo",
    "ProtectedApdu",
    "SecurityHeader",
    "ServiceSpecificCiphered",
    "WrappedKey",
    "decode_protected_apdu",
    "is_protected_tag",
    "parse_ciphered_apdu",
    "split_ciphered_content",
]
