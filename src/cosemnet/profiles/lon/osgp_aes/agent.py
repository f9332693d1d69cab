"""The OSGP-AES-128-PSK suite of one node, sans-IO: channel set-up (D.7), protected ADP (D.8), key
management (D.10/D.11) and error messages (D.12) [design, decisions 0043-0047].

Two agents, each an :class:`~cosemnet.profiles.lon.adp_service.AdpAuxiliary` (its own 14908-1 message
code, on the ADP's clock) and a :class:`~cosemnet.profiles.lon.adp_service.SecuritySuiteResolver` (it
hands the ADP the :class:`~.context.PeerSuite` of a peer):

* :class:`ConcentratorSecurity` (NNAP): holds the :class:`~.keys.KeyStore`; ``commission`` opens a
  secure channel with a meter (ChallengeRequest -> ChallengeResponse -> CommissionRequest ->
  CommissionResponse, retried on timeout), ``renew`` re-keys it while the old key stays usable,
  ``update_domain_key`` sends UpdateDomainKeysRequest to every meter, ``update_long_term_key`` replaces a
  meter's LTK. It acts on AuthenticationFailure (unknown or expired key: the channel is set up again)
  and SequenceError (re-key when its own counter is behind the meter's window).
* :class:`MeterSecurity` (LNAP): answers the set-up, installs session and domain keys, and reports
  rejected PDUs with AuthenticationFailure / SequenceError (at most one per peer per
  ``error_interval``). Intrusion detection (D.7.6): ``max_failures`` failed set-ups or rejected PDUs
  from a peer put it in back-off (doubling up to ``backoff_max``), during which its challenges are
  refused, and raise a :class:`SecurityEvent` (``on_event``: the meter's event log).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import Final

from cosemnet.errors import DecodeError, EncodeError
from cosemnet.profiles.lon.addresses import Address, BroadcastAddress, SubnetNodeAddress
from cosemnet.profiles.lon.adp import (
    NULL_SUITE_ID,
    OSGP_AES_128_PSK_SUITE_ID,
    AdpSecurityError,
    AdpSecuritySuite,
    NullSecuritySuite,
)
from cosemnet.profiles.lon.adp_service import AdpLowerLayer, AuxiliaryLower, PeerKey, address_key
from cosemnet.profiles.lon.lon_apdu import ApplicationMessage
from cosemnet.profiles.lon.osgp_aes.context import (
    DOMAIN_FLAG,
    NONCE_KEY_MANAGEMENT,
    CryptoContext,
    DomainKeys,
    Failure,
    KeyState,
    PeerSuite,
    Reject,
    ReplayWindow,
    SecurityStats,
    counter_for,
    nonce,
    same_session,
    short_gap_exceeded,
    split_security_header,
)
from cosemnet.profiles.lon.osgp_aes.keys import KeyStore, LongTermKey, mac_key, session_key
from cosemnet.profiles.lon.osgp_aes.messages import (
    MAC_LENGTH,
    OSGP_SECURITY_MESSAGE_CODE,
    AuthenticationFailure,
    ChallengeRequest,
    ChallengeResponse,
    CommissionRequest,
    CommissionResponse,
    FailureReason,
    LongTermKeyUpdateRequest,
    LongTermKeyUpdateResponse,
    SecurityMessage,
    SequenceError,
    Status,
    UpdateDomainKeysRequest,
    UpdateDomainKeysResponse,
    decode_security_message,
)
from cosemnet.profiles.lon.transaction import Service
from cosemnet.security.counters import CounterStore, MemoryCounterStore
from cosemnet.security.errors import AuthenticationError, SecurityError
from cosemnet.security.osgp import CtrDrbg, osgp_mac, osgp_mac_verify

log = logging.getLogger(__name__)

MAX_EVENTS: Final = 64
MAX_PEERS: Final = 32
"""Peers a meter keeps state for (contexts, challenges, back-off) [design]."""


class SecurityEventKind(Enum):
    CHANNEL_ESTABLISHED = "channel_established"
    CHANNEL_FAILED = "channel_failed"
    HANDSHAKE_REFUSED = "handshake_refused"
    INTRUSION_SUSPECTED = "intrusion_suspected"
    DOMAIN_KEY_INSTALLED = "domain_key_installed"
    LONG_TERM_KEY_UPDATED = "long_term_key_updated"
    RESYNCHRONISED = "resynchronised"


@dataclass(frozen=True, slots=True)
class SecurityEvent:
    """Something the security log records (no key material)."""

    time: float
    kind: SecurityEventKind
    peer: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class OsgpConfig:
    """Settings of one node's suite (defaults: decisions 0046 and 0047)."""

    node_id: bytes
    address: tuple[int, int]
    """This node's (subnet, node)."""
    offered_suites: tuple[int, ...] = (OSGP_AES_128_PSK_SUITE_ID,)
    """NNAP: suites offered in the ChallengeRequest, preferred first. LNAP: suites accepted."""
    allow_null_suite: bool = False
    session_lifetime: float = 86400.0
    domain_key_lifetime: float = 7 * 86400.0
    handshake_timeout: float = 20.0
    handshake_retries: int = 3
    max_failures: int = 5
    backoff_initial: float = 60.0
    backoff_max: float = 3600.0
    error_interval: float = 1.0
    renew_after_frames: int = 1 << 30
    management_request_response: bool = True
    """NNAP: its management messages (ChallengeRequest, CommissionRequest, UpdateDomainKeysRequest,
    LongTermKeyUpdateRequest) go as 14908-1 REQUESTs on the priority channel and the meter answers in
    the RESPONSE, so they share the concentrator's one transaction per priority with its reads (decision
    0094, management traffic). False: acknowledged service, normal priority (the earlier behaviour)."""
    """Re-key a session once its send counter passes this (far below 2^32)."""

    def __post_init__(self) -> None:
        if len(self.node_id) != 6:
            raise ValueError("node_id has 6 bytes")
        if self.allow_null_suite is False and NULL_SUITE_ID in self.offered_suites:
            raise ValueError("offering the null suite needs allow_null_suite")


