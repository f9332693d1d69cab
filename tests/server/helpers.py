"""Shared fixtures of the server tests: a small hand-built meter, AARQ builders, the Green Book keys."""

from __future__ import annotations

import datetime as dt
from collections.abc import Hashable

from cosemnet.codec.acse import (
    AARQ,
    ACSE_REQUIREMENTS_AUTHENTICATION,
    ApplicationContextName,
    MechanismName,
)
from cosemnet.codec.datetime import CosemDateTime
from cosemnet.codec.initiate import Conformance, InitiateRequest
from cosemnet.codec.obis import Obis
from cosemnet.codec.types import BitString, DoubleLongUnsigned, LongUnsigned
from cosemnet.codec.xdlms.selective_access import CaptureObjectDefinition
from cosemnet.cosem import (
    AssociationLN,
    Clock,
    Data,
    LogicalDevice,
    ObjectAccessRights,
    ProfileGeneric,
    Register,
    SecuritySetup,
    Unit,
)
from cosemnet.cosem.association_ln import (
    CONTEXT_LN_CIPHERING,
    CONTEXT_LN_NO_CIPHERING,
    XDlmsContextInfo,
)
from cosemnet.cosem.security_setup import SecurityPolicy
from cosemnet.security.keys import KeySet
from cosemnet.security.suite import SecuritySuite
from cosemnet.server import MeterServer, ServerAssociation, ServerConnection

EK = bytes.fromhex("000102030405060708090A0B0C0D0E0F")
AK = bytes.fromhex("D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF")
SERVER_TITLE = bytes.fromhex("4D4D4D0000BC614E")
CLIENT_TITLE = bytes.fromhex("4D4D4D0000000001")
CTOS = bytes.fromhex("4B35366956616759")
STOC = bytes.fromhex("503677524A323146")

T0 = dt.datetime(2024, 3, 1, 12, 0, 0, tzinfo=dt.UTC).timestamp()

ENERGY = Obis.parse("1-0:1.8.0*255")
PROFILE = Obis.parse("1-0:99.1.0*255")
CLOCK = Obis.parse("0-0:1.0.0*255")
SERIAL = Obis.parse("0-0:96.1.0*255")
LLS_SECRET = b"12345678"


def conformance_bits(value: int) -> BitString:
    return BitString(value.to_bytes(3, "big"), 24)


def make_device(
    *,
    rows: int = 10,
    public_conformance: int = 0,
    public_max_pdu: int = 0xFFFF,
    management_mechanism: int = 5,
    management_context: bytes = CONTEXT_LN_CIPHERING,
    policy: SecurityPolicy = SecurityPolicy.NONE,
    management_conformance: int = 0,
    management_max_pdu: int = 0xFFFF,
    client_system_title: bytes = b"",
) -> LogicalDevice:
    """A logical device (server SAP 1) with a register, a clock, a data object, a profile, a security
    setup with the Green Book keys, and two Association LN objects: client 16 (public, no security,
    read-only) and client 1 (management, HLS-GMAC, ciphered, full rights)."""
    device = LogicalDevice(b"CNT0000000000001", server_sap=1)
    clock = device.add(Clock(CLOCK))
    register = device.add(Register(ENERGY, DoubleLongUnsigned(123456), -1, Unit.WATT_HOUR))
    serial = device.add(Data(SERIAL, b"SIM-0001"))
    profile = device.add(
        ProfileGeneric(
            PROFILE,
            [CaptureObjectDefinition(8, CLOCK, 2, 0), CaptureObjectDefinition(3, ENERGY, 2, 0)],
            capture_period=900,
            profile_entries=max(rows, 1),
        )
    )
    for i in range(rows):
        stamp = dt.datetime(2024, 1, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=15 * i)
        profile.buffer.append((CosemDateTime.from_datetime(stamp).to_bytes(), DoubleLongUnsigned(1000 + i)))
    setup = device.add(
        SecuritySetup(
            server_system_title=SERVER_TITLE,
            security_suite=SecuritySuite.SUITE_0,
            keys=KeySet(ek=EK, ak=AK),
            security_policy=policy,
            client_system_title=client_system_title,
        )
    )
    public = device.add(
        AssociationLN(
            Obis.parse("0-0:40.0.1*255"),
            client_sap=16,
            server_sap=1,
            mechanism_id=0,
            application_context_name=CONTEXT_LN_NO_CIPHERING,
            xdlms_context_info=XDlmsContextInfo(
                conformance=conformance_bits(public_conformance), max_receive_pdu_size=public_max_pdu
            ),
        )
    )
    management = device.add(
        AssociationLN(
            Obis.parse("0-0:40.0.2*255"),
            client_sap=1,
            server_sap=1,
            mechanism_id=management_mechanism,
            secret=LLS_SECRET,
            application_context_name=management_context,
            xdlms_context_info=XDlmsContextInfo(
                conformance=conformance_bits(management_conformance), max_receive_pdu_size=management_max_pdu
            ),
        )
    )
    for obj in device:
        public.grant(obj)
        management.grant(obj, ObjectAccessRights.full(type(obj)))
    # the public client may write the serial number (a SET target) and call register reset
    public.grant(serial, ObjectAccessRights.full(Data))
    public.grant(register, ObjectAccessRights.full(Register))
    del clock, setup
    return device


def initiate(
    conformance: int = 0x007E1F, max_pdu: int = 0xFFFF, version: int = 6, dedicated_key: bytes | None = None
) -> InitiateRequest:
    return InitiateRequest(
        dedicated_key=dedicated_key,
        proposed_dlms_version_number=version,
        proposed_conformance=Conformance(conformance),
        client_max_receive_pdu_size=max_pdu,
    )


def aarq(
    *,
    context: ApplicationContextName = ApplicationContextName.LN,
    mechanism: MechanismName | None = None,
    value: bytes | None = None,
    calling_ap_title: bytes | None = None,
    user_information: bytes | None = None,
) -> bytes:
    return AARQ(
        application_context_name=context,
        calling_ap_title=calling_ap_title,
        sender_acse_requirements=ACSE_REQUIREMENTS_AUTHENTICATION if mechanism is not None else None,
        mechanism_name=mechanism,
        calling_authentication_value=value,
        user_information=user_information if user_information is not None else initiate().encode(),
    ).encode()


__all__ = [
    "AK",
    "CLIENT_TITLE",
    "CLOCK",
    "CTOS",
    "EK",
    "ENERGY",
    "LLS_SECRET",
    "PROFILE",
    "SERIAL",
    "SERVER_TITLE",
    "STOC",
    "T0",
    "LongUnsigned",
    "aarq",
    "initiate",
    "make_device",
]


def answer_apdu(association: ServerAssociation, apdu: bytes, now: float) -> list[bytes]:
    """One APDU into a ServerAssociation, the APDUs it queued out (``receive_apdu`` + ``pop_outgoing``)."""
    association.receive_apdu(apdu, now)
    return association.pop_outgoing()


def feed(conn: ServerConnection, data: bytes, now: float) -> bytes:
    """TCP bytes into a ServerConnection, the bytes it queued out (``receive_data`` + ``pop_outgoing``)."""
    conn.receive_data(data, now)
    return b"".join(conn.pop_outgoing())


def datagrams(server: MeterServer, peer: Hashable, data: bytes, now: float) -> list[bytes]:
    """One datagram into a MeterServer, the datagrams it queued out (all to ``peer``)."""
    server.receive_datagram(peer, data, now)
    out = server.pop_outgoing()
    assert all(d.peer == peer for d in out)
    return [d.data for d in out]
