"""ACSE (AARQ/AARE/RLRQ/RLRE) and BER helper tests: published vectors, round trips, negatives, fuzz."""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cosemnet.codec import ber
from cosemnet.codec.acse import (
    AARE,
    AARQ,
    ACSE_APDU_TYPES,
    ACSE_REQUIREMENTS_AUTHENTICATION,
    PROTOCOL_VERSION_1,
    RLRE,
    RLRQ,
    AcseServiceProvider,
    AcseServiceUser,
    ApplicationContextName,
    AssociateSourceDiagnostic,
    AssociationResult,
    MechanismName,
    ReleaseRequestReason,
    ReleaseResponseReason,
    decode_user_information,
)
from cosemnet.codec.ber import BerBitString
from cosemnet.codec.initiate import Conformance, InitiateRequest, InitiateResponse
from cosemnet.codec.service_error import ConfirmedService, ConfirmedServiceError, ServiceError
from cosemnet.errors import DecodeError, EncodeError

# spec-notes section 1 (public test suites)
AARQ_LN = bytes.fromhex("601DA109060760857405080101BE10040E01000000065F1F0400001E1DFFFF")
AARE_LN = bytes.fromhex(
    "6129A109060760857405080101A203020100A305A103020100BE10040E0800065F1F040000501F01F40007"
)
AARQ_GMAC = bytes.fromhex(
    "6036A1090607608574050801018A0207808B0760857405080205AC0A80084B35366956616759"
    "BE10040E01000000065F1F0400007E1F04B0"
)
AARE_GMAC = bytes.fromhex(
    "6142A109060760857405080101A203020100A305A10302010E88020780890760857405080205"
    "AA0A8008503677524A323146BE10040E0800065F1F040000501F01F40007"
)
RLRQ_NORMAL = bytes.fromhex("6203800100")
AARQ_CIPHERED = bytes.fromhex(
    "6066A109060760857405080103A60A04084D4D4D0000BC614E8A0207808B0760857405080201"
    "AC0A80083132333435363738BE34043221303001234567801302FF8A7874133D414CED25B42534"
    "D28DB0047720606B175BD52211BE6841DB204D39EE6FDB8E356855"
)
VECTORS = [AARQ_LN, AARE_LN, AARQ_GMAC, AARE_GMAC, RLRQ_NORMAL, AARQ_CIPHERED]
DECODERS: list[Any] = [AARQ, AARE, RLRQ, RLRE]


def decode_any(data: bytes) -> Any:
    if not data:
        raise DecodeError("empty", 0)
    cls = ACSE_APDU_TYPES.get(data[0])
    if cls is None:
        raise DecodeError("not ACSE", 0)
    return cls.decode(data)


# --------------------------------------------------------------------------------------------------
# Published vectors


def test_aarq_ln_no_security() -> None:
    aarq = AARQ.decode(AARQ_LN)
    assert aarq.application_context_name is ApplicationContextName.LN
    assert aarq.protocol_version is None
    assert aarq.calling_ap_title is None
    assert aarq.sender_acse_requirements is None
    assert aarq.mechanism_name is None
    assert aarq.calling_authentication_value is None
    assert aarq.user_information == bytes.fromhex("01000000065F1F0400001E1DFFFF")
    assert aarq.ber_length_octets == ()
    initiate = aarq.decode_user_information()
    assert isinstance(initiate, InitiateRequest)
    assert initiate.proposed_conformance == 0x001E1D
    assert initiate.client_max_receive_pdu_size == 0xFFFF
    assert aarq.encode() == AARQ_LN
    built = AARQ(
        application_context_name=ApplicationContextName.LN,
        user_information=InitiateRequest(
            proposed_conformance=Conformance(0x001E1D), client_max_receive_pdu_size=0xFFFF
        ).encode(),
    )
    assert built.encode() == AARQ_LN
    assert built == aarq


def test_aare_accepted() -> None:
    aare = AARE.decode(AARE_LN)
    assert aare.application_context_name is ApplicationContextName.LN
    assert aare.result is AssociationResult.ACCEPTED
    assert aare.result_source_diagnostic is AssociateSourceDiagnostic.ACSE_SERVICE_USER_NULL
    assert aare.result_source_diagnostic.detail is AcseServiceUser.NULL
    assert aare.responder_acse_requirements is None
    response = aare.decode_user_information()
    assert response == InitiateResponse(
        negotiated_conformance=Conformance(0x00501F), server_max_receive_pdu_size=500, vaa_name=7
    )
    assert aare.encode() == AARE_LN
    built = AARE(
        application_context_name=ApplicationContextName.LN,
        result=AssociationResult.ACCEPTED,
        result_source_diagnostic=AssociateSourceDiagnostic.of(AcseServiceUser.NULL),
        user_information=bytes.fromhex("0800065F1F040000501F01F40007"),
    )
    assert built.encode() == AARE_LN


