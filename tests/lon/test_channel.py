"""The simulated power-line channel: airtime, topology, loss, CSMA, collisions, hidden nodes, determinism."""

from __future__ import annotations

import pytest

from cosemnet.profiles.lon import ApplicationMessage, BroadcastAddress, SubnetNodeAddress
from cosemnet.profiles.lon.channel import ChannelConfig, PowerLineChannel
from cosemnet.profiles.lon.node import LonNode
from cosemnet.profiles.lon.stack import LonStack, MessageReceived, Service

DOMAIN = b"\x42"


def node(i: int) -> LonStack:
    return LonStack(LonNode.configured_in(bytes((1, 0, 0, 0, 0, i)), DOMAIN, 1, i))


def got(stack: LonStack) -> list[MessageReceived]:
    return [e for e in stack.pop_events() if isinstance(e, MessageReceived)]


def test_airtime_is_bits_over_rate_with_per_frame_overhead() -> None:
    ch = PowerLineChannel()
    assert ch.airtime(20) == pytest.approx((160 + 40) / 5400)
    ch2 = PowerLineChannel(ChannelConfig(bit_rate=3600, overhead_bits=0))
    assert ch2.airtime(9) == pytest.approx(72 / 3600)


def test_single_frame_statistics_and_utilisation() -> None:
    a, b = node(1), node(2)
    ch = PowerLineChannel()
    ch.attach(a)
    ch.attach(b)
    a.send(SubnetNodeAddress(1, 2), ApplicationMessage(0x10, b"x" * 10), Service.UNACKD, now=a.now)
    ch.run_until(1.0)
    size = len(a_frame_bytes(10))
    stats = ch.statistics
    assert (stats.frames, stats.bytes, stats.deliveries, stats.collisions) == (1, size, 1, 0)
    assert stats.airtime == pytest.approx(ch.airtime(size))
    assert stats.utilisation(1.0) == pytest.approx(ch.airtime(size))
    (msg,) = got(b)
    assert msg.apdu == ApplicationMessage(0x10, b"x" * 10)


def a_frame_bytes(n: int) -> bytes:
    from cosemnet.profiles.lon import LonFrame, Npdu

    return LonFrame(Npdu(1, 1, SubnetNodeAddress(1, 2), ApplicationMessage(0x10, b"x" * n), DOMAIN)).encode()


def same_slot_config(**kw: object) -> ChannelConfig:
    """A degenerate MAC where every node picks the same slot: collisions are certain."""
    return ChannelConfig(priority_slots=1, window_slots=1, **kw)  # type: ignore[arg-type]


def test_two_nodes_transmitting_at_once_are_both_lost_at_a_common_receiver() -> None:
    a, b, c = node(1), node(2), node(3)
    ch = PowerLineChannel(same_slot_config())
    for s in (a, b, c):
        ch.attach(s)
    a.send(SubnetNodeAddress(1, 3), ApplicationMessage(0x10, b"from a"), Service.UNACKD, now=a.now)
    b.send(SubnetNodeAddress(1, 3), ApplicationMessage(0x10, b"from b"), Service.UNACKD, now=b.now)
    ch.run_until(1.0)
    assert got(c) == []
    assert c.statistics.transmission_errors == 2
    assert ch.statistics.collided_frames == 2
    assert ch.statistics.collisions == 4  # at C twice, and A and B were transmitting (half duplex)
    assert ch.statistics.busy_time < ch.statistics.airtime  # they overlapped


def test_carrier_sense_serialises_nodes_that_hear_each_other() -> None:
    a, b, c = node(1), node(2), node(3)
    ch = PowerLineChannel(seed=1)
    for s in (a, b, c):
        ch.attach(s)
    a.send(SubnetNodeAddress(1, 3), ApplicationMessage(0x10, b"from a"), Service.UNACKD, now=a.now)
    b.send(SubnetNodeAddress(1, 3), ApplicationMessage(0x10, b"from b"), Service.UNACKD, now=b.now)
    ch.run_until(1.0)
    assert sorted(m.apdu.encode() for m in got(c)) == [b"\x10from a", b"\x10from b"]
    assert ch.statistics.collisions == 0 and ch.statistics.deferrals == 1
    assert ch.statistics.busy_time == pytest.approx(ch.statistics.airtime)


def test_hidden_nodes_collide_at_the_node_between_them() -> None:
    a, b, c = node(1), node(2), node(3)
    ch = PowerLineChannel(ChannelConfig(auto_link=False), seed=2)
    for s in (a, b, c):
        ch.attach(s)
    ch.link(0, 1)  # A - B
    ch.link(2, 1)  # C - B; A and C cannot hear each other
    assert not ch.hears(2, 0) and ch.hears(1, 0)
    a.send(SubnetNodeAddress(1, 2), ApplicationMessage(0x10, b"from a" * 4), Service.UNACKD, now=a.now)
    c.send(SubnetNodeAddress(1, 2), ApplicationMessage(0x10, b"from c" * 4), Service.UNACKD, now=c.now)
    ch.run_until(1.0)
    assert got(b) == []
    assert ch.statistics.collisions == 2 and ch.statistics.deferrals == 0


