"""``cosemnet sim``: simulated networks of meters. ``sim mesh``: a fleet of IEC TS 62056-8-20 mesh meters.

::

    cosemnet sim mesh --meters 1000 --head-end [::1]:61616 --churn 2 --loss 0.05 --duration 60 --json

Every meter gets its own system title and UDP endpoint (``::1`` with distinct ports, or its own address
in an AnyIP prefix with ``--anyip``), registers with the head-end and keeps its registration current
through churn (see :mod:`cosemnet.simulator.mesh_fleet`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ipaddress
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from cosemnet.cli.hes_observe import MeshObservation, mesh_observe_options
from cosemnet.cli.messages import Keys
from cosemnet.cli.metrics import FleetMetrics
from cosemnet.cli.params import parse_endpoint, user_errors
from cosemnet.cli.signals import interrupted_exit_code, note_interruption, stop_on_signals
from cosemnet.cli.sim_lon import lon_command
from cosemnet.cli.trace import TraceFormatter
from cosemnet.errors import EncodeError
from cosemnet.headend.keys import TEST_AK, TEST_BROADCAST_KEY, TEST_EK
from cosemnet.profiles.mesh.ports import MESH_UDP_PORT
from cosemnet.profiles.mesh.response_window import ResponseWindow
from cosemnet.simulator.mesh_fleet import FleetConfig, MeshFleet
from cosemnet.trace import FrameObserver

__all__ = ["mesh_command", "run_in_netns", "run_mesh", "sim_group"]

EPILOG = """\b
Examples:
  cosemnet sim mesh --meters 100 --head-end [::1]:61616
  cosemnet sim mesh --meters 2000 --head-end [::1]:61616 --port-base 40000 --churn 5 --loss 0.02 --json
  cosemnet sim mesh --meters 500 --head-end [fd00:c05e::1]:61616 --anyip fd00:c05e::/64   (root, AnyIP route)
  cosemnet sim mesh --meters 500 --head-end [fd00:1::2]:61616 --anyip fd00:c05e::/64 --netns fleet   (root)

