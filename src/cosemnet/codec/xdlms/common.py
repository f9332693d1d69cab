"""Building blocks shared by the xDLMS service APDUs (IEC 62056-5-3, A-XDR encoded).

A-XDR rules used throughout (the ASN.1 is the Green Book's xDLMS module):

* fixed-size integers (Unsigned8/16/32, Integer8) are big-endian without a length;
* ``OCTET STRING`` carries an A-XDR length, ``OCTET STRING (SIZE(n))`` does not;
* ``SEQUENCE OF`` is an A-XDR length (the element count) followed by the elements;
* ``CHOICE`` is one byte (the alternative's tag) followed by the alternative;
* ``OPTIONAL`` is a usage flag byte, ``00`` absent or ``01`` present, then the component;
* ``BOOLEAN`` is one byte.

Decoders accept only ``00``/``01`` for usage flags and booleans (design choice: any other byte would not
round-trip exactly, so it is rejected with :class:`DecodeError`). Enumerations outside the values the
standard defines are rejected the same way.

Every decoder works with absolute offsets into the caller's buffer and raises only
:class:`cosemnet.errors.DecodeError`; every encoder raises only :class:`cosemnet.errors.EncodeError`.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import ClassVar, Final, Protocol, Self, TypeVar, cast

from cosemnet.codec.axdr import Buffer, decode_data, decode_length, encode_data_into, encode_length
from cosemnet.codec.obis import Obis
from cosemnet.codec.types import DataValue
from cosemnet.errors import DecodeError, EncodeError

__all__ = [
    "ActionResult",
    "Buffer",
    "ChoiceApdu",
    "CosemAttributeDescriptor",
    "CosemAttributeDescriptorWithSelection",
    "CosemMethodDescriptor",
    "DataAccessResult",
    "DataBlockG",
    "DataBlockSA",
    "Priority",
    "SelectiveAccessDescriptor",
    "ServiceClass",
    "XdlmsApdu",
    "decode_invoke_id_and_priority",
    "encode_invoke_id_and_priority",
]

U16: Final = struct.Struct(">H")
U32: Final = struct.Struct(">I")
ATTRIBUTE_DESCRIPTOR: Final = struct.Struct(">H6sb")  # class-id, instance-id, attribute-id / method-id

new_obis: Final = bytes.__new__  # build an Obis from 6 unpacked bytes without re-validating the length


# --------------------------------------------------------------------------------------------------
# Invoke-Id-And-Priority


class ServiceClass(IntEnum):
    """Bit 6 of Invoke-Id-And-Priority (bit 30 of Long-Invoke-Id-And-Priority)."""

    UNCONFIRMED = 0
    CONFIRMED = 1


class Priority(IntEnum):
    """Bit 7 of Invoke-Id-And-Priority (bit 31 of Long-Invoke-Id-And-Priority)."""

    NORMAL = 0
    HIGH = 1


IIP_FIELDS: Final[tuple[tuple[int, ServiceClass, Priority, int], ...]] = tuple(
    (b & 0x0F, ServiceClass((b >> 6) & 1), Priority(b >> 7), (b >> 4) & 3) for b in range(256)
)
"""Invoke-Id-And-Priority byte -> (invoke_id, service_class, priority, reserved)."""


def encode_invoke_id_and_priority(
    invoke_id: int, service_class: int = 1, priority: int = 1, reserved: int = 0
) -> int:
    """The Invoke-Id-And-Priority byte: bits 0-3 invoke-id, 4-5 reserved, 6 service-class, 7 priority."""
    try:
        if invoke_id >> 4 or reserved >> 2 or service_class >> 1 or priority >> 1:
            raise EncodeError(
                f"invoke-id-and-priority out of range: invoke_id {invoke_id!r} (0..15), reserved "
                f"{reserved!r} (0..3), service_class {service_class!r} and priority {priority!r} (0..1)"
            )
        return invoke_id | reserved << 4 | service_class << 6 | priority << 7
    except TypeError:
        raise EncodeError("invoke-id-and-priority fields must be integers") from None


_HEADER: Final = struct.Struct(">BBB")


def header(
    tag: int, choice: int, invoke_id: int, service_class: int, priority: int, reserved: int
) -> bytearray:
    """A new buffer holding tag, CHOICE byte and Invoke-Id-And-Priority."""
    iip = encode_invoke_id_and_priority(invoke_id, service_class, priority, reserved)
    return bytearray(_HEADER.pack(tag, choice, iip))


def read_iip(data: Buffer, offset: int) -> tuple[int, ServiceClass, Priority, int]:
    """Read an Invoke-Id-And-Priority byte: (invoke_id, service_class, priority, reserved)."""
    if offset >= len(data):
        raise DecodeError("input ends before invoke-id-and-priority", offset, "1 byte")
    return IIP_FIELDS[data[offset]]


def decode_invoke_id_and_priority(value: int) -> tuple[int, ServiceClass, Priority, int]:
    """Split an Invoke-Id-And-Priority byte into (invoke_id, service_class, priority, reserved)."""
    return IIP_FIELDS[value]


class HasInvokeIdAndPriority(Protocol):
    """An APDU carrying the four Invoke-Id-And-Priority fields (every GET/SET/ACTION variant)."""

    @property
    def invoke_id(self) -> int: ...
    @property
    def service_class(self) -> int: ...
    @property
    def priority(self) -> int: ...
    @property
    def reserved(self) -> int: ...


def start(apdu: HasInvokeIdAndPriority, tag: int, choice: int) -> bytearray:
    """A new buffer holding tag, CHOICE byte and the APDU's Invoke-Id-And-Priority."""
    return header(tag, choice, apdu.invoke_id, apdu.service_class, apdu.priority, apdu.reserved)


