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
from dataclasses import dataclass, field
from typing import Any, Final

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table

from cosemnet.codec.obis import Obis
from cosemnet.codec.types import DoubleLongUnsigned
from cosemnet.headend import AttributeRef, CollectRun, HeadEnd, HeadEndConfig, HeadEndService
from cosemnet.headend.keys import StaticKeyStore
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
    sock = service.sock
    if sock is not None and service.receive_buffer < RECEIVE_BUFFER:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)


@dataclass(slots=True)
class _Laps:
    """Seconds spent in each phase."""

    seconds: dict[str, float] = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)
    mark: float = 0.0

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.seconds[name] = round(now - (self.mark or self.started), 3)
        self.mark = now


@dataclass(slots=True)
class _Findings:
    """What the phases found (the summary is built from it)."""

    registered: int = 0
    associated: int = 0
    aarq_during_read: int = 0
    moved: list[int] = field(default_factory=list)
    rebound: int = 0
    read_ok: set[bytes] = field(default_factory=set)
    read_failed: int = 0
    migrated_read: int = 0
    members: list[bytes] = field(default_factory=list)
    group: dict[str, Any] = field(default_factory=dict)
    delays: list[float] = field(default_factory=list)
    pushes: int = 0


def _registered(fleet: MeshFleet, book: AddressBook) -> int:
    """Meters whose address-book entry is the endpoint they registered from."""
    return sum(
        1
        for i, node in enumerate(fleet.nodes)
        if (entry := book.lookup(node.system_title)) is not None
        and (entry.primary_address.compressed, entry.binding.udp_port) == fleet.endpoint(i)
    )


async def _migrate(fleet: MeshFleet, book: AddressBook, meters: int, found: _Findings) -> None:
    """Phase 3: some meters change address and register again; the head-end must rebind them."""
    found.moved = [i for i in range(meters) if _migrates(i)]
    new_endpoints = {i: await fleet.change_address(i) for i in found.moved}
    await fleet.wait_registered(PHASE_TIMEOUT)
    for i, where in new_endpoints.items():
        title = fleet.nodes[i].system_title
        entry = book.lookup(title)
        if (
            entry is not None
            and (entry.primary_address.compressed, entry.binding.udp_port) == where
            and len(book.history(title)) == 2
        ):
            found.rebound += 1


async def _read(
    service: HeadEndService, fleet: MeshFleet, meters: int, console: Console | None, found: _Findings
) -> CollectRun:
    """Phase 4: read every meter over its long-lived association."""
    with _progress(console, "reading 1-0:1.8.0", meters) as on_progress:
        run = await service.collect([ENERGY], on_progress=on_progress)
    nodes = fleet.nodes
    titles = [node.system_title for node in nodes]
    found.read_ok = {
        t
        for t, result in run.results.items()
        if result.ok and isinstance(result.values[0], DoubleLongUnsigned)
    }
    found.read_failed = len(run.failed)
    found.migrated_read = sum(
        1
        for i in found.moved
        if titles[i] in found.read_ok and len(nodes[i].server.associations()) == 1  # the phase-2 association
    )
    return run


async def _group(
    service: HeadEndService, head_end: HeadEnd, fleet: MeshFleet, meters: int, found: _Findings
) -> None:
    """Phase 5: a group request answered in a response window (with a duplicated answer)."""
    nodes = fleet.nodes
    found.members = [nodes[i].system_title for i in range(meters) if _is_member(i)]
    duplicated_before = fleet.stats.duplicated
    fleet.config.duplicate = GROUP_DUPLICATE
    sent_at = service.clock()
    group = await service.broadcast(DEMO_GROUP, ENERGY, WINDOW, expected=found.members)
    await asyncio.sleep(0.1)  # a duplicate of the last answer arrives right behind it
    fleet.config.duplicate = 0.0
    report = head_end.broadcast_report(group)
    found.delays = sorted(r.received_at - sent_at for r in report.answered.values())
    delays = found.delays
    window_end = WINDOW.end_offset / 1000
    found.group = {
        "group_id": DEMO_GROUP,
        "address": group.address.compressed,
        "members": len(found.members),
        "answered": len(report.answered),
        "missing": len(report.missing),
        "late": len(report.late),
        "unexpected": len(report.unexpected),
        "non_members_executed": sum(
            nodes[i].stats.group_executed for i in range(meters) if not _is_member(i)
        ),
        "duplicates_dropped": report.duplicates,
        "duplicates_sent": fleet.stats.duplicated - duplicated_before,
        "window_seconds": window_end,
        "first_answer_after": round(delays[0], 3) if delays else None,
        "last_answer_after": round(delays[-1], 3) if delays else None,
        "answers_in_window": bool(delays) and delays[-1] <= window_end + TRANSIT_TOLERANCE,
    }


