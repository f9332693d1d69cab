"""The shared listener's batched registrations (decision 0131): a burst of registrations is one held
transaction, invisible to other processes and unconfirmed until it is committed; a failed commit
sends no confirmation; a counter block is never part of the held transaction."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cosemnet.cli.hes_worker import open_shared_head_end
from cosemnet.headend import StaticKeyStore
from cosemnet.headend.headend import Outgoing
from cosemnet.headend.shared import SharedHeadEnd, StorageAddressBook
from cosemnet.headend.storage import Storage, StorageError

from .conftest import Backend
from .test_storage import TITLE, reg, titles

pytestmark = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)


@pytest.fixture
def pg(backend: Backend) -> Iterator[tuple[Storage, Storage]]:
    writer, reader = backend.open(), backend.open()
    yield writer, reader
    writer.close()
    reader.close()


def test_held_registrations_are_visible_only_after_the_commit(pg: tuple[Storage, Storage]) -> None:
    writer, reader = pg
    book = StorageAddressBook(writer, batch_writes=True)
    book.upsert_many([reg(1, "2001:db8::1", title=t) for t in titles(3)], 100.0)
    assert book.lookup(titles(3)[0]) is not None  # the writer sees its own writes
    assert reader.bindings() == []  # another process does not: nothing is stored yet
    assert book.commit_batch() and book.batches == 1
    assert len(reader.bindings()) == 3
    assert book.commit_batch() and book.batches == 1  # nothing held: nothing committed


def test_a_counter_block_is_committed_before_it_is_returned(pg: tuple[Storage, Storage]) -> None:
    writer, reader = pg
    book = StorageAddressBook(writer, batch_writes=True)
    book.upsert_many([reg(1, "2001:db8::1")], 100.0)
    first, _ = writer.reserve_counter_block(TITLE, "guek", 64)
    assert reader.counter_ceiling(TITLE, "guek") is not None and reader.binding(TITLE) is not None
    assert first >= 1


class _FailingCommit:
    """A storage whose held commit fails (the database went away between two bursts)."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.held = False

    def __getattr__(self, name: str) -> object:
        return getattr(self.storage, name)

    def hold_transaction(self) -> None:
        self.held = True

    def commit_held(self) -> bool:
        if self.held:
            self.held = False
            raise StorageError("PostgreSQL commit failed: connection lost")
        return False


def test_no_datagram_leaves_when_the_commit_failed(pg: tuple[Storage, Storage]) -> None:
    writer, _ = pg
    head_end, book, _ = open_shared_head_end(writer, StaticKeyStore(), batch_writes=True)
    assert isinstance(head_end, SharedHeadEnd)
    failing = _FailingCommit(writer)
    book._holder = failing  # the commit of the burst fails
    failing.held = True
    head_end._out.append(Outgoing("::1", 4059, b"confirmation"))
    assert head_end.pop_outgoing() == [] and book.batch_failures == 1
    head_end._out.append(Outgoing("::1", 4059, b"next"))  # nothing held: sent
    assert [o.data for o in head_end.pop_outgoing()] == [b"next"]
