"""Re-routing after repeater loss on a simulated feeder (issue 11, ``--inject repeater-loss=K``): after
the K most-used repeaters lose every link, every meter that the *topology* (not the concentrator's path
table) still connects to the concentrator over links with FER <= 0.5 both ways is read, and the meters
cut off are reported as unreachable (a failed read), never dropped. Simulated time, deterministic."""

from __future__ import annotations

import pytest

from cosemnet.cli.lon_feeder import Feeder, build_feeder, discover, read_feeder, relearn
from cosemnet.cli.sim_lon_feeder import MUST_READ_FER, cut_off, feeder_topology, remove_repeaters
from cosemnet.profiles.lon.topology import Topology, TopologyConfig, line
from cosemnet.simulator.lon_segment import SegmentReport, address_text


def _after_loss(topology: Topology, seed: int, loss: int) -> tuple[Feeder, SegmentReport, list[str]]:
    feeder = build_feeder(topology, seed=seed, configured=False)
    manager = discover(feeder)
    assert len(manager.meters) == len(feeder.segment.meters)
    first = read_feeder(feeder)
    assert first.ok, [(r.address, r.errors) for r in first.reads if r.errors]
    lost = remove_repeaters(feeder, loss)
    assert len(lost) == loss
    return feeder, read_feeder(feeder), lost


def _check(feeder: Feeder, report: SegmentReport, lost: list[str]) -> None:
    gone = [m.address for m in feeder.segment.meters if address_text(m.address) in lost]
    may_miss = set(cut_off(feeder, gone, MUST_READ_FER))
    assert set(lost) <= may_miss
    assert [r.address for r in report.reads] == [address_text(m.address) for m in feeder.segment.meters]
    failed = {r.address for r in report.reads if r.errors}
    assert failed <= may_miss, (failed - may_miss, lost)  # every meter still reachable was read
    assert set(cut_off(feeder, gone)) <= failed  # the cut-off ones are reported, not dropped


@pytest.mark.parametrize("seed", range(4))
def test_line_every_reachable_meter_read_after_a_repeater_is_lost(seed: int) -> None:
    feeder, report, lost = _after_loss(feeder_topology("line", 12, seed), seed, 1)
    _check(feeder, report, lost)
    assert feeder.paths.switches >= 1


@pytest.mark.parametrize("seed", range(2))
def test_tree_every_reachable_meter_read_after_a_repeater_is_lost(seed: int) -> None:
    topology = feeder_topology("tree", 24, seed)
    assert max(h for h in topology.hops_from_root() if h is not None) >= 2
    feeder, report, lost = _after_loss(topology, seed, 1)
    _check(feeder, report, lost)


def test_meters_behind_a_lost_repeater_on_a_chain_are_reported_unreachable() -> None:
    # 400 m spans: each meter hears only its neighbours, so losing the first repeater cuts off the rest
    topology = line(4, spacing_m=400.0, config=TopologyConfig(seed=1))
    assert topology.hops_from_root() == [0, 1, 2, 3, 4]
    feeder, report, lost = _after_loss(topology, 1, 1)
    assert lost == ["1/2"]
    _check(feeder, report, lost)
    assert {r.address for r in report.reads if r.errors} == {"1/2", "1/3", "1/4", "1/5"}
    assert all(r.errors for r in report.reads)


def test_reroute_is_deterministic() -> None:
    runs = [_after_loss(feeder_topology("line", 8, 2), 2, 1) for _ in range(2)]
    (a, ra, la), (b, rb, lb) = runs
    assert la == lb
    assert [r.to_json() for r in ra.reads] == [r.to_json() for r in rb.reads]
    assert a.segment.channel.now == b.segment.channel.now
    assert [f.encode() for f in a.segment.capture.frames] == [f.encode() for f in b.segment.capture.frames]


def test_relearn_collects_the_tables_again_without_the_forgotten_repeater() -> None:
    feeder = build_feeder(feeder_topology("line", 8, 3), seed=3, configured=False)
    manager = discover(feeder)
    lost = feeder.segment.meters[2].address
    key = (lost.destination_subnet, lost.destination_node)
    feeder.paths.forget(key)
    reports = manager.statistics.neighbour_reports
    before = feeder.segment.channel.now
    relearn(feeder)
    assert manager.statistics.neighbour_reports >= reports + 7  # every meter but the forgotten one
    assert key in feeder.paths.relearn and all(key not in link for link in feeder.paths.links)
    fresh = {a for (a, b), link in feeder.paths.links.items() if link.seen > before}
    others = {(m.address.destination_subnet, m.address.destination_node) for m in feeder.segment.meters}
    assert others - {key} <= fresh  # every other meter's links observed again
