"""Broadcast key distribution and rotation without losing a meter (issue 12 item 6, decision 0125).

The broadcast key (GBEK) protects group requests; every meter holds one in the management Security
setup (class 64), and the head-end one context for the group requests it sends. Rotating it:

1. **Distribute** the new key to every meter with ACTION ``key_transfer`` (Security setup method 2,
   ``key_id`` 1 = global broadcast encryption key), the key wrapped (RFC 3394) with the meter's KEK,
   unicast inside its ciphered association, through the head-end's throttle (timeouts, retries).
2. **Track** each meter's state in the store (table ``broadcast_key_rotation``): ``old`` until its
   key_transfer succeeded, then ``new``; ``failed`` when it still has not confirmed after
   ``max_rounds`` rounds (each round = one throttled run with its own retries).
3. **Transition** [design]: a meter accepts one broadcast key at a time (the Security setup has one),
   so while some meters are ``old`` and others ``new``, :meth:`BroadcastKeyRotation.group_request`
   sends the group request **twice**: once under the old key (expecting the ``old`` meters), once under
   the new key (expecting the ``new`` ones). A meter silently drops the one it cannot authenticate.
   The head-end deciphers each meter's answers with the key that meter holds (:class:`RotationKeyStore`).
4. **Retry** the meters that did not confirm in the next round (a repeated key_transfer of the same
   wrapped key is harmless: the key is the same).
5. **Retire** the old key only when every meter is ``new`` or ``failed``: group requests then use
   the new key only; the failed ones are reported (they keep the old key until a later rotation
   reaches them: ``resume``).

Sans-IO: the rotation runs on the :class:`~cosemnet.headend.headend.HeadEnd` it is given; the caller
drives the head-end (or its service) and hands each finished run to :meth:`BroadcastKeyRotation.record`.
Keys never appear in reprs, logs or the store (only a fingerprint).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Final

from cosemnet.codec.obis import Obis
from cosemnet.cosem.security_setup import SECURITY_SETUP_LN
from cosemnet.headend.keys import KeyStore, MeterKeys
from cosemnet.headend.operations import Operation
from cosemnet.headend.runs import AttributeRef, BroadcastRun, CollectRun
from cosemnet.profiles.mesh.response_window import ResponseWindow
from cosemnet.security.counters import key_fingerprint
from cosemnet.security.keys import GlobalKeyType, KeySet
from cosemnet.security.keywrap import key_transfer_data

if TYPE_CHECKING:
    from cosemnet.headend.headend import HeadEnd

__all__ = [
    "BroadcastKeyRotation",
    "MeterKeyState",
    "RotationKeyStore",
    "RotationStore",
    "key_transfer_attribute",
    "key_transfer_operation",
]

_log = logging.getLogger(__name__)

KEY_TRANSFER: Final = 2
"""Security setup method 2, key_transfer."""


class MeterKeyState(Enum):
    OLD = "old"
    NEW = "new"
    FAILED = "failed"


def key_transfer_operation(kek: bytes, new_key: bytes, security_setup: Obis = SECURITY_SETUP_LN) -> Operation:
    """ACTION key_transfer of ``new_key`` as the broadcast key, wrapped under ``kek``."""
    value = key_transfer_data(kek, {GlobalKeyType.BROADCAST_ENCRYPTION: new_key})
    return Operation("action", 64, security_setup, KEY_TRANSFER, value)


def key_transfer_attribute(operation: Operation) -> AttributeRef:
    """The reference a collect run of ``operation`` is labelled with (the method, as an attribute)."""
    return AttributeRef(operation.class_id, operation.logical_name, operation.index)


class RotationKeyStore:
    """A key store during a rotation: ``base``'s keys, with the new broadcast key for the meters that
    confirmed it (their answers to group requests are ciphered with it) and ``group_key`` for the group
    requests the head-end sends now."""

    __slots__ = ("_group_key", "_moved", "_new_key", "_old_key", "base")

    def __init__(self, base: KeyStore, new_key: bytes) -> None:
        if len(new_key) != 16:
            raise ValueError("the broadcast key must be 16 bytes (security suite 0/1)")
        self.base = base
        self._new_key = bytes(new_key)
        old = base.broadcast_keys().broadcast_key
        self._old_key = old
        self._group_key = old
        self._moved: set[bytes] = set()

    def __repr__(self) -> str:
        return f"RotationKeyStore({len(self._moved)} meters on the new key)"

    def move(self, system_title: bytes) -> None:
        """``system_title`` holds the new key from now on."""
        self._moved.add(bytes(system_title))

    def use_new_key(self, new: bool) -> None:
        """Group requests are protected with the new key (True) or the old one."""
        self._group_key = self._new_key if new else self._old_key

    def keys_for(self, system_title: bytes) -> MeterKeys:
        found = self.base.keys_for(system_title)
        if bytes(system_title) not in self._moved:
            return found
        k = found.keys
        return MeterKeys(KeySet(k.ek, k.ak, self._new_key, k.dedicated_key, k.kek), found.counter_owner)

    def broadcast_keys(self) -> KeySet:
        return KeySet(ak=self.base.broadcast_keys().ak, broadcast_key=self._group_key)


_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS broadcast_key_rotations (
    rotation_id  INTEGER PRIMARY KEY AUTOINCREMENT,
    key_id       TEXT NOT NULL,
    group_id     INTEGER NOT NULL,
    started      REAL NOT NULL,
    finished     REAL
);
CREATE TABLE IF NOT EXISTS broadcast_key_rotation (
    rotation_id  INTEGER NOT NULL,
    system_title BLOB NOT NULL,
    state        TEXT NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    updated      REAL NOT NULL,
    detail       TEXT,
    PRIMARY KEY (rotation_id, system_title)
);
"""