def read_header(
    data: Buffer, offset: int, tag: int, choice: int, name: str
) -> tuple[int, ServiceClass, Priority, int]:
    """Check tag and CHOICE byte at ``offset`` and read the Invoke-Id-And-Priority after them."""
    if offset + 3 <= len(data) and data[offset] == tag and data[offset + 1] == choice:
        return IIP_FIELDS[data[offset + 2]]
    check_header(data, offset, tag, choice, name)
    return read_iip(data, offset + 2)


# --------------------------------------------------------------------------------------------------
# Result enumerations


class DataAccessResult(IntEnum):
    """Data-Access-Result (Green Book xDLMS ASN.1)."""

    SUCCESS = 0
    HARDWARE_FAULT = 1
    TEMPORARY_FAILURE = 2
    READ_WRITE_DENIED = 3
    OBJECT_UNDEFINED = 4
    OBJECT_CLASS_INCONSISTENT = 9
    OBJECT_UNAVAILABLE = 11
    TYPE_UNMATCHED = 12
    SCOPE_OF_ACCESS_VIOLATED = 13
    DATA_BLOCK_UNAVAILABLE = 14
    LONG_GET_ABORTED = 15
    NO_LONG_GET_IN_PROGRESS = 16
    LONG_SET_ABORTED = 17
    NO_LONG_SET_IN_PROGRESS = 18
    DATA_BLOCK_NUMBER_INVALID = 19
    OTHER_REASON = 250


class ActionResult(IntEnum):
    """Action-Result (Green Book xDLMS ASN.1)."""

    SUCCESS = 0
    HARDWARE_FAULT = 1
    TEMPORARY_FAILURE = 2
    READ_WRITE_DENIED = 3
    OBJECT_UNDEFINED = 4
    OBJECT_CLASS_INCONSISTENT = 9
    OBJECT_UNAVAILABLE = 11
    TYPE_UNMATCHED = 12
    SCOPE_OF_ACCESS_VIOLATED = 13
    DATA_BLOCK_UNAVAILABLE = 14
    LONG_ACTION_ABORTED = 15
    NO_LONG_ACTION_IN_PROGRESS = 16
    OTHER_REASON = 250


def _table(enum: type[IntEnum]) -> tuple[IntEnum | None, ...]:
    by_value = {int(m): m for m in enum}
    return tuple(by_value.get(b) for b in range(256))


DATA_ACCESS_RESULTS: Final = cast("tuple[DataAccessResult | None, ...]", _table(DataAccessResult))
ACTION_RESULTS: Final = cast("tuple[ActionResult | None, ...]", _table(ActionResult))


# --------------------------------------------------------------------------------------------------
# Low-level readers and writers (absolute offsets, DecodeError only)


def need(data: Buffer, offset: int, size: int, what: str) -> None:
    """Raise DecodeError unless ``size`` bytes are available at ``offset``."""
    if offset + size > len(data):
        raise DecodeError(f"input ends inside {what}", offset, f"{size} bytes")


