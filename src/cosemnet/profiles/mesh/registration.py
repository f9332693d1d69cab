"""Address registration and address update data (IEC TS 62056-8-20, 5.5.3, Tables 2 and 3, Annex A).

[pinned by the TS scope] The client (head-end) is informed of the binding between a server's system
title and its current IPv6 address(es): a meter that joins the mesh, or whose address changes, pushes
its *address registration data* (Table 2) or *address update data* (Table 3) with a Push setup whose
send_destination_and_method (Table 1) is UDP to the head-end.

The member lists of Tables 2 and 3 are not public. **Everything below is our design** (decision record
``docs/decisions/0021-mesh-registration-data.md``), kept configurable where a real network could differ:

Address registration data (a COSEM ``structure`` of 9 members)::

    structure {
        format_version     unsigned             -- 1
        system_title       octet-string(8)
        reason             enum                 -- RegistrationReason
        sequence_number    double-long-unsigned -- per meter, increases with every new message
        timestamp          octet-string(0|12)   -- date-time of the meter, empty = unknown
        addresses          array of address_entry
        wport              long-unsigned        -- the meter's wPort for unicast requests
        udp_port           long-unsigned        -- the meter's UDP port
        border_router      octet-string(0|16)   -- border router (DODAG root) address, empty = unknown
    }
    address_entry ::= structure { address octet-string(16), prefix_length unsigned, scope enum }

Address update data: the same with ``previous_addresses`` (array of address_entry) inserted before
``addresses`` (10 members).

Carriage: the notification body of a Data-Notification is ``structure { logical_name
octet-string(6), data }``, i.e. what a Push setup whose push_object_list is ``[(1, LN, 1), (1, LN,
2)]`` produces for a Data object (class 1) named ``LN`` holding the structure:
:data:`ADDRESS_REGISTRATION_DATA_LN` or :data:`ADDRESS_UPDATE_DATA_LN` (manufacturer-specific OBIS
range, configurable through :class:`RegistrationObjects`).

Confirmation (our design): the head-end answers each registration with a Data-Notification sent to
the meter (destination wPort = the registered ``wport``), same ``invoke_id`` as the registration, body
``structure { ADDRESS_CONFIRMATION_LN, address_confirmation }``::

    address_confirmation ::= structure {
        format_version     unsigned               -- 1
        system_title       octet-string(8)        -- the meter's
        sequence_number    double-long-unsigned   -- echoed
        status             enum                   -- ConfirmationStatus
        last_sequence      double-long-unsigned   -- what the head-end has stored for this meter
        head_end_time      octet-string(0|12)
        periodic_interval  double-long-unsigned   -- seconds until the next periodic registration, 0 = none
    }

The same structure may instead be written with SET to a Data object ``ADDRESS_CONFIRMATION_LN`` on the
meter when the meter's server does not accept Data-Notifications; the meter-side logic only needs
:meth:`AddressConfirmation.confirms`.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import ipaddress
import random
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import ClassVar, Final, Self

from cosemnet.codec.axdr import Buffer, encode_data
from cosemnet.codec.datetime import CosemDateTime
from cosemnet.codec.obis import Obis
from cosemnet.codec.types import DataValue, DoubleLongUnsigned, Enumerated, LongUnsigned, Unsigned
from cosemnet.codec.xdlms.notification import DataNotification
from cosemnet.codec.xdlms.selective_access import CaptureObjectDefinition
from cosemnet.cosem.push_setup import (
    MessageType,
    PushSetup,
    SendDestinationAndMethod,
    TransportService,
    Window,
)
from cosemnet.errors import DecodeError, EncodeError
from cosemnet.profiles.mesh._data import DataReader, enum_member, reencode
from cosemnet.profiles.mesh.ports import MESH_UDP_PORT, format_udp_destination
from cosemnet.profiles.mesh.push_schedule import POSIX_EPOCH, PushSchedule, PushScheduler, PushState

__all__ = [
    "ADDRESS_CONFIRMATION_LN",
    "ADDRESS_REGISTRATION_DATA_LN",
    "ADDRESS_UPDATE_DATA_LN",
    "DEFAULT_OBJECTS",
    "FORMAT_VERSION",
    "MAX_ADDRESSES",
    "REGISTRATION_PUSH_SETUP_LN",
    "AddressConfirmation",
    "AddressEntry",
    "AddressRegistrationData",
    "AddressScope",
    "AddressUpdateData",
    "ConfirmationStatus",
    "MeterRegistration",
    "RegistrationMessage",
    "RegistrationObjects",
    "RegistrationReason",
    "decode_registration_body",
    "registration_push_setup",
    "scope_of",
    "serial_greater",
]

FORMAT_VERSION: Final = 1
MAX_ADDRESSES: Final = 16
"""[design] at most 16 addresses per message (a node rarely has more than 3)."""

ADDRESS_REGISTRATION_DATA_LN: Final = Obis.parse("0-0:128.20.0*255")
ADDRESS_UPDATE_DATA_LN: Final = Obis.parse("0-0:128.20.1*255")
ADDRESS_CONFIRMATION_LN: Final = Obis.parse("0-0:128.20.2*255")
REGISTRATION_PUSH_SETUP_LN: Final = Obis.parse("0-0:25.9.128*255")
"""[design] logical names in manufacturer-specific ranges (value group C or E 128..199)."""


class AddressScope(IntEnum):
    """IPv6 scope (RFC 4291 / RFC 4007 / RFC 7346 scope values)."""

    INTERFACE_LOCAL = 1
    LINK_LOCAL = 2
    REALM_LOCAL = 3
    ADMIN_LOCAL = 4
    SITE_LOCAL = 5
    ORGANIZATION_LOCAL = 8
    GLOBAL = 14


class RegistrationReason(IntEnum):
    JOIN = 0
    """First registration after the node joined the mesh (power-up, commissioning)."""
    REJOIN = 1
    """The node left the mesh and joined it again (possibly with the same address)."""
    ADDRESS_CHANGE = 2
    """An address, prefix, wPort, port or border router changed (node migration, 6.2.2)."""
    PERIODIC = 3
    """Periodic refresh (keeps "last seen" current, repairs a lost registration)."""


class ConfirmationStatus(IntEnum):
    ACCEPTED = 0
    """Stored (new device or changed binding)."""
    UNCHANGED = 1
    """Already known with this binding (refresh or a repeated message); nothing changed."""
    STALE = 2
    """The sequence number is not newer than ``last_sequence``: ignored. The meter should continue
    with a sequence number above ``last_sequence`` (e.g. after losing its own counter)."""
    REJECTED = 3
    """The head-end does not accept this device (unknown system title, policy)."""


def scope_of(address: ipaddress.IPv6Address) -> AddressScope:
    """The natural scope of a unicast or multicast address."""
    if address.is_multicast:
        raw = address.packed[1] & 0x0F
        try:
            return AddressScope(raw)
        except ValueError:
            return AddressScope.GLOBAL
    if address.is_loopback:
        return AddressScope.INTERFACE_LOCAL
    if address.is_link_local:
        return AddressScope.LINK_LOCAL
    if address.is_site_local:
        return AddressScope.SITE_LOCAL
    return AddressScope.GLOBAL


def _u(
    cls: type[Unsigned] | type[LongUnsigned] | type[DoubleLongUnsigned], value: int, what: str
) -> DataValue:
    if not isinstance(value, int) or isinstance(value, bool):
        raise EncodeError(f"{what} must be an integer")
    try:
        return cls(value)
    except EncodeError as exc:
        raise EncodeError(f"{what}: {exc}") from None


def _system_title(value: bytes, what: str = "system_title") -> bytes:
    if not isinstance(value, bytes) or len(value) != 8:
        raise EncodeError(f"{what} must be 8 bytes")
    return bytes(value)


def _timestamp(value: CosemDateTime | None) -> bytes:
    return b"" if value is None else value.to_bytes()


def _read_timestamp(r: DataReader, what: str) -> CosemDateTime | None:
    start = r.pos
    raw = r.octet_string(what, (0, 12))
    if not raw:
        return None
    try:
        return CosemDateTime.from_bytes(raw)
    except DecodeError as exc:
        raise DecodeError(f"{what}: {exc.reason}", start, "date-time") from None


def _read_u(r: DataReader, cls: type, what: str) -> int:
    return int(r.value(cls, what))


@dataclass(frozen=True, slots=True)
class AddressEntry:
    """One IPv6 address of a node, with its prefix length and scope."""

    address: ipaddress.IPv6Address
    prefix_length: int = 64
    scope: AddressScope = AddressScope.GLOBAL

    def __post_init__(self) -> None:
        if not isinstance(self.address, ipaddress.IPv6Address):
            raise EncodeError("address must be an IPv6Address")
        if type(self.prefix_length) is not int or not 0 <= self.prefix_length <= 128:
            raise EncodeError(f"prefix_length must be 0..128, got {self.prefix_length!r}")
        if not isinstance(self.scope, AddressScope):
            raise EncodeError("scope must be an AddressScope")

    @classmethod
    def of(cls, address: str | ipaddress.IPv6Address, prefix_length: int = 64) -> AddressEntry:
        """An entry with the address's natural scope."""
        addr = ipaddress.IPv6Address(address)
        return cls(addr, prefix_length, scope_of(addr))

    @property
    def network(self) -> ipaddress.IPv6Network:
        return ipaddress.IPv6Network((self.address, self.prefix_length), strict=False)

    def to_data(self) -> DataValue:
        return (self.address.packed, Unsigned(self.prefix_length), Enumerated(self.scope))

    @classmethod
    def read(cls, r: DataReader) -> AddressEntry:
        r.structure(3, "address_entry")
        addr = ipaddress.IPv6Address(r.octet_string("address", (16,)))
        start = r.pos
        prefix = _read_u(r, Unsigned, "prefix_length")
        if prefix > 128:
            raise DecodeError(f"prefix_length {prefix}", start, "0..128")
        start = r.pos
        scope = enum_member(AddressScope, _read_u(r, Enumerated, "scope"), start, "address scope")
        return cls(addr, prefix, scope)


