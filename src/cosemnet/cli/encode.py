"""``cosemnet encode``: the JSON form of ``cosemnet decode --json`` back to hex."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator

import click

from cosemnet.cli.messages import encode_lon_message_json
from cosemnet.cli.params import EXIT_PARTIAL, report_error, user_errors
from cosemnet.codec.jsonform import JsonFormError, encode_message_json

EPILOG = """\b
Examples:
  cosemnet decode --json - < capture.txt | cosemnet encode      (prints the same bytes again)
  cosemnet encode '{"apdu": "RLRQ", "reason": "NORMAL"}'
  cosemnet encode '{"apdu": "GetRequestNormal", "invoke_id": 1, "cosem_attribute_descriptor":
      {"class_id": 8, "instance_id": "0-0:1.0.0*255", "attribute_id": 2}}'

\b
Input: one JSON object per line (stdin, or the arguments): an APDU ({"apdu": "<ClassName>",
...fields}) or a wrapper frame ({"wrapper": {...}, "apdu": {...}}), as cosemnet decode --json
writes them (docs/cli.md describes the form). Keys the decoder adds for people ("decrypted") are
ignored: a ciphered APDU is re-encoded from its envelope, never re-encrypted.
Output: one line of upper-case hex per input line. A line that cannot be encoded prints
"error: line N: <where>: <reason>" on stderr and nothing on stdout; the exit status is then 1
(2 for a usage error, 130 when interrupted). Input that is not text is one error line, not a traceback.
"""


def _documents(args: tuple[str, ...]) -> Iterator[tuple[int, str]]:
    if not args or args == ("-",):
        for number, line in enumerate(sys.stdin, 1):
            text = line.strip()
            if text:
                yield number, text
    else:
        yield from enumerate(args, 1)


@click.command("encode", epilog=EPILOG, short_help="Turn the JSON form back into hex bytes.")
@click.argument("documents", nargs=-1, metavar="[JSON... | -]")
@click.option("--lower", is_flag=True, help="Print lower-case hex.")
def encode_command(documents: tuple[str, ...], lower: bool) -> None:
    """Encode APDUs and wrapper frames given in the JSON form and print their bytes as hex.

    Reads one JSON object per line from stdin when no JSON argument (or "-") is given.
    """
    failed = False
    out = sys.stdout
    with user_errors():
        try:
            for number, text in _documents(documents):
                raw = _encode_one(number, text)
                if raw is None:
                    failed = True
                    continue
                text_out = raw.hex()
                out.write((text_out if lower else text_out.upper()) + "\n")
        except UnicodeDecodeError as exc:
            failed = True
            report_error(f"the input is not text ({exc.reason} at byte {exc.start})")
        out.flush()
    if failed:
        sys.exit(EXIT_PARTIAL)


def _encode_one(number: int, text: str) -> bytes | None:
    """The bytes of one JSON document, or None after reporting why it cannot be encoded."""
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        click.echo(f"error: line {number}: not JSON: {exc.msg} at column {exc.colno}", err=True)
        return None
    except RecursionError:  # json's decoder refuses documents nested about 1,000 deep this way
        click.echo(f"error: line {number}: JSON nested too deeply", err=True)
        return None
    if isinstance(obj, dict) and set(obj) == {"error"}:
        reason = obj["error"].get("reason", "") if isinstance(obj["error"], dict) else ""
        click.echo(f"error: line {number}: is a decode error ({reason}); nothing to encode", err=True)
        return None
    try:
        if isinstance(obj, dict) and obj.get("profile") in ("lon", "cnip"):
            return encode_lon_message_json(obj)  # a 14908-1 frame or CN/IP packet (decode --profile)
        return encode_message_json(obj)
    except JsonFormError as exc:
        click.echo(f"error: line {number}: {exc}", err=True)
        return None
