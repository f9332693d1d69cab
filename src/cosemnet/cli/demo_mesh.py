"""The mesh section of ``cosemnet demo`` (IEC TS 62056-8-20 over real UDP on ``::1``).

One asyncio loop in the demo process runs a :class:`~cosemnet.simulator.mesh_fleet.MeshFleet` of
simulated mesh meters and a :class:`~cosemnet.headend.HeadEndService`, both on real UDP sockets of the
IPv6 loopback. The phases, each timed:

1. **register** -- every meter pushes its address registration data; the head-end fills its address
   book and confirms;
2. **associate** -- the head-end opens one long-lived HLS-GMAC association per meter (throttled);
3. **migrate** -- every tenth meter (index 3, 13, 23, ...) moves to a new address (new UDP port) and
   pushes address update data; the head-end rebinds its association without a new AARQ;
4. **read** -- one throttled, ciphered GET of 1-0:1.8.0*255 attribute 2 (active energy import) from
   every meter, migrated ones at their new address, inside the associations of phase 2;
5. **group** -- one GET of the same register to group 1 (``ff15::d1:1``, wPort 127, broadcast key)
   through the fleet's group gateway (loopback has no multicast routing); members answer inside a
   response window of 2 s, the head-end counts answered / missing / late / unexpected and drops
   duplicates.

[design] choices of the demo (the TS is silent on all of them):

* group membership: the fleet's static groups (``FleetConfig.groups = 3``: meter ``i`` belongs to group
  ``1 + i % 3``), so group 1 is the third of the meters with ``i % 3 == 0``; the head-end expects
  exactly those, so a non-member that answered would show up as "unexpected";
* during the group phase the simulated mesh duplicates 10 % of the datagrams the meters send
  (``FleetConfig.duplicate``, as an MPL retransmission would), to show the head-end dropping them;
  every other phase runs without impairments;
* throttle: 64 requests in flight, 64 per /64 prefix and per border router (every meter shares the
  loopback prefix), 5 s per attempt;
* the meters join at the same instant (no randomisation start interval) and the head-end socket asks
  for a 1 MiB receive buffer so that the burst of registrations is not dropped (with the default
  buffer some are, and are retried after the 1 s repetition delay).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Final

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table

from cosemnet.codec.obis import Obis
from cosemnet.codec.types import DoubleLongUnsigned
from cosemnet.headend import AttributeRef, CollectRun, HeadEnd, HeadEndConfig, HeadEndService
from cosemnet.profiles.mesh import AddressBook, ResponseWindow, ThrottleConfig
from cosemnet.simulator.mesh_fleet import FleetConfig, MeshFleet

__all__ = ["DEMO_GROUP", "DEMO_METERS", "ENERGY", "WINDOW", "run_mesh_demo"]

DEMO_METERS: Final = 300
DEMO_SEED: Final = 1
DEMO_GROUPS: Final = 3
DEMO_GROUP: Final = 1
"""Group 1 = meters with index % 3 == 0 (see the module docstring)."""
MIGRATE_EVERY: Final = 10
MIGRATE_OFFSET: Final = 3
WINDOW: Final = ResponseWindow(0, 2000)
GROUP_DUPLICATE: Final = 0.1
TRANSIT_TOLERANCE: Final = 0.5
"""Seconds an answer may take on top of the window (event loop latency on a busy machine)."""
PHASE_TIMEOUT: Final = 60.0
RECEIVE_BUFFER: Final = 1 << 20
ENERGY: Final = AttributeRef(3, Obis.parse("1-0:1.8.0*255"), 2)


def _is_member(index: int) -> bool:
    return index % DEMO_GROUPS == DEMO_GROUP - 1


def _migrates(index: int) -> bool:
    return index % MIGRATE_EVERY == MIGRATE_OFFSET


@contextmanager
def _progress(
    console: Console | None, description: str, total: int
) -> Iterator[Callable[[CollectRun], None]]:
    """A rich progress bar fed by a collect's ``on_progress`` (nothing without a console)."""
    if console is None:
        yield lambda run: None
        return
    with Progress(
        f"  {description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task(description, total=total)
        yield lambda run: progress.update(task, completed=run.done, total=run.total)


def _grow_receive_buffer(service: HeadEndService) -> None:
    """Ask for a 1 MiB socket receive buffer: a few hundred meters joining at the same instant send their
    registrations in one burst, more than the default buffer holds (the ones dropped would be retried
    after the repetition delay). The kernel may grant less (``net.core.rmem_max``); best effort."""
    transport = service.transport
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)


