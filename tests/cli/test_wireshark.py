"""``cosemnet wireshark path|install`` as real processes; tshark loads the installed plugin."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from cosemnet.cli.wireshark import dissector_path

from .conftest import cosemnet_command


def _run(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*cosemnet_command(), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": str(home)},
    )


def test_path_is_the_shipped_lua(tmp_path: Path) -> None:
    result = _run("wireshark", "path", home=tmp_path)
    assert result.returncode == 0
    path = Path(result.stdout.strip())
    assert path == dissector_path() and path.name == "cosemnet.lua"
    assert 'Proto("dlmswrapper"' in path.read_text()


def test_install_into_the_personal_plugin_folder_and_tshark_loads_it(tmp_path: Path) -> None:
    result = _run("wireshark", "install", home=tmp_path)
    target = tmp_path / ".local" / "lib" / "wireshark" / "plugins" / "cosemnet.lua"
    assert result.returncode == 0 and result.stdout == f"installed {target}\n"
    assert target.read_bytes() == dissector_path().read_bytes()
    tshark = shutil.which("tshark")
    if tshark is None:
        pytest.skip("tshark is not installed")
    plugins = subprocess.run(
        [tshark, "-G", "plugins"], capture_output=True, text=True, timeout=60, env={"HOME": str(tmp_path)}
    )
    assert f"cosemnet.lua\t\tlua script\t{target}" in plugins.stdout


def test_install_dir_and_errors(tmp_path: Path) -> None:
    result = _run("wireshark", "install", "--dir", str(tmp_path / "a" / "b"), home=tmp_path)
    assert result.returncode == 0 and (tmp_path / "a" / "b" / "cosemnet.lua").exists()
    blocker = tmp_path / "file"
    blocker.write_text("")
    bad = _run("wireshark", "install", "--dir", str(blocker / "sub"), home=tmp_path)
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert bad.stderr.startswith("error: cannot install the dissector: ") and bad.stderr.count("\n") == 1
