"""``cosemnet hes``: lookup, listen, collect and broadcast against the mesh fleet simulator."""

from __future__ import annotations

import asyncio
import csv
import json
import socket
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from cosemnet.cli.main import cli
from cosemnet.profiles.mesh import AddressBook, AddressEntry, AddressRegistrationData, AddressUpdateData
from cosemnet.simulator.mesh_fleet import FleetConfig, MeshFleet

TITLE = bytes.fromhex("4D4D4D0000BC614E")


def _book(path: Path) -> None:
    with AddressBook(path) as book:
        book.upsert(AddressRegistrationData(TITLE, (AddressEntry.of("2001:db8::1"),), 1), 1_700_000_000.0)
        book.upsert(
            AddressUpdateData(TITLE, (AddressEntry.of("2001:db8::1"),), (AddressEntry.of("2001:db8::2"),), 2),
            1_700_000_100.0,
        )


def test_lookup(tmp_path: Path) -> None:
    db = tmp_path / "hes.db"
    _book(db)
    runner = CliRunner()
    result = runner.invoke(cli, ["hes", "lookup", TITLE.hex(), "--db", str(db), "--history"])
    assert result.exit_code == 0, result.output
    assert "2001:db8::2/64" in result.output and "address_change" in result.output
    result = runner.invoke(cli, ["hes", "lookup", TITLE.hex(), "--db", str(db), "--json", "--history"])
    data = json.loads(result.output)
    assert data["addresses"] == ["2001:db8::2/64"] and data["last_sequence"] == 2
    assert [h["sequence_number"] for h in data["history"]] == [1, 2]
    missing = runner.invoke(cli, ["hes", "lookup", "00" * 8, "--db", str(db)])
    assert missing.exit_code != 0 and "not in" in missing.output
    bad = runner.invoke(cli, ["hes", "lookup", "XYZ", "--db", str(db)])
    assert bad.exit_code != 0 and "16 hex digits" in bad.output
    nodb = runner.invoke(cli, ["hes", "lookup", TITLE.hex(), "--db", str(tmp_path / "none.db")])
    assert nodb.exit_code != 0


def test_bad_options(tmp_path: Path) -> None:
    runner = CliRunner()
    db = str(tmp_path / "x.db")
    result = runner.invoke(cli, ["hes", "collect", "--db", db, "--obis", "nonsense", "--test-keys"])
    assert result.exit_code != 0 and "bad attribute" in result.output
    result = runner.invoke(
        cli, ["hes", "collect", "--db", db, "--obis", "1-0:1.8.0*255", "--ek", "00", "--test-keys"]
    )
    assert result.exit_code != 0 and "32 hex digits" in result.output


def _free_port() -> int:
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
        s.bind(("::1", 0))
        return int(s.getsockname()[1])


def test_listen_then_collect_and_broadcast_with_the_fleet(tmp_path: Path) -> None:
    try:
        port = _free_port()
    except OSError:
        pytest.skip("no IPv6 loopback")
    db = tmp_path / "hes.db"
    stop = threading.Event()
    ready = threading.Event()
    gateway: list[tuple[str, int] | None] = []

    def run_fleet() -> None:
        async def main() -> None:
            fleet = MeshFleet(FleetConfig(meters=8, head_end=("::1", port), groups=2, repetition_delay=1))
            await fleet.start()
            gateway.append(fleet.group_gateway)
            ready.set()
            while not stop.is_set():
                await asyncio.sleep(0.05)
            await fleet.stop()

        asyncio.run(main())

    thread = threading.Thread(target=run_fleet, daemon=True)
    thread.start()
    try:
        assert ready.wait(10)
        runner = CliRunner()
        common = ["--db", str(db), "--bind", "::1", "--port", str(port), "--test-keys"]
        result = runner.invoke(cli, ["hes", "listen", *common, "--duration", "1.5", "--json"])
        assert result.exit_code == 0, result.output
        lines = [json.loads(line) for line in result.output.splitlines()]
        assert lines[0]["event"] == "listening"
        assert len({line["system_title"] for line in lines[1:]}) == 8
        out_csv = tmp_path / "r.csv"
        result = runner.invoke(
            cli,
            [
                "hes", "collect", *common, "--obis", "1-0:1.8.0*255,1/0-0:96.1.0*255/2", "--json",
                "--csv", str(out_csv), "--max-per-prefix", "64", "--timeout", "2", "--rows",
            ],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        *readings, summary = [json.loads(line) for line in result.stdout.splitlines()]
        assert summary["meters"] == 8 and summary["answered"] == 8 and summary["failed"] == 0
        rows = list(csv.reader(out_csv.open()))
        assert rows[0] == ["system_title", "attribute", "value", "unit", "captured_at", "error"]
        assert len(rows) == 1 + 16 and all(r[5] == "" for r in rows[1:])
        # scaled with the register's scaler_unit (read in the same request), unit, ISO 8601 times
        energy = [r for r in rows[1:] if r[1] == "3/1-0:1.8.0*255/2"]
        assert len(energy) == 8 and {r[3] for r in energy} == {"Wh"}, energy
        assert all(r[4].endswith("+00:00") and "T" in r[4] for r in rows[1:])
        assert len(readings) == 16 and {
            r["unit"] for r in readings if r["attribute"] == "3/1-0:1.8.0*255/2"
        } == {"Wh"}
        assert gateway and gateway[0] is not None
        host, gport = gateway[0]
        result = runner.invoke(
            cli,
            [
                "hes", "broadcast", *common, "--group", "1", "--obis", "1-0:1.8.0*255", "--window", "0.5",
                "--json", "--gateway", f"[{host}]:{gport}", "--max-per-prefix", "64",
            ],
        )  # fmt: skip
        assert result.exit_code == 1, result.output  # the non-members are missing (each named)
        report = json.loads(result.output)
        assert (
            len(report["answered"]) == 4 and len(report["missing"]) == 4 and report["address"] == "ff15::d1:1"
        )
    finally:
        stop.set()
        thread.join(10)
