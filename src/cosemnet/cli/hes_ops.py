"""``cosemnet hes set``, ``hes action`` and ``hes events``: SET an attribute or invoke a method on
meters; list the pushes they sent and the meters gone silent.

One meter, a list (``--meter`` repeated) or every registered meter, each through the throttle inside
its association; or a group (``--group``) with one request protected with the broadcast key, answers
collected during the response window. Each meter's result is stored in the ``operation_results``
table of ``--db`` (run, meter, target, result, time).
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from cosemnet.cli.hes import (
    DEFAULT_DB,
    _common,
    _gateway,
    _listen_for,
    _observation,
    _open,
    _start,
    _title,
    hes_group,
)
from cosemnet.cli.hes_classes import class_id_option, parse_specs, resolve_specs
from cosemnet.cli.hes_common import load_hes_keys, reported
from cosemnet.cli.hes_common import throttle_config as _throttle_config
from cosemnet.cli.hes_common import throttle_options as _throttle_options
from cosemnet.cli.hes_observe import MeshObservation
from cosemnet.cli.params import AttributeSpecValue
from cosemnet.codec.datetime import CosemDateTime
from cosemnet.codec.jsonform import JsonFormError, data_from_json
from cosemnet.codec.types import DataValue
from cosemnet.headend import AttributeRef, HeadEnd, HeadEndService, HeadEndStore
from cosemnet.headend.operations import Operation, OperationKind, OperationOutcome, record_run
from cosemnet.profiles.mesh import AddressBook, AddressBookError, ResponseWindow

__all__ = ["action_command", "events_command", "parse_value", "set_command"]

_NUMERIC = frozenset(
    {"integer", "long", "double-long", "long64", "unsigned", "long-unsigned", "enum"}
    | {"double-long-unsigned", "long64-unsigned"}
)


def parse_value(text: str | None) -> DataValue:
    """``--value``: our JSON form of Data (``{"long-unsigned": 5}``), a ``TYPE:VALUE`` shorthand
    (``integer:0``, ``octet-string:0102``, ``boolean:true``, ``visible-string:abc``), ``now`` (the
    host's time as a date-time octet-string, for the clock) or ``null``/absent (no value)."""
    if text is None or text.strip() == "null":
        return None
    text = text.strip()
    if text == "now":
        return CosemDateTime.from_datetime(_dt.datetime.now(_dt.UTC).astimezone()).to_bytes()
    if text.startswith("{"):
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            raise click.BadParameter(f"not JSON: {exc}", param_hint="--value") from None
    else:
        kind, sep, raw = text.partition(":")
        if not sep:
            raise click.BadParameter("JSON ({...}), TYPE:VALUE, now or null", param_hint="--value")
        payload: Any = raw
        if kind in _NUMERIC:
            try:
                payload = int(raw, 0)
            except ValueError:
                raise click.BadParameter(f"{raw!r} is not an integer", param_hint="--value") from None
        elif kind == "boolean":
            payload = raw.lower() in ("1", "true", "yes")
        obj = {kind: payload}
    try:
        return data_from_json(obj)
    except JsonFormError as exc:
        raise click.BadParameter(str(exc), param_hint="--value") from None


def _outcome_json(o: OperationOutcome) -> dict[str, Any]:
    return {"system_title": o.system_title.hex().upper(), "result": o.result, "detail": o.detail}


async def _unicast(service: HeadEndService, operation: Operation, titles: list[bytes] | None) -> int:
    ref = AttributeRef(operation.class_id, operation.logical_name, operation.index)
    run = await service.collect([ref], system_titles=titles, operation=operation)
    return run.run_id


async def _group(service: HeadEndService, operation: Operation, group: int, window: float) -> int:
    head_end = service.head_end
    setup = await service.collect([])  # members answer inside their association (0027)
    ref = AttributeRef(operation.class_id, operation.logical_name, operation.index)
    run_id = head_end.store.start_run(f"group {group}: {operation}", len(setup.results) + len(setup.failed))
    b = await service.broadcast(group, ref, ResponseWindow.seconds(0, window), operation=operation)
    report = head_end.broadcast_report(b)
    outcomes = list(b.outcomes.values())
    outcomes += [OperationOutcome(t, "no-answer", "not a member or lost") for t in sorted(report.missing)]
    record_run(head_end.store, run_id, operation, outcomes)
    head_end.store.finish_run(run_id, len(b.outcomes), 0)
    return run_id


def _run(kind: OperationKind, target: str, value: str | None, opts: dict[str, Any]) -> None:
    (spec,) = parse_specs((target,), opts["class_id"])[:1]
    data = parse_value(value)
    titles = [_title(t) for t in opts["meter"]] or None
    throttle = _throttle_config(
        *(opts[k] for k in ["max_in_flight", "max_per_prefix", "max_per_router", "timeout", "retries"]),
        *(opts[k] for k in ["rto_min", "rto_max", "rto_initial", "fixed_timers"]),
    )
    keys = load_hes_keys(
        opts["key_file"],
        opts["test_keys"],
        opts["ek"],
        opts["ak"],
        opts["broadcast_key"],
        opts["master_key"],
        needs_broadcast=opts["group"] is not None,
    )
    with _observation(opts["trace"], opts["pcap"], opts["metrics_port"], opts["bind"], keys) as observation:
        head_end: HeadEnd = _open(opts["db"], keys, throttle, accept_plain=opts["accept_plain_registrations"])
        head_end.config.release_on_exit = opts["release_on_exit"]
        run_id, operation = asyncio.run(_operate(head_end, observation, (kind, spec, data), titles, opts))
    _print(run_id, operation, opts)


async def _operate(
    head_end: HeadEnd,
    observation: MeshObservation,
    what: tuple[OperationKind, AttributeSpecValue, DataValue],
    titles: list[bytes] | None,
    opts: dict[str, Any],
) -> tuple[int, Operation]:
    """Run one SET or ACTION on meters (or a group); the run id and the operation (its class looked up
    in the object list of one of the meters when not given, cli/hes_classes.py)."""
    service = HeadEndService(head_end, group_gateway=_gateway(opts["gateway"]), observer=observation.observer)
    await _start(service, opts["bind"], opts["port"])
    try:
        await _listen_for(service, opts["listen_first"])
        kind, spec, data = what
        (ref,) = await resolve_specs(service, [spec], titles)
        operation = Operation(kind, ref.class_id, ref.logical_name, ref.attribute_id, data)
        if opts["group"] is not None:
            return await _group(service, operation, opts["group"], opts["window"]), operation
        return await _unicast(service, operation, titles), operation
    finally:
        await service.close()
        head_end.book.close()


def _print(run_id: int, operation: Operation, opts: dict[str, Any]) -> None:
    store = HeadEndStore(opts["db"])
    try:
        rows = store.operation_results(run_id)
    finally:
        store.close()
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.result] = counts.get(r.result, 0) + 1
    if opts["as_json"]:
        meters = [
            {"system_title": r.system_title.hex().upper(), "result": r.result, "detail": r.detail}
            for r in rows
        ]
        click.echo(
            json.dumps({"run_id": run_id, "operation": str(operation), "results": counts, "meters": meters})
        )
        return
    for r in rows:
        click.echo(f"{r.system_title.hex().upper()}  {r.result}" + (f"  ({r.detail})" if r.detail else ""))
    summary = ", ".join(f"{n} {name}" for name, n in sorted(counts.items())) or "no meter"
    click.echo(f"run {run_id}: {operation}: {summary}")


