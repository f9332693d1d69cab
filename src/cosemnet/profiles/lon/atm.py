"""IEC 62056-8-8 Annex F: automatic topology management (ATM) of LNAPs by the NNAP, sans-IO.

Annex F is not public; only its table of contents is (F.3 lifecycle, F.4.2 roles, F.4.3 discovery, F.4.4
discovery domain, F.4.5 messages, Tables F.1-F.7, F.5.2 commissioning). The spec notes (section 2)
suggest modelling it on ISO/IEC 14908-1 network management sent through Annex E proxy chains. Every
layout and rule below is therefore ours (docs/decisions/0072) unless it names 14908-1:

* **Lifecycle (F.3)** :class:`MeterState`: unconfigured -> discovered -> commissioned -> in service ->
  decommissioned, and back to discovered when a decommissioned meter is found again
  (:data:`TRANSITIONS`, :class:`MeterRecord`).
* **Roles (F.4.2)** :class:`AtmRole`: the *manager* in the NNAP (:class:`AtmManager`), the *agent* in
  every LNAP (the 14908-1 NM responder plus :class:`AtmAgent` for the ATM messages), and the *relay*: a
  commissioned LNAP that acts as Annex E repeater / proxy agent for discovery of its neighbours.
* **Discovery (F.4.3)**: the manager sends NM query ID (selector *unconfigured*) as a broadcast REQUEST,
  first itself, then through every commissioned meter as Annex E proxy agent (hop chain = the route to
  that meter). Every unconfigured node that hears it answers with its unique node ID; each one found is
  commissioned at once (it then stops answering) and becomes an agent for the next wave. An agent whose
  query stays unanswered has no unconfigured neighbour left.
* **Discovery domain (F.4.4)**: queries go in domain table entry ``discovery_domain_index`` of the
  manager's node (default 0, the operating domain); unconfigured nodes accept broadcasts and unique-ID
  messages in any domain (14908-1 flex domain) and answer from 0/0.
* **Messages (F.4.5, Tables F.1-F.7)**: one 14908-1 application message code
  (:data:`ATM_MESSAGE_CODE`); header = type + sequence (F.1); neighbour table request / report (F.2,
  F.3), status request / report (F.4, F.5), error (F.6) with result codes (F.7).
* **Commissioning (F.5.2)** by unique node ID through the discovery route: NM update domain (domain,
  subnet/node, key), NM update group address (membership), NM set node mode (configured, online), then
  the keys: the OSGP-AES-128-PSK secure channel of Annex D (:class:`KeyCommissioner`). Afterwards the
  manager collects every meter's neighbour table over the air and feeds its path manager.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum, IntEnum
from typing import ClassVar, Final, Protocol, Self

from cosemnet.errors import CosemnetError, DecodeError
from cosemnet.profiles.lon._codec import Buffer, Reader, check_bytes, check_int, to_bytes
from cosemnet.profiles.lon.addresses import (
    UNIQUE_ID_LENGTH,
    Address,
    BroadcastAddress,
    SubnetNodeAddress,
    UniqueIdAddress,
)
from cosemnet.profiles.lon.adp_service import AdpLowerLayer
from cosemnet.profiles.lon.lon_apdu import Apdu, ApplicationMessage, NetworkManagement
from cosemnet.profiles.lon.netmgmt import (
    KEY_LENGTH,
    NM_LEAVE_DOMAIN,
    DomainEntry,
    GroupAddressEntry,
    NmResponse,
    NodeMode,
    NodeState,
    QueryIdRequest,
    QueryIdResponse,
    QueryIdSelector,
    SetNodeModeRequest,
    UpdateDomainRequest,
    UpdateGroupAddressRequest,
)
from cosemnet.profiles.lon.paths import PathManager, qualities
from cosemnet.profiles.lon.repeater import ProxyStack
from cosemnet.profiles.lon.stack import Completed, Event, LonStack, MessageReceived, ResponseReceived
from cosemnet.profiles.lon.transaction import Service

_log = logging.getLogger(__name__)

ATM_MESSAGE_CODE: Final = 0x0C
"""[design, decision 0072] 14908-1 application message code of the ATM messages (ADP 0x0D, OSGP security
0x0E, OSGP firmware 0x0F)."""

MAX_REPORT_ENTRIES: Final = 20
"""Neighbour entries per report: 11 + 4 x 20 = 91 bytes, inside a proxy target's 102 (decision 0070)."""

MAX_METERS: Final = 4096
"""Meter records the manager keeps (bounded memory)."""


class AtmError(CosemnetError):
    """An ATM operation that cannot be done (unknown meter, illegal lifecycle move)."""


# --------------------------------------------------------------------------------------------------
# F.3 lifecycle, F.4.2 roles


class MeterState(Enum):
    UNCONFIGURED = "unconfigured"
    DISCOVERED = "discovered"
    COMMISSIONED = "commissioned"
    IN_SERVICE = "in_service"
    DECOMMISSIONED = "decommissioned"


TRANSITIONS: Final[dict[MeterState, frozenset[MeterState]]] = {
    MeterState.UNCONFIGURED: frozenset({MeterState.DISCOVERED}),
    MeterState.DISCOVERED: frozenset({MeterState.COMMISSIONED, MeterState.UNCONFIGURED}),
    MeterState.COMMISSIONED: frozenset({MeterState.IN_SERVICE, MeterState.DECOMMISSIONED}),
    MeterState.IN_SERVICE: frozenset({MeterState.COMMISSIONED, MeterState.DECOMMISSIONED}),
    MeterState.DECOMMISSIONED: frozenset({MeterState.DISCOVERED, MeterState.UNCONFIGURED}),
}
"""[design, decision 0072] The F.3 moves; in service -> commissioned when the meter is taken out of
service (set offline) without leaving the network."""


