"""Push schedule: windows with wildcards, randomised start, retries, backoff, simulated loss."""

from __future__ import annotations

import datetime as dt
import heapq
import random
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cosemnet.codec.datetime import CosemDateTime
from cosemnet.codec.types import LongUnsigned
from cosemnet.codec.xdlms.notification import DataNotification
from cosemnet.cosem.push_setup import PushSetup
from cosemnet.errors import DecodeError
from cosemnet.profiles.mesh.address_book import AddressBook, UpsertResult
from cosemnet.profiles.mesh.push_schedule import (
    CommunicationWindows,
    PushAttempt,
    PushSchedule,
    PushScheduleError,
    PushScheduler,
    PushState,
    RepetitionDelay,
)
from cosemnet.profiles.mesh.registration import (
    AddressConfirmation,
    AddressEntry,
    AddressRegistrationData,
    AddressUpdateData,
    ConfirmationStatus,
    MeterRegistration,
    RegistrationReason,
    decode_registration_body,
)

UTC = dt.UTC
T0 = dt.datetime(2026, 3, 2, 12, 0, tzinfo=UTC)  # a Monday


def daily(h1: int, m1: int, h2: int, m2: int) -> tuple[CosemDateTime, CosemDateTime]:
    return CosemDateTime(hour=h1, minute=m1, second=0), CosemDateTime(hour=h2, minute=m2, second=0)


def at(y: int, mo: int, d: int, h: int, mi: int = 0) -> dt.datetime:
    return dt.datetime(y, mo, d, h, mi, tzinfo=UTC)


def posix(y: int, mo: int, d: int, h: int, mi: int = 0) -> float:
    """The schedulers' float time (default anchor: the POSIX epoch) of a calendar instant."""
    return at(y, mo, d, h, mi).timestamp()


S0 = T0.timestamp()


def poll(s: PushScheduler, now: float) -> PushAttempt | None:
    """Run the scheduler's timer at ``now``; the attempt that fell due, if any."""
    s.handle_timer(now)
    events = s.pop_events()
    assert len(events) <= 1
    return events[0] if events else None


def poll_registration(meter: MeterRegistration, now: float) -> DataNotification | None:
    meter.handle_timer(now)
    out = meter.pop_outgoing()
    assert len(out) <= 1
    return out[0] if out else None


def test_repetition_delay_version_2() -> None:
    d = RepetitionDelay(10, 200, 100)
    assert [d.delay(n) for n in range(1, 8)] == [10, 20, 40, 80, 100, 100, 100]
    assert [RepetitionDelay(7, 150, 0).delay(n) for n in (1, 2, 3)] == [7, 10.5, 15.75]
    assert RepetitionDelay.constant(30).delay(9) == 30
    assert RepetitionDelay(30, 0, 0).delay(5) == 30
    assert RepetitionDelay(1, 1000, 0).delay(200) > 1e12  # no overflow, still finite
    assert RepetitionDelay.from_data(d.to_data()) == d
    assert RepetitionDelay.from_data(LongUnsigned(5)) == RepetitionDelay.constant(5)
    with pytest.raises(DecodeError):
        RepetitionDelay.from_data((LongUnsigned(1), LongUnsigned(2)))


def test_windows_daily_across_midnight() -> None:
    w = CommunicationWindows([daily(22, 0, 4, 0)])
    assert w.locate(at(2026, 3, 2, 12)) == (at(2026, 3, 2, 22), at(2026, 3, 3, 4))
    assert w.locate(at(2026, 3, 2, 23)) == (at(2026, 3, 2, 23), at(2026, 3, 3, 4))
    assert w.locate(at(2026, 3, 3, 3)) == (at(2026, 3, 3, 3), at(2026, 3, 3, 4))
    assert w.contains(at(2026, 3, 3, 4)) and not w.contains(at(2026, 3, 3, 4, 1))


