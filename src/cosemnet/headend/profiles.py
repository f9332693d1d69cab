"""Load profiles collected incrementally, gaps repaired (issue 12 item 4; docs/decisions/0122).

:class:`ProfileCollector` is the sans-IO part: given the store and the time, it says what to read
(:meth:`~ProfileCollector.plan`: per meter, one range of capture times to read, restricting object =
the profile's clock column) and takes the answers in (:meth:`~ProfileCollector.absorb`): rows stored
per (meter, profile, channel, capture time) with the scaler and unit of each channel applied, gaps
between stored rows detected and recorded. :func:`collect_profile` is the thin asyncio driver on a
:class:`~cosemnet.headend.service.HeadEndService`:

1. meters whose channels are not in the store yet: GET capture_objects (7/LN/3) and capture_period
   (7/LN/4), then the scaler_unit of every register channel (once per meter, cached in
   ``profile_channels``);
2. per meter, the buffer (7/LN/2) with a range selection from the last stored capture time
   (exclusive: +1 s) to ``now`` (the first time: ``now - backfill``), and one range read per open
   gap (at most ``max_repairs_per_meter`` per round);
3. rows stored (a null clock cell, the Blue Book's compressed form, gets the previous row's time plus
   the capture period, docs/decisions/0054), gaps inside what is stored detected again; an open gap
   is read again, at most ``max_repair_attempts`` times: a meter that answers the range without rows
   for the gap does not have them (``confirmed``: never asked again), one that never answers leaves it
   ``given-up``.

Reads of one round go out as one collect run per distinct range (meters sharing the range share the
run); a meter is in one run per round only (its association serves one exchange at a time).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as _dt
import itertools
import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final

from cosemnet.client.errors import ProtocolError
from cosemnet.client.objects import (
    SCALED_CLASS_IDS,
    Column,
    parse_capture_objects,
    parse_scaler_unit,
    profile_rows,
    range_selection,
    scaler_unit_attribute,
)
from cosemnet.codec.axdr import encode_data
from cosemnet.codec.datetime import CosemDateTime
from cosemnet.codec.obis import Obis
from cosemnet.codec.types import DataValue
from cosemnet.codec.xdlms.selective_access import CaptureObjectDefinition
from cosemnet.cosem.values import is_numeric
from cosemnet.errors import CosemnetError, EncodeError
from cosemnet.headend.runs import AttributeRef, CollectRun
from cosemnet.headend.service import HeadEndService
from cosemnet.headend.store import GapRow, HeadEndStore, ProfileChannelRow, ProfileRow

__all__ = [
    "GAP_CONFIRMED",
    "GAP_GIVEN_UP",
    "GAP_OPEN",
    "GAP_REPAIRED",
    "ProfileCollector",
    "ProfileConfig",
    "ProfileReport",
    "RangeRead",
    "collect_profile",
    "find_gaps",
    "wait_runs",
]

_log = logging.getLogger(__name__)

PROFILE_CLASS_ID: Final = 7
GAP_OPEN: Final = "open"
GAP_CONFIRMED: Final = "confirmed"
GAP_GIVEN_UP: Final = "given-up"
GAP_REPAIRED: Final = "repaired"
_COMPACTED: Final = "profile buffer: rows in profile_rows"


@dataclass(frozen=True, slots=True)
class ProfileConfig:
    """How a profile is collected (docs/decisions/0122)."""

    backfill: float = 86400.0
    """The first read of a meter asks for the rows of the last ``backfill`` seconds."""
    lookahead: float = 0.0
    """The range's end is ``now + lookahead`` (meters whose clock runs ahead of the head-end's)."""
    max_repair_attempts: int = 3
    """Reads of one gap that get no answer before it is given up."""
    max_repairs_per_meter: int = 4
    """Gap reads per meter and round."""
    gap_horizon: float = 7 * 86400.0
    """Gaps are looked for among the rows of the last ``gap_horizon`` seconds."""


@dataclass(frozen=True, slots=True)
class RangeRead:
    """One range read of a meter's buffer: capture times ``first``..``last`` (inclusive); ``gap``:
    the gap record it repairs (None: the incremental read of new rows)."""

    system_title: bytes
    first: float
    last: float
    gap: GapRow | None = None


@dataclass(slots=True)
class ProfileReport:
    """What one :func:`collect_profile` did."""

    profile: str
    meters: int = 0
    reads: int = 0
    """Range reads sent (incremental and repairs)."""
    rows_received: int = 0
    """Buffer entries the meters sent."""
    buffer_bytes: int = 0
    """A-XDR bytes of the buffers received."""
    values_stored: int = 0
    """New (meter, channel, capture time) values stored."""
    gaps_repaired: int = 0
    gaps_confirmed: int = 0
    gaps_given_up: int = 0
    undated_rows: int = 0
    """Entries without a usable capture time (skipped)."""
    out_of_range: int = 0
    """Entries outside the range asked for (skipped)."""
    failed: dict[bytes, str] = field(default_factory=dict)
    runs: list[int] = field(default_factory=list)
    stopped: str | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "profile": self.profile,
            "meters": self.meters,
            "reads": self.reads,
            "rows_received": self.rows_received,
            "buffer_bytes": self.buffer_bytes,
            "values_stored": self.values_stored,
            "gaps_repaired": self.gaps_repaired,
            "gaps_confirmed": self.gaps_confirmed,
            "gaps_given_up": self.gaps_given_up,
            "undated_rows": self.undated_rows,
            "out_of_range": self.out_of_range,
            "failed": {t.hex().upper(): r for t, r in sorted(self.failed.items())},
            "runs": self.runs,
            "stopped": self.stopped,
        }


def find_gaps(times: Sequence[float], period: int) -> list[tuple[float, float]]:
    """Missing capture instants between stored ones: ``(first, last)`` per hole, where two stored
    times more than 1.5 periods apart leave ``first = t1 + period``, ``last = t2 - period``."""
    if period <= 0:
        return []
    gaps = []
    for before, after in itertools.pairwise(times):
        if after - before > 1.5 * period:
            gaps.append((before + period, after - period))
    return gaps


def _timestamp(value: object) -> float | None:
    if not isinstance(value, CosemDateTime):
        return None
    try:
        return value.to_datetime(_dt.UTC).timestamp()
    except (CosemnetError, ValueError, OverflowError):
        return None


def _utc(seconds: float) -> _dt.datetime:
    return _dt.datetime.fromtimestamp(seconds, _dt.UTC)


class ProfileCollector:
    """The sans-IO planner and absorber of one profile (see the module docstring)."""

    def __init__(self, store: HeadEndStore, profile: Obis | str, config: ProfileConfig | None = None) -> None:
        self.store = store
        self.logical_name = Obis(profile) if not isinstance(profile, Obis) else profile
        self.profile = str(self.logical_name)
        self.config = config or ProfileConfig()
        self._channels: dict[bytes, list[ProfileChannelRow]] = {}
        for row in store.profile_channels(self.profile):
            self._channels.setdefault(row.system_title, []).append(row)

    # -- channels (capture objects, capture period, scaler and unit) -----------------------------

    def channels(self, title: bytes) -> list[ProfileChannelRow] | None:
        return self._channels.get(title)

    def needs_channels(self, titles: Iterable[bytes]) -> list[bytes]:
        return [t for t in titles if t not in self._channels]

    def description_attributes(self) -> list[AttributeRef]:
        """capture_objects and capture_period, read once per meter."""
        return [
            AttributeRef(PROFILE_CLASS_ID, self.logical_name, 3),
            AttributeRef(PROFILE_CLASS_ID, self.logical_name, 4),
        ]

    def scaler_attributes(self, capture_objects: DataValue) -> list[AttributeRef]:
        """The scaler_unit attributes of the register channels of ``capture_objects`` (in order)."""
        return [
            AttributeRef(
                c.definition.class_id, c.definition.logical_name, scaler_unit_attribute(c.definition.class_id)
            )
            for c in parse_capture_objects(capture_objects)
            if c.definition.class_id in SCALED_CLASS_IDS and c.definition.attribute_index == 2
        ]

    def absorb_channels(
        self,
        title: bytes,
        capture_objects: DataValue,
        capture_period: DataValue,
        scaler_units: Sequence[DataValue | None],
        now: float,
    ) -> list[ProfileChannelRow]:
        """Store a meter's channels (``scaler_units``: the values of :meth:`scaler_attributes`, None
        when that read failed: unscaled). Raises ProtocolError on a malformed description."""
        columns = parse_capture_objects(capture_objects)
        if not isinstance(capture_period, int) or isinstance(capture_period, bool) or capture_period < 0:
            raise ProtocolError(f"capture_period is not an unsigned number: {capture_period!r}")
        scalers = iter(scaler_units)
        rows = []
        for position, column in enumerate(columns):
            d = column.definition
            scaler: int | None = None
            unit: int | None = None
            if d.class_id in SCALED_CLASS_IDS and d.attribute_index == 2:
                value = next(scalers, None)
                if value is not None:
                    scaler, unit = parse_scaler_unit(value)
            rows.append(
                ProfileChannelRow(
                    title,
                    self.profile,
                    position,
                    d.class_id,
                    str(d.logical_name),
                    d.attribute_index,
                    d.data_index,
                    scaler,
                    unit,
                    int(capture_period),
                    now,
                )
            )
        self.store.save_profile_channels(rows)
        self._channels[title] = rows
        return rows

    # -- planning --------------------------------------------------------------------------------

    def plan(
        self, titles: Iterable[bytes], now: float, *, incremental: bool = True
    ) -> dict[bytes, list[RangeRead]]:
        """Per meter with known channels: the incremental read (when ``incremental``), then the
        reads of its open gaps (gaps found in the stored rows are recorded first)."""
        end = now + self.config.lookahead
        out: dict[bytes, list[RangeRead]] = {}
        for title in titles:
            channels = self._channels.get(title)
            if channels is None:
                continue
            reads = []
            if incremental:
                stored = self.store.last_capture_time(self.profile, title)
                first = now - self.config.backfill if stored is None else stored + 1.0
                if first <= end:
                    reads.append(RangeRead(title, first, end))
            gaps = self.detect_gaps(title, channels[0].capture_period, now)
            reads.extend(
                RangeRead(title, g.first, g.last, g) for g in gaps[: self.config.max_repairs_per_meter]
            )
            if reads:
                out[title] = reads
        return out

    def detect_gaps(self, title: bytes, period: int, now: float) -> list[GapRow]:
        """Record the gaps between stored rows (new ones ``open``; open records no longer missing
        ``repaired``) and return the open ones, oldest first."""
        times = self.store.capture_times(self.profile, title, now - self.config.gap_horizon)
        holes = find_gaps(times, period)
        records = {(g.first, g.last): g for g in self.store.gaps(self.profile, title)}
        changed = []
        for key, record in records.items():
            if record.status == GAP_OPEN and key not in holes:
                changed.append(GapRow(title, self.profile, *key, GAP_REPAIRED, record.attempts, now))
        for first, last in holes:
            if (first, last) not in records:
                records[first, last] = GapRow(title, self.profile, first, last, GAP_OPEN, 0, now)
                changed.append(records[first, last])
        if changed:
            self.store.save_gaps(changed)
        return [records[h] for h in holes if records[h].status == GAP_OPEN]

    def clock_column(self, title: bytes) -> ProfileChannelRow:
        clock = next((c for c in self._channels[title] if c.class_id == 8 and c.attribute_id == 2), None)
        if clock is None:
            raise ProtocolError(f"profile {self.profile} has no clock column to select a range on")
        return clock

    def attribute(self, read: RangeRead) -> AttributeRef:
        """The buffer attribute with the range selection of ``read``."""
        clock = self.clock_column(read.system_title)
        restricting = CaptureObjectDefinition(8, Obis(clock.logical_name), 2, clock.data_index)
        selection = range_selection(restricting, _utc(read.first), _utc(read.last))
        return AttributeRef(PROFILE_CLASS_ID, self.logical_name, 2, selection)

    # -- answers ---------------------------------------------------------------------------------

    def absorb(
        self, read: RangeRead, buffer: DataValue, run_id: int, now: float, report: ProfileReport
    ) -> None:
        """Store the rows of a range read's answer; a gap read answered settles the missing instants
        inside its range (``confirmed``: the meter does not have them)."""
        channels = self._channels[read.system_title]
        columns = [
            Column(CaptureObjectDefinition(c.class_id, Obis(c.logical_name), c.attribute_id, c.data_index))
            for c in channels
        ]
        period = channels[0].capture_period
        with contextlib.suppress(EncodeError):
            report.buffer_bytes += len(encode_data(buffer))
        rows = profile_rows(buffer, columns, period)
        report.rows_received += len(rows)
        out: list[ProfileRow] = []
        for row in rows:
            at = next((_timestamp(row.get(c.name)) for c in columns if c.is_clock), None)
            if at is None:
                report.undated_rows += 1
                continue
            if not read.first - 0.5 <= at <= read.last + 0.5:
                report.out_of_range += 1  # not what was asked for: a meter ignoring the selection
                continue
            for channel, column in zip(channels, columns, strict=True):
                if column.is_clock or column.name not in row:
                    continue
                out.append(
                    _value_row(
                        read.system_title, self.profile, channel, column.name, at, row[column.name], run_id
                    )
                )
        report.values_stored += self.store.add_profile_rows(out)
        if read.gap is not None:
            self._settle(read, period, now, report)

    def _settle(self, read: RangeRead, period: int, now: float, report: ProfileReport) -> None:
        """After a gap read was answered: what is still missing inside it is confirmed missing."""
        gap = read.gap
        assert gap is not None
        times = self.store.capture_times(self.profile, read.system_title, gap.first - period)
        times = [t for t in times if t <= gap.last + period]
        remaining = [
            h for h in find_gaps(times, period) if h[0] >= gap.first - 0.5 and h[1] <= gap.last + 0.5
        ]
        rows = [
            GapRow(read.system_title, self.profile, gap.first, gap.last, GAP_REPAIRED, gap.attempts + 1, now)
        ]
        if remaining:
            rows = [
                GapRow(read.system_title, self.profile, f, last, GAP_CONFIRMED, gap.attempts + 1, now)
                for f, last in remaining
            ]
            if (gap.first, gap.last) not in remaining:
                rows.append(
                    GapRow(
                        read.system_title,
                        self.profile,
                        gap.first,
                        gap.last,
                        GAP_REPAIRED,
                        gap.attempts + 1,
                        now,
                    )
                )
            report.gaps_confirmed += len(remaining)
        else:
            report.gaps_repaired += 1
        self.store.save_gaps(rows)

    def unanswered(self, read: RangeRead, reason: str, now: float, report: ProfileReport) -> None:
        """A range read got no answer: a gap read counts an attempt (given up at the limit)."""
        report.failed[read.system_title] = reason
        gap = read.gap
        if gap is None:
            return
        attempts = gap.attempts + 1
        status = GAP_GIVEN_UP if attempts >= self.config.max_repair_attempts else GAP_OPEN
        if status == GAP_GIVEN_UP:
            report.gaps_given_up += 1
        self.store.save_gaps(
            [GapRow(read.system_title, self.profile, gap.first, gap.last, status, attempts, now)]
        )


def _value_row(
    title: bytes, profile: str, channel: ProfileChannelRow, name: str, at: float, cell: object, run_id: int
) -> ProfileRow:
    value: float | None = None
    if is_numeric(cell):  # type: ignore[arg-type]
        number = float(cell)  # type: ignore[arg-type]
        value = number * 10.0**channel.scaler if channel.scaler else number
        if not math.isfinite(value):
            value = None
    try:
        raw: bytes | None = encode_data(cell)  # type: ignore[arg-type]
    except EncodeError:
        raw = None
    return ProfileRow(title, profile, name, at, value, raw, channel.unit, run_id)


# ------------------------------------------------------------------------------------------------
# asyncio driver


async def wait_runs(
    service: HeadEndService, runs: Sequence[CollectRun], stop: asyncio.Event | None, grace: float
) -> None:
    """Wait for ``runs``; on ``stop``: no new requests, ``grace`` seconds for those in flight, then
    the rest abandoned (what was answered is kept)."""

    async def every() -> None:
        await asyncio.gather(*(service.wait_run(r) for r in runs))

    done = asyncio.ensure_future(every())
    try:
        if stop is None:
            await done
            return
        waiter = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({done, waiter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
        if done.done():
            return
        for run in runs:
            service.stop_collect(run, "stopped")
        await asyncio.wait({done}, timeout=grace)
        for run in runs:
            if not run.finished:
                service.abandon_collect(run, "stopped")
    finally:
        done.cancel()


async def _run_groups(
    service: HeadEndService,
    groups: dict[tuple[str, ...], tuple[list[AttributeRef], list[bytes]]],
    stop: asyncio.Event | None,
    grace: float,
) -> list[CollectRun]:
    """One collect run per group (attributes, meters), all at once (each meter in one group)."""
    runs = [service.start_collect(attrs, system_titles=titles) for attrs, titles in groups.values()]
    if runs:
        await wait_runs(service, runs, stop, grace)
    return runs


async def _describe(
    service: HeadEndService,
    collector: ProfileCollector,
    titles: list[bytes],
    report: ProfileReport,
    stop: asyncio.Event | None,
    grace: float,
) -> None:
    """Read and store the channels of the meters that have none stored."""
    if not titles:
        return
    first = await _run_groups(service, {(): (collector.description_attributes(), titles)}, stop, grace)
    (run,) = first
    report.runs.append(run.run_id)
    described: dict[bytes, tuple[DataValue, DataValue, list[AttributeRef]]] = {}
    groups: dict[tuple[str, ...], tuple[list[AttributeRef], list[bytes]]] = {}
    for title, result in run.results.items():
        if not result.ok:
            report.failed[title] = next(e for e in result.errors if e is not None)
            continue
        objects, period = result.values
        try:
            scalers = collector.scaler_attributes(objects)
        except ProtocolError as exc:
            report.failed[title] = str(exc)
            continue
        described[title] = (objects, period, scalers)
        groups.setdefault(tuple(str(a) for a in scalers), (scalers, []))[1].append(title)
    report.failed.update(run.failed)
    empty = groups.pop((), None)
    runs = await _run_groups(service, groups, stop, grace)
    answers: dict[bytes, list[DataValue | None]] = {t: [] for t in empty[1]} if empty else {}
    for scaler_run in runs:
        report.runs.append(scaler_run.run_id)
        report.failed.update(scaler_run.failed)
        answers.update({t: list(r.values) for t, r in scaler_run.results.items()})
    now = service.clock()
    for title, values in answers.items():
        objects, period, _ = described[title]
        try:
            collector.absorb_channels(title, objects, period, values, now)
        except ProtocolError as exc:
            report.failed[title] = str(exc)


async def _read_round(
    service: HeadEndService,
    collector: ProfileCollector,
    plan: dict[bytes, list[RangeRead]],
    report: ProfileReport,
    stop: asyncio.Event | None,
    grace: float,
) -> None:
    """The planned reads in waves: each meter's n-th read in wave n, one run per distinct range."""
    depth = max((len(reads) for reads in plan.values()), default=0)
    for wave in range(depth):
        if stop is not None and stop.is_set():
            return
        groups: dict[tuple[str, ...], tuple[list[AttributeRef], list[bytes]]] = {}
        reads: dict[tuple[str, ...], dict[bytes, RangeRead]] = {}
        for title, items in plan.items():
            if wave >= len(items):
                continue
            read = items[wave]
            key: tuple[str, ...] = (
                collector.clock_column(title).logical_name,
                str(read.first),
                str(read.last),
            )
            groups.setdefault(key, ([collector.attribute(read)], []))[1].append(title)
            reads.setdefault(key, {})[title] = read
        runs = await _run_groups(service, groups, stop, grace)
        now = service.clock()
        for key, run in zip(groups, runs, strict=True):
            _absorb_run(collector, run, reads[key], now, report)
            collector.store.compact_run_values(run.run_id, _COMPACTED)


