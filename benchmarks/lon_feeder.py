"""Reach on a power-line feeder (IEC 62056-8-8 Annex E repeating, Annex F discovery), in simulated time.

Everything runs on :class:`cosemnet.profiles.lon.channel.PowerLineChannel` (5.4 kbit/s) with the link
model of :mod:`cosemnet.profiles.lon.topology` (decision 0071) and ``--security none`` (the null suite):

1. **Discovery and commissioning**: ``N`` unconfigured meters on one line feeder
   (:func:`cosemnet.cli.lon_feeder.build_feeder`, ``configured=False``) spaced so that the farthest needs
   4 radio hops (3 repeaters) from the concentrator; the Annex F ATM manager
   (:func:`cosemnet.cli.lon_feeder.discover`, decisions 0072/0073) discovers and commissions them
   (domain, group, node mode) and collects every neighbour table. Reported: simulated seconds until it
   is done, meters discovered / commissioned, the longest route it chose, wall seconds. 200 meters take
   minutes of wall time, so the full run measures 50, 100 and 200; ``--quick`` 12 and 24.
   The meter taps are lighter here (``tap_loss_db`` 0.2 dB) than the topology default (1.5 dB): with the
   default, 200 meters on one cable cannot be within 4 hops of the transformer.
2. **Steady-state reads per hour**: on that feeder after discovery, and on the flat channel
   (:func:`cosemnet.simulator.lon_segment.build_segment`, everybody hears everybody) with the same
   number of meters: the concentrator queues one LN read (GET-with-list of 1-0:1.8.0 value and
   scaler_unit on the pre-established public association) per meter at once and the segment runs until
   all are answered; the second such round is timed; reads per hour = reads / simulated s x 3600.
2b. **Steady-state reads without discovery** (``reads``): the same feeder with configured meters and the
   paths learnt from 10 service pins per node (:func:`cosemnet.cli.lon_feeder.learn_paths`), 50 / 100 /
   200 meters (``--quick``: 12 / 24), vs the flat channel; ``--reads-only`` runs this and 3 only.
3. **Airtime per hop**: a pure chain (meters 350 m apart, each hears only its neighbours; paths learned
   by :func:`cosemnet.cli.lon_feeder.learn_paths`); one LN read of the meter behind ``h`` repeaters,
   alone on the channel, for h = 0..3: the channel airtime and frames of the exchange, and the airtime
   each repeater adds (``(airtime(h) - airtime(0)) / h``).

    python benchmarks/lon_feeder.py            # tables
    python benchmarks/lon_feeder.py --json     # machine-readable
    python benchmarks/lon_feeder.py --quick    # small sizes (smoke run)
    python benchmarks/lon_feeder.py --reads-only   # sections 2b and 3 only (no discovery)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import sys
import time
from typing import Any

from cosemnet.cli.lon_feeder import build_feeder, discover, learn_paths
from cosemnet.profiles.lon.topology import Topology, TopologyConfig, line
from cosemnet.simulator.lon_segment import LonSegment, build_segment, read_segment

MAX_RADIO_HOPS = 4
TAP_LOSS_DB = 0.2
MARGIN_DB = 8.0
CHAIN_SPACING_M = 350.0
READS_PINS = 10
"""Service pins per node for the link qualities of the reads section: with 3 a link is seen in thirds,
a 0.3-FER link often looks perfect and is chosen (24 meters: 5,301 reads/h, 14 retries; 10 pins:
10,818 reads/h, none)."""


def feeder_line(meters: int, seed: int) -> Topology:
    """One cable, meters spaced so that the farthest is :data:`MAX_RADIO_HOPS` radio hops out."""
    config = TopologyConfig(seed=seed, tap_loss_db=TAP_LOSS_DB)
    per_hop = math.ceil(meters / MAX_RADIO_HOPS)
    usable = config.budget_db - config.min_snr_db - MARGIN_DB
    spacing = max(5.0, min(200.0, (usable / per_hop - TAP_LOSS_DB) / config.db_per_m))
    return line(meters, spacing_m=spacing, config=config)


def steady_reads_per_hour(segment: LonSegment) -> dict[str, Any]:
    first = read_segment(segment, sn=False)  # first round: every link set up
    report = read_segment(segment, sn=False)
    ok = sum(1 for r in report.reads if not r.errors)
    return {
        "reads_ok": ok,
        "simulated_s": round(report.simulated_seconds, 2),
        "reads_per_hour": round(ok / report.simulated_seconds * 3600) if report.simulated_seconds else 0,
        "airtime_s": round(report.channel.airtime - first.channel.airtime, 2),
        "collisions": report.channel.collisions - first.channel.collisions,
        "retries": report.channel.retries - first.channel.retries,
    }


def discovery_case(meters: int, seed: int) -> dict[str, Any]:
    topology = feeder_line(meters, seed)
    hops = topology.hops_from_root()
    started = time.perf_counter()
    feeder = build_feeder(topology, seed=seed, configured=False)
    manager = discover(feeder)
    wall = time.perf_counter() - started
    discovery_s = feeder.segment.channel.now
    feeder_reads = steady_reads_per_hour(feeder.segment)
    flat = steady_reads_per_hour(build_segment(meters, seed=seed, security="none"))
    return {
        "meters": meters,
        "radio_hops_max": max(h for h in hops if h is not None),
        "unreachable": hops.count(None),
        "discovered": manager.statistics.discovered,
        "commissioned": manager.statistics.commissioned,
        "queries": manager.statistics.queries,
        "max_repeaters": feeder.max_hops(),
        "discovery_simulated_s": round(discovery_s, 1),
        "discovery_wall_s": round(wall, 2),
        "feeder": feeder_reads,
        "flat": flat,
    }


def reads_case(meters: int, seed: int) -> dict[str, Any]:
    """Steady-state reads on the line feeder with configured meters and the paths learnt from service
    pins (:func:`learn_paths`, no discovery: minutes of wall time less at 200 meters) vs the flat
    channel."""
    topology = feeder_line(meters, seed)
    hops = topology.hops_from_root()
    started = time.perf_counter()
    feeder = build_feeder(topology, seed=seed)
    learn_paths(feeder, pins=READS_PINS)
    now = feeder.segment.channel.now
    routes = [feeder.paths.route(m.address, now) for m in feeder.segment.meters]
    feeder_reads = steady_reads_per_hour(feeder.segment)
    flat = steady_reads_per_hour(build_segment(meters, seed=seed, security="none"))
    return {
        "meters": meters,
        "radio_hops_max": max(h for h in hops if h is not None),
        "repeated_meters": sum(1 for r in routes if r),
        "max_repeaters": max((len(r) for r in routes if r is not None), default=0),
        "feeder": feeder_reads,
        "flat": flat,
        "ratio": round(feeder_reads["reads_per_hour"] / flat["reads_per_hour"], 3)
        if flat["reads_per_hour"]
        else None,
        "wall_s": round(time.perf_counter() - started, 1),
    }


def hop_case(repeaters: int, seed: int) -> dict[str, Any]:
    topology = line(repeaters + 1, spacing_m=CHAIN_SPACING_M, config=TopologyConfig(seed=seed))
    feeder = build_feeder(topology, seed=seed)
    learn_paths(feeder)
    segment = feeder.segment
    target = segment.meters[-1]
    route = feeder.paths.route(target.address, segment.channel.now)
    alone = dataclasses.replace(segment, meters=[target])
    read_segment(alone, sn=False)  # warm-up (nothing to set up on the public association, but equal)
    stats = segment.channel.statistics
    airtime, frames = stats.airtime, stats.frames
    report = read_segment(alone, sn=False)
    return {
        "repeaters": None if route is None else len(route),
        "read_ok": report.ok,
        "airtime_s": round(stats.airtime - airtime, 4),
        "frames": stats.frames - frames,
        "simulated_s": round(report.simulated_seconds, 3),
    }


def run(quick: bool, seed: int, reads_only: bool = False) -> dict[str, Any]:
    sizes = [12, 24] if quick else [50, 100, 200]
    discovery = [] if reads_only else [discovery_case(n, seed) for n in sizes]
    reads = []
    for n in sizes:
        reads.append(reads_case(n, seed))
        print(f"reads {n}: {reads[-1]}", file=sys.stderr, flush=True)
    hops = [hop_case(h, seed) for h in range(4)]
    base = hops[0]["airtime_s"]
    for entry in hops[1:]:
        entry["airtime_per_repeater_s"] = round((entry["airtime_s"] - base) / entry["repeaters"], 4)
    return {
        "settings": {"quick": quick, "seed": seed, "tap_loss_db": TAP_LOSS_DB},
        "discovery": discovery,
        "reads": reads,
        "hops": hops,
    }


def print_tables(result: dict[str, Any]) -> None:
    if result["discovery"]:
        print_discovery(result)
    print_reads(result)


def print_discovery(result: dict[str, Any]) -> None:
    print("Discovery + commissioning (Annex F) on one 5.4 kbit/s line feeder, then steady-state LN reads")
    print(
        f"{'meters':>6} {'radio hops':>10} {'found':>5} {'comm.':>5} {'max rep.':>8} {'sim. s':>9} "
        f"{'wall s':>7} {'reads/h feeder':>14} {'reads/h flat':>12}"
    )
    for d in result["discovery"]:
        print(
            f"{d['meters']:>6} {d['radio_hops_max']:>10} {d['discovered']:>5} {d['commissioned']:>5} "
            f"{d['max_repeaters']:>8} {d['discovery_simulated_s']:>9,.0f} {d['discovery_wall_s']:>7.1f} "
            f"{d['feeder']['reads_per_hour']:>14,} {d['flat']['reads_per_hour']:>12,}"
        )


def print_reads(result: dict[str, Any]) -> None:
    print("\nSteady-state LN reads per hour (configured meters, paths from service pins) vs the flat channel")
    print(
        f"{'meters':>6} {'radio hops':>10} {'repeated':>8} {'max rep.':>8} {'ok feeder':>9} "
        f"{'reads/h feeder':>14} {'reads/h flat':>12} {'ratio':>6}"
    )
    for r in result["reads"]:
        print(
            f"{r['meters']:>6} {r['radio_hops_max']:>10} {r['repeated_meters']:>8} {r['max_repeaters']:>8} "
            f"{r['feeder']['reads_ok']:>9} {r['feeder']['reads_per_hour']:>14,} "
            f"{r['flat']['reads_per_hour']:>12,} {r['ratio']!s:>6}"
        )
    print("\nOne LN read, alone on a chain, by repeaters crossed")
    print(f"{'repeaters':>9} {'frames':>6} {'airtime s':>9} {'per repeater s':>14}")
    for h in result["hops"]:
        extra = h.get("airtime_per_repeater_s")
        print(
            f"{h['repeaters']!s:>9} {h['frames']:>6} {h['airtime_s']:>9.3f} "
            f"{'-' if extra is None else f'{extra:.3f}':>14}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="12 and 24 meters instead of 50, 100, 200")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--reads-only", action="store_true", help="skip discovery (minutes at 200 meters): reads and hops"
    )
    args = parser.parse_args(argv)
    logging.disable(logging.WARNING)
    result = run(args.quick, args.seed, args.reads_only)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_tables(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