def _entries(values: Sequence[AddressEntry], what: str, allow_empty: bool) -> tuple[AddressEntry, ...]:
    entries = tuple(values)
    if not all(isinstance(e, AddressEntry) for e in entries):
        raise EncodeError(f"{what} must hold AddressEntry values")
    if len(entries) > MAX_ADDRESSES or (not entries and not allow_empty):
        raise EncodeError(f"{what} must hold {0 if allow_empty else 1}..{MAX_ADDRESSES} entries")
    return entries


def _read_entries(r: DataReader, what: str, allow_empty: bool) -> tuple[AddressEntry, ...]:
    start = r.pos
    n = r.array(what, MAX_ADDRESSES)
    if n == 0 and not allow_empty:
        raise DecodeError(f"{what} is empty", start, "at least one address")
    return tuple(AddressEntry.read(r) for _ in range(n))


def _check_common(obj: AddressRegistrationData | AddressUpdateData) -> None:
    _system_title(obj.system_title)
    if not isinstance(obj.reason, RegistrationReason):
        raise EncodeError("reason must be a RegistrationReason")
    _u(DoubleLongUnsigned, obj.sequence_number, "sequence_number")
    _u(LongUnsigned, obj.wport, "wport")
    _u(LongUnsigned, obj.udp_port, "udp_port")
    if obj.timestamp is not None and not isinstance(obj.timestamp, CosemDateTime):
        raise EncodeError("timestamp must be a CosemDateTime or None")
    if obj.border_router is not None and not isinstance(obj.border_router, ipaddress.IPv6Address):
        raise EncodeError("border_router must be an IPv6Address or None")


