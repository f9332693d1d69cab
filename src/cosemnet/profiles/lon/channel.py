"""A simulated power-line channel in simulated time, driving many :class:`LonStack` nodes.

Discrete-event simulation; nothing sleeps, time is a float in seconds. All of it is [design] (the
standard defines the MAC, not a simulator); the model is small and honest:

* **Topology**: who hears whom is a set of directed links, each with a loss probability. By default every
  node attached hears every other node (``auto_link``); with ``positions`` and ``range_m`` only nodes in
  range hear each other. :meth:`PowerLineChannel.link` / :meth:`unlink` / :meth:`set_loss` edit links.
* **Airtime**: ``(8 * len(frame with CRC) + overhead_bits) / bit_rate``; ``overhead_bits`` stands for the
  preamble, sync and end-of-frame code of the transceiver (default 40 bits). Default bit rate 5.4 kbit/s
  (CENELEC A band).
* **MAC**: a randomised, backlog-driven p-persistent CSMA in the spirit of ISO/IEC 14908-1's predictive
  CSMA. After the medium (as heard by the node) goes idle, a node waits ``beta1_bits`` and then picks one
  slot of ``slot_bits``: priority frames one of ``priority_slots`` slots, others one of
  ``window_slots * backlog`` slots after them. ``backlog`` is the node's estimate of pending traffic: it
  grows by the ``delta_backlog`` of every frame the node hears and shrinks by one per frame cycle
  (1..63), and by one per idle *packet cycle* (``beta1_bits`` + ``window_slots`` slots with nothing
  heard, ``idle_decay``; docs/decisions/0073), as 14908-1's predictive CSMA does. A node senses a
  transmission ``sense_delay_bits`` after it starts; if the medium is busy at its slot it waits for the
  next idle period and draws again.
* **Collisions**: a receiver gets a frame only if no other transmission it can hear overlaps it in time
  and it is not transmitting itself (half duplex). Overlapping frames are lost *at that receiver* (both
  of them, whichever started first); a receiver out of range of one sender still gets the other's frame.
  So two nodes picking the same slot collide where both are heard, and hidden nodes (out of each other's
  range) collide at the node between them. Each loss is reported to the receiving stack as a
  transmission error.
* **Loss**: after collisions, each reception is dropped with the link's loss probability (seeded RNG).

:class:`PowerLineChannel` is also the driver: ``run_until(t)`` / ``run_until_idle()`` deliver frames,
run stack timers (``handle_timer`` at ``get_timer``) and move frames from stacks onto the medium.
"""

from __future__ import annotations

import heapq
import math
import random
from collections import deque
from dataclasses import dataclass, field
from typing import Final

from cosemnet.errors import DecodeError
from cosemnet.profiles.lon.frames import DELTA_BACKLOG_MAX, LonFrame
from cosemnet.profiles.lon.stack import LonStack

BACKLOG_MIN: Final = 1
_EPS: Final = 1e-12


@dataclass(slots=True)
class ChannelConfig:
    """Channel and MAC parameters [design: defaults sized for a 5.4 kbit/s power-line channel]."""

    bit_rate: float = 5400.0
    overhead_bits: int = 40
    beta1_bits: int = 16
    slot_bits: int = 16
    priority_slots: int = 4
    window_slots: int = 16
    sense_delay_bits: int = 1
    default_loss: float = 0.0
    auto_link: bool = True
    range_m: float | None = None
    idle_decay: bool = True
    """The backlog also shrinks by one per idle packet cycle (docs/decisions/0073); False: only per frame
    heard (the model before, where a busy neighbourhood's estimate stayed high for seconds of silence)."""


