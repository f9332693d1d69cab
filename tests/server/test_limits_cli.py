"""Issue 9 against ``cosemnet meter serve`` as a real process: memory under an unread pipelining peer,
a 3,840-row profile read over UDP with default options, the limit options in --help."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import select
import socket
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path

import pytest
from click.testing import CliRunner

from cosemnet.cli.main import cli
from cosemnet.cli.meter import parse_bind
from cosemnet.codec.obis import Obis
from cosemnet.codec.wrapper import WrapperFrame
from cosemnet.codec.xdlms import CosemAttributeDescriptor, GetRequestNormal

from .helpers import aarq, initiate
from .test_cli_meter import recv_frame, start, stop

ROWS = 3840
GET_PROFILE = GetRequestNormal(1, CosemAttributeDescriptor(7, Obis.parse("1-0:99.1.0*255"), 2)).encode()
linux_only = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")


def config_with_rows(directory: Path, rows: int) -> Path:
    text = (resources.files("cosemnet.simulator") / "profiles" / "default.toml").read_text()
    lines = [
        f"profile_entries = {rows}" if line.startswith("profile_entries = 2880") else line
        for line in text.splitlines()
    ]
    assert f"profile_entries = {rows}" in lines
    path = directory / "meter.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def history(rows: int) -> str:
    """A --start that gives the meter ``rows`` quarter hours of load profile and some more."""
    return (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=15 * (rows + 20))).isoformat(timespec="seconds")


def peak_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def wait_idle(pid: int, limit: float) -> None:
    """Until the process used (almost) no CPU for half a second, or ``limit`` seconds."""

    def cpu() -> float:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    deadline = time.monotonic() + limit
    last = cpu()
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = cpu()
        if now - last < 0.02:
            return
        last = now


@linux_only
def test_unread_pipelined_profile_gets_cost_the_server_process_under_100_mb(tmp_path: Path) -> None:
    config = config_with_rows(tmp_path, ROWS)
    process, line = start("--bind", "127.0.0.1:0", "--config", str(config), "--start", history(ROWS))
    try:
        host, port = parse_bind(line.split()[-1])
        with socket.create_connection((host, port), timeout=10) as sock:  # warm-up: one profile GET
            sock.sendall(WrapperFrame(16, 1, aarq()).encode())
            recv_frame(sock)
            sock.sendall(WrapperFrame(16, 1, GET_PROFILE).encode())
            recv_frame(sock)
        before = peak_rss(process.pid)
        sock = socket.create_connection((host, port), timeout=10)
        sock.sendall(WrapperFrame(16, 1, aarq()).encode() + WrapperFrame(16, 1, GET_PROFILE).encode() * 3000)
        wait_idle(process.pid, 60)  # main grew by 550-660 MB here, answering all it had read
        growth = peak_rss(process.pid) - before
        assert growth < 100_000_000, f"+{growth / 1e6:.0f} MB"
        sock.close()
        assert process.poll() is None
    finally:
        stop(process)


def test_cli_reads_a_3840_row_profile_over_udp_with_default_options(tmp_path: Path) -> None:
    config = config_with_rows(tmp_path, ROWS)
    process, line = start(
        "--transport", "udp", "--bind", "127.0.0.1:0", "--config", str(config), "--start", history(ROWS)
    )
    try:
        host, port = parse_bind(line.split()[-1])
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "cosemnet.cli",
                "profile",
                f"{host}:{port}",
                "1-0:99.1.0",
                "--transport",
                "udp",
                "--json",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        rows = json.loads(done.stdout)
        assert len(rows) == ROWS
        # and no datagram over the default budget, even for a client proposing 65,535
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(10)
            sock.connect((host, port))
            sock.send(WrapperFrame(16, 1, aarq(user_information=initiate(0x1E1D, 0xFFFF).encode())).encode())
            sock.recv(70_000)
            sock.send(WrapperFrame(16, 1, GET_PROFILE).encode())
            assert len(sock.recv(70_000)) <= 1232
    finally:
        stop(process)


def test_meter_serve_help_documents_the_limits() -> None:
    result = CliRunner().invoke(cli, ["meter", "serve", "--help"], terminal_width=200)
    assert result.exit_code == 0
    for option in (
        "--max-connections",
        "--max-connections-per-source",
        "--max-pending-associations",
        "--max-pending-associations-per-source",
        "--output-budget",
        "--max-block-transfer",
        "--udp-max-datagram",
        "--udp-amplification-factor",
    ):
        assert option in result.output


def test_meter_serve_applies_the_connection_cap_option() -> None:
    process, line = start("--bind", "127.0.0.1:0", "--max-connections-per-source", "1")
    try:
        host, port = parse_bind(line.split()[-1])
        with socket.create_connection((host, port), timeout=10) as first:
            first.sendall(WrapperFrame(16, 1, aarq()).encode())
            recv_frame(first)
            with socket.create_connection((host, port), timeout=10) as second:
                second.sendall(WrapperFrame(16, 1, aarq()).encode())
                ready, _, _ = select.select([second], [], [], 10)
                assert ready
                with contextlib.suppress(ConnectionResetError):
                    assert second.recv(100) == b""
    finally:
        err = stop(process)
    assert "refused" in err
