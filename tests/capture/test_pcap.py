"""The pcap writer: headers built by hand are checked field by field, then read back by tshark.

tshark (Debian's 4.0) verifies the IP, UDP and TCP checksums when asked (``-o *.check_checksum:TRUE``),
reassembles a wrapper frame that spans several TCP segments, and dissects the CN/IP packets around
14908-1 frames. Skipped only when tshark is not installed (``make tshark`` installs it).
"""

from __future__ import annotations

import io
import ipaddress
import struct
from pathlib import Path

import pytest

from cosemnet.profiles.lon import CnipPacket
from cosemnet.trace import Direction, FrameRecord, FrameTee, Transport
from cosemnet.trace.pcap import (
    LINKTYPE_ETHERNET,
    LINKTYPE_RAW,
    PcapCapture,
    PcapWriter,
    cnip_data_packet,
    internet_checksum,
    tcp_packet,
    udp_packet,
)

from .captures import (
    CLIENT,
    CLIENT6,
    GET_FRAME,
    SERVER,
    SERVER6,
    TSHARK,
    adp_frame,
    fields,
    long_response,
    write,
)

needs_tshark = pytest.mark.skipif(
    TSHARK is None, reason="tshark is not installed (run `make tshark` as root)"
)
CHECKSUMS = ("-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE")


def test_global_header_and_record() -> None:
    stream = io.BytesIO()
    writer = PcapWriter(stream)
    writer.write(b"\x45" + bytes(19), 1_700_000_000.25)
    data = stream.getvalue()
    assert struct.unpack("<IHHiIII", data[:24]) == (0xA1B2C3D4, 2, 4, 0, 0, 262144, LINKTYPE_RAW)
    assert struct.unpack("<IIII", data[24:40]) == (1_700_000_000, 250_000, 20, 20)
    assert writer.packets == 1


def test_udp_ipv4_header_fields_and_checksums() -> None:
    packet = udp_packet(("127.0.0.1", 40000), ("127.0.0.2", 4059), GET_FRAME, identification=7)
    version_ihl, _, total, ident, flags, ttl, proto, _, src, dst = struct.unpack(">BBHHHBBH4s4s", packet[:20])
    assert (version_ihl, total, ident, flags, ttl, proto) == (
        0x45,
        20 + 8 + len(GET_FRAME),
        7,
        0x4000,
        64,
        17,
    )
    assert internet_checksum(packet[:20]) == 0  # a valid header sums to 0xFFFF
    assert (src, dst) == (bytes([127, 0, 0, 1]), bytes([127, 0, 0, 2]))
    sport, dport, length, _ = struct.unpack(">HHHH", packet[20:28])
    assert (sport, dport, length) == (40000, 4059, 8 + len(GET_FRAME))
    pseudo = packet[12:20] + struct.pack(">BBH", 0, 17, length)
    assert internet_checksum(pseudo + packet[20:]) == 0
    assert packet[28:] == GET_FRAME


def test_tcp_ipv6_header_and_checksum() -> None:
    packet = tcp_packet(("::1", 40001), ("::1", 4059), 100, 200, 0x18, GET_FRAME)
    assert packet[0] >> 4 == 6
    assert struct.unpack(">H", packet[4:6])[0] == 20 + len(GET_FRAME)
    assert packet[6] == 6
    segment = packet[40:]
    assert struct.unpack(">HHII", segment[:12]) == (40001, 4059, 100, 200)
    pseudo = packet[8:40] + struct.pack(">IxxxB", len(segment), 6)
    assert internet_checksum(pseudo + segment) == 0


def test_cnip_header_is_the_profiles_encoding() -> None:
    frame = adp_frame(bytes.fromhex("001001") + GET_FRAME[8:])
    expected = CnipPacket(payload=frame, session_id=9, sequence_number=5, timestamp=3).encode()
    assert cnip_data_packet(frame, 5, 9, 3) == expected
    assert CnipPacket.decode(expected).lon_frame(crc=False).encode(crc=False) == frame


def test_tcp_sequence_numbers_advance_per_direction() -> None:
    stream = io.BytesIO()
    capture = PcapCapture(stream, mss=10)
    capture.tcp(CLIENT, SERVER, GET_FRAME, 1.0)  # 21 bytes: 3 segments after the handshake
    capture.tcp(SERVER, CLIENT, b"x" * 4, 1.1)
    capture.tcp_close(CLIENT, SERVER, 1.2)
    data = stream.getvalue()[24:]
    segments = []
    while data:
        length = struct.unpack("<I", data[8:12])[0]
        packet, data = data[16 : 16 + length], data[16 + length :]
        segments.append((*struct.unpack(">HHIIBB", packet[20:34]), len(packet) - 40))
    client_isn, server_isn = PcapCapture.CLIENT_ISN, PcapCapture.SERVER_ISN
    assert [(s[0], s[2], s[3], s[5], s[6]) for s in segments] == [
        (40000, client_isn, 0, 0x02, 0),  # SYN
        (4059, server_isn, client_isn + 1, 0x12, 0),  # SYN-ACK
        (40000, client_isn + 1, server_isn + 1, 0x10, 0),  # ACK
        (40000, client_isn + 1, server_isn + 1, 0x10, 10),
        (40000, client_isn + 11, server_isn + 1, 0x10, 10),
        (40000, client_isn + 21, server_isn + 1, 0x18, 1),  # PSH on the last segment of the frame
        (4059, server_isn + 1, client_isn + 22, 0x18, 4),
        (40000, client_isn + 22, server_isn + 5, 0x11, 0),  # FIN
        (4059, server_isn + 5, client_isn + 23, 0x11, 0),
        (40000, client_isn + 23, server_isn + 6, 0x10, 0),
    ]


