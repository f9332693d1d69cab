"""Scheduled collection: jobs from a TOML schedule file, due times computed sans-IO (issue 12 item 4;
docs/decisions/0122).

::

    [[job]]
    name = "daily-profile"
    kind = "profile"
    obis = "1-0:99.1.0*255"
    every = "1d"
    at = "00:15"

    [[job]]
    name = "registers"
    kind = "registers"
    attributes = ["3/1-0:1.8.0*255/2", "3/1-0:1.8.0*255/3"]
    every = "15m"

``every`` is a duration (``90s``, ``15m``, ``1h30m``, ``1d``); ``at`` (``HH:MM`` or ``HH:MM:SS``, UTC)
places the runs inside the period: a job runs at the instants ``k * every + at`` of POSIX time (so
``every = "1d"``, ``at = "00:15"`` is 00:15 UTC every day; no ``at``: on multiples of ``every``).
A profile job may give ``backfill`` (a duration: how far back its first read of a meter goes).

:class:`Scheduler` takes the time in and gives the jobs due and the next due time out; it never reads
a clock. A job whose run overran its next instant runs once, at the next instant after the run
(missed instants are not caught up one by one).
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from cosemnet.codec.obis import Obis
from cosemnet.errors import CosemnetError, DecodeError
from cosemnet.headend.runs import AttributeRef

__all__ = ["Job", "JobDue", "ScheduleError", "Scheduler", "load_schedule", "parse_duration", "parse_schedule"]

JobKind = Literal["profile", "registers"]
_UNITS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION: Final = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
_KEYS: Final = {
    "profile": {"name", "kind", "obis", "every", "at", "backfill"},
    "registers": {"name", "kind", "attributes", "every", "at"},
}


class ScheduleError(CosemnetError):
    """The schedule file is not valid (the message names the job and key)."""


def parse_duration(text: str) -> float:
    """``"15m"``, ``"1h30m"``, ``"1d"``, ``"90s"`` or a number of seconds -> seconds (> 0)."""
    value = text.strip().lower()
    try:
        seconds = float(value)
    except ValueError:
        parts = _DURATION.findall(value)
        if not parts or "".join(n + u for n, u in parts) != value:
            raise ValueError(f"{text!r} is not a duration (e.g. 90s, 15m, 1h30m, 1d)") from None
        seconds = sum(float(n) * _UNITS[u] for n, u in parts)
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"{text!r}: a duration must be positive")
    return seconds


def _time_of_day(text: str) -> float:
    match = re.fullmatch(r"(\d{1,2}):(\d{2})(?::(\d{2}))?", text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not HH:MM or HH:MM:SS")
    hour, minute, second = int(match[1]), int(match[2]), int(match[3] or 0)
    if hour > 23 or minute > 59 or second > 59:
        raise ValueError(f"{text!r} is not a time of day")
    return float(hour * 3600 + minute * 60 + second)


@dataclass(frozen=True, slots=True)
class Job:
    """One scheduled job: ``kind`` profile (``obis``) or registers (``attributes``)."""

    name: str
    kind: JobKind
    every: float
    at: float = 0.0
    """Offset of the runs inside the period (seconds)."""
    obis: Obis | None = None
    attributes: tuple[AttributeRef, ...] = ()
    backfill: float | None = None

    def next_after(self, now: float) -> float:
        """The first instant ``k * every + at`` strictly after ``now``."""
        k = math.floor((now - self.at) / self.every) + 1
        due = k * self.every + self.at
        return due if due > now else due + self.every


def _string(job: Mapping[str, Any], key: str, where: str) -> str:
    value = job.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ScheduleError(f"{where}.{key}: a non-empty string is required")
    return value


def _parse_job(item: object, index: int) -> Job:
    where = f"job[{index}]"
    if not isinstance(item, dict):
        raise ScheduleError(f"{where}: must be a table ([[job]])")
    name = _string(item, "name", where)
    where = f"job {name!r}"
    kind = _string(item, "kind", where)
    if kind not in _KEYS:
        raise ScheduleError(f"{where}.kind: {kind!r} is not one of {', '.join(sorted(_KEYS))}")
    unknown = set(item) - _KEYS[kind]
    if unknown:
        raise ScheduleError(f"{where}: unknown key(s) {', '.join(sorted(unknown))} for kind {kind!r}")
    try:
        every = parse_duration(str(_string(item, "every", where)))
        at = _time_of_day(_string(item, "at", where)) if "at" in item else 0.0
        backfill = parse_duration(_string(item, "backfill", where)) if "backfill" in item else None
    except ValueError as exc:
        raise ScheduleError(f"{where}: {exc}") from None
    if at >= every and "at" in item:
        at = at % every
    if kind == "profile":
        try:
            obis = Obis.parse(_string(item, "obis", where))
        except (ValueError, DecodeError) as exc:
            raise ScheduleError(f"{where}.obis: {exc}") from None
        return Job(name, "profile", every, at, obis=obis, backfill=backfill)
    attributes = item.get("attributes")
    if not isinstance(attributes, list) or not attributes or not all(isinstance(a, str) for a in attributes):
        raise ScheduleError(f"{where}.attributes: a non-empty list of CLASS/OBIS/ATTR strings is required")
    try:
        refs = tuple(AttributeRef.parse(a) for a in attributes)
    except ValueError as exc:
        raise ScheduleError(f"{where}.attributes: {exc}") from None
    return Job(name, "registers", every, at, attributes=refs)


def parse_schedule(text: str) -> list[Job]:
    """The jobs of a schedule (TOML text); :class:`ScheduleError` when it is not valid."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScheduleError(f"not valid TOML: {exc}") from None
    unknown = set(data) - {"job"}
    if unknown:
        raise ScheduleError(f"unknown table(s) {', '.join(sorted(unknown))}: only [[job]] entries")
    items = data.get("job")
    if not isinstance(items, list) or not items:
        raise ScheduleError("no [[job]] entries")
    jobs = [_parse_job(item, i) for i, item in enumerate(items)]
    names = [j.name for j in jobs]
    if len(set(names)) != len(names):
        raise ScheduleError("job names must be unique")
    return jobs


