"""SET and ACTION from the head-end (issue 12): unicast through the throttle and as group requests,
each meter's result stored in ``operation_results``."""

from __future__ import annotations

from cosemnet.codec.obis import Obis
from cosemnet.codec.types import Integer
from cosemnet.headend import AttributeRef
from cosemnet.headend.operations import Operation
from cosemnet.profiles.mesh import GroupMembership, ResponseWindow

from .fakes import HEAD_END_PORT, FakeMesh
from .test_headend import NOW, fleet, head_end

DISCONNECT = Obis("0-0:96.3.10*255")
OUTPUT_STATE = AttributeRef(70, DISCONNECT, 2)


def test_unicast_disconnect_then_reconnect_changes_the_meters_and_is_stored() -> None:
    meters = fleet(10)
    he = head_end()
    mesh = FakeMesh(he, meters)
    mesh.register_all(NOW)
    assert all(m.read(70, DISCONNECT, 2) is True for m in meters)
    chosen = [m.title for m in meters[:3]]
    run = he.collect(
        [OUTPUT_STATE],
        NOW,
        system_titles=chosen,
        operation=Operation("action", 70, DISCONNECT, 1, Integer(0)),
    )
    mesh.run(NOW)
    assert run.finished and len(run.results) == 3 and not run.failed
    assert [m.read(70, DISCONNECT, 2) for m in meters] == [False] * 3 + [True] * 7
    rows = he.store.operation_results(run.run_id)
    assert {r.system_title for r in rows} == set(chosen)
    assert all(
        r.kind == "action" and r.result == "success" and r.target == "70/0-0:96.3.10*255/1" for r in rows
    )
    assert he.store.readings(run.run_id) == []  # not readings
    run2 = he.collect(
        [OUTPUT_STATE],
        NOW + 5,
        system_titles=chosen,
        operation=Operation("action", 70, DISCONNECT, 2, Integer(0)),
    )
    mesh.run(NOW + 5)
    assert len(run2.results) == 3 and all(m.read(70, DISCONNECT, 2) is True for m in meters)


def test_unicast_set_refused_is_stored_with_the_meters_result() -> None:
    meters = fleet(2)
    he = head_end()
    mesh = FakeMesh(he, meters)
    mesh.register_all(NOW)
    logical_name = Obis("0-0:42.0.0*255")  # COSEM logical device name: read-only
    before = meters[0].read(1, logical_name, 2)
    run = he.collect(
        [AttributeRef(1, logical_name, 2)], NOW, operation=Operation("set", 1, logical_name, 2, b"X")
    )
    mesh.run(NOW)
    assert run.finished
    rows = he.store.operation_results(run.run_id)
    assert len(rows) == 2 and all(r.result == "read-write-denied" for r in rows), rows
    assert meters[0].read(1, logical_name, 2) == before


def test_group_disconnect_reaches_members_only_and_results_are_collected() -> None:
    meters = fleet(6)
    for m in meters[:3]:
        m.groups = GroupMembership.static([4])
    he = head_end()
    mesh = FakeMesh(he, meters)
    mesh.register_all(NOW)
    he.ensure_associations(NOW)
    mesh.run(NOW)
    operation = Operation("action", 70, DISCONNECT, 1, Integer(0))
    run = he.broadcast(4, OUTPUT_STATE, NOW, window=ResponseWindow.seconds(0, 5), operation=operation)
    (out,) = he.pop_outgoing()
    for address, reply in mesh.deliver(out, NOW):
        he.receive_datagram(address, HEAD_END_PORT, reply, NOW + 1)
    mesh.run(NOW + 1)
    members = {m.title for m in meters[:3]}
    assert set(run.outcomes) == members and all(o.result == "success" for o in run.outcomes.values())
    assert [m.read(70, DISCONNECT, 2) for m in meters] == [False] * 3 + [True] * 3
