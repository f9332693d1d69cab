"""The A-XDR Data codec (cosemnet.codec.axdr): every type, length forms, the columnar fast path against
the generic path, malformed input, the nesting limit.

Tests marked ``xfail(strict=True)`` document known gaps of axdr.py reported to the lead; they start
failing (XPASS) the day the gap is closed.
"""

from __future__ import annotations

import contextlib
import gc
import struct
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cosemnet.codec import axdr
from cosemnet.codec.axdr import (
    MAX_DEPTH,
    decode_data,
    decode_data_exact,
    decode_length,
    encode_data,
    encode_length,
    length_bytes,
)
from cosemnet.codec.datetime import CosemDate, CosemDateTime, CosemTime
from cosemnet.codec.types import (
    DONT_CARE,
    Bcd,
    BitString,
    CompactArray,
    DeltaDoubleLongUnsigned,
    DeltaInteger,
    DeltaLong,
    DeltaLongUnsigned,
    DoubleLong,
    DoubleLongUnsigned,
    Enumerated,
    Float32,
    Integer,
    Long,
    Long64,
    Long64Unsigned,
    LongUnsigned,
    Tag,
    TypeDescription,
    Unsigned,
    Utf8String,
)
from cosemnet.errors import DecodeError, EncodeError
from strategies import compact_arrays, data_values, simple_data_values, typed_equal, uniform_rows


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


# ------------------------------------------------------------------------------------ known encodings

KNOWN: list[tuple[str, Any]] = [
    ("00", None),
    ("03 01", True),
    ("03 00", False),
    ("04 0A C040", BitString(h("C040"), 10)),
    ("05 FFFFFFFE", DoubleLong(-2)),
    ("06 00001391", DoubleLongUnsigned(0x1391)),
    ("09 03 414243", b"ABC"),
    ("09 00", b""),
    ("0A 02 41E9", "A\xe9"),
    ("0C 03 C3A941", Utf8String("\xe9A")),
    ("0D 42", Bcd(0x42)),
    ("0F 80", Integer(-128)),
    ("10 8000", Long(-32768)),
    ("11 FF", Unsigned(255)),
    ("12 FFFF", LongUnsigned(0xFFFF)),
    ("14 8000000000000000", Long64(-(2**63))),
    ("15 FFFFFFFFFFFFFFFF", Long64Unsigned(2**64 - 1)),
    ("16 03", Enumerated(3)),
    ("17 3F800000", Float32(1.0)),
    ("18 BFF0000000000000", -1.0),
    ("19 07E50118FF0E303950FFC400", CosemDateTime(2021, 1, 24, 0xFF, 14, 48, 57, 80, -60, 0)),
    ("1A 07E5011807", CosemDate(2021, 1, 24, 7)),
    ("1B 0E303950", CosemTime(14, 48, 57, 80)),
    ("1C 80", DeltaInteger(-128)),
    ("1D 7FFF", DeltaLong(0x7FFF)),
    ("20 0001", DeltaLongUnsigned(1)),
    ("21 00000002", DeltaDoubleLongUnsigned(2)),
    ("FF", DONT_CARE),
    ("02 02 11 01 0A 00", (Unsigned(1), "")),
    ("01 02 12 0001 12 0002", [LongUnsigned(1), LongUnsigned(2)]),
    ("01 00", []),
    ("02 00", ()),
    # compact-array: type description 02 02 {12, 11} (structure of long-unsigned, unsigned),
    # contents length 06, two untagged elements 0001 02 / 0003 04
    (
        "13 02 02 12 11 06 0001 02 0003 04",
        CompactArray(
            TypeDescription(
                Tag.STRUCTURE, (TypeDescription(Tag.LONG_UNSIGNED), TypeDescription(Tag.UNSIGNED))
            ),
            ((LongUnsigned(1), Unsigned(2)), (LongUnsigned(3), Unsigned(4))),
        ),
    ),
    # compact-array of arrays: 01 0002 11 = array of 2 unsigned; contents 04 bytes = two elements
    (
        "13 01 0002 11 04 0102 0304",
        CompactArray(
            TypeDescription(Tag.ARRAY, (TypeDescription(Tag.UNSIGNED),), 2),
            ([Unsigned(1), Unsigned(2)], [Unsigned(3), Unsigned(4)]),
        ),
    ),
]


