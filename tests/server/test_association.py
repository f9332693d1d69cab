"""ServerAssociation, sans-IO: association establishment, every service variant, block transfer."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cosemnet.codec.acse import (
    AARE,
    RLRE,
    RLRQ,
    ApplicationContextName,
    AssociateSourceDiagnostic,
    AssociationResult,
    MechanismName,
    ReleaseRequestReason,
    ReleaseResponseReason,
)
from cosemnet.codec.apdu import decode_apdu
from cosemnet.codec.axdr import decode_data_exact, encode_data
from cosemnet.codec.datetime import CosemDateTime
from cosemnet.codec.initiate import Conformance, InitiateResponse
from cosemnet.codec.obis import Obis
from cosemnet.codec.service_error import ConfirmedServiceError, Initiate, ServiceError
from cosemnet.codec.types import DoubleLongUnsigned, Integer, LongUnsigned
from cosemnet.codec.xdlms import (
    ActionRequestNextPblock,
    ActionRequestNormal,
    ActionRequestWithFirstPblock,
    ActionRequestWithList,
    ActionRequestWithPblock,
    ActionResponseNextPblock,
    ActionResponseNormal,
    ActionResponseWithList,
    ActionResult,
    CosemAttributeDescriptor,
    CosemAttributeDescriptorWithSelection,
    CosemMethodDescriptor,
    DataAccessResult,
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
    SelectiveAccessDescriptor,
    ServiceClass,
    SetRequestNormal,
    SetRequestWithDatablock,
    SetRequestWithFirstDatablock,
    SetRequestWithList,
    SetResponseDatablock,
    SetResponseLastDatablock,
    SetResponseNormal,
    SetResponseWithList,
    StateError,
    range_descriptor,
)
from cosemnet.codec.xdlms.selective_access import CaptureObjectDefinition, entry_descriptor
from cosemnet.cosem import Register
from cosemnet.cosem.association_ln import CONTEXT_LN_NO_CIPHERING
from cosemnet.cosem.security_setup import SecurityPolicy as SetupPolicy
from cosemnet.security.ciphering import Role, SecurityContext, protect_apdu, unprotect_apdu
from cosemnet.security.control import SecurityPolicy
from cosemnet.security.counters import MemoryInvocationCounter
from cosemnet.security.hls import HlsClient, Mechanism, hls_gmac, verify_hls_gmac
from cosemnet.security.keys import KeyRole, KeySet
from cosemnet.security.suite import SecuritySuite
from cosemnet.server import AssociationState, ServedDevice, ServerAssociation

from .helpers import (
    AK,
    CLIENT_TITLE,
    CLOCK,
    CTOS,
    EK,
    ENERGY,
    LLS_SECRET,
    PROFILE,
    SERIAL,
    SERVER_TITLE,
    STOC,
    T0,
    aarq,
    answer_apdu,
    initiate,
    make_device,
)

AARQ_LN = bytes.fromhex("601DA109060760857405080101BE10040E01000000065F1F0400001E1DFFFF")
AARE_ACCEPTED = bytes.fromhex(
    "6129A109060760857405080101A203020100A305A103020100BE10040E0800065F1F040000501F01F40007"
)
AARQ_HLS_GMAC = bytes.fromhex(
    "6036A1090607608574050801018A0207808B0760857405080205AC0A80084B35366956616759"
    "BE10040E01000000065F1F0400007E1F04B0"
)
AARE_HLS_GMAC = bytes.fromhex(
    "6142A109060760857405080101A203020100A305A10302010E88020780890760857405080205AA0A8008503677524A323146"
    "BE10040E0800065F1F040000501F01F40007"
)
CLIENT_F_STOC = bytes.fromhex("10000000011A52FE7DD3E72748973C1E28")
SERVER_F_CTOS = bytes.fromhex("1001234567FE1466AFB3DBCD4F9389E2B7")
AARQ_CIPHERED_LLS = bytes.fromhex(
    "6066A109060760857405080103A60A04084D4D4D0000BC614E8A0207808B0760857405080201AC0A80083132333435363738"
    "BE34043221303001234567801302FF8A7874133D414CED25B42534D28DB0047720606B175BD52211BE6841DB204D39EE6FDB"
    "8E356855"
)
GET_ENERGY = GetRequestNormal(1, CosemAttributeDescriptor(3, ENERGY, 2)).encode()


def associated(client_sap: int = 16, **device_options: object) -> ServerAssociation:
    device = make_device(**device_options)  # type: ignore[arg-type]
    association = ServerAssociation(ServedDevice(device), client_sap)
    out = answer_apdu(association, aarq(), T0)
    assert AARE.decode(out[0]).result == AssociationResult.ACCEPTED
    return association


def one(association: ServerAssociation, apdu: bytes, now: float = T0) -> bytes:
    out = answer_apdu(association, apdu, now)
    assert len(out) == 1, out
    return out[0]


def refusal(association: ServerAssociation, request: bytes) -> AARE:
    aare = AARE.decode(one(association, request))
    assert aare.result == AssociationResult.REJECTED_PERMANENT
    assert not association.associated
    return aare


# --------------------------------------------------------------------------------------------------
# Association establishment


def test_published_aarq_ln_gives_the_published_aare_with_our_conformance() -> None:
    device = make_device(public_conformance=0x00501F, public_max_pdu=500)
    association = ServerAssociation(ServedDevice(device), 16)
    ours = AARE.decode(one(association, AARQ_LN))
    published = AARE.decode(AARE_ACCEPTED)
    assert ours.application_context_name == published.application_context_name
    assert ours.result == published.result == AssociationResult.ACCEPTED
    assert ours.result_source_diagnostic == published.result_source_diagnostic
    ours_init = InitiateResponse.decode(ours.user_information or b"")
    published_init = InitiateResponse.decode(published.user_information or b"")
    assert ours_init.server_max_receive_pdu_size == published_init.server_max_receive_pdu_size == 500
    assert ours_init.vaa_name == published_init.vaa_name == 7
    assert ours_init.negotiated_dlms_version_number == 6
    # negotiated = proposed (001E1D) AND ours (00501F)
    assert ours_init.negotiated_conformance == 0x001E1D & 0x00501F
    assert association.state is AssociationState.ASSOCIATED
    # with the whole conformance proposed, the bytes are the published ones exactly
    association = ServerAssociation(ServedDevice(device), 16)
    assert one(association, aarq(user_information=initiate(0x00501F, 0xFFFF).encode())) == AARE_ACCEPTED


def test_hls_gmac_reproduces_the_published_exchange() -> None:
    device = make_device(
        management_context=CONTEXT_LN_NO_CIPHERING,
        management_conformance=0x00501F,
        management_max_pdu=500,
        client_system_title=CLIENT_TITLE,
    )
    counter = MemoryInvocationCounter(0x01234567)
    association = ServerAssociation(
        ServedDevice(device), 1, counter_provider=lambda _: counter, challenge_factory=lambda: STOC
    )
    assert one(association, AARQ_HLS_GMAC) == AARE_HLS_GMAC
    assert association.state is AssociationState.PENDING
    # nothing but reply_to_HLS_authentication while pending
    pending = ExceptionResponse.decode(one(association, GET_ENERGY))
    assert pending.service_error == ExceptionServiceError.OPERATION_NOT_POSSIBLE
    # pass 3 / 4 as an ACTION on the current association
    request = ActionRequestNormal(
        1, CosemMethodDescriptor(15, Obis.parse("0-0:40.0.0*255"), 1), CLIENT_F_STOC
    )
    reply = one(association, request.encode())
    assert reply == bytes.fromhex("C701C10001000911") + SERVER_F_CTOS
    assert association.state is AssociationState.ASSOCIATED
    # and the client can check it
    verify_hls_gmac(SERVER_F_CTOS, CTOS, SERVER_TITLE, EK, AK)
    assert GetResponseNormal.decode(one(association, GET_ENERGY)).result == DoubleLongUnsigned(123456)


def test_hls_gmac_wrong_response_is_denied_and_ends_the_association() -> None:
    device = make_device(management_context=CONTEXT_LN_NO_CIPHERING, client_system_title=CLIENT_TITLE)
    association = ServerAssociation(ServedDevice(device), 1, challenge_factory=lambda: STOC)
    aare = AARE.decode(
        one(association, aarq(mechanism=MechanismName.HIGH_GMAC, value=CTOS, calling_ap_title=CLIENT_TITLE))
    )
    assert (
        aare.result_source_diagnostic == AssociateSourceDiagnostic.ACSE_SERVICE_USER_AUTHENTICATION_REQUIRED
    )
    assert aare.responding_authentication_value == STOC
    assert aare.responding_ap_title == SERVER_TITLE
    wrong = hls_gmac(STOC, CLIENT_TITLE, 5, EK, bytes(16))
    request = ActionRequestNormal(2, CosemMethodDescriptor(15, Obis.parse("0-0:40.0.0*255"), 1), wrong)
    reply = ActionResponseNormal.decode(one(association, request.encode()))
    assert reply.single_response.result == ActionResult.READ_WRITE_DENIED
    assert not association.associated


def client_context(initial_counter: int = 0x01234568) -> SecurityContext:
    return SecurityContext(
        SecuritySuite.SUITE_0,
        SecurityPolicy.NOTHING,
        SERVER_TITLE,  # the published ciphered AARQ uses this title for the client
        SERVER_TITLE,
        KeySet(EK, AK),
        {KeyRole.GLOBAL_UNICAST: MemoryInvocationCounter(initial_counter)},
        role=Role.CLIENT,
    )


def test_published_ciphered_aarq_lls_glo_initiate() -> None:
    device = make_device(management_mechanism=1)
    association = ServerAssociation(ServedDevice(device), 1)
    aare = AARE.decode(one(association, AARQ_CIPHERED_LLS))
    assert aare.result == AssociationResult.ACCEPTED
    assert aare.application_context_name == ApplicationContextName.LN_CIPHERED
    assert aare.responding_ap_title == SERVER_TITLE
    client = client_context()
    assert aare.user_information is not None and aare.user_information[0] == 0x28  # glo-initiate-response
    plain, _, header = unprotect_apdu(aare.user_information, client)
    assert header is not None and header.security_control == 0x30
    response = InitiateResponse.decode(plain)
    assert response.negotiated_conformance == 0x007E1F & int(association.served.by_client_sap[1].conformance)
    # the dedicated key of the InitiateRequest is installed
    assert association.security is not None
    assert association.security.keys.dedicated_key == bytes.fromhex("00112233445566778899AABBCCDDEEFF")
    # service-specific and general-glo requests are answered the same way
    for kind, tag in (("service-specific-glo", 0xCC), ("general-glo", 0xDB)):
        reply = one(association, protect_apdu(GET_ENERGY, client, kind))  # type: ignore[arg-type]
        assert reply[0] == tag
        plain, _, _ = unprotect_apdu(reply, client)
        assert GetResponseNormal.decode(plain).result == DoubleLongUnsigned(123456)
    # dedicated key requests get dedicated responses
    client.set_dedicated_key(bytes.fromhex("00112233445566778899AABBCCDDEEFF"))
    reply = one(association, protect_apdu(GET_ENERGY, client, "service-specific-ded"))
    assert reply[0] == 0xD4
    # a replayed request: invocation-counter-error with the next acceptable counter
    request = protect_apdu(GET_ENERGY, client, "general-glo")
    one(association, request)
    replay = ExceptionResponse.decode(one(association, request))
    assert replay.service_error == ExceptionServiceError.INVOCATION_COUNTER_ERROR
    assert replay.invocation_counter == int.from_bytes(request[12:16], "big") + 1
    # tampered
    tampered = bytearray(protect_apdu(GET_ENERGY, client, "general-glo"))
    tampered[-1] ^= 1
    failed = ExceptionResponse.decode(one(association, bytes(tampered)))
    assert failed.service_error == ExceptionServiceError.DECIPHERING_ERROR


def test_ciphered_release_answers_a_ciphered_initiate_response() -> None:
    device = make_device(management_mechanism=1)
    association = ServerAssociation(ServedDevice(device), 1)
    one(association, AARQ_CIPHERED_LLS)
    client = client_context()
    glo = protect_apdu(initiate().encode(), client, "service-specific-glo")
    rlre = RLRE.decode(
        one(association, RLRQ(reason=ReleaseRequestReason.NORMAL, user_information=glo).encode())
    )
    assert rlre.reason == ReleaseResponseReason.NORMAL
    assert rlre.user_information is not None and rlre.user_information[0] == 0x28
    InitiateResponse.decode(unprotect_apdu(rlre.user_information, client)[0])
    assert not association.associated


def test_security_policy_refuses_plain_requests() -> None:
    policy = (
        SetupPolicy.AUTHENTICATED_REQUEST | SetupPolicy.ENCRYPTED_REQUEST | SetupPolicy.ENCRYPTED_RESPONSE
    )
    device = make_device(management_mechanism=1, policy=policy)
    association = ServerAssociation(ServedDevice(device), 1)
    client = client_context()
    client.policy = SecurityPolicy(int(policy))
    assert AARE.decode(one(association, AARQ_CIPHERED_LLS)).result == AssociationResult.ACCEPTED
    plain = ExceptionResponse.decode(one(association, GET_ENERGY))
    assert plain.service_error == ExceptionServiceError.DECIPHERING_ERROR
    reply = one(association, protect_apdu(GET_ENERGY, client, "general-glo"))
    assert GetResponseNormal.decode(unprotect_apdu(reply, client)[0]).result == DoubleLongUnsigned(123456)


@pytest.mark.parametrize(
    ("request_bytes", "client_sap", "diagnostic"),
    [
        (
            aarq(context=ApplicationContextName.SN),
            16,
            AssociateSourceDiagnostic.ACSE_SERVICE_USER_APPLICATION_CONTEXT_NAME_NOT_SUPPORTED,
        ),
        (
            aarq(mechanism=MechanismName.LOW, value=b"x"),
            16,
            AssociateSourceDiagnostic.ACSE_SERVICE_USER_AUTHENTICATION_MECHANISM_NAME_NOT_RECOGNISED,
        ),
        (
            aarq(context=ApplicationContextName.LN_CIPHERED, calling_ap_title=CLIENT_TITLE),
            1,
            AssociateSourceDiagnostic.ACSE_SERVICE_USER_AUTHENTICATION_MECHANISM_NAME_REQUIRED,
        ),
        (
            aarq(context=ApplicationContextName.LN_CIPHERED, mechanism=MechanismName.HIGH_GMAC, value=CTOS),
            1,
            AssociateSourceDiagnostic.ACSE_SERVICE_USER_CALLING_AP_TITLE_NOT_RECOGNIZED,
        ),
        (
            aarq(
                context=ApplicationContextName.LN_CIPHERED,
                mechanism=MechanismName.HIGH_GMAC,
                value=b"short",
                calling_ap_title=CLIENT_TITLE,
            ),
            1,
            AssociateSourceDiagnostic.ACSE_SERVICE_USER_AUTHENTICATION_FAILURE,
        ),
        (aarq(), 99, AssociateSourceDiagnostic.ACSE_SERVICE_USER_NO_REASON_GIVEN),
    ],
)
def test_refusal_diagnostics(
    request_bytes: bytes, client_sap: int, diagnostic: AssociateSourceDiagnostic
) -> None:
    association = ServerAssociation(ServedDevice(make_device()), client_sap)
    assert refusal(association, request_bytes).result_source_diagnostic == diagnostic


def test_lls_password() -> None:
    device = make_device(management_mechanism=1, management_context=CONTEXT_LN_NO_CIPHERING)
    association = ServerAssociation(ServedDevice(device), 1)
    aare = refusal(association, aarq(mechanism=MechanismName.LOW, value=b"wrong"))
    assert aare.result_source_diagnostic == AssociateSourceDiagnostic.ACSE_SERVICE_USER_AUTHENTICATION_FAILURE
    aare = AARE.decode(one(association, aarq(mechanism=MechanismName.LOW, value=LLS_SECRET)))
    assert aare.result == AssociationResult.ACCEPTED
    assert association.state is AssociationState.ASSOCIATED


@pytest.mark.parametrize(
    ("user_information", "error"),
    [
        (initiate(version=5).encode(), ServiceError.INITIATE_DLMS_VERSION_TOO_LOW),
        (initiate(max_pdu=11).encode(), ServiceError.INITIATE_PDU_SIZE_TOO_SHORT),
        (initiate(conformance=0x800000).encode(), ServiceError.INITIATE_INCOMPATIBLE_CONFORMANCE),
        (
            bytes.fromhex(
                "21303001234567801302FF8A7874133D414CED25B42534D28DB0047720606B175BD52211BE6841DB20"
            ),
            ServiceError.APPLICATION_REFERENCE_APPLICATION_CONTEXT_UNSUPPORTED,
        ),
    ],
)
def test_initiate_errors(user_information: bytes, error: ServiceError) -> None:
    association = ServerAssociation(ServedDevice(make_device()), 16)
    aare = refusal(association, aarq(user_information=user_information))
    assert aare.result_source_diagnostic == AssociateSourceDiagnostic.ACSE_SERVICE_USER_NO_REASON_GIVEN
    assert aare.decode_user_information() == ConfirmedServiceError.decode(aare.user_information or b"")
    cse = ConfirmedServiceError.decode(aare.user_information or b"")
    assert cse.error == error
    if error == ServiceError.INITIATE_DLMS_VERSION_TOO_LOW:
        assert aare.user_information == bytes.fromhex("0E010601")
    assert Initiate  # the enum the codes come from


def test_ciphered_context_needs_a_ciphered_initiate_that_deciphers() -> None:
    association = ServerAssociation(ServedDevice(make_device(management_mechanism=1)), 1)
    plain_initiate = aarq(
        context=ApplicationContextName.LN_CIPHERED,
        mechanism=MechanismName.LOW,
        value=LLS_SECRET,
        calling_ap_title=CLIENT_TITLE,
    )
    cse = ConfirmedServiceError.decode(refusal(association, plain_initiate).user_information or b"")
    assert cse.error == ServiceError.APPLICATION_REFERENCE_APPLICATION_CONTEXT_UNSUPPORTED
    broken = bytearray(AARQ_CIPHERED_LLS)
    broken[-1] ^= 0x55
    cse = ConfirmedServiceError.decode(refusal(association, bytes(broken)).user_information or b"")
    assert cse.error == ServiceError.APPLICATION_REFERENCE_DECIPHERING_ERROR


def test_requests_before_association_and_garbage() -> None:
    association = ServerAssociation(ServedDevice(make_device()), 16)
    before = ExceptionResponse.decode(one(association, GET_ENERGY))
    assert before.state_error == StateError.SERVICE_NOT_ALLOWED
    assert before.service_error == ExceptionServiceError.OPERATION_NOT_POSSIBLE
    undecodable = AARE.decode(one(association, bytes.fromhex("6003A10100")))
    assert undecodable.result == AssociationResult.REJECTED_PERMANENT
    association = associated()
    unknown = ExceptionResponse.decode(one(association, bytes.fromhex("7700")))
    assert unknown.state_error == StateError.SERVICE_UNKNOWN
    malformed = ExceptionResponse.decode(one(association, bytes.fromhex("C001C1000301")))
    assert malformed.service_error == ExceptionServiceError.OTHER_REASON
    assert ExceptionResponse.decode(one(association, b"")).service_error == ExceptionServiceError.OTHER_REASON


def test_service_outside_the_negotiated_conformance() -> None:
    device = make_device()
    association = ServerAssociation(ServedDevice(device), 16)
    one(association, aarq(user_information=initiate(conformance=int(Conformance.GET)).encode()))
    assert association.conformance == Conformance.GET
    request = SetRequestNormal(1, CosemAttributeDescriptor(1, SERIAL, 2), None, b"X").encode()
    refused = ExceptionResponse.decode(one(association, request))
    assert refused.service_error == ExceptionServiceError.SERVICE_NOT_SUPPORTED
    with_list = GetRequestWithList(
        1, [CosemAttributeDescriptorWithSelection(CosemAttributeDescriptor(3, ENERGY, 2))]
    )
    refused = ExceptionResponse.decode(one(association, with_list.encode()))
    assert refused.service_error == ExceptionServiceError.SERVICE_NOT_SUPPORTED


def test_release_and_reassociation() -> None:
    association = associated()
    assert RLRE.decode(one(association, RLRQ(reason=ReleaseRequestReason.NORMAL).encode())).reason == 0
    assert not association.associated
    assert (
        ExceptionResponse.decode(one(association, GET_ENERGY)).state_error == StateError.SERVICE_NOT_ALLOWED
    )
    one(association, aarq())
    assert association.associated


@settings(max_examples=300, deadline=None)
@given(
    st.binary(max_size=64), st.sampled_from([b"", b"\xc0\x01", b"\xc1", b"\xc3", b"\x05", b"\xe0", b"\x60"])
)
def test_garbage_never_escapes(data: bytes, prefix: bytes) -> None:
    association = associated()
    for reply in answer_apdu(association, prefix + data, T0):
        decode_apdu(reply)  # every reply is a well-formed APDU


# --------------------------------------------------------------------------------------------------
# GET / SET / ACTION


def test_get_normal_results() -> None:
    association = associated()
    assert GetResponseNormal.decode(one(association, GET_ENERGY)).result == DoubleLongUnsigned(123456)
    scaler_unit = GetRequestNormal(2, CosemAttributeDescriptor(3, ENERGY, 3)).encode()
    assert one(association, scaler_unit) == bytes.fromhex("C401C20002020FFF161E")
    cases = [
        (CosemAttributeDescriptor(3, Obis.parse("1-0:2.8.0*255"), 2), DataAccessResult.OBJECT_UNDEFINED),
        (CosemAttributeDescriptor(1, ENERGY, 2), DataAccessResult.OBJECT_CLASS_INCONSISTENT),
        (CosemAttributeDescriptor(3, ENERGY, 9), DataAccessResult.OBJECT_UNDEFINED),
        (CosemAttributeDescriptor(15, Obis.parse("0-0:40.0.1*255"), 7), DataAccessResult.READ_WRITE_DENIED),
    ]
    for descriptor, result in cases:
        assert (
            GetResponseNormal.decode(one(association, GetRequestNormal(3, descriptor).encode())).result
            == result
        )
    # the current association resolves to this association's object
    current = GetRequestNormal(4, CosemAttributeDescriptor(15, Obis.parse("0-0:40.0.0*255"), 3)).encode()
    assert GetResponseNormal.decode(one(association, current)).result == (16, LongUnsigned(1))
    # unconfirmed GET: no answer
    assert (
        answer_apdu(
            association,
            GetRequestNormal(
                5, CosemAttributeDescriptor(3, ENERGY, 2), service_class=ServiceClass.UNCONFIRMED
            ).encode(),
            T0,
        )
        == []
    )


def test_get_with_list_and_selective_access() -> None:
    association = associated()
    request = GetRequestWithList(
        7,
        [
            CosemAttributeDescriptorWithSelection(CosemAttributeDescriptor(3, ENERGY, 2)),
            CosemAttributeDescriptorWithSelection(CosemAttributeDescriptor(1, SERIAL, 2)),
            CosemAttributeDescriptorWithSelection(CosemAttributeDescriptor(3, Obis.parse("1-1:1.1.1*1"), 2)),
        ],
    )
    reply = GetResponseWithList.decode(one(association, request.encode()))
    assert reply.result == [DoubleLongUnsigned(123456), b"SIM-0001", DataAccessResult.OBJECT_UNDEFINED]
    start = CosemDateTime.from_datetime(dt.datetime(2024, 1, 1, 0, 30, tzinfo=dt.UTC))
    end = CosemDateTime.from_datetime(dt.datetime(2024, 1, 1, 1, 0, tzinfo=dt.UTC))
    selection = SelectiveAccessDescriptor(
        1, range_descriptor(CaptureObjectDefinition(8, CLOCK, 2, 0), start.to_bytes(), end.to_bytes())
    )
    by_range = GetRequestNormal(8, CosemAttributeDescriptor(7, PROFILE, 2), selection).encode()
    rows = GetResponseNormal.decode(one(association, by_range)).result
    assert [row[1] for row in rows] == [1002, 1003, 1004]  # type: ignore[index,union-attr]
    by_entry = GetRequestNormal(
        9, CosemAttributeDescriptor(7, PROFILE, 2), SelectiveAccessDescriptor(2, entry_descriptor(2, 3, 2, 2))
    ).encode()
    assert GetResponseNormal.decode(one(association, by_entry)).result == [
        (DoubleLongUnsigned(1001),),
        (DoubleLongUnsigned(1002),),
    ]


def test_set_variants_and_results() -> None:
    association = associated()
    reply = SetResponseNormal.decode(
        one(association, SetRequestNormal(1, CosemAttributeDescriptor(1, SERIAL, 2), None, b"NEW").encode())
    )
    assert reply.result == DataAccessResult.SUCCESS
    assert (
        GetResponseNormal.decode(
            one(association, GetRequestNormal(2, CosemAttributeDescriptor(1, SERIAL, 2)).encode())
        ).result
        == b"NEW"
    )
    denied = SetRequestNormal(3, CosemAttributeDescriptor(8, CLOCK, 3), None, 60).encode()
    assert SetResponseNormal.decode(one(association, denied)).result == DataAccessResult.READ_WRITE_DENIED
    with_list = SetRequestWithList(
        4,
        [
            CosemAttributeDescriptorWithSelection(CosemAttributeDescriptor(1, SERIAL, 2)),
            CosemAttributeDescriptorWithSelection(CosemAttributeDescriptor(3, ENERGY, 1)),
        ],
        [b"L", b"\x01\x00\x01\x08\x00\xff"],
    )
    assert SetResponseWithList.decode(one(association, with_list.encode())).result == [
        DataAccessResult.SUCCESS,
        DataAccessResult.READ_WRITE_DENIED,
    ]
    # SET with datablocks: a 300-byte octet string in three blocks
    value = bytes(range(200)) + bytes(100)
    raw = encode_data(value)
    blocks = [raw[:100], raw[100:200], raw[200:]]
    first = SetRequestWithFirstDatablock(
        5, CosemAttributeDescriptor(1, SERIAL, 2), None, DataBlockSA(False, 1, blocks[0])
    )
    assert SetResponseDatablock.decode(one(association, first.encode())).block_number == 1
    second = SetRequestWithDatablock(5, DataBlockSA(False, 2, blocks[1]))
    assert SetResponseDatablock.decode(one(association, second.encode())).block_number == 2
    last = SetResponseLastDatablock.decode(
        one(association, SetRequestWithDatablock(5, DataBlockSA(True, 3, blocks[2])).encode())
    )
    assert (last.result, last.block_number) == (DataAccessResult.SUCCESS, 3)
    assert association.device.find(1, SERIAL).value == value  # type: ignore[union-attr]
    # a datablock without a long set in progress
    orphan = SetResponseLastDatablock.decode(
        one(association, SetRequestWithDatablock(6, DataBlockSA(True, 7, b"\x00")).encode())
    )
    assert orphan.result == DataAccessResult.NO_LONG_SET_IN_PROGRESS


def test_action_variants() -> None:
    association = associated()
    register = association.device.find(3, ENERGY)
    assert isinstance(register, Register)
    register.value = DoubleLongUnsigned(5)
    reply = ActionResponseNormal.decode(
        one(association, ActionRequestNormal(2, CosemMethodDescriptor(3, ENERGY, 1), Integer(0)).encode())
    )
    assert reply.single_response.result == ActionResult.SUCCESS
    assert register.value == 0
    denied = ActionRequestNormal(3, CosemMethodDescriptor(8, CLOCK, 1), Integer(0)).encode()
    assert ActionResponseNormal.decode(one(association, denied)).single_response.result == (
        ActionResult.READ_WRITE_DENIED
    )
    with_list = ActionRequestWithList(
        4,
        [CosemMethodDescriptor(3, ENERGY, 1), CosemMethodDescriptor(3, ENERGY, 7)],
        [Integer(0), Integer(0)],
    )
    results = ActionResponseWithList.decode(one(association, with_list.encode())).list_of_responses
    assert [r.result for r in results] == [ActionResult.SUCCESS, ActionResult.OBJECT_UNDEFINED]
    # parameters in pblocks
    raw = encode_data(Integer(0))
    first = ActionRequestWithFirstPblock(
        5, CosemMethodDescriptor(3, ENERGY, 1), DataBlockSA(False, 1, raw[:1])
    )
    assert ActionResponseNextPblock.decode(one(association, first.encode())).block_number == 1
    register.value = DoubleLongUnsigned(9)
    last = ActionRequestWithPblock(5, DataBlockSA(True, 2, raw[1:]))
    assert ActionResponseNormal.decode(one(association, last.encode())).single_response.result == (
        ActionResult.SUCCESS
    )
    assert register.value == 0


def test_action_response_in_pblocks() -> None:
    """A return value longer than the client's PDU comes back in pblocks (ACTION-Request-Next-Pblock)."""
    device = make_device()
    association = ServerAssociation(ServedDevice(device), 16)
    one(association, aarq(user_information=initiate(max_pdu=64).encode()))
    register = device.find(3, ENERGY)
    assert register is not None

    def long_reset(index: int, parameter: object, ctx: object) -> object:
        return bytes(range(256)) * 2

    register._action = long_reset  # type: ignore[method-assign,assignment]
    reply = one(association, ActionRequestNormal(1, CosemMethodDescriptor(3, ENERGY, 1), Integer(0)).encode())
    raw = bytearray()
    number = 0
    while True:
        apdu = decode_apdu(reply)
        assert len(reply) <= 64
        block = apdu.pblock  # type: ignore[union-attr]
        assert block.block_number == number + 1
        number = block.block_number
        raw += block.raw_data
        if block.last_block:
            break
        reply = one(association, ActionRequestNextPblock(1, number).encode())
    assert raw[:2] == b"\x00\x01"  # success, return parameters present
    assert decode_data_exact(bytes(raw[3:])) == bytes(range(256)) * 2


