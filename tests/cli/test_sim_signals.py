"""Long-running commands in real processes, stopped by SIGTERM / SIGINT: each prints its summary (JSON
with --json), flushes its capture and exits 128 + the signal (143 / 130, docs/decisions/0130).
Also ``sim lon --pcap`` captures the frames that build the segment (secure-channel set-up) and
``sim lon --topology`` traces and captures (docs/decisions/0115)."""

from __future__ import annotations

import json
import queue
import shutil
import signal
import subprocess
import threading
from pathlib import Path

import pytest

from .conftest import cosemnet_command

ENV = {"PATH": "/usr/bin:/bin", "COLUMNS": "200", "LANG": "C.UTF-8", "PYTHONIOENCODING": "utf-8"}
PCAP_MAGIC = (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x0a\x0d\x0d\x0a")


def stopped(args: list[str], ready: str, sig: signal.Signals, stream: str = "stderr") -> tuple[int, str, str]:
    """Start ``cosemnet ARGS``, wait for a line containing ``ready`` on ``stream``, send ``sig``; the
    exit status, stdout and stderr."""
    process = subprocess.Popen(
        [*cosemnet_command(), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV
    )
    lines: queue.Queue[str] = queue.Queue()
    kept: dict[str, list[str]] = {"stdout": [], "stderr": []}

    def pump(name: str) -> None:
        for line in getattr(process, name):
            kept[name].append(line)
            if name == stream:
                lines.put(line)

    readers = [threading.Thread(target=pump, args=(n,), daemon=True) for n in ("stdout", "stderr")]
    for reader in readers:
        reader.start()
    try:
        while True:
            try:
                line = lines.get(timeout=60)
            except queue.Empty:
                pytest.fail(f"no {ready!r}; stderr: {''.join(kept['stderr'])[-2000:]}")
            if ready in line:
                break
        process.send_signal(sig)
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    for reader in readers:
        reader.join(10)
    err = "".join(kept["stderr"])
    assert "Traceback" not in err, err
    return process.returncode, "".join(kept["stdout"]), err


def test_sim_lon_power_line_sigterm_prints_json_flushes_the_capture_exits_143(tmp_path: Path) -> None:
    capture = tmp_path / "pl.pcap"
    args = ["sim", "lon", "--meters", "2", "--duration", "86400", "--status-every", "0.2", "--json"]
    code, out, _ = stopped([*args, "--pcap", str(capture)], "simulated] round", signal.SIGTERM)
    assert code == 143
    summary = json.loads(out)
    assert summary["interrupted"] == "SIGTERM" and summary["rounds"] >= 1 and summary["read_ok"] == 2
    data = capture.read_bytes()
    assert data[:4] in PCAP_MAGIC and len(data) > 200
    if shutil.which("tshark") is not None:
        shark = subprocess.run(["tshark", "-r", str(capture)], capture_output=True, text=True, timeout=60)
        assert shark.returncode == 0 and len(shark.stdout.splitlines()) >= 12, shark.stderr


def test_sim_lon_power_line_sigint_exits_130_with_the_table() -> None:
    args = ["sim", "lon", "--meters", "2", "--duration", "86400", "--status-every", "0.2"]
    code, out, _ = stopped(args, "simulated] round", signal.SIGINT)
    assert code == 130
    assert "stopped by SIGINT after" in out and "secure channels" in out


def test_sim_lon_cnip_sigterm_exits_143_after_its_summary() -> None:
    args = ["sim", "lon", "--channel", "cnip", "--meters", "2", "--duration", "120", "--json"]
    code, out, err = stopped(args, '"channel": "cnip"', signal.SIGTERM, stream="stdout")
    assert code == 143
    assert json.loads(out.splitlines()[0])["read_ok"] == 2 and "stopped by SIGTERM" in err


def test_sim_mesh_sigint_exits_130_with_its_json_summary() -> None:
    args = ["sim", "mesh", "--meters", "2", "--head-end", "[::1]:9", "--duration", "120", "--json"]
    code, out, _ = stopped([*args, "--status-every", "0.2"], "online 2/2", signal.SIGINT)
    assert code == 130
    summary = json.loads(out)
    assert summary["interrupted"] == "SIGINT" and summary["meters"] == 2


def test_sim_mesh_sigterm_exits_143_with_its_text_summary() -> None:
    args = ["sim", "mesh", "--meters", "2", "--head-end", "[::1]:9", "--duration", "120"]
    code, out, err = stopped([*args, "--status-every", "0"], "meters up in", signal.SIGTERM, "stdout")
    assert code == 143
    assert "registered 0/2" in out and "stopped by SIGTERM" in err


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_meter_serve_stops_cleanly_with_128_plus_the_signal(sig: signal.Signals, code: int) -> None:
    args = ["meter", "serve", "--no-state", "--bind", "127.0.0.1:0"]
    status, _, err = stopped(args, "listening on tcp", sig, stream="stdout")
    assert status == code and "stopped" in err


def _frames(*args: str) -> int:
    done = subprocess.run(
        [*cosemnet_command(), "sim", "lon", "--meters", "2", "--json", "--trace", *args],
        capture_output=True, text=True, timeout=120, env=ENV, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return sum(1 for line in done.stderr.splitlines() if " -> 127.7" in line)


def test_sim_lon_captures_the_secure_channel_set_up() -> None:
    # the same reads with and without the suite; osgp-aes first opens a secure channel with each meter
    # (4 frames each) and hands out the domain key: those frames are traced too
    assert _frames("--security", "osgp-aes") >= _frames("--security", "none") + 4 * 2


def test_sim_lon_topology_traces_and_captures(tmp_path: Path) -> None:
    capture = tmp_path / "feeder.pcap"
    args = ["sim", "lon", "--topology", "line", "--meters", "6", "--seed", "4", "--json"]
    done = subprocess.run(
        [*cosemnet_command(), *args, "--trace", "--pcap", str(capture)],
        capture_output=True, text=True, timeout=300, env=ENV, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["commissioned"] == summary["read_ok"] == 6
    traced = [line for line in done.stderr.splitlines() if ":1628 " in line]
    assert any("-> broadcast" in line for line in traced[:5])  # from the first discovery query on
    assert len(traced) >= 100
    data = capture.read_bytes()
    assert data[:4] in PCAP_MAGIC
    plain = subprocess.run(
        [*cosemnet_command(), *args], capture_output=True, text=True, timeout=300, env=ENV, check=False
    )
    # the analyser only listens: the run is the same without it
    assert json.loads(plain.stdout)["simulated_s"] == summary["simulated_s"]
    if shutil.which("tshark") is not None:
        shark = subprocess.run(
            ["tshark", "-r", str(capture), "-T", "fields", "-e", "udp.dstport"],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert shark.returncode == 0 and shark.stdout.split().count("1628") == len(traced), shark.stderr
