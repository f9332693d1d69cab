"""Profile loading: the embedded default, a custom small TOML, and every kind of configuration error."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from cosemnet.codec.obis import Obis
from cosemnet.simulator import ProfileError, build_meter, compile_profile, load_profile, parse_profile
from cosemnet.simulator.profile import Identity

from .helpers import SMALL_TOML, small_profile

GREEN_BOOK_EK = bytes.fromhex("000102030405060708090A0B0C0D0E0F")
GREEN_BOOK_AK = bytes.fromhex("D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF")


def test_default_profile_loads() -> None:
    profile = load_profile()
    identity = profile.identity.derive()
    assert identity.system_title == bytes.fromhex("4D4D4D0000BC614E")
    assert identity.logical_device_name == "MMM0000012345678"
    assert [(a.client_sap, a.referencing, a.mechanism_id) for a in profile.associations] == [
        (16, "ln", 0),
        (1, "ln", 5),
        (17, "sn", 1),
    ]
    management = profile.security_setups[0]
    assert management.security_policy == 0x6C and management.security_suite == 0
    assert management.ek == GREEN_BOOK_EK and management.ak == GREEN_BOOK_AK
    assert "000102" not in repr(management) and "D0D1" not in repr(management)
    assert "12345678" not in repr(profile.associations[2])
    assert len(profile.load.phases) == 3
    assert profile.clock.time_zone == -60 and profile.clock.dst_enabled
    assert profile.load_profile is not None and profile.load_profile.capture_period == 900
    assert [str(r.logical_name) for r in profile.registers][:6] == [
        "1-0:1.8.0*255",
        "1-0:1.8.1*255",
        "1-0:1.8.2*255",
        "1-0:2.8.0*255",
        "1-0:3.8.0*255",
        "1-0:4.8.0*255",
    ]
    assert load_profile() == profile  # deterministic and hashable: one template per profile
    assert compile_profile(profile) is compile_profile(load_profile())


def test_default_profile_is_package_data() -> None:
    import cosemnet.simulator

    path = Path(cosemnet.simulator.__file__).parent / "profiles" / "default.toml"
    assert load_profile(path) == load_profile()
    with path.open("rb") as f:
        assert "identity" in tomllib.load(f)


def test_custom_small_profile(tmp_path: Path) -> None:
    file = tmp_path / "small.toml"
    file.write_text(SMALL_TOML)
    profile = load_profile(file)
    assert profile == small_profile()
    meter = build_meter(profile)
    names = {str(o.logical_name) for o in meter.device}
    assert "1-0:32.7.0*255" not in names and "0-0:44.0.0*255" not in names
    assert meter.system_title == b"ABC" + (42).to_bytes(5, "big")
    assert meter.image_transfer is None and meter.demand_registers == ()
    assert (
        len(meter.device) == 18
    )  # 1 LDN, 2 associations, SAP, id, clock, 6 registers, 2 logs+code, 2 disc., push


def test_minimal_profile() -> None:
    profile = parse_profile(
        """
        [load]
        [[load.phases]]
        consumption = [["00:00", 500]]
        [[associations]]
        logical_name = "0-0:40.0.1*255"
        client_sap = 16
        """
    )
    meter = build_meter(profile)
    assert {str(o.logical_name) for o in meter.device} == {
        "0-0:42.0.0*255",
        "0-0:40.0.1*255",
        "0-0:41.0.0*255",
        "0-0:96.1.0*255",
        "0-0:1.0.0*255",
    }
    assert meter.get_timer() is None
    meter.handle_timer(meter.seconds(meter.now.replace(hour=2)))
    assert meter.energy("active_import") == pytest.approx(1000.0)


def test_identity_derivation() -> None:
    identity = Identity(manufacturer="XYZ", serial=7)
    derived = identity.derive()
    assert derived.system_title == b"XYZ\x00\x00\x00\x00\x07"
    assert derived.device_id == "7" and derived.logical_device_name == "XYZ0000000000007"
    other = identity.derive(system_title=b"XYZ\x00\x00\x00\x01\x00")
    assert other.serial == 256
    with pytest.raises(ProfileError):
        identity.derive(system_title=b"short")
    fixed = Identity(serial=5, system_title=b"FIXEDTTL", logical_device_name="MYMETER", device_id="id5")
    assert fixed.derive().system_title == b"FIXEDTTL" and fixed.derive().logical_device_name == "MYMETER"
    fleet = fixed.derive(serial=6)  # another meter of the fleet: its own names
    assert fleet.system_title == b"MMM\x00\x00\x00\x00\x06"
    assert (fleet.logical_device_name, fleet.device_id) == ("MMM0000000000006", "6")


BASE = """
[load]
[[load.phases]]
consumption = [["00:00", 500]]
[[associations]]
logical_name = "0-0:40.0.1*255"
client_sap = 16
"""


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("[identity]\ncolour = 'red'", "identity: unknown key(s) colour"),
        ("[identity]\nmanufacturer = 'abcd'", "identity.manufacturer"),
        ("[identity]\nserial = -1", "identity.serial"),
        ("[identity]\nsystem_title = '0102'", "identity.system_title: must be 8 bytes"),
        ("[clock]\ntime_zone = 900", "clock.time_zone"),
        ("[[registers]]\nlogical_name = '1-0:1.8.0*255'\nquantity = 'bogus'", "registers[0].quantity"),
        ("[[registers]]\nlogical_name = 'not-obis'\nquantity = 'active_import'", "registers[0].logical_name"),
        (
            "[[registers]]\nlogical_name = '1-0:1.8.0*255'\nquantity = 'active_import'\nunit = 'parsec'",
            "unit",
        ),
        ("[[registers]]\nlogical_name = '1-0:1.8.0*255'\nquantity = 'active_import'\ntype = 'bcd'", "type"),
        ("[[security_setups]]\nsecurity_policy = ['encrypted_request']", "ek"),
        ("[[security_setups]]\nsecurity_policy = ['sometimes']", "unknown flag"),
        ("[[security_setups]]\nek = '0011'", "must be 16 bytes"),
        ("[[security_setups]]\nsecurity_suite = 2\nek = '000102030405060708090A0B0C0D0E0F'", "32 bytes"),
        ("[event_log.codes]\nmeteor_strike = 9", "unknown event"),
        ("[push_setup]\ntransport = 'pigeon'", "push_setup.transport"),
        ("[load_profile]\nprofile_entries = 10\nmax_entries = 5", "max_entries"),
        ("sap_assignment = 5", "sap_assignment"),
        ("mystery = 1", "profile: unknown key(s) mystery"),
    ],
)
def test_invalid_tables(extra: str, message: str) -> None:
    text = extra + "\n" + BASE if "[" not in extra else BASE + extra  # root keys before the tables
    with pytest.raises(ProfileError, match=re.escape(message)):
        parse_profile(text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[load]\n", "needs 1 to 3"),
        ("[identity]\n", "the \\[load\\] table is required"),
        (BASE.replace('[["00:00", 500]]', '[["12:00", 1], ["06:00", 2]]'), "strictly increasing"),
        (BASE.replace('[["00:00", 500]]', '[["25:00", 1]]'), "not a time of day"),
        (BASE.replace('[["00:00", 500]]', '[["00:00", -5]]'), "watts must be"),
        (BASE.replace('[["00:00", 500]]', "[]"), "at least one"),
        (
            BASE + "[[associations]]\nlogical_name = '0-0:40.0.2*255'\nclient_sap = 16\n",
            "client_sap may appear once",
        ),
        (BASE.replace("client_sap = 16", "client_sap = 16\nmechanism = 'lls'"), "needs a secret"),
        (
            BASE.replace("client_sap = 16", "client_sap = 16\nmechanism = 'hls-gmac'"),
            "needs a security setup",
        ),
        (BASE.replace("client_sap = 16", "client_sap = 16\nmechanism = 'kerberos'"), "mechanism"),
        (
            BASE.replace("client_sap = 16", "client_sap = 16\nsecurity_setup = '0-0:43.0.9*255'"),
            "no security setup",
        ),
        (BASE.replace("client_sap = 16", "client_sap = 16\nbase_name = 0xFA00"), "only an SN association"),
        ("[load\n", "not valid TOML"),
    ],
)
def test_invalid_profiles(text: str, message: str) -> None:
    with pytest.raises(ProfileError, match=message):
        parse_profile(text)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("[load_profile]\ncapture_objects = ['1-0:1.8.0*255']", "no object 1-0:1.8.0"),
        ("[load_profile]\ncapture_objects = ['0-0:1.0.0*255:12']", "has no attribute 12"),
        ("[[registers]]\nlogical_name = '1-0:32.7.0*255'\nquantity = 'voltage_l2'", "1 phase"),
        ("[[registers]]\nlogical_name = '0-0:1.0.0*255'\nquantity = 'active_import'", "used twice"),
    ],
)
def test_errors_found_when_compiling(extra: str, message: str) -> None:
    profile = parse_profile(BASE + extra)
    with pytest.raises(ProfileError, match=message):
        compile_profile(profile)


def test_association_object_references_are_checked() -> None:
    profile = parse_profile(BASE.replace("client_sap = 16", "client_sap = 16\nobjects = ['1-0:1.8.0*255']"))
    with pytest.raises(ProfileError, match=re.escape("associations[0].objects")):
        compile_profile(profile)
    profile = parse_profile(BASE.replace("client_sap = 16", "client_sap = 16\nexclude = ['1-0:1.8.0*255']"))
    with pytest.raises(ProfileError, match=re.escape("associations[0].exclude")):
        compile_profile(profile)


def test_missing_file() -> None:
    with pytest.raises(ProfileError, match="cannot read"):
        load_profile("/nonexistent/meter.toml")


def test_secrets_hex_and_text() -> None:
    for spelling, expected in (("text:abc", b"abc"), ("hex:414243", b"ABC"), ("plain", b"plain")):
        profile = parse_profile(
            BASE.replace("client_sap = 16", f"client_sap = 16\nmechanism = 'lls'\nsecret = '{spelling}'")
        )
        assert profile.associations[0].secret == expected
    assert profile.associations[0].logical_name == Obis.parse("0-0:40.0.1*255")
