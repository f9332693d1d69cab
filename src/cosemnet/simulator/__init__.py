"""Simulated meters: a COSEM electricity meter built from a compact TOML profile, in simulated time.

* :mod:`.profile` -- the profile schema (:class:`MeterProfile`), :func:`load_profile` (a TOML file or
  the embedded default), :func:`parse_profile`;
* :mod:`.meter` -- :class:`SimulatedMeter` (a sans-IO timer core on float time since its start:
  :meth:`~SimulatedMeter.handle_timer`, :meth:`~SimulatedMeter.get_timer`,
  :meth:`~SimulatedMeter.pop_events`, :meth:`~SimulatedMeter.context`), :func:`build_meter`.

Layering: above the object model (:mod:`cosemnet.cosem`) and the security primitives; the server,
the fleet simulator and the LON segment use it, it uses none of them.
"""

from cosemnet.simulator.meter import (
    DEFAULT_START,
    LoggedEvent,
    MeterAssociation,
    MeterEffects,
    MeterEvent,
    MeterTemplate,
    PushEvent,
    SimulatedMeter,
    build_meter,
    compile_profile,
)
from cosemnet.simulator.profile import MeterProfile, ProfileError, load_profile, parse_profile

__all__ = [
    "DEFAULT_START",
    "LoggedEvent",
    "MeterAssociation",
    "MeterEffects",
    "MeterEvent",
    "MeterProfile",
    "MeterTemplate",
    "ProfileError",
    "PushEvent",
    "SimulatedMeter",
    "build_meter",
    "compile_profile",
    "load_profile",
    "parse_profile",
]
