"""A :class:`~cosemnet.headend.headend.HeadEnd` on the shared storage (issue 13, decisions 0060, 0120).

The head-end core keeps its single-machine collaborators (an :class:`AddressBook`, a
:class:`HeadEndStore`); these thin adapters put them on a :class:`Storage` instead, so any number of
head-end processes (``hes listen`` and ``hes worker``) on any number of machines share one database:

* :class:`StorageAddressBook` -- the address book the core reads and writes, kept in the storage:
  registrations handled by any ``hes listen --db postgresql://...`` are written with
  ``upsert_bindings`` and every worker sees them (``lookup``/``entries`` read the storage; a worker
  preloads the bindings of the meters it leased in one query). Received-counter floors go to the
  storage too.
* :class:`LeasedCounters` -- our sending invocation counters, from ``reserve_counter_block``: two
  processes never use the same value with the same key, across crashes. A block is given up
  (:meth:`LeasedCounters.refresh`) whenever the process takes new meters, so a meter never sees an
  older counter after another process talked to it (see docs/decisions/0120).
* :class:`SharedHeadEnd` -- the head-end core whose datagrams are released only after the
  registrations they confirm are committed: with ``StorageAddressBook(batch_writes=True)`` (the
  shared listener) a burst of registrations is one PostgreSQL transaction, committed when the adapter
  takes the core's datagrams (``pop_outgoing``); nothing is confirmed that is not stored
  (docs/decisions/0131).
* :class:`DiscardingStore` -- an in-memory :class:`HeadEndStore` that keeps no readings: a worker
  writes them to the storage itself from the core's typed events (with the run's nominal capture
  time, so a retried read is stored once).
"""

from __future__ import annotations

import ipaddress
import logging
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Protocol, runtime_checkable

from cosemnet.codec.types import DataValue
from cosemnet.headend.headend import HeadEnd, Outgoing
from cosemnet.headend.storage import BlockInvocationCounter, Event, Storage, StorageError
from cosemnet.headend.store import HeadEndStore, ReadingRow
from cosemnet.profiles.mesh.address_book import AddressBook, AddressBookEntry, HistoryEntry, UpsertResult
from cosemnet.profiles.mesh.registration import RegistrationMessage
from cosemnet.security.keys import KeyRole

__all__ = ["DiscardingStore", "LeasedCounters", "SharedHeadEnd", "StorageAddressBook", "TransactionHolder"]

logger = logging.getLogger(__name__)


@runtime_checkable
class TransactionHolder(Protocol):
    """A storage that can group writes into one commit (PostgreSQL; decision 0131)."""

    def hold_transaction(self) -> None: ...

    def commit_held(self) -> bool: ...


class LeasedCounters:
    """Counter sources for ``HeadEnd(counters=...)``: one :class:`BlockInvocationCounter` per (counter
    owner, key label), its blocks reserved in the storage. :meth:`refresh` drops every block in hand
    (its unused values are skipped, never reused): call it when taking meters another process may
    have talked to since (decision 0120)."""

    def __init__(self, storage: Storage, *, block_size: int = 4096) -> None:
        self.storage = storage
        self.block_size = block_size
        self._counters: list[BlockInvocationCounter] = []
        self.blocks_dropped = 0

    def __call__(self, owner: bytes, label: str) -> BlockInvocationCounter:
        counter = BlockInvocationCounter(self.storage, owner, label, block_size=self.block_size)
        self._counters.append(counter)
        return counter

    def refresh(self) -> None:
        """The next value of every counter comes from a block reserved after this call."""
        for counter in self._counters:
            self.blocks_dropped += counter.drop_block()


