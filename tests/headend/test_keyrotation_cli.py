"""``cosemnet hes rotate-broadcast-key`` and ``hes retire`` against the mesh fleet simulator on ::1
(issue 12 items 5, 6; decision 0125): every meter ends on the new key, which a group request under
it reaches; the key file gets the new key atomically with mode 0600; a retired meter's association
is released."""

from __future__ import annotations

import asyncio
import json
import stat
import threading
import time
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from cosemnet.cli.main import cli
from cosemnet.simulator.mesh_fleet import FleetConfig, MeshFleet

from .test_cli import _free_port

TEST_KEYS = {
    "ek": "000102030405060708090A0B0C0D0E0F",
    "ak": "D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF",
    "kek": "000102030405060708090A0B0C0D0E0F",
    "broadcast_key": "000102030405060708090A0B0C0D0E0F",
}


def _broadcast_key(fleet: MeshFleet, index: int) -> bytes | None:
    management = fleet.nodes[index].meter.association(1)
    assert management is not None and management.security_setup is not None
    return management.security_setup.keys.broadcast_key


def test_rotate_then_retire_on_the_fleet(tmp_path: Path) -> None:
    try:
        port = _free_port()
    except OSError:
        pytest.skip("no IPv6 loopback")
    db = tmp_path / "hes.db"
    keys = tmp_path / "keys.toml"
    keys.write_text("".join(f'{k} = "{v}"\n' for k, v in TEST_KEYS.items()))
    keys.chmod(0o600)
    stop = threading.Event()
    ready = threading.Event()
    fleets: list[MeshFleet] = []

    def run_fleet() -> None:
        async def main() -> None:
            fleet = MeshFleet(FleetConfig(meters=4, head_end=("::1", port), repetition_delay=1))
            await fleet.start()
            fleets.append(fleet)
            ready.set()
            while not stop.is_set():
                await asyncio.sleep(0.05)
            await fleet.stop()

        asyncio.run(main())

    thread = threading.Thread(target=run_fleet, daemon=True)
    thread.start()
    try:
        assert ready.wait(10)
        (fleet,) = fleets
        assert fleet.group_gateway is not None
        host, gport = fleet.group_gateway
        runner = CliRunner()
        common = ["--db", str(db), "--bind", "::1", "--port", str(port), "--keys", str(keys)]
        result = runner.invoke(cli, ["hes", "listen", *common, "--duration", "1.5"])
        assert result.exit_code == 0, result.output
        result = runner.invoke(
            cli,
            [
                "hes", "rotate-broadcast-key", *common, "--generate", "--json", "--timeout", "2",
                "--gateway", f"[{host}]:{gport}", "--window", "0.5", "--max-per-prefix", "64",
            ],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        summary = json.loads(result.stdout.strip().splitlines()[-1])
        assert summary["new"] == 4 and summary["failed"] == {} and summary["answered_check"] == 4
        new_key = bytes.fromhex(tomllib.loads(keys.read_text())["broadcast_key"])
        assert new_key != bytes.fromhex(TEST_KEYS["broadcast_key"])
        assert all(_broadcast_key(fleet, i) == new_key for i in range(4))
        assert stat.S_IMODE(keys.stat().st_mode) == 0o600
        assert not (tmp_path / "keys.toml.next").exists()
        # retire one meter: its association is released
        node = fleet.nodes[0]
        assert len(node.server.associations()) == 1
        title = node.system_title.hex().upper()
        result = runner.invoke(cli, ["hes", "retire", title, *common, "--json"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout) == {"system_title": title, "retired": True}
        for _ in range(200):
            if not node.server.associations():
                break
            time.sleep(0.02)
        assert node.server.associations() == []
        assert len(fleet.nodes[1].server.associations()) == 1
    finally:
        stop.set()
        thread.join(10)


def test_rotation_refuses_to_start_without_a_key_file_or_a_new_key(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["hes", "rotate-broadcast-key", "--db", str(tmp_path / "h.db"), "--generate"])
    assert result.exit_code == 2 and "--keys FILE is needed" in result.output
    keys = tmp_path / "keys.toml"
    keys.write_text("".join(f'{k} = "{v}"\n' for k, v in TEST_KEYS.items()))
    keys.chmod(0o600)
    result = runner.invoke(
        cli, ["hes", "rotate-broadcast-key", "--db", str(tmp_path / "h.db"), "--keys", str(keys)]
    )
    assert result.exit_code == 2 and "--new-key-file FILE or --generate" in result.output
    assert not (tmp_path / "keys.toml.next").exists() and not (tmp_path / "h.db").exists()
