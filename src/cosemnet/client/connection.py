"""Sans-IO client side of one DLMS/COSEM association (IEC 62056-5-3), h11 style.

The connection never touches a socket, a clock or a thread. It follows the contract of
docs/sans-io.md (:class:`cosemnet.sansio.SansIOCore`)::

    conn = ClientConnection(ClientConfig(client_sap=16), response_timeout=5.0)
    conn.send_request(Associate(), now)          # request objects: cosemnet.client.requests
    conn.pop_outgoing()                           # -> [AARQ bytes]: send each in one frame
    conn.receive_apdu(answer, now)                # every received APDU, with the time
    conn.pop_events()                             # -> [AssociationEstablished(info, ...)]
    conn.get_timer(), conn.handle_timer(now)      # response timeout, retries, inactivity

Each request ends with one typed event (:mod:`cosemnet.client.events`): its completion or
:class:`~cosemnet.client.events.ServiceFailed` with the cause as enums; :meth:`ClientConnection.cancel`
and :meth:`ClientConnection.resume` end a request locally and adopt an existing association
(docs/decisions/0085, 0086).

The untimed interface below stays for older callers (the head-end, the LON concentrator): every
request method returns the APDU bytes to send (already ciphered when the configuration asks for it);
every received APDU goes to :meth:`ClientConnection.receive`, which returns one event:

* :class:`SendApdu` -- the exchange goes on: send these bytes, then feed the next answer
  (GetRequestNext of a block transfer, the next SET/ACTION pblock, a general-block-transfer
  acknowledgement, HLS pass 3 after the AARE);
* :class:`AwaitApdu` -- nothing to send, the exchange goes on: feed the next APDU (streamed
  general-block-transfer blocks);
* :class:`Done` -- the exchange is over; ``result`` holds what the request method documents.

Errors are raised from :meth:`receive` as the :mod:`cosemnet.client.errors` family; after an
:class:`~cosemnet.client.errors.AccessError` or a service error the association stays usable. The
untimed interface arms no timer and queues nothing.

This module is above the ~800-line guideline for cores (issue 16 item 6): the ACSE side (AARQ, AARE,
HLS passes, release) and the xDLMS services (requests, block transfer, answers) are to become two
collaborators of one connection object; the split waits for the conformance-preset registry (issue 16
item 5) that edits this module, to avoid moving code under another change.

One request is in flight at a time (DLMS clients are sequential on an association; the invoke-id is
still checked on every answer). Example, with ``transport`` any byte pipe::

    conn = ClientConnection(ClientConfig(client_sap=16))
    event = SendApdu(conn.associate())
    while isinstance(event, SendApdu | AwaitApdu):
        if isinstance(event, SendApdu):
            transport.send(event.apdu)
        event = conn.receive(transport.receive())

Design choices (the standard is silent or leaves them open):

* The AARQ of a ciphered association carries the InitiateRequest in a glo-initiate-request
  (service-specific glo ciphering), whatever kind the later requests use.
* ``security_policy`` None means: with ciphering, authenticated and encrypted requests and responses;
  without ciphering, nothing.
* A SET or ACTION whose plain APDU (plus ciphering overhead: 30 bytes general, 21 service-specific)
  exceeds the server's max receive PDU size is sent in data blocks when the negotiated conformance
  allows it; blocks fill the server's PDU size. Otherwise, when general-block-transfer was negotiated,
  a (protected) request larger than the server's PDU size goes in GBT blocks, one block per
  acknowledgement (window 1 on our side); the server's answer to the last block is the response.
* General-block-transfer answers are acknowledged block by block (or at the end of each streamed
  window) with an empty GBT whose ``block_number`` counts our own GBT APDUs from 1, whose
  ``block_number_ack`` is the last block received and whose ``window`` is ``gbt_window``. A missing
  block is a :class:`ProtocolError` (no recovery).
* An RLRE ends the association even when its body does not decode (gurux-dlms 1.0.203 sends one
  with inconsistent lengths); :attr:`ClientConnection.release_response` is then None.
* With ciphering, an exception-response or confirmed-service-error may arrive unprotected (a server
  that could not decipher the request cannot protect its answer either); it is reported as a
  :class:`~cosemnet.client.errors.ServiceErrorResponse`. Any other plain answer is refused when the
  security policy wants protected responses.
* The raw data of an ACTION response sent with pblocks is the encoded return-parameters Data value
  (as for GET data blocks).
* Without a configured counter, HLS-GMAC and ciphering use an in-memory invocation counter starting at
  1: real meters refuse counters that do not grow across associations, so pass a persistent one.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum, IntEnum
from typing import Final, Literal, cast

from cosemnet.client.errors import (
    AccessError,
    AssociationRejected,
    ClientError,
    ClientSecurityError,
    ClientTimeout,
    ProtocolError,
    ServiceErrorResponse,
)
from cosemnet.client.events import (
    ActionCompleted,
    ActionWithListCompleted,
    AssociationEstablished,
    AssociationExpired,
    AssociationInfo,
    ClientEvent,
    GetCompleted,
    GetWithListCompleted,
    ReadCompleted,
    ReleaseCompleted,
    SetCompleted,
    SetWithListCompleted,
    WriteCompleted,
    failure_of,
)
from cosemnet.client.requests import (
    Action,
    ActionWithList,
    Associate,
    Get,
    GetWithList,
    Read,
    Release,
    Request,
    RequestKind,
    Set,
    SetWithList,
    Write,
)
from cosemnet.codec.acse import (
    AARE,
    AARQ,
    ACSE_REQUIREMENTS_AUTHENTICATION,
    RLRE,
    RLRQ,
    ApplicationContextName,
    AssociationResult,
    MechanismName,
    ReleaseRequestReason,
)
from cosemnet.codec.apdu import decode_apdu
from cosemnet.codec.axdr import decode_data_exact, encode_data
from cosemnet.codec.ciphered import GeneralGloCiphering, ServiceSpecificCiphered, is_protected_tag
from cosemnet.codec.conformance import LN_CLIENT_CONFORMANCE, SN_CONFORMANCE
from cosemnet.codec.initiate import Conformance, InitiateRequest, InitiateResponse
from cosemnet.codec.obis import Obis
from cosemnet.codec.service_error import ConfirmedServiceError
from cosemnet.codec.types import DataValue
from cosemnet.codec.xdlms import (
    ActionRequestNextPblock,
    ActionRequestNormal,
    ActionRequestWithFirstPblock,
    ActionRequestWithList,
    ActionRequestWithPblock,
    ActionResponseNextPblock,
    ActionResponseNormal,
    ActionResponseWithList,
    ActionResponseWithOptionalData,
    ActionResponseWithPblock,
    ActionResult,
    BlockNumber,
    BlockNumberAccess,
    CosemAttributeDescriptor,
    CosemAttributeDescriptorWithSelection,
    CosemMethodDescriptor,
    DataAccessResult,
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
    Priority,
    ReadRequest,
    ReadResponse,
    SelectiveAccessDescriptor,
    SetRequestNormal,
    SetRequestWithDatablock,
    SetRequestWithFirstDatablock,
    SetRequestWithList,
    SetResponseDatablock,
    SetResponseLastDatablock,
    SetResponseNormal,
    SetResponseWithList,
    VariableAccessSpecification,
    VariableName,
    WriteRequest,
    WriteResponse,
)
from cosemnet.errors import DecodeError, EncodeError
from cosemnet.security.ciphering import ProtectionKind, Role, SecurityContext, decipher_apdu, protect_apdu
from cosemnet.security.control import SecurityPolicy
from cosemnet.security.counters import CounterSource, MemoryInvocationCounter
from cosemnet.security.errors import SecurityError
from cosemnet.security.hls import HlsClient, Mechanism
from cosemnet.security.keys import KeyRole, KeySet
from cosemnet.security.suite import SecuritySuite

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_CLIENT_SYSTEM_TITLE",
    "DEFAULT_LN_CONFORMANCE",
    "DEFAULT_SN_CONFORMANCE",
    "AssociationInfo",
    "AwaitApdu",
    "Ciphering",
    "ClientConfig",
    "ClientConnection",
    "ConnectionState",
    "Done",
    "Event",
    "Referencing",
    "SendApdu",
    "short_name",
]

DEFAULT_CLIENT_SYSTEM_TITLE: Final = b"CNT\x00\x00\x00\x00\x01"
"""Client system title used when none is configured (manufacturer id "CNT", serial 1)."""

DEFAULT_LN_CONFORMANCE: Final = LN_CLIENT_CONFORMANCE
"""Proposed by LN clients unless configured otherwise."""

DEFAULT_SN_CONFORMANCE: Final = SN_CONFORMANCE
"""Proposed by SN clients unless configured otherwise."""

LN_CURRENT_ASSOCIATION: Final = Obis(b"\x00\x00\x28\x00\x00\xff")
"""0-0:40.0.0*255, the current Association LN."""

ASSOCIATION_LN_CLASS_ID: Final = 15
REPLY_TO_HLS_AUTHENTICATION_LN: Final = 1
REPLY_TO_HLS_AUTHENTICATION_SN_OFFSET: Final = 0x58
"""Association SN method 8 reply_to_HLS_authentication sits at base_name + 0x58."""

_OVERHEAD_GENERAL: Final = GeneralGloCiphering.MAX_OVERHEAD  # 30
_OVERHEAD_SERVICE_SPECIFIC: Final = ServiceSpecificCiphered.MAX_OVERHEAD  # 21
_GBT_HEADER: Final = GeneralBlockTransfer.MAX_HEADER  # 9

Ciphering = Literal["none", "general-glo", "general-ded", "service-specific-glo", "service-specific-ded"]
"""How requests after the AARQ are protected."""


class Referencing(Enum):
    """Logical-name or short-name referencing."""

    LN = "ln"
    SN = "sn"


class ConnectionState(IntEnum):
    """Where the association is: idle, associating (AARQ sent), authenticating (HLS passes 3 and 4),
    associated, releasing, released."""

    IDLE = 0
    ASSOCIATING = 1
    AUTHENTICATING = 2
    ASSOCIATED = 3
    RELEASING = 4
    RELEASED = 5


def short_name(base_name: int, attribute_id: int) -> int:
    """Short name of attribute ``attribute_id`` of the object at ``base_name``: ``base + 8(n - 1)``."""
    return (base_name + 8 * (attribute_id - 1)) & 0xFFFF


@dataclass(slots=True)
class ClientConfig:
    """Everything one association needs. Secrets never show in ``repr``.

    ``password`` is the LLS password (mechanism 1); ``hls_secret`` the secret of mechanisms 3, 4 and 6;
    mechanism 5 uses ``keys.ek``/``keys.ak`` and ``invocation_counter``; mechanism 7 ``signing_key``
    (our private key) and ``server_public_key``. ``ciphering`` other than ``"none"`` needs
    ``keys.ek`` (and ``keys.ak`` for authenticated modes).
    """

    client_sap: int = 16
    server_sap: int = 1
    referencing: Referencing = Referencing.LN
    mechanism: Mechanism = Mechanism.NONE
    password: bytes | None = field(default=None, repr=False)
    hls_secret: bytes | None = field(default=None, repr=False)
    keys: KeySet = field(default_factory=KeySet)
    system_title: bytes = DEFAULT_CLIENT_SYSTEM_TITLE
    server_system_title: bytes | None = None
    security_suite: SecuritySuite = SecuritySuite.SUITE_0
    security_policy: SecurityPolicy | None = None
    ciphering: Ciphering = "none"
    invocation_counter: CounterSource | None = None
    signing_key: object | None = field(default=None, repr=False)
    server_public_key: object | None = field(default=None, repr=False)
    proposed_conformance: Conformance | None = None
    use_general_block_transfer: bool = False
    gbt_window: int = 1
    max_receive_pdu_size: int = 0xFFFF
    first_invoke_id: int = 0
    high_priority: bool = True
    challenge_length: int = 16
    challenge: bytes | None = field(default=None, repr=False)
    """A fixed CtoS challenge (tests, reproducible captures); None draws a fresh random one."""

    @property
    def conformance(self) -> Conformance:
        """The conformance block proposed in the AARQ."""
        if self.proposed_conformance is not None:
            value = self.proposed_conformance
        elif self.referencing is Referencing.SN:
            value = DEFAULT_SN_CONFORMANCE
        else:
            value = DEFAULT_LN_CONFORMANCE
        if self.use_general_block_transfer:
            value |= Conformance.GENERAL_BLOCK_TRANSFER
        return value


@dataclass(slots=True, frozen=True)
class SendApdu:
    """Send ``apdu``, then feed the answer to :meth:`ClientConnection.receive`."""

    apdu: bytes


@dataclass(slots=True, frozen=True)
class AwaitApdu:
    """Nothing to send; feed the next APDU that arrives."""


@dataclass(slots=True, frozen=True)
class Done:
    """The exchange is complete."""

    result: object = None


Event = SendApdu | AwaitApdu | Done
"""What the untimed :meth:`ClientConnection.receive` returns (the compatibility interface)."""

_IGNORED: Final = AwaitApdu()
"""Returned by :meth:`ClientConnection.receive` for a late answer to a cancelled request."""

_ASSOCIATION_KINDS: Final = (RequestKind.ASSOCIATE, RequestKind.HLS, RequestKind.RELEASE)


class _StaleAnswer(Exception):
    """An answer carrying the invoke-id of a cancelled request."""


def _completion(request: Request, result: object, release_response: RLRE | None) -> ClientEvent:
    """The typed completion event of ``request`` from the untimed interface's ``Done.result``."""
    if isinstance(request, Associate):
        assert isinstance(result, AssociationInfo)
        return AssociationEstablished(result, request)
    if isinstance(request, Release):
        return ReleaseCompleted(release_response, request)
    if isinstance(request, Get):
        return GetCompleted(cast(DataValue, result), request)
    if isinstance(request, GetWithList):
        return GetWithListCompleted(cast("list[DataValue | AccessError]", result), request)
    if isinstance(request, Set):
        return SetCompleted(request)
    if isinstance(request, SetWithList):
        return SetWithListCompleted(cast("list[DataAccessResult]", result), request)
    if isinstance(request, Action):
        return ActionCompleted(cast(DataValue, result), request)
    if isinstance(request, ActionWithList):
        return ActionWithListCompleted(cast("list[DataValue | AccessError]", result), request)
    if isinstance(request, Read):
        return ReadCompleted(cast("list[DataValue | AccessError]", result), request)
    return WriteCompleted(cast("list[AccessError | None]", result), request)


