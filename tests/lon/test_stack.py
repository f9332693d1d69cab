"""LonStack end to end over the simulated power-line channel: every service, duplicates, timers, NM."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cosemnet.errors import EncodeError
from cosemnet.profiles.lon import (
    ApplicationMessage,
    AuthPdu,
    AuthPduType,
    BroadcastAddress,
    GroupAddress,
    LonFrame,
    MulticastAckAddress,
    NetworkManagement,
    Npdu,
    Spdu,
    SpduType,
    SubnetNodeAddress,
    Tpdu,
    TpduType,
    UniqueIdAddress,
    members_of,
)
from cosemnet.profiles.lon.addresses import AddressFormat
from cosemnet.profiles.lon.channel import ChannelConfig, PowerLineChannel
from cosemnet.profiles.lon.lon_apdu import Apdu
from cosemnet.profiles.lon.netmgmt import (
    DomainEntry,
    NmResponse,
    QueryIdRequest,
    QueryIdResponse,
    QueryIdSelector,
    RespondToQueryRequest,
    ServicePinMessage,
    UpdateDomainRequest,
)
from cosemnet.profiles.lon.node import Domain, LonNode
from cosemnet.profiles.lon.stack import (
    Completed,
    Event,
    LonStack,
    MessageReceived,
    NetworkHook,
    ResponseReceived,
    Service,
    StackConfig,
)

DOMAIN = b"\x42"
PID = bytes.fromhex("9FFFFF0501020401")


def nid(i: int) -> bytes:
    return bytes((0x05, 0, 0, 0, 0, i))


class Recorder(NetworkHook):
    """Records every frame a stack sends."""

    def __init__(self) -> None:
        self.sent: list[LonFrame] = []

    def outbound(self, stack: LonStack, frame: LonFrame) -> LonFrame | None:
        self.sent.append(frame)
        return frame


def configured(i: int, subnet: int = 1, config: StackConfig | None = None) -> tuple[LonStack, Recorder]:
    rec = Recorder()
    return LonStack(LonNode.configured_in(nid(i), DOMAIN, subnet, i, PID), config, rec), rec


def unconfigured(i: int) -> LonStack:
    return LonStack(LonNode(nid(i), PID))


@dataclass
class Net:
    channel: PowerLineChannel
    stacks: list[LonStack]
    recorders: list[Recorder] = field(default_factory=list)
    log: dict[int, list[Event]] = field(default_factory=dict)

    def drain(self) -> None:
        for i, stack in enumerate(self.stacks):
            self.log.setdefault(i, []).extend(stack.pop_events())

    def events(self, i: int) -> list[Event]:
        self.drain()
        return self.log[i]

    def run(self, until: float | None = None) -> None:
        if until is None:
            self.channel.run_until_idle()
        else:
            self.channel.run_until(until)
        self.drain()


def network(*stacks: LonStack, seed: int = 1, config: ChannelConfig | None = None) -> Net:
    channel = PowerLineChannel(config, seed=seed)
    for stack in stacks:
        channel.attach(stack)
    return Net(channel, list(stacks))


def received(events: list[Event]) -> list[MessageReceived]:
    return [e for e in events if isinstance(e, MessageReceived)]


def completions(events: list[Event]) -> list[Completed]:
    return [e for e in events if isinstance(e, Completed)]


MSG = ApplicationMessage(0x10, b"reading please")


# ---------------------------------------------------------------- acknowledged


def test_ackd_unicast_delivered_once_and_acknowledged() -> None:
    (a, ra), (b, _) = configured(1), configured(2)
    net = network(a, b)
    handle = a.send(SubnetNodeAddress(1, 2), MSG, now=a.now)
    net.run()
    assert completions(net.events(0)) == [Completed(handle, True)]
    (msg,) = received(net.events(1))
    assert (msg.source_subnet, msg.source_node, msg.apdu, msg.service) == (1, 1, MSG, Service.ACKD)
    assert msg.domain_index == 0 and msg.domain_id == DOMAIN
    assert [type(f.npdu.pdu) for f in ra.sent] == [Tpdu]
    assert a.statistics.transmit_tx_retries == 0
    assert b.statistics.layer3_received == 1 and b.statistics.messages_validated == 1


def test_ackd_lost_ack_is_retried_and_the_duplicate_is_suppressed() -> None:
    (a, ra), (b, rb) = configured(1), configured(2)
    net = network(a, b)
    net.channel.set_loss(1, 0, 1.0)  # B -> A: the first ACK is lost
    handle = a.send(SubnetNodeAddress(1, 2), MSG, now=a.now)
    net.run(0.5)
    assert len(received(net.events(1))) == 1 and not completions(net.events(0))
    net.channel.set_loss(1, 0, 0.0)
    net.run()
    assert completions(net.events(0)) == [Completed(handle, True)]
    assert len(received(net.events(1))) == 1  # the retry was a duplicate: not delivered again
    acks = [f for f in rb.sent if isinstance(f.npdu.pdu, Tpdu) and f.npdu.pdu.tpdu_type is TpduType.ACK]
    assert len(acks) == 2  # ...but acknowledged again
    retries = [f for f in ra.sent if isinstance(f.npdu.pdu, Tpdu)]
    assert len(retries) == 2 and retries[0].npdu.pdu == retries[1].npdu.pdu
    assert a.statistics.transmit_tx_retries == 1
    assert b.statistics.messages_received == 2 and b.statistics.messages_validated == 1


def test_ackd_with_random_loss_delivers_each_message_exactly_once() -> None:
    (a, _), (b, _) = configured(1), configured(2)
    net = network(a, b, seed=7)
    net.channel.set_loss(0, 1, 0.3, symmetric=True)
    handles = [
        a.send(SubnetNodeAddress(1, 2), ApplicationMessage(0x10, bytes([i])), now=a.now) for i in range(60)
    ]
    net.run()
    done = completions(net.events(0))
    assert [c.handle for c in done] == handles
    delivered = [m.apdu for m in received(net.events(1))]
    ok = [c.handle for c in done if c.success]
    # every successful send was delivered exactly once, in order; failures at most once
    assert len(delivered) == len(set(map(repr, delivered)))
    assert len(ok) >= 50
    assert a.statistics.transmit_tx_retries > 0
    assert net.channel.statistics.losses > 0
    assert a.statistics.transmit_tx_failure == len(done) - len(ok)


def test_timer_expiry_gives_a_failure_event() -> None:
    (a, ra), (b, _) = configured(1), configured(2)
    net = network(a, b)
    net.channel.unlink(0, 1)
    start = net.channel.now
    handle = a.send(SubnetNodeAddress(1, 2), MSG, retry_count=2, tx_timer=8, now=a.now)  # 256 ms
    net.run()
    assert completions(net.events(0)) == [Completed(handle, False)]
    assert len(ra.sent) == 3
    assert a.statistics.transmit_tx_failure == 1 and a.statistics.transmit_tx_retries == 2
    assert net.channel.now - start == pytest.approx(3 * 0.256, abs=0.01)
    assert not received(net.events(1))


def test_sends_queue_behind_the_transaction_in_progress() -> None:
    (a, ra), (b, _) = configured(1), configured(2)
    net = network(a, b)
    h1 = a.send(SubnetNodeAddress(1, 2), ApplicationMessage(0x10, b"1"), now=a.now)
    h2 = a.send(SubnetNodeAddress(1, 2), ApplicationMessage(0x10, b"2"), now=a.now)
    assert len(ra.sent) == 1  # the second waits
    net.run()
    assert [c.handle for c in completions(net.events(0))] == [h1, h2]
    tids = [f.npdu.pdu.transaction_number for f in ra.sent if isinstance(f.npdu.pdu, Tpdu)]
    assert tids == [1, 2]
    assert [m.apdu for m in received(net.events(1))] == [
        ApplicationMessage(0x10, b"1"),
        ApplicationMessage(0x10, b"2"),
    ]


def test_priority_and_normal_transactions_run_side_by_side() -> None:
    (a, ra), (b, _) = configured(1), configured(2)
    net = network(a, b)
    a.send(SubnetNodeAddress(1, 2), ApplicationMessage(0x10, b"n"), now=a.now)
    a.send(SubnetNodeAddress(1, 2), ApplicationMessage(0x10, b"p"), priority=True, now=a.now)
    assert len(ra.sent) == 2 and {f.priority for f in ra.sent} == {False, True}
    net.run()
    assert all(c.success for c in completions(net.events(0)))
    assert {m.priority for m in received(net.events(1))} == {False, True}


# ---------------------------------------------------------------- unacknowledged (repeated)


def test_unackd_rpt_sends_repeat_count_plus_one_and_delivers_once() -> None:
    (a, ra), (b, _) = configured(1), configured(2)
    net = network(a, b)
    handle = a.send(SubnetNodeAddress(1, 2), MSG, Service.UNACKD_RPT, retry_count=2, now=a.now)
    net.run()
    assert len(ra.sent) == 3
    pdus = [f.npdu.pdu for f in ra.sent]
    assert all(isinstance(p, Tpdu) and p.tpdu_type is TpduType.UNACKD_RPT for p in pdus)
    assert len({p.transaction_number for p in pdus if isinstance(p, Tpdu)}) == 1
    assert [f.delta_backlog for f in ra.sent] == [2, 0, 0]
    assert completions(net.events(0)) == [Completed(handle, True)]
    assert len(received(net.events(1))) == 1 and received(net.events(1))[0].service is Service.UNACKD_RPT
    assert b.statistics.messages_received == 3


def test_unackd_rpt_reaches_a_lossy_receiver_on_a_repeat() -> None:
    (a, _), (b, _) = configured(1), configured(2)
    net = network(a, b, seed=3)
    net.channel.set_loss(0, 1, 0.6)
    for i in range(20):
        a.send(SubnetNodeAddress(1, 2), ApplicationMessage(0x10, bytes([i])), Service.UNACKD_RPT, now=a.now)
    net.run()
    got = [m.apdu for m in received(net.events(1))]
    assert len(got) == len({repr(x) for x in got})  # no duplicates
    assert 15 <= len(got) <= 20  # 1 - 0.6**4 = 87 % per message
    assert net.channel.statistics.losses > 0


def test_unackd_is_sent_once_without_transaction() -> None:
    (a, ra), (b, _) = configured(1), configured(2)
    net = network(a, b)
    handle = a.send(SubnetNodeAddress(1, 2), MSG, Service.UNACKD, now=a.now)
    assert completions(a.pop_events()) == [Completed(handle, True)]
    net.run()
    assert len(ra.sent) == 1 and ra.sent[0].npdu.pdu == MSG
    (msg,) = received(net.events(1))
    assert msg.service is Service.UNACKD


# ---------------------------------------------------------------- request / response


def test_request_response_with_a_lost_response_resent_from_the_record() -> None:
    (a, _), (b, rb) = configured(1), configured(2)
    net = network(a, b)
    net.channel.set_loss(1, 0, 1.0)
    handle = a.send(SubnetNodeAddress(1, 2), MSG, Service.REQUEST, now=a.now)
    net.run(0.3)
    (request,) = received(net.events(1))
    assert request.service is Service.REQUEST and request.request_id
    answer = ApplicationMessage(0x11, b"42 kWh")
    assert b.respond(request.request_id, answer, now=b.now)
    assert not b.respond(request.request_id, answer, now=b.now)  # already answered
    net.run(0.5)  # the response is lost
    net.channel.set_loss(1, 0, 0.0)
    net.run()
    events = net.events(0)
    assert [e for e in events if isinstance(e, ResponseReceived)] == [ResponseReceived(handle, 1, 2, answer)]
    assert completions(events) == [Completed(handle, True)]
    assert len(received(net.events(1))) == 1  # the retried request was not delivered again
    responses = [f for f in rb.sent if isinstance(f.npdu.pdu, Spdu)]
    assert len(responses) == 2 and len(rb.sent) == 2
    assert all(
        isinstance(p, Spdu) and p.spdu_type is SpduType.RESPONSE for p in (f.npdu.pdu for f in responses)
    )
    assert responses[0].encode() == responses[1].encode()


def test_request_without_response_fails() -> None:
    (a, _), (b, _) = configured(1), configured(2)
    net = network(a, b)
    handle = a.send(SubnetNodeAddress(1, 2), MSG, Service.REQUEST, retry_count=1, tx_timer=6, now=a.now)
    net.run()
    assert completions(net.events(0)) == [Completed(handle, False)]
    (request,) = received(net.events(1))
    assert not b.respond(request.request_id + 1, MSG, now=b.now)  # unknown request id


def test_null_response_sends_nothing() -> None:
    (a, _), (b, rb) = configured(1), configured(2)
    net = network(a, b)
    a.send(SubnetNodeAddress(1, 2), MSG, Service.REQUEST, retry_count=1, tx_timer=6, now=a.now)
    net.run(0.2)
    (request,) = received(net.events(1))
    assert b.respond(request.request_id, None, now=b.now)
    net.run()
    assert rb.sent == []


# ---------------------------------------------------------------- multicast


def group_net(members: dict[int, int], seed: int = 1) -> tuple[Net, list[Recorder]]:
    """Node 1 sends to group 5; node i (key) is member members[i]."""
    pairs = [configured(1)] + [configured(i) for i in members]
    for (stack, _), (i, member) in zip(pairs[1:], members.items(), strict=True):
        assert stack.node.domains[0] is not None and i == stack.node.domains[0].node
        stack.node.join_group(0, 5, member)
    net = network(*(s for s, _ in pairs), seed=seed)
    return net, [r for _, r in pairs]


def test_multicast_ackd_retries_with_rem_msg_carrying_the_members_that_acked() -> None:
    net, recs = group_net({2: 0, 3: 1, 4: 2})
    net.channel.set_loss(2, 0, 1.0)  # member 1 (station 2) cannot reach the sender at first
    handle = net.stacks[0].send(GroupAddress(5), MSG, group_size=3, now=net.stacks[0].now)
    net.run(0.7)
    net.channel.set_loss(2, 0, 0.0)
    net.run()
    assert completions(net.events(0)) == [Completed(handle, True)]
    sent = [f.npdu.pdu for f in recs[0].sent]
    assert isinstance(sent[0], Tpdu) and sent[0].tpdu_type is TpduType.ACKD
    retry = sent[1]
    assert isinstance(retry, Tpdu) and retry.tpdu_type is TpduType.REM_MSG
    assert retry.m_list is not None and members_of(retry.m_list) == {0, 2}
    assert recs[0].sent[1].delta_backlog == 1  # one acknowledgement outstanding
    for i in (1, 2, 3):
        assert len(received(net.events(i))) == 1
    # members 0 and 2 saw their bit set: they did not acknowledge again
    for rec in (recs[1], recs[3]):
        assert len(rec.sent) == 1
        ack = rec.sent[0].npdu
        assert isinstance(ack.destination, MulticastAckAddress) and ack.destination.group == 5
    assert len(recs[2].sent) == 2  # member 1 acknowledged twice
    assert recs[2].sent[1].npdu.destination == MulticastAckAddress(1, 1, 5, 1)


def test_multicast_long_member_list_goes_in_a_reminder_then_the_message() -> None:
    net, recs = group_net({2: 20, 3: 1})
    net.channel.set_loss(2, 0, 1.0)  # member 1 lost
    handle = net.stacks[0].send(GroupAddress(5), MSG, group_size=2, now=net.stacks[0].now)
    net.run(0.7)
    net.channel.set_loss(2, 0, 0.0)
    net.run()
    assert completions(net.events(0)) == [Completed(handle, True)]
    pdus = [f.npdu.pdu for f in recs[0].sent]
    assert [p.tpdu_type for p in pdus if isinstance(p, Tpdu)][:3] == [
        TpduType.ACKD,
        TpduType.REMINDER,
        TpduType.ACKD,
    ]
    reminder = pdus[1]
    assert isinstance(reminder, Tpdu) and reminder.m_list == bytes((0, 0, 0x10))  # member 20 = byte 2, bit 4
    assert len(received(net.events(1))) == 1 and len(received(net.events(2))) == 1
    assert len(recs[1].sent) == 1  # member 20 did not acknowledge again


def test_multicast_request_collects_one_response_per_member() -> None:
    net, _ = group_net({2: 0, 3: 1})
    handle = net.stacks[0].send(GroupAddress(5), MSG, Service.REQUEST, group_size=2, now=net.stacks[0].now)
    net.run(0.3)
    for i in (1, 2):
        (req,) = received(net.events(i))
        assert net.stacks[i].respond(
            req.request_id, ApplicationMessage(0x11, bytes([i])), now=net.stacks[i].now
        )
    net.run()
    responses = [e for e in net.events(0) if isinstance(e, ResponseReceived)]
    assert sorted((r.member, r.apdu.encode()) for r in responses) == [(0, b"\x11\x01"), (1, b"\x11\x02")]
    assert completions(net.events(0)) == [Completed(handle, True)]


def test_multicast_fails_when_a_member_never_answers() -> None:
    net, _ = group_net({2: 0, 3: 1})
    net.channel.unlink(0, 2)
    handle = net.stacks[0].send(
        GroupAddress(5), MSG, group_size=2, retry_count=2, tx_timer=8, now=net.stacks[0].now
    )
    net.run()
    assert completions(net.events(0)) == [Completed(handle, False)]


def test_group_sends_need_a_group_size() -> None:
    (a, _) = configured(1)
    with pytest.raises(EncodeError):
        a.send(GroupAddress(5), MSG, now=a.now)
    with pytest.raises(EncodeError):
        a.send(MulticastAckAddress(1, 2, 5, 0), MSG, now=a.now)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"tx_timer": 16},
        {"retry_count": 16},
        {"max_responses": 0},
        {"domain_id": b"\x01\x02"},  # 2-byte domain IDs do not exist
    ],
)
def test_bad_send_parameters_fail_at_send_time(kwargs: dict[str, object]) -> None:
    (a, ra) = configured(1)
    with pytest.raises(EncodeError):
        a.send(SubnetNodeAddress(1, 2), MSG, **kwargs, now=a.now)  # type: ignore[arg-type]
    with pytest.raises(EncodeError):
        a.send(SubnetNodeAddress(1, 200), MSG, now=a.now)
    with pytest.raises(EncodeError):
        a.send(SubnetNodeAddress(1, 2), ApplicationMessage(0x40, b""), now=a.now)
    assert ra.sent == [] and not a.busy()


# ---------------------------------------------------------------- receive records


def test_receive_records_expire_after_the_receive_timer() -> None:
    (a, _), (b, _) = configured(1), configured(2)
    net = network(a, b)
    a.send(SubnetNodeAddress(1, 2), MSG, now=a.now)
    net.run()
    assert b._records.get_timer() is not None
    t = net.channel.now
    net.run(t + 4.2)  # default receive timer 4096 ms
    assert len(b._records) == 0
    # the same transaction number and APDU after expiry is a new message again
    frame = LonFrame(Npdu(1, 1, SubnetNodeAddress(1, 2), Tpdu(TpduType.ACKD, 1, MSG), DOMAIN))
    b.receive_frame(frame.encode(), t + 5)
    assert len(received(b.pop_events())) == 1


def test_receive_transaction_table_full_is_counted() -> None:
    b = LonStack(LonNode.configured_in(nid(2), DOMAIN, 1, 2), StackConfig(receive_records=1))
    for source in (1, 3):
        frame = LonFrame(Npdu(1, source, SubnetNodeAddress(1, 2), Tpdu(TpduType.ACKD, 1, MSG), DOMAIN))
        b.receive_frame(frame.encode(), 0.0)
    assert b.statistics.receive_tx_full == 1
    assert len(received(b.pop_events())) == 1


def test_bad_crc_and_foreign_frames_are_counted_not_delivered() -> None:
    b = LonStack(LonNode.configured_in(nid(2), DOMAIN, 1, 2))
    good = LonFrame(Npdu(1, 1, SubnetNodeAddress(1, 2), MSG, DOMAIN)).encode()
    b.receive_frame(good[:-1] + bytes((good[-1] ^ 1,)), 0.0)
    assert b.statistics.transmission_errors == 1 and b.statistics.layer2_received == 0
    b.receive_frame(LonFrame(Npdu(1, 1, SubnetNodeAddress(1, 3), MSG, DOMAIN)).encode(), 0.0)
    b.receive_frame(LonFrame(Npdu(1, 1, SubnetNodeAddress(1, 2), MSG, b"\x43")).encode(), 0.0)
    b.receive_frame(LonFrame(Npdu(1, 2, BroadcastAddress(0), MSG, DOMAIN)).encode(), 0.0)  # own address
    assert b.statistics.layer2_received == 3 and b.statistics.layer3_received == 0
    assert b.pop_events() == []
    b.receive_frame(good, 0.0)
    assert b.statistics.layer3_received == 1 and len(b.pop_events()) == 1


def test_stale_ack_is_counted_as_late() -> None:
    (a, _) = configured(1)
    ack = LonFrame(Npdu(1, 2, SubnetNodeAddress(1, 1), Tpdu(TpduType.ACK, 9), DOMAIN))
    a.receive_frame(ack.encode(), 0.0)
    assert a.statistics.late_ack == 1


# ---------------------------------------------------------------- authentication hook, network hook


class Verdict:
    def __init__(self, answer: bool) -> None:
        self.answer = answer
        self.calls = 0

    def authenticate(self, domain: Domain | None, source_subnet: int, source_node: int, apdu: Apdu) -> bool:
        self.calls += 1
        return self.answer


@pytest.mark.parametrize("answer", [True, False])
def test_authentication_hook_decides_delivery(answer: bool) -> None:
    (a, _), (b, _) = configured(1), configured(2)
    verdict = Verdict(answer)
    b.node.authenticator = verdict
    net = network(a, b)
    handle = a.send(SubnetNodeAddress(1, 2), MSG, auth=True, retry_count=1, tx_timer=6, now=a.now)
    net.run()
    assert completions(net.events(0)) == [Completed(handle, answer)]
    msgs = received(net.events(1))
    if answer:
        assert len(msgs) == 1 and msgs[0].auth_requested and msgs[0].authenticated
    else:
        assert msgs == []
    assert verdict.calls == 1  # retries of a refused message are not re-examined


def test_without_authenticator_auth_requested_is_authenticated_by_challenge_reply() -> None:
    (a, _), (b, _) = configured(1), configured(2)
    net = network(a, b)
    a.send(SubnetNodeAddress(1, 2), MSG, auth=True, now=a.now)
    net.run()
    (msg,) = received(net.events(1))
    assert msg.auth_requested and msg.authenticated
    assert b.statistics.challenges_sent == 1


def test_unconfigured_node_does_not_challenge() -> None:
    a, b = configured(1)[0], unconfigured(2)
    net = network(a, b)
    a.send(UniqueIdAddress(0, nid(2)), MSG, auth=True, now=a.now)
    net.run()
    (msg,) = received(net.events(1))
    assert msg.auth_requested and not msg.authenticated
    assert b.statistics.challenges_sent == 0


def test_stray_challenge_is_ignored() -> None:
    (b, _) = configured(2)
    challenge = AuthPdu(AuthPduType.CHALLENGE, 1, AddressFormat.SUBNET_NODE, bytes(8))
    b.receive_frame(LonFrame(Npdu(1, 1, SubnetNodeAddress(1, 2), challenge, DOMAIN)).encode(), 0.0)
    assert b.pop_events() == [] and b.pop_outgoing() == []
    assert b.statistics.late_ack == 1


def test_network_hook_can_consume_inbound_frames() -> None:
    class Swallow(NetworkHook):
        def __init__(self) -> None:
            self.seen = 0

        def inbound(self, stack: LonStack, frame: LonFrame, now: float) -> bool:
            self.seen += 1
            return True

    hook = Swallow()
    b = LonStack(LonNode.configured_in(nid(2), DOMAIN, 1, 2), hook=hook)
    b.receive_frame(LonFrame(Npdu(1, 1, SubnetNodeAddress(1, 2), MSG, DOMAIN)).encode(), 0.0)
    assert hook.seen == 1 and b.pop_events() == [] and b.statistics.layer3_received == 0


def test_enhanced_mode_sends_version_2_with_12_bit_transaction_numbers() -> None:
    (a, ra) = configured(1, config=StackConfig(enhanced=True))
    (b, rb) = configured(2)
    net = network(a, b)
    handle = a.send(SubnetNodeAddress(1, 2), MSG, now=a.now)
    net.run()
    assert completions(net.events(0)) == [Completed(handle, True)]
    assert ra.sent[0].npdu.version == 2 and rb.sent[0].npdu.version == 2  # the ACK answers in kind


# ---------------------------------------------------------------- network management


def tool(config: StackConfig | None = None) -> tuple[LonStack, Recorder]:
    """A commissioning tool (NNAP side): configured in DOMAIN and in the zero-length domain."""
    stack, rec = configured(100, config=config)
    stack.node.domains[1] = Domain(b"", 1, 126)
    return stack, rec


def test_query_id_finds_the_unconfigured_nodes_over_the_channel() -> None:
    (t, _) = tool()
    nodes = [unconfigured(i) for i in (11, 12, 13)]
    (c, rc) = configured(2)
    net = network(t, *nodes, c, seed=5)
    handle = t.send(
        BroadcastAddress(0),
        QueryIdRequest(QueryIdSelector.UNCONFIGURED).to_apdu(),
        Service.REQUEST,
        now=t.now,
    )
    net.run()
    responses = [e for e in net.events(0) if isinstance(e, ResponseReceived)]
    ids = sorted(QueryIdResponse.from_apdu(r.apdu).unique_id for r in responses)  # type: ignore[arg-type]
    assert ids == [nid(11), nid(12), nid(13)]
    assert all((r.source_subnet, r.source_node) == (0, 0) for r in responses)
    assert all(QueryIdResponse.from_apdu(r.apdu).program_id == PID for r in responses)  # type: ignore[arg-type]
    assert completions(net.events(0)) == [Completed(handle, True)]
    assert rc.sent == []  # the configured node gave a null response


def test_query_id_selected_after_respond_to_query() -> None:
    (t, _) = tool()
    n = unconfigured(11)
    (c, _) = configured(2)
    net = network(t, n, c)
    t.send(UniqueIdAddress(0, nid(2)), RespondToQueryRequest(True).to_apdu(), Service.REQUEST, now=t.now)
    net.run()
    assert [e.apdu for e in net.events(0) if isinstance(e, ResponseReceived)] == [
        NmResponse(0x62, True).to_apdu()
    ]
    assert c.node.respond_to_query
    handle = t.send(
        BroadcastAddress(0),
        QueryIdRequest(QueryIdSelector.SELECTED).to_apdu(),
        Service.REQUEST,
        max_responses=1,
        now=t.now,
    )
    net.run()
    responses = [e for e in net.events(0) if isinstance(e, ResponseReceived) and e.handle == handle]
    assert [QueryIdResponse.from_apdu(r.apdu).unique_id for r in responses] == [nid(2)]  # type: ignore[arg-type]


def test_update_domain_commissions_an_unconfigured_node() -> None:
    (t, _) = tool()
    n = unconfigured(11)
    net = network(t, n)
    entry = DomainEntry(DOMAIN + bytes(5), 1, 9, 1, bytes(6))
    handle = t.send(
        UniqueIdAddress(0, nid(11)), UpdateDomainRequest(0, entry).to_apdu(), Service.REQUEST, now=t.now
    )
    net.run()
    (resp,) = [e for e in net.events(0) if isinstance(e, ResponseReceived)]
    assert resp.apdu == NmResponse(0x63, True).to_apdu() and (resp.source_subnet, resp.source_node) == (0, 0)
    assert completions(net.events(0)) == [Completed(handle, True)]
    assert n.node.configured and n.node.domains[0] == Domain(DOMAIN, 1, 9)
    # the new identity is reachable by subnet/node, and no longer answers "unconfigured" queries
    handle = t.send(SubnetNodeAddress(1, 9), MSG, now=t.now)
    net.run()
    assert Completed(handle, True) in net.events(0)
    assert received(net.events(1))[-1].apdu == MSG
    handle = t.send(
        BroadcastAddress(0),
        QueryIdRequest(QueryIdSelector.UNCONFIGURED).to_apdu(),
        Service.REQUEST,
        retry_count=1,
        now=t.now,
    )
    net.run()
    assert not [e for e in net.events(0) if isinstance(e, ResponseReceived) and e.handle == handle]


def test_unknown_nm_request_gets_a_failure_response() -> None:
    (t, _) = tool()
    (c, _) = configured(2)
    net = network(t, c)
    t.send(SubnetNodeAddress(1, 2), NetworkManagement(0x6D, b""), Service.REQUEST, now=t.now)
    net.run()
    (resp,) = [e for e in net.events(0) if isinstance(e, ResponseReceived)]
    assert resp.apdu == NmResponse(0x6D, False).to_apdu()


def test_service_pin_message_is_broadcast() -> None:
    (t, _) = tool()
    n = unconfigured(11)
    (c, _) = configured(2)
    net = network(t, n, c)
    n.service_pin(n.now)
    net.run()
    (pin,) = received(net.events(0))
    assert pin.service is Service.UNACKD and pin.domain_id == b"" and pin.destination == BroadcastAddress(0)
    assert isinstance(pin.apdu, NetworkManagement)
    assert ServicePinMessage.from_apdu(pin.apdu) == ServicePinMessage(nid(11), PID)
    assert received(net.events(2)) == []  # a configured node in another domain does not hear it
    c.service_pin(c.now)
    net.run()
    (pin2,) = received(net.events(0))[1:]
    assert pin2.domain_id == DOMAIN and (pin2.source_subnet, pin2.source_node) == (1, 2)


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    loss=st.sampled_from([0.0, 0.2, 0.5]),
    service=st.sampled_from([Service.ACKD, Service.REQUEST]),
)
def test_lossy_channel_never_delivers_twice_and_successes_are_delivered(
    seed: int, loss: float, service: Service
) -> None:
    (a, _), (b, _) = configured(1), configured(2)
    net = network(a, b, seed=seed)
    net.channel.set_loss(0, 1, loss, symmetric=True)
    apdus: list[Apdu] = [ApplicationMessage(0x10, bytes((i,))) for i in range(8)]
    handles = {a.send(SubnetNodeAddress(1, 2), apdu, service, now=a.now): apdu for apdu in apdus}
    while not net.channel.idle():
        net.channel.step(net.channel.now + 3600)
        for event in b.pop_events():
            net.log.setdefault(1, []).append(event)
            if isinstance(event, MessageReceived) and event.request_id:
                assert b.respond(event.request_id, ApplicationMessage(0x11, event.apdu.encode()), now=b.now)
    net.drain()
    delivered = [m.apdu for m in received(net.events(1))]
    assert len(delivered) == len(set(map(repr, delivered)))
    assert [apdus.index(d) for d in delivered] == sorted(apdus.index(d) for d in delivered)  # in order
    done = completions(net.events(0))
    assert sorted(c.handle for c in done) == sorted(handles)
    for c in done:
        if c.success:
            assert handles[c.handle] in delivered
    if service is Service.REQUEST:
        answers = [e for e in net.events(0) if isinstance(e, ResponseReceived)]
        assert {r.handle for r in answers} == {c.handle for c in done if c.success}
        for r in answers:
            assert r.apdu == ApplicationMessage(0x11, handles[r.handle].encode())
