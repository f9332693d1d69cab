"""The run of ``hes collect``: a clean stop on signals, the progress bar, the readings written as CSV
or JSON lines, the summaries and their exit status (a collect and a group read, ``collect --group``).
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from cosemnet.cli.hes_observe import MeshObservation
from cosemnet.cli.hes_output import reading_rows, write_rows_csv
from cosemnet.cli.metrics import HeadEndMetrics
from cosemnet.cli.params import EXIT_OK, EXIT_PARTIAL
from cosemnet.cli.signals import on_signals
from cosemnet.headend import AttributeRef, CollectRun, HeadEnd, HeadEndService
from cosemnet.headend.runs import BroadcastRun
from cosemnet.headend.store import ReadingRow
from cosemnet.profiles.mesh import CollectionReport, ResponseWindow

__all__ = [
    "Stop",
    "broadcast_summary",
    "collect_summary",
    "collect_with_progress",
    "count_meters",
    "group_read",
    "print_broadcast_summary",
    "print_collect_summary",
    "print_group_summary",
    "run_collect",
    "write_readings",
]


@dataclass(slots=True)
class Stop:
    """SIGINT / SIGTERM during a collect (decision 0081): the first one stops starting requests and
    gives those in flight a grace period, a second one ends the run at once (after the flush)."""

    signals: list[int] = field(default_factory=list)
    first: asyncio.Event = field(default_factory=asyncio.Event)
    second: asyncio.Event = field(default_factory=asyncio.Event)
    on_signal: Callable[[], None] | None = None

    def install(self) -> None:
        """Install the SIGINT / SIGTERM handlers in the running loop."""
        on_signals(self._received)

    def _received(self, sig: int) -> None:
        self.signals.append(int(sig))
        (self.second if self.first.is_set() else self.first).set()
        if self.on_signal is not None:
            self.on_signal()

    @property
    def reason(self) -> str | None:
        """The first signal's name (``SIGINT``, ``SIGTERM``), or None."""
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


