"""``cosemnet wireshark``: where the shipped Lua dissector is, and installing it for Wireshark and tshark."""

from __future__ import annotations

import os
import shutil
import sys
from importlib import resources
from pathlib import Path

import click

from cosemnet.cli.params import user_errors

DISSECTOR_NAME = "cosemnet.lua"

EPILOG = """\b
Examples:
  cosemnet wireshark install                 copies cosemnet.lua to ~/.local/lib/wireshark/plugins
  cosemnet wireshark install --dir /usr/lib/x86_64-linux-gnu/wireshark/plugins
  tshark -X lua_script:$(cosemnet wireshark path) -r capture.pcap -V      without installing

\b
The dissector decodes the IEC 62056-4-7 wrapper on TCP and UDP ports 4059 and 61616 (version, wPorts,
length; the APDU's tag by name, its invoke-id, the class/OBIS/attribute of GET, SET and ACTION
requests) and cosemnet's IEC 62056-8-8 adaptation layer in ISO/IEC 14908-1 application messages with
code 0x0D (a post-dissector on Wireshark's LON dissector; CN/IP on UDP 1628). docs/cli.md has more.
"""


def dissector_path() -> Path:
    """The Lua dissector in the installed package."""
    return Path(str(resources.files("cosemnet.trace") / "wireshark" / DISSECTOR_NAME))


def personal_plugin_dir() -> Path:
    """Wireshark's personal plugin folder: %APPDATA%\\Wireshark\\plugins on Windows, else
    ~/.local/lib/wireshark/plugins (Lua plugins are loaded from its top level)."""
    if sys.platform == "win32" and os.environ.get("APPDATA"):
        return Path(os.environ["APPDATA"]) / "Wireshark" / "plugins"
    return Path.home() / ".local" / "lib" / "wireshark" / "plugins"


@click.group("wireshark", epilog=EPILOG, short_help="The Wireshark Lua dissector: path and install.")
def wireshark_group() -> None:
    """The Wireshark / tshark Lua dissector shipped with cosemnet (tshark has no DLMS dissector)."""


@wireshark_group.command("path")
def path_command() -> None:
    """Print the path of the shipped cosemnet.lua.

    \b
    Example:
      tshark -X lua_script:$(cosemnet wireshark path) -r capture.pcap -V
    """
    click.echo(str(dissector_path()))


@wireshark_group.command("install")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Plugin folder to copy to (created if missing). Default: the personal plugin folder "
    "(~/.local/lib/wireshark/plugins).",
)
def install_command(directory: Path | None) -> None:
    """Copy cosemnet.lua into Wireshark's plugin folder (Wireshark and tshark load it at start).

    \b
    Examples:
      cosemnet wireshark install
      cosemnet wireshark install --dir /usr/lib/x86_64-linux-gnu/wireshark/plugins
    """
    target_dir = personal_plugin_dir() if directory is None else directory
    with user_errors(context="cannot install the dissector"):
        target_dir.mkdir(parents=True, exist_ok=True)
        target = target_dir / DISSECTOR_NAME
        shutil.copyfile(dissector_path(), target)
    click.echo(f"installed {target}")
