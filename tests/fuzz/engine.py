"""A small deterministic mutation fuzzer for the fuzz smoke tests (issue 9).

Each target gets a corpus of valid messages; every input is one of them mutated (bit flips, byte
edits, truncations, length-field edits, splices with another corpus entry, inserted and deleted runs)
or plain random bytes, drawn from ``random.Random(seed)``. An input fails when its target raises
anything but the project's error classes or takes longer than :data:`INPUT_TIME_LIMIT` (a hang).
Failures are shrunk (bytes removed while the same failure remains) and reported as hex.

``COSEMNET_FUZZ_SCALE`` multiplies every input count (default 1: the CI smoke run; e.g. 10 or 100 for
a longer run). ``COSEMNET_FUZZ_SEED`` shifts every seed.
"""

from __future__ import annotations

import os
import random
import signal
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType

from cosemnet.errors import CosemnetError

SCALE = float(os.environ.get("COSEMNET_FUZZ_SCALE", "1"))
SEED_SHIFT = int(os.environ.get("COSEMNET_FUZZ_SEED", "0"))
INPUT_TIME_LIMIT = 5.0
"""Seconds one input may take before it counts as a hang (generous: the machine is shared)."""

ALLOWED: tuple[type[BaseException], ...] = (CosemnetError,)
"""cosemnet.errors: DecodeError (decoders), EncodeError (the JSON form, OBIS text) and their families."""

TOTALS: dict[str, int] = {}
"""Inputs run per target in this process (printed by the tests with ``-s``)."""

_INTERESTING = (0x00, 0x01, 0x02, 0x7F, 0x80, 0x81, 0x82, 0x83, 0x84, 0xFE, 0xFF)


def attempt(call: Callable[..., object], *args: object, **kwargs: object) -> bool:
    """``call(*args, **kwargs)``; False when it raised a project error (so one input can go through
    several decoders, each rejecting it on its own)."""
    try:
        call(*args, **kwargs)
    except ALLOWED:
        return False
    return True


def budget(count: int) -> int:
    """``count`` scaled by ``COSEMNET_FUZZ_SCALE``."""
    return max(1, int(count * SCALE))


class Hang(Exception):
    """An input ran longer than :data:`INPUT_TIME_LIMIT`."""


def _alarm(signum: int, frame: FrameType | None) -> None:
    raise Hang(f"input ran longer than {INPUT_TIME_LIMIT} s")


@contextmanager
def time_bound(seconds: float) -> Iterator[None]:
    """Raise :class:`Hang` inside the block after ``seconds`` (SIGALRM: main thread only)."""
    try:
        previous = signal.signal(signal.SIGALRM, _alarm)
    except ValueError:  # not the main thread: the elapsed-time check in fuzz() still catches slow inputs
        yield
        return
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class Mutator:
    """Mutations of corpus entries, all drawn from one ``random.Random``."""

    def __init__(self, rng: random.Random, corpus: Sequence[bytes]) -> None:
        self.rng = rng
        self.corpus = [bytes(c) for c in corpus]
        self._ops: list[Callable[[bytearray], bytearray]] = [
            self.bit_flip,
            self.bit_flip,
            self.byte_set,
            self.truncate,
            self.length_edit,
            self.length_edit,
            self.splice,
            self.insert,
            self.delete,
            self.duplicate,
        ]

    def input(self) -> bytes:
        """One fuzz input: random bytes (1 in 16) or a corpus entry with 1-4 mutations."""
        rng = self.rng
        if rng.random() < 1 / 16 or not self.corpus:
            return rng.randbytes(rng.randrange(0, 48))
        data = bytearray(rng.choice(self.corpus))
        for _ in range(rng.choice((1, 1, 1, 2, 2, 3, 4))):
            data = rng.choice(self._ops)(data)
        return bytes(data)

    def _position(self, data: bytearray) -> int:
        return self.rng.randrange(len(data)) if data else 0

    def bit_flip(self, data: bytearray) -> bytearray:
        if data:
            data[self._position(data)] ^= 1 << self.rng.randrange(8)
        return data

    def byte_set(self, data: bytearray) -> bytearray:
        if data:
            data[self._position(data)] = self.rng.choice((*_INTERESTING, self.rng.randrange(256)))
        return data

    def truncate(self, data: bytearray) -> bytearray:
        return data[: self.rng.randrange(len(data) + 1)]

    def length_edit(self, data: bytearray) -> bytearray:
        """Overwrite a byte that may be a length with a length-like value (remaining +-1, long forms)."""
        if not data:
            return data
        pos = self._position(data)
        remaining = len(data) - pos - 1
        rng = self.rng
        choice = rng.randrange(6)
        if choice == 0:
            data[pos] = max(0, min(255, remaining + rng.choice((-2, -1, 1, 2))))
        elif choice == 1:
            data[pos] = rng.choice((0x00, 0x7F, 0x80, 0xFF))
        elif choice == 2:  # a long form with an absurd length
            size = rng.choice((1, 2, 3, 4, 8, 0x7F))
            data[pos : pos + 1] = bytes((0x80 | min(size, 0x7F),)) + b"\xff" * min(size, 8)
        elif choice == 3:  # a 2-byte big-endian length (wrapper, CN/IP, counts)
            data[pos : pos + 2] = max(0, remaining + rng.choice((-1, 0, 1, 0xFFFF))).to_bytes(4, "big")[-2:]
        elif choice == 4:
            data[pos] = 0x80 | rng.randrange(5)
        else:
            data[pos] = (data[pos] + rng.choice((-1, 1))) & 0xFF
        return data

    def splice(self, data: bytearray) -> bytearray:
        other = self.rng.choice(self.corpus)
        cut = self.rng.randrange(len(data) + 1)
        start = self.rng.randrange(len(other) + 1)
        return data[:cut] + other[start:]

    def insert(self, data: bytearray) -> bytearray:
        pos = self.rng.randrange(len(data) + 1)
        return data[:pos] + self.rng.randbytes(self.rng.randrange(1, 9)) + data[pos:]

    def delete(self, data: bytearray) -> bytearray:
        if not data:
            return data
        pos = self._position(data)
        return data[:pos] + data[pos + self.rng.randrange(1, 9) :]

    def duplicate(self, data: bytearray) -> bytearray:
        if not data:
            return data
        pos = self._position(data)
        piece = data[pos : pos + self.rng.randrange(1, 17)]
        return data[:pos] + piece * self.rng.randrange(2, 5) + data[pos:]


