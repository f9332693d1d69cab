"""Logging of the cosemnet command: levels, text and JSON lines on stderr, key material redacted.

Unit tests of the filter and formatters, then real ``cosemnet`` processes (``-v``, ``-vv``, ``-q``,
``--log-format``, the COSEMNET_LOG_LEVEL / COSEMNET_LOG_FORMAT environment variables).
"""

from __future__ import annotations

import io
import json
import logging
import subprocess
from collections.abc import Iterator

import pytest

from cosemnet.cli.logs import (
    REDACTED,
    JsonFormatter,
    RedactionFilter,
    configure_logging,
    is_sensitive_name,
    parse_level,
    register_secrets,
    verbosity_level,
)

from .conftest import cosemnet_command
from .corpus import AK, EK, SERVER_SYSTEM_TITLE, SUITE0_VECTORS

KEY = bytes.fromhex(EK)


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONIOENCODING": "utf-8"}
    return subprocess.run(
        [*cosemnet_command(), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**base, **(env or {})},
    )


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging(logging.DEBUG, "json", stream)
    yield stream
    configure_logging(logging.WARNING, "text")
    for handler in list(logging.getLogger().handlers):
        if handler.get_name() == "cosemnet-cli":
            logging.getLogger().removeHandler(handler)


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


@pytest.mark.parametrize(
    "name", ["key", "ek", "ak", "kek", "password", "secret", "dedicated_key", "global_ek", "EK", "hls_secret"]
)
def test_sensitive_names(name: str) -> None:
    assert is_sensitive_name(name)


@pytest.mark.parametrize("name", ["system_title", "invoke_id", "peer", "event", "attribute_id", "length"])
def test_public_names(name: str) -> None:
    assert not is_sensitive_name(name)


def test_json_line_fields_and_redaction(captured: io.StringIO) -> None:
    log = logging.getLogger("cosemnet.test")
    log.info(
        "associated with %s",
        "meter-1",
        extra={
            "event": "association.accepted",
            "system_title": bytes.fromhex(SERVER_SYSTEM_TITLE),
            "peer": "[::1]:4059",
            "invoke_id": 3,
            "ek": KEY,
            "dedicated_key": KEY.hex(),
            "context": {"kek": "00" * 16, "password": "12345678", "suite": 0, "nested": [{"ak": AK}]},
        },
    )
    (line,) = _lines(captured)
    assert line["level"] == "INFO" and line["logger"] == "cosemnet.test"
    assert line["message"] == "associated with meter-1"
    assert str(line["time"]).endswith("Z") and "T" in str(line["time"])
    assert line["event"] == "association.accepted" and line["peer"] == "[::1]:4059" and line["invoke_id"] == 3
    assert line["system_title"] == SERVER_SYSTEM_TITLE
    assert line["ek"] == REDACTED and line["dedicated_key"] == REDACTED
    assert line["context"] == {
        "kek": REDACTED,
        "password": REDACTED,
        "suite": 0,
        "nested": [{"ak": REDACTED}],
    }
    assert EK.lower() not in captured.getvalue().lower() and AK.lower() not in captured.getvalue().lower()


def test_registered_secret_scrubbed_from_message_args_and_exception(captured: io.StringIO) -> None:
    register_secrets(KEY, None)
    log = logging.getLogger("cosemnet.test")
    log.warning("key %s in the text, %s", KEY.hex(), KEY.hex().upper(), extra={"note": f"was {KEY.hex()}"})
    log.warning("mapping %(k)s", {"k": "x", "ek": "y"})
    try:
        raise ValueError(f"bad key {KEY.hex()}")
    except ValueError:
        log.exception("failed", extra={"blob": KEY})
    text = captured.getvalue()
    assert EK.lower() not in text.lower()
    lines = _lines(captured)
    assert (
        lines[0]["message"] == f"key {REDACTED} in the text, {REDACTED}"
        and lines[0]["note"] == f"was {REDACTED}"
    )
    assert lines[1]["message"] == "mapping x"
    assert "ValueError: bad key <redacted>" in str(lines[2]["exception"]) and lines[2]["blob"] == REDACTED


