"""ACSE APDUs as DLMS uses them (IEC 62056-5-3, after ISO/IEC 8650-1): AARQ, AARE, RLRQ, RLRE.

BER encoded (see :mod:`cosemnet.codec.ber`). The xDLMS APDU carried in ``user-information`` (an
InitiateRequest/InitiateResponse/ConfirmedServiceError, plain or ciphered) is kept as the raw inner
bytes; ``decode_user_information()`` decodes the plain ones and hands ciphered ones back as bytes
(this module never deciphers anything).

Example, an LN association with HLS-GMAC::

    AARQ(
        application_context_name=ApplicationContextName.LN,
        sender_acse_requirements=ACSE_REQUIREMENTS_AUTHENTICATION,
        mechanism_name=MechanismName.HIGH_GMAC,
        calling_authentication_value=b"K56iVagY",
        user_information=InitiateRequest(proposed_conformance=..., client_max_receive_pdu_size=1200).encode(),
    ).encode()

Component encodings (the ACSE module uses explicit tagging unless marked IMPLICIT):

==========================  ==========================================  =====================================
component                   wire                                        Python
==========================  ==========================================  =====================================
protocol-version            ``80`` BIT STRING (IMPLICIT)                :class:`BerBitString`, None = absent
application-context-name    ``A1`` { ``06`` OID 2.16.756.5.8.1.x }      :class:`ApplicationContextName`
AP-title, AE-qualifier      ``Ax`` { ``04`` OCTET STRING }              ``bytes``
AP/AE-invocation-id         ``Ax`` { ``02`` INTEGER }                   ``int``
acse-requirements           ``8x`` BIT STRING (IMPLICIT)                :class:`BerBitString`
mechanism-name              ``8x`` OID 2.16.756.5.8.2.x (IMPLICIT)      :class:`MechanismName`
authentication-value        ``Ax`` { ``80`` GraphicString | ``81`` BIT  ``bytes`` (charstring) or
                            STRING }                                    :class:`BerBitString` (bitstring)
result                      ``A2`` { ``02`` INTEGER }                   :class:`AssociationResult`
result-source-diagnostic    ``A3`` { ``A1``/``A2`` { ``02`` INTEGER } }   :class:`AssociateSourceDiagnostic`
implementation-information  ``9D`` GraphicString (IMPLICIT)             ``bytes``
user-information            ``BE`` { ``04`` OCTET STRING }              ``bytes`` (the xDLMS APDU)
release reason              ``80`` INTEGER (IMPLICIT)                   :class:`ReleaseRequestReason` /
                                                                        :class:`ReleaseResponseReason`
==========================  ==========================================  =====================================

Decoding rules and design choices (the DLMS text is silent or only the ACSE ASN.1 applies):

* Components must come in the order of the ASN.1 SEQUENCE (ascending tag numbers), each at most once,
  with the right primitive/constructed form. Unknown components (including application-context-name-list,
  which DLMS does not use) and the authentication-value alternatives external/other are a DecodeError.
* AP-title and AE-qualifier are OCTET STRINGs (DLMS: the system title, and in suites 1/2 the
  calling-AE-qualifier carries the certificate); the ACSE object-identifier forms are a DecodeError.
* Only the DLMS application context names (2.16.756.5.8.1.1..4) and mechanism names
  (2.16.756.5.8.2.0..7) are accepted; any other OID is a DecodeError.
* Non-minimal (long-form or zero-padded) BER lengths are accepted and reproduced: the APDU's
  ``ber_length_octets`` then lists, for every TLV in wire order (pre-order: the APDU, each component,
  then the TLVs nested in it), how many octets its length field used. It is empty when every length
  was minimal, which is what encoders produce by default. Entries smaller than what a length needs are
  ignored (the minimal form is used), so a stale list never breaks an encoding.
* The encoder does not add sender-acse-requirements by itself when a mechanism name is given: pass
  :data:`ACSE_REQUIREMENTS_AUTHENTICATION`. This keeps every decoded AARQ re-encodable unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import Enum, IntEnum
from typing import ClassVar, Final, Self, TypeVar

from cosemnet.codec.ber import (
    BerBitString,
    TagClass,
    TlvHeader,
    decode_bit_string,
    decode_header,
    decode_integer,
    decode_oid,
    encode_integer,
    encode_oid,
    encode_tlv,
    length_octets,
    oid_text,
)
from cosemnet.codec.initiate import InitiateRequest, InitiateResponse
from cosemnet.codec.service_error import ConfirmedServiceError
from cosemnet.codec.types import Buffer
from cosemnet.errors import DecodeError, EncodeError

# --------------------------------------------------------------------------------------------------
# Enumerations


class ApplicationContextName(IntEnum):
    """DLMS application context names: the last arc of 2.16.756.5.8.1.x."""

    LN = 1
    SN = 2
    LN_CIPHERED = 3
    SN_CIPHERED = 4


class MechanismName(IntEnum):
    """DLMS authentication mechanism names: the last arc of 2.16.756.5.8.2.x."""

    LOWEST = 0
    LOW = 1
    HIGH = 2
    HIGH_MD5 = 3
    HIGH_SHA1 = 4
    HIGH_GMAC = 5
    HIGH_SHA256 = 6
    HIGH_ECDSA = 7


class AssociationResult(IntEnum):
    """AARE result."""

    ACCEPTED = 0
    REJECTED_PERMANENT = 1
    REJECTED_TRANSIENT = 2


class AcseServiceUser(IntEnum):
    """AARE result-source-diagnostic, alternative acse-service-user [1]."""

    NULL = 0
    NO_REASON_GIVEN = 1
    APPLICATION_CONTEXT_NAME_NOT_SUPPORTED = 2
    CALLING_AP_TITLE_NOT_RECOGNIZED = 3
    CALLING_AP_INVOCATION_IDENTIFIER_NOT_RECOGNIZED = 4
    CALLING_AE_QUALIFIER_NOT_RECOGNIZED = 5
    CALLING_AE_INVOCATION_IDENTIFIER_NOT_RECOGNIZED = 6
    CALLED_AP_TITLE_NOT_RECOGNIZED = 7
    CALLED_AP_INVOCATION_IDENTIFIER_NOT_RECOGNIZED = 8
    CALLED_AE_QUALIFIER_NOT_RECOGNIZED = 9
    CALLED_AE_INVOCATION_IDENTIFIER_NOT_RECOGNIZED = 10
    AUTHENTICATION_MECHANISM_NAME_NOT_RECOGNISED = 11
    AUTHENTICATION_MECHANISM_NAME_REQUIRED = 12
    AUTHENTICATION_FAILURE = 13
    AUTHENTICATION_REQUIRED = 14


class AcseServiceProvider(IntEnum):
    """AARE result-source-diagnostic, alternative acse-service-provider [2]."""

    NULL = 0
    NO_REASON_GIVEN = 1
    NO_COMMON_ACSE_VERSION = 2


class AssociateSourceDiagnostic(IntEnum):
    """The result-source-diagnostic CHOICE as one enumeration: value = alternative tag << 8 | code.

    Design choice: one flat enum rather than the union ``AcseServiceUser | AcseServiceProvider``:
    ``AcseServiceUser.NULL == AcseServiceProvider.NULL`` (IntEnums compare as numbers) and both are
    named ``NULL``, so a union could neither tell two different AAREs apart nor survive the JSON form.
    :meth:`of` and :attr:`detail` convert from and to the per-alternative enums.
    """

    # acse-service-user [1]
    ACSE_SERVICE_USER_NULL = 0x0100
    ACSE_SERVICE_USER_NO_REASON_GIVEN = 0x0101
    ACSE_SERVICE_USER_APPLICATION_CONTEXT_NAME_NOT_SUPPORTED = 0x0102
    ACSE_SERVICE_USER_CALLING_AP_TITLE_NOT_RECOGNIZED = 0x0103
    ACSE_SERVICE_USER_CALLING_AP_INVOCATION_IDENTIFIER_NOT_RECOGNIZED = 0x0104
    ACSE_SERVICE_USER_CALLING_AE_QUALIFIER_NOT_RECOGNIZED = 0x0105
    ACSE_SERVICE_USER_CALLING_AE_INVOCATION_IDENTIFIER_NOT_RECOGNIZED = 0x0106
    ACSE_SERVICE_USER_CALLED_AP_TITLE_NOT_RECOGNIZED = 0x0107
    ACSE_SERVICE_USER_CALLED_AP_INVOCATION_IDENTIFIER_NOT_RECOGNIZED = 0x0108
    ACSE_SERVICE_USER_CALLED_AE_QUALIFIER_NOT_RECOGNIZED = 0x0109
    ACSE_SERVICE_USER_CALLED_AE_INVOCATION_IDENTIFIER_NOT_RECOGNIZED = 0x010A
    ACSE_SERVICE_USER_AUTHENTICATION_MECHANISM_NAME_NOT_RECOGNISED = 0x010B
    ACSE_SERVICE_USER_AUTHENTICATION_MECHANISM_NAME_REQUIRED = 0x010C
    ACSE_SERVICE_USER_AUTHENTICATION_FAILURE = 0x010D
    ACSE_SERVICE_USER_AUTHENTICATION_REQUIRED = 0x010E
    # acse-service-provider [2]
    ACSE_SERVICE_PROVIDER_NULL = 0x0200
    ACSE_SERVICE_PROVIDER_NO_REASON_GIVEN = 0x0201
    ACSE_SERVICE_PROVIDER_NO_COMMON_ACSE_VERSION = 0x0202

    @classmethod
    def of(cls, detail: AcseServiceUser | AcseServiceProvider) -> AssociateSourceDiagnostic:
        """The member for a per-alternative value, e.g. ``of(AcseServiceUser.AUTHENTICATION_FAILURE)``."""
        if isinstance(detail, AcseServiceProvider):
            return cls(0x200 | detail)
        if isinstance(detail, AcseServiceUser):
            return cls(0x100 | detail)
        raise EncodeError(f"{detail!r} is not an AcseServiceUser or AcseServiceProvider value")

    @property
    def alternative(self) -> int:
        """The CHOICE tag: 1 acse-service-user, 2 acse-service-provider."""
        return self >> 8

    @property
    def code(self) -> int:
        """The INTEGER value sent on the wire."""
        return self & 0xFF

    @property
    def detail(self) -> AcseServiceUser | AcseServiceProvider:
        """The value as a member of its alternative's enumeration."""
        if self >> 8 == 2:
            return AcseServiceProvider(self & 0xFF)
        return AcseServiceUser(self & 0xFF)


