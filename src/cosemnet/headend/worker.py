"""Collector workers on the shared storage (issue 13; decisions 0062, 0120).

Any number of ``cosemnet hes worker`` processes, on any number of machines, read meters for the
jobs of a :class:`~cosemnet.headend.storage.Storage` (PostgreSQL): each loops

1. **lease** up to ``batch`` meters (all their open jobs; one meter has one owner at a time, decision
   0062), read their bindings from the storage in one query, and give up the invocation-counter
   blocks in hand (decision 0120);
2. **read** them through a :class:`~cosemnet.headend.headend.HeadEnd` (the ordinary collect path:
   association, GET or GET-with-list, throttle, retries), one collect per run and attribute set, in
   *waves* so that a meter with jobs of two runs is never read twice at once;
3. **store** each answer as it arrives, from the core's typed events: readings with the run's nominal
   time as capture time (idempotent: a retried read is stored once), then the jobs completed, or
   failed (back to the queue after ``retry_after`` seconds while attempts remain);
4. **renew** the leases while reading (at ``renew_fraction`` of the lease), and start again.

:class:`CollectorWorker` holds the decisions (what to lease, when to renew and flush, when the queue is
empty) with time passed in; :func:`run_worker` is the thin asyncio driver around a
:class:`~cosemnet.headend.service.HeadEndService`. A worker killed with ``kill -9`` loses nothing: its
leases expire and another worker reads its meters again; readings it stored are not stored twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from cosemnet.headend.events import HeadEndEvent, MeterCompleted, MeterFailed
from cosemnet.headend.runs import AttributeRef, CollectRun
from cosemnet.headend.service import HeadEndService
from cosemnet.headend.shared import LeasedCounters, StorageAddressBook
from cosemnet.headend.storage import Job, JobState, Reading, Storage

__all__ = ["CollectOrder", "CollectorWorker", "WorkerConfig", "WorkerStats", "run_worker"]

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class WorkerConfig:
    owner: str
    """This worker's name in the job tables (unique per process: host and pid by default)."""
    batch: int = 200
    """Meters leased at a time."""
    lease_seconds: float = 60.0
    renew_fraction: float = 0.5
    """Leases are renewed when this fraction of the lease has passed."""
    retry_after: float = 5.0
    """A failed meter goes back to the queue after this many seconds ..."""
    max_attempts: int = 3
    """... until it was leased this many times: then its jobs fail for good."""
    flush_interval: float = 0.5
    """Readings and job results are written at least this often (and at the end of each wave)."""
    flush_rows: int = 500
    idle_poll: float = 1.0
    """Seconds between lease attempts while the queue holds no job this worker may take."""


@dataclass(frozen=True, slots=True)
class CollectOrder:
    """One collect for the head-end core: these meters, these attributes, for this storage run."""

    run_id: int
    attributes: tuple[AttributeRef, ...]
    system_titles: tuple[bytes, ...]


@dataclass(slots=True)
class WorkerStats:
    leases: int = 0
    meters: int = 0
    """Meters leased (a meter leased twice counts twice)."""
    answered: int = 0
    failed: int = 0
    failed_for_good: int = 0
    readings_new: int = 0
    readings: int = 0
    leases_lost: int = 0
    """Meters whose lease could not be renewed (taken over after expiry)."""


@dataclass(slots=True)
class _Held:
    """A leased meter: its open jobs, grouped per run."""

    jobs: dict[int, list[Job]] = field(default_factory=dict)


