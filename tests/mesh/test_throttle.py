"""Throttle: limits never exceeded under randomized workloads, backoff timing, retries, fairness."""

from __future__ import annotations

import heapq
import ipaddress
import random
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cosemnet.profiles.mesh.throttle import (
    Completion,
    Throttle,
    ThrottleConfig,
    ThrottledRequest,
    ThrottleEventKind,
)


def request(i: int, subnet: int, router: int | None = None) -> ThrottledRequest:
    addr = ipaddress.IPv6Address(f"2001:db8:0:{subnet:x}::{i + 1:x}")
    return ThrottledRequest(("m", i), addr, router, request=f"GET {i}")


def prefix(addr: ipaddress.IPv6Address) -> bytes:
    return addr.packed[:8]


@settings(max_examples=40, deadline=None)
@given(
    st.integers(0, 2**32),
    st.integers(1, 16),
    st.integers(1, 6),
    st.integers(1, 4),
    st.integers(0, 3),
    st.floats(0.0, 0.6),
    st.booleans(),
)
def test_limits_never_exceeded_under_random_workload(
    seed: int, max_in_flight: int, per_router: int, per_prefix: int, retries: int, loss: float, adaptive: bool
) -> None:
    """Simulated time: 300 requests over 30 prefixes behind 5 border routers; answers are lost with
    probability ``loss`` (then the request times out and is retried). After every step the
    externally tracked in-flight set respects every limit; at the end each request either completed
    or was given up after exactly 1 + retries attempts."""
    rng = random.Random(seed)
    cfg = ThrottleConfig(
        max_in_flight=max_in_flight,
        max_per_border_router=per_router,
        max_per_prefix=per_prefix,
        timeout=10.0,
        max_retries=retries,
        backoff_base=1.0,
        backoff_max=8.0,
        jitter=0.5,
        adaptive=adaptive,
    )
    t = Throttle(cfg, random.Random(seed + 1))
    requests = [request(i, i % 30, (i % 30) % 5) for i in range(300)]
    for r in requests:
        t.submit(r, 0.0)
    in_flight: dict[object, ThrottledRequest] = {}
    attempts: Counter[object] = Counter()
    answers: list[tuple[float, int, object]] = []
    done: set[object] = set()
    gave_up: set[object] = set()
    now, seq = 0.0, 0

    def check() -> None:
        assert t.in_flight + t.presumed_lost == len(in_flight)
        if adaptive:  # presumed-lost retries hold no slot (decision 0080): the throttle's own counts
            assert t.in_flight <= max_in_flight
            for r in in_flight.values():
                assert t.in_flight_for_prefix(r.address) <= per_prefix
                assert r.border_router is None or t.in_flight_for_border_router(r.border_router) <= per_router
            return
        assert len(in_flight) <= max_in_flight
        by_prefix = Counter(prefix(r.address) for r in in_flight.values())
        by_router = Counter(r.border_router for r in in_flight.values())
        assert max(by_prefix.values(), default=0) <= per_prefix
        assert max(by_router.values(), default=0) <= per_router

    for _ in range(100_000):
        for event in t.expire(now):
            in_flight.pop(event.request.key)
            if event.kind is ThrottleEventKind.GAVE_UP:
                gave_up.add(event.request.key)
                assert event.attempt == retries + 1
            else:
                assert event.retry_at is not None and event.retry_at >= now
        while (a := t.next_ready(now)) is not None:
            assert a.request.key not in in_flight
            in_flight[a.request.key] = a.request
            attempts[a.request.key] += 1
            assert attempts[a.request.key] == a.attempt
            check()
            if rng.random() >= loss:
                seq += 1
                heapq.heappush(answers, (now + rng.uniform(0.1, 12.0), seq, a.request.key))
        check()
        next_times = [x for x in (t.get_timer(), answers[0][0] if answers else None) if x is not None]
        if not next_times:
            break
        now = max(now, min(next_times))
        while answers and answers[0][0] <= now:
            _, _, key = heapq.heappop(answers)
            result = t.completed(key, now)
            if result is Completion.COMPLETED:
                in_flight.pop(key, None)
                done.add(key)
            else:
                assert result is Completion.UNKNOWN
            check()
    assert t.pending == 0 and not in_flight
    assert done | gave_up == {r.key for r in requests}
    assert not done & gave_up
    assert all(attempts[k] <= retries + 1 for k in attempts)


