"""``cosemnet decode --json`` memory: linear in the input, and lines over ``--max-bytes`` refused unread.

Peak RSS is measured around a real ``cosemnet`` process (``RUSAGE_CHILDREN`` of a small parent
process that runs only that one child), against a tiny message as the baseline. The bounds are
generous; the exact figures go in the report of issue 9.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from cosemnet.cli.messages import inspect
from cosemnet.codec.axdr import length_bytes
from cosemnet.codec.jsonform import message_to_json, parse_hex, write_json

from .conftest import RunCli
from .corpus import ALL_VECTORS

_MEASURE = """
import resource, subprocess, sys
with open(sys.argv[1], "rb") as source:
    done = subprocess.run(sys.argv[2:], stdin=source, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def _peak_rss_kib(cosemnet: list[str], path: Path, *args: str) -> tuple[int, int]:
    """(exit status, peak RSS in KiB) of ``cosemnet decode ARGS -`` reading ``path``."""
    out = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(path), *cosemnet, "decode", *args, "-"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout.split()
    return int(out[0]), int(out[1])


def _profile_rows_apdu(rows: int) -> bytes:
    """A get-response with an array of ``rows`` structures {double-long-unsigned, long-unsigned}."""
    row = bytes.fromhex("0202" + "0600001234" + "1200FF")
    return bytes.fromhex("C401C100") + b"\x01" + length_bytes(rows) + row * rows


def test_decode_json_memory_stays_linear_in_the_line(cosemnet: list[str], tmp_path: Path) -> None:
    # Before the fix a 1 MB line of such an array peaked at ~+60 bytes of RSS per input character
    # (a JSON object per element, then one big string); now the decoded value dominates (~+10).
    tiny, large = tmp_path / "tiny.txt", tmp_path / "large.txt"
    tiny.write_text("C401C1000600001391\n")
    line = _profile_rows_apdu(50_000).hex() + "\n"  # 1 MB of hex
    large.write_text(line)
    status, baseline = _peak_rss_kib(cosemnet, tiny, "--json")
    assert status == 0
    status, peak = _peak_rss_kib(cosemnet, large, "--json")
    assert status == 0
    assert (peak - baseline) * 1024 <= 20 * len(line)


def test_decode_json_output_is_unchanged_by_streaming(run_cli: RunCli) -> None:
    rows = _profile_rows_apdu(3).hex()
    result = run_cli("decode", "--json", rows)
    assert result.returncode == 0
    document = json.loads(result.stdout)
    assert document["result"]["array"][2] == {
        "structure": [{"double-long-unsigned": 0x1234}, {"long-unsigned": 255}]
    }
    for text in ALL_VECTORS.values():
        message = inspect(parse_hex(text)).message
        pieces: list[str] = []
        write_json(message_to_json(message, stream=True), pieces.append)
        assert "".join(pieces) == json.dumps(message_to_json(message))


def test_line_over_max_bytes_is_refused_unread(cosemnet: list[str], tmp_path: Path, run_cli: RunCli) -> None:
    huge = tmp_path / "huge.txt"
    octets = 4 << 20  # 4 MiB octet-string: 8 MiB of hex, over the default 1 MiB
    with huge.open("w") as out:
        out.write("C401C100" + "09" + length_bytes(octets).hex())
        for _ in range(octets >> 16):
            out.write("AB" * (1 << 16))
        out.write("\n6203800100\n")
    tiny = tmp_path / "tiny.txt"
    tiny.write_text("6203800100\n")
    status, baseline = _peak_rss_kib(cosemnet, tiny, "--json")
    assert status == 0
    status, peak = _peak_rss_kib(cosemnet, huge, "--json", "--max-bytes", "65536")
    assert status == 1
    assert (peak - baseline) * 1024 < 4 << 20  # the 8 MiB line was read in pieces, never held whole

    with huge.open() as source:
        result = subprocess.run(
            [*cosemnet, "decode", "--json", "-"], stdin=source, capture_output=True, text=True, timeout=60
        )
    assert result.returncode == 1
    error, after = (json.loads(line) for line in result.stdout.splitlines())
    assert error["error"]["kind"] == "size" and "--max-bytes" in error["error"]["reason"]
    assert error["error"]["line"] == 1
    assert after["apdu"] == "RLRQ"  # the next line still decodes

    tree = run_cli("decode", "--max-bytes", "4", "6203800100", "C501C100")
    assert tree.returncode == 1
    assert tree.stderr.strip() == "error: message longer than 4 bytes (--max-bytes) at offset 0 [message 1]"
    assert "SetResponseNormal" in tree.stdout
