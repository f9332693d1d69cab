"""IEC 62056-4-7 wrapper: header/frame codec and the sans-IO TCP stream splitter."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cosemnet.codec.wrapper import (
    DLMS_PORT,
    HEADER_SIZE,
    WPORT_ALL_STATION,
    WPORT_MANAGEMENT_CLIENT,
    WPORT_MANAGEMENT_LOGICAL_DEVICE,
    WPORT_NO_STATION,
    WPORT_PUBLIC_CLIENT,
    WrapperFrame,
    WrapperHeader,
    WrapperStream,
)
from cosemnet.errors import DecodeError, EncodeError

GET = bytes.fromhex("C001C1000100002B0100FF0200")
# First bytes of the published UDP datagram of a gas meter (spec-notes 1): version 0001, source wPort 0001,
# destination wPort 0001, length 0x0046 = 70, then a general-glo-ciphering data-notification (DB 08 ...).
GAS_METER_DATAGRAM_START = bytes.fromhex("0001000100010046DB082F192291991641033B30000001E5")

frames = st.builds(WrapperFrame, st.integers(0, 0xFFFF), st.integers(0, 0xFFFF), st.binary(max_size=300))


def test_constants() -> None:
    assert DLMS_PORT == 4059
    assert HEADER_SIZE == 8
    assert (WPORT_NO_STATION, WPORT_MANAGEMENT_CLIENT, WPORT_PUBLIC_CLIENT) == (0, 1, 16)
    assert (WPORT_MANAGEMENT_LOGICAL_DEVICE, WPORT_ALL_STATION) == (1, 127)


def test_gas_meter_datagram_header() -> None:
    header = WrapperHeader.decode(GAS_METER_DATAGRAM_START[:8])
    assert header == WrapperHeader(1, 1, 1, 0x46)
    assert header.encode() == GAS_METER_DATAGRAM_START[:8]
    # the APDU starts right after the header; the excerpt holds only part of the 70 bytes
    assert GAS_METER_DATAGRAM_START[8] == 0xDB
    with pytest.raises(DecodeError):
        WrapperFrame.decode(GAS_METER_DATAGRAM_START)
    stream = WrapperStream()
    assert stream.feed(GAS_METER_DATAGRAM_START) == []
    assert stream.pending == len(GAS_METER_DATAGRAM_START)


def test_frame_vector() -> None:
    # 0001 version | 0010 public client | 0001 management logical device | 000D 13 bytes | GET request
    raw = bytes.fromhex("00010010000100 0D".replace(" ", "")) + GET
    frame = WrapperFrame(WPORT_PUBLIC_CLIENT, WPORT_MANAGEMENT_LOGICAL_DEVICE, GET)
    assert frame.encode() == raw
    assert WrapperFrame.decode(raw) == frame
    assert frame.header == WrapperHeader(1, 16, 1, 13)


@settings(max_examples=200, deadline=None)
@given(frames)
def test_frame_round_trip(frame: WrapperFrame) -> None:
    raw = frame.encode()
    assert len(raw) == HEADER_SIZE + len(frame.apdu)
    assert WrapperFrame.decode(raw) == frame
    assert WrapperFrame.decode(memoryview(raw)) == frame
    assert WrapperFrame.decode(raw).encode() == raw


def test_bad_version() -> None:
    raw = bytearray(WrapperFrame(1, 1, GET).encode())
    raw[1] = 2
    with pytest.raises(DecodeError) as info:
        WrapperFrame.decode(bytes(raw))
    assert info.value.offset == 0
    with pytest.raises(DecodeError):
        WrapperHeader.decode(bytes(raw[:8]))
    with pytest.raises(EncodeError):
        WrapperHeader(2, 1, 1, 0).encode()


def test_length_must_match() -> None:
    raw = WrapperFrame(1, 1, GET).encode()
    with pytest.raises(DecodeError):
        WrapperFrame.decode(raw + b"\x00")
    for cut in range(len(raw)):
        with pytest.raises(DecodeError):
            WrapperFrame.decode(raw[:cut])
    with pytest.raises(DecodeError):
        WrapperHeader.decode(raw[:9])


def test_encode_limits() -> None:
    with pytest.raises(EncodeError):
        WrapperFrame(1, 1, bytes(0x10000)).encode()
    with pytest.raises(EncodeError):
        WrapperFrame(0x10000, 1, b"").encode()
    with pytest.raises(EncodeError):
        WrapperFrame(1, -1, b"").encode()
    assert len(WrapperFrame(1, 1, bytes(0xFFFF)).encode()) == 0xFFFF + 8


@settings(max_examples=200, deadline=None)
@given(st.lists(frames, max_size=6), st.data())
def test_stream_splits_arbitrary_chunks(sent: list[WrapperFrame], data: st.DataObject) -> None:
    wire = b"".join(f.encode() for f in sent)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=10)))
    stream = WrapperStream()
    received: list[WrapperFrame] = []
    start = 0
    for cut in [*cuts, len(wire)]:
        received += stream.feed(wire[start:cut])
        start = cut
    assert received == sent
    assert stream.pending == 0


def test_stream_byte_by_byte() -> None:
    wire = WrapperFrame(16, 1, GET).encode() + WrapperFrame(16, 1, b"").encode()
    stream = WrapperStream()
    got = []
    for i in range(len(wire)):
        got += stream.feed(wire[i : i + 1])
    assert got == [WrapperFrame(16, 1, GET), WrapperFrame(16, 1, b"")]


def test_stream_max_apdu_length() -> None:
    stream = WrapperStream(max_apdu_length=13)
    assert stream.feed(WrapperFrame(1, 1, GET).encode()) == [WrapperFrame(1, 1, GET)]
    oversized = WrapperFrame(1, 1, bytes(14)).encode()
    # refused as soon as the header is complete, before any of the APDU is buffered
    with pytest.raises(DecodeError) as info:
        stream.feed(oversized[:8])
    assert info.value.offset == 21 + 6  # stream offset of the length field of the second frame
    assert stream.pending == 0
    # the stream stays failed: framing is lost
    with pytest.raises(DecodeError):
        stream.feed(WrapperFrame(1, 1, GET).encode())


def test_stream_bad_version_offset() -> None:
    stream = WrapperStream()
    good = WrapperFrame(1, 1, GET).encode()
    assert stream.feed(good) == [WrapperFrame(1, 1, GET)]
    with pytest.raises(DecodeError) as info:
        stream.feed(b"\x00\x02" + good[2:])
    assert info.value.offset == len(good)


def test_stream_never_buffers_more_than_one_frame() -> None:
    stream = WrapperStream(max_apdu_length=100)
    header = WrapperHeader(1, 1, 1, 100).encode()
    stream.feed(header + bytes(99))
    assert stream.pending == 107
    assert stream.feed(b"\x00") == [WrapperFrame(1, 1, bytes(100))]
    assert stream.pending == 0


def test_stream_rejects_bad_limit() -> None:
    with pytest.raises(ValueError):
        WrapperStream(max_apdu_length=0x10000)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=100))
def test_stream_random_bytes_only_decode_errors(raw: bytes) -> None:
    stream = WrapperStream(max_apdu_length=50)
    try:
        for frame in stream.feed(raw):
            assert len(frame.apdu) <= 50
    except DecodeError:
        pass
    assert stream.pending <= HEADER_SIZE + 50
