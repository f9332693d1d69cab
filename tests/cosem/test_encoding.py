"""Every attribute value the model returns encodes with the A-XDR codec (and decodes back equal)."""

from __future__ import annotations

import hashlib

import pytest

from cosemnet.codec.axdr import encode_data
from cosemnet.codec.datetime import CosemDate, CosemDateTime, CosemTime
from cosemnet.codec.obis import Obis
from cosemnet.codec.types import BitString, DoubleLong, DoubleLongUnsigned, Float32, LongUnsigned
from cosemnet.cosem import (
    INTERFACE_CLASSES,
    AccessContext,
    ActionItem,
    ActionSet,
    AssociationLN,
    AssociationSN,
    CaptureObjectDefinition,
    Clock,
    CommunicationPortProtection,
    Data,
    DemandRegister,
    DisconnectControl,
    EmergencyProfile,
    ExtendedRegister,
    ImageTransfer,
    InterfaceClass,
    Ipv6Setup,
    Iso14908Diagnostic,
    Iso14908Identification,
    Iso14908IdentificationValues,
    Iso14908ProtocolSetup,
    Iso14908ProtocolStatus,
    Iso14908ProtocolStatusValues,
    Limiter,
    LimiterActions,
    LogicalDevice,
    ObjectAccessRights,
    ProfileGeneric,
    PushSetup,
    Register,
    RegisterMonitor,
    SapAssignment,
    Script,
    ScriptTable,
    SecuritySetup,
    SendDestinationAndMethod,
    SingleActionSchedule,
    TcpUdpSetup,
    TransportService,
    Unit,
    UtilityTables,
    ValueDefinition,
)
from cosemnet.cosem.script_table import ActionSpecification, ServiceId
from cosemnet.cosem.security_setup import KeyPairType
from cosemnet.cosem.single_action_schedule import ScheduleType
from cosemnet.security.suite import SecuritySuite

from .helpers import T0, RecordingEffects, read_all, roundtrip

CLOCK_TIME = CaptureObjectDefinition(8, Obis.parse("0-0:1.0.0*255"), 2, 0)
ENERGY = CaptureObjectDefinition(3, Obis.parse("1-0:1.8.0*255"), 2, 0)


