"""Smoke test of ``benchmarks/osgp.py --quick --json``: both suites read the meter (results verified inside
the benchmark), the ratios are computed from real frame counts, and the CPU comparison ran. No timing
assertion."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCHMARK = Path(__file__).resolve().parent.parent / "benchmarks" / "osgp.py"


def test_quick_json_run() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCHMARK), "--quick", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    report = json.loads(done.stdout)
    for case in ("register_read", "bt23_read"):
        secured, plain = report["osgp_aes"][case], report["null_suite"][case]
        assert secured["wire_bytes"] > plain["wire_bytes"] > 0  # the suite's overhead is on the wire
        assert report["ratio"][case]["bytes"] == round(secured["wire_bytes"] / plain["wire_bytes"], 3)
    assert report["osgp_aes"]["setup"]["frames"] > 0 and report["null_suite"]["setup"] is None
    assert report["cpu"]["suite_messages_per_s"] > 0 and report["cpu"]["raw_aesccm_messages_per_s"] > 0
    fw = report["firmware"]  # every meter activated the verified image in every case (checked inside)
    assert fw["unicast"]["broadcast_blocks"] == 0
    assert fw["unicast"]["repair_blocks"] == fw["meters"] * fw["unicast"]["blocks"]
    assert fw["broadcast_once"]["broadcast_blocks"] == fw["broadcast_once"]["blocks"]
    assert fw["broadcast_once"]["airtime_s"] < fw["unicast"]["airtime_s"]  # simulated airtime, deterministic
    assert done.returncode == (0 if report["within_target"] else 1)