def _op_options(what: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    def wrap(f: Any) -> Any:
        options = [
            click.option(
                "--obis",
                "target",
                required=True,
                help=f"CLASS/OBIS/{what} or OBIS:{what} (as `hes collect`).",
            ),
            class_id_option,
            click.option("--value", help='JSON Data ({"integer": 0}), TYPE:VALUE, `now` or `null`.'),
            click.option(
                "--meter", multiple=True, help="System title (16 hex digits); repeat. Default: all."
            ),
            click.option("--group", type=int, help="Send one group request to this group instead."),
            click.option("--window", default=5.0, show_default=True, help="--group: response window (s)."),
            click.option(
                "--release-on-exit",
                is_flag=True,
                help="Release the associations (protected RLRQ) at the end.",
            ),
        ]
        for option in reversed(options):
            f = option(f)
        return f

    return wrap


@hes_group.command("set")
@_common
@_throttle_options
@_op_options("ATTR")
@reported
def set_command(target: str, value: str | None, **opts: Any) -> None:
    """SET one attribute on meters; each meter's result is stored (``operation_results``).

    \b
    Examples:
      cosemnet hes set --obis 8/0-0:1.0.0*255/2 --value now --meter 4D4D4D00000003E8
      cosemnet hes set --obis 1/0-0:96.1.1*255/2 --value octet-string:0102 --json
    """
    _run("set", target, value, opts)


@hes_group.command("action")
@_common
@_throttle_options
@_op_options("METHOD")
@reported
def action_command(target: str, value: str | None, **opts: Any) -> None:
    """Invoke one method on meters; each meter's result is stored (``operation_results``).

    \b
    Examples:
      cosemnet hes action --obis 70/0-0:96.3.10*255/1 --value integer:0 --meter 4D4D4D00000003E8
      cosemnet hes action --obis 70/0-0:96.3.10*255/2 --value integer:0 --group 3 --window 10
    """
    _run("action", target, value, opts)


@hes_group.command("events")
@click.option("--db", "db", default=DEFAULT_DB, show_default=True, help="SQLite database file.")
@click.option("--meter", help="Only this meter (system title, 16 hex digits).")
@click.option("--since", type=float, help="Only pushes received at or after this UNIX time.")
@click.option(
    "--silent", type=click.FloatRange(0), help="Also list the meters not seen for this many seconds."
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (JSON lines).")
@reported
def events_command(
    db: str, meter: str | None, since: float | None, silent: float | None, as_json: bool
) -> None:
    """List the pushes meters sent (alarms and events, authenticated only; ``hes listen`` stores them)
    and, with --silent, the meters whose last authenticated datagram is older than SECONDS.

    \b
    Examples:
      cosemnet hes events --db hes.db --json
      cosemnet hes events --db hes.db --silent 86400
    """
    if not Path(db).exists():
        raise click.ClickException(f"{db}: no such database")
    title = _title(meter) if meter else None
    store = HeadEndStore(db)
    try:
        rows = store.events(title, since=since)
    finally:
        store.close()
    for r in rows:
        if as_json:
            line = {"event": r.kind, "system_title": r.system_title.hex().upper(), "at": r.at}
            line |= {"meter_time": r.meter_time, "source": r.source, "value": r.value_text, "from": r.address}
            click.echo(json.dumps(line))
        else:
            source = f" {r.source}" if r.source else ""
            click.echo(f"{_iso(r.at)}  {r.system_title.hex().upper()}  {r.kind}{source}  {r.value_text}")
    if silent is not None:
        _print_silent(db, silent, title, as_json)


def _iso(at: float) -> str:
    return _dt.datetime.fromtimestamp(at, _dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _print_silent(db: str, seconds: float, title: bytes | None, as_json: bool) -> None:
    try:
        book = AddressBook(db)
    except AddressBookError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        cutoff = time.time() - seconds
        entries = [e for e in book.entries() if e.last_seen < cutoff and title in (None, e.system_title)]
    finally:
        book.close()
    for e in entries:
        name = e.system_title.hex().upper()
        if as_json:
            click.echo(json.dumps({"event": "silent", "system_title": name, "last_seen": e.last_seen}))
        else:
            click.echo(f"{_iso(e.last_seen)}  {name}  silent (last seen)")
