"""Profile generic: capture through the resolver, FIFO/LIFO/sorted buffers, range and entry
selective access with column selection, reconfiguration."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cosemnet.codec.datetime import CosemDateTime
from cosemnet.codec.obis import Obis
from cosemnet.codec.types import DoubleLongUnsigned, Enumerated, Integer, Long, LongUnsigned
from cosemnet.codec.xdlms.selective_access import EntryDescriptor, RangeDescriptor
from cosemnet.cosem import (
    AccessContext,
    CaptureObjectDefinition,
    DemandRegister,
    ProfileGeneric,
    Register,
    SortMethod,
)
from cosemnet.cosem.results import ActionResult, CosemAccessError, DataAccessResult
from cosemnet.cosem.selective import SelectiveAccessDescriptor, comparison_key

from .helpers import T0, meter, roundtrip

CLOCK = CaptureObjectDefinition(8, Obis.parse("0-0:1.0.0*255"), 2, 0)
ENERGY = CaptureObjectDefinition(3, Obis.parse("1-0:1.8.0*255"), 2, 0)
SCALER = CaptureObjectDefinition(3, Obis.parse("1-0:1.8.0*255"), 3, 0)
SCALER_UNIT_2 = CaptureObjectDefinition(3, Obis.parse("1-0:1.8.0*255"), 3, 2)


def load_profile(
    entries: int = 4, sort: SortMethod = SortMethod.FIFO, sort_object: CaptureObjectDefinition | None = None
):  # type: ignore[no-untyped-def]
    device, effects = meter()
    profile = device.add(
        ProfileGeneric("1-0:99.1.0*255", [CLOCK, ENERGY, SCALER_UNIT_2], 900, entries, sort, sort_object)
    )
    register = device.find(3, "1-0:1.8.0*255")
    assert isinstance(register, Register)
    return device, effects, profile, register


def capture_series(values: list[int], sort: SortMethod = SortMethod.FIFO, entries: int = 4):  # type: ignore[no-untyped-def]
    _device, effects, profile, register = load_profile(
        entries, sort, ENERGY if sort > SortMethod.LIFO else None
    )
    for i, v in enumerate(values):
        register.value = DoubleLongUnsigned(v)
        profile.action(2, Integer(0), AccessContext(now=T0 + dt.timedelta(minutes=15 * i), effects=effects))
    return profile


def stamp(minutes: int) -> bytes:
    t = T0 + dt.timedelta(minutes=minutes)
    return CosemDateTime(t.year, t.month, t.day, t.isoweekday(), t.hour, t.minute, 0, 0, 0, 0).to_bytes()


def test_capture_reads_through_the_resolver() -> None:
    profile = capture_series([100])
    assert profile.buffer == [(stamp(0), DoubleLongUnsigned(100), 30)]  # unit enum of scaler_unit (Wh)
    row = profile.buffer[0]
    assert row[2] == Enumerated(30)
    assert profile.get(7, AccessContext.local(T0)) == DoubleLongUnsigned(1)
    roundtrip(profile.get(2, AccessContext.local(T0)))


def test_fifo_overflow_drops_the_oldest() -> None:
    profile = capture_series([1, 2, 3, 4, 5, 6])
    assert [r[1] for r in profile.buffer] == [3, 4, 5, 6]
    assert profile.entries_in_use == 4


def test_lifo_keeps_the_oldest_and_replaces_the_newest() -> None:
    profile = capture_series([1, 2, 3, 4, 5, 6], SortMethod.LIFO)
    assert [r[1] for r in profile.buffer] == [1, 2, 3, 6]


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        (SortMethod.LARGEST, [9, 7, 5, 4]),
        (SortMethod.SMALLEST, [1, 2, 3, 4]),
    ],
)
def test_sorted_buffers(sort: SortMethod, expected: list[int]) -> None:
    profile = capture_series([5, 1, 9, 3, 7, 2, 4], sort)
    assert [r[1] for r in profile.buffer] == expected


def test_nearest_and_farthest_from_zero() -> None:
    device, effects = meter()
    value = CaptureObjectDefinition(3, Obis.parse("1-0:16.7.0*255"), 2, 0)
    device.add(Register("1-0:16.7.0*255", Long(0)))
    near = device.add(ProfileGeneric("1-0:99.2.0*255", [value], 0, 3, SortMethod.NEAREST_TO_ZERO, value))
    far = device.add(ProfileGeneric("1-0:99.3.0*255", [value], 0, 3, SortMethod.FAREST_FROM_ZERO, value))
    reg = device.find(3, "1-0:16.7.0*255")
    assert isinstance(reg, Register)
    ctx = AccessContext(now=T0, effects=effects)
    for v in (-50, 10, -3, 40, 7, -90):
        reg.value = Long(v)
        near.capture(ctx)
        far.capture(ctx)
    assert [r[0] for r in near.buffer] == [-3, 7, 10]
    assert [r[0] for r in far.buffer] == [-90, -50, 40]


def test_unreadable_capture_object_is_null() -> None:
    device, effects = meter()
    missing = CaptureObjectDefinition(3, Obis.parse("1-0:99.99.0*255"), 2, 0)
    profile = device.add(ProfileGeneric("1-0:99.1.0*255", [ENERGY, missing]))
    profile.capture(AccessContext(now=T0, effects=effects))
    assert profile.buffer == [(DoubleLongUnsigned(1234), None)]


def range_get(profile: ProfileGeneric, low: object, high: object, columns: list[CaptureObjectDefinition]):  # type: ignore[no-untyped-def]
    descriptor = RangeDescriptor(CLOCK, low, high, columns)  # type: ignore[arg-type]
    return profile.get(2, AccessContext.local(T0), descriptor.to_selective_access())


def test_range_descriptor_with_column_selection() -> None:
    profile = capture_series([10, 20, 30, 40])
    result = range_get(profile, stamp(15), stamp(30), [ENERGY])
    assert result == [(DoubleLongUnsigned(20),), (DoubleLongUnsigned(30),)]
    # date-time values (tag 25) compare like the octet-strings, columns reordered as asked
    low = CosemDateTime.from_bytes(stamp(0))
    high = CosemDateTime.from_bytes(stamp(15))
    assert range_get(profile, low, high, [ENERGY, CLOCK]) == [
        (DoubleLongUnsigned(10), stamp(0)),
        (DoubleLongUnsigned(20), stamp(15)),
    ]
    # a deviation makes it a different instant: 12:15 local at UTC+1 is 11:15 UTC, before the buffer
    t = CosemDateTime(2024, 3, 1, 5, 12, 15, 0, 0, -60, 0).to_bytes()
    assert range_get(profile, stamp(-600), t, []) == []
    assert len(range_get(profile, stamp(-1), stamp(60), [])) == 4  # empty selection = every column
    roundtrip(range_get(profile, stamp(0), stamp(60), [CLOCK]))


def test_range_descriptor_errors() -> None:
    profile = capture_series([10])
    with pytest.raises(CosemAccessError) as info:
        range_get(
            profile, stamp(0), stamp(10), [CaptureObjectDefinition(3, Obis.parse("1-0:2.8.0*255"), 2, 0)]
        )
    assert info.value.result is DataAccessResult.OBJECT_UNAVAILABLE
    with pytest.raises(CosemAccessError) as info:
        range_get(profile, "yesterday", stamp(10), [])
    assert info.value.result is DataAccessResult.TYPE_UNMATCHED
    with pytest.raises(CosemAccessError) as info:
        profile.get(2, AccessContext.local(T0), SelectiveAccessDescriptor(1, (Integer(1),)))
    assert info.value.result is DataAccessResult.TYPE_UNMATCHED


def entries(profile: ProfileGeneric, *args: int):  # type: ignore[no-untyped-def]
    return profile.get(2, AccessContext.local(T0), EntryDescriptor(*args).to_selective_access())


def test_entry_descriptor_rows_and_columns() -> None:
    profile = capture_series([10, 20, 30, 40])
    assert entries(profile, 2, 3, 2, 2) == [(DoubleLongUnsigned(20),), (DoubleLongUnsigned(30),)]
    assert entries(profile, 3, 0, 1, 0) == profile.buffer[2:]
    assert entries(profile, 0, 1, 2, 3) == [(DoubleLongUnsigned(10), Enumerated(30))]
    assert entries(profile, 5, 0, 1, 0) == []
    assert entries(profile, 3, 2, 1, 0) == []
    assert entries(profile, 1, 99, 1, 0) == profile.buffer
    for bad in ((1, 0, 4, 0), (1, 0, 1, 4), (1, 0, 3, 2)):
        with pytest.raises(CosemAccessError) as info:
            entries(profile, *bad)
        assert info.value.result is DataAccessResult.OBJECT_UNAVAILABLE


@given(
    n=st.integers(0, 8),
    from_entry=st.integers(0, 10),
    to_entry=st.integers(0, 10),
    first_col=st.integers(0, 3),
    last_col=st.integers(0, 3),
)
def test_entry_descriptor_matches_a_slice_model(
    n: int, from_entry: int, to_entry: int, first_col: int, last_col: int
) -> None:
    profile = ProfileGeneric("1-0:99.1.0*255", [CLOCK, ENERGY, SCALER], profile_entries=8)
    for i in range(n):
        profile.store((stamp(i), DoubleLongUnsigned(i), (Integer(0), Enumerated(30))))
    lo_c = max(first_col, 1)
    hi_c = 3 if last_col == 0 else last_col
    try:
        got = entries(profile, from_entry, to_entry, first_col, last_col)
    except CosemAccessError:
        assert lo_c > hi_c
        return
    lo = max(from_entry, 1)
    hi = n if to_entry == 0 else min(to_entry, n)
    expected = [row[lo_c - 1 : hi_c] for row in profile.buffer[lo - 1 : hi]] if lo <= hi else []
    assert got == expected
    roundtrip(got)


def test_reconfiguration_clears_the_buffer() -> None:
    profile = capture_series([1, 2])
    ctx = AccessContext.local(T0)
    profile.set(3, [ENERGY.to_data()], ctx)
    assert profile.buffer == [] and profile.capture_objects == [ENERGY]
    profile.store((DoubleLongUnsigned(1),))
    profile.set(8, DoubleLongUnsigned(2), ctx)
    assert profile.buffer == [] and profile.profile_entries == 2
    with pytest.raises(CosemAccessError) as info:
        profile.set(8, DoubleLongUnsigned(5), ctx)  # above max_entries (4)
    assert info.value.result is DataAccessResult.OTHER_REASON
    profile.set(5, Enumerated(3), ctx)
    assert profile.sort_method is SortMethod.LARGEST
    with pytest.raises(CosemAccessError):
        profile.set(5, Enumerated(9), ctx)
    profile.set(6, ENERGY.to_data(), ctx)
    assert profile.sort_object == ENERGY
    assert profile.get(6, ctx) == ENERGY.to_data()
    profile.set(4, DoubleLongUnsigned(60), ctx)
    assert profile.capture_period == 60
    for index in (2, 7):
        with pytest.raises(CosemAccessError) as info:
            profile.set(index, DoubleLongUnsigned(0), ctx)
        assert info.value.result is DataAccessResult.READ_WRITE_DENIED
    with pytest.raises(CosemAccessError):
        profile.set(3, [(LongUnsigned(3),)], ctx)


def test_reset_and_capture_methods() -> None:
    profile = capture_series([1, 2])
    profile.action(1, Integer(0), AccessContext.local(T0))
    assert profile.buffer == []
    empty = ProfileGeneric("1-0:99.9.0*255")
    with pytest.raises(CosemAccessError) as info:
        empty.action(2, Integer(0), AccessContext.local(T0))
    assert info.value.result is ActionResult.OTHER_REASON


def test_scheduled_capture_instants() -> None:
    _device, effects, profile, _ = load_profile()
    assert profile.next_capture_time(T0) == T0 + dt.timedelta(minutes=15)
    assert profile.next_capture_time(T0 + dt.timedelta(seconds=899)) == T0 + dt.timedelta(minutes=15)
    assert not profile.tick(T0, AccessContext(now=T0 + dt.timedelta(minutes=14), effects=effects))
    assert profile.tick(T0, AccessContext(now=T0 + dt.timedelta(minutes=15), effects=effects))
    assert profile.entries_in_use == 1
    assert ProfileGeneric("1-0:99.1.0*255").next_capture_time(T0) is None


def test_profile_of_demand_values_with_data_index() -> None:
    device, effects = meter()
    demand = device.add(DemandRegister("1-0:1.4.0*255", period=60))
    column = CaptureObjectDefinition(5, Obis.parse("1-0:1.4.0*255"), 4, 1)  # scaler of scaler_unit
    profile = device.add(ProfileGeneric("1-0:99.4.0*255", [column]))
    profile.capture(AccessContext(now=T0, effects=effects))
    assert profile.buffer == [(Integer(demand.scaler),)]


def test_comparison_key() -> None:
    assert comparison_key(stamp(0)) < comparison_key(stamp(1))
    assert comparison_key(DoubleLongUnsigned(3)) == 3.0
    assert comparison_key(CosemDateTime()) == float("-inf")
