"""SAP assignment, TCP-UDP setup, IPv6 setup, Push setup, Utility tables, Communication port
protection and the ISO/IEC 14908 classes."""

from __future__ import annotations

import datetime as dt
import ipaddress

import pytest

from cosemnet.codec.datetime import CosemDateTime
from cosemnet.codec.obis import Obis
from cosemnet.codec.types import DoubleLongUnsigned, Enumerated, Integer, LongUnsigned, Unsigned
from cosemnet.cosem import (
    AccessContext,
    CaptureObjectDefinition,
    CommunicationPortProtection,
    Ipv6Setup,
    Iso14908Diagnostic,
    Iso14908DiagnosticValues,
    Iso14908Identification,
    Iso14908IdentificationValues,
    Iso14908ProtocolSetup,
    Iso14908ProtocolStatus,
    Iso14908ProtocolStatusValues,
    ProtectionMode,
    ProtectionStatus,
    PushSetup,
    SapAssignment,
    SendDestinationAndMethod,
    TcpUdpSetup,
    TransportService,
    UtilityTables,
)
from cosemnet.cosem.iso14908_diagnostic import ComModuleState, PlcSignalQuality
from cosemnet.cosem.push_setup import randomised_delay
from cosemnet.cosem.results import ActionResult, CosemAccessError, DataAccessResult
from cosemnet.cosem.selective import SelectiveAccessDescriptor

from .helpers import T0, meter, roundtrip


def local(now: dt.datetime = T0) -> AccessContext:
    return AccessContext.local(now)


def test_sap_assignment() -> None:
    sap = SapAssignment(assignments={1: b"COSEMNET00000001"})
    ctx = local()
    assert sap.get(2, ctx) == [(LongUnsigned(1), b"COSEMNET00000001")]
    sap.action(1, (LongUnsigned(17), b"GATEWAY"), ctx)
    sap.action(1, (LongUnsigned(1), b""), ctx)  # empty name removes
    assert sap.assignments == {17: b"GATEWAY"}
    sap.set(2, [(LongUnsigned(2), b"A"), (LongUnsigned(3), b"B")], ctx)
    assert sap.assignments == {2: b"A", 3: b"B"}
    with pytest.raises(CosemAccessError):
        sap.set(2, [(LongUnsigned(2), b"A"), (LongUnsigned(2), b"B")], ctx)
    with pytest.raises(CosemAccessError) as info:
        sap.action(1, (Unsigned(2), b"A"), ctx)
    assert info.value.result is ActionResult.TYPE_UNMATCHED


def test_tcp_udp_setup() -> None:
    tcp = TcpUdpSetup()
    ctx = local()
    assert tcp.get(2, ctx) == LongUnsigned(4059)
    tcp.set(2, LongUnsigned(61616), ctx)
    tcp.set(4, LongUnsigned(1280), ctx)
    tcp.set(5, Unsigned(4), ctx)
    tcp.set(6, LongUnsigned(0), ctx)
    tcp.set(3, bytes((0, 0, 25, 7, 0, 255)), ctx)
    assert (tcp.port, tcp.mss, tcp.nb_of_sim_conn, tcp.inactivity_time_out) == (61616, 1280, 4, 0)
    with pytest.raises(CosemAccessError):
        tcp.set(4, LongUnsigned(39), ctx)
    with pytest.raises(CosemAccessError):
        tcp.set(3, b"short", ctx)


def test_ipv6_setup_addresses() -> None:
    a = ipaddress.IPv6Address("2001:db8::10")
    ipv6 = Ipv6Setup(unicast=[a])
    ctx = local()
    assert ipv6.get(4, ctx) == [a.packed]
    multicast = ipaddress.IPv6Address("ff02::1").packed
    ipv6.action(1, (Enumerated(1), multicast), ctx)
    ipv6.action(1, (Enumerated(1), multicast), ctx)  # already there: no duplicate
    assert ipv6.get(5, ctx) == [multicast]
    ipv6.action(2, (Enumerated(0), a.packed), ctx)
    assert ipv6.get(4, ctx) == []
    with pytest.raises(CosemAccessError) as info:
        ipv6.action(2, (Enumerated(0), a.packed), ctx)
    assert info.value.result is ActionResult.OTHER_REASON
    with pytest.raises(CosemAccessError) as info:
        ipv6.action(1, (Enumerated(3), a.packed), ctx)
    assert info.value.result is ActionResult.TYPE_UNMATCHED
    ipv6.set(7, a.packed, ctx)
    ipv6.set(8, b"", ctx)
    ipv6.set(10, [(Unsigned(3), LongUnsigned(1000), DoubleLongUnsigned(60))], ctx)
    ipv6.set(3, Enumerated(2), ctx)
    assert ipv6.get(10, ctx) == [(Unsigned(3), LongUnsigned(1000), DoubleLongUnsigned(60))]
    with pytest.raises(CosemAccessError):
        ipv6.set(7, b"\x01" * 4, ctx)
    with pytest.raises(CosemAccessError):
        ipv6.set(6, [b"\x00" * 15], ctx)


