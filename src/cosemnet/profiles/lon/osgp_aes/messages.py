"""Security-management messages of the OSGP-AES-128-PSK suite (Annex D, Tables D.3-D.6, D.14-D.17) [design].

Annex D's tables are not public: these layouts are the project's (decision 0043), one table = one
message. Every message is the data of one ISO/IEC 14908-1 application message with code
:data:`OSGP_SECURITY_MESSAGE_CODE` (decision 0043); its first byte is the message type. Big-endian.

=====  ==============================  =======================================================  =====
type   message (table)                 fields after the type byte                               bytes
=====  ==============================  =======================================================  =====
0x01   ChallengeRequest (D.3)          ltk_id, nnap_id[6], r_n[8], n, suite ids[n]              17+n
0x02   ChallengeResponse (D.4)         status, suite_id, ltk_id, lnap_id[6], r_l[8], mac[8]      26
0x03   CommissionRequest (D.5)         session_id, lifetime[4], r_n[8], r_l[8], mac[8]           30
0x04   CommissionResponse (D.6)        status, session_id, mac[8]                                11
0x05   UpdateDomainKeysRequest (D.14)  session_id, counter[4], domain_key_id, lifetime[4],       35
                                       sealed key[16 + 8]
0x06   UpdateDomainKeysResponse (D.15) status, session_id, domain_key_id, mac[8]                 12
0x07   AuthenticationFailure (D.16)    reason, lnap_id[6], key_id, counter[4], mac[8]            21
0x08   SequenceError (D.17)            lnap_id[6], key_id, counter[4], expected[4], mac[8]       24
0x09   LongTermKeyUpdateRequest        session_id, counter[4], new_ltk_id, sealed key[16 + 8]    31
0x0A   LongTermKeyUpdateResponse       status, session_id, new_ltk_id, mac[8]                    12
=====  ==============================  =======================================================  =====

The MACs and sealed keys are computed by :mod:`.channel` (what each covers: decision 0043). Decoding is
strict (exact lengths, known types and statuses): :class:`DecodeError` otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import ClassVar, Final

from cosemnet.errors import DecodeError
from cosemnet.profiles.lon._codec import Buffer, Reader, check_bytes, check_int, to_bytes

OSGP_SECURITY_MESSAGE_CODE: Final = 0x0E
"""[design, decision 0043] 14908-1 application message code of the suite's management messages."""

MAC_LENGTH: Final = 8
NODE_ID_LENGTH: Final = 6
RANDOM_LENGTH: Final = 8
SEALED_KEY_LENGTH: Final = 24
"""A 16-byte key under AES-CCM with an 8-byte tag."""
MAX_OFFERED_SUITES: Final = 8


class MessageType(IntEnum):
    CHALLENGE_REQUEST = 0x01
    CHALLENGE_RESPONSE = 0x02
    COMMISSION_REQUEST = 0x03
    COMMISSION_RESPONSE = 0x04
    UPDATE_DOMAIN_KEYS_REQUEST = 0x05
    UPDATE_DOMAIN_KEYS_RESPONSE = 0x06
    AUTHENTICATION_FAILURE = 0x07
    SEQUENCE_ERROR = 0x08
    LONG_TERM_KEY_UPDATE_REQUEST = 0x09
    LONG_TERM_KEY_UPDATE_RESPONSE = 0x0A


class Status(IntEnum):
    """Status byte of the responses [design]."""

    OK = 0
    NO_COMMON_SUITE = 1
    UNKNOWN_KEY = 2
    BACK_OFF = 3
    AUTHENTICATION_FAILED = 4
    NO_CHALLENGE = 5
    REFUSED = 6


class FailureReason(IntEnum):
    """Reason byte of AuthenticationFailure [design]."""

    TAG_MISMATCH = 1
    UNKNOWN_KEY = 2
    EXPIRED_KEY = 3


def _status(reader: Reader, enum: type[IntEnum]) -> int:
    pos = reader.pos
    value = reader.u8("status")
    try:
        return int(enum(value))
    except ValueError:
        raise DecodeError(f"unknown {enum.__name__} {value}", pos, enum.__name__) from None


