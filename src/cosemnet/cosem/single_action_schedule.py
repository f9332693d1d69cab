"""Single action schedule (class_id 22, version 0): runs one script at given dates and times.

Attributes: 2 executed_script (action_item), 3 type (enum 1..5), 4 execution_time (array of
structure {time octet-string(4), date octet-string(5)}). No methods.

Types: 1 one entry, wildcards allowed in the date; 2 n entries, same time, no date wildcards;
3 n entries, times may differ, no date wildcards; 4 n entries, same time, date wildcards allowed;
5 n entries, times may differ, date wildcards allowed. A SET breaking these rules is refused with
type-unmatched.

Sans-IO: the meter calls :meth:`SingleActionSchedule.tick` with the local time of the previous call;
every matching instant in (previous, now] runs the script once through
``ctx.effects.execute_script``. Local times are naive datetimes in the meter's local time
(``ctx.effects.timestamp``).

Design choices: wildcards (0xFF) in hour or minute match every hour / minute; unspecified seconds
count as 0; a wildcard day of week matches any day, a specified one must match too; at most
``MAX_RUNS_PER_TICK`` occurrences are run per tick (a meter that slept for months does not replay
them all).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterator, Sequence
from enum import IntEnum
from typing import ClassVar

from cosemnet.codec.datetime import (
    DAY_LAST,
    DAY_SECOND_LAST,
    MONTH_DST_BEGIN,
    MONTH_DST_END,
    NOT_SPECIFIED,
    YEAR_NOT_SPECIFIED,
    CosemDate,
    CosemTime,
)
from cosemnet.codec.obis import Obis
from cosemnet.codec.types import DataValue, Enumerated
from cosemnet.cosem.base import LOGICAL_NAME_DEF, AttributeDef, InterfaceClass, SelectiveAccess
from cosemnet.cosem.common import ActionItem
from cosemnet.cosem.context import AccessContext
from cosemnet.cosem.register_monitor import run_action_item
from cosemnet.cosem.results import CosemAccessError, type_unmatched
from cosemnet.cosem.values import as_array, as_date, as_int, as_struct, as_time

MAX_RUNS_PER_TICK = 100

ExecutionTime = tuple[CosemTime, CosemDate]


class ScheduleType(IntEnum):
    SINGLE = 1
    SAME_TIME_NO_WILDCARDS = 2
    DIFFERENT_TIMES_NO_WILDCARDS = 3
    SAME_TIME_WILDCARDS = 4
    DIFFERENT_TIMES_WILDCARDS = 5


def _date_has_wildcard(date: CosemDate) -> bool:
    return (
        date.year == YEAR_NOT_SPECIFIED
        or date.month in (NOT_SPECIFIED, MONTH_DST_BEGIN, MONTH_DST_END)
        or date.day in (NOT_SPECIFIED, DAY_LAST, DAY_SECOND_LAST)
    )


def check_schedule(schedule_type: ScheduleType, execution_time: Sequence[ExecutionTime]) -> None:
    """Raise type-unmatched when ``execution_time`` breaks the rules of ``schedule_type``."""
    if schedule_type is ScheduleType.SINGLE and len(execution_time) > 1:
        raise type_unmatched("type 1 allows a single execution time")
    same_time = (ScheduleType.SAME_TIME_NO_WILDCARDS, ScheduleType.SAME_TIME_WILDCARDS)
    no_wildcards = (ScheduleType.SAME_TIME_NO_WILDCARDS, ScheduleType.DIFFERENT_TIMES_NO_WILDCARDS)
    if schedule_type in same_time and len({t for t, _ in execution_time}) > 1:
        raise type_unmatched(f"type {schedule_type.value} needs the same time in every entry")
    if schedule_type in no_wildcards and any(_date_has_wildcard(d) for _, d in execution_time):
        raise type_unmatched(f"type {schedule_type.value} allows no wildcards in dates")


def date_matches(date: CosemDate, day: _dt.date) -> bool:
    """True when the (possibly wildcarded) COSEM date denotes ``day``."""
    if date.year != YEAR_NOT_SPECIFIED and date.year != day.year:
        return False
    if date.month != NOT_SPECIFIED:
        if date.month in (MONTH_DST_BEGIN, MONTH_DST_END):
            return False  # DST markers need the Clock's rule; never matched here
        if date.month != day.month:
            return False
    if date.day != NOT_SPECIFIED:
        next_month = (day.replace(day=28) + _dt.timedelta(days=4)).replace(day=1)
        last = (next_month - _dt.timedelta(days=1)).day
        wanted = {DAY_LAST: last, DAY_SECOND_LAST: last - 1}.get(date.day, date.day)
        if wanted != day.day:
            return False
    return date.day_of_week == NOT_SPECIFIED or date.day_of_week == day.isoweekday()


def _times_of_day(time: CosemTime) -> Iterator[_dt.time]:
    hours = range(24) if time.hour == NOT_SPECIFIED else (time.hour,)
    minutes = range(60) if time.minute == NOT_SPECIFIED else (time.minute,)
    second = 0 if time.second == NOT_SPECIFIED else time.second
    for h in hours:
        for m in minutes:
            yield _dt.time(h, m, second)


class SingleActionSchedule(InterfaceClass):
    """Single action schedule."""

    CLASS_ID: ClassVar[int] = 22
    VERSION: ClassVar[int] = 0
    ATTRIBUTES: ClassVar[tuple[AttributeDef, ...]] = (
        LOGICAL_NAME_DEF,
        AttributeDef(2, "executed_script", True, 0x08),
        AttributeDef(3, "type", True, 0x10),
        AttributeDef(4, "execution_time", True, 0x18),
    )

    def __init__(
        self,
        logical_name: Obis | str | bytes,
        executed_script: ActionItem | None = None,
        schedule_type: ScheduleType = ScheduleType.SINGLE,
        execution_time: Sequence[ExecutionTime] = (),
        *,
        base_name: int | None = None,
    ) -> None:
        super().__init__(logical_name, base_name=base_name)
        check_schedule(schedule_type, execution_time)
        self.executed_script = executed_script or ActionItem()
        self.type = schedule_type
        self.execution_time: list[ExecutionTime] = list(execution_time)

    def occurrences(self, after: _dt.datetime, until: _dt.datetime) -> list[_dt.datetime]:
        """Instants in (after, until] (naive local datetimes) matching an execution time, in order."""
        found: set[_dt.datetime] = set()
        day = after.date()
        while day <= until.date() and len(found) <= MAX_RUNS_PER_TICK:
            for time, date in self.execution_time:
                if not date_matches(date, day):
                    continue
                for t in _times_of_day(time):
                    moment = _dt.datetime.combine(day, t)
                    if after < moment <= until:
                        found.add(moment)
            day += _dt.timedelta(days=1)
        return sorted(found)[:MAX_RUNS_PER_TICK]

    def tick(self, previous: _dt.datetime, ctx: AccessContext) -> tuple[_dt.datetime, list[CosemAccessError]]:
        """Run the script for each occurrence since ``previous`` (naive local time).

        Returns the current local time (pass it as ``previous`` next time) and the script failures.
        """
        stamp = ctx.effects.timestamp(ctx)
        now = _dt.datetime(stamp.year, stamp.month, stamp.day, stamp.hour, stamp.minute, stamp.second)
        failures: list[CosemAccessError] = []
        for _ in self.occurrences(previous, now):
            failure = run_action_item(self.executed_script, ctx)
            if failure is not None:
                failures.append(failure)
        return now, failures

    def _get(self, index: int, ctx: AccessContext, selective_access: SelectiveAccess | None) -> DataValue:
        if index == 2:
            return self.executed_script.to_data()
        if index == 3:
            return Enumerated(self.type)
        return [(t.to_bytes(), d.to_bytes()) for t, d in self.execution_time]

    def _set(self, index: int, value: DataValue, ctx: AccessContext) -> None:
        if index == 2:
            self.executed_script = ActionItem.from_data(value, "executed_script")
        elif index == 3:
            try:
                schedule_type = ScheduleType(as_int(value, Enumerated, "type"))
            except ValueError:
                raise type_unmatched("type must be 1..5") from None
            check_schedule(schedule_type, self.execution_time)
            self.type = schedule_type
        else:
            entries: list[ExecutionTime] = []
            for item in as_array(value, "execution_time"):
                time, date = as_struct(item, 2, "execution_time_date")
                entries.append((as_time(time, "time"), as_date(date, "date")))
            check_schedule(self.type, entries)
            self.execution_time = entries


__all__ = [
    "MAX_RUNS_PER_TICK",
    "ExecutionTime",
    "ScheduleType",
    "SingleActionSchedule",
    "check_schedule",
    "date_matches",
]
