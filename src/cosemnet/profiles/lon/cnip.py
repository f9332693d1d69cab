"""ISO/IEC 14908-4 (EIA-852) CN/IP: tunnelling ISO/IEC 14908-1 frames over UDP (ports 1628, 1629).

Common header, 20 bytes, big-endian (Wireshark ``packet-cnip.c``; izot/lon-stack-ex (MIT)
``ShareIp/LtIpPackets.cpp`` ``LtIpPktHeader::parse/build``; facts only)::

    length(2)  version(1)  packet type(1)  extended header size(1, in 4-byte units)
    protocol flags(1: 0x20 security, 0x1F protocol, 0 = ISO/IEC 14908-1)  vendor code(2)
    session ID(4)  sequence number(4)  timestamp(4)

then ``4 * extended header size`` bytes of extended header, then the payload. ``length`` counts the
header, the extended header and the payload -- *not* the authentication digest. lon-stack-ex reads the
version from the low 5 bits of its byte (the top 3 bits being "version bits") and notes that some
devices send data packets with version 0; this codec keeps the whole byte [design].

Data packets (type 0x01) with protocol 0 carry one 14908-1 frame from the PPDU byte to the end of the
NPDU. Wireshark hands the rest of the packet to its LON dissector, which does not look for a CRC, and the
spec notes say "no CRC"; lon-stack-ex, however, verifies a trailing CRC-16 on every LonTalk packet it
receives on an IP-852 channel (``LtLreIpClient::packetReceived``). :meth:`CnipPacket.data_packet` and
:meth:`CnipPacket.lon_frame` therefore take ``crc`` (default ``False``).

Authentication (EIA-852 mode of lon-stack-ex ``LtMD5.cpp`` ``md5DigestEIA852`` and
``LtLreIpClient::aggregatePacket``): the sender sets the security flag, then appends
``MD5(packet || 16 zero bytes || secret)`` where ``packet`` is the ``length`` bytes of the packet (header
with the flag set, extended header, payload) and ``secret`` the 16-byte shared secret. The receiver
recomputes it over the first ``length`` bytes and compares it with the 16 bytes that follow. Several
packets, each with its own digest, may share one UDP datagram (:func:`decode_datagram`).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Final, Self

from cosemnet.errors import DecodeError, EncodeError
from cosemnet.profiles.lon._codec import Buffer, check_bytes, check_int, to_bytes
from cosemnet.profiles.lon.frames import LonFrame

CNIP_PORT: Final = 1628
CNIP_URGENT_PORT: Final = 1629
HEADER_LENGTH: Final = 20
DIGEST_LENGTH: Final = 16
SECRET_LENGTH: Final = 16
SECURITY_FLAG: Final = 0x20
PROTOCOL_MASK: Final = 0x1F
PROTOCOL_ISO_14908_1: Final = 0


class CnipPacketType(IntEnum):
    """CN/IP packet types (Wireshark ``type_tuple``)."""

    DATA = 0x01
    DEVICE_REGISTRATION = 0x03
    CHANNEL_MEMBERSHIP = 0x04
    SEND_LIST = 0x06
    ACKNOWLEDGE = 0x07
    CHANNEL_ROUTING = 0x08
    STATUS_REQUEST = 0x60
    DEVICE_CONFIGURATION_REQUEST = 0x63
    CHANNEL_MEMBERSHIP_REQUEST = 0x64
    SEND_LIST_REQUEST = 0x66
    CHANNEL_ROUTING_REQUEST = 0x68
    STATUS_RESPONSE = 0x70
    DEVICE_CONFIGURATION = 0x71
    SEGMENT = 0x7F


class CnipAuthenticationError(DecodeError):
    """The authentication digest of a CN/IP packet does not match the shared secret."""


def authentication_digest(packet: Buffer, secret: bytes) -> bytes:
    """``MD5(packet || 16 zero bytes || secret)``: the EIA-852 digest appended to ``packet``."""
    md5 = hashlib.md5(bytes(packet))
    md5.update(bytes(DIGEST_LENGTH))
    md5.update(secret)
    return md5.digest()


def _check_secret(secret: Any, error: type[EncodeError] | type[DecodeError]) -> bytes:
    if not isinstance(secret, bytes | bytearray | memoryview) or len(secret) != SECRET_LENGTH:
        raise error(f"the CN/IP authentication secret must be {SECRET_LENGTH} bytes")
    return bytes(secret)


@dataclass(slots=True)
class CnipPacket:
    """One CN/IP packet. ``packet_type`` is a :class:`CnipPacketType` value or any other byte."""

    packet_type: int = CnipPacketType.DATA
    payload: bytes = b""
    session_id: int = 0
    sequence_number: int = 0
    timestamp: int = 0
    vendor_code: int = 0
    protocol: int = PROTOCOL_ISO_14908_1
    security: bool = False
    version: int = 1
    extended_header: bytes = b""
    flags_reserved: int = 0
    """Bits 0xC0 of the protocol flags byte (no public meaning; kept for an exact round trip)."""

    def encode(self, secret: bytes | None = None) -> bytes:
        """The packet; with ``secret`` the security flag must be set and the digest is appended."""
        extended = check_bytes("extended_header", self.extended_header)
        if len(extended) % 4 or len(extended) > 255 * 4:
            raise EncodeError("extended header must be a multiple of 4 bytes, at most 1020")
        payload = check_bytes("payload", self.payload)
        length = HEADER_LENGTH + len(extended) + len(payload)
        if length > 0xFFFF:
            raise EncodeError(f"CN/IP packet of {length} bytes exceeds the 16-bit length field")
        if secret is not None:
            key = _check_secret(secret, EncodeError)
            if not self.security:
                raise EncodeError("an authenticated CN/IP packet must have its security flag set")
        elif self.security:
            raise EncodeError("security flag set but no secret given to compute the digest")
        flags = (
            check_int("flags_reserved", self.flags_reserved, 0, 3) << 6
            | (SECURITY_FLAG if self.security else 0)
            | check_int("protocol", self.protocol, 0, PROTOCOL_MASK)
        )
        out = bytearray(length.to_bytes(2, "big"))
        out.append(check_int("version", self.version, 0, 255))
        out.append(check_int("packet_type", self.packet_type, 0, 255))
        out.append(len(extended) // 4)
        out.append(flags)
        out += check_int("vendor_code", self.vendor_code, 0, 0xFFFF).to_bytes(2, "big")
        out += check_int("session_id", self.session_id, 0, 0xFFFFFFFF).to_bytes(4, "big")
        out += check_int("sequence_number", self.sequence_number, 0, 0xFFFFFFFF).to_bytes(4, "big")
        out += check_int("timestamp", self.timestamp, 0, 0xFFFFFFFF).to_bytes(4, "big")
        out += extended
        out += payload
        if secret is not None:
            out += authentication_digest(out, key)
        return bytes(out)

    @classmethod
    def decode_from(cls, data: Buffer, offset: int = 0, secret: bytes | None = None) -> tuple[Self, int]:
        """Decode the packet at ``data[offset:]``; return it and the offset after it (and its digest).

        With ``secret`` the packet must carry a valid digest (:class:`CnipAuthenticationError`
        otherwise); without it, a packet whose security flag is set is rejected, since its digest
        cannot be checked.
        """
        buf = to_bytes(data)
        key = None if secret is None else _check_secret(secret, DecodeError)
        if not 0 <= offset <= len(buf):
            raise DecodeError("offset outside the buffer", max(0, min(offset, len(buf))), "CN/IP packet")
        if len(buf) - offset < HEADER_LENGTH:
            raise DecodeError(
                f"truncated CN/IP header: {len(buf) - offset} of {HEADER_LENGTH} bytes",
                offset,
                "CN/IP header",
            )
        length = int.from_bytes(buf[offset : offset + 2], "big")
        ext_length = buf[offset + 4] * 4
        if length < HEADER_LENGTH + ext_length:
            raise DecodeError(
                f"CN/IP length {length} shorter than its header ({HEADER_LENGTH + ext_length} bytes)",
                offset,
                "length >= 20 + 4 * extended header size",
            )
        end = offset + length
        if end > len(buf):
            raise DecodeError(
                f"CN/IP packet says {length} bytes, {len(buf) - offset} present", len(buf), "payload"
            )
        flags = buf[offset + 5]
        security = bool(flags & SECURITY_FLAG)
        stop = end
        if key is not None:
            if not security:
                raise CnipAuthenticationError(
                    "authenticated CN/IP packet without its security flag", offset + 5, "security flag 0x20"
                )
            if len(buf) - end < DIGEST_LENGTH:
                raise DecodeError("truncated authentication digest", len(buf), f"{DIGEST_LENGTH}-byte digest")
            stop = end + DIGEST_LENGTH
            expected = authentication_digest(memoryview(buf)[offset:end], key)
            if not hmac.compare_digest(expected, buf[end:stop]):
                raise CnipAuthenticationError(
                    "CN/IP authentication digest does not match the shared secret", end, "valid MD5 digest"
                )
        elif security:
            raise DecodeError(
                "CN/IP packet has its security flag set: a secret is needed to check its digest",
                offset + 5,
                "secret",
            )
        header = buf[offset : offset + HEADER_LENGTH]
        packet = cls(
            packet_type=header[3],
            payload=buf[offset + HEADER_LENGTH + ext_length : end],
            session_id=int.from_bytes(header[8:12], "big"),
            sequence_number=int.from_bytes(header[12:16], "big"),
            timestamp=int.from_bytes(header[16:20], "big"),
            vendor_code=int.from_bytes(header[6:8], "big"),
            protocol=flags & PROTOCOL_MASK,
            security=security,
            version=header[2],
            extended_header=buf[offset + HEADER_LENGTH : offset + HEADER_LENGTH + ext_length],
            flags_reserved=flags >> 6,
        )
        return packet, stop

    @classmethod
    def decode(cls, data: Buffer, secret: bytes | None = None) -> Self:
        """Decode a buffer holding exactly one packet (and its digest when ``secret`` is given)."""
        buf = to_bytes(data)
        packet, end = cls.decode_from(buf, 0, secret)
        if end != len(buf):
            raise DecodeError(f"{len(buf) - end} trailing bytes after the CN/IP packet", end, "end of input")
        return packet

    @property
    def payload_offset(self) -> int:
        """Offset of the payload from the start of the packet."""
        return HEADER_LENGTH + len(self.extended_header)

    @classmethod
    def data_packet(
        cls,
        frame: LonFrame,
        *,
        crc: bool = False,
        session_id: int = 0,
        sequence_number: int = 0,
        timestamp: int = 0,
        vendor_code: int = 0,
        security: bool = False,
    ) -> Self:
        """A data packet (type 0x01, protocol 0) carrying ``frame`` (without its CRC unless ``crc``)."""
        return cls(
            packet_type=CnipPacketType.DATA,
            payload=frame.encode(crc=crc),
            session_id=session_id,
            sequence_number=sequence_number,
            timestamp=timestamp,
            vendor_code=vendor_code,
            security=security,
        )

    def lon_frame(self, *, crc: bool = False) -> LonFrame:
        """The 14908-1 frame of a data packet; error offsets are relative to the packet start."""
        if self.packet_type != CnipPacketType.DATA or self.protocol != PROTOCOL_ISO_14908_1:
            raise DecodeError(
                f"CN/IP packet type 0x{self.packet_type:02X}, protocol {self.protocol}: no 14908-1 frame",
                3,
                "data packet, protocol 0",
            )
        start = self.payload_offset
        padded = bytes(start) + bytes(self.payload)
        return LonFrame.decode_from(padded, start, None, crc=crc)


def decode_datagram(data: Buffer, secret: bytes | None = None) -> list[CnipPacket]:
    """All CN/IP packets of one UDP datagram (senders may aggregate several)."""
    buf = to_bytes(data)
    packets: list[CnipPacket] = []
    offset = 0
    while offset < len(buf) or not packets:
        packet, offset = CnipPacket.decode_from(buf, offset, secret)
        packets.append(packet)
    return packets
