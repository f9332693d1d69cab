"""Trace lines: time, direction, peer, hex and the decoded (and decrypted) summary of each frame."""

from __future__ import annotations

import io

from cosemnet.cli.messages import Keys
from cosemnet.cli.trace import TraceFormatter, TraceWriter, format_hex, summarize
from cosemnet.profiles.lon import ApplicationMessage, LonFrame, Npdu, SubnetNodeAddress, Tpdu, TpduType
from cosemnet.trace import Direction, FrameRecord, Transport

from .corpus import AK, EK, SERVER_SYSTEM_TITLE, SUITE0_VECTORS

GET = bytes.fromhex("000100100001000DC001C100030100010800FF0200")
T0 = 1_767_225_600.125  # 2026-01-01T00:00:00.125Z


def test_line_layout() -> None:
    record = FrameRecord(T0, Direction.SENT, Transport.TCP, ("127.0.0.1", 40000), ("127.0.0.1", 4059), GET)
    assert TraceFormatter().line(record) == (
        "2026-01-01T00:00:00.125Z -> 127.0.0.1:4059 000100100001000DC001C100030100010800FF0200  "
        "wrapper 16->1 GetRequestNormal #1 3/1-0:1.8.0*255/2"
    )
    received = FrameRecord(T0, Direction.RECEIVED, Transport.UDP, ("::1", 4059), ("::1", 40000), GET)
    assert (
        TraceFormatter(hex_limit=4)
        .line(received)
        .startswith("2026-01-01T00:00:00.125Z <- [::1]:40000 00010010...(21 bytes)  wrapper")
    )
    assert format_hex(b"\x01\x02", None) == "0102"


def test_responses_and_undecodable_frames() -> None:
    assert (
        summarize(bytes.fromhex("0001000100100007C401C100090102"))
        == "wrapper 1->16 GetResponseNormal #1 data"
    )
    assert summarize(bytes.fromhex("C401C1010B")) == "GetResponseNormal #1 object_unavailable"
    assert summarize(bytes.fromhex("00010001")).startswith("undecodable: ")
    assert summarize(bytes.fromhex("FF")).startswith("undecodable: ")


def test_ciphered_summary_decrypted_with_keys() -> None:
    frame = bytes.fromhex(SUITE0_VECTORS["auth_enc"])
    assert summarize(frame) == "ServiceSpecificCiphered IC=19088743"
    keys = Keys(bytes.fromhex(EK), bytes.fromhex(AK), system_title=bytes.fromhex(SERVER_SYSTEM_TITLE))
    assert (
        summarize(frame, keys)
        == "ServiceSpecificCiphered IC=19088743 => GetRequestNormal #0 8/0-0:1.0.0*255/2"
    )
    wrong = Keys(bytes(16), bytes.fromhex(AK), system_title=bytes.fromhex(SERVER_SYSTEM_TITLE))
    assert "=> not decrypted" in summarize(frame, wrong)


def test_lon_frame_and_writer() -> None:
    adp = bytes.fromhex("001001") + GET[8:]
    npdu = Npdu(1, 5, SubnetNodeAddress(2, 9), Tpdu(TpduType.ACKD, 3, ApplicationMessage(0x0D, adp)), b"\x42")
    frame = LonFrame(npdu).encode(crc=False)
    stream = io.StringIO()
    TraceWriter(stream).frame(
        FrameRecord(T0, Direction.SENT, Transport.LON, ("10.0.0.1", 1628), ("10.0.0.2", 1628), frame)
    )
    line = stream.getvalue()
    assert line.endswith("  LON 1/5 -> 2/9 ADP AdpData 0x10/0x01 GetRequestNormal #1 3/1-0:1.8.0*255/2\n")
