"""Delayed and randomised responses (IEC TS 62056-8-20, 8.3), sans-IO.

[pinned by the TS scope] Answers to a request (typically a group request) are sent "in designated
time windows and with a randomized delay". How the window is designated is not public.

**Our design** (decision record ``docs/decisions/0023-mesh-response-windows.md``):

* A :class:`ResponseWindow` is ``{start_offset, end_offset}`` in milliseconds after the meter received
  the request. A meter draws its delay uniformly in ``[start_offset, end_offset]`` with the caller's
  RNG (:meth:`ResponseWindow.delay`); :func:`response_rng` gives a per-(system title, invoke id)
  reproducible RNG for simulations. The window is configured on the meter (a Data object holding the
  structure below, our design) and the head-end knows it, so it knows when to stop waiting.
* Wire form: ``structure { start_offset double-long-unsigned, end_offset double-long-unsigned }`` (ms).
* Head-end: :class:`ResponseCollector` keeps one entry per outstanding request (invoke id): the set of
  expected system titles and the instant the window closes (plus a grace period for transit). It
  drops duplicates by ``(system title, invoke id)``, reports who answered, who is missing, who was
  late (after the deadline) and who answered without being expected.

Times on the head-end side are floats (seconds of a monotonic clock chosen by the caller).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import ClassVar, Final, Self

from cosemnet.codec.axdr import Buffer, encode_data
from cosemnet.codec.obis import Obis
from cosemnet.codec.types import DataValue, DoubleLongUnsigned
from cosemnet.cosem.base import SelectiveAccess
from cosemnet.cosem.context import AccessContext
from cosemnet.cosem.data import Data
from cosemnet.cosem.results import type_unmatched
from cosemnet.errors import DecodeError, EncodeError
from cosemnet.profiles.mesh._data import DataReader, reencode

__all__ = [
    "RESPONSE_WINDOW_LN",
    "AddResult",
    "CollectionReport",
    "Response",
    "ResponseCollector",
    "ResponseWindow",
    "ResponseWindowObject",
    "response_rng",
]

_MAX_MS: Final = 0xFFFFFFFF


@dataclass(frozen=True, slots=True)
class ResponseWindow:
    """When, after receiving a request, a meter may answer (milliseconds)."""

    WHAT: ClassVar[str] = "response window"

    start_offset: int = 0
    end_offset: int = 0

    def __post_init__(self) -> None:
        for name in ("start_offset", "end_offset"):
            value = getattr(self, name)
            if type(value) is not int or not 0 <= value <= _MAX_MS:
                raise EncodeError(f"{name} must be 0..{_MAX_MS} ms, got {value!r}")
        if self.end_offset < self.start_offset:
            raise EncodeError("end_offset must not be before start_offset")

    @classmethod
    def seconds(cls, start: float, end: float) -> ResponseWindow:
        return cls(round(start * 1000), round(end * 1000))

    @property
    def length(self) -> float:
        """Window length in seconds."""
        return (self.end_offset - self.start_offset) / 1000.0

    def delay(self, rng: random.Random) -> float:
        """Seconds to wait after receiving the request: uniform in [start, end]."""
        return rng.uniform(self.start_offset, self.end_offset) / 1000.0

    def send_time(self, received_at: float, rng: random.Random) -> float:
        return received_at + self.delay(rng)

    def closes_at(self, sent_at: float) -> float:
        """Head-end side: the latest instant a meter that received the request at ``sent_at`` answers."""
        return sent_at + self.end_offset / 1000.0

    def to_data(self) -> DataValue:
        return (DoubleLongUnsigned(self.start_offset), DoubleLongUnsigned(self.end_offset))

    def encode(self) -> bytes:
        return encode_data(self.to_data())

    @classmethod
    def read(cls, r: DataReader) -> Self:
        start = r.pos
        r.structure(2, cls.WHAT)
        lo = int(r.value(DoubleLongUnsigned, "start_offset"))
        hi = int(r.value(DoubleLongUnsigned, "end_offset"))
        if hi < lo:
            raise DecodeError("end_offset before start_offset", start, "start_offset <= end_offset")
        return cls(lo, hi)

    @classmethod
    def decode(cls, data: Buffer) -> Self:
        r = DataReader(data)
        obj = cls.read(r)
        r.end(cls.WHAT)
        return obj

    @classmethod
    def from_data(cls, value: DataValue) -> Self:
        return cls.decode(reencode(value, cls.WHAT))


RESPONSE_WINDOW_LN: Final = Obis("0-0:128.20.1*255")
"""[design, decision 0124] logical name of the response window object (manufacturer-specific C=128)."""


class ResponseWindowObject(Data):
    """The meter's :class:`ResponseWindow` as a Data object (class 1, attribute 2 ``value`` =
    ``structure {start_offset, end_offset}`` in ms), settable where granted (decision 0124). A SET
    that does not decode (or ends before it starts) is refused with ``type-unmatched``."""

    def __init__(
        self, logical_name: Obis | str | bytes = RESPONSE_WINDOW_LN, window: ResponseWindow | None = None
    ) -> None:
        window = window if window is not None else ResponseWindow()
        super().__init__(logical_name, window.to_data())
        self.window = window

    def _get(self, index: int, ctx: AccessContext, selective_access: SelectiveAccess | None) -> DataValue:
        return self.window.to_data()

    def _set(self, index: int, value: DataValue, ctx: AccessContext) -> None:
        try:
            window = ResponseWindow.from_data(value)
        except (DecodeError, EncodeError) as exc:
            raise type_unmatched(f"response window: {exc}") from None
        self.window = window
        self.value = value


def response_rng(system_title: bytes, invoke_id: int, seed: int | bytes = 0) -> random.Random:
    """A reproducible RNG for one meter and one request ([design] for simulations and tests; a real
    meter should use a hardware or OS source: ``random.Random()`` seeded from ``os.urandom``)."""
    salt = seed if isinstance(seed, bytes) else seed.to_bytes(8, "big", signed=True)
    digest = hashlib.sha256(b"cosemnet-response|" + salt + bytes(system_title) + invoke_id.to_bytes(4, "big"))
    return random.Random(int.from_bytes(digest.digest()[:8], "big"))


class AddResult(Enum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    """Same (system title, invoke id) seen before: dropped."""
    LATE = "late"
    """After the deadline: recorded as late, not as answered."""
    UNEXPECTED = "unexpected"
    """Answer from a system title that was not expected (recorded separately)."""
    UNKNOWN_REQUEST = "unknown-request"
    """No open request with this invoke id (already closed or never sent)."""


@dataclass(frozen=True, slots=True)
class Response:
    system_title: bytes
    invoke_id: int
    received_at: float
    payload: object = field(default=None, compare=False)


@dataclass(slots=True)
class CollectionReport:
    """Outcome of one request."""

    invoke_id: int
    answered: dict[bytes, Response]
    missing: set[bytes]
    """Expected meters that did not answer at all (late answers are in ``late``)."""
    late: dict[bytes, Response]
    unexpected: dict[bytes, Response]
    duplicates: int
    closed: bool

    @property
    def complete(self) -> bool:
        """Every expected meter answered in time."""
        return not self.missing and not self.late


@dataclass(slots=True)
class _Request:
    expected: frozenset[bytes]
    deadline: float
    answered: dict[bytes, Response] = field(default_factory=dict)
    late: dict[bytes, Response] = field(default_factory=dict)
    unexpected: dict[bytes, Response] = field(default_factory=dict)
    duplicates: int = 0
    closed: bool = False


class ResponseCollector:
    """Head-end side: collects the answers to outstanding (group) requests.

    ``keep_closed`` requests are remembered after they close so that late answers and duplicates are
    classified, not reported as unknown.
    """

    __slots__ = ("_closed_order", "_requests", "grace", "keep_closed")

    def __init__(self, *, grace: float = 2.0, keep_closed: int = 256) -> None:
        if grace < 0 or keep_closed < 0:
            raise ValueError("grace and keep_closed must not be negative")
        self.grace = grace
        self.keep_closed = keep_closed
        self._requests: dict[int, _Request] = {}
        self._closed_order: list[int] = []

    def open(
        self, invoke_id: int, expected: Iterable[bytes], sent_at: float, window: ResponseWindow
    ) -> float:
        """Start collecting for ``invoke_id``; returns the deadline (window end + grace)."""
        if invoke_id in self._requests and not self._requests[invoke_id].closed:
            raise ValueError(f"invoke id {invoke_id} is already being collected")
        self._requests.pop(invoke_id, None)
        if invoke_id in self._closed_order:
            self._closed_order.remove(invoke_id)
        deadline = window.closes_at(sent_at) + self.grace
        self._requests[invoke_id] = _Request(frozenset(bytes(t) for t in expected), deadline)
        return deadline

    def add(
        self, system_title: bytes, invoke_id: int, received_at: float, payload: object = None
    ) -> AddResult:
        """Record an answer."""
        request = self._requests.get(invoke_id)
        if request is None:
            return AddResult.UNKNOWN_REQUEST
        title = bytes(system_title)
        if title in request.answered or title in request.late or title in request.unexpected:
            request.duplicates += 1
            return AddResult.DUPLICATE
        response = Response(title, invoke_id, received_at, payload)
        if title not in request.expected:
            request.unexpected[title] = response
            return AddResult.UNEXPECTED
        if request.closed or received_at > request.deadline:
            request.late[title] = response
            return AddResult.LATE
        request.answered[title] = response
        return AddResult.ACCEPTED

    def get_timer(self) -> float | None:
        """The earliest deadline of an open request (docs/sans-io.md: :meth:`expire` is due then)."""
        open_deadlines = [r.deadline for r in self._requests.values() if not r.closed]
        return min(open_deadlines) if open_deadlines else None

    def expire(self, now: float) -> list[CollectionReport]:
        """Close every request whose deadline passed, and report on them."""
        reports = []
        for invoke_id, request in list(self._requests.items()):
            if request.closed:
                continue
            if now >= request.deadline or len(request.answered) == len(request.expected):
                reports.append(self._close(invoke_id, request))
        return reports

    def _close(self, invoke_id: int, request: _Request) -> CollectionReport:
        request.closed = True
        self._closed_order.append(invoke_id)
        while len(self._closed_order) > self.keep_closed:
            self._requests.pop(self._closed_order.pop(0), None)
        return self.report(invoke_id)

    def close(self, invoke_id: int) -> CollectionReport:
        """Close ``invoke_id`` now (e.g. the operator gives up)."""
        request = self._requests.get(invoke_id)
        if request is None:
            raise KeyError(invoke_id)
        if request.closed:
            return self.report(invoke_id)
        return self._close(invoke_id, request)

    def report(self, invoke_id: int) -> CollectionReport:
        """Current state of ``invoke_id`` (open or closed)."""
        request = self._requests.get(invoke_id)
        if request is None:
            raise KeyError(invoke_id)
        return CollectionReport(
            invoke_id,
            dict(request.answered),
            set(request.expected - request.answered.keys() - request.late.keys()),
            dict(request.late),
            dict(request.unexpected),
            request.duplicates,
            request.closed,
        )