class ReleaseRequestReason(IntEnum):
    """RLRQ reason."""

    NORMAL = 0
    URGENT = 1
    USER_DEFINED = 30


class ReleaseResponseReason(IntEnum):
    """RLRE reason."""

    NORMAL = 0
    NOT_FINISHED = 1
    USER_DEFINED = 30


APPLICATION_CONTEXT_NAME_ARCS: Final = (2, 16, 756, 5, 8, 1)
"""Arcs of the application context names before the last one."""

MECHANISM_NAME_ARCS: Final = (2, 16, 756, 5, 8, 2)
"""Arcs of the mechanism names before the last one."""

PROTOCOL_VERSION_1: Final = BerBitString(b"\x80", 7)
"""protocol-version {version1}, the DEFAULT (``80 02 07 80`` when sent explicitly)."""

ACSE_REQUIREMENTS_AUTHENTICATION: Final = BerBitString(b"\x80", 7)
"""ACSE-requirements with the authentication functional unit (bit 0), as DLMS sends it: ``07 80``."""

_APP_CONTEXT_CONTENT: Final = {
    name: encode_oid((*APPLICATION_CONTEXT_NAME_ARCS, name)) for name in ApplicationContextName
}
_APP_CONTEXT_BY_CONTENT: Final = {v: k for k, v in _APP_CONTEXT_CONTENT.items()}
_MECHANISM_CONTENT: Final = {name: encode_oid((*MECHANISM_NAME_ARCS, name)) for name in MechanismName}
_MECHANISM_BY_CONTENT: Final = {v: k for k, v in _MECHANISM_CONTENT.items()}

