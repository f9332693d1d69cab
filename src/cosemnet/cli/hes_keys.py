"""``cosemnet hes rotate-broadcast-key`` and ``hes retire``.

``rotate-broadcast-key`` distributes a new broadcast key to every meter of the address book (or the
``--meter`` ones) with ACTION key_transfer, wrapped with the key file's KEK, and retires the old key
when every meter confirmed or was reported failed (docs/decisions/0125). The new key is kept in
``<keys>.next`` (mode 0600) from before the first key_transfer until the key file's ``broadcast_key``
is replaced at the end (both written atomically), so an interrupted run loses no meter: run it again.

``retire`` releases a meter's association with a protected RLRQ and forgets it (issue 12 item 5).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tomllib
from pathlib import Path
from typing import Any

import click

from cosemnet.cli.hes import _common, _gateway, _listen_for, _observation, _open, _start, _title, hes_group
from cosemnet.cli.hes_common import load_hes_keys
from cosemnet.cli.hes_common import throttle_config as _throttle_config
from cosemnet.cli.hes_common import throttle_options as _throttle_options
from cosemnet.cli.keyfile import KeyFileError, check_permissions, load_key_file
from cosemnet.cli.logs import register_secrets
from cosemnet.cli.params import EXIT_PARTIAL
from cosemnet.headend import AttributeRef, HeadEndService
from cosemnet.headend.keyrotation import BroadcastKeyRotation, RotationReport, key_transfer_attribute
from cosemnet.profiles.mesh import ResponseWindow
from cosemnet.security.counters import write_durably

__all__ = ["retire_command", "rotate_broadcast_key_command"]

CHECK_ATTRIBUTE = AttributeRef.parse("8/0-0:1.0.0*255/2")
"""What the check group request reads (the clock: every meter has one)."""


def _read_key(path: Path, what: str) -> bytes:
    try:
        check_permissions(path)
        text = path.read_text("ascii").strip()
    except KeyFileError as exc:
        raise click.UsageError(str(exc)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise click.UsageError(f"{what}: cannot read {path}: {exc}") from None
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) != 16:
        raise click.UsageError(f"{what}: {path} must hold 32 hex digits")
    return key


def _new_key(next_path: Path, new_key_file: Path | None, generate: bool) -> bytes:
    """The key of an interrupted rotation (``<keys>.next``), else the one given; written to
    ``<keys>.next`` before anything is sent."""
    if next_path.exists():
        key = _read_key(next_path, "unfinished rotation")
        click.echo(f"resuming the rotation to the key in {next_path}", err=True)
        return key
    if (new_key_file is None) == (not generate):
        raise click.UsageError("give --new-key-file FILE or --generate")
    key = _read_key(new_key_file, "--new-key-file") if new_key_file is not None else os.urandom(16)
    write_durably(next_path, key.hex().upper().encode() + b"\n")
    os.chmod(next_path, 0o600)
    return key


def _replace_broadcast_key(key_file: Path, key: bytes) -> None:
    """Set ``broadcast_key`` in the key file (TOML or JSON), atomically, mode 0600."""
    raw = key_file.read_bytes()
    is_json = key_file.suffix.lower() == ".json"
    values: dict[str, Any] = json.loads(raw) if is_json else tomllib.loads(raw.decode("utf-8"))
    values["broadcast_key"] = key.hex().upper()
    if is_json:
        text = json.dumps(values, indent=2) + "\n"
    else:
        text = "".join(f"{name} = {json.dumps(str(value))}\n" for name, value in values.items())
    write_durably(key_file, text.encode("utf-8"))
    os.chmod(key_file, 0o600)


async def _rotate(service: HeadEndService, rotation: BroadcastKeyRotation, window: float) -> int:
    """Rounds of key transfers until every meter is on the new key or failed; then one group request
    under the new key: how many meters answered it."""
    rotation.start(service.clock())
    while True:
        batches = rotation.next_round(service.clock())
        if not batches:
            break
        runs = [
            service.start_collect([key_transfer_attribute(op)], system_titles=titles, operation=op)
            for op, titles in batches
        ]
        for run in runs:
            await service.wait_run(run)
            rotation.record(run, service.clock())
    moved = rotation.moved
    if not moved:
        return 0
    check = await service.broadcast(
        rotation.group_id, CHECK_ATTRIBUTE, ResponseWindow.seconds(0, window), expected=moved
    )
    return len(service.head_end.broadcast_report(check).answered)


def _print(report: RotationReport, answered: int, as_json: bool) -> None:
    failed = {t.hex().upper(): reason for t, reason in sorted(report.failed.items())}
    if as_json:
        line = {"rotation_id": report.rotation_id, "new": len(report.new), "failed": failed}
        click.echo(json.dumps(line | {"answered_check": answered, "finished": report.finished}))
        return
    for title, reason in failed.items():
        click.echo(f"{title}  failed  ({reason})")
    click.echo(
        f"rotation {report.rotation_id}: {len(report.new)} meters on the new key, {len(failed)} failed; "
        f"{answered} answered a group request under the new key"
    )


@hes_group.command("rotate-broadcast-key")
@_common
@_throttle_options
@click.option("--group", type=int, default=0, show_default=True, help="Group of the check request.")
@click.option(
    "--new-key-file", type=click.Path(path_type=Path), help="The new key: 32 hex digits, mode 0600."
)
@click.option("--generate", is_flag=True, help="Generate the new key (os.urandom).")
@click.option("--meter", multiple=True, help="System title (16 hex digits); repeat. Default: all.")
@click.option("--rounds", type=click.IntRange(1), default=3, show_default=True, help="Key transfer rounds.")
@click.option("--window", default=5.0, show_default=True, help="Response window of the check request (s).")
def rotate_broadcast_key_command(
    group: int,
    new_key_file: Path | None,
    generate: bool,
    meter: tuple[str, ...],
    rounds: int,
    window: float,
    **opts: Any,
) -> None:
    """Distribute a new broadcast key (key_transfer, wrapped with the KEK of --keys) and retire the old
    one; each meter's state is stored; the key file's broadcast_key is replaced at the end.

    \b
    Examples:
      cosemnet hes rotate-broadcast-key --keys hes-keys.toml --generate --json
      cosemnet hes rotate-broadcast-key --keys hes-keys.toml --new-key-file gbek.hex --group 3
    """
    key_file: Path | None = opts["key_file"]
    if key_file is None:
        raise click.UsageError("--keys FILE is needed: its kek wraps the new key and it receives the new key")
    try:
        material = load_key_file(key_file)
    except (KeyFileError, OSError) as exc:
        raise click.UsageError(f"--keys: {exc}") from None
    kek = material.kek
    if kek is None:
        raise click.UsageError(f"{key_file}: no kek (the key encrypting key wraps the new broadcast key)")
    next_path = key_file.with_name(key_file.name + ".next")
    new_key = _new_key(next_path, new_key_file, generate)
    register_secrets(new_key, kek)
    throttle = _throttle_config(
        *(opts[k] for k in ["max_in_flight", "max_per_prefix", "max_per_router", "timeout", "retries"]),
        *(opts[k] for k in ["rto_min", "rto_max", "rto_initial", "fixed_timers"]),
    )
    keys = load_hes_keys(key_file, opts["test_keys"], opts["ek"], opts["ak"], None, opts["master_key"])
    head_end = _open(opts["db"], keys, throttle, accept_plain=opts["accept_plain_registrations"])
    titles = [_title(t) for t in meter] or [e.system_title for e in head_end.book.entries()]
    rotation = BroadcastKeyRotation(
        head_end, new_key, titles, kek_for=lambda _title: kek, group_id=group, max_rounds=rounds
    )

    observation = _observation(opts["trace"], opts["pcap"], opts["metrics_port"], opts["bind"], keys)

    async def main() -> int:
        gateway = _gateway(opts["gateway"])
        service = HeadEndService(head_end, group_gateway=gateway, observer=observation.observer)
        await _start(service, opts["bind"], opts["port"])
        try:
            await _listen_for(service, opts["listen_first"])
            return await _rotate(service, rotation, window)
        finally:
            await service.close()
            rotation.store.close()
            head_end.book.close()

    with observation:
        answered = asyncio.run(main())
    report = rotation.report()
    if report.finished:
        _replace_broadcast_key(key_file, new_key)
        next_path.unlink(missing_ok=True)
    _print(report, answered, opts["as_json"])
    if report.failed or not report.finished:
        sys.exit(EXIT_PARTIAL)


@hes_group.command("retire")
@click.argument("system_title")
@_common
def retire_command(system_title: str, **opts: Any) -> None:
    """Release a meter's association (protected RLRQ) and forget the meter.

    \b
    Example:
      cosemnet hes retire 4D4D4D00000003E8 --db hes.db --keys hes-keys.toml
    """
    title = _title(system_title)
    keys = load_hes_keys(
        opts["key_file"],
        opts["test_keys"],
        opts["ek"],
        opts["ak"],
        None,
        opts["master_key"],
        needs_broadcast=False,
    )
    head_end = _open(opts["db"], keys, must_exist=True)

    observation = _observation(opts["trace"], opts["pcap"], opts["metrics_port"], opts["bind"], keys)

    async def main() -> bool:
        service = HeadEndService(head_end, observer=observation.observer)
        await _start(service, opts["bind"], opts["port"])
        try:
            return service.retire(title)
        finally:
            await service.close()
            head_end.book.close()

    with observation:
        known = asyncio.run(main())
    if opts["as_json"]:
        click.echo(json.dumps({"system_title": title.hex().upper(), "retired": known}))
    else:
        click.echo(f"{title.hex().upper()}: " + ("retired" if known else "not known"))
    if not known:
        sys.exit(EXIT_PARTIAL)
