"""Association SN (class_id 12, version 2): an association with short-name referencing.

Attributes: 2 object_list (array of {base_name long, class_id long-unsigned, version unsigned,
logical_name octet-string}), 3 access_rights_list (array of {base_name long, attribute_access,
method_access}), 4 security_setup_reference octet-string. Methods at x + 0x20 + 8(m - 1):
1 getlist_by_classid, 2 getobj_by_logicalname (reserved from previous versions), 3 read_by_logicalname,
4 get_attributes&services (reserved), 5 change_LLS_secret, 6 change_HLS_secret, 7 get_HLS_challenge
(reserved), 8 reply_to_HLS_authentication.

Design / reconstructed choices: base_name is a ``long`` on the wire, so base names 0x8000-0xFFFF are
sent as their two's complement (0xFA00 -> -1536) and read back the same way; read_by_logicalname
takes an array of {class_id long-unsigned, logical_name octet-string} and returns an array with the
base_name (long) of each, null-data for an object this association does not see (reconstructed,
unconfirmed); the reserved methods fail with read-write-denied. Version 2 has no user_list, so this
class has none (the Association SN versions with users are not implemented).
"""

from __future__ import annotations

from typing import ClassVar

from cosemnet.codec.obis import Obis
from cosemnet.codec.types import DataValue, Long, LongUnsigned, Unsigned
from cosemnet.cosem.association import AssociationBase, ObjectListEntry
from cosemnet.cosem.base import LOGICAL_NAME_DEF, AttributeDef, MethodDef, SelectiveAccess, read_only
from cosemnet.cosem.context import AccessContext
from cosemnet.cosem.results import ActionResult, CosemAccessError
from cosemnet.cosem.values import as_array, as_int, as_obis, as_struct

ASSOCIATION_SN_LN = Obis(bytes((0, 0, 40, 0, 0, 255)))
ASSOCIATION_SN_BASE_NAME = 0xFA00


def base_name_to_long(base_name: int) -> Long:
    """A 16-bit base name as the signed ``long`` the object list carries."""
    return Long(base_name - 0x10000 if base_name >= 0x8000 else base_name)


def long_to_base_name(value: int) -> int:
    return value & 0xFFFF


class AssociationSN(AssociationBase):
    """Association SN."""

    CLASS_ID: ClassVar[int] = 12
    VERSION: ClassVar[int] = 2
    ATTRIBUTES: ClassVar[tuple[AttributeDef, ...]] = (
        LOGICAL_NAME_DEF,
        AttributeDef(2, "object_list", True, 0x08),
        AttributeDef(3, "access_rights_list", True, 0x10),
        AttributeDef(4, "security_setup_reference", True, 0x18),
    )
    METHODS: ClassVar[tuple[MethodDef, ...]] = (
        MethodDef(1, "getlist_by_classid", 0x20),
        MethodDef(2, "getobj_by_logicalname", 0x28),
        MethodDef(3, "read_by_logicalname", 0x30),
        MethodDef(4, "get_attributes&services", 0x38),
        MethodDef(5, "change_LLS_secret", 0x40),
        MethodDef(6, "change_HLS_secret", 0x48),
        MethodDef(7, "get_HLS_challenge", 0x50),
        MethodDef(8, "reply_to_HLS_authentication", 0x58),
    )

    def __init__(
        self,
        logical_name: Obis | str | bytes = ASSOCIATION_SN_LN,
        *,
        secret: bytes = b"",
        base_name: int | None = ASSOCIATION_SN_BASE_NAME,
    ) -> None:
        super().__init__(logical_name, secret=secret, base_name=base_name)

    def add_entry(self, entry: ObjectListEntry) -> None:
        if entry.base_name is None:
            raise ValueError(f"{entry.logical_name}: an SN association needs objects with a base_name")
        super().add_entry(entry)

    def _get(self, index: int, ctx: AccessContext, selective_access: SelectiveAccess | None) -> DataValue:
        if index == 2:
            return [
                (
                    base_name_to_long(e.base_name or 0),
                    LongUnsigned(e.class_id),
                    Unsigned(e.version),
                    bytes(e.logical_name),
                )
                for e in self.entries
            ]
        if index == 3:
            result: list[DataValue] = []
            for e in self.entries:
                rights = e.access_rights
                result.append(
                    (
                        base_name_to_long(e.base_name or 0),
                        [i.to_data() for i in rights.attribute_access],
                        [i.to_data() for i in rights.method_access],
                    )
                )
            return result
        return bytes(self.security_setup_reference)

    def _set(self, index: int, value: DataValue, ctx: AccessContext) -> None:
        if index != 4:
            raise read_only(index)
        self.security_setup_reference = as_obis(value, "security_setup_reference")

    def _action(self, index: int, parameter: DataValue, ctx: AccessContext) -> DataValue | None:
        if index == 3:
            result: list[DataValue] = []
            for item in as_array(parameter, "read_by_logicalname"):
                class_id, ln = as_struct(item, 2, "object_id")
                entry = self.entry(as_int(class_id, LongUnsigned, "class_id"), as_obis(ln))
                result.append(None if entry is None else base_name_to_long(entry.base_name or 0))
            return result
        if index in (5, 6):
            self.change_secret(parameter)
            return None
        if index == 8:
            return self.reply_to_hls_authentication(parameter, ctx)
        raise CosemAccessError(ActionResult.READ_WRITE_DENIED, "method reserved from previous versions")


__all__ = [
    "ASSOCIATION_SN_BASE_NAME",
    "ASSOCIATION_SN_LN",
    "AssociationSN",
    "base_name_to_long",
    "long_to_base_name",
]
