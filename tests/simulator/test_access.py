"""Associations of the default meter: object lists, every object readable and A-XDR encodable, the
right denials, SN short names, what the server needs per client SAP."""

from __future__ import annotations

import datetime as dt

import pytest

from cosemnet.codec.axdr import decode_data_exact, encode_data
from cosemnet.codec.datetime import CosemDateTime
from cosemnet.codec.obis import Obis
from cosemnet.codec.types import DataValue, DoubleLongUnsigned, Enumerated, Integer, LongUnsigned, Unsigned
from cosemnet.cosem import AssociationLN, AssociationSN, CosemAccessError, DataAccessResult
from cosemnet.cosem.access import AttributeAccess, MethodAccess
from cosemnet.cosem.association_ln import CONTEXT_LN_CIPHERING, CONTEXT_LN_NO_CIPHERING
from cosemnet.cosem.association_sn import long_to_base_name
from cosemnet.cosem.results import ActionResult
from cosemnet.simulator import SimulatedMeter, build_meter, load_profile

from .helpers import T0

PUBLIC_OBJECTS = {
    "0-0:42.0.0*255", "0-0:40.0.1*255", "0-0:41.0.0*255", "0-0:96.1.0*255", "0-0:1.0.0*255",
    "1-0:1.8.0*255", "1-0:1.8.1*255", "1-0:1.8.2*255", "1-0:2.8.0*255", "1-0:3.8.0*255",
    "1-0:4.8.0*255", "1-0:32.7.0*255", "1-0:52.7.0*255", "1-0:72.7.0*255", "1-0:31.7.0*255",
    "1-0:51.7.0*255", "1-0:71.7.0*255", "1-0:1.7.0*255", "1-0:2.7.0*255", "1-0:14.7.0*255",
    "1-0:13.7.0*255", "1-0:1.4.0*255", "1-0:99.1.0*255", "1-0:0.2.0*255",
}  # fmt: skip


@pytest.fixture
def meter() -> SimulatedMeter:
    m = build_meter(load_profile(), start=T0)
    m.handle_timer(m.seconds(T0 + dt.timedelta(hours=5)))
    return m


def _roundtrip(value: DataValue) -> None:
    assert decode_data_exact(encode_data(value)) == value


def _object_list(meter: SimulatedMeter, client_sap: int) -> list[tuple[int, str]]:
    association = meter.association(client_sap)
    assert association is not None
    ctx = meter.context(association)
    value = meter.device.get(15, "0-0:40.0.0*255", 2, ctx)
    assert isinstance(value, list)
    return [(int(e[0]), str(Obis(e[2]))) for e in value]  # type: ignore[index, call-overload]


def test_public_association_lists_the_read_only_subset(meter: SimulatedMeter) -> None:
    listed = _object_list(meter, 16)
    assert {ln for _, ln in listed} == PUBLIC_OBJECTS
    association = meter.association(16)
    assert association is not None and isinstance(association.association, AssociationLN)
    for entry in association.association.entries:
        modes = {i.access_mode for i in entry.access_rights.attribute_access}
        assert modes <= {AttributeAccess.READ_ONLY, AttributeAccess.NO_ACCESS}
        assert all(m.access_mode is MethodAccess.NO_ACCESS for m in entry.access_rights.method_access)


@pytest.mark.parametrize("client_sap", [16, 1])
def test_every_visible_attribute_reads_and_encodes(meter: SimulatedMeter, client_sap: int) -> None:
    association = meter.association(client_sap)
    assert association is not None
    ctx = meter.context(association, request_authenticated=True)
    read = 0
    for entry in association.association.entries:
        for item in entry.access_rights.attribute_access:
            if not item.access_mode.allows_read(True):
                continue
            value = meter.device.get(entry.class_id, entry.logical_name, item.attribute_id, ctx)
            _roundtrip(value)
            read += 1
    visible = [meter.device.find(e.class_id, e.logical_name) for e in association.association.entries]
    expected = sum(len(o.ATTRIBUTES) for o in visible if o is not None)
    if client_sap == 1:
        assert len(visible) == len(meter.device)
    # the LN association secrets are write-only (management) or not accessible (public)
    expected -= len([o for o in visible if isinstance(o, AssociationLN)])
    assert read == expected


def test_every_object_of_the_meter_is_readable_internally(meter: SimulatedMeter) -> None:
    ctx = meter.context()
    for obj in meter.device:
        for attribute in obj.ATTRIBUTES:
            try:
                _roundtrip(obj.get(attribute.index, ctx))
            except CosemAccessError as exc:
                # only the association secrets are unreadable
                assert attribute.name == "secret", (obj, attribute)
                assert exc.result is DataAccessResult.READ_WRITE_DENIED


