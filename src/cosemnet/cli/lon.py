"""``cosemnet lon``: LON / OSGP network tools against a CN/IP segment (IEC 62056-8-8 Annex F).

``lon discover`` finds the unconfigured meters of a segment (F.4.3); ``lon commission`` discovers and
commissions them with the Annex F ATM manager (F.5.2) and reads each once. The segment is a CN/IP
(ISO/IEC 14908-4) UDP port, e.g. ``cosemnet sim lon --channel cnip --unconfigured`` (docs/decisions/
0110, 0111). The work itself is in :mod:`cosemnet.cli.lon_tool`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import socket
from pathlib import Path
from typing import Any, Final

import click
from rich.table import Table

from cosemnet.cli.decode import tree_console
from cosemnet.cli.lon_tool import (
    CommissionOptions,
    CommissionResult,
    DiscoverResult,
    Plan,
    commission,
    discover,
    stderr_progress,
)
from cosemnet.profiles.lon.addresses import SubnetNodeAddress
from cosemnet.profiles.lon.atm import MeterState
from cosemnet.profiles.lon.cnip import CNIP_PORT
from cosemnet.profiles.lon.cnip_transport import PeerAddress
from cosemnet.profiles.lon.osgp_aes.keys import KeyStore, KeyStoreError
from cosemnet.simulator.lon_segment import DOMAIN_ID, SECURITY_CHOICES, SECURITY_OSGP, address_text

KEK_ENVIRONMENT_VARIABLE: Final = "COSEMNET_OSGP_KEK"
UNIQUE_ID_LENGTH: Final = 6

EPILOG = """\b
Examples:
  cosemnet sim lon --channel cnip --unconfigured --meters 5 --port 16280   (in another terminal)
  cosemnet lon discover --segment 127.0.0.1:16280
  cosemnet lon discover --segment 127.0.0.1:16280 --json > found.json
  cosemnet lon commission --segment 127.0.0.1:16280 --test-keys --json
  cosemnet lon commission --segment 127.0.0.1:16280 --meters found.json --subnet 2 --keys keys.json
