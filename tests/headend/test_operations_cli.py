"""``cosemnet hes set`` / ``hes action`` against the mesh fleet simulator on ::1 (issue 12): the
meters' disconnect control and clock really change, each meter's result is stored."""

from __future__ import annotations

import asyncio
import datetime as _dt
import json
import threading
import time
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from cosemnet.cli.hes_ops import parse_value
from cosemnet.cli.main import cli
from cosemnet.codec.datetime import CosemDateTime
from cosemnet.codec.obis import Obis
from cosemnet.codec.types import DataValue, Integer
from cosemnet.headend import HeadEndStore
from cosemnet.simulator.mesh_fleet import FleetConfig, MeshFleet

from .test_cli import _free_port

DISCONNECT = Obis("0-0:96.3.10*255")
CLOCK = Obis("0-0:1.0.0*255")


def _read(fleet: MeshFleet, index: int, class_id: int, obis: Obis, attribute: int) -> DataValue:
    meter = fleet.nodes[index].meter
    return meter.device.get(class_id, obis, attribute, meter.context(None))


def test_value_syntax() -> None:
    assert parse_value("integer:0") == Integer(0) and type(parse_value("integer:0")) is Integer
    assert parse_value('{"long-unsigned": 5}') == 5
    assert parse_value("octet-string:0102") == b"\x01\x02"
    assert parse_value(None) is None and parse_value("null") is None
    assert len(parse_value("now")) == 12  # type: ignore[arg-type]
    for bad in ("integer:x", "nonsense", '{"no-such-type": 1}', "{"):
        with pytest.raises(click.BadParameter):
            parse_value(bad)


def test_disconnect_reconnect_and_clock_set_on_the_fleet(tmp_path: Path) -> None:
    try:
        port = _free_port()
    except OSError:
        pytest.skip("no IPv6 loopback")
    db = tmp_path / "hes.db"
    stop = threading.Event()
    ready = threading.Event()
    fleets: list[MeshFleet] = []

    def run_fleet() -> None:
        async def main() -> None:
            fleet = MeshFleet(FleetConfig(meters=6, head_end=("::1", port), groups=2, repetition_delay=1))
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
        runner = CliRunner()
        common = [
            "--db",
            str(db),
            "--bind",
            "::1",
            "--port",
            str(port),
            "--test-keys",
            "--max-per-prefix",
            "64",
        ]
        result = runner.invoke(cli, ["hes", "listen", *common[:7], "--duration", "1.5"])
        assert result.exit_code == 0, result.output
        titles = [n.system_title.hex().upper() for n in fleet.nodes]
        assert all(_read(fleet, i, 70, DISCONNECT, 2) is True for i in range(6))
        # disconnect two meters (class 70 method 1)
        result = runner.invoke(
            cli,
            [
                "hes", "action", *common, "--obis", "70/0-0:96.3.10*255/1", "--value", "integer:0",
                "--meter", titles[1], "--meter", titles[4], "--json", "--timeout", "2",
            ],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        summary = json.loads(result.stdout)
        assert summary["results"] == {"success": 2}
        assert [_read(fleet, i, 70, DISCONNECT, 2) for i in range(6)] == [
            True,
            False,
            True,
            True,
            False,
            True,
        ]
        # reconnect them (method 2)
        result = runner.invoke(
            cli,
            [
                "hes", "action", *common, "--obis", "70/0-0:96.3.10*255/2", "--value", '{"integer": 0}',
                "--meter", titles[1], "--meter", titles[4], "--json", "--timeout", "2",
            ],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        assert all(_read(fleet, i, 70, DISCONNECT, 2) is True for i in range(6))
        # clock set (class 8 attribute 2) on every meter
        when = _dt.datetime(2031, 5, 6, 7, 8, 9, tzinfo=_dt.UTC)
        raw = CosemDateTime.from_datetime(when).to_bytes().hex()
        result = runner.invoke(
            cli,
            [
                "hes",
                "set",
                *common,
                "--obis",
                "8/0-0:1.0.0*255/2",
                "--value",
                f"octet-string:{raw}",
                "--json",
                "--release-on-exit",
            ],
        )
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["results"] == {"success": 6}
        for i in range(6):
            clock = _read(fleet, i, 8, CLOCK, 2)
            assert isinstance(clock, bytes) and CosemDateTime.from_bytes(clock).year == 2031
        # --release-on-exit: every meter got a protected RLRQ and dropped its association
        deadline = time.monotonic() + 5
        while any(n.server.associations() for n in fleet.nodes) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(n.server.associations() for n in fleet.nodes)
        store = HeadEndStore(db)
        assert store.associations() == {}
        rows = store.operation_results()
        store.close()
        assert len(rows) == 2 + 2 + 6 and all(r.result == "success" for r in rows)
        assert {r.target for r in rows} == {
            "70/0-0:96.3.10*255/1",
            "70/0-0:96.3.10*255/2",
            "8/0-0:1.0.0*255/2",
        }
        # group 1 (meters 0, 2, 4) disconnected with one request under the broadcast key
        assert fleet.group_gateway is not None
        host, gport = fleet.group_gateway
        result = runner.invoke(
            cli,
            [
                "hes", "action", *common, "--obis", "70/0-0:96.3.10*255/1", "--value", "integer:0",
                "--group", "1", "--window", "0.5", "--gateway", f"[{host}]:{gport}", "--json",
            ],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        summary = json.loads(result.stdout)
        assert summary["results"] == {"success": 3, "no-answer": 3}, summary
        assert [_read(fleet, i, 70, DISCONNECT, 2) for i in range(6)] == [False, True] * 3
        answered = {m["system_title"] for m in summary["meters"] if m["result"] == "success"}
        assert answered == {titles[0], titles[2], titles[4]}
    finally:
        stop.set()
        thread.join(10)
