"""asyncio adapter: a :class:`~cosemnet.headend.headend.HeadEnd` on one UDP socket (IPv6).

::

    service = HeadEndService(HeadEnd(AddressBook("hes.db")))
    await service.start("::", 61616)
    run = await service.collect([AttributeRef.parse("3/1-0:1.8.0*255/2")])
    report = await service.broadcast(7, AttributeRef.parse("1-0:1.8.0*255"), window)
    await service.close()

``group_gateway`` sends group requests through the fleet simulator's multicast gateway (loopback
has no IPv6 multicast routing). The socket is non-blocking and read with ``loop.add_reader``: each
wake-up drains every pending datagram (up to ``drain_limit``) into the sans-IO core, which is then
*pumped* (timeouts, new throttled attempts, outgoing datagrams) once per loop iteration, so a burst
of answers costs one loop iteration and one pass. Within a long burst the core is also pumped every
``pump_every`` datagrams: the requests they free go out at once, so the meters answer while the rest
of the burst is read (with a large window, pumping only after the whole burst left the peers idle
while we read and us idle while they answered). One :class:`~cosemnet.aio.CoreTimer` follows
``HeadEnd.get_timer()`` (re-armed only when the deadline moves earlier); the core's typed events
(``HeadEnd.pop_events``) go to ``on_event`` after every pass. The receive buffer is sized to the throttle's
window (``max_in_flight`` x ``RECEIVE_BYTES_PER_DATAGRAM``, at most ``receive_buffer_cap``): the
kernel may grant less, :attr:`HeadEndService.receive_buffer` says what it granted. ``clock`` is the
time handed to the core (inject a simulated one in tests).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Final

from cosemnet.aio import CoreTimer
from cosemnet.headend.events import HeadEndEvent
from cosemnet.headend.headend import AttributeRef, BroadcastRun, CollectRun, HeadEnd
from cosemnet.headend.operations import Operation
from cosemnet.profiles.mesh.response_window import ResponseWindow
from cosemnet.trace import Direction, FrameObserver, FrameRecord, Transport

__all__ = ["RECEIVE_BYTES_PER_DATAGRAM", "HeadEndService"]

logger = logging.getLogger(__name__)

RECEIVE_BYTES_PER_DATAGRAM: Final = 4096
"""Receive-buffer bytes reserved per request in flight: what the kernel charges for one datagram of
up to a wrapper frame's size (its payload plus buffer overhead)."""
_MAX_DATAGRAM: Final = 65535


