"""Server side of one application association (client SAP <-> logical device), sans-IO.

:class:`ServerAssociation` takes APDU bytes and the current time in, gives APDU bytes out::

    assoc = ServerAssociation(served_device, client_sap=16)
    assoc.receive_apdu(aarq_bytes, now)            # now: float seconds (POSIX for the object model)
    replies = assoc.pop_outgoing()                 # -> [aare_bytes]
    assoc.receive_apdu(get_request_bytes, now)
    replies = assoc.pop_outgoing()                 # -> [get_response_bytes]

It follows the sans-IO contract of docs/sans-io.md (:class:`cosemnet.sansio.SansIOCore`): it has no
timer of its own (the inactivity timeout is the :class:`~cosemnet.server.server.MeterServer`'s) and no
events (its :attr:`~ServerAssociation.state` says whether it is associated).

It never reads a clock, a socket or a random source it was not given (``now`` is POSIX seconds,
converted to an aware UTC datetime for the object model; HLS challenges come from
``challenge_factory`` when one is injected).

What it does
------------

* AARQ: finds the :class:`~cosemnet.server.config.AssociationProfile` of its client SAP, checks the
  application context, the mechanism, the calling AP title of ciphered contexts, the LLS password
  or stores the HLS CtoS, deciphers a protected InitiateRequest with the Security setup keys, checks
  the InitiateRequest (DLMS version 6, client max receive PDU >= 12, common conformance) and
  answers the AARE (ConfirmedServiceError in user-information for initiate errors).
* HLS (mechanisms 3-7): pass 3/4 run through the association object's reply_to_HLS_authentication
  (ACTION on the LN association object, or its method short name for SN) and
  :class:`cosemnet.security.hls.HlsServer`.
* Services: GET (normal, next, with-list), SET (normal, with-list, first/next datablock), ACTION
  (normal, with-list, first/next pblock, next-pblock), SN Read/Write/UnconfirmedWrite; selective and
  parameterized access go to the object model.
* Long responses: service-specific blocks (GET with datablock driven by GET-Request-Next, ACTION
  with pblock driven by ACTION-Request-Next-Pblock, SN data-block-result driven by block-number-
  access) when the service's block transfer was negotiated, otherwise General-Block-Transfer when
  that was negotiated (design choice: service-specific first, because clients that propose GBT do not
  all handle it, e.g. dlms-cosem; a request that came in GBT is always answered in GBT).
* Ciphered requests get responses ciphered with the same envelope kind; the Security setup's
  security policy is enforced by :func:`cosemnet.security.ciphering.unprotect_apdu`.
* RLRQ -> RLRE (with a ciphered InitiateResponse when the RLRQ carried a ciphered InitiateRequest).

Design choices where the standard is silent (reported to the lead):

* An AARQ always starts over: it drops the association in progress on this (client, server) pair.
* A client SAP with no profile gets an AARE rejected-permanent / no-reason-given.
* An undecodable AARQ gets an AARE rejected-permanent / acse-service-provider no-reason-given.
* The AARE carries responding-AP-title (the server system title) when the context is ciphered or
  the AARQ carried a calling-AP-title; for HLS it carries responder-acse-requirements, the
  mechanism name and StoC (diagnostic authentication-required), exactly as the public vectors.
* HLS-GMAC/SHA-256/ECDSA without calling-AP-title use the Security setup's client_system_title.
* Mechanism checks: the association's mechanism must be proposed exactly; none proposed where one
  is required -> authentication-mechanism-name-required, another one -> ...-not-recognised.
* Initiate errors: AARE rejected-permanent, acse-service-user no-reason-given, ConfirmedServiceError
  (initiate) in user-information; a conformance intersection that is empty is incompatible-conformance;
  an InitiateRequest that does not decipher is application-reference deciphering-error; a plain one in a
  ciphered context (or a ciphered one in a plain context) is application-reference
  application-context-unsupported.
* HLS pending: only reply_to_HLS_authentication is served; anything else gets an
  ExceptionResponse (service-not-allowed, operation-not-possible). A failed pass 3 answers
  read-write-denied and ends the association (no second guess on the same StoC).
* Exception responses: a request before association or a service in the wrong state ->
  (service-not-allowed, operation-not-possible); a service outside the negotiated conformance ->
  (service-not-allowed, service-not-supported); an unknown APDU tag -> (service-unknown,
  service-not-supported); a malformed request -> (service-not-allowed, other-reason); a request
  larger than the server max receive PDU -> pdu-too-long; deciphering, authentication or policy
  failures -> deciphering-error; a replayed invocation counter -> invocation-counter-error with the
  smallest counter that would be accepted. Exception responses are never ciphered.
* A response too large for the client's max receive PDU when no block transfer was negotiated ->
  ExceptionResponse (service-not-allowed, pdu-too-long).
* Block contents: GET with-list and ACTION with-list blocks carry the SEQUENCE OF results
  (count + items); ACTION blocks carry Action-Response-With-Optional-Data; SN read blocks carry
  the ReadResponse SEQUENCE OF results. Incoming SET/ACTION blocks carry the Data value (or the
  SEQUENCE OF Data of the with-list forms) [reconstructed].
* GBT: used for a long response only when the service-specific block transfer was not negotiated
  (or the request came in GBT); a response transfer restarts block numbers at 1; the window
  announced by the client's last GBT is honoured (1 if the client never sent one).
* Unconfirmed requests (service-class bit 0) are executed without a response.
* The fast GET path caches the objects it resolved for the lifetime of the association (objects
  added to or removed from the device mid-association may be seen late by that association).
* The association object's association_status is per association: it is set from this
  association's state around each request (several clients may share one Association LN object).
* Replay windows (client invocation counters): with ``replay_floors`` (a server always passes one)
  they are shared by every association and kept per (client system title, key) across
  associations and restarts (docs/decisions/0033); without, they live as long as the association.
  The server's own invocation counter comes from ``counter_provider``.
* In a ciphered association the RLRQ must carry a protected InitiateRequest in user-information (what
  our client and the Green Book's examples send); a plain or unverifiable one is refused with an
  RLRE not-finished and the association goes on (docs/decisions/0035).
* Failed authentications (LLS password, HLS pass 1 or 3, an InitiateRequest that does not decipher)
  go to ``auth_limiter`` under (client SAP, ``peer``): during the back-off, AARQs are refused with
  rejected-transient without checking anything; each failure is logged (``logging`` and ``log``) and
  reported to ``ServedDevice.on_security_event`` (docs/decisions/0034).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Hashable
from typing import Final

from cosemnet.codec.datetime import CosemDateTime
from cosemnet.codec.initiate import Conformance
from cosemnet.codec.obis import Obis
from cosemnet.codec.tags import ApduTag
from cosemnet.codec.types import DataValue
from cosemnet.codec.xdlms import ExceptionResponse
from cosemnet.cosem.base import InterfaceClass
from cosemnet.cosem.context import AccessContext, SideEffects
from cosemnet.cosem.security_setup import SecuritySetup
from cosemnet.security.ciphering import SecurityContext
from cosemnet.security.control import AUTHENTICATION_BIT, ENCRYPTION_BIT
from cosemnet.security.counters import CounterSource, MemoryInvocationCounter, ReplayFloors
from cosemnet.server.acse_acceptor import AUTHENTICATION_FAILURE_EVENT, AcseAcceptor, CounterProvider
from cosemnet.server.auth_limiter import AuthFailureLimiter
from cosemnet.server.blocks import encode_values
from cosemnet.server.config import AssociationProfile, ServedDevice
from cosemnet.server.dispatch import Dispatcher
from cosemnet.server.exceptions import ServiceException, malformed, not_allowed, not_negotiated, pdu_too_long
from cosemnet.server.protection import protect, unprotect
from cosemnet.server.session import AssociationSession, AssociationState

__all__ = [
    "AUTHENTICATION_FAILURE_EVENT",
    "AssociationSession",
    "AssociationState",
    "CounterProvider",
    "ServerAssociation",
    "encode_values",
]

_UTC: Final = _dt.UTC
_GET_REQUEST: Final = int(ApduTag.GET_REQUEST)


class _AssociationEffects(SideEffects):
    """The device's side effects, with reply_to_HLS_authentication answered by this association."""

    __slots__ = ("_base", "_owner")

    def __init__(self, base: SideEffects, owner: ServerAssociation) -> None:
        self._base = base
        self._owner = owner

    def timestamp(self, ctx: AccessContext) -> CosemDateTime:
        return self._base.timestamp(ctx)

    def read_attribute(
        self, class_id: int, logical_name: Obis, attribute_index: int, ctx: AccessContext
    ) -> DataValue:
        return self._base.read_attribute(class_id, logical_name, attribute_index, ctx)

    def execute_action(
        self,
        service_id: int,
        class_id: int,
        logical_name: Obis,
        index: int,
        parameter: DataValue,
        ctx: AccessContext,
    ) -> None:
        self._base.execute_action(service_id, class_id, logical_name, index, parameter, ctx)

    def execute_script(self, script_logical_name: Obis, script_selector: int, ctx: AccessContext) -> None:
        self._base.execute_script(script_logical_name, script_selector, ctx)

    def reply_to_hls_authentication(
        self, association: InterfaceClass, client_response: bytes, ctx: AccessContext
    ) -> bytes:
        return self._owner._reply_to_hls(client_response)

    def send_push(self, push_setup: InterfaceClass, body: DataValue, ctx: AccessContext) -> None:
        self._base.send_push(push_setup, body, ctx)

    def output_state_changed(self, obj: InterfaceClass, output_state: bool, ctx: AccessContext) -> None:
        self._base.output_state_changed(obj, output_state, ctx)

    def activate_image(
        self, obj: InterfaceClass, identification: bytes, image: bytes, ctx: AccessContext
    ) -> None:
        self._base.activate_image(obj, identification, image, ctx)

    def security_policy_activated(
        self, obj: InterfaceClass, security_policy: int, ctx: AccessContext
    ) -> None:
        self._base.security_policy_activated(obj, security_policy, ctx)

    def keys_changed(self, obj: InterfaceClass, key_ids: tuple[int, ...], ctx: AccessContext) -> None:
        self._base.keys_changed(obj, key_ids, ctx)


