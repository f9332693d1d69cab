"""Annex C short names (decision 0013): Tables C.2 / C.3 for BT00..BT79, LN mapping, the OSGP meter's
objects, and that a logical device built from them resolves every short name."""

from __future__ import annotations

import datetime
import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cosemnet.codec.obis import Obis
from cosemnet.cosem.association_sn import ASSOCIATION_SN_BASE_NAME, AssociationSN
from cosemnet.cosem.base import InterfaceClass
from cosemnet.cosem.clock import Clock
from cosemnet.cosem.context import AccessContext
from cosemnet.cosem.data import Data
from cosemnet.cosem.disconnect_control import DisconnectControl
from cosemnet.cosem.image_transfer import ImageTransfer
from cosemnet.cosem.iso14908_diagnostic import Iso14908Diagnostic
from cosemnet.cosem.iso14908_identification import Iso14908Identification
from cosemnet.cosem.iso14908_protocol_setup import Iso14908ProtocolSetup
from cosemnet.cosem.iso14908_protocol_status import Iso14908ProtocolStatus
from cosemnet.cosem.logical_device import LogicalDevice
from cosemnet.cosem.sap_assignment import SapAssignment
from cosemnet.cosem.security_setup import SecuritySetup
from cosemnet.cosem.utility_tables import UtilityTables
from cosemnet.profiles.lon.short_names import (
    LAST_STANDARD_TABLE,
    OSGP_METER_OBJECTS,
    STANDARD_TABLE_NAMES,
    STANDARD_TABLES_BASE,
    STANDARD_TABLES_END,
    TABLE_CATEGORIES,
    TABLE_STRIDE,
    base_name_for,
    category_of,
    make_standard_table,
    object_for_base_name,
    parse_table_label,
    resolve_table_short_name,
    standard_table_base_name,
    table_for_base_name,
    table_for_logical_name,
    table_label,
    table_logical_name,
    table_short_name,
)

TABLES = range(LAST_STANDARD_TABLE + 1)

CLASSES: dict[int, type[InterfaceClass]] = {
    1: Data,
    8: Clock,
    12: AssociationSN,
    17: SapAssignment,
    18: ImageTransfer,
    64: SecuritySetup,
    70: DisconnectControl,
    130: Iso14908Identification,
    131: Iso14908ProtocolSetup,
    132: Iso14908ProtocolStatus,
    133: Iso14908Diagnostic,
}


@pytest.mark.parametrize(
    ("table", "base_name"),
    [
        (0, 0x1000),
        (1, 0x1020),
        (9, 0x1120),
        (10, 0x1200),
        (23, 0x1460),
        (52, 0x1A40),
        (64, 0x1C80),
        (79, 0x1F20),
    ],
)
def test_table_c3_examples(table: int, base_name: int) -> None:
    assert standard_table_base_name(table) == base_name
    assert table_for_base_name(base_name) == table
    assert object_for_base_name(base_name) == (26, table_logical_name(table))


def test_table_c3_is_injective_aligned_and_inside_its_category() -> None:
    bases = [standard_table_base_name(t) for t in TABLES]
    assert len(set(bases)) == len(bases)
    assert all(b % 8 == 0 for b in bases)
    assert UtilityTables.short_name_span() == TABLE_STRIDE  # 4 attributes x 8: the stride is kept
    for t, b in zip(TABLES, bases, strict=True):
        cat = category_of(t)
        assert cat.first_table <= t <= cat.last_table
        assert cat.first_base_name <= b and b + TABLE_STRIDE - 1 <= cat.last_base_name
    assert min(bases) >= STANDARD_TABLES_BASE and max(bases) + TABLE_STRIDE <= STANDARD_TABLES_END


def test_table_c2_ranges_are_contiguous() -> None:
    assert [c.decade for c in TABLE_CATEGORIES] == list(range(8))
    assert TABLE_CATEGORIES[0].first_base_name == STANDARD_TABLES_BASE
    for a, b in itertools.pairwise(TABLE_CATEGORIES):
        assert a.last_base_name + 1 == b.first_base_name
    assert TABLE_CATEGORIES[-1].last_base_name + 1 == STANDARD_TABLES_END
    assert category_of(76).name == "history log and event log"