# Identifier octets
_UNIV_INTEGER: Final = 0x02
_UNIV_OCTET_STRING: Final = 0x04
_UNIV_OID: Final = 0x06
_CHARSTRING: Final = 0x80  # Authentication-value charstring [0] IMPLICIT GraphicString
_BITSTRING: Final = 0x81  # Authentication-value bitstring [1] IMPLICIT BIT STRING
_DIAG_USER: Final = 0xA1
_DIAG_PROVIDER: Final = 0xA2


def _ctx(number: int, constructed: bool) -> int:
    """Identifier octet of a context-specific tag below 31."""
    return 0x80 | (0x20 if constructed else 0) | number


# component number -> constructed?
_AARQ_COMPONENTS: Final = {
    0: False,
    1: True,
    2: True,
    3: True,
    4: True,
    5: True,
    6: True,
    7: True,
    8: True,
    9: True,
    10: False,
    11: False,
    12: True,
    29: False,
    30: True,
}
_AARE_COMPONENTS: Final = {
    0: False,
    1: True,
    2: True,
    3: True,
    4: True,
    5: True,
    6: True,
    7: True,
    8: False,
    9: False,
    10: True,
    29: False,
    30: True,
}
_RELEASE_COMPONENTS: Final = {0: False, 30: True}

E = TypeVar("E", bound=IntEnum)
T = TypeVar("T")


# --------------------------------------------------------------------------------------------------
# user-information


CIPHERED_REQUEST_TAGS: Final = frozenset({0x21, 0x41, 0xDB, 0xDC, 0xDD})
"""Tags of protected InitiateRequests (glo-/ded-initiateRequest and the general ciphering APDUs)."""

CIPHERED_RESPONSE_TAGS: Final = frozenset({0x28, 0x2E, 0x48, 0x4E, 0xDB, 0xDC, 0xDD})
"""Tags of protected InitiateResponses and ConfirmedServiceErrors (glo-/ded- forms and general ciphering)."""


def decode_user_information(
    data: Buffer,
) -> InitiateRequest | InitiateResponse | ConfirmedServiceError | bytes:
    """Decode the xDLMS APDU of a user-information field.

    Plain InitiateRequest/InitiateResponse/ConfirmedServiceError come back decoded; a ciphered one (any
    tag of :data:`CIPHERED_REQUEST_TAGS` or :data:`CIPHERED_RESPONSE_TAGS`) comes back as the raw bytes
    for the security layer. Anything else is a :class:`DecodeError`; offsets count from the start of
    ``data`` (the user-information contents), not from the start of the ACSE APDU.
    """
    return _user_information(
        data,
        (InitiateRequest, InitiateResponse, ConfirmedServiceError),
        CIPHERED_REQUEST_TAGS | CIPHERED_RESPONSE_TAGS,
    )


def _user_information(
    data: Buffer,
    plain: tuple[type[InitiateRequest] | type[InitiateResponse] | type[ConfirmedServiceError], ...],
    ciphered: frozenset[int],
) -> InitiateRequest | InitiateResponse | ConfirmedServiceError | bytes:
    if not data:
        raise DecodeError("empty user-information", 0, "an xDLMS APDU")
    tag = data[0]
    for cls in plain:
        if tag == cls.TAG:
            return cls.decode(data)
    if tag in ciphered:
        return bytes(data)
    expected = ", ".join(f"{t:#04x}" for t in sorted({c.TAG for c in plain} | ciphered))
    raise DecodeError(f"unexpected xDLMS APDU tag {tag:#04x} in user-information", 0, expected)


def _request_user_information(data: bytes | None) -> InitiateRequest | bytes | None:
    """The InitiateRequest in an AARQ/RLRQ user-information; raw bytes if ciphered; None if absent."""
    if data is None:
        return None
    return _user_information(data, (InitiateRequest,), CIPHERED_REQUEST_TAGS)  # type: ignore[return-value]


def _response_user_information(data: bytes | None) -> InitiateResponse | ConfirmedServiceError | bytes | None:
    """The InitiateResponse or ConfirmedServiceError in an AARE/RLRE user-information; raw bytes if
    ciphered; None if absent."""
    if data is None:
        return None
    return _user_information(  # type: ignore[return-value]
        data, (InitiateResponse, ConfirmedServiceError), CIPHERED_RESPONSE_TAGS
    )


