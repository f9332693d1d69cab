"""Head-end throttling, sans-IO: requests in flight, timeouts, retries with backoff and jitter.

A mesh neighbourhood network carries a few kbit/s per border router; a head-end that sends a read
to 10,000 meters at once floods it. The TS (7.6, "media access, bandwidth and timing
considerations") leaves the policy to the implementation. **Our design** (decision record
``docs/decisions/0025-headend-throttling.md``), every limit configurable:

* at most ``max_in_flight`` requests outstanding overall, at most ``max_per_border_router`` per
  border router (when the request names one) and at most ``max_per_prefix`` per /64 prefix (the
  prefix length is configurable) of the destination address;
* pending requests are served round-robin across (border router, prefix) buckets, FIFO inside a
  bucket, so one large subnet cannot starve the others and a full bucket does not block the rest;
* a request without an answer after ``timeout`` seconds is retried after an exponential backoff
  ``min(backoff_max, backoff_base * backoff_factor ** (attempt - 1))`` with jitter: the delay is
  multiplied by a uniform factor in ``[1 - jitter, 1]`` (0 = no jitter, 1 = "full jitter"); after
  ``max_retries`` retries it is given up;
* time is a float of the caller's monotonic clock; randomness is the caller's ``random.Random``.

Driver loop::

    throttle.submit(request, now)
    for event in throttle.expire(now): ...       # timeouts, retries scheduled, give-ups
    while (req := throttle.next_ready(now)) is not None: send(req.request)
    wait until throttle.next_deadline() or an answer arrives (then throttle.completed(key, now))
"""

from __future__ import annotations

import heapq
import ipaddress
import random
from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass, field
from enum import Enum

__all__ = [
    "Attempt",
    "Completion",
    "Throttle",
    "ThrottleConfig",
    "ThrottleEvent",
    "ThrottleEventKind",
    "ThrottledRequest",
]


@dataclass(frozen=True, slots=True)
class ThrottleConfig:
    max_in_flight: int = 64
    max_per_border_router: int = 8
    max_per_prefix: int = 4
    prefix_length: int = 64
    timeout: float = 30.0
    max_retries: int = 3
    backoff_base: float = 5.0
    backoff_factor: float = 2.0
    backoff_max: float = 300.0
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if min(self.max_in_flight, self.max_per_border_router, self.max_per_prefix) < 1:
            raise ValueError("limits must be at least 1")
        if not 0 <= self.prefix_length <= 128:
            raise ValueError("prefix_length must be 0..128")
        if self.timeout <= 0 or self.backoff_base < 0 or self.backoff_max < 0 or self.backoff_factor < 1:
            raise ValueError("timeout must be > 0, backoff values >= 0, backoff_factor >= 1")
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError("jitter must be in [0, 1]")
        if self.max_retries < 0:
            raise ValueError("max_retries must not be negative")

    def backoff(self, attempt: int) -> float:
        """Backoff before retry number ``attempt`` (1-based), without jitter."""
        exponent = min(attempt - 1, 64)
        return min(self.backoff_max, self.backoff_base * self.backoff_factor**exponent)


@dataclass(frozen=True, slots=True)
class ThrottledRequest:
    """What the throttle needs to know about a request; ``request`` is opaque to it."""

    key: Hashable
    """Unique while the request is active (e.g. (system title, invoke id))."""
    address: ipaddress.IPv6Address
    border_router: Hashable = None
    request: object = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Attempt:
    """Send ``request`` now (attempt 1 = first transmission)."""

    request: ThrottledRequest
    attempt: int
    deadline: float


class ThrottleEventKind(Enum):
    TIMED_OUT_RETRYING = "timed-out-retrying"
    GAVE_UP = "gave-up"


@dataclass(frozen=True, slots=True)
class ThrottleEvent:
    kind: ThrottleEventKind
    request: ThrottledRequest
    attempt: int
    """The attempt that timed out."""
    retry_at: float | None = None


class Completion(Enum):
    COMPLETED = "completed"
    RETRY_SCHEDULED = "retry-scheduled"
    GAVE_UP = "gave-up"
    UNKNOWN = "unknown"
    """Not active (already completed, given up, or never submitted): ignore the answer."""


