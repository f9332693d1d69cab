"""ISO/IEC 14908-1 authentication (challenge/reply keyed by the domain key) and the legacy OMA digest.

Algorithm tests check the reply function against a second, literal computation and the OMA digest
against the published known answer; stack tests run whole transactions over the simulated power-line
channel in simulated time.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cosemnet.profiles.lon import (
    AddressFormat,
    ApplicationMessage,
    AuthPdu,
    AuthPduType,
    BroadcastAddress,
    GroupAddress,
    LonFrame,
    MulticastAckAddress,
    Npdu,
    Spdu,
    SubnetNodeAddress,
    Tpdu,
    TpduType,
    UniqueIdAddress,
)
from cosemnet.profiles.lon.authentication import (
    OMA_ITERATIONS,
    keyed_mix,
    new_challenge,
    oma_address,
    oma_reply,
    standard_reply,
)
from cosemnet.profiles.lon.netmgmt import NmResponse, UpdateKeyRequest
from cosemnet.profiles.lon.node import Domain, LonNode
from cosemnet.profiles.lon.oma_digest import oma_digest, verify_oma_digest
from cosemnet.profiles.lon.stack import (
    Completed,
    LonStack,
    ResponseReceived,
    Service,
    StackConfig,
)

from .strategies import auth_pdus, pdus
from .test_stack import DOMAIN, MSG, PID, Recorder, completions, configured, network, nid, received

KEY = bytes.fromhex("0123456789AB")
OTHER_KEY = bytes.fromhex("0123456789AC")

# ---------------------------------------------------------------- the algorithms


def literal_reply(key: bytes, challenge: bytes, data: bytes, iterations: int) -> bytes:
    """A second, literal computation of the reply (C integer semantics, byte truncation on store)."""
    out = list(challenge)
    size = len(data)
    while size > 0:
        for i in range(iterations):
            for j in range(7, -1, -1):
                k = (j + 1) % 8
                if size > 0:
                    size -= 1
                    m = data[size]
                else:
                    m = 0
                n = (~(out[j] + j)) % 256
                if key[i % len(key)] & (1 << (7 - j)):
                    out[j] = (out[k] + m + ((n << 1) + (n >> 7))) % 256
                else:
                    out[j] = (out[k] + m - ((n >> 1) + (n << 7))) % 256
    return bytes(out)


def test_oma_digest_known_answer() -> None:
    key = bytes([0xDF] * 12)
    message = bytes.fromhex("0202003000037F30EA6D0000000D0020980031C30008000000000011")
    assert oma_digest(key, message) == bytes.fromhex("DBE5CDE507B1CB3D")
    assert verify_oma_digest(key, message, bytes.fromhex("DBE5CDE507B1CB3D"))
    assert not verify_oma_digest(key, message, bytes.fromhex("DBE5CDE507B1CB3C"))
    assert not verify_oma_digest(bytes([0xDF] * 11) + b"\xde", message, bytes.fromhex("DBE5CDE507B1CB3D"))
    assert not verify_oma_digest(key, message + b"\x01", bytes.fromhex("DBE5CDE507B1CB3D"))
    assert not verify_oma_digest(key, message, bytes.fromhex("DBE5CDE507B1CB"))
    # one of its weaknesses: zero padding makes trailing zero bytes invisible
    assert verify_oma_digest(key, message + b"\x00", bytes.fromhex("DBE5CDE507B1CB3D"))
    assert not verify_oma_digest(key, message, bytes.fromhex("DBE5CDE507B1CB"))


def test_oma_digest_is_the_oma_mix_of_the_message_read_backwards_from_a_zero_state() -> None:
    key = bytes(range(1, 13))
    message = bytes(range(200))  # two 144-byte blocks
    assert oma_digest(key, message) == literal_reply(key, bytes(8), message[::-1], OMA_ITERATIONS)


@settings(max_examples=60, deadline=None)
@given(st.binary(min_size=6, max_size=6), st.binary(min_size=8, max_size=8), st.binary(max_size=120))
def test_standard_reply_matches_the_literal_computation(key: bytes, challenge: bytes, apdu: bytes) -> None:
    assert standard_reply(key, challenge, apdu) == literal_reply(key, challenge, apdu, 6)


@settings(max_examples=30, deadline=None)
@given(st.binary(min_size=12, max_size=12), st.binary(min_size=8, max_size=8), st.binary(max_size=200))
def test_oma_reply_matches_the_literal_computation(key: bytes, challenge: bytes, apdu: bytes) -> None:
    address = oma_address(AddressFormat.SUBNET_NODE, domain_id=DOMAIN, subnet=3, node=9)
    assert oma_reply(key, challenge, apdu, address) == literal_reply(key, challenge, address + apdu, 18)


def test_reply_depends_on_key_challenge_and_apdu() -> None:
    challenge, apdu = bytes(range(8)), MSG.encode()
    base = standard_reply(KEY, challenge, apdu)
    assert standard_reply(OTHER_KEY, challenge, apdu) != base
    assert standard_reply(KEY, bytes(range(1, 9)), apdu) != base
    assert standard_reply(KEY, challenge, apdu[:-1] + b"X") != base
    assert keyed_mix(challenge, KEY, 6, b"", 0) == challenge  # nothing to mix: no pass runs


def test_oma_address_layouts() -> None:
    assert oma_address(AddressFormat.UNIQUE_ID, unique_id=nid(7)) == nid(7) + b"\xff\xff\xff"
    assert oma_address(AddressFormat.SUBNET_NODE, domain_id=b"\x42", subnet=1, node=2) == bytes.fromhex(
        "420000000000010102"
    )
    assert oma_address(AddressFormat.GROUP, domain_id=b"\x01\x02\x03", group=5) == bytes.fromhex(
        "01020300000003" + "05ff"
    )
    assert oma_address(AddressFormat.BROADCAST, domain_id=bytes(6)) == bytes(6) + b"\x06\xff\xff"


def test_challenges_are_random() -> None:
    assert len({new_challenge() for _ in range(32)}) == 32


# ---------------------------------------------------------------- stack: helpers


def keyed(
    i: int, key: bytes = KEY, *, auth_type: int = 0, config: StackConfig | None = None
) -> tuple[LonStack, Recorder]:
    stack, rec = configured(i, config=config)
    set_key(stack, key, auth_type)
    return stack, rec


def set_key(stack: LonStack, key: bytes, auth_type: int = 0) -> None:
    d = stack.node.domains[0]
    assert d is not None
    stack.node.domains[0] = Domain(d.domain_id, d.subnet, d.node, key, auth_type)


def auth_frames(rec: Recorder, kind: AuthPduType) -> list[LonFrame]:
    return [f for f in rec.sent if isinstance(f.npdu.pdu, AuthPdu) and f.npdu.pdu.auth_pdu_type is kind]


def acks(rec: Recorder) -> list[LonFrame]:
    return [f for f in rec.sent if isinstance(f.npdu.pdu, Tpdu) and f.npdu.pdu.tpdu_type is TpduType.ACK]


# ---------------------------------------------------------------- stack: acknowledged and request/response


def test_authenticated_ackd_succeeds_with_the_right_key() -> None:
    (a, ra), (b, rb) = keyed(1), keyed(2)
    net = network(a, b)
    handle = a.send(SubnetNodeAddress(1, 2), MSG, Service.ACKD, auth=True, now=a.now)
    net.run()
    assert completions(net.events(0)) == [Completed(handle, True)]
    (msg,) = received(net.events(1))
    assert msg.apdu == MSG and msg.auth_requested and msg.authenticated
    # ACKD (auth bit) -> CHALLENGE -> REPLY -> ACK
    (sent,) = [f for f in ra.sent if isinstance(f.npdu.pdu, Tpdu)]
    assert isinstance(sent.npdu.pdu, Tpdu) and sent.npdu.pdu.auth
    (challenge,) = auth_frames(rb, AuthPduType.CHALLENGE)
    (reply,) = auth_frames(ra, AuthPduType.REPLY)
    assert isinstance(challenge.npdu.pdu, AuthPdu) and isinstance(reply.npdu.pdu, AuthPdu)
    assert challenge.npdu.destination == SubnetNodeAddress(1, 1)
    assert reply.npdu.destination == SubnetNodeAddress(1, 2)
    assert challenge.npdu.pdu.address_format == reply.npdu.pdu.address_format == AddressFormat.SUBNET_NODE
    assert reply.npdu.pdu.data == standard_reply(KEY, challenge.npdu.pdu.data, MSG.encode())
    assert len(acks(rb)) == 1
    assert b.statistics.challenges_sent == 1 and b.statistics.authentication_failures == 0


def test_authenticated_request_response_succeeds_with_the_right_key() -> None:
    (a, ra), (b, rb) = keyed(1), keyed(2)
    net = network(a, b)
    handle = a.send(SubnetNodeAddress(1, 2), MSG, Service.REQUEST, auth=True, now=a.now)
    net.run(0.5)
    (msg,) = received(net.events(1))
    assert msg.authenticated and msg.service is Service.REQUEST
    assert b.respond(msg.request_id, ApplicationMessage(0x11, b"42 kWh"), now=b.now)
    net.run()
    events = net.events(0)
    responses = [e.apdu for e in events if isinstance(e, ResponseReceived)]
    assert responses == [ApplicationMessage(0x11, b"42 kWh")]
    assert completions(events) == [Completed(handle, True)]
    assert len(auth_frames(rb, AuthPduType.CHALLENGE)) == 1 and len(auth_frames(ra, AuthPduType.REPLY)) == 1


@pytest.mark.parametrize("service", [Service.ACKD, Service.REQUEST])
def test_wrong_key_is_not_delivered_and_is_counted(service: Service) -> None:
    (a, _), (b, rb) = keyed(1, OTHER_KEY), keyed(2)
    net = network(a, b)
    handle = a.send(SubnetNodeAddress(1, 2), MSG, service, auth=True, retry_count=2, tx_timer=8, now=a.now)
    net.run()
    assert completions(net.events(0)) == [Completed(handle, False)]
    assert received(net.events(1)) == []
    assert b.statistics.authentication_failures == 1  # the retries hit the dropped record
    assert b.statistics.messages_validated == 0
    assert acks(rb) == [] and not [f for f in rb.sent if isinstance(f.npdu.pdu, Spdu)]


def test_wrong_key_delivered_unauthenticated_when_configured_like_lon_stack_dx() -> None:
    (a, _), (b, rb) = keyed(1, OTHER_KEY), keyed(2, config=StackConfig(deliver_unauthenticated=True))
    net = network(a, b)
    handle = a.send(SubnetNodeAddress(1, 2), MSG, auth=True, now=a.now)
    net.run()
    assert completions(net.events(0)) == [Completed(handle, True)]
    (msg,) = received(net.events(1))
    assert msg.auth_requested and not msg.authenticated
    assert b.statistics.authentication_failures == 1 and len(acks(rb)) == 1


def test_replayed_reply_is_rejected() -> None:
    (a, ra), (b, rb) = keyed(1), keyed(2)
    net = network(a, b)
    a.send(SubnetNodeAddress(1, 2), MSG, auth=True, now=a.now)
    net.run()
    assert len(received(net.events(1))) == 1
    (message,) = [f for f in ra.sent if isinstance(f.npdu.pdu, Tpdu)]
    (reply,) = auth_frames(ra, AuthPduType.REPLY)
    # the reply again while the record lives: no challenge outstanding, nothing happens
    now = net.channel.now
    b.receive_frame(reply.encode(), now)
    assert b.pop_events() == [] and b.statistics.late_ack == 1
    # after the receive record expired, the attacker replays the message and then the old reply
    now += 10.0
    b.handle_timer(now)
    b.receive_frame(message.encode(), now)
    (challenge2,) = [f for f in b.pop_outgoing() if isinstance(f.npdu.pdu, AuthPdu)]
    challenge1 = auth_frames(rb, AuthPduType.CHALLENGE)[0]
    assert isinstance(challenge2.npdu.pdu, AuthPdu) and isinstance(challenge1.npdu.pdu, AuthPdu)
    assert challenge2.npdu.pdu.data != challenge1.npdu.pdu.data  # a fresh random challenge
    b.receive_frame(reply.encode(), now + 0.1)
    assert b.pop_events() == []
    assert b.statistics.authentication_failures == 1
    assert [f for f in b.pop_outgoing() if isinstance(f.npdu.pdu, Tpdu)] == []  # not acknowledged


def test_forged_replies_never_deliver() -> None:
    (b, _) = keyed(2)
    message = LonFrame(Npdu(1, 1, SubnetNodeAddress(1, 2), Tpdu(TpduType.ACKD, 3, MSG, auth=True), DOMAIN))
    b.receive_frame(message.encode(), 0.0)
    (challenge,) = b.pop_outgoing()
    assert isinstance(challenge.npdu.pdu, AuthPdu)
    forged = AuthPdu(AuthPduType.REPLY, 3, AddressFormat.SUBNET_NODE, challenge.npdu.pdu.data)  # echo
    b.receive_frame(LonFrame(Npdu(1, 1, SubnetNodeAddress(1, 2), forged, DOMAIN)).encode(), 0.1)
    assert b.pop_events() == [] and b.statistics.authentication_failures == 1
    # the genuine reply now comes too late: the record was dropped
    right = standard_reply(KEY, challenge.npdu.pdu.data, MSG.encode())
    genuine = AuthPdu(AuthPduType.REPLY, 3, AddressFormat.SUBNET_NODE, right)
    b.receive_frame(LonFrame(Npdu(1, 1, SubnetNodeAddress(1, 2), genuine, DOMAIN)).encode(), 0.2)
    assert b.pop_events() == [] and b.statistics.late_ack == 1


def test_right_reply_from_a_hand_made_sender() -> None:
    (b, _) = keyed(2)
    message = LonFrame(Npdu(1, 1, SubnetNodeAddress(1, 2), Tpdu(TpduType.ACKD, 3, MSG, auth=True), DOMAIN))
    b.receive_frame(message.encode(), 0.0)
    (challenge,) = b.pop_outgoing()
    assert isinstance(challenge.npdu.pdu, AuthPdu)
    right = standard_reply(KEY, challenge.npdu.pdu.data, MSG.encode())
    reply = AuthPdu(AuthPduType.REPLY, 3, AddressFormat.SUBNET_NODE, right)
    b.receive_frame(LonFrame(Npdu(1, 1, SubnetNodeAddress(1, 2), reply, DOMAIN)).encode(), 0.1)
    (msg,) = received(b.pop_events())
    assert msg.authenticated
    (ack,) = b.pop_outgoing()
    assert isinstance(ack.npdu.pdu, Tpdu) and ack.npdu.pdu.tpdu_type is TpduType.ACK


def test_lost_challenge_and_reply_are_recovered_by_retries_with_the_same_challenge() -> None:
    (a, _), (b, rb) = keyed(1), keyed(2)
    net = network(a, b)
    net.channel.set_loss(1, 0, 1.0)  # B -> A lost: the first challenge never arrives
    handle = a.send(SubnetNodeAddress(1, 2), MSG, auth=True, tx_timer=8, now=a.now)
    net.run(0.2)
    net.channel.set_loss(1, 0, 0.0)
    net.run()
    assert completions(net.events(0)) == [Completed(handle, True)]
    assert len(received(net.events(1))) == 1
    challenges = auth_frames(rb, AuthPduType.CHALLENGE)
    assert len(challenges) >= 2 and len({f.encode() for f in challenges}) == 1


def test_update_key_then_authenticated_traffic_uses_the_new_key() -> None:
    (tool, _), (meter, _), (old, _) = keyed(1), keyed(2), keyed(3)
    net = network(tool, meter, old)
    increment = bytes.fromhex("010203040506")
    handle = tool.send(
        SubnetNodeAddress(1, 2),
        UpdateKeyRequest(0, increment).to_apdu(),
        Service.REQUEST,
        auth=True,
        now=tool.now,
    )
    net.run()
    responses = [e for e in net.events(0) if isinstance(e, ResponseReceived)]
    assert [NmResponse.decode(r.apdu.encode()).success for r in responses] == [True]
    assert completions(net.events(0)) == [Completed(handle, True)]
    new_key = UpdateKeyRequest(0, increment).apply(KEY)
    d = meter.node.domains[0]
    assert d is not None and d.authentication_key == new_key
    # a node still holding the old key is refused
    refused = old.send(SubnetNodeAddress(1, 2), MSG, auth=True, retry_count=1, tx_timer=8, now=old.now)
    net.run()
    assert completions(net.events(2)) == [Completed(refused, False)]
    assert meter.statistics.authentication_failures == 1
    # the tool moves to the new key too: accepted
    set_key(tool, new_key)
    ok = tool.send(SubnetNodeAddress(1, 2), MSG, auth=True, now=tool.now)
    net.run()
    assert completions(net.events(0))[-1] == Completed(ok, True)
    assert [m.authenticated for m in received(net.events(1))] == [True]


def test_authenticated_group_ackd_challenges_from_every_member() -> None:
    (a, ra), (b, rb), (c, rc) = keyed(1), keyed(2), keyed(3)
    for stack, member in ((b, 0), (c, 1)):
        stack.node.join_group(0, 0x20, member)
    net = network(a, b, c)
    handle = a.send(GroupAddress(0x20), MSG, auth=True, group_size=2, now=a.now)
    net.run()
    assert completions(net.events(0)) == [Completed(handle, True)]
    assert [m.authenticated for m in received(net.events(1)) + received(net.events(2))] == [True, True]
    for rec, member in ((rb, 0), (rc, 1)):
        (challenge,) = auth_frames(rec, AuthPduType.CHALLENGE)
        assert challenge.npdu.destination == MulticastAckAddress(1, 1, 0x20, member)
        assert isinstance(challenge.npdu.pdu, AuthPdu) and challenge.npdu.pdu.group == 0x20
    assert len(auth_frames(ra, AuthPduType.REPLY)) == 2


def test_authenticated_broadcast_and_unique_id_messages() -> None:
    (a, _), (b, _) = keyed(1), keyed(2)
    net = network(a, b)
    h1 = a.send(BroadcastAddress(1), MSG, auth=True, now=a.now)
    net.run()
    h2 = a.send(UniqueIdAddress(1, nid(2)), ApplicationMessage(0x12, b"by id"), auth=True, now=a.now)
    net.run()
    assert completions(net.events(0)) == [Completed(h1, True), Completed(h2, True)]
    assert [m.authenticated for m in received(net.events(1))] == [True, True]


@pytest.mark.parametrize("right", [True, False])
def test_oma_authentication(right: bool) -> None:
    (a, ra), (b, rb) = keyed(1, KEY if right else OTHER_KEY, auth_type=1), keyed(2, auth_type=1)
    net = network(a, b)
    handle = a.send(SubnetNodeAddress(1, 2), MSG, auth=True, retry_count=1, tx_timer=8, now=a.now)
    net.run()
    assert completions(net.events(0)) == [Completed(handle, right)]
    assert [m.authenticated for m in received(net.events(1))] == ([True] if right else [])
    (challenge,) = auth_frames(rb, AuthPduType.CHALLENGE_OMA)
    (reply,) = auth_frames(ra, AuthPduType.REPLY_OMA)
    assert isinstance(challenge.npdu.pdu, AuthPdu) and isinstance(reply.npdu.pdu, AuthPdu)
    key12 = (KEY if right else OTHER_KEY) + bytes(6)  # domain 1 empty: zeros
    address = oma_address(AddressFormat.SUBNET_NODE, domain_id=DOMAIN, subnet=1, node=2)
    assert reply.npdu.pdu.data == oma_reply(key12, challenge.npdu.pdu.data, MSG.encode(), address)
    assert b.statistics.authentication_failures == (0 if right else 1)


def test_enhanced_mode_authentication() -> None:
    config = StackConfig(enhanced=True)
    (a, ra), (b, rb) = keyed(1, config=config), keyed(2)
    net = network(a, b)
    handle = a.send(SubnetNodeAddress(1, 2), MSG, auth=True, now=a.now)
    net.run()
    assert completions(net.events(0)) == [Completed(handle, True)]
    (challenge,) = auth_frames(rb, AuthPduType.CHALLENGE)
    (reply,) = auth_frames(ra, AuthPduType.REPLY)
    assert challenge.npdu.version == reply.npdu.version == 2


def test_unconfigured_sender_in_the_flex_domain_is_not_answered() -> None:
    a = LonStack(LonNode(nid(1), PID))
    (b, _) = keyed(2)
    net = network(a, b)
    handle = a.send(
        SubnetNodeAddress(1, 2), MSG, auth=True, domain_id=DOMAIN, retry_count=1, tx_timer=8, now=a.now
    )
    net.run()
    assert completions(net.events(0)) == [Completed(handle, False)]
    assert received(net.events(1)) == []


@settings(max_examples=200, deadline=None)
@given(auth_pdus(st.integers(0, 15)), st.integers(0, 127), st.booleans())
def test_random_auth_pdus_never_raise_nor_deliver(pdu: AuthPdu, source_node: int, pending: bool) -> None:
    (b, _) = keyed(2)
    if pending:
        msg = LonFrame(Npdu(1, 1, SubnetNodeAddress(1, 2), Tpdu(TpduType.ACKD, 3, MSG, auth=True), DOMAIN))
        b.receive_frame(msg.encode(), 0.0)
    destination = SubnetNodeAddress(1, 2)
    b.receive_frame(LonFrame(Npdu(1, source_node, destination, pdu, DOMAIN)).encode(), 0.1)
    assert received(b.pop_events()) == []


def test_authenticated_message_addressed_2b_is_challenged_not_crashing() -> None:
    (b, _) = keyed(2)
    pdu = Tpdu(TpduType.ACKD, 3, MSG, auth=True)
    b.receive_frame(LonFrame(Npdu(1, 1, MulticastAckAddress(1, 2, 0x20, 0), pdu, DOMAIN)).encode(), 0.0)
    (challenge,) = b.pop_outgoing()
    assert isinstance(challenge.npdu.pdu, AuthPdu)
    assert challenge.npdu.pdu.address_format == AddressFormat.SUBNET_NODE
    assert b.pop_events() == []


TO_NODE_2 = st.sampled_from(
    [
        SubnetNodeAddress(1, 2),
        MulticastAckAddress(1, 2, 0x20, 0),
        BroadcastAddress(0),
        BroadcastAddress(1),
        GroupAddress(0x20),
        UniqueIdAddress(1, nid(2)),
    ]
)
HOSTILE = st.builds(
    lambda source, dst, pdu, version, priority: LonFrame(
        Npdu(1, source, dst, pdu, DOMAIN, version), priority
    ),
    st.integers(0, 127),
    TO_NODE_2,
    pdus(False),
    st.just(0),
    st.booleans(),
) | st.builds(
    lambda source, dst, pdu: LonFrame(Npdu(1, source, dst, pdu, DOMAIN, 2)),
    st.integers(0, 127),
    TO_NODE_2,
    pdus(True),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(HOSTILE, min_size=1, max_size=8), st.booleans())
def test_hostile_frame_sequences_never_raise_nor_authenticate(frames: list[LonFrame], oma: bool) -> None:
    (b, _) = keyed(2, auth_type=1 if oma else 0)
    b.node.join_group(0, 0x20, 0)
    b.send(SubnetNodeAddress(1, 1), MSG, auth=True, now=0.0)  # a transaction a challenge could be about
    now = 0.0
    for frame in frames:
        now += 0.05
        b.receive_frame(frame.encode(), now)
        b.handle_timer(now)
    for message in received(b.pop_events()):
        assert not message.authenticated  # nobody without the key can produce a matching reply
        assert not message.auth_requested  # ...so nothing asking for authentication is delivered
