"""Demand register (class_id 5, version 0): average of a quantity over periods (block or sliding).

Attributes: 2 current_average_value, 3 last_average_value, 4 scaler_unit, 5 status, 6 capture_time,
7 start_time_current, 8 period (double-long-unsigned, seconds), 9 number_of_periods (long-unsigned).
Methods: 1 reset (x + 0x48), 2 next_period (x + 0x50).

The meter feeds the measured quantity with :meth:`DemandRegister.add` (value * seconds is
integrated) and calls :meth:`DemandRegister.tick` at :meth:`DemandRegister.next_deadline` (sans-IO:
the model keeps no timer). Design choices (the Blue Book gives the principle only):

* ``current_average_value`` = (integral over the completed periods still in the window + integral
  since ``start_time_current``) / (number_of_periods * period); with number_of_periods = 1 this is
  the block demand of the running period, otherwise the sliding demand;
* closing a period (tick or next_period) copies the current average to ``last_average_value``, sets
  ``capture_time`` and ``start_time_current`` to the meter's timestamp, and slides the window;
* values are stored in physical units and shown as ``value_type`` after dividing by 10**scaler
  (rounded for integer types);
* a SET of ``period`` or ``number_of_periods`` restarts the measurement (window cleared);
* if ``tick`` is late by several periods, the skipped periods close with no energy.
"""

from __future__ import annotations

import datetime as _dt
from collections import deque
from typing import ClassVar

from cosemnet.codec.datetime import CosemDateTime
from cosemnet.codec.obis import Obis
from cosemnet.codec.types import (
    DataValue,
    DoubleLongUnsigned,
    Enumerated,
    Float32,
    Integer,
    LongUnsigned,
    TypedInt,
    Unsigned,
)
from cosemnet.cosem.base import (
    LOGICAL_NAME_DEF,
    AttributeDef,
    InterfaceClass,
    MethodDef,
    SelectiveAccess,
    read_only,
)
from cosemnet.cosem.context import AccessContext
from cosemnet.cosem.extended_register import default_status
from cosemnet.cosem.register import Unit, check_zero_parameter
from cosemnet.cosem.results import type_unmatched
from cosemnet.cosem.values import as_int, as_struct, date_time_bytes


