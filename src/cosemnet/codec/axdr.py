"""A-XDR codec for the COSEM ``Data`` CHOICE (IEC 62056-6-2 / 62056-5-3).

Public API:

* :func:`encode_data` / :func:`encode_data_into` -- Python value (see :mod:`cosemnet.codec.types`) to bytes.
* :func:`decode_data` -- bytes to ``(value, end_offset)``; :func:`decode_data_exact` when the buffer must
  hold exactly one value.
* :func:`encode_length` / :func:`decode_length` -- the A-XDR variable-length length field.

Decoders work with integer offsets into the caller's buffer; they never re-slice the remaining input.
Every failure raises :class:`cosemnet.errors.DecodeError` carrying the offset.

Arrays whose elements share one fixed layout (the common case: a profile buffer of structures of
octet-string date-time and register values) go through a columnar fast path built on ``struct``:
the layout is read from the first element, all rows are unpacked in one C-level pass and checked
against the layout's constant bytes (tags, lengths, member counts). Anything that does not fit the
layout falls back to the generic recursive codec, which is the single source of truth for errors.
"""

from __future__ import annotations

import gc
import struct
import threading
from collections.abc import Callable, Iterable, Sequence
from itertools import repeat
from operator import itemgetter
from typing import Any, Final

from cosemnet.codec.datetime import CosemDate, CosemDateTime, CosemTime
from cosemnet.codec.types import (
    DONT_CARE,
    INT_TYPES,
    BitString,
    CompactArray,
    DataValue,
    DontCareType,
    DoubleLong,
    DoubleLongUnsigned,
    Float32,
    Long64,
    Long64Unsigned,
    Tag,
    TypeDescription,
    TypedInt,
    Utf8String,
)
from cosemnet.codec.types import Buffer as Buffer  # re-exported
from cosemnet.errors import DecodeError, EncodeError

MAX_DEPTH: Final = 64
"""Nesting limit for arrays and structures; deeper input is rejected rather than recursing."""


_U16 = struct.Struct(">H")
_F32 = struct.Struct(">f")
_F64 = struct.Struct(">d")

# --------------------------------------------------------------------------------------------------
# Lengths


def encode_length(n: int, out: bytearray) -> None:
    """Append the A-XDR length field for ``n``."""
    if n < 0x80:
        out.append(n)
    elif n <= 0xFF:
        out += b"\x81" + bytes((n,))
    elif n <= 0xFFFF:
        out += b"\x82" + n.to_bytes(2, "big")
    elif n <= 0xFFFFFF:
        out += b"\x83" + n.to_bytes(3, "big")
    elif n <= 0xFFFFFFFF:
        out += b"\x84" + n.to_bytes(4, "big")
    else:
        raise EncodeError(f"length {n} does not fit an A-XDR length field")


def length_bytes(n: int) -> bytes:
    """The A-XDR length field for ``n`` as bytes."""
    out = bytearray()
    encode_length(n, out)
    return bytes(out)


def decode_length(data: Buffer, offset: int) -> tuple[int, int]:
    """Read an A-XDR length at ``offset``; return ``(length, offset_after)``."""
    try:
        first = data[offset]
    except IndexError:
        raise DecodeError("input ends before a length field", offset, "length") from None
    if first < 0x80:
        return first, offset + 1
    count = first & 0x7F
    if count == 0 or count > 4:
        raise DecodeError(f"length field with {count} length bytes", offset, "1..4 length bytes")
    end = offset + 1 + count
    if end > len(data):
        raise DecodeError("input ends inside a length field", offset, "length")
    n = int.from_bytes(data[offset + 1 : end], "big")
    if n < 0x80 or n >> (8 * (count - 1)) == 0:
        # A-XDR lengths are canonical: the short form below 128, else the fewest length bytes.
        raise DecodeError(f"non-minimal length encoding of {n}", offset, "the shortest length form")
    return n, end


# --------------------------------------------------------------------------------------------------
# Encoding

_INT_PACKERS: dict[type, struct.Struct] = {
    cls: struct.Struct(">B" + cls.struct_code) for cls in INT_TYPES.values()
}
_INT_TAGS: dict[type, int] = {cls: int(cls.tag) for cls in INT_TYPES.values()}