# --------------------------------------------------------------------------------------------------
# Reading


class _Reader:
    """Walks the TLVs of one APDU, recording length-field sizes in pre-order."""

    __slots__ = ("data", "lengths", "name", "nonminimal")

    def __init__(self, data: Buffer, name: str) -> None:
        self.data = data
        self.name = name
        self.lengths: list[int] = []
        self.nonminimal = False

    def header(self, offset: int, end: int) -> TlvHeader:
        data = self.data
        if offset + 2 <= end:  # fast path: low tag number, short-form length (``end <= len(data)``)
            first = data[offset]
            n = data[offset + 1]
            if first & 0x1F != 0x1F and n < 0x80 and offset + 2 + n <= end:
                self.lengths.append(1)
                return TlvHeader(first >> 6, bool(first & 0x20), first & 0x1F, offset + 2, offset + 2 + n, 1)
        h = decode_header(data, offset, end)
        self.lengths.append(h.length_octets)
        if h.length_octets > 1 and h.length_octets != length_octets(h.content_end - h.content_start):
            self.nonminimal = True
        return h

    def hints(self) -> tuple[int, ...]:
        return tuple(self.lengths) if self.nonminimal else ()

    def outer(self, offset: int, tag: int) -> TlvHeader:
        data = self.data
        if offset >= len(data):
            raise DecodeError(f"input ends before the {self.name} tag", offset, f"tag {tag:#04x}")
        if data[offset] != tag:
            raise DecodeError(f"not an {self.name} (tag {data[offset]:#04x})", offset, f"tag {tag:#04x}")
        return self.header(offset, len(data))

    def components(self, start: int, end: int, table: dict[int, bool]) -> Iterator[tuple[int, int, int]]:
        """Yield ``(number, content_start, content_end)`` for each component, checking tag and order."""
        pos = start
        last = -1
        while pos < end:
            h = self.header(pos, end)
            tag_class, constructed, number = h.tag_class, h.constructed, h.number
            if tag_class != TagClass.CONTEXT_SPECIFIC or number not in table:
                raise DecodeError(
                    f"unexpected component {_describe_tag(tag_class, number)} in {self.name}",
                    pos,
                    "context-specific tag " + ", ".join(f"[{n}]" for n in table if n > last),
                )
            if number <= last:
                raise DecodeError(f"{self.name} component [{number}] repeated or out of order", pos, "")
            if constructed != table[number]:
                form = "constructed" if table[number] else "primitive"
                raise DecodeError(f"{self.name} component [{number}] is not {form}", pos, form)
            yield number, h.content_start, h.content_end
            last = number
            pos = h.content_end

    def inner(self, start: int, end: int, identifier: int, what: str) -> tuple[int, int]:
        """The single TLV with ``identifier`` that exactly fills ``[start, end)``; return its contents."""
        data = self.data
        if start >= end:
            raise DecodeError(f"empty {what}", start, f"identifier {identifier:#04x}")
        if data[start] != identifier:
            raise DecodeError(
                f"{what}: identifier {data[start]:#04x}", start, f"identifier {identifier:#04x}"
            )
        h = self.header(start, end)
        if h.content_end != end:
            raise DecodeError(
                f"{end - h.content_end} extra octet(s) in {what}", h.content_end, "end of component"
            )
        return h.content_start, h.content_end

    def octet_string(self, start: int, end: int, what: str) -> bytes:
        s, e = self.inner(start, end, _UNIV_OCTET_STRING, what)
        return bytes(self.data[s:e])

    def integer(self, start: int, end: int, what: str) -> int:
        s, e = self.inner(start, end, _UNIV_INTEGER, what)
        return decode_integer(self.data, s, e)

    def enum_of(self, enum_cls: type[E], start: int, value: int, what: str) -> E:
        try:
            return enum_cls(value)
        except ValueError:
            raise DecodeError(
                f"unknown {what} {value}", start, ", ".join(str(int(m)) for m in enum_cls)
            ) from None

    def application_context_name(self, start: int, end: int) -> ApplicationContextName:
        s, e = self.inner(start, end, _UNIV_OID, "application-context-name")
        found = _APP_CONTEXT_BY_CONTENT.get(bytes(self.data[s:e]))
        if found is None:
            raise DecodeError(
                f"unknown application context name {_oid_or_hex(self.data, s, e)}",
                s,
                "2.16.756.5.8.1.1..4",
            )
        return found

    def mechanism_name(self, start: int, end: int) -> MechanismName:
        found = _MECHANISM_BY_CONTENT.get(bytes(self.data[start:end]))
        if found is None:
            raise DecodeError(
                f"unknown mechanism name {_oid_or_hex(self.data, start, end)}", start, "2.16.756.5.8.2.0..7"
            )
        return found

    def authentication_value(self, start: int, end: int, what: str) -> bytes | BerBitString:
        data = self.data
        if start < end and data[start] == _BITSTRING:
            s, e = self.inner(start, end, _BITSTRING, what)
            return decode_bit_string(data, s, e)
        if start < end and data[start] != _CHARSTRING:
            raise DecodeError(
                f"unsupported {what} alternative (identifier {data[start]:#04x})",
                start,
                "charstring [0] (0x80) or bitstring [1] (0x81)",
            )
        s, e = self.inner(start, end, _CHARSTRING, what)
        return bytes(data[s:e])

    def diagnostic(self, start: int, end: int) -> AssociateSourceDiagnostic:
        data = self.data
        what = "result-source-diagnostic"
        if start < end and data[start] == _DIAG_PROVIDER:
            s, e = self.inner(start, end, _DIAG_PROVIDER, what)
            code = self.enum_of(AcseServiceProvider, s, self.integer(s, e, what), "acse-service-provider")
            return AssociateSourceDiagnostic(0x200 | code)
        if start < end and data[start] != _DIAG_USER:
            raise DecodeError(
                f"unknown {what} alternative (identifier {data[start]:#04x})",
                start,
                "acse-service-user [1] (0xA1) or acse-service-provider [2] (0xA2)",
            )
        s, e = self.inner(start, end, _DIAG_USER, what)
        user = self.enum_of(AcseServiceUser, s, self.integer(s, e, what), "acse-service-user")
        return AssociateSourceDiagnostic(0x100 | user)


