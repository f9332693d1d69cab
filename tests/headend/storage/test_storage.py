"""The storage suite: every test runs on SQLite and on PostgreSQL (see conftest.py).

Address book rules (decision 0024), counter blocks from several threads and processes (decision
0062), received floors, idempotent readings, events, job leasing with expiry and one owner per meter,
schema migrations (decision 0060).
"""

from __future__ import annotations

import ipaddress
import itertools
import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from cosemnet.codec.axdr import decode_data_exact
from cosemnet.codec.types import DoubleLongUnsigned
from cosemnet.headend.storage import (
    BlockInvocationCounter,
    Event,
    JobState,
    Reading,
    SqliteStorage,
    Storage,
    StorageError,
    iter_readings,
    open_storage,
    shard_of,
)
from cosemnet.profiles.mesh.address_book import UpsertResult
from cosemnet.profiles.mesh.registration import (
    AddressEntry,
    AddressRegistrationData,
    AddressUpdateData,
    RegistrationReason,
)
from cosemnet.security.counters import MAX_INVOCATION_COUNTER
from cosemnet.security.errors import InvocationCounterExhaustedError
from cosemnet.security.keys import KeyRole

from .conftest import Backend

TITLE = bytes.fromhex("4D4D4D0000BC614E")
OTHER = bytes.fromhex("4D4D4D0000000002")
ROUTER = ipaddress.IPv6Address("2001:db8:a::1")
ENERGY = "3/1-0:1.8.0*255/2"
POWER = "3/1-0:1.7.0*255/2"
SRC = str(Path(__file__).resolve().parents[3] / "src")


def reg(seq: int, *addresses: str, title: bytes = TITLE) -> AddressRegistrationData:
    return AddressRegistrationData(
        title, tuple(AddressEntry.of(a) for a in addresses), seq, border_router=ROUTER
    )


def titles(n: int) -> list[bytes]:
    return [bytes.fromhex("4D4D4D00") + i.to_bytes(4, "big") for i in range(1, n + 1)]


def reading(title: bytes, at: float, value: int, logical_name: str = "1-0:1.8.0*255") -> Reading:
    return Reading.of_value(title, (3, logical_name, 2), at, DoubleLongUnsigned(value), unit="Wh", run_id=1)


def child(backend: Backend, body: str) -> subprocess.Popen[str]:
    """A real process running ``body`` with ``store`` opened on the backend."""
    code = "import sys\nfrom cosemnet.headend.storage import open_storage\n"
    code += f"store = open_storage({backend.target!r})\n" + textwrap.dedent(body)
    env = {**os.environ, "PYTHONPATH": SRC}
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env)


# -- opening and schema ----------------------------------------------------------------------------


def test_open_storage_picks_the_backend_and_migrates_to_the_latest(backend: Backend, store: Storage) -> None:
    assert store.backend == backend.name
    assert store.schema_version() == 2
    again = backend.open()  # a second opener finds the schema current and changes nothing
    assert again.schema_version() == 2
    again.close()


def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "not.db"
    bad.write_bytes(b"this is not a database file at all" * 100)
    with pytest.raises(StorageError, match=r"not\.db"):
        open_storage(bad)


def test_postgres_unreachable_is_a_clear_error() -> None:
    with pytest.raises(StorageError, match="cannot connect"):
        open_storage("postgresql://nobody@/none?host=/nonexistent-dir&connect_timeout=1")


# -- address book ----------------------------------------------------------------------------------