def default_int_type(value: int) -> type[TypedInt]:
    """The DLMS type a plain ``int`` is encoded as (see :mod:`cosemnet.codec.types`)."""
    if 0 <= value <= 0xFFFFFFFF:
        return DoubleLongUnsigned
    if -(2**31) <= value < 0:
        return DoubleLong
    if 0 <= value <= 0xFFFFFFFFFFFFFFFF:
        return Long64Unsigned
    if -(2**63) <= value < 0:
        return Long64
    raise EncodeError(f"integer {value} does not fit any DLMS integer type")


def data_tag(value: object) -> Tag:
    """The Data CHOICE tag ``value`` encodes to."""
    t = type(value)
    if t in _INT_TAGS:
        return Tag(_INT_TAGS[t])
    if value is None:
        return Tag.NULL_DATA
    if t is bool:
        return Tag.BOOLEAN
    if t is int:
        return default_int_type(value).tag  # type: ignore[arg-type]
    if t is list:
        return Tag.ARRAY
    if t is tuple:
        return Tag.STRUCTURE
    if t is bytes or t is bytearray or t is memoryview:
        return Tag.OCTET_STRING
    if t is str:
        return Tag.VISIBLE_STRING
    if t is Utf8String:
        return Tag.UTF8_STRING
    if t is float:
        return Tag.FLOAT64
    if t is Float32:
        return Tag.FLOAT32
    if t is BitString:
        return Tag.BIT_STRING
    if t is CompactArray:
        return Tag.COMPACT_ARRAY
    if t is CosemDateTime:
        return Tag.DATE_TIME
    if t is CosemDate:
        return Tag.DATE
    if t is CosemTime:
        return Tag.TIME
    if t is DontCareType:
        return Tag.DONT_CARE
    if isinstance(value, bytes):
        return Tag.OCTET_STRING
    raise EncodeError(f"no DLMS data type for a Python {t.__name__}")


def encode_data(value: DataValue) -> bytes:
    """Encode one ``Data`` value, tag included."""
    out = bytearray()
    encode_data_into(out, value)
    return bytes(out)


def encode_data_into(out: bytearray, value: DataValue) -> None:
    """Append the encoding of ``value`` (tag included) to ``out``."""
    _encode(out, value, 0)


def _encode(out: bytearray, value: Any, depth: int) -> None:
    t = type(value)
    packer = _INT_PACKERS.get(t)
    if packer is not None:
        out += packer.pack(_INT_TAGS[t], value)
        return
    if t is bytes or t is bytearray or t is memoryview:
        out.append(9)
        encode_length(len(value), out)
        out += value
        return
    if t is tuple or t is list:
        if depth >= MAX_DEPTH:
            raise EncodeError(f"nesting deeper than {MAX_DEPTH}")
        out.append(2 if t is tuple else 1)
        encode_length(len(value), out)
        if (
            t is list
            and len(value) >= _FAST_MIN
            and depth + _FAST_DEPTH < MAX_DEPTH
            and _encode_rows(out, value)
        ):
            return
        for item in value:
            _encode(out, item, depth + 1)
        return
    if t is int:
        cls = default_int_type(value)
        out += _INT_PACKERS[cls].pack(_INT_TAGS[cls], value)
        return
    if value is None:
        out.append(0)
        return
    if t is bool:
        out += b"\x03\x01" if value else b"\x03\x00"
        return
    if t is str:
        try:
            raw = value.encode("latin-1")
        except UnicodeEncodeError:
            raise EncodeError("visible-string holds only 8-bit characters; use Utf8String") from None
        out.append(10)
        encode_length(len(raw), out)
        out += raw
        return
    if t is Utf8String:
        raw = value.encode("utf-8")
        out.append(12)
        encode_length(len(raw), out)
        out += raw
        return
    if t is float:
        out.append(24)
        out += _F64.pack(value)
        return
    if t is Float32:
        out.append(23)
        out += _F32.pack(value)
        return
    if t is CosemDateTime:
        out.append(25)
        out += value.to_bytes()
        return
    if t is CosemDate:
        out.append(26)
        out += value.to_bytes()
        return
    if t is CosemTime:
        out.append(27)
        out += value.to_bytes()
        return
    if t is BitString:
        out.append(4)
        encode_length(value.length, out)
        out += value.data
        return
    if t is CompactArray:
        out.append(19)
        encode_type_description(value.type_description, out)
        body = bytearray()
        for item in value.values:
            encode_untagged(body, value.type_description, item)
        encode_length(len(body), out)
        out += body
        return
    if t is DontCareType:
        out.append(255)
        return
    if isinstance(value, bytes):  # bytes subclasses such as Obis
        out.append(9)
        encode_length(len(value), out)
        out += value
        return
    if isinstance(value, TypedInt):
        raise EncodeError(f"{t.__name__} is not one of the DLMS integer types")
    raise EncodeError(f"no DLMS data type for a Python {t.__name__}")


