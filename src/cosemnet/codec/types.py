"""Python representation of the COSEM ``Data`` CHOICE (IEC 62056-6-2).

Mapping (decode gives exactly these types, encode accepts them and round-trips to the same bytes):

=========================  ====================================================
DLMS type (tag)            Python value
=========================  ====================================================
null-data (0)              ``None``
array (1)                  ``list``
structure (2)              ``tuple``
boolean (3)                ``bool``
bit-string (4)             :class:`BitString`
double-long (5)            :class:`DoubleLong` (``int`` subclass)
double-long-unsigned (6)   :class:`DoubleLongUnsigned`
octet-string (9)           ``bytes``
visible-string (10)        ``str``
utf8-string (12)           :class:`Utf8String` (``str`` subclass)
bcd (13)                   :class:`Bcd` (``int`` subclass)
integer (15)               :class:`Integer`
long (16)                  :class:`Long`
unsigned (17)              :class:`Unsigned`
long-unsigned (18)         :class:`LongUnsigned`
compact-array (19)         :class:`CompactArray`
long64 (20)                :class:`Long64`
long64-unsigned (21)       :class:`Long64Unsigned`
enum (22)                  :class:`Enumerated`
float32 (23)               :class:`Float32` (``float`` subclass)
float64 (24)               ``float``
date-time (25)             :class:`cosemnet.codec.datetime.CosemDateTime`
date (26)                  :class:`cosemnet.codec.datetime.CosemDate`
time (27)                  :class:`cosemnet.codec.datetime.CosemTime`
delta-* (28..33)           :class:`DeltaInteger` ... :class:`DeltaDoubleLongUnsigned`
dont-care (255)            :data:`DONT_CARE`
=========================  ====================================================

A plain ``int`` (not one of the subclasses) is encoded with the first type of
double-long-unsigned, double-long, long64-unsigned, long64 that holds it; ``bytearray`` and
``memoryview`` encode as octet-string. Everything else must use the wrappers above.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import ClassVar, Union

from cosemnet.errors import EncodeError

Buffer = bytes | bytearray | memoryview
"""Bytes-like input every decoder accepts (defined once here, imported everywhere else)."""


class Tag(IntEnum):
    """Tags of the Data CHOICE."""

    NULL_DATA = 0
    ARRAY = 1
    STRUCTURE = 2
    BOOLEAN = 3
    BIT_STRING = 4
    DOUBLE_LONG = 5
    DOUBLE_LONG_UNSIGNED = 6
    OCTET_STRING = 9
    VISIBLE_STRING = 10
    UTF8_STRING = 12
    BCD = 13
    INTEGER = 15
    LONG = 16
    UNSIGNED = 17
    LONG_UNSIGNED = 18
    COMPACT_ARRAY = 19
    LONG64 = 20
    LONG64_UNSIGNED = 21
    ENUM = 22
    FLOAT32 = 23
    FLOAT64 = 24
    DATE_TIME = 25
    DATE = 26
    TIME = 27
    DELTA_INTEGER = 28
    DELTA_LONG = 29
    DELTA_DOUBLE_LONG = 30
    DELTA_UNSIGNED = 31
    DELTA_LONG_UNSIGNED = 32
    DELTA_DOUBLE_LONG_UNSIGNED = 33
    DONT_CARE = 255

    @property
    def dlms_name(self) -> str:
        """The name used by the standard, e.g. ``double-long-unsigned``."""
        return self.name.lower().replace("_", "-")


class TypedInt(int):
    """Base of the fixed-width integer types. Construction checks the range."""

    __slots__ = ()
    tag: ClassVar[Tag]
    minimum: ClassVar[int]
    maximum: ClassVar[int]
    size: ClassVar[int]  # encoded size in bytes
    struct_code: ClassVar[str]  # struct module format character (big-endian)

    def __new__(cls, value: int = 0) -> TypedInt:
        v = int(value)
        if not cls.minimum <= v <= cls.maximum:
            raise EncodeError(f"{cls.tag.dlms_name} must be in {cls.minimum}..{cls.maximum}, got {v}")
        return int.__new__(cls, v)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({int(self)})"

    def __str__(self) -> str:  # int has no __str__ of its own: str() and f-strings would use __repr__
        return int.__repr__(self)


class Integer(TypedInt):
    __slots__ = ()
    tag, minimum, maximum, size, struct_code = Tag.INTEGER, -0x80, 0x7F, 1, "b"


class Long(TypedInt):
    __slots__ = ()
    tag, minimum, maximum, size, struct_code = Tag.LONG, -0x8000, 0x7FFF, 2, "h"


class DoubleLong(TypedInt):
    __slots__ = ()
    tag, minimum, maximum, size, struct_code = Tag.DOUBLE_LONG, -(2**31), 2**31 - 1, 4, "i"


class Long64(TypedInt):
    __slots__ = ()
    tag, minimum, maximum, size, struct_code = Tag.LONG64, -(2**63), 2**63 - 1, 8, "q"


class Unsigned(TypedInt):
    __slots__ = ()
    tag, minimum, maximum, size, struct_code = Tag.UNSIGNED, 0, 0xFF, 1, "B"


class LongUnsigned(TypedInt):
    __slots__ = ()
    tag, minimum, maximum, size, struct_code = Tag.LONG_UNSIGNED, 0, 0xFFFF, 2, "H"


class DoubleLongUnsigned(TypedInt):
    __slots__ = ()
    tag, minimum, maximum, size, struct_code = Tag.DOUBLE_LONG_UNSIGNED, 0, 2**32 - 1, 4, "I"


class Long64Unsigned(TypedInt):
    __slots__ = ()
    tag, minimum, maximum, size, struct_code = Tag.LONG64_UNSIGNED, 0, 2**64 - 1, 8, "Q"


class Enumerated(TypedInt):
    """DLMS ``enum``: one unsigned byte."""

    __slots__ = ()
    tag, minimum, maximum, size, struct_code = Tag.ENUM, 0, 0xFF, 1, "B"


class Bcd(TypedInt):
    """DLMS ``bcd``: one byte, kept as its raw value 0..255 (two BCD digits in the usual case)."""

    __slots__ = ()
    tag, minimum, maximum, size, struct_code = Tag.BCD, 0, 0xFF, 1, "B"


class DeltaInteger(TypedInt):
    __slots__ = ()
    tag, minimum, maximum, size, struct_code = Tag.DELTA_INTEGER, -0x80, 0x7F, 1, "b"


class DeltaLong(TypedInt):
    __slots__ = ()
    tag, minimum, maximum, size, struct_code = Tag.DELTA_LONG, -0x8000, 0x7FFF, 2, "h"


class DeltaDoubleLong(TypedInt):
    __slots__ = ()
    tag, minimum, maximum, size, struct_code = Tag.DELTA_DOUBLE_LONG, -(2**31), 2**31 - 1, 4, "i"


class DeltaUnsigned(TypedInt):
    __slots__ = ()
    tag, minimum, maximum, size, struct_code = Tag.DELTA_UNSIGNED, 0, 0xFF, 1, "B"


class DeltaLongUnsigned(TypedInt):
    __slots__ = ()
    tag, minimum, maximum, size, struct_code = Tag.DELTA_LONG_UNSIGNED, 0, 0xFFFF, 2, "H"


class DeltaDoubleLongUnsigned(TypedInt):
    __slots__ = ()
    tag, minimum, maximum, size, struct_code = Tag.DELTA_DOUBLE_LONG_UNSIGNED, 0, 2**32 - 1, 4, "I"


INT_TYPES: dict[Tag, type[TypedInt]] = {
    cls.tag: cls
    for cls in (
        Integer,
        Long,
        DoubleLong,
        Long64,
        Unsigned,
        LongUnsigned,
        DoubleLongUnsigned,
        Long64Unsigned,
        Enumerated,
        Bcd,
        DeltaInteger,
        DeltaLong,
        DeltaDoubleLong,
        DeltaUnsigned,
        DeltaLongUnsigned,
        DeltaDoubleLongUnsigned,
    )
}


_F32 = struct.Struct(">f")


class Float32(float):
    """DLMS ``float32`` (IEEE 754 single). The value is rounded to single precision on construction."""

    __slots__ = ()
    tag: ClassVar[Tag] = Tag.FLOAT32

    def __new__(cls, value: float = 0.0) -> Float32:
        try:
            rounded = _F32.unpack(_F32.pack(value))[0]
        except (OverflowError, struct.error) as exc:
            raise EncodeError(f"float32 cannot hold {value!r}") from exc
        return float.__new__(cls, rounded)

    def __repr__(self) -> str:
        return f"Float32({float(self)!r})"

    def __str__(self) -> str:
        return float.__repr__(self)


class Utf8String(str):
    """DLMS ``utf8-string`` (a plain ``str`` is a visible-string)."""

    __slots__ = ()
    tag: ClassVar[Tag] = Tag.UTF8_STRING

    def __repr__(self) -> str:
        return f"Utf8String({str.__str__(self)!r})"

    def __str__(self) -> str:
        return str.__str__(self)


@dataclass(frozen=True, slots=True)
class BitString:
    """DLMS ``bit-string``: ``length`` bits, first bit in the most significant bit of ``data[0]``."""

    data: bytes
    length: int

    def __post_init__(self) -> None:
        if self.length < 0 or (self.length + 7) // 8 != len(self.data):
            raise EncodeError(f"bit-string of {self.length} bits needs {(self.length + 7) // 8} bytes")

    @classmethod
    def from_bits(cls, bits: str) -> BitString:
        """From a string of '0'/'1' characters, first bit first."""
        if any(c not in "01" for c in bits):
            raise EncodeError("bit-string text must contain only 0 and 1")
        n = len(bits)
        padded = bits + "0" * (-n % 8)
        data = bytes(int(padded[i : i + 8], 2) for i in range(0, len(padded), 8))
        return cls(data, n)

    def bits(self) -> str:
        text = "".join(f"{b:08b}" for b in self.data)
        return text[: self.length]

    def __getitem__(self, index: int) -> bool:
        if not 0 <= index < self.length:
            raise IndexError(index)
        return bool(self.data[index >> 3] & (0x80 >> (index & 7)))

    def __str__(self) -> str:
        return self.bits()


class DontCareType:
    """The ``dont-care`` value (tag 255). Use the singleton :data:`DONT_CARE`."""

    __slots__ = ()
    _instance: ClassVar[DontCareType | None] = None

    def __new__(cls) -> DontCareType:
        if cls._instance is None:
            cls._instance = object.__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "DONT_CARE"

    def __reduce__(self) -> str:
        return "DONT_CARE"


DONT_CARE = DontCareType()


@dataclass(frozen=True, slots=True)
class TypeDescription:
    """A compact-array type description.

    ``tag`` is a simple type tag, or ``ARRAY`` (with ``count`` and one element in ``elements``), or
    ``STRUCTURE`` (with its member descriptions in ``elements``).
    """

    tag: Tag
    elements: tuple[TypeDescription, ...] = ()
    count: int = 0


@dataclass(frozen=True, slots=True)
class CompactArray:
    """DLMS ``compact-array``: a type description and the element values (typed as for ``Data``)."""

    type_description: TypeDescription
    values: tuple[DataValue, ...]


# The union of every Python value the A-XDR codec produces or accepts.
DataValue = Union[
    None,
    bool,
    int,
    float,
    str,
    bytes,
    "list[DataValue]",
    "tuple[DataValue, ...]",
    BitString,
    CompactArray,
    DontCareType,
    "CosemDateTime",
    "CosemDate",
    "CosemTime",
]

from cosemnet.codec.datetime import CosemDate, CosemDateTime, CosemTime  # noqa: E402

__all__ = [
    "DONT_CARE",
    "INT_TYPES",
    "Bcd",
    "BitString",
    "CompactArray",
    "CosemDate",
    "CosemDateTime",
    "CosemTime",
    "DataValue",
    "DeltaDoubleLong",
    "DeltaDoubleLongUnsigned",
    "DeltaInteger",
    "DeltaLong",
    "DeltaLongUnsigned",
    "DeltaUnsigned",
    "DontCareType",
    "DoubleLong",
    "DoubleLongUnsigned",
    "Enumerated",
    "Float32",
    "Integer",
    "Long",
    "Long64",
    "Long64Unsigned",
    "LongUnsigned",
    "Tag",
    "TypeDescription",
    "TypedInt",
    "Unsigned",
    "Utf8String",
]