def test_sequence_number_rules(store: Storage) -> None:
    first = reg(5, "2001:db8:a::17")
    assert store.upsert_bindings([first], now=100.0) == [UpsertResult.CREATED]
    assert store.upsert_bindings([first], now=101.0) == [UpsertResult.DUPLICATE]
    assert store.upsert_bindings([reg(4, "2001:db8:a::99")], now=102.0) == [UpsertResult.STALE]
    assert store.upsert_bindings([reg(5, "2001:db8:a::99")], now=102.0) == [UpsertResult.STALE]
    assert store.upsert_bindings([reg(6, "2001:db8:a::17")], now=103.0) == [UpsertResult.REFRESHED]
    moved = AddressUpdateData(
        TITLE,
        (AddressEntry.of("2001:db8:a::17"),),
        (AddressEntry.of("2001:db8:b::17"),),
        7,
        border_router=ROUTER,
    )
    assert store.upsert_bindings([moved], now=104.0) == [UpsertResult.CHANGED]
    assert store.upsert_bindings([reg(1, "2001:db8:c::1")], now=105.0, force=True) == [UpsertResult.CHANGED]
    entry = store.binding(TITLE)
    assert entry is not None
    assert [str(a.address) for a in entry.addresses] == ["2001:db8:c::1"]
    assert (entry.first_seen, entry.last_seen, entry.last_sequence, entry.messages) == (100.0, 105.0, 1, 5)
    assert entry.binding.border_router == ROUTER
    history = store.binding_history(TITLE)
    assert [(h.sequence_number, h.reason) for h in history] == [
        (5, RegistrationReason.JOIN),
        (7, RegistrationReason.ADDRESS_CHANGE),
        (1, RegistrationReason.JOIN),
    ]
    assert history[0].old is None
    assert history[1].old is not None and str(history[1].old.addresses[0].address) == "2001:db8:a::17"
    assert [h.sequence_number for h in store.binding_history(TITLE, limit=1)] == [1]


def test_reverse_lookup_touch_forget_and_batches(store: Storage) -> None:
    many = titles(300)
    batch = [reg(1, f"2001:db8:1::{i:x}", title=t) for i, t in enumerate(many)]
    batch.append(reg(2, "2001:db8:1::5", title=many[0]))  # same title twice in one batch, in order
    results = store.upsert_bindings(batch, now=10.0)
    assert results[:300] == [UpsertResult.CREATED] * 300
    assert results[300] is UpsertResult.CREATED  # new in this batch, as AddressBook reports it
    assert store.titles_at_address(ipaddress.IPv6Address("2001:db8:1::5").packed) == [many[0], many[5]]
    assert store.titles_at_address(ipaddress.IPv6Address("2001:db8:1::0").packed) == []
    assert [e.system_title for e in store.bindings()] == many
    assert [e.system_title for e in store.bindings([many[7], many[2], b"\xff" * 8])] == [many[2], many[7]]
    assert store.touch_binding(many[1], now=50.0) and not store.touch_binding(b"\xff" * 8, now=50.0)
    entry = store.binding(many[1])
    assert entry is not None and entry.last_seen == 50.0
    assert store.forget_binding(many[1]) and not store.forget_binding(many[1])
    assert store.binding(many[1]) is None
    assert len(store.binding_history(many[1])) == 1  # history is kept


def test_concurrent_registrations_of_one_meter_keep_the_rules(backend: Backend) -> None:
    """Several processes' listeners apply messages of the same meters at once: every message is
    applied exactly once in some order, the stored sequence is the highest."""
    stores = [backend.open() for _ in range(4)]
    results: list[UpsertResult] = []
    lock = threading.Lock()

    def work(k: int) -> None:
        for seq in range(k, 40, 4):
            r = stores[k].upsert_bindings([reg(seq + 1, f"2001:db8::{seq + 1:x}")], now=float(seq))
            with lock:
                results.extend(r)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    entry = stores[0].binding(TITLE)
    assert entry is not None and entry.last_sequence == 40
    assert results.count(UpsertResult.CREATED) == 1
    applied = results.count(UpsertResult.CREATED) + results.count(UpsertResult.CHANGED)
    assert applied == len(stores[0].binding_history(TITLE)) == entry.messages
    for s in stores:
        s.close()


# -- counters --------------------------------------------------------------------------------------


