"""A whole simulated feeder: meters on a line, a third or more out of direct reach; the concentrator
learns the paths, reads every meter (LN and SN) through repeaters, and re-routes when a repeater is lost.
Deterministic: the same seed gives the same frames."""

from __future__ import annotations

from cosemnet.cli.lon_feeder import Feeder, build_feeder, learn_paths
from cosemnet.profiles.lon.topology import TopologyConfig, line
from cosemnet.simulator.lon_segment import read_segment


def feeder(seed: int = 3, count: int = 9) -> Feeder:
    topology = line(count, spacing_m=80.0, config=TopologyConfig(seed=seed))
    f = build_feeder(topology, seed=seed)
    learn_paths(f)
    return f


def test_every_meter_read_with_repeating_where_needed() -> None:
    f = feeder()
    hops = f.topology.hops_from_root()
    assert sum(1 for h in hops[1:] if h is not None and h > 1) >= 3  # out of direct reach
    report = read_segment(f.segment, limit=3600)
    assert report.ok, [r.errors for r in report.reads]
    assert all(r.energy is not None and r.bt23_summations for r in report.reads)
    assert f.max_hops() >= 1
    assert f.segment.concentrator.stack.proxy_statistics.repeated_sends >= 3  # type: ignore[attr-defined]


def test_reroute_after_a_repeater_is_lost() -> None:
    f = feeder()
    read_segment(f.segment, sn=False, limit=3600)
    now = f.segment.channel.now
    used = {
        (h.destination_subnet, h.destination_node)
        for m in f.segment.meters
        for h in f.paths.route(m.address, now) or []
    }
    assert used
    lost = min(used, key=lambda a: a[1])
    station = lost[1] - 1  # meter i (station i + 1) is node i + 2
    for other in range(len(f.topology)):
        if other != station:
            f.segment.channel.unlink(station, other)
    report = read_segment(f.segment, sn=False, limit=3600)
    failed = {r.address for r in report.reads if r.errors}
    assert failed == {f"{lost[0]}/{lost[1]}"}  # only the lost repeater itself; the others re-routed
    assert f.paths.switches >= 1
    now = f.segment.channel.now
    # the lost node's failed direct read already penalised its link (or a repeating failure named it)
    for m in f.segment.meters:
        route = f.paths.route(m.address, now) or []
        assert m.address.destination_node == lost[1] or lost not in [
            (h.destination_subnet, h.destination_node) for h in route
        ]


def test_deterministic() -> None:
    a, b = feeder(seed=5, count=6), feeder(seed=5, count=6)
    read_segment(a.segment, sn=False)
    read_segment(b.segment, sn=False)
    assert [f.encode() for f in a.segment.capture.frames] == [f.encode() for f in b.segment.capture.frames]
    assert a.segment.channel.now == b.segment.channel.now
