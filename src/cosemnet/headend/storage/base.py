"""The head-end storage interface (decisions 0060, 0062) and the logic both backends share.

One :class:`Storage` protocol covers what a head-end keeps: the address book (bindings with history,
sequence-number rules of decision 0024), invocation counters handed out in blocks, received-counter
floors, readings (unique per meter, attribute and capture time), events (meter-initiated pushes) and
collect jobs (leased per meter, with expiry). Backends: :mod:`.sqlite` (one file, one machine) and
:mod:`.postgres` (shared by any number of head-end processes on any number of machines).

Times are float seconds since the epoch, passed by the caller (``now=None`` reads the clock); the
backends store readings, events and leases as integer microseconds so that equality (idempotency) is
exact on both engines.
"""

from __future__ import annotations

import hashlib
import ipaddress
import struct
import zlib
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final, Protocol

from cosemnet.codec.axdr import encode_data
from cosemnet.codec.types import DataValue
from cosemnet.errors import EncodeError
from cosemnet.profiles.mesh.address_book import (
    AddressBookEntry,
    Binding,
    HistoryEntry,
    UpsertResult,
)
from cosemnet.profiles.mesh.registration import RegistrationMessage, RegistrationReason
from cosemnet.security.counters import MAX_INVOCATION_COUNTER
from cosemnet.security.errors import InvocationCounterExhaustedError
from cosemnet.security.keys import KeyRole

__all__ = [
    "DEFAULT_LEASE_SECONDS",
    "SHARDS",
    "BindingState",
    "BlockInvocationCounter",
    "Event",
    "Job",
    "JobState",
    "Reading",
    "ReadingKey",
    "SchemaOutdatedError",
    "Storage",
    "StorageError",
    "apply_registrations",
    "counter_block",
    "event_digest",
    "from_us",
    "iter_readings",
    "shard_of",
    "to_us",
]

SHARDS: Final = 1024
"""Meters are spread over this many shards (``crc32(system_title) % SHARDS``), decision 0062."""

DEFAULT_LEASE_SECONDS: Final = 60.0

FIRST_COUNTER: Final = 1
"""The first invocation counter value handed out for a new (system title, key) (0 = nothing sent)."""


class StorageError(Exception):
    """The database cannot be used: unknown schema version, not a database, missing driver."""


class SchemaOutdatedError(StorageError):
    """Opened with ``migrate=False`` and the schema is older than this program's."""

    def __init__(self, message: str, version: int) -> None:
        super().__init__(message)
        self.version = version


def to_us(t: float) -> int:
    """Seconds (float) -> integer microseconds (what the tables store)."""
    return round(t * 1_000_000)


def from_us(us: int) -> float:
    return us / 1_000_000


def shard_of(system_title: bytes, shards: int = SHARDS) -> int:
    """The shard of a meter: stable across processes and machines (CRC-32 of the system title)."""
    return zlib.crc32(bytes(system_title)) % shards


def event_digest(payload: bytes) -> bytes:
    """16-byte digest of an event payload: part of the events' uniqueness key (a repeated push is
    stored once)."""
    return hashlib.sha256(payload).digest()[:16]


def counter_block(ceiling: int | None, size: int) -> tuple[int, int, int]:
    """The block ``(first, last, new_ceiling)`` handed out from the stored ``ceiling`` (the first value
    not yet reserved; None when nothing was ever reserved). 2**32 - 1 is never handed out."""
    if size < 1:
        raise ValueError("a counter block holds at least one value")
    first = FIRST_COUNTER if ceiling is None else max(ceiling, FIRST_COUNTER)
    if first >= MAX_INVOCATION_COUNTER:
        raise InvocationCounterExhaustedError("invocation counter reached 2**32-1: renew the key")
    new_ceiling = min(first + size, MAX_INVOCATION_COUNTER)
    return first, new_ceiling - 1, new_ceiling


