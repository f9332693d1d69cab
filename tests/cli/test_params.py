"""The shared CLI grammar: endpoints, attribute specs, exit codes and errors without tracebacks."""

from __future__ import annotations

import errno
import json
import os
import socket
import subprocess
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from cosemnet.cli.params import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_USAGE,
    AttributeSpec,
    AttributeSpecValue,
    Endpoint,
    EndpointValue,
    Outcome,
    describe_os_error,
    exit_code,
    interrupted_exit,
    no_traceback,
    parse_attribute_spec,
    parse_endpoint,
    user_errors,
)
from cosemnet.codec.obis import Obis

from .conftest import cosemnet_command


@pytest.mark.parametrize(
    ("text", "host", "port"),
    [
        ("meter.example", "meter.example", 4059),
        ("meter.example:5000", "meter.example", 5000),
        ("127.0.0.1", "127.0.0.1", 4059),
        ("127.0.0.1:49059", "127.0.0.1", 49059),
        ("::1", "::1", 4059),
        ("2001:db8::1", "2001:db8::1", 4059),
        ("[::1]", "::1", 4059),
        ("[::1]:49059", "::1", 49059),
        ("[fe80::1%eth0]:4059", "fe80::1%eth0", 4059),
        ("::ffff:192.0.2.1", "::ffff:192.0.2.1", 4059),
        (" localhost:1 ", "localhost", 1),
    ],
)
def test_endpoint_forms(text: str, host: str, port: int) -> None:
    assert parse_endpoint(text) == EndpointValue(host, port)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("::1:49059", "for port 49059 write [::1]:49059"),
        ("fe80::1:2", "ambiguous: write [fe80::1]:2 for port 2, or [fe80::1:2] for the address"),
        ("[::1", "missing ']'"),
        ("[meter]:1", "not an IPv6 address"),
        ("[::1]x", "expected ':PORT'"),
        ("host:0", "1..65535"),
        ("host:65536", "1..65535"),
        ("host:http", "1..65535"),
        (":4059", "missing host"),
        ("a:b:c", "write [IPv6]:PORT"),
        ("", "empty"),
    ],
)
def test_endpoint_refusals(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_endpoint(text)


def test_endpoint_port_zero_mandatory_port_and_str() -> None:
    assert parse_endpoint("127.0.0.1:0", allow_port_zero=True).port == 0
    with pytest.raises(ValueError, match="a port is needed"):
        parse_endpoint("::1", default_port=None)
    assert str(EndpointValue("::1", 4059)) == "[::1]:4059" and str(EndpointValue("h", 1)) == "h:1"
    assert EndpointValue("h", 1).address == ("h", 1)


def test_endpoint_param_type_in_a_command() -> None:
    @click.command()
    @click.argument("target", type=Endpoint())
    @click.option("--bind", type=Endpoint(default_port=None, allow_port_zero=True), default="127.0.0.1:0")
    def command(target: EndpointValue, bind: EndpointValue) -> None:
        click.echo(f"{target} {bind}")

    runner = CliRunner()
    ok = runner.invoke(command, ["::1", "--bind", "[::1]:0"])
    assert ok.exit_code == 0 and ok.output == "[::1]:4059 [::1]:0\n"
    bad = runner.invoke(command, ["::1:49059"])
    assert bad.exit_code == EXIT_USAGE and "write [::1]:49059" in bad.output


@pytest.mark.parametrize(
    ("text", "class_id", "obis", "attribute"),
    [
        ("1-0:1.8.0", None, "1-0:1.8.0*255", 2),
        ("1-0:1.8.0:3", None, "1-0:1.8.0*255", 3),
        ("1-0:1.8.0*255:2", None, "1-0:1.8.0*255", 2),
        ("1.0.1.8.0.255:4", None, "1-0:1.8.0*255", 4),
        ("0100010800FF", None, "1-0:1.8.0*255", 2),
        ("01:00:01:08:00:FF:5", None, "1-0:1.8.0*255", 5),
        ("3/1-0:1.8.0/2", 3, "1-0:1.8.0*255", 2),
        ("8/0-0:1.0.0*255/2", 8, "0-0:1.0.0*255", 2),
        ("Register/1-0:1.8.0/3", 3, "1-0:1.8.0*255", 3),
        ("profile_generic/1-0:99.1.0/2", 7, "1-0:99.1.0*255", 2),
        ("15/0-0:40.0.0/-1", 15, "0-0:40.0.0*255", -1),
    ],
)
def test_attribute_spec_forms(text: str, class_id: int | None, obis: str, attribute: int) -> None:
    assert parse_attribute_spec(text) == AttributeSpecValue(class_id, Obis.parse(obis), attribute)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("3/1-0:1.8.0", "expected CLASS/OBIS/ATTR"),
        ("x/1-0:1.8.0/2", "not a class id"),
        ("70000/1-0:1.8.0/2", "not 0..65535"),
        ("3/1-0:1.8.0/200", "-128..127"),
        ("3/1-0:1.8/2", "not an OBIS code"),
        ("1-0:1.8.0:x", "not an OBIS code"),
    ],
)
def test_attribute_spec_refusals(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_attribute_spec(text)


def test_attribute_spec_param_type_and_str() -> None:
    @click.command()
    @click.argument("attribute", type=AttributeSpec(default_attribute=2))
    def command(attribute: AttributeSpecValue) -> None:
        click.echo(str(attribute))

    runner = CliRunner()
    assert runner.invoke(command, ["1-0:1.8.0"]).output == "1-0:1.8.0*255:2\n"
    assert runner.invoke(command, ["3/1-0:1.8.0/2"]).output == "3/1-0:1.8.0*255/2\n"
    bad = runner.invoke(command, ["3/1-0:1.8.0"])
    assert bad.exit_code == EXIT_USAGE and "CLASS/OBIS/ATTR" in bad.output


def test_exit_codes_and_outcome() -> None:
    assert (EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, EXIT_INTERRUPTED) == (0, 1, 2, 130)
    assert exit_code(0, 0) == 0 and exit_code(50, 0) == 0 and exit_code(50, 50) == 1 and exit_code(5, 1) == 1
    assert exit_code(5, 0, interrupted=True) == 130
    outcome = Outcome()
    outcome.ok("m1")
    assert outcome.status == 0 and outcome.summary() == "1 done, 0 failed"
    for index in range(12):
        outcome.fail(f"m{index + 2}", "timeout")
    assert outcome.status == 1
    assert outcome.summary(limit=2) == "1 done, 12 failed: m2 (timeout), m3 (timeout) and 10 more"
    assert outcome.as_json()["done"] == 1
    with pytest.raises(KeyboardInterrupt), interrupted_exit(outcome):
        raise KeyboardInterrupt
    assert outcome.status == 130 and outcome.summary().endswith("(interrupted)")


@pytest.mark.parametrize(
    ("exc", "text"),
    [
        (
            FileNotFoundError(errno.ENOENT, "No such file or directory", "/nonexistent/x.csv"),
            "/nonexistent/x.csv: no such file or directory",
        ),
        (PermissionError(errno.EACCES, "Permission denied", "/root/x"), "/root/x: permission denied"),
        (OSError(errno.EADDRINUSE, "Address already in use"), "address already in use"),
        (ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"), "connection refused"),
        (
            socket.gaierror(socket.EAI_NONAME, "Name or service not known"),
            "cannot resolve the host name: Name or service not known",
        ),
        (TimeoutError(), "timed out"),
    ],
)
def test_describe_os_error(exc: OSError, text: str) -> None:
    assert describe_os_error(exc) == text


def _command(raise_what: BaseException, as_json: bool = False) -> click.Command:
    @click.command()
    def command() -> None:
        with user_errors(as_json=as_json, on_interrupt=lambda: click.echo("2 done, 1 failed", err=True)):
            raise raise_what

    return command


def test_user_errors_os_error_is_one_line_exit_1() -> None:
    runner = CliRunner()
    result = runner.invoke(_command(FileNotFoundError(errno.ENOENT, "x", "/nonexistent/db")))
    assert result.exit_code == 1 and result.output == "error: /nonexistent/db: no such file or directory\n"
    result = runner.invoke(_command(ConnectionRefusedError(errno.ECONNREFUSED, "x"), as_json=True))
    assert result.exit_code == 1
    assert json.loads(result.stdout) == {"error": {"reason": "connection refused", "kind": "os"}}


def test_user_errors_interrupt_is_130_after_the_summary() -> None:
    result = CliRunner().invoke(_command(KeyboardInterrupt()))
    assert result.exit_code == 130 and result.output == "2 done, 1 failed\ninterrupted\n"


def test_user_errors_lets_other_exceptions_through() -> None:
    result = CliRunner().invoke(_command(RuntimeError("bug")))
    assert isinstance(result.exception, RuntimeError)
    result = CliRunner().invoke(_command(click.UsageError("wrong")))
    assert result.exit_code == EXIT_USAGE


def test_no_traceback_decorator() -> None:
    @click.command()
    @no_traceback
    def command() -> None:
        open("/nonexistent/dir/file")  # noqa: SIM115

    result = CliRunner().invoke(command)
    assert (
        result.exit_code == 1 and result.output == "error: /nonexistent/dir/file: no such file or directory\n"
    )


# --------------------------------------------------------------------------------------------------
# Real processes: decode and encode


def _run(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [*cosemnet_command(), *args],
        input=stdin,
        capture_output=True,
        timeout=60,
        check=False,
        env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
    )


def test_decode_unreadable_input_is_one_error_not_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "out").touch()
    stdin_fd = os.open(tmp_path / "out", os.O_WRONLY)  # stdin that cannot be read: EBADF
    try:
        result = subprocess.run(
            [*cosemnet_command(), "decode", "--json", "-"], stdin=stdin_fd, capture_output=True, timeout=60
        )
        text = subprocess.run(
            [*cosemnet_command(), "encode"], stdin=stdin_fd, capture_output=True, timeout=60
        )
    finally:
        os.close(stdin_fd)
    assert result.returncode == 1 and b"Traceback" not in result.stderr
    reason = "cannot be read or written (bad file descriptor)"
    assert json.loads(result.stdout) == {"error": {"reason": reason, "kind": "os"}}
    assert text.returncode == 1 and text.stderr == f"error: {reason}\n".encode()


def test_decode_json_errors_are_json_and_pipes_close_quietly() -> None:
    result = _run("decode", "--json", "C0", "zz")
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert result.returncode == 1 and [set(line) for line in lines] == [{"error"}, {"error"}]
    head = subprocess.run(
        f"{' '.join(cosemnet_command())} decode - | head -c 10",
        shell=True,
        input=b"C001C100030100010800FF0200\n" * 2000,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert b"Traceback" not in head.stderr and head.stderr == b""
