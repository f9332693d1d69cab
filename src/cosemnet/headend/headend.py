"""The mesh head-end, sans-IO (IEC TS 62056-8-20; decision 0027).

:class:`HeadEnd` takes datagrams and time in and gives datagrams out; it never opens a socket, reads
the clock or sleeps. :class:`cosemnet.headend.service.HeadEndService` runs it on one UDP socket.

::

    head_end = HeadEnd(AddressBook("hes.db"))
    head_end.receive_datagram(address, port, data, now)   # registrations, answers
    run = head_end.collect([AttributeRef.parse("3/1-0:1.8.0*255/2")], now)
    head_end.handle_timer(now)                              # starts throttled attempts, timeouts
    for out in head_end.pop_outgoing(): sock.sendto(out.data, (out.address, out.port))
    for event in head_end.pop_events(): ...                 # MeterCompleted, RunFinished, ...
    head_end.get_timer()                                    # when to call handle_timer next

It follows the sans-IO contract of docs/sans-io.md (:class:`cosemnet.sansio.SansIOCore`): every
input may queue datagrams and events; the adapter pops both after every call and asks
:meth:`HeadEnd.get_timer` again. The typed events are in :mod:`cosemnet.headend.events`; the
callbacks (``on_progress``, ``on_registration``, ``on_push``, ``on_broadcast_done``) remain a
convenience for in-process callers (see docs/decisions/0104).

What it does:

* **Registration** -- a Data-Notification carrying address registration or update data (0021) goes
  to :meth:`AddressBook.handle_notification`; the confirmation goes back to the datagram's source.
  A ciphered notification (general-glo, the meter's unicast key) authenticates its sender, whose
  system title must match the one registered. Plain ones are refused unless the lab option
  ``HeadEndConfig.accept_plain_registrations`` is set (default False), and even then only for system
  titles the key store knows, and never over a binding set by an authenticated one (decision 0036).
* **Sessions only after authentication** -- a ciphered datagram from a system title without a
  session is authenticated with a throwaway context first (no state when it fails: unknown title,
  wrong tag, replay); the session table is bounded (``max_sessions``, least recently used idle
  session evicted) and idle sessions expire (``session_idle_timeout``); an evicted association is
  resumed without an AARQ when the meter is next used.
* **Associations keyed by system title** -- one :class:`~cosemnet.client.ClientConnection` per meter
  (HLS-GMAC, general-glo ciphering, keys from a :class:`~cosemnet.headend.keys.KeyStore`), created on
  first use and kept, driven through its typed API (``send_request``, ``receive_apdu``,
  ``pop_events``, ``cancel``, ``resume``); its timers stay unused (the throttle times attempts).
  Requests go to the meter's *current* address, read from the address book when each attempt
  starts: an address update rebinds the association without a new AARQ. Answers are attributed to
  a meter by the system title of their ciphered envelope (so an answer still in flight
  from the old address is accepted), else by source address.
* **Counters** -- our sending invocation counters are :class:`InvocationCounter` objects on
  :meth:`AddressBook.counter_store` (block reservations, one counter per key owner, see keys.py);
  the meters' last received counters are saved with :meth:`AddressBook.save_received_counters` by
  :meth:`HeadEnd.save_state` and restored when a meter's context is created. Associations are saved in
  the :class:`~cosemnet.headend.store.HeadEndStore` and resumed after a restart without an AARQ.
* **Collect** -- :meth:`collect` reads a list of attributes from every registered meter (or the
  given ones): one throttled request per meter (``Throttle``: limits overall, per border router, per
  prefix; timeouts; retries with backoff), each attempt = association if needed, then one GET
  (GET-with-list for several attributes). Results go to the ``readings`` table.
* **Group requests** -- :meth:`broadcast` sends one GET to the multicast group of a group id on wPort
  127, protected with the broadcast key (general-glo-ciphering, security control bits 4, 5, 6); the
  :class:`ResponseCollector` reports answered / missing / late / unexpected / duplicates.

Design choices (the TS is silent; decision 0027):

* members answer a group request with a unicast GET response, general-glo-ciphered with their own
  unicast key, **sent from wPort 127** (the wPort the request was addressed to) to our client wPort:
  the source wPort tells a group answer from the answer of a unicast request;
* an exact repeat of a group answer's datagram counts as a duplicate (it would otherwise fail the
  replay check);
* a timed-out attempt leaves the association in place (only the exchange is abandoned); a timed-out
  association attempt is aborted and the next attempt sends a fresh AARQ;
* a GET response whose invoke id (read from the first plaintext bytes, one AES block of keystream)
  is not the one of the GET in flight is a late answer to an earlier attempt and is dropped before
  it reaches the association (which would otherwise abandon the exchange);
* an exception-response (the meter no longer knows the association) or ``reassociate_after`` (3)
  silent attempts in a row drop our side of the association: the next attempt sends a fresh AARQ;
* timers and concurrency adapt to the network (the throttle's adaptive mode, decision 0080); each
  round trip of an attempt (AARQ, HLS pass 3, GET, GBT blocks) re-arms its timer;
* readings are committed as they arrive, in batches (``store_batch_rows`` / ``store_batch_interval``),
  once per (run, meter, attribute); :meth:`HeadEnd.stop_collect` / :meth:`HeadEnd.abandon_collect`
  end a run early and ``collect(..., resume=RUN)`` continues it (decision 0081).
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import logging
import random
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal

from cosemnet.client.connection import (
    DEFAULT_LN_CONFORMANCE,
    ClientConfig,
    ClientConnection,
    ConnectionState,
)
from cosemnet.client.errors import AccessError, ClientError
from cosemnet.client.events import (
    ActionCompleted,
    AssociationEstablished,
    AssociationInfo,
    FailureKind,
    GetCompleted,
    GetWithListCompleted,
    ServiceFailed,
)
from cosemnet.client.requests import Associate, Get, GetWithList, Release, Request, RequestKind
from cosemnet.codec.apdu import decode_apdu
from cosemnet.codec.initiate import Conformance
from cosemnet.codec.types import DataValue
from cosemnet.codec.wrapper import WrapperFrame
from cosemnet.codec.xdlms import (
    ActionResponseNormal,
    CosemAttributeDescriptor,
    DataAccessResult,
    GetRequestNormal,
    GetResponseNormal,
    SetResponseNormal,
)
from cosemnet.codec.xdlms.notification import DataNotification, EventNotificationRequest
from cosemnet.errors import DecodeError, EncodeError
from cosemnet.headend.counterlearn import PUBLIC_CLIENT_WPORT, CounterProbe
from cosemnet.headend.events import (
    FailReason,
    GroupRequestClosed,
    HeadEndEvent,
    MeterCompleted,
    MeterFailed,
    RegistrationEvent,
    RunFinished,
)
from cosemnet.headend.keys import DEFAULT_HEAD_END_SYSTEM_TITLE, KeyStore, StaticKeyStore
from cosemnet.headend.operations import (
    Operation,
    group_outcome,
    record_run,
    unicast_outcomes,
)
from cosemnet.headend.pushes import Liveness, PushEvent, push_event
from cosemnet.headend.runs import AccessResult, AttributeRef, BroadcastRun, CollectRun, MeterResult
from cosemnet.headend.store import HeadEndStore, ReadingRow, StoredAssociation
from cosemnet.profiles.mesh.address_book import AddressBook, AddressBookEntry
from cosemnet.profiles.mesh.groups import MulticastScheme, group_request_target
from cosemnet.profiles.mesh.ports import MeshPortConfig
from cosemnet.profiles.mesh.registration import DEFAULT_OBJECTS, RegistrationObjects
from cosemnet.profiles.mesh.response_window import (
    AddResult,
    CollectionReport,
    ResponseCollector,
    ResponseWindow,
)
from cosemnet.profiles.mesh.throttle import (
    Completion,
    Throttle,
    ThrottleConfig,
    ThrottledRequest,
    ThrottleEventKind,
)
from cosemnet.sansio import earliest
from cosemnet.security.ciphering import Role, SecurityContext, decipher_apdu, protect_apdu, unprotect_apdu
from cosemnet.security.control import SecurityPolicy
from cosemnet.security.counters import CounterSource, InvocationCounter, counter_name
from cosemnet.security.envelope import EnvelopeError, read_envelope
from cosemnet.security.errors import SecurityError
from cosemnet.security.hls import Mechanism
from cosemnet.security.keys import KeyRole, KeySet
from cosemnet.security.suite import SecuritySuite

__all__ = [
    "AttributeRef",
    "BroadcastRun",
    "CollectRun",
    "HeadEnd",
    "HeadEndConfig",
    "MeterResult",
    "Outgoing",
    "RegistrationEvent",
]

_POLICY: Final = (
    SecurityPolicy.AUTHENTICATED_REQUEST
    | SecurityPolicy.ENCRYPTED_REQUEST
    | SecurityPolicy.AUTHENTICATED_RESPONSE
    | SecurityPolicy.ENCRYPTED_RESPONSE
)
MESH_CONFORMANCE: Final = (
    DEFAULT_LN_CONFORMANCE
    & ~Conformance.BLOCK_TRANSFER_WITH_GET_OR_READ
    & ~Conformance.BLOCK_TRANSFER_WITH_SET_OR_WRITE
    & ~Conformance.BLOCK_TRANSFER_WITH_ACTION
) | Conformance.GENERAL_BLOCK_TRANSFER
"""What the head-end proposes: the usual LN services, with general-block-transfer instead of the
service-specific block transfers (a datagram-sized PDU makes GBT the block mechanism of the profile)."""
_GENERAL_GLO: Final = 0xDB
_DATA_NOTIFICATION: Final = 0x0F
_NOTIFICATIONS: Final = (b"\x0f", b"\xc2")
"""data-notification, event-notification (the plaintext tag of a general-glo APDU)."""
_GET_RESPONSE: Final = 0xC4
_AARE: Final = 0x61
_EXCEPTION_RESPONSE: Final = 0xD8
_GENERAL_BLOCK_TRANSFER: Final = 0xE0
_EXPECTED_RESPONSE: Final[dict[RequestKind | None, int]] = {
    RequestKind.GET: _GET_RESPONSE,
    RequestKind.GET_LIST: _GET_RESPONSE,
    RequestKind.SET: 0xC5,
    RequestKind.SET_BLOCKS: 0xC5,
    RequestKind.SET_LIST: 0xC5,
    RequestKind.ACTION: 0xC7,
    RequestKind.ACTION_BLOCKS: 0xC7,
    RequestKind.ACTION_LIST: 0xC7,
    RequestKind.HLS: 0xC7,
}
"""GET, SET, ACTION requests (HLS pass 3 is an ACTION): the plain tag of their answer (else an
exception-response or GBT)."""

logger = logging.getLogger(__name__)


@functools.lru_cache(maxsize=65536)
def _normalise(address: str) -> str:
    """The compressed spelling of an IPv6 address text (zone id dropped); other text unchanged."""
    try:
        return ipaddress.IPv6Address(address.split("%", 1)[0]).compressed
    except ValueError:
        return address


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A datagram to send: one wrapper frame to ``(address, port)``."""

    address: str
    port: int
    data: bytes


