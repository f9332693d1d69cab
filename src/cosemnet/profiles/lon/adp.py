"""IEC 62056-8-8 adaptation layer (5.4.2): the ADP PDUs carried between DLMS/COSEM and ISO/IEC 14908-1.

Nothing of the adaptation layer is public (spec-notes section 2 marks it [design]); this layout is the
project's own, recorded in ``docs/decisions/0012-lon-adaptation-layer.md``. Every ADP PDU travels as the
data of one 14908-1 application message (:class:`~cosemnet.profiles.lon.lon_apdu.ApplicationMessage`)
with message code :data:`ADP_MESSAGE_CODE` (configurable in the service). Layout (big-endian)::

    byte 0      control  b7 P   protected form (1) or unprotected (0)
                         b6-5   segmentation: 00 unsegmented, 01 first, 10 middle, 11 last
                         b4 D   direction of the *data transfer*: 0 client -> server, 1 server -> client
                         b3 A   DATA: segment acknowledgement requested; other kinds: 0
                         b2-0   kind: 0 DATA, 1 SEGMENT_ACK, 2 ABORT (3-7 reserved)
    byte 1      client_sap
    byte 2      server_sap
    DATA, unsegmented           (no further header)
    DATA, first segment         message_id, total_length (2 bytes: the whole APDU)
    DATA, middle / last         message_id, segment_number (1..255; the first segment is number 0)
    SEGMENT_ACK                 message_id, segment_number (highest segment received in sequence)
    ABORT                       message_id, reason (:class:`AbortReason`)
    protected form only         security_suite_id (1 byte)
    then                        payload: the APDU (or segment) for an unprotected DATA PDU, empty for an
                                unprotected SEGMENT_ACK / ABORT; for the protected form, the bytes the
                                security suite returned (its own security header, ciphertext, tag)

The header bytes up to and including ``security_suite_id`` are handed to the suite as ``pdu_header``
(authenticated, not encrypted). SEGMENT_ACK and ABORT carry the direction bit of the *data transfer* they
refer to, not of their own travel, so a node that both sends and receives can tell which transfer an
ABORT ends. Reserved bits and kinds are refused by the decoder (strict: the wire has no freedom, so
``decode(b).encode() == b`` holds for every accepted ``b``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import ClassVar, Final, Protocol, Self, TypeVar

from cosemnet.errors import DecodeError, EncodeError
from cosemnet.profiles.lon._codec import Buffer, Reader, check_bytes, check_enum, check_int, to_bytes

ADP_MESSAGE_CODE: Final = 0x0D
"""Default 14908-1 application message code of every ADP PDU [design, see decision 0012]."""

MAX_MESSAGE_DATA: Final = 228
"""Application data bytes of one 14908-1 power-line application message (after the message code)."""

NULL_SUITE_ID: Final = 0
"""Security suite id of :class:`NullSecuritySuite`."""

OSGP_AES_128_PSK_SUITE_ID: Final = 1
"""Security suite id reserved for the OSGP-AES-128-PSK suite (Annex D) [design]."""

_PROTECTED: Final = 0x80
_SEGMENTATION_SHIFT: Final = 5
_DIRECTION: Final = 0x10
_ACK_REQUEST: Final = 0x08
_KIND_MASK: Final = 0x07

BASE_HEADER_LENGTH: Final = 3
"""control, client_sap, server_sap."""


class AdpKind(IntEnum):
    """Message kind (control bits 2-0)."""

    DATA = 0
    SEGMENT_ACK = 1
    ABORT = 2


class Segmentation(IntEnum):
    """Segmentation field (control bits 6-5)."""

    UNSEGMENTED = 0
    FIRST = 1
    MIDDLE = 2
    LAST = 3


class AdpDirection(IntEnum):
    """Direction of a data transfer (control bit 4)."""

    CLIENT_TO_SERVER = 0
    SERVER_TO_CLIENT = 1

    def reverse(self) -> AdpDirection:
        return AdpDirection(1 - self)


class AbortReason(IntEnum):
    """Why a segmented transfer was abandoned (ABORT ``reason`` byte) [design]."""

    UNSPECIFIED = 0
    REASSEMBLY_TIMEOUT = 1
    """The receiver gave up waiting for the next segment, or the whole APDU took too long."""
    TOO_LONG = 2
    """``total_length`` exceeds what the receiver accepts."""
    SEQUENCE_ERROR = 3
    """A segment is missing (beyond the reorder window) or out of place."""
    LENGTH_MISMATCH = 4
    """The segments do not add up to ``total_length`` (or an empty middle/last segment)."""
    RESOURCES_EXHAUSTED = 5
    """The receiver dropped the reassembly to make room for another."""
    LOWER_LAYER_FAILURE = 6
    """The sender could not deliver a segment (14908-1 transaction failed)."""
    ACK_TIMEOUT = 7
    """The sender got no SEGMENT_ACK after its retries."""
    SECURITY_FAILURE = 8
    """A segment failed the security suite's checks."""
    CANCELLED = 9
    """The sender's user cancelled the transfer."""


