"""Sans-IO scheduler of one Push setup: windows, randomised start, retries until confirmed.

Used by meters for the registration and address-update pushes of the mesh profile (IEC TS
62056-8-20, 5.5.3 and Annex A), and by any other push that waits for a confirmation.

Attributes of Push setup (class 40) it honours [pinned names, Blue Book]:

* ``communication_window``: array of {start, end} date-times, wildcards allowed; empty = always;
* ``randomisation_start_interval`` (s): the first attempt starts after a random delay;
* ``number_of_retries``: attempts after the first one when no confirmation arrives;
* ``repetition_delay`` (s): version 0/1 constant delay, or the version 2 structure {min, exponent,
  max} [reconstructed]: retry *n* (1-based) waits ``min * (exponent / 100) ** (n - 1)``, capped by
  ``max`` (0 = no cap); an exponent of 0 or 100 keeps the delay constant.

Design choices (decision record ``docs/decisions/0021-mesh-registration-data.md``, section "Push
schedule"):

* Time is float seconds, as in every sans-IO core (docs/sans-io.md); the communication windows are
  calendar configuration, evaluated through the scheduler's *anchor* (the aware datetime of
  ``now == 0``; by default the POSIX epoch, so ``now`` is POSIX seconds). Randomness comes from the
  caller's :class:`random.Random`, so a seeded simulation is reproducible. Nothing sleeps: the driver
  asks :meth:`PushScheduler.get_timer` and calls :meth:`PushScheduler.handle_timer` then; the attempts
  come out of :meth:`PushScheduler.pop_events`.
* The random start delay is uniform in ``[0, min(randomisation_start_interval, time left in the
  window)]``, so an attempt never leaves its window. It is drawn for the first attempt and again for
  any retry pushed into a later window (many meters whose windows open together spread out again);
  retries inside the window go exactly ``repetition_delay`` after the previous attempt.
* An attempt counts as failed when no confirmation arrived ``delay(n)`` after it; after the last
  attempt the scheduler waits one more delay, then reports :attr:`PushState.EXHAUSTED`.
* Windows: a window whose start and end dates are fully specified is an absolute interval; otherwise
  the date fields are patterns (year, month, day, day-of-week each exact or wildcard; day 0xFE / 0xFD
  = last / second last day of the month) and the window opens at the start time on every day matching
  the start pattern and closes at the first following instant that matches the end pattern (at most
  31 days later). Unspecified time fields count as 0; an unspecified deviation means the time zone of
  ``now``. Daylight-saving month markers (0xFD/0xFE in the month) are refused.
"""

from __future__ import annotations

import calendar
import datetime as _dt
import random
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Final

from cosemnet.codec.datetime import (
    DAY_LAST,
    DAY_SECOND_LAST,
    DEVIATION_NOT_SPECIFIED,
    MONTH_DST_BEGIN,
    MONTH_DST_END,
    NOT_SPECIFIED,
    YEAR_NOT_SPECIFIED,
    CosemDateTime,
)
from cosemnet.codec.types import DataValue, LongUnsigned
from cosemnet.cosem.push_setup import PushSetup, Window
from cosemnet.errors import CosemnetError, DecodeError, EncodeError

__all__ = [
    "POSIX_EPOCH",
    "CommunicationWindows",
    "PushAttempt",
    "PushSchedule",
    "PushScheduleError",
    "PushScheduler",
    "PushState",
    "RepetitionDelay",
    "check_anchor",
]

POSIX_EPOCH: Final = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)
"""The default calendar anchor of the mesh cores: ``now`` is then POSIX seconds."""

_LOOKBACK_DAYS: Final = 31
_LOOKAHEAD_DAYS: Final = 400
_MAX_WINDOW_DAYS: Final = 31


class PushScheduleError(CosemnetError, ValueError):
    """A schedule that cannot be evaluated (unsupported window pattern, naive time...)."""