@dataclass(frozen=True, slots=True)
class ChallengeRequest:
    """D.3: the NNAP opens a secure channel: its challenge ``r_n`` and the suites it offers, in order."""

    ltk_id: int
    nnap_id: bytes
    r_n: bytes
    suites: tuple[int, ...]

    TYPE: ClassVar[MessageType] = MessageType.CHALLENGE_REQUEST

    def encode(self) -> bytes:
        if not 1 <= len(self.suites) <= MAX_OFFERED_SUITES:
            raise ValueError("offer 1..8 suites")
        return (
            bytes((self.TYPE, check_int("ltk_id", self.ltk_id, 0, 255)))
            + check_bytes("nnap_id", self.nnap_id, NODE_ID_LENGTH)
            + check_bytes("r_n", self.r_n, RANDOM_LENGTH)
            + bytes((len(self.suites), *(check_int("suite", s, 0, 255) for s in self.suites)))
        )


@dataclass(frozen=True, slots=True)
class ChallengeResponse:
    """D.4: the LNAP's answer: the chosen suite, its challenge ``r_l``, and a MAC proving it holds the LTK."""

    status: int
    suite_id: int
    ltk_id: int
    lnap_id: bytes
    r_l: bytes
    mac: bytes

    TYPE: ClassVar[MessageType] = MessageType.CHALLENGE_RESPONSE

    def body(self) -> bytes:
        return (
            bytes((self.TYPE, self.status, self.suite_id, self.ltk_id))
            + check_bytes("lnap_id", self.lnap_id, NODE_ID_LENGTH)
            + check_bytes("r_l", self.r_l, RANDOM_LENGTH)
        )

    def encode(self) -> bytes:
        return self.body() + check_bytes("mac", self.mac, MAC_LENGTH)


@dataclass(frozen=True, slots=True)
class CommissionRequest:
    """D.5: the NNAP answers the LNAP's challenge and names the new session key (``session_id``)."""

    session_id: int
    lifetime: int
    r_n: bytes
    r_l: bytes
    mac: bytes

    TYPE: ClassVar[MessageType] = MessageType.COMMISSION_REQUEST

    def body(self) -> bytes:
        return (
            bytes((self.TYPE, check_int("session_id", self.session_id, 1, 127)))
            + check_int("lifetime", self.lifetime, 0, 0xFFFFFFFF).to_bytes(4, "big")
            + check_bytes("r_n", self.r_n, RANDOM_LENGTH)
            + check_bytes("r_l", self.r_l, RANDOM_LENGTH)
        )

    def encode(self) -> bytes:
        return self.body() + check_bytes("mac", self.mac, MAC_LENGTH)


@dataclass(frozen=True, slots=True)
class CommissionResponse:
    """D.6: the LNAP installed the session key; the MAC under that key confirms it."""

    status: int
    session_id: int
    mac: bytes

    TYPE: ClassVar[MessageType] = MessageType.COMMISSION_RESPONSE

    def body(self) -> bytes:
        return bytes((self.TYPE, self.status, check_int("session_id", self.session_id, 0, 127)))

    def encode(self) -> bytes:
        return self.body() + check_bytes("mac", self.mac, MAC_LENGTH)


@dataclass(frozen=True, slots=True)
class UpdateDomainKeysRequest:
    """D.14: a new domain-unique key, sealed (AES-CCM) under the meter's session key."""

    session_id: int
    counter: int
    domain_key_id: int
    lifetime: int
    sealed_key: bytes

    TYPE: ClassVar[MessageType] = MessageType.UPDATE_DOMAIN_KEYS_REQUEST

    def header(self) -> bytes:
        """Everything before the sealed key (the CCM associated data)."""
        return (
            bytes((self.TYPE, check_int("session_id", self.session_id, 1, 127)))
            + check_int("counter", self.counter, 0, 0xFFFFFFFF).to_bytes(4, "big")
            + bytes((check_int("domain_key_id", self.domain_key_id, 0, 127),))
            + check_int("lifetime", self.lifetime, 0, 0xFFFFFFFF).to_bytes(4, "big")
        )

    def encode(self) -> bytes:
        return self.header() + check_bytes("sealed_key", self.sealed_key, SEALED_KEY_LENGTH)


@dataclass(frozen=True, slots=True)
class UpdateDomainKeysResponse:
    """D.15: the meter's acknowledgement of a domain key (MAC under the session key)."""

    status: int
    session_id: int
    domain_key_id: int
    mac: bytes

    TYPE: ClassVar[MessageType] = MessageType.UPDATE_DOMAIN_KEYS_RESPONSE

    def body(self) -> bytes:
        return bytes((self.TYPE, self.status, self.session_id, self.domain_key_id))

    def encode(self) -> bytes:
        return self.body() + check_bytes("mac", self.mac, MAC_LENGTH)


