"""Frames shared by the capture and dissector tests, and running tshark on a capture."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from cosemnet.profiles.lon import ApplicationMessage, LonFrame, Npdu, SubnetNodeAddress, Tpdu, TpduType
from cosemnet.trace.pcap import PcapCapture

TSHARK = shutil.which("tshark")


def cosemnet_command() -> list[str]:
    """The ``cosemnet`` script of the running interpreter's environment (as tests/cli/conftest.py)."""
    script = Path(sys.executable).parent / "cosemnet"
    return [str(script)] if script.exists() else [sys.executable, "-m", "cosemnet.cli"]


GET_APDU = bytes.fromhex("C001C100030100010800FF0200")
"""get-request-normal, invoke-id 1: class 3, 1-0:1.8.0*255, attribute 2."""
GET_FRAME = bytes.fromhex("0001001000010000")[:6] + len(GET_APDU).to_bytes(2, "big") + GET_APDU
"""The GET in a wrapper frame from the public client (wPort 16) to the management device (wPort 1)."""
CLIENT = ("127.0.0.1", 40000)
SERVER = ("127.0.0.1", 4059)
CLIENT6 = ("::1", 40001)
SERVER6 = ("::1", 61616)


def wrapper(source: int, destination: int, apdu: bytes) -> bytes:
    return (
        source.to_bytes(2, "big").join([b"\x00\x01", destination.to_bytes(2, "big")])
        + len(apdu).to_bytes(2, "big")
        + apdu
    )


def long_response(length: int) -> bytes:
    """A get-response-normal carrying an octet-string of ``length`` bytes, in a wrapper frame (1 -> 16)."""
    body = bytes(i % 251 for i in range(length))
    apdu = bytes.fromhex("C401C10009820000")[:6] + length.to_bytes(2, "big") + body
    return wrapper(1, 16, apdu)


def adp_frame(adp_pdu: bytes, code: int = 0x0D) -> bytes:
    """A 14908-1 frame (no CRC) from 1/5 to 2/9, ACKD, carrying ``adp_pdu`` in an application message."""
    npdu = Npdu(
        1, 5, SubnetNodeAddress(2, 9), Tpdu(TpduType.ACKD, 3, ApplicationMessage(code, adp_pdu)), b"\x42"
    )
    return LonFrame(npdu).encode(crc=False)


def tshark(*args: str | Path) -> str:
    assert TSHARK is not None
    result = subprocess.run(
        [TSHARK, *map(str, args)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def fields(path: Path, *names: str, extra: tuple[str, ...] = ()) -> list[list[str]]:
    """``tshark -T fields`` rows (one per packet) of the named fields."""
    args: list[str] = [*extra, "-r", str(path), "-T", "fields", "-E", "separator=|"]
    for name in names:
        args += ["-e", name]
    return [line.split("|") for line in tshark(*args).splitlines()]


def write(path: Path, build: object) -> Path:
    with PcapCapture.open(str(path)) as capture:
        build(capture)  # type: ignore[operator]
    return path
