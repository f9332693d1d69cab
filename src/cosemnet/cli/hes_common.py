"""What every ``cosemnet hes`` command shares: key loading, database checks and error reporting.

- :func:`hes_key_options` / :func:`load_hes_keys`: ``--keys FILE`` and the ``COSEMNET_*`` variables
  (cli/keyfile.py, docs/decisions/0092), the old ``--ek``/``--ak``/``--broadcast-key``/``--master-key``
  options, and ``--test-keys`` for the published Green Book test keys, which are never used unless asked
  for (a head-end that silently speaks with well-known keys is a head-end anyone can impersonate).
- :func:`existing_db`: the read-only commands refuse a database that does not exist instead of creating
  an empty one.
- :func:`reported`: a user error is one line (``error: ...`` on stderr, or a JSON object on stdout with
  ``--json``), never a traceback; exit 1 for the world's errors, 2 for usage errors.
"""

from __future__ import annotations

import functools
import os
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from cosemnet.cli.keyfile import KeyFileError, KeyMaterial, keys_option, resolve_keys
from cosemnet.cli.logs import register_secrets
from cosemnet.cli.params import EXIT_PARTIAL, EXIT_USAGE, Endpoint, report_error, user_errors
from cosemnet.headend import DerivedKeyStore, KeyStore, StaticKeyStore
from cosemnet.headend.keys import TEST_AK, TEST_BROADCAST_KEY, TEST_EK
from cosemnet.profiles.mesh import ThrottleConfig

__all__ = [
    "existing_db",
    "hes_key_options",
    "load_hes_keys",
    "reported",
    "throttle_config",
    "throttle_options",
]

MASTER_KEY_ENV = "COSEMNET_MASTER_KEY"


def _hex_option(text: str | None, what: str, sizes: tuple[int, ...] = (16,)) -> bytes | None:
    if text is None:
        return None
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raw = b""
    if len(raw) not in sizes:
        raise click.BadParameter(f"{what} must be {' or '.join(str(2 * s) for s in sizes)} hex digits")
    return raw


