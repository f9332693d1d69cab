"""Hostile peers against ``cosemnet meter serve``: the server process's peak RSS growth per attack.

Starts ``cosemnet meter serve`` as a real process (a fresh one per attack, the simulated meter with a
3,840-row load profile) on loopback, warms it up with one ordinary profile read, then runs one attack
from one public (unauthenticated) client and reads the server's peak RSS (``VmHWM``) from /proc:

* ``pipelined-3000``: 3,000 pipelined GETs of the load-profile buffer, never reading an answer;
* ``pipelined-200000``: 200,000 pipelined GETs of the energy register, never reading an answer;
* ``pipelined-3000-x32``: the first attack on 32 connections at once (the per-source connection cap);
* ``endless-set`` / ``endless-action`` / ``endless-gbt``: SET datablocks, ACTION pblocks and
  general-block-transfer blocks of 64 KB that never end, for a few seconds (answers read and dropped);
* ``connections``: as many TCP connections as the server accepts from one address (each sends an AARQ);
* ``udp-profile``: ``cosemnet profile 127.0.0.1:PORT 1-0:99.1.0 --transport udp`` with default options
  against ``meter serve --transport udp``: rows read, largest datagram seen, pre-association
  amplification (bytes answered / bytes sent before an association).

Usage::

    .venv/bin/python benchmarks/server_hostile.py            # [--json] [--quick] [--only NAME]

Linux only (/proc). The acceptance figures of issue 9: the pipelined 3,000 profile GETs cost at most
+100 MB, the endless blocks are refused before +100 MB, the UDP read of 3,840 rows succeeds.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from cosemnet.codec.acse import AARQ, ApplicationContextName
from cosemnet.codec.initiate import Conformance, InitiateRequest
from cosemnet.codec.obis import Obis
from cosemnet.codec.wrapper import WrapperFrame
from cosemnet.codec.xdlms import (
    ActionRequestWithFirstPblock,
    ActionRequestWithPblock,
    CosemAttributeDescriptor,
    CosemMethodDescriptor,
    DataBlockSA,
    GeneralBlockTransfer,
    GetRequestNormal,
    SetRequestWithDatablock,
    SetRequestWithFirstDatablock,
)

ROWS = 3840
PROFILE = Obis.parse("1-0:99.1.0*255")
ENERGY = Obis.parse("1-0:1.8.0*255")
CLOCK = Obis.parse("0-0:1.0.0*255")
BLOCK = 64_000
SERVER_ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}


def frame(apdu: bytes) -> bytes:
    return WrapperFrame(16, 1, apdu).encode()


def aarq() -> bytes:
    initiate = InitiateRequest(
        proposed_dlms_version_number=6,
        proposed_conformance=Conformance(0x205E1D),  # GET/SET/ACTION, their block transfers, GBT
        client_max_receive_pdu_size=0xFFFF,
    )
    return AARQ(
        application_context_name=ApplicationContextName.LN, user_information=initiate.encode()
    ).encode()


GET_PROFILE = GetRequestNormal(1, CosemAttributeDescriptor(7, PROFILE, 2)).encode()
GET_ENERGY = GetRequestNormal(1, CosemAttributeDescriptor(3, ENERGY, 2)).encode()


# --------------------------------------------------------------------------------------------------
# The server process


def profile_config(directory: Path) -> Path:
    """The simulator's default profile with a 3,840-row load profile."""
    from importlib import resources

    text = (resources.files("cosemnet.simulator") / "profiles" / "default.toml").read_text()
    lines = [
        f"profile_entries = {ROWS}" if line.startswith("profile_entries = 2880") else line
        for line in text.splitlines()
    ]
    path = directory / "profile.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


@contextlib.contextmanager
def meter(config: Path, *extra: str, transport: str = "tcp") -> Iterator[tuple[subprocess.Popen[str], int]]:
    start = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=15 * (ROWS + 100))).isoformat(timespec="seconds")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cosemnet.cli",
            "meter",
            "serve",
            "--transport",
            transport,
            "--bind",
            "127.0.0.1:0",
            "--config",
            str(config),
            "--start",
            start,
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=SERVER_ENV,
    )
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], 60)
        if not ready:
            raise RuntimeError("meter serve did not start")
        line = process.stdout.readline().split()[-1]
        yield process, int(line.rsplit(":", 1)[1])
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak) of a process, in bytes."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) * 1024
    return out


