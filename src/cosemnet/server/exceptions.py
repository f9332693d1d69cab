"""The internal exception that becomes an ExceptionResponse, and its usual causes."""

from __future__ import annotations

from typing import TypeVar

from cosemnet.codec.xdlms import ExceptionResponse, ExceptionServiceError, StateError
from cosemnet.errors import DecodeError

__all__ = ["ServiceException", "decode_request", "malformed", "not_allowed", "not_negotiated", "pdu_too_long"]

_T = TypeVar("_T")


class ServiceException(Exception):
    """Internal: answer with an ExceptionResponse."""

    def __init__(
        self, state: StateError, service: ExceptionServiceError, invocation_counter: int | None = None
    ) -> None:
        super().__init__(service.name)
        self.response = ExceptionResponse(state, service, invocation_counter)


def not_allowed() -> ServiceException:
    """A request before association or a service in the wrong state."""
    return ServiceException(StateError.SERVICE_NOT_ALLOWED, ExceptionServiceError.OPERATION_NOT_POSSIBLE)


def not_negotiated() -> ServiceException:
    """A service outside the negotiated conformance."""
    return ServiceException(StateError.SERVICE_NOT_ALLOWED, ExceptionServiceError.SERVICE_NOT_SUPPORTED)


def malformed() -> ServiceException:
    """A request that does not decode."""
    return ServiceException(StateError.SERVICE_NOT_ALLOWED, ExceptionServiceError.OTHER_REASON)


def pdu_too_long() -> ServiceException:
    return ServiceException(StateError.SERVICE_NOT_ALLOWED, ExceptionServiceError.PDU_TOO_LONG)


def decode_request(cls: type[_T], data: bytes) -> _T:
    """``cls.decode(data)``, a DecodeError becoming :func:`malformed`."""
    try:
        return cls.decode(data)  # type: ignore[attr-defined,no-any-return]
    except DecodeError:
        raise malformed() from None