def test_hidden_nodes_with_equal_timers_keep_colliding() -> None:
    a, b, c = node(1), node(2), node(3)
    ch = PowerLineChannel(ChannelConfig(auto_link=False), seed=2)
    for s in (a, b, c):
        ch.attach(s)
    ch.link(0, 1)
    ch.link(2, 1)
    a.send(SubnetNodeAddress(1, 2), ApplicationMessage(0x10, b"from a" * 4), now=a.now)
    c.send(SubnetNodeAddress(1, 2), ApplicationMessage(0x10, b"from c" * 4), now=c.now)
    ch.run_until_idle()
    assert got(b) == [] and ch.statistics.collisions == 8  # 4 tries each, all overlapping at B
    assert a.statistics.transmit_tx_failure == c.statistics.transmit_tx_failure == 1


def test_hidden_node_collisions_are_recovered_by_retries() -> None:
    a, b, c = node(1), node(2), node(3)
    ch = PowerLineChannel(ChannelConfig(auto_link=False), seed=2)
    for s in (a, b, c):
        ch.attach(s)
    ch.link(0, 1)
    ch.link(2, 1)
    # hidden nodes with equal transmit timers retry in lock step and keep colliding; different timers
    # let the retries drift apart
    a.send(SubnetNodeAddress(1, 2), ApplicationMessage(0x10, b"from a" * 4), tx_timer=11, now=a.now)
    c.send(SubnetNodeAddress(1, 2), ApplicationMessage(0x10, b"from c" * 4), tx_timer=10, now=c.now)
    ch.run_until_idle()
    assert len(got(b)) == 2
    assert ch.statistics.collisions >= 2
    assert a.statistics.transmit_tx_retries + c.statistics.transmit_tx_retries >= 1


def test_distance_based_topology() -> None:
    stacks = [node(i) for i in (1, 2, 3)]
    ch = PowerLineChannel(ChannelConfig(range_m=100.0))
    for s, x in zip(stacks, (0.0, 80.0, 160.0), strict=True):
        ch.attach(s, (x, 0.0))
    assert ch.hears(1, 0) and ch.hears(2, 1) and not ch.hears(2, 0)
    stacks[0].send(BroadcastAddress(0), ApplicationMessage(0x10, b"hi"), Service.UNACKD, now=stacks[0].now)
    ch.run_until(1.0)
    assert len(got(stacks[1])) == 1 and got(stacks[2]) == []


def test_link_loss_is_counted_and_validated() -> None:
    a, b = node(1), node(2)
    ch = PowerLineChannel(ChannelConfig(default_loss=1.0))
    ch.attach(a)
    ch.attach(b)
    a.send(SubnetNodeAddress(1, 2), ApplicationMessage(0x10, b"x"), Service.UNACKD, now=a.now)
    ch.run_until(1.0)
    assert ch.statistics.losses == 1 and got(b) == []
    with pytest.raises(ValueError):
        ch.link(0, 1, 1.5)
    ch.unlink(0, 1)
    with pytest.raises(KeyError):
        ch.set_loss(0, 1, 0.5)


def run_busy_network(seed: int) -> tuple[tuple[int, ...], float]:
    stacks = [node(i) for i in range(1, 7)]
    ch = PowerLineChannel(seed=seed)
    for s in stacks:
        ch.attach(s)
    for k in range(10):
        for i, s in enumerate(stacks):
            s.send(SubnetNodeAddress(1, (i + 1) % 6 + 1), ApplicationMessage(0x10, bytes((k,))), now=s.now)
    ch.run_until_idle()
    st = ch.statistics
    delivered = sum(len(got(s)) for s in stacks)
    return (st.frames, st.bytes, st.collisions, st.deferrals, delivered), ch.now


def test_deterministic_with_a_seed() -> None:
    first = run_busy_network(3)
    assert first == run_busy_network(3)
    others = {run_busy_network(seed) for seed in (4, 5, 6)}
    assert any(o != first for o in others)
    (frames, _, collisions, deferrals, delivered), _ = first
    assert delivered == 60  # contention, backlog and retries get everything through
    assert deferrals > 0
    assert frames >= 120 + collisions // 4


def test_backlog_widens_the_window_after_a_broadcast_with_high_delta_backlog() -> None:
    stacks = [node(i) for i in range(1, 5)]
    ch = PowerLineChannel(seed=1)
    for s in stacks:
        ch.attach(s)
    stacks[0].send(
        BroadcastAddress(0),
        ApplicationMessage(0x10, b"poll"),
        Service.REQUEST,
        retry_count=0,
        now=stacks[0].now,
    )
    ch.run_until(0.3)
    # every receiver added the broadcast's delta backlog (15) and took one off for the frame cycle
    assert [st.backlog for st in ch._stations[1:]] == [15, 15, 15]
    assert ch._stations[0].backlog == 1