def build_objects() -> list[InterfaceClass]:
    """One configured instance of every class."""
    image = ImageTransfer(image_block_size=4)
    image.initiate(b"FW-1", 10)
    for n, block in enumerate((b"abcd", b"efgh", b"ij")):
        image.transfer_block(n, block)
    image.verify()
    security = SecuritySetup(
        server_system_title=bytes.fromhex("4D4D4D0000BC614E"), security_suite=SecuritySuite.SUITE_1
    )
    security.generate_key_pair(KeyPairType.DIGITAL_SIGNATURE)
    profile = ProfileGeneric("1-0:99.1.0*255", [CLOCK_TIME, ENERGY], capture_period=900, profile_entries=10)
    profile.store((CosemDateTime(2024, 3, 1, 5, 12, 0, 0, 0, 0, 0).to_bytes(), DoubleLongUnsigned(5)))
    association = AssociationLN("0-0:40.0.1*255", secret=b"12345678")
    association.grant(profile, ObjectAccessRights.full(ProfileGeneric))
    association.user_list = [(1, "alice")]
    sn = AssociationSN()
    sn.grant(Register("1-0:1.8.0*255", base_name=0x0100))
    return [
        Data("0-0:96.1.0*255", b"SERIAL"),
        Register("1-0:1.8.0*255", DoubleLongUnsigned(42), -3, Unit.WATT_HOUR),
        ExtendedRegister("1-0:1.6.0*255", Float32(1.5), 0, Unit.WATT, BitString.from_bits("1010")),
        DemandRegister("1-0:1.4.0*255", period=60, number_of_periods=3, value_type=DoubleLong),
        profile,
        Clock(time_zone=-60, daylight_savings_enabled=True),
        ScriptTable(
            "0-0:10.0.100*255",
            [
                Script(
                    1,
                    (
                        ActionSpecification(
                            ServiceId.WRITE_ATTRIBUTE, 1, Obis.parse("0-0:96.1.0*255"), 2, b"X"
                        ),
                    ),
                )
            ],
        ),
        sn,
        association,
        SapAssignment(assignments={1: b"COSEMNET00000001"}),
        image,
        RegisterMonitor(
            "0-0:16.1.0*255",
            ValueDefinition(3, Obis.parse("1-0:1.8.0*255"), 2),
            [DoubleLongUnsigned(100), DoubleLongUnsigned(200)],
            [ActionSet(ActionItem(Obis.parse("0-0:10.0.100*255"), 1), ActionItem())],
        ),
        SingleActionSchedule(
            "0-0:15.0.0*255",
            ActionItem(Obis.parse("0-0:10.0.100*255"), 1),
            ScheduleType.DIFFERENT_TIMES_WILDCARDS,
            [(CosemTime(6, 0, 0, 0), CosemDate(0xFFFF, 0xFF, 0xFF, 0xFF))],
        ),
        UtilityTables.standard(1, b"MANUFACTURER"),
        PushSetup(
            push_object_list=[CaptureObjectDefinition(40, Obis.parse("0-0:25.9.0*255"), 1, 0), ENERGY],
            send_destination_and_method=SendDestinationAndMethod(TransportService.UDP, b"[2001:db8::1]:4059"),
            communication_window=[
                (CosemDateTime(2024, 1, 1, 1, 0, 0, 0, 0), CosemDateTime(2024, 1, 1, 1, 6, 0, 0, 0))
            ],
        ),
        TcpUdpSetup(),
        Ipv6Setup(unicast=[bytes(15) + b"\x01"]),
        security,
        DisconnectControl(),
        Limiter(
            "0-0:17.0.0*255",
            ValueDefinition(3, Obis.parse("1-0:1.7.0*255"), 2),
            DoubleLongUnsigned(5000),
            DoubleLongUnsigned(2000),
            60,
            30,
            LimiterActions(ActionItem(Obis.parse("0-0:10.0.106*255"), 1)),
            emergency_profile=EmergencyProfile(1, CosemDateTime(2024, 3, 1, 5, 11, 0, 0, 0, 0, 0), 3600),
            emergency_profile_group_id_list=[1, 2],
        ),
        CommunicationPortProtection("0-0:44.2.0*255", bytes.fromhex("0000190600FF")),
        Iso14908Identification(
            values=Iso14908IdentificationValues(5, 1, b"\x2a", bytes(range(8)), bytes(range(6)))
        ),
        Iso14908ProtocolSetup(),
        Iso14908ProtocolStatus(
            values=Iso14908ProtocolStatusValues(messages_received=70000, lost_messages=70000)
        ),
        Iso14908Diagnostic(),
    ]


def test_build_objects_covers_every_class() -> None:
    assert {type(o) for o in build_objects()} == set(INTERFACE_CLASSES)


@pytest.mark.parametrize("obj", build_objects(), ids=lambda o: type(o).__name__)
def test_every_attribute_encodes(obj: InterfaceClass) -> None:
    device = LogicalDevice(b"COSEMNET00000001")
    if not isinstance(obj, Clock):
        device.add(Clock())
    if not isinstance(obj, Register):
        device.add(Register("1-0:1.8.0*255", DoubleLongUnsigned(7)))
    device.add(obj)
    ctx = AccessContext(now=T0, effects=RecordingEffects(device))
    values = read_all(obj, ctx)
    write_only = {a.index for a in obj.ATTRIBUTES} - set(values)
    assert write_only == ({7} if isinstance(obj, AssociationLN) else set())
    for value in values.values():
        assert encode_data(value)
        roundtrip(value)


def test_digest_of_verified_image_is_reported() -> None:
    image = next(o for o in build_objects() if isinstance(o, ImageTransfer))
    info = image.get(7, AccessContext.local(T0))
    assert info == [(DoubleLongUnsigned(10), b"FW-1", hashlib.sha256(b"abcdefghij").digest())]


def test_status_counters_saturate() -> None:
    status = Iso14908ProtocolStatus(
        values=Iso14908ProtocolStatusValues(lost_messages=70000, messages_received=70000)
    )
    ctx = AccessContext.local(T0)
    assert status.get(6, ctx) == LongUnsigned(0xFFFF)
    assert status.get(10, ctx) == DoubleLongUnsigned(70000)
    assert type(status.get(10, ctx)) is DoubleLongUnsigned
    assert type(status.get(2, ctx)) is LongUnsigned
