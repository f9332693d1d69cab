"""``cosemnet decode``: hex in, a named tree or JSON out."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterator
from typing import TextIO

import click
from rich.console import Console

from cosemnet.cli.logs import register_secrets
from cosemnet.cli.lon_tree import LonTreeExtension
from cosemnet.cli.messages import (
    PROFILES,
    DecodedMessage,
    Failure,
    Keys,
    LonMessage,
    inspect,
    lon_message_to_json,
)
from cosemnet.cli.osgp_decode import open_lon_message
from cosemnet.cli.params import EXIT_PARTIAL, report_error, user_errors
from cosemnet.cli.tree import TreeBuilder, TreeOptions
from cosemnet.codec.jsonform import JsonFormError, JsonObject, message_to_json, parse_hex, write_json
from cosemnet.codec.jsonform import decode_nested_apdu as _decode_nested
from cosemnet.errors import CosemnetError, DecodeError

_log = logging.getLogger(__name__)

EPILOG = """\b
Examples:
  cosemnet decode C001C1000100002B0100FF0200
  cosemnet decode "62 03 80 01 00"
  cosemnet decode --json C401C1000600001391
  cosemnet decode - < capture.txt                  (one hex message per line)
  cosemnet decode --json - < capture.txt | cosemnet encode     (gives the bytes back)
  cosemnet decode --ek 000102030405060708090A0B0C0D0E0F --ak D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF \\
      --system-title 4D4D4D0000BC614E C81E3001234567411312FF935A47566827C467BC7D825C3BE4A77C3FCC056B6B
  cosemnet decode 00090182018512030D001001C001C1000100002B0100FF02002413     (a 14908-1 frame)

