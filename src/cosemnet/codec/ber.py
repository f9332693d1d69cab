"""Minimal BER (ITU-T X.690) helpers for the ACSE APDUs (IEC 62056-5-3, ISO/IEC 8650-1).

Only what DLMS ACSE needs: identifier octets (all classes, low and high tag numbers), definite lengths
(short and long form), and the contents of INTEGER, BIT STRING, OCTET STRING, OBJECT IDENTIFIER and
GraphicString.

Decoders work on integer offsets into the caller's buffer and take an ``end`` bound (the end of the
enclosing contents), so nothing is re-sliced and every :class:`~cosemnet.errors.DecodeError` carries an
absolute offset. Nothing else escapes a decoder.

Lengths. BER lets a sender use the long form for any length and pad it with leading zero octets; such
encodings are accepted. :func:`decode_length` reports how many octets the length field used so that
a caller can reproduce it (:func:`encode_length` takes that number back). What is rejected:

* the indefinite form (``0x80``): DLMS never uses it, and constructed encodings are all tiny;
* the reserved initial octet ``0xFF`` (X.690 8.1.3.5 c);
* high-tag-number identifiers for tag numbers below 31 or with a leading ``0x80`` octet (X.690 8.1.2.4,
  both are invalid BER, not just non-canonical);
* INTEGER contents that are not minimal (X.690 8.3.2: invalid BER);
* OBJECT IDENTIFIER subidentifiers with a leading ``0x80`` octet (X.690 8.19.2: invalid BER).

Design choices where X.690 sets no limit (each one only bounds work on hostile input):
tag numbers use at most 4 subsequent octets (< 2**28), OID subidentifiers at most 16 octets.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Final, NamedTuple

from cosemnet.codec.types import Buffer
from cosemnet.errors import DecodeError, EncodeError

MAX_TAG_OCTETS: Final = 4
"""Most subsequent octets accepted in a high-tag-number identifier."""

MAX_SUBIDENTIFIER_OCTETS: Final = 16
"""Most octets accepted in one OBJECT IDENTIFIER subidentifier."""

MAX_LENGTH_OCTETS: Final = 127
"""Longest length field X.690 allows: the initial octet and 126 subsequent octets."""


class TagClass(IntEnum):
    """The class bits (8 and 7) of an identifier octet."""

    UNIVERSAL = 0
    APPLICATION = 1
    CONTEXT_SPECIFIC = 2
    PRIVATE = 3


class UniversalTag(IntEnum):
    """Universal tag numbers used by DLMS ACSE."""

    BOOLEAN = 1
    INTEGER = 2
    BIT_STRING = 3
    OCTET_STRING = 4
    NULL = 5
    OBJECT_IDENTIFIER = 6
    EXTERNAL = 8
    SEQUENCE = 16
    GRAPHIC_STRING = 25


class TlvHeader(NamedTuple):
    """A decoded identifier and length: where the contents are and how the length was written."""

    tag_class: int
    constructed: bool
    number: int
    content_start: int
    content_end: int
    length_octets: int
    """Octets the length field used (1 = short form); see :func:`encode_length`."""


# --------------------------------------------------------------------------------------------------
# Identifier octets


def encode_identifier(tag_class: int, constructed: bool, number: int) -> bytes:
    """The identifier octets for a tag (low form below 31, high-tag-number form from 31)."""
    if not 0 <= tag_class <= 3:
        raise EncodeError(f"tag class {tag_class} is not 0..3")
    if number < 0:
        raise EncodeError(f"tag number {number} is negative")
    first = (tag_class << 6) | (0x20 if constructed else 0)
    if number < 31:
        return bytes((first | number,))
    groups = [number & 0x7F]
    number >>= 7
    while number:
        groups.append(0x80 | (number & 0x7F))
        number >>= 7
    groups.append(first | 0x1F)
    return bytes(reversed(groups))


def decode_identifier(data: Buffer, offset: int, end: int | None = None) -> tuple[int, bool, int, int]:
    """Read identifier octets at ``offset``; return ``(tag_class, constructed, number, offset_after)``."""
    limit = len(data) if end is None else min(end, len(data))
    if offset >= limit:
        raise DecodeError("input ends before an identifier", offset, "identifier octet")
    first = data[offset]
    tag_class = first >> 6
    constructed = bool(first & 0x20)
    number = first & 0x1F
    if number != 0x1F:
        return tag_class, constructed, number, offset + 1
    number = 0
    pos = offset + 1
    for count in range(MAX_TAG_OCTETS):
        if pos >= limit:
            raise DecodeError("input ends inside a high tag number", pos, "tag number octet")
        octet = data[pos]
        if count == 0 and octet == 0x80:
            raise DecodeError("high tag number starts with 0x80", pos, "minimal tag number")
        number = (number << 7) | (octet & 0x7F)
        pos += 1
        if not octet & 0x80:
            if number < 31:
                raise DecodeError(f"tag number {number} in the high-tag-number form", offset, "low form")
            return tag_class, constructed, number, pos
    raise DecodeError(f"tag number longer than {MAX_TAG_OCTETS} octets", offset, "smaller tag number")


# --------------------------------------------------------------------------------------------------
# Lengths


def length_octets(n: int) -> int:
    """Octets of the minimal definite length field for ``n`` (1 for the short form)."""
    if n < 0x80:
        return 1
    return 1 + (n.bit_length() + 7) // 8


def encode_length(n: int, out: bytearray, octets: int = 0) -> None:
    """Append a definite length field for ``n``.

    ``octets`` asks for a length field of that many octets (as reported by :func:`decode_length`):
    ``1`` is the short form, ``k + 1`` the long form with ``k`` subsequent octets, padded with leading
    zeros. A request that cannot hold ``n`` (or ``0``) gives the minimal form.
    """
    if n < 0:
        raise EncodeError(f"length {n} is negative")
    need = length_octets(n)
    if octets > MAX_LENGTH_OCTETS:
        raise EncodeError(f"a length field has at most {MAX_LENGTH_OCTETS} octets, not {octets}")
    if need > MAX_LENGTH_OCTETS:
        raise EncodeError(f"length {n} does not fit a BER length field")
    octets = max(octets, need)
    if octets == 1:
        out.append(n)
        return
    out.append(0x80 | (octets - 1))
    out += n.to_bytes(octets - 1, "big")


def decode_length(data: Buffer, offset: int, end: int | None = None) -> tuple[int, int, int]:
    """Read a definite length at ``offset``; return ``(length, offset_after, octets_used)``.

    The length is not checked against the remaining input: :func:`decode_header` does that.
    """
    limit = len(data) if end is None else min(end, len(data))
    if offset >= limit:
        raise DecodeError("input ends before a length field", offset, "length octet")
    first = data[offset]
    if first < 0x80:
        return first, offset + 1, 1
    if first == 0x80:
        raise DecodeError("indefinite length is not supported", offset, "definite length")
    if first == 0xFF:
        raise DecodeError("length initial octet 0xFF is reserved", offset, "definite length")
    count = first & 0x7F
    after = offset + 1 + count
    if after > limit:
        raise DecodeError("input ends inside a length field", offset, f"{count} length octets")
    return int.from_bytes(data[offset + 1 : after], "big"), after, count + 1


def decode_header(data: Buffer, offset: int, end: int | None = None) -> TlvHeader:
    """Read identifier and length at ``offset``; the contents must end by ``end`` (default: buffer end)."""
    limit = len(data) if end is None else min(end, len(data))
    tag_class, constructed, number, pos = decode_identifier(data, offset, limit)
    length, start, used = decode_length(data, pos, limit)
    if length > limit - start:
        raise DecodeError(
            f"length {length} runs past the end of the enclosing data ({limit - start} octets left)",
            pos,
            f"at most {limit - start}",
        )
    return TlvHeader(tag_class, constructed, number, start, start + length, used)


def encode_tlv(out: bytearray, identifier: bytes | int, content: Buffer, octets: int = 0) -> None:
    """Append identifier, length (see :func:`encode_length` for ``octets``) and contents."""
    if isinstance(identifier, int):
        out.append(identifier)
    else:
        out += identifier
    encode_length(len(content), out, octets)
    out += content


# --------------------------------------------------------------------------------------------------
# INTEGER


def encode_integer(value: int) -> bytes:
    """Contents octets of an INTEGER: minimal two's complement."""
    size = (value + (value < 0)).bit_length() // 8 + 1
    return value.to_bytes(size, "big", signed=True)


