"""Security control byte, security policy and suite parameters."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cosemnet.errors import DecodeError, EncodeError
from cosemnet.security import SUITE_PARAMETERS, SecuritySuite, UnsupportedSecurityError, security_suite
from cosemnet.security.control import SecurityControl, SecurityPolicy, check_security_control


def test_known_bytes() -> None:
    assert SecurityControl.parse(0x30) == SecurityControl(0, True, True, False, False)
    assert SecurityControl.parse(0x10).authentication and not SecurityControl.parse(0x10).encryption
    assert SecurityControl.parse(0x20).encryption
    assert SecurityControl.parse(0x71) == SecurityControl(1, True, True, True, False)
    assert SecurityControl.parse(0x80).compression
    assert SecurityControl(2, authentication=True).build() == 0x12
    assert int(SecurityControl(0, True, True)) == 0x30


@given(st.integers(0, 255))
def test_parse_build_round_trip(value: int) -> None:
    assert SecurityControl.parse(value).build() == value


def test_supported() -> None:
    assert SecurityControl.parse(0x32).suite is SecuritySuite.SUITE_2
    with pytest.raises(UnsupportedSecurityError, match="compression"):
        SecurityControl.parse(0xB0).check_supported()
    with pytest.raises(UnsupportedSecurityError, match="suite 3"):
        check_security_control(0x33)
    with pytest.raises(DecodeError):
        SecurityControl.parse(256)
    with pytest.raises(EncodeError):
        SecurityControl(16).build()


def test_policy() -> None:
    policy = SecurityPolicy.AUTHENTICATED_REQUEST | SecurityPolicy.ENCRYPTED_RESPONSE
    assert policy.requirements(request=True) == (True, False)
    assert policy.requirements(request=False) == (False, True)
    assert int(SecurityPolicy.DIGITALLY_SIGNED_RESPONSE) == 0x80
    assert SecurityPolicy.from_version_0(0) == SecurityPolicy.NOTHING
    assert SecurityPolicy.from_version_0(3) == 0x04 | 0x08 | 0x20 | 0x40
    assert SecurityPolicy.from_version_0(1).requirements(True) == (True, False)
    assert SecurityPolicy.from_version_0(2).requirements(False) == (False, True)
    with pytest.raises(DecodeError):
        SecurityPolicy.from_version_0(4)


def test_suites() -> None:
    assert [SUITE_PARAMETERS[s].key_length for s in SecuritySuite] == [16, 16, 32]
    assert SecuritySuite.SUITE_1.parameters.kdf_algorithm_id == bytes.fromhex("60857405080300")
    assert SecuritySuite.SUITE_2.parameters.kdf_algorithm_id == bytes.fromhex("60857405080301")
    assert SecuritySuite.SUITE_0.parameters.kdf_algorithm_id is None
    assert SecuritySuite.SUITE_1.parameters.curve_name == "secp256r1"
    assert SecuritySuite.SUITE_2.parameters.hash_name == "sha384"
    assert all(p.tag_length == 12 for p in SUITE_PARAMETERS.values())
    assert security_suite(1) is SecuritySuite.SUITE_1
    with pytest.raises(UnsupportedSecurityError):
        security_suite(5)
