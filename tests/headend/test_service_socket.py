"""HeadEndService socket handling over real loopback: the receive buffer is sized to the window and a
burst of datagrams is drained in one wake-up, none lost (issue 14)."""

from __future__ import annotations

import asyncio
import socket

from cosemnet.headend import HeadEnd, HeadEndConfig, HeadEndService
from cosemnet.headend.service import RECEIVE_BYTES_PER_DATAGRAM
from cosemnet.profiles.mesh import AddressBook, ThrottleConfig


def test_receive_buffer_sized_to_window_and_burst_drained() -> None:
    async def scenario() -> tuple[int, int, int, int]:
        config = HeadEndConfig(throttle=ThrottleConfig(max_in_flight=512))
        service = HeadEndService(HeadEnd(AddressBook(":memory:"), config=config))
        await service.start("::1", 0)
        default = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        default_size = default.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        default.close()
        wakeups = 0
        drain = service._drain

        def counting() -> None:
            nonlocal wakeups
            wakeups += 1
            drain()

        assert service.sock is not None
        loop = asyncio.get_running_loop()
        loop.remove_reader(service.sock.fileno())
        loop.add_reader(service.sock.fileno(), counting)
        burst = 2000  # more than the default buffer holds at once: ~800 KB charged on loopback
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sender:
            for i in range(burst):  # sent while the loop does not run: all pending at the next wake-up
                sender.sendto(
                    b"\x00\x01\x00\x01\x00\x01\x00\x05" + i.to_bytes(5, "big"), service.local_address
                )
            for _ in range(50):
                await asyncio.sleep(0.01)
                if service.received >= burst:
                    break
        received = service.received
        size = service.receive_buffer
        await service.close()
        return received, wakeups, size, default_size

    received, wakeups, size, default_size = asyncio.run(scenario())
    assert received == 2000  # none dropped at the socket, none lost between wake-ups
    assert wakeups < 20  # drained in bursts, not one loop iteration per datagram
    # what the kernel granted: the window's size unless the kernel caps it lower than asked
    assert size >= min(512 * RECEIVE_BYTES_PER_DATAGRAM, default_size)


def test_requests_freed_in_a_burst_go_out_before_the_burst_ends() -> None:
    """With a large window the answers arrive in bursts: every ``pump_every`` datagrams of a burst the
    requests they freed are sent at once (the meters work while the head-end reads on); every meter
    is still read exactly once."""
    from cosemnet.headend import AttributeRef
    from cosemnet.simulator.mesh_fleet import FleetConfig, MeshFleet

    async def scenario() -> tuple[int, int, int]:
        config = HeadEndConfig(
            throttle=ThrottleConfig(
                max_in_flight=8, max_per_prefix=8, timeout=2.0, backoff_base=0.2, rto_min=0.05
            )
        )
        head_end = HeadEnd(AddressBook(":memory:"), config=config)
        service = HeadEndService(head_end, pump_every=2)
        await service.start("::1", 0)
        fleet = MeshFleet(FleetConfig(meters=24, head_end=service.local_address, seed=5))
        await fleet.start()
        inside_drain = 0
        drain, send = service._drain, service._send_outgoing
        draining = False

        def watched_drain() -> None:
            nonlocal draining
            draining = True
            try:
                drain()
            finally:
                draining = False

        def watched_send(sock: socket.socket) -> None:
            nonlocal inside_drain
            if draining and head_end._out:
                inside_drain += 1
            send(sock)

        assert service.sock is not None
        loop = asyncio.get_running_loop()
        loop.remove_reader(service.sock.fileno())
        loop.add_reader(service.sock.fileno(), watched_drain)
        service._send_outgoing = watched_send  # type: ignore[method-assign]
        try:
            for _ in range(500):
                if len(head_end.book) == 24:
                    break
                await asyncio.sleep(0.01)
            energy = AttributeRef.parse("3/1-0:1.8.0*255/2")
            first = await asyncio.wait_for(service.collect([energy]), 30)  # AARQ, HLS pass 3, GET
            second = await asyncio.wait_for(service.collect([energy]), 30)
        finally:
            await fleet.stop()
            await service.close()
        ok = sum(1 for r in (*first.results.values(), *second.results.values()) if r.ok)
        return ok, len(first.failed) + len(second.failed), inside_drain

    ok, failed, inside_drain = asyncio.run(scenario())
    assert (ok, failed) == (48, 0)
    assert inside_drain > 0  # sent from within a burst, not only after it
