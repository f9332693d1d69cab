"""Adaptive throttle (decision 0080): RTO learned from round trips (RFC 6298, Karn's rule), back-off,
AIMD concurrency per prefix and border router within the configured ceilings. Simulated time."""

from __future__ import annotations

import heapq
import ipaddress
import random

import pytest

from cosemnet.profiles.mesh.throttle import (
    Completion,
    CongestionWindow,
    RttEstimator,
    Throttle,
    ThrottleConfig,
    ThrottledRequest,
    ThrottleEventKind,
)


def request(i: int, subnet: int = 1, router: int | None = None) -> ThrottledRequest:
    return ThrottledRequest(("m", i), ipaddress.IPv6Address(f"2001:db8:0:{subnet:x}::{i + 1:x}"), router)


def test_estimator_follows_rfc_6298() -> None:
    e = RttEstimator(1.0, 0.01, 60.0)
    assert e.rto == 1.0
    e.sample(2.0)
    assert (e.srtt, e.rttvar, e.rto) == (2.0, 1.0, 6.0)  # SRTT + 4 RTTVAR
    e.sample(2.0)
    assert e.srtt == 2.0 and e.rttvar == 0.75 and e.rto == 5.0
    e.back_off(sent_at=10.0, now=15.0)
    assert e.rto == 10.0
    e.back_off(sent_at=12.0, now=16.0)  # sent before the last back-off: not doubled again
    assert e.rto == 10.0
    e.back_off(sent_at=15.5, now=26.0)
    assert e.rto == 20.0
    for _ in range(10):
        e.back_off(sent_at=1e9, now=1e9)
    assert e.rto == 60.0  # rto_max
    e.sample(0.000_05)  # loopback: microseconds
    fast = RttEstimator(1.0, 0.01, 60.0)
    for _ in range(50):
        fast.sample(0.000_05)
    assert fast.rto == pytest.approx(0.01 + 0.000_05, rel=0.1)  # rto_min bounds the variance term


def test_window_aimd() -> None:
    w = CongestionWindow(2, 8)
    assert w.limit == 2
    for _ in range(6):
        w.on_answer()
    assert w.limit == 8  # slow start up to the ceiling, never above
    w.on_loss(sent_at=1.0, now=2.0)
    assert w.limit == 4
    w.on_loss(sent_at=1.5, now=2.1)  # same window: one reduction
    assert w.limit == 4
    w.on_loss(sent_at=2.0, now=3.0)
    assert w.limit == 2
    before = w.window
    w.on_answer()
    assert w.window == pytest.approx(before + 1 / before)  # congestion avoidance: additive
    for _ in range(3):
        w.on_loss(sent_at=10.0 + _, now=10.5 + _)
    assert w.limit == 1


def _simulate(
    cfg: ThrottleConfig, n: int, rtt: float, loss: float, seed: int, *, retransmit_rtt: float | None = None
) -> tuple[Throttle, float, int, dict[object, int]]:
    """Drive the throttle: each attempt is answered after ``rtt`` unless lost; returns the throttle,
    the completion time, the given-up count and the attempts per key. The peak concurrency per
    prefix is checked against the window at every start."""
    rng = random.Random(seed)
    t = Throttle(cfg, random.Random(seed))
    for i in range(n):
        t.submit(request(i), 0.0)
    answers: list[tuple[float, int, object, int]] = []
    attempts: dict[object, int] = {}
    gave_up = 0
    now, seq = 0.0, 0
    while t.pending:
        for event in t.expire(now):
            if event.kind is ThrottleEventKind.GAVE_UP:
                gave_up += 1
        while (a := t.next_ready(now)) is not None:
            attempts[a.request.key] = a.attempt
            assert t.in_flight_for_prefix(a.request.address) <= cfg.max_per_prefix
            if rng.random() >= loss:
                seq += 1
                delay = rtt if a.attempt == 1 or retransmit_rtt is None else retransmit_rtt
                heapq.heappush(answers, (now + delay, seq, a.request.key, a.attempt))
        times = [x for x in (t.get_timer(), answers[0][0] if answers else None) if x is not None]
        if not times:
            break
        now = max(now, min(times))
        while answers and answers[0][0] <= now:
            _, _, key, attempt = heapq.heappop(answers)
            if t.is_in_flight(key) and t.attempts(key) == attempt:
                t.completed(key, now)
    return t, now, gave_up, attempts


