"""The load model: exact integration against an independent numerical one, tariffs, reactive energy,
monotonic registers, determinism, supply switching."""

from __future__ import annotations

import datetime as dt
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cosemnet.codec.types import Integer
from cosemnet.simulator import LoggedEvent, build_meter, load_profile
from cosemnet.simulator.meter import uniform

from .helpers import T0, reference_energy, small_profile

HOUR = dt.timedelta(hours=1)


def test_energy_matches_independent_integration_small_profile() -> None:
    profile = small_profile()
    meter = build_meter(profile, start=T0)
    end = T0 + dt.timedelta(days=2, hours=7, minutes=13)
    # advance in uneven steps, crossing curve points, tariff switches and midnight
    t = T0
    for minutes in (1, 59, 333, 7, 1440, 97, 1000):
        t = min(t + dt.timedelta(minutes=minutes), end)
        meter.handle_timer(meter.seconds(t))
    meter.handle_timer(meter.seconds(end))
    expected = reference_energy(profile, meter, T0, end)
    assert expected["export"] > 100  # the profile exports around noon
    assert meter.energy("active_import") == pytest.approx(expected["import"], rel=1e-4)
    assert meter.energy("active_import_t1") == pytest.approx(expected["t1"], rel=1e-4)
    assert meter.energy("active_import_t2") == pytest.approx(expected["t2"], rel=1e-4)
    assert meter.energy("active_export") == pytest.approx(expected["export"], rel=1e-4)


def test_energy_matches_independent_integration_default_profile_with_spreads() -> None:
    profile = load_profile()
    meter = build_meter(profile, seed=7, start=T0)
    end = T0 + dt.timedelta(days=3, minutes=10)
    meter.handle_timer(meter.seconds(end))
    expected = reference_energy(profile, meter, T0, end)
    assert meter.energy("active_import") == pytest.approx(expected["import"], rel=2e-4)
    assert meter.energy("active_export") == pytest.approx(expected["export"], rel=2e-4)
    assert meter.energy("active_import_t1") == pytest.approx(expected["t1"], rel=2e-4)


def test_per_meter_factors_come_from_the_seed_within_the_spreads() -> None:
    profile = load_profile()
    load = profile.load
    for seed in range(20):
        meter = build_meter(profile, seed=seed)
        for scale in meter.phase_scales:
            assert 1 - load.scale_spread <= scale < 1 + load.scale_spread
        assert 1 - load.generation_spread <= meter.generation_scale < 1 + load.generation_spread
        assert 1 - load.day_spread <= meter.day_factor(19000) < 1 + load.day_spread
    a, b = build_meter(profile, seed=1), build_meter(profile, seed=2)
    assert a.phase_scales != b.phase_scales
    assert a.phase_scales == build_meter(profile, seed=1).phase_scales


def test_uniform_is_stateless_and_spread() -> None:
    values = [uniform(3, 1, i) for i in range(2000)]
    assert values == [uniform(3, 1, i) for i in range(2000)]
    assert all(0.0 <= v < 1.0 for v in values)
    assert 0.45 < sum(values) / len(values) < 0.55
    assert uniform(3, 1, 5) != uniform(4, 1, 5)


def test_tariffs_split_import_and_reactive_follows_power_factor() -> None:
    profile = small_profile()
    meter = build_meter(profile, start=T0)
    meter.handle_timer(meter.seconds(T0 + dt.timedelta(days=1, hours=5)))
    total = meter.energy("active_import")
    assert meter.energy("active_import_t1") + meter.energy("active_import_t2") == pytest.approx(total)
    assert meter.energy("active_import_t2") > 0 and meter.energy("active_import_t1") > 0
    tan_phi = math.tan(math.acos(0.8))
    assert meter.energy("reactive_import") == pytest.approx(tan_phi * total)
    assert meter.energy("reactive_export") == pytest.approx(tan_phi * meter.energy("active_export"))


def test_night_only_advance_counts_tariff_2_only() -> None:
    meter = build_meter(small_profile(), start=T0 + dt.timedelta(hours=22, minutes=30))
    meter.handle_timer(meter.seconds(T0 + dt.timedelta(days=1, hours=5)))
    assert meter.energy("active_import_t1") == 0.0
    assert meter.energy("active_import_t2") > 0


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=6 * 3600), min_size=1, max_size=25))
def test_energy_is_independent_of_the_step_partition_and_never_decreases(steps: list[int]) -> None:
    profile = small_profile()
    stepped = build_meter(profile, start=T0)
    ctx = stepped.context()
    previous = [-1] * 6
    t = T0
    for seconds in steps:
        t += dt.timedelta(seconds=seconds)
        stepped.handle_timer(stepped.seconds(t))
        ctx = stepped.context()
        values = [
            int(stepped.device.get(3, ln, 2, ctx))  # type: ignore[call-overload]
            for ln in (
                "1-0:1.8.0*255",
                "1-0:1.8.1*255",
                "1-0:1.8.2*255",
                "1-0:2.8.0*255",
                "1-0:3.8.0*255",
                "1-0:4.8.0*255",
            )
        ]
        assert all(v >= p for v, p in zip(values, previous, strict=True))
        previous = values
    jumped = build_meter(profile, start=T0)
    jumped.handle_timer(jumped.seconds(t))
    for q in ("active_import", "active_import_t1", "active_import_t2", "active_export"):
        assert stepped.energy(q) == pytest.approx(jumped.energy(q), rel=1e-9, abs=1e-9)
    assert stepped.load_profile is not None and jumped.load_profile is not None
    assert [r[0] for r in stepped.load_profile.buffer] == [r[0] for r in jumped.load_profile.buffer]


