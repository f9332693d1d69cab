"""``cosemnet meter serve``: run a simulated meter on TCP or UDP (IEC 62056-4-7 wrapper).

The meter comes from :mod:`cosemnet.simulator` (``--config FILE`` is a simulator profile in TOML;
without it the simulator's embedded default profile). When the simulator package is not available
a minimal built-in logical device is served instead (a register, a clock, public client 16 without
security), so the command always works.

On start it prints one line ``listening on tcp 127.0.0.1:4059`` (``[::1]:4059`` for IPv6) to stdout
and flushes it; it runs until SIGINT or SIGTERM. Association events are log records on stderr
(``cosemnet --log-format json`` or ``--json-log``: one JSON object per line with an ``event`` field; ``-q``
hides them); no key material is ever logged.

State (docs/decisions/0033): the server's invocation counters and the client counters it accepted
(replay floors) live in ``--state-dir``, by default ``$XDG_STATE_HOME/cosemnet/meter`` (else
``~/.local/state/cosemnet/meter``); one process per directory. ``--no-state`` keeps them in memory
(counters start again at 1 on every start) and prints a warning. Failed authentications are
rate-limited per (client SAP, source address) (``--auth-free-failures``, ``--auth-backoff``,
``--auth-backoff-max``; docs/decisions/0034) and recorded in the meter's event log.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as _dt
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, NoReturn

import click

from cosemnet.cli.keyfile import KeyFileError, KeyMaterial, keys_option, resolve_keys
from cosemnet.cli.logs import configure_logging, json_logging_active, register_secrets
from cosemnet.cli.messages import Keys
from cosemnet.cli.observe import Observation, observe_options
from cosemnet.cli.params import (
    EXIT_INTERRUPTED,
    EXIT_PARTIAL,
    Endpoint,
    EndpointValue,
    describe_os_error,
    report_error,
    user_errors,
)
from cosemnet.cli.signals import stop_on_signals
from cosemnet.codec.acse import ApplicationContextName
from cosemnet.codec.wrapper import DLMS_PORT
from cosemnet.security.counters import user_state_dir
from cosemnet.security.errors import CounterStoreError
from cosemnet.security.hls import Mechanism
from cosemnet.server.auth_limiter import (
    DEFAULT_BASE_DELAY,
    DEFAULT_FREE_FAILURES,
    DEFAULT_MAX_DELAY,
    AuthFailureLimiter,
    AuthLimits,
)
from cosemnet.server.config import (
    DEFAULT_LN_CONFORMANCE,
    DEFAULT_SN_CONFORMANCE,
    AssociationProfile,
    ServedDevice,
    ServerLimits,
)
from cosemnet.server.server import MeterServer
from cosemnet.trace import FrameObserver, FrameTee

if TYPE_CHECKING:
    from cosemnet.simulator.profile import MeterProfile

__all__ = ["format_address", "load_devices", "meter_group", "parse_bind"]


def parse_bind(text: str) -> tuple[str, int]:
    """``ADDR:PORT``, ``[IPv6]:PORT``, ``ADDR`` or ``:PORT`` -> (host, port); port defaults to 4059."""
    text = text.strip()
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep:
            raise click.BadParameter(f"{text!r}: missing ']'")
        port_text = rest[1:] if rest.startswith(":") else ""
        if rest and not rest.startswith(":"):
            raise click.BadParameter(f"{text!r}: expected [ADDR]:PORT")
    elif text.count(":") > 1:  # bare IPv6 address without a port
        host, port_text = text, ""
    else:
        host, _, port_text = text.partition(":")
    try:
        port = int(port_text) if port_text else DLMS_PORT
    except ValueError:
        raise click.BadParameter(f"{text!r}: port must be a number") from None
    if not 0 <= port <= 0xFFFF:
        raise click.BadParameter(f"{text!r}: port must be 0..65535")
    return host or "127.0.0.1", port


def format_address(sockname: Any) -> str:
    """``127.0.0.1:4059`` or ``[::1]:4059``."""
    host, port = sockname[0], sockname[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


EVENTS_LOGGER: Final = "cosemnet.meter.events"
"""The logger of the served meter's events (associations, refusals, ...): INFO records shown by default
(``-q`` hides them), in the format of ``--log-format`` (cli/logs.py, docs/decisions/0067)."""


def event_name(text: str) -> str:
    """The ``event`` field of an event line: its words before the first colon or parenthesis
    (``association accepted: client 16 ...`` -> ``association accepted``)."""
    head = text.split(":", 1)[0].split(" (", 1)[0].strip()
    return head or text


def json_logging() -> None:
    """``--json-log``, an alias of ``cosemnet --log-format json``: the CLI's handler re-installed with
    the JSON formatter at the level already chosen (call it before any key is registered)."""
    configure_logging(logging.getLogger().level, "json")


def _warn(text: str) -> None:
    """A warning of the command: a log record when the logs are JSON lines, else ``warning: TEXT``."""
    if json_logging_active():
        logging.getLogger(__name__).warning("%s", text, extra={"event": "warning"})
    else:
        click.echo(f"warning: {text}", err=True)


def _logger() -> Callable[[str], None]:
    """The server's event callback: one log record per event through ``logging`` (never ``print``)."""
    root = logging.getLogger()
    events = logging.getLogger(EVENTS_LOGGER)
    events.setLevel(logging.INFO if root.getEffectiveLevel() <= logging.WARNING else root.level)

    def log(text: str) -> None:
        events.info("%s", text, extra={"event": event_name(text)})

    return log


