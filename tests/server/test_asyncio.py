"""The asyncio adapters on real loopback sockets: TCP and UDP, IPv4 and IPv6, concurrency, slow peers."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from cosemnet.aio import CoreTimer
from cosemnet.codec.acse import AARE, AssociationResult
from cosemnet.codec.wrapper import HEADER_SIZE, WrapperFrame, WrapperHeader
from cosemnet.codec.xdlms import CosemAttributeDescriptor, GetRequestNormal, GetResponseNormal
from cosemnet.server import MeterServer, ServerLimits, serve_tcp, serve_udp

from .helpers import ENERGY, PROFILE, aarq, make_device

GET_ENERGY = GetRequestNormal(1, CosemAttributeDescriptor(3, ENERGY, 2)).encode()
GET_PROFILE = GetRequestNormal(2, CosemAttributeDescriptor(7, PROFILE, 2)).encode()


def ipv6_available() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def run(coro: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(coro(), timeout=60))


async def exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, apdu: bytes) -> bytes:
    writer.write(WrapperFrame(16, 1, apdu).encode())
    await writer.drain()
    header = WrapperHeader.decode(await reader.readexactly(HEADER_SIZE))
    assert (header.source_wport, header.destination_wport) == (1, 16)
    return await reader.readexactly(header.length)


async def tcp_client(host: str, port: int) -> int:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        aare = AARE.decode(await exchange(reader, writer, aarq()))
        assert aare.result == AssociationResult.ACCEPTED
        value = GetResponseNormal.decode(await exchange(reader, writer, GET_ENERGY)).result
        assert isinstance(value, int)
        return value
    finally:
        writer.close()


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_tcp_ipv4_ipv6(host: str) -> None:
    if host == "::1" and not ipv6_available():
        pytest.skip("no IPv6 loopback")

    async def main() -> None:
        server = MeterServer([make_device()])
        running = await serve_tcp(server, host, 0)
        port = running.addresses[0][1]
        assert await tcp_client(host, port) == 123456
        await running.close()
        assert server.associations() == []

    run(main)


def test_200_concurrent_tcp_associations_and_a_stalled_peer() -> None:
    async def main() -> None:
        # 203 connections from one source: above the default per-source cap (tested in test_limits.py)
        server = MeterServer([make_device(rows=1000)], limits=ServerLimits(max_connections_per_source=None))
        running = await serve_tcp(server, "127.0.0.1", 0)
        port = running.addresses[0][1]
        # the stalled peer: a small receive buffer, floods profile reads and never reads a byte
        stalled = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stalled.setblocking(False)
        loop = asyncio.get_running_loop()
        await loop.sock_connect(stalled, ("127.0.0.1", port))
        flood = WrapperFrame(16, 1, aarq()).encode() + WrapperFrame(16, 1, GET_PROFILE).encode() * 400
        await loop.sock_sendall(stalled, flood)
        # a slowloris peer: half a frame header, then nothing
        half = socket.create_connection(("127.0.0.1", port))
        half.sendall(b"\x00\x01\x00")
        await asyncio.sleep(0.2)
        started = time.monotonic()
        values = await asyncio.gather(*(tcp_client("127.0.0.1", port) for _ in range(200)))
        elapsed = time.monotonic() - started
        assert values == [123456] * 200
        assert elapsed < 20
        # the stalled peer is still connected, and the server stopped reading from it (backpressure)
        assert running.connection_count >= 2
        paused = [
            p for p in running._protocols.values() if p.transport is not None and not p.transport.is_reading()
        ]
        assert len(paused) == 1
        stalled.close()
        half.close()
        await running.close()

    run(main)


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.queue.put_nowait(data)


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_udp_ipv4_ipv6(host: str) -> None:
    if host == "::1" and not ipv6_available():
        pytest.skip("no IPv6 loopback")

    async def main() -> None:
        server = MeterServer([make_device(rows=50)])
        running = await serve_udp(server, host, 0)
        port = running.addresses[0][1]
        loop = asyncio.get_running_loop()
        transport, protocol = await loop.create_datagram_endpoint(_Datagrams, remote_addr=(host, port))

        async def ask(apdu: bytes) -> bytes:
            transport.sendto(WrapperFrame(16, 1, apdu).encode())
            frame = WrapperFrame.decode(await asyncio.wait_for(protocol.queue.get(), 5))
            return frame.apdu

        assert AARE.decode(await ask(aarq())).result == AssociationResult.ACCEPTED
        assert GetResponseNormal.decode(await ask(GET_ENERGY)).result == 123456
        rows = GetResponseNormal.decode(await ask(GET_PROFILE)).result
        assert isinstance(rows, list) and len(rows) == 50
        assert server.connection_count == 1
        transport.close()
        await running.close()

    run(main)


def test_tcp_inactivity_timeout_closes_the_connection() -> None:
    async def main() -> None:
        server = MeterServer([make_device()], inactivity_timeout=0.3)
        running = await serve_tcp(server, "127.0.0.1", 0)
        port = running.addresses[0][1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert AARE.decode(await exchange(reader, writer, aarq())).result == AssociationResult.ACCEPTED
        assert await asyncio.wait_for(reader.read(), 5) == b""  # closed by the server
        assert server.associations() == []
        writer.close()
        await running.close()

    run(main)


class _StubServer:
    """What the adapter's timer asks of a MeterServer: the deadline and the expiry of what is due."""

    def __init__(self) -> None:
        self.deadline: float | None = None
        self.timeouts: list[float] = []

    def get_timer(self) -> float | None:
        return self.deadline

    def handle_timer(self, now: float) -> None:
        if self.deadline is not None and self.deadline <= now:
            self.timeouts.append(now)
            self.deadline = None


