"""LogicalDevice: mandatory objects, lookup by OBIS and by short name, resolution errors, effects."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cosemnet.codec.obis import Obis
from cosemnet.codec.types import DoubleLongUnsigned, Integer
from cosemnet.cosem import (
    LOGICAL_DEVICE_NAME_LN,
    AccessContext,
    AssociationLN,
    AssociationSN,
    Clock,
    Data,
    DeviceEffects,
    LogicalDevice,
    ObjectAccessRights,
    ProfileGeneric,
    Register,
)
from cosemnet.cosem.results import ActionResult, CosemAccessError, DataAccessResult

from .helpers import T0, meter


def test_mandatory_logical_device_name() -> None:
    device = LogicalDevice(b"COSEMNET00000001")
    assert device.logical_device_name == b"COSEMNET00000001"
    name = device.find(1, LOGICAL_DEVICE_NAME_LN)
    assert isinstance(name, Data) and name.get(2, AccessContext.local(T0)) == b"COSEMNET00000001"
    assert device.get(1, "0-0:42.0.0*255", 2, AccessContext.local(T0)) == b"COSEMNET00000001"
    with pytest.raises(ValueError):
        LogicalDevice(b"")
    with pytest.raises(ValueError):
        LogicalDevice(b"x" * 17)


def test_lookup_and_resolution_errors() -> None:
    device, _ = meter()
    ctx = AccessContext.local(T0)
    assert device.find(3, "1-0:1.8.0*255") is device.find(3, Obis.parse("1-0:1.8.0*255"))
    assert [type(o) for o in device.find_by_logical_name("1-0:1.8.0*255")] == [Register]
    with pytest.raises(CosemAccessError) as info:
        device.resolve(4, "1-0:1.8.0*255", ctx)  # the name exists with another class
    assert info.value.result is DataAccessResult.OBJECT_CLASS_INCONSISTENT
    with pytest.raises(CosemAccessError) as info:
        device.get(3, "1-0:2.8.0*255", 2, ctx)
    assert info.value.result is DataAccessResult.OBJECT_UNDEFINED
    with pytest.raises(CosemAccessError) as info:
        device.action(3, "1-0:2.8.0*255", 1, Integer(0), ctx)
    assert info.value.result is ActionResult.OBJECT_UNDEFINED
    device.set(3, "1-0:1.8.0*255", 2, DoubleLongUnsigned(5), ctx)
    assert device.get(3, "1-0:1.8.0*255", 2, ctx) == DoubleLongUnsigned(5)
    assert device.action(3, "1-0:1.8.0*255", 1, Integer(0), ctx) is None
    with pytest.raises(ValueError):
        device.add(Register("1-0:1.8.0*255"))  # same class and name twice
    removed = device.remove(3, "1-0:1.8.0*255")
    assert isinstance(removed, Register) and device.find(3, "1-0:1.8.0*255") is None
    assert len(device) == 2 and {type(o) for o in device} == {Data, Clock}


def test_short_name_lookup() -> None:
    device = LogicalDevice(b"COSEMNET00000001")
    reg = device.add(Register("1-0:1.8.0*255", base_name=0x0100))
    clock = device.add(Clock(base_name=0x0200))
    assert device.find_by_short_name(0x0108) == (reg, "attribute", 2)
    assert device.find_by_short_name(0x0128) == (reg, "method", 1)
    assert device.find_by_short_name(0x0288) == (clock, "method", 6)
    assert device.find_by_short_name(0x0118) is None
    assert device.find_by_short_name(0x00F8) is None
    with pytest.raises(ValueError):
        device.add(Register("1-0:2.8.0*255", base_name=0x0120))  # overlaps the register's method
    with pytest.raises(ValueError):
        device.add(Register("1-0:2.8.0*255", base_name=0x01F0))  # runs into the clock
    device.add(Register("1-0:2.8.0*255", base_name=0x0130))
    with pytest.raises(ValueError):
        device.add(Clock("0-0:1.0.1*255", base_name=0xFFC0))  # past 0xFFFF


@settings(max_examples=30)
@given(st.lists(st.sampled_from(["register", "clock", "profile", "data"]), min_size=1, max_size=12))
def test_allocated_base_names_never_overlap(kinds: list[str]) -> None:
    device = LogicalDevice(b"COSEMNET00000001")
    for i, kind in enumerate(kinds):
        ln = f"1-0:99.{i}.0*255"
        obj = {"register": Register, "clock": Clock, "profile": ProfileGeneric, "data": Data}[kind](ln)
        device.add(obj)
    device.add(Register("1-0:1.8.0*255", base_name=0x0108))  # one fixed object in the way
    device.allocate_base_names()
    spans = sorted(
        (o.base_name, o.base_name + o.short_name_span()) for o in device if o.base_name is not None
    )
    assert len(spans) == len(device)
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert end <= start
    for obj in device:
        assert obj.base_name is not None
        for a in obj.ATTRIBUTES:
            assert device.find_by_short_name(obj.attribute_short_name(a.index)) == (obj, "attribute", a.index)


def test_sn_association_over_an_allocated_device() -> None:
    device = LogicalDevice(b"COSEMNET00000001")
    association = device.add(AssociationSN())
    device.add(Register("1-0:1.8.0*255"))
    device.allocate_base_names(0x1000)
    device.grant_all(association)
    ctx = AccessContext(now=T0, effects=DeviceEffects(device), association=association)
    target = device.find_by_short_name(device.objects[-1].attribute_short_name(2))  # type: ignore[union-attr]
    assert target is not None
    obj, kind, index = target
    assert kind == "attribute" and obj.get(index, ctx) == DoubleLongUnsigned(0)
    with pytest.raises(CosemAccessError):
        obj.set(index, DoubleLongUnsigned(1), ctx)  # read-only by default


def test_grant_all_with_a_rights_policy() -> None:
    device, _ = meter()
    association = device.add(AssociationLN("0-0:40.0.1*255"))
    device.grant_all(
        association, lambda o: None if isinstance(o, Clock) else ObjectAccessRights.full(type(o))
    )
    assert association.rights_for(8, Obis.parse("0-0:1.0.0*255")) is None
    assert association.rights_for(3, Obis.parse("1-0:1.8.0*255")) == ObjectAccessRights.full(Register)


def test_device_effects_timestamp_uses_the_clock() -> None:
    device, effects = meter()
    clock = device.clock
    assert clock is not None
    clock.time_zone = -60
    stamp = effects.timestamp(AccessContext(now=T0, effects=effects))
    assert (stamp.hour, stamp.deviation) == (13, -60)
    bare = DeviceEffects(LogicalDevice(b"X"))
    assert bare.timestamp(AccessContext(now=T0, effects=bare)).hour == 12
    with pytest.raises(CosemAccessError):
        effects.execute_action(
            7, 3, Obis.parse("1-0:1.8.0*255"), 2, None, AccessContext(now=T0, effects=effects)
        )
    second = LogicalDevice(b"Y")
    other_clock = second.add(Clock("0-0:1.0.5*255"))
    assert second.clock is other_clock