def read_byte(data: Buffer, offset: int, what: str) -> int:
    if offset >= len(data):
        raise DecodeError(f"input ends before {what}", offset, what)
    return data[offset]


def read_flag(data: Buffer, offset: int, what: str) -> bool:
    """A usage flag (OPTIONAL) or BOOLEAN: exactly 00 or 01."""
    if offset >= len(data):
        raise DecodeError(f"input ends before {what}", offset, what)
    b = data[offset]
    if b > 1:
        raise DecodeError(f"{what} is 0x{b:02X}", offset, "00 or 01")
    return b == 1


def read_u16(data: Buffer, offset: int, what: str) -> int:
    if offset + 2 > len(data):
        raise DecodeError(f"input ends inside {what}", offset, "2 bytes")
    return cast(int, U16.unpack_from(data, offset)[0])


def read_u32(data: Buffer, offset: int, what: str) -> int:
    if offset + 4 > len(data):
        raise DecodeError(f"input ends inside {what}", offset, "4 bytes")
    return cast(int, U32.unpack_from(data, offset)[0])


def read_octet_string(data: Buffer, offset: int, what: str) -> tuple[bytes, int]:
    """A length-prefixed OCTET STRING."""
    n, start = decode_length(data, offset)
    end = start + n
    if end > len(data):
        raise DecodeError(f"{what} of {n} bytes is longer than the input", offset, f"{n} bytes")
    return bytes(data[start:end]), end


def read_count(data: Buffer, offset: int, what: str) -> tuple[int, int]:
    """The element count of a SEQUENCE OF whose elements take at least one byte each."""
    n, end = decode_length(data, offset)
    if n > len(data) - end:
        raise DecodeError(f"{what} of {n} elements is longer than the input", offset, "fewer elements")
    return n, end


def read_data_access_result(data: Buffer, offset: int) -> DataAccessResult:
    if offset >= len(data):
        raise DecodeError("input ends before a data-access-result", offset, "Data-Access-Result")
    result = DATA_ACCESS_RESULTS[data[offset]]
    if result is None:
        raise DecodeError(f"unknown data-access-result {data[offset]}", offset, "Data-Access-Result")
    return result


def read_action_result(data: Buffer, offset: int) -> ActionResult:
    if offset >= len(data):
        raise DecodeError("input ends before an action-result", offset, "Action-Result")
    result = ACTION_RESULTS[data[offset]]
    if result is None:
        raise DecodeError(f"unknown action-result {data[offset]}", offset, "Action-Result")
    return result


def write_u8(out: bytearray, value: int, what: str) -> None:
    try:
        if value >> 8:
            raise EncodeError(f"{what} must be 0..255, got {value}")
        out.append(value)
    except TypeError:
        raise EncodeError(f"{what} must be an integer, got {type(value).__name__}") from None


def write_u16(out: bytearray, value: int, what: str) -> None:
    try:
        out += U16.pack(value)
    except struct.error:
        raise EncodeError(f"{what} must be 0..65535, got {value!r}") from None


def write_u32(out: bytearray, value: int, what: str) -> None:
    try:
        out += U32.pack(value)
    except struct.error:
        raise EncodeError(f"{what} must be 0..4294967295, got {value!r}") from None


def write_octet_string(out: bytearray, value: bytes, what: str) -> None:
    if not isinstance(value, bytes | bytearray | memoryview):
        raise EncodeError(f"{what} must be bytes, got {type(value).__name__}")
    encode_length(len(value), out)
    out += value


def write_count(out: bytearray, items: Sequence[object], what: str) -> None:
    if not isinstance(items, list | tuple):
        raise EncodeError(f"{what} must be a list, got {type(items).__name__}")
    encode_length(len(items), out)


class ListElement(Protocol):
    def encode_into(self, out: bytearray) -> None: ...


E = TypeVar("E")
V = TypeVar("V")


def write_element_list(out: bytearray, items: Sequence[ListElement], what: str) -> None:
    """A SEQUENCE OF a structured element (descriptors, action responses): the count, then each one."""
    write_count(out, items, what)
    for item in items:
        item.encode_into(out)


