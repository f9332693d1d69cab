"""xDLMS InitiateRequest / InitiateResponse / ConfirmedServiceError and the conformance block."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given, settings
from hypothesis import strategies as st

from cosemnet.codec.acse import AARQ
from cosemnet.codec.initiate import (
    VAA_NAME_SN,
    Conformance,
    InitiateRequest,
    InitiateResponse,
    decode_conformance,
    encode_conformance,
)
from cosemnet.codec.service_error import (
    SERVICE_ERROR_TYPES,
    Access,
    ApplicationReference,
    ChangeScope,
    ConfirmedService,
    ConfirmedServiceError,
    Definition,
    HardwareResource,
    Initiate,
    LoadDataSet,
    Other,
    Service,
    ServiceError,
    ServiceErrorChoice,
    Task,
    VdeStateError,
    initiate_error,
)
from cosemnet.errors import DecodeError, EncodeError

# user-information of the AARQ/AARE vectors in spec-notes section 1
REQUEST_LN = bytes.fromhex("01000000065F1F0400001E1DFFFF")
RESPONSE_LN = bytes.fromhex("0800065F1F040000501F01F40007")
REQUEST_GMAC = bytes.fromhex("01000000065F1F0400007E1F04B0")
# The ciphered AARQ's InitiateRequest as described (dedicated key 00112233..FF, conformance 007E1F,
# max PDU 1200), built by hand: tag, key present, length 16, key, response-allowed default,
# no quality of service, version 6, conformance, max PDU size.
DEDICATED_KEY = bytes.fromhex("00112233445566778899AABBCCDDEEFF")
REQUEST_DEDICATED = bytes.fromhex("01 01 10") + DEDICATED_KEY + bytes.fromhex("00 00 06 5F1F0400007E1F 04B0")
AARQ_CIPHERED = bytes.fromhex(
    "6066A109060760857405080103A60A04084D4D4D0000BC614E8A0207808B0760857405080201"
    "AC0A80083132333435363738BE34043221303001234567801302FF8A7874133D414CED25B42534"
    "D28DB0047720606B175BD52211BE6841DB204D39EE6FDB8E356855"
)
VECTORS = [REQUEST_LN, RESPONSE_LN, REQUEST_GMAC, REQUEST_DEDICATED]

# Blue Book conformance bit numbers, written out independently of the implementation.
CONFORMANCE_BITS = {
    "RESERVED_ZERO": 0,
    "GENERAL_PROTECTION": 1,
    "GENERAL_BLOCK_TRANSFER": 2,
    "READ": 3,
    "WRITE": 4,
    "UNCONFIRMED_WRITE": 5,
    "DELTA_VALUE_ENCODING": 6,
    "RESERVED_SEVEN": 7,
    "ATTRIBUTE0_SUPPORTED_WITH_SET": 8,
    "PRIORITY_MGMT_SUPPORTED": 9,
    "ATTRIBUTE0_SUPPORTED_WITH_GET": 10,
    "BLOCK_TRANSFER_WITH_GET_OR_READ": 11,
    "BLOCK_TRANSFER_WITH_SET_OR_WRITE": 12,
    "BLOCK_TRANSFER_WITH_ACTION": 13,
    "MULTIPLE_REFERENCES": 14,
    "INFORMATION_REPORT": 15,
    "DATA_NOTIFICATION": 16,
    "ACCESS": 17,
    "PARAMETERIZED_ACCESS": 18,
    "GET": 19,
    "SET": 20,
    "SELECTIVE_ACCESS": 21,
    "EVENT_NOTIFICATION": 22,
    "ACTION": 23,
}


# --------------------------------------------------------------------------------------------------
# Conformance


@pytest.mark.parametrize(("name", "bit"), CONFORMANCE_BITS.items())
def test_conformance_bit_numbers(name: str, bit: int) -> None:
    flag = Conformance[name]
    out = bytearray()
    encode_conformance(flag, out)
    expected = bytearray(3)
    expected[bit // 8] = 0x80 >> (bit % 8)
    assert bytes(out) == b"\x5f\x1f\x04\x00" + bytes(expected)
    assert flag.bit_numbers() == [bit]
    assert Conformance.from_bit_numbers(bit) is flag


def test_conformance_vectors() -> None:
    ln = Conformance(0x001E1D)
    assert ln == (
        Conformance.BLOCK_TRANSFER_WITH_GET_OR_READ
        | Conformance.BLOCK_TRANSFER_WITH_SET_OR_WRITE
        | Conformance.BLOCK_TRANSFER_WITH_ACTION
        | Conformance.MULTIPLE_REFERENCES
        | Conformance.GET
        | Conformance.SET
        | Conformance.SELECTIVE_ACCESS
        | Conformance.ACTION
    )
    assert ln.bit_numbers() == [11, 12, 13, 14, 19, 20, 21, 23]
    assert len(CONFORMANCE_BITS) == len(list(Conformance)) == 24
    assert decode_conformance(b"\x00\x5f\x1f\x04\x00\xff\xff\xff", 1) == (Conformance(0xFFFFFF), 8)
    for bad in ("5F1F0401000000", "5F1F03000000", "5E1F0400000000", "5F1F040000"):
        with pytest.raises(DecodeError):
            decode_conformance(bytes.fromhex(bad), 0)
    with pytest.raises(EncodeError):
        encode_conformance(1 << 24, bytearray())
    with pytest.raises(EncodeError):
        Conformance.from_bit_numbers(24)


# --------------------------------------------------------------------------------------------------
# Vectors


def test_initiate_request_ln() -> None:
    request = InitiateRequest.decode(REQUEST_LN)
    assert request == InitiateRequest(
        proposed_conformance=Conformance(0x001E1D), client_max_receive_pdu_size=0xFFFF
    )
    assert request.dedicated_key is None
    assert request.response_allowed is None and request.is_response_allowed
    assert request.proposed_quality_of_service is None
    assert request.proposed_dlms_version_number == 6
    assert request.encode() == REQUEST_LN


def test_initiate_request_gmac() -> None:
    request = InitiateRequest.decode(REQUEST_GMAC)
    assert request.proposed_conformance == 0x007E1F
    assert request.client_max_receive_pdu_size == 1200
    assert request.encode() == REQUEST_GMAC


def test_initiate_response_ln() -> None:
    response = InitiateResponse.decode(RESPONSE_LN)
    assert response.negotiated_quality_of_service is None
    assert response.negotiated_dlms_version_number == 6
    assert response.negotiated_conformance == 0x00501F
    assert Conformance.PRIORITY_MGMT_SUPPORTED in response.negotiated_conformance
    assert response.server_max_receive_pdu_size == 500
    assert response.vaa_name == 7
    assert response.encode() == RESPONSE_LN
    sn = InitiateResponse(
        negotiated_conformance=Conformance.READ, server_max_receive_pdu_size=500, vaa_name=VAA_NAME_SN
    )
    assert sn.encode() == bytes.fromhex("0800065F1F0400100000 01F4 FA00")
    assert InitiateResponse.decode(sn.encode()).vaa_name == 0xFA00


def test_initiate_request_with_dedicated_key() -> None:
    request = InitiateRequest(
        dedicated_key=DEDICATED_KEY,
        proposed_conformance=Conformance(0x007E1F),
        client_max_receive_pdu_size=1200,
    )
    assert request.encode() == REQUEST_DEDICATED
    back = InitiateRequest.decode(REQUEST_DEDICATED)
    assert back == request
    assert back.dedicated_key == DEDICATED_KEY
    assert DEDICATED_KEY.hex() not in repr(back).lower()
    assert "dedicated_key" not in repr(back)


def test_hand_built_request_matches_the_ciphered_aarq() -> None:
    """Decipher the ciphered AARQ's glo-initiateRequest (test only) and compare with the hand-built APDU."""
    aarq = AARQ.decode(AARQ_CIPHERED)
    assert aarq.calling_ap_title is not None and aarq.user_information is not None
    ui = aarq.user_information
    assert ui[0] == 0x21 and ui[1] == len(ui) - 2
    security_control, invocation_counter, body = ui[2], ui[3:7], ui[7:]
    ciphertext, tag = body[:-12], body[-12:]
    ek = bytes.fromhex("000102030405060708090A0B0C0D0E0F")
    ak = bytes.fromhex("D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF")
    iv = aarq.calling_ap_title + invocation_counter
    decryptor = Cipher(algorithms.AES(ek), modes.GCM(iv, tag, min_tag_length=12)).decryptor()
    decryptor.authenticate_additional_data(bytes((security_control,)) + ak)
    plaintext = decryptor.update(ciphertext) + decryptor.finalize()
    assert plaintext == REQUEST_DEDICATED


