"""Association LN (class_id 15, version 2): an association with logical-name referencing.

Attributes: 2 object_list (array of object_list_element {class_id long-unsigned, version unsigned,
logical_name octet-string, access_rights}), 3 associated_partners_id {client_SAP integer, server_SAP
long-unsigned}, 4 application_context_name, 5 xDLMS_context_info {conformance bit-string(24),
max_receive_pdu_size long-unsigned, max_send_pdu_size long-unsigned, dlms_version_number unsigned,
quality_of_service integer, cyphering_info octet-string}, 6 authentication_mechanism_name,
7 secret (write-only), 8 association_status enum, 9 security_setup_reference octet-string,
10 user_list (array of {user_id unsigned, user_name visible-string}), 11 current_user.
Methods (x + 0x60 ...): 1 reply_to_HLS_authentication, 2 change_HLS_secret, 3 add_object,
4 remove_object, 5 add_user, 6 remove_user.

Design / reconstructed choices: application_context_name and authentication_mechanism_name are
octet-strings holding the BER contents of the object identifier (60857405080101...), the form of
versions 1 and later; current_user is {0, ""} when no user is identified; object_list selective
access supports selector 1 (class_list: array of long-unsigned) and 2 (object_id_list: array of
{class_id, logical_name}) as reconstructed from the Blue Book (not confirmed byte for byte);
remove_object / remove_user of an absent entry fails with other-reason; object_list changes only
through add_object / remove_object (SET refused); attributes 3-6 are set by the application layer
(:meth:`AssociationLN.associate_with`), SET refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from cosemnet.codec.obis import Obis
from cosemnet.codec.types import BitString, DataValue, Enumerated, Integer, LongUnsigned, Unsigned
from cosemnet.cosem.access import ObjectAccessRights
from cosemnet.cosem.association import CURRENT_ASSOCIATION_LN, AssociationBase, ObjectListEntry, user_data
from cosemnet.cosem.base import LOGICAL_NAME_DEF, AttributeDef, MethodDef, SelectiveAccess, read_only
from cosemnet.cosem.context import AccessContext
from cosemnet.cosem.results import ActionResult, CosemAccessError
from cosemnet.cosem.values import (
    as_array,
    as_int,
    as_obis,
    as_octet_string,
    as_struct,
    as_visible_string,
)

CONTEXT_LN_NO_CIPHERING = bytes.fromhex("60857405080101")
CONTEXT_SN_NO_CIPHERING = bytes.fromhex("60857405080102")
CONTEXT_LN_CIPHERING = bytes.fromhex("60857405080103")
CONTEXT_SN_CIPHERING = bytes.fromhex("60857405080104")
MECHANISM_NAME_PREFIX = bytes.fromhex("608574050802")

CLASS_LIST = 1
OBJECT_ID_LIST = 2


def mechanism_name(mechanism_id: int) -> bytes:
    """The authentication_mechanism_name OID contents of mechanism 0..7."""
    return MECHANISM_NAME_PREFIX + bytes((mechanism_id,))


@dataclass(frozen=True, slots=True)
class XDlmsContextInfo:
    conformance: BitString = field(default_factory=lambda: BitString(bytes(3), 24))
    max_receive_pdu_size: int = 0xFFFF
    max_send_pdu_size: int = 0xFFFF
    dlms_version_number: int = 6
    quality_of_service: int = 0
    cyphering_info: bytes = b""

    def to_data(self) -> DataValue:
        return (
            self.conformance,
            LongUnsigned(self.max_receive_pdu_size),
            LongUnsigned(self.max_send_pdu_size),
            Unsigned(self.dlms_version_number),
            Integer(self.quality_of_service),
            self.cyphering_info,
        )


def object_list_element(entry: ObjectListEntry) -> DataValue:
    return (
        LongUnsigned(entry.class_id),
        Unsigned(entry.version),
        bytes(entry.logical_name),
        entry.access_rights.to_data(),
    )


def parse_object_list_element(value: DataValue) -> ObjectListEntry:
    class_id, version, ln, rights = as_struct(value, 4, "object_list_element")
    return ObjectListEntry(
        as_int(class_id, LongUnsigned, "class_id"),
        as_int(version, Unsigned, "version"),
        as_obis(ln),
        ObjectAccessRights.from_data(rights),
    )


def _user(value: DataValue) -> tuple[int, str]:
    user_id, name = as_struct(value, 2, "user")
    return as_int(user_id, Unsigned, "user_id"), as_visible_string(name, "user_name")


class AssociationLN(AssociationBase):
    """Association LN."""

    CLASS_ID: ClassVar[int] = 15
    VERSION: ClassVar[int] = 2
    ATTRIBUTES: ClassVar[tuple[AttributeDef, ...]] = (
        LOGICAL_NAME_DEF,
        AttributeDef(2, "object_list", True, 0x08),
        AttributeDef(3, "associated_partners_id", True, 0x10),
        AttributeDef(4, "application_context_name", True, 0x18),
        AttributeDef(5, "xDLMS_context_info", True, 0x20),
        AttributeDef(6, "authentication_mechanism_name", True, 0x28),
        AttributeDef(7, "secret", True, 0x30),
        AttributeDef(8, "association_status", False, 0x38),
        AttributeDef(9, "security_setup_reference", True, 0x40),
        AttributeDef(10, "user_list", True, 0x48),
        AttributeDef(11, "current_user", False, 0x50),
    )
    METHODS: ClassVar[tuple[MethodDef, ...]] = (
        MethodDef(1, "reply_to_HLS_authentication", 0x60),
        MethodDef(2, "change_HLS_secret", 0x68),
        MethodDef(3, "add_object", 0x70),
        MethodDef(4, "remove_object", 0x78),
        MethodDef(5, "add_user", 0x80),
        MethodDef(6, "remove_user", 0x88),
    )
    SELECTIVE_ACCESS: ClassVar[dict[int, tuple[int, ...]]] = {2: (CLASS_LIST, OBJECT_ID_LIST)}

    def __init__(
        self,
        logical_name: Obis | str | bytes = CURRENT_ASSOCIATION_LN,
        client_sap: int = 16,
        server_sap: int = 1,
        mechanism_id: int = 0,
        *,
        secret: bytes = b"",
        application_context_name: bytes = CONTEXT_LN_NO_CIPHERING,
        xdlms_context_info: XDlmsContextInfo | None = None,
        base_name: int | None = None,
    ) -> None:
        super().__init__(logical_name, secret=secret, base_name=base_name)
        self.client_sap = client_sap
        self.server_sap = server_sap
        self.mechanism_id = mechanism_id
        self.application_context_name = application_context_name
        self.xdlms_context_info = xdlms_context_info or XDlmsContextInfo()
        self.user_list: list[tuple[int, str]] = []
        self.current_user: tuple[int, str] | None = None

    def associate_with(
        self,
        client_sap: int,
        server_sap: int,
        mechanism_id: int,
        application_context_name: bytes,
        xdlms_context_info: XDlmsContextInfo,
    ) -> None:
        """The application layer accepted an AARQ on this association object."""
        self.client_sap = client_sap
        self.server_sap = server_sap
        self.mechanism_id = mechanism_id
        self.application_context_name = application_context_name
        self.xdlms_context_info = xdlms_context_info
        self.associate(mechanism_id)

    def _object_list(self, selective_access: SelectiveAccess | None) -> DataValue:
        entries = self.entries
        if selective_access is not None:
            params = as_array(selective_access.access_parameters, "object_list selection")
            if selective_access.access_selector == CLASS_LIST:
                wanted = {as_int(v, LongUnsigned, "class_id") for v in params}
                entries = [e for e in entries if e.class_id in wanted]
            else:
                keys = set()
                for v in params:
                    class_id, ln = as_struct(v, 2, "object_id")
                    keys.add((as_int(class_id, LongUnsigned, "class_id"), bytes(as_obis(ln))))
                entries = [e for e in entries if e.key in keys]
        return [object_list_element(e) for e in entries]

    def _get(self, index: int, ctx: AccessContext, selective_access: SelectiveAccess | None) -> DataValue:
        if index == 2:
            return self._object_list(selective_access)
        if index == 3:
            return (Integer(self.client_sap), LongUnsigned(self.server_sap))
        if index == 4:
            return self.application_context_name
        if index == 5:
            return self.xdlms_context_info.to_data()
        if index == 6:
            return mechanism_name(self.mechanism_id)
        if index == 7:
            raise self.secret_unreadable()
        if index == 8:
            return Enumerated(self.association_status)
        if index == 9:
            return bytes(self.security_setup_reference)
        if index == 10:
            return [user_data(u) for u in self.user_list]
        return user_data(self.current_user or (0, ""))

    def _set(self, index: int, value: DataValue, ctx: AccessContext) -> None:
        if index == 7:
            self.secret = as_octet_string(value, what="secret")
        elif index == 9:
            self.security_setup_reference = as_obis(value, "security_setup_reference")
        elif index == 10:
            self.user_list = [_user(v) for v in as_array(value, "user_list")]
        else:
            raise read_only(index)

    def _action(self, index: int, parameter: DataValue, ctx: AccessContext) -> DataValue | None:
        if index == 1:
            return self.reply_to_hls_authentication(parameter, ctx)
        if index == 2:
            self.change_secret(parameter)
        elif index == 3:
            self.add_entry(parse_object_list_element(parameter))
        elif index == 4:
            entry = parse_object_list_element(parameter)
            if not self.remove_entry(entry.class_id, entry.logical_name):
                raise CosemAccessError(ActionResult.OTHER_REASON, "object not in the object list")
        elif index == 5:
            user = _user(parameter)
            self.user_list = [u for u in self.user_list if u[0] != user[0]] + [user]
        else:
            user = _user(parameter)
            if user not in self.user_list:
                raise CosemAccessError(ActionResult.OTHER_REASON, "user not in the user list")
            self.user_list.remove(user)
        return None


__all__ = [
    "CLASS_LIST",
    "CONTEXT_LN_CIPHERING",
    "CONTEXT_LN_NO_CIPHERING",
    "CONTEXT_SN_CIPHERING",
    "CONTEXT_SN_NO_CIPHERING",
    "OBJECT_ID_LIST",
    "AssociationLN",
    "XDlmsContextInfo",
    "mechanism_name",
    "object_list_element",
    "parse_object_list_element",
]
