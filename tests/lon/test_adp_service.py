"""ADP_DATA service (decision 0012) over a fake 14908-1 lower layer: service choice, addressing,
segmented transfers with stop-and-wait, protection policy, aborts, timers and hostile input."""

from __future__ import annotations

import random
from collections.abc import Hashable
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cosemnet.errors import EncodeError
from cosemnet.profiles.lon.addresses import Address, BroadcastAddress, GroupAddress, SubnetNodeAddress
from cosemnet.profiles.lon.adp import (
    ADP_MESSAGE_CODE,
    AbortReason,
    AdpAbort,
    AdpData,
    AdpDirection,
    AdpSecurityError,
    AdpSegmentAck,
    Segmentation,
    decode_adp_pdu,
)
from cosemnet.profiles.lon.adp_service import (
    AddressTable,
    AdpConfig,
    AdpDataConfirm,
    AdpDataIndication,
    AdpDropped,
    AdpEvent,
    AdpLowerLayer,
    AdpResult,
    AdpService,
    LonService,
    StaticSuites,
    address_key,
)
from cosemnet.profiles.lon.lon_apdu import ApplicationMessage
from cosemnet.profiles.lon.sap import ALL_STATION, MANAGEMENT_CLIENT, NNAP_CLIENT, PUBLIC_CLIENT, SapRole
from cosemnet.profiles.lon.segmentation import SegmentationConfig

NNAP = SubnetNodeAddress(1, 1)  # the data concentrator
METER = SubnetNodeAddress(1, 20)
GET = bytes.fromhex("C001C1000100002B0100FF0200")


@dataclass
class Sent:
    handle: int
    destination: Address
    apdu: ApplicationMessage
    service: LonService

    @property
    def pdu(self) -> object:
        return decode_adp_pdu(self.apdu.data)


class FakeLower:
    """Records what the ADP sends; the test decides when and how each send completes."""

    def __init__(self) -> None:
        self.sent: list[Sent] = []
        self._next = 100

    def send(self, destination: Address, apdu: ApplicationMessage, service: LonService) -> Hashable:
        self._next += 1
        self.sent.append(Sent(self._next, destination, apdu, service))
        return self._next

    def take(self) -> list[Sent]:
        out, self.sent = self.sent, []
        return out


def confirms(events: list[AdpEvent]) -> list[AdpDataConfirm]:
    return [e for e in events if isinstance(e, AdpDataConfirm)]


def indications(events: list[AdpEvent]) -> list[AdpDataIndication]:
    return [e for e in events if isinstance(e, AdpDataIndication)]


def dropped(events: list[AdpEvent]) -> list[AdpDropped]:
    return [e for e in events if isinstance(e, AdpDropped)]


class Link:
    """A client (NNAP) and a server (meter) joined by fake lower layers."""

    def __init__(self, config: AdpConfig | None = None, server_config: AdpConfig | None = None) -> None:
        self.client_lower = FakeLower()
        self.server_lower = FakeLower()
        self.client = AdpService(
            self.client_lower, SapRole.CLIENT, config=config, address_table=AddressTable({1: METER})
        )
        self.server = AdpService(self.server_lower, SapRole.SERVER, config=server_config or config)
        self.now = 0.0

    def pump(self, *, drop: set[int] | None = None, fail: set[int] | None = None, limit: int = 2000) -> None:
        """Deliver every send to the other side and complete it, until both sides are quiet.
        ``drop``/``fail``: indexes (in delivery order) of sends lost silently / completed with failure."""
        count = 0
        while limit:
            limit -= 1
            batch = [(s, self.client, self.server, NNAP) for s in self.client_lower.take()]
            batch += [(s, self.server, self.client, METER) for s in self.server_lower.take()]
            if not batch:
                return
            for sent, sender, receiver, source in batch:
                index = count
                count += 1
                if fail and index in fail:
                    sender.completed(sent.handle, False, self.now)
                    continue
                if not (drop and index in drop):
                    receiver.message_received(source, sent.apdu, self.now)
                sender.completed(sent.handle, True, self.now)
        raise AssertionError("the exchange does not settle")


