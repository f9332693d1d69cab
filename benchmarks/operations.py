"""SET/ACTION per second over the fleet (issue 12), with GET for comparison in the same run.

::

    .venv/bin/python benchmarks/operations.py                   # 1,000 meters
    .venv/bin/python benchmarks/operations.py --meters 1000 --meters 5000
    .venv/bin/python benchmarks/operations.py --quick --json    # 100 meters

Layout: for each fleet size a fresh head-end (:class:`cosemnet.headend.HeadEndService`, file database,
the ``hes`` throttle with ``--max-per-prefix`` per prefix and border router) and a fresh in-process
fleet (:class:`cosemnet.simulator.mesh_fleet.MeshFleet` on ``::1``, one UDP socket per meter, no loss),
both in this process (one event loop: the figures include the meters' work). Once every meter is
registered and associated (HLS-GMAC, general-glo ciphering, so that every operation pays the same),
each operation runs once over the whole fleet as one run, timed from start to the last result:
GET of the clock (8/0-0:1.0.0*255/2), SET of the clock (the host's time), ACTION remote_disconnect
(70/0-0:96.3.10*255/1) and ACTION remote_reconnect (method 2). Rate: meters / wall seconds of the run.
Checked: every meter's result is ``success`` in ``operation_results`` (GET: a value from every meter),
and after the disconnect every meter's output state is off, after the reconnect on.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as _dt
import json
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from cosemnet.codec.datetime import CosemDateTime
from cosemnet.codec.obis import Obis
from cosemnet.codec.types import Integer
from cosemnet.headend import AttributeRef, HeadEnd, HeadEndConfig, HeadEndService
from cosemnet.headend.operations import Operation
from cosemnet.profiles.mesh import AddressBook, ThrottleConfig
from cosemnet.simulator.mesh_fleet import FleetConfig, MeshFleet

CLOCK = Obis("0-0:1.0.0*255")
DISCONNECT = Obis("0-0:96.3.10*255")


def _operations() -> list[tuple[str, Operation | None, AttributeRef]]:
    now = CosemDateTime.from_datetime(_dt.datetime.now(_dt.UTC)).to_bytes()
    return [
        ("get clock", None, AttributeRef(8, CLOCK, 2)),
        ("set clock", Operation("set", 8, CLOCK, 2, now), AttributeRef(8, CLOCK, 2)),
        (
            "action disconnect",
            Operation("action", 70, DISCONNECT, 1, Integer(0)),
            AttributeRef(70, DISCONNECT, 1),
        ),
        (
            "action reconnect",
            Operation("action", 70, DISCONNECT, 2, Integer(0)),
            AttributeRef(70, DISCONNECT, 2),
        ),
    ]


def _check(service: HeadEndService, fleet: MeshFleet, name: str, run_id: int, answered: int) -> None:
    meters = len(fleet.nodes)
    if name.startswith("get"):
        if answered != meters:
            raise SystemExit(f"{name}: {answered} of {meters} meters answered")
        return
    rows = service.head_end.store.operation_results(run_id)
    bad = [r for r in rows if r.result != "success"]
    if len(rows) != meters or bad:
        raise SystemExit(f"{name}: {len(rows)} results, {len(bad)} not success ({bad[:3]})")
    if name.startswith("action"):
        expected = name.endswith("reconnect")
        for node in fleet.nodes:
            dc = node.meter.disconnect_control
            if dc is None or dc.output_state is not expected:
                raise SystemExit(f"{name}: a meter's output state is not {expected}")


async def _scenario(args: argparse.Namespace, meters: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        book = AddressBook(Path(tmp) / "hes.db", synchronous="NORMAL")
        per = args.max_per_prefix
        throttle = ThrottleConfig(max_per_prefix=per, max_per_border_router=per, rto_min=0.05)
        head_end = HeadEnd(book, config=HeadEndConfig(throttle=throttle))
        service = HeadEndService(head_end)
        await service.start("::1", 0)
        fleet = MeshFleet(FleetConfig(meters=meters, head_end=service.local_address, gateway_port=None))
        await fleet.start()
        try:
            if not await fleet.wait_registered(600):
                raise SystemExit("the fleet did not register")
            titles = [n.meter.identity.system_title for n in fleet.nodes]
            setup = await service.collect([], system_titles=titles)  # associations: same start for all
            if setup.failed:
                raise SystemExit(f"{len(setup.failed)} meters did not associate")
            rates: dict[str, float] = {}
            for name, operation, ref in _operations():
                started = time.perf_counter()
                run = await service.collect([ref], system_titles=titles, operation=operation)
                seconds = time.perf_counter() - started
                _check(service, fleet, name, run.run_id, len(run.results))
                rates[name] = round(meters / seconds, 1)
            return {"meters": meters, "max_per_prefix": per, "meters_per_s": rates}
        finally:
            await fleet.stop()
            await service.close()
            book.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--meters", type=int, action="append", help="repeat; default 1000")
    parser.add_argument("--max-per-prefix", type=int, default=64, help="in flight per prefix and router")
    parser.add_argument("--quick", action="store_true", help="100 meters")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    sizes = [100] if args.quick else args.meters or [1000]
    results = []
    for meters in sizes:
        result = asyncio.run(_scenario(args, meters))
        results.append(result)
        if not args.json:
            rates = ", ".join(f"{k} {v:,.0f}/s" for k, v in result["meters_per_s"].items())
            print(f"{meters:>6} meters: {rates}", flush=True)
    if args.json:
        print(json.dumps({"python": platform.python_version(), "quick": args.quick, "results": results}))
    sys.exit(0)


if __name__ == "__main__":
    main()
