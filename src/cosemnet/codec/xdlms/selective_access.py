"""Selective access parameters of the profile generic ``buffer`` attribute (Blue Book, class 7).

Selector 1, range_descriptor ::= structure {
    restricting_object capture_object_definition, from_value Data, to_value Data,
    selected_values array of capture_object_definition }
Selector 2, entry_descriptor ::= structure {
    from_entry double-long-unsigned, to_entry double-long-unsigned,
    from_selected_value long-unsigned, to_selected_value long-unsigned }
capture_object_definition ::= structure {
    class_id long-unsigned, logical_name octet-string, attribute_index integer, data_index long-unsigned }

``to_entry`` / ``to_selected_value`` 0 mean "up to the last one". For a restricting object that is the
clock's time (attribute 2, an octet-string), pass ``from_value``/``to_value`` as
``CosemDateTime(...).to_bytes()``.

Building (``range_descriptor``, ``entry_descriptor``, ``to_data``) always produces the standard types.
Parsing (``parse_*``, ``from_data``) accepts any integer type in range (clients differ) and raises
:class:`DecodeError` (offset 0: the input is a Python value) on a shape that does not fit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Self

from cosemnet.codec.obis import Obis
from cosemnet.codec.types import DataValue, DoubleLongUnsigned, Integer, LongUnsigned
from cosemnet.codec.xdlms.common import SelectiveAccessDescriptor
from cosemnet.errors import DecodeError

__all__ = [
    "ENTRY_DESCRIPTOR",
    "RANGE_DESCRIPTOR",
    "CaptureObjectDefinition",
    "EntryDescriptor",
    "RangeDescriptor",
    "entry_descriptor",
    "parse_entry_descriptor",
    "parse_profile_selection",
    "parse_range_descriptor",
    "range_descriptor",
]

RANGE_DESCRIPTOR: Final = 1
ENTRY_DESCRIPTOR: Final = 2


def _int(value: object, low: int, high: int, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise DecodeError(f"{what} must be an integer {low}..{high}, got {value!r}", 0, what)
    return int(value)


def _structure(value: object, size: int, what: str) -> tuple[DataValue, ...]:
    if not isinstance(value, tuple) or len(value) != size:
        raise DecodeError(f"{what} must be a structure of {size} elements, got {value!r}", 0, what)
    return value


@dataclass(frozen=True, slots=True)
class CaptureObjectDefinition:
    """capture_object_definition {class_id, logical_name, attribute_index, data_index}."""

    class_id: int
    logical_name: Obis
    attribute_index: int
    data_index: int = 0

    def to_data(self) -> tuple[DataValue, ...]:
        return (
            LongUnsigned(self.class_id),
            bytes(Obis(self.logical_name)),
            Integer(self.attribute_index),
            LongUnsigned(self.data_index),
        )

    @classmethod
    def from_data(cls, value: DataValue) -> Self:
        class_id, logical_name, attribute_index, data_index = _structure(
            value, 4, "capture_object_definition"
        )
        if not isinstance(logical_name, bytes) or len(logical_name) != 6:
            raise DecodeError(f"logical_name must be a 6-byte octet-string, got {logical_name!r}", 0, "OBIS")
        return cls(
            _int(class_id, 0, 0xFFFF, "class_id"),
            Obis(logical_name),
            _int(attribute_index, -128, 127, "attribute_index"),
            _int(data_index, 0, 0xFFFF, "data_index"),
        )


@dataclass(slots=True)
class RangeDescriptor:
    """Selector 1: entries whose restricting object lies in [from_value, to_value]; ``selected_values``
    empty = all captured columns."""

    restricting_object: CaptureObjectDefinition
    from_value: DataValue
    to_value: DataValue
    selected_values: list[CaptureObjectDefinition] = field(default_factory=list)

    def to_data(self) -> DataValue:
        return (
            self.restricting_object.to_data(),
            self.from_value,
            self.to_value,
            [c.to_data() for c in self.selected_values],
        )

    @classmethod
    def from_data(cls, value: DataValue) -> Self:
        restricting, from_value, to_value, selected = _structure(value, 4, "range_descriptor")
        if not isinstance(selected, list):
            raise DecodeError(f"selected_values must be an array, got {selected!r}", 0, "array")
        return cls(
            CaptureObjectDefinition.from_data(restricting),
            from_value,
            to_value,
            [CaptureObjectDefinition.from_data(c) for c in selected],
        )

    def to_selective_access(self) -> SelectiveAccessDescriptor:
        return SelectiveAccessDescriptor(RANGE_DESCRIPTOR, self.to_data())


@dataclass(slots=True)
class EntryDescriptor:
    """Selector 2: entries ``from_entry``..``to_entry`` (1-based, 0 = last), columns
    ``from_selected_value``..``to_selected_value`` (1-based, 0 = last)."""

    from_entry: int = 1
    to_entry: int = 0
    from_selected_value: int = 1
    to_selected_value: int = 0

    def to_data(self) -> DataValue:
        return (
            DoubleLongUnsigned(self.from_entry),
            DoubleLongUnsigned(self.to_entry),
            LongUnsigned(self.from_selected_value),
            LongUnsigned(self.to_selected_value),
        )

    @classmethod
    def from_data(cls, value: DataValue) -> Self:
        from_entry, to_entry, from_selected, to_selected = _structure(value, 4, "entry_descriptor")
        return cls(
            _int(from_entry, 0, 0xFFFFFFFF, "from_entry"),
            _int(to_entry, 0, 0xFFFFFFFF, "to_entry"),
            _int(from_selected, 0, 0xFFFF, "from_selected_value"),
            _int(to_selected, 0, 0xFFFF, "to_selected_value"),
        )

    def to_selective_access(self) -> SelectiveAccessDescriptor:
        return SelectiveAccessDescriptor(ENTRY_DESCRIPTOR, self.to_data())


def range_descriptor(
    restricting_object: CaptureObjectDefinition,
    from_value: DataValue,
    to_value: DataValue,
    selected_values: list[CaptureObjectDefinition] | tuple[CaptureObjectDefinition, ...] = (),
) -> DataValue:
    """The access_parameters Data value of a range_descriptor (selector 1)."""
    return RangeDescriptor(restricting_object, from_value, to_value, list(selected_values)).to_data()


def entry_descriptor(
    from_entry: int = 1, to_entry: int = 0, from_selected_value: int = 1, to_selected_value: int = 0
) -> DataValue:
    """The access_parameters Data value of an entry_descriptor (selector 2)."""
    return EntryDescriptor(from_entry, to_entry, from_selected_value, to_selected_value).to_data()


def parse_range_descriptor(value: DataValue) -> RangeDescriptor:
    return RangeDescriptor.from_data(value)


def parse_entry_descriptor(value: DataValue) -> EntryDescriptor:
    return EntryDescriptor.from_data(value)


def parse_profile_selection(selection: SelectiveAccessDescriptor) -> RangeDescriptor | EntryDescriptor:
    """Interpret the access selection of a profile generic buffer (selector 1 or 2)."""
    if selection.access_selector == RANGE_DESCRIPTOR:
        return RangeDescriptor.from_data(selection.access_parameters)
    if selection.access_selector == ENTRY_DESCRIPTOR:
        return EntryDescriptor.from_data(selection.access_parameters)
    raise DecodeError(f"access selector {selection.access_selector} is not 1 or 2", 0, "1 or 2")