def test_counter_blocks_follow_each_other_and_stop_below_2_32_minus_1(store: Storage) -> None:
    assert store.counter_ceiling(TITLE, "guek") is None
    assert store.reserve_counter_block(TITLE, "guek", 100) == (1, 100)
    assert store.reserve_counter_block(TITLE, "guek", 1) == (101, 101)
    assert store.reserve_counter_block(TITLE, "gbek", 10) == (1, 10)  # per key label
    assert store.reserve_counter_block(OTHER, "guek", 10) == (1, 10)  # per system title
    assert store.counter_ceiling(TITLE, "guek") == 102
    with pytest.raises(ValueError):
        store.reserve_counter_block(TITLE, "guek", 0)
    first, last = store.reserve_counter_block(TITLE, "guek", 2**33)
    assert (first, last) == (102, MAX_INVOCATION_COUNTER - 1)
    with pytest.raises(InvocationCounterExhaustedError):
        store.reserve_counter_block(TITLE, "guek", 1)
    assert store.counter_ceiling(TITLE, "guek") == MAX_INVOCATION_COUNTER


def test_counter_blocks_from_threads_never_overlap(backend: Backend) -> None:
    stores = [backend.open() for _ in range(4)]
    blocks: list[tuple[int, int]] = []
    lock = threading.Lock()

    def work(k: int) -> None:
        for i in range(40):
            block = stores[k].reserve_counter_block(TITLE, "guek", 1 + (i * 7 + k) % 13)
            with lock:
                blocks.append(block)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    _assert_disjoint_and_contiguous(blocks)
    for s in stores:
        s.close()


def _assert_disjoint_and_contiguous(blocks: list[tuple[int, int]]) -> None:
    blocks = sorted(blocks)
    assert blocks[0][0] == 1
    for (_, last), (first, _) in itertools.pairwise(blocks):
        assert first == last + 1, "blocks overlap or leave a gap"


def test_counter_blocks_from_two_processes_never_overlap(backend: Backend, store: Storage) -> None:
    body = """
    for i in range(200):
        first, last = store.reserve_counter_block(bytes.fromhex("4D4D4D0000BC614E"), "guek", 1 + i % 17)
        print(first, last)
    """
    procs = [child(backend, body) for _ in range(2)]
    blocks = []
    for p in procs:
        out, _ = p.communicate(timeout=120)
        assert p.returncode == 0
        blocks += [(int(a), int(b)) for a, b in (line.split() for line in out.splitlines())]
    assert len(blocks) == 400
    _assert_disjoint_and_contiguous(blocks)
    assert store.counter_ceiling(TITLE, "guek") == max(b for _, b in blocks) + 1


def test_a_block_handed_out_before_kill_9_is_never_handed_out_again(backend: Backend, store: Storage) -> None:
    body = """
    while True:
        first, last = store.reserve_counter_block(bytes.fromhex("4D4D4D0000BC614E"), "guek", 5)
        print(first, last, flush=True)
    """
    proc = child(backend, body)
    assert proc.stdout is not None
    seen = [tuple(map(int, proc.stdout.readline().split())) for _ in range(25)]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    first, _ = store.reserve_counter_block(TITLE, "guek", 5)
    assert first > max(last for _, last in seen)


def test_block_invocation_counters_sharing_a_key_never_repeat(backend: Backend, store: Storage) -> None:
    other = backend.open()
    a = BlockInvocationCounter(store, TITLE, "guek", block_size=3)
    b = BlockInvocationCounter(other, TITLE, "guek", block_size=4)
    values = [c.next() for _ in range(10) for c in (a, b)]
    assert len(set(values)) == 20
    assert values[:4] == [1, 4, 2, 5]
    other.close()


def test_received_floors_only_go_up(store: Storage) -> None:
    snapshot: dict[object, int] = {(TITLE, KeyRole.GLOBAL_UNICAST): 77, (OTHER, KeyRole.GLOBAL_BROADCAST): 5}
    snapshot["not-a-key"] = 3
    assert store.save_received_floors(snapshot) == 2
    assert (
        store.save_received_floors({(TITLE, KeyRole.GLOBAL_UNICAST): 12, (TITLE, KeyRole.DEDICATED): 9}) == 2
    )
    assert store.received_floors() == {
        (TITLE, KeyRole.GLOBAL_UNICAST): 77,
        (TITLE, KeyRole.DEDICATED): 9,
        (OTHER, KeyRole.GLOBAL_BROADCAST): 5,
    }
    assert store.received_floors(OTHER) == {(OTHER, KeyRole.GLOBAL_BROADCAST): 5}