@dataclass(frozen=True, slots=True)
class LongTermKeyUpdateRequest:
    """D.11: a new long-term meter-unique key, sealed under the session key."""

    session_id: int
    counter: int
    new_ltk_id: int
    sealed_key: bytes

    TYPE: ClassVar[MessageType] = MessageType.LONG_TERM_KEY_UPDATE_REQUEST

    def header(self) -> bytes:
        return (
            bytes((self.TYPE, check_int("session_id", self.session_id, 1, 127)))
            + check_int("counter", self.counter, 0, 0xFFFFFFFF).to_bytes(4, "big")
            + bytes((check_int("new_ltk_id", self.new_ltk_id, 0, 255),))
        )

    def encode(self) -> bytes:
        return self.header() + check_bytes("sealed_key", self.sealed_key, SEALED_KEY_LENGTH)


@dataclass(frozen=True, slots=True)
class LongTermKeyUpdateResponse:
    status: int
    session_id: int
    new_ltk_id: int
    mac: bytes

    TYPE: ClassVar[MessageType] = MessageType.LONG_TERM_KEY_UPDATE_RESPONSE

    def body(self) -> bytes:
        return bytes((self.TYPE, self.status, self.session_id, self.new_ltk_id))

    def encode(self) -> bytes:
        return self.body() + check_bytes("mac", self.mac, MAC_LENGTH)


@dataclass(frozen=True, slots=True)
class AuthenticationFailure:
    """D.16: the LNAP could not authenticate a protected PDU (MAC under the LTK-derived MAC key)."""

    reason: int
    lnap_id: bytes
    key_id: int
    counter: int
    mac: bytes

    TYPE: ClassVar[MessageType] = MessageType.AUTHENTICATION_FAILURE

    def body(self) -> bytes:
        return (
            bytes((self.TYPE, self.reason))
            + check_bytes("lnap_id", self.lnap_id, NODE_ID_LENGTH)
            + bytes((check_int("key_id", self.key_id, 0, 255),))
            + check_int("counter", self.counter, 0, 0xFFFFFFFF).to_bytes(4, "big")
        )

    def encode(self) -> bytes:
        return self.body() + check_bytes("mac", self.mac, MAC_LENGTH)


@dataclass(frozen=True, slots=True)
class SequenceError:
    """D.17: an authentic PDU came with a frame counter below the receive window; ``expected`` is the
    lowest counter the LNAP still accepts from that sender and key."""

    lnap_id: bytes
    key_id: int
    counter: int
    expected: int
    mac: bytes

    TYPE: ClassVar[MessageType] = MessageType.SEQUENCE_ERROR

    def body(self) -> bytes:
        return (
            bytes((self.TYPE,))
            + check_bytes("lnap_id", self.lnap_id, NODE_ID_LENGTH)
            + bytes((check_int("key_id", self.key_id, 0, 255),))
            + check_int("counter", self.counter, 0, 0xFFFFFFFF).to_bytes(4, "big")
            + check_int("expected", self.expected, 0, 0xFFFFFFFF).to_bytes(4, "big")
        )

    def encode(self) -> bytes:
        return self.body() + check_bytes("mac", self.mac, MAC_LENGTH)


SecurityMessage = (
    ChallengeRequest
    | ChallengeResponse
    | CommissionRequest
    | CommissionResponse
    | UpdateDomainKeysRequest
    | UpdateDomainKeysResponse
    | LongTermKeyUpdateRequest
    | LongTermKeyUpdateResponse
    | AuthenticationFailure
    | SequenceError
)


def _u32(reader: Reader, what: str) -> int:
    return int.from_bytes(reader.take(4, what), "big")


def _decode_challenge_request(r: Reader) -> ChallengeRequest:
    ltk_id = r.u8("ltk_id")
    nnap_id = r.take(NODE_ID_LENGTH, "nnap_id")
    r_n = r.take(RANDOM_LENGTH, "r_n")
    pos = r.pos
    count = r.u8("suite count")
    if not 1 <= count <= MAX_OFFERED_SUITES:
        raise DecodeError(f"{count} suites offered", pos, "1..8")
    suites = tuple(r.take(count, "suite ids"))
    return ChallengeRequest(ltk_id, nnap_id, r_n, suites)


