"""A capture of real traffic: a `cosemnet meter serve` process over loopback TCP, read with raw wrapper
frames; every frame sent and received goes to a PcapCapture and a TraceWriter (the FrameObserver API
adapters will use), and tshark with the shipped dissector shows the meter's real answers."""

from __future__ import annotations

import io
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from cosemnet.cli.trace import TraceWriter
from cosemnet.cli.wireshark import dissector_path
from cosemnet.codec.wrapper import WrapperFrame
from cosemnet.trace import Direction, FrameRecord, FrameTee, Transport
from cosemnet.trace.pcap import PcapCapture

from .captures import TSHARK, cosemnet_command, fields, wrapper

AARQ = bytes.fromhex("601DA109060760857405080101BE10040E01000000065F1F0400001E1DFFFF")
GET_ENERGY = bytes.fromhex("C001C100030100010800FF0200")
RLRQ = bytes.fromhex("6203800100")
LUA = ("-X", f"lua_script:{dissector_path()}")


def _start_meter(tmp_path: Path) -> tuple[subprocess.Popen[str], int]:
    process = subprocess.Popen(
        [*cosemnet_command(), "meter", "serve", "--bind", "127.0.0.1:0", "--state-dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    match = re.search(r":(\d+)\s*$", line)
    assert match, line
    return process, int(match.group(1))


def _exchange(sock: socket.socket, observer: FrameTee, request: bytes) -> bytes:
    local, peer = sock.getsockname()[:2], sock.getpeername()[:2]
    frame = wrapper(16, 1, request)
    observer.frame(FrameRecord(time.time(), Direction.SENT, Transport.TCP, local, peer, frame))
    sock.sendall(frame)
    data = b""
    while len(data) < 8 or len(data) < 8 + int.from_bytes(data[6:8], "big"):
        chunk = sock.recv(65536)
        assert chunk, "the meter closed the connection"
        data += chunk
    observer.frame(FrameRecord(time.time(), Direction.RECEIVED, Transport.TCP, local, peer, data))
    return WrapperFrame.decode(data).apdu


def test_capture_of_a_real_meter_session(tmp_path: Path) -> None:
    process, port = _start_meter(tmp_path)
    path = tmp_path / "session.pcap"
    lines = io.StringIO()
    try:
        with (
            PcapCapture.open(str(path)) as capture,
            socket.create_connection(("127.0.0.1", port), 10) as sock,
        ):
            observer = FrameTee(capture, TraceWriter(lines))
            assert _exchange(sock, observer, AARQ)[0] == 0x61
            assert _exchange(sock, observer, GET_ENERGY)[:4] == bytes.fromhex("C401C100")
            assert _exchange(sock, observer, RLRQ)[0] == 0x63
            capture.tcp_close(sock.getsockname()[:2], sock.getpeername()[:2], time.time())
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
    trace = lines.getvalue().splitlines()
    assert len(trace) == 6
    assert f" -> 127.0.0.1:{port} " in trace[2] and trace[2].endswith("GetRequestNormal #1 3/1-0:1.8.0*255/2")
    assert f" <- 127.0.0.1:{port} " in trace[3] and trace[3].endswith("GetResponseNormal #1 data")
    assert "AARE" in trace[1] and "RLRE" in trace[5]
    if TSHARK is None:
        pytest.skip("tshark is not installed")
    rows = fields(
        path,
        "tcp.srcport",
        "dlmswrapper.source_wport",
        "dlms.tag",
        "dlms.obis",
        "dlms.result",
        extra=(
            "-X",
            f"lua_script:{dissector_path()}",
            "-d",
            f"tcp.port=={port},dlmswrapper",
            "-Y",
            "dlmswrapper",
        ),
    )
    client = rows[0][0]
    assert client != str(port)
    assert rows == [
        [client, "16", "0x60", "", ""],
        [str(port), "1", "0x61", "", ""],
        [client, "16", "0xc0", "1-0:1.8.0*255", ""],
        [str(port), "1", "0xc4", "", "0"],
        [client, "16", "0x62", "", ""],
        [str(port), "1", "0x63", "", ""],
    ]