@given(st.integers(0, 0xFFFF))
def test_short_name_resolution_is_consistent(short_name: int) -> None:
    target = resolve_table_short_name(short_name)
    if target is None:
        return
    table, attribute = target
    assert 0 <= table <= LAST_STANDARD_TABLE and 1 <= attribute <= 4
    assert table_short_name(table, attribute) == short_name


@pytest.mark.parametrize("short_name", [0x0FFF, 0x1001, 0x1140, 0x1160, 0x11F8, 0x2000, 0xFA00])
def test_short_names_outside_any_table(short_name: int) -> None:
    assert resolve_table_short_name(short_name) is None
    assert table_for_base_name(short_name) is None


def test_attribute_short_names() -> None:
    assert [table_short_name(23, a) for a in (1, 2, 3, 4)] == [0x1460, 0x1468, 0x1470, 0x1478]
    assert table_for_base_name(0x1468) is None  # an attribute, not a base name
    with pytest.raises(ValueError):
        table_short_name(23, 5)
    with pytest.raises(ValueError):
        standard_table_base_name(80)
    with pytest.raises(ValueError):
        standard_table_base_name(-1)


def test_logical_names() -> None:
    for t in TABLES:
        ln = table_logical_name(t)
        assert str(ln) == str(Obis.parse(f"0-0:65.0.{t}*255"))
        assert table_for_logical_name(ln) == t
        assert base_name_for(26, ln) == standard_table_base_name(t)
    assert table_for_logical_name(Obis.parse("0-0:65.1.3*255")) is None
    assert table_for_logical_name(b"\x00\x00\x41\x00\x05") is None
    assert base_name_for(26, table_logical_name(200)) is None  # outside BT00..BT79
    assert base_name_for(1, table_logical_name(3)) is None  # wrong class
    with pytest.raises(ValueError):
        table_logical_name(256)


def test_labels_and_names() -> None:
    assert table_label(5) == "BT05" and parse_table_label("BT05") == 5 and parse_table_label("st52") == 52
    for bad in ("BT80", "MT01", "BT", "BT1x"):
        with pytest.raises(ValueError):
            parse_table_label(bad)
    assert STANDARD_TABLE_NAMES[52] == "Clock"
    assert STANDARD_TABLE_NAMES[64] == "Load Profile Data Set 1"
    assert STANDARD_TABLE_NAMES[76] == "Event Log Data"
    assert set(STANDARD_TABLE_NAMES) <= set(TABLES)


def test_osgp_objects_fit_their_slots() -> None:
    entries = sorted(OSGP_METER_OBJECTS, key=lambda e: e.base_name)
    for e in entries:
        cls = CLASSES[e.class_id]
        assert e.class_id == cls.CLASS_ID and e.base_name % 8 == 0
        end = e.base_name + cls.short_name_span()
        assert end <= 0x10000
        assert end <= STANDARD_TABLES_BASE or e.base_name >= STANDARD_TABLES_END
        assert base_name_for(e.class_id, e.logical_name) == e.base_name
        assert object_for_base_name(e.base_name) == (e.class_id, e.logical_name)
    for a, b in itertools.pairwise(entries):
        assert a.base_name + CLASSES[a.class_id].short_name_span() <= b.base_name
    assert ASSOCIATION_SN_BASE_NAME in {e.base_name for e in entries}
    assert object_for_base_name(0x0108) is None


def test_logical_device_resolves_every_table_short_name() -> None:
    device = LogicalDevice(b"OSGP-METER-0001")
    for t in TABLES:
        device.add(make_standard_table(t, bytes([t]) * 3))
    for t in TABLES:
        for attribute in (1, 2, 3, 4):
            target = device.find_by_short_name(table_short_name(t, attribute))
            assert target is not None
            obj, kind, index = target
            assert isinstance(obj, UtilityTables) and obj.table_id == t
            assert (kind, index) == ("attribute", attribute)
    table = device.find(26, table_logical_name(23))
    assert isinstance(table, UtilityTables)
    assert table.get(4, AccessContext(datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC))) == b"\x17\x17\x17"