_UPSERT: Final = """
INSERT INTO broadcast_key_rotation (rotation_id, system_title, state, attempts, updated, detail)
VALUES (?,?,?,0,?,?) ON CONFLICT (rotation_id, system_title) DO UPDATE SET state = excluded.state,
attempts = attempts + 1, updated = excluded.updated, detail = excluded.detail
"""


class RotationStore:
    """Per-meter rotation state in the head-end's database (its own connection, like the store's).
    ``key_id`` is a fingerprint of the new key, never the key: a rotation to the same key resumes."""

    def __init__(self, path: str = ":memory:") -> None:
        self._lock = threading.RLock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=5.0)
        self._db.executescript("BEGIN IMMEDIATE;" + _SCHEMA + "COMMIT;")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def open_rotation(self, key_id: str, group_id: int, now: float) -> int:
        """The unfinished rotation to ``key_id`` (resumed), else a new one."""
        with self._lock:
            row = self._db.execute(
                "SELECT rotation_id FROM broadcast_key_rotations WHERE key_id = ? AND finished IS NULL "
                "ORDER BY rotation_id DESC LIMIT 1",
                (key_id,),
            ).fetchone()
            if row is not None:
                return int(row[0])
            cur = self._db.execute(
                "INSERT INTO broadcast_key_rotations (key_id, group_id, started) VALUES (?,?,?)",
                (key_id, group_id, now),
            )
            return int(cur.lastrowid or 0)

    def finish(self, rotation_id: int, now: float) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE broadcast_key_rotations SET finished = ? WHERE rotation_id = ?", (now, rotation_id)
            )

    def states(self, rotation_id: int) -> dict[bytes, MeterKeyState]:
        with self._lock:
            rows = self._db.execute(
                "SELECT system_title, state FROM broadcast_key_rotation WHERE rotation_id = ?", (rotation_id,)
            ).fetchall()
        return {bytes(t): MeterKeyState(s) for t, s in rows}

    def set_states(
        self, rotation_id: int, items: Iterable[tuple[bytes, MeterKeyState, str | None]], now: float
    ) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(
                    _UPSERT,
                    [(rotation_id, bytes(t), s.value, now, d) for t, s, d in items],
                )
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")