def test_loopback_rto_learned_and_loss_costs_little() -> None:
    """Microsecond round trips: the RTO drops to its lower bound after the first answers, so 10%
    loss costs a few milliseconds per lost answer instead of the 30 s of the fixed timers."""
    cfg = ThrottleConfig(max_per_prefix=4)
    t, done_at, gave_up, _ = _simulate(cfg, 1000, 0.000_2, 0.1, seed=1)
    assert gave_up == 0 and t.pending == 0
    assert t.rto(request(0).address) < 0.05  # rto_min 0.01, maybe backed off once
    assert t.samples > 800 and t.timeouts > 50
    _, fixed_done, _, _ = _simulate(ThrottleConfig(max_per_prefix=4, adaptive=False), 200, 0.000_2, 0.1, 1)
    assert done_at < fixed_done / 100  # 1000 adaptive requests vs 200 fixed ones


def test_slow_mesh_backs_off_until_answers_arrive() -> None:
    """Round trips of 5 s against an initial RTO of 1 s: the timers back off, then learn > 5 s."""
    cfg = ThrottleConfig(max_per_prefix=4, max_retries=8)
    t, _, gave_up, attempts = _simulate(cfg, 40, 5.0, 0.0, seed=2)
    assert gave_up == 0
    assert t.rto(request(0).address) > 5.0
    assert max(attempts.values()) > 1  # the first ones were retransmitted ...
    late = [attempts[("m", i)] for i in range(30, 40)]
    assert late == [1] * 10  # ... the last ones went through at the first attempt


def test_karn_no_sample_from_retransmissions() -> None:
    """Answers to retransmitted requests take 40 s; first attempts are always lost... except that
    nothing may be sampled from the retransmissions: the RTO never comes from them."""
    cfg = ThrottleConfig(max_per_prefix=1, rto_initial=1.0, rto_max=60.0, max_retries=8)
    t = Throttle(cfg, random.Random(0))
    r = request(0)
    t.submit(r)
    assert t.next_ready(0.0) is not None
    [event] = t.expire(1.0)
    assert event.retry_at == 1.0  # retried as soon as the RTO expired
    a = t.next_ready(1.0)
    # no sample yet: the RTO doubled to 2 s, and the retry doubles its own timer from there
    assert a is not None and a.attempt == 2 and a.deadline == pytest.approx(1.0 + 4.0)
    assert t.completed(r.key, 1.5) is Completion.COMPLETED
    assert t.samples == 0  # Karn: the answer may belong to attempt 1


def test_progress_samples_and_rearms() -> None:
    cfg = ThrottleConfig(rto_initial=1.0)
    t = Throttle(cfg)
    r = request(0)
    t.submit(r)
    a = t.next_ready(0.0)
    assert a is not None and a.deadline == 1.0
    assert t.progress(r.key, 0.5)  # AARE after 0.5 s: sample, deadline re-armed for the GET
    assert t.samples == 1 and t.rto(r.address) == pytest.approx(1.5)
    assert t.get_timer() == pytest.approx(2.0)
    assert t.expire(1.2) == []  # the old deadline is gone
    assert t.completed(r.key, 1.0) is Completion.COMPLETED and t.samples == 2
    assert not t.progress(r.key, 1.1)


def test_window_grows_within_ceilings_and_halves_on_loss() -> None:
    cfg = ThrottleConfig(
        max_per_prefix=6,
        max_per_border_router=16,
        initial_window=2,
        loss_tolerance=0.0,  # TCP's response: every loss halves (decision 0100)
        per_destination=False,
    )
    t = Throttle(cfg)
    for i in range(300):
        t.submit(request(i, 1, router=7))
    now = 0.0
    peak = 0
    for step in range(20):  # all answered: the window opens up to the ceiling of the prefix
        now = step * 0.001
        started = list(iter(lambda: t.next_ready(now), None))  # noqa: B023
        peak = max(peak, len(started))
        now += 0.0005
        for a in started:
            t.completed(a.request.key, now)
    assert peak == 6 and t.window_for_prefix(request(0).address) == 6
    started = list(iter(lambda: t.next_ready(now), None))
    assert len(started) == 6
    events = t.expire(now + 10)
    assert len(events) == 6
    assert t.window_for_prefix(request(0).address) == 3  # halved once for the whole window


def test_window_floor() -> None:
    w = CongestionWindow(4, 8, floor=2)
    for i in range(4):
        w.on_loss(sent_at=float(i), now=i + 0.5)
    assert w.limit == 2  # a single lost datagram never stalls the prefix (decision 0080)
    assert CongestionWindow(4, 1, floor=2).limit == 1  # the ceiling wins