async def _demo(meters: int, console: Console | None) -> dict[str, Any]:
    seconds: dict[str, float] = {}
    started = mark = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal mark
        now = time.perf_counter()
        seconds[name] = round(now - mark, 3)
        mark = now

    book = AddressBook()
    head_end = HeadEnd(
        book,
        config=HeadEndConfig(
            throttle=ThrottleConfig(
                max_in_flight=64, max_per_border_router=64, max_per_prefix=64, timeout=5.0, max_retries=3
            )
        ),
    )
    service = HeadEndService(head_end)
    fleet: MeshFleet | None = None
    try:
        await service.start("::1", 0)
        _grow_receive_buffer(service)
        fleet = MeshFleet(
            FleetConfig(
                meters=meters,
                head_end=service.local_address,
                groups=DEMO_GROUPS,
                response_window=WINDOW,
                randomisation_start_interval=0,
                repetition_delay=1,
                seed=DEMO_SEED,
            )
        )
        await fleet.start()
        service.group_gateway = fleet.group_gateway
        lap("start")

        # 1. registration
        await fleet.wait_registered(PHASE_TIMEOUT)
        nodes = fleet.nodes
        registered = sum(
            1
            for i, node in enumerate(nodes)
            if (entry := book.lookup(node.system_title)) is not None
            and (entry.primary_address.compressed, entry.binding.udp_port) == fleet.endpoint(i)
        )
        lap("register")

        # 2. long-lived associations
        with _progress(console, "associating", meters) as on_progress:
            setup = await service.collect([], on_progress=on_progress)
        associated = len(setup.results)
        aarq_before_read = head_end.aarq_sent
        lap("associate")

        # 3. migration
        moved = [i for i in range(meters) if _migrates(i)]
        new_endpoints = {i: await fleet.change_address(i) for i in moved}
        await fleet.wait_registered(PHASE_TIMEOUT)
        rebound = 0
        for i, where in new_endpoints.items():
            title = nodes[i].system_title
            entry = book.lookup(title)
            if (
                entry is not None
                and (entry.primary_address.compressed, entry.binding.udp_port) == where
                and len(book.history(title)) == 2
            ):
                rebound += 1
        lap("migrate")

        # 4. read every meter
        with _progress(console, "reading 1-0:1.8.0", meters) as on_progress:
            run = await service.collect([ENERGY], on_progress=on_progress)
        aarq_during_read = head_end.aarq_sent - aarq_before_read
        titles = [node.system_title for node in nodes]
        read_ok = {
            t
            for t, result in run.results.items()
            if result.ok and isinstance(result.values[0], DoubleLongUnsigned)
        }
        migrated_read = sum(
            1
            for i in moved
            if titles[i] in read_ok and len(nodes[i].server.associations()) == 1  # the phase-2 association
        )
        lap("read")

        # 5. group request with timed responses
        members = [titles[i] for i in range(meters) if _is_member(i)]
        duplicated_before = fleet.stats.duplicated
        fleet.config.duplicate = GROUP_DUPLICATE
        sent_at = service.clock()
        group = await service.broadcast(DEMO_GROUP, ENERGY, WINDOW, expected=members)
        await asyncio.sleep(0.1)  # a duplicate of the last answer arrives right behind it
        fleet.config.duplicate = 0.0
        report = head_end.broadcast_report(group)
        delays = sorted(r.received_at - sent_at for r in report.answered.values())
        non_members_executed = sum(nodes[i].stats.group_executed for i in range(meters) if not _is_member(i))
        lap("group")
        seconds["total"] = round(time.perf_counter() - started, 3)
        pushes = sum(node.stats.registrations_sent for node in nodes)
    finally:
        if fleet is not None:
            await fleet.stop()
        await service.close()
        book.close()

    window_end = WINDOW.end_offset / 1000
    in_window = bool(delays) and delays[-1] <= window_end + TRANSIT_TOLERANCE
    summary: dict[str, Any] = {
        "meters": meters,
        "registered": registered,
        "registration_pushes": pushes,
        "associated": associated,
        "aarq_sent": head_end.aarq_sent,
        "migrated": len(moved),
        "migrated_rebound": rebound,
        "migrated_read_without_aarq": migrated_read,
        "aarq_during_read": aarq_during_read,
        "read": len(read_ok),
        "read_failed": len(run.failed),
        "group": {
            "group_id": DEMO_GROUP,
            "address": group.address.compressed,
            "members": len(members),
            "answered": len(report.answered),
            "missing": len(report.missing),
            "late": len(report.late),
            "unexpected": len(report.unexpected),
            "non_members_executed": non_members_executed,
            "duplicates_dropped": report.duplicates,
            "duplicates_sent": fleet.stats.duplicated - duplicated_before,
            "window_seconds": window_end,
            "first_answer_after": round(delays[0], 3) if delays else None,
            "last_answer_after": round(delays[-1], 3) if delays else None,
            "answers_in_window": in_window,
        },
        "seconds": seconds,
        "datagrams": {"head_end_sent": service.sent, "head_end_received": service.received},
    }
    summary["ok"] = (
        registered == meters
        and associated == meters
        and rebound == len(moved)
        and migrated_read == len(moved)
        and aarq_during_read == 0
        and len(read_ok) == meters
        and len(report.answered) == len(members)
        and not report.missing
        and not report.late
        and not report.unexpected
        and non_members_executed == 0
        and in_window
    )
    return summary


