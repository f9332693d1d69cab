"""Every command's ``--help`` shows examples, and every example's command line is accepted by that
command's parser (options that exist, values of the right type, the one grammar) (issue 15 item 7)."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from cosemnet.cli.main import cli

COMMENT = re.compile(r"\s{2,}\S.*$")  # "cosemnet ... <two spaces> what it does"


def leaves(
    command: click.Command, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    if isinstance(command, click.Group):
        for name, sub in sorted(command.commands.items()):
            yield from leaves(sub, (*path, name))
    else:
        yield path, command


COMMANDS = list(leaves(cli))


def help_text(path: tuple[str, ...], command: click.Command) -> str:
    with click.Context(command, info_name=" ".join(path)) as ctx:
        return command.get_help(ctx)


def examples(text: str) -> list[str]:
    """The example command lines of a help text: ``cosemnet ...`` (joined with the lines a trailing
    backslash or an open quote continues), the description after two spaces cut; shortened ones
    (``...``) left out."""
    lines: list[str] = []
    continued = False
    for raw in text.splitlines():
        line = raw.strip()
        if continued:
            head = lines[-1][:-1].rstrip() if lines[-1].endswith("\\") else lines[-1]
            lines[-1] = head + " " + line
        elif line.startswith("cosemnet "):
            lines.append(line)
        else:
            continue
        continued = lines[-1].endswith("\\") or lines[-1].count("'") % 2 == 1  # a quote spans lines
    return [COMMENT.sub("", line) for line in lines if "..." not in line]


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_help_has_examples(path: tuple[str, ...], command: click.Command) -> None:
    text = help_text(path, command) + (command.epilog or "")
    assert "Example" in text, f"cosemnet {' '.join(path)} --help shows no example"
    assert f"cosemnet {' '.join(path)}" in text


def _parse(argv: list[str]) -> None:
    """Parse ``argv`` as the command line would (usage errors raise), without running anything."""
    ctx = cli.make_context("cosemnet", list(argv))
    command: click.Command = cli
    args = _rest(ctx)
    while isinstance(command, click.Group) and args:
        name, sub, rest = command.resolve_command(ctx, args)
        assert sub is not None, name
        ctx = sub.make_context(name or "", rest, parent=ctx)
        command = sub
        args = _rest(ctx) if isinstance(sub, click.Group) else []


def _rest(ctx: click.Context) -> list[str]:
    """What a group left for its subcommand (click 8.2+ keeps it in ``_protected_args``)."""
    protected = getattr(ctx, "_protected_args", None)
    return [*(protected if protected is not None else ctx.protected_args), *ctx.args]


ALL_EXAMPLES = sorted(
    {
        line
        for path, command in COMMANDS
        for line in examples(help_text(path, command) + (command.epilog or "") + (cli.epilog or ""))
    }
)


@pytest.mark.parametrize("line", ALL_EXAMPLES)
def test_every_help_example_parses(line: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    command = line.split("|")[0].split(" < ")[0].split(" 2>")[0].split(" > ")[0].removesuffix(" &")
    argv = shlex.split(command)[1:]  # without redirections, pipes and a trailing & (run in background)
    for index, word in enumerate(argv[:-1]):  # files an option must find: give it an empty one
        if word in ("--config", "--topology") and argv[index + 1] not in ("line", "tree"):
            (tmp_path / argv[index + 1]).write_text("")
    try:
        _parse(argv)
    except click.exceptions.Exit:
        pass
    except click.UsageError as exc:
        pytest.fail(f"{line}: {exc.format_message()}")
