"""asyncio adapter: a :class:`~cosemnet.headend.headend.HeadEnd` on one UDP socket (IPv6).

::

    service = HeadEndService(HeadEnd(AddressBook("hes.db")))
    await service.start("::", 61616)
    run = await service.collect([AttributeRef.parse("3/1-0:1.8.0*255/2")])
    report = await service.broadcast(7, AttributeRef.parse("1-0:1.8.0*255"), window)
    await service.close()

``group_gateway`` sends group requests through the fleet simulator's multicast gateway (loopback
has no IPv6 multicast routing). Received datagrams go straight into the sans-IO core; the core is
then *pumped* (timeouts, new throttled attempts, outgoing datagrams) once per loop iteration, not
once per datagram, so a burst of answers costs one pass. One timer follows
``HeadEnd.next_deadline()``. ``clock`` is the time handed to the core (inject a simulated one in
tests).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from cosemnet.headend.headend import AttributeRef, BroadcastRun, CollectRun, HeadEnd
from cosemnet.headend.operations import Operation
from cosemnet.profiles.mesh.response_window import ResponseWindow

__all__ = ["HeadEndService"]


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, service: HeadEndService) -> None:
        self.service = service

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        self.service._received(data, addr)

    def error_received(self, exc: Exception) -> None:  # ICMP errors: the throttle retries
        self.service.errors += 1


class HeadEndService:
    """See the module docstring."""

    def __init__(
        self,
        head_end: HeadEnd,
        *,
        clock: Callable[[], float] = time.time,
        group_gateway: tuple[str, int] | None = None,
    ) -> None:
        self.head_end = head_end
        self.group_gateway = group_gateway
        """Where multicast datagrams go instead, as ``group address (16 bytes) || frame`` (the fleet
        simulator's gateway emulating multicast forwarding on loopback); None: sent to the group."""
        self.clock = clock
        self.transport: asyncio.DatagramTransport | None = None
        self.errors = 0
        self.sent = 0
        self.received = 0
        self._pump_scheduled = False
        self._timer: asyncio.TimerHandle | None = None
        self._waiters: list[tuple[Callable[[], bool], asyncio.Future[None]]] = []

    async def start(self, host: str = "::", port: int | None = None) -> None:
        loop = asyncio.get_running_loop()
        if port is None:
            port = self.head_end.config.ports.head_end_udp_port
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Protocol(self), local_addr=(host, port), family=socket.AF_INET6
        )
        self.transport = transport
        self._schedule_pump()

    @property
    def local_address(self) -> tuple[str, int]:
        assert self.transport is not None
        sockname = self.transport.get_extra_info("sockname")
        return str(sockname[0]), int(sockname[1])

    async def close(self) -> None:
        if self.transport is not None and self.head_end.config.release_on_exit:
            self.head_end.release_associations(self.clock())
            self._pump()  # send the RLRQs now
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.transport is not None:
            self.transport.close()
            self.transport = None
        self.head_end.close()
        for _, future in self._waiters:
            if not future.done():
                future.cancel()
        self._waiters = []

    # -- pumping ---------------------------------------------------------------------------------

    def _received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        self.received += 1
        self.head_end.receive_datagram(str(addr[0]), int(addr[1]), data, self.clock())
        self._schedule_pump()

    def _schedule_pump(self) -> None:
        if not self._pump_scheduled:
            self._pump_scheduled = True
            asyncio.get_running_loop().call_soon(self._pump)

    def _pump(self) -> None:
        self._pump_scheduled = False
        if self.transport is None:
            return
        now = self.clock()
        head_end = self.head_end
        head_end.poll(now)
        transport = self.transport
        gateway = self.group_gateway
        for out in head_end.take_outgoing():
            try:
                if gateway is not None and out.address.startswith("ff"):
                    transport.sendto(ipaddress.IPv6Address(out.address).packed + out.data, gateway)
                else:
                    transport.sendto(out.data, (out.address, out.port))
                self.sent += 1
            except OSError:
                self.errors += 1
        if self._waiters:
            still = []
            for done, future in self._waiters:
                if future.done():
                    continue
                if done():
                    future.set_result(None)
                else:
                    still.append((done, future))
            self._waiters = still
        deadline = head_end.next_deadline()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if deadline is not None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(max(0.0, deadline - self.clock()), self._schedule_pump)

    async def _wait(self, done: Callable[[], bool]) -> None:
        if done():
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((done, future))
        self._schedule_pump()
        await future

    # -- operations ------------------------------------------------------------------------------

    async def collect(
        self,
        attributes: Sequence[AttributeRef],
        *,
        system_titles: Iterable[bytes] | None = None,
        on_progress: Callable[[CollectRun], None] | None = None,
        resume: int | None = None,
        operation: Operation | None = None,
    ) -> CollectRun:
        """Read ``attributes`` from every registered meter (or ``system_titles``) and wait for the end;
        with ``operation``: run that SET or ACTION on each instead (results in ``operation_results``)."""
        run = self.start_collect(
            attributes,
            system_titles=system_titles,
            on_progress=on_progress,
            resume=resume,
            operation=operation,
        )
        await self.wait_run(run)
        return run

    def start_collect(
        self,
        attributes: Sequence[AttributeRef],
        *,
        system_titles: Iterable[bytes] | None = None,
        on_progress: Callable[[CollectRun], None] | None = None,
        resume: int | None = None,
        operation: Operation | None = None,
    ) -> CollectRun:
        """Start a collect (see :meth:`HeadEnd.collect`); :meth:`wait_run` waits for its end."""
        run = self.head_end.collect(
            attributes,
            self.clock(),
            system_titles=system_titles,
            on_progress=on_progress,
            resume=resume,
            operation=operation,
        )
        self._schedule_pump()
        return run

    async def wait_run(self, run: CollectRun) -> None:
        await self._wait(lambda: run.finished)

    def stop_collect(self, run: CollectRun, reason: str) -> None:
        """No new requests for ``run``; those in flight may still complete (:meth:`HeadEnd.stop_collect`)."""
        self.head_end.stop_collect(run, self.clock(), reason)
        self._schedule_pump()

    def abandon_collect(self, run: CollectRun, reason: str) -> None:
        """End ``run`` now: in-flight requests abandoned, readings committed, summary written."""
        self.head_end.abandon_collect(run, self.clock(), reason)
        self._schedule_pump()

    async def broadcast(
        self,
        group_id: int,
        attribute: AttributeRef,
        window: ResponseWindow,
        *,
        expected: Iterable[bytes] | None = None,
        operation: Operation | None = None,
    ) -> BroadcastRun:
        """One group request (GET, or ``operation``); waits until its window (plus grace) closes."""
        run = self.head_end.broadcast(
            group_id, attribute, self.clock(), window=window, expected=expected, operation=operation
        )
        await self._wait(lambda: run.report is not None)
        return run

    async def listen(self, duration: float | None = None) -> None:
        """Serve registrations (and everything else) for ``duration`` seconds (None: forever)."""
        if duration is None:
            await asyncio.Event().wait()
        else:
            await asyncio.sleep(duration)
