"""The head-end core through the sans-IO contract only (docs/sans-io.md): ``receive_datagram``,
``handle_timer`` when ``get_timer`` says, ``pop_outgoing`` and typed ``pop_events``, on simulated time.

The driver below never looks inside the core (no ``busy``, no run objects): what it learns comes from
the events, and time only moves to the deadline the core asks for."""

from __future__ import annotations

import ipaddress

from cosemnet.client.events import FailureKind
from cosemnet.codec.obis import Obis
from cosemnet.codec.xdlms import DataAccessResult
from cosemnet.headend import (
    AttributeRef,
    FailReason,
    GroupRequestClosed,
    HeadEnd,
    HeadEndEvent,
    MappingKeyStore,
    MeterCompleted,
    MeterFailed,
    Outgoing,
    RegistrationEvent,
    RunFinished,
)
from cosemnet.headend.keys import TEST_AK, TEST_EK
from cosemnet.headend.operations import Operation
from cosemnet.profiles.mesh import GroupMembership, ResponseWindow, UpsertResult
from cosemnet.sansio import SansIOCore, TimerCore
from cosemnet.security.keys import KeySet

from .fakes import HEAD_END_PORT, FakeMesh
from .test_headend import ENERGY, NOW, SCALER, fleet, head_end


def _deliver(he: HeadEnd, mesh: FakeMesh, now: float) -> None:
    """Send everything the core queued; the fake meters answer at once (fed back at ``now``)."""
    while True:
        outgoing: list[Outgoing] = he.pop_outgoing()
        if not outgoing:
            return
        for out in outgoing:
            for address, reply in mesh.deliver(out, now):
                he.receive_datagram(address, HEAD_END_PORT, reply, now)


def drive(he: HeadEnd, mesh: FakeMesh, now: float, *, until: float) -> tuple[float, list[HeadEndEvent]]:
    """Run the core on simulated time until it has no deadline (or ``until``); the events in order."""
    events: list[HeadEndEvent] = []
    _deliver(he, mesh, now)
    events += he.pop_events()
    while True:
        deadline = he.get_timer()
        if deadline is None or deadline > until:
            return now, events
        now = max(now, deadline)
        he.handle_timer(now)
        _deliver(he, mesh, now)
        events += he.pop_events()


def test_the_head_end_is_a_sans_io_core() -> None:
    he = head_end()
    assert isinstance(he, SansIOCore) and isinstance(he, TimerCore)
    assert he.get_timer() is None and he.pop_outgoing() == [] and he.pop_events() == []
    he.handle_timer(NOW)  # nothing due: harmless
    assert he.get_timer() is None and he.pop_outgoing() == [] and he.pop_events() == []


def test_registrations_then_a_collect_are_reported_as_typed_events() -> None:
    meters = fleet(12)
    he = head_end(max_in_flight=4, max_per_prefix=2)
    mesh = FakeMesh(he, meters)
    for m in meters:
        he.receive_datagram(m.address, HEAD_END_PORT, m.ciphered_registration(), NOW)
    confirmations = he.pop_outgoing()
    registered = he.pop_events()
    assert len(confirmations) == 12 and all(isinstance(e, RegistrationEvent) for e in registered)
    titles = [e.system_title for e in registered if isinstance(e, RegistrationEvent)]
    assert titles == [m.title for m in meters]
    assert all(e.result is UpsertResult.CREATED for e in registered if isinstance(e, RegistrationEvent))

    run = he.collect([ENERGY, SCALER], NOW)
    assert he.get_timer() == NOW  # attempts are startable now: handle_timer at once
    _, events = drive(he, mesh, NOW, until=NOW + 600)
    assert he.get_timer() is None and he.pop_outgoing() == []
    done = [e for e in events if isinstance(e, MeterCompleted)]
    assert [type(e) for e in events] == [MeterCompleted] * 12 + [RunFinished]
    assert {e.system_title for e in done} == {m.title for m in meters}
    for e in done:
        meter = next(m for m in meters if m.title == e.system_title)
        assert e.run_id == run.run_id and e.ok and e.attempts == 1
        assert e.values == (meter.read(3, ENERGY.logical_name, 2), meter.read(3, ENERGY.logical_name, 3))
        assert e.access_results == (None, None)
    (finished,) = [e for e in events if isinstance(e, RunFinished)]
    assert (finished.run_id, finished.answered, finished.failed) == (run.run_id, 12, 0)
    assert finished.stopped is None
    assert len(he.store.readings(run.run_id)) == 24  # committed before RunFinished


