"""Throttle on a high-latency lossy mesh (decision 0100): one RTO estimator per destination with the
prefix's as the prior, a window that halves only when the loss rate exceeds the tolerance, retries
not slowed down by random loss. Simulated time, seeded: deterministic."""

from __future__ import annotations

import heapq
import ipaddress
import random

import pytest

from cosemnet.profiles.mesh.throttle import (
    CongestionWindow,
    RttEstimator,
    Throttle,
    ThrottleConfig,
    ThrottledRequest,
    ThrottleEventKind,
)

PREFIX_HOST = "2001:db8:0:1::{:x}"


def request(i: int) -> ThrottledRequest:
    # every meter shares one address here (as the fleet simulator on ::1): the destination is the key
    return ThrottledRequest(("m", i), ipaddress.IPv6Address("2001:db8:0:1::1"), None, None, ("meter", i))


def _run(
    cfg: ThrottleConfig, delays: list[float], loss: float, seed: int, *, rounds: int = 3
) -> tuple[Throttle, float, int]:
    """Each request needs ``rounds`` round trips of its meter's delay (intermediate ones reported
    with ``progress``); each round trip is lost with probability ``loss``. Returns the throttle,
    the completion time and the given-up count."""
    rng = random.Random(seed)
    t = Throttle(cfg, random.Random(seed))
    for i in range(len(delays)):
        t.submit(request(i), 0.0)
    stage = [0] * len(delays)
    answers: list[tuple[float, int, int, int]] = []
    now, seq, gave_up = 0.0, 0, 0

    def send(i: int) -> None:
        nonlocal seq
        if rng.random() >= loss:
            seq += 1
            heapq.heappush(answers, (now + delays[i], seq, i, t.attempts(("m", i))))

    while t.pending:
        for event in t.expire(now):
            stage[event.request.key[1]] = 0  # type: ignore[index]
            gave_up += event.kind is ThrottleEventKind.GAVE_UP
        while (a := t.next_ready(now)) is not None:
            send(a.request.key[1])  # type: ignore[index]
        times = [x for x in (t.get_timer(), answers[0][0] if answers else None) if x is not None]
        if not times:
            break
        now = max(now, min(times))
        while answers and answers[0][0] <= now:
            _, _, i, attempt = heapq.heappop(answers)
            key = ("m", i)
            if not t.is_in_flight(key) or t.attempts(key) != attempt:
                continue
            stage[i] += 1
            if stage[i] < rounds:
                assert t.progress(key, now)
                send(i)
            else:
                t.completed(key, now)
    return t, now, gave_up


def test_each_destination_learns_its_own_rto_from_the_prefix_prior() -> None:
    """Meters behind one prefix at 0.2 s and 2 s: each gets its own RTO; a meter never answered yet
    is timed by the prefix's estimator (the prior), which covers both."""
    delays = [0.2 if i % 2 else 2.0 for i in range(40)]
    t, _, gave_up = _run(ThrottleConfig(max_per_prefix=16), delays, 0.0, seed=1)
    assert gave_up == 0
    address = request(0).address
    fast, slow = t.rto(address, None, ("meter", 1)), t.rto(address, None, ("meter", 0))
    assert fast < 0.7 < 2.0 < slow  # 0.2 s: RFC 6298 from its own samples; 2 s: above its RTT
    prior = t.rto(address, None, ("meter", 999))
    assert prior == t.rto(address) and prior > 2.0  # unknown meter: the shared estimator
    shared = Throttle(ThrottleConfig(max_per_prefix=16, per_destination=False))
    assert shared.rto(address, None, ("meter", 1)) == shared.rto(address)


def test_a_new_destination_inherits_the_variation_of_its_prefix() -> None:
    """First sample of a meter: RTTVAR = max(R/2, the prefix's RTTVAR) (RFC 6298 says R/2; the
    prefix's variation is the prior, so a host hiccup seen by the prefix is not forgotten)."""
    e = RttEstimator(1.0, 0.001, 60.0)
    e.sample(0.01, prior_rttvar=0.05)
    assert (e.srtt, e.rttvar) == (0.01, 0.05) and e.rto == pytest.approx(0.21)
    e2 = RttEstimator(1.0, 0.001, 60.0)
    e2.sample(2.0, prior_rttvar=0.05)
    assert e2.rttvar == 1.0  # R/2 when larger
    t = Throttle(ThrottleConfig(max_per_prefix=8, rto_min=0.001))
    for i, rtt in enumerate((0.01, 0.09, 0.01)):  # the prefix sees 10 ms and 90 ms meters
        t.submit(request(i), 0.0)
        assert t.next_ready(0.0) is not None
        t.completed(request(i).key, rtt)
    address = request(0).address
    assert t.rto(address, None, ("meter", 2)) > t.rto(address, None, ("meter", 0))  # same RTT, wider prior


def test_destination_estimators_are_bounded() -> None:
    cfg = ThrottleConfig(max_per_prefix=8, max_destinations=5)
    t, _, _ = _run(cfg, [0.01] * 20, 0.0, seed=1)
    address = request(0).address
    assert t.rto(address, None, ("meter", 19)) != t.rto(address)  # recent: kept
    assert t.rto(address, None, ("meter", 0)) == t.rto(address)  # oldest: forgotten, the prior again
    with pytest.raises(ValueError):
        ThrottleConfig(max_destinations=0)


