"""ISO/IEC 14908-1 APDUs: the application-layer PDU carried by an NPDU, TPDU or SPDU.

The first byte ("destination and type") selects the kind (Wireshark ``packet-lon.c`` ``dissect_apdu``;
izot/lon-stack-dx ``lcs_netmgmt.h`` opcode bases; facts only):

===========  ===============================================================================
first byte   kind
===========  ===============================================================================
0x00-0x3F    application message (code = the whole byte); NM / ND *responses* use this range too
0x40-0x4F    foreign frame
0x50-0x5F    network diagnostics request
0x60-0x7F    network management request
0x80-0xFF    network variable: ``1 d s13..s8`` then ``s7..s0`` (d = direction, s = 14-bit selector)
===========  ===============================================================================

Responses to network management requests are coded ``0x20 | (code & 0x1F)`` (success) or
``code & 0x1F`` (failure), and to network diagnostics ``0x30 | (code & 0x0F)`` / ``0x10 | (code & 0x0F)``:
on the wire they sit in the application-message range, so a bare APDU decodes them as
:class:`ApplicationMessage`; :mod:`cosemnet.profiles.lon.netmgmt` reads them given the request.

Each class keeps the whole first byte in ``code`` (e.g. ``NetworkManagement(code=0x61)``) and the bytes
after it in ``data``; the APDU extends to the end of the enclosing PDU.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import ClassVar, Final, Self

from cosemnet.errors import DecodeError, EncodeError
from cosemnet.profiles.lon._codec import Buffer, Reader, check_bytes, check_enum, check_int, to_bytes

NV_SELECTOR_MAX: Final = 0x3FFF


class NvDirection(IntEnum):
    """Direction bit (0x40 of the first byte) of a network variable APDU."""

    INCOMING = 0
    """An update sent to an input network variable."""
    OUTGOING = 1
    """A poll of / poll response from an output network variable."""


def _encode_coded(code: int, data: bytes, low: int, high: int, what: str) -> bytes:
    check_int(f"{what} code", code, low, high)
    return bytes((code,)) + check_bytes("data", data)


def _decode_coded(data: Buffer, low: int, high: int, what: str) -> tuple[int, bytes]:
    buf = to_bytes(data)
    reader = Reader(buf, 0, len(buf))
    code = reader.u8(f"{what} code")
    if not low <= code <= high:
        raise DecodeError(f"APDU code 0x{code:02X} is not a {what}", 0, f"0x{low:02X}..0x{high:02X}")
    return code, reader.rest()


@dataclass(slots=True)
class ApplicationMessage:
    """An application message (code 0x00-0x3F), or a network management / diagnostics response."""

    code: int
    data: bytes = b""

    CODE_MIN: ClassVar[int] = 0x00
    CODE_MAX: ClassVar[int] = 0x3F

    def encode(self) -> bytes:
        return _encode_coded(self.code, self.data, self.CODE_MIN, self.CODE_MAX, "application message")

    @classmethod
    def decode(cls, data: Buffer) -> Self:
        return cls(*_decode_coded(data, cls.CODE_MIN, cls.CODE_MAX, "application message"))


@dataclass(slots=True)
class ForeignFrame:
    """A foreign frame (code 0x40-0x4F)."""

    code: int
    data: bytes = b""

    CODE_MIN: ClassVar[int] = 0x40
    CODE_MAX: ClassVar[int] = 0x4F

    def encode(self) -> bytes:
        return _encode_coded(self.code, self.data, self.CODE_MIN, self.CODE_MAX, "foreign frame")

    @classmethod
    def decode(cls, data: Buffer) -> Self:
        return cls(*_decode_coded(data, cls.CODE_MIN, cls.CODE_MAX, "foreign frame"))


@dataclass(slots=True)
class NetworkDiagnostic:
    """A network diagnostics request (code 0x50-0x5F)."""

    code: int
    data: bytes = b""

    CODE_MIN: ClassVar[int] = 0x50
    CODE_MAX: ClassVar[int] = 0x5F

    def encode(self) -> bytes:
        return _encode_coded(self.code, self.data, self.CODE_MIN, self.CODE_MAX, "network diagnostic")

    @classmethod
    def decode(cls, data: Buffer) -> Self:
        return cls(*_decode_coded(data, cls.CODE_MIN, cls.CODE_MAX, "network diagnostic"))


@dataclass(slots=True)
class NetworkManagement:
    """A network management request (code 0x60-0x7F)."""

    code: int
    data: bytes = b""

    CODE_MIN: ClassVar[int] = 0x60
    CODE_MAX: ClassVar[int] = 0x7F

    def encode(self) -> bytes:
        return _encode_coded(self.code, self.data, self.CODE_MIN, self.CODE_MAX, "network management")

    @classmethod
    def decode(cls, data: Buffer) -> Self:
        return cls(*_decode_coded(data, cls.CODE_MIN, cls.CODE_MAX, "network management"))


@dataclass(slots=True)
class NetworkVariable:
    """A network variable message: 14-bit ``selector``, ``direction`` bit, value bytes."""

    selector: int
    direction: NvDirection = NvDirection.INCOMING
    data: bytes = b""

    def encode(self) -> bytes:
        selector = check_int("selector", self.selector, 0, NV_SELECTOR_MAX)
        direction = check_enum(NvDirection, self.direction, "direction")
        head = 0x8000 | (direction << 14) | selector
        return head.to_bytes(2, "big") + check_bytes("data", self.data)

    @classmethod
    def decode(cls, data: Buffer) -> Self:
        buf = to_bytes(data)
        reader = Reader(buf, 0, len(buf))
        value = read_apdu(reader)
        if not isinstance(value, cls):
            raise DecodeError(f"APDU code 0x{buf[0]:02X} is not a network variable", 0, "0x80..0xFF")
        return value


Apdu = ApplicationMessage | ForeignFrame | NetworkDiagnostic | NetworkManagement | NetworkVariable
"""Any ISO/IEC 14908-1 APDU."""

APDU_TYPES: Final = (ApplicationMessage, ForeignFrame, NetworkDiagnostic, NetworkManagement, NetworkVariable)


def encode_apdu(apdu: Apdu) -> bytes:
    """Encode any APDU."""
    if not isinstance(apdu, APDU_TYPES):
        raise EncodeError(f"not a 14908-1 APDU: {type(apdu).__name__}")
    return apdu.encode()


def read_apdu(reader: Reader) -> Apdu:
    """Decode the APDU filling the rest of ``reader`` (at least the code byte)."""
    start = reader.pos
    first = reader.u8("APDU destination and type")
    if first & 0x80:
        second = reader.u8("network variable selector (low byte)")
        selector = ((first & 0x3F) << 8) | second
        return NetworkVariable(selector, NvDirection((first >> 6) & 1), reader.rest())
    data = reader.rest()
    if first <= ApplicationMessage.CODE_MAX:
        return ApplicationMessage(first, data)
    if first <= ForeignFrame.CODE_MAX:
        return ForeignFrame(first, data)
    if first <= NetworkDiagnostic.CODE_MAX:
        return NetworkDiagnostic(first, data)
    if first <= NetworkManagement.CODE_MAX:
        return NetworkManagement(first, data)
    raise DecodeError("unreachable APDU code", start)  # pragma: no cover


def decode_apdu(data: Buffer) -> Apdu:
    """Decode a buffer holding exactly one APDU."""
    buf = to_bytes(data)
    return read_apdu(Reader(buf, 0, len(buf)))