# --------------------------------------------------------------------------------------------------
# Block transfer of long responses


def read_profile_with_get_next(association: ServerAssociation, request: bytes, max_pdu: int) -> list[object]:
    reply = one(association, request)
    raw = bytearray()
    expected = 1
    while True:
        assert len(reply) <= max_pdu
        response = GetResponseWithDataBlock.decode(reply)
        block = response.result
        assert block.block_number == expected
        assert isinstance(block.result, bytes)
        raw += block.result
        if block.last_block:
            break
        reply = one(association, GetRequestNext(response.invoke_id, block.block_number).encode())
        expected += 1
    assert expected > 1
    return decode_data_exact(bytes(raw))  # type: ignore[return-value]


def test_get_with_datablocks_for_a_long_profile() -> None:
    device = make_device(rows=1000)
    association = ServerAssociation(ServedDevice(device), 16)
    # GBT proposed too: the service-specific block transfer is preferred
    one(association, aarq(user_information=initiate(conformance=0x207E1F, max_pdu=512).encode()))
    request = GetRequestNormal(3, CosemAttributeDescriptor(7, PROFILE, 2)).encode()
    rows = read_profile_with_get_next(association, request, 512)
    assert len(rows) == 1000
    assert rows[999] == device.find(7, PROFILE).buffer[999]  # type: ignore[union-attr]
    # GET-next without a long GET
    stray = GetResponseWithDataBlock.decode(one(association, GetRequestNext(3, 1).encode()))
    assert stray.result.result == DataAccessResult.NO_LONG_GET_IN_PROGRESS
    # a long GET with-list
    request_list = GetRequestWithList(
        4,
        [
            CosemAttributeDescriptorWithSelection(CosemAttributeDescriptor(7, PROFILE, 2)),
            CosemAttributeDescriptorWithSelection(CosemAttributeDescriptor(3, ENERGY, 2)),
        ],
    ).encode()
    reply = one(association, request_list)
    raw = bytearray()
    while True:
        response = GetResponseWithDataBlock.decode(reply)
        assert isinstance(response.result.result, bytes)
        raw += response.result.result
        if response.result.last_block:
            break
        reply = one(association, GetRequestNext(4, response.result.block_number).encode())
    items = GetResponseWithList.decode(b"\xc4\x03\xc4" + bytes(raw)).result
    assert len(items[0]) == 1000 and items[1] == 123456  # type: ignore[arg-type]