def _decode_body(kind: MessageType, r: Reader) -> SecurityMessage:
    if kind == MessageType.CHALLENGE_REQUEST:
        return _decode_challenge_request(r)
    if kind == MessageType.CHALLENGE_RESPONSE:
        status = _status(r, Status)
        suite_id, ltk_id = r.u8("suite_id"), r.u8("ltk_id")
        lnap_id, r_l = r.take(NODE_ID_LENGTH, "lnap_id"), r.take(RANDOM_LENGTH, "r_l")
        return ChallengeResponse(status, suite_id, ltk_id, lnap_id, r_l, r.take(MAC_LENGTH, "mac"))
    if kind == MessageType.COMMISSION_REQUEST:
        pos = r.pos
        session_id = r.u8("session_id")
        if not 1 <= session_id <= 127:
            raise DecodeError(f"session id {session_id}", pos, "1..127")
        lifetime = _u32(r, "lifetime")
        r_n, r_l = r.take(RANDOM_LENGTH, "r_n"), r.take(RANDOM_LENGTH, "r_l")
        return CommissionRequest(session_id, lifetime, r_n, r_l, r.take(MAC_LENGTH, "mac"))
    if kind == MessageType.COMMISSION_RESPONSE:
        status = _status(r, Status)
        pos = r.pos
        session_id = r.u8("session_id")
        if session_id > 127:
            raise DecodeError(f"session id {session_id}", pos, "0..127")
        return CommissionResponse(status, session_id, r.take(MAC_LENGTH, "mac"))
    if kind in (MessageType.UPDATE_DOMAIN_KEYS_REQUEST, MessageType.LONG_TERM_KEY_UPDATE_REQUEST):
        pos = r.pos
        session_id = r.u8("session_id")
        if not 1 <= session_id <= 127:
            raise DecodeError(f"session id {session_id}", pos, "1..127")
        counter = _u32(r, "counter")
        key_id = r.u8("key id")
        if kind == MessageType.LONG_TERM_KEY_UPDATE_REQUEST:
            return LongTermKeyUpdateRequest(session_id, counter, key_id, r.take(SEALED_KEY_LENGTH, "key"))
        if key_id > 127:
            raise DecodeError(f"domain key id {key_id}", pos + 5, "0..127")
        lifetime = _u32(r, "lifetime")
        return UpdateDomainKeysRequest(
            session_id, counter, key_id, lifetime, r.take(SEALED_KEY_LENGTH, "key")
        )
    if kind in (MessageType.UPDATE_DOMAIN_KEYS_RESPONSE, MessageType.LONG_TERM_KEY_UPDATE_RESPONSE):
        status = _status(r, Status)
        session_id, key_id = r.u8("session_id"), r.u8("key id")
        mac = r.take(MAC_LENGTH, "mac")
        if kind == MessageType.UPDATE_DOMAIN_KEYS_RESPONSE:
            return UpdateDomainKeysResponse(status, session_id, key_id, mac)
        return LongTermKeyUpdateResponse(status, session_id, key_id, mac)
    if kind == MessageType.AUTHENTICATION_FAILURE:
        reason = _status(r, FailureReason)
        lnap_id, key_id = r.take(NODE_ID_LENGTH, "lnap_id"), r.u8("key_id")
        counter = _u32(r, "counter")
        return AuthenticationFailure(reason, lnap_id, key_id, counter, r.take(MAC_LENGTH, "mac"))
    lnap_id, key_id = r.take(NODE_ID_LENGTH, "lnap_id"), r.u8("key_id")
    counter, expected = _u32(r, "counter"), _u32(r, "expected")
    return SequenceError(lnap_id, key_id, counter, expected, r.take(MAC_LENGTH, "mac"))


def decode_security_message(data: Buffer) -> SecurityMessage:
    """Decode one management message (the whole application-message data)."""
    buf = to_bytes(data)
    reader = Reader(buf, 0, len(buf))
    value = reader.u8("message type")
    try:
        kind = MessageType(value)
    except ValueError:
        raise DecodeError(f"unknown OSGP security message type {value}", 0, "0x01..0x0A") from None
    message = _decode_body(kind, reader)
    reader.expect_end(kind.name)
    return message


__all__ = [
    "MAC_LENGTH",
    "NODE_ID_LENGTH",
    "OSGP_SECURITY_MESSAGE_CODE",
    "RANDOM_LENGTH",
    "SEALED_KEY_LENGTH",
    "AuthenticationFailure",
    "ChallengeRequest",
    "ChallengeResponse",
    "CommissionRequest",
    "CommissionResponse",
    "FailureReason",
    "LongTermKeyUpdateRequest",
    "LongTermKeyUpdateResponse",
    "MessageType",
    "SecurityMessage",
    "SequenceError",
    "Status",
    "UpdateDomainKeysRequest",
    "UpdateDomainKeysResponse",
    "decode_security_message",
]
