"""Structures shared by several interface classes (IEC 62056-6-2).

* :class:`CaptureObjectDefinition`: {class_id, logical_name, attribute_index, data_index}
  (Profile generic capture_objects / sort_object, Push setup push_object_list, range_descriptor);
  the xDLMS codec's class, re-exported, parsed with :func:`parse_capture_object`;
* :class:`ValueDefinition`: {class_id, logical_name, attribute_index} (Register monitor, Limiter);
* :class:`ActionItem`: {script_logical_name, script_selector} (Register monitor, Limiter,
  Single action schedule).
"""

from __future__ import annotations

from dataclasses import dataclass

from cosemnet.codec.obis import Obis
from cosemnet.codec.types import DataValue, Integer, LongUnsigned
from cosemnet.codec.xdlms.selective_access import CaptureObjectDefinition
from cosemnet.cosem.results import CosemAccessError, DataAccessResult, type_unmatched
from cosemnet.cosem.values import as_int, as_obis, as_struct
from cosemnet.errors import DecodeError


def parse_capture_object(
    value: DataValue, what: str = "capture_object_definition"
) -> CaptureObjectDefinition:
    """A capture_object_definition from a received value (type-unmatched when malformed).

    Parsing is the xDLMS codec's (:class:`cosemnet.codec.xdlms.selective_access.CaptureObjectDefinition`),
    which accepts any integer type in range.
    """
    try:
        return CaptureObjectDefinition.from_data(value)
    except DecodeError as exc:
        raise type_unmatched(f"{what}: {exc.reason}") from None


def describe_capture_object(definition: CaptureObjectDefinition) -> str:
    """``class/logical_name/attribute[data_index]`` for messages."""
    text = f"{definition.class_id}/{definition.logical_name}/{definition.attribute_index}"
    return text + (f"[{definition.data_index}]" if definition.data_index else "")


@dataclass(frozen=True, slots=True)
class ValueDefinition:
    """value_definition: the attribute an object monitors."""

    class_id: int
    logical_name: Obis
    attribute_index: int

    def to_data(self) -> DataValue:
        return (LongUnsigned(self.class_id), bytes(self.logical_name), Integer(self.attribute_index))

    @classmethod
    def from_data(cls, value: DataValue, what: str = "value_definition") -> ValueDefinition:
        class_id, ln, attribute_index = as_struct(value, 3, what)
        return cls(
            as_int(class_id, LongUnsigned, "class_id"),
            as_obis(ln),
            as_int(attribute_index, Integer, "attribute_index"),
        )


NO_SCRIPT = Obis(bytes(6))


@dataclass(frozen=True, slots=True)
class ActionItem:
    """action_item: script ``script_selector`` of the Script table ``script_logical_name``.

    Design choice: an all-zero logical name (the usual "not configured" value) means no action.
    """

    script_logical_name: Obis = NO_SCRIPT
    script_selector: int = 0

    def to_data(self) -> DataValue:
        return (bytes(self.script_logical_name), LongUnsigned(self.script_selector))

    @classmethod
    def from_data(cls, value: DataValue, what: str = "action_item") -> ActionItem:
        ln, selector = as_struct(value, 2, what)
        return cls(as_obis(ln, "script_logical_name"), as_int(selector, LongUnsigned, "script_selector"))

    @property
    def configured(self) -> bool:
        return self.script_logical_name != NO_SCRIPT


def select_element(value: DataValue, data_index: int, what: str = "value") -> DataValue:
    """Element ``data_index`` (1-based) of an array or structure; the value itself for index 0."""
    if data_index == 0:
        return value
    if type(value) in (list, tuple):
        items: list[DataValue] | tuple[DataValue, ...] = value  # type: ignore[assignment]
        if 1 <= data_index <= len(items):
            return items[data_index - 1]
    raise CosemAccessError(DataAccessResult.OBJECT_UNAVAILABLE, f"{what} has no element {data_index}")


__all__ = [
    "NO_SCRIPT",
    "ActionItem",
    "CaptureObjectDefinition",
    "ValueDefinition",
    "describe_capture_object",
    "parse_capture_object",
    "select_element",
]
