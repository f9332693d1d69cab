"""Clock (class_id 8, version 0): the meter's local date and time.

Attributes: 2 time (octet-string, date-time), 3 time_zone (long, minutes), 4 status (unsigned, clock
status), 5 daylight_savings_begin, 6 daylight_savings_end (octet-string, date-time with wildcards),
7 daylight_savings_deviation (integer, minutes), 8 daylight_savings_enabled (boolean),
9 clock_base (enum). Methods (x + 0x60 ...): 1 adjust_to_quarter, 2 adjust_to_measuring_period,
3 adjust_to_minute, 4 adjust_to_preset_time, 5 preset_adjusting_time, 6 shift_time.

Time source: the model never reads the system clock. ``AccessContext.now`` is the meter's reference
time (its real-time-clock reading); the Clock keeps only the correction a client applied
(``offset``), so the clock time is ``ctx.now + offset``. The simulator injects time by choosing
``ctx.now``.

Sign convention (as :mod:`cosemnet.codec.datetime`): ``deviation`` and ``time_zone`` are in minutes
of *local time to UTC*, ``UTC = local + deviation``; a meter on UTC+01:00 has time_zone -60. When
daylight saving is active the date-time's deviation is ``time_zone - daylight_savings_deviation``
and the status has bit 7 (daylight saving active) set.

Design choices where the standard is silent:

* DST begin/end wildcards: year 0xFFFF = every year; day 0xFE / 0xFD = last / second-last day of the
  month; a day of week with a day of month means the first such weekday on or after that day (on or
  before for last / second-last); unspecified hour/minute/second count as 0. DST begins at
  ``daylight_savings_begin`` in standard local time and ends at ``daylight_savings_end`` in daylight
  local time. A begin or end with an unspecified month disables DST;
* writing ``time`` with an unspecified deviation takes the clock's current deviation; every other
  field but hundredths and day of week must be specified (type-unmatched). Writing the time clears
  the invalid and doubtful status bits;
* adjust_to_quarter / adjust_to_measuring_period / adjust_to_minute round the local time to the
  nearest multiple (ties round up) counted from local midnight; the measuring period is the
  constructor's ``measuring_period`` (seconds, default 900);
* adjust_to_preset_time outside the validity interval, or with no preset, fails with other-reason;
* shift_time outside -900..900 s fails with other-reason.
"""

from __future__ import annotations

import calendar
import datetime as _dt
from enum import IntEnum
from typing import ClassVar

from cosemnet.codec.datetime import (
    DAY_LAST,
    DAY_SECOND_LAST,
    DEVIATION_NOT_SPECIFIED,
    NOT_SPECIFIED,
    YEAR_NOT_SPECIFIED,
    ClockStatus,
    CosemDateTime,
)
from cosemnet.codec.obis import Obis
from cosemnet.codec.types import DataValue, Enumerated, Integer, Long, Unsigned
from cosemnet.cosem.base import (
    LOGICAL_NAME_DEF,
    AttributeDef,
    InterfaceClass,
    MethodDef,
    SelectiveAccess,
    read_only,
)
from cosemnet.cosem.context import AccessContext
from cosemnet.cosem.register import check_zero_parameter
from cosemnet.cosem.results import ActionResult, CosemAccessError, type_unmatched
from cosemnet.cosem.values import as_bool, as_date_time, as_int, as_struct

CLOCK_LN = Obis(bytes((0, 0, 1, 0, 0, 255)))
EARLIEST_TIME = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)
LATEST_TIME = _dt.datetime(9000, 1, 1, tzinfo=_dt.UTC)  # see docs/decisions/0041
"""The instants the clock can be set to (cosemnet's limit, not the standard's: the clock and the
simulator do ``datetime`` arithmetic around them, which ends at year 9999; issue 9)."""


class ClockBase(IntEnum):
    NOT_DEFINED = 0
    INTERNAL_CRYSTAL = 1
    MAINS_50_HZ = 2
    MAINS_60_HZ = 3
    GPS = 4
    RADIO_CONTROLLED = 5


def resolve_dst_date(pattern: CosemDateTime, year: int) -> _dt.datetime | None:
    """The naive local instant a DST begin/end pattern denotes in ``year`` (None if it cannot)."""
    if pattern.year != YEAR_NOT_SPECIFIED and pattern.year != year:
        return None
    if not 1 <= pattern.month <= 12:
        return None
    last_day = calendar.monthrange(year, pattern.month)[1]
    dow = pattern.day_of_week
    if pattern.day in (DAY_LAST, DAY_SECOND_LAST):
        day = last_day if pattern.day == DAY_LAST else last_day - 1
        if dow != NOT_SPECIFIED:
            while _dt.date(year, pattern.month, day).isoweekday() != dow:
                day -= 1
    else:
        day = 1 if pattern.day == NOT_SPECIFIED else pattern.day
        if day > last_day:
            return None
        if dow != NOT_SPECIFIED:
            while _dt.date(year, pattern.month, day).isoweekday() != dow:
                day += 1
                if day > last_day:
                    return None

    def field(v: int) -> int:
        return 0 if v == NOT_SPECIFIED else v

    return _dt.datetime(
        year, pattern.month, day, field(pattern.hour), field(pattern.minute), field(pattern.second)
    )


