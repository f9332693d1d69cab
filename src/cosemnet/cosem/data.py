"""Data (class_id 1, version 0): one value of any type.

Design choice: once the object holds a value, a SET must keep its DLMS type (``type-unmatched``
otherwise), so a configuration value stays what the meter expects; an object created with value
None accepts any type. A ``provider`` callable makes the value live (read at every GET, SET refused).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from cosemnet.codec.obis import Obis
from cosemnet.codec.types import DataValue
from cosemnet.cosem.base import LOGICAL_NAME_DEF, AttributeDef, InterfaceClass, SelectiveAccess, read_only
from cosemnet.cosem.context import AccessContext
from cosemnet.cosem.results import type_unmatched

ValueProvider = Callable[[AccessContext], DataValue]


class Data(InterfaceClass):
    """Data: attribute 2 ``value``."""

    CLASS_ID: ClassVar[int] = 1
    VERSION: ClassVar[int] = 0
    ATTRIBUTES: ClassVar[tuple[AttributeDef, ...]] = (
        LOGICAL_NAME_DEF,
        AttributeDef(2, "value", False, 0x08),
    )

    def __init__(
        self,
        logical_name: Obis | str | bytes,
        value: DataValue = None,
        *,
        provider: ValueProvider | None = None,
        base_name: int | None = None,
    ) -> None:
        super().__init__(logical_name, base_name=base_name)
        self.value: DataValue = value
        self.provider = provider

    def _get(self, index: int, ctx: AccessContext, selective_access: SelectiveAccess | None) -> DataValue:
        if self.provider is not None:
            return self.provider(ctx)
        return self.value

    def _set(self, index: int, value: DataValue, ctx: AccessContext) -> None:
        if self.provider is not None:
            raise read_only(index)
        if self.value is not None and type(value) is not type(self.value):
            raise type_unmatched(f"value must keep its type {type(self.value).__name__}")
        self.value = value


__all__ = ["Data", "ValueProvider"]
