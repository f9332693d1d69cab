"""asyncio UDP adapter: one :class:`LonStack` per socket, frames in ISO/IEC 14908-4 CN/IP data packets.

Each frame the stack sends becomes one CN/IP data packet (type 0x01, protocol 0, the 14908-1 frame from
the PPDU byte, without CRC by default, see :mod:`.cnip`) sent to every peer in the adapter's list, with
the MD5 digest appended when a 16-byte ``secret`` is configured. Received datagrams are split into
packets, authenticated (packets failing the digest are dropped and counted as transmission errors) and
handed to the stack. The stack's timers run on the event loop's clock.

[design] No CN/IP configuration server, channel membership or send-list packets: the peers are given
explicitly; the session ID is random per adapter and sequence numbers count packets from 1; timestamps
are milliseconds of the loop clock modulo 2^32. Receivers do not enforce sequence order (the 14908-1
transaction layer drops duplicates).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable, Iterable
from typing import Any

from cosemnet.errors import DecodeError
from cosemnet.profiles.lon.addresses import Address
from cosemnet.profiles.lon.cnip import CnipPacket, CnipPacketType, decode_datagram
from cosemnet.profiles.lon.lon_apdu import Apdu
from cosemnet.profiles.lon.stack import Event, LonStack
from cosemnet.profiles.lon.transaction import Service
from cosemnet.trace import Direction, FrameObserver, FrameRecord, Transport

PeerAddress = tuple[str, int]

MAX_CLAIM_ROUNDS = 64
"""Calls of ``claim_events`` per stack input (each one consumes what the previous one produced)."""


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, owner: CnipTransport) -> None:
        self.owner = owner

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        if self.owner.observer is not None:
            self.owner.observe(Direction.RECEIVED, (str(addr[0]), int(str(addr[1]))), data)
        self.owner._datagram(data)

    def error_received(self, exc: Exception) -> None:  # ICMP port unreachable etc.
        self.owner.send_errors += 1


class CnipTransport:
    """Runs ``stack`` over CN/IP on one UDP socket. Use ``await start()`` then ``send`` / ``next_event``
    (or give ``on_event``, which then receives every event instead of :meth:`next_event`)."""

    def __init__(
        self,
        stack: LonStack,
        *,
        peers: Iterable[PeerAddress] = (),
        secret: bytes | None = None,
        crc: bool = False,
        vendor_code: int = 0,
        on_event: Callable[[Event], None] | None = None,
        claim_events: Callable[[float], bool] | None = None,
    ) -> None:
        if secret is not None and len(secret) != 16:
            raise ValueError("the CN/IP secret must be 16 bytes")
        self.stack = stack
        self.peers: list[PeerAddress] = list(peers)
        self._secret = secret
        self.crc = crc
        self.vendor_code = vendor_code
        self.on_event = on_event
        self.claim_events = claim_events
        """Called with the loop time after every input to the stack, before its events are drained: a
        second user of the stack (the Annex F ATM manager's ``pump``) takes its own events with
        :meth:`LonStack.take_events` and may send; called again while it returns True (bounded)."""
        self.session_id = int.from_bytes(os.urandom(4), "big")
        self.sequence_number = 0
        self.rejected = 0
        """Datagrams dropped: bad digest, malformed packet, not a 14908-1 data packet."""
        self.send_errors = 0
        self._transport: asyncio.DatagramTransport | None = None
        self._timer: asyncio.Task[None] | None = None
        self._closing = False
        self._wake = asyncio.Event()
        self._events: asyncio.Queue[Event] = asyncio.Queue()
        self.observer: FrameObserver | None = None
        """Sees every datagram sent and received (``--trace``, ``--pcap``); None: no cost."""

    def observe(self, direction: Direction, peer: PeerAddress, data: bytes) -> None:
        """Hand one datagram to :attr:`observer` (as a :data:`~cosemnet.trace.Transport.CNIP` record)."""
        if self.observer is None or self._transport is None:
            return
        host, port = self._transport.get_extra_info("sockname")[:2]
        record = FrameRecord(time.time(), direction, Transport.CNIP, (str(host), int(port)), peer, data)
        self.observer.frame(record)

    def __repr__(self) -> str:
        return f"CnipTransport(peers={self.peers!r}, authenticated={self._secret is not None})"

    async def start(
        self, local_addr: PeerAddress = ("127.0.0.1", 0), remote_addr: PeerAddress | None = None
    ) -> PeerAddress:
        """Bind the socket; return the local (host, port). ``remote_addr`` (numeric host, and the only
        peer): a connected socket, which hears only that peer and learns of ICMP port unreachable
        (counted in ``send_errors``)."""
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Protocol(self), local_addr=local_addr, remote_addr=remote_addr
        )
        self._transport = transport
        self._timer = asyncio.create_task(self._run_timers())
        host, port = transport.get_extra_info("sockname")[:2]
        return str(host), int(port)

    async def close(self) -> None:
        if self._timer is not None:
            self._closing = True
            self._wake.set()
            await self._timer
            self._timer = None
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    def add_peer(self, peer: PeerAddress) -> None:
        if peer not in self.peers:
            self.peers.append(peer)

    @staticmethod
    def _now() -> float:
        return asyncio.get_running_loop().time()

    def send(self, destination: Address, apdu: Apdu, service: Service = Service.ACKD, **options: Any) -> int:
        """:meth:`LonStack.send` at the loop's current time; the frames go out at once."""
        handle = self.stack.send(destination, apdu, service, now=self._now(), **options)
        self._after_stack()
        return handle

    def respond(self, request_id: int, apdu: Apdu | None) -> bool:
        ok = self.stack.respond(request_id, apdu, now=self._now())
        self._after_stack()
        return ok

    async def next_event(self, timeout: float | None = None) -> Event:
        """The next stack event (raises :class:`TimeoutError` after ``timeout`` seconds)."""
        return await asyncio.wait_for(self._events.get(), timeout)

    def _after_stack(self) -> None:
        if self.claim_events is not None:
            now = self._now()
            for _ in range(MAX_CLAIM_ROUNDS):
                if not self.claim_events(now):
                    break
        self._flush()
        for event in self.stack.pop_events():
            if self.on_event is not None:  # one consumer: a callback or next_event, not both (bounded)
                self.on_event(event)
            else:
                self._events.put_nowait(event)
        self._wake.set()

    def _flush(self) -> None:
        frames = self.stack.pop_outgoing()
        if not frames or self._transport is None:
            return
        timestamp = int(self._now() * 1000) & 0xFFFFFFFF
        for frame in frames:
            self.sequence_number = self.sequence_number % 0xFFFFFFFF + 1
            packet = CnipPacket.data_packet(
                frame,
                crc=self.crc,
                session_id=self.session_id,
                sequence_number=self.sequence_number,
                timestamp=timestamp,
                vendor_code=self.vendor_code,
                security=self._secret is not None,
            )
            data = packet.encode(self._secret)
            for peer in self.peers:
                self._transport.sendto(data, peer)
                if self.observer is not None:
                    self.observe(Direction.SENT, peer, data)

    def _datagram(self, data: bytes) -> None:
        try:
            packets = decode_datagram(data, self._secret)
        except DecodeError:
            self.rejected += 1
            self.stack.note_transmission_error()
            return
        now = self._now()
        for packet in packets:
            if packet.packet_type != CnipPacketType.DATA:
                self.rejected += 1
                continue
            try:
                frame = packet.lon_frame(crc=self.crc)
            except DecodeError:
                self.rejected += 1
                self.stack.note_transmission_error()
                continue
            self.stack.receive_lon_frame(frame, now)
        self._after_stack()

    async def _run_timers(self) -> None:
        while not self._closing:
            deadline = self.stack.get_timer()
            self._wake.clear()
            delay = None if deadline is None else deadline - self._now()
            if delay is None or delay > 0:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await self._wake.wait()
                continue
            self.stack.handle_timer(self._now())
            self._after_stack()
            await asyncio.sleep(0)
