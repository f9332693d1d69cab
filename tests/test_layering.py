"""Lower layers never import higher ones (DEVELOPERS guide: errors, trace -> codec -> security -> cosem ->
server/client -> profiles -> headend/simulator -> cli). Checked on the syntax tree of every module:
``import`` and ``from ... import`` statements (absolute or relative, at any depth), and dynamic imports
(``importlib.import_module(...)``, ``__import__(...)``): in a module that imports dynamically, every
``"cosemnet.<package>..."`` string literal counts as an import, since the name may reach the call
through a variable or a table."""

from __future__ import annotations

import ast
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
_DYNAMIC = frozenset({"import_module", "__import__"})


def _modules() -> list[Path]:
    return sorted(p for p in SRC.rglob("*.py") if p.relative_to(SRC).parts[0].removesuffix(".py") in RANK)


def _top(dotted: str) -> str | None:
    """The cosemnet package of a dotted module name (None outside cosemnet)."""
    parts = dotted.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "cosemnet" else None


def _package_of(path: Path) -> list[str]:
    parts = ["cosemnet", *path.relative_to(SRC).with_suffix("").parts]
    return parts if path.name == "__init__.py" else parts[:-1]


def _is_dynamic_import(node: ast.Call) -> bool:
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
    return name in _DYNAMIC


def imported_packages(source: str, path: Path) -> set[str]:
    """The cosemnet packages ``source`` (the text of ``path``) imports, statically or dynamically."""
    tree = ast.parse(source)
    found: set[str] = set()
    dynamic = False
    literals: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(t for alias in node.names if (t := _top(alias.name)) is not None)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = _package_of(path)[: len(_package_of(path)) - node.level + 1]
                dotted = ".".join([*base, *([node.module] if node.module else [])])
                if dotted == "cosemnet":  # from cosemnet import x / from .. import x
                    found.update(alias.name for alias in node.names)
                elif (t := _top(dotted)) is not None:
                    found.add(t)
            elif node.module == "cosemnet":
                found.update(alias.name for alias in node.names)
            elif node.module is not None and (t := _top(node.module)) is not None:
                found.add(t)
        elif isinstance(node, ast.Call) and _is_dynamic_import(node):
            dynamic = True
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            literals.append(node.value)
    if dynamic:
        found.update(
            t for text in literals if (t := _top(text.split()[0] if text.split() else "")) is not None
        )
    return found


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(SRC)))
def test_no_upward_imports(path: Path) -> None:
    layer = path.relative_to(SRC).parts[0].removesuffix(".py")
    for target in sorted(imported_packages(path.read_text(), path)):
        if target not in RANK:
            continue
        assert RANK[target] <= RANK[layer], f"{layer} imports the higher layer {target}"
        if {layer, target} == {"server", "client"}:
            pytest.fail(f"{layer} imports {target}: the two sides of the application layer are independent")


def test_every_package_has_a_layer() -> None:
    packages = {p.name for p in SRC.iterdir() if p.is_dir() and not p.name.startswith("_")}
    assert packages <= set(RANK), packages - set(RANK)


@pytest.mark.parametrize(
    "source",
    [
        "import cosemnet.cli.main",
        "from cosemnet.cli import main",
        "from cosemnet import cli",
        "def f():\n    from cosemnet.cli.main import run\n",
        "from ...cli import main",
        "import importlib\nimportlib.import_module('cosemnet.cli.main')",
        "from importlib import import_module\nimport_module('cosemnet.cli')",
        "__import__('cosemnet.cli.main')",
        "import importlib\nNAMES = ('cosemnet.cli.main',)\nfor n in NAMES:\n    importlib.import_module(n)",
    ],
)
def test_the_checker_sees_every_import_form(source: str) -> None:
    assert "cli" in imported_packages(source, SRC / "codec" / "xdlms" / "sample.py")


def test_the_checker_ignores_text_that_imports_nothing() -> None:
    source = '"""See cosemnet.cli.main for the command line."""\nX = "cosemnet.cli"\n'
    assert imported_packages(source, SRC / "codec" / "sample.py") == set()
