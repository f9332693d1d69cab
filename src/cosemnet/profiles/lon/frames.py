"""A complete ISO/IEC 14908-1 frame: PPDU (link-layer header) byte + NPDU [+ CRC-16].

PPDU byte (Wireshark ``packet-lon.c``: ``lon.prio`` 0x80, ``lon.alt_path`` 0x40, ``lon.delta_bl``
0x3F; izot/lon-stack-dx ``lcs_link.c`` ``LPDUHeader``; facts only)::

    priority(1) | alternate path(1) | delta backlog(6)

On a power-line or twisted-pair channel the frame ends with the CRC of :mod:`cosemnet.profiles.lon.crc`
(``crc=True``, the default). Inside a CN/IP data packet the 14908-1 frame is carried from the PPDU byte
to the end of the NPDU; whether it keeps its CRC there is discussed in :mod:`cosemnet.profiles.lon.cnip`
(pass ``crc=False`` for the form Wireshark and the spec notes describe).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Self

from cosemnet.errors import DecodeError
from cosemnet.profiles.lon._codec import Buffer, Reader, check_int, to_bytes
from cosemnet.profiles.lon.crc import CRC_LENGTH, crc_bytes, verify_crc
from cosemnet.profiles.lon.npdu import Npdu

DELTA_BACKLOG_MAX: Final = 0x3F


@dataclass(slots=True)
class LonFrame:
    """PPDU byte fields and the NPDU."""

    npdu: Npdu
    priority: bool = False
    alt_path: bool = False
    delta_backlog: int = 0

    def ppdu_byte(self) -> int:
        backlog = check_int("delta_backlog", self.delta_backlog, 0, DELTA_BACKLOG_MAX)
        return (0x80 if self.priority else 0) | (0x40 if self.alt_path else 0) | backlog

    def encode(self, *, crc: bool = True) -> bytes:
        out = bytearray((self.ppdu_byte(),))
        self.npdu.encode_into(out)
        if crc:
            out += crc_bytes(out)
        return bytes(out)

    @classmethod
    def decode_from(cls, data: Buffer, offset: int = 0, end: int | None = None, *, crc: bool = True) -> Self:
        """Decode the frame occupying ``data[offset:end]`` (``end`` defaults to the end of ``data``).

        Error offsets are absolute positions in ``data``.
        """
        buf = to_bytes(data)
        stop = len(buf) if end is None else end
        if not 0 <= offset <= stop <= len(buf):
            raise DecodeError(
                "frame bounds outside the buffer", min(max(offset, 0), len(buf)), "14908-1 frame"
            )
        if crc:
            verify_crc(buf, offset, stop)
            stop -= CRC_LENGTH
        reader = Reader(buf, offset, stop)
        header = reader.u8("PPDU byte")
        npdu = Npdu.read(reader)
        return cls(npdu, bool(header & 0x80), bool(header & 0x40), header & DELTA_BACKLOG_MAX)

    @classmethod
    def decode(cls, data: Buffer, *, crc: bool = True) -> Self:
        """Decode a buffer holding exactly one frame."""
        return cls.decode_from(data, 0, None, crc=crc)
