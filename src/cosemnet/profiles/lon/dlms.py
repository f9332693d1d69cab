"""DLMS/COSEM application associations over the LON adaptation layer (IEC 62056-8-8, clause 7), sans-IO.

Two endpoints, each one :class:`~cosemnet.profiles.lon.stack.LonStack` plus one
:class:`~cosemnet.profiles.lon.adp_service.AdpService`:

* :class:`LonMeterEndpoint` (LNAP, server role): ADP_DATA.indications go to one
  :class:`~cosemnet.server.ServerAssociation` per (sender, client SAP, server SAP) -- the same logic
  as the TCP/UDP server -- and every response APDU leaves as an ADP_DATA.request to the requesting node.
  The pre-established associations of Table C.1 (:mod:`.preestablished`) exist from the start.
* :class:`LonConcentratorEndpoint` (NNAP, client role): one :class:`MeterLink` per (meter, client SAP),
  each a :class:`~cosemnet.client.ClientConnection` with a queue of requests; answers are fed to the
  connection and its ``SendApdu`` events (next block, HLS pass 3) go back through the ADP.

Neither reads a clock: both take the simulated time ``now`` (seconds) of the channel. DLMS time (POSIX
seconds, what :class:`ServerAssociation` and the object model use) is ``epoch + now``.
:func:`run_exchange` drives any number of endpoints attached to one
:class:`~cosemnet.profiles.lon.channel.PowerLineChannel` in simulated time.

Design choices [design; the standard's text is not public]:

* Server associations are keyed by (sender's 14908-1 address, client SAP, server SAP) (docs/decisions/
  0039): an AARQ, a failed AARQ or an RLRQ from one node never touches another node's association;
  responses go to the node the request came from. A pre-established association exists for every node
  and holds state from the node's first request; the table is bounded (``max_associations``).
* Failed authentications (AARQ refused authentication-failure, HLS pass 3 failed, deciphering errors)
  back off per (client SAP, sender) with :class:`~.auth_backoff.AuthBackoff`; each is logged and
  reported to ``on_security_event``.
* An APDU for a client SAP whose Table C.1 row (or Table 2 entry) requires the ADP protected form is
  dropped when it arrived unprotected (counted in :attr:`LonMeterEndpoint.refused`).
* APDUs to the all-station server SAP (0x7F) are executed by every logical device; nothing is answered.
* An RLRQ on a pre-established association is answered RLRE ``not-finished`` and the association stays;
  an AARQ on a pre-established SAP opens a fresh association (Green Book: an AARQ always starts over),
  and when that one is released the pre-established one comes back.
* A meter link waits ``response_timeout`` (default 120 s of simulated time) for each answer; then the
  request fails with :class:`LonTransferError` and the connection is reset (re-opened when
  pre-established).
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final, Protocol

from cosemnet.client.connection import AwaitApdu, ClientConfig, ClientConnection, Done, SendApdu
from cosemnet.client.errors import ClientError
from cosemnet.codec.acse import (
    AARE,
    AARQ,
    RLRE,
    RLRQ,
    ApplicationContextName,
    AssociateSourceDiagnostic,
    AssociationResult,
    ReleaseResponseReason,
)
from cosemnet.codec.ciphered import is_protected_tag
from cosemnet.codec.service_error import ConfirmedServiceError, ServiceError
from cosemnet.codec.xdlms import ExceptionServiceError
from cosemnet.cosem.iso14908_protocol_setup import Iso14908ProtocolSetup
from cosemnet.errors import CosemnetError, DecodeError, EncodeError
from cosemnet.profiles.lon.addresses import Address, SubnetNodeAddress
from cosemnet.profiles.lon.adp_service import (
    AdpConfig,
    AdpDataConfirm,
    AdpDataIndication,
    AdpDropped,
    AdpResult,
    AdpService,
    PeerKey,
    SecuritySuiteResolver,
    address_key,
)
from cosemnet.profiles.lon.auth_backoff import AuthBackoff, BackoffConfig
from cosemnet.profiles.lon.channel import PowerLineChannel
from cosemnet.profiles.lon.lon_apdu import ApplicationMessage
from cosemnet.profiles.lon.preestablished import (
    PreEstablishedAssociation,
    open_pre_established,
    pre_established_for,
)
from cosemnet.profiles.lon.repeater import ProxyStack
from cosemnet.profiles.lon.sap import ALL_STATION, SapRole, protected_client_saps
from cosemnet.profiles.lon.scheduler import ExchangeScheduler, SchedulerConfig
from cosemnet.profiles.lon.stack import (
    Completed,
    Event,
    LonStack,
    MessageReceived,
    ResponseReceived,
    StackConfig,
)
from cosemnet.profiles.lon.transaction import Service
from cosemnet.security.hls import Mechanism
from cosemnet.server.association import AssociationState, ServerAssociation
from cosemnet.server.config import AssociationProfile, ServedDevice

_logger = logging.getLogger(__name__)

DEFAULT_EPOCH: Final = 1704067200.0
"""POSIX time of simulated time 0 (2024-01-01T00:00:00Z, the simulated meter's default start)."""

DEFAULT_RESPONSE_TIMEOUT: Final = 120.0
DEFAULT_MAX_ACTIVE_LINKS: Final = 4
"""Links a concentrator works on at once (the others wait their turn) [design]."""
DEFAULT_MAX_ASSOCIATIONS: Final = 64
"""Associations a meter keeps at once (docs/decisions/0039) [design]."""


def power_line_stack_config() -> StackConfig:
    """[design] 14908-1 transport settings for DLMS traffic.

    ADP segments are full 228-byte messages (about 0.4 s on air each at 5.4 kbit/s), so under contention
    an acknowledgement often comes later than the 768 ms default transmit timer; 3072 ms (code 15) and 4
    retries keep segments from failing on a busy channel. Receivers must keep their transaction records
    longer than a sender retries (5 x 3 s): give meters and concentrator
    ``LonNode(non_group_receive_timer=15)`` (24.6 s), or a repeated request that arrives after its record
    expired is executed twice (:func:`answers` then drops the repeated answer). Give one config to every
    :class:`LonStack` of a DLMS segment.
    """
    return StackConfig(tx_timer=15, retry_count=4)


_AARQ_TAG: Final = bytes((AARQ.TAG,))
_RLRQ_TAG: Final = bytes((RLRQ.TAG,))
_AARE_TAG: Final = AARE.TAG
_EXCEPTION_TAG: Final = 0xD8

AssociationKey = tuple[PeerKey, int, int]
"""(sender's 14908-1 address as :func:`~.adp_service.address_key` gives it, client SAP, server SAP)."""


@dataclass(frozen=True, slots=True)
class LonAuthenticationFailure:
    """One failed authentication on a LON meter (what goes to its event log)."""

    time: float
    """Simulated time (seconds) of the failure."""
    source: Address
    client_sap: int
    server_sap: int
    kind: str
    """The mechanism that failed (``lls``, ``hls_gmac``, ...) or ``deciphering``."""
    failures: int
    """Failures of this (client SAP, sender) so far."""
    blocked_until: float
    """Attempts of this (client SAP, sender) are refused unevaluated until then."""


def _node(key: PeerKey) -> str:
    kind, value = key
    if kind == "node" and isinstance(value, int):
        return f"node {value >> 8}/{value & 0xFF}"
    if isinstance(value, bytes):
        return f"{kind} {value.hex()}"
    return f"{kind} {value}"


def _authenticates(apdu: bytes) -> bool:
    """APDUs whose evaluation can authenticate a sender: AARQs and ciphered APDUs."""
    return bool(apdu) and (apdu[0] == AARQ.TAG or is_protected_tag(apdu[0]))


def _aare(profile: AssociationProfile | None, result: AssociationResult) -> bytes:
    context = profile.application_context_name if profile is not None else ApplicationContextName.LN
    return AARE(
        application_context_name=context,
        result=result,
        result_source_diagnostic=AssociateSourceDiagnostic.ACSE_SERVICE_USER_NO_REASON_GIVEN,
    ).encode()


def _throttled_reply(apdu: bytes, profile: AssociationProfile | None) -> list[bytes]:
    """AARQ of a sender that backs off: AARE rejected-transient; a ciphered APDU: no answer."""
    return [_aare(profile, AssociationResult.REJECTED_TRANSIENT)] if apdu[:1] == _AARQ_TAG else []


def _authenticated(association: ServerAssociation) -> bool:
    profile = association.profile
    return (
        association.state is AssociationState.ASSOCIATED
        and profile is not None
        and profile.mechanism is not Mechanism.NONE
    )


def _failure_kind(
    apdu: bytes, before: AssociationState, association: ServerAssociation, replies: list[bytes]
) -> str | None:
    """``authentication`` (AARQ refused authentication-failure, HLS pass 3 failed), ``deciphering``, or
    None when the exchange shows no failed authentication."""
    if apdu[:1] == _AARQ_TAG:
        if not replies or not replies[0] or replies[0][0] != _AARE_TAG:
            return None
        try:
            aare = AARE.decode(replies[0])
        except DecodeError:
            return None
        if aare.result is AssociationResult.ACCEPTED:
            return None
        if (
            aare.result_source_diagnostic
            is AssociateSourceDiagnostic.ACSE_SERVICE_USER_AUTHENTICATION_FAILURE
        ):
            return "authentication"
        info = aare.user_information
        if info is not None and info[:1] == bytes((ConfirmedServiceError.TAG,)):
            try:
                error = ConfirmedServiceError.decode(info).error
            except DecodeError:
                return None
            if error == ServiceError.APPLICATION_REFERENCE_DECIPHERING_ERROR:
                return "deciphering"
        return None
    if before is AssociationState.PENDING and not association.associated and apdu[:1] != _RLRQ_TAG:
        return "authentication"
    for reply in replies:
        if (
            len(reply) >= 3
            and reply[0] == _EXCEPTION_TAG
            and reply[2] == ExceptionServiceError.DECIPHERING_ERROR
        ):
            return "deciphering"
    return None


class LonTransferError(CosemnetError):
    """A request of a meter link failed below DLMS (ADP failure or no answer in time)."""


class Endpoint(Protocol):
    """What :func:`run_exchange` drives."""

    stack: LonStack

    def pump(self, now: float) -> bool: ...

    def deadline(self) -> float | None: ...

    def busy(self) -> bool: ...


class StackLower:
    """A :class:`LonStack` as the ADP's lower layer and priority sender (``AdpLowerLayer``,
    ``AdpPrioritySender``, whose ``send`` takes no time): the ADP sends while it handles an input or a
    timer the stack was given at the same ``now`` (the endpoint hands both the same time), so the send
    happens at the stack's latest time, :attr:`LonStack.now`."""

    __slots__ = ("stack",)

    def __init__(self, stack: LonStack) -> None:
        self.stack = stack

    def send(
        self, destination: Address, apdu: ApplicationMessage, service: Service, *, priority: bool = False
    ) -> int:
        return self.stack.send(destination, apdu, service, priority=priority, now=self.stack.now)


def deliver_stack_event(adp: AdpService, event: Event, now: float) -> None:
    """Hand one 14908-1 stack event to the ADP: messages (with the id of a REQUEST, which the ADP
    answers in the RESPONSE), RESPONSEs to our REQUESTs (they carry the answer, docs/decisions/0093)
    and completions."""
    if isinstance(event, MessageReceived) and isinstance(event.apdu, ApplicationMessage):
        source = SubnetNodeAddress(event.source_subnet, event.source_node)
        adp.message_received(source, event.apdu, now, event.request_id)
    elif isinstance(event, ResponseReceived) and isinstance(event.apdu, ApplicationMessage):
        adp.message_received(SubnetNodeAddress(event.source_subnet, event.source_node), event.apdu, now)
    elif isinstance(event, Completed):
        adp.completed(event.handle, event.success, now)


def exchange_adp_config(config: AdpConfig | None, request_response: bool) -> AdpConfig:
    """The endpoint's ADP settings with the 14908-1 service choice of docs/decisions/0093."""
    base = config if config is not None else AdpConfig()
    return dataclasses.replace(base, request_response=request_response)


def _feed_adp(stack: LonStack, adp: AdpService, now: float) -> bool:
    """Hand the stack's events to the ADP and run the ADP timers due; True when anything happened."""
    moved = False
    for event in stack.pop_events():
        moved = True
        deliver_stack_event(adp, event, now)
    deadline = adp.deadline()
    if deadline is not None and deadline <= now:
        adp.timer_expired(now)
        moved = True
    return moved


_NOT_SENT: Final = frozenset({AdpResult.QUEUE_FULL, AdpResult.NO_ADDRESS, AdpResult.NO_SECURITY_SUITE})


def _count_adp_event(stack: LonStack, event: AdpDropped | AdpDataConfirm) -> None:
    """Feed the class 133 counters the ADP knows about (docs/decisions/0040): an incoming transfer given
    up for lack of reassembly buffers -> ``no_receive_buffer``; an ADP_DATA.request that never reached
    the stack (queue full, no address, no security suite) -> ``transmit_no_data``."""
    if isinstance(event, AdpDropped):
        if "RESOURCES_EXHAUSTED" in event.reason:
            stack.statistics.no_receive_buffer += 1
    elif event.result in _NOT_SENT:
        stack.statistics.transmit_no_data += 1


# --------------------------------------------------------------------------------------------------
# Meter (server) side


class LonMeterEndpoint:
    """A meter on the power line: LonStack + AdpService + server associations (see the module docstring).

    ``devices``: the served logical devices (by their server SAP). ``pre_established``: the Table C.1
    rows this meter holds (default: every row of :data:`~.preestablished.TABLE_C1` whose client SAP has
    a profile in the device); each needs an :class:`~cosemnet.server.AssociationProfile` for its client
    SAP with the row's application context and mechanism.

    Associations are keyed by (sender's 14908-1 address, client SAP, server SAP) (docs/decisions/0039):
    a pre-established row holds one association per sender, created on the sender's first request; at
    most ``max_associations`` are kept (the least recently used unauthenticated one makes room; when all
    are authenticated a new AARQ is refused rejected-transient). Failed authentications (LLS, HLS,
    deciphering) back off per (client SAP, sender) (:class:`~.auth_backoff.AuthBackoff`); each one is
    logged and handed to ``on_security_event`` (the simulated meter's event log).
    """

    def __init__(
        self,
        stack: LonStack,
        devices: Iterable[ServedDevice],
        *,
        adp_config: AdpConfig | None = None,
        suites: SecuritySuiteResolver | None = None,
        pre_established: Iterable[PreEstablishedAssociation] | None = None,
        epoch: float = DEFAULT_EPOCH,
        log: Callable[[str], None] | None = None,
        max_associations: int = DEFAULT_MAX_ASSOCIATIONS,
        backoff: BackoffConfig | None = None,
        on_security_event: Callable[[LonAuthenticationFailure], None] | None = None,
        protocol_setup: Iso14908ProtocolSetup | None = None,
        request_response: bool = True,
    ) -> None:
        if max_associations < 1:
            raise ValueError("max_associations must be at least 1")
        self.stack = stack
        lower = StackLower(stack)
        self.adp = AdpService(
            lower,
            SapRole.SERVER,
            config=exchange_adp_config(adp_config, request_response),
            suites=suites,
            responder=stack,
            priority_sender=lower,
        )
        self.devices: dict[int, ServedDevice] = {}
        for served in devices:
            assert served.server_sap is not None
            if served.server_sap in self.devices:
                raise ValueError(f"two logical devices with server SAP {served.server_sap}")
            self.devices[served.server_sap] = served
        self.epoch = epoch
        self.log = log
        rows: dict[int, PreEstablishedAssociation] = {}
        if pre_established is None:
            for served in self.devices.values():
                for sap in served.by_client_sap:
                    row = pre_established_for(sap)
                    if row is not None:
                        rows[sap] = row
        else:
            rows = {row.client_sap: row for row in pre_established}
        self.pre_established: Mapping[int, PreEstablishedAssociation] = rows
        self._protected = protected_client_saps() | {r.client_sap for r in rows.values() if r.adp_protected}
        self.max_associations = max_associations
        self.associations: dict[AssociationKey, ServerAssociation] = {}
        """The associations holding state, least recently used first."""
        self._pre: set[AssociationKey] = set()
        """Keys of the associations in place that are the pre-established ones."""
        self.backoff = AuthBackoff(backoff)
        self.on_security_event = on_security_event
        self.protocol_setup = protocol_setup
        """Class 131: its inactivity_timeout (minutes, 0 = never) ends the associations of a silent node."""
        self._heard: dict[PeerKey, float] = {}
        """Last ADP message of every node holding an association."""
        self.last_message: float | None = None
        """Time of the latest ADP_DATA.indication from any node."""
        self.inactivity_releases = 0
        """Associations ended by the inactivity timeout."""
        self.requests = 0
        """APDUs handed to an association."""
        self.responses = 0
        """Response APDUs handed to the ADP."""
        self.refused = 0
        """APDUs dropped (unprotected on a protected SAP, unknown server SAP, response too long) or AARQs
        refused for lack of room."""
        self.auth_failures = 0
        """Authentications that failed (each one recorded, see ``on_security_event``)."""
        self.throttled = 0
        """AARQs / ciphered APDUs refused unevaluated because their (client SAP, sender) backs off."""
        self.evicted = 0
        """Unauthenticated associations dropped to make room."""
        self.dropped: list[AdpDropped] = []
        """The latest ADP diagnostics (bounded)."""
        for served in self.devices.values():
            for sap, row in rows.items():
                if sap in served.by_client_sap:
                    probe = ServerAssociation(served, sap)
                    if not self._pre_establish(probe, row, 0.0):
                        raise ValueError(
                            f"logical device {served.server_sap} refuses the pre-established {row.name} "
                            "association"
                        )

    def _log(self, text: str) -> None:
        if self.log is not None:
            self.log(text)

    def _row(self, client_sap: int, served: ServedDevice) -> PreEstablishedAssociation | None:
        row = self.pre_established.get(client_sap)
        return row if row is not None and client_sap in served.by_client_sap else None

    def _pre_establish(
        self, association: ServerAssociation, row: PreEstablishedAssociation, now: float
    ) -> bool:
        association.receive_apdu(row.aarq().encode(), self.epoch + now)
        association.pop_outgoing()  # the AARE of a pre-established association is not sent
        return association.associated

    def association(self, source: Address, client_sap: int, server_sap: int) -> ServerAssociation | None:
        """The association of the node at ``source`` holding state, if any (a pre-established one exists
        for every node but holds state only from the node's first request)."""
        return self.associations.get((address_key(source), client_sap, server_sap))

    def is_associated(self, source: Address, client_sap: int, server_sap: int) -> bool:
        """Whether the node at ``source`` has an association for the two SAPs (pre-established or open)."""
        association = self.association(source, client_sap, server_sap)
        if association is not None:
            return association.associated
        served = self.devices.get(server_sap)
        return served is not None and self._row(client_sap, served) is not None

    def inactivity_timeout(self) -> float | None:
        """Class 131's inactivity_timeout in seconds (None: no protocol setup, or 0 = never)."""
        setup = self.protocol_setup
        if setup is None or setup.inactivity_timeout <= 0:
            return None
        return 60.0 * setup.inactivity_timeout

    def out_of_communication(self, now: float) -> bool:
        """No ADP_DATA from any node for the inactivity timeout (the LNAP counts itself out of
        communication; never before the first message)."""
        timeout = self.inactivity_timeout()
        return timeout is not None and self.last_message is not None and now - self.last_message >= timeout

    def _inactivity_deadline(self) -> float | None:
        timeout = self.inactivity_timeout()
        if timeout is None or not self._heard:
            return None
        return min(self._heard.values()) + timeout

    def deadline(self) -> float | None:
        times = [t for t in (self.adp.deadline(), self._inactivity_deadline()) if t is not None]
        return min(times) if times else None

    def busy(self) -> bool:
        return self.adp.pending() > 0

    def pump(self, now: float) -> bool:
        """Process what the stack and the ADP produced up to ``now``; True when anything happened."""
        moved = self._expire(now)
        while True:
            step = _feed_adp(self.stack, self.adp, now)
            events = self.adp.drain_events()
            if not step and not events:
                self.adp.release_requests()  # every answer of this instant is sent: close the rest
                return moved
            moved = True
            for event in events:
                if isinstance(event, AdpDataIndication):
                    self._indication(event, now)
                elif isinstance(event, AdpDropped):
                    _count_adp_event(self.stack, event)
                    self.dropped = [*self.dropped[-31:], event]
                else:
                    _count_adp_event(self.stack, event)

    def _expire(self, now: float) -> bool:
        """End the associations of every node silent for the inactivity timeout (docs/decisions/0040)."""
        deadline = self._inactivity_deadline()
        if deadline is None or deadline > now:
            return False
        timeout = self.inactivity_timeout()
        assert timeout is not None
        silent = {node for node, heard in self._heard.items() if now - heard >= timeout}
        for key in [k for k in self.associations if k[0] in silent]:
            association = self.associations.pop(key)
            self._pre.discard(key)
            association.release()
            self.inactivity_releases += 1
        for node in silent:
            del self._heard[node]
            _logger.info("%s silent for %.0f s: its associations ended", _node(node), timeout)
        return True

    def _forget_node(self, node: PeerKey) -> None:
        if all(key[0] != node for key in self.associations):
            self._heard.pop(node, None)

    def _indication(self, ind: AdpDataIndication, now: float) -> None:
        self.last_message = now
        if ind.client_sap in self._protected and not ind.protected:
            self.refused += 1
            self._log(f"unprotected APDU for protected client SAP {ind.client_sap} dropped")
            return
        if ind.server_sap == ALL_STATION:
            for sap, each in self.devices.items():
                self._serve(ind, each, sap, now, answer=False)
            return
        target = self.devices.get(ind.server_sap)
        if target is None:
            self.refused += 1
            return
        self._serve(ind, target, ind.server_sap, now, answer=True)

    def _serve(
        self, ind: AdpDataIndication, served: ServedDevice, server_sap: int, now: float, *, answer: bool
    ) -> None:
        if served.on_request is not None:
            served.on_request(self.epoch + now)
        self.requests += 1
        source = address_key(ind.source)
        if _authenticates(ind.apdu) and self.backoff.blocked((ind.client_sap, source), now):
            self.throttled += 1
            _logger.debug("client SAP %d from %s backs off: APDU refused", ind.client_sap, _node(source))
            replies = _throttled_reply(ind.apdu, served.by_client_sap.get(ind.client_sap))
        else:
            replies = self._handle(ind, (source, ind.client_sap, server_sap), served, now)
            if any(key[0] == source for key in self.associations):
                self._heard[source] = now
        if not answer:
            return
        for reply in replies:
            try:
                self.adp.data_request(
                    ind.client_sap, server_sap, reply, now, destination=ind.source, protected=ind.protected
                )
                self.responses += 1
            except EncodeError as exc:
                self.refused += 1
                self.stack.statistics.transmit_no_data += 1
                self._log(f"response not sent: {exc}")

    def _handle(
        self, ind: AdpDataIndication, key: AssociationKey, served: ServedDevice, now: float
    ) -> list[bytes]:
        """Hand the APDU to the sender's own association (made on first use); keep it while associated."""
        apdu = ind.apdu
        is_aarq = apdu[:1] == _AARQ_TAG
        row = self._row(ind.client_sap, served)
        association = self.associations.get(key)
        pre = key in self._pre
        if association is None:
            if is_aarq and not self._make_room():
                self.refused += 1
                _logger.warning("association table full: AARQ from %s refused", _node(key[0]))
                return [_aare(served.by_client_sap.get(ind.client_sap), AssociationResult.REJECTED_TRANSIENT)]
            association = ServerAssociation(served, ind.client_sap, log=self.log)
            pre = row is not None and not is_aarq and self._pre_establish(association, row, now)
        if row is not None and not row.releasable and apdu[:1] == _RLRQ_TAG and pre:
            replies = [RLRE(reason=ReleaseResponseReason.NOT_FINISHED).encode()]
        else:
            pre = pre and not is_aarq
            before = association.state
            association.receive_apdu(apdu, self.epoch + now)
            replies = association.pop_outgoing()
            self._check_authentication(ind, key, association, before, replies, now)
        self._keep(key, association, pre)
        return replies

    def _keep(self, key: AssociationKey, association: ServerAssociation, pre: bool) -> None:
        if not association.associated:
            if self.associations.pop(key, None) is not None:
                self._forget_node(key[0])
            self._pre.discard(key)
            return
        if self.associations.pop(key, None) is None and not self._make_room():
            return  # served once, nothing kept (no room)
        self.associations[key] = association
        if pre:
            self._pre.add(key)
        else:
            self._pre.discard(key)

    def _make_room(self) -> bool:
        """Room for one more association: evict the least recently used unauthenticated one if needed."""
        if len(self.associations) < self.max_associations:
            return True
        for key, association in self.associations.items():
            if key in self._pre or not _authenticated(association):
                del self.associations[key]
                self._pre.discard(key)
                self._forget_node(key[0])
                self.evicted += 1
                return True
        return False

    def _check_authentication(
        self,
        ind: AdpDataIndication,
        key: AssociationKey,
        association: ServerAssociation,
        before: AssociationState,
        replies: list[bytes],
        now: float,
    ) -> None:
        guard = (ind.client_sap, key[0])
        kind = _failure_kind(ind.apdu, before, association, replies)
        if kind is None:
            if association.state is AssociationState.ASSOCIATED and (
                ind.apdu[:1] == _AARQ_TAG or before is AssociationState.PENDING
            ):
                self.backoff.success(guard)
            return
        if kind == "authentication":
            profile = association.served.by_client_sap.get(ind.client_sap)
            kind = profile.mechanism.name.lower() if profile is not None else "lls"
        state = self.backoff.failure(guard, now)
        self.auth_failures += 1
        event = LonAuthenticationFailure(
            now, ind.source, ind.client_sap, key[2], kind, state.failures, state.blocked_until
        )
        _logger.warning(
            "authentication failure (%s) for client SAP %d server SAP %d from %s: failure %d, "
            "next attempt refused for %.0f s",
            kind,
            ind.client_sap,
            key[2],
            _node(key[0]),
            state.failures,
            state.blocked_until - now,
        )
        if self.on_security_event is not None:
            self.on_security_event(event)


# --------------------------------------------------------------------------------------------------
# Data concentrator (client) side

_EXCEPTION_RESPONSE: Final = 0xD8
_CONFIRMED_SERVICE_ERROR: Final = 0x0E
_LN_REQUESTS: Final = frozenset({0xC0, 0xC1, 0xC3})
_EXPECTED: Final = {0x60: 0x61, 0x62: 0x63, 0x05: 0x0C, 0x06: 0x0D, 0xC0: 0xC4, 0xC1: 0xC5, 0xC3: 0xC7}


def expects_response(apdu: bytes) -> bool:
    """Whether the server answers ``apdu`` (docs/decisions/0093): every request the concentrator sends
    but an LN GET/SET/ACTION whose invoke-id-and-priority says unconfirmed; ciphered APDUs and tags this
    cannot judge count as answered."""
    if len(apdu) >= 3 and apdu[0] in _LN_REQUESTS:
        return bool(apdu[2] & 0x40)
    return True


def answers(request: bytes, response: bytes) -> bool:
    """Whether ``response`` can be the answer to the request that began with ``request`` [design].

    A LON segment can deliver a late or repeated answer (a 14908-1 retry that arrived after the
    receiver's transaction record expired, or the answer to a request that already timed out). Such an
    answer would end the wrong exchange, so it is dropped: the tag must be the one that answers the
    request's tag (AARQ -> AARE, RLRQ -> RLRE, Read -> ReadResponse, GET/SET/ACTION -> their response),
    an exception-response or a confirmed-service-error; LN responses must carry the request's invoke-id.
    Tags this cannot judge (ciphered APDUs, general-block-transfer) are accepted.
    """
    if not request or not response:
        return bool(response)
    expected = _EXPECTED.get(request[0])
    tag = response[0]
    if expected is None or tag in (_EXCEPTION_RESPONSE, _CONFIRMED_SERVICE_ERROR):
        return True
    if tag != expected:
        return False
    if request[0] in _LN_REQUESTS:
        return len(request) >= 3 and len(response) >= 3 and request[2] & 0x0F == response[2] & 0x0F
    return True


DEFAULT_SILENT_AFTER: Final = 2
"""Consecutive requests to a meter that fail below DLMS before the concentrator reports it silent
(docs/decisions/0040) [design]."""
MAX_COMMUNICATION_EVENTS: Final = 256


@dataclass(frozen=True, slots=True)
class MeterSilent:
    """A meter stopped communicating: ``failures`` requests in a row got no answer (ADP failure or no
    answer in time); ``last_heard`` is when it last answered (None: never)."""

    address: Address
    time: float
    failures: int
    last_heard: float | None


@dataclass(frozen=True, slots=True)
class MeterBack:
    """A meter reported silent answered again at ``time``."""

    address: Address
    time: float


CommunicationEvent = MeterSilent | MeterBack


@dataclass(slots=True)
class _Health:
    address: Address
    failures: int = 0
    last_heard: float | None = None
    silent: MeterSilent | None = None


Request = Callable[[ClientConnection], bytes | None]
"""Builds the request APDU from the connection (``conn.get(...)``); None: done locally, nothing sent."""


@dataclass(slots=True)
class MeterLink:
    """One association of the concentrator with one meter (one client SAP, one server SAP)."""

    address: Address
    connection: ClientConnection
    pre_established: PreEstablishedAssociation | None = None
    response_timeout: float = DEFAULT_RESPONSE_TIMEOUT
    results: list[object] = field(default_factory=list)
    """One entry per finished request, in order: the ``Done.result``, or the exception it raised."""
    queue: deque[Request] = field(default_factory=deque)
    waiting: bool = False
    deadline: float | None = None
    request_ids: set[int] = field(default_factory=set)
    sent_apdus: int = 0
    received_apdus: int = 0
    discarded: int = 0
    last_request: bytes = b""
    """The first bytes of the last APDU sent (to recognise its answer)."""
    commands: deque[Request] = field(default_factory=deque)
    """Requests that go before any bulk read, on the 14908-1 priority channel (docs/decisions/0094)."""
    cost: float = 1.0
    """Scheduler window units of one exchange: 1 + the Annex E repeaters on the way (0094)."""
    priority: bool = False
    """The 14908-1 priority of the exchange in progress."""
    in_exchange: bool = False
    retries_mark: int = 0

    @property
    def client_sap(self) -> int:
        return self.connection.config.client_sap

    @property
    def server_sap(self) -> int:
        return self.connection.config.server_sap

    @property
    def idle(self) -> bool:
        return not self.waiting and not self.queue and not self.commands

    def submit(self, *requests: Request) -> None:
        """Queue requests; they run one after the other (results land in :attr:`results`)."""
        self.queue.extend(requests)

    def command(self, *requests: Request) -> None:
        """Queue commands (disconnect, time synchronisation): they start before the bulk reads of every
        link and use the 14908-1 priority channel (docs/decisions/0094)."""
        self.commands.extend(requests)


class LonConcentratorEndpoint:
    """The data concentrator on the power line: LonStack + AdpService + :class:`MeterLink`s."""

    def __init__(
        self,
        stack: LonStack,
        *,
        adp_config: AdpConfig | None = None,
        suites: SecuritySuiteResolver | None = None,
        max_active_links: int | None = DEFAULT_MAX_ACTIVE_LINKS,
        silent_after: int = DEFAULT_SILENT_AFTER,
        request_response: bool = True,
        scheduler: SchedulerConfig | None = None,
    ) -> None:
        if max_active_links is not None and max_active_links < 1:
            raise ValueError("max_active_links must be at least 1")
        if silent_after < 1:
            raise ValueError("silent_after must be at least 1")
        self.stack = stack
        lower = StackLower(stack)
        self.adp = AdpService(
            lower,
            SapRole.CLIENT,
            config=exchange_adp_config(adp_config, request_response),
            suites=suites,
            priority_sender=lower,
        )
        self.scheduler = ExchangeScheduler(scheduler)
        """Which link starts its next exchange (docs/decisions/0094)."""
        self.max_active_links = max_active_links
        self._active: set[int] = set()
        """ids of the links working through their queue (at most ``max_active_links``)."""
        self.links: dict[tuple[tuple[str, int | bytes], int, int], MeterLink] = {}
        self._by_request: dict[int, MeterLink] = {}
        self.dropped: list[AdpDropped] = []
        self.unexpected = 0
        """APDUs that arrived for no link or when the link waited for nothing."""
        self.silent_after = silent_after
        self._health: dict[PeerKey, _Health] = {}
        self.communication_events: deque[CommunicationEvent] = deque(maxlen=MAX_COMMUNICATION_EVENTS)
        """Meters that stopped communicating / came back, oldest first (bounded)."""

    def add_meter(
        self,
        address: Address,
        config: ClientConfig | None = None,
        *,
        pre_established: PreEstablishedAssociation | None = None,
        response_timeout: float = DEFAULT_RESPONSE_TIMEOUT,
        repeaters: int = 0,
    ) -> MeterLink:
        """A link to the meter at ``address``. With a Table C.1 row and no ``config``, the row's
        configuration; a pre-established link is associated at once (no AARQ). ``repeaters``: Annex E
        repeaters on the way (the scheduler counts the longer round trip, docs/decisions/0094)."""
        if repeaters < 0:
            raise ValueError("repeaters must be >= 0")
        if config is None:
            if pre_established is None:
                raise ValueError("give a ClientConfig or a pre-established association")
            config = pre_established.client_config()
        connection = ClientConnection(config)
        link = MeterLink(address, connection, pre_established, response_timeout, cost=1.0 + repeaters)
        if pre_established is not None:
            open_pre_established(connection, pre_established)
        key = (address_key(address), config.client_sap, config.server_sap)
        if key in self.links:
            raise ValueError(f"a link to {address} for client SAP {config.client_sap} exists")
        self.links[key] = link
        self._health.setdefault(key[0], _Health(address))
        return link

    def busy(self) -> bool:
        return any(not link.idle for link in self.links.values()) or self.adp.pending() > 0

    def silent_meters(self) -> list[MeterSilent]:
        """The meters reported silent that have not answered since (see :attr:`communication_events`)."""
        return [health.silent for health in self._health.values() if health.silent is not None]

    def _heard_from(self, address: Address, now: float) -> None:
        health = self._health.get(address_key(address))
        if health is None:
            return
        health.failures = 0
        health.last_heard = now
        if health.silent is not None:
            health.silent = None
            self.communication_events.append(MeterBack(address, now))
            _logger.info("meter %s communicates again", _node(address_key(address)))

    def _no_answer(self, address: Address, now: float) -> None:
        health = self._health.get(address_key(address))
        if health is None:
            return
        health.failures += 1
        if health.silent is None and health.failures >= self.silent_after:
            health.silent = MeterSilent(address, now, health.failures, health.last_heard)
            self.communication_events.append(health.silent)
            _logger.warning(
                "meter %s stopped communicating: %d requests without answer",
                _node(address_key(address)),
                health.failures,
            )

    def deadline(self) -> float | None:
        times = [link.deadline for link in self.links.values() if link.deadline is not None]
        adp = self.adp.deadline()
        if adp is not None:
            times.append(adp)
        return min(times) if times else None

    def pump(self, now: float) -> bool:
        """Start queued requests, process what arrived, run timers; True when anything happened."""
        moved = False
        while True:
            step = self._start_queued(now)
            step = _feed_adp(self.stack, self.adp, now) or step
            step = self._expire(now) or step
            events = self.adp.drain_events()
            if not step and not events:
                return moved
            moved = True
            for event in events:
                if isinstance(event, AdpDataIndication):
                    self._indication(event, now)
                elif isinstance(event, AdpDataConfirm):
                    _count_adp_event(self.stack, event)
                    self._confirm(event, now)
                else:
                    _count_adp_event(self.stack, event)
                    self.dropped = [*self.dropped[-31:], event]

    def _send(self, link: MeterLink, apdu: bytes, now: float) -> None:
        link.last_request = apdu[:3]
        link.waiting = True
        link.deadline = now + link.response_timeout
        link.sent_apdus += 1
        try:
            request_id = self.adp.data_request(
                link.client_sap,
                link.server_sap,
                apdu,
                now,
                destination=link.address,
                priority=link.priority,
                answered=expects_response(apdu),
            )
        except EncodeError as exc:
            self.stack.statistics.transmit_no_data += 1
            link.results.append(LonTransferError(f"request not sent: {exc}"))
            self._reset(link, now)
            return
        link.request_ids.add(request_id)
        self._by_request[request_id] = link

    def _may_work(self, link: MeterLink) -> bool:
        """The ``max_active_links`` cap: a link works through its queue once admitted."""
        if link.idle:
            self._active.discard(id(link))
            return False
        if id(link) not in self._active:
            if self.max_active_links is not None and len(self._active) >= self.max_active_links:
                return False
            self._active.add(id(link))
        return True

    def _start_queued(self, now: float) -> bool:
        """Start exchanges as the scheduler allows: commands of every link first, then bulk reads."""
        moved = False
        segmenting = self.adp.segmenting()
        for command in (True, False):
            for link in self.links.values():
                if not self._may_work(link):
                    continue
                queue = link.commands if command else link.queue
                while not link.waiting and queue:
                    meter = address_key(link.address)
                    if not self.scheduler.may_start(meter, self._cost(link, now), command, segmenting):
                        break
                    moved = True
                    self._begin(link, queue.popleft(), command, now)
        return moved

    def _begin(self, link: MeterLink, request: Request, command: bool, now: float) -> None:
        """One request of a link: build its APDU and send it as a new scheduled exchange."""
        try:
            apdu = request(link.connection)
        except ClientError as exc:
            link.results.append(exc)
            return
        if apdu is None:
            link.results.append(None)
            return
        link.priority = self.scheduler.priority(command)
        link.in_exchange = True
        link.retries_mark = self.stack.statistics.transmit_tx_retries
        self.scheduler.started(address_key(link.address), self._cost(link, now), command, now)
        self._send(link, apdu, now)

    def _cost(self, link: MeterLink, now: float) -> float:
        """Window units of an exchange with the link's meter: 1 + its Annex E repeaters (given to
        :meth:`add_meter`, or the route the concentrator's :class:`ProxyStack` holds now)."""
        stack = self.stack
        if isinstance(stack, ProxyStack) and stack.routes is not None:
            route = stack.routes.route(link.address, now)
            if route:
                return max(link.cost, 1.0 + len(route))
        return link.cost

    def _end_exchange(self, link: MeterLink, now: float, ok: bool) -> None:
        if not link.in_exchange:
            return
        link.in_exchange = False
        retried = self.stack.statistics.transmit_tx_retries > link.retries_mark
        self.scheduler.finished(address_key(link.address), now, ok=ok, retried=retried)

    def _expire(self, now: float) -> bool:
        moved = False
        for link in self.links.values():
            if link.deadline is not None and link.deadline <= now:
                moved = True
                self._fail(link, LonTransferError("no answer in time"), now)
        return moved

    def _fail(self, link: MeterLink, error: Exception, now: float, *, no_answer: bool = True) -> None:
        if no_answer:
            self._no_answer(link.address, now)
        link.results.append(error)
        self._reset(link, now)

    def _reset(self, link: MeterLink, now: float) -> None:
        self._end_exchange(link, now, False)
        link.waiting = False
        link.deadline = None
        link.connection.abort()
        if link.pre_established is not None:
            open_pre_established(link.connection, link.pre_established)

    def _confirm(self, confirm: AdpDataConfirm, now: float) -> None:
        link = self._by_request.pop(confirm.request_id, None)
        if link is None:
            return
        link.request_ids.discard(confirm.request_id)
        if confirm.result is not AdpResult.SUCCESS and link.waiting:
            error = LonTransferError(f"ADP_DATA.confirm {confirm.result.name}")
            self._fail(link, error, now, no_answer=confirm.result not in _NOT_SENT)

    def _indication(self, ind: AdpDataIndication, now: float) -> None:
        link = self.links.get((address_key(ind.source), ind.client_sap, ind.server_sap))
        if link is None or not link.waiting:
            self.unexpected += 1
            return
        link.received_apdus += 1
        self._heard_from(link.address, now)
        if not answers(link.last_request, ind.apdu):
            link.discarded += 1  # the late answer of an earlier request (repeated or failed): not ours
            return
        try:
            event = link.connection.receive(ind.apdu)
        except ClientError as exc:
            link.results.append(exc)
            link.waiting = False
            link.deadline = None
            self._end_exchange(link, now, True)
            return
        if isinstance(event, SendApdu):
            self._send(link, event.apdu, now)
        elif isinstance(event, AwaitApdu):
            link.deadline = now + link.response_timeout
        else:
            assert isinstance(event, Done)
            link.results.append(event.result)
            link.waiting = False
            link.deadline = None
            self._end_exchange(link, now, True)


# --------------------------------------------------------------------------------------------------
# Driver


def run_exchange(
    channel: PowerLineChannel,
    endpoints: Iterable[Endpoint],
    *,
    until: Callable[[], bool] | None = None,
    limit: float = 3600.0,
) -> float:
    """Run the channel and the endpoints in simulated time; return the time reached.

    Stops when ``until()`` is true, or (``until`` None) when no endpoint is busy and nothing is left on
    the channel, or at ``channel.now + limit``.
    """
    points = list(endpoints)
    stop = channel.now + limit

    def finished() -> bool:
        if until is not None:
            return until()
        return not any(e.busy() for e in points) and channel.idle()

    while True:
        now = channel.now
        if any([e.pump(now) for e in points]):
            channel.refresh()
        if finished():
            return channel.now
        deadlines = [d for d in (e.deadline() for e in points) if d is not None]
        endpoint_deadline = min(deadlines) if deadlines else math.inf
        if endpoint_deadline <= now:
            continue
        horizon = min(stop, endpoint_deadline)
        if channel.step(horizon):
            continue
        if endpoint_deadline <= stop:
            channel.run_until(endpoint_deadline)
            continue
        if channel.now < stop and until is not None:
            channel.run_until(stop)
            if any([e.pump(channel.now) for e in points]):
                channel.refresh()
                continue
        return channel.now


__all__ = [
    "DEFAULT_EPOCH",
    "DEFAULT_MAX_ACTIVE_LINKS",
    "DEFAULT_MAX_ASSOCIATIONS",
    "DEFAULT_RESPONSE_TIMEOUT",
    "DEFAULT_SILENT_AFTER",
    "AssociationKey",
    "CommunicationEvent",
    "Endpoint",
    "LonAuthenticationFailure",
    "LonConcentratorEndpoint",
    "LonMeterEndpoint",
    "LonTransferError",
    "MeterBack",
    "MeterLink",
    "MeterSilent",
    "Request",
    "answers",
    "deliver_stack_event",
    "exchange_adp_config",
    "expects_response",
    "power_line_stack_config",
    "run_exchange",
]
