"""ISO/IEC 14908-1 frames: hand-built vectors from the published layouts, round trips, negative cases."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from cosemnet.errors import DecodeError, EncodeError
from cosemnet.profiles.lon import (
    AddressFormat,
    ApplicationMessage,
    AuthPdu,
    AuthPduType,
    BroadcastAddress,
    ForeignFrame,
    GroupAddress,
    LonFrame,
    MulticastAckAddress,
    NetworkDiagnostic,
    NetworkManagement,
    NetworkVariable,
    Npdu,
    NvDirection,
    PduFormat,
    Spdu,
    SpduType,
    SubnetNodeAddress,
    Tpdu,
    TpduType,
    UniqueIdAddress,
    decode_apdu,
    encode_apdu,
    member_list,
    members_of,
)
from cosemnet.profiles.lon.crc import crc16

from .strategies import addresses, apdus, auth_pdus, domains, frames, npdus, spdus, tpdus
from .test_crc import reference_crc

NID = bytes.fromhex("010203040506")
PID = bytes.fromhex("9F FF FF 05 01 02 04 0A")

# (frame without CRC, expected object). Bytes written by hand from the layouts of packet-lon.c and
# lon-stack-dx, not produced by the encoder.
VECTORS: list[tuple[str, LonFrame]] = [
    (
        # PPDU priority|backlog 3; NPDU v0 TPDU fmt 2 dom 1; 2a 1/5 -> 2/9; domain 42; ACKD #3; NM query ID
        "83 09 01 85 02 89 42 03 61 01",
        LonFrame(
            Npdu(
                1,
                5,
                SubnetNodeAddress(2, 9),
                Tpdu(TpduType.ACKD, 3, NetworkManagement(0x61, b"\x01")),
                b"\x42",
            ),
            priority=True,
            delta_backlog=3,
        ),
    ),
    (
        # domain-wide broadcast, bare APDU (application message 0x3F "hello"), no domain
        "00 30 10 ff 00 3f 68 65 6c 6c 6f",
        LonFrame(Npdu(0x10, 0x7F, BroadcastAddress(0), ApplicationMessage(0x3F, b"hello"))),
    ),
    (
        # alt path; group 0x20, SPDU REQUEST with auth, trans 15, 3-byte domain, NV 0x1234 outgoing
        "40 16 03 81 20 aa bb cc 8f d2 34 00 ca",
        LonFrame(
            Npdu(
                3,
                1,
                GroupAddress(0x20),
                Spdu(
                    SpduType.REQUEST,
                    15,
                    NetworkVariable(0x1234, NvDirection.OUTGOING, b"\x00\xca"),
                    auth=True,
                ),
                bytes.fromhex("aabbcc"),
            ),
            alt_path=True,
        ),
    ),
    (
        # 2b acknowledgement from group 0x20 member 3 (source node byte top bit 0), TPDU ACK #7
        "00 09 05 07 01 82 20 03 42 27",
        LonFrame(Npdu(5, 7, MulticastAckAddress(1, 2, 0x20, 3), Tpdu(TpduType.ACK, 7), b"\x42")),
    ),
    (
        # unique ID, 6-byte domain, SPDU RESPONSE #9 carrying the query ID response 0x21 + NID + PID
        "3f 1f 00 80 00 010203040506 112233445566 29 21 010203040506 9fffff050102040a",
        LonFrame(
            Npdu(
                0,
                0,
                UniqueIdAddress(0, NID),
                Spdu(SpduType.RESPONSE, 9, ApplicationMessage(0x21, NID + PID)),
                bytes.fromhex("112233445566"),
            ),
            delta_backlog=63,
        ),
    ),
    (
        # TPDU REMINDER #1, M_List of 2 bytes: members 0, 2 and 15
        "00 09 01 85 02 89 42 41 02 05 80",
        LonFrame(
            Npdu(1, 5, SubnetNodeAddress(2, 9), Tpdu(TpduType.REMINDER, 1, m_list=b"\x05\x80"), b"\x42")
        ),
    ),
    (
        # SPDU REM/MSG #10, M_List [0x01], then APDU 0x10
        "00 15 01 85 20 42 5a 01 01 10",
        LonFrame(
            Npdu(
                1,
                5,
                GroupAddress(0x20),
                Spdu(SpduType.REM_MSG, 10, ApplicationMessage(0x10), b"\x01"),
                b"\x42",
            )
        ),
    ),
    (
        # AuthPDU challenge for a group message (fmt 1) sent as 2b; 8 random bytes + group 7
        "00 29 01 05 02 89 07 03 42 45 0001020304050607 07",
        LonFrame(
            Npdu(
                1,
                5,
                MulticastAckAddress(2, 9, 7, 3),
                AuthPdu(AuthPduType.CHALLENGE, 5, AddressFormat.GROUP, bytes(range(8)), 7),
                b"\x42",
            )
        ),
    ),
    (
        # AuthPDU reply for a subnet/node message (fmt 2), no group byte
        "00 29 01 85 02 89 42 a4 f0f1f2f3f4f5f6f7",
        LonFrame(
            Npdu(
                1,
                5,
                SubnetNodeAddress(2, 9),
                AuthPdu(AuthPduType.REPLY, 4, AddressFormat.SUBNET_NODE, bytes(range(0xF0, 0xF8))),
                b"\x42",
            )
        ),
    ),
    (
        # enhanced mode (version 2): 12-bit transaction 0xABC = nibble A + byte BC
        "00 89 01 85 02 89 42 0a bc 10",
        LonFrame(
            Npdu(
                1,
                5,
                SubnetNodeAddress(2, 9),
                Tpdu(TpduType.ACKD, 0xABC, ApplicationMessage(0x10)),
                b"\x42",
                2,
            )
        ),
    ),
    (
        # foreign frame 0x4D (enhanced proxy code) and reserved selector bits cleared
        "00 30 01 05 00 4d 01 02",
        LonFrame(Npdu(1, 5, BroadcastAddress(0, False), ForeignFrame(0x4D, b"\x01\x02"))),
    ),
    (
        # network diagnostic query status as unacknowledged-repeated, 2a with destination top bit 0
        "00 09 01 85 02 09 42 1e 51",
        LonFrame(
            Npdu(
                1,
                5,
                SubnetNodeAddress(2, 9, False),
                Tpdu(TpduType.UNACKD_RPT, 14, NetworkDiagnostic(0x51)),
                b"\x42",
            )
        ),
    ),
]


@pytest.mark.parametrize(("hex_bytes", "frame"), VECTORS)
def test_vectors(hex_bytes: str, frame: LonFrame) -> None:
    raw = bytes.fromhex(hex_bytes)
    assert LonFrame.decode(raw, crc=False) == frame
    assert frame.encode(crc=False) == raw
    with_crc = raw + reference_crc(raw).to_bytes(2, "big")
    assert frame.encode() == with_crc
    assert LonFrame.decode(with_crc) == frame


def test_vector_properties() -> None:
    npdu = VECTORS[0][1].npdu
    assert npdu.pdu_format is PduFormat.TPDU
    assert npdu.address_format is AddressFormat.SUBNET_NODE
    assert VECTORS[3][1].npdu.address_format is AddressFormat.SUBNET_NODE
    assert VECTORS[4][1].npdu.address_format is AddressFormat.UNIQUE_ID
    assert VECTORS[9][1].npdu.enhanced and not npdu.enhanced


def test_member_list_helpers() -> None:
    assert member_list([0, 2, 15]) == b"\x05\x80"
    assert members_of(b"\x05\x80") == {0, 2, 15}
    assert member_list([]) == b""
    assert member_list([63]) == bytes(7) + b"\x80"
    with pytest.raises(EncodeError):
        member_list([256])


@given(st.sets(st.integers(0, 255)))
def test_member_list_round_trip(members: set[int]) -> None:
    assert members_of(member_list(members)) == members


@given(frames, st.booleans())
def test_frame_round_trip(frame: LonFrame, crc: bool) -> None:
    raw = frame.encode(crc=crc)
    decoded = LonFrame.decode(raw, crc=crc)
    assert decoded == frame
    assert decoded.encode(crc=crc) == raw
    if crc:
        assert crc16(raw[:-2]) == int.from_bytes(raw[-2:], "big")


@given(npdus)
def test_npdu_round_trip(npdu: Npdu) -> None:
    raw = npdu.encode()
    assert Npdu.decode(raw) == npdu
    assert raw[0] >> 6 == npdu.version
    assert raw[0] >> 4 & 3 == npdu.pdu_format
    assert raw[0] >> 2 & 3 == npdu.address_format


@given(addresses, domains)
def test_every_address_format_and_domain_length(address: object, domain: bytes) -> None:
    npdu = Npdu(7, 100, address, ApplicationMessage(1), domain)  # type: ignore[arg-type]
    raw = npdu.encode()
    assert raw[0] & 3 == [0, 1, 3, 6].index(len(domain))
    assert Npdu.decode(raw) == npdu


@given(st.one_of(tpdus(st.integers(0, 15)), spdus(st.integers(0, 15)), auth_pdus(st.integers(0, 15))))
def test_transport_layers_round_trip(pdu: Tpdu | Spdu | AuthPdu) -> None:
    raw = pdu.encode()
    assert type(pdu).decode(raw) == pdu


@given(
    st.one_of(tpdus(st.integers(0, 0xFFF)), spdus(st.integers(0, 0xFFF)), auth_pdus(st.integers(0, 0xFFF)))
)
def test_transport_layers_round_trip_enhanced(pdu: Tpdu | Spdu | AuthPdu) -> None:
    raw = pdu.encode(enhanced=True)
    assert type(pdu).decode(raw, enhanced=True) == pdu
    assert (raw[0] & 0x0F) << 8 | raw[1] == pdu.transaction_number


@given(apdus)
def test_apdu_round_trip(apdu: object) -> None:
    raw = encode_apdu(apdu)  # type: ignore[arg-type]
    assert decode_apdu(raw) == apdu
    assert type(apdu).decode(raw) == apdu


@settings(max_examples=500)
@given(st.binary(max_size=64))
@example(b"")
@example(b"\x00\x30\x01\x05\x00")
def test_any_bytes_decode_exactly_or_fail_cleanly(data: bytes) -> None:
    try:
        frame = LonFrame.decode(data, crc=False)
    except DecodeError as exc:
        assert 0 <= exc.offset <= len(data)
    else:
        assert frame.encode(crc=False) == data


@settings(max_examples=300)
@given(st.binary(max_size=64))
def test_any_bytes_with_crc(data: bytes) -> None:
    framed = data + reference_crc(data).to_bytes(2, "big")
    try:
        frame = LonFrame.decode(framed)
    except DecodeError as exc:
        assert 0 <= exc.offset <= len(data)
    else:
        assert frame.encode() == framed
    with pytest.raises(DecodeError):
        LonFrame.decode(data + ((reference_crc(data) ^ 1).to_bytes(2, "big")))


@given(frames)
def test_truncation(frame: LonFrame) -> None:
    raw = frame.encode()
    for cut in range(len(raw)):
        prefix = raw[:cut]
        try:
            decoded = LonFrame.decode(prefix)
        except DecodeError as exc:
            assert 0 <= exc.offset <= cut
        else:  # a prefix that happens to end with a valid CRC must still round-trip exactly
            assert decoded.encode() == prefix


@pytest.mark.parametrize(
    ("hex_bytes", "offset"),
    [
        ("", 0),  # no PPDU byte
        ("00", 1),  # no NPDU header
        ("00 09 01 85 02", 5),  # 2a without destination node
        ("00 09 01 05 02 89 20", 7),  # 2b without group member
        ("00 0f 01 85 02 0102", 5),  # format 3, short Neuron ID
        ("00 0b 01 85 02 89 4142", 6),  # 6-byte domain cut short
        ("00 09 01 85 02 89 42", 7),  # no TPDU
        ("00 09 01 85 02 89 42 03", 8),  # ACKD without APDU
        ("00 09 01 85 02 89 42 41 02 05", 9),  # M_List shorter than its length
        ("00 89 01 85 02 89 42 0a", 8),  # enhanced transaction without its low byte
        ("00 29 01 85 02 89 42 a4 f0f1", 8),  # AuthPDU body cut
        ("00 29 01 05 02 89 07 03 42 45 0001020304050607", 18),  # group AuthPDU without group
        ("00 30 01 85 00 85", 6),  # NV APDU without selector low byte
    ],
)
def test_truncated_frames_report_offsets(hex_bytes: str, offset: int) -> None:
    with pytest.raises(DecodeError) as info:
        LonFrame.decode(bytes.fromhex(hex_bytes), crc=False)
    assert info.value.offset == offset


@pytest.mark.parametrize(
    ("hex_bytes", "offset"),
    [
        ("00 09 01 85 02 89 42 33 10", 7),  # TPDU type 3
        ("00 19 01 85 02 89 42 13 10", 7),  # SPDU type 1
        ("00 19 01 85 02 89 42 63 10", 7),  # SPDU type 6
        ("00 09 01 85 02 89 42 27 00", 8),  # ACK with trailing byte
        ("00 19 01 85 02 89 42 41 00 ff", 9),  # SPDU REMINDER with trailing byte
        ("00 29 01 85 02 89 42 a4 f0f1f2f3f4f5f6f7 00", 16),  # AuthPDU with trailing byte
    ],
)
def test_invalid_frames(hex_bytes: str, offset: int) -> None:
    with pytest.raises(DecodeError) as info:
        LonFrame.decode(bytes.fromhex(hex_bytes), crc=False)
    assert info.value.offset == offset


def test_offsets_are_absolute_in_embedding_buffer() -> None:
    raw = bytes.fromhex("00 09 01 85 02 89 42 33 10")
    buf = b"\xaa" * 5 + raw + b"\xbb" * 3
    with pytest.raises(DecodeError) as info:
        LonFrame.decode_from(buf, 5, 5 + len(raw), crc=False)
    assert info.value.offset == 5 + 7
    good = VECTORS[0][1].encode()
    buf = b"\xaa" * 3 + good + b"\xbb"
    assert LonFrame.decode_from(buf, 3, 3 + len(good)) == VECTORS[0][1]
    corrupted = b"\xaa" * 3 + good[:-1] + bytes((good[-1] ^ 0xFF,))
    with pytest.raises(DecodeError) as info:
        LonFrame.decode_from(corrupted, 3)
    assert info.value.offset == 3 + len(good) - 2
    with pytest.raises(DecodeError):
        LonFrame.decode_from(good, 5, 2)


def test_memoryview_and_bytearray_inputs() -> None:
    raw = VECTORS[4][1].encode()
    assert LonFrame.decode(bytearray(raw)) == LonFrame.decode(memoryview(raw)) == VECTORS[4][1]


def _npdu(**changes: object) -> Npdu:
    base = dict(
        source_subnet=1,
        source_node=5,
        destination=SubnetNodeAddress(2, 9),
        pdu=Tpdu(TpduType.ACKD, 3, ApplicationMessage(0x10)),
        domain_id=b"\x42",
        version=0,
    )
    base.update(changes)
    return Npdu(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "npdu",
    [
        _npdu(source_node=128),
        _npdu(source_subnet=256),
        _npdu(domain_id=b"\x01\x02"),
        _npdu(version=4),
        _npdu(destination=SubnetNodeAddress(2, 128)),
        _npdu(destination=UniqueIdAddress(0, b"\x01")),
        _npdu(destination=MulticastAckAddress(1, 2, 3, 256)),
        _npdu(destination="2a"),
        _npdu(pdu=Tpdu(TpduType.ACKD, 16, ApplicationMessage(0x10))),
        _npdu(pdu=Tpdu(TpduType.ACKD, 3)),
        _npdu(pdu=Tpdu(TpduType.ACK, 3, ApplicationMessage(0x10))),
        _npdu(pdu=Tpdu(TpduType.REMINDER, 3)),
        _npdu(pdu=Tpdu(TpduType.ACKD, 3, ApplicationMessage(0x10), m_list=b"\x01")),
        _npdu(pdu=Tpdu(TpduType.REM_MSG, 3, ApplicationMessage(0x10), m_list=bytes(256))),
        _npdu(pdu=Tpdu(3, 3, ApplicationMessage(0x10))),  # type: ignore[arg-type]
        _npdu(pdu=Spdu(SpduType.RESPONSE, 3)),
        _npdu(pdu=Spdu(SpduType.REQUEST, 3, "apdu")),  # type: ignore[arg-type]
        _npdu(pdu=AuthPdu(AuthPduType.CHALLENGE, 3, AddressFormat.GROUP, bytes(8))),
        _npdu(pdu=AuthPdu(AuthPduType.CHALLENGE, 3, AddressFormat.SUBNET_NODE, bytes(8), 4)),
        _npdu(pdu=AuthPdu(AuthPduType.CHALLENGE, 3, AddressFormat.SUBNET_NODE, bytes(7))),
        _npdu(pdu=ApplicationMessage(0x40)),
        _npdu(pdu=ForeignFrame(0x50)),
        _npdu(pdu=NetworkDiagnostic(0x60)),
        _npdu(pdu=NetworkManagement(0x80)),
        _npdu(pdu=NetworkVariable(0x4000)),
        _npdu(pdu=NetworkVariable(1, 2)),  # type: ignore[arg-type]
        _npdu(pdu=b"\x10"),
    ],
)
def test_encode_errors(npdu: Npdu) -> None:
    with pytest.raises(EncodeError):
        npdu.encode()


def test_frame_encode_errors() -> None:
    with pytest.raises(EncodeError):
        LonFrame(_npdu(), delta_backlog=64).encode()
    with pytest.raises(EncodeError):
        _npdu(version=2, pdu=Tpdu(TpduType.ACKD, 0x1000, ApplicationMessage(0x10))).encode()


@pytest.mark.parametrize(
    ("cls", "raw"),
    [
        (ApplicationMessage, b"\x40"),
        (ForeignFrame, b"\x3f"),
        (NetworkDiagnostic, b"\x60"),
        (NetworkManagement, b"\x5f"),
        (NetworkVariable, b"\x10"),
        (NetworkManagement, b""),
    ],
)
def test_apdu_class_rejects_other_ranges(cls: Any, raw: bytes) -> None:
    with pytest.raises(DecodeError):
        cls.decode(raw)


def test_nm_response_decodes_as_application_message() -> None:
    # 0x21 (query ID success) lives in the application-message range; reading it needs the request.
    assert decode_apdu(b"\x21" + NID + PID) == ApplicationMessage(0x21, NID + PID)