class AdpSecurityError(DecodeError):
    """A protected PDU failed the security suite's checks (authentication, replay, unknown key...)."""


class AdpSecuritySuite(Protocol):
    """A pluggable protection for the protected ADP form (the OSGP-AES-128-PSK suite plugs in here).

    ``protect`` returns what follows the ADP header: the suite's own security header (counters, key
    ids), the payload (possibly encrypted) and any tag. ``pdu_header`` (every header byte up to and
    including ``security_suite_id``) must be authenticated. ``unprotect`` inverts it and raises
    :class:`AdpSecurityError` (or another :class:`DecodeError`) on any failure; ``overhead`` is the
    largest number of bytes ``protect`` adds, used to size segments.
    """

    @property
    def suite_id(self) -> int: ...

    @property
    def overhead(self) -> int: ...

    def protect(self, pdu_header: bytes, payload: bytes) -> bytes: ...

    def unprotect(self, pdu_header: bytes, protected: bytes) -> bytes: ...


class NullSecuritySuite:
    """The null suite: the protected form with no protection at all (suite id 0, no overhead).

    Useful to exercise the protected code paths before a real suite is configured; it authenticates
    nothing, so a receiver must not treat it as protection.
    """

    __slots__ = ()

    @property
    def suite_id(self) -> int:
        return NULL_SUITE_ID

    @property
    def overhead(self) -> int:
        return 0

    def protect(self, pdu_header: bytes, payload: bytes) -> bytes:
        return bytes(payload)

    def unprotect(self, pdu_header: bytes, protected: bytes) -> bytes:
        return bytes(protected)


def _control(
    protected: bool, segmentation: Segmentation, direction: AdpDirection, ack_request: bool, kind: AdpKind
) -> int:
    return (
        (_PROTECTED if protected else 0)
        | (segmentation << _SEGMENTATION_SHIFT)
        | (_DIRECTION if direction else 0)
        | (_ACK_REQUEST if ack_request else 0)
        | kind
    )


def _check_common(direction: AdpDirection, client_sap: int, server_sap: int, suite_id: int | None) -> None:
    check_enum(AdpDirection, direction, "direction")
    check_int("client_sap", client_sap, 0, 255)
    check_int("server_sap", server_sap, 0, 255)
    if suite_id is not None:
        check_int("security_suite_id", suite_id, 0, 255)


def _control_header_start(pdu: AdpSegmentAck | AdpAbort) -> bytearray:
    """Control byte, SAPs and message id of a SEGMENT_ACK or ABORT header (the caller adds its own byte,
    then :func:`_with_suite_id`)."""
    _check_common(pdu.direction, pdu.client_sap, pdu.server_sap, pdu.security_suite_id)
    return bytearray(
        (
            _control(pdu.protected, Segmentation.UNSEGMENTED, pdu.direction, False, pdu.KIND),
            pdu.client_sap,
            pdu.server_sap,
            check_int("message_id", pdu.message_id, 0, 255),
        )
    )


def _with_suite_id(out: bytearray, suite_id: int | None) -> bytes:
    """The header in ``out`` ended with the security suite id of the protected form."""
    if suite_id is not None:
        out.append(suite_id)
    return bytes(out)


