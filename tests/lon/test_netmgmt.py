"""Network management / diagnostics bodies: byte vectors from the public layouts, round trips, errors."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cosemnet.errors import DecodeError, EncodeError
from cosemnet.profiles.lon import (
    ApplicationMessage,
    LonFrame,
    NetworkManagement,
    Npdu,
    Spdu,
    SpduType,
    UniqueIdAddress,
)
from cosemnet.profiles.lon.netmgmt import (
    DomainEntry,
    NdResponse,
    NmResponse,
    QueryIdMemoryMatch,
    QueryIdRequest,
    QueryIdResponse,
    QueryIdSelector,
    RespondToQueryRequest,
    ServicePinMessage,
    UpdateDomainRequest,
    UpdateKeyRequest,
    decode_nm_request,
    nd_failure_code,
    nd_success_code,
    nm_failure_code,
    nm_request_to_apdu,
    nm_success_code,
)

NID = bytes.fromhex("04 d2 9a 1b 00 00")
PID = bytes.fromhex("9f ff ff 05 00 84 04 21")
KEY = bytes.fromhex("11 22 33 44 55 66")


def test_response_code_arithmetic() -> None:
    assert nm_success_code(0x61) == 0x21
    assert nm_failure_code(0x61) == 0x01
    assert nm_success_code(0x7F) == 0x3F
    assert nm_failure_code(0x63) == 0x03
    assert nd_success_code(0x51) == 0x31
    assert nd_failure_code(0x51) == 0x11
    assert nd_success_code(0x54) == 0x34
    for bad in (0x5F, 0x80):
        with pytest.raises(EncodeError):
            nm_success_code(bad)
    with pytest.raises(EncodeError):
        nd_failure_code(0x60)


@pytest.mark.parametrize(
    ("hex_bytes", "message"),
    [
        ("61 00", QueryIdRequest(QueryIdSelector.UNCONFIGURED)),
        ("61 01", QueryIdRequest(QueryIdSelector.SELECTED)),
        ("61 02 01 00 08 02 ab cd", QueryIdRequest(2, QueryIdMemoryMatch(1, 8, b"\xab\xcd"))),
        ("61 01 00 f0 00 00", QueryIdRequest(1, QueryIdMemoryMatch(0, 0xF000, b""))),
        ("21 04d29a1b0000 9fffff0500840421", QueryIdResponse(NID, PID)),
        ("62 00", RespondToQueryRequest(False)),
        ("62 01", RespondToQueryRequest(True)),
        (
            # index 0; domain ID 3 bytes + padding; subnet 0x21; non-clone|node 5; length 3; key
            "63 00 abcdef000000 21 85 03 112233445566",
            UpdateDomainRequest(0, DomainEntry(bytes.fromhex("abcdef000000"), 0x21, 5, 3, KEY)),
        ),
        (
            # invalid entry, clone domain, OMA auth type, lon-stack-dx extension bits 01
            "63 01 000000000000 00 00 a8 000000000000",
            UpdateDomainRequest(
                1,
                DomainEntry(
                    bytes(6), 0, 0, 0, bytes(6), non_clone=False, invalid=True, auth_type=1, reserved_bits=1
                ),
            ),
        ),
        ("65 01 010203040506", UpdateKeyRequest(1, bytes.fromhex("010203040506"))),
        ("7f 04d29a1b0000 9fffff0500840421", ServicePinMessage(NID, PID)),
        ("22", NmResponse(0x62, True)),
        ("03", NmResponse(0x63, False)),
        ("2d 0102", NmResponse(0x6D, True, b"\x01\x02")),
        ("31 00000000", NdResponse(0x51, True, bytes(4))),
        ("14", NdResponse(0x54, False)),
    ],
)
def test_vectors(hex_bytes: str, message: object) -> None:
    raw = bytes.fromhex(hex_bytes)
    assert message.encode() == raw  # type: ignore[attr-defined]
    assert type(message).decode(raw) == message  # type: ignore[attr-defined]


def test_to_and_from_apdu() -> None:
    request = QueryIdRequest(1)
    apdu = request.to_apdu()
    assert apdu == NetworkManagement(0x61, b"\x01")
    assert QueryIdRequest.from_apdu(apdu) == request
    assert decode_nm_request(apdu) == request
    assert nm_request_to_apdu(request) == apdu
    response = QueryIdResponse(NID, PID)
    assert response.to_apdu() == ApplicationMessage(0x21, NID + PID)
    assert QueryIdResponse.from_apdu(response.to_apdu()) == response
    pin = ServicePinMessage(NID, PID)
    assert ServicePinMessage.from_apdu(pin.to_apdu()) == pin
    assert decode_nm_request(pin.to_apdu()) == pin
    for message in (RespondToQueryRequest(True), UpdateKeyRequest(0, KEY)):
        assert type(message).from_apdu(message.to_apdu()) == message
        assert decode_nm_request(message.to_apdu()) == message
    domain = UpdateDomainRequest(0, DomainEntry(bytes(6), 1, 2, 0, KEY))
    assert decode_nm_request(domain.to_apdu()) == domain
    assert UpdateDomainRequest.from_apdu(domain.to_apdu()) == domain
    other = NetworkManagement(0x6D, b"\x00\x00\x10\x04")
    assert decode_nm_request(other) is other
    assert NmResponse.from_apdu(NmResponse(0x6D, True, b"ab").to_apdu()) == NmResponse(0x6D, True, b"ab")
    assert NdResponse.from_apdu(NdResponse(0x51, False).to_apdu()) == NdResponse(0x51, False)
    with pytest.raises(EncodeError):
        nm_request_to_apdu(NmResponse(0x61, True))  # type: ignore[arg-type]


def test_query_id_exchange_in_frames() -> None:
    # Broadcast-free discovery: request to a Neuron ID, answer as SPDU RESPONSE with 0x21.
    request = LonFrame(
        Npdu(0, 0, UniqueIdAddress(0, NID), Spdu(SpduType.REQUEST, 1, QueryIdRequest(0).to_apdu()))
    )
    raw = request.encode()
    decoded = LonFrame.decode(raw)
    assert isinstance(decoded.npdu.pdu, Spdu)
    apdu = decoded.npdu.pdu.apdu
    assert isinstance(apdu, NetworkManagement)
    assert decode_nm_request(apdu) == QueryIdRequest(0)
    reply = LonFrame(
        Npdu(0, 0, UniqueIdAddress(0, NID), Spdu(SpduType.RESPONSE, 1, QueryIdResponse(NID, PID).to_apdu()))
    )
    pdu = LonFrame.decode(reply.encode()).npdu.pdu
    assert isinstance(pdu, Spdu) and isinstance(pdu.apdu, ApplicationMessage)
    assert QueryIdResponse.from_apdu(pdu.apdu) == QueryIdResponse(NID, PID)
    assert NmResponse.from_apdu(pdu.apdu) == NmResponse(0x61, True, NID + PID)


def test_update_key_adds_modulo_256() -> None:
    update = UpdateKeyRequest(0, bytes.fromhex("01 ff 80 00 10 fe"))
    assert update.apply(bytes.fromhex("ff 01 80 00 f0 03")) == bytes.fromhex("00 00 00 00 00 01")
    with pytest.raises(EncodeError):
        update.apply(b"\x00")


def test_keys_never_in_repr() -> None:
    entry = DomainEntry(bytes(6), 1, 2, 0, KEY)
    update = UpdateKeyRequest(0, KEY)
    for text in (repr(entry), repr(update), repr(UpdateDomainRequest(0, entry))):
        assert KEY.hex() not in text and str(KEY) not in text and "authentication_key" not in text


@pytest.mark.parametrize(
    ("cls", "hex_bytes", "offset"),
    [
        (QueryIdRequest, "", 0),
        (QueryIdRequest, "62 00", 0),
        (QueryIdRequest, "61", 1),
        (QueryIdRequest, "61 01 00", 3),  # memory match without offset
        (QueryIdRequest, "61 01 00 00 10 04 aa", 6),  # count 4, 1 byte present
        (QueryIdRequest, "61 01 00 00 10 01 aa bb", 7),  # trailing byte
        (QueryIdResponse, "21 04d29a1b0000 9fffff05", 7),
        (QueryIdResponse, "01 04d29a1b0000 9fffff0500840421", 0),  # failure code is not a 0x21
        (RespondToQueryRequest, "62 02", 1),
        (RespondToQueryRequest, "62 01 00", 2),
        (RespondToQueryRequest, "62", 1),
        (UpdateDomainRequest, "63 00 abcdef000000 21 85 03 1122334455", 11),
        (UpdateDomainRequest, "63 00 abcdef000000 21 85 03 112233445566 00", 17),
        (UpdateKeyRequest, "65 00 0102", 2),
        (UpdateKeyRequest, "65 00 010203040506 07", 8),
        (ServicePinMessage, "7f 04d29a1b0000 9fffff0500840421 00", 15),
        (NmResponse, "41", 0),
        (NmResponse, "", 0),
        (NdResponse, "21", 0),
        (NdResponse, "05", 0),
        (NdResponse, "51", 0),
    ],
)
def test_decode_errors(cls: Any, hex_bytes: str, offset: int) -> None:
    with pytest.raises(DecodeError) as info:
        cls.decode(bytes.fromhex(hex_bytes))
    assert info.value.offset == offset


@pytest.mark.parametrize(
    "message",
    [
        QueryIdRequest(256),
        QueryIdRequest(1, QueryIdMemoryMatch(0, 0x10000, b"")),
        QueryIdRequest(1, QueryIdMemoryMatch(256, 0, b"")),
        QueryIdRequest(1, QueryIdMemoryMatch(0, 0, bytes(256))),
        QueryIdResponse(NID[:5], PID),
        ServicePinMessage(NID, PID + b"\x00"),
        UpdateDomainRequest(0, DomainEntry(bytes(5), 1, 2, 0, KEY)),
        UpdateDomainRequest(0, DomainEntry(bytes(6), 1, 128, 0, KEY)),
        UpdateDomainRequest(0, DomainEntry(bytes(6), 1, 2, 8, KEY)),
        UpdateDomainRequest(0, DomainEntry(bytes(6), 1, 2, 0, KEY, auth_type=4)),
        UpdateDomainRequest(0, DomainEntry(bytes(6), 1, 2, 0, KEY[:5])),
        UpdateDomainRequest(256, DomainEntry(bytes(6), 1, 2, 0, KEY)),
        UpdateKeyRequest(0, KEY + b"\x00"),
        NmResponse(0x51, True),
        NdResponse(0x61, True),
    ],
)
def test_encode_errors(message: object) -> None:
    with pytest.raises(EncodeError):
        message.encode()  # type: ignore[attr-defined]


u8 = st.integers(0, 255)
messages = st.one_of(
    st.builds(
        QueryIdRequest,
        u8,
        st.none() | st.builds(QueryIdMemoryMatch, u8, st.integers(0, 0xFFFF), st.binary(max_size=20)),
    ),
    st.builds(QueryIdResponse, st.binary(min_size=6, max_size=6), st.binary(min_size=8, max_size=8)),
    st.builds(ServicePinMessage, st.binary(min_size=6, max_size=6), st.binary(min_size=8, max_size=8)),
    st.builds(RespondToQueryRequest, st.booleans()),
    st.builds(
        UpdateDomainRequest,
        u8,
        st.builds(
            DomainEntry,
            st.binary(min_size=6, max_size=6),
            u8,
            st.integers(0, 127),
            st.integers(0, 7),
            st.binary(min_size=6, max_size=6),
            st.booleans(),
            st.booleans(),
            st.integers(0, 3),
            st.integers(0, 3),
        ),
    ),
    st.builds(UpdateKeyRequest, u8, st.binary(min_size=6, max_size=6)),
    st.builds(NmResponse, st.integers(0x60, 0x7F), st.booleans(), st.binary(max_size=20)),
    st.builds(NdResponse, st.integers(0x50, 0x5F), st.booleans(), st.binary(max_size=20)),
)


@given(messages)
def test_round_trip(message: object) -> None:
    raw = message.encode()  # type: ignore[attr-defined]
    assert type(message).decode(raw) == message  # type: ignore[attr-defined]


DECODERS = (
    QueryIdRequest,
    QueryIdResponse,
    ServicePinMessage,
    RespondToQueryRequest,
    UpdateDomainRequest,
    UpdateKeyRequest,
    NmResponse,
    NdResponse,
)


@settings(max_examples=300)
@given(st.sampled_from(DECODERS), st.binary(max_size=24))
def test_fuzz_decode_exact_or_decode_error(cls: Any, data: bytes) -> None:
    try:
        message = cls.decode(data)
    except DecodeError as exc:
        assert 0 <= exc.offset <= len(data)
    else:
        assert message.encode() == data


@given(messages)
def test_truncation(message: object) -> None:
    raw = message.encode()  # type: ignore[attr-defined]
    for cut in range(len(raw)):
        try:
            decoded = type(message).decode(raw[:cut])  # type: ignore[attr-defined]
        except DecodeError:
            continue
        # Only bodies with an optional / open tail may be cut and stay valid.
        assert isinstance(message, QueryIdRequest | NmResponse | NdResponse)
        assert decoded.encode() == raw[:cut]
