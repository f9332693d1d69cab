"""Positional reader for the mesh profile's Data structures (internal).

The structures of this profile (registration data, group definitions, response windows...) are
COSEM ``Data`` values. Decoding them member by member, rather than decoding the whole value first and
checking it afterwards, lets every :class:`DecodeError` carry the absolute offset of the member that is
wrong, as the house rules require.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any, Final, TypeVar

from cosemnet.codec.axdr import Buffer, decode_data, decode_length, encode_data
from cosemnet.codec.types import DataValue, Tag
from cosemnet.errors import DecodeError, EncodeError

E = TypeVar("E", bound=IntEnum)

_STRUCTURE: Final = int(Tag.STRUCTURE)
_ARRAY: Final = int(Tag.ARRAY)


class DataReader:
    """Reads COSEM Data members one by one from ``buf``, starting at ``offset``."""

    __slots__ = ("buf", "pos")

    def __init__(self, buf: Buffer, offset: int = 0) -> None:
        self.buf = buf
        self.pos = offset

    def _header(self, tag: int, what: str, expected: str) -> int:
        start = self.pos
        if start >= len(self.buf):
            raise DecodeError(f"input ends before {what}", start, expected)
        if self.buf[start] != tag:
            raise DecodeError(f"{what} has tag {self.buf[start]}", start, expected)
        count, self.pos = decode_length(self.buf, start + 1)
        return count

    def structure(self, count: int, what: str) -> None:
        """A structure header with exactly ``count`` members."""
        start = self.pos
        n = self._header(_STRUCTURE, what, f"structure of {count} members")
        if n != count:
            raise DecodeError(f"{what} has {n} members", start, f"structure of {count} members")

    def array(self, what: str, max_count: int = 0xFFFF) -> int:
        """An array header; returns the element count (at most ``max_count``)."""
        start = self.pos
        n = self._header(_ARRAY, what, "array")
        if n > max_count:
            raise DecodeError(f"{what} has {n} elements", start, f"at most {max_count} elements")
        return n

    def value(self, types: type | tuple[type, ...], what: str, expected: str = "") -> Any:
        """One Data value whose Python type is exactly one of ``types``."""
        start = self.pos
        value, self.pos = decode_data(self.buf, start)
        allowed = types if isinstance(types, tuple) else (types,)
        if type(value) not in allowed:
            names = expected or " or ".join(_type_name(t) for t in allowed)
            raise DecodeError(f"{what} has the wrong type", start, names)
        return value

    def any_value(self) -> DataValue:
        """One Data value of any type."""
        value, self.pos = decode_data(self.buf, self.pos)
        return value

    def octet_string(self, what: str, sizes: tuple[int, ...] | None = None) -> bytes:
        """An octet-string, of one of ``sizes`` bytes when given."""
        start = self.pos
        raw: bytes = self.value(bytes, what, "octet-string")
        if sizes is not None and len(raw) not in sizes:
            want = " or ".join(str(s) for s in sizes)
            raise DecodeError(f"{what} has {len(raw)} bytes", start, f"octet-string of {want} bytes")
        return raw

    def fail(self, reason: str, start: int, expected: str) -> DecodeError:
        """A DecodeError for a member that starts at ``start`` (for range and enum checks)."""
        return DecodeError(reason, start, expected)

    def end(self, what: str) -> None:
        """The buffer must end here."""
        if self.pos != len(self.buf):
            raise DecodeError(
                f"{len(self.buf) - self.pos} trailing bytes after {what}", self.pos, "end of input"
            )


def _type_name(t: type) -> str:
    tag = getattr(t, "tag", None)
    if isinstance(tag, Tag):
        return tag.dlms_name
    return {
        bytes: "octet-string",
        str: "visible-string",
        tuple: "structure",
        list: "array",
        bool: "boolean",
    }.get(t, t.__name__)


def reencode(value: DataValue, what: str) -> bytes:
    """The A-XDR bytes of an already decoded ``value`` (to parse it with a :class:`DataReader`).

    A value that cannot be encoded is reported as a :class:`DecodeError` at offset 0.
    """
    try:
        return encode_data(value)
    except EncodeError as exc:
        raise DecodeError(f"{what} cannot be represented: {exc}", 0, what) from None


def enum_member(enum_cls: type[E], raw: int, start: int, what: str) -> E:
    """``enum_cls(raw)`` or a DecodeError at ``start``."""
    try:
        return enum_cls(raw)
    except ValueError:
        raise DecodeError(f"unknown {what} {raw}", start, what) from None