@dataclass(slots=True)
class ChannelStatistics:
    frames: int = 0
    """Transmissions started."""
    bytes: int = 0
    airtime: float = 0.0
    """Sum of the airtime of every transmission (seconds)."""
    busy_time: float = 0.0
    """Time during which at least one transmission was on the medium."""
    collisions: int = 0
    """Receptions destroyed by an overlapping transmission (or by the receiver transmitting)."""
    collided_frames: int = 0
    """Transmissions that lost at least one reception to a collision."""
    losses: int = 0
    """Receptions dropped by the link loss probability."""
    deliveries: int = 0
    """Frames handed to a receiving stack."""
    deferrals: int = 0
    """Slots at which a node found the medium busy and backed off."""

    def utilisation(self, elapsed: float) -> float:
        """Fraction of ``elapsed`` during which the medium was busy."""
        return self.busy_time / elapsed if elapsed > 0 else 0.0


@dataclass(slots=True)
class _Transmission:
    sender: int
    start: float
    end: float
    data: bytes
    delta_backlog: int
    collided: bool = False


@dataclass(slots=True)
class _Station:
    stack: LonStack
    position: tuple[float, float] | None
    queue: deque[tuple[bytes, LonFrame]] = field(default_factory=deque)
    backlog: int = BACKLOG_MIN
    heard_at: float = 0.0
    """When the backlog was last updated (the end of the last frame heard or sent)."""
    contending: bool = False
    """A contention slot is scheduled."""
    waiting: bool = False
    """Has a frame but waits for the medium to go idle."""
    token: int = 0
    """Invalidates stale contention events."""
    transmitting: _Transmission | None = None
    version: int = 0
    """Invalidates stale entries of the timer heap."""


_TX_END: Final = 0
_CONTEND: Final = 1


