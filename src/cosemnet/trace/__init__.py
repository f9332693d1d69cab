"""Observing the frames a node exchanges: frame records, observers, and pcap captures.

The lowest layer of the package besides :mod:`cosemnet.errors`: it imports nothing else of cosemnet, so
any adapter (server, client, the LON and mesh profiles, the head-end) can hand its frames to a
:class:`FrameObserver` without a layering problem. What a record *means* (decoding, decryption) is left
to the observer: :class:`~cosemnet.trace.pcap.PcapCapture` writes them to a capture file, the CLI's
trace lines (``cosemnet.cli.trace``) decode them with the codec.

An adapter calls ``observer.frame(FrameRecord(...))`` once per whole frame sent or received (a wrapper
frame, a UDP datagram, a 14908-1 frame), never with part of one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

Address = tuple[str, int]
"""An IP endpoint: (IPv4 or IPv6 address literal, port)."""


class Direction(StrEnum):
    """Whether the observing node sent or received a frame."""

    SENT = "sent"
    RECEIVED = "received"


class Transport(StrEnum):
    """What carried the frame, which decides how a capture wraps it."""

    TCP = "tcp"
    """A 62056-4-7 wrapper frame on a TCP connection."""
    UDP = "udp"
    """A UDP datagram (a wrapper frame, or a 62056-8-20 mesh datagram)."""
    LON = "lon"
    """An ISO/IEC 14908-1 frame (no CRC); a capture carries it in a CN/IP data packet on UDP 1628."""
    CNIP = "cnip"
    """A whole ISO/IEC 14908-4 CN/IP datagram on UDP (a capture keeps its real ports)."""


@dataclass(frozen=True, slots=True)
class FrameRecord:
    """One whole frame, as the observing node saw it."""

    time: float
    """Seconds since the epoch (the adapter's clock; a simulation may pass simulated time)."""
    direction: Direction
    transport: Transport
    local: Address
    """The observing node's end."""
    peer: Address
    """The other end."""
    data: bytes = field(repr=False)

    @property
    def source(self) -> Address:
        """The sender's address (ours for a frame sent, the peer's for one received)."""
        return self.local if self.direction is Direction.SENT else self.peer

    @property
    def destination(self) -> Address:
        """The receiver's address."""
        return self.peer if self.direction is Direction.SENT else self.local


class FrameObserver(Protocol):
    """Anything that wants to see frames (a capture, a trace printer, a test)."""

    def frame(self, record: FrameRecord) -> None:
        """Called for every frame sent or received."""
        ...


class FrameTee:
    """Hands every record to several observers, in order."""

    def __init__(self, *observers: FrameObserver) -> None:
        self.observers = list(observers)

    def frame(self, record: FrameRecord) -> None:
        """Pass ``record`` to every observer."""
        for observer in self.observers:
            observer.frame(record)


__all__ = ["Address", "Direction", "FrameObserver", "FrameRecord", "FrameTee", "Transport"]