class StorageAddressBook(AddressBook):
    """The :class:`AddressBook` interface the head-end core uses, on a :class:`Storage` (see the module
    docstring). The SQLite base is in memory and unused but for the counter store the core asks for
    (replaced by :class:`LeasedCounters`).

    ``touch_writes``: write the core's "last seen" times to the storage (one transaction per meter
    when the core saves its state; off by default: registrations update "last seen" anyway).

    ``batch_writes``: registrations join one held transaction (a storage that is a
    :class:`TransactionHolder`), committed by :meth:`commit_batch`, which :class:`SharedHeadEnd` calls
    before any datagram leaves (decision 0131)."""

    def __init__(self, storage: Storage, *, touch_writes: bool = False, batch_writes: bool = False) -> None:
        super().__init__(":memory:")
        self.storage = storage
        self.touch_writes = touch_writes
        self._holder = storage if batch_writes and isinstance(storage, TransactionHolder) else None
        self.batches = 0
        """Held transactions committed (each one a burst of registrations)."""
        self.batch_failures = 0
        """Held transactions whose commit failed (their confirmations were never sent)."""
        self._cache: dict[bytes, AddressBookEntry] = {}
        self._version = 0
        self.owns_storage = False
        """:meth:`close` also closes the storage."""
        self.refresh_counters: LeasedCounters | None = None
        """Refreshed after registrations were written, at most every ``refresh_interval`` seconds: the
        listener's confirmation goes to a meter a worker may have talked to since the listener's block
        was reserved (a confirmation refused as a replay meanwhile is repeated by the meter after its
        repetition delay, when the block is new; decision 0120)."""
        self.refresh_interval = 1.0
        self._refreshed_at = float("-inf")

    def close(self) -> None:
        super().close()
        if self.owns_storage:
            self.storage.close()

    def commit_batch(self) -> bool:
        """Commit the registrations held since the last call: False when the commit failed (they are
        not stored, must not be confirmed; the counter blocks in hand are dropped too)."""
        if self._holder is None:
            return True
        try:
            if self._holder.commit_held():
                self.batches += 1
        except StorageError as exc:
            self.batch_failures += 1
            logger.warning("registrations not stored, their confirmations dropped: %s", exc)
            if self.refresh_counters is not None:
                self.refresh_counters.refresh()
            return False
        return True

    # -- what the core reads --------------------------------------------------------------------

    def preload(self, system_titles: Sequence[bytes]) -> int:
        """Read the bindings of ``system_titles`` in one query (a worker's leased meters); lookups of
        them are then answered from memory until :meth:`forget_cached`."""
        self._cache = {e.system_title: e for e in self.storage.bindings(list(system_titles))}
        return len(self._cache)

    def lookup(self, system_title: bytes) -> AddressBookEntry | None:
        title = bytes(system_title)
        found = self._cache.get(title)
        return found if found is not None else self.storage.binding(title)

    def entries(self) -> Iterator[AddressBookEntry]:
        return iter(self.storage.bindings())

    def change_stamp(self) -> tuple[int, int]:
        return self._version, 0

    def binding_stamp(self) -> tuple[int, int]:
        """Changes only through this object are seen (another process's registrations are read by
        :meth:`lookup` / :meth:`preload`, not through the core's cached entry list)."""
        return self._version, 0

    def __len__(self) -> int:
        return len(self.storage.bindings())

    def lookup_by_address(self, address: ipaddress.IPv6Address | str) -> list[bytes]:
        return self.storage.titles_at_address(ipaddress.IPv6Address(address).packed)

    def history(self, system_title: bytes, limit: int | None = None) -> list[HistoryEntry]:
        return self.storage.binding_history(system_title, limit)

    # -- what the core writes -------------------------------------------------------------------

    def upsert_many(
        self,
        messages: Sequence[RegistrationMessage],
        now: float | None = None,
        *,
        force: bool = False,
        authenticated: bool = False,
    ) -> list[UpsertResult]:
        """Registrations go to the storage (its bindings do not yet carry 0036's ``authenticated``
        flag: the core accepts plain ones only with the lab option)."""
        if self._holder is not None:
            self._holder.hold_transaction()
        results = self.storage.upsert_bindings(messages, now, force=force)
        self._version += 1
        for m in messages:
            self._cache.pop(m.system_title, None)
        if self._holder is not None:  # the core looks the entries up twice next: one query (0131)
            titles = list({bytes(m.system_title) for m in messages})
            self._cache.update((e.system_title, e) for e in self.storage.bindings(titles))
        at = time.time() if now is None else now
        if self.refresh_counters is not None and at - self._refreshed_at >= self.refresh_interval:
            self._refreshed_at = at
            self.refresh_counters.refresh()
        return results

    def touch(self, system_title: bytes, now: float | None = None) -> bool:
        if not self.touch_writes:
            return False
        return self.storage.touch_binding(system_title, now)

    def touch_many(self, seen: Mapping[bytes, float]) -> None:
        if self.touch_writes:
            for title, at in seen.items():
                self.storage.touch_binding(title, at)

    def forget(self, system_title: bytes) -> bool:
        self._cache.pop(bytes(system_title), None)
        self._version += 1
        return self.storage.forget_binding(system_title)

    def save_received_counters(self, windows: Mapping[object, int]) -> int:
        return self.storage.save_received_floors(windows)

    def load_received_counters(self) -> dict[tuple[bytes, KeyRole], int]:
        return self.storage.received_floors()

    def received_counter(self, system_title: bytes, key_role: KeyRole) -> int | None:
        return self.storage.received_floors(system_title).get((bytes(system_title), key_role))


class SharedHeadEnd(HeadEnd):
    """The head-end core on the shared storage: its datagrams (confirmations above all) are handed to
    the adapter only after :meth:`StorageAddressBook.commit_batch` committed the registrations they
    answer; when that commit fails they are dropped (the meters repeat their registrations;
    docs/decisions/0131)."""

    def pop_outgoing(self) -> list[Outgoing]:
        book = self.book
        if isinstance(book, StorageAddressBook) and not book.commit_batch():
            super().pop_outgoing()
            return []
        return super().pop_outgoing()


class DiscardingStore(HeadEndStore):
    """An in-memory :class:`HeadEndStore` keeping no readings (bounded memory for a long-lived
    worker: readings go to the shared storage from the core's events); pushes are written to the
    storage's ``events`` when ``storage`` is given."""

    def __init__(self, storage: Storage | None = None) -> None:
        super().__init__(":memory:")
        self.storage = storage

    def add_readings(self, rows: Iterable[ReadingRow]) -> int:
        return 0

    def add_events(
        self, rows: Iterable[tuple[bytes, str, float, str | None, str | None, DataValue, str]]
    ) -> None:
        if self.storage is None:
            return
        events = [
            Event(title, at, kind, f"{meter_time or ''}|{source or ''}|{value!r}|{address}".encode())
            for title, kind, at, meter_time, source, value, address in rows
        ]
        self.storage.add_events(events, time.time())