# --------------------------------------------------------------------------------------------------
# Compact array: type descriptions and untagged values


def encode_type_description(desc: TypeDescription, out: bytearray) -> None:
    out.append(desc.tag)
    if desc.tag == Tag.ARRAY:
        if len(desc.elements) != 1:
            raise EncodeError("array type description needs exactly one element type")
        out += _U16.pack(desc.count)
        encode_type_description(desc.elements[0], out)
    elif desc.tag == Tag.STRUCTURE:
        encode_length(len(desc.elements), out)
        for element in desc.elements:
            encode_type_description(element, out)
    elif desc.tag == Tag.COMPACT_ARRAY:
        raise EncodeError("a compact-array cannot contain a compact-array")


def decode_type_description(data: Buffer, offset: int, depth: int = 0) -> tuple[TypeDescription, int]:
    if depth > MAX_DEPTH:
        raise DecodeError(f"type description nested deeper than {MAX_DEPTH}", offset)
    try:
        raw = data[offset]
    except IndexError:
        raise DecodeError("input ends before a type description", offset, "type tag") from None
    try:
        tag = Tag(raw)
    except ValueError:
        raise DecodeError(f"unknown type tag {raw}", offset, "a Data type tag") from None
    offset += 1
    if tag == Tag.ARRAY:
        if offset + 2 > len(data):
            raise DecodeError("input ends inside an array type description", offset, "element count")
        (count,) = _U16.unpack_from(data, offset)
        element, end = decode_type_description(data, offset + 2, depth + 1)
        if count and _untagged_min_size(element) == 0:
            raise DecodeError("array type description of zero-size elements", offset - 1)
        return TypeDescription(tag, (element,), count), end
    if tag == Tag.STRUCTURE:
        n, offset = decode_length(data, offset)
        if n > len(data) - offset:
            raise DecodeError(f"structure type description of {n} members", offset, "fewer members")
        members = []
        for _ in range(n):
            member, offset = decode_type_description(data, offset, depth + 1)
            members.append(member)
        return TypeDescription(tag, tuple(members)), offset
    if tag == Tag.COMPACT_ARRAY:
        raise DecodeError("compact-array inside a compact-array type description", offset - 1)
    return TypeDescription(tag), offset


def encode_untagged(out: bytearray, desc: TypeDescription, value: Any) -> None:
    """Append ``value`` encoded without its tag, as the compact-array body carries it."""
    tag = desc.tag
    if tag == Tag.STRUCTURE:
        if type(value) is not tuple or len(value) != len(desc.elements):
            raise EncodeError(f"compact-array element must be a {len(desc.elements)}-tuple")
        for member, item in zip(desc.elements, value, strict=True):
            encode_untagged(out, member, item)
        return
    if tag == Tag.ARRAY:
        if type(value) is not list or len(value) != desc.count:
            raise EncodeError(f"compact-array element must be a list of {desc.count}")
        for item in value:
            encode_untagged(out, desc.elements[0], item)
        return
    cls = INT_TYPES.get(tag)
    if cls is not None:
        value = cls(value)
    elif tag == Tag.FLOAT32:
        value = Float32(value)
    elif tag == Tag.UTF8_STRING:
        value = Utf8String(value)
    if data_tag(value) != tag:
        raise EncodeError(f"compact-array element {value!r} is not a {tag.dlms_name}")
    tmp = bytearray()
    _encode(tmp, value, 0)
    out += memoryview(tmp)[1:]


def decode_untagged(data: Buffer, offset: int, desc: TypeDescription, depth: int = 0) -> tuple[Any, int]:
    """Decode one value of type ``desc`` that carries no tag (compact-array body)."""
    if depth > MAX_DEPTH:
        raise DecodeError(f"nesting deeper than {MAX_DEPTH}", offset)
    tag = desc.tag
    if tag == Tag.STRUCTURE:
        items = []
        for member in desc.elements:
            item, offset = decode_untagged(data, offset, member, depth + 1)
            items.append(item)
        return tuple(items), offset
    if tag == Tag.ARRAY:
        if desc.count * _untagged_min_size(desc.elements[0]) > len(data) - offset:
            raise DecodeError(f"array of {desc.count} elements is longer than the input", offset)
        values = []
        for _ in range(desc.count):
            item, offset = decode_untagged(data, offset, desc.elements[0], depth + 1)
            values.append(item)
        return values, offset
    handler = _DECODERS.get(tag)
    if handler is None:
        raise DecodeError(f"type {tag.dlms_name} cannot appear in a compact-array", offset)
    return handler(data, offset, depth + 1)


