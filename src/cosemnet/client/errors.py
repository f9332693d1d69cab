"""The client exception family: everything the client raises on purpose derives from :class:`ClientError`.

======================  ===============================================================================
exception               when
======================  ===============================================================================
AssociationRejected     the AARE refused the association (``result`` and ``diagnostic`` of the AARE)
AccessError             a GET/SET/ACTION/Read/Write answered a Data-Access-Result / Action-Result error
ClientTimeout           no answer in time (raised by the I/O adapters, never by the sans-IO connection)
ProtocolError           an answer that does not fit the request (wrong APDU, invoke-id, bad bytes...)
ServiceErrorResponse    the server answered exception-response or confirmed-service-error
ClientSecurityError     a protected answer did not verify (tag, replay, downgrade) or HLS failed
======================  ===============================================================================

Messages never carry key material.
"""

from __future__ import annotations

from cosemnet.codec.acse import AssociateSourceDiagnostic, AssociationResult
from cosemnet.codec.service_error import ConfirmedService, ServiceError
from cosemnet.codec.xdlms.common import ActionResult, DataAccessResult
from cosemnet.codec.xdlms.exception import ExceptionServiceError, StateError
from cosemnet.errors import CosemnetError


def dlms_name(value: DataAccessResult | ActionResult | AssociateSourceDiagnostic) -> str:
    """``read-write-denied``-style name of a result code."""
    return value.name.lower().replace("_", "-")


class ClientError(CosemnetError):
    """Base of every error of the client."""


class AssociationRejected(ClientError):
    """The server rejected the association request."""

    def __init__(
        self,
        result: AssociationResult,
        diagnostic: AssociateSourceDiagnostic | None,
        detail: str = "",
        service_error: ServiceError | None = None,
    ) -> None:
        self.result = result
        self.diagnostic = diagnostic
        self.detail = detail
        self.service_error = service_error
        """The confirmed-service-error of the AARE's user-information, when it carried one."""
        text = f"association rejected ({dlms_name_result(result)})"
        if diagnostic is not None:
            text += f": {diagnostic.detail.name.lower().replace('_', '-')}"
        if detail:
            text += f" ({detail})"
        super().__init__(text)


def dlms_name_result(result: AssociationResult) -> str:
    return result.name.lower().replace("_", "-")


class AccessError(ClientError):
    """An attribute access or a method invocation failed with ``result``; ``target`` names what was
    accessed (``"3/1-0:1.8.0*255/2"``)."""

    def __init__(self, result: DataAccessResult | ActionResult, target: str = "") -> None:
        self.result = result
        self.target = target
        text = dlms_name(result)
        if target:
            text = f"{target}: {text}"
        super().__init__(text)


class ClientTimeout(ClientError):
    """No (complete) answer arrived in time."""


class ProtocolError(ClientError):
    """The peer's answer does not fit the exchange in progress."""


class ServiceErrorResponse(ProtocolError):
    """The server answered with an exception-response (``state_error``, ``service_error``) or a
    confirmed-service-error (``confirmed_service``, ``confirmed_error``); the other pair is None."""

    def __init__(
        self,
        message: str,
        *,
        state_error: StateError | None = None,
        service_error: ExceptionServiceError | None = None,
        confirmed_service: ConfirmedService | None = None,
        confirmed_error: ServiceError | None = None,
    ) -> None:
        super().__init__(message)
        self.state_error = state_error
        self.service_error = service_error
        self.confirmed_service = confirmed_service
        self.confirmed_error = confirmed_error


class ClientSecurityError(ClientError):
    """Authentication of the server or of a protected answer failed."""


__all__ = [
    "AccessError",
    "AssociationRejected",
    "ClientError",
    "ClientSecurityError",
    "ClientTimeout",
    "ProtocolError",
    "ServiceErrorResponse",
    "dlms_name",
]
