"""Sans-IO client connection against published byte vectors and hand-built answers."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cosemnet.client import (
    AccessError,
    AssociationRejected,
    AwaitApdu,
    ClientConfig,
    ClientConnection,
    ClientError,
    ClientSecurityError,
    Done,
    ProtocolError,
    Referencing,
    SendApdu,
    ServiceErrorResponse,
)
from cosemnet.client.connection import AssociationInfo, ConnectionState
from cosemnet.codec.acse import (
    AARE,
    AARQ,
    ApplicationContextName,
    AssociateSourceDiagnostic,
    AssociationResult,
    MechanismName,
)
from cosemnet.codec.apdu import decode_apdu
from cosemnet.codec.axdr import encode_data
from cosemnet.codec.initiate import Conformance, InitiateRequest, InitiateResponse
from cosemnet.codec.obis import Obis
from cosemnet.codec.types import DoubleLongUnsigned, LongUnsigned, Unsigned
from cosemnet.codec.xdlms import (
    ActionRequestNormal,
    ActionRequestWithFirstPblock,
    ActionRequestWithPblock,
    ActionResponseNextPblock,
    ActionResponseNormal,
    ActionResponseWithOptionalData,
    ActionResponseWithPblock,
    ActionResult,
    DataAccessResult,
    DataBlockG,
    DataBlockResult,
    DataBlockSA,
    ExceptionResponse,
    ExceptionServiceError,
    GeneralBlockTransfer,
    GetRequestNext,
    GetRequestNormal,
    GetRequestWithList,
    GetResponseNormal,
    GetResponseWithDataBlock,
    GetResponseWithList,
    ReadRequest,
    ReadResponse,
    SetRequestWithDatablock,
    SetRequestWithFirstDatablock,
    SetResponseDatablock,
    SetResponseLastDatablock,
    SetResponseNormal,
    StateError,
    WriteRequest,
    WriteResponse,
)
from cosemnet.security.ciphering import Role, SecurityContext, protect_apdu, unprotect_apdu
from cosemnet.security.control import SecurityPolicy
from cosemnet.security.counters import MemoryInvocationCounter
from cosemnet.security.hls import HlsServer, Mechanism
from cosemnet.security.keys import KeySet
from cosemnet.security.suite import SecuritySuite

H = bytes.fromhex
EK = H("000102030405060708090A0B0C0D0E0F")
AK = H("D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF")
SERVER_TITLE = H("4D4D4D0000BC614E")
CLIENT_TITLE = H("4D4D4D0000000001")
AARE_ACCEPTED = H("6129A109060760857405080101A203020100A305A103020100BE10040E0800065F1F040000501F01F40007")
CLOCK = Obis.parse("0-0:1.0.0*255")


def aare(
    max_pdu: int = 0x1F4,
    conformance: int = 0x00501F,
    result: AssociationResult = AssociationResult.ACCEPTED,
    diagnostic: AssociateSourceDiagnostic = AssociateSourceDiagnostic.ACSE_SERVICE_USER_NULL,
    context: ApplicationContextName = ApplicationContextName.LN,
    vaa_name: int = 7,
) -> bytes:
    return AARE(
        application_context_name=context,
        result=result,
        result_source_diagnostic=diagnostic,
        user_information=InitiateResponse(
            negotiated_conformance=Conformance(conformance),
            server_max_receive_pdu_size=max_pdu,
            vaa_name=vaa_name,
        ).encode(),
    ).encode()


def associated(max_pdu: int = 0x1F4, conformance: int = 0x00501F, **kwargs: object) -> ClientConnection:
    conn = ClientConnection(ClientConfig(**kwargs))  # type: ignore[arg-type]
    conn.associate()
    event = conn.receive(aare(max_pdu, conformance))
    assert isinstance(event, Done)
    return conn


def done(event: object) -> object:
    assert isinstance(event, Done), event
    return event.result


# -- association -------------------------------------------------------------------------------------


def test_aarq_matches_published_vector_and_aare_is_accepted() -> None:
    conn = ClientConnection(ClientConfig(proposed_conformance=Conformance(0x001E1D)))
    assert conn.associate() == H("601DA109060760857405080101BE10040E01000000065F1F0400001E1DFFFF")
    info = done(conn.receive(AARE_ACCEPTED))
    assert isinstance(info, AssociationInfo)
    assert info.negotiated_conformance == Conformance(0x00501F)
    assert info.server_max_receive_pdu_size == 500
    assert info.vaa_name == 7
    assert conn.is_associated


def test_ciphered_lls_aarq_matches_published_vector() -> None:
    config = ClientConfig(
        mechanism=Mechanism.LLS,
        password=b"12345678",
        keys=KeySet(ek=EK, ak=AK, dedicated_key=H("00112233445566778899AABBCCDDEEFF")),
        system_title=SERVER_TITLE,  # the published capture uses this title on the client side
        ciphering="general-ded",
        invocation_counter=MemoryInvocationCounter(0x01234567),
        proposed_conformance=Conformance(0x007E1F),
        max_receive_pdu_size=1200,
    )
    expected = H(
        "6066A109060760857405080103A60A04084D4D4D0000BC614E8A0207808B0760857405080201AC0A8008313233343536"
        "3738BE34043221303001234567801302FF8A7874133D414CED25B42534D28DB0047720606B175BD52211BE6841DB204D39"
        "EE6FDB8E356855"
    )
    assert ClientConnection(config).associate() == expected


def test_get_matches_published_vectors() -> None:
    conn2 = associated(first_invoke_id=1)
    request = conn2.get(1, "0-0:43.1.0*255", 2)
    assert request == H("C001C1000100002B0100FF0200")
    assert done(conn2.receive(H("C401C1000600001391"))) == DoubleLongUnsigned(0x1391)


def test_hls_gmac_pass_3_matches_published_vector_and_pass_4_verifies() -> None:
    config = ClientConfig(
        mechanism=Mechanism.HLS_GMAC,
        keys=KeySet(ek=EK, ak=AK),
        system_title=CLIENT_TITLE,
        server_system_title=SERVER_TITLE,
        invocation_counter=MemoryInvocationCounter(1),
        challenge=H("4B35366956616759"),
        proposed_conformance=Conformance(0x007E1F),
        max_receive_pdu_size=0x04B0,
    )
    conn = ClientConnection(config)
    aarq = AARQ.decode(conn.associate())
    assert aarq.mechanism_name is MechanismName.HIGH_GMAC
    assert aarq.calling_authentication_value == H("4B35366956616759")
    assert aarq.calling_ap_title == CLIENT_TITLE
    published_aare = H(
        "6142A109060760857405080101A203020100A305A10302010E88020780890760857405080205AA0A8008503677524A3231"
        "46BE10040E0800065F1F040000501F01F40007"
    )
    event = conn.receive(published_aare)
    assert isinstance(event, SendApdu)
    assert conn.state is ConnectionState.AUTHENTICATING
    # ACTION reply_to_HLS_authentication with f(StoC) = 10 00000001 1A52FE7DD3E72748973C1E28
    assert event.apdu == H("C301C0000F0000280000FF01010911" + "10000000011A52FE7DD3E72748973C1E28")
    pass4 = ActionResponseNormal(
        0, ActionResponseWithOptionalData(ActionResult.SUCCESS, H("1001234567FE1466AFB3DBCD4F9389E2B7"))
    ).encode()
    info = done(conn.receive(pass4))
    assert isinstance(info, AssociationInfo)
    assert conn.is_associated


def test_hls_gmac_wrong_server_answer_fails() -> None:
    config = ClientConfig(
        mechanism=Mechanism.HLS_GMAC,
        keys=KeySet(ek=EK, ak=AK),
        system_title=CLIENT_TITLE,
        server_system_title=SERVER_TITLE,
        challenge=H("4B35366956616759"),
    )
    conn = ClientConnection(config)
    conn.associate()
    stoc = H("503677524A323146")
    reply = AARE(
        application_context_name=ApplicationContextName.LN,
        result=AssociationResult.ACCEPTED,
        result_source_diagnostic=AssociateSourceDiagnostic.ACSE_SERVICE_USER_AUTHENTICATION_REQUIRED,
        responding_authentication_value=stoc,
        user_information=InitiateResponse(
            negotiated_conformance=Conformance(0x1F), server_max_receive_pdu_size=500
        ).encode(),
    ).encode()
    assert isinstance(conn.receive(reply), SendApdu)
    bad = ActionResponseNormal(
        0, ActionResponseWithOptionalData(ActionResult.SUCCESS, H("1001234567FE1466AFB3DBCD4F9389E2B8"))
    ).encode()
    with pytest.raises(ClientSecurityError):
        conn.receive(bad)
    assert conn.state is ConnectionState.IDLE


@pytest.mark.parametrize("mechanism", [Mechanism.HLS_MD5, Mechanism.HLS_SHA1, Mechanism.HLS_SHA256])
def test_hls_secret_mechanisms_against_our_hls_server(mechanism: Mechanism) -> None:
    secret = b"secret-of-the-meter"
    conn = ClientConnection(
        ClientConfig(
            mechanism=mechanism, hls_secret=secret, system_title=CLIENT_TITLE, referencing=Referencing.LN
        )
    )
    aarq = AARQ.decode(conn.associate())
    assert aarq.mechanism_name == MechanismName(int(mechanism))
    server = HlsServer(mechanism, SERVER_TITLE, secret=secret)
    assert isinstance(aarq.calling_authentication_value, bytes)
    server.receive_calling_authentication(aarq.calling_authentication_value, aarq.calling_ap_title)
    reply = AARE(
        application_context_name=ApplicationContextName.LN,
        result=AssociationResult.ACCEPTED,
        result_source_diagnostic=AssociateSourceDiagnostic.ACSE_SERVICE_USER_AUTHENTICATION_REQUIRED,
        responding_ap_title=SERVER_TITLE,
        responding_authentication_value=server.challenge(),
        user_information=InitiateResponse(
            negotiated_conformance=Conformance(0x1F), server_max_receive_pdu_size=500
        ).encode(),
    ).encode()
    event = conn.receive(reply)
    assert isinstance(event, SendApdu)
    action = decode_apdu(event.apdu)
    assert isinstance(action, ActionRequestNormal)
    assert action.cosem_method_descriptor.instance_id == Obis.parse("0-0:40.0.0*255")
    assert isinstance(action.method_invocation_parameters, bytes)
    server.verify_response(action.method_invocation_parameters)
    answer = ActionResponseNormal(
        action.invoke_id, ActionResponseWithOptionalData(ActionResult.SUCCESS, server.response())
    ).encode()
    assert isinstance(done(conn.receive(answer)), AssociationInfo)


def test_sn_hls_uses_read_with_parameterized_access_on_the_association_base_name() -> None:
    secret = b"s3cret"
    conn = ClientConnection(
        ClientConfig(mechanism=Mechanism.HLS_MD5, hls_secret=secret, referencing=Referencing.SN)
    )
    aarq = AARQ.decode(conn.associate())
    assert aarq.application_context_name is ApplicationContextName.SN
    server = HlsServer(Mechanism.HLS_MD5, SERVER_TITLE, secret=secret)
    assert isinstance(aarq.calling_authentication_value, bytes)
    server.receive_calling_authentication(aarq.calling_authentication_value)
    reply = AARE(
        application_context_name=ApplicationContextName.SN,
        result=AssociationResult.ACCEPTED,
        result_source_diagnostic=AssociateSourceDiagnostic.ACSE_SERVICE_USER_AUTHENTICATION_REQUIRED,
        responding_authentication_value=server.challenge(),
        user_information=InitiateResponse(
            negotiated_conformance=Conformance(0x1C0000), server_max_receive_pdu_size=500, vaa_name=0xFA00
        ).encode(),
    ).encode()
    event = conn.receive(reply)
    assert isinstance(event, SendApdu)
    read = ReadRequest.decode(event.apdu)
    spec = read.variable_access_specification[0]
    assert spec.variable_name == 0xFA00 + 0x58  # type: ignore[union-attr]
    assert spec.selector == 0  # type: ignore[union-attr]
    server.verify_response(spec.parameter)  # type: ignore[union-attr, arg-type]
    assert isinstance(done(conn.receive(ReadResponse([server.response()]).encode())), AssociationInfo)


def test_rejected_association_carries_the_diagnostic() -> None:
    conn = ClientConnection(ClientConfig(mechanism=Mechanism.LLS, password=b"wrong"))
    conn.associate()
    reply = aare(
        result=AssociationResult.REJECTED_PERMANENT,
        diagnostic=AssociateSourceDiagnostic.ACSE_SERVICE_USER_AUTHENTICATION_FAILURE,
    )
    with pytest.raises(AssociationRejected) as info:
        conn.receive(reply)
    assert info.value.diagnostic is AssociateSourceDiagnostic.ACSE_SERVICE_USER_AUTHENTICATION_FAILURE
    assert "authentication-failure" in str(info.value)
    assert conn.state is ConnectionState.IDLE
    assert "wrong" not in repr(conn.config)


def test_not_an_aare_is_a_protocol_error() -> None:
    conn = ClientConnection()
    conn.associate()
    with pytest.raises(ProtocolError):
        conn.receive(H("C401C1000600001391"))
    conn.associate()
    with pytest.raises(ServiceErrorResponse):
        conn.receive(
            ExceptionResponse(
                StateError.SERVICE_NOT_ALLOWED, ExceptionServiceError.OPERATION_NOT_POSSIBLE
            ).encode()
        )


# -- GET -----------------------------------------------------------------------------------------------


def test_get_access_error_keeps_the_association_usable() -> None:
    conn = associated()
    conn.get(3, "1-0:1.8.0*255", 2)
    with pytest.raises(AccessError) as info:
        conn.receive(GetResponseNormal(0, DataAccessResult.READ_WRITE_DENIED).encode())
    assert info.value.result is DataAccessResult.READ_WRITE_DENIED
    assert "read-write-denied" in str(info.value) and "1-0:1.8.0" in str(info.value)
    request = GetRequestNormal.decode(conn.get(3, "1-0:1.8.0*255", 2))
    assert request.invoke_id == 1
    assert done(conn.receive(GetResponseNormal(1, Unsigned(5)).encode())) == Unsigned(5)


def test_invoke_id_mismatch_is_a_protocol_error() -> None:
    conn = associated()
    conn.get(1, "0-0:96.1.0*255", 2)
    with pytest.raises(ProtocolError, match="invoke-id"):
        conn.receive(GetResponseNormal(5, b"x").encode())


def test_answer_without_request_is_refused() -> None:
    conn = associated()
    with pytest.raises(ProtocolError):
        conn.receive(GetResponseNormal(0, b"x").encode())


def test_one_request_at_a_time() -> None:
    conn = associated()
    conn.get(1, "0-0:96.1.0*255", 2)
    with pytest.raises(Exception, match="in progress"):
        conn.get(1, "0-0:96.1.0*255", 2)


@settings(max_examples=30, deadline=None)
@given(value=st.lists(st.binary(max_size=40), max_size=30), block=st.integers(1, 60))
def test_get_with_data_blocks_reassembles_any_split(value: list[bytes], block: int) -> None:
    conn = associated()
    request = GetRequestNormal.decode(conn.get(7, "1-0:99.1.0*255", 2))
    raw = encode_data(list(value))
    chunks = [raw[i : i + block] for i in range(0, len(raw), block)]
    event: object = None
    for n, chunk in enumerate(chunks, start=1):
        last = n == len(chunks)
        event = conn.receive(GetResponseWithDataBlock(request.invoke_id, DataBlockG(last, n, chunk)).encode())
        if not last:
            assert isinstance(event, SendApdu)
            nxt = GetRequestNext.decode(event.apdu)
            assert nxt.block_number == n and nxt.invoke_id == request.invoke_id
    assert done(event) == list(value)


def test_get_data_block_out_of_order_is_a_protocol_error() -> None:
    conn = associated()
    conn.get(7, "1-0:99.1.0*255", 2)
    conn.receive(GetResponseWithDataBlock(0, DataBlockG(False, 1, b"\x01\x02")).encode())
    with pytest.raises(ProtocolError, match="block 3"):
        conn.receive(GetResponseWithDataBlock(0, DataBlockG(True, 3, b"\x00")).encode())


def test_get_with_list_returns_errors_in_place() -> None:
    conn = associated()
    request = GetRequestWithList.decode(
        conn.get_with_list([(1, "0-0:96.1.0*255", 2), (3, "1-0:1.8.0*255", 2)])
    )
    assert len(request.attribute_descriptor_list) == 2
    result = done(conn.receive(GetResponseWithList(0, [b"abc", DataAccessResult.OBJECT_UNDEFINED]).encode()))
    assert isinstance(result, list)
    assert result[0] == b"abc"
    assert isinstance(result[1], AccessError) and result[1].result is DataAccessResult.OBJECT_UNDEFINED


# -- GBT -----------------------------------------------------------------------------------------------


def test_general_block_transfer_is_acknowledged_and_reassembled() -> None:
    conn = associated(conformance=0x20501F, use_general_block_transfer=True)
    assert conn.config.conformance & Conformance.GENERAL_BLOCK_TRANSFER
    conn.get(8, CLOCK, 2)
    whole = GetResponseNormal(0, b"\x07" * 40).encode()
    parts = [whole[:10], whole[10:30], whole[30:]]
    event = conn.receive(GeneralBlockTransfer(False, False, 1, 1, 0, parts[0]).encode())
    assert isinstance(event, SendApdu)
    ack = GeneralBlockTransfer.decode(event.apdu)
    assert ack.block_number_ack == 1 and ack.block_data == b""
    # a streamed block needs no acknowledgement
    assert isinstance(conn.receive(GeneralBlockTransfer(False, True, 1, 2, 0, parts[1]).encode()), AwaitApdu)
    assert done(conn.receive(GeneralBlockTransfer(True, False, 1, 3, 0, parts[2]).encode())) == b"\x07" * 40


def test_general_block_transfer_gap_is_a_protocol_error() -> None:
    conn = associated()
    conn.get(8, CLOCK, 2)
    conn.receive(GeneralBlockTransfer(False, False, 1, 1, 0, b"\xc4").encode())
    with pytest.raises(ProtocolError):
        conn.receive(GeneralBlockTransfer(True, False, 1, 3, 0, b"\x01").encode())


# -- SET / ACTION --------------------------------------------------------------------------------------


def test_small_set_is_normal_and_errors_raise() -> None:
    conn = associated()
    conn.set(1, "0-0:96.1.0*255", 2, b"abc")
    assert done(conn.receive(SetResponseNormal(0, DataAccessResult.SUCCESS).encode())) is None
    conn.set(1, "0-0:96.1.0*255", 2, b"abc")
    with pytest.raises(AccessError):
        conn.receive(SetResponseNormal(1, DataAccessResult.TYPE_UNMATCHED).encode())


def test_large_set_goes_in_data_blocks_within_the_server_pdu_size() -> None:
    conn = associated(max_pdu=64, conformance=0x00501F | int(Conformance.BLOCK_TRANSFER_WITH_SET_OR_WRITE))
    value = bytes(range(200))
    first = conn.set(1, "0-0:96.1.0*255", 2, value)
    assert len(first) <= 64
    apdu = SetRequestWithFirstDatablock.decode(first)
    raw = bytearray(apdu.datablock.raw_data)
    number = 1
    event = conn.receive(SetResponseDatablock(0, number).encode())
    while True:
        assert isinstance(event, SendApdu)
        assert len(event.apdu) <= 64
        block = SetRequestWithDatablock.decode(event.apdu).datablock
        number += 1
        assert block.block_number == number
        raw += block.raw_data
        if block.last_block:
            break
        event = conn.receive(SetResponseDatablock(0, number).encode())
    assert bytes(raw) == encode_data(value)
    assert done(conn.receive(SetResponseLastDatablock(0, DataAccessResult.SUCCESS, number).encode())) is None


def test_large_action_goes_in_pblocks_and_long_return_data_is_fetched() -> None:
    conformance = 0x00501F | int(Conformance.BLOCK_TRANSFER_WITH_ACTION)
    conn = associated(max_pdu=48, conformance=conformance)
    parameter = b"\xaa" * 100
    apdu = ActionRequestWithFirstPblock.decode(conn.action(18, "0-0:44.0.0*255", 2, parameter))
    raw = bytearray(apdu.pblock.raw_data)
    number = 1
    last = apdu.pblock.last_block
    assert not last
    while not last:
        event = conn.receive(ActionResponseNextPblock(0, number).encode())
        assert isinstance(event, SendApdu) and len(event.apdu) <= 48
        block = ActionRequestWithPblock.decode(event.apdu).pblock
        number += 1
        assert block.block_number == number
        raw += block.raw_data
        last = block.last_block
    assert bytes(raw) == encode_data(parameter)
    # the answer comes back in pblocks too
    answer = encode_data(b"\x55" * 30)
    event = conn.receive(ActionResponseWithPblock(0, DataBlockSA(False, 1, answer[:16])).encode())
    assert isinstance(event, SendApdu)
    assert done(conn.receive(ActionResponseWithPblock(0, DataBlockSA(True, 2, answer[16:])).encode())) == (
        b"\x55" * 30
    )


def test_action_results() -> None:
    conn = associated()
    conn.action(70, "0-0:96.3.10*255", 1, 0)
    assert (
        done(
            conn.receive(
                ActionResponseNormal(0, ActionResponseWithOptionalData(ActionResult.SUCCESS)).encode()
            )
        )
        is None
    )
    conn.action(70, "0-0:96.3.10*255", 1, 0)
    with pytest.raises(AccessError) as info:
        conn.receive(
            ActionResponseNormal(1, ActionResponseWithOptionalData(ActionResult.TEMPORARY_FAILURE)).encode()
        )
    assert info.value.result is ActionResult.TEMPORARY_FAILURE


# -- SN ------------------------------------------------------------------------------------------------


def test_sn_read_with_blocks_and_write() -> None:
    conn = ClientConnection(ClientConfig(referencing=Referencing.SN))
    conn.associate()
    done(conn.receive(aare(conformance=0x1C0000, context=ApplicationContextName.SN, vaa_name=0xFA00)))
    request = ReadRequest.decode(conn.read([0xFA08, 0x1008]))
    assert [s.variable_name for s in request.variable_access_specification] == [0xFA08, 0x1008]  # type: ignore[union-attr]
    body = ReadResponse([b"\x01" * 20, DataAccessResult.OBJECT_UNAVAILABLE]).encode()[1:]
    event = conn.receive(ReadResponse([DataBlockResult(False, 1, body[:7])]).encode())
    assert isinstance(event, SendApdu)
    assert ReadRequest.decode(event.apdu).variable_access_specification[0].block_number == 1  # type: ignore[union-attr]
    result = done(conn.receive(ReadResponse([DataBlockResult(True, 2, body[7:])]).encode()))
    assert isinstance(result, list) and result[0] == b"\x01" * 20 and isinstance(result[1], AccessError)
    write = WriteRequest.decode(conn.write([(0x1008, LongUnsigned(3))]))
    assert write.list_of_data == [LongUnsigned(3)]
    assert done(conn.receive(WriteResponse([None]).encode())) == [None]
    with pytest.raises(Exception, match="logical-name"):
        conn.get(1, "0-0:96.1.0*255", 2)


# -- ciphering -----------------------------------------------------------------------------------------


def _server_context(policy: SecurityPolicy) -> SecurityContext:
    return SecurityContext(
        suite=SecuritySuite.SUITE_0,
        policy=policy,
        system_title=SERVER_TITLE,
        peer_system_title=CLIENT_TITLE,
        keys=KeySet(ek=EK, ak=AK),
        invocation_counters={0: MemoryInvocationCounter(100)},  # type: ignore[dict-item]
        role=Role.SERVER,
    )


@pytest.mark.parametrize(
    "kind", ["general-glo", "service-specific-glo", "general-ded", "service-specific-ded"]
)
def test_ciphered_association_and_get(kind: str) -> None:
    policy = SecurityPolicy(0x6C)
    config = ClientConfig(
        keys=KeySet(ek=EK, ak=AK),
        system_title=CLIENT_TITLE,
        ciphering=kind,  # type: ignore[arg-type]
    )
    conn = ClientConnection(config)
    aarq = AARQ.decode(conn.associate())
    assert aarq.application_context_name is ApplicationContextName.LN_CIPHERED
    server = _server_context(policy)
    assert aarq.user_information is not None and aarq.user_information[0] == 0x21
    initiate = InitiateRequest.decode(unprotect_apdu(aarq.user_information, server)[0])
    if "ded" in kind:
        assert initiate.dedicated_key is not None
        server.set_dedicated_key(initiate.dedicated_key)
    else:
        assert initiate.dedicated_key is None
    reply = AARE(
        application_context_name=ApplicationContextName.LN_CIPHERED,
        result=AssociationResult.ACCEPTED,
        result_source_diagnostic=AssociateSourceDiagnostic.ACSE_SERVICE_USER_NULL,
        responding_ap_title=SERVER_TITLE,
        user_information=protect_apdu(
            InitiateResponse(
                negotiated_conformance=Conformance(0x1F), server_max_receive_pdu_size=500
            ).encode(),
            server,
            "service-specific-glo",
        ),
    ).encode()
    done(conn.receive(reply))
    request = conn.get(8, CLOCK, 2)
    assert request[0] in (0xDB, 0xDC, 0xC8, 0xD0)
    plain, _, header = unprotect_apdu(request, server)
    assert header is not None and header.security_control == 0x30
    assert GetRequestNormal.decode(plain).cosem_attribute_descriptor.instance_id == CLOCK
    answer = protect_apdu(GetResponseNormal(0, b"\x01\x02").encode(), server, kind)  # type: ignore[arg-type]
    assert done(conn.receive(answer)) == b"\x01\x02"
    # a tampered answer is refused
    conn.get(8, CLOCK, 2)
    answer = bytearray(protect_apdu(GetResponseNormal(1, b"\x01\x02").encode(), server, kind))  # type: ignore[arg-type]
    answer[-1] ^= 1
    with pytest.raises(ClientSecurityError):
        conn.receive(bytes(answer))
    # and so is a plain answer when the policy wants protection
    conn.get(8, CLOCK, 2)
    with pytest.raises(ClientSecurityError):
        conn.receive(GetResponseNormal(2, b"\x01\x02").encode())


def test_release() -> None:
    conn = associated()
    assert conn.release() == H("6203800100")
    assert done(conn.receive(H("6300"))) is None
    assert conn.state is ConnectionState.RELEASED


def test_hls_ecdsa_four_passes_against_our_hls_server() -> None:
    from cosemnet.security.ecc import generate_private_key

    client_key, server_key = generate_private_key(1), generate_private_key(1)
    conn = ClientConnection(
        ClientConfig(
            mechanism=Mechanism.HLS_ECDSA,
            system_title=CLIENT_TITLE,
            security_suite=SecuritySuite.SUITE_1,
            signing_key=client_key,
            server_public_key=server_key.public_key(),
        )
    )
    aarq = AARQ.decode(conn.associate())
    assert aarq.mechanism_name is MechanismName.HIGH_ECDSA and aarq.calling_ap_title == CLIENT_TITLE
    server = HlsServer(
        Mechanism.HLS_ECDSA,
        SERVER_TITLE,
        signing_key=server_key,
        peer_public_key=client_key.public_key(),
        suite=SecuritySuite.SUITE_1,
    )
    assert isinstance(aarq.calling_authentication_value, bytes)
    server.receive_calling_authentication(aarq.calling_authentication_value, CLIENT_TITLE)
    reply = AARE(
        application_context_name=ApplicationContextName.LN,
        result=AssociationResult.ACCEPTED,
        result_source_diagnostic=AssociateSourceDiagnostic.ACSE_SERVICE_USER_AUTHENTICATION_REQUIRED,
        responding_ap_title=SERVER_TITLE,
        responding_authentication_value=server.challenge(),
        user_information=InitiateResponse(
            negotiated_conformance=Conformance(0x1F), server_max_receive_pdu_size=500
        ).encode(),
    ).encode()
    event = conn.receive(reply)
    assert isinstance(event, SendApdu)
    action = ActionRequestNormal.decode(event.apdu)
    assert isinstance(action.method_invocation_parameters, bytes)
    server.verify_response(action.method_invocation_parameters)
    answer = ActionResponseNormal(
        action.invoke_id, ActionResponseWithOptionalData(ActionResult.SUCCESS, server.response())
    ).encode()
    assert isinstance(done(conn.receive(answer)), AssociationInfo)
    # a signature over another challenge does not verify
    conn2 = ClientConnection(conn.config)
    conn2.associate()
    assert isinstance(conn2.receive(reply), SendApdu)  # a fresh CtoS: the old signature is worthless
    forged = ActionResponseNormal(
        0, ActionResponseWithOptionalData(ActionResult.SUCCESS, server.response())
    ).encode()
    with pytest.raises(ClientSecurityError):
        conn2.receive(forged)


def test_request_in_general_block_transfer_waits_for_each_acknowledgement() -> None:
    conn = associated(max_pdu=40, conformance=int(Conformance.GENERAL_BLOCK_TRANSFER | Conformance.SET))
    blocks = [GeneralBlockTransfer.decode(conn.set(1, "0-0:96.1.0*255", 2, b"\x11" * 60))]
    while not blocks[-1].last_block:
        ack = GeneralBlockTransfer(False, False, 1, 0, blocks[-1].block_number, b"").encode()
        event = conn.receive(ack)
        assert isinstance(event, SendApdu) and len(event.apdu) <= 40
        blocks.append(GeneralBlockTransfer.decode(event.apdu))
    assert [b.block_number for b in blocks] == list(range(1, len(blocks) + 1)) and len(blocks) > 2
    request = decode_apdu(b"".join(b.block_data for b in blocks))
    assert request.value == b"\x11" * 60  # type: ignore[union-attr]
    assert done(conn.receive(SetResponseNormal(0, DataAccessResult.SUCCESS).encode())) is None
    # an acknowledgement of the wrong block is a protocol error
    conn.set(1, "0-0:96.1.0*255", 2, b"\x11" * 60)
    with pytest.raises(ProtocolError, match="acknowledg"):
        conn.receive(GeneralBlockTransfer(False, False, 1, 0, 7, b"").encode())


_PREFIXES = [
    b"",
    b"\x61",
    b"\xc4\x01",
    b"\xc4\x02",
    b"\xc4\x03",
    b"\xc5",
    b"\xc7",
    b"\xe0",
    b"\x0c",
    b"\xdb\x08",
]


@settings(max_examples=300, deadline=None)
@given(
    state=st.sampled_from(["associate", "get", "get_list", "set", "action", "read", "gmac"]),
    prefix=st.sampled_from(_PREFIXES),
    body=st.binary(max_size=60),
)
def test_any_answer_gives_an_event_or_a_client_error(state: str, prefix: bytes, body: bytes) -> None:
    """Whatever arrives, receive() returns an event or raises the client's own exceptions."""
    if state == "associate":
        conn = ClientConnection()
        conn.associate()
    elif state == "gmac":
        conn = ClientConnection(
            ClientConfig(keys=KeySet(ek=EK, ak=AK), system_title=CLIENT_TITLE, ciphering="general-glo")
        )
        conn.associate()
    elif state == "read":
        conn = ClientConnection(ClientConfig(referencing=Referencing.SN))
        conn.associate()
        conn.receive(aare(conformance=0x1C0000, context=ApplicationContextName.SN))
        conn.read([0x100])
    else:
        conn = associated(conformance=0x20501F | int(Conformance.BLOCK_TRANSFER_WITH_ACTION))
        if state == "get":
            conn.get(1, "0-0:96.1.0*255", 2)
        elif state == "get_list":
            conn.get_with_list([(1, "0-0:96.1.0*255", 2)])
        elif state == "set":
            conn.set(1, "0-0:96.1.0*255", 2, b"x")
        else:
            conn.action(1, "0-0:96.1.0*255", 1, b"x" * 600)
    try:
        event = conn.receive(prefix + body)
    except ClientError:
        return
    assert isinstance(event, SendApdu | AwaitApdu | Done)


@pytest.mark.parametrize(
    "bad",
    [{"gbt_window": 0}, {"gbt_window": 64}, {"max_receive_pdu_size": 70000}, {"ciphering": "rot13"}],
)
def test_bad_configuration_is_refused_up_front(bad: dict[str, object]) -> None:
    with pytest.raises(ClientError):
        ClientConnection(ClientConfig(keys=KeySet(ek=EK, ak=AK), **bad))  # type: ignore[arg-type]
    text = repr(ClientConfig(keys=KeySet(ek=EK, ak=AK), password=b"pw-secret", hls_secret=b"hls-secret"))
    assert EK.hex() not in text.lower() and repr(EK) not in text and "secret" not in text
