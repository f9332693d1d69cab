"""The OSGP-AES-128-PSK suite end to end over a fake 14908-1 network (tests/lon/osgp_net.py): channel
set-up, negotiation, intrusion detection, protected unicast and broadcast, replay window, error messages
and resynchronisation, key renewal and roll-over."""

from __future__ import annotations

import dataclasses

import pytest

from cosemnet.profiles.lon.adp import ADP_MESSAGE_CODE, AdpSecurityError, decode_adp_pdu, unprotect_payload
from cosemnet.profiles.lon.lon_apdu import ApplicationMessage
from cosemnet.profiles.lon.osgp_aes.agent import (
    ChannelState,
    ConcentratorSecurity,
    MeterSecurity,
    OsgpConfig,
    SecurityEventKind,
)
from cosemnet.profiles.lon.osgp_aes.context import (
    DomainKeys,
    PeerSuite,
    ReplayWindow,
    SecurityStats,
    reconstruct_counter,
)
from cosemnet.profiles.lon.osgp_aes.keys import LongTermKey
from cosemnet.profiles.lon.osgp_aes.messages import (
    OSGP_SECURITY_MESSAGE_CODE,
    AuthenticationFailure,
    ChallengeRequest,
    ChallengeResponse,
    CommissionRequest,
    SequenceError,
    Status,
    decode_security_message,
)
from cosemnet.profiles.lon.sap import ALL_STATION, BROADCAST_CLIENT, NNAP_CLIENT
from cosemnet.security.counters import FileCounterStore

from .osgp_net import NNAP_ADDRESS, NNAP_ID, Frame, Net, meter_id

GET = bytes.fromhex("C001C1000100002B0100FF0200")
RESPONSE = bytes.fromhex("C401C100060000162E")


def _is_protected_data(frame: Frame) -> bool:
    return frame.apdu.code == ADP_MESSAGE_CODE and bool(frame.apdu.data[0] & 0x80)


def _request(net: Net, meter: int = 0, apdu: bytes = GET) -> None:
    net.nnap.adp.data_request(NNAP_CLIENT, 1, apdu, net.now, destination=net.meters[meter].address)
    net.run()


def _security_messages(net: Net, start: int = 0) -> list[object]:
    return [
        decode_security_message(f.apdu.data)
        for f in net.log[start:]
        if f.apdu.code == OSGP_SECURITY_MESSAGE_CODE
    ]


def test_channel_setup_and_protected_round_trip() -> None:
    net = Net(2)
    net.commission_all()
    assert all(net.nnap_security.established(m.address) for m in net.meters)
    kinds = [type(m).__name__ for m in _security_messages(net)]
    assert kinds[:4] == ["ChallengeRequest", "ChallengeRequest", "ChallengeResponse", "ChallengeResponse"]
    assert kinds.count("CommissionResponse") == 2
    _request(net)
    [ind] = net.meters[0].indications()
    assert ind.apdu == GET and ind.protected
    wire = net.log[-1]
    assert _is_protected_data(wire) and GET not in wire.apdu.data  # encrypted, not only authenticated
    pdu = decode_adp_pdu(wire.apdu.data)
    assert pdu.security_suite_id == 1 and len(pdu.payload) == len(GET) + 10  # 2-byte header + tag (0095)
    net.meters[0].adp.data_request(NNAP_CLIENT, 1, RESPONSE, net.now, destination=NNAP_ADDRESS)
    net.run()
    [back] = net.nnap.indications()
    assert back.apdu == RESPONSE and back.protected
    assert net.meters[1].indications() == []


def test_no_channel_no_protected_traffic() -> None:
    net = Net(1)
    rid = net.nnap.adp.data_request(NNAP_CLIENT, 1, GET, 0.0, destination=net.meters[0].address)
    events = net.nnap.adp.drain_events()
    assert any(getattr(e, "request_id", None) == rid and e.result.name == "NO_SECURITY_SUITE" for e in events)
    assert net.queue == []


