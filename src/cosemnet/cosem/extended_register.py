"""Extended register (class_id 4, version 0): a register with a status and the capture time.

Attributes: 2 value, 3 scaler_unit, 4 status (CHOICE: bit-string, unsigned, long-unsigned,
double-long-unsigned, octet-string, visible-string, ...), 5 capture_time (octet-string, date-time).
Method 1 ``reset``: value and status to their defaults, capture_time to the current time.

The meter updates the register with :meth:`ExtendedRegister.update`, which stamps capture_time with
``ctx.effects.timestamp(ctx)``. ``status`` and ``capture_time`` are maintained by the meter (SET refused).
"""

from __future__ import annotations

from typing import ClassVar

from cosemnet.codec.datetime import CosemDateTime
from cosemnet.codec.obis import Obis
from cosemnet.codec.types import BitString, DataValue, Unsigned
from cosemnet.cosem.base import AttributeDef, MethodDef, SelectiveAccess, read_only
from cosemnet.cosem.context import AccessContext
from cosemnet.cosem.register import Register, Unit, default_of
from cosemnet.cosem.values import date_time_bytes


def default_status(status: DataValue) -> DataValue:
    """The reset value of a status: all bits / the number cleared."""
    if type(status) is BitString:
        return BitString(bytes(len(status.data)), status.length)
    return default_of(status) if status is not None else None


class ExtendedRegister(Register):
    """Extended register: 2 value, 3 scaler_unit, 4 status, 5 capture_time; method 1 reset."""

    CLASS_ID: ClassVar[int] = 4
    VERSION: ClassVar[int] = 0
    ATTRIBUTES: ClassVar[tuple[AttributeDef, ...]] = (
        *Register.ATTRIBUTES,
        AttributeDef(4, "status", False, 0x18),
        AttributeDef(5, "capture_time", False, 0x20),
    )
    METHODS: ClassVar[tuple[MethodDef, ...]] = (MethodDef(1, "reset", 0x38),)

    def __init__(
        self,
        logical_name: Obis | str | bytes,
        value: DataValue = None,
        scaler: int = 0,
        unit: int = Unit.COUNT,
        status: DataValue = None,
        *,
        base_name: int | None = None,
    ) -> None:
        super().__init__(logical_name, value, scaler, unit, base_name=base_name)
        self.status: DataValue = Unsigned(0) if status is None else status
        self.capture_time: CosemDateTime | None = None

    def update(self, value: DataValue, ctx: AccessContext, status: DataValue = None) -> None:
        """The meter stores a new value (and status when given); capture_time becomes now."""
        self.value = value
        if status is not None:
            self.status = status
        self.capture_time = ctx.effects.timestamp(ctx)

    def _reset(self, ctx: AccessContext) -> None:
        super()._reset(ctx)
        self.status = default_status(self.status)
        self.capture_time = ctx.effects.timestamp(ctx)

    def _get(self, index: int, ctx: AccessContext, selective_access: SelectiveAccess | None) -> DataValue:
        if index == 4:
            return self.status
        if index == 5:
            return date_time_bytes(self.capture_time)
        return super()._get(index, ctx, selective_access)

    def _set(self, index: int, value: DataValue, ctx: AccessContext) -> None:
        if index in (4, 5):
            raise read_only(index)
        super()._set(index, value, ctx)


__all__ = ["ExtendedRegister", "default_status"]
