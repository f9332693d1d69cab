"""SET service APDUs: Set-Request (tag 0xC1) and Set-Response (tag 0xC5).

Invoke-Id-And-Priority is split as in :mod:`cosemnet.codec.xdlms.get`. Fields follow the ASN.1 order,
so an OPTIONAL ``access_selection`` in the middle of a SEQUENCE has no default (pass ``None``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Final, Self

from cosemnet.codec.axdr import Buffer, decode_data, encode_data_into
from cosemnet.codec.types import DataValue
from cosemnet.codec.xdlms.common import (
    ChoiceApdu,
    CosemAttributeDescriptor,
    CosemAttributeDescriptorWithSelection,
    DataAccessResult,
    DataBlockSA,
    Priority,
    SelectiveAccessDescriptor,
    ServiceClass,
    decode_block_number_apdu,
    decode_datablock_apdu,
    encode_block_number_apdu,
    encode_datablock_apdu,
    read_data_access_result,
    read_data_access_results,
    read_data_list,
    read_descriptor_list,
    read_header,
    read_optional_selection,
    read_u32,
    start,
    write_data_access_result,
    write_data_access_results,
    write_data_list,
    write_descriptor_list,
    write_optional_selection,
    write_u32,
)

__all__ = [
    "SetRequest",
    "SetRequestNormal",
    "SetRequestWithDatablock",
    "SetRequestWithFirstDatablock",
    "SetRequestWithList",
    "SetRequestWithListAndFirstDatablock",
    "SetResponse",
    "SetResponseDatablock",
    "SetResponseLastDatablock",
    "SetResponseLastDatablockWithList",
    "SetResponseNormal",
    "SetResponseWithList",
]

_CONFIRMED: Final = ServiceClass.CONFIRMED
_HIGH: Final = Priority.HIGH


class SetRequest(ChoiceApdu):
    """SET-Request CHOICE (tag 0xC1): ``SetRequest.decode`` returns the matching subclass."""

    __slots__ = ()
    TAG: ClassVar[int] = 0xC1
    NAME: ClassVar[str] = "set-request"


class SetResponse(ChoiceApdu):
    """SET-Response CHOICE (tag 0xC5): ``SetResponse.decode`` returns the matching subclass."""

    __slots__ = ()
    TAG: ClassVar[int] = 0xC5
    NAME: ClassVar[str] = "set-response"


@dataclass(slots=True)
class SetRequestNormal(SetRequest):
    """Set-Request-Normal {invoke-id-and-priority, cosem-attribute-descriptor, access-selection OPTIONAL,
    value Data}."""

    CHOICE: ClassVar[int] = 1

    invoke_id: int
    cosem_attribute_descriptor: CosemAttributeDescriptor
    access_selection: SelectiveAccessDescriptor | None
    value: DataValue
    service_class: ServiceClass = _CONFIRMED
    priority: Priority = _HIGH
    reserved: int = field(default=0, repr=False)

    def encode(self) -> bytes:
        out = start(self, 0xC1, 1)
        self.cosem_attribute_descriptor.encode_into(out)
        write_optional_selection(out, self.access_selection)
        encode_data_into(out, self.value)
        return bytes(out)

    @classmethod
    def decode_from(cls, data: Buffer, offset: int = 0) -> tuple[Self, int]:
        iip = read_header(data, offset, 0xC1, 1, "set-request-normal")
        descriptor, pos = CosemAttributeDescriptor.decode_from(data, offset + 3)
        selection, pos = read_optional_selection(data, pos)
        value, pos = decode_data(data, pos)
        return cls(iip[0], descriptor, selection, value, iip[1], iip[2], iip[3]), pos


@dataclass(slots=True)
class SetRequestWithFirstDatablock(SetRequest):
    """Set-Request-With-First-Datablock {invoke-id-and-priority, cosem-attribute-descriptor,
    access-selection OPTIONAL, datablock DataBlock-SA}."""

    CHOICE: ClassVar[int] = 2

    invoke_id: int
    cosem_attribute_descriptor: CosemAttributeDescriptor
    access_selection: SelectiveAccessDescriptor | None
    datablock: DataBlockSA
    service_class: ServiceClass = _CONFIRMED
    priority: Priority = _HIGH
    reserved: int = field(default=0, repr=False)

    def encode(self) -> bytes:
        out = start(self, 0xC1, 2)
        self.cosem_attribute_descriptor.encode_into(out)
        write_optional_selection(out, self.access_selection)
        self.datablock.encode_into(out)
        return bytes(out)

    @classmethod
    def decode_from(cls, data: Buffer, offset: int = 0) -> tuple[Self, int]:
        iip = read_header(data, offset, 0xC1, 2, "set-request-with-first-datablock")
        descriptor, pos = CosemAttributeDescriptor.decode_from(data, offset + 3)
        selection, pos = read_optional_selection(data, pos)
        datablock, pos = DataBlockSA.decode_from(data, pos)
        return cls(iip[0], descriptor, selection, datablock, iip[1], iip[2], iip[3]), pos


@dataclass(slots=True)
class SetRequestWithDatablock(SetRequest):
    """Set-Request-With-Datablock {invoke-id-and-priority, datablock DataBlock-SA}."""

    CHOICE: ClassVar[int] = 3

    invoke_id: int
    datablock: DataBlockSA
    service_class: ServiceClass = _CONFIRMED
    priority: Priority = _HIGH
    reserved: int = field(default=0, repr=False)

    def encode(self) -> bytes:
        return encode_datablock_apdu(self, 0xC1, 3, self.datablock)

    @classmethod
    def decode_from(cls, data: Buffer, offset: int = 0) -> tuple[Self, int]:
        iip, datablock, end = decode_datablock_apdu(data, offset, 0xC1, 3, "set-request-with-datablock")
        return cls(iip[0], datablock, iip[1], iip[2], iip[3]), end


@dataclass(slots=True)
class SetRequestWithList(SetRequest):
    """Set-Request-With-List {invoke-id-and-priority, attribute-descriptor-list SEQUENCE OF
    Cosem-Attribute-Descriptor-With-Selection, value-list SEQUENCE OF Data}."""

    CHOICE: ClassVar[int] = 4

    invoke_id: int
    attribute_descriptor_list: list[CosemAttributeDescriptorWithSelection]
    value_list: list[DataValue]
    service_class: ServiceClass = _CONFIRMED
    priority: Priority = _HIGH
    reserved: int = field(default=0, repr=False)

    def encode(self) -> bytes:
        out = start(self, 0xC1, 4)
        write_descriptor_list(out, self.attribute_descriptor_list)
        write_data_list(out, self.value_list, "value-list")
        return bytes(out)

    @classmethod
    def decode_from(cls, data: Buffer, offset: int = 0) -> tuple[Self, int]:
        iip = read_header(data, offset, 0xC1, 4, "set-request-with-list")
        descriptors, pos = read_descriptor_list(data, offset + 3)
        values, pos = read_data_list(data, pos, "value-list")
        return cls(iip[0], descriptors, values, iip[1], iip[2], iip[3]), pos


@dataclass(slots=True)
class SetRequestWithListAndFirstDatablock(SetRequest):
    """Set-Request-With-List-And-First-Datablock {invoke-id-and-priority, attribute-descriptor-list
    SEQUENCE OF Cosem-Attribute-Descriptor-With-Selection, datablock DataBlock-SA}."""

    CHOICE: ClassVar[int] = 5

    invoke_id: int
    attribute_descriptor_list: list[CosemAttributeDescriptorWithSelection]
    datablock: DataBlockSA
    service_class: ServiceClass = _CONFIRMED
    priority: Priority = _HIGH
    reserved: int = field(default=0, repr=False)

    def encode(self) -> bytes:
        out = start(self, 0xC1, 5)
        write_descriptor_list(out, self.attribute_descriptor_list)
        self.datablock.encode_into(out)
        return bytes(out)

    @classmethod
    def decode_from(cls, data: Buffer, offset: int = 0) -> tuple[Self, int]:
        iip = read_header(data, offset, 0xC1, 5, "set-request-with-list-and-first-datablock")
        descriptors, pos = read_descriptor_list(data, offset + 3)
        datablock, pos = DataBlockSA.decode_from(data, pos)
        return cls(iip[0], descriptors, datablock, iip[1], iip[2], iip[3]), pos


@dataclass(slots=True)
class SetResponseNormal(SetResponse):
    """Set-Response-Normal {invoke-id-and-priority, result Data-Access-Result}."""

    CHOICE: ClassVar[int] = 1

    invoke_id: int
    result: DataAccessResult
    service_class: ServiceClass = _CONFIRMED
    priority: Priority = _HIGH
    reserved: int = field(default=0, repr=False)

    def encode(self) -> bytes:
        out = start(self, 0xC5, 1)
        write_data_access_result(out, self.result)
        return bytes(out)

    @classmethod
    def decode_from(cls, data: Buffer, offset: int = 0) -> tuple[Self, int]:
        iip = read_header(data, offset, 0xC5, 1, "set-response-normal")
        result = read_data_access_result(data, offset + 3)
        return cls(iip[0], result, iip[1], iip[2], iip[3]), offset + 4


@dataclass(slots=True)
class SetResponseDatablock(SetResponse):
    """Set-Response-Datablock {invoke-id-and-priority, block-number Unsigned32}."""

    CHOICE: ClassVar[int] = 2

    invoke_id: int
    block_number: int
    service_class: ServiceClass = _CONFIRMED
    priority: Priority = _HIGH
    reserved: int = field(default=0, repr=False)

    def encode(self) -> bytes:
        return encode_block_number_apdu(self, 0xC5, 2, self.block_number)

    @classmethod
    def decode_from(cls, data: Buffer, offset: int = 0) -> tuple[Self, int]:
        iip, block_number, end = decode_block_number_apdu(data, offset, 0xC5, 2, "set-response-datablock")
        return cls(iip[0], block_number, iip[1], iip[2], iip[3]), end


@dataclass(slots=True)
class SetResponseLastDatablock(SetResponse):
    """Set-Response-Last-Datablock {invoke-id-and-priority, result Data-Access-Result, block-number
    Unsigned32}."""

    CHOICE: ClassVar[int] = 3

    invoke_id: int
    result: DataAccessResult
    block_number: int
    service_class: ServiceClass = _CONFIRMED
    priority: Priority = _HIGH
    reserved: int = field(default=0, repr=False)

    def encode(self) -> bytes:
        out = start(self, 0xC5, 3)
        write_data_access_result(out, self.result)
        write_u32(out, self.block_number, "block-number")
        return bytes(out)

    @classmethod
    def decode_from(cls, data: Buffer, offset: int = 0) -> tuple[Self, int]:
        iip = read_header(data, offset, 0xC5, 3, "set-response-last-datablock")
        result = read_data_access_result(data, offset + 3)
        block_number = read_u32(data, offset + 4, "block-number")
        return cls(iip[0], result, block_number, iip[1], iip[2], iip[3]), offset + 8


@dataclass(slots=True)
class SetResponseLastDatablockWithList(SetResponse):
    """Set-Response-Last-Datablock-With-List {invoke-id-and-priority, result SEQUENCE OF
    Data-Access-Result, block-number Unsigned32}."""

    CHOICE: ClassVar[int] = 4

    invoke_id: int
    result: list[DataAccessResult]
    block_number: int
    service_class: ServiceClass = _CONFIRMED
    priority: Priority = _HIGH
    reserved: int = field(default=0, repr=False)

    def encode(self) -> bytes:
        out = start(self, 0xC5, 4)
        write_data_access_results(out, self.result)
        write_u32(out, self.block_number, "block-number")
        return bytes(out)

    @classmethod
    def decode_from(cls, data: Buffer, offset: int = 0) -> tuple[Self, int]:
        iip = read_header(data, offset, 0xC5, 4, "set-response-last-datablock-with-list")
        results, pos = read_data_access_results(data, offset + 3)
        block_number = read_u32(data, pos, "block-number")
        return cls(iip[0], results, block_number, iip[1], iip[2], iip[3]), pos + 4


@dataclass(slots=True)
class SetResponseWithList(SetResponse):
    """Set-Response-With-List {invoke-id-and-priority, result SEQUENCE OF Data-Access-Result}."""

    CHOICE: ClassVar[int] = 5

    invoke_id: int
    result: list[DataAccessResult]
    service_class: ServiceClass = _CONFIRMED
    priority: Priority = _HIGH
    reserved: int = field(default=0, repr=False)

    def encode(self) -> bytes:
        out = start(self, 0xC5, 5)
        write_data_access_results(out, self.result)
        return bytes(out)

    @classmethod
    def decode_from(cls, data: Buffer, offset: int = 0) -> tuple[Self, int]:
        iip = read_header(data, offset, 0xC5, 5, "set-response-with-list")
        results, pos = read_data_access_results(data, offset + 3)
        return cls(iip[0], results, iip[1], iip[2], iip[3]), pos


SetRequest.CHOICES = {
    c.CHOICE: c
    for c in (
        SetRequestNormal,
        SetRequestWithFirstDatablock,
        SetRequestWithDatablock,
        SetRequestWithList,
        SetRequestWithListAndFirstDatablock,
    )
}
SetResponse.CHOICES = {
    c.CHOICE: c
    for c in (
        SetResponseNormal,
        SetResponseDatablock,
        SetResponseLastDatablock,
        SetResponseLastDatablockWithList,
        SetResponseWithList,
    )
}