def test_response_allowed_sent_explicitly() -> None:
    false = bytes.fromhex("01 00 01 00 00 06 5F1F0400001E1D FFFF")
    true = bytes.fromhex("01 00 01 01 00 06 5F1F0400001E1D FFFF")
    request = InitiateRequest.decode(false)
    assert request.response_allowed is False and not request.is_response_allowed
    assert request.encode() == false
    request = InitiateRequest.decode(true)
    assert request.response_allowed is True and request.is_response_allowed
    assert request.encode() == true
    assert request != InitiateRequest.decode(REQUEST_LN)  # explicit TRUE differs from the DEFAULT


def test_quality_of_service() -> None:
    data = bytes.fromhex("01 00 00 01 FF 06 5F1F0400001E1D FFFF")
    request = InitiateRequest.decode(data)
    assert request.proposed_quality_of_service == -1
    assert request.encode() == data
    data = bytes.fromhex("08 01 7F 06 5F1F040000501F 01F4 0007")
    response = InitiateResponse.decode(data)
    assert response.negotiated_quality_of_service == 127
    assert response.encode() == data


# --------------------------------------------------------------------------------------------------
# ConfirmedServiceError


def test_confirmed_service_error_vectors() -> None:
    error = ConfirmedServiceError.decode(bytes.fromhex("0E010601"))
    assert error.service is ConfirmedService.INITIATE_ERROR
    assert error.error is ServiceError.INITIATE_DLMS_VERSION_TOO_LOW
    assert error.error.detail is Initiate.DLMS_VERSION_TOO_LOW
    assert error.error.alternative is ServiceErrorChoice.INITIATE
    assert error.error.code == 1
    assert initiate_error(Initiate.DLMS_VERSION_TOO_LOW) == error
    assert initiate_error(Initiate.INCOMPATIBLE_CONFORMANCE).encode() == bytes.fromhex("0E010602")
    assert initiate_error(Initiate.PDU_SIZE_TOO_SHORT).encode() == bytes.fromhex("0E010603")
    assert initiate_error(Initiate.REFUSED_BY_THE_VDE_HANDLER).encode() == bytes.fromhex("0E010604")
    assert initiate_error().encode() == bytes.fromhex("0E010600")
    deciphering = ConfirmedServiceError(
        ConfirmedService.INITIATE_ERROR, ServiceError.APPLICATION_REFERENCE_DECIPHERING_ERROR
    )
    assert deciphering.encode() == bytes.fromhex("0E010006")
    read = ConfirmedServiceError(ConfirmedService.READ, ServiceError.of(Access.OBJECT_UNAVAILABLE))
    assert read.encode() == bytes.fromhex("0E050504")
    # same ENUMERATED number, different alternative: different APDUs, not equal
    assert initiate_error(Initiate.OTHER) != ConfirmedServiceError(
        ConfirmedService.INITIATE_ERROR, ServiceError.ACCESS_OTHER
    )


