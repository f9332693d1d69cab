"""The top-level APDU dispatcher: every codec's tags, published vectors of every family, unknown tags,
optional modules."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from cosemnet.codec import apdu as apdu_module
from cosemnet.codec.apdu import APDU_CLASSES, APDU_TYPES, decode_apdu, decode_apdu_from
from cosemnet.codec.xdlms import XDLMS_APDU_CLASSES, ChoiceApdu, GetRequestNormal
from cosemnet.errors import DecodeError

from .test_xdlms_vectors import VECTORS

# spec-notes section 1 (published)
ACSE_AND_CIPHERED = [
    ("AARQ", "601DA109060760857405080101BE10040E01000000065F1F0400001E1DFFFF"),
    ("AARE", "6129A109060760857405080101A203020100A305A103020100BE10040E0800065F1F040000501F01F40007"),
    (
        "AARQ",
        "6036A1090607608574050801018A0207808B0760857405080205AC0A80084B35366956616759BE10040E01000000065F1F04"
        "00007E1F04B0",
    ),
    ("RLRQ", "6203800100"),
    ("ServiceSpecificCiphered", "C81E1001234567C0010000080000010000FF020006725D910F9221D263877516"),
    ("ServiceSpecificCiphered", "C8122001234567411312FF935A47566827C467BC"),
    # the user-information of the first AARQ: xDLMS InitiateRequest
    ("InitiateRequest", "01000000065F1F0400001E1DFFFF"),
    # the user-information of the first AARE: xDLMS InitiateResponse
    ("InitiateResponse", "0800065F1F040000501F01F40007"),
]

XDLMS_TAGS = {
    0x05: "ReadRequest",
    0x06: "WriteRequest",
    0x0C: "ReadResponse",
    0x0D: "WriteResponse",
    0x0F: "DataNotification",
    0x16: "UnconfirmedWriteRequest",
    0x18: "InformationReportRequest",
    0xC0: "GetRequest",
    0xC1: "SetRequest",
    0xC2: "EventNotificationRequest",
    0xC3: "ActionRequest",
    0xC4: "GetResponse",
    0xC5: "SetResponse",
    0xC7: "ActionResponse",
    0xD8: "ExceptionResponse",
    0xE0: "GeneralBlockTransfer",
}
OTHER_TAGS = {
    0x01: "InitiateRequest",
    0x08: "InitiateResponse",
    0x0E: "ConfirmedServiceError",
    0x60: "AARQ",
    0x61: "AARE",
    0x62: "RLRQ",
    0x63: "RLRE",
    0xDB: "GeneralGloCiphering",
    0xDC: "GeneralDedCiphering",
    0xDD: "GeneralCiphering",
    0xDF: "GeneralSigning",
}
# glo- / ded- service-specific ciphering tags (Green Book)
CIPHERED_TAGS = {
    0x21, 0x25, 0x26, 0x28, 0x2C, 0x2D, 0x2E, 0x36, 0x38,
    0x41, 0x45, 0x46, 0x48, 0x4C, 0x4D, 0x4E, 0x56, 0x58,
    0xC8, 0xC9, 0xCA, 0xCB, 0xCC, 0xCD, 0xCF,
    0xD0, 0xD1, 0xD2, 0xD3, 0xD4, 0xD5, 0xD7,
}  # fmt: skip


def test_xdlms_tags() -> None:
    for tag, name in XDLMS_TAGS.items():
        assert APDU_CLASSES[tag].__name__ == name
        assert APDU_CLASSES[tag] is XDLMS_APDU_CLASSES[tag]
    assert set(XDLMS_APDU_CLASSES) == set(XDLMS_TAGS)


def test_other_codecs_tags() -> None:
    for tag, name in OTHER_TAGS.items():
        assert APDU_CLASSES[tag].__name__ == name
    for tag in CIPHERED_TAGS:
        assert APDU_CLASSES[tag].__name__ == "ServiceSpecificCiphered"
    assert set(APDU_CLASSES) == set(XDLMS_TAGS) | set(OTHER_TAGS) | CIPHERED_TAGS


def test_every_class_is_registered_under_its_own_tag() -> None:
    for tag, cls in APDU_CLASSES.items():
        tags = getattr(cls, "TAGS", None) or {cls.TAG}
        assert tag in tags
        assert cls in APDU_TYPES


@pytest.mark.parametrize(("name", "hex_text"), ACSE_AND_CIPHERED)
def test_published_vectors_of_the_other_codecs(name: str, hex_text: str) -> None:
    raw = bytes.fromhex(hex_text)
    decoded = decode_apdu(raw)
    assert type(decoded).__name__ == name
    assert isinstance(decoded, APDU_TYPES)
    assert decoded.encode() == raw
    embedded, end = decode_apdu_from(b"\x00" + raw, 1)
    assert end == len(raw) + 1
    assert embedded == decoded


@pytest.mark.parametrize(("name", "raw", "expected"), VECTORS, ids=[v[0] for v in VECTORS])
def test_xdlms_vectors_dispatch_to_their_concrete_class(name: str, raw: bytes, expected: object) -> None:
    decoded = decode_apdu(raw)
    assert type(decoded) is type(expected)
    assert isinstance(decoded, APDU_TYPES)


def test_choice_tags_dispatch_on_the_second_byte() -> None:
    for tag, cls in APDU_CLASSES.items():
        if isinstance(cls, type) and issubclass(cls, ChoiceApdu):
            for choice, sub in cls.CHOICES.items():
                assert tag == sub.TAG
                assert choice == sub.CHOICE  # type: ignore[attr-defined]
                assert issubclass(sub, cls)


def test_unknown_and_empty() -> None:
    with pytest.raises(DecodeError) as info:
        decode_apdu(b"")
    assert info.value.offset == 0
    for tag in (0x00, 0x02, 0x64, 0xC6, 0xFF):
        with pytest.raises(DecodeError) as info:
            decode_apdu(bytes((tag, 1, 2, 3)))
        assert info.value.offset == 0
        with pytest.raises(DecodeError) as info:
            decode_apdu_from(bytes((0, tag, 1)), 1)
        assert info.value.offset == 1
    with pytest.raises(DecodeError):
        decode_apdu_from(b"\xc0", 1)


def test_unknown_choice_of_a_choice_tag() -> None:
    with pytest.raises(DecodeError) as info:
        decode_apdu(bytes.fromhex("C009C1"))
    assert info.value.offset == 1


def test_get_request_normal_fast_path_is_used() -> None:
    raw = bytes.fromhex("C001C1000100002B0100FF0200")
    assert type(decode_apdu(raw)) is GetRequestNormal


def test_missing_optional_module_is_left_out(monkeypatch: pytest.MonkeyPatch) -> None:
    assert apdu_module._import_optional("cosemnet.codec.no_such_module") is None
    monkeypatch.setattr(
        apdu_module,
        "_OPTIONAL",
        (("cosemnet.codec.no_such_module", ("AARQ",)), ("cosemnet.codec.initiate", ("InitiateRequest",))),
    )
    table, types = apdu_module._build_table()
    assert 0x60 not in table
    assert table[0x01].__name__ == "InitiateRequest"
    assert set(table) == set(XDLMS_TAGS) | {0x01}
    assert len(types) == len(XDLMS_TAGS) + 1


def test_broken_optional_module_is_not_hidden(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "cosemnet_test_broken_codec.py").write_text("import cosemnet_no_such_dependency\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError):
        apdu_module._import_optional("cosemnet_test_broken_codec")
    sys.modules.pop("cosemnet_test_broken_codec", None)
