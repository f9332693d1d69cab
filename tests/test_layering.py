"""Lower layers never import higher ones (DEVELOPERS guide: errors, trace -> codec -> security -> cosem ->
server/client -> profiles -> headend/simulator -> cli). Checked on the source text of every module."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "cosemnet"
RANK = {
    "errors": 0,
    "trace": 0,
    "codec": 1,
    "security": 2,
    "cosem": 3,
    "server": 4,
    "client": 4,
    "profiles": 5,
    "headend": 6,
    "simulator": 6,
    "cli": 7,
}
IMPORT = re.compile(r"^\s*(?:from|import)\s+cosemnet\.(\w+)", re.MULTILINE)


def _modules() -> list[Path]:
    return sorted(p for p in SRC.rglob("*.py") if p.relative_to(SRC).parts[0].removesuffix(".py") in RANK)


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(SRC)))
def test_no_upward_imports(path: Path) -> None:
    layer = path.relative_to(SRC).parts[0].removesuffix(".py")
    for target in IMPORT.findall(path.read_text()):
        if target not in RANK:
            continue
        assert RANK[target] <= RANK[layer], f"{layer} imports the higher layer {target}"
        if {layer, target} == {"server", "client"}:
            pytest.fail(f"{layer} imports {target}: the two sides of the application layer are independent")


def test_every_package_has_a_layer() -> None:
    packages = {p.name for p in SRC.iterdir() if p.is_dir() and not p.name.startswith("_")}
    assert packages <= set(RANK), packages - set(RANK)