def read_element_list(
    data: Buffer, offset: int, decode_from: Callable[[Buffer, int], tuple[E, int]], what: str
) -> tuple[list[E], int]:
    """A SEQUENCE OF a structured element, each read with ``decode_from(data, offset)``."""
    count, pos = read_count(data, offset, what)
    items: list[E] = []
    for _ in range(count):
        item, pos = decode_from(data, pos)
        items.append(item)
    return items, pos


def write_data_list(out: bytearray, values: Sequence[DataValue], what: str) -> None:
    """A SEQUENCE OF Data: the count, then each value."""
    write_count(out, values, what)
    for value in values:
        encode_data_into(out, value)


def read_data_list(data: Buffer, offset: int, what: str) -> tuple[list[DataValue], int]:
    """A SEQUENCE OF Data: the count, then each value."""
    count, pos = read_count(data, offset, what)
    values: list[DataValue] = []
    for _ in range(count):
        value, pos = decode_data(data, pos)
        values.append(value)
    return values, pos


def write_data_access_result(out: bytearray, value: DataAccessResult) -> None:
    if type(value) is not DataAccessResult:
        try:
            value = DataAccessResult(value)
        except ValueError:
            raise EncodeError(f"{value!r} is not a Data-Access-Result") from None
    out.append(value)


def write_action_result(out: bytearray, value: ActionResult) -> None:
    if type(value) is not ActionResult:
        try:
            value = ActionResult(value)
        except ValueError:
            raise EncodeError(f"{value!r} is not an Action-Result") from None
    out.append(value)


def check_header(data: Buffer, offset: int, tag: int, choice: int | None, name: str) -> None:
    """Check the APDU tag (and CHOICE byte) at ``offset``."""
    size = 1 if choice is None else 2
    if offset + size > len(data):
        raise DecodeError(f"input ends inside the {name} header", offset, f"{size} bytes")
    if data[offset] != tag:
        raise DecodeError(f"tag 0x{data[offset]:02X} is not {name}", offset, f"0x{tag:02X}")
    if choice is not None and data[offset + 1] != choice:
        raise DecodeError(f"choice {data[offset + 1]} is not {name}", offset + 1, str(choice))


# --------------------------------------------------------------------------------------------------
# Descriptors


def _pack_descriptor(class_id: int, instance_id: bytes, member_id: int, what: str) -> bytes:
    try:
        if len(instance_id) != 6:
            raise EncodeError(f"instance-id must be 6 bytes (an OBIS code), got {len(instance_id)}")
        return ATTRIBUTE_DESCRIPTOR.pack(class_id, instance_id, member_id)
    except (struct.error, TypeError):
        raise EncodeError(
            f"{what} out of range: class_id {class_id!r} (0..65535), instance_id {instance_id!r} "
            f"(6 bytes), {what.split()[0]}_id {member_id!r} (-128..127)"
        ) from None


@dataclass(slots=True)
class CosemAttributeDescriptor:
    """Cosem-Attribute-Descriptor {class-id Unsigned16, instance-id OCTET STRING (SIZE(6)), attribute-id
    Integer8}. Negative attribute ids are manufacturer-specific attributes."""

    class_id: int
    instance_id: Obis
    attribute_id: int

    SIZE: ClassVar[int] = 9

    def encode_into(self, out: bytearray) -> None:
        out += _pack_descriptor(self.class_id, self.instance_id, self.attribute_id, "attribute descriptor")

    @classmethod
    def decode_from(cls, data: Buffer, offset: int) -> tuple[Self, int]:
        if offset + 9 > len(data):
            raise DecodeError("input ends inside a cosem-attribute-descriptor", offset, "9 bytes")
        class_id, instance_id, attribute_id = ATTRIBUTE_DESCRIPTOR.unpack_from(data, offset)
        return cls(class_id, new_obis(Obis, instance_id), attribute_id), offset + 9


@dataclass(slots=True)
class CosemMethodDescriptor:
    """Cosem-Method-Descriptor {class-id Unsigned16, instance-id OCTET STRING (SIZE(6)), method-id
    Integer8}."""

    class_id: int
    instance_id: Obis
    method_id: int

    SIZE: ClassVar[int] = 9

    def encode_into(self, out: bytearray) -> None:
        out += _pack_descriptor(self.class_id, self.instance_id, self.method_id, "method descriptor")

    @classmethod
    def decode_from(cls, data: Buffer, offset: int) -> tuple[Self, int]:
        if offset + 9 > len(data):
            raise DecodeError("input ends inside a cosem-method-descriptor", offset, "9 bytes")
        class_id, instance_id, method_id = ATTRIBUTE_DESCRIPTOR.unpack_from(data, offset)
        return cls(class_id, new_obis(Obis, instance_id), method_id), offset + 9


