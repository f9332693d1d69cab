"""``sim lon --trace/--pcap`` and the periodic status of long simulations.

- Power line: a listening station on the simulated channel (:class:`ChannelSniffer`, a
  :class:`~cosemnet.profiles.lon.stack.NetworkHook` on a node that never transmits, as a LON protocol
  analyser on a real segment) hands every frame it hears to the observer as a
  :data:`~cosemnet.trace.Transport.LON` record: trace lines decode the 14908-1 frame, the ADP PDU and the
  DLMS APDU; a capture carries it in a CN/IP data packet on UDP 1628 (docs/decisions/0065). Power-line
  nodes have no IP address: the capture gives node SUBNET/NODE the address ``127.76.SUBNET.NODE``, a
  group ``127.77.0.GROUP``, a broadcast ``127.76.SUBNET.255`` (``127.76.255.255`` domain-wide) and a
  unique-ID destination ``127.78.0.1`` (a reconstruction, see docs/decisions/0115). Timestamps are the
  simulated time from the segment's start. The station hears what a node at its place would hear: the
  channel counts its receptions (deliveries, collisions) like those of any node.
- CN/IP: every port's observer sees the datagrams it *sends* (each datagram once, with its real UDP
  ports, as a :data:`~cosemnet.trace.Transport.CNIP` record).
"""

from __future__ import annotations

import time
from typing import Final

from cosemnet.profiles.lon.addresses import (
    BroadcastAddress,
    GroupAddress,
    MulticastAckAddress,
    SubnetNodeAddress,
)
from cosemnet.profiles.lon.channel import PowerLineChannel
from cosemnet.profiles.lon.frames import LonFrame
from cosemnet.profiles.lon.node import LonNode
from cosemnet.profiles.lon.stack import LonStack, NetworkHook
from cosemnet.trace import Direction, FrameObserver, FrameRecord, Transport

__all__ = ["SNIFFER_UNIQUE_ID", "ChannelSniffer", "SentOnly", "StatusClock", "attach_sniffer", "lon_ip"]

SNIFFER_UNIQUE_ID: Final = bytes.fromhex("4C4F4EAA0001")
LON_CAPTURE_PORT: Final = 1628


def lon_ip(address: object, source: tuple[int, int] | None = None) -> str:
    """The IPv4 address a capture gives a LON node or destination (see the module docstring)."""
    if source is not None:
        return f"127.76.{source[0] & 0xFF}.{source[1] & 0xFF}"
    if isinstance(address, SubnetNodeAddress | MulticastAckAddress):
        return f"127.76.{address.destination_subnet & 0xFF}.{address.destination_node & 0xFF}"
    if isinstance(address, GroupAddress):
        return f"127.77.0.{address.group & 0xFF}"
    if isinstance(address, BroadcastAddress):
        return f"127.76.{address.destination_subnet or 255}.255"
    return "127.78.0.1"


class ChannelSniffer(NetworkHook):
    """Hands every frame heard on the channel to ``observer`` (time = ``epoch`` + simulated time)."""

    def __init__(self, observer: FrameObserver, epoch: float) -> None:
        self.observer = observer
        self.epoch = epoch
        self.frames = 0

    def inbound(self, stack: LonStack, frame: LonFrame, now: float) -> bool:
        """Hand the frame heard to the observer; the station consumes it."""
        npdu = frame.npdu
        source = (lon_ip(None, (npdu.source_subnet, npdu.source_node)), LON_CAPTURE_PORT)
        destination = (lon_ip(npdu.destination), LON_CAPTURE_PORT)
        data = frame.encode(crc=False)
        self.observer.frame(
            FrameRecord(self.epoch + now, Direction.SENT, Transport.LON, source, destination, data)
        )
        self.frames += 1
        return True  # the station only listens


def attach_sniffer(
    channel: PowerLineChannel, observer: FrameObserver, epoch: float, *, hear_all: bool = False
) -> ChannelSniffer:
    """A listening station on ``channel``. ``hear_all``: on a channel without automatic links (a feeder
    where meters hear only their neighbours, ``sim lon --topology``), link every station attached so
    far to the sniffer, one way and without loss: an analyser tapped into every point of the feeder.
    Nobody hears it (it never transmits) and a lossless link draws nothing from the channel's random
    numbers, so the run is the same with and without it; two frames that overlap in time collide at the
    sniffer even when no real receiver hears both (those are missing from the capture)."""
    sniffer = ChannelSniffer(observer, epoch)
    index = channel.attach(LonStack(LonNode(SNIFFER_UNIQUE_ID), hook=sniffer))
    if hear_all:
        for station in range(index):
            channel.link(station, index, 0.0, symmetric=False)
    return sniffer


class SentOnly:
    """Passes on the records of frames sent (both ends of a simulated link live in one process)."""

    def __init__(self, observer: FrameObserver) -> None:
        self.observer = observer

    def frame(self, record: FrameRecord) -> None:
        """Pass on ``record`` when it is a frame sent."""
        if record.direction is Direction.SENT:
            self.observer.frame(record)


class StatusClock:
    """When the next periodic status line is due (wall-clock seconds; ``every`` 0: never)."""

    def __init__(self, every: float) -> None:
        self.every = every
        self.started = time.monotonic()
        self._next = self.started + every

    def due(self) -> bool:
        """True (once per period) when the next status line is due."""
        if self.every <= 0:
            return False
        now = time.monotonic()
        if now < self._next:
            return False
        self._next = now + self.every
        return True

    @property
    def elapsed(self) -> float:
        """Wall-clock seconds since the clock started."""
        return time.monotonic() - self.started