def test_negotiation_refuses_the_null_suite_and_unknown_keys() -> None:
    net = Net(1)
    meter = net.meter_security[0]
    for suites, ltk_id, status in [((0,), 1, Status.NO_COMMON_SUITE), ((1,), 9, Status.UNKNOWN_KEY)]:
        request = ChallengeRequest(ltk_id, NNAP_ID, b"\x01" * 8, suites)
        meter.message_received(
            NNAP_ADDRESS, ApplicationMessage(OSGP_SECURITY_MESSAGE_CODE, request.encode()), 0.0
        )
        [frame] = net.queue
        net.queue.clear()
        response = decode_security_message(frame.apdu.data)
        assert isinstance(response, ChallengeResponse) and response.status == status
    with pytest.raises(ValueError, match="allow_null_suite"):
        OsgpConfig(NNAP_ID, (1, 1), offered_suites=(0, 1))


def test_wrong_long_term_key_fails_the_setup() -> None:
    net = Net(1)
    net.keystore.provision(meter_id(0), b"\x99" * 16)
    net.commission_all()
    channel = net.nnap_security.channels[("node", 0x102)]
    assert channel.state is ChannelState.FAILED
    assert not net.meter_security[0].contexts
    assert net.nnap_security.events[-1].kind is SecurityEventKind.CHANNEL_FAILED
    assert net.nnap_security.stats.rejected["authentication"] >= 1


def test_forged_commission_requests_trigger_back_off_and_an_event() -> None:
    net = Net(1)
    meter = net.meter_security[0]
    logged: list[SecurityEventKind] = []
    meter.on_event = lambda e: logged.append(e.kind)
    request = ChallengeRequest(1, NNAP_ID, b"\x02" * 8, (1,))
    for _ in range(meter.config.max_failures):
        meter.message_received(
            NNAP_ADDRESS, ApplicationMessage(OSGP_SECURITY_MESSAGE_CODE, request.encode()), 0.0
        )
        response = decode_security_message(net.queue.pop().apdu.data)
        assert isinstance(response, ChallengeResponse) and response.status == Status.OK
        forged = CommissionRequest(1, 0, request.r_n, response.r_l, b"\x00" * 8)
        meter.message_received(
            NNAP_ADDRESS, ApplicationMessage(OSGP_SECURITY_MESSAGE_CODE, forged.encode()), 0.0
        )
    assert not meter.contexts and SecurityEventKind.INTRUSION_SUSPECTED in logged
    meter.message_received(
        NNAP_ADDRESS, ApplicationMessage(OSGP_SECURITY_MESSAGE_CODE, request.encode()), 1.0
    )
    response = decode_security_message(net.queue.pop().apdu.data)
    assert isinstance(response, ChallengeResponse) and response.status == Status.BACK_OFF
    # after the back-off the genuine concentrator gets through
    net.now = meter.config.backoff_initial + 1
    net.commission_all()
    assert net.nnap_security.established(net.meters[0].address)


def _tamper_hook(index: int) -> tuple[list[int], object]:
    seen: list[int] = []

    def hook(frame: Frame) -> list[Frame]:
        if _is_protected_data(frame) and frame.sender == NNAP_ADDRESS:
            seen.append(1)
            if len(seen) == 1:
                data = bytearray(frame.apdu.data)
                data[index] ^= 0x01
                return [
                    Frame(frame.sender, frame.destination, ApplicationMessage(frame.apdu.code, bytes(data)))
                ]
        return [frame]

    return seen, hook


@pytest.mark.parametrize(
    "index", [1, 2, 5, 10, -1], ids=["client_sap", "server_sap", "counter", "ciphertext", "tag"]
)
def test_tampered_frame_is_rejected_and_reported(index: int) -> None:
    net = Net(1)
    net.commission_all()
    _, hook = _tamper_hook(index)
    net.hook = hook  # type: ignore[assignment]
    start = len(net.log)
    _request(net)
    assert net.meters[0].indications() == []
    assert sum(net.meter_security[0].stats.rejected.values()) == 1
    errors = [m for m in _security_messages(net, start) if isinstance(m, AuthenticationFailure)]
    assert len(errors) == 1 and net.nnap_security.stats.errors_received["AuthenticationFailure"] == 1
    assert net.nnap_security.established(net.meters[0].address)  # a forgery does not make it re-key
    _request(net)
    assert [i.apdu for i in net.meters[0].indications()] == [GET]


