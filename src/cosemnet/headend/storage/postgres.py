"""The PostgreSQL backend of :class:`~cosemnet.headend.storage.base.Storage` (psycopg 3).

Any number of head-end processes on any number of machines share one database (decisions 0060,
0062):

* every write is one transaction; rows that several processes may change are locked in a fixed order
  (meters by system title) so that transactions cannot deadlock, and a deadlock or serialization
  failure reported anyway is retried;
* collect jobs are leased per meter with ``FOR UPDATE SKIP LOCKED`` and a lease expiry;
* invocation counter blocks are handed out under the row lock of the counter (``FOR UPDATE``) and
  committed before they are returned;
* readings are written with ``COPY`` into a temporary table, then ``INSERT ... ON CONFLICT DO
  NOTHING`` (idempotent);
* the schema is migrated under an advisory lock, so workers starting together migrate once;
* :meth:`PostgresStorage.hold_transaction` lets a caller group many writes into one commit (the
  shared listener's registrations, decision 0131): the writes join the held transaction as savepoints
  until :meth:`PostgresStorage.commit_held`; a counter block is never part of it (committed first, then
  reserved in its own transaction).

One instance holds one connection; threads may share it (an internal lock), processes open their own.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Final, TypeVar

import psycopg
from psycopg import errors

from cosemnet.headend.storage.base import (
    DEFAULT_LEASE_SECONDS,
    FIRST_COUNTER,
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
from cosemnet.headend.storage.migrations import migrations
from cosemnet.profiles.mesh.address_book import AddressBookEntry, HistoryEntry, UpsertResult
from cosemnet.profiles.mesh.registration import RegistrationMessage
from cosemnet.security.keys import KeyRole

__all__ = ["PostgresStorage"]

logger = logging.getLogger(__name__)

T = TypeVar("T")
Conn = psycopg.Connection[Any]

_MIGRATION_LOCK: Final = 0x636F73656D6E6574  # "cosemnet"
_RETRIES: Final = 5
_DEVICE_COLUMNS: Final = (
    "system_title, addresses, wport, udp_port, border_router, first_seen, last_seen, last_sequence, messages"
)
_READING_COLUMNS: Final = (
    "system_title, class_id, logical_name, attribute_id, captured_us, value, value_text, unit, error, "
    "run_id, stored_us"
)
_READING_ORDER: Final = "system_title, class_id, logical_name, attribute_id, captured_us"
_JOB_COLUMNS: Final = (
    "j.job_id, j.run_id, j.system_title, j.attribute, j.state, j.owner, j.attempts, "
    "CASE WHEN j.state = 'leased' THEN m.lease_until_us END, j.error"
)


def _binding_lock_key(system_title: bytes) -> int:
    """An advisory lock key per system title (serialises registrations of one meter)."""
    return int.from_bytes(
        hashlib.blake2b(b"binding" + system_title, digest_size=8).digest(), "big", signed=True
    )


def _execute_many(cur: psycopg.Cursor[Any], sql: str, rows: Sequence[Sequence[Any]]) -> None:
    """``executemany``, or one ``execute`` for one row (a pipeline costs more round trips: the shared
    listener writes one registration at a time, decision 0131)."""
    if len(rows) == 1:
        cur.execute(sql, rows[0])
    elif rows:
        cur.executemany(sql, rows)


def _job(row: Sequence[Any]) -> Job:
    job_id, run_id, title, attribute, state, owner, attempts, until, error = row
    return Job(
        int(job_id),
        int(run_id),
        bytes(title),
        attribute,
        JobState(state),
        owner,
        int(attempts),
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


class PostgresStorage:
    """:class:`Storage` on a PostgreSQL database (see the module docstring)."""

    backend = "postgresql"

    def __init__(
        self,
        dsn: str,
        *,
        schema_version: int | None = None,
        migrate: bool = True,
        connect_timeout: float = 10.0,
    ) -> None:
        self.dsn = dsn
        self._lock = threading.RLock()
        self._staging = False
        self._held: AbstractContextManager[Any] | None = None
        try:
            self._conn: Conn = psycopg.connect(
                dsn, autocommit=True, connect_timeout=max(1, round(connect_timeout))
            )
        except psycopg.Error as exc:
            raise StorageError(f"cannot connect to PostgreSQL: {exc}".strip()) from None
        try:
            if migrate:
                self.migrate(schema_version)
            else:
                latest, current = migrations("postgres")[-1].version, self.schema_version()
                if current != latest:
                    raise SchemaOutdatedError(
                        f"schema version {current}, this program uses {latest}", current
                    )
        except psycopg.Error as exc:
            self._conn.close()
            raise StorageError(f"PostgreSQL schema: {exc}".strip()) from None
        except BaseException:
            self._conn.close()
            raise

    # -- plumbing --------------------------------------------------------------------------------

    def _run(self, op: Callable[[Conn], T]) -> T:
        """``op`` in one transaction, retried after a deadlock or serialization failure."""
        for attempt in range(_RETRIES):
            try:
                with self._lock, self._conn.transaction():
                    return op(self._conn)
            except (errors.DeadlockDetected, errors.SerializationFailure) as exc:
                if attempt == _RETRIES - 1:
                    raise
                logger.info("transaction retried after %s", type(exc).__name__)
        raise AssertionError("unreachable")

    def _query(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def hold_transaction(self) -> None:
        """Open a transaction that the following writes join (each as a savepoint) until
        :meth:`commit_held`; nothing is durable before that commit (decision 0131)."""
        with self._lock:
            if self._held is None:
                held = self._conn.transaction()
                held.__enter__()
                self._held = held

    def commit_held(self) -> bool:
        """Commit the held transaction (True when there was one). A failed commit raises StorageError:
        its writes are lost and the caller must not confirm them."""
        with self._lock:
            held, self._held = self._held, None
            if held is None:
                return False
            try:
                held.__exit__(None, None, None)
            except psycopg.Error as exc:
                raise StorageError(f"PostgreSQL commit failed: {exc}".strip()) from None
            return True

    def close(self) -> None:
        with self._lock:
            if self._held is not None:  # never committed: rolled back by the close
                logger.warning("closing with uncommitted held writes: rolled back")
                self._held = None
            self._conn.close()

    def __enter__(self) -> PostgresStorage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def schema_version(self) -> int:
        with self._lock:
            return self._version(self._conn)

    @staticmethod
    def _version(conn: Conn) -> int:
        row = conn.execute("SELECT to_regclass('schema_version') IS NOT NULL").fetchone()
        if row is None or not row[0]:
            return 0
        found = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()
        return 0 if found is None else int(found[0])

    def migrate(self, target: int | None = None) -> int:
        """Apply the migrations up to ``target`` (default: the latest) under an advisory lock;
        returns the version reached."""
        scripts = migrations("postgres")
        latest = scripts[-1].version
        goal = latest if target is None else target
        if not 1 <= goal <= latest:
            raise ValueError(f"schema version must be 1..{latest}")

        def op(conn: Conn) -> int:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_version "
                "(version integer PRIMARY KEY, name text NOT NULL, applied_at double precision NOT NULL)"
            )
            current = self._version(conn)
            if current > latest:
                raise StorageError(f"schema version {current} is newer than this program ({latest})")
            for m in scripts:
                if current < m.version <= goal:
                    conn.execute(m.sql.encode())
                    conn.execute(
                        "INSERT INTO schema_version VALUES (%s, %s, %s)", (m.version, m.name, time.time())
                    )
                    logger.info("PostgreSQL schema migrated to version %d (%s)", m.version, m.name)
                    current = m.version
            return current

        return self._run(op)

    # -- address book ----------------------------------------------------------------------------

    def upsert_bindings(
        self, messages: Sequence[RegistrationMessage], now: float | None = None, *, force: bool = False
    ) -> list[UpsertResult]:
        at = time.time() if now is None else now
        titles = sorted({bytes(m.system_title) for m in messages})
        keys = sorted({_binding_lock_key(t) for t in titles})

        def op(conn: Conn) -> list[UpsertResult]:
            conn.execute("SELECT pg_advisory_xact_lock(k) FROM unnest(%s::bigint[]) AS k ORDER BY k", (keys,))
            states: dict[bytes, BindingState] = {}
            for row in conn.execute(
                f"SELECT {_DEVICE_COLUMNS} FROM devices WHERE system_title = ANY(%s)", (titles,)
            ).fetchall():
                title, packed, wport, port, router, first, last, seq, count = row
                states[bytes(title)] = BindingState(
                    wport, port, bytes(router or b""), bytes(packed), first, last, seq, count, True
                )
            results, history = apply_registrations(states, messages, at, force)
            self._store_states(conn, states, history)
            return results

        return self._run(op)

    @staticmethod
    def _store_states(conn: Conn, states: Mapping[bytes, BindingState], history: list[HistoryRow]) -> None:
        touched = [(t, states[t]) for t in sorted(t for t, s in states.items() if s.touched)]
        with conn.cursor() as cur:
            _execute_many(
                cur,
                f"INSERT INTO devices ({_DEVICE_COLUMNS}) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s) "
                "ON CONFLICT (system_title) DO UPDATE SET addresses=excluded.addresses, "
                "wport=excluded.wport, udp_port=excluded.udp_port, border_router=excluded.border_router, "
                "last_seen=excluded.last_seen, last_sequence=excluded.last_sequence, "
                "messages=excluded.messages",
                [device_row(t, s) for t, s in touched],
            )
            changed = [(t, s) for t, s in touched if s.changed]
            existing = [t for t, s in changed if s.exists]
            if existing:
                cur.execute("DELETE FROM addresses WHERE system_title = ANY(%s)", (existing,))
            addresses = [
                (s.packed[i : i + 16], t, s.packed[i : i + 8])
                for t, s in changed
                for i in range(0, len(s.packed), 18)
            ]
            if addresses:
                _execute_many(
                    cur,
                    "INSERT INTO addresses (address, system_title, prefix64) VALUES (%s,%s,%s) "
                    "ON CONFLICT DO NOTHING",
                    addresses,
                )
            if history:
                _execute_many(
                    cur,
                    "INSERT INTO history (system_title, at, reason, sequence_number, old_binding, "
                    "new_binding) VALUES (%s,%s,%s,%s,%s,%s)",
                    history,
                )

    def binding(self, system_title: bytes) -> AddressBookEntry | None:
        rows = self._query(
            f"SELECT {_DEVICE_COLUMNS} FROM devices WHERE system_title = %s", (bytes(system_title),)
        )
        return entry_of(*rows[0]) if rows else None

    def bindings(self, system_titles: Collection[bytes] | None = None) -> list[AddressBookEntry]:
        if system_titles is None:
            rows = self._query(f"SELECT {_DEVICE_COLUMNS} FROM devices ORDER BY system_title")
        else:
            rows = self._query(
                f"SELECT {_DEVICE_COLUMNS} FROM devices WHERE system_title = ANY(%s) ORDER BY system_title",
                ([bytes(t) for t in system_titles],),
            )
        return [entry_of(*r) for r in rows]

    def titles_at_address(self, address: bytes) -> list[bytes]:
        rows = self._query(
            "SELECT a.system_title FROM addresses a JOIN devices d ON d.system_title = a.system_title "
            "WHERE a.address = %s ORDER BY d.last_seen DESC, a.system_title",
            (bytes(address),),
        )
        return [bytes(r[0]) for r in rows]

    def binding_history(self, system_title: bytes, limit: int | None = None) -> list[HistoryEntry]:
        rows = self._query(
            "SELECT system_title, at, reason, sequence_number, old_binding, new_binding FROM history "
            "WHERE system_title = %s ORDER BY id DESC LIMIT %s",
            (bytes(system_title), limit),
        )
        return [history_of(*r) for r in reversed(rows)]

    def touch_binding(self, system_title: bytes, now: float | None = None) -> bool:
        at = time.time() if now is None else now
        return self._run(
            lambda conn: (
                conn.execute(
                    "UPDATE devices SET last_seen = GREATEST(last_seen, %s) WHERE system_title = %s",
                    (at, bytes(system_title)),
                ).rowcount
                > 0
            )
        )

    def forget_binding(self, system_title: bytes) -> bool:
        title = bytes(system_title)

        def op(conn: Conn) -> bool:
            conn.execute("DELETE FROM addresses WHERE system_title = %s", (title,))
            return conn.execute("DELETE FROM devices WHERE system_title = %s", (title,)).rowcount > 0

        return self._run(op)

    # -- counters --------------------------------------------------------------------------------

    def reserve_counter_block(self, system_title: bytes, key_label: str, size: int) -> tuple[int, int]:
        key = (bytes(system_title), key_label)
        self.commit_held()  # a block is committed on its own before it is returned (decision 0131)

        def op(conn: Conn) -> tuple[int, int]:
            conn.execute(
                "INSERT INTO invocation_counters (system_title, key_label, ceiling) VALUES (%s,%s,%s) "
                "ON CONFLICT DO NOTHING",
                (*key, FIRST_COUNTER),
            )
            row = conn.execute(
                "SELECT ceiling FROM invocation_counters "
                "WHERE system_title = %s AND key_label = %s FOR UPDATE",
                key,
            ).fetchone()
            first, last, ceiling = counter_block(None if row is None else int(row[0]), size)
            conn.execute(
                "UPDATE invocation_counters SET ceiling = %s WHERE system_title = %s AND key_label = %s",
                (ceiling, *key),
            )
            return first, last

        return self._run(op)

    def counter_ceiling(self, system_title: bytes, key_label: str) -> int | None:
        rows = self._query(
            "SELECT ceiling FROM invocation_counters WHERE system_title = %s AND key_label = %s",
            (bytes(system_title), key_label),
        )
        return int(rows[0][0]) if rows else None

    def save_received_floors(self, floors: Mapping[object, int]) -> int:
        rows = sorted(received_rows(floors))

        def op(conn: Conn) -> None:
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO received_counters (system_title, key_role, last_received) VALUES (%s,%s,%s) "
                    "ON CONFLICT (system_title, key_role) DO UPDATE SET "
                    "last_received = GREATEST(received_counters.last_received, excluded.last_received)",
                    rows,
                )

        self._run(op)
        return len(rows)

    def received_floors(self, system_title: bytes | None = None) -> dict[tuple[bytes, KeyRole], int]:
        sql = "SELECT system_title, key_role, last_received FROM received_counters"
        if system_title is None:
            return received_dict(self._query(sql))
        return received_dict(self._query(sql + " WHERE system_title = %s", (bytes(system_title),)))

    # -- readings and events ---------------------------------------------------------------------

    def add_readings(self, readings: Iterable[Reading], now: float | None = None) -> int:
        stored = to_us(time.time() if now is None else now)
        rows = sorted((reading_row(r, stored) for r in readings), key=lambda row: row[:5])
        if not rows:
            return 0
        with self._lock:
            if not self._staging:
                self._conn.execute(
                    "CREATE TEMP TABLE IF NOT EXISTS readings_in (LIKE readings) ON COMMIT DELETE ROWS"
                )
                self._staging = True

        def op(conn: Conn) -> int:
            with conn.cursor() as cur:
                with cur.copy(f"COPY readings_in ({_READING_COLUMNS}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
                cur.execute(
                    f"INSERT INTO readings ({_READING_COLUMNS}) SELECT {_READING_COLUMNS} FROM readings_in "
                    f"ORDER BY {_READING_ORDER} ON CONFLICT DO NOTHING"
                )
                return cur.rowcount

        return self._run(op)

    def readings(
        self,
        system_title: bytes | None = None,
        *,
        run_id: int | None = None,
        after: ReadingKey | None = None,
        limit: int | None = None,
    ) -> list[Reading]:
        where: list[str] = []
        params: list[Any] = []
        if system_title is not None:
            where.append("system_title = %s")
            params.append(bytes(system_title))
        if run_id is not None:
            where.append("run_id = %s")
            params.append(run_id)
        if after is not None:
            where.append(f"({_READING_ORDER}) > (%s, %s, %s, %s, %s)")
            params += after
        sql = f"SELECT {_READING_COLUMNS} FROM readings"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" ORDER BY {_READING_ORDER} LIMIT %s"
        params.append(limit)
        return [_reading(r) for r in self._query(sql, params)]

    def add_events(self, events: Iterable[Event], now: float | None = None) -> int:
        received = to_us(time.time() if now is None else now)
        items = list(events)
        columns = (
            [bytes(e.system_title) for e in items],
            [to_us(e.at) for e in items],
            [e.kind for e in items],
            [bytes(e.payload) for e in items],
            [event_digest(e.payload) for e in items],
            [received if e.received_at is None else to_us(e.received_at) for e in items],
        )
        return self._run(
            lambda conn: (
                conn.execute(
                    "INSERT INTO events (system_title, at_us, kind, payload, digest, received_us) "
                    "SELECT * FROM unnest(%s::bytea[], %s::bigint[], %s::text[], %s::bytea[], %s::bytea[], "
                    "%s::bigint[]) ON CONFLICT DO NOTHING",
                    columns,
                ).rowcount
            )
        )

    def events(
        self, system_title: bytes | None = None, *, since: float | None = None, limit: int | None = None
    ) -> list[Event]:
        where: list[str] = []
        params: list[Any] = []
        if system_title is not None:
            where.append("system_title = %s")
            params.append(bytes(system_title))
        if since is not None:
            where.append("at_us >= %s")
            params.append(to_us(since))
        sql = "SELECT system_title, at_us, kind, payload, received_us, event_id FROM events"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY at_us, event_id LIMIT %s"
        params.append(limit)
        return [
            Event(bytes(t), from_us(at), k, bytes(p), from_us(r), int(i))
            for t, at, k, p, r, i in self._query(sql, params)
        ]

    # -- runs and jobs ---------------------------------------------------------------------------

    def start_run(self, attributes: str, meters: int, now: float | None = None) -> int:
        started = time.time() if now is None else now

        def op(conn: Conn) -> int:
            row = conn.execute(
                "INSERT INTO runs (started, attributes, meters) VALUES (%s,%s,%s) RETURNING run_id",
                (started, attributes, meters),
            ).fetchone()
            assert row is not None
            return int(row[0])

        return self._run(op)

    def run_started(self, run_id: int) -> float | None:
        rows = self._query("SELECT started FROM runs WHERE run_id = %s", (run_id,))
        return float(rows[0][0]) if rows else None

    @staticmethod
    def _lock_meters(conn: Conn, titles: Sequence[bytes]) -> None:
        """Lock meter rows in system-title order (the order every writer uses: no deadlock)."""
        conn.execute(
            "SELECT 1 FROM job_meters WHERE system_title = ANY(%s) ORDER BY system_title FOR UPDATE",
            (list(titles),),
        )

    @staticmethod
    def _refresh_meters(conn: Conn, titles: Sequence[bytes]) -> None:
        """Recount the open jobs of ``titles``; free a meter whose owner holds none of its jobs."""
        held = (
            "EXISTS (SELECT 1 FROM jobs j WHERE j.system_title = m.system_title AND j.state = 'leased' "
            "AND j.owner = m.owner)"
        )
        conn.execute(
            "UPDATE job_meters m SET pending = (SELECT count(*) FROM jobs j "
            "WHERE j.system_title = m.system_title "
            f"AND j.state IN ('queued', 'leased')), owner = CASE WHEN {held} THEN m.owner END, "
            f"lease_until_us = CASE WHEN {held} THEN m.lease_until_us END WHERE m.system_title = ANY(%s)",
            (list(titles),),
        )

    def create_jobs(self, run_id: int, items: Iterable[tuple[bytes, str]], now: float | None = None) -> int:
        created = to_us(time.time() if now is None else now)
        rows = sorted({(bytes(t), a) for t, a in items})
        titles = sorted({t for t, _ in rows})

        def op(conn: Conn) -> int:
            new = conn.execute(
                "INSERT INTO jobs (run_id, system_title, attribute, created_us) "
                "SELECT %s, t, a, %s FROM unnest(%s::bytea[], %s::text[]) AS u(t, a) ORDER BY t, a "
                "ON CONFLICT DO NOTHING",
                (run_id, created, [t for t, _ in rows], [a for _, a in rows]),
            ).rowcount
            conn.execute(
                "INSERT INTO job_meters (system_title, shard) "
                "SELECT * FROM unnest(%s::bytea[], %s::integer[]) "
                "ORDER BY 1 ON CONFLICT DO NOTHING",
                (titles, [shard_of(t) for t in titles]),
            )
            self._lock_meters(conn, titles)
            self._refresh_meters(conn, titles)
            return new

        return self._run(op)

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
        params: dict[str, Any] = {
            "now": to_us(at),
            "until": to_us(at + lease_seconds),
            "owner": owner,
            "limit": limit,
            "shards": None if shards is None else sorted(shards),
        }
        shard_filter = "" if shards is None else "AND shard = ANY(%(shards)s) "

        def op(conn: Conn) -> list[Job]:
            titles = [
                bytes(r[0])
                for r in conn.execute(
                    "WITH picked AS (SELECT system_title FROM job_meters WHERE pending > 0 "
                    "AND not_before_us <= %(now)s AND (owner IS NULL OR lease_until_us <= %(now)s) "
                    f"{shard_filter}ORDER BY not_before_us LIMIT %(limit)s FOR UPDATE SKIP LOCKED) "
                    "UPDATE job_meters m SET owner = %(owner)s, lease_until_us = %(until)s FROM picked "
                    "WHERE m.system_title = picked.system_title RETURNING m.system_title",
                    params,
                ).fetchall()
            ]
            rows = conn.execute(
                "UPDATE jobs SET state = 'leased', owner = %s, attempts = attempts + 1 "
                "WHERE system_title = ANY(%s) AND state IN ('queued', 'leased') "
                "RETURNING job_id, run_id, system_title, attribute, state, owner, attempts, "
                "%s::bigint, error",
                (owner, titles, params["until"]),
            ).fetchall()
            return sorted((_job(r) for r in rows), key=lambda j: j.job_id)

        return self._run(op)

    def renew_lease(
        self,
        owner: str,
        system_titles: Collection[bytes],
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        now: float | None = None,
    ) -> int:
        until = to_us((time.time() if now is None else now) + lease_seconds)
        titles = sorted({bytes(t) for t in system_titles})

        def op(conn: Conn) -> int:
            self._lock_meters(conn, titles)
            return conn.execute(
                "UPDATE job_meters SET lease_until_us = %s WHERE owner = %s AND system_title = ANY(%s)",
                (until, owner, titles),
            ).rowcount

        return self._run(op)

    def _finish(
        self,
        owner: str,
        job_ids: Collection[int],
        assignments: str,
        params: Sequence[Any],
        not_before_us: int | None = None,
    ) -> int:
        ids = sorted(set(job_ids))
        where = "job_id = ANY(%s) AND owner = %s AND state = 'leased'"

        def op(conn: Conn) -> int:
            titles = sorted(
                bytes(r[0])
                for r in conn.execute(
                    f"SELECT DISTINCT system_title FROM jobs WHERE {where}", (ids, owner)
                ).fetchall()
            )
            self._lock_meters(conn, titles)
            count = conn.execute(
                f"UPDATE jobs SET {assignments} WHERE {where}", (*params, ids, owner)
            ).rowcount
            if not_before_us is not None:
                conn.execute(
                    "UPDATE job_meters SET not_before_us = GREATEST(not_before_us, %s) "
                    "WHERE system_title = ANY(%s)",
                    (not_before_us, titles),
                )
            self._refresh_meters(conn, titles)
            return count

        return self._run(op)

    def complete_jobs(self, owner: str, job_ids: Collection[int], now: float | None = None) -> int:
        finished = to_us(time.time() if now is None else now)
        return self._finish(owner, job_ids, "state = 'done', finished_us = %s, error = NULL", (finished,))

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
        if retry_after is None:
            return self._finish(
                owner, job_ids, "state = 'failed', error = %s, finished_us = %s", (error, to_us(at))
            )
        final = "attempts >= %s"
        return self._finish(
            owner,
            job_ids,
            f"state = CASE WHEN {final} THEN 'failed' ELSE 'queued' END, error = %s, "
            f"finished_us = CASE WHEN {final} THEN %s::bigint END, owner = CASE WHEN {final} THEN owner END",
            (max_attempts, error, max_attempts, to_us(at), max_attempts),
            to_us(at + retry_after),
        )

    def jobs(self, run_id: int | None = None, state: JobState | None = None) -> list[Job]:
        rows = self._query(
            f"SELECT {_JOB_COLUMNS} FROM jobs j JOIN job_meters m ON m.system_title = j.system_title "
            "WHERE (%(run)s::bigint IS NULL OR j.run_id = %(run)s) "
            "AND (%(state)s::text IS NULL OR j.state = %(state)s) "
            "ORDER BY j.job_id",
            {"run": run_id, "state": None if state is None else str(state)},
        )
        return [_job(r) for r in rows]

    def job_counts(self, run_id: int | None = None) -> dict[JobState, int]:
        rows = self._query(
            "SELECT state, count(*) FROM jobs WHERE (%(run)s::bigint IS NULL OR run_id = %(run)s) "
            "GROUP BY state",
            {"run": run_id},
        )
        counts = dict.fromkeys(JobState, 0)
        counts.update({JobState(s): int(n) for s, n in rows})
        return counts
