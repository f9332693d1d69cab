"""The mesh and simulator cores on the one sans-IO contract (docs/sans-io.md, issue 16 item 1): the
structural types, a short exchange on float time counted from a simulation's start, and calendar
anchors that put push windows, timestamps and load-profile captures on the right wall-clock dates."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from cosemnet.codec.datetime import CosemDateTime
from cosemnet.codec.types import DoubleLongUnsigned
from cosemnet.profiles.mesh import (
    AddressBook,
    AddressEntry,
    AddressRegistrationData,
    MeterRegistration,
    PushSchedule,
    PushScheduler,
    RepetitionDelay,
    decode_registration_body,
)
from cosemnet.profiles.mesh.meter_node import MeshMeterNode
from cosemnet.profiles.mesh.push_schedule import PushScheduleError
from cosemnet.sansio import SansIOCore, TimerCore
from cosemnet.simulator import build_meter
from cosemnet.simulator.mesh_fleet import fleet_profile

from .test_meter_node import ENERGY, HEAD_END, SIDE, _exchange, _management, _registration

UTC = dt.UTC
START = dt.datetime(2024, 3, 1, tzinfo=UTC)
# 2026-03-02 is a Monday; the window below runs from 23:50 to 00:10 the next day
MONDAY_EVENING = dt.datetime(2026, 3, 2, 23, 0, tzinfo=UTC)
ACROSS_MIDNIGHT = (CosemDateTime(hour=23, minute=50, second=0), CosemDateTime(hour=0, minute=10, second=0))


def _node(anchor: dt.datetime) -> MeshMeterNode:
    return MeshMeterNode(
        build_meter(fleet_profile(), serial=1, seed=1, start=START),
        address="2001:db8:1::1",
        head_end=HEAD_END,
        schedule=PushSchedule((), 10, 2, RepetitionDelay.constant(30)),
        rng=random.Random(1),
        seed=1,
        anchor=anchor,
    )


def test_the_cores_are_timer_cores_with_their_queues() -> None:
    scheduler = PushScheduler(PushSchedule(), random.Random(1))
    registration = MeterRegistration(b"METER001", PushSchedule(), random.Random(1))
    node = _node(START)
    meter = build_meter(start=START)
    for core in (scheduler, registration, node, meter):
        assert isinstance(core, TimerCore)
        # a core gives the queues it has, and nothing pretends to a queue it does not have
        assert not isinstance(core, SansIOCore)
    for with_events in (scheduler, meter):
        assert with_events.pop_events() == [] and not hasattr(with_events, "pop_outgoing")
    for with_output in (registration, node):
        assert with_output.pop_outgoing() == [] and not hasattr(with_output, "pop_events")
    for idle in (scheduler, registration, node):
        assert idle.get_timer() is None
        idle.handle_timer(0.0)  # early: harmless
    assert meter.get_timer() == 15 * 60  # the first capture, seconds after the meter's start


def test_exchange_on_float_time_counted_from_the_start() -> None:
    """A node whose clock starts at 0.0 on START registers, is confirmed and serves a GET an hour in:
    the answer is the meter's energy at START + 1 h (the node and the meter share the anchor)."""
    node = _node(START)
    node.join(0.0)
    deadline = node.get_timer()
    assert deadline is not None and 0.0 <= deadline <= 10.0  # the randomised start, on float time
    node.handle_timer(deadline)
    (sent,) = node.pop_outgoing()
    assert sent.send_at == deadline and sent.destination == HEAD_END
    frame, notification = _registration(sent)
    message = decode_registration_body(notification.notification_body)
    assert isinstance(message, AddressRegistrationData)
    book = AddressBook()
    handled = book.handle_notification(notification, deadline + 0.5, sender_system_title=frame.apdu[2:10])
    assert handled is not None
    node.receive_datagram(HEAD_END, SIDE.reply(frame, handled[1].encode()), deadline + 0.5)
    assert node.registered and node.get_timer() is None and node.pop_outgoing() == []
    client = _management()
    _exchange(node, client, client.associate(), HEAD_END, 1.0)
    value = _exchange(node, client, client.get(3, ENERGY, 2), HEAD_END, 3600.0)
    assert node.meter.now == START + dt.timedelta(hours=1)  # type: ignore[attr-defined]
    reference = build_meter(fleet_profile(), serial=1, seed=1, start=START)
    reference.catch_up(START + dt.timedelta(hours=1))
    expected = reference.device.get(3, ENERGY, 2, reference.context())
    assert isinstance(value, DoubleLongUnsigned) and value == expected and value > 0


