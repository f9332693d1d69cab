"""Data, Register, Extended register and Demand register behaviour."""

from __future__ import annotations

import datetime as dt

import pytest

from cosemnet.codec.datetime import CosemDateTime
from cosemnet.codec.types import (
    BitString,
    DoubleLong,
    DoubleLongUnsigned,
    Enumerated,
    Float32,
    Integer,
    LongUnsigned,
    Unsigned,
    Utf8String,
)
from cosemnet.cosem import AccessContext, Data, DemandRegister, ExtendedRegister, Register, Unit
from cosemnet.cosem.results import ActionResult, CosemAccessError, DataAccessResult

from .helpers import T0, meter


def local(now: dt.datetime = T0) -> AccessContext:
    return AccessContext.local(now)


def test_data_keeps_its_type_and_supports_providers() -> None:
    data = Data("0-0:96.1.0*255", b"SERIAL")
    data.set(2, b"OTHER", local())
    assert data.get(2, local()) == b"OTHER"
    with pytest.raises(CosemAccessError) as info:
        data.set(2, "visible", local())
    assert info.value.result is DataAccessResult.TYPE_UNMATCHED
    untyped = Data("0-0:96.1.1*255")
    untyped.set(2, [Unsigned(1)], local())
    assert untyped.get(2, local()) == [Unsigned(1)]
    live = Data("0-0:96.1.2*255", provider=lambda ctx: DoubleLongUnsigned(int(ctx.now.timestamp())))
    assert live.get(2, local()) == DoubleLongUnsigned(int(T0.timestamp()))
    with pytest.raises(CosemAccessError) as info:
        live.set(2, DoubleLongUnsigned(0), local())
    assert info.value.result is DataAccessResult.READ_WRITE_DENIED


def test_register_value_scaler_unit_and_reset() -> None:
    reg = Register("1-0:1.8.0*255", DoubleLongUnsigned(123456), -3, Unit.WATT_HOUR)
    assert reg.get(3, local()) == (Integer(-3), Enumerated(30))
    assert reg.physical_value() == pytest.approx(123.456)
    reg.set(2, DoubleLongUnsigned(7), local())
    with pytest.raises(CosemAccessError) as info:
        reg.set(2, LongUnsigned(7), local())  # must keep its type
    assert info.value.result is DataAccessResult.TYPE_UNMATCHED
    with pytest.raises(CosemAccessError):
        reg.set(2, [DoubleLongUnsigned(1)], local())  # not a register value type
    reg.set(3, (Integer(0), Enumerated(Unit.KILOGRAM)), local())
    assert (reg.scaler, reg.unit) == (0, 20)
    with pytest.raises(CosemAccessError):
        reg.set(3, (Integer(0), Unsigned(20)), local())
    reg.action(1, Integer(0), local())
    assert reg.value == DoubleLongUnsigned(0) and type(reg.value) is DoubleLongUnsigned
    reg.action(1, None, local())  # null-data accepted for parameterless methods
    text = Register("0-0:96.1.3*255", Utf8String("é"))
    text.action(1, Integer(0), local())
    assert text.value == Utf8String("") and type(text.value) is Utf8String
    with pytest.raises(CosemAccessError) as info:
        reg.action(1, Integer(1), local())
    assert info.value.result is ActionResult.TYPE_UNMATCHED
    with pytest.raises(ValueError):
        Register("1-0:1.8.0*255", [DoubleLongUnsigned(1)])
    with pytest.raises(TypeError):
        Register("0-0:96.1.3*255", b"x").physical_value()