def _peer_text(address: Address) -> str:
    if isinstance(address, SubnetNodeAddress):
        return f"{address.destination_subnet}/{address.destination_node}"
    return type(address).__name__


def _subnet_node(address: Address) -> tuple[int, int]:
    if isinstance(address, SubnetNodeAddress):
        return (address.destination_subnet, address.destination_node)
    return (0, 0xFF)


class _Agent:
    """What both ends share: sending management messages, events, the DRBG, the suite cache."""

    def __init__(
        self,
        config: OsgpConfig,
        counter_store: CounterStore | None,
        on_event: Callable[[SecurityEvent], None] | None,
    ) -> None:
        self.config = config
        self.counter_store: CounterStore = (
            counter_store if counter_store is not None else MemoryCounterStore()
        )
        self.on_event = on_event
        self.lower: AdpLowerLayer | None = None
        self.drbg = CtrDrbg()
        self.stats = SecurityStats()
        self.events: list[SecurityEvent] = []
        self.domain = DomainKeys()
        self.contexts: dict[PeerKey, CryptoContext] = {}
        self._suites: dict[PeerKey, PeerSuite] = {}
        self.now = 0.0

    @property
    def message_code(self) -> int:
        return OSGP_SECURITY_MESSAGE_CODE

    def attach(self, lower: AdpLowerLayer) -> None:
        self.lower = lower

    def _event(self, kind: SecurityEventKind, peer: Address, detail: str = "") -> None:
        event = SecurityEvent(self.now, kind, _peer_text(peer), detail)
        self.events = [*self.events[-(MAX_EVENTS - 1) :], event]
        log.info("OSGP security %s %s %s", kind.value, event.peer, detail)
        if self.on_event is not None:
            self.on_event(event)

    def _send(
        self, destination: Address, message: SecurityMessage, *, request: bool = False
    ) -> Hashable | None:
        """Send a management message; ``request``: one the peer answers (REQUEST on the priority channel
        when configured and the lower layer is the ADP's :class:`AuxiliaryLower`). A meter's answer to a
        REQUEST goes in its RESPONSE (the AuxiliaryLower does that)."""
        if self.lower is None:
            return None
        apdu = ApplicationMessage(self.message_code, message.encode())
        if request and self.config.management_request_response and isinstance(self.lower, AuxiliaryLower):
            return self.lower.send(destination, apdu, Service.REQUEST, priority=True)
        return self.lower.send(destination, apdu, Service.ACKD)

    def tick(self, now: float) -> None:
        self.now = now
        for ctx in self.contexts.values():
            ctx.now = now

    def suite_for(self, peer: Address, suite_id: int) -> AdpSecuritySuite | None:
        if suite_id == NULL_SUITE_ID:
            return NullSecuritySuite() if self.config.allow_null_suite else None
        if suite_id != OSGP_AES_128_PSK_SUITE_ID:
            return None
        key = address_key(peer)
        ctx = self.contexts.get(key)
        if ctx is None:
            return None
        suite = self._suites.get(key)
        if suite is None or suite.context is not ctx:
            suite = PeerSuite(ctx, self.domain, self.stats)
            self._suites[key] = suite
        return suite

    def message_received(self, source: Address, apdu: ApplicationMessage, now: float) -> None:
        self.tick(now)
        try:
            message = decode_security_message(apdu.data)
        except DecodeError:
            self.stats.reject(Reject.MALFORMED)
            return
        try:
            self._handle(source, message)
        except (SecurityError, DecodeError, EncodeError, ValueError) as exc:
            self.stats.reject(Reject.AUTHENTICATION if isinstance(exc, SecurityError) else Reject.MALFORMED)
            log.debug("OSGP security message from %s refused: %s", _peer_text(source), type(exc).__name__)

    def _handle(self, source: Address, message: SecurityMessage) -> None:
        raise NotImplementedError

    def _seal(self, state: KeyState, counter: int, header: bytes, key: bytes) -> bytes:
        return state.aead.encrypt(
            nonce(NONCE_KEY_MANAGEMENT, self.config.node_id, state.key_id, counter), key, header
        )


# ==================================================================================================
# Meter (LNAP)


class _NoChannelSuite:
    """What a meter's resolver hands the ADP for a last hop it has no channel with: a PDU that a channel
    of the meter authenticates (the NNAP through another agent, decision 0096) binds that address to the
    channel and is opened by it; any other is rejected and answered AuthenticationFailure(unknown key),
    so the NNAP sets the channel up again."""

    __slots__ = ("agent", "peer")

    def __init__(self, agent: MeterSecurity, peer: Address) -> None:
        self.agent = agent
        self.peer = peer

    @property
    def suite_id(self) -> int:
        return OSGP_AES_128_PSK_SUITE_ID

    @property
    def overhead(self) -> int:
        return 0

    def protect(self, pdu_header: bytes, payload: bytes) -> bytes:
        raise AdpSecurityError("no secure channel with this peer", 0, "an established secure channel")

    def unprotect(self, pdu_header: bytes, protected: bytes) -> bytes:
        suite = self.agent.channel_of(self.peer, pdu_header, protected)
        if suite is not None:
            plain = suite.unprotect(pdu_header, protected)  # a replay (a stranger's copy) fails here
            self.agent.heard(self.peer, suite.context)
            return plain
        try:
            key_id, counter, _ = split_security_header(protected)
        except DecodeError:
            self.agent.stats.reject(Reject.MALFORMED)
        else:  # a short header names the session by its low bits only (decision 0095)
            self.agent.orphan(self.peer, key_id, counter)
        raise AdpSecurityError("no secure channel with this peer", 0, "an established secure channel")


@dataclass(slots=True)
class _Challenge:
    request: ChallengeRequest
    response: ChallengeResponse
    ltk: LongTermKey = field(repr=False)


@dataclass(slots=True)
class _Backoff:
    failures: int = 0
    until: float = 0.0
    period: float = 0.0


