"""ISO/IEC 14908-1 transaction control: transaction numbers, transmit / receive transaction records, timers.

Facts (izot/lon-stack-dx ``lcs/lcs_tcs.c``, ``lcs/lcs_tsa.c``, ``lcs_eeprom.c`` timer tables; facts only):

* a node runs at most one outgoing transaction per priority (priority / non-priority);
* transaction numbers are 4 bits; after a transaction ends the number is incremented, wrapping from 15
  to 1 (0 is used only right after a reset); a table remembers the last number used per destination
  (subnet/node, group, broadcast subnet, unique ID, in a domain) for at least 24 s and the number is
  bumped again if it equals the one last used for that destination;
* timers are 4-bit codes: transmit and repeat timers 16, 24, 32, 48 ... 3072 ms (``16 << i/2``, times 1.5
  for odd ``i``); receive timers 128, 192, ... 24576 ms; a message addressed by unique ID uses a fixed
  receive timer of 8192 ms.

This module is pure bookkeeping: every method takes ``now`` (float seconds) and nothing sleeps.
[design] Transaction numbers start at 1 (0 is never used: the brief's rule, stricter than lon-stack-dx);
with enhanced mode (NPDU version 2) the space is 1..4095.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum, IntEnum
from typing import Final

from cosemnet.profiles.lon.addresses import Address
from cosemnet.profiles.lon.lon_apdu import Apdu

TX_TIMER_MS: Final = tuple((16 << (i // 2)) * 3 // 2 if i & 1 else 16 << (i // 2) for i in range(16))
"""Transmit timer (acknowledged / request retry interval) per 4-bit code, ms."""
REPEAT_TIMER_MS: Final = TX_TIMER_MS
"""Repeat timer (unacknowledged-repeated interval) per 4-bit code, ms."""
RECEIVE_TIMER_MS: Final = tuple(8 * t for t in TX_TIMER_MS)
"""Receive timer (receive transaction record lifetime) per 4-bit code, ms."""
LONG_TX_TIMER_MS: Final = tuple((16 << (i // 2)) * 3 // 2 if i & 1 else 16 << (i // 2) for i in range(16, 21))
"""Long transmit timers (proxy ``long_timer``): 4096 6144 8192 12288 16384 ms."""
UNIQUE_ID_RECEIVE_TIMER_MS: Final = 8192
"""Receive timer of messages addressed by unique node ID (lon-stack-dx ``NGTIMER_SPCL_VAL``)."""
DESTINATION_TABLE_LIFETIME: Final = 24.0
"""Seconds a destination's last transaction number is remembered (lon-stack-dx ``MIN_TABLE_TIME``)."""

TRANSACTION_ID_MAX: Final = 15
TRANSACTION_ID_MAX_ENHANCED: Final = 4095


def tx_timer_seconds(code: int, long_timer: bool = False) -> float:
    """Transmit timer of a 4-bit ``code`` in seconds (``long_timer``: codes 0..4 of the long table)."""
    if long_timer:
        return LONG_TX_TIMER_MS[code] / 1000.0
    return TX_TIMER_MS[code] / 1000.0


def repeat_timer_seconds(code: int) -> float:
    return REPEAT_TIMER_MS[code] / 1000.0


def receive_timer_seconds(code: int) -> float:
    return RECEIVE_TIMER_MS[code] / 1000.0


class Service(IntEnum):
    """The four ISO/IEC 14908-1 message services."""

    ACKD = 0
    UNACKD_RPT = 1
    UNACKD = 2
    REQUEST = 3


DestinationKey = tuple[bytes, str, int, bytes]
"""(domain ID, address kind, subnet or group, unique ID or node byte) identifying a destination."""


class TransactionIdAllocator:
    """Transaction numbers of one node: one counter per priority, one transaction in progress per priority,
    and a table of the last number used per destination."""

    __slots__ = ("_current", "_in_progress", "_last_used", "maximum")

    def __init__(self, *, enhanced: bool = False) -> None:
        self.maximum = TRANSACTION_ID_MAX_ENHANCED if enhanced else TRANSACTION_ID_MAX
        self._current = {False: 1, True: 1}
        self._in_progress = {False: False, True: False}
        self._last_used: dict[tuple[bool, DestinationKey], tuple[int, float]] = {}

    def _bump(self, value: int) -> int:
        return 1 if value >= self.maximum else value + 1

    def in_progress(self, priority: bool) -> bool:
        return self._in_progress[priority]

    def peek(self, priority: bool) -> int:
        """The number the next transaction would start from (before the per-destination check)."""
        return self._current[priority]

    def new(self, priority: bool, destination: DestinationKey, now: float) -> int:
        """Start a transaction to ``destination``; its transaction number.

        Raises :class:`RuntimeError` if a transaction of this priority is already in progress.
        """
        if self._in_progress[priority]:
            raise RuntimeError("a transaction of this priority is already in progress")
        key = (priority, destination)
        last = self._last_used.get(key)
        if last is not None and last[0] == self._current[priority]:
            self._current[priority] = self._bump(self._current[priority])
        tid = self._current[priority]
        self._last_used[key] = (tid, now)
        self._in_progress[priority] = True
        if len(self._last_used) > 256:
            self._forget_old(now)
        return tid

    def done(self, priority: bool) -> None:
        """End the transaction of ``priority``; the counter moves on (wrapping to 1, never 0)."""
        self._in_progress[priority] = False
        self._current[priority] = self._bump(self._current[priority])

    def _forget_old(self, now: float) -> None:
        self._last_used = {
            k: v for k, v in self._last_used.items() if now - v[1] < DESTINATION_TABLE_LIFETIME
        }


