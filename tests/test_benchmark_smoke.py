"""Smoke test of the codec benchmark: ``benchmarks/codec.py --quick --json`` runs and reports every library.

No timing assertions (numbers from a quick run mean nothing); what is checked is that each library's
operation was verified against the reference before it was timed and produced a positive rate.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

BENCHMARK = Path(__file__).resolve().parent.parent / "benchmarks" / "codec.py"
CASES = {"get_request_encode", "get_request_decode", "profile_encode", "profile_decode"}
LIBRARIES = {"cosemnet", "dlms-cosem", "gurux-dlms"}


def test_quick_json_run_reports_all_three_libraries() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCHMARK), "--quick", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["settings"]["quick"] is True
    assert set(report["results"]) == CASES
    for case, by_library in report["results"].items():
        assert set(by_library) == LIBRARIES, case
        for library, result in by_library.items():
            assert result["verified"] is True, (case, library)
            assert result["ops_per_s"] > 0, (case, library)
            assert result["what"], (case, library)
    for case, summary in report["summary"].items():
        assert summary["best_peer"] in LIBRARIES - {"cosemnet"}, case
        assert summary["ratio"] > 0, case
    assert set(report["machine"]["versions"]) == LIBRARIES
    # the profile sweep (sizes 100 and 1,000 in a quick run): every case verified and timed
    sweep = report["sweep"]["by_size"]
    assert set(sweep) == {"100", "1000"}
    for size, entry in sweep.items():
        assert set(entry["cases"]) == {"profile_encode", "profile_decode", "profile_decode_compressed"}
        for case, result in entry["cases"].items():
            assert set(result["ops_per_s"]) == LIBRARIES, (size, case)
            assert all(rate > 0 for rate in result["ops_per_s"].values()), (size, case)


SERVER_BENCHMARK = BENCHMARK.parent / "server.py"


def test_server_benchmark_quick_json_run_verifies_both_servers() -> None:
    done = subprocess.run(
        [sys.executable, str(SERVER_BENCHMARK), "--quick", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert set(report["results"]) == {"register_get", "profile_read"}
    for case, by_library in report["results"].items():
        assert set(by_library) == {"cosemnet", "gurux-dlms"}, case
        for library, result in by_library.items():
            assert result["verified"] is True, (case, library)
            assert result["ops_per_s"] > 0, (case, library)
    # over TCP: every server answered (each one's first GET answer was checked before it counted)
    tcp = report["tcp"]["results"]
    assert set(tcp) == {"canned", "cosemnet", "cosemnet-no-tick", "gurux-dlms"}
    for name, result in tcp.items():
        assert result["answers"] > 0 and result["requests_per_s"] > 0, name


def test_lon_wire_benchmark_quick_json_accounts_every_byte() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCHMARK.parent / "lon_wire.py"), "--quick", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    for name, exchange in report["per_exchange"].items():
        # the wire carries at least the xDLMS payload, and framing costs something
        assert exchange["wire_bytes"] > exchange["payload_bytes"] > 0, name
        assert exchange["airtime_s"] > exchange["payload_airtime_s"] > 0, name
    for name, segment in report["segment"].items():
        assert segment["failed"] == 0, name
        assert 0 < segment["reads_per_hour"] <= segment["airtime_bound_per_hour"], name


def test_lon_feeder_benchmark_quick_json_discovers_every_meter() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCHMARK.parent / "lon_feeder.py"), "--quick", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["settings"]["quick"] is True
    for case in report["discovery"]:
        assert case["unreachable"] == 0 and 1 < case["radio_hops_max"] <= 4
        assert case["discovered"] == case["commissioned"] == case["meters"]
        assert 1 <= case["max_repeaters"] <= 3
        for channel in ("feeder", "flat"):
            assert case[channel]["reads_ok"] == case["meters"] and case[channel]["reads_per_hour"] > 0
    for case in report["reads"]:  # steady state with paths from service pins, vs the flat channel
        assert case["max_repeaters"] >= 1 and case["repeated_meters"] >= 1
        assert case["feeder"]["reads_ok"] == case["flat"]["reads_ok"] == case["meters"]
        assert case["ratio"] > 0 and case["feeder"]["airtime_s"] > 0
    hops = report["hops"]
    assert [h["repeaters"] for h in hops] == [0, 1, 2, 3] and all(h["read_ok"] for h in hops)
    # every repeater adds frames and airtime to the same exchange
    assert all(
        b["frames"] > a["frames"] and b["airtime_s"] > a["airtime_s"] for a, b in itertools.pairwise(hops)
    )