def test_push_builds_the_notification_body() -> None:
    device, effects = meter()
    push = device.add(
        PushSetup(
            push_object_list=[
                CaptureObjectDefinition(40, Obis.parse("0-0:25.9.0*255"), 1, 0),  # identifies the push
                CaptureObjectDefinition(3, Obis.parse("1-0:1.8.0*255"), 2, 0),
                CaptureObjectDefinition(3, Obis.parse("1-0:1.8.0*255"), 3, 2),  # unit of scaler_unit
                CaptureObjectDefinition(3, Obis.parse("1-0:1.8.0*255"), 0, 0),  # every attribute
                CaptureObjectDefinition(3, Obis.parse("1-0:99.9.0*255"), 2, 0),  # unknown: null-data
            ],
            send_destination_and_method=SendDestinationAndMethod(TransportService.UDP, b"[2001:db8::1]:4059"),
        )
    )
    ctx = AccessContext(now=T0, effects=effects)
    push.action(1, Integer(0), ctx)
    [(sent_by, body)] = effects.recorded.pushes
    assert sent_by is push
    register_ln = bytes(Obis.parse("1-0:1.8.0*255"))
    assert body == (
        bytes(Obis.parse("0-0:25.9.0*255")),
        DoubleLongUnsigned(1234),
        Enumerated(30),
        (register_ln, DoubleLongUnsigned(1234), (Integer(-3), Enumerated(30))),
        None,
    )
    roundtrip(body)
    assert push.get(3, ctx) == (Enumerated(1), b"[2001:db8::1]:4059", Enumerated(0))
    with pytest.raises(CosemAccessError):  # no transport configured in the default effects
        PushSetup().action(1, Integer(0), local())


def test_push_attributes_and_windows() -> None:
    push = PushSetup()
    ctx = local()
    window = (
        CosemDateTime(0xFFFF, 0xFF, 0xFF, 0xFF, 22, 0, 0, 0),
        CosemDateTime(0xFFFF, 0xFF, 0xFF, 0xFF, 2, 0, 0, 0),
    )
    push.set(4, [(window[0].to_bytes(), window[1].to_bytes())], ctx)
    assert push.in_window(CosemDateTime(2024, 3, 1, 5, 23, 30, 0, 0))
    assert push.in_window(CosemDateTime(2024, 3, 1, 5, 1, 0, 0, 0))
    assert not push.in_window(CosemDateTime(2024, 3, 1, 5, 12, 0, 0, 0))
    push.set(
        4,
        [
            (
                CosemDateTime(2024, 3, 1, 5, 12, 0, 0, 0, 0, 0).to_bytes(),
                CosemDateTime(2024, 3, 1, 5, 13, 0, 0, 0, 0, 0).to_bytes(),
            )
        ],
        ctx,
    )
    assert push.in_window(CosemDateTime(2024, 3, 1, 5, 12, 30, 0, 0, 0, 0))
    assert not push.in_window(CosemDateTime(2024, 3, 2, 6, 12, 30, 0, 0, 0, 0))
    push.set(5, LongUnsigned(600), ctx)
    push.set(6, Unsigned(3), ctx)
    push.set(7, LongUnsigned(30), ctx)
    assert randomised_delay(push, 0.5) == dt.timedelta(seconds=300)
    push.set(3, (Enumerated(0), b"10.0.0.1:4059", Enumerated(0)), ctx)
    with pytest.raises(CosemAccessError):
        push.set(3, (Enumerated(42), b"x", Enumerated(0)), ctx)
    push.set(2, [CaptureObjectDefinition(1, Obis.parse("0-0:42.0.0*255"), 2, 0).to_data()], ctx)
    with pytest.raises(CosemAccessError):
        push.set(2, [(LongUnsigned(1),)], ctx)
    assert PushSetup().in_window(CosemDateTime(2024, 3, 1, 5, 0, 0, 0, 0))


def test_utility_tables_partial_reads() -> None:
    table = UtilityTables.standard(5, b"0123456789")
    ctx = local()
    assert table.logical_name == Obis.parse("0-0:65.0.5*255")
    assert table.get(2, ctx) == LongUnsigned(5)
    assert table.get(3, ctx) == DoubleLongUnsigned(10)
    assert table.get(4, ctx) == b"0123456789"
    part = SelectiveAccessDescriptor(1, (DoubleLongUnsigned(3), LongUnsigned(4)))
    assert table.get(4, ctx, part) == b"3456"
    beyond = SelectiveAccessDescriptor(1, (DoubleLongUnsigned(8), LongUnsigned(100)))
    assert table.get(4, ctx, beyond) == b"89"
    with pytest.raises(CosemAccessError) as info:
        table.get(4, ctx, SelectiveAccessDescriptor(1, (Integer(1), LongUnsigned(1))))
    assert info.value.result is DataAccessResult.TYPE_UNMATCHED
    with pytest.raises(CosemAccessError) as info:
        table.get(4, ctx, SelectiveAccessDescriptor(2, None))
    assert info.value.result is DataAccessResult.OTHER_REASON
    table.set(4, b"new", ctx)
    assert table.get(3, ctx) == DoubleLongUnsigned(3)
    with pytest.raises(CosemAccessError):
        table.set(3, DoubleLongUnsigned(1), ctx)
    live = UtilityTables.standard(23, provider=lambda c: c.now.isoformat().encode())
    assert live.get(4, ctx) == T0.isoformat().encode()
    with pytest.raises(CosemAccessError):
        live.set(4, b"x", ctx)
    with pytest.raises(ValueError):
        UtilityTables.standard(2048)


