"""``cosemnet sim lon`` (power line and CN/IP), the LON part of ``cosemnet demo``, the segment helpers and
the wire benchmark's smoke run."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from cosemnet.cli.demo_lon import DEMO_METERS, run_lon_demo
from cosemnet.cli.messages import decode_lon_frame
from cosemnet.profiles.lon.short_names import standard_table_base_name
from cosemnet.simulator.lon_segment import (
    BT23_BUFFER,
    build_segment,
    meter_address,
    read_segment,
)

from .conftest import RunCli

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "lon_wire.py"


def test_meter_addresses() -> None:
    assert (meter_address(0).destination_subnet, meter_address(0).destination_node) == (1, 2)
    assert (meter_address(119).destination_subnet, meter_address(119).destination_node) == (1, 121)
    assert (meter_address(120).destination_subnet, meter_address(120).destination_node) == (2, 2)
    with pytest.raises(ValueError):
        meter_address(-1)
    assert standard_table_base_name(23) + 0x18 == BT23_BUFFER == 0x1478


def test_segment_reads_agree_with_the_meters() -> None:
    segment = build_segment(3, seed=2)
    report = read_segment(segment)
    assert report.ok and len(report.reads) == 3
    for read, meter in zip(report.reads, segment.meters, strict=True):
        assert read.address == f"1/{meter.address.destination_node}"
        assert read.unit == 30 and read.scaler == 0  # Wh
        assert read.bt23_summations is not None and read.energy is not None
        assert abs(read.bt23_summations[0] - read.energy) <= 5  # read a few simulated seconds apart
        assert read.bt23_length == 4 * (len(read.bt23_summations) + len(read.bt23_demands or ()))
    stats = report.channel
    assert stats.frames == len(segment.capture.frames)
    assert stats.bytes == sum(len(f.encode()) for f in segment.capture.frames)
    assert 0 < stats.utilisation <= 1
    # every captured frame is one `cosemnet decode` understands, down to the ADP layer
    for frame in segment.capture.frames[:20]:
        message = decode_lon_frame(frame.encode())
        assert message.frame == frame
    # a second round reuses the open SN association: no AARQ this time
    again = read_segment(segment)
    assert again.ok
    assert all(len(link.results) == 3 for link in segment.sn_links.values())  # AARQ, read, read


def test_run_lon_demo_prints_the_table_and_statistics() -> None:
    console = Console(record=True, width=200, highlight=False)
    summary = run_lon_demo(console, False)
    text = console.export_text()
    assert summary["ok"] is True and summary["ln_bt23_agree"] is True
    assert summary["meters"] == DEMO_METERS == len(summary["reads"])
    assert "6. IEC 62056-8-8 LON segment" in text
    assert "MMM0000000000020" in text
    assert "channel: " in text and "collisions" in text and "utilisation" in text
    sample = summary["sample_frame"]
    assert f"cosemnet decode {sample}" in text
    message = decode_lon_frame(bytes.fromhex(sample))
    assert message.dlms is not None
    quiet = Console(record=True)
    assert run_lon_demo(quiet, True)["ok"] is True
    assert quiet.export_text() == ""


def test_sim_lon_power_line(run_cli: RunCli) -> None:
    result = run_cli("sim", "lon", "--meters", "4")
    assert result.returncode == 0, result.stderr
    assert "1/5" in result.stdout and "MMM0000000000004" in result.stdout
    assert "channel: " in result.stdout and "airtime" in result.stdout
    as_json = run_cli("sim", "lon", "--meters", "4", "--duration", "20", "--json")
    assert as_json.returncode == 0, as_json.stderr
    obj = json.loads(as_json.stdout)
    assert obj["ok"] is True and obj["channel"] == "pl" and obj["rounds"] >= 2
    assert obj["total_simulated_seconds"] >= 20
    assert obj["statistics"]["frames"] > 0 and obj["statistics"]["airtime_s"] > 0
    assert [r["meter"] for r in obj["reads"]] == ["1/2", "1/3", "1/4", "1/5"]
    for read in obj["reads"]:
        assert read["ln"]["unit"] == 30 and read["bt23"]["summations"][0] > 0


def test_sim_lon_cnip_over_loopback(run_cli: RunCli) -> None:
    result = run_cli("sim", "lon", "--meters", "3", "--channel", "cnip", "--json")
    assert result.returncode == 0, result.stderr
    obj = json.loads(result.stdout)
    assert obj["ok"] is True and obj["channel"] == "cnip"
    assert obj["cnip"]["packets_sent"] >= 4 * 3 * 2  # per meter: 3 exchanges of data + ACK frames
    assert obj["cnip"]["rejected"] == 0
    assert len({n["udp"] for n in obj["nodes"]}) == 3
    for read in obj["reads"]:
        assert read["errors"] == []
        assert abs(read["bt23"]["summations"][0] - read["ln"]["value"]) <= 5


def test_sim_lon_usage_errors(run_cli: RunCli) -> None:
    assert run_cli("sim", "lon", "--meters", "0").returncode == 2
    assert run_cli("sim", "lon", "--meters", "101", "--channel", "cnip").returncode == 2


def test_wire_benchmark_quick_json() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCHMARK), "--quick", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["settings"]["meters"] == 20 and report["settings"]["quick"] is True
    read = report["per_exchange"]["register_read"]
    # a GET-request-normal (13) + GET-response-normal with a double-long-unsigned (9)
    assert read["payload_bytes"] == 22
    assert read["frames"] == 2 and read["data_frames"] == 2  # request/response service (decision 0093)
    assert read["wire_bytes"] > read["payload_bytes"] and read["airtime_ratio"] > 1
    bt23 = report["per_exchange"]["bt23_read"]
    assert bt23["payload_bytes"] > read["payload_bytes"]
    for name in ("register_read", "bt23_read"):
        seg = report["segment"][name]
        assert seg["failed"] == 0 and seg["meters"] == 20
        assert 0 < seg["reads_per_hour"] < seg["airtime_bound_per_hour"]


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_read_profile_lon_reads_a_meter_of_sim_lon_cnip(cosemnet: list[str], run_cli: RunCli) -> None:
    port = _free_udp_port()
    args = ("sim", "lon", "--meters", "2", "--channel", "cnip", "--duration", "20", "--port", str(port))
    sim = subprocess.Popen(
        [*cosemnet, *args, "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert sim.stdout is not None
        summary = json.loads(sim.stdout.readline())
        assert summary["ok"] is True and summary["concentrator"] == f"127.0.0.1:{port}"
        node = summary["nodes"][1]
        local = ("--lon-local", f"127.0.0.1:{port}")
        result = run_cli(
            "read", "--profile", "lon", node["udp"], "--lon-node", node["meter"], *local,
            "1-0:1.8.0*255", "--class-id", "3", "--json",
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        obj = json.loads(result.stdout)
        assert obj["unit"] == 30 and obj["scaler"] == 0
        first_read = summary["reads"][1]["ln"]["value"]
        assert first_read <= obj["value"] <= first_read + 50  # a few seconds later
        name = run_cli("read", "--profile", "lon", node["udp"], "--lon-node", node["meter"], *local,
                       "0-0:42.0.0*255")  # fmt: skip
        assert name.returncode == 0 and "'MMM0000000000002'" in name.stdout
        # the other meter's node through this meter's port: nobody answers
        wrong = run_cli(
            "read", "--profile", "lon", node["udp"], "--lon-node", "1/2", *local, "0-0:42.0.0*255",
            "--timeout", "0.5",
        )  # fmt: skip
        assert wrong.returncode == 1 and wrong.stderr.startswith("error: ")
    finally:
        sim.terminate()
        sim.wait(timeout=10)


def test_read_profile_lon_usage_errors(run_cli: RunCli) -> None:
    base = ("read", "--profile", "lon", "127.0.0.1:1", "0-0:42.0.0*255")
    assert run_cli(*base).returncode == 2  # --lon-node and --lon-local missing
    assert run_cli(*base, "--lon-node", "1-2", "--lon-local", "127.0.0.1:9").returncode == 2
    assert run_cli(*base, "--lon-node", "1/2", "--lon-local", "127.0.0.1").returncode == 2
    assert (
        run_cli(*base, "--lon-node", "1/2", "--lon-local", "127.0.0.1:9", "--lon-domain", "0102").returncode
        == 2
    )
