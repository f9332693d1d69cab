"""``cosemnet sim lon --topology line|tree|FILE``: a power-line feeder where meters hear only their
neighbours. The meters start unconfigured; the concentrator's Annex F ATM manager discovers them (through
repeaters where needed), commissions them and collects their neighbour tables
(:func:`cosemnet.cli.lon_feeder.discover`, docs/decisions/0072); then it reads every meter, repeating
where needed (meters whose read failed are read again, :func:`~cosemnet.cli.lon_feeder.read_feeder`).
``--inject repeater-loss=K`` removes the K repeaters the concentrator's routes use most (all their links)
after the first round and reads again: the concentrator must re-route. The summary lists the meters the
concentrator could not read (``unreachable``) next to those the topology says are cut off (``cut_off``:
the lost repeaters and the meters with no link path left, :func:`cut_off`); ``ok`` needs every meter
read that still has a path of links with FER <= 0.5 both ways (:data:`MUST_READ_FER`).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from typing import Any

from rich.console import Console

from cosemnet.cli.lon_feeder import Feeder, build_feeder, discover, mark_read, read_feeder
from cosemnet.cli.sim_lon_observe import attach_sniffer
from cosemnet.profiles.lon.addresses import SubnetNodeAddress
from cosemnet.profiles.lon.topology import Topology, TopologyConfig, build_topology, line
from cosemnet.simulator.lon_segment import address_text, channel_text, segment_table
from cosemnet.trace import FrameObserver


def feeder_topology(spec: str, meters: int, seed: int) -> Topology:
    """``line``: one feeder spaced so that about a third of the meters hear the concentrator directly
    and the rest need 1-3 repeaters (30-80 m between meters); else :func:`build_topology`."""
    if spec != "line":
        return build_topology(spec, meters, seed=seed)
    config = TopologyConfig(seed=seed)
    reach = max(1.0, meters / 3)
    spacing = ((config.budget_db - config.min_snr_db) / reach - config.tap_loss_db) / config.db_per_m
    return line(meters, spacing_m=min(80.0, max(30.0, spacing)), config=config)


def _routes(feeder: Feeder) -> dict[str, list[SubnetNodeAddress]]:
    now = feeder.segment.channel.now
    out: dict[str, list[SubnetNodeAddress]] = {}
    for meter in feeder.segment.meters:
        route = feeder.paths.route(meter.address, now)
        if route is None and feeder.manager is not None:
            record = feeder.manager.by_address(meter.address)
            route = list(record.via) if record is not None else None
        out[address_text(meter.address)] = route or []
    return out


def remove_repeaters(feeder: Feeder, count: int) -> list[str]:
    """Cut every link of the ``count`` repeaters most used by the current routes; their addresses."""
    used: Counter[tuple[int, int]] = Counter()
    for route in _routes(feeder).values():
        used.update((a.destination_subnet, a.destination_node) for a in route)
    lost = [SubnetNodeAddress(*a) for a, _ in sorted(used.items(), key=lambda x: (-x[1], x[0]))[:count]]
    stations = len(feeder.topology)
    for address in lost:
        station = _station(feeder, address)
        for other in range(stations):
            if other != station:
                feeder.segment.channel.unlink(station, other)
    return [address_text(a) for a in lost]


def _station(feeder: Feeder, address: SubnetNodeAddress) -> int:
    """Topology node (= channel station) of the meter at ``address``."""
    return next(m.index + 1 for m in feeder.segment.meters if m.address == address)


MUST_READ_FER: float = 0.5
"""A meter with a chain of links no worse than this frame error rate both ways (the path manager's
``min_quality``) to the concentrator must be read."""


def cut_off(feeder: Feeder, lost: list[SubnetNodeAddress], max_fer: float = 1.0) -> list[str]:
    """The meters the concentrator cannot reach, from the topology alone (not from its path table): the
    ``lost`` repeaters and every meter with no chain of links (FER below ``max_fer`` both ways; the
    default: any link that exists) left to the concentrator. ``max_fer=MUST_READ_FER`` gives the meters
    that may be missed: every other meter must be read."""
    gone = frozenset(_station(feeder, a) for a in lost)
    hops = feeder.topology.hops_from_root(max_fer=max_fer, without=gone)
    return [address_text(m.address) for m in feeder.segment.meters if hops[m.index + 1] is None]


def run_feeder(
    console: Console,
    spec: str,
    meters: int,
    seed: int,
    as_json: bool,
    security: str,
    repeater_loss: int,
    *,
    observer: FrameObserver | None = None,
    interrupted: Callable[[], str | None] | None = None,
) -> bool:
    """Discover, commission and read a feeder (see the module docstring); True when every meter that is
    still on the feeder was read. ``observer`` (``--trace``/``--pcap``) hears every frame from the
    start of discovery; ``interrupted``: the signal that arrived, named in the summary."""
    topology = feeder_topology(spec, meters, seed)
    feeder = build_feeder(topology, seed=seed, configured=False, security=security)
    if observer is not None:
        epoch = feeder.segment.meters[0].endpoint.epoch
        attach_sniffer(feeder.segment.channel, observer, epoch, hear_all=True)
    manager = discover(feeder)
    routes = _routes(feeder)
    report = read_feeder(feeder)
    mark_read(
        feeder, [m.address for m, r in zip(feeder.segment.meters, report.reads, strict=True) if not r.errors]
    )
    repeated = sum(1 for r in report.reads if routes.get(r.address) and not r.errors)
    max_hops = max((len(r) for r in routes.values()), default=0)
    lost: list[str] = []
    if repeater_loss:
        lost = remove_repeaters(feeder, repeater_loss)
        report = read_feeder(feeder)
    gone = [m.address for m in feeder.segment.meters if address_text(m.address) in lost]
    expected = cut_off(feeder, gone)
    may_miss = set(cut_off(feeder, gone, MUST_READ_FER))
    unreachable = [r.address for r in report.reads if r.errors]
    ok = set(unreachable) <= may_miss and len(manager.meters) == len(feeder.segment.meters)
    summary: dict[str, Any] = {
        "channel": "pl",
        "topology": spec,
        "meters": len(feeder.segment.meters),
        "security": security,
        "discovered": manager.statistics.discovered,
        "commissioned": manager.statistics.commissioned,
        "lifecycle": dict(Counter(r.state.value for r in manager.meters.values())),
        "read_ok": sum(1 for r in report.reads if not r.errors),
        "max_hops": max_hops,
        "repeated_reads": repeated,
        "simulated_s": round(feeder.segment.channel.now, 3),
        "atm": {
            "queries": manager.statistics.queries,
            "empty_queries": manager.statistics.empty_queries,
            "failed_steps": manager.statistics.failed_steps,
            "neighbour_reports": manager.statistics.neighbour_reports,
        },
        "repeaters_lost": lost,
        "unreachable": unreachable,
        "cut_off": expected,
        "route_switches": feeder.paths.switches,
        "silent_meters": [
            address_text(s.address)
            for s in feeder.segment.concentrator.silent_meters()
            if isinstance(s.address, SubnetNodeAddress)
        ],
        "ok": ok,
        "reads": [r.to_json() for r in report.reads],
    }
    stopped_by = interrupted() if interrupted is not None else None
    if stopped_by is not None:
        summary["interrupted"] = stopped_by
    if as_json:
        print(json.dumps(summary))
        return ok
    console.print(
        f"[bold]IEC 62056-8-8 feeder[/] ({spec}): {summary['meters']} meters discovered "
        f"{summary['discovered']}, commissioned {summary['commissioned']} (Annex F ATM), "
        f"up to {max_hops} repeater(s); {repeated} reads repeated"
    )
    console.print(segment_table(report.reads))
    console.print(channel_text(report))
    if lost:
        console.print(f"repeaters lost: {', '.join(lost)}; {feeder.paths.switches} route switch(es)")
    if unreachable or expected:
        console.print(f"unreachable: {', '.join(unreachable) or '-'}; cut off: {', '.join(expected) or '-'}")
    return ok


__all__ = ["MUST_READ_FER", "cut_off", "remove_repeaters", "run_feeder"]