class AtmRole(Enum):
    """F.4.2 roles [design names, decision 0072]."""

    MANAGER = "manager"
    """In the NNAP: discovers, commissions, decommissions, keeps the lifecycle and the routes."""
    AGENT = "agent"
    """In every LNAP: answers NM requests and the ATM messages."""
    RELAY = "relay"
    """A commissioned LNAP used as Annex E repeater / proxy agent to reach its neighbours."""


@dataclass(slots=True)
class MeterRecord:
    """What the manager knows of one meter (by unique node ID)."""

    unique_id: bytes
    program_id: bytes = bytes(8)
    state: MeterState = MeterState.UNCONFIGURED
    address: SubnetNodeAddress | None = None
    via: tuple[SubnetNodeAddress, ...] = ()
    """Repeaters (proxy chain, last = the agent) the meter was discovered through; () = direct."""
    commissioned_times: int = 0
    history: deque[tuple[float, MeterState]] = field(default_factory=lambda: deque(maxlen=16))

    def move(self, to: MeterState, now: float) -> None:
        """Apply an F.3 transition; :class:`AtmError` for a move :data:`TRANSITIONS` does not allow."""
        if to not in TRANSITIONS[self.state]:
            raise AtmError(f"meter {self.unique_id.hex()}: {self.state.value} -> {to.value} is not allowed")
        self.state = to
        self.history.append((now, to))

    @property
    def roles(self) -> tuple[AtmRole, ...]:
        return (AtmRole.AGENT, AtmRole.RELAY) if self.state in _ON_NETWORK else (AtmRole.AGENT,)


_ON_NETWORK: Final = frozenset({MeterState.COMMISSIONED, MeterState.IN_SERVICE})


# --------------------------------------------------------------------------------------------------
# F.4.5 messages (Tables F.1-F.7) [design, decision 0072]


class AtmMessageType(IntEnum):
    """Table F.1: the header's type byte."""

    NEIGHBOUR_REQUEST = 0x01
    STATUS_REQUEST = 0x02
    NEIGHBOUR_REPORT = 0x81
    STATUS_REPORT = 0x82
    ERROR = 0xFF


class AtmResult(IntEnum):
    """Table F.7: error causes."""

    UNKNOWN_TYPE = 1
    MALFORMED = 2


def _header(reader: Reader, kind: AtmMessageType) -> int:
    at = reader.pos
    code = reader.u8("ATM message type")
    if code != kind:
        raise DecodeError(f"ATM type 0x{code:02X} is not {kind.name}", at, f"0x{kind:02X}")
    return reader.u8("sequence")


def _reader(data: Buffer) -> Reader:
    buf = to_bytes(data)
    return Reader(buf, 0, len(buf))


@dataclass(slots=True)
class NeighbourRequest:
    """Table F.2: ask for the neighbour table from entry ``first``."""

    sequence: int
    first: int = 0
    max_entries: int = MAX_REPORT_ENTRIES

    TYPE: ClassVar[AtmMessageType] = AtmMessageType.NEIGHBOUR_REQUEST

    def encode(self) -> bytes:
        return bytes(
            (
                self.TYPE,
                check_int("sequence", self.sequence, 0, 255),
                *check_int("first", self.first, 0, 0xFFFF).to_bytes(2, "big"),
                check_int("max_entries", self.max_entries, 1, MAX_REPORT_ENTRIES),
            )
        )

    @classmethod
    def decode(cls, data: Buffer) -> Self:
        reader = _reader(data)
        sequence = _header(reader, cls.TYPE)
        first = int.from_bytes(reader.take(2, "first"), "big")
        at = reader.pos
        count = reader.u8("max entries")
        if not 1 <= count <= MAX_REPORT_ENTRIES:
            raise DecodeError(f"max entries {count}", at, f"1..{MAX_REPORT_ENTRIES}")
        reader.expect_end("neighbour request")
        return cls(sequence, first, count)


@dataclass(slots=True, frozen=True)
class NeighbourEntry:
    """One row of Table F.3: a sender heard (subnet, node) and the frames heard from it (saturating)."""

    subnet: int
    node: int
    frames: int


