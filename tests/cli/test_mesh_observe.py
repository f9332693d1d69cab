"""The mesh commands as an operator observes them, in real processes on loopback (issue 15): ``hes``
and ``sim mesh`` with ``--trace`` (lines on stderr, decrypted with the head-end's keys), ``--pcap``
(tshark reads the capture) and ``--metrics-port`` (scraped over loopback while the process runs);
``hes collect --group`` exits 1 naming the members that did not answer; an OBIS code without its class
is looked up in a meter's object list."""

from __future__ import annotations

import csv
import io
import json
import queue
import shutil
import signal
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pytest

from .conftest import cosemnet_command

ENV = {"PATH": "/usr/bin:/bin", "COLUMNS": "200", "LANG": "C.UTF-8", "PYTHONIOENCODING": "utf-8"}
TITLES = ("4D4D4D0000000001", "4D4D4D0000000002")
CONFIRMATIONS = 'cosemnet_hes_requests_total{apdu="GeneralGloCiphering"}'


@dataclass
class Running:
    """A background process whose stdout and stderr lines are read as they come."""

    process: subprocess.Popen[str]
    out: queue.Queue[str] = field(default_factory=queue.Queue)
    err: list[str] = field(default_factory=list)
    err_lines: queue.Queue[str] = field(default_factory=queue.Queue)

    def start_readers(self) -> None:
        assert self.process.stdout is not None and self.process.stderr is not None
        threading.Thread(target=self._pump, args=(self.process.stdout, self.out, None), daemon=True).start()
        threading.Thread(
            target=self._pump, args=(self.process.stderr, self.err_lines, self.err), daemon=True
        ).start()

    @staticmethod
    def _pump(stream: object, lines: queue.Queue[str], keep: list[str] | None) -> None:
        for line in stream:  # type: ignore[attr-defined]
            lines.put(line)
            if keep is not None:
                keep.append(line)

    def wait_for(self, lines: queue.Queue[str], text: str, timeout: float = 30) -> str:
        while True:
            try:
                line = lines.get(timeout=timeout)
            except queue.Empty:
                pytest.fail(f"no line with {text!r}; stderr: {''.join(self.err)[-2000:]}")
            if text in line:
                return line

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def background(*args: str) -> Running:
    process = subprocess.Popen(
        [*cosemnet_command(), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV
    )
    running = Running(process)
    running.start_readers()
    return running


def run(*args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [*cosemnet_command(), *args], capture_output=True, text=True, timeout=90, env=ENV, check=False
    )
    assert "Traceback" not in result.stderr, result.stderr
    return result


def scrape(url: str) -> dict[str, float]:
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    return {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("cosemnet_")
    }


def tshark_rows(capture: Path, *fields: str) -> list[list[str]]:
    command = ["tshark", "-r", str(capture), "-T", "fields"]
    for name in fields:
        command += ["-e", name]
    shark = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert shark.returncode == 0, shark.stderr
    return [line.split("\t") for line in shark.stdout.splitlines()]


@dataclass
class Mesh:
    db: Path
    fleet: Running
    gateway: str
    hes_metrics: dict[str, float]
    listen_stderr: str
    listen_pcap: Path
    fleet_pcap: Path
    fleet_metrics: str


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    """Two simulated meters (groups: meter 1 in group 1, meter 2 in group 2) registered with a
    `hes listen` that traces, captures and serves metrics; the fleet keeps running for the tests."""
    tmp = tmp_path_factory.mktemp("mesh")
    db, listen_pcap, fleet_pcap = tmp / "hes.db", tmp / "listen.pcap", tmp / "fleet.pcap"
    listen = background(
        "hes", "listen", "--db", str(db), "--test-keys", "--bind", "[::1]:0", "--json",
        "--trace", "--pcap", str(listen_pcap), "--metrics-port", "0",
    )  # fmt: skip
    fleet: Running | None = None
    try:
        metrics_url = listen.wait_for(listen.err_lines, "metrics on ").split("metrics on ", 1)[1].strip()
        port = json.loads(listen.wait_for(listen.out, '"listening"'))["port"]
        fleet = background(
            "sim", "mesh", "--meters", "2", "--head-end", f"[::1]:{port}", "--groups", "2",
            "--duration", "90", "--status-every", "0", "--trace", "--pcap", str(fleet_pcap),
            "--metrics-port", "0",
        )  # fmt: skip
        fleet_metrics = fleet.wait_for(fleet.err_lines, "metrics on ").split("metrics on ", 1)[1].strip()
        gateway = fleet.wait_for(fleet.out, "group gateway ").split()[-1]
        for _ in TITLES:
            assert json.loads(listen.wait_for(listen.out, '"registration"'))["result"] == "created"
        hes_metrics = scrape(metrics_url)
        deadline = time.monotonic() + 10
        while hes_metrics.get(CONFIRMATIONS, 0) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)  # the second confirmation leaves right after its registration line
            hes_metrics = scrape(metrics_url)
    finally:
        listen.stop()
    try:
        yield Mesh(
            db, fleet, gateway, hes_metrics, "".join(listen.err), listen_pcap, fleet_pcap, fleet_metrics
        )
    finally:
        fleet.stop()


