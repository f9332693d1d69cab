"""Annex E repeating on simulated feeders: flows of Figures E.1-E.4, a DLMS read over 3 hops, failures
naming the hop, authentication through the chain, broadcast through repeaters, path switching.

Everything runs in simulated time on a seeded :class:`PowerLineChannel` whose links come from a
:mod:`~cosemnet.profiles.lon.topology` where each node hears only its neighbours.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from cosemnet.profiles.lon import ApplicationMessage, BroadcastAddress, ForeignFrame, Spdu, SubnetNodeAddress
from cosemnet.profiles.lon.channel import ChannelConfig, PowerLineChannel
from cosemnet.profiles.lon.dlms import LonConcentratorEndpoint, LonMeterEndpoint, run_exchange
from cosemnet.profiles.lon.frames import LonFrame
from cosemnet.profiles.lon.node import Domain, LonNode
from cosemnet.profiles.lon.paths import PathManager, qualities
from cosemnet.profiles.lon.preestablished import PUBLIC
from cosemnet.profiles.lon.proxy import (
    AgentMode,
    AgentPart,
    AlternateKey,
    HopAddress,
    ProxyAddressType,
    ProxyRequest,
    ProxyTarget,
    ProxyTxCtrl,
    RepeatingFailure,
    decode_outcome,
)
from cosemnet.profiles.lon.repeater import ProxyStack, RepeaterConfig, RouteProvider, StaticRoutes
from cosemnet.profiles.lon.stack import Completed, MessageReceived, NetworkHook, ResponseReceived, Service
from cosemnet.profiles.lon.topology import Topology, TopologyConfig, line
from cosemnet.simulator.lon_segment import MeterRead, fill_ln, ln_request
from cosemnet.simulator.osgp_meter import build_osgp_meter

DOMAIN = b"\x4c"
KEY = bytes.fromhex("0102030405a6")


class Capture(NetworkHook):
    def __init__(self) -> None:
        self.frames: list[LonFrame] = []

    def outbound(self, stack: object, frame: LonFrame) -> LonFrame | None:
        self.frames.append(frame)
        return frame


@dataclass
class Feeder:
    channel: PowerLineChannel
    stacks: list[ProxyStack]
    capture: Capture

    def address(self, i: int) -> SubnetNodeAddress:
        return SubnetNodeAddress(1, i + 1)

    def run(self, seconds: float = 60.0) -> None:
        self.channel.run_until(self.channel.now + seconds)

    def cut(self, station: int) -> None:
        """The node at ``station`` disappears from the feeder (every link dropped)."""
        for other in range(len(self.stacks)):
            if other != station:
                self.channel.unlink(station, other)


def feeder(topology: Topology, routes: RouteProvider | None = None, seed: int = 1, **cfg: object) -> Feeder:
    capture = Capture()
    channel = PowerLineChannel(ChannelConfig(auto_link=False), seed=seed)
    stacks = []
    for i in range(len(topology)):
        node = LonNode(bytes((0x4C, 0, 0, 0, 0, i)), domains=[Domain(DOMAIN, 1, i + 1, KEY)])
        node.non_group_receive_timer = 15  # receive records outlive the chain (decision 0070)
        stack = ProxyStack(
            node,
            hook=capture,
            routes=routes if i == 0 else None,
            repeater=RepeaterConfig(**cfg),  # type: ignore[arg-type]
        )
        stacks.append(stack)
        channel.attach(stack)
    topology.apply(channel)
    return Feeder(channel, stacks, capture)


def chain(*nodes: int) -> list[SubnetNodeAddress]:
    return [SubnetNodeAddress(1, n) for n in nodes]


def far_line(count: int = 4) -> Topology:
    return line(count, spacing_m=400.0, config=TopologyConfig(seed=2))


def test_unacknowledged_and_acknowledged_flows_over_three_repeaters() -> None:
    """Figures E.1 / E.2: the target receives the message from the agent, the source the 0x4D success."""
    f = feeder(far_line(), StaticRoutes({(1, 5): chain(2, 3, 4)}))
    handle = f.stacks[0].send(
        f.address(4), ApplicationMessage(0x10, b"hello"), Service.ACKD, now=f.stacks[0].now
    )
    f.run()
    assert f.stacks[0].pop_events() == [Completed(handle, True)]
    (got,) = [e for e in f.stacks[4].pop_events() if isinstance(e, MessageReceived)]
    assert (got.source_subnet, got.source_node, got.apdu) == (1, 4, ApplicationMessage(0x10, b"hello"))
    relayed = [s.proxy_statistics.relayed for s in f.stacks]
    assert relayed == [0, 1, 1, 0, 0] and f.stacks[3].proxy_statistics.agent_sends == 1
    # what each hop put on the wire: the header count goes 2, 1, 0 and the TxCtrl disappears at the end
    counts = []
    for fr in f.capture.frames:
        pdu = fr.npdu.pdu
        if isinstance(pdu, Spdu) and isinstance(pdu.apdu, ForeignFrame) and pdu.apdu.data:
            counts.append(ProxyRequest.from_apdu(pdu.apdu).header.count)
    assert sorted(set(counts), reverse=True) == [2, 1, 0]


def test_request_response_relayed_unchanged() -> None:
    """Figure E.2: the target's response comes back to the source as the response to its request."""
    f = feeder(far_line(), StaticRoutes({(1, 5): chain(2, 3, 4)}))
    handle = f.stacks[0].send(
        f.address(4), ApplicationMessage(0x10, b"q"), Service.REQUEST, now=f.stacks[0].now
    )
    for _ in range(400):
        f.channel.run_until(f.channel.now + 0.05)
        for event in f.stacks[4].pop_events():
            if isinstance(event, MessageReceived) and event.request_id:
                f.stacks[4].respond(
                    event.request_id, ApplicationMessage(0x11, b"answer"), now=f.stacks[4].now
                )
    events = f.stacks[0].pop_events()
    assert ResponseReceived(handle, 1, 5, ApplicationMessage(0x11, b"answer")) in events
    assert Completed(handle, True) in events


