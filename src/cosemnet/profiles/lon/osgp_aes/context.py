"""Secure channel state (CryptoContext, D.7.2) and the protected ADP PDU (D.8) [design, decision 0044].

Security header of a protected ADP PDU (what :meth:`PeerSuite.protect` puts after the ADP header),
decision 0095 (superseding the header of 0044)::

    domain key (long form, 5 bytes):
        key_id (1)   b7 = 1, b6-0 = its domain_key_id
        counter (4)  frame counter of the sender under that key, big-endian, never repeated
    session key (short form, 2 bytes, big-endian):
        b15 = 0, b14-13 = session_id mod 4, b12-0 = frame counter mod 8192
    ciphertext || CCM tag (8)

The receiver reconstructs the full 32-bit counter of a short header from its replay window (the value
with those low bits nearest its highest authentic counter, as IPsec ESN does) and the session from the
keys it holds with those low bits (at most three, tried in turn). Nonce and AD use the full key id and
counter; a gap of more than 4096 frames fails authentication and is repaired by a new session key.

Nonce (13 bytes, Table D.9): ``kind (1) || sender node id (6) || key_id (1) || counter (4) || 0x00``,
kind 0x00 for ADP data, 0x01 for key-management messages. A sender never repeats a counter under a key
(counters are :class:`~cosemnet.security.counters.InvocationCounter`s, crash-safe on a file store), and
node ids differ between the two ends of a session, so a nonce never repeats under a key.

Associated data (Table D.10, decision 0096): ``ADP header (control .. suite_id) || key_id (1) ||
counter (4) || LNAP subnet, node`` (broadcast: ``0x00, 0xFF``; node numbers are 7 bits so 0xFF is no
node). The LNAP (meter, the server end) address is end-to-end in both directions, also through Annex E
repeaters; the last hop's address is not bound (with repeating the meter sees the agent as the sender).
The two identities of the channel are bound by the nonce (sender id) and the session key (derived from
both), so a frame re-addressed to another meter, reflected to its sender or relayed by a stranger fails
(a stranger's copy of a frame already received is a replay).

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
"""The long form (domain keys), the longest security header."""
SHORT_HEADER_LENGTH: Final = 2
"""The short form (session keys), decision 0095."""
SHORT_COUNTER_BITS: Final = 13
SHORT_KEY_BITS: Final = 2
SHORT_KEY_MASK: Final = (1 << SHORT_KEY_BITS) - 1
MAX_COUNTER: Final = 0xFFFFFFFF
TAG_LENGTH: Final = DEFAULT_CCM_TAG_LENGTH
OVERHEAD: Final = SECURITY_HEADER_LENGTH + TAG_LENGTH
"""The largest overhead (long form); a session-key PDU costs SHORT_OVERHEAD."""
SHORT_OVERHEAD: Final = SHORT_HEADER_LENGTH + TAG_LENGTH
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

    def reconstruct(self, low: int, bits: int = SHORT_COUNTER_BITS) -> int:
        """The full counter whose low ``bits`` are ``low``, nearest the highest authentic one: in
        (highest - 2^(bits-1), highest + 2^(bits-1)], never 0 (decision 0095, as IPsec ESN)."""
        return reconstruct_counter(self.highest, low, bits)


def reconstruct_counter(highest: int, low: int, bits: int = SHORT_COUNTER_BITS) -> int:
    """See :meth:`ReplayWindow.reconstruct`."""
    modulus = 1 << bits
    half = modulus >> 1
    candidate = (highest & ~(modulus - 1)) | (low & (modulus - 1))
    if candidate > highest + half:
        candidate -= modulus
    elif candidate <= highest - half:
        candidate += modulus
    if candidate < 1:
        candidate += modulus
    return candidate


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


def same_session(reported: int, current: int) -> bool:
    """Whether an error message's key id names the session ``current``: the full id, or (a meter that
    holds no session with those bits can only report what the short header said) its low bits."""
    return reported == current or (reported <= SHORT_KEY_MASK and reported == current & SHORT_KEY_MASK)


def short_gap_exceeded(sent: int, reported: int) -> bool:
    """Whether a receiver that reconstructed ``reported`` from a short header is a whole counter period
    (or more) behind the sender's last counter ``sent``: its window cannot follow, a new key is needed."""
    return sent - reported >= 1 << SHORT_COUNTER_BITS