@dataclass(slots=True)
class TransmitRecord:
    """State of the one outgoing ACKD / UNACKD_RPT / REQUEST transaction of a priority."""

    handle: int
    service: Service
    priority: bool
    transaction_number: int
    apdu: Apdu
    retries_left: int
    timer: float
    """Transmit (ACKD / REQUEST) or repeat (UNACKD_RPT) interval, seconds."""
    deadline: float
    destination_count: int = 1
    """Acknowledgements / responses needed (group size for multicast)."""
    acked_members: set[int] = field(default_factory=set)
    ack_count: int = 0
    max_responses: int | None = None
    """Broadcast requests: terminate after this many responses (None: run all retries)."""
    responders: set[tuple[int, int, bytes]] = field(default_factory=set)
    challenged: bool = False
    """The receiver challenged this message (ISO/IEC 14908-1 authentication) and we replied."""


class ReceiveState(Enum):
    JUST_RECEIVED = "just received"
    AUTHENTICATING = "authenticating"
    """A challenge was sent; the message waits for the reply (ISO/IEC 14908-1 authentication)."""
    DELIVERED = "delivered"
    RESPONDED = "responded"
    DONE = "done"


ReceiveKey = tuple[bool, int | None, bytes, str, int, int, int]
"""(priority, domain index, domain ID, address kind, source subnet, source node, group / broadcast subnet)."""


@dataclass(slots=True)
class ReceiveRecord:
    """Receive transaction record: drops duplicates and keeps the response to a request."""

    key: ReceiveKey
    transaction_number: int
    session: bool
    """True for REQUEST (session layer), False for ACKD / UNACKD_RPT (transport layer)."""
    service: Service
    apdu: bytes
    expires: float
    state: ReceiveState = ReceiveState.JUST_RECEIVED
    request_id: int = 0
    response: bytes | None = None
    authenticated: bool = False
    priority: bool = False
    version: int = 0
    reply_domain_id: bytes = b""
    reply_source: tuple[int, int] = (0, 0)
    """Source subnet/node of acknowledgements and responses (0/0 when received in the flex domain)."""
    reply_member: int | None = None
    """Our group member number when the message was sent to a group (replies use address format 2b)."""
    destination: Address | None = None
    """The destination address the message came with (delivered after authentication)."""
    auth_requested: bool = False
    """The TPDU/SPDU auth bit was set."""
    need_auth: bool = False
    """The message asked for authentication and this node challenges it (a configured node does)."""
    challenge: bytes = field(default=b"", repr=False)
    """The 8 random bytes of our challenge (the same for every re-challenge of this message)."""


class ReceiveRecordTable:
    """A bounded table of receive transaction records (lon-stack-dx ``RECEIVE_TRANS_COUNT``)."""

    __slots__ = ("_by_request", "_records", "capacity")

    def __init__(self, capacity: int = 16) -> None:
        self.capacity = capacity
        self._records: dict[ReceiveKey, ReceiveRecord] = {}
        self._by_request: dict[int, ReceiveRecord] = {}

    def __len__(self) -> int:
        return len(self._records)

    def get(self, key: ReceiveKey) -> ReceiveRecord | None:
        return self._records.get(key)

    def records(self) -> list[ReceiveRecord]:
        """Every record (at most ``capacity``)."""
        return list(self._records.values())

    def by_request(self, request_id: int) -> ReceiveRecord | None:
        return self._by_request.get(request_id)

    def full(self) -> bool:
        return len(self._records) >= self.capacity

    def put(self, record: ReceiveRecord) -> None:
        """Insert or replace the record of ``record.key`` (the caller checks :meth:`full` for new keys)."""
        old = self._records.get(record.key)
        if old is not None and old.request_id:
            self._by_request.pop(old.request_id, None)
        self._records[record.key] = record
        if record.request_id:
            self._by_request[record.request_id] = record

    def remove(self, key: ReceiveKey) -> None:
        old = self._records.pop(key, None)
        if old is not None and old.request_id:
            self._by_request.pop(old.request_id, None)

    def expire(self, now: float) -> list[ReceiveRecord]:
        """Drop the records whose receive timer ran out; return them."""
        gone = [r for r in self._records.values() if r.expires <= now]
        for record in gone:
            self.remove(record.key)
        return gone

    def get_timer(self) -> float | None:
        if not self._records:
            return None
        return min(r.expires for r in self._records.values())
