"""Annex F ATM (docs/decisions/0072): messages, the F.3 lifecycle, the NM commands commissioning uses,
and discovery + commissioning over the air on a simulated feeder (also behind repeaters). Simulated
time, seeded: deterministic."""

from __future__ import annotations

import pytest

from cosemnet.cli.lon_feeder import Feeder, build_feeder, discover, feeder_unique_id
from cosemnet.cli.sim_lon_feeder import remove_repeaters
from cosemnet.errors import DecodeError
from cosemnet.profiles.lon.addresses import SubnetNodeAddress
from cosemnet.profiles.lon.atm import (
    AtmAgent,
    AtmError,
    AtmErrorMessage,
    AtmResult,
    MeterRecord,
    MeterState,
    NeighbourEntry,
    NeighbourReport,
    NeighbourRequest,
    StatusReport,
    StatusRequest,
    decode_atm,
)
from cosemnet.profiles.lon.dlms import run_exchange
from cosemnet.profiles.lon.netmgmt import (
    GroupAddressEntry,
    NmResponse,
    NodeMode,
    NodeState,
    SetNodeModeRequest,
    UpdateGroupAddressRequest,
)
from cosemnet.profiles.lon.stack import Completed, ResponseReceived
from cosemnet.profiles.lon.topology import TopologyConfig, line
from cosemnet.profiles.lon.transaction import Service
from cosemnet.simulator.lon_segment import read_segment


def test_atm_messages_round_trip_and_reject_garbage() -> None:
    messages = [
        NeighbourRequest(7, 20, 5),
        NeighbourReport(7, 1234, 2, 0, [NeighbourEntry(1, 2, 40), NeighbourEntry(1, 9, 65535)]),
        StatusRequest(3),
        StatusReport(3, NodeState.CONFIGURED_ONLINE, True, b"LONF\x00\x01"),
        AtmErrorMessage(9, AtmResult.UNKNOWN_TYPE),
    ]
    for message in messages:
        assert decode_atm(message.encode()) == message
    for bad in (
        b"",
        b"\x42\x00",
        b"\x01\x00\x00",
        NeighbourRequest(1).encode() + b"\x00",
        b"\x81\x01" + b"\0" * 8 + b"\x15",
    ):
        with pytest.raises(DecodeError):
            decode_atm(bad)


def test_lifecycle_moves_and_refuses_illegal_ones() -> None:
    record = MeterRecord(b"LONF\x00\x01")
    for state in (
        MeterState.DISCOVERED,
        MeterState.COMMISSIONED,
        MeterState.IN_SERVICE,
        MeterState.DECOMMISSIONED,
        MeterState.DISCOVERED,
        MeterState.COMMISSIONED,
    ):
        record.move(state, 1.0)
    assert [s for _, s in record.history][-1] is MeterState.COMMISSIONED
    with pytest.raises(AtmError):
        record.move(MeterState.UNCONFIGURED, 2.0)
    with pytest.raises(AtmError):
        MeterRecord(b"LONF\x00\x02").move(MeterState.IN_SERVICE, 0.0)


def test_agent_answers_malformed_requests_with_an_error() -> None:
    f = build_feeder(line(1, config=TopologyConfig(seed=1)), seed=1, configured=False)
    assert f.agents is not None
    agent = f.agents[0]
    assert agent.answer(b"\x42\x05") == AtmErrorMessage(5, AtmResult.UNKNOWN_TYPE)
    assert agent.answer(b"\x01\x05\x00") == AtmErrorMessage(5, AtmResult.MALFORMED)


def _nm(f: Feeder, apdu_request: object, service: Service = Service.REQUEST) -> list[object]:
    stack = f.segment.concentrator.stack
    meter = f.segment.meters[0]
    handle = stack.send(meter.address, apdu_request.to_apdu(), service, now=stack.now)  # type: ignore[attr-defined]
    run_exchange(f.segment.channel, [])
    events = stack.take_events(lambda e: isinstance(e, Completed | ResponseReceived) and e.handle == handle)
    return [NmResponse.decode(e.apdu.encode()) for e in events if isinstance(e, ResponseReceived)]