@dataclass(slots=True)
class SelectiveAccessDescriptor:
    """Selective-Access-Descriptor {access-selector Unsigned8, access-parameters Data}.

    For profile generic buffers see :mod:`cosemnet.codec.xdlms.selective_access` (selector 1 = range
    descriptor, 2 = entry descriptor).
    """

    access_selector: int
    access_parameters: DataValue

    def encode_into(self, out: bytearray) -> None:
        write_u8(out, self.access_selector, "access-selector")
        encode_data_into(out, self.access_parameters)

    @classmethod
    def decode_from(cls, data: Buffer, offset: int) -> tuple[Self, int]:
        if offset >= len(data):
            raise DecodeError("input ends before an access-selector", offset, "access-selector")
        value, end = decode_data(data, offset + 1)
        return cls(data[offset], value), end


def write_optional_selection(out: bytearray, selection: SelectiveAccessDescriptor | None) -> None:
    if selection is None:
        out.append(0)
    else:
        out.append(1)
        selection.encode_into(out)


def read_optional_selection(data: Buffer, offset: int) -> tuple[SelectiveAccessDescriptor | None, int]:
    if read_flag(data, offset, "the access-selection usage flag"):
        return SelectiveAccessDescriptor.decode_from(data, offset + 1)
    return None, offset + 1


@dataclass(slots=True)
class CosemAttributeDescriptorWithSelection:
    """Cosem-Attribute-Descriptor-With-Selection {cosem-attribute-descriptor, access-selection OPTIONAL}."""

    cosem_attribute_descriptor: CosemAttributeDescriptor
    access_selection: SelectiveAccessDescriptor | None = None

    def encode_into(self, out: bytearray) -> None:
        self.cosem_attribute_descriptor.encode_into(out)
        write_optional_selection(out, self.access_selection)

    @classmethod
    def decode_from(cls, data: Buffer, offset: int) -> tuple[Self, int]:
        descriptor, offset = CosemAttributeDescriptor.decode_from(data, offset)
        selection, offset = read_optional_selection(data, offset)
        return cls(descriptor, selection), offset


# --------------------------------------------------------------------------------------------------
# Get-Data-Result and data blocks


def write_get_data_result(out: bytearray, result: DataAccessResult | DataValue) -> None:
    """Get-Data-Result CHOICE: a DataAccessResult member is data-access-result [1], anything else is
    data [0] (so a plain ``int`` is data, encoded as double-long-unsigned)."""
    if type(result) is DataAccessResult:
        out.append(1)
        out.append(result)
    else:
        out.append(0)
        encode_data_into(out, result)


def read_get_data_result(data: Buffer, offset: int) -> tuple[DataAccessResult | DataValue, int]:
    if offset >= len(data):
        raise DecodeError("input ends before a get-data-result", offset, "Get-Data-Result")
    choice = data[offset]
    if choice == 0:
        return decode_data(data, offset + 1)
    if choice == 1:
        return read_data_access_result(data, offset + 1), offset + 2
    raise DecodeError(
        f"unknown get-data-result choice {choice}", offset, "0 (data) or 1 (data-access-result)"
    )


@dataclass(slots=True)
class DataBlockG:
    """DataBlock-G {last-block BOOLEAN, block-number Unsigned32, result CHOICE {raw-data [0] OCTET STRING,
    data-access-result [1] Data-Access-Result}}: ``result`` is ``bytes`` (raw-data) or a
    :class:`DataAccessResult`."""

    last_block: bool
    block_number: int
    result: DataAccessResult | bytes

    def encode_into(self, out: bytearray) -> None:
        out.append(1 if self.last_block else 0)
        write_u32(out, self.block_number, "block-number")
        result = self.result
        if isinstance(result, bytes | bytearray | memoryview):
            out.append(0)
            encode_length(len(result), out)
            out += result
        else:
            out.append(1)
            write_data_access_result(out, result)

    @classmethod
    def decode_from(cls, data: Buffer, offset: int) -> tuple[Self, int]:
        last_block = read_flag(data, offset, "last-block")
        block_number = read_u32(data, offset + 1, "block-number")
        choice = read_byte(data, offset + 5, "the DataBlock-G result choice")
        result: DataAccessResult | bytes
        if choice == 0:
            result, end = read_octet_string(data, offset + 6, "raw-data")
        elif choice == 1:
            result, end = read_data_access_result(data, offset + 6), offset + 7
        else:
            raise DecodeError(
                f"unknown DataBlock-G result choice {choice}",
                offset + 5,
                "0 (raw-data) or 1 (data-access-result)",
            )
        return cls(last_block, block_number, result), end


