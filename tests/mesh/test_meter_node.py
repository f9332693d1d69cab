"""MeshMeterNode, sans-IO: registration with confirmation, retries, address updates, long-lived
associations keyed by wPorts, group requests with the broadcast key and randomised answers."""

from __future__ import annotations

import datetime as dt
import ipaddress
import itertools
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from cosemnet.client import ClientConfig, ClientConnection
from cosemnet.client.connection import Done, SendApdu
from cosemnet.codec.obis import Obis
from cosemnet.codec.types import DoubleLongUnsigned
from cosemnet.codec.wrapper import WrapperFrame
from cosemnet.codec.xdlms.common import CosemAttributeDescriptor
from cosemnet.codec.xdlms.get import GetRequestNormal, GetResponseNormal
from cosemnet.codec.xdlms.notification import DataNotification
from cosemnet.profiles.mesh import (
    AddressBook,
    AddressRegistrationData,
    AddressUpdateData,
    Condition,
    GroupDefinition,
    GroupMembership,
    MatchMode,
    MulticastScheme,
    Operator,
    PushSchedule,
    PushState,
    RegistrationReason,
    RepetitionDelay,
    ResponseWindow,
    decode_registration_body,
)
from cosemnet.profiles.mesh.meter_node import MeshMeterNode, Outgoing
from cosemnet.security.ciphering import protect_apdu, unprotect_apdu
from cosemnet.security.counters import MemoryInvocationCounter
from cosemnet.security.errors import SecurityError
from cosemnet.security.hls import Mechanism
from cosemnet.security.keys import KeyRole, KeySet
from cosemnet.simulator import build_meter
from cosemnet.simulator.mesh_fleet import fleet_profile

from .helpers import HeadEndSide

EK = bytes.fromhex("000102030405060708090A0B0C0D0E0F")  # Green Book test keys (public)
AK = bytes.fromhex("D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF")
START = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)
T0 = START.timestamp()
HEAD_END = ("2001:db8::1", 61616)
ENERGY = Obis.parse("1-0:1.8.0*255")
SCHEME = MulticastScheme()


def _node(serial: int = 1, **kwargs: object) -> MeshMeterNode:
    kwargs.setdefault("schedule", PushSchedule((), 10, 2, RepetitionDelay.constant(30)))
    kwargs.setdefault("rng", random.Random(serial))
    return MeshMeterNode(
        build_meter(fleet_profile(), serial=serial, seed=serial, start=START),
        address=f"2001:db8:1::{serial:x}",
        head_end=HEAD_END,
        seed=serial,
        **kwargs,  # type: ignore[arg-type]
    )


def _poll(node: MeshMeterNode, now: float) -> list[Outgoing]:
    """Run the node's timers at ``now``; everything it sends."""
    node.handle_timer(now)
    return node.pop_outgoing()


def _run_until(node: MeshMeterNode, until: float) -> list[Outgoing]:
    """Run the timers at every deadline up to ``until``; everything sent."""
    sent: list[Outgoing] = []
    while True:
        deadline = node.get_timer()
        if deadline is None or deadline > until:
            return sent
        sent.extend(_poll(node, deadline))


SIDE = HeadEndSide()


def _registration(item: Outgoing) -> tuple[WrapperFrame, DataNotification]:
    frame = WrapperFrame.decode(item.datagram)
    return frame, DataNotification.decode(SIDE.open(frame.apdu))


def _confirm(book: AddressBook, node: MeshMeterNode, item: Outgoing, now: float) -> None:
    frame, notification = _registration(item)
    handled = book.handle_notification(notification, now, sender_system_title=frame.apdu[2:10])
    assert handled is not None
    node.receive_datagram(HEAD_END, SIDE.reply(frame, handled[1].encode()), now)