def _describe_tag(tag_class: int, number: int) -> str:
    prefix = {0: "UNIVERSAL ", 1: "APPLICATION ", 2: "", 3: "PRIVATE "}[tag_class]
    return f"[{prefix}{number}]"


def _oid_or_hex(data: Buffer, start: int, end: int) -> str:
    try:
        return oid_text(decode_oid(data, start, end))
    except DecodeError:
        return bytes(data[start:end]).hex().upper() or "(empty)"


def _decode_exact(decoded: tuple[T, int], name: str, data: Buffer) -> T:
    """The value of ``decode_from(data, 0)`` when it filled ``data`` exactly."""
    value, end = decoded
    if end != len(data):
        raise DecodeError(f"{len(data) - end} trailing octet(s) after the {name}", end, "end of input")
    return value


# --------------------------------------------------------------------------------------------------
# Writing


class _Writer:
    """Builds TLVs, consuming length-field hints in pre-order."""

    __slots__ = ("hints", "index")

    def __init__(self, hints: tuple[int, ...]) -> None:
        self.hints = hints
        self.index = 0

    def take(self) -> int:
        i = self.index
        self.index = i + 1
        hints = self.hints
        return hints[i] if i < len(hints) else 0

    def nested(self, out: bytearray, identifiers: tuple[int, ...], content: bytes) -> None:
        """Append ``identifiers[0] { identifiers[1] { ... content } }``."""
        hints = [self.take() for _ in identifiers]
        body: bytes | bytearray = content
        for identifier, hint in zip(reversed(identifiers), reversed(hints), strict=True):
            buf = bytearray()
            encode_tlv(buf, identifier, body, hint)
            body = buf
        out += body

    def octets(self, out: bytearray, number: int, value: bytes) -> None:
        self.nested(out, (_ctx(number, True), _UNIV_OCTET_STRING), _as_bytes(value, number))

    def integer(self, out: bytearray, number: int, value: int) -> None:
        self.nested(out, (_ctx(number, True), _UNIV_INTEGER), encode_integer(_as_int(value, number)))

    def bit_string(self, out: bytearray, number: int, value: BerBitString) -> None:
        if not isinstance(value, BerBitString):
            raise EncodeError(f"component [{number}] needs a BerBitString, not {type(value).__name__}")
        self.nested(out, (_ctx(number, False),), value.contents())

    def application_context_name(self, out: bytearray, value: ApplicationContextName) -> None:
        name = _enum_value(ApplicationContextName, value, "application-context-name")
        self.nested(out, (_ctx(1, True), _UNIV_OID), _APP_CONTEXT_CONTENT[name])

    def mechanism_name(self, out: bytearray, number: int, value: MechanismName) -> None:
        name = _enum_value(MechanismName, value, "mechanism-name")
        self.nested(out, (_ctx(number, False),), _MECHANISM_CONTENT[name])

    def authentication_value(self, out: bytearray, number: int, value: bytes | BerBitString) -> None:
        if isinstance(value, BerBitString):
            self.nested(out, (_ctx(number, True), _BITSTRING), value.contents())
        else:
            self.nested(out, (_ctx(number, True), _CHARSTRING), _as_bytes(value, number))

    def graphic_string(self, out: bytearray, number: int, value: bytes) -> None:
        self.nested(out, (_ctx(number, False),), _as_bytes(value, number))

    def apdu(self, tag: int, build: bytearray, top_hint: int) -> bytes:
        out = bytearray()
        encode_tlv(out, tag, build, top_hint)
        return bytes(out)


def _as_bytes(value: object, number: int) -> bytes:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    raise EncodeError(f"component [{number}] needs bytes, not {type(value).__name__}")


def _as_int(value: object, number: int) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise EncodeError(f"component [{number}] needs an int, not {type(value).__name__}")


def _enum_value(enum_cls: type[E], value: int, what: str) -> E:
    """``value`` as a member of ``enum_cls``; members of other enums are refused, not reinterpreted."""
    if isinstance(value, Enum) and not isinstance(value, enum_cls):
        raise EncodeError(f"{value!r} is not a {what} ({enum_cls.__name__})")
    try:
        return enum_cls(value)
    except (ValueError, TypeError):
        raise EncodeError(f"{value!r} is not a {what} ({enum_cls.__name__})") from None


# --------------------------------------------------------------------------------------------------
# Components AARQ and AARE share


_AeNames = tuple[bytes | None, bytes | None, int | None, int | None]
"""AP-title, AE-qualifier, AP-invocation-id, AE-invocation-id (each None when absent)."""


