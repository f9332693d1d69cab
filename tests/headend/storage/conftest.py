"""Fixtures of the storage suite: every test runs on SQLite and on a throwaway PostgreSQL cluster.

The cluster (docs/decisions/0061) is made once per test session: ``initdb`` and ``pg_ctl`` from
``$COSEMNET_PG_BIN`` (default /usr/lib/postgresql/15/bin) in a temporary directory, as the
``postgres`` user when we run as root (PostgreSQL refuses root), listening only on a unix socket in
that directory (no TCP port, so parallel sessions cannot collide), stopped and removed at the end.
Each test gets its own schema in it. Without the binaries the PostgreSQL tests fail when CI=true
(CI must really test PostgreSQL) and skip elsewhere.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import sqlite3
import subprocess
import tempfile
import urllib.parse
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cosemnet.headend.storage import Storage, open_storage

PG_BIN = Path(os.environ.get("COSEMNET_PG_BIN", "/usr/lib/postgresql/15/bin"))


def _missing() -> str | None:
    if not (PG_BIN / "initdb").exists() or not (PG_BIN / "pg_ctl").exists():
        return f"PostgreSQL server binaries not in {PG_BIN} (apt-get install postgresql-15, or `make unit`)"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg 3 is not installed (pip install -e '.[test]')"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no `postgres` user to run the server as"
    return None


def _as_server_user(argv: Sequence[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *argv]
    return list(argv)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[str]:
    """A running throwaway cluster; yields the DSN of its ``cosemnet`` database."""
    reason = _missing()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and {reason}", pytrace=False)
        pytest.skip(reason)
    # not pytest's tmp_path: its parents are private to root, the server user must reach the socket
    root = Path(tempfile.mkdtemp(prefix="cosemnet-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    data, log = root / "data", root / "server.log"
    run = {"check": True, "capture_output": True, "timeout": 120}
    try:
        subprocess.run(
            _as_server_user(
                [
                    str(PG_BIN / "initdb"),
                    "-D",
                    str(data),
                    "-A",
                    "trust",
                    "-U",
                    "postgres",
                    "-E",
                    "UTF8",
                    "--locale=C",
                    "--no-sync",
                ]
            ),
            **run,  # type: ignore[call-overload]
        )
        # fsync off: the cluster dies with the test session; crash tests kill clients, not the server
        options = (
            f"-k {root} -c listen_addresses='' -c fsync=off -c full_page_writes=off -c max_connections=60"
        )
        subprocess.run(
            _as_server_user(
                [str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-o", options, "start"]
            ),
            **run,  # type: ignore[call-overload]
        )
    except subprocess.CalledProcessError as exc:
        server_log = log.read_text(errors="replace") if log.exists() else ""
        shutil.rmtree(root, ignore_errors=True)
        pytest.fail(
            f"cannot start PostgreSQL: {exc.stderr.decode(errors='replace')}{server_log}", pytrace=False
        )
    base = f"postgresql://postgres@/postgres?host={urllib.parse.quote(str(root), safe='')}"
    try:
        import psycopg

        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute("CREATE DATABASE cosemnet")
        yield base.replace("/postgres?", "/cosemnet?")
    finally:
        subprocess.run(
            _as_server_user([str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"]),
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(root, ignore_errors=True)


@dataclass
class Backend:
    """One backend under test: ``target`` is what ``--db`` / ``open_storage`` take."""

    name: str
    target: str

    def open(self, **options: Any) -> Storage:
        return open_storage(self.target, **options)

    def raw(self, sql: str, rows: Sequence[tuple[Any, ...]]) -> None:
        """Run ``sql`` (``?`` placeholders) once per row, bypassing the storage API."""
        if self.name == "sqlite":
            db = sqlite3.connect(self.target)
            with db:
                db.executemany(sql, rows)
            db.close()
            return
        import psycopg

        with psycopg.connect(self.target, autocommit=True) as conn, conn.cursor() as cur:
            cur.executemany(sql.replace("?", "%s"), rows)


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "sqlite":
        yield Backend("sqlite", str(tmp_path / "hes.db"))
        return
    base = request.getfixturevalue("pg_cluster")
    import psycopg

    schema = f"t_{secrets.token_hex(6)}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    options = urllib.parse.quote(f"-csearch_path={schema}", safe="")
    yield Backend("postgresql", f"{base}&options={options}")
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture
def store(backend: Backend) -> Iterator[Storage]:
    s = backend.open()
    yield s
    s.close()