# -- records -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reading:
    """One attribute value read from a meter (or the error of that read).

    Unique per (system title, class id, logical name, attribute id, capture time): storing it twice
    keeps the first. The capture time must therefore come from the meter or from the job (the nominal
    time of the run), never from the moment the answer arrived, or a retried read would be new."""

    system_title: bytes
    class_id: int
    logical_name: str
    attribute_id: int
    captured_at: float
    value: bytes | None
    """The value as A-XDR encoded Data (None for an error)."""
    value_text: str | None = None
    unit: str | None = None
    error: str | None = None
    run_id: int | None = None
    stored_at: float | None = None
    """Set on rows read back."""

    @property
    def attribute(self) -> str:
        """``CLASS/LOGICAL_NAME/ATTRIBUTE`` (the form ``--obis`` accepts)."""
        return f"{self.class_id}/{self.logical_name}/{self.attribute_id}"

    @property
    def key(self) -> ReadingKey:
        return (
            self.system_title,
            self.class_id,
            self.logical_name,
            self.attribute_id,
            to_us(self.captured_at),
        )

    @classmethod
    def of_value(
        cls,
        system_title: bytes,
        attribute: tuple[int, str, int],
        captured_at: float,
        value: DataValue,
        *,
        unit: str | None = None,
        run_id: int | None = None,
    ) -> Reading:
        """A reading from a decoded Data value (encoded to A-XDR; its text form kept for display)."""
        class_id, logical_name, attribute_id = attribute
        try:
            raw: bytes | None = encode_data(value)
        except EncodeError:
            raw = None
        text = value.hex().upper() if isinstance(value, bytes) else str(value)
        return cls(
            bytes(system_title),
            class_id,
            logical_name,
            attribute_id,
            captured_at,
            raw,
            text,
            unit,
            None,
            run_id,
        )


ReadingKey = tuple[bytes, int, str, int, int]
"""(system title, class id, logical name, attribute id, capture time in microseconds)."""


@dataclass(frozen=True, slots=True)
class Event:
    """A meter-initiated message (push, alarm, event notification)."""

    system_title: bytes
    at: float
    """The meter's time of the event (or of its push)."""
    kind: str
    payload: bytes
    received_at: float | None = None
    event_id: int | None = None


class JobState(StrEnum):
    QUEUED = "queued"
    LEASED = "leased"
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Job:
    """Read one attribute of one meter in one run. See docs/decisions/0062."""

    job_id: int
    run_id: int
    system_title: bytes
    attribute: str
    state: JobState
    owner: str | None
    attempts: int
    lease_until: float | None
    error: str | None = None


# -- the address book's rules (decision 0024), shared by the backends -----------------------------


@dataclass(slots=True)
class BindingState:
    """A ``devices`` row in its stored (packed) form."""

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

    def packed_binding(self) -> bytes:
        return _pack(self.wport, self.udp_port, self.router, self.packed)


def device_row(title: bytes, s: BindingState) -> tuple[object, ...]:
    """The ``devices`` columns of a binding state (order of the backends' ``_DEVICE_COLUMNS``)."""
    return (
        title,
        s.packed,
        s.wport,
        s.udp_port,
        s.router or None,
        s.first_seen,
        s.last_seen,
        s.last_sequence,
        s.messages,
    )


ReadingColumns = tuple[
    bytes, int, str, int, int, bytes | None, str | None, str | None, str | None, int | None, int
]
"""A :class:`Reading` as the backends' ``readings`` columns (the head-end store's row type is
:class:`cosemnet.headend.store.ReadingRow`)."""


def reading_row(r: Reading, stored_us: int) -> ReadingColumns:
    """The ``readings`` columns of a reading (order of the backends' ``_READING_COLUMNS``)."""
    key = (bytes(r.system_title), r.class_id, r.logical_name, r.attribute_id, to_us(r.captured_at))
    return (*key, r.value, r.value_text, r.unit, r.error, r.run_id, stored_us)


HistoryRow = tuple[bytes, float, int, int, bytes | None, bytes]
"""(system title, at, reason, sequence number, old binding, new binding) as stored in ``history``."""


_BINDING_HEAD: Final = struct.Struct(">HHB")


def _pack(wport: int, udp_port: int, router: bytes, packed: bytes) -> bytes:
    """The compact binding form of ``history`` (``Binding.to_bytes``)."""
    return _BINDING_HEAD.pack(wport, udp_port, len(router)) + router + packed