def test_a_silent_meter_fails_with_a_reason_after_its_attempts_on_simulated_time() -> None:
    meters = fleet(3)
    he = head_end(adaptive=False, timeout=2.0, max_retries=2, backoff_base=1.0, jitter=0.0)
    mesh = FakeMesh(he, meters)
    mesh.register_all(NOW)
    he.pop_events()
    silent = meters[2]
    # registered, but nothing reaches it any more
    del mesh.meters[ipaddress.IPv6Address(silent.address).compressed]
    he.collect([ENERGY], NOW)
    end, events = drive(he, mesh, NOW, until=NOW + 600)
    failed = [e for e in events if isinstance(e, MeterFailed)]
    assert [e.system_title for e in failed] == [silent.title]
    assert failed[0].reason is FailReason.NO_ANSWER and failed[0].attempts == 3 and failed[0].failure is None
    assert end > NOW + 3 * 2.0  # time moved only to the deadlines the core asked for
    assert isinstance(events[-1], RunFinished) and (events[-1].answered, events[-1].failed) == (2, 1)


def test_a_refused_set_carries_the_data_access_result_not_text() -> None:
    meters = fleet(2)
    he = head_end()
    mesh = FakeMesh(he, meters)
    mesh.register_all(NOW)
    he.pop_events()
    logical_name = Obis("0-0:42.0.0*255")  # COSEM logical device name: read-only
    ref = AttributeRef(1, logical_name, 2)
    he.collect([ref], NOW, operation=Operation("set", 1, logical_name, 2, b"X"))
    _, events = drive(he, mesh, NOW, until=NOW + 600)
    done = [e for e in events if isinstance(e, MeterCompleted)]
    assert len(done) == 2
    assert all(e.access_results == (DataAccessResult.READ_WRITE_DENIED,) and not e.ok for e in done)


def test_a_meter_that_forgot_its_association_is_read_again_after_a_fresh_aarq() -> None:
    meters = fleet(2)
    he = head_end(adaptive=False, timeout=2.0, backoff_base=0.5, jitter=0.0)
    mesh = FakeMesh(he, meters)
    mesh.register_all(NOW)
    he.collect([ENERGY], NOW)
    drive(he, mesh, NOW, until=NOW + 600)
    meters[0].server.close()  # forgets its associations: an exception-response answers the GET
    aarqs = he.aarq_sent
    he.collect([ENERGY], NOW + 100)
    _, events = drive(he, mesh, NOW + 100, until=NOW + 700)
    done = {e.system_title: e for e in events if isinstance(e, MeterCompleted)}
    assert done[meters[0].title].attempts == 2 and done[meters[1].title].attempts == 1
    assert he.aarq_sent == aarqs + 1


def test_service_failed_kind_is_carried_when_a_meter_is_given_up() -> None:
    meters = fleet(1)
    he = head_end(adaptive=False, timeout=2.0, max_retries=0, jitter=0.0)
    mesh = FakeMesh(he, meters)
    mesh.register_all(NOW)
    he.collect([ENERGY], NOW)
    drive(he, mesh, NOW, until=NOW + 600)
    meters[0].server.close()  # answers the GET with an exception-response
    he.collect([ENERGY], NOW + 100)
    _, events = drive(he, mesh, NOW + 100, until=NOW + 700)
    (failed,) = [e for e in events if isinstance(e, MeterFailed)]
    assert failed.reason is FailReason.SERVICE_FAILED and failed.failure is FailureKind.EXCEPTION_RESPONSE
    assert not he.is_associated(meters[0].title)  # the next attempt associates again


def test_a_group_request_closes_with_an_event() -> None:
    meters = fleet(6)
    for m in meters[:3]:
        m.groups = GroupMembership.static([7])
    he = head_end()
    mesh = FakeMesh(he, meters)
    mesh.register_all(NOW)
    he.ensure_associations(NOW)
    now, _ = drive(he, mesh, NOW, until=NOW + 600)
    members = [m.title for m in meters[:3]]
    run = he.broadcast(7, ENERGY, now, window=ResponseWindow.seconds(0, 5), expected=members)
    _, events = drive(he, mesh, now, until=now + 600)
    (closed,) = [e for e in events if isinstance(e, GroupRequestClosed)]
    assert (closed.invoke_id, closed.group_id) == (run.invoke_id, 7)
    assert set(closed.report.answered) == {m.title for m in meters[:3]} and not closed.report.missing


def test_a_meter_without_keys_fails_with_its_reason_and_costs_no_request() -> None:
    meters = fleet(3)
    keyed = head_end()
    mesh = FakeMesh(keyed, meters)
    mesh.register_all(NOW)  # registered by a head-end that knew every key
    known = {m.title: KeySet(ek=TEST_EK, ak=TEST_AK) for m in meters[:2]}
    he = HeadEnd(keyed.book, keys=MappingKeyStore(known), config=keyed.config)
    mesh.head_end = he
    run = he.collect([ENERGY], NOW)
    _, events = drive(he, mesh, NOW, until=NOW + 600)
    (failed,) = [e for e in events if isinstance(e, MeterFailed)]
    assert (failed.system_title, failed.reason, failed.failure) == (meters[2].title, FailReason.NO_KEYS, None)
    assert run.failed[meters[2].title] == "no keys for this meter" and len(run.results) == 2
    assert not meters[2].requests and meters[0].requests  # nothing was sent to the meter without keys
