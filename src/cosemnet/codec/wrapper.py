"""IEC 62056-4-7 wrapper: the 8-byte header that carries xDLMS APDUs over TCP and UDP (port 4059).

Header (big-endian): version (0x0001), source wPort, destination wPort, length of the APDU that follows.

* :class:`WrapperHeader` / :class:`WrapperFrame` encode and decode one frame (a UDP datagram holds
  exactly one frame).
* :class:`WrapperStream` is a sans-IO splitter for TCP: feed it whatever ``recv`` returned, get back the
  complete frames. It never buffers more than one header plus ``max_apdu_length`` bytes: a header
  announcing a longer APDU (or a version other than 1) raises :class:`DecodeError`, after which the
  stream is unusable (framing is lost; close the connection).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import ClassVar, Final, Self

from cosemnet.codec.types import Buffer
from cosemnet.errors import DecodeError, EncodeError

__all__ = [
    "DLMS_PORT",
    "HEADER_SIZE",
    "MAX_APDU_LENGTH",
    "WPORT_ALL_STATION",
    "WPORT_MANAGEMENT_CLIENT",
    "WPORT_MANAGEMENT_LOGICAL_DEVICE",
    "WPORT_NO_STATION",
    "WPORT_PUBLIC_CLIENT",
    "WRAPPER_VERSION",
    "WrapperFrame",
    "WrapperHeader",
    "WrapperStream",
]

DLMS_PORT: Final = 4059
"""IANA port of DLMS/COSEM over TCP and UDP."""

WRAPPER_VERSION: Final = 0x0001
HEADER_SIZE: Final = 8
MAX_APDU_LENGTH: Final = 0xFFFF
"""The largest length the 16-bit length field can announce."""

# wPorts (IEC 62056-4-7)
WPORT_NO_STATION: Final = 0
"""Client or server side: no-station."""
WPORT_MANAGEMENT_CLIENT: Final = 1
"""Client side: client management process."""
WPORT_PUBLIC_CLIENT: Final = 16
"""Client side: public client."""
WPORT_MANAGEMENT_LOGICAL_DEVICE: Final = 1
"""Server side: management logical device."""
WPORT_ALL_STATION: Final = 127
"""Server side: all-station (broadcast)."""

_HEADER: Final = struct.Struct(">HHHH")


@dataclass(slots=True, frozen=True)
class WrapperHeader:
    """The 8-byte wrapper header. Only version 1 exists; other versions are refused both ways."""

    version: int = WRAPPER_VERSION
    source_wport: int = 0
    destination_wport: int = 0
    length: int = 0

    SIZE: ClassVar[int] = HEADER_SIZE

    def encode(self) -> bytes:
        """The 8 header bytes."""
        if self.version != WRAPPER_VERSION:
            raise EncodeError(f"wrapper version must be 1, got {self.version!r}")
        try:
            return _HEADER.pack(self.version, self.source_wport, self.destination_wport, self.length)
        except struct.error:
            raise EncodeError(
                f"wPorts and length are 16-bit: {self.source_wport!r}, {self.destination_wport!r}, "
                f"{self.length!r}"
            ) from None

    @classmethod
    def decode_from(cls, data: Buffer, offset: int = 0) -> tuple[Self, int]:
        """The header at ``offset`` and the offset after it (DecodeError when short or not version 1)."""
        if offset + HEADER_SIZE > len(data):
            raise DecodeError("input ends inside the wrapper header", offset, "8 bytes")
        version, source, destination, length = _HEADER.unpack_from(data, offset)
        if version != WRAPPER_VERSION:
            raise DecodeError(f"wrapper version {version}", offset, "version 0x0001")
        return cls(version, source, destination, length), offset + HEADER_SIZE

    @classmethod
    def decode(cls, data: Buffer) -> Self:
        """Decode a header that fills ``data`` exactly (8 bytes)."""
        header, end = cls.decode_from(data, 0)
        if end != len(data):
            raise DecodeError(f"{len(data) - end} bytes after the wrapper header", end, "end of input")
        return header


@dataclass(slots=True, frozen=True)
class WrapperFrame:
    """A wrapper header and the APDU it carries (the header's length is ``len(apdu)``)."""

    source_wport: int
    destination_wport: int
    apdu: bytes

    @property
    def header(self) -> WrapperHeader:
        """The header this frame encodes with (version 1, its wPorts, the APDU length)."""
        return WrapperHeader(WRAPPER_VERSION, self.source_wport, self.destination_wport, len(self.apdu))

    def encode(self) -> bytes:
        """Header and APDU (ValueError when the APDU is longer than 65535 bytes)."""
        apdu = self.apdu
        size = len(apdu)
        if size > MAX_APDU_LENGTH:
            raise EncodeError(f"APDU of {size} bytes does not fit the 16-bit wrapper length")
        try:
            head = _HEADER.pack(WRAPPER_VERSION, self.source_wport, self.destination_wport, size)
        except struct.error:
            return self.header.encode() + bytes(apdu)  # raises the header's EncodeError
        return head + (apdu if type(apdu) is bytes else bytes(apdu))

    @classmethod
    def decode_from(cls, data: Buffer, offset: int = 0) -> tuple[Self, int]:
        """The frame at ``offset`` and the offset after it (DecodeError when incomplete)."""
        if offset + HEADER_SIZE > len(data):
            raise DecodeError("input ends inside the wrapper header", offset, "8 bytes")
        version, source, destination, length = _HEADER.unpack_from(data, offset)
        if version != WRAPPER_VERSION:
            raise DecodeError(f"wrapper version {version}", offset, "version 0x0001")
        start = offset + HEADER_SIZE
        end = start + length
        if end > len(data):
            raise DecodeError(
                f"wrapper announces {length} APDU bytes, {len(data) - start} present",
                offset + 6,
                f"{length} bytes",
            )
        return cls(source, destination, bytes(data[start:end])), end

    @classmethod
    def decode(cls, data: Buffer) -> Self:
        """Decode one frame that fills ``data`` exactly (e.g. a UDP datagram): the length must match."""
        frame, end = cls.decode_from(data, 0)
        if end != len(data):
            raise DecodeError(
                f"wrapper length {end - HEADER_SIZE} does not match the "
                f"{len(data) - HEADER_SIZE} bytes present",
                6,
                f"length {len(data) - HEADER_SIZE}",
            )
        return frame


class WrapperStream:
    """Sans-IO splitter of a TCP byte stream into wrapper frames.

    ``max_apdu_length`` bounds what a peer can make us buffer (default: the 16-bit maximum; set it to the
    negotiated max PDU size plus ciphering overhead). Offsets in errors count from the start of the stream.
    """

    __slots__ = ("_buffer", "_consumed", "_error", "max_apdu_length")

    def __init__(self, max_apdu_length: int = MAX_APDU_LENGTH) -> None:
        if not 0 <= max_apdu_length <= MAX_APDU_LENGTH:
            raise ValueError(f"max_apdu_length must be 0..{MAX_APDU_LENGTH}")
        self.max_apdu_length = max_apdu_length
        self._buffer = bytearray()
        self._consumed = 0  # stream offset of _buffer[0]
        self._error: DecodeError | None = None

    @property
    def pending(self) -> int:
        """Bytes received that do not complete a frame yet."""
        return len(self._buffer)

    def feed(self, data: Buffer) -> list[WrapperFrame]:
        """Add received bytes; return the frames they complete (possibly none)."""
        if self._error is not None:
            raise DecodeError(
                f"stream already failed: {self._error.reason}", self._error.offset, self._error.expected
            )
        buffer = self._buffer
        buffer += data
        frames: list[WrapperFrame] = []
        pos = 0
        size = len(buffer)
        try:
            while size - pos >= HEADER_SIZE:
                version, source, destination, length = _HEADER.unpack_from(buffer, pos)
                if version != WRAPPER_VERSION:
                    raise DecodeError(f"wrapper version {version}", self._consumed + pos, "version 0x0001")
                if length > self.max_apdu_length:
                    raise DecodeError(
                        f"wrapper announces {length} APDU bytes, "
                        f"more than the {self.max_apdu_length} allowed",
                        self._consumed + pos + 6,
                        f"length <= {self.max_apdu_length}",
                    )
                end = pos + HEADER_SIZE + length
                if end > size:
                    break
                frames.append(WrapperFrame(source, destination, bytes(buffer[pos + HEADER_SIZE : end])))
                pos = end
        except DecodeError as exc:
            self._error = exc
            self._buffer = bytearray()
            raise
        if pos:
            del buffer[:pos]
            self._consumed += pos
        return frames