def test_readdressed_frame_fails_authentication() -> None:
    net = Net(2)
    net.commission_all()
    _request(net, 0)
    genuine = net.log[-1]
    assert len(net.meters[0].indications()) == 1
    # the same bytes to a meter at another address that shares the session key and state: the meter's
    # end-to-end address is in the associated data (decision 0096), so it fails authentication
    ctx = net.meter_security[0].contexts[("node", 0x101)]
    twin = dataclasses.replace(ctx, local_address=(1, 9), windows={}, failures=ctx.failures)
    suite = PeerSuite(twin, net.meter_security[0].domain, net.meter_security[0].stats)
    pdu = decode_adp_pdu(genuine.apdu.data)
    with pytest.raises(AdpSecurityError):
        unprotect_payload(pdu, suite)
    assert net.meter_security[0].stats.rejected["authentication"] == 1
    same = PeerSuite(
        dataclasses.replace(twin, local_address=ctx.local_address), DomainKeys(), SecurityStats()
    )
    assert unprotect_payload(pdu, same) == GET
    # the last hop is not bound (an Annex E agent relays it): another source opens it
    relayed = dataclasses.replace(ctx, peer_address=(1, 9), windows={})
    assert unprotect_payload(pdu, PeerSuite(relayed, DomainKeys(), SecurityStats())) == GET


def test_replays_are_rejected_and_old_frames_answered_with_sequence_error() -> None:
    net = Net(1)
    net.commission_all()
    _request(net)
    first = next(f for f in reversed(net.log) if _is_protected_data(f))
    net.meters[0].indications()
    net.deliver(first)
    assert net.meters[0].indications() == []
    assert net.meter_security[0].stats.rejected["replay"] == 1
    for _ in range(70):  # push the first frame out of the 64-counter window
        _request(net)
    net.meters[0].indications()
    start = len(net.log)
    net.now += 5
    net.deliver(first)
    net.run()
    assert net.meters[0].indications() == []
    assert net.meter_security[0].stats.rejected["sequence"] == 1
    [error] = _security_messages(net, start)
    assert isinstance(error, SequenceError) and error.expected > 1
    # the concentrator's counter is ahead of the window: nothing to repair, the channel stays
    assert net.nnap_security.stats.errors_received["SequenceError"] == 1
    assert net.nnap_security.contexts[("node", 0x102)].current == 1


def test_broadcast_under_the_domain_key_and_resend_on_unknown_key() -> None:
    net = Net(3)
    net.commission_all()
    key_id = net.nnap_security.update_domain_key(net.now)
    net.run()
    assert net.nnap_security.domain.current == key_id
    net.nnap.adp.data_request(BROADCAST_CLIENT, ALL_STATION, GET, net.now)
    net.run()
    assert [len(m.indications()) for m in net.meters] == [1, 1, 1]
    # a meter that lost its domain key reports it and gets it again
    net.meter_security[2].domain.keys.clear()
    net.nnap.adp.data_request(BROADCAST_CLIENT, ALL_STATION, GET, net.now)
    net.run()
    assert [len(m.indications()) for m in net.meters] == [1, 1, 0]
    assert net.meter_security[2].stats.rejected["unknown_key"] == 1
    assert key_id in net.meter_security[2].domain.keys
    net.nnap.adp.data_request(BROADCAST_CLIENT, ALL_STATION, GET, net.now)
    net.run()
    assert [len(m.indications()) for m in net.meters] == [1, 1, 1]


