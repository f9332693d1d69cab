"""Push setup (class_id 40, version 0): what to push, where and how.

Attributes: 2 push_object_list (array of capture_object_definition), 3 send_destination_and_method
{transport_service enum, destination octet-string, message enum}, 4 communication_window (array of
{start date-time, end date-time} octet-strings), 5 randomisation_start_interval long-unsigned (s),
6 number_of_retries unsigned, 7 repetition_delay long-unsigned (s). Method 1 push (integer 0) at
x + 0x38.

The push method builds the DataNotification body, a structure of the push_object_list values read
through ``ctx.effects.read_attribute`` (attribute_index 0 = every attribute of the object as a
structure, as the Blue Book defines for push_object_list; data_index n > 0 = element n), and hands it
to ``ctx.effects.send_push``; the application layer wraps it in a DataNotification and applies
randomisation, retries and windows (helpers: :meth:`PushSetup.in_window`).

Design choices: a push object that cannot be read is sent as null-data; an empty
communication_window means "always"; a window with a wildcard date is a daily window; the version 2
forms (repetition_delay structure, push_client_SAP, protection parameters, confirmation) are not
implemented.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import ClassVar

from cosemnet.codec.datetime import NOT_SPECIFIED, YEAR_NOT_SPECIFIED, CosemDateTime
from cosemnet.codec.obis import Obis
from cosemnet.codec.types import DataValue, Enumerated, LongUnsigned, Unsigned
from cosemnet.cosem.base import LOGICAL_NAME_DEF, AttributeDef, InterfaceClass, MethodDef, SelectiveAccess
from cosemnet.cosem.common import (
    CaptureObjectDefinition,
    describe_capture_object,
    parse_capture_object,
    select_element,
)
from cosemnet.cosem.context import AccessContext
from cosemnet.cosem.register import check_zero_parameter
from cosemnet.cosem.results import CosemAccessError, type_unmatched
from cosemnet.cosem.selective import date_time_key
from cosemnet.cosem.values import as_array, as_date_time, as_int, as_octet_string, as_struct


class TransportService(IntEnum):
    TCP = 0
    UDP = 1
    FTP = 2
    SMTP = 3
    SMS = 4
    HDLC = 5
    M_BUS = 6
    ZIGBEE = 7
    DLMS_GATEWAY = 8


class MessageType(IntEnum):
    A_XDR_XDLMS_APDU = 0
    XML_XDLMS_APDU = 1


@dataclass(frozen=True, slots=True)
class SendDestinationAndMethod:
    transport_service: TransportService = TransportService.TCP
    destination: bytes = b""
    message: MessageType = MessageType.A_XDR_XDLMS_APDU

    def to_data(self) -> DataValue:
        return (Enumerated(self.transport_service), self.destination, Enumerated(self.message))

    @classmethod
    def from_data(cls, value: DataValue) -> SendDestinationAndMethod:
        service, destination, message = as_struct(value, 3, "send_destination_and_method")
        try:
            return cls(
                TransportService(as_int(service, Enumerated, "transport_service")),
                as_octet_string(destination, what="destination"),
                MessageType(as_int(message, Enumerated, "message")),
            )
        except ValueError:
            raise type_unmatched("unknown transport_service or message type") from None


Window = tuple[CosemDateTime, CosemDateTime]


class PushSetup(InterfaceClass):
    """Push setup (version 0)."""

    CLASS_ID: ClassVar[int] = 40
    VERSION: ClassVar[int] = 0
    ATTRIBUTES: ClassVar[tuple[AttributeDef, ...]] = (
        LOGICAL_NAME_DEF,
        AttributeDef(2, "push_object_list", True, 0x08),
        AttributeDef(3, "send_destination_and_method", True, 0x10),
        AttributeDef(4, "communication_window", True, 0x18),
        AttributeDef(5, "randomisation_start_interval", True, 0x20),
        AttributeDef(6, "number_of_retries", True, 0x28),
        AttributeDef(7, "repetition_delay", True, 0x30),
    )
    METHODS: ClassVar[tuple[MethodDef, ...]] = (MethodDef(1, "push", 0x38),)

    def __init__(
        self,
        logical_name: Obis | str | bytes = "0-0:25.9.0*255",
        push_object_list: Sequence[CaptureObjectDefinition] = (),
        send_destination_and_method: SendDestinationAndMethod | None = None,
        communication_window: Sequence[Window] = (),
        randomisation_start_interval: int = 0,
        number_of_retries: int = 0,
        repetition_delay: int = 0,
        *,
        base_name: int | None = None,
    ) -> None:
        super().__init__(logical_name, base_name=base_name)
        self.push_object_list: list[CaptureObjectDefinition] = list(push_object_list)
        self.send_destination_and_method = send_destination_and_method or SendDestinationAndMethod()
        self.communication_window: list[Window] = list(communication_window)
        self.randomisation_start_interval = randomisation_start_interval
        self.number_of_retries = number_of_retries
        self.repetition_delay = repetition_delay

    def in_window(self, local: CosemDateTime) -> bool:
        """True when ``local`` (the meter's time) falls in a communication window (or none is set)."""
        if not self.communication_window:
            return True
        return any(_window_contains(start, end, local) for start, end in self.communication_window)

    def body(self, ctx: AccessContext) -> DataValue:
        """The DataNotification body: a structure of the push object values."""
        return tuple(self._value(item, ctx) for item in self.push_object_list)

    def _value(self, item: CaptureObjectDefinition, ctx: AccessContext) -> DataValue:
        try:
            value = ctx.effects.read_attribute(
                item.class_id, item.logical_name, item.attribute_index, ctx.internal()
            )
            return select_element(value, item.data_index, describe_capture_object(item))
        except CosemAccessError:
            return None

    def push(self, ctx: AccessContext) -> DataValue:
        """Build the body and hand it to ``ctx.effects.send_push``; returns the body."""
        body = self.body(ctx)
        ctx.effects.send_push(self, body, ctx)
        return body

    def _get(self, index: int, ctx: AccessContext, selective_access: SelectiveAccess | None) -> DataValue:
        if index == 2:
            return [c.to_data() for c in self.push_object_list]
        if index == 3:
            return self.send_destination_and_method.to_data()
        if index == 4:
            return [(s.to_bytes(), e.to_bytes()) for s, e in self.communication_window]
        if index == 5:
            return LongUnsigned(self.randomisation_start_interval)
        if index == 6:
            return Unsigned(self.number_of_retries)
        return LongUnsigned(self.repetition_delay)

    def _set(self, index: int, value: DataValue, ctx: AccessContext) -> None:
        if index == 2:
            self.push_object_list = [
                parse_capture_object(v, "push_object_list") for v in as_array(value, "push_object_list")
            ]
        elif index == 3:
            self.send_destination_and_method = SendDestinationAndMethod.from_data(value)
        elif index == 4:
            windows: list[Window] = []
            for item in as_array(value, "communication_window"):
                start, end = as_struct(item, 2, "window_element")
                windows.append((as_date_time(start, "start"), as_date_time(end, "end")))
            self.communication_window = windows
        elif index == 5:
            self.randomisation_start_interval = as_int(value, LongUnsigned, "randomisation_start_interval")
        elif index == 6:
            self.number_of_retries = as_int(value, Unsigned, "number_of_retries")
        else:
            self.repetition_delay = as_int(value, LongUnsigned, "repetition_delay")

    def _action(self, index: int, parameter: DataValue, ctx: AccessContext) -> DataValue | None:
        check_zero_parameter(parameter)
        self.push(ctx)
        return None


def _seconds_of_day(value: CosemDateTime) -> int:
    def f(v: int) -> int:
        return 0 if v == NOT_SPECIFIED else v

    return f(value.hour) * 3600 + f(value.minute) * 60 + f(value.second)


def _window_contains(start: CosemDateTime, end: CosemDateTime, local: CosemDateTime) -> bool:
    """Design choice: a window whose start or end has a wildcard date is a daily window (times of
    day compared, possibly across midnight); otherwise the instants are compared."""
    wildcard = any(v.year == YEAR_NOT_SPECIFIED or NOT_SPECIFIED in (v.month, v.day) for v in (start, end))
    if not wildcard:
        return date_time_key(start) <= date_time_key(local) <= date_time_key(end)
    low, high, now = _seconds_of_day(start), _seconds_of_day(end), _seconds_of_day(local)
    if low <= high:
        return low <= now <= high
    return now >= low or now <= high


def randomised_delay(setup: PushSetup, random_fraction: float) -> _dt.timedelta:
    """The start delay for a push: ``random_fraction`` (0..1, drawn by the caller) of the
    randomisation_start_interval. The model draws no random numbers itself."""
    if not 0.0 <= random_fraction <= 1.0:
        raise ValueError("random_fraction must be in 0..1")
    return _dt.timedelta(seconds=setup.randomisation_start_interval * random_fraction)


__all__ = [
    "MessageType",
    "PushSetup",
    "SendDestinationAndMethod",
    "TransportService",
    "Window",
    "randomised_delay",
]