def test_too_long_without_block_transfer_is_pdu_too_long() -> None:
    association = ServerAssociation(ServedDevice(make_device(rows=100)), 16)
    one(association, aarq(user_information=initiate(conformance=int(Conformance.GET), max_pdu=256).encode()))
    reply = ExceptionResponse.decode(
        one(association, GetRequestNormal(1, CosemAttributeDescriptor(7, PROFILE, 2)).encode())
    )
    assert reply.service_error == ExceptionServiceError.PDU_TOO_LONG


def test_general_block_transfer_with_windows() -> None:
    device = make_device(rows=300)
    association = ServerAssociation(ServedDevice(device), 16)
    gbt_only = 0x207E1F & ~int(Conformance.BLOCK_TRANSFER_WITH_GET_OR_READ)
    one(association, aarq(user_information=initiate(conformance=gbt_only, max_pdu=256).encode()))
    assert association.conformance & Conformance.GENERAL_BLOCK_TRANSFER
    request = GetRequestNormal(3, CosemAttributeDescriptor(7, PROFILE, 2)).encode()
    blocks = answer_apdu(association, request, T0)
    assert len(blocks) == 1  # window 1 until the client announces more
    data = bytearray()
    received = 0
    client_number = 0
    while True:
        last = False
        for apdu in blocks:
            assert len(apdu) <= 256
            gbt = GeneralBlockTransfer.decode(apdu)
            assert gbt.block_number == received + 1
            received = gbt.block_number
            data += gbt.block_data
            last = gbt.last_block
        if last:
            break
        client_number += 1
        ack = GeneralBlockTransfer(False, False, 4, client_number, received, b"")
        blocks = answer_apdu(association, ack.encode(), T0)
        assert 1 <= len(blocks) <= 4
    response = GetResponseNormal.decode(bytes(data))
    assert len(response.result) == 300  # type: ignore[arg-type]
    # a request that arrives in GBT blocks is answered in GBT
    gbt_request = [
        GeneralBlockTransfer(False, False, 1, 1, 0, GET_ENERGY[:6]),
        GeneralBlockTransfer(True, False, 1, 2, 0, GET_ENERGY[6:]),
    ]
    ack = GeneralBlockTransfer.decode(one(association, gbt_request[0].encode()))
    assert ack.block_number_ack == 1 and not ack.block_data
    answer = GeneralBlockTransfer.decode(one(association, gbt_request[1].encode()))
    assert answer.last_block and answer.block_number_ack == 2
    assert GetResponseNormal.decode(answer.block_data).result == DoubleLongUnsigned(123456)


