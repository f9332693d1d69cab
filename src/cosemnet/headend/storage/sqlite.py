"""The SQLite backend of :class:`~cosemnet.headend.storage.base.Storage`: one file, one machine.

WAL journal, ``synchronous=FULL`` by default (a counter block must survive power loss, decision 0002),
every write in a ``BEGIN IMMEDIATE`` transaction: SQLite has one writer at a time, which is what the
row locks and ``SKIP LOCKED`` give on PostgreSQL (decision 0062). Several threads may share one
instance (an internal lock), several processes may open the same file (writers wait up to
``timeout`` seconds for each other).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Final, TypeVar

from cosemnet.headend.storage.base import (
    DEFAULT_LEASE_SECONDS,
    BindingState,
    Event,
    HistoryRow,
    Job,
    JobState,
    Reading,
    ReadingKey,
    SchemaOutdatedError,
    StorageError,
    apply_registrations,
    counter_block,
    device_row,
    entry_of,
    event_digest,
    from_us,
    history_of,
    reading_row,
    received_dict,
    received_rows,
    shard_of,
    to_us,
)
from cosemnet.headend.storage.migrations import Migration, migrations
from cosemnet.profiles.mesh.address_book import AddressBookEntry, HistoryEntry, UpsertResult
from cosemnet.profiles.mesh.registration import RegistrationMessage
from cosemnet.security.keys import KeyRole

_SINGLE_MACHINE: Final = (1, 2)
"""``PRAGMA user_version`` of a single-machine file (the AddressBook's schemas 1 and 2)."""

__all__ = ["SqliteStorage"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

_CHUNK: Final = 500
_DEVICE_COLUMNS: Final = (
    "system_title, addresses, wport, udp_port, border_router, first_seen, last_seen, last_sequence, messages"
)
_READING_COLUMNS: Final = (
    "system_title, class_id, logical_name, attribute_id, captured_us, value, value_text, unit, error, "
    "run_id, stored_us"
)
_JOB_SELECT: Final = (
    "SELECT j.job_id, j.run_id, j.system_title, j.attribute, j.state, j.owner, j.attempts, "
    "CASE WHEN j.state = 'leased' THEN m.lease_until_us END, j.error "
    "FROM jobs j JOIN job_meters m ON m.system_title = j.system_title"
)


def _marks(n: int) -> str:
    return ",".join("?" * n)


def _chunks(items: Sequence[T]) -> Iterator[list[T]]:
    for i in range(0, len(items), _CHUNK):
        yield list(items[i : i + _CHUNK])


def _statements(sql: str) -> Iterator[str]:
    """The statements of a migration script (``executescript`` would commit on its own)."""
    buf = ""
    for line in sql.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            if buf.strip():
                yield buf
            buf = ""
    if buf.strip() and not all(ln.strip().startswith("--") or not ln.strip() for ln in buf.splitlines()):
        raise StorageError("a migration script ends inside a statement")


def _job(row: tuple[int, int, bytes, str, str, str | None, int, int | None, str | None]) -> Job:
    job_id, run_id, title, attribute, state, owner, attempts, until, error = row
    return Job(
        job_id,
        run_id,
        bytes(title),
        attribute,
        JobState(state),
        owner,
        attempts,
        None if until is None else from_us(until),
        error,
    )


def _reading(row: Sequence[Any]) -> Reading:
    title, class_id, name, attribute_id, captured, value, text, unit, error, run_id, stored = row
    return Reading(
        bytes(title),
        class_id,
        name,
        attribute_id,
        from_us(captured),
        None if value is None else bytes(value),
        text,
        unit,
        error,
        run_id,
        from_us(stored),
    )


def _event_key(e: Event) -> tuple[bytes, int, str, bytes, bytes]:
    return bytes(e.system_title), to_us(e.at), e.kind, bytes(e.payload), event_digest(e.payload)


class SqliteStorage:
    """:class:`Storage` on a SQLite file (see the module docstring)."""

    backend = "sqlite"

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        schema_version: int | None = None,
        migrate: bool = True,
        synchronous: str = "FULL",
        timeout: float = 30.0,
    ) -> None:
        if synchronous.upper() not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ValueError("synchronous must be OFF, NORMAL, FULL or EXTRA")
        self.path = os.fspath(path)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.path, timeout=timeout, check_same_thread=False, isolation_level=None)
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={synchronous.upper()}")
            if migrate:
                self.migrate(schema_version)
            else:
                self._check_current(self._version(self._db))
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise StorageError(f"{self.path}: {exc}") from None
        except BaseException:
            self._db.close()
            raise

    # -- plumbing --------------------------------------------------------------------------------

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _check_current(self, version: int) -> None:
        latest = migrations("sqlite")[-1].version
        if version == 0 and int(self._db.execute("PRAGMA user_version").fetchone()[0]) in _SINGLE_MACHINE:
            version = 1  # a single-machine file of before decision 0060
        if version != latest:
            raise SchemaOutdatedError(
                f"{self.path}: schema version {version}, this program uses {latest}", version
            )

    def __enter__(self) -> SqliteStorage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def schema_version(self) -> int:
        with self._lock:
            return self._version(self._db)

    @staticmethod
    def _version(db: sqlite3.Connection) -> int:
        row = db.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name='schema_version'"
        ).fetchone()
        if row is None:
            return 0
        return int(db.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()[0])

    def _adopt(self, first: Migration) -> int:
        """Record a single-machine file (AddressBook schema 1 or 2) as storage version 1, as it is: its
        tables are version 1's, and running version 1's script would set its user_version back."""
        with self._tx() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS schema_version "
                "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at REAL NOT NULL)"
            )
            if self._version(db) < first.version:
                db.execute(
                    "INSERT INTO schema_version VALUES (?,?,?)", (first.version, first.name, time.time())
                )
        return self._version(self._db)

    def migrate(self, target: int | None = None) -> int:
        """Apply the migrations up to ``target`` (default: the latest); returns the version reached.
        A version-1 file (address book and head-end store before decision 0060) is adopted as is."""
        scripts = migrations("sqlite")
        latest = scripts[-1].version
        goal = latest if target is None else target
        if not 1 <= goal <= latest:
            raise ValueError(f"schema version must be 1..{latest}")
        with self._lock:
            current = self._version(self._db)
            if current == 0:
                legacy = int(self._db.execute("PRAGMA user_version").fetchone()[0])
                if legacy not in (0, *_SINGLE_MACHINE):
                    raise StorageError(f"{self.path}: schema {legacy} without a schema_version table")
                if legacy in _SINGLE_MACHINE:
                    current = self._adopt(scripts[0])
            if current > latest:
                raise StorageError(
                    f"{self.path}: schema version {current} is newer than this program ({latest})"
                )
            for m in scripts:
                if not current < m.version <= goal:
                    continue
                with self._tx() as db:
                    db.execute(
                        "CREATE TABLE IF NOT EXISTS schema_version "
                        "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at REAL NOT NULL)"
                    )
                    if self._version(db) >= m.version:
                        continue  # another process applied it meanwhile
                    for statement in _statements(m.sql):
                        db.execute(statement)
                    db.execute("INSERT INTO schema_version VALUES (?,?,?)", (m.version, m.name, time.time()))
                logger.info("%s: schema migrated to version %d (%s)", self.path, m.version, m.name)
                current = m.version
            return self._version(self._db)

    # -- address book ----------------------------------------------------------------------------

    def upsert_bindings(
        self, messages: Sequence[RegistrationMessage], now: float | None = None, *, force: bool = False
    ) -> list[UpsertResult]:
        at = time.time() if now is None else now
        titles = list({m.system_title for m in messages})
        with self._tx() as db:
            states = self._load_states(db, titles)
            results, history = apply_registrations(states, messages, at, force)
            self._store_states(db, states, history)
        return results

    @staticmethod
    def _load_states(db: sqlite3.Connection, titles: list[bytes]) -> dict[bytes, BindingState]:
        states: dict[bytes, BindingState] = {}
        for chunk in _chunks(titles):
            for row in db.execute(
                f"SELECT {_DEVICE_COLUMNS} FROM devices WHERE system_title IN ({_marks(len(chunk))})", chunk
            ):
                title, packed, wport, port, router, first, last, seq, count = row
                states[title] = BindingState(
                    wport, port, router or b"", packed, first, last, seq, count, True
                )
        return states

    @staticmethod
    def _store_states(
        db: sqlite3.Connection, states: Mapping[bytes, BindingState], history: list[HistoryRow]
    ) -> None:
        touched = [(t, s) for t, s in states.items() if s.touched]
        db.executemany(
            f"INSERT INTO devices ({_DEVICE_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?) "
            "ON CONFLICT (system_title) DO UPDATE SET addresses=excluded.addresses, wport=excluded.wport, "
            "udp_port=excluded.udp_port, border_router=excluded.border_router, last_seen=excluded.last_seen, "
            "last_sequence=excluded.last_sequence, messages=excluded.messages",
            [device_row(t, s) for t, s in touched],
        )
        changed = [(t, s) for t, s in touched if s.changed]
        db.executemany("DELETE FROM addresses WHERE system_title = ?", [(t,) for t, s in changed if s.exists])
        db.executemany(
            "INSERT OR REPLACE INTO addresses (address, system_title, prefix64) VALUES (?,?,?)",
            [
                (s.packed[i : i + 16], t, s.packed[i : i + 8])
                for t, s in changed
                for i in range(0, len(s.packed), 18)
            ],
        )
        db.executemany(
            "INSERT INTO history (system_title, at, reason, sequence_number, old_binding, new_binding) "
            "VALUES (?,?,?,?,?,?)",
            history,
        )

    def binding(self, system_title: bytes) -> AddressBookEntry | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT {_DEVICE_COLUMNS} FROM devices WHERE system_title = ?", (bytes(system_title),)
            ).fetchone()
        return None if row is None else entry_of(*row)

    def bindings(self, system_titles: Collection[bytes] | None = None) -> list[AddressBookEntry]:
        with self._lock:
            if system_titles is None:
                rows = self._db.execute(
                    f"SELECT {_DEVICE_COLUMNS} FROM devices ORDER BY system_title"
                ).fetchall()
            else:
                rows = []
                for chunk in _chunks(sorted({bytes(t) for t in system_titles})):
                    rows += self._db.execute(
                        f"SELECT {_DEVICE_COLUMNS} FROM devices WHERE system_title IN ({_marks(len(chunk))})",
                        chunk,
                    ).fetchall()
                rows.sort(key=lambda r: bytes(r[0]))
        return [entry_of(*r) for r in rows]

    def titles_at_address(self, address: bytes) -> list[bytes]:
        with self._lock:
            rows = self._db.execute(
                "SELECT a.system_title FROM addresses a JOIN devices d ON d.system_title = a.system_title "
                "WHERE a.address = ? ORDER BY d.last_seen DESC, a.system_title",
                (bytes(address),),
            ).fetchall()
        return [bytes(r[0]) for r in rows]

    def binding_history(self, system_title: bytes, limit: int | None = None) -> list[HistoryEntry]:
        sql = (
            "SELECT system_title, at, reason, sequence_number, old_binding, new_binding FROM history "
            "WHERE system_title = ? ORDER BY id DESC"
        )
        params: tuple[object, ...] = (bytes(system_title),)
        if limit is not None:
            sql += " LIMIT ?"
            params += (limit,)
        with self._lock:
            rows = self._db.execute(sql, params).fetchall()
        return [history_of(*r) for r in reversed(rows)]

    def touch_binding(self, system_title: bytes, now: float | None = None) -> bool:
        at = time.time() if now is None else now
        with self._tx() as db:
            cur = db.execute(
                "UPDATE devices SET last_seen = MAX(last_seen, ?) WHERE system_title = ?",
                (at, bytes(system_title)),
            )
            return cur.rowcount > 0

    def forget_binding(self, system_title: bytes) -> bool:
        title = bytes(system_title)
        with self._tx() as db:
            db.execute("DELETE FROM addresses WHERE system_title = ?", (title,))
            return db.execute("DELETE FROM devices WHERE system_title = ?", (title,)).rowcount > 0

    # -- counters --------------------------------------------------------------------------------

    def reserve_counter_block(self, system_title: bytes, key_label: str, size: int) -> tuple[int, int]:
        key = (bytes(system_title), key_label)
        with self._tx() as db:
            row = db.execute(
                "SELECT ceiling FROM invocation_counters WHERE system_title = ? AND key_label = ?", key
            ).fetchone()
            first, last, ceiling = counter_block(None if row is None else int(row[0]), size)
            db.execute(
                "INSERT INTO invocation_counters (system_title, key_label, ceiling) VALUES (?,?,?) "
                "ON CONFLICT (system_title, key_label) DO UPDATE SET ceiling = excluded.ceiling",
                (*key, ceiling),
            )
        return first, last

    def counter_ceiling(self, system_title: bytes, key_label: str) -> int | None:
        with self._lock:
            row = self._db.execute(
                "SELECT ceiling FROM invocation_counters WHERE system_title = ? AND key_label = ?",
                (bytes(system_title), key_label),
            ).fetchone()
        return None if row is None else int(row[0])

    def save_received_floors(self, floors: Mapping[object, int]) -> int:
        rows = received_rows(floors)
        with self._tx() as db:
            db.executemany(
                "INSERT INTO received_counters (system_title, key_role, last_received) VALUES (?,?,?) "
                "ON CONFLICT (system_title, key_role) DO UPDATE SET "
                "last_received = MAX(last_received, excluded.last_received)",
                rows,
            )
        return len(rows)

    def received_floors(self, system_title: bytes | None = None) -> dict[tuple[bytes, KeyRole], int]:
        sql = "SELECT system_title, key_role, last_received FROM received_counters"
        params: tuple[object, ...] = ()
        if system_title is not None:
            sql, params = sql + " WHERE system_title = ?", (bytes(system_title),)
        with self._lock:
            return received_dict(self._db.execute(sql, params).fetchall())

    # -- readings and events ---------------------------------------------------------------------

    def add_readings(self, readings: Iterable[Reading], now: float | None = None) -> int:
        stored = to_us(time.time() if now is None else now)
        rows = [reading_row(r, stored) for r in readings]
        with self._tx() as db:
            before = db.total_changes
            db.executemany(
                f"INSERT INTO readings ({_READING_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?) "
                "ON CONFLICT DO NOTHING",
                rows,
            )
            return db.total_changes - before

    def readings(
        self,
        system_title: bytes | None = None,
        *,
        run_id: int | None = None,
        after: ReadingKey | None = None,
        limit: int | None = None,
    ) -> list[Reading]:
        where: list[str] = []
        params: list[object] = []
        if system_title is not None:
            where.append("system_title = ?")
            params.append(bytes(system_title))
        if run_id is not None:
            where.append("run_id = ?")
            params.append(run_id)
        if after is not None:
            where.append("(system_title, class_id, logical_name, attribute_id, captured_us) > (?,?,?,?,?)")
            params += after
        sql = f"SELECT {_READING_COLUMNS} FROM readings"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY system_title, class_id, logical_name, attribute_id, captured_us"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        with self._lock:
            rows = self._db.execute(sql, params).fetchall()
        return [_reading(r) for r in rows]

    def add_events(self, events: Iterable[Event], now: float | None = None) -> int:
        received = to_us(time.time() if now is None else now)
        rows = [(*_event_key(e), received if e.received_at is None else to_us(e.received_at)) for e in events]
        with self._tx() as db:
            before = db.total_changes
            db.executemany(
                "INSERT INTO events (system_title, at_us, kind, payload, digest, received_us) "
                "VALUES (?,?,?,?,?,?) ON CONFLICT DO NOTHING",
                rows,
            )
            return db.total_changes - before

    def events(
        self, system_title: bytes | None = None, *, since: float | None = None, limit: int | None = None
    ) -> list[Event]:
        where: list[str] = []
        params: list[object] = []
        if system_title is not None:
            where.append("system_title = ?")
            params.append(bytes(system_title))
        if since is not None:
            where.append("at_us >= ?")
            params.append(to_us(since))
        sql = "SELECT system_title, at_us, kind, payload, received_us, event_id FROM events"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY at_us, event_id"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        with self._lock:
            rows = self._db.execute(sql, params).fetchall()
        return [Event(bytes(t), from_us(at), k, bytes(p), from_us(r), i) for t, at, k, p, r, i in rows]

    # -- runs and jobs ---------------------------------------------------------------------------

    def start_run(self, attributes: str, meters: int, now: float | None = None) -> int:
        with self._tx() as db:
            cur = db.execute(
                "INSERT INTO runs (started, attributes, meters) VALUES (?,?,?)",
                (time.time() if now is None else now, attributes, meters),
            )
            return int(cur.lastrowid or 0)

    def run_started(self, run_id: int) -> float | None:
        with self._lock:
            row = self._db.execute("SELECT started FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        return None if row is None else float(row[0])

    def create_jobs(self, run_id: int, items: Iterable[tuple[bytes, str]], now: float | None = None) -> int:
        created = to_us(time.time() if now is None else now)
        rows = sorted({(bytes(t), a) for t, a in items})
        titles = sorted({t for t, _ in rows})
        with self._tx() as db:
            before = db.total_changes
            db.executemany(
                "INSERT INTO jobs (run_id, system_title, attribute, created_us) VALUES (?,?,?,?) "
                "ON CONFLICT DO NOTHING",
                [(run_id, t, a, created) for t, a in rows],
            )
            new = db.total_changes - before
            db.executemany(
                "INSERT INTO job_meters (system_title, shard) VALUES (?,?) ON CONFLICT DO NOTHING",
                [(t, shard_of(t)) for t in titles],
            )
            self._refresh_meters(db, titles)
        return new

    @staticmethod
    def _refresh_meters(db: sqlite3.Connection, titles: Sequence[bytes]) -> None:
        """Recount the open jobs of ``titles``; free a meter whose owner holds none of its jobs."""
        for chunk in _chunks(titles):
            db.execute(
                "UPDATE job_meters SET "
                "pending = (SELECT COUNT(*) FROM jobs j WHERE j.system_title = job_meters.system_title "
                "AND j.state IN ('queued', 'leased')), "
                "owner = CASE WHEN EXISTS (SELECT 1 FROM jobs j "
                "WHERE j.system_title = job_meters.system_title "
                "AND j.state = 'leased' AND j.owner = job_meters.owner) THEN owner END, "
                "lease_until_us = CASE WHEN EXISTS (SELECT 1 FROM jobs j "
                "WHERE j.system_title = job_meters.system_title AND j.state = 'leased' "
                "AND j.owner = job_meters.owner) THEN lease_until_us END "
                f"WHERE system_title IN ({_marks(len(chunk))})",
                chunk,
            )

    def lease_jobs(
        self,
        owner: str,
        limit: int,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        now: float | None = None,
        *,
        shards: Collection[int] | None = None,
    ) -> list[Job]:
        at = time.time() if now is None else now
        now_us, until = to_us(at), to_us(at + lease_seconds)
        sql = (
            "SELECT system_title FROM job_meters WHERE pending > 0 AND not_before_us <= ? "
            "AND (owner IS NULL OR lease_until_us <= ?)"
        )
        params: list[object] = [now_us, now_us]
        if shards is not None:
            sql += f" AND shard IN ({_marks(len(shards))})"
            params += sorted(shards)
        sql += " ORDER BY not_before_us LIMIT ?"
        params.append(limit)
        with self._tx() as db:
            titles = [bytes(r[0]) for r in db.execute(sql, params).fetchall()]
            jobs: list[Job] = []
            for chunk in _chunks(titles):
                marks = _marks(len(chunk))
                db.execute(
                    f"UPDATE job_meters SET owner = ?, lease_until_us = ? WHERE system_title IN ({marks})",
                    [owner, until, *chunk],
                )
                db.execute(
                    "UPDATE jobs SET state = 'leased', owner = ?, attempts = attempts + 1 "
                    f"WHERE system_title IN ({marks}) AND state IN ('queued', 'leased')",
                    [owner, *chunk],
                )
                jobs += [
                    _job(r)
                    for r in db.execute(
                        f"{_JOB_SELECT} WHERE j.system_title IN ({marks}) "
                        "AND j.state = 'leased' AND j.owner = ?",
                        [*chunk, owner],
                    )
                ]
        return sorted(jobs, key=lambda j: j.job_id)

    def renew_lease(
        self,
        owner: str,
        system_titles: Collection[bytes],
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        now: float | None = None,
    ) -> int:
        until = to_us((time.time() if now is None else now) + lease_seconds)
        count = 0
        with self._tx() as db:
            for chunk in _chunks(sorted({bytes(t) for t in system_titles})):
                count += db.execute(
                    "UPDATE job_meters SET lease_until_us = ? "
                    f"WHERE owner = ? AND system_title IN ({_marks(len(chunk))})",
                    [until, owner, *chunk],
                ).rowcount
        return count

    def _finish(
        self,
        owner: str,
        job_ids: Collection[int],
        assignments: str,
        params: Sequence[object],
        not_before_us: int | None = None,
    ) -> int:
        """Update the jobs ``owner`` still holds among ``job_ids``, then recount their meters (and
        hold them back until ``not_before_us`` when given)."""
        ids = sorted(set(job_ids))
        count = 0
        titles: set[bytes] = set()
        with self._tx() as db:
            for chunk in _chunks(ids):
                where = f"job_id IN ({_marks(len(chunk))}) AND owner = ? AND state = 'leased'"
                titles.update(
                    bytes(r[0])
                    for r in db.execute(f"SELECT system_title FROM jobs WHERE {where}", [*chunk, owner])
                )
                count += db.execute(
                    f"UPDATE jobs SET {assignments} WHERE {where}", [*params, *chunk, owner]
                ).rowcount
            ordered = sorted(titles)
            if not_before_us is not None:
                for tchunk in _chunks(ordered):
                    db.execute(
                        "UPDATE job_meters SET not_before_us = MAX(not_before_us, ?) "
                        f"WHERE system_title IN ({_marks(len(tchunk))})",
                        [not_before_us, *tchunk],
                    )
            self._refresh_meters(db, ordered)
        return count

    def complete_jobs(self, owner: str, job_ids: Collection[int], now: float | None = None) -> int:
        finished = to_us(time.time() if now is None else now)
        return self._finish(owner, job_ids, "state = 'done', finished_us = ?, error = NULL", (finished,))

    def fail_jobs(
        self,
        owner: str,
        job_ids: Collection[int],
        error: str,
        now: float | None = None,
        *,
        retry_after: float | None = None,
        max_attempts: int = 3,
    ) -> int:
        at = time.time() if now is None else now
        final = "(? IS NULL OR attempts >= ?)"
        return self._finish(
            owner,
            job_ids,
            f"state = CASE WHEN {final} THEN 'failed' ELSE 'queued' END, error = ?, "
            f"finished_us = CASE WHEN {final} THEN ? END, "
            f"owner = CASE WHEN {final} THEN owner END",
            (
                retry_after,
                max_attempts,
                error,
                retry_after,
                max_attempts,
                to_us(at),
                retry_after,
                max_attempts,
            ),
            None if retry_after is None else to_us(at + retry_after),
        )

    def jobs(self, run_id: int | None = None, state: JobState | None = None) -> list[Job]:
        where: list[str] = []
        params: list[object] = []
        if run_id is not None:
            where.append("j.run_id = ?")
            params.append(run_id)
        if state is not None:
            where.append("j.state = ?")
            params.append(str(state))
        sql = _JOB_SELECT + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY j.job_id"
        with self._lock:
            return [_job(r) for r in self._db.execute(sql, params).fetchall()]

    def job_counts(self, run_id: int | None = None) -> dict[JobState, int]:
        sql = "SELECT state, COUNT(*) FROM jobs"
        params: tuple[object, ...] = ()
        if run_id is not None:
            sql, params = sql + " WHERE run_id = ?", (run_id,)
        with self._lock:
            rows = self._db.execute(sql + " GROUP BY state", params).fetchall()
        counts = dict.fromkeys(JobState, 0)
        counts.update({JobState(s): int(n) for s, n in rows})
        return counts
