"""ISO/IEC 14908-1 transport (TPDU), session (SPDU) and authentication (AuthPDU) PDUs.

Header byte of TPDU / SPDU (Wireshark ``packet-lon.c`` fields ``lon.auth`` 0x80, ``lon.tpdu_type`` /
``lon.spdu_type`` 0x70, ``lon.trans_no`` 0x0F; izot/lon-stack-dx ``lcs_tsa.c`` ``TSPDU``; facts only)::

    auth(1) | type(3) | transaction number(4)

TPDU types: 0 ACKD, 1 UNACKD_RPT, 2 ACK, 4 REMINDER, 5 REM/MSG. SPDU types: 0 REQUEST, 2 RESPONSE,
4 REMINDER, 5 REM/MSG. Bodies:

* ACKD, UNACKD_RPT, REQUEST, RESPONSE: the APDU;
* ACK: nothing;
* REMINDER: M_List length (1 byte, in bytes) + M_List;
* REM/MSG: M_List length + M_List + the APDU.

The M_List is a bitmap of the group members that have already acknowledged / responded: member ``i`` is
bit ``i % 8`` (LSB first) of byte ``i // 8`` (lon-stack-dx ``XmitTimerExpiration``; the sender uses
REM/MSG when the list fits in 2 bytes, else a REMINDER followed by the message).

AuthPDU header byte (lon-stack-dx ``AuthPDU``)::

    fmt(2) | type(2) | transaction number(4)

``fmt`` is the address format of the message being authenticated, types are 0 CHALLENGE, 1 CHALLENGE
(OMA), 2 REPLY, 3 REPLY (OMA). The body is 8 bytes (the random challenge, or the reply computed from it)
followed, when ``fmt`` is 1 (group), by the group number (lon-stack-dx ``InitiateChallenge`` /
``SendReplyToChallenge``). Wireshark 4.0 always skips 9 bytes and registers the fmt/type fields with
wrong masks (0x0C / 0x02); its ``lon.authpdu`` raw byte and ``lon.trans_no`` are right.

Enhanced mode: when the NPDU version is 2 (``LsProtocolModeEnhanced`` in lon-stack-dx), transaction
numbers are 12 bits: the header nibble holds bits 11..8 and one extra byte after the header holds bits
7..0 (TPDU, SPDU and AuthPDU alike). Every other version uses the 4-bit legacy layout [design for
versions 1 and 3, which no public source describes].
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Final, Protocol, Self, TypeVar

from cosemnet.errors import DecodeError, EncodeError
from cosemnet.profiles.lon._codec import Buffer, Reader, check_bytes, check_enum, check_int, to_bytes
from cosemnet.profiles.lon.addresses import AddressFormat
from cosemnet.profiles.lon.lon_apdu import APDU_TYPES, Apdu, read_apdu

TRANSACTION_MAX: Final = 0x0F
TRANSACTION_MAX_ENHANCED: Final = 0x0FFF
AUTH_DATA_LENGTH: Final = 8


class TpduType(IntEnum):
    ACKD = 0
    UNACKD_RPT = 1
    ACK = 2
    REMINDER = 4
    REM_MSG = 5


class SpduType(IntEnum):
    REQUEST = 0
    RESPONSE = 2
    REMINDER = 4
    REM_MSG = 5


class AuthPduType(IntEnum):
    CHALLENGE = 0
    CHALLENGE_OMA = 1
    REPLY = 2
    REPLY_OMA = 3


# type -> (has M_List, has APDU)
_TPDU_BODY: Final = {
    TpduType.ACKD: (False, True),
    TpduType.UNACKD_RPT: (False, True),
    TpduType.ACK: (False, False),
    TpduType.REMINDER: (True, False),
    TpduType.REM_MSG: (True, True),
}
_SPDU_BODY: Final = {
    SpduType.REQUEST: (False, True),
    SpduType.RESPONSE: (False, True),
    SpduType.REMINDER: (True, False),
    SpduType.REM_MSG: (True, True),
}


def member_list(members: Iterable[int]) -> bytes:
    """The M_List bitmap for group ``members`` (0..255), as short as possible."""
    bits = 0
    for member in members:
        bits |= 1 << check_int("group member", member, 0, 255)
    length = (bits.bit_length() + 7) // 8
    return bits.to_bytes(length, "little")


def members_of(m_list: bytes) -> frozenset[int]:
    """The group members whose bits are set in an M_List."""
    bits = int.from_bytes(m_list, "little")
    return frozenset(i for i in range(len(m_list) * 8) if bits >> i & 1)


def _encode_transaction(out: bytearray, high_bits: int, transaction_number: int, enhanced: bool) -> None:
    if enhanced:
        check_int("transaction_number", transaction_number, 0, TRANSACTION_MAX_ENHANCED)
        out.append(high_bits | transaction_number >> 8)
        out.append(transaction_number & 0xFF)
    else:
        check_int("transaction_number", transaction_number, 0, TRANSACTION_MAX)
        out.append(high_bits | transaction_number)


def _decode_transaction(reader: Reader, header: int, enhanced: bool) -> int:
    if enhanced:
        return (header & 0x0F) << 8 | reader.u8("transaction number (low byte)")
    return header & 0x0F


def _encode_body(
    out: bytearray, what: str, kind: str, body: tuple[bool, bool], m_list: bytes | None, apdu: Apdu | None
) -> None:
    has_m_list, has_apdu = body
    if has_m_list:
        if m_list is None:
            raise EncodeError(f"{what} {kind} needs an M_List")
        m = check_bytes("m_list", m_list)
        if len(m) > 255:
            raise EncodeError("M_List longer than 255 bytes")
        out.append(len(m))
        out += m
    elif m_list is not None:
        raise EncodeError(f"{what} {kind} carries no M_List")
    if has_apdu:
        if apdu is None:
            raise EncodeError(f"{what} {kind} needs an APDU")
        if not isinstance(apdu, APDU_TYPES):
            raise EncodeError(f"not a 14908-1 APDU: {type(apdu).__name__}")
        out += apdu.encode()
    elif apdu is not None:
        raise EncodeError(f"{what} {kind} carries no APDU")


def _decode_body(reader: Reader, body: tuple[bool, bool], what: str) -> tuple[bytes | None, Apdu | None]:
    has_m_list, has_apdu = body
    m_list: bytes | None = None
    apdu: Apdu | None = None
    if has_m_list:
        length = reader.u8("M_List length")
        m_list = reader.take(length, "M_List")
    if has_apdu:
        apdu = read_apdu(reader)
    else:
        reader.expect_end(what)
    return m_list, apdu


K = TypeVar("K", bound=IntEnum)


def _encode_layer_pdu(
    out: bytearray,
    what: str,
    kind: IntEnum,
    body: tuple[bool, bool],
    pdu: Tpdu | Spdu,
    enhanced: bool,
) -> None:
    """A TPDU or SPDU: header, transaction number, then the M_List and APDU its type carries."""
    _encode_transaction(out, (0x80 if pdu.auth else 0) | kind << 4, pdu.transaction_number, enhanced)
    _encode_body(out, what, kind.name, body, pdu.m_list, pdu.apdu)


def _read_layer_pdu(
    reader: Reader,
    what: str,
    kinds: type[K],
    bodies: Mapping[K, tuple[bool, bool]],
    expected: str,
    enhanced: bool,
) -> tuple[K, int, bytes | None, Apdu | None, bool]:
    """(type, transaction number, M_List, APDU, auth) of the TPDU or SPDU filling the rest of ``reader``."""
    at = reader.pos
    header = reader.u8(f"{what} header")
    raw_type = header >> 4 & 0x07
    if raw_type not in bodies:
        raise DecodeError(f"unknown {what} type {raw_type}", at, expected)
    kind = kinds(raw_type)
    transaction = _decode_transaction(reader, header, enhanced)
    m_list, apdu = _decode_body(reader, bodies[kind], f"{what} {kind.name}")
    return kind, transaction, m_list, apdu, bool(header & 0x80)


class _Encodable(Protocol):
    def encode_into(self, out: bytearray, *, enhanced: bool = False) -> None: ...


def _encode(pdu: _Encodable, enhanced: bool) -> bytes:
    out = bytearray()
    pdu.encode_into(out, enhanced=enhanced)
    return bytes(out)


def _reader(data: Buffer) -> Reader:
    buf = to_bytes(data)
    return Reader(buf, 0, len(buf))


@dataclass(slots=True)
class Tpdu:
    """Transport-layer PDU (acknowledged and unacknowledged-repeated services)."""

    tpdu_type: TpduType
    transaction_number: int
    apdu: Apdu | None = None
    m_list: bytes | None = None
    auth: bool = False

    def encode_into(self, out: bytearray, *, enhanced: bool = False) -> None:
        kind = check_enum(TpduType, self.tpdu_type, "tpdu_type")
        _encode_layer_pdu(out, "TPDU", kind, _TPDU_BODY[kind], self, enhanced)

    def encode(self, *, enhanced: bool = False) -> bytes:
        return _encode(self, enhanced)

    @classmethod
    def read(cls, reader: Reader, *, enhanced: bool = False) -> Self:
        """Read the TPDU filling the rest of ``reader`` (offsets stay absolute in the outer buffer)."""
        kind, transaction, m_list, apdu, auth = _read_layer_pdu(
            reader, "TPDU", TpduType, _TPDU_BODY, "TPDU type 0, 1, 2, 4 or 5", enhanced
        )
        return cls(kind, transaction, apdu, m_list, auth)

    @classmethod
    def decode(cls, data: Buffer, *, enhanced: bool = False) -> Self:
        return cls.read(_reader(data), enhanced=enhanced)


@dataclass(slots=True)
class Spdu:
    """Session-layer PDU (request/response service)."""

    spdu_type: SpduType
    transaction_number: int
    apdu: Apdu | None = None
    m_list: bytes | None = None
    auth: bool = False

    def encode_into(self, out: bytearray, *, enhanced: bool = False) -> None:
        kind = check_enum(SpduType, self.spdu_type, "spdu_type")
        _encode_layer_pdu(out, "SPDU", kind, _SPDU_BODY[kind], self, enhanced)

    def encode(self, *, enhanced: bool = False) -> bytes:
        return _encode(self, enhanced)

    @classmethod
    def read(cls, reader: Reader, *, enhanced: bool = False) -> Self:
        """Read the SPDU filling the rest of ``reader`` (offsets stay absolute in the outer buffer)."""
        kind, transaction, m_list, apdu, auth = _read_layer_pdu(
            reader, "SPDU", SpduType, _SPDU_BODY, "SPDU type 0, 2, 4 or 5", enhanced
        )
        return cls(kind, transaction, apdu, m_list, auth)

    @classmethod
    def decode(cls, data: Buffer, *, enhanced: bool = False) -> Self:
        return cls.read(_reader(data), enhanced=enhanced)


@dataclass(slots=True)
class AuthPdu:
    """Authentication PDU: a challenge to the sender of an authenticated message, or its reply."""

    auth_pdu_type: AuthPduType
    transaction_number: int
    address_format: AddressFormat
    data: bytes
    group: int | None = None

    def encode_into(self, out: bytearray, *, enhanced: bool = False) -> None:
        kind = check_enum(AuthPduType, self.auth_pdu_type, "auth_pdu_type")
        fmt = check_enum(AddressFormat, self.address_format, "address_format")
        _encode_transaction(out, fmt << 6 | kind << 4, self.transaction_number, enhanced)
        out += check_bytes("data", self.data, AUTH_DATA_LENGTH)
        if fmt == AddressFormat.GROUP:
            if self.group is None:
                raise EncodeError("an AuthPDU for a group message carries the group number")
            out.append(check_int("group", self.group, 0, 255))
        elif self.group is not None:
            raise EncodeError("only an AuthPDU for a group message (format 1) carries a group number")

    def encode(self, *, enhanced: bool = False) -> bytes:
        return _encode(self, enhanced)

    @classmethod
    def read(cls, reader: Reader, *, enhanced: bool = False) -> Self:
        """Read the AuthPDU filling the rest of ``reader`` (offsets stay absolute in the outer buffer)."""
        header = reader.u8("AuthPDU header")
        fmt = AddressFormat(header >> 6)
        kind = AuthPduType(header >> 4 & 0x03)
        transaction = _decode_transaction(reader, header, enhanced)
        data = reader.take(AUTH_DATA_LENGTH, "8 challenge / reply bytes")
        group = reader.u8("group") if fmt == AddressFormat.GROUP else None
        reader.expect_end("AuthPDU")
        return cls(kind, transaction, fmt, data, group)

    @classmethod
    def decode(cls, data: Buffer, *, enhanced: bool = False) -> Self:
        return cls.read(_reader(data), enhanced=enhanced)