def test_domain_key_roll_over_keeps_the_old_key_until_every_meter_has_the_new_one() -> None:
    net = Net(2)
    net.commission_all()
    first = net.nnap_security.update_domain_key(net.now)
    net.run()
    lost: list[Frame] = []

    def drop_to_meter_1(frame: Frame) -> list[Frame]:
        if frame.destination == net.meters[1].address and frame.apdu.code == OSGP_SECURITY_MESSAGE_CODE:
            lost.append(frame)
            return []
        return [frame]

    net.hook = drop_to_meter_1
    second = net.nnap_security.update_domain_key(net.now)
    net.run()
    assert lost and net.nnap_security.domain.current == first  # meter 1 did not confirm: keep the old key
    net.nnap.adp.data_request(BROADCAST_CLIENT, ALL_STATION, GET, net.now)
    net.run()
    assert [len(m.indications()) for m in net.meters] == [1, 1]
    net.hook = None
    net.nnap_security.update_domain_key(net.now, key=net.keystore.domain_key)  # resend (a third id)
    net.run()
    assert net.nnap_security.domain.current not in (first, second)
    net.nnap.adp.data_request(BROADCAST_CLIENT, ALL_STATION, GET, net.now)
    net.run()
    assert [len(m.indications()) for m in net.meters] == [1, 1]


def test_session_renewal_loses_nothing_in_flight() -> None:
    net = Net(1)
    net.commission_all()
    ctx = net.nnap_security.contexts[("node", 0x102)]
    # a request leaves under session 1, the renewal runs, then the request and its answer arrive
    net.nnap.adp.data_request(NNAP_CLIENT, 1, GET, net.now, destination=net.meters[0].address)
    in_flight = net.queue.pop()
    in_flight.completed(net.now)
    net.nnap_security.renew(net.meters[0].address, net.now)
    net.run()
    assert ctx.current == 2 and net.meter_security[0].contexts[("node", 0x101)].current == 2
    net.deliver(in_flight)
    [ind] = net.meters[0].indications()
    assert ind.apdu == GET
    net.meters[0].adp.data_request(NNAP_CLIENT, 1, RESPONSE, net.now, destination=NNAP_ADDRESS)
    net.run()
    assert [i.apdu for i in net.nnap.indications()] == [RESPONSE]


def test_expiring_session_is_renewed_by_the_timer() -> None:
    net = Net(1)
    net.nnap_security.config = dataclasses.replace(net.nnap_security.config, session_lifetime=600.0)
    net.commission_all()
    net.now = 600.0 - 75.0
    net.nnap.adp.timer_expired(net.now)
    net.run()
    assert net.nnap_security.contexts[("node", 0x102)].current == 2
    _request(net)
    assert len(net.meters[0].indications()) == 1


def test_meter_restart_resynchronises() -> None:
    net = Net(1)
    net.commission_all()
    net.meter_security[0].contexts.clear()  # the meter lost its session keys
    net.meter_security[0].channels.clear()
    start = len(net.log)
    _request(net)
    assert net.meters[0].indications() == []
    errors = _security_messages(net, start)
    assert any(isinstance(m, AuthenticationFailure) and m.reason == 2 for m in errors)
    assert any(e.kind is SecurityEventKind.RESYNCHRONISED for e in net.nnap_security.events)
    _request(net)
    assert [i.apdu for i in net.meters[0].indications()] == [GET]


def test_long_term_key_update_and_a_lost_confirmation() -> None:
    net = Net(1)
    net.commission_all()
    address = net.meters[0].address
    assert net.nnap_security.update_long_term_key(address, net.now)
    net.run()
    entry = net.keystore.entry(meter_id(0))
    assert entry is not None and entry.current.key_id == 2 and entry.pending is None
    assert set(net.meter_security[0].ltks) == {1, 2}
    net.nnap_security.renew(address, net.now)
    net.run()
    assert net.nnap_security.contexts[("node", 0x102)].current == 2
    # the meter installs key 3 but its confirmation is lost: the next set-up still works
    net.hook = lambda f: [] if f.apdu.code == OSGP_SECURITY_MESSAGE_CODE and f.sender == address else [f]
    assert net.nnap_security.update_long_term_key(address, net.now)
    net.run()
    net.hook = None
    assert entry.pending is not None and entry.pending.key_id == 3 and 3 in net.meter_security[0].ltks
    net.nnap_security.commission(address, meter_id(0), net.now)
    net.run()
    assert net.nnap_security.established(address) and entry.current.key_id == 3 and entry.pending is None