def _untagged_min_size(desc: TypeDescription) -> int:
    tag = desc.tag
    if tag == Tag.STRUCTURE:
        return sum(_untagged_min_size(e) for e in desc.elements)
    if tag == Tag.ARRAY:
        return desc.count * _untagged_min_size(desc.elements[0])
    cls = INT_TYPES.get(tag)
    if cls is not None:
        return cls.size
    return {
        Tag.NULL_DATA: 0,
        Tag.DONT_CARE: 0,
        Tag.BOOLEAN: 1,
        Tag.FLOAT32: 4,
        Tag.FLOAT64: 8,
        Tag.DATE_TIME: 12,
        Tag.DATE: 5,
        Tag.TIME: 4,
    }.get(tag, 1)


# --------------------------------------------------------------------------------------------------
# Decoding


def decode_data(data: Buffer, offset: int = 0) -> tuple[DataValue, int]:
    """Decode one tagged ``Data`` value at ``offset``; return ``(value, offset_after)``."""
    return _decode(data, offset, 0)


def decode_data_exact(data: Buffer, offset: int = 0) -> DataValue:
    """Decode one ``Data`` value that must end exactly at the end of ``data``."""
    value, end = _decode(data, offset, 0)
    if end != len(data):
        raise DecodeError(f"{len(data) - end} bytes after the data value", end, "end of input")
    result: DataValue = value
    return result


def _decode(data: Buffer, offset: int, depth: int) -> tuple[Any, int]:
    try:
        tag = data[offset]
    except IndexError:
        raise DecodeError("input ends before a data value", offset, "a Data tag") from None
    handler = _DECODERS.get(tag)
    if handler is None:
        raise DecodeError(f"unknown data tag {tag}", offset, "a Data tag")
    return handler(data, offset + 1, depth)


Handler = Callable[[Buffer, int, int], tuple[Any, int]]


_BYTE_VALUES: dict[type[TypedInt], tuple[Any, ...]] = {}
"""The 256 shared values of each one-byte integer type, by the byte on the wire."""


def _int_handler(cls: type[TypedInt]) -> Handler:
    unpack_from = struct.Struct(">" + cls.struct_code).unpack_from
    size = cls.size
    new = int.__new__
    name = cls.tag.dlms_name

    def handler(data: Buffer, offset: int, depth: int) -> tuple[Any, int]:
        if offset + size > len(data):
            raise DecodeError(f"input ends inside a {name}", offset, f"{size} bytes")
        return new(cls, unpack_from(data, offset)[0]), offset + size

    if size != 1:
        return handler
    # One-byte types: every value is one of 256 shared (immutable) instances, so a large array of
    # them costs a pointer per element rather than an object per byte of input.
    table = tuple(new(cls, unpack_from(bytes((byte,)))[0]) for byte in range(256))
    _BYTE_VALUES[cls] = table

    def byte_handler(data: Buffer, offset: int, depth: int) -> tuple[Any, int]:
        if offset >= len(data):
            raise DecodeError(f"input ends inside a {name}", offset, f"{size} bytes")
        return table[data[offset]], offset + 1

    return byte_handler


def _sequence(data: Buffer, offset: int, depth: int, structure: bool) -> tuple[Any, int]:
    start = offset - 1
    if depth >= MAX_DEPTH:
        raise DecodeError(f"nesting deeper than {MAX_DEPTH}", start)
    count, offset = decode_length(data, offset)
    if count > len(data) - offset:
        kind = "structure" if structure else "array"
        raise DecodeError(f"{kind} of {count} elements is longer than the input", start)
    items: list[Any] = []
    if not structure and count >= _FAST_MIN and depth + _FAST_DEPTH < MAX_DEPTH:
        fast = _decode_rows(data, offset, count)
        if fast is not None:
            items, offset = fast
            if len(items) == count:
                return items, offset
            count -= len(items)  # the generic path decodes the rest
    append = items.append
    decode = _decode
    depth += 1
    for _ in range(count):
        item, offset = decode(data, offset, depth)
        append(item)
    return (tuple(items) if structure else items), offset


def _array(data: Buffer, offset: int, depth: int) -> tuple[Any, int]:
    return _sequence(data, offset, depth, False)


