"""xDLMS InitiateRequest / InitiateResponse (IEC 62056-5-3) and the conformance block.

These APDUs travel inside the ACSE ``user-information`` field (see :mod:`cosemnet.codec.acse`) and are
A-XDR encoded: an OPTIONAL component is a presence octet (``00`` absent, ``01`` present) followed by
the value; a DEFAULT component is a presence octet (``00`` = the default value, not sent) followed by
the value when sent. The conformance block is the BER encoding of ``[APPLICATION 31] IMPLICIT BIT
STRING (SIZE(24))``: ``5F 1F 04 00`` and three octets.

Example, the InitiateRequest of a typical LN client::

    InitiateRequest(proposed_conformance=Conformance.GET | Conformance.SET | Conformance.ACTION,
                    client_max_receive_pdu_size=0xFFFF).encode()

Design choices (A-XDR leaves them open or the text is not public):

* Presence octets and the response-allowed BOOLEAN accept only ``00`` and ``01``: other values would
  not survive a decode/encode round trip, so they are a :class:`DecodeError`.
* The dedicated-key length must use the minimal A-XDR length form, for the same reason.
* ``vaa_name`` (ObjectName, formally Integer16) is kept as an unsigned 16-bit number: it is a short
  name (0xFA00 for SN, 0x0007 for LN), and short names are unsigned everywhere else in cosemnet.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntFlag
from typing import ClassVar, Final, Self

from cosemnet.codec.axdr import decode_length, encode_length, length_bytes
from cosemnet.codec.types import Buffer
from cosemnet.errors import DecodeError, EncodeError

CONFORMANCE_HEADER: Final = b"\x5f\x1f\x04\x00"
"""``[APPLICATION 31]``, length 4, 0 unused bits: the fixed start of an encoded conformance block."""


def _bit(n: int) -> int:
    """Flag value of conformance bit ``n`` (BER BIT STRING numbering, bit 0 = MSB of the first octet)."""
    return 1 << (23 - n)


class Conformance(IntFlag):
    """The 24-bit xDLMS conformance block (Blue Book names; bit 0 is the MSB of the first octet).

    The integer value is the three octets read big-endian, so ``Conformance(0x001E1D)`` is the block
    ``00 1E 1D``.
    """

    RESERVED_ZERO = _bit(0)
    GENERAL_PROTECTION = _bit(1)
    GENERAL_BLOCK_TRANSFER = _bit(2)
    READ = _bit(3)
    WRITE = _bit(4)
    UNCONFIRMED_WRITE = _bit(5)
    DELTA_VALUE_ENCODING = _bit(6)
    RESERVED_SEVEN = _bit(7)
    ATTRIBUTE0_SUPPORTED_WITH_SET = _bit(8)
    PRIORITY_MGMT_SUPPORTED = _bit(9)
    ATTRIBUTE0_SUPPORTED_WITH_GET = _bit(10)
    BLOCK_TRANSFER_WITH_GET_OR_READ = _bit(11)
    BLOCK_TRANSFER_WITH_SET_OR_WRITE = _bit(12)
    BLOCK_TRANSFER_WITH_ACTION = _bit(13)
    MULTIPLE_REFERENCES = _bit(14)
    INFORMATION_REPORT = _bit(15)
    DATA_NOTIFICATION = _bit(16)
    ACCESS = _bit(17)
    PARAMETERIZED_ACCESS = _bit(18)
    GET = _bit(19)
    SET = _bit(20)
    SELECTIVE_ACCESS = _bit(21)
    EVENT_NOTIFICATION = _bit(22)
    ACTION = _bit(23)

    @classmethod
    def from_bit_numbers(cls, *bits: int) -> Conformance:
        """The block with the given BIT STRING bit numbers (0..23) set."""
        value = 0
        for n in bits:
            if not 0 <= n <= 23:
                raise EncodeError(f"conformance bit {n} is not 0..23")
            value |= _bit(n)
        return cls(value)

    def bit_numbers(self) -> list[int]:
        """The BIT STRING bit numbers that are set, ascending."""
        return [n for n in range(24) if self & _bit(n)]


def encode_conformance(value: int, out: bytearray) -> None:
    """Append the 7-octet conformance block ``5F1F 04 00 xx xx xx``."""
    if not 0 <= value <= 0xFFFFFF:
        raise EncodeError(f"conformance {value:#x} does not fit 24 bits")
    out += CONFORMANCE_HEADER
    out += int(value).to_bytes(3, "big")


def decode_conformance(data: Buffer, offset: int) -> tuple[Conformance, int]:
    """Read a conformance block at ``offset``; return ``(conformance, offset_after)``."""
    end = offset + 7
    if end > len(data):
        raise DecodeError("input ends inside the conformance block", offset, "7 octets 5F1F0400xxxxxx")
    if data[offset : offset + 4] != CONFORMANCE_HEADER:
        raise DecodeError("bad conformance block header", offset, "5F1F0400")
    return Conformance(int.from_bytes(data[offset + 4 : end], "big")), end


# --------------------------------------------------------------------------------------------------
# A-XDR primitives shared by both APDUs


def _need(data: Buffer, offset: int, count: int, what: str) -> None:
    if offset + count > len(data):
        raise DecodeError(f"input ends before {what}", offset, f"{count} octet(s)")


def _presence(data: Buffer, offset: int, what: str) -> bool:
    _need(data, offset, 1, f"the presence flag of {what}")
    flag = data[offset]
    if flag > 1:
        raise DecodeError(f"presence flag {flag:#04x} for {what}", offset, "00 or 01")
    return flag == 1


def _tag(data: Buffer, offset: int, tag: int, name: str) -> None:
    _need(data, offset, 1, f"the {name} tag")
    if data[offset] != tag:
        raise DecodeError(f"not an {name} (tag {data[offset]:#04x})", offset, f"tag {tag:#04x}")


def _check_range(value: int, low: int, high: int, what: str) -> None:
    if not low <= value <= high:
        raise EncodeError(f"{what} {value} is not {low}..{high}")


def _finish(cls_name: str, data: Buffer, end: int) -> None:
    if end != len(data):
        raise DecodeError(f"{len(data) - end} trailing octet(s) after the {cls_name}", end, "end of input")


# --------------------------------------------------------------------------------------------------
# InitiateRequest


@dataclass(slots=True, kw_only=True)
class InitiateRequest:
    """xDLMS InitiateRequest (tag 0x01).

    ``response_allowed`` is the DEFAULT TRUE component: ``None`` means not sent (so TRUE); ``True`` or
    ``False`` means sent explicitly. :attr:`is_response_allowed` gives the effective value.
    """

    TAG: ClassVar[int] = 0x01

    dedicated_key: bytes | None = field(default=None, repr=False)
    response_allowed: bool | None = None
    proposed_quality_of_service: int | None = None
    proposed_dlms_version_number: int = 6
    proposed_conformance: Conformance
    client_max_receive_pdu_size: int

    @property
    def is_response_allowed(self) -> bool:
        """The response-allowed value with the DEFAULT applied."""
        return self.response_allowed is None or self.response_allowed

    def encode(self) -> bytes:
        out = bytearray((self.TAG,))
        if self.dedicated_key is None:
            out.append(0)
        else:
            out.append(1)
            encode_length(len(self.dedicated_key), out)
            out += self.dedicated_key
        if self.response_allowed is None:
            out.append(0)
        else:
            out += b"\x01\x01" if self.response_allowed else b"\x01\x00"
        if self.proposed_quality_of_service is None:
            out.append(0)
        else:
            _check_range(self.proposed_quality_of_service, -128, 127, "proposed-quality-of-service")
            out.append(1)
            out.append(self.proposed_quality_of_service & 0xFF)
        _check_range(self.proposed_dlms_version_number, 0, 0xFF, "proposed-dlms-version-number")
        out.append(self.proposed_dlms_version_number)
        encode_conformance(self.proposed_conformance, out)
        _check_range(self.client_max_receive_pdu_size, 0, 0xFFFF, "client-max-receive-pdu-size")
        out += self.client_max_receive_pdu_size.to_bytes(2, "big")
        return bytes(out)

    @classmethod
    def decode(cls, data: Buffer) -> Self:
        value, end = cls.decode_from(data, 0)
        _finish("InitiateRequest", data, end)
        return value

    @classmethod
    def decode_from(cls, data: Buffer, offset: int) -> tuple[Self, int]:
        _tag(data, offset, cls.TAG, "InitiateRequest")
        pos = offset + 1
        dedicated_key: bytes | None = None
        if _presence(data, pos, "dedicated-key"):
            pos += 1
            n, start = decode_length(data, pos)
            if start - pos != len(length_bytes(n)):
                raise DecodeError("dedicated-key length is not in the minimal form", pos, "minimal length")
            if start + n > len(data):
                raise DecodeError(f"dedicated-key of {n} octets runs past the end", pos, f"{n} octets")
            dedicated_key = bytes(data[start : start + n])
            pos = start + n
        else:
            pos += 1
        response_allowed: bool | None = None
        if _presence(data, pos, "response-allowed"):
            pos += 1
            _need(data, pos, 1, "response-allowed")
            flag = data[pos]
            if flag > 1:
                raise DecodeError(f"response-allowed BOOLEAN {flag:#04x}", pos, "00 or 01")
            response_allowed = flag == 1
        pos += 1
        quality: int | None = None
        if _presence(data, pos, "proposed-quality-of-service"):
            pos += 1
            _need(data, pos, 1, "proposed-quality-of-service")
            quality = data[pos] - 256 if data[pos] & 0x80 else data[pos]
        pos += 1
        _need(data, pos, 1, "proposed-dlms-version-number")
        version = data[pos]
        conformance, pos = decode_conformance(data, pos + 1)
        _need(data, pos, 2, "client-max-receive-pdu-size")
        size = int.from_bytes(data[pos : pos + 2], "big")
        return (
            cls(
                dedicated_key=dedicated_key,
                response_allowed=response_allowed,
                proposed_quality_of_service=quality,
                proposed_dlms_version_number=version,
                proposed_conformance=conformance,
                client_max_receive_pdu_size=size,
            ),
            pos + 2,
        )


# --------------------------------------------------------------------------------------------------
# InitiateResponse


VAA_NAME_LN: Final = 0x0007
"""vaa-name of a server using logical-name referencing."""

VAA_NAME_SN: Final = 0xFA00
"""vaa-name of a server using short-name referencing (base name of the current Association SN)."""


@dataclass(slots=True, kw_only=True)
class InitiateResponse:
    """xDLMS InitiateResponse (tag 0x08)."""

    TAG: ClassVar[int] = 0x08

    negotiated_quality_of_service: int | None = None
    negotiated_dlms_version_number: int = 6
    negotiated_conformance: Conformance
    server_max_receive_pdu_size: int
    vaa_name: int = VAA_NAME_LN

    def encode(self) -> bytes:
        out = bytearray((self.TAG,))
        if self.negotiated_quality_of_service is None:
            out.append(0)
        else:
            _check_range(self.negotiated_quality_of_service, -128, 127, "negotiated-quality-of-service")
            out.append(1)
            out.append(self.negotiated_quality_of_service & 0xFF)
        _check_range(self.negotiated_dlms_version_number, 0, 0xFF, "negotiated-dlms-version-number")
        out.append(self.negotiated_dlms_version_number)
        encode_conformance(self.negotiated_conformance, out)
        _check_range(self.server_max_receive_pdu_size, 0, 0xFFFF, "server-max-receive-pdu-size")
        out += self.server_max_receive_pdu_size.to_bytes(2, "big")
        _check_range(self.vaa_name, 0, 0xFFFF, "vaa-name")
        out += self.vaa_name.to_bytes(2, "big")
        return bytes(out)

    @classmethod
    def decode(cls, data: Buffer) -> Self:
        value, end = cls.decode_from(data, 0)
        _finish("InitiateResponse", data, end)
        return value

    @classmethod
    def decode_from(cls, data: Buffer, offset: int) -> tuple[Self, int]:
        _tag(data, offset, cls.TAG, "InitiateResponse")
        pos = offset + 1
        quality: int | None = None
        if _presence(data, pos, "negotiated-quality-of-service"):
            pos += 1
            _need(data, pos, 1, "negotiated-quality-of-service")
            quality = data[pos] - 256 if data[pos] & 0x80 else data[pos]
        pos += 1
        _need(data, pos, 1, "negotiated-dlms-version-number")
        version = data[pos]
        conformance, pos = decode_conformance(data, pos + 1)
        _need(data, pos, 4, "server-max-receive-pdu-size and vaa-name")
        size = int.from_bytes(data[pos : pos + 2], "big")
        vaa_name = int.from_bytes(data[pos + 2 : pos + 4], "big")
        return (
            cls(
                negotiated_quality_of_service=quality,
                negotiated_dlms_version_number=version,
                negotiated_conformance=conformance,
                server_max_receive_pdu_size=size,
                vaa_name=vaa_name,
            ),
            pos + 4,
        )