@dataclass(slots=True)
class NeighbourReport:
    """Table F.3: frames this node sent (u32), table size (u16), first entry (u16), count, entries
    (subnet, node, frames heard u16)."""

    sequence: int
    frames_sent: int
    total: int
    first: int
    entries: list[NeighbourEntry]

    TYPE: ClassVar[AtmMessageType] = AtmMessageType.NEIGHBOUR_REPORT

    def encode(self) -> bytes:
        out = bytearray((self.TYPE, check_int("sequence", self.sequence, 0, 255)))
        out += min(self.frames_sent, 0xFFFFFFFF).to_bytes(4, "big")
        out += check_int("total", self.total, 0, 0xFFFF).to_bytes(2, "big")
        out += check_int("first", self.first, 0, 0xFFFF).to_bytes(2, "big")
        out.append(check_int("count", len(self.entries), 0, MAX_REPORT_ENTRIES))
        for entry in self.entries:
            out += bytes((check_int("subnet", entry.subnet, 0, 255), check_int("node", entry.node, 0, 127)))
            out += min(entry.frames, 0xFFFF).to_bytes(2, "big")
        return bytes(out)

    @classmethod
    def decode(cls, data: Buffer) -> Self:
        reader = _reader(data)
        sequence = _header(reader, cls.TYPE)
        sent = int.from_bytes(reader.take(4, "frames sent"), "big")
        total = int.from_bytes(reader.take(2, "total"), "big")
        first = int.from_bytes(reader.take(2, "first"), "big")
        at = reader.pos
        count = reader.u8("count")
        if count > MAX_REPORT_ENTRIES:
            raise DecodeError(f"{count} neighbour entries", at, f"at most {MAX_REPORT_ENTRIES}")
        entries = []
        for _ in range(count):
            subnet = reader.u8("subnet")
            node = reader.u8("node")
            entries.append(
                NeighbourEntry(subnet, node & 0x7F, int.from_bytes(reader.take(2, "frames"), "big"))
            )
        reader.expect_end("neighbour report")
        return cls(sequence, sent, total, first, entries)


@dataclass(slots=True)
class StatusRequest:
    """Table F.4: ask for the node's ATM status."""

    sequence: int

    TYPE: ClassVar[AtmMessageType] = AtmMessageType.STATUS_REQUEST

    def encode(self) -> bytes:
        return bytes((self.TYPE, check_int("sequence", self.sequence, 0, 255)))

    @classmethod
    def decode(cls, data: Buffer) -> Self:
        reader = _reader(data)
        sequence = _header(reader, cls.TYPE)
        reader.expect_end("status request")
        return cls(sequence)


@dataclass(slots=True)
class StatusReport:
    """Table F.5: node state (14908-1 values, :class:`NodeState`), application online, unique node ID."""

    sequence: int
    state: int
    online: bool
    unique_id: bytes

    TYPE: ClassVar[AtmMessageType] = AtmMessageType.STATUS_REPORT

    def encode(self) -> bytes:
        return (
            bytes(
                (
                    self.TYPE,
                    check_int("sequence", self.sequence, 0, 255),
                    check_int("state", self.state, 0, 255),
                )
            )
            + bytes((1 if self.online else 0,))
            + check_bytes("unique_id", self.unique_id, UNIQUE_ID_LENGTH)
        )

    @classmethod
    def decode(cls, data: Buffer) -> Self:
        reader = _reader(data)
        sequence = _header(reader, cls.TYPE)
        state = reader.u8("state")
        online = reader.u8("online")
        unique_id = reader.take(UNIQUE_ID_LENGTH, "unique node ID")
        reader.expect_end("status report")
        return cls(sequence, state, bool(online), unique_id)


@dataclass(slots=True)
class AtmErrorMessage:
    """Table F.6: the request of ``sequence`` could not be answered (:class:`AtmResult`)."""

    sequence: int
    result: int

    TYPE: ClassVar[AtmMessageType] = AtmMessageType.ERROR

    def encode(self) -> bytes:
        return bytes(
            (
                self.TYPE,
                check_int("sequence", self.sequence, 0, 255),
                check_int("result", self.result, 0, 255),
            )
        )

    @classmethod
    def decode(cls, data: Buffer) -> Self:
        reader = _reader(data)
        sequence = _header(reader, cls.TYPE)
        result = reader.u8("result")
        reader.expect_end("ATM error")
        return cls(sequence, result)


AtmMessage = NeighbourRequest | NeighbourReport | StatusRequest | StatusReport | AtmErrorMessage

_TYPES: Final[dict[int, type[AtmMessage]]] = {
    AtmMessageType.NEIGHBOUR_REQUEST: NeighbourRequest,
    AtmMessageType.NEIGHBOUR_REPORT: NeighbourReport,
    AtmMessageType.STATUS_REQUEST: StatusRequest,
    AtmMessageType.STATUS_REPORT: StatusReport,
    AtmMessageType.ERROR: AtmErrorMessage,
}


def decode_atm(data: Buffer) -> AtmMessage:
    """One ATM message (the application message's data, without the code byte)."""
    buf = to_bytes(data)
    if not buf:
        raise DecodeError("empty ATM message", 0, "a type byte")
    kind = _TYPES.get(buf[0])
    if kind is None:
        raise DecodeError(f"unknown ATM message type 0x{buf[0]:02X}", 0, "Table F.1")
    return kind.decode(buf)


# --------------------------------------------------------------------------------------------------
# The agent (LNAP side)


def _frames_sent(stack: LonStack) -> int:
    """Frames ``stack`` sent from its own subnet/node (domain entry 0), which its neighbours count as heard
    from it; every frame when the stack does not count per address (decision 0071)."""
    domain = stack.node.domains[0] if stack.node.domains else None
    if isinstance(stack, ProxyStack) and domain is not None:
        return stack.frames_sent_as((domain.subnet, domain.node))
    return stack.statistics.frames_sent


