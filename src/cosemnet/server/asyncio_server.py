"""asyncio transports for :class:`~cosemnet.server.server.MeterServer` (TCP and UDP, IPv4 and IPv6).

::

    server = MeterServer([device])
    tcp = await serve_tcp(server, "::1", 4059)         # or "127.0.0.1", port 0 = any free port
    udp = await serve_udp(server, "127.0.0.1", 4059)
    print(tcp.addresses)                                # [("::1", 4059, 0, 0)]
    ...
    await tcp.close(); await udp.close()

The adapters are thin: every received chunk goes through the sans-IO server and the replies are
handed to ``transport.write`` / ``sendto``, which never block. A TCP connection answers at most its
output budget per step (:meth:`ServerConnection.receive_data` / ``resume``, then ``pop_outgoing``);
while it has unprocessed frames (``backlog``) or its transport buffer is over the high-water mark, the
adapter stops reading from that peer (``pause_reading``), and it processes the backlog one budget per
event-loop turn as the transport drains. A peer that does not read its replies therefore costs at most
one received chunk, one budget and the transport buffer, never holds anything shared and never stalls
the others.
A connection over the server's connection caps is closed at once. One timer per adapter
(:class:`cosemnet.aio.CoreTimer`, re-armed only when the deadline moves earlier: docs/decisions/0053)
follows ``server.get_timer()``; the TCP connections reported by ``ConnectionExpired`` events are closed.

``clock`` (default :func:`time.time`) is the time handed to the server: inject a simulated clock
in tests. Timer delays are the difference between the server's deadline and ``clock()``.

``observer`` (a :class:`~cosemnet.trace.FrameObserver`, default None: no cost) is handed every whole
wrapper frame received and sent, with both endpoints (``meter serve --trace`` / ``--pcap``).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Callable
from typing import Any

from cosemnet.aio import CoreTimer
from cosemnet.codec.wrapper import WrapperStream
from cosemnet.errors import DecodeError
from cosemnet.server.server import ConnectionExpired, MeterServer, ServerConnection
from cosemnet.trace import Direction, FrameObserver, FrameRecord, Transport

__all__ = ["Clock", "TcpServer", "UdpServer", "serve_tcp", "serve_udp"]

Clock = Callable[[], float]

_WRITE_HIGH_WATER = 256 * 1024


def _address(sockname: Any) -> tuple[str, int]:
    return (str(sockname[0]), int(sockname[1])) if isinstance(sockname, tuple) else ("0.0.0.0", 0)


class _TcpObserver:
    """Splits one connection's byte streams into whole frames for a FrameObserver (a bad stream stops
    the observation of that direction, not the connection: the server core answers it)."""

    def __init__(self, observer: FrameObserver, transport: asyncio.Transport) -> None:
        self.observer = observer
        self.local = _address(transport.get_extra_info("sockname"))
        self.peer = _address(transport.get_extra_info("peername"))
        self.streams = {Direction.RECEIVED: WrapperStream(), Direction.SENT: WrapperStream()}

    def data(self, direction: Direction, data: bytes) -> None:
        stream = self.streams.get(direction)
        if stream is None:
            return
        try:
            frames = stream.feed(data)
        except DecodeError:
            del self.streams[direction]
            return
        for frame in frames:
            record = FrameRecord(time.time(), direction, Transport.TCP, self.local, self.peer, frame.encode())
            self.observer.frame(record)


class _TcpProtocol(asyncio.Protocol):
    def __init__(self, owner: TcpServer) -> None:
        self.owner = owner
        self.transport: asyncio.Transport | None = None
        self.conn: ServerConnection | None = None
        self._writing_paused = False
        self._reading = True
        self._scheduled = False
        self._observer: _TcpObserver | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.set_write_buffer_limits(high=_WRITE_HIGH_WATER)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        owner = self.owner
        conn = owner.server.open_connection(owner.clock(), transport.get_extra_info("peername"))
        if conn.closed:  # over a connection cap
            transport.abort()
            return
        self.conn = conn
        owner._protocols[conn] = self
        if owner.observer is not None:
            self._observer = _TcpObserver(owner.observer, transport)
        owner._timer.update()

    def data_received(self, data: bytes) -> None:
        conn = self.conn
        if conn is None or self.transport is None:
            return
        if self._observer is not None:
            self._observer.data(Direction.RECEIVED, data)
        conn.receive_data(data, self.owner.clock())
        self._write()
        self._pump(process=False)

    def _write(self) -> None:
        """Write what the connection has to send; close the transport when the connection closed."""
        transport = self.transport
        conn = self.conn
        assert transport is not None and conn is not None
        for out in conn.pop_outgoing():
            if self._observer is not None:
                self._observer.data(Direction.SENT, out)
            transport.write(out)  # may call pause_writing at once
        if conn.closed:
            transport.close()

    def _pump(self, process: bool = True) -> None:
        """Process one budget of the backlog when the transport can take it; read only without backlog."""
        self._scheduled = False
        conn = self.conn
        transport = self.transport
        if conn is None or transport is None or conn.closed:
            return
        if process and conn.backlog and not self._writing_paused:
            conn.resume(self.owner.clock())
            self._write()
        if conn.backlog:
            self._set_reading(False)
            if not self._writing_paused and not self._scheduled:  # one budget per loop turn: fairness
                self._scheduled = True
                asyncio.get_running_loop().call_soon(self._pump)
        elif not self._writing_paused:
            self._set_reading(True)
        self.owner._timer.update()

    def _set_reading(self, on: bool) -> None:
        transport = self.transport
        if transport is None or on == self._reading or transport.is_closing():
            return
        self._reading = on
        if on:
            transport.resume_reading()
        else:
            transport.pause_reading()

    def pause_writing(self) -> None:
        self._writing_paused = True
        self._set_reading(False)

    def resume_writing(self) -> None:
        self._writing_paused = False
        self._pump()

    def connection_lost(self, exc: Exception | None) -> None:
        conn = self.conn
        if conn is not None:
            self.owner._protocols.pop(conn, None)
            conn.close()
        self.conn = None
        self.transport = None


class TcpServer:
    """A running TCP listener (see :func:`serve_tcp`)."""

    def __init__(self, server: MeterServer, clock: Clock, observer: FrameObserver | None = None) -> None:
        self.server = server
        self.clock = clock
        self.observer = observer
        self._protocols: dict[ServerConnection, _TcpProtocol] = {}
        self._timer = CoreTimer.for_core(server, self._expired, clock)
        self._listener: asyncio.Server | None = None

    def _expired(self) -> None:
        """After the server's timer ran: close the transports of the connections it expired."""
        for event in self.server.pop_events():
            if isinstance(event, ConnectionExpired):
                protocol = self._protocols.pop(event.connection, None)
                if protocol is not None and protocol.transport is not None:
                    protocol.transport.close()

    @property
    def addresses(self) -> list[Any]:
        """The bound socket addresses (``sockname`` tuples)."""
        if self._listener is None:
            return []
        return [s.getsockname() for s in self._listener.sockets]

    @property
    def connection_count(self) -> int:
        """Open TCP connections."""
        return len(self._protocols)

    async def close(self) -> None:
        """Stop listening, close every connection (releasing its associations)."""
        self._timer.cancel()
        if self._listener is not None:
            self._listener.close()
        for protocol in list(self._protocols.values()):
            if protocol.transport is not None:
                protocol.transport.close()
        if self._listener is not None:
            await self._listener.wait_closed()
            self._listener = None
        await asyncio.sleep(0)


