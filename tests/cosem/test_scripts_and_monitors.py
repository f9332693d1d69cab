"""Script table, Register monitor, Single action schedule and Limiter (in simulated time)."""

from __future__ import annotations

import datetime as dt

import pytest

from cosemnet.codec.datetime import CosemDate, CosemDateTime, CosemTime
from cosemnet.codec.obis import Obis
from cosemnet.codec.types import DoubleLongUnsigned, Enumerated, Integer, LongUnsigned
from cosemnet.cosem import (
    AccessContext,
    ActionItem,
    ActionSet,
    ActionSpecification,
    ControlState,
    Data,
    DisconnectControl,
    EmergencyProfile,
    Limiter,
    LimiterActions,
    Register,
    RegisterMonitor,
    ScheduleType,
    Script,
    ScriptTable,
    ServiceId,
    SingleActionSchedule,
    ValueDefinition,
)
from cosemnet.cosem.results import ActionResult, CosemAccessError, DataAccessResult
from cosemnet.cosem.single_action_schedule import date_matches

from .helpers import T0, RecordingEffects, meter

SCRIPTS = Obis.parse("0-0:10.0.100*255")
DISCONNECT_SCRIPTS = Obis.parse("0-0:10.0.106*255")
FLAG = Obis.parse("0-0:96.5.0*255")
POWER = Obis.parse("1-0:1.7.0*255")


def device_with_scripts() -> tuple[RecordingEffects, Data, DisconnectControl, Register]:
    device, effects = meter()
    flag = device.add(Data(FLAG, LongUnsigned(0)))
    breaker = device.add(DisconnectControl())
    power = device.add(Register(POWER, DoubleLongUnsigned(0)))
    device.add(
        ScriptTable(
            SCRIPTS,
            [
                Script(1, (ActionSpecification(ServiceId.WRITE_ATTRIBUTE, 1, FLAG, 2, LongUnsigned(1)),)),
                Script(2, (ActionSpecification(ServiceId.WRITE_ATTRIBUTE, 1, FLAG, 2, LongUnsigned(2)),)),
                Script(
                    3,
                    (
                        ActionSpecification(ServiceId.WRITE_ATTRIBUTE, 1, FLAG, 2, LongUnsigned(3)),
                        ActionSpecification(ServiceId.WRITE_ATTRIBUTE, 1, FLAG, 2, b"wrong type"),
                        ActionSpecification(ServiceId.EXECUTE_METHOD, 3, POWER, 1, Integer(0)),
                    ),
                ),
            ],
        )
    )
    device.add(
        ScriptTable(
            DISCONNECT_SCRIPTS,
            [
                Script(
                    1,
                    (ActionSpecification(ServiceId.EXECUTE_METHOD, 70, breaker.logical_name, 1, Integer(0)),),
                ),
                Script(
                    2,
                    (ActionSpecification(ServiceId.EXECUTE_METHOD, 70, breaker.logical_name, 2, Integer(0)),),
                ),
            ],
        )
    )
    return effects, flag, breaker, power


def test_script_table_execute() -> None:
    effects, flag, _, power = device_with_scripts()
    table = effects.device.find(9, SCRIPTS)
    assert isinstance(table, ScriptTable)
    ctx = AccessContext(now=T0, effects=effects)
    table.action(1, LongUnsigned(2), ctx)
    assert flag.value == LongUnsigned(2)
    table.action(1, LongUnsigned(0), ctx)  # the null script
    assert flag.value == LongUnsigned(2)
    power.value = DoubleLongUnsigned(9)
    with pytest.raises(CosemAccessError) as info:
        table.action(1, LongUnsigned(3), ctx)  # second action fails, the others still run
    assert info.value.result is ActionResult.OTHER_REASON
    assert flag.value == LongUnsigned(3) and power.value == DoubleLongUnsigned(0)
    with pytest.raises(CosemAccessError) as info:
        table.action(1, LongUnsigned(9), ctx)
    assert info.value.result is ActionResult.OTHER_REASON
    with pytest.raises(CosemAccessError) as info:
        table.action(1, Integer(1), ctx)
    assert info.value.result is ActionResult.TYPE_UNMATCHED
    scripts = table.get(2, ctx)
    table.set(2, scripts, ctx)
    with pytest.raises(CosemAccessError):
        table.set(2, scripts + scripts, ctx)  # type: ignore[operator]  # duplicate identifiers