def test_aarq_hls_gmac() -> None:
    aarq = AARQ.decode(AARQ_GMAC)
    assert aarq.sender_acse_requirements == ACSE_REQUIREMENTS_AUTHENTICATION
    assert aarq.sender_acse_requirements is not None and aarq.sender_acse_requirements.bit(0)
    assert aarq.mechanism_name is MechanismName.HIGH_GMAC
    assert aarq.calling_authentication_value == bytes.fromhex("4B35366956616759")  # CtoS
    initiate = aarq.decode_user_information()
    assert isinstance(initiate, InitiateRequest)
    assert initiate.proposed_conformance == 0x007E1F
    assert initiate.client_max_receive_pdu_size == 1200
    built = AARQ(
        application_context_name=ApplicationContextName.LN,
        sender_acse_requirements=ACSE_REQUIREMENTS_AUTHENTICATION,
        mechanism_name=MechanismName.HIGH_GMAC,
        calling_authentication_value=b"K56iVagY",
        user_information=initiate.encode(),
    )
    assert built.encode() == AARQ_GMAC


def test_aare_hls_gmac() -> None:
    aare = AARE.decode(AARE_GMAC)
    assert aare.result is AssociationResult.ACCEPTED
    assert (
        aare.result_source_diagnostic is AssociateSourceDiagnostic.ACSE_SERVICE_USER_AUTHENTICATION_REQUIRED
    )
    assert aare.result_source_diagnostic.code == 14
    assert aare.responder_acse_requirements == ACSE_REQUIREMENTS_AUTHENTICATION
    assert aare.mechanism_name is MechanismName.HIGH_GMAC
    assert aare.responding_authentication_value == bytes.fromhex("503677524A323146")  # StoC
    assert isinstance(aare.decode_user_information(), InitiateResponse)
    assert aare.encode() == AARE_GMAC


def test_rlrq_normal() -> None:
    rlrq = RLRQ.decode(RLRQ_NORMAL)
    assert rlrq.reason is ReleaseRequestReason.NORMAL
    assert rlrq.user_information is None
    assert rlrq.decode_user_information() is None
    assert rlrq.encode() == RLRQ_NORMAL
    assert RLRQ(reason=ReleaseRequestReason.NORMAL).encode() == RLRQ_NORMAL


def test_ciphered_aarq() -> None:
    aarq = AARQ.decode(AARQ_CIPHERED)
    assert aarq.application_context_name is ApplicationContextName.LN_CIPHERED
    assert aarq.calling_ap_title == bytes.fromhex("4D4D4D0000BC614E")
    assert aarq.mechanism_name is MechanismName.LOW
    assert aarq.calling_authentication_value == b"12345678"
    assert aarq.sender_acse_requirements == ACSE_REQUIREMENTS_AUTHENTICATION
    ui = aarq.user_information
    assert ui is not None and len(ui) == 0x32 and ui[:7] == bytes.fromhex("21303001234567")
    assert aarq.decode_user_information() == ui  # ciphered: handed back raw
    assert decode_user_information(ui) == ui
    assert aarq.encode() == AARQ_CIPHERED


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: v[:1].hex())
def test_vectors_round_trip_all_input_types(vector: bytes) -> None:
    cls = ACSE_APDU_TYPES[vector[0]]
    for data in (vector, bytearray(vector), memoryview(vector)):
        assert cls.decode(data).encode() == vector


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: v[:1].hex())
def test_decode_from_inside_a_larger_buffer(vector: bytes) -> None:
    cls = ACSE_APDU_TYPES[vector[0]]
    buf = b"\xaa\xbb\xcc" + vector + b"\x00\x01"
    value, end = cls.decode_from(buf, 3)
    assert end == 3 + len(vector)
    assert value.encode() == vector
    with pytest.raises(DecodeError) as info:
        cls.decode_from(buf[: 3 + len(vector) - 1], 3)
    assert info.value.offset >= 3


def test_release_response_and_user_information() -> None:
    rlre = RLRE(reason=ReleaseResponseReason.NOT_FINISHED, user_information=bytes.fromhex("0E010601"))
    data = rlre.encode()
    assert data == bytes.fromhex("630B800101BE0604040E010601")
    back = RLRE.decode(data)
    assert back == rlre
    error = back.decode_user_information()
    assert isinstance(error, ConfirmedServiceError)
    assert error.error is ServiceError.INITIATE_DLMS_VERSION_TOO_LOW
    assert RLRQ.decode(b"\x62\x00") == RLRQ()
    assert RLRE.decode(b"\x63\x00").encode() == b"\x63\x00"
    assert RLRQ(reason=ReleaseRequestReason.USER_DEFINED).encode() == bytes.fromhex("620380011E")