@dataclass(frozen=True, slots=True)
class RepetitionDelay:
    """repetition_delay: constant (version 0) or the version 2 structure [reconstructed]."""

    minimum: int = 0
    """Seconds before the first retry (repetition_delay_min)."""
    exponent: int = 100
    """Growth factor in percent (repetition_delay_exponent); 0 and 100 keep the delay constant."""
    maximum: int = 0
    """Cap in seconds (repetition_delay_max); 0 = no cap."""

    def __post_init__(self) -> None:
        for name in ("minimum", "exponent", "maximum"):
            LongUnsigned(getattr(self, name))

    @classmethod
    def constant(cls, seconds: int) -> RepetitionDelay:
        return cls(seconds, 100, 0)

    def delay(self, retry: int) -> float:
        """Seconds to wait after attempt ``retry`` (1-based) before the next one."""
        if retry < 1:
            raise ValueError("retry numbers start at 1")
        if self.exponent in (0, 100):
            value = float(self.minimum)
        else:
            # capped early to avoid overflow on large retry numbers
            factor = self.exponent / 100.0
            value = float(self.minimum)
            for _ in range(retry - 1):
                value *= factor
                if self.maximum and value >= self.maximum:
                    break
                if value > 1e12:
                    break
        if self.maximum:
            value = min(value, float(self.maximum))
        return value

    def to_data(self) -> DataValue:
        """The version 2 structure {min, exponent, max} (long-unsigned each)."""
        return (LongUnsigned(self.minimum), LongUnsigned(self.exponent), LongUnsigned(self.maximum))

    @classmethod
    def from_data(cls, value: DataValue) -> RepetitionDelay:
        """From a long-unsigned (version 0) or the version 2 structure. Raises only DecodeError."""
        if type(value) is LongUnsigned:
            return cls.constant(int(value))
        if type(value) is tuple:
            numbers = [int(v) for v in value if type(v) is LongUnsigned and isinstance(v, int)]
            if len(numbers) == 3 == len(value):
                return cls(*numbers)
        raise DecodeError(
            "repetition_delay must be long-unsigned or {min, exponent, max}", 0, "repetition_delay"
        )


# --------------------------------------------------------------------------------------------------
# Communication windows


def _specified_date(v: CosemDateTime) -> bool:
    return v.year != YEAR_NOT_SPECIFIED and 1 <= v.month <= 12 and 1 <= v.day <= 31


def _time_of_day(v: CosemDateTime) -> _dt.time:
    def f(x: int) -> int:
        return 0 if x == NOT_SPECIFIED else x

    return _dt.time(f(v.hour), f(v.minute), f(v.second), f(v.hundredths) * 10000)


def _matches(pattern: CosemDateTime, day: _dt.date) -> bool:
    if pattern.year != YEAR_NOT_SPECIFIED and pattern.year != day.year:
        return False
    if pattern.month != NOT_SPECIFIED and pattern.month != day.month:
        return False
    if pattern.day_of_week != NOT_SPECIFIED and pattern.day_of_week != day.isoweekday():
        return False
    if pattern.day == NOT_SPECIFIED:
        return True
    last = calendar.monthrange(day.year, day.month)[1]
    if pattern.day == DAY_LAST:
        return day.day == last
    if pattern.day == DAY_SECOND_LAST:
        return day.day == last - 1
    return pattern.day == day.day


def _tz(v: CosemDateTime, local: _dt.tzinfo) -> _dt.tzinfo:
    if v.deviation == DEVIATION_NOT_SPECIFIED:
        return local
    return _dt.timezone(_dt.timedelta(minutes=-v.deviation))


@dataclass(frozen=True, slots=True)
class _WindowRule:
    start: CosemDateTime
    end: CosemDateTime

    @property
    def absolute(self) -> bool:
        return _specified_date(self.start) and _specified_date(self.end)

    @property
    def daily(self) -> bool:
        return all(
            v.year == YEAR_NOT_SPECIFIED
            and v.month == NOT_SPECIFIED
            and v.day == NOT_SPECIFIED
            and v.day_of_week == NOT_SPECIFIED
            for v in (self.start, self.end)
        )

    def locate(self, t: _dt.datetime) -> tuple[_dt.datetime, _dt.datetime] | None:
        """(first instant >= t inside this window, end of that window occurrence) or None."""
        local = t.tzinfo
        assert local is not None
        if self.absolute:
            try:
                open_ = _dt.datetime.combine(
                    _dt.date(self.start.year, self.start.month, self.start.day),
                    _time_of_day(self.start),
                    _tz(self.start, local),
                )
                close = _dt.datetime.combine(
                    _dt.date(self.end.year, self.end.month, self.end.day),
                    _time_of_day(self.end),
                    _tz(self.end, local),
                )
            except ValueError as exc:
                raise PushScheduleError(f"communication window {self.start}..{self.end}: {exc}") from None
            if close < t or close < open_:
                return None
            return max(open_, t), close
        back, ahead = (1, 2) if self.daily else (_LOOKBACK_DAYS, _LOOKAHEAD_DAYS)
        today = t.astimezone(local).date()
        start_tod, end_tod = _time_of_day(self.start), _time_of_day(self.end)
        for offset in range(-back, ahead + 1):
            day = today + _dt.timedelta(days=offset)
            if not _matches(self.start, day):
                continue
            open_ = _dt.datetime.combine(day, start_tod, _tz(self.start, local))
            closing = self._close(open_, day, end_tod, local)
            if closing is None or closing < t:
                continue
            return max(open_, t), closing
        return None

    def _close(
        self, open_: _dt.datetime, day: _dt.date, end_tod: _dt.time, local: _dt.tzinfo
    ) -> _dt.datetime | None:
        for offset in range(_MAX_WINDOW_DAYS + 1):
            d = day + _dt.timedelta(days=offset)
            if not _matches(self.end, d):
                continue
            close = _dt.datetime.combine(d, end_tod, _tz(self.end, local))
            if close > open_:
                return close
        return None


