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
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn, TextIO

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, SpinnerColumn, TextColumn
from rich.table import Table

from cosemnet.cli.keyfile import KeyFileError, KeyMaterial, keys_option, resolve_keys
from cosemnet.cli.logs import register_secrets
from cosemnet.cli.lon_read import LonCnipClient, lon_client_factory
from cosemnet.cli.messages import Keys
from cosemnet.cli.observe import Observation, observe_options
from cosemnet.cli.params import (
    EXIT_PARTIAL,
    AttributeSpec,
    AttributeSpecValue,
    Endpoint,
    EndpointValue,
    report_error,
    user_errors,
)
from cosemnet.client.blocking import Client
from cosemnet.client.connection import ClientConfig, Referencing
from cosemnet.client.errors import AccessError, AssociationRejected, ClientError
from cosemnet.client.objects import (
    SCALED_CLASS_IDS,
    Column,
    ScaledValue,
    parse_object_list,
    parse_scaler_unit,
    scaler_unit_attribute,
    unit_symbol,
)
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
from cosemnet.trace import FrameObserver

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
    keys: KeyMaterial = field(default_factory=KeyMaterial)
    observer: FrameObserver | None = None

    def client(self) -> Client:
        return Client(
            self.host,
            self.port,
            self.config,
            transport="udp" if self.transport == "udp" else "tcp",
            timeout=self.timeout,
            retries=self.retries,
            observer=self.observer,
        )

    def trace_keys(self) -> Keys:
        """What trace lines decrypt with (the global keys; the dedicated key stays unknown)."""
        return Keys(ek=self.keys.ek, ak=self.keys.ak, broadcast_key=self.keys.broadcast_key)


DEFAULT_TIMEOUT = 10.0
"""Seconds to wait for each answer: the same default in every command that talks to a meter."""


def connection_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """The options shared by the three commands."""
    options = [
        click.option("--client-sap", type=click.IntRange(0, 0xFFFF), default=16, show_default=True,
                     help="Client wPort (16 public, 1 management)."),
        click.option("--server-sap", type=click.IntRange(0, 0xFFFF), default=1, show_default=True,
                     help="Server wPort (logical device)."),
        click.option("--sn", "short_names", is_flag=True, help="Short-name referencing."),
        click.option("--auth", type=click.Choice(list(AUTH_CHOICES)), default="none", show_default=True),
        click.option("--password", help="LLS password or HLS secret (text; prefer --keys or "
                     "COSEMNET_PASSWORD: argv is visible in ps)."),
        click.option("--password-hex", help="LLS password or HLS secret as hex."),
        click.option("--ek", callback=_hex("the encryption key", (16, 32)),
                     help="Global unicast key (hex; prefer --keys or COSEMNET_EK)."),
        click.option("--ak", callback=_hex("the authentication key", (16, 32)),
                     help="Authentication key (hex; prefer --keys or COSEMNET_AK)."),
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
        click.option("--timeout", type=click.FloatRange(0.01), default=DEFAULT_TIMEOUT, show_default=True,
                     help="Seconds to wait for each answer."),
        click.option("--retries", type=click.IntRange(0, 20), default=2, show_default=True,
                     help="UDP only: times a request is sent again."),
    ]  # fmt: skip
    for option in reversed(options):
        function = option(function)
    return observe_options(keys_option(function))


def _secret(kwargs: dict[str, Any]) -> bytes | None:
    password_text = kwargs.pop("password")
    password_hex = kwargs.pop("password_hex")
    if password_text is not None and password_hex is not None:
        raise click.UsageError("give --password or --password-hex, not both")
    if password_text is not None:
        return bytes(password_text.encode())
    if password_hex is not None:
        try:
            return parse_hex(password_hex)
        except JsonFormError:
            raise click.BadParameter("--password-hex must be hex digits") from None
    return None


def _key_material(kwargs: dict[str, Any]) -> KeyMaterial:
    """Options, then environment, then key file (docs/decisions/0092); KeyFileError is a usage error."""
    overrides = KeyMaterial(
        ek=kwargs.pop("ek"),
        ak=kwargs.pop("ak"),
        system_title=kwargs.pop("system_title"),
        password=_secret(kwargs),
    )
    key_file = kwargs.pop("key_file")
    try:
        material = resolve_keys(key_file, overrides)
    except KeyFileError as exc:
        raise click.UsageError(str(exc)) from None
    register_secrets(*material.secrets())
    return material


