"""The shipped Lua dissector, run by tshark on captures written by the pcap writer.

``tshark -X lua_script:PATH -r capture.pcap`` must show the wrapper fields, the APDU's tag by name, the
invoke-id and the class/OBIS/attribute of a GET, reassemble a long response spread over TCP segments,
name the ciphered envelopes, and decode cosemnet's LON adaptation layer inside CN/IP. Skipped only when
tshark is not installed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cosemnet.cli.wireshark import dissector_path
from cosemnet.trace.pcap import PcapCapture

from .captures import (
    CLIENT,
    CLIENT6,
    GET_APDU,
    GET_FRAME,
    SERVER,
    SERVER6,
    TSHARK,
    adp_frame,
    fields,
    long_response,
    tshark,
    wrapper,
    write,
)

pytestmark = pytest.mark.skipif(TSHARK is None, reason="tshark is not installed (run `make tshark` as root)")

LUA = ("-X", f"lua_script:{dissector_path()}")
GLO_GET = bytes.fromhex("C81E3001234567411312FF935A47566827C467BC7D825C3BE4A77C3FCC056B6B")
GENERAL_GLO = bytes.fromhex("DB084D4D4D0000BC614E") + bytes.fromhex("0D3000000001") + bytes(8)
AARQ = bytes.fromhex("601DA109060760857405080101BE10040E01000000065F1F0400001E1DFFFF")
ACTION = bytes.fromhex("C301C0000F0000280000FF010109111000001A90E6D2221FA2FD85EED61ACC22")


def _dlms_capture(tmp_path: Path) -> Path:
    def build(capture: PcapCapture) -> None:
        capture.tcp(CLIENT, SERVER, wrapper(16, 1, AARQ), 1.0)
        capture.tcp(CLIENT, SERVER, GET_FRAME, 1.1)
        capture.tcp(SERVER, CLIENT, long_response(3000), 1.2)
        capture.udp(CLIENT6, SERVER6, GET_FRAME, 1.3)
        capture.udp(CLIENT6, SERVER6, wrapper(1, 1, GLO_GET), 1.4)
        capture.udp(CLIENT6, SERVER6, wrapper(1, 1, GENERAL_GLO), 1.5)
        capture.tcp(CLIENT, SERVER, wrapper(1, 1, ACTION), 1.6)

    return write(tmp_path / "dlms.pcap", build)


def test_wrapper_fields_and_get_descriptor(tmp_path: Path) -> None:
    path = _dlms_capture(tmp_path)
    names = (
        "dlmswrapper.version",
        "dlmswrapper.source_wport",
        "dlmswrapper.destination_wport",
        "dlmswrapper.length",
        "dlms.tag",
        "dlms.invoke_id",
        "dlms.class_id",
        "dlms.obis",
        "dlms.attribute_id",
        "dlms.method_id",
        "dlms.invocation_counter",
        "dlms.system_title",
    )
    rows = [r for r in fields(path, *names, extra=LUA) if r[0]]
    assert rows == [
        ["1", "16", "1", str(len(AARQ)), "0x60", "", "", "", "", "", "", ""],
        ["1", "16", "1", str(len(GET_APDU)), "0xc0", "1", "3", "1-0:1.8.0*255", "2", "", "", ""],
        ["1", "1", "16", str(3000 + 8), "0xc4", "1", "", "", "", "", "", ""],
        ["1", "16", "1", str(len(GET_APDU)), "0xc0", "1", "3", "1-0:1.8.0*255", "2", "", "", ""],
        ["1", "1", "1", str(len(GLO_GET)), "0xc8", "", "", "", "", "", "19088743", ""],
        ["1", "1", "1", str(len(GENERAL_GLO)), "0xdb", "", "", "", "", "", "1", "4d4d4d0000bc614e"],
        ["1", "1", "1", str(len(ACTION)), "0xc3", "0", "15", "0-0:40.0.0*255", "", "1", "", ""],
    ]


def test_verbose_tree_names_the_fields(tmp_path: Path) -> None:
    text = tshark(*LUA, "-r", _dlms_capture(tmp_path), "-V", "-Y", "dlms.obis")
    assert "IEC 62056-4-7 DLMS/COSEM wrapper, wPort 16 -> 1, 13 bytes" in text
    assert "Source wPort: 16" in text and "Destination wPort: 1" in text and "Length: 13" in text
    assert "Tag: get-request (0xc0)" in text
    assert "Choice: 1 (get-request-normal)" in text
    assert "Logical name (OBIS): 1-0:1.8.0*255" in text
    assert "Attribute id: 2" in text
    summary = tshark(*LUA, "-r", _dlms_capture(tmp_path))
    assert "get-request-normal #1 3/1-0:1.8.0*255/2" in summary
    assert "AARQ" in summary and "glo-get-request IC=19088743" in summary
    assert "get-response-normal #1 data" in summary


def test_lon_adaptation_layer_in_cnip(tmp_path: Path) -> None:
    first_segment = bytes.fromhex("30100107") + (500).to_bytes(2, "big") + bytes(10)
    abort = bytes.fromhex("920101090601DEADBEEF")

    def build(capture: PcapCapture) -> None:
        capture.lon("10.0.0.1", "10.0.0.2", adp_frame(bytes.fromhex("001001") + GET_APDU), 1.0)
        capture.lon("10.0.0.2", "10.0.0.1", adp_frame(first_segment), 1.1)
        capture.lon("10.0.0.2", "10.0.0.1", adp_frame(abort), 1.2)
        capture.lon("10.0.0.1", "10.0.0.2", adp_frame(bytes.fromhex("001001") + GET_APDU, code=0x0E), 1.3)

    path = write(tmp_path / "lon.pcap", build)
    names = (
        "lon.code",
        "cosemnet_adp.kind",
        "cosemnet_adp.segmentation",
        "cosemnet_adp.direction",
        "cosemnet_adp.client_sap",
        "cosemnet_adp.server_sap",
        "cosemnet_adp.message_id",
        "cosemnet_adp.total_length",
        "cosemnet_adp.reason",
        "cosemnet_adp.suite_id",
        "dlms.obis",
    )
    assert fields(path, *names, extra=LUA) == [
        ["0x0d", "0", "0", "0", "0x10", "0x01", "", "", "", "", "1-0:1.8.0*255"],
        ["0x0d", "0", "1", "1", "0x10", "0x01", "7", "500", "", "", ""],
        ["0x0d", "2", "0", "1", "0x01", "0x01", "9", "", "6", "1", ""],
        ["0x0e", "", "", "", "", "", "", "", "", "", ""],  # another application's message code
    ]


def test_truncated_and_foreign_payloads_do_not_break_tshark(tmp_path: Path) -> None:
    def build(capture: PcapCapture) -> None:
        capture.udp(CLIENT6, SERVER6, b"\x00\x01\x00\x10", 1.0)  # shorter than the wrapper header
        capture.udp(CLIENT6, SERVER6, b"\x00\x02" + bytes(10), 1.1)  # not version 1
        capture.udp(CLIENT6, SERVER6, wrapper(16, 1, b"\xc0\x01"), 1.2)  # GET cut short
        capture.udp(CLIENT6, SERVER6, wrapper(16, 1, b"\xdb\x08\x01"), 1.3)  # general-glo cut short
        capture.lon("10.0.0.1", "10.0.0.2", adp_frame(b"\x00\x10"), 1.4)  # ADP header cut short

    path = write(tmp_path / "bad.pcap", build)
    text = tshark(*LUA, "-r", path, "-V")
    assert "Lua Error" not in text and "Malformed" not in text.replace("Malformed APDU destin", "")
