"""The data concentrator's exchange scheduler on a power-line segment (sans-IO, docs/decisions/0094).

Only the concentrator initiates on an IEC 62056-8-8 segment, so it decides how much traffic the meters
put on the channel: every answer is the consequence of one of its requests. :class:`ExchangeScheduler`
decides which meter link may start its next DLMS exchange and on which 14908-1 channel:

* **Window**: at most ``window`` units of exchanges are in flight. A direct meter costs one unit, a
  meter behind ``h`` Annex E repeaters ``1 + h`` (each hop carries the request and the answer again,
  so its round trip is that much longer). The window adapts (AIMD): every exchange that ended without
  a 14908-1 retry adds ``1 / window`` up to ``max_window``; a retry or a failed exchange halves it (not
  below ``min_window``). With the request/response service of docs/decisions/0093 a node runs one
  transaction per priority, so further exchanges wait in the stack and leave back to back; with the
  acknowledged service the window is what keeps the answers of several meters from colliding.
* **Round trip**: the measured time of an exchange (start to answer) per unit of cost is kept as a
  moving average (``round_trip``); with ``airtime``, the channel time those exchanges used, the
  scheduler reports the share of the channel its exchanges fill (``channel_share``).
* **Priority**: commands (disconnect, time synchronisation: anything queued with
  :meth:`MeterLink.command`) start before any bulk read and go on the 14908-1 priority channel
  (``command_priority``); bulk reads use ``bulk_priority``. A command may exceed the window by one.
* **Pacing**: while a segmented transfer is in progress in either direction (``segmenting``), no new
  bulk exchange starts: its segments then have the channel to themselves.
* **One exchange per meter** at a time, whatever the number of links (client SAPs) to it.

Nothing here reads a clock: callers pass ``now`` (seconds).
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Final

DEFAULT_MAX_WINDOW: Final = 4


@dataclass(frozen=True, slots=True)
class SchedulerConfig:
    """Scheduler settings (docs/decisions/0094) [design]."""

    window: float = 1.0
    """Initial window, in exchange units (a direct meter = 1)."""
    min_window: float = 1.0
    max_window: float = DEFAULT_MAX_WINDOW
    command_priority: bool = True
    """Commands go on the 14908-1 priority channel."""
    bulk_priority: bool = True
    """Bulk reads go on the 14908-1 priority channel too: the concentrator is the only initiator and runs
    one exchange per priority at a time, so the priority slots carry its polling without contention
    (the answers travel on the request's priority). False: bulk reads use the randomising window."""
    pace_segments: bool = True
    """No new bulk exchange while a segmented transfer is in progress."""
    smoothing: float = 0.125
    """Weight of a new sample in the round-trip average."""

    def __post_init__(self) -> None:
        if not 0 < self.min_window <= self.window <= self.max_window:
            raise ValueError("need 0 < min_window <= window <= max_window")
        if not 0 < self.smoothing <= 1:
            raise ValueError("smoothing must be in (0, 1]")


@dataclass(slots=True)
class _Flight:
    cost: float
    command: bool
    started: float


@dataclass(slots=True)
class SchedulerStatistics:
    started: int = 0
    commands: int = 0
    completed: int = 0
    failed: int = 0
    retried: int = 0
    """Exchanges during which the 14908-1 layer retransmitted (a loss)."""
    paced: int = 0
    """Times a bulk exchange waited because a segmented transfer was in progress."""


class ExchangeScheduler:
    """Which meter may start an exchange now (see the module docstring)."""

    def __init__(self, config: SchedulerConfig | None = None) -> None:
        self.config = config if config is not None else SchedulerConfig()
        self.window = self.config.window
        self.round_trip: float | None = None
        """Moving average of an exchange's duration per unit of cost (seconds)."""
        self.airtime = 0.0
        """Channel time of the exchanges finished so far, as reported by the caller (seconds)."""
        self.busy_time = 0.0
        """Sum of the durations of the exchanges finished so far (seconds)."""
        self._flights: dict[Hashable, _Flight] = {}
        self.statistics = SchedulerStatistics()

    # ------------------------------------------------------------------ queries

    @property
    def in_flight(self) -> float:
        """Window units of the exchanges in progress."""
        return sum(f.cost for f in self._flights.values())

    def busy(self, meter: Hashable) -> bool:
        """An exchange with this meter is in progress."""
        return meter in self._flights

    def priority(self, command: bool) -> bool:
        """The 14908-1 priority of an exchange."""
        return self.config.command_priority if command else self.config.bulk_priority

    def may_start(self, meter: Hashable, cost: float, command: bool, segmenting: bool) -> bool:
        """Whether an exchange with ``meter`` of ``cost`` units may start now."""
        if meter in self._flights:
            return False
        flying = self.in_flight
        if command:
            return flying < self.window + 1.0
        if segmenting and self.config.pace_segments and self._flights:
            self.statistics.paced += 1
            return False
        # the first exchange always fits, whatever its cost (a long repeater chain)
        return not self._flights or flying + cost <= self.window + 1e-9

    def channel_share(self) -> float | None:
        """Airtime of the finished exchanges over their summed durations (None before the first)."""
        return self.airtime / self.busy_time if self.busy_time > 0 else None

    # ------------------------------------------------------------------ events

    def started(self, meter: Hashable, cost: float, command: bool, now: float) -> None:
        self._flights[meter] = _Flight(cost, command, now)
        self.statistics.started += 1
        if command:
            self.statistics.commands += 1

    def finished(self, meter: Hashable, now: float, *, ok: bool, retried: bool, airtime: float = 0.0) -> None:
        """The exchange with ``meter`` ended: answered (``ok``) or failed; ``retried`` when the 14908-1
        layer retransmitted during it; ``airtime`` the channel time it used, when known."""
        flight = self._flights.pop(meter, None)
        if flight is None:
            return
        cfg = self.config
        duration = max(0.0, now - flight.started)
        if ok:
            self.statistics.completed += 1
            sample = duration / flight.cost
            self.round_trip = (
                sample
                if self.round_trip is None
                else self.round_trip + cfg.smoothing * (sample - self.round_trip)
            )
            self.busy_time += duration
            self.airtime += airtime
        else:
            self.statistics.failed += 1
        if retried:
            self.statistics.retried += 1
        if not ok or retried:
            self.window = max(cfg.min_window, self.window / 2)
        else:
            self.window = min(cfg.max_window, self.window + 1.0 / self.window)

    def forget(self, meter: Hashable) -> None:
        """Drop an exchange without judging it (the link was reset)."""
        self._flights.pop(meter, None)


__all__ = ["DEFAULT_MAX_WINDOW", "ExchangeScheduler", "SchedulerConfig", "SchedulerStatistics"]
