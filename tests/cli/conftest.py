"""Run the installed ``cosemnet`` command as a real process."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

RunCli = Callable[..., subprocess.CompletedProcess[str]]


def cosemnet_command() -> list[str]:
    """The ``cosemnet`` script next to the running interpreter (the venv's), else on PATH, else
    ``python -m cosemnet.cli``."""
    script = Path(sys.executable).parent / "cosemnet"
    if script.exists():
        return [str(script)]
    found = shutil.which("cosemnet")
    if found:
        return [found]
    return [sys.executable, "-m", "cosemnet.cli"]


@pytest.fixture(scope="session")
def cosemnet() -> list[str]:
    return cosemnet_command()


@pytest.fixture
def run_cli(cosemnet: list[str]) -> RunCli:
    def run(*args: str, stdin: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*cosemnet, *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env={"PATH": "/usr/bin:/bin", "COLUMNS": "200", "LANG": "C.UTF-8", "PYTHONIOENCODING": "utf-8"},
        )

    return run
