"""Server side of one application association (client SAP <-> logical device), sans-IO.

:class:`ServerAssociation` takes APDU bytes and the current time in, gives APDU bytes out::

    assoc = ServerAssociation(served_device, client_sap=16)
    replies = assoc.handle_apdu(aarq_bytes, now=time.time())   # -> [aare_bytes]
    replies = assoc.handle_apdu(get_request_bytes, now=...)    # -> [get_response_bytes]

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
import logging
import struct
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from enum import IntEnum
from typing import Final, TypeVar

from cosemnet.codec.acse import (
    AARE,
    AARQ,
    ACSE_REQUIREMENTS_AUTHENTICATION,
    RLRE,
    RLRQ,
    ApplicationContextName,
    AssociateSourceDiagnostic,
    AssociationResult,
    MechanismName,
    ReleaseResponseReason,
)
from cosemnet.codec.axdr import decode_data, decode_data_exact, decode_length, encode_data, encode_length
from cosemnet.codec.ciphered import (
    GeneralCiphering,
    GeneralDedCiphering,
    GeneralGloCiphering,
    ServiceSpecificCiphered,
)
from cosemnet.codec.datetime import CosemDateTime
from cosemnet.codec.initiate import (
    VAA_NAME_LN,
    Conformance,
    InitiateRequest,
    InitiateResponse,
)
from cosemnet.codec.obis import Obis
from cosemnet.codec.service_error import (
    ConfirmedService,
    ConfirmedServiceError,
    Initiate,
    ServiceError,
    initiate_error,
)
from cosemnet.codec.types import DataValue
from cosemnet.codec.xdlms import (
    ActionRequestNextPblock,
    ActionRequestNormal,
    ActionRequestWithFirstPblock,
    ActionRequestWithList,
    ActionRequestWithListAndFirstPblock,
    ActionRequestWithPblock,
    ActionResponseNextPblock,
    ActionResponseNormal,
    ActionResponseWithList,
    ActionResponseWithOptionalData,
    ActionResponseWithPblock,
    BlockNumber,
    BlockNumberAccess,
    DataAccessResult,
    DataBlockG,
    DataBlockResult,
    DataBlockSA,
    ExceptionResponse,
    GeneralBlockTransfer,
    GetRequestNext,
    GetRequestNormal,
    GetRequestWithList,
    GetResponseNormal,
    GetResponseWithDataBlock,
    GetResponseWithList,
    ParameterizedAccess,
    ReadDataBlockAccess,
    ReadRequest,
    ReadResponse,
    SelectiveAccessDescriptor,
    SetRequestNormal,
    SetRequestWithDatablock,
    SetRequestWithFirstDatablock,
    SetRequestWithList,
    SetRequestWithListAndFirstDatablock,
    SetResponseDatablock,
    SetResponseLastDatablock,
    SetResponseLastDatablockWithList,
    SetResponseNormal,
    SetResponseWithList,
    StateError,
    UnconfirmedWriteRequest,
    VariableName,
    WriteDataBlockAccess,
    WriteRequest,
    WriteResponse,
)
from cosemnet.codec.xdlms import ServiceError as ExceptionServiceError
from cosemnet.codec.xdlms.common import IIP_FIELDS, ActionResult
from cosemnet.cosem.association import AssociationStatus
from cosemnet.cosem.association_sn import AssociationSN
from cosemnet.cosem.base import InterfaceClass
from cosemnet.cosem.context import AccessContext, SideEffects
from cosemnet.cosem.results import CosemAccessError
from cosemnet.cosem.security_setup import KeyPairType, SecuritySetup
from cosemnet.errors import CosemnetError, DecodeError, EncodeError
from cosemnet.security.ciphering import ProtectionKind, Role, SecurityContext, protect_apdu, unprotect_apdu
from cosemnet.security.control import AUTHENTICATION_BIT, ENCRYPTION_BIT, SecurityPolicy
from cosemnet.security.counters import CounterSource, MemoryInvocationCounter, ReplayFloors, ReplayGuard
from cosemnet.security.errors import KeyMissingError, ReplayError, SecurityError
from cosemnet.security.hls import HlsServer, Mechanism
from cosemnet.security.keys import KeyRole, KeySet
from cosemnet.security.suite import SecuritySuite
from cosemnet.server.auth_limiter import AuthFailureLimiter
from cosemnet.server.config import AssociationProfile, ServedDevice

__all__ = ["AssociationState", "CounterProvider", "ServerAssociation"]

_T = TypeVar("_T")
_logger = logging.getLogger(__name__)

AUTHENTICATION_FAILURE_EVENT: Final = "association_authentication_failure"
"""The event name reported to ``ServedDevice.on_security_event`` (docs/decisions/0034)."""

CounterProvider = Callable[[SecuritySetup], CounterSource]
"""Gives the server's sending invocation counter (global unicast key) of a Security setup."""

_UTC: Final = _dt.UTC
_GET_NORMAL: Final = struct.Struct(">BBBH6sbB")
_HLS: Final = frozenset(
    {Mechanism.HLS_MD5, Mechanism.HLS_SHA1, Mechanism.HLS_GMAC, Mechanism.HLS_SHA256, Mechanism.HLS_ECDSA}
)
_ENVELOPE_OVERHEAD: Final = {
    "general-glo": 30,
    "general-ded": 30,
    "service-specific-glo": 22,
    "service-specific-ded": 22,
    "general-ciphering": 64,
}
_BLOCK_HEADER: Final = 12  # tag, choice, invoke-id, last-block, block-number(4), choice, length(<=3)
_GBT_HEADER: Final = 10  # tag, control, block-number(2), ack(2), length(<=3), margin


class AssociationState(IntEnum):
    """Life cycle of a :class:`ServerAssociation`."""

    IDLE = 0
    PENDING = 1
    """Accepted, HLS pass 3/4 not done yet."""
    ASSOCIATED = 2


class _Refusal(Exception):
    """Internal: an AARQ refusal with its diagnostic and optional initiate error."""

    def __init__(
        self,
        diagnostic: AssociateSourceDiagnostic,
        error: ConfirmedServiceError | None = None,
        *,
        cipher_error: bool = False,
        failure: str | None = None,
    ) -> None:
        super().__init__(diagnostic.name)
        self.diagnostic = diagnostic
        self.error = error
        self.cipher_error = cipher_error
        self.failure = failure
        """An authentication failure to rate-limit and record (what failed), or None."""


class _Exception(Exception):
    """Internal: answer with an ExceptionResponse."""

    def __init__(
        self, state: StateError, service: ExceptionServiceError, invocation_counter: int | None = None
    ) -> None:
        super().__init__(service.name)
        self.response = ExceptionResponse(state, service, invocation_counter)


@dataclass(slots=True)
class _Protection:
    """How the request in progress was protected (None kind = plain)."""

    kind: ProtectionKind | None = None
    security_control: int = 0


_PLAIN: Final = _Protection()


