"""Typed views of what a client reads: the association's object list, profile buffers, register values.

Pure functions over received Data values (no I/O); :class:`cosemnet.client.asyncio_client.AsyncClient`
and the blocking :class:`cosemnet.client.blocking.Client` call them after the GETs.

* :func:`parse_object_list` -- Association LN attribute 2 (or Association SN attribute 2) into
  :class:`ObjectDescription` items (class id and name, version, OBIS and name, access rights);
* :func:`parse_capture_objects` / :func:`profile_rows` -- a profile generic buffer into rows keyed by
  column names ``"OBIS:attr"`` (``"OBIS:attr:data_index"`` when the data index is not 0);
* :func:`range_selection` / :func:`entry_selection` -- selective access on a buffer;
* :func:`scaled_value` -- a register value with its scaler_unit applied.

Design choices: the object list parser accepts the access_mode of Association LN version 0 (method
access as a boolean) as well as the enumerations of versions 1 and 2, and integers of any DLMS integer
type where the standard names one (meters differ). Clock columns (class 8 attribute 2, and any 12-byte
octet-string column of a date-time capture object) are turned into :class:`CosemDateTime`.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from decimal import Decimal

from cosemnet.client.errors import ProtocolError
from cosemnet.codec.class_ids import class_name
from cosemnet.codec.datetime import NOT_SPECIFIED, CosemDateTime, DateTimeConversionError
from cosemnet.codec.obis import Obis, obis_name
from cosemnet.codec.types import DataValue
from cosemnet.codec.xdlms import (
    CaptureObjectDefinition,
    EntryDescriptor,
    RangeDescriptor,
    SelectiveAccessDescriptor,
)
from cosemnet.cosem.access import AttributeAccess, MethodAccess
from cosemnet.cosem.register import Unit
from cosemnet.errors import DecodeError

__all__ = [
    "CLOCK_CLASS_ID",
    "AttributeRight",
    "Column",
    "MethodRight",
    "ObjectDescription",
    "ScaledValue",
    "column_name",
    "entry_selection",
    "parse_capture_objects",
    "parse_object_list",
    "parse_scaler_unit",
    "profile_rows",
    "range_selection",
    "scaled_value",
    "scaler_unit_attribute",
    "unit_symbol",
]

CLOCK_CLASS_ID = 8
SCALED_CLASS_IDS = frozenset((3, 4, 5))
"""Register, Extended register, Demand register: their value attribute has a scaler_unit."""


def scaler_unit_attribute(class_id: int) -> int:
    """Where the scaler_unit is: attribute 3 of registers (3) and extended registers (4), attribute 4 of
    demand registers (5, whose attributes 2 and 3 are the current and last average values)."""
    return 4 if class_id == 5 else 3


_UNIT_SYMBOLS: dict[int, str] = {
    1: "a",
    2: "mo",
    3: "wk",
    4: "d",
    5: "h",
    6: "min",
    7: "s",
    8: "°",
    9: "°C",
    10: "currency",
    11: "m",
    12: "m/s",
    13: "m³",
    14: "m³",
    15: "m³/h",
    16: "m³/h",
    17: "m³/d",
    18: "m³/d",
    19: "l",
    20: "kg",
    21: "N",
    22: "Nm",
    23: "Pa",
    24: "bar",
    25: "J",
    26: "J/h",
    27: "W",
    28: "VA",
    29: "var",
    30: "Wh",
    31: "VAh",
    32: "varh",
    33: "A",
    34: "C",
    35: "V",
    36: "V/m",
    37: "F",
    38: "Ω",
    39: "Ωm",
    40: "Wb",
    41: "T",
    42: "A/m",
    43: "H",
    44: "Hz",
    52: "K",
    56: "%",
    57: "Ah",
    254: "other",
    255: "",
}


def unit_symbol(unit: int) -> str:
    """The symbol of a unit code (``30`` -> ``"Wh"``; count -> ``""``; unknown -> ``"unit 200"``)."""
    symbol = _UNIT_SYMBOLS.get(unit)
    if symbol is not None:
        return symbol
    try:
        return Unit(unit).name.lower()
    except ValueError:
        return f"unit {unit}"


def _int(value: DataValue, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ProtocolError(f"{what} is not an integer: {value!r}")
    return int(value)


def _struct(value: DataValue, size: int, what: str) -> tuple[DataValue, ...]:
    if not isinstance(value, tuple) or len(value) < size:
        raise ProtocolError(f"{what} is not a structure of {size} members")
    return value


def _array(value: DataValue, what: str) -> list[DataValue]:
    if not isinstance(value, list):
        raise ProtocolError(f"{what} is not an array")
    return value


def _obis(value: DataValue, what: str) -> Obis:
    if not isinstance(value, bytes) or len(value) != 6:
        raise ProtocolError(f"{what} is not a 6-byte logical name")
    return Obis(value)


# --------------------------------------------------------------------------------------------------
# Object list


@dataclass(slots=True, frozen=True)
class AttributeRight:
    attribute_id: int
    access: AttributeAccess | int
    selectors: tuple[int, ...] | None = None


@dataclass(slots=True, frozen=True)
class MethodRight:
    method_id: int
    access: MethodAccess | int


@dataclass(slots=True, frozen=True)
class ObjectDescription:
    """One object of the association view."""

    class_id: int
    version: int
    logical_name: Obis
    attributes: tuple[AttributeRight, ...] = ()
    methods: tuple[MethodRight, ...] = ()
    base_name: int | None = None

    @property
    def class_name(self) -> str:
        """The Blue Book name of the interface class (``Register``), or ``class N`` when unknown."""
        return class_name(self.class_id) or f"class {self.class_id}"

    @property
    def name(self) -> str:
        """The OBIS name (``""`` when the OBIS table does not know the code)."""
        return obis_name(bytes(self.logical_name)) or ""

    def access_summary(self) -> str:
        """Compact access rights: attributes as ``2:rw 3:r`` (``R``/``W`` = authenticated), methods as
        ``m1`` (``M1`` = authenticated)."""
        parts: list[str] = []
        letters = {1: "r", 2: "w", 3: "rw", 4: "R", 5: "W", 6: "RW"}
        for a in self.attributes:
            mode = letters.get(int(a.access))
            if mode:
                parts.append(f"{a.attribute_id}:{mode}")
        for m in self.methods:
            if int(m.access) == 1:
                parts.append(f"m{m.method_id}")
            elif int(m.access) == 2:
                parts.append(f"M{m.method_id}")
        return " ".join(parts) if parts else "-"


def _attribute_access(value: DataValue) -> AttributeRight:
    item = _struct(value, 3, "attribute_access_item")
    attribute_id = _int(item[0], "attribute_id")
    mode = _int(item[1], "attribute access_mode")
    access: AttributeAccess | int
    try:
        access = AttributeAccess(mode)
    except ValueError:
        access = mode
    selectors: tuple[int, ...] | None = None
    if item[2] is not None:
        selectors = tuple(_int(s, "access_selector") for s in _array(item[2], "access_selectors"))
    return AttributeRight(attribute_id, access, selectors)


def _method_access(value: DataValue) -> MethodRight:
    item = _struct(value, 2, "method_access_item")
    method_id = _int(item[0], "method_id")
    raw = item[1]
    mode = int(raw) if isinstance(raw, bool) else _int(raw, "method access_mode")  # version 0: boolean
    access: MethodAccess | int
    try:
        access = MethodAccess(mode)
    except ValueError:
        access = mode
    return MethodRight(method_id, access)


def parse_object_list(value: DataValue, short_names: bool = False) -> list[ObjectDescription]:
    """Association LN object_list (``short_names``: Association SN object_list) into descriptions."""
    result: list[ObjectDescription] = []
    for index, element in enumerate(_array(value, "object_list")):
        what = f"object_list element {index + 1}"
        if short_names:
            base_name, class_id, version, ln = _struct(element, 4, what)[:4]
            result.append(
                ObjectDescription(
                    _int(class_id, "class_id"),
                    _int(version, "version"),
                    _obis(ln, "logical_name"),
                    base_name=_int(base_name, "base_name") & 0xFFFF,
                )
            )
            continue
        class_id, version, ln, rights = _struct(element, 4, what)[:4]
        attributes: tuple[AttributeRight, ...] = ()
        methods: tuple[MethodRight, ...] = ()
        if rights is not None:
            rights_struct = _struct(rights, 2, "access_rights")
            attributes = tuple(_attribute_access(a) for a in _array(rights_struct[0], "attribute_access"))
            methods = tuple(_method_access(m) for m in _array(rights_struct[1], "method_access"))
        result.append(
            ObjectDescription(
                _int(class_id, "class_id"),
                _int(version, "version"),
                _obis(ln, "logical_name"),
                attributes,
                methods,
            )
        )
    return result


# --------------------------------------------------------------------------------------------------
# Registers


@dataclass(slots=True, frozen=True)
class ScaledValue:
    """A register value with its scaler_unit: ``value`` is ``raw * 10**scaler`` in ``unit``."""

    raw: DataValue
    scaler: int
    unit: int

    @property
    def value(self) -> DataValue | int | float:
        """The scaled value, ``raw * 10**scaler`` (exact for integers; the raw value when not a number)."""
        raw = self.raw
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            return raw
        if self.scaler >= 0 and isinstance(raw, int):
            scaled: int = int(raw) * 10**self.scaler
            return scaled
        if isinstance(raw, int):
            return float(Decimal(int(raw)).scaleb(self.scaler))
        return float(raw) * 10.0**self.scaler

    @property
    def unit_symbol(self) -> str:
        """The unit's symbol (``Wh``; ``""`` for a count)."""
        return unit_symbol(self.unit)

    def __str__(self) -> str:
        symbol = self.unit_symbol
        value = self.value
        text = value.hex() if isinstance(value, bytes) else str(value)
        return f"{text} {symbol}".rstrip()


