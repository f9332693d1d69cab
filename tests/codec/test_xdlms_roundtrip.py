"""Property tests: every xDLMS APDU class round-trips exactly (object -> bytes -> object, bytes -> object
-> bytes), through its own class, its CHOICE base class and the top-level dispatcher."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cosemnet.codec.apdu import APDU_CLASSES, decode_apdu, decode_apdu_from
from cosemnet.codec.xdlms import XDLMS_CONCRETE_CLASSES
from cosemnet.errors import DecodeError
from strategies import APDU_STRATEGIES, typed_equal

CLASSES = list(APDU_STRATEGIES)


def test_every_concrete_class_has_a_strategy() -> None:
    assert set(CLASSES) == set(XDLMS_CONCRETE_CLASSES)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_object_round_trip(cls: type, data: st.DataObject) -> None:
    apdu = data.draw(APDU_STRATEGIES[cls])
    raw = apdu.encode()
    assert raw[0] == cls.TAG  # type: ignore[attr-defined]
    decoded = cls.decode(raw)  # type: ignore[attr-defined]
    assert typed_equal(decoded, apdu), (decoded, apdu)
    assert decoded.encode() == raw
    # the CHOICE base class (or the class itself) under the tag, and the dispatcher, agree
    assert typed_equal(APDU_CLASSES[raw[0]].decode(raw), apdu)
    assert typed_equal(decode_apdu(raw), apdu)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_truncated_or_extended_encodings_are_decode_errors(cls: type, data: st.DataObject) -> None:
    raw = data.draw(APDU_STRATEGIES[cls]).encode()
    cut = data.draw(st.integers(0, len(raw) - 1))
    with pytest.raises(DecodeError):
        decode_apdu(raw[:cut])
    with pytest.raises(DecodeError) as info:
        decode_apdu(raw + data.draw(st.binary(min_size=1, max_size=4)))
    assert info.value.offset == len(raw)
    # embedded: decode_from stops exactly at the end of the APDU
    apdu, end = decode_apdu_from(b"\x00" + raw + b"\xff", 1)
    assert end == len(raw) + 1
    assert apdu.encode() == raw


def _encode_all(apdus: list[Any]) -> bytes:
    return b"".join(a.encode() for a in apdus)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.one_of(*APDU_STRATEGIES.values()), min_size=1, max_size=5))
def test_concatenated_apdus_split_with_decode_from(apdus: list[Any]) -> None:
    buffer = _encode_all(apdus)
    offset = 0
    for expected in apdus:
        apdu, offset = decode_apdu_from(buffer, offset)
        assert typed_equal(apdu, expected)
    assert offset == len(buffer)