def test_windows_patterns_and_absolute() -> None:
    # Mondays 01:00 .. Tuesday 01:00 (day of week 1 start, 2 end)
    monday = CosemDateTime(day_of_week=1, hour=1, minute=0, second=0)
    tuesday = CosemDateTime(day_of_week=2, hour=1, minute=0, second=0)
    w = CommunicationWindows([(monday, tuesday)])
    assert w.locate(at(2026, 3, 4, 9)) == (at(2026, 3, 9, 1), at(2026, 3, 10, 1))  # Wed -> next Mon
    assert w.locate(at(2026, 3, 3, 0, 30)) == (at(2026, 3, 3, 0, 30), at(2026, 3, 3, 1))  # Tue night
    # last day of every month, 00:00 .. 06:00
    last = CosemDateTime(day=0xFE, hour=0, minute=0, second=0)
    w = CommunicationWindows([(last, CosemDateTime(day=0xFE, hour=6, minute=0, second=0))])
    assert w.locate(at(2026, 2, 10, 12)) == (at(2026, 2, 28, 0), at(2026, 2, 28, 6))
    # absolute window with a deviation (UTC+01:00 sends -60)
    start = CosemDateTime(2026, 3, 5, 0xFF, 10, 0, 0, 0, -60, 0)
    end = CosemDateTime(2026, 3, 5, 0xFF, 11, 0, 0, 0, -60, 0)
    w = CommunicationWindows([(start, end)])
    assert w.locate(at(2026, 3, 1, 0)) == (at(2026, 3, 5, 9), at(2026, 3, 5, 10))
    assert w.locate(at(2026, 3, 6, 0)) is None
    # no window = always
    assert CommunicationWindows().locate(T0) == (T0, None)
    with pytest.raises(PushScheduleError):
        CommunicationWindows([(CosemDateTime(month=0xFE), CosemDateTime())])
    with pytest.raises(PushScheduleError):
        CommunicationWindows().locate(dt.datetime(2026, 1, 1))


def test_retries_without_window() -> None:
    s = PushScheduler(PushSchedule((), 0, 2, RepetitionDelay.constant(10)), random.Random(1))
    assert s.trigger(S0, "m") == S0
    sent = []
    now = S0
    while (deadline := s.get_timer()) is not None:
        now = deadline
        attempt = poll(s, now)
        if attempt is not None:
            sent.append((attempt.attempt, attempt.at - S0))
    assert sent == [(1, 0.0), (2, 10.0), (3, 20.0)]
    assert s.state is PushState.EXHAUSTED
    assert now == S0 + 30


def test_exponential_backoff_timing_and_confirmation() -> None:
    s = PushScheduler(PushSchedule((), 0, 5, RepetitionDelay(10, 200, 60)), random.Random(1))
    s.trigger(S0, 7)
    times = []
    for _ in range(4):
        deadline = s.get_timer()
        assert deadline is not None
        while (a := poll(s, deadline)) is None:
            deadline = s.get_timer()
            assert deadline is not None
        times.append(a.at - S0)
    assert times == [0, 10, 30, 70]
    assert not s.confirm(S0, 8)  # wrong message: ignored
    assert s.confirm(S0, 7)
    assert s.state is PushState.CONFIRMED and s.get_timer() is None and poll(s, posix(2030, 1, 1, 0)) is None


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32), st.integers(0, 7200), st.integers(0, 23), st.integers(1, 8))
def test_randomised_start_stays_in_window(seed: int, interval: int, hour: int, length_h: int) -> None:
    window = daily(hour, 0, (hour + length_h) % 24, 0)
    s = PushScheduler(PushSchedule((window,), interval, 0, RepetitionDelay.constant(60)), random.Random(seed))
    first = s.trigger(S0)
    assert first is not None
    located = CommunicationWindows([window]).locate(T0)
    assert located is not None
    open_, end = located
    assert end is not None
    assert open_.timestamp() <= first <= min(end, open_ + dt.timedelta(seconds=interval)).timestamp()