@dataclass
class Failure:
    data: bytes
    error: str
    trace: str


@dataclass
class Outcome:
    target: str
    inputs: int = 0
    rejected: int = 0
    """Inputs answered with a project error (cosemnet.errors)."""
    failures: dict[str, Failure] = field(default_factory=dict)
    """By failure signature (exception type and innermost source line)."""

    def check(self) -> None:
        """Fail the test with every distinct failure (shrunk input as hex and the traceback)."""
        if self.failures:
            parts = [
                f"{self.target}: {f.error}\n  input: {f.data.hex()}\n{f.trace}"
                for f in self.failures.values()
            ]
            raise AssertionError(f"{len(self.failures)} distinct failure(s)\n" + "\n".join(parts))


def _signature(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    where = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "?"
    return f"{type(exc).__name__} at {where}"


REJECTED = "rejected"
"""What :func:`run_one` returns for an input answered with an allowed (project) error."""


def run_one(
    run: Callable[[bytes], object], data: bytes, allowed: tuple[type[BaseException], ...]
) -> str | None:
    """None when ``run(data)`` finishes, :data:`REJECTED` when it raises an allowed error, else the
    failure signature (other exceptions propagate)."""
    start = time.perf_counter()
    result = None
    try:
        with time_bound(INPUT_TIME_LIMIT):
            run(data)
    except allowed:
        result = REJECTED
    except Hang:
        return "Hang"
    if time.perf_counter() - start > INPUT_TIME_LIMIT:
        return "Hang (slow)"
    return result


def shrink(
    run: Callable[[bytes], object], data: bytes, signature: str, allowed: tuple[type[BaseException], ...]
) -> bytes:
    """Remove runs of bytes while the same failure remains (a few hundred attempts at most)."""

    def same(candidate: bytes) -> bool:
        try:
            return run_one(run, candidate, allowed) == signature
        except Exception as exc:
            return _signature(exc) == signature

    attempts = 0
    size = max(1, len(data) // 2)
    while size >= 1 and attempts < 400:
        pos = 0
        while pos < len(data) and attempts < 400:
            candidate = data[:pos] + data[pos + size :]
            attempts += 1
            if same(candidate):
                data = candidate
            else:
                pos += size
        size //= 2
    return data


def fuzz(
    target: str,
    corpus: Sequence[bytes],
    run: Callable[[bytes], object],
    count: int,
    seed: int,
    *,
    allowed: tuple[type[BaseException], ...] = ALLOWED,
    reset: Callable[[], None] | None = None,
    reset_every: int = 0,
    replay: Callable[[bytes], object] | None = None,
) -> Outcome:
    """Run ``count`` inputs (scaled) through ``run``; the corpus entries themselves first.

    ``reset`` (every ``reset_every`` inputs) gives a stateful target fresh state. ``replay`` reruns one
    input on fresh state for shrinking (default: ``run``).
    """
    rng = random.Random(seed + SEED_SHIFT)
    mutator = Mutator(rng, corpus)
    outcome = Outcome(target)
    total = budget(count)
    inputs: Iterator[bytes] = iter([*corpus, *(mutator.input() for _ in range(max(0, total - len(corpus))))])
    for index, data in enumerate(inputs):
        if reset is not None and reset_every and index % reset_every == 0:
            reset()
        outcome.inputs += 1
        try:
            signature = run_one(run, data, allowed)
        except Exception as exc:
            signature = _signature(exc)
            trace = traceback.format_exc(limit=-6)
        else:
            if signature is None or signature == REJECTED:
                outcome.rejected += signature == REJECTED
                continue
            trace = ""
        if signature in outcome.failures or len(outcome.failures) >= 8:
            continue
        # a hang costs INPUT_TIME_LIMIT per attempt: report it as it came
        small = data if signature.startswith("Hang") else shrink(replay or run, data, signature, allowed)
        outcome.failures[signature] = Failure(small, signature, trace)
        if reset is not None:
            reset()
    TOTALS[target] = TOTALS.get(target, 0) + outcome.inputs
    print(f"fuzz {target}: {outcome.inputs} inputs, {outcome.rejected} rejected with a project error")
    return outcome
