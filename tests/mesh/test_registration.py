"""Registration data, update data and confirmation: round trips, carriage, negative cases."""

from __future__ import annotations

import contextlib
import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cosemnet.codec.axdr import decode_data_exact, encode_data
from cosemnet.codec.types import DataValue, Enumerated, Unsigned
from cosemnet.codec.xdlms.notification import DataNotification
from cosemnet.cosem.push_setup import TransportService
from cosemnet.errors import DecodeError, EncodeError
from cosemnet.profiles.mesh.ports import parse_udp_destination
from cosemnet.profiles.mesh.registration import (
    ADDRESS_REGISTRATION_DATA_LN,
    AddressConfirmation,
    AddressEntry,
    AddressRegistrationData,
    AddressScope,
    AddressUpdateData,
    ConfirmationStatus,
    RegistrationObjects,
    RegistrationReason,
    decode_registration_body,
    registration_push_setup,
    scope_of,
)

from .strategies import confirmations, registrations, updates

TITLE = bytes.fromhex("4D4D4D0000BC614E")


def sample() -> AddressRegistrationData:
    return AddressRegistrationData(
        TITLE,
        (AddressEntry.of("2001:db8:1:2::17"), AddressEntry.of("fe80::17")),
        42,
        RegistrationReason.JOIN,
        wport=1,
        udp_port=61616,
        border_router=ipaddress.IPv6Address("2001:db8:1:2::1"),
    )


def test_known_bytes() -> None:
    """The layout documented in the module docstring, byte by byte."""
    data = AddressRegistrationData(TITLE, (AddressEntry.of("2001:db8::1"),), 5).encode()
    assert (
        data.hex()
        == (
            "0209"  # structure of 9
            "1101"  # format_version 1
            "0908" + TITLE.hex().lower() + "1600"  # reason join
            "0600000005"  # sequence 5
            "0900"  # no timestamp
            "0101"
            "0203"
            "0910"
            "20010db8000000000000000000000001"
            "1140"
            "160e"  # one entry /64 global
            "120001"  # wport 1
            "12f0b0"  # udp port 61616
            "0900"  # no border router
        )
    )


@settings(max_examples=150)
@given(registrations)
def test_registration_round_trip(value: AddressRegistrationData) -> None:
    raw = value.encode()
    assert AddressRegistrationData.decode(raw) == value
    assert AddressRegistrationData.from_data(decode_data_exact(raw)) == value
    assert AddressRegistrationData.decode(raw).encode() == raw


@settings(max_examples=150)
@given(updates)
def test_update_round_trip(value: AddressUpdateData) -> None:
    raw = value.encode()
    assert AddressUpdateData.decode(raw) == value
    assert AddressUpdateData.decode(raw).encode() == raw
    assert value.as_registration().addresses == value.addresses


@settings(max_examples=150)
@given(confirmations)
def test_confirmation_round_trip(value: AddressConfirmation) -> None:
    raw = value.encode()
    assert AddressConfirmation.decode(raw) == value


@settings(max_examples=100)
@given(st.one_of(registrations, updates, confirmations), st.integers(0, 2**24 - 1))
def test_notification_carriage_round_trip(
    value: AddressRegistrationData | AddressUpdateData | AddressConfirmation, invoke_id: int
) -> None:
    objects = RegistrationObjects()
    apdu = objects.notification(value, invoke_id).encode()
    decoded = DataNotification.decode(apdu)
    assert decoded.invoke_id == invoke_id
    assert decode_registration_body(decoded.notification_body) == value


@settings(max_examples=120)
@given(registrations, st.data())
def test_truncated_and_corrupted_inputs_raise_only_decode_error(
    value: AddressRegistrationData, data: st.DataObject
) -> None:
    raw = bytearray(value.encode())
    cut = data.draw(st.integers(0, len(raw) - 1))
    with pytest.raises(DecodeError) as info:
        AddressRegistrationData.decode(bytes(raw[:cut]))
    assert 0 <= info.value.offset <= cut
    pos = data.draw(st.integers(0, len(raw) - 1))
    raw[pos] = data.draw(st.integers(0, 255))
    try:
        AddressRegistrationData.decode(bytes(raw))
    except DecodeError as exc:
        assert 0 <= exc.offset <= len(raw)