def test_posix_and_start_anchors_serve_the_same_meter_time() -> None:
    """The default anchor (POSIX seconds) and an anchor on the start are the same calendar: a GET at
    the same wall-clock instant reads the same value."""
    values = []
    for anchor, offset in ((START, 0.0), (dt.datetime(1970, 1, 1, tzinfo=UTC), START.timestamp())):
        node = _node(anchor)
        node.join(offset)
        client = _management()
        _exchange(node, client, client.associate(), HEAD_END, offset + 1.0)
        values.append(_exchange(node, client, client.get(3, ENERGY, 2), HEAD_END, offset + 5400.0))
        assert node.meter.now == START + dt.timedelta(minutes=90)  # type: ignore[attr-defined]
    assert values[0] == values[1]


def test_push_window_across_midnight_lands_on_the_calendar() -> None:
    """Float time from 0.0 at MONDAY_EVENING: the first attempt waits for the 23:50 window, the retry
    after 15 minutes goes out on Tuesday 00:05, the next one (outside the window) on Tuesday 23:50."""
    schedule = PushSchedule((ACROSS_MIDNIGHT,), 0, 2, RepetitionDelay.constant(15 * 60))
    scheduler = PushScheduler(schedule, random.Random(1), anchor=MONDAY_EVENING)
    first = scheduler.trigger(0.0, "m")
    assert first == 50 * 60.0 and scheduler.get_timer() == first
    times = []
    while (deadline := scheduler.get_timer()) is not None:
        scheduler.handle_timer(deadline)
        times.extend(scheduler.calendar(a.at) for a in scheduler.pop_events())
    assert times == [
        dt.datetime(2026, 3, 2, 23, 50, tzinfo=UTC),
        dt.datetime(2026, 3, 3, 0, 5, tzinfo=UTC),
        dt.datetime(2026, 3, 3, 23, 50, tzinfo=UTC),
    ]
    # the same schedule on POSIX seconds gives the same instants
    posix = PushScheduler(schedule, random.Random(1))
    assert (
        posix.trigger(MONDAY_EVENING.timestamp(), "m")
        == (MONDAY_EVENING + dt.timedelta(minutes=50)).timestamp()
    )
    with pytest.raises(PushScheduleError):
        PushScheduler(schedule, random.Random(1), anchor=dt.datetime(2026, 3, 2))  # naive: refused


def test_registration_timestamp_across_midnight() -> None:
    anchor = dt.datetime(2026, 3, 2, 23, 59, 59, 500000, tzinfo=UTC)
    registration = MeterRegistration(b"METER001", PushSchedule(), random.Random(1), anchor=anchor)
    stamp = registration.cosem_time(1.0)
    assert (stamp.year, stamp.month, stamp.day, stamp.day_of_week) == (2026, 3, 3, 2)  # Tuesday
    assert (stamp.hour, stamp.minute, stamp.second, stamp.hundredths, stamp.deviation) == (0, 0, 0, 50, 0)
    message = registration.announce(
        1.0, [AddressEntry.of("2001:db8::1")], timestamp=registration.cosem_time(1.0)
    )
    assert registration.get_timer() == 1.0
    registration.handle_timer(1.0)
    (notification,) = registration.pop_outgoing()
    decoded = decode_registration_body(notification.notification_body)
    assert decoded == message and decoded is not None
    assert isinstance(decoded, AddressRegistrationData) and decoded.timestamp is not None
    assert decoded.timestamp.to_datetime() == anchor + dt.timedelta(seconds=1)


def test_simulated_meter_captures_across_midnight_on_its_anchor() -> None:
    """A meter started at 23:40 on float time 0: the capture at float 20 min is the next day's 00:00
    row; the granule (decision 0053) holds on float time too."""
    start = dt.datetime(2024, 2, 29, 23, 40, tzinfo=UTC)  # a leap day
    meter = build_meter(start=start)
    assert meter.anchor == start and meter.seconds(start) == 0.0
    assert meter.get_timer() == 5 * 60.0  # 23:45
    meter.handle_timer(20 * 60.0 + 0.25)
    just_after = dt.datetime(2024, 3, 1, 0, 0, 0, 250000, tzinfo=UTC)
    assert meter.now == just_after
    assert meter.load_profile is not None and meter.load_profile.entries_in_use == 2
    row_time = CosemDateTime.from_bytes(meter.load_profile.buffer[-1][0])  # type: ignore[arg-type]
    assert row_time.to_datetime() == dt.datetime(2024, 3, 1, 0, 0, tzinfo=UTC)  # the meter's local 01:00
    meter.handle_timer(20 * 60.0 + 0.75)  # within the simulated second: not run
    assert meter.now == just_after
    meter.handle_timer(10.0)  # earlier: ignored
    assert meter.now == just_after
    meter.handle_timer(20 * 60.0 + 1.25)  # a second later: run
    assert meter.now == just_after + dt.timedelta(seconds=1)
    assert meter.calendar(meter.get_timer() or 0.0) == dt.datetime(2024, 3, 1, 0, 15, tzinfo=UTC)
    with pytest.raises(ValueError):
        build_meter(start=dt.datetime(2024, 1, 1))
    history = build_meter(start=start, history=dt.timedelta(hours=1))
    assert history.anchor == start and history.now == start and history.pop_events() == []
