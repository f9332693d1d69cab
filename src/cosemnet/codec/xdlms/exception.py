"""ExceptionResponse (tag 0xD8): a server's answer to an APDU it cannot process at all."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import ClassVar, Final, Self

from cosemnet.codec.axdr import Buffer
from cosemnet.codec.xdlms.common import XdlmsApdu, check_header, read_byte, read_u32, write_u32
from cosemnet.errors import DecodeError, EncodeError

__all__ = ["ExceptionResponse", "ExceptionServiceError", "StateError"]


class StateError(IntEnum):
    """state-error [0] ENUMERATED."""

    SERVICE_NOT_ALLOWED = 1
    SERVICE_UNKNOWN = 2


class ExceptionServiceError(IntEnum):
    """service-error [1] CHOICE: the alternative's tag (all are NULL except invocation-counter-error,
    which carries an Unsigned32)."""

    OPERATION_NOT_POSSIBLE = 1
    SERVICE_NOT_SUPPORTED = 2
    OTHER_REASON = 3
    PDU_TOO_LONG = 4
    DECIPHERING_ERROR = 5
    INVOCATION_COUNTER_ERROR = 6


_STATE_ERRORS: Final = {int(m): m for m in StateError}
_SERVICE_ERRORS: Final = {int(m): m for m in ExceptionServiceError}


@dataclass(slots=True)
class ExceptionResponse(XdlmsApdu):
    """EXCEPTION-Response {state-error, service-error}.

    ``invocation_counter`` is the Unsigned32 of invocation-counter-error [6] (the invocation counter the
    server expects); it must be given exactly when ``service_error`` is INVOCATION_COUNTER_ERROR.
    """

    TAG: ClassVar[int] = 0xD8

    state_error: StateError
    service_error: ExceptionServiceError
    invocation_counter: int | None = None

    def encode(self) -> bytes:
        state = _STATE_ERRORS.get(self.state_error)
        service = _SERVICE_ERRORS.get(self.service_error)
        if state is None or service is None:
            raise EncodeError(
                f"not a state-error / service-error: {self.state_error!r}, {self.service_error!r}"
            )
        out = bytearray((0xD8, state, service))
        if service is ExceptionServiceError.INVOCATION_COUNTER_ERROR:
            if self.invocation_counter is None:
                raise EncodeError("invocation-counter-error needs invocation_counter")
            write_u32(out, self.invocation_counter, "invocation counter")
        elif self.invocation_counter is not None:
            raise EncodeError("invocation_counter is only carried by invocation-counter-error")
        return bytes(out)

    @classmethod
    def decode_from(cls, data: Buffer, offset: int = 0) -> tuple[Self, int]:
        check_header(data, offset, 0xD8, None, "exception-response")
        raw = read_byte(data, offset + 1, "state-error")
        state = _STATE_ERRORS.get(raw)
        if state is None:
            raise DecodeError(f"unknown state-error {raw}", offset + 1, "1 or 2")
        raw = read_byte(data, offset + 2, "service-error")
        service = _SERVICE_ERRORS.get(raw)
        if service is None:
            raise DecodeError(f"unknown service-error {raw}", offset + 2, "1..6")
        if service is ExceptionServiceError.INVOCATION_COUNTER_ERROR:
            return cls(state, service, read_u32(data, offset + 3, "invocation counter")), offset + 7
        return cls(state, service), offset + 3
