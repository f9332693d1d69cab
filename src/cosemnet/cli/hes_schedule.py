"""``cosemnet hes run --schedule FILE``: the head-end running scheduled collection (daily profiles,
15-minute registers; :mod:`cosemnet.headend.schedule`), and ``cosemnet hes profile``: the load profile
rows it stored (issue 12 item 4; docs/decisions/0122)."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import datetime as _dt
import json
import sys
from pathlib import Path
from typing import Any

import click

from cosemnet.cli.hes import DEFAULT_DB, _common, _gateway, _observation, _open, _start, _title, hes_group
from cosemnet.cli.hes_common import existing_db, load_hes_keys, reported
from cosemnet.cli.hes_common import throttle_config as _throttle_config
from cosemnet.cli.hes_common import throttle_options as _throttle_options
from cosemnet.cli.params import EndpointValue
from cosemnet.cli.signals import SignalStop, on_signals
from cosemnet.client.objects import unit_symbol
from cosemnet.codec.obis import Obis
from cosemnet.errors import DecodeError
from cosemnet.headend import HeadEndService, HeadEndStore
from cosemnet.headend.profiles import ProfileConfig, collect_profile, wait_runs
from cosemnet.headend.schedule import Job, ScheduleError, Scheduler, load_schedule

__all__ = ["profile_command", "run_command"]


def _iso(at: float) -> str:
    return _dt.datetime.fromtimestamp(at, _dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def _run_job(service: HeadEndService, job: Job, stop: SignalStop, grace: float) -> dict[str, Any]:
    """One run of ``job``; its summary (``failed``: meters without an answer)."""
    started = service.clock()
    line: dict[str, Any] = {"job": job.name, "kind": job.kind, "started": _iso(started)}
    if job.kind == "profile":
        assert job.obis is not None
        config = ProfileConfig() if job.backfill is None else ProfileConfig(backfill=job.backfill)
        report = await collect_profile(service, job.obis, config=config, stop=stop, grace=grace)
        line |= report.as_dict()
    else:
        run = service.start_collect(list(job.attributes))
        await wait_runs(service, [run], stop, grace)
        line |= {
            "run_id": run.run_id,
            "meters": run.total,
            "answered": len(run.results),
            "failed": {t.hex().upper(): r for t, r in sorted(run.failed.items())},
        }
    if stop.name is not None:
        line["stopped"] = stop.name
    line["seconds"] = round(service.clock() - started, 3)
    return line


def _echo(line: dict[str, Any], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(line))
        return
    counts = "  ".join(
        f"{k}={v}"
        for k, v in line.items()
        if k not in ("job", "kind", "started", "failed", "runs") and v not in (None, 0, {})
    )
    click.echo(f"{line['started']}  {line['job']} ({line['kind']})  {counts}")
    for title, reason in line.get("failed", {}).items():
        click.echo(f"  failed  {title}  {reason}")


async def _serve(
    service: HeadEndService, jobs: list[Job], once: bool, stop: SignalStop, grace: float, as_json: bool
) -> int:
    """Run the jobs (every one once, or each when due until a signal); the number of job runs that
    left a meter without an answer."""
    partial = 0

    async def run(job: Job) -> None:
        nonlocal partial
        line = await _run_job(service, job, stop, grace)
        partial += bool(line.get("failed"))
        _echo(line, as_json)

    if once:
        for job in jobs:
            if not stop.is_set():
                await run(job)
        return partial
    scheduler = Scheduler(jobs, service.clock())
    while not stop.is_set():
        deadline = scheduler.get_timer()
        delay = None if deadline is None else max(0.0, deadline - service.clock())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
        for job in scheduler.due(service.clock()):
            if stop.is_set():
                break
            await run(job)
            scheduler.finished(job, service.clock())
    return partial


@hes_group.command("run")
@_common
@_throttle_options
@click.option(
    "--schedule",
    "schedule_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="TOML schedule file ([[job]] entries).",
)
@click.option("--once", is_flag=True, help="Run every job once, in file order, and exit (tests, cron).")
@click.option(
    "--grace",
    type=click.FloatRange(0),
    default=2.0,
    show_default=True,
    help="On SIGINT/SIGTERM: seconds for the requests in flight.",
)
@click.pass_context
@reported
def run_command(
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
    schedule_path: Path,
    once: bool,
    grace: float,
    **throttle: Any,
) -> None:
    """Run scheduled collection: load profiles read incrementally with gaps repaired, registers read
    every period (see docs/cli.md, "Scheduled collection").

    Each [[job]] of the schedule has a name, a kind (profile: obis; registers: attributes, as
    CLASS/OBIS/ATTR), every (15m, 1h, 1d) and optionally at (HH:MM UTC inside the period). A profile
    job reads, per meter, only the rows after the last one stored, then the gaps. One line per job run
    (JSON with --json). SIGINT / SIGTERM end the job in progress cleanly (what was received is stored)
    and exit 130 / 143; --once runs every job once and exits (1 when a meter was not read).

    \b
    Examples:
      cosemnet hes run --schedule hes-schedule.toml --keys keys.toml --listen-first 30
      cosemnet hes run --schedule hes-schedule.toml --keys keys.toml --once --json
    """
    try:
        jobs = load_schedule(str(schedule_path))
    except ScheduleError as exc:
        raise click.BadParameter(str(exc), param_hint="--schedule") from None
    listen_first = float(throttle.pop("listen_first"))
    gateway = throttle.pop("gateway")
    trace, pcap, metrics_port = throttle.pop("trace"), throttle.pop("pcap"), throttle.pop("metrics_port")
    keys = load_hes_keys(key_file, test_keys, ek, ak, broadcast_key, master_key, needs_broadcast=False)
    head_end = _open(db, keys, _throttle_config(**throttle), accept_plain=accept_plain_registrations)
    stop = SignalStop()
    observation = _observation(trace, pcap, metrics_port, bind, keys)

    async def main() -> int:
        on_signals(stop.receive)
        service = HeadEndService(head_end, group_gateway=_gateway(gateway), observer=observation.observer)
        await _start(service, bind, port)
        host, bound = service.local_address
        click.echo(f"listening on [{host}]:{bound}, {len(jobs)} job(s)", err=True)
        try:
            if listen_first > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), listen_first)
            return await _serve(service, jobs, once, stop, grace, as_json)
        finally:
            await service.close()
            head_end.book.close()

    with observation:
        partial = asyncio.run(main())
    ctx.exit(stop.exit_code or (1 if partial else 0))


_PROFILE_HEADER = ["system_title", "channel", "capture_time", "value", "unit"]


@hes_group.command("profile")
@click.option("--db", "db", default=DEFAULT_DB, show_default=True, help="SQLite database file.")
@click.option("--obis", default="1-0:99.1.0*255", show_default=True, help="The profile's logical name.")
@click.option("--meter", help="Only this meter (system title, 16 hex digits).")
@click.option("--since", help="Only rows captured at or after this time (ISO 8601, UTC when no offset).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per row.")
@click.option("--csv", "as_csv", is_flag=True, help="CSV on stdout.")
@reported
def profile_command(
    db: str, obis: str, meter: str | None, since: str | None, as_json: bool, as_csv: bool
) -> None:
    """Print the stored rows of a load profile (``hes run`` collects them): one line per meter,
    channel and capture time, the value with its scaler applied and its unit.

    \b
    Examples:
      cosemnet hes profile --db hes.db --meter 4D4D4D0000000001 --json
      cosemnet hes profile --db hes.db --obis 1-0:99.1.0*255 --since 2026-12-01T00:00 --csv
    """
    existing_db(db)
    try:
        profile = str(Obis.parse(obis))
    except (ValueError, DecodeError) as exc:
        raise click.BadParameter(str(exc), param_hint="--obis") from None
    start: float | None = None
    if since is not None:
        try:
            when = _dt.datetime.fromisoformat(since)
        except ValueError:
            raise click.BadParameter(f"{since!r} is not an ISO 8601 time", param_hint="--since") from None
        start = (when if when.tzinfo else when.replace(tzinfo=_dt.UTC)).timestamp()
    store = HeadEndStore(db)
    try:
        rows = store.profile_rows(profile, _title(meter) if meter else None, since=start)
    finally:
        store.close()
    writer = csv.writer(sys.stdout) if as_csv else None
    if writer is not None:
        writer.writerow(_PROFILE_HEADER)
    for r in rows:
        unit = "" if r.unit is None else unit_symbol(r.unit)
        fields = [r.system_title.hex().upper(), r.channel, _iso(r.capture_time), r.value, unit]
        if writer is not None:
            writer.writerow(fields)
        elif as_json:
            click.echo(json.dumps(dict(zip(_PROFILE_HEADER, fields, strict=True))))
        else:
            click.echo("  ".join(str(f) for f in fields))
