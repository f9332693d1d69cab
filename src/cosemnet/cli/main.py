"""Entry point of the ``cosemnet`` command (``pyproject.toml``: ``cosemnet = "cosemnet.cli.main:main"``)."""

from __future__ import annotations

import click

from cosemnet import __version__
from cosemnet.cli.decode import decode_command
from cosemnet.cli.demo import demo_command
from cosemnet.cli.encode import encode_command
from cosemnet.cli.hes import hes_group
from cosemnet.cli.meter import meter_group
from cosemnet.cli.read import objects_command, profile_command, read_command
from cosemnet.cli.sim import sim_group

EPILOG = """\b
Examples:
  cosemnet demo                                   a tour of what the stack does
  cosemnet decode C001C1000100002B0100FF0200      an APDU as a tree with names
  cosemnet decode --json - < capture.txt | cosemnet encode
  cosemnet decode --ek KEY --ak KEY --system-title 4D4D4D0000BC614E C81E30...

Run "cosemnet COMMAND --help" for the options of each command.
"""

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 110}


@click.group(context_settings=CONTEXT_SETTINGS, epilog=EPILOG)
@click.version_option(__version__, "-V", "--version", prog_name="cosemnet", message="%(prog)s %(version)s")
def cli() -> None:
    """cosemnet: a DLMS/COSEM stack (IEC 62056) for smart-meter neighbourhood networks.

    Decode and encode DLMS/COSEM APDUs and wrapper frames, decrypt ciphered APDUs, and run the demo.
    """


cli.add_command(decode_command)
cli.add_command(encode_command)
cli.add_command(demo_command)
cli.add_command(read_command)
cli.add_command(objects_command)
cli.add_command(profile_command)
cli.add_command(meter_group)
cli.add_command(hes_group)
cli.add_command(sim_group)


def main() -> None:
    """Run the command line (click exits with the command's status)."""
    cli(prog_name="cosemnet")


__all__ = ["cli", "main"]