def test_register_values_and_scaler_units(meter: SimulatedMeter) -> None:
    ctx = meter.context(meter.association(16))
    assert meter.device.get(3, "1-0:1.8.0*255", 2, ctx) == DoubleLongUnsigned(int(meter.energy(0)))
    assert meter.device.get(3, "1-0:1.8.0*255", 3, ctx) == (Integer(0), Enumerated(30))
    voltage = meter.device.get(3, "1-0:32.7.0*255", 2, ctx)
    assert type(voltage) is LongUnsigned and 2200 <= voltage <= 2400
    assert meter.device.get(1, "0-0:42.0.0*255", 2, ctx) == b"MMM0000012345678"
    assert meter.device.get(1, "0-0:96.1.0*255", 2, ctx) == b"12345678"
    assert meter.device.get(17, "0-0:41.0.0*255", 2, ctx) == [(LongUnsigned(1), b"MMM0000012345678")]


@pytest.mark.parametrize(
    ("operation", "result"),
    [
        (lambda m, c: m.device.get(7, "0-0:99.98.0*255", 2, c), DataAccessResult.OBJECT_UNDEFINED),
        (lambda m, c: m.device.get(64, "0-0:43.0.0*255", 2, c), DataAccessResult.OBJECT_UNDEFINED),
        (
            lambda m, c: m.device.set(8, "0-0:1.0.0*255", 2, CosemDateTime.from_datetime(T0).to_bytes(), c),
            DataAccessResult.READ_WRITE_DENIED,
        ),
        (
            lambda m, c: m.device.set(7, "1-0:99.1.0*255", 8, DoubleLongUnsigned(5), c),
            DataAccessResult.READ_WRITE_DENIED,
        ),
        (
            lambda m, c: m.device.action(70, "0-0:96.3.10*255", 1, Integer(0), c),
            ActionResult.OBJECT_UNDEFINED,
        ),
        (lambda m, c: m.device.action(8, "0-0:1.0.0*255", 6, Integer(0), c), ActionResult.READ_WRITE_DENIED),
        (lambda m, c: m.device.action(3, "1-0:1.8.0*255", 1, Integer(0), c), ActionResult.READ_WRITE_DENIED),
    ],
)
def test_public_denials(meter: SimulatedMeter, operation, result) -> None:  # type: ignore[no-untyped-def]
    ctx = meter.context(meter.association(16))
    with pytest.raises(CosemAccessError) as info:
        operation(meter, ctx)
    assert info.value.result == result


def test_management_denials(meter: SimulatedMeter) -> None:
    ctx = meter.context(meter.association(1), authenticated=True)
    with pytest.raises(CosemAccessError) as info:
        meter.device.get(15, "0-0:40.0.2*255", 7, ctx)  # the secret is write-only
    assert info.value.result is DataAccessResult.READ_WRITE_DENIED
    with pytest.raises(CosemAccessError) as info:
        meter.device.set(3, "1-0:1.8.0*255", 2, DoubleLongUnsigned(0), ctx)  # energy is not settable
    assert info.value.result is DataAccessResult.READ_WRITE_DENIED
    with pytest.raises(CosemAccessError) as info:
        meter.device.action(3, "1-0:1.8.0*255", 1, Integer(0), ctx)  # nor resettable
    assert info.value.result is ActionResult.READ_WRITE_DENIED
    energy = meter.energy(0)
    assert energy > 0


def test_management_may_configure(meter: SimulatedMeter) -> None:
    ctx = meter.context(meter.association(1), authenticated=True)
    meter.device.set(70, "0-0:96.3.10*255", 4, Enumerated(3), ctx)
    meter.device.set(5, "1-0:1.4.0*255", 8, DoubleLongUnsigned(1800), ctx)
    assert meter.demand_registers[0].period == 1800


def test_current_association_is_the_one_of_the_request(meter: SimulatedMeter) -> None:
    assert {ln for _, ln in _object_list(meter, 1)} >= PUBLIC_OBJECTS | {"0-0:99.98.0*255", "0-0:43.0.0*255"}
    ctx = meter.context(meter.association(16))
    assert meter.device.get(15, "0-0:40.0.0*255", 3, ctx) == (Integer(16), LongUnsigned(1))
    ctx = meter.context(meter.association(1))
    assert meter.device.get(15, "0-0:40.0.0*255", 6, ctx) == bytes.fromhex("60857405080205")