def encode_security_header(key_id: int, counter: int) -> bytes:
    """The security header on the wire: long form for a domain key, short form for a session key."""
    if key_id & DOMAIN_FLAG:
        return _SECURITY_HEADER.pack(key_id, counter)
    value = (key_id & SHORT_KEY_MASK) << SHORT_COUNTER_BITS | counter & ((1 << SHORT_COUNTER_BITS) - 1)
    return value.to_bytes(SHORT_HEADER_LENGTH, "big")


def split_security_header(protected: bytes) -> tuple[int, int, int]:
    """``(key_id, counter, header length)`` as on the wire: for a short header the key id's and the
    counter's low bits only. DecodeError if too short."""
    if protected and protected[0] & DOMAIN_FLAG:
        if len(protected) < SECURITY_HEADER_LENGTH + TAG_LENGTH:
            raise DecodeError("protected PDU shorter than the OSGP overhead", 0, f">= {OVERHEAD} bytes")
        key_id, counter = _SECURITY_HEADER.unpack_from(protected)
        return key_id, counter, SECURITY_HEADER_LENGTH
    if len(protected) < SHORT_OVERHEAD:
        raise DecodeError("protected PDU shorter than the OSGP overhead", 0, f">= {SHORT_OVERHEAD} bytes")
    value = int.from_bytes(protected[:SHORT_HEADER_LENGTH], "big")
    return value >> SHORT_COUNTER_BITS, value & ((1 << SHORT_COUNTER_BITS) - 1), SHORT_HEADER_LENGTH


def nonce(kind: int, sender_id: bytes, key_id: int, counter: int) -> bytes:
    """The 13-byte CCM nonce (Table D.9 [design])."""
    return _NONCE.pack(kind, sender_id, key_id, counter)


def associated_data(pdu_header: bytes, security_header: bytes, server: bytes) -> bytes:
    """The CCM associated data (Table D.10 [design], decision 0096): ADP header, security header (long
    form), the LNAP's (server's) subnet, node (``BROADCAST_DESTINATION`` for a broadcast)."""
    return pdu_header + security_header + server


