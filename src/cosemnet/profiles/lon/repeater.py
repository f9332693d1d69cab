"""IEC 62056-8-8 Annex E repeating on the 14908-1 stack: proxy source, repeater, agent and target roles.

:class:`ProxyStack` is a :class:`~.stack.LonStack` that plays every role (docs/decisions/0070):

* **source**: :meth:`ProxyStack.send` to a destination its :class:`RouteProvider` gives a repeater chain
  for sends a proxy REQUEST (:mod:`.proxy`, code 0x4D) to the first repeater instead; the outcome comes
  back as the response (E.5) and is turned into the :class:`~.stack.Completed` /
  :class:`~.stack.ResponseReceived` the caller expects, plus a :class:`RepeatingFailed` event naming the
  node where the chain broke. After a failure it retries on the next route the provider gives (at most
  ``max_route_attempts`` routes).
* **repeater**: a proxy message with hop addresses left is forwarded to the first one (address popped),
  with the same service, priority and authentication, the hop's retry / timer from ProxyTxCtrl and the
  last try widened per remaining hop (E.3.4); the downstream response is relayed upstream unchanged, and
  a failed forward is answered 0x4C + this node's count (E.3.5, Figures E.3 / E.4). With ``all_agents``
  (E.3.9) every repeater also sends the target message (unacknowledged) to its own neighbourhood.
* **agent**: a proxy message without hop addresses is sent to the target with the SICB's service, path,
  retry / timer and mode (alternate key: the domain key plus the delta); success is answered 0x4D, a
  target response is relayed, a failure is 0x4C + 0 (with the authentication cause when the target
  refused our reply to its challenge, E.3.7).
* **target** [design, decision 0070]: Annex E carries uplink data only as responses, so a REQUEST that
  arrives with an application message opens an *uplink slot* for its sender: the first message the
  application sends to that sender within ``target_hold`` seconds is sent as the RESPONSE; without one the
  slot is answered 0x4D (nothing to say). Further messages wait (bounded) for the source's *uplink poll*
  (a proxy target APDU 0x4D with no data), which the source sends after every data response.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field
from typing import Final, Protocol

from cosemnet.errors import DecodeError, EncodeError
from cosemnet.profiles.lon.addresses import Address, BroadcastAddress, GroupAddress, SubnetNodeAddress
from cosemnet.profiles.lon.frames import LonFrame
from cosemnet.profiles.lon.lon_apdu import Apdu, ApplicationMessage, ForeignFrame
from cosemnet.profiles.lon.node import LonNode
from cosemnet.profiles.lon.proxy import (
    PROXY_CODE,
    AgentMode,
    AgentPart,
    HopAddress,
    ProxyRequest,
    ProxySuccess,
    ProxyTarget,
    ProxyTxCtrl,
    RepeatingFailure,
    decode_outcome,
)
from cosemnet.profiles.lon.stack import (
    Completed,
    Event,
    LonStack,
    MessageReceived,
    NetworkHook,
    ResponseReceived,
    StackConfig,
)
from cosemnet.profiles.lon.transaction import Service

_log = logging.getLogger(__name__)

_NOTED_MAX: Final = 256
MAX_NEIGHBOURS: Final = 256
UPLINK_POLL: Final = ForeignFrame(PROXY_CODE, b"")
"""[design] The target APDU of an uplink poll (0x4D with no proxy data)."""


def hop_widening(timer: int, long_timer: bool, downstream: int) -> float:
    """Seconds added to a hop's last try (E.3.4) when ``downstream`` timed transactions follow it on the
    chain: 512 ms each for long timers or timer index >= 10, else 256 ms each [design, decision 0070;
    lon-stack-dx adds the same steps per remaining repeater]."""
    step = 0.512 if long_timer or timer >= 10 else 0.256
    return step * max(0, downstream)


class RouteProvider(Protocol):
    """Where the source gets repeater chains (:class:`~.paths.PathManager` is one)."""

    def route(self, destination: Address, now: float) -> list[SubnetNodeAddress] | None:
        """The repeaters to use (first .. agent); ``[]`` or None: send directly."""
        ...

    def report(
        self, destination: Address, route: list[SubnetNodeAddress], broken: int | None, now: float
    ) -> None:
        """The outcome of a route: ``broken`` None = it worked; ``i`` = the link from route node ``i``
        failed (0 = the source's own link to the first repeater, ``len(route)``: the agent's link)."""
        ...


class StaticRoutes:
    """Fixed routes by destination (tests, configuration)."""

    def __init__(self, routes: dict[tuple[int, int], list[SubnetNodeAddress]] | None = None) -> None:
        self.routes = dict(routes or {})
        self.reports: deque[tuple[Address, tuple[SubnetNodeAddress, ...], int | None]] = deque(maxlen=64)

    def route(self, destination: Address, now: float) -> list[SubnetNodeAddress] | None:
        if isinstance(destination, SubnetNodeAddress):
            return self.routes.get((destination.destination_subnet, destination.destination_node))
        return None

    def report(
        self, destination: Address, route: list[SubnetNodeAddress], broken: int | None, now: float
    ) -> None:
        self.reports.append((destination, tuple(route), broken))


@dataclass(slots=True, frozen=True)
class RepeatingFailed:
    """The source learned that the chain to ``destination`` broke after ``broken_after`` (the last node
    the message reached; None: the first repeater was not reached). ``count`` is the raw E.5 hop byte."""

    handle: int
    destination: Address
    route: tuple[SubnetNodeAddress, ...]
    count: int | None
    broken_after: SubnetNodeAddress | None
    authentication: bool = False
    retrying: bool = False


@dataclass(slots=True)
class RepeaterConfig:
    """Roles and defaults [design, docs/decisions/0070]."""

    repeating: bool = True
    """Act as repeater and agent for proxy messages received."""
    hop_tx: ProxyTxCtrl = field(default_factory=lambda: ProxyTxCtrl(3, 12))
    """Source default for the repeater hops (retry 3, 1024 ms)."""
    agent_tx: ProxyTxCtrl = field(default_factory=lambda: ProxyTxCtrl(3, 12))
    long_timer: bool = False
    uniform: bool = True
    """Source: uniform hop addresses (by destination subnet) when every hop shares the source's subnet."""
    uplink_by_response: bool = True
    """Source: acknowledged sends go to the target as REQUEST so that it can answer with uplink data."""
    target_hold: float = 0.05
    poll_after_data: bool = True
    max_polls: int = 8
    max_route_attempts: int = 3
    max_relays: int = 16
    """Proxy transactions this node relays at once; more are answered 0x4C at once (bounded memory)."""
    max_uplink_peers: int = 16
    max_uplink_queue: int = 8
    uplink_queue_wait: float = 1.0
    """Target: a message to a peer with no slot open waits for its uplink poll only when the peer has
    polled before (it is an agent) or sent a REQUEST within this time (the rest of an answer); else it is
    sent the ordinary way, so a direct peer that never polls still gets it (docs/decisions/0096)."""


