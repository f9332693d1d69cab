"""Cross-check with Wireshark: CN/IP packets carrying 14908-1 frames, dissected by tshark.

The frames are written into a pcap file (raw-IP link type; UDP over IPv4 and IPv6 loopback addresses,
destination port 1628), ``tshark -T fields`` prints the CN/IP and LON fields, and every value must equal
what the encoder was given. Skipped only when tshark is not installed (``make tshark`` installs it).

Fields asserted: cnip.len cnip.ver cnip.type cnip.exth cnip.sec cnip.protocol cnip.vendorcode
cnip.sessid cnip.seqno cnip.tstamp lon.ppdu lon.prio lon.alt_path lon.delta_bl lon.npdu lon.vers
lon.pdufmt lon.addrfmt lon.domainlen lon.srcnet lon.srcnode lon.dstnet lon.dstgrp lon.dstnode lon.grp
lon.grpmem lon.uid lon.domain lon.auth lon.tpdu_type lon.spdu_type lon.trans_no lon.spdu.mlen
lon.authpdu lon.code lon.nv.selector lon.nv.dir lon.name data.data.

Known Wireshark 4.0 quirks, not asserted: in address format 2b it labels the destination *subnet*
``lon.dstgrp``; the AuthPDU fmt/type sub-fields use masks 0x0C / 0x02 (the raw ``lon.authpdu`` byte is
asserted instead); it does not read the AuthPDU group byte nor the 12-bit transaction numbers of
version 2 (not used here).
"""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from cosemnet.profiles.lon import (
    CNIP_PORT,
    AddressFormat,
    Apdu,
    ApplicationMessage,
    AuthPdu,
    AuthPduType,
    BroadcastAddress,
    CnipPacket,
    ForeignFrame,
    GroupAddress,
    LonFrame,
    MulticastAckAddress,
    NetworkDiagnostic,
    NetworkManagement,
    NetworkVariable,
    Npdu,
    NvDirection,
    Spdu,
    SpduType,
    SubnetNodeAddress,
    Tpdu,
    TpduType,
    UniqueIdAddress,
)
from cosemnet.profiles.lon.netmgmt import QueryIdRequest, QueryIdResponse, ServicePinMessage

TSHARK = shutil.which("tshark")
pytestmark = pytest.mark.skipif(TSHARK is None, reason="tshark is not installed (run `make tshark` as root)")

NID = bytes.fromhex("04d29a1b0001")
PID = bytes.fromhex("9fffff0500840421")
SECRET = bytes(range(16))

FIELDS = [
    "cnip.len",
    "cnip.ver",
    "cnip.type",
    "cnip.exth",
    "cnip.sec",
    "cnip.protocol",
    "cnip.vendorcode",
    "cnip.sessid",
    "cnip.seqno",
    "cnip.tstamp",
    "lon.ppdu",
    "lon.prio",
    "lon.alt_path",
    "lon.delta_bl",
    "lon.npdu",
    "lon.vers",
    "lon.pdufmt",
    "lon.addrfmt",
    "lon.domainlen",
    "lon.srcnet",
    "lon.srcnode",
    "lon.dstnet",
    "lon.dstgrp",
    "lon.dstnode",
    "lon.grp",
    "lon.grpmem",
    "lon.uid",
    "lon.domain",
    "lon.auth",
    "lon.tpdu_type",
    "lon.spdu_type",
    "lon.trans_no",
    "lon.spdu.mlen",
    "lon.authpdu",
    "lon.code",
    "lon.nv.selector",
    "lon.nv.dir",
    "lon.name",
    "data.data",
]

