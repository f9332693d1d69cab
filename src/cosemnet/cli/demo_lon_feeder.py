"""The feeder part of the LON section of ``cosemnet demo``: meters out of the concentrator's direct reach.

Twelve simulated OSGP meters on one power-line feeder (:mod:`cosemnet.profiles.lon.topology`): seven close
to the transformer and five along a 1.5 km branch, where only the first hears the concentrator. The
meters start unconfigured; the concentrator's Annex F ATM manager discovers them (through repeaters where
needed), commissions them and collects their neighbour tables (:func:`cosemnet.cli.lon_feeder.discover`),
then reads every meter, through Annex E repeater chains for the four that need 1-3 repeaters. The null
security suite is used here (the OSGP-AES-128-PSK channels are shown by the flat segment before it).
"""

from __future__ import annotations

from typing import Any, Final

from rich.console import Console
from rich.table import Table

from cosemnet.cli.lon_feeder import Feeder, build_feeder, discover, mark_read
from cosemnet.profiles.lon.addresses import SubnetNodeAddress
from cosemnet.profiles.lon.topology import Topology, TopologyConfig
from cosemnet.simulator.lon_segment import MeterRead, SegmentReport, address_text, read_segment

FEEDER_SEED: Final = 4
NEAR_METERS: Final = 7
NEAR_SPACING_M: Final = 20.0
BRANCH_M: Final = (300.0, 380.0, 60.0, 380.0, 380.0)
"""Cable metres of the branch meters, each from the one before (the first from the concentrator)."""


def demo_topology(seed: int = FEEDER_SEED) -> Topology:
    """The concentrator, :data:`NEAR_METERS` meters :data:`NEAR_SPACING_M` apart on one cable, and the
    branch meters (:data:`BRANCH_M`) on another cable leaving the transformer."""
    names = ["concentrator"]
    parents: list[int | None] = [None]
    distances = [0.0]
    for index in range(NEAR_METERS):
        names.append(f"meter-{len(names)}")
        parents.append(index)
        distances.append(NEAR_SPACING_M)
    for step, metres in enumerate(BRANCH_M):
        names.append(f"meter-{len(names)}")
        parents.append(0 if step == 0 else len(names) - 2)
        distances.append(metres)
    return Topology(names, parents, distances, TopologyConfig(seed=seed))


def _route(feeder: Feeder, address: SubnetNodeAddress) -> list[SubnetNodeAddress] | None:
    """The repeaters the concentrator uses for ``address`` (the discovery chain when no path is known)."""
    route = feeder.paths.route(address, feeder.segment.channel.now)
    if route is None and feeder.manager is not None:
        record = feeder.manager.by_address(address)
        route = list(record.via) if record is not None else None
    return route


def _table(rows: list[dict[str, Any]]) -> Table:
    table = Table(show_edge=False, pad_edge=False, box=None, header_style="bold")
    table.add_column("meter", justify="right")
    table.add_column("state")
    table.add_column("repeaters", justify="right")
    table.add_column("route (Annex E)")
    table.add_column("LN 1-0:1.8.0 (kWh)", justify="right")
    for row in rows:
        hops = "-" if row["hops"] is None else str(row["hops"])
        route = " → ".join(["DC", *row["route"], row["meter"]]) if row["hops"] is not None else "-"
        kwh = "-" if row["kwh"] is None else f"{row['kwh']:,.3f}"
        table.add_row(row["meter"], row["state"], hops, route, kwh)
    return table


def _rows(feeder: Feeder, reads: list[MeterRead]) -> list[dict[str, Any]]:
    rows = []
    manager = feeder.manager
    for meter, read in zip(feeder.segment.meters, reads, strict=True):
        route = _route(feeder, meter.address)
        record = manager.by_address(meter.address) if manager is not None else None
        rows.append(
            {
                "meter": address_text(meter.address),
                "state": record.state.value if record is not None else "unconfigured",
                "hops": None if route is None else len(route),
                "route": [address_text(a) for a in route or []],
                "kwh": None if read.errors or read.energy_wh is None else read.energy_wh / 1000,
                "read_ok": not read.errors,
            }
        )
    return rows


def run_feeder_demo(console: Console | None) -> dict[str, Any]:
    """Discover, commission and read the demo feeder; print it to ``console`` (None: quiet). Returns the
    JSON summary (``"ok"``: every meter discovered, commissioned and read, the far ones repeated)."""
    topology = demo_topology()
    feeder = build_feeder(topology, seed=FEEDER_SEED, configured=False)
    manager = discover(feeder)
    discovery_s = feeder.segment.channel.now
    report: SegmentReport = read_segment(feeder.segment)
    mark_read(
        feeder, [m.address for m, r in zip(feeder.segment.meters, report.reads, strict=True) if not r.errors]
    )
    rows = _rows(feeder, report.reads)
    need = [i for i, h in enumerate(topology.hops_from_root()[1:]) if h is not None and h > 1]
    repeated = [r for r in rows if r["hops"] and r["read_ok"]]
    count = len(feeder.segment.meters)
    ok = (
        manager.statistics.discovered == manager.statistics.commissioned == count
        and report.ok
        and all(rows[i]["hops"] for i in need)
    )
    summary: dict[str, Any] = {
        "meters": count,
        "out_of_direct_reach": len(need),
        "discovered": manager.statistics.discovered,
        "commissioned": manager.statistics.commissioned,
        "read_ok": sum(1 for r in rows if r["read_ok"]),
        "repeated_reads": len(repeated),
        "max_hops": max((r["hops"] or 0 for r in rows), default=0),
        "discovery_simulated_s": round(discovery_s, 1),
        "read_simulated_s": round(report.simulated_seconds, 1),
        "meters_by_hops": rows,
        "ok": ok,
    }
    if console is not None:
        console.print(
            f"Feeder: {count} meters start unconfigured, {len(need)} of them out of the concentrator's "
            f"direct reach; Annex F ATM discovered {summary['discovered']} and commissioned "
            f"{summary['commissioned']} in {discovery_s:,.0f} s simulated, then read them in "
            f"{report.simulated_seconds:.1f} s, {len(repeated)} through 1-{summary['max_hops']} repeater(s) "
            f"{'[green]✓[/]' if ok else '[bold red]✗[/]'}"
        )
        console.print(_table(rows))
    return summary


__all__ = ["demo_topology", "run_feeder_demo"]