async def _phases(
    service: HeadEndService, head_end: HeadEnd, book: AddressBook, fleet: MeshFleet, meters: int,
    console: Console | None, laps: _Laps,
) -> _Findings:  # fmt: skip
    """Phases 1 to 5 on a started fleet."""
    found = _Findings()
    await fleet.wait_registered(PHASE_TIMEOUT)  # 1. registration
    found.registered = _registered(fleet, book)
    laps.lap("register")
    with _progress(console, "associating", meters) as on_progress:  # 2. long-lived associations
        setup = await service.collect([], on_progress=on_progress)
    found.associated = len(setup.results)
    aarq_before_read = head_end.aarq_sent
    laps.lap("associate")
    await _migrate(fleet, book, meters, found)  # 3. migration
    laps.lap("migrate")
    await _read(service, fleet, meters, console, found)  # 4. read every meter
    found.aarq_during_read = head_end.aarq_sent - aarq_before_read
    laps.lap("read")
    await _group(service, head_end, fleet, meters, found)  # 5. group request with timed responses
    laps.lap("group")
    laps.seconds["total"] = round(time.perf_counter() - laps.started, 3)
    found.pushes = sum(node.stats.registrations_sent for node in fleet.nodes)
    return found


async def _demo(meters: int, console: Console | None) -> dict[str, Any]:
    laps = _Laps()
    book = AddressBook()
    head_end = HeadEnd(
        book,
        keys=StaticKeyStore(),  # the simulated meters' published test keys: the demo is a lab
        config=HeadEndConfig(
            # the meters share this process with the head-end: round trips jitter with the event loop,
            # so the learned timeout gets a 50 ms floor (decision 0080: spurious retries otherwise)
            throttle=ThrottleConfig(
                max_in_flight=64,
                max_per_border_router=64,
                max_per_prefix=64,
                timeout=5.0,
                max_retries=3,
                rto_min=0.05,
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
        laps.lap("start")
        found = await _phases(service, head_end, book, fleet, meters, console, laps)
    finally:
        if fleet is not None:
            await fleet.stop()
        await service.close()
        book.close()
    return _summary(meters, found, laps, head_end, service)


def _summary(
    meters: int, found: _Findings, laps: _Laps, head_end: HeadEnd, service: HeadEndService
) -> dict[str, Any]:
    group = found.group
    summary: dict[str, Any] = {
        "meters": meters,
        "registered": found.registered,
        "registration_pushes": found.pushes,
        "associated": found.associated,
        "aarq_sent": head_end.aarq_sent,
        "migrated": len(found.moved),
        "migrated_rebound": found.rebound,
        "migrated_read_without_aarq": found.migrated_read,
        "aarq_during_read": found.aarq_during_read,
        "read": len(found.read_ok),
        "read_failed": found.read_failed,
        "group": group,
        "seconds": laps.seconds,
        "datagrams": {"head_end_sent": service.sent, "head_end_received": service.received},
    }
    summary["ok"] = (
        found.registered == meters
        and found.associated == meters
        and found.rebound == len(found.moved)
        and found.migrated_read == len(found.moved)
        and found.aarq_during_read == 0
        and len(found.read_ok) == meters
        and group["answered"] == len(found.members)
        and not group["missing"]
        and not group["late"]
        and not group["unexpected"]
        and group["non_members_executed"] == 0
        and group["answers_in_window"]
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