def decode_integer(data: Buffer, start: int, end: int) -> int:
    """Decode INTEGER contents ``data[start:end]`` (must be minimal, X.690 8.3.2)."""
    if end <= start:
        raise DecodeError("INTEGER with no contents octets", start, "at least one octet")
    if end - start > 1:
        first, second = data[start], data[start + 1]
        if (first == 0 and not second & 0x80) or (first == 0xFF and second & 0x80):
            raise DecodeError("INTEGER contents are not minimal", start, "minimal two's complement")
    return int.from_bytes(data[start:end], "big", signed=True)


# --------------------------------------------------------------------------------------------------
# BIT STRING


@dataclass(frozen=True, slots=True)
class BerBitString:
    """A BER BIT STRING as sent: ``data`` octets, of which the last ``unused_bits`` bits are padding.

    The padding bits are kept as received (BER does not require them to be zero), so decoding and
    re-encoding reproduce the input. Bit 0 is the most significant bit of ``data[0]``.
    """

    data: bytes
    unused_bits: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.unused_bits <= 7:
            raise EncodeError(f"BIT STRING unused bits must be 0..7, not {self.unused_bits}")
        if not self.data and self.unused_bits:
            raise EncodeError("an empty BIT STRING has no unused bits")

    @classmethod
    def from_bits(cls, *bits: int, length: int | None = None) -> BerBitString:
        """The string of ``length`` bits (default: just enough for the highest bit) with ``bits`` set."""
        if any(b < 0 for b in bits):
            raise EncodeError("bit numbers are non-negative")
        if length is None:
            length = max(bits) + 1 if bits else 0
        if any(b >= length for b in bits):
            raise EncodeError(f"bit number beyond a {length}-bit string")
        buf = bytearray((length + 7) // 8)
        for b in bits:
            buf[b >> 3] |= 0x80 >> (b & 7)
        return cls(bytes(buf), -length % 8)

    @property
    def length(self) -> int:
        """Number of bits."""
        return len(self.data) * 8 - self.unused_bits

    def bit(self, index: int) -> bool:
        """Bit ``index`` (False beyond the end)."""
        if not 0 <= index < self.length:
            return False
        return bool(self.data[index >> 3] & (0x80 >> (index & 7)))

    def contents(self) -> bytes:
        """The contents octets (unused-bits octet first)."""
        return bytes((self.unused_bits,)) + self.data


def decode_bit_string(data: Buffer, start: int, end: int) -> BerBitString:
    """Decode primitive BIT STRING contents ``data[start:end]``."""
    if end <= start:
        raise DecodeError("BIT STRING with no contents octets", start, "unused-bits octet")
    unused = data[start]
    if unused > 7:
        raise DecodeError(f"BIT STRING with {unused} unused bits", start, "0..7")
    if unused and end - start == 1:
        raise DecodeError("empty BIT STRING with unused bits", start, "0 unused bits")
    return BerBitString(bytes(data[start + 1 : end]), unused)


# --------------------------------------------------------------------------------------------------
# OCTET STRING and GraphicString


def decode_octet_string(data: Buffer, start: int, end: int) -> bytes:
    """Primitive OCTET STRING contents as bytes."""
    return bytes(data[start:end])


def decode_graphic_string(data: Buffer, start: int, end: int) -> bytes:
    """Primitive GraphicString contents, as bytes.

    Design choice: the octets are not checked against the graphic character repertoire; DLMS carries
    arbitrary binary HLS challenges in this type (the authentication value), so they stay ``bytes``.
    """
    return bytes(data[start:end])


# --------------------------------------------------------------------------------------------------
# OBJECT IDENTIFIER


def encode_oid(arcs: Sequence[int]) -> bytes:
    """Contents octets of an OBJECT IDENTIFIER value."""
    if len(arcs) < 2:
        raise EncodeError("an OBJECT IDENTIFIER has at least two arcs")
    first, second = arcs[0], arcs[1]
    if first not in (0, 1, 2) or second < 0 or (first < 2 and second >= 40):
        raise EncodeError(f"invalid leading arcs {first}.{second}")
    out = bytearray()
    for value in (first * 40 + second, *arcs[2:]):
        if value < 0:
            raise EncodeError(f"OID arc {value} is negative")
        groups = [value & 0x7F]
        value >>= 7
        while value:
            groups.append(0x80 | (value & 0x7F))
            value >>= 7
        out += bytes(reversed(groups))
    return bytes(out)


def decode_oid(data: Buffer, start: int, end: int) -> tuple[int, ...]:
    """Decode OBJECT IDENTIFIER contents ``data[start:end]`` into its arcs."""
    if end <= start:
        raise DecodeError("OBJECT IDENTIFIER with no contents octets", start, "subidentifier")
    values: list[int] = []
    pos = start
    while pos < end:
        if data[pos] == 0x80:
            raise DecodeError("subidentifier starts with 0x80", pos, "minimal subidentifier")
        value = 0
        first = pos
        while True:
            if pos >= end:
                raise DecodeError("OBJECT IDENTIFIER ends inside a subidentifier", pos, "last octet < 0x80")
            if pos - first >= MAX_SUBIDENTIFIER_OCTETS:
                raise DecodeError("subidentifier too long", first, f"<= {MAX_SUBIDENTIFIER_OCTETS} octets")
            octet = data[pos]
            value = (value << 7) | (octet & 0x7F)
            pos += 1
            if not octet & 0x80:
                break
        values.append(value)
    head = values[0]
    if head < 40:
        arcs = [0, head]
    elif head < 80:
        arcs = [1, head - 40]
    else:
        arcs = [2, head - 80]
    return (*arcs, *values[1:])


def oid_text(arcs: Sequence[int]) -> str:
    """Dotted text of an OID (``2.16.756.5.8.1.1``)."""
    return ".".join(str(a) for a in arcs)