def test_aare_rejected_with_confirmed_service_error() -> None:
    aare = AARE(
        application_context_name=ApplicationContextName.LN,
        result=AssociationResult.REJECTED_PERMANENT,
        result_source_diagnostic=AssociateSourceDiagnostic.ACSE_SERVICE_USER_NO_REASON_GIVEN,
        user_information=ConfirmedServiceError(
            ConfirmedService.INITIATE_ERROR, ServiceError.INITIATE_PDU_SIZE_TOO_SHORT
        ).encode(),
    )
    data = aare.encode()
    assert data == bytes.fromhex("611FA109060760857405080101A203020101A305A103020101BE0604040E010603")
    assert AARE.decode(data) == aare
    error = AARE.decode(data).decode_user_information()
    assert isinstance(error, ConfirmedServiceError)
    assert error.error is ServiceError.INITIATE_PDU_SIZE_TOO_SHORT


def test_acse_service_provider_diagnostic_is_distinct() -> None:
    user = AARE(
        application_context_name=ApplicationContextName.SN,
        result=AssociationResult.REJECTED_TRANSIENT,
        result_source_diagnostic=AssociateSourceDiagnostic.ACSE_SERVICE_USER_NULL,
    )
    provider = AARE(
        application_context_name=ApplicationContextName.SN,
        result=AssociationResult.REJECTED_TRANSIENT,
        result_source_diagnostic=AssociateSourceDiagnostic.of(AcseServiceProvider.NULL),
    )
    assert user != provider
    assert provider.encode() == bytes.fromhex("6117A109060760857405080102A203020102A305A203020100")
    back = AARE.decode(provider.encode())
    assert back.result_source_diagnostic is AssociateSourceDiagnostic.ACSE_SERVICE_PROVIDER_NULL
    assert back.result_source_diagnostic.detail is AcseServiceProvider.NULL
    assert back.result_source_diagnostic.alternative == 2


def test_every_component_of_aarq_and_aare() -> None:
    aarq = AARQ(
        protocol_version=PROTOCOL_VERSION_1,
        application_context_name=ApplicationContextName.SN_CIPHERED,
        called_ap_title=b"\x01\x02",
        called_ae_qualifier=b"\x03",
        called_ap_invocation_id=-1,
        called_ae_invocation_id=128,
        calling_ap_title=b"MMM\x00\x00\x00\x00\x01",
        calling_ae_qualifier=b"\x30" * 300,  # a certificate: two-octet long-form length
        calling_ap_invocation_id=0,
        calling_ae_invocation_id=2**40,
        sender_acse_requirements=ACSE_REQUIREMENTS_AUTHENTICATION,
        mechanism_name=MechanismName.HIGH_ECDSA,
        calling_authentication_value=BerBitString(b"\xf0", 4),
        implementation_information=b"cosemnet",
        user_information=b"\x21\x00",
    )
    data = aarq.encode()
    assert data[:2] == b"\x60\x82"  # 2-octet long form for the APDU length
    assert bytes.fromhex("80020780") in data  # protocol-version sent explicitly
    assert bytes.fromhex("A4030201FF") in data
    assert bytes.fromhex("A50402020080") in data
    assert bytes.fromhex("A7820130048201 2C") + b"\x30" * 300 in data
    assert bytes.fromhex("8B0760857405080207") in data
    assert bytes.fromhex("AC04810204F0") in data
    assert bytes.fromhex("9D08") + b"cosemnet" in data
    back = AARQ.decode(data)
    assert back == aarq
    assert back.encode() == data

    aare = AARE(
        protocol_version=BerBitString(b"\x80", 7),
        application_context_name=ApplicationContextName.LN,
        result=AssociationResult.ACCEPTED,
        result_source_diagnostic=AssociateSourceDiagnostic.ACSE_SERVICE_USER_NULL,
        responding_ap_title=b"MMM\x00\x00\xbcaN",
        responding_ae_qualifier=b"",
        responding_ap_invocation_id=5,
        responding_ae_invocation_id=-300,
        responder_acse_requirements=ACSE_REQUIREMENTS_AUTHENTICATION,
        mechanism_name=MechanismName.HIGH_SHA256,
        responding_authentication_value=b"",
        implementation_information=b"",
        user_information=b"\x28\x00",
    )
    data = aare.encode()
    assert bytes.fromhex("A40A04084D4D4D0000BC614E") in data
    assert bytes.fromhex("A5020400") in data
    back_aare = AARE.decode(data)
    assert back_aare == aare
    assert back_aare.encode() == data
    assert back_aare.decode_user_information() == b"\x28\x00"


# --------------------------------------------------------------------------------------------------
# Non-minimal lengths


