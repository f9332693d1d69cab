"""ADP_DATA.request / .indication / .confirm (IEC 62056-8-8, 5.4.2): the adaptation layer service, sans-IO.

:class:`AdpService` sits on top of anything that can "send an application message with service X to a
destination" (:class:`AdpLowerLayer`; the 14908-1 stack or a test double) and is fed what that layer
reports: :meth:`AdpService.message_received` for every application message that arrives and
:meth:`AdpService.completed` for the outcome of every ``send``. It never reads a clock: callers pass
``now`` (seconds, monotonic) and call :meth:`AdpService.timer_expired` at :meth:`AdpService.deadline`.
What the service has to tell its user (indications, confirms, dropped PDUs) is queued and taken with
:meth:`AdpService.drain_events`.

Design (decision 0012; the standard's text is not public):

* Service choice: DATA PDUs to one node use ISO/IEC 14908-1 *acknowledged* service (ACKD) in both
  directions; with ``request_response`` (decision 0093, on in the DLMS endpoints) a client's
  unsegmented, answered DATA goes as a REQUEST and the server's answer rides in the RESPONSE.
  DATA to a broadcast or group address uses *unacknowledged-repeated* (UNACKD_RPT). SEGMENT_ACK and
  ABORT use *unacknowledged* service (a lost one is recovered by the sender's timers). All three are
  configurable (:class:`AdpConfig`).
* Segments of one APDU are sent one at a time: segment k+1 leaves when the 14908-1 transaction of
  segment k completed (and, with ``segment_acks``, when the peer's SEGMENT_ACK for k arrived). APDUs to
  the same destination are queued and sent in order, one transfer at a time (bounded queue).
* A transfer whose segment fails at the 14908-1 level is confirmed LOWER_LAYER_FAILURE and an ABORT is
  sent so the receiver frees its buffer; a receiver that abandons a reassembly (timeout, eviction,
  sequence or length error) sends an ABORT and the sender's confirm says ABORTED_BY_PEER.
* Addressing: the 14908-1 destination of a request is given explicitly or found in the
  :class:`AddressTable` under the remote SAP (server SAP for a client, client SAP for a server); the
  all-station server SAP maps to a domain-wide broadcast. A server learns the address of each client
  SAP from its requests (``learn_addresses``), so responses and later pushes reach the right NNAP.
* Protection: the client SAPs of ``protected_client_saps`` (Table 2 default: management, NNAP and
  broadcast clients) must use the protected form in both directions; an unprotected PDU for them is
  dropped. The suite is chosen per peer and suite id by a :class:`SecuritySuiteResolver`. The null suite
  (id 0) protects nothing: a protected SAP refuses it in both directions unless ``allow_null_suite``.
* Auxiliary protocols (:class:`AdpAuxiliary`, e.g. the OSGP-AES-128-PSK key management of
  :mod:`cosemnet.profiles.lon.osgp_aes`) share the lower layer with their own message code and run on the
  ADP's clock (``tick``, ``deadline``).
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Final, Protocol, runtime_checkable

from cosemnet.errors import DecodeError, EncodeError
from cosemnet.profiles.lon.addresses import (
    Address,
    BroadcastAddress,
    GroupAddress,
    MulticastAckAddress,
    SubnetNodeAddress,
    UniqueIdAddress,
)
from cosemnet.profiles.lon.adp import (
    ADP_MESSAGE_CODE,
    NULL_SUITE_ID,
    AbortReason,
    AdpAbort,
    AdpData,
    AdpDirection,
    AdpPdu,
    AdpSecuritySuite,
    AdpSegmentAck,
    NullSecuritySuite,
    Segmentation,
    decode_adp_pdu,
    protect_pdu,
    unprotect_payload,
)
from cosemnet.profiles.lon.lon_apdu import ApplicationMessage
from cosemnet.profiles.lon.sap import ALL_STATION, SapRole, protected_client_saps
from cosemnet.profiles.lon.segmentation import (
    Reassembler,
    ReassemblyKey,
    ReassemblyStatus,
    SegmentationConfig,
    SegmentSpec,
    plan_segments,
)
from cosemnet.profiles.lon.transaction import Service

LonService = Service
"""The ISO/IEC 14908-1 message services (the stack's own enum: ACKD, UNACKD_RPT, UNACKD, REQUEST)."""


class AdpLowerLayer(Protocol):
    """What the ADP needs from the 14908-1 stack (:class:`~cosemnet.profiles.lon.stack.LonStack` fits).

    ``send`` queues one application message and returns a handle; the stack later reports exactly one
    completion for it, which the integration passes to :meth:`AdpService.completed` (success = the
    transaction was acknowledged for ACKD, or all repetitions were sent for the unacknowledged services).
    """

    def send(self, destination: Address, apdu: ApplicationMessage, service: LonService) -> Hashable: ...


class AdpResponder(Protocol):
    """The 14908-1 session layer's answer to a REQUEST (:meth:`LonStack.respond` fits): the RESPONSE
    carries ``apdu`` and is kept in the receive record, so a repeated REQUEST gets it again. False when
    the request is unknown, already answered or its record expired."""

    def respond(self, request_id: int, apdu: ApplicationMessage | None, now: float) -> bool: ...


class AdpPrioritySender(Protocol):
    """A lower layer that can send on the 14908-1 priority channel (``LonStack.send`` fits)."""

    def send(
        self, destination: Address, apdu: ApplicationMessage, service: LonService, *, priority: bool = False
    ) -> Hashable: ...


class AdpAuxiliary(Protocol):
    """A protocol beside the ADP on the same 14908-1 stack, with its own application message code.

    :meth:`AdpService.attach` hands it the lower layer; messages with ``message_code`` go to
    ``message_received``; ``tick(now)`` runs before the ADP handles anything and at the ADP timers, so
    the auxiliary sees the time and runs its own timers (``deadline``); ``pending`` counts its work in
    progress (kept in :meth:`AdpService.pending`).
    """

    @property
    def message_code(self) -> int: ...

    def attach(self, lower: AdpLowerLayer) -> None: ...

    def message_received(self, source: Address, apdu: ApplicationMessage, now: float) -> None: ...

    def tick(self, now: float) -> None: ...

    def deadline(self) -> float | None: ...

    def pending(self) -> int: ...


@runtime_checkable
class AdpSendListener(Protocol):
    """An auxiliary told the outcome of its own sends (the completions the ADP does not own)."""

    def send_completed(self, handle: Hashable, success: bool, now: float) -> None: ...


class AuxiliaryLower:
    """The lower layer an auxiliary sends through (:meth:`AdpService.attach`): while it handles a 14908-1
    REQUEST, its first message to the requester goes in the RESPONSE (one frame instead of an ACKD
    message and its ACK); ``priority=True`` sends on the 14908-1 priority channel when the ADP has a
    priority sender (docs/decisions/0094, management traffic)."""

    __slots__ = ("adp",)

    def __init__(self, adp: AdpService) -> None:
        self.adp = adp

    def send(
        self, destination: Address, apdu: ApplicationMessage, service: LonService, *, priority: bool = False
    ) -> Hashable:
        adp = self.adp
        pending = adp.auxiliary_request
        if pending is not None and adp.responder is not None and pending[0] == address_key(destination):
            adp.auxiliary_request = None
            if adp.responder.respond(pending[1], apdu, adp.now):
                return ("response", pending[1])
        if priority and adp.priority_sender is not None:
            return adp.priority_sender.send(destination, apdu, service, priority=True)
        return adp.lower.send(destination, apdu, service)


class SecuritySuiteResolver(Protocol):
    """Finds the security suite (with its keys) for a peer and suite id; None if there is none."""

    def suite_for(self, peer: Address, suite_id: int) -> AdpSecuritySuite | None: ...


class StaticSuites:
    """The same suites for every peer, by suite id (default: only the null suite)."""

    __slots__ = ("_suites",)

    def __init__(self, suites: Mapping[int, AdpSecuritySuite] | None = None) -> None:
        self._suites: dict[int, AdpSecuritySuite] = (
            dict(suites) if suites is not None else {NULL_SUITE_ID: NullSecuritySuite()}
        )

    def suite_for(self, peer: Address, suite_id: int) -> AdpSecuritySuite | None:
        return self._suites.get(suite_id)


class AddressTable:
    """Remote SAP -> 14908-1 destination address.

    In a client the key is the server SAP (``ALL_STATION`` maps to a domain-wide broadcast unless
    rebound); in a server it is the client SAP (learned from requests or configured).
    """

    __slots__ = ("_table",)

    def __init__(self, bindings: Mapping[int, Address] | None = None) -> None:
        self._table: dict[int, Address] = {ALL_STATION: BroadcastAddress(0)}
        self._table.update(bindings or {})

    def bind(self, sap: int, address: Address) -> None:
        self._table[sap] = address

    def unbind(self, sap: int) -> None:
        self._table.pop(sap, None)

    def lookup(self, sap: int) -> Address | None:
        return self._table.get(sap)

    def __len__(self) -> int:
        return len(self._table)


@dataclass(frozen=True, slots=True)
class AdpConfig:
    """Adaptation-layer settings (defaults: decision 0012)."""

    message_code: int = ADP_MESSAGE_CODE
    segmentation: SegmentationConfig = field(default_factory=SegmentationConfig)
    unicast_service: LonService = LonService.ACKD
    broadcast_service: LonService = LonService.UNACKD_RPT
    control_service: LonService = LonService.UNACKD
    protected_client_saps: frozenset[int] = field(default_factory=protected_client_saps)
    send_suite_id: int = NULL_SUITE_ID
    segment_acks: bool = False
    segment_ack_timeout: float = 10.0
    segment_retries: int = 2
    max_queued_per_destination: int = 8
    learn_addresses: bool = True
    allow_null_suite: bool = False
    """Accept / send the null suite on protected client SAPs (it protects nothing: off by default)."""
    request_response: bool = False
    """[design, docs/decisions/0093] A client's unsegmented DATA to one node goes as a 14908-1 REQUEST
    and the server's first answering segment travels in the RESPONSE (2 frames per exchange instead of
    4); needs an :class:`AdpResponder` on the server side. Off: ACKD both ways (decision 0012)."""
    max_open_requests: int = 64
    """REQUESTs a server remembers to answer at once (per node and SAP pair; the oldest is forgotten and
    its answer goes ACKD)."""

    def __post_init__(self) -> None:
        if not ApplicationMessage.CODE_MIN <= self.message_code <= ApplicationMessage.CODE_MAX:
            raise ValueError("message_code must be an application message code 0x00..0x3F")
        if self.segment_ack_timeout <= 0 or self.segment_retries < 0 or self.max_queued_per_destination < 1:
            raise ValueError("invalid segment acknowledgement or queue settings")


class AdpResult(IntEnum):
    """Result of an ADP_DATA.confirm."""

    SUCCESS = 0
    LOWER_LAYER_FAILURE = 1
    ABORTED_BY_PEER = 2
    ACK_TIMEOUT = 3
    QUEUE_FULL = 4
    NO_ADDRESS = 5
    NO_SECURITY_SUITE = 6


@dataclass(slots=True)
class AdpDataIndication:
    """ADP_DATA.indication: a whole APDU arrived from ``source``."""

    source: Address
    direction: AdpDirection
    client_sap: int
    server_sap: int
    apdu: bytes
    protected: bool


@dataclass(slots=True)
class AdpDataConfirm:
    """ADP_DATA.confirm: the outcome of the request ``request_id``."""

    request_id: int
    result: AdpResult
    abort_reason: AbortReason | None = None


@dataclass(slots=True)
class AdpDropped:
    """A received PDU was discarded, or an incoming transfer abandoned (diagnostics, counters)."""

    source: Address
    reason: str


AdpEvent = AdpDataIndication | AdpDataConfirm | AdpDropped

PeerKey = tuple[str, int | bytes]


def address_key(address: Address) -> PeerKey:
    """A hashable identity of a node or destination (selector bits and routing subnets ignored)."""
    if isinstance(address, SubnetNodeAddress | MulticastAckAddress):
        return ("node", (address.destination_subnet << 8) | address.destination_node)
    if isinstance(address, UniqueIdAddress):
        return ("unique", bytes(address.unique_id))
    if isinstance(address, GroupAddress):
        return ("group", address.group)
    return ("broadcast", address.destination_subnet)


def _address_from_key(key: PeerKey) -> Address:
    kind, value = key
    if kind == "node" and isinstance(value, int):
        return SubnetNodeAddress(value >> 8, value & 0x7F)
    if kind == "unique" and isinstance(value, bytes):
        return UniqueIdAddress(0, value)
    if kind == "group" and isinstance(value, int):
        return GroupAddress(value)
    return BroadcastAddress(value if isinstance(value, int) else 0)


def _is_multicast(address: Address) -> bool:
    return isinstance(address, BroadcastAddress | GroupAddress)


@dataclass(slots=True)
class _Transfer:
    request_id: int
    destination: Address
    destination_key: PeerKey
    service: LonService
    direction: AdpDirection
    client_sap: int
    server_sap: int
    suite: AdpSecuritySuite | None
    message_id: int | None
    specs: list[SegmentSpec]
    want_acks: bool
    respond_to: int = 0
    """Server: the 14908-1 REQUEST whose RESPONSE carries the first segment (0: none)."""
    priority: bool = False
    index: int = 0
    handle: Hashable | None = None
    lower_done: bool = False
    acked: int = -1
    ack_deadline: float | None = None
    retries: int = 0


MAX_DROPPED_DETAIL: Final = 120


class AdpService:
    """The adaptation layer of one node (an NNAP / client or an LNAP / server)."""

    def __init__(
        self,
        lower: AdpLowerLayer,
        role: SapRole,
        *,
        config: AdpConfig | None = None,
        address_table: AddressTable | None = None,
        suites: SecuritySuiteResolver | None = None,
        responder: AdpResponder | None = None,
        priority_sender: AdpPrioritySender | None = None,
    ) -> None:
        self.lower = lower
        self.responder = responder
        """Answers REQUESTs (server side of ``request_response``; None: every answer goes ACKD)."""
        self.priority_sender = priority_sender
        """Sends ``priority=True`` DATA (None: priority requests go on the normal channel)."""
        self.role = role
        self.config = config if config is not None else AdpConfig()
        self.address_table = address_table if address_table is not None else AddressTable()
        self.suites: SecuritySuiteResolver = suites if suites is not None else StaticSuites()
        self.reassembler = Reassembler(self.config.segmentation)
        self.send_direction = (
            AdpDirection.CLIENT_TO_SERVER if role == SapRole.CLIENT else AdpDirection.SERVER_TO_CLIENT
        )
        self._events: list[AdpEvent] = []
        self._queues: dict[PeerKey, deque[_Transfer]] = {}
        self._by_handle: dict[Hashable, _Transfer] = {}
        self._next_request_id = 1
        self._next_message_id = 0
        self.auxiliaries: list[AdpAuxiliary] = []
        self._open_requests: dict[tuple[PeerKey, int, int], int] = {}
        """Server: (node, client SAP, server SAP) -> id of the REQUEST its next answer responds to."""
        self._now = 0.0
        self.auxiliary_request: tuple[PeerKey, int] | None = None
        """(node, REQUEST id) an auxiliary is handling: its first message to that node is the RESPONSE."""

    def attach(self, auxiliary: AdpAuxiliary) -> None:
        """Run ``auxiliary`` beside the ADP (its messages, its timers) on the same lower layer, through an
        :class:`AuxiliaryLower` (RESPONSEs to REQUESTs, the priority channel)."""
        auxiliary.attach(AuxiliaryLower(self))
        self.auxiliaries.append(auxiliary)

    @property
    def now(self) -> float:
        """The latest time the ADP was given."""
        return self._now

    def _tick(self, now: float) -> None:
        self._now = max(self._now, now)
        for auxiliary in self.auxiliaries:
            auxiliary.tick(now)

    # ----------------------------------------------------------------------------------------------
    # User side

    def drain_events(self) -> list[AdpEvent]:
        """Take the indications, confirms and diagnostics produced so far."""
        events, self._events = self._events, []
        return events

    def data_request(
        self,
        client_sap: int,
        server_sap: int,
        apdu: bytes,
        now: float,
        *,
        destination: Address | None = None,
        protected: bool | None = None,
        priority: bool = False,
        answered: bool = True,
    ) -> int:
        """ADP_DATA.request: send ``apdu`` between the two SAPs; returns the id its confirm will carry.

        ``destination`` defaults to the address table entry of the remote SAP; ``protected`` defaults to
        the SAP policy; ``priority`` sends on the 14908-1 priority channel (with a ``priority_sender``);
        ``answered``: the peer answers this APDU (False for unconfirmed services: never a REQUEST).
        The 14908-1 service is chosen per exchange (docs/decisions/0093): a client's unsegmented unicast
        DATA goes REQUEST with ``request_response``, a server's answer to such a REQUEST goes in its
        RESPONSE, everything else unicast ACKD and multicast UNACKD_RPT.

        :class:`EncodeError` for an invalid SAP, an empty APDU, one longer than
        ``max_apdu_length`` or one needing more than 256 segments of this frame budget; every other
        failure arrives as an :class:`AdpDataConfirm`.
        """
        if not 0 <= client_sap <= 255 or not 0 <= server_sap <= 255:
            raise EncodeError("SAPs are one byte")
        self._tick(now)
        data = bytes(apdu)
        limit = self.config.segmentation.max_apdu_length
        if len(data) > limit:
            raise EncodeError(f"APDU of {len(data)} bytes exceeds max_apdu_length {limit}")
        request_id = self._next_request_id
        self._next_request_id += 1
        remote = server_sap if self.role == SapRole.CLIENT else client_sap
        target = destination if destination is not None else self.address_table.lookup(remote)
        if target is None:
            self._events.append(AdpDataConfirm(request_id, AdpResult.NO_ADDRESS))
            return request_id
        if protected is None:
            protected = client_sap in self.config.protected_client_saps
        suite = self._send_suite(target, client_sap) if protected else None
        if protected and suite is None:
            self._events.append(AdpDataConfirm(request_id, AdpResult.NO_SECURITY_SUITE))
            return request_id
        specs = plan_segments(
            data, self.config.segmentation.max_message_data, suite.overhead if suite is not None else None
        )
        multicast = _is_multicast(target)
        message_id = None
        if len(specs) > 1:
            message_id = self._next_message_id
            self._next_message_id = (self._next_message_id + 1) & 0xFF
        transfer = _Transfer(
            request_id,
            target,
            address_key(target),
            self._service(multicast, len(specs) if answered else 0),
            self.send_direction,
            client_sap,
            server_sap,
            suite,
            message_id,
            specs,
            self.config.segment_acks and len(specs) > 1 and not multicast,
            0 if multicast else self._open_requests.pop((address_key(target), client_sap, server_sap), 0),
            priority,
        )
        queue = self._queues.setdefault(transfer.destination_key, deque())
        if len(queue) >= self.config.max_queued_per_destination:
            self._events.append(AdpDataConfirm(request_id, AdpResult.QUEUE_FULL))
            return request_id
        queue.append(transfer)
        if len(queue) == 1:
            self._send_current(transfer)
        return request_id

    def _service(self, multicast: bool, segments: int) -> LonService:
        """The 14908-1 service of a new transfer (docs/decisions/0093)."""
        if multicast:
            return self.config.broadcast_service
        if (
            self.config.request_response
            and self.role == SapRole.CLIENT
            and segments == 1
            and self.config.unicast_service is LonService.ACKD
        ):
            return LonService.REQUEST
        return self.config.unicast_service

    def open_requests(self) -> int:
        """Server: REQUESTs delivered whose answer has not been sent yet."""
        return len(self._open_requests)

    def segmenting(self) -> bool:
        """A segmented transfer is in progress, incoming or outgoing (the scheduler paces on it)."""
        if self.reassembler.in_progress():
            return True
        return any(len(q[0].specs) > 1 for q in self._queues.values() if q)

    def release_requests(self) -> int:
        """Server: close the REQUESTs the user did not answer (null response: nothing is sent and the
        requester's transaction fails, as the 14908-1 session layer does); returns how many."""
        released = len(self._open_requests)
        if self.responder is not None:
            for request_id in self._open_requests.values():
                self.responder.respond(request_id, None, self._now)
        self._open_requests.clear()
        return released

    def pending(self) -> int:
        """Requests not yet confirmed (and work in progress of the auxiliaries)."""
        return sum(len(q) for q in self._queues.values()) + sum(a.pending() for a in self.auxiliaries)

    # ----------------------------------------------------------------------------------------------
    # Lower-layer side

    def completed(self, handle: Hashable, success: bool, now: float) -> None:
        """The 14908-1 stack finished the ``send`` that returned ``handle``."""
        transfer = self._by_handle.pop(handle, None)
        if transfer is None:
            for auxiliary in self.auxiliaries:
                if isinstance(auxiliary, AdpSendListener):
                    auxiliary.send_completed(handle, success, now)
            return
        if transfer.handle != handle:
            return
        transfer.handle = None
        if not success:
            if transfer.message_id is not None:
                self._send_abort(
                    transfer.destination,
                    transfer.direction,
                    transfer.client_sap,
                    transfer.server_sap,
                    transfer.message_id,
                    AbortReason.LOWER_LAYER_FAILURE,
                )
            self._finish(transfer, AdpResult.LOWER_LAYER_FAILURE)
            return
        transfer.lower_done = True
        self._maybe_advance(transfer, now)

    def message_received(
        self, source: Address, apdu: ApplicationMessage, now: float, request_id: int = 0
    ) -> None:
        """An application message arrived from ``source`` (messages with another code are ignored).

        ``request_id``: non-zero when it came as a 14908-1 REQUEST (:attr:`MessageReceived.request_id`);
        a server then answers the APDU it completes in the RESPONSE (docs/decisions/0093)."""
        self._tick(now)
        if apdu.code != self.config.message_code:
            for auxiliary in self.auxiliaries:
                if apdu.code == auxiliary.message_code:
                    self._auxiliary_message(auxiliary, source, apdu, now, request_id)
            return
        try:
            pdu = decode_adp_pdu(apdu.data)
        except DecodeError as exc:
            self._drop(source, f"malformed ADP PDU: {exc}")
            return
        payload = self._open(source, pdu)
        if payload is not None:
            if isinstance(pdu, AdpData):
                self._on_data(source, pdu, payload, now, request_id)
            elif isinstance(pdu, AdpSegmentAck):
                self._on_ack(source, pdu, now)
            else:
                self._on_abort(source, pdu)
        self._tick(now)  # auxiliaries answer what the suite saw (e.g. an error message for a rejected PDU)

    def _auxiliary_message(
        self, auxiliary: AdpAuxiliary, source: Address, apdu: ApplicationMessage, now: float, request_id: int
    ) -> None:
        """Hand a message to an auxiliary; a REQUEST it does not answer at once gets a null response."""
        answerable = bool(request_id) and self.responder is not None
        self.auxiliary_request = (address_key(source), request_id) if answerable else None
        try:
            auxiliary.message_received(source, apdu, now)
        finally:
            unanswered, self.auxiliary_request = self.auxiliary_request, None
        if unanswered is not None and self.responder is not None:
            self.responder.respond(unanswered[1], None, now)

    def deadline(self) -> float | None:
        """When :meth:`timer_expired` must next be called (None: no timer running)."""
        times = [t.ack_deadline for q in self._queues.values() for t in q if t.ack_deadline is not None]
        reassembly = self.reassembler.deadline()
        if reassembly is not None:
            times.append(reassembly)
        for auxiliary in self.auxiliaries:
            due = auxiliary.deadline()
            if due is not None:
                times.append(due)
        return min(times) if times else None

    def timer_expired(self, now: float) -> None:
        """Run the timers due at ``now``: reassembly timeouts and segment acknowledgement timeouts."""
        self._tick(now)
        for expired in self.reassembler.expire(now):
            self._abort_incoming(expired.key, expired.reason, "reassembly timed out")
        for queue in list(self._queues.values()):
            if not queue:
                continue
            transfer = queue[0]
            if transfer.ack_deadline is None or transfer.ack_deadline > now:
                continue
            transfer.ack_deadline = None
            if transfer.retries < self.config.segment_retries:
                transfer.retries += 1
                self._send_current(transfer)
                continue
            assert transfer.message_id is not None  # acks are only awaited for segments
            self._send_abort(
                transfer.destination,
                transfer.direction,
                transfer.client_sap,
                transfer.server_sap,
                transfer.message_id,
                AbortReason.ACK_TIMEOUT,
            )
            self._finish(transfer, AdpResult.ACK_TIMEOUT)

    # ----------------------------------------------------------------------------------------------
    # Sending

    def _send_pdu(
        self, destination: Address, pdu: AdpPdu, service: LonService, priority: bool = False
    ) -> Hashable:
        message = ApplicationMessage(self.config.message_code, pdu.encode())
        if priority and self.priority_sender is not None:
            return self.priority_sender.send(destination, message, service, priority=True)
        return self.lower.send(destination, message, service)

    def _respond(self, t: _Transfer, pdu: AdpPdu) -> bool:
        """Send the first segment of an answer in the RESPONSE to its REQUEST; False: send it ACKD."""
        request_id, t.respond_to = t.respond_to, 0
        if self.responder is None or not request_id or t.index != 0:
            return False
        message = ApplicationMessage(self.config.message_code, pdu.encode())
        if not self.responder.respond(request_id, message, self._now):
            return False
        t.lower_done = True
        self._maybe_advance(t, self._now)
        return True

    def _send_current(self, t: _Transfer) -> None:
        spec = t.specs[t.index]
        pdu = AdpData(
            t.direction,
            t.client_sap,
            t.server_sap,
            spec.chunk,
            spec.segmentation,
            t.message_id if spec.segmentation != Segmentation.UNSEGMENTED else None,
            spec.total_length,
            spec.segment_number,
            t.want_acks,
        )
        if t.suite is not None:
            protect_pdu(pdu, t.suite, spec.chunk)
        t.lower_done = False
        if t.respond_to and self._respond(t, pdu):
            return
        handle = self._send_pdu(t.destination, pdu, t.service, t.priority)
        t.handle = handle
        self._by_handle[handle] = t

    def _maybe_advance(self, t: _Transfer, now: float) -> None:
        if not t.lower_done:
            return
        if t.want_acks and t.acked < t.index:
            if t.ack_deadline is None:
                t.ack_deadline = now + self.config.segment_ack_timeout
            return
        t.ack_deadline = None
        t.index += 1
        t.retries = 0
        if t.index >= len(t.specs):
            self._finish(t, AdpResult.SUCCESS)
        else:
            self._send_current(t)

    def _finish(self, t: _Transfer, result: AdpResult, reason: AbortReason | None = None) -> None:
        if t.handle is not None:
            self._by_handle.pop(t.handle, None)
            t.handle = None
        t.ack_deadline = None
        self._events.append(AdpDataConfirm(t.request_id, result, reason))
        queue = self._queues.get(t.destination_key)
        if queue and queue[0] is t:
            queue.popleft()
            if queue:
                self._send_current(queue[0])
            else:
                del self._queues[t.destination_key]

    def _send_suite(self, peer: Address, client_sap: int) -> AdpSecuritySuite | None:
        if (
            self.config.send_suite_id == NULL_SUITE_ID
            and client_sap in self.config.protected_client_saps
            and not self.config.allow_null_suite
        ):
            return None
        return self.suites.suite_for(peer, self.config.send_suite_id)

    def _control_suite(self, peer: Address, client_sap: int) -> AdpSecuritySuite | None:
        if client_sap not in self.config.protected_client_saps:
            return None
        return self._send_suite(peer, client_sap)

    def _send_control(self, peer: Address, pdu: AdpSegmentAck | AdpAbort) -> None:
        suite = self._control_suite(peer, pdu.client_sap)
        if suite is not None:
            protect_pdu(pdu, suite, b"")
        elif pdu.client_sap in self.config.protected_client_saps:
            return  # no suite for a SAP that must be protected: say nothing rather than unprotected
        self._send_pdu(peer, pdu, self.config.control_service)

    def _send_abort(
        self,
        peer: Address,
        direction: AdpDirection,
        client_sap: int,
        server_sap: int,
        message_id: int,
        reason: AbortReason,
    ) -> None:
        if _is_multicast(peer):
            return
        self._send_control(peer, AdpAbort(direction, client_sap, server_sap, message_id, reason))

    # ----------------------------------------------------------------------------------------------
    # Receiving

    def _drop(self, source: Address, reason: str) -> None:
        self._events.append(AdpDropped(source, reason[:MAX_DROPPED_DETAIL]))

    def _open(self, source: Address, pdu: AdpPdu) -> bytes | None:
        """The plaintext payload, or None (and a drop event) when the protection policy refuses it."""
        if pdu.security_suite_id is None:
            if pdu.client_sap in self.config.protected_client_saps:
                self._drop(source, f"unprotected PDU for protected client SAP {pdu.client_sap}")
                return None
            return pdu.payload
        if (
            pdu.security_suite_id == NULL_SUITE_ID
            and pdu.client_sap in self.config.protected_client_saps
            and not self.config.allow_null_suite
        ):
            self._drop(source, f"null suite refused on protected client SAP {pdu.client_sap}")
            return None
        suite = self.suites.suite_for(source, pdu.security_suite_id)
        if suite is None:
            self._drop(source, f"no security suite {pdu.security_suite_id}")
            return None
        try:
            return unprotect_payload(pdu, suite)
        except DecodeError as exc:
            self._drop(source, f"security check failed: {exc.reason}")
            return None

    def _on_data(
        self, source: Address, pdu: AdpData, payload: bytes, now: float, request_id: int = 0
    ) -> None:
        if pdu.direction == self.send_direction:
            self._drop(source, f"DATA in direction {pdu.direction.name} to a {self.role.name}")
            return
        plain = dataclasses.replace(pdu, payload=payload)
        peer = address_key(source)
        outcome = self.reassembler.receive(peer, plain, now)
        for key in outcome.evicted:
            self._abort_incoming(key, AbortReason.RESOURCES_EXHAUSTED, "reassembly evicted")
        if outcome.status == ReassemblyStatus.ABORTED:
            assert outcome.key is not None and outcome.abort_reason is not None
            self._abort_incoming(outcome.key, outcome.abort_reason, "reassembly aborted", source)
            return
        if outcome.status == ReassemblyStatus.UNKNOWN:
            self._drop(source, "segment of no transfer in progress")
            return
        if pdu.ack_request and pdu.message_id is not None and outcome.ack_segment is not None:
            ack = AdpSegmentAck(
                pdu.direction, pdu.client_sap, pdu.server_sap, pdu.message_id, outcome.ack_segment
            )
            self._send_control(source, ack)
        if outcome.status == ReassemblyStatus.COMPLETE and outcome.apdu is not None:
            if (
                self.role == SapRole.SERVER
                and self.config.learn_addresses
                and isinstance(source, SubnetNodeAddress | UniqueIdAddress)
            ):
                self.address_table.bind(pdu.client_sap, source)
            if request_id and self.role == SapRole.SERVER and self.responder is not None:
                self._note_request((peer, pdu.client_sap, pdu.server_sap), request_id)
            self._events.append(
                AdpDataIndication(
                    source, pdu.direction, pdu.client_sap, pdu.server_sap, outcome.apdu, pdu.protected
                )
            )

    def _note_request(self, key: tuple[PeerKey, int, int], request_id: int) -> None:
        self._open_requests.pop(key, None)
        self._open_requests[key] = request_id
        while len(self._open_requests) > self.config.max_open_requests:
            del self._open_requests[next(iter(self._open_requests))]

    def _abort_incoming(
        self, key: ReassemblyKey, reason: AbortReason, text: str, source: Address | None = None
    ) -> None:
        peer_key, direction, client_sap, server_sap, message_id = key
        peer = source
        if peer is None:
            assert isinstance(peer_key, tuple)
            peer = _address_from_key(peer_key)
        self._drop(peer, f"{text}: {reason.name} (message {message_id})")
        self._send_abort(peer, direction, client_sap, server_sap, message_id, reason)

    def _find_outgoing(self, source: Address, pdu: AdpSegmentAck | AdpAbort) -> _Transfer | None:
        """The transfer in progress an ACK / ABORT refers to (message ids are allocated per service, so
        they are unique among transfers in progress; a node-addressed transfer must hear from that node)."""
        source_key = address_key(source)
        for queue in self._queues.values():
            t = queue[0]
            if (
                t.message_id == pdu.message_id
                and t.client_sap == pdu.client_sap
                and t.server_sap == pdu.server_sap
                and (
                    t.destination_key[0] != "node"
                    or source_key[0] != "node"
                    or t.destination_key == source_key
                )
            ):
                return t
        return None

    def _on_ack(self, source: Address, pdu: AdpSegmentAck, now: float) -> None:
        t = self._find_outgoing(source, pdu) if pdu.direction == self.send_direction else None
        if t is None or not t.want_acks:
            self._drop(source, f"SEGMENT_ACK of no transfer (message {pdu.message_id})")
            return
        if pdu.segment_number > t.acked:
            t.acked = min(pdu.segment_number, t.index)
        self._maybe_advance(t, now)

    def _on_abort(self, source: Address, pdu: AdpAbort) -> None:
        if pdu.direction == self.send_direction:
            t = self._find_outgoing(source, pdu)
            if t is None:
                self._drop(source, f"ABORT of no transfer (message {pdu.message_id})")
                return
            self._finish(t, AdpResult.ABORTED_BY_PEER, pdu.reason)
            return
        key: ReassemblyKey = (
            address_key(source),
            pdu.direction,
            pdu.client_sap,
            pdu.server_sap,
            pdu.message_id,
        )
        if not self.reassembler.abort(key):
            self._drop(source, f"ABORT of no reassembly (message {pdu.message_id})")


__all__ = [
    "AddressTable",
    "AdpAuxiliary",
    "AdpConfig",
    "AdpDataConfirm",
    "AdpDataIndication",
    "AdpDropped",
    "AdpEvent",
    "AdpLowerLayer",
    "AdpPrioritySender",
    "AdpResponder",
    "AdpResult",
    "AdpSendListener",
    "AdpService",
    "AuxiliaryLower",
    "LonService",
    "SecuritySuiteResolver",
    "StaticSuites",
    "address_key",
]