# -- readings and events ---------------------------------------------------------------------------


def test_readings_are_stored_once_per_meter_attribute_and_capture_time(store: Storage) -> None:
    batch = [reading(TITLE, 900.0, 1), reading(TITLE, 1800.0, 2), reading(OTHER, 900.0, 3)]
    assert store.add_readings([*batch, reading(TITLE, 900.0, 1)], now=5000.0) == 3  # a repeat in the batch
    retried = [reading(TITLE, 1800.0, 99), reading(TITLE, 2700.0, 4)]  # a retried read, then a new one
    assert store.add_readings(retried, now=6000.0) == 1
    assert store.add_readings([], now=6000.0) == 0
    rows = store.readings()
    assert [(r.system_title, r.captured_at) for r in rows] == [
        (OTHER, 900.0),
        (TITLE, 900.0),
        (TITLE, 1800.0),
        (TITLE, 2700.0),
    ]
    kept = rows[2]
    assert kept.value is not None and decode_data_exact(kept.value) == 2  # the first write wins
    assert (kept.value_text, kept.unit, kept.attribute, kept.run_id, kept.stored_at) == (
        "2",
        "Wh",
        ENERGY,
        1,
        5000.0,
    )
    assert [r.captured_at for r in store.readings(TITLE)] == [900.0, 1800.0, 2700.0]
    failed = Reading(TITLE, 3, "1-0:1.7.0*255", 2, 900.0, None, error="timeout")
    assert store.add_readings([failed]) == 1
    assert store.readings(TITLE)[0].error == "timeout"


def test_readings_page_by_key(store: Storage) -> None:
    rows = [reading(t, 900.0 * k, k) for t in titles(7) for k in range(1, 4)]
    assert store.add_readings(rows) == 21
    paged = list(iter_readings(store, page=4))
    assert [r.key for r in paged] == sorted(r.key for r in rows)
    assert [r.key for r in iter_readings(store, titles(7)[3], page=2)] == [
        r.key for r in rows if r.system_title == titles(7)[3]
    ]
    assert len(store.readings(run_id=1)) == 21 and store.readings(run_id=2) == []


def test_events_repeated_pushes_are_stored_once(store: Storage) -> None:
    events = [
        Event(TITLE, 100.0, "power-failure", b"\x01"),
        Event(TITLE, 100.0, "power-failure", b"\x01"),  # the same push again
        Event(TITLE, 100.0, "power-failure", b"\x02"),  # same time and kind, other content
        Event(OTHER, 50.0, "tamper", b""),
    ]
    assert store.add_events(events, now=200.0) == 3
    assert store.add_events(events[:1], now=300.0) == 0
    stored = store.events()
    assert [(e.system_title, e.at, e.kind, e.payload) for e in stored] == [
        (OTHER, 50.0, "tamper", b""),
        (TITLE, 100.0, "power-failure", b"\x01"),
        (TITLE, 100.0, "power-failure", b"\x02"),
    ]
    assert all(e.received_at == 200.0 and e.event_id is not None for e in stored)
    assert [e.at for e in store.events(TITLE)] == [100.0, 100.0]
    assert len(store.events(since=60.0)) == 2 and len(store.events(limit=1)) == 1


# -- jobs ------------------------------------------------------------------------------------------


def _enqueue(
    store: Storage, meters: list[bytes], attributes: tuple[str, ...] = (ENERGY,), now: float = 0.0
) -> int:
    run = store.start_run(",".join(attributes), len(meters), now=now)
    assert store.create_jobs(run, [(t, a) for t in meters for a in attributes], now=now) == len(meters) * len(
        attributes
    )
    return run