def test_join_registers_within_the_randomisation_interval_until_confirmed() -> None:
    node = _node()
    node.join(T0)
    assert _poll(node, T0) == [] or node.get_timer() == T0  # the first attempt waits a random delay
    sent = _run_until(node, T0 + 10)
    assert len(sent) == 1 and sent[0].destination == HEAD_END
    assert T0 <= sent[0].send_at <= T0 + 10
    frame, notification = _registration(sent[0])
    assert (frame.source_wport, frame.destination_wport) == (1, 1)
    message = decode_registration_body(notification.notification_body)
    assert isinstance(message, AddressRegistrationData)
    assert message.system_title == node.system_title
    assert message.reason is RegistrationReason.JOIN
    assert message.addresses[0].address == ipaddress.IPv6Address("2001:db8:1::1")
    assert message.udp_port == 61616 and message.wport == 1
    book = AddressBook()
    _confirm(book, node, sent[0], sent[0].send_at + 0.2)
    assert node.registered and node.stats.confirmations == 1
    assert node.get_timer() is None
    entry = book.lookup(node.system_title)
    assert entry is not None and entry.primary_address == ipaddress.IPv6Address("2001:db8:1::1")


def test_unconfirmed_registration_is_retried_then_exhausted() -> None:
    node = _node()
    node.join(T0)
    sent = _run_until(node, T0 + 1000)
    assert len(sent) == 3  # first attempt + 2 retries
    assert [round(b.send_at - a.send_at) for a, b in itertools.pairwise(sent)] == [30, 30]
    assert node.registration.state is PushState.EXHAUSTED and node.stats.registration_exhausted == 1
    seqs = {decode_registration_body(_registration(s)[1].notification_body).sequence_number for s in sent}  # type: ignore[union-attr]
    assert seqs == {1}  # retries repeat the same message


def test_late_confirmation_of_a_retry_stops_it() -> None:
    node = _node()
    node.join(T0)
    sent = _run_until(node, T0 + 45)
    assert len(sent) == 2
    book = AddressBook()
    _confirm(book, node, sent[0], T0 + 46)  # the first attempt's confirmation, delayed
    assert node.registered and _run_until(node, T0 + 1000) == []


def test_address_change_pushes_address_update_data() -> None:
    book = AddressBook()
    node = _node()
    node.join(T0)
    (first,) = _run_until(node, T0 + 10)
    _confirm(book, node, first, T0 + 11)
    node.change_address("2001:db8:2::7", T0 + 100, udp_port=4059)
    assert not node.registered
    (update,) = _run_until(node, T0 + 110)
    message = decode_registration_body(_registration(update)[1].notification_body)
    assert isinstance(message, AddressUpdateData)
    assert message.previous_addresses[0].address == ipaddress.IPv6Address("2001:db8:1::1")
    assert message.addresses[0].address == ipaddress.IPv6Address("2001:db8:2::7")
    assert message.udp_port == 4059 and message.sequence_number == 2
    _confirm(book, node, update, T0 + 111)
    entry = book.lookup(node.system_title)
    assert entry is not None and entry.binding.udp_port == 4059
    assert [h.reason for h in book.history(node.system_title)] == [
        RegistrationReason.JOIN,
        RegistrationReason.ADDRESS_CHANGE,
    ]


def test_stale_answer_resynchronises_the_sequence_number() -> None:
    book = AddressBook()
    old = _node()
    old.join(T0)
    for _ in range(3):  # the head-end knows sequence 4 for this meter (join 1 replaced by 2, 3, 4)
        old.change_address("2001:db8:9::1", T0)
        (item,) = _run_until(old, T0 + 10)
        _confirm(book, old, item, T0)
    fresh = _node(sequence_number=0)  # same meter, counter lost (e.g. replaced board)
    fresh.join(T0 + 50)
    (item,) = _run_until(fresh, T0 + 60)
    _confirm(book, fresh, item, T0 + 61)  # STALE: re-announced above last_sequence
    assert not fresh.registered
    (again,) = _run_until(fresh, T0 + 61 + 10)
    message = decode_registration_body(_registration(again)[1].notification_body)
    assert message is not None and message.sequence_number == 5
    _confirm(book, fresh, again, T0 + 101)
    assert fresh.registered


def test_periodic_interval_from_the_confirmation_schedules_a_refresh() -> None:
    book = AddressBook()
    node = _node()
    node.join(T0)
    (item,) = _run_until(node, T0 + 10)
    frame, notification = _registration(item)
    handled = book.handle_notification(
        notification, T0, periodic_interval=3600, sender_system_title=node.system_title
    )
    assert handled is not None
    node.receive_datagram(HEAD_END, SIDE.reply(frame, handled[1].encode()), T0 + 11)
    assert node.registered and node.get_timer() == T0 + 11 + 3600
    (refresh,) = _run_until(node, T0 + 3611 + 10)
    message = decode_registration_body(_registration(refresh)[1].notification_body)
    assert isinstance(message, AddressRegistrationData) and message.reason is RegistrationReason.PERIODIC


