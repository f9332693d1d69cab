"""``cosemnet read`` / ``objects`` / ``profile`` against the test meter on loopback."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from cosemnet.cli.main import cli
from cosemnet.cli.read import parse_host, parse_target
from cosemnet.codec.obis import Obis

from .fake_meter import PROFILE_ROWS, FakeMeter, serve


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_parse_host_and_target() -> None:
    assert parse_host("meter") == ("meter", 4059)
    assert parse_host("10.0.0.1:1234") == ("10.0.0.1", 1234)
    assert parse_host("[2001:db8::1]") == ("2001:db8::1", 4059)
    assert parse_host("[2001:db8::1]:4060") == ("2001:db8::1", 4060)
    assert parse_host("2001:db8::1") == ("2001:db8::1", 4059)
    for bad in ("[::1", "[::1]x", "host:0", "host:99999", "host:abc"):
        with pytest.raises(click.BadParameter):
            parse_host(bad)
    assert parse_target("1-0:1.8.0*255") == (Obis.parse("1-0:1.8.0*255"), None)
    assert parse_target("1-0:1.8.0*255:3") == (Obis.parse("1-0:1.8.0*255"), 3)
    assert parse_target("1.0.1.8.0.255:2") == (Obis.parse("1-0:1.8.0*255"), 2)
    with pytest.raises(click.BadParameter):
        parse_target("not-obis")


def test_read_register_text_and_json() -> None:
    with serve(FakeMeter()) as port:
        code, out, _ = run("read", f"127.0.0.1:{port}", "1-0:1.8.0*255", "--class-id", "3")
        assert code == 0
        assert out.startswith("1234.567 Wh") and "double-long-unsigned" in out
        code, out, _ = run("read", f"127.0.0.1:{port}", "1-0:1.8.0*255:2", "--class-id", "3", "--json")
        assert code == 0
        doc = json.loads(out)
        assert doc["value"] == 1234567 and doc["scaler"] == -3 and doc["unit_symbol"] == "Wh"
        assert doc["scaled_value"] == pytest.approx(1234.567)
        assert doc["data"] == {"double-long-unsigned": 1234567}
        code, out, _ = run("read", f"127.0.0.1:{port}", "0-0:96.1.0*255", "--transport", "tcp")
        assert code == 0 and "CNT-0001" in out and "visible-string" in out


def test_read_over_udp_and_clock_json() -> None:
    with serve(FakeMeter(), "udp") as port:
        code, out, _ = run(
            "read", f"127.0.0.1:{port}", "0-0:1.0.0*255:2", "--class-id", "8", "--transport", "udp", "--json"
        )
        assert code == 0, out
        assert json.loads(out)["type"] == "octet-string"


def test_errors_are_one_line_with_exit_code_1() -> None:
    with serve(FakeMeter(password=b"secret")) as port:
        code, _, err = run("read", f"127.0.0.1:{port}", "0-0:96.1.0*255", "--auth", "lls", "--password", "x")
        assert code == 1
        assert err.strip().startswith("error: association rejected") and "authentication-failure" in err
        assert len(err.strip().splitlines()) == 1
        code, _, err = run(
            "read", f"127.0.0.1:{port}", "1/0-0:96.1.9*255/2", "--auth", "lls", "--password", "secret"
        )
        assert code == 1 and "object-undefined" in err
    with serve(FakeMeter(answer=False)) as port:
        code, _, err = run("read", f"127.0.0.1:{port}", "0-0:96.1.0*255", "--timeout", "0.2")
        assert code == 1 and "no answer" in err


def test_usage_errors_exit_2() -> None:
    assert run("read", "host", "not-an-obis")[0] == 2
    assert run("read", "[::1", "1-0:1.8.0*255")[0] == 2
    assert run("read", "host", "1-0:1.8.0*255", "--auth", "lls")[0] == 2  # no password
    assert run("read", "host", "1-0:1.8.0*255", "--ek", "00")[0] == 2
    assert run("profile", "host", "1-0:99.1.0*255", "--from", "yesterday")[0] == 2


def test_objects_table_and_json() -> None:
    with serve(FakeMeter()) as port:
        code, out, _ = run("objects", f"127.0.0.1:{port}")
        assert code == 0
        assert "Profile generic" in out and "1-0:99.1.0*255" in out and "Association LN" in out
        code, out, _ = run("objects", f"127.0.0.1:{port}", "--json")
        rows = json.loads(out)
        assert {r["obis"] for r in rows} >= {"0-0:1.0.0*255", "1-0:1.8.0*255", "0-0:40.0.0*255"}


def test_profile_csv_json_and_range(tmp_path: Path) -> None:
    with serve(FakeMeter()) as port:
        target = tmp_path / "lp.csv"
        code, _, err = run("profile", f"127.0.0.1:{port}", "1-0:99.1.0*255", "--csv", str(target))
        assert code == 0 and f"{PROFILE_ROWS} rows" in err
        with target.open() as handle:
            rows = list(csv.reader(handle))
        # a register column carries its scaler and unit (issue 15)
        assert rows[0] == [
            "0-0:1.0.0*255:2",
            "1-0:1.8.0*255:2",
            "1-0:1.8.0*255:2 scaler",
            "1-0:1.8.0*255:2 unit",
        ]
        assert len(rows) == PROFILE_ROWS + 1
        assert rows[1] == ["2024-02-29T00:00:00+00:00", "1000", "-3", "Wh"]
        code, out, _ = run(
            "profile",
            f"127.0.0.1:{port}",
            "1-0:99.1.0*255",
            "--from",
            "2024-02-29T01:00:00",
            "--to",
            "2024-02-29T01:30:00+00:00",
            "--json",
        )
        assert code == 0
        assert [r["1-0:1.8.0*255:2"] for r in json.loads(out)] == [1004, 1005, 1006]
        code, out, _ = run("profile", f"127.0.0.1:{port}", "1-0:99.1.0*255")
        assert code == 0 and "96 rows" in out