def parse_scaler_unit(value: DataValue) -> tuple[int, int]:
    """scaler_unit ``{scaler integer, unit enum}`` -> ``(scaler, unit)``."""
    scaler, unit = _struct(value, 2, "scaler_unit")[:2]
    return _int(scaler, "scaler"), _int(unit, "unit")


def scaled_value(value: DataValue, scaler_unit: DataValue) -> ScaledValue:
    """Combine a register value (attribute 2) with its scaler_unit (attribute 3)."""
    scaler, unit = parse_scaler_unit(scaler_unit)
    return ScaledValue(value, scaler, unit)


# --------------------------------------------------------------------------------------------------
# Profile generic


@dataclass(slots=True, frozen=True)
class Column:
    """One capture object of a profile."""

    definition: CaptureObjectDefinition

    @property
    def name(self) -> str:
        """``OBIS:attribute`` (``1-0:1.8.0*255:2``), the key of this column in each row."""
        return column_name(self.definition)

    @property
    def is_clock(self) -> bool:
        """True for a clock time column (class 8, attribute 2): what a range selection selects on."""
        d = self.definition
        return d.class_id == CLOCK_CLASS_ID and d.attribute_index == 2


def column_name(definition: CaptureObjectDefinition) -> str:
    """``"0-0:1.0.0*255:2"``; the data index is appended when not 0 (``":2:3"``)."""
    name = f"{definition.logical_name}:{definition.attribute_index}"
    if definition.data_index:
        name += f":{definition.data_index}"
    return name


