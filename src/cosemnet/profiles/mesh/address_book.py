"""The head-end's address book: system title -> current IPv6 address(es), wPort, UDP port.

IEC TS 62056-8-20 identifies clients and servers by system title (clause 6) and has the server
publish its current address(es) (5.5.3, Annex A.2 "IP address publication", A.2.2 "address lookup").
How the client stores them is up to the implementation. **Our design** (decision record
``docs/decisions/0024-headend-address-book.md``):

* SQLite (standard library), one file (path configurable, ``":memory:"`` for tests), WAL journal,
  ``synchronous=FULL`` by default (invocation-counter reservations must survive power loss;
  ``"NORMAL"`` is selectable when only crash safety matters), schema version in ``user_version``.
* Tables: ``devices`` (one row per system title: binding, first/last seen, last sequence number,
  message count), ``addresses`` (reverse index: address -> system title, /64 prefix), ``history``
  (every change of binding, with the old and new binding in a compact binary form), ``invocation_counters``
  and ``received_counters`` (the security context's counters per system title, stored apart from the
  binding so that a re-registration never touches them).
* Sequence numbers: a message is applied when its sequence number is greater than the stored one in
  serial-number arithmetic (RFC 1982, 32 bits: :func:`serial_greater`), so a counter that wraps
  stays ordered and no value freezes a meter out; an equal number with the same binding is a
  duplicate (a retry whose confirmation was lost); anything else is stale and ignored (the
  confirmation then tells the meter ``last_sequence`` so it can continue above it). ``force=True``
  overrides (operator action).
* Authenticated bindings (issue 9, decision 0036): each row records whether its binding was set by
  an authenticated message (general-glo with the meter's keys). A plain message never moves such a
  binding (``REFUSED``); an authenticated message replaces a binding set by a plain one whatever its
  sequence number (resynchronisation happens only through an authenticated exchange).
* Time: callers pass ``now`` (seconds since the epoch, float); the book never reads the clock itself
  unless ``now`` is omitted.

Invocation counters: the first reservation (or :meth:`AddressBook.counter_store`) takes an exclusive
``flock`` on ``<path>.counters.lock``, held until :meth:`AddressBook.close`, so two processes cannot
hand out counters from the same book (nonce reuse); the binding tables stay shared.

Thread safety: one :class:`AddressBook` may be shared by the threads of one process; every public
method holds an internal lock around its statements (the connection is opened with
``check_same_thread=False``). Several processes may open the same file: WAL lets readers proceed
while one writer commits; writers wait up to ``timeout`` seconds for the lock.
"""

from __future__ import annotations

import ipaddress
import json
import os
import sqlite3
import struct
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Final

from cosemnet.codec.datetime import CosemDateTime
from cosemnet.codec.xdlms.notification import DataNotification
from cosemnet.profiles.mesh.registration import (
    DEFAULT_OBJECTS,
    AddressConfirmation,
    AddressEntry,
    AddressRegistrationData,
    AddressScope,
    AddressUpdateData,
    ConfirmationStatus,
    RegistrationMessage,
    RegistrationObjects,
    RegistrationReason,
    serial_greater,
)
from cosemnet.security.errors import CounterStoreError
from cosemnet.security.keys import KeyRole

__all__ = [
    "SCHEMA_VERSION",
    "AddressBook",
    "AddressBookCounterStore",
    "AddressBookEntry",
    "AddressBookError",
    "Binding",
    "HistoryEntry",
    "UpsertResult",
    "serial_greater",
]

