"""``cosemnet hes`` as an operator meets it, in real processes: exit codes, one-line errors, JSON errors,
read-only commands that do not create databases, and keys only when given (issue 15, issue 12 item 7)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from cosemnet.profiles.mesh import AddressBook, AddressEntry, AddressRegistrationData

TITLE = bytes.fromhex("4D4D4D0000BC614E")
ENV = {"PATH": "/usr/bin:/bin", "COLUMNS": "200", "LANG": "C.UTF-8", "PYTHONIOENCODING": "utf-8"}
EK = "000102030405060708090A0B0C0D0E0F"
AK = "D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF"


def cosemnet_command() -> list[str]:
    script = Path(sys.executable).parent / "cosemnet"
    return [str(script)] if script.exists() else [sys.executable, "-m", "cosemnet.cli"]


def hes(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [*cosemnet_command(), "hes", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**ENV, **(env or {})},
    )
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout, result.stderr
    return result


def _one_silent_meter(db: Path) -> None:
    """A registered meter at [::1]:61616 that nobody serves: every request to it fails."""
    with AddressBook(db) as book:
        book.upsert(AddressRegistrationData(TITLE, (AddressEntry.of("::1"),), 1), 1_700_000_000.0)


def test_collect_exits_1_naming_the_failed_meter(tmp_path: Path) -> None:
    db = tmp_path / "hes.db"
    _one_silent_meter(db)
    fast = ["--timeout", "0.3", "--retries", "0", "--fixed-timers", "--bind", "::1", "--port", "0"]
    obis = "3/1-0:1.8.0*255/2"
    result = hes("collect", "--db", str(db), "--test-keys", "--obis", obis, *fast, "--json")
    assert result.returncode == 1, result.stderr
    summary = json.loads(result.stdout)
    assert summary["failed"] == 1 and TITLE.hex().upper() in summary["failures"]
    text = hes("collect", "--db", str(db), "--test-keys", "--obis", obis, *fast, "--no-progress")
    assert text.returncode == 1 and f"failed  {TITLE.hex().upper()}" in text.stdout
    # without a class, the class is looked up in the object list: no meter answers, one line names it
    bare = hes("collect", "--db", str(db), "--test-keys", "--obis", "1-0:1.8.0", *fast, "--json")
    assert bare.returncode == 1
    reason = json.loads(bare.stdout)["error"]["reason"]
    assert "cannot look up the class" in reason and TITLE.hex().upper() in reason


@pytest.mark.parametrize(
    "args",
    [
        ("lookup", TITLE.hex(), "--db"),
        ("readings", "--db"),
        ("readings", "--csv", "--db"),
        ("collect", "--resume", "1", "--test-keys", "--db"),
    ],
)
def test_read_only_commands_refuse_a_missing_database(tmp_path: Path, args: tuple[str, ...]) -> None:
    db = tmp_path / "typo.db"
    result = hes(*args, str(db))
    assert result.returncode == 1 and "no such database" in result.stderr
    assert result.stdout == "" and not db.exists()
    as_json = hes(*args, str(db), "--json") if "--csv" not in args else None
    if as_json is not None:
        assert as_json.returncode == 1 and "no such database" in json.loads(as_json.stdout)["error"]["reason"]
        assert not db.exists()


def test_listen_on_a_database_in_a_missing_directory(tmp_path: Path) -> None:
    db = str(tmp_path / "nowhere" / "x.db")
    result = hes("listen", "--db", db, "--test-keys", "--duration", "0.1", "--bind", "::1", "--port", "0")
    assert result.returncode == 1 and result.stderr.strip() == f"error: {db}: no such directory"
    result = hes("listen", "--db", db, "--test-keys", "--duration", "0.1", "--bind", "::1", "--json")
    assert result.returncode == 1 and json.loads(result.stdout)["error"]["kind"] == "database"


@pytest.mark.parametrize("command", ["listen", "collect", "broadcast"])
def test_no_keys_no_start(tmp_path: Path, command: str) -> None:
    db = tmp_path / "hes.db"
    extra = {
        "listen": [],
        "collect": ["--obis", "1-0:1.8.0*255"],
        "broadcast": ["--group", "0", "--obis", "1-0:1.8.0"],
    }
    result = hes(
        command, "--db", str(db), "--duration" if command == "listen" else "--retries", "0", *extra[command]
    )
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "--keys" in result.stderr and "--test-keys" in result.stderr
    assert not db.exists()  # refused before anything was opened


def test_keys_from_a_file_and_from_the_environment(tmp_path: Path) -> None:
    db = tmp_path / "hes.db"
    keys = tmp_path / "keys.toml"
    keys.write_text(f'ek = "{EK}"\nak = "{AK}"\n')
    listen = ["listen", "--db", str(db), "--duration", "0.1", "--bind", "::1", "--port", "0", "--json"]
    keys.chmod(0o644)
    wide = hes(*listen, "--keys", str(keys))
    assert wide.returncode == 2 and "chmod 600" in json.loads(wide.stdout)["error"]["reason"]
    keys.chmod(0o600)
    from_file = hes(*listen, "--keys", str(keys))
    assert from_file.returncode == 0, from_file.stderr
    assert json.loads(from_file.stdout.splitlines()[0])["event"] == "listening"
    assert EK not in from_file.stdout + from_file.stderr
    from_env = hes(*listen, env={"COSEMNET_EK": EK, "COSEMNET_AK": AK})
    assert from_env.returncode == 0, from_env.stderr
    # a broadcast needs the broadcast key too
    no_gbek = hes(
        "broadcast",
        "--db",
        str(db),
        "--group",
        "0",
        "--obis",
        "1-0:1.8.0",
        env={"COSEMNET_EK": EK, "COSEMNET_AK": AK},
    )
    assert no_gbek.returncode == 2 and "broadcast key" in no_gbek.stderr


def test_one_grammar_for_addresses_and_attributes(tmp_path: Path) -> None:
    db = tmp_path / "hes.db"
    listen = hes("listen", "--db", str(db), "--test-keys", "--duration", "0.1", "--bind", "[::1]:0", "--json")
    assert listen.returncode == 0, listen.stderr
    assert json.loads(listen.stdout.splitlines()[0])["address"] == "::1"
    default = hes("listen", "--db", str(db), "--test-keys", "--duration", "0.1", "--port", "0", "--json")
    assert json.loads(default.stdout.splitlines()[0])["address"] == "::1"  # loopback unless told otherwise
    ambiguous = hes("listen", "--db", str(db), "--test-keys", "--bind", "::1:49059")
    assert ambiguous.returncode == 2 and "[::1]:49059" in ambiguous.stderr
    common = ["--db", str(db), "--test-keys", "--bind", "[::1]:0", "--json"]
    named = hes("collect", *common, "--obis", "Register/1-0:1.8.0*255/2,1-0:2.8.0*255")
    assert named.returncode == 0 and json.loads(named.stdout)["meters"] == 0, named.stderr
    no_class = hes("collect", *common, "--obis", "1-0:1.8.0*255:3")  # class from the object list
    assert no_class.returncode == 0 and json.loads(no_class.stdout)["meters"] == 0, no_class.stdout
    bad = hes("collect", *common, "--obis", "3/1-0:1.8.0*255/x")
    assert bad.returncode == 2 and "bad attribute" in json.loads(bad.stdout)["error"]["reason"]
    sim = subprocess.run(
        [*cosemnet_command(), "sim", "mesh", "--head-end", "::1:49059", "--duration", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        env=ENV,
    )
    assert sim.returncode == 2 and "[::1]:49059" in sim.stderr and "Traceback" not in sim.stderr


def test_sim_mesh_prints_periodic_status_on_stderr_only() -> None:
    args = ["--meters", "2", "--head-end", "[::1]:9", "--duration", "1.6", "--status-every", "0.5", "--json"]
    sim = subprocess.run(
        [*cosemnet_command(), "sim", "mesh", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=ENV,
    )
    assert sim.returncode == 0, sim.stderr
    assert json.loads(sim.stdout)["meters"] == 2  # stdout: the result only
    status = [line for line in sim.stderr.splitlines() if "online 2/2" in line]
    assert len(status) >= 2 and status[0].startswith("[")


BIND = ("--bind", "[::1]:0", "--json")


def test_listen_exits_143_on_sigterm_and_130_on_sigint(tmp_path: Path) -> None:
    """`hes listen` runs until stopped: a signal is an interruption, 128 + the signal (decision 0130)."""
    for sig, code in ((signal.SIGTERM, 143), (signal.SIGINT, 130)):
        db = tmp_path / f"hes-{code}.db"
        process = subprocess.Popen(
            [*cosemnet_command(), "hes", "listen", "--db", str(db), "--test-keys", *BIND],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=ENV,
        )
        try:
            assert process.stdout is not None
            first = process.stdout.readline()  # the handlers are installed before this line
            assert json.loads(first)["event"] == "listening", first
            process.send_signal(sig)
            _, err = process.communicate(timeout=20)
        finally:
            if process.poll() is None:
                process.kill()
        assert process.returncode == code, err
        assert "Traceback" not in err, err
