"""Versioned schema migrations (decision 0060): ``<backend>/NNNN_name.sql``, applied in order.

Version 1 is the single-machine schema that the address book (0024) and the head-end store (0027)
created before the shared storage existed: a SQLite file of that time is adopted as version 1 and
migrated. Each later script moves the schema one version on, in one transaction, and keeps the data.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

__all__ = ["Migration", "migrations"]


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def migrations(backend: str) -> list[Migration]:
    """The migration scripts of ``backend`` (``"sqlite"`` or ``"postgres"``), by version."""
    folder = resources.files(__package__).joinpath(backend)
    out = []
    for entry in folder.iterdir():
        name = entry.name
        if not name.endswith(".sql"):
            continue
        head, _, rest = name.partition("_")
        out.append(Migration(int(head), rest.removesuffix(".sql"), entry.read_text(encoding="utf-8")))
    out.sort(key=lambda m: m.version)
    if [m.version for m in out] != list(range(1, len(out) + 1)):
        raise RuntimeError(f"{backend} migrations are not numbered 1..n: {[m.version for m in out]}")
    return out
