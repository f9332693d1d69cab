"""The command reference of docs/cli.md, generated from the click commands themselves.

``python tests/docs/cli_reference.py --write`` rewrites the part of docs/cli.md between the
``<!-- reference:start -->`` and ``<!-- reference:end -->`` markers; ``tests/docs/test_cli_reference.py``
fails when that part differs from what the commands say now (an option added, renamed or re-described).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import click

from cosemnet.cli.main import cli

DOC = Path(__file__).resolve().parents[2] / "docs" / "cli.md"
START = "<!-- reference:start -->"
END = "<!-- reference:end -->"


def commands(group: click.Group = cli, prefix: str = "cosemnet") -> Iterator[tuple[str, click.Command]]:
    context = click.Context(group, info_name=prefix)
    for name in group.list_commands(context):
        command = group.get_command(context, name)
        if command is None or command.hidden:
            continue
        path = f"{prefix} {name}"
        if isinstance(command, click.Group):
            yield from commands(command, path)
        else:
            yield path, command


def _option(param: click.Parameter, context: click.Context) -> str | None:
    if "--help" in getattr(
        param, "opts", ()
    ):  # click caches each command's help option from the first context it saw
        return "| `-h, --help` | Show this message and exit. |"
    record = param.get_help_record(context)
    if record is None:
        return None
    names, text = record
    text = " ".join(text.split()).replace("|", "\\|")
    return f"| `{names}` | {text} |"


def section(path: str, command: click.Command) -> str:
    context = click.Context(command, info_name=path)
    pieces = context.command.collect_usage_pieces(context)
    summary = (command.help or "").strip().split("\n\n")[0]
    lines = [f"#### `{path}`", "", " ".join(summary.split()), "", f"    {path} {' '.join(pieces)}", ""]
    rows = [row for row in (_option(p, context) for p in command.get_params(context)) if row]
    if rows:
        lines += ["| option | meaning |", "| --- | --- |", *rows, ""]
    return "\n".join(lines)


def render() -> str:
    head = (
        "Generated from the commands (`python tests/docs/cli_reference.py --write`); "
        "`cosemnet COMMAND --help` shows the same with the examples.\n"
    )
    return "\n".join([head, *(section(path, command) for path, command in commands())])


def current() -> str:
    text = DOC.read_text(encoding="utf-8")
    return text[text.index(START) + len(START) : text.index(END)].strip("\n")


def write() -> None:
    text = DOC.read_text(encoding="utf-8")
    before, after = text[: text.index(START) + len(START)], text[text.index(END) :]
    DOC.write_text(f"{before}\n{render().strip()}\n{after}", encoding="utf-8")


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        write()
    else:
        print(render())