@pytest.mark.parametrize(
    ("wire", "hints"),
    [
        # APDU length in long form
        ("60811DA109060760857405080101BE10040E01000000065F1F0400001E1DFFFF", (2, 1, 1, 1, 1)),
        # zero-padded APDU length, long-form OID length
        ("6082001EA10A06810760857405080101BE10040E01000000065F1F0400001E1DFFFF", (3, 1, 2, 1, 1)),
        # long form inside user-information
        ("620480810100", (1, 2)),
    ],
)
def test_non_minimal_lengths_are_reproduced(wire: str, hints: tuple[int, ...]) -> None:
    data = bytes.fromhex(wire)
    value = decode_any(data)
    assert value.ber_length_octets == hints
    assert value.encode() == data
    value.ber_length_octets = ()
    assert len(value.encode()) < len(data)


def test_stale_hints_never_break_an_encoding() -> None:
    aarq = AARQ(application_context_name=ApplicationContextName.LN, user_information=b"\x01" * 200)
    for hints in [(1,) * 10, (5, 1, 7), (0, 0, 0, 0, 0, 0, 0)]:
        aarq.ber_length_octets = hints
        data = aarq.encode()
        back = AARQ.decode(data)
        assert back.encode() == data
        assert back.user_information == aarq.user_information


# --------------------------------------------------------------------------------------------------
# Negative cases: only DecodeError, with sensible offsets


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: v[:1].hex())
def test_every_truncation_is_a_decode_error(vector: bytes) -> None:
    cls = ACSE_APDU_TYPES[vector[0]]
    for n in range(len(vector)):
        with pytest.raises(DecodeError):
            cls.decode(vector[:n])


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: v[:1].hex())
def test_trailing_bytes_are_a_decode_error(vector: bytes) -> None:
    cls = ACSE_APDU_TYPES[vector[0]]
    with pytest.raises(DecodeError) as info:
        cls.decode(vector + b"\x00")
    assert info.value.offset == len(vector)


def _sub(vector: bytes, old: str, new: str) -> bytes:
    o, n = bytes.fromhex(old), bytes.fromhex(new)
    assert vector.count(o) == 1
    return vector.replace(o, n)


BAD_AARQ = {
    "wrong APDU tag": b"\x61" + AARQ_LN[1:],
    "APDU length beyond buffer": b"\x60\x1e" + AARQ_LN[2:],
    "component length beyond APDU": _sub(AARQ_LN, "BE10040E", "BE11040E"),
    "component longer than its contents": _sub(AARQ_LN, "A109", "A10A"),
    "indefinite length": _sub(AARQ_LN, "601D", "6080"),
    "reserved length octet": _sub(AARQ_LN, "601D", "60FF"),
    "length field runs off the end": bytes.fromhex("6084FFFF"),
    "application context not DLMS": _sub(AARQ_LN, "60857405080101", "60857405080109"),
    "application context 2.16.756.5.8.1.0": _sub(AARQ_LN, "60857405080101", "60857405080100"),
    "application context wrong prefix": _sub(AARQ_LN, "60857405080101", "60857405080301"),
    "application context broken OID": _sub(AARQ_LN, "60857405080101", "60857405088101"),
    "application context not an OID": _sub(AARQ_LN, "A10906076085", "A10904076085"),
    "application context primitive tag": _sub(AARQ_LN, "A109", "8109"),
    "mechanism not DLMS": _sub(AARQ_GMAC, "8B0760857405080205", "8B0760857405080208"),
    "mechanism wrong arc": _sub(AARQ_GMAC, "8B0760857405080205", "8B0760857405080105"),
    "application-context-name missing": bytes.fromhex("6000"),
    "AP-title as OID": _sub(AARQ_CIPHERED, "A60A04084D4D4D0000BC614E", "A60A06084D4D4D0000BC614E"),
    "AP-title with extra octets": _sub(AARQ_CIPHERED, "A60A04084D4D4D0000BC614E", "A60A04074D4D4D0000BC614E"),
    "auth value external": _sub(AARQ_GMAC, "AC0A8008", "AC0AA208"),
    "auth value constructed charstring": _sub(AARQ_GMAC, "AC0A8008", "AC0AA008"),
    "acse requirements constructed": _sub(AARQ_GMAC, "8A020780", "AA020780"),
    "bit string unused bits 8": _sub(AARQ_GMAC, "8A020780", "8A020880"),
    "user information not an octet string": _sub(AARQ_LN, "BE10040E", "BE10030E"),
    "high tag number component": bytes.fromhex("6004BF1F0100"),
    "non-minimal high tag number": bytes.fromhex("6003BF0100"),
}