@dataclass(slots=True)
class _Pending:
    kind: RequestKind
    request: Request
    invoke_id: int = 0
    target: str = ""
    blocks: list[bytes] = field(default_factory=list)
    block_number: int = 0
    chunks: Sequence[bytes] = ()
    count: int = 0
    member: tuple[int, Obis, int] | None = None
    """A GET's attribute, spelt into ``target`` only when an error needs it (:meth:`where`)."""

    def where(self) -> str:
        """What the request addressed, for error messages (``3/1-0:1.8.0*255/2``)."""
        if not self.target and self.member is not None:
            self.target = _target(*self.member)
        return self.target


def _target(class_id: int, obis: Obis, member: int, kind: str = "") -> str:
    return f"{class_id}/{obis}/{kind}{member}"


class ClientConnection:
    """One association seen from the client. See the module docstring.

    ``response_timeout`` (seconds, None: wait forever) bounds the wait for each answer of the
    timed interface; ``retries`` is how often the last APDU is queued again when it expires (for
    datagram transports); ``inactivity_timeout`` (None: never) ends an association that stayed idle
    that long (docs/decisions/0085).
    """

    def __init__(
        self,
        config: ClientConfig | None = None,
        *,
        response_timeout: float | None = None,
        retries: int = 0,
        inactivity_timeout: float | None = None,
    ) -> None:
        self.config = config if config is not None else ClientConfig()
        self.state = ConnectionState.IDLE
        """The association's state. Read it; change it only through the methods (:meth:`resume`,
        :meth:`cancel`, :meth:`abort`): direct writes are kept working for older callers."""
        self.info: AssociationInfo | None = None
        """What the server agreed to (None before an association); set through :meth:`resume`."""
        if retries < 0:
            raise ClientError(f"retries must be >= 0, got {retries}")
        self.response_timeout = response_timeout
        self.retries = retries
        self.inactivity_timeout = inactivity_timeout
        self.unexpected_apdus = 0
        """APDUs dropped by :meth:`receive_apdu`: nothing in progress, or a late answer to a request
        ended by :meth:`cancel`."""
        self._outgoing: list[bytes] = []
        self._events: list[ClientEvent] = []
        self._response_deadline: float | None = None
        self._retries_left = 0
        self._last_sent: bytes | None = None
        self._last_activity: float | None = None
        self._cancelled_invoke_id: int | None = None
        self._deciphered = False
        """Set while :meth:`receive_deciphered` runs: the answer is already plaintext."""
        self._pending: _Pending | None = None
        self._invoke_id = self.config.first_invoke_id & 0x0F
        self._gbt_blocks: list[bytes] = []
        self._gbt_expected = 1
        self._gbt_own = 1
        self._gbt_out: list[bytes] = []
        self._hls: HlsClient | None = None
        self.release_response: RLRE | None = None
        """The decoded RLRE of the last release (None if it did not decode)."""
        self.security: SecurityContext | None = None
        cfg = self.config
        if not 1 <= cfg.gbt_window <= 63:
            raise ClientError(f"gbt_window must be 1..63, got {cfg.gbt_window}")
        if not 0 <= cfg.max_receive_pdu_size <= 0xFFFF:
            raise ClientError(f"max_receive_pdu_size must be 0..65535, got {cfg.max_receive_pdu_size}")
        if cfg.ciphering not in (
            "none",
            "general-glo",
            "general-ded",
            "service-specific-glo",
            "service-specific-ded",
        ):
            raise ClientError(f"unknown ciphering {cfg.ciphering!r}")
        if cfg.ciphering != "none" or cfg.mechanism is Mechanism.HLS_GMAC:
            policy = cfg.security_policy
            if policy is None:
                policy = (
                    SecurityPolicy.NOTHING
                    if cfg.ciphering == "none"
                    else SecurityPolicy.AUTHENTICATED_REQUEST
                    | SecurityPolicy.ENCRYPTED_REQUEST
                    | SecurityPolicy.AUTHENTICATED_RESPONSE
                    | SecurityPolicy.ENCRYPTED_RESPONSE
                )
            try:
                self.security = SecurityContext(
                    suite=cfg.security_suite,
                    policy=policy,
                    system_title=cfg.system_title,
                    peer_system_title=cfg.server_system_title,
                    keys=cfg.keys,
                    invocation_counters={
                        KeyRole.GLOBAL_UNICAST: cfg.invocation_counter or MemoryInvocationCounter()
                    },
                    role=Role.CLIENT,
                )
            except (SecurityError, EncodeError) as exc:
                raise ClientError(f"bad security configuration: {exc}") from None

    # -- properties ------------------------------------------------------------------------------

    @property
    def is_associated(self) -> bool:
        """True while the association is established (requests can be sent)."""
        return self.state is ConnectionState.ASSOCIATED

    @property
    def busy(self) -> bool:
        """True while an exchange waits for its answer."""
        return self._pending is not None

    @property
    def server_max_receive_pdu_size(self) -> int:
        """The largest APDU the server accepts (its InitiateResponse; 0xFFFF when it set no limit)."""
        if self.info is None or self.info.server_max_receive_pdu_size == 0:
            return 0xFFFF
        return self.info.server_max_receive_pdu_size

    @property
    def negotiated_conformance(self) -> Conformance:
        """The conformance block the server agreed to (empty before the association)."""
        return self.info.negotiated_conformance if self.info is not None else Conformance(0)

    @property
    def request_kind(self) -> RequestKind | None:
        """The exchange in progress (None when idle)."""
        return self._pending.kind if self._pending is not None else None

    @property
    def request(self) -> Request | None:
        """The request in progress (None when idle)."""
        return self._pending.request if self._pending is not None else None

    # -- the sans-IO contract (docs/sans-io.md) --------------------------------------------------

    def send_request(self, request: Request, now: float) -> None:
        """Start ``request``: its first APDU goes to :meth:`pop_outgoing`, the response timer starts;
        the outcome is one event of :meth:`pop_events`. ClientError: not possible now (not
        associated, a request in progress, a bad argument); nothing is queued then."""
        self._queue(self._build(request), now)

    def receive_apdu(
        self, data: bytes | bytearray | memoryview, now: float, *, deciphered: bool = False
    ) -> None:
        """Feed one received APDU (the payload of one wrapper frame). Never raises for what the peer
        sent: a bad answer ends the request with :class:`ServiceFailed`; an APDU with nothing in
        progress is dropped and counted in :attr:`unexpected_apdus`. ``deciphered``: ``data`` is an
        answer the caller already verified and deciphered with :attr:`security` (as for
        :meth:`receive_deciphered`)."""
        pending = self._pending
        if pending is None:
            self.unexpected_apdus += 1
            logger.debug("dropped an APDU with no request in progress")
            return
        self._last_activity = now
        try:
            event = self.receive_deciphered(bytes(data)) if deciphered else self.receive(data)
        except ClientError as exc:
            if self._pending is not None:  # the request ended here, whatever the core left behind
                if self._pending.kind in _ASSOCIATION_KINDS:
                    self.abort()
                else:
                    self._end_exchange()
            self._end_timer()
            self._events.append(failure_of(pending.request, exc))
            return
        if event is _IGNORED:
            self.unexpected_apdus += 1
            logger.debug("dropped a late answer to a cancelled request")
        elif isinstance(event, SendApdu):
            self._queue(event.apdu, now)
        elif isinstance(event, AwaitApdu):
            self._last_sent = None  # streamed blocks: nothing to send again
            self._arm(now)
        else:
            assert isinstance(event, Done)
            self._end_timer()
            self._events.append(_completion(pending.request, event.result, self.release_response))

    def pop_outgoing(self) -> list[bytes]:
        """The APDUs to send, oldest first (wrap each in one transport frame)."""
        out, self._outgoing = self._outgoing, []
        return out

    def pop_events(self) -> list[ClientEvent]:
        """The typed events since the last call, oldest first."""
        events, self._events = self._events, []
        return events

    def get_timer(self) -> float | None:
        """The response deadline while a request is in progress; otherwise the end of the inactivity
        period of an established association; None when neither applies."""
        if self._pending is not None:
            return self._response_deadline
        idle_since = self._last_activity
        if self.inactivity_timeout is None or idle_since is None:
            return None
        if self.state is ConnectionState.ASSOCIATED:
            return idle_since + self.inactivity_timeout
        return None

    def handle_timer(self, now: float) -> None:
        """Response timeout: queue the last APDU again while retries remain, then end the request
        with :class:`ServiceFailed` (kind TIMEOUT) and forget the association (the adapter's
        transport is presumably lost). Inactivity timeout: forget the association and report
        :class:`AssociationExpired`. Nothing happens before the deadline."""
        deadline = self.get_timer()
        if deadline is None or now < deadline:
            return
        pending = self._pending
        if pending is None:
            idle_since = self._last_activity
            assert idle_since is not None
            self.abort()
            self._events.append(AssociationExpired(idle_since))
            return
        if self._last_sent is not None and self._retries_left > 0:
            self._retries_left -= 1
            self._outgoing.append(self._last_sent)
            self._arm(now)
            return
        self.abort()
        self._events.append(
            failure_of(pending.request, ClientTimeout(f"no answer within {self.response_timeout:g} s"))
        )

    def cancel(self) -> Request | None:
        """End the request in progress locally (DLMS has no cancel on the wire) and return it (None
        when nothing was in progress). An established association stays established, and a late
        answer to the cancelled request is dropped; a cancelled association or release leaves the
        connection IDLE (its state at the server is unknown). Unsent APDUs of the request are dropped.
        No event is produced."""
        pending = self._pending
        if pending is None:
            return None
        if pending.kind in _ASSOCIATION_KINDS:
            self.abort()
        else:
            self._end_exchange()
            if pending.kind not in (RequestKind.READ, RequestKind.WRITE):  # SN answers carry no invoke-id
                self._cancelled_invoke_id = pending.invoke_id
        self._end_timer()
        self._outgoing = []  # what the adapter has not sent yet need not be sent
        return pending.request

    def resume(self, info: AssociationInfo, now: float | None = None) -> None:
        """Use an association that exists without an AARQ on this connection: a pre-established one
        (IEC 62056-5-3 and the LON profile's Table C.1) or one established earlier and still held by
        the server (a head-end's stored association). ``now`` starts the inactivity timer."""
        if self._pending is not None:
            raise ClientError(f"cannot resume: a {self._pending.kind.value} request is in progress")
        self.info = info
        self.state = ConnectionState.ASSOCIATED
        self._last_activity = now

    def _queue(self, apdu: bytes, now: float) -> None:
        self._outgoing.append(apdu)
        self._last_sent = apdu
        self._retries_left = self.retries
        self._last_activity = now
        self._arm(now)

    def _arm(self, now: float) -> None:
        timeout = self.response_timeout
        self._response_deadline = None if timeout is None else now + timeout

    def _end_timer(self) -> None:
        self._response_deadline = None
        self._last_sent = None

    def _end_exchange(self) -> None:
        self._pending = None
        if self._gbt_blocks:
            self._gbt_blocks = []
        if self._gbt_out:
            self._gbt_out = []

    def _build(self, request: Request) -> bytes:
        """The first APDU of ``request`` (the request becomes the one in progress)."""
        if isinstance(request, Get):
            return self._get(request)
        if isinstance(request, GetWithList):
            return self._get_with_list(request)
        if isinstance(request, Set):
            return self._set(request)
        if isinstance(request, SetWithList):
            return self._set_with_list(request)
        if isinstance(request, Action):
            return self._action(request)
        if isinstance(request, ActionWithList):
            return self._action_with_list(request)
        if isinstance(request, Read):
            return self._read(request)
        if isinstance(request, Write):
            return self._write(request)
        if isinstance(request, Associate):
            return self._associate(request)
        if isinstance(request, Release):
            return self._release(request)
        raise ClientError(f"not a client request: {request!r}")

    # -- helpers ---------------------------------------------------------------------------------

    def _next_invoke_id(self) -> int:
        invoke_id = self._invoke_id
        self._invoke_id = (invoke_id + 1) & 0x0F
        if invoke_id == self._cancelled_invoke_id:
            self._cancelled_invoke_id = None  # reused: its answers are this request's again
        return invoke_id

    @property
    def _priority(self) -> Priority:
        return Priority.HIGH if self.config.high_priority else Priority.NORMAL

    def _require_associated(self) -> None:
        if self.state is not ConnectionState.ASSOCIATED:
            raise ClientError(f"not associated (state {self.state.name.lower()})")
        if self._pending is not None:
            raise ClientError(f"a {self._pending.kind.value} request is still in progress")

    def _require_ln(self, what: str) -> None:
        if self.config.referencing is not Referencing.LN:
            raise ClientError(f"{what} needs logical-name referencing")

    def _require_sn(self, what: str) -> None:
        if self.config.referencing is not Referencing.SN:
            raise ClientError(f"{what} needs short-name referencing")

    def _protection_kind(self) -> ProtectionKind | None:
        kind = self.config.ciphering
        return None if kind == "none" else kind

    def _overhead(self) -> int:
        kind = self.config.ciphering
        if kind == "none":
            return 0
        return _OVERHEAD_GENERAL if kind.startswith("general") else _OVERHEAD_SERVICE_SPECIFIC

    def _protect(self, plain: bytes) -> bytes:
        kind = self._protection_kind()
        if kind is None or self.security is None:
            return plain
        try:
            return protect_apdu(plain, self.security, kind)
        except SecurityError as exc:
            raise ClientSecurityError(f"cannot protect the request: {exc}") from None
        except EncodeError as exc:
            raise ClientError(f"cannot protect the request: {exc}") from None

    def _start(self, pending: _Pending, plain: bytes) -> bytes:
        data = self._protect(plain)
        self._pending = pending
        if self._gbt_blocks:
            self._gbt_blocks = []
        self._gbt_expected = 1
        self._gbt_own = 1
        if self._gbt_out:
            self._gbt_out = []
        limit = self.server_max_receive_pdu_size
        if len(data) > limit and self.negotiated_conformance & Conformance.GENERAL_BLOCK_TRANSFER:
            size = limit - _GBT_HEADER
            if size < 1:
                raise ClientError(f"the server's max PDU size {limit} is too small")
            self._gbt_out = [data[i : i + size] for i in range(0, len(data), size)]
            return self._gbt_request_block(1)
        return data

    def _gbt_request_block(self, number: int) -> bytes:
        """Our request's GBT block ``number`` (1-based); one block per acknowledgement."""
        self._gbt_own = number + 1
        return GeneralBlockTransfer(
            last_block=number == len(self._gbt_out),
            streaming=False,
            window=self.config.gbt_window,
            block_number=number,
            block_number_ack=0,
            block_data=self._gbt_out[number - 1],
        ).encode()

    def _limit(self) -> int:
        return self.server_max_receive_pdu_size - self._overhead()

    def _unprotect(self, apdu: bytes) -> bytes:
        if self.security is None or not apdu or self._deciphered:
            return apdu
        tag = apdu[0]
        if not is_protected_tag(tag) and tag in (0xD8, 0x0E, 0xE0):
            return apdu  # exception-response, confirmed-service-error, GBT: may come plain
        try:
            return decipher_apdu(apdu, self.security)
        except SecurityError as exc:
            raise ClientSecurityError(f"protected answer rejected: {exc}") from None
        except DecodeError as exc:
            raise ProtocolError(f"undecodable protected answer: {exc}") from None

    # -- association -----------------------------------------------------------------------------

    def associate(self) -> bytes:
        """The AARQ. Result (:class:`Done`): an :class:`AssociationInfo`."""
        return self._build(Associate())

    def _associate(self, request: Associate) -> bytes:
        if self.state not in (ConnectionState.IDLE, ConnectionState.RELEASED):
            raise ClientError(f"cannot associate in state {self.state.name.lower()}")
        cfg = self.config
        ciphered = cfg.ciphering != "none"
        dedicated_key: bytes | None = None
        if cfg.ciphering in ("general-ded", "service-specific-ded"):
            assert self.security is not None
            dedicated_key = cfg.keys.dedicated_key or secrets.token_bytes(
                cfg.security_suite.parameters.key_length
            )
            try:
                self.security.set_dedicated_key(dedicated_key)
            except SecurityError as exc:
                raise ClientSecurityError(str(exc)) from None
        try:
            initiate = InitiateRequest(
                dedicated_key=dedicated_key,
                proposed_conformance=cfg.conformance,
                client_max_receive_pdu_size=cfg.max_receive_pdu_size,
            ).encode()
        except EncodeError as exc:
            raise ClientError(f"bad InitiateRequest: {exc}") from None
        if ciphered:
            assert self.security is not None
            try:
                initiate = protect_apdu(initiate, self.security, "service-specific-glo")
            except SecurityError as exc:
                raise ClientSecurityError(f"cannot cipher the InitiateRequest: {exc}") from None
            except EncodeError as exc:
                raise ClientError(f"cannot cipher the InitiateRequest: {exc}") from None
        sn = cfg.referencing is Referencing.SN
        if ciphered:
            context = ApplicationContextName.SN_CIPHERED if sn else ApplicationContextName.LN_CIPHERED
        else:
            context = ApplicationContextName.SN if sn else ApplicationContextName.LN
        mechanism = Mechanism(cfg.mechanism)
        self._hls = None
        calling_value: bytes | None = None
        if mechanism is not Mechanism.NONE:
            try:
                self._hls = HlsClient(
                    mechanism,
                    cfg.system_title,
                    peer_system_title=cfg.server_system_title,
                    secret=cfg.password if mechanism is Mechanism.LLS else cfg.hls_secret,
                    ek=cfg.keys.ek,
                    ak=cfg.keys.ak,
                    invocation_counter=(
                        self.security.counter(KeyRole.GLOBAL_UNICAST) if self.security is not None else None
                    ),
                    signing_key=cfg.signing_key,
                    peer_public_key=cfg.server_public_key,
                    suite=cfg.security_suite,
                    challenge_length=cfg.challenge_length,
                    own_challenge=cfg.challenge,
                )
                calling_value = self._hls.calling_authentication_value()
            except SecurityError as exc:
                raise ClientSecurityError(f"cannot authenticate with {mechanism.name}: {exc}") from None
        needs_title = ciphered or mechanism in (Mechanism.HLS_GMAC, Mechanism.HLS_SHA256, Mechanism.HLS_ECDSA)
        aarq = AARQ(
            application_context_name=context,
            calling_ap_title=cfg.system_title if needs_title else None,
            sender_acse_requirements=(
                ACSE_REQUIREMENTS_AUTHENTICATION if mechanism is not Mechanism.NONE else None
            ),
            mechanism_name=MechanismName(int(mechanism)) if mechanism is not Mechanism.NONE else None,
            calling_authentication_value=calling_value,
            user_information=initiate,
        )
        try:
            data = aarq.encode()
        except EncodeError as exc:
            raise ClientError(f"cannot encode the AARQ: {exc}") from None
        self.state = ConnectionState.ASSOCIATING
        self._pending = _Pending(RequestKind.ASSOCIATE, request)
        self.info = None
        return data

    def _on_aare(self, apdu: bytes, pending: _Pending) -> Event:
        try:
            aare = AARE.decode(apdu)
        except DecodeError as exc:
            self._fail_association()
            raise ProtocolError(f"expected an AARE: {exc}") from None
        cfg = self.config
        server_title = aare.responding_ap_title
        if self.security is not None and server_title is not None:
            if len(server_title) != 8:
                self._fail_association()
                raise ProtocolError(f"server system title has {len(server_title)} bytes, not 8")
            self.security.peer_system_title = server_title
        initiate: InitiateResponse | None = None
        service_error: ConfirmedServiceError | None = None
        if aare.user_information is not None:
            try:
                inner = aare.decode_user_information()
                if isinstance(inner, bytes):
                    if self.security is None:
                        raise ProtocolError("ciphered user-information in the AARE but no keys configured")
                    plain = self._unprotect(inner)
                    inner = decode_apdu(plain)  # type: ignore[assignment]
            except DecodeError as exc:
                self._fail_association()
                raise ProtocolError(f"bad AARE user-information: {exc}") from None
            except ClientError:
                self._fail_association()
                raise
            if isinstance(inner, InitiateResponse):
                initiate = inner
            elif isinstance(inner, ConfirmedServiceError):
                service_error = inner
        if aare.result is not AssociationResult.ACCEPTED:
            self._fail_association()
            detail = ""
            if service_error is not None:
                detail = f"{service_error.error.name.lower().replace('_', '-')}"
            raise AssociationRejected(
                aare.result,
                aare.result_source_diagnostic,
                detail,
                service_error.error if service_error is not None else None,
            )
        if initiate is None:
            self._fail_association()
            if service_error is not None:
                raise ServiceErrorResponse(
                    f"initiate failed: {service_error.error.name.lower()}",
                    confirmed_service=service_error.service,
                    confirmed_error=service_error.error,
                )
            raise ProtocolError("accepted AARE without an InitiateResponse")
        self.info = AssociationInfo(
            negotiated_conformance=initiate.negotiated_conformance,
            server_max_receive_pdu_size=initiate.server_max_receive_pdu_size,
            vaa_name=initiate.vaa_name,
            server_system_title=server_title,
            mechanism=cfg.mechanism,
            ciphered=cfg.ciphering != "none",
        )
        hls = self._hls
        if hls is None or not hls.is_hls:
            self.state = ConnectionState.ASSOCIATED
            self._pending = None
            return Done(self.info)
        # HLS pass 2 -> pass 3
        value = aare.responding_authentication_value
        if not isinstance(value, bytes):
            self._fail_association()
            raise ClientSecurityError("the AARE carries no StoC challenge")
        try:
            hls.receive_challenge(value, server_title)
            reply = hls.response()
        except SecurityError as exc:
            self._fail_association()
            raise ClientSecurityError(f"HLS pass 3 failed: {exc}") from None
        invoke_id = self._next_invoke_id()
        if cfg.referencing is Referencing.LN:
            plain = ActionRequestNormal(
                invoke_id,
                CosemMethodDescriptor(
                    ASSOCIATION_LN_CLASS_ID, LN_CURRENT_ASSOCIATION, REPLY_TO_HLS_AUTHENTICATION_LN
                ),
                reply,
                priority=self._priority,
            ).encode()
        else:
            name = (initiate.vaa_name + REPLY_TO_HLS_AUTHENTICATION_SN_OFFSET) & 0xFFFF
            plain = ReadRequest([ParameterizedAccess(name, 0, reply)]).encode()
        self.state = ConnectionState.AUTHENTICATING
        self._pending = _Pending(RequestKind.HLS, pending.request, invoke_id, "reply_to_HLS_authentication")
        return SendApdu(self._protect(plain))

    def _fail_association(self) -> None:
        self.state = ConnectionState.IDLE
        self._pending = None

    def _on_hls_reply(self, apdu: object) -> Event:
        assert self._hls is not None and self.info is not None
        value: object
        try:
            if isinstance(apdu, ActionResponseNormal):
                response = apdu.single_response
                if response.result is not ActionResult.SUCCESS:
                    raise ClientSecurityError(
                        f"server refused our HLS response: {response.result.name.lower().replace('_', '-')}"
                    )
                value = response.return_parameters
            elif isinstance(apdu, ReadResponse) and len(apdu.result) == 1:
                value = apdu.result[0]
                if isinstance(value, DataAccessResult):
                    raise ClientSecurityError(f"server refused our HLS response: {value.name.lower()}")
            else:
                raise ProtocolError(
                    f"unexpected answer to reply_to_HLS_authentication: {type(apdu).__name__}"
                )
            if not isinstance(value, bytes):
                raise ClientSecurityError("the server's f(CtoS) is not an octet-string")
            try:
                self._hls.verify_response(value)
            except SecurityError as exc:
                raise ClientSecurityError(f"server authentication failed: {exc}") from None
        except ClientError:
            self._fail_association()
            raise
        self.state = ConnectionState.ASSOCIATED
        self._pending = None
        return Done(self.info)

    def release(self) -> bytes:
        """The RLRQ (reason normal). Result: None."""
        return self._build(Release())

    def _release(self, request: Release) -> bytes:
        if self.state not in (ConnectionState.ASSOCIATED,):
            raise ClientError(f"cannot release in state {self.state.name.lower()}")
        user_information = None
        if self.config.ciphering != "none" and self.security is not None:
            # a ciphered association is released by a protected RLRQ: a ciphered InitiateRequest in
            # user-information (a plain RLRQ is refused by our server: docs/decisions/0035)
            try:
                user_information = protect_apdu(
                    InitiateRequest(
                        proposed_conformance=self.config.conformance,
                        client_max_receive_pdu_size=self.config.max_receive_pdu_size,
                    ).encode(),
                    self.security,
                    "service-specific-glo",
                )
            except SecurityError as exc:
                raise ClientSecurityError(f"cannot cipher the release request: {exc}") from None
            except EncodeError as exc:
                raise ClientError(f"cannot cipher the release request: {exc}") from None
        self.state = ConnectionState.RELEASING
        self._pending = _Pending(RequestKind.RELEASE, request)
        return RLRQ(reason=ReleaseRequestReason.NORMAL, user_information=user_information).encode()

    def abort(self) -> None:
        """Forget the association without telling the server (transport lost, timeout); anything
        queued for sending is dropped."""
        self.state = ConnectionState.IDLE
        self._end_exchange()
        self._end_timer()
        self._outgoing = []
        self._cancelled_invoke_id = None

    # -- LN services -----------------------------------------------------------------------------

    def get(
        self,
        class_id: int,
        instance: Obis | str,
        attribute_id: int,
        selection: SelectiveAccessDescriptor | None = None,
    ) -> bytes:
        """GET one attribute. Result: the Data value (AccessError on a data-access-result)."""
        return self._build(Get(class_id, instance, attribute_id, selection))

    def _get(self, request: Get) -> bytes:
        self._require_associated()
        self._require_ln("GET")
        instance = request.instance
        obis = instance if type(instance) is Obis else Obis(instance)
        invoke_id = self._next_invoke_id()
        class_id, attribute_id = request.class_id, request.attribute_id
        plain = GetRequestNormal(
            invoke_id,
            CosemAttributeDescriptor(class_id, obis, attribute_id),
            request.selection,
            priority=self._priority,
        ).encode()
        pending = _Pending(RequestKind.GET, request, invoke_id, member=(class_id, obis, attribute_id))
        return self._start(pending, plain)

    def get_with_list(
        self,
        items: list[tuple[int, Obis | str, int]]
        | list[tuple[int, Obis | str, int, SelectiveAccessDescriptor | None]],
    ) -> bytes:
        """GET several attributes at once. Result: a list, per item the value or an
        :class:`AccessError` (returned, not raised)."""
        return self._build(GetWithList(tuple(items)))

    def _get_with_list(self, request: GetWithList) -> bytes:
        self._require_associated()
        self._require_ln("GET with list")
        descriptors = []
        for item in request.items:
            selection: SelectiveAccessDescriptor | None = item[3] if len(item) > 3 else None
            descriptors.append(
                CosemAttributeDescriptorWithSelection(
                    CosemAttributeDescriptor(item[0], Obis(item[1]), item[2]), selection
                )
            )
        invoke_id = self._next_invoke_id()
        plain = GetRequestWithList(invoke_id, descriptors, priority=self._priority).encode()
        pending = _Pending(RequestKind.GET_LIST, request, invoke_id, "get-with-list", count=len(descriptors))
        return self._start(pending, plain)

    def set(
        self,
        class_id: int,
        instance: Obis | str,
        attribute_id: int,
        value: DataValue,
        selection: SelectiveAccessDescriptor | None = None,
    ) -> bytes:
        """SET one attribute (in data blocks when too large for the server). Result: None."""
        return self._build(Set(class_id, instance, attribute_id, value, selection))

    def _set(self, request: Set) -> bytes:
        self._require_associated()
        self._require_ln("SET")
        class_id, attribute_id, value, selection = (
            request.class_id,
            request.attribute_id,
            request.value,
            request.selection,
        )
        obis = Obis(request.instance)
        descriptor = CosemAttributeDescriptor(class_id, obis, attribute_id)
        invoke_id = self._next_invoke_id()
        target = _target(class_id, obis, attribute_id)
        plain = SetRequestNormal(invoke_id, descriptor, selection, value, priority=self._priority).encode()
        if len(plain) <= self._limit() or not (
            self.negotiated_conformance & Conformance.BLOCK_TRANSFER_WITH_SET_OR_WRITE
        ):
            return self._start(_Pending(RequestKind.SET, request, invoke_id, target), plain)
        raw = encode_data(value)
        empty = SetRequestWithFirstDatablock(
            invoke_id, descriptor, selection, DataBlockSA(False, 1, b""), priority=self._priority
        ).encode()
        chunks = self._chunks(raw, len(empty))
        pending = _Pending(RequestKind.SET_BLOCKS, request, invoke_id, target, chunks=chunks, block_number=1)
        first = SetRequestWithFirstDatablock(
            invoke_id,
            descriptor,
            selection,
            DataBlockSA(len(chunks) == 1, 1, chunks[0]),
            priority=self._priority,
        ).encode()
        return self._start(pending, first)

    def _chunks(self, raw: bytes, fixed: int) -> list[bytes]:
        size = self._limit() - fixed - 3  # 3: the largest raw-data length prefix we will need
        if size < 1:
            raise ClientError(f"the server's max PDU size {self.server_max_receive_pdu_size} is too small")
        return [raw[i : i + size] for i in range(0, len(raw), size)] or [b""]

    def set_with_list(self, items: list[tuple[int, Obis | str, int, DataValue]]) -> bytes:
        """SET several attributes at once. Result: the list of Data-Access-Results (not raised)."""
        return self._build(SetWithList(tuple(items)))

    def _set_with_list(self, request: SetWithList) -> bytes:
        self._require_associated()
        self._require_ln("SET with list")
        items = request.items
        descriptors = [
            CosemAttributeDescriptorWithSelection(CosemAttributeDescriptor(c, Obis(o), a))
            for c, o, a, _ in items
        ]
        invoke_id = self._next_invoke_id()
        plain = SetRequestWithList(
            invoke_id, descriptors, [v for *_, v in items], priority=self._priority
        ).encode()
        pending = _Pending(RequestKind.SET_LIST, request, invoke_id, "set-with-list", count=len(items))
        return self._start(pending, plain)

    def action(
        self, class_id: int, instance: Obis | str, method_id: int, parameters: DataValue = None
    ) -> bytes:
        """Invoke a method (parameters in pblocks when too large). Result: the return parameters (None
        when the server sent none)."""
        return self._build(Action(class_id, instance, method_id, parameters))

    def _action(self, request: Action) -> bytes:
        self._require_associated()
        self._require_ln("ACTION")
        class_id, method_id, parameters = request.class_id, request.method_id, request.parameters
        obis = Obis(request.instance)
        descriptor = CosemMethodDescriptor(class_id, obis, method_id)
        invoke_id = self._next_invoke_id()
        target = _target(class_id, obis, method_id, "method ")
        plain = ActionRequestNormal(invoke_id, descriptor, parameters, priority=self._priority).encode()
        if len(plain) <= self._limit() or not (
            self.negotiated_conformance & Conformance.BLOCK_TRANSFER_WITH_ACTION
        ):
            return self._start(_Pending(RequestKind.ACTION, request, invoke_id, target), plain)
        raw = encode_data(parameters)
        empty = ActionRequestWithFirstPblock(
            invoke_id, descriptor, DataBlockSA(False, 1, b""), priority=self._priority
        ).encode()
        chunks = self._chunks(raw, len(empty))
        pending = _Pending(
            RequestKind.ACTION_BLOCKS, request, invoke_id, target, chunks=chunks, block_number=1
        )
        first = ActionRequestWithFirstPblock(
            invoke_id, descriptor, DataBlockSA(len(chunks) == 1, 1, chunks[0]), priority=self._priority
        ).encode()
        return self._start(pending, first)

    def action_with_list(self, items: list[tuple[int, Obis | str, int, DataValue]]) -> bytes:
        """Invoke several methods. Result: a list, per method the return value (None) or an
        :class:`AccessError` (returned, not raised)."""
        return self._build(ActionWithList(tuple(items)))

    def _action_with_list(self, request: ActionWithList) -> bytes:
        self._require_associated()
        self._require_ln("ACTION with list")
        items = request.items
        descriptors = [CosemMethodDescriptor(c, Obis(o), m) for c, o, m, _ in items]
        invoke_id = self._next_invoke_id()
        plain = ActionRequestWithList(
            invoke_id, descriptors, [p for *_, p in items], priority=self._priority
        ).encode()
        pending = _Pending(RequestKind.ACTION_LIST, request, invoke_id, "action-with-list", count=len(items))
        return self._start(pending, plain)

    # -- SN services -----------------------------------------------------------------------------

    def read(self, variables: list[int | ParameterizedAccess]) -> bytes:
        """SN Read of short names (or parameterized accesses). Result: a list, per variable the value or
        an :class:`AccessError` (returned, not raised)."""
        return self._build(Read(tuple(variables)))

    def _read(self, request: Read) -> bytes:
        self._require_associated()
        self._require_sn("Read")
        specs: list[VariableAccessSpecification] = [
            v if isinstance(v, ParameterizedAccess) else VariableName(v) for v in request.variables
        ]
        plain = ReadRequest(specs).encode()
        return self._start(_Pending(RequestKind.READ, request, 0, "read", count=len(specs)), plain)

    def write(self, variables: list[tuple[int, DataValue]]) -> bytes:
        """SN Write. Result: a list, per variable None (success) or an :class:`AccessError`."""
        return self._build(Write(tuple(variables)))

    def _write(self, request: Write) -> bytes:
        self._require_associated()
        self._require_sn("Write")
        variables = request.variables
        specs: list[VariableAccessSpecification] = [VariableName(name) for name, _ in variables]
        plain = WriteRequest(specs, [v for _, v in variables]).encode()
        return self._start(_Pending(RequestKind.WRITE, request, 0, "write", count=len(specs)), plain)

    # -- receiving -------------------------------------------------------------------------------

    def receive(self, apdu: bytes | bytearray | memoryview) -> Event:
        """Process one received APDU (the payload of one wrapper frame)."""
        data = bytes(apdu)
        pending = self._pending
        if pending is None:
            raise ProtocolError(f"unexpected APDU 0x{data[:1].hex().upper()} with no request in progress")
        if not data:
            raise ProtocolError("empty APDU")
        if pending.kind is RequestKind.ASSOCIATE:
            if data[0] != 0x61:
                self._fail_association()
                self._raise_service_error(data)
                raise ProtocolError(f"expected an AARE, got tag 0x{data[0]:02X}")
            return self._on_aare(data, pending)
        if pending.kind is RequestKind.RELEASE:
            if data[0] != 0x63:
                self.abort()  # the release failed: the association's state at the server is unknown
                self._raise_service_error(data)
                raise ProtocolError(f"expected an RLRE, got tag 0x{data[0]:02X}")
            # design: the RLRE tag ends the association; a malformed body (seen from real stacks) is
            # tolerated, the release result is only informational
            try:
                rlre: RLRE | None = RLRE.decode(data)
            except DecodeError:
                rlre = None
            self.release_response = rlre
            self.state = ConnectionState.RELEASED
            self._pending = None
            return Done(None)
        try:
            return self._receive_xdlms(data, pending)
        except _StaleAnswer:
            return _IGNORED
        except ClientError:
            if self._pending is pending:
                self._pending = None
                self._gbt_blocks = []
            if pending.kind is RequestKind.HLS:
                self._fail_association()
            raise

    def receive_deciphered(self, plain: bytes) -> Event:
        """:meth:`receive` for an xDLMS answer its caller already verified and deciphered with this
        connection's :attr:`security` context (``unprotect_apdu``): it is not deciphered again. For
        a router that must see the plaintext first (the mesh head-end, decision 0098)."""
        pending = self._pending
        if pending is None or pending.kind in (RequestKind.ASSOCIATE, RequestKind.RELEASE):
            return self.receive(plain)
        self._deciphered = True
        try:
            return self.receive(plain)
        finally:
            self._deciphered = False

    @property
    def pending_invoke_id(self) -> int | None:
        """The invoke id of the request in progress (None when idle)."""
        return self._pending.invoke_id if self._pending is not None else None

    def _raise_service_error(self, data: bytes) -> None:
        try:
            apdu = decode_apdu(data)
        except DecodeError:
            return
        if isinstance(apdu, ExceptionResponse):
            raise ServiceErrorResponse(
                f"exception-response: {apdu.state_error.name.lower().replace('_', '-')}, "
                f"{apdu.service_error.name.lower().replace('_', '-')}",
                state_error=apdu.state_error,
                service_error=apdu.service_error,
            )
        if isinstance(apdu, ConfirmedServiceError):
            raise ServiceErrorResponse(
                f"confirmed-service-error: {apdu.service.name.lower()}: "
                f"{apdu.error.name.lower().replace('_', '-')}",
                confirmed_service=apdu.service,
                confirmed_error=apdu.error,
            )

    def _receive_xdlms(self, data: bytes, pending: _Pending) -> Event:
        if data[0] == 0xE0:
            return self._on_gbt(data, pending)
        plain = self._unprotect(data)
        if plain and plain[0] == 0xE0:  # a protected GBT (general-glo around the blocks)
            return self._on_gbt(plain, pending)
        try:
            apdu = decode_apdu(plain)
        except DecodeError as exc:
            raise ProtocolError(f"undecodable answer: {exc}") from None
        if isinstance(apdu, ExceptionResponse | ConfirmedServiceError):
            self._raise_service_error(plain)
        if pending.kind is RequestKind.HLS:
            self._check_invoke_id(apdu, pending)
            return self._on_hls_reply(apdu)
        return self._dispatch(apdu, pending)

    def _on_gbt(self, data: bytes, pending: _Pending) -> Event:
        try:
            gbt = GeneralBlockTransfer.decode(data)
        except DecodeError as exc:
            raise ProtocolError(f"bad general-block-transfer: {exc}") from None
        sent = self._gbt_own - 1
        if self._gbt_out and sent < len(self._gbt_out):
            # we are still sending the request: this must acknowledge our last block
            if gbt.block_data or gbt.block_number_ack != sent:
                raise ProtocolError(
                    f"expected an acknowledgement of our GBT block {sent}, got block {gbt.block_number} "
                    f"acknowledging {gbt.block_number_ack}"
                )
            return SendApdu(self._gbt_request_block(sent + 1))
        if gbt.block_number != self._gbt_expected:
            raise ProtocolError(
                f"general-block-transfer block {gbt.block_number}, expected {self._gbt_expected}"
            )
        self._gbt_blocks.append(gbt.block_data)
        self._gbt_expected += 1
        if gbt.last_block:
            whole = b"".join(self._gbt_blocks)
            self._gbt_blocks = []
            self._gbt_expected = 1
            return self._receive_xdlms(whole, pending)
        if gbt.streaming:
            return AwaitApdu()
        ack = GeneralBlockTransfer(
            last_block=False,
            streaming=False,
            window=self.config.gbt_window,
            block_number=self._gbt_own,
            block_number_ack=gbt.block_number,
            block_data=b"",
        ).encode()
        self._gbt_own = (self._gbt_own + 1) & 0xFFFF
        return SendApdu(ack)

    def _check_invoke_id(self, apdu: object, pending: _Pending) -> None:
        invoke_id = getattr(apdu, "invoke_id", None)
        if invoke_id is not None and invoke_id != pending.invoke_id:
            if invoke_id == self._cancelled_invoke_id:
                raise _StaleAnswer()
            raise ProtocolError(f"answer carries invoke-id {invoke_id}, expected {pending.invoke_id}")

    def _finish(self, result: object) -> Done:
        self._pending = None
        return Done(result)

    def _dispatch(self, apdu: object, pending: _Pending) -> Event:
        kind = pending.kind
        self._check_invoke_id(apdu, pending)
        if kind is RequestKind.GET:
            if isinstance(apdu, GetResponseNormal):
                if type(apdu.result) is DataAccessResult:
                    raise AccessError(apdu.result, pending.where())
                return self._finish(apdu.result)
            if isinstance(apdu, GetResponseWithDataBlock):
                return self._on_get_block(apdu, pending, self._decode_get_value)
        elif kind is RequestKind.GET_LIST:
            if isinstance(apdu, GetResponseWithList):
                return self._finish(self._list_results(apdu.result, pending))
            if isinstance(apdu, GetResponseWithDataBlock):
                return self._on_get_block(apdu, pending, self._decode_get_list)
        elif kind in (RequestKind.SET, RequestKind.SET_BLOCKS):
            if isinstance(apdu, SetResponseNormal | SetResponseLastDatablock):
                if apdu.result is not DataAccessResult.SUCCESS:
                    raise AccessError(apdu.result, pending.where())
                return self._finish(None)
            if isinstance(apdu, SetResponseDatablock) and kind is RequestKind.SET_BLOCKS:
                return self._next_request_block(apdu.block_number, pending)
        elif kind is RequestKind.SET_LIST:
            if isinstance(apdu, SetResponseWithList):
                return self._finish(list(apdu.result))
        elif kind in (RequestKind.ACTION, RequestKind.ACTION_BLOCKS):
            if isinstance(apdu, ActionResponseNormal):
                return self._finish(self._action_value(apdu.single_response, pending.where(), raise_=True))
            if isinstance(apdu, ActionResponseNextPblock) and kind is RequestKind.ACTION_BLOCKS:
                return self._next_request_block(apdu.block_number, pending)
            if isinstance(apdu, ActionResponseWithPblock):
                block = apdu.pblock
                if block.block_number != pending.block_number + 1 and kind is RequestKind.ACTION:
                    raise ProtocolError(f"pblock {block.block_number}, expected {pending.block_number + 1}")
                pending.blocks.append(block.raw_data)
                pending.block_number = block.block_number
                pending.kind = RequestKind.ACTION
                if block.last_block:
                    raw = b"".join(pending.blocks)
                    try:
                        return self._finish(decode_data_exact(raw))
                    except DecodeError as exc:
                        raise ProtocolError(f"bad action return data: {exc}") from None
                nxt = ActionRequestNextPblock(pending.invoke_id, block.block_number, priority=self._priority)
                return SendApdu(self._protect(nxt.encode()))
        elif kind is RequestKind.ACTION_LIST:
            if isinstance(apdu, ActionResponseWithList):
                return self._finish(
                    [
                        self._action_value(r, f"method #{i + 1}", raise_=False)
                        for i, r in enumerate(apdu.list_of_responses)
                    ]
                )
        elif kind is RequestKind.READ:
            if isinstance(apdu, ReadResponse):
                return self._on_read_response(apdu, pending)
        elif kind is RequestKind.WRITE and isinstance(apdu, WriteResponse):
            results: list[object] = []
            for i, item in enumerate(apdu.result):
                if item is None:
                    results.append(None)
                elif isinstance(item, DataAccessResult):
                    results.append(AccessError(item, f"variable #{i + 1}"))
                else:
                    raise ProtocolError("block-number in a WriteResponse (block write is not supported)")
            return self._finish(results)
        raise ProtocolError(f"unexpected {type(apdu).__name__} in answer to {kind.value.replace('_', ' ')}")

    def _action_value(self, response: ActionResponseWithOptionalData, target: str, raise_: bool) -> object:
        error: AccessError | None = None
        if response.result is not ActionResult.SUCCESS:
            error = AccessError(response.result, target)
        elif type(response.return_parameters) is DataAccessResult:
            error = AccessError(response.return_parameters, target)
        if error is not None:
            if raise_:
                raise error
            return error
        return response.return_parameters

    def _next_request_block(self, acknowledged: int, pending: _Pending) -> Event:
        if acknowledged != pending.block_number:
            raise ProtocolError(f"server acknowledged block {acknowledged}, we sent {pending.block_number}")
        if pending.block_number >= len(pending.chunks):
            raise ProtocolError("server asks for a block after the last one")
        pending.block_number += 1
        chunk = pending.chunks[pending.block_number - 1]
        block = DataBlockSA(pending.block_number == len(pending.chunks), pending.block_number, chunk)
        if pending.kind is RequestKind.SET_BLOCKS:
            plain = SetRequestWithDatablock(pending.invoke_id, block, priority=self._priority).encode()
        else:
            plain = ActionRequestWithPblock(pending.invoke_id, block, priority=self._priority).encode()
        return SendApdu(self._protect(plain))

    def _on_get_block(
        self,
        apdu: GetResponseWithDataBlock,
        pending: _Pending,
        decode: Callable[[bytes, _Pending], object],
    ) -> Event:
        block = apdu.result
        expected = pending.block_number + 1
        if block.block_number != expected:
            raise ProtocolError(f"data block {block.block_number}, expected {expected}")
        if isinstance(block.result, DataAccessResult):
            raise AccessError(block.result, pending.where())
        pending.blocks.append(block.result)
        pending.block_number = block.block_number
        if block.last_block:
            raw = b"".join(pending.blocks)
            return self._finish(decode(raw, pending))
        nxt = GetRequestNext(pending.invoke_id, block.block_number, priority=self._priority).encode()
        return SendApdu(self._protect(nxt))

    def _decode_get_value(self, raw: bytes, pending: _Pending) -> object:
        try:
            return decode_data_exact(raw)
        except DecodeError as exc:
            raise ProtocolError(f"bad data in the data blocks: {exc}") from None

    def _decode_get_list(self, raw: bytes, pending: _Pending) -> object:
        header = bytes((0xC4, 0x03, pending.invoke_id))
        try:
            whole = GetResponseWithList.decode(header + raw)
        except DecodeError as exc:
            raise ProtocolError(f"bad result list in the data blocks: {exc}") from None
        return self._list_results(whole.result, pending)

    def _list_results(self, items: list[DataAccessResult | DataValue], pending: _Pending) -> list[object]:
        if len(items) != pending.count:
            raise ProtocolError(f"{len(items)} results for {pending.count} requested attributes")
        return [
            AccessError(item, f"item #{i + 1}") if type(item) is DataAccessResult else item
            for i, item in enumerate(items)
        ]

    def _on_read_response(self, apdu: ReadResponse, pending: _Pending) -> Event:
        items = apdu.result
        if len(items) == 1 and isinstance(items[0], DataBlockResult):
            block = items[0]
            expected = pending.block_number + 1
            if block.block_number != expected:
                raise ProtocolError(f"read data block {block.block_number}, expected {expected}")
            pending.blocks.append(block.raw_data)
            pending.block_number = block.block_number
            if not block.last_block:
                plain = ReadRequest([BlockNumberAccess(block.block_number)]).encode()
                return SendApdu(self._protect(plain))
            try:
                whole = ReadResponse.decode(b"\x0c" + b"".join(pending.blocks))
            except DecodeError as exc:
                raise ProtocolError(f"bad read data blocks: {exc}") from None
            items = whole.result
        if len(items) != pending.count:
            raise ProtocolError(f"{len(items)} read results for {pending.count} variables")
        results: list[object] = []
        for i, item in enumerate(items):
            if isinstance(item, DataAccessResult):
                results.append(AccessError(item, f"variable #{i + 1}"))
            elif isinstance(item, DataBlockResult):
                raise ProtocolError("data-block-result among several read results")
            elif isinstance(item, BlockNumber):
                raise ProtocolError("block-number in a ReadResponse")
            else:
                results.append(item)
        return self._finish(results)