def test_server_end_found_by_its_port_and_errors() -> None:
    stream = io.BytesIO()
    capture = PcapCapture(stream)
    capture.tcp(SERVER, CLIENT, b"late", 1.0)  # first seen frame is the server's: the client still opened
    first = stream.getvalue()[24 + 16 :]
    assert struct.unpack(">HH", first[20:24]) == (CLIENT[1], SERVER[1])
    with pytest.raises(ValueError, match="host name"):
        capture.udp(("meter.example", 1), SERVER, b"", 1.0)
    with pytest.raises(ValueError, match="same address family"):
        capture.udp(CLIENT6, SERVER, b"", 1.0)
    with pytest.raises(ValueError, match="do not fit"):
        capture.udp(CLIENT, SERVER, bytes(65535), 1.0)


def test_frame_records_and_tee() -> None:
    seen: list[FrameRecord] = []

    class Recorder:
        def frame(self, record: FrameRecord) -> None:
            seen.append(record)

    stream = io.BytesIO()
    capture = PcapCapture(stream)
    tee = FrameTee(capture, Recorder())
    record = FrameRecord(1.0, Direction.RECEIVED, Transport.UDP, SERVER6, CLIENT6, GET_FRAME)
    tee.frame(record)
    assert seen == [record] and (record.source, record.destination) == (CLIENT6, SERVER6)
    packet = stream.getvalue()[40:]
    assert ipaddress.IPv6Address(packet[8:24]) == ipaddress.IPv6Address("::1")
    assert struct.unpack(">HH", packet[40:44]) == (CLIENT6[1], SERVER6[1])


@needs_tshark
def test_tshark_reads_tcp_udp_and_cnip(tmp_path: Path) -> None:
    response = long_response(3000)

    def build(capture: PcapCapture) -> None:
        capture.tcp(CLIENT, SERVER, GET_FRAME, 1.0)
        capture.tcp(SERVER, CLIENT, response, 1.1)
        capture.udp(CLIENT6, SERVER6, GET_FRAME, 1.2)
        capture.lon("10.0.0.1", "10.0.0.2", adp_frame(bytes.fromhex("001001") + GET_FRAME[8:]), 1.3)
        capture.tcp_close(CLIENT, SERVER, 1.4)

    path = write(tmp_path / "mixed.pcap", build)
    rows = fields(
        path,
        "frame.number",
        "ip.src",
        "ipv6.src",
        "ip.checksum.status",
        "tcp.srcport",
        "tcp.dstport",
        "tcp.len",
        "tcp.checksum.status",
        "tcp.analysis.flags",
        "udp.srcport",
        "udp.dstport",
        "udp.length",
        "udp.checksum.status",
        "cnip.len",
        "lon.code",
        extra=CHECKSUMS,
    )
    data_rows = [r for r in rows if r[6] not in ("", "0")]
    assert [(r[4], r[5], r[6]) for r in data_rows] == [
        ("40000", "4059", str(len(GET_FRAME))),
        ("4059", "40000", "1460"),
        ("4059", "40000", "1460"),
        ("4059", "40000", str(len(response) - 2920)),
    ]
    assert all(r[7] == "1" for r in rows if r[4]), "every TCP checksum is good"
    assert all(r[8] == "" for r in rows), "no TCP analysis warning (lost segment, retransmission...)"
    assert all(r[3] == "1" for r in rows if r[1]), "every IPv4 header checksum is good"
    udp = [r for r in rows if r[9]]
    assert [(r[2] or r[1], r[9], r[10], r[11], r[12]) for r in udp] == [
        ("::1", "40001", "61616", str(8 + len(GET_FRAME)), "1"),
        (
            "10.0.0.1",
            "1628",
            "1628",
            str(8 + 20 + len(adp_frame(bytes.fromhex("001001") + GET_FRAME[8:]))),
            "1",
        ),
    ]
    assert udp[1][13] == str(20 + len(adp_frame(bytes.fromhex("001001") + GET_FRAME[8:])))
    assert udp[1][14] == "0x0d"
    assert len(rows) == 3 + 4 + 1 + 1 + 3


@needs_tshark
def test_tshark_reassembles_the_stream_and_reads_ethernet(tmp_path: Path) -> None:
    response = long_response(5000)
    path = tmp_path / "eth.pcap"
    with PcapCapture.open(str(path), LINKTYPE_ETHERNET, mss=536) as capture:
        capture.tcp(CLIENT6, SERVER6, GET_FRAME, 1.0)
        capture.tcp(SERVER6, CLIENT6, response, 1.1)
    stream = fields(path, "eth.type", "tcp.stream", extra=CHECKSUMS)
    assert {tuple(r) for r in stream} == {("0x86dd", "0")}
    follow = _follow_tcp_stream(path)
    assert follow.replace("\n", "").endswith(response.hex()), (
        "the server's bytes come out of the stream whole"
    )


def _follow_tcp_stream(path: Path) -> str:
    from .captures import tshark

    text = tshark("-r", path, "-q", "-z", "follow,tcp,raw,0")
    return "".join(line.strip() for line in text.splitlines() if line.startswith("\t"))