def _structure(data: Buffer, offset: int, depth: int) -> tuple[Any, int]:
    return _sequence(data, offset, depth, True)


def _octet_string(data: Buffer, offset: int, depth: int) -> tuple[Any, int]:
    n, start = decode_length(data, offset)
    end = start + n
    if end > len(data):
        raise DecodeError(f"octet-string of {n} bytes is longer than the input", offset - 1)
    return bytes(data[start:end]), end


def _visible_string(data: Buffer, offset: int, depth: int) -> tuple[Any, int]:
    n, start = decode_length(data, offset)
    end = start + n
    if end > len(data):
        raise DecodeError(f"visible-string of {n} bytes is longer than the input", offset - 1)
    return bytes(data[start:end]).decode("latin-1"), end


def _utf8_string(data: Buffer, offset: int, depth: int) -> tuple[Any, int]:
    n, start = decode_length(data, offset)
    end = start + n
    if end > len(data):
        raise DecodeError(f"utf8-string of {n} bytes is longer than the input", offset - 1)
    try:
        return Utf8String(bytes(data[start:end]).decode("utf-8")), end
    except UnicodeDecodeError as exc:
        raise DecodeError(f"utf8-string is not UTF-8 ({exc.reason})", start + exc.start) from None


def _bit_string(data: Buffer, offset: int, depth: int) -> tuple[Any, int]:
    bits, start = decode_length(data, offset)
    end = start + (bits + 7) // 8
    if end > len(data):
        raise DecodeError(f"bit-string of {bits} bits is longer than the input", offset - 1)
    return BitString(bytes(data[start:end]), bits), end


def _boolean(data: Buffer, offset: int, depth: int) -> tuple[Any, int]:
    if offset >= len(data):
        raise DecodeError("input ends before a boolean", offset, "1 byte")
    return data[offset] != 0, offset + 1


def _null(data: Buffer, offset: int, depth: int) -> tuple[Any, int]:
    return None, offset


def _dont_care(data: Buffer, offset: int, depth: int) -> tuple[Any, int]:
    return DONT_CARE, offset


def _float32(data: Buffer, offset: int, depth: int) -> tuple[Any, int]:
    if offset + 4 > len(data):
        raise DecodeError("input ends inside a float32", offset, "4 bytes")
    return float.__new__(Float32, _F32.unpack_from(data, offset)[0]), offset + 4


def _float64(data: Buffer, offset: int, depth: int) -> tuple[Any, int]:
    if offset + 8 > len(data):
        raise DecodeError("input ends inside a float64", offset, "8 bytes")
    return _F64.unpack_from(data, offset)[0], offset + 8


def _date_time(data: Buffer, offset: int, depth: int) -> tuple[Any, int]:
    return CosemDateTime.from_bytes(data, offset), offset + 12


def _date(data: Buffer, offset: int, depth: int) -> tuple[Any, int]:
    return CosemDate.from_bytes(data, offset), offset + 5


def _time(data: Buffer, offset: int, depth: int) -> tuple[Any, int]:
    return CosemTime.from_bytes(data, offset), offset + 4


def _compact_array(data: Buffer, offset: int, depth: int) -> tuple[Any, int]:
    start = offset - 1
    if depth >= MAX_DEPTH:
        raise DecodeError(f"nesting deeper than {MAX_DEPTH}", start)
    desc, offset = decode_type_description(data, offset, depth + 1)
    n, body = decode_length(data, offset)
    end = body + n
    if end > len(data):
        raise DecodeError(f"compact-array contents of {n} bytes are longer than the input", offset)
    if n and _untagged_min_size(desc) == 0:
        raise DecodeError("compact-array of zero-size elements has contents", offset)
    view = memoryview(data)[:end] if not isinstance(data, memoryview) else data[:end]
    values = []
    pos = body
    while pos < end:
        item, pos = decode_untagged(view, pos, desc, depth + 1)
        values.append(item)
    return CompactArray(desc, tuple(values)), end


_DECODERS: dict[int, Handler] = {
    Tag.NULL_DATA: _null,
    Tag.ARRAY: _array,
    Tag.STRUCTURE: _structure,
    Tag.BOOLEAN: _boolean,
    Tag.BIT_STRING: _bit_string,
    Tag.OCTET_STRING: _octet_string,
    Tag.VISIBLE_STRING: _visible_string,
    Tag.UTF8_STRING: _utf8_string,
    Tag.COMPACT_ARRAY: _compact_array,
    Tag.FLOAT32: _float32,
    Tag.FLOAT64: _float64,
    Tag.DATE_TIME: _date_time,
    Tag.DATE: _date,
    Tag.TIME: _time,
    Tag.DONT_CARE: _dont_care,
}
for _tag, _cls in INT_TYPES.items():
    _DECODERS[int(_tag)] = _int_handler(_cls)


