"""``cosemnet read``, ``cosemnet objects``, ``cosemnet profile``: read a meter over the 4-7 wrapper.

Exit status: 0 on success, 1 when the meter could not be read (timeout, rejected association, access
denied, protocol or security failure: one line ``error: ...`` on stderr), 2 for usage errors.

Invocation counters: a command that ciphers (``--ciphering``, ``--auth hls-gmac``) takes its counter
from ``STATE/client-counters/<client system title>-k<key fingerprint>.ic`` (STATE:
``--state-dir``, else ``$XDG_STATE_HOME/cosemnet``, else ``~/.local/state/cosemnet``), so no run
reuses a counter of an earlier one; the key itself never appears in the name. ``--no-state`` keeps it
in memory (starting at ``--invocation-counter`` or 1) and warns. See docs/decisions/0033.
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import click
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, SpinnerColumn, TextColumn
from rich.table import Table

from cosemnet.cli.lon_read import LonCnipClient, lon_client_factory
from cosemnet.client.blocking import Client
from cosemnet.client.connection import ClientConfig, Referencing
from cosemnet.client.errors import AccessError, AssociationRejected, ClientError
from cosemnet.client.objects import SCALED_CLASS_IDS, ScaledValue, parse_scaler_unit, scaler_unit_attribute
from cosemnet.codec.datetime import CosemDateTime
from cosemnet.codec.jsonform import JsonFormError, data_to_json, parse_hex
from cosemnet.codec.obis import Obis, obis_name
from cosemnet.codec.types import DataValue
from cosemnet.errors import CosemnetError
from cosemnet.security.counters import (
    CounterSource,
    FileCounterStore,
    MemoryInvocationCounter,
    SharedFileCounter,
    counter_name,
    key_fingerprint,
    user_state_dir,
)
from cosemnet.security.errors import CounterStoreError
from cosemnet.security.hls import Mechanism
from cosemnet.security.keys import KeySet

__all__ = ["objects_command", "parse_host", "parse_target", "profile_command", "read_command"]

DEFAULT_PORT = 4059

AUTH_CHOICES: dict[str, Mechanism] = {
    "none": Mechanism.NONE,
    "lls": Mechanism.LLS,
    "hls-md5": Mechanism.HLS_MD5,
    "hls-sha1": Mechanism.HLS_SHA1,
    "hls-gmac": Mechanism.HLS_GMAC,
    "hls-sha256": Mechanism.HLS_SHA256,
}

CIPHERING_CHOICES = ("none", "general-glo", "general-ded", "service-specific-glo", "service-specific-ded")


def parse_host(text: str) -> tuple[str, int]:
    """``host``, ``host:port``, ``[v6]``, ``[v6]:port`` or a bare IPv6 address -> (host, port)."""
    text = text.strip()
    if not text:
        raise click.BadParameter("empty host")
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise click.BadParameter(f"{text!r}: missing ']'")
        host, rest = text[1:end], text[end + 1 :]
        if not rest:
            return host, DEFAULT_PORT
        if not rest.startswith(":"):
            raise click.BadParameter(f"{text!r}: expected ':PORT' after ']'")
        return host, _port(rest[1:], text)
    if text.count(":") == 1:
        host, port = text.split(":")
        return host, _port(port, text)
    return text, DEFAULT_PORT  # a name, IPv4, or a bare IPv6 address


def _port(value: str, text: str) -> int:
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise click.BadParameter(f"{text!r}: port must be 1..65535")
    return int(value)


def parse_target(text: str) -> tuple[Obis, int | None]:
    """``OBIS`` or ``OBIS:ATTR`` (OBIS in any form :meth:`Obis.parse` accepts)."""
    obis_text, attribute = text, None
    head, sep, tail = text.rpartition(":")
    if (sep and tail.isdigit() and "-" in head) or (
        sep and tail.isdigit() and "-" not in text
    ):  # A-B:C.D.E*F:ATTR
        obis_text, attribute = head, int(tail)
    try:
        return Obis.parse(obis_text), attribute
    except CosemnetError as exc:
        raise click.BadParameter(str(exc)) from None


def _hex(
    what: str, sizes: tuple[int, ...]
) -> Callable[[click.Context, click.Parameter, str | None], bytes | None]:
    def convert(ctx: click.Context, param: click.Parameter, value: str | None) -> bytes | None:
        if value is None:
            return None
        try:
            raw = parse_hex(value)
        except JsonFormError:
            raise click.BadParameter(f"{what} must be hex digits") from None
        if len(raw) not in sizes:
            raise click.BadParameter(f"{what} must be {' or '.join(map(str, sizes))} bytes, not {len(raw)}")
        return raw

    return convert


@dataclass(slots=True)
class Connection:
    host: str
    port: int
    config: ClientConfig
    transport: str
    timeout: float
    retries: int

    def client(self) -> Client:
        return Client(
            self.host,
            self.port,
            self.config,
            transport="udp" if self.transport == "udp" else "tcp",
            timeout=self.timeout,
            retries=self.retries,
        )


def connection_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """The options shared by the three commands."""
    options = [
        click.option("--client-sap", type=click.IntRange(0, 0xFFFF), default=16, show_default=True,
                     help="Client wPort (16 public, 1 management)."),
        click.option("--server-sap", type=click.IntRange(0, 0xFFFF), default=1, show_default=True,
                     help="Server wPort (logical device)."),
        click.option("--sn", "short_names", is_flag=True, help="Short-name referencing."),
        click.option("--auth", type=click.Choice(list(AUTH_CHOICES)), default="none", show_default=True),
        click.option("--password", help="LLS password or HLS secret (text; see --password-hex)."),
        click.option("--password-hex", help="LLS password or HLS secret as hex."),
        click.option("--ek", callback=_hex("the encryption key", (16, 32)), help="Global unicast key (hex)"),
        click.option("--ak", callback=_hex("the authentication key", (16, 32)), help="Authentication key"),
        click.option("--system-title", callback=_hex("a system title", (8,)), help="Client system title"),
        click.option("--ciphering", type=click.Choice(CIPHERING_CHOICES), default=None,
                     help="Protection of requests [default: none]."),
        click.option("--invocation-counter", type=click.IntRange(0, 0xFFFFFFFE), default=None,
                     help="Lowest invocation counter to use (default: the next one of the counter file, "
                     "else 1)."),
        click.option("--state-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
                     help="Where the invocation counters live [default: $XDG_STATE_HOME/cosemnet, "
                     "else ~/.local/state/cosemnet]."),
        click.option("--no-state", is_flag=True,
                     help="Keep the invocation counter in memory only (reuses counters of earlier runs)."),
        click.option("--transport", type=click.Choice(["tcp", "udp"]), default="tcp", show_default=True),
        click.option("--timeout", type=click.FloatRange(0.01), default=10.0, show_default=True,
                     help="Seconds to wait for each answer."),
        click.option("--retries", type=click.IntRange(0, 20), default=2, show_default=True,
                     help="UDP only: times a request is sent again."),
    ]  # fmt: skip
    for option in reversed(options):
        function = option(function)
    return function


def _connection(host: str, kwargs: dict[str, Any]) -> Connection:
    name, port = parse_host(host)
    mechanism = AUTH_CHOICES[kwargs.pop("auth")]
    password_text = kwargs.pop("password")
    password_hex = kwargs.pop("password_hex")
    secret: bytes | None = None
    if password_text is not None and password_hex is not None:
        raise click.UsageError("give --password or --password-hex, not both")
    if password_text is not None:
        secret = password_text.encode()
    elif password_hex is not None:
        try:
            secret = parse_hex(password_hex)
        except JsonFormError:
            raise click.BadParameter("--password-hex must be hex digits") from None
    if (
        mechanism in (Mechanism.LLS, Mechanism.HLS_MD5, Mechanism.HLS_SHA1, Mechanism.HLS_SHA256)
        and not secret
    ):
        raise click.UsageError(f"--auth {mechanism.name.lower().replace('_', '-')} needs --password")
    ek, ak = kwargs.pop("ek"), kwargs.pop("ak")
    ciphering = kwargs.pop("ciphering")
    if ciphering is None:
        ciphering = "none"
    if (ciphering != "none" or mechanism is Mechanism.HLS_GMAC) and (ek is None or ak is None):
        raise click.UsageError("ciphering and hls-gmac need --ek and --ak")
    counter = kwargs.pop("invocation_counter")
    state_dir, no_state = kwargs.pop("state_dir"), kwargs.pop("no_state")
    if state_dir is not None and no_state:
        raise click.UsageError("give --state-dir or --no-state, not both")
    title = kwargs.pop("system_title")
    config = ClientConfig(
        client_sap=kwargs.pop("client_sap"),
        server_sap=kwargs.pop("server_sap"),
        referencing=Referencing.SN if kwargs.pop("short_names") else Referencing.LN,
        mechanism=mechanism,
        password=secret if mechanism is Mechanism.LLS else None,
        hls_secret=secret if mechanism is not Mechanism.LLS else None,
        keys=KeySet(ek=ek, ak=ak),
        ciphering=ciphering,
        **({"system_title": title} if title is not None else {}),
    )
    if ciphering != "none" or mechanism is Mechanism.HLS_GMAC:
        config.invocation_counter = _client_counter(config, counter, state_dir, no_state)
    return Connection(
        name, port, config, kwargs.pop("transport"), kwargs.pop("timeout"), kwargs.pop("retries")
    )


def _client_counter(
    config: ClientConfig, start: int | None, state_dir: Path | None, no_state: bool
) -> CounterSource:
    """The client's invocation counter: persisted per (client system title, key) unless --no-state."""
    if no_state:
        click.echo(
            "warning: --no-state: the invocation counter starts again at "
            f"{start if start is not None else 1}; a meter refuses counters it has seen, and reusing "
            "one under the same key breaks AES-GCM",
            err=True,
        )
        return MemoryInvocationCounter(start if start is not None else 1)
    ek = config.keys.ek
    assert ek is not None  # checked by the caller (ciphering and hls-gmac need --ek)
    directory = (state_dir if state_dir is not None else user_state_dir()) / "client-counters"
    try:
        store = FileCounterStore(directory, lock=False)
    except (OSError, CounterStoreError) as exc:
        raise click.ClickException(f"cannot use the counter directory {directory}: {exc}") from None
    name = counter_name(config.system_title, "k" + key_fingerprint(ek))
    return SharedFileCounter(store, name, start=start if start is not None else 1)