def test_hes_listen_traces_captures_and_counts_registrations(mesh: Mesh) -> None:
    metrics = mesh.hes_metrics
    assert metrics['cosemnet_hes_registrations_total{result="created"}'] == 2
    assert metrics['cosemnet_hes_responses_total{apdu="GeneralGloCiphering"}'] >= 2  # the registrations
    assert metrics[CONFIRMATIONS] >= 2  # the confirmations
    assert metrics["cosemnet_hes_response_seconds_count"] >= 2
    received = [line for line in mesh.listen_stderr.splitlines() if " <- [::1]:" in line]
    assert len(received) >= 2
    # decrypted with the key store: the registration is a DataNotification inside general-glo-ciphering
    assert all("GeneralGloCiphering IC=" in line and "=> DataNotification" in line for line in received)


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed")
def test_tshark_reads_the_head_end_and_fleet_captures(mesh: Mesh) -> None:
    rows = tshark_rows(mesh.listen_pcap, "ipv6.src", "udp.srcport", "udp.length")
    assert len(rows) >= 4 and all(src == "::1" and int(length) > 8 for src, _, length in rows)
    fleet_rows = tshark_rows(mesh.fleet_pcap, "udp.dstport")
    assert len(fleet_rows) >= 4


def test_collect_bare_obis_looks_up_the_class_and_traces_decrypted(mesh: Mesh, tmp_path: Path) -> None:
    capture = tmp_path / "collect.pcap"
    result = run(
        "hes", "collect", "--db", str(mesh.db), "--test-keys", "--bind", "[::1]:0", "--obis",
        "1-0:1.8.0,0-0:1.0.0", "--json", "--rows", "--trace", "--pcap", str(capture),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]  # stdout: JSON only
    readings = {(row["system_title"], row["attribute"]) for row in lines[:-1]}
    assert readings == {(t, a) for t in TITLES for a in ("3/1-0:1.8.0*255/2", "8/0-0:1.0.0*255/2")}
    assert lines[-1]["answered"] == 2 and lines[-1]["failed"] == 0
    trace = result.stderr
    assert "=> GetRequestNormal #1 15/0-0:40.0.0*255/2" in trace  # the object list, read once
    assert 1 <= trace.count("15/0-0:40.0.0*255/2") <= 2  # two meters asked at once, then cached
    assert "=> GetResponseWithList" in trace
    if shutil.which("tshark") is not None:
        assert len(tshark_rows(capture, "udp.srcport")) >= 8
    action = run(
        "hes", "set", "--db", str(mesh.db), "--test-keys", "--bind", "[::1]:0", "--obis", "0-0:1.0.0",
        "--value", "now", "--json",
    )  # fmt: skip
    assert action.returncode == 0, action.stderr
    done = json.loads(action.stdout)
    assert done["operation"] == "set 8/0-0:1.0.0*255/2" and done["results"] == {"success": 2}