class _Codec:
    """encode/decode/from_data shared by the three structures (subclasses give to_data and read)."""

    __slots__ = ()
    WHAT: ClassVar[str] = ""

    def to_data(self) -> DataValue:
        raise NotImplementedError

    @classmethod
    def read(cls, r: DataReader) -> Self:
        raise NotImplementedError

    def encode(self) -> bytes:
        """The A-XDR bytes of the structure."""
        return encode_data(self.to_data())

    @classmethod
    def decode(cls, data: Buffer) -> Self:
        """Exactly one structure; raises only DecodeError."""
        return cls.decode_from(data, 0)[0]

    @classmethod
    def decode_from(cls, data: Buffer, offset: int = 0, *, exact: bool = True) -> tuple[Self, int]:
        r = DataReader(data, offset)
        obj = cls.read(r)
        if exact:
            r.end(cls.WHAT)
        return obj, r.pos

    @classmethod
    def from_data(cls, value: DataValue) -> Self:
        """From an already decoded Data value (offsets in errors are relative to its A-XDR form)."""
        return cls.decode(reencode(value, cls.WHAT))


@dataclass(frozen=True, slots=True)
class AddressRegistrationData(_Codec):
    """Table 2, our design: the binding system title -> address(es), wPort, port."""

    WHAT: ClassVar[str] = "address registration data"
    LOGICAL_NAME: ClassVar[Obis] = ADDRESS_REGISTRATION_DATA_LN

    system_title: bytes
    addresses: tuple[AddressEntry, ...]
    sequence_number: int
    reason: RegistrationReason = RegistrationReason.JOIN
    wport: int = 1
    udp_port: int = MESH_UDP_PORT
    timestamp: CosemDateTime | None = None
    border_router: ipaddress.IPv6Address | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "addresses", _entries(self.addresses, "addresses", False))
        _check_common(self)

    def to_data(self) -> DataValue:
        return (
            Unsigned(FORMAT_VERSION),
            self.system_title,
            Enumerated(self.reason),
            DoubleLongUnsigned(self.sequence_number),
            _timestamp(self.timestamp),
            [e.to_data() for e in self.addresses],
            LongUnsigned(self.wport),
            LongUnsigned(self.udp_port),
            b"" if self.border_router is None else self.border_router.packed,
        )

    @classmethod
    def read(cls, r: DataReader) -> Self:
        r.structure(9, cls.WHAT)
        title, reason, seq, ts = _read_head(r)
        addresses = _read_entries(r, "addresses", False)
        wport, port, border = _read_tail(r)
        return cls(title, addresses, seq, reason, wport, port, ts, border)


