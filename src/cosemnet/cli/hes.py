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
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

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
from cosemnet.cli.hes_output import reading_rows, with_scaler_units, write_rows_csv
from cosemnet.cli.hes_readings import readings_command
from cosemnet.cli.hes_worker import (
    enqueue_if_shared,
    open_shared_listener,
    uses_shared_storage,
    worker_command,
)
from cosemnet.cli.params import (
    EXIT_OK,
    EXIT_PARTIAL,
    Endpoint,
    EndpointValue,
    describe_os_error,
    parse_attribute_spec,
)
from cosemnet.cli.signals import on_signals, stop_on_signals
from cosemnet.headend import (
    AttributeRef,
    CollectRun,
    HeadEnd,
    HeadEndConfig,
    HeadEndService,
    KeyStore,
    ReadingRow,
    RegistrationEvent,
)
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


_BARE = 0x7FFF  # no ":ATTR" given (outside the attribute range -128..127)


def _attribute(text: str) -> AttributeRef:
    """``CLASS/OBIS/ATTR`` (CLASS a number or a name such as Register), ``OBIS`` (class 3, attribute 2) or
    ``CLASS/OBIS:ATTR`` ... through the one grammar of cli/params.py; ``OBIS:ATTR`` needs the class."""
    try:
        spec = parse_attribute_spec(text, default_attribute=_BARE)
    except ValueError as exc:
        raise click.BadParameter(f"bad attribute {text.strip()!r}: {exc}", param_hint="--obis") from None
    if spec.attribute_id == _BARE:  # a bare OBIS: the value of a Register, as always (AttributeRef.parse)
        return AttributeRef(3, spec.logical_name, 2)
    if spec.class_id is None:
        raise click.BadParameter(
            f"{text.strip()!r}: give the class, as CLASS/OBIS/ATTR (e.g. 3/{spec.logical_name}/"
            f"{spec.attribute_id}): the head-end cannot look it up in each meter's object list",
            param_hint="--obis",
        )
    return AttributeRef(spec.class_id, spec.logical_name, spec.attribute_id)


def _attributes(values: tuple[str, ...]) -> list[AttributeRef]:
    out = [_attribute(part) for v in values for part in v.split(",") if part.strip()]
    if not out:
        raise click.BadParameter("give at least one attribute", param_hint="--obis")
    return out


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
    ]
    for option in reversed(options):
        f = option(f)
    return f


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
    duration: float | None,
) -> None:
    """Serve meter registrations and address updates into the address book.

    Prints one line per registration (``--json``: one JSON object per line) and confirms each one to
    the meter, and one line per authenticated push (alarms, events: stored, see ``hes events``). Runs
    until Ctrl-C or ``--duration`` seconds.
    """
    keys = load_hes_keys(key_file, test_keys, ek, ak, broadcast_key, master_key, needs_broadcast=False)
    if uses_shared_storage(db):  # registrations into the shared storage: every worker sees them
        head_end = open_shared_listener(db, keys, accept_plain=accept_plain_registrations)
    else:
        head_end = _open(db, keys, accept_plain=accept_plain_registrations)

    async def main() -> None:
        service = HeadEndService(head_end)
        head_end.on_registration = lambda e: click.echo(_registration_line(e, as_json))
        head_end.on_push = lambda e: click.echo(json.dumps(e.to_json()) if as_json else e.describe())
        await _start(service, bind, port)
        host, bound = service.local_address
        click.echo(
            json.dumps({"event": "listening", "address": host, "port": bound})
            if as_json
            else f"listening on udp [{host}]:{bound}, {len(head_end.book)} meters in {db}"
        )
        sys.stdout.flush()
        stop = stop_on_signals()
        try:
            if duration is None:
                await stop.wait()
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), duration)
        finally:
            await service.close()
            head_end.book.close()

    asyncio.run(main())