def test_jobs_are_leased_per_meter_and_completed(store: Storage) -> None:
    meters = titles(5)
    run = _enqueue(store, meters, (ENERGY, POWER))
    assert store.create_jobs(run, [(meters[0], ENERGY)]) == 0  # already there
    leased = store.lease_jobs("w1", 2, 30.0, now=1.0)
    assert len(leased) == 4 and len({j.system_title for j in leased}) == 2  # every job of 2 meters
    assert all(j.state is JobState.LEASED and j.owner == "w1" and j.attempts == 1 for j in leased)
    assert all(j.lease_until == 31.0 for j in leased)
    others = store.lease_jobs("w2", 10, 30.0, now=2.0)
    assert {j.system_title for j in others}.isdisjoint({j.system_title for j in leased})
    assert len(others) == 6
    assert store.lease_jobs("w3", 10, 30.0, now=3.0) == []
    assert store.complete_jobs("w1", [j.job_id for j in leased], now=4.0) == 4
    assert store.complete_jobs("w1", [j.job_id for j in leased], now=4.0) == 0
    assert store.complete_jobs("w1", [j.job_id for j in others], now=4.0) == 0  # not w1's
    counts = store.job_counts(run)
    assert (counts[JobState.DONE], counts[JobState.LEASED], counts[JobState.QUEUED]) == (4, 6, 0)
    assert [j.system_title for j in store.jobs(run, JobState.DONE)][::2] == sorted(
        j.system_title for j in leased
    )[::2]


def test_an_expired_lease_returns_to_the_queue(store: Storage) -> None:
    """A worker that took jobs and died: they come back once its lease expires, and its late
    completion (if it was only slow) no longer counts."""
    meters = titles(3)
    _enqueue(store, meters)
    dead = store.lease_jobs("dead", 10, 30.0, now=100.0)
    assert len(dead) == 3
    assert store.lease_jobs("alive", 10, 30.0, now=129.0) == []
    back = store.lease_jobs("alive", 10, 30.0, now=130.0)
    assert sorted(j.job_id for j in back) == sorted(j.job_id for j in dead)
    assert all(j.attempts == 2 and j.owner == "alive" for j in back)
    assert store.complete_jobs("dead", [j.job_id for j in dead], now=131.0) == 0
    assert store.complete_jobs("alive", [j.job_id for j in back], now=132.0) == 3
    assert store.job_counts()[JobState.DONE] == 3


def test_renewing_a_lease_keeps_the_meters(store: Storage) -> None:
    _enqueue(store, titles(2))
    mine = store.lease_jobs("w1", 1, 30.0, now=0.0)
    meter = mine[0].system_title
    assert store.renew_lease("w1", [meter], 30.0, now=20.0) == 1
    assert store.renew_lease("w2", [meter], 30.0, now=20.0) == 0
    assert {j.system_title for j in store.lease_jobs("w2", 10, 30.0, now=40.0)} == set(titles(2)) - {meter}
    assert store.lease_jobs("w3", 10, 30.0, now=49.0) == []
    assert [j.system_title for j in store.lease_jobs("w3", 10, 30.0, now=50.0)] == [meter]


def test_one_meter_has_one_owner_across_runs(store: Storage) -> None:
    meter = titles(1)[0]
    _enqueue(store, [meter], (ENERGY,))
    first = store.lease_jobs("w1", 10, 30.0, now=0.0)
    _enqueue(store, [meter], (POWER,), now=1.0)  # a second run while w1 holds the meter
    assert store.lease_jobs("w2", 10, 30.0, now=2.0) == []
    store.complete_jobs("w1", [j.job_id for j in first], now=3.0)  # frees the meter
    second = store.lease_jobs("w2", 10, 30.0, now=4.0)
    assert [(j.attribute, j.owner) for j in second] == [(POWER, "w2")]