def apply_registrations(
    states: dict[bytes, BindingState], messages: Sequence[RegistrationMessage], at: float, force: bool
) -> tuple[list[UpsertResult], list[HistoryRow]]:
    """Apply ``messages`` in order to ``states`` (updated in place, new titles added): the rules of
    decision 0024 (greater sequence number applies, equal with the same binding is a duplicate,
    anything else is stale; ``force`` overrides). Returns the results and the history rows to add."""
    results: list[UpsertResult] = []
    history: list[HistoryRow] = []
    for m in messages:
        packed = b"".join(e.address.packed + bytes((e.prefix_length, e.scope)) for e in m.addresses)
        router = b"" if m.border_router is None else m.border_router.packed
        state = states.get(m.system_title)
        if state is None:
            state = BindingState(m.wport, m.udp_port, router, packed, at, at, m.sequence_number, 1, False)
            state.changed = state.touched = True
            states[m.system_title] = state
            history.append(
                (m.system_title, at, int(m.reason), m.sequence_number, None, state.packed_binding())
            )
            results.append(UpsertResult.CREATED)
            continue
        same = (packed, m.wport, m.udp_port, router) == (
            state.packed,
            state.wport,
            state.udp_port,
            state.router,
        )
        if not force and m.sequence_number <= state.last_sequence:
            if m.sequence_number == state.last_sequence and same:
                state.last_seen, state.touched = max(state.last_seen, at), True
                state.messages += 1
                results.append(UpsertResult.DUPLICATE)
            else:
                results.append(UpsertResult.STALE)
            continue
        state.last_sequence = m.sequence_number
        state.last_seen = max(state.last_seen, at)
        state.messages += 1
        state.touched = True
        if same:
            results.append(UpsertResult.REFRESHED)
            continue
        old = state.packed_binding()
        state.wport, state.udp_port, state.router, state.packed = m.wport, m.udp_port, router, packed
        state.changed = True
        history.append((m.system_title, at, int(m.reason), m.sequence_number, old, state.packed_binding()))
        results.append(UpsertResult.CHANGED if state.exists else UpsertResult.CREATED)
    return results, history


def entry_of(
    title: bytes,
    packed: bytes,
    wport: int,
    udp_port: int,
    router: bytes | None,
    first_seen: float,
    last_seen: float,
    last_sequence: int,
    messages: int,
) -> AddressBookEntry:
    binding = Binding(
        Binding.unpack_addresses(bytes(packed)),
        wport,
        udp_port,
        ipaddress.IPv6Address(bytes(router)) if router else None,
    )
    return AddressBookEntry(bytes(title), binding, first_seen, last_seen, last_sequence, messages)


def history_of(title: bytes, at: float, reason: int, seq: int, old: bytes | None, new: bytes) -> HistoryEntry:
    return HistoryEntry(
        bytes(title),
        at,
        RegistrationReason(reason),
        seq,
        None if old is None else Binding.from_bytes(bytes(old)),
        Binding.from_bytes(bytes(new)),
    )


def received_rows(floors: Mapping[object, int]) -> list[tuple[bytes, int, int]]:
    """``ReplayGuard.snapshot()`` entries keyed ``(system_title, KeyRole)``; other shapes skipped."""
    rows = []
    for key, value in floors.items():
        if (
            isinstance(key, tuple)
            and len(key) == 2
            and isinstance(key[0], bytes | bytearray)
            and isinstance(key[1], int)
        ):
            rows.append((bytes(key[0]), int(key[1]), int(value)))
    return rows


def received_dict(rows: Iterable[tuple[bytes, int, int]]) -> dict[tuple[bytes, KeyRole], int]:
    out: dict[tuple[bytes, KeyRole], int] = {}
    for title, role, last in rows:
        try:
            out[(bytes(title), KeyRole(role))] = int(last)
        except ValueError:
            continue
    return out


# -- the interface ---------------------------------------------------------------------------------