def test_backoff_timing_without_and_with_jitter() -> None:
    cfg = ThrottleConfig(
        timeout=5.0,
        max_retries=5,
        backoff_base=2.0,
        backoff_factor=3.0,
        backoff_max=40.0,
        jitter=0.0,
        adaptive=False,
    )
    assert [cfg.backoff(n) for n in range(1, 6)] == [2.0, 6.0, 18.0, 40.0, 40.0]
    t = Throttle(cfg, random.Random(0))
    r = request(1, 1)
    t.submit(r)
    now = 0.0
    sends = []
    while True:
        a = t.next_ready(now)
        if a is not None:
            sends.append(now)
        deadline = t.get_timer()
        if deadline is None:
            break
        now = deadline
        events = t.expire(now)
        if events and events[0].kind is ThrottleEventKind.GAVE_UP:
            break
    # send at 0, timeout at 5, retry after 2 -> 7; timeout 12, +6 -> 18; 23 +18 -> 41; 46 + 40 -> 86; 91 + 40
    assert sends == [0.0, 7.0, 18.0, 41.0, 86.0, 131.0]
    assert t.pending == 0

    jittered = ThrottleConfig(
        backoff_base=10.0, backoff_factor=2.0, backoff_max=1000.0, jitter=0.5, timeout=1.0, adaptive=False
    )
    rng = random.Random(9)
    delays = []
    for i in range(500):
        th = Throttle(jittered, rng)
        th.submit(request(i, 1))
        assert th.next_ready(0.0) is not None
        [event] = th.expire(1.0)
        assert event.retry_at is not None
        delays.append(event.retry_at - 1.0)
    assert all(5.0 <= d <= 10.0 for d in delays)
    assert max(delays) - min(delays) > 4.0  # jitter really spreads


def test_round_robin_across_prefixes_and_fifo_within() -> None:
    t = Throttle(
        ThrottleConfig(max_in_flight=100, max_per_prefix=100, max_per_border_router=100, adaptive=False)
    )
    for i in range(6):
        t.submit(request(i, 1))
    for i in range(6, 8):
        t.submit(request(i, 2))
    order = []
    while (a := t.next_ready(0.0)) is not None:
        order.append(a.request.key[1])  # type: ignore[index]
    assert order == [0, 6, 1, 7, 2, 3, 4, 5]


def test_full_prefix_does_not_block_others_and_slots_free_on_completion() -> None:
    t = Throttle(ThrottleConfig(max_in_flight=10, max_per_prefix=2, max_per_border_router=10, adaptive=False))
    for i in range(5):
        t.submit(request(i, 1))
    t.submit(request(9, 2))
    got = [a.request.key[1] for a in iter(lambda: t.next_ready(0.0), None)]  # type: ignore[index]
    assert sorted(got) == [0, 1, 9]
    assert t.next_ready(0.0) is None
    assert t.completed(("m", 0), 1.0) is Completion.COMPLETED
    a = t.next_ready(1.0)
    assert a is not None and a.request.key == ("m", 2)
    assert t.in_flight_for_prefix(request(0, 1).address) == 2


def test_late_answer_cancels_retry_and_failure_retries() -> None:
    t = Throttle(ThrottleConfig(timeout=5.0, max_retries=2, backoff_base=10.0, jitter=0.0, adaptive=False))
    r = request(1, 1)
    t.submit(r)
    assert t.next_ready(0.0) is not None
    [event] = t.expire(5.0)
    assert event.kind is ThrottleEventKind.TIMED_OUT_RETRYING and event.retry_at == 15.0
    assert t.completed(r.key, 6.0) is Completion.COMPLETED  # late answer to attempt 1
    assert t.next_ready(20.0) is None and t.pending == 0 and t.get_timer() is None
    assert t.completed(r.key, 7.0) is Completion.UNKNOWN
    # explicit failure answers count like timeouts
    t.submit(r)
    assert t.next_ready(0.0) is not None
    assert t.completed(r.key, 1.0, ok=False) is Completion.RETRY_SCHEDULED
    assert t.next_ready(5.0) is None
    a = t.next_ready(11.0)
    assert a is not None and a.attempt == 2
    assert t.completed(r.key, 12.0, ok=False) is Completion.RETRY_SCHEDULED
    a = t.next_ready(100.0)
    assert a is not None and a.attempt == 3
    assert t.completed(r.key, 101.0, ok=False) is Completion.GAVE_UP
    assert t.pending == 0


def test_submit_twice_and_cancel() -> None:
    t = Throttle()
    r = request(1, 1)
    t.submit(r)
    with pytest.raises(ValueError):
        t.submit(r)
    assert t.cancel(r.key) and not t.cancel(r.key)
    assert t.next_ready(0.0) is None
    t.submit(r)
    assert t.next_ready(0.0) is not None
    assert t.cancel(r.key) and t.in_flight == 0
    with pytest.raises(ValueError):
        ThrottleConfig(max_per_prefix=0)


def test_ten_thousand_requests_are_fast() -> None:
    """Scheduling 10,000 requests over 2,000 prefixes with tight limits stays linear-ish."""
    cfg = ThrottleConfig(max_in_flight=64, max_per_border_router=16, max_per_prefix=2)
    t = Throttle(cfg, random.Random(1))
    for i in range(10_000):
        t.submit(request(i, i % 2000, i % 8))
    sent = 0
    now = 0.0
    in_flight: list[object] = []
    while sent < 10_000:
        while (a := t.next_ready(now)) is not None:
            in_flight.append(a.request.key)
            sent += 1
        for key in in_flight:
            t.completed(key, now)
        in_flight.clear()
        now += 1.0
    assert t.pending == 0
