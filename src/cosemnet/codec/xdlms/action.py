"""ACTION service APDUs: Action-Request (tag 0xC3) and Action-Response (tag 0xC7).

OPTIONAL Data components (``method-invocation-parameters``, ``return-parameters``) meet a clash:
``None`` is both "absent" and the Data value null-data. Design choice: ``None`` means absent, and
``explicit_null=True`` (only allowed together with ``None``) means "present, null-data" (``01 00``).
Decoding sets ``explicit_null`` only for that exact wire form, so every input round-trips.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Final, Self

from cosemnet.codec.axdr import Buffer, decode_data, encode_data_into
from cosemnet.codec.types import DataValue
from cosemnet.codec.xdlms.common import (
    ActionResult,
    ChoiceApdu,
    CosemMethodDescriptor,
    DataAccessResult,
    DataBlockSA,
    Priority,
    ServiceClass,
    decode_block_number_apdu,
    decode_datablock_apdu,
    encode_block_number_apdu,
    encode_datablock_apdu,
    read_action_result,
    read_data_list,
    read_element_list,
    read_get_data_result,
    read_header,
    read_method_list,
    read_optional_value,
    start,
    write_action_result,
    write_data_list,
    write_element_list,
    write_get_data_result,
    write_method_list,
    write_optional_value,
)

__all__ = [
    "ActionRequest",
    "ActionRequestNextPblock",
    "ActionRequestNormal",
    "ActionRequestWithFirstPblock",
    "ActionRequestWithList",
    "ActionRequestWithListAndFirstPblock",
    "ActionRequestWithPblock",
    "ActionResponse",
    "ActionResponseNextPblock",
    "ActionResponseNormal",
    "ActionResponseWithList",
    "ActionResponseWithOptionalData",
    "ActionResponseWithPblock",
]

_CONFIRMED: Final = ServiceClass.CONFIRMED
_HIGH: Final = Priority.HIGH


class ActionRequest(ChoiceApdu):
    """ACTION-Request CHOICE (tag 0xC3): ``ActionRequest.decode`` returns the matching subclass."""

    __slots__ = ()
    TAG: ClassVar[int] = 0xC3
    NAME: ClassVar[str] = "action-request"


class ActionResponse(ChoiceApdu):
    """ACTION-Response CHOICE (tag 0xC7): ``ActionResponse.decode`` returns the matching subclass."""

    __slots__ = ()
    TAG: ClassVar[int] = 0xC7
    NAME: ClassVar[str] = "action-response"


@dataclass(slots=True)
class ActionResponseWithOptionalData:
    """Action-Response-With-Optional-Data {result Action-Result, return-parameters Get-Data-Result
    OPTIONAL}.

    ``return_parameters``: ``None`` (absent unless ``explicit_null``), a :class:`DataAccessResult`
    (data-access-result [1]) or any other Data value (data [0]).
    """

    result: ActionResult
    return_parameters: DataAccessResult | DataValue = None
    explicit_null: bool = False

    def encode_into(self, out: bytearray) -> None:
        write_action_result(out, self.result)
        write_optional_value(
            out, self.return_parameters, self.explicit_null, "return_parameters", write_get_data_result
        )

    @classmethod
    def decode_from(cls, data: Buffer, offset: int) -> tuple[Self, int]:
        result = read_action_result(data, offset)
        value, explicit_null, end = read_optional_value(
            data, offset + 1, "the return-parameters usage flag", read_get_data_result
        )
        return cls(result, value, explicit_null), end


@dataclass(slots=True)
class ActionRequestNormal(ActionRequest):
    """Action-Request-Normal {invoke-id-and-priority, cosem-method-descriptor, method-invocation-parameters
    Data OPTIONAL}. See the module docstring for ``explicit_null``."""

    CHOICE: ClassVar[int] = 1

    invoke_id: int
    cosem_method_descriptor: CosemMethodDescriptor
    method_invocation_parameters: DataValue = None
    explicit_null: bool = False
    service_class: ServiceClass = _CONFIRMED
    priority: Priority = _HIGH
    reserved: int = field(default=0, repr=False)

    def encode(self) -> bytes:
        out = start(self, 0xC3, 1)
        self.cosem_method_descriptor.encode_into(out)
        write_optional_value(
            out,
            self.method_invocation_parameters,
            self.explicit_null,
            "method_invocation_parameters",
            encode_data_into,
        )
        return bytes(out)

    @classmethod
    def decode_from(cls, data: Buffer, offset: int = 0) -> tuple[Self, int]:
        iip = read_header(data, offset, 0xC3, 1, "action-request-normal")
        descriptor, pos = CosemMethodDescriptor.decode_from(data, offset + 3)
        value, explicit_null, pos = read_optional_value(
            data, pos, "the method-invocation-parameters usage flag", decode_data
        )
        return cls(iip[0], descriptor, value, explicit_null, iip[1], iip[2], iip[3]), pos


@dataclass(slots=True)
class ActionRequestNextPblock(ActionRequest):
    """Action-Request-Next-Pblock {invoke-id-and-priority, block-number Unsigned32}."""

    CHOICE: ClassVar[int] = 2

    invoke_id: int
    block_number: int
    service_class: ServiceClass = _CONFIRMED
    priority: Priority = _HIGH
    reserved: int = field(default=0, repr=False)

    def encode(self) -> bytes:
        return encode_block_number_apdu(self, 0xC3, 2, self.block_number)

    @classmethod
    def decode_from(cls, data: Buffer, offset: int = 0) -> tuple[Self, int]:
        iip, block_number, end = decode_block_number_apdu(data, offset, 0xC3, 2, "action-request-next-pblock")
        return cls(iip[0], block_number, iip[1], iip[2], iip[3]), end


@dataclass(slots=True)
class ActionRequestWithList(ActionRequest):
    """Action-Request-With-List {invoke-id-and-priority, cosem-method-descriptor-list SEQUENCE OF
    Cosem-Method-Descriptor, method-invocation-parameters SEQUENCE OF Data}."""

    CHOICE: ClassVar[int] = 3

    invoke_id: int
    cosem_method_descriptor_list: list[CosemMethodDescriptor]
    method_invocation_parameters: list[DataValue]
    service_class: ServiceClass = _CONFIRMED
    priority: Priority = _HIGH
    reserved: int = field(default=0, repr=False)

    def encode(self) -> bytes:
        out = start(self, 0xC3, 3)
        write_method_list(out, self.cosem_method_descriptor_list)
        write_data_list(out, self.method_invocation_parameters, "method-invocation-parameters")
        return bytes(out)

    @classmethod
    def decode_from(cls, data: Buffer, offset: int = 0) -> tuple[Self, int]:
        iip = read_header(data, offset, 0xC3, 3, "action-request-with-list")
        descriptors, pos = read_method_list(data, offset + 3)
        values, pos = read_data_list(data, pos, "method-invocation-parameters")
        return cls(iip[0], descriptors, values, iip[1], iip[2], iip[3]), pos


@dataclass(slots=True)
class ActionRequestWithFirstPblock(ActionRequest):
    """Action-Request-With-First-Pblock {invoke-id-and-priority, cosem-method-descriptor, pblock
    DataBlock-SA}."""

    CHOICE: ClassVar[int] = 4

    invoke_id: int
    cosem_method_descriptor: CosemMethodDescriptor
    pblock: DataBlockSA
    service_class: ServiceClass = _CONFIRMED
    priority: Priority = _HIGH
    reserved: int = field(default=0, repr=False)

    def encode(self) -> bytes:
        out = start(self, 0xC3, 4)
        self.cosem_method_descriptor.encode_into(out)
        self.pblock.encode_into(out)
        return bytes(out)

    @classmethod
    def decode_from(cls, data: Buffer, offset: int = 0) -> tuple[Self, int]:
        iip = read_header(data, offset, 0xC3, 4, "action-request-with-first-pblock")
        descriptor, pos = CosemMethodDescriptor.decode_from(data, offset + 3)
        pblock, pos = DataBlockSA.decode_from(data, pos)
        return cls(iip[0], descriptor, pblock, iip[1], iip[2], iip[3]), pos


@dataclass(slots=True)
class ActionRequestWithListAndFirstPblock(ActionRequest):
    """Action-Request-With-List-And-First-Pblock {invoke-id-and-priority, cosem-method-descriptor-list
    SEQUENCE OF Cosem-Method-Descriptor, pblock DataBlock-SA}."""

    CHOICE: ClassVar[int] = 5

    invoke_id: int
    cosem_method_descriptor_list: list[CosemMethodDescriptor]
    pblock: DataBlockSA
    service_class: ServiceClass = _CONFIRMED
    priority: Priority = _HIGH
    reserved: int = field(default=0, repr=False)

    def encode(self) -> bytes:
        out = start(self, 0xC3, 5)
        write_method_list(out, self.cosem_method_descriptor_list)
        self.pblock.encode_into(out)
        return bytes(out)

    @classmethod
    def decode_from(cls, data: Buffer, offset: int = 0) -> tuple[Self, int]:
        iip = read_header(data, offset, 0xC3, 5, "action-request-with-list-and-first-pblock")
        descriptors, pos = read_method_list(data, offset + 3)
        pblock, pos = DataBlockSA.decode_from(data, pos)
        return cls(iip[0], descriptors, pblock, iip[1], iip[2], iip[3]), pos


@dataclass(slots=True)
class ActionRequestWithPblock(ActionRequest):
    """Action-Request-With-Pblock {invoke-id-and-priority, pBlock DataBlock-SA}."""

    CHOICE: ClassVar[int] = 6

    invoke_id: int
    pblock: DataBlockSA
    service_class: ServiceClass = _CONFIRMED
    priority: Priority = _HIGH
    reserved: int = field(default=0, repr=False)

    def encode(self) -> bytes:
        return encode_datablock_apdu(self, 0xC3, 6, self.pblock)

    @classmethod
    def decode_from(cls, data: Buffer, offset: int = 0) -> tuple[Self, int]:
        iip, pblock, end = decode_datablock_apdu(data, offset, 0xC3, 6, "action-request-with-pblock")
        return cls(iip[0], pblock, iip[1], iip[2], iip[3]), end


@dataclass(slots=True)
class ActionResponseNormal(ActionResponse):
    """Action-Response-Normal {invoke-id-and-priority, single-response Action-Response-With-Optional-Data}."""

    CHOICE: ClassVar[int] = 1

    invoke_id: int
    single_response: ActionResponseWithOptionalData
    service_class: ServiceClass = _CONFIRMED
    priority: Priority = _HIGH
    reserved: int = field(default=0, repr=False)

    def encode(self) -> bytes:
        out = start(self, 0xC7, 1)
        self.single_response.encode_into(out)
        return bytes(out)

    @classmethod
    def decode_from(cls, data: Buffer, offset: int = 0) -> tuple[Self, int]:
        iip = read_header(data, offset, 0xC7, 1, "action-response-normal")
        response, pos = ActionResponseWithOptionalData.decode_from(data, offset + 3)
        return cls(iip[0], response, iip[1], iip[2], iip[3]), pos


@dataclass(slots=True)
class ActionResponseWithPblock(ActionResponse):
    """Action-Response-With-Pblock {invoke-id-and-priority, pblock DataBlock-SA}."""

    CHOICE: ClassVar[int] = 2

    invoke_id: int
    pblock: DataBlockSA
    service_class: ServiceClass = _CONFIRMED
    priority: Priority = _HIGH
    reserved: int = field(default=0, repr=False)

    def encode(self) -> bytes:
        return encode_datablock_apdu(self, 0xC7, 2, self.pblock)

    @classmethod
    def decode_from(cls, data: Buffer, offset: int = 0) -> tuple[Self, int]:
        iip, pblock, end = decode_datablock_apdu(data, offset, 0xC7, 2, "action-response-with-pblock")
        return cls(iip[0], pblock, iip[1], iip[2], iip[3]), end


@dataclass(slots=True)
class ActionResponseWithList(ActionResponse):
    """Action-Response-With-List {invoke-id-and-priority, list-of-responses SEQUENCE OF
    Action-Response-With-Optional-Data}."""

    CHOICE: ClassVar[int] = 3

    invoke_id: int
    list_of_responses: list[ActionResponseWithOptionalData]
    service_class: ServiceClass = _CONFIRMED
    priority: Priority = _HIGH
    reserved: int = field(default=0, repr=False)

    def encode(self) -> bytes:
        out = start(self, 0xC7, 3)
        write_element_list(out, self.list_of_responses, "list-of-responses")
        return bytes(out)

    @classmethod
    def decode_from(cls, data: Buffer, offset: int = 0) -> tuple[Self, int]:
        iip = read_header(data, offset, 0xC7, 3, "action-response-with-list")
        responses, pos = read_element_list(
            data, offset + 3, ActionResponseWithOptionalData.decode_from, "list-of-responses"
        )
        return cls(iip[0], responses, iip[1], iip[2], iip[3]), pos


@dataclass(slots=True)
class ActionResponseNextPblock(ActionResponse):
    """Action-Response-Next-Pblock {invoke-id-and-priority, block-number Unsigned32}."""

    CHOICE: ClassVar[int] = 4

    invoke_id: int
    block_number: int
    service_class: ServiceClass = _CONFIRMED
    priority: Priority = _HIGH
    reserved: int = field(default=0, repr=False)

    def encode(self) -> bytes:
        return encode_block_number_apdu(self, 0xC7, 4, self.block_number)

    @classmethod
    def decode_from(cls, data: Buffer, offset: int = 0) -> tuple[Self, int]:
        iip, block_number, end = decode_block_number_apdu(
            data, offset, 0xC7, 4, "action-response-next-pblock"
        )
        return cls(iip[0], block_number, iip[1], iip[2], iip[3]), end


ActionRequest.CHOICES = {
    c.CHOICE: c
    for c in (
        ActionRequestNormal,
        ActionRequestNextPblock,
        ActionRequestWithList,
        ActionRequestWithFirstPblock,
        ActionRequestWithListAndFirstPblock,
        ActionRequestWithPblock,
    )
}
ActionResponse.CHOICES = {
    c.CHOICE: c
    for c in (
        ActionResponseNormal,
        ActionResponseWithPblock,
        ActionResponseWithList,
        ActionResponseNextPblock,
    )
}
