"""Collector workers on PostgreSQL (issue 13 item 8): 1 vs 2 ``cosemnet hes worker`` processes.

::

    .venv/bin/python benchmarks/workers.py                     # 10,000 meters, 1 and 2 workers
    .venv/bin/python benchmarks/workers.py --meters 2000 --json
    .venv/bin/python benchmarks/workers.py --db postgresql://hes@db/hes --workers 1,2,4
    .venv/bin/python benchmarks/workers.py --meters 100000 --anyip fd00:c05e::/64 --netns cosemnet-w  # root

Layout: the fleet is the one of benchmarks/mesh_fleet.py (a separate process, one UDP socket per meter
on ``::1``; with ``--anyip PREFIX`` one shared socket serving every meter at an address of the prefix,
decision 0118, so more meters than file descriptors; ``--netns NS`` (root) runs the whole benchmark in
a network namespace created with that prefix routed to ``lo``, as mesh_fleet.py ``--scale`` does).

It registers with a head-end in this process (an in-memory address book: registering through
``hes listen --db postgresql://``, a held transaction per burst of registrations, decision 0131, is
not what is measured here), whose bindings are then written to the shared storage in one
``upsert_bindings`` batch and whose invocation counter is moved past in the storage (a block reserved
above every value it used). Then, for each worker count K: ``hes collect --enqueue`` queues one job per meter
(3/1-0:1.8.0*255/2), K ``hes worker --until-idle`` processes read the fleet (fresh associations: AARQ,
HLS pass 3/4, GET; fixed 5 s timers and 512 requests in flight, as in mesh_fleet.py), and the figures are

* meters/s: meters read / wall time from the workers' start to the last one's exit;
* CPU per meter: the workers' user + system time (``wait4``) / meters read (PostgreSQL's own CPU is
  not included);
* the fleet process's CPU per meter and its share of one core over the run (one Python process
  answering for every meter: when it nears 1.0 it, not the workers, sets the rate);
* storage bytes per reading: ``pg_total_relation_size('readings')`` (table, indexes, TOAST) / rows.

PostgreSQL: ``--db DSN``, else a throwaway cluster (``initdb`` in a temporary directory, as the
``postgres`` user when root, unix socket only; fsync off: figures are for the workers, not the disk).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from cosemnet.headend import HeadEndService, StaticKeyStore
from cosemnet.headend.storage import JobState, Storage, open_storage
from cosemnet.profiles.mesh import AddressRegistrationData
from mesh_fleet import ENERGY, FleetProcess, _head_end, _wait_registered, _without_netns

PG_BIN = Path(os.environ.get("COSEMNET_PG_BIN", "/usr/lib/postgresql/15/bin"))


def _as_server_user(argv: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


class Cluster:
    """A throwaway PostgreSQL cluster (as in tests/headend/storage/conftest.py, decision 0061)."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="cosemnet-bench-pg-"))
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        self.data = self.root / "data"
        run: dict[str, Any] = {"check": True, "capture_output": True, "timeout": 120}
        subprocess.run(
            _as_server_user(
                [str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
                 "-E", "UTF8", "--locale=C", "--no-sync"]
            ),
            **run,
        )  # fmt: skip
        options = f"-k {self.root} -c listen_addresses='' -c fsync=off -c max_connections=60"
        subprocess.run(
            _as_server_user(
                [str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "log"), "-w",
                 "-o", options, "start"]
            ),
            **run,
        )  # fmt: skip
        base = f"postgresql://postgres@/postgres?host={urllib.parse.quote(str(self.root), safe='')}"
        import psycopg

        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute("CREATE DATABASE cosemnet")
        self.dsn = base.replace("/postgres?", "/cosemnet?")

    def stop(self) -> None:
        subprocess.run(
            _as_server_user([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"]),
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(self.root, ignore_errors=True)


def _cosemnet() -> list[str]:
    script = Path(sys.executable).parent / "cosemnet"
    return [str(script)] if script.exists() else [sys.executable, "-m", "cosemnet.cli"]


def _in_netns(name: str, prefix: str, argv: list[str]) -> int:
    """This benchmark again inside network namespace ``name`` (lo up, ``prefix`` routed to lo)."""
    if os.geteuid() != 0:
        raise SystemExit("--netns needs root (ip netns add, ip route add local)")
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        for step in (["link", "set", "lo", "up"], ["-6", "route", "add", "local", prefix, "dev", "lo"]):
            subprocess.run(["ip", "-n", name, *step], check=True)
        command = ["ip", "netns", "exec", name, sys.executable, os.path.abspath(__file__), *argv]
        return subprocess.run(command, check=False).returncode
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


async def _register(meters: int, storage: Storage, anyip: str | None = None) -> dict[str, Any]:
    """The fleet registers with an in-process head-end; its bindings go to the storage in one batch."""
    head_end = _head_end()
    service = HeadEndService(head_end)
    await service.start("::1", 0)
    # as mesh_fleet.py --scale: registrations spread over meters/1000 s and retried for 150 s, so a
    # large fleet does not outrun a head-end sharing the machine
    fleet = FleetProcess(
        meters, service.local_address, anyip, False, max(1, meters // 1000), retries=30, repetition_delay=5
    )
    await fleet.read()  # started
    seconds = await _wait_registered(head_end, meters, 300 + meters / 50, stall=200)
    messages = [
        AddressRegistrationData(
            e.system_title,
            e.binding.addresses,
            e.last_sequence,
            wport=e.binding.wport,
            udp_port=e.binding.udp_port,
            border_router=e.binding.border_router,
        )
        for e in head_end.book.entries()
    ]
    for i in range(0, len(messages), 2000):
        storage.upsert_bindings(messages[i : i + 2000])
    # the confirmations were ciphered with this head-end's counter: the workers' blocks start above it
    owner = StaticKeyStore().keys_for(messages[0].system_title).counter_owner
    storage.reserve_counter_block(owner, "guek", 1_000_000)
    await service.close()
    return {"fleet": fleet, "registration_seconds": round(seconds, 2)}


def _run_workers(dsn: str, count: int, meters: int, batch: int) -> dict[str, Any]:
    enqueue = subprocess.run(
        [*_cosemnet(), "hes", "collect", "--db", dsn, "--obis", str(ENERGY), "--no-scaler", "--enqueue",
         "--json"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    run_id = int(json.loads(enqueue.stdout)["run_id"])
    argv = [
        *_cosemnet(), "-q", "hes", "worker", "--db", dsn, "--bind", "::1", "--test-keys", "--until-idle",
        "--json", "--batch", str(batch), "--lease", "30", "--max-in-flight", "512",
        "--max-per-prefix", "512", "--max-per-router", "512", "--fixed-timers", "--timeout", "5",
    ]  # fmt: skip
    start = time.perf_counter()
    procs = [
        subprocess.Popen(
            [*argv, "--name", f"w{i}"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        for i in range(count)
    ]
    cpu = 0.0
    for proc in procs:
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        cpu += usage.ru_utime + usage.ru_stime
    wall = time.perf_counter() - start
    outputs = [json.loads(p.stdout.read().splitlines()[-1]) for p in procs if p.stdout is not None]
    storage = open_storage(dsn)
    try:
        done = storage.job_counts(run_id).get(JobState.DONE, 0)
        read = len([r for r in storage.readings(run_id=run_id) if r.error is None])
    finally:
        storage.close()
    return {
        "workers": count,
        "meters": meters,
        "read": read,
        "jobs_done": done,
        "seconds": round(wall, 2),
        "meters_per_s": round(read / wall, 1),
        "cpu_ms_per_meter": round(1000 * cpu / max(read, 1), 3),
        "retried_meters": sum(int(o.get("failed", 0)) for o in outputs),
        "exit_codes": [p.returncode for p in procs],
    }


def _bytes_per_reading(dsn: str) -> dict[str, Any]:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute("SELECT pg_total_relation_size('readings'), count(*) FROM readings").fetchone()
    assert row is not None
    size, rows = int(row[0]), int(row[1])
    return {"readings": rows, "readings_bytes": size, "bytes_per_reading": round(size / max(rows, 1), 1)}


async def _main(args: argparse.Namespace) -> dict[str, Any]:
    cluster = None if args.db else Cluster()
    dsn = args.db or (cluster.dsn if cluster else "")
    storage = open_storage(dsn)
    fleet: FleetProcess | None = None
    try:
        registered = await _register(args.meters, storage, args.anyip)
        fleet = registered.pop("fleet")
        results = []
        for k in args.workers:
            before = (await fleet.ask(cmd="cpu"))["cpu"]
            result = _run_workers(dsn, k, args.meters, args.batch)
            fleet_cpu = (await fleet.ask(cmd="cpu"))["cpu"] - before
            result["fleet_cpu_ms_per_meter"] = round(1000 * fleet_cpu / max(result["read"], 1), 3)
            result["fleet_cpu_share"] = round(fleet_cpu / result["seconds"], 2)
            results.append(result)
        return {
            "meters": args.meters,
            **registered,
            "runs": results,
            **_bytes_per_reading(dsn),
            "cpus": os.cpu_count(),
        }
    finally:
        storage.close()
        if fleet is not None:
            await fleet.stop()
        if cluster is not None:
            cluster.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--meters", type=int, default=10_000)
    parser.add_argument("--workers", default="1,2", help="worker counts to compare (comma-separated)")
    parser.add_argument("--batch", type=int, default=500, help="meters leased at a time per worker")
    parser.add_argument("--db", help="an existing PostgreSQL DSN (default: a throwaway cluster)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--anyip", help="the fleet on one shared socket serving this prefix (route in place)")
    parser.add_argument("--netns", help="run inside this network namespace with the --anyip route (root)")
    args = parser.parse_args()
    if args.netns:
        if not args.anyip:
            parser.error("--netns needs --anyip")
        raise SystemExit(_in_netns(args.netns, args.anyip, _without_netns(sys.argv[1:])))
    args.workers = [int(k) for k in args.workers.split(",")]
    report = asyncio.run(_main(args))
    if args.json:
        print(json.dumps(report))
        return
    print(f"{report['meters']} meters, registered in {report['registration_seconds']} s")
    for r in report["runs"]:
        print(
            f"  {r['workers']} worker(s): {r['read']} read in {r['seconds']} s = {r['meters_per_s']} "
            f"meters/s, {r['cpu_ms_per_meter']} ms CPU/meter, {r['retried_meters']} meters retried, "
            f"exit {r['exit_codes']}; fleet {r['fleet_cpu_ms_per_meter']} ms CPU/meter, "
            f"{r['fleet_cpu_share']} of a core"
        )
    print(f"  storage: {report['bytes_per_reading']} bytes per reading ({report['readings']} rows)")


if __name__ == "__main__":
    main()