def test_error_during_request_names_the_hop() -> None:
    """Figure E.3: node 1/3 cannot reach 1/4: the failure 0x4C carries 1/3's count (1)."""
    routes = StaticRoutes({(1, 5): chain(2, 3, 4)})
    f = feeder(far_line(), routes, max_route_attempts=1)
    f.cut(3)
    handle = f.stacks[0].send(f.address(4), ApplicationMessage(0x10, b"x"), Service.ACKD, now=f.stacks[0].now)
    f.run(90)
    assert f.stacks[0].pop_events() == [Completed(handle, False)]
    (failure,) = f.stacks[0].failures
    assert (failure.count, failure.broken_after, failure.retrying) == (1, SubnetNodeAddress(1, 3), False)
    assert routes.reports[-1][2] == 2  # the link from route node 2 (1/3) to the next one broke
    assert f.stacks[2].proxy_statistics.failures_sent == 1
    # the agent itself failing names count 0, the source's own first link no count at all
    f2 = feeder(far_line(), StaticRoutes({(1, 5): chain(2, 3, 4)}), max_route_attempts=1)
    f2.cut(4)
    f2.stacks[0].send(f2.address(4), ApplicationMessage(0x10, b"x"), Service.ACKD, now=f2.stacks[0].now)
    f2.run(90)
    assert [(x.count, x.broken_after) for x in f2.stacks[0].failures] == [(0, SubnetNodeAddress(1, 4))]
    f3 = feeder(far_line(), StaticRoutes({(1, 5): chain(2, 3, 4)}), max_route_attempts=1)
    f3.cut(1)
    f3.stacks[0].send(f3.address(4), ApplicationMessage(0x10, b"x"), Service.ACKD, now=f3.stacks[0].now)
    f3.run(90)
    assert [(x.count, x.broken_after) for x in f3.stacks[0].failures] == [(None, None)]


def test_error_during_response_is_recovered_by_the_retry() -> None:
    """Figure E.4: the first response from the target is lost; the agent's retry gets it again."""
    f = feeder(far_line(), StaticRoutes({(1, 5): chain(2, 3, 4)}))
    f.channel.set_loss(4, 3, 1.0)  # 1/5 -> 1/4 dead for a while
    handle = f.stacks[0].send(f.address(4), ApplicationMessage(0x10, b"x"), Service.ACKD, now=f.stacks[0].now)
    f.channel.run_until(f.channel.now + 1.2)
    f.channel.set_loss(4, 3, 0.0)
    f.run()
    assert f.stacks[0].pop_events() == [Completed(handle, True)]
    assert f.stacks[3].statistics.transmit_tx_retries >= 1