def test_communication_port_protection_lockout() -> None:
    cpp = CommunicationPortProtection(
        "0-0:44.2.0*255",
        allowed_failed_attempts=2,
        initial_lockout_time=60,
        steepness_factor=2,
        max_lockout_time=200,
    )

    def at(seconds: int) -> AccessContext:
        return local(T0 + dt.timedelta(seconds=seconds))

    cpp.register_failure(at(0))
    assert not cpp.is_locked(at(0))
    cpp.register_failure(at(1))  # 2nd failure: locked 60 s
    assert cpp.is_locked(at(60)) and not cpp.is_locked(at(61))
    assert cpp.get(8, at(30)) == Enumerated(ProtectionStatus.TEMPORARILY_LOCKED)
    cpp.register_failure(at(100))  # 3rd: 120 s
    assert cpp.is_locked(at(219)) and not cpp.is_locked(at(220))
    cpp.register_failure(at(300))  # 4th: 240 s capped at 200
    assert cpp.is_locked(at(499)) and not cpp.is_locked(at(500))
    assert cpp.get(9, at(500)) == DoubleLongUnsigned(4)
    cpp.register_success(at(600))
    assert cpp.get(9, at(600)) == DoubleLongUnsigned(0) and cpp.get(10, at(600)) == DoubleLongUnsigned(4)
    cpp.register_failure(at(700))
    cpp.register_failure(at(701))
    assert cpp.is_locked(at(702))
    cpp.action(1, Integer(0), at(702))
    assert not cpp.is_locked(at(702))
    cpp.set(2, Enumerated(ProtectionMode.LOCKED), at(0))
    assert cpp.get(8, at(0)) == Enumerated(ProtectionStatus.LOCKED)
    cpp.set(2, Enumerated(ProtectionMode.UNLOCKED), at(0))
    for _ in range(10):
        cpp.register_failure(at(0))
    assert not cpp.is_locked(at(0))
    with pytest.raises(CosemAccessError):
        cpp.set(9, DoubleLongUnsigned(0), at(0))
    huge = CommunicationPortProtection(
        "0-0:44.2.1*255", allowed_failed_attempts=0, max_lockout_time=0xFFFFFFFF
    )
    huge.failed_attempts = 0xFFFFFFFF
    assert huge.lockout_time() == 0xFFFFFFFF  # bounded work even for absurd counts


def test_iso14908_classes_read_live_values() -> None:
    ident_values = Iso14908IdentificationValues(
        12, 3, b"\x01\x02\x03", bytes.fromhex("9F FF FF 05 01 02 04 00"), bytes(range(1, 7))
    )
    ident = Iso14908Identification(provider=lambda: ident_values)
    ctx = local()
    assert [ident.get(i, ctx) for i in range(2, 7)] == [
        Unsigned(12),
        Unsigned(3),
        b"\x01\x02\x03",
        ident_values.program_id,
        bytes(range(1, 7)),
    ]
    with pytest.raises(CosemAccessError) as info:
        ident.set(2, Unsigned(1), ctx)
    assert info.value.result is DataAccessResult.READ_WRITE_DENIED
    with pytest.raises(ValueError):
        Iso14908IdentificationValues(domain_id=b"\x00\x00")
    with pytest.raises(ValueError):
        Iso14908IdentificationValues(node_id=128)
    changes: list[int] = []
    setup = Iso14908ProtocolSetup(inactivity_timeout=30, on_change=changes.append)
    setup.set(2, LongUnsigned(45), ctx)
    assert setup.get(2, ctx) == LongUnsigned(45) and changes == [45]
    counters = Iso14908ProtocolStatusValues(*range(1, 11))
    status = Iso14908ProtocolStatus(provider=lambda: counters)
    assert [int(status.get(i, ctx)) for i in range(2, 12)] == list(range(1, 11))  # type: ignore[arg-type]
    diag = Iso14908Diagnostic(
        values=Iso14908DiagnosticValues(
            PlcSignalQuality.MARGINAL, ComModuleState.CONFIGURED_ONLINE, 300, 1, 2, 3, 4, 5
        )
    )
    assert diag.get(2, ctx) == Enumerated(2) and diag.get(3, ctx) == Enumerated(3)
    assert diag.get(4, ctx) == Unsigned(255)  # saturated
    assert [diag.get(i, ctx) for i in range(5, 10)] == [LongUnsigned(i) for i in range(1, 6)]
    assert Iso14908Diagnostic().logical_name == Obis.parse("0-0:32.3.0*255")
