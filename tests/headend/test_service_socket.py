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