def test_lost_long_term_key_update_falls_back_at_once() -> None:
    net = Net(1)
    net.commission_all()
    address = net.meters[0].address
    net.hook = lambda f: [] if f.apdu.code == OSGP_SECURITY_MESSAGE_CODE and f.destination == address else [f]
    assert net.nnap_security.update_long_term_key(address, net.now)
    net.run()
    net.hook = None
    entry = net.keystore.entry(meter_id(0))
    assert entry is not None and entry.pending is not None and set(net.meter_security[0].ltks) == {1}
    start, t0 = len(net.log), net.now
    net.nnap_security.commission(address, meter_id(0), net.now)  # offers the pending key 2 first
    net.run()
    assert net.nnap_security.established(address) and net.now == t0  # no timeout needed
    kinds = [type(m).__name__ for m in _security_messages(net, start)]
    assert kinds[:3] == ["ChallengeRequest", "ChallengeResponse", "ChallengeRequest"]
    assert entry.current.key_id == 1


def test_send_counters_survive_a_restart(tmp_path: object) -> None:
    from pathlib import Path

    assert isinstance(tmp_path, Path)
    with FileCounterStore(tmp_path) as store:
        net = Net(1)
        net.nnap_security.counter_store = store
        net.commission_all()
        net.nnap_security.update_domain_key(net.now, key=b"\x11" * 16)
        net.run()
        state = net.nnap_security.domain.send_key()
        assert state is not None and state.counter is not None
        used = [state.counter.next() for _ in range(3)]
    with FileCounterStore(tmp_path) as store:  # the concentrator restarts with the same domain key
        again = Net(1)
        again.keystore.domain_key, again.keystore.domain_key_id = b"\x11" * 16, 1
        restarted = ConcentratorSecurity(OsgpConfig(NNAP_ID, (1, 1)), again.keystore, counter_store=store)
        state2 = restarted.domain.send_key()
        assert state2 is not None and state2.counter is not None
        assert state2.counter.next() > max(used)


def test_persisted_domain_key_without_durable_counters_is_not_sent_with() -> None:
    net = Net(1)
    net.keystore.domain_key, net.keystore.domain_key_id = b"\x22" * 16, 4
    restarted = ConcentratorSecurity(OsgpConfig(NNAP_ID, (1, 1)), net.keystore)  # memory counters
    assert restarted.domain.current is None and 4 in restarted.domain.keys
    assert restarted.update_domain_key(0.0) == 5 and restarted.domain.current == 5


def test_replay_window() -> None:
    window = ReplayWindow()
    for counter in (1, 2, 5, 4):
        assert window.classify(counter) is None
        window.commit(counter)
    assert window.classify(3) is None and window.classify(4) is not None
    window.commit(200)
    assert window.classify(100) is not None and window.classify(100).value == "sequence"  # type: ignore[union-attr]
    assert window.classify(199) is None and window.floor == 137


def test_meter_keys_are_not_in_reprs() -> None:
    meter = MeterSecurity(OsgpConfig(meter_id(0), (1, 2)), [LongTermKey(1, b"\xab" * 16)])
    assert "ab" * 4 not in repr(meter) + repr(meter.ltks) + repr(LongTermKey(1, b"\xab" * 16))


# --- short security header (decision 0095) ------------------------------------------------------------


def _burn(net: Net, frames: int) -> None:
    """Use up ``frames`` counters of the concentrator's session with meter 0 (frames the meter never got)."""
    ctx = net.nnap_security.contexts[("node", 0x102)]
    state = ctx.sessions[ctx.current]  # type: ignore[index]
    assert state.counter is not None
    for _ in range(frames):
        state.counter.next()