def test_timer_rearms_only_when_the_deadline_moves_earlier() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        arms: list[float] = []
        call_later = loop.call_later

        def counting_call_later(delay: float, callback: Any, *args: Any) -> asyncio.TimerHandle:
            if getattr(callback, "__self__", None) is timer:  # not asyncio.sleep's own timers
                arms.append(delay)
            return call_later(delay, callback, *args)

        loop.call_later = counting_call_later  # type: ignore[method-assign]
        stub = _StubServer()
        now = [0.0]  # the injected clock, moved by hand
        fired: list[float] = []
        timer = CoreTimer.for_core(stub, lambda: fired.append(now[0]), lambda: now[0])
        stub.deadline = 0.05
        timer.update()
        assert arms == [0.05]
        for later in (0.5, 1.0, 30.0):  # requests push the deadline later: no re-arm
            stub.deadline = later
            timer.update()
        assert arms == [0.05]
        await asyncio.sleep(0.3)  # fires early (deadline now 30): re-checks, re-arms to it, expires nothing
        assert arms == [0.05, 30.0] and stub.timeouts == [] and fired == []
        stub.deadline = 0.01  # moved earlier: re-armed
        timer.update()
        assert arms == [0.05, 30.0, 0.01]
        now[0] = 0.02
        await asyncio.sleep(0.3)
        assert stub.timeouts == [0.02] and fired == [0.02]
        assert arms == [0.05, 30.0, 0.01]  # nothing left to wait for
        timer.cancel()

    run(main)


def test_requests_on_a_connection_do_not_rearm_the_timer() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        arms: list[float] = []
        call_later = loop.call_later
        server = MeterServer([make_device()], inactivity_timeout=60)
        running = await serve_tcp(server, "127.0.0.1", 0)

        def counting_call_later(delay: float, callback: Any, *args: Any) -> asyncio.TimerHandle:
            if getattr(callback, "__self__", None) is running._timer:
                arms.append(delay)
            return call_later(delay, callback, *args)

        loop.call_later = counting_call_later  # type: ignore[method-assign]
        reader, writer = await asyncio.open_connection("127.0.0.1", running.addresses[0][1])
        assert AARE.decode(await exchange(reader, writer, aarq())).result == AssociationResult.ACCEPTED
        for _ in range(50):
            assert isinstance(
                GetResponseNormal.decode(await exchange(reader, writer, GET_ENERGY)).result, int
            )
        assert len(arms) == 1  # armed once when the connection opened; 51 requests moved it only later
        writer.close()
        await running.close()

    run(main)
