"""The collector worker's decisions (cosemnet.headend.worker), on a SQLite storage with a fake clock:
what it leases and in which waves, what an answer or a failure writes, when leases are renewed, and the
counters' blocks given up at each lease (decision 0120). The processes on PostgreSQL:
tests/headend/storage/test_workers.py."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from pathlib import Path

import pytest

from cosemnet.codec.xdlms import DataAccessResult
from cosemnet.headend.events import FailReason, MeterCompleted, MeterFailed
from cosemnet.headend.shared import LeasedCounters, StorageAddressBook
from cosemnet.headend.storage import JobState, Storage, open_storage
from cosemnet.headend.worker import CollectorWorker, WorkerConfig
from cosemnet.profiles.mesh import AddressEntry, AddressRegistrationData

T0 = 1_700_000_000.0
A, B = "3/1-0:1.8.0*255/2", "3/1-0:2.8.0*255/2"


def _title(i: int) -> bytes:
    return bytes.fromhex("4D4D4D00000000") + bytes([i])


@pytest.fixture
def storage(tmp_path: Path) -> Iterator[Storage]:
    s = open_storage(tmp_path / "hes.db")
    s.upsert_bindings(
        [
            AddressRegistrationData(
                _title(i), (AddressEntry(ipaddress.IPv6Address(f"fd00::{i + 1}"), 64),), 1, udp_port=40000 + i
            )
            for i in range(4)
        ],
        T0,
    )
    yield s
    s.close()


def _worker(storage: Storage, **options: float) -> CollectorWorker:
    return CollectorWorker(storage, WorkerConfig("w1", batch=10, lease_seconds=10.0, **options))  # type: ignore[arg-type]


def test_a_lease_gives_waves_per_run_and_preloads_the_bindings(storage: Storage) -> None:
    first = storage.start_run(A, 4, T0)
    second = storage.start_run(f"{A},{B}", 2, T0 + 1)
    storage.create_jobs(first, [(_title(i), A) for i in range(4)], T0)
    storage.create_jobs(second, [(_title(i), a) for i in range(2) for a in (A, B)], T0)
    book = StorageAddressBook(storage)
    waves = _worker(storage).lease(T0 + 2, book)
    # a meter with jobs of two runs is read once per wave, never twice at once
    assert [[(o.run_id, len(o.attributes), o.system_titles) for o in w] for w in waves] == [
        [(first, 1, tuple(_title(i) for i in range(4)))],
        [(second, 2, (_title(0), _title(1)))],
    ]
    assert book.lookup(_title(3)) is not None and book._cache  # one query, then memory


def test_answers_become_readings_at_the_runs_time_then_jobs_done(storage: Storage) -> None:
    run = storage.start_run(A, 2, T0)
    storage.create_jobs(run, [(_title(0), A), (_title(1), A)], T0)
    worker = _worker(storage)
    (wave,) = worker.lease(T0 + 5)
    worker.started(wave[0], 77)
    worker.on_event(MeterCompleted(77, _title(0), (1234,), (None,), 1, T0 + 6), T0 + 6)
    worker.on_event(
        MeterCompleted(77, _title(1), (None,), (DataAccessResult.OBJECT_UNDEFINED,), 1, T0 + 6.5), T0 + 6.5
    )
    assert not worker.flush_due(T0 + 6.2) and worker.flush_due(T0 + 6.5)
    worker.tick(T0 + 6.5)
    readings = storage.readings(run_id=run)
    assert [(r.system_title, r.captured_at, r.value_text, r.error) for r in readings] == [
        (_title(0), T0, "1234", None),  # the run's nominal time: a retried read is stored once
        (_title(1), T0, None, str(DataAccessResult.OBJECT_UNDEFINED)),
    ]
    assert storage.job_counts(run)[JobState.DONE] == 2 and worker.held == 0
    # the same answer again (another worker after a lease expiry) adds no reading
    assert storage.add_readings(readings, T0 + 7) == 0


def test_a_failed_meter_goes_back_to_the_queue_then_fails_for_good(storage: Storage) -> None:
    run = storage.start_run(A, 1, T0)
    storage.create_jobs(run, [(_title(0), A)], T0)
    worker = _worker(storage, retry_after=30.0, max_attempts=2)
    now = T0
    for attempt in (1, 2):
        (wave,) = worker.lease(now)
        worker.started(wave[0], attempt)
        worker.on_event(MeterFailed(attempt, _title(0), FailReason.NO_ANSWER, 8, now), now)
        worker.flush(now)
        assert worker.lease(now + 1) == []  # held back retry_after seconds
        now += 31
    assert storage.job_counts(run)[JobState.FAILED] == 1
    assert worker.stats.failed == 2 and worker.stats.failed_for_good == 1
    assert worker.queue_empty()


def test_leases_are_renewed_while_reading_and_a_lost_one_is_counted(storage: Storage) -> None:
    run = storage.start_run(A, 2, T0)
    storage.create_jobs(run, [(_title(0), A), (_title(1), A)], T0)
    worker = _worker(storage)
    worker.lease(T0)
    assert not worker.renew_due(T0 + 4.9) and worker.renew_due(T0 + 5)
    assert worker.renew(T0 + 5) == 2
    # past the renewed lease another worker takes the meters over: the late renewal is refused
    other = CollectorWorker(storage, WorkerConfig("w2", batch=10, lease_seconds=10.0))
    assert len(other.lease(T0 + 15.1)) == 1
    assert worker.renew(T0 + 15.2) == 0 and worker.stats.leases_lost == 2


def test_each_lease_takes_counter_values_from_a_block_reserved_after_it(storage: Storage) -> None:
    run = storage.start_run(A, 4, T0)
    storage.create_jobs(run, [(_title(i), A) for i in range(4)], T0)
    counters_a, counters_b = LeasedCounters(storage, block_size=100), LeasedCounters(storage, block_size=100)
    owner = bytes(8)
    a, b = counters_a(owner, "guek"), counters_b(owner, "guek")
    first = a.next()
    assert b.next() > first  # two workers never share a value ...
    worker = CollectorWorker(storage, WorkerConfig("w1", batch=2), counters_a)
    worker.lease(T0)
    # ... and after a lease the worker's next value is above every value handed out before it
    assert a.next() > b.next() > first and counters_a.blocks_dropped == 1