async def serve_tcp(
    server: MeterServer,
    host: str | None,
    port: int,
    *,
    clock: Clock = time.time,
    backlog: int = 512,
    observer: FrameObserver | None = None,
) -> TcpServer:
    """Listen on TCP ``host``:``port`` (``port`` 0 picks a free one) and serve ``server``."""
    running = TcpServer(server, clock, observer)
    loop = asyncio.get_running_loop()
    running._listener = await loop.create_server(
        lambda: _TcpProtocol(running), host, port, backlog=backlog, reuse_address=True
    )
    return running


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, owner: UdpServer) -> None:
        self.owner = owner
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a datagram transport (no common base)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        transport = self.transport
        if transport is None:
            return
        owner = self.owner
        peer = tuple(addr[:2]) if isinstance(addr, tuple) else addr
        observer = owner.observer
        if observer is not None:
            local = _address(transport.get_extra_info("sockname"))
            observer.frame(
                FrameRecord(time.time(), Direction.RECEIVED, Transport.UDP, local, _address(addr), data)
            )
        server = owner.server
        server.receive_datagram(peer, data, owner.clock())
        for datagram in server.pop_outgoing():
            destination: Any = addr if datagram.peer == peer else datagram.peer  # addr keeps an IPv6 scope
            if observer is not None:
                record = FrameRecord(
                    time.time(), Direction.SENT, Transport.UDP, local, _address(destination), datagram.data
                )
                observer.frame(record)
            transport.sendto(datagram.data, destination)
        owner._timer.update()

    def error_received(self, exc: Exception) -> None:  # pragma: no cover - ICMP errors
        pass


class UdpServer:
    """A running UDP endpoint (see :func:`serve_udp`)."""

    def __init__(self, server: MeterServer, clock: Clock, observer: FrameObserver | None = None) -> None:
        self.server = server
        self.clock = clock
        self.observer = observer
        self._timer = CoreTimer.for_core(server, self._expired, clock)
        self.transport: asyncio.DatagramTransport | None = None

    def _expired(self) -> None:
        """After the server's timer ran: its UDP pseudo-connections need nothing more (bounded queue)."""
        self.server.pop_events()

    @property
    def addresses(self) -> list[Any]:
        """The bound socket address (a one-element list of ``sockname``)."""
        if self.transport is None:
            return []
        return [self.transport.get_extra_info("sockname")]

    async def close(self) -> None:
        """Stop serving: close the endpoint (the server's associations stay until their timeout)."""
        self._timer.cancel()
        if self.transport is not None:
            self.transport.close()
            self.transport = None
        await asyncio.sleep(0)


async def serve_udp(
    server: MeterServer,
    host: str,
    port: int,
    *,
    clock: Clock = time.time,
    observer: FrameObserver | None = None,
) -> UdpServer:
    """Serve ``server`` on a UDP endpoint (one APDU per datagram)."""
    running = UdpServer(server, clock, observer)
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(lambda: _UdpProtocol(running), local_addr=(host, port))
    running.transport = transport
    return running
