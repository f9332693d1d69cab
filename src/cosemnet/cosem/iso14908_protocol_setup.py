"""ISO/IEC 14908 protocol setup (class_id 131, version 0; IEC 62056-8-8 Annex B).

Logical name 0-b:32.1.0*255. Attribute 2 inactivity_timeout long-unsigned: minutes without
adaptation-layer messages from the NNAP (data concentrator) before the LNAP (meter) counts itself as
out of communication. No methods. The LON stack reads :attr:`Iso14908ProtocolSetup.inactivity_timeout`
(or registers ``on_change``, called after a successful SET).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from cosemnet.codec.obis import Obis
from cosemnet.codec.types import DataValue, LongUnsigned
from cosemnet.cosem.base import LOGICAL_NAME_DEF, AttributeDef, InterfaceClass, SelectiveAccess
from cosemnet.cosem.context import AccessContext
from cosemnet.cosem.values import as_int


class Iso14908ProtocolSetup(InterfaceClass):
    """ISO/IEC 14908 protocol setup."""

    CLASS_ID: ClassVar[int] = 131
    VERSION: ClassVar[int] = 0
    ATTRIBUTES: ClassVar[tuple[AttributeDef, ...]] = (
        LOGICAL_NAME_DEF,
        AttributeDef(2, "inactivity_timeout", True, 0x08),
    )

    def __init__(
        self,
        logical_name: Obis | str | bytes = "0-0:32.1.0*255",
        inactivity_timeout: int = 60,
        *,
        on_change: Callable[[int], None] | None = None,
        base_name: int | None = None,
    ) -> None:
        super().__init__(logical_name, base_name=base_name)
        LongUnsigned(inactivity_timeout)
        self.inactivity_timeout = inactivity_timeout
        self.on_change = on_change

    def _get(self, index: int, ctx: AccessContext, selective_access: SelectiveAccess | None) -> DataValue:
        return LongUnsigned(self.inactivity_timeout)

    def _set(self, index: int, value: DataValue, ctx: AccessContext) -> None:
        self.inactivity_timeout = as_int(value, LongUnsigned, "inactivity_timeout")
        if self.on_change is not None:
            self.on_change(self.inactivity_timeout)


__all__ = ["Iso14908ProtocolSetup"]