def _build_bad_cases() -> dict[str, bytes]:
    cases = {k: v for k, v in BAD_AARQ.items() if v}
    # out of order: mechanism-name [11] before application-context-name [1]
    mech = bytes.fromhex("8B0760857405080205")
    ctx = bytes.fromhex("A109060760857405080101")
    body = mech + ctx
    cases["component out of order"] = bytes((0x60, len(body))) + body
    body = ctx + ctx
    cases["component repeated"] = bytes((0x60, len(body))) + body
    body = ctx + bytes.fromhex("AD020500")
    cases["unknown component [13]"] = bytes((0x60, len(body))) + body
    body = ctx + bytes.fromhex("A600")
    cases["empty AP-title component"] = bytes((0x60, len(body))) + body
    body = ctx + bytes.fromhex("8B00")
    cases["mechanism empty"] = bytes((0x60, len(body))) + body
    body = ctx + bytes.fromhex("A40402020001")
    cases["non-minimal INTEGER"] = bytes((0x60, len(body))) + body
    body = ctx + bytes.fromhex("A4020200")
    cases["INTEGER without contents"] = bytes((0x60, len(body))) + body
    body = ctx + bytes.fromhex("8A0107")
    cases["empty bit string with unused bits"] = bytes((0x60, len(body))) + body
    body = ctx + bytes.fromhex("8A00")
    cases["bit string without contents"] = bytes((0x60, len(body))) + body
    body = bytes.fromhex("0A00") + ctx
    cases["universal component"] = bytes((0x60, len(body))) + body
    return cases


BAD_AARQ_CASES = _build_bad_cases()


@pytest.mark.parametrize("name", sorted(BAD_AARQ_CASES))
def test_bad_aarq(name: str) -> None:
    data = BAD_AARQ_CASES[name]
    with pytest.raises(DecodeError) as info:
        AARQ.decode(data)
    assert 0 <= info.value.offset <= len(data)


BAD_AARE = {
    "result missing": bytes.fromhex("6112A109060760857405080101A305A103020100"),
    "diagnostic missing": bytes.fromhex("6110A109060760857405080101A203020100"),
    "context missing": bytes.fromhex("610CA203020100A305A103020100"),
    "unknown result": _sub(AARE_LN, "A203020100", "A203020103"),
    "result negative": _sub(AARE_LN, "A203020100", "A2030201FF"),
    "unknown diagnostic alternative": _sub(AARE_LN, "A305A103020100", "A305A003020100"),
    "unknown acse-service-user": _sub(AARE_LN, "A305A103020100", "A305A10302010F"),
    "unknown acse-service-provider": _sub(AARE_LN, "A305A103020100", "A305A203020103"),
    "diagnostic with trailing octet": _sub(
        _sub(AARE_LN, "A305A103020100", "A306A10302010000"), "6129", "612A"
    ),
    "AARQ-only tag [11] in AARE": _sub(AARE_GMAC, "890760857405080205", "8B0760857405080205"),
    "result primitive": _sub(AARE_LN, "A203020100", "8203020100"),
}


@pytest.mark.parametrize("name", sorted(BAD_AARE))
def test_bad_aare(name: str) -> None:
    with pytest.raises(DecodeError):
        AARE.decode(BAD_AARE[name])


@pytest.mark.parametrize(
    "data",
    [
        "6203800103",
        "620380020000",
        "620480020000",
        "6203800180",
        "6202BE00",
        "6204BE020500",
        "6205BE0304020000",
        "62038001",
        "6403800100",
    ],
)
def test_bad_release(data: str) -> None:
    with pytest.raises(DecodeError):
        RLRQ.decode(bytes.fromhex(data))


def test_decode_error_offsets() -> None:
    data = _sub(AARQ_LN, "60857405080101", "60857405080109")
    with pytest.raises(DecodeError) as info:
        AARQ.decode(data)
    assert info.value.offset == 6  # the OID contents
    with pytest.raises(DecodeError) as info:
        AARQ.decode(b"\x61" + AARQ_LN[1:])
    assert info.value.offset == 0
    with pytest.raises(DecodeError) as info:
        AARQ.decode(b"")
    assert info.value.offset == 0


def test_user_information_dispatch() -> None:
    assert isinstance(decode_user_information(bytes.fromhex("01000000065F1F0400001E1DFFFF")), InitiateRequest)
    assert isinstance(
        decode_user_information(bytes.fromhex("0800065F1F040000501F01F40007")), InitiateResponse
    )
    assert isinstance(decode_user_information(bytes.fromhex("0E010601")), ConfirmedServiceError)
    for tag in (0x21, 0x28, 0x2E, 0x41, 0x48, 0x4E, 0xDB, 0xDC, 0xDD):
        assert decode_user_information(bytes((tag, 1, 2))) == bytes((tag, 1, 2))
    for bad in (b"", b"\xc0\x01", b"\x01\x00"):
        with pytest.raises(DecodeError):
            decode_user_information(bad)
    # an AARQ carries requests only, an AARE responses only
    aarq = AARQ(application_context_name=ApplicationContextName.LN, user_information=b"\x28\x00")
    with pytest.raises(DecodeError):
        aarq.decode_user_information()
    aare = AARE(
        application_context_name=ApplicationContextName.LN,
        result=AssociationResult.ACCEPTED,
        result_source_diagnostic=AssociateSourceDiagnostic.ACSE_SERVICE_USER_NULL,
        user_information=bytes.fromhex("01000000065F1F0400001E1DFFFF"),
    )
    with pytest.raises(DecodeError):
        aare.decode_user_information()


