"""What Association LN (class 15) and Association SN (class 12) share.

An association object lists the objects its association sees and the rights it has on them
(:class:`ObjectListEntry`), holds the LLS/HLS ``secret`` (write-only, never shown in a repr) and
runs reply_to_HLS_authentication through ``ctx.effects.reply_to_hls_authentication``.

The application layer drives its life cycle: :meth:`AssociationBase.associate` when an AARQ is
accepted (status associated, or association-pending until HLS pass 4 succeeds) and
:meth:`AssociationBase.release` when the association ends. It is also the
:class:`~cosemnet.cosem.context.AccessRightsSource` of requests on that association.

Design choices: reply_to_HLS_authentication is allowed only while the association is pending (else
read-write-denied); a failed check leaves it pending and fails with read-write-denied (the
application layer decides whether to release). The object the association is reached through as
"current association" (0-0:40.0.0*255) gets the rights listed for either logical name.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from enum import IntEnum
from typing import ClassVar

from cosemnet.codec.obis import Obis
from cosemnet.codec.types import DataValue, Unsigned
from cosemnet.cosem.access import ObjectAccessRights
from cosemnet.cosem.base import InterfaceClass
from cosemnet.cosem.context import AccessContext
from cosemnet.cosem.results import ActionResult, CosemAccessError, DataAccessResult
from cosemnet.cosem.values import as_octet_string

CURRENT_ASSOCIATION_LN = Obis(bytes((0, 0, 40, 0, 0, 255)))


class AssociationStatus(IntEnum):
    NON_ASSOCIATED = 0
    ASSOCIATION_PENDING = 1
    ASSOCIATED = 2


@dataclass(frozen=True, slots=True)
class ObjectListEntry:
    """One object an association sees: identity and the association's rights on it.

    ``base_name`` is used by Association SN only.
    """

    class_id: int
    version: int
    logical_name: Obis
    access_rights: ObjectAccessRights
    base_name: int | None = None

    @classmethod
    def of(cls, obj: InterfaceClass, access_rights: ObjectAccessRights) -> ObjectListEntry:
        return cls(obj.class_id, obj.version, obj.logical_name, access_rights, obj.base_name)

    @property
    def key(self) -> tuple[int, bytes]:
        return (self.class_id, bytes(self.logical_name))


class AssociationBase(InterfaceClass):
    """Common part of the association classes (not an interface class itself)."""

    HLS_MECHANISMS: ClassVar[frozenset[int]] = frozenset({2, 3, 4, 5, 6, 7})

    def __init__(
        self, logical_name: Obis | str | bytes, *, secret: bytes = b"", base_name: int | None = None
    ) -> None:
        super().__init__(logical_name, base_name=base_name)
        self._entries: dict[tuple[int, bytes], ObjectListEntry] = {}
        self._secret = secret
        self.association_status = AssociationStatus.NON_ASSOCIATED
        self.security_setup_reference = Obis(bytes((0, 0, 43, 0, 0, 255)))

    # ----------------------------------------------------------------------------------------------
    # Object list and rights

    @property
    def entries(self) -> list[ObjectListEntry]:
        return list(self._entries.values())

    def add_entry(self, entry: ObjectListEntry) -> None:
        """Add (or replace) an object in the object list."""
        self._entries[entry.key] = entry

    def grant(self, obj: InterfaceClass, access_rights: ObjectAccessRights | None = None) -> ObjectListEntry:
        """Make ``obj`` visible with ``access_rights`` (read-only on every attribute by default)."""
        entry = ObjectListEntry.of(obj, access_rights or ObjectAccessRights.read_only(type(obj)))
        self.add_entry(entry)
        return entry

    def remove_entry(self, class_id: int, logical_name: bytes) -> bool:
        return self._entries.pop((class_id, bytes(logical_name)), None) is not None

    def entry(self, class_id: int, logical_name: bytes) -> ObjectListEntry | None:
        found = self._entries.get((class_id, bytes(logical_name)))
        if found is None and class_id == self.CLASS_ID:
            if logical_name == CURRENT_ASSOCIATION_LN:
                found = self._entries.get((class_id, bytes(self.logical_name)))
            elif logical_name == self.logical_name:
                found = self._entries.get((class_id, bytes(CURRENT_ASSOCIATION_LN)))
        return found

    def rights_for(self, class_id: int, logical_name: bytes) -> ObjectAccessRights | None:
        """:class:`~cosemnet.cosem.context.AccessRightsSource`: rights on an object, None if unseen."""
        found = self.entry(class_id, logical_name)
        return None if found is None else found.access_rights

    # ----------------------------------------------------------------------------------------------
    # Secret and life cycle

    @property
    def secret(self) -> bytes:
        """The LLS password or HLS secret (never logged)."""
        return self._secret

    @secret.setter
    def secret(self, value: bytes) -> None:
        self._secret = value

    def check_lls_secret(self, password: bytes) -> bool:
        """Constant-time comparison of an AARQ calling-authentication-value with the secret."""
        return bool(self._secret) and hmac.compare_digest(password, self._secret)

    def associate(self, mechanism: int) -> None:
        """An AARQ was accepted with authentication ``mechanism``: associated, or pending for HLS."""
        self.association_status = (
            AssociationStatus.ASSOCIATION_PENDING
            if mechanism in self.HLS_MECHANISMS
            else AssociationStatus.ASSOCIATED
        )

    def release(self) -> None:
        self.association_status = AssociationStatus.NON_ASSOCIATED

    def reply_to_hls_authentication(self, parameter: DataValue, ctx: AccessContext) -> DataValue:
        data = as_octet_string(parameter, what="reply_to_HLS_authentication")
        if self.association_status is not AssociationStatus.ASSOCIATION_PENDING:
            raise CosemAccessError(ActionResult.READ_WRITE_DENIED, "no HLS authentication pending")
        try:
            answer = ctx.effects.reply_to_hls_authentication(self, data, ctx)
        except CosemAccessError as exc:
            raise CosemAccessError(ActionResult.READ_WRITE_DENIED, exc.reason) from None
        self.association_status = AssociationStatus.ASSOCIATED
        return answer

    def change_secret(self, parameter: DataValue) -> None:
        self._secret = as_octet_string(parameter, what="secret")

    def secret_unreadable(self) -> CosemAccessError:
        return CosemAccessError(DataAccessResult.READ_WRITE_DENIED, "secret is write-only")


def user_data(user: tuple[int, str]) -> DataValue:
    return (Unsigned(user[0]), user[1])


__all__ = [
    "CURRENT_ASSOCIATION_LN",
    "AssociationBase",
    "AssociationStatus",
    "ObjectListEntry",
    "user_data",
]