def test_ciphered_long_response_blocks_fit_the_client_pdu() -> None:
    device = make_device(management_mechanism=1, rows=200)
    association = ServerAssociation(ServedDevice(device), 1)
    client = client_context()
    one(association, AARQ_CIPHERED_LLS)
    association.max_send_pdu_size = 300
    association.conformance &= ~Conformance.GENERAL_BLOCK_TRANSFER
    request = GetRequestNormal(3, CosemAttributeDescriptor(7, PROFILE, 2)).encode()
    reply = one(association, protect_apdu(request, client, "general-glo"))
    raw = bytearray()
    while True:
        assert len(reply) <= 300
        response = GetResponseWithDataBlock.decode(unprotect_apdu(reply, client)[0])
        assert isinstance(response.result.result, bytes)
        raw += response.result.result
        if response.result.last_block:
            break
        next_request = GetRequestNext(3, response.result.block_number).encode()
        reply = one(association, protect_apdu(next_request, client, "general-glo"))
    assert len(decode_data_exact(bytes(raw))) == 200  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("mechanism", "name"),
    [
        (Mechanism.HLS_MD5, MechanismName.HIGH_MD5),
        (Mechanism.HLS_SHA1, MechanismName.HIGH_SHA1),
        (Mechanism.HLS_SHA256, MechanismName.HIGH_SHA256),
        (Mechanism.HLS_GMAC, MechanismName.HIGH_GMAC),
    ],
)
def test_hls_mechanisms_with_our_own_hls_client(mechanism: Mechanism, name: MechanismName) -> None:
    device = make_device(management_mechanism=int(mechanism), management_context=CONTEXT_LN_NO_CIPHERING)
    association = ServerAssociation(ServedDevice(device), 1)
    client = HlsClient(
        mechanism,
        CLIENT_TITLE,
        secret=LLS_SECRET,
        ek=EK,
        ak=AK,
        invocation_counter=MemoryInvocationCounter(7),
    )
    aare = AARE.decode(
        one(
            association,
            aarq(mechanism=name, value=client.calling_authentication_value(), calling_ap_title=CLIENT_TITLE),
        )
    )
    assert aare.result == AssociationResult.ACCEPTED
    assert isinstance(aare.responding_authentication_value, bytes)
    client.receive_challenge(aare.responding_authentication_value, aare.responding_ap_title)
    request = ActionRequestNormal(
        1, CosemMethodDescriptor(15, Obis.parse("0-0:40.0.0*255"), 1), client.response()
    )
    reply = ActionResponseNormal.decode(one(association, request.encode()))
    assert reply.single_response.result == ActionResult.SUCCESS
    assert isinstance(reply.single_response.return_parameters, bytes)
    client.verify_response(reply.single_response.return_parameters)
    assert association.state is AssociationState.ASSOCIATED


