"""Shared helpers of the simulator tests: a small profile and an independent load-model integrator."""

from __future__ import annotations

import datetime as dt
import itertools
import math

from cosemnet.simulator import MeterProfile, SimulatedMeter, parse_profile

UTC = dt.UTC
T0 = dt.datetime(2024, 1, 15, 0, 0, tzinfo=UTC)

SMALL_TOML = """
[identity]
manufacturer = "ABC"
serial = 42

[clock]
time_zone = 0

[load]
power_factor = 0.8
tariffs = [["06:00", 1], ["22:00", 2]]

[[load.phases]]
consumption = [["00:00", 100], ["06:00", 400], ["12:00", 200], ["18:00", 900]]
generation = [["08:00", 0], ["12:00", 1500], ["16:00", 0]]

[[load.phases]]
consumption = [["03:30", 300], ["21:00", 50]]

[[registers]]
logical_name = "1-0:1.8.0*255"
quantity = "active_import"

[[registers]]
logical_name = "1-0:1.8.1*255"
quantity = "active_import_t1"

[[registers]]
logical_name = "1-0:1.8.2*255"
quantity = "active_import_t2"

[[registers]]
logical_name = "1-0:2.8.0*255"
quantity = "active_export"

[[registers]]
logical_name = "1-0:3.8.0*255"
quantity = "reactive_import"
scaler = -1

[[registers]]
logical_name = "1-0:4.8.0*255"
quantity = "reactive_export"

[load_profile]
profile_entries = 500
capture_objects = ["0-0:1.0.0*255", "1-0:1.8.0*255", "1-0:2.8.0*255"]

[event_log]

[disconnect_control]
control_mode = 1

[push_setup]
push_objects = ["0-0:25.9.0*255:1", "1-0:1.8.0*255"]
interval = 3600
transport = "tcp"
destination = "192.0.2.1:4059"

[[associations]]
logical_name = "0-0:40.0.1*255"
client_sap = 16
objects = ["0-0:1.0.0*255", "1-0:1.8.0*255"]

[[associations]]
logical_name = "0-0:40.0.2*255"
client_sap = 1
mechanism = "lls"
secret = "secret00"
attributes = "read-write"
methods = "access"
"""


def small_profile() -> MeterProfile:
    return parse_profile(SMALL_TOML)


def _value(points: tuple[tuple[int, float], ...], second: float) -> float:
    """Independent periodic linear interpolation of a daily curve (written apart from the meter's)."""
    if not points:
        return 0.0
    if len(points) == 1:
        return points[0][1]
    extended = (
        [(s - 86400, w) for s, w in points[-1:]] + list(points) + [(s + 86400, w) for s, w in points[:1]]
    )
    for (s0, w0), (s1, w1) in itertools.pairwise(extended):
        if s0 <= second <= s1:
            return w0 + (w1 - w0) * (second - s0) / (s1 - s0)
    raise AssertionError("unreachable")


def reference_energy(
    profile: MeterProfile, meter: SimulatedMeter, start: dt.datetime, end: dt.datetime, step: float = 5.0
) -> dict[str, float]:
    """Trapezoidal integration (step seconds) of the load model written from the profile alone.

    Uses the meter's per-meter factors (phase scales, generation scale, day factors), which the
    tests check separately.
    """
    shift = -profile.clock.time_zone * 60
    scales = meter.phase_scales
    gen_scale = meter.generation_scale
    tariffs = profile.load.tariffs

    def power(t: float) -> float:
        local = t + shift
        day = math.floor(local / 86400)
        second = local - day * 86400
        factor = meter.day_factor(day)
        total = 0.0
        for p, phase in enumerate(profile.load.phases):
            total += factor * scales[p] * _value(phase.consumption, second)
            total -= gen_scale * _value(phase.generation, second)
        return total

    def tariff(t: float) -> int:
        second = (t + shift) % 86400
        current = tariffs[-1][1]
        for s, number in tariffs:
            if second >= s:
                current = number
        return current

    t, t_end = start.timestamp(), end.timestamp()
    result = {"import": 0.0, "t1": 0.0, "t2": 0.0, "export": 0.0}
    previous = power(t)
    while t < t_end - 1e-9:
        h = min(step, t_end - t)
        mid_tariff = tariff(t + h / 2)
        current = power(t + h)
        imported = (max(previous, 0.0) + max(current, 0.0)) / 2 * h / 3600
        exported = (max(-previous, 0.0) + max(-current, 0.0)) / 2 * h / 3600
        result["import"] += imported
        result["t1" if mid_tariff == 1 else "t2"] += imported
        result["export"] += exported
        previous = current
        t += h
    return result
