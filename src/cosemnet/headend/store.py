"""The head-end's own tables: collected readings and established associations (decision 0027).

They live in the address book's SQLite file (a second connection; WAL lets both write in turn), in
tables the address book does not know: ``readings`` and ``headend_associations``. An in-memory book
(``":memory:"``) gets an in-memory store.

* ``readings``: one row per (run, meter, attribute): the value as A-XDR bytes and as text, or the
  error; ``runs`` names each collect (started, attributes, counts).
* ``headend_associations``: what each meter agreed to in its AARE (negotiated conformance, max PDU
  size, server system title). [design] After a head-end restart the association is *resumed* from
  this row without a new AARQ: the meter kept it (UDP associations are long-lived, TS clause 6),
  and the persisted invocation counters continue above every value used before the restart.
"""

from __future__ import annotations

import csv
import datetime as _dt
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

__all__ = ["HeadEndStore", "ReadingRow", "StoredAssociation"]

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
"""


@dataclass(frozen=True, slots=True)
class ReadingRow:
    run_id: int
    system_title: bytes
    class_id: int
    logical_name: str
    attribute_id: int
    at: float
    value: bytes | None
    value_text: str | None
    error: str | None


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

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- runs and readings -----------------------------------------------------------------------

    def start_run(self, attributes: str, meters: int, now: float | None = None) -> int:
        with self._lock:
            cur = self._db.execute(
                "INSERT INTO runs (started, attributes, meters) VALUES (?,?,?)",
                (time.time() if now is None else now, attributes, meters),
            )
            return int(cur.lastrowid or 0)

    def finish_run(self, run_id: int, answered: int, failed: int, now: float | None = None) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE runs SET answered = ?, failed = ?, finished = ? WHERE run_id = ?",
                (answered, failed, time.time() if now is None else now, run_id),
            )

    def add_readings(
        self,
        rows: Iterable[tuple[int, bytes, int, str, int, float, DataValue | None, str | None]],
    ) -> int:
        """Store ``(run_id, system_title, class_id, logical_name, attribute_id, at, value, error)``
        rows in one transaction; returns how many."""
        out = []
        for run_id, title, class_id, name, attribute_id, at, value, error in rows:
            raw: bytes | None = None
            text: str | None = None
            if error is None:
                try:
                    raw = encode_data(value)
                except EncodeError:
                    raw = None
                text = value_text(value)
            out.append((run_id, title, class_id, name, attribute_id, at, raw, text, error))
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._db.executemany("INSERT INTO readings VALUES (?,?,?,?,?,?,?,?,?)", out)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        return len(out)

    def readings(self, run_id: int | None = None) -> list[ReadingRow]:
        sql = "SELECT * FROM readings"
        params: tuple[object, ...] = ()
        if run_id is not None:
            sql += " WHERE run_id = ?"
            params = (run_id,)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY system_title, class_id, logical_name", params).fetchall()
        return [ReadingRow(*r) for r in rows]

    def iter_csv_rows(self, run_id: int) -> Iterator[list[str]]:
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
        writer = csv.writer(out)
        count = -1
        for row in self.iter_csv_rows(run_id):
            writer.writerow(row)
            count += 1
        return count

    # -- associations ----------------------------------------------------------------------------

    def save_association(self, a: StoredAssociation) -> None:
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
        with self._lock:
            self._db.execute(
                "DELETE FROM headend_associations WHERE system_title = ?", (bytes(system_title),)
            )

    def associations(self) -> dict[bytes, StoredAssociation]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM headend_associations").fetchall()
        return {r[0]: StoredAssociation(r[0], Conformance(r[1]), r[2], r[3], r[4], r[5]) for r in rows}