# --------------------------------------------------------------------------------------------------
# Columnar fast path for arrays of identically laid-out elements.
#
# A layout is a flat struct format for one element plus:
#   consts  -- (field index, expected value) for every tag / length / member-count byte
#   tree    -- how to rebuild the element value from the unpacked value fields:
#              ("leaf", field_index, converter) or ("struct", [subtrees]) or ("none",) / ("dontcare",)

_FAST_MIN: Final = 8
_FAST_DEPTH: Final = 6  # layouts nest at most 5 structures deep (see the ``depth > 4`` checks)

Converter = Callable[[Sequence[Any]], Iterable[Any]]


def _to_float32(column: Sequence[Any]) -> Iterable[Any]:
    return map(float.__new__, repeat(Float32, len(column)), column)


def _to_visible(column: Sequence[Any]) -> Iterable[Any]:
    return map(bytes.decode, column, repeat("latin-1", len(column)))


def _to_date_time(column: Sequence[Any]) -> Iterable[Any]:
    return map(CosemDateTime.from_bytes, column)


class _Layout:
    """Byte layout of one array element: constant bytes to check and value fields to extract."""

    __slots__ = ("consts", "size")

    def __init__(self) -> None:
        self.size = 0
        self.consts: list[tuple[int, int]] = []  # (position in row, expected byte)

    def const(self, byte: int) -> None:
        self.consts.append((self.size, byte))
        self.size += 1

    def field(self, width: int) -> int:
        position = self.size
        self.size += width
        return position


def _compile_from_bytes(data: bytes, offset: int, layout: _Layout, depth: int) -> tuple[Any, int] | None:
    """Read one element's layout at ``offset``; None when it has no fixed layout.

    Returns a tree describing how to rebuild the value from columns:
    ``("int", position, cls)``, ``("bytes", position, width, converter)``, ``("struct", [children])``,
    ``("const", value)``.
    """
    if offset >= len(data) or depth > 4:
        return None
    tag = data[offset]
    layout.const(tag)
    offset += 1
    cls = INT_TYPES.get(tag)  # type: ignore[call-overload]
    if cls is not None:
        return ("int", layout.field(cls.size), cls), offset + cls.size
    if tag == 9 or tag == 10:
        if offset >= len(data) or data[offset] >= 0x80:
            return None
        n = data[offset]
        layout.const(n)
        conv = None if tag == 9 else _to_visible
        return ("bytes", layout.field(n), n, conv), offset + 1 + n
    if tag == 2:
        if offset >= len(data) or data[offset] >= 0x80:
            return None
        n = data[offset]
        layout.const(n)
        offset += 1
        children = []
        for _ in range(n):
            child = _compile_from_bytes(data, offset, layout, depth + 1)
            if child is None:
                return None
            node, offset = child
            children.append(node)
        return ("struct", children), offset
    if tag == 3:
        return ("bool", layout.field(1)), offset + 1
    if tag == 24:
        return ("float", layout.field(8), "d", None), offset + 8
    if tag == 23:
        return ("float", layout.field(4), "f", _to_float32), offset + 4
    if tag == 25:
        return ("bytes", layout.field(12), 12, _to_date_time), offset + 12
    if tag == 0:
        return ("const", None), offset
    if tag == 255:
        return ("const", DONT_CARE), offset
    return None


_SPLITTERS: dict[tuple[int, int], struct.Struct] = {}


def _splitter(width: int, n: int) -> struct.Struct:
    """A Struct that cuts ``n`` items of ``width`` bytes into a tuple of bytes (cached)."""
    key = (width, n)
    s = _SPLITTERS.get(key)
    if s is None:
        if len(_SPLITTERS) > 64:
            _SPLITTERS.clear()
        s = _SPLITTERS[key] = struct.Struct(f"{width}s" * n)
    return s


def _gather(data: bytes, start: int, end: int, row: int, position: int, width: int) -> bytes | bytearray:
    """The ``width``-byte field at ``position`` of every row, concatenated."""
    if width == 1:
        return data[start + position : end : row]
    n = (end - start) // row
    column = bytearray(n * width)
    for k in range(width):
        column[k::width] = data[start + position + k : end : row]
    return column


