"""The one asyncio driver pattern for sans-IO cores (docs/sans-io.md).

Every asyncio adapter does the same four things around a core: feed what arrives with ``now``, send
what :meth:`~cosemnet.sansio.SansIOCore.pop_outgoing` gives, hand the events on, and call
``handle_timer(now)`` when the core's ``get_timer()`` deadline passes. This module holds the two
shapes of that loop so no adapter re-implements timeouts:

* :func:`run_until` -- *pull* style, for a request/response client: await input until the core has
  produced what the caller waits for; the wait for input is bounded by the core's own deadline.
* :class:`CoreTimer` -- *push* style, for callback adapters (servers, datagram endpoints): one
  ``loop.call_at`` handle that follows the core's deadline; call :meth:`CoreTimer.update` after
  every input.

``now`` is always the loop's clock (``loop.time()``), a monotonic float in seconds, unless the
adapter passes another clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from cosemnet.sansio import Clock, TimerCore

__all__ = ["CoreTimer", "run_until"]

T = TypeVar("T")


async def run_until(
    core: TimerCore,
    *,
    done: Callable[[], bool],
    flush: Callable[[], Awaitable[None]],
    receive: Callable[[], Awaitable[T]],
    deliver: Callable[[T, float], None],
    clock: Clock | None = None,
) -> None:
    """Drive ``core`` until ``done()`` is true.

    Each round: ``flush()`` transmits the core's outgoing queue; ``done()`` is checked; then either
    the core's deadline has passed (``core.handle_timer(now)``) or one unit is awaited with
    ``receive()`` for at most the time left until that deadline and handed to ``deliver(unit, now)``
    (which feeds it to the core). Exceptions from ``receive`` (transport lost) propagate.

    ``receive`` must be safe to cancel (it is, for ``StreamReader.read`` and ``Queue.get``): a wait
    cut short by the deadline is cancelled and started again in the next round.
    """
    if clock is None:
        clock = asyncio.get_running_loop().time
    while True:
        await flush()
        if done():
            return
        deadline = core.get_timer()
        now = clock()
        if deadline is not None and deadline <= now:
            core.handle_timer(now)
            continue
        try:
            if deadline is None:
                unit = await receive()
            else:
                async with asyncio.timeout(deadline - now):
                    unit = await receive()
        except TimeoutError:
            core.handle_timer(clock())
            continue
        deliver(unit, clock())


class CoreTimer:
    """One ``loop.call_at`` handle following a core's deadline (push-style adapters).

    ``get_timer``/``handle_timer`` are passed as callables so a part whose methods carry other names
    can use it too; ``on_fired`` runs after each ``handle_timer`` (the adapter flushes outgoing data
    and events).
    """

    def __init__(
        self,
        get_timer: Callable[[], float | None],
        handle_timer: Callable[[float], object],
        on_fired: Callable[[], None],
        clock: Clock | None = None,
    ) -> None:
        self._get_timer = get_timer
        self._handle_timer = handle_timer
        self._on_fired = on_fired
        self._clock = clock
        self._handle: asyncio.TimerHandle | None = None
        self._armed_for: float | None = None

    @classmethod
    def for_core(cls, core: TimerCore, on_fired: Callable[[], None], clock: Clock | None = None) -> CoreTimer:
        """The timer of a core that follows the contract."""
        return cls(core.get_timer, core.handle_timer, on_fired, clock)

    def now(self) -> float:
        """The adapter's clock (the running loop's by default)."""
        if self._clock is not None:
            return self._clock()
        return asyncio.get_running_loop().time()

    def update(self) -> None:
        """Re-arm to the core's current deadline (call after every input and every flush)."""
        deadline = self._get_timer()
        if deadline is None:
            self.cancel()
            return
        if self._handle is not None and self._armed_for is not None and self._armed_for <= deadline:
            return  # fires early at worst, then re-arms to the current deadline
        self.cancel()
        self._armed_for = deadline
        delay = max(0.0, deadline - self.now())
        self._handle = asyncio.get_running_loop().call_later(delay, self._fire)

    def _fire(self) -> None:
        self._handle = None
        self._armed_for = None
        deadline = self._get_timer()
        if deadline is None:
            return
        now = self.now()
        if deadline <= now:
            self._handle_timer(now)
            self._on_fired()
        self.update()

    def cancel(self) -> None:
        """Disarm (on close)."""
        if self._handle is not None:
            self._handle.cancel()
        self._handle = None
        self._armed_for = None
