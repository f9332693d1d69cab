"""OBIS codes: parsing and printing, and the names of well-known codes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cosemnet.codec.class_ids import CLASS_NAMES, class_name, describe_class
from cosemnet.codec.obis import Obis, obis_name
from cosemnet.errors import EncodeError

# --------------------------------------------------------------------------------------------------
# The Obis type


@pytest.mark.parametrize(
    "text",
    [
        "1-0:1.8.0*255",
        "1-0:1.8.0.255",
        "1.0.1.8.0.255",
        "0100010800FF",
        "01 00 01 08 00 FF",
        "1-0:1.8.0",
        "0x0100010800ff",
    ],
)
def test_every_textual_form_parses_to_the_same_bytes(text: str) -> None:
    code = Obis.parse(text)
    assert code == b"\x01\x00\x01\x08\x00\xff"
    assert str(code) == "1-0:1.8.0*255"
    assert code.dotted() == "1.0.1.8.0.255"
    assert (code.a, code.b, code.c, code.d, code.e, code.f) == (1, 0, 1, 8, 0, 255)


@given(st.binary(min_size=6, max_size=6))
def test_text_round_trip(raw: bytes) -> None:
    code = Obis(raw)
    assert Obis.parse(str(code)) == raw
    assert Obis.parse(code.dotted()) == raw
    assert eval(repr(code)) == code


@pytest.mark.parametrize("bad", ["1-0:1.8", "1-0:1.8.0*256", "", "0100010800", b"\x01\x02"])
def test_bad_codes_are_encode_errors(bad: str | bytes) -> None:
    with pytest.raises(EncodeError):
        Obis(bad)


# --------------------------------------------------------------------------------------------------
# Names


@pytest.mark.parametrize(
    ("code", "name"),
    [
        ("0-0:1.0.0*255", "Clock"),
        ("0-0:42.0.0*255", "COSEM logical device name"),
        ("0-0:40.0.0*255", "Current association"),
        ("0-0:40.0.3*255", "Association 3"),
        ("0-0:41.0.0*255", "SAP assignment"),
        ("0-0:43.0.0*255", "Security setup"),
        ("0-0:43.1.0*255", "Invocation counter"),
        ("0-0:25.9.0*255", "Push setup"),
        ("0-0:25.0.0*255", "TCP-UDP setup"),
        ("0-0:25.7.0*255", "IPv6 setup"),
        ("0-0:44.0.0*255", "Image transfer"),
        ("0-0:96.3.10*255", "Disconnect control"),
        ("0-0:96.1.0*255", "Device ID 1 (manufacturing number)"),
        ("0-0:96.1.1*255", "Device ID 2"),
        ("1-0:99.1.0*255", "Load profile 1"),
        ("0-0:99.98.0*255", "Standard event log"),
        ("1-0:1.8.0*255", "Active energy import (+A), total"),
        ("1-0:1.8.1*255", "Active energy import (+A), tariff 1"),
        ("1-0:2.8.2*255", "Active energy export (-A), tariff 2"),
        ("1-0:3.8.0*255", "Reactive energy import (+R), total"),
        ("1-0:4.8.4*255", "Reactive energy export (-R), tariff 4"),
        ("1-0:1.7.0*255", "Active power import (+P), instantaneous"),
        ("1-0:2.7.0*255", "Active power export (-P), instantaneous"),
        ("1-0:32.7.0*255", "Voltage L1, instantaneous"),
        ("1-0:52.7.0*255", "Voltage L2, instantaneous"),
        ("1-0:72.7.0*255", "Voltage L3, instantaneous"),
        ("1-0:31.7.0*255", "Current L1, instantaneous"),
        ("1-0:51.7.0*255", "Current L2, instantaneous"),
        ("1-0:71.7.0*255", "Current L3, instantaneous"),
        ("1-0:14.7.0*255", "Supply frequency, instantaneous"),
        ("1-0:13.7.0*255", "Power factor, instantaneous"),
        ("1-0:1.6.0*255", "Active power import (+P), maximum 1, total"),
        ("0-0:65.0.21*255", "Utility table BT21 (actual register)"),
        ("0-0:65.0.7*255", "Utility table BT07"),
        ("0-0:65.0.130*255", "Utility table BT130"),
        ("0-0:32.0.0*255", "ISO/IEC 14908 identification"),
        ("0-0:32.1.0*255", "ISO/IEC 14908 protocol setup"),
        ("0-0:32.2.0*255", "ISO/IEC 14908 protocol status"),
        ("0-0:32.3.0*255", "ISO/IEC 14908 diagnostic"),
    ],
)
def test_well_known_names(code: str, name: str) -> None:
    assert obis_name(code) == name
    assert Obis(code).name == name


@pytest.mark.parametrize(
    ("code", "name"),
    [
        # channel B: the name of B=0 plus the channel
        ("1-1:1.8.0*255", "Active energy import (+A), total, channel 1"),
        ("0-2:32.1.0*255", "ISO/IEC 14908 protocol setup, channel 2"),
        ("0-1:96.3.10*255", "Disconnect control, channel 1"),
        # F: historical values (billing periods)
        ("1-0:1.8.0*101", "Active energy import (+A), total, historical value 101"),
        ("1-3:2.8.1*7", "Active energy export (-A), tariff 1, channel 3, historical value 7"),
        # tariffs above 63 are not tariffs
        ("1-0:1.8.64*255", "Active energy import (+A), E=64"),
    ],
)
def test_wildcard_value_groups(code: str, name: str) -> None:
    assert obis_name(code) == name


@pytest.mark.parametrize("code", ["9-9:9.9.9*9", "1-0:200.8.0*255", "1-0:1.200.0*255", "0-0:0.0.0*0"])
def test_unknown_codes_have_no_name(code: str) -> None:
    assert obis_name(code) is None


def test_lookup_accepts_raw_bytes() -> None:
    assert obis_name(b"\x00\x00\x01\x00\x00\xff") == "Clock"


@given(st.binary(min_size=6, max_size=6))
def test_every_code_has_a_name_or_none(raw: bytes) -> None:
    name = obis_name(raw)
    assert name is None or (isinstance(name, str) and name)


# --------------------------------------------------------------------------------------------------
# Interface class names


def test_class_names() -> None:
    assert class_name(8) == "Clock"
    assert class_name(15) == "Association LN"
    assert class_name(64) == "Security setup"
    assert [class_name(i) for i in range(130, 134)] == [
        "ISO/IEC 14908 identification",
        "ISO/IEC 14908 protocol setup",
        "ISO/IEC 14908 protocol status",
        "ISO/IEC 14908 diagnostic",
    ]
    assert class_name(9999) is None
    assert describe_class(7) == "7 (Profile generic)"
    assert describe_class(9999) == "class 9999"
    assert all(isinstance(k, int) and v for k, v in CLASS_NAMES.items())
