"""The mesh section of ``cosemnet demo``: a small fleet and the head-end over real UDP on ::1, in process.

The expected numbers are computed here from the demo's rules (group 1 = index % 3 == 0, every tenth
meter from index 3 migrates), not read back from the summary.
"""

from __future__ import annotations

import io
import json
import socket

import pytest
from rich.console import Console

from cosemnet.cli import demo_mesh
from cosemnet.cli.demo_mesh import TRANSIT_TOLERANCE, WINDOW, run_mesh_demo


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


needs_ipv6 = pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback on this host")


def _recording_console() -> Console:
    return Console(file=io.StringIO(), width=160, force_terminal=False, color_system=None, record=True)


@needs_ipv6
def test_every_number_of_a_40_meter_run_is_consistent() -> None:
    meters = 40
    console = _recording_console()
    summary = run_mesh_demo(console, True, meters=meters)
    assert console.export_text() == ""  # json mode prints nothing
    json.dumps(summary)  # JSON-able
    members = sum(1 for i in range(meters) if i % 3 == 0)
    migrated = sum(1 for i in range(meters) if i % 10 == 3)
    assert (members, migrated) == (14, 4)

    assert summary["ok"] is True, summary
    assert summary["meters"] == meters
    assert summary["registered"] == meters
    assert summary["registration_pushes"] >= meters + migrated  # one per join and per address change
    assert summary["associated"] == meters and summary["aarq_sent"] == meters  # one AARQ per meter, ever
    # migrated meters: re-registered at their new address and read there, in the association they had
    assert summary["migrated"] == migrated
    assert summary["migrated_rebound"] == migrated
    assert summary["migrated_read_without_aarq"] == migrated
    assert summary["aarq_during_read"] == 0
    assert summary["read"] == meters and summary["read_failed"] == 0

    group = summary["group"]
    assert group["address"] == "ff15::d1:1"
    assert group["members"] == members and group["answered"] == members
    assert group["missing"] == 0 and group["late"] == 0
    assert group["unexpected"] == 0 and group["non_members_executed"] == 0  # non-members stay silent
    assert group["duplicates_dropped"] == group["duplicates_sent"]
    window_end = WINDOW.end_offset / 1000
    assert group["window_seconds"] == window_end
    assert 0 <= group["first_answer_after"] <= group["last_answer_after"] <= window_end + TRANSIT_TOLERANCE
    assert group["last_answer_after"] - group["first_answer_after"] > 0.1  # spread over the window
    assert group["answers_in_window"] is True

    seconds = summary["seconds"]
    phases = ("start", "register", "associate", "migrate", "read", "group")
    assert all(seconds[p] >= 0 for p in phases)
    assert abs(sum(seconds[p] for p in phases) - seconds["total"]) < 0.05
    assert seconds["total"] < 20
    assert summary["datagrams"]["head_end_received"] >= 2 * meters + members


@needs_ipv6
def test_the_table_and_the_explanation_are_printed() -> None:
    console = _recording_console()
    summary = run_mesh_demo(console, False, meters=12)
    text = console.export_text()
    assert summary["ok"] is True, summary
    assert "7. IEC TS 62056-8-20 mesh" in text
    for row in ("registered", "migrated, re-registered", "read 1-0:1.8.0", "group 1 members answered"):
        assert row in text
    assert "duplicates dropped" in text and "answers within the window" in text
    assert "✓" in text and "✗" not in text
    assert "were read there in that same association (no new AARQ)" in " ".join(text.split())


def test_no_sockets_gives_a_failed_section_not_a_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    async def refuse(*args: object, **kwargs: object) -> None:
        raise OSError("no IPv6 here")

    monkeypatch.setattr(demo_mesh.HeadEndService, "start", refuse)
    console = _recording_console()
    summary = run_mesh_demo(console, False, meters=3)
    assert summary["ok"] is False and "no IPv6 here" in summary["error"]
    assert "cannot open UDP sockets" in console.export_text()