@dataclass(slots=True)
class _Relay:
    request_id: int | None
    count: int
    responded: bool = False


@dataclass(slots=True)
class _SourceSend:
    app_handle: int
    destination: Address
    apdu: Apdu
    service: Service
    route: list[SubnetNodeAddress]
    priority: bool
    domain_index: int
    auth: bool
    attempts: int = 1
    outcome: bool | None = None
    failure: RepeatingFailed | None = None
    poll: bool = False
    polls: int = 0


@dataclass(slots=True)
class _Uplink:
    slots: deque[tuple[int, float]] = field(default_factory=deque)
    """(request id, answer-by time) of REQUESTs from this peer not answered yet."""
    queue: deque[tuple[int, Apdu]] = field(default_factory=deque)
    """(handle, APDU) the application sent to the peer with no slot open: wait for a poll."""
    last_request: float = 0.0
    polled: bool = False
    """The peer sent an uplink poll: it is an agent, messages to it wait for its polls."""


@dataclass(slots=True)
class ProxyStatistics:
    relayed: int = 0
    agent_sends: int = 0
    failures_sent: int = 0
    refused: int = 0
    malformed: int = 0
    """Proxy messages that did not decode, or asked for something the agent cannot send."""
    zero_sync: int = 0
    attenuated: int = 0
    repeated_sends: int = 0
    route_retries: int = 0
    uplink_responses: int = 0
    polls: int = 0


