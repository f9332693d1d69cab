"""``cosemnet hes readings`` in a real process, on both backends."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

from cosemnet.codec.types import DoubleLongUnsigned, Utf8String
from cosemnet.headend.storage import Reading, Storage

from .conftest import Backend

A = bytes.fromhex("4D4D4D0000000001")
B = bytes.fromhex("4D4D4D0000000002")
T0 = 1_800_000_000.0  # 2027-01-15T08:00:00Z


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cosemnet.cli", "hes", "readings", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def fill(store: Storage) -> None:
    store.add_readings(
        [
            Reading.of_value(A, (3, "1-0:1.8.0*255", 2), T0, DoubleLongUnsigned(1234), unit="Wh"),
            Reading.of_value(A, (3, "1-0:1.8.0*255", 2), T0 + 900, DoubleLongUnsigned(1240), unit="Wh"),
            Reading.of_value(B, (1, "0-0:96.1.0*255", 2), T0, Utf8String("meter B")),
            Reading(B, 3, "1-0:1.8.0*255", 2, T0, None, error="timeout"),
        ]
    )


def test_json_one_object_per_line(backend: Backend, store: Storage) -> None:
    fill(store)
    done = cli("--db", backend.target, "--json")
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert lines == [
        {
            "system_title": "4D4D4D0000000001",
            "attribute": "3/1-0:1.8.0*255/2",
            "value": 1234,
            "unit": "Wh",
            "captured_at": "2027-01-15T08:00:00.000+00:00",
        },
        {
            "system_title": "4D4D4D0000000001",
            "attribute": "3/1-0:1.8.0*255/2",
            "value": 1240,
            "unit": "Wh",
            "captured_at": "2027-01-15T08:15:00.000+00:00",
        },
        {
            "system_title": "4D4D4D0000000002",
            "attribute": "1/0-0:96.1.0*255/2",
            "value": "meter B",
            "unit": None,
            "captured_at": "2027-01-15T08:00:00.000+00:00",
        },
        {
            "system_title": "4D4D4D0000000002",
            "attribute": "3/1-0:1.8.0*255/2",
            "value": None,
            "unit": None,
            "captured_at": "2027-01-15T08:00:00.000+00:00",
            "error": "timeout",
        },
    ]


def test_csv_and_text(backend: Backend, store: Storage) -> None:
    fill(store)
    done = cli("--db", backend.target, "--csv", "--meter", "4d4d4d0000000002")
    assert done.returncode == 0, done.stderr
    rows = list(csv.reader(io.StringIO(done.stdout)))
    assert rows == [
        ["system_title", "attribute", "value", "unit", "captured_at", "error"],
        ["4D4D4D0000000002", "1/0-0:96.1.0*255/2", "meter B", "", "2027-01-15T08:00:00.000+00:00", ""],
        ["4D4D4D0000000002", "3/1-0:1.8.0*255/2", "", "", "2027-01-15T08:00:00.000+00:00", "timeout"],
    ]
    text = cli("--db", backend.target)
    assert text.returncode == 0 and "1240 Wh" in text.stdout and "timeout" in text.stdout


def test_a_single_machine_file_is_read_without_being_migrated(tmp_path: Path) -> None:
    from cosemnet.headend.store import HeadEndStore, ReadingRow
    from cosemnet.profiles.mesh.address_book import AddressBook

    path = tmp_path / "hes.db"
    AddressBook(path).close()
    old = HeadEndStore(path)
    run = old.start_run("3/1-0:1.8.0*255/2", 1, now=T0)
    old.add_readings([ReadingRow.of_value(run, A, 3, "1-0:1.8.0*255", 2, T0, DoubleLongUnsigned(7))])
    old.close()
    done = cli("--db", str(path), "--json")
    assert done.returncode == 0, done.stderr
    assert [json.loads(line)["value"] for line in done.stdout.splitlines()] == [7]
    AddressBook(path).close()  # not migrated: today's head-end keeps using it


def test_bad_arguments(tmp_path: Path) -> None:
    missing = cli("--db", str(tmp_path / "none.db"))
    assert missing.returncode == 1 and "no such database" in missing.stderr
    assert not (tmp_path / "none.db").exists()
    both = cli("--db", str(tmp_path / "none.db"), "--json", "--csv")
    assert both.returncode == 2 and "exclusive" in json.loads(both.stdout)["error"]["reason"]
    bad = cli("--meter", "12")
    assert bad.returncode == 2 and "16 hex digits" in bad.stderr