@dataclass(slots=True)
class DataBlockSA:
    """DataBlock-SA {last-block BOOLEAN, block-number Unsigned32, raw-data OCTET STRING} (SET requests and
    ACTION requests/responses)."""

    last_block: bool
    block_number: int
    raw_data: bytes

    def encode_into(self, out: bytearray) -> None:
        out.append(1 if self.last_block else 0)
        write_u32(out, self.block_number, "block-number")
        write_octet_string(out, self.raw_data, "raw-data")

    @classmethod
    def decode_from(cls, data: Buffer, offset: int) -> tuple[Self, int]:
        last_block = read_flag(data, offset, "last-block")
        block_number = read_u32(data, offset + 1, "block-number")
        raw_data, end = read_octet_string(data, offset + 5, "raw-data")
        return cls(last_block, block_number, raw_data), end


def encode_block_number_apdu(apdu: HasInvokeIdAndPriority, tag: int, choice: int, block_number: int) -> bytes:
    """An APDU that is its header and a block-number Unsigned32 (the *-Next* and *-Datablock* acks)."""
    out = start(apdu, tag, choice)
    write_u32(out, block_number, "block-number")
    return bytes(out)


def decode_block_number_apdu(
    data: Buffer, offset: int, tag: int, choice: int, name: str
) -> tuple[tuple[int, ServiceClass, Priority, int], int, int]:
    """(Invoke-Id-And-Priority fields, block-number, end) of an APDU built by encode_block_number_apdu."""
    iip = read_header(data, offset, tag, choice, name)
    return iip, read_u32(data, offset + 3, "block-number"), offset + 7


def encode_datablock_apdu(apdu: HasInvokeIdAndPriority, tag: int, choice: int, block: DataBlockSA) -> bytes:
    """An APDU that is its header and a DataBlock-SA (SET/ACTION requests and ACTION responses)."""
    out = start(apdu, tag, choice)
    block.encode_into(out)
    return bytes(out)


def decode_datablock_apdu(
    data: Buffer, offset: int, tag: int, choice: int, name: str
) -> tuple[tuple[int, ServiceClass, Priority, int], DataBlockSA, int]:
    """(Invoke-Id-And-Priority fields, DataBlock-SA, end) of an APDU built by encode_datablock_apdu."""
    iip = read_header(data, offset, tag, choice, name)
    block, end = DataBlockSA.decode_from(data, offset + 3)
    return iip, block, end


# --------------------------------------------------------------------------------------------------
# With-list helpers


def write_descriptor_list(out: bytearray, items: Sequence[CosemAttributeDescriptorWithSelection]) -> None:
    write_element_list(out, items, "attribute-descriptor-list")


def read_descriptor_list(
    data: Buffer, offset: int
) -> tuple[list[CosemAttributeDescriptorWithSelection], int]:
    return read_element_list(
        data, offset, CosemAttributeDescriptorWithSelection.decode_from, "attribute-descriptor-list"
    )


def write_method_list(out: bytearray, items: Sequence[CosemMethodDescriptor]) -> None:
    write_element_list(out, items, "cosem-method-descriptor-list")


def read_method_list(data: Buffer, offset: int) -> tuple[list[CosemMethodDescriptor], int]:
    return read_element_list(data, offset, CosemMethodDescriptor.decode_from, "cosem-method-descriptor-list")


def write_data_access_results(out: bytearray, results: Sequence[DataAccessResult]) -> None:
    """A SEQUENCE OF Data-Access-Result."""
    write_count(out, results, "result list")
    for result in results:
        write_data_access_result(out, result)


def read_data_access_results(data: Buffer, offset: int) -> tuple[list[DataAccessResult], int]:
    """A SEQUENCE OF Data-Access-Result."""
    count, pos = read_count(data, offset, "result list")
    results = [read_data_access_result(data, pos + i) for i in range(count)]
    return results, pos + count


