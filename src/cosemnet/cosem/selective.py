"""Selective access to Profile generic buffers (IEC 62056-6-2, class 7), object-model side.

The descriptors are the xDLMS codec's (:mod:`cosemnet.codec.xdlms.selective_access`, re-exported):
access_selector 1 :class:`RangeDescriptor`, 2 :class:`EntryDescriptor`, carried in a
:class:`SelectiveAccessDescriptor`. This module adds what the server needs to apply them:
:func:`parse_range_descriptor` / :func:`parse_entry_descriptor` (``type-unmatched`` on a malformed
value) and :func:`comparison_key`, which orders restricting values: date-times (as ``date-time`` or
12-byte octet-strings) by the instant they denote, numbers by value.
"""

from __future__ import annotations

import datetime as _dt

from cosemnet.codec.datetime import (
    DEVIATION_NOT_SPECIFIED,
    NOT_SPECIFIED,
    YEAR_NOT_SPECIFIED,
    CosemDateTime,
)
from cosemnet.codec.types import DataValue
from cosemnet.codec.xdlms.common import SelectiveAccessDescriptor
from cosemnet.codec.xdlms.selective_access import (
    ENTRY_DESCRIPTOR,
    RANGE_DESCRIPTOR,
    EntryDescriptor,
    RangeDescriptor,
)
from cosemnet.cosem.results import type_unmatched
from cosemnet.cosem.values import is_numeric, numeric
from cosemnet.errors import DecodeError


def parse_range_descriptor(value: DataValue) -> RangeDescriptor:
    """A range_descriptor from access_parameters (type-unmatched when malformed)."""
    try:
        return RangeDescriptor.from_data(value)
    except DecodeError as exc:
        raise type_unmatched(f"range_descriptor: {exc.reason}") from None


def parse_entry_descriptor(value: DataValue) -> EntryDescriptor:
    """An entry_descriptor from access_parameters (type-unmatched when malformed)."""
    try:
        return EntryDescriptor.from_data(value)
    except DecodeError as exc:
        raise type_unmatched(f"entry_descriptor: {exc.reason}") from None


_EPOCH = _dt.datetime(1, 1, 1, tzinfo=_dt.UTC)


def date_time_key(value: CosemDateTime) -> float:
    """Seconds since 0001-01-01 UTC of a date-time.

    Design choice: an unspecified deviation counts as UTC (the meter's clock and the client usually
    agree on it); unspecified hundredths count as 0; a date-time with other unspecified fields
    cannot be compared (``type-unmatched``), except the all-unspecified value, which sorts first.
    """
    if value.year == YEAR_NOT_SPECIFIED and NOT_SPECIFIED in (value.month, value.day, value.hour):
        return float("-inf")
    tz = _dt.UTC if value.deviation == DEVIATION_NOT_SPECIFIED else None
    try:
        moment = value.to_datetime(default_tz=tz)
    except ValueError as exc:
        raise type_unmatched(f"date-time {value} cannot be compared: {exc}") from None
    return (moment - _EPOCH).total_seconds()


def comparison_key(value: DataValue, what: str = "value") -> float:
    """Order key of a restricting value: date-times by instant, numbers by value."""
    if type(value) is CosemDateTime:
        return date_time_key(value)
    if type(value) is bytes and len(value) == 12:
        try:
            return date_time_key(CosemDateTime.from_bytes(value))
        except DecodeError as exc:
            raise type_unmatched(f"{what}: {exc.reason}") from None
    if is_numeric(value):
        return float(numeric(value))
    raise type_unmatched(f"{what} is neither a date-time nor a number")


__all__ = [
    "ENTRY_DESCRIPTOR",
    "RANGE_DESCRIPTOR",
    "EntryDescriptor",
    "RangeDescriptor",
    "SelectiveAccessDescriptor",
    "comparison_key",
    "date_time_key",
    "parse_entry_descriptor",
    "parse_range_descriptor",
]