class CommunicationWindows:
    """The communication_window attribute as something that answers "when may I send?"."""

    __slots__ = ("_rules",)

    def __init__(self, windows: Sequence[Window] = ()) -> None:
        rules = []
        for start, end in windows:
            for v in (start, end):
                if v.month in (MONTH_DST_BEGIN, MONTH_DST_END):
                    raise PushScheduleError("daylight-saving month markers are not supported in windows")
            rules.append(_WindowRule(start, end))
        self._rules: tuple[_WindowRule, ...] = tuple(rules)

    @property
    def always_open(self) -> bool:
        return not self._rules

    def locate(self, t: _dt.datetime) -> tuple[_dt.datetime, _dt.datetime | None] | None:
        """``(earliest instant >= t inside a window, end of that window)``; the end is None when
        there are no windows (always open); None when no window opens any more."""
        if t.tzinfo is None:
            raise PushScheduleError("times must be aware datetimes")
        if not self._rules:
            return t, None
        best: tuple[_dt.datetime, _dt.datetime] | None = None
        for rule in self._rules:
            found = rule.locate(t)
            if found is not None and (
                best is None or found[0] < best[0] or (found[0] == best[0] and found[1] > best[1])
            ):
                best = found
        return best

    def contains(self, t: _dt.datetime) -> bool:
        found = self.locate(t)
        return found is not None and found[0] == t


# --------------------------------------------------------------------------------------------------
# Scheduler


@dataclass(frozen=True, slots=True)
class PushSchedule:
    """The Push setup attributes the scheduler needs."""

    communication_window: tuple[Window, ...] = ()
    randomisation_start_interval: int = 0
    number_of_retries: int = 0
    repetition_delay: RepetitionDelay = RepetitionDelay()

    def __post_init__(self) -> None:
        object.__setattr__(self, "communication_window", tuple(self.communication_window))
        LongUnsigned(self.randomisation_start_interval)
        if type(self.number_of_retries) is not int or not 0 <= self.number_of_retries <= 0xFF:
            raise EncodeError("number_of_retries must be 0..255")

    @classmethod
    def from_push_setup(
        cls, setup: PushSetup, repetition_delay: RepetitionDelay | None = None
    ) -> PushSchedule:
        """From a Push setup object (its repetition_delay is the version 0 constant unless a
        version 2 structure is given)."""
        return cls(
            tuple(setup.communication_window),
            setup.randomisation_start_interval,
            setup.number_of_retries,
            repetition_delay or RepetitionDelay.constant(setup.repetition_delay),
        )


class PushState(Enum):
    IDLE = "idle"
    SCHEDULED = "scheduled"
    """An attempt is due at :attr:`PushScheduler.send_at`."""
    AWAITING_CONFIRMATION = "awaiting-confirmation"
    CONFIRMED = "confirmed"
    EXHAUSTED = "exhausted"
    """Every attempt went unconfirmed, or no window opens any more."""


@dataclass(frozen=True, slots=True)
class PushAttempt:
    """Send the push now (an event of :class:`PushScheduler`)."""

    message_id: Hashable
    attempt: int
    """1 for the first transmission, 2.. for retries."""
    at: float
    """When the attempt fell due (the scheduler's float time)."""


def check_anchor(anchor: _dt.datetime) -> _dt.datetime:
    """``anchor`` in UTC; a naive datetime is refused (the calendar must be unambiguous)."""
    if not isinstance(anchor, _dt.datetime) or anchor.tzinfo is None or anchor.utcoffset() is None:
        raise PushScheduleError("the calendar anchor must be an aware datetime")
    return anchor.astimezone(_dt.UTC)


