"""Entry point of the ``cosemnet`` command (``pyproject.toml``: ``cosemnet = "cosemnet.cli.main:main"``)."""

from __future__ import annotations

import click

from cosemnet import __version__
from cosemnet.cli.decode import decode_command
from cosemnet.cli.demo import demo_command
from cosemnet.cli.encode import encode_command
from cosemnet.cli.hes import hes_group
from cosemnet.cli.logs import LOG_FORMAT_ENV, LOG_FORMATS, LOG_LEVEL_ENV, configure_logging, verbosity_level
from cosemnet.cli.lon import lon_group
from cosemnet.cli.meter import meter_group
from cosemnet.cli.read import objects_command, profile_command, read_command
from cosemnet.cli.sim import sim_group
from cosemnet.cli.wireshark import wireshark_group

EPILOG = """\b
Examples:
  cosemnet demo                                   a tour of what the stack does
  cosemnet decode C001C1000100002B0100FF0200      an APDU as a tree with names
  cosemnet decode --json - < capture.txt | cosemnet encode
  cosemnet decode --ek KEY --ak KEY --system-title 4D4D4D0000BC614E C81E30...
  cosemnet -vv --log-format json read 127.0.0.1 1-0:1.8.0      debug log as JSON lines on stderr
  cosemnet wireshark install                      the Lua dissector for Wireshark and tshark

\b
Logging: warnings by default, -v info, -vv debug, -q errors only (or COSEMNET_LOG_LEVEL=debug|info|...);
--log-format text|json (or COSEMNET_LOG_FORMAT). Logs go to stderr and never contain keys.

Run "cosemnet COMMAND --help" for the options of each command.
"""

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 110}


@click.group(context_settings=CONTEXT_SETTINGS, epilog=EPILOG)
@click.version_option(__version__, "-V", "--version", prog_name="cosemnet", message="%(prog)s %(version)s")
@click.option("-v", "--verbose", count=True, help="More log output on stderr: -v info, -vv debug.")
@click.option("-q", "--quiet", is_flag=True, help="Log errors only.")
@click.option(
    "--log-format",
    type=click.Choice(LOG_FORMATS),
    default="text",
    envvar=LOG_FORMAT_ENV,
    show_default=True,
    show_envvar=True,
    help="Log lines as text or as one JSON object per line.",
)
def cli(verbose: int, quiet: bool, log_format: str) -> None:
    """cosemnet: a DLMS/COSEM stack (IEC 62056) for smart-meter neighbourhood networks.

    Decode and encode DLMS/COSEM APDUs and wrapper frames, decrypt ciphered APDUs, and run the demo.
    """
    try:
        level = verbosity_level(verbose, quiet)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=LOG_LEVEL_ENV) from None
    configure_logging(level, log_format)


cli.add_command(decode_command)
cli.add_command(encode_command)
cli.add_command(demo_command)
cli.add_command(read_command)
cli.add_command(objects_command)
cli.add_command(profile_command)
cli.add_command(meter_group)
cli.add_command(hes_group)
cli.add_command(lon_group)
cli.add_command(sim_group)
cli.add_command(wireshark_group)


def main() -> None:
    """Run the command line (click exits with the command's status)."""
    cli(prog_name="cosemnet")


__all__ = ["cli", "main"]