def _write_ae_names(w: _Writer, out: bytearray, first: int, names: _AeNames) -> None:
    """The four AE names as components ``first`` to ``first + 3``."""
    ap_title, ae_qualifier, ap_invocation_id, ae_invocation_id = names
    for number, octets in ((first, ap_title), (first + 1, ae_qualifier)):
        if octets is not None:
            w.octets(out, number, octets)
    for number, integer in ((first + 2, ap_invocation_id), (first + 3, ae_invocation_id)):
        if integer is not None:
            w.integer(out, number, integer)


def _write_authentication_and_tail(
    w: _Writer,
    out: bytearray,
    first: int,
    acse_requirements: BerBitString | None,
    mechanism_name: MechanismName | None,
    authentication_value: bytes | BerBitString | None,
    implementation_information: bytes | None,
    user_information: bytes | None,
) -> None:
    """ACSE-requirements, mechanism-name and authentication-value as components ``first`` to
    ``first + 2``, then implementation-information [29] and user-information [30]."""
    if acse_requirements is not None:
        w.bit_string(out, first, acse_requirements)
    if mechanism_name is not None:
        w.mechanism_name(out, first + 1, mechanism_name)
    if authentication_value is not None:
        w.authentication_value(out, first + 2, authentication_value)
    if implementation_information is not None:
        w.graphic_string(out, 29, implementation_information)
    if user_information is not None:
        w.octets(out, 30, user_information)


class _AssociationFields:
    """The components AARQ and AARE share, gathered while decoding one of them.

    ``titles`` and ``ids`` hold the AP-title/AE-qualifier and invocation-id components by number;
    ``first`` is the number of the ACSE-requirements component (mechanism-name and authentication-value
    follow it).
    """

    __slots__ = (
        "_auth_name",
        "_first",
        "_id_numbers",
        "_names",
        "_r",
        "_title_numbers",
        "acse_requirements",
        "application_context_name",
        "authentication_value",
        "ids",
        "implementation_information",
        "mechanism_name",
        "protocol_version",
        "titles",
        "user_information",
    )

    def __init__(
        self, r: _Reader, names: dict[int, str], titles: tuple[int, ...], first: int, auth: str
    ) -> None:
        self._r = r
        self._names = names
        self._title_numbers = titles
        self._id_numbers = tuple(n for n in names if n not in titles)
        self._first = first
        self._auth_name = auth
        self.protocol_version: BerBitString | None = None
        self.application_context_name: ApplicationContextName | None = None
        self.titles: dict[int, bytes] = {}
        self.ids: dict[int, int] = {}
        self.acse_requirements: BerBitString | None = None
        self.mechanism_name: MechanismName | None = None
        self.authentication_value: bytes | BerBitString | None = None
        self.implementation_information: bytes | None = None
        self.user_information: bytes | None = None

    def take(self, data: Buffer, number: int, s: int, e: int) -> bool:
        """Read component ``number`` (content ``s``..``e``) if it is a shared one; False if it is not."""
        r = self._r
        if number == 0:
            self.protocol_version = decode_bit_string(data, s, e)
        elif number == 1:
            self.application_context_name = r.application_context_name(s, e)
        elif number in self._title_numbers:
            self.titles[number] = r.octet_string(s, e, self._names[number])
        elif number in self._id_numbers:
            self.ids[number] = r.integer(s, e, self._names[number])
        elif number == self._first:
            self.acse_requirements = decode_bit_string(data, s, e)
        elif number == self._first + 1:
            self.mechanism_name = r.mechanism_name(s, e)
        elif number == self._first + 2:
            self.authentication_value = r.authentication_value(s, e, self._auth_name)
        elif number == 29:
            self.implementation_information = bytes(data[s:e])
        elif number == 30:
            self.user_information = r.octet_string(s, e, "user-information")
        else:
            return False
        return True

    def context_name(self, name: str, top: TlvHeader) -> ApplicationContextName:
        """The application-context-name, which both APDUs require."""
        if self.application_context_name is None:
            raise DecodeError(f"{name} without application-context-name", top.content_start, "[1] component")
        return self.application_context_name


# --------------------------------------------------------------------------------------------------
# AARQ