def test_association_status_is_per_association() -> None:
    """Two associations share one Association LN object: each sees its own association_status."""
    device = make_device(management_context=CONTEXT_LN_NO_CIPHERING, client_system_title=CLIENT_TITLE)
    served = ServedDevice(device)
    first = ServerAssociation(served, 1)
    second = ServerAssociation(served, 1)
    hls = aarq(mechanism=MechanismName.HIGH_GMAC, value=CTOS, calling_ap_title=CLIENT_TITLE)
    one(first, hls)
    one(second, hls)
    status = GetRequestNormal(1, CosemAttributeDescriptor(15, Obis.parse("0-0:40.0.0*255"), 8)).encode()
    # second completes HLS; first stays pending
    aare = AARE.decode(one(second, hls))
    assert isinstance(aare.responding_authentication_value, bytes)
    f_stoc = hls_gmac(aare.responding_authentication_value, CLIENT_TITLE, 1, EK, AK)
    reply = ActionRequestNormal(2, CosemMethodDescriptor(15, Obis.parse("0-0:40.0.0*255"), 1), f_stoc)
    assert (
        ActionResponseNormal.decode(one(second, reply.encode())).single_response.result
        == ActionResult.SUCCESS
    )
    assert GetResponseNormal.decode(one(second, status)).result == 2  # associated
    assert first.state is AssociationState.PENDING
    assert (
        ExceptionResponse.decode(one(first, status)).service_error
        == ExceptionServiceError.OPERATION_NOT_POSSIBLE
    )