def test_encode_errors() -> None:
    bad: list[Any] = [
        AARQ(application_context_name=9),  # type: ignore[arg-type]
        AARQ(application_context_name=ApplicationContextName.LN, mechanism_name=8),  # type: ignore[arg-type]
        AARQ(application_context_name=ApplicationContextName.LN, calling_ap_title="text"),  # type: ignore[arg-type]
        AARQ(application_context_name=ApplicationContextName.LN, called_ap_invocation_id=True),
        AARQ(application_context_name=ApplicationContextName.LN, protocol_version=b"\x80"),  # type: ignore[arg-type]
        AARE(
            application_context_name=ApplicationContextName.LN,
            result=AssociationResult.ACCEPTED,
            result_source_diagnostic=AcseServiceUser.NULL,  # type: ignore[arg-type]
        ),
        AARE(
            application_context_name=ApplicationContextName.LN,
            result=7,  # type: ignore[arg-type]
            result_source_diagnostic=AssociateSourceDiagnostic.ACSE_SERVICE_USER_NULL,
        ),
        RLRQ(reason=2),  # type: ignore[arg-type]
    ]
    for value in bad:
        with pytest.raises(EncodeError):
            value.encode()
    with pytest.raises(EncodeError):
        BerBitString(b"", 1)
    with pytest.raises(EncodeError):
        BerBitString(b"\x00", 8)


def test_keys_and_secrets_not_in_repr() -> None:
    aarq = AARQ.decode(AARQ_CIPHERED)
    assert "12345678" not in repr(aarq)
    assert "3132333435363738" not in repr(aarq)
    aare = AARE.decode(AARE_GMAC)
    assert "P6wRJ21F" not in repr(aare)


# --------------------------------------------------------------------------------------------------
# Hypothesis round trips

octets = st.binary(max_size=300)
small_octets = st.binary(max_size=20)
invocation_ids = st.none() | st.integers(min_value=-(2**70), max_value=2**70)


@st.composite
def bit_strings(draw: st.DrawFn) -> BerBitString:
    data = draw(st.binary(max_size=4))
    unused = draw(st.integers(0, 7)) if data else 0
    return BerBitString(data, unused)


def opt(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


auth_values = opt(small_octets | octets | bit_strings())

aarqs = st.builds(
    AARQ,
    protocol_version=opt(bit_strings()),
    application_context_name=st.sampled_from(ApplicationContextName),
    called_ap_title=opt(small_octets),
    called_ae_qualifier=opt(octets),
    called_ap_invocation_id=invocation_ids,
    called_ae_invocation_id=invocation_ids,
    calling_ap_title=opt(small_octets),
    calling_ae_qualifier=opt(octets),
    calling_ap_invocation_id=invocation_ids,
    calling_ae_invocation_id=invocation_ids,
    sender_acse_requirements=opt(bit_strings()),
    mechanism_name=opt(st.sampled_from(MechanismName)),
    calling_authentication_value=auth_values,
    implementation_information=opt(small_octets),
    user_information=opt(octets),
)

aares = st.builds(
    AARE,
    protocol_version=opt(bit_strings()),
    application_context_name=st.sampled_from(ApplicationContextName),
    result=st.sampled_from(AssociationResult),
    result_source_diagnostic=st.sampled_from(AssociateSourceDiagnostic),
    responding_ap_title=opt(small_octets),
    responding_ae_qualifier=opt(octets),
    responding_ap_invocation_id=invocation_ids,
    responding_ae_invocation_id=invocation_ids,
    responder_acse_requirements=opt(bit_strings()),
    mechanism_name=opt(st.sampled_from(MechanismName)),
    responding_authentication_value=auth_values,
    implementation_information=opt(small_octets),
    user_information=opt(octets),
)

rlrqs = st.builds(RLRQ, reason=opt(st.sampled_from(ReleaseRequestReason)), user_information=opt(octets))
rlres = st.builds(RLRE, reason=opt(st.sampled_from(ReleaseResponseReason)), user_information=opt(octets))
any_apdu = st.one_of(aarqs, aares, rlrqs, rlres)


def same(a: Any, b: Any) -> bool:
    """Equality that also tells enum types apart (IntEnums of different classes compare as ints)."""
    if type(a) is not type(b):
        return False
    if dataclasses.is_dataclass(a):
        return all(same(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a))
    return bool(a == b)


@settings(max_examples=300, deadline=None)
@given(any_apdu)
def test_object_round_trip(value: Any) -> None:
    data = value.encode()
    back = type(value).decode(data)
    assert same(back, value)
    assert back.encode() == data


@settings(max_examples=300, deadline=None)
@given(any_apdu, st.lists(st.integers(0, 5), max_size=40).map(tuple))
def test_byte_round_trip_with_length_hints(value: Any, hints: tuple[int, ...]) -> None:
    value.ber_length_octets = hints
    data = value.encode()
    back = type(value).decode(data)
    assert back.encode() == data
    back.ber_length_octets = ()
    value.ber_length_octets = ()
    assert same(back, value)


# --------------------------------------------------------------------------------------------------
# Fuzz smoke: every decoder on random and mutated input raises nothing but DecodeError, and whatever
# decodes re-encodes to the same bytes.


def check_decoders(data: bytes) -> None:
    for cls in DECODERS:
        try:
            value = cls.decode(data)
        except DecodeError:
            continue
        assert value.encode() == data
        with contextlib.suppress(DecodeError):
            value.decode_user_information()
    with contextlib.suppress(DecodeError):
        decode_user_information(data)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=80))
