"""The shared asyncio driver (cosemnet.aio) and the client adapter on the core's timers."""

from __future__ import annotations

import asyncio
import contextlib

from cosemnet.aio import CoreTimer, run_until
from cosemnet.client import AsyncClient, ClientTimeout
from cosemnet.client.connection import ConnectionState

from .fake_meter import SERIAL, FakeMeter, serve


class _Core:
    """A minimal timed core: answers every input with its upper-case copy; one deadline."""

    def __init__(self, deadline: float | None) -> None:
        self.deadline = deadline
        self.fired: list[float] = []
        self.received: list[bytes] = []
        self.outgoing: list[bytes] = []

    def get_timer(self) -> float | None:
        return self.deadline

    def handle_timer(self, now: float) -> None:
        if self.deadline is not None and now >= self.deadline:
            self.fired.append(now)
            self.deadline = None

    def receive(self, data: bytes, now: float) -> None:
        self.received.append(data)
        self.outgoing.append(data.upper())


def test_run_until_calls_handle_timer_when_nothing_arrives() -> None:
    async def main() -> _Core:
        loop = asyncio.get_running_loop()
        core = _Core(loop.time() + 0.01)
        never: asyncio.Future[bytes] = loop.create_future()

        async def receive() -> bytes:
            return await asyncio.shield(never)

        async def flush() -> None:
            pass

        await run_until(
            core, done=lambda: bool(core.fired), flush=flush, receive=receive, deliver=core.receive
        )
        return core

    core = asyncio.run(main())
    assert len(core.fired) == 1 and core.received == []


def test_run_until_feeds_input_and_flushes_output() -> None:
    async def main() -> tuple[_Core, list[bytes]]:
        core = _Core(None)
        inbox: asyncio.Queue[bytes] = asyncio.Queue()
        for item in (b"a", b"b"):
            inbox.put_nowait(item)
        sent: list[bytes] = []

        async def flush() -> None:
            sent.extend(core.outgoing)
            core.outgoing.clear()

        await run_until(
            core, done=lambda: len(sent) == 2, flush=flush, receive=inbox.get, deliver=core.receive
        )
        return core, sent

    core, sent = asyncio.run(main())
    assert core.received == [b"a", b"b"] and sent == [b"A", b"B"]


def test_core_timer_follows_the_deadline() -> None:
    async def main() -> tuple[_Core, int]:
        loop = asyncio.get_running_loop()
        core = _Core(loop.time() + 3600.0)
        flushed = 0

        def on_fired() -> None:
            nonlocal flushed
            flushed += 1

        timer = CoreTimer.for_core(core, on_fired)
        timer.update()
        core.deadline = loop.time() + 0.01  # moved earlier: update re-arms
        timer.update()
        while not core.fired:
            await asyncio.sleep(0.005)
        timer.cancel()
        return core, flushed

    core, flushed = asyncio.run(main())
    assert len(core.fired) == 1 and flushed == 1


def test_async_client_cancelled_mid_request_keeps_the_association() -> None:
    meter = FakeMeter()

    async def main(port: int) -> object:
        async with AsyncClient("127.0.0.1", port, timeout=30) as client:
            meter.answer = False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(client.get(1, SERIAL, 2), 0.2)
            conn = client.connection
            assert conn.state is ConnectionState.ASSOCIATED and not conn.busy
            meter.answer = True
            return await client.get(1, SERIAL, 2)

    with serve(meter) as port:
        assert asyncio.run(main(port)) == "CNT-0001"


def test_async_client_timeout_comes_from_the_core_timer() -> None:
    meter = FakeMeter()

    async def main(port: int) -> tuple[str, AsyncClient]:
        client = AsyncClient("127.0.0.1", port, timeout=0.2)
        await client.associate()
        meter.answer = False
        try:
            await client.get(1, SERIAL, 2)
        except ClientTimeout as exc:
            message = str(exc)
        else:
            raise AssertionError("no timeout")
        await client.close()
        return message, client

    with serve(meter) as port:
        message, client = asyncio.run(main(port))
    assert "no answer from 127.0.0.1" in message
    conn = client.connection
    assert conn.response_timeout == 0.2 and conn.retries == 0  # TCP: no retransmission
    assert conn.state is ConnectionState.IDLE and conn.get_timer() is None
    assert len(meter.requests) == 2  # AARQ and one GET
