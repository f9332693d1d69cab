"""Utility tables (class_id 26, version 0): an ANSI C12.19 table as an octet-string.

Attributes: 2 table_ID long-unsigned, 3 length double-long-unsigned (the buffer's length, read-only),
4 buffer octet-string. No methods. Logical name 0-0:65.0.e*255 (e = the table number for the
standard tables, see :meth:`UtilityTables.standard`).

Selective access to the buffer, access_selector 1 (offset access): structure {offset, count}, a
partial read of ``count`` bytes from ``offset`` (as a C12.19 partial read). Reconstructed: the Blue
Book types are double-long-unsigned and long-unsigned; any unsigned integer type is accepted.
Design choices: a range past the end is cut at the end (offset beyond the end gives an empty
octet-string); a ``provider`` callable makes the table live (SET refused).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from cosemnet.codec.obis import Obis
from cosemnet.codec.types import DataValue, DoubleLongUnsigned, LongUnsigned
from cosemnet.cosem.base import LOGICAL_NAME_DEF, AttributeDef, InterfaceClass, SelectiveAccess, read_only
from cosemnet.cosem.context import AccessContext
from cosemnet.cosem.values import as_any_unsigned, as_int, as_octet_string, as_struct

OFFSET_ACCESS = 1

TableProvider = Callable[[AccessContext], bytes]


class UtilityTables(InterfaceClass):
    """Utility tables."""

    CLASS_ID: ClassVar[int] = 26
    VERSION: ClassVar[int] = 0
    ATTRIBUTES: ClassVar[tuple[AttributeDef, ...]] = (
        LOGICAL_NAME_DEF,
        AttributeDef(2, "table_ID", True, 0x08),
        AttributeDef(3, "length", False, 0x10),
        AttributeDef(4, "buffer", False, 0x18),
    )
    SELECTIVE_ACCESS: ClassVar[dict[int, tuple[int, ...]]] = {4: (OFFSET_ACCESS,)}

    def __init__(
        self,
        logical_name: Obis | str | bytes,
        table_id: int,
        buffer: bytes = b"",
        *,
        provider: TableProvider | None = None,
        base_name: int | None = None,
    ) -> None:
        super().__init__(logical_name, base_name=base_name)
        LongUnsigned(table_id)
        self.table_id = table_id
        self.buffer = buffer
        self.provider = provider

    @classmethod
    def standard(
        cls,
        table_id: int,
        buffer: bytes = b"",
        *,
        provider: TableProvider | None = None,
        base_name: int | None = None,
    ) -> UtilityTables:
        """Standard table ``table_id`` (0..255) at 0-0:65.0.<table_id>*255."""
        if not 0 <= table_id <= 255:
            raise ValueError("standard table numbers in the logical name are 0..255")
        return cls(
            Obis(bytes((0, 0, 65, 0, table_id, 255))),
            table_id,
            buffer,
            provider=provider,
            base_name=base_name,
        )

    def contents(self, ctx: AccessContext) -> bytes:
        return self.provider(ctx) if self.provider is not None else self.buffer

    def _get(self, index: int, ctx: AccessContext, selective_access: SelectiveAccess | None) -> DataValue:
        if index == 2:
            return LongUnsigned(self.table_id)
        data = self.contents(ctx)
        if index == 3:
            return DoubleLongUnsigned(len(data))
        if selective_access is None:
            return data
        offset, count = as_struct(selective_access.access_parameters, 2, "offset access")
        start = as_any_unsigned(offset, "offset")
        return data[start : start + as_any_unsigned(count, "count")]

    def _set(self, index: int, value: DataValue, ctx: AccessContext) -> None:
        if index == 2:
            self.table_id = as_int(value, LongUnsigned, "table_ID")
        elif index == 4 and self.provider is None:
            self.buffer = as_octet_string(value, what="buffer")
        else:
            raise read_only(index)


__all__ = ["OFFSET_ACCESS", "TableProvider", "UtilityTables"]