def fail(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def _run(action: Callable[[], None]) -> None:
    try:
        action()
    except AssociationRejected as exc:
        fail(str(exc))
    except AccessError as exc:
        fail(f"access denied: {exc}" if "denied" in str(exc) else str(exc))
    except ClientError as exc:
        fail(str(exc))
    except CosemnetError as exc:
        fail(str(exc))


# --------------------------------------------------------------------------------------------------
# Formatting


def type_name(value: DataValue) -> str:
    return next(iter(data_to_json(value)))


def value_text(value: object) -> str:
    """A short human form of a Data value."""
    if isinstance(value, CosemDateTime):
        return str(value)
    if isinstance(value, bytes):
        if len(value) == 12:
            try:
                return f"{CosemDateTime.from_bytes(value)}"
            except CosemnetError:
                pass
        if value and all(32 <= b < 127 for b in value):
            return f"{value.hex().upper()} ({value.decode('ascii')!r})"
        return value.hex().upper()
    if isinstance(value, tuple):
        return "{" + ", ".join(value_text(v) for v in value) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(value_text(v) for v in value) + "]"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        return str(float(value))
    return str(value)


def json_cell(value: object) -> object:
    """A plain JSON value for scripts (date-times as ISO text when possible)."""
    if isinstance(value, CosemDateTime):
        try:
            return value.to_datetime().isoformat()
        except CosemnetError:
            return str(value)
    if isinstance(value, bytes):
        return value.hex().upper()
    if isinstance(value, tuple | list):
        return [json_cell(v) for v in value]
    if isinstance(value, bool | int | float | str) or value is None:
        return value if not isinstance(value, int) or isinstance(value, bool) else int(value)
    return str(value)


# --------------------------------------------------------------------------------------------------
# read

READ_EPILOG = """\b
Examples:
  cosemnet read 192.0.2.10 1-0:1.8.0*255 --class-id 3          energy register, scaled, with unit
  cosemnet read [2001:db8::1]:4059 0-0:1.0.0*255:2 --class-id 8 --json
  cosemnet read meter 0-0:42.0.0*255 --client-sap 1 --auth hls-gmac --ek KEY --ak KEY
  cosemnet read --profile lon 127.0.0.1:40001 --lon-node 1/2 --lon-local 127.0.0.1:40000 \\
      1-0:1.8.0*255 --class-id 3                       a meter of "cosemnet sim lon --channel cnip"
\b
ATTR defaults to 2 (the value). For registers (class 3, 4, 5) reading the value (attribute 2; for
demand registers also 3) also reads the scaler_unit and prints the scaled value with its unit.
"""


@click.command("read", epilog=READ_EPILOG)
@click.argument("host")
@click.argument("target")
@click.option("--class-id", type=click.IntRange(0, 0xFFFF), default=1, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout.")
@click.option(
    "--profile",
    type=click.Choice(["dlms", "lon"]),
    default="dlms",
    show_default=True,
    help="dlms: IEC 62056-4-7 wrapper over TCP/UDP; lon: IEC 62056-8-8 over ISO/IEC 14908-4 CN/IP (UDP), "
    "HOST[:PORT] being the meter's CN/IP address (port 1628 by default).",
)
@click.option("--lon-node", metavar="SUBNET/NODE", help="--profile lon: the meter's 14908-1 subnet/node.")
@click.option(
    "--lon-local", metavar="HOST:PORT", help="--profile lon: the local UDP address the meter sends to."
)
@click.option(
    "--lon-domain", default="4C", show_default=True, metavar="HEX", help="--profile lon: domain ID."
)
@click.option(
    "--key-file",
    type=click.Path(dir_okay=False),
    default=None,
    help="--profile lon: the concentrator's OSGP key file (mode 0600, as `sim lon --key-file` writes): open "
    "an OSGP-AES-128-PSK secure channel and read over the protected management association (client SAP 1).",
)
@connection_options
def read_command(
    host: str,
    target: str,
    class_id: int,
    as_json: bool,
    profile: str,
    lon_node: str | None,
    lon_local: str | None,
    lon_domain: str,
    key_file: str | None,
    **kwargs: Any,
) -> None:
    """Read one attribute: HOST[:PORT] OBIS[:ATTR]."""
    conn = _connection(host, kwargs)
    obis, attribute = parse_target(target)
    attribute_id = attribute if attribute is not None else 2
    open_client: Callable[[], Client | LonCnipClient] = conn.client
    if profile == "lon":
        peer = (conn.host, conn.port)
        open_client = lon_client_factory(
            host, peer, conn.config, conn.timeout, lon_node, lon_local, lon_domain, key_file
        )
    elif key_file is not None:
        raise click.BadParameter("needs --profile lon", param_hint="--key-file")

    def action() -> None:
        scaled: ScaledValue | None = None
        with open_client() as client:
            value = client.get_attribute(class_id, obis, attribute_id)
            if class_id in SCALED_CLASS_IDS and attribute_id in ((2, 3) if class_id == 5 else (2,)):
                try:
                    scaler_unit = client.get_attribute(class_id, obis, scaler_unit_attribute(class_id))
                    scaled = ScaledValue(value, *_scaler_unit(scaler_unit))
                except AccessError:
                    scaled = None
        if as_json:
            out: dict[str, object] = {
                "obis": str(obis),
                "class_id": class_id,
                "attribute": attribute_id,
                "type": type_name(value),
                "value": json_cell(value),
                "data": data_to_json(value),
            }
            if scaled is not None:
                out.update(scaler=scaled.scaler, unit=scaled.unit, unit_symbol=scaled.unit_symbol)
                out["scaled_value"] = json_cell(scaled.value)
            click.echo(json.dumps(out))
            return
        if scaled is not None:
            click.echo(f"{scaled}  ({type_name(value)} {value_text(value)}, scaler {scaled.scaler})")
        else:
            click.echo(f"{value_text(value)}  ({type_name(value)})")

    _run(action)


def _scaler_unit(value: DataValue) -> tuple[int, int]:
    return parse_scaler_unit(value)


# --------------------------------------------------------------------------------------------------
# objects


@click.command("objects")
@click.argument("host")
@click.option("--json", "as_json", is_flag=True, help="A JSON array on stdout.")
@connection_options
def objects_command(host: str, as_json: bool, **kwargs: Any) -> None:
    """The association view of HOST[:PORT]: class, OBIS, name, version, access rights."""
    conn = _connection(host, kwargs)

    def action() -> None:
        with conn.client() as client:
            objects = client.object_list()
        if as_json:
            click.echo(
                json.dumps(
                    [
                        {
                            "class_id": o.class_id,
                            "class": o.class_name,
                            "obis": str(o.logical_name),
                            "name": o.name,
                            "version": o.version,
                            "base_name": o.base_name,
                            "access": o.access_summary(),
                        }
                        for o in objects
                    ]
                )
            )
            return
        table = Table(title=f"{len(objects)} objects")
        for column in ("class", "OBIS", "name", "version", "access"):
            table.add_column(column)
        for o in objects:
            access = o.access_summary() if o.base_name is None else f"base name 0x{o.base_name:04X}"
            table.add_row(f"{o.class_id} {o.class_name}", str(o.logical_name), o.name, str(o.version), access)
        Console(width=None if sys.stdout.isatty() else 140).print(table)

    _run(action)


# --------------------------------------------------------------------------------------------------
# profile


def _iso(value: str | None, what: str) -> _dt.datetime | None:
    if value is None:
        return None
    try:
        parsed = _dt.datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{what}: not an ISO date-time: {value!r}") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=_dt.UTC)


@click.command("profile")
@click.argument("host")
@click.argument("obis")
@click.option("--from", "start", help="ISO date-time (UTC unless it has an offset): range start.")
@click.option("--to", "end", help="ISO date-time: range end (default now).")
@click.option("--csv", "csv_file", type=click.Path(dir_okay=False, allow_dash=True), help="Write CSV here.")
@click.option("--json", "as_json", is_flag=True, help="A JSON array of rows on stdout.")
@connection_options
def profile_command(
    host: str,
    obis: str,
    start: str | None,
    end: str | None,
    csv_file: str | None,
    as_json: bool,
    **kwargs: Any,
) -> None:
    """Rows of a profile generic buffer of HOST[:PORT], optionally between --from and --to."""
    conn = _connection(host, kwargs)
    try:
        code = Obis.parse(obis)
    except CosemnetError as exc:
        raise click.BadParameter(str(exc)) from None
    start_dt, end_dt = _iso(start, "--from"), _iso(end, "--to")

    def action() -> None:
        console = Console(stderr=True)
        show = console.is_terminal and not as_json
        with Progress(
            SpinnerColumn(), TextColumn("reading {task.description}"), BarColumn(), DownloadColumn(),
            console=console, transient=True, disable=not show,
        ) as bar:  # fmt: skip
            task = bar.add_task(str(code), total=None)
            with conn.client() as client:
                columns, rows = client.read_profile(
                    code,
                    start=start_dt,
                    end=end_dt if end_dt is not None or start_dt is None else None,
                    progress=lambda n: bar.update(task, completed=n),
                )
        names = [c.name for c in columns]
        if csv_file is not None:
            buffer = io.StringIO()
            writer = csv.writer(buffer)
            writer.writerow(names)
            for row in rows:
                writer.writerow([_csv_cell(row.get(n)) for n in names])
            if csv_file == "-":
                click.echo(buffer.getvalue(), nl=False)
            else:
                with open(csv_file, "w", encoding="utf-8", newline="") as handle:
                    handle.write(buffer.getvalue())
        if as_json:
            click.echo(json.dumps([{k: json_cell(v) for k, v in row.items()} for row in rows]))
        elif csv_file is None:
            table = Table(title=f"{code} ({len(rows)} rows)")
            for c in columns:
                label = c.name
                known = obis_name(bytes(c.definition.logical_name))
                if known:
                    label += f"\n{known}"
                table.add_column(label)
            for row in rows:
                table.add_row(*[value_text(row.get(n)) for n in names])
            Console(width=None if sys.stdout.isatty() else 200).print(table)
        elif csv_file != "-":
            click.echo(f"{len(rows)} rows written to {csv_file}", err=True)

    _run(action)


def _csv_cell(value: object) -> str:
    cell = json_cell(value)
    if isinstance(cell, list):
        return json.dumps(cell)
    return "" if cell is None else str(cell)
