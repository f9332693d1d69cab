"""Firmware download messages of the OSGP-AES-128-PSK suite (Annex D, "Firmware download") [design].

Annex D's firmware download is not public; these layouts are the project's (decision 0049). Every
message is the data of one ISO/IEC 14908-1 application message with code :data:`FIRMWARE_MESSAGE_CODE`
and travels sealed (OSGP_AE) in an envelope::

    type (1) || key_id (1) || counter (4) || ciphertext || CCM tag (8)

``key_id`` and ``counter`` are those of the protected ADP PDU (decision 0044): b7 set = a domain key
(broadcast, only for :class:`ImageBlock`), else the session id. Nonce: the suite's 13-byte nonce with
kind :data:`NONCE_FIRMWARE`; associated data: the 6 header bytes, then the source subnet and node and
the destination subnet and node (``0x00 0xFF`` under a domain key). Plaintext bodies (big-endian):

=====  =================  ====================================================================  ======
type   message            body                                                                  bytes
=====  =================  ====================================================================  ======
0x01   ImageStart         campaign[2], image_size[4], block_size, n, image identifier[n]         8+n
0x02   ImageBlock         campaign[2], block[2], data (block_size bytes; the last: the rest)     4+data
0x03   StatusQuery        campaign[2], ref, first block[2]                                       5
0x04   ImageStatus        campaign[2], ref, state, block_count[2], first[2], n bits[2], bitmap   10+n/8
0x05   ImageVerify        campaign[2], image MAC[16]                                             18
0x06   ImageActivate      campaign[2], delay[4] (seconds after receipt)                          6
=====  =================  ====================================================================  ======

The bitmap of ImageStatus has one bit per block from ``first``, most significant bit first, set when the
block was received (the image_transferred_blocks_status convention of class 18); at most
:data:`STATUS_PAGE_BITS` blocks per message. ``ref`` (1..255) numbers a StatusQuery; the ImageStatus
answering it repeats it (0 when it answers another request), so a late answer to an earlier query is
never taken for the answer to the current one. Decoding is strict: :class:`DecodeError` otherwise.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import Final

from cosemnet.errors import DecodeError, EncodeError

FIRMWARE_MESSAGE_CODE: Final = 0x0F
"""[design, decision 0049] 14908-1 application message code of the firmware download messages."""

NONCE_FIRMWARE: Final = 0x02
"""Nonce kind of the firmware messages (0x00 ADP data, 0x01 sealed keys: decision 0044)."""

ENVELOPE_HEADER_LENGTH: Final = 6
IMAGE_MAC_LENGTH: Final = 16
MAX_IDENTIFIER_LENGTH: Final = 32
MAX_BLOCK_SIZE: Final = 200
"""A block, the body header, the envelope and the tag fit one 228-byte 14908-1 message."""
STATUS_PAGE_BITS: Final = 1024
MAX_BLOCKS: Final = 0xFFFF


class FirmwareMessageType(IntEnum):
    IMAGE_START = 0x01
    IMAGE_BLOCK = 0x02
    STATUS_QUERY = 0x03
    IMAGE_STATUS = 0x04
    IMAGE_VERIFY = 0x05
    IMAGE_ACTIVATE = 0x06


class ImageState(IntEnum):
    """What a meter reports about a campaign (ImageStatus.state)."""

    UNKNOWN = 0
    """No such campaign (never started, or replaced by another)."""
    RECEIVING = 1
    VERIFIED = 2
    VERIFY_FAILED = 3
    ACTIVATION_SCHEDULED = 4
    ACTIVATED = 5
    REFUSED = 6
    """The meter will not take this image (too large, image transfer disabled)."""


def _u(name: str, value: int, bits: int) -> int:
    if not 0 <= value < 1 << bits:
        raise EncodeError(f"{name} out of range", value, f"0..{(1 << bits) - 1}")
    return value


@dataclass(frozen=True, slots=True)
class ImageStart:
    campaign: int
    image_size: int
    block_size: int
    identifier: bytes

    TYPE = FirmwareMessageType.IMAGE_START

    @property
    def block_count(self) -> int:
        return -(-self.image_size // self.block_size)

    def body(self) -> bytes:
        if not 1 <= self.block_size <= MAX_BLOCK_SIZE or len(self.identifier) > MAX_IDENTIFIER_LENGTH:
            raise EncodeError("invalid block size or identifier", self.block_size, "1..200, id <= 32 bytes")
        if not 1 <= self.block_count <= MAX_BLOCKS:
            raise EncodeError("image size out of range", self.image_size, "1..65535 blocks")
        head = struct.pack(
            ">HIBB", _u("campaign", self.campaign, 16), self.image_size, self.block_size, len(self.identifier)
        )
        return head + self.identifier


@dataclass(frozen=True, slots=True)
class ImageBlock:
    campaign: int
    block: int
    data: bytes

    TYPE = FirmwareMessageType.IMAGE_BLOCK

    def body(self) -> bytes:
        if not 1 <= len(self.data) <= MAX_BLOCK_SIZE:
            raise EncodeError("block data length out of range", len(self.data), "1..200 bytes")
        return struct.pack(">HH", _u("campaign", self.campaign, 16), _u("block", self.block, 16)) + self.data


@dataclass(frozen=True, slots=True)
class StatusQuery:
    campaign: int
    first: int = 0
    ref: int = 0

    TYPE = FirmwareMessageType.STATUS_QUERY

    def body(self) -> bytes:
        return struct.pack(
            ">HBH", _u("campaign", self.campaign, 16), _u("ref", self.ref, 8), _u("first", self.first, 16)
        )


@dataclass(frozen=True, slots=True)
class ImageStatus:
    campaign: int
    state: ImageState
    block_count: int
    first: int = 0
    bits: int = 0
    bitmap: bytes = b""
    ref: int = 0

    TYPE = FirmwareMessageType.IMAGE_STATUS

    def body(self) -> bytes:
        if self.bits > STATUS_PAGE_BITS or len(self.bitmap) != (self.bits + 7) // 8:
            raise EncodeError("bitmap does not match its bit count", self.bits, "<= 1024 bits")
        head = struct.pack(
            ">HBBHHH",
            _u("campaign", self.campaign, 16),
            _u("ref", self.ref, 8),
            self.state,
            _u("block_count", self.block_count, 16),
            _u("first", self.first, 16),
            self.bits,
        )
        return head + self.bitmap

    def received(self) -> set[int]:
        """The block numbers this page reports received."""
        return {self.first + i for i in range(self.bits) if self.bitmap[i >> 3] & (0x80 >> (i & 7))}


@dataclass(frozen=True, slots=True)
class ImageVerify:
    campaign: int
    image_mac: bytes

    TYPE = FirmwareMessageType.IMAGE_VERIFY

    def body(self) -> bytes:
        if len(self.image_mac) != IMAGE_MAC_LENGTH:
            raise EncodeError("image MAC length", len(self.image_mac), "16 bytes")
        return struct.pack(">H", _u("campaign", self.campaign, 16)) + self.image_mac


@dataclass(frozen=True, slots=True)
class ImageActivate:
    campaign: int
    delay: int

    TYPE = FirmwareMessageType.IMAGE_ACTIVATE

    def body(self) -> bytes:
        return struct.pack(">HI", _u("campaign", self.campaign, 16), _u("delay", self.delay, 32))


FirmwareMessage = ImageStart | ImageBlock | StatusQuery | ImageStatus | ImageVerify | ImageActivate


def _need(body: bytes, length: int, what: str, *, exact: bool = True) -> None:
    if len(body) < length or (exact and len(body) != length):
        raise DecodeError(f"{what} of {len(body)} bytes", 0, f"{length} bytes")


def _start(body: bytes) -> ImageStart:
    _need(body, 8, "ImageStart", exact=False)
    campaign, size, block_size, n = struct.unpack_from(">HIBB", body)
    _need(body, 8 + n, "ImageStart")
    message = ImageStart(campaign, size, block_size, body[8:])
    try:
        message.body()
    except EncodeError as exc:
        raise DecodeError(f"ImageStart: {exc}", 0, "valid sizes") from None
    return message


def _status(body: bytes) -> ImageStatus:
    _need(body, 10, "ImageStatus", exact=False)
    campaign, ref, state, count, first, bits = struct.unpack_from(">HBBHHH", body)
    if bits > STATUS_PAGE_BITS:
        raise DecodeError("ImageStatus bitmap too long", 8, f"<= {STATUS_PAGE_BITS} bits")
    _need(body, 10 + (bits + 7) // 8, "ImageStatus")
    try:
        return ImageStatus(campaign, ImageState(state), count, first, bits, body[10:], ref)
    except ValueError:
        raise DecodeError("unknown image state", 2, "0..6") from None


def decode_body(kind: int, body: bytes) -> FirmwareMessage:
    """The message of type ``kind`` whose plaintext body is ``body`` (:class:`DecodeError` if malformed)."""
    if kind == FirmwareMessageType.IMAGE_START:
        return _start(body)
    if kind == FirmwareMessageType.IMAGE_BLOCK:
        _need(body, 5, "ImageBlock", exact=False)
        if len(body) > 4 + MAX_BLOCK_SIZE:
            raise DecodeError("ImageBlock too long", 0, f"<= {4 + MAX_BLOCK_SIZE} bytes")
        campaign, block = struct.unpack_from(">HH", body)
        return ImageBlock(campaign, block, body[4:])
    if kind == FirmwareMessageType.STATUS_QUERY:
        _need(body, 5, "StatusQuery")
        campaign, ref, first = struct.unpack(">HBH", body)
        return StatusQuery(campaign, first, ref)
    if kind == FirmwareMessageType.IMAGE_STATUS:
        return _status(body)
    if kind == FirmwareMessageType.IMAGE_VERIFY:
        _need(body, 2 + IMAGE_MAC_LENGTH, "ImageVerify")
        return ImageVerify(int.from_bytes(body[:2], "big"), body[2:])
    if kind == FirmwareMessageType.IMAGE_ACTIVATE:
        _need(body, 6, "ImageActivate")
        return ImageActivate(*struct.unpack(">HI", body))
    raise DecodeError(f"unknown firmware message type 0x{kind:02X}", 0, "0x01..0x06")


@dataclass(frozen=True, slots=True)
class FirmwareEnvelope:
    """The clear part of a sealed firmware message: type, key_id, counter; then ciphertext and tag."""

    kind: int
    key_id: int
    counter: int
    sealed: bytes

    @property
    def header(self) -> bytes:
        return struct.pack(">BBI", self.kind, self.key_id, self.counter)

    def encode(self) -> bytes:
        return self.header + self.sealed

    @classmethod
    def parse(cls, data: bytes, tag_length: int) -> FirmwareEnvelope:
        if len(data) < ENVELOPE_HEADER_LENGTH + tag_length:
            raise DecodeError("firmware message shorter than its envelope", 0, "header and tag")
        kind, key_id, counter = struct.unpack_from(">BBI", data)
        if kind not in {int(t) for t in FirmwareMessageType} or counter == 0:
            raise DecodeError("unknown firmware message type or counter 0", 0, "0x01..0x06")
        return cls(kind, key_id, counter, data[ENVELOPE_HEADER_LENGTH:])


__all__ = [
    "ENVELOPE_HEADER_LENGTH",
    "FIRMWARE_MESSAGE_CODE",
    "IMAGE_MAC_LENGTH",
    "MAX_BLOCK_SIZE",
    "MAX_IDENTIFIER_LENGTH",
    "NONCE_FIRMWARE",
    "STATUS_PAGE_BITS",
    "FirmwareEnvelope",
    "FirmwareMessage",
    "FirmwareMessageType",
    "ImageActivate",
    "ImageBlock",
    "ImageStart",
    "ImageState",
    "ImageStatus",
    "ImageVerify",
    "StatusQuery",
    "decode_body",
]
