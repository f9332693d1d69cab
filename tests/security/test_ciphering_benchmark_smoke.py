"""Smoke test of benchmarks/ciphering.py: it runs, verifies every peer and reports positive rates.

No timing assertions: a 20 ms measurement says nothing about speed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "ciphering.py"


def test_json_run() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCHMARK), "--json", "--seconds", "0.02", "--repeats", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert set(report["results"]) == {"cosemnet", "dlms-cosem", "gurux-dlms", "raw AESGCM"}
    for peer, rates in report["results"].items():
        assert rates["encrypt"] > 0 and rates["decrypt"] > 0, peer
    assert set(report["ratios"]) == {
        "cosemnet / dlms-cosem",
        "cosemnet / gurux-dlms",
        "cosemnet / raw AESGCM",
    }
    assert report["skipped"] == {}