class Clock(InterfaceClass):
    """Clock."""

    CLASS_ID: ClassVar[int] = 8
    VERSION: ClassVar[int] = 0
    ATTRIBUTES: ClassVar[tuple[AttributeDef, ...]] = (
        LOGICAL_NAME_DEF,
        AttributeDef(2, "time", False, 0x08),
        AttributeDef(3, "time_zone", True, 0x10),
        AttributeDef(4, "status", False, 0x18),
        AttributeDef(5, "daylight_savings_begin", True, 0x20),
        AttributeDef(6, "daylight_savings_end", True, 0x28),
        AttributeDef(7, "daylight_savings_deviation", True, 0x30),
        AttributeDef(8, "daylight_savings_enabled", True, 0x38),
        AttributeDef(9, "clock_base", True, 0x40),
    )
    METHODS: ClassVar[tuple[MethodDef, ...]] = (
        MethodDef(1, "adjust_to_quarter", 0x60),
        MethodDef(2, "adjust_to_measuring_period", 0x68),
        MethodDef(3, "adjust_to_minute", 0x70),
        MethodDef(4, "adjust_to_preset_time", 0x78),
        MethodDef(5, "preset_adjusting_time", 0x80),
        MethodDef(6, "shift_time", 0x88),
    )

    def __init__(
        self,
        logical_name: Obis | str | bytes = CLOCK_LN,
        time_zone: int = 0,
        *,
        daylight_savings_begin: CosemDateTime | None = None,
        daylight_savings_end: CosemDateTime | None = None,
        daylight_savings_deviation: int = 60,
        daylight_savings_enabled: bool = False,
        clock_base: ClockBase = ClockBase.INTERNAL_CRYSTAL,
        measuring_period: int = 900,
        base_name: int | None = None,
    ) -> None:
        super().__init__(logical_name, base_name=base_name)
        self.offset = _dt.timedelta(0)
        self.time_zone = time_zone
        self.status_flags = 0
        # Default rule: last Sunday of March 02:00 to last Sunday of October 03:00 (EU).
        self.daylight_savings_begin = daylight_savings_begin or CosemDateTime(
            YEAR_NOT_SPECIFIED, 3, DAY_LAST, 7, 2, 0, 0, 0, DEVIATION_NOT_SPECIFIED, NOT_SPECIFIED
        )
        self.daylight_savings_end = daylight_savings_end or CosemDateTime(
            YEAR_NOT_SPECIFIED, 10, DAY_LAST, 7, 3, 0, 0, 0, DEVIATION_NOT_SPECIFIED, NOT_SPECIFIED
        )
        self.daylight_savings_deviation = daylight_savings_deviation
        self.daylight_savings_enabled = daylight_savings_enabled
        self.clock_base = clock_base
        self.measuring_period = measuring_period
        self.preset: tuple[CosemDateTime, CosemDateTime, CosemDateTime] | None = None

    # ----------------------------------------------------------------------------------------------
    # Time computations

    def utc(self, ctx: AccessContext) -> _dt.datetime:
        """The clock's time as an aware UTC datetime."""
        return ctx.now.astimezone(_dt.UTC) + self.offset

    def dst_active(self, utc: _dt.datetime) -> bool:
        """True when daylight saving applies at the UTC instant ``utc``."""
        if not self.daylight_savings_enabled:
            return False
        standard = (utc - _dt.timedelta(minutes=self.time_zone)).replace(tzinfo=None)
        begin = resolve_dst_date(self.daylight_savings_begin, standard.year)
        end = resolve_dst_date(self.daylight_savings_end, standard.year)
        if begin is None or end is None:
            return False
        end_standard = end - _dt.timedelta(minutes=self.daylight_savings_deviation)
        if begin <= end_standard:
            return begin <= standard < end_standard
        return standard >= begin or standard < end_standard  # southern hemisphere

    def deviation_at(self, utc: _dt.datetime) -> int:
        """The date-time deviation (minutes, UTC = local + deviation) at ``utc``."""
        if self.dst_active(utc):
            return self.time_zone - self.daylight_savings_deviation
        return self.time_zone

    def local_datetime(self, ctx: AccessContext) -> _dt.datetime:
        """The clock's local time, aware with its current UTC offset."""
        utc = self.utc(ctx)
        return utc.astimezone(_dt.timezone(_dt.timedelta(minutes=-self.deviation_at(utc))))

    def now(self, ctx: AccessContext) -> CosemDateTime:
        """The value of attribute 2 (time) as a date-time."""
        utc = self.utc(ctx)
        dst = self.dst_active(utc)
        local = self.local_datetime(ctx)
        status = self.status_flags | (ClockStatus.DAYLIGHT_SAVING_ACTIVE if dst else 0)
        return CosemDateTime(
            local.year,
            local.month,
            local.day,
            local.isoweekday(),
            local.hour,
            local.minute,
            local.second,
            local.microsecond // 10000,
            self.deviation_at(utc),
            int(status),
        )

    @property
    def status(self) -> int:
        return self.status_flags

    def to_utc(self, value: CosemDateTime, ctx: AccessContext) -> _dt.datetime:
        """The UTC instant of a fully specified date-time; an unspecified deviation takes the
        clock's current one."""
        default = _dt.timezone(_dt.timedelta(minutes=-self.deviation_at(self.utc(ctx))))
        try:
            utc = value.to_datetime(default_tz=default).astimezone(_dt.UTC)
        except (ValueError, OverflowError) as exc:
            raise type_unmatched(f"date-time {value} is not a point in time: {exc}") from None
        if not EARLIEST_TIME <= utc < LATEST_TIME:
            raise type_unmatched(f"date-time {value} is outside {EARLIEST_TIME.year}..{LATEST_TIME.year - 1}")
        return utc

    def set_time(self, utc: _dt.datetime, ctx: AccessContext) -> None:
        """Set the clock to the instant ``utc`` (aware)."""
        self.offset = utc.astimezone(_dt.UTC) - ctx.now.astimezone(_dt.UTC)
        self.status_flags &= ~(ClockStatus.INVALID_VALUE | ClockStatus.DOUBTFUL_VALUE)

    def shift(self, seconds: float) -> None:
        self.offset += _dt.timedelta(seconds=seconds)

    def _round_local(self, period: int, ctx: AccessContext) -> None:
        local = self.local_datetime(ctx)
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        elapsed = (local - midnight).total_seconds()
        rounded = int(elapsed // period) * period
        if elapsed - rounded >= period / 2:
            rounded += period
        self.shift(rounded - elapsed)

    # ----------------------------------------------------------------------------------------------
    # Services

    def _get(self, index: int, ctx: AccessContext, selective_access: SelectiveAccess | None) -> DataValue:
        if index == 2:
            return self.now(ctx).to_bytes()
        if index == 3:
            return Long(self.time_zone)
        if index == 4:
            dst = self.dst_active(self.utc(ctx))
            return Unsigned(self.status_flags | (ClockStatus.DAYLIGHT_SAVING_ACTIVE if dst else 0))
        if index == 5:
            return self.daylight_savings_begin.to_bytes()
        if index == 6:
            return self.daylight_savings_end.to_bytes()
        if index == 7:
            return Integer(self.daylight_savings_deviation)
        if index == 8:
            return self.daylight_savings_enabled
        return Enumerated(self.clock_base)

    def _set(self, index: int, value: DataValue, ctx: AccessContext) -> None:
        if index == 2:
            self.set_time(self.to_utc(as_date_time(value, "time"), ctx), ctx)
        elif index == 3:
            zone = as_int(value, Long, "time_zone")
            if not -720 <= zone <= 720:
                raise type_unmatched("time_zone must be -720..720")
            self.time_zone = zone
        elif index == 5:
            self.daylight_savings_begin = as_date_time(value, "daylight_savings_begin")
        elif index == 6:
            self.daylight_savings_end = as_date_time(value, "daylight_savings_end")
        elif index == 7:
            deviation = as_int(value, Integer, "daylight_savings_deviation")
            if not -120 <= deviation <= 120:
                raise type_unmatched("daylight_savings_deviation must be -120..120")
            self.daylight_savings_deviation = deviation
        elif index == 8:
            self.daylight_savings_enabled = as_bool(value, "daylight_savings_enabled")
        else:
            raise read_only(index)

    def _action(self, index: int, parameter: DataValue, ctx: AccessContext) -> DataValue | None:
        if index in (1, 2, 3, 4):
            check_zero_parameter(parameter)
        if index == 1:
            self._round_local(900, ctx)
        elif index == 2:
            self._round_local(self.measuring_period, ctx)
        elif index == 3:
            self._round_local(60, ctx)
        elif index == 4:
            if self.preset is None:
                raise CosemAccessError(ActionResult.OTHER_REASON, "no preset adjusting time")
            preset, start, end = self.preset
            current = self.utc(ctx)
            if not self.to_utc(start, ctx) <= current <= self.to_utc(end, ctx):
                raise CosemAccessError(ActionResult.OTHER_REASON, "time outside the validity interval")
            self.set_time(self.to_utc(preset, ctx), ctx)
            self.preset = None
        elif index == 5:
            raw_preset, raw_start, raw_end = as_struct(parameter, 3, "preset_adjusting_time")
            values = (
                as_date_time(raw_preset, "preset_time"),
                as_date_time(raw_start, "validity_interval_start"),
                as_date_time(raw_end, "validity_interval_end"),
            )
            for v in values:
                self.to_utc(v, ctx)  # must be points in time
            self.preset = values
        else:
            seconds = as_int(parameter, Long, "shift_time")
            if not -900 <= seconds <= 900:
                raise CosemAccessError(ActionResult.OTHER_REASON, "shift_time must be -900..900 s")
            self.shift(seconds)
        return None


__all__ = ["CLOCK_LN", "EARLIEST_TIME", "LATEST_TIME", "Clock", "ClockBase", "resolve_dst_date"]
