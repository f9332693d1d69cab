"""The head-end on a real UDP socket (::1) against the mesh fleet simulator (MeshMeterNode per meter)."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest

from cosemnet.headend import (
    AttributeRef,
    GroupRequestClosed,
    HeadEnd,
    HeadEndConfig,
    HeadEndEvent,
    HeadEndService,
    MeterCompleted,
    RegistrationEvent,
    RunFinished,
)
from cosemnet.profiles.mesh import AddressBook, ResponseWindow, ThrottleConfig
from cosemnet.simulator.mesh_fleet import FleetConfig, MeshFleet


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


pytestmark = pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback")
ENERGY = AttributeRef.parse("3/1-0:1.8.0*255/2")


async def _wait(predicate, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, "timed out"
        await asyncio.sleep(0.01)


def test_udp_register_collect_rebind_broadcast() -> None:
    async def main() -> None:
        # fleet and head-end share this process: a 50 ms floor on the learned timeout (decision 0080)
        config = HeadEndConfig(
            throttle=ThrottleConfig(max_per_prefix=16, timeout=2.0, backoff_base=0.2, rto_min=0.05)
        )
        head_end = HeadEnd(AddressBook(":memory:"), config=config)
        service = HeadEndService(head_end)
        events: list[HeadEndEvent] = []
        service.on_event = events.append  # the core's typed events, in order (docs/sans-io.md)
        await service.start("::1", 0)
        fleet = MeshFleet(
            FleetConfig(
                meters=12,
                head_end=service.local_address,
                groups=2,
                response_window=ResponseWindow(0, 200),
                seed=3,
            )
        )
        await fleet.start()
        service.group_gateway = fleet.group_gateway
        try:
            await _wait(lambda: len(head_end.book) == 12)
            run = await asyncio.wait_for(service.collect([ENERGY]), 20)
            assert len(run.results) == 12 and not run.failed
            assert all(isinstance(r.values[0], int) for r in run.results.values())
            assert head_end.aarq_sent == 12
            registered = {e.system_title for e in events if isinstance(e, RegistrationEvent)}
            read = [e for e in events if isinstance(e, MeterCompleted) and e.run_id == run.run_id]
            assert len(registered) == 12 and {e.system_title for e in read} == set(run.results)
            (finished,) = [e for e in events if isinstance(e, RunFinished) and e.run_id == run.run_id]
            assert (finished.answered, finished.failed) == (12, 0) and events.index(finished) > events.index(
                read[-1]
            )
            # one meter moves: address update, rebinding, no new association
            node = fleet.nodes[5]
            old = (node.address, node.udp_port)
            await fleet.change_address(5)
            await _wait(
                lambda: (
                    (entry := head_end.book.lookup(node.system_title)) is not None
                    and entry.binding.udp_port != old[1]
                )
            )
            run2 = await asyncio.wait_for(service.collect([ENERGY]), 20)
            assert len(run2.results) == 12 and head_end.aarq_sent == 12
            # group 1 (meters 0, 2, 4, ...) through the fleet's multicast gateway
            members = {n.system_title for i, n in enumerate(fleet.nodes) if i % 2 == 0}
            b = await asyncio.wait_for(
                service.broadcast(1, ENERGY, ResponseWindow(0, 200), expected=members), 20
            )
            report = head_end.broadcast_report(b)
            assert set(report.answered) == members and not report.missing
            closed = [e for e in events if isinstance(e, GroupRequestClosed)]
            assert [(e.invoke_id, e.group_id) for e in closed] == [(b.invoke_id, 1)]
        finally:
            await fleet.stop()
            await service.close()

    asyncio.run(main())