@dataclass(frozen=True, slots=True)
class AddressUpdateData(_Codec):
    """Table 3, our design: the registration data plus the addresses that are no longer valid."""

    WHAT: ClassVar[str] = "address update data"
    LOGICAL_NAME: ClassVar[Obis] = ADDRESS_UPDATE_DATA_LN

    system_title: bytes
    previous_addresses: tuple[AddressEntry, ...]
    addresses: tuple[AddressEntry, ...]
    sequence_number: int
    reason: RegistrationReason = RegistrationReason.ADDRESS_CHANGE
    wport: int = 1
    udp_port: int = MESH_UDP_PORT
    timestamp: CosemDateTime | None = None
    border_router: ipaddress.IPv6Address | None = None

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "previous_addresses", _entries(self.previous_addresses, "previous_addresses", True)
        )
        object.__setattr__(self, "addresses", _entries(self.addresses, "addresses", False))
        _check_common(self)

    def to_data(self) -> DataValue:
        return (
            Unsigned(FORMAT_VERSION),
            self.system_title,
            Enumerated(self.reason),
            DoubleLongUnsigned(self.sequence_number),
            _timestamp(self.timestamp),
            [e.to_data() for e in self.previous_addresses],
            [e.to_data() for e in self.addresses],
            LongUnsigned(self.wport),
            LongUnsigned(self.udp_port),
            b"" if self.border_router is None else self.border_router.packed,
        )

    @classmethod
    def read(cls, r: DataReader) -> Self:
        r.structure(10, cls.WHAT)
        title, reason, seq, ts = _read_head(r)
        previous = _read_entries(r, "previous_addresses", True)
        addresses = _read_entries(r, "addresses", False)
        wport, port, border = _read_tail(r)
        return cls(title, previous, addresses, seq, reason, wport, port, ts, border)

    def as_registration(self) -> AddressRegistrationData:
        """The binding this update announces."""
        return AddressRegistrationData(
            self.system_title,
            self.addresses,
            self.sequence_number,
            self.reason,
            self.wport,
            self.udp_port,
            self.timestamp,
            self.border_router,
        )


def _read_version(r: DataReader) -> None:
    start = r.pos
    version = _read_u(r, Unsigned, "format_version")
    if version != FORMAT_VERSION:
        raise DecodeError(f"format_version {version} is not supported", start, f"{FORMAT_VERSION}")


def _read_head(r: DataReader) -> tuple[bytes, RegistrationReason, int, CosemDateTime | None]:
    _read_version(r)
    title = r.octet_string("system_title", (8,))
    start = r.pos
    reason = enum_member(RegistrationReason, _read_u(r, Enumerated, "reason"), start, "registration reason")
    seq = _read_u(r, DoubleLongUnsigned, "sequence_number")
    ts = _read_timestamp(r, "timestamp")
    return title, reason, seq, ts


