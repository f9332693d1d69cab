"""Checked conversions from received ``Data`` values to what an attribute or method needs.

Every helper raises :class:`~cosemnet.cosem.results.CosemAccessError` with ``type-unmatched`` when
the value does not fit, so a SET or ACTION with a wrong parameter is answered with that code.

Design choice (the standard only says the value must have the attribute's type): integer values must
carry exactly the DLMS type of the attribute (a ``long-unsigned`` attribute refuses an ``unsigned``
value even when the number fits). Attributes whose type is a CHOICE say so and accept each member.
Attributes typed "octet-string formatted as date-time" accept both a 12-byte octet-string and a
``date-time`` value, and are always returned as the 12-byte octet-string.
"""

from __future__ import annotations

from typing import TypeVar

from cosemnet.codec.datetime import CosemDate, CosemDateTime, CosemTime
from cosemnet.codec.obis import Obis
from cosemnet.codec.types import (
    BitString,
    DataValue,
    DoubleLong,
    DoubleLongUnsigned,
    Float32,
    Integer,
    Long,
    Long64,
    Long64Unsigned,
    LongUnsigned,
    TypedInt,
    Unsigned,
)
from cosemnet.cosem.results import type_unmatched
from cosemnet.errors import DecodeError

T = TypeVar("T", bound=TypedInt)

NUMERIC_TYPES: tuple[type, ...] = (
    Integer,
    Long,
    DoubleLong,
    Long64,
    Unsigned,
    LongUnsigned,
    DoubleLongUnsigned,
    Long64Unsigned,
    Float32,
    float,
)
"""Types of the numeric members of the value CHOICE of registers (float = float64)."""

UNSIGNED_TYPES: tuple[type[TypedInt], ...] = (Unsigned, LongUnsigned, DoubleLongUnsigned, Long64Unsigned)


def as_struct(value: DataValue, size: int | None = None, what: str = "value") -> tuple[DataValue, ...]:
    """``value`` as a structure (of ``size`` members when given)."""
    if type(value) is not tuple:
        raise type_unmatched(f"{what} must be a structure")
    if size is not None and len(value) != size:
        raise type_unmatched(f"{what} must be a structure of {size} members, got {len(value)}")
    return value


def as_array(value: DataValue, what: str = "value") -> list[DataValue]:
    """``value`` as an array."""
    if type(value) is not list:
        raise type_unmatched(f"{what} must be an array")
    return value


def as_octet_string(value: DataValue, size: int | None = None, what: str = "value") -> bytes:
    """``value`` as an octet-string (of ``size`` bytes when given)."""
    if type(value) is not bytes:
        raise type_unmatched(f"{what} must be an octet-string")
    if size is not None and len(value) != size:
        raise type_unmatched(f"{what} must be an octet-string of {size} bytes, got {len(value)}")
    return value


def as_visible_string(value: DataValue, what: str = "value") -> str:
    """``value`` as a visible-string."""
    if type(value) is not str:
        raise type_unmatched(f"{what} must be a visible-string")
    return value


def as_bool(value: DataValue, what: str = "value") -> bool:
    """``value`` as a boolean."""
    if type(value) is not bool:
        raise type_unmatched(f"{what} must be a boolean")
    return value


def as_typed(value: DataValue, cls: type[T], what: str = "value") -> T:
    """``value`` as exactly the integer type ``cls`` (``Unsigned``, ``Enumerated``...)."""
    if type(value) is not cls:
        raise type_unmatched(f"{what} must be {cls.tag.dlms_name}")
    return value


def as_int(value: DataValue, cls: type[TypedInt], what: str = "value") -> int:
    """The number of a value of exactly the integer type ``cls``, as a plain ``int``."""
    return int(as_typed(value, cls, what))


def as_any_unsigned(value: DataValue, what: str = "value") -> int:
    """Any unsigned integer type (used where the standard leaves the width open)."""
    if type(value) not in UNSIGNED_TYPES:
        raise type_unmatched(f"{what} must be an unsigned integer")
    return int(value)  # type: ignore[arg-type]  # an int subclass, checked above


def as_date_time(value: DataValue, what: str = "value") -> CosemDateTime:
    """A ``date-time`` value or a 12-byte octet-string holding one."""
    if type(value) is CosemDateTime:
        return value
    if type(value) is bytes and len(value) == 12:
        try:
            return CosemDateTime.from_bytes(value)
        except DecodeError as exc:
            raise type_unmatched(f"{what}: {exc.reason}") from None
    raise type_unmatched(f"{what} must be a date-time (octet-string of 12 bytes)")


def as_date(value: DataValue, what: str = "value") -> CosemDate:
    """A ``date`` value or a 5-byte octet-string holding one."""
    if type(value) is CosemDate:
        return value
    if type(value) is bytes and len(value) == 5:
        try:
            return CosemDate.from_bytes(value)
        except DecodeError as exc:
            raise type_unmatched(f"{what}: {exc.reason}") from None
    raise type_unmatched(f"{what} must be a date (octet-string of 5 bytes)")


def as_time(value: DataValue, what: str = "value") -> CosemTime:
    """A ``time`` value or a 4-byte octet-string holding one."""
    if type(value) is CosemTime:
        return value
    if type(value) is bytes and len(value) == 4:
        try:
            return CosemTime.from_bytes(value)
        except DecodeError as exc:
            raise type_unmatched(f"{what}: {exc.reason}") from None
    raise type_unmatched(f"{what} must be a time (octet-string of 4 bytes)")


def as_obis(value: DataValue, what: str = "logical_name") -> Obis:
    """A 6-byte octet-string as an :class:`Obis`."""
    return Obis(as_octet_string(value, 6, what))


def as_bit_string(value: DataValue, what: str = "value") -> BitString:
    """``value`` as a bit-string."""
    if type(value) is not BitString:
        raise type_unmatched(f"{what} must be a bit-string")
    return value


def is_numeric(value: DataValue) -> bool:
    """True for the integer and floating-point members of the Data CHOICE (not boolean, not enum)."""
    return type(value) in NUMERIC_TYPES or (type(value) is int)


def numeric(value: DataValue, what: str = "value") -> int | float:
    """The number ``value`` holds, for comparisons (thresholds, sort objects)."""
    if not is_numeric(value):
        raise type_unmatched(f"{what} must be a number")
    if isinstance(value, float):
        return float(value)
    return int(value)  # type: ignore[arg-type]  # numeric, checked above


def same_type(value: DataValue, reference: DataValue, what: str = "value") -> DataValue:
    """``value`` when it has the same DLMS type as ``reference`` (thresholds follow the monitored value)."""
    if type(value) is not type(reference):
        raise type_unmatched(f"{what} must have the type of the monitored value")
    return value


def date_time_bytes(value: CosemDateTime | None) -> bytes:
    """The 12-byte octet-string form of a date-time; an unset value is all "not specified"."""
    return (value if value is not None else CosemDateTime()).to_bytes()


__all__ = [
    "NUMERIC_TYPES",
    "UNSIGNED_TYPES",
    "as_any_unsigned",
    "as_array",
    "as_bit_string",
    "as_bool",
    "as_date",
    "as_date_time",
    "as_int",
    "as_obis",
    "as_octet_string",
    "as_struct",
    "as_time",
    "as_typed",
    "as_visible_string",
    "date_time_bytes",
    "is_numeric",
    "numeric",
    "same_type",
]