def _memory_counters() -> CounterProvider:
    counters: dict[int, CounterSource] = {}

    def provider(security_setup: SecuritySetup) -> CounterSource:
        source = counters.get(id(security_setup))
        if source is None:
            source = counters[id(security_setup)] = MemoryInvocationCounter()
        return source

    return provider


class ServerAssociation:
    """One association of a logical device with one client SAP (see the module docstring).

    ``counter_provider`` gives the server's invocation counter per Security setup (in memory by
    default); ``challenge_factory(length)`` gives the HLS StoC (random by default; inject a fixed one
    in tests). ``log`` (optional) receives one-line, key-free event descriptions.

    The association is a thin coordinator: :class:`~cosemnet.server.acse_acceptor.AcseAcceptor` (AARQ,
    HLS, RLRQ), :mod:`~cosemnet.server.protection` (ciphering), :class:`~cosemnet.server.gbt.GbtSession`,
    :mod:`~cosemnet.server.blocks` and the service handlers behind a
    :class:`~cosemnet.server.dispatch.Dispatcher`. Its per-association state is one
    :class:`~cosemnet.server.session.AssociationSession` (:attr:`session`), replaced on release.
    """

    # Resource limits (see docs/decisions/0030); MeterServer sets them from its ServerLimits.
    max_block_transfer: int = 1 << 20
    """Bytes of one incoming SET/ACTION block transfer or general-block-transfer reassembly."""
    pdu_size_limit: int = 0xFFFF
    """Cap on both negotiated PDU sizes, whatever the client and the profile say (UDP: one datagram)."""
    max_burst: int | None = None
    """Bytes of general-block-transfer blocks sent for one request or acknowledgement (the window is
    cut to fit, at least one block; None: the client's window as announced)."""

    def __init__(
        self,
        served: ServedDevice,
        client_sap: int,
        *,
        counter_provider: CounterProvider | None = None,
        challenge_factory: Callable[[], bytes] | None = None,
        log: Callable[[str], None] | None = None,
        replay_floors: ReplayFloors | None = None,
        auth_limiter: AuthFailureLimiter | None = None,
        peer: Hashable = None,
    ) -> None:
        self.served = served
        self.device = served.device
        self.client_sap = client_sap
        self.server_sap: int = served.server_sap if served.server_sap is not None else 1
        base_effects: SideEffects = served.effects if served.effects is not None else SideEffects()
        self._log = log
        self._acceptor = AcseAcceptor(
            served,
            client_sap,
            self.server_sap,
            counters=counter_provider if counter_provider is not None else _memory_counters(),
            effects=_AssociationEffects(base_effects, self),
            challenge_factory=challenge_factory,
            log=log,
            replay_floors=replay_floors,
            auth_limiter=auth_limiter,
            peer=peer,
        )
        self._session = AssociationSession()
        self._outgoing: list[bytes] = []
        self._now_cache = (float("nan"), _dt.datetime(1970, 1, 1, tzinfo=_UTC))
        self._dispatcher = Dispatcher(self, self._send)

    # ----------------------------------------------------------------------------------------------
    # Public API

    @property
    def session(self) -> AssociationSession:
        """All the state of the current association (a fresh object after each release)."""
        return self._session

    @property
    def peer(self) -> Hashable:
        """The source address the association is bound to (rate limiting and logs)."""
        return self._acceptor.peer

    @peer.setter
    def peer(self, value: Hashable) -> None:
        self._acceptor.peer = value

    @property
    def state(self) -> AssociationState:
        """The association's state (idle, pending HLS pass 3, associated), from its session."""
        return self._session.state

    @property
    def profile(self) -> AssociationProfile | None:
        """The profile the AARQ was accepted under (None before an association)."""
        return self._session.profile

    @property
    def security(self) -> SecurityContext | None:
        """The ciphering context of the association (None when it is not ciphered)."""
        return self._session.security

    @property
    def conformance(self) -> Conformance:
        """The negotiated conformance."""
        return self._session.conformance

    @conformance.setter
    def conformance(self, value: Conformance) -> None:
        self._session.conformance = value

    @property
    def max_send_pdu_size(self) -> int:
        """The client's max receive PDU size: the limit of what we send."""
        return self._session.max_send_pdu_size

    @max_send_pdu_size.setter
    def max_send_pdu_size(self, value: int) -> None:
        self._session.max_send_pdu_size = value

    @property
    def associated(self) -> bool:
        """An association is established (possibly still waiting for HLS pass 3)."""
        return self._session.state is not AssociationState.IDLE

    def release(self) -> None:
        """Drop the association (release, timeout, connection closed): a fresh session. Idempotent."""
        if self._session.state is not AssociationState.IDLE and self._log is not None:
            self._log(f"association released: client {self.client_sap} server {self.server_sap}")
        self._session = AssociationSession()

    def receive_apdu(self, apdu: bytes, now: float) -> None:
        """Process one received APDU at time ``now`` (POSIX seconds); the answers go to
        :meth:`pop_outgoing` (a bad APDU is answered on the wire, it never raises)."""
        self._outgoing.extend(self._answer(apdu, now))

    def pop_outgoing(self) -> list[bytes]:
        """The APDUs to send, oldest first; the queue is empty afterwards."""
        out = self._outgoing
        self._outgoing = []
        return out

    def pop_events(self) -> list[object]:
        """No events: the association's :attr:`state` tells whether it is established."""
        return []

    def get_timer(self) -> float | None:
        """None: an association schedules nothing (the inactivity timeout is the server's)."""
        return None

    def handle_timer(self, now: float) -> None:
        """Nothing is ever due (see :meth:`get_timer`)."""

    def _answer(self, apdu: bytes, now: float) -> list[bytes]:
        session = self._session
        if (
            len(apdu) == 13
            and apdu[0] == _GET_REQUEST
            and apdu[1] == 1
            and session.state is AssociationState.ASSOCIATED
            and session.security is None
            and not session.gbt.outgoing
        ):
            fast = self._dispatcher.get.fast(apdu, now)
            if fast is not None:
                return fast
        try:
            return self._handle(apdu, now)
        except ServiceException as exc:
            return [exc.response.encode()]

    # ----------------------------------------------------------------------------------------------
    # What the service handlers use (cosemnet.server.blocks.ServiceHost)

    def access_context(self, now: float) -> AccessContext:
        """The access context of the request in progress (time, protection, association status)."""
        session = self._session
        ctx = session.ctx
        assert ctx is not None
        cached_now, cached_dt = self._now_cache
        if now != cached_now:
            cached_dt = _dt.datetime.fromtimestamp(now, _UTC)
            self._now_cache = (now, cached_dt)
        ctx.now = cached_dt
        sc = session.protection.security_control
        ctx.request_authenticated = bool(sc & AUTHENTICATION_BIT)
        ctx.request_encrypted = bool(sc & ENCRYPTION_BIT)
        ctx.authenticated = session.state is AssociationState.ASSOCIATED
        profile = session.profile
        assert profile is not None
        if profile.security_setup is not None:
            ctx.security_policy = int(profile.security_setup.security_policy)
        profile.association.association_status = session.status
        return ctx

    def end_access(self) -> None:
        """After the object model ran: keep the association status it left (per association)."""
        session = self._session
        profile = session.profile
        if profile is not None:
            session.status = profile.association.association_status

    def require(self, conformance: Conformance) -> None:
        """ExceptionResponse service-not-supported unless ``conformance`` was negotiated."""
        if self._session.conformance & conformance != conformance:
            raise not_negotiated()

    def log_limit(self, what: str, size: int) -> None:
        """Log a refused transfer (over ``max_block_transfer``)."""
        if self._log is not None:
            self._log(
                f"{what} refused: client {self.client_sap} server {self.server_sap}: {size} bytes, "
                f"more than the {self.max_block_transfer} allowed"
            )

    # ----------------------------------------------------------------------------------------------
    # Receiving

    def _handle(self, apdu: bytes, now: float) -> list[bytes]:
        if not apdu:
            raise malformed()
        tag = apdu[0]
        if tag == ApduTag.AARQ:
            return [self._aarq(apdu, now)]
        if tag == ApduTag.RLRQ:
            return [self._rlrq(apdu)]
        session = self._session
        if session.state is AssociationState.IDLE:
            raise not_allowed()
        profile = session.profile
        assert profile is not None
        if len(apdu) > min(profile.max_receive_pdu_size, self.pdu_size_limit):
            raise pdu_too_long()
        session.via_gbt = False
        session.release_after = False
        if tag == ApduTag.GENERAL_BLOCK_TRANSFER:
            if not session.conformance & Conformance.GENERAL_BLOCK_TRANSFER:
                raise not_negotiated()
            reassembled = session.gbt.receive(apdu, self.max_block_transfer, self.max_burst, self.log_limit)
            if not isinstance(reassembled, bytes):
                return reassembled
            apdu = reassembled
            session.via_gbt = True
            if not apdu:
                raise malformed()
        plain = unprotect(apdu, session, self._acceptor.floors)
        responses = self._dispatcher.dispatch(plain, now)
        out = self._send(responses) if responses else []
        if session.release_after:
            self.release()
        return out

    def _aarq(self, data: bytes, now: float) -> bytes:
        """An AARQ starts over: the association in progress is dropped first. Except for HLS: the AARQ
        that opened the current HLS association, received again byte for byte (the same client
        challenge), is a retransmission crossing our answer; it gets the same AARE and changes nothing
        (a new challenge would fail the client's pass 3 computed on the first one, and the back-off of
        decision 0034 would follow). A client that means to start over sends a new challenge."""
        session = self._session
        exchange = session.aarq_exchange
        if exchange is not None and session.hls is not None and exchange[0] == data:
            return exchange[1]
        self.release()
        aare, accepted = self._acceptor.handle_aarq(data, now, self.pdu_size_limit)
        if accepted is not None:
            self._session = accepted
            if accepted.hls is not None:
                accepted.aarq_exchange = (bytes(data), aare)
        return aare

    def _rlrq(self, data: bytes) -> bytes:
        rlre, released = self._acceptor.handle_rlrq(self._session, data)
        if released:
            self.release()
        return rlre

    def _reply_to_hls(self, client_response: bytes) -> bytes:
        """HLS passes 3 and 4 (called through the association object's reply_to_HLS_authentication)."""
        return self._acceptor.complete_hls(self._session, client_response, self._now_cache[0])

    # ----------------------------------------------------------------------------------------------
    # Sending: ciphering and general block transfer

    def _send(self, responses: list[bytes]) -> list[bytes]:
        session = self._session
        gbt_allowed = bool(session.conformance & Conformance.GENERAL_BLOCK_TRANSFER)
        out = []
        for plain in responses:
            if plain[0] == ExceptionResponse.TAG:
                out.append(plain)
                continue
            apdu = protect(plain, session.protection, session.security)
            if gbt_allowed and (session.via_gbt or len(apdu) > session.max_send_pdu_size):
                out.extend(session.gbt.start(apdu, session.max_send_pdu_size, self.max_burst))
            else:
                out.append(apdu)
        return out
