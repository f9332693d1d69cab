"""Collector workers on PostgreSQL (issue 13 items 2, 4, 7): real processes against a throwaway cluster.

``hes listen --db postgresql://...`` writes the registrations of a simulated fleet (``sim mesh``)
into the shared storage; ``hes collect --enqueue`` queues one job per meter; two ``hes worker``
processes read the fleet, one is killed with SIGKILL mid-run and a restarted one finishes with the
other: every meter's reading is stored exactly once, the killed worker's leases expire, completed jobs
are never read again. The fleet has the issue's 5,000 meters (25-35 s on a quiet machine; the
listener commits a burst of registrations at once, decision 0131).
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

METERS = 5000
OBIS = "3/1-0:1.8.0*255/2"  # a queued collect reads no object list: the class is given
ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONIOENCODING": "utf-8"}


def _cosemnet() -> list[str]:
    script = Path(sys.executable).parent / "cosemnet"
    return [str(script)] if script.exists() else [sys.executable, "-m", "cosemnet.cli"]


def _free_udp_port() -> int:
    """A free port below the ephemeral range (the fleet's meters take ephemeral ports)."""
    for port in range(20000 + os.getpid() % 5000, 32000):
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            try:
                s.bind(("::1", port))
            except OSError:
                continue
            return port
    raise AssertionError("no free UDP port")


def _count(dsn: str, table: str, where: str = "TRUE") -> int:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(f"SELECT count(*) FROM {table} WHERE {where}").fetchone()
    return 0 if row is None else int(row[0])


def _until(
    condition: Callable[[], bool], timeout: float, what: str, detail: Callable[[], object] = str
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}: {detail()}")
        time.sleep(0.2)


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
    """Processes of a test, their output in files (a full pipe would stall a chatty one)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.started: list[tuple[subprocess.Popen[str], Path]] = []

    def start(self, *args: str) -> subprocess.Popen[str]:
        out = self.directory / f"proc{len(self.started)}.out"
        with out.open("w") as stdout, (self.directory / f"proc{len(self.started)}.err").open("w") as stderr:
            proc = subprocess.Popen([*_cosemnet(), *args], stdout=stdout, stderr=stderr, text=True, env=ENV)
        self.started.append((proc, out))
        return proc

    def output(self, proc: subprocess.Popen[str]) -> tuple[str, str]:
        out = next(path for p, path in self.started if p is proc)
        return out.read_text(), out.with_suffix(".err").read_text()

    def stop_all(self) -> None:
        for proc, _ in self.started:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=10)


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Processes]:
    p = Processes(tmp_path)
    yield p
    p.stop_all()


def _register_fleet(procs: Processes, dsn: str, store: Storage, meters: int) -> None:
    """A fleet registered through `hes listen --db postgresql://...`, then the listener stopped."""
    port = _free_udp_port()
    listen = procs.start("hes", "listen", "--db", dsn, "--bind", "::1", "--port", str(port), "--test-keys")
    _until(lambda: "listening" in procs.output(listen)[0], 30, "the listener")
    sim = procs.start(
        "sim", "mesh", "--meters", str(meters), "--head-end", f"[::1]:{port}",
        "--duration", "300", "--status-every", "0", "--json",
        "--randomisation", str(max(1, meters // 1000)), "--retries", "30",
    )  # fmt: skip
    _until(
        lambda: _count(dsn, "devices") == meters,
        180,
        f"{meters} registrations in PostgreSQL",
        lambda: (_count(dsn, "devices"), procs.output(listen)[1][-2000:], procs.output(sim)[1][-2000:]),
    )
    listen.send_signal(signal.SIGTERM)
    assert listen.wait(timeout=20) == 143, procs.output(listen)  # stopped by SIGTERM (0130)


def _worker(procs: Processes, dsn: str, name: str) -> subprocess.Popen[str]:
    return procs.start(
        "hes", "worker", "--db", dsn, "--bind", "::1", "--test-keys", "--until-idle", "--json",
        "--lease", "2", "--batch", "50", "--name", name,
        "--max-in-flight", "128", "--max-per-prefix", "128", "--max-per-router", "128",
        # fixed timers: on a loaded machine short learned ones make AARQ retries race their AAREs (0120)
        "--fixed-timers", "--timeout", "5", "--retry-after", "1", "--max-attempts", "10",
    )  # fmt: skip


def _finish(procs: Processes, proc: subprocess.Popen[str]) -> tuple[int, list[dict[str, object]]]:
    code = proc.wait(timeout=240)
    out, err = procs.output(proc)
    assert "Traceback" not in err, err
    return code, [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def test_two_workers_one_killed_and_restarted_store_every_reading_once(dsn: str, procs: Processes) -> None:
    store = open_storage(dsn)
    try:
        _register_fleet(procs, dsn, store, METERS)
        enqueue = subprocess.run(
            [*_cosemnet(), "hes", "collect", "--db", dsn, "--obis", OBIS, "--no-scaler", "--enqueue",
             "--json"],
            capture_output=True, text=True, timeout=60, env=ENV,
        )  # fmt: skip
        assert enqueue.returncode == 0, enqueue.stderr
        run_id = int(json.loads(enqueue.stdout)["run_id"])
        counts = store.job_counts(run_id)
        assert counts[JobState.QUEUED] == METERS and sum(counts.values()) == METERS  # queued, returned

        killed = _worker(procs, dsn, "A")
        other = _worker(procs, dsn, "B")

        def killed_mid_run() -> bool:
            held = _count(dsn, "jobs", "state = 'leased' AND owner = 'A'")
            return held > 0 and _count(dsn, "jobs", "state = 'done'") >= METERS // 5

        # stopped first, so the leases it holds cannot complete between the check and the kill
        held_at_kill: set[bytes] = set()
        while not held_at_kill:
            _until(killed_mid_run, 120, "worker A holding leases after a fifth of the run")
            os.kill(killed.pid, signal.SIGSTOP)
            held_at_kill = {j.system_title for j in store.jobs(run_id, JobState.LEASED) if j.owner == "A"}
            if not held_at_kill:
                os.kill(killed.pid, signal.SIGCONT)
        os.kill(killed.pid, signal.SIGKILL)
        killed.wait(timeout=10)
        done_at_kill = {j.job_id: (j.attempts, j.owner) for j in store.jobs(run_id, JobState.DONE)}
        restarted = _worker(procs, dsn, "A2")

        stats = []
        for proc in (other, restarted):
            code, lines = _finish(procs, proc)
            assert code == 0, lines
            stats.append(lines[-1])
        assert [s["event"] for s in stats] == ["done", "done"]
        readings = store.readings(run_id=run_id)
        titles = {r.system_title for r in readings}
        assert len(readings) == METERS and len(titles) == METERS  # every meter exactly once
        assert all(r.error is None and r.value is not None for r in readings)
        jobs = store.jobs(run_id)
        assert {j.state for j in jobs} == {JobState.DONE}
        # a completed job is never leased again; the killed worker's meters were, after their leases expired
        assert {j.job_id: (j.attempts, j.owner) for j in jobs if j.job_id in done_at_kill} == done_at_kill
        assert held_at_kill and all(j.attempts > 1 for j in jobs if j.system_title in held_at_kill)
        assert {j.owner for j in jobs if j.system_title in held_at_kill} <= {"B", "A2"}
    finally:
        store.close()


def test_collect_on_postgresql_only_queues(dsn: str) -> None:
    def collect(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*_cosemnet(), "hes", "collect", "--db", dsn, "--obis", OBIS, "--test-keys", *extra],
            capture_output=True, text=True, timeout=60, env=ENV,
        )  # fmt: skip

    refused = collect()  # reading is the workers' job on the shared storage
    assert refused.returncode == 2 and "--enqueue" in refused.stderr and "Traceback" not in refused.stderr
    assert collect("--enqueue", "--resume", "1").returncode == 2
    empty = collect("--enqueue", "--json")
    assert empty.returncode == 0 and json.loads(empty.stdout)["jobs"] == 0
