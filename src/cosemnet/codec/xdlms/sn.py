"""Short-name referencing APDUs (IEC 62056-5-3 SN services, DLMS heritage of IEC 61334-4-41).

ReadRequest (0x05), ReadResponse (0x0C), WriteRequest (0x06), WriteResponse (0x0D),
UnconfirmedWriteRequest (0x16), InformationReportRequest (0x18).

``ObjectName`` is ``Integer16`` in the ASN.1; design choice: short names are kept as unsigned
0..65535 (base names are customarily written in hex, e.g. 0xFA00), which encodes to the same two bytes.

CHOICE alternatives are one dataclass each, except where a Python value is unambiguous:

* Variable-Access-Specification: :class:`VariableName` [2], :class:`ParameterizedAccess` [4],
  :class:`BlockNumberAccess` [5], :class:`ReadDataBlockAccess` [6], :class:`WriteDataBlockAccess` [7]
  (detailed-access [3] is not used in DLMS/COSEM and is rejected);
* ReadResponse item: a Data value (data [0]), a :class:`DataAccessResult` (data-access-error [1]),
  :class:`DataBlockResult` [2], :class:`BlockNumber` [3];
* WriteResponse item: ``None`` (success [0] NULL), a :class:`DataAccessResult` (data-access-error [1]),
  :class:`BlockNumber` [2].
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Final, Self, Union

from cosemnet.codec.axdr import Buffer, decode_data, encode_data_into
from cosemnet.codec.types import DataValue
from cosemnet.codec.xdlms.common import (
    DataAccessResult,
    XdlmsApdu,
    check_header,
    read_byte,
    read_count,
    read_data_access_result,
    read_data_list,
    read_flag,
    read_octet_string,
    read_u16,
    write_count,
    write_data_access_result,
    write_data_list,
    write_octet_string,
    write_u8,
    write_u16,
)
from cosemnet.errors import DecodeError, EncodeError

__all__ = [
    "BlockNumber",
    "BlockNumberAccess",
    "DataBlockResult",
    "InformationReportRequest",
    "ParameterizedAccess",
    "ReadDataBlockAccess",
    "ReadRequest",
    "ReadResponse",
    "ReadResult",
    "UnconfirmedWriteRequest",
    "VariableAccessSpecification",
    "VariableName",
    "WriteDataBlockAccess",
    "WriteRequest",
    "WriteResponse",
    "WriteResult",
]


# --------------------------------------------------------------------------------------------------
# Variable-Access-Specification


@dataclass(slots=True)
class VariableName:
    """variable-name [2] ObjectName: the short name of an attribute or method."""

    variable_name: int

    TAG: ClassVar[int] = 2

    def encode_into(self, out: bytearray) -> None:
        out.append(2)
        write_u16(out, self.variable_name, "variable-name")


@dataclass(slots=True)
class ParameterizedAccess:
    """parameterized-access [4] {variable-name ObjectName, selector Unsigned8, parameter Data}."""

    variable_name: int
    selector: int
    parameter: DataValue

    TAG: ClassVar[int] = 4

    def encode_into(self, out: bytearray) -> None:
        out.append(4)
        write_u16(out, self.variable_name, "variable-name")
        write_u8(out, self.selector, "selector")
        encode_data_into(out, self.parameter)


@dataclass(slots=True)
class BlockNumberAccess:
    """block-number-access [5] {block-number Unsigned16}: asks for the next block of a ReadResponse."""

    block_number: int

    TAG: ClassVar[int] = 5

    def encode_into(self, out: bytearray) -> None:
        out.append(5)
        write_u16(out, self.block_number, "block-number")


@dataclass(slots=True)
class ReadDataBlockAccess:
    """read-data-block-access [6] {last-block BOOLEAN, block-number Unsigned16, raw-data OCTET STRING}."""

    last_block: bool
    block_number: int
    raw_data: bytes

    TAG: ClassVar[int] = 6

    def encode_into(self, out: bytearray) -> None:
        out.append(6)
        out.append(1 if self.last_block else 0)
        write_u16(out, self.block_number, "block-number")
        write_octet_string(out, self.raw_data, "raw-data")


@dataclass(slots=True)
class WriteDataBlockAccess:
    """write-data-block-access [7] {last-block BOOLEAN, block-number Unsigned16}."""

    last_block: bool
    block_number: int

    TAG: ClassVar[int] = 7

    def encode_into(self, out: bytearray) -> None:
        out.append(7)
        out.append(1 if self.last_block else 0)
        write_u16(out, self.block_number, "block-number")


VariableAccessSpecification = Union[  # noqa: UP007  (a CHOICE; kept as a named alias)
    VariableName, ParameterizedAccess, BlockNumberAccess, ReadDataBlockAccess, WriteDataBlockAccess
]

_VAS_TYPES: Final = (
    VariableName,
    ParameterizedAccess,
    BlockNumberAccess,
    ReadDataBlockAccess,
    WriteDataBlockAccess,
)


def _read_vas(data: Buffer, offset: int) -> tuple[VariableAccessSpecification, int]:
    choice = read_byte(data, offset, "a variable-access-specification")
    pos = offset + 1
    if choice == 2:
        return VariableName(read_u16(data, pos, "variable-name")), pos + 2
    if choice == 4:
        name = read_u16(data, pos, "variable-name")
        selector = read_byte(data, pos + 2, "selector")
        parameter, end = decode_data(data, pos + 3)
        return ParameterizedAccess(name, selector, parameter), end
    if choice == 5:
        return BlockNumberAccess(read_u16(data, pos, "block-number")), pos + 2
    if choice == 6:
        last_block = read_flag(data, pos, "last-block")
        block_number = read_u16(data, pos + 1, "block-number")
        raw_data, end = read_octet_string(data, pos + 3, "raw-data")
        return ReadDataBlockAccess(last_block, block_number, raw_data), end
    if choice == 7:
        last_block = read_flag(data, pos, "last-block")
        return WriteDataBlockAccess(last_block, read_u16(data, pos + 1, "block-number")), pos + 3
    raise DecodeError(f"unknown variable-access-specification choice {choice}", offset, "2, 4, 5, 6 or 7")


def _write_vas_list(out: bytearray, items: list[VariableAccessSpecification]) -> None:
    write_count(out, items, "variable-access-specification")
    for item in items:
        if not isinstance(item, _VAS_TYPES):
            raise EncodeError(f"{type(item).__name__} is not a Variable-Access-Specification")
        item.encode_into(out)


def _read_vas_list(data: Buffer, offset: int) -> tuple[list[VariableAccessSpecification], int]:
    count, pos = read_count(data, offset, "variable-access-specification")
    items = []
    for _ in range(count):
        item, pos = _read_vas(data, pos)
        items.append(item)
    return items, pos


# --------------------------------------------------------------------------------------------------
# Response alternatives


@dataclass(slots=True)
class DataBlockResult:
    """Data-Block-Result {last-block BOOLEAN, block-number Unsigned16, raw-data OCTET STRING}
    (ReadResponse data-block-result [2])."""

    last_block: bool
    block_number: int
    raw_data: bytes


@dataclass(slots=True)
class BlockNumber:
    """block-number Unsigned16: ReadResponse block-number [3] / WriteResponse block-number [2]."""

    block_number: int


ReadResult = Union[DataAccessResult, DataBlockResult, BlockNumber, DataValue]  # noqa: UP007
WriteResult = Union[DataAccessResult, BlockNumber, None]  # noqa: UP007


# --------------------------------------------------------------------------------------------------
# APDUs


@dataclass(slots=True)
class ReadRequest(XdlmsApdu):
    """ReadRequest ::= SEQUENCE OF Variable-Access-Specification (tag 0x05)."""

    TAG: ClassVar[int] = 0x05

    variable_access_specification: list[VariableAccessSpecification]

    def encode(self) -> bytes:
        out = bytearray(b"\x05")
        _write_vas_list(out, self.variable_access_specification)
        return bytes(out)

    @classmethod
    def decode_from(cls, data: Buffer, offset: int = 0) -> tuple[Self, int]:
        check_header(data, offset, 0x05, None, "read-request")
        items, pos = _read_vas_list(data, offset + 1)
        return cls(items), pos


@dataclass(slots=True)
class ReadResponse(XdlmsApdu):
    """ReadResponse ::= SEQUENCE OF CHOICE {data [0] Data, data-access-error [1] Data-Access-Result,
    data-block-result [2] Data-Block-Result, block-number [3] Unsigned16} (tag 0x0C)."""

    TAG: ClassVar[int] = 0x0C

    result: list[DataAccessResult | DataBlockResult | BlockNumber | DataValue]

    def encode(self) -> bytes:
        out = bytearray(b"\x0c")
        write_count(out, self.result, "read results")
        for item in self.result:
            if isinstance(item, DataAccessResult):
                out.append(1)
                write_data_access_result(out, item)
            elif isinstance(item, DataBlockResult):
                out.append(2)
                out.append(1 if item.last_block else 0)
                write_u16(out, item.block_number, "block-number")
                write_octet_string(out, item.raw_data, "raw-data")
            elif isinstance(item, BlockNumber):
                out.append(3)
                write_u16(out, item.block_number, "block-number")
            else:
                out.append(0)
                encode_data_into(out, item)
        return bytes(out)

    @classmethod
    def decode_from(cls, data: Buffer, offset: int = 0) -> tuple[Self, int]:
        check_header(data, offset, 0x0C, None, "read-response")
        count, pos = read_count(data, offset + 1, "read results")
        items: list[DataAccessResult | DataBlockResult | BlockNumber | DataValue] = []
        for _ in range(count):
            choice = read_byte(data, pos, "a read-response choice")
            if choice == 0:
                value, pos = decode_data(data, pos + 1)
                items.append(value)
            elif choice == 1:
                items.append(read_data_access_result(data, pos + 1))
                pos += 2
            elif choice == 2:
                last_block = read_flag(data, pos + 1, "last-block")
                block_number = read_u16(data, pos + 2, "block-number")
                raw_data, pos = read_octet_string(data, pos + 4, "raw-data")
                items.append(DataBlockResult(last_block, block_number, raw_data))
            elif choice == 3:
                items.append(BlockNumber(read_u16(data, pos + 1, "block-number")))
                pos += 3
            else:
                raise DecodeError(f"unknown read-response choice {choice}", pos, "0, 1, 2 or 3")
        return cls(items), pos


@dataclass(slots=True)
class WriteRequest(XdlmsApdu):
    """WriteRequest {variable-access-specification SEQUENCE OF Variable-Access-Specification, list-of-data
    SEQUENCE OF Data} (tag 0x06)."""

    TAG: ClassVar[int] = 0x06

    variable_access_specification: list[VariableAccessSpecification]
    list_of_data: list[DataValue]

    def encode(self) -> bytes:
        out = bytearray((self.TAG,))
        _write_vas_list(out, self.variable_access_specification)
        write_data_list(out, self.list_of_data, "list-of-data")
        return bytes(out)

    @classmethod
    def decode_from(cls, data: Buffer, offset: int = 0) -> tuple[Self, int]:
        check_header(data, offset, cls.TAG, None, "write-request")
        items, pos = _read_vas_list(data, offset + 1)
        values, pos = read_data_list(data, pos, "list-of-data")
        return cls(items, values), pos


@dataclass(slots=True)
class UnconfirmedWriteRequest(XdlmsApdu):
    """UnconfirmedWriteRequest {variable-access-specification SEQUENCE OF Variable-Access-Specification,
    list-of-data SEQUENCE OF Data} (tag 0x16)."""

    TAG: ClassVar[int] = 0x16

    variable_access_specification: list[VariableAccessSpecification]
    list_of_data: list[DataValue]

    def encode(self) -> bytes:
        out = bytearray((self.TAG,))
        _write_vas_list(out, self.variable_access_specification)
        write_data_list(out, self.list_of_data, "list-of-data")
        return bytes(out)

    @classmethod
    def decode_from(cls, data: Buffer, offset: int = 0) -> tuple[Self, int]:
        check_header(data, offset, cls.TAG, None, "unconfirmed-write-request")
        items, pos = _read_vas_list(data, offset + 1)
        values, pos = read_data_list(data, pos, "list-of-data")
        return cls(items, values), pos


@dataclass(slots=True)
class WriteResponse(XdlmsApdu):
    """WriteResponse ::= SEQUENCE OF CHOICE {success [0] NULL, data-access-error [1] Data-Access-Result,
    block-number [2] Unsigned16} (tag 0x0D). ``None`` is success."""

    TAG: ClassVar[int] = 0x0D

    result: list[DataAccessResult | BlockNumber | None]

    def encode(self) -> bytes:
        out = bytearray(b"\x0d")
        write_count(out, self.result, "write results")
        for item in self.result:
            if item is None:
                out.append(0)
            elif isinstance(item, BlockNumber):
                out.append(2)
                write_u16(out, item.block_number, "block-number")
            else:
                out.append(1)
                write_data_access_result(out, item)
        return bytes(out)

    @classmethod
    def decode_from(cls, data: Buffer, offset: int = 0) -> tuple[Self, int]:
        check_header(data, offset, 0x0D, None, "write-response")
        count, pos = read_count(data, offset + 1, "write results")
        items: list[DataAccessResult | BlockNumber | None] = []
        for _ in range(count):
            choice = read_byte(data, pos, "a write-response choice")
            if choice == 0:
                items.append(None)
                pos += 1
            elif choice == 1:
                items.append(read_data_access_result(data, pos + 1))
                pos += 2
            elif choice == 2:
                items.append(BlockNumber(read_u16(data, pos + 1, "block-number")))
                pos += 3
            else:
                raise DecodeError(f"unknown write-response choice {choice}", pos, "0, 1 or 2")
        return cls(items), pos


@dataclass(slots=True)
class InformationReportRequest(XdlmsApdu):
    """InformationReportRequest {current-time OPTIONAL, variable-access-specification SEQUENCE OF
    Variable-Access-Specification, list-of-data SEQUENCE OF Data} (tag 0x18).

    ``current_time`` (GeneralizedTime in the ASN.1) is carried as a COSEM date-time: usage flag ``01``
    followed by exactly 12 bytes without a length (an ``OCTET STRING (SIZE(12))``), or ``00``.
    Design choice from the project brief; note that gurux-dlms instead writes ``0C`` + 12 bytes here.
    """

    TAG: ClassVar[int] = 0x18

    current_time: bytes | None
    variable_access_specification: list[VariableAccessSpecification]
    list_of_data: list[DataValue]

    def encode(self) -> bytes:
        out = bytearray(b"\x18")
        current_time = self.current_time
        if current_time is None:
            out.append(0)
        else:
            if not isinstance(current_time, bytes | bytearray | memoryview) or len(current_time) != 12:
                raise EncodeError("current-time must be 12 bytes (a COSEM date-time) or None")
            out.append(1)
            out += current_time
        _write_vas_list(out, self.variable_access_specification)
        write_data_list(out, self.list_of_data, "list-of-data")
        return bytes(out)

    @classmethod
    def decode_from(cls, data: Buffer, offset: int = 0) -> tuple[Self, int]:
        check_header(data, offset, 0x18, None, "information-report-request")
        pos = offset + 1
        current_time = None
        if read_flag(data, pos, "the current-time usage flag"):
            if pos + 13 > len(data):
                raise DecodeError("input ends inside current-time", pos + 1, "12 bytes")
            current_time = bytes(data[pos + 1 : pos + 13])
            pos += 13
        else:
            pos += 1
        items, pos = _read_vas_list(data, pos)
        values, pos = read_data_list(data, pos, "list-of-data")
        return cls(current_time, items, values), pos
