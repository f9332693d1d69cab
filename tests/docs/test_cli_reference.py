"""docs/cli.md covers every command and option, as the commands define them now."""

from __future__ import annotations

from .cli_reference import END, START, commands, current, render


def test_every_command_is_in_the_reference() -> None:
    text = current()
    paths = [path for path, _ in commands()]
    # decode ... hes (set, action, events, firmware, run, profile, rotate-broadcast-key, retire, worker),
    # lon (discover, commission, set, action), sim, meter, wireshark
    assert len(paths) == 29
    for path in paths:
        assert f"#### `{path}`" in text, path


def test_the_reference_is_up_to_date() -> None:
    assert current() == render().strip(), (
        f"docs/cli.md between {START} and {END} is out of date: "
        "run python tests/docs/cli_reference.py --write"
    )