@dataclass(slots=True)
class RotationReport:
    rotation_id: int
    new: list[bytes]
    failed: dict[bytes, str]
    finished: bool


class BroadcastKeyRotation:
    """One rotation of the broadcast key over ``system_titles`` (see the module docstring).

    ``kek_for(system_title)`` gives the meter's key encrypting key (KeyError: none; the meter is
    reported failed). The head-end's key store is wrapped in a :class:`RotationKeyStore` on
    :meth:`start`; after :meth:`finished` the head-end uses the new key for group requests."""

    def __init__(
        self,
        head_end: HeadEnd,
        new_key: bytes,
        system_titles: Iterable[bytes],
        *,
        kek_for: Callable[[bytes], bytes],
        group_id: int = 0,
        max_rounds: int = 3,
        store: RotationStore | None = None,
        security_setup: Obis = SECURITY_SETUP_LN,
    ) -> None:
        if max_rounds < 1:
            raise ValueError("max_rounds must be at least 1")
        self.head_end = head_end
        self.keys = RotationKeyStore(head_end.keys, new_key)
        self._new_key = bytes(new_key)
        self.titles = [bytes(t) for t in system_titles]
        self.kek_for = kek_for
        self.group_id = group_id
        self.max_rounds = max_rounds
        self.store = store if store is not None else RotationStore(head_end.store.path)
        self.security_setup = security_setup
        self.state: dict[bytes, MeterKeyState] = {}
        self.reasons: dict[bytes, str] = {}
        self.rounds = 0
        self.rotation_id = 0
        self.finished_at: float | None = None

    def __repr__(self) -> str:
        return f"BroadcastKeyRotation({len(self.titles)} meters, round {self.rounds})"

    # -- progress --------------------------------------------------------------------------------

    def start(self, now: float) -> None:
        """Open (or resume) the rotation in the store; every meter not recorded yet is ``old``."""
        self.rotation_id = self.store.open_rotation(key_fingerprint(self._new_key), self.group_id, now)
        stored = self.store.states(self.rotation_id)
        self.state = {t: stored.get(t, MeterKeyState.OLD) for t in self.titles}
        for title in stored:
            if stored[title] is MeterKeyState.FAILED and title in self.state:
                self.state[title] = MeterKeyState.OLD  # a resumed rotation tries them again
        self.store.set_states(
            self.rotation_id, [(t, MeterKeyState.OLD, None) for t in self.titles if t not in stored], now
        )
        self.head_end.keys = self.keys
        for title, state in self.state.items():
            if state is MeterKeyState.NEW:
                self.keys.move(title)
        self.head_end.refresh_keys(self.moved)
        _log.info("broadcast key rotation %d: %d meters", self.rotation_id, len(self.titles))

    @property
    def moved(self) -> list[bytes]:
        return [t for t, s in self.state.items() if s is MeterKeyState.NEW]

    @property
    def waiting(self) -> list[bytes]:
        return [t for t, s in self.state.items() if s is MeterKeyState.OLD]

    @property
    def finished(self) -> bool:
        return self.finished_at is not None

    def next_round(self, now: float) -> list[tuple[Operation, list[bytes]]]:
        """The key transfers of the next round: one operation per distinct wrapped key (one per KEK),
        with its meters; empty when the rotation is over (then the old key is retired)."""
        waiting = self.waiting
        if not waiting or self.rounds >= self.max_rounds:
            self._finish(now)
            return []
        self.rounds += 1
        batches: dict[bytes, tuple[Operation, list[bytes]]] = {}
        no_kek: list[tuple[bytes, MeterKeyState, str | None]] = []
        for title in waiting:
            try:
                kek = self.kek_for(title)
            except KeyError:
                self.state[title] = MeterKeyState.FAILED
                self.reasons[title] = "no key encrypting key for this meter"
                no_kek.append((title, MeterKeyState.FAILED, self.reasons[title]))
                continue
            operation = key_transfer_operation(kek, self._new_key, self.security_setup)
            wrapped = repr(operation.value).encode()
            batches.setdefault(wrapped, (operation, []))[1].append(title)
        if no_kek:
            self.store.set_states(self.rotation_id, no_kek, now)
        if not batches:
            return self.next_round(now)
        return list(batches.values())

    def record(self, run: CollectRun, now: float) -> None:
        """The outcome of one key-transfer run: ``success`` -> ``new``; otherwise the meter waits for
        the next round (``failed`` after the last one)."""
        updates: list[tuple[bytes, MeterKeyState, str | None]] = []
        last_round = self.rounds >= self.max_rounds
        for title, result in run.results.items():
            if title not in self.state:
                continue
            error = result.errors[0] if result.errors else None
            if error is None:
                self.state[title] = MeterKeyState.NEW
                self.keys.move(title)
                updates.append((title, MeterKeyState.NEW, None))
            else:
                self._not_confirmed(title, error, last_round, updates)
        for title, reason in run.failed.items():
            if title in self.state:
                self._not_confirmed(title, reason, last_round, updates)
        self.store.set_states(self.rotation_id, updates, now)
        self.head_end.refresh_keys([t for t, s, _ in updates if s is MeterKeyState.NEW])

    def _not_confirmed(
        self,
        title: bytes,
        reason: str,
        last_round: bool,
        updates: list[tuple[bytes, MeterKeyState, str | None]],
    ) -> None:
        self.reasons[title] = reason
        state = MeterKeyState.FAILED if last_round else MeterKeyState.OLD
        self.state[title] = state
        updates.append((title, state, reason))

    def _finish(self, now: float) -> None:
        if self.finished_at is not None:
            return
        for title in self.waiting:  # out of rounds
            self.state[title] = MeterKeyState.FAILED
            self.reasons.setdefault(title, "no confirmation")
        self.store.set_states(
            self.rotation_id,
            [
                (t, MeterKeyState.FAILED, self.reasons.get(t))
                for t, s in self.state.items()
                if s is MeterKeyState.FAILED
            ],
            now,
        )
        self.keys.use_new_key(True)  # the old key is retired
        self.head_end.refresh_keys(())
        self.store.finish(self.rotation_id, now)
        self.finished_at = now
        _log.info(
            "broadcast key rotation %d: %d meters on the new key, %d failed",
            self.rotation_id,
            len(self.moved),
            len(self.state) - len(self.moved),
        )

    def report(self) -> RotationReport:
        failed = {t: self.reasons.get(t, "") for t, s in self.state.items() if s is MeterKeyState.FAILED}
        return RotationReport(self.rotation_id, self.moved, failed, self.finished)

    # -- group requests during the transition --------------------------------------------------

    def group_request(
        self,
        attribute: AttributeRef,
        now: float,
        *,
        window: ResponseWindow,
        operation: Operation | None = None,
        expected: Iterable[bytes] | None = None,
    ) -> list[BroadcastRun]:
        """Send a group request that reaches old-key and new-key meters alike: under the old key to
        the meters still on it and under the new key to the others (one request when all are on one
        key; only the new key once the rotation finished). ``expected``: the meters to expect
        answers from (default: every meter of the rotation), split by key."""
        wanted = [bytes(t) for t in expected] if expected is not None else list(self.state)
        new = [t for t in wanted if self.state.get(t) is MeterKeyState.NEW]
        old = [t for t in wanted if self.state.get(t) is not MeterKeyState.NEW]
        runs: list[BroadcastRun] = []
        for use_new, titles in ((False, old), (True, new)):
            if not titles or (self.finished and not use_new):
                continue
            self.keys.use_new_key(use_new)
            self.head_end.refresh_keys(())
            runs.append(
                self.head_end.broadcast(
                    self.group_id, attribute, now, window=window, expected=titles, operation=operation
                )
            )
        self.keys.use_new_key(self.finished)
        self.head_end.refresh_keys(())
        return runs
