"""``cosemnet --version``, ``--help`` everywhere, and the demo."""

from __future__ import annotations

import json

import pytest

from cosemnet import __version__

from .conftest import RunCli


def test_version(run_cli: RunCli) -> None:
    for flag in ("--version", "-V"):
        result = run_cli(flag)
        assert result.returncode == 0, result.stderr
        assert result.stdout == f"cosemnet {__version__}\n"


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ((), ["decode", "encode", "demo", "Examples:"]),
        (
            ("decode",),
            [
                "--json",
                "--ek",
                "--ak",
                "--kek",
                "--system-title",
                "--dedicated-key",
                "Examples:",
                "Exit status",
            ],
        ),
        (("encode",), ["JSON", "Examples:", "decode --json"]),
        (("demo",), ["--json", "Examples:"]),
    ],
)
def test_help_of_every_command(run_cli: RunCli, command: tuple[str, ...], expected: list[str]) -> None:
    for flag in ("--help", "-h"):
        result = run_cli(*command, flag)
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith(f"Usage: cosemnet {' '.join(command)}".rstrip())
        for text in expected:
            assert text in result.stdout


def test_unknown_command_is_a_usage_error(run_cli: RunCli) -> None:
    result = run_cli("decrypt")
    assert result.returncode == 2
    assert "No such command" in result.stderr


def test_demo_runs_and_every_check_passes(run_cli: RunCli) -> None:
    # No timing assertion here (performance lives in benchmarks/); run_cli's timeout catches a hang.
    result = run_cli("demo")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    out = result.stdout
    assert "GetRequestNormal" in out and "0-0:1.0.0*255 (Clock)" in out
    assert "GeneralGloCiphering" in out and "decrypted → GetRequestNormal" in out
    assert "dedicated_key: 00112233445566778899AABBCCDDEEFF" in out  # the ciphered AARQ, deciphered
    assert "✗" not in out
    assert "LON segment" in out and "mesh" in out.lower()


def test_demo_json_summary(run_cli: RunCli) -> None:
    result = run_cli("demo", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["ok"] is True
    assert summary["version"] == __version__
    assert summary["get_request"] == "C001C100080000010000FF0200"
    assert summary["decrypts_back"] is True
    assert summary["green_book_vectors"] == {"SC 10": True, "SC 20": True, "SC 30": True}
    assert [entry["apdu"] for entry in summary["acse"]] == ["AARQ", "AARE", "AARQ", "AARE", "AARQ", "RLRQ"]
    assert set(summary["networks"]) == {"lon", "mesh"}
    assert all(segment["ok"] for segment in summary["networks"].values())
    profile = summary["profile_buffer"]
    assert profile["rows"] == 1000 and profile["round_trip"] is True
    assert profile["encode_per_second"] > 0 and profile["decode_per_second"] > 0
    assert summary["json_round_trips"]["failed"] == 0
