"""One UDP/IPv6 socket answering for many local addresses (IPV6_PKTINFO), as an asyncio adapter.

A fleet of simulated mesh meters with one address each (an AnyIP prefix: ``ip -6 route add local
PREFIX dev lo``) needs no socket per meter: one socket bound to the wildcard address ``::`` on the
meters' port receives the datagrams of every address of the prefix, and the kernel tells, in the
``IPV6_PKTINFO`` ancillary data of ``recvmsg`` (``IPV6_RECVPKTINFO`` set), which address each datagram
was sent to. An answer leaves with ``sendmsg`` carrying ``IPV6_PKTINFO`` with that address as its
source, so each meter still answers from its own address (the socket has ``IP_FREEBIND``: the
addresses are routed locally but not configured on an interface). See docs/decisions/0118.

asyncio's datagram endpoints have no ``recvmsg``: :class:`SharedDatagramSocket` registers the
non-blocking socket with ``loop.add_reader`` and drains it with ``recvmsg`` at each wake-up, at most
``burst`` datagrams per wake-up (the loop's other callbacks run in between). Sends that find the
socket buffer full wait in a bounded queue that ``loop.add_writer`` drains; beyond ``max_queued``
datagrams a send is dropped and counted (``dropped``), like a full interface queue.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import socket
import struct
from collections.abc import Callable
from typing import Any, Final

__all__ = ["PKTINFO_SIZE", "SharedDatagramSocket", "pktinfo"]

_LOG = logging.getLogger(__name__)

_IP_FREEBIND: Final = getattr(socket, "IP_FREEBIND", 15)
_IPV6_RECVPKTINFO: Final = getattr(socket, "IPV6_RECVPKTINFO", 49)
_IPV6_PKTINFO: Final = getattr(socket, "IPV6_PKTINFO", 50)

PKTINFO_SIZE: Final = 20
"""``struct in6_pktinfo``: the 16-byte address and the 4-byte interface index."""

_ANCILLARY_SPACE: Final = socket.CMSG_SPACE(PKTINFO_SIZE)
_MAX_DATAGRAM: Final = 65535
_ANY_INTERFACE: Final = struct.pack("=I", 0)

Receiver = Callable[[bytes, bytes, tuple[str, int]], None]
"""``receiver(data, local_address (16 bytes), peer (host, port))``."""


def pktinfo(address: bytes) -> list[tuple[int, int, bytes]]:
    """The ancillary data of ``sendmsg`` sending from ``address`` (16 bytes), any interface."""
    return [(socket.IPPROTO_IPV6, _IPV6_PKTINFO, address + _ANY_INTERFACE)]


class SharedDatagramSocket:
    """One non-blocking IPv6 UDP socket serving many local addresses (see the module docstring).

    ::

        shared = SharedDatagramSocket(receiver)
        shared.open("::", 61616)        # binds, sets IPV6_RECVPKTINFO and IP_FREEBIND, add_reader
        shared.send(datagram, source_address_16_bytes, ("::1", 4059))
        shared.close()
    """

    def __init__(self, receiver: Receiver, *, burst: int = 256, max_queued: int = 65536) -> None:
        if burst < 1 or max_queued < 0:
            raise ValueError("burst must be >= 1 and max_queued >= 0")
        self.receiver = receiver
        self.burst = burst
        self.max_queued = max_queued
        self.sock: socket.socket | None = None
        self.received = 0
        self.sent = 0
        self.dropped = 0
        self.errors = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: collections.deque[tuple[bytes, bytes, tuple[str, int]]] = collections.deque()

    @property
    def local_address(self) -> tuple[str, int]:
        if self.sock is None:
            raise RuntimeError("the shared socket is not open")
        name = self.sock.getsockname()
        return str(name[0]), int(name[1])

    def open(self, host: str = "::", port: int = 0, *, receive_buffer: int | None = 4 << 20) -> None:
        """Bind ``[host]:port`` and start receiving (call from the running loop)."""
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        try:
            sock.setsockopt(socket.IPPROTO_IPV6, _IPV6_RECVPKTINFO, 1)
            # send from (and bind) addresses that are routed locally but not configured
            sock.setsockopt(socket.SOL_IP, _IP_FREEBIND, 1)
            if receive_buffer:
                _size_buffer(sock, receive_buffer)
            sock.setblocking(False)
            sock.bind((host, port))
        except OSError:
            sock.close()
            raise
        self.sock = sock
        self._loop = loop
        loop.add_reader(sock.fileno(), self._readable)

    def close(self) -> None:
        sock, self.sock = self.sock, None
        if sock is None:
            return
        if self._loop is not None and not self._loop.is_closed():
            self._loop.remove_reader(sock.fileno())
            self._loop.remove_writer(sock.fileno())
        self._queue.clear()
        sock.close()

    # ----------------------------------------------------------------------------------------------
    # Receiving

    def _readable(self) -> None:
        sock = self.sock
        for _ in range(self.burst):
            if sock is None:
                return
            try:
                data, ancillary, _flags, peer = sock.recvmsg(_MAX_DATAGRAM, _ANCILLARY_SPACE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # e.g. ICMP port unreachable reported on the socket
                self.errors += 1
                _LOG.debug("shared socket: receive error %s", exc)
                continue
            local = _destination(ancillary)
            if local is None:
                self.errors += 1
                continue
            self.received += 1
            try:
                self.receiver(data, local, (str(peer[0]), int(peer[1])))
            except Exception:  # one bad datagram must not stop the socket
                self.errors += 1
                _LOG.exception("shared socket: the receiver failed")
            sock = self.sock

    # ----------------------------------------------------------------------------------------------
    # Sending

    def send(self, data: bytes, source: bytes, destination: tuple[str, int]) -> bool:
        """Send ``data`` from local address ``source`` (16 bytes) to ``destination``; False when
        dropped (queue full or socket closed)."""
        if self.sock is None:
            self.dropped += 1
            return False
        if self._queue:
            return self._enqueue(data, source, destination)
        try:
            self.sock.sendmsg([data], pktinfo(source), 0, destination)
        except (BlockingIOError, InterruptedError):
            return self._enqueue(data, source, destination)
        except OSError as exc:
            self.errors += 1
            _LOG.debug("shared socket: send to %s failed: %s", destination, exc)
            return False
        self.sent += 1
        return True

    def _enqueue(self, data: bytes, source: bytes, destination: tuple[str, int]) -> bool:
        if len(self._queue) >= self.max_queued:
            self.dropped += 1
            return False
        if not self._queue and self._loop is not None and self.sock is not None:
            self._loop.add_writer(self.sock.fileno(), self._writable)
        self._queue.append((data, source, destination))
        return True

    def _writable(self) -> None:
        sock = self.sock
        while self._queue and sock is not None:
            data, source, destination = self._queue[0]
            try:
                sock.sendmsg([data], pktinfo(source), 0, destination)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                self.errors += 1
                _LOG.debug("shared socket: send to %s failed: %s", destination, exc)
            else:
                self.sent += 1
            self._queue.popleft()
        if sock is not None and self._loop is not None:
            self._loop.remove_writer(sock.fileno())

    @property
    def queued(self) -> int:
        return len(self._queue)


def _destination(ancillary: list[tuple[int, int, bytes]] | Any) -> bytes | None:
    """The destination address (16 bytes) in the IPV6_PKTINFO of ``recvmsg``'s ancillary data."""
    for level, kind, data in ancillary:
        if level == socket.IPPROTO_IPV6 and kind == _IPV6_PKTINFO and len(data) >= 16:
            return bytes(data[:16])
    return None


def _size_buffer(sock: socket.socket, size: int) -> None:
    """Receive and send buffers of ``size`` bytes: forced above net.core.rmem_max where the process
    may (root), else as much as the kernel grants."""
    for option in (getattr(socket, "SO_RCVBUFFORCE", None), socket.SO_RCVBUF):
        if option is None:
            continue
        try:
            sock.setsockopt(socket.SOL_SOCKET, option, size)
        except OSError:
            continue
        break
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, size)