def test_reconstruct_counter_nearest_the_window() -> None:
    assert reconstruct_counter(0, 5) == 5
    assert reconstruct_counter(8190, 3) == 8195  # across the wrap of the 13 low bits
    assert reconstruct_counter(8195, 8190) == 8190
    assert reconstruct_counter(10, 8000) == 8000  # never 0 or below
    assert reconstruct_counter(20000, 20000 % 8192) == 20000
    assert reconstruct_counter(20000, (20000 + 5000) % 8192) == 20000 + 5000 - 8192  # gap > 4096


def test_short_counter_wraps_and_replays_are_still_rejected() -> None:
    net = Net(1)
    net.commission_all()
    _request(net)
    first = next(f for f in reversed(net.log) if _is_protected_data(f))
    for burn in (4000, 4000, 186):  # each gap under half the 8192-counter period
        _burn(net, burn)
        _request(net)
    before_wrap = next(f for f in reversed(net.log) if _is_protected_data(f))
    for _ in range(6):  # counters 8184 .. 8190 .. 8196: the 13 low bits wrap
        _request(net)
    assert len(net.meters[0].indications()) == 10
    window = net.meter_security[0].contexts[("node", 0x101)].windows[1]
    assert window.highest > 8192
    for frame in (before_wrap, first):
        net.deliver(frame)
    net.run()
    assert net.meters[0].indications() == []
    rejected = net.meter_security[0].stats.rejected
    assert rejected["replay"] == 1 and rejected["authentication"] == 1  # the first: reconstructed 8193+


def test_counter_gap_beyond_the_window_is_resynchronised_with_a_new_key() -> None:
    net = Net(1)
    net.commission_all()
    _burn(net, 4000)
    _request(net)
    net.meters[0].indications()
    _burn(net, 5000)  # lost frames: more than half the short counter's period
    start = len(net.log)
    _request(net)
    assert net.meters[0].indications() == []
    [error] = [m for m in _security_messages(net, start) if isinstance(m, AuthenticationFailure)]
    assert error.reason == 1 and error.key_id == 1  # TAG_MISMATCH at the counter the meter reconstructed
    assert net.nnap_security.contexts[("node", 0x102)].current == 2  # renewed: counters restart
    assert any(e.kind is SecurityEventKind.RESYNCHRONISED for e in net.nnap_security.events)
    _request(net)
    assert [i.apdu for i in net.meters[0].indications()] == [GET]


def test_forged_short_header_does_not_renew_the_session() -> None:
    net = Net(1)
    net.commission_all()
    _request(net)
    net.meters[0].indications()
    genuine = next(f for f in reversed(net.log) if _is_protected_data(f))
    data = bytearray(genuine.apdu.data)
    data[5] ^= 0x40  # another counter (low bits) under the same session
    net.deliver(
        Frame(genuine.sender, genuine.destination, ApplicationMessage(genuine.apdu.code, bytes(data)))
    )
    net.run()
    assert net.meters[0].indications() == []
    assert net.meter_security[0].stats.rejected["authentication"] == 1
    assert net.nnap_security.contexts[("node", 0x102)].current == 1


def test_sessions_sharing_low_bits_are_told_apart() -> None:
    net = Net(1)
    net.commission_all()
    channel = net.nnap_security.channels[("node", 0x102)]
    channel.next_session = 5  # the next session has the same 2 low bits as session 1
    net.nnap_security.renew(net.meters[0].address, net.now)
    net.run()
    assert net.nnap_security.contexts[("node", 0x102)].current == 5
    assert set(net.meter_security[0].contexts[("node", 0x101)].sessions) == {1, 5}
    _request(net)
    assert [i.apdu for i in net.meters[0].indications()] == [GET]
    net.meters[0].adp.data_request(NNAP_CLIENT, 1, RESPONSE, net.now, destination=NNAP_ADDRESS)
    net.run()
    assert [i.apdu for i in net.nnap.indications()] == [RESPONSE]