def _control_payload(payload: bytes, protected: bool, name: str) -> bytes:
    """The payload of a SEGMENT_ACK or ABORT: only the protected form has one (the suite's output)."""
    payload = check_bytes("payload", payload)
    if payload and not protected:
        raise EncodeError(f"an unprotected {name} carries no payload")
    return payload


P = TypeVar("P")


def _of_kind(pdu: AdpData | AdpSegmentAck | AdpAbort, kind: type[P], offset: int, name: str) -> P:
    """``pdu`` if it is a ``kind``, else DecodeError (naming ``name``, the kind expected)."""
    if not isinstance(pdu, kind):
        raise DecodeError(f"ADP PDU kind is {pdu.KIND.name}", offset, name)
    return pdu


@dataclass(slots=True)
class AdpData:
    """ADP DATA PDU: a whole APDU (``UNSEGMENTED``) or one segment of it.

    ``message_id`` is present for segments, ``total_length`` for the first segment only and
    ``segment_number`` for middle and last segments. ``security_suite_id`` is None for the unprotected
    form; in the protected form ``payload`` holds the security suite's output.
    """

    direction: AdpDirection
    client_sap: int
    server_sap: int
    payload: bytes = b""
    segmentation: Segmentation = Segmentation.UNSEGMENTED
    message_id: int | None = None
    total_length: int | None = None
    segment_number: int | None = None
    ack_request: bool = False
    security_suite_id: int | None = None

    KIND: ClassVar[AdpKind] = AdpKind.DATA

    @property
    def protected(self) -> bool:
        return self.security_suite_id is not None

    def encode_header(self) -> bytes:
        """Every header byte up to and including ``security_suite_id`` (the suite's ``pdu_header``)."""
        _check_common(self.direction, self.client_sap, self.server_sap, self.security_suite_id)
        seg = check_enum(Segmentation, self.segmentation, "segmentation")
        segmented = seg != Segmentation.UNSEGMENTED
        if segmented != (self.message_id is not None):
            raise EncodeError("message_id must be given exactly for segments")
        if (seg == Segmentation.FIRST) != (self.total_length is not None):
            raise EncodeError("total_length must be given exactly for a first segment")
        if (seg in (Segmentation.MIDDLE, Segmentation.LAST)) != (self.segment_number is not None):
            raise EncodeError("segment_number must be given exactly for middle and last segments")
        if self.ack_request and not segmented:
            raise EncodeError("ack_request applies to segments only")
        out = bytearray(
            (
                _control(self.protected, seg, self.direction, self.ack_request, AdpKind.DATA),
                self.client_sap,
                self.server_sap,
            )
        )
        if self.message_id is not None:
            out.append(check_int("message_id", self.message_id, 0, 255))
        if self.total_length is not None:
            out += check_int("total_length", self.total_length, 0, 0xFFFF).to_bytes(2, "big")
        if self.segment_number is not None:
            out.append(check_int("segment_number", self.segment_number, 1, 255))
        return _with_suite_id(out, self.security_suite_id)

    def encode(self) -> bytes:
        return self.encode_header() + check_bytes("payload", self.payload)

    @classmethod
    def decode(cls, data: Buffer) -> Self:
        return _of_kind(decode_adp_pdu(data), cls, 0, "DATA")

    @classmethod
    def decode_from(cls, data: Buffer, offset: int) -> tuple[Self, int]:
        """Decode the PDU filling ``data[offset:]`` (an ADP PDU extends to the end of its message)."""
        pdu, end = decode_adp_pdu_from(data, offset)
        return _of_kind(pdu, cls, offset, "DATA"), end