def test_earlier_time_is_ignored() -> None:
    meter = build_meter(small_profile(), start=T0)
    meter.handle_timer(meter.seconds(T0 + HOUR))
    energy = meter.energy("active_import")
    meter.handle_timer(meter.seconds(T0))
    assert meter.now == T0 + HOUR
    assert meter.energy("active_import") == energy


def test_deterministic_given_the_seed() -> None:
    profile = load_profile()
    runs = []
    for _ in range(2):
        meter = build_meter(profile, seed=99, start=T0)
        meter.handle_timer(meter.seconds(T0 + dt.timedelta(days=1, minutes=3)))
        assert meter.load_profile is not None
        runs.append(([meter.energy(i) for i in range(6)], list(meter.load_profile.buffer)))
    assert runs[0] == runs[1]
    other = build_meter(profile, seed=100, start=T0)
    other.handle_timer(other.seconds(T0 + dt.timedelta(days=1, minutes=3)))
    assert other.energy("active_import") != runs[0][0][0]


def test_remote_disconnect_stops_consumption_and_reconnect_resumes() -> None:
    meter = build_meter(small_profile(), start=T0)
    management = meter.association(1)
    assert management is not None and meter.disconnect_control is not None
    meter.handle_timer(meter.seconds(T0 + HOUR))
    before = meter.energy("active_import")
    ctx = meter.context(management, authenticated=True)
    meter.device.action(70, "0-0:96.3.10*255", 1, Integer(0), ctx)
    assert not meter.supply_on
    meter.handle_timer(meter.seconds(T0 + 5 * HOUR))
    assert meter.energy("active_import") == before
    assert meter.instantaneous("current_l1") == 0.0
    assert meter.instantaneous("active_power_import") == 0.0
    assert meter.instantaneous("voltage_l1") > 200  # the grid side still has voltage
    meter.device.action(70, "0-0:96.3.10*255", 2, Integer(0), meter.context(management))
    assert meter.supply_on
    meter.handle_timer(meter.seconds(T0 + 6 * HOUR))
    assert meter.energy("active_import") > before


def test_disconnect_request_later_than_the_meter_time_counts_energy_up_to_it() -> None:
    meter = build_meter(small_profile(), start=T0)
    management = meter.association(1)
    assert management is not None
    ctx = meter.context(management, now=T0 + 2 * HOUR)  # catches up first
    meter.device.action(70, "0-0:96.3.10*255", 1, Integer(0), ctx)
    reference = build_meter(small_profile(), start=T0)
    reference.handle_timer(reference.seconds(T0 + 2 * HOUR))
    assert meter.energy("active_import") == pytest.approx(reference.energy("active_import"))


def test_power_failure_stops_energy_and_instantaneous_values() -> None:
    meter = build_meter(small_profile(), start=T0)
    meter.power_down(T0 + HOUR)
    energy = meter.energy("active_import")
    assert meter.instantaneous("voltage_l1") == 0.0 and meter.instantaneous("frequency") == 0.0
    meter.handle_timer(meter.seconds(T0 + 3 * HOUR))
    events = meter.pop_events()
    assert meter.energy("active_import") == energy
    meter.power_up(T0 + 3 * HOUR)
    meter.handle_timer(meter.seconds(T0 + 4 * HOUR))
    events += meter.pop_events()
    logged = [e for e in events if isinstance(e, LoggedEvent)]
    assert [(e.name, e.code, e.time) for e in logged] == [
        ("power_down", 1, T0 + HOUR),
        ("power_up", 2, T0 + 3 * HOUR),
    ]
    assert meter.energy("active_import") > energy


def test_instantaneous_values_follow_the_model() -> None:
    meter = build_meter(small_profile(), start=T0 + 9 * HOUR)
    p = meter.net_power(meter.now)
    assert meter.instantaneous("active_power_import") == pytest.approx(max(p, 0.0))
    assert meter.instantaneous("active_power_export") == pytest.approx(max(-p, 0.0))
    assert meter.instantaneous("voltage_l1") == 230.0  # no spread configured
    assert meter.instantaneous("frequency") == 50.0
    assert meter.instantaneous("power_factor") == 0.8
    # current = |P_phase| / (V * PF); phase 2 has no generation: 300..50 W curve at 09:00
    expected_p2 = 300 + (50 - 300) * (9 * 3600 - 3.5 * 3600) / (17.5 * 3600)
    assert meter.instantaneous("current_l2") == pytest.approx(expected_p2 / (230.0 * 0.8))
