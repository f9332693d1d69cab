"""GET service APDUs: Get-Request (tag 0xC0) and Get-Response (tag 0xC4).

Every class splits Invoke-Id-And-Priority into ``invoke_id`` (first field), ``service_class``,
``priority`` and ``reserved`` (bits 4-5, kept so that any byte round-trips; the last three have
defaults giving ``0xC0 | invoke_id``-style bytes: confirmed, high priority).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import ClassVar, Final, Self

from cosemnet.codec.axdr import Buffer, decode_data, encode_data_into
from cosemnet.codec.obis import Obis
from cosemnet.codec.types import DataValue
from cosemnet.codec.xdlms.common import (
    IIP_FIELDS,
    ChoiceApdu,
    CosemAttributeDescriptor,
    CosemAttributeDescriptorWithSelection,
    DataAccessResult,
    DataBlockG,
    Priority,
    SelectiveAccessDescriptor,
    ServiceClass,
    decode_block_number_apdu,
    encode_block_number_apdu,
    new_obis,
    read_descriptor_list,
    read_get_data_result,
    read_get_data_results,
    read_header,
    start,
    write_descriptor_list,
    write_get_data_results,
)
from cosemnet.errors import DecodeError, EncodeError

__all__ = [
    "GetRequest",
    "GetRequestNext",
    "GetRequestNormal",
    "GetRequestWithList",
    "GetResponse",
    "GetResponseNormal",
    "GetResponseWithDataBlock",
    "GetResponseWithList",
]

_CONFIRMED: Final = ServiceClass.CONFIRMED
_HIGH: Final = Priority.HIGH

# tag, choice, invoke-id-and-priority, class-id, instance-id, attribute-id, access-selection usage flag
_REQUEST_NORMAL: Final = struct.Struct(">BBBH6sbB")
_REQUEST_NORMAL_SIZE: Final = _REQUEST_NORMAL.size  # 13


class GetRequest(ChoiceApdu):
    """GET-Request CHOICE (tag 0xC0): ``GetRequest.decode`` returns the matching subclass."""

    __slots__ = ()
    TAG: ClassVar[int] = 0xC0
    NAME: ClassVar[str] = "get-request"


class GetResponse(ChoiceApdu):
    """GET-Response CHOICE (tag 0xC4): ``GetResponse.decode`` returns the matching subclass."""

    __slots__ = ()
    TAG: ClassVar[int] = 0xC4
    NAME: ClassVar[str] = "get-response"


@dataclass(slots=True)
class GetRequestNormal(GetRequest):
    """Get-Request-Normal {invoke-id-and-priority, cosem-attribute-descriptor, access-selection OPTIONAL}."""

    CHOICE: ClassVar[int] = 1

    invoke_id: int
    cosem_attribute_descriptor: CosemAttributeDescriptor
    access_selection: SelectiveAccessDescriptor | None = None
    service_class: ServiceClass = _CONFIRMED
    priority: Priority = _HIGH
    reserved: int = field(default=0, repr=False)

    def encode(self) -> bytes:
        d = self.cosem_attribute_descriptor
        invoke_id = self.invoke_id
        service_class = self.service_class
        priority = self.priority
        reserved = self.reserved
        selection = self.access_selection
        try:
            if invoke_id >> 4 or reserved >> 2 or service_class >> 1 or priority >> 1:
                raise EncodeError(
                    f"invoke-id-and-priority out of range: invoke_id {invoke_id!r} (0..15), reserved "
                    f"{reserved!r} (0..3), service_class {service_class!r}, priority {priority!r} (0..1)"
                )
            instance_id = d.instance_id
            if len(instance_id) != 6:
                raise EncodeError(f"instance-id must be 6 bytes (an OBIS code), got {len(instance_id)}")
            packed = _REQUEST_NORMAL.pack(
                0xC0,
                1,
                invoke_id | reserved << 4 | service_class << 6 | priority << 7,
                d.class_id,
                instance_id,
                d.attribute_id,
                selection is not None,
            )
        except (struct.error, TypeError, AttributeError):
            raise EncodeError(
                f"cannot encode get-request-normal: class_id {d.class_id!r} (0..65535), attribute_id "
                f"{d.attribute_id!r} (-128..127), invoke_id {invoke_id!r}"
            ) from None
        if selection is None:
            return packed
        out = bytearray(packed)
        selection.encode_into(out)
        return bytes(out)

    @classmethod
    def decode(cls, data: Buffer) -> Self:
        if len(data) == _REQUEST_NORMAL_SIZE:
            tag, choice, iip, class_id, instance_id, attribute_id, flag = _REQUEST_NORMAL.unpack(data)
            if tag == 0xC0 and choice == 1 and flag == 0:
                invoke_id, service_class, priority, reserved = IIP_FIELDS[iip]
                return cls(
                    invoke_id,
                    CosemAttributeDescriptor(class_id, new_obis(Obis, instance_id), attribute_id),
                    None,
                    service_class,
                    priority,
                    reserved,
                )
        apdu, end = cls.decode_from(data, 0)
        if end != len(data):
            raise DecodeError(f"{len(data) - end} bytes after the APDU", end, "end of input")
        return apdu

    @classmethod
    def decode_from(cls, data: Buffer, offset: int = 0) -> tuple[Self, int]:
        read_header(data, offset, 0xC0, 1, "get-request-normal")
        end = offset + _REQUEST_NORMAL_SIZE
        if end > len(data):
            raise DecodeError("input ends inside get-request-normal", offset + 3, "attribute descriptor")
        _, _, iip, class_id, instance_id, attribute_id, flag = _REQUEST_NORMAL.unpack_from(data, offset)
        invoke_id, service_class, priority, reserved = IIP_FIELDS[iip]
        selection: SelectiveAccessDescriptor | None = None
        if flag == 1:
            selection, end = SelectiveAccessDescriptor.decode_from(data, end)
        elif flag != 0:
            raise DecodeError(f"access-selection usage flag is 0x{flag:02X}", end - 1, "00 or 01")
        descriptor = CosemAttributeDescriptor(class_id, new_obis(Obis, instance_id), attribute_id)
        return cls(invoke_id, descriptor, selection, service_class, priority, reserved), end


@dataclass(slots=True)
class GetRequestNext(GetRequest):
    """Get-Request-Next {invoke-id-and-priority, block-number Unsigned32}."""

    CHOICE: ClassVar[int] = 2

    invoke_id: int
    block_number: int
    service_class: ServiceClass = _CONFIRMED
    priority: Priority = _HIGH
    reserved: int = field(default=0, repr=False)

    def encode(self) -> bytes:
        return encode_block_number_apdu(self, 0xC0, 2, self.block_number)

    @classmethod
    def decode_from(cls, data: Buffer, offset: int = 0) -> tuple[Self, int]:
        iip, block_number, end = decode_block_number_apdu(data, offset, 0xC0, 2, "get-request-next")
        return cls(iip[0], block_number, iip[1], iip[2], iip[3]), end


@dataclass(slots=True)
class GetRequestWithList(GetRequest):
    """Get-Request-With-List {invoke-id-and-priority, attribute-descriptor-list SEQUENCE OF
    Cosem-Attribute-Descriptor-With-Selection}."""

    CHOICE: ClassVar[int] = 3

    invoke_id: int
    attribute_descriptor_list: list[CosemAttributeDescriptorWithSelection]
    service_class: ServiceClass = _CONFIRMED
    priority: Priority = _HIGH
    reserved: int = field(default=0, repr=False)

    def encode(self) -> bytes:
        out = start(self, 0xC0, 3)
        write_descriptor_list(out, self.attribute_descriptor_list)
        return bytes(out)

    @classmethod
    def decode_from(cls, data: Buffer, offset: int = 0) -> tuple[Self, int]:
        iip = read_header(data, offset, 0xC0, 3, "get-request-with-list")
        items, pos = read_descriptor_list(data, offset + 3)
        return cls(iip[0], items, iip[1], iip[2], iip[3]), pos


@dataclass(slots=True)
class GetResponseNormal(GetResponse):
    """Get-Response-Normal {invoke-id-and-priority, result Get-Data-Result}.

    ``result`` is a :class:`DataAccessResult` (data-access-result [1]) or any other Data value (data [0]).
    """

    CHOICE: ClassVar[int] = 1

    invoke_id: int
    result: DataAccessResult | DataValue
    service_class: ServiceClass = _CONFIRMED
    priority: Priority = _HIGH
    reserved: int = field(default=0, repr=False)

    def encode(self) -> bytes:
        out = start(self, 0xC4, 1)
        result = self.result
        if type(result) is DataAccessResult:
            out.append(1)
            out.append(result)
        else:
            out.append(0)
            encode_data_into(out, result)
        return bytes(out)

    @classmethod
    def decode_from(cls, data: Buffer, offset: int = 0) -> tuple[Self, int]:
        iip = read_header(data, offset, 0xC4, 1, "get-response-normal")
        if offset + 3 < len(data) and data[offset + 3] == 0:
            result, end = decode_data(data, offset + 4)
        else:
            result, end = read_get_data_result(data, offset + 3)
        return cls(iip[0], result, iip[1], iip[2], iip[3]), end


@dataclass(slots=True)
class GetResponseWithDataBlock(GetResponse):
    """Get-Response-With-Datablock {invoke-id-and-priority, result DataBlock-G}."""

    CHOICE: ClassVar[int] = 2

    invoke_id: int
    result: DataBlockG
    service_class: ServiceClass = _CONFIRMED
    priority: Priority = _HIGH
    reserved: int = field(default=0, repr=False)

    def encode(self) -> bytes:
        out = start(self, 0xC4, 2)
        self.result.encode_into(out)
        return bytes(out)

    @classmethod
    def decode_from(cls, data: Buffer, offset: int = 0) -> tuple[Self, int]:
        iip = read_header(data, offset, 0xC4, 2, "get-response-with-datablock")
        result, end = DataBlockG.decode_from(data, offset + 3)
        return cls(iip[0], result, iip[1], iip[2], iip[3]), end


@dataclass(slots=True)
class GetResponseWithList(GetResponse):
    """Get-Response-With-List {invoke-id-and-priority, result SEQUENCE OF Get-Data-Result}."""

    CHOICE: ClassVar[int] = 3

    invoke_id: int
    result: list[DataAccessResult | DataValue]
    service_class: ServiceClass = _CONFIRMED
    priority: Priority = _HIGH
    reserved: int = field(default=0, repr=False)

    def encode(self) -> bytes:
        out = start(self, 0xC4, 3)
        write_get_data_results(out, self.result)
        return bytes(out)

    @classmethod
    def decode_from(cls, data: Buffer, offset: int = 0) -> tuple[Self, int]:
        iip = read_header(data, offset, 0xC4, 3, "get-response-with-list")
        items, pos = read_get_data_results(data, offset + 3)
        return cls(iip[0], items, iip[1], iip[2], iip[3]), pos


GetRequest.CHOICES = {c.CHOICE: c for c in (GetRequestNormal, GetRequestNext, GetRequestWithList)}
GetResponse.CHOICES = {
    c.CHOICE: c for c in (GetResponseNormal, GetResponseWithDataBlock, GetResponseWithList)
}