@dataclass(slots=True)
class AdpSegmentAck:
    """ADP SEGMENT_ACK PDU: the receiver holds every segment up to ``segment_number`` of ``message_id``.

    ``payload`` is empty in the unprotected form and the suite's output (tag) in the protected form.
    """

    direction: AdpDirection
    client_sap: int
    server_sap: int
    message_id: int
    segment_number: int
    security_suite_id: int | None = None
    payload: bytes = b""

    KIND: ClassVar[AdpKind] = AdpKind.SEGMENT_ACK

    @property
    def protected(self) -> bool:
        return self.security_suite_id is not None

    def encode_header(self) -> bytes:
        out = _control_header_start(self)
        out.append(check_int("segment_number", self.segment_number, 0, 255))
        return _with_suite_id(out, self.security_suite_id)

    def encode(self) -> bytes:
        payload = _control_payload(self.payload, self.protected, "SEGMENT_ACK")
        return self.encode_header() + payload

    @classmethod
    def decode(cls, data: Buffer) -> Self:
        return _of_kind(decode_adp_pdu(data), cls, 0, "SEGMENT_ACK")

    @classmethod
    def decode_from(cls, data: Buffer, offset: int) -> tuple[Self, int]:
        pdu, end = decode_adp_pdu_from(data, offset)
        return _of_kind(pdu, cls, offset, "SEGMENT_ACK"), end


@dataclass(slots=True)
class AdpAbort:
    """ADP ABORT PDU: the transfer ``message_id`` is abandoned (sent by either end)."""

    direction: AdpDirection
    client_sap: int
    server_sap: int
    message_id: int
    reason: AbortReason = AbortReason.UNSPECIFIED
    security_suite_id: int | None = None
    payload: bytes = b""

    KIND: ClassVar[AdpKind] = AdpKind.ABORT

    @property
    def protected(self) -> bool:
        return self.security_suite_id is not None

    def encode_header(self) -> bytes:
        out = _control_header_start(self)
        out.append(check_enum(AbortReason, self.reason, "reason"))
        return _with_suite_id(out, self.security_suite_id)

    def encode(self) -> bytes:
        payload = _control_payload(self.payload, self.protected, "ABORT")
        return self.encode_header() + payload

    @classmethod
    def decode(cls, data: Buffer) -> Self:
        return _of_kind(decode_adp_pdu(data), cls, 0, "ABORT")

    @classmethod
    def decode_from(cls, data: Buffer, offset: int) -> tuple[Self, int]:
        pdu, end = decode_adp_pdu_from(data, offset)
        return _of_kind(pdu, cls, offset, "ABORT"), end


AdpPdu = AdpData | AdpSegmentAck | AdpAbort
"""Any adaptation-layer PDU."""


def header_length(kind: AdpKind, segmentation: Segmentation, protected: bool) -> int:
    """Length of the header (``encode_header``) of a PDU of this shape."""
    n = BASE_HEADER_LENGTH
    if kind != AdpKind.DATA:
        n += 2
    elif segmentation == Segmentation.FIRST:
        n += 3
    elif segmentation != Segmentation.UNSEGMENTED:
        n += 2
    return n + 1 if protected else n


def encode_adp_pdu(pdu: AdpPdu) -> bytes:
    """Encode any ADP PDU."""
    if not isinstance(pdu, AdpData | AdpSegmentAck | AdpAbort):
        raise EncodeError(f"not an ADP PDU: {type(pdu).__name__}")
    return pdu.encode()


def decode_adp_pdu(data: Buffer) -> AdpPdu:
    """Decode a buffer holding exactly one ADP PDU."""
    return decode_adp_pdu_from(data, 0)[0]


