"""``cosemnet sim lon --topology`` in a real process: discovery, commissioning (Annex F) and reads through
repeaters on a simulated feeder; the --inject parser keeps tamper/replay and gains repeater-loss."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from cosemnet.cli.lon_inject import parse_feeder_inject


def _run(*args: str) -> tuple[int, dict[str, object]]:
    done = subprocess.run(
        [sys.executable, "-m", "cosemnet.cli", "sim", "lon", *args, "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return done.returncode, json.loads(done.stdout)


def test_line_feeder_discovered_commissioned_and_read_through_repeaters() -> None:
    code, summary = _run("--topology", "line", "--meters", "12", "--seed", "4")
    assert code == 0, summary.get("reads")
    assert summary["meters"] == summary["discovered"] == summary["commissioned"] == summary["read_ok"] == 12
    assert isinstance(summary["max_hops"], int) and summary["max_hops"] >= 2
    assert isinstance(summary["repeated_reads"], int) and summary["repeated_reads"] >= 1
    for key in ("security", "silent_meters", "simulated_s"):
        assert key in summary


def test_inject_parser() -> None:
    assert parse_feeder_inject("tamper=0.2,replay=0.1") == ({"tamper": 0.2, "replay": 0.1}, 0)
    assert parse_feeder_inject("repeater-loss=2,tamper=0.5") == ({"tamper": 0.5}, 2)
    for bad in ("repeater-loss=x", "repeater-loss=-1", "bogus=1"):
        with pytest.raises(ValueError):
            parse_feeder_inject(bad)


def test_repeater_loss_needs_a_topology() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cosemnet.cli", "sim", "lon", "--meters", "2", "--inject", "repeater-loss=1"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2 and "repeater-loss needs --topology" in done.stderr


def test_repeater_loss_rereads_every_reachable_meter() -> None:
    code, summary = _run(
        "--topology",
        "line",
        "--meters",
        "12",
        "--seed",
        "1",
        "--security",
        "none",
        "--inject",
        "repeater-loss=1",
    )
    assert code == 0 and summary["ok"] is True, summary.get("unreachable")
    lost = summary["repeaters_lost"]
    assert isinstance(lost, list) and len(lost) == 1
    # the lost repeater is reported unreachable (a failed read, not dropped); every other meter was read
    assert summary["unreachable"] == lost and set(lost) <= set(summary["cut_off"])  # type: ignore[arg-type]
    assert summary["read_ok"] == 11 and len(summary["reads"]) == 12  # type: ignore[arg-type]