def load_schedule(path: str) -> list[Job]:
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as exc:
        raise ScheduleError(f"cannot read {path}: {exc.strerror}") from None
    return parse_schedule(text)


@dataclass(frozen=True, slots=True)
class JobDue:
    """Event of :class:`Scheduler`: ``job`` is due since ``due`` (run it now)."""

    job: Job
    due: float


class Scheduler:
    """When each job is due, a sans-IO timer core (docs/sans-io.md): :meth:`handle_timer` with the time
    queues a :class:`JobDue` per job due (:meth:`pop_events`), :meth:`get_timer` says when the next is
    due; :meth:`finished` after a run moves the job past the time it ended."""

    def __init__(self, jobs: Iterable[Job], now: float) -> None:
        self.jobs = list(jobs)
        self._next = {job.name: job.next_after(now) for job in self.jobs}
        self._events: list[JobDue] = []

    def next_due(self, job: Job) -> float:
        return self._next[job.name]

    def get_timer(self) -> float | None:
        return min(self._next.values(), default=None)

    def handle_timer(self, now: float) -> None:
        """Queue the jobs due at ``now`` (in schedule order); each is moved to its next instant after
        ``now``. Calling it early or twice is harmless."""
        for job in self.jobs:
            due = self._next[job.name]
            if due <= now:
                self._events.append(JobDue(job, due))
                self._next[job.name] = job.next_after(now)

    def pop_events(self) -> list[JobDue]:
        events, self._events = self._events, []
        return events

    def due(self, now: float) -> list[Job]:
        """:meth:`handle_timer` then the jobs of :meth:`pop_events`."""
        self.handle_timer(now)
        return [event.job for event in self.pop_events()]

    def finished(self, job: Job, now: float) -> None:
        """A job's run ended at ``now``: its next run is the first instant after that."""
        self._next[job.name] = max(self._next[job.name], job.next_after(now))