def test_failed_jobs_retry_after_a_delay_then_fail_for_good(store: Storage) -> None:
    meters = titles(2)
    _enqueue(store, meters)
    jobs = store.lease_jobs("w1", 10, 30.0, now=0.0)
    retried, dropped = jobs
    assert (
        store.fail_jobs("w1", [retried.job_id], "no answer", now=1.0, retry_after=60.0, max_attempts=2) == 1
    )
    assert store.fail_jobs("w1", [dropped.job_id], "access denied", now=1.0) == 1
    assert store.lease_jobs("w2", 10, 30.0, now=60.0) == []
    again = store.lease_jobs("w2", 10, 30.0, now=61.0)
    assert [(j.job_id, j.attempts, j.error) for j in again] == [(retried.job_id, 2, "no answer")]
    assert (
        store.fail_jobs("w2", [retried.job_id], "no answer", now=62.0, retry_after=60.0, max_attempts=2) == 1
    )
    assert store.lease_jobs("w2", 10, 30.0, now=1000.0) == []
    failed = store.jobs(state=JobState.FAILED)
    assert [(j.job_id, j.error) for j in failed] == [
        (retried.job_id, "no answer"),
        (dropped.job_id, "access denied"),
    ]


def test_shards_restrict_what_a_worker_leases(store: Storage) -> None:
    meters = titles(40)
    _enqueue(store, meters)
    wanted = {shard_of(meters[0]), shard_of(meters[1])}
    got = store.lease_jobs("w1", 100, 30.0, now=0.0, shards=wanted)
    assert {j.system_title for j in got} == {t for t in meters if shard_of(t) in wanted}