FRAMES: list[LonFrame] = [
    # 2a, ACKD, network management query ID, 1-byte domain, priority
    LonFrame(
        Npdu(1, 5, SubnetNodeAddress(2, 9), Tpdu(TpduType.ACKD, 3, QueryIdRequest(1).to_apdu()), b"\x42"),
        priority=True,
        delta_backlog=3,
    ),
    # domain-wide broadcast, bare application message, no domain
    LonFrame(Npdu(0x10, 0x7F, BroadcastAddress(0), ApplicationMessage(0x3F, b"hello"))),
    # subnet broadcast, UNACKD_RPT with a foreign frame
    LonFrame(
        Npdu(3, 4, BroadcastAddress(7), Tpdu(TpduType.UNACKD_RPT, 15, ForeignFrame(0x4D, b"\x01")), b"\x99")
    ),
    # group, authenticated SPDU REQUEST, network variable, 3-byte domain, alternate path
    LonFrame(
        Npdu(
            3,
            1,
            GroupAddress(0x20),
            Spdu(SpduType.REQUEST, 14, NetworkVariable(0x1234, NvDirection.OUTGOING, b"\x00\xca"), auth=True),
            bytes.fromhex("aabbcc"),
        ),
        alt_path=True,
    ),
    # 2b acknowledgement from group member
    LonFrame(Npdu(5, 7, MulticastAckAddress(1, 2, 0x20, 3), Tpdu(TpduType.ACK, 7), b"\x42")),
    # unique ID with 6-byte domain, SPDU RESPONSE carrying the query ID response
    LonFrame(
        Npdu(
            0,
            0,
            UniqueIdAddress(0, NID),
            Spdu(SpduType.RESPONSE, 9, QueryIdResponse(NID, PID).to_apdu()),
            bytes.fromhex("112233445566"),
        )
    ),
    # TPDU REMINDER with a 2-byte M_List
    LonFrame(Npdu(1, 5, GroupAddress(0x21), Tpdu(TpduType.REMINDER, 1, m_list=b"\x05\x80"), b"\x42")),
    # SPDU REM/MSG with M_List and a network diagnostics query status
    LonFrame(
        Npdu(1, 5, GroupAddress(0x22), Spdu(SpduType.REM_MSG, 10, NetworkDiagnostic(0x51), b"\x01"), b"\x42")
    ),
    # AuthPDU challenge for a subnet/node message
    LonFrame(
        Npdu(
            1,
            5,
            SubnetNodeAddress(2, 9),
            AuthPdu(AuthPduType.CHALLENGE, 6, AddressFormat.SUBNET_NODE, bytes(range(8))),
            b"\x42",
        )
    ),
    # service pin message, broadcast on a 6-byte domain
    LonFrame(Npdu(0, 0, BroadcastAddress(0), ServicePinMessage(NID, PID).to_apdu(), bytes(6))),
    # update key (network management with data) as unique-ID request
    LonFrame(
        Npdu(
            0,
            0,
            UniqueIdAddress(3, NID),
            Spdu(SpduType.REQUEST, 2, NetworkManagement(0x65, bytes(7))),
            b"\x42",
        )
    ),
]


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\x00"
    total = sum(int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def udp_ipv4(payload: bytes, sport: int) -> bytes:
    udp = struct.pack(">HHHH", sport, CNIP_PORT, 8 + len(payload), 0) + payload
    src, dst = bytes((127, 0, 0, 1)), bytes((127, 0, 0, 2))
    header = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0, src, dst)
    header = header[:10] + struct.pack(">H", _checksum(header)) + header[12:]
    return header + udp


def udp_ipv6(payload: bytes, sport: int) -> bytes:
    src = dst = bytes(15) + b"\x01"  # ::1
    length = 8 + len(payload)
    pseudo = src + dst + struct.pack(">IxxxB", length, 17)
    udp = struct.pack(">HHHH", sport, CNIP_PORT, length, 0) + payload
    udp = udp[:6] + struct.pack(">H", _checksum(pseudo + udp) or 0xFFFF) + udp[8:]
    return struct.pack(">IHBB", 6 << 28, length, 17, 64) + src + dst + udp


def pcap(packets: list[bytes]) -> bytes:
    out = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 101)  # LINKTYPE_RAW
    for index, packet in enumerate(packets):
        out += struct.pack("<IIII", 1_700_000_000 + index, 0, len(packet), len(packet)) + packet
    return out