def _connection(endpoint: EndpointValue, kwargs: dict[str, Any]) -> Connection:
    mechanism = AUTH_CHOICES[kwargs.pop("auth")]
    keys = _key_material(kwargs)
    secret = keys.password
    if (
        mechanism in (Mechanism.LLS, Mechanism.HLS_MD5, Mechanism.HLS_SHA1, Mechanism.HLS_SHA256)
        and not secret
    ):
        raise click.UsageError(
            f"--auth {mechanism.name.lower().replace('_', '-')} needs a password "
            "(--keys FILE, COSEMNET_PASSWORD or --password)"
        )
    ciphering = kwargs.pop("ciphering")
    if ciphering is None:
        ciphering = "none"
    if (ciphering != "none" or mechanism is Mechanism.HLS_GMAC) and (keys.ek is None or keys.ak is None):
        raise click.UsageError(
            "ciphering and hls-gmac need the ek and ak (--keys FILE, COSEMNET_EK/AK or --ek/--ak)"
        )
    counter = kwargs.pop("invocation_counter")
    state_dir, no_state = kwargs.pop("state_dir"), kwargs.pop("no_state")
    if state_dir is not None and no_state:
        raise click.UsageError("give --state-dir or --no-state, not both")
    title = keys.system_title
    config = ClientConfig(
        client_sap=kwargs.pop("client_sap"),
        server_sap=kwargs.pop("server_sap"),
        referencing=Referencing.SN if kwargs.pop("short_names") else Referencing.LN,
        mechanism=mechanism,
        password=secret if mechanism is Mechanism.LLS else None,
        hls_secret=secret if mechanism is not Mechanism.LLS else None,
        keys=KeySet(ek=keys.ek, ak=keys.ak),
        ciphering=ciphering,
    )
    if title is not None:
        config.system_title = title
    if ciphering != "none" or mechanism is Mechanism.HLS_GMAC:
        config.invocation_counter = _client_counter(config, counter, state_dir, no_state)
    return Connection(
        endpoint.host,
        endpoint.port,
        config,
        kwargs.pop("transport"),
        kwargs.pop("timeout"),
        kwargs.pop("retries"),
        keys,
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


def fail(message: str, as_json: bool = False) -> NoReturn:
    report_error(message, as_json, "meter")
    sys.exit(EXIT_PARTIAL)


def _run(action: Callable[[], None], as_json: bool = False) -> None:
    """Run ``action``; meter and user errors end in one line (or a JSON error object), Ctrl-C in 130."""
    with user_errors(as_json=as_json):
        try:
            action()
        except AssociationRejected as exc:
            fail(str(exc), as_json)
        except AccessError as exc:
            fail(f"access denied: {exc}" if "denied" in str(exc) else str(exc), as_json)
        except CosemnetError as exc:
            fail(str(exc), as_json)


def _observed(
    conn: Connection, trace: bool, pcap: Path | None, action: Callable[[], None]
) -> Callable[[], None]:
    """``action`` run with the --trace/--pcap observer attached to ``conn`` (the file opened first)."""

    def run() -> None:
        with Observation(trace, pcap, conn.trace_keys()) as observer:
            conn.observer = observer
            action()

    return run


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


def datetime_iso(value: object) -> str | None:
    """ISO 8601 of a COSEM date-time (a CosemDateTime, or the 12-byte octet-string of one); None when
    it is not one or names no point in time (wildcards)."""
    if isinstance(value, bytes):
        if len(value) != 12:
            return None
        try:
            value = CosemDateTime.from_bytes(value)
        except CosemnetError:
            return None
    if not isinstance(value, CosemDateTime):
        return None
    try:
        return value.to_datetime().isoformat()
    except CosemnetError:
        return None


def json_cell(value: object) -> object:
    """A plain JSON value for scripts (date-times as ISO 8601 text when possible)."""
    if isinstance(value, CosemDateTime):
        iso = datetime_iso(value)
        return iso if iso is not None else str(value)
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
  cosemnet read 127.0.0.1:4059 1-0:1.8.0               energy register (class looked up), scaled, with unit
  cosemnet read 127.0.0.1:4059 0-0:1.0.0:2 --json      the clock, ISO 8601 in "value"
  cosemnet read [::1]:4059 Register/1-0:1.8.0*255/2    CLASS/OBIS/ATTR (no object list read)
  cosemnet read 127.0.0.1:4059 0-0:42.0.0 --client-sap 1 --auth hls-gmac --ciphering general-glo \\
      --keys meter-keys.toml --trace                    ciphered, every frame on stderr (decrypted)
  cosemnet read --profile lon 127.0.0.1:40001 --lon-node 1/2 --lon-local 127.0.0.1:40000 \\
      1-0:1.8.0*255 --class-id 3                       a meter of "cosemnet sim lon --channel cnip"
\b
TARGET is OBIS[:ATTR] or CLASS/OBIS/ATTR (CLASS a number or a name such as Register); ATTR defaults to 2
(the value). Without a class (--class-id or CLASS/) the class is looked up in the association's object
list. For registers (class 3, 4, 5) reading the value also reads the scaler_unit and prints the scaled
value with its unit. Keys: --keys FILE (TOML/JSON, mode 0600) or COSEMNET_EK, COSEMNET_AK, ...
Exit status: 0 read, 1 the meter could not be read (one "error:" line, or a JSON error object with
--json), 2 usage, 130 interrupted.
"""


def _lookup_class(client: Client | LonCnipClient, obis: Obis) -> int:
    """The class of ``obis`` in the association's object list (ClientError when it is not there)."""
    if isinstance(client, Client):
        objects = client.object_list()
    else:  # LN over the LON profile: the current association's object_list
        objects = parse_object_list(client.get_attribute(15, Obis.parse("0-0:40.0.0*255"), 2))
    for description in objects:
        if bytes(description.logical_name) == bytes(obis):
            return description.class_id
    raise ClientError(f"{obis} is not in the association's object list (give --class-id or CLASS/OBIS/ATTR)")


def _read_value(
    client: Client | LonCnipClient, spec: AttributeSpecValue, class_id: int | None
) -> tuple[int, DataValue, ScaledValue | None]:
    """(class, value, scaled value of a register) of one attribute."""
    obis, attribute_id = spec.logical_name, spec.attribute_id
    if class_id is None:
        class_id = spec.class_id if spec.class_id is not None else _lookup_class(client, obis)
    value = client.get_attribute(class_id, obis, attribute_id)
    scaled: ScaledValue | None = None
    if class_id in SCALED_CLASS_IDS and attribute_id in ((2, 3) if class_id == 5 else (2,)):
        try:
            scaler_unit = client.get_attribute(class_id, obis, scaler_unit_attribute(class_id))
            scaled = ScaledValue(value, *_scaler_unit(scaler_unit))
        except AccessError:
            scaled = None
    return class_id, value, scaled


def _print_value(
    spec: AttributeSpecValue, class_id: int, value: DataValue, scaled: ScaledValue | None, as_json: bool
) -> None:
    iso = datetime_iso(value)
    if as_json:
        out: dict[str, object] = {
            "obis": str(spec.logical_name),
            "class_id": class_id,
            "attribute": spec.attribute_id,
            "type": type_name(value),
            "value": iso if iso is not None else json_cell(value),
            "data": data_to_json(value),
        }
        if scaled is not None:
            out.update(scaler=scaled.scaler, unit=scaled.unit, unit_symbol=scaled.unit_symbol)
            out["scaled_value"] = json_cell(scaled.value)
        click.echo(json.dumps(out))
    elif scaled is not None:
        click.echo(f"{scaled}  ({type_name(value)} {value_text(value)}, scaler {scaled.scaler})")
    elif iso is not None:
        click.echo(f"{iso}  ({type_name(value)} {value_text(value)})")
    else:
        click.echo(f"{value_text(value)}  ({type_name(value)})")


@click.command("read", epilog=READ_EPILOG)
@click.argument("host", type=Endpoint())
@click.argument("target", type=AttributeSpec())
@click.option(
    "--class-id",
    type=click.IntRange(0, 0xFFFF),
    default=None,
    help="Interface class of the object [default: CLASS of CLASS/OBIS/ATTR, else looked up in the "
    "object list].",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout (also for errors).")
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
    "lon_key_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="--profile lon: the concentrator's OSGP key file (mode 0600, as `sim lon --key-file` writes): open "
    "an OSGP-AES-128-PSK secure channel and read over the protected management association (client SAP 1).",
)
@connection_options
def read_command(
    host: EndpointValue,
    target: AttributeSpecValue,
    class_id: int | None,
    as_json: bool,
    profile: str,
    lon_node: str | None,
    lon_local: str | None,
    lon_domain: str,
    lon_key_file: str | None,
    trace: bool,
    pcap: Path | None,
    **kwargs: Any,
) -> None:
    """Read one attribute: HOST[:PORT] OBIS[:ATTR] (or CLASS/OBIS/ATTR)."""
    conn = _connection(host, kwargs)
    open_client: Callable[[], Client | LonCnipClient] = conn.client
    if profile == "lon":
        raw = click.get_current_context().params.get("host")
        text = str(raw) if not isinstance(raw, EndpointValue) else str(host)
        open_lon = lon_client_factory(
            text,
            (conn.host, conn.port),
            conn.config,
            conn.timeout,
            lon_node,
            lon_local,
            lon_domain,
            lon_key_file,
        )

        def open_client() -> Client | LonCnipClient:  # the observer is set when the action runs
            return open_lon(conn.observer)

    elif lon_key_file is not None:
        raise click.BadParameter("needs --profile lon", param_hint="--key-file")

    def action() -> None:
        with open_client() as client:
            read_class, value, scaled = _read_value(client, target, class_id)
        _print_value(target, read_class, value, scaled, as_json)

    _run(_observed(conn, trace, pcap, action), as_json)


def _scaler_unit(value: DataValue) -> tuple[int, int]:
    return parse_scaler_unit(value)


# --------------------------------------------------------------------------------------------------
# objects

OBJECTS_EPILOG = """\b
Examples:
  cosemnet objects 127.0.0.1:4059                      the public client's object list as a table
  cosemnet objects 127.0.0.1:4059 --json --pcap objects.pcap
"""


@click.command("objects", epilog=OBJECTS_EPILOG)
@click.argument("host", type=Endpoint())
@click.option("--json", "as_json", is_flag=True, help="A JSON array on stdout (errors as a JSON object).")
@connection_options
def objects_command(
    host: EndpointValue, as_json: bool, trace: bool, pcap: Path | None, **kwargs: Any
) -> None:
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

    _run(_observed(conn, trace, pcap, action), as_json)


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


PROFILE_EPILOG = """\b
Examples:
  cosemnet profile 127.0.0.1:4059 1-0:99.1.0                    the whole load profile as a table
  cosemnet profile 127.0.0.1:4059 1-0:99.1.0 --from 2026-11-20T10:00:00Z --to 2026-11-20T11:00:00Z
  cosemnet profile 127.0.0.1:4059 1-0:99.1.0 --csv rows.csv     CSV with scaler and unit columns
\b
A meter started now has no rows yet: "cosemnet meter serve --start" gives the simulated meter history.
The CSV file is created before the meter is read (a bad path fails at once). Progress goes to stderr.
"""


def _scalers(client: Client, columns: list[Column]) -> dict[str, tuple[int, int]]:
    """Column name -> (scaler, unit) for register value columns whose scaler_unit can be read."""
    found: dict[str, tuple[int, int]] = {}
    for column in columns:
        d = column.definition
        if d.class_id not in SCALED_CLASS_IDS or d.attribute_index != 2 or d.data_index:
            continue
        try:
            found[column.name] = parse_scaler_unit(
                client.get_attribute(d.class_id, d.logical_name, scaler_unit_attribute(d.class_id))
            )
        except (AccessError, CosemnetError):
            continue
    return found


def _write_csv(
    handle: TextIO, names: list[str], rows: list[dict[str, Any]], scalers: dict[str, tuple[int, int]]
) -> None:
    """One column per capture object; a register's value column is followed by its scaler and unit."""
    writer = csv.writer(handle)
    header: list[str] = []
    for name in names:
        header.append(name)
        if name in scalers:
            header += [f"{name} scaler", f"{name} unit"]
    writer.writerow(header)
    for row in rows:
        cells: list[str] = []
        for name in names:
            cells.append(_csv_cell(row.get(name)))
            if name in scalers:
                scaler, unit = scalers[name]
                cells += [str(scaler), unit_symbol(unit)]
        writer.writerow(cells)


def _open_csv(csv_file: str | None) -> TextIO | None:
    """The CSV output, opened before the meter is read (OSError: reported without a traceback)."""
    if csv_file is None:
        return None
    if csv_file == "-":
        return sys.stdout
    return open(csv_file, "w", encoding="utf-8", newline="")  # closed by the command


@click.command("profile", epilog=PROFILE_EPILOG)
@click.argument("host", type=Endpoint())
@click.argument("obis")
@click.option("--from", "start", help="ISO date-time (UTC unless it has an offset): range start.")
@click.option("--to", "end", help="ISO date-time: range end (default now).")
@click.option("--csv", "csv_file", type=click.Path(dir_okay=False, allow_dash=True), help="Write CSV here.")
@click.option("--json", "as_json", is_flag=True, help="A JSON array of rows on stdout (errors as JSON).")
@connection_options
def profile_command(
    host: EndpointValue,
    obis: str,
    start: str | None,
    end: str | None,
    csv_file: str | None,
    as_json: bool,
    trace: bool,
    pcap: Path | None,
    **kwargs: Any,
) -> None:
    """Rows of a profile generic buffer of HOST[:PORT], optionally between --from and --to."""
    conn = _connection(host, kwargs)
    try:
        code = Obis.parse(obis)
    except CosemnetError as exc:
        raise click.BadParameter(str(exc)) from None
    start_dt, end_dt = _iso(start, "--from"), _iso(end, "--to")
    handle: TextIO | None = None

    def action() -> None:
        nonlocal handle
        handle = _open_csv(csv_file)
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
                scalers = _scalers(client, columns) if not as_json or handle is not None else {}
        _show_profile(code, columns, rows, scalers, handle, csv_file, as_json)

    try:
        _run(_observed(conn, trace, pcap, action), as_json)
    finally:
        if handle is not None and handle is not sys.stdout:
            empty = handle.tell() == 0
            handle.close()
            if empty and csv_file is not None:  # the read failed: no empty file left behind
                Path(csv_file).unlink(missing_ok=True)


def _show_profile(
    code: Obis,
    columns: list[Column],
    rows: list[dict[str, Any]],
    scalers: dict[str, tuple[int, int]],
    handle: TextIO | None,
    csv_file: str | None,
    as_json: bool,
) -> None:
    names = [c.name for c in columns]
    if handle is not None:
        _write_csv(handle, names, rows, scalers)
        handle.flush()
    if as_json:
        click.echo(json.dumps([{k: json_cell(v) for k, v in row.items()} for row in rows]))
    elif handle is None:
        table = Table(title=f"{code} ({len(rows)} rows)")
        for c in columns:
            label = c.name
            known = obis_name(bytes(c.definition.logical_name))
            if known:
                label += f"\n{known}"
            if c.name in scalers:
                label += f"\n{escape('[' + unit_symbol(scalers[c.name][1]) + ']')}"
            table.add_column(label)
        for row in rows:
            cells = []
            for n in names:
                value = row.get(n)
                if n in scalers and isinstance(value, int | float) and not isinstance(value, bool):
                    cells.append(str(ScaledValue(value, scalers[n][0], scalers[n][1]).value))
                else:
                    cells.append(value_text(value))
            table.add_row(*cells)
        Console(width=None if sys.stdout.isatty() else 200).print(table)
    if csv_file not in (None, "-"):
        click.echo(f"{len(rows)} rows written to {csv_file}", err=True)


def _csv_cell(value: object) -> str:
    cell = json_cell(value)
    if isinstance(cell, list):
        return json.dumps(cell)
    return "" if cell is None else str(cell)