BLUE_BOOK_SERVICE_ERRORS: dict[type[Any], list[str]] = {
    ApplicationReference: [
        "other",
        "time-elapsed",
        "application-unreachable",
        "application-reference-invalid",
        "application-context-unsupported",
        "provider-communication-error",
        "deciphering-error",
    ],
    HardwareResource: [
        "other",
        "memory-unavailable",
        "processor-resource-unavailable",
        "mass-storage-unavailable",
        "other-resource-unavailable",
    ],
    VdeStateError: ["other", "no-dlms-context", "loading-data-set", "status-nochange", "status-inoperable"],
    Service: ["other", "pdu-size", "service-unsupported"],
    Definition: ["other", "object-undefined", "object-class-inconsistent", "object-attribute-inconsistent"],
    Access: [
        "other",
        "scope-of-access-violated",
        "object-access-violated",
        "hardware-fault",
        "object-unavailable",
    ],
    Initiate: [
        "other",
        "dlms-version-too-low",
        "incompatible-conformance",
        "pdu-size-too-short",
        "refused-by-the-VDE-Handler",
    ],
    LoadDataSet: [
        "other",
        "primitive-out-of-sequence",
        "not-loadable",
        "dataset-size-too-large",
        "not-awaited-segment",
        "interpretation-failure",
        "storage-failure",
        "data-set-not-ready",
    ],
    ChangeScope: ["other"],
    Task: ["other", "no-remote-control", "ti-stopped", "ti-running", "ti-unusable"],
    Other: ["other"],
}


