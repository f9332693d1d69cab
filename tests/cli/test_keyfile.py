"""Key files and key variables (cosemnet.cli.keyfile): format, sizes, permissions, precedence, no leaks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cosemnet.cli.keyfile import KeyFileError, KeyMaterial, keys_from_env, load_key_file, resolve_keys

EK = bytes.fromhex("000102030405060708090A0B0C0D0E0F")
AK = bytes.fromhex("D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF")


def write(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


def test_toml_and_json_key_files(tmp_path: Path) -> None:
    toml = write(
        tmp_path / "k.toml",
        f'ek = "{EK.hex()}"\nak = "{AK.hex().upper()}"\nkek = "{"33" * 32}"\n'
        f'broadcast_key = "{"44" * 16}"\nsystem_title = "4D4D4D0000000001"\npassword = "secret"\n',
    )
    material = load_key_file(toml)
    assert (material.ek, material.ak, material.kek) == (EK, AK, bytes.fromhex("33" * 32))
    assert material.system_title == bytes.fromhex("4D4D4D0000000001") and material.password == b"secret"
    as_json = write(tmp_path / "k.json", json.dumps({"ek": EK.hex(), "password_hex": "3132"}))
    assert load_key_file(as_json) == KeyMaterial(ek=EK, password=b"12")
    assert EK.hex() not in repr(material) and "secret" not in repr(material)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('ek = "0011"\n', "ek must be 16 or 32 bytes, not 2"),
        ('ek = "zz"\n', "ek must be hex digits"),
        ('eek = "00"\n', "unknown name(s) eek"),
        ('system_title = "0011"\n', "system_title must be 8 bytes"),
        ('password = "a"\npassword_hex = "61"\n', "not both"),
        (f'ek = "{EK.hex()}\n', "not valid TOML"),
    ],
)
def test_bad_key_files_name_the_problem_never_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path / "k.toml", text)
    with pytest.raises(KeyFileError) as caught:
        load_key_file(path)
    assert message in str(caught.value) and str(path) in str(caught.value)
    assert EK.hex() not in str(caught.value)


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660, 0o666])
def test_group_or_world_access_is_refused(tmp_path: Path, mode: int) -> None:
    path = write(tmp_path / "k.toml", f'ek = "{EK.hex()}"\n', mode)
    with pytest.raises(KeyFileError, match="chmod 600"):
        load_key_file(path)


def test_missing_file_is_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_key_file(tmp_path / "none.toml")


def test_precedence_options_then_environment_then_file(tmp_path: Path) -> None:
    path = write(tmp_path / "k.toml", f'ek = "{"01" * 16}"\nak = "{"02" * 16}"\nkek = "{"03" * 16}"\n')
    environ = {"COSEMNET_AK": "05" * 16, "COSEMNET_KEK": "06" * 16, "COSEMNET_PASSWORD": ""}
    material = resolve_keys(path, KeyMaterial(kek=bytes.fromhex("07" * 16)), environ)
    assert material.ek == bytes.fromhex("01" * 16)  # file
    assert material.ak == bytes.fromhex("05" * 16)  # environment over file
    assert material.kek == bytes.fromhex("07" * 16)  # option over both
    assert material.password is None  # empty variables are ignored
    via_env = resolve_keys(None, None, {"COSEMNET_KEYS": str(path)})
    assert via_env.ek == bytes.fromhex("01" * 16)
    assert keys_from_env({}) == KeyMaterial()
