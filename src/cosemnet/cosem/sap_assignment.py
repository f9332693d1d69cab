"""SAP assignment (class_id 17, version 0): which logical device answers on which SAP.

Attribute 2 SAP_assignment_list: array of {SAP long-unsigned, logical_device_name octet-string}.
Method 1 connect_logical_device (x + 0x20) with one such structure: adds or changes the entry of that
SAP; an empty logical_device_name removes it (as the Blue Book describes).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from cosemnet.codec.obis import Obis
from cosemnet.codec.types import DataValue, LongUnsigned
from cosemnet.cosem.base import LOGICAL_NAME_DEF, AttributeDef, InterfaceClass, MethodDef, SelectiveAccess
from cosemnet.cosem.context import AccessContext
from cosemnet.cosem.results import type_unmatched
from cosemnet.cosem.values import as_array, as_int, as_octet_string, as_struct

SAP_ASSIGNMENT_LN = Obis(bytes((0, 0, 41, 0, 0, 255)))


def _entry(value: DataValue) -> tuple[int, bytes]:
    sap, name = as_struct(value, 2, "SAP assignment")
    return as_int(sap, LongUnsigned, "SAP"), as_octet_string(name, what="logical_device_name")


class SapAssignment(InterfaceClass):
    """SAP assignment."""

    CLASS_ID: ClassVar[int] = 17
    VERSION: ClassVar[int] = 0
    ATTRIBUTES: ClassVar[tuple[AttributeDef, ...]] = (
        LOGICAL_NAME_DEF,
        AttributeDef(2, "SAP_assignment_list", True, 0x08),
    )
    METHODS: ClassVar[tuple[MethodDef, ...]] = (MethodDef(1, "connect_logical_device", 0x20),)

    def __init__(
        self,
        logical_name: Obis | str | bytes = SAP_ASSIGNMENT_LN,
        assignments: Mapping[int, bytes] | None = None,
        *,
        base_name: int | None = None,
    ) -> None:
        super().__init__(logical_name, base_name=base_name)
        self.assignments: dict[int, bytes] = dict(assignments or {})

    def _get(self, index: int, ctx: AccessContext, selective_access: SelectiveAccess | None) -> DataValue:
        return [(LongUnsigned(sap), name) for sap, name in sorted(self.assignments.items())]

    def _set(self, index: int, value: DataValue, ctx: AccessContext) -> None:
        entries = [_entry(v) for v in as_array(value, "SAP_assignment_list")]
        if len({sap for sap, _ in entries}) != len(entries):
            raise type_unmatched("each SAP may appear once")
        self.assignments = dict(entries)

    def _action(self, index: int, parameter: DataValue, ctx: AccessContext) -> DataValue | None:
        sap, name = _entry(parameter)
        if name:
            self.assignments[sap] = name
        else:
            self.assignments.pop(sap, None)
        return None


__all__ = ["SAP_ASSIGNMENT_LN", "SapAssignment"]
