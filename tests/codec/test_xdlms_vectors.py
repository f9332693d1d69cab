"""Byte vectors for every xDLMS APDU variant.

The first six are published (spec-notes section 1: public test suites). The others are hand-encoded
from the Green Book ASN.1 with the A-XDR rules (fixed-size integers big-endian without length,
OCTET STRING with an A-XDR length, SEQUENCE OF = count then elements, CHOICE = one tag byte, OPTIONAL =
usage flag 00/01); each carries its derivation. :data:`VECTORS` is reused by the dispatcher, truncation
and mutation tests.
"""

from __future__ import annotations

from typing import Any

import pytest

from cosemnet.codec.apdu import decode_apdu, decode_apdu_from
from cosemnet.codec.datetime import CosemDateTime
from cosemnet.codec.obis import Obis
from cosemnet.codec.types import DoubleLongUnsigned, Integer, LongUnsigned, Unsigned, Utf8String
from cosemnet.codec.xdlms import (
    ActionRequestNextPblock,
    ActionRequestNormal,
    ActionRequestWithFirstPblock,
    ActionRequestWithList,
    ActionRequestWithListAndFirstPblock,
    ActionRequestWithPblock,
    ActionResponseNextPblock,
    ActionResponseNormal,
    ActionResponseWithList,
    ActionResponseWithOptionalData,
    ActionResponseWithPblock,
    ActionResult,
    BlockNumber,
    BlockNumberAccess,
    CosemAttributeDescriptor,
    CosemAttributeDescriptorWithSelection,
    CosemMethodDescriptor,
    DataAccessResult,
    DataBlockG,
    DataBlockResult,
    DataBlockSA,
    DataNotification,
    EventNotificationRequest,
    ExceptionResponse,
    ExceptionServiceError,
    GeneralBlockTransfer,
    GetRequestNext,
    GetRequestNormal,
    GetRequestWithList,
    GetResponseNormal,
    GetResponseWithDataBlock,
    GetResponseWithList,
    InformationReportRequest,
    ParameterizedAccess,
    Priority,
    ReadDataBlockAccess,
    ReadRequest,
    ReadResponse,
    SelectiveAccessDescriptor,
    ServiceClass,
    SetRequestNormal,
    SetRequestWithDatablock,
    SetRequestWithFirstDatablock,
    SetRequestWithList,
    SetRequestWithListAndFirstDatablock,
    SetResponseDatablock,
    SetResponseLastDatablock,
    SetResponseLastDatablockWithList,
    SetResponseNormal,
    SetResponseWithList,
    StateError,
    UnconfirmedWriteRequest,
    VariableName,
    WriteDataBlockAccess,
    WriteRequest,
    WriteResponse,
)
from cosemnet.errors import DecodeError
from strategies import typed_equal

CLOCK = Obis.parse("0-0:1.0.0*255")
DT_BYTES = bytes.fromhex("07E50118FF0E303950FFC400")  # 2021-01-24 14:48:57.80, deviation -60 (SET vector)
DLU = DoubleLongUnsigned
LU = LongUnsigned


def attr(class_id: int, obis: str, attribute_id: int) -> CosemAttributeDescriptor:
    return CosemAttributeDescriptor(class_id, Obis.parse(obis), attribute_id)


def meth(class_id: int, obis: str, method_id: int) -> CosemMethodDescriptor:
    return CosemMethodDescriptor(class_id, Obis.parse(obis), method_id)


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", "").replace("|", ""))