class PowerLineChannel:
    """The medium plus the event loop that runs the attached stacks. See the module docstring."""

    def __init__(self, config: ChannelConfig | None = None, *, seed: int = 0) -> None:
        self.config = config if config is not None else ChannelConfig()
        self.statistics = ChannelStatistics()
        self.rng = random.Random(seed)
        self.now = 0.0
        self._stations: list[_Station] = []
        self._links: list[dict[int, float]] = []
        """_links[a][b] = loss probability of frames from a heard at b."""
        self._heap: list[tuple[float, int, int, int, int]] = []
        self._seq = 0
        self._active: list[_Transmission] = []
        self._recent: list[_Transmission] = []
        self._busy_until = 0.0
        self._timers: list[tuple[float, int, int]] = []
        """(deadline, version, station) of the stacks' next deadlines; stale entries skipped lazily."""
        self._dirty: set[int] = set()
        bit = 1.0 / self.config.bit_rate
        self._bit = bit

    # ------------------------------------------------------------------ topology

    def attach(self, stack: LonStack, position: tuple[float, float] | None = None) -> int:
        """Attach a stack; return its station index."""
        index = len(self._stations)
        self._stations.append(_Station(stack, position))
        self._links.append({})
        self._dirty.add(index)
        cfg = self.config
        if cfg.auto_link:
            for other, station in enumerate(self._stations[:-1]):
                if self._in_range(position, station.position):
                    self.link(index, other, cfg.default_loss)
        return index

    def _in_range(self, a: tuple[float, float] | None, b: tuple[float, float] | None) -> bool:
        if self.config.range_m is None or a is None or b is None:
            return True
        return math.dist(a, b) <= self.config.range_m

    def link(self, a: int, b: int, loss: float = 0.0, *, symmetric: bool = True) -> None:
        """Let ``b`` hear ``a`` (and ``a`` hear ``b`` when ``symmetric``) with ``loss`` probability."""
        if not 0.0 <= loss <= 1.0:
            raise ValueError("loss must be a probability")
        self._links[a][b] = loss
        if symmetric:
            self._links[b][a] = loss

    def unlink(self, a: int, b: int, *, symmetric: bool = True) -> None:
        self._links[a].pop(b, None)
        if symmetric:
            self._links[b].pop(a, None)

    def set_loss(self, a: int, b: int, loss: float, *, symmetric: bool = False) -> None:
        """Change the loss of an existing link (``a`` -> ``b``)."""
        if b not in self._links[a]:
            raise KeyError(f"no link from {a} to {b}")
        self.link(a, b, loss, symmetric=False)
        if symmetric:
            self.link(b, a, loss, symmetric=False)

    def hears(self, receiver: int, sender: int) -> bool:
        return receiver in self._links[sender]

    def stack(self, index: int) -> LonStack:
        return self._stations[index].stack

    def airtime(self, nbytes: int) -> float:
        return (8 * nbytes + self.config.overhead_bits) / self.config.bit_rate

    # ------------------------------------------------------------------ event loop

    def _push(self, time: float, kind: int, a: int, b: int) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (time, self._seq, kind, a, b))

    def _medium_busy_at(self, index: int, now: float) -> bool:
        """Whether station ``index`` senses a carrier at ``now``."""
        sense = self.config.sense_delay_bits * self._bit
        for tx in self._active:
            if (
                tx.end > now + _EPS
                and tx.start + sense <= now + _EPS
                and (tx.sender == index or index in self._links[tx.sender])
            ):
                return True
        return False

    def _schedule_contention(self, index: int, idle_from: float) -> None:
        station = self._stations[index]
        cfg = self.config
        _, frame = station.queue[0]
        self._decay(station)
        if frame.priority:
            slot = self.rng.randrange(cfg.priority_slots)
        else:
            slot = cfg.priority_slots + self.rng.randrange(cfg.window_slots * station.backlog)
        when = idle_from + (cfg.beta1_bits + slot * cfg.slot_bits) * self._bit
        station.contending = True
        station.waiting = False
        station.token += 1
        self._push(when, _CONTEND, index, station.token)

    def _decay(self, station: _Station) -> None:
        """Idle packet cycles since the last frame heard shrink the backlog (docs/decisions/0073)."""
        cfg = self.config
        if not cfg.idle_decay or station.backlog <= BACKLOG_MIN:
            return
        cycle = (cfg.beta1_bits + cfg.window_slots * cfg.slot_bits) * self._bit
        idle = int((self.now - station.heard_at) / cycle)
        if idle > 0:
            station.backlog = max(BACKLOG_MIN, station.backlog - idle)
            station.heard_at += idle * cycle

    def _want_medium(self, index: int) -> None:
        station = self._stations[index]
        if station.contending or station.transmitting is not None or not station.queue:
            return
        if self._medium_busy_at(index, self.now):
            station.waiting = True
        else:
            self._schedule_contention(index, self.now)

    def _collect(self) -> None:
        for index, station in enumerate(self._stations):
            stack = station.stack
            if stack.has_outgoing():
                self._dirty.add(index)
                for frame in stack.pop_outgoing():
                    station.queue.append((frame.encode(crc=True), frame))
                self._want_medium(index)

    def refresh(self) -> None:
        """Re-read every stack's next deadline (call after driving a stack by hand between runs in a way
        that changes its timers without sending a frame)."""
        self._dirty.update(range(len(self._stations)))

    def _refresh_timers(self) -> None:
        for index in self._dirty:
            station = self._stations[index]
            station.version += 1
            deadline = station.stack.get_timer()
            if deadline is not None:
                heapq.heappush(self._timers, (deadline, station.version, index))
        self._dirty.clear()

    def _next_timer(self) -> float:
        self._refresh_timers()
        timers = self._timers
        while timers and timers[0][1] != self._stations[timers[0][2]].version:
            heapq.heappop(timers)
        return timers[0][0] if timers else math.inf

    def _poll_due(self, t: float) -> None:
        timers = self._timers
        while timers and timers[0][0] <= t + _EPS:
            _, version, index = heapq.heappop(timers)
            station = self._stations[index]
            if version == station.version:
                station.stack.handle_timer(self.now)
                self._dirty.add(index)

    def _contend(self, index: int, token: int) -> None:
        station = self._stations[index]
        if token != station.token or not station.contending:
            return
        station.contending = False
        if not station.queue:
            return
        if self._medium_busy_at(index, self.now):
            self.statistics.deferrals += 1
            station.waiting = True
            return
        data, frame = station.queue.popleft()
        duration = self.airtime(len(data))
        tx = _Transmission(index, self.now, self.now + duration, data, frame.delta_backlog)
        station.transmitting = tx
        self._active.append(tx)
        stats = self.statistics
        stats.frames += 1
        stats.bytes += len(data)
        stats.airtime += duration
        stats.busy_time += max(0.0, tx.end - max(tx.start, self._busy_until))
        self._busy_until = max(self._busy_until, tx.end)
        self._push(tx.end, _TX_END, index, 0)

    def _tx_end(self, index: int) -> None:
        station = self._stations[index]
        tx = station.transmitting
        assert tx is not None
        station.transmitting = None
        self._active.remove(tx)
        self._recent.append(tx)
        # keep the finished transmissions that may still overlap this one or an active one
        earliest = min((t.start for t in self._active), default=tx.start)
        horizon = min(earliest, tx.start)
        self._recent = [t for t in self._recent if t.end > horizon + _EPS]
        stats = self.statistics
        frame: LonFrame | None = None
        for receiver, loss in self._links[index].items():
            rx = self._stations[receiver]
            if self._overlaps_at(receiver, tx):
                stats.collisions += 1
                tx.collided = True
                rx.stack.note_transmission_error()
                continue
            if loss > 0.0 and self.rng.random() < loss:
                stats.losses += 1
                continue
            if rx.backlog + tx.delta_backlog > DELTA_BACKLOG_MAX:  # class 133 (docs/decisions/0040)
                rx.stack.statistics.backlog_overflows += 1
            rx.backlog = min(DELTA_BACKLOG_MAX, rx.backlog + tx.delta_backlog)
            stats.deliveries += 1
            self._dirty.add(receiver)
            if frame is None:
                try:  # decode once, hand the same (read-only) frame to every receiver
                    frame = LonFrame.decode(tx.data)
                except DecodeError:
                    rx.stack.receive_frame(tx.data, self.now)
                    continue
            rx.stack.receive_lon_frame(frame, self.now)
        if tx.collided:
            stats.collided_frames += 1
        # one frame cycle ends for everyone who heard it (and the sender)
        for receiver in (index, *self._links[index]):
            st = self._stations[receiver]
            st.backlog = max(BACKLOG_MIN, st.backlog - 1)
            st.heard_at = self.now
        # stations waiting for an idle medium contend again
        for receiver in (index, *self._links[index]):
            st = self._stations[receiver]
            if st.queue and not st.contending and st.transmitting is None:
                if not self._medium_busy_at(receiver, self.now):
                    self._schedule_contention(receiver, self.now)
                else:
                    st.waiting = True

    def _overlaps_at(self, receiver: int, tx: _Transmission) -> bool:
        for other in (*self._active, *self._recent):
            if other is tx:
                continue
            if (
                other.start < tx.end - _EPS
                and other.end > tx.start + _EPS
                and (other.sender == receiver or receiver in self._links[other.sender])
            ):
                return True
        return False

    def step(self, until: float) -> bool:
        """Process the next event or timer at or before ``until``; False when there is none."""
        self._collect()
        t_event = self._heap[0][0] if self._heap else math.inf
        t_stack = self._next_timer()
        t = min(t_event, t_stack)
        if t > until:
            return False
        self.now = max(self.now, t)
        if t_event <= t_stack:
            _, _, kind, a, b = heapq.heappop(self._heap)
            if kind == _TX_END:
                self._tx_end(a)
            else:
                self._contend(a, b)
        else:
            self._poll_due(t)
        self._collect()
        return True

    def run_until(self, until: float) -> None:
        """Run the simulation up to time ``until``."""
        self.refresh()
        while self.step(until):
            pass
        self.now = max(self.now, until)
        for station in self._stations:
            station.stack.handle_timer(self.now)
        self.refresh()
        self._collect()

    def idle(self) -> bool:
        """No frame on or waiting for the medium and no transaction in progress in any stack."""
        if self._heap or self._active:
            return False
        return not any(s.queue or s.stack.busy() or s.stack.has_outgoing() for s in self._stations)

    def run_until_idle(self, limit: float = 3600.0) -> float:
        """Run until :meth:`idle` (receive records may live on) or ``now + limit``; return the time."""
        stop = self.now + limit
        self.refresh()
        while not self.idle():
            if not self.step(stop):
                break
        return self.now
