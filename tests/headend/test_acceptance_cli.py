"""``hes listen`` in a real process against a fleet over loopback: it prints the alarms the meters push
as they come, stores them, and acknowledges each one by clearing those bits of the meter's alarm
register (issue 12 item 3, docs/decisions/0127)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from cosemnet.headend import HeadEndStore
from cosemnet.simulator.mesh_fleet import FleetConfig, MeshFleet

from .test_cli import _free_port
from .test_cli_process import ENV, cosemnet_command


async def _wait_for(predicate: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        await asyncio.sleep(0.1)
    return False


def _cleared(db: Path) -> list[str]:
    if not db.exists():
        return []
    with contextlib.closing(sqlite3.connect(db)) as connection:
        try:
            rows = connection.execute("SELECT result FROM operation_results").fetchall()
        except sqlite3.OperationalError:  # the table is not there yet
            return []
    return [str(r[0]) for r in rows]


def test_listen_prints_alarms_and_clears_the_alarm_registers(tmp_path: Path) -> None:
    try:
        port = _free_port()
    except OSError:
        pytest.skip("no IPv6 loopback")
    db = tmp_path / "hes.db"
    command = [*cosemnet_command(), "hes", "listen", "--db", str(db), "--bind", "::1", "--port", str(port)]
    process = subprocess.Popen(
        [*command, "--test-keys", "--json", "--duration", "60"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    assert process.stdout is not None
    try:
        assert json.loads(process.stdout.readline())["event"] == "listening"

        async def main() -> None:
            fleet = MeshFleet(FleetConfig(meters=3, head_end=("::1", port), gateway_port=None))
            await fleet.start()
            try:
                assert await fleet.wait_registered(30)
                assert fleet.raise_alarm(1, 0x81)
                assert await _wait_for(lambda: _cleared(db) == ["success"], 30), _cleared(db)
                alarm = fleet.nodes[1].meter.alarm_register
                assert alarm is not None and alarm.value == 0
                assert fleet.nodes[0].meter.alarm_register is not None
            finally:
                await fleet.stop()

        asyncio.run(main())
    finally:
        process.terminate()
        out, err = process.communicate(timeout=30)
    assert "Traceback" not in err, err
    pushes = [json.loads(line) for line in out.splitlines() if '"data-notification"' in line]
    assert len(pushes) == 1 and pushes[0]["value"].endswith("(129))"), pushes
    store = HeadEndStore(db)
    try:
        (row,) = store.events()
        assert row.kind == "data-notification" and row.meter_time is not None
    finally:
        store.close()