@pytest.mark.parametrize(("hex_text", "value"), KNOWN, ids=[k for k, _ in KNOWN])
def test_known_encodings(hex_text: str, value: Any) -> None:
    raw = h(hex_text)
    assert encode_data(value) == raw
    assert typed_equal(decode_data_exact(raw), value)
    for cut in range(len(raw)):
        with pytest.raises(DecodeError):
            decode_data_exact(raw[:cut])


@pytest.mark.parametrize(
    ("value", "hex_text"),
    [
        (0, "06 00000000"),
        (2**32 - 1, "06 FFFFFFFF"),
        (-1, "05 FFFFFFFF"),
        (-(2**31), "05 80000000"),
        (2**32, "15 0000000100000000"),
        (-(2**31) - 1, "14 FFFFFFFF7FFFFFFF"),
    ],
)
def test_plain_int_default_types(value: int, hex_text: str) -> None:
    assert encode_data(value) == h(hex_text)


def test_unencodable_values() -> None:
    for value in (2**64, -(2**63) - 1, object(), {1: 2}, "\u20ac", [object()]):
        with pytest.raises(EncodeError):
            encode_data(value)  # type: ignore[arg-type]


def test_typed_ints_check_their_range() -> None:
    with pytest.raises(EncodeError):
        Unsigned(256)
    with pytest.raises(EncodeError):
        Integer(-129)


# ------------------------------------------------------------------------------------ round trips


@settings(max_examples=300, deadline=None)
@given(data_values())
def test_every_type_round_trips(value: Any) -> None:
    raw = encode_data(value)
    decoded = decode_data_exact(raw)
    assert typed_equal(decoded, value), (decoded, value)
    assert encode_data(decoded) == raw


@settings(max_examples=200, deadline=None)
@given(simple_data_values(), st.binary(max_size=5), st.binary(max_size=5))
def test_decode_at_an_offset(value: Any, before: bytes, after: bytes) -> None:
    raw = encode_data(value)
    decoded, end = decode_data(before + raw + after, len(before))
    assert typed_equal(decoded, value)
    assert end == len(before) + len(raw)
    decoded, end = decode_data(memoryview(before + raw), len(before))
    assert typed_equal(decoded, value)


@settings(max_examples=100, deadline=None)
@given(compact_arrays())
def test_compact_arrays_round_trip(value: CompactArray) -> None:
    raw = encode_data(value)
    assert raw[0] == 0x13
    assert typed_equal(decode_data_exact(raw), value)


def test_encode_data_into_appends() -> None:
    out = bytearray(b"\xaa")
    axdr.encode_data_into(out, LongUnsigned(1))
    assert out == h("AA 12 0001")


# ------------------------------------------------------------------------------------ length forms


@pytest.mark.parametrize(
    ("n", "hex_text"),
    [
        (0, "00"),
        (127, "7F"),
        (128, "8180"),
        (255, "81FF"),
        (256, "820100"),
        (65535, "82FFFF"),
        (65536, "83010000"),
        (2**24, "8401000000"),
        (2**32 - 1, "84FFFFFFFF"),
    ],
)
def test_length_forms(n: int, hex_text: str) -> None:
    raw = h(hex_text)
    assert length_bytes(n) == raw
    out = bytearray()
    encode_length(n, out)
    assert out == raw
    assert decode_length(raw + b"\x00", 0) == (n, len(raw))


def test_length_too_large() -> None:
    with pytest.raises(EncodeError):
        length_bytes(2**32)


@pytest.mark.parametrize("hex_text", ["", "80", "85 0000000001", "81", "82 01", "84 000000"])
def test_bad_length_fields(hex_text: str) -> None:
    with pytest.raises(DecodeError):
        decode_length(h(hex_text), 0)


