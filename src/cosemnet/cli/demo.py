"""``cosemnet demo``: a self-contained tour of what the stack does today.

1. builds a GET request for the clock and shows its bytes and its tree;
2. ciphers it with the Green Book suite-0 keys (general-glo-ciphering), shows the envelope and
   decrypts it back; checks the published suite-0 vectors byte for byte;
3. decodes the published AARQ/AARE vectors (and deciphers the ciphered AARQ);
4. encodes and decodes a 1,000-row profile buffer and prints the rates;
5. checks that every message above survives ``decode --json | encode`` unchanged;
6. IEC 62056-8-8: a data concentrator reads 20 simulated OSGP meters over a simulated 5.4 kbit/s power-line
   channel, by logical name and by short name / ANSI C12.19 table BT23 (``demo_lon``);
7. IEC TS 62056-8-20: 300 simulated mesh meters and a head-end on real UDP sockets (::1): registration,
   migration of 10 % of the meters, a ciphered read of every meter in its existing association, and one
   group request answered by its members within the response window (``demo_mesh``).

Runs in a few seconds; every check is summed up in ``DemoReport.ok`` (exit status 1 if any failed).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from cosemnet import __version__
from cosemnet.cli.decode import tree_console
from cosemnet.cli.demo_lon import run_lon_demo
from cosemnet.cli.demo_mesh import run_mesh_demo
from cosemnet.cli.messages import Keys, inspect
from cosemnet.cli.tree import TreeBuilder
from cosemnet.codec.apdu import decode_apdu
from cosemnet.codec.ciphered import ServiceSpecificCiphered
from cosemnet.codec.datetime import CosemDateTime
from cosemnet.codec.jsonform import decode_nested_apdu, encode_message_json, message_to_json
from cosemnet.codec.obis import Obis
from cosemnet.codec.types import DataValue, DoubleLongUnsigned, Unsigned
from cosemnet.codec.xdlms.common import CosemAttributeDescriptor
from cosemnet.codec.xdlms.get import GetRequestNormal, GetResponseNormal
from cosemnet.security.ciphering import SecurityContext, encrypt, protect_apdu, unprotect_apdu
from cosemnet.security.control import SecurityPolicy
from cosemnet.security.counters import MemoryInvocationCounter
from cosemnet.security.keys import KeyRole, KeySet
from cosemnet.security.suite import SecuritySuite

# Green Book suite-0 example keys and system titles (public test vectors, /work/shared/spec-notes.md).
GREEN_BOOK_EK = bytes.fromhex("000102030405060708090A0B0C0D0E0F")
GREEN_BOOK_AK = bytes.fromhex("D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF")
SERVER_SYSTEM_TITLE = bytes.fromhex("4D4D4D0000BC614E")
CLIENT_SYSTEM_TITLE = bytes.fromhex("4D4D4D0000000001")
GREEN_BOOK_IC = 0x01234567
GREEN_BOOK_PLAINTEXT = bytes.fromhex("C0010000080000010000FF0200")
GREEN_BOOK_VECTORS: dict[int, str] = {
    0x10: "C81E1001234567C0010000080000010000FF020006725D910F9221D263877516",
    0x20: "C8122001234567411312FF935A47566827C467BC",
    0x30: "C81E3001234567411312FF935A47566827C467BC7D825C3BE4A77C3FCC056B6B",
}

ACSE_VECTORS: tuple[tuple[str, str], ...] = (
    ("AARQ, LN, no security", "601DA109060760857405080101BE10040E01000000065F1F0400001E1DFFFF"),
    (
        "AARE, accepted",
        "6129A109060760857405080101A203020100A305A103020100BE10040E0800065F1F040000501F01F40007",
    ),
    (
        "AARQ, HLS-GMAC",
        "6036A1090607608574050801018A0207808B0760857405080205AC0A80084B35366956616759"
        "BE10040E01000000065F1F0400007E1F04B0",
    ),
    (
        "AARE, HLS-GMAC",
        "6142A109060760857405080101A203020100A305A10302010E88020780890760857405080205AA0A8008503677524A323146"
        "BE10040E0800065F1F040000501F01F40007",
    ),
    (
        "AARQ, ciphered (glo-initiate-request)",
        "6066A109060760857405080103A60A04084D4D4D0000BC614E8A0207808B0760857405080201AC0A80083132333435363738"
        "BE34043221303001234567801302FF8A7874133D414CED25B42534D28DB0047720606B175BD52211BE6841DB204D39EE6FDB"
        "8E356855",
    ),
    ("RLRQ", "6203800100"),
)

PROFILE_ROWS = 1000


@dataclass(slots=True)
class DemoReport:
    """What the demo found; printed with rich or, with ``--json``, as one JSON object."""

    get_request: str = ""
    general_glo_ciphering: str = ""
    decrypts_back: bool = False
    green_book_vectors: dict[str, bool] = field(default_factory=dict)
    acse: list[dict[str, Any]] = field(default_factory=list)
    profile_buffer: dict[str, Any] = field(default_factory=dict)
    json_round_trips: dict[str, int] = field(default_factory=dict)
    networks: dict[str, dict[str, Any]] = field(default_factory=dict)
    """The neighbourhood-network segments ("lon", later "mesh"), each with its own "ok"."""

    @property
    def ok(self) -> bool:
        return (
            self.decrypts_back
            and all(self.green_book_vectors.values())
            and all(entry["round_trip"] for entry in self.acse)
            and self.profile_buffer.get("round_trip", False)
            and self.json_round_trips.get("failed", 1) == 0
            and all(segment.get("ok", False) for segment in self.networks.values())
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "version": __version__,
            "ok": self.ok,
            "get_request": self.get_request,
            "general_glo_ciphering": self.general_glo_ciphering,
            "decrypts_back": self.decrypts_back,
            "green_book_vectors": self.green_book_vectors,
            "acse": self.acse,
            "profile_buffer": self.profile_buffer,
            "json_round_trips": self.json_round_trips,
            "networks": self.networks,
        }


def _rate(func: Callable[[], object], budget: float = 0.2) -> float:
    """Calls per second of ``func``, measured for about ``budget`` seconds."""
    func()
    count = 0
    start = time.perf_counter()
    elapsed = 0.0
    while elapsed < budget:
        func()
        count += 1
        elapsed = time.perf_counter() - start
    return count / elapsed


def _profile_buffer(rows: int) -> GetResponseNormal:
    """A load-profile style buffer: {date-time octet-string, status unsigned, +A, -A}."""
    values: list[DataValue] = []
    for i in range(rows):
        minutes = i * 15
        stamp = CosemDateTime(
            2024, 3, 1 + minutes // 1440, 0xFF, minutes // 60 % 24, minutes % 60, 0, 0, -60, 0
        )
        values.append(
            (stamp.to_bytes(), Unsigned(0), DoubleLongUnsigned(1_000_000 + 25 * i), DoubleLongUnsigned(7 * i))
        )
    return GetResponseNormal(invoke_id=1, result=values)


Say = Callable[..., None]
"""Prints to the console (or nothing when the demo runs quietly)."""


def run_demo(console: Console | None) -> DemoReport:
    """Run every step; print to ``console`` when given. Returns what was found."""
    report = DemoReport()
    say: Say = console.print if console is not None else (lambda *a, **k: None)
    messages: list[bytes] = []
    get_bytes = _demo_get(report, say, messages)
    keys = _demo_ciphering(report, say, messages, get_bytes)
    _demo_acse(report, say, messages, keys)
    _demo_profile_buffer(report, say, messages)
    _demo_json(report, say, messages)
    report.networks["lon"] = run_lon_demo(console, console is None)  # 6. LON segment (IEC 62056-8-8)
    report.networks["mesh"] = run_mesh_demo(console, console is None)  # 7. mesh (IEC TS 62056-8-20)
    say("\nTry: [bold]cosemnet decode --help[/], [bold]cosemnet decode " + ACSE_VECTORS[0][1] + "[/]")
    return report


def _demo_get(report: DemoReport, say: Say, messages: list[bytes]) -> bytes:
    """Step 1: a GET request for the clock time."""
    builder = TreeBuilder(decode_nested=decode_nested_apdu)
    # 1. GET request --------------------------------------------------------------------------------
    get = GetRequestNormal(
        invoke_id=1, cosem_attribute_descriptor=CosemAttributeDescriptor(8, Obis("0-0:1.0.0*255"), 2)
    )
    get_bytes = get.encode()
    messages.append(get_bytes)
    report.get_request = get_bytes.hex().upper()
    say(f"[bold]cosemnet {__version__}[/] demo\n")
    say("[bold underline]1. A GET request for the clock time[/] (Clock, 0-0:1.0.0*255, attribute 2)")
    say(f"bytes: [yellow]{report.get_request}[/]")
    say(builder.apdu_tree(get))

    return get_bytes


def _demo_ciphering(report: DemoReport, say: Say, messages: list[bytes], get_bytes: bytes) -> Keys:
    """Step 2: the GET request protected with the Green Book keys, and the published vectors."""
    # 2. Ciphering ----------------------------------------------------------------------------------
    say(
        "\n[bold underline]2. Protected with the Green Book suite-0 keys[/]"
        " (general-glo-ciphering, authenticated and encrypted)"
    )
    client = SecurityContext(
        suite=SecuritySuite.SUITE_0,
        policy=SecurityPolicy.NOTHING,
        system_title=CLIENT_SYSTEM_TITLE,
        peer_system_title=SERVER_SYSTEM_TITLE,
        keys=KeySet(ek=GREEN_BOOK_EK, ak=GREEN_BOOK_AK),
        invocation_counters={KeyRole.GLOBAL_UNICAST: MemoryInvocationCounter(GREEN_BOOK_IC)},
    )
    ciphered = protect_apdu(get_bytes, client, "general-glo", security_control=0x30)
    messages.append(ciphered)
    report.general_glo_ciphering = ciphered.hex().upper()
    server = SecurityContext(
        suite=SecuritySuite.SUITE_0,
        policy=SecurityPolicy.NOTHING,
        system_title=SERVER_SYSTEM_TITLE,
        peer_system_title=CLIENT_SYSTEM_TITLE,
        keys=KeySet(ek=GREEN_BOOK_EK, ak=GREEN_BOOK_AK),
    )
    plaintext = unprotect_apdu(ciphered, server)[0]
    report.decrypts_back = plaintext == get_bytes
    keys = Keys(ek=GREEN_BOOK_EK, ak=GREEN_BOOK_AK)
    decoded = inspect(ciphered, keys)
    decrypting_builder = TreeBuilder(decode_nested=decode_nested_apdu, decryption=decoded.decryption_for)
    say(f"bytes: [yellow]{report.general_glo_ciphering}[/]")
    say(decrypting_builder.apdu_tree(decoded.message))
    say(f"the server decrypts it back to the GET request: {_mark(report.decrypts_back)}")

    for sc, vector in GREEN_BOOK_VECTORS.items():
        content = encrypt(
            sc, SERVER_SYSTEM_TITLE, GREEN_BOOK_IC, GREEN_BOOK_EK, GREEN_BOOK_AK, GREEN_BOOK_PLAINTEXT
        )
        ours = ServiceSpecificCiphered(0xC8, content).encode()
        report.green_book_vectors[f"SC {sc:02X}"] = ours == bytes.fromhex(vector)
        messages.append(ours)
    table = Table(
        title="Green Book suite-0 vectors (glo-get-request, system title 4D4D4D0000BC614E, IC 01234567)"
    )
    table.add_column("security control")
    table.add_column("published bytes")
    table.add_column("ours", justify="center")
    names = {0x10: "10 authenticated", 0x20: "20 encrypted", 0x30: "30 authenticated + encrypted"}
    for sc, vector in GREEN_BOOK_VECTORS.items():
        table.add_row(names[sc], vector, _mark(report.green_book_vectors[f"SC {sc:02X}"]))
    say(table)

    return keys


def _demo_acse(report: DemoReport, say: Say, messages: list[bytes], keys: Keys) -> None:
    """Step 3: the published ACSE vectors."""
    # 3. ACSE ---------------------------------------------------------------------------------------
    say("\n[bold underline]3. Published ACSE vectors[/]")
    table = Table()
    table.add_column("vector")
    table.add_column("decoded as")
    table.add_column("user-information")
    table.add_column("round trip", justify="center")
    for name, hex_text in ACSE_VECTORS:
        raw = bytes.fromhex(hex_text)
        messages.append(raw)
        apdu = decode_apdu(raw)
        round_trip = apdu.encode() == raw
        user_information = getattr(apdu, "user_information", None)
        nested = decode_nested_apdu(user_information) if user_information else None
        inner = type(nested).__name__ if nested is not None else "-"
        report.acse.append(
            {"name": name, "apdu": type(apdu).__name__, "user_information": inner, "round_trip": round_trip}
        )
        table.add_row(name, type(apdu).__name__, inner, _mark(round_trip))
    say(table)
    ciphered_aarq = bytes.fromhex(ACSE_VECTORS[4][1])
    decoded = inspect(ciphered_aarq, keys)
    say("The ciphered AARQ, deciphered with the Green Book keys (system title from calling-AP-title):")
    say(
        TreeBuilder(decode_nested=decode_nested_apdu, decryption=decoded.decryption_for).apdu_tree(
            decoded.message
        )
    )


def _demo_profile_buffer(report: DemoReport, say: Say, messages: list[bytes]) -> None:
    """Step 4: a load-profile buffer in a GET response, timed."""
    # 4. Profile buffer -----------------------------------------------------------------------------
    say(
        f"\n[bold underline]4. A {PROFILE_ROWS:,}-row profile buffer[/]"
        " in a GET response (date-time, status, +A, -A)"
    )
    response = _profile_buffer(PROFILE_ROWS)
    encoded = response.encode()
    messages.append(encoded)
    back = GetResponseNormal.decode(encoded)
    encode_rate = _rate(response.encode)
    decode_rate = _rate(lambda: GetResponseNormal.decode(encoded))
    report.profile_buffer = {
        "rows": PROFILE_ROWS,
        "bytes": len(encoded),
        "encode_per_second": round(encode_rate, 1),
        "decode_per_second": round(decode_rate, 1),
        "round_trip": back.encode() == encoded and back.result == response.result,
    }
    say(
        f"{len(encoded):,} bytes; encode {encode_rate:,.0f}/s ({encode_rate * PROFILE_ROWS:,.0f} rows/s), "
        f"decode {decode_rate:,.0f}/s ({decode_rate * PROFILE_ROWS:,.0f} rows/s); "
        f"round trip {_mark(report.profile_buffer['round_trip'])}"
    )


def _demo_json(report: DemoReport, say: Say, messages: list[bytes]) -> None:
    """Step 5: every message through decode --json | encode."""
    # 5. JSON round trip ----------------------------------------------------------------------------
    failed = 0
    for raw in messages:
        document = json.loads(json.dumps(message_to_json(inspect(raw).message)))
        if encode_message_json(document) != raw:
            failed += 1
    report.json_round_trips = {"messages": len(messages), "failed": failed}
    say(
        f"\n[bold underline]5. decode --json | encode[/]: {len(messages) - failed} of {len(messages)}"
        " messages "
        f"give back their exact bytes {_mark(failed == 0)}"
    )


def _mark(ok: bool) -> str:
    return "[green]✓[/]" if ok else "[bold red]✗[/]"


@click.command(
    "demo",
    short_help="A tour: build, cipher, decode and time DLMS/COSEM APDUs.",
    epilog="""\b
Examples:
  cosemnet demo
  cosemnet demo --json | python -m json.tool
""",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary instead of the tour.")
def demo_command(as_json: bool) -> None:
    """A tour of cosemnet: DLMS/COSEM APDUs, then both neighbourhood networks.

    Builds a GET request for the clock, protects it with the Green Book suite-0 keys and decrypts it
    back, checks the published suite-0 and ACSE vectors, encodes and decodes a 1,000-row profile
    buffer and prints the rates. Then a data concentrator reads 20 meters over a simulated LON/OSGP
    power line (by LN and by ANSI C12.19 tables), and a head-end registers, migrates, reads and
    group-addresses 300 mesh meters over UDP on ::1. Exits 1 if any check fails.
    """
    report = run_demo(None if as_json else tree_console())
    if as_json:
        print(json.dumps(report.to_json()))
    if not report.ok:
        raise SystemExit(1)
