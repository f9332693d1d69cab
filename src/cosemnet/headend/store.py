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
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Final, TextIO

from cosemnet.codec.axdr import encode_data
from cosemnet.codec.initiate import Conformance
from cosemnet.codec.types import DataValue
from cosemnet.errors import EncodeError

__all__ = [
    "EventRow",
    "GapRow",
    "HeadEndStore",
    "OperationRow",
    "ProfileChannelRow",
    "ProfileRow",
    "ReadingRow",
    "RunRow",
    "StoredAssociation",
]

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
CREATE TABLE IF NOT EXISTS profile_channels (
    system_title    BLOB NOT NULL,
    profile         TEXT NOT NULL,
    position        INTEGER NOT NULL,
    class_id        INTEGER NOT NULL,
    logical_name    TEXT NOT NULL,
    attribute_id    INTEGER NOT NULL,
    data_index      INTEGER NOT NULL,
    scaler          INTEGER,
    unit            INTEGER,
    capture_period  INTEGER NOT NULL,
    read_at         REAL NOT NULL,
    PRIMARY KEY (system_title, profile, position)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS profile_rows (
    system_title  BLOB NOT NULL,
    profile       TEXT NOT NULL,
    channel       TEXT NOT NULL,
    capture_time  REAL NOT NULL,
    value         REAL,
    raw           BLOB,
    unit          INTEGER,
    run_id        INTEGER NOT NULL,
    PRIMARY KEY (system_title, profile, channel, capture_time)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS profile_rows_by_time ON profile_rows (profile, system_title, capture_time);
CREATE TABLE IF NOT EXISTS profile_gaps (
    system_title  BLOB NOT NULL,
    profile       TEXT NOT NULL,
    gap_first     REAL NOT NULL,
    gap_last      REAL NOT NULL,
    status        TEXT NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    updated       REAL NOT NULL,
    PRIMARY KEY (system_title, profile, gap_first, gap_last)
) WITHOUT ROWID;
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
class ProfileChannelRow:
    """One capture object of a meter's profile (``position`` in capture_objects, from 0), with its
    scaler and unit (None: the object has no scaler_unit) and the profile's capture period (s)."""

    system_title: bytes
    profile: str
    position: int
    class_id: int
    logical_name: str
    attribute_id: int
    data_index: int
    scaler: int | None
    unit: int | None
    capture_period: int
    read_at: float

    @property
    def name(self) -> str:
        """The channel's name in ``profile_rows``: ``OBIS:ATTR`` (``:DATA_INDEX`` when not 0)."""
        name = f"{self.logical_name}:{self.attribute_id}"
        return f"{name}:{self.data_index}" if self.data_index else name


@dataclass(frozen=True, slots=True)
class ProfileRow:
    """One stored profile value: meter, profile, channel, capture time (POSIX s), the value with the
    scaler applied (None: not a number), its A-XDR as received, the unit and the run that read it."""

    system_title: bytes
    profile: str
    channel: str
    capture_time: float
    value: float | None
    raw: bytes | None
    unit: int | None
    run_id: int


@dataclass(frozen=True, slots=True)
class GapRow:
    """Missing capture instants ``first``..``last`` of a meter's profile: ``status`` is ``open``
    (to be requested again), ``confirmed`` (the meter answered without them), ``given-up`` (no
    answer after the allowed attempts) or ``repaired``."""

    system_title: bytes
    profile: str
    first: float
    last: float
    status: str
    attempts: int
    updated: float


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

    # -- load profiles (headend/profiles.py) ----------------------------------------------------

    def _write(self, sql: str, rows: Sequence[tuple[object, ...]]) -> int:
        """``executemany`` in one transaction; the number of rows added or changed."""
        with self._lock:
            before = self._db.total_changes
            self._db.execute("BEGIN")
            try:
                self._db.executemany(sql, rows)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            return self._db.total_changes - before

    def save_profile_channels(self, rows: Iterable[ProfileChannelRow]) -> None:
        """Store (replace) the capture objects, scalers and units of meters' profiles."""
        out = [
            (
                r.system_title,
                r.profile,
                r.position,
                r.class_id,
                r.logical_name,
                r.attribute_id,
                r.data_index,
                r.scaler,
                r.unit,
                r.capture_period,
                r.read_at,
            )
            for r in rows
        ]
        self._write("INSERT OR REPLACE INTO profile_channels VALUES (?,?,?,?,?,?,?,?,?,?,?)", out)

    def profile_channels(self, profile: str, system_title: bytes | None = None) -> list[ProfileChannelRow]:
        """The cached channel descriptions (capture object, scaler, unit) of ``profile``, per meter."""
        sql = "SELECT * FROM profile_channels WHERE profile = ?"
        params: list[object] = [profile]
        if system_title is not None:
            sql += " AND system_title = ?"
            params.append(bytes(system_title))
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY system_title, position", params).fetchall()
        return [ProfileChannelRow(bytes(r[0]), *r[1:]) for r in rows]

    def add_profile_rows(self, rows: Iterable[ProfileRow]) -> int:
        """Store profile values; one already stored for the same meter, profile, channel and capture
        time is kept (a re-read is stored once). Returns how many were added."""
        out = [
            (r.system_title, r.profile, r.channel, r.capture_time, r.value, r.raw, r.unit, r.run_id)
            for r in rows
        ]
        return self._write("INSERT OR IGNORE INTO profile_rows VALUES (?,?,?,?,?,?,?,?)", out)

    def profile_rows(
        self,
        profile: str,
        system_title: bytes | None = None,
        *,
        since: float | None = None,
        until: float | None = None,
    ) -> list[ProfileRow]:
        """The stored rows of ``profile`` (scaled values with units), by meter, channel and capture time."""
        sql = "SELECT * FROM profile_rows WHERE profile = ? AND capture_time >= ? AND capture_time <= ?"
        params: list[object] = [
            profile,
            float("-inf") if since is None else since,
            float("inf") if until is None else until,
        ]
        if system_title is not None:
            sql += " AND system_title = ?"
            params.append(bytes(system_title))
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY system_title, capture_time, channel", params).fetchall()
        return [ProfileRow(bytes(r[0]), *r[1:]) for r in rows]

    def capture_times(self, profile: str, system_title: bytes, since: float | None = None) -> list[float]:
        """The distinct capture times stored for a meter's profile (ascending)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT DISTINCT capture_time FROM profile_rows WHERE profile = ? AND system_title = ?"
                " AND capture_time >= ? ORDER BY capture_time",
                (profile, bytes(system_title), float("-inf") if since is None else since),
            ).fetchall()
        return [float(r[0]) for r in rows]

    def last_capture_time(self, profile: str, system_title: bytes) -> float | None:
        """The latest capture time stored for a meter's profile (None: none stored)."""
        with self._lock:
            row = self._db.execute(
                "SELECT max(capture_time) FROM profile_rows WHERE profile = ? AND system_title = ?",
                (profile, bytes(system_title)),
            ).fetchone()
        return None if row is None or row[0] is None else float(row[0])

    def delete_profile_rows(self, profile: str, system_title: bytes, first: float, last: float) -> int:
        """Forget the rows of ``first``..``last`` (operators, tests: they are read again as a gap)."""
        return self._write(
            "DELETE FROM profile_rows WHERE profile = ? AND system_title = ?"
            " AND capture_time BETWEEN ? AND ?",
            [(profile, bytes(system_title), first, last)],
        )

    def save_gaps(self, rows: Iterable[GapRow]) -> None:
        """Store (replace) gap records."""
        out = [(r.system_title, r.profile, r.first, r.last, r.status, r.attempts, r.updated) for r in rows]
        self._write("INSERT OR REPLACE INTO profile_gaps VALUES (?,?,?,?,?,?,?)", out)

    def gaps(
        self, profile: str, system_title: bytes | None = None, *, status: str | None = None
    ) -> list[GapRow]:
        """The gaps found in ``profile`` (optionally one meter's, or those with ``status``)."""
        sql = "SELECT * FROM profile_gaps WHERE profile = ?"
        params: list[object] = [profile]
        if system_title is not None:
            sql += " AND system_title = ?"
            params.append(bytes(system_title))
        if status is not None:
            sql += " AND status = ?"
            params.append(status)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY system_title, gap_first", params).fetchall()
        return [GapRow(bytes(r[0]), *r[1:]) for r in rows]

    def compact_run_values(self, run_id: int, text: str) -> None:
        """Replace the values of ``run_id``'s readings by ``text`` (a profile buffer, whose rows are in
        ``profile_rows``: not kept twice); errors stay."""
        with self._lock:
            self._db.execute(
                "UPDATE readings SET value = NULL, value_text = ? WHERE run_id = ? AND error IS NULL",
                (text, run_id),
            )

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