class Storage(Protocol):
    """What a head-end stores, on one backend (see the module docstring and decision 0060)."""

    backend: str
    """``"sqlite"`` or ``"postgresql"``."""

    def close(self) -> None: ...

    def schema_version(self) -> int:
        """The version of the schema in the database (migrations applied so far)."""
        ...

    # address book (decision 0024)

    def upsert_bindings(
        self, messages: Sequence[RegistrationMessage], now: float | None = None, *, force: bool = False
    ) -> list[UpsertResult]:
        """Apply registration / address update messages in one transaction, in order."""
        ...

    def binding(self, system_title: bytes) -> AddressBookEntry | None: ...

    def bindings(self, system_titles: Collection[bytes] | None = None) -> list[AddressBookEntry]:
        """Every binding (or those of ``system_titles``), ordered by system title."""
        ...

    def titles_at_address(self, address: bytes) -> list[bytes]:
        """System titles bound to the 16-byte IPv6 ``address``, most recently seen first."""
        ...

    def binding_history(self, system_title: bytes, limit: int | None = None) -> list[HistoryEntry]: ...

    def touch_binding(self, system_title: bytes, now: float | None = None) -> bool: ...

    def forget_binding(self, system_title: bytes) -> bool: ...

    # invocation counters (decision 0062) and received-counter floors

    def reserve_counter_block(self, system_title: bytes, key_label: str, size: int) -> tuple[int, int]:
        """Hand out ``(first, last)``: ``size`` values (fewer just below 2**32 - 1), committed before
        return, never handed out again to any caller, even after a crash."""
        ...

    def counter_ceiling(self, system_title: bytes, key_label: str) -> int | None:
        """The first value not yet handed out (None when nothing was)."""
        ...

    def save_received_floors(self, floors: Mapping[object, int]) -> int:
        """Store ``ReplayGuard.snapshot()`` windows, keeping the greater value per key."""
        ...

    def received_floors(self, system_title: bytes | None = None) -> dict[tuple[bytes, KeyRole], int]: ...

    # readings and events

    def add_readings(self, readings: Iterable[Reading], now: float | None = None) -> int:
        """Store readings in one batch; a reading already stored (same key) is skipped. Returns how many
        were new."""
        ...

    def readings(
        self,
        system_title: bytes | None = None,
        *,
        run_id: int | None = None,
        after: ReadingKey | None = None,
        limit: int | None = None,
    ) -> list[Reading]:
        """Readings ordered by their key (system title, attribute, capture time); ``after`` continues a
        previous page."""
        ...

    def add_events(self, events: Iterable[Event], now: float | None = None) -> int:
        """Store events; an identical one (meter, time, kind, payload) is stored once."""
        ...

    def events(
        self, system_title: bytes | None = None, *, since: float | None = None, limit: int | None = None
    ) -> list[Event]: ...

    # runs and jobs (decision 0062)

    def start_run(self, attributes: str, meters: int, now: float | None = None) -> int: ...

    def run_started(self, run_id: int) -> float | None:
        """When run ``run_id`` was started (its nominal time: the capture time of its readings, so a
        retried read is stored once); None when there is no such run."""
        ...

    def create_jobs(self, run_id: int, items: Iterable[tuple[bytes, str]], now: float | None = None) -> int:
        """One job per (system title, attribute) of the run (an existing one is kept). Returns how many
        are new."""
        ...

    def lease_jobs(
        self,
        owner: str,
        limit: int,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        now: float | None = None,
        *,
        shards: Collection[int] | None = None,
    ) -> list[Job]:
        """Lease up to ``limit`` meters (all their open jobs) whose lease is free or expired: no other
        owner gets them until the lease expires or their jobs are finished."""
        ...

    def renew_lease(
        self,
        owner: str,
        system_titles: Collection[bytes],
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        now: float | None = None,
    ) -> int:
        """Extend the leases ``owner`` still holds; returns how many."""
        ...

    def complete_jobs(self, owner: str, job_ids: Collection[int], now: float | None = None) -> int:
        """Mark done the jobs ``owner`` still holds (a job taken over after expiry is not touched)."""
        ...

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
        """Record a failed attempt: back to the queue after ``retry_after`` seconds while attempts
        remain, otherwise failed for good."""
        ...

    def jobs(self, run_id: int | None = None, state: JobState | None = None) -> list[Job]: ...

    def job_counts(self, run_id: int | None = None) -> dict[JobState, int]: ...


def iter_readings(
    storage: Storage, system_title: bytes | None = None, *, run_id: int | None = None, page: int = 5000
) -> Iterator[Reading]:
    """Every stored reading, fetched page by page (bounded memory on any table size)."""
    after: ReadingKey | None = None
    while True:
        rows = storage.readings(system_title, run_id=run_id, after=after, limit=page)
        yield from rows
        if len(rows) < page:
            return
        after = rows[-1].key


class BlockInvocationCounter:
    """A sending-side counter (``CounterSource``) fed by blocks from a :class:`Storage`: any number of
    processes sharing one key each take their own blocks, so no value is used twice (decision 0062).
    Values left in a block when the process stops are skipped, never reused."""

    __slots__ = ("_last", "_next", "block_size", "key_label", "storage", "system_title")

    def __init__(
        self, storage: Storage, system_title: bytes, key_label: str, *, block_size: int = 4096
    ) -> None:
        if block_size < 1:
            raise ValueError("block_size must be at least 1")
        self.storage = storage
        self.system_title = bytes(system_title)
        self.key_label = key_label
        self.block_size = block_size
        self._next = 1
        self._last = 0

    def next(self) -> int:
        if self._next > self._last:
            self._next, self._last = self.storage.reserve_counter_block(
                self.system_title, self.key_label, self.block_size
            )
        value = self._next
        self._next += 1
        return value

    def drop_block(self) -> int:
        """Give up the rest of the block in hand (skipped, never reused): the next value comes from a
        block reserved after this call (decision 0120). Returns 1 when a block was dropped."""
        dropped = int(self._next <= self._last)
        self._next, self._last = 1, 0
        return dropped
