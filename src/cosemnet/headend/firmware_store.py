"""Firmware campaigns in the head-end's database (issue 12 item 2, docs/decisions/0116).

Two tables next to ``runs`` and ``readings`` in the same SQLite file, on their own connection (as
:class:`~cosemnet.headend.store.HeadEndStore` beside the address book; WAL lets them write in turn):

* ``firmware_campaigns``: one row per campaign: the image identifier, size and SHA-256 digest (the
  image itself is not stored: ``--resume`` takes the file again and checks its digest), the
  activation time (NULL: as soon as every meter is verified), whether to activate at all, when it
  finished and why it stopped early;
* ``firmware_meters``: one row per (campaign, meter): status (``pending``, ``transferring``,
  ``verified``, ``activated``, ``failed``), blocks confirmed so far, blocks of the image, block
  requests sent (retries included), the reason of a failure, the time of the last change.

Both are created with ``CREATE TABLE IF NOT EXISTS`` like the head-end's other tables: a database
written before this module simply gains them.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

__all__ = ["CampaignRow", "FirmwareStore", "MeterRow"]

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS firmware_campaigns (
    campaign_id   INTEGER PRIMARY KEY AUTOINCREMENT,
    identifier    BLOB NOT NULL,
    image_size    INTEGER NOT NULL,
    image_digest  BLOB NOT NULL,
    created       REAL NOT NULL,
    activate      INTEGER NOT NULL DEFAULT 1,
    activate_at   REAL,
    finished      REAL,
    stopped       TEXT,
    group_id      INTEGER
);
CREATE TABLE IF NOT EXISTS firmware_meters (
    campaign_id   INTEGER NOT NULL,
    system_title  BLOB NOT NULL,
    status        TEXT NOT NULL,
    blocks_done   INTEGER NOT NULL DEFAULT 0,
    block_count   INTEGER NOT NULL DEFAULT 0,
    blocks_sent   INTEGER NOT NULL DEFAULT 0,
    reason        TEXT,
    updated       REAL NOT NULL,
    PRIMARY KEY (campaign_id, system_title)
) WITHOUT ROWID;
"""


@dataclass(frozen=True, slots=True)
class CampaignRow:
    campaign_id: int
    identifier: bytes
    image_size: int
    image_digest: bytes
    created: float
    activate: bool
    activate_at: float | None
    finished: float | None
    stopped: str | None
    group_id: int | None = None
    """Blocks go first as unconfirmed group requests to this group (decision 0117); None: unicast."""


@dataclass(frozen=True, slots=True)
class MeterRow:
    campaign_id: int
    system_title: bytes
    status: str
    blocks_done: int
    block_count: int
    blocks_sent: int
    reason: str | None
    updated: float


class FirmwareStore:
    """The campaign tables of the head-end database ``path`` (see the module docstring)."""

    def __init__(self, path: str | os.PathLike[str] = ":memory:", *, timeout: float = 5.0) -> None:
        self.path = os.fspath(path)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.path, timeout=timeout, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript("BEGIN IMMEDIATE;" + _SCHEMA + "COMMIT;")

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._db.close()

    def create_campaign(
        self,
        identifier: bytes,
        image_size: int,
        image_digest: bytes,
        titles: Iterable[bytes],
        *,
        activate: bool,
        activate_at: float | None,
        group_id: int | None = None,
        now: float | None = None,
    ) -> int:
        """A new campaign with every meter ``pending``; returns its id."""
        at = time.time() if now is None else now
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                cur = self._db.execute(
                    "INSERT INTO firmware_campaigns (identifier, image_size, image_digest, created, activate,"
                    " activate_at, group_id) VALUES (?,?,?,?,?,?,?)",
                    (identifier, image_size, image_digest, at, int(activate), activate_at, group_id),
                )
                campaign_id = int(cur.lastrowid or 0)
                self._db.executemany(
                    "INSERT OR IGNORE INTO firmware_meters (campaign_id, system_title, status, updated)"
                    " VALUES (?,?,'pending',?)",
                    [(campaign_id, bytes(t), at) for t in titles],
                )
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        return campaign_id

    def campaign(self, campaign_id: int) -> CampaignRow | None:
        """The stored campaign ``campaign_id``, or None."""
        with self._lock:
            row = self._db.execute(
                "SELECT campaign_id, identifier, image_size, image_digest, created, activate, activate_at,"
                " finished, stopped, group_id FROM firmware_campaigns WHERE campaign_id = ?",
                (campaign_id,),
            ).fetchone()
        if row is None:
            return None
        return CampaignRow(
            int(row[0]), bytes(row[1]), int(row[2]), bytes(row[3]), row[4], bool(row[5]), *row[6:]
        )

    def meters(self, campaign_id: int) -> list[MeterRow]:
        """The stored progress of every meter of ``campaign_id``."""
        with self._lock:
            rows = self._db.execute(
                "SELECT campaign_id, system_title, status, blocks_done, block_count, blocks_sent, reason,"
                " updated FROM firmware_meters WHERE campaign_id = ? ORDER BY system_title",
                (campaign_id,),
            ).fetchall()
        return [MeterRow(r[0], bytes(r[1]), *r[2:]) for r in rows]

    def update_meters(self, rows: Iterable[MeterRow]) -> None:
        """Write the given meters' progress (one transaction)."""
        items = [
            (
                r.status,
                r.blocks_done,
                r.block_count,
                r.blocks_sent,
                r.reason,
                r.updated,
                r.campaign_id,
                r.system_title,
            )
            for r in rows
        ]
        if not items:
            return
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(
                    "UPDATE firmware_meters SET status = ?, blocks_done = ?, block_count = ?,"
                    " blocks_sent = ?, reason = ?, updated = ? WHERE campaign_id = ? AND system_title = ?",
                    items,
                )
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def finish_campaign(self, campaign_id: int, now: float | None = None, stopped: str | None = None) -> None:
        """When the campaign ended (``stopped``: why it ended early; a resume clears it)."""
        with self._lock:
            self._db.execute(
                "UPDATE firmware_campaigns SET finished = ?, stopped = ? WHERE campaign_id = ?",
                (time.time() if now is None else now, stopped, campaign_id),
            )

    def reopen_campaign(self, campaign_id: int) -> None:
        """Mark ``campaign_id`` unfinished again (to resume it)."""
        with self._lock:
            self._db.execute(
                "UPDATE firmware_campaigns SET finished = NULL, stopped = NULL WHERE campaign_id = ?",
                (campaign_id,),
            )