def write_get_data_results(out: bytearray, results: Sequence[DataAccessResult | DataValue]) -> None:
    """A SEQUENCE OF Get-Data-Result."""
    write_count(out, results, "result list")
    for item in results:
        write_get_data_result(out, item)


def read_get_data_results(data: Buffer, offset: int) -> tuple[list[DataAccessResult | DataValue], int]:
    """A SEQUENCE OF Get-Data-Result."""
    count, pos = read_count(data, offset, "result list")
    items: list[DataAccessResult | DataValue] = []
    for _ in range(count):
        item, pos = read_get_data_result(data, pos)
        items.append(item)
    return items, pos


def write_optional_value(
    out: bytearray,
    value: V,
    explicit_null: bool,
    name: str,
    write_value: Callable[[bytearray, V], None],
) -> None:
    """An OPTIONAL Data-like component where ``None`` means absent unless ``explicit_null`` (then it is
    present, null-data); see :mod:`cosemnet.codec.xdlms.action`."""
    if value is None and not explicit_null:
        out.append(0)
        return
    if explicit_null and value is not None:
        raise EncodeError(f"explicit_null is only meaningful when {name} is None")
    out.append(1)
    write_value(out, value)


def read_optional_value(
    data: Buffer, offset: int, what: str, read_value: Callable[[Buffer, int], tuple[V, int]]
) -> tuple[V | None, bool, int]:
    """(value, explicit_null, end) of a component written by :func:`write_optional_value`."""
    if not read_flag(data, offset, what):
        return None, False, offset + 1
    value, end = read_value(data, offset + 1)
    return value, value is None, end


# --------------------------------------------------------------------------------------------------
# APDU base classes


class XdlmsApdu:
    """Base of the xDLMS APDU classes: ``decode`` is ``decode_from`` plus a check for trailing bytes."""

    __slots__ = ()
    TAG: ClassVar[int]

    def encode(self) -> bytes:
        raise NotImplementedError

    @classmethod
    def decode_from(cls, data: Buffer, offset: int = 0) -> tuple[Self, int]:
        raise NotImplementedError

    @classmethod
    def decode(cls, data: Buffer) -> Self:
        """Decode one APDU that fills ``data`` exactly."""
        apdu, end = cls.decode_from(data, 0)
        if end != len(data):
            raise DecodeError(f"{len(data) - end} bytes after the APDU", end, "end of input")
        return apdu


class ChoiceApdu(XdlmsApdu):
    """An APDU tag whose body is a CHOICE (GET, SET, ACTION): the second byte selects the subclass.

    ``GetRequest.decode(data)`` returns a :class:`GetRequestNormal`, :class:`GetRequestNext`, ... The
    concrete subclasses carry ``CHOICE`` (their second byte) and decode only themselves.
    """

    __slots__ = ()
    CHOICE: ClassVar[int]
    CHOICES: ClassVar[dict[int, type[XdlmsApdu]]] = {}
    NAME: ClassVar[str] = "APDU"

    @classmethod
    def decode_from(cls, data: Buffer, offset: int = 0) -> tuple[Self, int]:
        if offset + 2 > len(data):
            raise DecodeError(f"input ends inside the {cls.NAME} header", offset, "2 bytes")
        if data[offset] != cls.TAG:
            raise DecodeError(f"tag 0x{data[offset]:02X} is not {cls.NAME}", offset, f"0x{cls.TAG:02X}")
        sub = cls.CHOICES.get(data[offset + 1])
        if sub is None:
            raise DecodeError(
                f"unknown {cls.NAME} choice {data[offset + 1]}",
                offset + 1,
                " / ".join(str(c) for c in sorted(cls.CHOICES)),
            )
        return cast("tuple[Self, int]", sub.decode_from(data, offset))

    @classmethod
    def decode(cls, data: Buffer) -> Self:
        """Decode one APDU that fills ``data`` exactly (through the subclass's own ``decode``, which may
        have a fast path)."""
        if len(data) >= 2 and data[0] == cls.TAG:
            sub = cls.CHOICES.get(data[1])
            if sub is not None and sub is not cls and issubclass(sub, cls):
                return sub.decode(data)
        return super().decode(data)
