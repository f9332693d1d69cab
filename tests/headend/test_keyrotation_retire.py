"""Release on retire (issue 12 item 5) over loopback UDP: ``HeadEnd.retire`` sends the protected RLRQ,
the meter's association count drops to 0 and the head-end forgets the binding."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from cosemnet.headend import HeadEnd, HeadEndConfig, HeadEndService
from cosemnet.profiles.mesh import AddressBook, ThrottleConfig
from cosemnet.simulator.mesh_fleet import FleetConfig, MeshFleet

from .test_lossy_mesh import _ipv6_loopback

pytestmark = pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback")


async def _until(check: object, seconds: float = 10.0) -> bool:
    for _ in range(int(seconds / 0.02)):
        if check():  # type: ignore[operator]
            return True
        await asyncio.sleep(0.02)
    return False


def test_retire_releases_the_association_and_forgets_the_meter(tmp_path: Path) -> None:
    async def main() -> None:
        book = AddressBook(tmp_path / "hes.db")
        config = HeadEndConfig(throttle=ThrottleConfig(max_per_prefix=8, rto_min=0.2))
        service = HeadEndService(HeadEnd(book, config=config))
        await service.start("::1", 0)
        fleet = MeshFleet(FleetConfig(meters=3, head_end=service.local_address, gateway_port=None))
        await fleet.start()
        try:
            assert await fleet.wait_registered(30)
            run = await asyncio.wait_for(service.collect([]), 30)  # associate with every meter
            assert len(run.results) == 3
            nodes = fleet.nodes
            assert all(len(n.server.associations()) == 1 for n in nodes)
            title = nodes[0].system_title
            assert service.retire(title)
            assert await _until(lambda: len(nodes[0].server.associations()) == 0)
            assert book.lookup(title) is None and not service.head_end.is_associated(title)
            assert title not in service.head_end.store.associations()
            assert all(len(n.server.associations()) == 1 for n in nodes[1:])  # the others keep theirs
            assert not service.retire(bytes(8))  # unknown: nothing sent, False
        finally:
            await fleet.stop()
            await service.close()
            book.close()

    asyncio.run(main())
