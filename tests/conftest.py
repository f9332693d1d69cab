"""Whole-suite fixtures: no test writes counters into the real home (docs/decisions/0033)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session", autouse=True)
def _private_state_home() -> Iterator[str]:
    """``XDG_STATE_HOME`` points at a directory of this test session (child processes inherit it), so
    ``cosemnet meter serve`` and the client commands keep their counters there, not in ~/.local/state."""
    previous = os.environ.get("XDG_STATE_HOME")
    with tempfile.TemporaryDirectory(prefix="cosemnet-state-") as directory:
        os.environ["XDG_STATE_HOME"] = directory
        try:
            yield directory
        finally:
            if previous is None:
                os.environ.pop("XDG_STATE_HOME", None)
            else:
                os.environ["XDG_STATE_HOME"] = previous