@dataclass(frozen=True, slots=True)
class Envelope:
    """The fields of a protected ADP payload (what ``decode --osgp-key`` shows)."""

    key_id: int
    """The domain key byte, or the session id (its low 2 bits on the wire, unless ``session_id`` given)."""
    counter: int
    """The full counter (a short header's reconstructed from ``highest`` given to :meth:`parse`)."""
    ciphertext: bytes
    tag: bytes
    short: bool = False

    @property
    def domain(self) -> bool:
        return bool(self.key_id & DOMAIN_FLAG)

    @property
    def security_header(self) -> bytes:
        """The long form: what the associated data holds (decision 0095)."""
        return bytes((self.key_id,)) + self.counter.to_bytes(4, "big")

    @property
    def wire_header(self) -> bytes:
        return encode_security_header(self.key_id, self.counter)

    @classmethod
    def parse(cls, protected: bytes, *, highest: int = 0, session_id: int | None = None) -> Envelope:
        """``highest``: the receiver's highest counter under that key (a short header's counter is
        reconstructed near it); ``session_id``: the full session id a short header's bits stand for."""
        key_id, counter, length = split_security_header(protected)
        short = length == SHORT_HEADER_LENGTH
        if short:
            counter = reconstruct_counter(highest, counter)
            if session_id is not None and session_id & SHORT_KEY_MASK == key_id:
                key_id = session_id
        body = protected[length:]
        return cls(key_id, counter, body[:-TAG_LENGTH], body[-TAG_LENGTH:], short)

    def open(self, key: bytes, sender_id: bytes, pdu_header: bytes, server: bytes) -> bytes:
        """The plaintext; :class:`AuthenticationError` for a wrong key, sender, meter address (``server``:
        the LNAP's subnet, node, see :func:`associated_data`) or any change. A short header whose session
        was not given tries every session id with its low bits."""
        aead = OsgpAead(key, TAG_LENGTH)
        ids = [self.key_id]
        if self.short and self.key_id <= SHORT_KEY_MASK:
            ids = list(range(self.key_id or SHORT_KEY_MASK + 1, 128, SHORT_KEY_MASK + 1))
        for key_id in ids[:-1]:
            try:
                return self._open(aead, key_id, sender_id, pdu_header, server)
            except AuthenticationError:
                continue
        return self._open(aead, ids[-1], sender_id, pdu_header, server)

    def _open(
        self,
        aead: OsgpAead,
        key_id: int,
        sender_id: bytes,
        pdu_header: bytes,
        server: bytes,
    ) -> bytes:
        header = bytes((key_id,)) + self.counter.to_bytes(4, "big")
        ad = associated_data(pdu_header, header, server)
        return aead.decrypt(
            nonce(NONCE_DATA, sender_id, key_id, self.counter), self.ciphertext + self.tag, ad
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
    local_is_server: bool = False
    """This end is the LNAP (meter): the associated data binds ``local_address``, else ``peer_address``
    (the meter's end-to-end address as the NNAP addresses it), decision 0096. A meter's
    ``peer_address`` is the last hop it heard the NNAP from (an agent when repeated): errors go there."""

    @property
    def local_bytes(self) -> bytes:
        return bytes(self.local_address)

    @property
    def peer_bytes(self) -> bytes:
        return bytes(self.peer_address)

    @property
    def server_bytes(self) -> bytes:
        """The LNAP's subnet, node: what the associated data binds (decision 0096)."""
        return self.local_bytes if self.local_is_server else self.peer_bytes

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

    __slots__ = ("_server", "context", "domain", "stats")

    def __init__(self, context: CryptoContext, domain: DomainKeys, stats: SecurityStats) -> None:
        self.context = context
        self.domain = domain
        self.stats = stats
        self._server = context.server_bytes

    def __repr__(self) -> str:
        return f"PeerSuite(peer={self.context.peer_id.hex()})"

    @property
    def suite_id(self) -> int:
        return OSGP_AES_128_PSK_SUITE_ID

    @property
    def overhead(self) -> int:
        return OVERHEAD

    def _bound(self, broadcast: bool) -> bytes:
        """The address the associated data binds (decision 0096)."""
        return BROADCAST_DESTINATION if broadcast else self._server

    def protect(self, pdu_header: bytes, payload: bytes) -> bytes:
        ctx = self.context
        broadcast = len(pdu_header) >= 3 and pdu_header[2] == ALL_STATION
        state = self.domain.send_key() if broadcast else ctx.send_session()
        if state is None or state.counter is None or not state.valid(ctx.now):
            raise AdpSecurityError("no usable key to protect with", 0, "an established secure channel")
        counter = state.counter.next()
        if counter > MAX_COUNTER:
            raise AdpSecurityError("frame counter exhausted", 0, "a renewed key")
        ad = pdu_header + _SECURITY_HEADER.pack(state.key_id, counter) + self._bound(broadcast)
        self.stats.protected += 1
        return encode_security_header(state.key_id, counter) + state.aead.encrypt(
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

    def _domain_key(self, key_id: int, counter: int) -> tuple[KeyState, ReplayWindow]:
        state = self.domain.keys.get(key_id & 0x7F)
        if state is None:
            raise self._fail(Reject.UNKNOWN_KEY, key_id, counter)
        if not state.valid(self.context.now):
            raise self._fail(Reject.EXPIRED_KEY, key_id, counter)
        return state, self.domain.windows.setdefault((self.context.peer_id, key_id & 0x7F), ReplayWindow())

    def _session_keys(self, bits: int, low: int) -> list[tuple[KeyState, ReplayWindow]]:
        """The valid sessions whose id ends in ``bits`` (the current one first), decision 0095."""
        ctx = self.context
        ids = sorted((k for k in ctx.sessions if k & SHORT_KEY_MASK == bits), key=lambda k: k != ctx.current)
        if not ids:
            raise self._fail(Reject.UNKNOWN_KEY, bits, low)
        valid = [ctx.sessions[k] for k in ids if ctx.sessions[k].valid(ctx.now)]
        if not valid:
            raise self._fail(Reject.EXPIRED_KEY, ids[0], low)
        return [(state, ctx.windows.setdefault(state.key_id, ReplayWindow())) for state in valid]

    def authentic(self, pdu_header: bytes, protected: bytes) -> bool:
        """Whether a key of this channel authenticates the PDU; nothing is counted and no window moves
        (how a meter finds the channel of a PDU from a last hop it does not know, decision 0096)."""
        ctx = self.context
        try:
            key_id, counter, length = split_security_header(protected)
        except DecodeError:
            return False
        broadcast = length == SECURITY_HEADER_LENGTH
        if broadcast:
            domain = self.domain.keys.get(key_id & 0x7F)
            pairs = [] if domain is None else [(domain, counter)]
        else:
            pairs = [
                (state, ctx.windows.get(k, ReplayWindow()).reconstruct(counter))
                for k, state in ctx.sessions.items()
                if k & SHORT_KEY_MASK == key_id
            ]
        body = protected[length:]
        for state, full in pairs:
            if not state.valid(ctx.now) or full > MAX_COUNTER:
                continue
            ad = pdu_header + _SECURITY_HEADER.pack(state.key_id, full) + self._bound(broadcast)
            try:
                state.aead.decrypt(_NONCE.pack(NONCE_DATA, ctx.peer_id, state.key_id, full), body, ad)
            except AuthenticationError:
                continue
            return True
        return False

    def _unprotect(self, pdu_header: bytes, protected: bytes) -> bytes:
        ctx = self.context
        try:
            key_id, counter, length = split_security_header(protected)
        except DecodeError:
            self.stats.reject(Reject.MALFORMED)
            raise AdpSecurityError("protected PDU shorter than the OSGP overhead", 0, "OSGP PDU") from None
        broadcast = length == SECURITY_HEADER_LENGTH
        if broadcast != (len(pdu_header) >= 3 and pdu_header[2] == ALL_STATION) or (
            broadcast and counter == 0
        ):
            self.stats.reject(Reject.MALFORMED)
            raise AdpSecurityError("key kind does not match the destination SAP", 0, "OSGP PDU")
        candidates = [self._domain_key(key_id, counter)] if broadcast else self._session_keys(key_id, counter)
        tail = self._bound(broadcast)
        body = protected[length:]
        for state, window in candidates:
            full = counter if broadcast else window.reconstruct(counter)
            if full > MAX_COUNTER:
                continue
            ad = pdu_header + _SECURITY_HEADER.pack(state.key_id, full) + tail
            try:
                plain = state.aead.decrypt(_NONCE.pack(NONCE_DATA, ctx.peer_id, state.key_id, full), body, ad)
            except AuthenticationError:
                continue
            verdict = window.classify(full)
            if verdict is not None:
                raise self._fail(verdict, state.key_id, full, window.floor)
            window.commit(full)
            self.stats.accepted += 1
            return plain
        state, window = candidates[0]
        full = counter if broadcast else window.reconstruct(counter)
        raise self._fail(Reject.AUTHENTICATION, state.key_id, min(full, MAX_COUNTER))


def new_counter_store() -> CounterStore:
    return MemoryCounterStore()


__all__ = [
    "DOMAIN_FLAG",
    "OVERHEAD",
    "SECURITY_HEADER_LENGTH",
    "SHORT_HEADER_LENGTH",
    "SHORT_KEY_MASK",
    "SHORT_OVERHEAD",
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
    "encode_security_header",
    "nonce",
    "reconstruct_counter",
    "same_session",
    "short_gap_exceeded",
    "split_security_header",
]