def _build_column(node: Any, data: bytes, start: int, end: int, row: int, n: int) -> Any:
    kind = node[0]
    if kind == "int":
        cls = node[2]
        raw = _gather(data, start, end, row, node[1], cls.size)
        if cls.size == 1:
            return list(map(_BYTE_VALUES[cls].__getitem__, raw))
        values = struct.unpack(f">{n}{cls.struct_code}", raw)
        return list(map(int.__new__, repeat(cls, n), values))
    if kind == "bytes":
        width = node[2]
        if width == 0:
            items: Any = [b""] * n
        else:
            items = _splitter(width, n).unpack(_gather(data, start, end, row, node[1], width))
        return items if node[3] is None else list(node[3](items))
    if kind == "struct":
        children = [_build_column(child, data, start, end, row, n) for child in node[1]]
        return zip(*children, strict=True) if children else [()] * n
    if kind == "bool":
        return list(map(bool, data[start + node[1] : end : row]))
    if kind == "float":
        raw = _gather(data, start, end, row, node[1], struct.calcsize(node[2]))
        values = struct.unpack(f">{n}{node[2]}", raw)
        return values if node[3] is None else list(node[3](values))
    return [node[1]] * n


def _matching_rows(raw: bytes, start: int, row: int, limit: int, consts: list[tuple[int, int]]) -> int:
    """How many rows of ``row`` bytes from ``start`` (at most ``limit``) carry every constant byte.

    Windows grow eightfold, so a run of ``k`` rows costs O(k) whatever follows it."""
    matched = 0
    window = 64
    while matched < limit:
        upper = min(limit, matched + window)
        first, stop = start + matched * row, start + upper * row
        good = upper - matched
        for position, byte in consts:
            column = raw[first + position : stop : row]
            good = min(good, len(column) - len(column.lstrip(bytes((byte,)))))
            if good == 0:
                return matched
        matched += good
        if matched < upper:
            return matched
        window *= 8
    return matched


class _GcPause:
    """Pause the cyclic garbage collector around a bulk decode (re-entrant, thread-safe).

    The columnar decoder creates only acyclic objects (tuples and lists of ints, bytes, date-times), so
    collections run while it builds a large buffer only traverse the growing result again and again:
    that made the per-row cost grow 2-3x from 1,000 to 100,000 rows. The collector is paused only for the
    duration of one array's columnar decode (milliseconds) and restored to its previous state; allocations
    made meanwhile are collected normally afterwards."""

    __slots__ = ("_depth", "_lock", "_resume")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._depth = 0
        self._resume = False

    def __enter__(self) -> None:
        with self._lock:
            if self._depth == 0:
                self._resume = gc.isenabled()
                gc.disable()
            self._depth += 1

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._depth -= 1
            if self._depth == 0 and self._resume:
                gc.enable()


_GC_PAUSE: Final = _GcPause()
_GC_PAUSE_MIN: Final = 256  # smaller arrays create too few objects for a collection to matter


