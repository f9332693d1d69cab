"""A simulated electricity meter over the COSEM object model (sans-IO, simulated time).

:func:`build_meter` turns a :class:`~cosemnet.simulator.profile.MeterProfile` into a
:class:`SimulatedMeter`: one :class:`~cosemnet.cosem.LogicalDevice` holding the profile's objects,
the associations with their object lists and rights, and a load model. Nothing reads the system
clock. The meter is a sans-IO timer core (docs/sans-io.md): its time is float seconds since its
*anchor* (:attr:`SimulatedMeter.anchor`, the simulated start by default);
:meth:`SimulatedMeter.handle_timer` moves the simulated time forward, integrating energy, capturing
the load profile at every boundary crossed, closing demand periods and running scheduled pushes;
:meth:`SimulatedMeter.get_timer` says when the next of these is due and
:meth:`SimulatedMeter.pop_events` gives what happened. Calendar datetimes stay at the edges: the COSEM
objects, :meth:`SimulatedMeter.catch_up` (exact, by date) and :meth:`SimulatedMeter.calendar` /
:meth:`SimulatedMeter.seconds` to convert. Requests are served with an
:class:`~cosemnet.cosem.AccessContext` from :meth:`SimulatedMeter.context` (``now`` = simulated time).

Sharing (the fleet simulator runs thousands of meters per process): everything derived from the
profile alone -- logical names, base names, access rights, the associations' object lists, capture
object definitions, the compiled load curve -- lives once in a :class:`MeterTemplate` (cached per
profile) and is shared by every meter; a meter holds its objects, its energy accumulators and a seed.

Load model (design choices; no standard covers a simulator):

* per phase, a daily consumption curve and an optional generation curve, linear between points, in
  standard local time (UTC minus the profile's time zone, daylight saving ignored);
* per meter, the consumption of each phase is scaled by a factor drawn from the seed, per day by a
  further factor, the generation by another: all drawn with a stateless hash of (seed, what, index),
  so the meter keeps no random-generator state and results depend only on the seed;
* the metered power is the algebraic sum of the phase powers P(t) (consumption minus generation);
  active import (1.8.x) integrates max(P, 0), active export (2.8.0) max(-P, 0), exactly (P is
  piecewise linear: each piece is integrated in closed form, split where P crosses zero);
* reactive energy: Q+ (3.8.0) = tan(phi) x active import, Q- (4.8.0) = tan(phi) x active export,
  phi = acos(power_factor);
* tariff registers 1.8.1 / 1.8.2 take the import energy while tariff 1 / 2 is in force;
* while the supply is disconnected (Disconnect control output_state false) or the power is down
  (:meth:`SimulatedMeter.power_down`), no energy is counted and instantaneous current and power are 0;
* registers show ``floor(physical / 10**scaler)`` for energy (so a value never goes backwards or
  ahead of the true energy) and the rounded value for instantaneous quantities;
* voltage varies per phase and minute, frequency per minute, within the profile's spreads.

Scheduling choices: load profile captures and scheduled pushes happen at multiples of their period
in the meter's *clock* time (which a client may adjust); a clock adjustment skips the boundaries it
jumps over (the event log records it: clock_adjusted_old with the old time, then clock_adjusted_new).
Captures continue while the power is down (the clock is battery-backed). Demand periods run on the
simulated reference time, aligned on multiples of the period. :meth:`SimulatedMeter.handle_timer`
with a time earlier than the meter's ignores it (simulated time never goes backwards).
"""

from __future__ import annotations

import bisect
import datetime as _dt
import functools
import math
from array import array
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

from cosemnet.codec.datetime import CosemDateTime
from cosemnet.codec.obis import Obis
from cosemnet.codec.types import (
    DataValue,
    DoubleLong,
    DoubleLongUnsigned,
    Float32,
    Integer,
    Long,
    Long64,
    Long64Unsigned,
    LongUnsigned,
    TypedInt,
    Unsigned,
)
from cosemnet.codec.xdlms.notification import DataNotification
from cosemnet.cosem.access import AttributeAccess, MethodAccess, ObjectAccessRights
from cosemnet.cosem.association import AssociationBase, ObjectListEntry
from cosemnet.cosem.association_ln import (
    CONTEXT_LN_CIPHERING,
    CONTEXT_LN_NO_CIPHERING,
    CONTEXT_SN_CIPHERING,
    CONTEXT_SN_NO_CIPHERING,
    AssociationLN,
)
from cosemnet.cosem.association_sn import AssociationSN
from cosemnet.cosem.base import InterfaceClass, SelectiveAccess, read_only
from cosemnet.cosem.clock import Clock, ClockBase, resolve_dst_date
from cosemnet.cosem.common import ActionItem, CaptureObjectDefinition
from cosemnet.cosem.context import AccessContext, SideEffects
from cosemnet.cosem.data import Data
from cosemnet.cosem.demand_register import DemandRegister
from cosemnet.cosem.disconnect_control import ControlMode, DisconnectControl
from cosemnet.cosem.image_transfer import ImageTransfer
from cosemnet.cosem.logical_device import LOGICAL_DEVICE_NAME_LN, DeviceEffects, LogicalDevice
from cosemnet.cosem.profile_generic import ProfileGeneric
from cosemnet.cosem.push_setup import MessageType, PushSetup, SendDestinationAndMethod, TransportService
from cosemnet.cosem.register import Register
from cosemnet.cosem.results import type_unmatched
from cosemnet.cosem.sap_assignment import SapAssignment
from cosemnet.cosem.script_table import ActionSpecification, Script, ScriptTable, ServiceId
from cosemnet.cosem.security_setup import SecurityPolicy, SecuritySetup
from cosemnet.cosem.single_action_schedule import SingleActionSchedule
from cosemnet.security.keys import KeySet
from cosemnet.security.suite import SecuritySuite
from cosemnet.simulator.profile import (
    DAY,
    ENERGY_QUANTITIES,
    INSTANTANEOUS_QUANTITIES,
    AssociationConfig,
    CaptureRef,
    Identity,
    LoadModelConfig,
    MeterProfile,
    ProfileError,
    load_profile,
)

DEFAULT_START: Final = _dt.datetime(2024, 1, 1, tzinfo=_dt.UTC)
UPDATE_GRANULE: Final = _dt.timedelta(seconds=1)
""":meth:`SimulatedMeter.handle_timer` updates the meter at most once per this much simulated time, unless
something falls due sooner (see docs/decisions/0053)."""
"""Simulated start time when none is given (a fixed instant, so runs are reproducible)."""

MAX_PENDING_EVENTS: Final = 1024
"""Events kept for :meth:`SimulatedMeter.pop_events`; older ones are dropped (design choice)."""

ValueClass = type[TypedInt] | type[Float32] | type[float]

VALUE_CLASSES: Final[dict[str, ValueClass]] = {
    "double-long-unsigned": DoubleLongUnsigned,
    "double-long": DoubleLong,
    "long-unsigned": LongUnsigned,
    "long": Long,
    "unsigned": Unsigned,
    "integer": Integer,
    "long64-unsigned": Long64Unsigned,
    "long64": Long64,
    "float32": Float32,
    "float64": float,
}

# Accumulator slots of SimulatedMeter._state (energy in Wh / varh, then per-meter factors).
IMPORT, IMPORT_T1, IMPORT_T2, EXPORT, REACTIVE_IMPORT, REACTIVE_EXPORT = range(6)
_PHASE_SCALE = 6  # 6, 7, 8: consumption scale of phases 1..3
_GENERATION_SCALE = 9
_STATE_SIZE = 10

_SALT_PHASE, _SALT_GENERATION, _SALT_DAY, _SALT_VOLTAGE, _SALT_FREQUENCY = 1, 2, 3, 4, 5
_MASK64 = (1 << 64) - 1