@dataclass(slots=True)
class HeadEndConfig:
    system_title: bytes = DEFAULT_HEAD_END_SYSTEM_TITLE
    ports: MeshPortConfig = field(default_factory=MeshPortConfig)
    throttle: ThrottleConfig = field(default_factory=ThrottleConfig)
    objects: RegistrationObjects = DEFAULT_OBJECTS
    scheme: MulticastScheme = field(default_factory=MulticastScheme)
    accept_plain_registrations: bool = False
    """[lab option] accept plain (unauthenticated) registrations and address updates, for system
    titles the key store knows; a plain message still never moves a binding set by an authenticated
    one (decision 0036). Default False: only general-glo-ciphered registrations are accepted."""
    max_sessions: int = 100_000
    """Sessions (one per authenticated meter) kept in memory; beyond it the least recently used idle
    session is evicted (decision 0036)."""
    session_idle_timeout: float | None = 3600.0
    """Seconds after which an idle session is evicted (None: never). Its association is resumed
    without an AARQ when the meter is next used."""
    periodic_interval: int = 0
    """Sent in confirmations: seconds between periodic re-registrations (0 = none)."""
    counter_block_size: int = 4096
    max_receive_pdu_size: int = 0
    """Proposed in the AARQ; 0 = the datagram budget of ``ports`` (0020)."""
    security_suite: SecuritySuite = SecuritySuite.SUITE_0
    release_on_exit: bool = False
    """:meth:`HeadEndService.close` sends a protected RLRQ to every associated meter first (issue 12);
    default False: associations are long-lived and resumed by the next run (decision 0027)."""
    reassociate_after: int = 3
    """Silent attempts in a row after which our side of a meter's association is dropped and the next
    attempt associates again (0027 used 2; 3 keeps a lossy mesh from re-associating often, 0080)."""
    store_batch_rows: int = 200
    """Readings are committed as they arrive, in batches of this many rows ... (decision 0081)"""
    store_batch_interval: float = 1.0
    """... or after this many seconds, whichever comes first: a crash loses at most one batch."""
    learn_counters: Literal["never", "on-refusal", "first-contact"] = "on-refusal"
    """When to read a meter's lowest acceptable invocation counter in a public association before the
    AARQ (issue 12 item 8, docs/decisions/0126): after the meter refused an AARQ while we had no
    counter state for it (default), before the first AARQ to every meter without state, or never."""
    public_client_wport: int = PUBLIC_CLIENT_WPORT


@dataclass(slots=True, eq=False)
class _Job:
    run: CollectRun
    key: tuple[int, bytes]
    attempt: int = 0


@dataclass(slots=True, eq=False)
class _Session:
    system_title: bytes
    conn: ClientConnection
    ek: bytes | None
    address: str = ""
    port: int = 0
    wport: int = 1
    job: _Job | None = None
    timeouts: int = 0
    """Consecutive timed-out attempts."""
    expect_invoke_id: int | None = None
    """Invoke id of the GET in flight: a GET response with another one is a late answer, dropped."""
    expect_tag: int | None = None
    """Plaintext tag of the answer expected (GET/SET/ACTION response): a ciphered answer of another
    kind is a late or repeated answer to an earlier exchange (e.g. HLS pass 4 while the GET is in
    flight), dropped before it reaches the association (decision 0080)."""
    last_used: float = 0.0
    bound: AddressBookEntry | None = None
    """The address book entry the session was last bound to (entries are immutable)."""
    learn: bool = False
    """Read the meter's invocation counter object before the next AARQ (decision 0126)."""
    learned: bool = False
    probe: CounterProbe | None = None


class _SessionsFull(Exception):
    """Every session slot holds an exchange in progress (``HeadEndConfig.max_sessions``)."""


