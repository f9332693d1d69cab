"""Typed events of the client core (:meth:`ClientConnection.pop_events`).

Each request ends with exactly one event: its completion (:class:`AssociationEstablished`,
:class:`GetCompleted` ...) or :class:`ServiceFailed` (the server refused, the answer was wrong, no
answer came in time); a request ended by ``cancel()`` produces no event. :class:`AssociationExpired`
reports the end of an idle association by the inactivity timer. Every failure carries its cause as
enums, never as text: :class:`FailureKind` says which fields are set.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from cosemnet.client.errors import (
    AccessError,
    AssociationRejected,
    ClientError,
    ClientSecurityError,
    ClientTimeout,
    ServiceErrorResponse,
)
from cosemnet.client.requests import Request
from cosemnet.codec.acse import RLRE, AssociateSourceDiagnostic, AssociationResult
from cosemnet.codec.initiate import Conformance
from cosemnet.codec.service_error import ConfirmedService, ServiceError
from cosemnet.codec.types import DataValue
from cosemnet.codec.xdlms import ActionResult, DataAccessResult
from cosemnet.codec.xdlms.exception import ExceptionServiceError, StateError
from cosemnet.security.hls import Mechanism

__all__ = [
    "ActionCompleted",
    "ActionWithListCompleted",
    "AssociationEstablished",
    "AssociationExpired",
    "AssociationInfo",
    "ClientEvent",
    "FailureKind",
    "GetCompleted",
    "GetWithListCompleted",
    "ReadCompleted",
    "ReleaseCompleted",
    "ServiceFailed",
    "SetCompleted",
    "SetWithListCompleted",
    "WriteCompleted",
    "failure_of",
]


@dataclass(slots=True, frozen=True)
class AssociationInfo:
    """What the server agreed to (the result of an association)."""

    negotiated_conformance: Conformance
    server_max_receive_pdu_size: int
    vaa_name: int
    server_system_title: bytes | None
    mechanism: Mechanism
    ciphered: bool


@dataclass(frozen=True, slots=True)
class AssociationEstablished:
    """The association is open (after the AARE, or after HLS pass 4)."""

    info: AssociationInfo
    request: Request


@dataclass(frozen=True, slots=True)
class ReleaseCompleted:
    """The RLRE arrived; ``response`` is None when its body did not decode (tolerated)."""

    response: RLRE | None
    request: Request


@dataclass(frozen=True, slots=True)
class GetCompleted:
    """GET of one attribute: its value."""

    value: DataValue
    request: Request


@dataclass(frozen=True, slots=True)
class GetWithListCompleted:
    """GET with list: per item the value or an :class:`AccessError` (``.result`` is the
    Data-Access-Result)."""

    results: list[DataValue | AccessError]
    request: Request


@dataclass(frozen=True, slots=True)
class SetCompleted:
    """SET of one attribute succeeded."""

    request: Request


@dataclass(frozen=True, slots=True)
class SetWithListCompleted:
    """SET with list: the Data-Access-Result of each item (success or not)."""

    results: list[DataAccessResult]
    request: Request


@dataclass(frozen=True, slots=True)
class ActionCompleted:
    """ACTION succeeded; ``return_value`` is None when the server sent no return parameters."""

    return_value: DataValue
    request: Request


@dataclass(frozen=True, slots=True)
class ActionWithListCompleted:
    """ACTION with list: per method the return value or an :class:`AccessError`."""

    results: list[DataValue | AccessError]
    request: Request


@dataclass(frozen=True, slots=True)
class ReadCompleted:
    """SN Read: per variable the value or an :class:`AccessError`."""

    results: list[DataValue | AccessError]
    request: Request


@dataclass(frozen=True, slots=True)
class WriteCompleted:
    """SN Write: per variable None (success) or an :class:`AccessError`."""

    results: list[AccessError | None]
    request: Request


class FailureKind(Enum):
    """Why a request failed; says which typed fields of :class:`ServiceFailed` are set."""

    ACCESS = "access"
    """data_access_result or action_result."""
    EXCEPTION_RESPONSE = "exception-response"
    """state_error and service_error."""
    CONFIRMED_SERVICE_ERROR = "confirmed-service-error"
    """confirmed_service and confirmed_error."""
    ASSOCIATION_REJECTED = "association-rejected"
    """association_result, diagnostic (and confirmed_error when the AARE carried one)."""
    SECURITY = "security"
    """A protected answer did not verify or HLS failed (no typed field; see ``error``)."""
    PROTOCOL = "protocol"
    """The answer does not fit the request (no typed field; see ``error``)."""
    TIMEOUT = "timeout"
    """No answer within the response timeout (after the configured retries)."""


@dataclass(frozen=True, slots=True)
class ServiceFailed:
    """The request ended without success. ``error`` is the exception an adapter raises; the other
    fields give the cause as the standard's enumerations (see :class:`FailureKind`)."""

    request: Request
    kind: FailureKind
    error: ClientError
    data_access_result: DataAccessResult | None = None
    action_result: ActionResult | None = None
    state_error: StateError | None = None
    service_error: ExceptionServiceError | None = None
    confirmed_service: ConfirmedService | None = None
    confirmed_error: ServiceError | None = None
    association_result: AssociationResult | None = None
    diagnostic: AssociateSourceDiagnostic | None = None


@dataclass(frozen=True, slots=True)
class AssociationExpired:
    """The association stayed idle for the inactivity timeout: the core considers it gone (state
    IDLE; the next request needs an AARQ). See docs/decisions/0085."""

    idle_since: float


ClientEvent = (
    AssociationEstablished
    | ReleaseCompleted
    | GetCompleted
    | GetWithListCompleted
    | SetCompleted
    | SetWithListCompleted
    | ActionCompleted
    | ActionWithListCompleted
    | ReadCompleted
    | WriteCompleted
    | ServiceFailed
    | AssociationExpired
)
"""Every event the client core produces."""


def failure_of(request: Request, error: ClientError) -> ServiceFailed:
    """The :class:`ServiceFailed` event describing ``error`` (raised by the core for ``request``)."""
    if isinstance(error, AccessError):
        result = error.result
        if isinstance(result, ActionResult):
            return ServiceFailed(request, FailureKind.ACCESS, error, action_result=result)
        return ServiceFailed(request, FailureKind.ACCESS, error, data_access_result=result)
    if isinstance(error, AssociationRejected):
        return ServiceFailed(
            request,
            FailureKind.ASSOCIATION_REJECTED,
            error,
            association_result=error.result,
            diagnostic=error.diagnostic,
            confirmed_error=error.service_error,
        )
    if isinstance(error, ServiceErrorResponse):
        if error.state_error is not None or error.service_error is not None:
            return ServiceFailed(
                request,
                FailureKind.EXCEPTION_RESPONSE,
                error,
                state_error=error.state_error,
                service_error=error.service_error,
            )
        if error.confirmed_error is not None:
            return ServiceFailed(
                request,
                FailureKind.CONFIRMED_SERVICE_ERROR,
                error,
                confirmed_service=error.confirmed_service,
                confirmed_error=error.confirmed_error,
            )
        return ServiceFailed(request, FailureKind.PROTOCOL, error)
    if isinstance(error, ClientSecurityError):
        return ServiceFailed(request, FailureKind.SECURITY, error)
    if isinstance(error, ClientTimeout):
        return ServiceFailed(request, FailureKind.TIMEOUT, error)
    return ServiceFailed(request, FailureKind.PROTOCOL, error)
