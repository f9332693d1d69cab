"""Secure channel state (CryptoContext, D.7.2) and the protected ADP PDU (D.8) [design, decision 0044].

Security header of a protected ADP PDU (what :meth:`PeerSuite.protect` puts after the ADP header)::

    key_id (1)   b7 = 1: domain-unique key (broadcast), b6-0 = its domain_key_id
                 b7 = 0: session key, b6-0 = session_id (1..127)
    counter (4)  frame counter of the sender under that key, big-endian, never repeated
    ciphertext || CCM tag (8)

Nonce (13 bytes, Table D.9): ``kind (1) || sender node id (6) || key_id (1) || counter (4) || 0x00``,
kind 0x00 for ADP data, 0x01 for key-management messages. A sender never repeats a counter under a key
(counters are :class:`~cosemnet.security.counters.InvocationCounter`s, crash-safe on a file store), and
node ids differ between the two ends of a session, so a nonce never repeats under a key.

Associated data (Table D.10): ``ADP header (control .. suite_id) || key_id || counter || source subnet,
node || destination subnet, node`` (broadcast: ``0x00, 0xFF``; node numbers are 7 bits so 0xFF is no
node). The 14908-1 addresses are bound, so a frame re-addressed to or from another node fails.

Receive window (per sender and key): the highest authentic counter and a 64-bit bitmap below it. An
authentic PDU whose counter was seen is a replay; one below the window is a sequence error
(D.17 is sent). Failures are counted per reason in :class:`SecurityStats`.
"""

from __future__ import annotations

import logging
import struct
from collections import Counter, deque
from dataclasses import dataclass, field
from enum import Enum
from typing import Final

from cosemnet.errors import DecodeError
from cosemnet.profiles.lon.adp import OSGP_AES_128_PSK_SUITE_ID, AdpSecurityError
from cosemnet.profiles.lon.sap import ALL_STATION
from cosemnet.security.counters import CounterStore, InvocationCounter, MemoryCounterStore
from cosemnet.security.errors import AuthenticationError, SecurityError
from cosemnet.security.osgp import DEFAULT_CCM_TAG_LENGTH, OsgpAead

log = logging.getLogger(__name__)

SECURITY_HEADER_LENGTH: Final = 5
TAG_LENGTH: Final = DEFAULT_CCM_TAG_LENGTH
OVERHEAD: Final = SECURITY_HEADER_LENGTH + TAG_LENGTH
WINDOW_BITS: Final = 64
DOMAIN_FLAG: Final = 0x80
NONCE_DATA: Final = 0x00
NONCE_KEY_MANAGEMENT: Final = 0x01
BROADCAST_DESTINATION: Final = b"\x00\xff"
MAX_PENDING_FAILURES: Final = 16


class Reject(Enum):
    """Why a protected PDU was rejected (the counted reasons)."""

    MALFORMED = "malformed"
    AUTHENTICATION = "authentication"
    REPLAY = "replay"
    SEQUENCE = "sequence"
    UNKNOWN_KEY = "unknown_key"
    EXPIRED_KEY = "expired_key"
    NO_CHANNEL = "no_channel"


@dataclass(slots=True)
class SecurityStats:
    """Counts of one node's suite (accepted and rejected PDUs, per reason)."""

    protected: int = 0
    accepted: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    handshakes: int = 0
    handshake_failures: int = 0
    errors_sent: Counter[str] = field(default_factory=Counter)
    errors_received: Counter[str] = field(default_factory=Counter)

    def reject(self, reason: Reject) -> None:
        self.rejected[reason.value] += 1