def test_register_monitor_runs_scripts_on_crossings() -> None:
    effects, flag, _, power = device_with_scripts()
    monitor = effects.device.add(
        RegisterMonitor(
            "0-0:16.1.0*255",
            ValueDefinition(3, POWER, 2),
            [DoubleLongUnsigned(100), DoubleLongUnsigned(200)],
            [
                ActionSet(ActionItem(SCRIPTS, 1), ActionItem(SCRIPTS, 2)),
                ActionSet(ActionItem(SCRIPTS, 3), ActionItem()),
            ],
        )
    )
    ctx = AccessContext(now=T0, effects=effects)
    steps = [
        (50, []),
        (150, [(SCRIPTS, 1)]),
        (160, []),
        (250, [(SCRIPTS, 3)]),
        (90, [(SCRIPTS, 2)]),
        (100, []),
    ]
    for value, expected in steps:
        power.value = DoubleLongUnsigned(value)
        effects.recorded.scripts.clear()
        failures = monitor.evaluate(ctx)
        assert effects.recorded.scripts == expected, value
        assert len(failures) == (1 if expected == [(SCRIPTS, 3)] else 0)  # script 3 has a failing action
    assert flag.value == LongUnsigned(2)
    # a SET restarts the monitoring: the next evaluation only records the state
    monitor.set(2, [DoubleLongUnsigned(10)], ctx)
    effects.recorded.scripts.clear()
    power.value = DoubleLongUnsigned(500)
    monitor.evaluate(ctx)
    assert effects.recorded.scripts == []
    with pytest.raises(CosemAccessError):
        monitor.set(2, [b"x"], ctx)
    roundtrip_value = monitor.get(4, ctx)
    monitor.set(4, roundtrip_value, ctx)
    monitor.set(3, monitor.get(3, ctx), ctx)


def test_single_action_schedule() -> None:
    effects, flag, _, _ = device_with_scripts()
    sas = effects.device.add(
        SingleActionSchedule(
            "0-0:15.0.0*255",
            ActionItem(SCRIPTS, 1),
            ScheduleType.DIFFERENT_TIMES_WILDCARDS,
            [
                (CosemTime(12, 30, 0, 0), CosemDate(0xFFFF, 0xFF, 0xFF, 0xFF)),  # every day 12:30
                (CosemTime(0, 0, 0, 0), CosemDate(0xFFFF, 0xFF, 0xFE, 0xFF)),  # last day of month, midnight
            ],
        )
    )
    start = dt.datetime(2024, 2, 28, 12, 0)
    assert sas.occurrences(start, dt.datetime(2024, 3, 1, 12, 0)) == [
        dt.datetime(2024, 2, 28, 12, 30),
        dt.datetime(2024, 2, 29, 0, 0),
        dt.datetime(2024, 2, 29, 12, 30),
    ]
    now, failures = sas.tick(
        dt.datetime(2024, 3, 1, 12, 29), AccessContext(now=T0 + dt.timedelta(minutes=31), effects=effects)
    )
    assert now == dt.datetime(2024, 3, 1, 12, 31) and failures == []
    assert effects.recorded.scripts == [(SCRIPTS, 1)] and flag.value == LongUnsigned(1)
    ctx = AccessContext(now=T0, effects=effects)
    with pytest.raises(CosemAccessError) as info:
        sas.set(3, Enumerated(1), ctx)  # type 1 allows one entry only
    assert info.value.result is DataAccessResult.TYPE_UNMATCHED
    with pytest.raises(CosemAccessError):
        sas.set(3, Enumerated(2), ctx)  # type 2: same time everywhere, no wildcards
    sas.set(4, [(CosemTime(6, 0, 0, 0).to_bytes(), CosemDate(2024, 5, 1, 0xFF).to_bytes())], ctx)
    sas.set(3, Enumerated(1), ctx)
    assert sas.get(4, ctx) == [(CosemTime(6, 0, 0, 0).to_bytes(), CosemDate(2024, 5, 1, 0xFF).to_bytes())]
    hourly = SingleActionSchedule(
        "0-0:15.0.1*255",
        ActionItem(SCRIPTS, 1),
        ScheduleType.SINGLE,
        [(CosemTime(0xFF, 15, 0xFF, 0xFF), CosemDate(2024, 3, 1, 0xFF))],
    )
    assert len(hourly.occurrences(dt.datetime(2024, 3, 1), dt.datetime(2024, 3, 2))) == 24