class CollectorWorker:
    """The decisions of a collector worker (see the module docstring); every call takes ``now``."""

    def __init__(
        self, storage: Storage, config: WorkerConfig, counters: LeasedCounters | None = None
    ) -> None:
        self.storage = storage
        self.config = config
        self.counters = counters
        self.stats = WorkerStats()
        self._held: dict[bytes, _Held] = {}
        self._job_meter: dict[int, bytes] = {}
        self._orders: dict[int, CollectOrder] = {}
        """Head-end run id -> the order it runs."""
        self._captured: dict[int, float] = {}
        self._readings: list[Reading] = []
        self._done: list[int] = []
        self._failed: dict[str, list[Job]] = defaultdict(list)
        self._renew_at: float | None = None
        self._flush_at: float | None = None

    @property
    def held(self) -> int:
        """Meters leased and not finished."""
        return len(self._held)

    # -- leasing -------------------------------------------------------------------------------

    def lease(self, now: float, book: StorageAddressBook | None = None) -> list[list[CollectOrder]]:
        """Lease a batch; returns its waves (each a list of orders for disjoint meters; empty: nothing
        to lease now). ``book``: the head-end's address book, given the leased bindings."""
        cfg = self.config
        jobs = self.storage.lease_jobs(cfg.owner, cfg.batch, cfg.lease_seconds, now)
        if not jobs:
            return []
        self.stats.leases += 1
        for job in jobs:
            held = self._held.setdefault(job.system_title, _Held())
            held.jobs.setdefault(job.run_id, []).append(job)
            self._job_meter[job.job_id] = job.system_title
        self.stats.meters += len({j.system_title for j in jobs})
        self._renew_at = now + cfg.lease_seconds * cfg.renew_fraction
        if book is not None:
            book.preload(sorted({j.system_title for j in jobs}))
        if self.counters is not None:
            self.counters.refresh()  # decision 0120: a block reserved after the lease
        return self._waves(jobs)

    def _waves(self, jobs: list[Job]) -> list[list[CollectOrder]]:
        """Orders per (run, attribute set); a meter's k-th run goes in wave k."""
        per_meter: dict[bytes, dict[int, list[Job]]] = {}
        for job in jobs:
            per_meter.setdefault(job.system_title, {}).setdefault(job.run_id, []).append(job)
        waves: list[dict[tuple[int, tuple[str, ...]], list[bytes]]] = []
        for title, runs in per_meter.items():
            for k, (run_id, run_jobs) in enumerate(sorted(runs.items())):
                if k == len(waves):
                    waves.append({})
                attrs = tuple(sorted({j.attribute for j in run_jobs}))
                waves[k].setdefault((run_id, attrs), []).append(title)
        return [
            [
                CollectOrder(run_id, tuple(AttributeRef.parse(a) for a in attrs), tuple(sorted(titles)))
                for (run_id, attrs), titles in sorted(wave.items())
            ]
            for wave in waves
        ]

    def started(self, order: CollectOrder, head_end_run_id: int) -> None:
        """The head-end started ``order`` as its run ``head_end_run_id``."""
        self._orders[head_end_run_id] = order
        if order.run_id not in self._captured:
            started = self.storage.run_started(order.run_id)
            self._captured[order.run_id] = started if started is not None else 0.0

    # -- results ----------------------------------------------------------------------------------

    def on_event(self, event: HeadEndEvent, now: float) -> None:
        """A typed event of the head-end core: answers become readings and finished jobs."""
        if isinstance(event, MeterCompleted):
            self._answered(event)
        elif isinstance(event, MeterFailed):
            order = self._orders.get(event.run_id)
            jobs = self._jobs_of(order, event.system_title)
            if jobs:
                title = event.system_title.hex()
                logger.debug("meter %s failed: %s %s", title, event.reason.value, event.failure)
                self.stats.failed += 1
                self._failed[event.reason.value].extend(jobs)
        else:
            return
        if self._flush_at is None:
            self._flush_at = now + self.config.flush_interval

    def _jobs_of(self, order: CollectOrder | None, title: bytes) -> list[Job]:
        held = self._held.get(title)
        if order is None or held is None:
            return []
        return held.jobs.get(order.run_id, [])

    def _answered(self, event: MeterCompleted) -> None:
        order = self._orders.get(event.run_id)
        jobs = self._jobs_of(order, event.system_title)
        if order is None or not jobs:
            return
        self.stats.answered += 1
        captured = self._captured.get(order.run_id, 0.0)
        for i, attr in enumerate(order.attributes):
            value = event.values[i] if i < len(event.values) else None
            result = event.access_results[i] if i < len(event.access_results) else None
            ref = (attr.class_id, str(attr.logical_name), attr.attribute_id)
            if result is None and value is not None:
                reading = Reading.of_value(event.system_title, ref, captured, value, run_id=order.run_id)
            else:
                error = None if result is None else str(result)
                reading = Reading(event.system_title, *ref, captured, None, None, None, error, order.run_id)
            self._readings.append(reading)
        self._done.extend(j.job_id for j in jobs)

    def flush_due(self, now: float) -> bool:
        pending = len(self._readings) + len(self._done)
        return pending >= self.config.flush_rows or (self._flush_at is not None and now >= self._flush_at)

    def flush(self, now: float) -> None:
        """Readings first (committed), then the jobs they finish: a crash in between leaves the jobs
        to be read again, and the readings' key keeps them once."""
        self._flush_at = None
        if self._readings:
            readings, self._readings = self._readings, []
            self.stats.readings += len(readings)
            self.stats.readings_new += self.storage.add_readings(readings, now)
        if self._done:
            done, self._done = self._done, []
            self.storage.complete_jobs(self.config.owner, done, now)
            self._finished(set(done))
        for error, jobs in list(self._failed.items()):
            del self._failed[error]
            cfg = self.config
            self.storage.fail_jobs(
                cfg.owner,
                [j.job_id for j in jobs],
                error,
                now,
                retry_after=cfg.retry_after,
                max_attempts=cfg.max_attempts,
            )
            self.stats.failed_for_good += len(
                {j.system_title for j in jobs if j.attempts >= cfg.max_attempts}
            )
            self._finished({j.job_id for j in jobs})

    def _finished(self, job_ids: set[int]) -> None:
        """Forget finished jobs; a meter without open jobs is no longer held (the storage released it)."""
        for title in {self._job_meter.pop(i) for i in job_ids if i in self._job_meter}:
            held = self._held.get(title)
            if held is None:
                continue
            held.jobs = {r: js for r, js in held.jobs.items() if not any(j.job_id in job_ids for j in js)}
            if not held.jobs:
                del self._held[title]

    def abandon(self) -> None:
        """The meters still held after their wave ended (the run was stopped): left to expire."""
        self._held.clear()
        self._job_meter.clear()
        self._orders.clear()

    # -- leases -------------------------------------------------------------------------------------

    def renew_due(self, now: float) -> bool:
        return self._renew_at is not None and bool(self._held) and now >= self._renew_at

    def renew(self, now: float) -> int:
        cfg = self.config
        titles = list(self._held)
        renewed = self.storage.renew_lease(cfg.owner, titles, cfg.lease_seconds, now)
        if renewed < len(titles):
            self.stats.leases_lost += len(titles) - renewed
            logger.warning("%d leases could not be renewed (expired and taken over)", len(titles) - renewed)
        self._renew_at = now + cfg.lease_seconds * cfg.renew_fraction
        return renewed

    def next_deadline(self) -> float | None:
        """When :meth:`tick` has something to do (a flush or a renewal)."""
        times = [t for t in (self._flush_at, self._renew_at if self._held else None) if t is not None]
        return min(times) if times else None

    def tick(self, now: float) -> None:
        if self.flush_due(now):
            self.flush(now)
        if self.renew_due(now):
            self.renew(now)

    def queue_empty(self) -> bool:
        """No job is queued or leased by anyone (``--until-idle`` stops)."""
        counts = self.storage.job_counts()
        return counts.get(JobState.QUEUED, 0) + counts.get(JobState.LEASED, 0) == 0


