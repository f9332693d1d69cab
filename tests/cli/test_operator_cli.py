"""Operator experience of read/objects/profile and meter serve, with real processes on loopback (issue 15):
traces and captures (tshark reads them), metrics, exit codes without tracebacks, keys from files and
the environment, one grammar, JSON and ISO 8601 output."""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from .conftest import RunCli, cosemnet_command

EK = "000102030405060708090A0B0C0D0E0F"  # the simulator profile's Green Book test keys
AK = "D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF"
OTHER_EK = "11" * 16
OTHER_AK = "22" * 16
BASE_ENV = {"PATH": "/usr/bin:/bin", "COLUMNS": "200", "LANG": "C.UTF-8", "PYTHONIOENCODING": "utf-8"}


@dataclass
class Meter:
    process: subprocess.Popen[str]
    port: int
    metrics: int | None
    stderr: str = ""

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


def start_meter(*args: str, env: dict[str, str] | None = None) -> Meter:
    process = subprocess.Popen(
        [*cosemnet_command(), "meter", "serve", "--no-state", "--bind", "127.0.0.1:0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**BASE_ENV, **(env or {})},
    )
    assert process.stdout is not None
    metrics: int | None = None
    while True:
        line = process.stdout.readline()
        assert line, process.stderr.read() if process.stderr else "meter ended"
        if line.startswith("metrics on "):
            metrics = int(line.rsplit(":", 1)[1].split("/")[0])
        if line.startswith("listening on "):
            return Meter(process, int(line.rsplit(":", 1)[1]), metrics)


def stop_meter(meter: Meter) -> None:
    meter.process.send_signal(signal.SIGTERM)
    _, err = meter.process.communicate(timeout=15)
    meter.stderr = err


@pytest.fixture
def meter(tmp_path: Path) -> Iterator[Meter]:
    running = start_meter("--pcap", str(tmp_path / "server.pcap"), "--trace", "--metrics-port", "0")
    yield running
    if running.process.poll() is None:
        stop_meter(running)


def no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout


# --------------------------------------------------------------------------------------------------
# traces, captures, metrics


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed")
def test_trace_and_pcap_on_both_ends_are_read_by_tshark(
    meter: Meter, run_cli: RunCli, tmp_path: Path
) -> None:
    client_pcap = tmp_path / "client.pcap"
    result = run_cli("read", meter.address, "1-0:1.8.0", "--trace", "--pcap", str(client_pcap))
    assert result.returncode == 0, result.stderr
    assert result.stdout.endswith(" Wh  (double-long-unsigned " + result.stdout.split()[0] + ", scaler 0)\n")
    sent = [line for line in result.stderr.splitlines() if f" -> {meter.address} " in line]
    received = [line for line in result.stderr.splitlines() if f" <- {meter.address} " in line]
    assert any("AARQ" in line for line in sent) and any("AARE accepted" in line for line in received)
    assert any("GetRequestNormal" in line and "3/1-0:1.8.0*255/2" in line for line in sent)
    stop_meter(meter)
    assert "AARQ" in meter.stderr and "RLRE" in meter.stderr  # the server's trace lines
    for capture in (client_pcap, tmp_path / "server.pcap"):
        shark = subprocess.run(
            ["tshark", "-r", str(capture), "-T", "fields", "-e", "tcp.srcport", "-e", "tcp.len"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert shark.returncode == 0, shark.stderr
        rows = [line.split("\t") for line in shark.stdout.splitlines()]
        # handshake, then every wrapper frame of the read: AARQ, 3 GETs (object list, value, scaler), RLRQ
        assert sum(1 for port, length in rows if port != str(meter.port) and length not in ("", "0")) == 5
        assert any(port == str(meter.port) and int(length or 0) > 0 for port, length in rows)


def test_ciphered_trace_lines_are_decrypted_with_keys_from_a_key_file(
    meter: Meter, run_cli: RunCli, tmp_path: Path
) -> None:
    keys = tmp_path / "keys.toml"
    keys.write_text(f'ek = "{EK}"\nak = "{AK}"\nsystem_title = "4D4D4D0000000001"\n')
    keys.chmod(0o600)
    result = run_cli(
        "read", meter.address, "Register/1-0:1.8.0*255/2", "--client-sap", "1", "--auth", "hls-gmac",
        "--ciphering", "general-glo", "--keys", str(keys), "--no-state", "--trace", "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["unit_symbol"] == "Wh"
    assert "GeneralGloCiphering IC=" in result.stderr and "=> GetRequestNormal" in result.stderr
    assert EK not in result.stderr and EK.lower() not in result.stderr


def test_metrics_are_scraped_over_loopback(meter: Meter, run_cli: RunCli) -> None:
    assert meter.metrics is not None
    assert run_cli("read", meter.address, "1-0:1.8.0").returncode == 0
    refused = run_cli(
        "read", meter.address, "1-0:1.8.0", "--client-sap", "17", "--auth", "lls", "--password", "x"
    )
    assert refused.returncode == 1 and refused.stderr.startswith("error: ")
    with urllib.request.urlopen(f"http://127.0.0.1:{meter.metrics}/metrics", timeout=10) as response:
        text = response.read().decode()
    samples = {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("cosemnet_")
    }
    assert samples['cosemnet_meter_requests_total{apdu="AARQ"}'] == 2
    assert samples['cosemnet_meter_associations_total{result="accepted"}'] == 1
    assert samples['cosemnet_meter_associations_total{result="rejected_permanent"}'] == 1
    assert samples['cosemnet_meter_failures_total{kind="association_rejected_permanent"}'] == 1
    assert samples["cosemnet_meter_response_seconds_count"] >= 6


# --------------------------------------------------------------------------------------------------
# exit codes and user errors


def test_profile_csv_bad_path_fails_before_reading_the_meter(meter: Meter, run_cli: RunCli) -> None:
    result = run_cli("profile", meter.address, "1-0:99.1.0", "--csv", "/nonexistent/x.csv", "--trace")
    assert result.returncode == 1
    no_traceback(result)
    assert result.stderr.strip() == "error: /nonexistent/x.csv: no such file or directory"  # no frame traced


def test_refused_dns_and_ambiguous_address(run_cli: RunCli, tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port with nobody listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    rows = tmp_path / "rows.csv"
    failed = run_cli("profile", f"127.0.0.1:{port}", "1-0:99.1.0", "--csv", str(rows))
    assert failed.returncode == 1 and not rows.exists()  # no empty CSV left behind
    refused = run_cli("read", f"127.0.0.1:{port}", "1-0:1.8.0", "--class-id", "3")
    assert refused.returncode == 1 and "connection refused" in refused.stderr.lower()
    no_traceback(refused)
    # a name longer than DNS allows fails in the resolver itself, without any query leaving the machine
    dns = run_cli("read", "a" * 64 + ".invalid", "1-0:1.8.0", "--class-id", "3", "--json")
    assert dns.returncode == 1
    no_traceback(dns)
    assert set(json.loads(dns.stdout)["error"]) == {"reason", "kind"}
    ambiguous = run_cli("read", "::1:49059", "1-0:1.8.0")
    assert ambiguous.returncode == 2 and "[::1]:49059" in ambiguous.stderr


def test_port_in_use_and_bad_pcap_path(meter: Meter, run_cli: RunCli, tmp_path: Path) -> None:
    busy = run_cli("meter", "serve", "--no-state", "--bind", meter.address, timeout=30)
    assert busy.returncode == 1
    no_traceback(busy)
    assert f"error: cannot listen on tcp {meter.address}: address already in use" in busy.stderr
    missing = run_cli(
        "read", meter.address, "1-0:1.8.0", "--pcap", str(tmp_path / "no" / "x.pcap"), "--trace"
    )
    assert missing.returncode == 1
    assert (
        missing.stderr == f"error: {tmp_path / 'no' / 'x.pcap'}: no such file or directory\n"
    )  # nothing sent
    directory = run_cli("read", meter.address, "1-0:1.8.0", "--pcap", str(tmp_path))
    assert directory.returncode == 2 and "is a directory" in directory.stderr
    no_traceback(directory)


def test_key_file_readable_by_others_is_refused(run_cli: RunCli, tmp_path: Path) -> None:
    keys = tmp_path / "keys.toml"
    keys.write_text(f'ek = "{EK}"\n')
    keys.chmod(0o644)
    result = run_cli("read", "127.0.0.1:1", "1-0:1.8.0", "--keys", str(keys))
    assert result.returncode == 2 and f"chmod 600 {keys}" in result.stderr
    assert EK not in result.stderr
    no_traceback(result)


def test_ctrl_c_during_read_exits_130_with_one_line() -> None:
    with socket.socket() as silent:  # accepts, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        silent.settimeout(30)  # a read that dies before connecting must fail the test, not hang it
        port = silent.getsockname()[1]
        process = subprocess.Popen(
            [*cosemnet_command(), "read", f"127.0.0.1:{port}", "1-0:1.8.0", "--timeout", "60"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=BASE_ENV,
        )
        connection, _ = silent.accept()
        with connection:
            connection.settimeout(30)
            assert connection.recv(100)  # the AARQ: the read is under way
            process.send_signal(signal.SIGINT)
            out, err = process.communicate(timeout=30)
    assert process.returncode == 130
    assert (out, err) == ("", "interrupted\n")


# --------------------------------------------------------------------------------------------------
# keys for the meter, output


def test_meter_serve_keys_from_the_environment_replace_the_test_keys(run_cli: RunCli) -> None:
    running = start_meter(env={"COSEMNET_EK": OTHER_EK, "COSEMNET_AK": OTHER_AK})
    try:
        base = ("read", running.address, "1-0:1.8.0", "--client-sap", "1", "--auth", "hls-gmac",
                "--ciphering", "general-glo", "--no-state", "--timeout", "5")  # fmt: skip
        old = run_cli(*base, "--ek", EK, "--ak", AK)
        assert old.returncode == 1 and "error: association rejected" in old.stderr
        new = subprocess.run(
            [*cosemnet_command(), *base],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env={**BASE_ENV, "COSEMNET_EK": OTHER_EK, "COSEMNET_AK": OTHER_AK},
        )
        assert new.returncode == 0, new.stderr
        assert new.stdout.split()[1] == "Wh"
    finally:
        stop_meter(running)


def test_read_json_iso_clock_class_lookup_and_profile_csv_units(run_cli: RunCli, tmp_path: Path) -> None:
    running = start_meter("--start", "2h")
    try:
        clock = json.loads(run_cli("read", running.address, "0-0:1.0.0", "--json").stdout)
        assert clock["class_id"] == 8
        assert clock["value"][4] == "-" and clock["value"][10] == "T"  # ISO 8601
        register = json.loads(run_cli("read", running.address, "1-0:1.8.0:2", "--json").stdout)
        assert register["class_id"] == 3 and register["unit_symbol"] == "Wh"
        rows = tmp_path / "rows.csv"
        result = run_cli("profile", running.address, "1-0:99.1.0", "--csv", str(rows))
        assert result.returncode == 0, result.stderr
        lines = rows.read_text().splitlines()
        header = lines[0].split(",")
        assert header[:4] == [
            "0-0:1.0.0*255:2",
            "1-0:1.8.0*255:2",
            "1-0:1.8.0*255:2 scaler",
            "1-0:1.8.0*255:2 unit",
        ]
        assert len(lines) >= 5  # two hours of 15-minute rows
        assert lines[1].split(",")[3] == "Wh" and "T" in lines[1].split(",")[0]
        assert result.stdout == "" and f"rows written to {rows}" in result.stderr
    finally:
        stop_meter(running)


def test_no_progress_or_status_on_redirected_stdout(run_cli: RunCli) -> None:
    running = start_meter("--start", "1h")
    try:
        result = run_cli("profile", running.address, "1-0:99.1.0", "--json")
        assert result.returncode == 0, result.stderr
        assert isinstance(json.loads(result.stdout), list)  # nothing but the JSON on stdout
    finally:
        stop_meter(running)