@dataclass(slots=True, kw_only=True)
class AARQ:
    """A-ASSOCIATE request, ``[APPLICATION 0]`` (0x60). ``None`` = component absent."""

    TAG: ClassVar[int] = 0x60

    protocol_version: BerBitString | None = None
    application_context_name: ApplicationContextName
    called_ap_title: bytes | None = None
    called_ae_qualifier: bytes | None = None
    called_ap_invocation_id: int | None = None
    called_ae_invocation_id: int | None = None
    calling_ap_title: bytes | None = None
    calling_ae_qualifier: bytes | None = None
    calling_ap_invocation_id: int | None = None
    calling_ae_invocation_id: int | None = None
    sender_acse_requirements: BerBitString | None = None
    mechanism_name: MechanismName | None = None
    calling_authentication_value: bytes | BerBitString | None = field(default=None, repr=False)
    implementation_information: bytes | None = None
    user_information: bytes | None = None
    ber_length_octets: tuple[int, ...] = field(default=(), repr=False)

    def encode(self) -> bytes:
        w = _Writer(self.ber_length_octets)
        top = w.take()
        out = bytearray()
        if self.protocol_version is not None:
            w.bit_string(out, 0, self.protocol_version)
        w.application_context_name(out, self.application_context_name)
        _write_ae_names(
            w,
            out,
            2,
            (
                self.called_ap_title,
                self.called_ae_qualifier,
                self.called_ap_invocation_id,
                self.called_ae_invocation_id,
            ),
        )
        _write_ae_names(
            w,
            out,
            6,
            (
                self.calling_ap_title,
                self.calling_ae_qualifier,
                self.calling_ap_invocation_id,
                self.calling_ae_invocation_id,
            ),
        )
        _write_authentication_and_tail(
            w,
            out,
            10,
            self.sender_acse_requirements,
            self.mechanism_name,
            self.calling_authentication_value,
            self.implementation_information,
            self.user_information,
        )
        return w.apdu(self.TAG, out, top)

    @classmethod
    def decode(cls, data: Buffer) -> Self:
        return _decode_exact(cls.decode_from(data, 0), "AARQ", data)

    @classmethod
    def decode_from(cls, data: Buffer, offset: int) -> tuple[Self, int]:
        r = _Reader(data, "AARQ")
        top = r.outer(offset, cls.TAG)
        f = _AssociationFields(r, _AARQ_NAMES, (2, 3, 6, 7), 10, "calling-authentication-value")
        for number, s, e in r.components(top.content_start, top.content_end, _AARQ_COMPONENTS):
            f.take(data, number, s, e)
        titles, ids = f.titles, f.ids
        value = cls(
            protocol_version=f.protocol_version,
            application_context_name=f.context_name("AARQ", top),
            called_ap_title=titles.get(2),
            called_ae_qualifier=titles.get(3),
            called_ap_invocation_id=ids.get(4),
            called_ae_invocation_id=ids.get(5),
            calling_ap_title=titles.get(6),
            calling_ae_qualifier=titles.get(7),
            calling_ap_invocation_id=ids.get(8),
            calling_ae_invocation_id=ids.get(9),
            sender_acse_requirements=f.acse_requirements,
            mechanism_name=f.mechanism_name,
            calling_authentication_value=f.authentication_value,
            implementation_information=f.implementation_information,
            user_information=f.user_information,
            ber_length_octets=r.hints(),
        )
        return value, top.content_end

    def decode_user_information(self) -> InitiateRequest | bytes | None:
        """The InitiateRequest in user-information; raw bytes if it is ciphered; None if absent.

        DecodeError offsets count from the start of :attr:`user_information`.
        """
        return _request_user_information(self.user_information)


_AARQ_NAMES: Final = {
    2: "called-AP-title",
    3: "called-AE-qualifier",
    4: "called-AP-invocation-id",
    5: "called-AE-invocation-id",
    6: "calling-AP-title",
    7: "calling-AE-qualifier",
    8: "calling-AP-invocation-id",
    9: "calling-AE-invocation-id",
}


# --------------------------------------------------------------------------------------------------
# AARE


@dataclass(slots=True, kw_only=True)
class AARE:
    """A-ASSOCIATE response, ``[APPLICATION 1]`` (0x61). ``None`` = component absent."""

    TAG: ClassVar[int] = 0x61

    protocol_version: BerBitString | None = None
    application_context_name: ApplicationContextName
    result: AssociationResult
    result_source_diagnostic: AssociateSourceDiagnostic
    responding_ap_title: bytes | None = None
    responding_ae_qualifier: bytes | None = None
    responding_ap_invocation_id: int | None = None
    responding_ae_invocation_id: int | None = None
    responder_acse_requirements: BerBitString | None = None
    mechanism_name: MechanismName | None = None
    responding_authentication_value: bytes | BerBitString | None = field(default=None, repr=False)
    implementation_information: bytes | None = None
    user_information: bytes | None = None
    ber_length_octets: tuple[int, ...] = field(default=(), repr=False)

    def encode(self) -> bytes:
        w = _Writer(self.ber_length_octets)
        top = w.take()
        out = bytearray()
        if self.protocol_version is not None:
            w.bit_string(out, 0, self.protocol_version)
        w.application_context_name(out, self.application_context_name)
        result = _enum_value(AssociationResult, self.result, "result")
        w.nested(out, (_ctx(2, True), _UNIV_INTEGER), encode_integer(result))
        diagnostic = _enum_value(
            AssociateSourceDiagnostic, self.result_source_diagnostic, "result-source-diagnostic"
        )
        choice = _DIAG_PROVIDER if diagnostic.alternative == 2 else _DIAG_USER
        w.nested(out, (_ctx(3, True), choice, _UNIV_INTEGER), encode_integer(diagnostic.code))
        _write_ae_names(
            w,
            out,
            4,
            (
                self.responding_ap_title,
                self.responding_ae_qualifier,
                self.responding_ap_invocation_id,
                self.responding_ae_invocation_id,
            ),
        )
        _write_authentication_and_tail(
            w,
            out,
            8,
            self.responder_acse_requirements,
            self.mechanism_name,
            self.responding_authentication_value,
            self.implementation_information,
            self.user_information,
        )
        return w.apdu(self.TAG, out, top)

    @classmethod
    def decode(cls, data: Buffer) -> Self:
        return _decode_exact(cls.decode_from(data, 0), "AARE", data)

    @classmethod
    def decode_from(cls, data: Buffer, offset: int) -> tuple[Self, int]:
        r = _Reader(data, "AARE")
        top = r.outer(offset, cls.TAG)
        f = _AssociationFields(r, _AARE_NAMES, (4, 5), 8, "responding-authentication-value")
        result: AssociationResult | None = None
        diagnostic: AssociateSourceDiagnostic | None = None
        for number, s, e in r.components(top.content_start, top.content_end, _AARE_COMPONENTS):
            if f.take(data, number, s, e):
                continue
            if number == 2:
                result = r.enum_of(AssociationResult, s, r.integer(s, e, "result"), "result")
            else:
                diagnostic = r.diagnostic(s, e)
        application_context_name = f.context_name("AARE", top)
        if result is None:
            raise DecodeError("AARE without result", top.content_start, "[2] component")
        if diagnostic is None:
            raise DecodeError("AARE without result-source-diagnostic", top.content_start, "[3] component")
        titles, ids = f.titles, f.ids
        value = cls(
            protocol_version=f.protocol_version,
            application_context_name=application_context_name,
            result=result,
            result_source_diagnostic=diagnostic,
            responding_ap_title=titles.get(4),
            responding_ae_qualifier=titles.get(5),
            responding_ap_invocation_id=ids.get(6),
            responding_ae_invocation_id=ids.get(7),
            responder_acse_requirements=f.acse_requirements,
            mechanism_name=f.mechanism_name,
            responding_authentication_value=f.authentication_value,
            implementation_information=f.implementation_information,
            user_information=f.user_information,
            ber_length_octets=r.hints(),
        )
        return value, top.content_end

    def decode_user_information(self) -> InitiateResponse | ConfirmedServiceError | bytes | None:
        """The InitiateResponse or ConfirmedServiceError in user-information; raw bytes if ciphered.

        None if absent. DecodeError offsets count from the start of :attr:`user_information`.
        """
        return _response_user_information(self.user_information)


