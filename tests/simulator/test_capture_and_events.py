"""Load profile captures, demand periods, clock with injected time, event log, pushes, firmware."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cosemnet.codec.apdu import decode_apdu
from cosemnet.codec.datetime import ClockStatus, CosemDateTime
from cosemnet.codec.obis import Obis
from cosemnet.codec.types import DoubleLongUnsigned, Integer, Long, LongUnsigned, Unsigned
from cosemnet.codec.xdlms.common import SelectiveAccessDescriptor
from cosemnet.codec.xdlms.notification import DataNotification
from cosemnet.codec.xdlms.selective_access import CaptureObjectDefinition, EntryDescriptor, RangeDescriptor
from cosemnet.cosem.clock import Clock, ClockBase
from cosemnet.cosem.security_setup import SecuritySetup
from cosemnet.security.keys import GlobalKeyType
from cosemnet.security.keywrap import key_transfer_data
from cosemnet.simulator import LoggedEvent, PushEvent, build_meter, load_profile
from cosemnet.simulator.meter import MeterClock

from .helpers import T0, small_profile

QUARTER = dt.timedelta(minutes=15)
HOUR = dt.timedelta(hours=1)


def _times(rows: list[tuple[object, ...]]) -> list[dt.datetime]:
    result = []
    for row in rows:
        raw = row[0]
        assert isinstance(raw, bytes)
        result.append(CosemDateTime.from_bytes(raw).to_datetime().astimezone(dt.UTC))
    return result


def test_two_day_jump_captures_192_rows_at_every_boundary() -> None:
    meter = build_meter(load_profile(), start=T0)
    assert meter.load_profile is not None
    meter.handle_timer(meter.seconds(T0 + dt.timedelta(days=2)))
    rows = meter.load_profile.buffer
    assert len(rows) == 192
    assert _times(rows) == [T0 + QUARTER * (i + 1) for i in range(192)]
    first = CosemDateTime.from_bytes(rows[0][0])  # type: ignore[arg-type]
    assert (first.hour, first.minute, first.deviation) == (1, 15, -60)  # CET local time
    imports = [int(r[1]) for r in rows]  # type: ignore[call-overload]
    assert imports == sorted(imports) and imports[-1] > 0
    # the last row is the register's value at the last boundary, where advance stopped
    assert imports[-1] == int(meter.energy("active_import"))
    assert type(rows[-1][1]) is DoubleLongUnsigned


def test_each_row_holds_the_energy_at_its_boundary() -> None:
    profile = small_profile()
    jumped = build_meter(profile, start=T0)
    jumped.handle_timer(jumped.seconds(T0 + 3 * HOUR))
    stepped = build_meter(profile, start=T0)
    for i in range(1, 13):
        stepped.handle_timer(stepped.seconds(T0 + QUARTER * i))
        assert jumped.load_profile is not None
        assert int(jumped.load_profile.buffer[i - 1][1]) == int(stepped.energy("active_import"))  # type: ignore[call-overload]


def test_start_between_boundaries_and_next_deadline() -> None:
    meter = build_meter(small_profile(), start=T0 + dt.timedelta(minutes=7))
    assert meter.anchor == T0 + dt.timedelta(minutes=7)  # float time counts from the start
    assert meter.get_timer() == 8 * 60
    assert meter.load_profile is not None
    meter.handle_timer(meter.seconds(T0 + dt.timedelta(minutes=14, seconds=59)))
    assert meter.load_profile.entries_in_use == 0
    deadline = meter.get_timer()
    assert deadline is not None and meter.calendar(deadline) == T0 + QUARTER
    meter.handle_timer(deadline)
    assert meter.load_profile.entries_in_use == 1
    assert meter.get_timer() == meter.seconds(T0 + 2 * QUARTER)


def test_fifo_when_profile_entries_is_small() -> None:
    meter = build_meter(load_profile(), start=T0)
    management = meter.association(1)
    assert management is not None and meter.load_profile is not None
    meter.device.set(7, "1-0:99.1.0*255", 8, DoubleLongUnsigned(10), meter.context(management))
    meter.handle_timer(meter.seconds(T0 + dt.timedelta(days=1)))
    rows = meter.load_profile.buffer
    assert len(rows) == 10
    end = T0 + dt.timedelta(days=1)
    assert _times(rows) == [end - QUARTER * (9 - i) for i in range(10)]


def test_capture_period_zero_disables_captures() -> None:
    meter = build_meter(small_profile(), start=T0)
    management = meter.association(1)
    assert management is not None and meter.load_profile is not None
    meter.device.set(7, "1-0:99.1.0*255", 4, DoubleLongUnsigned(0), meter.context(management))
    meter.handle_timer(meter.seconds(T0 + dt.timedelta(days=1)))
    assert meter.load_profile.entries_in_use == 0
    assert meter.get_timer() == meter.seconds(T0 + dt.timedelta(days=1, hours=1))  # the hourly push remains


def test_demand_register_last_average_is_the_period_energy() -> None:
    meter = build_meter(load_profile(), start=T0)
    demand = meter.demand_registers[0]
    meter.handle_timer(meter.seconds(T0 + 5 * QUARTER))
    at_4 = build_meter(load_profile(), start=T0)
    at_4.handle_timer(at_4.seconds(T0 + 4 * QUARTER))
    energy_wh = meter.energy("active_import") - at_4.energy("active_import")
    assert demand.last_average == pytest.approx(energy_wh * 4)  # W = Wh per quarter hour x 4
    ctx = meter.context()
    assert int(meter.device.get(5, "1-0:1.4.0*255", 3, ctx)) == round(energy_wh * 4)  # type: ignore[call-overload]
    capture_time = CosemDateTime.from_bytes(meter.device.get(5, "1-0:1.4.0*255", 6, ctx))  # type: ignore[arg-type]
    assert capture_time.to_datetime() == T0 + 5 * QUARTER


def test_clock_reads_injected_time_with_time_zone_and_dst() -> None:
    summer = dt.datetime(2024, 7, 1, 10, 0, tzinfo=dt.UTC)
    meter = build_meter(load_profile(), start=summer)
    public = meter.association(16)
    assert public is not None
    raw = meter.device.get(8, "0-0:1.0.0*255", 2, meter.context(public))
    value = CosemDateTime.from_bytes(raw)  # type: ignore[arg-type]
    assert (value.year, value.month, value.day, value.hour, value.minute) == (2024, 7, 1, 12, 0)
    assert value.deviation == -120
    assert value.clock_status & ClockStatus.DAYLIGHT_SAVING_ACTIVE
    assert meter.device.get(8, "0-0:1.0.0*255", 3, meter.context(public)) == Long(-60)
    later = meter.context(public, now=summer + dt.timedelta(minutes=90))
    value = CosemDateTime.from_bytes(meter.device.get(8, "0-0:1.0.0*255", 2, later))  # type: ignore[arg-type]
    assert (value.hour, value.minute) == (13, 30)
    assert meter.now == summer + dt.timedelta(minutes=90)


def test_clock_adjustment_logs_old_and_new_time_and_moves_the_schedule() -> None:
    meter = build_meter(small_profile(), start=T0 + dt.timedelta(minutes=5))
    management = meter.association(1)
    assert management is not None and meter.event_log is not None
    new_time = CosemDateTime.from_datetime(T0 + dt.timedelta(minutes=20))
    meter.device.set(8, "0-0:1.0.0*255", 2, new_time.to_bytes(), meter.context(management))
    rows = meter.event_log.buffer
    assert [int(r[1]) for r in rows] == [4, 5]  # type: ignore[call-overload]
    assert _times(rows) == [T0 + dt.timedelta(minutes=5), T0 + dt.timedelta(minutes=20)]
    # the clock is 15 minutes ahead: its next quarter (00:30) comes at reference 00:15
    assert meter.get_timer() == meter.seconds(T0 + QUARTER)
    meter.handle_timer(meter.seconds(T0 + QUARTER))
    events = meter.pop_events()
    logged = [(e.name, e.time) for e in events if isinstance(e, LoggedEvent)]
    at = T0 + dt.timedelta(minutes=5)
    assert logged == [("clock_adjusted_old", at), ("clock_adjusted_new", at)]
    assert meter.load_profile is not None
    assert _times(meter.load_profile.buffer) == [T0 + 2 * QUARTER]


def test_clock_shift_method_is_logged() -> None:
    meter = build_meter(small_profile(), start=T0)
    management = meter.association(1)
    assert management is not None and meter.event_log is not None
    meter.device.action(8, "0-0:1.0.0*255", 6, Long(30), meter.context(management))
    assert [int(r[1]) for r in meter.event_log.buffer] == [4, 5]  # type: ignore[call-overload]
    assert meter.clock.offset == dt.timedelta(seconds=30)


def test_disconnect_and_reconnect_are_logged() -> None:
    meter = build_meter(load_profile(), start=T0)
    management = meter.association(1)
    assert management is not None and meter.event_log is not None
    meter.device.action(70, "0-0:96.3.10*255", 1, Integer(0), meter.context(management, now=T0 + HOUR))
    meter.device.action(70, "0-0:96.3.10*255", 2, Integer(0), meter.context(management, now=T0 + 2 * HOUR))
    rows = meter.event_log.buffer
    assert [r[1] for r in rows] == [Unsigned(61), Unsigned(62)]
    assert _times(rows) == [T0 + HOUR, T0 + 2 * HOUR]
    assert meter.device.get(1, "0-0:96.11.0*255", 2, meter.context(management)) == Unsigned(62)
    # through the disconnector script table, then a manual reconnect (control mode 1 allows d/e only
    # from disconnected via remote: manual reconnect needs ready_for_reconnection)
    meter.device.action(
        9, "0-0:10.0.106*255", 1, LongUnsigned(1), meter.context(management, now=T0 + 3 * HOUR)
    )
    assert not meter.supply_on
    assert not meter.manual_reconnect(T0 + 4 * HOUR)
    assert meter.manual_disconnect(T0 + 4 * HOUR) is False  # already disconnected
    meter.device.action(70, "0-0:96.3.10*255", 2, Integer(0), meter.context(management, now=T0 + 5 * HOUR))
    assert meter.manual_disconnect(T0 + 6 * HOUR)  # transition f: connected -> ready_for_reconnection
    assert meter.manual_reconnect(T0 + 7 * HOUR)  # transition e
    codes = [int(r[1]) for r in meter.event_log.buffer]  # type: ignore[call-overload]
    assert codes == [61, 62, 61, 62, 59, 60]


def test_event_log_is_fifo() -> None:
    profile = small_profile()
    meter = build_meter(profile, start=T0)
    assert meter.event_log is not None
    for i in range(120):
        meter.power_down(T0 + dt.timedelta(minutes=2 * i + 1))
        meter.power_up(T0 + dt.timedelta(minutes=2 * i + 2))
    assert meter.event_log.entries_in_use == 100
    assert meter.event_log.buffer[-1][1] == Unsigned(2)


def test_push_method_produces_a_data_notification_event() -> None:
    meter = build_meter(load_profile(), start=T0)
    management = meter.association(1)
    assert management is not None
    meter.handle_timer(meter.seconds(T0 + HOUR))
    meter.pop_events()  # the scheduled pushes up to now
    meter.device.action(40, "0-0:25.9.0*255", 1, Integer(0), meter.context(management))
    events = meter.pop_events()
    pushes = [e for e in events if isinstance(e, PushEvent)]
    assert len(pushes) == 1
    push = pushes[0]
    assert push.destination.destination == b"127.0.0.1:4059"
    assert isinstance(push.body, tuple) and len(push.body) == 5
    assert push.body[0] == bytes.fromhex("0000190900FF")
    assert push.body[1] == b"12345678"
    assert push.body[3] == DoubleLongUnsigned(int(meter.energy("active_import")))
    apdu = push.data_notification(invoke_id=7).encode()
    decoded = decode_apdu(apdu)
    assert isinstance(decoded, DataNotification)
    assert decoded.notification_body == push.body
    assert decoded.date_time == push.date_time
    assert CosemDateTime.from_bytes(push.date_time).to_datetime() == T0 + HOUR
    assert push.time == T0 + HOUR


def test_scheduled_pushes_come_out_of_the_timer() -> None:
    meter = build_meter(small_profile(), start=T0)
    meter.handle_timer(meter.seconds(T0 + 3 * HOUR + QUARTER))
    events = meter.pop_events()
    pushes = [e for e in events if isinstance(e, PushEvent)]
    assert [p.time for p in pushes] == [T0 + HOUR, T0 + 2 * HOUR, T0 + 3 * HOUR]
    reference = build_meter(small_profile(), start=T0)
    reference.handle_timer(reference.seconds(T0 + 2 * HOUR))
    assert pushes[1].body == (bytes.fromhex("0000190900FF"), DoubleLongUnsigned(int(reference.energy(0))))


def test_image_transfer_activation_is_logged_and_changes_the_firmware_id() -> None:
    meter = build_meter(load_profile(), start=T0)
    management = meter.association(1)
    assert management is not None and meter.event_log is not None
    image = bytes(range(256)) * 2
    ident = b"fw-2.0"
    ctx = meter.context(management)
    meter.device.action(18, "0-0:44.0.0*255", 1, (ident, DoubleLongUnsigned(len(image))), ctx)
    for n in range(0, len(image), 192):
        meter.device.action(18, "0-0:44.0.0*255", 2, (DoubleLongUnsigned(n // 192), image[n : n + 192]), ctx)
    meter.device.action(18, "0-0:44.0.0*255", 3, Integer(0), ctx)
    info = meter.device.get(18, "0-0:44.0.0*255", 7, ctx)
    assert info == [(DoubleLongUnsigned(len(image)), ident, hashlib.sha256(image).digest())]
    meter.device.action(18, "0-0:44.0.0*255", 4, Integer(0), ctx)
    assert meter.device.get(1, "1-0:0.2.0*255", 2, ctx) == "fw-2.0"
    assert meter.event_log.buffer[-1][1] == Unsigned(18)


def test_key_transfer_is_logged() -> None:
    meter = build_meter(load_profile(), start=T0)
    management = meter.association(1)
    assert management is not None and management.security_setup is not None
    setup = management.security_setup
    assert isinstance(setup, SecuritySetup)
    kek = setup.keys.kek
    assert kek is not None
    new_ek = bytes(range(16, 32))
    parameter = key_transfer_data(kek, {GlobalKeyType.UNICAST_ENCRYPTION: new_ek})
    meter.device.action(64, "0-0:43.0.0*255", 2, parameter, meter.context(management))
    assert setup.keys.ek == new_ek
    assert meter.event_log is not None and meter.event_log.buffer[-1][1] == Unsigned(48)


def test_history_and_range_selective_access_over_more_than_1000_rows() -> None:
    meter = build_meter(load_profile(), start=T0, history=dt.timedelta(days=11))
    assert meter.now == T0
    assert meter.pop_events() == []
    assert meter.load_profile is not None and meter.load_profile.entries_in_use == 11 * 96
    public = meter.association(16)
    ctx = meter.context(public)
    clock = CaptureObjectDefinition(8, Obis.parse("0-0:1.0.0*255"), 2, 0)
    low = CosemDateTime.from_datetime(T0 - dt.timedelta(days=11)).to_bytes()
    high = CosemDateTime.from_datetime(T0).to_bytes()
    rows = meter.device.get(
        7, "1-0:99.1.0*255", 2, ctx, SelectiveAccessDescriptor(1, RangeDescriptor(clock, low, high).to_data())
    )
    assert isinstance(rows, list) and len(rows) == 1056
    assert _times(rows)[-1] == T0  # type: ignore[arg-type]
    last_two_hours = meter.device.get(
        7,
        "1-0:99.1.0*255",
        2,
        ctx,
        SelectiveAccessDescriptor(
            1, RangeDescriptor(clock, CosemDateTime.from_datetime(T0 - 2 * HOUR).to_bytes(), high).to_data()
        ),
    )
    assert _times(last_two_hours) == [T0 - 2 * HOUR + QUARTER * i for i in range(9)]  # type: ignore[arg-type]
    entries = meter.device.get(
        7, "1-0:99.1.0*255", 2, ctx, SelectiveAccessDescriptor(2, EntryDescriptor(1, 3, 2, 2).to_data())
    )
    assert entries == [(r[1],) for r in meter.load_profile.buffer[:3]]


@settings(max_examples=200, deadline=None)
@given(
    st.datetimes(
        min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2060, 1, 1), timezones=st.just(dt.UTC)
    ),
    st.integers(min_value=-720, max_value=720),
    st.sampled_from([(3, 10), (10, 3), (4, 9)]),
    st.integers(min_value=-120, max_value=120),
)
def test_meter_clock_dst_matches_the_object_model_clock(
    utc: dt.datetime, time_zone: int, months: tuple[int, int], deviation: int
) -> None:
    begin = CosemDateTime(0xFFFF, months[0], 0xFE, 7, 2, 0, 0, 0, -0x8000, 0xFF)
    end = CosemDateTime(0xFFFF, months[1], 0xFE, 7, 3, 0, 0, 0, -0x8000, 0xFF)
    kwargs = {
        "daylight_savings_begin": begin,
        "daylight_savings_end": end,
        "daylight_savings_deviation": deviation,
        "daylight_savings_enabled": True,
        "clock_base": ClockBase.INTERNAL_CRYSTAL,
    }
    meter = build_meter(small_profile())
    ours = MeterClock(Obis.parse("0-0:1.0.0*255"), meter, time_zone, **kwargs)  # type: ignore[arg-type]
    reference = Clock(Obis.parse("0-0:1.0.0*255"), time_zone, **kwargs)  # type: ignore[arg-type]
    assert ours.dst_active(utc) == reference.dst_active(utc)
