"""What ``hes collect`` writes for people and scripts: readings with ISO 8601 times and scaled values.

A register's value (class 3 and 4 attribute 2, class 5 attributes 2 and 3) is read together with its
scaler_unit (:func:`with_scaler_units`, one GET-with-list per meter), then shown as ``raw * 10**scaler``
with the unit's symbol; a COSEM date-time (a 12-byte octet-string) as ISO 8601 text; other octet-strings
as hex. The raw A-XDR value stays in the database (``hes readings`` decodes it again).
"""

from __future__ import annotations

import contextlib
import csv
import datetime as _dt
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TextIO

import click

from cosemnet.cli.read import datetime_iso, json_cell
from cosemnet.client.objects import (
    SCALED_CLASS_IDS,
    ScaledValue,
    parse_scaler_unit,
    scaler_unit_attribute,
)
from cosemnet.codec.axdr import decode_data_exact
from cosemnet.codec.types import DataValue
from cosemnet.errors import CosemnetError
from cosemnet.headend import AttributeRef
from cosemnet.headend.store import ReadingRow

__all__ = [
    "CSV_HEADER",
    "check_csv_path",
    "csv_cell",
    "iso_time",
    "reading_rows",
    "with_scaler_units",
    "write_rows_csv",
]

CSV_HEADER = ["system_title", "attribute", "value", "unit", "captured_at", "error"]
"""The columns of every readings CSV (``hes collect --csv``, ``hes readings --csv``): ``attribute`` is
CLASS/OBIS/ATTR, ``captured_at`` ISO 8601 (UTC), ``error`` empty for a value."""


def check_csv_path(path: Path | None) -> None:
    """ClickException (exit 1) when ``path``'s directory does not exist: said before any meter is read,
    not after the run."""
    if path is not None and not path.parent.is_dir():
        raise click.ClickException(f"{path}: no such directory")


def iso_time(t: float) -> str:
    """``t`` (POSIX seconds) as ISO 8601 in UTC, to the millisecond."""
    return _dt.datetime.fromtimestamp(t, _dt.UTC).isoformat(timespec="milliseconds")


def csv_cell(value: object) -> object:
    """A JSON-shaped value as one CSV cell: lists and objects as JSON, None empty."""
    if value is None:
        return ""
    return json.dumps(value) if isinstance(value, list | dict) else value


def _is_value(class_id: int, attribute_id: int) -> bool:
    if class_id == 5:
        return attribute_id in (2, 3)
    return class_id in SCALED_CLASS_IDS and attribute_id == 2


def with_scaler_units(attributes: list[AttributeRef]) -> list[AttributeRef]:
    """``attributes`` with, after each register value, its scaler_unit (when not already there)."""
    out: list[AttributeRef] = []
    for a in attributes:
        if a not in out:
            out.append(a)
        if _is_value(a.class_id, a.attribute_id):
            extra = AttributeRef(a.class_id, a.logical_name, scaler_unit_attribute(a.class_id))
            if extra not in out and extra not in attributes:
                out.append(extra)
    return out


def _decoded(row: ReadingRow) -> DataValue | None:
    if row.value is None:
        return None
    try:
        return decode_data_exact(row.value)
    except CosemnetError:
        return None


def _shown(value: DataValue | None, text: str | None) -> object:
    if value is None:
        return text
    if isinstance(value, bytes):
        iso = datetime_iso(value)
        if iso is not None:
            return iso
    return json_cell(value)


def reading_rows(rows: Iterable[ReadingRow], requested: list[AttributeRef]) -> Iterator[dict[str, Any]]:
    """One dict per reading the user asked for: a register's value scaled, with ``unit`` (its
    scaler_unit row folded into it unless asked for itself), date-times in ISO 8601."""
    rows = list(rows)
    asked = {(a.class_id, str(a.logical_name), a.attribute_id) for a in requested}
    scalers: dict[tuple[bytes, int, str], tuple[int, int]] = {}
    for r in rows:
        if r.attribute_id == scaler_unit_attribute(r.class_id) and r.class_id in SCALED_CLASS_IDS:
            value = _decoded(r)
            with contextlib.suppress(CosemnetError, TypeError, ValueError):
                if value is not None:
                    scalers[(r.system_title, r.class_id, r.logical_name)] = parse_scaler_unit(value)
    for r in rows:
        key = (r.class_id, r.logical_name, r.attribute_id)
        if asked and key not in asked:
            continue
        value = _decoded(r)
        out: dict[str, Any] = {
            "system_title": r.system_title.hex().upper(),
            "attribute": f"{r.class_id}/{r.logical_name}/{r.attribute_id}",
            "captured_at": iso_time(r.at),
        }
        su = scalers.get((r.system_title, r.class_id, r.logical_name))
        if r.error is None and value is not None and su is not None and _is_value(r.class_id, r.attribute_id):
            scaled = ScaledValue(value, *su)
            out.update(value=json_cell(scaled.value), unit=scaled.unit_symbol, scaler=su[0])
        else:
            out["value"] = _shown(value, r.value_text)
        if r.error is not None:
            out["error"] = r.error
        yield out


def write_rows_csv(rows: Iterable[dict[str, Any]], out: TextIO) -> int:
    """Rows shaped like those of :func:`reading_rows` as CSV (:data:`CSV_HEADER`); how many were
    written."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    count = 0
    for row in rows:
        writer.writerow([csv_cell(row.get(column)) for column in CSV_HEADER])
        count += 1
    return count