def _read_tail(r: DataReader) -> tuple[int, int, ipaddress.IPv6Address | None]:
    wport = _read_u(r, LongUnsigned, "wport")
    start = r.pos
    port = _read_u(r, LongUnsigned, "udp_port")
    if port == 0:
        raise DecodeError("udp_port 0", start, "1..65535")
    raw = r.octet_string("border_router", (0, 16))
    return wport, port, (ipaddress.IPv6Address(raw) if raw else None)


@dataclass(frozen=True, slots=True)
class AddressConfirmation(_Codec):
    """The head-end's answer to a registration or update (our design, see the module docstring)."""

    WHAT: ClassVar[str] = "address confirmation"
    LOGICAL_NAME: ClassVar[Obis] = ADDRESS_CONFIRMATION_LN

    system_title: bytes
    sequence_number: int
    status: ConfirmationStatus = ConfirmationStatus.ACCEPTED
    last_sequence: int = 0
    head_end_time: CosemDateTime | None = None
    periodic_interval: int = 0

    def __post_init__(self) -> None:
        _system_title(self.system_title)
        _u(DoubleLongUnsigned, self.sequence_number, "sequence_number")
        _u(DoubleLongUnsigned, self.last_sequence, "last_sequence")
        _u(DoubleLongUnsigned, self.periodic_interval, "periodic_interval")
        if not isinstance(self.status, ConfirmationStatus):
            raise EncodeError("status must be a ConfirmationStatus")
        if self.head_end_time is not None and not isinstance(self.head_end_time, CosemDateTime):
            raise EncodeError("head_end_time must be a CosemDateTime or None")

    def to_data(self) -> DataValue:
        return (
            Unsigned(FORMAT_VERSION),
            self.system_title,
            DoubleLongUnsigned(self.sequence_number),
            Enumerated(self.status),
            DoubleLongUnsigned(self.last_sequence),
            _timestamp(self.head_end_time),
            DoubleLongUnsigned(self.periodic_interval),
        )

    @classmethod
    def read(cls, r: DataReader) -> Self:
        r.structure(7, cls.WHAT)
        _read_version(r)
        title = r.octet_string("system_title", (8,))
        seq = _read_u(r, DoubleLongUnsigned, "sequence_number")
        start = r.pos
        status = enum_member(
            ConfirmationStatus, _read_u(r, Enumerated, "status"), start, "confirmation status"
        )
        last = _read_u(r, DoubleLongUnsigned, "last_sequence")
        ts = _read_timestamp(r, "head_end_time")
        interval = _read_u(r, DoubleLongUnsigned, "periodic_interval")
        return cls(title, seq, status, last, ts, interval)

    def confirms(self, message: RegistrationMessage) -> bool:
        """True when this answer ends the meter's retries for ``message``: same system title and
        sequence number. Every status ends them (STALE asks for a new message with a higher
        sequence number, REJECTED for operator action)."""
        return self.system_title == message.system_title and self.sequence_number == message.sequence_number

    @classmethod
    def for_message(
        cls,
        message: RegistrationMessage,
        status: ConfirmationStatus,
        last_sequence: int,
        head_end_time: CosemDateTime | None = None,
        periodic_interval: int = 0,
    ) -> AddressConfirmation:
        return cls(
            message.system_title,
            message.sequence_number,
            status,
            last_sequence,
            head_end_time,
            periodic_interval,
        )


RegistrationMessage = AddressRegistrationData | AddressUpdateData