def decode_adp_pdu_from(data: Buffer, offset: int) -> tuple[AdpPdu, int]:
    """Decode the ADP PDU filling ``data[offset:]``; returns it and the end offset (``len(data)``)."""
    buf = to_bytes(data)
    if not 0 <= offset <= len(buf):
        raise DecodeError("offset outside the buffer", offset, "ADP PDU")
    reader = Reader(buf, offset, len(buf))
    start = reader.pos
    control = reader.u8("ADP control field")
    kind_value = control & _KIND_MASK
    if kind_value > AdpKind.ABORT:
        raise DecodeError(f"reserved ADP message kind {kind_value}", start, "kind 0..2")
    kind = AdpKind(kind_value)
    protected = bool(control & _PROTECTED)
    segmentation = Segmentation((control >> _SEGMENTATION_SHIFT) & 0x03)
    direction = AdpDirection(1 if control & _DIRECTION else 0)
    ack_request = bool(control & _ACK_REQUEST)
    client_sap = reader.u8("client SAP")
    server_sap = reader.u8("server SAP")
    pdu: AdpPdu
    if kind == AdpKind.DATA:
        if ack_request and segmentation == Segmentation.UNSEGMENTED:
            raise DecodeError("ack request bit set on an unsegmented PDU", start, "bit 3 = 0")
        message_id = total_length = segment_number = None
        if segmentation != Segmentation.UNSEGMENTED:
            message_id = reader.u8("message_id")
        if segmentation == Segmentation.FIRST:
            total_length = int.from_bytes(reader.take(2, "total_length"), "big")
        elif segmentation != Segmentation.UNSEGMENTED:
            pos = reader.pos
            segment_number = reader.u8("segment_number")
            if segment_number == 0:
                raise DecodeError("segment number 0 outside a first segment", pos, "segment number 1..255")
        suite_id = reader.u8("security_suite_id") if protected else None
        pdu = AdpData(
            direction,
            client_sap,
            server_sap,
            reader.rest(),
            segmentation,
            message_id,
            total_length,
            segment_number,
            ack_request,
            suite_id,
        )
        return pdu, reader.pos
    if segmentation != Segmentation.UNSEGMENTED or ack_request:
        raise DecodeError(f"segmentation or ack bits set on {kind.name}", start, "bits 6-5 and 3 = 0")
    message_id = reader.u8("message_id")
    if kind == AdpKind.SEGMENT_ACK:
        number = reader.u8("segment_number")
        suite_id = reader.u8("security_suite_id") if protected else None
        payload_pos = reader.pos
        payload = reader.rest()
        if payload and not protected:
            raise DecodeError("payload after an unprotected SEGMENT_ACK", payload_pos, "end of PDU")
        return AdpSegmentAck(
            direction, client_sap, server_sap, message_id, number, suite_id, payload
        ), reader.pos
    pos = reader.pos
    reason_value = reader.u8("abort reason")
    try:
        reason = AbortReason(reason_value)
    except ValueError:
        raise DecodeError(f"unknown abort reason {reason_value}", pos, "AbortReason") from None
    suite_id = reader.u8("security_suite_id") if protected else None
    payload_pos = reader.pos
    payload = reader.rest()
    if payload and not protected:
        raise DecodeError("payload after an unprotected ABORT", payload_pos, "end of PDU")
    return AdpAbort(direction, client_sap, server_sap, message_id, reason, suite_id, payload), reader.pos


def protect_pdu(pdu: AdpPdu, suite: AdpSecuritySuite, payload: bytes) -> AdpPdu:
    """Return ``pdu`` in the protected form: ``security_suite_id`` set and ``payload`` replaced by
    ``suite.protect(header, payload)`` (``payload`` is the plaintext; ``pdu.payload`` is ignored)."""
    pdu.security_suite_id = check_int("suite_id", suite.suite_id, 0, 255)
    pdu.payload = b""
    pdu.payload = bytes(suite.protect(pdu.encode_header(), payload))
    return pdu


def unprotect_payload(pdu: AdpPdu, suite: AdpSecuritySuite) -> bytes:
    """The plaintext payload of a protected PDU (:class:`AdpSecurityError` / :class:`DecodeError`)."""
    if pdu.security_suite_id is None:
        raise AdpSecurityError("PDU is not protected", 0, "protected form")
    if pdu.security_suite_id != suite.suite_id:
        raise AdpSecurityError(
            f"PDU protected with suite {pdu.security_suite_id}", 0, f"suite {suite.suite_id}"
        )
    return bytes(suite.unprotect(pdu.encode_header(), pdu.payload))


__all__ = [
    "ADP_MESSAGE_CODE",
    "BASE_HEADER_LENGTH",
    "MAX_MESSAGE_DATA",
    "NULL_SUITE_ID",
    "OSGP_AES_128_PSK_SUITE_ID",
    "AbortReason",
    "AdpAbort",
    "AdpData",
    "AdpDirection",
    "AdpKind",
    "AdpPdu",
    "AdpSecurityError",
    "AdpSecuritySuite",
    "AdpSegmentAck",
    "NullSecuritySuite",
    "Segmentation",
    "decode_adp_pdu",
    "decode_adp_pdu_from",
    "encode_adp_pdu",
    "header_length",
    "protect_pdu",
    "unprotect_payload",
]