VECTORS: list[tuple[str, bytes, Any]] = [
    # ---------------------------------------------------------------------------------- published
    (
        "get-request-normal (published)",
        h("C001C1000100002B0100FF0200"),
        GetRequestNormal(1, attr(1, "0-0:43.1.0*255", 2)),
    ),
    ("get-response-normal (published)", h("C401C1000600001391"), GetResponseNormal(1, DLU(0x1391))),
    (
        "set-request-normal (published)",
        h("C101C100080000010000FF0200090C07E50118FF0E303950FFC400"),
        SetRequestNormal(1, attr(8, "0-0:1.0.0*255", 2), None, DT_BYTES),
    ),
    ("set-response-normal (published)", h("C501C100"), SetResponseNormal(1, DataAccessResult.SUCCESS)),
    (
        "action-request-normal (published)",
        h("C301C0000F0000280000FF010109111000001A90E6D2221FA2FD85EED61ACC22"),
        ActionRequestNormal(
            0,
            meth(15, "0-0:40.0.0*255", 1),
            h("1000001A90E6D2221FA2FD85EED61ACC22"),
            service_class=ServiceClass.CONFIRMED,
            priority=Priority.HIGH,
        ),
    ),
    (
        "action-response-normal (published)",
        h("C701C000010009111000001AFDE8857B728A3499106AA665D1"),
        ActionResponseNormal(
            0,
            ActionResponseWithOptionalData(ActionResult.SUCCESS, h("1000001AFDE8857B728A3499106AA665D1")),
        ),
    ),
    # ---------------------------------------------------------------------------------- GET
    # C0 get-request | 01 normal | 41 = invoke-id 1, confirmed (bit 6), normal priority (bit 7 clear) |
    # 0007 profile generic | 0100630100FF 1-0:99.1.0*255 | 02 buffer | 01 access-selection present |
    # 02 entry_descriptor | 02 04 structure of 4 | 06 00000001 from_entry 1 | 06 00000000 to_entry 0 (last) |
    # 12 0001 from_selected_value 1 | 12 0000 to_selected_value 0 (last)
    (
        "get-request-normal with entry descriptor",
        h("C0 01 41 | 0007 0100630100FF 02 | 01 02 | 0204 0600000001 0600000000 120001 120000"),
        GetRequestNormal(
            1,
            attr(7, "1-0:99.1.0*255", 2),
            SelectiveAccessDescriptor(2, (DLU(1), DLU(0), LU(1), LU(0))),
            priority=Priority.NORMAL,
        ),
    ),
    # C0 01 C2 (invoke-id 2) | 0007 0100630100FF 02 | 01 present | 01 range_descriptor | 02 04 |
    # restricting object 02 04 {12 0008 clock, 09 06 0000010000FF, 0F 02 attribute 2, 12 0000} |
    # from 09 0C <date-time> | to 09 0C <date-time> | selected_values 01 00 (empty array)
    (
        "get-request-normal with range descriptor",
        h(
            "C0 01 C2 | 0007 0100630100FF 02 | 01 01 | 0204"
            "| 0204 120008 09060000010000FF 0F02 120000"
            "| 090C 07E50118FF0E303950FFC400 | 090C 07E50119FF0E303950FFC400 | 0100"
        ),
        GetRequestNormal(
            2,
            attr(7, "1-0:99.1.0*255", 2),
            SelectiveAccessDescriptor(
                1,
                (
                    (LU(8), bytes(CLOCK), Integer(2), LU(0)),
                    DT_BYTES,
                    h("07E50119FF0E303950FFC400"),
                    [],
                ),
            ),
        ),
    ),
    # C0 02 next | C1 | block-number Unsigned32 2
    ("get-request-next", h("C0 02 C1 00000002"), GetRequestNext(1, 2)),
    # C0 03 with-list | C1 | 02 two descriptors | {0008 clock 02, 00 no selection} |
    # {0003 1-0:1.8.0*255 register 02, 00}
    (
        "get-request-with-list",
        h("C0 03 C1 02 | 0008 0000010000FF 02 00 | 0003 0100010800FF 02 00"),
        GetRequestWithList(
            1,
            [
                CosemAttributeDescriptorWithSelection(attr(8, "0-0:1.0.0*255", 2)),
                CosemAttributeDescriptorWithSelection(attr(3, "1-0:1.8.0*255", 2)),
            ],
        ),
    ),
    # C4 01 | C1 | Get-Data-Result choice 01 data-access-result | 04 object-undefined
    (
        "get-response-normal data-access-result",
        h("C4 01 C1 01 04"),
        GetResponseNormal(1, DataAccessResult.OBJECT_UNDEFINED),
    ),
    # C4 02 with-datablock | C1 | last-block 00 | block-number 00000001 | choice 00 raw-data | 04 + 4 bytes
    (
        "get-response-with-datablock raw-data",
        h("C4 02 C1 | 00 00000001 00 04 01020304"),
        GetResponseWithDataBlock(1, DataBlockG(False, 1, h("01020304"))),
    ),
    # C4 02 | C1 | last-block 01 | block 2 | choice 01 data-access-result | 0E data-block-unavailable (14)
    (
        "get-response-with-datablock data-access-result",
        h("C4 02 C1 | 01 00000002 01 0E"),
        GetResponseWithDataBlock(1, DataBlockG(True, 2, DataAccessResult.DATA_BLOCK_UNAVAILABLE)),
    ),
    # C4 03 with-list | C1 | 02 results | 00 data: 06 0000000A | 01 data-access-result 03 read-write-denied
    (
        "get-response-with-list",
        h("C4 03 C1 02 | 00 060000000A | 01 03"),
        GetResponseWithList(1, [DLU(10), DataAccessResult.READ_WRITE_DENIED]),
    ),
    # ---------------------------------------------------------------------------------- SET
    # C1 02 with-first-datablock | C1 | 0001 data 0-0:96.1.0*255 attr 02 | 00 no selection |
    # DataBlock-SA {00 not last, 00000001, 03 AABBCC}
    (
        "set-request-with-first-datablock",
        h("C1 02 C1 | 0001 0000600100FF 02 00 | 00 00000001 03 AABBCC"),
        SetRequestWithFirstDatablock(
            1, attr(1, "0-0:96.1.0*255", 2), None, DataBlockSA(False, 1, h("AABBCC"))
        ),
    ),
    # C1 03 with-datablock | C1 | DataBlock-SA {01 last, 00000002, 02 DDEE}
    (
        "set-request-with-datablock",
        h("C1 03 C1 | 01 00000002 02 DDEE"),
        SetRequestWithDatablock(1, DataBlockSA(True, 2, h("DDEE"))),
    ),
    # C1 04 with-list | C1 | 02 descriptors {0001 0-0:96.1.0*255 02 00}
    # {0003 1-0:1.8.0*255 03 (scaler_unit) 00} | 02 values: 12 0005 long-unsigned 5, 0F FE integer -2
    (
        "set-request-with-list",
        h("C1 04 C1 | 02 0001 0000600100FF 02 00 0003 0100010800FF 03 00 | 02 120005 0FFE"),
        SetRequestWithList(
            1,
            [
                CosemAttributeDescriptorWithSelection(attr(1, "0-0:96.1.0*255", 2)),
                CosemAttributeDescriptorWithSelection(attr(3, "1-0:1.8.0*255", 3)),
            ],
            [LU(5), Integer(-2)],
        ),
    ),
    # C1 05 with-list-and-first-datablock | C1 | 01 descriptor {0001 0-0:96.1.0*255 02,
    # 01 selection {selector 01, 00 null-data}} | DataBlock-SA {00, 00000001, 02 0102}
    (
        "set-request-with-list-and-first-datablock",
        h("C1 05 C1 | 01 0001 0000600100FF 02 01 01 00 | 00 00000001 02 0102"),
        SetRequestWithListAndFirstDatablock(
            1,
            [
                CosemAttributeDescriptorWithSelection(
                    attr(1, "0-0:96.1.0*255", 2), SelectiveAccessDescriptor(1, None)
                )
            ],
            DataBlockSA(False, 1, h("0102")),
        ),
    ),
    # C5 02 datablock | C1 | block-number 00000001
    ("set-response-datablock", h("C5 02 C1 00000001"), SetResponseDatablock(1, 1)),
    # C5 03 last-datablock | C1 | result 00 success | block-number 00000002
    (
        "set-response-last-datablock",
        h("C5 03 C1 00 00000002"),
        SetResponseLastDatablock(1, DataAccessResult.SUCCESS, 2),
    ),
    # C5 04 last-datablock-with-list | C1 | 02 results: 00 success, 03 read-write-denied | block 00000003
    (
        "set-response-last-datablock-with-list",
        h("C5 04 C1 02 00 03 00000003"),
        SetResponseLastDatablockWithList(
            1, [DataAccessResult.SUCCESS, DataAccessResult.READ_WRITE_DENIED], 3
        ),
    ),
    # C5 05 with-list | C1 | 03 results: 00 success, FA other-reason (250), 0B object-unavailable (11)
    (
        "set-response-with-list",
        h("C5 05 C1 03 00 FA 0B"),
        SetResponseWithList(
            1,
            [DataAccessResult.SUCCESS, DataAccessResult.OTHER_REASON, DataAccessResult.OBJECT_UNAVAILABLE],
        ),
    ),
    # ---------------------------------------------------------------------------------- ACTION
    # C3 01 normal | C1 | 0046 disconnect control 0-0:96.3.10*255 method 01 | 00 no parameters
    (
        "action-request-normal without parameters",
        h("C3 01 C1 | 0046 000060030AFF 01 | 00"),
        ActionRequestNormal(1, meth(70, "0-0:96.3.10*255", 1)),
    ),
    # same, parameters present (01) and equal to null-data (00)
    (
        "action-request-normal with explicit null-data",
        h("C3 01 C1 | 0046 000060030AFF 01 | 01 00"),
        ActionRequestNormal(1, meth(70, "0-0:96.3.10*255", 1), None, True),
    ),
    # C3 02 next-pblock | C1 | block-number 00000001
    ("action-request-next-pblock", h("C3 02 C1 00000001"), ActionRequestNextPblock(1, 1)),
    # C3 03 with-list | C1 | 02 methods {0009 script table 0-0:10.0.100*255 01} {0009 0-0:10.0.101*255 01} |
    # 02 parameters: 12 0000 long-unsigned 0, 00 null-data
    (
        "action-request-with-list",
        h("C3 03 C1 | 02 0009 00000A0064FF 01 0009 00000A0065FF 01 | 02 120000 00"),
        ActionRequestWithList(
            1, [meth(9, "0-0:10.0.100*255", 1), meth(9, "0-0:10.0.101*255", 1)], [LU(0), None]
        ),
    ),
    # C3 04 with-first-pblock | C1 | 0012 image transfer 0-0:44.0.0*255 method 02 | {00, 00000001, 03 010203}
    (
        "action-request-with-first-pblock",
        h("C3 04 C1 | 0012 00002C0000FF 02 | 00 00000001 03 010203"),
        ActionRequestWithFirstPblock(1, meth(18, "0-0:44.0.0*255", 2), DataBlockSA(False, 1, h("010203"))),
    ),
    # C3 05 with-list-and-first-pblock | C1 | 01 {0012 00002C0000FF 02} | {01 last, 00000001, 01 FF}
    (
        "action-request-with-list-and-first-pblock",
        h("C3 05 C1 | 01 0012 00002C0000FF 02 | 01 00000001 01 FF"),
        ActionRequestWithListAndFirstPblock(
            1, [meth(18, "0-0:44.0.0*255", 2)], DataBlockSA(True, 1, h("FF"))
        ),
    ),
    # C3 06 with-pblock | C1 | {01, 00000002, 00 empty raw-data}
    (
        "action-request-with-pblock",
        h("C3 06 C1 | 01 00000002 00"),
        ActionRequestWithPblock(1, DataBlockSA(True, 2, b"")),
    ),
    # C7 01 normal | C1 | Action-Result 00 success | 00 no return-parameters
    (
        "action-response-normal without return parameters",
        h("C7 01 C1 00 00"),
        ActionResponseNormal(1, ActionResponseWithOptionalData(ActionResult.SUCCESS)),
    ),
    # C7 01 | C1 | 0B object-unavailable | 01 present | Get-Data-Result 01 data-access-result | 0B
    (
        "action-response-normal with data-access-result",
        h("C7 01 C1 0B 01 01 0B"),
        ActionResponseNormal(
            1,
            ActionResponseWithOptionalData(
                ActionResult.OBJECT_UNAVAILABLE, DataAccessResult.OBJECT_UNAVAILABLE
            ),
        ),
    ),
    # C7 01 | C1 | 00 | 01 present | 00 data | 00 null-data
    (
        "action-response-normal with explicit null-data",
        h("C7 01 C1 00 01 00 00"),
        ActionResponseNormal(1, ActionResponseWithOptionalData(ActionResult.SUCCESS, None, True)),
    ),
    # C7 02 with-pblock | C1 | {00, 00000001, 02 0A0B}
    (
        "action-response-with-pblock",
        h("C7 02 C1 | 00 00000001 02 0A0B"),
        ActionResponseWithPblock(1, DataBlockSA(False, 1, h("0A0B"))),
    ),
    # C7 03 with-list | C1 | 02 responses: {00 success, 00 absent} {00 success, 01 present, 00 data, 11 05}
    (
        "action-response-with-list",
        h("C7 03 C1 02 | 00 00 | 00 01 00 1105"),
        ActionResponseWithList(
            1,
            [
                ActionResponseWithOptionalData(ActionResult.SUCCESS),
                ActionResponseWithOptionalData(ActionResult.SUCCESS, Unsigned(5)),
            ],
        ),
    ),
    # C7 04 next-pblock | C1 | block-number 00000003
    ("action-response-next-pblock", h("C7 04 C1 00000003"), ActionResponseNextPblock(1, 3)),
    # ---------------------------------------------------------------------------------- SN
    # 05 ReadRequest | 02 specifications | 02 variable-name FA00 |
    # 04 parameterized-access {variable-name 6018, selector 02, parameter entry_descriptor (as above)}
    (
        "read-request",
        h("05 02 | 02 FA00 | 04 6018 02 0204 0600000001 0600000000 120001 120000"),
        ReadRequest([VariableName(0xFA00), ParameterizedAccess(0x6018, 2, (DLU(1), DLU(0), LU(1), LU(0)))]),
    ),
    # 05 | 01 | 05 block-number-access {block-number Unsigned16 0002}
    ("read-request block-number-access", h("05 01 05 0002"), ReadRequest([BlockNumberAccess(2)])),
    # 05 | 01 | 06 read-data-block-access {01 last, 0001, 03 AABBCC}
    (
        "read-request read-data-block-access",
        h("05 01 06 01 0001 03 AABBCC"),
        ReadRequest([ReadDataBlockAccess(True, 1, h("AABBCC"))]),
    ),
    # 0C ReadResponse | 04 results | 00 data 12 0064 | 01 data-access-error 03 |
    # 02 data-block-result {00, 0001, 02 ABCD} | 03 block-number 0005
    (
        "read-response",
        h("0C 04 | 00 120064 | 01 03 | 02 00 0001 02 ABCD | 03 0005"),
        ReadResponse(
            [
                LU(100),
                DataAccessResult.READ_WRITE_DENIED,
                DataBlockResult(False, 1, h("ABCD")),
                BlockNumber(5),
            ]
        ),
    ),
    # 06 WriteRequest | 01 specification: 02 variable-name FA08 | 01 value: 09 03 414243
    (
        "write-request",
        h("06 01 02 FA08 | 01 09 03 414243"),
        WriteRequest([VariableName(0xFA08)], [b"ABC"]),
    ),
    # 06 | 01 07 write-data-block-access {01 last, 0002} | 01 value 09 02 0102
    (
        "write-request write-data-block-access",
        h("06 01 07 01 0002 | 01 09 02 0102"),
        WriteRequest([WriteDataBlockAccess(True, 2)], [h("0102")]),
    ),
    # 0D WriteResponse | 03 results | 00 success | 01 data-access-error 03 | 02 block-number 0001
    (
        "write-response",
        h("0D 03 00 01 03 02 0001"),
        WriteResponse([None, DataAccessResult.READ_WRITE_DENIED, BlockNumber(1)]),
    ),
    # 16 UnconfirmedWriteRequest | 01 02 FA08 | 01 11 07 unsigned 7
    (
        "unconfirmed-write-request",
        h("16 01 02 FA08 | 01 1107"),
        UnconfirmedWriteRequest([VariableName(0xFA08)], [Unsigned(7)]),
    ),
    # 18 InformationReportRequest | 01 current-time present + 12 bytes (SIZE(12), no length) |
    # 01 02 FA08 | 01 06 00000001
    (
        "information-report-request with time",
        h("18 01 07E50118FF0E303950FFC400 | 01 02 FA08 | 01 0600000001"),
        InformationReportRequest(DT_BYTES, [VariableName(0xFA08)], [DLU(1)]),
    ),
    # 18 | 00 no time | 01 02 FA08 | 01 0C 03 C3A9 41 (utf8-string "éA")
    (
        "information-report-request without time",
        h("18 00 | 01 02 FA08 | 01 0C03C3A941"),
        InformationReportRequest(None, [VariableName(0xFA08)], [Utf8String("éA")]),
    ),
    # ---------------------------------------------------------------------------------- notifications
    # 0F Data-Notification | 00000001 long-invoke-id 1, unconfirmed, normal | 00 empty date-time |
    # body 02 02 {09 06 0000010000FF, 06 0000000A}
    (
        "data-notification without date-time",
        h("0F 00000001 00 | 0202 09060000010000FF 060000000A"),
        DataNotification(1, None, (bytes(CLOCK), DLU(10))),
    ),
    # 0F | C0000001: invoke-id 1, bit 30 confirmed, bit 31 high priority | 0C + 12-byte date-time | 11 05
    (
        "data-notification with date-time",
        h("0F C0000001 0C07E50118FF0E303950FFC400 1105"),
        DataNotification(
            1, DT_BYTES, Unsigned(5), service_class=ServiceClass.CONFIRMED, priority=Priority.HIGH
        ),
    ),
    # 0F | 30000002: invoke-id 2, bit 28 self-descriptive, bit 29 break-on-error | 00 | 00 null-data
    (
        "data-notification self-descriptive break-on-error",
        h("0F 30000002 00 00"),
        DataNotification(2, None, None, self_descriptive=True, break_on_error=True),
    ),
    # C2 EVENT-NOTIFICATION | 00 no time | 0001 data 0-0:96.11.0*255 attribute 02 | 12 0001
    (
        "event-notification-request without time",
        h("C2 00 | 0001 0000600B00FF 02 | 120001"),
        EventNotificationRequest(None, attr(1, "0-0:96.11.0*255", 2), LU(1)),
    ),
    # C2 | 01 time present, 0C + 12 bytes | 0001 0000600B00FF 02 | 12 0001
    (
        "event-notification-request with time",
        h("C2 01 0C07E50118FF0E303950FFC400 | 0001 0000600B00FF 02 | 120001"),
        EventNotificationRequest(DT_BYTES, attr(1, "0-0:96.11.0*255", 2), LU(1)),
    ),
    # ---------------------------------------------------------------------------------- exception, GBT
    # D8 | state-error 01 service-not-allowed | service-error 02 service-not-supported
    (
        "exception-response",
        h("D8 01 02"),
        ExceptionResponse(StateError.SERVICE_NOT_ALLOWED, ExceptionServiceError.SERVICE_NOT_SUPPORTED),
    ),
    # D8 | 02 service-unknown | 06 invocation-counter-error + Unsigned32 expected counter 00000005
    (
        "exception-response invocation-counter-error",
        h("D8 02 06 00000005"),
        ExceptionResponse(StateError.SERVICE_UNKNOWN, ExceptionServiceError.INVOCATION_COUNTER_ERROR, 5),
    ),
    # E0 GBT | block-control 81: last-block, no streaming, window 1 | block-number 0001 | ack 0000 |
    # block-data 0D + the published GET request
    (
        "general-block-transfer",
        h("E0 81 0001 0000 0D C001C1000100002B0100FF0200"),
        GeneralBlockTransfer(True, False, 1, 1, 0, h("C001C1000100002B0100FF0200")),
    ),
    # E0 | 7F: streaming, window 63 | 0002 | 0001 | 00 empty
    (
        "general-block-transfer streaming",
        h("E0 7F 0002 0001 00"),
        GeneralBlockTransfer(False, True, 63, 2, 1, b""),
    ),
]