def _absorb_run(
    collector: ProfileCollector,
    run: CollectRun,
    reads: dict[bytes, RangeRead],
    now: float,
    report: ProfileReport,
) -> None:
    report.runs.append(run.run_id)
    report.reads += len(run.results) + len(run.failed)
    for title, result in run.results.items():
        read = reads[title]
        if result.errors[0] is not None:
            collector.unanswered(read, result.errors[0], now, report)
            continue
        try:
            collector.absorb(read, result.values[0], run.run_id, now, report)
        except ProtocolError as exc:
            report.failed[title] = str(exc)
    for title, reason in run.failed.items():
        collector.unanswered(reads[title], reason, now, report)
    if run.stopped:
        report.stopped = run.stopped


async def collect_profile(
    service: HeadEndService,
    profile: Obis | str,
    *,
    config: ProfileConfig | None = None,
    system_titles: Iterable[bytes] | None = None,
    stop: asyncio.Event | None = None,
    grace: float = 2.0,
) -> ProfileReport:
    """Collect ``profile`` from every registered meter (or ``system_titles``): channels first where
    unknown, then the new rows, then the open gaps, round after round until none is left to ask
    (at most ``max_repair_attempts + 1`` rounds). ``stop`` set: the runs in progress end cleanly."""
    collector = ProfileCollector(service.head_end.store, profile, config)
    if system_titles is None:
        titles = [e.system_title for e in service.head_end.book.entries()]
    else:
        titles = [bytes(t) for t in system_titles]
    report = ProfileReport(collector.profile, meters=len(titles))
    await _describe(service, collector, collector.needs_channels(titles), report, stop, grace)
    for round_number in range(collector.config.max_repair_attempts + 1):
        if stop is not None and stop.is_set():
            report.stopped = report.stopped or "stopped"
            break
        plan = collector.plan(titles, service.clock(), incremental=round_number == 0)
        if not plan:
            break
        await _read_round(service, collector, plan, report, stop, grace)
    _log.info(
        "profile %s: %d meters, %d reads, %d rows received, %d values stored",
        collector.profile,
        report.meters,
        report.reads,
        report.rows_received,
        report.values_stored,
    )
    return report