class AtmAgent:
    """The LNAP's ATM agent: an ADP auxiliary (:class:`~.adp_service.AdpAuxiliary`) answering the ATM
    requests from the stack's neighbour table (``ProxyStack.heard``) and node state."""

    def __init__(self, stack: LonStack) -> None:
        self.stack = stack
        self.lower: AdpLowerLayer | None = None
        self.answered = 0
        self.errors = 0

    @property
    def message_code(self) -> int:
        return ATM_MESSAGE_CODE

    def attach(self, lower: AdpLowerLayer) -> None:
        self.lower = lower

    def tick(self, now: float) -> None:
        return None

    def deadline(self) -> float | None:
        return None

    def pending(self) -> int:
        return 0

    def message_received(self, source: Address, apdu: ApplicationMessage, now: float) -> None:
        if self.lower is None:
            return
        reply = self.answer(apdu.data)
        if reply is not None:
            self.answered += 1
            self.lower.send(source, ApplicationMessage(ATM_MESSAGE_CODE, reply.encode()), Service.ACKD)

    def answer(self, data: bytes) -> AtmMessage | None:
        """The reply to one request (None for a report or an error: nothing to answer)."""
        sequence = data[1] if len(data) > 1 else 0
        try:
            message = decode_atm(data)
        except DecodeError:
            self.errors += 1
            known = bool(data) and data[0] in _TYPES
            return AtmErrorMessage(sequence, AtmResult.MALFORMED if known else AtmResult.UNKNOWN_TYPE)
        node = self.stack.node
        if isinstance(message, NeighbourRequest):
            heard: dict[tuple[int, int], int] = getattr(self.stack, "heard", {})
            rows = sorted((k, v) for k, v in heard.items() if k != (0, 0))
            part = rows[message.first : message.first + message.max_entries]
            entries = [NeighbourEntry(s, n, c) for (s, n), c in part]
            return NeighbourReport(
                message.sequence, _frames_sent(self.stack), len(rows), message.first, entries
            )
        if isinstance(message, StatusRequest):
            if not node.configured:
                state = NodeState.APPLICATION_UNCONFIGURED
            elif node.application_online:
                state = NodeState.CONFIGURED_ONLINE
            else:
                state = NodeState.CONFIGURED_HARD_OFFLINE
            return StatusReport(message.sequence, state, node.application_online, node.unique_id)
        return None


# --------------------------------------------------------------------------------------------------
# The manager (NNAP side)


class KeyCommissioner(Protocol):
    """The keys step of F.5.2 (the OSGP-AES-128-PSK concentrator agent fits)."""

    def commission(self, address: SubnetNodeAddress, node_id: bytes, now: float) -> None: ...

    def established(self, address: Address) -> bool: ...


@dataclass(slots=True)
class AtmConfig:
    """[design, decision 0072]"""

    domain_id: bytes = b"\x4c"
    authentication_key: bytes = field(default=bytes(KEY_LENGTH), repr=False)
    discovery_domain_index: int = 0
    group: int = 1
    """Group every commissioned meter joins (member = node number mod 64)."""
    group_receive_timer: int = 15
    max_repeaters: int = 8
    op_timeout: float = 120.0
    """A step with no outcome by then counts as failed (a safety net: the stack always completes)."""
    reply_timeout: float = 10.0
    """ATM report expected this long after the request was acknowledged."""
    key_timeout: float = 120.0
    step_attempts: int = 2
    direct_query_rounds: int = 2
    sweeps: int = 24
    """At most this many extra passes (a direct query and a query through every commissioned meter)."""
    quiet_passes: int = 2
    """Discovery ends after this many passes in a row found no new meter and left none uncommissioned:
    a query answered by several meters at once, or answered after the chain gave up, finds nobody, and
    the next pass (the meters found meanwhile commissioned and silent) finds them (decision 0073)."""
    report_passes: int = 2
    """Extra passes for the neighbour tables that did not arrive: each goes through the meter whose
    report heard the missing one most (a meter found directly on a weak link has no route yet, and
    without its own table the path manager cannot weigh any of its links; decision 0071)."""
    quiet_after_proxy: float = 5.0
    """Seconds to wait after an operation sent through repeaters: the agent and the repeaters may still be
    retrying (a broadcast query nobody answers runs all its tries) and would collide with the next one."""
    """Direct queries in a row that find nobody before the manager moves on to the relays."""


class _Kind(Enum):
    QUERY = "query"
    DOMAIN = "update-domain"
    GROUP = "update-group-address"
    MODE = "set-node-mode"
    KEYS = "keys"
    NEIGHBOURS = "neighbours"
    LEAVE = "leave-domain"


@dataclass(slots=True)
class _Op:
    kind: _Kind
    uid: bytes | None = None
    """The meter (None: a direct query)."""
    first: int = 0
    attempt: int = 1
    empty_rounds: int = 0


@dataclass(slots=True)
class _InFlight:
    op: _Op
    handle: int | None
    started: float
    found: list[QueryIdResponse] = field(default_factory=list)
    success: bool | None = None
    completed: bool = False
    sequence: int | None = None
    report: NeighbourReport | None = None
    acked_at: float | None = None
    proxied: bool = False


@dataclass(slots=True)
class AtmStatistics:
    queries: int = 0
    empty_queries: int = 0
    discovered: int = 0
    commissioned: int = 0
    failed_steps: int = 0
    neighbour_reports: int = 0
    decommissioned: int = 0