def parse_capture_objects(value: DataValue) -> list[Column]:
    """Profile generic capture_objects (attribute 3) into columns."""
    columns: list[Column] = []
    for element in _array(value, "capture_objects"):
        try:
            columns.append(Column(CaptureObjectDefinition.from_data(element)))
        except DecodeError as exc:
            raise ProtocolError(f"bad capture object definition: {exc.reason}") from None
    return columns


def _cell(value: DataValue, column: Column) -> DataValue | CosemDateTime:
    if column.is_clock and isinstance(value, bytes) and len(value) == 12:
        try:
            return CosemDateTime.from_bytes(value)
        except DecodeError:
            return value
    return value


def profile_rows(
    buffer: DataValue, columns: list[Column], capture_period: int = 0
) -> list[dict[str, DataValue | CosemDateTime]]:
    """A buffer (array of structures) into rows keyed by column name. Rows with another number of
    members than there are columns (a selective access that selected columns) are keyed by the first
    columns in order; extra members are keyed ``"#n"``.

    ``capture_period`` (profile generic attribute 4, seconds): when it is not 0, a clock cell that is
    null-data (the Blue Book's compressed form of a periodic profile) is reconstructed as the previous
    row's date-time plus the capture period, keeping that row's deviation and clock status. A null cell
    with no usable date-time before it (first row, unspecified fields) stays None (docs/decisions/0054)."""
    rows: list[dict[str, DataValue | CosemDateTime]] = []
    clocks = _ClockColumns(columns, capture_period)
    for entry in _array(buffer, "buffer"):
        if not isinstance(entry, tuple):
            raise ProtocolError("buffer entry is not a structure")
        row: dict[str, DataValue | CosemDateTime] = {}
        for i, cell in enumerate(entry):
            if i < len(columns):
                column = columns[i]
                value = _cell(cell, column)
                if column.is_clock:
                    value = clocks.fill(i, value)
                row[column.name] = value
            else:
                row[f"#{i + 1}"] = cell
        rows.append(row)
    return rows


