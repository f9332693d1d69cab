"""``cosemnet meter serve`` as a real subprocess, answering a GET over TCP and UDP."""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from cosemnet.cli.main import cli
from cosemnet.cli.meter import format_address, parse_bind
from cosemnet.codec.acse import AARE, AssociationResult
from cosemnet.codec.obis import Obis
from cosemnet.codec.wrapper import HEADER_SIZE, WrapperFrame, WrapperHeader
from cosemnet.codec.xdlms import CosemAttributeDescriptor, GetRequestNormal, GetResponseNormal

from .helpers import aarq

GET_CLOCK = GetRequestNormal(1, CosemAttributeDescriptor(8, Obis.parse("0-0:1.0.0*255"), 2)).encode()


def start(*args: str) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "cosemnet.cli", "meter", "serve", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], 30)
    if not ready:
        process.kill()
        pytest.fail("meter serve did not print its listening line")
    line = process.stdout.readline().strip()
    return process, line


def stop(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGTERM)
    try:
        _, err = process.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        raise
    assert process.returncode == 143, err  # stopped by SIGTERM (docs/decisions/0130)
    return err


def recv_frame(sock: socket.socket) -> bytes:
    data = b""
    while len(data) < HEADER_SIZE:
        data += sock.recv(HEADER_SIZE - len(data))
    header = WrapperHeader.decode(data)
    body = b""
    while len(body) < header.length:
        body += sock.recv(header.length - len(body))
    return body


def test_meter_serve_tcp_answers_a_get() -> None:
    process, line = start("--bind", "127.0.0.1:0", "--json-log")
    try:
        assert line.startswith("listening on tcp 127.0.0.1:")
        host, port = parse_bind(line.split()[-1])
        with socket.create_connection((host, port), timeout=10) as sock:
            sock.sendall(WrapperFrame(16, 1, aarq()).encode())
            assert AARE.decode(recv_frame(sock)).result == AssociationResult.ACCEPTED
            sock.sendall(WrapperFrame(16, 1, GET_CLOCK).encode())
            value = GetResponseNormal.decode(recv_frame(sock)).result
            assert isinstance(value, bytes) and len(value) == 12
            year = int.from_bytes(value[:2], "big")
            assert abs(year - time.gmtime().tm_year) <= 1
    finally:
        err = stop(process)
    assert '"event": "association accepted' in err


def test_meter_serve_udp() -> None:
    process, line = start("--transport", "udp", "--bind", "127.0.0.1:0")
    try:
        assert line.startswith("listening on udp 127.0.0.1:")
        host, port = parse_bind(line.split()[-1])
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(10)
            sock.sendto(WrapperFrame(16, 1, aarq()).encode(), (host, port))
            assert (
                AARE.decode(WrapperFrame.decode(sock.recv(65535)).apdu).result == AssociationResult.ACCEPTED
            )
    finally:
        stop(process)


def test_bind_parsing_and_errors() -> None:
    assert parse_bind("127.0.0.1:4059") == ("127.0.0.1", 4059)
    assert parse_bind("[::1]:1234") == ("::1", 1234)
    assert parse_bind("::1") == ("::1", 4059)
    assert parse_bind(":99") == ("127.0.0.1", 99)
    assert format_address(("::1", 4059, 0, 0)) == "[::1]:4059"
    assert format_address(("127.0.0.1", 1)) == "127.0.0.1:1"
    result = CliRunner().invoke(cli, ["meter", "serve", "--bind", "127.0.0.1:notaport"])
    assert result.exit_code != 0 and "port must be a number" in result.output


def test_start_in_the_past_gives_the_meter_history() -> None:
    pytest.importorskip("cosemnet.simulator")
    import datetime as dt

    from cosemnet.cli.meter import load_devices

    now = dt.datetime(2024, 6, 1, 12, 0, tzinfo=dt.UTC)
    (served,), tick = load_devices(None, now.timestamp(), now - dt.timedelta(days=1))
    profile = served.device.find(7, Obis.parse("1-0:99.1.0*255"))
    assert profile is not None
    assert len(profile.buffer) == 96  # one day of 15-minute captures  # type: ignore[attr-defined]
    assert tick is not None and served.on_request is tick
    result = CliRunner().invoke(cli, ["meter", "serve", "--start", "yesterday"])
    assert result.exit_code != 0 and "ISO 8601" in result.output
