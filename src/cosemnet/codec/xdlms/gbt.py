"""General-Block-Transfer (tag 0xE0): the service-independent block transfer mechanism."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import ClassVar, Final, Self

from cosemnet.codec.axdr import Buffer
from cosemnet.codec.xdlms.common import XdlmsApdu, check_header, read_octet_string, write_octet_string
from cosemnet.errors import DecodeError, EncodeError

__all__ = ["GeneralBlockTransfer"]

_FIXED: Final = struct.Struct(">BBHH")  # tag, block-control, block-number, block-number-ack


@dataclass(slots=True)
class GeneralBlockTransfer(XdlmsApdu):
    """General-Block-Transfer {block-control Unsigned8, block-number Unsigned16, block-number-ack
    Unsigned16, block-data OCTET STRING}.

    block-control: bit 7 ``last_block``, bit 6 ``streaming``, bits 0-5 ``window`` (the window size the
    sender can receive).
    """

    TAG: ClassVar[int] = 0xE0
    MAX_HEADER: ClassVar[int] = 9
    """Bytes before the block data: tag, block-control, block-number(2), block-number-ack(2), length
    (<= 3 for up to 65,535 bytes)."""

    last_block: bool
    streaming: bool
    window: int
    block_number: int
    block_number_ack: int
    block_data: bytes

    @property
    def block_control(self) -> int:
        return (0x80 if self.last_block else 0) | (0x40 if self.streaming else 0) | self.window

    def encode(self) -> bytes:
        if not isinstance(self.window, int) or not 0 <= self.window <= 63:
            raise EncodeError(f"window must be 0..63, got {self.window!r}")
        try:
            fixed = _FIXED.pack(0xE0, self.block_control, self.block_number, self.block_number_ack)
        except struct.error:
            raise EncodeError(
                f"block-number {self.block_number!r} / block-number-ack {self.block_number_ack!r} "
                "must be 0..65535"
            ) from None
        out = bytearray(fixed)
        write_octet_string(out, self.block_data, "block-data")
        return bytes(out)

    @classmethod
    def decode_from(cls, data: Buffer, offset: int = 0) -> tuple[Self, int]:
        check_header(data, offset, 0xE0, None, "general-block-transfer")
        if offset + 6 > len(data):
            raise DecodeError("input ends inside general-block-transfer", offset + 1, "5 bytes")
        _, control, block_number, block_number_ack = _FIXED.unpack_from(data, offset)
        block_data, end = read_octet_string(data, offset + 6, "block-data")
        return (
            cls(
                bool(control & 0x80),
                bool(control & 0x40),
                control & 0x3F,
                block_number,
                block_number_ack,
                block_data,
            ),
            end,
        )