@dataclass(slots=True)
class _Stop:
    """SIGINT / SIGTERM during a collect (decision 0081): the first one stops starting requests and
    gives those in flight a grace period, a second one ends the run at once (after the flush)."""

    signals: list[int] = field(default_factory=list)
    first: asyncio.Event = field(default_factory=asyncio.Event)
    second: asyncio.Event = field(default_factory=asyncio.Event)
    on_signal: Callable[[], None] | None = None

    def install(self) -> None:
        on_signals(self._received)

    def _received(self, sig: int) -> None:
        self.signals.append(int(sig))
        (self.second if self.first.is_set() else self.first).set()
        if self.on_signal is not None:
            self.on_signal()

    @property
    def reason(self) -> str | None:
        return signal.Signals(self.signals[0]).name if self.signals else None

    @property
    def exit_code(self) -> int:
        """128 + the first signal: 130 for SIGINT, 143 for SIGTERM (shell convention)."""
        return 128 + self.signals[0] if self.signals else 0


async def _wait_event(event: asyncio.Event) -> None:
    await event.wait()


async def _until(event: asyncio.Event, task: asyncio.Future[None], timeout: float | None = None) -> None:
    """Wait until ``task`` ends, ``event`` is set or ``timeout`` passes."""
    waiter: asyncio.Future[None] = asyncio.ensure_future(_wait_event(event))
    try:
        await asyncio.wait({waiter, task}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()


async def _run_collect(
    service: HeadEndService,
    attributes: list[AttributeRef],
    stop: _Stop,
    grace: float,
    resume: int | None,
    on_progress: Callable[[CollectRun], None] | None,
) -> CollectRun:
    """One collect that stops cleanly on a signal: no new requests, ``grace`` seconds for those in
    flight, then the rest is abandoned; readings are committed as they arrive (decision 0081)."""
    run = service.start_collect(attributes, on_progress=on_progress, resume=resume)
    finished = asyncio.ensure_future(service.wait_run(run))
    try:
        await _until(stop.first, finished)
        if not run.finished:
            service.stop_collect(run, stop.reason or "stopped")
            await _until(stop.second, finished, grace)
        if not run.finished:
            service.abandon_collect(run, stop.reason or "stopped")
    finally:
        finished.cancel()
    return run


def _collect_attributes(
    obis: tuple[str, ...], resume: int | None, scaled: bool
) -> tuple[list[AttributeRef], list[AttributeRef]]:
    """What the user asked for, and what to read (with the registers' scaler_unit when ``scaled``)."""
    if not obis and resume is None:
        raise click.BadParameter("give at least one attribute", param_hint="--obis")
    requested = _attributes(obis) if obis else []
    return requested, with_scaler_units(requested) if scaled else requested


def _resume_attributes(head_end: HeadEnd, resume: int, given: list[AttributeRef]) -> list[AttributeRef]:
    row = head_end.store.run(resume)
    if row is None:
        raise click.BadParameter(f"no run {resume} in the database", param_hint="--resume")
    stored = _attributes((row.attributes,)) if row.attributes != "(associate)" else []
    if given and [str(a) for a in given] != [str(a) for a in stored]:
        raise click.BadParameter(f"run {resume} read {row.attributes}; give no --obis (or the same)")
    if not stored:
        raise click.BadParameter(f"run {resume} read no attributes", param_hint="--resume")
    return stored


def _summary(run: CollectRun, elapsed: float) -> dict[str, Any]:
    return {
        "run_id": run.run_id,
        "meters": run.total + run.resumed_answered,
        "answered": run.answered,
        "failed": len(run.failed),
        "not_attempted": run.not_attempted + run.interrupted,
        "interrupted": run.interrupted,
        "stopped": run.stopped,
        "seconds": round(elapsed, 3),
        "meters_per_second": round(len(run.results) / elapsed, 1) if elapsed > 0 else None,
        "failures": {t.hex().upper(): reason for t, reason in sorted(run.failed.items())},
    }


@hes_group.command("collect")
@_common
@_throttle_options
@click.option("--obis", "obis", multiple=True, help="OBIS (class 3 attr 2) or CLASS/OBIS/ATTR.")
@click.option(
    "--group", type=int, help="Read the members of this group with one group request per attribute."
)
@click.option("--window", default=5.0, show_default=True, help="--group: response window in seconds.")
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
    group: int | None,
    window: float,
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
    the attributes are read with group requests instead (see ``hes broadcast``).

    \b
    Examples:
      cosemnet hes collect --obis 1-0:1.8.0*255 --listen-first 30
      cosemnet hes collect --obis 1-0:1.8.0*255,1-0:2.8.0*255 --csv readings.csv --json
      cosemnet hes collect --resume 12 --json
    """
    requested, attributes = _collect_attributes(obis, resume, scaled=not no_scaler and group is None)
    enqueue_if_shared(ctx, db, attributes, as_json, enqueue=enqueue, resume=resume, group=group)  # 0120
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
    head_end = _open(
        db, keys, throttle, accept_plain=accept_plain_registrations, must_exist=resume is not None
    )
    if resume is not None:
        attributes = _resume_or_close(head_end, resume, attributes)
        requested = requested or attributes
    stop = _Stop()

    async def main() -> dict[str, Any]:
        stop.install()
        service = HeadEndService(head_end, group_gateway=_gateway(gateway))
        await _start(service, bind, port)
        try:
            if listen_first > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.first.wait(), listen_first)
            if stop.signals:
                return {"stopped": stop.reason, "run_id": None}
            if group is not None:
                return await _group_read(service, group, attributes, window)
            started = time.perf_counter()
            run = await _collect_with_progress(
                service, attributes, stop, grace, resume, show=not (no_progress or as_json)
            )
            _write_readings(head_end, run.run_id, requested, csv_path, as_json and rows)
            return _summary(run, time.perf_counter() - started)
        finally:
            await service.close()
            head_end.book.close()

    summary = asyncio.run(main())
    status = _print_collect_summary(summary, as_json)
    ctx.exit(stop.exit_code or status)


async def _collect_with_progress(
    service: HeadEndService,
    attributes: list[AttributeRef],
    stop: _Stop,
    grace: float,
    resume: int | None,
    show: bool,
) -> CollectRun:
    """One collect run, with a progress bar on stderr when ``show``."""
    if not show:
        return await _run_collect(service, attributes, stop, grace, resume, None)
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        transient=False,
        console=Console(stderr=True),
    ) as progress:
        task = progress.add_task("collecting", total=len(service.head_end.book))
        return await _run_collect(
            service,
            attributes,
            stop,
            grace,
            resume,
            lambda r: progress.update(task, completed=r.done, total=r.total),
        )


def _resume_or_close(head_end: HeadEnd, resume: int, given: list[AttributeRef]) -> list[AttributeRef]:
    """The attributes of run ``resume`` (closing the head-end when it cannot be resumed)."""
    try:
        return _resume_attributes(head_end, resume, given)
    except click.BadParameter:
        head_end.close()
        head_end.book.close()
        raise


def _write_readings(
    head_end: HeadEnd, run_id: int, requested: list[AttributeRef], csv_path: Path | None, json_rows: bool
) -> None:
    """The run's readings as CSV (``csv_path``) and/or JSON lines on stdout: ISO 8601, scaled, units."""
    if csv_path is None and not json_rows:
        return
    shown = list(reading_rows(head_end.store.readings(run_id), requested))
    if csv_path is not None:
        with csv_path.open("w", newline="") as out:
            write_rows_csv(shown, out)
    for row in shown if json_rows else []:
        click.echo(json.dumps(row))


def _print_collect_summary(summary: dict[str, Any], as_json: bool) -> int:
    """Print the summary; the exit status: 1 when a meter failed or was not read (the summary names
    them), else 0."""
    if as_json:
        click.echo(json.dumps(summary))
    else:
        for key, value in summary.items():
            if key != "failures":
                click.echo(f"{key:<18} {value}")
        for title, reason in summary.get("failures", {}).items():
            click.echo(f"failed  {title}  {reason}")
    sys.stdout.flush()
    return EXIT_PARTIAL if summary.get("failed") or summary.get("not_attempted") else EXIT_OK


async def _group_read(
    service: HeadEndService, group: int, attributes: list[AttributeRef], window: float
) -> dict[str, Any]:
    head_end = service.head_end
    setup = await service.collect([])  # members answer inside their association (0027)
    out: dict[str, Any] = {"group": group, "associated": len(setup.results), "attributes": []}
    label = ",".join(str(a) for a in attributes)
    run_id = head_end.store.start_run(f"group {group}: {label}", len(setup.results) + len(setup.failed))
    out["run_id"] = run_id
    rows: list[ReadingRow] = []
    for attribute in attributes:
        run = await service.broadcast(group, attribute, ResponseWindow.seconds(0, window))
        report = head_end.broadcast_report(run)
        now = time.time()
        for title, value in run.values.items():
            error = value if isinstance(value, str) else None
            rows.append(
                ReadingRow.of_value(
                    run_id,
                    title,
                    attribute.class_id,
                    str(attribute.logical_name),
                    attribute.attribute_id,
                    now,
                    None if error else value,
                    error,
                )
            )
        out["attributes"].append(
            {
                "attribute": str(attribute),
                "answered": len(report.answered),
                "unexpected": len(report.unexpected),
                "missing": len(report.missing),
                "late": len(report.late),
                "duplicates": report.duplicates,
            }
        )
    head_end.store.add_readings(rows)
    head_end.store.finish_run(run_id, len({r.system_title for r in rows}), 0)
    return out


@hes_group.command("broadcast")
@_common
@_throttle_options
@click.option("--group", type=int, required=True, help="Group id (0 = every meter).")
@click.option("--obis", required=True, help="OBIS (class 3 attr 2) or CLASS/OBIS/ATTR to GET.")
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
    window: float,
    associate: bool,
) -> None:
    """Send one GET to a group's multicast address (wPort 127, broadcast key) and report who answered.

    Every registered meter is expected; members that answer are "answered", the others "missing"
    (for conditional groups, read "missing" as "not a member or lost").

    \b
    Example:
      cosemnet hes broadcast --group 0 --obis 0-0:96.1.0*255 --window 30 --json
    """
    (attribute,) = _attributes((obis,))[:1]
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
    head_end = _open(db, keys, throttle, accept_plain=accept_plain_registrations)

    async def main() -> dict[str, Any]:
        service = HeadEndService(head_end, group_gateway=_gateway(gateway))
        await _start(service, bind, port)
        try:
            await _listen_for(service, listen_first)
            if associate:
                await service.collect([])
            run = await service.broadcast(group, attribute, ResponseWindow.seconds(0, window))
            report = head_end.broadcast_report(run)
            return {
                "group": group,
                "address": run.address.compressed,
                "attribute": str(attribute),
                "answered": {t.hex().upper(): _show(run.values.get(t)) for t in sorted(report.answered)},
                "missing": sorted(t.hex().upper() for t in report.missing),
                "late": sorted(t.hex().upper() for t in report.late),
                "unexpected": sorted(t.hex().upper() for t in report.unexpected),
                "duplicates": report.duplicates,
            }
        finally:
            await service.close()
            head_end.book.close()

    summary = asyncio.run(main())
    if as_json:
        click.echo(json.dumps(summary))
        return
    click.echo(f"group {summary['group']} ({summary['address']}), {summary['attribute']}")
    for title, value in summary["answered"].items():
        click.echo(f"answered  {title}  {value}")
    for kind in ("missing", "late", "unexpected"):
        for title in summary[kind]:
            click.echo(f"{kind:<9} {title}")
    click.echo(
        f"{len(summary['answered'])} answered, {len(summary['missing'])} missing, "
        f"{len(summary['late'])} late, {summary['duplicates']} duplicates dropped"
    )


def _show(value: object) -> object:
    if isinstance(value, bytes):
        return value.hex().upper()
    if isinstance(value, int | float | str) or value is None:
        return value if not isinstance(value, int) else int(value)
    return str(value)


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
hes_group.add_command(worker_command)
import cosemnet.cli.hes_ops  # noqa: E402, F401  (registers `hes set` and `hes action`)
