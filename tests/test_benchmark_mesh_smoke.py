"""Smoke test of the mesh fleet benchmark: ``benchmarks/mesh_fleet.py --quick --json`` on a small fleet.

No timing or memory assertions (numbers from a small quick run mean nothing); what is checked is that
the fleet process registered every meter, that both cosemnet passes read every meter, that the values
were verified against the meters' own values, and that gurux-dlms read its sample.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARK = Path(__file__).resolve().parent.parent / "benchmarks" / "mesh_fleet.py"


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback")
def test_quick_json_run_reads_every_meter_and_verifies() -> None:
    meters = 60
    done = subprocess.run(
        [sys.executable, str(BENCHMARK), "--quick", "--json", "--meters", str(meters), "--gurux-sample", "5"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    assert report["settings"]["quick"] is True and report["settings"]["meters"] == meters
    results = report["results"]
    first, established = results["first_pass_with_association"], results["established"]
    assert first["read"] == meters and first["aarq_sent"] == meters
    assert established["read"] == meters and established["aarq_sent"] == 0
    assert first["meters_per_s"] > 0 and established["meters_per_s"] > 0
    verification = results["verification"]
    assert verification["verified"] is True and len(verification["checked"]) == 5
    for _title, low, value, high in verification["checked"]:
        assert low <= value <= high
    memory = results["memory"]
    assert memory["rss_peak_delta_bytes_per_meter"] > 0
    assert memory["tracemalloc_peak_bytes_per_meter"] >= memory["tracemalloc_current_bytes_per_meter"] > 0
    gurux = results["gurux"]
    assert gurux["verified"] is True and gurux["sample"] == 5 and gurux["meters_per_s"] > 0
    assert set(report["machine"]["versions"]) == {"cosemnet", "gurux-dlms"}
    for window in ("64", "512", "2048"):
        swept = results["windows"][window]
        assert swept["read"] == meters and swept["aarq_sent"] == 0
        assert swept["head_end_cpu_us_per_read"] > 0
    sequential = results["cosemnet_sequential"]
    assert sequential["sample"] == 5 and sequential["meters_per_s"] > 0
    assert results["receive_buffer_bytes"] > 0


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback")
def test_scale_run_reads_every_meter_and_reports_fds_and_memory() -> None:
    """``--scale`` on a small fleet: as root in a namespace of its own with the AnyIP route (one shared
    socket), else on ::1 (one socket per meter)."""
    meters = 40
    command = [sys.executable, str(BENCHMARK), "--scale", "--json", "--meters", str(meters)]
    root = hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("ip") is not None
    if root:
        command += ["--anyip", "fd00:c05e::/64", "--netns", f"cosemnet-scale-{os.getpid()}"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    results = report["results"]
    assert results["read_with_association"]["read"] == meters
    assert results["summary"]["meters_per_s"] > 0 and results["memory"]["maxrss_delta_bytes_per_meter"] > 0
    assert results["shared_socket"] is root
    fds = results["fds"]
    if root:
        assert fds["with_fleet"] - fds["before_fleet"] <= 4
    else:
        assert fds["with_fleet"] - fds["before_fleet"] >= meters