def test_a_retransmitted_hls_aarq_gets_the_same_aare_and_pass_3_on_it_succeeds() -> None:
    """A client whose timeout crossed our AARE sends the same AARQ again: it gets the same challenge,
    so its pass 3 (computed on the first AARE) verifies, and no authentication failure is counted
    (before: a new challenge, pass 3 refused, and after three of those the decision 0034 back-off)."""
    device = make_device(management_context=CONTEXT_LN_NO_CIPHERING, client_system_title=CLIENT_TITLE)
    challenges = iter([STOC, bytes(reversed(STOC))])
    association = ServerAssociation(ServedDevice(device), 1, challenge_factory=lambda: next(challenges))
    hls = aarq(mechanism=MechanismName.HIGH_GMAC, value=CTOS, calling_ap_title=CLIENT_TITLE)
    first = one(association, hls)
    assert one(association, hls) == first  # the retransmission: same AARE, same challenge
    assert AARE.decode(first).responding_authentication_value == STOC
    request = ActionRequestNormal(
        1, CosemMethodDescriptor(15, Obis.parse("0-0:40.0.0*255"), 1), CLIENT_F_STOC
    )
    reply = ActionResponseNormal.decode(one(association, request.encode()))
    assert reply.single_response.result == ActionResult.SUCCESS
    assert association.state is AssociationState.ASSOCIATED
    # once associated, the same AARQ again still changes nothing; a new client challenge starts over
    assert one(association, hls) == first and association.state is AssociationState.ASSOCIATED
    fresh = aarq(
        mechanism=MechanismName.HIGH_GMAC, value=bytes(reversed(CTOS)), calling_ap_title=CLIENT_TITLE
    )
    assert AARE.decode(one(association, fresh)).responding_authentication_value == bytes(reversed(STOC))
    assert association.state is AssociationState.PENDING
