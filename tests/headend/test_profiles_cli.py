"""``cosemnet hes run --schedule FILE`` and ``hes profile`` in real processes against ``cosemnet sim
mesh`` on ::1 (issue 12 item 4), and the schedule's parsing and due times (sans-IO)."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from cosemnet.cli.main import cli
from cosemnet.headend import HeadEndStore
from cosemnet.headend.schedule import Job, JobDue, ScheduleError, Scheduler, parse_duration, parse_schedule
from cosemnet.sansio import TimerCore

from .test_cli_process import ENV, cosemnet_command, hes

SCHEDULE = """
[[job]]
name = "daily-profile"
kind = "profile"
obis = "1-0:99.1.0*255"
every = "1d"
at = "00:15"

[[job]]
name = "registers"
kind = "registers"
attributes = ["3/1-0:1.8.0*255/2", "3/1-0:1.8.0*255/3"]
every = "15m"
"""
LP = "1-0:99.1.0*255"


def test_schedule_parsed_and_due_times() -> None:
    profile, registers = parse_schedule(SCHEDULE)
    assert profile.kind == "profile" and str(profile.obis) == LP and profile.every == 86400
    assert profile.at == 15 * 60 and registers.every == 900 and len(registers.attributes) == 2
    assert [parse_duration(t) for t in ("90s", "15m", "1h30m", "1d", "2")] == [90, 900, 5400, 86400, 2]
    midnight = 1_765_152_000.0  # 2025-12-08T00:00Z
    scheduler = Scheduler([profile, registers], midnight + 1)
    assert scheduler.next_due(profile) == midnight + 900 and scheduler.next_due(registers) == midnight + 900
    assert scheduler.get_timer() == midnight + 900
    assert scheduler.due(midnight + 899) == []
    assert scheduler.due(midnight + 900) == [profile, registers]
    assert scheduler.next_due(profile) == midnight + 86400 + 900
    assert scheduler.next_due(registers) == midnight + 1800
    # a run that overran its next instants: once, at the next instant after it ended
    scheduler.finished(registers, midnight + 4000)
    assert scheduler.next_due(registers) == midnight + 4500
    assert Job("x", "registers", 60.0).next_after(120.0) == 180.0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no .* entries"),
        ("[[job]]\nname='a'\nkind='profile'\nobis='1-0:99.1.0'\nevery='soon'", "not a duration"),
        ("[[job]]\nname='a'\nkind='registers'\nattributes=[]\nevery='1h'", "attributes"),
        ("[[job]]\nname='a'\nkind='profile'\nobis='1-0:99.1.0'\nevery='1d'\nat='25:00'", "time of day"),
        ("[[job]]\nname='a'\nkind='backup'\nevery='1d'", "kind"),
        ("[[job]]\nname='a'\nkind='profile'\nobis='x'\nevery='1d'", "obis"),
        ("[[job]]\nname='a'\nkind='profile'\nobis='1-0:99.1.0'\nevery='1d'\nevry='1'", "unknown key"),
        ("[[job]]\nname='a'\nkind='profile'\nobis='1-0:99.1.0'\nevery='-1d'", "duration"),
        ("[[job]\n", "not valid TOML"),
    ],
)
def test_bad_schedules_named(text: str, message: str) -> None:
    with pytest.raises(ScheduleError, match=message):
        parse_schedule(text)


def _ipv6_loopback() -> bool:
    try:
        _free_port()
    except OSError:
        return False
    return True


def _free_port() -> int:
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
        s.bind(("::1", 0))
        return int(s.getsockname()[1])


def test_run_once_against_sim_mesh_then_profile_printed(tmp_path: Path) -> None:
    try:
        port = _free_port()
    except OSError:
        pytest.skip("no IPv6 loopback")
    schedule = tmp_path / "schedule.toml"
    schedule.write_text(SCHEDULE)
    db = tmp_path / "hes.db"
    sim_args = ["mesh", "--meters", "3", "--head-end", f"[::1]:{port}", "--duration", "60"]
    sim_args += ["--retries", "30", "--repetition-delay", "1"]  # registering until the head-end listens
    sim = subprocess.Popen(
        [*cosemnet_command(), "sim", *sim_args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    try:
        assert sim.stdout is not None and "meters up" in sim.stdout.readline()
        common = ["--db", str(db), "--bind", "::1", "--port", str(port), "--test-keys", "--rto-min", "0.05"]
        result = hes("run", "--schedule", str(schedule), "--once", "--listen-first", "3", "--json", *common)
        assert result.returncode == 0, result.stderr + result.stdout
        lines = [json.loads(line) for line in result.stdout.splitlines()]
        assert [line["job"] for line in lines] == ["daily-profile", "registers"]
        profile, registers = lines
        assert profile["meters"] == 3 and profile["reads"] == 3 and not profile["failed"], lines
        assert registers["answered"] == 3 and not registers["failed"]
        store = HeadEndStore(db)
        try:
            channels = store.profile_channels(LP)
            # each meter: clock + 4 energy registers, scaler and unit read once and cached
            assert len(channels) == 3 * 5 and len({c.system_title for c in channels}) == 3
            units = {c.name: c.unit for c in channels}
            assert units["0-0:1.0.0*255:2"] is None and units["1-0:1.8.0*255:2"] == 30
            assert units["1-0:3.8.0*255:2"] == 32 and {c.capture_period for c in channels} == {900}
            stored = store.profile_rows(LP)
            assert len(stored) == profile["values_stored"] == 4 * profile["rows_received"]
            readings = store.readings(registers["run_id"])
            assert len(readings) == 6 and all(r.error is None for r in readings)
        finally:
            store.close()
        # a second run: only the rows after the last one stored, the channels not read again
        # (in-process from here: the real process was shown above, each start costs seconds)
        runner = CliRunner()
        again = runner.invoke(cli, ["hes", "run", "--schedule", str(schedule), "--once", "--json", *common])
        assert again.exit_code == 0, again.output
        second = json.loads(again.stdout.splitlines()[0])
        assert second["reads"] == 3 and len(second["runs"]) == 1
        shown = runner.invoke(cli, ["hes", "profile", "--db", str(db), "--csv"])
        assert shown.exit_code == 0
        assert shown.stdout.splitlines()[0] == "system_title,channel,capture_time,value,unit"
        assert len(shown.stdout.splitlines()) == 1 + len(stored) + second["values_stored"]
    finally:
        sim.send_signal(signal.SIGINT)
        sim.communicate(timeout=10)


def test_run_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    if not _ipv6_loopback():
        pytest.skip("no IPv6 loopback")
    schedule = tmp_path / "schedule.toml"
    schedule.write_text(SCHEDULE)
    db = tmp_path / "hes.db"
    bind = ["--bind", "::1", "--port", "0", "--test-keys"]
    process = subprocess.Popen(
        [*cosemnet_command(), "hes", "run", "--schedule", str(schedule), "--db", str(db), *bind],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    assert process.stderr is not None and process.stderr.readline().startswith("listening on [::1]:")
    process.send_signal(signal.SIGTERM)  # waiting for the first job (00:15 or the next quarter hour)
    _, err = process.communicate(timeout=20)
    assert process.returncode == 143, err
    assert "Traceback" not in err
    bad = tmp_path / "bad.toml"
    bad.write_text("[[job]]\nname='a'\nkind='nope'\nevery='1d'\n")
    result = CliRunner().invoke(cli, ["hes", "run", "--schedule", str(bad), "--db", str(db), "--test-keys"])
    assert result.exit_code == 2 and "kind" in result.output


def test_scheduler_is_a_timer_core_with_typed_events() -> None:
    (profile,) = parse_schedule(SCHEDULE.split('\n\n[[job]]\nname = "registers"')[0])
    scheduler = Scheduler([profile], 0.0)
    assert isinstance(scheduler, TimerCore)
    assert scheduler.get_timer() == 900.0
    scheduler.handle_timer(899.0)
    assert scheduler.pop_events() == []
    scheduler.handle_timer(86400.0 + 1000)  # late: one event, not one per missed day
    assert scheduler.pop_events() == [JobDue(profile, 900.0)] and scheduler.pop_events() == []
    assert scheduler.get_timer() == 2 * 86400.0 + 900