_AGO_UNITS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_start(text: str, now: float) -> _dt.datetime:
    """``--start``: an ISO 8601 date-time with offset, or ``N[smhd]`` (optionally ``-N...``) ago."""
    ago = text.strip().lstrip("-")
    if ago[:-1].isdigit() and ago[-1:] in _AGO_UNITS:
        seconds = int(ago[:-1]) * _AGO_UNITS[ago[-1]]
        return _dt.datetime.fromtimestamp(now - seconds, _dt.UTC).replace(microsecond=0)
    try:
        start_time = _dt.datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is not an ISO 8601 date-time or a time ago (6h, 2d)", param_hint="--start"
        ) from None
    if start_time.tzinfo is None:
        raise click.BadParameter("--start needs a UTC offset (e.g. +00:00)", param_hint="--start")
    return start_time


def _builtin_devices() -> list[ServedDevice]:
    """A minimal meter for when :mod:`cosemnet.simulator` is not available."""
    from cosemnet.codec.obis import Obis
    from cosemnet.codec.types import DoubleLongUnsigned
    from cosemnet.cosem import AssociationLN, Clock, LogicalDevice, Register, Unit

    device = LogicalDevice(b"COSEMNET00000001", server_sap=1)
    device.add(Clock(Obis.parse("0-0:1.0.0*255")))
    device.add(Register(Obis.parse("1-0:1.8.0*255"), DoubleLongUnsigned(0), 0, Unit.WATT_HOUR))
    public = device.add(AssociationLN(Obis.parse("0-0:40.0.1*255"), client_sap=16, server_sap=1))
    device.grant_all(public)
    return [ServedDevice(device)]


def apply_keys(profile: MeterProfile, keys: KeyMaterial) -> MeterProfile:
    """The profile with the key file's keys in place of its own (docs/decisions/0092).

    Every security setup that has keys gets the ek/ak/kek/broadcast_key given; ``system_title`` is
    the client system title those setups expect; ``password`` the secret of every association that
    has one (LLS, HLS).
    """
    setups = []
    for setup in profile.security_setups:
        if setup.ek is not None or setup.ak is not None:
            setup = replace(
                setup,
                ek=keys.ek or setup.ek,
                ak=keys.ak or setup.ak,
                kek=keys.kek or setup.kek,
                broadcast_key=keys.broadcast_key or setup.broadcast_key,
                client_system_title=keys.system_title or setup.client_system_title,
            )
        setups.append(setup)
    associations = [
        replace(a, secret=keys.password) if a.secret and keys.password else a for a in profile.associations
    ]
    return replace(profile, security_setups=tuple(setups), associations=tuple(associations))


def trace_keys(profile: MeterProfile | None) -> Keys:
    """The keys trace lines decrypt with: those of the first security setup that has keys."""
    for setup in profile.security_setups if profile is not None else ():
        if setup.ek is not None:
            return Keys(ek=setup.ek, ak=setup.ak, broadcast_key=setup.broadcast_key)
    return Keys()