@dataclass(slots=True)
class _LongResponse:
    """An outgoing response split in service-specific blocks."""

    service: int  # 0xC4 get, 0xC7 action, 0x0C read
    invoke_byte: int
    raw: bytes
    block_size: int
    sent: int = 0

    @property
    def total(self) -> int:
        return max(1, -(-len(self.raw) // self.block_size))

    def block(self, number: int) -> tuple[bool, bytes]:
        start = (number - 1) * self.block_size
        return number >= self.total, self.raw[start : start + self.block_size]


@dataclass(slots=True)
class _LongRequest:
    """An incoming SET/ACTION request arriving in blocks."""

    service: int  # 0xC1 set, 0xC3 action
    invoke_byte: int
    targets: list[tuple[int, Obis, int, SelectiveAccessDescriptor | None]]
    with_list: bool
    data: bytearray
    block_number: int


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


def _exception(state: StateError, service: ExceptionServiceError) -> _Exception:
    return _Exception(state, service)


def _not_allowed() -> _Exception:
    return _Exception(StateError.SERVICE_NOT_ALLOWED, ExceptionServiceError.OPERATION_NOT_POSSIBLE)


def _not_negotiated() -> _Exception:
    return _Exception(StateError.SERVICE_NOT_ALLOWED, ExceptionServiceError.SERVICE_NOT_SUPPORTED)


def _malformed() -> _Exception:
    return _Exception(StateError.SERVICE_NOT_ALLOWED, ExceptionServiceError.OTHER_REASON)


def _user(code: int) -> AssociateSourceDiagnostic:
    return AssociateSourceDiagnostic(0x100 | code)


_NULL: Final = AssociateSourceDiagnostic.ACSE_SERVICE_USER_NULL
_NO_REASON: Final = AssociateSourceDiagnostic.ACSE_SERVICE_USER_NO_REASON_GIVEN
_CONTEXT_NOT_SUPPORTED: Final = (
    AssociateSourceDiagnostic.ACSE_SERVICE_USER_APPLICATION_CONTEXT_NAME_NOT_SUPPORTED
)
_CALLING_AP_TITLE: Final = AssociateSourceDiagnostic.ACSE_SERVICE_USER_CALLING_AP_TITLE_NOT_RECOGNIZED
_MECHANISM_NOT_RECOGNISED: Final = (
    AssociateSourceDiagnostic.ACSE_SERVICE_USER_AUTHENTICATION_MECHANISM_NAME_NOT_RECOGNISED
)
_MECHANISM_REQUIRED: Final = (
    AssociateSourceDiagnostic.ACSE_SERVICE_USER_AUTHENTICATION_MECHANISM_NAME_REQUIRED
)
_AUTHENTICATION_FAILURE: Final = AssociateSourceDiagnostic.ACSE_SERVICE_USER_AUTHENTICATION_FAILURE
_AUTHENTICATION_REQUIRED: Final = AssociateSourceDiagnostic.ACSE_SERVICE_USER_AUTHENTICATION_REQUIRED


class ServerAssociation:
    """One association of a logical device with one client SAP (see the module docstring).

    ``counter_provider`` gives the server's invocation counter per Security setup (in memory by
    default); ``challenge_factory(length)`` gives the HLS StoC (random by default; inject a fixed one
    in tests). ``log`` (optional) receives one-line, key-free event descriptions.
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
        self._base_effects: SideEffects = served.effects if served.effects is not None else SideEffects()
        self._counters = counter_provider if counter_provider is not None else _memory_counters()
        self._challenge_factory = challenge_factory
        self._log = log
        self._floors = replay_floors
        self._limiter = auth_limiter
        self.peer = peer
        """The source address the association is bound to (rate limiting and logs)."""
        self.state = AssociationState.IDLE
        self.profile: AssociationProfile | None = None
        self.conformance = Conformance(0)
        self.max_send_pdu_size = 0
        """The client's max receive PDU size: the limit of what we send."""
        self.security: SecurityContext | None = None
        self._hls: HlsServer | None = None
        self._ctx: AccessContext | None = None
        self._status = AssociationStatus.NON_ASSOCIATED
        self._long_response: _LongResponse | None = None
        self._long_request: _LongRequest | None = None
        self._gbt_out: list[bytes] = []
        self._gbt_window = 1
        self._gbt_in = bytearray()
        self._gbt_in_last = 0
        self._now_cache = (float("nan"), _dt.datetime(1970, 1, 1, tzinfo=_UTC))
        self._protection = _PLAIN
        self._via_gbt = False
        self._release_after = False
        self._get_negotiated = False
        self._objects: dict[tuple[int, bytes], InterfaceClass] = {}
        """Objects resolved on this association (the fast GET path; cleared with the association)."""

    # ----------------------------------------------------------------------------------------------
    # Public API

    @property
    def associated(self) -> bool:
        """An association is established (possibly still waiting for HLS pass 3)."""
        return self.state is not AssociationState.IDLE

    def release(self) -> None:
        """Drop the association (release, timeout, connection closed). Idempotent."""
        if self.state is not AssociationState.IDLE and self._log is not None:
            self._log(f"association released: client {self.client_sap} server {self.server_sap}")
        self.state = AssociationState.IDLE
        self.profile = None
        self.security = None
        self._hls = None
        self._ctx = None
        self._status = AssociationStatus.NON_ASSOCIATED
        self._long_response = None
        self._long_request = None
        self._gbt_out = []
        self._gbt_in = bytearray()
        self._gbt_window = 1
        self._gbt_in_last = 0
        self._via_gbt = False
        self._get_negotiated = False
        self._objects = {}

    def handle_apdu(self, apdu: bytes, now: float) -> list[bytes]:
        """Process one received APDU at time ``now`` (POSIX seconds); return the APDUs to send."""
        if (
            len(apdu) == 13
            and apdu[0] == 0xC0
            and apdu[1] == 1
            and self.state is AssociationState.ASSOCIATED
            and self.security is None
            and not self._gbt_out
        ):
            fast = self._fast_get(apdu, now)
            if fast is not None:
                return fast
        try:
            return self._handle(apdu, now)
        except _Exception as exc:
            return [exc.response.encode()]

    # ----------------------------------------------------------------------------------------------
    # Dispatch

    def _handle(self, apdu: bytes, now: float) -> list[bytes]:
        if not apdu:
            raise _malformed()
        tag = apdu[0]
        if tag == AARQ.TAG:
            return [self._aarq(apdu, now)]
        if tag == RLRQ.TAG:
            return [self._rlrq(apdu)]
        if self.state is AssociationState.IDLE:
            raise _not_allowed()
        profile = self.profile
        assert profile is not None
        if len(apdu) > min(profile.max_receive_pdu_size, self.pdu_size_limit):
            raise _Exception(StateError.SERVICE_NOT_ALLOWED, ExceptionServiceError.PDU_TOO_LONG)
        self._via_gbt = False
        self._release_after = False
        if tag == GeneralBlockTransfer.TAG:
            if not self.conformance & Conformance.GENERAL_BLOCK_TRANSFER:
                raise _not_negotiated()
            reassembled = self._gbt_receive(apdu)
            if not isinstance(reassembled, bytes):
                return reassembled
            apdu = reassembled
            self._via_gbt = True
            if not apdu:
                raise _malformed()
        plain = self._unprotect(apdu)
        responses = self._dispatch(plain, now)
        out = self._send(responses) if responses else []
        if self._release_after:
            self.release()
        return out

    def _unprotect(self, apdu: bytes) -> bytes:
        security = self.security
        tag = apdu[0]
        if security is None:
            if tag in ServiceSpecificCiphered.TAGS or tag in (0xDB, 0xDC, 0xDD, 0xDF):
                raise _Exception(StateError.SERVICE_NOT_ALLOWED, ExceptionServiceError.DECIPHERING_ERROR)
            self._protection = _PLAIN
            return apdu
        self._refresh_security(security)
        try:
            plain, envelope, header = unprotect_apdu(apdu, security)
        except ReplayError:
            window = security.replay_guard.last((security.peer_system_title, KeyRole.GLOBAL_UNICAST))
            raise _Exception(
                StateError.SERVICE_NOT_ALLOWED,
                ExceptionServiceError.INVOCATION_COUNTER_ERROR,
                min((window or 0) + 1, 0xFFFFFFFF),
            ) from None
        except DecodeError:
            raise _malformed() from None
        except SecurityError:
            raise _Exception(
                StateError.SERVICE_NOT_ALLOWED, ExceptionServiceError.DECIPHERING_ERROR
            ) from None
        if envelope is None or header is None:
            self._protection = _PLAIN
        else:
            self._protection = _Protection(_kind_of(envelope), header.security_control)
        return plain

    def _refresh_security(self, security: SecurityContext) -> None:
        profile = self.profile
        assert profile is not None and profile.security_setup is not None
        setup = profile.security_setup
        policy = int(setup.security_policy)
        if int(security.policy) != policy:
            security.policy = SecurityPolicy(policy)
        keys = security.keys
        source = setup.keys
        if keys.ek is not source.ek:
            keys.ek = source.ek
            if self._floors is not None:  # a new key has its own replay windows
                security.replay_guard = self._floors.guard(source.ek)
        if keys.ak is not source.ak:
            keys.ak = source.ak
        if keys.broadcast_key is not source.broadcast_key:
            keys.broadcast_key = source.broadcast_key
        if keys.kek is not source.kek:
            keys.kek = source.kek

    def _dispatch(self, plain: bytes, now: float) -> list[bytes]:
        if len(plain) < 2:
            raise _malformed()
        tag = plain[0]
        if tag in (0xC0, 0xC1, 0xC3) and len(plain) < 3:
            raise _malformed()
        if self.state is AssociationState.PENDING:
            return self._pending(plain, now)
        if tag == 0xC0:
            return self._get(plain, now)
        if tag == 0xC1:
            return self._set(plain, now)
        if tag == 0xC3:
            return self._action(plain, now)
        if tag == ReadRequest.TAG:
            return self._read(plain, now)
        if tag in (WriteRequest.TAG, UnconfirmedWriteRequest.TAG):
            return self._write(plain, now)
        if tag in (0x01, 0xC2, 0xC4, 0xC5, 0xC7, 0x0C, 0x0D, 0x0E, 0x0F, 0x18, 0xD8, 0xE0):
            raise _not_allowed()
        raise _Exception(StateError.SERVICE_UNKNOWN, ExceptionServiceError.SERVICE_NOT_SUPPORTED)

    def _pending(self, plain: bytes, now: float) -> list[bytes]:
        """HLS pass 3: only reply_to_HLS_authentication is served."""
        profile = self.profile
        assert profile is not None
        association = profile.association
        tag = plain[0]
        if tag == 0xC3 and plain[1] == 1 and not profile.short_names:
            request = self._decode(ActionRequestNormal, plain)
            d = request.cosem_method_descriptor
            method = 8 if isinstance(association, AssociationSN) else 1
            if d.class_id == association.CLASS_ID and d.method_id == method:
                return self._action(plain, now)
        if (
            profile.short_names
            and tag in (ReadRequest.TAG, WriteRequest.TAG)
            and association.base_name is not None
        ):
            target = association.base_name + 0x58
            request_sn: ReadRequest | WriteRequest
            if tag == ReadRequest.TAG:
                request_sn = self._decode(ReadRequest, plain)
            else:
                request_sn = self._decode(WriteRequest, plain)
            items = request_sn.variable_access_specification
            if (
                len(items) == 1
                and isinstance(items[0], VariableName | ParameterizedAccess)
                and items[0].variable_name == target
            ):
                return self._read(plain, now) if tag == ReadRequest.TAG else self._write(plain, now)
        raise _not_allowed()

    @staticmethod
    def _decode(cls: type[_T], data: bytes) -> _T:
        try:
            return cls.decode(data)  # type: ignore[attr-defined,no-any-return]
        except DecodeError:
            raise _malformed() from None

    def _require(self, conformance: Conformance) -> None:
        if self.conformance & conformance != conformance:
            raise _not_negotiated()

    # ----------------------------------------------------------------------------------------------
    # Access context

    def _context(self, now: float) -> AccessContext:
        ctx = self._ctx
        assert ctx is not None
        cached_now, cached_dt = self._now_cache
        if now != cached_now:
            cached_dt = _dt.datetime.fromtimestamp(now, _UTC)
            self._now_cache = (now, cached_dt)
        ctx.now = cached_dt
        sc = self._protection.security_control
        ctx.request_authenticated = bool(sc & AUTHENTICATION_BIT)
        ctx.request_encrypted = bool(sc & ENCRYPTION_BIT)
        ctx.authenticated = self.state is AssociationState.ASSOCIATED
        profile = self.profile
        assert profile is not None
        if profile.security_setup is not None:
            ctx.security_policy = int(profile.security_setup.security_policy)
        profile.association.association_status = self._status
        return ctx

    def _after(self) -> None:
        profile = self.profile
        if profile is not None:
            self._status = profile.association.association_status

    # ----------------------------------------------------------------------------------------------
    # GET

    def _fast_get(self, apdu: bytes, now: float) -> list[bytes] | None:
        """GET-request-normal without selection on a plain association: the benchmarked path."""
        _, _, iip, class_id, instance_id, attribute_id, flag = _GET_NORMAL.unpack(apdu)
        if flag or not iip & 0x40 or not self._get_negotiated:
            return None
        self._protection = _PLAIN
        self._long_response = None
        ctx = self._context(now)
        try:
            key = (class_id, instance_id)
            obj = self._objects.get(key)
            if obj is None:
                obj = self.device.resolve(class_id, instance_id, ctx)
                if len(self._objects) >= 1024:
                    self._objects.clear()
                self._objects[key] = obj
            value = obj.get(attribute_id, ctx)
        except CosemAccessError as exc:
            self._after()
            return [bytes((0xC4, 1, iip, 1, exc.data_access_result))]
        except CosemnetError:
            self._after()
            return [bytes((0xC4, 1, iip, 1, DataAccessResult.OTHER_REASON))]
        self._after()
        try:
            body = encode_data(value)
        except EncodeError:
            return [bytes((0xC4, 1, iip, 1, DataAccessResult.OTHER_REASON))]
        encoded = bytes((0xC4, 1, iip, 0)) + body
        if len(encoded) <= self.max_send_pdu_size:
            return [encoded]
        self._via_gbt = False
        try:
            return self._send(self._maybe_blocks(0xC4, iip, encoded, 4))
        except _Exception as exc:
            return [exc.response.encode()]

    def _read_attribute(
        self,
        class_id: int,
        instance_id: Obis,
        attribute_id: int,
        selection: SelectiveAccessDescriptor | None,
        ctx: AccessContext,
    ) -> DataValue | DataAccessResult:
        if selection is not None and not self.conformance & Conformance.SELECTIVE_ACCESS:
            raise _not_negotiated()
        try:
            return self.device.get(class_id, instance_id, attribute_id, ctx, selection)
        except CosemAccessError as exc:
            return exc.data_access_result
        except CosemnetError:
            return DataAccessResult.OTHER_REASON

    def _get(self, plain: bytes, now: float) -> list[bytes]:
        choice = plain[1]
        if choice == GetRequestNext.CHOICE:
            self._require(Conformance.BLOCK_TRANSFER_WITH_GET_OR_READ)
            request_next = self._decode(GetRequestNext, plain)
            return self._next_block(0xC4, request_next.block_number, plain[2])
        self._long_response = None
        if choice == GetRequestNormal.CHOICE:
            self._require(Conformance.GET)
            request = self._decode(GetRequestNormal, plain)
            ctx = self._context(now)
            d = request.cosem_attribute_descriptor
            result = self._read_attribute(
                d.class_id, d.instance_id, d.attribute_id, request.access_selection, ctx
            )
            self._after()
            if not plain[2] & 0x40:
                return []
            try:
                encoded = GetResponseNormal(
                    request.invoke_id, result, request.service_class, request.priority
                ).encode()
            except EncodeError:
                encoded = bytes((0xC4, 1, plain[2], 1, DataAccessResult.OTHER_REASON))
            if type(result) is DataAccessResult:
                return [encoded]
            return self._maybe_blocks(0xC4, plain[2], encoded, 4)
        if choice == GetRequestWithList.CHOICE:
            self._require(Conformance.GET | Conformance.MULTIPLE_REFERENCES)
            request_list = self._decode(GetRequestWithList, plain)
            ctx = self._context(now)
            results: list[DataAccessResult | DataValue] = []
            for item in request_list.attribute_descriptor_list:
                d = item.cosem_attribute_descriptor
                results.append(
                    self._read_attribute(
                        d.class_id, d.instance_id, d.attribute_id, item.access_selection, ctx
                    )
                )
            self._after()
            if not plain[2] & 0x40:
                return []
            try:
                encoded = GetResponseWithList(
                    request_list.invoke_id, results, request_list.service_class, request_list.priority
                ).encode()
            except EncodeError:
                encoded = GetResponseWithList(
                    request_list.invoke_id,
                    [DataAccessResult.OTHER_REASON] * len(results),
                    request_list.service_class,
                    request_list.priority,
                ).encode()
            return self._maybe_blocks(0xC4, plain[2], encoded, 3)
        raise _malformed()

    # ----------------------------------------------------------------------------------------------
    # Long responses

    def _send_limit(self) -> int:
        """Largest plain APDU we may send (client max receive PDU minus the ciphering envelope)."""
        kind = self._protection.kind
        overhead = 0 if kind is None else _ENVELOPE_OVERHEAD.get(kind, 64)
        return self.max_send_pdu_size - overhead

    def _maybe_blocks(self, service: int, invoke_byte: int, encoded: bytes, skip: int) -> list[bytes]:
        """``encoded`` as is if it fits; otherwise the first service-specific block when that block
        transfer was negotiated, else the whole APDU for General-Block-Transfer (done in :meth:`_send`
        on the protected APDU), else pdu-too-long."""
        if len(encoded) <= self._send_limit() or self._via_gbt:
            return [encoded]
        needed = {
            0xC4: Conformance.BLOCK_TRANSFER_WITH_GET_OR_READ,
            0xC7: Conformance.BLOCK_TRANSFER_WITH_ACTION,
            0x0C: Conformance.BLOCK_TRANSFER_WITH_GET_OR_READ,
        }[service]
        block_size = self._send_limit() - _BLOCK_HEADER
        if not self.conformance & needed or block_size < 1:
            if self._gbt_allowed():
                return [encoded]
            raise _Exception(StateError.SERVICE_NOT_ALLOWED, ExceptionServiceError.PDU_TOO_LONG)
        self._long_response = _LongResponse(service, invoke_byte, encoded[skip:], block_size)
        return [self._block_apdu(1)]

    def _block_apdu(self, number: int) -> bytes:
        long = self._long_response
        assert long is not None
        last, chunk = long.block(number)
        long.sent = max(long.sent, number)
        if last:
            self._long_response = None
        iid, service_class, priority, reserved = IIP_FIELDS[long.invoke_byte]
        if long.service == 0xC4:
            return GetResponseWithDataBlock(
                iid, DataBlockG(last, number, chunk), service_class, priority, reserved
            ).encode()
        if long.service == 0xC7:
            return ActionResponseWithPblock(
                iid, DataBlockSA(last, number, chunk), service_class, priority, reserved
            ).encode()
        return ReadResponse([DataBlockResult(last, number, chunk)]).encode()

    def _next_block(self, service: int, block_number: int, invoke_byte: int) -> list[bytes]:
        long = self._long_response
        iid, service_class, priority, reserved = IIP_FIELDS[invoke_byte]
        if long is None or long.service != service or not (long.sent - 1 <= block_number <= long.sent):
            self._long_response = None
            if service == 0xC4:
                result = (
                    DataAccessResult.NO_LONG_GET_IN_PROGRESS
                    if long is None
                    else DataAccessResult.DATA_BLOCK_NUMBER_INVALID
                )
                return [
                    GetResponseWithDataBlock(
                        iid, DataBlockG(True, block_number, result), service_class, priority, reserved
                    ).encode()
                ]
            if service == 0xC7:
                return [
                    ActionResponseNormal(
                        iid,
                        ActionResponseWithOptionalData(ActionResult.NO_LONG_ACTION_IN_PROGRESS),
                        service_class,
                        priority,
                        reserved,
                    ).encode()
                ]
            return [ReadResponse([DataAccessResult.NO_LONG_GET_IN_PROGRESS]).encode()]
        return [self._block_apdu(block_number + 1)]

    # ----------------------------------------------------------------------------------------------
    # SET

    def _write_attribute(
        self, class_id: int, instance_id: Obis, attribute_id: int, value: DataValue, ctx: AccessContext
    ) -> DataAccessResult:
        try:
            self.device.set(class_id, instance_id, attribute_id, value, ctx)
        except CosemAccessError as exc:
            return exc.data_access_result
        except CosemnetError:
            return DataAccessResult.OTHER_REASON
        return DataAccessResult.SUCCESS

    def _set(self, plain: bytes, now: float) -> list[bytes]:
        choice = plain[1]
        invoke_byte = plain[2]
        iid, service_class, priority, reserved = IIP_FIELDS[invoke_byte]
        confirmed = bool(service_class)
        self._long_response = None
        if choice == SetRequestNormal.CHOICE:
            self._require(Conformance.SET)
            request = self._decode(SetRequestNormal, plain)
            self._long_request = None
            if request.access_selection is not None:
                self._require(Conformance.SELECTIVE_ACCESS)
            d = request.cosem_attribute_descriptor
            result = self._write_attribute(
                d.class_id, d.instance_id, d.attribute_id, request.value, self._context(now)
            )
            self._after()
            return (
                [SetResponseNormal(iid, result, service_class, priority, reserved).encode()]
                if confirmed
                else []
            )
        if choice == SetRequestWithList.CHOICE:
            self._require(Conformance.SET | Conformance.MULTIPLE_REFERENCES)
            request_list = self._decode(SetRequestWithList, plain)
            self._long_request = None
            if len(request_list.value_list) != len(request_list.attribute_descriptor_list):
                raise _malformed()
            ctx = self._context(now)
            results = [
                self._write_attribute(
                    item.cosem_attribute_descriptor.class_id,
                    item.cosem_attribute_descriptor.instance_id,
                    item.cosem_attribute_descriptor.attribute_id,
                    value,
                    ctx,
                )
                for item, value in zip(
                    request_list.attribute_descriptor_list, request_list.value_list, strict=True
                )
            ]
            self._after()
            return (
                [SetResponseWithList(iid, results, service_class, priority, reserved).encode()]
                if confirmed
                else []
            )
        if choice in (SetRequestWithFirstDatablock.CHOICE, SetRequestWithListAndFirstDatablock.CHOICE):
            self._require(Conformance.SET | Conformance.BLOCK_TRANSFER_WITH_SET_OR_WRITE)
            block: DataBlockSA
            if choice == SetRequestWithFirstDatablock.CHOICE:
                first = self._decode(SetRequestWithFirstDatablock, plain)
                d = first.cosem_attribute_descriptor
                targets = [(d.class_id, d.instance_id, d.attribute_id, first.access_selection)]
                block = first.datablock
                with_list = False
            else:
                self._require(Conformance.MULTIPLE_REFERENCES)
                first_list = self._decode(SetRequestWithListAndFirstDatablock, plain)
                targets = [
                    (
                        item.cosem_attribute_descriptor.class_id,
                        item.cosem_attribute_descriptor.instance_id,
                        item.cosem_attribute_descriptor.attribute_id,
                        item.access_selection,
                    )
                    for item in first_list.attribute_descriptor_list
                ]
                block = first_list.datablock
                with_list = True
            self._long_request = None
            if block.block_number != 1:
                return [
                    SetResponseLastDatablock(
                        iid,
                        DataAccessResult.DATA_BLOCK_NUMBER_INVALID,
                        block.block_number,
                        service_class,
                        priority,
                        reserved,
                    ).encode()
                ]
            refused = self._first_block_refusal(targets, False, now, len(block.raw_data))
            if refused is not None:
                return [self._set_refusal(invoke_byte, with_list, refused, block.block_number)]
            self._long_request = _LongRequest(
                0xC1, invoke_byte, targets, with_list, bytearray(block.raw_data), 1
            )
            return self._set_block_done(block, now)
        if choice == SetRequestWithDatablock.CHOICE:
            self._require(Conformance.SET | Conformance.BLOCK_TRANSFER_WITH_SET_OR_WRITE)
            following = self._decode(SetRequestWithDatablock, plain)
            long = self._long_request
            block = following.datablock
            if long is None or long.service != 0xC1:
                return [
                    SetResponseLastDatablock(
                        iid,
                        DataAccessResult.NO_LONG_SET_IN_PROGRESS,
                        block.block_number,
                        service_class,
                        priority,
                        reserved,
                    ).encode()
                ]
            if block.block_number != long.block_number + 1:
                self._long_request = None
                return [
                    SetResponseLastDatablock(
                        iid,
                        DataAccessResult.DATA_BLOCK_NUMBER_INVALID,
                        block.block_number,
                        service_class,
                        priority,
                        reserved,
                    ).encode()
                ]
            if len(long.data) + len(block.raw_data) > self.max_block_transfer:
                self._long_request = None
                self._log_limit("SET block transfer", len(long.data) + len(block.raw_data))
                aborted = [int(DataAccessResult.LONG_SET_ABORTED)] * len(long.targets)
                return [self._set_refusal(invoke_byte, long.with_list, aborted, block.block_number)]
            long.data += block.raw_data
            long.block_number = block.block_number
            return self._set_block_done(block, now)
        raise _malformed()

    def _set_block_done(self, block: DataBlockSA, now: float) -> list[bytes]:
        long = self._long_request
        assert long is not None
        iid, service_class, priority, reserved = IIP_FIELDS[long.invoke_byte]
        if not block.last_block:
            return [SetResponseDatablock(iid, block.block_number, service_class, priority, reserved).encode()]
        self._long_request = None
        try:
            values = _decode_values(bytes(long.data), long.with_list)
        except DecodeError:
            values = None
        if values is None or len(values) != len(long.targets):
            if long.with_list:
                return [
                    SetResponseLastDatablockWithList(
                        iid,
                        [DataAccessResult.TYPE_UNMATCHED] * len(long.targets),
                        block.block_number,
                        service_class,
                        priority,
                        reserved,
                    ).encode()
                ]
            return [
                SetResponseLastDatablock(
                    iid,
                    DataAccessResult.TYPE_UNMATCHED,
                    block.block_number,
                    service_class,
                    priority,
                    reserved,
                ).encode()
            ]
        ctx = self._context(now)
        results = [
            self._write_attribute(class_id, instance_id, attribute_id, value, ctx)
            for (class_id, instance_id, attribute_id, _), value in zip(long.targets, values, strict=True)
        ]
        self._after()
        if long.with_list:
            return [
                SetResponseLastDatablockWithList(
                    iid, results, block.block_number, service_class, priority, reserved
                ).encode()
            ]
        return [
            SetResponseLastDatablock(
                iid, results[0], block.block_number, service_class, priority, reserved
            ).encode()
        ]

    # ----------------------------------------------------------------------------------------------
    # ACTION

    def _invoke(
        self, class_id: int, instance_id: Obis, method_id: int, parameter: DataValue, ctx: AccessContext
    ) -> ActionResponseWithOptionalData:
        try:
            value = self.device.action(class_id, instance_id, method_id, parameter, ctx)
        except CosemAccessError as exc:
            return ActionResponseWithOptionalData(exc.action_result)
        except CosemnetError:
            return ActionResponseWithOptionalData(ActionResult.OTHER_REASON)
        if value is None:
            return ActionResponseWithOptionalData(ActionResult.SUCCESS)
        return ActionResponseWithOptionalData(ActionResult.SUCCESS, value)

    def _action(self, plain: bytes, now: float) -> list[bytes]:
        choice = plain[1]
        invoke_byte = plain[2]
        iid, service_class, priority, reserved = IIP_FIELDS[invoke_byte]
        confirmed = bool(service_class)
        if choice == ActionRequestNextPblock.CHOICE:
            self._require(Conformance.ACTION | Conformance.BLOCK_TRANSFER_WITH_ACTION)
            request_next = self._decode(ActionRequestNextPblock, plain)
            return self._next_block(0xC7, request_next.block_number, invoke_byte)
        self._long_response = None
        if choice == ActionRequestNormal.CHOICE:
            self._require(Conformance.ACTION)
            request = self._decode(ActionRequestNormal, plain)
            self._long_request = None
            d = request.cosem_method_descriptor
            response = self._invoke(
                d.class_id,
                d.instance_id,
                d.method_id,
                request.method_invocation_parameters,
                self._context(now),
            )
            self._after()
            if not confirmed:
                return []
            encoded = self._encode_action(
                ActionResponseNormal(iid, response, service_class, priority, reserved)
            )
            return self._maybe_blocks(0xC7, invoke_byte, encoded, 3)
        if choice == ActionRequestWithList.CHOICE:
            self._require(Conformance.ACTION | Conformance.MULTIPLE_REFERENCES)
            request_list = self._decode(ActionRequestWithList, plain)
            self._long_request = None
            methods = request_list.cosem_method_descriptor_list
            parameters = request_list.method_invocation_parameters
            if len(methods) != len(parameters):
                raise _malformed()
            ctx = self._context(now)
            responses = [
                self._invoke(d.class_id, d.instance_id, d.method_id, p, ctx)
                for d, p in zip(methods, parameters, strict=True)
            ]
            self._after()
            if not confirmed:
                return []
            encoded = self._encode_action(
                ActionResponseWithList(iid, responses, service_class, priority, reserved)
            )
            return self._maybe_blocks(0xC7, invoke_byte, encoded, 3)
        if choice in (ActionRequestWithFirstPblock.CHOICE, ActionRequestWithListAndFirstPblock.CHOICE):
            self._require(Conformance.ACTION | Conformance.BLOCK_TRANSFER_WITH_ACTION)
            if choice == ActionRequestWithFirstPblock.CHOICE:
                first = self._decode(ActionRequestWithFirstPblock, plain)
                d = first.cosem_method_descriptor
                targets: list[tuple[int, Obis, int, SelectiveAccessDescriptor | None]] = [
                    (d.class_id, d.instance_id, d.method_id, None)
                ]
                block = first.pblock
                with_list = False
            else:
                self._require(Conformance.MULTIPLE_REFERENCES)
                first_list = self._decode(ActionRequestWithListAndFirstPblock, plain)
                targets = [
                    (d.class_id, d.instance_id, d.method_id, None)
                    for d in first_list.cosem_method_descriptor_list
                ]
                block = first_list.pblock
                with_list = True
            self._long_request = None
            if block.block_number != 1:
                return [self._action_failure(invoke_byte, ActionResult.OTHER_REASON)]
            refused_action = self._first_block_refusal(targets, True, now, len(block.raw_data))
            if refused_action is not None:
                return [self._action_refusal(invoke_byte, with_list, refused_action)]
            self._long_request = _LongRequest(
                0xC3, invoke_byte, targets, with_list, bytearray(block.raw_data), 1
            )
            return self._action_block_done(block, now)
        if choice == ActionRequestWithPblock.CHOICE:
            self._require(Conformance.ACTION | Conformance.BLOCK_TRANSFER_WITH_ACTION)
            following = self._decode(ActionRequestWithPblock, plain)
            long = self._long_request
            block = following.pblock
            if long is None or long.service != 0xC3:
                return [self._action_failure(invoke_byte, ActionResult.NO_LONG_ACTION_IN_PROGRESS)]
            if block.block_number != long.block_number + 1:
                self._long_request = None
                return [self._action_failure(invoke_byte, ActionResult.LONG_ACTION_ABORTED)]
            if len(long.data) + len(block.raw_data) > self.max_block_transfer:
                self._long_request = None
                self._log_limit("ACTION block transfer", len(long.data) + len(block.raw_data))
                return [self._action_failure(invoke_byte, ActionResult.LONG_ACTION_ABORTED)]
            long.data += block.raw_data
            long.block_number = block.block_number
            return self._action_block_done(block, now)
        raise _malformed()

    def _first_block_refusal(
        self,
        targets: list[tuple[int, Obis, int, SelectiveAccessDescriptor | None]],
        method: bool,
        now: float,
        size: int,
    ) -> list[int] | None:
        """The first block of a SET/ACTION block transfer: the access rights of every target and the
        size limit, checked before anything is kept. None when the transfer may go on, else the result
        per target (a DataAccessResult for SET, an ActionResult for ACTION; 0 where it is allowed)."""
        if size > self.max_block_transfer:
            self._log_limit("block transfer", size)
            aborted = ActionResult.LONG_ACTION_ABORTED if method else DataAccessResult.LONG_SET_ABORTED
            return [int(aborted)] * len(targets)
        ctx = self._context(now)
        codes: list[int] = []
        for class_id, instance_id, index, _ in targets:
            try:
                self._check_block_target(class_id, instance_id, index, method, ctx)
            except CosemAccessError as exc:
                codes.append(int(exc.action_result if method else exc.data_access_result))
            else:
                codes.append(0)
        self._after()
        return codes if any(codes) else None

    def _check_block_target(
        self, class_id: int, instance_id: Obis, index: int, method: bool, ctx: AccessContext
    ) -> None:
        """Raise CosemAccessError when the association may not write the attribute / run the method."""
        obj = self.device.resolve(class_id, instance_id, ctx)
        if method:
            obj.method_def(index)
        else:
            obj.attribute_def(index)
        association = ctx.association
        if association is None:
            return
        rights = association.rights_for(class_id, obj.logical_name)
        if rights is None:
            raise CosemAccessError(DataAccessResult.OBJECT_UNDEFINED, "not in the association's object list")
        if method:
            if not rights.method_mode(index).allows(ctx.request_authenticated):
                raise CosemAccessError(ActionResult.READ_WRITE_DENIED, f"method {index} not allowed")
        elif index == 1 or not rights.attribute_mode(index).allows_write(ctx.request_authenticated):
            raise CosemAccessError(DataAccessResult.READ_WRITE_DENIED, f"attribute {index} not writable")

    @staticmethod
    def _set_refusal(invoke_byte: int, with_list: bool, codes: list[int], block_number: int) -> bytes:
        """SET-Response-Last-Datablock(-With-List) ending a block transfer early."""
        iid, service_class, priority, reserved = IIP_FIELDS[invoke_byte]
        results = [DataAccessResult(c) for c in codes]
        if with_list:
            return SetResponseLastDatablockWithList(
                iid, results, block_number, service_class, priority, reserved
            ).encode()
        return SetResponseLastDatablock(
            iid, results[0], block_number, service_class, priority, reserved
        ).encode()

    def _action_refusal(self, invoke_byte: int, with_list: bool, codes: list[int]) -> bytes:
        """ACTION-Response ending a pblock transfer at its first block (one result per method)."""
        results = [ActionResult(c) for c in codes]
        if not with_list:
            return self._action_failure(invoke_byte, results[0])
        iid, service_class, priority, reserved = IIP_FIELDS[invoke_byte]
        return ActionResponseWithList(
            iid,
            [ActionResponseWithOptionalData(r) for r in results],
            service_class,
            priority,
            reserved,
        ).encode()

    def _log_limit(self, what: str, size: int) -> None:
        if self._log is not None:
            self._log(
                f"{what} refused: client {self.client_sap} server {self.server_sap}: {size} bytes, "
                f"more than the {self.max_block_transfer} allowed"
            )

    @staticmethod
    def _encode_action(response: ActionResponseNormal | ActionResponseWithList) -> bytes:
        try:
            return response.encode()
        except EncodeError:
            if isinstance(response, ActionResponseNormal):
                response.single_response = ActionResponseWithOptionalData(ActionResult.OTHER_REASON)
            else:
                response.list_of_responses = [
                    ActionResponseWithOptionalData(ActionResult.OTHER_REASON)
                    for _ in response.list_of_responses
                ]
            return response.encode()

    @staticmethod
    def _action_failure(invoke_byte: int, result: ActionResult) -> bytes:
        iid, service_class, priority, reserved = IIP_FIELDS[invoke_byte]
        return ActionResponseNormal(
            iid, ActionResponseWithOptionalData(result), service_class, priority, reserved
        ).encode()

    def _action_block_done(self, block: DataBlockSA, now: float) -> list[bytes]:
        long = self._long_request
        assert long is not None
        iid, service_class, priority, reserved = IIP_FIELDS[long.invoke_byte]
        if not block.last_block:
            return [
                ActionResponseNextPblock(iid, block.block_number, service_class, priority, reserved).encode()
            ]
        self._long_request = None
        try:
            values = _decode_values(bytes(long.data), long.with_list)
        except DecodeError:
            values = None
        if values is None or len(values) != len(long.targets):
            return [self._action_failure(long.invoke_byte, ActionResult.TYPE_UNMATCHED)]
        ctx = self._context(now)
        responses = [
            self._invoke(class_id, instance_id, method_id, value, ctx)
            for (class_id, instance_id, method_id, _), value in zip(long.targets, values, strict=True)
        ]
        self._after()
        if long.with_list:
            encoded = self._encode_action(
                ActionResponseWithList(iid, responses, service_class, priority, reserved)
            )
        else:
            encoded = self._encode_action(
                ActionResponseNormal(iid, responses[0], service_class, priority, reserved)
            )
        return self._maybe_blocks(0xC7, long.invoke_byte, encoded, 3)

    # ----------------------------------------------------------------------------------------------
    # SN services

    def _sn_target(self, short_name: int) -> tuple[InterfaceClass, str, int] | None:
        return self.device.find_by_short_name(short_name)

    def _sn_read_one(self, item: object, ctx: AccessContext) -> DataValue | DataAccessResult:
        if isinstance(item, VariableName):
            name, selector, parameter = item.variable_name, None, None
        elif isinstance(item, ParameterizedAccess):
            self._require(Conformance.PARAMETERIZED_ACCESS)
            name, selector, parameter = item.variable_name, item.selector, item.parameter
        else:
            return DataAccessResult.OTHER_REASON
        target = self._sn_target(name)
        if target is None:
            return DataAccessResult.OBJECT_UNDEFINED
        obj, kind, index = target
        try:
            if kind == "attribute":
                selection = None if selector is None else SelectiveAccessDescriptor(selector, parameter)
                return obj.get(index, ctx, selection)
            value = obj.action(index, parameter, ctx)
        except CosemAccessError as exc:
            return exc.data_access_result
        except CosemnetError:
            return DataAccessResult.OTHER_REASON
        return value

    def _read(self, plain: bytes, now: float) -> list[bytes]:
        self._require(Conformance.READ)
        request = self._decode(ReadRequest, plain)
        items = request.variable_access_specification
        if len(items) == 1 and isinstance(items[0], BlockNumberAccess):
            self._require(Conformance.BLOCK_TRANSFER_WITH_GET_OR_READ)
            return self._next_block(0x0C, items[0].block_number, 0xC0)
        self._long_response = None
        if len(items) > 1:
            self._require(Conformance.MULTIPLE_REFERENCES)
        if any(isinstance(i, BlockNumberAccess | ReadDataBlockAccess | WriteDataBlockAccess) for i in items):
            raise _not_allowed()
        ctx = self._context(now)
        results: list[DataAccessResult | DataBlockResult | BlockNumber | DataValue] = [
            self._sn_read_one(item, ctx) for item in items
        ]
        self._after()
        try:
            encoded = ReadResponse(results).encode()
        except EncodeError:
            encoded = ReadResponse([DataAccessResult.OTHER_REASON for _ in results]).encode()
        return self._maybe_blocks(0x0C, 0xC0, encoded, 1)

    def _write(self, plain: bytes, now: float) -> list[bytes]:
        unconfirmed = plain[0] == UnconfirmedWriteRequest.TAG
        self._require(Conformance.UNCONFIRMED_WRITE if unconfirmed else Conformance.WRITE)
        request: UnconfirmedWriteRequest | WriteRequest = (
            self._decode(UnconfirmedWriteRequest, plain) if unconfirmed else self._decode(WriteRequest, plain)
        )
        items = request.variable_access_specification
        values = request.list_of_data
        if len(items) != len(values):
            raise _malformed()
        if len(items) > 1:
            self._require(Conformance.MULTIPLE_REFERENCES)
        self._long_response = None
        ctx = self._context(now)
        results: list[DataAccessResult | BlockNumber | None] = []
        for item, value in zip(items, values, strict=True):
            if isinstance(item, ParameterizedAccess):
                self._require(Conformance.PARAMETERIZED_ACCESS)
            if not isinstance(item, VariableName | ParameterizedAccess):
                results.append(DataAccessResult.OTHER_REASON)
                continue
            target = self._sn_target(item.variable_name)
            if target is None:
                results.append(DataAccessResult.OBJECT_UNDEFINED)
                continue
            obj, kind, index = target
            try:
                if kind == "attribute":
                    obj.set(index, value, ctx)
                else:
                    obj.action(index, value, ctx)
            except CosemAccessError as exc:
                results.append(exc.data_access_result)
                continue
            except CosemnetError:
                results.append(DataAccessResult.OTHER_REASON)
                continue
            results.append(None)
        self._after()
        if unconfirmed:
            return []
        return [WriteResponse(results).encode()]

    # ----------------------------------------------------------------------------------------------
    # Sending: ciphering and general block transfer

    def _gbt_allowed(self) -> bool:
        return bool(self.conformance & Conformance.GENERAL_BLOCK_TRANSFER)

    def _protect(self, plain: bytes) -> bytes:
        protection = self._protection
        security = self.security
        if protection.kind is None or security is None:
            return plain
        sc = protection.security_control
        need_auth, need_enc = SecurityPolicy(int(security.policy)).requirements(False)
        sc |= (AUTHENTICATION_BIT if need_auth else 0) | (ENCRYPTION_BIT if need_enc else 0)
        default = security.outgoing_security_control()
        try:
            if sc == default:
                return protect_apdu(plain, security, protection.kind)
            return protect_apdu(plain, security, protection.kind, security_control=sc)
        except (SecurityError, EncodeError):
            raise _Exception(StateError.SERVICE_NOT_ALLOWED, ExceptionServiceError.OTHER_REASON) from None

    def _send(self, responses: list[bytes]) -> list[bytes]:
        out = []
        for plain in responses:
            if plain[0] == ExceptionResponse.TAG:
                out.append(plain)
                continue
            apdu = self._protect(plain)
            if self._gbt_allowed() and (self._via_gbt or len(apdu) > self.max_send_pdu_size):
                out.extend(self._gbt_start(apdu))
            else:
                out.append(apdu)
        return out

    def _gbt_start(self, apdu: bytes) -> list[bytes]:
        size = max(1, self.max_send_pdu_size - _GBT_HEADER)
        self._gbt_out = [apdu[i : i + size] for i in range(0, len(apdu), size)] or [b""]
        return self._gbt_window_from(1)

    def _gbt_window_from(self, first: int) -> list[bytes]:
        blocks = self._gbt_out
        total = len(blocks)
        window = max(1, self._gbt_window)
        if self.max_burst is not None:  # the last block of a shorter window asks for the ack (streaming 0)
            window = max(1, min(window, self.max_burst // max(1, len(blocks[0]))))
        last_in_window = min(total, first + window - 1)
        out = []
        for number in range(first, last_in_window + 1):
            last = number == total
            out.append(
                GeneralBlockTransfer(
                    last, number != last_in_window, 1, number, self._gbt_in_last, blocks[number - 1]
                ).encode()
            )
        if last_in_window == total:
            self._gbt_out = []
        return out

    def _gbt_receive(self, apdu: bytes) -> list[bytes] | bytes:
        """A received GBT: an acknowledgement (more of our blocks) or part of a request."""
        gbt = self._decode(GeneralBlockTransfer, apdu)
        if gbt.window:
            self._gbt_window = gbt.window
        if not gbt.block_data and (self._gbt_out or not gbt.last_block):
            if not self._gbt_out:
                raise _not_allowed()
            self._gbt_in_last = gbt.block_number
            first = gbt.block_number_ack + 1
            if not 1 <= first <= len(self._gbt_out):
                self._gbt_out = []
                raise _not_allowed()
            return self._gbt_window_from(first)
        self._gbt_out = []
        if gbt.block_number == 1:
            self._gbt_in = bytearray()
        elif gbt.block_number != self._gbt_in_last + 1:
            self._gbt_in = bytearray()
            raise _not_allowed()
        if len(self._gbt_in) + len(gbt.block_data) > self.max_block_transfer:
            self._log_limit("general-block-transfer", len(self._gbt_in) + len(gbt.block_data))
            self._gbt_in = bytearray()
            self._gbt_in_last = 0
            raise _Exception(StateError.SERVICE_NOT_ALLOWED, ExceptionServiceError.PDU_TOO_LONG)
        self._gbt_in_last = gbt.block_number
        self._gbt_in += gbt.block_data
        if not gbt.last_block:
            if gbt.streaming:
                return []
            return [GeneralBlockTransfer(False, False, 1, 0, gbt.block_number, b"").encode()]
        data = bytes(self._gbt_in)
        self._gbt_in = bytearray()
        return data

    # ----------------------------------------------------------------------------------------------
    # Association establishment

    def _aarq(self, data: bytes, now: float) -> bytes:
        self.release()
        profile = self.served.by_client_sap.get(self.client_sap)
        if self._limiter is not None:
            until = self._limiter.blocked_until((self.client_sap, self.peer), now)
            if until is not None:  # back-off: refused without looking at the AARQ's secret
                _logger.info(
                    "AARQ refused during authentication back-off: client SAP %d server SAP %d from %s "
                    "(%.1f s left)", self.client_sap, self.server_sap, self.peer, until - now,
                )  # fmt: skip
                return AARE(
                    application_context_name=(
                        profile.application_context_name if profile is not None else ApplicationContextName.LN
                    ),
                    result=AssociationResult.REJECTED_TRANSIENT,
                    result_source_diagnostic=_NO_REASON,
                ).encode()
        try:
            aarq = AARQ.decode(data)
        except DecodeError:
            context = profile.application_context_name if profile is not None else ApplicationContextName.LN
            return AARE(
                application_context_name=context,
                result=AssociationResult.REJECTED_PERMANENT,
                result_source_diagnostic=AssociateSourceDiagnostic.ACSE_SERVICE_PROVIDER_NO_REASON_GIVEN,
            ).encode()
        if profile is None:
            return self._reject(aarq.application_context_name, _NO_REASON)
        try:
            return self._accept(aarq, profile)
        except _Refusal as refusal:
            if refusal.failure is not None:
                self._authentication_failed(refusal.failure, now)
            user_information = None
            if refusal.error is not None:
                user_information = refusal.error.encode()
                if (
                    not refusal.cipher_error
                    and self._protection.kind is not None
                    and self.security is not None
                ):
                    try:
                        user_information = self._protect(user_information)
                    except _Exception:
                        user_information = refusal.error.encode()
            self.release()
            return self._reject(profile.application_context_name, refusal.diagnostic, user_information)

    def _reject(
        self,
        context: ApplicationContextName,
        diagnostic: AssociateSourceDiagnostic,
        user_information: bytes | None = None,
    ) -> bytes:
        if self._log is not None:
            self._log(
                f"association refused: client {self.client_sap} server {self.server_sap}: "
                f"{diagnostic.detail.name.lower()}"
            )
        return AARE(
            application_context_name=context,
            result=AssociationResult.REJECTED_PERMANENT,
            result_source_diagnostic=diagnostic,
            user_information=user_information,
        ).encode()

    def _accept(self, aarq: AARQ, profile: AssociationProfile) -> bytes:
        if aarq.application_context_name != profile.application_context_name:
            raise _Refusal(_CONTEXT_NOT_SUPPORTED)
        proposed = Mechanism(int(aarq.mechanism_name)) if aarq.mechanism_name is not None else Mechanism.NONE
        if proposed != profile.mechanism:
            raise _Refusal(_MECHANISM_REQUIRED if proposed is Mechanism.NONE else _MECHANISM_NOT_RECOGNISED)
        setup = profile.security_setup
        client_title = aarq.calling_ap_title
        if profile.ciphered:
            if client_title is None or len(client_title) != 8:
                raise _Refusal(_CALLING_AP_TITLE)
            if setup is None:
                raise _Refusal(_NO_REASON)
        if client_title is None and setup is not None and len(setup.client_system_title) == 8:
            client_title = setup.client_system_title
        if client_title is not None and len(client_title) != 8:
            client_title = None
        # authentication, pass 1
        value = aarq.calling_authentication_value
        hls: HlsServer | None = None
        association = profile.association
        if proposed is Mechanism.LLS:
            if not isinstance(value, bytes) or not association.check_lls_secret(value):
                raise _Refusal(_AUTHENTICATION_FAILURE, failure="LLS password")
        elif proposed in _HLS:
            if not isinstance(value, bytes):
                raise _Refusal(_AUTHENTICATION_FAILURE, failure="HLS pass 1")
            hls = self._hls_server(profile, client_title)
            try:
                hls.receive_calling_authentication(value, client_title)
            except SecurityError:
                raise _Refusal(_AUTHENTICATION_FAILURE, failure="HLS pass 1") from None
        elif proposed is not Mechanism.NONE:
            raise _Refusal(_MECHANISM_NOT_RECOGNISED)
        # xDLMS initiate
        if aarq.user_information is None:
            raise _Refusal(_NO_REASON)
        security: SecurityContext | None = None
        initiate_kind: ProtectionKind | None = None
        try:
            decoded = aarq.decode_user_information()
        except DecodeError:
            raise _Refusal(_NO_REASON, initiate_error(Initiate.OTHER), cipher_error=True) from None
        if profile.ciphered:
            if not isinstance(decoded, bytes):
                raise _Refusal(_NO_REASON, _context_unsupported(), cipher_error=True)
            assert setup is not None and client_title is not None
            security = self._security_context(setup, client_title)
            self.security = security
            self.profile = profile
            try:
                plain, envelope, header = unprotect_apdu(decoded, security)
                if envelope is None or header is None:
                    raise _Refusal(_NO_REASON, _context_unsupported(), cipher_error=True)
                initiate = InitiateRequest.decode(plain)
            except (SecurityError, DecodeError):
                raise _Refusal(
                    _NO_REASON, _deciphering_error(), cipher_error=True, failure="InitiateRequest deciphering"
                ) from None
            initiate_kind = _kind_of(envelope)
            self._protection = _Protection(initiate_kind, header.security_control)
        else:
            if not isinstance(decoded, InitiateRequest):
                raise _Refusal(_NO_REASON, _context_unsupported(), cipher_error=True)
            initiate = decoded
            self._protection = _PLAIN
        if initiate.proposed_dlms_version_number < 6:
            raise self._initiate_refusal(initiate_error(Initiate.DLMS_VERSION_TOO_LOW))
        if initiate.client_max_receive_pdu_size < 12:
            raise self._initiate_refusal(initiate_error(Initiate.PDU_SIZE_TOO_SHORT))
        conformance = Conformance(int(initiate.proposed_conformance) & int(profile.conformance))
        if not conformance:
            raise self._initiate_refusal(initiate_error(Initiate.INCOMPATIBLE_CONFORMANCE))
        if security is not None and initiate.dedicated_key is not None:
            try:
                security.set_dedicated_key(initiate.dedicated_key)
            except SecurityError:
                raise self._initiate_refusal(initiate_error(Initiate.OTHER)) from None
        # accepted
        self.profile = profile
        self.conformance = conformance
        self._get_negotiated = bool(conformance & Conformance.GET)
        self._objects = {}
        self.max_send_pdu_size = min(initiate.client_max_receive_pdu_size, self.pdu_size_limit)
        self._hls = hls
        self.state = AssociationState.PENDING if hls is not None else AssociationState.ASSOCIATED
        self._status = (
            AssociationStatus.ASSOCIATION_PENDING if hls is not None else AssociationStatus.ASSOCIATED
        )
        if setup is not None and client_title is not None and (profile.ciphered or hls is not None):
            setup.client_system_title = client_title
        self._ctx = AccessContext(
            now=_dt.datetime(1970, 1, 1, tzinfo=_UTC),
            effects=_AssociationEffects(self._base_effects, self),
            client_sap=self.client_sap,
            server_sap=self.server_sap,
            mechanism=int(proposed),
            association=association,
        )
        vaa_name = VAA_NAME_LN
        if profile.short_names:
            vaa_name = association.base_name if association.base_name is not None else 0xFA00
        response = InitiateResponse(
            negotiated_conformance=conformance,
            server_max_receive_pdu_size=min(profile.max_receive_pdu_size, self.pdu_size_limit),
            vaa_name=vaa_name,
        ).encode()
        if initiate_kind is not None:
            response = self._protect(response)
        responding_title = None
        if setup is not None and (profile.ciphered or aarq.calling_ap_title is not None):
            responding_title = setup.server_system_title
        if hls is None and proposed is not Mechanism.NONE and self._limiter is not None:
            self._limiter.success((self.client_sap, self.peer))
        if self._log is not None:
            self._log(
                f"association accepted: client {self.client_sap} server {self.server_sap} "
                f"context {profile.application_context_name.name} mechanism {proposed.name}"
                + (" (HLS pending)" if hls is not None else "")
            )
        return AARE(
            application_context_name=profile.application_context_name,
            result=AssociationResult.ACCEPTED,
            result_source_diagnostic=_AUTHENTICATION_REQUIRED if hls is not None else _NULL,
            responding_ap_title=responding_title,
            responder_acse_requirements=ACSE_REQUIREMENTS_AUTHENTICATION if hls is not None else None,
            mechanism_name=MechanismName(int(proposed)) if hls is not None else None,
            responding_authentication_value=hls.challenge() if hls is not None else None,
            user_information=response,
        ).encode()

    def _initiate_refusal(self, error: ConfirmedServiceError) -> _Refusal:
        """An initiate error, ciphered like the InitiateRequest when that one was ciphered."""
        return _Refusal(_NO_REASON, error)

    def _security_context(self, setup: SecuritySetup, client_title: bytes) -> SecurityContext:
        source = setup.keys
        try:
            return SecurityContext(
                suite=setup.security_suite,
                policy=SecurityPolicy(int(setup.security_policy)),
                system_title=setup.server_system_title,
                peer_system_title=client_title,
                keys=KeySet(source.ek, source.ak, source.broadcast_key, None, source.kek),
                invocation_counters={KeyRole.GLOBAL_UNICAST: self._counters(setup)},
                replay_guard=self._floors.guard(source.ek) if self._floors is not None else ReplayGuard(),
                role=Role.SERVER,
            )
        except (SecurityError, EncodeError):
            raise _Refusal(_NO_REASON) from None

    def _hls_server(self, profile: AssociationProfile, client_title: bytes | None) -> HlsServer:
        setup = profile.security_setup
        mechanism = profile.mechanism
        kwargs: dict[str, object] = {}
        if mechanism in (Mechanism.HLS_MD5, Mechanism.HLS_SHA1, Mechanism.HLS_SHA256):
            kwargs["secret"] = profile.association.secret
        system_title = setup.server_system_title if setup is not None else bytes(8)
        if mechanism is Mechanism.HLS_GMAC:
            if setup is None:
                raise _Refusal(_NO_REASON)
            kwargs.update(ek=setup.keys.ek, ak=setup.keys.ak, invocation_counter=self._counters(setup))
        if mechanism is Mechanism.HLS_ECDSA:
            if setup is None or client_title is None:
                raise _Refusal(_AUTHENTICATION_FAILURE)
            from cosemnet.security.certificates import CertificateType, certificate_public_key

            stored = setup.certificates.find_by_system_title(client_title, CertificateType.DIGITAL_SIGNATURE)
            signing_key = setup.private_key(KeyPairType.DIGITAL_SIGNATURE)
            if stored is None or signing_key is None:
                raise _Refusal(_AUTHENTICATION_FAILURE)
            kwargs.update(signing_key=signing_key, peer_public_key=certificate_public_key(stored.certificate))
        if (
            mechanism in (Mechanism.HLS_GMAC, Mechanism.HLS_SHA256, Mechanism.HLS_ECDSA)
            and client_title is None
        ):
            raise _Refusal(_CALLING_AP_TITLE)
        own_challenge = self._challenge_factory() if self._challenge_factory is not None else None
        try:
            return HlsServer(
                mechanism,
                system_title,
                peer_system_title=client_title,
                suite=setup.security_suite if setup is not None else SecuritySuite.SUITE_0,
                own_challenge=own_challenge,
                replay_guard=None,
                **kwargs,  # type: ignore[arg-type]
            )
        except KeyMissingError:
            raise _Refusal(_NO_REASON) from None
        except SecurityError:
            raise _Refusal(_AUTHENTICATION_FAILURE) from None

    def _reply_to_hls(self, client_response: bytes) -> bytes:
        """HLS passes 3 and 4 (called through the association object's reply_to_HLS_authentication)."""
        hls = self._hls
        if hls is None or self.state is not AssociationState.PENDING:
            raise CosemAccessError(ActionResult.READ_WRITE_DENIED, "no HLS authentication pending")
        try:
            hls.verify_response(client_response)
            answer = hls.response()
        except SecurityError:
            self._release_after = True
            self._authentication_failed("HLS pass 3", self._now_cache[0])
            raise CosemAccessError(ActionResult.READ_WRITE_DENIED, "HLS response does not verify") from None
        if self._limiter is not None:
            self._limiter.success((self.client_sap, self.peer))
        self.state = AssociationState.ASSOCIATED
        if self._log is not None:
            self._log(f"HLS authentication completed: client {self.client_sap} server {self.server_sap}")
        return answer

    def _authentication_failed(self, what: str, now: float) -> None:
        """Count a failed authentication of (client SAP, peer), log it and report it to the device."""
        if now != now:  # no time seen yet on this association (NaN)
            now = 0.0
        backoff = None
        if self._limiter is not None:
            backoff = self._limiter.failure((self.client_sap, self.peer), now)
        text = f"authentication failure ({what}): client {self.client_sap} server {self.server_sap}"
        if self.peer is not None:
            text += f" from {self.peer}"
        if backoff is not None:
            text += f", back-off {backoff - now:.1f} s"
        _logger.warning("%s", text)
        if self._log is not None:
            self._log(text)
        report = self.served.on_security_event
        if report is not None:
            try:
                report(AUTHENTICATION_FAILURE_EVENT, now)
            except Exception as exc:  # the event log must not break the server
                _logger.error("recording %s failed: %s", AUTHENTICATION_FAILURE_EVENT, type(exc).__name__)

    def _rlrq(self, data: bytes) -> bytes:
        try:
            rlrq = RLRQ.decode(data)
        except DecodeError:
            raise _malformed() from None
        user_information = None
        security = self.security
        if security is not None and self.profile is not None:
            # a ciphered association is released only by a protected RLRQ (docs/decisions/0035)
            try:
                if rlrq.user_information is None:
                    raise SecurityError("plain RLRQ in a ciphered association")
                self._refresh_security(security)
                plain, envelope, header = unprotect_apdu(rlrq.user_information, security)
                if envelope is None or header is None:
                    raise SecurityError("plain InitiateRequest in the RLRQ of a ciphered association")
                InitiateRequest.decode(plain)
            except (SecurityError, DecodeError) as exc:
                _logger.warning(
                    "release refused: client %d server %d from %s: %s",
                    self.client_sap, self.server_sap, self.peer, exc.__class__.__name__,
                )  # fmt: skip
                if self._log is not None:
                    self._log(
                        f"release refused (RLRQ not protected): client {self.client_sap} "
                        f"server {self.server_sap}"
                    )
                return RLRE(reason=ReleaseResponseReason.NOT_FINISHED).encode()
            if envelope is not None and header is not None:
                self._protection = _Protection(_kind_of(envelope), header.security_control)
                response = InitiateResponse(
                    negotiated_conformance=self.conformance,
                    server_max_receive_pdu_size=self.profile.max_receive_pdu_size,
                    vaa_name=VAA_NAME_LN,
                ).encode()
                user_information = self._protect(response)
        self.release()
        return RLRE(reason=ReleaseResponseReason.NORMAL, user_information=user_information).encode()


# --------------------------------------------------------------------------------------------------
# Helpers


def _kind_of(envelope: object) -> ProtectionKind:
    if isinstance(envelope, ServiceSpecificCiphered):
        return "service-specific-ded" if envelope.dedicated else "service-specific-glo"
    if isinstance(envelope, GeneralGloCiphering):
        return "general-glo"
    if isinstance(envelope, GeneralDedCiphering):
        return "general-ded"
    if isinstance(envelope, GeneralCiphering):
        return "general-ciphering"
    return "general-glo"


def _context_unsupported() -> ConfirmedServiceError:
    return ConfirmedServiceError(
        ConfirmedService.INITIATE_ERROR, ServiceError.APPLICATION_REFERENCE_APPLICATION_CONTEXT_UNSUPPORTED
    )


def _deciphering_error() -> ConfirmedServiceError:
    return ConfirmedServiceError(
        ConfirmedService.INITIATE_ERROR, ServiceError.APPLICATION_REFERENCE_DECIPHERING_ERROR
    )


def _decode_values(raw: bytes, with_list: bool) -> list[DataValue]:
    """The Data value (or SEQUENCE OF Data) a SET/ACTION block transfer carried."""
    if not with_list:
        return [decode_data_exact(raw)]
    count, pos = decode_length(raw, 0)
    values: list[DataValue] = []
    for _ in range(count):
        value, pos = decode_data(raw, pos)
        values.append(value)
    if pos != len(raw):
        raise DecodeError("trailing bytes after the values", pos, "end of input")
    return values


def encode_values(values: list[DataValue]) -> bytes:
    """SEQUENCE OF Data (what with-list SET/ACTION block transfers carry)."""
    out = bytearray()
    encode_length(len(values), out)
    for value in values:
        out += encode_data(value)
    return bytes(out)
