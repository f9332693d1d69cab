"""Limiter (class_id 71, version 0): acts when a value stays over (then under) a threshold.

Attributes: 2 monitored_value (value_definition), 3 threshold_active (read-only, the threshold in
force), 4 threshold_normal, 5 threshold_emergency, 6 min_over_threshold_duration, 7
min_under_threshold_duration (double-long-unsigned, seconds), 8 emergency_profile
{emergency_profile_id long-unsigned, emergency_activation_time octet-string (date-time),
emergency_duration double-long-unsigned (s)}, 9 emergency_profile_group_id_list (array of
long-unsigned), 10 emergency_profile_active (boolean, read-only), 11 actions
{action_over_threshold, action_under_threshold} (action_items). No methods.

Evaluated in injected time: the meter calls :meth:`Limiter.evaluate` (reads the monitored value
through ``ctx.effects.read_attribute``) or :meth:`Limiter.evaluate_value` with ``ctx.now``
advancing. When the value has stayed over threshold_active for min_over_threshold_duration,
action_over_threshold runs (``ctx.effects.execute_script``); once over, when it has stayed under
for min_under_threshold_duration, action_under_threshold runs.

The emergency profile is active when its id is in emergency_profile_group_id_list and the meter's
time is in [activation_time, activation_time + duration); threshold_active is then
threshold_emergency, else threshold_normal.

Design choices: "over" means strictly greater than the threshold, anything else is "under"; durations
are measured between evaluations (the limiter only knows the instants it is evaluated at); an
activation time with an unspecified deviation is in the meter's local time; any SET restarts the
over/under timing (but not the "over" state).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from cosemnet.codec.datetime import DEVIATION_NOT_SPECIFIED, CosemDateTime
from cosemnet.codec.obis import Obis
from cosemnet.codec.types import DataValue, DoubleLong, DoubleLongUnsigned, LongUnsigned
from cosemnet.cosem.base import LOGICAL_NAME_DEF, AttributeDef, InterfaceClass, SelectiveAccess, read_only
from cosemnet.cosem.common import ActionItem, ValueDefinition
from cosemnet.cosem.context import AccessContext
from cosemnet.cosem.register_monitor import run_action_item
from cosemnet.cosem.results import CosemAccessError, type_unmatched
from cosemnet.cosem.values import as_array, as_date_time, as_int, as_struct, is_numeric, numeric


@dataclass(frozen=True, slots=True)
class EmergencyProfile:
    emergency_profile_id: int = 0
    emergency_activation_time: CosemDateTime = field(default_factory=CosemDateTime)
    emergency_duration: int = 0

    def to_data(self) -> DataValue:
        return (
            LongUnsigned(self.emergency_profile_id),
            self.emergency_activation_time.to_bytes(),
            DoubleLongUnsigned(self.emergency_duration),
        )

    @classmethod
    def from_data(cls, value: DataValue) -> EmergencyProfile:
        pid, activation, duration = as_struct(value, 3, "emergency_profile")
        return cls(
            as_int(pid, LongUnsigned, "emergency_profile_id"),
            as_date_time(activation, "emergency_activation_time"),
            as_int(duration, DoubleLongUnsigned, "emergency_duration"),
        )


@dataclass(frozen=True, slots=True)
class LimiterActions:
    action_over_threshold: ActionItem = field(default_factory=ActionItem)
    action_under_threshold: ActionItem = field(default_factory=ActionItem)

    def to_data(self) -> DataValue:
        return (self.action_over_threshold.to_data(), self.action_under_threshold.to_data())

    @classmethod
    def from_data(cls, value: DataValue) -> LimiterActions:
        over, under = as_struct(value, 2, "actions")
        return cls(
            ActionItem.from_data(over, "action_over_threshold"),
            ActionItem.from_data(under, "action_under_threshold"),
        )


def _threshold(value: DataValue, what: str) -> DataValue:
    if not is_numeric(value):
        raise type_unmatched(f"{what} must be a number")
    return value


class Limiter(InterfaceClass):
    """Limiter."""

    CLASS_ID: ClassVar[int] = 71
    VERSION: ClassVar[int] = 0
    ATTRIBUTES: ClassVar[tuple[AttributeDef, ...]] = (
        LOGICAL_NAME_DEF,
        AttributeDef(2, "monitored_value", True, 0x08),
        AttributeDef(3, "threshold_active", False, 0x10),
        AttributeDef(4, "threshold_normal", True, 0x18),
        AttributeDef(5, "threshold_emergency", True, 0x20),
        AttributeDef(6, "min_over_threshold_duration", True, 0x28),
        AttributeDef(7, "min_under_threshold_duration", True, 0x30),
        AttributeDef(8, "emergency_profile", True, 0x38),
        AttributeDef(9, "emergency_profile_group_id_list", True, 0x40),
        AttributeDef(10, "emergency_profile_active", False, 0x48),
        AttributeDef(11, "actions", True, 0x50),
    )

    def __init__(
        self,
        logical_name: Obis | str | bytes,
        monitored_value: ValueDefinition,
        threshold_normal: DataValue = None,
        threshold_emergency: DataValue = None,
        min_over_threshold_duration: int = 0,
        min_under_threshold_duration: int = 0,
        actions: LimiterActions | None = None,
        *,
        emergency_profile: EmergencyProfile | None = None,
        emergency_profile_group_id_list: Sequence[int] = (),
        base_name: int | None = None,
    ) -> None:
        super().__init__(logical_name, base_name=base_name)
        self.monitored_value = monitored_value
        self.threshold_normal = _threshold(
            DoubleLong(0) if threshold_normal is None else threshold_normal, "threshold_normal"
        )
        self.threshold_emergency = _threshold(
            self.threshold_normal if threshold_emergency is None else threshold_emergency,
            "threshold_emergency",
        )
        self.min_over_threshold_duration = min_over_threshold_duration
        self.min_under_threshold_duration = min_under_threshold_duration
        self.actions = actions or LimiterActions()
        self.emergency_profile = emergency_profile or EmergencyProfile()
        self.emergency_profile_group_id_list: list[int] = list(emergency_profile_group_id_list)
        self.over = False
        """True between action_over_threshold and action_under_threshold."""
        self._over_since: _dt.datetime | None = None
        self._under_since: _dt.datetime | None = None

    # ----------------------------------------------------------------------------------------------

    def emergency_active(self, ctx: AccessContext) -> bool:
        profile = self.emergency_profile
        if profile.emergency_profile_id not in self.emergency_profile_group_id_list:
            return False
        activation = profile.emergency_activation_time
        if activation.deviation == DEVIATION_NOT_SPECIFIED:
            stamp = ctx.effects.timestamp(ctx)
            if stamp.deviation != DEVIATION_NOT_SPECIFIED:
                activation = CosemDateTime(
                    activation.year,
                    activation.month,
                    activation.day,
                    activation.day_of_week,
                    activation.hour,
                    activation.minute,
                    activation.second,
                    activation.hundredths,
                    stamp.deviation,
                    activation.clock_status,
                )
        try:
            start = activation.to_datetime(default_tz=_dt.UTC)
        except ValueError:
            return False
        end = start + _dt.timedelta(seconds=profile.emergency_duration)
        return start <= ctx.now < end

    def threshold_active(self, ctx: AccessContext) -> DataValue:
        return self.threshold_emergency if self.emergency_active(ctx) else self.threshold_normal

    def evaluate(self, ctx: AccessContext) -> list[CosemAccessError]:
        """Read the monitored value and evaluate it at ``ctx.now``; returns script failures."""
        mv = self.monitored_value
        value = ctx.effects.read_attribute(mv.class_id, mv.logical_name, mv.attribute_index, ctx.internal())
        return self.evaluate_value(value, ctx)

    def evaluate_value(self, value: DataValue, ctx: AccessContext) -> list[CosemAccessError]:
        """Evaluate ``value`` observed at ``ctx.now``."""
        is_over = numeric(value, "monitored value") > numeric(self.threshold_active(ctx))
        failures: list[CosemAccessError] = []
        now = ctx.now
        if is_over:
            self._under_since = None
            if not self.over:
                if self._over_since is None:
                    self._over_since = now
                if now - self._over_since >= _dt.timedelta(seconds=self.min_over_threshold_duration):
                    self.over = True
                    self._over_since = None
                    failure = run_action_item(self.actions.action_over_threshold, ctx)
                    if failure is not None:
                        failures.append(failure)
        else:
            self._over_since = None
            if self.over:
                if self._under_since is None:
                    self._under_since = now
                if now - self._under_since >= _dt.timedelta(seconds=self.min_under_threshold_duration):
                    self.over = False
                    self._under_since = None
                    failure = run_action_item(self.actions.action_under_threshold, ctx)
                    if failure is not None:
                        failures.append(failure)
        return failures

    # ----------------------------------------------------------------------------------------------

    def _get(self, index: int, ctx: AccessContext, selective_access: SelectiveAccess | None) -> DataValue:
        if index == 2:
            return self.monitored_value.to_data()
        if index == 3:
            return self.threshold_active(ctx)
        if index == 4:
            return self.threshold_normal
        if index == 5:
            return self.threshold_emergency
        if index == 6:
            return DoubleLongUnsigned(self.min_over_threshold_duration)
        if index == 7:
            return DoubleLongUnsigned(self.min_under_threshold_duration)
        if index == 8:
            return self.emergency_profile.to_data()
        if index == 9:
            return [LongUnsigned(i) for i in self.emergency_profile_group_id_list]
        if index == 10:
            return self.emergency_active(ctx)
        return self.actions.to_data()

    def _set(self, index: int, value: DataValue, ctx: AccessContext) -> None:
        if index == 2:
            self.monitored_value = ValueDefinition.from_data(value, "monitored_value")
        elif index == 4:
            self.threshold_normal = _threshold(value, "threshold_normal")
        elif index == 5:
            self.threshold_emergency = _threshold(value, "threshold_emergency")
        elif index == 6:
            self.min_over_threshold_duration = as_int(
                value, DoubleLongUnsigned, "min_over_threshold_duration"
            )
        elif index == 7:
            self.min_under_threshold_duration = as_int(
                value, DoubleLongUnsigned, "min_under_threshold_duration"
            )
        elif index == 8:
            self.emergency_profile = EmergencyProfile.from_data(value)
        elif index == 9:
            self.emergency_profile_group_id_list = [
                as_int(v, LongUnsigned, "emergency_profile_group_id")
                for v in as_array(value, "group_id_list")
            ]
        elif index == 11:
            self.actions = LimiterActions.from_data(value)
        else:
            raise read_only(index)
        self._over_since = None
        self._under_since = None


__all__ = ["EmergencyProfile", "Limiter", "LimiterActions"]
