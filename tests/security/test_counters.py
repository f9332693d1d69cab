"""Invocation counters: strictly increasing, durable block reservation, crash safety, replay guard."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cosemnet.security import CounterStoreError, InvocationCounterExhaustedError, ReplayError
from cosemnet.security.counters import (
    MAX_INVOCATION_COUNTER,
    FileCounterStore,
    InvocationCounter,
    MemoryCounterStore,
    MemoryInvocationCounter,
    ReplayGuard,
    counter_name,
)


def test_memory_store_blocks() -> None:
    store = MemoryCounterStore()
    counter = InvocationCounter(store, "c", block_size=10)
    assert [counter.next() for _ in range(25)] == list(range(1, 26))
    assert store.reservations == 3 and store.load("c") == 31
    # a restart resumes at the reserved ceiling, skipping the unused rest of the block
    again = InvocationCounter(store, "c", block_size=10)
    assert again.value == 31 and again.next() == 31


def test_reservation_happens_before_the_value_is_handed_out() -> None:
    class FailingStore(MemoryCounterStore):
        def reserve(self, name: str, ceiling: int) -> None:
            raise CounterStoreError("disk full")

    counter = InvocationCounter(FailingStore(), "c", block_size=4)
    with pytest.raises(CounterStoreError):
        counter.next()
    with pytest.raises(CounterStoreError):
        counter.next()  # still nothing handed out


def test_exhaustion_at_2_pow_32_minus_1() -> None:
    store = MemoryCounterStore()
    counter = InvocationCounter(store, "c", block_size=1000, start=MAX_INVOCATION_COUNTER - 3)
    assert [counter.next() for _ in range(3)] == [0xFFFFFFFC, 0xFFFFFFFD, 0xFFFFFFFE]
    assert store.load("c") == MAX_INVOCATION_COUNTER  # the ceiling is clamped
    with pytest.raises(InvocationCounterExhaustedError, match="renew the key"):
        counter.next()
    with pytest.raises(InvocationCounterExhaustedError):
        InvocationCounter(store, "c").next()  # also after a restart
    counter.reset_for_new_key()
    assert counter.next() == 1
    memory = MemoryInvocationCounter(MAX_INVOCATION_COUNTER - 1)
    assert memory.next() == MAX_INVOCATION_COUNTER - 1
    with pytest.raises(InvocationCounterExhaustedError):
        memory.next()


def test_file_store(tmp_path: Path) -> None:
    with FileCounterStore(tmp_path) as store:
        assert store.load("guek") is None
        counter = InvocationCounter(store, "guek", block_size=100)
        assert counter.next() == 1
        assert (tmp_path / "guek.ic").read_text().startswith("cosemnet-ic-v1 101 ")
        assert not (tmp_path / "guek.ic.tmp").exists()
        with pytest.raises(CounterStoreError, match="in use"):
            FileCounterStore(tmp_path)
    with FileCounterStore(tmp_path) as store:
        assert InvocationCounter(store, "guek").next() == 101


@pytest.mark.parametrize("content", ["", "garbage", "cosemnet-ic-v1 101 00000000\n", "cosemnet-ic-v1 -5 0\n"])
def test_corrupt_file_is_an_error(tmp_path: Path, content: str) -> None:
    (tmp_path / "guek.ic").write_text(content)
    with FileCounterStore(tmp_path) as store, pytest.raises(CounterStoreError):
        InvocationCounter(store, "guek")


def test_counter_names(tmp_path: Path) -> None:
    assert counter_name(bytes.fromhex("4D4D4D0000BC614E"), "guek") == "4d4d4d0000bc614e-guek"
    with FileCounterStore(tmp_path, lock=False) as store:
        for bad in ("", "../x", ".hidden", "a/b"):
            with pytest.raises(CounterStoreError):
                store.load(bad)


def test_replay_guard() -> None:
    guard = ReplayGuard()
    guard.accept("a", 5)
    with pytest.raises(ReplayError):
        guard.accept("a", 5)
    with pytest.raises(ReplayError):
        guard.check("a", 4)
    guard.check("b", 0)
    guard.accept("a", 6)
    saved = guard.snapshot()
    fresh = ReplayGuard()
    fresh.restore(saved)
    with pytest.raises(ReplayError):
        fresh.check("a", 6)
    fresh.forget("a")
    fresh.check("a", 1)
    assert fresh.last("a") is None


CHILD = r"""
import os, sys
from cosemnet.security.counters import FileCounterStore, InvocationCounter
directory, log, block = sys.argv[1], sys.argv[2], int(sys.argv[3])
counter = InvocationCounter(FileCounterStore(directory), "guek", block_size=block)
fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
sys.stdout.write("ready\n")
sys.stdout.flush()
while True:
    value = counter.next()
    os.write(fd, b"%d\n" % value)  # logged (in the kernel) before it is used
    # ... here the value would go into an IV
"""


def test_sigkill_never_reuses_a_value(tmp_path: Path) -> None:
    """Kill a counting child process at random points, 30 times; no value may ever repeat."""
    rng = random.Random(int.from_bytes(os.urandom(4), "big"))
    log = tmp_path / "used.log"
    state = tmp_path / "state"
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    rounds_with_values = 0
    deadline = time.monotonic() + 25
    for _ in range(30):
        block = rng.choice([1, 3, 8, 64])
        child = subprocess.Popen(
            [sys.executable, str(script), str(state), str(log), str(block)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert child.stdout is not None
        assert child.stdout.readline() == b"ready\n", child.stderr.read() if child.stderr else b""
        before = log.stat().st_size if log.exists() else 0
        time.sleep(rng.uniform(0.0, 0.08))
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
        assert child.stderr is not None
        child.stderr.close()
        if log.exists() and log.stat().st_size > before:
            rounds_with_values += 1
        assert time.monotonic() < deadline
    lines = log.read_bytes().split(b"\n")
    assert lines[-1] == b"" or lines[-1].isdigit()
    values = [int(line) for line in lines if line]
    assert len(values) > 100 and rounds_with_values >= 20
    assert len(set(values)) == len(values), "an invocation counter value was used twice"
    assert values == sorted(values)
    with FileCounterStore(state) as store:
        ceiling = store.load("guek")
    assert ceiling is not None and ceiling > values[-1]
