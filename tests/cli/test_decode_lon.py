"""``cosemnet decode`` on IEC 62056-8-8 messages: 14908-1 frames, CN/IP packets, ADP PDUs (real processes),
plus the in-process detection and JSON round trip."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cosemnet.cli.messages import (
    decode_cnip_packet,
    decode_lon_frame,
    detect_profile,
    encode_lon_message_json,
    inspect,
    lon_message_to_json,
)
from cosemnet.errors import DecodeError
from cosemnet.profiles.lon import (
    ApplicationMessage,
    BroadcastAddress,
    CnipPacket,
    CnipPacketType,
    LonFrame,
    NetworkManagement,
    Npdu,
    Spdu,
    SpduType,
    SubnetNodeAddress,
    Tpdu,
    TpduType,
)
from cosemnet.profiles.lon.adp import (
    ADP_MESSAGE_CODE,
    AbortReason,
    AdpAbort,
    AdpData,
    AdpDirection,
    Segmentation,
)
from lon.strategies import frames

from .conftest import RunCli
from .corpus import AK, EK, SERVER_SYSTEM_TITLE, SUITE0_VECTORS

GET_CLOCK = bytes.fromhex("C001C100080000010000FF0200")
GET_RESPONSE = bytes.fromhex("C401C1000600001391")


def adp_frame(
    adp: AdpData | AdpAbort, *, code: int = ADP_MESSAGE_CODE, spdu: bool = False, domain: bytes = b"\x12"
) -> LonFrame:
    message = ApplicationMessage(code, adp.encode())
    pdu = Spdu(SpduType.REQUEST, 4, message) if spdu else Tpdu(TpduType.ACKD, 3, message)
    return LonFrame(Npdu(1, 2, SubnetNodeAddress(1, 5), pdu, domain))


def get_frame() -> LonFrame:
    return adp_frame(AdpData(AdpDirection.CLIENT_TO_SERVER, 0x10, 0x01, GET_CLOCK))


def _hex(data: bytes) -> str:
    return data.hex().upper()


# --------------------------------------------------------------------------------------------------
# Real processes


def test_frame_tree_shows_every_layer(run_cli: RunCli) -> None:
    raw = get_frame().encode()
    result = run_cli("decode", _hex(raw))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.splitlines()[0].startswith(f"LonFrame (ISO/IEC 14908-1 frame, {len(raw)} bytes, CRC-16 0x")
    assert "npdu: Npdu (NPDU version 0, TPDU, address format 2 subnet/node, domain 12)" in out
    assert "destination: SubnetNodeAddress" in out
    assert "pdu: Tpdu (TPDU ACKD, transaction 3)" in out
    assert "code: 13 (0x0D, ADP PDU)" in out
    assert "data: AdpData (IEC 62056-8-8 ADP DATA, 16 bytes, client → server)" in out
    assert "client_sap: 16 (0x10, public client)" in out
    assert "payload: GetRequestNormal (get-request 0xC0, 13 bytes)" in out
    assert "instance_id: 0-0:1.0.0*255 (Clock)" in out


def test_cnip_packet_tree_and_json(run_cli: RunCli) -> None:
    frame = adp_frame(AdpData(AdpDirection.SERVER_TO_CLIENT, 0x10, 0x01, GET_RESPONSE))
    packet = CnipPacket.data_packet(frame, session_id=7, sequence_number=3)
    raw = packet.encode()
    tree = run_cli("decode", _hex(raw))
    assert tree.returncode == 0, tree.stderr
    lines = tree.stdout.splitlines()
    assert lines[0] == f"CnipPacket (ISO/IEC 14908-4 CN/IP DATA packet, {len(raw)} bytes)"
    assert "packet_type: 1 (0x01 DATA)" in tree.stdout
    assert "payload: LonFrame (ISO/IEC 14908-1 frame, " in tree.stdout
    assert "no CRC" in tree.stdout
    assert "server → client" in tree.stdout
    assert "GetResponseNormal" in tree.stdout

    result = run_cli("decode", "--json", _hex(raw))
    assert result.returncode == 0, result.stderr
    obj = json.loads(result.stdout)
    assert obj["profile"] == "cnip"
    assert obj["cnip"]["session_id"] == 7 and "payload" not in obj["cnip"]
    assert obj["crc"] is False
    assert obj["adp"]["apdu"] == "AdpData" and obj["adp"]["direction"] == "SERVER_TO_CLIENT"
    assert obj["dlms"] == {
        "apdu": "GetResponseNormal",
        "invoke_id": 1,
        "result": {"double-long-unsigned": 5009},
        "service_class": "CONFIRMED",
        "priority": "HIGH",
        "reserved": 0,
    }
    assert encode_lon_message_json(obj) == raw


def test_json_of_a_frame_round_trips(run_cli: RunCli) -> None:
    raws = [
        get_frame().encode(),
        adp_frame(AdpAbort(AdpDirection.SERVER_TO_CLIENT, 1, 1, 9, AbortReason.LOWER_LAYER_FAILURE)).encode(),
    ]
    result = run_cli("decode", "--json", *(_hex(r) for r in raws))
    assert result.returncode == 0, result.stderr
    objs = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["profile"] for o in objs] == ["lon", "lon"]
    assert objs[0]["dlms"]["apdu"] == "GetRequestNormal"
    assert objs[1]["adp"] == {
        "apdu": "AdpAbort",
        "direction": "SERVER_TO_CLIENT",
        "client_sap": 1,
        "server_sap": 1,
        "message_id": 9,
        "reason": "LOWER_LAYER_FAILURE",
        "payload": "",
    }
    assert "dlms" not in objs[1]
    assert [encode_lon_message_json(o) for o in objs] == raws
    # and through the real `cosemnet encode` process: decode --json | encode gives the frames back
    encoded = run_cli("encode", *result.stdout.splitlines())
    assert encoded.returncode == 0, encoded.stderr
    assert encoded.stdout.split() == [_hex(r) for r in raws]


def test_segment_and_foreign_message_code_are_shown_not_failed(run_cli: RunCli) -> None:
    first = AdpData(
        AdpDirection.SERVER_TO_CLIENT,
        0x10,
        0x01,
        bytes(range(40)),
        Segmentation.FIRST,
        message_id=7,
        total_length=500,
    )
    other = adp_frame(AdpData(AdpDirection.CLIENT_TO_SERVER, 0x10, 0x01, GET_CLOCK), code=0x0E)
    result = run_cli("decode", _hex(adp_frame(first).encode()), _hex(other.encode()))
    assert result.returncode == 0, result.stderr
    assert "ADP DATA FIRST" in result.stdout
    assert "total_length: 500" in result.stdout
    assert "one segment of a longer APDU" in result.stdout
    assert "code: 14 (0x0E, application message)" in result.stdout
    assert result.stdout.count("AdpData") == 1  # the 0x0E message is not taken for an ADP PDU


def test_not_an_adp_pdu_is_a_note(run_cli: RunCli) -> None:
    message = ApplicationMessage(ADP_MESSAGE_CODE, bytes.fromhex("07"))  # reserved kind 7
    frame = LonFrame(Npdu(1, 2, SubnetNodeAddress(1, 5), Tpdu(TpduType.ACKD, 1, message), b""))
    result = run_cli("decode", _hex(frame.encode()))
    assert result.returncode == 0, result.stderr
    assert "not an ADP PDU: reserved ADP message kind 7" in result.stdout


def test_ciphered_dlms_apdu_inside_adp_is_decrypted(run_cli: RunCli) -> None:
    ciphered = bytes.fromhex(SUITE0_VECTORS["auth_enc"])
    raw = adp_frame(AdpData(AdpDirection.CLIENT_TO_SERVER, 0x01, 0x01, ciphered)).encode()
    keys = ("--ek", EK, "--ak", AK, "--system-title", SERVER_SYSTEM_TITLE)
    result = run_cli("decode", *keys, _hex(raw))
    assert result.returncode == 0, result.stderr
    assert "payload: ServiceSpecificCiphered" in result.stdout
    assert "decrypted → GetRequestNormal" in result.stdout
    as_json = run_cli("decode", "--json", *keys, _hex(raw))
    assert json.loads(as_json.stdout)["dlms"]["decrypted"]["apdu"] == "GetRequestNormal"


def test_other_pdus_ack_and_network_management(run_cli: RunCli) -> None:
    ack = LonFrame(Npdu(1, 5, SubnetNodeAddress(1, 2), Tpdu(TpduType.ACK, 3), b"\x12"))
    query = LonFrame(Npdu(0, 0, BroadcastAddress(0), NetworkManagement(0x61, b"\x00"), b""), priority=True)
    result = run_cli("decode", _hex(ack.encode()), _hex(query.encode()))
    assert result.returncode == 0, result.stderr
    assert "pdu: Tpdu (TPDU ACK, transaction 3)" in result.stdout
    assert "NPDU version 0, APDU, address format 0 broadcast, zero-length domain" in result.stdout
    assert "code: 97" in result.stdout  # 0x61 query ID


def test_profile_option_forces_the_reading(run_cli: RunCli) -> None:
    raw = get_frame().encode()
    bad = raw[:-1] + bytes([raw[-1] ^ 0x01])
    forced = run_cli("decode", "--profile", "lon", _hex(bad))
    assert forced.returncode == 1
    assert "error: CRC mismatch" in forced.stderr
    assert f"at offset {len(bad) - 2}" in forced.stderr
    # auto: a bad CRC is not a frame, and these bytes are no DLMS APDU either
    auto = run_cli("decode", "--json", _hex(bad))
    assert auto.returncode == 1
    assert json.loads(auto.stdout)["error"]["kind"] == "decode"
    # dlms: the frame is not read as one
    dlms = run_cli("decode", "--profile", "dlms", _hex(raw))
    assert dlms.returncode == 1
    # cnip on a bare frame: the header does not fit
    cnip = run_cli("decode", "--profile", "cnip", _hex(raw))
    assert cnip.returncode == 1
    # DLMS input still decodes as before under auto
    assert run_cli("decode", _hex(GET_CLOCK)).stdout.startswith("GetRequestNormal")


# --------------------------------------------------------------------------------------------------
# In process


def test_detection() -> None:
    raw = get_frame().encode()
    packet = CnipPacket.data_packet(get_frame()).encode()
    assert detect_profile(raw) == "lon"
    assert detect_profile(packet) == "cnip"
    assert detect_profile(GET_CLOCK) == "dlms"
    assert detect_profile(bytes.fromhex("0001001000010005C001C1")) == "dlms"  # a wrapper frame
    wrong_version = bytearray(packet)
    wrong_version[2] = 2
    assert detect_profile(bytes(wrong_version)) != "cnip"


def test_cnip_payload_with_crc_and_non_data_packets() -> None:
    frame = get_frame()
    with_crc = CnipPacket.data_packet(frame, crc=True).encode()
    message = decode_cnip_packet(with_crc)
    assert message.crc is True and message.frame == frame and message.dlms is not None
    assert encode_lon_message_json(lon_message_to_json(message)) == with_crc
    status = CnipPacket(CnipPacketType.STATUS_REQUEST, b"\x01\x02").encode()
    decoded = decode_cnip_packet(status)
    assert decoded.frame is None and decoded.adp is None
    obj = lon_message_to_json(decoded)
    assert obj["cnip"]["payload"] == "0102" and "frame" not in obj
    assert encode_lon_message_json(obj) == status


def test_spdu_carried_adp() -> None:
    frame = adp_frame(AdpData(AdpDirection.CLIENT_TO_SERVER, 0x10, 0x01, GET_CLOCK), spdu=True)
    message = decode_lon_frame(frame.encode())
    assert message.adp is not None and type(message.dlms).__name__ == "GetRequestNormal"


def test_encode_lon_json_rejects_bad_documents() -> None:
    from cosemnet.codec.jsonform import JsonFormError

    good = lon_message_to_json(decode_lon_frame(get_frame().encode()))
    for bad in (
        {},
        {"profile": "dlms"},
        {**good, "extra": 1},
        {"profile": "lon"},
        {**good, "crc": "yes"},
        {"profile": "cnip", "frame": good["frame"]},
    ):
        with pytest.raises(JsonFormError):
            encode_lon_message_json(bad)


@settings(max_examples=150, deadline=None)
@given(frames)
def test_any_frame_decodes_and_round_trips_through_json(frame: LonFrame) -> None:
    raw = frame.encode()
    assert detect_profile(raw) == "lon" or len(raw) < 8
    decoded = inspect(raw, None, "lon").message
    assert encode_lon_message_json(json.loads(json.dumps(lon_message_to_json(decoded)))) == raw
    packet = CnipPacket.data_packet(frame, sequence_number=1).encode()
    assert detect_profile(packet) == "cnip"
    as_cnip = decode_cnip_packet(packet)
    assert encode_lon_message_json(json.loads(json.dumps(lon_message_to_json(as_cnip)))) == packet


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64))
def test_any_bytes_only_decode_errors(data: bytes) -> None:
    for profile in ("auto", "lon", "cnip"):
        with contextlib.suppress(DecodeError):
            inspect(data, None, profile)