def load_devices(
    config: Path | None,
    now: float,
    start: _dt.datetime | None = None,
    keys: KeyMaterial | None = None,
) -> tuple[list[ServedDevice], Callable[[float], None] | None]:
    """The served devices and a tick function that runs the simulated meter up to a time.

    The simulated meter starts at ``start`` (default ``now``) and is run up to ``now`` at once (a
    start in the past fills its load profile and logs with that history). ``keys`` replace the
    profile's own (:func:`apply_keys`).
    """
    try:
        from cosemnet.simulator import build_meter
    except ImportError:
        if config is not None:
            raise click.ClickException("--config needs cosemnet.simulator, which is not available") from None
        return _builtin_devices(), None
    profile = _profile(config, keys)
    meter = build_meter(
        profile, start=start if start is not None else _dt.datetime.fromtimestamp(now, _dt.UTC)
    )
    profiles = []
    for client_sap in meter.client_saps:
        association = meter.association(client_sap)
        if association is None:
            continue
        context = ApplicationContextName(association.application_context_name[-1])
        profiles.append(
            AssociationProfile(
                client_sap=client_sap,
                association=association.association,
                application_context_name=context,
                mechanism=Mechanism(association.mechanism_id),
                conformance=DEFAULT_SN_CONFORMANCE
                if association.referencing == "sn"
                else DEFAULT_LN_CONFORMANCE,
                security_setup=association.security_setup,
            )
        )

    epoch = meter.anchor.timestamp()  # the meter's float time counts from its anchor (its start)

    def tick(when: float) -> None:
        meter.handle_timer(when - epoch)
        meter.pop_events()

    def security_event(name: str, when: float) -> None:
        meter.security_event(name, _dt.datetime.fromtimestamp(when, _dt.UTC))

    tick(now)
    served = ServedDevice(
        meter.device,
        effects=meter.effects,
        profiles=profiles,
        on_request=tick,
        on_security_event=security_event,
    )
    return [served], tick


def _profile(config: Path | None, keys: KeyMaterial | None) -> MeterProfile:
    from cosemnet.simulator import ProfileError, load_profile

    try:
        profile = load_profile(config)
    except ProfileError as exc:
        raise click.ClickException(str(exc)) from None
    return apply_keys(profile, keys) if keys is not None and not keys.empty else profile


@dataclass(slots=True)
class ServeOptions:
    """What ``meter serve`` runs with, besides the server's own limits."""

    transport: str
    bind: EndpointValue
    state_dir: Path | None
    config: Path | None
    json_log: bool
    start: _dt.datetime | None
    keys: KeyMaterial
    observer: FrameObserver | None = None


async def _serve(options: ServeOptions, auth_limits: AuthLimits, limits: ServerLimits) -> int:
    """Serve until SIGINT/SIGTERM; the exit status: 128 + the signal (docs/decisions/0130)."""
    from cosemnet.server.asyncio_server import serve_tcp, serve_udp

    transport, host, port = options.transport, options.bind.host, options.bind.port
    state_dir, config, start = options.state_dir, options.config, options.start
    log = _logger()
    # the server's events are log records of EVENTS_LOGGER (text or JSON lines on stderr through the CLI's
    # handler); embedded without that handler, they are not printed by Python's last-resort handler
    logging.getLogger("cosemnet").addHandler(logging.NullHandler())
    clock: Callable[[], float] = time.time
    devices, tick = load_devices(config, clock(), start, options.keys)
    try:
        server = MeterServer(
            devices, state_dir=state_dir, log=log, auth_limiter=AuthFailureLimiter(auth_limits), limits=limits
        )
    except CounterStoreError as exc:
        raise click.ClickException(f"{exc} (another meter? give it its own --state-dir)") from None
    running: Any
    if transport == "tcp":
        running = await serve_tcp(server, host, port, clock=clock, observer=options.observer)
    else:
        running = await serve_udp(server, host, port, clock=clock, observer=options.observer)
    stop = stop_on_signals()  # before the listening line: a signal sent on seeing it is handled
    for address in running.addresses:
        print(f"listening on {transport} {format_address(address)}", flush=True)
    try:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1.0)
            if tick is not None:
                try:
                    tick(clock())
                except Exception as exc:  # the simulator must not take the server down
                    log(f"simulator tick failed: {type(exc).__name__}")
    finally:
        await running.close()
        server.close()
        log("stopped")
    return stop.exit_code


_DEFAULTS = ServerLimits()
_CAPS = (
    "max_connections",
    "max_connections_per_source",
    "max_pending_associations",
    "max_pending_associations_per_source",
)


