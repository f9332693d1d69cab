"""``cosemnet hes``: the mesh head-end (IEC TS 62056-8-20) from the command line.

``listen`` serves registrations into the address book, ``collect`` reads attributes from every
registered meter (throttled, progress bar, SQLite and CSV), ``broadcast`` sends one group request and
reports who answered, ``lookup`` shows a meter's binding and history. Every command takes ``--db``
(the SQLite file holding the address book, counters and readings). Only one process at a time may
use a database's invocation counters (``listen``/``collect``/``broadcast``); ``lookup`` only reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from cosemnet.cli.hes_classes import (
    class_id_option,
    needs_lookup,
    no_meter,
    parse_specs,
    resolve,
    resolve_specs,
)
from cosemnet.cli.hes_common import (
    existing_db,
    hes_key_options,
    load_hes_keys,
    reported,
)
from cosemnet.cli.hes_common import (
    throttle_config as _throttle_config,
)
from cosemnet.cli.hes_common import (
    throttle_options as _throttle_options,
)
from cosemnet.cli.hes_observe import KeyStoreTraceFormatter, MeshObservation, mesh_observe_options
from cosemnet.cli.hes_output import check_csv_path, with_scaler_units
from cosemnet.cli.hes_readings import readings_command
from cosemnet.cli.hes_run import (
    Stop,
    broadcast_summary,
    collect_summary,
    collect_with_progress,
    count_meters,
    group_read,
    print_broadcast_summary,
    print_collect_summary,
    print_group_summary,
    write_readings,
)
from cosemnet.cli.hes_worker import (
    enqueue_if_shared,
    open_shared_listener,
    uses_shared_storage,
    worker_command,
)
from cosemnet.cli.metrics import HeadEndMetrics
from cosemnet.cli.params import (
    AttributeSpecValue,
    Endpoint,
    EndpointValue,
    describe_os_error,
)
from cosemnet.cli.signals import stop_on_signals
from cosemnet.headend import (
    AttributeRef,
    HeadEnd,
    HeadEndConfig,
    HeadEndService,
    KeyStore,
    RegistrationEvent,
)
from cosemnet.headend.alarms import AlarmAcknowledger, AlarmConfig, acknowledge_alarms
from cosemnet.profiles.mesh import (
    MESH_UDP_PORT,
    AddressBook,
    AddressBookError,
    ResponseWindow,
    ThrottleConfig,
)
from cosemnet.security.errors import CounterStoreError

__all__ = ["hes_group"]

DEFAULT_DB = "cosemnet-hes.db"


def _title(text: str) -> bytes:
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raw = b""
    if len(raw) != 8:
        raise click.BadParameter(f"{text!r}: a system title is 16 hex digits")
    return raw


def _attributes(values: tuple[str, ...]) -> list[AttributeRef]:
    """Attributes written with their classes (``CLASS/OBIS/ATTR``, as the runs store them)."""
    return resolve(parse_specs(values), {})


def _gateway(value: EndpointValue | None) -> tuple[str, int] | None:
    return None if value is None else value.address


def _common(f: Any) -> Any:
    options: list[Callable[[Any], Any]] = [
        click.option("--db", "db", default=DEFAULT_DB, show_default=True, help="SQLite database file."),
        click.option(
            "--bind",
            type=Endpoint(default_port=MESH_UDP_PORT, allow_port_zero=True),
            default="::1",
            show_default=True,
            help=f"ADDRESS[:PORT] or [IPv6]:PORT to listen on (port {MESH_UDP_PORT} when not given; "
            "'::' for every interface).",
        ),
        click.option(
            "--port", type=click.IntRange(0, 65535), help="UDP port (overrides the port of --bind)."
        ),
        click.option("--json", "as_json", is_flag=True, help="Machine-readable output (JSON lines)."),
        hes_key_options,
        click.option(
            "--accept-plain-registrations",
            is_flag=True,
            help="LAB ONLY: also accept unauthenticated registrations and address updates (for meters "
            "the key store knows; never over an authenticated binding). Default: only general-glo-"
            "ciphered ones (decision 0036).",
        ),
        mesh_observe_options,
    ]
    for option in reversed(options):
        f = option(f)
    return f


def _observation(
    trace: bool, pcap: Path | None, metrics_port: int | None, bind: EndpointValue, keys: KeyStore
) -> MeshObservation:
    """--trace (decrypted with the key store), --pcap and --metrics-port of a ``hes`` command."""
    return MeshObservation(trace, pcap, metrics_port, bind.host, HeadEndMetrics, KeyStoreTraceFormatter(keys))


def _count_registration(observation: MeshObservation, event: RegistrationEvent) -> None:
    metrics = observation.metrics
    if isinstance(metrics, HeadEndMetrics):
        metrics.registrations.labels("rejected" if event.result is None else event.result.value).inc()


def _open(
    db: str,
    keys: KeyStore,
    throttle: ThrottleConfig | None = None,
    *,
    accept_plain: bool = False,
    must_exist: bool = False,
) -> HeadEnd:
    if must_exist:
        existing_db(db)
    try:
        book = AddressBook(db)
    except AddressBookError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        config = HeadEndConfig(throttle=throttle or ThrottleConfig(), accept_plain_registrations=accept_plain)
        if accept_plain:
            click.echo("warning: accepting plain (unauthenticated) registrations: lab use only", err=True)
        return HeadEnd(book, keys=keys, config=config)
    except CounterStoreError as exc:
        book.close()
        raise click.ClickException(f"{exc} (another `cosemnet hes` is running on {db}?)") from None


def _registration_line(event: RegistrationEvent, as_json: bool) -> str:
    result = "rejected" if event.result is None else event.result.value
    if as_json:
        return json.dumps(
            {
                "event": "registration",
                "system_title": event.system_title.hex().upper(),
                "result": result,
                "from": event.address,
                "at": event.at,
            }
        )
    return f"{event.system_title.hex().upper()}  {result:<9}  from {event.address}"


async def _start(service: HeadEndService, bind: EndpointValue, port: int | None) -> None:
    host, bound = bind.host, bind.port if port is None else port
    try:
        await service.start(host, bound)
    except OSError as exc:
        where = EndpointValue(host, bound)
        raise click.ClickException(f"cannot listen on {where}: {describe_os_error(exc)}") from None


async def _listen_for(service: HeadEndService, seconds: float) -> None:
    if seconds > 0:
        await asyncio.sleep(seconds)


@click.group("hes")
def hes_group() -> None:
    """The mesh head-end: registrations, collection, group requests, address lookup.

    Keys: --keys FILE (ek, ak, broadcast_key; mode 0600) or COSEMNET_EK, COSEMNET_AK,
    COSEMNET_BROADCAST_KEY; --test-keys uses the published test keys (lab only). Without keys the
    commands that talk to meters refuse to start (exit 2).

    \b
    Examples:
      cosemnet hes listen --db hes.db --keys hes-keys.toml --bind ::1 --port 61616
      cosemnet hes collect --db hes.db --keys hes-keys.toml --obis 1-0:1.8.0*255 --csv out.csv
      cosemnet hes broadcast --db hes.db --keys hes-keys.toml --group 3 --obis 1-0:1.8.0*255 --window 10
      cosemnet hes lookup 4D4D4D0000BC614E --db hes.db --history
    """


@hes_group.command("listen")
@_common
@click.option("--duration", type=float, help="Stop after this many seconds (default: until Ctrl-C).")
@click.option(
    "--clear-alarms/--no-clear-alarms",
    default=True,
    show_default=True,
    help="Acknowledge stored alarm pushes: clear those bits of the meter's alarm register (SET).",
)
@reported
def listen_command(
    db: str,
    bind: EndpointValue,
    port: int | None,
    as_json: bool,
    key_file: Path | None,
    test_keys: bool,
    ek: str | None,
    ak: str | None,
    broadcast_key: str | None,
    master_key: str | None,
    accept_plain_registrations: bool,
    trace: bool,
    pcap: Path | None,
    metrics_port: int | None,
    duration: float | None,
    clear_alarms: bool,
) -> None:
    """Serve meter registrations and address updates into the address book.

    Prints one line per registration (``--json``: one JSON object per line) and confirms each one to
    the meter, and one line per authenticated push (alarms, events: stored, see ``hes events``); a
    stored alarm push is acknowledged by clearing its bits in the meter's alarm register (SET, result in
    ``operation_results``; docs/decisions/0127). Runs until Ctrl-C or ``--duration`` seconds.

    \b
    Examples:
      cosemnet hes listen --db hes.db --keys hes-keys.toml --bind [::1]:61616 --json
      cosemnet hes listen --db hes.db --keys hes-keys.toml --trace --pcap hes.pcap --metrics-port 9102
    """
    keys = load_hes_keys(key_file, test_keys, ek, ak, broadcast_key, master_key, needs_broadcast=False)
    with _observation(trace, pcap, metrics_port, bind, keys) as observation:
        if uses_shared_storage(db):  # registrations into the shared storage: every worker sees them
            head_end = open_shared_listener(db, keys, accept_plain=accept_plain_registrations)
        else:
            head_end = _open(db, keys, accept_plain=accept_plain_registrations)
        acks = AlarmAcknowledger(AlarmConfig(clear=clear_alarms))
        received = asyncio.run(_listen(head_end, observation, bind, port, db, as_json, duration, acks))
    if received:  # stopped by SIGINT / SIGTERM: 130 / 143 (docs/decisions/0130)
        sys.exit(received)


async def _listen(
    head_end: HeadEnd,
    observation: MeshObservation,
    bind: EndpointValue,
    port: int | None,
    db: str,
    as_json: bool,
    duration: float | None,
    acks: AlarmAcknowledger,
) -> int:
    """Serve registrations until a signal or ``duration`` seconds; the exit status of the signal (0:
    none). The handlers are installed before the "listening" line, so a signal sent on seeing it is
    never missed."""
    stop = stop_on_signals()
    service = HeadEndService(head_end, observer=observation.observer)

    def registered(event: RegistrationEvent) -> None:
        _count_registration(observation, event)
        click.echo(_registration_line(event, as_json))

    head_end.on_registration = registered
    head_end.on_push = lambda e: click.echo(json.dumps(e.to_json()) if as_json else e.describe())
    await _start(service, bind, port)
    acknowledging = asyncio.create_task(acknowledge_alarms(service, acks))
    host, bound = service.local_address
    click.echo(
        json.dumps({"event": "listening", "address": host, "port": bound})
        if as_json
        else f"listening on udp [{host}]:{bound}, {len(head_end.book)} meters in {db}"
    )
    sys.stdout.flush()
    try:
        if duration is None:
            await stop.wait()
        else:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), duration)
    finally:
        acknowledging.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await acknowledging
        await service.close()
        head_end.book.close()
    return stop.exit_code


def _resume_attributes(
    head_end: HeadEnd, resume: int, given: list[AttributeSpecValue], scaled: bool
) -> tuple[list[AttributeRef], list[AttributeRef]]:
    """What run ``resume`` read, and what was asked (``given``, else the same), checked against it."""
    row = head_end.store.run(resume)
    if row is None:
        raise click.BadParameter(f"no run {resume} in the database", param_hint="--resume")
    stored = _attributes((row.attributes,)) if row.attributes != "(associate)" else []
    if not stored:
        raise click.BadParameter(f"run {resume} read no attributes", param_hint="--resume")
    if not given:
        return stored, stored
    try:
        requested = resolve(given, {bytes(a.logical_name): a.class_id for a in stored})
    except click.ClickException:
        requested = []
    wanted = with_scaler_units(requested) if scaled else requested
    if [str(a) for a in wanted] != [str(a) for a in stored]:
        raise click.BadParameter(f"run {resume} read {row.attributes}; give no --obis (or the same)")
    return stored, requested


@hes_group.command("collect")
@_common
@_throttle_options
@click.option(
    "--obis", "obis", multiple=True, help="OBIS[:ATTR] or CLASS/OBIS/ATTR; repeat or separate with commas."
)
@class_id_option
@click.option(
    "--group", type=int, help="Read the members of this group with one group request per attribute."
)
@click.option("--window", default=5.0, show_default=True, help="--group: response window in seconds.")
@click.option(
    "--member",
    multiple=True,
    metavar="SYSTEM_TITLE",
    help="--group: a meter expected to answer (repeat; default: every registered meter).",
)
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, path_type=Path), help="Also write a CSV.")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@click.option("--rows", is_flag=True, help="With --json: one JSON line per reading before the summary.")
@click.option(
    "--no-scaler", is_flag=True, help="Do not read the registers' scaler_unit (values unscaled, no unit)."
)
@click.option("--resume", type=int, help="Continue this run: read only the meters without a reading in it.")
@click.option(
    "--grace",
    type=click.FloatRange(0),
    default=2.0,
    show_default=True,
    help="On SIGINT/SIGTERM: seconds for the requests in flight (a second signal: none).",
)
@click.option(
    "--enqueue", is_flag=True, help="Only queue one job per meter for `hes worker` (prints the run)."
)
@click.pass_context
@reported
def collect_command(
    ctx: click.Context,
    db: str,
    bind: EndpointValue,
    port: int | None,
    as_json: bool,
    key_file: Path | None,
    test_keys: bool,
    ek: str | None,
    ak: str | None,
    broadcast_key: str | None,
    master_key: str | None,
    accept_plain_registrations: bool,
    trace: bool,
    pcap: Path | None,
    metrics_port: int | None,
    max_in_flight: int,
    max_per_prefix: int,
    max_per_router: int,
    timeout: float,
    retries: int,
    rto_min: float,
    rto_max: float,
    rto_initial: float,
    fixed_timers: bool,
    listen_first: float,
    gateway: EndpointValue | None,
    obis: tuple[str, ...],
    class_id: int | None,
    group: int | None,
    window: float,
    member: tuple[str, ...],
    csv_path: Path | None,
    no_progress: bool,
    rows: bool,
    no_scaler: bool,
    resume: int | None,
    grace: float,
    enqueue: bool,
) -> None:
    """Read attributes from every registered meter.

    Each meter gets one throttled request (association first if needed, then one GET, or a
    GET-with-list for several attributes); timeouts are learned from the round trips and retried with
    back-off, concurrency adapts to loss (decision 0080). Readings are committed to the ``readings``
    table of --db as they arrive (every 200 rows or second) and, with --csv, written to a CSV file at
    the end. SIGINT / SIGTERM stop cleanly: no new requests, --grace seconds for those in flight,
    readings and the run summary stored, exit 130 / 143; --resume RUN then reads the rest. With --group
    the attributes are read with group requests instead (see ``hes broadcast``); every registered meter
    (or each --member) is expected to answer, and the exit status is 1 when one did not (named in the
    summary). An OBIS code without its class takes --class-id, else the class in the object list of
    one of the meters (read once per run).

    \b
    Examples:
      cosemnet hes collect --obis 1-0:1.8.0*255 --listen-first 30
      cosemnet hes collect --obis 1-0:1.8.0*255,1-0:2.8.0*255 --csv readings.csv --json
      cosemnet hes collect --resume 12 --json
      cosemnet hes collect --group 3 --member 4D4D4D0000000001 --member 4D4D4D0000000002 --obis 1-0:1.8.0
    """
    if not obis and resume is None:
        raise click.BadParameter("give at least one attribute", param_hint="--obis")
    specs = parse_specs(obis, class_id) if obis else []
    if member and group is None:
        raise click.BadParameter("needs --group", param_hint="--member")
    scaled = not no_scaler and group is None
    if enqueue or uses_shared_storage(db):  # queued for `hes worker` (decision 0120)
        _enqueue(ctx, db, specs, scaled, as_json, enqueue=enqueue, resume=resume, group=group)
    throttle = _throttle_config(
        max_in_flight,
        max_per_prefix,
        max_per_router,
        timeout,
        retries,
        rto_min,
        rto_max,
        rto_initial,
        fixed_timers,
    )
    keys = load_hes_keys(
        key_file, test_keys, ek, ak, broadcast_key, master_key, needs_broadcast=group is not None
    )
    check_csv_path(csv_path)
    stop = Stop()
    with _observation(trace, pcap, metrics_port, bind, keys) as observation:
        head_end = _open(
            db, keys, throttle, accept_plain=accept_plain_registrations, must_exist=resume is not None
        )
        resumed = _resume_or_close(head_end, resume, specs, scaled) if resume is not None else None
        plan = _CollectPlan(specs, scaled, resumed, group, window, grace, resume, listen_first, csv_path)
        plan.members = [_title(m) for m in member] or None
        summary = asyncio.run(
            _collect(head_end, observation, plan, stop, bind, port, gateway, as_json, rows, no_progress)
        )
        count_meters(observation, summary)
    status = print_group_summary(summary, as_json) if group is not None else None
    if status is None:
        status = print_collect_summary(summary, as_json)
    ctx.exit(stop.exit_code or status)


def _enqueue(
    ctx: click.Context,
    db: str,
    specs: list[AttributeSpecValue],
    scaled: bool,
    as_json: bool,
    *,
    enqueue: bool,
    resume: int | None,
    group: int | None,
) -> None:
    """``collect --enqueue`` (or any collect on the shared storage): the jobs for ``hes worker``, then
    exit; the classes must be given, as nothing is read from a meter here."""
    if needs_lookup(specs):
        raise click.BadParameter(
            "a queued collect does not read object lists: give CLASS/OBIS/ATTR or --class-id",
            param_hint="--obis",
        )
    requested = resolve(specs, {})
    attributes = with_scaler_units(requested) if scaled else requested
    enqueue_if_shared(ctx, db, attributes, as_json, enqueue=enqueue, resume=resume, group=group)


@dataclass(slots=True)
class _CollectPlan:
    """What one ``hes collect`` reads, and how."""

    specs: list[AttributeSpecValue]
    scaled: bool
    resumed: tuple[list[AttributeRef], list[AttributeRef]] | None
    """With --resume: what the run read, and what was asked."""
    group: int | None
    window: float
    grace: float
    resume: int | None
    listen_first: float
    csv_path: Path | None
    members: list[bytes] | None = None
    """--group: the meters expected to answer (None: every registered meter)."""


async def _collect(
    head_end: HeadEnd,
    observation: MeshObservation,
    plan: _CollectPlan,
    stop: Stop,
    bind: EndpointValue,
    port: int | None,
    gateway: EndpointValue | None,
    as_json: bool,
    rows: bool,
    no_progress: bool,
) -> dict[str, Any]:
    """The run of ``hes collect``; its summary."""
    stop.install()
    service = HeadEndService(head_end, group_gateway=_gateway(gateway), observer=observation.observer)
    await _start(service, bind, port)
    try:
        if plan.listen_first > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.first.wait(), plan.listen_first)
        if stop.signals:
            return {"stopped": stop.reason, "run_id": None}
        if plan.resumed is not None:
            attributes, requested = plan.resumed
        elif needs_lookup(plan.specs) and no_meter(service):  # nothing to read: an empty run
            return collect_summary(await service.collect([]), 0.0)
        else:
            requested = await resolve_specs(service, plan.specs)
            attributes = with_scaler_units(requested) if plan.scaled else requested
        if plan.group is not None:
            return await group_read(service, plan.group, attributes, plan.window, plan.members)
        started = time.perf_counter()
        run = await collect_with_progress(
            service, attributes, stop, plan.grace, plan.resume, show=not (no_progress or as_json)
        )
        write_readings(head_end, run.run_id, requested, plan.csv_path, as_json and rows)
        return collect_summary(run, time.perf_counter() - started)
    finally:
        await service.close()
        head_end.book.close()


def _resume_or_close(
    head_end: HeadEnd, resume: int, given: list[AttributeSpecValue], scaled: bool
) -> tuple[list[AttributeRef], list[AttributeRef]]:
    """:func:`_resume_attributes` (closing the head-end when the run cannot be resumed)."""
    try:
        return _resume_attributes(head_end, resume, given, scaled)
    except click.BadParameter:
        head_end.close()
        head_end.book.close()
        raise


@hes_group.command("broadcast")
@_common
@_throttle_options
@click.option("--group", type=int, required=True, help="Group id (0 = every meter).")
@click.option("--obis", required=True, help="OBIS[:ATTR] or CLASS/OBIS/ATTR to GET.")
@class_id_option
@click.option("--window", default=5.0, show_default=True, help="Response window in seconds (plus 2 s grace).")
@click.option(
    "--associate/--no-associate",
    default=True,
    show_default=True,
    help="Associate with registered meters first (members answer inside their association).",
)
@reported
def broadcast_command(
    db: str,
    bind: EndpointValue,
    port: int | None,
    as_json: bool,
    key_file: Path | None,
    test_keys: bool,
    ek: str | None,
    ak: str | None,
    broadcast_key: str | None,
    master_key: str | None,
    accept_plain_registrations: bool,
    trace: bool,
    pcap: Path | None,
    metrics_port: int | None,
    max_in_flight: int,
    max_per_prefix: int,
    max_per_router: int,
    timeout: float,
    retries: int,
    rto_min: float,
    rto_max: float,
    rto_initial: float,
    fixed_timers: bool,
    listen_first: float,
    gateway: EndpointValue | None,
    group: int,
    obis: str,
    class_id: int | None,
    window: float,
    associate: bool,
) -> None:
    """Send one GET to a group's multicast address (wPort 127, broadcast key) and report who answered.

    Every registered meter is expected; members that answer are "answered", the others "missing"
    (for conditional groups, read "missing" as "not a member or lost"). Exits 1 when a meter is
    missing, late, answered with an error or could not be associated (each named), else 0.

    \b
    Example:
      cosemnet hes broadcast --group 0 --obis 0-0:96.1.0*255 --window 30 --json
    """
    (spec,) = parse_specs((obis,), class_id)[:1]
    throttle = _throttle_config(
        max_in_flight,
        max_per_prefix,
        max_per_router,
        timeout,
        retries,
        rto_min,
        rto_max,
        rto_initial,
        fixed_timers,
    )
    keys = load_hes_keys(key_file, test_keys, ek, ak, broadcast_key, master_key)

    async def main(head_end: HeadEnd, observation: MeshObservation) -> dict[str, Any]:
        service = HeadEndService(head_end, group_gateway=_gateway(gateway), observer=observation.observer)
        await _start(service, bind, port)
        try:
            await _listen_for(service, listen_first)
            setup = await service.collect([]) if associate else None
            (attribute,) = await resolve_specs(service, [spec])
            run = await service.broadcast(group, attribute, ResponseWindow.seconds(0, window))
            report = head_end.broadcast_report(run)
            return broadcast_summary(run, report, setup.failed if setup is not None else {})
        finally:
            await service.close()
            head_end.book.close()

    with _observation(trace, pcap, metrics_port, bind, keys) as observation:
        head_end = _open(db, keys, throttle, accept_plain=accept_plain_registrations)
        summary = asyncio.run(main(head_end, observation))
    status = print_broadcast_summary(summary, as_json)
    if status:
        sys.exit(status)


@hes_group.command("lookup")
@click.argument("system_title")
@click.option("--db", "db", default=DEFAULT_DB, show_default=True, help="SQLite database file.")
@click.option("--history", "show_history", is_flag=True, help="Also list the binding's changes.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@reported
def lookup_command(system_title: str, db: str, show_history: bool, as_json: bool) -> None:
    """Show the current address(es), wPort, UDP port and last seen time of a meter.

    \b
    Example:
      cosemnet hes lookup 4D4D4D0000BC614E --db hes.db --history
    """
    title = _title(system_title)
    existing_db(db)
    try:
        book = AddressBook(db)
    except AddressBookError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        entry = book.lookup(title)
        if entry is None:
            raise click.ClickException(f"{title.hex().upper()} is not in {db}")
        history = book.history(title) if show_history else []
    finally:
        book.close()
    if as_json:
        data: dict[str, Any] = {
            "system_title": title.hex().upper(),
            **json.loads(entry.binding.to_json()),
            "first_seen": entry.first_seen,
            "last_seen": entry.last_seen,
            "last_sequence": entry.last_sequence,
            "messages": entry.messages,
        }
        if show_history:
            data["history"] = [
                {
                    "at": h.at,
                    "reason": h.reason.name.lower(),
                    "sequence_number": h.sequence_number,
                    "old": None if h.old is None else json.loads(h.old.to_json()),
                    "new": json.loads(h.new.to_json()),
                }
                for h in history
            ]
        click.echo(json.dumps(data))
        return
    click.echo(entry.describe())
    for h in history:
        addresses = ", ".join(a.address.compressed for a in h.new.addresses)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(h.at))
        click.echo(
            f"history        {stamp}  {h.reason.name.lower():<14} seq {h.sequence_number}  {addresses}"
        )


hes_group.add_command(readings_command)
import cosemnet.cli.hes_firmware  # noqa: E402  (registers `hes firmware`)
import cosemnet.cli.hes_keys  # noqa: E402  (registers `hes rotate-broadcast-key` and `hes retire`)

hes_group.add_command(worker_command)
import cosemnet.cli.hes_ops  # noqa: E402, F401  (registers `hes set` and `hes action`)
from cosemnet.cli import hes_schedule as _hes_schedule  # noqa: E402, F401  (registers `hes run` and `hes profile`)