class ProxyStack(LonStack):
    """A LonStack that plays the Annex E roles; see the module docstring."""

    def __init__(
        self,
        node: LonNode,
        config: StackConfig | None = None,
        hook: NetworkHook | None = None,
        *,
        routes: RouteProvider | None = None,
        repeater: RepeaterConfig | None = None,
    ) -> None:
        super().__init__(node, config, hook)
        self.routes = routes
        self.repeater = repeater if repeater is not None else RepeaterConfig()
        self.proxy_statistics = ProxyStatistics()
        self._relays: dict[int, _Relay] = {}
        self._sources: dict[int, _SourceSend] = {}
        self._uplinks: dict[tuple[int, int], _Uplink] = {}
        self._direct: dict[int, SubnetNodeAddress] = {}
        """Handles of acknowledged direct sends whose outcome goes to the route provider (bounded)."""
        self._noted: dict[int, None] = {}
        """Request ids of REQUESTs already seen by :meth:`_note_request` (bounded, insertion-ordered)."""
        self.failures: deque[RepeatingFailed] = deque(maxlen=256)
        """Repeating failures the source learned of, oldest first (bounded)."""
        self.heard: dict[tuple[int, int], int] = {}
        """Neighbour table: frames heard (decoded, any destination) per source subnet/node (bounded)."""
        self.sent_as: dict[tuple[int, int], int] = {}
        """Frames sent per source subnet/node (bounded): what a neighbour's :attr:`heard` count of this
        node is measured against. Frames sent before commissioning (from 0/0, the discovery answers) do
        not count against the node's address, else every link of a node found late looks weak
        (docs/decisions/0071)."""
        self._processing = False

    # ------------------------------------------------------------------ stack entry points

    def send(
        self, destination: Address, apdu: Apdu, service: Service = Service.ACKD, **options: object
    ) -> int:
        now = options.get("now")
        if isinstance(now, int | float):
            self._advance(float(now))
        handle = self._uplink_send(destination, apdu)
        if handle is None:
            route = self.routes.route(destination, self._now) if self.routes is not None else None
            if route:
                handle = self._source_send(destination, apdu, Service(service), route, options)
            else:
                handle = super().send(destination, apdu, service, **options)  # type: ignore[arg-type]
                self._note_direct(handle, destination, Service(service))
        self._process()
        return handle

    def receive_lon_frame(self, frame: LonFrame, now: float) -> None:
        key = (frame.npdu.source_subnet, frame.npdu.source_node)
        if key in self.heard or len(self.heard) < MAX_NEIGHBOURS:
            self.heard[key] = self.heard.get(key, 0) + 1
        super().receive_lon_frame(frame, now)
        self._process()

    def transmit_frame(self, frame: LonFrame) -> None:
        key = (frame.npdu.source_subnet, frame.npdu.source_node)
        if key in self.sent_as or len(self.sent_as) < MAX_NEIGHBOURS:
            self.sent_as[key] = self.sent_as.get(key, 0) + 1
        super().transmit_frame(frame)

    def frames_sent_as(self, key: tuple[int, int]) -> int:
        """Frames this node sent from subnet/node ``key``."""
        return self.sent_as.get(key, 0)

    def handle_timer(self, now: float) -> None:
        super().handle_timer(now)
        self._answer_expired_slots(now)
        self._process()

    def get_timer(self) -> float | None:
        deadline = super().get_timer()
        for uplink in self._uplinks.values():
            if uplink.slots:
                due = uplink.slots[0][1]
                deadline = due if deadline is None else min(deadline, due)
        return deadline

    def busy(self) -> bool:
        return super().busy() or bool(self._sources) or bool(self._relays)

    # ------------------------------------------------------------------ event routing

    def _note_direct(self, handle: int, destination: Address, service: Service) -> None:
        """Watch an acknowledged direct send to a node: its outcome is reported to the route provider
        like a route's (link 0 broken on failure), so a weak direct link the provider chose is penalised
        and the next send takes another path (docs/decisions/0071)."""
        acknowledged = service in (Service.ACKD, Service.REQUEST)
        if self.routes is None or not acknowledged or not isinstance(destination, SubnetNodeAddress):
            return
        self._direct[handle] = destination
        while len(self._direct) > _NOTED_MAX:
            del self._direct[next(iter(self._direct))]

    def _direct_outcomes(self) -> None:
        for event in self._events:
            if isinstance(event, Completed) and event.handle in self._direct:
                destination = self._direct.pop(event.handle)
                if self.routes is not None:
                    self.routes.report(destination, [], None if event.success else 0, self._now)

    def _process(self) -> None:
        if self._processing:
            return
        self._processing = True
        try:
            if self._direct:
                self._direct_outcomes()
            while True:
                mine = [e for e in self._events if self._owned(e)]
                if not mine:
                    return
                self._events = [e for e in self._events if not self._owned(e)]
                for event in mine:
                    self._handle(event)
        finally:
            self._processing = False

    def _owned(self, event: Event) -> bool:
        if isinstance(event, Completed | ResponseReceived):
            return event.handle in self._relays or event.handle in self._sources
        if self.repeater.repeating and isinstance(event.apdu, ForeignFrame) and event.apdu.code == PROXY_CODE:
            return True
        if isinstance(event.apdu, ApplicationMessage) and event.request_id not in self._noted:
            self._noted[event.request_id] = None
            while len(self._noted) > _NOTED_MAX:
                del self._noted[next(iter(self._noted))]
            self._note_request(event)
        return False

    def _handle(self, event: Event) -> None:
        if isinstance(event, MessageReceived):
            self._proxy_message(event)
        elif event.handle in self._relays:
            self._relay_event(event)
        else:
            self._source_event(event)

    # ------------------------------------------------------------------ target: uplink by response

    def _note_request(self, event: MessageReceived) -> None:
        if not self.repeater.uplink_by_response or event.service is not Service.REQUEST:
            return
        key = (event.source_subnet, event.source_node)
        uplink = self._uplinks.get(key)
        if uplink is None:
            if len(self._uplinks) >= self.repeater.max_uplink_peers:
                oldest = next(iter(self._uplinks))
                for request_id, _ in self._uplinks.pop(oldest).slots:
                    self.respond(request_id, ProxySuccess().to_apdu(), self._now)
            uplink = self._uplinks[key] = _Uplink()
        uplink.last_request = self._now
        if uplink.queue:  # something was waiting for this peer: answer at once
            handle, apdu = uplink.queue.popleft()
            self._answer_slot(event.request_id, apdu, handle)
            return
        uplink.slots.append((event.request_id, self._now + self.repeater.target_hold))

    def respond(self, request_id: int, apdu: Apdu | None, now: float) -> bool:
        """A REQUEST answered by the application itself (the ADP's request/response service,
        docs/decisions/0093) closes its uplink slot; a null response leaves the slot to answer 0x4D."""
        for uplink in self._uplinks.values():
            slot = next((s for s in uplink.slots if s[0] == request_id), None)
            if slot is None:
                continue
            if apdu is None:
                return True
            uplink.slots.remove(slot)
            self.proxy_statistics.uplink_responses += 1
            break
        return super().respond(request_id, apdu, now)

    def _answer_slot(self, request_id: int, apdu: Apdu, handle: int | None) -> None:
        ok = self.respond(request_id, apdu, self._now)
        self.proxy_statistics.uplink_responses += 1
        if handle is not None:
            self._events.append(Completed(handle, ok))

    def _uplink_send(self, destination: Address, apdu: Apdu) -> int | None:
        if not isinstance(destination, SubnetNodeAddress):
            return None
        uplink = self._uplinks.get((destination.destination_subnet, destination.destination_node))
        if uplink is None:
            return None
        quiet = self._now - uplink.last_request > self.repeater.uplink_queue_wait
        if not uplink.slots and not uplink.polled and quiet:
            return None  # a direct peer (it never polls): no answer of ours is pending for it
        handle = self._next_handle
        self._next_handle += 1
        if uplink.slots:
            request_id, _ = uplink.slots.popleft()
            self._answer_slot(request_id, apdu, handle)
        elif len(uplink.queue) < self.repeater.max_uplink_queue:
            uplink.queue.append((handle, apdu))
        else:
            self._events.append(Completed(handle, False))
        return handle

    def _answer_expired_slots(self, now: float) -> None:
        for uplink in self._uplinks.values():
            while uplink.slots and uplink.slots[0][1] <= now:
                request_id, _ = uplink.slots.popleft()
                self.respond(request_id, ProxySuccess().to_apdu(), self._now)

    # ------------------------------------------------------------------ repeater and agent

    def _proxy_message(self, event: MessageReceived) -> None:
        apdu = event.apdu
        assert isinstance(apdu, ForeignFrame)
        session = event.service is Service.REQUEST
        if not apdu.data:  # an uplink poll for the target
            self.proxy_statistics.polls += 1
            self._poll_received(event)
            return
        try:
            request = ProxyRequest.decode(apdu.data)
        except (DecodeError, ValueError) as exc:
            self.proxy_statistics.malformed += 1
            _log.info("malformed proxy message from %d/%d: %s", event.source_subnet, event.source_node, exc)
            if session:
                self.respond(event.request_id, None, self._now)
            return
        count = len(request.hops)
        if session and len(self._relays) >= self.repeater.max_relays:
            self.proxy_statistics.refused += 1
            self._fail_upstream(event.request_id, count, False)
            return
        try:
            handle = (
                self._forward(event, request) if request.hops else self._act_as_agent(event, request.agent)
            )
        except EncodeError as exc:
            self.proxy_statistics.malformed += 1
            _log.info(
                "proxy message from %d/%d not forwarded: %s", event.source_subnet, event.source_node, exc
            )
            if session:
                self._fail_upstream(event.request_id, count, False)
            return
        if session:
            self._relays[handle] = _Relay(event.request_id, count)

    def _poll_received(self, event: MessageReceived) -> None:
        if event.service is not Service.REQUEST:
            return
        uplink = self._uplinks.get((event.source_subnet, event.source_node))
        if uplink is not None:
            uplink.polled = True
        if uplink is not None and uplink.queue:
            handle, queued = uplink.queue.popleft()
            self._answer_slot(event.request_id, queued, handle)
        else:
            self.respond(event.request_id, ProxySuccess().to_apdu(), self._now)

    def _own_subnet(self, event: MessageReceived) -> int:
        index = event.domain_index if event.domain_index is not None else 0
        domain = self.node.domains[index]
        return domain.subnet if domain is not None else 0

    def _forward(self, event: MessageReceived, request: ProxyRequest) -> int:
        nxt, alt, forwarded = request.next_hop(event.source_subnet, self._own_subnet(event))
        tx = request.tx_ctrl or self.repeater.hop_tx
        if request.all_agents:
            self._agent_send(event, request.agent, broadcast_copy=True)
        self.proxy_statistics.relayed += 1
        return LonStack.send(
            self,
            nxt,
            forwarded.to_apdu(),
            event.service,
            priority=event.priority,
            domain_index=event.domain_index or 0,
            retry_count=tx.retry,
            tx_timer=min(tx.timer, 4) if request.long_timer else tx.timer,
            long_timer=request.long_timer,
            now=self._now,
            last_try_extra=hop_widening(tx.timer, request.long_timer, len(forwarded.hops) + 1),
            alt_path=alt,
            auth=event.auth_requested,
        )

    def _act_as_agent(self, event: MessageReceived, agent: AgentPart) -> int:
        return self._agent_send(event, agent, broadcast_copy=False)

    def _agent_send(self, event: MessageReceived, agent: AgentPart, *, broadcast_copy: bool) -> int:
        destination, group_size = agent.target.resolve(event.source_subnet, self._own_subnet(event))
        service = agent.service
        if broadcast_copy:
            service = Service.UNACKD_RPT if service is Service.UNACKD_RPT else Service.UNACKD
        elif (
            group_size is None
            and isinstance(destination, GroupAddress)
            and service
            in (
                Service.ACKD,
                Service.REQUEST,
            )
        ):
            raise EncodeError("an acknowledged group target needs the group size (type 0)")
        auth_key = None
        if agent.alternate_key is not None:
            auth_key = agent.alternate_key.apply(self._base_key(event, agent.alternate_key.oma))
        if agent.mode == AgentMode.ZERO_SYNC:
            self.proxy_statistics.zero_sync += 1
        elif agent.mode == AgentMode.ATTENUATE:
            self.proxy_statistics.attenuated += 1
        self.proxy_statistics.agent_sends += 1
        return LonStack.send(
            self,
            destination,
            agent.apdu,
            service,
            priority=event.priority,
            domain_index=event.domain_index or 0,
            retry_count=agent.tx_ctrl.retry,
            tx_timer=agent.tx_ctrl.timer,
            repeat_timer=agent.tx_ctrl.timer,
            group_size=group_size,
            max_responses=1 if isinstance(destination, BroadcastAddress) else None,
            alt_path=agent.path,
            auth=event.auth_requested or agent.mode == AgentMode.ALTERNATE_KEY,
            now=self._now,
            auth_key=auth_key,
        )

    def _base_key(self, event: MessageReceived, oma: bool) -> bytes:
        if oma:
            return b"".join(d.authentication_key if d is not None else bytes(6) for d in self.node.domains)
        index = event.domain_index if event.domain_index is not None else 0
        domain = self.node.domains[index]
        return domain.authentication_key if domain is not None else bytes(6)

    def _fail_upstream(self, request_id: int | None, count: int, authentication: bool) -> None:
        if request_id is None:
            return
        self.proxy_statistics.failures_sent += 1
        self.respond(request_id, RepeatingFailure(count, authentication).to_apdu(), self._now)

    def _relay_event(self, event: Completed | ResponseReceived) -> None:
        relay = self._relays[event.handle]
        if isinstance(event, ResponseReceived):
            if not relay.responded and relay.request_id is not None:
                relay.responded = True
                self.respond(relay.request_id, event.apdu, self._now)
            return
        del self._relays[event.handle]
        if relay.responded:
            return
        if event.success:
            if relay.request_id is not None:
                self.respond(relay.request_id, ProxySuccess().to_apdu(), self._now)
        else:
            self._fail_upstream(relay.request_id, relay.count, self.failed_after_challenge(event.handle))

    # ------------------------------------------------------------------ source

    def _proxy_request(
        self, destination: Address, apdu: Apdu, service: Service, route: list[SubnetNodeAddress]
    ) -> ProxyRequest:
        cfg = self.repeater
        if cfg.uplink_by_response and service is Service.ACKD:
            service = Service.REQUEST
        own = next((d.subnet for d in self.node.domains if d is not None), 0)
        uniform = cfg.uniform and all(hop.destination_subnet == own for hop in route)
        hops = [
            HopAddress(hop.destination_node, None if uniform else hop.destination_subnet) for hop in route[1:]
        ]
        agent = AgentPart(ProxyTarget.for_address(destination), apdu, service, tx_ctrl=cfg.agent_tx)
        return ProxyRequest(
            agent,
            hops,
            cfg.hop_tx if hops else None,
            uniform_by_dest=uniform and bool(hops),
            long_timer=cfg.long_timer,
        )

    def _source_send(
        self,
        destination: Address,
        apdu: Apdu,
        service: Service,
        route: list[SubnetNodeAddress],
        options: dict[str, object],
    ) -> int:
        priority = bool(options.get("priority", False))
        index = options.get("domain_index", 0)
        record = _SourceSend(
            0,
            destination,
            apdu,
            service,
            list(route),
            priority,
            index if isinstance(index, int) else 0,
            bool(options.get("auth", False)),
        )
        handle = self._send_on_route(record)
        record.app_handle = handle
        return handle

    def _send_on_route(self, record: _SourceSend, apdu: Apdu | None = None) -> int:
        request = self._proxy_request(record.destination, apdu or record.apdu, record.service, record.route)
        if apdu is not None:
            request.agent.service = Service.REQUEST
        cfg = self.repeater
        tx = cfg.hop_tx
        handle = LonStack.send(
            self,
            record.route[0],
            request.to_apdu(),
            Service.REQUEST,
            priority=record.priority,
            domain_index=record.domain_index,
            retry_count=tx.retry,
            tx_timer=min(tx.timer, 4) if cfg.long_timer else tx.timer,
            long_timer=cfg.long_timer,
            last_try_extra=hop_widening(tx.timer, cfg.long_timer, len(record.route)),
            auth=record.auth,
            now=self._now,
        )
        self.proxy_statistics.repeated_sends += 1
        self._sources[handle] = record
        return handle

    def _source_event(self, event: Completed | ResponseReceived) -> None:
        record = self._sources[event.handle]
        if isinstance(event, ResponseReceived):
            if record.outcome is None:
                self._source_response(record, event)
            return
        del self._sources[event.handle]
        if record.poll:
            return
        if record.outcome is None:  # no response at all: the first repeater was not reached
            record.failure = self._failure(record, None, False)
        if record.outcome:
            self._report(record, None)
            self._events.append(Completed(record.app_handle, True))
            return
        assert record.failure is not None
        self._retry_or_fail(record, record.failure)

    def _source_response(self, record: _SourceSend, event: ResponseReceived) -> None:
        try:
            outcome = decode_outcome(event.apdu)
        except DecodeError:
            outcome = RepeatingFailure(0)
        if isinstance(outcome, RepeatingFailure):
            record.outcome = False
            record.failure = self._failure(record, outcome.count, outcome.authentication)
            return
        record.outcome = True
        if outcome is not None:
            return
        target = record.destination
        subnet, node = (
            (target.destination_subnet, target.destination_node)
            if isinstance(target, SubnetNodeAddress)
            else (0, 0)
        )
        if record.service is Service.REQUEST and not record.poll:
            self._events.append(ResponseReceived(record.app_handle, subnet, node, event.apdu))
            return
        domain = self.node.domains[record.domain_index]
        own = SubnetNodeAddress(domain.subnet, domain.node) if domain is not None else SubnetNodeAddress(0, 0)
        self._events.append(
            MessageReceived(
                subnet,
                node,
                domain.domain_id if domain else b"",
                record.domain_index,
                own,
                event.apdu,
                Service.ACKD,
                record.priority,
            )
        )
        if self.repeater.poll_after_data and record.polls < self.repeater.max_polls:
            poll = _SourceSend(
                record.app_handle,
                record.destination,
                UPLINK_POLL,
                Service.REQUEST,
                record.route,
                record.priority,
                record.domain_index,
                record.auth,
                poll=True,
                polls=record.polls + 1,
            )
            self._send_on_route(poll, UPLINK_POLL)

    def _failure(self, record: _SourceSend, count: int | None, authentication: bool) -> RepeatingFailed:
        route = record.route
        if count is None or not 0 <= count < len(route):
            broken_after = None
            index = 0
        else:
            index = len(route) - count  # the node with this count is route[len - 1 - count]
            broken_after = route[index - 1]
        return RepeatingFailed(
            record.app_handle, record.destination, tuple(route), count, broken_after, authentication
        )

    def _report(self, record: _SourceSend, broken: int | None) -> None:
        if self.routes is not None:
            self.routes.report(record.destination, record.route, broken, self._now)

    def _retry_or_fail(self, record: _SourceSend, failure: RepeatingFailed) -> None:
        broken = 0 if failure.broken_after is None else record.route.index(failure.broken_after) + 1
        self._report(record, broken)
        route = self.routes.route(record.destination, self._now) if self.routes is not None else None
        retry = bool(route) and record.attempts < self.repeater.max_route_attempts
        _log.info(
            "repeating to %r broke after %s%s",
            record.destination,
            failure.broken_after,
            ", retrying on another route" if retry else "",
        )
        self.failures.append(
            RepeatingFailed(
                failure.handle,
                failure.destination,
                failure.route,
                failure.count,
                failure.broken_after,
                failure.authentication,
                retry,
            )
        )
        if not retry or route is None:
            self._events.append(Completed(record.app_handle, False))
            return
        self.proxy_statistics.route_retries += 1
        again = _SourceSend(
            record.app_handle,
            record.destination,
            record.apdu,
            record.service,
            list(route),
            record.priority,
            record.domain_index,
            record.auth,
            record.attempts + 1,
        )
        self._send_on_route(again)


__all__ = [
    "UPLINK_POLL",
    "ProxyStack",
    "ProxyStatistics",
    "RepeaterConfig",
    "RepeatingFailed",
    "RouteProvider",
    "StaticRoutes",
    "hop_widening",
]
