"""``cosemnet hes firmware`` as a real process against the fleet simulator over loopback UDP: a campaign
interrupted by SIGINT (exit 130, progress kept), ``--status`` (in process), ``--resume`` to the end
(exit 0, every meter activated), and one-line usage errors (exit 2)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from cosemnet.cosem.image_transfer import ImageTransferStatus
from cosemnet.simulator.mesh_fleet import FleetConfig, MeshFleet


def _free_port() -> int | None:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
            return int(s.getsockname()[1])
    except OSError:
        return None


pytestmark = pytest.mark.skipif(_free_port() is None, reason="no IPv6 loopback")


class _Fleet:
    """A fleet with image transfer in a thread of the test process."""

    def __init__(self, meters: int, port: int, block_size: int, latency: tuple[float, float]) -> None:
        self.config = FleetConfig(
            meters=meters,
            head_end=("::1", port),
            gateway_port=None,
            image_block_size=block_size,
            repetition_delay=1,
        )
        self.latency = latency
        self.fleet: MeshFleet | None = None
        self.registered = threading.Event()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _main(self) -> None:
        fleet = self.fleet = MeshFleet(self.config)
        await fleet.start()
        while fleet.registered < self.config.meters and not self.stop.is_set():
            await asyncio.sleep(0.05)
        fleet.config.latency = self.latency
        self.registered.set()
        while not self.stop.is_set():
            await asyncio.sleep(0.05)
        await fleet.stop()


def _hes(db: Path, port: int, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable, "-m", "cosemnet.cli", "hes", "firmware", "--db", str(db), "--bind", "::1",
            "--port", str(port), "--test-keys", "--json", "--max-per-prefix", "16", "--rto-min", "0.05",
            *args,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip


def _blocks_done(db: Path) -> int:
    try:
        with sqlite3.connect(db) as c:
            return int(c.execute("SELECT coalesce(sum(blocks_done), 0) FROM firmware_meters").fetchone()[0])
    except sqlite3.OperationalError:
        return 0


def test_interrupted_campaign_keeps_its_state_and_resumes_to_the_end(tmp_path: Path) -> None:
    db, image_path = tmp_path / "hes.db", tmp_path / "fw.bin"
    image = os.urandom(40 * 128)
    image_path.write_bytes(image)
    port = _free_port()
    assert port is not None
    meters = 8
    fleet = _Fleet(meters, port, 128, (0.01, 0.02))
    fleet.thread.start()
    try:
        first = _hes(
            db,
            port,
            "--image",
            str(image_path),
            "--identifier",
            "fw-cli",
            "--listen-first",
            "2",
            "--grace",
            "0.5",
        )
        assert fleet.registered.wait(30)
        end = time.monotonic() + 60
        while _blocks_done(db) < 40 and time.monotonic() < end and first.poll() is None:
            time.sleep(0.05)
        assert first.poll() is None, first.communicate()
        first.send_signal(signal.SIGINT)
        out, err = first.communicate(timeout=30)
        assert first.returncode == 130, err[-2000:]
        summary = json.loads(out.strip().splitlines()[-1])
        assert summary["stopped"] == "SIGINT" and summary["meters"] == meters
        assert summary["activated"] == 0 and summary["blocks_sent"] > 0
        campaign = summary["campaign_id"]

        from click.testing import CliRunner

        from cosemnet.cli.main import cli

        status = CliRunner().invoke(
            cli, ["hes", "firmware", "--db", str(db), "--status", str(campaign), "--json"]
        )
        assert status.exit_code == 0, status.output
        lines = [json.loads(line) for line in status.output.strip().splitlines()]
        assert lines[-1]["state"] == "SIGINT" and len(lines) == meters + 1
        assert {line["status"] for line in lines[:-1]} <= {"transferring", "pending"}

        second = _hes(db, port, "--image", str(image_path), "--resume", str(campaign))
        out, err = second.communicate(timeout=120)
        assert second.returncode == 0, err[-2000:]
        summary = json.loads(out.strip().splitlines()[-1])
        assert summary["activated"] == meters and summary["failed"] == 0
        # only what was missing went the second time (no loss on this link)
        assert summary["blocks_sent"] <= meters * 40 - _held_before(lines)
        assert summary["bytes_on_wire"] > summary["blocks_sent"] * 128 and summary["image_size"] == len(image)
        assert fleet.fleet is not None
        for node in fleet.fleet.nodes:
            it = node.meter.image_transfer
            assert (
                it is not None
                and it.status is ImageTransferStatus.ACTIVATION_SUCCESSFUL
                and it.image == image
            )
    finally:
        fleet.stop.set()
        fleet.thread.join(10)


def _held_before(lines: list[dict[str, object]]) -> int:
    return sum(int(line["blocks_done"]) for line in lines[:-1])  # type: ignore[call-overload]


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--test-keys", "--image", "IMAGE", "--resume", "7"], "no firmware campaign 7")],
)
def test_usage_errors_are_one_line_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    db, image = tmp_path / "hes.db", tmp_path / "fw.bin"
    image.write_bytes(b"firmware")
    sqlite3.connect(db).close()
    port = _free_port()
    argv = [a.replace("IMAGE", str(image)) for a in args]
    done = subprocess.run(
        [
            sys.executable, "-m", "cosemnet.cli", "hes", "firmware", "--db", str(db), "--port", str(port),
            *argv,
        ],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert message in done.stderr and "Traceback" not in done.stderr


def test_more_usage_errors_in_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from cosemnet.cli.main import cli

    for name in ("COSEMNET_EK", "COSEMNET_AK", "COSEMNET_BROADCAST_KEY", "COSEMNET_MASTER_KEY"):
        monkeypatch.delenv(name, raising=False)
    db, image = tmp_path / "hes.db", tmp_path / "fw.bin"
    image.write_bytes(b"firmware")
    base = ["hes", "firmware", "--db", str(db), "--port", "0"]
    cases = [
        (["--test-keys", "--image", str(image)], "--identifier"),
        (["--test-keys", "--identifier", "x"], "--image"),
        (["--image", str(image), "--identifier", "x"], "no keys"),
        (["--test-keys", "--image", str(image), "--identifier", "x", "--activate-at", "soon"], "ISO 8601"),
        (["--test-keys", "--image", str(image), "--resume", "1", "--meter", "4D4D4D0000000001"], "--resume"),
        (["--test-keys", "--image", str(tmp_path / "none.bin"), "--identifier", "x"], "none.bin"),
        (["--test-keys", "--image", str(image), "--resume", "1", "--group", "0"], "--group"),
    ]
    for args, message in cases:
        result = CliRunner().invoke(cli, base + args)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output, (args, result.output)
