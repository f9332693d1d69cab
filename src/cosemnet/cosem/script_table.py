"""Script table (class_id 9, version 0): named lists of actions run on request.

Attribute 2 ``scripts``: array of script {script_identifier long-unsigned, actions array of
action_specification {service_id enum (1 write attribute, 2 execute method), class_id long-unsigned,
logical_name octet-string, index integer, parameter (any)}}. Method 1 ``execute(long-unsigned)``
(x + 0x20) runs the script with that identifier; identifier 0 is the null script (nothing runs).

Actions go through ``ctx.effects.execute_action`` with the meter's own rights (an internal context).

Design choices: executing an unknown script identifier fails with other-reason; when an action fails,
the remaining actions still run and the method then fails with other-reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import ClassVar

from cosemnet.codec.obis import Obis
from cosemnet.codec.types import DataValue, Enumerated, Integer, LongUnsigned
from cosemnet.cosem.base import LOGICAL_NAME_DEF, AttributeDef, InterfaceClass, MethodDef, SelectiveAccess
from cosemnet.cosem.context import AccessContext
from cosemnet.cosem.results import ActionResult, CosemAccessError, type_unmatched
from cosemnet.cosem.values import as_array, as_int, as_obis, as_struct


class ServiceId(IntEnum):
    WRITE_ATTRIBUTE = 1
    EXECUTE_METHOD = 2


@dataclass(frozen=True, slots=True)
class ActionSpecification:
    service_id: ServiceId
    class_id: int
    logical_name: Obis
    index: int
    parameter: DataValue = None

    def to_data(self) -> DataValue:
        return (
            Enumerated(self.service_id),
            LongUnsigned(self.class_id),
            bytes(self.logical_name),
            Integer(self.index),
            self.parameter,
        )

    @classmethod
    def from_data(cls, value: DataValue) -> ActionSpecification:
        service_id, class_id, ln, index, parameter = as_struct(value, 5, "action_specification")
        try:
            service = ServiceId(as_int(service_id, Enumerated, "service_id"))
        except ValueError:
            raise type_unmatched("service_id must be 1 (write attribute) or 2 (execute method)") from None
        return cls(
            service,
            as_int(class_id, LongUnsigned, "class_id"),
            as_obis(ln),
            as_int(index, Integer, "index"),
            parameter,
        )


@dataclass(frozen=True, slots=True)
class Script:
    script_identifier: int
    actions: tuple[ActionSpecification, ...] = field(default_factory=tuple)

    def to_data(self) -> DataValue:
        return (LongUnsigned(self.script_identifier), [a.to_data() for a in self.actions])

    @classmethod
    def from_data(cls, value: DataValue) -> Script:
        identifier, actions = as_struct(value, 2, "script")
        return cls(
            as_int(identifier, LongUnsigned, "script_identifier"),
            tuple(ActionSpecification.from_data(a) for a in as_array(actions, "actions")),
        )


class ScriptTable(InterfaceClass):
    """Script table."""

    CLASS_ID: ClassVar[int] = 9
    VERSION: ClassVar[int] = 0
    ATTRIBUTES: ClassVar[tuple[AttributeDef, ...]] = (
        LOGICAL_NAME_DEF,
        AttributeDef(2, "scripts", True, 0x08),
    )
    METHODS: ClassVar[tuple[MethodDef, ...]] = (MethodDef(1, "execute", 0x20),)

    def __init__(
        self,
        logical_name: Obis | str | bytes,
        scripts: Sequence[Script] = (),
        *,
        base_name: int | None = None,
    ) -> None:
        super().__init__(logical_name, base_name=base_name)
        self.scripts: list[Script] = list(scripts)

    def execute(self, script_identifier: int, ctx: AccessContext) -> None:
        """Run the actions of a script in order (see the module docstring for failures)."""
        if script_identifier == 0:
            return
        for script in self.scripts:
            if script.script_identifier == script_identifier:
                break
        else:
            raise CosemAccessError(ActionResult.OTHER_REASON, f"no script {script_identifier}")
        internal = ctx.internal()
        failures = []
        for action in script.actions:
            try:
                ctx.effects.execute_action(
                    action.service_id,
                    action.class_id,
                    action.logical_name,
                    action.index,
                    action.parameter,
                    internal,
                )
            except CosemAccessError as exc:
                failures.append(f"{action.logical_name}/{action.index}: {exc}")
        if failures:
            raise CosemAccessError(ActionResult.OTHER_REASON, "; ".join(failures))

    def _get(self, index: int, ctx: AccessContext, selective_access: SelectiveAccess | None) -> DataValue:
        return [s.to_data() for s in self.scripts]

    def _set(self, index: int, value: DataValue, ctx: AccessContext) -> None:
        scripts = [Script.from_data(v) for v in as_array(value, "scripts")]
        ids = [s.script_identifier for s in scripts]
        if len(set(ids)) != len(ids):
            raise type_unmatched("script identifiers must be unique")
        self.scripts = scripts

    def _action(self, index: int, parameter: DataValue, ctx: AccessContext) -> DataValue | None:
        self.execute(as_int(parameter, LongUnsigned, "script_identifier"), ctx)
        return None


__all__ = ["ActionSpecification", "Script", "ScriptTable", "ServiceId"]
