"""``meter serve`` logs its events through ``logging`` (issue 15): ``--json-log`` is an alias of
``cosemnet --log-format json`` and gives only JSON lines on stderr, with an ``event`` field; ``-q``
hides the events (INFO records); the text format is the CLI's."""

from __future__ import annotations

import json
import signal
import subprocess

from .conftest import RunCli, cosemnet_command

ENV = {"PATH": "/usr/bin:/bin", "COLUMNS": "200", "LANG": "C.UTF-8", "PYTHONIOENCODING": "utf-8"}


def serve_and_read(run_cli: RunCli, *options: str, root: tuple[str, ...] = ()) -> str:
    """Start ``meter serve``, read one register from it, stop it; its stderr."""
    process = subprocess.Popen(
        [*cosemnet_command(), *root, "meter", "serve", "--no-state", "--bind", "127.0.0.1:0", *options],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("listening on tcp 127.0.0.1:"), line
        assert run_cli("read", line.split()[-1], "1-0:1.8.0").returncode == 0
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=20)
    assert process.returncode == 143, err  # stopped by SIGTERM (docs/decisions/0130)
    return err


def test_json_log_is_structured_logging(run_cli: RunCli) -> None:
    err = serve_and_read(run_cli, "--json-log")
    records = [json.loads(line) for line in err.splitlines()]  # every line is a JSON object
    events = {r["event"]: r for r in records if r["logger"] == "cosemnet.meter.events"}
    assert {"association accepted", "association released", "stopped"} <= set(events)
    accepted = events["association accepted"]
    assert accepted["level"] == "INFO" and accepted["message"].startswith("association accepted: client 16")
    assert accepted["time"].endswith("Z")
    assert any(r["level"] == "WARNING" and "--no-state" in r["message"] for r in records)


def test_text_events(run_cli: RunCli) -> None:
    text = serve_and_read(run_cli)
    assert " INFO cosemnet.meter.events: association accepted: client 16" in text
    assert "event=" in text and "warning: --no-state" in text