class _ClockColumns:
    """The last date-time seen in each clock column, to fill in null-data cells of a periodic profile."""

    __slots__ = ("_last", "_period")

    def __init__(self, columns: list[Column], capture_period: int) -> None:
        self._period = _dt.timedelta(seconds=capture_period) if capture_period > 0 else None
        self._last: dict[int, tuple[CosemDateTime, _dt.datetime] | None] = {}

    def fill(self, index: int, value: DataValue | CosemDateTime) -> DataValue | CosemDateTime:
        if self._period is None:
            return value
        if isinstance(value, CosemDateTime):
            self._last[index] = _as_point(value)
            return value
        last = self._last.get(index)
        if value is not None or last is None:
            self._last[index] = None
            return value
        stamp, point = last
        point += self._period
        filled = CosemDateTime(
            point.year,
            point.month,
            point.day,
            stamp.day_of_week if stamp.day_of_week == NOT_SPECIFIED else point.isoweekday(),
            point.hour,
            point.minute,
            point.second,
            stamp.hundredths if stamp.hundredths == NOT_SPECIFIED else point.microsecond // 10000,
            stamp.deviation,
            stamp.clock_status,
        )
        self._last[index] = (filled, point)
        return filled


def _as_point(value: CosemDateTime) -> tuple[CosemDateTime, _dt.datetime] | None:
    """The date-time as wall-clock time (its deviation kept aside), or None when it is no point in time."""
    try:
        return value, value.to_datetime(_dt.UTC).replace(tzinfo=None)
    except DateTimeConversionError:
        return None


def _as_datetime(value: _dt.datetime) -> bytes:
    if value.tzinfo is None:
        value = value.replace(tzinfo=_dt.UTC)
    return CosemDateTime.from_datetime(value).to_bytes()


def range_selection(
    clock_column: CaptureObjectDefinition,
    start: _dt.datetime,
    end: _dt.datetime,
    selected: list[CaptureObjectDefinition] | None = None,
) -> SelectiveAccessDescriptor:
    """Range descriptor (selector 1) on ``clock_column`` from ``start`` to ``end`` (naive datetimes are
    taken as UTC); date-times are sent as 12-byte octet-strings."""
    descriptor = RangeDescriptor(clock_column, _as_datetime(start), _as_datetime(end), list(selected or []))
    return descriptor.to_selective_access()


def entry_selection(from_entry: int = 1, to_entry: int = 0) -> SelectiveAccessDescriptor:
    """Entry descriptor (selector 2): entries ``from_entry``..``to_entry`` (1-based; 0 = last)."""
    return EntryDescriptor(from_entry, to_entry).to_selective_access()
