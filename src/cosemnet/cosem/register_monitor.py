"""Register monitor (class_id 21, version 0): runs scripts when a value crosses thresholds.

Attributes: 2 thresholds (array, each of the monitored value's type), 3 monitored_value
(value_definition), 4 actions (array of action_set {action_up action_item, action_down action_item},
one per threshold). No methods.

The meter calls :meth:`RegisterMonitor.evaluate` (reads the monitored value through
``ctx.effects.read_attribute``) or :meth:`RegisterMonitor.evaluate_value` whenever the value may
have changed. Crossing threshold i upwards (from <= to >) runs ``actions[i].action_up`` through
``ctx.effects.execute_script``; crossing downwards (from > to <=) runs ``action_down``.

Design choices: the first evaluation (and the first after any SET) only records where the value
stands, it runs nothing; thresholds without a matching action_set run nothing; script failures are
collected and returned, not raised (the monitor keeps monitoring).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from cosemnet.codec.obis import Obis
from cosemnet.codec.types import DataValue
from cosemnet.cosem.base import LOGICAL_NAME_DEF, AttributeDef, InterfaceClass, SelectiveAccess
from cosemnet.cosem.common import ActionItem, ValueDefinition
from cosemnet.cosem.context import AccessContext
from cosemnet.cosem.results import CosemAccessError, type_unmatched
from cosemnet.cosem.values import as_array, as_struct, is_numeric, numeric


@dataclass(frozen=True, slots=True)
class ActionSet:
    action_up: ActionItem = field(default_factory=ActionItem)
    action_down: ActionItem = field(default_factory=ActionItem)

    def to_data(self) -> DataValue:
        return (self.action_up.to_data(), self.action_down.to_data())

    @classmethod
    def from_data(cls, value: DataValue) -> ActionSet:
        up, down = as_struct(value, 2, "action_set")
        return cls(ActionItem.from_data(up, "action_up"), ActionItem.from_data(down, "action_down"))


def run_action_item(item: ActionItem, ctx: AccessContext) -> CosemAccessError | None:
    """Run an action_item through the effects; returns the failure instead of raising it."""
    if not item.configured:
        return None
    try:
        ctx.effects.execute_script(item.script_logical_name, item.script_selector, ctx.internal())
    except CosemAccessError as exc:
        return exc
    return None


class RegisterMonitor(InterfaceClass):
    """Register monitor."""

    CLASS_ID: ClassVar[int] = 21
    VERSION: ClassVar[int] = 0
    ATTRIBUTES: ClassVar[tuple[AttributeDef, ...]] = (
        LOGICAL_NAME_DEF,
        AttributeDef(2, "thresholds", True, 0x08),
        AttributeDef(3, "monitored_value", True, 0x10),
        AttributeDef(4, "actions", True, 0x18),
    )

    def __init__(
        self,
        logical_name: Obis | str | bytes,
        monitored_value: ValueDefinition,
        thresholds: Sequence[DataValue] = (),
        actions: Sequence[ActionSet] = (),
        *,
        base_name: int | None = None,
    ) -> None:
        super().__init__(logical_name, base_name=base_name)
        for t in thresholds:
            if not is_numeric(t):
                raise ValueError("thresholds must be numbers")
        self.monitored_value = monitored_value
        self.thresholds: list[DataValue] = list(thresholds)
        self.actions: list[ActionSet] = list(actions)
        self._above: list[bool] | None = None

    def evaluate(self, ctx: AccessContext) -> list[CosemAccessError]:
        """Read the monitored value and act on crossings; returns the script failures."""
        mv = self.monitored_value
        value = ctx.effects.read_attribute(mv.class_id, mv.logical_name, mv.attribute_index, ctx.internal())
        return self.evaluate_value(value, ctx)

    def evaluate_value(self, value: DataValue, ctx: AccessContext) -> list[CosemAccessError]:
        """Act on the crossings ``value`` makes since the last evaluation."""
        number = numeric(value, "monitored value")
        above = [number > numeric(t) for t in self.thresholds]
        previous, self._above = self._above, above
        failures: list[CosemAccessError] = []
        if previous is None:
            return failures
        for i, (was, now) in enumerate(zip(previous, above, strict=True)):
            if was == now or i >= len(self.actions):
                continue
            item = self.actions[i].action_up if now else self.actions[i].action_down
            failure = run_action_item(item, ctx)
            if failure is not None:
                failures.append(failure)
        return failures

    def _get(self, index: int, ctx: AccessContext, selective_access: SelectiveAccess | None) -> DataValue:
        if index == 2:
            return list(self.thresholds)
        if index == 3:
            return self.monitored_value.to_data()
        return [a.to_data() for a in self.actions]

    def _set(self, index: int, value: DataValue, ctx: AccessContext) -> None:
        if index == 2:
            thresholds = as_array(value, "thresholds")
            if not all(is_numeric(t) for t in thresholds):
                raise type_unmatched("thresholds must be numbers")
            self.thresholds = list(thresholds)
        elif index == 3:
            self.monitored_value = ValueDefinition.from_data(value, "monitored_value")
        else:
            self.actions = [ActionSet.from_data(v) for v in as_array(value, "actions")]
        self._above = None


__all__ = ["ActionSet", "RegisterMonitor", "run_action_item"]
