"""The meter's server: routes wrapper frames to logical devices and associations, sans-IO.

::

    server = MeterServer([ServedDevice(device)], inactivity_timeout=120.0)
    # TCP: one ServerConnection per accepted connection, bytes in -> bytes out
    conn = server.open_connection(now)
    conn.receive_data(received_bytes, now)
    for chunk in conn.pop_outgoing(): ...write chunk...    # wrapper frames, in order
    if conn.closed: ...close the socket...
    # UDP: one datagram in -> datagrams out
    server.receive_datagram(peer_address, datagram, now)
    for out in server.pop_outgoing(): ...send out.data to out.peer...
    # timers
    deadline = server.get_timer()                    # POSIX seconds or None
    server.handle_timer(now)
    for event in server.pop_events(): ...ConnectionExpired: close event.connection's socket...

Both cores follow the sans-IO contract of docs/sans-io.md (:class:`cosemnet.sansio.SansIOCore`).

Routing: the destination wPort of a frame selects the logical device (its server SAP), the source
wPort the association (client SAP); so one process serves several logical devices and many
associations per connection. A UDP "connection" is keyed by (peer address, client wPort, server
wPort) and expires after the same inactivity timeout as a TCP connection.

Design choices (the standard is silent or leaves them to the implementation):

* frames for a server wPort without a logical device (including 127 all-station) are dropped;
* a wrapper framing error (version other than 1, oversized length) closes the TCP connection;
  a UDP datagram that is not exactly one wrapper frame is dropped;
* inactivity is counted per TCP connection (any frame resets it; on expiry every association of the
  connection is released and the adapter closes it) and per UDP pseudo-connection;
* a UDP pseudo-connection is forgotten as soon as its association is released (RLRE sent);
* the server invocation counters: one per Security setup, in memory, or in ``state_dir`` through
  :class:`cosemnet.security.counters.FileCounterStore` (named after the server system title);
* the client invocation counters accepted (replay floors) are shared by all associations, per client
  system title and key, and persisted in ``state_dir/replay-floors`` whenever an association is
  established or released and on close (docs/decisions/0033);
* failed authentications are rate-limited per (client SAP, source host) (docs/decisions/0034).

Resource limits (:class:`~cosemnet.server.config.ServerLimits`, see docs/decisions/0030):

* a TCP connection produces at most ``output_budget`` bytes of answers per
  :meth:`ServerConnection.receive_data` or :meth:`ServerConnection.resume` call (popped with
  :meth:`ServerConnection.pop_outgoing` after each call); the frames it did
  not process yet stay in the connection
  (:attr:`ServerConnection.backlog`): the adapter stops reading while there is a backlog and calls
  ``resume`` as the transport drains, so a peer that never reads its answers costs a bounded amount;
* connections (TCP and UDP pseudo-connections) and associations waiting for HLS pass 3 are capped in
  total and per source address; a TCP connection over the cap comes back already closed;
* on UDP the negotiated PDU sizes are capped to one datagram (long answers go in blocks), no datagram
  over ``udp_max_datagram`` is ever sent, and before an association is established an answer is at most
  ``udp_amplification_factor`` times the datagram that drew it (RFC 9000 section 8.1's rule).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import struct
from collections import deque
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from pathlib import Path

from cosemnet.codec.acse import (
    AARE,
    AARQ,
    ApplicationContextName,
    AssociateSourceDiagnostic,
    AssociationResult,
)
from cosemnet.codec.wrapper import HEADER_SIZE, MAX_APDU_LENGTH, WrapperFrame, WrapperStream
from cosemnet.codec.xdlms import ExceptionResponse, ExceptionServiceError, StateError
from cosemnet.cosem.logical_device import LogicalDevice
from cosemnet.cosem.security_setup import SecuritySetup
from cosemnet.errors import DecodeError
from cosemnet.security.counters import (
    CounterSource,
    FileCounterStore,
    InvocationCounter,
    MemoryInvocationCounter,
    ReplayFloors,
    counter_name,
)
from cosemnet.security.errors import CounterStoreError
from cosemnet.security.hls import Mechanism
from cosemnet.server.association import AssociationState, CounterProvider, ServerAssociation
from cosemnet.server.auth_limiter import AuthFailureLimiter
from cosemnet.server.config import ServedDevice, ServerLimits

__all__ = ["ConnectionExpired", "Datagram", "MeterServer", "ServerConnection", "ServerEvent"]

_HEADER = struct.Struct(">HHHH")
_logger = logging.getLogger(__name__)

DEFAULT_INACTIVITY_TIMEOUT = 120.0
"""Seconds without a received frame before a connection is dropped (TCP-UDP setup default)."""

_SLICE = 4096
"""Received bytes split into frames at a time (frames not processed yet stay as raw bytes)."""

_HLS_MECHANISMS = frozenset(
    {Mechanism.HLS_MD5, Mechanism.HLS_SHA1, Mechanism.HLS_GMAC, Mechanism.HLS_SHA256, Mechanism.HLS_ECDSA}
)


def source_of(peer: Hashable) -> Hashable:
    """The source address of a peer label: the host of a ``(host, port, ...)`` tuple, else the label."""
    return peer[0] if isinstance(peer, tuple) and peer else peer


@dataclass(frozen=True, slots=True)
class Datagram:
    """One UDP datagram to send (:meth:`MeterServer.pop_outgoing`): ``data`` (one wrapper frame) to
    ``peer`` (the label the datagram it answers came from)."""

    peer: Hashable
    data: bytes


@dataclass(frozen=True, slots=True)
class ConnectionExpired:
    """A connection saw no frame for the inactivity timeout: its associations are released and it is
    closed (:attr:`ServerConnection.closed`); for a TCP connection, close the transport."""

    connection: ServerConnection


ServerEvent = ConnectionExpired
"""The events of :meth:`MeterServer.pop_events`."""


class ServerConnection:
    """One TCP connection (``stream=True``) or one UDP pseudo-connection of a :class:`MeterServer`.

    Input ``receive_data`` (TCP bytes), ``receive_frame`` (one wrapper frame) and ``resume``; output
    :meth:`pop_outgoing` (wrapper-framed bytes). Its inactivity deadline (:meth:`get_timer`) is kept
    by the server, which reports expiries as :class:`ConnectionExpired` events.
    """

    __slots__ = (
        "_frames",
        "_input",
        "_outgoing",
        "_scheduled",
        "_stream",
        "associations",
        "closed",
        "deadline",
        "key",
        "server",
        "source",
    )

    def __init__(self, server: MeterServer, key: Hashable, *, stream: bool, source: Hashable = None) -> None:
        self.server = server
        self.key = key
        self.source = source
        """The peer's source address (connection caps count per source)."""
        self._stream = WrapperStream() if stream else None
        self._input = bytearray()  # received, not split into frames yet
        # split, not processed yet (TCP only: a UDP pseudo-connection gets whole frames; memory per meter)
        self._frames: deque[WrapperFrame] | None = deque() if stream else None
        self._outgoing: list[bytes] = []
        self.associations: dict[tuple[int, int], ServerAssociation] = {}
        """(client wPort, server wPort) -> association state."""
        self.closed = False
        self.deadline: float | None = None
        self._scheduled: float | None = None  # the deadline of this connection's entry in the heap

    def receive_data(self, data: bytes, now: float) -> None:
        """TCP: bytes received on the connection; the response frames go to :meth:`pop_outgoing`.

        At most about ``output_budget`` bytes of answers are produced (at least one frame is processed);
        what is left waits in :attr:`backlog`: stop reading from the transport and call :meth:`resume`
        when it has drained. After a framing error :attr:`closed` is True: close the transport.
        """
        if self.closed or self._stream is None:
            return
        self._input += data
        self._process(now)

    def resume(self, now: float) -> None:
        """TCP: answer the next frames of the :attr:`backlog` (budget as :meth:`receive_data`)."""
        if self.closed or self._stream is None:
            return
        self._process(now)

    def pop_outgoing(self) -> list[bytes]:
        """What to send, oldest first; the queue is empty afterwards. TCP: one chunk of wrapper frames
        per :meth:`receive_data` / :meth:`resume` call that answered something; :meth:`receive_frame`:
        one wrapper frame per element."""
        out = self._outgoing
        self._outgoing = []
        return out

    def pop_events(self) -> list[ServerEvent]:
        """No events of its own: its expiry is a :class:`MeterServer` event, :attr:`closed` tells a
        framing error."""
        return []

    def get_timer(self) -> float | None:
        """The connection's inactivity deadline (None: closed or no timeout)."""
        return None if self.closed else self.deadline

    def handle_timer(self, now: float) -> None:
        """Expire the connection if its inactivity deadline has passed (reported as the server's
        :class:`ConnectionExpired` event); harmless before."""
        if not self.closed and self.deadline is not None and self.deadline <= now:
            self.server._expire(self)

    @property
    def backlog(self) -> bool:
        """Received bytes are waiting to be processed (the transport should not read more)."""
        return bool(self._frames or self._input) and not self.closed

    def _process(self, now: float) -> None:
        stream = self._stream
        assert stream is not None
        budget = self.server.limits.output_budget
        frames = self._frames
        assert frames is not None
        out: list[bytes] = []
        size = 0
        while size < budget and not self.closed:
            if not frames:
                if not self._input:
                    break
                chunk = bytes(self._input[:_SLICE])
                del self._input[:_SLICE]
                try:
                    frames.extend(stream.feed(chunk))
                except DecodeError:
                    self.server._log_line(f"connection {self.key!r}: framing error, closing")
                    self.close()
                    break
                continue
            frame = frames.popleft()
            destination = frame.destination_wport
            source = frame.source_wport
            for apdu in self._handle(source, destination, frame.apdu, now):
                out.append(_HEADER.pack(1, destination, source, len(apdu)))
                out.append(apdu)
                size += HEADER_SIZE + len(apdu)
        if out:
            self._outgoing.append(b"".join(out))

    def receive_frame(self, frame: WrapperFrame, now: float) -> None:
        """One wrapper frame in; the response frames (encoded, one per element) go to
        :meth:`pop_outgoing`."""
        destination = frame.destination_wport
        source = frame.source_wport
        self._outgoing.extend(
            _HEADER.pack(1, destination, source, len(apdu)) + apdu
            for apdu in self._handle(source, destination, frame.apdu, now)
        )

    def _handle(self, source: int, destination: int, apdu: bytes, now: float) -> list[bytes]:
        if self.closed:
            return []
        server = self.server
        if server.inactivity_timeout is not None:
            server._touch(self, now)
        served = server.devices.get(destination)
        if served is None:
            return []
        if served.on_request is not None:
            served.on_request(now)
        key = (source, destination)
        association = self.associations.get(key)
        if apdu and apdu[0] == AARQ.TAG and server._pending_full(self, served, source, association, now):
            return [_AARE_BUSY]
        if association is None:
            association = ServerAssociation(
                served,
                source,
                counter_provider=server.counter_provider,
                challenge_factory=server.challenge_factory,
                log=server.log,
                replay_floors=server.replay_floors,
                auth_limiter=server.auth_limiter,
                peer=_source_host(self.key, self._stream is not None),
            )
            limits = server.limits
            association.max_block_transfer = limits.max_block_transfer
            association.max_burst = limits.output_budget
            if self._stream is None:  # UDP: every APDU fits one datagram
                association.pdu_size_limit = min(MAX_APDU_LENGTH, limits.udp_max_datagram - HEADER_SIZE)
            self.associations[key] = association
        was_associated = association.associated
        try:
            # the association's answers directly (receive_apdu + pop_outgoing without the queue round trip)
            replies = association._answer(apdu, now)
        except Exception as exc:  # a bug must not take the whole server down: answer, log, go on
            server._log_line(f"internal error on {self.key!r}: {type(exc).__name__}: {exc}")
            replies = [
                ExceptionResponse(StateError.SERVICE_NOT_ALLOWED, ExceptionServiceError.OTHER_REASON).encode()
            ]
        associated = association.associated
        if associated != was_associated:
            server._save_floors()
        if not associated:
            del self.associations[key]
        if len(replies) == 1 and len(replies[0]) <= MAX_APDU_LENGTH:
            return replies  # the usual single answer: nothing to filter
        return [r for r in replies if len(r) <= MAX_APDU_LENGTH]

    def close(self) -> None:
        """Release every association and mark the connection closed (idempotent)."""
        if self.closed:
            return
        self.closed = True
        for association in self.associations.values():
            association.release()
        self.associations.clear()
        if self._frames is not None:
            self._frames.clear()
        self._input = bytearray()
        self.server._forget(self)


