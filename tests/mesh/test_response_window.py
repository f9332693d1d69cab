"""Response windows: spread of the random delays, collector duplicates / missing / late."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cosemnet.codec.axdr import encode_data
from cosemnet.codec.types import DoubleLongUnsigned
from cosemnet.errors import DecodeError, EncodeError
from cosemnet.profiles.mesh.response_window import (
    AddResult,
    ResponseCollector,
    ResponseWindow,
    response_rng,
)


@given(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1))
def test_round_trip(a: int, b: int) -> None:
    w = ResponseWindow(min(a, b), max(a, b))
    assert ResponseWindow.decode(w.encode()) == w
    assert ResponseWindow.from_data(w.to_data()) == w


def test_negative() -> None:
    with pytest.raises(EncodeError):
        ResponseWindow(10, 5)
    with pytest.raises(DecodeError, match="end_offset"):
        ResponseWindow.decode(encode_data((DoubleLongUnsigned(10), DoubleLongUnsigned(5))))
    with pytest.raises(DecodeError):
        ResponseWindow.decode(b"\x02\x02\x06\x00\x00\x00\x01")


def test_delays_spread_uniformly_within_the_window() -> None:
    """10,000 meters answer in [5 s, 65 s]: every delay is inside, and a chi-square test over 20
    bins does not reject uniformity (critical value 43.8 at p = 0.001, 19 degrees of freedom)."""
    window = ResponseWindow.seconds(5, 65)
    delays = [window.delay(response_rng(i.to_bytes(8, "big"), 77, seed=1)) for i in range(10_000)]
    assert all(5.0 <= d <= 65.0 for d in delays)
    bins = [0] * 20
    for d in delays:
        bins[min(int((d - 5.0) / 3.0), 19)] += 1
    expected = len(delays) / 20
    chi2 = sum((b - expected) ** 2 / expected for b in bins)
    assert chi2 < 43.8, chi2
    mean = sum(delays) / len(delays)
    assert abs(mean - 35.0) < 1.0
    # reproducible per (system title, invoke id), different across meters and requests
    title = b"ABCDEFGH"
    assert window.delay(response_rng(title, 1)) == window.delay(response_rng(title, 1))
    assert window.delay(response_rng(title, 1)) != window.delay(response_rng(title, 2))


def test_degenerate_window() -> None:
    w = ResponseWindow(2000, 2000)
    assert w.delay(random.Random(1)) == 2.0
    assert w.send_time(10.0, random.Random(1)) == 12.0


def titles(n: int) -> list[bytes]:
    return [i.to_bytes(8, "big") for i in range(n)]


def test_collector_duplicates_missing_late_unexpected() -> None:
    c = ResponseCollector(grace=1.0)
    expected = titles(5)
    deadline = c.open(9, expected, sent_at=100.0, window=ResponseWindow.seconds(0, 10))
    assert deadline == 111.0 and c.get_timer() == 111.0
    assert c.add(expected[0], 9, 101.0) is AddResult.ACCEPTED
    assert c.add(expected[0], 9, 102.0) is AddResult.DUPLICATE
    assert c.add(expected[1], 9, 110.5) is AddResult.ACCEPTED  # within grace
    assert c.add(expected[2], 9, 111.5) is AddResult.LATE
    assert c.add(expected[2], 9, 111.6) is AddResult.DUPLICATE
    assert c.add(b"stranger", 9, 105.0) is AddResult.UNEXPECTED
    assert c.add(expected[3], 8, 105.0) is AddResult.UNKNOWN_REQUEST
    assert c.expire(110.0) == []
    [report] = c.expire(111.0)
    assert set(report.answered) == {expected[0], expected[1]}
    assert report.missing == {expected[3], expected[4]}
    assert set(report.late) == {expected[2]}
    assert set(report.unexpected) == {b"stranger"}
    assert report.duplicates == 2 and report.closed and not report.complete
    # after closing: answers are late, repeats still duplicates
    assert c.add(expected[3], 9, 130.0) is AddResult.LATE
    assert c.add(expected[0], 9, 130.0) is AddResult.DUPLICATE
    assert c.report(9).missing == {expected[4]}
    assert c.get_timer() is None


def test_collector_closes_when_everyone_answered() -> None:
    c = ResponseCollector(grace=0)
    c.open(1, titles(3), 0.0, ResponseWindow.seconds(0, 60))
    for t in titles(3):
        c.add(t, 1, 5.0)
    [report] = c.expire(6.0)
    assert report.complete and report.missing == set()


def test_collector_many_meters_randomised() -> None:
    """1,000 expected meters, 20 % silent, each answering 1-3 times at random delays: the collector
    reports exactly the silent ones as missing and counts every repetition as a duplicate."""
    rng = random.Random(5)
    c = ResponseCollector(grace=0.5)
    expected = titles(1000)
    window = ResponseWindow.seconds(1, 30)
    c.open(42, expected, 0.0, window)
    silent = set(rng.sample(expected, 200))
    arrivals = []
    repeats = 0
    for t in expected:
        if t in silent:
            continue
        n = rng.randint(1, 3)
        repeats += n - 1
        arrivals += [(window.delay(rng) + rng.uniform(0, 0.4), t) for _ in range(n)]
    arrivals.sort()
    for when, t in arrivals:
        c.add(t, 42, when)
    [report] = c.expire(31.0)
    assert report.missing == silent
    assert len(report.answered) == 800 and not report.late
    assert report.duplicates == repeats


def test_collector_reuse_of_invoke_id() -> None:
    c = ResponseCollector(keep_closed=1)
    c.open(1, titles(1), 0.0, ResponseWindow(0, 0))
    with pytest.raises(ValueError):
        c.open(1, titles(1), 0.0, ResponseWindow(0, 0))
    c.close(1)
    c.open(1, titles(2), 10.0, ResponseWindow(0, 0))  # allowed once closed
    assert c.report(1).missing == set(titles(2))
    c.close(1)
    c.open(2, titles(1), 0.0, ResponseWindow(0, 0))
    c.close(2)
    with pytest.raises(KeyError):
        c.report(1)  # forgotten: keep_closed=1
