"""Invocation counters: strictly increasing per (key, sender), never reused across crashes.

The GCM IV is ``system title || invocation counter``: sending two APDUs with the same key and the
same counter value breaks GCM (keystream reuse, authentication key recovery). The counter therefore
has to survive crashes and restarts. See docs/decisions/0002-invocation-counters.md.

Scheme (block reservation): the store persists a *ceiling*, the first value not yet reserved.
Before any value of a block is handed out, ``ceiling = value + block_size`` is written durably
(temporary file, fsync, atomic rename, fsync of the directory). After a crash the counter resumes at
the persisted ceiling: values of the last block that were never used are skipped, none is reused.

Sending side: :class:`InvocationCounter` (``next()``). Receiving side: :class:`ReplayGuard` (the last
accepted counter per sender and key; a received value must be greater).

Design choices where the standard is silent:

* the first value handed out is ``start`` (default 1, so 0 keeps meaning "nothing sent yet");
* 2**32 - 1 is never handed out: asking for it raises :class:`InvocationCounterExhaustedError`
  (the key must be renewed, then :meth:`InvocationCounter.reset_for_new_key`);
* :class:`ReplayGuard` alone is in memory; :class:`ReplayFloors` shares its windows between the
  associations of a server and persists them (the lowest acceptable counter per peer system title
  and key survives associations and restarts, docs/decisions/0033);
* :class:`SharedFileCounter` lets several short-lived processes (CLI runs) use one counter file:
  each block is reserved under an exclusive lock of that counter (docs/decisions/0033).
"""

from __future__ import annotations

import contextlib
import os
import zlib
from collections.abc import Hashable, Iterator
from pathlib import Path
from typing import Final, Protocol

from cryptography.hazmat.primitives import hashes

from cosemnet.security.errors import CounterStoreError, InvocationCounterExhaustedError, ReplayError
from cosemnet.security.keys import KeyRole

MAX_INVOCATION_COUNTER: Final = 0xFFFFFFFF
"""2**32 - 1: reaching it means the key must be renewed (this value itself is never used)."""

DEFAULT_BLOCK_SIZE: Final = 4096


class CounterSource(Protocol):
    """What the ciphering layer needs from a sending-side counter."""

    def next(self) -> int: ...


class CounterStore(Protocol):
    """Durable storage of reserved ceilings, one per counter name."""

    def load(self, name: str) -> int | None:
        """The persisted ceiling for ``name`` (None if never reserved)."""
        ...

    def reserve(self, name: str, ceiling: int) -> None:
        """Persist ``ceiling`` durably; returns only once it survives a crash or power loss."""
        ...


class MemoryCounterStore:
    """In-memory store (tests, short-lived dedicated-key counters). Counts its reservations."""

    __slots__ = ("ceilings", "reservations")

    def __init__(self) -> None:
        self.ceilings: dict[str, int] = {}
        self.reservations = 0

    def load(self, name: str) -> int | None:
        return self.ceilings.get(name)

    def reserve(self, name: str, ceiling: int) -> None:
        self.ceilings[name] = ceiling
        self.reservations += 1


_MAGIC: Final = "cosemnet-ic-v1"


def _check_name(name: str) -> None:
    if not name or not all(c.isalnum() or c in "-_." for c in name) or name.startswith("."):
        raise CounterStoreError(f"counter name {name!r} must be letters, digits, '-', '_' or '.'")


