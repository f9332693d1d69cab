"""Clock: injected time, time zone and DST, setting the time, the adjust methods."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cosemnet.codec.datetime import ClockStatus, CosemDateTime
from cosemnet.codec.types import Integer, Long, Unsigned
from cosemnet.cosem import AccessContext, Clock
from cosemnet.cosem.clock import resolve_dst_date
from cosemnet.cosem.results import ActionResult, CosemAccessError, DataAccessResult

UTC = dt.UTC


def ctx(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0, us: int = 0) -> AccessContext:
    return AccessContext.local(dt.datetime(y, mo, d, h, mi, s, us, tzinfo=UTC))


def time_of(clock: Clock, c: AccessContext) -> CosemDateTime:
    raw = clock.get(2, c)
    assert isinstance(raw, bytes) and len(raw) == 12
    return CosemDateTime.from_bytes(raw)


def test_time_follows_the_injected_reference() -> None:
    clock = Clock()
    t = time_of(clock, ctx(2024, 3, 1, 12, 0, 0, 250000))
    assert (t.year, t.month, t.day, t.day_of_week, t.hour, t.minute, t.second, t.hundredths) == (
        2024,
        3,
        1,
        5,
        12,
        0,
        0,
        25,
    )
    assert t.deviation == 0 and t.clock_status == 0
    t2 = time_of(clock, ctx(2024, 3, 1, 12, 0, 7))
    assert t2.second == 7  # no hidden time source: only ctx.now moves the clock


def test_time_zone_and_dst() -> None:
    clock = Clock(time_zone=-60, daylight_savings_enabled=True)  # Central Europe
    winter = time_of(clock, ctx(2024, 1, 15, 10, 0))
    assert (winter.hour, winter.deviation, winter.clock_status) == (11, -60, 0)
    summer = time_of(clock, ctx(2024, 7, 15, 10, 0))
    assert (summer.hour, summer.deviation) == (12, -120)
    assert summer.clock_status == ClockStatus.DAYLIGHT_SAVING_ACTIVE
    assert clock.get(4, ctx(2024, 7, 15)) == Unsigned(0x80)
    # 2024: DST from Sunday 31 March 02:00 standard (01:00 UTC) to Sunday 27 October 03:00 DST (01:00 UTC)
    assert not clock.dst_active(dt.datetime(2024, 3, 31, 0, 59, 59, tzinfo=UTC))
    assert clock.dst_active(dt.datetime(2024, 3, 31, 1, 0, tzinfo=UTC))
    assert clock.dst_active(dt.datetime(2024, 10, 27, 0, 59, 59, tzinfo=UTC))
    assert not clock.dst_active(dt.datetime(2024, 10, 27, 1, 0, tzinfo=UTC))
    clock.set(8, False, ctx(2024, 7, 1))
    assert time_of(clock, ctx(2024, 7, 15, 10, 0)).hour == 11


def test_dst_pattern_resolution() -> None:
    last_sunday_march = CosemDateTime(0xFFFF, 3, 0xFE, 7, 2, 0, 0, 0)
    assert resolve_dst_date(last_sunday_march, 2024) == dt.datetime(2024, 3, 31, 2)
    assert resolve_dst_date(last_sunday_march, 2025) == dt.datetime(2025, 3, 30, 2)
    second_sunday_march = CosemDateTime(0xFFFF, 3, 8, 7, 2, 0, 0, 0)  # US rule: first Sunday on/after 8th
    assert resolve_dst_date(second_sunday_march, 2024) == dt.datetime(2024, 3, 10, 2)
    assert resolve_dst_date(CosemDateTime(2023, 3, 26, 0xFF, 1, 0, 0, 0), 2024) is None
    assert resolve_dst_date(CosemDateTime(0xFFFF, 0xFF, 1, 0xFF, 1, 0, 0, 0), 2024) is None
    assert resolve_dst_date(CosemDateTime(0xFFFF, 2, 30, 0xFF, 0, 0, 0, 0), 2024) is None
    assert resolve_dst_date(
        CosemDateTime(0xFFFF, 2, 0xFD, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF), 2024
    ) == dt.datetime(2024, 2, 28)


def test_southern_hemisphere_dst() -> None:
    clock = Clock(
        time_zone=-600,
        daylight_savings_enabled=True,
        daylight_savings_begin=CosemDateTime(0xFFFF, 10, 1, 7, 2, 0, 0, 0),
        daylight_savings_end=CosemDateTime(0xFFFF, 4, 1, 7, 3, 0, 0, 0),
    )
    assert clock.dst_active(dt.datetime(2024, 1, 10, tzinfo=UTC))
    assert not clock.dst_active(dt.datetime(2024, 6, 10, tzinfo=UTC))


def test_set_time_keeps_an_offset_to_the_reference() -> None:
    clock = Clock()
    c0 = ctx(2024, 3, 1, 12, 0)
    # the published SET vector's value: 2021-01-24 (Sunday) 14:48:57.80, deviation -60, status 0
    value = bytes.fromhex("07E50118FF0E303950FFC400")
    clock.set(2, value, c0)
    t = time_of(clock, c0)
    assert (t.year, t.month, t.day, t.hour, t.minute, t.second, t.hundredths) == (2021, 1, 24, 13, 48, 57, 80)
    t_later = time_of(clock, ctx(2024, 3, 1, 12, 1))
    assert (t_later.hour, t_later.minute, t_later.second) == (13, 49, 57)
    # a date-time value (tag 25) is accepted too; unspecified deviation = the clock's own
    clock.set(2, CosemDateTime(2024, 3, 1, 0xFF, 12, 30, 0, 0xFF), c0)
    assert time_of(clock, c0).minute == 30
    clock.status_flags = ClockStatus.INVALID_VALUE | ClockStatus.DOUBTFUL_VALUE
    clock.set(2, CosemDateTime(2024, 3, 1, 0xFF, 12, 0, 0, 0, 0, 0xFF), c0)
    assert clock.status == 0
    for bad in (CosemDateTime(2024, 0xFF, 1, 0xFF, 12, 0, 0, 0), b"\x07\xe8", Integer(0)):
        with pytest.raises(CosemAccessError) as info:
            clock.set(2, bad, c0)
        assert info.value.result is DataAccessResult.TYPE_UNMATCHED


@pytest.mark.parametrize(
    ("method", "start", "expected"),
    [
        (1, (12, 7, 29), (12, 0, 0)),
        (1, (12, 7, 30), (12, 15, 0)),  # ties round up
        (1, (12, 52, 31), (13, 0, 0)),
        (2, (12, 14, 0), (12, 0, 0)),  # measuring period 30 min
        (2, (12, 16, 0), (12, 30, 0)),
        (3, (12, 7, 29), (12, 7, 0)),
        (3, (12, 7, 30), (12, 8, 0)),
        (3, (23, 59, 45), (0, 0, 0)),  # carries into the next day
    ],
)
def test_adjust_methods(method: int, start: tuple[int, int, int], expected: tuple[int, int, int]) -> None:
    clock = Clock(measuring_period=1800)
    c = ctx(2024, 3, 1, *start, us=400000)
    assert clock.action(method, Integer(0), c) is None
    t = time_of(clock, c)
    assert (t.hour, t.minute, t.second, t.hundredths) == (*expected, 0)


@given(st.integers(0, 86399), st.sampled_from([(1, 900), (3, 60)]))
def test_adjust_rounds_to_the_nearest(seconds: int, method_period: tuple[int, int]) -> None:
    method, period = method_period
    clock = Clock(time_zone=-60)
    base = dt.datetime(2024, 3, 1, tzinfo=UTC) + dt.timedelta(seconds=seconds)
    c = AccessContext.local(base)
    before = clock.local_datetime(c)
    clock.action(method, Integer(0), c)
    after = clock.local_datetime(c)
    assert abs((after - before).total_seconds()) <= period / 2
    assert (after.hour * 3600 + after.minute * 60 + after.second) % period == 0 and after.microsecond == 0


def test_preset_adjusting_time() -> None:
    clock = Clock()
    c = ctx(2024, 3, 1, 12, 0)
    with pytest.raises(CosemAccessError) as info:
        clock.action(4, Integer(0), c)
    assert info.value.result is ActionResult.OTHER_REASON
    preset = CosemDateTime(2024, 3, 1, 5, 12, 30, 0, 0, 0, 0).to_bytes()
    start = CosemDateTime(2024, 3, 1, 5, 11, 55, 0, 0, 0, 0).to_bytes()
    end = CosemDateTime(2024, 3, 1, 5, 12, 5, 0, 0, 0, 0).to_bytes()
    clock.action(5, (preset, start, end), c)
    with pytest.raises(CosemAccessError):
        clock.action(4, Integer(0), ctx(2024, 3, 1, 12, 6))  # outside the validity interval
    clock.action(4, Integer(0), c)
    assert time_of(clock, c).minute == 30
    with pytest.raises(CosemAccessError) as info:
        clock.action(5, (preset, start), c)
    assert info.value.result is ActionResult.TYPE_UNMATCHED


def test_shift_time() -> None:
    clock = Clock()
    c = ctx(2024, 3, 1, 12, 0)
    clock.action(6, Long(-900), c)
    assert time_of(clock, c).minute == 45
    clock.action(6, Long(900), c)
    clock.action(6, Long(5), c)
    t = time_of(clock, c)
    assert (t.hour, t.minute, t.second) == (12, 0, 5)
    with pytest.raises(CosemAccessError) as info:
        clock.action(6, Long(901), c)
    assert info.value.result is ActionResult.OTHER_REASON
    with pytest.raises(CosemAccessError) as info:
        clock.action(6, Integer(5), c)
    assert info.value.result is ActionResult.TYPE_UNMATCHED


def test_writable_attributes() -> None:
    clock = Clock()
    c = ctx(2024, 3, 1)
    clock.set(3, Long(-60), c)
    assert clock.get(3, c) == Long(-60)
    with pytest.raises(CosemAccessError):
        clock.set(3, Long(800), c)
    begin = CosemDateTime(0xFFFF, 3, 0xFE, 7, 1, 0, 0, 0)
    clock.set(5, begin.to_bytes(), c)
    assert clock.get(5, c) == begin.to_bytes()
    clock.set(7, Integer(30), c)
    assert clock.get(7, c) == Integer(30)
    with pytest.raises(CosemAccessError):
        clock.set(7, Integer(121), c)
    for index in (4, 9):
        with pytest.raises(CosemAccessError) as info:
            clock.set(index, Unsigned(0), c)
        assert info.value.result is DataAccessResult.READ_WRITE_DENIED
