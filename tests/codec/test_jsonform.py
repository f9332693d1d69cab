"""The JSON form (cosemnet.codec.jsonform): exact reversibility, readable shape, clear errors."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from enum import IntEnum, IntFlag
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cli.corpus import ALL_VECTORS, APDU_CLASS_NAMES, apdu_bytes, data_values
from cosemnet.codec.acse import AARE, AARQ
from cosemnet.codec.apdu import decode_apdu
from cosemnet.codec.axdr import encode_data
from cosemnet.codec.ciphered import GeneralCiphering, IdentifiedKey, KekId, KeyId, WrappedKey
from cosemnet.codec.datetime import CosemDateTime
from cosemnet.codec.jsonform import (
    JsonFormError,
    apdu_from_json,
    apdu_to_json,
    data_from_json,
    data_to_json,
    encode_message_json,
    message_to_json,
    object_from_json,
    object_to_json,
    parse_hex,
    value_from_json,
    value_to_json,
)
from cosemnet.codec.obis import Obis
from cosemnet.codec.service_error import ConfirmedServiceError
from cosemnet.codec.types import (
    DONT_CARE,
    BitString,
    CompactArray,
    DataValue,
    DoubleLongUnsigned,
    Enumerated,
    Float32,
    Long64Unsigned,
    LongUnsigned,
    Tag,
    TypeDescription,
    Unsigned,
    Utf8String,
)
from cosemnet.codec.wrapper import WrapperFrame


def _through_text(obj: Any) -> Any:
    """What the other end of a pipe gets: the JSON text parsed again."""
    return json.loads(json.dumps(obj))


def _message(raw: bytes) -> object:
    if raw[:2] == b"\x00\x01":
        return WrapperFrame.decode(raw)
    return decode_apdu(raw)


# --------------------------------------------------------------------------------------------------
# Data values


@given(data_values)
@settings(max_examples=300, deadline=None)
def test_data_value_round_trip_is_exact(value: DataValue) -> None:
    encoded = encode_data(value)
    document = _through_text(data_to_json(value))
    assert encode_data(data_from_json(document)) == encoded


def test_data_value_shapes_are_tagged_with_dlms_names() -> None:
    value = (
        DoubleLongUnsigned(5),
        b"\x0c\x07",
        CosemDateTime(2021, 1, 24, 0xFF, 14, 48, 57, 80, -60, 0),
        None,
        [Unsigned(1)],
        BitString.from_bits("101"),
        Utf8String("é"),
        "abc",
        True,
        DONT_CARE,
        Enumerated(3),
    )
    assert data_to_json(value) == {
        "structure": [
            {"double-long-unsigned": 5},
            {"octet-string": "0c07"},
            {
                "date-time": {
                    "year": 2021,
                    "month": 1,
                    "day": 24,
                    "day_of_week": 255,
                    "hour": 14,
                    "minute": 48,
                    "second": 57,
                    "hundredths": 80,
                    "deviation": -60,
                    "clock_status": 0,
                }
            },
            {"null-data": None},
            {"array": [{"unsigned": 1}]},
            {"bit-string": "101"},
            {"utf8-string": "é"},
            {"visible-string": "abc"},
            {"boolean": True},
            {"dont-care": None},
            {"enum": 3},
        ]
    }


def test_non_finite_floats_travel_as_ieee_hex() -> None:
    document = _through_text(data_to_json([float("nan"), float("-inf"), Float32(float("inf"))]))
    assert document == {
        "array": [{"float64": "7ff8000000000000"}, {"float64": "fff0000000000000"}, {"float32": "7f800000"}]
    }
    back = data_from_json(document)
    assert isinstance(back, list)
    assert math.isnan(back[0]) and back[1] == float("-inf") and type(back[2]) is Float32


def test_bit_string_with_nonzero_padding_keeps_its_bytes() -> None:
    value = BitString(b"\xa1", 5)  # the low three bits are padding but not zero
    document = data_to_json(value)
    assert document == {"bit-string": {"length": 5, "hex": "a1"}}
    assert data_from_json(document) == value


def test_compact_array_form() -> None:
    desc = TypeDescription(
        Tag.STRUCTURE, (TypeDescription(Tag.LONG_UNSIGNED), TypeDescription(Tag.OCTET_STRING))
    )
    value = CompactArray(desc, ((LongUnsigned(7), b"\x01\x02"),))
    document = data_to_json(value)
    assert document == {
        "compact-array": {
            "type": {"structure": ["long-unsigned", "octet-string"]},
            "values": [{"structure": [{"long-unsigned": 7}, {"octet-string": "0102"}]}],
        }
    }
    assert encode_data(data_from_json(document)) == encode_data(value)


def test_date_time_also_accepts_hex() -> None:
    value = data_from_json({"date-time": "07E50118FF0E303950FFC400"})
    assert value == CosemDateTime(2021, 1, 24, 0xFF, 14, 48, 57, 80, -60, 0)


def test_64_bit_integers_keep_every_digit() -> None:
    value = Long64Unsigned(2**64 - 1)
    assert data_from_json(_through_text(data_to_json(value))) == value


@pytest.mark.parametrize(
    ("document", "path", "fragment"),
    [
        ({"unsigned": 256}, "unsigned", "0..255"),
        ({"unsigned": "7"}, "unsigned", "expected an integer"),
        ({"unsigned": True}, "unsigned", "expected an integer"),
        ({"long-unsigend": 1}, "", "not a DLMS data type name"),
        ({"unsigned": 1, "long": 2}, "", "one key"),
        ([1], "", "one key"),
        ({"structure": [{"unsigned": 1}, {"octet-string": "xyz"}]}, "structure[1].octet-string", "hex"),
        ({"visible-string": "€"}, "visible-string", "8-bit"),
        ({"date-time": {"year": 2021, "month": 13}}, "date-time", "month 13"),
        ({"date-time": {"yaer": 2021}}, "date-time", "unknown fields"),
        ({"bit-string": "102"}, "bit-string", "0 and 1"),
        ({"null-data": 0}, "null-data", "null"),
        ({"float32": "00"}, "float32", "4 bytes"),
        ({"compact-array": {"type": "structure", "values": []}}, "compact-array.type", "simple DLMS type"),
    ],
)
def test_bad_data_documents_name_the_place(document: Any, path: str, fragment: str) -> None:
    with pytest.raises(JsonFormError) as info:
        data_from_json(document)
    assert info.value.path == path
    assert fragment in str(info.value)


# --------------------------------------------------------------------------------------------------
# APDUs


@pytest.mark.parametrize("name", sorted(ALL_VECTORS))
def test_published_vectors_round_trip(name: str) -> None:
    raw = bytes.fromhex(ALL_VECTORS[name])
    document = _through_text(message_to_json(_message(raw)))
    assert encode_message_json(document) == raw


@pytest.mark.parametrize("cls_name", APDU_CLASS_NAMES)
@given(data=st.data())
@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow]
)
def test_any_apdu_round_trips_through_json(cls_name: str, data: st.DataObject) -> None:
    raw = data.draw(apdu_bytes(cls_name))
    document = _through_text(apdu_to_json(decode_apdu(raw)))
    assert document["apdu"] == cls_name
    assert encode_message_json(document) == raw


@given(
    source=st.integers(0, 0xFFFF),
    destination=st.integers(0, 0xFFFF),
    payload=st.one_of(
        apdu_bytes("GetRequestNormal"), apdu_bytes("GeneralGloCiphering"), st.binary(max_size=8)
    ),
)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
def test_wrapper_frames_round_trip(source: int, destination: int, payload: bytes) -> None:
    frame = WrapperFrame(source, destination, payload)
    raw = frame.encode()
    document = _through_text(message_to_json(frame))
    assert document["wrapper"] == {"source_wport": source, "destination_wport": destination}
    assert encode_message_json(document) == raw


def test_get_request_shape() -> None:
    apdu = decode_apdu(bytes.fromhex("C001C1000100002B0100FF0200"))
    assert apdu_to_json(apdu) == {
        "apdu": "GetRequestNormal",
        "invoke_id": 1,
        "cosem_attribute_descriptor": {
            "type": "CosemAttributeDescriptor",
            "class_id": 1,
            "instance_id": "0-0:43.1.0*255",
            "attribute_id": 2,
        },
        "service_class": "CONFIRMED",
        "priority": "HIGH",
        "reserved": 0,
    }


def test_hand_written_apdu_may_leave_out_defaults_and_types() -> None:
    document = {
        "apdu": "GetRequestNormal",
        "invoke_id": 1,
        "cosem_attribute_descriptor": {"class_id": 8, "instance_id": "0.0.1.0.0.255", "attribute_id": 2},
    }
    assert encode_message_json(document).hex().upper() == "C001C100080000010000FF0200"


def test_acse_user_information_is_a_nested_apdu() -> None:
    raw = bytes.fromhex(ALL_VECTORS["aarq_ln"])
    document = apdu_to_json(AARQ.decode(raw))
    assert document["user_information"] == {
        "apdu": "InitiateRequest",
        "proposed_dlms_version_number": 6,
        "proposed_conformance": "BLOCK_TRANSFER_WITH_GET_OR_READ|BLOCK_TRANSFER_WITH_SET_OR_WRITE"
        "|BLOCK_TRANSFER_WITH_ACTION|MULTIPLE_REFERENCES|GET|SET|SELECTIVE_ACCESS|ACTION",
        "client_max_receive_pdu_size": 65535,
    }
    assert "calling_ap_title" not in document  # absent OPTIONAL components are left out
    # the hex form of the same field is accepted too
    document["user_information"] = "01000000065F1F0400001E1DFFFF"
    assert encode_message_json(document) == raw


def test_annotations_are_added_and_ignored_on_input() -> None:
    raw = bytes.fromhex(ALL_VECTORS["aare_accepted"])

    def annotate(obj: object) -> dict[str, Any] | None:
        return {"decrypted": {"note": type(obj).__name__}}

    document = apdu_to_json(AARE.decode(raw), annotate=annotate)
    assert document["decrypted"] == {"note": "AARE"}
    assert document["user_information"]["decrypted"] == {"note": "InitiateResponse"}
    assert encode_message_json(document) == raw


def test_choice_of_dataclasses_needs_and_uses_the_type_key() -> None:
    envelope = GeneralCiphering(
        b"\x01", b"MMM\0\0\0\0\1", b"", b"", b"", WrappedKey(KekId.MASTER_KEY, b"\x11" * 24), b"\x30abcde"
    )
    document = apdu_to_json(envelope)
    assert document["key_info"] == {
        "type": "WrappedKey",
        "kek_id": "MASTER_KEY",
        "key_ciphered_data": "11" * 24,
    }
    document["key_info"] = {"type": "IdentifiedKey", "key_id": "GLOBAL_BROADCAST_ENCRYPTION_KEY"}
    assert apdu_from_json(document).key_info == IdentifiedKey(KeyId.GLOBAL_BROADCAST_ENCRYPTION_KEY)
    del document["key_info"]["type"]
    with pytest.raises(JsonFormError, match="CHOICE"):
        apdu_from_json(document)


def test_confirmed_service_error_round_trips() -> None:
    raw = bytes.fromhex("0E010601")  # initiateError / initiate / dlms-version-too-low
    document = apdu_to_json(ConfirmedServiceError.decode(raw))
    assert document["service"] == "INITIATE_ERROR"
    assert encode_message_json(_through_text(document)) == raw


@pytest.mark.parametrize(
    ("document", "fragment"),
    [
        ({"apdu": "GetRequestNormale"}, "unknown APDU class"),
        ({"invoke_id": 1}, '"apdu"'),
        ({"apdu": "GetRequestNormal", "invoke_id": 1}, "missing field 'cosem_attribute_descriptor'"),
        ({"apdu": "RLRQ", "reason": "NORMAL", "reasn": 1}, "unknown field(s) reasn"),
        ({"apdu": "RLRQ", "reason": "ABNORMAL"}, "reason: 'ABNORMAL' is not a ReleaseRequestReason"),
        (
            {
                "apdu": "GetRequestNormal",
                "invoke_id": 99,
                "cosem_attribute_descriptor": {
                    "class_id": 8,
                    "instance_id": "0-0:1.0.0*255",
                    "attribute_id": 2,
                },
            },
            "cannot encode GetRequestNormal",
        ),
        (
            {
                "apdu": "GetRequestNormal",
                "invoke_id": 1,
                "cosem_attribute_descriptor": {"class_id": 8, "instance_id": "0-0:1.0", "attribute_id": 2},
            },
            "cosem_attribute_descriptor.instance_id: not an OBIS code",
        ),
        ({"wrapper": {"source_wport": 1}, "apdu": "C0"}, "missing field 'destination_wport'"),
        ({"wrapper": {"source_wport": 1, "destination_wport": 1}}, 'needs "apdu"'),
    ],
)
def test_bad_apdu_documents_are_json_form_errors(document: Any, fragment: str) -> None:
    with pytest.raises(JsonFormError) as info:
        encode_message_json(document)
    assert fragment in str(info.value)


# --------------------------------------------------------------------------------------------------
# The generic walker on classes of its own


class Colour(IntEnum):
    RED = 1
    GREEN = 2


class Mode(IntFlag):
    A = 1
    B = 2
    C = 4


@dataclass(slots=True)
class Inner:
    code: Obis
    values: tuple[int, ...] = ()


@dataclass(slots=True)
class Outer:
    colour: Colour
    mode: Mode
    inner: list[Inner]
    data: DataValue
    pair: tuple[int, bytes] = (0, b"")
    maybe: Colour | Inner | DataValue = None
    note: str | None = field(default=None)


def test_generic_walker_on_any_conforming_dataclass() -> None:
    value = Outer(
        Colour.GREEN,
        Mode.A | Mode.C,
        [Inner(Obis("1-0:1.8.0*255"), (1, 2))],
        LongUnsigned(5),
        (3, b"\xff"),
        Inner(Obis("0-0:1.0.0*255")),
        "x",
    )
    document = _through_text(object_to_json(value))
    assert document == {
        "apdu": "Outer",
        "colour": "GREEN",
        "mode": "A|C",
        "inner": [{"type": "Inner", "code": "1-0:1.8.0*255", "values": [1, 2]}],
        "data": {"long-unsigned": 5},
        "pair": [3, "ff"],
        "maybe": {"type": "Inner", "code": "0-0:1.0.0*255"},
        "note": "x",
    }
    assert object_from_json(Outer, document) == value
    # the union members in order: null, enumeration, dataclass, Data value
    for maybe in (None, Colour.RED, Inner(Obis("0-0:1.0.0*255")), LongUnsigned(1), [Unsigned(1)]):
        value.maybe = maybe
        back = object_from_json(Outer, _through_text(object_to_json(value)))
        assert back.maybe == maybe and type(back.maybe) is type(maybe)


class Other(IntEnum):
    RED = 1
    BLUE = 3


def test_choice_of_enumerations_is_qualified_by_class() -> None:
    hint = Colour | Other
    assert value_to_json(Colour.RED, hint) == "Colour.RED"
    assert value_to_json(Other.RED, hint) == "Other.RED"
    assert value_from_json("Other.RED", hint) is Other.RED
    assert value_from_json("BLUE", hint) is Other.BLUE  # unique without the class: accepted
    with pytest.raises(JsonFormError, match="ambiguous"):
        value_from_json("RED", hint)


def test_flags_without_names_fall_back_to_numbers() -> None:
    assert value_to_json(Mode(8 | 1), Mode) == 9
    assert value_from_json(9, Mode) == Mode(9)
    assert value_from_json("A | B", Mode) == Mode.A | Mode.B
    with pytest.raises(JsonFormError, match="'D' is not a Mode flag"):
        value_from_json("A|D", Mode)


def test_parse_hex_is_tolerant() -> None:
    assert parse_hex("0xC0 01:c1") == b"\xc0\x01\xc1"
    with pytest.raises(JsonFormError):
        parse_hex("C0 1")