def test_fuzz_random_bytes(data: bytes) -> None:
    check_decoders(data)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=40))
def test_fuzz_random_bytes_with_acse_tag(data: bytes) -> None:
    for tag in (0x60, 0x61, 0x62, 0x63):
        check_decoders(bytes((tag, len(data))) + data)


@settings(max_examples=600, deadline=None)
@given(st.sampled_from(VECTORS), st.data())
def test_fuzz_mutated_vectors(vector: bytes, data: st.DataObject) -> None:
    buf = bytearray(vector)
    for _ in range(data.draw(st.integers(1, 4))):
        kind = data.draw(st.sampled_from(["set", "insert", "delete"]))
        pos = data.draw(st.integers(0, max(len(buf) - 1, 0)))
        if kind == "set" and buf:
            buf[pos] = data.draw(st.integers(0, 255))
        elif kind == "insert":
            buf.insert(pos, data.draw(st.integers(0, 255)))
        elif buf:
            del buf[pos]
    check_decoders(bytes(buf))


# --------------------------------------------------------------------------------------------------
# BER helpers


def test_identifier_octets() -> None:
    assert ber.encode_identifier(ber.TagClass.APPLICATION, False, 31) == b"\x5f\x1f"
    assert ber.encode_identifier(ber.TagClass.APPLICATION, True, 0) == b"\x60"
    assert ber.encode_identifier(ber.TagClass.CONTEXT_SPECIFIC, True, 30) == b"\xbe"
    assert ber.encode_identifier(ber.TagClass.CONTEXT_SPECIFIC, False, 201) == b"\x9f\x81\x49"
    assert ber.decode_identifier(b"\x9f\x81\x49", 0) == (2, False, 201, 3)
    for bad in (b"\x9f\x1e", b"\x9f\x80\x01", b"\x9f\x81", b"\x9f\xff\xff\xff\xff\x01", b""):
        with pytest.raises(DecodeError):
            ber.decode_identifier(bad, 0)
    with pytest.raises(EncodeError):
        ber.encode_identifier(4, False, 1)


@given(st.integers(0, 3), st.booleans(), st.integers(0, 2**28 - 1))
def test_identifier_round_trip(tag_class: int, constructed: bool, number: int) -> None:
    raw = ber.encode_identifier(tag_class, constructed, number)
    assert ber.decode_identifier(raw + b"\x00", 0) == (tag_class, constructed, number, len(raw))


@given(st.integers(0, 2**64), st.integers(0, 12))
def test_length_round_trip(n: int, octets: int) -> None:
    out = bytearray()
    ber.encode_length(n, out, octets)
    assert len(out) == max(octets, ber.length_octets(n))
    assert ber.decode_length(bytes(out), 0) == (n, len(out), len(out))


def test_length_forms() -> None:
    def enc(n: int, octets: int = 0) -> bytes:
        out = bytearray()
        ber.encode_length(n, out, octets)
        return bytes(out)

    assert enc(0x7F) == b"\x7f"
    assert enc(0x80) == b"\x81\x80"
    assert enc(0x100) == b"\x82\x01\x00"
    assert enc(5, 2) == b"\x81\x05"
    assert enc(5, 3) == b"\x82\x00\x05"
    assert enc(0x1234, 1) == b"\x82\x12\x34"
    with pytest.raises(DecodeError):
        ber.decode_header(b"\x04\x05abc", 0)
    assert ber.decode_header(b"\x04\x03abc", 0) == ber.TlvHeader(0, False, 4, 2, 5, 1)


