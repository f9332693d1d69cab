"""``cosemnet hes readings``: print the readings stored in a head-end database (SQLite or PostgreSQL).

Reads only: the database is not migrated. A single-machine file of before the shared storage
(schema version 1, written by today's ``hes collect``) is read through the head-end store that wrote
it. See docs/decisions/0060.
"""

from __future__ import annotations

import itertools
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import click

from cosemnet.cli.hes_common import reported
from cosemnet.cli.hes_output import iso_time, write_rows_csv
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

__all__ = ["is_object_list", "readings_command"]

DEFAULT_DB = "cosemnet-hes.db"
OBJECT_LIST_CLASS: Final = 15
OBJECT_LIST_ATTRIBUTE: Final = 2


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
@click.option("--csv", "as_csv", is_flag=True, help="CSV with a header line (as hes collect --csv).")
@click.option(
    "--all",
    "show_all",
    is_flag=True,
    help="Also the object lists read to look up classes (class 15 attribute 2; hidden by default).",
)
@reported
def readings_command(db: str, meter: str | None, as_json: bool, as_csv: bool, show_all: bool) -> None:
    """Print the stored readings, ordered by meter, attribute and capture time.

    Object lists (class 15 attribute 2, read by ``hes collect`` to look up the class of an OBIS code
    given without one) are internal and hidden unless ``--all`` is given (docs/decisions/0129).

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
    shown = (
        _shown(r)
        for r in itertools.chain([first] if first is not None else [], rows)
        if show_all or not is_object_list(r)
    )
    if as_csv:
        write_rows_csv(shown, sys.stdout)
        return
    for data in shown:
        if as_json:
            click.echo(json.dumps(data))
            continue
        value, unit = data["value"], data["unit"]
        text = data.get("error") or (f"{value} {unit}" if unit else f"{value}")
        click.echo(f"{data['system_title']}  {data['captured_at']}  {data['attribute']:<24} {text}")


def is_object_list(r: Reading) -> bool:
    """An association's object_list (class 15 attribute 2): what the class lookup reads, not a reading
    of the meter (decision 0114, hidden by default: docs/decisions/0129)."""
    return r.class_id == OBJECT_LIST_CLASS and r.attribute_id == OBJECT_LIST_ATTRIBUTE


def _shown(r: Reading) -> dict[str, object]:
    """One reading as a JSON object / CSV row (:data:`~cosemnet.cli.hes_output.CSV_HEADER`)."""
    data: dict[str, object] = {
        "system_title": r.system_title.hex().upper(),
        "attribute": r.attribute,
        "value": _value(r),
        "unit": r.unit,
        "captured_at": iso_time(r.captured_at),
    }
    if r.error is not None:
        data["error"] = r.error
    return data