class ReplayWindow:
    """Highest authentic counter and a bitmap of the ``WINDOW_BITS`` counters below it."""

    __slots__ = ("bitmap", "highest")

    def __init__(self) -> None:
        self.highest = 0
        self.bitmap = 0

    def classify(self, counter: int) -> Reject | None:
        """None if ``counter`` is new, else REPLAY (seen) or SEQUENCE (below the window)."""
        if counter > self.highest:
            return None
        offset = self.highest - counter
        if offset >= WINDOW_BITS:
            return Reject.SEQUENCE
        return Reject.REPLAY if self.bitmap >> offset & 1 else None

    def commit(self, counter: int) -> None:
        if counter > self.highest:
            shift = counter - self.highest
            self.bitmap = (
                ((self.bitmap << shift) | 1) & ((1 << WINDOW_BITS) - 1) if shift < WINDOW_BITS else 1
            )
            self.highest = counter
        else:
            self.bitmap |= 1 << (self.highest - counter)

    @property
    def floor(self) -> int:
        """The lowest counter still acceptable."""
        return max(1, self.highest - WINDOW_BITS + 1)


@dataclass(slots=True)
class KeyState:
    """One symmetric key in use: a session key or a domain key, its validity and its send counter."""

    key_id: int
    """The wire key_id byte (domain keys carry DOMAIN_FLAG)."""
    key: bytes = field(repr=False)
    installed: float
    expires: float | None
    aead: OsgpAead = field(init=False, repr=False)
    counter: InvocationCounter | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.aead = OsgpAead(self.key, TAG_LENGTH)

    def valid(self, now: float) -> bool:
        return self.expires is None or now < self.expires


@dataclass(slots=True)
class Failure:
    """A rejected PDU the agent may answer with AuthenticationFailure / SequenceError."""

    reason: Reject
    key_id: int
    counter: int
    expected: int = 0


def counter_for(store: CounterStore, sender_id: bytes, label: str) -> InvocationCounter:
    """A crash-safe send counter named after the sender and the key label (block reservation)."""
    counter = InvocationCounter(store, f"osgp-{sender_id.hex()}-{label}", block_size=256)
    return counter


_NONCE: Final = struct.Struct(">B6sBIx")
_SECURITY_HEADER: Final = struct.Struct(">BI")


def nonce(kind: int, sender_id: bytes, key_id: int, counter: int) -> bytes:
    """The 13-byte CCM nonce (Table D.9 [design])."""
    return _NONCE.pack(kind, sender_id, key_id, counter)


def associated_data(pdu_header: bytes, security_header: bytes, source: bytes, destination: bytes) -> bytes:
    """The CCM associated data (Table D.10 [design]): ADP header, security header, 14908-1 addresses."""
    return pdu_header + security_header + source + destination


@dataclass(frozen=True, slots=True)
class Envelope:
    """The fields of a protected ADP payload (what ``decode --osgp-key`` shows)."""

    key_id: int
    counter: int
    ciphertext: bytes
    tag: bytes

    @property
    def domain(self) -> bool:
        return bool(self.key_id & DOMAIN_FLAG)

    @property
    def security_header(self) -> bytes:
        return bytes((self.key_id,)) + self.counter.to_bytes(4, "big")

    @classmethod
    def parse(cls, protected: bytes) -> Envelope:
        if len(protected) < OVERHEAD:
            raise DecodeError("protected PDU shorter than the OSGP overhead", 0, f">= {OVERHEAD} bytes")
        body = protected[SECURITY_HEADER_LENGTH:]
        return cls(
            protected[0], int.from_bytes(protected[1:5], "big"), body[:-TAG_LENGTH], body[-TAG_LENGTH:]
        )

    def open(
        self, key: bytes, sender_id: bytes, pdu_header: bytes, source: bytes, destination: bytes
    ) -> bytes:
        """The plaintext; :class:`AuthenticationError` for a wrong key, sender, address or any change."""
        ad = associated_data(pdu_header, self.security_header, source, destination)
        aead = OsgpAead(key, TAG_LENGTH)
        return aead.decrypt(
            nonce(NONCE_DATA, sender_id, self.key_id, self.counter), self.ciphertext + self.tag, ad
        )


