"""MeterServer (sans-IO): routing by wPorts, several devices, UDP pseudo-connections, inactivity, SN."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from cosemnet.codec.acse import AARE, ApplicationContextName, AssociationResult, MechanismName
from cosemnet.codec.axdr import decode_data_exact
from cosemnet.codec.obis import Obis
from cosemnet.codec.types import DoubleLongUnsigned, Integer
from cosemnet.codec.wrapper import WrapperFrame
from cosemnet.codec.xdlms import (
    BlockNumberAccess,
    CosemAttributeDescriptor,
    DataAccessResult,
    DataBlockResult,
    ExceptionResponse,
    GetRequestNormal,
    GetResponseNormal,
    ParameterizedAccess,
    ReadRequest,
    ReadResponse,
    UnconfirmedWriteRequest,
    VariableName,
    WriteRequest,
    WriteResponse,
    entry_descriptor,
)
from cosemnet.codec.xdlms.selective_access import CaptureObjectDefinition
from cosemnet.cosem import AssociationSN, Data, LogicalDevice, ObjectAccessRights, ProfileGeneric, Register
from cosemnet.server import (
    DEFAULT_SN_CONFORMANCE,
    AssociationProfile,
    ConnectionExpired,
    MeterServer,
    ServedDevice,
)

from .helpers import ENERGY, T0, aarq, datagrams, feed, initiate, make_device

GET_ENERGY = GetRequestNormal(1, CosemAttributeDescriptor(3, ENERGY, 2)).encode()


def frame(client: int, server: int, apdu: bytes) -> bytes:
    return WrapperFrame(client, server, apdu).encode()


def replies(data: bytes) -> list[WrapperFrame]:
    out = []
    pos = 0
    while pos < len(data):
        item, pos = WrapperFrame.decode_from(data, pos)
        out.append(item)
    return out


def second_device() -> LogicalDevice:
    device = make_device()
    device.server_sap = 17
    device.find(3, ENERGY).value = DoubleLongUnsigned(777)  # type: ignore[union-attr]
    return device


def test_tcp_connection_routes_by_wports() -> None:
    server = MeterServer([make_device(), ServedDevice(second_device(), server_sap=17)])
    conn = server.open_connection(T0)
    # one write holding two AARQs (to two logical devices) split across reads
    data = frame(16, 1, aarq()) + frame(16, 17, aarq())
    out = feed(conn, data[:5], T0) + feed(conn, data[5:], T0)
    answers = replies(out)
    assert [(f.source_wport, f.destination_wport) for f in answers] == [(1, 16), (17, 16)]
    assert all(AARE.decode(f.apdu).result == AssociationResult.ACCEPTED for f in answers)
    values = [
        GetResponseNormal.decode(replies(feed(conn, frame(16, sap, GET_ENERGY), T0))[0].apdu).result
        for sap in (1, 17)
    ]
    assert values == [123456, 777]
    assert len(server.associations()) == 2
    # unknown server wPort: dropped
    assert feed(conn, frame(16, 5, aarq()), T0) == b""
    # framing error closes the connection
    feed(conn, b"\x00\x02" + bytes(6), T0)
    assert conn.closed and server.associations() == []


def test_inactivity_timeout_in_simulated_time() -> None:
    server = MeterServer([make_device()], inactivity_timeout=30.0)
    conn = server.open_connection(T0)
    feed(conn, frame(16, 1, aarq()), T0)
    assert server.get_timer() == T0 + 30
    feed(conn, frame(16, 1, GET_ENERGY), T0 + 20)
    assert server.get_timer() == T0 + 50
    server.handle_timer(T0 + 49)
    assert server.pop_events() == []
    assert not conn.closed
    server.handle_timer(T0 + 50)
    assert server.pop_events() == [ConnectionExpired(conn)]
    assert conn.closed and server.get_timer() is None
    assert feed(conn, frame(16, 1, GET_ENERGY), T0 + 51) == b""


def test_udp_pseudo_connections() -> None:
    server = MeterServer([make_device()], inactivity_timeout=60.0)
    peer_a, peer_b = ("192.0.2.1", 4059), ("2001:db8::1", 4059)
    for peer in (peer_a, peer_b):
        (answer,) = datagrams(server, peer, frame(16, 1, aarq()), T0)
        assert AARE.decode(WrapperFrame.decode(answer).apdu).result == AssociationResult.ACCEPTED
    assert server.connection_count == 2
    (answer,) = datagrams(server, peer_a, frame(16, 1, GET_ENERGY), T0 + 1)
    assert GetResponseNormal.decode(WrapperFrame.decode(answer).apdu).result == 123456
    # a third peer that never associated is refused, and leaves nothing behind
    (answer,) = datagrams(server, ("192.0.2.9", 1), frame(16, 1, GET_ENERGY), T0)
    assert ExceptionResponse.decode(WrapperFrame.decode(answer).apdu)
    assert server.connection_count == 2
    # a datagram that is not exactly one frame is dropped
    assert datagrams(server, peer_a, frame(16, 1, GET_ENERGY) + b"\x00", T0) == []
    # peer B expires first (peer A was active later)
    server.handle_timer(T0 + 60)
    expired = server.pop_events()
    assert [e.connection.key[0] for e in expired] == [peer_b]
    (answer,) = datagrams(server, peer_b, frame(16, 1, GET_ENERGY), T0 + 61)
    assert ExceptionResponse.decode(WrapperFrame.decode(answer).apdu)


def test_many_associations_on_one_connection() -> None:
    server = MeterServer([make_device()])
    conn = server.open_connection(T0)
    for client in (16, 1):
        feed(conn, frame(client, 1, aarq()), T0)
    # client 1 needs HLS over a ciphered context: refused; client 16 associated
    assert len(server.associations()) == 1


# --------------------------------------------------------------------------------------------------
# Short-name referencing


def sn_device() -> tuple[LogicalDevice, AssociationProfile]:
    device = LogicalDevice(b"SN-METER", server_sap=1)
    register = device.add(Register(ENERGY, DoubleLongUnsigned(4242), 0, 30, base_name=0x2000))
    serial = device.add(Data(Obis.parse("0-0:96.1.0*255"), b"SN-1", base_name=0x2100))
    profile = device.add(
        ProfileGeneric(
            Obis.parse("1-0:99.1.0*255"),
            [CaptureObjectDefinition(3, ENERGY, 2, 0)],
            profile_entries=500,
            base_name=0x3000,
        )
    )
    profile.buffer = [(DoubleLongUnsigned(i),) for i in range(500)]
    association = device.add(AssociationSN())
    association.grant(register, ObjectAccessRights.full(Register))
    association.grant(serial, ObjectAccessRights.full(Data))
    association.grant(profile)
    association.grant(association)
    return device, AssociationProfile(
        client_sap=16,
        association=association,
        application_context_name=ApplicationContextName.SN,
        conformance=DEFAULT_SN_CONFORMANCE,
    )


def sn_connection(max_pdu: int = 0xFFFF) -> tuple[MeterServer, object]:
    device, profile = sn_device()
    server = MeterServer([ServedDevice(device, profiles=[profile])])
    conn = server.open_connection(T0)
    request = aarq(context=ApplicationContextName.SN, user_information=initiate(0x1C1320, max_pdu).encode())
    (answer,) = replies(feed(conn, frame(16, 1, request), T0))
    aare = AARE.decode(answer.apdu)
    assert aare.result == AssociationResult.ACCEPTED
    assert aare.user_information is not None and aare.user_information.endswith(b"\xfa\x00")  # vaa-name
    return server, conn


def sn_request(conn: object, apdu: bytes) -> bytes:
    (answer,) = replies(feed(conn, frame(16, 1, apdu), T0))  # type: ignore[attr-defined]
    return answer.apdu


def test_sn_read_write() -> None:
    _, conn = sn_connection()
    read = ReadRequest(
        [VariableName(0x2008), VariableName(0x2010), VariableName(0x2108), VariableName(0x4000)]
    )
    assert ReadResponse.decode(sn_request(conn, read.encode())).result == [
        4242,
        (Integer(0), 30),
        b"SN-1",
        DataAccessResult.OBJECT_UNDEFINED,
    ]
    write = WriteRequest([VariableName(0x2108), VariableName(0x2000)], [b"SN-2", b"\x01"])
    assert WriteResponse.decode(sn_request(conn, write.encode())).result == [
        None,
        DataAccessResult.READ_WRITE_DENIED,
    ]
    assert ReadResponse.decode(sn_request(conn, ReadRequest([VariableName(0x2108)]).encode())).result == [
        b"SN-2"
    ]
    # method through a write: register reset (method 1 at +0x28)
    assert WriteResponse.decode(
        sn_request(conn, WriteRequest([VariableName(0x2028)], [Integer(0)]).encode())
    ).result == [None]
    assert ReadResponse.decode(sn_request(conn, ReadRequest([VariableName(0x2008)]).encode())).result == [0]
    # unconfirmed write: no answer
    unconfirmed = UnconfirmedWriteRequest([VariableName(0x2108)], [b"SN-3"]).encode()
    assert feed(conn, frame(16, 1, unconfirmed), T0) == b""  # type: ignore[attr-defined]
    # parameterized access = selective access on the profile buffer
    selection = ParameterizedAccess(0x3008, 2, entry_descriptor(10, 12, 0, 0))
    assert ReadResponse.decode(sn_request(conn, ReadRequest([selection]).encode())).result == [
        [(9,), (10,), (11,)]
    ]


def test_sn_read_in_blocks() -> None:
    _, conn = sn_connection(max_pdu=200)
    answer = ReadResponse.decode(sn_request(conn, ReadRequest([VariableName(0x3008)]).encode()))
    raw = bytearray()
    while True:
        (block,) = answer.result
        assert isinstance(block, DataBlockResult)
        raw += block.raw_data
        if block.last_block:
            break
        answer = ReadResponse.decode(
            sn_request(conn, ReadRequest([BlockNumberAccess(block.block_number)]).encode())
        )
    results = ReadResponse.decode(b"\x0c" + bytes(raw)).result
    assert len(results[0]) == 500  # type: ignore[arg-type]
    assert decode_data_exact(b"\x06\x00\x00\x01\xf3") == results[0][499][0]  # type: ignore[index]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=40), max_size=6))
def test_random_stream_never_crashes(chunks: list[bytes]) -> None:
    server = MeterServer([make_device()], inactivity_timeout=10.0)
    conn = server.open_connection(T0)
    feed(conn, frame(16, 1, aarq()), T0)
    for chunk in chunks:
        out = feed(conn, frame(16, 1, chunk) + chunk, T0)
        replies(out)  # well-formed frames (or nothing once the stream failed)
    server.handle_timer(T0 + 100)
    assert server.connection_count == 0


def test_state_dir_persists_the_server_invocation_counter(tmp_path: Path) -> None:
    from cosemnet.security.ciphering import Role, SecurityContext, protect_apdu, unprotect_apdu
    from cosemnet.security.control import SecurityPolicy
    from cosemnet.security.counters import MemoryInvocationCounter
    from cosemnet.security.keys import KeyRole, KeySet
    from cosemnet.security.suite import SecuritySuite

    from .helpers import AK, CLIENT_TITLE, EK, LLS_SECRET

    def session(counter_start: int) -> int:
        server = MeterServer([make_device(management_mechanism=1)], state_dir=tmp_path)
        client = SecurityContext(
            SecuritySuite.SUITE_0,
            SecurityPolicy.NOTHING,
            CLIENT_TITLE,
            None,
            KeySet(EK, AK),
            {KeyRole.GLOBAL_UNICAST: MemoryInvocationCounter(counter_start)},
            role=Role.CLIENT,
        )
        conn = server.open_connection(T0)
        request = aarq(
            context=ApplicationContextName.LN_CIPHERED,
            mechanism=MechanismName.LOW,
            value=LLS_SECRET,
            calling_ap_title=CLIENT_TITLE,
            user_information=protect_apdu(initiate().encode(), client, "general-glo"),
        )
        (answer,) = replies(feed(conn, frame(1, 1, request), T0))
        aare = AARE.decode(answer.apdu)
        assert aare.result == AssociationResult.ACCEPTED
        header = unprotect_apdu(aare.user_information or b"", client)[2]
        server.close()
        assert header is not None
        return header.invocation_counter

    first = session(1)
    second = session(2)  # the client's counter grows too (its 1 is a replay now: docs/decisions/0033)
    assert second > first  # never reused across a restart
    assert list(tmp_path.glob("*.ic"))


def test_sn_hls_md5_through_the_association_sn_method() -> None:
    from cosemnet.security.hls import HlsClient, Mechanism

    device, profile = sn_device()
    profile.mechanism = Mechanism.HLS_MD5
    profile.association.secret = b"hls-secret"
    # reply_to_HLS_authentication must be allowed by the association's own access rights
    profile.association.grant(profile.association, ObjectAccessRights.full(AssociationSN))
    server = MeterServer([ServedDevice(device, profiles=[profile])])
    conn = server.open_connection(T0)
    client = HlsClient(Mechanism.HLS_MD5, bytes(8), secret=b"hls-secret")
    request = aarq(
        context=ApplicationContextName.SN,
        mechanism=MechanismName.HIGH_MD5,
        value=client.calling_authentication_value(),
        user_information=initiate(0x1C1320).encode(),
    )
    aare = AARE.decode(sn_request(conn, request))
    assert aare.result == AssociationResult.ACCEPTED
    assert isinstance(aare.responding_authentication_value, bytes)
    client.receive_challenge(aare.responding_authentication_value)
    # anything but reply_to_HLS_authentication (method 8 at 0xFA00 + 0x58) is refused while pending
    assert sn_request(conn, ReadRequest([VariableName(0x2008)]).encode())[0] == ExceptionResponse.TAG
    reply = ReadResponse.decode(
        sn_request(conn, ReadRequest([ParameterizedAccess(0xFA58, 0, client.response())]).encode())
    )
    (f_ctos,) = reply.result
    assert isinstance(f_ctos, bytes)
    client.verify_response(f_ctos)
    assert ReadResponse.decode(sn_request(conn, ReadRequest([VariableName(0x2008)]).encode())).result == [
        4242
    ]