class HeadEnd:
    """Sans-IO head-end core (see the module docstring)."""

    def __init__(
        self,
        book: AddressBook,
        *,
        keys: KeyStore | None = None,
        config: HeadEndConfig | None = None,
        store: HeadEndStore | None = None,
        rng: random.Random | None = None,
        counters: Callable[[bytes, str], CounterSource] | None = None,
    ) -> None:
        self.book = book
        self._counter_source = counters
        """(counter owner, key label) -> our sending counter; None: blocks of the book's counter
        store. Collector workers give blocks from the shared storage (docs/decisions/0120)."""
        if keys is None:  # a lab default: say so (the hes commands refuse to start without keys)
            logger.warning("head-end without a key store: using the published test keys (lab only)")
        self.keys: KeyStore = keys if keys is not None else StaticKeyStore()
        self.config = config if config is not None else HeadEndConfig()
        self.store = store if store is not None else HeadEndStore(book.path if book.path else ":memory:")
        self.rng = rng if rng is not None else random.Random()
        self.throttle = Throttle(self.config.throttle, self.rng)
        self.collector = ResponseCollector()
        self.registrations: deque[RegistrationEvent] = deque(maxlen=10_000)
        """Recent registrations (for ``hes listen``)."""
        self.security_events = 0
        """Datagrams dropped for security reasons (authentication, replay, unknown key)."""
        self.dropped = 0
        """Datagrams dropped otherwise (undecodable, unknown sender, unexpected)."""
        self.aarq_sent = 0
        self._out: list[Outgoing] = []
        self._sessions: OrderedDict[bytes, _Session] = OrderedDict()
        """Least recently used first (eviction order)."""
        self.sessions_evicted = 0
        self._bindings: dict[bytes, AddressBookEntry] = {}
        """Bindings read at the start of a collect, updated by the registrations handled here (one
        head-end process owns a book's counters, so no other process changes them meanwhile)."""
        self._by_address: dict[tuple[str, int], bytes] = {}
        self._entries: list[AddressBookEntry] | None = None
        self._entries_stamp: tuple[int, int] = (-1, -1)
        """(address, UDP port) -> system title, for answers without a ciphered envelope (AARE)."""
        self._counters: dict[tuple[bytes, str], CounterSource] = {}
        self._fresh_counters: set[tuple[bytes, str]] = set()
        self._counter_store = book.counter_store()
        self._received = book.load_received_counters()
        self._resumable = self.store.associations()
        self._runs: dict[int, CollectRun] = {}
        self._pending_associations: list[StoredAssociation] = []
        self._pending_rows: list[ReadingRow] = []
        self._batch_started: float | None = None
        """When the oldest row not yet committed arrived (decision 0081)."""
        self._broadcasts: dict[int, BroadcastRun] = {}
        self._closed_broadcasts: dict[int, BroadcastRun] = {}
        self._broadcast_seen: OrderedDict[bytes, tuple[bytes, int]] = OrderedDict()
        self._broadcast_context: SecurityContext | None = None
        self._next_broadcast_id = 0
        self.on_registration: Callable[[RegistrationEvent], None] | None = None
        self.on_broadcast_done: Callable[[BroadcastRun], None] | None = None
        self.pushes: deque[PushEvent] = deque(maxlen=10_000)
        """Recent authenticated pushes other than registrations (in ``push_events``; ``hes listen``)."""
        self.on_push: Callable[[PushEvent], None] | None = None
        self.liveness = Liveness()
        self._events: list[HeadEndEvent] = []
        self._wake: float | None = None
        """Set when an input may have made a throttled attempt startable (a slot freed, a run
        added): :meth:`get_timer` then asks for :meth:`handle_timer` at once."""

    # -- the sans-IO contract (docs/sans-io.md) --------------------------------------------------

    def pop_outgoing(self) -> list[Outgoing]:
        """The datagrams to send, oldest first; the queue is empty afterwards."""
        out, self._out = self._out, []
        return out

    def pop_events(self) -> list[HeadEndEvent]:
        """The typed events since the last call, oldest first (see :mod:`cosemnet.headend.events`)."""
        events, self._events = self._events, []
        return events

    def _send(self, address: str, port: int, source_wport: int, destination_wport: int, apdu: bytes) -> None:
        self._out.append(
            Outgoing(address, port, WrapperFrame(source_wport, destination_wport, apdu).encode())
        )

    def _send_to(self, session: _Session, apdu: bytes) -> None:
        # the answer expected: GET/SET/ACTION request -> response; anything else unchecked. Read from
        # the request in progress, not from the ciphered APDU (decision 0098)
        conn = session.conn
        expect = _EXPECTED_RESPONSE.get(conn.request_kind) if apdu[:1] == b"\xdb" else None
        session.expect_tag = expect
        session.expect_invoke_id = conn.pending_invoke_id if expect == _GET_RESPONSE else None
        self._send(session.address, session.port, self.config.ports.client_wport, session.wport, apdu)

    def _send_queued(self, session: _Session) -> None:
        """Send what the session's client core queued (the first APDU of a request, a GBT block)."""
        for apdu in session.conn.pop_outgoing():
            self._send_to(session, apdu)

    def _counter(self, owner: bytes, label: str) -> CounterSource:
        found = self._counters.get((owner, label))
        if found is None and self._counter_source is not None:
            found = self._counters[(owner, label)] = self._counter_source(owner, label)
        if found is None:
            name = counter_name(owner, label)
            if self._counter_store.load(name) is None:
                self._fresh_counters.add((owner, label))  # no state: decision 0126
            found = InvocationCounter(self._counter_store, name, block_size=self.config.counter_block_size)
            self._counters[(owner, label)] = found
        return found

    @property
    def session_count(self) -> int:
        """Open sessions (associations, established or being set up)."""
        return len(self._sessions)

    def is_associated(self, system_title: bytes) -> bool:
        """True when an association with ``system_title`` is established."""
        session = self._sessions.get(bytes(system_title))
        return session is not None and session.conn.is_associated

    def _session(self, title: bytes, now: float | None = None) -> _Session:
        """The session of ``title``, created when missing: only call this for a meter that
        authenticated (or that the operator's address book names). KeyError: no keys;
        _SessionsFull: no slot."""
        session = self._sessions.get(title)
        if session is not None:
            self._sessions.move_to_end(title)
            if now is not None:
                session.last_used = max(session.last_used, now)
            return session
        meter_keys = self.keys.keys_for(title)
        self._make_room()
        cfg = self.config
        conn = ClientConnection(
            ClientConfig(
                client_sap=cfg.ports.client_wport,
                server_sap=cfg.ports.server_wport,
                mechanism=Mechanism.HLS_GMAC,
                keys=KeySet(
                    ek=meter_keys.keys.ek, ak=meter_keys.keys.ak, broadcast_key=meter_keys.keys.broadcast_key
                ),
                system_title=cfg.system_title,
                server_system_title=title,
                security_suite=cfg.security_suite,
                security_policy=_POLICY,
                ciphering="general-glo",
                invocation_counter=self._counter(meter_keys.counter_owner, "guek"),
                max_receive_pdu_size=cfg.max_receive_pdu_size or cfg.ports.apdu_budget,
                # IEC TS 62056-8-20: what does not fit one datagram travels in general-block-transfer,
                # so the service-specific block transfers are not proposed (decision 0027).
                proposed_conformance=MESH_CONFORMANCE,
                use_general_block_transfer=True,
            )
        )
        security = conn.security
        assert security is not None
        for role in (KeyRole.GLOBAL_UNICAST, KeyRole.GLOBAL_BROADCAST):
            last = self._received.get((title, role))
            if last is not None:
                security.replay_guard.restore({(title, role): last})
        stored = self._resumable.pop(title, None)
        if stored is not None:
            # resume the association the meter still holds (decision 0027): no AARQ
            conn.resume(
                AssociationInfo(
                    stored.conformance,
                    stored.server_max_pdu_size,
                    stored.vaa_name,
                    stored.server_system_title,
                    Mechanism.HLS_GMAC,
                    True,
                ),
                now,
            )
        session = _Session(title, conn, meter_keys.keys.ek, last_used=now or 0.0)
        if cfg.learn_counters == "first-contact" and stored is None:
            # no state: our counter for this key was never persisted before this process
            session.learn = (meter_keys.counter_owner, "guek") in self._fresh_counters
        self._sessions[title] = session
        return session

    def _make_room(self) -> None:
        if len(self._sessions) < max(1, self.config.max_sessions):
            return
        for session in self._sessions.values():  # least recently used first
            if session.job is None:
                self._evict(session)
                return
        raise _SessionsFull()

    def _evict(self, session: _Session) -> None:
        """Forget a session (cap or idle expiry), keeping what a later session needs: the replay
        windows and, for an established association, what resumes it without an AARQ."""
        title = session.system_title
        conn = session.conn
        if conn.security is not None:
            for key, value in conn.security.replay_guard.windows.items():
                if isinstance(key, tuple) and len(key) == 2 and isinstance(key[1], KeyRole):
                    self._received[(bytes(key[0]), key[1])] = value
        info = conn.info
        if conn.is_associated and info is not None:
            self._resumable[title] = StoredAssociation(
                title,
                info.negotiated_conformance,
                info.server_max_receive_pdu_size,
                info.vaa_name,
                info.server_system_title,
                session.last_used,
            )
        if self._by_address.get((session.address, session.port)) == title:
            del self._by_address[(session.address, session.port)]
        self._counters.pop((title, "guek"), None)  # per-meter key: reloaded above its reserved ceiling
        del self._sessions[title]
        self.sessions_evicted += 1

    def _expire_sessions(self, now: float) -> None:
        timeout = self.config.session_idle_timeout
        if timeout is None:
            return
        limit = now - timeout
        expired: list[_Session] = []
        for session in self._sessions.values():  # no copy of the whole table per poll
            if session.last_used > limit:
                break  # the rest were used more recently
            if session.job is None:
                expired.append(session)
        for session in expired:
            self._evict(session)

    def _verify_new(self, title: bytes, apdu: bytes) -> tuple[SecurityContext, bytes] | None:
        """Authenticate a ciphered APDU from a system title without a session, with a throwaway
        context: nothing is kept when it fails (unknown title, wrong tag, replayed counter)."""
        try:
            keys = self.keys.keys_for(title).keys
        except KeyError:
            self.security_events += 1
            return None
        try:
            context = SecurityContext(
                suite=self.config.security_suite,
                policy=_POLICY,
                system_title=self.config.system_title,
                peer_system_title=title,
                keys=KeySet(ek=keys.ek, ak=keys.ak, broadcast_key=keys.broadcast_key),
                role=Role.CLIENT,
            )
            for role in (KeyRole.GLOBAL_UNICAST, KeyRole.GLOBAL_BROADCAST):
                last = self._received.get((title, role))
                if last is not None:
                    context.replay_guard.restore({(title, role): last})
            plain, _, _ = unprotect_apdu(apdu, context)
        except (SecurityError, DecodeError, EncodeError):
            self.security_events += 1
            return None
        return context, plain

    def _adopt(self, title: bytes, context: SecurityContext, now: float) -> _Session | None:
        """The session of a meter that just authenticated, its replay windows advanced past the
        APDU verified with ``context``."""
        try:
            session = self._session(title, now)
        except (KeyError, _SessionsFull):
            self.security_events += 1
            return None
        security = session.conn.security
        assert security is not None
        security.replay_guard.restore(context.replay_guard.snapshot())
        return session

    def _bind(self, session: _Session, entry: AddressBookEntry) -> None:
        bound = session.bound
        if bound is entry or (bound is not None and bound.binding == entry.binding):
            session.bound = entry
            return  # bound already: no address normalisation per attempt
        address = entry.primary_address.compressed
        port = entry.binding.udp_port
        if session.address != address or session.port != port:
            old = (session.address, session.port)
            if self._by_address.get(old) == session.system_title:
                del self._by_address[old]
            self._by_address[(address, port)] = session.system_title
        session.address = address
        session.port = port
        session.wport = entry.binding.wport
        session.bound = entry

    def save_state(self) -> None:
        """Persist every meter's last received invocation counter (call periodically and at exit)."""
        windows: dict[object, int] = {}
        for session in self._sessions.values():
            if session.conn.security is not None:
                windows.update(session.conn.security.replay_guard.windows)
        self.book.save_received_counters(windows)
        self.liveness.flush(self.book)

    def release_associations(self, now: float) -> int:
        """Send a protected RLRQ (COSEM-RELEASE) to every associated meter without an exchange in
        progress and forget the association (stored ones too); returns how many. The RLREs are not
        awaited (a lost one leaves the meter to expire the association itself)."""
        released = 0
        for session in list(self._sessions.values()):
            if session.job is not None or not session.conn.is_associated or not session.address:
                continue
            try:
                session.conn.send_request(Release(), now)
            except ClientError:
                continue
            self._send_queued(session)
            self._drop_association(session)
            released += 1
        return released

    # -- learning a meter's invocation counter (issue 12 item 8, decision 0126) -------------------

    def _start_probe(self, session: _Session, now: float) -> None:
        """Read the counter object in a public association instead of sending the AARQ now."""
        cfg = self.config
        probe = CounterProbe(
            session.wport,
            client_sap=cfg.public_client_wport,
            max_receive_pdu_size=cfg.max_receive_pdu_size or cfg.ports.apdu_budget,
        )
        session.probe = probe
        for apdu in probe.start(now):
            self._send(session.address, session.port, cfg.public_client_wport, session.wport, apdu)

    def _on_probe_answer(self, source: str, port: int, apdu: bytes, now: float) -> None:
        """An answer in a counter probe's public association: the next APDU, or, once the counter is
        known, our sending counter moved above the meter's floor and the AARQ sent."""
        title = self._by_address.get((source, port))
        session = self._sessions.get(title) if title is not None else None
        probe = session.probe if session is not None else None
        if session is None or probe is None:
            self.dropped += 1
            return
        for out in probe.receive(apdu, now):
            self._send(session.address, session.port, self.config.public_client_wport, session.wport, out)
        if not probe.done:
            return
        session.probe = None
        session.learn = False
        session.learned = True
        if probe.value is not None:
            counter = self._counter(self.keys.keys_for(session.system_title).counter_owner, "guek")
            # a jump forward, reserved durably; a worker's counter blocks come from the shared storage
            # (decision 0120), which hands out values above every block before: nothing to move there
            if isinstance(counter, InvocationCounter) and probe.value > counter.value:
                counter.reset_for_new_key(probe.value)
        job = session.job
        if job is None or session.conn.busy or session.conn.is_associated:
            return
        try:
            session.conn.send_request(Associate(), now)
        except (ClientError, SecurityError, EncodeError) as exc:
            self.throttle.cancel(job.key)
            session.job = None
            self._fail(job, str(exc), now, FailReason.REQUEST_NOT_BUILT)
            return
        self.aarq_sent += 1
        self.throttle.progress(job.key, now)
        self._send_queued(session)

    def refresh_keys(self, system_titles: Iterable[bytes]) -> None:
        """Take the key store's broadcast keys again (a broadcast key rotation, docs/decisions/0125):
        the one group requests are protected with, and the one each of ``system_titles`` answers them
        with (in its session, when it has one)."""
        self._broadcast_context = None
        for title in system_titles:
            session = self._sessions.get(bytes(title))
            if session is not None and session.conn.security is not None:
                key = self.keys.keys_for(bytes(title)).keys.broadcast_key
                session.conn.security.keys.broadcast_key = key

    def retire(self, system_title: bytes, now: float) -> bool:
        """Retire a meter (issue 12 item 5): release its association with a protected RLRQ (a
        stored one is resumed for it), then forget its session, its stored association and its
        address book binding. The RLRE is not awaited. Returns whether the meter was known."""
        title = bytes(system_title)
        entry = self.book.lookup(title)
        session = self._sessions.get(title)
        if session is None and title in self._resumable and entry is not None:
            with contextlib.suppress(KeyError, _SessionsFull):
                session = self._session(title, now)
        if session is not None:
            if entry is not None:
                self._bind(session, entry)
            if session.job is not None:
                self._abandon(session)
            if session.conn.is_associated and session.address:
                with contextlib.suppress(ClientError):
                    session.conn.send_request(Release(), now)
                    self._send_queued(session)
            self._drop_association(session)
            self._evict(session)  # keeps the replay windows (counted in sessions_evicted)
        self._resumable.pop(title, None)
        self.store.forget_association(title)
        self._bindings.pop(title, None)
        return self.book.forget(title) or session is not None

    def close(self) -> None:
        """Flush readings, save counters, close the store (the address book stays open)."""
        self._flush_rows()
        self.save_state()
        self.store.close()

    # -- receiving -------------------------------------------------------------------------------

    def receive_datagram(self, address: str, port: int, data: bytes, now: float) -> None:
        """One datagram from ``(address, port)`` (``address`` as text, any IPv6 spelling)."""
        try:
            frame = WrapperFrame.decode(data)
        except DecodeError:
            self.dropped += 1
            return
        apdu = frame.apdu
        if not apdu:
            self.dropped += 1
            return
        source = _normalise(address)
        if frame.destination_wport == self.config.public_client_wport:
            self._on_probe_answer(source, port, apdu, now)
            return
        title: bytes | None = None
        broadcast_key = False
        if apdu[0] == _GENERAL_GLO:
            try:  # route on the cleartext header; deciphered once below (decision 0098)
                envelope = read_envelope(apdu)
            except EnvelopeError:
                self.dropped += 1
                return
            title = envelope.system_title
            broadcast_key = envelope.role is KeyRole.GLOBAL_BROADCAST
        elif apdu[0] == _DATA_NOTIFICATION:
            self._on_notification(None, apdu, source, port, frame, now)
            return
        else:
            title = self._by_address.get((source, port))
        if title is None:
            self.dropped += 1
            return
        if frame.source_wport == self.config.ports.group_wport or broadcast_key:
            self._on_group_answer(title, apdu, data, now)
            return
        session = self._sessions.get(title)
        if session is None:
            if apdu[0] == _GENERAL_GLO:
                self._from_new_title(title, apdu, source, port, frame, now)
            else:
                self.dropped += 1
            return
        self._sessions.move_to_end(title)
        session.last_used = max(session.last_used, now)
        plain: bytes | None = None
        if apdu[0] == _GENERAL_GLO:
            plain = self._decipher(session, apdu)
            if plain is None:
                return
            if plain[:1] in _NOTIFICATIONS:
                self._on_notification(session, apdu, source, port, frame, now, plain=plain)
                return
        if not session.conn.busy or session.job is None:
            self.dropped += 1  # duplicate or late answer with nothing in progress
            return
        if self._stale(session, apdu, plain):
            self.dropped += 1
            return
        self._on_answer(session, apdu, now, plain)

    def _decipher(self, session: _Session, apdu: bytes) -> bytes | None:
        """The one verification and decryption of a general-glo APDU from a session's meter, with
        the association's own context (its replay window); None (counted) when it fails."""
        security = session.conn.security
        if security is None:
            self.dropped += 1
            return None
        try:
            return decipher_apdu(apdu, security)
        except (SecurityError, DecodeError):
            self.security_events += 1
            return None

    def _stale(self, session: _Session, apdu: bytes, plain: bytes | None) -> bool:
        """A late, repeated or reordered answer that is not for the exchange in flight (decision 0080):
        an AARE after the one we used, anything but an AARE while associating, a ciphered answer of
        another kind than expected, a GET response with another invoke id."""
        associating = session.conn.request_kind is RequestKind.ASSOCIATE  # the AARQ is in flight
        if apdu[0] == _AARE:
            return not associating
        if associating:
            return apdu[0] != _EXCEPTION_RESPONSE
        if plain is None or session.expect_tag is None:
            return False
        head = plain[:3]
        if len(head) < 3 or head[0] in (_EXCEPTION_RESPONSE, _GENERAL_BLOCK_TRANSFER):
            return False
        if head[0] != session.expect_tag:
            return True
        return session.expect_invoke_id is not None and head[2] & 0x0F != session.expect_invoke_id

    def _from_new_title(
        self, title: bytes, apdu: bytes, source: str, port: int, frame: WrapperFrame, now: float
    ) -> None:
        """A general-glo APDU from a system title without a session: only an authenticated
        registration creates one (decision 0036); anything else costs no state."""
        verified = self._verify_new(title, apdu)
        if verified is None:
            return
        context, plain = verified
        if plain[:1] not in _NOTIFICATIONS:
            self.dropped += 1  # an answer with nothing in progress
            return
        session = self._adopt(title, context, now)
        if session is not None:
            self._on_notification(session, apdu, source, port, frame, now, plain=plain)

    def _on_notification(
        self,
        session: _Session | None,
        apdu: bytes,
        source: str,
        port: int,
        frame: WrapperFrame,
        now: float,
        *,
        plain: bytes | None = None,
    ) -> None:
        sender: bytes | None = None
        if session is not None:
            security = session.conn.security
            assert security is not None
            if plain is None:
                try:
                    plain, _, _ = unprotect_apdu(apdu, security)
                except (SecurityError, DecodeError):
                    self.security_events += 1
                    return
            sender = session.system_title
        elif not self.config.accept_plain_registrations:
            self.security_events += 1  # plain registrations: lab option only (decision 0036)
            return
        else:
            plain = apdu
        try:
            notification = decode_apdu(plain)
            if sender is not None:
                self.liveness.seen(sender, now)
                if isinstance(notification, EventNotificationRequest):
                    self._on_push(sender, notification, source, now)
                    return
            if not isinstance(notification, DataNotification):
                self.dropped += 1
                return
            if sender is None and not self._known_plain_sender(notification):
                self.security_events += 1
                return
            answer = self.book.handle_notification(
                notification,
                now,
                sender_system_title=sender,
                objects=self.config.objects,
                periodic_interval=self.config.periodic_interval,
            )
        except DecodeError:
            self.dropped += 1
            return
        if answer is None:
            if sender is None:
                self.dropped += 1  # another push, not authenticated: refused (decision 0036)
            else:
                self._on_push(sender, notification, source, now)
            return
        result, confirmation = answer
        title = bytes(self.config.objects.decode_body(confirmation.notification_body).system_title)  # type: ignore[union-attr]
        reply = confirmation.encode()
        if session is not None and session.conn.security is not None:
            try:
                reply = protect_apdu(reply, session.conn.security, "general-glo")
            except (SecurityError, EncodeError):
                self.security_events += 1
                return
        self._send(source, port, frame.destination_wport, frame.source_wport, reply)
        if result is not None:
            entry = self.book.lookup(title)
            if entry is not None:
                self._bindings[title] = entry
            existing = self._sessions.get(title)
            if entry is not None and existing is not None:
                self._bind(existing, entry)
        event = RegistrationEvent(title, result, source, now)
        self.registrations.append(event)
        self._events.append(event)
        if self.on_registration is not None:
            self.on_registration(event)

    def _on_push(self, title: bytes, apdu: object, address: str, now: float) -> None:
        event = push_event(title, apdu, address, now)
        if event is None:
            self.dropped += 1
            return
        self.store.add_events(
            [(title, event.kind, now, event.meter_time, event.source, event.value, event.address)]
        )
        self.pushes.append(event)
        self._events.append(event)
        if self.on_push is not None:
            self.on_push(event)

    def _known_plain_sender(self, notification: DataNotification) -> bool:
        """Lab option: a plain registration is considered only for a system title the key store
        knows (unknown titles are rejected and cost no state)."""
        item = self.config.objects.decode_body(notification.notification_body)
        title = getattr(item, "system_title", None)
        if not isinstance(title, bytes):
            return True  # not a registration: handle_notification ignores it
        try:
            self.keys.keys_for(title)
        except KeyError:
            return False
        return True

    # -- collect ---------------------------------------------------------------------------------

    def _all_entries(self) -> list[AddressBookEntry]:
        """Every entry of the book, read again only when a binding changed since the last collect
        (counter and last-seen writes do not count: the entries' ``last_seen`` may be older)."""
        stamp = self.book.binding_stamp()
        if self._entries is None or stamp != self._entries_stamp:
            self._entries = list(self.book.entries())
            self._entries_stamp = stamp
        return self._entries

    def collect(
        self,
        attributes: Sequence[AttributeRef],
        now: float,
        *,
        system_titles: Iterable[bytes] | None = None,
        on_progress: Callable[[CollectRun], None] | None = None,
        resume: int | None = None,
        operation: Operation | None = None,
    ) -> CollectRun:
        """Read ``attributes`` from every registered meter (or ``system_titles``); the work happens in
        :meth:`handle_timer` and :meth:`receive_datagram`. Returns the run (``finished`` when all are done).
        No attributes: associate only. ``resume``: continue that run (same run id), reading only the
        meters without a reading stored in it."""
        if system_titles is None:
            entries = self._all_entries()
        else:
            entries = []
            for t in system_titles:
                e = self.book.lookup(bytes(t))
                if e is not None:
                    entries.append(e)
        label = str(operation) if operation else ",".join(str(a) for a in attributes) or "(associate)"
        answered: set[bytes] = set()
        if resume is None:
            run_id = self.store.start_run(label, len(entries), now)
        else:
            run_id = resume
            answered = self.store.answered_titles(run_id)
            entries = [e for e in entries if e.system_title not in answered]
        run = CollectRun(
            run_id, tuple(attributes), len(entries), started=now, on_progress=on_progress, operation=operation
        )
        run.resumed_answered = len(answered)
        self._runs[run_id] = run
        for entry in entries:
            run.pending.add(entry.system_title)
            self._bindings[entry.system_title] = entry
            key = (run_id, entry.system_title)
            self.throttle.submit(
                ThrottledRequest(
                    key,
                    entry.primary_address,
                    entry.binding.border_router,
                    _Job(run, key),
                    entry.system_title,  # per-meter RTO (decision 0100)
                ),
                now,
            )
        self._wake = now  # its first attempts start in handle_timer
        if run.finished:
            self._finish_run(run, now)
        return run

    def ensure_associations(
        self,
        now: float,
        *,
        system_titles: Iterable[bytes] | None = None,
        on_progress: Callable[[CollectRun], None] | None = None,
    ) -> CollectRun:
        """Associate with every registered meter (or ``system_titles``) not associated yet, through the
        throttle. Members answer group requests only inside such an association (meter_node)."""
        if system_titles is None:
            titles = [e.system_title for e in self.book.entries()]
        else:
            titles = [bytes(t) for t in system_titles]
        todo = [t for t in titles if not self.is_associated(t)]
        return self.collect((), now, system_titles=todo, on_progress=on_progress)

    def stop_collect(self, run: CollectRun, now: float, reason: str) -> None:
        """Stop starting requests for ``run``: queued meters are counted as not attempted, meters
        waiting for a retry as interrupted; requests in flight may still complete (give them a grace
        period, then :meth:`abandon_collect`)."""
        if run.finished_at is not None:
            return
        run.stopped = run.stopped or reason
        for title in list(run.pending):
            key = (run.run_id, title)
            if self.throttle.is_in_flight(key):
                continue
            attempts = self.throttle.attempts(key)
            self.throttle.cancel(key)
            run.pending.discard(title)
            if attempts:
                run.interrupted += 1
            else:
                run.not_attempted += 1
        if run.finished:
            self._finish_run(run, now)

    def abandon_collect(self, run: CollectRun, now: float, reason: str) -> None:
        """Stop ``run`` at once: requests still in flight are abandoned (interrupted), the readings
        received so far are committed and the run summary written."""
        self.stop_collect(run, now, reason)
        for title in list(run.pending):
            key = (run.run_id, title)
            self.throttle.cancel(key)
            session = self._sessions.get(title)
            if session is not None and session.job is not None and session.job.key == key:
                self._abandon(session)
            run.pending.discard(title)
            run.interrupted += 1
        self._wake = now  # slots of the throttle are free
        if run.finished_at is None:
            self._finish_run(run, now)

    def handle_timer(self, now: float) -> None:
        """Expire timeouts, close group requests, start every attempt the throttle allows, commit a
        batch of readings that is due. Calling it early or twice is harmless."""
        self._expire_sessions(now)
        for event in self.throttle.expire(now):
            job = event.request.request
            assert isinstance(job, _Job)
            session = self._sessions.get(job.key[1])
            if session is not None and session.job is job:
                self._abandon(session)
                session.timeouts += 1
                if session.timeouts >= self.config.reassociate_after:
                    # silent attempts in a row: the meter may have dropped the association without
                    # telling us; the next attempt starts with a fresh AARQ
                    self._drop_association(session)
            if event.kind is ThrottleEventKind.GAVE_UP:
                self._fail(job, f"no answer after {event.attempt} attempts", now, FailReason.NO_ANSWER)
        while True:
            attempt = self.throttle.next_ready(now)
            if attempt is None:
                break
            job = attempt.request.request
            assert isinstance(job, _Job)
            job.attempt = attempt.attempt
            self._start_attempt(job, now)
        self._wake = None  # every startable attempt was started
        if self._broadcasts:
            for report in self.collector.expire(now):
                run = self._broadcasts.pop(report.invoke_id, None)
                if run is not None:
                    run.report = report
                    self._closed_broadcasts[report.invoke_id] = run
                    self._events.append(GroupRequestClosed(run.invoke_id, run.group_id, report))
                    if self.on_broadcast_done is not None:
                        self.on_broadcast_done(run)
        if self._batch_due(now) or len(self._pending_associations) >= 2000:
            self._flush_rows()

    def _batch_due(self, now: float) -> bool:
        started = self._batch_started
        if started is None:
            return False
        cfg = self.config
        return len(self._pending_rows) >= cfg.store_batch_rows or now - started >= cfg.store_batch_interval

    def get_timer(self) -> float | None:
        """When :meth:`handle_timer` must be called next: an attempt timing out or becoming due, a
        group request's window closing, a batch of readings to commit; at once when an input may
        have made an attempt startable; None when nothing is scheduled."""
        batch = (
            None if self._batch_started is None else self._batch_started + self.config.store_batch_interval
        )
        return earliest((self._wake, self.throttle.get_timer(), self.collector.get_timer(), batch))

    @property
    def busy(self) -> bool:
        """True while a collect or a group request is in progress."""
        return self.throttle.pending > 0 or bool(self._broadcasts)

    def _abandon(self, session: _Session) -> None:
        # forget the exchange in progress; an established association stays (long-lived), one being
        # established is forgotten (the next attempt sends an AARQ)
        session.probe = None  # a counter probe without its answer: tried again by the next attempt
        session.conn.cancel()
        session.job = None

    def _drop_association(self, session: _Session) -> None:
        session.conn.abort()  # state IDLE: the next attempt sends an AARQ
        session.timeouts = 0
        self._pending_associations = [
            a for a in self._pending_associations if a.system_title != session.system_title
        ]
        self.store.forget_association(session.system_title)

    def _start_attempt(self, job: _Job, now: float) -> None:
        title = job.key[1]
        entry = self._bindings.get(title)
        if entry is None:
            entry = self.book.lookup(title)
        if entry is None:
            self.throttle.cancel(job.key)
            self._fail(job, "not in the address book", now, FailReason.NOT_IN_ADDRESS_BOOK)
            return
        try:
            session = self._session(title, now)
        except KeyError:
            self.throttle.cancel(job.key)
            self._fail(job, "no keys for this meter", now, FailReason.NO_KEYS)
            return
        except _SessionsFull:
            self.throttle.cancel(job.key)
            self._fail(job, "session table full (max_sessions)", now, FailReason.SESSIONS_FULL)
            return
        if session.job is not None and session.job is not job:
            self._abandon(session)  # one exchange at a time per association
        self._bind(session, entry)
        session.job = job
        conn = session.conn
        if conn.busy:
            self._abandon(session)
            session.job = job
        try:
            if conn.is_associated:
                if not job.run.attributes:
                    self._complete(session, job, [], [], now)
                    return
                conn.send_request(self._request(job.run.attributes, job.run.operation), now)
            else:
                if conn.state is not ConnectionState.IDLE and conn.state is not ConnectionState.RELEASED:
                    conn.abort()
                if session.learn:
                    self._start_probe(session, now)
                    return
                conn.send_request(Associate(), now)
                self.aarq_sent += 1
        except (ClientError, SecurityError, EncodeError) as exc:
            self.throttle.cancel(job.key)
            session.job = None
            self._fail(job, str(exc), now, FailReason.REQUEST_NOT_BUILT)
            return
        self._send_queued(session)

    @staticmethod
    def _request(attributes: Sequence[AttributeRef], operation: Operation | None = None) -> Request:
        if operation is not None:
            return operation.client_request()
        if len(attributes) == 1:
            a = attributes[0]
            return Get(a.class_id, a.logical_name, a.attribute_id, a.selection)
        return GetWithList(
            tuple((a.class_id, a.logical_name, a.attribute_id, a.selection) for a in attributes)
        )

    def _on_answer(self, session: _Session, apdu: bytes, now: float, plain: bytes | None = None) -> None:
        job = session.job
        assert job is not None
        conn = session.conn
        dropped = conn.unexpected_apdus
        if plain is None:
            conn.receive_apdu(apdu, now)
        else:
            conn.receive_apdu(plain, now, deciphered=True)
        events = conn.pop_events()
        if not events:  # a block acknowledged, or more blocks to come: the next round trip
            if plain is not None:
                self.liveness.seen(session.system_title, now)  # authenticated by the association
            if conn.unexpected_apdus != dropped:
                self.dropped += 1  # a late answer to an abandoned exchange
                return
            self.throttle.progress(job.key, now)
            self._send_queued(session)
            return
        event = events[0]  # one request in flight: its one completion (docs/sans-io.md)
        if isinstance(event, ServiceFailed):
            if event.kind is FailureKind.ACCESS:  # an authenticated answer (an error result)
                self.liveness.seen(session.system_title, now)
                result = event.data_access_result if event.action_result is None else event.action_result
                self._complete(session, job, [None], [str(event.error)], now, [result])
            else:
                self._on_failure(session, job, event, now)
            return
        if plain is not None:
            self.liveness.seen(session.system_title, now)
        session.timeouts = 0
        if isinstance(event, AssociationEstablished):
            self._on_established(session, job, event.info, now)
            return
        if isinstance(event, GetWithListCompleted):
            values: list[DataValue | None] = []
            errors: list[str | None] = []
            results: list[AccessResult | None] = []
            for item in event.results:
                if isinstance(item, AccessError):
                    values.append(None)
                    errors.append(str(item))
                    results.append(item.result)
                else:
                    values.append(item)
                    errors.append(None)
                    results.append(None)
            self._complete(session, job, values, errors, now, results)
            return
        if isinstance(event, GetCompleted):
            value: DataValue | None = event.value
        elif isinstance(event, ActionCompleted):
            value = event.return_value
        else:  # SetCompleted
            value = None
        self._complete(session, job, [value], [None], now, [None])

    def _on_established(self, session: _Session, job: _Job, info: AssociationInfo, now: float) -> None:
        """AARE (and HLS pass 4) in: store the association, then send the run's request."""
        self._pending_associations.append(
            StoredAssociation(
                session.system_title,
                info.negotiated_conformance,
                info.server_max_receive_pdu_size,
                info.vaa_name,
                info.server_system_title,
                now,
            )
        )
        if not job.run.attributes:  # associate only (ensure_associations)
            self._complete(session, job, [], [], now)
            return
        try:
            session.conn.send_request(self._request(job.run.attributes, job.run.operation), now)
        except ClientError as exc:
            self.throttle.cancel(job.key)
            session.job = None
            self._fail(job, str(exc), now, FailReason.REQUEST_NOT_BUILT)
            return
        self.throttle.progress(job.key, now)  # AARE in: the GET is a new round trip (0080)
        self._send_queued(session)

    def _on_failure(self, session: _Session, job: _Job, failed: ServiceFailed, now: float) -> None:
        """The attempt ended in the client core's ServiceFailed (other than an access error)."""
        conn = session.conn
        if failed.kind is FailureKind.SECURITY:
            self.security_events += 1
        if (
            failed.kind is FailureKind.ASSOCIATION_REJECTED
            and self.config.learn_counters != "never"
            and not session.learned
        ):
            session.learn = True  # perhaps our counter is below the meter's floor (decision 0126)
        if failed.kind is FailureKind.EXCEPTION_RESPONSE:
            # the meter no longer knows the association (reboot, lost state): associate again
            self._drop_association(session)
        elif conn.is_associated:
            self._abandon(session)
        else:
            conn.abort()
        session.job = None
        self._wake = now  # a slot of the throttle is free
        if self.throttle.completed(job.key, now, ok=False) is Completion.GAVE_UP:
            self._fail(job, str(failed.error), now, FailReason.SERVICE_FAILED, failed.kind)

    def _complete(
        self,
        session: _Session,
        job: _Job,
        values: list[DataValue | None],
        errors: list[str | None],
        now: float,
        results: list[AccessResult | None] | None = None,
    ) -> None:
        session.job = None
        self._wake = now  # a slot of the throttle is free
        if self.throttle.completed(job.key, now) is not Completion.COMPLETED:
            return
        run = job.run
        title = session.system_title
        access: list[AccessResult | None] = results if results is not None else [None] * len(values)
        run.results[title] = MeterResult(title, values, errors, job.attempt, now, access)
        run.pending.discard(title)
        self._note_rows(now)
        for attr, value, error in zip(
            run.attributes if run.operation is None else (), values, errors, strict=False
        ):
            self._pending_rows.append(
                ReadingRow.of_value(
                    run.run_id,
                    title,
                    attr.class_id,
                    str(attr.logical_name),
                    attr.attribute_id,
                    now,
                    value,
                    error,
                )
            )
        self._events.append(MeterCompleted(run.run_id, title, tuple(values), tuple(access), job.attempt, now))
        self._progress(run, now)

    def _fail(
        self, job: _Job, reason: str, now: float, why: FailReason, failure: FailureKind | None = None
    ) -> None:
        run = job.run
        title = job.key[1]
        if title in run.results or title in run.failed:
            return
        self._wake = now  # a slot of the throttle is free
        run.failed[title] = reason
        run.pending.discard(title)
        self._note_rows(now)
        for attr in run.attributes if run.operation is None else ():
            self._pending_rows.append(
                ReadingRow.of_value(
                    run.run_id,
                    title,
                    attr.class_id,
                    str(attr.logical_name),
                    attr.attribute_id,
                    now,
                    None,
                    reason,
                )
            )
        self._events.append(MeterFailed(run.run_id, title, why, job.attempt, now, failure))
        self._progress(run, now)

    def _note_rows(self, now: float) -> None:
        if self._batch_started is None:
            self._batch_started = now

    def _progress(self, run: CollectRun, now: float) -> None:
        if len(self._pending_rows) >= self.config.store_batch_rows:
            self._flush_rows()
        if run.on_progress is not None:
            run.on_progress(run)
        if run.finished:
            self._finish_run(run, now)

    def _finish_run(self, run: CollectRun, now: float) -> None:
        if run.finished_at is not None:
            return
        run.finished_at = now
        self._flush_rows()
        if run.operation is not None:
            outcomes = unicast_outcomes(
                {t: (r.values, r.errors, r.access_results) for t, r in run.results.items()}, run.failed
            )
            record_run(self.store, run.run_id, run.operation, outcomes, now)
        self.store.finish_run(
            run.run_id,
            run.answered,
            len(run.failed),
            now,
            not_attempted=run.not_attempted + run.interrupted,
            stopped=run.stopped,
        )
        self._runs.pop(run.run_id, None)
        self._events.append(
            RunFinished(
                run.run_id,
                run.answered,
                len(run.failed),
                run.not_attempted,
                run.interrupted,
                run.stopped,
                now,
            )
        )
        self.save_state()

    def _flush_rows(self) -> None:
        if self._pending_associations:
            associations, self._pending_associations = self._pending_associations, []
            self.store.save_associations(associations)
        self._batch_started = None
        if self._pending_rows:
            rows, self._pending_rows = self._pending_rows, []
            self.store.add_readings(rows)

    # -- group requests --------------------------------------------------------------------------

    def _broadcast_security(self) -> SecurityContext:
        if self._broadcast_context is None:
            keys = self.keys.broadcast_keys()
            self._broadcast_context = SecurityContext(
                suite=self.config.security_suite,
                policy=_POLICY,
                system_title=self.config.system_title,
                peer_system_title=None,
                keys=KeySet(ak=keys.ak, broadcast_key=keys.broadcast_key),
                invocation_counters={
                    KeyRole.GLOBAL_BROADCAST: self._counter(self.config.system_title, "gbek")
                },
                role=Role.CLIENT,
            )
        return self._broadcast_context

    def broadcast(
        self,
        group_id: int,
        attribute: AttributeRef,
        now: float,
        *,
        window: ResponseWindow,
        expected: Iterable[bytes] | None = None,
        operation: Operation | None = None,
    ) -> BroadcastRun:
        """GET ``attribute`` from the members of ``group_id`` with one multicast request (wPort 127,
        broadcast key). ``expected``: the meters that should answer (default: every registered
        meter); answers are collected until ``window`` closes (plus the collector's grace)."""
        invoke_id = None
        for i in range(16):
            candidate = (self._next_broadcast_id + i) & 0x0F
            if candidate not in self._broadcasts:
                invoke_id = candidate
                break
        if invoke_id is None:
            raise ClientError("16 group requests are already open (GET invoke ids are 4 bits)")
        self._next_broadcast_id = (invoke_id + 1) & 0x0F
        previous = self._closed_broadcasts.pop(invoke_id, None)
        if previous is not None:
            previous.report = self.collector.report(invoke_id)
            previous.final = True
        target = group_request_target(
            group_id, self.config.scheme, self.config.ports.udp_port, self.config.ports.group_wport
        )
        plain = (
            operation.group_request(invoke_id)
            if operation is not None
            else GetRequestNormal(
                invoke_id,
                CosemAttributeDescriptor(attribute.class_id, attribute.logical_name, attribute.attribute_id),
            ).encode()
        )
        try:
            apdu = protect_apdu(plain, self._broadcast_security(), "general-glo", broadcast=True)
        except SecurityError as exc:
            raise ClientError(f"cannot protect the group request: {exc}") from None
        if expected is None:
            titles = [e.system_title for e in self.book.entries()]
        else:
            titles = [bytes(t) for t in expected]
        deadline = self.collector.open(invoke_id, titles, now, window)
        run = BroadcastRun(invoke_id, group_id, attribute, target.address, deadline, operation=operation)
        self._broadcasts[invoke_id] = run
        self._send(
            target.address.compressed,
            target.udp_port,
            self.config.ports.client_wport,
            target.destination_wport,
            apdu,
        )
        return run

    def _on_group_answer(self, title: bytes, apdu: bytes, raw: bytes, now: float) -> None:
        seen = self._broadcast_seen.get(raw)
        if seen is not None:
            self.collector.add(seen[0], seen[1], now)  # counted as a duplicate
            return
        session = self._sessions.get(title)
        try:
            if session is None:
                verified = self._verify_new(title, apdu)  # authenticate before any state
                if verified is None:
                    return
                plain = verified[1]
                self._adopt(title, verified[0], now)
            else:
                assert session.conn.security is not None
                plain, _, _ = unprotect_apdu(apdu, session.conn.security)
            response = decode_apdu(plain)
        except SecurityError:
            self.security_events += 1
            return
        except DecodeError:
            self.dropped += 1
            return
        self.liveness.seen(title, now)
        outcome = group_outcome(title, response)
        if not isinstance(response, GetResponseNormal | SetResponseNormal | ActionResponseNormal):
            self.dropped += 1
            return
        invoke_id = response.invoke_id
        self._broadcast_seen[raw] = (title, invoke_id)
        while len(self._broadcast_seen) > 65536:
            self._broadcast_seen.popitem(last=False)
        answer = response.result if isinstance(response, GetResponseNormal) else outcome
        result = self.collector.add(title, invoke_id, now, answer)
        self._wake = now  # the last expected answer closes the request in handle_timer
        run = self._broadcasts.get(invoke_id)
        if run is not None and result in (AddResult.ACCEPTED, AddResult.UNEXPECTED):
            if outcome is not None:
                run.outcomes[title] = outcome
                run.values[title] = outcome.result
                return
            assert isinstance(response, GetResponseNormal)
            value = response.result
            run.values[title] = (
                f"data-access-result {value.name.lower()}" if isinstance(value, DataAccessResult) else value
            )

    def broadcast_report(self, run: BroadcastRun) -> CollectionReport:
        """The current (or final) report of a group request."""
        if run.final and run.report is not None:
            return run.report
        return self.collector.report(run.invoke_id)