@dataclass(slots=True)
class DomainKeys:
    """The domain-unique keys a node holds (by domain_key_id), and which one it sends with."""

    keys: dict[int, KeyState] = field(default_factory=dict)
    current: int | None = None
    windows: dict[tuple[bytes, int], ReplayWindow] = field(default_factory=dict)
    """Receive windows per (sender id, key id)."""

    def install(self, state: KeyState, *, make_current: bool) -> None:
        self.keys[state.key_id & 0x7F] = state
        if make_current:
            self.current = state.key_id & 0x7F
        while len(self.keys) > 2:  # keep the current key and its predecessor (roll-over)
            oldest = min(k for k in self.keys if k != self.current)
            del self.keys[oldest]
            for w in [w for w in self.windows if w[1] == oldest]:
                del self.windows[w]

    def send_key(self) -> KeyState | None:
        return None if self.current is None else self.keys.get(self.current)


@dataclass(slots=True)
class CryptoContext:
    """The secure-channel state of one end for one peer (D.7.2)."""

    local_id: bytes
    peer_id: bytes
    local_address: tuple[int, int]
    peer_address: tuple[int, int]
    mac_key: bytes = field(repr=False)
    sessions: dict[int, KeyState] = field(default_factory=dict, repr=False)
    current: int | None = None
    windows: dict[int, ReplayWindow] = field(default_factory=dict, repr=False)
    failures: deque[Failure] = field(default_factory=lambda: deque(maxlen=MAX_PENDING_FAILURES))
    now: float = 0.0

    @property
    def local_bytes(self) -> bytes:
        return bytes(self.local_address)

    @property
    def peer_bytes(self) -> bytes:
        return bytes(self.peer_address)

    def install_session(self, state: KeyState) -> None:
        """Make ``state`` the current session; the previous one stays receivable until it expires
        (so frames in flight during a renewal are not lost)."""
        previous = self.current
        self.sessions[state.key_id] = state
        self.windows[state.key_id] = ReplayWindow()
        self.current = state.key_id
        for key_id in [k for k in self.sessions if k not in (previous, state.key_id)]:
            del self.sessions[key_id]
            self.windows.pop(key_id, None)

    def add_receivable(self, state: KeyState) -> None:
        """Accept ``state`` on receipt without sending with it yet (a session being commissioned)."""
        self.sessions[state.key_id] = state
        self.windows[state.key_id] = ReplayWindow()
        keep = {self.current, state.key_id}
        for key_id in [k for k in self.sessions if k not in keep]:
            if len(self.sessions) <= 3:
                break
            del self.sessions[key_id]
            self.windows.pop(key_id, None)

    def send_session(self) -> KeyState | None:
        state = None if self.current is None else self.sessions.get(self.current)
        if state is None or not state.valid(self.now):
            return None
        return state


