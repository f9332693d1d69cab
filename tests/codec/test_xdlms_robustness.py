"""Hostile input: random bytes and mutated vectors through the dispatcher raise nothing but DecodeError,
and whatever decodes re-encodes to the same bytes."""

from __future__ import annotations

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from cosemnet.codec.apdu import APDU_CLASSES, decode_apdu
from cosemnet.codec.xdlms import XDLMS_APDU_CLASSES
from cosemnet.errors import DecodeError

from .test_xdlms_vectors import VECTORS

XDLMS_TAGS = sorted(XDLMS_APDU_CLASSES)
RAW_VECTORS = [raw for _, raw, _ in VECTORS]


def _check(raw: bytes) -> None:
    try:
        apdu = decode_apdu(raw)
    except DecodeError as exc:
        assert 0 <= exc.offset <= len(raw)
        return
    if raw[0] in XDLMS_APDU_CLASSES and not _has_lossy_data(raw):
        assert apdu.encode() == raw


def _has_lossy_data(raw: bytes) -> bool:
    """Inputs that may hold what the A-XDR codec (axdr.decode_length, the Data boolean and float32
    decoders) accepts but normalises (see test_axdr: non-minimal length forms, booleans other than
    00/01, float32 NaN payloads) are only required not to crash here."""
    for i, b in enumerate(raw):
        if 0x81 <= b <= 0x84:
            return True
        nxt = raw[i + 1 : i + 3]
        if b == 0x03 and nxt[:1] not in (b"", b"\x00", b"\x01"):
            return True
        if b == 0x17 and len(nxt) == 2 and (nxt[0] & 0x7F) == 0x7F and nxt[1] & 0x80:
            return True
    return False


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(XDLMS_TAGS), st.binary(max_size=60))
@example(0x0C, b"\x02\x00")
def test_random_bodies_after_every_xdlms_tag(tag: int, body: bytes) -> None:
    _check(bytes((tag,)) + body)


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=1, max_size=80))
def test_random_bytes(raw: bytes) -> None:
    _check(raw)


@settings(max_examples=600, deadline=None)
@given(st.sampled_from(RAW_VECTORS), st.data())
def test_mutated_vectors(raw: bytes, data: st.DataObject) -> None:
    mutated = bytearray(raw)
    for _ in range(data.draw(st.integers(1, 3))):
        kind = data.draw(st.sampled_from(["flip", "set", "insert", "delete"]))
        pos = data.draw(st.integers(0, max(len(mutated) - 1, 0)))
        if kind == "flip" and mutated:
            mutated[pos] ^= 1 << data.draw(st.integers(0, 7))
        elif kind == "set" and mutated:
            mutated[pos] = data.draw(st.sampled_from([0x00, 0x01, 0x02, 0x7F, 0x80, 0x81, 0x84, 0xFF]))
        elif kind == "insert":
            mutated.insert(pos, data.draw(st.integers(0, 255)))
        elif kind == "delete" and len(mutated) > 1:
            del mutated[pos]
    if mutated:
        _check(bytes(mutated))


def test_every_tag_byte_alone_is_a_decode_error() -> None:
    for tag in range(256):
        try:
            decode_apdu(bytes((tag,)))
        except DecodeError:
            continue
        raise AssertionError(f"tag 0x{tag:02X} alone decoded")


def test_unknown_tags_fail_at_offset_0() -> None:
    for tag in range(256):
        if tag in APDU_CLASSES:
            continue
        try:
            decode_apdu(bytes((tag, 0, 0, 0)))
        except DecodeError as exc:
            assert exc.offset == 0
        else:
            raise AssertionError(tag)