def test_sn_association_short_names_resolve(meter: SimulatedMeter) -> None:
    association = meter.association(17)
    assert association is not None and isinstance(association.association, AssociationSN)
    assert association.association.base_name == 0xFA00
    ctx = meter.context(association)
    listed = meter.device.find_by_short_name(0xFA00 + 8)
    assert listed is not None and listed[0] is association.association
    object_list = association.association.get(2, ctx)
    assert isinstance(object_list, list) and len(object_list) == len(meter.device) - 3
    seen = set()
    for base_name_long, class_id, _version, ln in object_list:  # type: ignore[misc]
        base_name = long_to_base_name(int(base_name_long))
        seen.add(base_name)
        obj = meter.device.find(int(class_id), ln)
        assert obj is not None and obj.base_name == base_name
        target = meter.device.find_by_short_name(base_name + 8)  # attribute 2
        assert target == (obj, "attribute", 2)
        if obj.class_id != 15 and obj.class_id != 12:
            try:
                value = obj.get(2, ctx)
            except CosemAccessError as exc:  # secrets only
                assert exc.result is DataAccessResult.READ_WRITE_DENIED
            else:
                _roundtrip(value)
    assert len(seen) == len(object_list)
    clock = meter.device.find(8, "0-0:1.0.0*255")
    assert clock is not None and clock.base_name is not None
    assert meter.device.find_by_short_name(clock.method_short_name(6)) == (clock, "method", 6)
    with pytest.raises(CosemAccessError) as info:
        clock.set(2, CosemDateTime.from_datetime(T0).to_bytes(), ctx)
    assert info.value.result is DataAccessResult.READ_WRITE_DENIED
    hidden = meter.device.find(15, "0-0:40.0.2*255")
    assert hidden is not None
    with pytest.raises(CosemAccessError):
        hidden.get(2, ctx)


def test_what_the_server_needs_per_client_sap() -> None:
    meter = build_meter(load_profile())
    assert meter.client_saps == (16, 1, 17)
    assert meter.association(99) is None
    public, management, reader = (meter.association(sap) for sap in (16, 1, 17))
    assert public is not None and management is not None and reader is not None
    assert public.mechanism_id == 0 and public.security_policy == 0
    assert public.application_context_name == CONTEXT_LN_NO_CIPHERING
    assert management.mechanism_id == 5 and management.security_policy == 0x6C
    assert management.application_context_name == CONTEXT_LN_CIPHERING
    assert management.security_setup is not None
    keys = management.security_setup.keys
    assert keys.ek == bytes.fromhex("000102030405060708090A0B0C0D0E0F")
    assert keys.ak == bytes.fromhex("D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF")
    assert management.security_setup.server_system_title == bytes.fromhex("4D4D4D0000BC614E")
    assert management.security_setup.client_system_title == bytes.fromhex("4D4D4D0000000001")
    assert reader.referencing == "sn" and reader.mechanism_id == 1
    assert reader.association.check_lls_secret(b"12345678")
    assert not reader.association.check_lls_secret(b"12345679")
    assert "0001020304" not in repr(management.security_setup.keys)


def test_meters_share_object_lists_copy_on_write() -> None:
    profile = load_profile()
    a, b = build_meter(profile, serial=1), build_meter(profile, serial=2)
    la, lb = a.association(16), b.association(16)
    assert la is not None and lb is not None
    assert la.association._entries is lb.association._entries  # shared
    clock = a.device.find(8, "0-0:1.0.0*255")
    assert clock is not None
    la.association.remove_entry(8, clock.logical_name)
    assert la.association.entry(8, clock.logical_name) is None
    assert lb.association.entry(8, clock.logical_name) is not None
    assert (
        a.system_title == bytes.fromhex("4D4D4D0000000001") and a.logical_device_name == b"MMM0000000000001"
    )
    c = build_meter(profile, system_title=bytes.fromhex("4D4D4D00000003E8"))
    assert c.serial == 1000 and c.device.get(1, "0-0:96.1.0*255", 2, c.context()) == b"1000"


def test_event_code_object_holds_unsigned(meter: SimulatedMeter) -> None:
    assert meter.device.get(1, "0-0:96.11.0*255", 2, meter.context()) == Unsigned(0)


def test_association_objects_carry_their_application_context() -> None:
    # The Association LN objects themselves must say which context they expect (attribute 4), so that a
    # server deriving its profiles from the object model, or a client reading attribute 4, sees the truth.
    from cosemnet.cosem.association_ln import CONTEXT_LN_CIPHERING, CONTEXT_LN_NO_CIPHERING
    from cosemnet.server.config import profiles_of
    from cosemnet.simulator import build_meter

    meter = build_meter()
    management = meter.association(1)
    public = meter.association(16)
    assert management.association.application_context_name == CONTEXT_LN_CIPHERING
    assert public.association.application_context_name == CONTEXT_LN_NO_CIPHERING
    derived = {p.client_sap: p for p in profiles_of(meter.device)}
    assert derived[1].ciphered and not derived[16].ciphered
    assert management.application_context_name == CONTEXT_LN_CIPHERING
