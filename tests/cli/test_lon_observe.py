"""``sim lon`` and ``read --profile lon`` as an operator observes them, in real processes (issue 15):
trace lines on stderr, captures with CN/IP headers that tshark decodes down to the LON frame, and
periodic status on stderr during a long simulation while ``--json`` stays clean on stdout."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
from pathlib import Path

from .conftest import cosemnet_command

ENV = {"PATH": "/usr/bin:/bin", "COLUMNS": "200", "LANG": "C.UTF-8", "PYTHONIOENCODING": "utf-8"}
HAS_TSHARK = shutil.which("tshark") is not None


def run(*args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [*cosemnet_command(), *args], capture_output=True, text=True, timeout=120, env=ENV, check=False
    )
    assert "Traceback" not in result.stderr, result.stderr
    return result


def tshark(capture: Path, *options: str) -> list[str]:
    shark = subprocess.run(
        ["tshark", "-r", str(capture), *options], capture_output=True, text=True, timeout=60, check=False
    )
    assert shark.returncode == 0, shark.stderr
    return shark.stdout.splitlines()


def test_sim_lon_power_line_status_trace_and_capture(tmp_path: Path) -> None:
    capture = tmp_path / "pl.pcap"
    result = run(
        "sim", "lon", "--meters", "2", "--security", "none", "--duration", "60", "--status-every", "0.05",
        "--trace", "--pcap", str(capture), "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)  # stdout: the one JSON object
    assert summary["ok"] and summary["rounds"] > 1
    status = [line for line in result.stderr.splitlines() if line.startswith("[")]
    assert status and all("s simulated] round" in line and "2/2 meters read" in line for line in status)
    trace = [line for line in result.stderr.splitlines() if " -> 127.76." in line]
    assert any("LON 1/1 -> 1/2 ADP AdpData" in line and "GetRequestWithList" in line for line in trace)
    assert any("LON 1/2 -> 1/1" in line and "GetResponseWithList" in line for line in trace)
    if HAS_TSHARK:
        fields = ["-T", "fields", "-e", "ip.src", "-e", "udp.dstport", "-e", "frame.protocols"]
        rows = [line.split("\t") for line in tshark(capture, *fields)]
        assert len(rows) == len(trace)  # one packet per frame heard on the channel
        assert {"127.76.1.1", "127.76.1.2"} <= {src for src, _, _ in rows}
        assert all(port == "1628" and "cnip:lon" in protocols for _, port, protocols in rows)


def test_sim_lon_cnip_status_and_read_profile_lon_trace_and_capture(tmp_path: Path) -> None:
    fleet_capture, read_capture = tmp_path / "segment.pcap", tmp_path / "read.pcap"
    segment = subprocess.Popen(
        [*cosemnet_command(), "sim", "lon", "--meters", "1", "--channel", "cnip", "--security", "none",
         "--duration", "30", "--status-every", "0.2", "--json", "--trace", "--pcap", str(fleet_capture)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV,
    )  # fmt: skip
    try:
        assert segment.stdout is not None
        summary = json.loads(segment.stdout.readline())
        node = summary["nodes"][0]
        result = run(
            "read", "--profile", "lon", node["udp"], "--lon-node", node["meter"], "--lon-local",
            summary["concentrator"], "1-0:1.8.0", "--class-id", "3", "--trace", "--pcap", str(read_capture),
        )  # fmt: skip
    finally:
        segment.send_signal(signal.SIGTERM)
        rest, err = segment.communicate(timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout.endswith(" Wh  (double-long-unsigned " + result.stdout.split()[0] + ", scaler 0)\n")
    sent = [line for line in result.stderr.splitlines() if f" -> {node['udp']} " in line]
    received = [line for line in result.stderr.splitlines() if f" <- {node['udp']} " in line]
    assert any("GetRequestNormal" in line and "3/1-0:1.8.0*255/2" in line for line in sent)
    assert any(f"LON {node['meter']} -> " in line and "GetResponseNormal" in line for line in received)
    assert rest == ""  # --json: nothing after the summary on stdout
    assert any(line.startswith("[") and "meters up" in line for line in err.splitlines())
    assert any(f"-> {summary['concentrator']} " in line and "LON " in line for line in err.splitlines())
    if HAS_TSHARK:
        port = summary["concentrator"].rsplit(":", 1)[1]
        decode = ["-d", f"udp.port=={port},cnip", "-T", "fields", "-e", "frame.protocols"]
        for capture in (read_capture, fleet_capture):
            protocols = tshark(capture, *decode)
            assert protocols and all("cnip:lon" in p for p in protocols), protocols
        assert len(tshark(read_capture, "-T", "fields", "-e", "udp.length")) == len(sent) + len(received)
