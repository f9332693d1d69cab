"""Unit tests of the xDLMS building blocks: Invoke-Id-And-Priority, descriptors, results, data blocks,
encoder validation, decoder error offsets, selective access helpers."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cosemnet.codec.apdu import decode_apdu, decode_apdu_from
from cosemnet.codec.axdr import decode_data_exact, encode_data
from cosemnet.codec.obis import Obis
from cosemnet.codec.types import DoubleLongUnsigned, Integer, LongUnsigned
from cosemnet.codec.xdlms import (
    ENTRY_DESCRIPTOR,
    RANGE_DESCRIPTOR,
    ActionRequestNormal,
    ActionResponseNormal,
    ActionResponseWithOptionalData,
    ActionResult,
    CaptureObjectDefinition,
    CosemAttributeDescriptor,
    CosemMethodDescriptor,
    DataAccessResult,
    DataBlockG,
    DataNotification,
    EntryDescriptor,
    EventNotificationRequest,
    ExceptionResponse,
    ExceptionServiceError,
    GeneralBlockTransfer,
    GetRequest,
    GetRequestNext,
    GetRequestNormal,
    GetResponse,
    GetResponseNormal,
    GetResponseWithDataBlock,
    InformationReportRequest,
    Priority,
    RangeDescriptor,
    ReadRequest,
    SelectiveAccessDescriptor,
    ServiceClass,
    SetResponseNormal,
    SetResponseWithList,
    StateError,
    VariableName,
    WriteResponse,
    decode_invoke_id_and_priority,
    encode_invoke_id_and_priority,
    entry_descriptor,
    parse_entry_descriptor,
    parse_profile_selection,
    parse_range_descriptor,
    range_descriptor,
)
from cosemnet.errors import DecodeError, EncodeError
from strategies import data_values, obis_codes, typed_equal

CLOCK = Obis.parse("0-0:1.0.0*255")
DESCRIPTOR = CosemAttributeDescriptor(8, CLOCK, 2)

# ------------------------------------------------------------------------------------ invoke-id-and-priority


def test_invoke_id_and_priority_all_bytes_round_trip() -> None:
    for byte in range(256):
        fields = decode_invoke_id_and_priority(byte)
        assert encode_invoke_id_and_priority(*fields) == byte


def test_invoke_id_and_priority_bits() -> None:
    # bits 0-3 invoke-id, 4-5 reserved, 6 service-class, 7 priority
    assert decode_invoke_id_and_priority(0xC1) == (1, ServiceClass.CONFIRMED, Priority.HIGH, 0)
    assert decode_invoke_id_and_priority(0x41) == (1, ServiceClass.CONFIRMED, Priority.NORMAL, 0)
    assert decode_invoke_id_and_priority(0x8F) == (15, ServiceClass.UNCONFIRMED, Priority.HIGH, 0)
    assert decode_invoke_id_and_priority(0x30) == (0, ServiceClass.UNCONFIRMED, Priority.NORMAL, 3)
    assert encode_invoke_id_and_priority(5, ServiceClass.UNCONFIRMED, Priority.NORMAL) == 0x05


@pytest.mark.parametrize(
    "fields", [(16, 1, 1, 0), (-1, 1, 1, 0), (1, 2, 1, 0), (1, 1, 2, 0), (1, 1, 1, 4), (1.0, 1, 1, 0)]
)
def test_invoke_id_and_priority_out_of_range(fields: tuple[Any, ...]) -> None:
    with pytest.raises(EncodeError):
        encode_invoke_id_and_priority(*fields)
    invoke_id, service_class, priority, reserved = fields
    with pytest.raises(EncodeError):
        GetRequestNormal(invoke_id, DESCRIPTOR, None, service_class, priority, reserved).encode()
    with pytest.raises(EncodeError):
        GetResponseNormal(invoke_id, None, service_class, priority, reserved).encode()


def test_reserved_bits_are_kept() -> None:
    raw = bytes.fromhex("C0 01 F1 0008 0000010000FF 02 00".replace(" ", ""))
    apdu = GetRequestNormal.decode(raw)
    assert (apdu.invoke_id, apdu.reserved) == (1, 3)
    assert apdu.encode() == raw


# ------------------------------------------------------------------------------------ encoder validation


@pytest.mark.parametrize(
    "descriptor",
    [
        CosemAttributeDescriptor(70000, CLOCK, 2),
        CosemAttributeDescriptor(-1, CLOCK, 2),
        CosemAttributeDescriptor(8, b"\x00" * 5, 2),  # type: ignore[arg-type]
        CosemAttributeDescriptor(8, b"\x00" * 7, 2),  # type: ignore[arg-type]
        CosemAttributeDescriptor(8, "0-0:1.0.0*255", 2),  # type: ignore[arg-type]
        CosemAttributeDescriptor(8, CLOCK, 128),
        CosemAttributeDescriptor(8, CLOCK, -129),
        CosemAttributeDescriptor(8, None, 2),  # type: ignore[arg-type]
    ],
)
def test_bad_descriptors_are_encode_errors(descriptor: CosemAttributeDescriptor) -> None:
    with pytest.raises(EncodeError):
        GetRequestNormal(1, descriptor).encode()
    with pytest.raises(EncodeError):
        GetRequestNormal(1, descriptor, SelectiveAccessDescriptor(2, None)).encode()
    with pytest.raises(EncodeError):
        EventNotificationRequest(None, descriptor, None).encode()
    method = CosemMethodDescriptor(descriptor.class_id, descriptor.instance_id, descriptor.attribute_id)
    with pytest.raises(EncodeError):
        ActionRequestNormal(1, method).encode()


def test_plain_bytes_instance_id_is_accepted() -> None:
    apdu = GetRequestNormal(1, CosemAttributeDescriptor(8, bytes(CLOCK), 2))  # type: ignore[arg-type]
    assert apdu.encode() == bytes.fromhex("C001C100080000010000FF0200")


def test_negative_attribute_id_is_manufacturer_specific() -> None:
    raw = GetRequestNormal(1, CosemAttributeDescriptor(8, CLOCK, -1)).encode()
    assert raw[-2] == 0xFF
    assert GetRequestNormal.decode(raw).cosem_attribute_descriptor.attribute_id == -1


def test_access_selector_range() -> None:
    with pytest.raises(EncodeError):
        GetRequestNormal(1, DESCRIPTOR, SelectiveAccessDescriptor(256, None)).encode()
    with pytest.raises(EncodeError):
        GetRequestNormal(1, DESCRIPTOR, SelectiveAccessDescriptor(-1, None)).encode()


def test_unencodable_data_is_an_encode_error() -> None:
    with pytest.raises(EncodeError):
        GetResponseNormal(1, object()).encode()  # type: ignore[arg-type]


def test_get_data_result_choice() -> None:
    # a DataAccessResult member is data-access-result [1]; any other value (even a plain int) is data [0]
    assert GetResponseNormal(1, DataAccessResult.TEMPORARY_FAILURE).encode().hex() == "c401c10102"
    assert GetResponseNormal(1, 2).encode().hex() == "c401c1000600000002"


def test_results_accept_plain_ints_of_defined_values_only() -> None:
    assert SetResponseNormal(1, 3).encode().hex() == "c501c103"  # type: ignore[arg-type]
    with pytest.raises(EncodeError):
        SetResponseNormal(1, 5).encode()  # type: ignore[arg-type]
    with pytest.raises(EncodeError):
        SetResponseWithList(1, [DataAccessResult.SUCCESS, 251]).encode()  # type: ignore[list-item]
    with pytest.raises(EncodeError):
        ActionResponseNormal(1, ActionResponseWithOptionalData(17)).encode()  # type: ignore[arg-type]


def test_data_block_validation() -> None:
    with pytest.raises(EncodeError):
        GetResponseWithDataBlock(1, DataBlockG(True, 2**32, b"")).encode()
    with pytest.raises(EncodeError):
        GetResponseWithDataBlock(1, DataBlockG(True, 1, 5)).encode()  # type: ignore[arg-type]


def test_explicit_null_only_with_none() -> None:
    method = CosemMethodDescriptor(70, Obis.parse("0-0:96.3.10*255"), 1)
    with pytest.raises(EncodeError):
        ActionRequestNormal(1, method, Integer(0), True).encode()
    with pytest.raises(EncodeError):
        ActionResponseNormal(
            1, ActionResponseWithOptionalData(ActionResult.SUCCESS, Integer(0), True)
        ).encode()
    assert ActionRequestNormal(1, method, Integer(0)).encode().endswith(b"\x01\x0f\x00")


def test_data_notification_validation() -> None:
    with pytest.raises(EncodeError):
        DataNotification(1, b"", None).encode()  # None is the only spelling of "no date-time"
    with pytest.raises(EncodeError):
        DataNotification(2**24, None, None).encode()
    with pytest.raises(EncodeError):
        DataNotification(1, None, None, reserved=16).encode()
    apdu = DataNotification(0xABCDEF, None, None, reserved=0xF)
    assert apdu.long_invoke_id_and_priority == 0x0FABCDEF
    assert DataNotification.decode(apdu.encode()) == apdu


def test_event_notification_empty_time_is_kept() -> None:
    raw = bytes.fromhex("C2 01 00 0001 0000600B00FF 02 00".replace(" ", ""))
    apdu = EventNotificationRequest.decode(raw)
    assert apdu.time == b""
    assert apdu.encode() == raw


def test_information_report_time_is_12_bytes() -> None:
    with pytest.raises(EncodeError):
        InformationReportRequest(b"\x00" * 11, [VariableName(8)], [None]).encode()


def test_exception_response_validation() -> None:
    with pytest.raises(EncodeError):
        ExceptionResponse(StateError.SERVICE_UNKNOWN, ExceptionServiceError.INVOCATION_COUNTER_ERROR).encode()
    with pytest.raises(EncodeError):
        ExceptionResponse(StateError.SERVICE_UNKNOWN, ExceptionServiceError.OTHER_REASON, 5).encode()
    with pytest.raises(EncodeError):
        ExceptionResponse(3, ExceptionServiceError.OTHER_REASON).encode()  # type: ignore[arg-type]
    with pytest.raises(EncodeError):
        ExceptionResponse(
            StateError.SERVICE_UNKNOWN, ExceptionServiceError.INVOCATION_COUNTER_ERROR, 2**32
        ).encode()


def test_general_block_transfer_validation() -> None:
    for window in (64, -1):
        with pytest.raises(EncodeError):
            GeneralBlockTransfer(True, False, window, 1, 0, b"").encode()
    with pytest.raises(EncodeError):
        GeneralBlockTransfer(True, False, 1, 65536, 0, b"").encode()
    with pytest.raises(EncodeError):
        GeneralBlockTransfer(True, False, 1, 1, 0, "text").encode()  # type: ignore[arg-type]
    apdu = GeneralBlockTransfer(True, True, 5, 1, 0, b"")
    assert apdu.block_control == 0xC5


def test_sn_lists_reject_foreign_items() -> None:
    with pytest.raises(EncodeError):
        ReadRequest([0x1234]).encode()  # type: ignore[list-item]
    with pytest.raises(EncodeError):
        ReadRequest(VariableName(8)).encode()  # type: ignore[arg-type]
    with pytest.raises(EncodeError):
        WriteResponse([DataAccessResult.SUCCESS, 7]).encode()  # type: ignore[list-item]


# ------------------------------------------------------------------------------------ decoder errors


def _h(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


@pytest.mark.parametrize(
    ("raw", "offset"),
    [
        ("C0 04 C1", 1),  # unknown GET-Request choice
        ("C0 01 C1 0008 0000010000FF 02 02", 12),  # access-selection usage flag 02
        ("C4 01 C1 02 00", 3),  # unknown Get-Data-Result choice
        ("C4 01 C1 01 05", 4),  # Data-Access-Result 5 is not defined
        ("C4 01 C1 00 07", 4),  # Data tag 7 is not defined
        ("C4 02 C1 02 00000001 00 00", 3),  # last-block 02
        ("C4 02 C1 01 00000001 02 00", 8),  # DataBlock-G result choice 2
        ("C5 01 C1 05", 3),  # Data-Access-Result 5 is not defined
        ("C7 01 C1 05 00", 3),  # Action-Result 5
        ("C7 01 C1 00 02", 4),  # return-parameters usage flag 02
        ("C3 01 C1 0046 000060030AFF 01 02", 12),  # method-invocation-parameters usage flag 02
        ("05 01 03 0001", 2),  # detailed-access [3] is not used in DLMS/COSEM
        ("0C 01 04", 2),  # unknown ReadResponse choice
        ("0D 01 03", 2),  # unknown WriteResponse choice
        ("18 02", 1),  # current-time usage flag 02
        ("C2 05", 1),  # time usage flag 05
        ("D8 03 01", 1),  # state-error 3
        ("D8 01 07", 2),  # service-error 7
        ("C0 01 C1 0008 0000010000FF 02 00 00", 13),  # trailing byte
    ],
)
def test_decode_error_offsets(raw: str, offset: int) -> None:
    data = _h(raw)
    with pytest.raises(DecodeError) as info:
        decode_apdu(data)
    assert info.value.offset == offset, info.value
    if offset < len(data) - 1 or data[0] != 0xC0:  # not the trailing-byte case
        # the same error, shifted, when the APDU sits at an offset inside a larger buffer
        with pytest.raises(DecodeError) as shifted:
            decode_apdu_from(b"\x00\x00" + data, 2)
        assert shifted.value.offset == offset + 2


def test_choice_base_class_rejects_other_tags() -> None:
    with pytest.raises(DecodeError) as info:
        GetRequest.decode(_h("C401C1000600001391"))
    assert info.value.offset == 0
    with pytest.raises(DecodeError):
        GetResponse.decode(b"")
    with pytest.raises(DecodeError) as info:
        GetRequestNormal.decode(_h("C0 02 C1 00000001"))
    assert info.value.offset == 1
    # a concrete class never dispatches to a sibling
    with pytest.raises(DecodeError) as info:
        GetRequestNext.decode(_h("C001C1000100002B0100FF0200"))
    assert info.value.offset == 1
    with pytest.raises(DecodeError) as info:
        SetResponseNormal.decode(_h("C5 02 C1 00000001"))
    assert info.value.offset == 1
    assert type(GetRequest.decode(_h("C0 02 C1 00000001"))) is GetRequestNext


def test_huge_counts_fail_fast() -> None:
    # a SEQUENCE OF announcing 2**32-1 elements in a few bytes
    with pytest.raises(DecodeError):
        GetResponse.decode(_h("C4 03 C1 84FFFFFFFF 00 00"))


# ------------------------------------------------------------------------------------ selective access


def test_entry_descriptor_bytes() -> None:
    value = entry_descriptor(1, 0, 1, 0)
    assert encode_data(value).hex() == "020406000000010600000000120001120000"
    assert parse_entry_descriptor(value) == EntryDescriptor()
    assert EntryDescriptor(5, 10).to_selective_access() == SelectiveAccessDescriptor(
        ENTRY_DESCRIPTOR, (DoubleLongUnsigned(5), DoubleLongUnsigned(10), LongUnsigned(1), LongUnsigned(0))
    )


def test_range_descriptor_bytes() -> None:
    clock_time = CaptureObjectDefinition(8, CLOCK, 2)
    start = bytes.fromhex("07E50118FF000000FF800000")
    end = bytes.fromhex("07E50119FF000000FF800000")
    value = range_descriptor(clock_time, start, end)
    # 02 04 | 02 04 {12 0008, 09 06 0000010000FF, 0F 02, 12 0000} | 09 0C start | 09 0C end | 01 00
    expected = "0204020412000809060000010000ff0f02120000090c" + start.hex() + "090c" + end.hex() + "0100"
    assert encode_data(value).hex() == expected
    parsed = parse_range_descriptor(decode_data_exact(bytes.fromhex(expected)))
    assert parsed == RangeDescriptor(clock_time, start, end, [])
    columns = [CaptureObjectDefinition(3, Obis.parse("1-0:1.8.0*255"), 2)]
    value = range_descriptor(clock_time, start, end, columns)
    assert (
        parse_profile_selection(SelectiveAccessDescriptor(RANGE_DESCRIPTOR, value)).selected_values == columns
    )


@settings(max_examples=100, deadline=None)
@given(
    st.builds(
        EntryDescriptor,
        st.integers(0, 2**32 - 1),
        st.integers(0, 2**32 - 1),
        st.integers(0, 0xFFFF),
        st.integers(0, 0xFFFF),
    )
)
def test_entry_descriptor_round_trip(descriptor: EntryDescriptor) -> None:
    raw = encode_data(descriptor.to_data())
    assert EntryDescriptor.from_data(decode_data_exact(raw)) == descriptor
    assert parse_profile_selection(descriptor.to_selective_access()) == descriptor


capture_objects = st.builds(
    CaptureObjectDefinition,
    st.integers(0, 0xFFFF),
    obis_codes,
    st.integers(-128, 127),
    st.integers(0, 0xFFFF),
)


@settings(max_examples=100, deadline=None)
@given(
    st.builds(
        RangeDescriptor,
        capture_objects,
        data_values(4),
        data_values(4),
        st.lists(capture_objects, max_size=3),
    )
)
def test_range_descriptor_round_trip(descriptor: RangeDescriptor) -> None:
    raw = encode_data(descriptor.to_data())
    parsed = RangeDescriptor.from_data(decode_data_exact(raw))
    assert typed_equal(parsed, descriptor)
    request = GetRequestNormal(1, CosemAttributeDescriptor(7, CLOCK, 2), descriptor.to_selective_access())
    decoded = GetRequestNormal.decode(request.encode())
    assert decoded.access_selection is not None
    assert typed_equal(parse_profile_selection(decoded.access_selection), descriptor)


def test_parsing_is_lenient_about_integer_types() -> None:
    assert parse_entry_descriptor((1, 2, LongUnsigned(3), 0)) == EntryDescriptor(1, 2, 3, 0)


@pytest.mark.parametrize(
    "value",
    [
        None,
        (1, 2, 3),
        (1, 2, 3, -1),
        (1, 2, 3, 2**16),
        (True, 0, 1, 0),
        ("1", 0, 1, 0),
    ],
)
def test_bad_entry_descriptors(value: Any) -> None:
    with pytest.raises(DecodeError):
        parse_entry_descriptor(value)


@pytest.mark.parametrize(
    "value",
    [
        (None, None, None, []),
        ((8, b"\x00" * 5, 2, 0), None, None, []),
        ((8, bytes(CLOCK), 2, 0), None, None, None),
        ((8, bytes(CLOCK), 200, 0), None, None, []),
        ((8, bytes(CLOCK), 2, 0), None, None, [(1, 2)]),
    ],
)
def test_bad_range_descriptors(value: Any) -> None:
    with pytest.raises(DecodeError):
        parse_range_descriptor(value)


def test_parse_profile_selection_rejects_other_selectors() -> None:
    with pytest.raises(DecodeError):
        parse_profile_selection(SelectiveAccessDescriptor(3, None))