async def _run_order(service: HeadEndService, worker: CollectorWorker, order: CollectOrder) -> CollectRun:
    run = service.start_collect(list(order.attributes), system_titles=order.system_titles)
    worker.started(order, run.run_id)
    return run


async def _read_wave(
    service: HeadEndService,
    worker: CollectorWorker,
    wave: list[CollectOrder],
    clock: Callable[[], float],
    stop: asyncio.Event,
) -> None:
    """Run a wave's collects, flushing and renewing on time, until they end (or ``stop``)."""
    runs = [await _run_order(service, worker, order) for order in wave]
    finished: asyncio.Future[object] = asyncio.ensure_future(
        asyncio.gather(*(service.wait_run(r) for r in runs))
    )
    stopping: asyncio.Future[object] = asyncio.ensure_future(stop.wait())
    try:
        while not finished.done() and not stop.is_set():
            worker.tick(clock())
            deadline = worker.next_deadline()
            wait = 1.0 if deadline is None else max(deadline - clock(), 0.001)
            await asyncio.wait({finished, stopping}, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
        if not finished.done():
            finished.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await finished
    for run in runs:
        if not run.finished:
            service.abandon_collect(run, "worker stopped")
    for event in service.head_end.pop_events():  # events of the last pass not handed on yet
        worker.on_event(event, clock())
    worker.flush(clock())


async def run_worker(
    service: HeadEndService,
    worker: CollectorWorker,
    book: StorageAddressBook,
    *,
    until_idle: bool = False,
    stop: asyncio.Event | None = None,
    clock: Callable[[], float] = time.time,
) -> WorkerStats:
    """Lease, read, store, until ``stop`` is set (or, ``until_idle``, the queue is empty)."""
    stop = stop if stop is not None else asyncio.Event()
    service.on_event = lambda e: worker.on_event(e, clock())
    while not stop.is_set():
        waves = worker.lease(clock(), book)
        if not waves:
            if until_idle and worker.queue_empty():
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), worker.config.idle_poll)
            continue
        for wave in waves:
            if not stop.is_set():
                await _read_wave(service, worker, wave, clock, stop)
        worker.abandon()
    worker.flush(clock())
    return worker.stats
