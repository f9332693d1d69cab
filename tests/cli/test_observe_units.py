"""The pieces behind ``--trace``, ``--pcap`` and ``--metrics-port`` of the mesh and LON commands: CN/IP
records (real ports in captures, decoded in trace lines), the capture addresses of power-line nodes,
the metrics of both roles (requests, answers, latency in either direction), the sent-only filter."""

from __future__ import annotations

import io
import struct

import pytest

from cosemnet.cli.sim_lon_observe import SentOnly, lon_ip
from cosemnet.cli.trace import TraceFormatter
from cosemnet.codec.wrapper import WrapperFrame
from cosemnet.profiles.lon.addresses import BroadcastAddress, GroupAddress, SubnetNodeAddress
from cosemnet.trace import Direction, FrameRecord, Transport
from cosemnet.trace.pcap import PcapCapture, cnip_data_packet

# an ADP DATA PDU carrying GetRequestNormal 3/1-0:1.8.0*255/2, in a 14908-1 frame (no CRC), 1/126 -> 1/2
LON_FRAME = bytes.fromhex("811901FE01824C010D001001C001C000030100010800FF0200")
GET = bytes.fromhex("C001C100030100010800FF0200")


def test_a_cnip_record_keeps_its_real_ports_and_is_decoded_down_to_the_apdu() -> None:
    datagram = cnip_data_packet(LON_FRAME, sequence_number=7, session_id=1)
    local, peer = ("127.0.0.1", 40000), ("127.0.0.1", 41234)
    record = FrameRecord(1.0, Direction.SENT, Transport.CNIP, local, peer, datagram)
    stream = io.BytesIO()
    PcapCapture(stream).frame(record)
    packet = stream.getvalue()[24 + 16 :]  # after the global and the record header: IPv4 + UDP
    assert struct.unpack(">HH", packet[20:24]) == (40000, 41234)
    assert packet[28:] == datagram
    line = TraceFormatter().line(record)
    assert "-> 127.0.0.1:41234" in line
    assert "LON 1/126 -> 1/2 ADP AdpData 0x10/0x01 GetRequestNormal #0 3/1-0:1.8.0*255/2" in line


def test_capture_addresses_of_power_line_nodes() -> None:
    assert lon_ip(None, (1, 126)) == "127.76.1.126"
    assert lon_ip(SubnetNodeAddress(3, 5)) == "127.76.3.5"
    assert lon_ip(GroupAddress(9)) == "127.77.0.9"
    assert lon_ip(BroadcastAddress(0)) == "127.76.255.255"
    assert lon_ip(BroadcastAddress(4)) == "127.76.4.255"


def test_sent_only_passes_the_sent_frames() -> None:
    seen: list[FrameRecord] = []

    class Keep:
        def frame(self, record: FrameRecord) -> None:
            seen.append(record)

    only = SentOnly(Keep())
    for direction in (Direction.SENT, Direction.RECEIVED, Direction.SENT):
        only.frame(FrameRecord(0.0, direction, Transport.UDP, ("::1", 1), ("::1", 2), b"x"))
    assert [r.direction for r in seen] == [Direction.SENT, Direction.SENT]


@pytest.mark.parametrize("role", ["client", "server"])
def test_frame_metrics_of_both_roles(role: str) -> None:
    pytest.importorskip("prometheus_client")
    from cosemnet.cli.metrics import FrameMetrics

    metrics = FrameMetrics("test", role)
    peer, other = ("::1", 61616), ("::1", 61617)
    ask = Direction.SENT if role == "client" else Direction.RECEIVED
    answer = Direction.RECEIVED if role == "client" else Direction.SENT
    get = WrapperFrame(1, 1, GET).encode()

    def frame(direction: Direction, address: tuple[str, int], data: bytes = get) -> None:
        metrics.frame(FrameRecord(0.0, direction, Transport.UDP, ("::1", 4059), address, data))

    frame(ask, peer)
    frame(ask, peer)  # a retry: the clock runs from the first one
    frame(answer, peer)
    frame(answer, other, b"\x00")  # a frame from a peer that was asked nothing (a registration) ...
    frame(ask, other)  # ... and its confirmation: also one exchange
    registry = metrics.registry
    assert registry.get_sample_value("cosemnet_test_requests_total", {"apdu": "GetRequestNormal"}) == 3
    assert registry.get_sample_value("cosemnet_test_responses_total", {"apdu": "GetRequestNormal"}) == 1
    assert registry.get_sample_value("cosemnet_test_responses_total", {"apdu": "undecodable"}) == 1
    assert registry.get_sample_value("cosemnet_test_response_seconds_count") == 2
    with pytest.raises(ValueError, match="role"):
        FrameMetrics("test2", "peer")