def hes_key_options(f: Any) -> Any:
    """``--keys FILE``, ``--test-keys`` and the per-key options, passed as ``key_file``, ``test_keys``,
    ``ek``, ``ak``, ``broadcast_key`` and ``master_key`` (give them all to :func:`load_hes_keys`)."""
    options = [
        keys_option,
        click.option(
            "--test-keys",
            is_flag=True,
            help="LAB ONLY: use the published Green Book test keys for the keys not given otherwise.",
        ),
        click.option("--ek", help="GUEK of every meter, 32 hex digits (prefer --keys or COSEMNET_EK)."),
        click.option("--ak", help="AK of every meter, 32 hex digits (prefer --keys or COSEMNET_AK)."),
        click.option("--broadcast-key", help="Broadcast key, 32 hex digits (or broadcast_key in --keys)."),
        click.option(
            "--master-key",
            envvar=MASTER_KEY_ENV,
            help=f"Derive per-meter keys from this master key (hex; see 0027) [env: {MASTER_KEY_ENV}].",
        ),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def load_hes_keys(
    key_file: Path | None,
    test_keys: bool,
    ek: str | None,
    ak: str | None,
    broadcast_key: str | None,
    master_key: str | None,
    *,
    needs_broadcast: bool = True,
) -> KeyStore:
    """The key store of a ``hes`` command: options, then ``COSEMNET_*``, then the key file; the test keys
    only with ``test_keys``. ``click.UsageError`` (exit 2, one line) when a key is missing or wrong.

    ``needs_broadcast`` False: the command sends no group request, so a missing broadcast key is
    replaced by a random one that is never used.
    """
    overrides = KeyMaterial(
        ek=_hex_option(ek, "--ek"),
        ak=_hex_option(ak, "--ak"),
        broadcast_key=_hex_option(broadcast_key, "--broadcast-key"),
    )
    master = _hex_option(master_key, "--master-key", tuple(range(16, 65)))
    try:
        material = resolve_keys(key_file, overrides)
    except KeyFileError as exc:
        raise click.UsageError(str(exc)) from None
    except OSError as exc:
        raise click.UsageError(f"--keys: {exc.strerror or exc}: {key_file}") from None
    register_secrets(*material.secrets(), *([master] if master else []))
    gbek = material.broadcast_key or (TEST_BROADCAST_KEY if test_keys else None)
    if gbek is None:
        if needs_broadcast:
            raise _missing("the broadcast key (broadcast_key)")
        gbek = os.urandom(16)
    try:
        if master is not None:
            return DerivedKeyStore(master, gbek)
        unicast_ek = material.ek or (TEST_EK if test_keys else None)
        unicast_ak = material.ak or (TEST_AK if test_keys else None)
        if unicast_ek is None or unicast_ak is None:
            raise _missing("the meters' keys (ek and ak, or --master-key)")
        return StaticKeyStore(unicast_ek, unicast_ak, gbek)
    except ValueError as exc:
        raise click.UsageError(f"unusable key: {exc}") from None


class NoKeysError(click.ClickException):
    """No keys for a ``hes`` command: one line, exit 2 (a usage error)."""

    exit_code = EXIT_USAGE


def _missing(what: str) -> NoKeysError:
    return NoKeysError(
        f"no keys: give {what} with --keys FILE or COSEMNET_* variables "
        "(or --test-keys for the published test keys, lab use only)"
    )


def existing_db(db: str) -> None:
    """ClickException when the SQLite file ``db`` does not exist (read-only use must not create it)."""
    if "://" not in db and not Path(db).exists():
        raise click.ClickException(f"{db}: no such database")


def reported(function: Callable[..., Any]) -> Callable[..., Any]:
    """Decorator for a ``hes`` command: user errors as one line, or as JSON with ``--json``.

    ClickException -> its message and exit code (JSON on stdout with ``as_json``); usage errors keep
    click's text (exit 2) unless ``as_json``; OSError and SQLite errors -> one line, exit 1.
    """

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        as_json = bool(kwargs.get("as_json"))
        with user_errors(as_json=as_json):
            try:
                return function(*args, **kwargs)
            except click.UsageError as exc:
                if not as_json:
                    raise
                report_error(exc.format_message(), True, "usage")
                sys.exit(EXIT_USAGE)
            except click.ClickException as exc:
                report_error(exc.format_message(), as_json)
                sys.exit(exc.exit_code)
            except sqlite3.Error as exc:
                db = str(kwargs.get("db"))
                why = "no such directory" if "://" not in db and not Path(db).parent.is_dir() else str(exc)
                report_error(f"{db}: {why}", as_json, "database")
                sys.exit(EXIT_PARTIAL)

    return wrapper


def throttle_options(f: Any) -> Any:
    options = [
        click.option("--max-in-flight", default=64, show_default=True, help="Requests in flight overall."),
        click.option(
            "--max-per-prefix", default=4, show_default=True, help="... per /64 prefix (AIMD ceiling)."
        ),
        click.option(
            "--max-per-router", default=8, show_default=True, help="... per border router (AIMD ceiling)."
        ),
        click.option(
            "--timeout", default=30.0, show_default=True, help="Seconds per attempt (--fixed-timers)."
        ),
        click.option("--retries", default=8, show_default=True, help="Retries after a timeout."),
        click.option(
            "--rto-min", default=0.005, show_default=True, help="Lower bound of the learned timeout (s)."
        ),
        click.option(
            "--rto-max", default=60.0, show_default=True, help="Upper bound of the learned timeout (s)."
        ),
        click.option(
            "--rto-initial", default=1.0, show_default=True, help="Timeout before the first round trip (s)."
        ),
        click.option(
            "--fixed-timers",
            is_flag=True,
            help="Fixed timeout and back-off, fixed limits (decision 0025) instead of learned timers and "
            "AIMD concurrency (decision 0080).",
        ),
        click.option(
            "--listen-first",
            default=0.0,
            show_default=True,
            help="Seconds to gather registrations before starting.",
        ),
        click.option(
            "--gateway",
            type=Endpoint(default_port=None),
            help="Fleet simulator multicast gateway HOST:PORT or [IPv6]:PORT (loopback tests).",
        ),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def throttle_config(
    max_in_flight: int,
    max_per_prefix: int,
    max_per_router: int,
    timeout: float,
    retries: int,
    rto_min: float,
    rto_max: float,
    rto_initial: float,
    fixed_timers: bool,
) -> ThrottleConfig:
    try:
        return ThrottleConfig(
            max_in_flight=max_in_flight,
            max_per_border_router=max_per_router,
            max_per_prefix=max_per_prefix,
            timeout=timeout,
            max_retries=retries,
            adaptive=not fixed_timers,
            rto_min=rto_min,
            rto_max=rto_max,
            rto_initial=max(rto_min, min(rto_initial, rto_max)),
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