def test_window_halves_only_above_the_loss_tolerance() -> None:
    tcp = CongestionWindow(32, 32, floor=2, loss_tolerance=0.0)
    for _ in range(40):
        tcp.on_answer()
    tcp.on_loss(sent_at=1.0, now=2.0)
    assert tcp.limit == 16  # tolerance 0: every loss (once per window), as TCP
    mesh = CongestionWindow(32, 32, floor=2, loss_tolerance=0.5)
    rng = random.Random(1)
    for step in range(400):  # 20 % random loss: under the tolerance, the window stays open
        if rng.random() < 0.2:
            mesh.on_loss(sent_at=float(step), now=step + 0.5)
        else:
            mesh.on_answer()
    assert mesh.limit == 32 and 0.05 < mesh.loss_rate < 0.5 and not mesh.congested
    for step in range(400, 420):  # a burst of losses (congestion): halved, once per window
        mesh.on_loss(sent_at=400.0, now=step + 0.5)
    assert mesh.congested and mesh.limit == 16
    mesh.on_loss(sent_at=420.0, now=421.0)
    assert mesh.limit == 8
    quiet = CongestionWindow(32, 32, floor=2, loss_tolerance=0.5)
    for _ in range(40):
        quiet.on_answer()
    quiet.on_loss(sent_at=1.0, now=2.0, reduce=False)  # counted, never reduces
    assert quiet.limit == 32 and quiet.loss_rate == pytest.approx(1 / 32)


def _retry_timers(lost: int) -> list[float]:
    """40 meters answered once in 0.5 s; then ``lost`` of them asked again and every attempt lost:
    the timers of the first one's attempts."""
    t = Throttle(ThrottleConfig(max_per_prefix=64, rto_initial=1.0, backoff_doublings=4, loss_tolerance=0.5))
    for i in range(40):
        t.submit(request(i), 0.0)
    while t.next_ready(0.0) is not None:
        pass
    for i in range(40):
        t.completed(request(i).key, 0.5)
    for i in range(lost):
        t.submit(request(i), 1.0)
    now, timers = 1.0, []
    for _ in range(4):
        while (a := t.next_ready(now)) is not None:
            if a.request.key == request(0).key:
                timers.append(a.deadline - now)
        now += 100.0
        t.expire(now)
    return timers


def test_retry_timer_doubles_once_under_random_loss_and_more_under_congestion() -> None:
    calm = _retry_timers(1)  # one meter unlucky among answers: random loss, one doubling only
    assert calm[1:] == pytest.approx([2 * calm[0]] * 3)
    congested = _retry_timers(30)  # most round trips lost: congestion, RFC 6298 back-off
    assert congested[0] == pytest.approx(calm[0])
    assert congested[1:] == pytest.approx([2 * calm[0], 4 * calm[0], 8 * calm[0]])


def test_round_trips_after_an_answer_in_a_retry_give_samples() -> None:
    """Karn's rule excludes the retransmitted round trip, not the fresh exchanges that follow it
    (association, then GET) in the same attempt."""
    t = Throttle(ThrottleConfig(max_per_prefix=4, rto_initial=1.0))
    r = request(0)
    t.submit(r, 0.0)
    assert t.next_ready(0.0) is not None
    t.expire(1.0)  # first attempt lost
    assert t.next_ready(1.0) is not None
    assert t.progress(r.key, 1.3) and t.samples == 0  # answer to a retransmission: no sample
    assert t.progress(r.key, 1.6) and t.samples == 1  # a fresh round trip: a sample
    assert t.rto(r.address, None, r.destination) == pytest.approx(0.3 + 4 * 0.15)


def test_high_latency_lossy_mesh_keeps_the_window_open_and_finishes() -> None:
    """200-2000 ms per meter, 20 % loss per round trip, three round trips per read: every meter read;
    with the tolerance the window of the prefix stays near its ceiling, with TCP's response (0) it
    collapses and the same work takes longer (simulated seconds)."""
    rng = random.Random(11)
    delays = [rng.uniform(0.2, 2.0) for _ in range(300)]
    cfg = ThrottleConfig(max_per_prefix=32, max_in_flight=256, max_retries=20)
    t, done, gave_up = _run(cfg, delays, 0.2, seed=5)
    assert gave_up == 0 and t.pending == 0
    assert t.window_for_prefix(request(0).address) >= 16
    tcp = ThrottleConfig(max_per_prefix=32, max_in_flight=256, max_retries=20, loss_tolerance=0.0)
    _, done_tcp, gave_up_tcp = _run(tcp, delays, 0.2, seed=5)
    assert gave_up_tcp == 0 and done < done_tcp


def test_a_round_trip_runs_from_the_first_poll_after_progress() -> None:
    """A driver that polls every 10 ms with a 5 ms RTO: the request after an intermediate answer
    leaves at the next poll, so its timer starts there (it timed out before leaving, every attempt,
    until the meter was given up)."""
    t = Throttle(ThrottleConfig(max_per_prefix=4, rto_min=0.005, rto_initial=0.005))
    r = request(0)
    t.submit(r, 0.0)
    assert t.next_ready(0.0) is not None
    assert t.progress(r.key, 0.0)  # answered at once (RTT 0): RTO 5 ms
    assert t.expire(0.01) == []  # the next poll: the request leaves now, its timer starts now
    assert t.get_timer() == pytest.approx(0.015)
    assert t.completed(r.key, 0.012).value == "completed"
    lost = request(1)
    t.submit(lost, 1.0)
    assert t.next_ready(1.0) is not None
    assert t.progress(lost.key, 1.0)
    assert t.expire(1.0) == []  # polled at once (the service): the timer is unchanged
    assert [e.kind for e in t.expire(1.0 + t.rto(lost.address, None, lost.destination))] == [
        ThrottleEventKind.TIMED_OUT_RETRYING
    ]