def cpu_time(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_idle(pid: int, limit: float) -> None:
    """Until the process used no CPU for 0.5 s (or ``limit`` seconds passed)."""
    deadline = time.monotonic() + limit
    last = cpu_time(pid)
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = cpu_time(pid)
        if now - last < 0.02:
            return
        last = now


def read_frame(sock: socket.socket) -> bytes:
    data = b""
    while len(data) < 8:
        chunk = sock.recv(8 - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    length = int.from_bytes(data[6:8], "big")
    body = b""
    while len(body) < length:
        chunk = sock.recv(length - len(body))
        if not chunk:
            raise ConnectionError("closed")
        body += chunk
    return body


def warm_up(port: int) -> None:
    """One ordinary association and profile read (service-specific blocks), so caches are in the baseline."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(frame(aarq()))
        read_frame(sock)
        sock.sendall(frame(GET_PROFILE))
        answer = read_frame(sock)
        number = 1
        while answer[1] == 2 and not answer[3]:  # GET-Response-With-Datablock, not the last block
            number = int.from_bytes(answer[4:8], "big")
            sock.sendall(frame(bytes((0xC0, 2, 0xC1)) + number.to_bytes(4, "big")))
            answer = read_frame(sock)


# --------------------------------------------------------------------------------------------------
# Attacks (each returns a short description of what was done)


def send_for(sock: socket.socket, data: bytes, seconds: float) -> int:
    """Send ``data`` without ever reading; stop when it is all sent or after ``seconds``. Bytes sent."""
    sock.setblocking(False)
    view = memoryview(data)
    sent = 0
    deadline = time.monotonic() + seconds
    while sent < len(data) and time.monotonic() < deadline:
        _, writable, _ = select.select([], [sock], [], 0.2)
        if writable:
            try:
                sent += sock.send(view[sent : sent + 65536])
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                break
    return sent


def pipelined(count: int, get: bytes, seconds: float, connections: int = 1) -> Callable[[int, int], str]:
    def attack(port: int, pid: int) -> str:
        socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(connections)]
        data = frame(aarq()) + frame(get) * count
        sent = sum(send_for(sock, data, seconds / connections) for sock in socks)
        wait_idle(pid, 30)
        for sock in socks:
            sock.close()
        return f"{len(data) * connections:,} bytes to send, {sent:,} accepted by the server's side"

    return attack


def endless(kind: str, seconds: float) -> Callable[[int, int], str]:
    raw = bytes(BLOCK)

    def block(number: int) -> bytes:
        if kind == "set":
            if number == 1:
                descriptor = CosemAttributeDescriptor(8, CLOCK, 2)
                return SetRequestWithFirstDatablock(1, descriptor, None, DataBlockSA(False, 1, raw)).encode()
            return SetRequestWithDatablock(1, DataBlockSA(False, number, raw)).encode()
        if kind == "action":
            if number == 1:
                method = CosemMethodDescriptor(3, ENERGY, 1)
                return ActionRequestWithFirstPblock(1, method, DataBlockSA(False, 1, raw)).encode()
            return ActionRequestWithPblock(1, DataBlockSA(False, number, raw)).encode()
        return GeneralBlockTransfer(False, True, 1, (number - 1) % 0xFFFF + 1, 0, raw).encode()

    def attack(port: int, pid: int) -> str:
        sock = socket.create_connection(("127.0.0.1", port))
        sock.sendall(frame(aarq()))
        read_frame(sock)
        sock.setblocking(False)
        first_answer = b""
        number = 1
        deadline = time.monotonic() + seconds
        pending = frame(block(1))
        while time.monotonic() < deadline:
            readable, writable, _ = select.select([sock], [sock], [], 0.2)
            if readable:
                with contextlib.suppress(BlockingIOError):
                    got = sock.recv(1 << 20)
                    if not got:
                        break
                    first_answer = first_answer or got[8:16]
            if writable:
                try:
                    sent = sock.send(pending)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    break
                pending = pending[sent:]
                if not pending:
                    number += 1
                    pending = frame(block(number))
        wait_idle(pid, 10)
        sock.close()
        return f"{number - 1:,} blocks of {BLOCK:,} bytes sent; first answer {first_answer.hex()}"

    return attack


def connections(port: int, pid: int) -> str:
    opened = []
    accepted = 0
    for _ in range(400):
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        except OSError:
            break
        opened.append(sock)
        sock.sendall(frame(aarq()))
    for sock in opened:
        sock.settimeout(5)
        try:
            read_frame(sock)
            accepted += 1
        except (OSError, ConnectionError):
            pass
    for sock in opened:
        sock.close()
    return f"{len(opened)} connections opened, {accepted} answered"


ATTACKS: dict[str, Callable[[bool], Callable[[int, int], str]]] = {
    "pipelined-3000": lambda quick: pipelined(300 if quick else 3000, GET_PROFILE, 30),
    "pipelined-200000": lambda quick: pipelined(20_000 if quick else 200_000, GET_ENERGY, 30),
    "pipelined-3000-x32": lambda quick: pipelined(300 if quick else 3000, GET_PROFILE, 30, connections=32),
    "endless-set": lambda quick: endless("set", 1 if quick else 3),
    "endless-action": lambda quick: endless("action", 1 if quick else 3),
    "endless-gbt": lambda quick: endless("gbt", 1 if quick else 3),
    "connections": lambda quick: connections,
}


def run_attack(config: Path, name: str, quick: bool) -> dict[str, object]:
    with meter(config) as (process, port):
        warm_up(port)
        before = status(process.pid)
        started = time.monotonic()
        detail = ATTACKS[name](quick)(port, process.pid)
        elapsed = time.monotonic() - started
        after = status(process.pid)
        alive = process.poll() is None
    growth = after["VmHWM"] - before["VmHWM"]
    return {
        "attack": name,
        "peak_rss_growth_mb": round(growth / 1e6, 1),
        "baseline_rss_mb": round(before["VmRSS"] / 1e6, 1),
        "seconds": round(elapsed, 1),
        "server_alive": alive,
        "detail": detail,
    }


def udp_profile(config: Path) -> dict[str, object]:
    """The CLI reads the 3,840-row profile over UDP with default options; plus the datagram sizes."""
    with meter(config, transport="udp") as (_, port):
        started = time.monotonic()
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "cosemnet.cli",
                "profile",
                f"127.0.0.1:{port}",
                "1-0:99.1.0",
                "--transport",
                "udp",
                "--json",
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        elapsed = time.monotonic() - started
        rows = len(json.loads(done.stdout)) if done.returncode == 0 else 0
        largest, ratio = udp_probe(port)
    return {
        "attack": "udp-profile",
        "rows": rows,
        "ok": done.returncode == 0 and rows >= ROWS,
        "seconds": round(elapsed, 1),
        "largest_datagram": largest,
        "pre_association_amplification": ratio,
        "detail": done.stderr.strip()[-200:],
    }


def udp_probe(port: int) -> tuple[int, float]:
    """Largest answer to a profile GET in an association; bytes answered / sent without association."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(2)
    sock.connect(("127.0.0.1", port))
    sent = received = 0
    for apdu in (GET_PROFILE, GET_PROFILE, aarq()):  # two GETs before the AARQ: no association yet
        sock.send(frame(apdu))
        sent += len(frame(apdu))
        with contextlib.suppress(TimeoutError):
            received += len(sock.recv(70_000))
    sock.send(frame(GET_PROFILE))
    largest = 0  # no answer at all
    with contextlib.suppress(TimeoutError):
        largest = len(sock.recv(70_000))
    sock.close()
    return largest, round(received / sent, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--quick", action="store_true", help="smaller attacks (smoke run)")
    parser.add_argument("--only", choices=[*ATTACKS, "udp-profile"], action="append")
    parser.add_argument(
        "--src", help="run the server from this source tree (e.g. an older checkout's src/) to compare"
    )
    args = parser.parse_args()
    if args.src:
        SERVER_ENV["PYTHONPATH"] = str(Path(args.src).resolve())
    names = args.only or [*ATTACKS, "udp-profile"]
    results = []
    with tempfile.TemporaryDirectory() as directory:
        config = profile_config(Path(directory))
        for name in names:
            result = udp_profile(config) if name == "udp-profile" else run_attack(config, name, args.quick)
            results.append(result)
            if not args.json:
                print(
                    "  ".join(f"{k}={v}" for k, v in result.items() if k != "detail"),
                    f"\n    {result['detail']}",
                    flush=True,
                )
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print("\n| attack | peak RSS growth | server alive | detail |\n|---|---:|---|---|")
    for r in results:
        if r["attack"] == "udp-profile":
            ratio = r["pre_association_amplification"]
            print(
                f"| udp-profile | - | - | {r['rows']} rows in {r['seconds']} s, largest datagram "
                f"{r['largest_datagram']} B, pre-association amplification x{ratio} |"
            )
        else:
            print(f"| {r['attack']} | +{r['peak_rss_growth_mb']} MB | {r['server_alive']} | {r['detail']} |")


if __name__ == "__main__":
    main()
