"""The head-end's own tables: collected readings and established associations (decision 0027).

They live in the address book's SQLite file (a second connection; WAL lets both write in turn), in
tables the address book does not know: ``readings`` and ``headend_associations``. An in-memory book
(``":memory:"``) gets an in-memory store.

* ``readings``: one row per (run, meter, attribute): the value as A-XDR bytes and as text, or the
  error; ``runs`` names each collect (started, attributes, counts, how it stopped). A unique index on
  (run, meter, class, logical name, attribute) makes a retried or duplicated answer count once: the
  first value stays, a value replaces an error (a resumed run, decision 0081); group reads (run 0 in
  files written before) are not constrained.
* ``headend_associations``: what each meter agreed to in its AARE (negotiated conformance, max PDU
  size, server system title). [design] After a head-end restart the association is *resumed* from
  this row without a new AARQ: the meter kept it (UDP associations are long-lived, TS clause 6),
  and the persisted invocation counters continue above every value used before the restart.
"""

from __future__ import annotations

import csv
import datetime as _dt
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Final, TextIO

from cosemnet.codec.axdr import encode_data
from cosemnet.codec.initiate import Conformance
from cosemnet.codec.types import DataValue
from cosemnet.errors import EncodeError

__all__ = ["EventRow", "HeadEndStore", "OperationRow", "ReadingRow", "RunRow", "StoredAssociation"]

_log = logging.getLogger(__name__)

