"""ISO/IEC 14908-1 network management (NM) and network diagnostics (ND) message bodies.

Codes and layouts (Wireshark ``packet-lon.c`` ``nm_code_vs`` / ``nd_code_vs`` and the 0x7F body;
izot/lon-stack-dx ``lcs_netmgmt.h`` / ``lcs_netmgmt.c`` handlers, ``IzotTypes.h`` ``IzotDomain``; facts
only):

* request codes: NM ``0x60 | code`` (0x61 query ID, 0x62 respond to query, 0x63 update domain,
  0x65 update key, 0x7F service pin / manual service request), ND ``0x50 | code``;
* responses: NM success ``0x20 | (code & 0x1F)``, failure ``code & 0x1F``; ND success
  ``0x30 | (code & 0x0F)``, failure ``0x10 | (code & 0x0F)``. Those fall in the application-message
  range, and NM failures 0x10-0x1F collide with ND failures, so a response can only be read knowing the
  request it answers (:class:`NmResponse`, :class:`NdResponse`);
* query ID request: selector (0 unconfigured, 1 selected, 2 selected and unconfigured), optionally
  followed by a memory match: mode, offset (big-endian 16 bits), count, ``count`` data bytes
  (lon-stack-dx accepts a request of exactly 2 bytes or of at least 6);
* query ID response (0x21): unique node ID (6) + program ID (8);
* respond to query: one byte, 0 (off) or 1 (on);
* update domain: domain index + a 15-byte domain table entry: domain ID (6 bytes, always 6 whatever
  the length), subnet, ``non-clone | node(7)``, ``invalid | 2 extension bits | auth type(2) |
  length(3)``, authentication key (6);
* update key: domain index + 6 key bytes *added* byte-wise (mod 256) to the current key;
* service pin message (0x7F): unique node ID (6) + program ID (8);
* update group address (0x69): a 5-byte group-format address table entry (``type | size(7)``,
  ``domain | member(7)``, ``repeat timer(4) | retry(4)``, ``receive timer(4) | transmit timer(4)``,
  group); lon-stack-dx accepts it only group-addressed and then changes the size and timers of its entry
  for that group (membership itself comes with update address);
* set node mode (0x6C): mode (0 application offline, 1 online, 2 reset, 3 change state + the new node
  state: 2 unconfigured, 3 applicationless, 4 configured, 6 configured hard-offline).

Every class here is an APDU in the sense of ``docs/apdu-conventions.md``: ``TAG`` is its first byte,
``encode()`` gives the whole APDU, ``decode(data)`` reads one exactly. ``to_apdu()`` / ``from_apdu()``
convert from and to the generic :mod:`cosemnet.profiles.lon.lon_apdu` classes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from enum import IntEnum
from typing import ClassVar, Final, Self

from cosemnet.errors import DecodeError, EncodeError
from cosemnet.profiles.lon._codec import (
    NODE_MAX,
    SUBNET_MAX,
    Buffer,
    Reader,
    check_bytes,
    check_int,
    to_bytes,
)
from cosemnet.profiles.lon.addresses import UNIQUE_ID_LENGTH
from cosemnet.profiles.lon.lon_apdu import ApplicationMessage, NetworkManagement

PROGRAM_ID_LENGTH: Final = 8
DOMAIN_ID_FIELD_LENGTH: Final = 6
KEY_LENGTH: Final = 6

NM_QUERY_ID: Final = 0x61
NM_RESPOND_TO_QUERY: Final = 0x62
NM_UPDATE_DOMAIN: Final = 0x63
NM_LEAVE_DOMAIN: Final = 0x64
NM_UPDATE_KEY: Final = 0x65
NM_UPDATE_GROUP_ADDR: Final = 0x69
NM_SET_NODE_MODE: Final = 0x6C
NM_SERVICE_PIN: Final = 0x7F

ND_QUERY_STATUS: Final = 0x51
ND_PROXY_COMMAND: Final = 0x52
ND_CLEAR_STATUS: Final = 0x53
ND_QUERY_XCVR: Final = 0x54

NM_SUCCESS: Final = 0x20
ND_SUCCESS: Final = 0x30
ND_FAILURE: Final = 0x10


def nm_success_code(request_code: int) -> int:
    """Response code of a successful NM request."""
    return NM_SUCCESS | check_int("NM request code", request_code, 0x60, 0x7F) & 0x1F


def nm_failure_code(request_code: int) -> int:
    """Response code of a failed NM request."""
    return check_int("NM request code", request_code, 0x60, 0x7F) & 0x1F


def nd_success_code(request_code: int) -> int:
    """Response code of a successful ND request."""
    return ND_SUCCESS | check_int("ND request code", request_code, 0x50, 0x5F) & 0x0F


def nd_failure_code(request_code: int) -> int:
    """Response code of a failed ND request."""
    return ND_FAILURE | check_int("ND request code", request_code, 0x50, 0x5F) & 0x0F


class QueryIdSelector(IntEnum):
    UNCONFIGURED = 0
    SELECTED = 1
    SELECTED_UNCONFIGURED = 2


class MemoryMode(IntEnum):
    """Memory addressing mode of a query-ID memory match (lon-stack-dx ``ModeType``)."""

    ABSOLUTE = 0
    READ_ONLY_RELATIVE = 1
    CONFIG_RELATIVE = 2
    STATISTICS_RELATIVE = 3


def _reader_for(data: Buffer, tag: int, name: str) -> Reader:
    buf = to_bytes(data)
    reader = Reader(buf, 0, len(buf))
    code = reader.u8(f"{name} code")
    if code != tag:
        raise DecodeError(f"code 0x{code:02X} is not {name}", 0, f"0x{tag:02X}")
    return reader


class _Message(ABC):
    """An NM/ND message: ``encode()`` gives the whole APDU, ``decode(data)`` reads one exactly (every
    concrete message defines both)."""

    __slots__ = ()

    @abstractmethod
    def encode(self) -> bytes: ...

    @classmethod
    @abstractmethod
    def decode(cls, data: Buffer) -> Self: ...


class _NmApdu(_Message):
    """``to_apdu()`` / ``from_apdu()`` of a message carried as a generic :class:`NetworkManagement` APDU
    (every NM request and the service pin message)."""

    __slots__ = ()
    TAG: ClassVar[int]

    def to_apdu(self) -> NetworkManagement:
        return NetworkManagement(self.TAG, self.encode()[1:])

    @classmethod
    def from_apdu(cls, apdu: NetworkManagement) -> Self:
        return cls.decode(apdu.encode())


class _ApplicationApdu(_Message):
    """``to_apdu()`` / ``from_apdu()`` of a message carried as a generic :class:`ApplicationMessage` APDU
    (the NM and ND responses, whose codes fall in the application-message range)."""

    __slots__ = ()

    def to_apdu(self) -> ApplicationMessage:
        encoded = self.encode()
        return ApplicationMessage(encoded[0], encoded[1:])

    @classmethod
    def from_apdu(cls, apdu: ApplicationMessage) -> Self:
        return cls.decode(apdu.encode())


@dataclass(slots=True)
class QueryIdMemoryMatch:
    """Optional memory match of a query ID request: answer only if memory at ``offset`` equals ``data``."""

    mode: int
    offset: int
    data: bytes

    def encode_into(self, out: bytearray) -> None:
        out.append(check_int("mode", self.mode, 0, 255))
        out += check_int("offset", self.offset, 0, 0xFFFF).to_bytes(2, "big")
        data = check_bytes("data", self.data)
        out.append(check_int("count", len(data), 0, 255))
        out += data


@dataclass(slots=True)
class QueryIdRequest(_NmApdu):
    """NM query ID (0x61)."""

    selector: int = QueryIdSelector.UNCONFIGURED
    memory_match: QueryIdMemoryMatch | None = None

    TAG: ClassVar[int] = NM_QUERY_ID

    def encode(self) -> bytes:
        out = bytearray((self.TAG, check_int("selector", self.selector, 0, 255)))
        if self.memory_match is not None:
            self.memory_match.encode_into(out)
        return bytes(out)

    @classmethod
    def decode(cls, data: Buffer) -> Self:
        reader = _reader_for(data, cls.TAG, "query ID")
        selector = reader.u8("selector")
        match = None
        if reader.remaining():
            mode = reader.u8("memory mode")
            offset = int.from_bytes(reader.take(2, "memory offset"), "big")
            count = reader.u8("count")
            match = QueryIdMemoryMatch(mode, offset, reader.take(count, "memory match data"))
        reader.expect_end("query ID request")
        return cls(selector, match)


@dataclass(slots=True)
class _IdentityMessage:
    unique_id: bytes
    program_id: bytes

    TAG: ClassVar[int]

    def encode(self) -> bytes:
        return (
            bytes((self.TAG,))
            + check_bytes("unique_id", self.unique_id, UNIQUE_ID_LENGTH)
            + check_bytes("program_id", self.program_id, PROGRAM_ID_LENGTH)
        )

    @classmethod
    def decode(cls, data: Buffer) -> Self:
        reader = _reader_for(data, cls.TAG, cls.__name__)
        unique_id = reader.take(UNIQUE_ID_LENGTH, "unique node ID")
        program_id = reader.take(PROGRAM_ID_LENGTH, "program ID")
        reader.expect_end(cls.__name__)
        return cls(unique_id, program_id)


@dataclass(slots=True)
class QueryIdResponse(_IdentityMessage, _ApplicationApdu):
    """Successful response to a query ID (0x21): unique node ID + program ID."""

    TAG: ClassVar[int] = NM_SUCCESS | (NM_QUERY_ID & 0x1F)


@dataclass(slots=True)
class ServicePinMessage(_IdentityMessage, _NmApdu):
    """Service pin message / manual service request (0x7F): unique node ID + program ID."""

    TAG: ClassVar[int] = NM_SERVICE_PIN


@dataclass(slots=True)
class RespondToQueryRequest(_NmApdu):
    """NM respond to query (0x62): turn responding to selected query-ID requests on or off."""

    respond: bool

    TAG: ClassVar[int] = NM_RESPOND_TO_QUERY

    def encode(self) -> bytes:
        return bytes((self.TAG, 1 if self.respond else 0))

    @classmethod
    def decode(cls, data: Buffer) -> Self:
        reader = _reader_for(data, cls.TAG, "respond to query")
        at = reader.pos
        flag = reader.u8("respond flag")
        if flag > 1:
            raise DecodeError(f"respond-to-query flag {flag}", at, "0 or 1")
        reader.expect_end("respond to query request")
        return cls(bool(flag))


@dataclass(slots=True)
class DomainEntry:
    """A 15-byte domain table entry as carried by update domain.

    ``domain_id`` is always 6 bytes; the first ``id_length`` are significant (the rest is padding, kept
    as sent). ``reserved_bits`` are bits 6..5 of the length byte (lon-stack-dx uses them for its
    LS-mode and DHCP flags) [design: kept raw]. ``auth_type``: 0 standard, 1 OMA (lon-stack-dx).
    """

    domain_id: bytes
    subnet: int
    node: int
    id_length: int
    authentication_key: bytes = field(repr=False)
    non_clone: bool = True
    invalid: bool = False
    auth_type: int = 0
    reserved_bits: int = 0

    LENGTH: ClassVar[int] = 15

    def encode_into(self, out: bytearray) -> None:
        out += check_bytes("domain_id", self.domain_id, DOMAIN_ID_FIELD_LENGTH)
        out.append(check_int("subnet", self.subnet, 0, SUBNET_MAX))
        out.append((0x80 if self.non_clone else 0) | check_int("node", self.node, 0, NODE_MAX))
        out.append(
            (0x80 if self.invalid else 0)
            | check_int("reserved_bits", self.reserved_bits, 0, 3) << 5
            | check_int("auth_type", self.auth_type, 0, 3) << 3
            | check_int("id_length", self.id_length, 0, 7)
        )
        out += check_bytes("authentication_key", self.authentication_key, KEY_LENGTH)

    @classmethod
    def read(cls, reader: Reader) -> Self:
        domain_id = reader.take(DOMAIN_ID_FIELD_LENGTH, "domain ID")
        subnet = reader.u8("subnet")
        node = reader.u8("non-clone / node")
        flags = reader.u8("invalid / auth type / length")
        key = reader.take(KEY_LENGTH, "authentication key")
        return cls(
            domain_id,
            subnet,
            node & NODE_MAX,
            flags & 0x07,
            key,
            bool(node & 0x80),
            bool(flags & 0x80),
            flags >> 3 & 0x03,
            flags >> 5 & 0x03,
        )


@dataclass(slots=True)
class UpdateDomainRequest(_NmApdu):
    """NM update domain (0x63): write domain table entry ``domain_index``."""

    domain_index: int
    domain: DomainEntry

    TAG: ClassVar[int] = NM_UPDATE_DOMAIN

    def encode(self) -> bytes:
        out = bytearray((self.TAG, check_int("domain_index", self.domain_index, 0, 255)))
        self.domain.encode_into(out)
        return bytes(out)

    @classmethod
    def decode(cls, data: Buffer) -> Self:
        reader = _reader_for(data, cls.TAG, "update domain")
        index = reader.u8("domain index")
        domain = DomainEntry.read(reader)
        reader.expect_end("update domain request")
        return cls(index, domain)


@dataclass(slots=True)
class UpdateKeyRequest(_NmApdu):
    """NM update key (0x65): add ``key_increment`` byte-wise (mod 256) to the key of ``domain_index``."""

    domain_index: int
    key_increment: bytes = field(repr=False)

    TAG: ClassVar[int] = NM_UPDATE_KEY

    def apply(self, key: bytes) -> bytes:
        """The key after this update is applied to ``key``."""
        old = check_bytes("key", key, KEY_LENGTH)
        inc = check_bytes("key_increment", self.key_increment, KEY_LENGTH)
        return bytes((a + b) & 0xFF for a, b in zip(old, inc, strict=True))

    def encode(self) -> bytes:
        return bytes((self.TAG, check_int("domain_index", self.domain_index, 0, 255))) + check_bytes(
            "key_increment", self.key_increment, KEY_LENGTH
        )

    @classmethod
    def decode(cls, data: Buffer) -> Self:
        reader = _reader_for(data, cls.TAG, "update key")
        index = reader.u8("domain index")
        increment = reader.take(KEY_LENGTH, "key increment")
        reader.expect_end("update key request")
        return cls(index, increment)


class NodeMode(IntEnum):
    """Mode byte of set node mode (lon-stack-dx ``HandleNMSetNodeMode``)."""

    OFFLINE = 0
    ONLINE = 1
    RESET = 2
    CHANGE_STATE = 3


class NodeState(IntEnum):
    """Node states set with :attr:`NodeMode.CHANGE_STATE` (lon-stack-dx ``IzotNodeState``)."""

    APPLICATION_UNCONFIGURED = 2
    NO_APPLICATION_UNCONFIGURED = 3
    CONFIGURED_ONLINE = 4
    CONFIGURED_HARD_OFFLINE = 6


@dataclass(slots=True)
class GroupAddressEntry:
    """A group-format address table entry (5 bytes) as carried by update group address."""

    group: int
    member: int
    size: int = 0
    domain_index: int = 0
    retry: int = 3
    repeat_timer: int = 0
    receive_timer: int = 10
    transmit_timer: int = 10

    LENGTH: ClassVar[int] = 5

    def encode_into(self, out: bytearray) -> None:
        out.append(0x80 | check_int("size", self.size, 0, 0x7F))
        out.append(
            check_int("domain_index", self.domain_index, 0, 1) << 7
            | check_int("member", self.member, 0, 0x7F)
        )
        out.append(
            check_int("repeat_timer", self.repeat_timer, 0, 15) << 4 | check_int("retry", self.retry, 0, 15)
        )
        out.append(
            check_int("receive_timer", self.receive_timer, 0, 15) << 4
            | check_int("transmit_timer", self.transmit_timer, 0, 15)
        )
        out.append(check_int("group", self.group, 0, 255))

    @classmethod
    def read(cls, reader: Reader) -> Self:
        at = reader.pos
        kind = reader.u8("type / size")
        if not kind & 0x80:
            raise DecodeError("not a group-format address table entry", at, "type bit 1")
        member = reader.u8("domain / member")
        timers = reader.u8("repeat timer / retry")
        rx_tx = reader.u8("receive / transmit timer")
        group = reader.u8("group")
        return cls(
            group,
            member & 0x7F,
            kind & 0x7F,
            member >> 7,
            timers & 0x0F,
            timers >> 4,
            rx_tx >> 4,
            rx_tx & 0x0F,
        )


@dataclass(slots=True)
class UpdateGroupAddressRequest(_NmApdu):
    """NM update group address (0x69): one group-format address table entry."""

    entry: GroupAddressEntry

    TAG: ClassVar[int] = NM_UPDATE_GROUP_ADDR

    def encode(self) -> bytes:
        out = bytearray((self.TAG,))
        self.entry.encode_into(out)
        return bytes(out)

    @classmethod
    def decode(cls, data: Buffer) -> Self:
        reader = _reader_for(data, cls.TAG, "update group address")
        entry = GroupAddressEntry.read(reader)
        reader.expect_end("update group address request")
        return cls(entry)


@dataclass(slots=True)
class SetNodeModeRequest(_NmApdu):
    """NM set node mode (0x6C): mode, plus the new state for :attr:`NodeMode.CHANGE_STATE`."""

    mode: int
    state: int | None = None

    TAG: ClassVar[int] = NM_SET_NODE_MODE

    def encode(self) -> bytes:
        out = bytearray((self.TAG, check_int("mode", self.mode, 0, 255)))
        if self.mode == NodeMode.CHANGE_STATE:
            if self.state is None:
                raise EncodeError("change state needs the new node state")
            out.append(check_int("state", self.state, 0, 255))
        return bytes(out)

    @classmethod
    def decode(cls, data: Buffer) -> Self:
        reader = _reader_for(data, cls.TAG, "set node mode")
        mode = reader.u8("mode")
        state = reader.u8("node state") if mode == NodeMode.CHANGE_STATE else None
        reader.expect_end("set node mode request")
        return cls(mode, state)


def _read_response_code(data: Buffer, what: str) -> tuple[int, bytes]:
    """The code byte of an NM or ND response and the data after it."""
    buf = to_bytes(data)
    reader = Reader(buf, 0, len(buf))
    return reader.u8(what), reader.rest()


@dataclass(slots=True)
class NmResponse(_ApplicationApdu):
    """Response to an NM request: ``0x20 | code`` on success, ``code & 0x1F`` on failure, then data."""

    request_code: int
    success: bool
    data: bytes = b""

    @property
    def code(self) -> int:
        return nm_success_code(self.request_code) if self.success else nm_failure_code(self.request_code)

    def encode(self) -> bytes:
        return bytes((self.code,)) + check_bytes("data", self.data)

    @classmethod
    def decode(cls, data: Buffer) -> Self:
        code, rest = _read_response_code(data, "NM response code")
        if code > 0x3F:
            raise DecodeError(f"0x{code:02X} is not an NM response code", 0, "0x00..0x3F")
        return cls(0x60 | code & 0x1F, bool(code & NM_SUCCESS), rest)


@dataclass(slots=True)
class NdResponse(_ApplicationApdu):
    """Response to an ND request: ``0x30 | code`` on success, ``0x10 | code`` on failure, then data."""

    request_code: int
    success: bool
    data: bytes = b""

    @property
    def code(self) -> int:
        return nd_success_code(self.request_code) if self.success else nd_failure_code(self.request_code)

    def encode(self) -> bytes:
        return bytes((self.code,)) + check_bytes("data", self.data)

    @classmethod
    def decode(cls, data: Buffer) -> Self:
        code, rest = _read_response_code(data, "ND response code")
        if code & 0xC0 or not code & ND_FAILURE:
            raise DecodeError(f"0x{code:02X} is not an ND response code", 0, "0x10..0x1F or 0x30..0x3F")
        return cls(0x50 | code & 0x0F, bool(code & 0x20), rest)


NmRequest = (
    QueryIdRequest
    | RespondToQueryRequest
    | UpdateDomainRequest
    | UpdateKeyRequest
    | UpdateGroupAddressRequest
    | SetNodeModeRequest
    | ServicePinMessage
)
"""The NM requests this module models."""

NM_REQUEST_TYPES: Final[dict[int, type[NmRequest]]] = {
    NM_QUERY_ID: QueryIdRequest,
    NM_RESPOND_TO_QUERY: RespondToQueryRequest,
    NM_UPDATE_DOMAIN: UpdateDomainRequest,
    NM_UPDATE_KEY: UpdateKeyRequest,
    NM_UPDATE_GROUP_ADDR: UpdateGroupAddressRequest,
    NM_SET_NODE_MODE: SetNodeModeRequest,
    NM_SERVICE_PIN: ServicePinMessage,
}


def decode_nm_request(apdu: NetworkManagement) -> NmRequest | NetworkManagement:
    """The typed request for a modelled NM code, else ``apdu`` unchanged.

    Offsets of errors are relative to the APDU's first byte.
    """
    kind = NM_REQUEST_TYPES.get(apdu.code)
    if kind is None:
        return apdu
    return kind.decode(apdu.encode())


def nm_request_to_apdu(request: NmRequest) -> NetworkManagement:
    """The generic APDU carrying ``request``."""
    if not isinstance(request, tuple(NM_REQUEST_TYPES.values())):
        raise EncodeError(f"not a modelled NM request: {type(request).__name__}")
    return request.to_apdu()