def test_service_error_enums_follow_the_blue_book() -> None:
    assert list(BLUE_BOOK_SERVICE_ERRORS) == list(SERVICE_ERROR_TYPES)
    count = 0
    for tag, (enum_cls, names) in enumerate(BLUE_BOOK_SERVICE_ERRORS.items()):
        for value, name in enumerate(names):
            member = enum_cls[name.upper().replace("-", "_")]
            assert member == value
            flat = ServiceError.of(member)
            assert flat.alternative == tag and flat.code == value and flat.detail is member
            prefix = ServiceErrorChoice(tag).name
            assert flat.name == f"{prefix}_{member.name}"
            assert ConfirmedServiceError(ConfirmedService.WRITE, flat).encode() == bytes(
                (0x0E, 6, tag, value)
            )
            count += 1
    assert count == len(ServiceError)
    assert [s.value for s in ConfirmedService] == list(range(1, 20))


@pytest.mark.parametrize(
    "data",
    ["0E000600", "0E140600", "0E010B00", "0E010605", "0E010801", "0E0A0A01", "0F010601", "0E0106", "", "0E"],
)
def test_bad_confirmed_service_error(data: str) -> None:
    with pytest.raises(DecodeError):
        ConfirmedServiceError.decode(bytes.fromhex(data))


def test_confirmed_service_error_encode_errors() -> None:
    with pytest.raises(EncodeError):
        ConfirmedServiceError(ConfirmedService.READ, Initiate.OTHER).encode()  # type: ignore[arg-type]
    with pytest.raises(EncodeError):
        ConfirmedServiceError(20, ServiceError.ACCESS_OTHER).encode()  # type: ignore[arg-type]
    with pytest.raises(EncodeError):
        ServiceError.of(ConfirmedService.READ)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------------
# Negative cases


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: v.hex()[:8])
def test_truncations_and_trailing_bytes(vector: bytes) -> None:
    cls = InitiateRequest if vector[0] == 1 else InitiateResponse
    for n in range(len(vector)):
        with pytest.raises(DecodeError):
            cls.decode(vector[:n])
    with pytest.raises(DecodeError) as info:
        cls.decode(vector + b"\x00")
    assert info.value.offset == len(vector)
    value, end = cls.decode_from(b"\xff" + vector + b"\xff", 1)
    assert end == len(vector) + 1 and value.encode() == vector


@pytest.mark.parametrize(
    "data",
    [
        "02000000065F1F0400001E1DFFFF",  # wrong tag
        "01020000065F1F0400001E1DFFFF",  # presence flag 02
        "01000200065F1F0400001E1DFFFF",
        "010001FF00065F1F0400001E1DFFFF",  # response-allowed 0xFF is not canonical
        "01000002FF065F1F0400001E1DFFFF",
        "0101811000112233445566778899AABBCCDDEEFF0000065F1F0400007E1F04B0",  # non-minimal key length
        "010180",  # bad length
        "010120001122",  # key beyond the end
        "01000000065F1F0401001E1DFFFF",  # 1 unused bit in the conformance
        "01000000065F1F0300001E1DFFFF",
    ],
)
def test_bad_initiate_request(data: str) -> None:
    with pytest.raises(DecodeError):
        InitiateRequest.decode(bytes.fromhex(data))