IDS = [name for name, _, _ in VECTORS]


@pytest.mark.parametrize(("name", "raw", "expected"), VECTORS, ids=IDS)
def test_vector_decodes_to_the_expected_object(name: str, raw: bytes, expected: Any) -> None:
    decoded = type(expected).decode(raw)
    assert typed_equal(decoded, expected), (decoded, expected)
    assert typed_equal(decode_apdu(raw), expected)
    assert typed_equal(decode_apdu(memoryview(raw)), expected)
    assert typed_equal(decode_apdu(bytearray(raw)), expected)


@pytest.mark.parametrize(("name", "raw", "expected"), VECTORS, ids=IDS)
def test_vector_encodes_to_the_expected_bytes(name: str, raw: bytes, expected: Any) -> None:
    assert expected.encode() == raw


@pytest.mark.parametrize(("name", "raw", "expected"), VECTORS, ids=IDS)
def test_every_truncation_is_a_decode_error(name: str, raw: bytes, expected: Any) -> None:
    for cut in range(len(raw)):
        with pytest.raises(DecodeError):
            type(expected).decode(raw[:cut])
        with pytest.raises(DecodeError):
            decode_apdu(raw[:cut])


@pytest.mark.parametrize(("name", "raw", "expected"), VECTORS, ids=IDS)
def test_trailing_bytes_are_a_decode_error_at_the_end(name: str, raw: bytes, expected: Any) -> None:
    with pytest.raises(DecodeError) as info:
        decode_apdu(raw + b"\x00")
    assert info.value.offset == len(raw)


@pytest.mark.parametrize(("name", "raw", "expected"), VECTORS, ids=IDS)
def test_decode_from_an_offset_inside_a_larger_buffer(name: str, raw: bytes, expected: Any) -> None:
    buffer = b"\xaa\xbb\xcc" + raw + b"\xdd"
    apdu, end = type(expected).decode_from(buffer, 3)
    assert typed_equal(apdu, expected)
    assert end == 3 + len(raw)
    apdu, end = decode_apdu_from(buffer, 3)
    assert typed_equal(apdu, expected)
    assert end == 3 + len(raw)


def test_date_time_of_the_vectors_is_what_the_comment_says() -> None:
    dt = CosemDateTime.from_bytes(DT_BYTES)
    assert (dt.year, dt.month, dt.day, dt.hour, dt.minute, dt.second, dt.hundredths) == (
        2021,
        1,
        24,
        14,
        48,
        57,
        80,
    )
    assert dt.deviation == -60