def _limits(options: dict[str, int]) -> ServerLimits:
    """The ServerLimits of the command-line options (a cap of 0 means no cap)."""
    caps = {name: (options[name] or None) for name in _CAPS}
    return ServerLimits(
        **caps,
        output_budget=options["output_budget"],
        max_block_transfer=options["max_block_transfer"],
        udp_max_datagram=options["udp_max_datagram"],
        udp_amplification_factor=options["udp_amplification_factor"],
    )


@click.group("meter")
def meter_group() -> None:
    """Run a simulated DLMS/COSEM meter."""


@meter_group.command("serve")
@click.option("--transport", type=click.Choice(["tcp", "udp"]), default="tcp", show_default=True)
@click.option(
    "--bind",
    "bind",
    type=Endpoint(allow_port_zero=True),
    default="127.0.0.1:4059",
    show_default=True,
    help="HOST[:PORT] or [IPv6]:PORT to listen on (loopback unless told otherwise; port 0: any free port)",
)
@click.option(
    "--config", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="simulator profile (TOML)"
)
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="directory that persists the invocation counters and replay floors "
    "[default: $XDG_STATE_HOME/cosemnet/meter, else ~/.local/state/cosemnet/meter]",
)
@click.option(
    "--no-state",
    is_flag=True,
    help="keep the counters in memory only: they start again at 1 on every start (testing only)",
)
@click.option(
    "--auth-free-failures",
    type=click.IntRange(0, 1000),
    default=DEFAULT_FREE_FAILURES,
    show_default=True,
    help="failed authentications per (client SAP, source) before the back-off starts",
)
@click.option(
    "--auth-backoff",
    type=click.FloatRange(0),
    default=DEFAULT_BASE_DELAY,
    show_default=True,
    help="first back-off in seconds (doubles with every further failure)",
)
@click.option(
    "--auth-backoff-max",
    type=click.FloatRange(0),
    default=DEFAULT_MAX_DELAY,
    show_default=True,
    help="longest back-off in seconds",
)
@click.option(
    "--json-log",
    is_flag=True,
    help="log events as JSON lines on stderr (an alias of cosemnet --log-format json)",
)
@click.option(
    "--start",
    help="simulated start time of the meter: ISO 8601 with offset, or a time ago such as 6h, 2d, 90m "
    "(default: now); a start in the past gives the meter that much history",
)
@click.option(
    "--max-connections",
    type=click.IntRange(0),
    default=_DEFAULTS.max_connections,
    show_default=True,
    help="open connections (TCP) or peers (UDP) in all; 0: no cap",
)
@click.option(
    "--max-connections-per-source",
    type=click.IntRange(0),
    default=_DEFAULTS.max_connections_per_source,
    show_default=True,
    help="the same, per source address; 0: no cap",
)
@click.option(
    "--max-pending-associations",
    type=click.IntRange(0),
    default=_DEFAULTS.max_pending_associations,
    show_default=True,
    help="associations waiting for HLS pass 3, in all; 0: no cap",
)
@click.option(
    "--max-pending-associations-per-source",
    type=click.IntRange(0),
    default=_DEFAULTS.max_pending_associations_per_source,
    show_default=True,
    help="the same, per source address; 0: no cap",
)
@click.option(
    "--output-budget",
    type=click.IntRange(1),
    default=_DEFAULTS.output_budget,
    show_default=True,
    help="bytes of answers per connection before waiting for the peer to read them",
)
@click.option(
    "--max-block-transfer",
    type=click.IntRange(1),
    default=_DEFAULTS.max_block_transfer,
    show_default=True,
    help="bytes of one incoming SET/ACTION block transfer or general-block-transfer",
)
@click.option(
    "--udp-max-datagram",
    type=click.IntRange(20, 65507),
    default=_DEFAULTS.udp_max_datagram,
    show_default=True,
    help="largest UDP payload sent; the negotiated PDU sizes are capped to fit it",
)
@click.option(
    "--udp-amplification-factor",
    type=click.IntRange(1),
    default=_DEFAULTS.udp_amplification_factor,
    show_default=True,
    help="UDP, before an association: answer at most this many times the bytes received",
)
@click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    default=None,
    metavar="N",
    help="serve Prometheus metrics on http://HOST:N/metrics, HOST being the --bind host "
    "(requests, associations, failures, response latency; docs/decisions/0091)",
)
@keys_option
@observe_options
def serve_command(
    transport: str,
    bind: EndpointValue,
    config: Path | None,
    state_dir: Path | None,
    no_state: bool,
    auth_free_failures: int,
    auth_backoff: float,
    auth_backoff_max: float,
    json_log: bool,
    start: str | None,
    metrics_port: int | None,
    key_file: Path | None,
    trace: bool,
    pcap: Path | None,
    **limit_options: int,
) -> None:
    """Serve a simulated meter until SIGINT/SIGTERM; prints "listening on ..." once ready.

    Resource limits (docs/decisions/0030): a peer that does not read its answers is not read either
    once --output-budget is pending; block transfers are refused past --max-block-transfer (and at
    their first block when access is denied); connections over the caps are closed at once. On UDP no
    datagram is larger than --udp-max-datagram and, before an association, no answer is more than
    --udp-amplification-factor times the request.

    Keys (--keys FILE or COSEMNET_EK, COSEMNET_AK, ...) replace the simulator profile's test keys.
    Events (associations, refusals) are log records on stderr: ``cosemnet --log-format json`` (or
    --json-log) for JSON lines, ``cosemnet -q`` to hide them.
    Exit status: 0 after SIGINT/SIGTERM, 1 when it cannot listen (address in use, not available).

    \b
    Examples:
      cosemnet meter serve                                  127.0.0.1:4059, the simulator's default meter
      cosemnet meter serve --bind [::1]:0 --start 6h        any free port, six hours of history
      cosemnet meter serve --keys meter-keys.toml --trace --pcap meter.pcap --metrics-port 9100
      cosemnet --log-format json meter serve --transport udp 2> events.jsonl
    """
    if json_log:
        json_logging()
    try:
        keys = resolve_keys(key_file)
    except KeyFileError as exc:
        raise click.UsageError(str(exc)) from None
    register_secrets(*keys.secrets())
    if no_state and state_dir is not None:
        raise click.UsageError("give --state-dir or --no-state, not both")
    if no_state:
        _warn(
            "--no-state: invocation counters start again at 1 and replays of earlier "
            "traffic are accepted after a restart; AES-GCM nonces repeat under the same keys"
        )
    elif state_dir is None:
        state_dir = user_state_dir() / "meter"
    try:
        auth_limits = AuthLimits(auth_free_failures, auth_backoff, max(auth_backoff_max, auth_backoff))
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    limits = _limits(limit_options)
    start_time = parse_start(start, time.time()) if start is not None else None
    options = ServeOptions(transport, bind, state_dir, config, json_log, start_time, keys)
    with user_errors():
        _run_serve(options, trace, pcap, metrics_port, auth_limits, limits)


