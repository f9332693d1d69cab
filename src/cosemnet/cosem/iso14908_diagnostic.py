"""ISO/IEC 14908 diagnostic (class_id 133, version 0; IEC 62056-8-8 Annex B).

Logical name 0-b:32.3.0*255. Attributes: 2 plc_signal_quality_status enum, 3 com_module_state enum,
4 received_message_status unsigned, 5 no_receive_buffer, 6 transmit_no_data, 7 backlog_overflows,
8 late_ack, 9 frequency_invalid (long-unsigned). No methods.

Values come from a ``provider`` returning :class:`Iso14908DiagnosticValues`, else from ``values``.
Design choices: the enumeration values of :class:`PlcSignalQuality` and :class:`ComModuleState`
(nothing public defines them; they follow the 14908-1 node states); read-only through DLMS;
counters saturate at the type's maximum.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import ClassVar

from cosemnet.codec.obis import Obis
from cosemnet.codec.types import DataValue, Enumerated, LongUnsigned, Unsigned
from cosemnet.cosem.base import LOGICAL_NAME_DEF, AttributeDef, InterfaceClass, SelectiveAccess
from cosemnet.cosem.context import AccessContext


class PlcSignalQuality(IntEnum):
    """[design] Quality of the power-line signal as the transceiver reports it."""

    NOT_AVAILABLE = 0
    GOOD = 1
    MARGINAL = 2
    POOR = 3
    NO_SIGNAL = 4


class ComModuleState(IntEnum):
    """[design] State of the 14908 communication module (after the 14908-1 node states)."""

    UNKNOWN = 0
    APPLICATIONLESS = 1
    UNCONFIGURED = 2
    CONFIGURED_ONLINE = 3
    CONFIGURED_OFFLINE = 4
    HARD_OFFLINE = 5


@dataclass(frozen=True, slots=True)
class Iso14908DiagnosticValues:
    plc_signal_quality_status: PlcSignalQuality = PlcSignalQuality.NOT_AVAILABLE
    com_module_state: ComModuleState = ComModuleState.UNKNOWN
    received_message_status: int = 0
    no_receive_buffer: int = 0
    transmit_no_data: int = 0
    backlog_overflows: int = 0
    late_ack: int = 0
    frequency_invalid: int = 0


def _saturate(cls: type[Unsigned] | type[LongUnsigned], value: int) -> DataValue:
    return cls(max(0, min(value, cls.maximum)))


class Iso14908Diagnostic(InterfaceClass):
    """ISO/IEC 14908 diagnostic."""

    CLASS_ID: ClassVar[int] = 133
    VERSION: ClassVar[int] = 0
    ATTRIBUTES: ClassVar[tuple[AttributeDef, ...]] = (
        LOGICAL_NAME_DEF,
        AttributeDef(2, "plc_signal_quality_status", False, 0x08),
        AttributeDef(3, "com_module_state", False, 0x10),
        AttributeDef(4, "received_message_status", False, 0x18),
        AttributeDef(5, "no_receive_buffer", False, 0x20),
        AttributeDef(6, "transmit_no_data", False, 0x28),
        AttributeDef(7, "backlog_overflows", False, 0x30),
        AttributeDef(8, "late_ack", False, 0x38),
        AttributeDef(9, "frequency_invalid", False, 0x40),
    )

    def __init__(
        self,
        logical_name: Obis | str | bytes = "0-0:32.3.0*255",
        values: Iso14908DiagnosticValues | None = None,
        *,
        provider: Callable[[], Iso14908DiagnosticValues] | None = None,
        base_name: int | None = None,
    ) -> None:
        super().__init__(logical_name, base_name=base_name)
        self.values = values or Iso14908DiagnosticValues()
        self.provider = provider

    def current(self) -> Iso14908DiagnosticValues:
        return self.provider() if self.provider is not None else self.values

    def _get(self, index: int, ctx: AccessContext, selective_access: SelectiveAccess | None) -> DataValue:
        v = self.current()
        if index == 2:
            return Enumerated(v.plc_signal_quality_status)
        if index == 3:
            return Enumerated(v.com_module_state)
        if index == 4:
            return _saturate(Unsigned, v.received_message_status)
        counters = (
            v.no_receive_buffer,
            v.transmit_no_data,
            v.backlog_overflows,
            v.late_ack,
            v.frequency_invalid,
        )
        return _saturate(LongUnsigned, counters[index - 5])


__all__ = [
    "ComModuleState",
    "Iso14908Diagnostic",
    "Iso14908DiagnosticValues",
    "PlcSignalQuality",
]
