"""Collector workers on PostgreSQL (issue 13 items 2, 4, 7): real processes against a throwaway cluster.

``hes listen --db postgresql://...`` writes the registrations of a simulated fleet (``sim mesh``)
into the shared storage; ``hes collect --enqueue`` queues one job per meter; two ``hes worker``
processes read the fleet, one is killed with SIGKILL mid-run and a restarted one finishes with the
other: every meter's reading is stored exactly once, the killed worker's leases expire, completed jobs
are never read again. The fleet has 1,000 meters here (the issue's 5,000: benchmarks/workers.py).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cosemnet.headend.storage import JobState, Storage, open_storage

METERS = 1000
OBIS = "1-0:1.8.0*255"
ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONIOENCODING": "utf-8"}


def _cosemnet() -> list[str]:
    script = Path(sys.executable).parent / "cosemnet"
    return [str(script)] if script.exists() else [sys.executable, "-m", "cosemnet.cli"]


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
        s.bind(("::1", 0))
        return int(s.getsockname()[1])


def _until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def dsn(pg_cluster: str) -> Iterator[str]:
    import psycopg

    schema = f"w_{secrets.token_hex(6)}"
    with psycopg.connect(pg_cluster, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    yield f"{pg_cluster}&options={urllib.parse.quote(f'-csearch_path={schema}', safe='')}"
    with psycopg.connect(pg_cluster, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


class Processes:
    def __init__(self) -> None:
        self.started: list[subprocess.Popen[str]] = []

    def start(self, *args: str) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [*_cosemnet(), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=ENV,
        )
        self.started.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in self.started:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=10)
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()


@pytest.fixture
def procs() -> Iterator[Processes]:
    p = Processes()
    yield p
    p.stop_all()


def _register_fleet(procs: Processes, dsn: str, store: Storage, meters: int) -> None:
    """A fleet registered through `hes listen --db postgresql://...`, then the listener stopped."""
    port = _free_udp_port()
    listen = procs.start("hes", "listen", "--db", dsn, "--bind", "::1", "--port", str(port), "--test-keys")
    assert listen.stdout is not None
    assert "listening" in listen.stdout.readline()
    procs.start(
        "sim", "mesh", "--meters", str(meters), "--head-end", f"[::1]:{port}",
        "--duration", "300", "--status-every", "0", "--json",
    )  # fmt: skip
    _until(lambda: len(store.bindings()) == meters, 90, f"{meters} registrations in PostgreSQL")
    listen.send_signal(signal.SIGTERM)
    assert listen.wait(timeout=20) == 0


def _worker(procs: Processes, dsn: str, name: str) -> subprocess.Popen[str]:
    return procs.start(
        "hes", "worker", "--db", dsn, "--bind", "::1", "--test-keys", "--until-idle", "--json",
        "--lease", "2", "--batch", "50", "--name", name,
    )  # fmt: skip


def _finish(proc: subprocess.Popen[str]) -> tuple[int, list[dict[str, object]]]:
    out, err = proc.communicate(timeout=120)
    assert "Traceback" not in err, err
    return proc.returncode, [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def test_two_workers_one_killed_and_restarted_store_every_reading_once(
    dsn: str, procs: Processes
) -> None:
    store = open_storage(dsn)
    try:
        _register_fleet(procs, dsn, store, METERS)
        enqueue = subprocess.run(
            [*_cosemnet(), "hes", "collect", "--db", dsn, "--obis", OBIS, "--no-scaler", "--enqueue", "--json"],
            capture_output=True, text=True, timeout=60, env=ENV,
        )  # fmt: skip
        assert enqueue.returncode == 0, enqueue.stderr
        run_id = int(json.loads(enqueue.stdout)["run_id"])
        assert store.job_counts(run_id) == {JobState.QUEUED: METERS}  # queued, and it returned

        killed = _worker(procs, dsn, "A")
        other = _worker(procs, dsn, "B")

        def killed_mid_run() -> bool:
            counts = store.job_counts(run_id)
            held = [j for j in store.jobs(run_id, JobState.LEASED) if j.owner == "A"]
            return counts.get(JobState.DONE, 0) >= METERS // 5 and bool(held)

        _until(killed_mid_run, 60, "worker A holding leases after a fifth of the run")
        os.kill(killed.pid, signal.SIGKILL)
        killed.wait(timeout=10)
        held_at_kill = {j.system_title for j in store.jobs(run_id, JobState.LEASED) if j.owner == "A"}
        restarted = _worker(procs, dsn, "A2")

        for proc in (other, restarted):
            code, lines = _finish(proc)
            assert code == 0, lines
        readings = store.readings(run_id=run_id)
        titles = {r.system_title for r in readings}
        assert len(readings) == METERS and len(titles) == METERS  # every meter exactly once
        assert all(r.error is None and r.value is not None for r in readings)
        jobs = store.jobs(run_id)
        assert {j.state for j in jobs} == {JobState.DONE}
        again = {j.system_title for j in jobs if j.attempts > 1}
        assert held_at_kill and again <= held_at_kill  # only the killed worker's meters read again
        assert {j.owner for j in jobs if j.system_title in held_at_kill} <= {"B", "A2"}
    finally:
        store.close()
