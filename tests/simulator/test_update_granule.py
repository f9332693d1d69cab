"""advance() runs the simulated meter at most once per simulated second, never past a boundary that falls due
(docs/decisions/0053); catch_up() stays exact."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from cosemnet.simulator import SimulatedMeter, build_meter
from cosemnet.simulator.meter import UPDATE_GRANULE

from .helpers import T0, small_profile

MS = dt.timedelta(milliseconds=1)
QUARTER = dt.timedelta(minutes=15)


def _count_updates(monkeypatch: pytest.MonkeyPatch) -> list[dt.datetime]:
    """Record the end time of every integration the meter runs."""
    calls: list[dt.datetime] = []
    integrate = SimulatedMeter._integrate

    def spy(self: SimulatedMeter, until: dt.datetime) -> Any:
        calls.append(until)
        return integrate(self, until)

    monkeypatch.setattr(SimulatedMeter, "_integrate", spy)
    return calls


def test_requests_within_a_second_update_the_meter_once(monkeypatch: pytest.MonkeyPatch) -> None:
    meter = build_meter(small_profile(), start=T0)
    updates = _count_updates(monkeypatch)
    start = T0 + dt.timedelta(minutes=1)
    for i in range(100):  # 100 requests 10 ms apart: one simulated second
        meter.handle_timer(meter.seconds(start + 10 * MS * i))
    assert updates == [start]
    assert meter.now == start
    meter.handle_timer(meter.seconds(start + UPDATE_GRANULE))  # a second later: the next update
    assert updates == [start, start + UPDATE_GRANULE]
    # 10 simulated seconds of requests every 10 ms: 10 updates, not 1,000
    for i in range(1, 1001):
        meter.handle_timer(meter.seconds(start + UPDATE_GRANULE + 10 * MS * i))
    assert len(updates) == 12


def test_a_boundary_inside_the_second_is_not_delayed() -> None:
    meter = build_meter(small_profile(), start=T0)
    assert meter.load_profile is not None
    meter.handle_timer(meter.seconds(T0 + QUARTER - 300 * MS))
    assert meter.load_profile.entries_in_use == 0
    meter.handle_timer(meter.seconds(T0 + QUARTER + MS))  # within the granule, but the capture is due
    assert meter.load_profile.entries_in_use == 1


def test_lazy_updates_give_the_energy_of_one_exact_run() -> None:
    lazy = build_meter(small_profile(), start=T0)
    end = T0 + dt.timedelta(hours=2, seconds=3)
    when = T0
    while when < end:
        lazy.handle_timer(lazy.seconds(when))
        when += 137 * MS
    lazy.catch_up(end)  # the last second, exactly
    exact = build_meter(small_profile(), start=T0)
    exact.catch_up(end)
    assert lazy.now == exact.now == end
    for quantity in ("active_import", "active_import_t1", "active_export"):
        assert lazy.energy(quantity) == pytest.approx(exact.energy(quantity), rel=1e-9)
    assert lazy.load_profile is not None and exact.load_profile is not None
    assert lazy.load_profile.buffer == exact.load_profile.buffer


def test_energy_lags_by_less_than_the_granule_and_catch_up_is_exact() -> None:
    meter = build_meter(small_profile(), start=T0 + dt.timedelta(hours=3))
    start = meter.now
    meter.handle_timer(meter.seconds(start + 100 * MS))
    before = meter.energy("active_import")
    meter.handle_timer(meter.seconds(start + 900 * MS))  # skipped: within the granule
    assert meter.energy("active_import") == before
    meter.catch_up(start + 900 * MS)  # exact, whatever the granule
    assert meter.now == start + 900 * MS
    assert meter.energy("active_import") > before