\b
Group requests: send "IPv6 multicast address (16 bytes) || wrapper frame" to the group gateway printed
at start; each meter evaluates its membership (static group 1 + index % --groups) and answers within
--response-window from its own address.
"""


def _head_end(text: str) -> tuple[str, int]:
    """``[IPv6]:PORT`` or a bare IPv6 address (port 61616), through the one grammar of cli/params.py."""
    try:
        endpoint = parse_endpoint(text, MESH_UDP_PORT)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    try:
        return ipaddress.IPv6Address(endpoint.host).compressed, endpoint.port
    except ValueError:
        raise click.BadParameter(f"{endpoint.host!r} is not an IPv6 address: write [IPv6]:PORT") from None


def _latency(text: str) -> tuple[float, float]:
    """``MIN:MAX`` or ``MS`` (milliseconds) -> (min, max) seconds."""
    low, sep, high = text.partition(":")
    try:
        pair = (float(low), float(high if sep else low))
    except ValueError:
        raise click.BadParameter(f"{text!r}: expected MIN_MS:MAX_MS or MS") from None
    if not 0 <= pair[0] <= pair[1]:
        raise click.BadParameter(f"{text!r}: need 0 <= MIN_MS <= MAX_MS")
    return pair[0] / 1000, pair[1] / 1000


def _window(text: str) -> ResponseWindow:
    start, sep, end = text.partition(":")
    try:
        if not sep:
            raise ValueError
        return ResponseWindow(int(start), int(end))
    except (ValueError, EncodeError) as exc:
        raise click.BadParameter(f"{text!r}: expected START_MS:END_MS ({exc})") from None


async def run_mesh(
    config: FleetConfig,
    duration: float,
    *,
    on_start: Callable[[MeshFleet, float], None] | None = None,
    stop: asyncio.Event | None = None,
    status_every: float = 0.0,
    observer: FrameObserver | None = None,
) -> dict[str, Any]:
    """Run a fleet for ``duration`` seconds (or until ``stop`` is set); the summary as a dict.

    ``status_every`` > 0: one status line on stderr every that many seconds (stdout stays the result).
    ``observer`` sees every datagram of every meter (``--trace``, ``--pcap``, ``--metrics-port``)."""
    fleet = MeshFleet(config)
    fleet.observer = observer
    started = time.monotonic()
    await fleet.start()
    built = time.monotonic()
    all_registered_after: float | None = None
    try:
        if on_start is not None:
            on_start(fleet, built - started)
        end = built + duration
        next_status = built + status_every
        while time.monotonic() < end and not (stop is not None and stop.is_set()):
            step = min(0.25, end - time.monotonic())
            await fleet.run(max(step, 0.0))
            if all_registered_after is None and all(n.stats.confirmations for n in fleet.nodes):
                all_registered_after = time.monotonic() - built
            if status_every > 0 and time.monotonic() >= next_status:
                next_status += status_every
                click.echo(_status_line(fleet, time.monotonic() - built, duration), err=True)
    finally:
        await fleet.stop()
    nodes = fleet.nodes
    totals: dict[str, int] = {}
    for node in nodes:
        for name, value in dataclasses.asdict(node.stats).items():
            totals[name] = totals.get(name, 0) + value
    # every meter confirmed at least once (its first registration): the registration throughput
    rate = len(nodes) / all_registered_after if all_registered_after else None
    return {
        "meters": len(nodes),
        "online": sum(1 for n in nodes if n.online),
        "registered": fleet.registered,
        "build_seconds": round(built - started, 3),
        "all_registered_after": None if all_registered_after is None else round(all_registered_after, 3),
        "registrations_per_second": None if rate is None else round(rate, 1),
        "group_gateway": None,
        "sockets": "per-meter" if fleet.shared_socket is None else "shared",
        "fleet": fleet.stats.as_dict(),
        "meter_totals": totals,
    }


def _status_line(fleet: MeshFleet, elapsed: float, duration: float) -> str:
    """``[12 s/60 s] online 98/100, registered 95, sent 312, received 290, lost 7``."""
    stats = fleet.stats.as_dict()
    online = sum(1 for n in fleet.nodes if n.online)
    return (
        f"[{elapsed:.0f} s/{duration:.0f} s] online {online}/{len(fleet.nodes)}, "
        f"registered {fleet.registered}, sent {stats['datagrams_sent']}, "
        f"received {stats['datagrams_received']}, lost {stats['lost']}"
    )


def _ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=False)


def _netns_exists(name: str) -> bool:
    listing = _ip("netns", "list").stdout
    return any(line.split(" ", 1)[0] == name for line in listing.splitlines())


def run_in_netns(name: str, anyip: str | None, argv: list[str]) -> int:
    """Run ``cosemnet sim mesh ARGV`` inside network namespace ``name`` (root only); its exit code.

    [design] A namespace that does not exist is created (``ip netns add``) and deleted on exit; an
    existing one is used as it is (so that it can be wired beforehand, e.g. with a veth pair) and
    kept. Inside it: ``lo`` up and, with ``anyip``, the AnyIP local route of the prefix on ``lo``
    (removed on exit if this call added it). The fleet runs in a child process started with ``ip
    netns exec``; SIGINT and SIGTERM are forwarded to it.
    """
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        raise click.ClickException("--netns needs root (it creates a network namespace and adds routes)")
    if shutil.which("ip") is None:
        raise click.ClickException("--netns needs the ip command (iproute2)")
    created = False
    route_added = False
    if not _netns_exists(name):
        done = _ip("netns", "add", name)
        if done.returncode != 0:
            raise click.ClickException(f"cannot create network namespace {name!r}: {done.stderr.strip()}")
        created = True
    previous: dict[int, Any] = {}
    try:
        done = _ip("-n", name, "link", "set", "lo", "up")
        if done.returncode != 0:
            raise click.ClickException(f"cannot bring lo up in {name!r}: {done.stderr.strip()}")
        if anyip:
            done = _ip("-n", name, "-6", "route", "add", "local", anyip, "dev", "lo")
            if done.returncode == 0:
                route_added = True
            elif "File exists" not in done.stderr:
                raise click.ClickException(f"cannot add the AnyIP route for {anyip}: {done.stderr.strip()}")
        command = ["ip", "netns", "exec", name, sys.executable, "-m", "cosemnet.cli", "sim", "mesh", *argv]
        child = subprocess.Popen(command)

        def forward(signum: int, frame: object) -> None:
            child.send_signal(signum)

        for sig in (signal.SIGINT.value, signal.SIGTERM.value):
            with contextlib.suppress(ValueError):  # not the main thread: no forwarding
                previous[sig] = signal.signal(sig, forward)
        return child.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if created:
            _ip("netns", "del", name)
        elif route_added:
            _ip("-n", name, "-6", "route", "del", "local", str(anyip), "dev", "lo")


_OPTION_NAMES = {"as_json": "--json", "window": "--response-window"}


def _argv(params: dict[str, Any]) -> list[str]:
    """The command line of ``sim mesh`` for ``params`` (click's parameter values), without --netns."""
    argv: list[str] = []
    for key, value in params.items():
        if key == "netns" or value is None:
            continue
        flag = _OPTION_NAMES.get(key, "--" + key.replace("_", "-"))
        if isinstance(value, bool):
            if value:
                argv.append(flag)
            continue
        argv += [flag, str(value)]
    return argv


@click.command("mesh", epilog=EPILOG, short_help="A fleet of simulated mesh (62056-8-20) meters.")
@click.option("--meters", type=click.IntRange(1, 100_000), default=100, show_default=True)
@click.option("--head-end", "head_end", required=True, help="[IPv6 address]:port of the head-end")
@click.option("--host", default="::1", show_default=True, help="address the meters bind (without --anyip)")
@click.option("--port-base", type=click.IntRange(0, 65535), default=0, show_default=True, help="0: ephemeral")
@click.option(
    "--anyip", "anyip", default=None, help="IPv6 prefix with an AnyIP local route: one address each"
)
@click.option(
    "--sockets",
    type=click.Choice(["auto", "shared", "per-meter"]),
    default="auto",
    show_default=True,
    help="one socket for all meters (IPV6_PKTINFO, --anyip only) or one each; auto: shared with --anyip",
)
@click.option(
    "--churn", type=click.FloatRange(0), default=0.0, show_default=True, help="events/s, fleet-wide"
)
@click.option("--loss", type=click.FloatRange(0, 1), default=0.0, show_default=True)
@click.option("--duplicate", type=click.FloatRange(0, 1), default=0.0, show_default=True)
@click.option("--reorder", type=click.FloatRange(0, 1), default=0.0, show_default=True)
@click.option(
    "--latency",
    default="0",
    show_default=True,
    help="MIN_MS:MAX_MS: each meter's delay drawn from this range (or one value for all)",
)
@click.option(
    "--jitter",
    type=click.FloatRange(0),
    default=0.25,
    show_default=True,
    help="per-datagram extra delay, up to this fraction of the meter's latency",
)
@click.option("--duration", type=click.FloatRange(0), default=60.0, show_default=True, help="seconds")
@click.option("--randomisation", type=click.IntRange(0, 65535), default=1, show_default=True, help="s")
@click.option("--retries", type=click.IntRange(0, 255), default=5, show_default=True)
@click.option("--repetition-delay", type=click.IntRange(1, 65535), default=2, show_default=True, help="s")
@click.option("--groups", type=click.IntRange(0, 65535), default=0, show_default=True)
@click.option("--response-window", "window", default="0:2000", show_default=True, help="START_MS:END_MS")
@click.option("--gateway-port", type=click.IntRange(0, 65535), default=0, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--image-block-size",
    type=click.IntRange(1, 65535),
    help="give the meters an image transfer object (class 18) of this block size (`hes firmware`)",
)
@click.option("--json", "as_json", is_flag=True, help="one JSON summary on stdout")
@click.option(
    "--status-every", type=click.FloatRange(0), default=5.0, show_default=True, help="s on stderr; 0: off"
)
@click.option(
    "--plain-registrations",
    is_flag=True,
    help="LAB ONLY: register unprotected and act on plain confirmations (default: general-glo-ciphered)",
)
@click.option(
    "--netns",
    default=None,
    help="run inside this network namespace (root; created and removed if absent; lo up, AnyIP route)",
)
@mesh_observe_options
@click.pass_context
def mesh_command(
    ctx: click.Context,
    meters: int,
    head_end: str,
    host: str,
    port_base: int,
    anyip: str | None,
    sockets: str,
    churn: float,
    loss: float,
    duplicate: float,
    reorder: float,
    latency: str,
    jitter: float,
    duration: float,
    randomisation: int,
    retries: int,
    repetition_delay: int,
    groups: int,
    window: str,
    gateway_port: int,
    seed: int,
    image_block_size: int | None,
    as_json: bool,
    status_every: float,
    plain_registrations: bool,
    netns: str | None,
    trace: bool,
    pcap: Path | None,
    metrics_port: int | None,
) -> None:
    """Run METERS simulated mesh meters that register with the head-end and live through churn."""
    target = _head_end(head_end)
    if netns is not None:
        ctx.exit(run_in_netns(netns, anyip, _argv(ctx.params)))
    try:
        config = FleetConfig(
            meters=meters,
            head_end=target,
            host=host,
            port_base=port_base,
            anyip_prefix=anyip,
            sockets=sockets,
            churn=churn,
            loss=loss,
            duplicate=duplicate,
            reorder=reorder,
            latency=_latency(latency),
            jitter=jitter,
            seed=seed,
            randomisation_start_interval=randomisation,
            number_of_retries=retries,
            repetition_delay=repetition_delay,
            response_window=_window(window),
            groups=groups,
            gateway_port=gateway_port,
            plain_registrations=plain_registrations,
            image_block_size=image_block_size,
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    gateway: list[tuple[str, int] | None] = [None]

    def started(fleet: MeshFleet, seconds: float) -> None:
        gateway[0] = fleet.group_gateway
        if as_json:
            return
        first, last = fleet.endpoint(0), fleet.endpoint(len(fleet.nodes) - 1)
        click.echo(
            f"{len(fleet.nodes)} meters up in {seconds:.2f} s: [{first[0]}]:{first[1]} .. "
            f"[{last[0]}]:{last[1]}, registering with [{target[0]}]:{target[1]}"
        )
        if fleet.group_gateway is not None:
            gw = fleet.group_gateway
            click.echo(f"group gateway [{gw[0]}]:{gw[1]}")

    async def main(observer: FrameObserver | None) -> dict[str, Any]:
        stop = stop_on_signals()
        summary = await run_mesh(
            config, duration, on_start=started, stop=stop, status_every=status_every, observer=observer
        )
        return note_interruption(summary, stop)  # exit 128 + the signal after it (decision 0130)

    # the fleet's meters use the default profile's published test keys: the trace decrypts with them
    formatter = TraceFormatter(Keys(ek=TEST_EK, ak=TEST_AK, broadcast_key=TEST_BROADCAST_KEY))
    observing = MeshObservation(trace, pcap, metrics_port, host, FleetMetrics, formatter)
    with user_errors(as_json), observing as observation:
        try:
            summary = asyncio.run(main(observation.observer))
        except OSError as exc:
            hint = " (is the AnyIP route in place? ip -6 route add local PREFIX dev lo)" if anyip else ""
            raise click.ClickException(f"cannot open UDP sockets: {exc}{hint}") from None
    where = gateway[0]
    if where is not None:
        summary["group_gateway"] = f"[{where[0]}]:{where[1]}"
    _print_summary(summary, as_json)
    sys.exit(interrupted_exit_code(summary))


def _print_summary(summary: dict[str, Any], as_json: bool) -> None:
    """The fleet's summary: one JSON object with ``as_json``, else two lines."""
    if as_json:
        click.echo(json.dumps(summary, sort_keys=True))
        return
    if summary.get("interrupted"):
        click.echo(f"stopped by {summary['interrupted']}", err=True)
    rate = summary["registrations_per_second"]
    click.echo(
        f"registered {summary['registered']}/{summary['meters']} (online {summary['online']})"
        + (f", all registered after {summary['all_registered_after']} s ({rate}/s)" if rate else "")
    )
    fleet_stats = summary["fleet"]
    click.echo(
        "datagrams sent {datagrams_sent}, received {datagrams_received}, lost {lost}, "
        "duplicated {duplicated}, reordered {reordered}; joins {joins}, leaves {leaves}, "
        "address changes {address_changes}".format(**fleet_stats)
    )


@click.group("sim", short_help="Simulated networks of meters.")
def sim_group() -> None:
    """Simulated networks of meters."""


sim_group.add_command(mesh_command)
sim_group.add_command(lon_command)