@dataclass(frozen=True, slots=True)
class RegistrationObjects:
    """The logical names that identify the three structures ([design] defaults, configurable)."""

    registration: Obis = ADDRESS_REGISTRATION_DATA_LN
    update: Obis = ADDRESS_UPDATE_DATA_LN
    confirmation: Obis = ADDRESS_CONFIRMATION_LN
    push_setup: Obis = REGISTRATION_PUSH_SETUP_LN

    def body(self, item: AddressRegistrationData | AddressUpdateData | AddressConfirmation) -> DataValue:
        """The Data-Notification body ``structure { logical_name, data }``."""
        if isinstance(item, AddressRegistrationData):
            ln = self.registration
        elif isinstance(item, AddressUpdateData):
            ln = self.update
        elif isinstance(item, AddressConfirmation):
            ln = self.confirmation
        else:
            raise EncodeError("not a registration structure")
        return (bytes(ln), item.to_data())

    def notification(
        self,
        item: AddressRegistrationData | AddressUpdateData | AddressConfirmation,
        invoke_id: int,
        date_time: CosemDateTime | None = None,
    ) -> DataNotification:
        """A Data-Notification carrying ``item`` (registration/update: meter -> head-end,
        confirmation: head-end -> meter)."""
        return DataNotification(
            invoke_id, None if date_time is None else date_time.to_bytes(), self.body(item)
        )

    def decode_body(
        self, body: DataValue
    ) -> AddressRegistrationData | AddressUpdateData | AddressConfirmation | None:
        """Parse a notification body; None when it is not one of ours (another push).

        A body that names one of our logical names but whose structure is wrong raises DecodeError
        (offsets relative to the body's A-XDR form)."""
        if type(body) is not tuple or len(body) != 2 or type(body[0]) is not bytes:
            return None
        ln = body[0]
        raw = reencode(body, "notification body")
        # structure header (2 bytes) + octet-string 09 06 + 6 bytes: the data starts at offset 10
        kind: type[AddressRegistrationData] | type[AddressUpdateData] | type[AddressConfirmation]
        if ln == self.registration:
            kind = AddressRegistrationData
        elif ln == self.update:
            kind = AddressUpdateData
        elif ln == self.confirmation:
            kind = AddressConfirmation
        else:
            return None
        return kind.decode_from(raw, 10)[0]

    def push_object_list(self, update: bool = False) -> list[CaptureObjectDefinition]:
        """push_object_list that makes a Push setup produce :meth:`body` for a Data object."""
        ln = self.update if update else self.registration
        return [CaptureObjectDefinition(1, ln, 1), CaptureObjectDefinition(1, ln, 2)]


DEFAULT_OBJECTS: Final = RegistrationObjects()


def decode_registration_body(
    body: DataValue, objects: RegistrationObjects = DEFAULT_OBJECTS
) -> AddressRegistrationData | AddressUpdateData | AddressConfirmation | None:
    """:meth:`RegistrationObjects.decode_body` with the default logical names."""
    return objects.decode_body(body)


def registration_push_setup(
    head_end: ipaddress.IPv6Address | str,
    head_end_port: int = MESH_UDP_PORT,
    *,
    communication_window: Sequence[Window] = (),
    randomisation_start_interval: int = 60,
    number_of_retries: int = 5,
    repetition_delay: int = 30,
    update: bool = False,
    objects: RegistrationObjects = DEFAULT_OBJECTS,
) -> PushSetup:
    """A Push setup (class 40) that pushes the registration (or update) Data object to the head-end
    over UDP (Table 1: transport_service UDP, destination ``[head-end]:port``, A-XDR APDUs).

    [design] defaults: 60 s randomisation, 5 retries, 30 s repetition delay."""
    return PushSetup(
        objects.push_setup,
        objects.push_object_list(update),
        SendDestinationAndMethod(
            TransportService.UDP,
            format_udp_destination(head_end, head_end_port),
            MessageType.A_XDR_XDLMS_APDU,
        ),
        communication_window,
        randomisation_start_interval,
        number_of_retries,
        repetition_delay,
    )


def serial_greater(a: int, b: int) -> bool:
    """``a > b`` in 32-bit serial-number arithmetic (RFC 1982, section 3.2): true when ``a`` is
    ahead of ``b`` by less than 2**31. The distance 2**31 itself is undefined there: not greater."""
    return 0 < (a - b) & 0xFFFFFFFF < 0x80000000


