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
    check_header,
    header,
    read_action_result,
    read_data_list,
    read_element_list,
    read_flag,
    read_get_data_result,
    read_iip,
    read_u32,
    write_action_result,
    write_data_list,
    write_element_list,
    write_get_data_result,
    write_u32,
)
from cosemnet.errors import EncodeError

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


def _check_explicit_null(value: object, explicit_null: bool, name: str) -> None:
    if explicit_null and value is not None:
        raise EncodeError(f"explicit_null is only meaningful when {name} is None")


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
        value = self.return_parameters
        if value is None and not self.explicit_null:
            out.append(0)
            return
        _check_explicit_null(value, self.explicit_null, "return_parameters")
        out.append(1)
        write_get_data_result(out, value)

    @classmethod
    def decode_from(cls, data: Buffer, offset: int) -> tuple[Self, int]:
        result = read_action_result(data, offset)
        if not read_flag(data, offset + 1, "the return-parameters usage flag"):
            return cls(result), offset + 2
        value, end = read_get_data_result(data, offset + 2)
        return cls(result, value, value is None), end


def _write_method_list(out: bytearray, items: list[CosemMethodDescriptor]) -> None:
    write_element_list(out, items, "cosem-method-descriptor-list")


def _read_method_list(data: Buffer, offset: int) -> tuple[list[CosemMethodDescriptor], int]:
    return read_element_list(data, offset, CosemMethodDescriptor.decode_from, "cosem-method-descriptor-list")


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
        out = header(0xC3, 1, self.invoke_id, self.service_class, self.priority, self.reserved)
        self.cosem_method_descriptor.encode_into(out)
        value = self.method_invocation_parameters
        if value is None and not self.explicit_null:
            out.append(0)
        else:
            _check_explicit_null(value, self.explicit_null, "method_invocation_parameters")
            out.append(1)
            encode_data_into(out, value)
        return bytes(out)

    @classmethod
    def decode_from(cls, data: Buffer, offset: int = 0) -> tuple[Self, int]:
        check_header(data, offset, 0xC3, 1, "action-request-normal")
        iip = read_iip(data, offset + 2)
        descriptor, pos = CosemMethodDescriptor.decode_from(data, offset + 3)
        value: DataValue = None
        explicit_null = False
        if read_flag(data, pos, "the method-invocation-parameters usage flag"):
            value, pos = decode_data(data, pos + 1)
            explicit_null = value is None
        else:
            pos += 1
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
        out = header(0xC3, 2, self.invoke_id, self.service_class, self.priority, self.reserved)
        write_u32(out, self.block_number, "block-number")
        return bytes(out)

    @classmethod
    def decode_from(cls, data: Buffer, offset: int = 0) -> tuple[Self, int]:
        check_header(data, offset, 0xC3, 2, "action-request-next-pblock")
        iip = read_iip(data, offset + 2)
        block_number = read_u32(data, offset + 3, "block-number")
        return cls(iip[0], block_number, iip[1], iip[2], iip[3]), offset + 7


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
        out = header(0xC3, 3, self.invoke_id, self.service_class, self.priority, self.reserved)
        _write_method_list(out, self.cosem_method_descriptor_list)
        write_data_list(out, self.method_invocation_parameters, "method-invocation-parameters")
        return bytes(out)

    @classmethod
    def decode_from(cls, data: Buffer, offset: int = 0) -> tuple[Self, int]:
        check_header(data, offset, 0xC3, 3, "action-request-with-list")
        iip = read_iip(data, offset + 2)
        descriptors, pos = _read_method_list(data, offset + 3)
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
        out = header(0xC3, 4, self.invoke_id, self.service_class, self.priority, self.reserved)
        self.cosem_method_descriptor.encode_into(out)
        self.pblock.encode_into(out)
        return bytes(out)

    @classmethod
    def decode_from(cls, data: Buffer, offset: int = 0) -> tuple[Self, int]:
        check_header(data, offset, 0xC3, 4, "action-request-with-first-pblock")
        iip = read_iip(data, offset + 2)
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
        out = header(0xC3, 5, self.invoke_id, self.service_class, self.priority, self.reserved)
        _write_method_list(out, self.cosem_method_descriptor_list)
        self.pblock.encode_into(out)
        return bytes(out)

    @classmethod
    def decode_from(cls, data: Buffer, offset: int = 0) -> tuple[Self, int]:
        check_header(data, offset, 0xC3, 5, "action-request-with-list-and-first-pblock")
        iip = read_iip(data, offset + 2)
        descriptors, pos = _read_method_list(data, offset + 3)
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
        out = header(0xC3, 6, self.invoke_id, self.service_class, self.priority, self.reserved)
        self.pblock.encode_into(out)
        return bytes(out)

    @classmethod
    def decode_from(cls, data: Buffer, offset: int = 0) -> tuple[Self, int]:
        check_header(data, offset, 0xC3, 6, "action-request-with-pblock")
        iip = read_iip(data, offset + 2)
        pblock, pos = DataBlockSA.decode_from(data, offset + 3)
        return cls(iip[0], pblock, iip[1], iip[2], iip[3]), pos


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
        out = header(0xC7, 1, self.invoke_id, self.service_class, self.priority, self.reserved)
        self.single_response.encode_into(out)
        return bytes(out)

    @classmethod
    def decode_from(cls, data: Buffer, offset: int = 0) -> tuple[Self, int]:
        check_header(data, offset, 0xC7, 1, "action-response-normal")
        iip = read_iip(data, offset + 2)
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
        out = header(0xC7, 2, self.invoke_id, self.service_class, self.priority, self.reserved)
        self.pblock.encode_into(out)
        return bytes(out)

    @classmethod
    def decode_from(cls, data: Buffer, offset: int = 0) -> tuple[Self, int]:
        check_header(data, offset, 0xC7, 2, "action-response-with-pblock")
        iip = read_iip(data, offset + 2)
        pblock, pos = DataBlockSA.decode_from(data, offset + 3)
        return cls(iip[0], pblock, iip[1], iip[2], iip[3]), pos


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
        out = header(0xC7, 3, self.invoke_id, self.service_class, self.priority, self.reserved)
        write_element_list(out, self.list_of_responses, "list-of-responses")
        return bytes(out)

    @classmethod
    def decode_from(cls, data: Buffer, offset: int = 0) -> tuple[Self, int]:
        check_header(data, offset, 0xC7, 3, "action-response-with-list")
        iip = read_iip(data, offset + 2)
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
        out = header(0xC7, 4, self.invoke_id, self.service_class, self.priority, self.reserved)
        write_u32(out, self.block_number, "block-number")
        return bytes(out)

    @classmethod
    def decode_from(cls, data: Buffer, offset: int = 0) -> tuple[Self, int]:
        check_header(data, offset, 0xC7, 4, "action-response-next-pblock")
        iip = read_iip(data, offset + 2)
        block_number = read_u32(data, offset + 3, "block-number")
        return cls(iip[0], block_number, iip[1], iip[2], iip[3]), offset + 7


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