def _decode_run(raw: bytes, offset: int, remaining: int) -> tuple[list[Any], int] | None:
    """Decode the longest run (up to ``remaining`` elements) that shares the layout of the element at
    ``offset``; None when that element has no fixed layout or the run does not decode."""
    layout = _Layout()
    compiled = _compile_from_bytes(raw, offset, layout, 0)
    if compiled is None:
        return None
    tree, first_end = compiled
    row = first_end - offset
    if row != layout.size or row == 0:
        return None
    count = _matching_rows(raw, offset, row, min(remaining, (len(raw) - offset) // row), layout.consts)
    if count == 0:
        return None
    end = offset + row * count
    try:
        return list(_build_column(tree, raw, offset, end, row, count)), end
    except (struct.error, DecodeError, ValueError):
        return None


def _decode_rows(data: Buffer, offset: int, count: int) -> tuple[list[Any], int] | None:
    """Decode array elements at ``offset`` in columnar runs of one layout each, or None for the generic
    path. A run ends where an element's layout changes (e.g. a profile row whose date-time is null-data,
    the compressed form of a periodic profile, after a row that carries it); the next run then starts
    with its own layout. Returns the elements decoded so far with the offset after them: fewer than
    ``count`` when an element has no fixed layout, fails to decode, or the runs get too short to pay,
    and the generic path continues from there (it is the one that reports errors). See
    docs/decisions/0054."""
    raw = data if type(data) is bytes else bytes(data)
    items: list[Any] = []
    max_runs = 2 + count // _FAST_MIN
    if count < _GC_PAUSE_MIN:
        return _decode_runs(raw, offset, count, items, max_runs)
    with _GC_PAUSE:
        return _decode_runs(raw, offset, count, items, max_runs)


def _decode_runs(
    raw: bytes, offset: int, count: int, items: list[Any], max_runs: int
) -> tuple[list[Any], int] | None:
    runs = 0
    while len(items) < count and runs < max_runs:
        run = _decode_run(raw, offset, count - len(items))
        if run is None:
            break
        values, offset = run
        if items:
            items += values
        else:
            items = values
        runs += 1
    if not items:
        return None
    return items, offset


def _value_layout(value: Any, depth: int) -> Any:
    """Describe how to encode a column of values shaped like ``value``; None for no fast path."""
    t = type(value)
    if t in _INT_PACKERS:
        return ("int", t)
    if t is tuple:
        if depth > 4 or len(value) >= 0x80:
            return None
        children = []
        for item in value:
            child = _value_layout(item, depth + 1)
            if child is None:
                return None
            children.append(child)
        return ("struct", len(value), children)
    if t is bytes:
        return ("bytes", len(value)) if len(value) < 0x80 else None
    if t is int:
        return ("plainint",)
    if t is bool:
        return ("bool",)
    if t is float:
        return ("float",)
    if value is None:
        return ("none",)
    return None


class _RowWriter:
    """Collects byte columns of one element layout and interleaves them with extended slices."""

    __slots__ = ("columns", "n", "width")

    def __init__(self, n: int) -> None:
        self.n = n
        self.width = 0
        self.columns: list[tuple[int, bytes, int]] = []  # (position in row, packed column, item width)

    def add(self, packed: bytes, item_width: int) -> None:
        self.columns.append((self.width, packed, item_width))
        self.width += item_width

    def const(self, byte: int) -> None:
        self.add(bytes((byte,)) * self.n, 1)

    def write(self, out: bytearray) -> None:
        width = self.width
        base = len(out)
        end = base + width * self.n
        out += bytes(width * self.n)
        for pos, packed, item_width in self.columns:
            if item_width == 1:
                out[base + pos : end : width] = packed
            else:
                for k in range(item_width):
                    out[base + pos + k : end : width] = packed[k::item_width]


def _fill_columns(layout: Any, column: list[Any], writer: _RowWriter) -> bool:
    kind = layout[0]
    n = writer.n
    if kind == "int":
        cls = layout[1]
        if set(map(type, column)) != {cls}:
            return False
        writer.const(_INT_TAGS[cls])
        writer.add(struct.pack(f">{n}{cls.struct_code}", *column), cls.size)
        return True
    if kind == "struct":
        k = layout[1]
        types = set(map(type, column))
        if types != {tuple} or set(map(len, column)) != {k}:
            return False
        writer.const(2)
        writer.const(k)
        for i, child in enumerate(layout[2]):
            if not _fill_columns(child, list(map(itemgetter(i), column)), writer):
                return False
        return True
    if kind == "bytes":
        size = layout[1]
        if set(map(type, column)) != {bytes} or set(map(len, column)) != {size}:
            return False
        writer.const(9)
        writer.const(size)
        if size:
            writer.add(b"".join(column), size)
        return True
    if kind == "plainint":
        if set(map(type, column)) != {int}:
            return False
        lo, hi = min(column), max(column)
        cls = default_int_type(lo)
        if default_int_type(hi) is not cls:
            return False
        writer.const(_INT_TAGS[cls])
        writer.add(struct.pack(f">{n}{cls.struct_code}", *column), cls.size)
        return True
    if kind == "bool":
        if set(map(type, column)) != {bool}:
            return False
        writer.const(3)
        writer.add(bytes(column), 1)
        return True
    if kind == "float":
        if set(map(type, column)) != {float}:
            return False
        writer.const(24)
        writer.add(struct.pack(f">{n}d", *column), 8)
        return True
    if kind == "none":
        if set(map(type, column)) != {type(None)}:
            return False
        writer.const(0)
        return True
    return False


def _encode_rows(out: bytearray, values: list[Any]) -> bool:
    """Encode the elements of an array in one columnar pass; False (nothing written) if not possible."""
    layout = _value_layout(values[0], 0)
    if layout is None:
        return False
    writer = _RowWriter(len(values))
    try:
        if not _fill_columns(layout, values, writer):
            return False
    except (struct.error, EncodeError, OverflowError):
        return False
    writer.write(out)
    return True