async def run_collect(
    service: HeadEndService,
    attributes: list[AttributeRef],
    stop: Stop,
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


def collect_summary(run: CollectRun, elapsed: float) -> dict[str, Any]:
    """The summary of a collect run (JSON-ready): counts, failures by system title, rate."""
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


def count_meters(observation: MeshObservation, summary: dict[str, Any]) -> None:
    """Add the run's answered / failed / not attempted meters to the metrics, if served."""
    metrics = observation.metrics
    if isinstance(metrics, HeadEndMetrics):
        for outcome in ("answered", "failed", "not_attempted"):
            value = summary.get(outcome)
            if isinstance(value, int) and value:
                metrics.meters.labels(outcome).inc(value)


async def collect_with_progress(
    service: HeadEndService,
    attributes: list[AttributeRef],
    stop: Stop,
    grace: float,
    resume: int | None,
    show: bool,
) -> CollectRun:
    """One collect run, with a progress bar on stderr when ``show``."""
    if not show:
        return await run_collect(service, attributes, stop, grace, resume, None)
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
        return await run_collect(
            service,
            attributes,
            stop,
            grace,
            resume,
            lambda r: progress.update(task, completed=r.done, total=r.total),
        )


def write_readings(
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


def print_collect_summary(summary: dict[str, Any], as_json: bool) -> int:
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


def answer_error(value: object) -> str | None:
    """The error of a group answer (``data-access-result ...``), or None for a value."""
    return value if isinstance(value, str) and value.startswith("data-access-result") else None


def _shown(value: object) -> object:
    if isinstance(value, bytes):
        return value.hex().upper()
    if isinstance(value, bool | float | str) or value is None:
        return value
    return int(value) if isinstance(value, int) else str(value)


def broadcast_summary(
    run: BroadcastRun, report: CollectionReport, not_associated: dict[bytes, str]
) -> dict[str, Any]:
    """What ``hes broadcast`` reports: who answered (and what), who is missing, late or unexpected,
    which answers were errors (``failed``) and which meters could not be associated first."""
    answered = {t: run.values.get(t) for t in sorted(report.answered)}
    return {
        "group": run.group_id,
        "address": run.address.compressed,
        "attribute": str(run.attribute),
        "answered": {t.hex().upper(): _shown(v) for t, v in answered.items() if answer_error(v) is None},
        "failed": {
            t.hex().upper(): error for t, v in answered.items() if (error := answer_error(v)) is not None
        },
        "missing": sorted(t.hex().upper() for t in report.missing),
        "late": sorted(t.hex().upper() for t in report.late),
        "unexpected": sorted(t.hex().upper() for t in report.unexpected),
        "duplicates": report.duplicates,
        "not_associated": {t.hex().upper(): reason for t, reason in sorted(not_associated.items())},
    }


def print_broadcast_summary(summary: dict[str, Any], as_json: bool) -> int:
    """The summary of ``hes broadcast``; exit status 1 when a meter was missing, late, answered with an
    error or could not be associated (each named), else 0."""
    if as_json:
        click.echo(json.dumps(summary))
    else:
        click.echo(f"group {summary['group']} ({summary['address']}), {summary['attribute']}")
        for title, value in summary["answered"].items():
            click.echo(f"answered  {title}  {value}")
        for title, reason in summary["failed"].items():
            click.echo(f"failed    {title}  {reason}")
        for kind in ("missing", "late", "unexpected"):
            for title in summary[kind]:
                click.echo(f"{kind:<9} {title}")
        for title, reason in summary["not_associated"].items():
            click.echo(f"not associated  {title}  {reason}")
        click.echo(
            f"{len(summary['answered'])} answered, {len(summary['failed'])} failed, "
            f"{len(summary['missing'])} missing, {len(summary['late'])} late, "
            f"{summary['duplicates']} duplicates dropped"
        )
    sys.stdout.flush()
    problems = ("failed", "missing", "late", "not_associated")
    return EXIT_PARTIAL if any(summary[kind] for kind in problems) else EXIT_OK


async def group_read(
    service: HeadEndService,
    group: int,
    attributes: list[AttributeRef],
    window: float,
    members: list[bytes] | None = None,
) -> dict[str, Any]:
    """Associate, then one group request per attribute; the summary names every member that did not
    answer (``missing``: silent or late) and every answer that was an error (``failed``). ``members``:
    the meters expected to answer (default: every registered meter, so for a conditional group the
    non-members are missing too)."""
    head_end = service.head_end
    setup = await service.collect([], system_titles=members)  # members answer inside their association
    out: dict[str, Any] = {"group": group, "associated": len(setup.results), "attributes": []}
    out["not_associated"] = {t.hex().upper(): reason for t, reason in sorted(setup.failed.items())}
    label = ",".join(str(a) for a in attributes)
    run_id = head_end.store.start_run(f"group {group}: {label}", len(setup.results) + len(setup.failed))
    out["run_id"] = run_id
    rows: list[ReadingRow] = []
    for attribute in attributes:
        run = await service.broadcast(group, attribute, ResponseWindow.seconds(0, window), expected=members)
        report = head_end.broadcast_report(run)
        now = time.time()
        failed: dict[str, str] = {}
        for title, value in run.values.items():
            error = answer_error(value)
            if error is not None:
                failed[title.hex().upper()] = error
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
                "missing": sorted(t.hex().upper() for t in (report.missing | set(report.late))),
                "late": len(report.late),
                "failed": failed,
                "duplicates": report.duplicates,
            }
        )
    head_end.store.add_readings(rows)
    head_end.store.finish_run(run_id, len({r.system_title for r in rows}), 0)
    return out


def print_group_summary(summary: dict[str, Any], as_json: bool) -> int:
    """The summary of ``collect --group``; exit status 1 when a member did not associate, did not answer
    or answered with an error (each named), else 0."""
    problems = bool(summary.get("not_associated"))
    for item in summary.get("attributes", []):
        problems = problems or bool(item["missing"] or item["failed"])
    if as_json:
        click.echo(json.dumps(summary))
    elif "attributes" not in summary:
        for key, value in summary.items():
            click.echo(f"{key:<18} {value}")
    else:
        click.echo(f"run_id             {summary['run_id']}")
        click.echo(f"group              {summary['group']}")
        click.echo(f"associated         {summary['associated']}")
        for title, reason in summary["not_associated"].items():
            click.echo(f"not associated  {title}  {reason}")
        for item in summary["attributes"]:
            click.echo(
                f"{item['attribute']}: {item['answered']} answered, {len(item['missing'])} missing, "
                f"{len(item['failed'])} failed, {item['late']} late, {item['unexpected']} unexpected"
            )
            for title in item["missing"]:
                click.echo(f"missing  {title}  {item['attribute']}")
            for title, reason in item["failed"].items():
                click.echo(f"failed  {title}  {item['attribute']}  {reason}")
    sys.stdout.flush()
    return EXIT_PARTIAL if problems else EXIT_OK
