"""The power-line topology model: attenuation, noise, frame error rate, neighbours only, determinism."""

from __future__ import annotations

from pathlib import Path

import pytest

from cosemnet.profiles.lon import ApplicationMessage, BroadcastAddress
from cosemnet.profiles.lon.channel import ChannelConfig, PowerLineChannel
from cosemnet.profiles.lon.node import LonNode
from cosemnet.profiles.lon.stack import LonStack, MessageReceived, Service
from cosemnet.profiles.lon.topology import (
    Topology,
    TopologyConfig,
    bit_error_rate,
    build_topology,
    frame_error_rate,
    line,
    load_topology,
    tree,
)

DOMAIN = b"\x42"


def stacks(n: int) -> list[LonStack]:
    return [
        LonStack(LonNode.configured_in(bytes((1, 0, 0, 0, 0, i + 1)), DOMAIN, 1, i + 1)) for i in range(n)
    ]


def test_error_rates_fall_with_snr_and_grow_with_frame_length() -> None:
    assert bit_error_rate(0.0) > bit_error_rate(6.0) > bit_error_rate(12.0)
    assert frame_error_rate(8.0, 512) > frame_error_rate(8.0, 64)
    assert frame_error_rate(30.0, 512) < 1e-9
    assert frame_error_rate(0.0, 512) > 0.999


def test_attenuation_counts_cable_and_taps_between() -> None:
    config = TopologyConfig(db_per_m=0.1, tap_loss_db=2.0, noise_sd_db=0.0)
    t = line(3, spacing_m=100.0, config=config)
    assert t.attenuation_db(0, 1) == pytest.approx(10.0)
    assert t.attenuation_db(0, 3) == pytest.approx(30.0 + 2 * 2.0)
    assert t.attenuation_db(3, 0) == t.attenuation_db(0, 3)
    branchy = Topology(["r", "a", "b"], [None, 0, 0], [0.0, 50.0, 70.0], config)
    assert branchy.attenuation_db(1, 2) == pytest.approx(12.0 + 2.0)  # through the root


def test_a_node_hears_only_its_neighbours_on_a_long_line() -> None:
    t = line(4, spacing_m=400.0)
    assert [t.neighbours(i) for i in range(5)] == [[1], [0, 2], [1, 3], [2, 4], [3]]
    assert t.hops_from_root() == [0, 1, 2, 3, 4]


def test_line_and_tree_generators_need_repeaters_for_far_meters() -> None:
    hops = line(30).hops_from_root()
    assert all(h is not None for h in hops)
    assert sum(1 for h in hops[1:] if h is not None and h > 1) >= 10  # a third or more need repeating
    assert max(h for h in hops if h is not None) <= 4
    t = tree(30, branches=3)
    assert len(t) == 31 and t.parents[1:4] == [0, 1, 2]


def test_noise_is_seeded_and_makes_links_asymmetric() -> None:
    a = line(10, config=TopologyConfig(seed=5))
    b = line(10, config=TopologyConfig(seed=5))
    c = line(10, config=TopologyConfig(seed=6))
    assert a.noise == b.noise and a.links() == b.links()
    assert a.noise != c.noise
    assert a.snr_db(1, 2) != a.snr_db(2, 1)


def test_applied_topology_limits_who_hears_a_broadcast() -> None:
    nodes = stacks(4)
    ch = PowerLineChannel(ChannelConfig(auto_link=False), seed=1)
    for s in nodes:
        ch.attach(s)
    line(3, spacing_m=400.0).apply(ch)
    nodes[1].send(BroadcastAddress(0), ApplicationMessage(0x10, b"hi"), Service.UNACKD, now=nodes[1].now)
    ch.run_until(2.0)
    heard = [any(isinstance(e, MessageReceived) for e in s.pop_events()) for s in nodes]
    assert heard == [True, False, True, False]
    assert ch.hears(0, 1) and not ch.hears(3, 1)


def test_flat_channel_still_links_everybody() -> None:
    ch = PowerLineChannel()
    for s in stacks(3):
        ch.attach(s)
    assert all(ch.hears(a, b) for a in range(3) for b in range(3) if a != b)


def test_toml_topology(tmp_path: Path) -> None:
    spec = tmp_path / "feeder.toml"
    spec.write_text(
        "seed = 3\n[model]\ndb_per_m = 0.1\nnoise_sd_db = 0\n"
        '[[node]]\nname = "dc"\n[[node]]\nname = "m1"\nparent = "dc"\ndistance_m = 100\n'
        '[[node]]\nname = "m2"\nparent = "m1"\ndistance_m = 100\n'
        '[[link]]\na = "dc"\nb = "m1"\nextra_db = 5\n'
    )
    t = load_topology(spec)
    assert t.names == ["dc", "m1", "m2"] and t.config.seed == 3
    assert t.attenuation_db(0, 1) == pytest.approx(15.0)
    assert t.attenuation_db(1, 2) == pytest.approx(10.0)
    assert build_topology(str(spec), 0).names == t.names
    bad = tmp_path / "bad.toml"
    bad.write_text('[[node]]\nname = "a"\nparent = "b"\n')
    with pytest.raises(ValueError):
        load_topology(bad)
    with pytest.raises(ValueError):
        Topology(["a", "b"], [None, 5], [0.0, 1.0])
