"""``hes listen`` prints authenticated pushes as they come over UDP (::1); ``hes events`` lists the
stored ones and the meters gone silent; ``--release-on-exit`` on ``hes action``."""

from __future__ import annotations

import json
import socket
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from cosemnet.cli.main import cli
from cosemnet.profiles.mesh import AddressBook

from .fakes import FakeMeter
from .test_cli import _free_port
from .test_pushes import _alarm, _event


def test_listen_prints_pushes_and_events_lists_them(tmp_path: Path) -> None:
    try:
        port = _free_port()
    except OSError:
        pytest.skip("no IPv6 loopback")
    db = tmp_path / "hes.db"
    meter = FakeMeter(1234, "::1")
    stop = threading.Event()

    def send() -> None:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            while not stop.wait(0.2):
                s.sendto(meter.ciphered_registration(), ("::1", port))
                s.sendto(_alarm(meter), ("::1", port))
                s.sendto(_event(meter), ("::1", port))
                forged = bytearray(_event(meter))
                forged[-1] ^= 1
                s.sendto(bytes(forged), ("::1", port))

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    runner = CliRunner()
    try:
        result = runner.invoke(
            cli,
            [
                "hes",
                "listen",
                "--db",
                str(db),
                "--bind",
                "::1",
                "--port",
                str(port),
                "--test-keys",
                "--duration",
                "1.5",
                "--json",
            ],
        )
    finally:
        stop.set()
        thread.join(5)
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    kinds = {line["event"] for line in lines}
    assert {"data-notification", "event-notification"} <= kinds
    pushes = [line for line in lines if line["event"].endswith("notification")]
    assert all(p["system_title"] == meter.title.hex().upper() for p in pushes)
    result = runner.invoke(cli, ["hes", "events", "--db", str(db), "--json"])
    assert result.exit_code == 0, result.output
    stored = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(stored) == len(pushes)  # every printed push stored, forged ones in neither
    assert {s["source"] for s in stored if s["event"] == "event-notification"} == {"7/0-0:99.98.0*255/2"}
    # liveness: last seen moved past the registration by the pushes; silent meters listed
    with AddressBook(db) as book:
        entry = book.lookup(meter.title)
    assert entry is not None and entry.last_seen >= max(s["at"] for s in stored)
    result = runner.invoke(
        cli, ["hes", "events", "--db", str(db), "--silent", "0", "--json", "--since", "1e12"]
    )
    assert [json.loads(line)["event"] for line in result.stdout.splitlines()] == ["silent"]
    result = runner.invoke(cli, ["hes", "events", "--db", str(db), "--silent", "3600", "--since", "1e12"])
    assert result.exit_code == 0 and result.output == ""
