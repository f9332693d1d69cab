"""Short names for the OSGP meter and its ANSI C12.19 tables (IEC 62056-8-8, Annex C, Tables C.2 / C.3).

The migration path of Annex C lets an OSGP meter keep its ANSI C12.19 tables: each standard table
BTnn becomes one Utility tables object (class 26, logical name 0-0:65.0.nn*255, spec-notes section 1)
reached by short name. Tables C.2 and C.3 (base_name ranges per table category and per table) are not
public; these are the project's [design], recorded in ``docs/decisions/0013-utility-table-short-names.md``:

* Short names keep the 8-byte attribute stride: attribute n of the object with base_name x is
  x + 8(n - 1). A Utility tables object has 4 attributes, so it spans 0x20 short names.
* Table C.2 (one range per C12.19 decade, i.e. per table category): decade d occupies
  ``0x1000 + 0x200 * d`` .. ``+ 0x1FF``; 0x200 leaves room for 16 tables per decade, so a base name
  reads as the table number in hex: BT23 -> 0x1000 + 0x400 + 0x60 = 0x1460.
* Table C.3 (per table): BTnn -> ``0x1000 + 0x200 * (nn // 10) + 0x20 * (nn % 10)``, for nn = 0..79
  (the numbers C12.19 leaves unused keep their slot, so the formula has no exceptions).
* The other COSEM objects of the OSGP meter sit below 0x1000 at fixed base names 0x0100 apart (room for
  classes with methods); the current association (Association SN) keeps the customary 0xFA00.

C12.19 table names: the public list of standard table names (spec-notes section 2; the 1997/2008 table
names as commonly published).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from cosemnet.codec.obis import Obis
from cosemnet.cosem.association_sn import ASSOCIATION_SN_BASE_NAME, ASSOCIATION_SN_LN
from cosemnet.cosem.utility_tables import TableProvider, UtilityTables

STANDARD_TABLES_BASE: Final = 0x1000
"""First base name of the standard tables (BT00)."""
DECADE_STRIDE: Final = 0x200
"""Base names per C12.19 decade (table category)."""
TABLE_STRIDE: Final = 0x20
"""Base names per table: 4 attributes x 8."""
ATTRIBUTE_STRIDE: Final = 8
UTILITY_TABLES_ATTRIBUTES: Final = 4
LAST_STANDARD_TABLE: Final = 79
"""BT79: the last table this profile maps (decades 0-7)."""
STANDARD_TABLES_END: Final = STANDARD_TABLES_BASE + DECADE_STRIDE * (LAST_STANDARD_TABLE // 10 + 1)
"""One past the last base name of the standard table range (0x2000)."""

UTILITY_TABLES_CLASS_ID: Final = UtilityTables.CLASS_ID


@dataclass(frozen=True, slots=True)
class TableCategory:
    """One row of Table C.2: a C12.19 decade and its base_name range."""

    decade: int
    name: str
    first_table: int
    last_table: int
    first_base_name: int
    last_base_name: int


_DECADE_NAMES: Final = (
    "general configuration",
    "data source",
    "register",
    "local display",
    "security",
    "time and time-of-use",
    "load profile",
    "history log and event log",
)

TABLE_CATEGORIES: Final[tuple[TableCategory, ...]] = tuple(
    TableCategory(
        d,
        name,
        10 * d,
        10 * d + 9,
        STANDARD_TABLES_BASE + DECADE_STRIDE * d,
        STANDARD_TABLES_BASE + DECADE_STRIDE * (d + 1) - 1,
    )
    for d, name in enumerate(_DECADE_NAMES)
)
"""Table C.2."""

STANDARD_TABLE_NAMES: Final[dict[int, str]] = {
    0: "General Configuration",
    1: "General Manufacturer Identification",
    2: "Device Nameplate",
    3: "End Device Mode and Status",
    4: "Pending Status",
    5: "Device Identification",
    6: "Utility Information",
    7: "Procedure Initiate",
    8: "Procedure Response",
    10: "Dimension Sources Limiting",
    11: "Actual Sources Limiting",
    12: "Units of Measure Entry",
    13: "Demand Control",
    14: "Data Control",
    15: "Constants",
    16: "Source Definition",
    17: "Transformer Loss Compensation",
    20: "Dimension Register",
    21: "Actual Register",
    22: "Data Selection",
    23: "Current Register Data",
    24: "Previous Season Data",
    25: "Previous Demand Reset Data",
    26: "Self-read Data",
    27: "Present Register Selection",
    28: "Present Register Data",
    30: "Dimension Display",
    31: "Actual Display",
    32: "Display Source",
    33: "Primary Display List",
    34: "Secondary Display List",
    40: "Dimension Security Limiting",
    41: "Actual Security Limiting",
    42: "Security",
    43: "Default Access Control",
    44: "Access Control",
    45: "Key",
    46: "Extended Key",
    50: "Dimension Time and TOU",
    51: "Actual Time and TOU",
    52: "Clock",
    53: "Time Offset",
    54: "Calendar",
    55: "Clock State",
    56: "Time Remaining",
    57: "Precision Clock State",
    60: "Dimension Load Profile",
    61: "Actual Load Profile",
    62: "Load Profile Control",
    63: "Load Profile Status",
    64: "Load Profile Data Set 1",
    65: "Load Profile Data Set 2",
    66: "Load Profile Data Set 3",
    67: "Load Profile Data Set 4",
    70: "Dimension Log",
    71: "Actual Log",
    72: "Events Identification",
    73: "History Log Control",
    74: "History Log Data",
    75: "Event Log Control",
    76: "Event Log Data",
    77: "Event Log and Signatures Enable",
    78: "End Device Program State",
    79: "Event Counters",
}
"""Names of the C12.19 standard tables 0..79 (numbers not listed are unused by C12.19)."""


def _check_table(table_id: int) -> int:
    if (
        isinstance(table_id, bool)
        or not isinstance(table_id, int)
        or not 0 <= table_id <= LAST_STANDARD_TABLE
    ):
        raise ValueError(f"standard table number must be 0..{LAST_STANDARD_TABLE}, got {table_id!r}")
    return table_id


def standard_table_base_name(table_id: int) -> int:
    """Table C.3: the base_name of standard table ``table_id`` (0..79)."""
    _check_table(table_id)
    return STANDARD_TABLES_BASE + DECADE_STRIDE * (table_id // 10) + TABLE_STRIDE * (table_id % 10)


def table_for_base_name(base_name: int) -> int | None:
    """The standard table whose base_name is exactly ``base_name``, else None."""
    target = resolve_table_short_name(base_name)
    if target is None or target[1] != 1:
        return None
    return target[0]


def resolve_table_short_name(short_name: int) -> tuple[int, int] | None:
    """``(table_id, attribute index)`` for a short name inside the standard table range, else None."""
    offset = short_name - STANDARD_TABLES_BASE
    if not 0 <= offset < STANDARD_TABLES_END - STANDARD_TABLES_BASE:
        return None
    decade, within = divmod(offset, DECADE_STRIDE)
    unit, attribute_offset = divmod(within, TABLE_STRIDE)
    if unit >= 10 or attribute_offset % ATTRIBUTE_STRIDE:
        return None
    return 10 * decade + unit, attribute_offset // ATTRIBUTE_STRIDE + 1


def table_short_name(table_id: int, attribute: int) -> int:
    """The short name of attribute ``attribute`` (1..4) of standard table ``table_id``."""
    if not 1 <= attribute <= UTILITY_TABLES_ATTRIBUTES:
        raise ValueError(f"Utility tables has attributes 1..{UTILITY_TABLES_ATTRIBUTES}, got {attribute}")
    return standard_table_base_name(table_id) + ATTRIBUTE_STRIDE * (attribute - 1)


def table_logical_name(table_id: int) -> Obis:
    """0-0:65.0.e*255 with e = ``table_id`` (0..255)."""
    if isinstance(table_id, bool) or not isinstance(table_id, int) or not 0 <= table_id <= 255:
        raise ValueError(f"the logical name holds table numbers 0..255, got {table_id!r}")
    return Obis(bytes((0, 0, 65, 0, table_id, 255)))


def table_for_logical_name(logical_name: Obis | bytes) -> int | None:
    """The table number of a 0-0:65.0.e*255 logical name, else None."""
    ln = bytes(logical_name)
    if len(ln) != 6 or ln[:4] != b"\x00\x00\x41\x00" or ln[5] != 0xFF:
        return None
    return ln[4]


def table_label(table_id: int) -> str:
    """``BT00`` .. ``BT79``."""
    return f"BT{_check_table(table_id):02d}"


_LABEL: Final = re.compile(r"(?:BT|ST)(\d{1,2})", re.IGNORECASE)


def parse_table_label(label: str) -> int:
    """``"BT23"`` (or ``"ST23"``) -> 23; ValueError otherwise."""
    match = _LABEL.fullmatch(label.strip())
    if match is None:
        raise ValueError(f"not a standard table label: {label!r}")
    return _check_table(int(match.group(1)))


def category_of(table_id: int) -> TableCategory:
    """The Table C.2 row of a standard table."""
    return TABLE_CATEGORIES[_check_table(table_id) // 10]


def make_standard_table(
    table_id: int, buffer: bytes = b"", *, provider: TableProvider | None = None
) -> UtilityTables:
    """A Utility tables object for BT``table_id`` with its logical name and Table C.3 base_name."""
    return UtilityTables.standard(
        table_id, buffer, provider=provider, base_name=standard_table_base_name(table_id)
    )


@dataclass(frozen=True, slots=True)
class ObjectBaseName:
    """A COSEM object of the OSGP meter with its fixed base_name."""

    name: str
    class_id: int
    logical_name: Obis
    base_name: int


def _ln(text: str) -> Obis:
    return Obis.parse(text)


OSGP_METER_OBJECTS: Final[tuple[ObjectBaseName, ...]] = (
    ObjectBaseName("ISO/IEC 14908 identification", 130, _ln("0-0:32.0.0*255"), 0x0C00),
    ObjectBaseName("ISO/IEC 14908 protocol setup", 131, _ln("0-0:32.1.0*255"), 0x0D00),
    ObjectBaseName("ISO/IEC 14908 protocol status", 132, _ln("0-0:32.2.0*255"), 0x0E00),
    ObjectBaseName("ISO/IEC 14908 diagnostic", 133, _ln("0-0:32.3.0*255"), 0x0F00),
    ObjectBaseName("Current association (Association SN)", 12, ASSOCIATION_SN_LN, ASSOCIATION_SN_BASE_NAME),
)
"""The Table C.3 rows with fixed base names besides the utility tables: the ISO/IEC 14908 objects and the
current association. The meter's other COSEM objects take base names from 0x0100 upwards in the order of
its profile (below 0x0C00); an SN client learns them from the Association SN object_list."""


def base_name_for(class_id: int, logical_name: Obis | bytes) -> int | None:
    """The base_name this profile assigns to an object (a standard table or an OSGP meter object)."""
    ln = bytes(logical_name)
    if class_id == UTILITY_TABLES_CLASS_ID:
        table = table_for_logical_name(ln)
        if table is not None and table <= LAST_STANDARD_TABLE:
            return standard_table_base_name(table)
        return None
    for entry in OSGP_METER_OBJECTS:
        if entry.class_id == class_id and bytes(entry.logical_name) == ln:
            return entry.base_name
    return None


def object_for_base_name(base_name: int) -> tuple[int, Obis] | None:
    """``(class_id, logical_name)`` of the object this profile puts at ``base_name``, else None."""
    table = table_for_base_name(base_name)
    if table is not None:
        return UTILITY_TABLES_CLASS_ID, table_logical_name(table)
    for entry in OSGP_METER_OBJECTS:
        if entry.base_name == base_name:
            return entry.class_id, entry.logical_name
    return None


__all__ = [
    "ATTRIBUTE_STRIDE",
    "DECADE_STRIDE",
    "LAST_STANDARD_TABLE",
    "OSGP_METER_OBJECTS",
    "STANDARD_TABLES_BASE",
    "STANDARD_TABLES_END",
    "STANDARD_TABLE_NAMES",
    "TABLE_CATEGORIES",
    "TABLE_STRIDE",
    "ObjectBaseName",
    "TableCategory",
    "base_name_for",
    "category_of",
    "make_standard_table",
    "object_for_base_name",
    "parse_table_label",
    "resolve_table_short_name",
    "standard_table_base_name",
    "table_for_base_name",
    "table_for_logical_name",
    "table_label",
    "table_logical_name",
    "table_short_name",
]
