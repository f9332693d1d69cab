"""A simulated CN/IP segment for tools: one UDP port every node and tool talks to (docs/decisions/0110).

:class:`CnipHub` is the segment's *channel*: every ISO/IEC 14908-4 packet a member sends goes to every
other member, as a frame on a shared medium reaches every node. The simulated meters are members from
the start; a tool (``cosemnet lon discover``, ``cosemnet lon commission``) becomes one with its first
well-formed CN/IP packet, so it needs nothing but the segment's ``HOST:PORT``. [design] 14908-4 has a
configuration server that hands every device the list of channel members, each device then sending to
each member itself; the hub stands for that list, in one place. Datagrams that do not decode as CN/IP
are dropped and never make their sender a member; the members a hub learns are bounded (the oldest is
forgotten).

:func:`simulated_long_term_key`: the OSGP-AES-128-PSK long-term key a simulated meter is "manufactured"
with when no key file is given (``cosemnet sim lon --unconfigured`` and ``cosemnet lon commission
--test-keys`` derive the same one from the unique node ID). For simulations only: anyone can compute it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from typing import Final

from cryptography.hazmat.primitives import hashes, hmac

from cosemnet.errors import DecodeError
from cosemnet.profiles.lon.cnip import decode_datagram

_log = logging.getLogger(__name__)

PeerAddress = tuple[str, int]

MAX_LEARNED_MEMBERS: Final = 16
"""Tools a hub keeps as members at a time (besides the simulated nodes)."""

SIMULATED_KEY_LABEL: Final = b"cosemnet simulated OSGP meter long-term key"


def simulated_long_term_key(unique_id: bytes) -> bytes:
    """HMAC-SHA256(label, unique node ID), first 16 bytes: a simulated meter's long-term key (public!)."""
    mac = hmac.HMAC(SIMULATED_KEY_LABEL, hashes.SHA256())
    mac.update(bytes(unique_id))
    return mac.finalize()[:16]


class _HubProtocol(asyncio.DatagramProtocol):
    def __init__(self, hub: CnipHub) -> None:
        self.hub = hub

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        self.hub.datagram(data, (str(addr[0]), int(str(addr[1]))))

    def error_received(self, exc: Exception) -> None:  # a member went away (ICMP port unreachable)
        self.hub.send_errors += 1


class CnipHub:
    """The CN/IP channel of a simulated segment on one UDP socket (see the module docstring)."""

    def __init__(self, *, secret: bytes | None = None, max_learned: int = MAX_LEARNED_MEMBERS) -> None:
        self.members: list[PeerAddress] = []
        """The simulated nodes (added with :meth:`add_member`)."""
        self.learned: OrderedDict[PeerAddress, None] = OrderedDict()
        """Tools heard from, least recently heard first (at most ``max_learned``)."""
        self.max_learned = max_learned
        self._secret = secret
        self.forwarded = 0
        self.rejected = 0
        self.send_errors = 0
        self._transport: asyncio.DatagramTransport | None = None

    def __repr__(self) -> str:
        return f"CnipHub(members={len(self.members)}, learned={len(self.learned)})"

    async def start(self, local_addr: PeerAddress = ("127.0.0.1", 0)) -> PeerAddress:
        """Bind the segment's socket; return its (host, port)."""
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: _HubProtocol(self), local_addr=local_addr)
        self._transport = transport
        host, port = transport.get_extra_info("sockname")[:2]
        return str(host), int(port)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    def add_member(self, peer: PeerAddress) -> None:
        if peer not in self.members:
            self.members.append(peer)

    def datagram(self, data: bytes, source: PeerAddress) -> None:
        """One datagram heard: when it holds CN/IP packets, to every member but its sender."""
        try:
            decode_datagram(data, self._secret)
        except DecodeError:
            self.rejected += 1
            return
        if source not in self.members:
            self.learned[source] = None
            self.learned.move_to_end(source)
            while len(self.learned) > self.max_learned:
                gone, _ = self.learned.popitem(last=False)
                _log.info("CN/IP segment: forgot %s:%d (too many tools)", *gone)
        if self._transport is None:
            return
        for peer in [*self.members, *self.learned]:
            if peer != source:
                self._transport.sendto(data, peer)
                self.forwarded += 1


__all__ = ["MAX_LEARNED_MEMBERS", "CnipHub", "simulated_long_term_key"]