def test_collect_group_exit_code_names_missing_members(mesh: Mesh) -> None:
    common = ["hes", "collect", "--db", str(mesh.db), "--test-keys", "--bind", "[::1]:0"]
    common += ["--gateway", mesh.gateway, "--window", "1", "--obis", "3/1-0:1.8.0*255/2"]
    partial = run(*common, "--group", "1")  # every registered meter expected; meter 2 is in group 2 only
    assert partial.returncode == 1, partial.stdout + partial.stderr
    assert f"missing  {TITLES[1]}  3/1-0:1.8.0*255/2" in partial.stdout
    assert "1 answered, 1 missing, 0 failed" in partial.stdout
    members = run(*common, "--group", "1", "--member", TITLES[0], "--json")  # who is in the group
    assert members.returncode == 0, members.stdout + members.stderr
    (item,) = json.loads(members.stdout)["attributes"]
    assert item["answered"] == 1 and item["missing"] == [] and item["failed"] == {}


def test_sim_mesh_metrics_and_trace(mesh: Mesh) -> None:
    samples = scrape(mesh.fleet_metrics)
    assert samples['cosemnet_fleet_requests_total{apdu="GeneralGloCiphering"}'] >= 2
    assert samples['cosemnet_fleet_responses_total{apdu="GeneralGloCiphering"}'] >= 2
    trace = [line for line in mesh.fleet.err if " -> [::1]:" in line or " <- [::1]:" in line]
    assert trace and all("wrapper" in line for line in trace)
    # decrypted with the fleet's (published test) keys: registrations are DataNotifications
    assert any(" -> [::1]:" in line and "=> DataNotification" in line for line in trace)


def test_broadcast_exit_code_names_missing_members(mesh: Mesh) -> None:
    common = ["hes", "broadcast", "--db", str(mesh.db), "--test-keys", "--bind", "[::1]:0"]
    common += ["--gateway", mesh.gateway, "--window", "1", "--obis", "3/1-0:1.8.0*255/2"]
    partial = run(*common, "--group", "1")  # every registered meter expected; meter 2 is in group 2 only
    assert partial.returncode == 1, partial.stdout + partial.stderr
    assert f"missing   {TITLES[1]}" in partial.stdout
    assert f"answered  {TITLES[0]}" in partial.stdout
    assert "1 answered, 0 failed, 1 missing" in partial.stdout
    as_json = run(*common, "--group", "2", "--json")
    assert as_json.returncode == 1, as_json.stdout + as_json.stderr
    summary = json.loads(as_json.stdout)
    assert summary["missing"] == [TITLES[0]] and list(summary["answered"]) == [TITLES[1]]
    everyone = run(*common, "--group", "0", "--json")  # group 0: every meter answers
    assert everyone.returncode == 0, everyone.stdout + everyone.stderr
    assert sorted(json.loads(everyone.stdout)["answered"]) == list(TITLES)


def test_collect_and_readings_write_one_csv_format_without_the_object_list(
    mesh: Mesh, tmp_path: Path
) -> None:
    out = tmp_path / "collect.csv"
    # no class given: the object list is read to look the classes up
    collect = run(
        "hes", "collect", "--db", str(mesh.db), "--test-keys", "--bind", "[::1]:0", "--obis",
        "1-0:1.8.0,0-0:1.0.0", "--csv", str(out),
    )  # fmt: skip
    assert collect.returncode == 0, collect.stdout + collect.stderr
    header = ["system_title", "attribute", "value", "unit", "captured_at", "error"]
    written = list(csv.reader(out.open()))
    assert written[0] == header
    assert {(r[0], r[1]) for r in written[1:]} == {
        (t, a) for t in TITLES for a in ("3/1-0:1.8.0*255/2", "8/0-0:1.0.0*255/2")
    }
    energy = next(r for r in written[1:] if r[1].startswith("3/"))
    assert energy[3] == "Wh" and energy[5] == ""
    assert datetime.fromisoformat(energy[4]).tzinfo is not None
    stored = run("hes", "readings", "--db", str(mesh.db), "--csv")
    assert stored.returncode == 0, stored.stderr
    rows = list(csv.reader(io.StringIO(stored.stdout)))
    assert rows[0] == header
    assert {(r[0], r[1]) for r in written[1:]} <= {(r[0], r[1]) for r in rows[1:]}
    assert not any(r[1].startswith("15/") for r in rows[1:])  # the class lookup is not a reading
    everything = run("hes", "readings", "--db", str(mesh.db), "--json", "--all")
    assert everything.returncode == 0, everything.stderr
    attributes = {json.loads(line)["attribute"] for line in everything.stdout.splitlines()}
    assert "15/0-0:40.0.0*255/2" in attributes