def _cannot(message: str) -> NoReturn:
    """One ``error:`` line and exit 1 (a user's or the machine's problem, not a bug)."""
    report_error(message)
    sys.exit(EXIT_PARTIAL)


def _start_metrics(host: str, port: int) -> tuple[FrameObserver, object]:
    """The metrics observer and its running HTTP endpoint; prints ``metrics on http://...``."""
    from cosemnet.cli.metrics import MeterMetrics

    metrics = MeterMetrics()
    try:
        server = metrics.serve(host, port)
    except OSError as exc:
        _cannot(f"cannot serve metrics on {EndpointValue(host, port)}: {describe_os_error(exc)}")
    bound = int(getattr(server, "server_port", port))
    print(f"metrics on http://{EndpointValue(host, bound)}/metrics", flush=True)
    return metrics, server


def _run_serve(
    options: ServeOptions,
    trace: bool,
    pcap: Path | None,
    metrics_port: int | None,
    auth_limits: AuthLimits,
    limits: ServerLimits,
) -> None:
    """Open the capture and the metrics endpoint, then serve until a signal."""
    from cosemnet.cli.metrics import MeterMetrics

    profile = _profile(options.config, options.keys) if trace else None
    with Observation(trace, pcap, trace_keys(profile)) as observer:
        metrics_server: object | None = None
        observers = [observer] if observer is not None else []
        if metrics_port is not None:
            metrics, metrics_server = _start_metrics(options.bind.host, metrics_port)
            observers.append(metrics)
        if observers:
            options.observer = observers[0] if len(observers) == 1 else FrameTee(*observers)
        status = 0
        try:
            status = asyncio.run(_serve(options, auth_limits, limits))
        except OSError as exc:
            _cannot(f"cannot listen on {options.transport} {options.bind}: {describe_os_error(exc)}")
        except KeyboardInterrupt:  # pragma: no cover - signal handlers normally catch it
            status = EXIT_INTERRUPTED
        finally:
            if metrics_server is not None:
                MeterMetrics.stop(metrics_server)
    if status:  # after the capture is closed
        sys.exit(status)
