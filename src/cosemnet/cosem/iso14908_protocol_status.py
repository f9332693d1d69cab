"""ISO/IEC 14908 protocol status (class_id 132, version 0; IEC 62056-8-8 Annex B).

Logical name 0-b:32.2.0*255. Attributes (counters of the 14908 stack): 2 transmission_errors,
3 transmit_tx_failure, 4 transmit_tx_retries, 5 receive_tx_full, 6 lost_messages, 7 missed_messages,
8 layer2_received, 9 layer3_received (long-unsigned); 10 messages_received, 11 messages_validated
(double-long-unsigned). No methods.

Values come from a ``provider`` returning :class:`Iso14908ProtocolStatusValues` (read at each GET),
else from ``values``. Design choices: read-only through DLMS; counters beyond the type's maximum
are reported saturated at the maximum.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import astuple, dataclass
from typing import ClassVar

from cosemnet.codec.obis import Obis
from cosemnet.codec.types import DataValue, DoubleLongUnsigned, LongUnsigned
from cosemnet.cosem.base import LOGICAL_NAME_DEF, AttributeDef, InterfaceClass, SelectiveAccess
from cosemnet.cosem.context import AccessContext


@dataclass(frozen=True, slots=True)
class Iso14908ProtocolStatusValues:
    transmission_errors: int = 0
    transmit_tx_failure: int = 0
    transmit_tx_retries: int = 0
    receive_tx_full: int = 0
    lost_messages: int = 0
    missed_messages: int = 0
    layer2_received: int = 0
    layer3_received: int = 0
    messages_received: int = 0
    messages_validated: int = 0


class Iso14908ProtocolStatus(InterfaceClass):
    """ISO/IEC 14908 protocol status."""

    CLASS_ID: ClassVar[int] = 132
    VERSION: ClassVar[int] = 0
    ATTRIBUTES: ClassVar[tuple[AttributeDef, ...]] = (
        LOGICAL_NAME_DEF,
        AttributeDef(2, "transmission_errors", False, 0x08),
        AttributeDef(3, "transmit_tx_failure", False, 0x10),
        AttributeDef(4, "transmit_tx_retries", False, 0x18),
        AttributeDef(5, "receive_tx_full", False, 0x20),
        AttributeDef(6, "lost_messages", False, 0x28),
        AttributeDef(7, "missed_messages", False, 0x30),
        AttributeDef(8, "layer2_received", False, 0x38),
        AttributeDef(9, "layer3_received", False, 0x40),
        AttributeDef(10, "messages_received", False, 0x48),
        AttributeDef(11, "messages_validated", False, 0x50),
    )

    def __init__(
        self,
        logical_name: Obis | str | bytes = "0-0:32.2.0*255",
        values: Iso14908ProtocolStatusValues | None = None,
        *,
        provider: Callable[[], Iso14908ProtocolStatusValues] | None = None,
        base_name: int | None = None,
    ) -> None:
        super().__init__(logical_name, base_name=base_name)
        self.values = values or Iso14908ProtocolStatusValues()
        self.provider = provider

    def current(self) -> Iso14908ProtocolStatusValues:
        return self.provider() if self.provider is not None else self.values

    def _get(self, index: int, ctx: AccessContext, selective_access: SelectiveAccess | None) -> DataValue:
        value = int(astuple(self.current())[index - 2])
        cls = LongUnsigned if index <= 9 else DoubleLongUnsigned
        return cls(max(0, min(value, cls.maximum)))


__all__ = ["Iso14908ProtocolStatus", "Iso14908ProtocolStatusValues"]
