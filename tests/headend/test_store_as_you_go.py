"""Readings stored as they arrive (batches of rows or seconds), once per (run, meter, attribute),
stop / abandon / resume of a run (decision 0081). Sans-IO core against in-process fake meters."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from cosemnet.headend import AttributeRef, HeadEnd, HeadEndConfig, HeadEndStore, ReadingRow
from cosemnet.profiles.mesh import AddressBook, ThrottleConfig

from .fakes import HEAD_END_PORT, FakeMesh, FakeMeter

NOW = 1_700_000_000.0
ENERGY = AttributeRef.parse("3/1-0:1.8.0*255/2")


def fleet(n: int) -> list[FakeMeter]:
    return [FakeMeter(2000 + i, f"2001:db8:0:{i // 10:x}::{i + 1:x}") for i in range(n)]


def stored(db: Path, run_id: int) -> list[tuple[bytes, str | None]]:
    """What another process would find in the file now (committed rows only)."""
    with sqlite3.connect(db) as other:
        rows = other.execute(
            "SELECT system_title, error FROM readings WHERE run_id = ?", (run_id,)
        ).fetchall()
    return [(bytes(r[0]), r[1]) for r in rows]


def step(he: HeadEnd, mesh: FakeMesh, now: float) -> None:
    he.handle_timer(now)
    for out in he.pop_outgoing():
        for address, reply in mesh.deliver(out, now):
            he.receive_datagram(address, HEAD_END_PORT, reply, now)


def test_rows_are_committed_in_batches_while_the_run_goes_on(tmp_path: Path) -> None:
    db = tmp_path / "hes.db"
    meters = fleet(60)
    config = HeadEndConfig(
        throttle=ThrottleConfig(max_in_flight=4, max_per_prefix=4),
        store_batch_rows=10,
        store_batch_interval=1.0,
    )
    he = HeadEnd(AddressBook(db), config=config)
    mesh = FakeMesh(he, meters)
    mesh.register_all(NOW)
    run = he.collect([ENERGY], NOW)
    now = NOW
    checked = 0
    while len(run.results) < 45:
        step(he, mesh, now)
        now += 0.01
        # never more than one batch behind: what a kill -9 now would lose
        on_disk = stored(db, run.run_id)
        assert len(on_disk) > len(run.results) - 10
        assert {t for t, _ in on_disk} <= set(run.results)
        checked += 1
    assert checked > 5 and not run.finished
    # nothing new for a second: the partial batch is committed on time
    assert he.get_timer() is not None
    pending = len(run.results) - len(stored(db, run.run_id))
    he.handle_timer(now + 1.0)
    assert len(stored(db, run.run_id)) == len(run.results) and (pending > 0 or len(run.results) % 10 == 0)
    he.close()


def test_duplicate_rows_are_stored_once_and_a_value_replaces_an_error(tmp_path: Path) -> None:
    store = HeadEndStore(tmp_path / "s.db")
    run = store.start_run("3/1-0:1.8.0*255/2", 2)
    title = b"M" * 8
    row = ReadingRow.of_value(run, title, 3, "1-0:1.8.0*255", 2, NOW, 42)
    error = ReadingRow.of_value(run, b"N" * 8, 3, "1-0:1.8.0*255", 2, NOW, None, "no answer after 9 attempts")
    assert store.add_readings([row, error]) == 2
    assert store.add_readings([row, ReadingRow.of_value(run, title, 3, "1-0:1.8.0*255", 2, NOW + 1, 43)]) == 0
    assert (
        store.add_readings(
            [ReadingRow.of_value(run, title, 3, "1-0:1.8.0*255", 2, NOW + 2, None, "late error")]
        )
        == 0
    )
    assert store.answered_titles(run) == {title}
    assert store.add_readings([ReadingRow.of_value(run, b"N" * 8, 3, "1-0:1.8.0*255", 2, NOW + 3, 7)]) == 1
    rows = {r.system_title: r for r in store.readings(run)}
    assert len(store.readings(run)) == 2
    assert (
        rows[title].value_text == "42" and rows[b"N" * 8].value_text == "7" and rows[b"N" * 8].error is None
    )
    assert store.answered_titles(run) == {title, b"N" * 8}
    store.close()
    # an older file (duplicates, no run columns) is upgraded in place
    legacy = tmp_path / "legacy.db"
    with sqlite3.connect(legacy) as db:
        db.executescript(
            "CREATE TABLE runs (run_id INTEGER PRIMARY KEY AUTOINCREMENT, started REAL NOT NULL,"
            " attributes TEXT NOT NULL, meters INTEGER NOT NULL DEFAULT 0, answered INTEGER NOT NULL"
            " DEFAULT 0, failed INTEGER NOT NULL DEFAULT 0, finished REAL);"
            "CREATE TABLE readings (run_id INTEGER NOT NULL, system_title BLOB NOT NULL, class_id INTEGER"
            " NOT NULL, logical_name TEXT NOT NULL, attribute_id INTEGER NOT NULL, at REAL NOT NULL,"
            " value BLOB, value_text TEXT, error TEXT);"
            "INSERT INTO runs (started, attributes) VALUES (1, 'x');"
            "INSERT INTO readings VALUES (1, x'01', 3, 'a', 2, 1, NULL, '1', NULL);"
            "INSERT INTO readings VALUES (1, x'01', 3, 'a', 2, 2, NULL, '2', NULL);"
        )
    upgraded = HeadEndStore(legacy)
    assert len(upgraded.readings(1)) == 1
    info = upgraded.run(1)
    assert info is not None and info.not_attempted == 0 and info.stopped is None
    upgraded.close()


def test_stop_then_resume_reads_each_meter_once(tmp_path: Path) -> None:
    db = tmp_path / "hes.db"
    meters = fleet(30)
    config = HeadEndConfig(throttle=ThrottleConfig(max_in_flight=3, max_per_prefix=3))
    he = HeadEnd(AddressBook(db), config=config)
    mesh = FakeMesh(he, meters)
    mesh.register_all(NOW)
    run = he.collect([ENERGY], NOW)
    he.handle_timer(NOW)
    first = he.pop_outgoing()
    assert len(first) == 3  # three AARQs in flight
    he.stop_collect(run, NOW, "SIGTERM")
    assert run.not_attempted == 27 and not run.finished
    for out in first:  # the requests in flight may still complete during the grace period
        for address, reply in mesh.deliver(out, NOW):
            he.receive_datagram(address, HEAD_END_PORT, reply, NOW)
    he.handle_timer(NOW)
    assert he.pop_outgoing() and not run.finished  # HLS pass 3 of the three in flight
    he.abandon_collect(run, NOW + 1, "SIGTERM")
    assert run.finished and run.interrupted == 3 and run.answered == 0
    info = he.store.run(run.run_id)
    assert info is not None and info.stopped == "SIGTERM" and info.not_attempted == 30
    he.close()
    he.book.close()
    # a restarted head-end resumes the run: it reads only the meters without a reading
    he = HeadEnd(AddressBook(db), config=config)
    mesh = FakeMesh(he, meters)
    mesh.register_all(NOW + 10)
    silent = meters[:5]
    mesh.all = meters[5:]
    mesh.rebuild_index()
    part = he.collect([ENERGY], NOW + 10, resume=run.run_id)
    mesh.run(NOW + 10)
    assert part.run_id == run.run_id and len(part.results) == 25 and len(part.failed) == 5
    mesh.all = meters
    mesh.rebuild_index()
    before = [len(m.requests) for m in meters]
    rest = he.collect([ENERGY], NOW + 500, resume=run.run_id)
    mesh.run(NOW + 500)
    assert rest.total == 5 and set(rest.results) == {m.title for m in silent}
    assert [len(m.requests) - b for m, b in zip(meters, before, strict=True)][5:] == [0] * 25
    rows = he.store.readings(run.run_id)
    assert (
        len(rows) == 30 and len({r.system_title for r in rows}) == 30 and all(r.error is None for r in rows)
    )
    info = he.store.run(run.run_id)
    assert info is not None and info.answered == 30 and info.failed == 0 and info.stopped is None
    he.close()
