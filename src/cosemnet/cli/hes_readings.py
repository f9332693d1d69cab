"""``cosemnet hes readings``: print the readings stored in a head-end database (SQLite or PostgreSQL).

Reads only: the database is not migrated. A single-machine file of before the shared storage
(schema version 1, written by today's ``hes collect``) is read through the head-end store that wrote
it. See docs/decisions/0060.
"""

from __future__ import annotations

import csv
import datetime as _dt
import itertools
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import click

from cosemnet.cli.hes_common import reported
from cosemnet.codec.axdr import decode_data_exact
from cosemnet.errors import DecodeError
from cosemnet.headend.storage import (
    Reading,
    SchemaOutdatedError,
    StorageError,
    is_postgres_dsn,
    iter_readings,
    open_storage,
)

__all__ = ["readings_command"]

DEFAULT_DB = "cosemnet-hes.db"
CSV_HEADER = ["system_title", "attribute", "value", "unit", "captured_at", "error"]


def _json_value(value: object) -> object:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value) if value == value and abs(value) != float("inf") else str(value)
    if isinstance(value, bytes):
        return value.hex().upper()
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    return str(value)


def _value(r: Reading) -> object:
    """The stored value as JSON: decoded from its A-XDR form, else the text kept beside it."""
    if r.value is not None:
        try:
            return _json_value(decode_data_exact(r.value))
        except DecodeError:
            pass
    return r.value_text


def _iso(t: float) -> str:
    return _dt.datetime.fromtimestamp(t, _dt.UTC).isoformat(timespec="milliseconds")


def _legacy_rows(db: str, meter: bytes | None) -> Iterator[Reading]:
    """Readings of a version-1 file, from the head-end store that wrote them."""
    from cosemnet.headend.store import HeadEndStore

    store = HeadEndStore(db)
    try:
        rows = store.readings()
    finally:
        store.close()
    for r in rows:
        if meter is None or r.system_title == meter:
            yield Reading(
                r.system_title,
                r.class_id,
                r.logical_name,
                r.attribute_id,
                r.at,
                r.value,
                r.value_text,
                None,
                r.error,
            )


def _rows(db: str, meter: bytes | None) -> Iterator[Reading]:
    if not is_postgres_dsn(db) and not Path(db).exists():
        raise click.ClickException(f"{db}: no such database")
    try:
        storage = open_storage(db, migrate=False)
    except SchemaOutdatedError as exc:
        if exc.version == 1 and not is_postgres_dsn(db):
            yield from _legacy_rows(db, meter)
            return
        raise click.ClickException(str(exc)) from None
    except StorageError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        yield from iter_readings(storage, meter)
    finally:
        storage.close()


def _meter(text: str | None) -> bytes | None:
    if text is None:
        return None
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raw = b""
    if len(raw) != 8:
        raise click.BadParameter(f"{text!r}: a system title is 16 hex digits", param_hint="--meter")
    return raw


@click.command("readings")
@click.option(
    "--db",
    "db",
    default=DEFAULT_DB,
    show_default=True,
    help="SQLite file, or a postgresql:// URI.",
)
@click.option("--meter", "meter", metavar="SYSTEM_TITLE", help="Only this meter (16 hex digits).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.option("--csv", "as_csv", is_flag=True, help="CSV with a header line.")
@reported
def readings_command(db: str, meter: str | None, as_json: bool, as_csv: bool) -> None:
    """Print the stored readings, ordered by meter, attribute and capture time.

    \b
    Examples:
      cosemnet hes readings --db hes.db
      cosemnet hes readings --db postgresql://hes@db.example/hes --meter 4D4D4D0000BC614E --json
      cosemnet hes readings --db hes.db --csv > readings.csv
    """
    if as_json and as_csv:
        raise click.UsageError("--json and --csv are exclusive")
    title = _meter(meter)
    rows = _rows(db, title)
    first = next(rows, None)  # errors (no such database) before the CSV header
    writer = csv.writer(sys.stdout, lineterminator="\n") if as_csv else None
    if writer is not None:
        writer.writerow(CSV_HEADER)
    for r in itertools.chain([first] if first is not None else [], rows):
        shown = _value(r)
        if as_json:
            data = {
                "system_title": r.system_title.hex().upper(),
                "attribute": r.attribute,
                "value": shown,
                "unit": r.unit,
                "captured_at": _iso(r.captured_at),
            }
            if r.error is not None:
                data["error"] = r.error
            click.echo(json.dumps(data))
        elif writer is not None:
            text = "" if shown is None else shown if isinstance(shown, str) else json.dumps(shown)
            writer.writerow(
                [
                    r.system_title.hex().upper(),
                    r.attribute,
                    text,
                    r.unit or "",
                    _iso(r.captured_at),
                    r.error or "",
                ]
            )
        else:
            text = r.error if r.error is not None else f"{shown}{' ' + r.unit if r.unit else ''}"
            click.echo(f"{r.system_title.hex().upper()}  {_iso(r.captured_at)}  {r.attribute:<24} {text}")