class AtmRoutes:
    """The concentrator's :class:`~.repeater.RouteProvider` during and after discovery: the path manager
    first, else the chain a meter was discovered through; unique-ID and broadcast sends of the manager
    use the chain it sets for them."""

    def __init__(self, paths: PathManager, manager: AtmManager) -> None:
        self.paths = paths
        self.manager = manager
        self.broadcast_route: list[SubnetNodeAddress] | None = None

    def route(self, destination: Address, now: float) -> list[SubnetNodeAddress] | None:
        if isinstance(destination, BroadcastAddress):
            route, self.broadcast_route = self.broadcast_route, None  # one attempt: nobody may answer
            return route
        if isinstance(destination, UniqueIdAddress):
            record = self.manager.meters.get(destination.unique_id)
            return self.manager.route_to(record) if record is not None else None
        found = self.paths.route(destination, now)
        if found is not None:
            return found
        if isinstance(destination, SubnetNodeAddress):
            record = self.manager.by_address(destination) or next(  # or being commissioned (its keys)
                (r for r in self.manager.meters.values() if r.address == destination), None
            )
            if record is not None and record.state is not MeterState.DECOMMISSIONED:
                return list(record.via)
        return None

    def peek(self, destination: Address, now: float) -> list[SubnetNodeAddress] | None:
        """The route :meth:`route` would give, without using up a one-shot broadcast route."""
        if isinstance(destination, BroadcastAddress):
            return self.broadcast_route
        return self.route(destination, now)

    def report(
        self, destination: Address, route: list[SubnetNodeAddress], broken: int | None, now: float
    ) -> None:
        self.paths.report(destination, route, broken, now)