@pytest.mark.parametrize(
    "data", ["0900065F1F040000501F01F40007", "0802065F1F040000501F01F40007", "0800065F1E04"]
)
def test_bad_initiate_response(data: str) -> None:
    with pytest.raises(DecodeError):
        InitiateResponse.decode(bytes.fromhex(data))


def test_encode_range_errors() -> None:
    conformance = Conformance.GET
    bad: list[Any] = [
        InitiateRequest(proposed_conformance=conformance, client_max_receive_pdu_size=0x10000),
        InitiateRequest(proposed_conformance=conformance, client_max_receive_pdu_size=-1),
        InitiateRequest(
            proposed_conformance=conformance, client_max_receive_pdu_size=1, proposed_quality_of_service=128
        ),
        InitiateRequest(
            proposed_conformance=conformance, client_max_receive_pdu_size=1, proposed_dlms_version_number=256
        ),
        InitiateRequest(proposed_conformance=1 << 24, client_max_receive_pdu_size=1),  # type: ignore[arg-type]
        InitiateResponse(negotiated_conformance=conformance, server_max_receive_pdu_size=1, vaa_name=-1),
        InitiateResponse(
            negotiated_conformance=conformance,
            server_max_receive_pdu_size=1,
            negotiated_quality_of_service=-129,
        ),
    ]
    for value in bad:
        with pytest.raises(EncodeError):
            value.encode()


# --------------------------------------------------------------------------------------------------
# Hypothesis round trips and fuzz

conformances = st.integers(0, 0xFFFFFF).map(Conformance)

requests = st.builds(
    InitiateRequest,
    dedicated_key=st.none() | st.binary(max_size=300),
    response_allowed=st.none() | st.booleans(),
    proposed_quality_of_service=st.none() | st.integers(-128, 127),
    proposed_dlms_version_number=st.integers(0, 255),
    proposed_conformance=conformances,
    client_max_receive_pdu_size=st.integers(0, 0xFFFF),
)
responses = st.builds(
    InitiateResponse,
    negotiated_quality_of_service=st.none() | st.integers(-128, 127),
    negotiated_dlms_version_number=st.integers(0, 255),
    negotiated_conformance=conformances,
    server_max_receive_pdu_size=st.integers(0, 0xFFFF),
    vaa_name=st.integers(0, 0xFFFF),
)
service_errors = st.builds(
    ConfirmedServiceError, st.sampled_from(ConfirmedService), st.sampled_from(ServiceError)
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(requests, responses, service_errors))
def test_object_round_trip(value: Any) -> None:
    data = value.encode()
    back = type(value).decode(data)
    assert back == value
    if isinstance(value, ConfirmedServiceError):
        assert back.error is value.error  # the alternative, not just the number
    if isinstance(value, InitiateRequest):
        assert back.response_allowed is value.response_allowed
    assert back.encode() == data


DECODERS: list[Any] = [InitiateRequest, InitiateResponse, ConfirmedServiceError]


def check_decoders(data: bytes) -> None:
    for cls in DECODERS:
        try:
            value = cls.decode(data)
        except DecodeError:
            continue
        assert value.encode() == data


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=40))
def test_fuzz_random_bytes(data: bytes) -> None:
    check_decoders(data)
    for tag in (0x01, 0x08, 0x0E):
        check_decoders(bytes((tag,)) + data)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from([*VECTORS, bytes.fromhex("0E010601")]), st.data())
def test_fuzz_mutated_vectors(vector: bytes, data: st.DataObject) -> None:
    buf = bytearray(vector)
    for _ in range(data.draw(st.integers(1, 3))):
        kind = data.draw(st.sampled_from(["set", "insert", "delete"]))
        pos = data.draw(st.integers(0, max(len(buf) - 1, 0)))
        if kind == "set" and buf:
            buf[pos] = data.draw(st.integers(0, 255))
        elif kind == "insert":
            buf.insert(pos, data.draw(st.integers(0, 255)))
        elif buf:
            del buf[pos]
    check_decoders(bytes(buf))