def test_update_group_address_and_set_node_mode() -> None:
    f = build_feeder(line(1, config=TopologyConfig(seed=1)), seed=1)
    node = f.segment.meters[0].endpoint.stack.node
    answers = _nm(f, UpdateGroupAddressRequest(GroupAddressEntry(group=7, member=3, receive_timer=12)))
    assert answers == [NmResponse(0x69, True)]
    assert [(g.group, g.member, g.receive_timer) for g in node.groups] == [(7, 3, 12)]
    answers = _nm(f, UpdateGroupAddressRequest(GroupAddressEntry(group=7, member=0x7F)))
    assert answers[0].success and node.groups == []
    _nm(f, SetNodeModeRequest(NodeMode.OFFLINE), Service.ACKD)
    assert not node.application_online
    assert not read_segment(f.segment, sn=False, limit=120).ok  # offline: application messages dropped
    _nm(f, SetNodeModeRequest(NodeMode.ONLINE), Service.ACKD)
    assert read_segment(f.segment, sn=False, limit=120).ok
    answers = _nm(f, SetNodeModeRequest(NodeMode.CHANGE_STATE, NodeState.APPLICATION_UNCONFIGURED))
    assert answers == [NmResponse(0x6C, True)] and not node.configured
    answers = _nm(f, SetNodeModeRequest(NodeMode.CHANGE_STATE, 9))
    assert answers == [NmResponse(0x6C, False)]


def _discovered_feeder() -> Feeder:
    f = build_feeder(line(9, spacing_m=80.0, config=TopologyConfig(seed=3)), seed=3, configured=False)
    discover(f)
    return f


def test_discovery_finds_exactly_the_meters_and_commissions_each_once() -> None:
    f = _discovered_feeder()
    manager = f.manager
    assert manager is not None
    hops = f.topology.hops_from_root()
    assert sum(1 for h in hops[1:] if h is not None and h > 1) >= 3  # some only behind repeaters
    assert set(manager.meters) == {feeder_unique_id(m.index + 1) for m in f.segment.meters}
    assert all(
        r.state is MeterState.COMMISSIONED and r.commissioned_times == 1 for r in manager.meters.values()
    )
    assert max(len(r.via) for r in manager.meters.values()) >= 1
    for meter in f.segment.meters:  # commissioned over the air: domain, address, group, online
        node = meter.endpoint.stack.node
        domain = node.domains[0]
        assert domain is not None and (domain.subnet, domain.node) == (1, meter.address.destination_node)
        assert [g.group for g in node.groups] == [1] and node.application_online
    report = read_segment(f.segment)
    assert report.ok, [r.errors for r in report.reads]
    assert f.max_hops() >= 1


def test_decommission_and_back() -> None:
    f = _discovered_feeder()
    manager = f.manager
    assert manager is not None
    uid = feeder_unique_id(1)
    manager.mark_in_service(uid, f.segment.channel.now)
    manager.decommission(uid, f.segment.channel.now)
    run_exchange(f.segment.channel, [manager, *f.segment.endpoints()], until=lambda: manager.done, limit=600)
    assert manager.meters[uid].state is MeterState.DECOMMISSIONED
    assert not f.segment.meters[0].endpoint.stack.node.configured
    discover(f)  # unconfigured again: found again and the domain assigned again
    record = manager.meters[uid]
    states = [s for _, s in record.history]
    assert states[states.index(MeterState.DECOMMISSIONED) + 1] is MeterState.DISCOVERED
    domain = f.segment.meters[0].endpoint.stack.node.domains[0]
    assert domain is not None and (domain.subnet, domain.node) == (1, 2)
    assert all(r.commissioned_times == 1 for u, r in manager.meters.items() if u != uid)


def test_repeater_loss_reroutes() -> None:
    f = _discovered_feeder()
    now = f.segment.channel.now
    before = {m.address.destination_node: f.paths.route(m.address, now) or [] for m in f.segment.meters}
    lost = remove_repeaters(f, 1)
    assert lost
    lost_node = int(lost[0].split("/")[1])
    dependants = [n for n, r in before.items() if any(h.destination_node == lost_node for h in r)]
    assert dependants
    report = read_segment(f.segment, sn=False)
    ok = {int(r.address.split("/")[1]) for r in report.reads if not r.errors}
    assert lost_node not in ok
    assert set(dependants) & ok  # read through another repeater
    assert f.paths.switches >= 1
    routes = {n: f.paths.route(SubnetNodeAddress(1, n), f.segment.channel.now) or [] for n in ok}
    assert all(all(h.destination_node != lost_node for h in r) for r in routes.values())


def test_agent_is_an_adp_auxiliary() -> None:
    f = build_feeder(line(1, config=TopologyConfig(seed=1)), seed=1, configured=False)
    assert f.agents is not None and isinstance(f.agents[0], AtmAgent)
    assert f.agents[0] in f.segment.meters[0].endpoint.adp.auxiliaries
