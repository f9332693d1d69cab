"""The sans-IO contract every protocol core of cosemnet follows (docs/sans-io.md).

A *core* is a plain object that owns the state of one protocol endpoint and never touches a socket,
a clock, a thread or a sleep. Everything comes in as arguments and goes out as return values or
through queues the adapter drains:

* input: ``receive_<unit>(..., data, now)`` for each unit it understands (``receive_apdu``,
  ``receive_datagram``, ``receive_frame`` ...), and :meth:`SansIOCore.handle_timer` when the deadline
  of :meth:`SansIOCore.get_timer` has passed;
* output: :meth:`SansIOCore.pop_outgoing` (what to transmit, in order) and
  :meth:`SansIOCore.pop_events` (typed events for the application, in order);
* time: ``now`` is a float in seconds on one monotonic clock chosen by the adapter (asyncio's
  ``loop.time()``, a simulated clock, a fake clock in tests). Calendar datetimes appear only at the
  edges (wire encodings, user-facing schedules), never as the core's notion of time.

This module holds only the structural types (:class:`typing.Protocol`), so every layer, from the
codec up, may import it; the asyncio glue that drives a core lives in :mod:`cosemnet.aio`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol, TypeVar, runtime_checkable

__all__ = ["Clock", "SansIOCore", "TimerCore", "earliest"]

OutT = TypeVar("OutT")
EventT = TypeVar("EventT")

Clock = Callable[[], float]
"""A monotonic clock in float seconds (``loop.time``, ``time.monotonic``, a test's fake clock)."""


@runtime_checkable
class TimerCore(Protocol):
    """The timer half of the contract: one deadline out, one call in when it passes."""

    def get_timer(self) -> float | None:
        """The earliest time (seconds, the adapter's clock) at which :meth:`handle_timer` must be
        called; None when nothing is scheduled. Ask again after every input: it may move."""
        ...

    def handle_timer(self, now: float) -> None:
        """Run what is due at ``now`` (expiries, retransmissions). Calling it early or twice is
        harmless: nothing that is not due happens."""
        ...


@runtime_checkable
class SansIOCore(TimerCore, Protocol[OutT, EventT]):
    """A complete core: timers plus queued output and events.

    ``receive_*`` methods are not part of this Protocol because their arguments depend on the unit
    (an APDU, a datagram with its source address, a LON frame); their names start with ``receive_``
    and their last positional argument is ``now: float``.
    """

    def pop_outgoing(self) -> list[OutT]:
        """Everything to transmit, oldest first; the queue is empty afterwards."""
        ...

    def pop_events(self) -> list[EventT]:
        """Every event produced since the last call, oldest first; the queue is empty afterwards."""
        ...


def earliest(deadlines: Iterable[float | None]) -> float | None:
    """The earliest of several optional deadlines (None when there is none): how a core made of
    several timed parts answers :meth:`TimerCore.get_timer`."""
    best: float | None = None
    for deadline in deadlines:
        if deadline is not None and (best is None or deadline < best):
            best = deadline
    return best