def test_timers_widen_upstream() -> None:
    """E.3.4: each node upstream waits longer on its last try than the one after it."""
    f = feeder(far_line(), StaticRoutes({(1, 5): chain(2, 3, 4)}), max_route_attempts=1)
    f.cut(4)
    f.stacks[0].send(f.address(4), ApplicationMessage(0x10, b"x"), Service.ACKD, now=f.stacks[0].now)
    f.run(90)
    (failure,) = f.stacks[0].failures
    assert failure.count == 0  # the agent's failure arrived before any upstream node gave up


def test_dlms_register_read_over_three_hops() -> None:
    """The concentrator reads 1-0:1.8.0 from a meter behind 3 repeaters over the public association."""
    f = feeder(far_line(), StaticRoutes({(1, 5): chain(2, 3, 4)}))
    concentrator = LonConcentratorEndpoint(f.stacks[0])
    osgp = build_osgp_meter(f.stacks[4], serial=5)
    meter = LonMeterEndpoint(f.stacks[4], [osgp.served])
    others = [
        LonMeterEndpoint(s, [build_osgp_meter(s, serial=i + 1).served]) for i, s in enumerate(f.stacks[1:4])
    ]
    link = concentrator.add_meter(f.address(4), pre_established=PUBLIC)
    link.submit(ln_request)
    run_exchange(f.channel, [concentrator, meter, *others], limit=600)
    read = MeterRead("1/5", "m")
    fill_ln(read, link.results)
    assert read.errors == [] and read.energy is not None and read.unit == 30
    assert f.stacks[0].proxy_statistics.repeated_sends >= 1
    assert all(s.proxy_statistics.relayed >= 1 for s in f.stacks[1:3])
    assert f.stacks[3].proxy_statistics.agent_sends >= 1
    assert f.stacks[4].proxy_statistics.uplink_responses >= 1  # the GET response rode on a RESPONSE


def test_authentication_through_the_chain_and_alternate_key() -> None:
    """E.3.7: every hop inherits the auth bit and challenges; a wrong alternate key at the agent is an
    authentication failure named at count 0."""
    f = feeder(far_line(2), StaticRoutes({(1, 3): chain(2)}))
    handle = f.stacks[0].send(
        f.address(2), ApplicationMessage(0x10, b"a"), Service.ACKD, auth=True, now=f.stacks[0].now
    )
    f.run()
    assert f.stacks[0].pop_events() == [Completed(handle, True)]
    assert f.stacks[1].statistics.challenges_sent >= 1 and f.stacks[2].statistics.challenges_sent >= 1
    (got,) = [e for e in f.stacks[2].pop_events() if isinstance(e, MessageReceived)]
    assert got.authenticated
    # a proxy request by hand with an alternate key the target does not share
    target = ProxyTarget(ProxyAddressType.SUBNET_NODE, subnet=1, node=3)
    agent = AgentPart(
        target,
        ApplicationMessage(0x10, b"b"),
        Service.ACKD,
        AgentMode.ALTERNATE_KEY,
        tx_ctrl=ProxyTxCtrl(1, 10),
        alternate_key=AlternateKey(bytes([1] * 6)),
    )
    h = f.stacks[0].send(
        f.address(1), ProxyRequest(agent).to_apdu(), Service.REQUEST, auth=True, now=f.stacks[0].now
    )
    f.run()
    (response,) = [e for e in f.stacks[0].pop_events() if isinstance(e, ResponseReceived) and e.handle == h]
    outcome = decode_outcome(response.apdu)
    assert outcome == RepeatingFailure(0, authentication=True)
    assert f.stacks[2].statistics.authentication_failures >= 1
    # the target configured with that alternate key accepts it
    node = f.stacks[2].node
    assert node.domains[0] is not None
    node.domains[0] = Domain(DOMAIN, 1, 3, AlternateKey(bytes([1] * 6)).apply(KEY))
    h = f.stacks[0].send(
        f.address(1), ProxyRequest(agent).to_apdu(), Service.REQUEST, auth=True, now=f.stacks[0].now
    )
    f.run()
    (response,) = [e for e in f.stacks[0].pop_events() if isinstance(e, ResponseReceived) and e.handle == h]
    assert response.apdu.encode() == b"\x4d"


