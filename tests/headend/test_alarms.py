"""Alarm acknowledgement rules (docs/decisions/0127): only alarm pushes of the alarm Push setup count,
the stored bits only are cleared, an unreachable meter is retried a bounded number of times; the
simulated alarm register clears only the bits written."""

from __future__ import annotations

import pytest

from cosemnet.codec.obis import Obis
from cosemnet.codec.types import DoubleLongUnsigned, LongUnsigned
from cosemnet.cosem.results import CosemAccessError
from cosemnet.headend.alarms import AlarmAcknowledger, AlarmConfig, alarm_bits
from cosemnet.headend.pushes import PushEvent
from cosemnet.simulator.mesh_fleet import fleet_profile
from cosemnet.simulator.meter import PushEvent as MeterPush
from cosemnet.simulator.meter import SimulatedMeter

A, B = b"A" * 8, b"B" * 8
ALARM_PUSH = bytes(Obis("0-4:25.9.0*255"))


def _push(title: bytes, body: object, kind: str = "data-notification") -> PushEvent:
    return PushEvent(title, kind, 1.0, None, None, body)  # type: ignore[arg-type]


def test_only_alarm_pushes_carry_alarm_bits() -> None:
    config = AlarmConfig()
    assert alarm_bits(_push(A, (ALARM_PUSH, b"1", DoubleLongUnsigned(5))), config) == 5
    # another push setup (periodic data), an event-notification, a body without a number: no alarm
    assert alarm_bits(_push(A, (bytes(Obis("0-0:25.9.0*255")), DoubleLongUnsigned(5))), config) is None
    assert alarm_bits(_push(A, (ALARM_PUSH, DoubleLongUnsigned(5)), "event-notification"), config) is None
    assert alarm_bits(_push(A, (ALARM_PUSH, b"1", b"x")), config) is None
    assert alarm_bits(_push(A, DoubleLongUnsigned(5)), config) is None
    assert alarm_bits(_push(A, (ALARM_PUSH, LongUnsigned(3), b"")), AlarmConfig(position=1)) == 3


def test_pending_bits_are_merged_per_meter_and_grouped_by_mask() -> None:
    acks = AlarmAcknowledger()
    acks.on_push(_push(A, (ALARM_PUSH, b"1", DoubleLongUnsigned(1))))
    acks.on_push(_push(A, (ALARM_PUSH, b"1", DoubleLongUnsigned(4))))
    acks.on_push(_push(B, (ALARM_PUSH, b"2", DoubleLongUnsigned(5))))
    acks.on_push(_push(B, (bytes(Obis("0-0:25.9.0*255")), b"2", DoubleLongUnsigned(8))))  # not an alarm
    assert acks.take() == {5: [A, B]}
    assert acks.pending == {}
    operation = acks.operation(5)
    assert (operation.kind, operation.target, operation.value) == ("set", "1/0-0:97.98.0*255/2", 5)
    assert isinstance(operation.value, DoubleLongUnsigned)


def test_unreachable_meter_is_retried_then_given_up_and_store_only_mode_clears_nothing() -> None:
    acks = AlarmAcknowledger(AlarmConfig(max_attempts=3))
    acks.on_push(_push(A, (ALARM_PUSH, b"1", DoubleLongUnsigned(2))))
    for _ in range(2):
        ((mask, titles),) = acks.take().items()
        acks.done(titles[0], mask, "no-answer")
        assert acks.pending == {A: 2}
    acks.on_push(_push(A, (ALARM_PUSH, b"1", DoubleLongUnsigned(1))))  # a new alarm meanwhile: merged
    assert acks.take() == {3: [A]}
    acks.done(A, 3, "no-answer")
    assert acks.pending == {} and acks.given_up == 1 and acks.cleared == 0
    quiet = AlarmAcknowledger(AlarmConfig(clear=False))
    assert quiet.on_push(_push(A, (ALARM_PUSH, b"1", DoubleLongUnsigned(2)))) == 2
    assert quiet.pending == {}


def test_simulated_alarm_register_clears_only_the_written_bits_and_pushes_on_alarm() -> None:
    meter = SimulatedMeter(fleet_profile(), serial=7)
    register = meter.alarm_register
    assert register is not None
    assert meter.raise_alarm(0b0110)
    (push,) = [e for e in meter.pop_events() if isinstance(e, MeterPush)]
    assert push.push_setup == Obis("0-4:25.9.0*255")
    assert push.body == (ALARM_PUSH, b"7", DoubleLongUnsigned(0b0110))
    ctx = meter.context()
    register.set(2, DoubleLongUnsigned(0b0010), ctx)
    assert register.value == 0b0100
    with pytest.raises(CosemAccessError):
        register.set(2, LongUnsigned(4), ctx)  # not a double-long-unsigned mask
    assert register.value == 0b0100