\b
Input: APDUs (xDLMS, ACSE, ciphered envelopes) or IEC 62056-4-7 wrapper frames (detected by their
version 0x0001), as hex; spaces, colons and 0x prefixes are ignored. Blank lines and lines
starting with # are skipped.
IEC 62056-8-8: with --profile auto (the default) a CN/IP packet is recognised by its header
(version 1, length field = input length) and an ISO/IEC 14908-1 power-line frame by a valid CRC-16;
anything else is DLMS. The tree shows the frame's layers down to the ADP PDU and the DLMS APDU.
Exit status: 0 when every message decoded (and decrypted), 1 otherwise, 2 for a usage error, 130 when
interrupted; the error of each failed message is one line: "error: <reason> at offset N (expected ...)"
on stderr, or with --json an {"error": {"reason", "offset", "expected", "kind", "input", "line"}} object
on stdout. Input that cannot be read (stdin not text, an unreadable file) is one such error too
({"error": {"reason", "kind": "input"|"os"}} with --json), never a traceback.
A message longer than --max-bytes (default 1 MiB) is refused unread: one such error, kind "size",
with an empty "input".
"""


def _hex_option(
    what: str, sizes: tuple[int, ...]
) -> Callable[[click.Context, click.Parameter, str | None], bytes | None]:
    """A click callback turning a hex option into bytes of one of ``sizes`` (never echoes the value)."""

    def convert(ctx: click.Context, param: click.Parameter, value: str | None) -> bytes | None:
        if value is None:
            return None
        try:
            raw = parse_hex(value)
        except JsonFormError:
            raise click.BadParameter(f"{what} must be hex digits") from None
        if len(raw) not in sizes:
            raise click.BadParameter(f"{what} must be {' or '.join(map(str, sizes))} bytes, not {len(raw)}")
        return raw

    return convert


_KEY = _hex_option("a key", (16, 32))
_TITLE = _hex_option("a system title", (8,))
_OSGP_KEY = _hex_option("an OSGP-AES-128-PSK key", (16,))
_NODE_ID = _hex_option("a unique node ID", (6,))


DEFAULT_MAX_BYTES = 1 << 20  # see docs/decisions/0041
"""``--max-bytes``: longer messages are refused. A real APDU or frame is at most about 64 KiB; the memory
a decoded message takes grows linearly with its size (a few times the length of its hex line)."""

_CHARS_PER_BYTE = 6
"""Characters a line may spend on one byte of input before it is refused unread (``0xAB, ``)."""


class _TooLong:
    """A line longer than ``--max-bytes`` allows, skipped without keeping it in memory."""


def _read_lines(stream: TextIO, limit: int) -> Iterator[str | _TooLong]:
    """The stripped lines of ``stream``; a line of more than ``limit`` characters is read in pieces and
    dropped. (Only the stripped copy of a line is kept while it is decoded.)"""
    while True:
        line = stream.readline(limit + 1)
        if not line:
            return
        if len(line) <= limit or line.endswith("\n"):
            line = line.strip()
            yield line
            continue
        while line and not line.endswith("\n"):
            line = stream.readline(1 << 16)
        yield _TooLong()


def _messages(args: tuple[str, ...], max_bytes: int) -> Iterator[tuple[int, str | _TooLong]]:
    """(line number, text) of every message: the arguments, or stdin lines for ``-``."""
    number = 0
    for arg in args:
        if arg == "-":
            for line in _read_lines(sys.stdin, max_bytes * _CHARS_PER_BYTE + 64):
                if not line or (isinstance(line, str) and line.startswith("#")):
                    continue
                number += 1
                yield number, line
        else:
            number += 1
            yield number, arg


@click.command("decode", epilog=EPILOG, short_help="Show hex APDUs and frames as a named tree or JSON.")
@click.argument("messages", nargs=-1, required=True, metavar="HEX... | -")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per message instead of a tree.")
@click.option("--ek", callback=_KEY, metavar="HEX", help="Global unicast encryption key (block cipher key).")
@click.option("--ak", callback=_KEY, metavar="HEX", help="Authentication key.")
@click.option(
    "--broadcast-key", callback=_KEY, metavar="HEX", help="Global broadcast encryption key (SC bit 6)."
)
@click.option(
    "--dedicated-key", callback=_KEY, metavar="HEX", help="Dedicated key (ded- and general-ded-ciphering)."
)
@click.option(
    "--kek", callback=_KEY, metavar="HEX", help="Master key (KEK) for general-ciphering with a wrapped key."
)
@click.option(
    "--system-title",
    callback=_TITLE,
    metavar="HEX",
    help="Sender's system title for service-specific ciphered APDUs (glo-/ded-), which carry none. "
    "Default: the AP-title of the enclosing AARQ/AARE.",
)
@click.option(
    "--osgp-key",
    callback=_OSGP_KEY,
    metavar="HEX",
    help="LON: the OSGP-AES-128-PSK session or domain key of a protected ADP PDU (suite 1).",
)
@click.option(
    "--osgp-sender",
    callback=_NODE_ID,
    metavar="HEX",
    help="LON: the sender's 6-byte unique node ID (part of the OSGP nonce), with --osgp-key.",
)
@click.option("--full", is_flag=True, help="Tree: show every array element and every byte.")
@click.option(
    "--max-bytes",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_BYTES,
    show_default=True,
    help="Refuse (one error, exit status 1) a message longer than this many bytes.",
)
@click.option(
    "--profile",
    type=click.Choice(PROFILES),
    default="auto",
    show_default=True,
    help="dlms: APDU or wrapper frame; lon: ISO/IEC 14908-1 frame with CRC; cnip: CN/IP packet; "
    "auto: CN/IP by its header, 14908-1 by its CRC, else DLMS.",
)
def decode_command(
    messages: tuple[str, ...],
    as_json: bool,
    ek: bytes | None,
    ak: bytes | None,
    broadcast_key: bytes | None,
    dedicated_key: bytes | None,
    kek: bytes | None,
    system_title: bytes | None,
    osgp_key: bytes | None,
    osgp_sender: bytes | None,
    full: bool,
    max_bytes: int,
    profile: str,
) -> None:
    """Decode APDUs or wrapper frames given as hex and show them with names.

    The tree shows every field by its standard name, OBIS codes with their names, interface class
    names, enumeration names, COSEM data types, date-times, security headers and nested APDUs
    (ACSE user-information). With keys, ciphered APDUs are verified and decrypted and the plaintext
    APDU is shown under its envelope. HEX may be "-" to read one message per line from stdin.
    """
    keys = Keys(ek, ak, kek, broadcast_key, dedicated_key, system_title)
    register_secrets(ek, ak, kek, broadcast_key, dedicated_key, osgp_key)
    if (osgp_key is None) != (osgp_sender is None):
        raise click.BadParameter("give --osgp-key and --osgp-sender together", param_hint="--osgp-key")
    osgp = (osgp_key, osgp_sender) if osgp_key is not None and osgp_sender is not None else None
    console = tree_console()
    options = TreeOptions(None, None) if full else TreeOptions()
    failed = False
    with user_errors(as_json=as_json):
        try:
            for number, text in _messages(messages, max_bytes):
                failed = (
                    _decode_one(console, as_json, options, keys, profile, number, text, max_bytes, osgp)
                    or failed
                )
        except UnicodeDecodeError as exc:
            failed = True
            report_error(f"the input is not text ({exc.reason} at byte {exc.start})", as_json, "input")
        sys.stdout.flush()
    if failed:
        sys.exit(EXIT_PARTIAL)


def _decode_one(
    console: Console,
    as_json: bool,
    options: TreeOptions,
    keys: Keys,
    profile: str,
    number: int,
    text: str | _TooLong,
    max_bytes: int,
    osgp: tuple[bytes, bytes] | None = None,
) -> bool:
    """Decode and show one message; True when it failed (the failure is reported)."""
    data = _message_bytes(text, max_bytes)
    if isinstance(data, Failure):
        _report(as_json, data, text if isinstance(text, str) and data.kind != "size" else "", number)
        return True
    try:
        decoded = inspect(data, keys, profile)
        _log.debug(
            "decoded message %d",
            number,
            extra={"event": "decode.message", "line": number, "length": len(data), "kind": _kind(decoded)},
        )
        failures = _show(console, as_json, options, decoded, osgp)
    except DecodeError as exc:
        failures = [Failure(exc.reason, exc.offset, exc.expected, "decode")]
    except CosemnetError as exc:  # not expected from a decoder, but never a traceback for the user
        failures = [Failure(str(exc), 0, "", "decode")]
    for failure in failures[:1] if as_json else failures:
        _log.info(
            "message %d failed: %s", number, failure.reason, extra={"event": "decode.failure", "line": number}
        )
        _report(as_json, failure, data.hex(), number)
    return bool(failures)


def _kind(decoded: DecodedMessage) -> str:
    return type(decoded.message).__name__


def _message_bytes(text: str | _TooLong, max_bytes: int) -> bytes | Failure:
    """The bytes of one message, or why it is refused."""
    too_long = Failure(f"message longer than {max_bytes} bytes (--max-bytes)", 0, "", "size")
    if isinstance(text, _TooLong) or len(text) > max_bytes * _CHARS_PER_BYTE + 64:
        return too_long
    try:
        data = parse_hex(text)
    except JsonFormError:
        return Failure("input is not hex", 0, "hex digits", "input")
    return too_long if len(data) > max_bytes else data


def _show(
    console: Console,
    as_json: bool,
    options: TreeOptions,
    decoded: DecodedMessage,
    osgp: tuple[bytes, bytes] | None = None,
) -> list[Failure]:
    """Print one decoded message (JSON: only when nothing failed); return its failures."""
    opened = None
    if osgp is not None and isinstance(decoded.message, LonMessage):
        opened = open_lon_message(decoded.message, *osgp)
        if opened is not None and not opened.verified:
            decoded.failures.append(
                Failure(f"OSGP envelope: {opened.reason}", 0, "authentic PDU", "security")
            )
    if as_json:
        if not decoded.failures:
            out = _to_json(decoded)
            if opened is not None:
                envelope: JsonObject = opened.to_json()
                if opened.apdu is not None:
                    envelope["dlms"] = message_to_json(opened.apdu)
                out["osgp"] = envelope
            write_json(out, sys.stdout.write)
            sys.stdout.write("\n")
    elif isinstance(decoded.message, LonMessage):
        message = decoded.message
        extension = LonTreeExtension(message)
        builder = TreeBuilder(options, _decode_nested, decoded.decryption_for, extension)
        top = message.cnip if message.cnip is not None else message.frame
        console.print(builder.apdu_tree(top))
        if opened is not None:
            console.print(opened.text())
            if opened.apdu is not None:
                console.print(
                    TreeBuilder(options, _decode_nested, decoded.decryption_for).apdu_tree(opened.apdu)
                )
    else:
        builder = TreeBuilder(options, _decode_nested, decoded.decryption_for)
        console.print(builder.apdu_tree(decoded.message))
    return decoded.failures


def tree_console() -> Console:
    """A console for trees: the terminal's width, or a wide one when writing to a pipe or a file."""
    probe = Console()
    if probe.is_terminal:
        return Console(highlight=False)
    return Console(highlight=False, width=max(probe.width, 160))


def _to_json(decoded: DecodedMessage) -> JsonObject:
    def annotate(obj: object) -> JsonObject | None:
        result = decoded.decryption_for(obj)
        if result is None or result.apdu is None:
            return None
        return {"decrypted": message_to_json(result.apdu, annotate=annotate, stream=True)}

    if isinstance(decoded.message, LonMessage):
        return lon_message_to_json(decoded.message, annotate=annotate, stream=True)
    return message_to_json(decoded.message, annotate=annotate, stream=True)


def _report(as_json: bool, failure: Failure, text: str, number: int) -> None:
    if as_json:
        error = {
            "reason": failure.reason,
            "offset": failure.offset,
            "expected": failure.expected,
            "kind": failure.kind,
            "input": text,
            "line": number,
        }
        print(json.dumps({"error": error}))
    else:
        sys.stdout.flush()
        click.echo(f"error: {failure.text()} [message {number}]", err=True)
