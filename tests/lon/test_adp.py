"""ADP PDU codec (decision 0012): hand-written vectors from the documented layout, round trips,
truncation, fuzzing and the security-suite hook."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from cosemnet.errors import DecodeError, EncodeError
from cosemnet.profiles.lon.adp import (
    AbortReason,
    AdpAbort,
    AdpData,
    AdpDirection,
    AdpKind,
    AdpPdu,
    AdpSecurityError,
    AdpSegmentAck,
    NullSecuritySuite,
    Segmentation,
    decode_adp_pdu,
    decode_adp_pdu_from,
    encode_adp_pdu,
    header_length,
    protect_pdu,
    unprotect_payload,
)

C2S = AdpDirection.CLIENT_TO_SERVER
S2C = AdpDirection.SERVER_TO_CLIENT
GET = bytes.fromhex("C001C1000100002B0100FF0200")  # GET-request-normal (spec-notes section 1)

# (wire bytes written by hand from the layout in adp.py / decision 0012, expected object)
VECTORS: list[tuple[str, AdpPdu]] = [
    # unsegmented DATA, public client 0x10 -> management logical device 1
    ("00 10 01" + GET.hex(), AdpData(C2S, 0x10, 0x01, GET)),
    # first segment, server -> client: 0x20 (seg 01) | 0x10 (D); message 7, total 500
    ("30 10 01 07 01F4 AABB", AdpData(S2C, 0x10, 0x01, b"\xaa\xbb", Segmentation.FIRST, 7, 500)),
    # middle segment 2 with ack request: 0x40 | 0x08
    ("48 01 01 07 02 CC", AdpData(C2S, 1, 1, b"\xcc", Segmentation.MIDDLE, 7, None, 2, True)),
    # last segment 3, protected (0x80 | 0x60), suite 0
    (
        "E0 01 01 07 03 00 DDEE",
        AdpData(C2S, 1, 1, b"\xdd\xee", Segmentation.LAST, 7, None, 3, False, 0),
    ),
    # protected unsegmented, suite 1, opaque suite bytes
    ("80 20 7F 01 0102030405", AdpData(C2S, 0x20, 0x7F, bytes.fromhex("0102030405"), security_suite_id=1)),
    # SEGMENT_ACK of segment 3, message 7 (transfer direction client -> server)
    ("01 10 01 07 03", AdpSegmentAck(C2S, 0x10, 0x01, 7, 3)),
    ("11 10 01 FF 00", AdpSegmentAck(S2C, 0x10, 0x01, 255, 0)),
    # ABORT, reason 1 (reassembly timeout)
    ("02 10 01 07 01", AdpAbort(C2S, 0x10, 0x01, 7, AbortReason.REASSEMBLY_TIMEOUT)),
    # protected ABORT (0x82 | 0x10), reason 6, suite 1, 4-byte tag
    (
        "92 01 01 09 06 01 DEADBEEF",
        AdpAbort(S2C, 1, 1, 9, AbortReason.LOWER_LAYER_FAILURE, 1, b"\xde\xad\xbe\xef"),
    ),
]


@pytest.mark.parametrize(("hex_bytes", "expected"), VECTORS)
def test_vectors(hex_bytes: str, expected: AdpPdu) -> None:
    wire = bytes.fromhex(hex_bytes)
    assert decode_adp_pdu(wire) == expected
    assert expected.encode() == wire
    assert encode_adp_pdu(expected) == wire
    assert type(expected).decode(wire) == expected
    assert len(expected.encode_header()) == header_length(
        expected.KIND,
        expected.segmentation if isinstance(expected, AdpData) else Segmentation.UNSEGMENTED,
        expected.protected,
    )


@pytest.mark.parametrize(("hex_bytes", "expected"), VECTORS)
def test_truncation_and_offsets(hex_bytes: str, expected: AdpPdu) -> None:
    wire = bytes.fromhex(hex_bytes)
    header = len(expected.encode_header())
    for cut in range(header):
        with pytest.raises(DecodeError) as info:
            decode_adp_pdu(wire[:cut])
        assert cut - 1 <= info.value.offset <= cut  # at the field that is cut (total_length is 2 bytes)
    # decode_from reports absolute offsets into the outer buffer
    prefix = b"\x99\x98\x97"
    pdu, end = decode_adp_pdu_from(prefix + wire, len(prefix))
    assert pdu == expected and end == len(prefix) + len(wire)
    if header > 1:
        with pytest.raises(DecodeError) as info:
            decode_adp_pdu_from(prefix + wire[: header - 1], len(prefix))
        assert len(prefix) + header - 2 <= info.value.offset <= len(prefix) + header - 1


def test_decode_wrong_class() -> None:
    wire = AdpSegmentAck(C2S, 1, 1, 2, 3).encode()
    with pytest.raises(DecodeError):
        AdpData.decode(wire)
    with pytest.raises(DecodeError):
        AdpAbort.decode(wire)
    with pytest.raises(DecodeError):
        AdpSegmentAck.decode(AdpData(C2S, 1, 1, b"x").encode())
    with pytest.raises(DecodeError):
        AdpSegmentAck.decode_from(b"\x00" + AdpData(C2S, 1, 1, b"x").encode(), 1)


@pytest.mark.parametrize(
    ("hex_bytes", "offset"),
    [
        ("03 10 01 07 00", 0),  # reserved kind 3
        ("07 10 01", 0),  # reserved kind 7
        ("08 10 01 C0", 0),  # ack request on an unsegmented PDU
        ("21 10 01 07 03", 0),  # segmentation bits on a SEGMENT_ACK
        ("0A 10 01 07 01", 0),  # ack bit on an ABORT
        ("40 10 01 07 00 AA", 4),  # middle segment number 0
        ("60 10 01 07 00 AA", 4),  # last segment number 0
        ("02 10 01 07 0A", 4),  # unknown abort reason
        ("01 10 01 07 03 AA", 5),  # payload after an unprotected SEGMENT_ACK
        ("02 10 01 07 01 AA", 5),  # payload after an unprotected ABORT
    ],
)
def test_rejects(hex_bytes: str, offset: int) -> None:
    with pytest.raises(DecodeError) as info:
        decode_adp_pdu(bytes.fromhex(hex_bytes))
    assert info.value.offset == offset


def test_decode_from_bad_offset() -> None:
    with pytest.raises(DecodeError):
        decode_adp_pdu_from(b"\x00\x01\x01", 4)
    with pytest.raises(DecodeError):
        decode_adp_pdu_from(b"\x00\x01\x01", -1)


@pytest.mark.parametrize(
    "pdu",
    [
        AdpData(C2S, 1, 1, b"x", Segmentation.FIRST, None, 10),  # no message_id
        AdpData(C2S, 1, 1, b"x", Segmentation.FIRST, 1, None),  # no total_length
        AdpData(C2S, 1, 1, b"x", Segmentation.MIDDLE, 1, None, None),  # no segment_number
        AdpData(C2S, 1, 1, b"x", Segmentation.MIDDLE, 1, None, 0),  # number 0
        AdpData(C2S, 1, 1, b"x", Segmentation.LAST, 1, 5, 2),  # total_length on a last segment
        AdpData(C2S, 1, 1, b"x", message_id=3),  # message_id on an unsegmented PDU
        AdpData(C2S, 1, 1, b"x", ack_request=True),  # ack request, unsegmented
        AdpData(C2S, 256, 1, b"x"),
        AdpData(C2S, 1, -1, b"x"),
        AdpData(C2S, 1, 1, b"x", Segmentation.FIRST, 1, 0x10000),
        AdpData(C2S, 1, 1, b"x", security_suite_id=256),
        AdpData(C2S, 1, 1, "text"),  # type: ignore[arg-type]
        AdpSegmentAck(C2S, 1, 1, 256, 0),
        AdpSegmentAck(C2S, 1, 1, 1, 0, None, b"tag"),  # payload while unprotected
        AdpAbort(C2S, 1, 1, 1, 99),  # type: ignore[arg-type]
        AdpAbort(C2S, 1, 1, 1, AbortReason.UNSPECIFIED, None, b"tag"),
    ],
)
def test_encode_errors(pdu: AdpPdu) -> None:
    with pytest.raises(EncodeError):
        pdu.encode()


def test_encode_adp_pdu_refuses_other_types() -> None:
    with pytest.raises(EncodeError):
        encode_adp_pdu(b"\x00")  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------------
# Property tests

saps = st.integers(0, 255)
u8 = st.integers(0, 255)
directions = st.sampled_from(AdpDirection)
suite_ids = st.none() | u8


@st.composite
def data_pdus(draw: st.DrawFn) -> AdpData:
    seg = draw(st.sampled_from(Segmentation))
    segmented = seg != Segmentation.UNSEGMENTED
    return AdpData(
        draw(directions),
        draw(saps),
        draw(saps),
        draw(st.binary(max_size=40)),
        seg,
        draw(u8) if segmented else None,
        draw(st.integers(0, 0xFFFF)) if seg == Segmentation.FIRST else None,
        draw(st.integers(1, 255)) if seg in (Segmentation.MIDDLE, Segmentation.LAST) else None,
        draw(st.booleans()) if segmented else False,
        draw(suite_ids),
    )


@st.composite
def control_pdus(draw: st.DrawFn) -> AdpPdu:
    suite = draw(suite_ids)
    payload = draw(st.binary(max_size=16)) if suite is not None else b""
    if draw(st.booleans()):
        return AdpSegmentAck(draw(directions), draw(saps), draw(saps), draw(u8), draw(u8), suite, payload)
    return AdpAbort(
        draw(directions), draw(saps), draw(saps), draw(u8), draw(st.sampled_from(AbortReason)), suite, payload
    )


pdus = st.one_of(data_pdus(), control_pdus())


@given(pdus)
@settings(max_examples=300)
def test_round_trip(pdu: AdpPdu) -> None:
    wire = pdu.encode()
    assert decode_adp_pdu(wire) == pdu
    assert decode_adp_pdu(bytearray(wire)) == pdu
    assert decode_adp_pdu(memoryview(wire)) == pdu
    assert wire.startswith(pdu.encode_header())


@given(st.binary(max_size=24))
@settings(max_examples=500)
@example(b"")
@example(b"\xff\xff\xff\xff\xff\xff")
def test_fuzz_decode_only_raises_decode_error(data: bytes) -> None:
    try:
        pdu = decode_adp_pdu(data)
    except DecodeError as exc:
        assert 0 <= exc.offset <= len(data)
        return
    assert pdu.encode() == data  # exact round trip for every accepted input


@given(pdus)
def test_control_byte_layout(pdu: AdpPdu) -> None:
    control = pdu.encode()[0]
    assert bool(control & 0x80) == pdu.protected
    assert (control >> 4) & 1 == pdu.direction
    assert control & 0x07 == pdu.KIND
    if isinstance(pdu, AdpData):
        assert (control >> 5) & 3 == pdu.segmentation
        assert bool(control & 0x08) == pdu.ack_request
    else:
        assert control & 0x68 == 0
    assert pdu.KIND in AdpKind


# --------------------------------------------------------------------------------------------------
# Security suite hook


class MacSuite:
    """A keyed test suite: 2-byte counter header + payload + 8-byte HMAC over header||counter||payload."""

    def __init__(self, key: bytes, suite_id: int = 7) -> None:
        self._key = key
        self._id = suite_id
        self.counter = 0

    @property
    def suite_id(self) -> int:
        return self._id

    @property
    def overhead(self) -> int:
        return 10

    def protect(self, pdu_header: bytes, payload: bytes) -> bytes:
        self.counter += 1
        body = self.counter.to_bytes(2, "big") + payload
        return body + hmac.new(self._key, pdu_header + body, hashlib.sha256).digest()[:8]

    def unprotect(self, pdu_header: bytes, protected: bytes) -> bytes:
        if len(protected) < 10:
            raise AdpSecurityError("too short for the tag", 0, "tag")
        body, tag = protected[:-8], protected[-8:]
        if not hmac.compare_digest(tag, hmac.new(self._key, pdu_header + body, hashlib.sha256).digest()[:8]):
            raise AdpSecurityError("bad tag", 0, "valid tag")
        return body[2:]


def test_null_suite() -> None:
    suite = NullSecuritySuite()
    pdu = protect_pdu(AdpData(C2S, 1, 1), suite, GET)
    assert pdu.security_suite_id == 0 and pdu.payload == GET
    wire = pdu.encode()
    assert wire[:4] == bytes((0x80, 1, 1, 0))
    assert unprotect_payload(decode_adp_pdu(wire), suite) == GET


def test_suite_authenticates_header_and_payload() -> None:
    suite = MacSuite(b"k" * 16)
    pdu = protect_pdu(AdpData(C2S, 1, 1, b"", Segmentation.FIRST, 3, 400), suite, b"segment")
    wire = pdu.encode()
    assert (
        len(wire) == header_length(AdpKind.DATA, Segmentation.FIRST, True) + len(b"segment") + suite.overhead
    )
    assert unprotect_payload(decode_adp_pdu(wire), suite) == b"segment"
    for i in range(len(wire)):
        tampered = bytearray(wire)
        tampered[i] ^= 0x01
        try:
            pdu2 = decode_adp_pdu(bytes(tampered))
        except DecodeError:
            continue  # the flipped bit made the header invalid
        with pytest.raises(AdpSecurityError):  # wrong suite id, or the tag no longer matches
            unprotect_payload(pdu2, suite)


def test_unprotect_refuses_unprotected_or_other_suite() -> None:
    with pytest.raises(AdpSecurityError):
        unprotect_payload(AdpData(C2S, 1, 1, b"x"), NullSecuritySuite())
    with pytest.raises(AdpSecurityError):
        unprotect_payload(AdpData(C2S, 1, 1, b"x", security_suite_id=5), NullSecuritySuite())


def test_protected_control_pdus() -> None:
    suite = MacSuite(b"\x01" * 16)
    ack = protect_pdu(AdpSegmentAck(S2C, 16, 1, 4, 2), suite, b"")
    wire = ack.encode()
    assert wire[0] == 0x91 and wire[5] == 7
    assert unprotect_payload(decode_adp_pdu(wire), suite) == b""
