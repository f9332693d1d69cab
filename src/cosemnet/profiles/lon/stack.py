"""Sans-IO ISO/IEC 14908-1 node stack: network, transport, session layers and a network-management responder.

Bytes and time in, frames, events and deadlines out::

    stack = LonStack(node)
    handle = stack.send(SubnetNodeAddress(1, 2), ApplicationMessage(0x10, b"hi"), Service.ACKD, now=now)
    for frame in stack.pop_outgoing(): link.send(frame.encode())   # whatever carries frames
    stack.receive_frame(data, now)                                  # every frame heard
    stack.handle_timer(now)                                         # at stack.get_timer()
    for event in stack.pop_events(): ...                            # MessageReceived, Completed, ...

Services (facts from izot/lon-stack-dx ``lcs_tsa.c`` / ``lcs_tcs.c``, the spec notes; no code taken):

* ACKD: TPDU ACKD, retried every transmit timer until the destination ACKs (unicast), one ACK arrives
  (broadcast), or every group member ACKs (multicast). Multicast retries carry the M_List of members that
  already acknowledged: REM/MSG when it fits in 2 bytes, else a REMINDER followed by the ACKD message.
* UNACKD_RPT: TPDU UNACKD_RPT sent ``repeat_count + 1`` times, one repeat timer apart; always succeeds.
* UNACKD: the APDU straight in the NPDU, no transaction; always succeeds.
* REQUEST: SPDU REQUEST, retried like ACKD; the responder's RESPONSE is kept in its receive record and
  sent again when a retry of the request arrives.

Authentication (ISO/IEC 14908-1 clause 7.4.3; lon-stack-dx ``lcs_tsa.c``; docs/decisions/0050): a configured
receiver of a message with the auth bit answers it with a CHALLENGE AuthPDU (8 random bytes) instead of
delivering it; the sender answers with a REPLY computed by :mod:`.authentication` from the challenge, the
APDU and the domain key; the receiver delivers (and acknowledges / lets the application respond) only
when the reply matches, else drops the message and counts ``authentication_failures``.

One transaction per priority is in progress at a time; further sends queue behind it. Receive records are
keyed by (priority, domain, address kind, source subnet/node, group or broadcast subnet) and live for the
receive timer; a message with the same transaction number and APDU is a duplicate.

Design choices where the standard is silent or the sources leave freedom are marked [design]; they are
collected in docs/decisions/0011-lon-transport-timers.md.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from cosemnet.errors import DecodeError, EncodeError
from cosemnet.profiles.lon._codec import check_bytes, check_int
from cosemnet.profiles.lon.addresses import (
    Address,
    AddressFormat,
    BroadcastAddress,
    GroupAddress,
    MulticastAckAddress,
    SubnetNodeAddress,
    UniqueIdAddress,
)
from cosemnet.profiles.lon.authentication import (
    new_challenge,
    oma_address,
    oma_reply,
    replies_equal,
    standard_reply,
)
from cosemnet.profiles.lon.frames import DELTA_BACKLOG_MAX, LonFrame
from cosemnet.profiles.lon.lon_apdu import (
    APDU_TYPES,
    Apdu,
    ApplicationMessage,
    NetworkDiagnostic,
    NetworkManagement,
    decode_apdu,
)
from cosemnet.profiles.lon.netmgmt import (
    KEY_LENGTH,
    NM_LEAVE_DOMAIN,
    NM_QUERY_ID,
    NM_RESPOND_TO_QUERY,
    NM_SERVICE_PIN,
    NM_SET_NODE_MODE,
    NM_UPDATE_DOMAIN,
    NM_UPDATE_GROUP_ADDR,
    NM_UPDATE_KEY,
    NdResponse,
    NmResponse,
    NodeMode,
    NodeState,
    QueryIdRequest,
    QueryIdResponse,
    QueryIdSelector,
    RespondToQueryRequest,
    ServicePinMessage,
    SetNodeModeRequest,
    UpdateDomainRequest,
    UpdateGroupAddressRequest,
    UpdateKeyRequest,
)
from cosemnet.profiles.lon.node import MAX_GROUP_MEMBER, Domain, LonNode
from cosemnet.profiles.lon.npdu import ENHANCED_VERSION, Npdu, Pdu
from cosemnet.profiles.lon.transaction import (
    UNIQUE_ID_RECEIVE_TIMER_MS,
    DestinationKey,
    ReceiveKey,
    ReceiveRecord,
    ReceiveRecordTable,
    ReceiveState,
    Service,
    TransactionIdAllocator,
    TransmitRecord,
    receive_timer_seconds,
    repeat_timer_seconds,
    tx_timer_seconds,
)
from cosemnet.profiles.lon.transport import (
    AuthPdu,
    AuthPduType,
    Spdu,
    SpduType,
    Tpdu,
    TpduType,
    member_list,
    members_of,
)

_log = logging.getLogger(__name__)

__all__ = [
    "Completed",
    "Event",
    "LonStack",
    "LonStatistics",
    "MessageReceived",
    "NetworkHook",
    "ResponseReceived",
    "Service",
    "StackConfig",
]

M_LIST_INLINE_MAX: Final = 2
"""Longest M_List sent in a REM/MSG; longer lists go in a REMINDER followed by the message."""

AUTH_TYPE_OMA: Final = 1
"""Domain ``auth_type`` of OMA authentication (lon-stack-dx ``AUTH_OMA``); 0 is standard."""

_FORMAT_OF_KIND: Final = {
    "broadcast": AddressFormat.BROADCAST,
    "group": AddressFormat.GROUP,
    "subnet_node": AddressFormat.SUBNET_NODE,
    "multicast_ack": AddressFormat.SUBNET_NODE,  # a message addressed 2b (format 2) to this node
    "unique_id": AddressFormat.UNIQUE_ID,
}


@dataclass(slots=True)
class StackConfig:
    """Per-node transport defaults (encoded 4-bit timer codes, see :mod:`.transaction`). [design]"""

    retry_count: int = 3
    """ACKD / REQUEST retries after the first transmission."""
    tx_timer: int = 11
    """Transmit timer code: 11 = 768 ms, several round trips of a short frame at 5.4 kbit/s."""
    repeat_count: int = 3
    """UNACKD_RPT repeats after the first transmission."""
    repeat_timer: int = 9
    """Repeat timer code: 9 = 384 ms."""
    receive_records: int = 16
    link_crc: bool = True
    """Frames handed to / taken from :meth:`LonStack.receive_frame` carry the CRC-16 (power line)."""
    enhanced: bool = False
    """Send NPDU version 2 (12-bit transaction numbers)."""
    broadcast_backlog: int = 15
    """Delta backlog of acknowledged / request broadcasts (lon-stack-dx default)."""
    deliver_unauthenticated: bool = False
    """[design, docs/decisions/0050] What a wrong authentication reply does: False (default) drops the
    message (not delivered, not acknowledged, counted in ``authentication_failures``); True delivers it
    with ``authenticated=False`` and acknowledges it, as lon-stack-dx does (the application decides)."""


@dataclass(slots=True)
class LonStatistics:
    """Counters of interface classes 132 (protocol status) and 133 (diagnostic).

    [design] meanings where the class tables give only names: ``transmission_errors`` frames that failed
    the CRC or did not decode (and collisions the channel reports); ``layer2_received`` frames with a good
    CRC; ``layer3_received`` frames addressed to this node; ``messages_received`` every addressed message
    carrying an APDU, duplicates included; ``messages_validated`` new messages delivered (after the
    authentication hook, when asked for); ``missed_messages`` frames the owner could not hand to the stack
    (reported through :meth:`LonStack.note_missed`).
    """

    transmission_errors: int = 0
    transmit_tx_failure: int = 0
    transmit_tx_retries: int = 0
    receive_tx_full: int = 0
    lost_messages: int = 0
    missed_messages: int = 0
    layer2_received: int = 0
    layer3_received: int = 0
    messages_received: int = 0
    messages_validated: int = 0
    late_ack: int = 0
    backlog_overflows: int = 0
    transmit_no_data: int = 0
    no_receive_buffer: int = 0
    frames_sent: int = 0
    challenges_sent: int = 0
    """ISO/IEC 14908-1 authentication challenges sent (re-challenges of one message included)."""
    authentication_failures: int = 0
    """Authentication replies that did not match our challenge (wrong key, replayed or forged reply)."""


@dataclass(slots=True, frozen=True)
class MessageReceived:
    """A new (non-duplicate) message for the application."""

    source_subnet: int
    source_node: int
    domain_id: bytes
    domain_index: int | None
    """Domain table index it arrived in; None for the flex domain (unconfigured / foreign-domain)."""
    destination: Address
    apdu: Apdu
    service: Service
    priority: bool = False
    request_id: int = 0
    """Non-zero for REQUEST: pass it to :meth:`LonStack.respond`."""
    auth_requested: bool = False
    authenticated: bool = False


@dataclass(slots=True, frozen=True)
class Completed:
    """A send finished: ``success`` is False when retries ran out before every ACK / response came."""

    handle: int
    success: bool


@dataclass(slots=True, frozen=True)
class ResponseReceived:
    """A response to the REQUEST of ``handle`` (several for group / broadcast requests)."""

    handle: int
    source_subnet: int
    source_node: int
    apdu: Apdu
    member: int | None = None


Event = MessageReceived | Completed | ResponseReceived


class NetworkHook:
    """Hook below the transport layer, where a repeater / proxy plugs in.

    :meth:`inbound` sees every frame that decoded, before address filtering; returning True consumes it
    (a repeater forwarding it on with :meth:`LonStack.transmit_frame`). :meth:`outbound` sees every frame
    the stack sends and may rewrite or drop (None) it. The default does nothing.
    """

    def inbound(self, stack: LonStack, frame: LonFrame, now: float) -> bool:
        return False

    def outbound(self, stack: LonStack, frame: LonFrame) -> LonFrame | None:
        return frame


@dataclass(slots=True)
class _PendingSend:
    handle: int
    destination: Address
    apdu: Apdu
    service: Service
    priority: bool
    domain_id: bytes
    source: tuple[int, int]
    retry_count: int
    timer: float
    group_size: int
    max_responses: int | None
    auth: bool
    alt_path: bool = False
    last_try_extra: float = 0.0
    auth_key: bytes | None = None


@dataclass(slots=True)
class _ActiveTx:
    pending: _PendingSend
    record: TransmitRecord


def _kind(address: Address) -> str:
    if isinstance(address, BroadcastAddress):
        return "broadcast"
    if isinstance(address, GroupAddress):
        return "group"
    if isinstance(address, UniqueIdAddress):
        return "unique_id"
    if isinstance(address, MulticastAckAddress):
        return "multicast_ack"
    return "subnet_node"


class LonStack:
    """One node's ISO/IEC 14908-1 stack (sans-IO). See the module docstring."""

    def __init__(
        self, node: LonNode, config: StackConfig | None = None, hook: NetworkHook | None = None
    ) -> None:
        self.node = node
        self.config = config if config is not None else StackConfig()
        self.hook = hook if hook is not None else NetworkHook()
        self.statistics = LonStatistics()
        self._now = 0.0
        self._next_handle = 1
        self._next_request_id = 1
        self._queues: dict[bool, deque[_PendingSend]] = {False: deque(), True: deque()}
        self._active: dict[bool, _ActiveTx | None] = {False: None, True: None}
        self._tids = TransactionIdAllocator(enhanced=self.config.enhanced)
        self._records = ReceiveRecordTable(self.config.receive_records)
        self._outgoing: list[LonFrame] = []
        self._events: list[Event] = []
        self._challenged_failures: deque[int] = deque(maxlen=64)

    # ------------------------------------------------------------------ public API

    @property
    def now(self) -> float:
        """The latest time the stack was given."""
        return self._now

    def send(
        self,
        destination: Address,
        apdu: Apdu,
        service: Service = Service.ACKD,
        *,
        priority: bool = False,
        domain_index: int = 0,
        domain_id: bytes | None = None,
        retry_count: int | None = None,
        tx_timer: int | None = None,
        repeat_timer: int | None = None,
        group_size: int | None = None,
        max_responses: int | None = None,
        auth: bool = False,
        now: float,
        alt_path: bool = False,
        long_timer: bool = False,
        last_try_extra: float = 0.0,
        auth_key: bytes | None = None,
    ) -> int:
        """Queue ``apdu`` for ``destination``; return the handle its :class:`Completed` event carries.

        ``group_size``: acknowledgements / responses a group ACKD / REQUEST waits for (the members other
        than this node) [design: the caller gives the true count, no "+1 if member" convention].
        ``domain_id`` sends in a domain this node is not configured in, from subnet/node 0/0 (the flex
        domain of an unconfigured node); replies to such a send cannot be received, so a tool should
        hold a domain table entry for the domain it works in. ``max_responses``: a broadcast REQUEST
        completes after that many responses instead of running all its retries.

        Used by the Annex E repeater (docs/decisions/0070): ``alt_path`` sets the PPDU alternate-path
        bit; ``long_timer`` reads ``tx_timer`` 0..4 from the long timer table (4096..16384 ms);
        ``last_try_extra`` seconds widen the wait after the last try; ``auth_key`` (6 or 12 bytes)
        replaces the domain key when this message is challenged (the agent's alternate key).
        """
        if not isinstance(apdu, APDU_TYPES):
            raise EncodeError(f"not a 14908-1 APDU: {type(apdu).__name__}")
        service = Service(service)
        if domain_id is None:
            domain = self.node.domains[domain_index] if 0 <= domain_index < len(self.node.domains) else None
            if domain is None:
                domain_id, source = b"", (0, 0)
            else:
                domain_id, source = domain.domain_id, (domain.subnet, domain.node)
        else:
            index = self.node.domain_index_of(domain_id)
            found = self.node.domains[index] if index is not None else None
            source = (found.subnet, found.node) if found is not None else (0, 0)
        if (
            isinstance(destination, GroupAddress)
            and service in (Service.ACKD, Service.REQUEST)
            and (group_size is None or not 1 <= group_size <= 64)
        ):
            raise EncodeError("an acknowledged / request group message needs group_size 1..64")
        if isinstance(destination, MulticastAckAddress):
            raise EncodeError("address format 2b is for acknowledgements and responses only")
        cfg = self.config
        if service is Service.UNACKD_RPT:
            retries = cfg.repeat_count if retry_count is None else retry_count
            code = cfg.repeat_timer if repeat_timer is None else repeat_timer
            timer = repeat_timer_seconds(check_int("repeat_timer", code, 0, 15))
        else:
            retries = cfg.retry_count if retry_count is None else retry_count
            code = cfg.tx_timer if tx_timer is None else tx_timer
            timer = tx_timer_seconds(check_int("tx_timer", code, 0, 4 if long_timer else 15), long_timer)
        check_int("retry / repeat count", retries, 0, 15)
        if max_responses is not None:
            check_int("max_responses", max_responses, 1, 0xFFFF)
        # encode once now, so that a bad address or APDU fails here and not later inside handle_timer()
        self._frame(domain_id, source, destination, apdu, priority).encode()
        handle = self._next_handle
        self._next_handle += 1
        self._queues[priority].append(
            _PendingSend(
                handle,
                destination,
                apdu,
                service,
                priority,
                domain_id,
                source,
                retries,
                timer,
                group_size or 1,
                max_responses,
                auth,
                alt_path,
                max(0.0, last_try_extra),
                None if auth_key is None else check_bytes("auth_key", auth_key, KEY_LENGTH, 2 * KEY_LENGTH),
            )
        )
        self._advance(now)
        self._pump()
        return handle

    def failed_after_challenge(self, handle: int) -> bool:
        """Whether the failed send ``handle`` was challenged and our reply answered (so the receiver most
        likely refused the reply: an authentication failure; the last 64 such failures are kept)."""
        return handle in self._challenged_failures

    def respond(self, request_id: int, apdu: Apdu | None, now: float) -> bool:
        """Answer the REQUEST delivered with ``request_id`` (``None``: null response, nothing sent).

        False when the request is unknown, already answered or its record expired.
        """
        self._advance(now)
        record = self._records.by_request(request_id)
        if record is None or record.state is not ReceiveState.DELIVERED:
            return False
        if apdu is None:
            record.state = ReceiveState.DONE
            return True
        record.response = apdu.encode()
        record.state = ReceiveState.RESPONDED
        self._send_response(record)
        return True

    def service_pin(self, now: float) -> list[int]:
        """Broadcast the service pin message (unique ID + program ID), UNACKD, in every domain of the node
        (in the zero-length domain from 0/0 when unconfigured) [design]."""
        self._advance(now)
        apdu = ServicePinMessage(self.node.unique_id, self.node.program_id).to_apdu()
        handles = []
        domains = [d for d in self.node.domains if d is not None]
        if not domains:
            handles.append(self.send(BroadcastAddress(0), apdu, Service.UNACKD, domain_id=b"", now=now))
        for domain in domains:
            handles.append(
                self.send(BroadcastAddress(0), apdu, Service.UNACKD, domain_id=domain.domain_id, now=now)
            )
        return handles

    def receive_frame(self, data: bytes | bytearray | memoryview, now: float) -> None:
        """Process one frame as heard on the link (with CRC when ``config.link_crc``)."""
        self._advance(now)
        try:
            frame = LonFrame.decode(data, crc=self.config.link_crc)
        except DecodeError:
            self.statistics.transmission_errors += 1
            return
        self.receive_lon_frame(frame, now)

    def receive_lon_frame(self, frame: LonFrame, now: float) -> None:
        """Process one decoded frame."""
        self._advance(now)
        self.statistics.layer2_received += 1
        if self.hook.inbound(self, frame, now):
            return
        self._network_receive(frame)
        self._pump()

    def note_transmission_error(self) -> None:
        """The link saw a frame it could not receive (collision, bad CRC before decoding)."""
        self.statistics.transmission_errors += 1

    def note_missed(self) -> None:
        self.statistics.missed_messages += 1

    def handle_timer(self, now: float) -> None:
        """Run the timers due at ``now`` (the deadline of :meth:`get_timer` has passed; calling it early
        or twice is harmless)."""
        self._advance(now)
        for priority in (True, False):
            active = self._active[priority]
            if active is not None and active.record.deadline <= now:
                self._tx_timer_expired(active)
        self._records.expire(now)
        self._pump()

    def get_timer(self) -> float | None:
        """When :meth:`handle_timer` must next be called (None: nothing pending)."""
        times = [a.record.deadline for a in self._active.values() if a is not None]
        rr = self._records.get_timer()
        if rr is not None:
            times.append(rr)
        for priority, queue in self._queues.items():
            if queue and self._active[priority] is None:
                times.append(self._now)
        return min(times) if times else None

    def busy(self) -> bool:
        """True while a transaction is in progress or a send is queued."""
        return any(self._active.values()) or any(self._queues.values())

    def pop_outgoing(self) -> list[LonFrame]:
        """Frames to put on the link, in order."""
        out, self._outgoing = self._outgoing, []
        return out

    def has_outgoing(self) -> bool:
        return bool(self._outgoing)

    def pop_events(self) -> list[Event]:
        """Drain the events produced so far."""
        out, self._events = self._events, []
        return out

    def take_events(self, wanted: Callable[[Event], bool]) -> list[Event]:
        """Drain only the events ``wanted`` accepts (a second user of the stack, e.g. the ATM manager,
        takes its own events before the DLMS endpoint drains the rest)."""
        mine = [e for e in self._events if wanted(e)]
        if mine:
            self._events = [e for e in self._events if not wanted(e)]
        return mine

    def transmit_frame(self, frame: LonFrame) -> None:
        """Put a ready frame on the link (for a :class:`NetworkHook`, e.g. a repeater)."""
        self._outgoing.append(frame)
        self.statistics.frames_sent += 1

    # ------------------------------------------------------------------ sending

    def _advance(self, now: float) -> None:
        if now > self._now:
            self._now = now

    def _emit(self, frame: LonFrame) -> None:
        out = self.hook.outbound(self, frame)
        if out is not None:
            self.transmit_frame(out)

    def _frame(
        self,
        domain_id: bytes,
        source: tuple[int, int],
        destination: Address,
        pdu: Pdu,
        priority: bool,
        delta_backlog: int = 0,
        version: int | None = None,
        alt_path: bool = False,
    ) -> LonFrame:
        if version is None:
            version = ENHANCED_VERSION if self.config.enhanced else 0
        npdu = Npdu(source[0], source[1], destination, pdu, domain_id, version)
        return LonFrame(npdu, priority, alt_path, min(max(delta_backlog, 0), DELTA_BACKLOG_MAX))

    def _pump(self) -> None:
        for priority in (True, False):
            queue = self._queues[priority]
            while queue and self._active[priority] is None:
                pending = queue.popleft()
                if pending.service is Service.UNACKD:
                    # an unacknowledged message generates no further traffic: delta backlog 0
                    self._emit(
                        self._frame(
                            pending.domain_id,
                            pending.source,
                            pending.destination,
                            pending.apdu,
                            priority,
                            alt_path=pending.alt_path,
                        )
                    )
                    self._events.append(Completed(pending.handle, True))
                    continue
                self._start(pending)

    def _destination_key(self, pending: _PendingSend) -> DestinationKey:
        dst = pending.destination
        if isinstance(dst, UniqueIdAddress):
            return (pending.domain_id, "unique_id", 0, dst.unique_id)
        if isinstance(dst, GroupAddress):
            return (pending.domain_id, "group", dst.group, b"")
        if isinstance(dst, BroadcastAddress):
            return (pending.domain_id, "broadcast", dst.destination_subnet, b"")
        if isinstance(dst, SubnetNodeAddress):
            return (pending.domain_id, "subnet_node", dst.destination_subnet, bytes((dst.destination_node,)))
        raise EncodeError("unsupported destination")  # pragma: no cover - rejected in send()

    def _start(self, pending: _PendingSend) -> None:
        now = self._now
        tid = self._tids.new(pending.priority, self._destination_key(pending), now)
        dst = pending.destination
        record = TransmitRecord(
            handle=pending.handle,
            service=pending.service,
            priority=pending.priority,
            transaction_number=tid,
            apdu=pending.apdu,
            retries_left=pending.retry_count,
            timer=pending.timer,
            deadline=now + pending.timer + (pending.last_try_extra if pending.retry_count == 0 else 0.0),
            destination_count=pending.group_size if isinstance(dst, GroupAddress) else 1,
            max_responses=pending.max_responses,
        )
        active = _ActiveTx(pending, record)
        self._active[pending.priority] = active
        if pending.service is Service.UNACKD_RPT:
            backlog = pending.retry_count
        elif isinstance(dst, BroadcastAddress):
            backlog = self.config.broadcast_backlog
        elif isinstance(dst, GroupAddress):
            backlog = record.destination_count
        else:
            backlog = 1
        self._emit(
            self._frame(
                pending.domain_id,
                pending.source,
                dst,
                self._message_pdu(active),
                pending.priority,
                backlog,
                alt_path=pending.alt_path,
            )
        )

    def _message_pdu(self, active: _ActiveTx, m_list: bytes | None = None) -> Pdu:
        rec, pending = active.record, active.pending
        tid, auth = rec.transaction_number, pending.auth
        if rec.service is Service.REQUEST:
            if m_list is not None:
                return Spdu(SpduType.REM_MSG, tid, rec.apdu, m_list, auth)
            return Spdu(SpduType.REQUEST, tid, rec.apdu, None, auth)
        if rec.service is Service.UNACKD_RPT:
            return Tpdu(TpduType.UNACKD_RPT, tid, rec.apdu, None, auth)
        if m_list is not None:
            return Tpdu(TpduType.REM_MSG, tid, rec.apdu, m_list, auth)
        return Tpdu(TpduType.ACKD, tid, rec.apdu, None, auth)

    def _tx_done(self, active: _ActiveTx) -> bool:
        rec = active.record
        if rec.service is Service.UNACKD_RPT:
            return False
        if isinstance(active.pending.destination, BroadcastAddress):
            if rec.service is Service.ACKD:
                return rec.ack_count >= 1
            return rec.max_responses is not None and rec.ack_count >= rec.max_responses
        return rec.ack_count >= rec.destination_count

    def _terminate(self, active: _ActiveTx) -> None:
        rec = active.record
        if rec.service is Service.UNACKD_RPT:
            success = True
        elif isinstance(active.pending.destination, BroadcastAddress):
            success = rec.ack_count >= 1
        else:
            success = rec.ack_count >= rec.destination_count
        if not success:
            self.statistics.transmit_tx_failure += 1
        self._tids.done(rec.priority)
        self._active[rec.priority] = None
        if rec.challenged and not success:
            self._challenged_failures.append(rec.handle)
        self._events.append(Completed(rec.handle, success))

    def _tx_timer_expired(self, active: _ActiveTx) -> None:
        rec, pending = active.record, active.pending
        if rec.retries_left <= 0 or self._tx_done(active):
            self._terminate(active)
            return
        dst = pending.destination
        if rec.service is not Service.UNACKD_RPT:
            self.statistics.transmit_tx_retries += 1
        if rec.service is not Service.UNACKD_RPT and isinstance(dst, GroupAddress):
            m_list = member_list(rec.acked_members)
            if len(m_list) <= M_LIST_INLINE_MAX:
                pdu = self._message_pdu(active, m_list)
            else:
                reminder: Pdu
                if rec.service is Service.REQUEST:
                    reminder = Spdu(SpduType.REMINDER, rec.transaction_number, None, m_list, pending.auth)
                else:
                    reminder = Tpdu(TpduType.REMINDER, rec.transaction_number, None, m_list, pending.auth)
                self._emit(
                    self._frame(
                        pending.domain_id,
                        pending.source,
                        dst,
                        reminder,
                        rec.priority,
                        alt_path=pending.alt_path,
                    )
                )
                pdu = self._message_pdu(active)
            backlog = rec.destination_count - rec.ack_count
        else:
            pdu = self._message_pdu(active)
            if rec.service is Service.UNACKD_RPT:
                backlog = 0
            elif isinstance(dst, BroadcastAddress):
                backlog = self.config.broadcast_backlog
            else:
                backlog = 1
        self._emit(
            self._frame(
                pending.domain_id, pending.source, dst, pdu, rec.priority, backlog, alt_path=pending.alt_path
            )
        )
        rec.retries_left -= 1
        rec.deadline = self._now + rec.timer + (pending.last_try_extra if rec.retries_left == 0 else 0.0)

    # ------------------------------------------------------------------ receiving

    def _accept(self, npdu: Npdu) -> tuple[bool, int | None]:
        """(addressed to us, domain index or None for the flex domain)."""
        node = self.node
        dst = npdu.destination
        index = node.domain_index_of(npdu.domain_id)
        domain = node.domains[index] if index is not None else None
        if domain is not None:
            if (npdu.source_subnet, npdu.source_node) == (domain.subnet, domain.node) and not isinstance(
                dst, UniqueIdAddress
            ):
                return False, index  # our own frame echoed (or an address clash)
            if isinstance(dst, BroadcastAddress):
                return dst.destination_subnet in (0, domain.subnet), index
            if isinstance(dst, GroupAddress):
                return node.membership(index, dst.group) is not None if index is not None else False, index
            if isinstance(dst, SubnetNodeAddress | MulticastAckAddress):
                return (dst.destination_subnet, dst.destination_node) == (domain.subnet, domain.node), index
        if isinstance(dst, UniqueIdAddress):
            return dst.unique_id == node.unique_id, index
        if isinstance(dst, BroadcastAddress) and not node.configured:
            return True, None
        return False, None

    def _network_receive(self, frame: LonFrame) -> None:
        npdu = frame.npdu
        accepted, index = self._accept(npdu)
        if not accepted:
            return
        self.statistics.layer3_received += 1
        pdu = npdu.pdu
        if isinstance(pdu, AuthPdu):
            self._receive_auth(frame, index, pdu)
            return
        if isinstance(pdu, Tpdu):
            if pdu.tpdu_type is TpduType.ACK:
                self._receive_ack(frame, index)
            elif pdu.tpdu_type in (TpduType.REMINDER, TpduType.REM_MSG):
                self._receive_reminder(frame, index, pdu.tpdu_type is TpduType.REMINDER, False)
            else:
                service = Service.ACKD if pdu.tpdu_type is TpduType.ACKD else Service.UNACKD_RPT
                self._receive_message(frame, index, service)
            return
        if isinstance(pdu, Spdu):
            if pdu.spdu_type is SpduType.RESPONSE:
                self._receive_response(frame, index)
            elif pdu.spdu_type in (SpduType.REMINDER, SpduType.REM_MSG):
                self._receive_reminder(frame, index, pdu.spdu_type is SpduType.REMINDER, True)
            else:
                self._receive_message(frame, index, Service.REQUEST)
            return
        # a bare APDU: unacknowledged service
        self.statistics.messages_received += 1
        self.statistics.messages_validated += 1
        self._deliver_unackd(frame, index, pdu)

    def _record_key(self, frame: LonFrame, index: int | None) -> ReceiveKey:
        npdu = frame.npdu
        dst = npdu.destination
        extra = 0
        if isinstance(dst, BroadcastAddress):
            extra = dst.destination_subnet
        elif isinstance(dst, GroupAddress):
            extra = dst.group
        return (
            frame.priority,
            index,
            npdu.domain_id,
            _kind(dst),
            npdu.source_subnet,
            npdu.source_node,
            extra,
        )

    def _reply_context(self, frame: LonFrame, index: int | None) -> tuple[tuple[int, int], int | None]:
        domain = self.node.domains[index] if index is not None else None
        source = (domain.subnet, domain.node) if domain is not None else (0, 0)
        member = None
        dst = frame.npdu.destination
        if isinstance(dst, GroupAddress) and index is not None:
            membership = self.node.membership(index, dst.group)
            member = membership.member if membership is not None else None
        return source, member

    def _receive_timer(self, frame: LonFrame, index: int | None) -> float:
        dst = frame.npdu.destination
        if isinstance(dst, UniqueIdAddress):
            return UNIQUE_ID_RECEIVE_TIMER_MS / 1000.0
        if isinstance(dst, GroupAddress) and index is not None:
            membership = self.node.membership(index, dst.group)
            if membership is not None:
                return receive_timer_seconds(membership.receive_timer)
        return receive_timer_seconds(self.node.non_group_receive_timer)

    def _new_record(
        self, frame: LonFrame, index: int | None, service: Service, apdu_bytes: bytes, key: ReceiveKey
    ) -> ReceiveRecord:
        pdu = frame.npdu.pdu
        assert isinstance(pdu, Tpdu | Spdu)
        source, member = self._reply_context(frame, index)
        request_id = 0
        if service is Service.REQUEST:
            request_id = self._next_request_id
            self._next_request_id = self._next_request_id % 0xFFFF + 1
        return ReceiveRecord(
            key=key,
            transaction_number=pdu.transaction_number,
            session=service is Service.REQUEST,
            service=service,
            apdu=apdu_bytes,
            expires=self._now + self._receive_timer(frame, index),
            request_id=request_id,
            priority=frame.priority,
            version=frame.npdu.version,
            reply_domain_id=frame.npdu.domain_id,
            reply_source=source,
            reply_member=member,
            destination=frame.npdu.destination,
            auth_requested=pdu.auth,
            need_auth=pdu.auth and self.node.configured,
        )

    def _receive_message(self, frame: LonFrame, index: int | None, service: Service) -> None:
        pdu = frame.npdu.pdu
        assert isinstance(pdu, Tpdu | Spdu) and pdu.apdu is not None
        self.statistics.messages_received += 1
        apdu_bytes = pdu.apdu.encode()
        key = self._record_key(frame, index)
        record = self._records.get(key)
        session = service is Service.REQUEST
        if (
            record is None
            or record.transaction_number != pdu.transaction_number
            or record.session != session
            or record.apdu != apdu_bytes
        ):
            if record is None and self._records.full():
                self._records.expire(self._now)
                if self._records.full():
                    self.statistics.receive_tx_full += 1
                    return
            if record is not None and record.state is ReceiveState.JUST_RECEIVED:
                self.statistics.lost_messages += 1
            record = self._new_record(frame, index, service, apdu_bytes, key)
            self._records.put(record)
        self._process_record(record, pdu.apdu)

    def _process_record(self, record: ReceiveRecord, apdu: Apdu) -> None:
        """A new message or a retry of it: challenge it, deliver it, or repeat its ACK / response."""
        if record.need_auth and record.state in (ReceiveState.JUST_RECEIVED, ReceiveState.AUTHENTICATING):
            self._send_challenge(record)  # new message, or our challenge / its reply was lost
            return
        if record.state is ReceiveState.JUST_RECEIVED:
            self._deliver(record, apdu)
        self._reply_after_delivery(record)

    def _reply_after_delivery(self, record: ReceiveRecord) -> None:
        if not record.session:
            if record.state is ReceiveState.DELIVERED and record.service is Service.ACKD:
                self._send_ack(record)
        elif record.state is ReceiveState.RESPONDED:
            self._send_response(record)

    def _deliver(self, record: ReceiveRecord, apdu: Apdu) -> None:
        """Hand a new message to the application (or the NM responder); after authentication if asked."""
        priority, index, domain_id, _, source_subnet, source_node, _ = record.key
        hook = self.node.authenticator
        if record.auth_requested and self.node.configured and hook is not None:
            domain = self.node.domains[index] if index is not None else None
            if not hook.authenticate(domain, source_subnet, source_node, apdu):
                record.state = ReceiveState.DONE  # not authenticated: neither delivered nor acknowledged
                return
            record.authenticated = True
        if isinstance(apdu, ApplicationMessage) and not self.node.application_online:
            record.state = ReceiveState.DONE  # offline (set node mode): not delivered, not acknowledged
            return
        record.state = ReceiveState.DELIVERED
        self.statistics.messages_validated += 1
        if isinstance(apdu, NetworkManagement | NetworkDiagnostic) and apdu.code != NM_SERVICE_PIN:
            self._network_management(record, apdu)
            return
        assert record.destination is not None
        self._events.append(
            MessageReceived(
                source_subnet,
                source_node,
                domain_id,
                index,
                record.destination,
                apdu,
                record.service,
                priority,
                record.request_id,
                record.auth_requested,
                record.authenticated,
            )
        )

    def _deliver_unackd(self, frame: LonFrame, index: int | None, apdu: Apdu) -> None:
        npdu = frame.npdu
        if isinstance(apdu, NetworkManagement | NetworkDiagnostic) and apdu.code != NM_SERVICE_PIN:
            self._network_management(None, apdu)
            return
        if isinstance(apdu, ApplicationMessage) and not self.node.application_online:
            return
        self._events.append(
            MessageReceived(
                npdu.source_subnet,
                npdu.source_node,
                npdu.domain_id,
                index,
                npdu.destination,
                apdu,
                Service.UNACKD,
                frame.priority,
            )
        )

    def _send_ack(self, record: ReceiveRecord) -> None:
        pdu = Tpdu(TpduType.ACK, record.transaction_number)
        self._emit(self._reply_frame(record, pdu))

    def _send_response(self, record: ReceiveRecord) -> None:
        assert record.response is not None
        pdu = Spdu(SpduType.RESPONSE, record.transaction_number, decode_apdu(record.response))
        self._emit(self._reply_frame(record, pdu))

    def _reply_frame(self, record: ReceiveRecord, pdu: Pdu) -> LonFrame:
        _, _, _, kind, src_subnet, src_node, extra = record.key
        destination: Address
        if kind == "group" and record.reply_member is not None:
            destination = MulticastAckAddress(src_subnet, src_node, extra, record.reply_member)
        else:
            destination = SubnetNodeAddress(src_subnet, src_node)
        return self._frame(
            record.reply_domain_id, record.reply_source, destination, pdu, record.priority, 0, record.version
        )

    def _receive_reminder(self, frame: LonFrame, index: int | None, reminder: bool, session: bool) -> None:
        pdu = frame.npdu.pdu
        assert isinstance(pdu, Tpdu | Spdu)
        key = self._record_key(frame, index)
        record = self._records.get(key)
        apdu_bytes = None if pdu.apdu is None else pdu.apdu.encode()
        if record is None and reminder:
            return
        if record is not None and (
            key[3] != "group"
            or record.transaction_number != pdu.transaction_number
            or record.session != session
            or (apdu_bytes is not None and apdu_bytes != record.apdu)
        ):
            if reminder:
                return
            record = None
        if record is not None and record.service is Service.UNACKD_RPT:
            if reminder:
                return
            record = None
        if record is not None:
            if record.reply_member is None:
                return
            if record.reply_member not in members_of(pdu.m_list or b""):
                if reminder:
                    return  # the retry follows the reminder
                self.statistics.messages_received += 1
                assert pdu.apdu is not None
                self._process_record(record, pdu.apdu)
            elif record.state in (ReceiveState.DELIVERED, ReceiveState.RESPONDED):
                record.state = ReceiveState.DONE
            return
        # REM/MSG without a record: a new message
        assert pdu.apdu is not None and apdu_bytes is not None
        self.statistics.messages_received += 1
        if self._records.full():
            self._records.expire(self._now)
            if self._records.full():
                self.statistics.receive_tx_full += 1
                return
        service = Service.REQUEST if session else Service.ACKD
        record = self._new_record(frame, index, service, apdu_bytes, key)
        self._records.put(record)
        self._process_record(record, pdu.apdu)

    def _matching_tx(self, frame: LonFrame, index: int | None, session: bool) -> _ActiveTx | None:
        pdu = frame.npdu.pdu
        assert isinstance(pdu, Tpdu | Spdu)
        active = self._active[frame.priority]
        if active is None or active.record.transaction_number != pdu.transaction_number:
            return None
        if (
            active.record.service is Service.REQUEST
        ) != session or active.record.service is Service.UNACKD_RPT:
            return None
        if frame.npdu.domain_id != active.pending.domain_id:
            return None
        dst = active.pending.destination
        npdu = frame.npdu
        if isinstance(dst, SubnetNodeAddress):
            if (npdu.source_subnet, npdu.source_node) != (dst.destination_subnet, dst.destination_node):
                return None
        elif isinstance(dst, GroupAddress):
            ack_to = npdu.destination
            if not isinstance(ack_to, MulticastAckAddress) or ack_to.group != dst.group:
                return None
        elif (
            isinstance(dst, BroadcastAddress)
            and dst.destination_subnet not in (0, npdu.source_subnet)
            and npdu.source_subnet != 0
        ):
            return None
        return active

    def _receive_ack(self, frame: LonFrame, index: int | None) -> None:
        active = self._matching_tx(frame, index, False)
        if active is None:
            self.statistics.late_ack += 1
            return
        rec = active.record
        dst = frame.npdu.destination
        if isinstance(active.pending.destination, GroupAddress):
            assert isinstance(dst, MulticastAckAddress)
            if dst.member not in rec.acked_members:
                rec.acked_members.add(dst.member)
                rec.ack_count += 1
        else:
            rec.ack_count += 1
        if self._tx_done(active):
            self._terminate(active)
        else:
            rec.deadline = self._now + rec.timer

    def _receive_response(self, frame: LonFrame, index: int | None) -> None:
        active = self._matching_tx(frame, index, True)
        if active is None:
            self.statistics.late_ack += 1
            return
        rec = active.record
        pdu = frame.npdu.pdu
        assert isinstance(pdu, Spdu) and pdu.apdu is not None
        npdu = frame.npdu
        dst = npdu.destination
        member: int | None = None
        if isinstance(active.pending.destination, GroupAddress):
            assert isinstance(dst, MulticastAckAddress)
            member = dst.member
            if member in rec.acked_members:
                return
            rec.acked_members.add(member)
        elif isinstance(active.pending.destination, BroadcastAddress):
            # responders from the flex domain all say 0/0: tell them apart by what they answer
            who = (npdu.source_subnet, npdu.source_node, pdu.apdu.encode())
            if who in rec.responders:
                return
            rec.responders.add(who)
        elif rec.ack_count:
            return
        rec.ack_count += 1
        self._events.append(
            ResponseReceived(rec.handle, npdu.source_subnet, npdu.source_node, pdu.apdu, member)
        )
        if self._tx_done(active):
            self._terminate(active)
        else:
            rec.deadline = self._now + rec.timer

    # ------------------------------------------------------------------ ISO/IEC 14908-1 authentication

    def _oma(self) -> bool:
        """OMA authentication is used when domain entry 0 says so (lon-stack-dx ``AuthOma``)."""
        first = self.node.domains[0]
        return first is not None and first.auth_type == AUTH_TYPE_OMA

    def _domain_key(self, index: int | None) -> bytes:
        """The 6-byte key of domain ``index``; the flex domain uses the first configured domain's key."""
        domains = self.node.domains
        domain = domains[index] if index is not None else next((d for d in domains if d is not None), None)
        return domain.authentication_key if domain is not None else bytes(KEY_LENGTH)

    def _oma_key(self) -> bytes:
        """The 12-byte OMA key: the keys of domain entries 0 and 1 (zeros for an empty entry) [design]."""
        return b"".join(
            d.authentication_key if d is not None else bytes(KEY_LENGTH) for d in self.node.domains
        )

    def _send_challenge(self, record: ReceiveRecord) -> None:
        if not record.challenge:
            record.challenge = new_challenge()  # re-challenges of this message reuse it
        record.state = ReceiveState.AUTHENTICATING
        fmt = _FORMAT_OF_KIND[record.key[3]]
        kind = AuthPduType.CHALLENGE_OMA if self._oma() else AuthPduType.CHALLENGE
        group = record.key[6] if fmt == AddressFormat.GROUP else None
        self.statistics.challenges_sent += 1
        self._emit(
            self._reply_frame(record, AuthPdu(kind, record.transaction_number, fmt, record.challenge, group))
        )

    def _receive_auth(self, frame: LonFrame, index: int | None, pdu: AuthPdu) -> None:
        if pdu.auth_pdu_type in (AuthPduType.CHALLENGE, AuthPduType.CHALLENGE_OMA):
            self._answer_challenge(frame, index, pdu)
        else:
            self._check_reply(frame, index, pdu)

    def _challenged_tx(self, frame: LonFrame, index: int | None, pdu: AuthPdu) -> _ActiveTx | None:
        """The transaction in progress a challenge is about, or None when it is stale / not ours."""
        active = self._active[frame.priority]
        if index is None or active is None:
            return None  # lon-stack-dx ignores challenges in the flex domain too
        pending, rec = active.pending, active.record
        dst = pending.destination
        if (
            not pending.auth
            or rec.transaction_number != pdu.transaction_number
            or frame.npdu.domain_id != pending.domain_id
            or getattr(dst, "FORMAT", None) != pdu.address_format
            or (isinstance(dst, GroupAddress) and dst.group != pdu.group)
        ):
            return None
        return active

    def _answer_challenge(self, frame: LonFrame, index: int | None, pdu: AuthPdu) -> None:
        active = self._challenged_tx(frame, index, pdu)
        if active is None:
            self.statistics.late_ack += 1
            return
        pending, rec = active.pending, active.record
        rec.challenged = True
        apdu = rec.apdu.encode()
        alt = pending.auth_key
        if pdu.auth_pdu_type is AuthPduType.CHALLENGE_OMA:
            key = alt if alt is not None and len(alt) == 2 * KEY_LENGTH else self._oma_key()
            reply = oma_reply(key, pdu.data, apdu, self._sender_oma_address(pending))
            kind = AuthPduType.REPLY_OMA
        else:
            key = alt[:KEY_LENGTH] if alt is not None else self._domain_key(index)
            reply = standard_reply(key, pdu.data, apdu)
            kind = AuthPduType.REPLY
        npdu = frame.npdu
        destination: Address = SubnetNodeAddress(npdu.source_subnet, npdu.source_node)
        if npdu.source_node == 0 and pdu.address_format == AddressFormat.UNIQUE_ID:
            destination = pending.destination  # challenged from 0/0 (flex domain): answer by unique ID
        reply_pdu = AuthPdu(kind, rec.transaction_number, pdu.address_format, reply, pdu.group)
        self._emit(
            self._frame(
                pending.domain_id, pending.source, destination, reply_pdu, frame.priority, 0, npdu.version
            )
        )
        if rec.service is not Service.UNACKD_RPT:
            rec.deadline = self._now + rec.timer  # the reply costs a round trip: restart the transmit timer

    def _sender_oma_address(self, pending: _PendingSend) -> bytes:
        dst = pending.destination
        if isinstance(dst, UniqueIdAddress):
            return oma_address(AddressFormat.UNIQUE_ID, unique_id=dst.unique_id)
        if isinstance(dst, SubnetNodeAddress):
            return oma_address(
                AddressFormat.SUBNET_NODE,
                domain_id=pending.domain_id,
                subnet=dst.destination_subnet,
                node=dst.destination_node,
            )
        if isinstance(dst, GroupAddress):
            return oma_address(AddressFormat.GROUP, domain_id=pending.domain_id, group=dst.group)
        return oma_address(AddressFormat.BROADCAST, domain_id=pending.domain_id)

    def _receiver_oma_address(self, record: ReceiveRecord) -> bytes:
        _, _, domain_id, kind, _, _, extra = record.key
        fmt = _FORMAT_OF_KIND[kind]
        if fmt == AddressFormat.UNIQUE_ID:
            return oma_address(fmt, unique_id=self.node.unique_id)
        subnet, node = record.reply_source
        return oma_address(fmt, domain_id=domain_id, subnet=subnet, node=node, group=extra)

    def _authenticating_record(
        self, frame: LonFrame, index: int | None, pdu: AuthPdu
    ) -> ReceiveRecord | None:
        """The receive record a reply answers: same priority, domain, source, original address format
        (and group); a broadcast reply cannot name the broadcast subnet, so any subnet matches [design]."""
        npdu = frame.npdu
        head = (frame.priority, index, npdu.domain_id)
        source = (npdu.source_subnet, npdu.source_node)
        found: ReceiveRecord | None = None
        for record in self._records.records():
            key = record.key
            if key[:3] != head or (key[4], key[5]) != source or _FORMAT_OF_KIND[key[3]] != pdu.address_format:
                continue
            if pdu.address_format == AddressFormat.GROUP and key[6] != pdu.group:
                continue
            if record.state is ReceiveState.AUTHENTICATING:
                return record
            found = record
        return found

    def _check_reply(self, frame: LonFrame, index: int | None, pdu: AuthPdu) -> None:
        record = self._authenticating_record(frame, index, pdu)
        if record is None or record.state is not ReceiveState.AUTHENTICATING:
            self.statistics.late_ack += 1  # no challenge outstanding: a stale, duplicate or replayed reply
            return
        oma = self._oma()
        apdu = record.apdu
        if oma:
            expected = oma_reply(self._oma_key(), record.challenge, apdu, self._receiver_oma_address(record))
        else:
            expected = standard_reply(self._domain_key(index), record.challenge, apdu)
        wanted = AuthPduType.REPLY_OMA if oma else AuthPduType.REPLY
        if (
            pdu.auth_pdu_type is not wanted
            or pdu.transaction_number != record.transaction_number
            or not replies_equal(pdu.data, expected)
        ):
            self.statistics.authentication_failures += 1
            _log.info(
                "authentication failed: reply from %d/%d does not match the challenge",
                frame.npdu.source_subnet,
                frame.npdu.source_node,
            )
            if not self.config.deliver_unauthenticated:
                record.state = ReceiveState.DONE  # dropped: not delivered, not acknowledged
                return
        else:
            record.authenticated = True
        record.state = ReceiveState.JUST_RECEIVED
        self._deliver(record, decode_apdu(apdu))
        self._reply_after_delivery(record)

    # ------------------------------------------------------------------ network management responder

    def _network_management(
        self, record: ReceiveRecord | None, apdu: NetworkManagement | NetworkDiagnostic
    ) -> None:
        """Handle NM / ND requests addressed to this node; answer when it came as a REQUEST."""
        is_request = record is not None and record.session
        response: Apdu | None
        if isinstance(apdu, NetworkDiagnostic):
            response = NdResponse(apdu.code, False).to_apdu()
        else:
            response = self._nm_execute(apdu, record)
        if not is_request:
            return
        assert record is not None
        if response is None:
            record.state = ReceiveState.DONE  # null response
            return
        record.response = response.encode()
        record.state = ReceiveState.RESPONDED

    def _nm_execute(self, apdu: NetworkManagement, record: ReceiveRecord | None) -> Apdu | None:
        node = self.node
        code = apdu.code
        failure = NmResponse(code, False).to_apdu()
        try:
            if code == NM_QUERY_ID:
                query = QueryIdRequest.from_apdu(apdu)
                if query.memory_match is not None:
                    return failure  # [design] no memory map to match against
                if query.selector == QueryIdSelector.UNCONFIGURED:
                    answer = not node.configured
                elif query.selector == QueryIdSelector.SELECTED:
                    answer = node.respond_to_query
                elif query.selector == QueryIdSelector.SELECTED_UNCONFIGURED:
                    answer = node.respond_to_query and not node.configured
                else:
                    return failure
                return QueryIdResponse(node.unique_id, node.program_id).to_apdu() if answer else None
            if code == NM_RESPOND_TO_QUERY:
                node.respond_to_query = RespondToQueryRequest.from_apdu(apdu).respond
                return NmResponse(code, True).to_apdu()
            if code == NM_UPDATE_DOMAIN:
                update = UpdateDomainRequest.from_apdu(apdu)
                ok = node.update_domain(update.domain_index, update.domain)
                return NmResponse(code, ok).to_apdu()
            if code == NM_LEAVE_DOMAIN:
                if len(apdu.data) != 1:
                    return failure
                return NmResponse(code, node.leave_domain(apdu.data[0])).to_apdu()
            if code == NM_UPDATE_KEY:
                key_update = UpdateKeyRequest.from_apdu(apdu)
                if not 0 <= key_update.domain_index < len(node.domains):
                    return failure
                domain = node.domains[key_update.domain_index]
                if domain is None:
                    return failure
                node.domains[key_update.domain_index] = Domain(
                    domain.domain_id,
                    domain.subnet,
                    domain.node,
                    key_update.apply(domain.authentication_key),
                    domain.auth_type,
                )
                return NmResponse(code, True).to_apdu()
            if code == NM_UPDATE_GROUP_ADDR:
                return self._update_group_address(UpdateGroupAddressRequest.from_apdu(apdu), record)
            if code == NM_SET_NODE_MODE:
                return self._set_node_mode(SetNodeModeRequest.from_apdu(apdu))
        except (DecodeError, EncodeError):
            return failure
        return failure

    def _update_group_address(self, request: UpdateGroupAddressRequest, record: ReceiveRecord | None) -> Apdu:
        """NM update group address (docs/decisions/0072). Group-addressed (as lon-stack-dx): the timers of
        this node's membership of the group it came to, in the domain it came in. Unicast in a configured
        domain [design, decision 0072]: the commissioning tool assigns the membership (group, member,
        receive timer) in that domain; ``size`` 0 with member 0x7F removes it."""
        code = request.TAG
        entry = request.entry
        index = record.key[1] if record is not None else None
        destination = record.destination if record is not None else None
        if index is None or destination is None:
            return NmResponse(code, False).to_apdu()  # flex domain: not allowed (lon-stack-dx)
        if isinstance(destination, GroupAddress):
            current = self.node.membership(index, destination.group)
            if current is None:
                return NmResponse(code, False).to_apdu()
            current.receive_timer = entry.receive_timer
            return NmResponse(code, True).to_apdu()
        if entry.member == 0x7F:
            self.node.leave_group(index, entry.group)
        elif entry.member > MAX_GROUP_MEMBER:
            return NmResponse(code, False).to_apdu()
        else:
            self.node.join_group(index, entry.group, entry.member, entry.receive_timer)
        return NmResponse(code, True).to_apdu()

    def _set_node_mode(self, request: SetNodeModeRequest) -> Apdu | None:
        """NM set node mode (lon-stack-dx ``HandleNMSetNodeMode``): offline / online / reset answer
        nothing; change state answers success (2, 3: unconfigured; 4: configured online; 6: hard
        offline)."""
        code = request.TAG
        node = self.node
        if request.mode == NodeMode.OFFLINE:
            node.application_online = False
            return None
        if request.mode == NodeMode.ONLINE:
            node.application_online = True
            return None
        if request.mode == NodeMode.RESET:
            node.application_online = True  # a soft-offline node comes back online after a reset
            return None
        if request.mode != NodeMode.CHANGE_STATE or request.state is None:
            return NmResponse(code, False).to_apdu()
        state = request.state
        if state in (NodeState.APPLICATION_UNCONFIGURED, NodeState.NO_APPLICATION_UNCONFIGURED):
            node.forced_unconfigured = True
        elif state == NodeState.CONFIGURED_ONLINE:
            node.forced_unconfigured = False
            node.application_online = True
        elif state == NodeState.CONFIGURED_HARD_OFFLINE:
            node.forced_unconfigured = False
            node.application_online = False
        else:
            return NmResponse(code, False).to_apdu()
        return NmResponse(code, True).to_apdu()