class MeterSecurity(_Agent):
    """The LNAP side (see the module docstring). ``ltks``: the provisioned long-term keys."""

    def __init__(
        self,
        config: OsgpConfig,
        ltks: Iterable[LongTermKey],
        *,
        counter_store: CounterStore | None = None,
        on_event: Callable[[SecurityEvent], None] | None = None,
    ) -> None:
        super().__init__(config, counter_store, on_event)
        self.ltks: dict[int, LongTermKey] = {k.key_id: k for k in ltks}
        if not self.ltks:
            raise ValueError("a meter needs a long-term key")
        self.newest_ltk = max(self.ltks)
        """The LTK installed last; a channel set up under it retires the others (decision 0090)."""
        self._challenges: dict[PeerKey, _Challenge] = {}
        self._backoff: dict[PeerKey, _Backoff] = {}
        self._last_error: dict[PeerKey, float] = {}
        self._orphans: deque[tuple[Address, Failure]] = deque(maxlen=MAX_PEERS)
        """Protected PDUs from peers without a channel (e.g. after this meter restarted)."""
        self.channels: dict[bytes, CryptoContext] = {}
        """The secure channels by the NNAP's unique node id (decision 0096); ``contexts`` maps each last
        hop (the NNAP itself, or an agent repeating for it) to one of them."""

    def __repr__(self) -> str:
        return f"MeterSecurity({self.config.node_id.hex()}, {len(self.contexts)} channels)"

    def deadline(self) -> float | None:
        if self._orphans or any(ctx.failures for ctx in self.channels.values()):
            return self.now
        return None

    def pending(self) -> int:
        return len(self._orphans) + sum(len(ctx.failures) for ctx in self.channels.values())

    def tick(self, now: float) -> None:
        super().tick(now)
        for ctx in self.channels.values():
            last_hop = SubnetNodeAddress(*ctx.peer_address)
            while ctx.failures:
                self._report(address_key(last_hop), last_hop, ctx.failures.popleft())
        while self._orphans:
            peer, failure = self._orphans.popleft()
            self._report(address_key(peer), peer, failure)

    def suite_for(self, peer: Address, suite_id: int) -> AdpSecuritySuite | None:
        suite = super().suite_for(peer, suite_id)
        if suite is None and suite_id == OSGP_AES_128_PSK_SUITE_ID:
            return _NoChannelSuite(self, peer)
        return suite

    def channel_of(self, peer: Address, pdu_header: bytes, protected: bytes) -> PeerSuite | None:
        """The suite of the channel that authenticates a PDU from the unknown last hop ``peer`` (the NNAP
        repeated through another agent); ``peer`` is then bound to it (decision 0096). At most
        ``MAX_PEERS`` channels x 3 sessions are tried; the PDU is then checked (replay) as usual."""
        for ctx in reversed(self.channels.values()):
            ctx.now = self.now
            suite = PeerSuite(ctx, self.domain, self.stats)
            if suite.authentic(pdu_header, protected):
                self._bind(peer, ctx, heard=False)
                return suite
        return None

    def _bind(self, peer: Address, ctx: CryptoContext, *, heard: bool = True) -> None:
        key = address_key(peer)
        self.contexts.pop(key, None)
        self.contexts[key] = ctx
        while len(self.contexts) > 2 * MAX_PEERS:
            del self.contexts[next(iter(self.contexts))]
        if heard:
            self.heard(peer, ctx)

    def heard(self, peer: Address, ctx: CryptoContext) -> None:
        """An authentic message of the channel ``ctx`` came from ``peer``: its errors go there."""
        if isinstance(peer, SubnetNodeAddress):
            ctx.peer_address = _subnet_node(peer)

    def _mac_key(self, ltk_id: int | None = None) -> bytes | None:
        ltk = self.ltks.get(ltk_id) if ltk_id is not None else self.ltks[max(self.ltks)]
        return None if ltk is None else mac_key(ltk.key, self.config.node_id)

    # --- intrusion detection ------------------------------------------------------------------------

    def _blocked(self, key: PeerKey) -> bool:
        b = self._backoff.get(key)
        return b is not None and self.now < b.until

    def _failure(self, key: PeerKey, peer: Address, what: str, *, handshake: bool = True) -> None:
        if handshake:
            self.stats.handshake_failures += 1
        b = self._backoff.setdefault(key, _Backoff())
        b.failures += 1
        if b.failures >= self.config.max_failures:
            b.period = min(self.config.backoff_max, max(self.config.backoff_initial, b.period * 2))
            b.until = self.now + b.period
            b.failures = 0
            self._event(SecurityEventKind.INTRUSION_SUSPECTED, peer, f"{what}; back-off {b.period:.0f} s")
        if len(self._backoff) > MAX_PEERS:
            oldest = min(self._backoff, key=lambda k: self._backoff[k].until)
            del self._backoff[oldest]

    def _report(self, key: PeerKey, peer: Address, failure: Failure) -> None:
        self._failure(key, peer, f"rejected PDU ({failure.reason.value})", handshake=False)
        last = self._last_error.get(key)
        if last is not None and self.now - last < self.config.error_interval:
            return
        mk = self._mac_key()
        if mk is None:
            return
        self._last_error[key] = self.now
        if failure.reason is Reject.SEQUENCE:
            seq = SequenceError(
                self.config.node_id, failure.key_id, failure.counter, failure.expected, b"\0" * 8
            )
            msg: SecurityMessage = SequenceError(
                seq.lnap_id, seq.key_id, seq.counter, seq.expected, osgp_mac(mk, seq.body(), MAC_LENGTH)
            )
        else:
            reason = {
                Reject.UNKNOWN_KEY: FailureReason.UNKNOWN_KEY,
                Reject.EXPIRED_KEY: FailureReason.EXPIRED_KEY,
            }.get(failure.reason, FailureReason.TAG_MISMATCH)
            af = AuthenticationFailure(
                reason, self.config.node_id, failure.key_id, failure.counter, b"\0" * 8
            )
            msg = AuthenticationFailure(
                af.reason, af.lnap_id, af.key_id, af.counter, osgp_mac(mk, af.body(), MAC_LENGTH)
            )
        self.stats.errors_sent[type(msg).__name__] += 1
        self._send(peer, msg)

    def orphan(self, source: Address, key_id: int, counter: int) -> None:
        """A protected PDU came from a peer without a channel: answered AuthenticationFailure(unknown key)."""
        self.stats.reject(Reject.NO_CHANNEL)
        self._orphans.append((source, Failure(Reject.UNKNOWN_KEY, key_id, counter)))

    # --- message handling --------------------------------------------------------------------------

    def _handle(self, source: Address, message: SecurityMessage) -> None:
        if isinstance(message, ChallengeRequest):
            self._on_challenge(source, message)
        elif isinstance(message, CommissionRequest):
            self._on_commission(source, message)
        elif isinstance(message, UpdateDomainKeysRequest):
            self._on_domain_keys(source, message)
        elif isinstance(message, LongTermKeyUpdateRequest):
            self._on_long_term_key(source, message)
        else:
            self.stats.reject(Reject.MALFORMED)

    def _on_challenge(self, source: Address, request: ChallengeRequest) -> None:
        key = address_key(source)
        status = Status.OK
        allowed = [s for s in request.suites if s in self.config.offered_suites]
        if NULL_SUITE_ID in allowed and not self.config.allow_null_suite:
            allowed.remove(NULL_SUITE_ID)
        ltk = self.ltks.get(request.ltk_id)
        if self._blocked(key):
            status = Status.BACK_OFF
        elif not allowed:
            status = Status.NO_COMMON_SUITE
        elif ltk is None:
            status = Status.UNKNOWN_KEY
        suite = allowed[0] if allowed else 0
        r_l = self.drbg.generate(8)
        mk_ltk = ltk if ltk is not None else self.ltks[max(self.ltks)]
        unsigned = ChallengeResponse(status, suite, request.ltk_id, self.config.node_id, r_l, b"\0" * 8)
        mac = osgp_mac(
            mac_key(mk_ltk.key, self.config.node_id), request.encode() + unsigned.body(), MAC_LENGTH
        )
        response = ChallengeResponse(status, suite, request.ltk_id, self.config.node_id, r_l, mac)
        if status is Status.OK and ltk is not None:
            self._challenges[key] = _Challenge(request, response, ltk)
            if len(self._challenges) > MAX_PEERS:
                del self._challenges[next(iter(self._challenges))]
        else:
            self._event(SecurityEventKind.HANDSHAKE_REFUSED, source, status.name)
        self._send(source, response)

    def _on_commission(self, source: Address, request: CommissionRequest) -> None:
        key = address_key(source)
        challenge = self._challenges.get(key)
        if challenge is None or self._blocked(key):
            self._failure(key, source, "commission request without a challenge")
            return
        if request.r_n != challenge.request.r_n or request.r_l != challenge.response.r_l:
            self._failure(key, source, "commission request for another challenge")
            return
        mk = mac_key(challenge.ltk.key, self.config.node_id)
        transcript = challenge.request.encode() + challenge.response.encode() + request.body()
        try:
            osgp_mac_verify(mk, transcript, request.mac)
        except AuthenticationError:
            self._failure(key, source, "commission request MAC failed")
            del self._challenges[key]
            return
        del self._challenges[key]
        self._retire_older_ltks(challenge.ltk.key_id, source)
        ks = session_key(
            challenge.ltk.key,
            challenge.request.nnap_id,
            self.config.node_id,
            request.r_n,
            request.r_l,
            challenge.response.suite_id,
            request.session_id,
        )
        ctx = self._context(source, challenge.request.nnap_id, mk)
        lifetime = request.lifetime or None
        state = KeyState(request.session_id, ks, self.now, None if lifetime is None else self.now + lifetime)
        state.counter = counter_for(
            self.counter_store, self.config.node_id, f"s{challenge.request.nnap_id.hex()}"
        )
        state.counter.reset_for_new_key()
        ctx.install_session(state)
        self._backoff.pop(key, None)
        self.stats.handshakes += 1
        unsigned = CommissionResponse(Status.OK, request.session_id, b"\0" * 8)
        mac = osgp_mac(ks, request.encode() + unsigned.body(), MAC_LENGTH)
        self._send(source, CommissionResponse(Status.OK, request.session_id, mac))
        self._event(SecurityEventKind.CHANNEL_ESTABLISHED, source, f"session {request.session_id}")

    def _retire_older_ltks(self, used: int, source: Address) -> None:
        """A channel under the newest LTK proves the NNAP has it: the older one (the factory PSK after
        commissioning) is no longer accepted (decision 0090)."""
        if used == self.newest_ltk and len(self.ltks) > 1:
            self.ltks = {used: self.ltks[used]}
            self._event(SecurityEventKind.LONG_TERM_KEY_UPDATED, source, f"ltk {used} only, older retired")

    def _context(self, source: Address, nnap_id: bytes, mk: bytes) -> CryptoContext:
        """The channel with the NNAP ``nnap_id`` (by its identity, not by the last hop ``source``:
        decision 0096), bound to ``source``."""
        ctx = self.channels.get(nnap_id)
        if ctx is None:
            ctx = CryptoContext(
                self.config.node_id,
                nnap_id,
                self.config.address,
                _subnet_node(source),
                mk,
                local_is_server=True,
            )
            ctx.now = self.now
            self.channels[nnap_id] = ctx
            if len(self.channels) > MAX_PEERS:
                gone = self.channels.pop(next(iter(self.channels)))
                for key in [k for k, c in self.contexts.items() if c is gone]:
                    del self.contexts[key]
        self._bind(source, ctx)
        ctx.mac_key = mk
        return ctx

    def _open_sealed(
        self, source: Address, session_id: int, counter: int, header: bytes, sealed: bytes
    ) -> tuple[CryptoContext, KeyState, bytes] | None:
        bound = self.contexts.get(address_key(source))
        held = [bound] if bound is not None else list(self.channels.values())  # decision 0096
        held = [c for c in held if session_id in c.sessions]
        if not held:
            self.stats.reject(Reject.UNKNOWN_KEY)
            return None
        for ctx in held:
            state = ctx.sessions[session_id]
            try:
                key = state.aead.decrypt(
                    nonce(NONCE_KEY_MANAGEMENT, ctx.peer_id, session_id, counter), sealed, header
                )
            except AuthenticationError:
                continue
            break
        else:
            self.stats.reject(Reject.AUTHENTICATION)
            self._failure(address_key(source), source, "sealed key failed authentication")
            return None
        self._bind(source, ctx)
        window = ctx.windows.setdefault(session_id, ReplayWindow())
        verdict = window.classify(counter)
        if verdict is not None:
            self.stats.reject(verdict)
            return None
        window.commit(counter)
        return ctx, state, key

    def _on_domain_keys(self, source: Address, request: UpdateDomainKeysRequest) -> None:
        opened = self._open_sealed(
            source, request.session_id, request.counter, request.header(), request.sealed_key
        )
        if opened is None:
            return
        _ctx, state, key = opened
        expires = None if request.lifetime == 0 else self.now + request.lifetime
        self.domain.install(
            KeyState(DOMAIN_FLAG | request.domain_key_id, key, self.now, expires), make_current=True
        )
        unsigned = UpdateDomainKeysResponse(Status.OK, request.session_id, request.domain_key_id, b"\0" * 8)
        mac = osgp_mac(state.key, request.encode() + unsigned.body(), MAC_LENGTH)
        self._send(
            source, UpdateDomainKeysResponse(Status.OK, request.session_id, request.domain_key_id, mac)
        )
        self._event(SecurityEventKind.DOMAIN_KEY_INSTALLED, source, f"domain key {request.domain_key_id}")

    def _on_long_term_key(self, source: Address, request: LongTermKeyUpdateRequest) -> None:
        opened = self._open_sealed(
            source, request.session_id, request.counter, request.header(), request.sealed_key
        )
        if opened is None:
            return
        _ctx, state, key = opened
        self.ltks[request.new_ltk_id] = LongTermKey(request.new_ltk_id, key)
        self.newest_ltk = request.new_ltk_id
        while len(self.ltks) > 2:  # the new key and the one before it (until a channel uses the new one)
            del self.ltks[min(k for k in self.ltks if k != request.new_ltk_id)]
        unsigned = LongTermKeyUpdateResponse(Status.OK, request.session_id, request.new_ltk_id, b"\0" * 8)
        mac = osgp_mac(state.key, request.encode() + unsigned.body(), MAC_LENGTH)
        self._send(source, LongTermKeyUpdateResponse(Status.OK, request.session_id, request.new_ltk_id, mac))
        self._event(SecurityEventKind.LONG_TERM_KEY_UPDATED, source, f"ltk {request.new_ltk_id}")


