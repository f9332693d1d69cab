"""One grammar for every command: click parameter types, exit codes, and user errors without tracebacks.

- :class:`Endpoint`: ``HOST``, ``HOST:PORT``, ``[IPv6]``, ``[IPv6]:PORT`` and a bare IPv6 address
  (``::1``, which is a host); ``::1:49059`` is refused with "write [::1]:49059" (see
  docs/decisions/0066-cli-grammar-and-exit-codes.md for the ambiguity rule).
- :class:`AttributeSpec`: ``OBIS``, ``OBIS:ATTR`` and ``CLASS/OBIS/ATTR`` (CLASS a number or a class name
  such as ``Register``); the class is None when not given, for the command to look it up.
- Exit codes :data:`EXIT_OK` 0, :data:`EXIT_PARTIAL` 1, :data:`EXIT_USAGE` 2, :data:`EXIT_INTERRUPTED`
  130, :func:`exit_code` and :class:`Outcome` (what a batch command did, and its status).
- :func:`user_errors`: a context manager and decorator turning OSError (bad path, permission, port in
  use, DNS, refused, timeout) into one ``error:`` line and exit 1, and KeyboardInterrupt into exit 130;
  in JSON mode the error is a JSON object on stdout.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import ipaddress
import json
import os
import socket
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Final, ParamSpec, TypeVar

import click

from cosemnet.codec.class_ids import CLASS_NAMES
from cosemnet.codec.obis import Obis
from cosemnet.errors import CosemnetError

EXIT_OK: Final = 0
"""Everything asked for was done."""
EXIT_PARTIAL: Final = 1
"""Something failed (a meter, a message, a file); the summary names what."""
EXIT_USAGE: Final = 2
"""The command line is wrong (click's own status for usage errors)."""
EXIT_INTERRUPTED: Final = 130
"""Interrupted (SIGINT, Ctrl-C): 128 + 2 as shells report it."""

DEFAULT_PORT: Final = 4059
"""IEC 62056-9-7 DLMS/COSEM port."""


# --------------------------------------------------------------------------------------------------
# Endpoints


@dataclass(frozen=True, slots=True)
class EndpointValue:
    """A host (name, IPv4 or IPv6 address without brackets) and a port."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def address(self) -> tuple[str, int]:
        """``(host, port)`` as asyncio and socket calls take it."""
        return self.host, self.port


def _is_ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text.split("%", 1)[0])
    except ValueError:
        return False
    return True


def parse_endpoint(
    text: str, default_port: int | None = DEFAULT_PORT, allow_port_zero: bool = False
) -> EndpointValue:
    """Parse one endpoint; ValueError with a message for people (see :class:`Endpoint`)."""
    text = text.strip()
    if not text:
        raise ValueError("empty address")
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ValueError(f"{text!r}: missing ']'")
        host, rest = text[1:end], text[end + 1 :]
        if not _is_ipv6(host):
            raise ValueError(f"{text!r}: {host!r} between brackets is not an IPv6 address")
        if rest and not rest.startswith(":"):
            raise ValueError(f"{text!r}: expected ':PORT' after ']'")
        return _with_port(host, rest[1:] if rest else None, text, default_port, allow_port_zero)
    if text.count(":") == 0:
        return _with_port(text, None, text, default_port, allow_port_zero)
    if text.count(":") == 1:
        host, port = text.split(":")
        if not host:
            raise ValueError(f"{text!r}: missing host before ':'")
        return _with_port(host, port, text, default_port, allow_port_zero)
    head, _, tail = text.rpartition(":")
    if tail.isdigit() and _is_ipv6(head):
        # "::1:49059", "fe80::1:2": ADDRESS:PORT or a bare address ending in a decimal-looking group
        if not _is_ipv6(text):
            raise ValueError(f"{text!r} is not an IPv6 address; for port {tail} write [{head}]:{tail}")
        raise ValueError(
            f"{text!r} is ambiguous: write [{head}]:{tail} for port {tail}, "
            f"or [{text}] for the address {text}"
        )
    if not _is_ipv6(text):
        raise ValueError(f"{text!r} is not HOST[:PORT] or an IPv6 address (write [IPv6]:PORT)")
    return _with_port(text, None, text, default_port, allow_port_zero)


def _with_port(
    host: str, port: str | None, text: str, default_port: int | None, allow_port_zero: bool
) -> EndpointValue:
    if port is None:
        if default_port is None:
            raise ValueError(f"{text!r}: a port is needed (HOST:PORT or [IPv6]:PORT)")
        return EndpointValue(host, default_port)
    lowest = 0 if allow_port_zero else 1
    if not port.isdigit() or not lowest <= int(port) <= 65535:
        raise ValueError(f"{text!r}: the port must be a number {lowest}..65535")
    return EndpointValue(host, int(port))


class Endpoint(click.ParamType):  # type: ignore[type-arg]  # generic only from click 8.2
    """``HOST[:PORT]`` / ``[IPv6]:PORT`` / bare IPv6 -> :class:`EndpointValue`.

    ``default_port`` None makes the port mandatory; ``allow_port_zero`` accepts port 0 (bind to any free
    port).
    """

    name = "host[:port]"

    def __init__(self, default_port: int | None = DEFAULT_PORT, allow_port_zero: bool = False) -> None:
        self.default_port = default_port
        self.allow_port_zero = allow_port_zero

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> EndpointValue:
        if isinstance(value, EndpointValue):
            return value
        try:
            return parse_endpoint(str(value), self.default_port, self.allow_port_zero)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


# --------------------------------------------------------------------------------------------------
# Attributes


def _class_key(name: str) -> str:
    return name.strip().lower().replace(" ", "_").replace("-", "_")


_CLASS_IDS: Final = {_class_key(name): cid for cid, name in CLASS_NAMES.items()}


@dataclass(frozen=True, slots=True)
class AttributeSpecValue:
    """A COSEM attribute as written on the command line; ``class_id`` None when not given."""

    class_id: int | None
    logical_name: Obis
    attribute_id: int

    def __str__(self) -> str:
        text = f"{self.logical_name}"
        if self.class_id is None:
            return f"{text}:{self.attribute_id}"
        return f"{self.class_id}/{text}/{self.attribute_id}"


def _class_id(text: str) -> int:
    if text.isdigit():
        value = int(text)
        if value > 0xFFFF:
            raise ValueError(f"class id {value} is not 0..65535")
        return value
    key = _class_key(text)
    if key in _CLASS_IDS:
        return _CLASS_IDS[key]
    raise ValueError(f"{text!r} is not a class id (a number, or a class name such as Register)")


def _attribute_id(text: str) -> int:
    if not text.lstrip("-").isdigit() or not -128 <= int(text) <= 127:
        raise ValueError(f"attribute {text!r} is not a number -128..127")
    return int(text)


def _obis(text: str) -> Obis:
    try:
        return Obis.parse(text)
    except CosemnetError as exc:
        raise ValueError(str(exc)) from None


def parse_attribute_spec(text: str, default_attribute: int = 2) -> AttributeSpecValue:
    """``OBIS``, ``OBIS:ATTR`` or ``CLASS/OBIS/ATTR`` (ValueError with a message for people)."""
    text = text.strip()
    if "/" in text:
        parts = text.split("/")
        if len(parts) != 3:
            raise ValueError(f"{text!r}: expected CLASS/OBIS/ATTR, OBIS:ATTR or OBIS")
        return AttributeSpecValue(_class_id(parts[0]), _obis(parts[1]), _attribute_id(parts[2]))
    head, sep, tail = text.rpartition(":")
    # A-B:C.D.E*F has a colon of its own: ":ATTR" is the last colon only when what precedes it is an OBIS.
    if sep and tail.lstrip("-").isdigit():
        with contextlib.suppress(ValueError):
            return AttributeSpecValue(None, _obis(head), _attribute_id(tail))
    return AttributeSpecValue(None, _obis(text), default_attribute)


class AttributeSpec(click.ParamType):  # type: ignore[type-arg]
    """``OBIS[:ATTR]`` or ``CLASS/OBIS/ATTR`` -> :class:`AttributeSpecValue` (class None when absent)."""

    name = "obis[:attr]|class/obis/attr"

    def __init__(self, default_attribute: int = 2) -> None:
        self.default_attribute = default_attribute

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> AttributeSpecValue:
        if isinstance(value, AttributeSpecValue):
            return value
        try:
            return parse_attribute_spec(str(value), self.default_attribute)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


# --------------------------------------------------------------------------------------------------
# Exit codes


def exit_code(total: int, failed: int, interrupted: bool = False) -> int:
    """130 when interrupted, 1 when anything of ``total`` failed, else 0 (nothing to do is success)."""
    if interrupted:
        return EXIT_INTERRUPTED
    return EXIT_PARTIAL if failed else EXIT_OK


@dataclass(slots=True)
class Outcome:
    """What a command did with each of its items (meters, messages, files): its summary and status."""

    done: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    """Item -> why it failed."""
    interrupted: bool = False

    def ok(self, item: str) -> None:
        self.done.append(item)

    def fail(self, item: str, reason: str) -> None:
        self.failed[item] = reason

    @property
    def status(self) -> int:
        return exit_code(len(self.done) + len(self.failed), len(self.failed), self.interrupted)

    def summary(self, limit: int = 10) -> str:
        """``"3 done, 2 failed: m1 (timeout), m2 (refused)"``; the failures named (``limit`` of them)."""
        text = f"{len(self.done)} done, {len(self.failed)} failed"
        if self.failed:
            named = [f"{item} ({reason})" for item, reason in list(self.failed.items())[:limit]]
            more = len(self.failed) - limit
            text += ": " + ", ".join(named) + (f" and {more} more" if more > 0 else "")
        if self.interrupted:
            text += " (interrupted)"
        return text

    def as_json(self) -> dict[str, object]:
        return {
            "done": len(self.done),
            "failed": [{"item": item, "reason": reason} for item, reason in self.failed.items()],
            "interrupted": self.interrupted,
        }


# --------------------------------------------------------------------------------------------------
# User errors

_ERRNO_TEXT: Final = {
    errno.EADDRINUSE: "address already in use",
    errno.EADDRNOTAVAIL: "address not available on this machine",
    errno.ECONNREFUSED: "connection refused",
    errno.ECONNRESET: "connection reset by peer",
    errno.EHOSTUNREACH: "host unreachable",
    errno.ENETUNREACH: "network unreachable",
    errno.ETIMEDOUT: "timed out",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.ENOENT: "no such file or directory",
    errno.EISDIR: "is a directory",
    errno.EBADF: "cannot be read or written (bad file descriptor)",
    errno.ENOTDIR: "not a directory",
    errno.ENOSPC: "no space left on device",
    errno.EROFS: "read-only file system",
}


def describe_os_error(exc: OSError) -> str:
    """One line for people: what failed and why, naming the path when there is one."""
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve the host name: {exc.strerror or exc}"
    if isinstance(exc, TimeoutError) and exc.errno is None:
        return "timed out"
    reason = _ERRNO_TEXT.get(exc.errno or -1) or exc.strerror or str(exc) or type(exc).__name__
    if exc.filename is not None:
        where = f"{exc.filename}"
        if exc.filename2 is not None:
            where += f" -> {exc.filename2}"
        return f"{where}: {reason}"
    return reason


def report_error(message: str, as_json: bool = False, kind: str = "error") -> None:
    """``error: message`` on stderr, or ``{"error": {"reason", "kind"}}`` on stdout in JSON mode."""
    if as_json:
        sys.stdout.write(json.dumps({"error": {"reason": message, "kind": kind}}) + "\n")
        sys.stdout.flush()
    else:
        with contextlib.suppress(OSError):
            sys.stdout.flush()
        click.echo(f"error: {message}", err=True)


P = ParamSpec("P")
R = TypeVar("R")


class user_errors(contextlib.ContextDecorator):
    """Ends the command with one line instead of a traceback for errors that are the user's or the world's.

    - OSError (file not found, permission, port in use, DNS failure, connection refused, timeout):
      ``error: <what>: <why>`` (stderr, or JSON on stdout when ``as_json``) and exit 1;
    - BrokenPipeError (stdout closed by the reader, as with ``| head``): exit 1 silently;
    - KeyboardInterrupt: ``interrupted`` on stderr and exit 130 (``on_interrupt`` runs first, e.g. to
      print the summary of what was done and close the CSV written so far).
    click's own exceptions (usage errors, ``sys.exit``) pass through unchanged.
    """

    def __init__(
        self,
        as_json: bool = False,
        context: str | None = None,
        on_interrupt: Callable[[], None] | None = None,
    ) -> None:
        self.as_json = as_json
        self.context = context
        self.on_interrupt = on_interrupt

    def __enter__(self) -> user_errors:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if exc is None:
            return
        if isinstance(exc, KeyboardInterrupt):
            if self.on_interrupt is not None:
                self.on_interrupt()
            click.echo("interrupted", err=True)
            sys.exit(EXIT_INTERRUPTED)
        if isinstance(exc, BrokenPipeError):  # the reader went away (``| head``): nothing more to say
            with contextlib.suppress(OSError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(EXIT_PARTIAL)
        if isinstance(exc, OSError) and not isinstance(exc, click.exceptions.ClickException):
            text = describe_os_error(exc)
            report_error(f"{self.context}: {text}" if self.context else text, self.as_json, "os")
            sys.exit(EXIT_PARTIAL)


def no_traceback(func: Callable[P, R]) -> Callable[P, R]:
    """Decorator form of :class:`user_errors` with its defaults (text errors)."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with user_errors():
            return func(*args, **kwargs)

    return wrapper


@contextlib.contextmanager
def interrupted_exit(outcome: Outcome) -> Iterator[Outcome]:
    """Marks ``outcome`` interrupted on Ctrl-C (then exit 130 through :class:`user_errors`)."""
    try:
        yield outcome
    except KeyboardInterrupt:
        outcome.interrupted = True
        raise


__all__ = [
    "DEFAULT_PORT",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_PARTIAL",
    "EXIT_USAGE",
    "AttributeSpec",
    "AttributeSpecValue",
    "Endpoint",
    "EndpointValue",
    "Outcome",
    "describe_os_error",
    "exit_code",
    "interrupted_exit",
    "no_traceback",
    "parse_attribute_spec",
    "parse_endpoint",
    "report_error",
    "user_errors",
]
