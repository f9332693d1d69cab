"""ISO/IEC 14908 identification (class_id 130, version 0; IEC 62056-8-8 Annex B).

Logical name 0-b:32.0.0*255. Attributes: 2 node_ID unsigned, 3 subnet_ID unsigned, 4 domain_ID
octet-string (0, 1, 3 or 6 bytes), 5 program_ID octet-string(8), 6 unique_node_ID octet-string(6).
No methods.

The values come from the 14908 (LON) stack: pass a ``provider`` returning
:class:`Iso14908IdentificationValues`, read at every GET; without one, the ``values`` given at
construction are served. Design choice: all attributes are read-only through DLMS (the node's
addressing is managed by 14908 network management, not by COSEM).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from cosemnet.codec.obis import Obis
from cosemnet.codec.types import DataValue, Unsigned
from cosemnet.cosem.base import LOGICAL_NAME_DEF, AttributeDef, InterfaceClass, SelectiveAccess
from cosemnet.cosem.context import AccessContext


@dataclass(frozen=True, slots=True)
class Iso14908IdentificationValues:
    node_id: int = 0
    subnet_id: int = 0
    domain_id: bytes = b""
    program_id: bytes = bytes(8)
    unique_node_id: bytes = bytes(6)

    def __post_init__(self) -> None:
        if not 0 <= self.node_id <= 0x7F:
            raise ValueError("node_ID is 7 bits (0..127)")
        if not 0 <= self.subnet_id <= 0xFF:
            raise ValueError("subnet_ID is 0..255")
        if len(self.domain_id) not in (0, 1, 3, 6):
            raise ValueError("domain_ID has 0, 1, 3 or 6 bytes")
        if len(self.program_id) != 8 or len(self.unique_node_id) != 6:
            raise ValueError("program_ID has 8 bytes, unique_node_ID 6")


class Iso14908Identification(InterfaceClass):
    """ISO/IEC 14908 identification."""

    CLASS_ID: ClassVar[int] = 130
    VERSION: ClassVar[int] = 0
    ATTRIBUTES: ClassVar[tuple[AttributeDef, ...]] = (
        LOGICAL_NAME_DEF,
        AttributeDef(2, "node_ID", False, 0x08),
        AttributeDef(3, "subnet_ID", False, 0x10),
        AttributeDef(4, "domain_ID", False, 0x18),
        AttributeDef(5, "program_ID", True, 0x20),
        AttributeDef(6, "unique_node_ID", True, 0x28),
    )

    def __init__(
        self,
        logical_name: Obis | str | bytes = "0-0:32.0.0*255",
        values: Iso14908IdentificationValues | None = None,
        *,
        provider: Callable[[], Iso14908IdentificationValues] | None = None,
        base_name: int | None = None,
    ) -> None:
        super().__init__(logical_name, base_name=base_name)
        self.values = values or Iso14908IdentificationValues()
        self.provider = provider

    def current(self) -> Iso14908IdentificationValues:
        return self.provider() if self.provider is not None else self.values

    def _get(self, index: int, ctx: AccessContext, selective_access: SelectiveAccess | None) -> DataValue:
        v = self.current()
        if index == 2:
            return Unsigned(v.node_id)
        if index == 3:
            return Unsigned(v.subnet_id)
        if index == 4:
            return v.domain_id
        if index == 5:
            return v.program_id
        return v.unique_node_id


__all__ = ["Iso14908Identification", "Iso14908IdentificationValues"]