SCHEMA_VERSION: Final = 2
"""2 added ``devices.authenticated`` (version 1 files are upgraded in place)."""
_CHUNK: Final = 500

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS devices (
    system_title   BLOB PRIMARY KEY,
    addresses      BLOB NOT NULL,
    wport          INTEGER NOT NULL,
    udp_port       INTEGER NOT NULL,
    border_router  BLOB,
    first_seen     REAL NOT NULL,
    last_seen      REAL NOT NULL,
    last_sequence  INTEGER NOT NULL,
    messages       INTEGER NOT NULL,
    authenticated  INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS addresses (
    address        BLOB NOT NULL,
    system_title   BLOB NOT NULL,
    prefix64       BLOB NOT NULL,
    PRIMARY KEY (address, system_title)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS addresses_by_title ON addresses (system_title);
CREATE INDEX IF NOT EXISTS addresses_by_prefix ON addresses (prefix64);
CREATE TABLE IF NOT EXISTS history (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    system_title     BLOB NOT NULL,
    at               REAL NOT NULL,
    reason           INTEGER NOT NULL,
    sequence_number  INTEGER NOT NULL,
    old_binding      BLOB,
    new_binding      BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS history_by_title ON history (system_title, id);
CREATE TABLE IF NOT EXISTS invocation_counters (
    system_title   BLOB NOT NULL,
    key_label      TEXT NOT NULL,
    ceiling        INTEGER NOT NULL,
    PRIMARY KEY (system_title, key_label)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS received_counters (
    system_title   BLOB NOT NULL,
    key_role       INTEGER NOT NULL,
    last_received  INTEGER NOT NULL,
    PRIMARY KEY (system_title, key_role)
) WITHOUT ROWID;
"""


class AddressBookError(Exception):
    """The database file is not an address book of a version we understand."""


@dataclass(frozen=True, slots=True)
class Binding:
    """Where a system title can be reached."""

    addresses: tuple[AddressEntry, ...]
    wport: int
    udp_port: int
    border_router: ipaddress.IPv6Address | None = None

    @classmethod
    def of(cls, message: RegistrationMessage) -> Binding:
        return cls(message.addresses, message.wport, message.udp_port, message.border_router)

    def packed_addresses(self) -> bytes:
        return _packed_addresses(self.addresses)

    @staticmethod
    def unpack_addresses(raw: bytes) -> tuple[AddressEntry, ...]:
        return tuple(
            AddressEntry(ipaddress.IPv6Address(raw[i : i + 16]), raw[i + 16], AddressScope(raw[i + 17]))
            for i in range(0, len(raw), 18)
        )

    def to_bytes(self) -> bytes:
        """Compact form stored in ``history``: wport (2), udp_port (2), border router length (1) and
        bytes (0 or 16), then 18 bytes per address (address, prefix length, scope)."""
        router = b"" if self.border_router is None else self.border_router.packed
        return _pack_binding(self.wport, self.udp_port, router, self.packed_addresses())

    @classmethod
    def from_bytes(cls, raw: bytes) -> Binding:
        wport, port, n = _BINDING_HEAD.unpack_from(raw)
        router = raw[5 : 5 + n]
        return cls(
            cls.unpack_addresses(raw[5 + n :]), wport, port, ipaddress.IPv6Address(router) if router else None
        )

    def to_json(self) -> str:
        """JSON text (for tools and the CLI)."""
        return json.dumps(
            {
                "addresses": [f"{e.address.compressed}/{e.prefix_length}" for e in self.addresses],
                "scopes": [e.scope.name.lower() for e in self.addresses],
                "wport": self.wport,
                "udp_port": self.udp_port,
                "border_router": None if self.border_router is None else self.border_router.compressed,
            },
            separators=(",", ":"),
        )


_BINDING_HEAD: Final = struct.Struct(">HHB")


def _pack_binding(wport: int, udp_port: int, router: bytes, packed_addresses: bytes) -> bytes:
    return _BINDING_HEAD.pack(wport, udp_port, len(router)) + router + packed_addresses


def _packed_addresses(entries: tuple[AddressEntry, ...]) -> bytes:
    return b"".join(e.address.packed + bytes((e.prefix_length, e.scope)) for e in entries)


@dataclass(frozen=True, slots=True)
class AddressBookEntry:
    system_title: bytes
    binding: Binding
    first_seen: float
    last_seen: float
    last_sequence: int
    messages: int
    authenticated: bool = False
    """The binding was set by an authenticated message (decision 0036)."""

    @property
    def addresses(self) -> tuple[AddressEntry, ...]:
        return self.binding.addresses

    @property
    def primary_address(self) -> ipaddress.IPv6Address:
        """The address to send to: the first global one, else the first one."""
        for e in self.binding.addresses:
            if e.scope is AddressScope.GLOBAL:
                return e.address
        return self.binding.addresses[0].address

    def describe(self) -> str:
        """Human-readable lines (for ``cosemnet hes lookup``)."""
        b = self.binding
        lines = [f"system title   {self.system_title.hex().upper()}"]
        for e in b.addresses:
            lines.append(f"address        {e.address.compressed}/{e.prefix_length} ({e.scope.name.lower()})")
        lines += [
            f"wPort          {b.wport}",
            f"UDP port       {b.udp_port}",
            f"border router  {b.border_router.compressed if b.border_router else '-'}",
            f"first seen     {_iso(self.first_seen)}",
            f"last seen      {_iso(self.last_seen)}",
            f"last sequence  {self.last_sequence}",
            f"messages       {self.messages}",
            f"authenticated  {'yes' if self.authenticated else 'no'}",
        ]
        return "\n".join(lines)


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    system_title: bytes
    at: float
    reason: RegistrationReason
    sequence_number: int
    old: Binding | None
    """None for the first registration."""
    new: Binding


class UpsertResult(Enum):
    CREATED = "created"
    CHANGED = "changed"
    REFRESHED = "refreshed"
    """Newer sequence number, same binding: last seen and sequence updated."""
    DUPLICATE = "duplicate"
    """Same sequence number and binding as stored (a retry): last seen updated."""
    STALE = "stale"
    """Older sequence number (or same number, different binding): ignored."""
    REFUSED = "refused"
    """A plain message about a meter whose binding was set by an authenticated one: ignored."""

    @property
    def confirmation_status(self) -> ConfirmationStatus:
        if self in (UpsertResult.CREATED, UpsertResult.CHANGED):
            return ConfirmationStatus.ACCEPTED
        if self is UpsertResult.STALE:
            return ConfirmationStatus.STALE
        if self is UpsertResult.REFUSED:
            return ConfirmationStatus.REJECTED
        return ConfirmationStatus.UNCHANGED


@dataclass(slots=True)
class _State:
    """Row of ``devices`` in its stored (packed) form: no IPv6Address objects in the bulk path."""

    wport: int
    udp_port: int
    router: bytes
    packed: bytes
    first_seen: float
    last_seen: float
    last_sequence: int
    messages: int
    exists: bool
    changed: bool = False
    touched: bool = False
    authenticated: bool = False


_TITLE_TYPES: Final = (bytes, bytearray)


class AddressBook:
    """SQLite-backed address book (see the module docstring)."""

    def __init__(
        self,
        path: str | os.PathLike[str] = ":memory:",
        *,
        synchronous: str = "FULL",
        timeout: float = 5.0,
    ) -> None:
        if synchronous.upper() not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ValueError("synchronous must be OFF, NORMAL, FULL or EXTRA")
        self.path = os.fspath(path)
        self._lock = threading.RLock()
        self._counter_lock_fd: int | None = None
        self._binding_writes = 0
        """Transactions through this object that may have changed devices or addresses (upsert,
        forget): not counter, last-seen or history writes (see :meth:`binding_stamp`)."""
        self._db = sqlite3.connect(self.path, timeout=timeout, check_same_thread=False, isolation_level=None)
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={synchronous.upper()}")
            self._db.execute("PRAGMA foreign_keys=ON")
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, 1, SCHEMA_VERSION):
                raise AddressBookError(
                    f"{self.path}: address book schema {version}, expected {SCHEMA_VERSION}"
                )
            # idempotent (CREATE ... IF NOT EXISTS); executescript commits on its own
            upgrade = ""
            if version == 1:
                upgrade = "ALTER TABLE devices ADD COLUMN authenticated INTEGER NOT NULL DEFAULT 0;"
            self._db.executescript(
                "BEGIN IMMEDIATE;" + _SCHEMA + upgrade + f"PRAGMA user_version={SCHEMA_VERSION};COMMIT;"
            )
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise AddressBookError(f"{self.path}: {exc}") from None
        except AddressBookError:
            self._db.close()
            raise

    # -- plumbing --------------------------------------------------------------------------------

    class _Tx:
        def __init__(self, book: AddressBook) -> None:
            self.book = book

        def __enter__(self) -> sqlite3.Connection:
            self.book._lock.acquire()
            try:
                self.book._db.execute("BEGIN IMMEDIATE")
            except BaseException:
                self.book._lock.release()
                raise
            return self.book._db

        def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
            try:
                self.book._db.execute("COMMIT" if exc_type is None else "ROLLBACK")
            finally:
                self.book._lock.release()

    def _transaction(self) -> AddressBook._Tx:
        return AddressBook._Tx(self)

    def close(self) -> None:
        with self._lock:
            self._db.close()
            if self._counter_lock_fd is not None:
                os.close(self._counter_lock_fd)
                self._counter_lock_fd = None

    def _own_counters(self) -> None:
        """Take the exclusive counter lock ``<path>.counters.lock`` (once): two processes handing out
        invocation counters from the same book would reuse GCM nonces, so the second one fails with
        CounterStoreError (as FileCounterStore does, decision 0002). In-memory books need no lock."""
        if (
            self._counter_lock_fd is not None
            or self.path in ("", ":memory:")
            or self.path.startswith("file:")
        ):
            return
        import fcntl

        fd = os.open(self.path + ".counters.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise CounterStoreError(
                f"the invocation counters of {self.path} are in use by another process"
            ) from None
        self._counter_lock_fd = fd

    def __enter__(self) -> AddressBook:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def change_stamp(self) -> tuple[int, int]:
        """Equal stamps: the book did not change in between (rows changed through this connection,
        and SQLite's data_version for commits of other connections)."""
        with self._lock:
            return self._db.total_changes, int(self._db.execute("PRAGMA data_version").fetchone()[0])

    def binding_stamp(self) -> tuple[int, int]:
        """Like :meth:`change_stamp`, for the bindings only: equal stamps, no binding was added,
        changed or removed in between (through this object, or by another connection's commit).
        Writes of counters and "last seen" leave it as it is (a head-end's cached entries stay valid)."""
        with self._lock:
            return self._binding_writes, int(self._db.execute("PRAGMA data_version").fetchone()[0])

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM devices").fetchone()[0])

    # -- registration ----------------------------------------------------------------------------

    def upsert(
        self,
        message: RegistrationMessage,
        now: float | None = None,
        *,
        force: bool = False,
        authenticated: bool = False,
    ) -> UpsertResult:
        """Apply one registration or update message (``authenticated``: it came protected with the
        meter's keys)."""
        return self.upsert_many([message], now, force=force, authenticated=authenticated)[0]

    def upsert_many(
        self,
        messages: Sequence[RegistrationMessage],
        now: float | None = None,
        *,
        force: bool = False,
        authenticated: bool = False,
    ) -> list[UpsertResult]:
        """Apply many messages in one transaction (in order; a system title may appear twice).

        ``authenticated`` applies to every message: see the module docstring for its rules."""
        at = time.time() if now is None else now
        titles = list({m.system_title for m in messages})
        self._binding_writes += 1
        with self._transaction() as db:
            states = self._load_states(db, titles)
            results: list[UpsertResult] = []
            history: list[tuple[bytes, float, int, int, bytes | None, bytes]] = []
            for m in messages:
                results.append(self._apply(m, states, history, at, force, authenticated))
            self._store_states(db, states, history)
        return results

    @staticmethod
    def _apply(
        m: RegistrationMessage,
        states: dict[bytes, _State],
        history: list[tuple[bytes, float, int, int, bytes | None, bytes]],
        at: float,
        force: bool,
        authenticated: bool,
    ) -> UpsertResult:
        packed = _packed_addresses(m.addresses)
        router = b"" if m.border_router is None else m.border_router.packed
        state = states.get(m.system_title)
        if state is None:
            states[m.system_title] = _State(
                m.wport, m.udp_port, router, packed, at, at, m.sequence_number, 1, False, True, True,
                authenticated,
            )  # fmt: skip
            new = _pack_binding(m.wport, m.udp_port, router, packed)
            history.append((m.system_title, at, int(m.reason), m.sequence_number, None, new))
            return UpsertResult.CREATED
        if state.authenticated and not authenticated and not force:
            return UpsertResult.REFUSED  # a plain message never moves an authenticated binding (0036)
        same = (
            packed == state.packed
            and m.wport == state.wport
            and m.udp_port == state.udp_port
            and router == state.router
        )
        # an authenticated message resynchronises a binding that only plain messages set (0036)
        resync = authenticated and not state.authenticated
        if not force and not resync and not serial_greater(m.sequence_number, state.last_sequence):
            if m.sequence_number == state.last_sequence and same:
                state.last_seen, state.touched = max(state.last_seen, at), True
                state.messages += 1
                return UpsertResult.DUPLICATE
            return UpsertResult.STALE
        state.last_sequence = m.sequence_number
        state.last_seen = max(state.last_seen, at)
        state.messages += 1
        state.touched = True
        state.authenticated = state.authenticated or authenticated
        if same:
            return UpsertResult.REFRESHED
        old = _pack_binding(state.wport, state.udp_port, state.router, state.packed)
        new = _pack_binding(m.wport, m.udp_port, router, packed)
        history.append((m.system_title, at, int(m.reason), m.sequence_number, old, new))
        state.wport, state.udp_port, state.router, state.packed = m.wport, m.udp_port, router, packed
        state.changed = True
        return UpsertResult.CHANGED if state.exists else UpsertResult.CREATED

    def _load_states(self, db: sqlite3.Connection, titles: list[bytes]) -> dict[bytes, _State]:
        states: dict[bytes, _State] = {}
        for i in range(0, len(titles), _CHUNK):
            chunk = titles[i : i + _CHUNK]
            marks = ",".join("?" * len(chunk))
            for row in db.execute(
                "SELECT system_title, addresses, wport, udp_port, border_router, first_seen, last_seen, "
                f"last_sequence, messages, authenticated FROM devices WHERE system_title IN ({marks})",
                chunk,
            ):
                title, packed, wport, port, router, first, last, seq, count, auth = row
                states[title] = _State(
                    wport,
                    port,
                    router or b"",
                    packed,
                    first,
                    last,
                    seq,
                    count,
                    True,
                    authenticated=bool(auth),
                )
        return states

    @staticmethod
    def _store_states(
        db: sqlite3.Connection,
        states: Mapping[bytes, _State],
        history: list[tuple[bytes, float, int, int, bytes | None, bytes]],
    ) -> None:
        touched = [(t, s) for t, s in states.items() if s.touched]
        db.executemany(
            "INSERT INTO devices (system_title, addresses, wport, udp_port, border_router, first_seen, "
            "last_seen, last_sequence, messages, authenticated) VALUES (?,?,?,?,?,?,?,?,?,?) "
            "ON CONFLICT (system_title) DO UPDATE SET "
            "addresses=excluded.addresses, wport=excluded.wport, udp_port=excluded.udp_port, "
            "border_router=excluded.border_router, last_seen=excluded.last_seen, "
            "last_sequence=excluded.last_sequence, messages=excluded.messages, "
            "authenticated=excluded.authenticated",
            [
                (
                    t,
                    s.packed,
                    s.wport,
                    s.udp_port,
                    s.router or None,
                    s.first_seen,
                    s.last_seen,
                    s.last_sequence,
                    s.messages,
                    int(s.authenticated),
                )
                for t, s in touched
            ],
        )
        changed = [(t, s) for t, s in touched if s.changed]
        existing = [(t,) for t, s in changed if s.exists]
        if existing:
            db.executemany("DELETE FROM addresses WHERE system_title = ?", existing)
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

    def register(
        self,
        message: RegistrationMessage,
        now: float | None = None,
        *,
        head_end_time: CosemDateTime | None = None,
        periodic_interval: int = 0,
        authenticated: bool = False,
    ) -> tuple[UpsertResult, AddressConfirmation]:
        """Apply ``message`` and build the confirmation to send back."""
        result = self.upsert(message, now, authenticated=authenticated)
        entry = self.lookup(message.system_title)
        last = entry.last_sequence if entry is not None else message.sequence_number
        confirmation = AddressConfirmation.for_message(
            message, result.confirmation_status, last, head_end_time, periodic_interval
        )
        return result, confirmation

    def handle_notification(
        self,
        notification: DataNotification,
        now: float | None = None,
        *,
        sender_system_title: bytes | None = None,
        objects: RegistrationObjects = DEFAULT_OBJECTS,
        head_end_time: CosemDateTime | None = None,
        periodic_interval: int = 0,
    ) -> tuple[UpsertResult | None, DataNotification] | None:
        """Head-end entry point for a received Data-Notification: None when it is not a
        registration or update (another push); otherwise the result and the confirmation to send
        back (same invoke id).

        ``sender_system_title`` is the system title that authenticated the APDU (from the ciphered
        envelope); when given and different from the one in the message, nothing is stored and the
        answer is ``rejected`` (a meter may only register itself); when given and equal, the message
        counts as authenticated (decision 0036). A malformed registration body raises DecodeError."""
        item = objects.decode_body(notification.notification_body)
        if not isinstance(item, AddressRegistrationData | AddressUpdateData):
            return None
        if sender_system_title is not None and bytes(sender_system_title) != item.system_title:
            entry = self.lookup(item.system_title)
            rejected = AddressConfirmation.for_message(
                item, ConfirmationStatus.REJECTED, entry.last_sequence if entry else 0, head_end_time
            )
            return None, objects.notification(rejected, notification.invoke_id)
        result, confirmation = self.register(
            item,
            now,
            head_end_time=head_end_time,
            periodic_interval=periodic_interval,
            authenticated=sender_system_title is not None,
        )
        return result, objects.notification(confirmation, notification.invoke_id)

    def touch(self, system_title: bytes, now: float | None = None) -> bool:
        """Update "last seen" (any authenticated datagram from the meter). False if unknown."""
        at = time.time() if now is None else now
        with self._transaction() as db:
            cur = db.execute(
                "UPDATE devices SET last_seen = MAX(last_seen, ?) WHERE system_title = ?",
                (at, bytes(system_title)),
            )
            return cur.rowcount > 0

    def touch_many(self, seen: Mapping[bytes, float]) -> None:
        """:meth:`touch` for many meters at once (system title -> time), in one transaction."""
        with self._transaction() as db:
            db.executemany(
                "UPDATE devices SET last_seen = MAX(last_seen, ?) WHERE system_title = ?",
                [(at, bytes(title)) for title, at in seen.items()],
            )

    def forget(self, system_title: bytes) -> bool:
        """Remove a device and its addresses (history and counters are kept)."""
        title = bytes(system_title)
        self._binding_writes += 1
        with self._transaction() as db:
            db.execute("DELETE FROM addresses WHERE system_title = ?", (title,))
            return db.execute("DELETE FROM devices WHERE system_title = ?", (title,)).rowcount > 0

    # -- lookup ----------------------------------------------------------------------------------

    _SELECT: Final = (
        "SELECT system_title, addresses, wport, udp_port, border_router, first_seen, last_seen, "
        "last_sequence, messages, authenticated FROM devices"
    )

    @staticmethod
    def _entry(
        row: tuple[bytes, bytes, int, int, bytes | None, float, float, int, int, int],
    ) -> AddressBookEntry:
        title, packed, wport, port, router, first, last, seq, count, auth = row
        binding = Binding(
            Binding.unpack_addresses(packed),
            wport,
            port,
            None if router is None else ipaddress.IPv6Address(router),
        )
        return AddressBookEntry(title, binding, first, last, seq, count, bool(auth))

    def lookup(self, system_title: bytes) -> AddressBookEntry | None:
        """The current binding of ``system_title``, or None."""
        with self._lock:
            row = self._db.execute(
                self._SELECT + " WHERE system_title = ?", (bytes(system_title),)
            ).fetchone()
        return None if row is None else self._entry(row)

    def lookup_by_address(self, address: ipaddress.IPv6Address | str) -> list[bytes]:
        """System titles currently bound to ``address`` (normally one), most recently seen first."""
        raw = ipaddress.IPv6Address(address).packed
        with self._lock:
            rows = self._db.execute(
                "SELECT a.system_title FROM addresses a JOIN devices d ON d.system_title = a.system_title "
                "WHERE a.address = ? ORDER BY d.last_seen DESC",
                (raw,),
            ).fetchall()
        return [r[0] for r in rows]

    def in_prefix(self, network: ipaddress.IPv6Network | str) -> list[AddressBookEntry]:
        """Devices with an address in ``network`` (a /64 or longer uses the prefix index)."""
        net = ipaddress.IPv6Network(network)
        with self._lock:
            if net.prefixlen >= 64:
                titles = [
                    r[0]
                    for r in self._db.execute(
                        "SELECT DISTINCT system_title FROM addresses WHERE prefix64 = ?",
                        (net.network_address.packed[:8],),
                    )
                ]
                rows = []
                for i in range(0, len(titles), _CHUNK):
                    chunk = titles[i : i + _CHUNK]
                    rows += self._db.execute(
                        self._SELECT + f" WHERE system_title IN ({','.join('?' * len(chunk))})", chunk
                    ).fetchall()
            else:
                rows = self._db.execute(self._SELECT).fetchall()
        entries = [self._entry(r) for r in rows]
        return sorted(
            (e for e in entries if any(a.address in net for a in e.addresses)), key=lambda e: e.system_title
        )

    def entries(self) -> Iterator[AddressBookEntry]:
        """Every device, ordered by system title (a snapshot taken when called)."""
        with self._lock:
            rows = self._db.execute(self._SELECT + " ORDER BY system_title").fetchall()
        return (self._entry(r) for r in rows)

    def history(self, system_title: bytes, limit: int | None = None) -> list[HistoryEntry]:
        """Changes of binding of ``system_title``, oldest first (the last ``limit`` when given)."""
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
        return [
            HistoryEntry(
                title,
                at,
                RegistrationReason(reason),
                seq,
                None if old is None else Binding.from_bytes(old),
                Binding.from_bytes(new),
            )
            for title, at, reason, seq, old, new in reversed(rows)
        ]

    # -- security counters -----------------------------------------------------------------------

    def load_invocation_counter(self, system_title: bytes, key_label: str) -> int | None:
        """The reserved ceiling of the invocation counter we use towards ``system_title`` with the
        key ``key_label`` (None when nothing was ever reserved)."""
        with self._lock:
            row = self._db.execute(
                "SELECT ceiling FROM invocation_counters WHERE system_title = ? AND key_label = ?",
                (bytes(system_title), key_label),
            ).fetchone()
        return None if row is None else int(row[0])

    def reserve_invocation_counter(self, system_title: bytes, key_label: str, ceiling: int) -> None:
        """Durably record a new ceiling (committed, and synced with ``synchronous=FULL``, on return)."""
        if not 0 <= ceiling <= 0xFFFFFFFF:
            raise ValueError("an invocation counter ceiling is a 32-bit value")
        with self._lock:
            self._own_counters()
        with self._transaction() as db:
            db.execute(
                "INSERT INTO invocation_counters (system_title, key_label, ceiling) VALUES (?,?,?) "
                "ON CONFLICT (system_title, key_label) DO UPDATE SET ceiling = excluded.ceiling",
                (bytes(system_title), key_label, ceiling),
            )

    def counter_store(self) -> AddressBookCounterStore:
        """A :class:`cosemnet.security.counters.CounterStore` backed by this book. Takes the exclusive
        counter lock of the file (CounterStoreError when another process holds it)."""
        with self._lock:
            self._own_counters()
        return AddressBookCounterStore(self)

    def save_received_counters(self, windows: Mapping[object, int]) -> int:
        """Persist receive-side windows (``ReplayGuard.snapshot()``: keys ``(system_title, KeyRole)``).
        Keeps the greater value per key; other key shapes are skipped. Returns how many were stored."""
        rows = [
            (bytes(key[0]), int(key[1]), int(value))
            for key, value in windows.items()
            if isinstance(key, tuple)
            and len(key) == 2
            and isinstance(key[0], _TITLE_TYPES)
            and isinstance(key[1], int)
        ]
        with self._transaction() as db:
            db.executemany(
                "INSERT INTO received_counters (system_title, key_role, last_received) VALUES (?,?,?) "
                "ON CONFLICT (system_title, key_role) DO UPDATE SET "
                "last_received = MAX(last_received, excluded.last_received)",
                rows,
            )
        return len(rows)

    def load_received_counters(self) -> dict[tuple[bytes, KeyRole], int]:
        """Every stored window, ready for ``ReplayGuard.restore``."""
        with self._lock:
            rows = self._db.execute(
                "SELECT system_title, key_role, last_received FROM received_counters"
            ).fetchall()
        out: dict[tuple[bytes, KeyRole], int] = {}
        for title, role, last in rows:
            try:
                out[(title, KeyRole(role))] = last
            except ValueError:
                continue
        return out

    def received_counter(self, system_title: bytes, key_role: KeyRole) -> int | None:
        with self._lock:
            row = self._db.execute(
                "SELECT last_received FROM received_counters WHERE system_title = ? AND key_role = ?",
                (bytes(system_title), int(key_role)),
            ).fetchone()
        return None if row is None else int(row[0])

    def forget_received_counters(
        self, system_title: bytes, key_roles: Iterable[KeyRole] | None = None
    ) -> None:
        """Drop receive windows (after the peer's key was renewed)."""
        with self._transaction() as db:
            if key_roles is None:
                db.execute("DELETE FROM received_counters WHERE system_title = ?", (bytes(system_title),))
            else:
                db.executemany(
                    "DELETE FROM received_counters WHERE system_title = ? AND key_role = ?",
                    [(bytes(system_title), int(r)) for r in key_roles],
                )


class AddressBookCounterStore:
    """``CounterStore`` (see :mod:`cosemnet.security.counters`) on top of an :class:`AddressBook`.

    Names made by ``counter_name(system_title, label)`` (``"<16 hex digits>-<label>"``) are stored
    under that system title and label; any other name under an empty system title."""

    __slots__ = ("book",)

    def __init__(self, book: AddressBook) -> None:
        self.book = book

    @staticmethod
    def _split(name: str) -> tuple[bytes, str]:
        head, sep, label = name.partition("-")
        if sep and len(head) == 16:
            try:
                return bytes.fromhex(head), label
            except ValueError:
                pass
        return b"", name

    def load(self, name: str) -> int | None:
        title, label = self._split(name)
        return self.book.load_invocation_counter(title, label)

    def reserve(self, name: str, ceiling: int) -> None:
        title, label = self._split(name)
        self.book.reserve_invocation_counter(title, label, ceiling)
