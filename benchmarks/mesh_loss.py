"""Mesh head-end under loss and latency: completion time and meters/s of one collect (IEC TS 62056-8-20).

::

    .venv/bin/python benchmarks/mesh_loss.py                  # 500 meters, 7 scenarios
    .venv/bin/python benchmarks/mesh_loss.py --quick --json   # 100 meters, machine-readable
    .venv/bin/python benchmarks/mesh_loss.py --meters 1000 --max-per-prefix 4

Layout: for each scenario a fresh fleet process (``cosemnet sim mesh`` with ``--loss``,
``--duplicate``, ``--reorder``, ``--latency``: every meter on ``::1``, impairments on every datagram a
meter sends, decision 0026 and issue 17) registers with a fresh head-end in this process
(:class:`cosemnet.headend.HeadEndService`, learned timers and AIMD concurrency of decision 0080, file
database, readings committed as they arrive, decision 0081). Once every meter is registered, one
collect of 3/1-0:1.8.0*255/2 is timed, *including* the HLS-GMAC association of every meter (AARQ,
pass 3, GET: three round trips). Checked after each run: every meter read, and stored exactly once
(rows and distinct meters in the ``readings`` table). Scenarios: 0, 10 and 30 % loss, each without and
with 200-2000 ms of per-meter latency (25 % jitter), and 30 % loss with 10 % duplication and 10 %
reordering. Per-meter timers and the loss tolerance of decision 0100 (``--shared-rto``,
``--loss-tolerance 0`` for the behaviour of 0080 alone). All meters share the prefix of ``::1``:
the per-prefix ceiling (``--max-per-prefix``, default 64 here, 4 in ``hes collect``) bounds the
concurrency of the whole fleet.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from cosemnet.headend import AttributeRef, HeadEnd, HeadEndConfig, HeadEndService
from cosemnet.profiles.mesh import AddressBook, ThrottleConfig

ENERGY = AttributeRef.parse("3/1-0:1.8.0*255/2")
SCENARIOS: list[tuple[str, float, float, float, str]] = [
    ("0% loss", 0.0, 0.0, 0.0, "0"),
    ("10% loss", 0.1, 0.0, 0.0, "0"),
    ("30% loss", 0.3, 0.0, 0.0, "0"),
    ("30% loss, 10% dup, 10% reorder", 0.3, 0.1, 0.1, "0"),
    ("0% loss, 200-2000 ms", 0.0, 0.0, 0.0, "200:2000"),
    ("10% loss, 200-2000 ms", 0.1, 0.0, 0.0, "200:2000"),
    ("30% loss, 200-2000 ms", 0.3, 0.0, 0.0, "200:2000"),
]


def _free_port() -> int:
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
        s.bind(("::1", 0))
        return int(s.getsockname()[1])


async def _scenario(
    args: argparse.Namespace, name: str, loss: float, duplicate: float, reorder: float, latency: str
) -> dict[str, Any]:
    port = _free_port()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "hes.db"
        throttle = ThrottleConfig(
            max_in_flight=args.max_in_flight,
            max_per_prefix=args.max_per_prefix,
            max_per_border_router=args.max_per_prefix,
            max_retries=args.retries,
            rto_min=args.rto_min,
            loss_tolerance=args.loss_tolerance,
            per_destination=not args.shared_rto,
        )
        head_end = HeadEnd(AddressBook(db, synchronous="NORMAL"), config=HeadEndConfig(throttle=throttle))
        service = HeadEndService(head_end)
        await service.start("::1", port)
        fleet = subprocess.Popen(
            [
                sys.executable, "-m", "cosemnet.cli", "sim", "mesh", "--meters", str(args.meters),
                "--head-end", f"[::1]:{port}", "--loss", str(loss), "--duplicate", str(duplicate),
                "--reorder", str(reorder), "--latency", latency, "--duration", "3600", "--json",
                "--gateway-port", "0", "--seed", str(args.seed), "--retries", "30",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )  # fmt: skip
        try:
            end = time.monotonic() + args.register_timeout
            while len(head_end.book) < args.meters and time.monotonic() < end:
                await asyncio.sleep(0.1)
            registered = len(head_end.book)
            started = time.perf_counter()
            run = await service.collect([ENERGY])
            seconds = time.perf_counter() - started
            rows = head_end.store.readings(run.run_id)
            result = {
                "scenario": name,
                "loss": loss,
                "duplicate": duplicate,
                "reorder": reorder,
                "latency_ms": latency,
                "registered": registered,
                "read": len(run.results),
                "failed": len(run.failed),
                "stored_rows": len([r for r in rows if r.error is None]),
                "stored_meters": len({r.system_title for r in rows if r.error is None}),
                "seconds": round(seconds, 3),
                "meters_per_s": round(len(run.results) / seconds, 1) if seconds > 0 else None,
                "timeouts": head_end.throttle.timeouts,
                "aarq_sent": head_end.aarq_sent,
            }
        finally:
            fleet.send_signal(signal.SIGINT)
            try:
                out, _ = fleet.communicate(timeout=30)
                with contextlib.suppress(ValueError, IndexError):
                    result["fleet"] = json.loads(out.strip().splitlines()[-1])["fleet"]
            except subprocess.TimeoutExpired:
                fleet.kill()
                fleet.communicate()
            await service.close()
            head_end.book.close()
    return result


async def run(args: argparse.Namespace) -> dict[str, Any]:
    results = []
    for scenario in SCENARIOS:
        if args.only and scenario[0] not in args.only:
            continue
        results.append(await _scenario(args, *scenario))
        print(json.dumps(results[-1]), file=sys.stderr, flush=True)
    by_name = {r["scenario"]: r for r in results}
    ratios = {}
    base = by_name.get("0% loss")
    if base and base["meters_per_s"]:
        for name in ("10% loss", "30% loss"):
            if name in by_name and by_name[name]["meters_per_s"]:
                ratios[f"{name} / 0% loss slowdown"] = round(
                    base["meters_per_s"] / by_name[name]["meters_per_s"], 2
                )
    return {
        "settings": {
            "meters": args.meters,
            "max_per_prefix": args.max_per_prefix,
            "max_in_flight": args.max_in_flight,
            "retries": args.retries,
            "rto_min": args.rto_min,
            "loss_tolerance": args.loss_tolerance,
            "per_destination": not args.shared_rto,
            "seed": args.seed,
        },
        "results": results,
        "slowdown": ratios,
        "machine": {"python": platform.python_version(), "cpus": __import__("os").cpu_count()},
    }


def _print_table(report: dict[str, Any]) -> None:
    s = report["settings"]
    print(f"{s['meters']} meters, max {s['max_per_prefix']} per prefix, {s['retries']} retries")
    print(
        f"{'scenario':<34} {'s':>8} {'meters/s':>9} {'read':>5} {'failed':>6} {'stored':>6} {'timeouts':>8}"
    )
    for r in report["results"]:
        print(
            f"{r['scenario']:<34} {r['seconds']:>8} {r['meters_per_s']:>9} {r['read']:>5} {r['failed']:>6} "
            f"{r['stored_rows']:>6} {r['timeouts']:>8}"
        )
    for name, ratio in report["slowdown"].items():
        print(f"{name}: {ratio}x")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--meters", type=int, default=500)
    parser.add_argument("--quick", action="store_true", help="100 meters")
    parser.add_argument("--max-per-prefix", type=int, default=64)
    parser.add_argument("--max-in-flight", type=int, default=256)
    parser.add_argument("--retries", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rto-min", type=float, default=ThrottleConfig().rto_min)
    parser.add_argument(
        "--loss-tolerance",
        type=float,
        default=ThrottleConfig().loss_tolerance,
        help="loss rate above which a window halves (0: every loss, as TCP; decision 0100)",
    )
    parser.add_argument("--shared-rto", action="store_true", help="one RTO per prefix (0080), not per meter")
    parser.add_argument("--register-timeout", type=float, default=120.0)
    parser.add_argument("--only", action="append", help="run only this scenario (its exact name; repeatable)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.quick and args.meters == 500:
        args.meters = 100
    report = asyncio.run(run(args))
    if args.json:
        print(json.dumps(report))
    else:
        _print_table(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