def _is_registration(item: Outgoing) -> bool:
    apdu = WrapperFrame.decode(item.datagram).apdu
    if apdu[:1] == b"\xdb":
        try:
            apdu = SIDE.open(apdu)
        except SecurityError:
            return False
    return apdu[:1] == bytes((DataNotification.TAG,))


def _exchange(
    node: MeshMeterNode, client: ClientConnection, apdu: bytes, source: tuple[str, int], now: float
) -> object:
    event: object = SendApdu(apdu)
    while isinstance(event, SendApdu):
        node.receive_datagram(source, WrapperFrame(client.config.client_sap, 1, event.apdu).encode(), now)
        replies = [r for r in _poll(node, now) if not _is_registration(r)]
        assert len(replies) == 1 and replies[0].destination == source  # answered where it came from
        event = client.receive(WrapperFrame.decode(replies[0].datagram).apdu)
    assert isinstance(event, Done)
    return event.result


def _management(counter: int = 100) -> ClientConnection:
    return ClientConnection(
        ClientConfig(
            client_sap=1,
            mechanism=Mechanism.HLS_GMAC,
            keys=KeySet(ek=EK, ak=AK, broadcast_key=EK),
            system_title=bytes.fromhex("4D4D4D0000000001"),
            ciphering="general-glo",
            invocation_counter=MemoryInvocationCounter(counter),
        )
    )


def test_association_is_keyed_by_wports_not_by_addresses() -> None:
    node = _node()
    node.join(T0)
    client = _management()
    _exchange(node, client, client.associate(), HEAD_END, T0)
    a = _exchange(node, client, client.get(3, ENERGY, 2), HEAD_END, T0 + 3600)
    node.change_address("2001:db8:3::3", T0 + 3601)  # migration
    new_head_end = ("2001:db8::99", 5000)  # and the head-end moved too
    b = _exchange(node, client, client.get(3, ENERGY, 2), new_head_end, T0 + 7200)
    assert isinstance(a, DoubleLongUnsigned) and isinstance(b, DoubleLongUnsigned) and b > a
    assert len(node.server.associations()) == 1
    # a second client wPort is a second association
    public = ClientConnection(ClientConfig(client_sap=16))
    _exchange(node, public, public.associate(), new_head_end, T0 + 7201)
    assert len(node.server.associations()) == 2


def _group_request(client: ClientConnection, invoke_id: int = 3) -> bytes:
    assert client.security is not None
    client.security.invocation_counters.setdefault(KeyRole.GLOBAL_BROADCAST, MemoryInvocationCounter(1))
    plain = GetRequestNormal(invoke_id, CosemAttributeDescriptor(3, ENERGY, 2)).encode()
    return WrapperFrame(1, 127, protect_apdu(plain, client.security, "general-glo", broadcast=True)).encode()


def test_group_request_members_answer_within_the_window_others_stay_silent() -> None:
    window = ResponseWindow(1000, 9000)
    # conditional membership of group 7: energy register 1.8.0 >= 0 (always true), and static group 8
    condition = Condition(3, ENERGY, 2, Operator.GE, DoubleLongUnsigned(0))
    members = GroupMembership((GroupDefinition(7, MatchMode.ALL, (condition,)),))
    others = GroupMembership.static([8])
    nodes = [_node(i, membership=members if i % 2 else others, response_window=window) for i in range(1, 9)]
    clients = {}
    for node in nodes:
        node.join(T0)
        clients[node.system_title] = client = _management()
        _exchange(node, client, client.associate(), HEAD_END, T0)
    sent_at = T0 + 100
    delays = {}
    for node in nodes:
        request = _group_request(clients[node.system_title])
        node.receive_datagram(HEAD_END, request, sent_at, destination=SCHEME.address(7))
        early = [o for o in _poll(node, sent_at) if not _is_registration(o)]
        assert early == []  # never at once
        answers = [
            o for o in _run_until(node, sent_at + 60) if o.destination == HEAD_END and o.send_at >= sent_at
        ]
        answers = [o for o in answers if not _is_registration(o)]
        if node.membership is others:
            assert answers == [] and node.stats.group_not_member == 1
            continue
        (answer,) = answers
        delays[node.system_title] = answer.send_at - sent_at
        security = clients[node.system_title].security
        assert security is not None
        plain, _, header = unprotect_apdu(WrapperFrame.decode(answer.datagram).apdu, security)
        assert header is not None and header.security_control & 0x40
        response = GetResponseNormal.decode(plain)
        assert response.invoke_id == 3 and isinstance(response.result, DoubleLongUnsigned)
    assert len(delays) == 4
    assert all(1.0 <= d <= 9.0 for d in delays.values())
    assert len({round(d, 3) for d in delays.values()}) == 4  # spread