class HeadEndService:
    """See the module docstring."""

    def __init__(
        self,
        head_end: HeadEnd,
        *,
        clock: Callable[[], float] = time.time,
        group_gateway: tuple[str, int] | None = None,
        receive_buffer_cap: int = 32 << 20,
        drain_limit: int = 4096,
        observer: FrameObserver | None = None,
        pump_every: int = 32,
    ) -> None:
        self.head_end = head_end
        self.observer = observer
        """Sees every datagram sent and received (``--trace``, ``--pcap``, metrics); None: no cost."""
        self.group_gateway = group_gateway
        """Where multicast datagrams go instead, as ``group address (16 bytes) || frame`` (the fleet
        simulator's gateway emulating multicast forwarding on loopback); None: sent to the group."""
        self.clock = clock
        self.receive_buffer_cap = receive_buffer_cap
        self.drain_limit = drain_limit
        """Datagrams read per wake-up at most (then the loop runs other work and comes back)."""
        self.pump_every = max(1, pump_every)
        """Datagrams read between two sends of the requests they freed, within one wake-up."""
        self.receive_buffer = 0
        """SO_RCVBUF as granted by the kernel (bytes; Linux reports twice the payload it allows)."""
        self.sock: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.errors = 0
        self.sent = 0
        self.bytes_sent = 0
        """UDP payload bytes sent (wrapper frames; a gateway's group envelope not counted)."""
        self.received = 0
        self.on_event: Callable[[HeadEndEvent], None] | None = None
        """Called with each typed event of the core (:mod:`cosemnet.headend.events`), in order."""
        self._pump_scheduled = False
        self._timer = CoreTimer.for_core(head_end, self._flush, clock)
        self._waiters: list[tuple[Callable[[], bool], asyncio.Future[None]]] = []

    async def start(self, host: str = "::", port: int | None = None) -> None:
        """Open the UDP socket (``host``, ``port``) and start the timer task."""
        loop = asyncio.get_running_loop()
        if port is None:
            port = self.head_end.config.ports.head_end_udp_port
        sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            sock.bind((host, port))
            self._size_buffers(sock)
        except OSError:
            sock.close()
            raise
        self.sock = sock
        self._loop = loop
        loop.add_reader(sock.fileno(), self._drain)
        self._schedule_pump()

    def _size_buffers(self, sock: socket.socket) -> None:
        """Receive buffer for the whole window (answers of every request in flight can arrive at
        once); the kernel caps it at net.core.rmem_max unless the process may force it."""
        window = self.head_end.config.throttle.max_in_flight
        wanted = min(self.receive_buffer_cap, max(window, 64) * RECEIVE_BYTES_PER_DATAGRAM)
        for option in (getattr(socket, "SO_RCVBUFFORCE", None), socket.SO_RCVBUF):
            if option is None:
                continue
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, option, wanted)
                break
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, wanted)
        self.receive_buffer = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        if self.receive_buffer < wanted:
            logger.info("receive buffer: asked %d bytes, the kernel granted %d", wanted, self.receive_buffer)

    @property
    def local_address(self) -> tuple[str, int]:
        """The socket's bound (host, port)."""
        assert self.sock is not None
        sockname = self.sock.getsockname()
        return str(sockname[0]), int(sockname[1])

    async def close(self) -> None:
        """Release the associations (when configured), stop the timer task, close the socket and the
        head-end."""
        if self.sock is not None and self.head_end.config.release_on_exit:
            self.head_end.release_associations(self.clock())
            self._pump()  # send the RLRQs now
        self._timer.cancel()
        if self.sock is not None:
            if self._loop is not None:
                self._loop.remove_reader(self.sock.fileno())
            self.sock.close()
            self.sock = None
        self.head_end.close()
        for _, future in self._waiters:
            if not future.done():
                future.cancel()
        self._waiters = []

    # -- pumping ---------------------------------------------------------------------------------

    def _drain(self) -> None:
        """Every datagram pending on the socket (up to ``drain_limit``), one clock reading per
        ``pump_every`` datagrams; the requests they free are sent as the burst is read."""
        sock = self.sock
        if sock is None:
            return
        head_end = self.head_end
        receive = head_end.receive_datagram
        recvfrom = sock.recvfrom
        now = self.clock()
        count = 0
        every = self.pump_every
        for _ in range(self.drain_limit):
            try:
                data, addr = recvfrom(_MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:  # ICMP errors reported on the socket: the throttle retries
                self.errors += 1
                continue
            count += 1
            if self.observer is not None:
                self._observe(Direction.RECEIVED, (addr[0], addr[1]), data, now)
            receive(addr[0], addr[1], data, now)
            if not count % every:  # the requests freed so far go out now (see the module docstring)
                head_end.handle_timer(now)
                self._send_outgoing(sock)
                now = self.clock()
        if count:
            self.received += count
            self._schedule_pump()

    def _observe(self, direction: Direction, peer: tuple[str, int], data: bytes, now: float) -> None:
        assert self.observer is not None and self.sock is not None
        local = self.sock.getsockname()
        record = FrameRecord(now, direction, Transport.UDP, (str(local[0]), int(local[1])), peer, data)
        self.observer.frame(record)

    def retire(self, system_title: bytes) -> bool:
        """:meth:`HeadEnd.retire` now, its RLRQ sent at once (issue 12 item 5)."""
        known = self.head_end.retire(system_title, self.clock())
        self._flush()
        return known

    def _schedule_pump(self) -> None:
        if not self._pump_scheduled:
            self._pump_scheduled = True
            asyncio.get_running_loop().call_soon(self._pump)

    def _pump(self) -> None:
        self._pump_scheduled = False
        sock = self.sock
        if sock is None:
            return
        self.head_end.handle_timer(self.clock())
        self._flush()

    def _flush(self) -> None:
        """Send the core's datagrams, hand its events on, wake the waiters, follow its timer."""
        sock = self.sock
        if sock is None:
            return
        head_end = self.head_end
        self._send_outgoing(sock)
        events = head_end.pop_events()
        if self.on_event is not None:
            for event in events:
                self.on_event(event)
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
        self._timer.update()

    def _send_outgoing(self, sock: socket.socket) -> None:
        """Every datagram the core produced, sent (a full buffer or an ICMP error counts as a loss)."""
        gateway = self.group_gateway
        sendto = sock.sendto
        observer = self.observer
        sent = 0
        size = 0
        for out in self.head_end.pop_outgoing():
            try:
                if gateway is not None and out.address.startswith("ff"):
                    sendto(ipaddress.IPv6Address(out.address).packed + out.data, gateway)
                else:
                    sendto(out.data, (out.address, out.port))
                sent += 1
                size += len(out.data)
                if observer is not None:
                    self._observe(Direction.SENT, (out.address, out.port), out.data, self.clock())
            except OSError:  # full send buffer or unreachable: lost like on the mesh, the throttle retries
                self.errors += 1
        self.sent += sent
        self.bytes_sent += size

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
        """Wait until ``run`` has finished."""
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