def test_concurrent_workers_take_disjoint_jobs(backend: Backend, store: Storage) -> None:
    """Four workers (own connections, threads) drain 200 meters: every job is leased by exactly one
    worker and completed exactly once."""
    run = _enqueue(store, titles(200), (ENERGY, POWER))
    taken: dict[str, list[int]] = {}
    lock = threading.Lock()

    def worker(name: str) -> None:
        mine = backend.open()
        while True:
            jobs = mine.lease_jobs(name, 7, 300.0)
            if not jobs:
                break
            assert mine.complete_jobs(name, [j.job_id for j in jobs]) == len(jobs)
            with lock:
                taken.setdefault(name, []).extend(j.job_id for j in jobs)
        mine.close()

    threads = [threading.Thread(target=worker, args=(f"w{k}",)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = [job for jobs in taken.values() for job in jobs]
    assert len(every) == len(set(every)) == 400
    assert store.job_counts(run)[JobState.DONE] == 400


def test_skip_locked_passes_meters_another_transaction_holds(backend: Backend, store: Storage) -> None:
    """PostgreSQL only: a worker in the middle of taking meters (row locks held) does not block
    another: it gets the other meters at once (SQLite has one writer at a time instead)."""
    if backend.name != "postgresql":
        pytest.skip("SKIP LOCKED is PostgreSQL's; SQLite serialises writers")
    import psycopg

    meters = titles(6)
    _enqueue(store, meters)
    with psycopg.connect(backend.target) as holder:
        holder.execute("SELECT 1 FROM job_meters WHERE system_title = ANY(%s) FOR UPDATE", (meters[:3],))
        result: list[set[bytes]] = []
        t = threading.Thread(
            target=lambda: result.append({j.system_title for j in store.lease_jobs("w", 10)})
        )
        t.start()
        t.join(timeout=60)
        alive = t.is_alive()
        holder.rollback()
    t.join()
    assert not alive, "lease_jobs waited for the locked rows"
    assert result == [set(meters[3:])]


# -- migrations ------------------------------------------------------------------------------------

V1_ROWS = {
    "INSERT INTO devices VALUES (?,?,?,?,?,?,?,?,?)": [
        (
            TITLE,
            ipaddress.IPv6Address("2001:db8::1").packed + bytes((64, 2)),
            1,
            61616,
            None,
            10.0,
            20.0,
            3,
            4,
        )
    ],
    "INSERT INTO addresses VALUES (?,?,?)": [
        (ipaddress.IPv6Address("2001:db8::1").packed, TITLE, ipaddress.IPv6Address("2001:db8::1").packed[:8])
    ],
    "INSERT INTO history (system_title, at, reason, sequence_number, old_binding, new_binding) "
    "VALUES (?,?,?,?,?,?)": [
        (TITLE, 10.0, 0, 3, None, bytes.fromhex("0001F0B000") + bytes(16) + bytes((64, 2)))
    ],
    "INSERT INTO invocation_counters VALUES (?,?,?)": [(TITLE, "guek", 8192)],
    "INSERT INTO received_counters VALUES (?,?,?)": [(TITLE, 0, 77)],
    "INSERT INTO runs (run_id, started, attributes, meters) VALUES (?,?,?,?)": [(1, 5.0, ENERGY, 1)],
    "INSERT INTO readings VALUES (?,?,?,?,?,?,?,?,?)": [
        (1, TITLE, 3, "1-0:1.8.0*255", 2, 1234.5, bytes.fromhex("0600000010"), "16", None),
        (1, OTHER, 3, "1-0:1.8.0*255", 2, 1234.5, None, None, "timeout"),
    ],
}


def test_migration_from_version_1_keeps_the_data(backend: Backend) -> None:
    old = backend.open(schema_version=1)
    assert old.schema_version() == 1
    old.close()
    for sql, rows in V1_ROWS.items():
        backend.raw(sql, rows)
    store = backend.open()
    assert store.schema_version() == 2
    entry = store.binding(TITLE)
    assert entry is not None and (entry.last_sequence, entry.messages, entry.last_seen) == (3, 4, 20.0)
    assert [h.sequence_number for h in store.binding_history(TITLE)] == [3]
    assert store.titles_at_address(ipaddress.IPv6Address("2001:db8::1").packed) == [TITLE]
    assert store.reserve_counter_block(TITLE, "guek", 10) == (8192, 8201)
    assert store.received_floors() == {(TITLE, KeyRole.GLOBAL_UNICAST): 77}
    rows = store.readings()
    assert [(r.system_title, r.captured_at, r.value_text, r.error, r.run_id) for r in rows] == [
        (OTHER, 1234.5, None, "timeout", 1),
        (TITLE, 1234.5, "16", None, 1),
    ]
    assert store.add_readings([Reading(TITLE, 3, "1-0:1.8.0*255", 2, 1234.5, b"\x06\x00\x00\x00\x11")]) == 0
    run = store.start_run(ENERGY, 1)
    assert run == 2  # run ids continue after the migrated runs
    store.close()


def test_a_single_machine_file_of_today_is_adopted(tmp_path: Path) -> None:
    """SQLite: a file written by the address book and the head-end store (version 1, no
    schema_version table) is migrated in place; the old modules then refuse it."""
    from cosemnet.headend.store import HeadEndStore, ReadingRow
    from cosemnet.profiles.mesh.address_book import AddressBook, AddressBookError

    path = tmp_path / "hes.db"
    with AddressBook(path) as book:
        book.upsert(reg(1, "2001:db8::1"), now=10.0)
        book.reserve_invocation_counter(TITLE, "guek", 4097)
    old = HeadEndStore(path)
    run = old.start_run(ENERGY, 1, now=20.0)
    old.add_readings([ReadingRow.of_value(run, TITLE, 3, "1-0:1.8.0*255", 2, 21.0, DoubleLongUnsigned(5))])
    old.close()
    with SqliteStorage(path) as store:
        assert store.schema_version() == 2
        assert store.binding(TITLE) is not None
        assert store.reserve_counter_block(TITLE, "guek", 1) == (4097, 4097)
        assert [(r.captured_at, r.value_text) for r in store.readings()] == [(21.0, "5")]
    with pytest.raises(AddressBookError, match="schema 100"):
        AddressBook(path)


def test_a_newer_schema_is_refused(backend: Backend, store: Storage) -> None:
    backend.raw("INSERT INTO schema_version VALUES (?,?,?)", [(99, "future", 0.0)])
    with pytest.raises(StorageError, match="newer"):
        backend.open()
