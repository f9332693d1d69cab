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

**Adaptive mode** (``adaptive=True``, the default; decision record
``docs/decisions/0080-headend-adaptive-timers-and-concurrency.md``):

* the timeout of an attempt is the retransmission timeout (RTO) learned from measured round trips,
  one estimator per destination (``ThrottledRequest.destination``, else the address) once it has a
  sample, with one estimator per border router (or per prefix when the request names none) as the
  prior for destinations without one (decision 0100), in the manner of RFC 6298:
  ``SRTT + max(rto_min, 4 * RTTVAR)`` within ``[rto_min, rto_max]``, ``rto_initial`` before the
  first sample; Karn's rule: only round trips sent once give samples; on a timeout the estimator's
  RTO doubles (at most once per RTO, until the next valid sample) and each retry of a request waits
  ``backoff_factor`` times longer than its previous attempt (only once while the loss is judged
  random, see below); the retry is sent as soon as a slot is free (the expired RTO was the wait);
* a multi-round-trip attempt (association then GET, block transfer) calls :meth:`Throttle.progress`
  at each intermediate answer: a sample, and the deadline re-armed for the next round trip;
* the concurrency of each prefix and each border router is a congestion window (AIMD): it starts at
  ``initial_window``, grows by one per answer up to half the ceiling's worth (slow start) then by
  ``1/window`` per answer, and halves on a timeout (at most once per window of requests) when more
  than ``loss_tolerance`` of its recent round trips were lost (decision 0100: below that the loss is
  taken for the radio's); a timeout of a destination never answered yet does not reduce; the
  configured ``max_per_prefix`` / ``max_per_border_router`` are the ceilings, ``max_in_flight`` stays
  a fixed overall cap;
* a retry still unanswered one computed (not backed-off) RTO after it was sent is presumed lost: it
  no longer counts against the limits (the retry of one unlucky meter, waiting for its backed-off
  timer, does not hold a slot of its prefix), yet an answer until its own deadline still completes
  it.

Driver loop::

    throttle.submit(request, now)
    for event in throttle.expire(now): ...       # timeouts, retries scheduled, give-ups
    while (req := throttle.next_ready(now)) is not None: send(req.request)
    wait until throttle.get_timer() or an answer arrives (then throttle.completed(key, now))
"""

from __future__ import annotations

import heapq
import ipaddress
import itertools
import math
import random
from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass, field
from enum import Enum

__all__ = [
    "Attempt",
    "Completion",
    "CongestionWindow",
    "RttEstimator",
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
    """Fixed mode: seconds per attempt."""
    max_retries: int = 8
    backoff_base: float = 5.0
    """Fixed mode: pause before the first retry (then x ``backoff_factor``, capped at ``backoff_max``)."""
    backoff_factor: float = 2.0
    backoff_max: float = 300.0
    jitter: float = 0.5
    adaptive: bool = True
    """Timers learned from round trips and AIMD concurrency (decision 0080); False: the fixed
    ``timeout`` and ``backoff_*`` of decision 0025 and the limits as they are."""
    rto_initial: float = 1.0
    """Adaptive: RTO before the first round-trip sample of a border router / prefix (RFC 6298: 1 s)."""
    rto_min: float = 0.005
    """Adaptive: lower bound of the RTO (and of the variance term); small so that loopback and LANs
    are not slowed down by loss; a deployment may raise it (RFC 6298 recommends 1 s for TCP)."""
    rto_max: float = 60.0
    """Adaptive: upper bound of the RTO, back-off included."""
    initial_window: int = 2
    """Adaptive: requests in flight per prefix / border router before any answer."""
    backoff_doublings: int = 4
    """Adaptive: a retry's timer grows ``backoff_factor`` times per attempt at most this many times
    (as CoAP's MAX_RETRANSMIT bounds its doubling): at 30 % loss an unbounded doubling left a few
    meters waiting tens of seconds for nothing (decision 0080)."""
    min_window: int = 2
    """Adaptive: the window never halves below this (capped by the ceilings): with 1, a single lost
    datagram stalls a whole prefix for an RTO (decision 0080)."""
    loss_tolerance: float = 0.5
    """Adaptive: a timeout halves a window only when more than this fraction of the window's last
    ``max(32, window)`` round trips were lost (0: every loss, as TCP); below it the loss is taken
    for the radio's and retries are not slowed down (decision 0100)."""
    per_destination: bool = True
    """Adaptive: one RTO estimator per destination address, the border router's / prefix's estimator
    as the prior for destinations without a sample yet (decision 0100)."""
    max_destinations: int = 100_000
    """Adaptive: destination estimators kept (the oldest is forgotten beyond)."""

    def __post_init__(self) -> None:
        limits = (self.max_in_flight, self.max_per_border_router, self.max_per_prefix, self.initial_window)
        if min(*limits, self.min_window, self.max_destinations) < 1:
            raise ValueError("limits must be at least 1")
        if not 0 < self.rto_min <= self.rto_initial <= self.rto_max:
            raise ValueError("need 0 < rto_min <= rto_initial <= rto_max")
        if not 0 <= self.prefix_length <= 128:
            raise ValueError("prefix_length must be 0..128")
        if self.timeout <= 0 or self.backoff_base < 0 or self.backoff_max < 0 or self.backoff_factor < 1:
            raise ValueError("timeout must be > 0, backoff values >= 0, backoff_factor >= 1")
        if not 0.0 <= self.jitter <= 1.0 or not 0.0 <= self.loss_tolerance <= 1.0:
            raise ValueError("jitter and loss_tolerance must be in [0, 1]")
        if self.max_retries < 0 or self.backoff_doublings < 0:
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
    destination: Hashable = None
    """What the per-destination RTO estimator is keyed by (e.g. the meter's system title: meters
    may share an address); None: the address (decision 0100)."""

    @property
    def peer(self) -> Hashable:
        return self.address if self.destination is None else self.destination


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


_MIN_LOSS_HISTORY = 32
"""Outcomes a window's loss rate is measured over at least (decision 0100)."""
_RANDOM_LOSS_DOUBLINGS = 1
"""Doublings of a retry's timer while the loss is judged random (decision 0100)."""


class Completion(Enum):
    COMPLETED = "completed"
    RETRY_SCHEDULED = "retry-scheduled"
    GAVE_UP = "gave-up"
    UNKNOWN = "unknown"
    """Not active (already completed, given up, or never submitted): ignore the answer."""


class RttEstimator:
    """Retransmission timeout from round-trip samples, after RFC 6298 (decision 0080)."""

    __slots__ = ("backed_off_at", "computed", "rto", "rto_max", "rto_min", "rttvar", "samples", "srtt")

    def __init__(self, rto_initial: float, rto_min: float, rto_max: float) -> None:
        self.srtt: float | None = None
        self.rttvar = 0.0
        self.rto = rto_initial
        """The RTO for a first attempt: computed from the samples, doubled by timeouts since the last one."""
        self.computed: float | None = None
        """SRTT + max(rto_min, 4 RTTVAR) without back-off (None before the first sample)."""
        self.rto_min = rto_min
        self.rto_max = rto_max
        self.samples = 0
        self.backed_off_at = -math.inf

    def sample(self, rtt: float, prior_rttvar: float = 0.0) -> None:
        """A round trip measured on a request sent once (Karn's rule is the caller's). The first
        sample sets RTTVAR to ``max(rtt / 2, prior_rttvar)`` (RFC 6298: R/2; the prior: the variation
        seen by the shared estimator, decision 0100)."""
        rtt = max(0.0, rtt)
        if self.srtt is None:
            self.srtt = rtt
            self.rttvar = max(rtt / 2, prior_rttvar)
        else:
            self.rttvar = 0.75 * self.rttvar + 0.25 * abs(self.srtt - rtt)
            self.srtt = 0.875 * self.srtt + 0.125 * rtt
        self.samples += 1
        self.computed = min(self.rto_max, max(self.rto_min, self.srtt + max(self.rto_min, 4 * self.rttvar)))
        self.rto = self.computed
        self.backed_off_at = -math.inf

    @property
    def base(self) -> float:
        """What a retry's exponential back-off starts from: the computed RTO (the backed-off one
        before any sample)."""
        return self.rto if self.computed is None else self.computed

    def back_off(self, sent_at: float, now: float) -> None:
        """A timeout of a request sent at ``sent_at``: double the RTO, once per back-off (a timeout of
        a request sent before the previous back-off does not double it again)."""
        if sent_at >= self.backed_off_at:
            self.rto = min(self.rto_max, self.rto * 2)
            self.backed_off_at = now


class CongestionWindow:
    """Requests allowed in flight towards one prefix or border router: slow start, additive
    increase, multiplicative decrease (decision 0080); the decrease only while the loss rate of the
    last outcomes exceeds ``loss_tolerance``: a mesh radio loses datagrams at random, and halving
    the window for each of them keeps a high-latency path nearly idle (decision 0100)."""

    __slots__ = ("ceiling", "floor", "loss_tolerance", "outcomes", "reduced_at", "ssthresh", "window")

    def __init__(self, initial: int, ceiling: int, floor: int = 1, loss_tolerance: float = 0.0) -> None:
        self.ceiling = ceiling
        self.floor = max(1, min(floor, ceiling))
        self.window = float(min(initial, ceiling))
        self.ssthresh = float(ceiling)
        self.reduced_at = -math.inf
        self.loss_tolerance = loss_tolerance
        self.outcomes: deque[bool] = deque(maxlen=max(_MIN_LOSS_HISTORY, ceiling))
        """The last outcomes (True = lost), at most ``max(32, ceiling)``."""

    @property
    def limit(self) -> int:
        return max(1, min(self.ceiling, int(self.window)))

    @property
    def loss_rate(self) -> float:
        """Losses among the last ``max(32, window)`` outcomes, over that number (outcomes not seen yet
        count as answers: a first loss is not a 100 % loss rate)."""
        n = max(_MIN_LOSS_HISTORY, self.limit)
        return sum(itertools.islice(reversed(self.outcomes), n)) / n

    @property
    def congested(self) -> bool:
        """The loss rate exceeds ``loss_tolerance`` (with 0: any loss, as TCP)."""
        return self.loss_rate > self.loss_tolerance

    def on_answer(self) -> None:
        self.outcomes.append(False)
        if self.window < self.ssthresh:
            self.window += 1.0  # slow start: doubles per window of answers
        else:
            self.window += 1.0 / self.window
        self.window = min(self.window, float(self.ceiling))

    def on_loss(self, sent_at: float, now: float, reduce: bool = True) -> None:
        """A timeout: halve, at most once per window (a loss of a request sent before the last
        reduction does not reduce again) and only when :attr:`congested` (decision 0100).
        ``reduce=False``: only counted in the loss rate."""
        self.outcomes.append(True)
        if reduce and sent_at >= self.reduced_at and self.congested:
            self.window = max(float(self.floor), self.window / 2)
            self.ssthresh = max(2.0, self.window)
            self.reduced_at = now


@dataclass(slots=True, eq=False)
class _Entry:
    request: ThrottledRequest
    bucket: tuple[Hashable, bytes]
    attempt: int = 0
    deadline: float = 0.0
    sent_at: float = 0.0
    """When the current round trip started (attempt start or last :meth:`Throttle.progress`)."""
    attempt_timeout: float = 0.0
    fresh: bool = False
    """The round trip in flight was sent once (Karn's rule: only those give samples)."""
    in_flight: bool = False
    counted: bool = False
    """Adaptive: counted against the congestion windows (in flight and not presumed lost)."""
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
        self._presumed_lost = 0
        self._presume: list[tuple[float, int, Hashable, int]] = []
        """Adaptive: when each in-flight round trip is presumed lost (sent + RTO)."""
        # heaps of (time, sequence, key, generation); entries whose generation moved on are stale
        self._timeouts: list[tuple[float, int, Hashable, int]] = []
        self._delayed: list[tuple[float, int, Hashable, int]] = []
        self._seq = 0
        self._estimators: dict[Hashable, RttEstimator] = {}
        """Adaptive: one RTO estimator per border router (or per prefix, for requests without one)."""
        self._destinations: dict[Hashable, RttEstimator] = {}
        """Adaptive: one RTO estimator per destination with a sample (decision 0100), oldest first."""
        self._prefix_windows: dict[bytes, CongestionWindow] = {}
        self._router_windows: dict[Hashable, CongestionWindow] = {}
        self._progressed: list[tuple[Hashable, int]] = []
        """Adaptive: round trips re-armed by progress() since the last expire()."""
        self.timeouts = 0
        self.samples = 0

    # -- bookkeeping ---------------------------------------------------------------------------

    def _prefix(self, address: ipaddress.IPv6Address) -> bytes:
        n = self.config.prefix_length
        value = int(address) >> (128 - n) << (128 - n) if n else 0
        return value.to_bytes(16, "big") + bytes((n,))

    def _push_bucket(self, entry: _Entry, front: bool = False) -> None:
        bucket = self._buckets.get(entry.bucket)
        if bucket is None:  # no deque built and thrown away per request
            bucket = self._buckets[entry.bucket] = deque()
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
        cfg = self.config
        if self._per_prefix.get(prefix, 0) >= cfg.max_per_prefix:
            return False
        if router is not None and self._per_router.get(router, 0) >= cfg.max_per_border_router:
            return False
        if not cfg.adaptive:
            return True
        if self._per_prefix.get(prefix, 0) >= self._prefix_limit(prefix):
            return False
        return router is None or self._per_router.get(router, 0) < self._router_limit(router)

    def _prefix_limit(self, prefix: bytes) -> int:
        if not self.config.adaptive:
            return self.config.max_per_prefix
        window = self._prefix_windows.get(prefix)
        return min(self.config.initial_window, self.config.max_per_prefix) if window is None else window.limit

    def _router_limit(self, router: Hashable) -> int:
        if not self.config.adaptive:
            return self.config.max_per_border_router
        window = self._router_windows.get(router)
        if window is None:
            return min(self.config.initial_window, self.config.max_per_border_router)
        return window.limit

    def _windows(self, bucket: tuple[Hashable, bytes]) -> list[CongestionWindow]:
        router, prefix = bucket
        cfg = self.config
        out = []
        window = self._prefix_windows.get(prefix)
        if window is None:
            window = CongestionWindow(
                cfg.initial_window, cfg.max_per_prefix, cfg.min_window, cfg.loss_tolerance
            )
            self._prefix_windows[prefix] = window
        out.append(window)
        if router is not None:
            window = self._router_windows.get(router)
            if window is None:
                window = CongestionWindow(
                    cfg.initial_window, cfg.max_per_border_router, cfg.min_window, cfg.loss_tolerance
                )
                self._router_windows[router] = window
            out.append(window)
        return out

    def _estimator(self, bucket: tuple[Hashable, bytes]) -> RttEstimator:
        router, prefix = bucket
        key: Hashable = ("router", router) if router is not None else prefix
        found = self._estimators.get(key)
        if found is None:
            cfg = self.config
            found = self._estimators[key] = RttEstimator(cfg.rto_initial, cfg.rto_min, cfg.rto_max)
        return found

    def _timer(self, entry: _Entry) -> RttEstimator:
        """The estimator that times ``entry``: its destination's once it has a sample, else the
        shared one of its border router / prefix (the prior, decision 0100)."""
        found = self._destinations.get(entry.request.peer)
        return self._estimator(entry.bucket) if found is None else found

    def _sample(self, entry: _Entry, rtt: float) -> None:
        """A round trip sent once: a sample for the shared estimator and the destination's."""
        shared = self._estimator(entry.bucket)
        prior_rttvar = shared.rttvar  # before this sample: what the prefix has seen so far
        shared.sample(rtt)
        self.samples += 1
        cfg = self.config
        if not cfg.per_destination:
            return
        peer = entry.request.peer
        found = self._destinations.get(peer)
        if found is None:
            if len(self._destinations) >= cfg.max_destinations:
                del self._destinations[next(iter(self._destinations))]
            found = self._destinations[peer] = RttEstimator(cfg.rto_initial, cfg.rto_min, cfg.rto_max)
        found.sample(rtt, prior_rttvar)

    def rto(
        self, address: ipaddress.IPv6Address, border_router: Hashable = None, destination: Hashable = None
    ) -> float:
        """The current RTO towards ``address`` (adaptive mode; else the fixed timeout): the
        destination's own once it has a sample, else its border router's / prefix's."""
        if not self.config.adaptive:
            return self.config.timeout
        found = self._destinations.get(address if destination is None else destination)
        return self._estimator((border_router, self._prefix(address))).rto if found is None else found.rto

    def window_for_prefix(self, address: ipaddress.IPv6Address) -> int:
        """Requests allowed in flight towards the prefix of ``address`` now."""
        return self._prefix_limit(self._prefix(address))

    # -- API -----------------------------------------------------------------------------------

    @property
    def in_flight(self) -> int:
        """Requests sent, unanswered and counted against the limits (not presumed lost)."""
        return self._in_flight

    @property
    def presumed_lost(self) -> int:
        """Adaptive: requests whose retry timer still runs but that no longer hold a slot."""
        return self._presumed_lost

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
        entry.sent_at = now
        cfg = self.config
        if cfg.adaptive:
            entry.fresh = entry.attempt == 1
            estimator = self._timer(entry)
            if entry.attempt == 1:
                entry.attempt_timeout = estimator.rto
            else:  # exponential back-off of this request's own timer, from the computed RTO
                backoff = cfg.backoff_factor ** self._doublings(entry)
                entry.attempt_timeout = min(cfg.rto_max, estimator.base * backoff)
            if entry.attempt_timeout > estimator.base:
                self._presume_at(entry, now + estimator.base)
        else:
            entry.attempt_timeout = cfg.timeout
        entry.deadline = now + entry.attempt_timeout
        self._count(entry)
        entry.generation += 1
        self._seq += 1
        heapq.heappush(self._timeouts, (entry.deadline, self._seq, entry.request.key, entry.generation))
        return Attempt(entry.request, entry.attempt, entry.deadline)

    def _doublings(self, entry: _Entry) -> int:
        """How often a retry's timer may double: ``backoff_doublings`` while a window of the request
        is :attr:`CongestionWindow.congested`, else once (random loss: the retry is not
        slowed down further; the one doubling covers a route that became slower; decision 0100)."""
        cfg = self.config
        retries = entry.attempt - 1
        if any(w.congested for w in self._windows(entry.bucket)):
            return min(retries, cfg.backoff_doublings)
        return min(retries, _RANDOM_LOSS_DOUBLINGS, cfg.backoff_doublings)

    def _count(self, entry: _Entry) -> None:
        """Count an entry against the limits (in flight and not presumed lost)."""
        if entry.counted:
            return
        entry.counted = True
        router, prefix = entry.bucket
        self._in_flight += 1
        self._per_prefix[prefix] = self._per_prefix.get(prefix, 0) + 1
        if router is not None:
            self._per_router[router] = self._per_router.get(router, 0) + 1

    def _presume_at(self, entry: _Entry, when: float) -> None:
        """Adaptive: the round trip now starting is presumed lost at ``when`` (if still unanswered).
        Call before bumping the entry's generation."""
        self._seq += 1
        heapq.heappush(self._presume, (when, self._seq, entry.request.key, entry.generation + 1))

    def _uncount(self, entry: _Entry) -> None:
        if not entry.counted:
            return
        entry.counted = False
        router, prefix = entry.bucket
        self._in_flight -= 1
        self._per_prefix[prefix] -= 1
        if not self._per_prefix[prefix]:
            del self._per_prefix[prefix]
        if router is not None:
            self._per_router[router] -= 1
            if not self._per_router[router]:
                del self._per_router[router]
        self._wake_parked()

    def _wake_parked(self) -> None:
        if self._parked:
            # wake every parked bucket; next_ready parks again those still full. Parked buckets
            # are few (one per saturated prefix), so this stays cheap.
            for key in self._parked:
                self._make_eligible(key)
            self._parked.clear()

    def _release(self, entry: _Entry) -> None:
        """Free the slot of an in-flight entry and wake parked buckets that may now proceed."""
        if not entry.counted:
            self._presumed_lost -= 1
        entry.in_flight = False
        self._uncount(entry)
        entry.generation += 1

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
            if self.config.adaptive:
                self._answered(entry, now)
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

    def _answered(self, entry: _Entry, now: float) -> None:
        if entry.in_flight and entry.fresh:  # Karn's rule: no sample from a retransmission
            self._sample(entry, now - entry.sent_at)
        for window in self._windows(entry.bucket):
            window.on_answer()

    def progress(self, key: Hashable, now: float) -> bool:
        """An intermediate answer of a multi-round-trip attempt (AARE before the GET, a block before
        the next): adaptive mode takes a round-trip sample (first attempts only) and re-arms the
        attempt's deadline for the next round trip. False when ``key`` is not in flight."""
        entry = self._entries.get(key)
        if entry is None or not entry.in_flight:
            return False
        if not self.config.adaptive:
            return True
        for window in self._windows(entry.bucket):
            window.on_answer()  # an answer came back: the window grows per round trip, not per request
        if entry.fresh:
            self._sample(entry, now - entry.sent_at)
        estimator = self._timer(entry)
        if entry.fresh or entry.attempt == 1:
            entry.attempt_timeout = estimator.rto
        entry.fresh = True  # the next round trip is a new exchange, sent once (Karn's rule holds)
        entry.sent_at = now
        entry.deadline = now + entry.attempt_timeout
        if not entry.counted:  # a presumed-lost retry answered after all: it holds a slot again
            self._presumed_lost -= 1
            self._count(entry)
        if entry.attempt_timeout > estimator.base:
            self._presume_at(entry, now + estimator.base)
        entry.generation += 1
        self._seq += 1
        heapq.heappush(self._timeouts, (entry.deadline, self._seq, key, entry.generation))
        self._progressed.append((key, entry.generation))
        return True

    def _rearm_progressed(self, now: float) -> None:
        """The next request of an exchange leaves when the driver next takes the head-end's output,
        not when the answer before it arrived: a round trip re-armed by :meth:`progress` runs from
        the first :meth:`expire` after it at the earliest (a driver that polls every 10 ms must not
        time out a 5 ms round trip before its request has left; decision 0100)."""
        for key, generation in self._progressed:
            entry = self._entries.get(key)
            if entry is None or entry.generation != generation or not entry.in_flight:
                continue
            deadline = now + entry.attempt_timeout
            if deadline <= entry.deadline:
                continue
            estimator = self._timer(entry)
            if entry.attempt_timeout > estimator.base:
                self._presume_at(entry, now + estimator.base)
            entry.deadline = deadline
            entry.generation += 1
            self._seq += 1
            heapq.heappush(self._timeouts, (deadline, self._seq, key, entry.generation))
        self._progressed.clear()

    def is_in_flight(self, key: Hashable) -> bool:
        entry = self._entries.get(key)
        return entry is not None and entry.in_flight

    def attempts(self, key: Hashable) -> int:
        """Attempts started for an active request (0: never sent); 0 when not active."""
        entry = self._entries.get(key)
        return 0 if entry is None else entry.attempt

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
        if self.config.adaptive:
            delay = 0.0  # the expired (backed-off) RTO was the wait
        else:
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
        if self._progressed:
            self._rearm_progressed(now)
        while self._presume and self._presume[0][0] <= now:
            _, _, key, generation = heapq.heappop(self._presume)
            entry = self._entries.get(key)
            if entry is not None and entry.generation == generation and entry.counted:
                self._uncount(entry)  # presumed lost: no longer holds its slot
                self._presumed_lost += 1
        while self._timeouts and self._timeouts[0][0] <= now:
            _, _, key, generation = heapq.heappop(self._timeouts)
            entry = self._entries.get(key)
            if entry is None or entry.generation != generation:
                continue
            self.timeouts += 1
            if self.config.adaptive:
                self._timed_out(entry, now)
            self._release(entry)
            events.append(self._fail(entry, now))
        return events

    def _timed_out(self, entry: _Entry, now: float) -> None:
        estimator = self._timer(entry)
        learned = (
            estimator.srtt is not None
            if not self.config.per_destination
            else entry.request.peer in self._destinations
        )
        # a timer not learned yet (for this destination) says nothing about congestion; the loss
        # still counts in the loss rate
        for window in self._windows(entry.bucket):
            window.on_loss(entry.sent_at, now, reduce=learned)
        estimator.back_off(entry.sent_at, now)

    def get_timer(self) -> float | None:
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
        while self._presume:
            _, _, key, generation = self._presume[0]
            entry = self._entries.get(key)
            if entry is not None and entry.generation == generation and entry.counted:
                break
            heapq.heappop(self._presume)
        candidates = [h[0][0] for h in (self._timeouts, self._delayed, self._presume) if h]
        return min(candidates) if candidates else None