class FileCounterStore:
    """One small text file per counter in ``directory``: ``cosemnet-ic-v1 <ceiling> <crc32>``.

    Each reservation writes ``<name>.ic.tmp``, flushes and fsyncs it, renames it over ``<name>.ic``
    and fsyncs the directory, so the file always holds either the old or the new ceiling, both
    complete. A file that does not parse (disk corruption) raises :class:`CounterStoreError`
    instead of silently restarting at 0, which would reuse IVs. One process per directory: the
    store takes an exclusive advisory lock on ``.lock`` (released by the kernel when the process dies).
    """

    def __init__(self, directory: str | os.PathLike[str], *, lock: bool = True) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock_fd: int | None = None
        if lock:
            self._lock()

    def _lock(self) -> None:
        import fcntl

        fd = os.open(self.directory / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise CounterStoreError(
                f"counter directory {self.directory} is in use by another process"
            ) from None
        self._lock_fd = fd

    def close(self) -> None:
        """Release the directory lock."""
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> FileCounterStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _path(self, name: str) -> Path:
        _check_name(name)
        return self.directory / f"{name}.ic"

    def load(self, name: str) -> int | None:
        path = self._path(name)
        try:
            text = path.read_text("ascii")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            raise CounterStoreError(f"cannot read {path}: {exc}") from None
        parts = text.split()
        if len(parts) != 3 or parts[0] != _MAGIC or not parts[1].isdigit():
            raise CounterStoreError(f"{path} is corrupt; refusing to guess an invocation counter")
        if f"{zlib.crc32(parts[1].encode()):08x}" != parts[2]:
            raise CounterStoreError(f"{path} fails its checksum; refusing to guess an invocation counter")
        return int(parts[1])

    def reserve(self, name: str, ceiling: int) -> None:
        path = self._path(name)
        digits = str(ceiling)
        payload = f"{_MAGIC} {digits} {zlib.crc32(digits.encode()):08x}\n".encode("ascii")
        try:
            write_durably(path, payload)
        except OSError as exc:
            raise CounterStoreError(f"cannot persist invocation counter {name!r}: {exc}") from None

    @contextlib.contextmanager
    def locked(self, name: str) -> Iterator[None]:
        """Hold an exclusive lock on counter ``name`` (``<name>.lock``; waits for other processes)."""
        import fcntl

        path = self._path(name).with_suffix(".lock")
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise CounterStoreError(f"cannot lock invocation counter {name!r}: {exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing the descriptor releases the lock


def write_durably(path: Path, payload: bytes) -> None:
    """Replace ``path`` by ``payload`` so that a crash leaves the old or the new content, complete:
    write ``<path>.tmp``, fsync it, rename it over ``path``, fsync the directory. Raises OSError."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            view = memoryview(payload)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


class InvocationCounter:
    """Sending-side invocation counter for one key, backed by a :class:`CounterStore`.

    ``next()`` returns strictly increasing values; before handing out a value at or above the
    persisted ceiling it reserves a new block durably. On construction it resumes at the persisted
    ceiling (or ``start`` if nothing was ever reserved under ``name``).
    """

    __slots__ = ("_ceiling", "_next", "block_size", "name", "store")

    def __init__(
        self, store: CounterStore, name: str, *, block_size: int = DEFAULT_BLOCK_SIZE, start: int = 1
    ) -> None:
        if block_size < 1:
            raise ValueError("block_size must be at least 1")
        if not 0 <= start < MAX_INVOCATION_COUNTER:
            raise ValueError(f"start must be in 0..{MAX_INVOCATION_COUNTER - 1}")
        self.store = store
        self.name = name
        self.block_size = block_size
        persisted = store.load(name)
        first = start if persisted is None else max(persisted, start)
        self._next = first
        self._ceiling = first  # nothing reserved by this instance yet

    @property
    def value(self) -> int:
        """The value the next call to :meth:`next` returns (if not exhausted)."""
        return self._next

    def next(self) -> int:
        """The next invocation counter value, reserved durably before it is returned."""
        value = self._next
        if value >= self._ceiling:
            if value >= MAX_INVOCATION_COUNTER:
                raise InvocationCounterExhaustedError(
                    f"invocation counter {self.name!r} reached 2**32-1: renew the key"
                )
            ceiling = min(value + self.block_size, MAX_INVOCATION_COUNTER)
            self.store.reserve(self.name, ceiling)
            self._ceiling = ceiling
        self._next = value + 1
        return value

    def reset_for_new_key(self, start: int = 1) -> None:
        """Restart at ``start`` after the key was renewed (the old key's values may then repeat)."""
        self.store.reserve(self.name, start)
        self._next = start
        self._ceiling = start


class MemoryInvocationCounter:
    """A counter without persistence, for keys that do not outlive the process (dedicated keys)."""

    __slots__ = ("_next",)

    def __init__(self, start: int = 1) -> None:
        self._next = start

    @property
    def value(self) -> int:
        return self._next

    def next(self) -> int:
        value = self._next
        if value >= MAX_INVOCATION_COUNTER:
            raise InvocationCounterExhaustedError("invocation counter reached 2**32-1: renew the key")
        self._next = value + 1
        return value


def counter_name(system_title: bytes, key_label: str) -> str:
    """A file-safe counter name for the sender ``system_title`` and a key label (e.g. ``"guek"``)."""
    name = f"{system_title.hex()}-{key_label}"
    _check_name(name)
    return name


class ReplayGuard:
    """Receiving side: the last accepted invocation counter per (sender, key).

    :meth:`check` rejects a value not greater than the last accepted one; :meth:`accept` records a
    value once the APDU carrying it has been authenticated (so forged APDUs cannot move the window).
    """

    __slots__ = ("windows",)

    def __init__(self) -> None:
        self.windows: dict[Hashable, int] = {}
        """Last accepted invocation counter per sender key (read directly by the ciphering fast path)."""

    def check(self, sender: Hashable, invocation_counter: int) -> None:
        last = self.windows.get(sender)
        if last is not None and invocation_counter <= last:
            raise ReplayError(f"invocation counter {invocation_counter} is not greater than {last}")

    def accept(self, sender: Hashable, invocation_counter: int) -> None:
        self.check(sender, invocation_counter)
        self.windows[sender] = invocation_counter

    def commit(self, sender: Hashable, invocation_counter: int) -> None:
        """Record a value already checked with :meth:`check` (no second check)."""
        self.windows[sender] = invocation_counter

    def last(self, sender: Hashable) -> int | None:
        """The last accepted value for ``sender`` (None if none)."""
        return self.windows.get(sender)

    def forget(self, sender: Hashable) -> None:
        """Drop the window of ``sender`` (call when its key is renewed)."""
        self.windows.pop(sender, None)

    def snapshot(self) -> dict[Hashable, int]:
        """A copy of every window (to persist)."""
        return dict(self.windows)

    def restore(self, windows: dict[Hashable, int]) -> None:
        """Load windows saved by :meth:`snapshot` (keeps the greater value per sender)."""
        for sender, value in windows.items():
            if value > self.windows.get(sender, -1):
                self.windows[sender] = value


class SharedFileCounter:
    """A sending-side counter that several processes may use one after the other or at once.

    Each block of ``block_size`` values is reserved under the exclusive lock of the counter
    (:meth:`FileCounterStore.locked`), starting at the greater of the persisted ceiling and the
    next own value, so two processes never hand out the same value; nothing is held between
    reservations. The CLI client keeps one per (client system title, key) (docs/decisions/0033).
    """

    __slots__ = ("_ceiling", "_next", "block_size", "name", "store")

    def __init__(self, store: FileCounterStore, name: str, *, block_size: int = 256, start: int = 1) -> None:
        if block_size < 1:
            raise ValueError("block_size must be at least 1")
        if not 0 <= start < MAX_INVOCATION_COUNTER:
            raise ValueError(f"start must be in 0..{MAX_INVOCATION_COUNTER - 1}")
        _check_name(name)
        self.store = store
        self.name = name
        self.block_size = block_size
        self._next = start
        self._ceiling = start  # nothing reserved yet

    @property
    def value(self) -> int:
        """The smallest value the next call to :meth:`next` may return."""
        return self._next

    def next(self) -> int:
        if self._next >= self._ceiling:
            self._reserve()
        value = self._next
        self._next = value + 1
        return value

    def _reserve(self) -> None:
        with self.store.locked(self.name):
            persisted = self.store.load(self.name)
            first = self._next if persisted is None else max(persisted, self._next)
            if first >= MAX_INVOCATION_COUNTER:
                raise InvocationCounterExhaustedError(
                    f"invocation counter {self.name!r} reached 2**32-1: renew the key"
                )
            ceiling = min(first + self.block_size, MAX_INVOCATION_COUNTER)
            self.store.reserve(self.name, ceiling)
        self._next = first
        self._ceiling = ceiling


def key_fingerprint(key: bytes) -> str:
    """A short, non-reversible name for a key (16 hex digits of a labelled SHA-256): file names and
    table keys use it, never the key itself."""
    digest = hashes.Hash(hashes.SHA256())
    digest.update(b"cosemnet key fingerprint v1\0")
    digest.update(key)
    return digest.finalize()[:8].hex()


def user_state_dir() -> Path:
    """``$XDG_STATE_HOME/cosemnet``, else ``~/.local/state/cosemnet`` (where counters live by default)."""
    base = os.environ.get("XDG_STATE_HOME", "")
    root = Path(base) if base and os.path.isabs(base) else Path.home() / ".local" / "state"
    return root / "cosemnet"


_FLOORS_MAGIC: Final = "cosemnet-replay-floors-v1"


class ReplayFloors:
    """The receiving side's lowest acceptable counters, shared by every association of a server.

    One window table per key (by :func:`key_fingerprint` of the encryption key); each table maps
    ``(peer system title, KeyRole)`` to the last accepted counter, exactly as
    :attr:`ReplayGuard.windows`, so :meth:`guard` hands an association a :class:`ReplayGuard` that
    reads and moves the shared table (also on the ciphering fast path). With a ``path``, the
    tables (global keys only, not dedicated ones) are loaded on construction and written durably by
    :meth:`save` (the server saves when an association is established or released, and on close).
    See docs/decisions/0033.
    """

    __slots__ = ("_saved", "path", "tables")

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self.tables: dict[str, dict[Hashable, int]] = {}
        self._saved = ""
        if self.path is not None:
            self._load(self.path)

    def guard(self, key: bytes | None) -> ReplayGuard:
        """A guard over the shared windows of ``key`` (a private one when there is no key)."""
        guard = ReplayGuard()
        if key is not None:
            guard.windows = self.tables.setdefault(key_fingerprint(key), {})
        return guard

    def _serialise(self) -> str:
        lines = []
        for fingerprint in sorted(self.tables):
            for sender, last in self.tables[fingerprint].items():
                if not isinstance(sender, tuple) or len(sender) != 2:
                    continue
                title, role = sender
                if not isinstance(title, bytes) or int(role) not in _PERSISTED_ROLES:
                    continue
                lines.append(f"{fingerprint} {title.hex()} {int(role)} {last}")
        lines.sort()
        return "\n".join(lines)

    def save(self) -> None:
        """Persist the windows durably if they changed since the last save (no-op without a path)."""
        if self.path is None:
            return
        body = self._serialise()
        if body == self._saved:
            return
        text = f"{_FLOORS_MAGIC} {zlib.crc32(body.encode()):08x}\n{body}\n"
        try:
            write_durably(self.path, text.encode("ascii"))
        except OSError as exc:
            raise CounterStoreError(f"cannot persist the replay floors in {self.path}: {exc}") from None
        self._saved = body

    def _load(self, path: Path) -> None:
        try:
            text = path.read_text("ascii")
        except FileNotFoundError:
            return
        except (OSError, UnicodeDecodeError) as exc:
            raise CounterStoreError(f"cannot read {path}: {exc}") from None
        head, _, body = text.partition("\n")
        body = body.rstrip("\n")
        parts = head.split()
        if len(parts) != 2 or parts[0] != _FLOORS_MAGIC or f"{zlib.crc32(body.encode()):08x}" != parts[1]:
            raise CounterStoreError(f"{path} is corrupt; refusing to forget which counters were used")
        for line in body.splitlines():
            fields = line.split()
            try:
                fingerprint, title, role, last = (
                    fields[0],
                    bytes.fromhex(fields[1]),
                    int(fields[2]),
                    int(fields[3]),
                )
                sender = (title, KeyRole(role))
            except (IndexError, ValueError):
                raise CounterStoreError(f"{path} is corrupt: {line!r}") from None
            table = self.tables.setdefault(fingerprint, {})
            if last > table.get(sender, -1):
                table[sender] = last
        self._saved = self._serialise()


_PERSISTED_ROLES: Final = frozenset({0, 1})
"""KeyRole.GLOBAL_UNICAST and GLOBAL_BROADCAST (dedicated keys die with their association)."""


__all__ = [
    "DEFAULT_BLOCK_SIZE",
    "MAX_INVOCATION_COUNTER",
    "CounterSource",
    "CounterStore",
    "FileCounterStore",
    "InvocationCounter",
    "MemoryCounterStore",
    "MemoryInvocationCounter",
    "ReplayFloors",
    "ReplayGuard",
    "SharedFileCounter",
    "counter_name",
    "key_fingerprint",
    "user_state_dir",
    "write_durably",
]
