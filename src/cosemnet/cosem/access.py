"""Access rights of an association to the objects it sees (IEC 62056-6-2, Association LN / SN).

Rights are per association: each Association LN (or SN) object holds, for every object of its
``object_list``, an :class:`ObjectAccessRights`. The object model enforces them in
:meth:`cosemnet.cosem.base.InterfaceClass.get` / ``set`` / ``action`` through
:attr:`cosemnet.cosem.context.AccessContext.association`.

The ``authenticated-*`` modes allow the access only when the request APDU was protected with
authentication (``AccessContext.request_authenticated``); without it they behave as no-access.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING

from cosemnet.codec.types import DataValue, Enumerated, Integer
from cosemnet.cosem.results import type_unmatched
from cosemnet.cosem.values import as_array, as_struct, as_typed

if TYPE_CHECKING:
    from cosemnet.cosem.base import InterfaceClass


class AttributeAccess(IntEnum):
    """attribute access_mode (Association LN version 1 and 2)."""

    NO_ACCESS = 0
    READ_ONLY = 1
    WRITE_ONLY = 2
    READ_AND_WRITE = 3
    AUTHENTICATED_READ_ONLY = 4
    AUTHENTICATED_WRITE_ONLY = 5
    AUTHENTICATED_READ_AND_WRITE = 6

    def allows_read(self, request_authenticated: bool) -> bool:
        """True when a GET is allowed (``request_authenticated``: the request carried authentication)."""
        if self in (AttributeAccess.READ_ONLY, AttributeAccess.READ_AND_WRITE):
            return True
        return request_authenticated and self in (
            AttributeAccess.AUTHENTICATED_READ_ONLY,
            AttributeAccess.AUTHENTICATED_READ_AND_WRITE,
        )

    def allows_write(self, request_authenticated: bool) -> bool:
        """True when a SET is allowed."""
        if self in (AttributeAccess.WRITE_ONLY, AttributeAccess.READ_AND_WRITE):
            return True
        return request_authenticated and self in (
            AttributeAccess.AUTHENTICATED_WRITE_ONLY,
            AttributeAccess.AUTHENTICATED_READ_AND_WRITE,
        )


class MethodAccess(IntEnum):
    """method access_mode (Association LN version 1 and 2)."""

    NO_ACCESS = 0
    ACCESS = 1
    AUTHENTICATED_ACCESS = 2

    def allows(self, request_authenticated: bool) -> bool:
        """True when an ACTION is allowed."""
        if self is MethodAccess.ACCESS:
            return True
        return request_authenticated and self is MethodAccess.AUTHENTICATED_ACCESS


@dataclass(frozen=True, slots=True)
class AttributeAccessItem:
    """attribute_access_item: ``access_selectors`` None means no selective access (null-data)."""

    attribute_id: int
    access_mode: AttributeAccess
    access_selectors: tuple[int, ...] | None = None

    def to_data(self) -> DataValue:
        selectors: DataValue = (
            None if self.access_selectors is None else [Integer(s) for s in self.access_selectors]
        )
        return (Integer(self.attribute_id), Enumerated(self.access_mode), selectors)

    @classmethod
    def from_data(cls, value: DataValue) -> AttributeAccessItem:
        attribute_id, mode, selectors = as_struct(value, 3, "attribute_access_item")
        try:
            access_mode = AttributeAccess(as_typed(mode, Enumerated, "access_mode"))
        except ValueError:
            raise type_unmatched(f"attribute access_mode {mode!r} is not 0..6") from None
        parsed: tuple[int, ...] | None = None
        if selectors is not None:
            parsed = tuple(int(as_typed(s, Integer, "access_selector")) for s in as_array(selectors))
        return cls(int(as_typed(attribute_id, Integer, "attribute_id")), access_mode, parsed)


@dataclass(frozen=True, slots=True)
class MethodAccessItem:
    """method_access_item."""

    method_id: int
    access_mode: MethodAccess

    def to_data(self) -> DataValue:
        return (Integer(self.method_id), Enumerated(self.access_mode))

    @classmethod
    def from_data(cls, value: DataValue) -> MethodAccessItem:
        method_id, mode = as_struct(value, 2, "method_access_item")
        try:
            access_mode = MethodAccess(as_typed(mode, Enumerated, "access_mode"))
        except ValueError:
            raise type_unmatched(f"method access_mode {mode!r} is not 0..2") from None
        return cls(int(as_typed(method_id, Integer, "method_id")), access_mode)


@dataclass(frozen=True, slots=True)
class ObjectAccessRights:
    """access_rights of one object: structure {attribute_access, method_access}.

    An attribute or method missing from the lists has no access.
    """

    attribute_access: tuple[AttributeAccessItem, ...] = ()
    method_access: tuple[MethodAccessItem, ...] = ()

    def attribute_mode(self, attribute_id: int) -> AttributeAccess:
        for item in self.attribute_access:
            if item.attribute_id == attribute_id:
                return item.access_mode
        return AttributeAccess.NO_ACCESS

    def method_mode(self, method_id: int) -> MethodAccess:
        for item in self.method_access:
            if item.method_id == method_id:
                return item.access_mode
        return MethodAccess.NO_ACCESS

    def to_data(self) -> DataValue:
        return ([i.to_data() for i in self.attribute_access], [i.to_data() for i in self.method_access])

    @classmethod
    def from_data(cls, value: DataValue) -> ObjectAccessRights:
        attributes, methods = as_struct(value, 2, "access_rights")
        return cls(
            tuple(AttributeAccessItem.from_data(v) for v in as_array(attributes, "attribute_access")),
            tuple(MethodAccessItem.from_data(v) for v in as_array(methods, "method_access")),
        )

    @classmethod
    def for_class(
        cls,
        interface_class: type[InterfaceClass],
        attribute_access: AttributeAccess = AttributeAccess.READ_ONLY,
        method_access: MethodAccess = MethodAccess.NO_ACCESS,
        overrides: Mapping[int, AttributeAccess] | None = None,
        method_overrides: Mapping[int, MethodAccess] | None = None,
    ) -> ObjectAccessRights:
        """Rights listing every attribute and method of ``interface_class``.

        Attribute 1 (logical_name) is always read-only unless overridden. Attributes with selective
        access get their selectors from ``interface_class.SELECTIVE_ACCESS``.
        """
        overrides = overrides or {}
        method_overrides = method_overrides or {}
        items = []
        for attr in interface_class.ATTRIBUTES:
            default = AttributeAccess.READ_ONLY if attr.index == 1 else attribute_access
            selectors = interface_class.SELECTIVE_ACCESS.get(attr.index)
            items.append(AttributeAccessItem(attr.index, overrides.get(attr.index, default), selectors))
        methods = [
            MethodAccessItem(m.index, method_overrides.get(m.index, method_access))
            for m in interface_class.METHODS
        ]
        return cls(tuple(items), tuple(methods))

    @classmethod
    def full(cls, interface_class: type[InterfaceClass]) -> ObjectAccessRights:
        """Read-and-write on every attribute but logical_name, access to every method."""
        return cls.for_class(interface_class, AttributeAccess.READ_AND_WRITE, MethodAccess.ACCESS)

    @classmethod
    def read_only(cls, interface_class: type[InterfaceClass]) -> ObjectAccessRights:
        """Read-only on every attribute, no method."""
        return cls.for_class(interface_class)

    def with_attributes(self, modes: Iterable[tuple[int, AttributeAccess]]) -> ObjectAccessRights:
        """A copy with some attribute modes replaced (added when missing)."""
        table = {i.attribute_id: i for i in self.attribute_access}
        for attribute_id, mode in modes:
            old = table.get(attribute_id)
            table[attribute_id] = AttributeAccessItem(
                attribute_id, mode, old.access_selectors if old else None
            )
        return ObjectAccessRights(
            tuple(sorted(table.values(), key=lambda i: i.attribute_id)), self.method_access
        )


__all__ = [
    "AttributeAccess",
    "AttributeAccessItem",
    "MethodAccess",
    "MethodAccessItem",
    "ObjectAccessRights",
]
