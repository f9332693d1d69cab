"""CRC-16 of ISO/IEC 14908-1 frames (the power-line / twisted-pair link layer check sequence).

Construction, as public sources give it:

* polynomial x^16 + x^12 + x^5 + 1 (0x1021, "the CCITT CRC-16"), processed MSB first (no reflection of
  input or output);
* initial register value 0xFFFF;
* final XOR 0xFFFF (the register is complemented);
* computed over the whole frame from the PPDU (L2 header) byte to the end of the NPDU, appended high byte
  first.

In the usual CRC catalogue this is CRC-16/GENIBUS (check value 0xD64E over ``b"123456789"``); it differs
from CRC-16/CCITT-FALSE (0x29B1) only by the final XOR. Python's :func:`binascii.crc_hqx` implements the
same register (poly 0x1021, MSB first), so the CRC is ``crc_hqx(frame, 0xFFFF) ^ 0xFFFF``.

Sources (facts only, no code taken):

* izot/lon-stack-ex (MIT), ``LonTalkStack/Source/Shared/LtCUtil.c``, ``LtCRC16()``: table generated for
  poly 0x1021 MSB first, register starts at ``USHRT_MAX``, complemented at the end, written as
  ``[crc >> 8, crc & 0xFF]`` after the data; ``ShareIp/LtLreIpClient.cpp`` checks it over a received
  frame minus its last two bytes.
* izot/lon-stack-dx (MIT), ``lcs/lcs_link.c``: an LPDU is the 1-byte header + NPDU + 2-byte CRC.
* ISO/IEC 14908-1 (as quoted in public notes): the CRC covers the entire NPDU including the L2 header
  and uses the CCITT polynomial; it does not spell out init / reflection / final XOR.
* Wireshark ``epan/dissectors/packet-lon.c`` does not dissect the CRC (CN/IP payloads carry none).
"""

from __future__ import annotations

import binascii
from typing import Final

from cosemnet.errors import DecodeError
from cosemnet.profiles.lon._codec import Buffer

CRC_LENGTH: Final = 2
"""Bytes the CRC occupies at the end of a frame."""

CRC_INIT: Final = 0xFFFF
CRC_XOR_OUT: Final = 0xFFFF
CRC_POLY: Final = 0x1021


def crc16(data: Buffer) -> int:
    """The ISO/IEC 14908-1 CRC-16 of ``data`` as an integer."""
    return binascii.crc_hqx(data, CRC_INIT) ^ CRC_XOR_OUT


def crc_bytes(data: Buffer) -> bytes:
    """The two CRC bytes (high byte first) to append to ``data``."""
    return crc16(data).to_bytes(CRC_LENGTH, "big")


def append_crc(data: Buffer) -> bytes:
    """``data`` followed by its CRC."""
    return bytes(data) + crc_bytes(data)


def check_crc(frame: Buffer) -> bool:
    """True when the last two bytes of ``frame`` are the CRC of the bytes before them."""
    if len(frame) < CRC_LENGTH:
        return False
    body = memoryview(frame)[: len(frame) - CRC_LENGTH]
    return crc_bytes(body) == bytes(memoryview(frame)[len(frame) - CRC_LENGTH :])


def verify_crc(buf: bytes, start: int, end: int) -> None:
    """Raise :class:`DecodeError` unless ``buf[start:end]`` ends with the CRC of what precedes it.

    The error offset is the absolute position of the CRC field in ``buf``.
    """
    if end - start < CRC_LENGTH:
        raise DecodeError("frame too short for a CRC", start, "2-byte CRC")
    crc_at = end - CRC_LENGTH
    expected = crc16(memoryview(buf)[start:crc_at])
    found = int.from_bytes(buf[crc_at:end], "big")
    if expected != found:
        raise DecodeError(
            f"CRC mismatch: frame says 0x{found:04X}, computed 0x{expected:04X}", crc_at, "CRC-16"
        )