def test_broadcast_through_repeaters_reaches_every_neighbourhood() -> None:
    """E.3.9: with all_agents every repeater also sends the target message to its neighbours."""
    f = feeder(far_line(), None)
    agent = AgentPart(
        ProxyTarget.for_address(BroadcastAddress(0)), ApplicationMessage(0x12, b"bc"), Service.UNACKD
    )
    request = ProxyRequest(agent, [], None, all_agents=True)
    request.hops = [HopAddress(3), HopAddress(4)]
    request.tx_ctrl = ProxyTxCtrl(2, 10)
    request.uniform_by_dest = True
    f.stacks[0].send(f.address(1), request.to_apdu(), Service.REQUEST, now=f.stacks[0].now)
    f.run()
    heard = [
        any(
            isinstance(e, MessageReceived) and e.apdu == ApplicationMessage(0x12, b"bc")
            for e in s.pop_events()
        )
        for s in f.stacks
    ]
    assert heard == [True, True, True, True, True]  # the concentrator hears the first repeater's copy


def learn(f: Feeder, manager: PathManager, pins: int = 3) -> None:
    """Every node sends service pins; each neighbour table becomes link observations."""
    for _ in range(pins):
        for stack in f.stacks:
            stack.service_pin(f.channel.now)
            f.channel.run_until(f.channel.now + 1.0)
    sent = {(1, i + 1): s.statistics.frames_sent for i, s in enumerate(f.stacks)}
    for i, stack in enumerate(f.stacks):
        manager.observe_table((1, i + 1), qualities(stack.heard, sent), f.channel.now)


def test_path_learned_then_switched_after_a_repeater_is_lost() -> None:
    """Two parallel feeders to the far meter; the concentrator learns both, uses the shorter/better
    one, and after its repeater disappears, the failure makes it retry on the other path."""
    config = TopologyConfig(seed=4, noise_sd_db=0.0)
    # dc -> a(1/2) -> target(1/4); dc -> b(1/3) -> target: two branches meeting at the target via extra links
    topology = Topology(["dc", "a", "b", "t"], [None, 0, 0, 1], [0.0, 400.0, 420.0, 400.0], config)
    f = feeder(topology, None)
    f.channel.link(2, 3, 0.0)  # b also hears t (a second feeder section)
    manager = PathManager((1, 1))
    for stack in f.stacks[:1]:
        stack.routes = manager
    learn(f, manager)
    assert manager.route(f.address(3), f.channel.now) == chain(2)
    f.cut(1)
    handle = f.stacks[0].send(f.address(3), ApplicationMessage(0x10, b"x"), Service.ACKD, now=f.stacks[0].now)
    f.run(120)
    assert Completed(handle, True) in f.stacks[0].pop_events()
    (failure,) = f.stacks[0].failures
    assert failure.retrying and failure.route == tuple(chain(2))
    assert manager.route(f.address(3), f.channel.now) == chain(3)
    assert manager.switches == 1


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=60), st.sampled_from([Service.REQUEST, Service.ACKD, Service.UNACKD]))
def test_hostile_proxy_data_never_crashes_a_repeater(data: bytes, service: Service) -> None:
    """Whatever follows the 0x4D code, a repeater forwards it, answers 0x4C, or drops it: no exception,
    and nothing left pending once the channel is quiet."""
    f = feeder(far_line(2), None)
    f.stacks[0].send(f.address(1), ForeignFrame(0x4D, data), service, now=f.stacks[0].now)
    f.run(1800)  # a hostile ProxyTxCtrl may ask for long timers and many retries on every hop
    repeater = f.stacks[1]
    stats = repeater.proxy_statistics
    handled = stats.malformed + stats.relayed + stats.agent_sends + stats.failures_sent + stats.polls
    assert handled >= 1
    assert not repeater.busy() and not f.stacks[0].busy()


def test_relay_table_is_bounded() -> None:
    """More proxy transactions than ``max_relays`` at once: the extra one is answered 0x4C at once."""
    f = feeder(far_line(2), None, max_relays=1)
    target = ProxyTarget(ProxyAddressType.SUBNET_NODE, subnet=1, node=3)
    slow = AgentPart(target, ApplicationMessage(0x10, b"s"), Service.ACKD, tx_ctrl=ProxyTxCtrl(5, 15))
    f.cut(2)  # the agent's target is gone: its transaction runs all its retries
    first, second = (
        f.stacks[0].send(
            f.address(1),
            ProxyRequest(slow).to_apdu(),
            Service.REQUEST,
            priority=p,
            retry_count=7,
            tx_timer=15,
            now=f.stacks[0].now,
        )
        for p in (False, True)
    )
    f.run(120)
    responses = {e.handle: e.apdu for e in f.stacks[0].pop_events() if isinstance(e, ResponseReceived)}
    assert decode_outcome(responses[second]) == RepeatingFailure(0)
    assert decode_outcome(responses[first]) == RepeatingFailure(0)
    assert f.stacks[1].proxy_statistics.refused == 1