def test_filter_ignores_short_secrets_and_keeps_records() -> None:
    flt = RedactionFilter([b"\x01"])
    record = logging.LogRecord("x", logging.INFO, "f", 1, "01 stays", None, None)
    assert flt.filter(record) and record.msg == "01 stays"
    assert JsonFormatter().format(record).startswith('{"time"')


def test_levels_from_flags_and_environment() -> None:
    assert verbosity_level(0, False, {}) == logging.WARNING
    assert verbosity_level(1, False, {}) == logging.INFO
    assert verbosity_level(2, False, {}) == logging.DEBUG
    assert verbosity_level(3, False, {"COSEMNET_LOG_LEVEL": "error"}) == logging.DEBUG
    assert verbosity_level(0, True, {"COSEMNET_LOG_LEVEL": "debug"}) == logging.ERROR
    assert verbosity_level(0, False, {"COSEMNET_LOG_LEVEL": "info"}) == logging.INFO
    assert parse_level("15") == 15
    with pytest.raises(ValueError, match="unknown log level"):
        parse_level("loud")


# --------------------------------------------------------------------------------------------------
# Real processes

GET = "C001C100030100010800FF0200"


def test_default_is_silent_and_vv_logs_json_to_stderr() -> None:
    quiet = _run("decode", "--json", GET)
    assert quiet.returncode == 0 and quiet.stderr == ""
    loud = _run("-vv", "--log-format", "json", "decode", "--json", GET, "nothex")
    assert loud.returncode == 1
    assert json.loads(loud.stdout.splitlines()[0])["apdu"] == "GetRequestNormal"  # stdout stays the output
    records = [json.loads(line) for line in loud.stderr.splitlines() if line.startswith("{")]
    events = [r["event"] for r in records]
    assert events == ["decode.message"]  # the bad line is reported as a decode error object on stdout
    assert (
        records[0]["level"] == "DEBUG"
        and records[0]["kind"] == "GetRequestNormal"
        and records[0]["line"] == 1
    )


def test_v_is_info_and_q_silences_info() -> None:
    bad = "C001C1"
    info = _run("-v", "decode", bad)
    assert info.returncode == 1
    log_lines = [line for line in info.stderr.splitlines() if " INFO " in line]
    assert len(log_lines) == 1 and "cosemnet.cli.decode: message 1 failed" in log_lines[0]
    assert "event=decode.failure" in log_lines[0]
    quiet = _run("-q", "decode", bad)
    assert [line for line in quiet.stderr.splitlines() if " INFO " in line] == []
    assert quiet.stderr.startswith("error: ")


def test_environment_sets_level_and_format() -> None:
    result = _run("decode", GET, env={"COSEMNET_LOG_LEVEL": "debug", "COSEMNET_LOG_FORMAT": "json"})
    assert result.returncode == 0
    assert json.loads(result.stderr.splitlines()[0])["event"] == "decode.message"
    bad = _run("decode", GET, env={"COSEMNET_LOG_LEVEL": "loud"})
    assert bad.returncode == 2 and "COSEMNET_LOG_LEVEL" in bad.stderr
    bad_format = _run("decode", GET, env={"COSEMNET_LOG_FORMAT": "xml"})
    assert bad_format.returncode == 2


def test_keys_never_in_debug_logs_of_a_decryption() -> None:
    result = _run(
        "-vv",
        "--log-format",
        "json",
        "decode",
        "--ek",
        EK,
        "--ak",
        AK,
        "--system-title",
        SERVER_SYSTEM_TITLE,
        SUITE0_VECTORS["auth_enc"],
    )
    assert result.returncode == 0, result.stderr
    assert "decode.message" in result.stderr
    assert EK.lower() not in result.stderr.lower() and AK.lower() not in result.stderr.lower()