def _mix(x: int) -> int:
    """SplitMix64 finaliser: a stateless, platform-independent 64-bit hash step."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


def uniform(seed: int, salt: int, index: int = 0, sub: int = 0) -> float:
    """A number in [0, 1) determined by (seed, salt, index, sub) only."""
    h = _mix(seed & _MASK64)
    h = _mix(h ^ salt)
    h = _mix(h ^ (index & _MASK64))
    h = _mix(h ^ (sub & _MASK64))
    return (h >> 11) / 9007199254740992.0


def spread(seed: int, amount: float, salt: int, index: int = 0, sub: int = 0) -> float:
    """A factor in [1 - amount, 1 + amount)."""
    if amount == 0.0:
        return 1.0
    return 1.0 + amount * (2.0 * uniform(seed, salt, index, sub) - 1.0)


_ZEROS: dict[ValueClass, DataValue] = {}


def _zero(cls: ValueClass) -> DataValue:
    """One shared zero per value type (values are immutable; saves memory per meter)."""
    value = _ZEROS.get(cls)
    if value is None:
        value = _ZEROS[cls] = cls(0)
    return value


def to_register_value(physical: float, scaler: int, cls: ValueClass, *, floor: bool) -> DataValue:
    """``physical / 10**scaler`` as a value of ``cls`` (integer types floored or rounded, clamped)."""
    scaled = physical * 10 ** (-scaler) if scaler <= 0 else physical / 10**scaler
    if cls is float:
        return float(scaled)
    if cls is Float32:
        return Float32(scaled)
    int_cls: type[TypedInt] = cls  # type: ignore[assignment]
    n = math.floor(scaled) if floor else round(scaled)
    return int_cls(max(int_cls.minimum, min(int_cls.maximum, n)))


def _positive_negative(pa: float, pb: float, seconds: float) -> tuple[float, float]:
    """Integrals of max(P, 0) and max(-P, 0) for P linear from ``pa`` to ``pb`` over ``seconds``."""
    if pa >= 0.0 and pb >= 0.0:
        return (pa + pb) * 0.5 * seconds, 0.0
    if pa <= 0.0 and pb <= 0.0:
        return 0.0, -(pa + pb) * 0.5 * seconds
    zero = pa / (pa - pb) * seconds
    if pa > 0.0:
        return pa * zero * 0.5, -pb * (seconds - zero) * 0.5
    return pb * (seconds - zero) * 0.5, -pa * zero * 0.5


# --------------------------------------------------------------------------------------------------
# Load curve (shared)


def _periodic_value(points: tuple[tuple[int, float], ...], second: int) -> float:
    """Value at ``second`` of day of a daily curve linear between points, wrapping at midnight."""
    if not points:
        return 0.0
    if len(points) == 1:
        return points[0][1]
    times = [s for s, _ in points]
    i = bisect.bisect_right(times, second) - 1
    if i < 0 or i == len(points) - 1:
        (s0, w0), (s1, w1) = points[-1], points[0]
        s1 += DAY
        x = second if second >= s0 else second + DAY
    else:
        (s0, w0), (s1, w1) = points[i], points[i + 1]
        x = second
    return w0 + (w1 - w0) * (x - s0) / (s1 - s0)


class LoadCurve:
    """The profile's daily curves on one grid of breakpoints (shared by every meter of a profile).

    ``grid``: seconds of day from 0 to 86400 where some curve has a point or the tariff switches;
    ``consumption[p][k]`` / ``generation[k]`` (summed over phases) the values at ``grid[k]``;
    ``tariff[k]`` the tariff in force on [grid[k], grid[k+1]); ``shift`` = seconds to add to UTC to
    get standard local time.
    """

    __slots__ = ("consumption", "generation", "generation_phase", "grid", "shift", "tan_phi", "tariff")

    def __init__(self, config: LoadModelConfig, time_zone: int) -> None:
        seconds = {0, DAY}
        for phase in config.phases:
            seconds.update(s for s, _ in phase.consumption)
            seconds.update(s for s, _ in phase.generation)
        seconds.update(s for s, _ in config.tariffs)
        self.grid: tuple[int, ...] = tuple(sorted(seconds))
        self.consumption: tuple[tuple[float, ...], ...] = tuple(
            tuple(_periodic_value(p.consumption, s % DAY) for s in self.grid) for p in config.phases
        )
        self.generation_phase: tuple[tuple[float, ...], ...] = tuple(
            tuple(_periodic_value(p.generation, s % DAY) for s in self.grid) for p in config.phases
        )
        self.generation: tuple[float, ...] = tuple(
            sum(g[k] for g in self.generation_phase) for k in range(len(self.grid))
        )
        tariff_times = [s for s, _ in config.tariffs]
        tariffs = []
        for s in self.grid[:-1]:
            i = bisect.bisect_right(tariff_times, s) - 1
            tariffs.append(config.tariffs[i][1])  # i == -1 wraps to the last switch of the day
        self.tariff: tuple[int, ...] = tuple(tariffs)
        self.shift = -time_zone * 60
        self.tan_phi = math.tan(math.acos(config.power_factor))


# --------------------------------------------------------------------------------------------------
# Objects with live values


class EnergyRegister(Register):
    """A Register whose value is an energy accumulator of the meter (read live)."""

    def __init__(
        self,
        logical_name: Obis,
        meter: SimulatedMeter,
        slot: int,
        scaler: int,
        unit: int,
        value_class: ValueClass,
        *,
        base_name: int | None = None,
    ) -> None:
        super().__init__(logical_name, _zero(value_class), scaler, unit, base_name=base_name)
        self.meter = meter
        self.slot = slot
        self.value_class = value_class

    def _get(self, index: int, ctx: AccessContext, selective_access: SelectiveAccess | None) -> DataValue:
        if index == 2:
            return to_register_value(self.meter.energy(self.slot), self.scaler, self.value_class, floor=True)
        return self.scaler_unit

    def _set(self, index: int, value: DataValue, ctx: AccessContext) -> None:
        if index == 2:
            raise read_only(index)
        super()._set(index, value, ctx)

    def _reset(self, ctx: AccessContext) -> None:
        self.meter.reset_energy(self.slot, ctx)


class InstantaneousRegister(Register):
    """A Register whose value is an instantaneous quantity of the load model at ``ctx.now``."""

    def __init__(
        self,
        logical_name: Obis,
        meter: SimulatedMeter,
        quantity: int,
        scaler: int,
        unit: int,
        value_class: ValueClass,
        *,
        base_name: int | None = None,
    ) -> None:
        super().__init__(logical_name, _zero(value_class), scaler, unit, base_name=base_name)
        self.meter = meter
        self.quantity = quantity
        self.value_class = value_class

    def _get(self, index: int, ctx: AccessContext, selective_access: SelectiveAccess | None) -> DataValue:
        if index == 2:
            physical = self.meter.instantaneous(self.quantity, ctx.now)
            return to_register_value(physical, self.scaler, self.value_class, floor=False)
        return self.scaler_unit

    def _set(self, index: int, value: DataValue, ctx: AccessContext) -> None:
        if index == 2:
            raise read_only(index)
        super()._set(index, value, ctx)

    def _reset(self, ctx: AccessContext) -> None:
        """Nothing to reset: the value is measured."""


@functools.lru_cache(maxsize=512)
def _dst_dates(
    begin: CosemDateTime, end: CosemDateTime, year: int
) -> tuple[_dt.datetime | None, _dt.datetime | None]:
    """The DST begin and end instants of a year, shared by every meter (patterns are immutable)."""
    return resolve_dst_date(begin, year), resolve_dst_date(end, year)


class MeterClock(Clock):
    """A Clock that tells the meter when a client adjusts it (event log, capture schedule).

    :meth:`dst_active` is :meth:`Clock.dst_active` with the yearly DST dates cached across meters
    (every clock reading asks several times; the dates were most of the cost of a capture).
    """

    def __init__(
        self,
        logical_name: Obis,
        meter: SimulatedMeter,
        time_zone: int,
        *,
        daylight_savings_begin: CosemDateTime | None,
        daylight_savings_end: CosemDateTime | None,
        daylight_savings_deviation: int,
        daylight_savings_enabled: bool,
        clock_base: ClockBase,
        base_name: int | None = None,
    ) -> None:
        super().__init__(
            logical_name,
            time_zone,
            daylight_savings_begin=daylight_savings_begin,
            daylight_savings_end=daylight_savings_end,
            daylight_savings_deviation=daylight_savings_deviation,
            daylight_savings_enabled=daylight_savings_enabled,
            clock_base=clock_base,
            base_name=base_name,
        )
        self.meter = meter

    def dst_active(self, utc: _dt.datetime) -> bool:
        if not self.daylight_savings_enabled:
            return False
        standard = (utc - _dt.timedelta(minutes=self.time_zone)).replace(tzinfo=None)
        begin, end = _dst_dates(self.daylight_savings_begin, self.daylight_savings_end, standard.year)
        if begin is None or end is None:
            return False
        end_standard = end - _dt.timedelta(minutes=self.daylight_savings_deviation)
        if begin <= end_standard:
            return begin <= standard < end_standard
        return standard >= begin or standard < end_standard

    def _set(self, index: int, value: DataValue, ctx: AccessContext) -> None:
        self.meter.catch_up(ctx.now)
        before = self.offset
        super()._set(index, value, ctx)
        if self.offset != before:
            self.meter.clock_adjusted(before, ctx)

    def _action(self, index: int, parameter: DataValue, ctx: AccessContext) -> DataValue | None:
        self.meter.catch_up(ctx.now)
        before = self.offset
        result = super()._action(index, parameter, ctx)
        if self.offset != before:
            self.meter.clock_adjusted(before, ctx)
        return result


class AlarmRegister(Data):
    """Alarm register (class 1, a double-long-unsigned bit field). A SET clears the bits set in the
    written value and keeps the others, so a head-end acknowledging the alarms it stored never clears
    one raised since (write-one-to-clear; docs/decisions/0127)."""

    def raise_bits(self, bits: int) -> None:
        assert isinstance(self.value, int)
        self.value = DoubleLongUnsigned((self.value | bits) & 0xFFFFFFFF)

    def _set(self, index: int, value: DataValue, ctx: AccessContext) -> None:
        if not isinstance(value, DoubleLongUnsigned):
            raise type_unmatched("the alarm register is written with a double-long-unsigned bit mask")
        assert isinstance(self.value, int)
        self.value = DoubleLongUnsigned(self.value & ~int(value) & 0xFFFFFFFF)


def _own_entries(association: AssociationBase) -> None:
    """Copy-on-write: give an association its own object list before the first change."""
    if getattr(association, "shared_entries", False):
        association._entries = dict(association._entries)
        association.shared_entries = False  # type: ignore[attr-defined]


class MeterAssociationLN(AssociationLN):
    """Association LN whose object list is shared with the other meters of a profile until changed."""

    shared_entries = False

    def share_entries(self, entries: dict[tuple[int, bytes], ObjectListEntry]) -> None:
        self._entries = entries
        self.shared_entries = True

    def add_entry(self, entry: ObjectListEntry) -> None:
        _own_entries(self)
        super().add_entry(entry)

    def add_profile_entry(self, entry: ObjectListEntry) -> None:
        """Add an entry that every meter sharing this object list gets too (an object each of them
        has, e.g. the mesh node's management objects, decision 0124): no copy, unlike add_entry."""
        self._entries[entry.key] = entry

    def remove_entry(self, class_id: int, logical_name: bytes) -> bool:
        _own_entries(self)
        return super().remove_entry(class_id, logical_name)


class MeterAssociationSN(AssociationSN):
    """Association SN whose object list is shared with the other meters of a profile until changed."""

    shared_entries = False

    def share_entries(self, entries: dict[tuple[int, bytes], ObjectListEntry]) -> None:
        self._entries = entries
        self.shared_entries = True

    def add_entry(self, entry: ObjectListEntry) -> None:
        _own_entries(self)
        super().add_entry(entry)

    def remove_entry(self, class_id: int, logical_name: bytes) -> bool:
        _own_entries(self)
        return super().remove_entry(class_id, logical_name)


class MeterDevice(LogicalDevice):
    """The meter's logical device. While a meter is being built from its template, the short-name
    overlap check of :meth:`LogicalDevice.add` (quadratic in the number of objects, the bulk of the
    build time) is skipped: the template allocated the base names without overlaps once for every
    meter of the profile. Objects added later are checked as usual."""

    def __init__(self, logical_device_name: bytes, *, server_sap: int = 1) -> None:
        self.trusted_base_names = False
        super().__init__(logical_device_name, server_sap=server_sap)

    def _check_short_names(self, obj: InterfaceClass) -> None:
        if not self.trusted_base_names:
            super()._check_short_names(obj)


class MeterEffects(DeviceEffects):
    """The meter's side effects: object-to-object hooks of :class:`DeviceEffects`, plus pushes,
    supply switching, image activation and key changes reported to the :class:`SimulatedMeter`.

    The server may subclass it per connection (e.g. to answer reply_to_HLS_authentication) and pass
    an instance to :meth:`SimulatedMeter.context`.
    """

    def __init__(self, meter: SimulatedMeter) -> None:
        super().__init__(meter.device)
        self.meter = meter

    def timestamp(self, ctx: AccessContext) -> CosemDateTime:
        return self.meter.clock.now(ctx)

    def send_push(self, push_setup: InterfaceClass, body: DataValue, ctx: AccessContext) -> None:
        self.meter.push_sent(push_setup, body, ctx)

    def output_state_changed(self, obj: InterfaceClass, output_state: bool, ctx: AccessContext) -> None:
        self.meter.output_changed(output_state, ctx)

    def activate_image(
        self, obj: InterfaceClass, identification: bytes, image: bytes, ctx: AccessContext
    ) -> None:
        self.meter.image_activated(identification, ctx)

    def keys_changed(self, obj: InterfaceClass, key_ids: tuple[int, ...], ctx: AccessContext) -> None:
        self.meter.log_event("global_keys_changed", ctx)


# --------------------------------------------------------------------------------------------------
# Template: what every meter of a profile shares


@dataclass(frozen=True, slots=True)
class ObjectSpec:
    """One object of the profile: where it comes from and what a read-write association may do."""

    kind: str
    class_id: int
    version: int
    interface_class: type[InterfaceClass]
    logical_name: Obis
    base_name: int
    writable: frozenset[int] = frozenset()
    callable: frozenset[int] = frozenset()
    write_only: frozenset[int] = frozenset()
    index: int = 0
    """Position in the profile's list of that kind (registers, associations...)."""


_ALL = frozenset(range(1, 17))

_CLASS_FOR_KIND: Final[dict[str, type[InterfaceClass]]] = {
    "logical_device_name": Data,
    "association_ln": AssociationLN,
    "association_sn": AssociationSN,
    "security_setup": SecuritySetup,
    "sap_assignment": SapAssignment,
    "device_id": Data,
    "clock": Clock,
    "energy": Register,
    "instantaneous": Register,
    "demand": DemandRegister,
    "load_profile": ProfileGeneric,
    "event_code": Data,
    "event_log": ProfileGeneric,
    "disconnect_control": DisconnectControl,
    "disconnect_scripts": ScriptTable,
    "disconnect_schedule": SingleActionSchedule,
    "image_transfer": ImageTransfer,
    "firmware": Data,
    "push_setup": PushSetup,
    "alarm_register": Data,
    "alarm_push": PushSetup,
}

# What an association with attributes = "read-write" / methods = "access" may write / invoke.
_WRITABLE: Final[dict[str, frozenset[int]]] = {
    "association_ln": frozenset({9, 10}),
    "association_sn": frozenset({4}),
    "clock": frozenset({2, 3, 5, 6, 7, 8}),
    "demand": frozenset({8, 9}),
    "load_profile": frozenset({4, 8}),
    "disconnect_control": frozenset({4}),
    "disconnect_scripts": frozenset({2}),
    "disconnect_schedule": frozenset({2, 3, 4}),
    "image_transfer": frozenset({5}),
    "push_setup": frozenset({2, 3, 4, 5, 6, 7}),
    "alarm_register": frozenset({2}),
    "alarm_push": frozenset({2, 3, 4, 5, 6, 7}),
}
_CALLABLE: Final[dict[str, frozenset[int]]] = {
    "association_ln": frozenset({1, 2}),
    "association_sn": frozenset({3, 5, 6, 8}),
    "security_setup": _ALL,
    "clock": _ALL,
    "demand": frozenset({1, 2}),
    "load_profile": frozenset({1, 2}),
    "disconnect_control": frozenset({1, 2}),
    "disconnect_scripts": frozenset({1}),
    "image_transfer": frozenset({1, 2, 3, 4}),
    "push_setup": frozenset({1}),
    "alarm_push": frozenset({1}),
}
_WRITE_ONLY: Final[dict[str, frozenset[int]]] = {"association_ln": frozenset({7})}

_LDN_BASE_NAME: Final = 0x0100


@dataclass(slots=True)
class MeterTemplate:
    """Everything the meters of one profile share (built once by :func:`compile_profile`)."""

    profile: MeterProfile
    specs: tuple[ObjectSpec, ...]
    curve: LoadCurve
    object_lists: dict[Obis, dict[tuple[int, bytes], ObjectListEntry]]
    """Association logical name -> its object list (shared, copy-on-write per meter)."""
    capture_objects: tuple[CaptureObjectDefinition, ...] = ()
    event_capture_objects: tuple[CaptureObjectDefinition, ...] = ()
    push_objects: tuple[CaptureObjectDefinition, ...] = ()
    alarm_push_objects: tuple[CaptureObjectDefinition, ...] = ()
    disconnect_scripts: tuple[Script, ...] = ()
    value_classes: dict[Obis, ValueClass] = field(default_factory=dict)
    identity: Identity = field(default_factory=Identity)

    def spec(self, logical_name: Obis) -> ObjectSpec:
        for s in self.specs:
            if s.logical_name == logical_name:
                return s
        raise ProfileError(f"no object {logical_name} in the profile")


def _specs(profile: MeterProfile) -> list[tuple[str, Obis, int]]:
    """(kind, logical name, index) of every object, in object-list order."""
    items: list[tuple[str, Obis, int]] = [("logical_device_name", LOGICAL_DEVICE_NAME_LN, 0)]
    for i, a in enumerate(profile.associations):
        items.append(("association_ln" if a.referencing == "ln" else "association_sn", a.logical_name, i))
    for i, s in enumerate(profile.security_setups):
        items.append(("security_setup", s.logical_name, i))
    if profile.sap_assignment is not None:
        items.append(("sap_assignment", profile.sap_assignment, 0))
    if profile.device_id is not None:
        items.append(("device_id", profile.device_id, 0))
    items.append(("clock", profile.clock.logical_name, 0))
    for i, r in enumerate(profile.registers):
        items.append(("energy" if r.is_energy else "instantaneous", r.logical_name, i))
    for i, d in enumerate(profile.demand_registers):
        items.append(("demand", d.logical_name, i))
    if profile.load_profile is not None:
        items.append(("load_profile", profile.load_profile.logical_name, 0))
    if profile.event_log is not None:
        items.append(("event_code", profile.event_log.event_code_object, 0))
        items.append(("event_log", profile.event_log.logical_name, 0))
    if profile.disconnect_control is not None:
        items.append(("disconnect_control", profile.disconnect_control.logical_name, 0))
        if profile.disconnect_control.script_table is not None:
            items.append(("disconnect_scripts", profile.disconnect_control.script_table, 0))
            if profile.disconnect_control.schedule is not None:
                items.append(("disconnect_schedule", profile.disconnect_control.schedule, 0))
    if profile.image_transfer is not None:
        items.append(("image_transfer", profile.image_transfer.logical_name, 0))
        if profile.image_transfer.firmware_object is not None:
            items.append(("firmware", profile.image_transfer.firmware_object, 0))
    if profile.push_setup is not None:
        items.append(("push_setup", profile.push_setup.logical_name, 0))
    if profile.alarm is not None:
        items.append(("alarm_register", profile.alarm.logical_name, 0))
        if profile.alarm.push_setup is not None:
            items.append(("alarm_push", profile.alarm.push_setup, 0))
    return items


def _allocate_base_names(items: list[tuple[str, Obis, int]], profile: MeterProfile) -> list[int]:
    """Base names: the logical device name at 0x0100, then every object in order, skipping the
    fixed ranges of the Association SN objects (0xFA00 by default)."""
    fixed: list[tuple[int, int]] = []
    for kind, _, index in items:
        if kind == "association_sn":
            base = profile.associations[index].base_name
            base = 0xFA00 if base is None else base
            fixed.append((base, base + AssociationSN.short_name_span()))
    result = []
    next_free = _LDN_BASE_NAME
    for kind, ln, index in items:
        if kind == "association_sn":
            base = profile.associations[index].base_name
            result.append(0xFA00 if base is None else base)
            continue
        span = _CLASS_FOR_KIND[kind].short_name_span()
        candidate = next_free
        moved = True
        while moved:
            moved = False
            for start, end in fixed:
                if candidate < end and start < candidate + span:
                    candidate = end
                    moved = True
        if candidate + span > 0x10000:
            raise ProfileError(f"{ln}: no short names left (too many objects)")
        result.append(candidate)
        next_free = candidate + span
    return result


def _capture_definitions(
    refs: Iterable[CaptureRef], by_name: dict[Obis, ObjectSpec], what: str
) -> tuple[CaptureObjectDefinition, ...]:
    result = []
    for ref in refs:
        spec = by_name.get(ref.logical_name)
        if spec is None:
            raise ProfileError(f"{what}: no object {ref.logical_name} in the profile")
        try:
            spec.interface_class.attribute_def(ref.attribute_index)
        except Exception:
            raise ProfileError(
                f"{what}: {ref.logical_name} (class {spec.class_id}) has no attribute {ref.attribute_index}"
            ) from None
        result.append(CaptureObjectDefinition(spec.class_id, spec.logical_name, ref.attribute_index, 0))
    return tuple(result)


_ATTRIBUTE_MODES: Final[dict[str, tuple[AttributeAccess, AttributeAccess, AttributeAccess]]] = {
    # (other attributes, writable attributes, write-only attributes)
    "read-only": (AttributeAccess.READ_ONLY, AttributeAccess.READ_ONLY, AttributeAccess.NO_ACCESS),
    "read-write": (AttributeAccess.READ_ONLY, AttributeAccess.READ_AND_WRITE, AttributeAccess.WRITE_ONLY),
    "authenticated-read-only": (
        AttributeAccess.AUTHENTICATED_READ_ONLY,
        AttributeAccess.AUTHENTICATED_READ_ONLY,
        AttributeAccess.NO_ACCESS,
    ),
    "authenticated-read-write": (
        AttributeAccess.AUTHENTICATED_READ_ONLY,
        AttributeAccess.AUTHENTICATED_READ_AND_WRITE,
        AttributeAccess.AUTHENTICATED_WRITE_ONLY,
    ),
}
_METHOD_MODES: Final[dict[str, MethodAccess]] = {
    "no-access": MethodAccess.NO_ACCESS,
    "access": MethodAccess.ACCESS,
    "authenticated-access": MethodAccess.AUTHENTICATED_ACCESS,
}


def _rights(spec: ObjectSpec, config: AssociationConfig, own: bool) -> ObjectAccessRights:
    other, writable, write_only = _ATTRIBUTE_MODES[config.attributes]
    method_mode = _METHOD_MODES[config.methods]
    overrides = {i: writable for i in spec.writable} | {i: write_only for i in spec.write_only}
    cls = spec.interface_class
    methods = {m.index: method_mode for m in cls.METHODS if m.index in spec.callable}
    if own and config.mechanism_id >= 2:
        # The association must reach its own reply_to_HLS_authentication.
        hls_method = 1 if config.referencing == "ln" else 8
        if methods.get(hls_method, MethodAccess.NO_ACCESS) is MethodAccess.NO_ACCESS:
            methods[hls_method] = MethodAccess.ACCESS
    defined = {a.index for a in cls.ATTRIBUTES}
    return ObjectAccessRights.for_class(
        cls,
        other,
        MethodAccess.NO_ACCESS,
        {i: m for i, m in overrides.items() if i in defined},
        methods,
    )


@functools.lru_cache(maxsize=32)
def compile_profile(profile: MeterProfile) -> MeterTemplate:
    """The shared part of every meter built from ``profile`` (cached)."""
    items = _specs(profile)
    names = [ln for _, ln, _ in items]
    duplicates = sorted({str(n) for n in names if names.count(n) > 1})
    if duplicates:
        raise ProfileError(f"logical names used twice: {', '.join(duplicates)}")
    base_names = _allocate_base_names(items, profile)
    specs = []
    for (kind, ln, index), base_name in zip(items, base_names, strict=True):
        cls = _CLASS_FOR_KIND[kind]
        specs.append(
            ObjectSpec(
                kind,
                cls.CLASS_ID,
                cls.VERSION,
                cls,
                ln,
                base_name,
                _WRITABLE.get(kind, frozenset()),
                _CALLABLE.get(kind, frozenset()),
                _WRITE_ONLY.get(kind, frozenset()),
                index,
            )
        )
    by_name = {s.logical_name: s for s in specs}
    phases = len(profile.load.phases)
    for r in profile.registers:
        if r.quantity[-2:] in ("l2", "l3") and int(r.quantity[-1]) > phases:
            raise ProfileError(
                f"registers: {r.logical_name} measures {r.quantity}; the load has {phases} phase(s)"
            )

    object_lists: dict[Obis, dict[tuple[int, bytes], ObjectListEntry]] = {}
    rights_cache: dict[tuple[object, ...], ObjectAccessRights] = {}
    for i, a in enumerate(profile.associations):
        if a.objects is None:
            visible = list(specs)
        else:
            for ln in a.objects:
                if ln not in by_name:
                    raise ProfileError(f"associations[{i}].objects: no object {ln} in the profile")
            wanted = set(a.objects)
            visible = [s for s in specs if s.logical_name in wanted]
        for ln in a.exclude:
            if ln not in by_name:
                raise ProfileError(f"associations[{i}].exclude: no object {ln} in the profile")
        visible = [s for s in visible if s.logical_name not in a.exclude]
        if a.logical_name not in {s.logical_name for s in visible}:
            visible.append(by_name[a.logical_name])
        entries: dict[tuple[int, bytes], ObjectListEntry] = {}
        for s in visible:
            own = s.logical_name == a.logical_name
            key = (s.kind, s.interface_class, a.attributes, a.methods, own and a.mechanism_id >= 2)
            rights = rights_cache.get(key)
            if rights is None:
                rights = rights_cache[key] = _rights(s, a, own)
            entry = ObjectListEntry(s.class_id, s.version, s.logical_name, rights, s.base_name)
            entries[entry.key] = entry
        object_lists[a.logical_name] = entries

    template = MeterTemplate(
        profile=profile,
        specs=tuple(specs),
        curve=LoadCurve(profile.load, profile.clock.time_zone),
        object_lists=object_lists,
        identity=profile.identity,
    )
    _derived_definitions(template, by_name)
    return template


def _derived_definitions(template: MeterTemplate, by_name: dict[Obis, ObjectSpec]) -> None:
    """The template's capture / push object definitions, disconnector scripts and value classes."""
    profile = template.profile
    if profile.load_profile is not None:
        template.capture_objects = _capture_definitions(
            profile.load_profile.capture_objects, by_name, "load_profile.capture_objects"
        )
    if profile.event_log is not None:
        template.event_capture_objects = (
            CaptureObjectDefinition(Clock.CLASS_ID, profile.clock.logical_name, 2, 0),
            CaptureObjectDefinition(Data.CLASS_ID, profile.event_log.event_code_object, 2, 0),
        )
    if profile.push_setup is not None:
        template.push_objects = _capture_definitions(
            profile.push_setup.push_objects, by_name, "push_setup.push_objects"
        )
    if profile.alarm is not None and profile.alarm.push_setup is not None:
        template.alarm_push_objects = (
            CaptureObjectDefinition(PushSetup.CLASS_ID, profile.alarm.push_setup, 1, 0),
            *(
                (CaptureObjectDefinition(Data.CLASS_ID, profile.device_id, 2, 0),)
                if profile.device_id is not None
                else ()
            ),
            CaptureObjectDefinition(Data.CLASS_ID, profile.alarm.logical_name, 2, 0),
        )
    if profile.disconnect_control is not None and profile.disconnect_control.script_table is not None:
        ln = profile.disconnect_control.logical_name
        template.disconnect_scripts = (
            Script(1, (ActionSpecification(ServiceId.EXECUTE_METHOD, 70, ln, 1, Integer(0)),)),
            Script(2, (ActionSpecification(ServiceId.EXECUTE_METHOD, 70, ln, 2, Integer(0)),)),
        )
    for r in profile.registers:
        template.value_classes[r.logical_name] = VALUE_CLASSES[r.value_type]
    for d in profile.demand_registers:
        template.value_classes[d.logical_name] = VALUE_CLASSES[d.value_type]


# --------------------------------------------------------------------------------------------------
# Events


@dataclass(frozen=True, slots=True)
class PushEvent:
    """A push the meter wants sent: the DataNotification body and where it goes.

    The transport layer builds and protects the APDU (:meth:`data_notification`) and sends it to
    ``destination`` as ``send_destination_and_method`` says.
    """

    time: _dt.datetime
    """Simulated reference time of the push."""
    push_setup: Obis
    destination: SendDestinationAndMethod
    body: DataValue
    date_time: bytes
    """The meter's clock time (12-byte date-time) for the notification's date-time field."""

    def data_notification(self, invoke_id: int = 0, *, with_time: bool = True) -> DataNotification:
        return DataNotification(invoke_id, self.date_time if with_time else None, self.body)


@dataclass(frozen=True, slots=True)
class LoggedEvent:
    """An event the meter recorded (in its event log when it has one)."""

    time: _dt.datetime
    name: str
    code: int


MeterEvent = PushEvent | LoggedEvent


@dataclass(frozen=True, slots=True)
class MeterAssociation:
    """What the server needs to run one client SAP's association."""

    config: AssociationConfig
    association: AssociationLN | AssociationSN
    security_setup: SecuritySetup | None

    @property
    def client_sap(self) -> int:
        return self.config.client_sap

    @property
    def mechanism_id(self) -> int:
        return self.config.mechanism_id

    @property
    def referencing(self) -> str:
        return self.config.referencing

    @property
    def security_policy(self) -> int:
        return int(self.security_setup.security_policy) if self.security_setup is not None else 0

    @property
    def application_context_name(self) -> bytes:
        """The LN/SN context the association expects, with ciphering when its policy needs it."""
        return context_name(self.config.referencing, self.security_policy, self.mechanism_id)


def context_name(referencing: str, security_policy: int, mechanism_id: int) -> bytes:
    """The application context an association uses: ciphered when its security policy asks for
    protection or its mechanism (HLS-GMAC, HLS-ECDSA) needs the ciphering context."""
    ciphered = security_policy != 0 or mechanism_id in (5, 7)
    if referencing == "ln":
        return CONTEXT_LN_CIPHERING if ciphered else CONTEXT_LN_NO_CIPHERING
    return CONTEXT_SN_CIPHERING if ciphered else CONTEXT_SN_NO_CIPHERING


# --------------------------------------------------------------------------------------------------
# The meter


class SimulatedMeter:
    """A simulated electricity meter (see the module docstring). Build it with :func:`build_meter`."""

    __slots__ = (
        "_anchor",
        "_events",
        "_firmware",
        "_now",
        "_powered",
        "_quiet",
        "_schedule_at",
        "_state",
        "_supply",
        "_trigger",
        "alarm_push",
        "alarm_register",
        "clock",
        "demand_registers",
        "device",
        "disconnect_control",
        "disconnect_schedule",
        "effects",
        "event_code",
        "event_log",
        "image_transfer",
        "load_profile",
        "push_setup",
        "seed",
        "serial",
        "system_title",
        "template",
    )

    def __init__(
        self,
        template: MeterTemplate,
        *,
        serial: int | None = None,
        system_title: bytes | None = None,
        seed: int = 0,
        start: _dt.datetime = DEFAULT_START,
        anchor: _dt.datetime | None = None,
    ) -> None:
        if start.tzinfo is None or start.utcoffset() is None:
            raise ValueError("start must be timezone-aware")
        if anchor is not None and (anchor.tzinfo is None or anchor.utcoffset() is None):
            raise ValueError("anchor must be timezone-aware")
        profile = template.profile
        identity = template.identity.derive(serial, system_title)
        self.template = template
        self.seed = seed
        self.serial = identity.serial
        self.system_title = identity.system_title
        self._now = start.astimezone(_dt.UTC)
        self._anchor = self._now if anchor is None else anchor.astimezone(_dt.UTC)
        self._quiet = self.seconds(self._now)  # handle_timer() runs the meter only from this time on
        self._powered = True
        self._supply = True
        self._trigger = "remote"
        self._events: list[MeterEvent] = []
        load = profile.load
        state = array("d", bytes(8 * _STATE_SIZE))
        for r in profile.registers:
            if r.is_energy:
                state[ENERGY_QUANTITIES.index(r.quantity)] = r.initial
        for p in range(3):
            state[_PHASE_SCALE + p] = spread(seed, load.scale_spread, _SALT_PHASE, p)
        state[_GENERATION_SCALE] = spread(seed, load.generation_spread, _SALT_GENERATION)
        self._state = state

        self.device = MeterDevice(identity.logical_device_name.encode(), server_sap=identity.server_sap)
        self.effects = MeterEffects(self)
        self.demand_registers: tuple[DemandRegister, ...] = ()
        self.load_profile: ProfileGeneric | None = None
        self.event_log: ProfileGeneric | None = None
        self.event_code: Data | None = None
        self.disconnect_control: DisconnectControl | None = None
        self.disconnect_schedule: SingleActionSchedule | None = None
        self._schedule_at: _dt.datetime | None = None
        self.image_transfer: ImageTransfer | None = None
        self.push_setup: PushSetup | None = None
        self.alarm_register: AlarmRegister | None = None
        self.alarm_push: PushSetup | None = None
        self._firmware: Data | None = None
        self.device.trusted_base_names = True
        self.demand_registers = self._build_objects(template, identity)
        self.device.name_object.base_name = _LDN_BASE_NAME
        self.device._index_short_names(self.device.name_object)
        self.device.trusted_base_names = False
        for register in self.demand_registers:
            register.start(self._ctx(_align_down(self._now, register.period)))

    # ----------------------------------------------------------------------------------------------
    # Construction

    def _build_objects(self, template: MeterTemplate, identity: Identity) -> tuple[DemandRegister, ...]:
        demands: list[DemandRegister] = []
        for spec in template.specs:
            kind = spec.kind
            obj: InterfaceClass
            if kind == "logical_device_name":
                continue
            if kind in ("association_ln", "association_sn"):
                obj = self._build_association(template, identity, spec)
            elif kind in ("security_setup", "sap_assignment", "device_id", "clock"):
                obj = self._build_management(template, identity, spec)
            elif kind in ("energy", "instantaneous", "demand"):
                obj = self._build_register(template, spec, demands)
            else:
                obj = self._build_feature(template, spec)
            self.device.add(obj)
        return tuple(demands)

    def _build_association(
        self, template: MeterTemplate, identity: Identity, spec: ObjectSpec
    ) -> InterfaceClass:
        """An Association LN or SN object of the template."""
        profile = template.profile
        kind, ln, bn = spec.kind, spec.logical_name, spec.base_name
        config = profile.associations[spec.index]
        assoc: MeterAssociationLN | MeterAssociationSN
        if kind == "association_ln":
            policy = next(
                (
                    sc.security_policy
                    for sc in profile.security_setups
                    if sc.logical_name == config.security_setup
                ),
                0,
            )
            assoc = MeterAssociationLN(
                ln,
                config.client_sap,
                identity.server_sap,
                config.mechanism_id,
                secret=config.secret,
                application_context_name=context_name("ln", policy, config.mechanism_id),
            )
            assoc.base_name = bn
        else:
            assoc = MeterAssociationSN(ln, secret=config.secret, base_name=bn)
        assoc.share_entries(template.object_lists[ln])
        if config.security_setup is not None:
            assoc.security_setup_reference = config.security_setup
        return assoc

    def _build_management(
        self, template: MeterTemplate, identity: Identity, spec: ObjectSpec
    ) -> InterfaceClass:
        """Security setup, SAP assignment, device id or clock."""
        profile = template.profile
        kind, ln, bn = spec.kind, spec.logical_name, spec.base_name
        obj: InterfaceClass
        if kind == "security_setup":
            sc = profile.security_setups[spec.index]
            obj = SecuritySetup(
                ln,
                identity.system_title,
                SecuritySuite(sc.security_suite),
                KeySet(ek=sc.ek, ak=sc.ak, broadcast_key=sc.broadcast_key, kek=sc.kek),
                security_policy=SecurityPolicy(sc.security_policy),
                client_system_title=sc.client_system_title,
                base_name=bn,
            )
        elif kind == "sap_assignment":
            obj = SapAssignment(
                ln, {identity.server_sap: identity.logical_device_name.encode()}, base_name=bn
            )
        elif kind == "device_id":
            obj = Data(ln, identity.device_id.encode(), base_name=bn)
        else:
            assert kind == "clock", kind
            c = profile.clock
            clock = MeterClock(
                ln,
                self,
                c.time_zone,
                daylight_savings_begin=CosemDateTime.from_bytes(c.dst_begin) if c.dst_begin else None,
                daylight_savings_end=CosemDateTime.from_bytes(c.dst_end) if c.dst_end else None,
                daylight_savings_deviation=c.dst_deviation,
                daylight_savings_enabled=c.dst_enabled,
                clock_base=ClockBase(c.clock_base),
                base_name=bn,
            )
            self.clock = clock
            obj = clock
        return obj

    def _build_register(
        self, template: MeterTemplate, spec: ObjectSpec, demands: list[DemandRegister]
    ) -> InterfaceClass:
        """An energy, instantaneous or demand register (demand registers also go to ``demands``)."""
        profile = template.profile
        kind, ln, bn = spec.kind, spec.logical_name, spec.base_name
        obj: InterfaceClass
        if kind == "energy":
            r = profile.registers[spec.index]
            obj = EnergyRegister(
                ln,
                self,
                ENERGY_QUANTITIES.index(r.quantity),
                r.scaler,
                r.unit,
                template.value_classes[ln],
                base_name=bn,
            )
        elif kind == "instantaneous":
            r = profile.registers[spec.index]
            obj = InstantaneousRegister(
                ln,
                self,
                INSTANTANEOUS_QUANTITIES.index(r.quantity),
                r.scaler,
                r.unit,
                template.value_classes[ln],
                base_name=bn,
            )
        else:
            assert kind == "demand", kind
            d = profile.demand_registers[spec.index]
            demand: DemandRegister = DemandRegister(
                ln,
                d.period,
                d.number_of_periods,
                d.scaler,
                d.unit,
                value_type=template.value_classes[ln],
                base_name=bn,
            )
            demands.append(demand)
            obj = demand
        return obj

    def _build_feature(self, template: MeterTemplate, spec: ObjectSpec) -> InterfaceClass:
        """Load profile, events, disconnect control, image transfer, firmware or push setup."""
        profile = template.profile
        kind, ln, bn = spec.kind, spec.logical_name, spec.base_name
        obj: InterfaceClass
        if kind == "load_profile":
            lp = profile.load_profile
            assert lp is not None
            self.load_profile = ProfileGeneric(
                ln,
                template.capture_objects,
                lp.capture_period,
                lp.profile_entries,
                max_entries=lp.max_entries or None,
                base_name=bn,
            )
            obj = self.load_profile
        elif kind == "event_code":
            self.event_code = Data(ln, _zero(Unsigned), base_name=bn)
            obj = self.event_code
        elif kind == "event_log":
            ev = profile.event_log
            assert ev is not None
            self.event_log = ProfileGeneric(
                ln, template.event_capture_objects, 0, ev.profile_entries, base_name=bn
            )
            obj = self.event_log
        elif kind == "disconnect_control":
            dc = profile.disconnect_control
            assert dc is not None
            self.disconnect_control = DisconnectControl(ln, ControlMode(dc.control_mode), base_name=bn)
            obj = self.disconnect_control
        elif kind == "disconnect_scripts":
            obj = ScriptTable(ln, template.disconnect_scripts, base_name=bn)
        elif kind == "disconnect_schedule":
            dc = profile.disconnect_control
            assert dc is not None and dc.script_table is not None
            self.disconnect_schedule = SingleActionSchedule(ln, ActionItem(dc.script_table, 1), base_name=bn)
            obj = self.disconnect_schedule
        elif kind == "image_transfer":
            it = profile.image_transfer
            assert it is not None
            self.image_transfer = ImageTransfer(ln, it.block_size, base_name=bn)
            obj = self.image_transfer
        elif kind == "firmware":
            it = profile.image_transfer
            assert it is not None
            self._firmware = Data(ln, it.firmware_version, base_name=bn)
            obj = self._firmware
        elif kind == "alarm_register":
            self.alarm_register = AlarmRegister(ln, DoubleLongUnsigned(0), base_name=bn)
            obj = self.alarm_register
        elif kind == "alarm_push":
            self.alarm_push = PushSetup(ln, template.alarm_push_objects, base_name=bn)
            obj = self.alarm_push
        else:
            assert kind == "push_setup", kind
            ps = profile.push_setup
            assert ps is not None
            self.push_setup = PushSetup(
                ln,
                template.push_objects,
                SendDestinationAndMethod(
                    TransportService(ps.transport), ps.destination, MessageType.A_XDR_XDLMS_APDU
                ),
                (),
                ps.randomisation_start_interval,
                ps.number_of_retries,
                ps.repetition_delay,
                base_name=bn,
            )
            obj = self.push_setup
        return obj

    # ----------------------------------------------------------------------------------------------
    # Identity and associations

    @property
    def profile(self) -> MeterProfile:
        return self.template.profile

    @property
    def identity(self) -> Identity:
        return self.template.identity.derive(self.serial, self.system_title)

    @property
    def logical_device_name(self) -> bytes:
        return self.device.logical_device_name

    def association(self, client_sap: int) -> MeterAssociation | None:
        """The association of ``client_sap`` (None when the meter has none for it)."""
        config = self.profile.association(client_sap)
        if config is None:
            return None
        class_id = AssociationLN.CLASS_ID if config.referencing == "ln" else AssociationSN.CLASS_ID
        obj = self.device.find(class_id, config.logical_name)
        assert isinstance(obj, AssociationLN | AssociationSN)
        setup = None
        if config.security_setup is not None:
            found = self.device.find(SecuritySetup.CLASS_ID, config.security_setup)
            assert isinstance(found, SecuritySetup)
            setup = found
        return MeterAssociation(config, obj, setup)

    @property
    def client_saps(self) -> tuple[int, ...]:
        return tuple(a.client_sap for a in self.profile.associations)

    def context(
        self,
        association: MeterAssociation | None = None,
        *,
        now: _dt.datetime | None = None,
        authenticated: bool = False,
        request_authenticated: bool = False,
        request_encrypted: bool = False,
        effects: SideEffects | None = None,
    ) -> AccessContext:
        """An access context for a request on ``association`` (None: the meter's own, every right).

        ``now`` (default: the meter's simulated time) first advances the meter when it is later;
        the events this produces wait in :meth:`pop_events`.
        """
        if now is not None:
            self.catch_up(now)
        when = self._now if now is None else max(now.astimezone(_dt.UTC), self._now)
        if association is None:
            return AccessContext.local(when, effects or self.effects)
        return AccessContext(
            now=when,
            effects=effects or self.effects,
            client_sap=association.client_sap,
            server_sap=self.device.server_sap,
            mechanism=association.mechanism_id,
            authenticated=authenticated,
            security_policy=association.security_policy,
            request_authenticated=request_authenticated,
            request_encrypted=request_encrypted,
            association=association.association,
        )

    def _ctx(self, when: _dt.datetime) -> AccessContext:
        return AccessContext(now=when, effects=self.effects)

    # ----------------------------------------------------------------------------------------------
    # Time

    @property
    def now(self) -> _dt.datetime:
        """The simulated reference time (UTC)."""
        return self._now

    def clock_utc(self, when: _dt.datetime | None = None) -> _dt.datetime:
        """The meter clock's reading (UTC) at reference time ``when`` (default: now)."""
        return (self._now if when is None else when) + self.clock.offset

    @property
    def anchor(self) -> _dt.datetime:
        """The calendar instant (UTC) of the meter's float time 0: its simulated start, unless given."""
        return self._anchor

    def calendar(self, now: float) -> _dt.datetime:
        """The simulated reference time (UTC) of float time ``now`` (seconds since :attr:`anchor`)."""
        return self._anchor + _dt.timedelta(seconds=now)

    def seconds(self, when: _dt.datetime) -> float:
        """The float time of reference time ``when`` (aware): seconds since :attr:`anchor`."""
        return (when - self._anchor).total_seconds()

    def handle_timer(self, now: float) -> None:
        """Run the meter up to float time ``now``; what happened waits in :meth:`pop_events` (pushes,
        logged events).

        Servers call this before every request: it runs the meter at most once per simulated second
        (:data:`UPDATE_GRANULE`) and never past a capture, push or demand period boundary, so between two
        updates the energy registers lag ``now`` by less than a second (see docs/decisions/0053).
        :meth:`catch_up` is always exact. Times earlier than the meter's are ignored."""
        if now < self._quiet:
            return
        self.catch_up(self._anchor + _dt.timedelta(seconds=now))

    def pop_events(self) -> list[MeterEvent]:
        """The pending events, oldest first (and forget them)."""
        events, self._events = self._events, []
        return events

    def get_timer(self) -> float | None:
        """When the meter next has something to do (capture, demand period end, scheduled push), in
        float time; None when nothing is scheduled."""
        deadline = self._next_deadline()
        return None if deadline is None else self.seconds(deadline)

    def _next_capture(self) -> _dt.datetime | None:
        lp = self.load_profile
        if lp is None or lp.capture_period == 0:
            return None
        offset = self.clock.offset
        due = lp.next_capture_time(self._now + offset)
        return None if due is None else due - offset

    def _next_push(self) -> _dt.datetime | None:
        ps = self.profile.push_setup
        if self.push_setup is None or ps is None or ps.interval == 0:
            return None
        offset = self.clock.offset
        return _align_down(self._now + offset, ps.interval) + _dt.timedelta(seconds=ps.interval) - offset

    def _next_deadline(self) -> _dt.datetime | None:
        candidates = [self._next_capture(), self._next_push()]
        candidates.extend(d.next_deadline() for d in self.demand_registers)
        present = [c for c in candidates if c is not None]
        return min(present) if present else None

    def catch_up(self, now: _dt.datetime) -> None:
        """Run the meter up to reference time ``now`` (aware; events wait in :meth:`pop_events`);
        earlier times are ignored."""
        self._advance(now.astimezone(_dt.UTC))
        schedule = self.disconnect_schedule
        if schedule is not None and schedule.execution_time:
            # the execution times that passed run now (at most a catch-up late: minimal model)
            ctx = self._ctx(self._now)
            if self._schedule_at is None:
                stamp = self.clock.now(ctx)
                self._schedule_at = _dt.datetime(
                    stamp.year, stamp.month, stamp.day, stamp.hour, stamp.minute, stamp.second
                )
            self._schedule_at, _ = schedule.tick(self._schedule_at, ctx)
        else:
            self._schedule_at = None

    def _advance(self, target: _dt.datetime) -> None:
        while target > self._now:
            capture, push = self._next_capture(), self._next_push()
            candidates = [capture, push, *(d.next_deadline() for d in self.demand_registers)]
            deadline = min([t for t in candidates if t is not None], default=None)
            if deadline is None or deadline > target:
                self._integrate(target)
                self._now = target
                quiet = target + UPDATE_GRANULE
                self._quiet = self.seconds(quiet if deadline is None or deadline > quiet else deadline)
                return
            deadline = max(deadline, self._now)
            self._integrate(deadline)
            self._now = deadline
            ctx = self._ctx(deadline)
            for demand in self.demand_registers:
                due = demand.next_deadline()
                if due is not None and due <= deadline:
                    demand.tick(ctx)
            if capture is not None and capture <= deadline and self.load_profile is not None:
                self.load_profile.capture(ctx)
            if push is not None and push <= deadline and self.push_setup is not None:
                self.push_setup.push(ctx)

    # ----------------------------------------------------------------------------------------------
    # Load model

    def day_factor(self, day: int) -> float:
        """The consumption factor of standard-local day ``day`` (days since 1970-01-01)."""
        return spread(self.seed, self.template.profile.load.day_spread, _SALT_DAY, day)

    @property
    def phase_scales(self) -> tuple[float, ...]:
        n = len(self.template.curve.consumption)
        return tuple(self._state[_PHASE_SCALE + p] for p in range(n))

    @property
    def generation_scale(self) -> float:
        return self._state[_GENERATION_SCALE]

    @property
    def supply_on(self) -> bool:
        """Energy flows: the power is up and the disconnector is closed."""
        return self._powered and self._supply

    @property
    def powered(self) -> bool:
        return self._powered

    def _net_at(self, k: int, factor: float) -> float:
        curve = self.template.curve
        state = self._state
        consumption = 0.0
        for p, values in enumerate(curve.consumption):
            consumption += state[_PHASE_SCALE + p] * values[k]
        return factor * consumption - state[_GENERATION_SCALE] * curve.generation[k]

    def net_power(self, when: _dt.datetime) -> float:
        """The metered power (W, import positive) the load model gives at ``when``, ignoring the supply
        state."""
        return sum(self._phase_powers(when))

    def _phase_powers(self, when: _dt.datetime) -> list[float]:
        curve = self.template.curve
        state = self._state
        u = when.timestamp() + curve.shift
        day = math.floor(u / DAY)
        second = u - day * DAY
        grid = curve.grid
        k = bisect.bisect_right(grid, second) - 1
        x = (second - grid[k]) / (grid[k + 1] - grid[k])
        factor = self.day_factor(day)
        result = []
        for p, values in enumerate(curve.consumption):
            c = values[k] + (values[k + 1] - values[k]) * x
            gen = curve.generation_phase[p]
            g = gen[k] + (gen[k + 1] - gen[k]) * x
            result.append(factor * state[_PHASE_SCALE + p] * c - state[_GENERATION_SCALE] * g)
        return result

    def _integrate(self, until: _dt.datetime) -> None:
        """Add the energy of [now, until] to the accumulators and the demand registers."""
        if until <= self._now or not (self._powered and self._supply):
            return
        curve = self.template.curve
        grid = curve.grid
        u = self._now.timestamp() + curve.shift
        end = until.timestamp() + curve.shift
        imported = [0.0, 0.0, 0.0]  # Ws per tariff 1, 2 (index 0 unused)
        exported = 0.0
        while u < end:
            day = math.floor(u / DAY)
            base = day * DAY
            second = u - base
            k = bisect.bisect_right(grid, second) - 1
            segment_end = min(end, base + grid[k + 1])
            factor = self.day_factor(day)
            a, b = self._net_at(k, factor), self._net_at(k + 1, factor)
            width = grid[k + 1] - grid[k]
            pa = a + (b - a) * (second - grid[k]) / width
            pb = a + (b - a) * (segment_end - base - grid[k]) / width
            positive, negative = _positive_negative(pa, pb, segment_end - u)
            imported[curve.tariff[k]] += positive
            exported += negative
            u = segment_end
        self._add_energy(imported[1], imported[2], exported, until)

    def _add_energy(self, t1_ws: float, t2_ws: float, export_ws: float, until: _dt.datetime) -> None:
        state = self._state
        tan_phi = self.template.curve.tan_phi
        total = (t1_ws + t2_ws) / 3600.0
        export = export_ws / 3600.0
        state[IMPORT] += total
        state[IMPORT_T1] += t1_ws / 3600.0
        state[IMPORT_T2] += t2_ws / 3600.0
        state[EXPORT] += export
        state[REACTIVE_IMPORT] += tan_phi * total
        state[REACTIVE_EXPORT] += tan_phi * export
        if self.demand_registers:
            increments = (total, t1_ws / 3600.0, t2_ws / 3600.0, export, tan_phi * total, tan_phi * export)
            ctx = self._ctx(until)
            for demand, config in zip(self.demand_registers, self.profile.demand_registers, strict=True):
                # the register integrates power x seconds: energy in Ws
                demand.add(increments[ENERGY_QUANTITIES.index(config.quantity)] * 3600.0, 1.0, ctx)

    def energy(self, slot: int | str) -> float:
        """An energy accumulator (Wh or varh), by slot or quantity name (``"active_import"``...)."""
        index = ENERGY_QUANTITIES.index(slot) if isinstance(slot, str) else slot
        return self._state[index]

    def reset_energy(self, slot: int, ctx: AccessContext) -> None:
        """Zero an energy accumulator (Register reset; no association gets that right by default)."""
        self.catch_up(ctx.now)
        self._state[slot] = 0.0

    def instantaneous(self, quantity: int | str, when: _dt.datetime | None = None) -> float:
        """An instantaneous quantity (V, A, W, Hz, ratio) at ``when`` (default: now), by index into
        :data:`~cosemnet.simulator.profile.INSTANTANEOUS_QUANTITIES` or by name."""
        q = INSTANTANEOUS_QUANTITIES.index(quantity) if isinstance(quantity, str) else quantity
        when = self._now if when is None else when
        load = self.profile.load
        if not self._powered:
            return 0.0
        minute = math.floor(when.timestamp() / 60)
        if q <= 2:
            return load.voltage * spread(self.seed, load.voltage_spread, _SALT_VOLTAGE, minute, q)
        if q == 8:
            if load.frequency_spread == 0.0:
                return load.frequency
            return load.frequency + load.frequency_spread * (
                2.0 * uniform(self.seed, _SALT_FREQUENCY, minute) - 1.0
            )
        if q == 9:
            return load.power_factor
        if not self._supply:
            return 0.0
        powers = self._phase_powers(when)
        if q <= 5:
            phase = q - 3
            voltage = self.instantaneous(phase, when)
            return abs(powers[phase]) / (voltage * load.power_factor)
        total = sum(powers)
        return max(total, 0.0) if q == 6 else max(-total, 0.0)

    # ----------------------------------------------------------------------------------------------
    # Events and hooks

    def log_event(self, name: str, ctx: AccessContext, at: _dt.datetime | None = None) -> None:
        """Record event ``name`` (see :data:`~cosemnet.simulator.profile.DEFAULT_EVENT_CODES`): in the
        event log (the clock time at ``ctx.now``, the event code) and as a :class:`LoggedEvent` at
        reference time ``at`` (default ``ctx.now``)."""
        ev = self.profile.event_log
        code = ev.code(name) if ev is not None else None
        if code is None:
            code = 0
        if self.event_code is not None and self.event_log is not None:
            self.event_code.value = Unsigned(code)
            self.event_log.capture(ctx.internal() if ctx.association is not None else ctx)
        self._queue(LoggedEvent(ctx.now if at is None else at, name, code))

    def security_event(self, name: str, at: _dt.datetime) -> None:
        """A security event reported by the server (``association_authentication_failure``,
        docs/decisions/0034): logged at ``at`` (the meter first catches up with it)."""
        self.catch_up(at)
        self.log_event(name, self._ctx(max(at.astimezone(_dt.UTC), self._now)))

    def raise_alarm(self, bits: int, at: _dt.datetime | None = None) -> bool:
        """Set ``bits`` in the alarm register at reference time ``at`` (default: now) and invoke the
        alarm Push setup (its PushEvent waits in :meth:`pop_events`); False: no alarm register."""
        if self.alarm_register is None:
            return False
        if at is not None:
            self.catch_up(at)
        self.alarm_register.raise_bits(bits)
        if self.alarm_push is not None:
            self.alarm_push.push(self._ctx(self._now))
        return True

    def _queue(self, event: MeterEvent) -> None:
        self._events.append(event)
        if len(self._events) > MAX_PENDING_EVENTS:
            del self._events[0]

    def power_down(self, at: _dt.datetime) -> None:
        """The mains fails at ``at``: energy stops, power_down is logged."""
        self.catch_up(at)
        if self._powered:
            self._powered = False
            self.log_event("power_down", self._ctx(self._now))

    def power_up(self, at: _dt.datetime) -> None:
        """The mains returns at ``at``: power_up is logged."""
        self.catch_up(at)
        if not self._powered:
            self._powered = True
            self.log_event("power_up", self._ctx(self._now))

    def manual_disconnect(self, at: _dt.datetime) -> bool:
        """The customer presses the disconnect button (if the control mode allows it)."""
        return self._local_trigger("manual", at, disconnect=True)

    def manual_reconnect(self, at: _dt.datetime) -> bool:
        """The customer presses the reconnect button (if the control mode allows it)."""
        return self._local_trigger("manual", at, disconnect=False)

    def _local_trigger(self, kind: str, at: _dt.datetime, *, disconnect: bool) -> bool:
        if self.disconnect_control is None:
            return False
        self.catch_up(at)
        ctx = self._ctx(self._now)
        self._trigger = kind
        try:
            dc = self.disconnect_control
            return dc.manual_disconnect(ctx) if disconnect else dc.manual_reconnect(ctx)
        finally:
            self._trigger = "remote"

    def output_changed(self, output_state: bool, ctx: AccessContext) -> None:
        """Disconnect control switched the supply (MeterEffects hook)."""
        self.catch_up(ctx.now)
        self._supply = output_state
        action = "reconnect" if output_state else "disconnect"
        self.log_event(f"{self._trigger}_{action}", ctx)

    def clock_adjusted(self, old_offset: _dt.timedelta, ctx: AccessContext) -> None:
        """A client changed the clock (MeterClock hook): log the old and the new time."""
        shift = self.clock.offset - old_offset
        self._quiet = self.seconds(self._now)  # captures follow the meter clock: their times moved
        try:
            old_ctx = AccessContext(now=ctx.now - shift, effects=self.effects)
        except OverflowError:  # a jump of thousands of years (fuzz, issue 9): log it at the new time
            old_ctx = AccessContext(now=ctx.now, effects=self.effects)
        self.log_event("clock_adjusted_old", old_ctx, ctx.now)  # logged with the old clock time
        self.log_event("clock_adjusted_new", ctx.internal() if ctx.association is not None else ctx)

    def image_activated(self, identification: bytes, ctx: AccessContext) -> None:
        """A firmware image was activated (MeterEffects hook)."""
        if self._firmware is not None:
            self._firmware.value = identification.decode("ascii", "replace")
        self.log_event("image_activated", ctx)

    def push_sent(self, push_setup: InterfaceClass, body: DataValue, ctx: AccessContext) -> None:
        """A Push setup built a DataNotification body (MeterEffects hook): queue it as a PushEvent."""
        assert isinstance(push_setup, PushSetup)
        self._queue(
            PushEvent(
                ctx.now,
                push_setup.logical_name,
                push_setup.send_destination_and_method,
                body,
                self.clock.now(ctx).to_bytes(),
            )
        )

    def __repr__(self) -> str:
        return f"SimulatedMeter({self.logical_device_name!r}, now={self._now.isoformat()}, seed={self.seed})"


def _align_down(when: _dt.datetime, period: int) -> _dt.datetime:
    """The latest multiple of ``period`` seconds since 1970-01-01 UTC at or before ``when``."""
    seconds = math.floor(when.timestamp())
    return _dt.datetime.fromtimestamp(seconds - seconds % period, _dt.UTC)


def build_meter(
    config: MeterProfile | MeterTemplate | None = None,
    *,
    system_title: bytes | None = None,
    serial: int | None = None,
    seed: int = 0,
    start: _dt.datetime = DEFAULT_START,
    history: _dt.timedelta = _dt.timedelta(0),
) -> SimulatedMeter:
    """A meter from a profile (None: the embedded default profile).

    ``system_title`` / ``serial`` give the meter its own identity (a fleet builds many meters from one
    profile; see :meth:`~cosemnet.simulator.profile.Identity.derive`); ``seed`` draws its load
    variations; ``start`` is the simulated time it starts at (aware), and its anchor (float time 0,
    see :meth:`SimulatedMeter.handle_timer`). With ``history`` the meter is installed that long before
    ``start`` and run up to it, so its registers and load profile already hold that much past (the
    events of that run are dropped).
    """
    if config is None:
        config = _default_profile()
    if history < _dt.timedelta(0):
        raise ValueError("history must not be negative")
    template = config if isinstance(config, MeterTemplate) else compile_profile(config)
    meter = SimulatedMeter(
        template, serial=serial, system_title=system_title, seed=seed, start=start - history, anchor=start
    )
    if history:
        meter.catch_up(start)
        meter.pop_events()
    return meter


@functools.cache
def _default_profile() -> MeterProfile:
    return load_profile()


__all__ = [
    "DEFAULT_START",
    "MAX_PENDING_EVENTS",
    "EnergyRegister",
    "InstantaneousRegister",
    "LoadCurve",
    "LoggedEvent",
    "MeterAssociation",
    "MeterAssociationLN",
    "MeterAssociationSN",
    "MeterClock",
    "MeterDevice",
    "MeterEffects",
    "MeterEvent",
    "MeterTemplate",
    "ObjectSpec",
    "PushEvent",
    "SimulatedMeter",
    "build_meter",
    "compile_profile",
    "to_register_value",
    "uniform",
]