"""


@click.group("lon", epilog=EPILOG, short_help="LON / OSGP discovery and commissioning over CN/IP.")
def lon_group() -> None:
    """LON / OSGP network tools (IEC 62056-8-8 Annex F) against a CN/IP segment."""


# --------------------------------------------------------------------------------------------------
# Parameters


def parse_segment(text: str) -> PeerAddress:
    """``HOST[:PORT]`` (``[V6]:PORT`` for IPv6; port 1628 by default) -> a numeric (host, port)."""
    host, port_text = text, ""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else rest
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    try:
        port = int(port_text) if port_text else CNIP_PORT
    except ValueError:
        raise click.BadParameter(f"bad port {port_text!r}", param_hint="--segment") from None
    if not host or not 1 <= port <= 65535:
        raise click.BadParameter("expected HOST[:PORT] with a port 1..65535", param_hint="--segment")
    try:
        ipaddress.ip_address(host)
        return host, port
    except ValueError:
        pass
    try:
        info = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    except OSError:
        raise click.BadParameter(f"unknown host {host!r}", param_hint="--segment") from None
    return str(info[0][4][0]), port


def parse_domain(text: str) -> bytes:
    try:
        domain = bytes.fromhex(text)
    except ValueError:
        raise click.BadParameter("hex, e.g. 4c", param_hint="--domain") from None
    if len(domain) not in (1, 3, 6):
        raise click.BadParameter("a domain ID is 1, 3 or 6 bytes", param_hint="--domain")
    return domain


def _unique_id(text: str, where: str) -> bytes:
    try:
        uid = bytes.fromhex(text)
    except ValueError:
        uid = b""
    if len(uid) != UNIQUE_ID_LENGTH:
        raise click.BadParameter(
            f"{where}: {text!r} is not a 6-byte unique node ID (hex)", param_hint="--meters"
        )
    return uid


def _address(text: str, where: str) -> SubnetNodeAddress:
    subnet, _, node = text.partition("/")
    try:
        if 1 <= int(subnet) <= 255 and 1 <= int(node) <= 127:
            return SubnetNodeAddress(int(subnet), int(node))
    except ValueError:
        pass
    raise click.BadParameter(
        f"{where}: {text!r} is not SUBNET/NODE (1..255/1..127)", param_hint="--meters"
    ) from None


def parse_meters_file(path: str) -> dict[bytes, SubnetNodeAddress | None]:
    """The meters to commission: ``lon discover --json`` output, or lines ``UNIQUE_ID [SUBNET/NODE]``
    (``#`` starts a comment)."""
    try:
        text = Path(path).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise click.BadParameter(f"cannot read {path}: {exc}", param_hint="--meters") from None
    wanted: dict[bytes, SubnetNodeAddress | None] = {}
    if text.lstrip().startswith("{"):
        try:
            rows = json.loads(text)["meters"]
            for i, row in enumerate(rows):
                address = row.get("address")
                where = f"meter {i + 1}"
                wanted[_unique_id(str(row["unique_id"]), where)] = (
                    _address(address, where) if address else None
                )
        except (ValueError, KeyError, TypeError, AttributeError):
            raise click.BadParameter(f"{path}: not the JSON of lon discover", param_hint="--meters") from None
        return wanted
    for number, line in enumerate(text.splitlines(), 1):
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        if len(words) > 2:
            raise click.BadParameter(f"line {number}: UNIQUE_ID [SUBNET/NODE]", param_hint="--meters")
        where = f"line {number}"
        wanted[_unique_id(words[0], where)] = _address(words[1], where) if len(words) == 2 else None
    return wanted


def load_keys(path: str) -> KeyStore:
    text = os.environ.get(KEK_ENVIRONMENT_VARIABLE, "")
    try:
        kek = bytes.fromhex(text) if text else None
    except ValueError:
        raise click.BadParameter(f"{KEK_ENVIRONMENT_VARIABLE} is not hex", param_hint="--keys") from None
    if kek is not None and len(kek) != 16:
        raise click.BadParameter(f"{KEK_ENVIRONMENT_VARIABLE} must hold 16 bytes", param_hint="--keys")
    try:
        return KeyStore.load(path, kek)
    except KeyStoreError as exc:
        raise click.BadParameter(str(exc), param_hint="--keys") from None


def _segment_text(segment: PeerAddress) -> str:
    host = f"[{segment[0]}]" if ":" in segment[0] else segment[0]
    return f"{host}:{segment[1]}"


def _unreachable(segment: PeerAddress) -> click.ClickException:
    return click.ClickException(f"no CN/IP segment at {_segment_text(segment)} (ICMP port unreachable)")


segment_option = click.option(
    "--segment",
    required=True,
    metavar="HOST[:PORT]",
    help=f"The CN/IP segment's UDP port [port {CNIP_PORT}].",
)
domain_option = click.option(
    "--domain",
    default=DOMAIN_ID.hex(),
    show_default=True,
    help="The domain ID to work in (hex, 1/3/6 bytes).",
)
subnet_option = click.option(
    "--subnet", type=click.IntRange(1, 255), default=1, show_default=True, help="This tool is SUBNET/1."
)


# --------------------------------------------------------------------------------------------------
# lon discover


@lon_group.command("discover", epilog=EPILOG)
@segment_option
@domain_option
@subnet_option
@click.option("--timeout", type=click.FloatRange(0.1, 3600), default=10.0, show_default=True, help="Seconds.")
@click.option("--json", "as_json", is_flag=True, help='One JSON summary object (its meters in "meters").')
def discover_command(segment: str, domain: str, subnet: int, timeout: float, as_json: bool) -> None:
    """Find the unconfigured meters of a CN/IP segment (Annex F.4.3; commissions nothing).

    Queries (NM query ID, selector unconfigured, broadcast REQUEST) until two in a row find nobody
    new, and prints each meter's unique node ID (Neuron ID), program ID and address (none while
    unconfigured). Progress goes to stderr. Exits 0 when discovery settled, 1 when the timeout came
    first or the segment is unreachable, 2 on bad usage.
    """
    peer = parse_segment(segment)
    domain_id = parse_domain(domain)
    try:
        result = asyncio.run(discover(peer, domain_id, subnet, timeout, stderr_progress))
    except OSError as exc:
        raise click.ClickException(f"cannot use {_segment_text(peer)}: {exc.strerror or exc}") from None
    if not result.found and result.send_errors:
        raise _unreachable(peer)
    _show_discovered(peer, result, as_json)
    if not result.settled:
        raise SystemExit(1)


def _show_discovered(peer: PeerAddress, result: DiscoverResult, as_json: bool) -> None:
    meters = [d.to_json() for d in result.found.values()]
    if as_json:
        summary = {
            "segment": _segment_text(peer),
            "discovered": len(meters),
            "queries": result.rounds,
            "settled": result.settled,
            "seconds": round(result.seconds, 3),
            "meters": meters,
        }
        click.echo(json.dumps(summary))
        return
    table = Table(
        "unique node ID", "program ID", "address", title=f"unconfigured meters at {_segment_text(peer)}"
    )
    for meter in meters:
        table.add_row(meter["unique_id"], meter["program_id"], meter["address"] or "-")
    console = tree_console()
    console.print(table)
    console.print(f"{len(meters)} meter(s), {result.rounds} queries, {result.seconds:.2f} s")


# --------------------------------------------------------------------------------------------------
# lon commission


@lon_group.command("commission", epilog=EPILOG)
@segment_option
@click.option(
    "--meters",
    "meters_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="Commission only these meters: lon discover --json output, or lines UNIQUE_ID [SUBNET/NODE].",
)
@click.option("--all-discovered", is_flag=True, help="Commission every meter discovered (the default).")
@domain_option
@subnet_option
@click.option(
    "--keys",
    "keys_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="The meters' OSGP long-term keys (key file, mode 0600; RFC 3394-wrapped when COSEMNET_OSGP_KEK "
    "holds a 16-byte key in hex).",
)
@click.option("--test-keys", is_flag=True, help="The simulated meters' keys (derived from their IDs).")
@click.option(
    "--security",
    type=click.Choice(SECURITY_CHOICES),
    default=SECURITY_OSGP,
    show_default=True,
    help="none: no keys step, the null suite on the protected SAPs.",
)
@click.option("--timeout", type=click.FloatRange(1, 3600), default=120.0, show_default=True, help="Seconds.")
@click.option("--json", "as_json", is_flag=True, help="One JSON summary object.")
def commission_command(
    segment: str,
    meters_file: str | None,
    all_discovered: bool,
    domain: str,
    subnet: int,
    keys_file: str | None,
    test_keys: bool,
    security: str,
    timeout: float,
    as_json: bool,
) -> None:
    """Discover and commission the meters of a CN/IP segment (Annex F.5.2), then read each once.

    Each meter gets the domain, a subnet/node (--meters FILE, else the next free one in --subnet),
    group membership, node mode configured/online and (osgp-aes) its OSGP-AES-128-PSK secure channel
    and the domain key; then LN 1-0:1.8.0 is read on the public association. Progress goes to stderr.
    Exits 0 when every wanted meter was commissioned and read, 1 when some failed or the segment is
    unreachable, 2 on bad usage (including a bad key or meters file).
    """
    if meters_file is not None and all_discovered:
        raise click.UsageError("--meters and --all-discovered exclude each other")
    if keys_file is not None and test_keys:
        raise click.UsageError("--keys and --test-keys exclude each other")
    osgp = security == SECURITY_OSGP
    if osgp and keys_file is None and not test_keys:
        raise click.UsageError("--security osgp-aes needs --keys FILE or --test-keys")
    peer = parse_segment(segment)
    wanted = parse_meters_file(meters_file) if meters_file is not None else None
    keystore = (load_keys(keys_file) if keys_file is not None else KeyStore()) if osgp else None
    options = CommissionOptions(
        peer, parse_domain(domain), Plan(subnet, wanted), keystore, test_keys, timeout
    )
    try:
        result = asyncio.run(commission(options, stderr_progress))
    except OSError as exc:
        raise click.ClickException(f"cannot use {_segment_text(peer)}: {exc.strerror or exc}") from None
    if not result.manager.meters and not result.skipped and result.send_errors:
        raise _unreachable(peer)
    summary = commission_summary(peer, result)
    if as_json:
        click.echo(json.dumps(summary))
    else:
        _show_commissioned(summary)
    if summary["failed"] or not result.settled:
        raise SystemExit(1)


def commission_summary(peer: PeerAddress, result: CommissionResult) -> dict[str, Any]:
    manager = result.manager
    meters: list[dict[str, Any]] = []
    failed = 0
    for record in manager.meters.values():
        read = result.reads.get(record.unique_id)
        on_network = record.state in (MeterState.COMMISSIONED, MeterState.IN_SERVICE)
        ok = on_network and read is not None and not read.errors
        failed += 0 if ok else 1
        meters.append(
            {
                "unique_id": record.unique_id.hex(),
                "program_id": record.program_id.hex(),
                "state": record.state.value,
                "address": address_text(record.address)
                if record.address is not None and on_network
                else None,
                "commissioned_times": record.commissioned_times,
                "read_ok": ok,
                "energy_wh": read.energy_wh if read is not None else None,
                "errors": read.errors if read is not None else ["not commissioned"],
            }
        )
    found = set(manager.meters) | set(result.skipped)
    missing = [uid.hex() for uid in (result.plan.wanted or {}) if uid not in found]
    commissioned = sum(1 for m in meters if m["state"] in ("commissioned", "in_service"))
    return {
        "segment": _segment_text(peer),
        "discovered": len(found),
        "commissioned": commissioned,
        "read_ok": sum(1 for m in meters if m["read_ok"]),
        "failed": failed + len(missing),
        "missing": missing,
        "skipped": sorted(uid.hex() for uid in result.skipped),
        "settled": result.settled,
        "atm": {
            "queries": manager.statistics.queries,
            "failed_steps": manager.statistics.failed_steps,
            "neighbour_reports": manager.statistics.neighbour_reports,
        },
        "seconds": round(result.seconds, 3),
        "meters": meters,
    }


def _show_commissioned(summary: dict[str, Any]) -> None:
    table = Table("unique node ID", "state", "address", "read", title=f"meters at {summary['segment']}")
    for meter in summary["meters"]:
        read = f"{meter['energy_wh']:.0f} Wh" if meter["read_ok"] else "; ".join(meter["errors"])
        table.add_row(meter["unique_id"], meter["state"], meter["address"] or "-", read)
    console = tree_console()
    console.print(table)
    console.print(
        f"discovered {summary['discovered']}, commissioned {summary['commissioned']}, read "
        f"{summary['read_ok']}, failed {summary['failed']} in {summary['seconds']:.2f} s"
    )


__all__ = ["commission_command", "discover_command", "lon_group", "parse_meters_file", "parse_segment"]


import cosemnet.cli.lon_ops  # noqa: E402, F401  (registers `lon set` and `lon action`)
