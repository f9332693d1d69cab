"""Decisions 0093 / 0094: DLMS exchanges on the 14908-1 request/response service and the concentrator's
exchange scheduler (window, command priority, pacing, repeater cost), on the simulated power line."""

from __future__ import annotations

from cosemnet.client.connection import ClientConnection
from cosemnet.profiles.lon.dlms import expects_response, run_exchange
from cosemnet.profiles.lon.scheduler import ExchangeScheduler, SchedulerConfig
from cosemnet.profiles.lon.transport import Spdu, SpduType, Tpdu
from cosemnet.simulator.lon_segment import ENERGY_REGISTER, REGISTER_CLASS_ID, SECURITY_NONE, build_segment


def _get(c: ClientConnection) -> bytes | None:
    return c.get(REGISTER_CLASS_ID, ENERGY_REGISTER, 2)


def test_register_read_is_one_request_and_one_response() -> None:
    segment = build_segment(1, seed=1, security=SECURITY_NONE)
    link = segment.public_link(segment.meters[0])
    first = len(segment.capture.frames)
    link.submit(_get)
    segment.run()
    assert isinstance(link.results[-1], int)
    kinds = [f.npdu.pdu for f in segment.capture.frames[first:]]
    assert len(kinds) == 2
    assert isinstance(kinds[0], Spdu) and kinds[0].spdu_type is SpduType.REQUEST
    assert isinstance(kinds[1], Spdu) and kinds[1].spdu_type is SpduType.RESPONSE
    assert not any(isinstance(p, Tpdu) for p in kinds)  # no ACK frames


def test_lost_response_is_sent_again_from_the_receive_record() -> None:
    """The response is lost once: the REQUEST retry gets the stored RESPONSE, the meter executes once."""
    segment = build_segment(1, seed=1, security=SECURITY_NONE)
    meter = segment.meters[0]
    link = segment.public_link(meter)
    channel = segment.channel
    channel.set_loss(1, 0, 1.0)  # meter -> concentrator: everything lost
    link.submit(_get)
    run_exchange(channel, segment.endpoints(), limit=0.5)  # the first response is lost
    channel.set_loss(1, 0, 0.0)
    segment.run()
    assert isinstance(link.results[-1], int)
    assert meter.endpoint.requests == 1  # executed once: the retry was answered from the record
    assert segment.concentrator.stack.statistics.transmit_tx_retries >= 1


def test_unanswered_request_fails_at_the_concentrator_without_waiting_for_the_dlms_timeout() -> None:
    segment = build_segment(1, seed=1, security=SECURITY_NONE)
    link = segment.public_link(segment.meters[0])
    segment.channel.set_loss(1, 0, 1.0)
    link.submit(_get)
    end = segment.run()
    assert isinstance(link.results[-1], Exception)
    assert end < link.response_timeout  # the 14908-1 REQUEST ran out of retries first


def test_unconfirmed_ln_requests_are_not_requests() -> None:
    assert expects_response(bytes.fromhex("C001C1000100002B0100FF0200"))
    assert not expects_response(bytes.fromhex("C0018100010000"))  # invoke-id-and-priority 0x81: unconfirmed
    assert expects_response(bytes.fromhex("0501020304"))  # SN read


def test_100_meters_read_without_collisions() -> None:
    segment = build_segment(100, seed=2, security=SECURITY_NONE)
    links = [segment.public_link(m) for m in segment.meters]
    stats = segment.channel.statistics
    for link in links:
        link.submit(_get)
    segment.run()
    assert all(isinstance(link.results[-1], int) for link in links)
    assert stats.collided_frames == 0
    assert stats.frames == 200


def test_commands_start_before_queued_bulk_reads_and_use_priority() -> None:
    segment = build_segment(3, seed=1, security=SECURITY_NONE)
    links = [segment.public_link(m) for m in segment.meters]
    order: list[int] = []

    def tagged(i: int, command: bool) -> object:
        def request(c: ClientConnection) -> bytes | None:
            order.append(i)
            return _get(c)

        return request

    for i, link in enumerate(links[:2]):
        link.submit(tagged(i, False))  # type: ignore[arg-type]
    links[2].command(tagged(2, True))  # type: ignore[arg-type]
    first = len(segment.capture.frames)
    segment.run()
    assert order[0] == 2
    command_frames = [f for f in segment.capture.frames[first:] if f.npdu.destination == links[2].address]
    assert command_frames and all(f.priority for f in command_frames)


def test_scheduler_window_shrinks_on_loss_and_grows_back() -> None:
    s = ExchangeScheduler(SchedulerConfig(window=4.0, max_window=4.0, bulk_priority=False))
    assert s.may_start("a", 1.0, False, False)
    s.started("a", 1.0, False, 0.0)
    s.finished("a", 1.0, ok=True, retried=True)
    assert s.window == 2.0
    s.started("b", 1.0, False, 1.0)
    s.finished("b", 2.0, ok=False, retried=False)
    assert s.window == 1.0 and s.statistics.failed == 1
    for t in range(20):
        s.started("c", 1.0, False, float(t))
        s.finished("c", t + 0.5, ok=True, retried=False)
    assert s.window > 3.0 and s.round_trip is not None and abs(s.round_trip - 0.5) < 0.1
    assert not s.priority(False) and s.priority(True)


def test_scheduler_one_exchange_per_meter_repeater_cost_and_pacing() -> None:
    s = ExchangeScheduler(SchedulerConfig(window=2.0))
    s.started("near", 1.0, False, 0.0)
    assert not s.may_start("near", 1.0, False, False)  # one exchange per meter
    assert not s.may_start("far", 3.0, False, False)  # behind 2 repeaters: does not fit beside it
    assert s.may_start("mid", 1.0, False, False)
    assert not s.may_start("mid", 1.0, False, True)  # a segmented transfer is in progress: paced
    assert s.may_start("cmd", 1.0, True, True)  # commands are not held back
    s.finished("near", 1.0, ok=True, retried=False)
    assert s.may_start("far", 3.0, False, False)  # alone, any cost fits