def expected_fields(frame: LonFrame, packet: CnipPacket) -> dict[str, object]:
    npdu = frame.npdu
    exp: dict[str, object] = {
        "cnip.len": 20 + len(packet.extended_header) + len(packet.payload),
        "cnip.ver": packet.version,
        "cnip.type": packet.packet_type,
        "cnip.exth": len(packet.extended_header) // 4,
        "cnip.sec": int(packet.security),
        "cnip.protocol": packet.protocol,
        "cnip.vendorcode": packet.vendor_code,
        "cnip.sessid": packet.session_id,
        "cnip.seqno": packet.sequence_number,
        "cnip.tstamp": packet.timestamp,
        "lon.ppdu": frame.ppdu_byte(),
        "lon.prio": int(frame.priority),
        "lon.alt_path": int(frame.alt_path),
        "lon.delta_bl": frame.delta_backlog,
        "lon.npdu": npdu.version << 6
        | npdu.pdu_format << 4
        | npdu.address_format << 2
        | [0, 1, 3, 6].index(len(npdu.domain_id)),
        "lon.vers": npdu.version,
        "lon.pdufmt": int(npdu.pdu_format),
        "lon.addrfmt": int(npdu.address_format),
        "lon.domainlen": [0, 1, 3, 6].index(len(npdu.domain_id)),
        "lon.srcnet": npdu.source_subnet,
        "lon.srcnode": npdu.source_node,
    }
    dst = npdu.destination
    if isinstance(dst, BroadcastAddress):
        exp["lon.dstnet"] = dst.destination_subnet
    elif isinstance(dst, GroupAddress):
        exp["lon.dstgrp"] = dst.group
    elif isinstance(dst, SubnetNodeAddress):
        exp |= {"lon.dstnet": dst.destination_subnet, "lon.dstnode": dst.destination_node}
    elif isinstance(dst, MulticastAckAddress):
        exp |= {"lon.dstnode": dst.destination_node, "lon.grp": dst.group, "lon.grpmem": dst.member}
    else:
        exp |= {"lon.dstnet": dst.destination_subnet, "lon.uid": dst.unique_id.hex()}
    if npdu.domain_id:
        exp["lon.domain"] = npdu.domain_id.hex()
    pdu = npdu.pdu
    apdu: Apdu | None = None
    if isinstance(pdu, Tpdu | Spdu):
        exp["lon.auth"] = int(pdu.auth)
        exp["lon.tpdu_type" if isinstance(pdu, Tpdu) else "lon.spdu_type"] = (
            pdu.tpdu_type if isinstance(pdu, Tpdu) else pdu.spdu_type
        )
        exp["lon.trans_no"] = pdu.transaction_number
        if pdu.m_list is not None:
            exp["lon.spdu.mlen"] = len(pdu.m_list)
        apdu = pdu.apdu
    elif isinstance(pdu, AuthPdu):
        exp["lon.authpdu"] = pdu.encode()[0]
        exp["lon.trans_no"] = pdu.transaction_number
    else:
        apdu = pdu
    if isinstance(apdu, NetworkVariable):
        exp |= {"lon.nv.selector": apdu.selector, "lon.nv.dir": int(apdu.direction)}
        if apdu.data:
            exp["data.data"] = apdu.data.hex()
    elif apdu is not None:
        mask = 0x0F if isinstance(apdu, ForeignFrame) else 0xFF
        exp["lon.code"] = apdu.code & mask
        if apdu.code == 0x7F:
            exp |= {"lon.uid": apdu.data[:6].hex(), "lon.name": apdu.data[6:14].hex()}
        elif apdu.data:
            exp["data.data"] = apdu.data.hex()
    return exp


BYTES_FIELDS = frozenset({"lon.uid", "lon.domain", "lon.name", "data.data"})


def _value(name: str, text: str) -> object:
    if name in BYTES_FIELDS:
        return text.replace(":", "").lower()
    return int(text, 0)


@pytest.fixture(scope="module")
def dissected(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[list[tuple[LonFrame, CnipPacket]], list[dict[str, str]]]:
    cases: list[tuple[LonFrame, CnipPacket]] = []
    datagrams: list[bytes] = []
    for index, frame in enumerate(FRAMES):
        packet = CnipPacket.data_packet(
            frame,
            session_id=0x6B8B4567,
            sequence_number=index,
            timestamp=1000 * index,
            security=index == 1,
        )
        wire = packet.encode(SECRET if packet.security else None)
        cases.append((frame, packet))
        maker = udp_ipv6 if index % 2 else udp_ipv4
        datagrams.append(maker(wire, 40000 + index))
    path: Path = tmp_path_factory.mktemp("tshark") / "cnip.pcap"
    path.write_bytes(pcap(datagrams))
    command = [TSHARK or "tshark", "-n", "-r", str(path), "-T", "fields", "-E", "header=y"]
    command += ["-E", "separator=/t", "-E", "occurrence=a", "-E", "aggregator=|"]
    for name in FIELDS:
        command += ["-e", name]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)
    lines = result.stdout.rstrip("\n").split("\n")
    header = lines[0].split("\t")
    rows = [dict(zip(header, line.split("\t"), strict=True)) for line in lines[1:]]
    return cases, rows


def test_every_packet_dissected(
    dissected: tuple[list[tuple[LonFrame, CnipPacket]], list[dict[str, str]]],
) -> None:
    cases, rows = dissected
    assert len(rows) == len(cases)


@pytest.mark.parametrize("index", range(len(FRAMES)))
def test_fields_match_encoder(
    dissected: tuple[list[tuple[LonFrame, CnipPacket]], list[dict[str, str]]], index: int
) -> None:
    cases, rows = dissected
    frame, packet = cases[index]
    row = rows[index]
    got: dict[str, object] = {}
    for name, text in row.items():
        if text and text != "<MISSING>":
            values = [_value(name, v) for v in text.split("|")]
            got[name] = values[0] if len(values) == 1 else values
    expected = expected_fields(frame, packet)
    if isinstance(frame.npdu.destination, MulticastAckAddress):
        # Wireshark names the destination subnet of a 2b address "dstgrp".
        expected["lon.dstgrp"] = frame.npdu.destination.destination_subnet
    if packet.security:
        # Wireshark hands the appended MD5 digest to the data dissector as part of the LON payload.
        expected["data.data"] = str(expected.get("data.data", "")) + packet.encode(SECRET)[-16:].hex()
    for name, value in expected.items():
        assert got.get(name) == value, f"{name}: tshark {got.get(name)!r}, encoder {value!r}"
    unexpected = set(got) - set(expected)
    assert not unexpected, f"tshark shows fields the encoder did not set: {sorted(unexpected)}"