def test_group_request_delay_is_reproducible_with_the_seed() -> None:
    def delay() -> float:
        node = _node(3, membership=GroupMembership.static([5]))
        node.join(T0)
        client = _management()
        _exchange(node, client, client.associate(), HEAD_END, T0)
        node.receive_datagram(HEAD_END, _group_request(client), T0 + 1, destination=SCHEME.address(5))
        (answer,) = _run_until(node, T0 + 10)[-1:]
        return answer.send_at

    assert delay() == delay()


def test_unprotected_or_unassociated_group_requests_are_dropped() -> None:
    node = _node(membership=GroupMembership.static([5]))
    node.join(T0)
    client = _management()
    # no association yet: a correctly protected request cannot be executed
    other = _management()
    _node_for_keys = _node(9)
    _node_for_keys.join(T0)
    _exchange(_node_for_keys, other, other.associate(), HEAD_END, T0)
    node.receive_datagram(HEAD_END, _group_request(other), T0 + 1, destination=SCHEME.address(5))
    assert node.stats.group_no_association == 1 and node.pending() == 0
    _exchange(node, client, client.associate(), HEAD_END, T0 + 2)
    plain = GetRequestNormal(1, CosemAttributeDescriptor(3, ENERGY, 2)).encode()
    node.receive_datagram(
        HEAD_END, WrapperFrame(1, 127, plain).encode(), T0 + 3, destination=SCHEME.address(5)
    )
    assert client.security is not None
    unicast = protect_apdu(plain, client.security, "general-glo")  # unicast key, not broadcast
    node.receive_datagram(
        HEAD_END, WrapperFrame(1, 127, unicast).encode(), T0 + 4, destination=SCHEME.address(5)
    )
    assert node.stats.group_unprotected == 2 and node.pending() == 0
    node.receive_datagram(
        HEAD_END, _group_request(client), T0 + 5, destination=ipaddress.IPv6Address("ff02::1")
    )
    assert node.stats.group_not_a_group == 1
    node.receive_datagram(HEAD_END, _group_request(client), T0 + 6, destination=SCHEME.address(5))
    assert node.stats.group_executed == 1 and node.pending() == 1


def test_a_node_off_the_mesh_hears_nothing_and_rejoins() -> None:
    node = _node(membership=GroupMembership.static([5]))
    node.join(T0)
    (first,) = _run_until(node, T0 + 10)
    _confirm(AddressBook(), node, first, T0 + 10)
    assert node.registered
    node.leave(T0 + 11)
    assert not node.registered and node.get_timer() is None
    public = ClientConnection(ClientConfig(client_sap=16))
    node.receive_datagram(HEAD_END, WrapperFrame(16, 1, public.associate()).encode(), T0 + 2)
    assert _poll(node, T0 + 2) == [] and node.stats.dropped == 1
    node.join(T0 + 3)
    (item,) = _run_until(node, T0 + 20)
    message = decode_registration_body(_registration(item)[1].notification_body)
    assert isinstance(message, AddressRegistrationData) and message.reason is RegistrationReason.REJOIN


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64), st.sampled_from([1, 127]), st.sampled_from([0x0F, 0xDB, 0xC0, 0x60, 0xC8]))
def test_arbitrary_datagrams_never_raise(body: bytes, wport: int, tag: int) -> None:
    node = _FUZZ
    for data in (body, WrapperFrame(1, wport, bytes((tag,)) + body).encode()):
        node.receive_datagram(HEAD_END, data, T0 + 5, destination=SCHEME.address(5))
        _poll(node, T0 + 5)


_FUZZ = _node(99, membership=GroupMembership.static([5]))
_FUZZ.join(T0)