class DemandRegister(InterfaceClass):
    """Demand register."""

    CLASS_ID: ClassVar[int] = 5
    VERSION: ClassVar[int] = 0
    ATTRIBUTES: ClassVar[tuple[AttributeDef, ...]] = (
        LOGICAL_NAME_DEF,
        AttributeDef(2, "current_average_value", False, 0x08),
        AttributeDef(3, "last_average_value", False, 0x10),
        AttributeDef(4, "scaler_unit", True, 0x18),
        AttributeDef(5, "status", False, 0x20),
        AttributeDef(6, "capture_time", False, 0x28),
        AttributeDef(7, "start_time_current", False, 0x30),
        AttributeDef(8, "period", True, 0x38),
        AttributeDef(9, "number_of_periods", True, 0x40),
    )
    METHODS: ClassVar[tuple[MethodDef, ...]] = (
        MethodDef(1, "reset", 0x48),
        MethodDef(2, "next_period", 0x50),
    )

    def __init__(
        self,
        logical_name: Obis | str | bytes,
        period: int = 900,
        number_of_periods: int = 1,
        scaler: int = 0,
        unit: int = Unit.WATT,
        *,
        value_type: type[TypedInt] | type[Float32] | type[float] = DoubleLongUnsigned,
        status: DataValue = None,
        base_name: int | None = None,
    ) -> None:
        super().__init__(logical_name, base_name=base_name)
        if period <= 0 or number_of_periods <= 0:
            raise ValueError("period and number_of_periods must be positive")
        self.period = period
        self.number_of_periods = number_of_periods
        self.scaler = scaler
        self.unit = unit
        self.value_type = value_type
        self.status: DataValue = Unsigned(0) if status is None else status
        self.capture_time: CosemDateTime | None = None
        self.start_time_current: CosemDateTime | None = None
        self._period_start: _dt.datetime | None = None
        self._integral = 0.0
        self._window: deque[float] = deque(maxlen=max(number_of_periods - 1, 0))
        self._last_average = 0.0

    # ----------------------------------------------------------------------------------------------
    # Meter side

    def start(self, ctx: AccessContext) -> None:
        """Start measuring at ``ctx.now`` (called implicitly by the first add/tick)."""
        self._period_start = ctx.now
        self.start_time_current = ctx.effects.timestamp(ctx)

    def add(self, quantity: float, seconds: float, ctx: AccessContext) -> None:
        """Integrate ``quantity`` (in physical units, e.g. W) held for ``seconds``."""
        if self._period_start is None:
            self.start(ctx)
        self._integral += quantity * seconds

    def next_deadline(self) -> _dt.datetime | None:
        """When the running period ends (None before the first add/start)."""
        if self._period_start is None:
            return None
        return self._period_start + _dt.timedelta(seconds=self.period)

    def tick(self, ctx: AccessContext) -> int:
        """Close every period that ended by ``ctx.now``; returns how many were closed."""
        if self._period_start is None:
            self.start(ctx)
            return 0
        closed = 0
        step = _dt.timedelta(seconds=self.period)
        while ctx.now >= self._period_start + step:
            self._close_period(ctx, self._period_start + step)
            closed += 1
        return closed

    @property
    def current_average(self) -> float:
        """Current average in physical units."""
        return (sum(self._window) + self._integral) / (self.number_of_periods * self.period)

    @property
    def last_average(self) -> float:
        return self._last_average

    def _close_period(self, ctx: AccessContext, new_start: _dt.datetime) -> None:
        self._last_average = self.current_average
        if self._window.maxlen:
            self._window.append(self._integral)
        self._integral = 0.0
        self._period_start = new_start
        stamp = ctx.effects.timestamp(ctx)
        self.capture_time = stamp
        self.start_time_current = stamp

    def _restart(self, ctx: AccessContext) -> None:
        self._window = deque(maxlen=max(self.number_of_periods - 1, 0))
        self._integral = 0.0
        self._period_start = ctx.now
        stamp = ctx.effects.timestamp(ctx)
        self.capture_time = stamp
        self.start_time_current = stamp

    # ----------------------------------------------------------------------------------------------
    # Attributes

    def _as_value(self, physical: float) -> DataValue:
        scaled = physical / 10.0**self.scaler
        if self.value_type is float:
            return scaled
        if self.value_type is Float32:
            return Float32(scaled)
        cls: type[TypedInt] = self.value_type  # type: ignore[assignment]
        return cls(max(cls.minimum, min(cls.maximum, round(scaled))))

    def _get(self, index: int, ctx: AccessContext, selective_access: SelectiveAccess | None) -> DataValue:
        if index == 2:
            return self._as_value(self.current_average)
        if index == 3:
            return self._as_value(self._last_average)
        if index == 4:
            return (Integer(self.scaler), Enumerated(self.unit))
        if index == 5:
            return self.status
        if index == 6:
            return date_time_bytes(self.capture_time)
        if index == 7:
            return date_time_bytes(self.start_time_current)
        if index == 8:
            return DoubleLongUnsigned(self.period)
        return LongUnsigned(self.number_of_periods)

    def _set(self, index: int, value: DataValue, ctx: AccessContext) -> None:
        if index == 4:
            scaler, unit = as_struct(value, 2, "scaler_unit")
            self.scaler = as_int(scaler, Integer, "scaler")
            self.unit = as_int(unit, Enumerated, "unit")
        elif index == 8:
            period = as_int(value, DoubleLongUnsigned, "period")
            if period == 0:
                raise type_unmatched("period must be positive")
            self.period = period
            self._restart(ctx)
        elif index == 9:
            n = as_int(value, LongUnsigned, "number_of_periods")
            if n == 0:
                raise type_unmatched("number_of_periods must be at least 1")
            self.number_of_periods = n
            self._restart(ctx)
        else:
            raise read_only(index)

    def _action(self, index: int, parameter: DataValue, ctx: AccessContext) -> DataValue | None:
        check_zero_parameter(parameter)
        if index == 1:
            self._last_average = 0.0
            self.status = default_status(self.status)
            self._restart(ctx)
        else:
            if self._period_start is None:
                self.start(ctx)
            self._close_period(ctx, ctx.now)
        return None


__all__ = ["DemandRegister"]