class AtmManager:
    """The NNAP's ATM manager (see the module docstring): a sans-IO endpoint for
    :func:`~.dlms.run_exchange` (``pump``, ``deadline``, ``busy``) that must be pumped before the DLMS
    endpoint of the same stack (it takes its own events with :meth:`LonStack.take_events`)."""

    def __init__(
        self,
        stack: LonStack,
        paths: PathManager,
        config: AtmConfig | None = None,
        *,
        plan: Callable[[bytes], SubnetNodeAddress | None] | None = None,
        keys: KeyCommissioner | None = None,
    ) -> None:
        self.stack = stack
        self.paths = paths
        self.config = config if config is not None else AtmConfig()
        self.plan = plan
        self.keys = keys
        self.meters: dict[bytes, MeterRecord] = {}
        self.statistics = AtmStatistics()
        self.routes = AtmRoutes(paths, self)
        if isinstance(stack, ProxyStack):
            stack.routes = self.routes
        self._ops: deque[_Op] = deque()
        self._current: _InFlight | None = None
        self._handles: set[int] = set()
        self._sequence = 0
        self._next_node = 2
        self._reports: dict[tuple[int, int], NeighbourReport] = {}
        self._now = 0.0
        self._quiet_until = 0.0
        self._sweeps_left = self.config.sweeps
        self._found_since_sweep = 0
        self._quiet = 0
        self._report_passes = self.config.report_passes

    # ------------------------------------------------------------------ public API

    def start_discovery(self, now: float) -> None:
        """Queue a discovery run: direct queries, then a query through every meter commissioned on the
        way (waves), then the neighbour tables of every meter on the network."""
        self._now = now
        self._ops.append(_Op(_Kind.QUERY))
        self._sweeps_left = self.config.sweeps
        self._quiet = 0
        self._report_passes = self.config.report_passes

    def decommission(self, unique_id: bytes, now: float) -> None:
        """Queue NM leave domain for a commissioned meter (it becomes unconfigured and discoverable)."""
        record = self.meters.get(unique_id)
        if record is None or record.state not in _ON_NETWORK:
            raise AtmError("only a commissioned or in-service meter can be decommissioned")
        self._now = now
        self._ops.append(_Op(_Kind.LEAVE, unique_id))

    def collect_neighbours(self, now: float) -> None:
        """Queue every on-network meter's neighbour table again and re-learn the links from them (a
        repeater disappeared, issue 11 item 3, docs/decisions/0071); the meters the path manager forgot
        (:attr:`PathManager.relearn`) are not asked, so their links stay dropped."""
        self._now = max(self._now, now)
        self._reports.clear()
        self._report_passes = self.config.report_passes
        for record in self.in_state(*_ON_NETWORK):
            if record.address is None:
                continue
            if (record.address.destination_subnet, record.address.destination_node) in self.paths.relearn:
                continue
            self._ops.append(_Op(_Kind.NEIGHBOURS, record.unique_id))

    def mark_in_service(self, unique_id: bytes, now: float) -> None:
        """The meter answered its first reading: commissioned -> in service."""
        record = self.meters.get(unique_id)
        if record is not None and record.state is MeterState.COMMISSIONED:
            record.move(MeterState.IN_SERVICE, now)

    def by_address(self, address: SubnetNodeAddress) -> MeterRecord | None:
        for record in self.meters.values():
            if record.address == address and record.state in _ON_NETWORK:
                return record
        return None

    def route_to(self, record: MeterRecord) -> list[SubnetNodeAddress]:
        if record.address is not None and record.state in _ON_NETWORK:
            found = self.paths.route(record.address, self._now)
            if found is not None:
                return found
        return list(record.via)

    def in_state(self, *states: MeterState) -> list[MeterRecord]:
        return [r for r in self.meters.values() if r.state in states]

    @property
    def done(self) -> bool:
        return self._current is None and not self._ops

    # ------------------------------------------------------------------ endpoint protocol

    def busy(self) -> bool:
        return not self.done

    def deadline(self) -> float | None:
        current = self._current
        if current is None:
            return self._quiet_until if self._ops and self._quiet_until > self._now else None
        if current.op.kind is _Kind.KEYS:
            return min(current.started + self.config.key_timeout, self._now + 1.0)
        if current.acked_at is not None:
            return current.acked_at + self.config.reply_timeout
        return current.started + self.config.op_timeout

    def pump(self, now: float) -> bool:
        self._now = max(self._now, now)
        moved = False
        for event in self.stack.take_events(self._wanted):
            moved = True
            self._event(event)
        while True:
            if self._current is not None and not self._settle():
                return moved
            if self._current is None:
                if not self._ops or self._now < self._quiet_until:
                    return moved
                self._start(self._ops.popleft())
                moved = True

    # ------------------------------------------------------------------ events

    def _wanted(self, event: Event) -> bool:
        if isinstance(event, Completed | ResponseReceived):
            return event.handle in self._handles
        return isinstance(event.apdu, ApplicationMessage) and event.apdu.code == ATM_MESSAGE_CODE

    def _event(self, event: Event) -> None:
        current = self._current
        if isinstance(event, MessageReceived):
            self._atm_received(event)
            return
        if current is None or event.handle != current.handle:
            self._handles.discard(event.handle)
            return
        if isinstance(event, Completed):
            self._handles.discard(event.handle)
            current.completed = True
            if not event.success and current.success is None:
                current.success = False
            if event.success:
                current.acked_at = self._now
            return
        self._response(current, event)

    def _response(self, current: _InFlight, event: ResponseReceived) -> None:
        apdu = event.apdu
        if current.op.kind is _Kind.QUERY:
            try:
                current.found.append(QueryIdResponse.decode(apdu.encode()))
            except DecodeError:
                _log.info("ATM: a query ID answer that does not decode")
            return
        try:
            response = NmResponse.decode(apdu.encode())
        except DecodeError:
            current.success = False
            return
        current.success = response.success

    def _atm_received(self, event: MessageReceived) -> None:
        current = self._current
        try:
            assert isinstance(event.apdu, ApplicationMessage)
            message = decode_atm(event.apdu.data)
        except DecodeError:
            return
        if (
            current is not None
            and current.op.kind is _Kind.NEIGHBOURS
            and isinstance(message, NeighbourReport)
            and message.sequence == current.sequence
        ):
            current.report = message

    # ------------------------------------------------------------------ operations

    def _send(self, op: _Op, destination: Address, apdu: Apdu, service: Service, **options: object) -> None:
        proxied = bool(self.routes.peek(destination, self._now))
        handle = self.stack.send(destination, apdu, service, now=self._now, **options)  # type: ignore[arg-type]
        self._handles.add(handle)
        self._current = _InFlight(op, handle, self._now, proxied=proxied)

    def _start(self, op: _Op) -> None:
        record = self.meters.get(op.uid) if op.uid is not None else None
        if op.kind is _Kind.QUERY:
            self._start_query(op, record)
        elif op.kind is _Kind.KEYS:
            assert record is not None and record.address is not None and self.keys is not None
            self.keys.commission(record.address, record.unique_id, self._now)
            self._current = _InFlight(op, None, self._now)
        elif op.kind is _Kind.NEIGHBOURS:
            assert record is not None and record.address is not None
            self._sequence = (self._sequence + 1) & 0xFF
            message = NeighbourRequest(self._sequence, op.first)
            self._send(
                op, record.address, ApplicationMessage(ATM_MESSAGE_CODE, message.encode()), Service.ACKD
            )
            assert self._current is not None
            self._current.sequence = self._sequence
        else:
            assert record is not None
            self._send(
                op, UniqueIdAddress(0, record.unique_id), self._nm_request(op, record), Service.REQUEST
            )

    def _start_query(self, op: _Op, agent: MeterRecord | None) -> None:
        self.statistics.queries += 1
        query = QueryIdRequest(QueryIdSelector.UNCONFIGURED).to_apdu()
        if agent is None:
            self._send(
                op,
                BroadcastAddress(0),
                query,
                Service.REQUEST,
                domain_index=self.config.discovery_domain_index,
            )
            return
        assert agent.address is not None
        self.routes.broadcast_route = [*self.route_to(agent), agent.address]
        self._send(op, BroadcastAddress(0), query, Service.REQUEST)

    def _nm_request(self, op: _Op, record: MeterRecord) -> NetworkManagement:
        cfg = self.config
        address = record.address
        assert address is not None
        if op.kind is _Kind.DOMAIN:
            entry = DomainEntry(
                cfg.domain_id.ljust(6, b"\0"),
                address.destination_subnet,
                address.destination_node,
                len(cfg.domain_id),
                cfg.authentication_key,
            )
            return UpdateDomainRequest(0, entry).to_apdu()
        if op.kind is _Kind.GROUP:
            group = GroupAddressEntry(
                cfg.group, address.destination_node % 64, receive_timer=cfg.group_receive_timer
            )
            return UpdateGroupAddressRequest(group).to_apdu()
        if op.kind is _Kind.MODE:
            return SetNodeModeRequest(NodeMode.CHANGE_STATE, NodeState.CONFIGURED_ONLINE).to_apdu()
        return NetworkManagement(NM_LEAVE_DOMAIN, b"\x00")

    # ------------------------------------------------------------------ outcomes

    def _settle(self) -> bool:
        """Finish the operation in flight when its outcome is known; True when it finished."""
        current = self._current
        assert current is not None
        kind = current.op.kind
        timed_out = self._now >= (self.deadline() or self._now + 1)
        if kind is _Kind.KEYS:
            record = self.meters[current.op.uid or b""]
            assert record.address is not None and self.keys is not None
            ok = self.keys.established(record.address)
            if not ok and self._now < current.started + self.config.key_timeout:
                return False
            self._current = None
            self._step_done(current.op, record, ok)
            return True
        if kind is _Kind.NEIGHBOURS:
            if current.report is None and not timed_out and current.success is not False:
                return False
        elif not current.completed and not timed_out:
            return False
        self._current = None
        if current.handle is not None:
            self._handles.discard(current.handle)
        if current.proxied:
            self._quiet_until = self._now + self.config.quiet_after_proxy
        if kind is _Kind.QUERY:
            self._query_done(current)
        elif kind is _Kind.NEIGHBOURS:
            self._neighbours_done(current)
        else:
            record = self.meters[current.op.uid or b""]
            self._step_done(current.op, record, bool(current.success))
        return True

    def _query_done(self, current: _InFlight) -> None:
        op = current.op
        unique = {f.unique_id: f for f in current.found}
        found = [f for f in unique.values() if self._discovered(f, op.uid)]
        if not found:
            self.statistics.empty_queries += 1
            if op.uid is None and op.empty_rounds + 1 < self.config.direct_query_rounds:
                self._ops.appendleft(_Op(_Kind.QUERY, None, empty_rounds=op.empty_rounds + 1))
            elif not self._ops and not self._sweep():
                self._queue_neighbours()
            return
        again = _Op(_Kind.QUERY, op.uid)
        steps = [_Op(kind, f.unique_id) for f in found for kind in (_Kind.DOMAIN, _Kind.GROUP, _Kind.MODE)]
        for step in reversed([*steps, again]):
            self._ops.appendleft(step)

    def _sweep(self) -> bool:
        """End of a pass: a query lost on a weak link or to colliding answers finds nobody, and meters
        found but not commissioned are still unconfigured. Ask again (directly, then through every
        commissioned meter, the last commissioned first) until ``quiet_passes`` passes in a row found
        nobody new (at most ``sweeps`` passes; decision 0073). True when queries were queued."""
        if self._found_since_sweep:
            self._quiet = 0
        else:
            self._quiet += 1
        if self._sweeps_left <= 0 or self._quiet >= self.config.quiet_passes:
            return False
        self._sweeps_left -= 1
        self._found_since_sweep = 0
        for stuck in self.in_state(MeterState.DISCOVERED):  # its domain may have landed (then it is
            # silent to queries): commission it again by unique ID, through the route it was found on
            self._ops.extend(self._recommission(stuck))
        self._ops.append(_Op(_Kind.QUERY, empty_rounds=self.config.direct_query_rounds))
        for record in reversed(self.in_state(*_ON_NETWORK)):
            if len(record.via) < self.config.max_repeaters:
                self._ops.append(_Op(_Kind.QUERY, record.unique_id))
        return True

    def _recommission(self, record: MeterRecord) -> list[_Op]:
        """The commissioning steps again for a meter left discovered, each with ``step_attempts`` + 3
        tries: it was found on a weak link (decision 0073)."""
        first = 1 - 3
        relay = self._best_relay(record)
        if relay is not None and relay.address is not None:
            record.via = (*self.route_to(relay), relay.address)
        return [
            _Op(kind, record.unique_id, attempt=first) for kind in (_Kind.DOMAIN, _Kind.GROUP, _Kind.MODE)
        ]

    def _best_relay(self, record: MeterRecord) -> MeterRecord | None:
        """The commissioned meter whose neighbour report heard ``record`` most (None: no report did)."""
        if record.address is None:
            return None
        key = (record.address.destination_subnet, record.address.destination_node)
        best: tuple[int, MeterRecord] | None = None
        for (subnet, node), report in self._reports.items():
            heard = next((e.frames for e in report.entries if (e.subnet, e.node) == key), 0)
            relay = self.by_address(SubnetNodeAddress(subnet, node))
            if heard and relay is not None and (best is None or heard > best[0]):
                best = (heard, relay)
        return best[1] if best is not None else None

    def _discovered(self, answer: QueryIdResponse, agent_uid: bytes | None) -> bool:
        """Record a query ID answer; True when the meter is new to commissioning (not a duplicate)."""
        uid = answer.unique_id
        record = self.meters.get(uid)
        if record is None:
            if len(self.meters) >= MAX_METERS:
                return False
            record = MeterRecord(uid, answer.program_id)
            self.meters[uid] = record
        if record.state in _ON_NETWORK:
            return False
        agent = self.meters.get(agent_uid) if agent_uid is not None else None
        via: tuple[SubnetNodeAddress, ...] = ()
        if agent is not None and agent.address is not None:
            via = (*self.route_to(agent), agent.address)
        if len(via) > self.config.max_repeaters:
            return False
        if record.state is not MeterState.DISCOVERED:
            record.move(MeterState.DISCOVERED, self._now)
            self.statistics.discovered += 1
            self._found_since_sweep += 1
        record.via = via
        record.address = record.address or self._allocate(uid)
        _log.info("ATM: discovered %s through %d repeater(s)", uid.hex(), len(via))
        return record.address is not None

    def _allocate(self, uid: bytes) -> SubnetNodeAddress | None:
        if self.plan is not None:
            return self.plan(uid)
        used = {
            (r.address.destination_subnet, r.address.destination_node)
            for r in self.meters.values()
            if r.address is not None
        }
        while self._next_node <= 127:
            node = self._next_node
            self._next_node += 1
            if (1, node) not in used:
                return SubnetNodeAddress(1, node)
        return None

    def _step_done(self, op: _Op, record: MeterRecord, ok: bool) -> None:
        if not ok:
            self.statistics.failed_steps += 1
            if op.attempt < self.config.step_attempts:
                self._ops.appendleft(_Op(op.kind, op.uid, attempt=op.attempt + 1))
                return
            _log.warning("ATM: %s failed for %s", op.kind.value, record.unique_id.hex())
            if op.kind is _Kind.DOMAIN:
                return  # the answer may be what was lost: the group step (unicast, so only in a
                # configured domain) tells; if the domain did not land the meter stays discoverable
            if op.kind is _Kind.LEAVE:
                self._left(record)
            else:  # it stays discovered: drop the rest of its commissioning, a later query finds it again
                self._ops = deque(o for o in self._ops if o.uid != record.unique_id or o.kind is _Kind.QUERY)
            return
        if op.kind is _Kind.MODE:
            if self.keys is not None:
                self._ops.appendleft(_Op(_Kind.KEYS, record.unique_id))
            else:
                self._commissioned(record)
        elif op.kind is _Kind.KEYS:
            self._commissioned(record)
        elif op.kind is _Kind.LEAVE:
            self._left(record)

    def _commissioned(self, record: MeterRecord) -> None:
        record.move(MeterState.COMMISSIONED, self._now)
        record.commissioned_times += 1
        self.statistics.commissioned += 1
        if len(record.via) < self.config.max_repeaters:
            self._ops.append(_Op(_Kind.QUERY, record.unique_id))  # the next wave asks through it

    def _left(self, record: MeterRecord) -> None:
        record.move(MeterState.DECOMMISSIONED, self._now)
        self.statistics.decommissioned += 1
        if record.address is not None:
            self.paths.forget((record.address.destination_subnet, record.address.destination_node))

    # ------------------------------------------------------------------ neighbour tables

    def _queue_neighbours(self) -> None:
        self._reports.clear()
        for record in self.meters.values():
            if record.state in _ON_NETWORK:
                self._ops.append(_Op(_Kind.NEIGHBOURS, record.unique_id))

    def _neighbours_done(self, current: _InFlight) -> None:
        op = current.op
        record = self.meters[op.uid or b""]
        report = current.report
        if report is None:
            self.statistics.failed_steps += 1
            if op.attempt < self.config.step_attempts:
                self._ops.appendleft(_Op(_Kind.NEIGHBOURS, op.uid, op.first, op.attempt + 1))
            elif not any(o.kind is _Kind.NEIGHBOURS for o in self._ops):
                self._learn_paths()
            return
        self.statistics.neighbour_reports += 1
        assert record.address is not None
        key = (record.address.destination_subnet, record.address.destination_node)
        previous = self._reports.get(key)
        if previous is not None and report.first > 0:
            previous.entries.extend(report.entries)
        else:
            self._reports[key] = report
        following = report.first + len(report.entries)
        if report.entries and following < report.total:
            self._ops.appendleft(_Op(_Kind.NEIGHBOURS, op.uid, following))
        elif not any(o.kind is _Kind.NEIGHBOURS for o in self._ops):
            self._learn_paths()

    def _learn_paths(self) -> None:
        """Every report collected: observed links (F.4.3) for the path manager (decision 0071)."""
        sent = {key: report.frames_sent for key, report in self._reports.items()}
        source = self.paths.source
        sent[source] = _frames_sent(self.stack)
        for key, report in self._reports.items():
            heard = {(e.subnet, e.node): e.frames for e in report.entries}
            self.paths.observe_table(key, qualities(heard, sent), self._now)
        own: dict[tuple[int, int], int] = getattr(self.stack, "heard", {})
        self.paths.observe_table(source, qualities(own, sent), self._now)
        if self._ask_missing_reports():
            return
        stuck = self.in_state(MeterState.DISCOVERED)
        if stuck and self._sweeps_left > 0:  # found on a weak link and its commissioning failed there:
            # the neighbour tables may show a better route (decision 0073)
            self._sweeps_left -= 1
            for record in stuck:
                self._ops.extend(self._recommission(record))

    def _ask_missing_reports(self) -> bool:
        """Ask again, through the best relay, the on-network meters whose neighbour table did not arrive
        (at most ``report_passes`` times); True when requests were queued."""
        if self._report_passes <= 0:
            return False
        missing = [
            r
            for r in self.in_state(*_ON_NETWORK)
            if r.address is not None
            and (key := (r.address.destination_subnet, r.address.destination_node)) not in self._reports
            and key not in self.paths.relearn
        ]
        if not missing:
            return False
        self._report_passes -= 1
        for record in missing:
            relay = self._best_relay(record)
            if relay is not None and relay.address is not None and relay is not record:
                chain = (*self.route_to(relay), relay.address)
                if record.address not in chain and len(chain) <= self.config.max_repeaters:
                    record.via = chain
            self._ops.append(_Op(_Kind.NEIGHBOURS, record.unique_id))
        return True


__all__ = [
    "ATM_MESSAGE_CODE",
    "TRANSITIONS",
    "AtmAgent",
    "AtmConfig",
    "AtmError",
    "AtmErrorMessage",
    "AtmManager",
    "AtmMessage",
    "AtmMessageType",
    "AtmResult",
    "AtmRole",
    "AtmRoutes",
    "AtmStatistics",
    "KeyCommissioner",
    "MeterRecord",
    "MeterState",
    "NeighbourEntry",
    "NeighbourReport",
    "NeighbourRequest",
    "StatusReport",
    "StatusRequest",
    "decode_atm",
]