def test_retry_outside_window_moves_to_next_window() -> None:
    # window 12:00-12:01, retry after 5 min: the retry goes to the next day's window, randomised again
    window = daily(12, 0, 12, 1)
    s = PushScheduler(PushSchedule((window,), 30, 1, RepetitionDelay.constant(300)), random.Random(3))
    first = s.trigger(S0)
    assert first is not None and S0 <= first <= S0 + 30
    assert poll(s, first) is not None
    deadline = s.get_timer()
    assert deadline == pytest.approx(first + 300, abs=1e-6)
    assert deadline is not None and poll(s, deadline) is None
    retry_at = s.get_timer()
    assert retry_at is not None
    next_open = posix(2026, 3, 3, 12)
    assert next_open <= retry_at <= next_open + 30
    a = poll(s, retry_at)
    assert a is not None and a.attempt == 2


def test_from_push_setup() -> None:
    setup = PushSetup(
        communication_window=[daily(1, 0, 2, 0)],
        randomisation_start_interval=9,
        number_of_retries=4,
        repetition_delay=11,
    )
    sched = PushSchedule.from_push_setup(setup)
    assert sched.number_of_retries == 4 and sched.repetition_delay == RepetitionDelay.constant(11)
    assert sched.randomisation_start_interval == 9 and len(sched.communication_window) == 1


def test_registration_retries_under_loss_simulated_time() -> None:
    """300 meters register through a 30 % lossy network (both ways) within a 20-minute nightly
    window, through the real integration path: MeterRegistration builds and encodes the
    Data-Notifications, AddressBook.handle_notification stores them and answers. Every confirmed meter
    is in the book with its address, every attempt is inside the window, no meter sends more than
    1 + retries attempts, and with 6 retries almost all get through (a meter fails only when 7
    round trips are lost: 0.51^7 ~ 0.9 %)."""
    rng = random.Random(2026)
    loss = 0.3
    window = daily(2, 0, 2, 20)
    config = PushSchedule((window,), 300, 6, RepetitionDelay(20, 150, 120))
    book = AddressBook(":memory:")
    start = posix(2026, 3, 2, 1, 30)
    meters: dict[bytes, MeterRegistration] = {}
    events: list[tuple[float, int, str, object]] = []
    sent: Counter[bytes] = Counter()
    seq = 0

    def push_event(when: float, kind: str, payload: object) -> None:
        nonlocal seq
        seq += 1
        heapq.heappush(events, (when, seq, kind, payload))

    for i in range(300):
        title = (0x4D4D4D00_00000000 + i).to_bytes(8, "big")
        meter = MeterRegistration(title, config, random.Random(rng.getrandbits(64)))
        meter.announce(start, [AddressEntry.of(f"2001:db8:{i // 50}::{i + 1:x}")])
        meters[title] = meter
        push_event(meter.get_timer() or start, "meter", title)

    in_window = CommunicationWindows([window])
    while events:
        now, _, kind, payload = heapq.heappop(events)
        if kind == "meter":
            assert isinstance(payload, bytes)
            meter = meters[payload]
            notification = poll_registration(meter, now)
            if notification is not None:
                assert in_window.contains(meter.anchor + dt.timedelta(seconds=now))
                sent[payload] += 1
                if rng.random() >= loss:  # uplink delivered
                    push_event(now + rng.uniform(0.5, 5), "head-end", notification.encode())
            deadline = meter.get_timer()
            if deadline is not None:
                push_event(deadline, "meter", payload)
        elif kind == "head-end":
            assert isinstance(payload, bytes)
            handled = book.handle_notification(DataNotification.decode(payload), now)
            assert handled is not None
            _, answer = handled
            if rng.random() >= loss:  # downlink delivered
                push_event(now + rng.uniform(0.5, 5), "confirm", answer.encode())
        else:
            assert isinstance(payload, bytes)
            confirmation = decode_registration_body(DataNotification.decode(payload).notification_body)
            assert isinstance(confirmation, AddressConfirmation)
            assert meters[confirmation.system_title].on_confirmation(confirmation, now)

    confirmed = [t for t, m in meters.items() if m.state is PushState.CONFIRMED]
    assert {m.state for m in meters.values()} <= {PushState.CONFIRMED, PushState.EXHAUSTED}
    assert len(confirmed) >= 290
    for title in confirmed:
        entry = book.lookup(title)
        assert entry is not None
        message = meters[title].message
        assert message is not None and entry.addresses == message.addresses
    assert max(sent.values()) <= 7
    assert sum(1 for n in sent.values() if n > 1) > 50  # loss did force retries
    book.close()


