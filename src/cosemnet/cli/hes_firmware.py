"""``cosemnet hes firmware``: a firmware campaign (image transfer, class 18) over the mesh head-end.

The campaign (docs/decisions/0116) probes each meter's image transfer object, initiates the transfer,
sends every block, asks each meter which blocks it holds and sends again only the missing ones,
verifies, then activates at ``--activate-at`` (or at once). Progress and each meter's status are
stored in ``--db`` after every step: SIGINT / SIGTERM stop cleanly (exit 130 / 143) and
``--resume ID`` continues where it stopped; ``--status ID`` prints each meter's status.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as _dt
import json
import sys
import time
from pathlib import Path
from typing import Any

import click

from cosemnet.cli.hes import _common, _gateway, _observation, _open, _start, _title, hes_group
from cosemnet.cli.hes_common import existing_db, load_hes_keys, reported
from cosemnet.cli.hes_common import throttle_config as _throttle_config
from cosemnet.cli.hes_common import throttle_options as _throttle_options
from cosemnet.cli.hes_run import Stop
from cosemnet.cli.params import EXIT_OK, EXIT_PARTIAL
from cosemnet.headend import HeadEnd, HeadEndService
from cosemnet.headend.firmware import CampaignError, FirmwareCampaign
from cosemnet.headend.firmware_service import run_campaign
from cosemnet.headend.firmware_store import FirmwareStore

__all__ = ["firmware_command"]


def _activate_at(text: str | None) -> float | None:
    """``--activate-at``: ISO 8601 (a time without a zone is UTC)."""
    if text is None:
        return None
    try:
        when = _dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{text!r} is not an ISO 8601 time", param_hint="--activate-at") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=_dt.UTC)
    return when.timestamp()


def _read_image(path: Path | None) -> bytes:
    if path is None:
        raise click.BadParameter("give the image file", param_hint="--image")
    try:
        image = path.read_bytes()
    except OSError as exc:
        raise click.BadParameter(f"{path}: {exc.strerror or exc}", param_hint="--image") from None
    if not image:
        raise click.BadParameter(f"{path} is empty", param_hint="--image")
    return image


def _print_status(db: str, campaign_id: int, as_json: bool) -> int:
    existing_db(db)
    store = FirmwareStore(db)
    try:
        row = store.campaign(campaign_id)
        if row is None:
            raise click.BadParameter(f"no firmware campaign {campaign_id} in {db}", param_hint="--status")
        meters = store.meters(campaign_id)
    finally:
        store.close()
    counts: dict[str, int] = {}
    for m in meters:
        counts[m.status] = counts.get(m.status, 0) + 1
        if as_json:
            line: dict[str, Any] = {"system_title": m.system_title.hex().upper(), "status": m.status}
            line |= {"blocks_done": m.blocks_done, "block_count": m.block_count, "blocks_sent": m.blocks_sent}
            click.echo(json.dumps(line | {"reason": m.reason, "updated": m.updated}))
        else:
            blocks = f"{m.blocks_done}/{m.block_count}" if m.block_count else "-"
            reason = f"  ({m.reason})" if m.reason else ""
            click.echo(f"{m.system_title.hex().upper()}  {m.status:<12} blocks {blocks:<9}{reason}")
    identifier = row.identifier.decode("utf-8", "replace")
    state = "finished" if row.finished is not None and row.stopped is None else (row.stopped or "running")
    summary = {"campaign_id": campaign_id, "identifier": identifier, "image_size": row.image_size}
    summary |= {"state": state, "meters": len(meters), **counts}
    if as_json:
        click.echo(json.dumps({"event": "summary", **summary}))
    else:
        click.echo(", ".join(f"{k} {v}" for k, v in summary.items()))
    return EXIT_OK


def _campaign(
    store: FirmwareStore, head_end: HeadEnd, opts: dict[str, Any], image: bytes, now: float
) -> FirmwareCampaign:
    """The campaign to run: resumed (``--resume``) or new, for ``--meter`` or every registered meter."""
    try:
        if opts["resume"] is not None:
            campaign = FirmwareCampaign.resume(store, opts["resume"], image)
            identifier = opts["identifier"]
            if identifier is not None and identifier.encode() != campaign.campaign.identifier:
                raise click.BadParameter("differs from the campaign's", param_hint="--identifier")
            return campaign
        if opts["identifier"] is None:
            raise click.BadParameter("give the image identifier", param_hint="--identifier")
        titles = [_title(t) for t in opts["meter"]] or [e.system_title for e in head_end.book.entries()]
        if not titles:
            raise click.ClickException("no meter: none registered in the database and no --meter")
        return FirmwareCampaign.create(
            store,
            opts["identifier"].encode(),
            image,
            titles,
            now,
            activate=not opts["no_activate"],
            activate_at=opts["activate_at"],
            group_id=opts["group"],
        )
    except CampaignError as exc:
        raise click.BadParameter(str(exc), param_hint="--resume") from None


def _summary(
    campaign: FirmwareCampaign, bytes_sent: int, stopped: str | None, seconds: float
) -> dict[str, Any]:
    counts = campaign.counts()
    meters = len(campaign.meters)
    size = campaign.campaign.image_size
    return {
        "campaign_id": campaign.campaign_id,
        "meters": meters,
        **counts,
        "blocks_sent": campaign.blocks_sent,
        "group_blocks_sent": campaign.group_blocks_sent,
        "bytes_on_wire": bytes_sent,
        "image_size": size,
        "ratio": round(bytes_sent / (size * meters), 4) if meters else None,
        "stopped": stopped,
        "seconds": round(seconds, 3),
        "failures": {
            t.hex().upper(): m.reason for t, m in sorted(campaign.meters.items()) if m.reason is not None
        },
    }


async def _run_with_progress(
    service: HeadEndService, campaign: FirmwareCampaign, stop: Stop, opts: dict[str, Any], show: bool
) -> str | None:
    def reason() -> str:
        return stop.reason or "stopped"

    grace, interval = opts["grace"], opts["group_interval"]
    if not show:
        return await run_campaign(
            service, campaign, stop=stop.first, grace=grace, stop_reason=reason, group_interval=interval
        )
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
    ) as progress:
        task = progress.add_task(f"firmware {campaign.campaign_id}: blocks", total=None)

        def update(c: FirmwareCampaign) -> None:
            counts = c.counts()
            done = f"{counts['activated']} activated, {counts['failed']} failed"
            progress.update(
                task,
                completed=c.blocks_confirmed,
                total=c.blocks_total or None,
                description=f"firmware {c.campaign_id}: blocks ({done})",
            )

        return await run_campaign(
            service,
            campaign,
            stop=stop.first,
            grace=grace,
            on_step=update,
            stop_reason=reason,
            group_interval=interval,
        )


def _run(opts: dict[str, Any]) -> int:
    image = _read_image(opts["image"])
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
    head_end = _open(
        opts["db"],
        keys,
        throttle,
        accept_plain=opts["accept_plain_registrations"],
        must_exist=opts["resume"] is not None,
    )
    store = FirmwareStore(opts["db"])
    stop = Stop()
    holder: list[FirmwareCampaign] = []
    observation = _observation(opts["trace"], opts["pcap"], opts["metrics_port"], opts["bind"], keys)

    async def main() -> dict[str, Any]:
        stop.install()
        service = HeadEndService(
            head_end, group_gateway=_gateway(opts["gateway"]), observer=observation.observer
        )
        started = time.perf_counter()
        stopped: str | None = None
        try:
            await _start(service, opts["bind"], opts["port"])
            if opts["listen_first"] > 0:  # registrations first: a new campaign takes the registered meters
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.first.wait(), opts["listen_first"])
            holder.append(_campaign(store, head_end, opts, image, service.clock()))
            show = not (opts["no_progress"] or opts["as_json"])
            stopped = await _run_with_progress(service, holder[0], stop, opts, show)
        finally:
            if holder and stopped is None and stop.signals:
                stopped = stop.reason
                holder[0].finish(service.clock(), stopped)
            await service.close()
            head_end.book.close()
            store.close()
        return _summary(holder[0], service.bytes_sent, stopped, time.perf_counter() - started)

    with observation:
        summary = asyncio.run(main())
    _print_summary(summary, opts["as_json"])
    if stop.signals:
        return stop.exit_code
    wanted = "activated" if holder[0].campaign.activate else "verified"
    return EXIT_OK if summary[wanted] == summary["meters"] else EXIT_PARTIAL


def _print_summary(summary: dict[str, Any], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(summary))
    else:
        for key, value in summary.items():
            if key != "failures":
                click.echo(f"{key:<18} {value}")
        for title, reason in summary["failures"].items():
            click.echo(f"failed  {title}  {reason}")
    sys.stdout.flush()


@hes_group.command("firmware")
@_common
@_throttle_options
@click.option("--image", type=click.Path(dir_okay=False, path_type=Path), help="The firmware image file.")
@click.option("--identifier", help="image_identifier sent to the meters (text, sent as UTF-8).")
@click.option("--meter", multiple=True, help="System title (16 hex digits); repeat. Default: all registered.")
@click.option("--activate-at", help="Activate at this ISO 8601 time (UTC unless it has a zone).")
@click.option("--no-activate", is_flag=True, help="Transfer and verify only; do not activate.")
@click.option(
    "--group",
    type=click.IntRange(0, 0xFFFF),
    help="Send each block once as an unconfirmed group request to this group (broadcast key), then "
    "repair by unicast (decision 0117). Default: unicast blocks.",
)
@click.option(
    "--group-interval",
    type=click.FloatRange(0),
    default=0.1,
    show_default=True,
    help="--group: seconds between two group blocks.",
)
@click.option("--resume", type=int, help="Continue this campaign (same --image; its meters and schedule).")
@click.option("--status", "status_of", type=int, help="Print each meter's status in this campaign and exit.")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@click.option(
    "--grace",
    type=click.FloatRange(0),
    default=2.0,
    show_default=True,
    help="On SIGINT/SIGTERM: seconds for the requests in flight.",
)
@click.pass_context
@reported
def firmware_command(ctx: click.Context, **opts: Any) -> None:
    """Upgrade the firmware of meters: image transfer (class 18) with per-meter repair.

    Every block goes to every meter once (retried when its answer is lost; with --group: one
    unconfirmed group request per block for all the meters); then each meter says which blocks it
    holds (image_transferred_blocks_status) and only the missing ones are sent again; then
    image_verify and, at --activate-at or at once, image_activate, confirmed by reading the transfer
    status. Progress is stored in --db (``firmware_campaigns``, ``firmware_meters``). Exit 0 when every
    meter is activated (--no-activate: verified), 1 when some failed, 130 / 143 when interrupted
    (resume with --resume ID).

    \b
    Examples:
      cosemnet hes firmware --keys hes-keys.toml --image fw-2.0.bin --identifier fw-2.0 --json
      cosemnet hes firmware --keys hes-keys.toml --image fw-2.0.bin --identifier fw-2.0 \\
          --meter 4D4D4D00000003E8 --activate-at 2026-12-08T02:00:00Z
      cosemnet hes firmware --keys hes-keys.toml --image fw-2.0.bin --identifier fw-2.0 --group 0
      cosemnet hes firmware --keys hes-keys.toml --image fw-2.0.bin --resume 3
      cosemnet hes firmware --db hes.db --status 3
    """
    if opts["status_of"] is not None:
        ctx.exit(_print_status(opts["db"], opts["status_of"], opts["as_json"]))
    if opts["resume"] is not None and (
        opts["activate_at"] or opts["no_activate"] or opts["meter"] or opts["group"] is not None
    ):
        raise click.UsageError(
            "--resume keeps the campaign's meters and schedule (no --meter/--group/--activate-at)"
        )
    opts["activate_at"] = _activate_at(opts["activate_at"])
    _read_image(opts["image"])
    if opts["resume"] is None and opts["identifier"] is None:
        raise click.BadParameter("give the image identifier", param_hint="--identifier")
    ctx.exit(_run(opts))
