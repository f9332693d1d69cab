"""Wireshark cross-check of Annex E repeating: the frames of real repeated exchanges (3 repeaters,
request/response, success, a repeating failure, an authenticated chain) dissect in tshark with their
ISO/IEC 14908-1 layers intact: addresses, SPDU type, transaction number, the foreign-frame code and the
proxy bytes as data. Skipped only when tshark is not installed.

Wireshark 4.0 shows the foreign-frame code masked with 0x0F (0x4D -> 13) and knows nothing of the proxy
layer: the proxy data must come out as the raw ``data.data`` bytes our codec encoded.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from cosemnet.profiles.lon import (
    ApplicationMessage,
    CnipPacket,
    ForeignFrame,
    LonFrame,
    Spdu,
    SubnetNodeAddress,
)
from cosemnet.profiles.lon.proxy import ProxyRequest, decode_outcome
from cosemnet.profiles.lon.repeater import StaticRoutes
from cosemnet.profiles.lon.stack import Service

from .test_repeating import chain, far_line, feeder
from .test_tshark import TSHARK, pcap, udp_ipv4

pytestmark = pytest.mark.skipif(TSHARK is None, reason="tshark is not installed (run `make tshark` as root)")

FIELDS = [
    "lon.srcnet",
    "lon.srcnode",
    "lon.dstnet",
    "lon.dstnode",
    "lon.pdufmt",
    "lon.spdu_type",
    "lon.trans_no",
    "lon.code",
    "data.data",
    "_ws.expert.message",
]


def repeated_frames() -> list[LonFrame]:
    f = feeder(far_line(), StaticRoutes({(1, 5): chain(2, 3, 4)}))
    f.stacks[0].send(
        f.address(4), ApplicationMessage(0x10, b"read"), Service.ACKD, auth=True, now=f.stacks[0].now
    )
    f.run()
    f.cut(3)
    f.stacks[0].send(f.address(4), ApplicationMessage(0x10, b"lost"), Service.ACKD, now=f.stacks[0].now)
    f.run(120)
    return f.capture.frames


def proxy_frames(frames: list[LonFrame]) -> list[LonFrame]:
    out = []
    for frame in frames:
        pdu = frame.npdu.pdu
        if isinstance(pdu, Spdu) and isinstance(pdu.apdu, ForeignFrame):
            out.append(frame)
    return out


@pytest.fixture(scope="module")
def dissected(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[LonFrame, dict[str, str]]]:
    frames = proxy_frames(repeated_frames())
    datagrams = [
        udp_ipv4(
            CnipPacket.data_packet(f, session_id=9, sequence_number=i, timestamp=0).encode(None), 42000 + i
        )
        for i, f in enumerate(frames)
    ]
    path: Path = tmp_path_factory.mktemp("tshark-proxy") / "proxy.pcap"
    path.write_bytes(pcap(datagrams))
    command = [
        TSHARK or "tshark",
        "-n",
        "-r",
        str(path),
        "-T",
        "fields",
        "-E",
        "header=y",
        "-E",
        "separator=/t",
    ]
    for name in FIELDS:
        command += ["-e", name]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)
    lines = result.stdout.rstrip("\n").split("\n")
    header = lines[0].split("\t")
    rows = [dict(zip(header, line.split("\t"), strict=True)) for line in lines[1:]]
    assert len(rows) == len(frames)
    return list(zip(frames, rows, strict=True))


def test_the_exchanges_hold_every_proxy_frame_kind(dissected: list[tuple[LonFrame, dict[str, str]]]) -> None:
    requests = successes = failures = 0
    for frame, _ in dissected:
        pdu = frame.npdu.pdu
        assert isinstance(pdu, Spdu) and isinstance(pdu.apdu, ForeignFrame)
        if pdu.apdu.data and pdu.apdu.code == 0x4D:
            requests += 1
            assert ProxyRequest.from_apdu(pdu.apdu).to_apdu() == pdu.apdu
        else:
            outcome = decode_outcome(pdu.apdu)
            successes += outcome is not None and type(outcome).__name__ == "ProxySuccess"
            failures += outcome is not None and type(outcome).__name__ == "RepeatingFailure"
    assert requests >= 6 and successes >= 3 and failures >= 2


def test_proxy_frames_dissect_with_their_14908_layers(
    dissected: list[tuple[LonFrame, dict[str, str]]],
) -> None:
    for frame, row in dissected:
        npdu = frame.npdu
        pdu = npdu.pdu
        assert isinstance(pdu, Spdu) and isinstance(pdu.apdu, ForeignFrame)
        destination = npdu.destination
        assert isinstance(destination, SubnetNodeAddress)
        source = (int(row["lon.srcnet"], 0), int(row["lon.srcnode"], 0))
        assert source == (npdu.source_subnet, npdu.source_node)
        assert (int(row["lon.dstnet"], 0), int(row["lon.dstnode"], 0)) == (
            destination.destination_subnet,
            destination.destination_node,
        )
        assert int(row["lon.pdufmt"], 0) == 1
        assert int(row["lon.spdu_type"], 0) == int(pdu.spdu_type)
        assert int(row["lon.trans_no"], 0) == pdu.transaction_number
        assert int(row["lon.code"], 0) == pdu.apdu.code & 0x0F
        assert row["data.data"].replace(":", "") == pdu.apdu.data.hex()
        assert row["_ws.expert.message"] == "", row
