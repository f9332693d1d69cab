"""SharedFileCounter, ReplayFloors, key fingerprints and the state directory (docs/decisions/0033)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cosemnet.security.counters import (
    FileCounterStore,
    ReplayFloors,
    SharedFileCounter,
    key_fingerprint,
    user_state_dir,
)
from cosemnet.security.errors import CounterStoreError
from cosemnet.security.keys import KeyRole

TITLE = bytes.fromhex("4D4D4D0000000001")
KEY = bytes(range(16))


def test_two_users_of_one_counter_file_never_share_a_value(tmp_path: Path) -> None:
    store = FileCounterStore(tmp_path, lock=False)
    a = SharedFileCounter(store, "c", block_size=5)
    b = SharedFileCounter(FileCounterStore(tmp_path, lock=False), "c", block_size=5)
    seen = [a.next(), b.next(), a.next(), b.next()]
    seen += [a.next() for _ in range(10)] + [b.next() for _ in range(10)]
    assert len(set(seen)) == len(seen)
    again = SharedFileCounter(store, "c", block_size=5)  # a later run starts above everything
    assert again.next() > max(seen)


def test_concurrent_processes_never_share_a_value(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "from cosemnet.security.counters import FileCounterStore, SharedFileCounter\n"
        "c = SharedFileCounter(FileCounterStore(sys.argv[1], lock=False), 'c', block_size=3)\n"
        "print(' '.join(str(c.next()) for _ in range(200)))\n"
    )
    processes = [
        subprocess.Popen([sys.executable, "-c", script, str(tmp_path)], stdout=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    values = [int(v) for p in processes for v in p.communicate(timeout=60)[0].split()]
    assert len(values) == 800 and len(set(values)) == 800


def test_replay_floors_are_shared_and_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "replay-floors"
    floors = ReplayFloors(path)
    one, two = floors.guard(KEY), floors.guard(KEY)
    one.accept((TITLE, KeyRole.GLOBAL_UNICAST), 10)
    assert two.last((TITLE, KeyRole.GLOBAL_UNICAST)) == 10  # another association sees it
    two.accept((TITLE, KeyRole.DEDICATED), 99)
    assert floors.guard(bytes(16)).last((TITLE, KeyRole.GLOBAL_UNICAST)) is None  # per key
    floors.save()
    text = path.read_text()
    assert KEY.hex() not in text and key_fingerprint(KEY) in text
    again = ReplayFloors(path).guard(KEY)
    assert again.last((TITLE, KeyRole.GLOBAL_UNICAST)) == 10
    assert again.last((TITLE, KeyRole.DEDICATED)) is None  # dedicated keys are not kept
    path.write_text(text.replace(" 10", " 11"))
    with pytest.raises(CounterStoreError):
        ReplayFloors(path)


def test_fingerprint_and_state_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fingerprint = key_fingerprint(KEY)
    assert (
        len(fingerprint) == 16 and fingerprint not in KEY.hex() and fingerprint != key_fingerprint(bytes(16))
    )
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert user_state_dir() == tmp_path / "cosemnet"
    monkeypatch.setenv("XDG_STATE_HOME", "relative/path")  # ignored, as the XDG specification says
    assert user_state_dir() == Path.home() / ".local" / "state" / "cosemnet"