class MeterRegistration:
    """Meter side of registration (sans-IO, float time): builds the messages, numbers them, pushes them
    on the Push schedule until the head-end confirms, and resynchronises on a ``stale`` answer.

    ``sequence_number`` must be persisted by the application (like an invocation counter) and given
    back on restart; when it is lost, the head-end's ``stale`` answer carries the value to continue
    above. [design] The Data-Notification's invoke id is the low 24 bits of the sequence number, so a
    confirmation echoes it.

    ``anchor`` is the calendar instant of ``now == 0`` (aware; default the POSIX epoch): the push
    windows are located through it, and :meth:`cosem_time` turns ``now`` into a COSEM date-time for
    the messages' ``timestamp``. Driving: :meth:`handle_timer` when :meth:`get_timer` passes, then
    :meth:`pop_outgoing` gives the Data-Notifications to send.
    """

    __slots__ = (
        "_outgoing",
        "message",
        "objects",
        "previous",
        "scheduler",
        "sequence_number",
        "system_title",
    )

    def __init__(
        self,
        system_title: bytes,
        schedule: PushSchedule,
        rng: random.Random,
        *,
        sequence_number: int = 0,
        objects: RegistrationObjects = DEFAULT_OBJECTS,
        anchor: _dt.datetime = POSIX_EPOCH,
    ) -> None:
        self.system_title = _system_title(system_title)
        self.scheduler = PushScheduler(schedule, rng, anchor=anchor)
        self.sequence_number = sequence_number
        self.objects = objects
        self.message: RegistrationMessage | None = None
        self.previous: tuple[AddressEntry, ...] = ()
        self._outgoing: list[DataNotification] = []

    @property
    def anchor(self) -> _dt.datetime:
        """The calendar instant (UTC) of ``now == 0``."""
        return self.scheduler.anchor

    def cosem_time(self, now: float) -> CosemDateTime:
        """``now`` as a COSEM date-time in UTC (deviation 0), for the ``timestamp`` of a message."""
        return CosemDateTime.from_datetime(self.scheduler.calendar(now))

    def _next_sequence(self) -> int:
        self.sequence_number = (self.sequence_number + 1) & 0xFFFFFFFF
        return self.sequence_number

    def announce(
        self,
        now: float,
        addresses: Sequence[AddressEntry],
        reason: RegistrationReason = RegistrationReason.JOIN,
        *,
        wport: int = 1,
        udp_port: int = MESH_UDP_PORT,
        border_router: ipaddress.IPv6Address | None = None,
        timestamp: CosemDateTime | None = None,
    ) -> RegistrationMessage:
        """Start pushing the current binding. An ADDRESS_CHANGE after an earlier message becomes
        address update data (with the previous addresses); anything else is registration data."""
        seq = self._next_sequence()
        message: RegistrationMessage
        if reason is RegistrationReason.ADDRESS_CHANGE and self.message is not None:
            message = AddressUpdateData(
                self.system_title,
                self.message.addresses,
                tuple(addresses),
                seq,
                reason,
                wport,
                udp_port,
                timestamp,
                border_router,
            )
        else:
            message = AddressRegistrationData(
                self.system_title, tuple(addresses), seq, reason, wport, udp_port, timestamp, border_router
            )
        self.message = message
        self.scheduler.trigger(now, seq)
        return message

    def get_timer(self) -> float | None:
        """When :meth:`handle_timer` has something to do (the next attempt or retry decision)."""
        return self.scheduler.get_timer()

    def handle_timer(self, now: float) -> None:
        """Advance to ``now``: an attempt that is due queues its Data-Notification."""
        self.scheduler.handle_timer(now)
        if self.scheduler.pop_events() and self.message is not None:
            self._outgoing.append(
                self.objects.notification(self.message, self.message.sequence_number & 0xFFFFFF)
            )

    def pop_outgoing(self) -> list[DataNotification]:
        """The Data-Notifications to send, oldest first."""
        out, self._outgoing = self._outgoing, []
        return out

    def on_confirmation(
        self, confirmation: AddressConfirmation, now: float, *, authenticated: bool = True
    ) -> bool:
        """Handle the head-end's answer; True when it concerned the current message. ``stale``
        re-announces the same binding with a sequence number above the head-end's ``last_sequence``
        (serial-number arithmetic, RFC 1982) -- only when the answer was ``authenticated``
        (decision 0036); a plain ``stale`` answer just ends the retries."""
        message = self.message
        if message is None or not confirmation.confirms(message):
            return False
        if confirmation.status is ConfirmationStatus.STALE and authenticated:
            if serial_greater(confirmation.last_sequence, self.sequence_number):
                self.sequence_number = confirmation.last_sequence
            seq = self._next_sequence()
            self.message = dataclasses.replace(message, sequence_number=seq)
            self.scheduler.trigger(now, seq)
            return True
        self.scheduler.confirm(now, message.sequence_number)
        return True

    @property
    def state(self) -> PushState:
        return self.scheduler.state
