"""Head-end storage on SQLite (one machine) or PostgreSQL (many), behind one interface.

``open_storage("hes.db")`` or ``open_storage("postgresql://user@host/db")``; see
:class:`~cosemnet.headend.storage.base.Storage` and docs/decisions/0060, 0062.
"""

from __future__ import annotations

import os

from cosemnet.headend.storage.base import (
    DEFAULT_LEASE_SECONDS,
    SHARDS,
    BlockInvocationCounter,
    Event,
    Job,
    JobState,
    Reading,
    ReadingKey,
    SchemaOutdatedError,
    Storage,
    StorageError,
    iter_readings,
    shard_of,
)
from cosemnet.headend.storage.sqlite import SqliteStorage

__all__ = [
    "DEFAULT_LEASE_SECONDS",
    "SHARDS",
    "BlockInvocationCounter",
    "Event",
    "Job",
    "JobState",
    "Reading",
    "ReadingKey",
    "SchemaOutdatedError",
    "SqliteStorage",
    "Storage",
    "StorageError",
    "is_postgres_dsn",
    "iter_readings",
    "open_storage",
    "shard_of",
]


def is_postgres_dsn(target: str | os.PathLike[str]) -> bool:
    return os.fspath(target).startswith(("postgresql://", "postgres://"))


def open_storage(
    target: str | os.PathLike[str], *, schema_version: int | None = None, migrate: bool = True
) -> Storage:
    """Open (and migrate to ``schema_version``, default the latest) the storage at ``target``: a
    ``postgresql://`` URI selects PostgreSQL (psycopg 3, the ``postgres`` extra), anything else is a
    SQLite file path. With ``migrate=False`` an older schema raises :class:`SchemaOutdatedError`
    (readers that must not change the database)."""
    if is_postgres_dsn(target):
        try:
            from cosemnet.headend.storage.postgres import PostgresStorage
        except ImportError as exc:
            raise StorageError(
                f"PostgreSQL storage needs psycopg 3 (pip install 'cosemnet[postgres]'): {exc}"
            ) from None
        return PostgresStorage(os.fspath(target), schema_version=schema_version, migrate=migrate)
    return SqliteStorage(target, schema_version=schema_version, migrate=migrate)