def test_unsegmented_request_and_response() -> None:
    link = Link()
    rid = link.client.data_request(PUBLIC_CLIENT, 1, GET, 0.0)
    [sent] = link.client_lower.sent
    assert sent.destination == METER and sent.service == LonService.ACKD
    assert sent.apdu.code == ADP_MESSAGE_CODE
    assert sent.apdu.data == bytes.fromhex("00 10 01") + GET
    link.pump()
    assert confirms(link.client.drain_events()) == [AdpDataConfirm(rid, AdpResult.SUCCESS)]
    [ind] = link.server.drain_events()
    assert ind == AdpDataIndication(NNAP, AdpDirection.CLIENT_TO_SERVER, PUBLIC_CLIENT, 1, GET, False)
    # the server learned where client 16 lives and answers there
    link.server.data_request(PUBLIC_CLIENT, 1, b"\xc4\x01\xc1\x00\x06\x00\x00\x13\x91", 0.0)
    assert link.server_lower.sent[0].destination == NNAP
    assert link.server_lower.sent[0].apdu.data[0] == 0x10  # direction bit: server -> client
    link.pump()
    [ind] = indications(link.client.drain_events())
    assert ind.direction == AdpDirection.SERVER_TO_CLIENT and ind.source == METER


@pytest.mark.parametrize("length", [226, 1000, 4096])
def test_segmented_transfer_is_stop_and_wait(length: int) -> None:
    link = Link()
    apdu = random.Random(length).randbytes(length)
    rid = link.client.data_request(PUBLIC_CLIENT, 1, apdu, 0.0)
    seen = 0
    while True:
        sends = link.client_lower.take()
        if not sends:
            break
        assert len(sends) == 1  # one segment in flight at a time
        [s] = sends
        assert len(s.apdu.data) <= 228
        pdu = s.pdu
        assert isinstance(pdu, AdpData) and pdu.segmentation != Segmentation.UNSEGMENTED
        link.server.message_received(NNAP, s.apdu, 0.0)
        assert not confirms(link.client.drain_events())
        link.client.completed(s.handle, True, 0.0)
        seen += 1
    assert seen == -(-(length - 222) // 223) + 1
    assert confirms(link.client.drain_events()) == [AdpDataConfirm(rid, AdpResult.SUCCESS)]
    [ind] = link.server.drain_events()
    assert isinstance(ind, AdpDataIndication) and ind.apdu == apdu
    assert len(link.server.reassembler) == 0


def test_broadcast_uses_unacknowledged_repeated() -> None:
    link = Link()
    link.client.data_request(PUBLIC_CLIENT, ALL_STATION, GET, 0.0)
    [s] = link.client_lower.take()
    assert s.destination == BroadcastAddress(0) and s.service == LonService.UNACKD_RPT
    link.client.data_request(PUBLIC_CLIENT, 1, GET, 0.0, destination=GroupAddress(4))
    [s] = link.client_lower.take()
    assert s.service == LonService.UNACKD_RPT


def test_no_address_and_queue_limits() -> None:
    cfg = AdpConfig(max_queued_per_destination=2)
    link = Link(cfg)
    rid = link.client.data_request(PUBLIC_CLIENT, 5, GET, 0.0)  # no table entry for server SAP 5
    assert confirms(link.client.drain_events()) == [AdpDataConfirm(rid, AdpResult.NO_ADDRESS)]
    a = link.client.data_request(PUBLIC_CLIENT, 1, b"A", 0.0)
    b = link.client.data_request(PUBLIC_CLIENT, 1, b"B", 0.0)
    c = link.client.data_request(PUBLIC_CLIENT, 1, b"C", 0.0)
    assert confirms(link.client.drain_events()) == [AdpDataConfirm(c, AdpResult.QUEUE_FULL)]
    assert len(link.client_lower.sent) == 1 and link.client.pending() == 2  # B waits behind A
    link.pump()
    assert [x.request_id for x in confirms(link.client.drain_events())] == [a, b]
    assert [i.apdu for i in indications(link.server.drain_events())] == [b"A", b"B"]


def test_invalid_requests_raise() -> None:
    link = Link(AdpConfig(segmentation=SegmentationConfig(max_apdu_length=500)))
    with pytest.raises(EncodeError):
        link.client.data_request(PUBLIC_CLIENT, 1, b"", 0.0)
    with pytest.raises(EncodeError):
        link.client.data_request(PUBLIC_CLIENT, 1, b"x" * 501, 0.0)
    with pytest.raises(EncodeError):
        link.client.data_request(256, 1, b"x", 0.0)


def test_config_validation() -> None:
    with pytest.raises(ValueError):
        AdpConfig(message_code=0x40)
    with pytest.raises(ValueError):
        AdpConfig(segment_ack_timeout=0)


def test_other_message_codes_are_not_ours_and_garbage_is_dropped() -> None:
    link = Link()
    link.server.message_received(NNAP, ApplicationMessage(0x0E, b"\x00\x10\x01abc"), 0.0)
    assert link.server.drain_events() == []
    link.server.message_received(NNAP, ApplicationMessage(ADP_MESSAGE_CODE, b"\x07"), 0.0)
    [d] = link.server.drain_events()
    assert isinstance(d, AdpDropped) and "malformed" in d.reason


def test_protection_policy() -> None:
    link = Link(AdpConfig(allow_null_suite=True))
    # the management client is protected by default (Table 2): the null suite (explicitly allowed) fills it
    link.client.data_request(MANAGEMENT_CLIENT, 1, GET, 0.0)
    [s] = link.client_lower.sent
    assert s.apdu.data[:4] == bytes((0x80, MANAGEMENT_CLIENT, 1, 0))
    link.pump()
    [ind] = indications(link.server.drain_events())
    assert ind.protected and ind.apdu == GET
    # an unprotected PDU for a protected client SAP is refused
    bare = AdpData(AdpDirection.CLIENT_TO_SERVER, MANAGEMENT_CLIENT, 1, GET).encode()
    link.server.message_received(NNAP, ApplicationMessage(ADP_MESSAGE_CODE, bare), 0.0)
    [d] = link.server.drain_events()
    assert isinstance(d, AdpDropped) and "unprotected" in d.reason
    # explicit override, and a suite the receiver does not have
    link.client.data_request(PUBLIC_CLIENT, 1, GET, 0.0, protected=True)
    assert link.client_lower.sent[0].apdu.data[0] & 0x80
    odd = AdpData(AdpDirection.CLIENT_TO_SERVER, PUBLIC_CLIENT, 1, GET, security_suite_id=9).encode()
    link.server.message_received(NNAP, ApplicationMessage(ADP_MESSAGE_CODE, odd), 0.0)
    assert "no security suite" in dropped(link.server.drain_events())[0].reason


class RejectingSuite:
    suite_id = 0
    overhead = 0

    def protect(self, pdu_header: bytes, payload: bytes) -> bytes:
        return payload

    def unprotect(self, pdu_header: bytes, protected: bytes) -> bytes:
        raise AdpSecurityError("bad tag", 0, "tag")


def test_null_suite_refused_on_protected_saps_by_default() -> None:
    link = Link()
    rid = link.client.data_request(MANAGEMENT_CLIENT, 1, GET, 0.0)
    assert confirms(link.client.drain_events()) == [AdpDataConfirm(rid, AdpResult.NO_SECURITY_SUITE)]
    assert link.client_lower.sent == []
    wire = AdpData(AdpDirection.CLIENT_TO_SERVER, MANAGEMENT_CLIENT, 1, GET, security_suite_id=0).encode()
    link.server.message_received(NNAP, ApplicationMessage(ADP_MESSAGE_CODE, wire), 0.0)
    [d] = link.server.drain_events()
    assert isinstance(d, AdpDropped) and "null suite refused" in d.reason
    # an unprotected SAP may still use the protected form with the null suite
    link.client.data_request(PUBLIC_CLIENT, 1, GET, 0.0, protected=True)
    link.pump()
    [ind] = indications(link.server.drain_events())
    assert ind.protected and ind.apdu == GET


def test_security_failure_is_dropped() -> None:
    lower = FakeLower()
    server = AdpService(
        lower,
        SapRole.SERVER,
        config=AdpConfig(allow_null_suite=True),
        suites=StaticSuites({0: RejectingSuite()}),
    )
    wire = AdpData(AdpDirection.CLIENT_TO_SERVER, NNAP_CLIENT, 1, GET, security_suite_id=0).encode()
    server.message_received(NNAP, ApplicationMessage(ADP_MESSAGE_CODE, wire), 0.0)
    [d] = server.drain_events()
    assert isinstance(d, AdpDropped) and "security" in d.reason
    assert lower.sent == []


def test_no_suite_for_a_protected_request() -> None:
    lower = FakeLower()
    client = AdpService(
        lower, SapRole.CLIENT, suites=StaticSuites({}), address_table=AddressTable({1: METER})
    )
    rid = client.data_request(MANAGEMENT_CLIENT, 1, GET, 0.0)
    assert confirms(client.drain_events()) == [AdpDataConfirm(rid, AdpResult.NO_SECURITY_SUITE)]


def test_wrong_direction_is_dropped() -> None:
    link = Link()
    wire = AdpData(AdpDirection.SERVER_TO_CLIENT, PUBLIC_CLIENT, 1, GET).encode()
    link.server.message_received(NNAP, ApplicationMessage(ADP_MESSAGE_CODE, wire), 0.0)
    assert dropped(link.server.drain_events())


def test_lower_layer_failure_mid_transfer_aborts_both_ends() -> None:
    link = Link()
    rid = link.client.data_request(PUBLIC_CLIENT, 1, bytes(1000), 0.0)
    link.pump(fail={2})  # the third segment's 14908-1 transaction fails
    assert confirms(link.client.drain_events()) == [AdpDataConfirm(rid, AdpResult.LOWER_LAYER_FAILURE)]
    # the ABORT (unacknowledged service) freed the server's reassembly buffer
    assert len(link.server.reassembler) == 0
    assert not indications(link.server.drain_events())


def test_abort_uses_control_service() -> None:
    link = Link()
    link.client.data_request(PUBLIC_CLIENT, 1, bytes(1000), 0.0)
    [first] = link.client_lower.take()
    link.client.completed(first.handle, False, 0.0)
    [abort] = link.client_lower.take()
    assert abort.service == LonService.UNACKD
    pdu = abort.pdu
    assert isinstance(pdu, AdpAbort) and pdu.reason == AbortReason.LOWER_LAYER_FAILURE


def test_reassembly_timeout_tells_the_sender() -> None:
    link = Link(AdpConfig(segmentation=SegmentationConfig(segment_timeout=5, reassembly_timeout=60)))
    rid = link.client.data_request(PUBLIC_CLIENT, 1, bytes(1000), 0.0)
    [first] = link.client_lower.take()
    link.server.message_received(NNAP, first.apdu, 0.0)
    # the 14908-1 acknowledgement of the first segment is slow; the server gives up first
    assert link.server.deadline() == 5.0
    link.server.timer_expired(5.0)
    [d] = link.server.drain_events()
    assert isinstance(d, AdpDropped) and "REASSEMBLY_TIMEOUT" in d.reason
    [abort] = link.server_lower.take()
    assert abort.destination == NNAP
    link.client.message_received(METER, abort.apdu, 5.0)
    assert confirms(link.client.drain_events()) == [
        AdpDataConfirm(rid, AdpResult.ABORTED_BY_PEER, AbortReason.REASSEMBLY_TIMEOUT)
    ]
    # the late completion of the aborted transfer is ignored
    link.client.completed(first.handle, True, 6.0)
    assert link.client_lower.take() == [] and link.client.pending() == 0


def test_segment_acks_mode() -> None:
    cfg = AdpConfig(segment_acks=True, segment_ack_timeout=2.0, segment_retries=1)
    link = Link(cfg)
    apdu = bytes(range(256)) * 3
    rid = link.client.data_request(PUBLIC_CLIENT, 1, apdu, 0.0)
    link.pump()
    assert confirms(link.client.drain_events()) == [AdpDataConfirm(rid, AdpResult.SUCCESS)]
    assert indications(link.server.drain_events())[0].apdu == apdu
    # the server acknowledged each of the 4 segments with an unacknowledged SEGMENT_ACK

    # now lose one SEGMENT_ACK: the sender waits, times out, repeats the segment, which is re-acked
    rid = link.client.data_request(PUBLIC_CLIENT, 1, apdu, 0.0)
    [s0] = link.client_lower.take()
    assert isinstance(s0.pdu, AdpData) and s0.pdu.ack_request
    link.server.message_received(NNAP, s0.apdu, 0.0)
    [ack] = link.server_lower.take()
    assert ack.service == LonService.UNACKD and isinstance(ack.pdu, AdpSegmentAck)
    link.client.completed(s0.handle, True, 0.0)  # ack lost: not delivered
    assert link.client_lower.take() == [] and link.client.deadline() == 2.0
    link.client.timer_expired(2.0)
    [again] = link.client_lower.take()
    assert again.apdu == s0.apdu  # same segment (null suite: same bytes)
    link.server.message_received(NNAP, again.apdu, 2.0)
    link.client.completed(again.handle, True, 2.0)
    for a in link.server_lower.take():
        link.client.message_received(METER, a.apdu, 2.0)
    link.pump()
    assert confirms(link.client.drain_events()) == [AdpDataConfirm(rid, AdpResult.SUCCESS)]
    assert indications(link.server.drain_events())[0].apdu == apdu


def test_segment_ack_timeout_gives_up() -> None:
    link = Link(AdpConfig(segment_acks=True, segment_ack_timeout=1.0, segment_retries=2))
    rid = link.client.data_request(PUBLIC_CLIENT, 1, bytes(600), 0.0)
    now = 0.0
    for _ in range(3):
        [s] = link.client_lower.take()
        link.client.completed(s.handle, True, now)
        now += 1.0
        link.client.timer_expired(now)
    [abort] = link.client_lower.take()
    assert isinstance(abort.pdu, AdpAbort) and abort.pdu.reason == AbortReason.ACK_TIMEOUT
    assert confirms(link.client.drain_events()) == [AdpDataConfirm(rid, AdpResult.ACK_TIMEOUT)]
    assert link.client.deadline() is None


def test_stray_acks_and_aborts_are_dropped() -> None:
    link = Link()
    for pdu in (
        AdpSegmentAck(AdpDirection.CLIENT_TO_SERVER, PUBLIC_CLIENT, 1, 3, 0),
        AdpAbort(AdpDirection.CLIENT_TO_SERVER, PUBLIC_CLIENT, 1, 3),
    ):
        link.client.message_received(METER, ApplicationMessage(ADP_MESSAGE_CODE, pdu.encode()), 0.0)
    assert len(dropped(link.client.drain_events())) == 2
    stray = AdpAbort(AdpDirection.CLIENT_TO_SERVER, PUBLIC_CLIENT, 1, 3).encode()
    link.server.message_received(NNAP, ApplicationMessage(ADP_MESSAGE_CODE, stray), 0.0)
    assert len(dropped(link.server.drain_events())) == 1


def test_abort_from_another_node_does_not_end_a_transfer() -> None:
    link = Link()
    rid = link.client.data_request(PUBLIC_CLIENT, 1, bytes(1000), 0.0)
    [first] = link.client_lower.take()
    pdu = first.pdu
    assert isinstance(pdu, AdpData) and pdu.message_id is not None
    forged = AdpAbort(AdpDirection.CLIENT_TO_SERVER, PUBLIC_CLIENT, 1, pdu.message_id).encode()
    link.client.message_received(SubnetNodeAddress(1, 99), ApplicationMessage(ADP_MESSAGE_CODE, forged), 0.0)
    assert not confirms(link.client.drain_events())
    link.client.message_received(METER, ApplicationMessage(ADP_MESSAGE_CODE, forged), 0.0)
    assert confirms(link.client.drain_events()) == [
        AdpDataConfirm(rid, AdpResult.ABORTED_BY_PEER, AbortReason.UNSPECIFIED)
    ]


def test_address_key_normalises() -> None:
    assert address_key(SubnetNodeAddress(1, 20, False)) == address_key(METER)
    assert address_key(GroupAddress(3)) != address_key(BroadcastAddress(3))


@given(st.lists(st.tuples(st.integers(0, 30), st.binary(max_size=60)), max_size=200), st.integers(0, 2**32))
@settings(max_examples=40, deadline=None)
def test_hostile_messages_never_raise_and_stay_bounded(messages: list[tuple[int, bytes]], seed: int) -> None:
    rnd = random.Random(seed)
    seg = SegmentationConfig(max_apdu_length=1024, max_reassemblies=4, max_reassemblies_per_peer=1)
    lower = FakeLower()
    server = AdpService(
        lower, SapRole.SERVER, config=AdpConfig(segmentation=seg, protected_client_saps=frozenset())
    )
    now = 0.0
    for node, data in messages:
        now += rnd.random()
        if data and rnd.random() < 0.5:
            # make it look like an ADP segment more often than random bytes would
            data = bytes((rnd.choice((0x20, 0x40, 0x60, 0x28)), 1, 1, rnd.randrange(3))) + data
        server.message_received(SubnetNodeAddress(0, node), ApplicationMessage(ADP_MESSAGE_CODE, data), now)
        deadline = server.deadline()
        if deadline is not None and deadline <= now:
            server.timer_expired(now)
        assert len(server.reassembler) <= seg.max_reassemblies
        assert server.reassembler.buffered_bytes() <= seg.max_reassemblies * seg.max_apdu_length
    server.drain_events()
    assert server.pending() == 0


# --------------------------------------------------------------------------------------------------
# On top of the real 14908-1 stack (the Protocol is all the ADP needs from it)


def test_over_two_lon_stacks() -> None:
    from cosemnet.profiles.lon.dlms import StackLower
    from cosemnet.profiles.lon.node import LonNode
    from cosemnet.profiles.lon.stack import Completed, LonStack, MessageReceived

    domain = b"\x42"
    stacks = {
        "nnap": LonStack(LonNode.configured_in(bytes((5, 0, 0, 0, 0, 1)), domain, 1, 1)),
        "meter": LonStack(LonNode.configured_in(bytes((5, 0, 0, 0, 0, 20)), domain, 1, 20)),
    }
    lower: dict[str, AdpLowerLayer] = {
        "nnap": StackLower(stacks["nnap"]),
        "meter": StackLower(stacks["meter"]),
    }
    adps = {
        "nnap": AdpService(lower["nnap"], SapRole.CLIENT, address_table=AddressTable({1: METER})),
        "meter": AdpService(lower["meter"], SapRole.SERVER),
    }
    apdu = random.Random(7).randbytes(700)
    rid = adps["nnap"].data_request(PUBLIC_CLIENT, 1, apdu, 0.0)
    now = 0.0
    for _ in range(500):
        moved = False
        for name, stack in stacks.items():
            other = stacks["meter" if name == "nnap" else "nnap"]
            for frame in stack.pop_outgoing():
                other.receive_frame(frame.encode(), now)
                moved = True
        for name, stack in stacks.items():
            for event in stack.pop_events():
                if isinstance(event, MessageReceived) and isinstance(event.apdu, ApplicationMessage):
                    source = SubnetNodeAddress(event.source_subnet, event.source_node)
                    adps[name].message_received(source, event.apdu, now)
                elif isinstance(event, Completed):
                    adps[name].completed(event.handle, event.success, now)
                moved = True
        if not moved:
            deadline = stacks["nnap"].get_timer()
            if deadline is None:
                break
            now = max(now, deadline)
            for stack in stacks.values():
                stack.handle_timer(now)
    assert confirms(adps["nnap"].drain_events()) == [AdpDataConfirm(rid, AdpResult.SUCCESS)]
    [ind] = adps["meter"].drain_events()
    assert isinstance(ind, AdpDataIndication) and ind.apdu == apdu and ind.source == NNAP