@dataclass(slots=True, eq=False)
class _Entry:
    request: ThrottledRequest
    bucket: tuple[Hashable, bytes]
    attempt: int = 0
    deadline: float = 0.0
    in_flight: bool = False
    generation: int = 0
    """Bumped on every state change; lazy heap entries with another value are stale."""


class Throttle:
    """Sans-IO request throttle (see the module docstring)."""

    def __init__(self, config: ThrottleConfig | None = None, rng: random.Random | None = None) -> None:
        self.config = config or ThrottleConfig()
        self.rng = rng or random.Random()
        self._entries: dict[Hashable, _Entry] = {}
        self._buckets: dict[tuple[Hashable, bytes], deque[_Entry]] = {}
        self._eligible: deque[tuple[Hashable, bytes]] = deque()
        self._eligible_set: set[tuple[Hashable, bytes]] = set()
        self._parked: set[tuple[Hashable, bytes]] = set()
        self._in_flight = 0
        self._per_prefix: dict[bytes, int] = {}
        self._per_router: dict[Hashable, int] = {}
        # heaps of (time, sequence, key, generation); entries whose generation moved on are stale
        self._timeouts: list[tuple[float, int, Hashable, int]] = []
        self._delayed: list[tuple[float, int, Hashable, int]] = []
        self._seq = 0

    # -- bookkeeping ---------------------------------------------------------------------------

    def _prefix(self, address: ipaddress.IPv6Address) -> bytes:
        n = self.config.prefix_length
        value = int(address) >> (128 - n) << (128 - n) if n else 0
        return value.to_bytes(16, "big") + bytes((n,))

    def _push_bucket(self, entry: _Entry, front: bool = False) -> None:
        bucket = self._buckets.setdefault(entry.bucket, deque())
        if front:
            bucket.appendleft(entry)
        else:
            bucket.append(entry)
        self._make_eligible(entry.bucket)

    def _make_eligible(self, key: tuple[Hashable, bytes]) -> None:
        if key not in self._eligible_set:
            self._eligible_set.add(key)
            self._eligible.append(key)

    def _has_room(self, key: tuple[Hashable, bytes]) -> bool:
        router, prefix = key
        if self._per_prefix.get(prefix, 0) >= self.config.max_per_prefix:
            return False
        return router is None or self._per_router.get(router, 0) < self.config.max_per_border_router

    # -- API -----------------------------------------------------------------------------------

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @property
    def pending(self) -> int:
        """Requests submitted and not yet completed or given up (queued, delayed or in flight)."""
        return len(self._entries)

    def in_flight_for_prefix(self, address: ipaddress.IPv6Address) -> int:
        return self._per_prefix.get(self._prefix(address), 0)

    def in_flight_for_border_router(self, border_router: Hashable) -> int:
        return self._per_router.get(border_router, 0)

    def submit(self, request: ThrottledRequest, now: float = 0.0) -> None:
        """Queue a request (FIFO within its bucket). ``now`` is unused but kept for symmetry."""
        if request.key in self._entries:
            raise ValueError(f"request {request.key!r} is already active")
        entry = _Entry(request, (request.border_router, self._prefix(request.address)))
        self._entries[request.key] = entry
        self._push_bucket(entry)

    def next_ready(self, now: float) -> Attempt | None:
        """The next request that may be sent now, marked in flight; None when limits or an empty
        queue forbid it."""
        self._release_delayed(now)
        if self._in_flight >= self.config.max_in_flight:
            return None
        for _ in range(len(self._eligible)):
            key = self._eligible.popleft()
            self._eligible_set.discard(key)
            bucket = self._buckets.get(key)
            if not bucket:
                self._buckets.pop(key, None)
                continue
            if not self._has_room(key):
                self._parked.add(key)
                continue
            entry = bucket.popleft()
            if bucket:
                self._make_eligible(key)
            else:
                del self._buckets[key]
            return self._start(entry, now)
        return None

    def _start(self, entry: _Entry, now: float) -> Attempt:
        entry.attempt += 1
        entry.in_flight = True
        entry.deadline = now + self.config.timeout
        entry.generation += 1
        router, prefix = entry.bucket
        self._in_flight += 1
        self._per_prefix[prefix] = self._per_prefix.get(prefix, 0) + 1
        if router is not None:
            self._per_router[router] = self._per_router.get(router, 0) + 1
        self._seq += 1
        heapq.heappush(self._timeouts, (entry.deadline, self._seq, entry.request.key, entry.generation))
        return Attempt(entry.request, entry.attempt, entry.deadline)

    def _release(self, entry: _Entry) -> None:
        """Free the slot of an in-flight entry and wake parked buckets that may now proceed."""
        entry.in_flight = False
        entry.generation += 1
        router, prefix = entry.bucket
        self._in_flight -= 1
        self._per_prefix[prefix] -= 1
        if not self._per_prefix[prefix]:
            del self._per_prefix[prefix]
        if router is not None:
            self._per_router[router] -= 1
            if not self._per_router[router]:
                del self._per_router[router]
        if self._parked:
            # wake every parked bucket; next_ready parks again those still full. Parked buckets
            # are few (one per saturated prefix), so this stays cheap.
            for key in self._parked:
                self._make_eligible(key)
            self._parked.clear()

    def _release_delayed(self, now: float) -> None:
        while self._delayed and self._delayed[0][0] <= now:
            _, _, key, generation = heapq.heappop(self._delayed)
            entry = self._entries.get(key)
            if entry is None or entry.generation != generation:
                continue
            self._push_bucket(entry, front=True)

    def completed(self, key: Hashable, now: float, ok: bool = True) -> Completion:
        """An answer arrived for ``key``. ``ok=False``: the answer asks for a retry (e.g. a
        temporary failure); it counts like a timeout."""
        entry = self._entries.get(key)
        if entry is None:
            return Completion.UNKNOWN
        if ok:
            if entry.in_flight:
                self._release(entry)
            else:
                # answer to an earlier attempt while waiting for a retry: success all the same
                self._drop_from_queues(entry)
            del self._entries[key]
            return Completion.COMPLETED
        if not entry.in_flight:
            return Completion.UNKNOWN
        self._release(entry)
        event = self._fail(entry, now)
        return Completion.GAVE_UP if event.kind is ThrottleEventKind.GAVE_UP else Completion.RETRY_SCHEDULED

    def _drop_from_queues(self, entry: _Entry) -> None:
        entry.generation += 1
        bucket = self._buckets.get(entry.bucket)
        if bucket is not None and entry in bucket:
            bucket.remove(entry)
        # delayed heap entries are skipped lazily (the key is gone from _entries)

    def cancel(self, key: Hashable) -> bool:
        """Forget a request (queued, delayed or in flight)."""
        entry = self._entries.pop(key, None)
        if entry is None:
            return False
        if entry.in_flight:
            self._release(entry)
        else:
            self._drop_from_queues(entry)
        return True

    def _fail(self, entry: _Entry, now: float) -> ThrottleEvent:
        if entry.attempt > self.config.max_retries:
            del self._entries[entry.request.key]
            return ThrottleEvent(ThrottleEventKind.GAVE_UP, entry.request, entry.attempt)
        delay = self.config.backoff(entry.attempt)
        delay *= 1.0 - self.config.jitter * self.rng.random()
        retry_at = now + delay
        self._seq += 1
        entry.generation += 1
        heapq.heappush(self._delayed, (retry_at, self._seq, entry.request.key, entry.generation))
        return ThrottleEvent(ThrottleEventKind.TIMED_OUT_RETRYING, entry.request, entry.attempt, retry_at)

    def expire(self, now: float) -> list[ThrottleEvent]:
        """Time out every in-flight request whose deadline passed (schedules retries or gives up)."""
        events: list[ThrottleEvent] = []
        while self._timeouts and self._timeouts[0][0] <= now:
            _, _, key, generation = heapq.heappop(self._timeouts)
            entry = self._entries.get(key)
            if entry is None or entry.generation != generation:
                continue
            self._release(entry)
            events.append(self._fail(entry, now))
        return events

    def next_deadline(self) -> float | None:
        """Earliest instant at which :meth:`expire` or :meth:`next_ready` has something new to do
        (a timeout or a retry becoming due); None when nothing is timed."""
        while self._timeouts:
            _, _, key, generation = self._timeouts[0]
            entry = self._entries.get(key)
            if entry is not None and entry.generation == generation:
                break
            heapq.heappop(self._timeouts)
        while self._delayed:
            _, _, key, generation = self._delayed[0]
            entry = self._entries.get(key)
            if entry is not None and entry.generation == generation:
                break
            heapq.heappop(self._delayed)
        candidates = [h[0][0] for h in (self._timeouts, self._delayed) if h]
        return min(candidates) if candidates else None
