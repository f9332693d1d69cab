"""Classic pcap captures of DLMS/COSEM and ISO/IEC 14908-1 frames, with real synthesized headers.

The application only ever sees frames, never packets, so the capture synthesizes what the kernel would
have put around them (see docs/decisions/0065-captures-and-dissector.md):

- IPv4 (20-byte header, header checksum, DF, TTL 64, an identification counter) or IPv6 (hop limit 64);
- UDP with its length and checksum over the pseudo-header;
- TCP with a synthesized three-way handshake when a connection is first seen, sequence and
  acknowledgement numbers advancing per direction, segments of at most ``mss`` bytes (so a long wrapper
  frame spans several segments and tshark reassembles it), PSH on the last segment of a frame, and a
  FIN exchange on :meth:`PcapCapture.tcp_close`;
- for ISO/IEC 14908-1 frames, a CN/IP data packet (ISO/IEC 14908-4, 20-byte header, protocol 0, no
  authentication) on UDP port 1628 at both ends, with a per-source sequence number.

The file is libpcap 2.4 with microsecond timestamps, link type RAW (101, the packet starts with the IP
header) or Ethernet (1, with locally administered MAC addresses). Nothing here does I/O besides writing
to the stream it is given.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass
from typing import BinaryIO, Final

from cosemnet.trace import Address, Direction, FrameRecord, Transport

LINKTYPE_ETHERNET: Final = 1
LINKTYPE_RAW: Final = 101
PCAP_MAGIC: Final = 0xA1B2C3D4
SNAPLEN: Final = 262144
CNIP_PORT: Final = 1628
"""ISO/IEC 14908-4 CN/IP UDP port (the same as ``cosemnet.profiles.lon.cnip.CNIP_PORT``)."""
CNIP_HEADER_LENGTH: Final = 20
DLMS_SERVER_PORTS: Final = frozenset({4059, 61616})
"""Ports that mark the server end of a TCP connection seen without its opening (IEC 62056-9-7: 4059)."""

IPPROTO_TCP: Final = 6
IPPROTO_UDP: Final = 17
TCP_FIN: Final = 0x01
TCP_SYN: Final = 0x02
TCP_PSH: Final = 0x08
TCP_ACK: Final = 0x10
_TCP_WINDOW: Final = 65535
_TTL: Final = 64
_MAC_A: Final = bytes.fromhex("020000000001")
_MAC_B: Final = bytes.fromhex("020000000002")
_ETHERTYPE_IPV4: Final = 0x0800
_ETHERTYPE_IPV6: Final = 0x86DD
_MAX_IPV4_PAYLOAD: Final = 65535 - 20

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def internet_checksum(data: bytes) -> int:
    """RFC 1071 ones' complement sum of 16-bit words (odd length padded with a zero byte)."""
    if len(data) % 2:
        data += b"\x00"
    total: int = sum(struct.unpack(f">{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def ip_address(host: str) -> IPAddress:
    """The address of an IP literal (a zone suffix ``%eth0`` is dropped); ValueError for a host name."""
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        raise ValueError(f"a capture needs IP addresses, not the host name {host!r}") from None


def _endpoint_ip(endpoint: Address) -> IPAddress:
    if not 0 <= endpoint[1] <= 0xFFFF:
        raise ValueError(f"port {endpoint[1]} is not 0..65535")
    return ip_address(endpoint[0])


def ip_packet(
    src: IPAddress, dst: IPAddress, protocol: int, payload: bytes, identification: int = 0
) -> bytes:
    """An IPv4 or IPv6 packet around ``payload`` (both addresses of the same family)."""
    if isinstance(src, ipaddress.IPv4Address) and isinstance(dst, ipaddress.IPv4Address):
        if len(payload) > _MAX_IPV4_PAYLOAD:
            raise ValueError(f"{len(payload)} bytes do not fit in one IPv4 packet")
        header = struct.pack(
            ">BBHHHBBH4s4s",
            0x45,
            0,
            20 + len(payload),
            identification & 0xFFFF,
            0x4000,  # don't fragment
            _TTL,
            protocol,
            0,
            src.packed,
            dst.packed,
        )
        checksum = internet_checksum(header)
        return header[:10] + struct.pack(">H", checksum) + header[12:] + payload
    if isinstance(src, ipaddress.IPv6Address) and isinstance(dst, ipaddress.IPv6Address):
        if len(payload) > 0xFFFF:
            raise ValueError(f"{len(payload)} bytes do not fit in one IPv6 packet")
        return struct.pack(">IHBB", 6 << 28, len(payload), protocol, _TTL) + src.packed + dst.packed + payload
    raise ValueError(f"{src} and {dst} are not of the same address family")


def _pseudo_header(src: IPAddress, dst: IPAddress, protocol: int, length: int) -> bytes:
    if isinstance(src, ipaddress.IPv4Address):
        return src.packed + dst.packed + struct.pack(">BBH", 0, protocol, length)
    return src.packed + dst.packed + struct.pack(">IxxxB", length, protocol)


def udp_packet(src: Address, dst: Address, payload: bytes, identification: int = 0) -> bytes:
    """An IP packet carrying one UDP datagram from ``src`` to ``dst``, with length and checksum."""
    src_ip, dst_ip = _endpoint_ip(src), _endpoint_ip(dst)
    length = 8 + len(payload)
    if length > 0xFFFF:
        raise ValueError(f"{len(payload)} bytes do not fit in one UDP datagram")
    datagram = struct.pack(">HHHH", src[1], dst[1], length, 0) + payload
    checksum = internet_checksum(_pseudo_header(src_ip, dst_ip, IPPROTO_UDP, length) + datagram) or 0xFFFF
    datagram = datagram[:6] + struct.pack(">H", checksum) + datagram[8:]
    return ip_packet(src_ip, dst_ip, IPPROTO_UDP, datagram, identification)


def tcp_packet(
    src: Address, dst: Address, seq: int, ack: int, flags: int, payload: bytes = b"", identification: int = 0
) -> bytes:
    """An IP packet carrying one TCP segment (20-byte header, no options) with its checksum."""
    src_ip, dst_ip = _endpoint_ip(src), _endpoint_ip(dst)
    header = struct.pack(
        ">HHIIBBHHH", src[1], dst[1], seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, 5 << 4, flags, _TCP_WINDOW, 0, 0
    )
    segment = header + payload
    checksum = internet_checksum(_pseudo_header(src_ip, dst_ip, IPPROTO_TCP, len(segment)) + segment)
    segment = segment[:16] + struct.pack(">H", checksum) + segment[18:]
    return ip_packet(src_ip, dst_ip, IPPROTO_TCP, segment, identification)


def cnip_data_packet(
    frame: bytes, sequence_number: int = 0, session_id: int = 0, timestamp: int = 0
) -> bytes:
    """A CN/IP data packet (ISO/IEC 14908-4 common header, protocol 0) carrying one 14908-1 frame.

    The same bytes as ``CnipPacket(payload=frame, session_id=..., sequence_number=..., timestamp=...)
    .encode()`` of :mod:`cosemnet.profiles.lon.cnip` (a test checks it); built here so that captures
    stay below the profiles layer.
    """
    length = CNIP_HEADER_LENGTH + len(frame)
    header = struct.pack(
        ">HBBBBHIII", length, 1, 0x01, 0, 0, 0, session_id, sequence_number & 0xFFFFFFFF, timestamp
    )
    return header + frame


class PcapWriter:
    """Writes a classic pcap file: the global header at once, then one record per packet."""

    def __init__(self, stream: BinaryIO, linktype: int = LINKTYPE_RAW, snaplen: int = SNAPLEN) -> None:
        if linktype not in (LINKTYPE_RAW, LINKTYPE_ETHERNET):
            raise ValueError(f"link type {linktype} is not supported (1 Ethernet or 101 raw IP)")
        self.stream = stream
        self.linktype = linktype
        self.snaplen = snaplen
        self.packets = 0
        stream.write(struct.pack("<IHHiIII", PCAP_MAGIC, 2, 4, 0, 0, snaplen, linktype))

    def write(self, packet: bytes, time: float) -> None:
        """One IP packet (wrapped in an Ethernet header for link type 1) at ``time`` (epoch seconds)."""
        if self.linktype == LINKTYPE_ETHERNET:
            ethertype = _ETHERTYPE_IPV4 if packet[0] >> 4 == 4 else _ETHERTYPE_IPV6
            packet = _MAC_B + _MAC_A + struct.pack(">H", ethertype) + packet
        micros = round(time * 1_000_000)
        seconds, micros = divmod(max(micros, 0), 1_000_000)
        captured = packet[: self.snaplen]
        self.stream.write(struct.pack("<IIII", seconds & 0xFFFFFFFF, micros, len(captured), len(packet)))
        self.stream.write(captured)
        self.packets += 1

    def flush(self) -> None:
        self.stream.flush()


@dataclass(slots=True)
class _TcpConnection:
    client: Address
    server: Address
    next_seq: dict[Address, int]
    """Per sender: the sequence number of its next byte."""


class PcapCapture:
    """A :class:`~cosemnet.trace.FrameObserver` writing frames as packets with synthesized headers.

    Use :meth:`frame` (from an adapter), or :meth:`udp`, :meth:`tcp`, :meth:`lon` directly. TCP
    connections are keyed by their two endpoints; the first frame of an unknown connection first writes
    a three-way handshake (client: the end that is not on a DLMS server port, else the sender), unless
    :meth:`tcp_open` was called. Initial sequence numbers are fixed (deterministic files).
    """

    CLIENT_ISN: Final = 0x10000000
    SERVER_ISN: Final = 0x20000000

    def __init__(self, stream: BinaryIO, linktype: int = LINKTYPE_RAW, mss: int = 1460) -> None:
        if not 1 <= mss <= _MAX_IPV4_PAYLOAD - 20:
            raise ValueError(f"mss must be 1..{_MAX_IPV4_PAYLOAD - 20}")
        self.writer = PcapWriter(stream, linktype)
        self.mss = mss
        self._connections: dict[frozenset[Address], _TcpConnection] = {}
        self._identification = 0
        self._cnip_sequence: dict[str, int] = {}

    @classmethod
    def open(cls, path: str, linktype: int = LINKTYPE_RAW, mss: int = 1460) -> PcapCapture:
        """A capture writing to a new file at ``path`` (OSError when it cannot be created)."""
        return cls(open(path, "wb"), linktype, mss)  # closed by close()

    def close(self) -> None:
        self.writer.stream.close()

    def __enter__(self) -> PcapCapture:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def packets(self) -> int:
        return self.writer.packets

    def frame(self, record: FrameRecord) -> None:
        """Write one frame record as the packets that would have carried it."""
        if record.transport is Transport.TCP:
            self.tcp(record.source, record.destination, record.data, record.time)
        elif record.transport in (Transport.UDP, Transport.CNIP):
            self.udp(record.source, record.destination, record.data, record.time)
        else:
            self.lon(record.source[0], record.destination[0], record.data, record.time)

    def _next_id(self) -> int:
        self._identification = (self._identification + 1) & 0xFFFF
        return self._identification

    def udp(self, src: Address, dst: Address, payload: bytes, time: float) -> None:
        """One UDP datagram."""
        self.writer.write(udp_packet(src, dst, payload, self._next_id()), time)

    def lon(self, src_ip: str, dst_ip: str, frame: bytes, time: float) -> None:
        """One ISO/IEC 14908-1 frame (from the PPDU byte, no CRC) in a CN/IP data packet on UDP 1628."""
        sequence = self._cnip_sequence.get(src_ip, 0) + 1
        self._cnip_sequence[src_ip] = sequence
        packet = cnip_data_packet(frame, sequence)
        self.udp((src_ip, CNIP_PORT), (dst_ip, CNIP_PORT), packet, time)

    def tcp_open(self, client: Address, server: Address, time: float) -> None:
        """The three-way handshake of a new connection (an existing one with the same ends is replaced)."""
        connection = _TcpConnection(client, server, {client: self.CLIENT_ISN, server: self.SERVER_ISN})
        self._connections[frozenset((client, server))] = connection
        self._segment(connection, client, TCP_SYN, b"", time, advance=1)
        self._segment(connection, server, TCP_SYN | TCP_ACK, b"", time, advance=1)
        self._segment(connection, client, TCP_ACK, b"", time)

    def tcp(self, src: Address, dst: Address, payload: bytes, time: float) -> None:
        """Bytes sent on the connection between ``src`` and ``dst``, in segments of at most ``mss``."""
        connection = self._connections.get(frozenset((src, dst)))
        if connection is None:
            if src[1] in DLMS_SERVER_PORTS and dst[1] not in DLMS_SERVER_PORTS:
                self.tcp_open(dst, src, time)
            else:
                self.tcp_open(src, dst, time)
            connection = self._connections[frozenset((src, dst))]
        for start in range(0, len(payload), self.mss):
            chunk = payload[start : start + self.mss]
            last = start + self.mss >= len(payload)
            flags = TCP_ACK | (TCP_PSH if last else 0)
            self._segment(connection, src, flags, chunk, time, advance=len(chunk))

    def tcp_close(self, src: Address, dst: Address, time: float) -> None:
        """``src`` closes the connection: FIN, the peer's FIN, the last ACK (nothing if never seen)."""
        connection = self._connections.pop(frozenset((src, dst)), None)
        if connection is None:
            return
        self._segment(connection, src, TCP_FIN | TCP_ACK, b"", time, advance=1)
        self._segment(connection, dst, TCP_FIN | TCP_ACK, b"", time, advance=1)
        self._segment(connection, src, TCP_ACK, b"", time)

    def _segment(
        self,
        connection: _TcpConnection,
        src: Address,
        flags: int,
        payload: bytes,
        time: float,
        advance: int = 0,
    ) -> None:
        dst = connection.server if src == connection.client else connection.client
        seq = connection.next_seq[src]
        ack = connection.next_seq[dst] if flags & TCP_ACK else 0
        self.writer.write(tcp_packet(src, dst, seq, ack, flags, payload, self._next_id()), time)
        connection.next_seq[src] = (seq + advance) & 0xFFFFFFFF


def record(
    time: float, direction: Direction, transport: Transport, local: Address, peer: Address, data: bytes
) -> FrameRecord:
    """A :class:`~cosemnet.trace.FrameRecord` (a shorthand for adapters and tests)."""
    return FrameRecord(time, direction, transport, local, peer, data)


__all__ = [
    "CNIP_PORT",
    "LINKTYPE_ETHERNET",
    "LINKTYPE_RAW",
    "PcapCapture",
    "PcapWriter",
    "cnip_data_packet",
    "internet_checksum",
    "ip_packet",
    "record",
    "tcp_packet",
    "udp_packet",
]