@pytest.mark.parametrize("size", [127, 128, 200, 255, 256, 300, 70000])
def test_long_octet_strings(size: int) -> None:
    value = bytes(range(256)) * (size // 256) + bytes(size % 256)
    raw = encode_data(value)
    assert raw[1:].startswith(length_bytes(size))
    assert decode_data_exact(raw) == value


@pytest.mark.parametrize(
    "raw", ["09 8103 414243", "09 820003 414243", "09 8200FF" + "00" * 255, "01 8400000001 0F05"]
)
def test_non_minimal_lengths_are_rejected(raw: str) -> None:
    # A-XDR lengths are canonical; accepting other forms would break the exact round trip.
    with pytest.raises(DecodeError) as info:
        decode_data_exact(h(raw))
    assert info.value.offset == 1


@pytest.mark.xfail(strict=True, reason="axdr decodes any non-zero boolean byte as True and re-encodes 01")
def test_non_canonical_booleans_round_trip_exactly() -> None:
    raw = h("03 05")
    assert encode_data(decode_data_exact(raw)) == raw


@pytest.mark.xfail(
    strict=True, reason="float32 NaN payloads: struct 'f' quiets a signalling NaN on CPython 3.11"
)
def test_float32_signalling_nan_round_trips_exactly() -> None:
    raw = h("17 7F800001")
    assert encode_data(decode_data_exact(raw)) == raw


def test_float64_nan_payload_round_trips() -> None:
    raw = h("18 7FF0000000000001")
    assert encode_data(decode_data_exact(raw)) == raw


# ------------------------------------------------------------------------------------ columnar fast path


def _generic_array(rows: list[Any]) -> bytes:
    """The array encoded element by element (each element alone never takes the fast path)."""
    return b"\x01" + length_bytes(len(rows)) + b"".join(encode_data(row) for row in rows)


@settings(max_examples=150, deadline=None)
@given(uniform_rows())
def test_fast_path_matches_generic_path(rows: list[Any]) -> None:
    raw = encode_data(rows)
    assert raw == _generic_array(rows)
    decoded = decode_data_exact(raw)
    assert typed_equal(decoded, rows)
    # decoding each element on its own (generic path) gives the same values
    offset = len(raw) - sum(len(encode_data(r)) for r in rows)
    for row in rows:
        value, offset = decode_data(raw, offset)
        assert typed_equal(value, row)


@settings(max_examples=150, deadline=None)
@given(uniform_rows(), st.data())
def test_fast_path_falls_back_on_a_deviating_row(rows: list[Any], data: st.DataObject) -> None:
    odd = data.draw(simple_data_values())
    position = data.draw(st.integers(0, len(rows)))
    mixed = [*rows[:position], odd, *rows[position:]]
    raw = encode_data(mixed)
    assert raw == _generic_array(mixed)
    assert typed_equal(decode_data_exact(raw), mixed)


def test_fast_path_is_taken_for_a_profile_buffer(monkeypatch: pytest.MonkeyPatch) -> None:
    stamp = h("07E50118FF0E303950FFC400")
    rows = [(stamp, DoubleLongUnsigned(i), DoubleLongUnsigned(2 * i), LongUnsigned(i)) for i in range(100)]
    calls: list[object] = []
    decode_rows, encode_rows = axdr._decode_rows, axdr._encode_rows

    def spy_decode(*args: Any) -> Any:
        result = decode_rows(*args)
        calls.append(result is not None)
        return result

    def spy_encode(*args: Any) -> Any:
        result = encode_rows(*args)
        calls.append(result)
        return result

    monkeypatch.setattr(axdr, "_decode_rows", spy_decode)
    monkeypatch.setattr(axdr, "_encode_rows", spy_encode)
    raw = encode_data(rows)
    assert typed_equal(decode_data_exact(raw), rows)
    assert calls == [True, True]
    assert raw == _generic_array(rows)


def test_fast_path_rejects_what_the_generic_path_rejects() -> None:
    row = h("02 02 19 07E50118FF0E303950FFC400 11 01")
    bad = h("02 02 19 07E50D18FF0E303950FFC400 11 01")  # month 13 in the 5th row
    raw = h("01 08") + row * 4 + bad + row * 3
    with pytest.raises(DecodeError) as info:
        decode_data_exact(raw)
    assert info.value.offset == 2 + 4 * len(row) + 3  # the date-time of the 5th row
    truncated = (h("01 08") + row * 8)[:-1]
    with pytest.raises(DecodeError):
        decode_data_exact(truncated)


def _profile_rows(count: int, compressed_every: int = 0) -> list[Any]:
    """Profile rows (date-time octet-string, two registers); with ``compressed_every`` = k, only every
    k-th row carries its date-time and the others have null-data (the Blue Book's compressed clock)."""
    stamp = h("07E50118FF0E303950FFC400")
    return [
        (
            None if compressed_every and i % compressed_every else stamp,
            DoubleLongUnsigned(1000 + i),
            LongUnsigned(i % 65536),
        )
        for i in range(count)
    ]


def _spy_runs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Record how many elements each columnar run decoded."""
    runs: list[int] = []
    decode_run = axdr._decode_run

    def spy(*args: Any) -> Any:
        result = decode_run(*args)
        runs.append(0 if result is None else len(result[0]))
        return result

    monkeypatch.setattr(axdr, "_decode_run", spy)
    return runs


def test_compressed_clock_rows_take_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    rows = _profile_rows(1000, compressed_every=1000)  # first row with its date-time, then null-data
    raw = _generic_array(rows)
    runs = _spy_runs(monkeypatch)
    decoded = decode_data_exact(raw)
    assert typed_equal(decoded, rows)
    assert decoded[1][0] is None and decoded[0][0] == rows[0][0]
    assert runs == [1, 999]  # two columnar runs, no element through the generic path


def test_layout_changes_start_new_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    rows = _profile_rows(300, compressed_every=96)  # a date-time at the start of every day
    raw = _generic_array(rows)
    runs = _spy_runs(monkeypatch)
    assert typed_equal(decode_data_exact(raw), rows)
    assert runs == [1, 95, 1, 95, 1, 95, 1, 11]


def test_alternating_layouts_hand_over_to_the_generic_path(monkeypatch: pytest.MonkeyPatch) -> None:
    rows = _profile_rows(64, compressed_every=2)  # runs of one element: not worth the columnar path
    raw = _generic_array(rows)
    runs = _spy_runs(monkeypatch)
    assert typed_equal(decode_data_exact(raw), rows)
    assert len(runs) == 2 + 64 // 8  # the run budget, then the generic path decodes the rest


def test_error_in_a_later_run_is_reported_at_its_offset() -> None:
    good = h("02 02 09 0C 07E50118FF0E303950FFC400 11 01")
    typed = h("02 02 19 07E50118FF0E303950FFC400 11 01")
    bad = h("02 02 19 07E50D18FF0E303950FFC400 11 01")  # month 13
    raw = h("01 14") + good * 10 + typed * 5 + bad + typed * 4
    with pytest.raises(DecodeError) as info:
        decode_data_exact(raw)
    assert info.value.offset == 2 + 10 * len(good) + 5 * len(typed) + 3
    ok = h("01 14") + good * 10 + typed * 10
    decoded = decode_data_exact(ok)
    assert isinstance(decoded, list) and len(decoded) == 20
    assert decoded[9][0] == h("07E50118FF0E303950FFC400")
    assert decoded[10][0] == CosemDateTime(2021, 1, 24, 0xFF, 14, 48, 57, 80, -60, 0)


@pytest.mark.parametrize("enabled", [True, False])
def test_bulk_decode_restores_the_garbage_collector(enabled: bool) -> None:
    raw = _generic_array(_profile_rows(2000, compressed_every=7))
    was = gc.isenabled()
    try:
        (gc.enable if enabled else gc.disable)()
        decode_data_exact(raw)
        assert gc.isenabled() is enabled
        with pytest.raises(DecodeError):
            decode_data_exact(raw[:-1])
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()


# ------------------------------------------------------------------------------------ malformed input


@pytest.mark.parametrize(
    ("hex_text", "offset"),
    [
        ("07", 0),  # tag 7 is not a Data type
        ("0E 00", 0),
        ("22", 0),
        ("02 02 11 01 07", 4),  # unknown tag inside a structure: absolute offset
        ("02 05 11 01", 0),  # structure of 5 elements in 2 bytes
        ("01 84FFFFFFFF 00", 0),  # array of 2**32-1 elements
        ("09 05 4142", 0),  # octet-string longer than the input
        ("0C 02 C328", 2),  # invalid UTF-8 at its byte
        ("19 07E50D18FF0E303950FFC400", 1),  # month 13
        ("1B 18000000", 1),  # hour 24
        ("04 11 FF", 0),  # bit-string of 17 bits in 1 byte
        ("13 00 01 00", 2),  # compact-array of null-data with contents (at its length)
        ("13 13 00", 1),  # compact-array inside a compact-array type description
        ("13 02 01 11 05 01", 4),  # contents longer than the input
    ],
)
def test_malformed(hex_text: str, offset: int) -> None:
    with pytest.raises(DecodeError) as info:
        decode_data_exact(h(hex_text))
    assert info.value.offset == offset, info.value


def test_trailing_bytes() -> None:
    with pytest.raises(DecodeError) as info:
        decode_data_exact(h("11 01 00"))
    assert info.value.offset == 2


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=60))
def test_random_bytes_only_decode_errors(raw: bytes) -> None:
    try:
        value = decode_data_exact(raw)
    except DecodeError as exc:
        assert 0 <= exc.offset <= len(raw)
        return
    encode_data(value)  # whatever decodes can be encoded


@settings(max_examples=300, deadline=None)
@given(data_values(), st.data())
def test_mutated_encodings_only_decode_errors(value: Any, data: st.DataObject) -> None:
    raw = bytearray(encode_data(value))
    for _ in range(data.draw(st.integers(1, 3))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    with contextlib.suppress(DecodeError):
        decode_data_exact(bytes(raw))


# ------------------------------------------------------------------------------------ nesting limit


def test_nesting_limit_decode() -> None:
    ok = b"\x02\x01" * MAX_DEPTH + b"\x00"
    decode_data_exact(ok)
    too_deep = b"\x02\x01" * (MAX_DEPTH + 1) + b"\x00"
    with pytest.raises(DecodeError) as info:
        decode_data_exact(too_deep)
    assert info.value.offset == 2 * MAX_DEPTH
    with pytest.raises(DecodeError):  # no RecursionError however deep
        decode_data_exact(b"\x01\x01" * 100_000 + b"\x00")


def test_nesting_limit_encode() -> None:
    value: Any = None
    for _ in range(MAX_DEPTH):
        value = (value,)
    assert decode_data_exact(encode_data(value)) == value
    with pytest.raises(EncodeError):
        encode_data((value,))
    deep: Any = None
    for _ in range(10_000):
        deep = [deep]
    with pytest.raises(EncodeError):
        encode_data(deep)


def _nested_rows(rows: int) -> tuple[Any, bytes]:
    """63 structures around an array of ``rows`` one-element structures: 65 levels in all."""
    value: Any = [(DoubleLongUnsigned(1),)] * rows
    raw = b"\x01" + bytes((rows,)) + h("02 01 06 00000001") * rows
    for _ in range(MAX_DEPTH - 1):
        value = (value,)
        raw = b"\x02\x01" + raw
    return value, raw


def test_nesting_limit_generic_path() -> None:
    value, raw = _nested_rows(7)
    with pytest.raises(EncodeError):
        encode_data(value)
    with pytest.raises(DecodeError):
        decode_data_exact(raw)


@pytest.mark.parametrize("rows", [7, 8, 40])
def test_nesting_limit_applies_with_and_without_fast_path(rows: int) -> None:
    value, raw = _nested_rows(rows)
    with pytest.raises(EncodeError):
        encode_data(value)
    with pytest.raises(DecodeError):
        decode_data_exact(raw)


@pytest.mark.parametrize(
    "raw",
    [
        # structure {array of 0xFFFF x array of 0xFFFF x null-data, integer}: 4.3e9 values from 16 bytes.
        "13 02 02 01 FFFF 01 FFFF 00 0F 01 05",
        "13 02 02 01 1000 01 0010 00 0F 01 05",
        # array of 0xFFFF unsigned in a 1-byte body
        "13 01 FFFF 11 01 05",
    ],
)
def test_compact_array_output_is_bounded_by_the_input(raw: str) -> None:
    with pytest.raises(DecodeError):
        decode_data_exact(h(raw))


def test_struct_module_sanity() -> None:
    # the encodings above rely on big-endian IEEE 754
    assert struct.pack(">f", 1.0) == h("3F800000")


def test_typed_values_print_as_their_plain_value() -> None:
    # str() and f-strings are what CSV files, tables and logs use: they must show the number, not the repr.
    assert str(DoubleLongUnsigned(3)) == "3" and f"{Long(-2)}" == "-2" and f"{Integer(5):03d}" == "005"
    assert str(Float32(1.5)) == "1.5" and str(Utf8String("zähler")) == "zähler"
    assert repr(DoubleLongUnsigned(3)) == "DoubleLongUnsigned(3)"
