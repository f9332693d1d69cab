"""Typed views: object lists, scaler_unit, profile rows, selective access descriptors."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cosemnet.client import ProtocolError
from cosemnet.client.objects import (
    ScaledValue,
    column_name,
    entry_selection,
    parse_capture_objects,
    parse_object_list,
    profile_rows,
    range_selection,
    scaled_value,
    scaler_unit_attribute,
    unit_symbol,
)
from cosemnet.codec.axdr import decode_data_exact, encode_data
from cosemnet.codec.datetime import CosemDateTime
from cosemnet.codec.obis import Obis
from cosemnet.codec.types import (
    DoubleLong,
    DoubleLongUnsigned,
    Enumerated,
    Integer,
    Long,
    LongUnsigned,
    Unsigned,
)
from cosemnet.codec.xdlms import CaptureObjectDefinition, RangeDescriptor, parse_profile_selection
from cosemnet.cosem import Register
from cosemnet.cosem.access import AttributeAccess, MethodAccess, ObjectAccessRights
from cosemnet.cosem.association import ObjectListEntry
from cosemnet.cosem.association_ln import object_list_element

ENERGY = Obis.parse("1-0:1.8.0*255")


def test_object_list_round_trips_the_object_model_encoding() -> None:
    rights = ObjectAccessRights.read_only(Register)
    element = object_list_element(ObjectListEntry(3, 0, ENERGY, rights))
    (item,) = parse_object_list([element])
    assert (item.class_id, item.version, item.logical_name) == (3, 0, ENERGY)
    assert item.class_name == "Register" and "energy" in item.name.lower()
    assert {a.attribute_id: a.access for a in item.attributes} == {
        a.attribute_id: a.access_mode for a in rights.attribute_access
    }
    assert item.access_summary().startswith("1:r 2:r")


def test_object_list_version_0_boolean_method_access_and_unknown_modes() -> None:
    element = (
        LongUnsigned(70),
        Unsigned(0),
        bytes(Obis.parse("0-0:96.3.10*255")),
        (
            [(Integer(2), Enumerated(3), None), (Integer(3), Enumerated(9), [Integer(1)])],
            [(Integer(1), True)],
        ),
    )
    (item,) = parse_object_list([element])
    assert item.attributes[0].access is AttributeAccess.READ_AND_WRITE
    assert item.attributes[1].access == 9 and item.attributes[1].selectors == (1,)
    assert item.methods[0].access is MethodAccess.ACCESS
    assert item.access_summary() == "2:rw m1"


def test_short_name_object_list() -> None:
    element = (Long(-1536), LongUnsigned(12), Unsigned(2), bytes(Obis.parse("0-0:40.0.0*255")))
    (item,) = parse_object_list([element], short_names=True)
    assert item.base_name == 0xFA00 and item.class_id == 12


@pytest.mark.parametrize(
    "bad",
    [None, [None], [(LongUnsigned(3), Unsigned(0), b"short", None)], [(b"x", Unsigned(0), bytes(6), None)]],
)
def test_malformed_object_lists_are_protocol_errors(bad: object) -> None:
    with pytest.raises(ProtocolError):
        parse_object_list(bad)  # type: ignore[arg-type]


@given(raw=st.integers(-(2**31), 2**31 - 1), scaler=st.integers(-9, 9))
def test_scaled_value_is_exact_decimal(raw: int, scaler: int) -> None:
    value = scaled_value(DoubleLong(raw), (Integer(scaler), Enumerated(30))).value
    if scaler >= 0:
        assert value == raw * 10**scaler
    else:
        assert value == float(f"{raw}e{scaler}")


def test_scaled_value_text_and_units() -> None:
    assert str(ScaledValue(DoubleLongUnsigned(1234567), -3, 30)) == "1234.567 Wh"
    assert str(ScaledValue(Unsigned(5), 0, 255)) == "5"
    assert (
        unit_symbol(35) == "V" and unit_symbol(200) == "unit 200" and unit_symbol(48) == "volt_squared_hour"
    )
    with pytest.raises(ProtocolError):
        scaled_value(DoubleLong(1), (Integer(1),))


def test_profile_rows_and_columns() -> None:
    clock = CaptureObjectDefinition(8, Obis.parse("0-0:1.0.0*255"), 2)
    energy = CaptureObjectDefinition(3, ENERGY, 2, 3)
    columns = parse_capture_objects([clock.to_data(), energy.to_data()])
    assert [c.name for c in columns] == ["0-0:1.0.0*255:2", "1-0:1.8.0*255:2:3"]
    assert column_name(clock) == "0-0:1.0.0*255:2"
    when = CosemDateTime.from_datetime(dt.datetime(2024, 1, 1, tzinfo=dt.UTC))
    rows = profile_rows([(when.to_bytes(), DoubleLongUnsigned(7), Unsigned(1))], columns)
    assert rows == [{"0-0:1.0.0*255:2": when, "1-0:1.8.0*255:2:3": DoubleLongUnsigned(7), "#3": Unsigned(1)}]
    with pytest.raises(ProtocolError):
        profile_rows([b"not a structure"], columns)
    with pytest.raises(ProtocolError):
        parse_capture_objects([(LongUnsigned(3),)])


def test_compressed_clock_rows_are_reconstructed_from_the_capture_period() -> None:
    clock = CaptureObjectDefinition(8, Obis.parse("0-0:1.0.0*255"), 2)
    energy = CaptureObjectDefinition(3, ENERGY, 2)
    columns = parse_capture_objects([clock.to_data(), energy.to_data()])
    cet = dt.timezone(dt.timedelta(hours=1))
    first = CosemDateTime.from_datetime(dt.datetime(2024, 2, 28, 23, 30, tzinfo=cet), clock_status=0x80)
    restart = CosemDateTime.from_datetime(dt.datetime(2024, 3, 1, 6, 0, tzinfo=cet))
    buffer = [
        (first.to_bytes(), DoubleLongUnsigned(1)),
        (None, DoubleLongUnsigned(2)),
        (None, DoubleLongUnsigned(3)),
        (restart.to_bytes(), DoubleLongUnsigned(4)),  # a gap: the meter sends the date-time again
        (None, DoubleLongUnsigned(5)),
    ]
    rows = profile_rows(buffer, columns, capture_period=900)
    stamps = [row["0-0:1.0.0*255:2"] for row in rows]
    assert all(isinstance(s, CosemDateTime) for s in stamps)
    expected = [
        dt.datetime(2024, 2, 28, 23, 30, tzinfo=cet),
        dt.datetime(2024, 2, 28, 23, 45, tzinfo=cet),
        dt.datetime(2024, 2, 29, 0, 0, tzinfo=cet),  # leap day, across midnight
        dt.datetime(2024, 3, 1, 6, 0, tzinfo=cet),
        dt.datetime(2024, 3, 1, 6, 15, tzinfo=cet),
    ]
    assert [s.to_datetime() for s in stamps] == expected  # type: ignore[union-attr]
    assert stamps[2] == CosemDateTime(2024, 2, 29, 4, 0, 0, 0, 0, -60, 0x80)  # deviation, status kept
    assert [row["1-0:1.8.0*255:2"] for row in rows] == [1, 2, 3, 4, 5]
    # without the capture period, or with no date-time before it, a null cell stays None
    assert profile_rows(buffer, columns)[1]["0-0:1.0.0*255:2"] is None
    assert profile_rows(buffer[1:], columns, capture_period=900)[0]["0-0:1.0.0*255:2"] is None
    unspecified = CosemDateTime(0xFFFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0)
    rows = profile_rows([(unspecified.to_bytes(), 1), (None, 2)], columns, capture_period=900)
    assert rows[1]["0-0:1.0.0*255:2"] is None


def test_reconstructed_clock_follows_the_decoded_compressed_buffer() -> None:
    clock = CaptureObjectDefinition(8, Obis.parse("0-0:1.0.0*255"), 2)
    columns = parse_capture_objects([clock.to_data(), CaptureObjectDefinition(3, ENERGY, 2).to_data()])
    start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    raw = encode_data(
        [(CosemDateTime.from_datetime(start).to_bytes(), DoubleLongUnsigned(0))]
        + [(None, DoubleLongUnsigned(i)) for i in range(1, 1000)]
    )
    rows = profile_rows(decode_data_exact(raw), columns, capture_period=60)
    assert [r["0-0:1.0.0*255:2"].to_datetime() for r in rows] == [  # type: ignore[union-attr]
        start + dt.timedelta(minutes=i) for i in range(1000)
    ]


def test_selective_access_descriptors() -> None:
    clock = CaptureObjectDefinition(8, Obis.parse("0-0:1.0.0*255"), 2)
    start = dt.datetime(2024, 1, 1, 0, 0)
    selection = range_selection(clock, start, start + dt.timedelta(hours=1))
    parsed = parse_profile_selection(selection)
    assert isinstance(parsed, RangeDescriptor) and parsed.restricting_object == clock
    assert isinstance(parsed.from_value, bytes)
    assert CosemDateTime.from_bytes(parsed.from_value).to_datetime() == start.replace(tzinfo=dt.UTC)
    entries = parse_profile_selection(entry_selection(3, 5))
    assert (entries.from_entry, entries.to_entry) == (3, 5)  # type: ignore[union-attr]


def test_scaler_unit_attribute_per_class() -> None:
    assert [scaler_unit_attribute(c) for c in (3, 4, 5)] == [3, 3, 4]