_UNIQUE_READINGS: Final = """
CREATE UNIQUE INDEX IF NOT EXISTS readings_once
    ON readings (run_id, system_title, class_id, logical_name, attribute_id) WHERE run_id > 0
"""
_DEDUPLICATE: Final = """
DELETE FROM readings WHERE run_id > 0 AND rowid NOT IN (
    SELECT min(rowid) FROM readings WHERE run_id > 0
    GROUP BY run_id, system_title, class_id, logical_name, attribute_id)
"""
_INSERT_READING: Final = """
INSERT INTO readings VALUES (?,?,?,?,?,?,?,?,?)
ON CONFLICT (run_id, system_title, class_id, logical_name, attribute_id) WHERE run_id > 0
DO UPDATE SET at = excluded.at, value = excluded.value, value_text = excluded.value_text, error = NULL
WHERE readings.error IS NOT NULL AND excluded.error IS NULL
"""
_RUN_COLUMNS: Final = (("not_attempted", "INTEGER NOT NULL DEFAULT 0"), ("stopped", "TEXT"))

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS runs (
    run_id      INTEGER PRIMARY KEY AUTOINCREMENT,
    started     REAL NOT NULL,
    attributes  TEXT NOT NULL,
    meters      INTEGER NOT NULL DEFAULT 0,
    answered    INTEGER NOT NULL DEFAULT 0,
    failed      INTEGER NOT NULL DEFAULT 0,
    finished    REAL
);
CREATE TABLE IF NOT EXISTS readings (
    run_id        INTEGER NOT NULL,
    system_title  BLOB NOT NULL,
    class_id      INTEGER NOT NULL,
    logical_name  TEXT NOT NULL,
    attribute_id  INTEGER NOT NULL,
    at            REAL NOT NULL,
    value         BLOB,
    value_text    TEXT,
    error         TEXT
);
CREATE INDEX IF NOT EXISTS readings_by_title ON readings (system_title, run_id);
CREATE TABLE IF NOT EXISTS headend_associations (
    system_title         BLOB PRIMARY KEY,
    conformance          INTEGER NOT NULL,
    server_max_pdu_size  INTEGER NOT NULL,
    vaa_name             INTEGER NOT NULL,
    server_system_title  BLOB,
    associated_at        REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS operation_results (
    run_id        INTEGER NOT NULL,
    system_title  BLOB NOT NULL,
    kind          TEXT NOT NULL,
    target        TEXT NOT NULL,
    result        TEXT NOT NULL,
    detail        TEXT,
    value         BLOB,
    at            REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS operation_results_by_run ON operation_results (run_id, system_title);
CREATE TABLE IF NOT EXISTS push_events (
    event_id      INTEGER PRIMARY KEY AUTOINCREMENT,
    system_title  BLOB NOT NULL,
    kind          TEXT NOT NULL,
    at            REAL NOT NULL,
    meter_time    TEXT,
    source        TEXT,
    value         BLOB,
    value_text    TEXT,
    address       TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS push_events_by_title ON push_events (system_title, at);
"""


@dataclass(frozen=True, slots=True)
class ReadingRow:
    """One row of ``readings``, as written (:meth:`HeadEndStore.add_readings`) and read back."""

    run_id: int
    system_title: bytes
    class_id: int
    logical_name: str
    attribute_id: int
    at: float
    value: bytes | None
    """The value's A-XDR encoding (None: an error, or a value that does not encode)."""
    value_text: str | None
    error: str | None

    @classmethod
    def of_value(
        cls,
        run_id: int,
        system_title: bytes,
        class_id: int,
        logical_name: str,
        attribute_id: int,
        at: float,
        value: DataValue | None,
        error: str | None = None,
    ) -> ReadingRow:
        """The row of a decoded value (encoded to A-XDR, its text form kept for display), or of an
        error (``error`` set: the value is not stored)."""
        raw: bytes | None = None
        text: str | None = None
        if error is None:
            try:
                raw = encode_data(value)
            except EncodeError:
                raw = None
            text = value_text(value)
        return cls(run_id, system_title, class_id, logical_name, attribute_id, at, raw, text, error)


@dataclass(frozen=True, slots=True)
class OperationRow:
    """One meter's result of a SET or ACTION (``kind``) on ``target`` (CLASS/OBIS/INDEX)."""

    run_id: int
    system_title: bytes
    kind: str
    target: str
    result: str
    detail: str | None
    value: bytes | None
    """A-XDR of the ACTION return parameters (None: none)."""
    at: float


@dataclass(frozen=True, slots=True)
class EventRow:
    """One stored push (see :class:`cosemnet.headend.pushes.PushEvent`)."""

    event_id: int
    system_title: bytes
    kind: str
    at: float
    meter_time: str | None
    source: str | None
    value: bytes | None
    value_text: str | None
    address: str


@dataclass(frozen=True, slots=True)
class RunRow:
    run_id: int
    started: float
    attributes: str
    meters: int
    answered: int
    failed: int
    finished: float | None
    not_attempted: int
    stopped: str | None


@dataclass(frozen=True, slots=True)
class StoredAssociation:
    system_title: bytes
    conformance: Conformance
    server_max_pdu_size: int
    vaa_name: int
    server_system_title: bytes | None
    associated_at: float


def value_text(value: DataValue) -> str:
    """A short display form of a Data value (CSV, ``--json``)."""
    if isinstance(value, bytes):
        return value.hex().upper()
    return str(value)


class HeadEndStore:
    """Readings and associations (see the module docstring)."""

    def __init__(self, path: str | os.PathLike[str] = ":memory:", *, timeout: float = 5.0) -> None:
        self.path = os.fspath(path)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.path, timeout=timeout, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript("BEGIN IMMEDIATE;" + _SCHEMA + "COMMIT;")
        self._upgrade()

    def _upgrade(self) -> None:
        """Files written before decision 0081: the run columns and the uniqueness of readings."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                columns = {row[1] for row in self._db.execute("PRAGMA table_info(runs)")}
                for name, kind in _RUN_COLUMNS:
                    if name not in columns:
                        self._db.execute(f"ALTER TABLE runs ADD COLUMN {name} {kind}")
                try:
                    self._db.execute(_UNIQUE_READINGS)
                except sqlite3.IntegrityError:
                    removed = self._db.execute(_DEDUPLICATE).rowcount
                    _log.warning("%s: %d duplicate readings removed", self.path, removed)
                    self._db.execute(_UNIQUE_READINGS)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._db.close()

    # -- runs and readings -----------------------------------------------------------------------

    def start_run(self, attributes: str, meters: int, now: float | None = None) -> int:
        """Record a new run reading ``attributes`` from ``meters`` meters; its id."""
        with self._lock:
            cur = self._db.execute(
                "INSERT INTO runs (started, attributes, meters) VALUES (?,?,?)",
                (time.time() if now is None else now, attributes, meters),
            )
            return int(cur.lastrowid or 0)

    def finish_run(
        self,
        run_id: int,
        answered: int,
        failed: int,
        now: float | None = None,
        *,
        not_attempted: int = 0,
        stopped: str | None = None,
    ) -> None:
        """The run summary: meters answered, failed (given up), not attempted (stopped early), and
        what stopped it (``None``: it ran to the end)."""
        with self._lock:
            self._db.execute(
                "UPDATE runs SET answered = ?, failed = ?, finished = ?, not_attempted = ?, stopped = ?"
                " WHERE run_id = ?",
                (answered, failed, time.time() if now is None else now, not_attempted, stopped, run_id),
            )

    def run(self, run_id: int) -> RunRow | None:
        """The stored run ``run_id``, or None."""
        with self._lock:
            row = self._db.execute(
                "SELECT run_id, started, attributes, meters, answered, failed, finished, not_attempted,"
                " stopped FROM runs WHERE run_id = ?",
                (run_id,),
            ).fetchone()
        return None if row is None else RunRow(*row)

    def answered_titles(self, run_id: int) -> set[bytes]:
        """Meters with at least one value stored in ``run_id`` (what ``--resume`` skips)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT DISTINCT system_title FROM readings WHERE run_id = ? AND error IS NULL", (run_id,)
            ).fetchall()
        return {bytes(r[0]) for r in rows}

    def count_readings(self, run_id: int) -> int:
        """How many readings ``run_id`` stored."""
        with self._lock:
            row = self._db.execute("SELECT count(*) FROM readings WHERE run_id = ?", (run_id,)).fetchone()
        return int(row[0])

    def add_readings(self, rows: Iterable[ReadingRow]) -> int:
        """Store rows (:meth:`ReadingRow.of_value`) in one transaction; returns how many rows were
        added or changed (a row already stored for the same run, meter and attribute is kept, unless
        it holds an error and the new one a value)."""
        out = [
            (
                r.run_id,
                r.system_title,
                r.class_id,
                r.logical_name,
                r.attribute_id,
                r.at,
                r.value,
                r.value_text,
                r.error,
            )
            for r in rows
        ]
        with self._lock:
            before = self._db.total_changes
            self._db.execute("BEGIN")
            try:
                self._db.executemany(_INSERT_READING, out)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            return self._db.total_changes - before

    def readings(self, run_id: int | None = None) -> list[ReadingRow]:
        """The stored readings (of ``run_id``, else all)."""
        sql = "SELECT * FROM readings"
        params: tuple[object, ...] = ()
        if run_id is not None:
            sql += " WHERE run_id = ?"
            params = (run_id,)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY system_title, class_id, logical_name", params).fetchall()
        return [ReadingRow(*r) for r in rows]

    def add_operation_results(
        self, rows: Iterable[tuple[int, bytes, str, str, str, str | None, DataValue, float]]
    ) -> None:
        """Store ``(run_id, system_title, kind, target, result, detail, value, at)`` rows (one
        transaction)."""
        out = []
        for run_id, title, kind, target, result, detail, value, at in rows:
            raw: bytes | None = None
            if value is not None:
                try:
                    raw = encode_data(value)
                except EncodeError:
                    raw = None
            out.append((run_id, title, kind, target, result, detail, raw, at))
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._db.executemany("INSERT INTO operation_results VALUES (?,?,?,?,?,?,?,?)", out)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def operation_results(self, run_id: int | None = None) -> list[OperationRow]:
        """The stored SET / ACTION results (of ``run_id``, else all)."""
        sql = "SELECT * FROM operation_results"
        params: tuple[object, ...] = ()
        if run_id is not None:
            sql += " WHERE run_id = ?"
            params = (run_id,)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY run_id, system_title", params).fetchall()
        return [OperationRow(*r) for r in rows]

    def add_events(
        self, rows: Iterable[tuple[bytes, str, float, str | None, str | None, DataValue, str]]
    ) -> None:
        """Store pushes ``(system_title, kind, at, meter_time, source, value, address)``."""
        out = []
        for title, kind, at, meter_time, source, value, address in rows:
            try:
                raw: bytes | None = encode_data(value)
            except EncodeError:
                raw = None
            out.append((title, kind, at, meter_time, source, raw, value_text(value), address))
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._db.executemany(
                    "INSERT INTO push_events (system_title, kind, at, meter_time, source, value, value_text, "
                    "address) VALUES (?,?,?,?,?,?,?,?)",
                    out,
                )
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def events(self, system_title: bytes | None = None, *, since: float | None = None) -> list[EventRow]:
        """The stored pushes (of ``system_title``, at or after ``since``)."""
        sql = "SELECT * FROM push_events WHERE at >= ?"
        params: list[object] = [since if since is not None else float("-inf")]
        if system_title is not None:
            sql += " AND system_title = ?"
            params.append(bytes(system_title))
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY at, event_id", params).fetchall()
        return [EventRow(*r) for r in rows]

    def iter_csv_rows(self, run_id: int) -> Iterator[list[str]]:
        """The readings of ``run_id`` as raw CSV rows (header first; the raw table form)."""
        yield ["system_title", "class_id", "logical_name", "attribute_id", "at", "value", "error"]
        for r in self.readings(run_id):
            yield [
                r.system_title.hex().upper(),
                str(r.class_id),
                r.logical_name,
                str(r.attribute_id),
                _dt.datetime.fromtimestamp(r.at, _dt.UTC).isoformat(timespec="milliseconds"),
                r.value_text or "",
                r.error or "",
            ]

    def write_csv(self, run_id: int, out: TextIO) -> int:
        """Write :meth:`iter_csv_rows` to ``out``; how many readings were written."""
        writer = csv.writer(out)
        count = -1
        for row in self.iter_csv_rows(run_id):
            writer.writerow(row)
            count += 1
        return count

    # -- associations ----------------------------------------------------------------------------

    def save_association(self, a: StoredAssociation) -> None:
        """Store one association's state (for a restart)."""
        self.save_associations([a])

    def save_associations(self, items: Iterable[StoredAssociation]) -> None:
        """Store (replace) association rows in one transaction."""
        rows = [
            (
                a.system_title,
                int(a.conformance),
                a.server_max_pdu_size,
                a.vaa_name,
                a.server_system_title,
                a.associated_at,
            )
            for a in items
        ]
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._db.executemany("INSERT OR REPLACE INTO headend_associations VALUES (?,?,?,?,?,?)", rows)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def forget_association(self, system_title: bytes) -> None:
        """Drop the stored association of ``system_title``."""
        with self._lock:
            self._db.execute(
                "DELETE FROM headend_associations WHERE system_title = ?", (bytes(system_title),)
            )

    def associations(self) -> dict[bytes, StoredAssociation]:
        """Every stored association, by system title."""
        with self._lock:
            rows = self._db.execute("SELECT * FROM headend_associations").fetchall()
        return {r[0]: StoredAssociation(r[0], Conformance(r[1]), r[2], r[3], r[4], r[5]) for r in rows}
