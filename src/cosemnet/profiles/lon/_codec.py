"""Private helpers shared by the ISO/IEC 14908 codecs: a bounded reader with absolute offsets and
range checks for encoders."""

from __future__ import annotations

from enum import IntEnum
from typing import Final, TypeVar

from cosemnet.codec.types import Buffer as Buffer  # re-exported
from cosemnet.errors import DecodeError, EncodeError

E = TypeVar("E", bound=IntEnum)

SUBNET_MAX: Final = 255
NODE_MAX: Final = 127


def to_bytes(data: Buffer) -> bytes:
    """A ``bytes`` view of any bytes-like input (memoryviews of any format are taken byte-wise)."""
    if isinstance(data, bytes):
        return data
    if isinstance(data, memoryview):
        return data.tobytes()
    return bytes(data)


class Reader:
    """Reads bytes from ``buf[pos:end]``; every error carries the absolute offset into ``buf``."""

    __slots__ = ("buf", "end", "pos")

    def __init__(self, buf: bytes, pos: int, end: int) -> None:
        self.buf = buf
        self.pos = pos
        self.end = end

    def remaining(self) -> int:
        return self.end - self.pos

    def u8(self, expected: str) -> int:
        if self.pos >= self.end:
            raise DecodeError("truncated input", self.pos, expected)
        value = self.buf[self.pos]
        self.pos += 1
        return value

    def take(self, n: int, expected: str) -> bytes:
        if self.end - self.pos < n:
            raise DecodeError(
                f"truncated input: {n} bytes needed, {self.end - self.pos} left", self.pos, expected
            )
        chunk = self.buf[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def rest(self) -> bytes:
        chunk = self.buf[self.pos : self.end]
        self.pos = self.end
        return chunk

    def expect_end(self, what: str) -> None:
        if self.pos != self.end:
            raise DecodeError(f"{self.end - self.pos} trailing bytes after {what}", self.pos, "end of input")


def check_int(name: str, value: int, low: int, high: int) -> int:
    """Raise :class:`EncodeError` unless ``low <= value <= high``; return ``value``."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise EncodeError(f"{name} must be an integer in {low}..{high}, got {value!r}")
    return value


def check_bytes(name: str, value: bytes, *lengths: int) -> bytes:
    """Raise :class:`EncodeError` unless ``value`` is bytes-like with one of ``lengths`` (any if none)."""
    if not isinstance(value, bytes | bytearray | memoryview):
        raise EncodeError(f"{name} must be bytes, got {type(value).__name__}")
    if lengths and len(value) not in lengths:
        allowed = ", ".join(str(n) for n in lengths)
        raise EncodeError(f"{name} must be {allowed} bytes long, got {len(value)}")
    return bytes(value)


def check_enum(enum_type: type[E], value: int, name: str) -> E:
    """``enum_type(value)`` or :class:`EncodeError`."""
    try:
        return enum_type(value)
    except (ValueError, TypeError):
        raise EncodeError(f"{name} must be a {enum_type.__name__}, got {value!r}") from None