def test_date_matching() -> None:
    assert date_matches(CosemDate(0xFFFF, 0xFF, 0xFF, 1), dt.date(2024, 3, 4))  # any Monday
    assert not date_matches(CosemDate(0xFFFF, 0xFF, 0xFF, 1), dt.date(2024, 3, 5))
    assert date_matches(CosemDate(0xFFFF, 2, 0xFD, 0xFF), dt.date(2024, 2, 28))  # second last of Feb (leap)
    assert not date_matches(CosemDate(0xFFFF, 0xFE, 1, 0xFF), dt.date(2024, 3, 1))  # DST marker never matches
    assert not date_matches(CosemDate(2023, 3, 1, 0xFF), dt.date(2024, 3, 1))


def test_limiter_in_simulated_time() -> None:
    effects, _, breaker, power = device_with_scripts()
    limiter = effects.device.add(
        Limiter(
            "0-0:17.0.0*255",
            ValueDefinition(3, POWER, 2),
            DoubleLongUnsigned(5000),
            DoubleLongUnsigned(2000),
            min_over_threshold_duration=60,
            min_under_threshold_duration=30,
            actions=LimiterActions(ActionItem(DISCONNECT_SCRIPTS, 1), ActionItem(DISCONNECT_SCRIPTS, 2)),
        )
    )

    def at(seconds: int, watts: int) -> None:
        power.value = DoubleLongUnsigned(watts)
        limiter.evaluate(AccessContext(now=T0 + dt.timedelta(seconds=seconds), effects=effects))

    at(0, 6000)
    at(30, 6000)
    assert breaker.control_state is ControlState.CONNECTED  # over for 30 s only
    at(40, 4000)  # dips under: the over timer restarts
    at(50, 6000)
    at(109, 6000)
    assert breaker.control_state is ControlState.CONNECTED
    at(110, 6000)  # 60 s over
    assert breaker.control_state is ControlState.DISCONNECTED and limiter.over
    at(120, 100)
    at(149, 100)
    assert limiter.over
    at(150, 100)  # 30 s under: action_under_threshold (remote_reconnect, mode 1 -> connected)
    assert not limiter.over and breaker.control_state is ControlState.CONNECTED
    assert [s for s in effects.recorded.scripts] == [(DISCONNECT_SCRIPTS, 1), (DISCONNECT_SCRIPTS, 2)]


def test_limiter_emergency_profile() -> None:
    limiter = Limiter(
        "0-0:17.0.0*255",
        ValueDefinition(3, POWER, 2),
        DoubleLongUnsigned(5000),
        DoubleLongUnsigned(2000),
        emergency_profile=EmergencyProfile(7, CosemDateTime(2024, 3, 1, 5, 12, 10, 0, 0, 0, 0), 600),
        emergency_profile_group_id_list=[3],
    )

    def ctx(minutes: int) -> AccessContext:
        return AccessContext.local(T0 + dt.timedelta(minutes=minutes))

    assert limiter.get(10, ctx(15)) is False  # id 7 not in the group list
    limiter.set(9, [LongUnsigned(3), LongUnsigned(7)], ctx(0))
    assert limiter.get(3, ctx(5)) == DoubleLongUnsigned(5000)
    assert limiter.get(10, ctx(10)) is True
    assert limiter.get(3, ctx(15)) == DoubleLongUnsigned(2000)
    assert limiter.get(10, ctx(20)) is False
    assert limiter.evaluate_value(DoubleLongUnsigned(3000), ctx(15)) == []
    assert limiter.over  # 3000 W > emergency threshold, no minimum duration
    # unspecified deviation: the activation time is in the meter's local time (here UTC)
    limiter.set(
        8,
        (LongUnsigned(7), CosemDateTime(2024, 3, 1, 5, 13, 0, 0, 0).to_bytes(), DoubleLongUnsigned(60)),
        ctx(0),
    )
    assert limiter.get(10, ctx(60)) is True and limiter.get(10, ctx(62)) is False
    for index in (3, 10):
        with pytest.raises(CosemAccessError) as info:
            limiter.set(index, DoubleLongUnsigned(1), ctx(0))
        assert info.value.result is DataAccessResult.READ_WRITE_DENIED
    with pytest.raises(CosemAccessError):
        limiter.set(4, b"x", ctx(0))
    limiter.set(11, limiter.get(11, ctx(0)), ctx(0))
    limiter.set(2, limiter.get(2, ctx(0)), ctx(0))