_AARE_BUSY = AARE(
    application_context_name=ApplicationContextName.LN,
    result=AssociationResult.REJECTED_TRANSIENT,
    result_source_diagnostic=AssociateSourceDiagnostic.ACSE_SERVICE_USER_NO_REASON_GIVEN,
).encode()
"""The answer to an AARQ over the pending-association caps."""


class MeterServer:
    """Serves logical devices (by server SAP) to many connections; see the module docstring.

    A sans-IO core (docs/sans-io.md): ``receive_datagram`` in, :meth:`pop_outgoing` (:class:`Datagram`
    records) out; :meth:`get_timer` / :meth:`handle_timer` for the inactivity timeouts, reported as
    :class:`ConnectionExpired` through :meth:`pop_events`. TCP connections are cores of their own
    (:meth:`open_connection`).

    ``devices``: :class:`ServedDevice` objects or bare :class:`LogicalDevice` objects (then served
    with their own server SAP, DeviceEffects and the profiles of their Association LN objects).
    ``inactivity_timeout`` None disables the timeout. ``state_dir`` persists the server's
    invocation counters; ``counter_provider`` replaces that mechanism entirely.
    ``challenge_factory`` returns the HLS StoC (tests inject a fixed one). ``log`` receives one-line
    event descriptions without key material. ``replay_floors`` (default: in ``state_dir``, else in
    memory) and ``auth_limiter`` (default limits) are shared by every association; ``limits``: the
    resource limits (defaults: :class:`~cosemnet.server.config.ServerLimits`).
    """

    def __init__(
        self,
        devices: Iterable[ServedDevice | LogicalDevice],
        *,
        inactivity_timeout: float | None = DEFAULT_INACTIVITY_TIMEOUT,
        state_dir: str | Path | None = None,
        counter_provider: CounterProvider | None = None,
        challenge_factory: Callable[[], bytes] | None = None,
        log: Callable[[str], None] | None = None,
        replay_floors: ReplayFloors | None = None,
        auth_limiter: AuthFailureLimiter | None = None,
        limits: ServerLimits | None = None,
    ) -> None:
        self.limits = limits if limits is not None else ServerLimits()
        self.refused = 0
        """Connections, datagrams and AARQs refused or dropped by a limit (see :attr:`limits`)."""
        self._per_source: dict[Hashable, int] = {}
        self._refusal_logged = float("-inf")
        self._refusals_unlogged = 0
        self.devices: dict[int, ServedDevice] = {}
        for item in devices:
            served = item if isinstance(item, ServedDevice) else ServedDevice(item)
            assert served.server_sap is not None
            if served.server_sap in self.devices:
                raise ValueError(f"two logical devices with server SAP {served.server_sap}")
            self.devices[served.server_sap] = served
        self.inactivity_timeout = inactivity_timeout
        self.challenge_factory = challenge_factory
        self.log = log
        self._store: FileCounterStore | None = None
        if counter_provider is None:
            if state_dir is not None:
                self._store = FileCounterStore(state_dir)
            counter_provider = self._default_counter
        self.counter_provider: CounterProvider = counter_provider
        if replay_floors is None:
            replay_floors = ReplayFloors(Path(state_dir) / "replay-floors" if state_dir is not None else None)
        self.replay_floors = replay_floors
        self.auth_limiter = auth_limiter if auth_limiter is not None else AuthFailureLimiter()
        self._counters: dict[int, tuple[SecuritySetup, CounterSource]] = {}
        self._udp: dict[Hashable, ServerConnection] = {}
        self._connections: set[ServerConnection] = set()
        self._heap: list[tuple[float, int, ServerConnection]] = []
        self._outgoing: list[Datagram] = []
        self._events: list[ServerEvent] = []
        self._sequence = itertools.count()
        self._tcp_ids = itertools.count(1)

    # ----------------------------------------------------------------------------------------------
    # Connections

    def open_connection(self, now: float, peer: Hashable = None) -> ServerConnection:
        """A new TCP connection from ``peer`` (a label for logs; the host of a ``(host, port)`` tuple is
        its source address for the per-source cap). Over a connection cap the connection comes back
        already :attr:`~ServerConnection.closed`: close the transport."""
        source = source_of(peer)
        conn = ServerConnection(self, (next(self._tcp_ids), peer), stream=True, source=source)
        if not self._admit(source, now):
            conn.closed = True
            return conn
        self._register(conn)
        self._touch(conn, now)
        return conn

    def receive_datagram(self, peer: Hashable, data: bytes, now: float) -> None:
        """UDP: one datagram from ``peer``; the datagrams to send back to it go to :meth:`pop_outgoing`
        (one that is not exactly one wrapper frame is dropped)."""
        try:
            frame = WrapperFrame.decode(data)
        except DecodeError:
            return
        key = (peer, frame.source_wport, frame.destination_wport)
        conn = self._udp.get(key)
        if conn is None:
            if frame.destination_wport not in self.devices:
                return
            source = source_of(peer)
            if not self._admit(source, now):
                return
            conn = ServerConnection(self, key, stream=False, source=source)
            self._udp[key] = conn
            self._register(conn)
        established = any(a.state is AssociationState.ASSOCIATED for a in conn.associations.values())
        conn.receive_frame(frame, now)
        replies = conn.pop_outgoing()
        if not conn.associations:
            conn.close()
        self._udp_budget(peer, replies, len(data), established, now)

    def pop_outgoing(self) -> list[Datagram]:
        """The UDP datagrams to send, oldest first; the queue is empty afterwards."""
        out = self._outgoing
        self._outgoing = []
        return out

    def pop_events(self) -> list[ServerEvent]:
        """The events since the last call (:class:`ConnectionExpired`), oldest first."""
        events = self._events
        self._events = []
        return events

    def _udp_budget(
        self, peer: Hashable, replies: list[bytes], received: int, established: bool, now: float
    ) -> None:
        """Queue the replies to ``peer`` but the datagrams over ``udp_max_datagram`` and, before an
        association is established, the answers beyond ``udp_amplification_factor`` times the datagram
        received (anti-amplification)."""
        limits = self.limits
        allowance = None if established else limits.udp_amplification_factor * received
        out = self._outgoing
        sent = 0
        for reply in replies:
            sent += len(reply)
            if len(reply) > limits.udp_max_datagram or (allowance is not None and sent > allowance):
                self._refuse(
                    f"UDP answer of {len(reply)} bytes dropped (datagram or amplification limit)", now
                )
                continue
            out.append(Datagram(peer, reply))

    @property
    def connection_count(self) -> int:
        """Open TCP connections and live UDP pseudo-connections."""
        return len(self._connections)

    def associations(self) -> list[ServerAssociation]:
        """Every association currently established (for status and tests)."""
        return [a for c in self._connections for a in c.associations.values() if a.associated]

    def close(self) -> None:
        """Close every connection and release the counter store."""
        for conn in list(self._connections):
            conn.close()
        self._save_floors()
        if self._store is not None:
            self._store.close()
            self._store = None

    # ----------------------------------------------------------------------------------------------
    # Timers

    def get_timer(self) -> float | None:
        """The earliest time :meth:`handle_timer` has something to do (None: nothing pending)."""
        heap = self._heap
        while heap:
            deadline, _, conn = heap[0]
            if conn.closed or conn.deadline is None:
                heapq.heappop(heap)
                conn._scheduled = None
                continue
            if conn.deadline != deadline:  # touched since: move the entry to its current deadline
                heapq.heapreplace(heap, (conn.deadline, next(self._sequence), conn))
                conn._scheduled = conn.deadline
                continue
            return deadline
        return None

    def handle_timer(self, now: float) -> None:
        """Expire the connections inactive until ``now``, each reported as a :class:`ConnectionExpired`
        event (TCP ones: close the transport). Harmless before the deadline."""
        heap = self._heap
        while heap and heap[0][0] <= now:
            deadline, _, conn = heap[0]
            if conn.closed or conn.deadline is None:
                heapq.heappop(heap)
                conn._scheduled = None
                continue
            if conn.deadline != deadline:
                heapq.heapreplace(heap, (conn.deadline, next(self._sequence), conn))
                conn._scheduled = conn.deadline
                continue
            heapq.heappop(heap)
            conn._scheduled = None
            self._expire(conn)

    def _expire(self, conn: ServerConnection) -> None:
        """Close ``conn`` for inactivity (its heap entry, if any, is dropped lazily) and report it."""
        self._log_line(f"connection {conn.key!r}: inactivity timeout")
        conn.close()
        self._events.append(ConnectionExpired(conn))

    # ----------------------------------------------------------------------------------------------
    # Internals

    def _touch(self, conn: ServerConnection, now: float) -> None:
        if self.inactivity_timeout is None:
            return
        deadline = now + self.inactivity_timeout
        conn.deadline = deadline
        if conn._scheduled is None:  # at most one heap entry per connection (moved lazily)
            conn._scheduled = deadline
            heapq.heappush(self._heap, (deadline, next(self._sequence), conn))

    def _forget(self, conn: ServerConnection) -> None:
        if conn in self._connections:
            self._connections.discard(conn)
            left = self._per_source.get(conn.source, 1) - 1
            if left > 0:
                self._per_source[conn.source] = left
            else:
                self._per_source.pop(conn.source, None)
        if self._udp.get(conn.key) is conn:
            del self._udp[conn.key]

    def _save_floors(self) -> None:
        try:
            self.replay_floors.save()
        except CounterStoreError as exc:  # keep serving; the floors stay in memory
            _logger.error("%s", exc)
            self._log_line(f"cannot persist the replay floors: {exc}")

    def _register(self, conn: ServerConnection) -> None:
        self._connections.add(conn)
        self._per_source[conn.source] = self._per_source.get(conn.source, 0) + 1

    def _admit(self, source: Hashable, now: float) -> bool:
        """One more connection from ``source`` is within the caps (else: logged, counted)."""
        limits = self.limits
        if limits.max_connections is not None and len(self._connections) >= limits.max_connections:
            self._refuse(
                f"connection from {source!r} refused: {limits.max_connections} connections open", now
            )
            return False
        per_source = limits.max_connections_per_source
        if per_source is not None and self._per_source.get(source, 0) >= per_source:
            self._refuse(f"connection from {source!r} refused: {per_source} connections from it open", now)
            return False
        return True

    def _pending_full(
        self,
        conn: ServerConnection,
        served: ServedDevice,
        client_sap: int,
        current: ServerAssociation | None,
        now: float,
    ) -> bool:
        """An AARQ that could open one more association waiting for HLS pass 3 is over the caps."""
        limits = self.limits
        total_cap = limits.max_pending_associations
        source_cap = limits.max_pending_associations_per_source
        profile = served.by_client_sap.get(client_sap)
        if profile is None or profile.mechanism not in _HLS_MECHANISMS:
            return False
        if total_cap is None and source_cap is None:
            return False
        total = from_source = 0
        for other in self._connections:
            for association in other.associations.values():
                if association is current or association.state is not AssociationState.PENDING:
                    continue
                total += 1
                from_source += other.source == conn.source
        if (total_cap is not None and total >= total_cap) or (
            source_cap is not None and from_source >= source_cap
        ):
            self._refuse(f"AARQ from {conn.source!r} refused: too many associations waiting for HLS", now)
            return True
        return False

    def _refuse(self, text: str, now: float | None) -> None:
        """Count a refusal; log it, at most one line a second (with the number not logged since)."""
        self.refused += 1
        if now is not None and now - self._refusal_logged < 1.0:
            self._refusals_unlogged += 1
            return
        if now is not None:
            self._refusal_logged = now
        more = f" ({self._refusals_unlogged} more since the last line)" if self._refusals_unlogged else ""
        self._refusals_unlogged = 0
        self._log_line(text + more)

    def _log_line(self, text: str) -> None:
        if self.log is not None:
            self.log(text)

    def _default_counter(self, security_setup: SecuritySetup) -> CounterSource:
        entry = self._counters.get(id(security_setup))
        if entry is not None and entry[0] is security_setup:
            return entry[1]
        source: CounterSource
        if self._store is not None:
            source = InvocationCounter(self._store, counter_name(security_setup.server_system_title, "guek"))
        else:
            source = MemoryInvocationCounter()
        self._counters[id(security_setup)] = (security_setup, source)
        return source


def _source_host(key: Hashable, stream: bool) -> Hashable:
    """The peer's host of a connection key (TCP: ``(n, peer)``, UDP: ``(peer, client, server)``)."""
    if not isinstance(key, tuple) or not key:
        return key
    peer: Hashable = key[1] if stream and len(key) > 1 else key[0]
    if isinstance(peer, tuple) and peer:
        host: Hashable = peer[0]
        return host
    return peer