_AARE_NAMES: Final = {
    4: "responding-AP-title",
    5: "responding-AE-qualifier",
    6: "responding-AP-invocation-id",
    7: "responding-AE-invocation-id",
}


# --------------------------------------------------------------------------------------------------
# RLRQ / RLRE


def _encode_release(
    tag: int,
    reason: int | None,
    enum_cls: type[IntEnum],
    user_information: bytes | None,
    hints: tuple[int, ...],
) -> bytes:
    w = _Writer(hints)
    top = w.take()
    out = bytearray()
    if reason is not None:
        w.nested(out, (_ctx(0, False),), encode_integer(_enum_value(enum_cls, reason, "reason")))
    if user_information is not None:
        w.octets(out, 30, user_information)
    return w.apdu(tag, out, top)


def _decode_release(
    data: Buffer, offset: int, tag: int, name: str, enum_cls: type[E]
) -> tuple[E | None, bytes | None, tuple[int, ...], int]:
    r = _Reader(data, name)
    top = r.outer(offset, tag)
    reason: E | None = None
    user_information: bytes | None = None
    for number, s, e in r.components(top.content_start, top.content_end, _RELEASE_COMPONENTS):
        if number == 0:
            reason = r.enum_of(enum_cls, s, decode_integer(data, s, e), "reason")
        else:
            user_information = r.octet_string(s, e, "user-information")
    return reason, user_information, r.hints(), top.content_end


@dataclass(slots=True, kw_only=True)
class RLRQ:
    """A-RELEASE request, ``[APPLICATION 2]`` (0x62). ``None`` = component absent."""

    TAG: ClassVar[int] = 0x62

    reason: ReleaseRequestReason | None = None
    user_information: bytes | None = None
    ber_length_octets: tuple[int, ...] = field(default=(), repr=False)

    def encode(self) -> bytes:
        return _encode_release(
            self.TAG, self.reason, ReleaseRequestReason, self.user_information, self.ber_length_octets
        )

    @classmethod
    def decode(cls, data: Buffer) -> Self:
        return _decode_exact(cls.decode_from(data, 0), "RLRQ", data)

    @classmethod
    def decode_from(cls, data: Buffer, offset: int) -> tuple[Self, int]:
        reason, user_information, hints, end = _decode_release(
            data, offset, cls.TAG, "RLRQ", ReleaseRequestReason
        )
        return cls(reason=reason, user_information=user_information, ber_length_octets=hints), end

    def decode_user_information(self) -> InitiateRequest | bytes | None:
        """The InitiateRequest in user-information; raw bytes if it is ciphered; None if absent."""
        return _request_user_information(self.user_information)


@dataclass(slots=True, kw_only=True)
class RLRE:
    """A-RELEASE response, ``[APPLICATION 3]`` (0x63). ``None`` = component absent."""

    TAG: ClassVar[int] = 0x63

    reason: ReleaseResponseReason | None = None
    user_information: bytes | None = None
    ber_length_octets: tuple[int, ...] = field(default=(), repr=False)

    def encode(self) -> bytes:
        return _encode_release(
            self.TAG, self.reason, ReleaseResponseReason, self.user_information, self.ber_length_octets
        )

    @classmethod
    def decode(cls, data: Buffer) -> Self:
        return _decode_exact(cls.decode_from(data, 0), "RLRE", data)

    @classmethod
    def decode_from(cls, data: Buffer, offset: int) -> tuple[Self, int]:
        reason, user_information, hints, end = _decode_release(
            data, offset, cls.TAG, "RLRE", ReleaseResponseReason
        )
        return cls(reason=reason, user_information=user_information, ber_length_octets=hints), end

    def decode_user_information(self) -> InitiateResponse | ConfirmedServiceError | bytes | None:
        """The InitiateResponse (or ConfirmedServiceError) in user-information; raw bytes if ciphered."""
        return _response_user_information(self.user_information)


ACSE_APDU_TYPES: Final[dict[int, type[AARQ] | type[AARE] | type[RLRQ] | type[RLRE]]] = {
    AARQ.TAG: AARQ,
    AARE.TAG: AARE,
    RLRQ.TAG: RLRQ,
    RLRE.TAG: RLRE,
}
"""ACSE APDU classes by their first octet."""