@given(st.binary(max_size=80))
def test_random_bytes_raise_only_decode_error(raw: bytes) -> None:
    for cls in (AddressRegistrationData, AddressUpdateData, AddressConfirmation):
        with contextlib.suppress(DecodeError):
            cls.decode(raw)


def _with_member(index: int, member: DataValue) -> bytes:
    data = sample().to_data()
    assert isinstance(data, tuple)
    values = list(data)
    values[index] = member
    return encode_data(tuple(values))


def test_negative_cases_name_the_offset() -> None:
    good = sample().encode()
    # wrong format version
    with pytest.raises(DecodeError, match="format_version") as info:
        AddressRegistrationData.decode(_with_member(0, Unsigned(2)))
    assert info.value.offset == 2
    # unknown reason
    with pytest.raises(DecodeError, match="reason") as info:
        AddressRegistrationData.decode(_with_member(2, Enumerated(9)))
    assert info.value.offset == 2 + 2 + 10
    # system title of 7 bytes
    with pytest.raises(DecodeError, match="system_title"):
        AddressRegistrationData.decode(_with_member(1, TITLE[:7]))
    # no address at all
    with pytest.raises(DecodeError, match="empty"):
        AddressRegistrationData.decode(_with_member(5, []))
    # prefix length 129
    entry = (ipaddress.IPv6Address("2001:db8::1").packed, Unsigned(129), Enumerated(14))
    with pytest.raises(DecodeError, match="prefix_length"):
        AddressRegistrationData.decode(_with_member(5, [entry]))
    # trailing byte
    with pytest.raises(DecodeError, match="trailing"):
        AddressRegistrationData.decode(good + b"\x00")
    # an update is not a registration
    with pytest.raises(DecodeError):
        AddressRegistrationData.decode(AddressUpdateData(TITLE, (), sample().addresses, 1).encode())


def test_encoder_refuses_bad_values() -> None:
    with pytest.raises(EncodeError):
        AddressRegistrationData(TITLE, (), 1)
    with pytest.raises(EncodeError):
        AddressRegistrationData(TITLE[:4], sample().addresses, 1)
    with pytest.raises(EncodeError):
        AddressRegistrationData(TITLE, sample().addresses, 2**32)
    with pytest.raises(EncodeError):
        AddressEntry(ipaddress.IPv6Address("::1"), 129)


def test_other_pushes_are_not_ours() -> None:
    assert decode_registration_body((b"\x00\x00\x01\x00\x00\xff", Unsigned(1))) is None
    assert decode_registration_body(Unsigned(1)) is None
    with pytest.raises(DecodeError):
        decode_registration_body((bytes(ADDRESS_REGISTRATION_DATA_LN), Unsigned(1)))


def test_confirmation_matches_message() -> None:
    message = sample()
    ok = AddressConfirmation.for_message(message, ConfirmationStatus.ACCEPTED, 42)
    assert ok.confirms(message)
    assert not AddressConfirmation(TITLE, 41).confirms(message)
    assert not AddressConfirmation(bytes(8), 42).confirms(message)


def test_scope_of() -> None:
    assert scope_of(ipaddress.IPv6Address("fe80::1")) is AddressScope.LINK_LOCAL
    assert scope_of(ipaddress.IPv6Address("2001:db8::1")) is AddressScope.GLOBAL
    assert scope_of(ipaddress.IPv6Address("ff15::1")) is AddressScope.SITE_LOCAL
    assert scope_of(ipaddress.IPv6Address("ff03::fc")) is AddressScope.REALM_LOCAL


def test_push_setup_body_is_the_registration_body() -> None:
    """A Push setup built by registration_push_setup produces exactly our body from a Data object."""
    setup = registration_push_setup("2001:db8::100", 61616, number_of_retries=3)
    dest = setup.send_destination_and_method
    assert dest.transport_service is TransportService.UDP
    assert parse_udp_destination(dest.destination) == (ipaddress.IPv6Address("2001:db8::100"), 61616)
    objects = RegistrationObjects()
    items = setup.push_object_list
    assert [(i.class_id, i.logical_name, i.attribute_index) for i in items] == [
        (1, objects.registration, 1),
        (1, objects.registration, 2),
    ]
    value = sample()
    # what PushSetup.body() builds: (logical_name attribute, value attribute)
    body = (bytes(items[0].logical_name), value.to_data())
    assert body == objects.body(value)
    assert decode_registration_body(body) == value