# ==================================================================================================
# Concentrator (NNAP)


class ChannelState(Enum):
    IDLE = "idle"
    CHALLENGED = "challenged"
    COMMISSIONING = "commissioning"
    ESTABLISHED = "established"
    FAILED = "failed"


@dataclass(slots=True)
class MeterChannel:
    """The NNAP's view of the secure channel with one meter."""

    address: SubnetNodeAddress
    node_id: bytes
    state: ChannelState = ChannelState.IDLE
    request: ChallengeRequest | None = None
    response: ChallengeResponse | None = None
    commission: CommissionRequest | None = None
    ltk: LongTermKey | None = field(default=None, repr=False)
    next_session: int = 1
    deadline: float | None = None
    retries: int = 0
    domain_key_id: int | None = None
    """The domain key the meter confirmed."""
    pending_domain: int | None = None
    pending_ltk: LongTermKey | None = field(default=None, repr=False)
    preferred_ltk: int | None = None
    """The LTK id the meter proved it holds (after it answered UNKNOWN_KEY to another)."""
    renewing: bool = False
    last_request: bytes = b""
    """The UpdateDomainKeysRequest in progress (its response's MAC covers it)."""
    last_ltk_request: bytes = b""


class ConcentratorSecurity(_Agent):
    """The NNAP side (see the module docstring)."""

    def __init__(
        self,
        config: OsgpConfig,
        keystore: KeyStore,
        *,
        counter_store: CounterStore | None = None,
        on_event: Callable[[SecurityEvent], None] | None = None,
    ) -> None:
        super().__init__(config, counter_store, on_event)
        self.keystore = keystore
        self.channels: dict[PeerKey, MeterChannel] = {}
        self.broadcast_context = CryptoContext(
            config.node_id, b"\xff" * 6, config.address, (0, 0xFF), bytes(16)
        )
        self.contexts[address_key(BroadcastAddress(0))] = self.broadcast_context
        if keystore.domain_key is not None:
            # a persisted domain key is sent with only when its frame counter is durable too: with a
            # memory store the counter would restart at 1 and repeat nonces of an earlier run, so the
            # key stays receive-only until update_domain_key hands out a fresh one (decision 0044)
            durable = not isinstance(self.counter_store, MemoryCounterStore)
            self._install_domain(keystore.domain_key_id, keystore.domain_key, make_current=durable)

    def __repr__(self) -> str:
        return f"ConcentratorSecurity({self.config.node_id.hex()}, {len(self.channels)} meters)"

    # --- public API ---------------------------------------------------------------------------------

    def established(self, address: Address) -> bool:
        channel = self.channels.get(address_key(address))
        return channel is not None and channel.state is ChannelState.ESTABLISHED

    def commission(self, address: SubnetNodeAddress, node_id: bytes, now: float) -> None:
        """Open (or re-open) the secure channel with the meter at ``address`` (D.7.3)."""
        self.tick(now)
        key = address_key(address)
        channel = self.channels.get(key)
        if channel is None or channel.node_id != node_id:
            channel = MeterChannel(address, bytes(node_id))
            self.channels[key] = channel
        channel.retries = 0
        self._challenge(channel)

    def renew(self, address: Address, now: float) -> None:
        """D.10.1: a new session key; the current one is used until the meter confirmed the new one."""
        self.tick(now)
        channel = self.channels.get(address_key(address))
        if channel is not None:
            channel.retries = 0
            channel.renewing = channel.state is ChannelState.ESTABLISHED
            self._challenge(channel)

    def update_domain_key(self, now: float, key: bytes | None = None) -> int:
        """D.10.2: a new domain key to every meter with a channel; broadcasts switch to it once every
        such meter confirmed it (or at the next call). Returns its id."""
        self.tick(now)
        key_id = ((self.keystore.domain_key_id or 0) % 127) + 1
        new_key = key if key is not None else self.drbg.generate(16)
        self.keystore.domain_key, self.keystore.domain_key_id = new_key, key_id
        self._install_domain(key_id, new_key, make_current=self.domain.current is None)
        for channel in self.channels.values():
            if channel.state is ChannelState.ESTABLISHED:
                self._send_domain_key(channel)
        return key_id

    def update_long_term_key(self, address: Address, now: float, key: bytes | None = None) -> bool:
        """D.11: send a new LTK to a meter over its channel; the key store keeps old and new until the meter
        confirmed (a lost response cannot lock the meter out: the next set-up tries both)."""
        self.tick(now)
        channel = self.channels.get(address_key(address))
        entry = None if channel is None else self.keystore.entry(channel.node_id)
        if channel is None or entry is None or channel.state is not ChannelState.ESTABLISHED:
            return False
        new = LongTermKey(
            (entry.current.key_id % 255) + 1, key if key is not None else self.drbg.generate(16)
        )
        entry.pending = new
        channel.pending_ltk = new
        ctx = self.contexts[address_key(address)]
        state = ctx.send_session()
        if state is None or state.counter is None:
            return False
        counter = state.counter.next()
        unsealed = LongTermKeyUpdateRequest(state.key_id, counter, new.key_id, bytes(24))
        sealed = self._seal(state, counter, unsealed.header(), new.key)
        request = LongTermKeyUpdateRequest(state.key_id, counter, new.key_id, sealed)
        channel.last_ltk_request = request.encode()
        self._send(channel.address, request, request=True)
        return True

    def deadline(self) -> float | None:
        times = [c.deadline for c in self.channels.values() if c.deadline is not None]
        renewal = self.deadline_for_renewal()
        if renewal is not None:
            times.append(max(renewal, self.now))
        return min(times) if times else None

    def pending(self) -> int:
        return sum(
            1
            for c in self.channels.values()
            if c.state in (ChannelState.CHALLENGED, ChannelState.COMMISSIONING)
        )

    def tick(self, now: float) -> None:
        super().tick(now)
        for key, channel in self.channels.items():
            if channel.deadline is not None and channel.deadline <= now:
                self._timeout(channel)
            elif channel.state is ChannelState.ESTABLISHED and not channel.renewing:
                self._maybe_renew(key, channel)

    def _maybe_renew(self, key: PeerKey, channel: MeterChannel) -> None:
        """D.10.1: renew a session before it expires or its counter runs high (the old key keeps
        working until the meter confirmed the new one, so no reading is lost)."""
        ctx = self.contexts.get(key)
        state = None if ctx is None or ctx.current is None else ctx.sessions.get(ctx.current)
        if state is None:
            return
        margin = self.config.handshake_timeout * (self.config.handshake_retries + 1)
        due = state.expires is not None and state.expires - margin <= self.now
        if due or (state.counter is not None and state.counter.value >= self.config.renew_after_frames):
            channel.retries, channel.renewing = 0, True
            self._challenge(channel)

    def deadline_for_renewal(self) -> float | None:
        """When the next session renewal falls due (the earliest expiry minus the set-up margin)."""
        margin = self.config.handshake_timeout * (self.config.handshake_retries + 1)
        times = []
        for key, channel in self.channels.items():
            ctx = self.contexts.get(key)
            if channel.state is not ChannelState.ESTABLISHED or channel.renewing or ctx is None:
                continue
            state = None if ctx.current is None else ctx.sessions.get(ctx.current)
            if state is not None and state.expires is not None:
                times.append(state.expires - margin)
        return min(times) if times else None

    # --- internals ----------------------------------------------------------------------------------

    def _install_domain(self, key_id: int, key: bytes, *, make_current: bool = True) -> None:
        state = KeyState(DOMAIN_FLAG | key_id, key, self.now, self.now + self.config.domain_key_lifetime)
        state.counter = counter_for(self.counter_store, self.config.node_id, f"d{key_id}")
        self.domain.install(state, make_current=make_current)

    def _challenge(self, channel: MeterChannel) -> None:
        entry = self.keystore.entry(channel.node_id)
        if entry is None:
            channel.state = ChannelState.FAILED
            self._event(SecurityEventKind.CHANNEL_FAILED, channel.address, "no long-term key")
            return
        candidates = entry.candidates()
        preferred = [k for k in candidates if k.key_id == channel.preferred_ltk]
        channel.ltk = (
            preferred[0] if preferred else candidates[min(channel.retries // 2, len(candidates) - 1)]
        )
        request = ChallengeRequest(
            channel.ltk.key_id, self.config.node_id, self.drbg.generate(8), self.config.offered_suites
        )
        channel.request, channel.response, channel.commission = request, None, None
        if not channel.renewing:
            channel.state = ChannelState.CHALLENGED
        channel.deadline = self.now + self.config.handshake_timeout
        self._send(channel.address, request, request=True)

    def _timeout(self, channel: MeterChannel) -> None:
        channel.deadline = None
        channel.retries += 1
        if channel.retries > self.config.handshake_retries:
            self.stats.handshake_failures += 1
            channel.state = ChannelState.ESTABLISHED if channel.renewing else ChannelState.FAILED
            channel.renewing = False
            self._event(SecurityEventKind.CHANNEL_FAILED, channel.address, "no answer")
            return
        self._challenge(channel)

    def _handle(self, source: Address, message: SecurityMessage) -> None:
        channel = self.channels.get(address_key(source))
        if channel is None:
            self.stats.reject(Reject.NO_CHANNEL)
            return
        if isinstance(message, ChallengeResponse):
            self._on_challenge_response(channel, message)
        elif isinstance(message, CommissionResponse):
            self._on_commission_response(channel, message)
        elif isinstance(message, UpdateDomainKeysResponse):
            self._on_domain_response(channel, message)
        elif isinstance(message, LongTermKeyUpdateResponse):
            self._on_ltk_response(channel, message)
        elif isinstance(message, AuthenticationFailure | SequenceError):
            self._on_error(channel, message)
        else:
            self.stats.reject(Reject.MALFORMED)

    def _on_challenge_response(self, channel: MeterChannel, response: ChallengeResponse) -> None:
        request = channel.request
        if request is None or channel.ltk is None or channel.commission is not None:
            self.stats.reject(Reject.REPLAY)
            return
        if response.lnap_id != channel.node_id:
            raise AuthenticationError("challenge response from another meter")
        signer = self._response_signer(channel, request, response)
        mk = mac_key(channel.ltk.key, channel.node_id)
        if response.status == Status.UNKNOWN_KEY and signer.key_id != channel.ltk.key_id:
            # the meter does not have the key offered (an LTK update it never got): use the one it signed with
            self.stats.handshake_failures += 1
            channel.preferred_ltk, channel.retries = signer.key_id, channel.retries + 1
            if channel.retries <= self.config.handshake_retries:
                self._challenge(channel)
            return
        if response.status != Status.OK or response.suite_id not in request.suites:
            self.stats.handshake_failures += 1
            channel.deadline = self.now + (
                self.config.backoff_initial
                if response.status == Status.BACK_OFF
                else self.config.handshake_timeout
            )
            self._event(SecurityEventKind.HANDSHAKE_REFUSED, channel.address, Status(response.status).name)
            return
        session_id = channel.next_session
        channel.next_session = session_id % 127 + 1
        unsigned = CommissionRequest(
            session_id, int(self.config.session_lifetime), request.r_n, response.r_l, b"\0" * 8
        )
        transcript = request.encode() + response.encode() + unsigned.body()
        commission = CommissionRequest(
            unsigned.session_id,
            unsigned.lifetime,
            unsigned.r_n,
            unsigned.r_l,
            osgp_mac(mk, transcript, MAC_LENGTH),
        )
        channel.response, channel.commission = response, commission
        self._receivable(channel, self._session_key(channel, commission.session_id), commission.lifetime)
        if not channel.renewing:
            channel.state = ChannelState.COMMISSIONING
        channel.deadline = self.now + self.config.handshake_timeout
        self._send(channel.address, commission, request=True)

    def _response_signer(
        self, channel: MeterChannel, request: ChallengeRequest, response: ChallengeResponse
    ) -> LongTermKey:
        """The LTK whose K_MAC signed ``response``: the one offered, or (answering UNKNOWN_KEY) another
        of the meter's keys the store holds. :class:`AuthenticationError` if none."""
        entry = self.keystore.entry(channel.node_id)
        assert channel.ltk is not None
        candidates = [channel.ltk]
        if response.status == Status.UNKNOWN_KEY and entry is not None:
            candidates += [k for k in entry.candidates() if k.key_id != channel.ltk.key_id]
        for ltk in candidates:
            try:
                osgp_mac_verify(
                    mac_key(ltk.key, channel.node_id), request.encode() + response.body(), response.mac
                )
                return ltk
            except AuthenticationError:
                continue
        raise AuthenticationError("challenge response MAC failed")

    def _on_commission_response(self, channel: MeterChannel, response: CommissionResponse) -> None:
        request, challenge, commission, ltk = (
            channel.request,
            channel.response,
            channel.commission,
            channel.ltk,
        )
        if request is None or challenge is None or commission is None or ltk is None:
            self.stats.reject(Reject.REPLAY)
            return
        ks = self._session_key(channel, commission.session_id)
        osgp_mac_verify(ks, commission.encode() + response.body(), response.mac)
        if response.status != Status.OK or response.session_id != commission.session_id:
            self.stats.handshake_failures += 1
            return
        ctx = self._ctx(channel, ltk)
        state = ctx.sessions.get(commission.session_id)
        if state is None or state.key != ks:
            state = self._receivable(channel, ks, commission.lifetime)
        state.counter = counter_for(self.counter_store, self.config.node_id, f"s{channel.node_id.hex()}")
        state.counter.reset_for_new_key()
        ctx.install_session(state)
        self._promote_ltk(channel, ltk)
        channel.state, channel.deadline, channel.renewing = ChannelState.ESTABLISHED, None, False
        channel.preferred_ltk = None
        channel.request = channel.response = channel.commission = None
        self.stats.handshakes += 1
        self._event(
            SecurityEventKind.CHANNEL_ESTABLISHED, channel.address, f"session {commission.session_id}"
        )
        if self.domain.current is not None and channel.domain_key_id != self.keystore.domain_key_id:
            self._send_domain_key(channel)

    def _session_key(self, channel: MeterChannel, session_id: int) -> bytes:
        request, challenge, ltk = channel.request, channel.response, channel.ltk
        assert request is not None and challenge is not None and ltk is not None
        return session_key(
            ltk.key,
            self.config.node_id,
            channel.node_id,
            request.r_n,
            challenge.r_l,
            challenge.suite_id,
            session_id,
        )

    def _ctx(self, channel: MeterChannel, ltk: LongTermKey) -> CryptoContext:
        key = address_key(channel.address)
        ctx = self.contexts.get(key)
        mk = mac_key(ltk.key, channel.node_id)
        if ctx is None:
            peer = _subnet_node(channel.address)
            ctx = CryptoContext(self.config.node_id, channel.node_id, self.config.address, peer, mk)
            self.contexts[key] = ctx
        ctx.mac_key, ctx.now = mk, self.now
        return ctx

    def _receivable(self, channel: MeterChannel, ks: bytes, lifetime: int) -> KeyState:
        """The new session key, accepted on receipt at once (the meter answers with it as soon as it
        installed it) but used for sending only after the CommissionResponse."""
        assert channel.commission is not None and channel.ltk is not None
        ctx = self._ctx(channel, channel.ltk)
        state = KeyState(
            channel.commission.session_id, ks, self.now, None if not lifetime else self.now + lifetime
        )
        ctx.add_receivable(state)
        return state

    def _promote_ltk(self, channel: MeterChannel, ltk: LongTermKey) -> None:
        entry = self.keystore.entry(channel.node_id)
        if entry is not None and entry.pending is not None and entry.pending.key_id == ltk.key_id:
            entry.current, entry.pending = entry.pending, None

    def _send_domain_key(self, channel: MeterChannel) -> None:
        ctx = self.contexts.get(address_key(channel.address))
        state = None if ctx is None else ctx.send_session()
        key_id, key = self.keystore.domain_key_id, self.keystore.domain_key
        if state is None or state.counter is None or key is None:
            return
        counter = state.counter.next()
        lifetime = int(self.config.domain_key_lifetime)
        unsealed = UpdateDomainKeysRequest(state.key_id, counter, key_id, lifetime, bytes(24))
        sealed = self._seal(state, counter, unsealed.header(), key)
        request = UpdateDomainKeysRequest(state.key_id, counter, key_id, lifetime, sealed)
        channel.pending_domain, channel.last_request = key_id, request.encode()
        self._send(channel.address, request, request=True)

    def _session_of(self, channel: MeterChannel, session_id: int) -> KeyState:
        ctx = self.contexts.get(address_key(channel.address))
        state = None if ctx is None else ctx.sessions.get(session_id)
        if state is None:
            raise AuthenticationError("response for an unknown session")
        return state

    def _on_domain_response(self, channel: MeterChannel, response: UpdateDomainKeysResponse) -> None:
        state = self._session_of(channel, response.session_id)
        key_id = response.domain_key_id
        if channel.pending_domain != key_id or not channel.last_request:
            self.stats.reject(Reject.REPLAY)
            return
        osgp_mac_verify(state.key, channel.last_request + response.body(), response.mac)
        channel.domain_key_id, channel.pending_domain, channel.last_request = key_id, None, b""
        established = [c for c in self.channels.values() if c.state is ChannelState.ESTABLISHED]
        if all(c.domain_key_id == key_id for c in established):
            self.domain.current = key_id

    def _on_ltk_response(self, channel: MeterChannel, response: LongTermKeyUpdateResponse) -> None:
        state = self._session_of(channel, response.session_id)
        pending = channel.pending_ltk
        if pending is None or pending.key_id != response.new_ltk_id or not channel.last_ltk_request:
            self.stats.reject(Reject.REPLAY)
            return
        osgp_mac_verify(state.key, channel.last_ltk_request + response.body(), response.mac)
        self._promote_ltk(channel, pending)
        channel.pending_ltk, channel.last_ltk_request = None, b""
        self._event(SecurityEventKind.LONG_TERM_KEY_UPDATED, channel.address, f"ltk {pending.key_id}")

    def _verify_error(self, channel: MeterChannel, message: AuthenticationFailure | SequenceError) -> None:
        entry = self.keystore.entry(channel.node_id)
        if entry is None or message.lnap_id != channel.node_id:
            raise AuthenticationError("error message from an unknown meter")
        for ltk in entry.candidates():
            try:
                osgp_mac_verify(mac_key(ltk.key, channel.node_id), message.body(), message.mac)
                return
            except AuthenticationError:
                continue
        raise AuthenticationError("error message MAC failed")

    def _on_error(self, channel: MeterChannel, message: AuthenticationFailure | SequenceError) -> None:
        """D.12: act on AuthenticationFailure / SequenceError (resynchronisation) [decision 0047]."""
        self._verify_error(channel, message)
        self.stats.errors_received[type(message).__name__] += 1
        if channel.state is not ChannelState.ESTABLISHED or channel.renewing:
            return  # a set-up is already under way
        ctx = self.contexts.get(address_key(channel.address))
        current = None if ctx is None else ctx.current
        if message.key_id & DOMAIN_FLAG:
            if message.key_id & 0x7F == self.domain.current and (
                isinstance(message, AuthenticationFailure) and message.reason == FailureReason.UNKNOWN_KEY
            ):
                self._send_domain_key(channel)
                self._event(SecurityEventKind.RESYNCHRONISED, channel.address, "domain key sent again")
            return
        if current is None or not same_session(message.key_id, current):
            return  # about a key no longer in use (or a replayed error): nothing to repair
        state = None if ctx is None else ctx.send_session()
        if isinstance(message, AuthenticationFailure):
            if message.reason == FailureReason.TAG_MISMATCH:
                # a forged or damaged frame (the genuine one is repeated by the lower layers), unless the
                # meter reconstructed a short counter a whole period behind ours: a new session key
                counter = None if state is None else state.counter
                if counter is not None and short_gap_exceeded(counter.value - 1, message.counter):
                    self.renew(channel.address, self.now)
                    self._event(SecurityEventKind.RESYNCHRONISED, channel.address, "counter gap: new key")
                return
            channel.state, channel.retries = ChannelState.IDLE, 0
            self._challenge(channel)
            self._event(
                SecurityEventKind.RESYNCHRONISED,
                channel.address,
                f"meter reports {FailureReason(message.reason).name}",
            )
            return
        if state is not None and state.counter is not None and state.counter.value <= message.expected:
            self.renew(channel.address, self.now)
            self._event(SecurityEventKind.RESYNCHRONISED, channel.address, "sequence error: new session key")


__all__ = [
    "ChannelState",
    "ConcentratorSecurity",
    "MeterChannel",
    "MeterSecurity",
    "OsgpConfig",
    "SecurityEvent",
    "SecurityEventKind",
]