def test_extended_register_status_and_capture_time() -> None:
    device, effects = meter()
    ext = device.add(
        ExtendedRegister("1-0:1.6.0*255", Float32(0.0), 0, Unit.WATT, BitString.from_bits("0000"))
    )
    ctx = AccessContext(now=T0, effects=effects)
    assert ext.get(5, ctx) == CosemDateTime().to_bytes()  # never captured: all not specified
    ext.update(Float32(2.5), ctx, BitString.from_bits("1001"))
    assert ext.get(2, ctx) == Float32(2.5)
    assert ext.get(4, ctx) == BitString.from_bits("1001")
    captured = CosemDateTime.from_bytes(ext.get(5, ctx))  # type: ignore[arg-type]
    assert (captured.hour, captured.minute) == (12, 0)
    later = AccessContext(now=T0 + dt.timedelta(minutes=5), effects=effects)
    ext.action(1, Integer(0), later)
    assert ext.value == Float32(0.0) and ext.status == BitString.from_bits("0000")
    assert CosemDateTime.from_bytes(ext.get(5, later)).minute == 5  # type: ignore[arg-type]
    for index in (4, 5):
        with pytest.raises(CosemAccessError) as info:
            ext.set(index, Unsigned(0), ctx)
        assert info.value.result is DataAccessResult.READ_WRITE_DENIED


def test_demand_register_block_demand() -> None:
    device, effects = meter()
    demand = device.add(DemandRegister("1-0:1.4.0*255", period=900, number_of_periods=1, unit=Unit.WATT))
    t = T0
    demand.start(AccessContext(now=t, effects=effects))
    for _ in range(3):  # 300 s at 1200 W
        t += dt.timedelta(seconds=100)
        demand.add(1200, 100, AccessContext(now=t, effects=effects))
    ctx = AccessContext(now=t, effects=effects)
    assert demand.get(2, ctx) == DoubleLongUnsigned(400)  # 1200 W * 300 s / 900 s
    assert demand.next_deadline() == T0 + dt.timedelta(seconds=900)
    assert demand.tick(ctx) == 0
    end = AccessContext(now=T0 + dt.timedelta(seconds=900), effects=effects)
    assert demand.tick(end) == 1
    assert demand.get(3, end) == DoubleLongUnsigned(400)
    assert demand.get(2, end) == DoubleLongUnsigned(0)
    assert CosemDateTime.from_bytes(demand.get(6, end)).minute == 15  # type: ignore[arg-type]
    assert demand.get(7, end) == demand.get(6, end)
    late = AccessContext(now=T0 + dt.timedelta(seconds=3 * 900 + 10), effects=effects)
    assert demand.tick(late) == 2  # skipped periods close with no energy
    assert demand.get(3, late) == DoubleLongUnsigned(0)


def test_demand_register_sliding_window_and_methods() -> None:
    demand = DemandRegister("1-0:1.4.0*255", period=60, number_of_periods=3, scaler=-1, value_type=DoubleLong)
    ctx = local()
    for power in (300, 600, 900):
        demand.add(power, 60, ctx)
        demand.action(2, Integer(0), ctx)  # next_period
    # window holds the last 2 completed periods (600, 900 W over 60 s) + running one (empty)
    assert demand.current_average == pytest.approx((600 + 900) * 60 / 180)
    assert demand.get(2, ctx) == DoubleLong(5000)  # 500 W with scaler -1
    assert demand.last_average == pytest.approx((300 + 600 + 900) * 60 / 180)
    demand.action(1, Integer(0), ctx)
    assert demand.get(2, ctx) == DoubleLong(0) and demand.get(3, ctx) == DoubleLong(0)
    demand.set(8, DoubleLongUnsigned(120), ctx)
    demand.set(9, LongUnsigned(1), ctx)
    assert (demand.period, demand.number_of_periods) == (120, 1)
    for index, bad in ((8, DoubleLongUnsigned(0)), (9, LongUnsigned(0)), (9, Unsigned(1))):
        with pytest.raises(CosemAccessError):
            demand.set(index, bad, ctx)
    with pytest.raises(CosemAccessError) as info:
        demand.set(2, DoubleLong(1), ctx)
    assert info.value.result is DataAccessResult.READ_WRITE_DENIED
    f = DemandRegister("1-0:1.4.1*255", value_type=Float32)
    f.add(1.5, 900, ctx)
    assert f.get(2, ctx) == Float32(1.5)
    clamped = DemandRegister("1-0:1.4.2*255", value_type=LongUnsigned, period=1)
    clamped.add(1e9, 1, ctx)
    assert clamped.get(2, ctx) == LongUnsigned(0xFFFF)
