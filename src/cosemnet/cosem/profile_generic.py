"""Profile generic (class_id 7, version 1): a buffer of captured values (load profiles, logs).

Attributes: 2 buffer (array of structures, one column per capture object), 3 capture_objects
(array of capture_object_definition), 4 capture_period (double-long-unsigned, seconds; 0 = no
automatic capture), 5 sort_method (enum), 6 sort_object (capture_object_definition), 7 entries_in_use,
8 profile_entries (double-long-unsigned). Methods 1 reset (x + 0x58), 2 capture (x + 0x60).

Selective access to the buffer: access_selector 1 (range_descriptor) and 2 (entry_descriptor), see
:mod:`cosemnet.cosem.selective`.

Capture reads each capture object through ``ctx.effects.read_attribute`` (the resolver) and picks
element ``data_index`` when it is not 0. The model keeps no timer: the meter calls :meth:`capture`
(or :meth:`tick`) when :meth:`next_capture_time` is reached.

Design choices where the Blue Book leaves room:

* a capture object the resolver cannot read is captured as null-data (the row is still stored);
* FIFO keeps the buffer oldest first and drops the oldest entry when full; LIFO keeps it oldest first
  and, when full, replaces the newest entry; largest / smallest / nearest_to_zero /
  farthest_from_zero keep the buffer sorted by the sort object (best first, ties in capture order) and
  drop the worst entry when full; a sorted method without a usable sort_object behaves as FIFO;
* a SET of capture_objects, sort_method, sort_object or profile_entries clears the buffer;
  profile_entries above the meter's capacity (``max_entries``) is refused with other-reason;
* automatic captures are aligned on multiples of capture_period counted from 1970-01-01 UTC;
* range_descriptor: from and to are inclusive; a restricting object or selected value that is not a
  capture object fails with object-unavailable;
* entry_descriptor: from_entry 0 counts as 1, to_entry 0 or beyond the last entry means the last
  entry; from_entry beyond the last entry gives an empty array; the same for columns, except that a
  column range outside the capture objects fails with object-unavailable.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from enum import IntEnum
from typing import ClassVar

from cosemnet.codec.obis import Obis
from cosemnet.codec.types import DataValue, DoubleLongUnsigned, Enumerated
from cosemnet.cosem.base import (
    LOGICAL_NAME_DEF,
    AttributeDef,
    InterfaceClass,
    MethodDef,
    SelectiveAccess,
    read_only,
)
from cosemnet.cosem.common import (
    CaptureObjectDefinition,
    describe_capture_object,
    parse_capture_object,
    select_element,
)
from cosemnet.cosem.context import AccessContext
from cosemnet.cosem.register import check_zero_parameter
from cosemnet.cosem.results import ActionResult, CosemAccessError, DataAccessResult, type_unmatched
from cosemnet.cosem.selective import (
    ENTRY_DESCRIPTOR,
    RANGE_DESCRIPTOR,
    EntryDescriptor,
    RangeDescriptor,
    comparison_key,
    parse_entry_descriptor,
    parse_range_descriptor,
)
from cosemnet.cosem.values import as_array, as_int, is_numeric, numeric

Row = tuple[DataValue, ...]

_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)


class SortMethod(IntEnum):
    FIFO = 1
    LIFO = 2
    LARGEST = 3
    SMALLEST = 4
    NEAREST_TO_ZERO = 5
    FAREST_FROM_ZERO = 6


class ProfileGeneric(InterfaceClass):
    """Profile generic."""

    CLASS_ID: ClassVar[int] = 7
    VERSION: ClassVar[int] = 1
    ATTRIBUTES: ClassVar[tuple[AttributeDef, ...]] = (
        LOGICAL_NAME_DEF,
        AttributeDef(2, "buffer", False, 0x08),
        AttributeDef(3, "capture_objects", True, 0x10),
        AttributeDef(4, "capture_period", True, 0x18),
        AttributeDef(5, "sort_method", True, 0x20),
        AttributeDef(6, "sort_object", True, 0x28),
        AttributeDef(7, "entries_in_use", False, 0x30),
        AttributeDef(8, "profile_entries", True, 0x38),
    )
    METHODS: ClassVar[tuple[MethodDef, ...]] = (
        MethodDef(1, "reset", 0x58),
        MethodDef(2, "capture", 0x60),
    )
    SELECTIVE_ACCESS: ClassVar[dict[int, tuple[int, ...]]] = {2: (RANGE_DESCRIPTOR, ENTRY_DESCRIPTOR)}

    def __init__(
        self,
        logical_name: Obis | str | bytes,
        capture_objects: Sequence[CaptureObjectDefinition] = (),
        capture_period: int = 0,
        profile_entries: int = 1000,
        sort_method: SortMethod = SortMethod.FIFO,
        sort_object: CaptureObjectDefinition | None = None,
        *,
        max_entries: int | None = None,
        base_name: int | None = None,
    ) -> None:
        super().__init__(logical_name, base_name=base_name)
        self.capture_objects: list[CaptureObjectDefinition] = list(capture_objects)
        self.capture_period = capture_period
        self.max_entries = max_entries if max_entries is not None else max(profile_entries, 1)
        if not 0 <= profile_entries <= self.max_entries:
            raise ValueError("profile_entries exceeds max_entries")
        self.profile_entries = profile_entries
        self.sort_method = sort_method
        self.sort_object = sort_object
        self.buffer: list[Row] = []

    # ----------------------------------------------------------------------------------------------
    # Meter side

    @property
    def entries_in_use(self) -> int:
        return len(self.buffer)

    def reset(self) -> None:
        """Clear the buffer."""
        self.buffer.clear()

    def capture(self, ctx: AccessContext) -> Row:
        """Capture one row now and store it; returns the row."""
        row = tuple(self._capture_value(c, ctx) for c in self.capture_objects)
        self.store(row)
        return row

    def _capture_value(self, definition: CaptureObjectDefinition, ctx: AccessContext) -> DataValue:
        try:
            value = ctx.effects.read_attribute(
                definition.class_id, definition.logical_name, definition.attribute_index, ctx
            )
            return select_element(value, definition.data_index, describe_capture_object(definition))
        except CosemAccessError:
            return None

    def store(self, row: Row) -> None:
        """Insert a row following sort_method and profile_entries."""
        if self.profile_entries == 0:
            return
        column = self._sort_column()
        if self.sort_method in (SortMethod.FIFO, SortMethod.LIFO) or column is None:
            if len(self.buffer) >= self.profile_entries:
                if self.sort_method is SortMethod.LIFO:
                    self.buffer.pop()
                else:
                    del self.buffer[0]
            self.buffer.append(row)
            return
        key = self._sort_key(row[column])
        position = len(self.buffer)
        for i, existing in enumerate(self.buffer):
            if key > self._sort_key(existing[column]):
                position = i
                break
        self.buffer.insert(position, row)
        if len(self.buffer) > self.profile_entries:
            self.buffer.pop()

    def _sort_column(self) -> int | None:
        if self.sort_object is None:
            return None
        try:
            return self.capture_objects.index(self.sort_object)
        except ValueError:
            return None

    def _sort_key(self, value: DataValue) -> float:
        """Larger key = better entry (kept first)."""
        if is_numeric(value):
            number = float(numeric(value))
        else:
            try:
                number = comparison_key(value)
            except CosemAccessError:
                return float("-inf")
        if self.sort_method is SortMethod.LARGEST:
            return number
        if self.sort_method is SortMethod.SMALLEST:
            return -number
        if self.sort_method is SortMethod.NEAREST_TO_ZERO:
            return -abs(number)
        return abs(number)

    def next_capture_time(self, now: _dt.datetime) -> _dt.datetime | None:
        """The next automatic capture strictly after ``now`` (None when capture_period is 0)."""
        if self.capture_period == 0:
            return None
        elapsed = int((now - _EPOCH).total_seconds())
        return _EPOCH + _dt.timedelta(seconds=(elapsed // self.capture_period + 1) * self.capture_period)

    def tick(self, previous: _dt.datetime, ctx: AccessContext) -> bool:
        """Capture once if a capture instant lies in (previous, ctx.now]; returns True if it did."""
        due = self.next_capture_time(previous)
        if due is not None and due <= ctx.now:
            self.capture(ctx)
            return True
        return False

    # ----------------------------------------------------------------------------------------------
    # Selective access

    def _column(self, definition: CaptureObjectDefinition) -> int:
        try:
            return self.capture_objects.index(definition)
        except ValueError:
            raise CosemAccessError(
                DataAccessResult.OBJECT_UNAVAILABLE,
                f"{describe_capture_object(definition)} is not a capture object",
            ) from None

    def select_range(self, descriptor: RangeDescriptor) -> list[DataValue]:
        """Rows whose restricting column lies in [from_value, to_value], with the selected columns."""
        column = self._column(descriptor.restricting_object)
        low = comparison_key(descriptor.from_value, "from_value")
        high = comparison_key(descriptor.to_value, "to_value")
        columns = [self._column(c) for c in descriptor.selected_values]
        result: list[DataValue] = []
        for row in self.buffer:
            try:
                key = comparison_key(row[column])
            except CosemAccessError:
                continue
            if low <= key <= high:
                result.append(tuple(row[c] for c in columns) if columns else row)
        return result

    def select_entries(self, descriptor: EntryDescriptor) -> list[DataValue]:
        """Entries from_entry..to_entry (1-based), columns from_selected_value..to_selected_value."""
        count = len(self.buffer)
        first = max(descriptor.from_entry, 1)
        last = count if descriptor.to_entry == 0 else min(descriptor.to_entry, count)
        n_columns = len(self.capture_objects)
        first_column = max(descriptor.from_selected_value, 1)
        last_column = n_columns if descriptor.to_selected_value == 0 else descriptor.to_selected_value
        if first_column > n_columns or last_column > n_columns or first_column > last_column:
            raise CosemAccessError(
                DataAccessResult.OBJECT_UNAVAILABLE,
                f"columns {first_column}..{last_column} outside the {n_columns} capture objects",
            )
        if first > last:
            return []
        whole = first_column == 1 and last_column == n_columns
        rows = self.buffer[first - 1 : last]
        if whole:
            return list(rows)
        return [row[first_column - 1 : last_column] for row in rows]

    # ----------------------------------------------------------------------------------------------
    # Services

    def _get(self, index: int, ctx: AccessContext, selective_access: SelectiveAccess | None) -> DataValue:
        if index == 2:
            if selective_access is None:
                return list(self.buffer)
            if selective_access.access_selector == RANGE_DESCRIPTOR:
                return self.select_range(parse_range_descriptor(selective_access.access_parameters))
            return self.select_entries(parse_entry_descriptor(selective_access.access_parameters))
        if index == 3:
            return [c.to_data() for c in self.capture_objects]
        if index == 4:
            return DoubleLongUnsigned(self.capture_period)
        if index == 5:
            return Enumerated(self.sort_method)
        if index == 6:
            if self.sort_object is None:
                return CaptureObjectDefinition(0, Obis(bytes(6)), 0, 0).to_data()
            return self.sort_object.to_data()
        if index == 7:
            return DoubleLongUnsigned(self.entries_in_use)
        return DoubleLongUnsigned(self.profile_entries)

    def _set(self, index: int, value: DataValue, ctx: AccessContext) -> None:
        if index == 3:
            self.capture_objects = [parse_capture_object(v) for v in as_array(value, "capture_objects")]
            self.reset()
        elif index == 4:
            self.capture_period = as_int(value, DoubleLongUnsigned, "capture_period")
        elif index == 5:
            try:
                self.sort_method = SortMethod(as_int(value, Enumerated, "sort_method"))
            except ValueError:
                raise type_unmatched("sort_method must be 1..6") from None
            self.reset()
        elif index == 6:
            definition = parse_capture_object(value, "sort_object")
            self.sort_object = None if definition.class_id == 0 else definition
            self.reset()
        elif index == 8:
            entries = as_int(value, DoubleLongUnsigned, "profile_entries")
            if entries > self.max_entries:
                raise CosemAccessError(
                    DataAccessResult.OTHER_REASON, f"profile_entries above the capacity {self.max_entries}"
                )
            self.profile_entries = entries
            self.reset()
        else:
            raise read_only(index)

    def _action(self, index: int, parameter: DataValue, ctx: AccessContext) -> DataValue | None:
        check_zero_parameter(parameter)
        if index == 1:
            self.reset()
        else:
            if not self.capture_objects:
                raise CosemAccessError(ActionResult.OTHER_REASON, "no capture objects")
            self.capture(ctx)
        return None


__all__ = ["ProfileGeneric", "Row", "SortMethod"]