def _mark(ok: bool) -> str:
    return "[green]✓[/]" if ok else "[bold red]✗[/]"


def _table(summary: dict[str, Any]) -> Table:
    group = summary["group"]
    s = summary["seconds"]
    meters = summary["meters"]
    migrated = summary["migrated"]
    last = group["last_answer_after"]
    spread = "-" if last is None else f"{group['first_answer_after']:.2f}-{last:.2f} s"
    non_members = group["unexpected"] + group["non_members_executed"]
    rows: list[tuple[str, object, object, bool, str]] = [
        (
            "registered",
            summary["registered"],
            meters,
            summary["registered"] == meters,
            f"{s['register']:.2f} s",
        ),
        (
            "associated (HLS-GMAC)",
            summary["associated"],
            meters,
            summary["associated"] == meters,
            f"{s['associate']:.2f} s",
        ),
        (
            "migrated, re-registered",
            summary["migrated_rebound"],
            migrated,
            summary["migrated_rebound"] == migrated,
            f"{s['migrate']:.2f} s",
        ),
        (
            "read 1-0:1.8.0 (ciphered GET)",
            summary["read"],
            meters,
            summary["read"] == meters,
            f"{s['read']:.2f} s",
        ),
        (
            "  migrated, read at new address",
            summary["migrated_read_without_aarq"],
            migrated,
            summary["migrated_read_without_aarq"] == migrated and summary["aarq_during_read"] == 0,
            f"{summary['aarq_during_read']} new AARQ",
        ),
        (
            f"group {group['group_id']} members answered",
            group["answered"],
            group["members"],
            group["answered"] == group["members"] and not group["missing"] and not group["late"],
            f"{s['group']:.2f} s",
        ),
        ("  non-members answered", non_members, 0, non_members == 0, ""),
        (
            "  duplicates dropped",
            group["duplicates_dropped"],
            group["duplicates_sent"],
            group["duplicates_dropped"] == group["duplicates_sent"],
            "",
        ),
        (
            "  answers within the window",
            spread,
            f"0-{group['window_seconds']:.0f} s",
            group["answers_in_window"],
            "",
        ),
        ("total (with start-up)", "", "", summary["ok"], f"{s['total']:.2f} s"),
    ]
    table = Table(title=f"mesh: {meters} meters and a head-end over UDP on ::1")
    table.add_column("phase")
    table.add_column("result", justify="right")
    table.add_column("expected", justify="right")
    table.add_column("", justify="center")
    table.add_column("time", justify="right")
    for name, result, expected, ok, took in rows:
        table.add_row(name, str(result), str(expected), _mark(ok), took)
    return table


def run_mesh_demo(console: Console | None, json_mode: bool, *, meters: int = DEMO_METERS) -> dict[str, Any]:
    """Run the mesh section; print to ``console`` unless ``json_mode``. Returns the JSON summary
    (``"ok"``: every number is what it should be; ``"error"`` when the sockets could not be opened)."""
    show = console if console is not None and not json_mode else None
    if show is not None:
        show.print(
            f"\n[bold underline]7. IEC TS 62056-8-20 mesh[/]: {meters} simulated meters register with a "
            "head-end, some migrate, all are read, one group request (real UDP on ::1)"
        )
    try:
        summary = asyncio.run(_demo(meters, show))
    except OSError as exc:
        summary = {"ok": False, "meters": meters, "error": f"cannot open UDP sockets on ::1: {exc}"}
        if show is not None:
            show.print(f"[bold red]{summary['error']}[/]")
        return summary
    if show is not None:
        show.print(_table(summary))
        group = summary["group"]
        show.print(
            f"Every meter registered ({summary['registration_pushes']} pushes, retries included) and got one "
            f"long-lived association; {summary['migrated']} moved to a "
            f"new address and were read there in that same association (no new AARQ); one ciphered "
            f"group request to {group['address']} was answered by its {group['answered']} members within "
            f"{group['window_seconds']:.0f} s, {group['duplicates_dropped']} duplicates dropped."
        )
    return summary
