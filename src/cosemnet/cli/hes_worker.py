"""``cosemnet hes worker`` and the shared-storage variants of ``hes listen`` / ``hes collect --enqueue``.

A worker takes collect jobs from the shared storage (PostgreSQL, or a SQLite file on one machine),
reads the leased meters through the head-end core and stores their readings (issue 13, decisions
0062, 0120). ``hes listen --db postgresql://...`` writes registrations into the same storage, and
``hes collect --db DSN --obis ... --enqueue`` creates the jobs and returns.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
from pathlib import Path
from typing import Any

import click

from cosemnet.cli.hes_common import hes_key_options, load_hes_keys, reported
from cosemnet.cli.hes_common import throttle_config as _throttle_config
from cosemnet.cli.hes_common import throttle_options as _throttle_options
from cosemnet.cli.params import EXIT_OK, EXIT_PARTIAL, Endpoint, EndpointValue, describe_os_error
from cosemnet.cli.signals import stop_on_signals
from cosemnet.headend import AttributeRef, HeadEnd, HeadEndConfig, HeadEndService, KeyStore
from cosemnet.headend.shared import DiscardingStore, LeasedCounters, SharedHeadEnd, StorageAddressBook
from cosemnet.headend.storage import Storage, StorageError, is_postgres_dsn, open_storage
from cosemnet.headend.worker import CollectorWorker, WorkerConfig, run_worker
from cosemnet.profiles.mesh import ThrottleConfig

__all__ = [
    "enqueue_collect",
    "enqueue_if_shared",
    "open_shared_head_end",
    "uses_shared_storage",
    "worker_command",
]


def uses_shared_storage(db: str) -> bool:
    """``--db`` names the shared storage (PostgreSQL) rather than a single-machine SQLite file."""
    return is_postgres_dsn(db)


def _open_storage(db: str) -> Storage:
    try:
        return open_storage(db)
    except StorageError as exc:
        raise click.ClickException(str(exc)) from None
    except Exception as exc:  # the driver's connection errors (psycopg.OperationalError, ...)
        raise click.ClickException(f"cannot open {_redacted(db)}: {exc}") from None


def _redacted(db: str) -> str:
    """The DSN without a password (never printed)."""
    head, sep, tail = db.partition("@")
    if not sep or "://" not in head:
        return db
    scheme, _, user = head.partition("://")
    return f"{scheme}://{user.split(':', 1)[0]}@{tail}"


def open_shared_head_end(
    storage: Storage,
    keys: KeyStore,
    throttle: ThrottleConfig | None = None,
    *,
    accept_plain: bool = False,
    touch_writes: bool = False,
    block_size: int = 4096,
    batch_writes: bool = False,
) -> tuple[HeadEnd, StorageAddressBook, LeasedCounters]:
    """A head-end core whose address book, counters and pushes are in ``storage`` (decision 0120);
    ``batch_writes``: a burst of registrations is one transaction, confirmed after its commit (0131)."""
    book = StorageAddressBook(storage, touch_writes=touch_writes, batch_writes=batch_writes)
    counters = LeasedCounters(storage, block_size=block_size)
    book.refresh_counters = counters
    config = HeadEndConfig(throttle=throttle or ThrottleConfig(), accept_plain_registrations=accept_plain)
    head_end = SharedHeadEnd(
        book, keys=keys, config=config, store=DiscardingStore(storage), counters=counters
    )
    return head_end, book, counters


def open_shared_listener(db: str, keys: KeyStore, *, accept_plain: bool = False) -> HeadEnd:
    """``hes listen --db postgresql://...``: registrations written into the shared storage (closed with
    the head-end's book). A registration updates the binding's "last seen"; other pushes do not (one
    transaction per meter at exit otherwise)."""
    storage = _open_storage(db)
    head_end, book, _ = open_shared_head_end(storage, keys, accept_plain=accept_plain, batch_writes=True)
    book.owns_storage = True
    if accept_plain:
        click.echo("warning: accepting plain (unauthenticated) registrations: lab use only", err=True)
    return head_end


def enqueue_if_shared(
    ctx: click.Context,
    db: str,
    attributes: list[AttributeRef],
    as_json: bool,
    *,
    enqueue: bool,
    resume: int | None,
    group: int | None,
) -> None:
    """``hes collect``: with ``--enqueue`` or on the shared storage, queue the jobs and exit (else return:
    the single-machine collect runs as before)."""
    if enqueue or uses_shared_storage(db):
        ctx.exit(enqueue_collect(db, attributes, as_json, enqueue=enqueue, resume=resume, group=group))


def enqueue_collect(
    db: str,
    attributes: list[AttributeRef],
    as_json: bool,
    *,
    enqueue: bool = True,
    resume: int | None = None,
    group: int | None = None,
) -> int:
    """``hes collect --enqueue``: a run and one job per registered meter and attribute; prints the run."""
    if not enqueue:
        raise click.UsageError(
            "on the shared storage a collect is queued for `hes worker`: add --enqueue", ctx=None
        )
    if resume is not None or group is not None:
        raise click.UsageError("--enqueue does not combine with --resume or --group")
    storage = _open_storage(db)
    try:
        titles = [e.system_title for e in storage.bindings()]
        labels = [str(a) for a in attributes]
        run_id = storage.start_run(",".join(labels), len(titles))
        jobs = storage.create_jobs(run_id, ((t, a) for t in titles for a in labels))
    finally:
        storage.close()
    summary = {"run_id": run_id, "meters": len(titles), "jobs": jobs, "attributes": labels}
    if as_json:
        click.echo(json.dumps(summary))
    else:
        click.echo(f"run {run_id}: {jobs} jobs queued for {len(titles)} meters ({', '.join(labels)})")
    return EXIT_OK


def _default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@click.command("worker")
@click.option("--db", "db", required=True, help="The shared storage: postgresql://... (or a SQLite file).")
@click.option(
    "--bind",
    type=Endpoint(default_port=0, allow_port_zero=True),
    default="::1",
    show_default=True,
    help="ADDRESS[:PORT] the worker's UDP socket binds (any free port when not given).",
)
@click.option("--port", type=click.IntRange(0, 65535), help="UDP port (overrides the port of --bind).")
@click.option("--until-idle", is_flag=True, help="Exit when no job is queued or leased (1 if some failed).")
@click.option(
    "--lease", "lease_seconds", type=click.FloatRange(0.5), default=60.0, show_default=True,
    help="Lease length in seconds (renewed at half of it while reading).",
)  # fmt: skip
@click.option(
    "--batch", type=click.IntRange(1), default=200, show_default=True, help="Meters leased at a time."
)
@click.option(
    "--max-attempts", type=click.IntRange(1), default=3, show_default=True,
    help="Leases of a meter before its jobs fail for good.",
)  # fmt: skip
@click.option(
    "--retry-after", type=click.FloatRange(0), default=5.0, show_default=True,
    help="Seconds a failed meter waits before it is leased again.",
)  # fmt: skip
@click.option("--name", "owner", help="This worker's name in the job tables (default HOST:PID).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (JSON lines).")
@hes_key_options
@_throttle_options
@click.pass_context
@reported
def worker_command(
    ctx: click.Context,
    db: str,
    bind: EndpointValue,
    port: int | None,
    until_idle: bool,
    lease_seconds: float,
    batch: int,
    max_attempts: int,
    retry_after: float,
    owner: str | None,
    as_json: bool,
    key_file: Path | None,
    test_keys: bool,
    ek: str | None,
    ak: str | None,
    broadcast_key: str | None,
    master_key: str | None,
    **throttle: Any,
) -> None:
    """Collector worker: read the meters of queued collect jobs from the shared storage.

    Loops: lease --batch meters (one meter has one owner at a time), read them through the head-end
    (association, GET or GET-with-list, throttled, retried), store each reading as it arrives
    (unique per meter, attribute and the run's time: a retried read is stored once), mark the jobs
    done or failed, renew the leases while reading. Any number of workers on any number of machines
    share one --db; a worker killed with kill -9 loses nothing (its leases expire, others read its
    meters). Invocation counters come in blocks from the storage (decisions 0062, 0120).

    \b
    Examples:
      cosemnet hes collect --db postgresql://hes@db/hes --obis 1-0:1.8.0*255 --enqueue
      cosemnet hes worker --db postgresql://hes@db/hes --keys hes-keys.toml --bind ::1
      cosemnet hes worker --db postgresql://hes@db/hes --keys hes-keys.toml --until-idle --json
    """
    keys = load_hes_keys(key_file, test_keys, ek, ak, broadcast_key, master_key, needs_broadcast=False)
    throttle_cfg = _throttle_config(*(throttle[k] for k in _THROTTLE_KEYS))
    config = WorkerConfig(
        owner or _default_owner(),
        batch=batch,
        lease_seconds=lease_seconds,
        retry_after=retry_after,
        max_attempts=max_attempts,
    )
    storage = _open_storage(db)
    head_end, book, counters = open_shared_head_end(
        storage, keys, throttle_cfg, block_size=max(64, batch * 8)
    )
    worker = CollectorWorker(storage, config, counters)

    async def main() -> None:
        service = HeadEndService(head_end)
        host, bound = bind.host, bind.port if port is None else port
        try:
            await service.start(host, bound)
        except OSError as exc:
            raise click.ClickException(
                f"cannot listen on {EndpointValue(host, bound)}: {describe_os_error(exc)}"
            ) from None
        address = service.local_address
        _say(as_json, {"event": "worker", "name": config.owner, "address": address[0], "port": address[1]})
        try:
            await run_worker(service, worker, book, until_idle=until_idle, stop=stop_on_signals())
        finally:
            await service.close()

    try:
        asyncio.run(main())
    finally:
        storage.close()
    stats = worker.stats
    _say(as_json, {"event": "done", "name": config.owner, **{k: getattr(stats, k) for k in _STATS}})
    ctx.exit(EXIT_PARTIAL if stats.failed_for_good else EXIT_OK)


_THROTTLE_KEYS = (
    "max_in_flight",
    "max_per_prefix",
    "max_per_router",
    "timeout",
    "retries",
    "rto_min",
    "rto_max",
    "rto_initial",
    "fixed_timers",
)
_STATS = (
    "leases",
    "meters",
    "answered",
    "failed",
    "failed_for_good",
    "readings",
    "readings_new",
    "leases_lost",
)


def _say(as_json: bool, record: dict[str, Any]) -> None:
    if as_json:
        click.echo(json.dumps(record))
    else:
        click.echo("  ".join(f"{k}={v}" for k, v in record.items()))
    sys.stdout.flush()
