"""The server cores follow the one sans-IO contract (docs/sans-io.md, issue 16 item 1): structural types,
and exchanges driven only through receive_* / pop_outgoing / pop_events / get_timer / handle_timer on
simulated time (no socket, no clock)."""

from __future__ import annotations

from cosemnet.codec.acse import AARE, AssociationResult
from cosemnet.codec.wrapper import WrapperFrame, WrapperStream
from cosemnet.codec.xdlms import CosemAttributeDescriptor, GetRequestNormal, GetResponseNormal
from cosemnet.sansio import SansIOCore, TimerCore
from cosemnet.server import (
    ConnectionExpired,
    Datagram,
    MeterServer,
    ServedDevice,
    ServerAssociation,
)

from .helpers import ENERGY, T0, aarq, make_device

GET_ENERGY = GetRequestNormal(1, CosemAttributeDescriptor(3, ENERGY, 2)).encode()
TIMEOUT = 30.0


def test_every_server_core_is_a_sansio_core() -> None:
    server = MeterServer([make_device()], inactivity_timeout=TIMEOUT)
    cores = [server, server.open_connection(T0), ServerAssociation(ServedDevice(make_device()), 16)]
    for core in cores:
        assert isinstance(core, SansIOCore), type(core).__name__
        assert isinstance(core, TimerCore), type(core).__name__


def test_tcp_exchange_and_expiry_on_simulated_time() -> None:
    server = MeterServer([make_device()], inactivity_timeout=TIMEOUT)
    conn = server.open_connection(T0, ("192.0.2.1", 40000))
    stream = WrapperStream()
    # two inputs before popping: the answers wait in order, and one pop empties the queue
    conn.receive_data(WrapperFrame(16, 1, aarq()).encode(), T0)
    conn.receive_data(WrapperFrame(16, 1, GET_ENERGY).encode(), T0 + 10)
    chunks = conn.pop_outgoing()
    assert len(chunks) == 2 and conn.pop_outgoing() == []
    first, second = (stream.feed(chunk) for chunk in chunks)
    assert [(f.source_wport, f.destination_wport) for f in first + second] == [(1, 16), (1, 16)]
    assert AARE.decode(first[0].apdu).result == AssociationResult.ACCEPTED
    assert GetResponseNormal.decode(second[0].apdu).result == 123456
    # the inactivity deadline follows the last frame, on the server and on the connection
    assert server.get_timer() == conn.get_timer() == T0 + 10 + TIMEOUT
    server.handle_timer(T0 + 10 + TIMEOUT - 1)  # early: harmless
    assert server.pop_events() == [] and not conn.closed
    server.handle_timer(T0 + 10 + TIMEOUT)
    assert server.pop_events() == [ConnectionExpired(conn)]
    assert conn.closed and server.associations() == []
    assert server.get_timer() is None and conn.get_timer() is None
    server.handle_timer(T0 + 100)  # twice: harmless
    assert server.pop_events() == [] and server.pop_outgoing() == []
    conn.receive_data(WrapperFrame(16, 1, GET_ENERGY).encode(), T0 + 101)  # closed: nothing answered
    assert conn.pop_outgoing() == [] and conn.pop_events() == []


def test_a_connection_expires_through_its_own_timer_as_a_server_event() -> None:
    server = MeterServer([make_device()], inactivity_timeout=TIMEOUT)
    conn = server.open_connection(T0)
    other = server.open_connection(T0 + 5)
    deadline = conn.get_timer()
    assert deadline == T0 + TIMEOUT
    conn.handle_timer(deadline - 0.5)
    assert not conn.closed and server.pop_events() == []
    conn.handle_timer(deadline)
    assert conn.closed and server.pop_events() == [ConnectionExpired(conn)]
    conn.handle_timer(deadline + 1)  # twice: harmless, reported once
    assert server.pop_events() == []
    assert server.get_timer() == T0 + 5 + TIMEOUT  # only the other connection remains scheduled
    assert server.connection_count == 1 and not other.closed


def test_udp_exchange_gives_datagram_records_and_expiry_events() -> None:
    server = MeterServer([make_device()], inactivity_timeout=TIMEOUT)
    peer = ("2001:db8::1", 4059)
    server.receive_datagram(peer, WrapperFrame(16, 1, aarq()).encode(), T0)
    server.receive_datagram(peer, WrapperFrame(16, 1, GET_ENERGY).encode(), T0 + 1)
    server.receive_datagram(peer, b"\x00\x01", T0 + 1)  # not a wrapper frame: dropped, nothing queued
    out = server.pop_outgoing()
    assert [type(d) for d in out] == [Datagram, Datagram] and all(d.peer == peer for d in out)
    aare, answer = (WrapperFrame.decode(d.data) for d in out)
    assert AARE.decode(aare.apdu).result == AssociationResult.ACCEPTED
    assert GetResponseNormal.decode(answer.apdu).result == 123456
    assert server.pop_outgoing() == []
    assert server.get_timer() == T0 + 1 + TIMEOUT
    server.handle_timer(T0 + 1 + TIMEOUT)
    (event,) = server.pop_events()
    assert isinstance(event, ConnectionExpired) and event.connection.key == (peer, 16, 1)
    assert server.connection_count == 0 and server.get_timer() is None


def test_association_exchange_has_no_timer_and_no_events() -> None:
    association = ServerAssociation(ServedDevice(make_device()), 16)
    assert association.get_timer() is None
    association.receive_apdu(aarq(), T0)
    association.receive_apdu(GET_ENERGY, T0 + 1)
    aare, answer = association.pop_outgoing()
    assert AARE.decode(aare).result == AssociationResult.ACCEPTED
    assert GetResponseNormal.decode(answer).result == 123456
    assert association.pop_outgoing() == [] and association.pop_events() == []
    association.handle_timer(T0 + 1e6)  # nothing is ever due: the association stays
    assert association.associated and association.get_timer() is None
    association.receive_apdu(bytes.fromhex("6200"), T0 + 2)  # RLRQ
    (rlre,) = association.pop_outgoing()
    assert rlre[:1] == b"\x63" and not association.associated