class PushScheduler:
    """Drives one push until it is confirmed or its retries are exhausted (sans-IO, float time).

    Typical loop (simulated or real time)::

        scheduler.trigger(now, message_id=seq)
        while True:
            scheduler.handle_timer(now)
            for attempt in scheduler.pop_events(): send(...)
            deadline = scheduler.get_timer()   # None: done (CONFIRMED / EXHAUSTED / IDLE)
            ... wait until deadline or a confirmation arrives (then scheduler.confirm(now, seq))

    ``anchor`` is the calendar instant of ``now == 0`` (aware; default :data:`POSIX_EPOCH`): the
    communication windows are located on the calendar through it.
    """

    __slots__ = (
        "_deadline",
        "_events",
        "_send_at",
        "_windows",
        "anchor",
        "attempts",
        "config",
        "history",
        "message_id",
        "rng",
        "state",
    )

    def __init__(
        self, config: PushSchedule, rng: random.Random, *, anchor: _dt.datetime = POSIX_EPOCH
    ) -> None:
        self.config = config
        self.rng = rng
        self.anchor = check_anchor(anchor)
        self._windows = CommunicationWindows(config.communication_window)
        self.state = PushState.IDLE
        self.message_id: Hashable = None
        self.attempts = 0
        # the schedule is computed on the calendar (windows); float only at the interface
        self._send_at: _dt.datetime | None = None
        self._deadline: _dt.datetime | None = None
        self._events: list[PushAttempt] = []
        self.history: list[PushAttempt] = []

    def calendar(self, now: float) -> _dt.datetime:
        """The calendar instant (UTC) of float time ``now``."""
        return self.anchor + _dt.timedelta(seconds=now)

    def seconds(self, when: _dt.datetime) -> float:
        """The float time of calendar instant ``when`` (aware)."""
        return (when - self.anchor).total_seconds()

    @property
    def send_at(self) -> float | None:
        """When the scheduled attempt is due (None unless SCHEDULED)."""
        return None if self._send_at is None else self.seconds(self._send_at)

    def _randomised(self, t: _dt.datetime, *, randomise: bool) -> _dt.datetime | None:
        found = self._windows.locate(t)
        if found is None:
            return None
        at, end = found
        if not randomise or self.config.randomisation_start_interval == 0:
            return at
        span = float(self.config.randomisation_start_interval)
        if end is not None:
            span = min(span, (end - at).total_seconds())
        return at + _dt.timedelta(seconds=self.rng.uniform(0.0, span))

    def trigger(self, now: float, message_id: Hashable = None) -> float | None:
        """Start pushing ``message_id`` (replaces whatever was in progress). Returns the time of the
        first attempt, or None when no window opens any more (state EXHAUSTED)."""
        self.message_id = message_id
        self.attempts = 0
        self.history = []
        at = self._randomised(self.calendar(now), randomise=True)
        self._schedule(at)
        return None if at is None else self.seconds(at)

    def _schedule(self, at: _dt.datetime | None) -> None:
        if at is None:
            self.state, self._send_at, self._deadline = PushState.EXHAUSTED, None, None
        else:
            self.state, self._send_at, self._deadline = PushState.SCHEDULED, at, at

    def get_timer(self) -> float | None:
        """When :meth:`handle_timer` has something to do; None when nothing is pending."""
        return None if self._deadline is None else self.seconds(self._deadline)

    def handle_timer(self, now: float) -> None:
        """Advance to ``now``: an attempt that is due goes to :meth:`pop_events` (at most one per
        call; the next one is a deadline of its own)."""
        moment = self.calendar(now)
        while self._deadline is not None and moment >= self._deadline:
            if self.state is PushState.SCHEDULED:
                assert self._send_at is not None
                self.attempts += 1
                attempt = PushAttempt(self.message_id, self.attempts, now)
                self.history.append(attempt)
                self._events.append(attempt)
                wait = self.config.repetition_delay.delay(self.attempts)
                self.state = PushState.AWAITING_CONFIRMATION
                self._deadline = moment + _dt.timedelta(seconds=wait)
                return
            if self.state is PushState.AWAITING_CONFIRMATION:
                if self.attempts > self.config.number_of_retries:
                    self.state, self._send_at, self._deadline = PushState.EXHAUSTED, None, None
                    return
                due = self._deadline
                found = self._windows.locate(due)
                if found is not None and found[0] == due:
                    self._schedule(due)
                else:
                    self._schedule(self._randomised(due, randomise=True))
                continue
            break

    def pop_events(self) -> list[PushAttempt]:
        """The attempts that fell due since the last call, oldest first."""
        events, self._events = self._events, []
        return events

    def confirm(self, now: float, message_id: Hashable = None) -> bool:
        """The head-end confirmed ``message_id`` (None matches any): stop. Returns False when the
        confirmation does not match the current push (ignored). A confirmation that arrives after
        the retries were exhausted still moves the push to CONFIRMED."""
        if self.state not in (PushState.SCHEDULED, PushState.AWAITING_CONFIRMATION, PushState.EXHAUSTED):
            return False  # (a confirmation arriving after the last retry still counts)
        if message_id is not None and message_id != self.message_id:
            return False
        self.state, self._send_at, self._deadline = PushState.CONFIRMED, None, None
        return True

    @property
    def done(self) -> bool:
        return self.state in (PushState.CONFIRMED, PushState.EXHAUSTED, PushState.IDLE)