def test_stale_answer_resynchronises_the_sequence_number() -> None:
    """A meter that lost its sequence number (restarts at 0) is told last_sequence and continues
    above it; the head-end then accepts the new binding."""
    book = AddressBook()
    title = b"METER001"
    book.upsert(AddressRegistrationData(title, (AddressEntry.of("2001:db8::1"),), 40), now=1.0)
    meter = MeterRegistration(title, PushSchedule((), 0, 3, RepetitionDelay.constant(10)), random.Random(1))
    meter.announce(S0, [AddressEntry.of("2001:db8::2")], RegistrationReason.REJOIN)
    first = poll_registration(meter, S0)
    assert first is not None and first.invoke_id == 1
    handled = book.handle_notification(first, 2.0)
    assert handled is not None and handled[0] is UpsertResult.STALE
    answer = decode_registration_body(handled[1].notification_body)
    assert isinstance(answer, AddressConfirmation)
    assert answer.status is ConfirmationStatus.STALE and answer.last_sequence == 40
    assert meter.on_confirmation(answer, S0)
    assert meter.sequence_number == 41 and meter.state is PushState.SCHEDULED
    second = poll_registration(meter, S0)
    assert second is not None and second.invoke_id == 41
    handled = book.handle_notification(second, 3.0)
    assert handled is not None and handled[0] is UpsertResult.CHANGED
    answer = decode_registration_body(handled[1].notification_body)
    assert isinstance(answer, AddressConfirmation) and answer.status is ConfirmationStatus.ACCEPTED
    assert meter.on_confirmation(answer, S0)
    assert meter.scheduler.state is PushState.CONFIRMED
    # later address change: an update carrying the previous addresses
    update = meter.announce(S0, [AddressEntry.of("2001:db8:1::2")], RegistrationReason.ADDRESS_CHANGE)
    assert isinstance(update, AddressUpdateData)
    assert update.previous_addresses == (AddressEntry.of("2001:db8::2"),) and update.sequence_number == 42


def test_head_end_rejects_registration_for_another_meter() -> None:
    book = AddressBook()
    meter = MeterRegistration(b"METER001", PushSchedule(), random.Random(1))
    meter.announce(S0, [AddressEntry.of("2001:db8::2")])
    notification = poll_registration(meter, S0)
    assert notification is not None
    handled = book.handle_notification(notification, 1.0, sender_system_title=b"INTRUDER")
    assert handled is not None and handled[0] is None
    answer = decode_registration_body(handled[1].notification_body)
    assert isinstance(answer, AddressConfirmation) and answer.status is ConfirmationStatus.REJECTED
    assert book.lookup(b"METER001") is None
    other = DataNotification(5, None, (b"\x00\x00\x01\x00\x00\xff", 1))
    assert book.handle_notification(other) is None


@settings(max_examples=200)
@given(st.integers(0, 23), st.integers(0, 59), st.integers(0, 23), st.integers(0, 59), st.integers(0, 86399))
def test_daily_windows_agree_with_push_setup_in_window(
    h1: int, m1: int, h2: int, m2: int, second: int
) -> None:
    """For daily windows (wildcard dates) the scheduler and PushSetup.in_window of the object model
    agree on every whole second (start == end is excluded: the object model reads it as one instant,
    the scheduler as a 24-hour window)."""
    if (h1, m1) == (h2, m2):
        return
    window = daily(h1, m1, h2, m2)
    setup = PushSetup(communication_window=[window])
    t = T0.replace(hour=0, minute=0) + dt.timedelta(seconds=second)
    local = CosemDateTime.from_datetime(t)
    assert CommunicationWindows([window]).contains(t) == setup.in_window(local)