class PeerSuite:
    """The OSGP-AES-128-PSK suite between this node and one peer (an :class:`AdpSecuritySuite`).

    ``domain``: the node's domain keys; a PDU whose ADP header addresses the all-station server SAP
    (0x7F) is protected with the current domain key, every other with the peer's current session key.
    ``broadcast``: this suite object is the NNAP's sender for broadcasts (no peer session).
    """

    __slots__ = ("_local", "_peer", "context", "domain", "stats")

    def __init__(self, context: CryptoContext, domain: DomainKeys, stats: SecurityStats) -> None:
        self.context = context
        self.domain = domain
        self.stats = stats
        self._local = context.local_bytes
        self._peer = context.peer_bytes

    def __repr__(self) -> str:
        return f"PeerSuite(peer={self.context.peer_id.hex()})"

    @property
    def suite_id(self) -> int:
        return OSGP_AES_128_PSK_SUITE_ID

    @property
    def overhead(self) -> int:
        return OVERHEAD

    def _destination(self, broadcast: bool, sender: bool) -> bytes:
        if broadcast:
            return BROADCAST_DESTINATION
        return self._peer if sender else self._local

    def protect(self, pdu_header: bytes, payload: bytes) -> bytes:
        ctx = self.context
        broadcast = len(pdu_header) >= 3 and pdu_header[2] == ALL_STATION
        state = self.domain.send_key() if broadcast else ctx.send_session()
        if state is None or state.counter is None or not state.valid(ctx.now):
            raise AdpSecurityError("no usable key to protect with", 0, "an established secure channel")
        counter = state.counter.next()
        header = _SECURITY_HEADER.pack(state.key_id, counter)
        ad = pdu_header + header + self._local + self._destination(broadcast, True)
        self.stats.protected += 1
        return header + state.aead.encrypt(
            _NONCE.pack(NONCE_DATA, ctx.local_id, state.key_id, counter), payload, ad
        )

    def unprotect(self, pdu_header: bytes, protected: bytes) -> bytes:
        try:
            return self._unprotect(pdu_header, protected)
        except AdpSecurityError:
            raise
        except (SecurityError, DecodeError, ValueError) as exc:  # never let anything else escape
            self.stats.reject(Reject.MALFORMED)
            raise AdpSecurityError(f"malformed protected PDU ({type(exc).__name__})", 0, "OSGP PDU") from None

    def _fail(self, reason: Reject, key_id: int, counter: int, expected: int = 0) -> AdpSecurityError:
        self.stats.reject(reason)
        if reason is not Reject.REPLAY:
            self.context.failures.append(Failure(reason, key_id, counter, expected))
        return AdpSecurityError(f"OSGP-AES-128-PSK: {reason.value}", 0, "authentic PDU")

    def _receive_key(self, key_id: int, counter: int) -> tuple[KeyState, ReplayWindow]:
        ctx = self.context
        if key_id & DOMAIN_FLAG:
            state = self.domain.keys.get(key_id & 0x7F)
            if state is None:
                raise self._fail(Reject.UNKNOWN_KEY, key_id, counter)
            window = self.domain.windows.setdefault((ctx.peer_id, key_id & 0x7F), ReplayWindow())
        else:
            found = ctx.sessions.get(key_id)
            if found is None:
                raise self._fail(Reject.UNKNOWN_KEY, key_id, counter)
            state, window = found, ctx.windows.setdefault(key_id, ReplayWindow())
        if not state.valid(ctx.now):
            raise self._fail(Reject.EXPIRED_KEY, key_id, counter)
        return state, window

    def _unprotect(self, pdu_header: bytes, protected: bytes) -> bytes:
        ctx = self.context
        if len(protected) < OVERHEAD:
            self.stats.reject(Reject.MALFORMED)
            raise AdpSecurityError("protected PDU shorter than the OSGP overhead", 0, f">= {OVERHEAD} bytes")
        key_id, counter = _SECURITY_HEADER.unpack_from(protected)
        broadcast = bool(key_id & DOMAIN_FLAG)
        if broadcast != (len(pdu_header) >= 3 and pdu_header[2] == ALL_STATION) or counter == 0:
            self.stats.reject(Reject.MALFORMED)
            raise AdpSecurityError("key kind does not match the destination SAP", 0, "OSGP PDU")
        state, window = self._receive_key(key_id, counter)
        ad = (
            pdu_header + protected[:SECURITY_HEADER_LENGTH] + self._peer + self._destination(broadcast, False)
        )
        try:
            plain = state.aead.decrypt(
                _NONCE.pack(NONCE_DATA, ctx.peer_id, key_id, counter), protected[SECURITY_HEADER_LENGTH:], ad
            )
        except AuthenticationError:
            raise self._fail(Reject.AUTHENTICATION, key_id, counter) from None
        verdict = window.classify(counter)
        if verdict is not None:
            raise self._fail(verdict, key_id, counter, window.floor)
        window.commit(counter)
        self.stats.accepted += 1
        return plain


def new_counter_store() -> CounterStore:
    return MemoryCounterStore()


__all__ = [
    "DOMAIN_FLAG",
    "OVERHEAD",
    "SECURITY_HEADER_LENGTH",
    "TAG_LENGTH",
    "CryptoContext",
    "DomainKeys",
    "Envelope",
    "Failure",
    "KeyState",
    "PeerSuite",
    "Reject",
    "ReplayWindow",
    "SecurityStats",
    "associated_data",
    "counter_for",
    "nonce",
]