@given(st.integers(-(2**100), 2**100))
def test_integer_round_trip(value: int) -> None:
    raw = ber.encode_integer(value)
    assert ber.decode_integer(raw, 0, len(raw)) == value
    if len(raw) > 1:  # minimal: the first 9 bits are not all equal
        assert not (raw[0] == 0 and raw[1] < 0x80) and not (raw[0] == 0xFF and raw[1] >= 0x80)


def test_integer_vectors() -> None:
    assert ber.encode_integer(0) == b"\x00"
    assert ber.encode_integer(127) == b"\x7f"
    assert ber.encode_integer(128) == b"\x00\x80"
    assert ber.encode_integer(-128) == b"\x80"
    assert ber.encode_integer(-129) == b"\xff\x7f"
    for bad in (b"", b"\x00\x01", b"\xff\x80"):
        with pytest.raises(DecodeError):
            ber.decode_integer(bad, 0, len(bad))


def test_oid_vectors() -> None:
    assert ber.encode_oid((2, 16, 756, 5, 8, 1, 1)) == bytes.fromhex("60857405080101")
    assert ber.encode_oid((2, 16, 756, 5, 8, 2, 5)) == bytes.fromhex("60857405080205")
    assert ber.decode_oid(bytes.fromhex("60857405080201"), 0, 7) == (2, 16, 756, 5, 8, 2, 1)
    assert ber.encode_oid((1, 2, 840, 113549)) == bytes.fromhex("2A864886F70D")
    assert ber.oid_text((2, 999, 3)) == "2.999.3"
    assert ber.decode_oid(ber.encode_oid((2, 999, 3)), 0, 3) == (2, 999, 3)
    for bad in (b"", b"\x80\x01", b"\x60\x85", b"\x81" * 17 + b"\x01"):
        with pytest.raises(DecodeError):
            ber.decode_oid(bad, 0, len(bad))
    for arcs in [(1,), (3, 1), (0, 40), (1, 2, -1)]:
        with pytest.raises(EncodeError):
            ber.encode_oid(arcs)


@given(
    st.sampled_from([0, 1, 2]).flatmap(
        lambda first: st.tuples(
            st.just(first),
            st.integers(0, 39) if first < 2 else st.integers(0, 2**60),
            st.lists(st.integers(0, 2**60), max_size=8),
        )
    )
)
def test_oid_round_trip(parts: tuple[int, int, list[int]]) -> None:
    arcs = (parts[0], parts[1], *parts[2])
    raw = ber.encode_oid(arcs)
    assert ber.decode_oid(raw, 0, len(raw)) == arcs


def test_bit_strings() -> None:
    assert BerBitString.from_bits(0, length=1) == BerBitString(b"\x80", 7)
    assert BerBitString.from_bits(0, 9) == BerBitString(b"\x80\x40", 6)
    assert BerBitString.from_bits() == BerBitString(b"", 0)
    bits = BerBitString.from_bits(3, 4, length=8)
    assert bits.length == 8 and [bits.bit(i) for i in range(9)] == [False] * 3 + [True, True] + [False] * 4
    assert ber.decode_bit_string(b"\x07\x80", 0, 2) == ACSE_REQUIREMENTS_AUTHENTICATION
    assert ACSE_REQUIREMENTS_AUTHENTICATION.contents() == b"\x07\x80"
    with pytest.raises(EncodeError):
        BerBitString.from_bits(3, length=2)
    for bad in (b"", b"\x08\x00", b"\x01"):
        with pytest.raises(DecodeError):
            ber.decode_bit_string(bad, 0, len(bad))


def test_graphic_and_octet_strings() -> None:
    assert ber.decode_graphic_string(memoryview(b"xab"), 1, 3) == b"ab"
    assert ber.decode_octet_string(bytearray(b"xab"), 0, 2) == b"xa"
    out = bytearray()
    ber.encode_tlv(out, ber.encode_identifier(0, False, ber.UniversalTag.GRAPHIC_STRING), b"pw")
    assert bytes(out) == b"\x19\x02pw"


def test_members_of_other_enums_are_refused() -> None:
    with pytest.raises(EncodeError):
        AARQ(application_context_name=MechanismName.LOW).encode()  # type: ignore[arg-type]
    with pytest.raises(EncodeError):
        AARQ(
            application_context_name=ApplicationContextName.LN,
            mechanism_name=ApplicationContextName.LN,  # type: ignore[arg-type]
        ).encode()
    # plain numbers are accepted
    assert AARQ(application_context_name=1).encode() == bytes.fromhex("600BA109060760857405080101")  # type: ignore[arg-type]
