"""Segmentation and reassembly of long APDUs over the adaptation layer (IEC 62056-8-8, 7.5), sans-IO.

The scheme is the project's design (decision 0012):

* An APDU that fits one 14908-1 application message travels unsegmented. Otherwise it is cut into a
  FIRST segment (number 0, carries ``total_length``), MIDDLE segments and a LAST segment numbered
  1..255, all with the same ``message_id``: at most 256 segments, and ``total_length`` <= 65535.
* :func:`plan_segments` computes the cut for a maximum ADP PDU size (default 228 bytes, the
  application data of one power-line frame) and the security suite's overhead.
* :class:`Reassembler` rebuilds APDUs from segments of many peers with bounded memory:

  - a FIRST segment declaring more than ``max_apdu_length`` is refused at once (nothing is buffered:
    memory follows the bytes actually received, never a declared total);
  - the bytes received for a message never exceed its ``total_length``; numbers never exceed 255;
  - at most ``max_reassemblies_per_peer`` messages per peer and ``max_reassemblies`` in all are in
    progress; a new message beyond either limit evicts the least recently active one;
  - a reassembly ends when the gap since its last segment exceeds ``segment_timeout`` or its age exceeds
    ``reassembly_timeout`` (so a slow drip of segments cannot keep it alive forever);
  - segments may arrive out of order within ``reorder_window`` segments of the next expected one;
    duplicates are dropped (and re-acknowledged); a segment further ahead means one is missing and the
    reassembly is aborted.

  So at any time the buffered bytes are at most ``max_reassemblies * max_apdu_length``, and every call
  does work bounded by the size of its input plus ``max_reassemblies``.

Time is injected (seconds, any monotonic origin); nothing here sleeps or reads a clock.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from enum import Enum
from typing import Final

from cosemnet.errors import EncodeError
from cosemnet.profiles.lon.adp import (
    MAX_MESSAGE_DATA,
    AbortReason,
    AdpData,
    AdpDirection,
    AdpKind,
    Segmentation,
    header_length,
)

MAX_SEGMENTS: Final = 256
"""Segment numbers are one byte: FIRST is 0, MIDDLE / LAST 1..255."""

MAX_TOTAL_LENGTH: Final = 0xFFFF
"""``total_length`` is two bytes."""


@dataclass(frozen=True, slots=True)
class SegmentationConfig:
    """Limits of segmentation and reassembly (all configurable: networks and meters differ).

    ``max_message_data``: largest ADP PDU in one 14908-1 application message (data after the message
    code); ``max_apdu_length``: longest APDU sent or reassembled (the receiver refuses longer ones
    before buffering anything).
    """

    max_message_data: int = MAX_MESSAGE_DATA
    max_apdu_length: int = 4096
    reassembly_timeout: float = 120.0
    segment_timeout: float = 30.0
    reorder_window: int = 4
    max_reassemblies_per_peer: int = 2
    max_reassemblies: int = 32

    def __post_init__(self) -> None:
        if header_length(AdpKind.DATA, Segmentation.FIRST, True) >= self.max_message_data:
            raise ValueError(f"max_message_data {self.max_message_data} leaves no room for a segment")
        if not 1 <= self.max_apdu_length <= MAX_TOTAL_LENGTH:
            raise ValueError("max_apdu_length must be 1..65535")
        if self.reassembly_timeout <= 0 or self.segment_timeout <= 0:
            raise ValueError("timeouts must be positive")
        if not 0 <= self.reorder_window < MAX_SEGMENTS:
            raise ValueError("reorder_window must be 0..255")
        if self.max_reassemblies_per_peer < 1 or self.max_reassemblies < 1:
            raise ValueError("reassembly limits must be at least 1")


@dataclass(frozen=True, slots=True)
class SegmentSpec:
    """One planned PDU of a transfer: its segmentation, number (None for FIRST / unsegmented),
    ``total_length`` (FIRST only) and plaintext chunk."""

    segmentation: Segmentation
    segment_number: int | None
    total_length: int | None
    chunk: bytes


def segment_capacity(max_message_data: int, segmentation: Segmentation, security_overhead: int | None) -> int:
    """APDU bytes one PDU of this shape can carry (``security_overhead`` None = unprotected)."""
    protected = security_overhead is not None
    return (
        max_message_data
        - header_length(AdpKind.DATA, segmentation, protected)
        - (security_overhead if security_overhead is not None else 0)
    )


def plan_segments(
    apdu: bytes, max_message_data: int, security_overhead: int | None = None
) -> list[SegmentSpec]:
    """Cut ``apdu`` into the PDUs that carry it (one unsegmented PDU when it fits).

    :class:`EncodeError` when the APDU is empty, longer than 65535 bytes or needs more than 256
    segments, or when a frame leaves no room for payload.
    """
    data = bytes(apdu)
    if not data:
        raise EncodeError("an empty APDU cannot be sent")
    if segment_capacity(max_message_data, Segmentation.UNSEGMENTED, security_overhead) >= len(data):
        return [SegmentSpec(Segmentation.UNSEGMENTED, None, None, data)]
    if len(data) > MAX_TOTAL_LENGTH:
        raise EncodeError(f"APDU of {len(data)} bytes exceeds the 65535-byte segmentation limit")
    first = segment_capacity(max_message_data, Segmentation.FIRST, security_overhead)
    other = segment_capacity(max_message_data, Segmentation.MIDDLE, security_overhead)
    if first <= 0 or other <= 0:
        raise EncodeError("the ADP header and security overhead leave no room for a segment")
    count = 1 + -(-(len(data) - first) // other)
    if count > MAX_SEGMENTS:
        raise EncodeError(f"APDU of {len(data)} bytes needs {count} segments (at most {MAX_SEGMENTS})")
    specs = [SegmentSpec(Segmentation.FIRST, None, len(data), data[:first])]
    pos = first
    number = 1
    while pos < len(data):
        chunk = data[pos : pos + other]
        pos += len(chunk)
        kind = Segmentation.LAST if pos >= len(data) else Segmentation.MIDDLE
        specs.append(SegmentSpec(kind, number, None, chunk))
        number += 1
    return specs


ReassemblyKey = tuple[Hashable, AdpDirection, int, int, int]
"""(peer, direction, client_sap, server_sap, message_id)."""


class ReassemblyStatus(Enum):
    COMPLETE = "complete"
    """``apdu`` holds the whole APDU."""
    IN_PROGRESS = "in-progress"
    DUPLICATE = "duplicate"
    """A segment already held: dropped (``ack_segment`` repeats the acknowledgement)."""
    UNKNOWN = "unknown"
    """A middle / last segment of no reassembly in progress: dropped."""
    ABORTED = "aborted"
    """The reassembly was abandoned; ``abort_reason`` says why (tell the sender)."""


@dataclass(slots=True)
class ReassemblyOutcome:
    """What one received DATA PDU did."""

    status: ReassemblyStatus
    key: ReassemblyKey | None = None
    apdu: bytes | None = None
    abort_reason: AbortReason | None = None
    ack_segment: int | None = None
    """Highest segment number held in sequence (for a SEGMENT_ACK), for segments only."""
    evicted: list[ReassemblyKey] = field(default_factory=list)
    """Reassemblies dropped to make room (their senders may be told RESOURCES_EXHAUSTED)."""


@dataclass(slots=True)
class _Reassembly:
    total_length: int
    started: float
    last_activity: float
    parts: dict[int, bytes]
    received: int
    next_expected: int = 1
    last_number: int | None = None


@dataclass(frozen=True, slots=True)
class Expired:
    """A reassembly abandoned by :meth:`Reassembler.expire`."""

    key: ReassemblyKey
    reason: AbortReason = AbortReason.REASSEMBLY_TIMEOUT


class Reassembler:
    """Rebuilds segmented APDUs, per (peer, direction, SAP pair, message_id), in bounded memory."""

    __slots__ = ("_active", "_completed", "config")

    def __init__(self, config: SegmentationConfig | None = None) -> None:
        self.config = config if config is not None else SegmentationConfig()
        self._active: dict[ReassemblyKey, _Reassembly] = {}
        # recently completed messages: key -> (forget at, last segment number); at most max_reassemblies
        self._completed: dict[ReassemblyKey, tuple[float, int]] = {}

    def __len__(self) -> int:
        return len(self._active)

    def buffered_bytes(self) -> int:
        """Bytes currently held for incomplete APDUs."""
        return sum(r.received for r in self._active.values())

    def remembered(self) -> int:
        """Recently completed messages remembered to recognise late duplicates (<= max_reassemblies)."""
        return len(self._completed)

    def in_progress(self) -> list[ReassemblyKey]:
        """The keys of the reassemblies in progress."""
        return list(self._active)

    def receive(self, peer: Hashable, pdu: AdpData, now: float) -> ReassemblyOutcome:
        """Account for one DATA PDU (plaintext ``payload``) from ``peer`` (any hashable id)."""
        if pdu.segmentation == Segmentation.UNSEGMENTED or pdu.message_id is None:
            return ReassemblyOutcome(ReassemblyStatus.COMPLETE, apdu=pdu.payload)
        key: ReassemblyKey = (peer, pdu.direction, pdu.client_sap, pdu.server_sap, pdu.message_id)
        done = self._completed.get(key)
        if done is not None:
            if done[0] > now:
                return ReassemblyOutcome(ReassemblyStatus.DUPLICATE, key, ack_segment=done[1])
            del self._completed[key]
        if pdu.segmentation == Segmentation.FIRST:
            return self._first(key, pdu, now)
        state = self._active.get(key)
        if state is None:
            return ReassemblyOutcome(ReassemblyStatus.UNKNOWN, key)
        return self._next(key, state, pdu, now)

    def abort(self, key: ReassemblyKey) -> bool:
        """Drop a reassembly (the sender aborted it); True if one was in progress."""
        self._completed.pop(key, None)
        return self._active.pop(key, None) is not None

    def _remember_completed(self, key: ReassemblyKey, last_number: int, now: float) -> None:
        """Late duplicates of a completed message (retransmissions) are recognised for
        ``segment_timeout`` seconds instead of starting a reassembly that could only fail."""
        for k in [k for k, (until, _) in self._completed.items() if until <= now]:
            del self._completed[k]
        if len(self._completed) >= self.config.max_reassemblies:
            del self._completed[min(self._completed, key=lambda k: self._completed[k][0])]
        self._completed[key] = (now + self.config.segment_timeout, last_number)

    def deadline(self) -> float | None:
        """The earliest time at which :meth:`expire` has work, or None."""
        if not self._active:
            return None
        return min(self._deadline_of(r) for r in self._active.values())

    def expire(self, now: float) -> list[Expired]:
        """Abandon every reassembly whose deadline is at or before ``now``."""
        gone = [k for k, r in self._active.items() if self._deadline_of(r) <= now]
        for k in gone:
            del self._active[k]
        return [Expired(k) for k in gone]

    # ----------------------------------------------------------------------------------------------

    def _deadline_of(self, r: _Reassembly) -> float:
        return min(r.started + self.config.reassembly_timeout, r.last_activity + self.config.segment_timeout)

    def _abort(self, key: ReassemblyKey, reason: AbortReason) -> ReassemblyOutcome:
        self._active.pop(key, None)
        return ReassemblyOutcome(ReassemblyStatus.ABORTED, key, abort_reason=reason)

    def _first(self, key: ReassemblyKey, pdu: AdpData, now: float) -> ReassemblyOutcome:
        total = pdu.total_length if pdu.total_length is not None else 0
        chunk = pdu.payload
        existing = self._active.get(key)
        if existing is not None:
            if existing.total_length == total and existing.parts.get(0) == chunk:
                existing.last_activity = now
                ack = existing.next_expected - 1
                return ReassemblyOutcome(ReassemblyStatus.DUPLICATE, key, ack_segment=ack)
            del self._active[key]  # the sender restarted this message
        if total > self.config.max_apdu_length:
            return self._abort(key, AbortReason.TOO_LONG)
        if not chunk or len(chunk) >= total:
            return self._abort(key, AbortReason.LENGTH_MISMATCH)
        evicted = self._make_room(key[0])
        self._active[key] = _Reassembly(total, now, now, {0: chunk}, len(chunk))
        return ReassemblyOutcome(ReassemblyStatus.IN_PROGRESS, key, ack_segment=0, evicted=evicted)

    def _make_room(self, peer: Hashable) -> list[ReassemblyKey]:
        evicted: list[ReassemblyKey] = []
        mine = [k for k in self._active if k[0] == peer]
        while len(mine) >= self.config.max_reassemblies_per_peer:
            oldest = min(mine, key=lambda k: self._active[k].last_activity)
            del self._active[oldest]
            mine.remove(oldest)
            evicted.append(oldest)
        while len(self._active) >= self.config.max_reassemblies:
            oldest = min(self._active, key=lambda k: self._active[k].last_activity)
            del self._active[oldest]
            evicted.append(oldest)
        return evicted

    def _next(self, key: ReassemblyKey, state: _Reassembly, pdu: AdpData, now: float) -> ReassemblyOutcome:
        number = pdu.segment_number if pdu.segment_number is not None else 0
        if number < state.next_expected or number in state.parts:
            state.last_activity = now
            return ReassemblyOutcome(ReassemblyStatus.DUPLICATE, key, ack_segment=state.next_expected - 1)
        if number > state.next_expected + self.config.reorder_window:
            return self._abort(key, AbortReason.SEQUENCE_ERROR)
        if state.last_number is not None and number > state.last_number:
            return self._abort(key, AbortReason.SEQUENCE_ERROR)
        if pdu.segmentation == Segmentation.LAST:
            if number < max(state.parts):
                return self._abort(key, AbortReason.SEQUENCE_ERROR)
            state.last_number = number
        chunk = pdu.payload
        if not chunk or state.received + len(chunk) > state.total_length:
            return self._abort(key, AbortReason.LENGTH_MISMATCH)
        state.parts[number] = chunk
        state.received += len(chunk)
        state.last_activity = now
        while state.next_expected in state.parts:
            state.next_expected += 1
        ack = state.next_expected - 1
        if state.last_number is not None and state.next_expected > state.last_number:
            del self._active[key]
            if state.received != state.total_length:
                return ReassemblyOutcome(
                    ReassemblyStatus.ABORTED, key, abort_reason=AbortReason.LENGTH_MISMATCH
                )
            apdu = b"".join(state.parts[i] for i in range(state.last_number + 1))
            self._remember_completed(key, state.last_number, now)
            return ReassemblyOutcome(ReassemblyStatus.COMPLETE, key, apdu=apdu, ack_segment=ack)
        return ReassemblyOutcome(ReassemblyStatus.IN_PROGRESS, key, ack_segment=ack)


__all__ = [
    "MAX_SEGMENTS",
    "MAX_TOTAL_LENGTH",
    "Expired",
    "Reassembler",
    "ReassemblyKey",
    "ReassemblyOutcome",
    "ReassemblyStatus",
    "SegmentSpec",
    "SegmentationConfig",
    "plan_segments",
    "segment_capacity",
]
