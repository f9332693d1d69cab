"""``cosemnet sim lon``: a simulated IEC 62056-8-8 segment, on the power-line channel or over CN/IP.

* ``--channel pl``: the concentrator and the meters share one simulated power-line channel in simulated
  time (:mod:`cosemnet.simulator.lon_segment`); the concentrator reads every meter (LN register + SN BT23) and
  the command prints what it read and the channel statistics. With ``--duration S`` it keeps polling
  (rounds back to back) for S simulated seconds.
* ``--channel cnip``: the same nodes, each on its own UDP socket on the loopback interface, exchanging
  ISO/IEC 14908-4 CN/IP data packets (:class:`cosemnet.profiles.lon.cnip_transport.CnipTransport`, real
  sockets, real time). The concentrator reads every meter once; with ``--duration S`` the meters then
  stay up S seconds for ``cosemnet read --profile lon`` (the reader takes the concentrator's UDP port,
  which every meter sends its answers to).

[design] CN/IP without a configuration server: every meter's only peer is the concentrator's port and
the concentrator's peers are all the meters (a frame goes to each, every node filters by address, as on
a shared channel).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as _dt
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import click
from rich.console import Console

from cosemnet.cli.decode import tree_console
from cosemnet.cli.lon_inject import INJECT_KINDS, Injector, attach_injector, parse_feeder_inject
from cosemnet.cli.observe import Observation, observe_options
from cosemnet.cli.params import user_errors
from cosemnet.cli.signals import (
    SignalFlag,
    SignalStop,
    interrupted_exit_code,
    note_interruption,
    stop_on_signals,
)
from cosemnet.cli.sim_lon_observe import SentOnly, StatusClock, attach_sniffer
from cosemnet.profiles.lon.addresses import SubnetNodeAddress
from cosemnet.profiles.lon.cnip_transport import CnipTransport, PeerAddress
from cosemnet.profiles.lon.dlms import LonConcentratorEndpoint, LonMeterEndpoint, deliver_stack_event
from cosemnet.profiles.lon.osgp_aes.agent import ConcentratorSecurity, MeterSecurity
from cosemnet.profiles.lon.osgp_aes.keys import KeyStore, KeyStoreError
from cosemnet.profiles.lon.stack import Event
from cosemnet.security.counters import FileCounterStore
from cosemnet.security.errors import CounterStoreError
from cosemnet.simulator.lon_segment import (
    DOMAIN_ID,
    ENERGY_REGISTER,
    SECURITY_CHOICES,
    SECURITY_NONE,
    SECURITY_OSGP,
    LonSegment,
    MeterRead,
    address_text,
    build_segment,
    channel_text,
    fill_ln,
    fill_sn,
    ln_request,
    meter_unique_id,
    read_segment,
    segment_table,
    sn_request,
)
from cosemnet.trace import FrameObserver

MAX_CNIP_METERS: Final = 100
KEK_ENVIRONMENT_VARIABLE: Final = "COSEMNET_OSGP_KEK"
DEFAULT_HISTORY: Final = _dt.timedelta(days=1)

EPILOG = """\b
Examples:
  cosemnet sim lon --meters 20                       simulated power line, one reading round
  cosemnet sim lon --meters 50 --duration 600        poll for 10 simulated minutes
  cosemnet sim lon --meters 5 --channel cnip         CN/IP over loopback UDP
  cosemnet sim lon --meters 5 --channel cnip --duration 60 --port 16280
  cosemnet sim lon --meters 20 --json
  cosemnet sim lon --meters 5 --security none        the null suite on the protected SAPs
  cosemnet sim lon --meters 10 --inject tamper=0.2,replay=0.2 --json
  cosemnet sim lon --topology line --meters 12 --json   discovery, commissioning, reads through repeaters
  cosemnet sim lon --topology tree --meters 30 --inject repeater-loss=2
  cosemnet sim lon --channel cnip --unconfigured --meters 5 --port 16280   for cosemnet lon discover
"""


# --------------------------------------------------------------------------------------------------
# CN/IP: one CnipTransport per node, the DLMS endpoint driven by the transport's events


class EndpointPort(CnipTransport):
    """A :class:`CnipTransport` whose stack events go to a LON DLMS endpoint (meter or concentrator).

    The transport drains the stack's events (``on_event``); :meth:`process` hands them to the endpoint's
    adaptation layer, lets the endpoint work and sends what it queued. Times are the event loop's.
    """

    def __init__(
        self, endpoint: LonMeterEndpoint | LonConcentratorEndpoint, peers: list[PeerAddress] | None = None
    ) -> None:
        super().__init__(endpoint.stack, peers=peers or [], on_event=self._collect)
        self.endpoint = endpoint
        self.inbox: list[Event] = []
        self.kick = asyncio.Event()

    def _collect(self, event: Event) -> None:
        self.inbox.append(event)
        self.kick.set()

    def process(self) -> None:
        """Feed collected events to the ADP, pump the endpoint, flush the frames; until nothing moves."""
        now = asyncio.get_running_loop().time()
        adp = self.endpoint.adp
        for _ in range(1000):  # bounded: each pass consumes what the previous one produced
            events, self.inbox = self.inbox, []
            for event in events:
                deliver_stack_event(adp, event, now)  # RESPONSEs too (docs/decisions/0093)
            moved = self.endpoint.pump(now)
            self._after_stack()  # send what the ADP queued; new events land in the inbox
            if not moved and not events and not self.inbox:
                return

    async def drive(self, stop: asyncio.Event) -> None:
        """Process events and endpoint timers until ``stop``."""
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            self.kick.clear()
            self.process()
            deadline = self.endpoint.deadline()
            wait = 0.2 if deadline is None else min(0.2, max(0.0, deadline - loop.time()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.kick.wait(), wait)


async def run_cnip(
    meters: int,
    *,
    seed: int,
    port: int,
    duration: float,
    timeout: float = 30.0,
    on_round: Callable[[dict[str, Any], list[MeterRead]], None] | None = None,
    security: str = SECURITY_NONE,
    keystore: KeyStore | None = None,
    observer: FrameObserver | None = None,
    status_every: float = 0.0,
) -> dict[str, Any]:
    """Build the segment, run it over CN/IP on loopback, read every meter once (``on_round`` gets the
    summary and the reads), then keep the meters up for ``duration`` seconds; return the summary.
    With ``security="osgp-aes"`` the secure channels are opened over CN/IP first; ``keystore``: the
    meters' long-term keys (new meters are added to it). ``observer`` sees every datagram sent;
    ``status_every`` > 0: a status line on stderr that often while the meters stay up. SIGINT/SIGTERM
    end the run early: the summary's ``interrupted`` names the signal (docs/decisions/0130)."""
    segment = build_segment(
        meters, seed=seed, history=DEFAULT_HISTORY, security=security, commission=False, keystore=keystore
    )
    loop = asyncio.get_running_loop()
    # meter time = the segment's start + the time the loop runs
    epoch = segment.meters[0].endpoint.epoch - loop.time()
    for meter in segment.meters:
        meter.endpoint.epoch = epoch
    stop = stop_on_signals()
    sent = SentOnly(observer) if observer is not None else None
    dc_port = EndpointPort(segment.concentrator)
    dc_port.observer = sent
    dc_address = await dc_port.start(("127.0.0.1", port))
    meter_ports: list[EndpointPort] = []
    tasks: list[asyncio.Task[None]] = []
    try:
        for meter in segment.meters:
            mp = EndpointPort(meter.endpoint, [dc_address])
            mp.observer = sent
            dc_port.add_peer(await mp.start(("127.0.0.1", 0)))
            meter_ports.append(mp)
        tasks = [asyncio.create_task(p.drive(stop)) for p in meter_ports]
        dc_stop = asyncio.Event()
        dc_task = asyncio.create_task(dc_port.drive(dc_stop))
        started = time.perf_counter()
        await _commission_cnip(segment, dc_port, loop.time() + timeout, stop)
        marks: dict[tuple[str, int], int] = {}
        for meter in segment.meters:
            link = segment.public_link(meter)
            marks[("ln", meter.index)] = len(link.results)
            link.submit(ln_request)
            sn = segment.sn_link(meter)
            marks[("sn", meter.index)] = len(sn.results)
            sn.submit(sn_request)
        dc_port.kick.set()
        deadline = loop.time() + timeout
        while segment.concentrator.busy() and loop.time() < deadline and not stop.is_set():
            await asyncio.sleep(0.01)
        wall = time.perf_counter() - started
        dc_stop.set()
        await dc_task
        reads = []
        for meter in segment.meters:
            read = MeterRead(address_text(meter.address), meter.name)
            fill_ln(read, segment.public_links[meter.index].results[marks[("ln", meter.index)] :])
            fill_sn(read, segment.sn_links[meter.index].results[marks[("sn", meter.index)] :])
            reads.append(read)
        summary: dict[str, Any] = {
            "channel": "cnip",
            "meters": meters,
            "ok": all(not r.errors for r in reads),
            "wall_seconds": round(wall, 3),
            "security": security,
            "read_ok": sum(1 for r in reads if not r.errors),
            "concentrator": f"{dc_address[0]}:{dc_address[1]}",
            "domain_id": DOMAIN_ID.hex(),
            "nodes": [
                {"meter": address_text(m.address), "udp": _local(p)}
                for m, p in zip(segment.meters, meter_ports, strict=True)
            ],
            "cnip": {
                "packets_sent": dc_port.sequence_number + sum(p.sequence_number for p in meter_ports),
                "rejected": dc_port.rejected + sum(p.rejected for p in meter_ports),
                "retries": segment.concentrator.stack.statistics.transmit_tx_retries
                + sum(m.endpoint.stack.statistics.transmit_tx_retries for m in segment.meters),
            },
            "reads": [r.to_json() for r in reads],
        }
        await dc_port.close()  # the concentrator's port is free for `cosemnet read --profile lon`
        if on_round is not None:
            on_round(note_interruption(summary, stop), reads)
        if duration > 0 and not stop.is_set():
            await _stay_up(stop, duration, status_every, meter_ports)
        return note_interruption(summary, stop)
    finally:
        stop.set()
        for task in tasks:
            await task
        for mp in meter_ports:
            await mp.close()
        await dc_port.close()


async def _stay_up(stop: asyncio.Event, duration: float, every: float, ports: list[EndpointPort]) -> None:
    """Keep the meters up for ``duration`` seconds, with a status line on stderr every ``every`` s."""
    clock = StatusClock(every)
    step = every if every > 0 else duration
    while clock.elapsed < duration and not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), min(step, max(duration - clock.elapsed, 0.0)))
        if clock.due() and clock.elapsed < duration:
            sent = sum(p.sequence_number for p in ports)
            rejected = sum(p.rejected for p in ports)
            click.echo(
                f"[{clock.elapsed:.0f} s/{duration:.0f} s] {len(ports)} meters up, "
                f"{sent} CN/IP packets sent by the meters, {rejected} rejected",
                err=True,
            )


async def _commission_cnip(
    segment: LonSegment, dc_port: EndpointPort, deadline: float, stop: SignalStop
) -> None:
    """Open the secure channels (and hand out the domain key) over CN/IP, in real time (until
    ``deadline`` or ``stop``)."""
    agent = segment.concentrator_security
    if agent is None:
        return
    loop = asyncio.get_running_loop()
    for meter in segment.meters:
        agent.commission(meter.address, meter_unique_id(meter.index), loop.time())
    dc_port.kick.set()
    while not all(agent.established(m.address) for m in segment.meters) and loop.time() < deadline:
        if stop.is_set():
            return
        await asyncio.sleep(0.01)
    key_id = agent.update_domain_key(loop.time())
    dc_port.kick.set()
    while agent.domain.current != key_id and loop.time() < deadline and not stop.is_set():
        await asyncio.sleep(0.01)


def _local(port: CnipTransport) -> str:
    transport = port._transport
    if transport is None:
        return "-"
    host, number = transport.get_extra_info("sockname")[:2]
    return f"{host}:{number}"


# --------------------------------------------------------------------------------------------------
# The command


@click.command("lon", epilog=EPILOG, short_help="A simulated IEC 62056-8-8 (LON / OSGP) segment.")
@click.option("--meters", type=click.IntRange(1, 1000), default=20, show_default=True, help="Meters.")
@click.option(
    "--channel",
    type=click.Choice(["pl", "cnip"]),
    default="pl",
    show_default=True,
    help="pl: simulated power line (simulated time); cnip: CN/IP over loopback UDP (real time).",
)
@click.option(
    "--duration",
    type=click.FloatRange(0, 86400),
    default=0.0,
    help="pl: keep polling for this many simulated seconds; cnip: keep the meters up this many seconds "
    "after the first round (for cosemnet read --profile lon).",
)
@click.option("--port", type=click.IntRange(0, 65535), default=0, help="cnip: the concentrator's UDP port.")
@click.option("--seed", type=int, default=1, show_default=True, help="Random seed (meters and channel).")
@click.option(
    "--security",
    type=click.Choice(SECURITY_CHOICES),
    default=None,
    help="osgp-aes: the OSGP-AES-128-PSK suite (Annex D) on the protected SAPs; none: the null suite "
    "[default: osgp-aes].",
)
@click.option(
    "--topology",
    default=None,
    metavar="line|tree|cluster|FILE",
    help="pl: a feeder where meters hear only their neighbours (TOML FILE or a built-in); the meters start "
    "unconfigured and are discovered and commissioned (Annex F), then read through repeaters.",
)
@click.option(
    "--inject",
    default="",
    metavar="tamper=P,replay=P,repeater-loss=K",
    help="pl: an attacker tampers with / replays each protected frame with probability P; the JSON "
    'gains "injected" and "rejected" per kind. --topology: repeater-loss=K removes K repeaters after '
    "the first round, which is read again.",
)
@click.option(
    "--key-file",
    type=click.Path(dir_okay=False),
    default=None,
    help="osgp-aes: the concentrator's key file (mode 0600): the meters' long-term keys are read from it "
    "and new ones added; RFC 3394-wrapped when the environment variable COSEMNET_OSGP_KEK holds a "
    "16-byte key (hex).",
)
@click.option(
    "--unconfigured",
    is_flag=True,
    help="cnip: the meters start unconfigured and no concentrator runs; --port is the segment's CN/IP "
    "port for cosemnet lon discover / commission. Prints one JSON line when up, runs --duration seconds "
    "(0: until SIGINT/SIGTERM), then one with every meter's state. Keys: --key-file, else simulated.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object instead of the table.")
@click.option(
    "--status-every",
    type=click.FloatRange(0),
    default=5.0,
    show_default=True,
    help="With --duration: a status line on stderr every this many wall-clock seconds; 0: off.",
)
@observe_options
def lon_command(
    meters: int,
    channel: str,
    duration: float,
    port: int,
    seed: int,
    security: str | None,
    topology: str | None,
    inject: str,
    key_file: str | None,
    unconfigured: bool,
    as_json: bool,
    status_every: float,
    trace: bool,
    pcap: Path | None,
) -> None:
    """Run a data concentrator and METERS simulated OSGP meters and read every meter.

    Each meter is read by logical name (GET-with-list of 1-0:1.8.0 value and scaler_unit, public
    pre-established association) and by short name (AARQ of the NNAP client with LLS, then one SN Read
    of the utility tables BT21 and BT23). Prints what was read and the channel statistics (frames,
    bytes, airtime, collisions, utilisation). Exits 1 if a meter could not be read.
    """
    console = tree_console()
    try:
        probabilities, repeater_loss = parse_feeder_inject(inject)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--inject") from None
    if unconfigured:
        if channel != "cnip" or topology is not None or inject:
            raise click.BadParameter("works on --channel cnip, without --topology or --inject")
        if meters > MAX_CNIP_METERS:
            raise click.BadParameter(f"at most {MAX_CNIP_METERS} meters over CN/IP", param_hint="--meters")
        _run_unconfigured(meters, duration, port, seed, security or SECURITY_OSGP, key_file)
        return
    if topology is not None:
        if channel != "pl" or probabilities or key_file is not None:
            raise click.BadParameter(
                "works on --channel pl, without tamper/replay or --key-file", param_hint="--topology"
            )
        with user_errors(as_json), Observation(trace, pcap) as observer, SignalFlag() as signals:
            feeder = _FeederRun(topology, meters, seed, as_json, security or SECURITY_OSGP, repeater_loss)
            ok = _feeder(console, feeder, observer, signals)
        _finish(ok, signals.exit_code)
        return
    if repeater_loss:
        raise click.BadParameter("repeater-loss needs --topology", param_hint="--inject")
    security = security or SECURITY_OSGP
    if probabilities and (security != SECURITY_OSGP or channel != "pl"):
        raise click.BadParameter("needs --security osgp-aes on --channel pl", param_hint="--inject")
    if key_file is not None and security != SECURITY_OSGP:
        raise click.BadParameter("needs --security osgp-aes", param_hint="--key-file")
    keys = _KeyFile(key_file) if key_file is not None else None
    if channel == "cnip" and meters > MAX_CNIP_METERS:
        raise click.BadParameter(f"at most {MAX_CNIP_METERS} meters over CN/IP", param_hint="--meters")
    run = _RunOptions(duration, seed, as_json, security, status_every)
    with user_errors(as_json), Observation(trace, pcap) as observer, SignalFlag() as signals:
        run.observer = observer
        run.signals = signals
        if channel == "pl":
            ok = _run_pl(console, meters, run, probabilities, keys)
        else:
            ok = _run_cnip_command(console, meters, port, run, keys)
    _finish(ok, run.stopped)


def _finish(ok: bool, stopped: int) -> None:
    """Exit 128 + the signal when one cut the run short (after the summary and the capture's flush,
    docs/decisions/0130), else 1 when a meter could not be read."""
    sys.stdout.flush()
    if stopped:
        raise SystemExit(stopped)
    if not ok:
        raise SystemExit(1)


def _security_summary(segment: LonSegment, injector: Injector | None) -> dict[str, Any]:
    """What the suites saw: rejections per reason; with an attacker, injected and rejected per kind."""
    agents: list[MeterSecurity | ConcentratorSecurity] = [m.security for m in segment.meters if m.security]
    if segment.concentrator_security is not None:
        agents.append(segment.concentrator_security)
    reasons: Counter[str] = Counter()
    for agent in agents:
        reasons.update(agent.stats.rejected)
    out: dict[str, Any] = {
        "security": segment.security,
        "secure_channels": sum(
            1
            for m in segment.meters
            if segment.concentrator_security is not None
            and segment.concentrator_security.established(m.address)
        ),
        "rejected_by_reason": dict(reasons),
    }
    if injector is not None:
        out["injected"] = {k: injector.injected[k] for k in INJECT_KINDS}
        out["rejected"] = {
            "tamper": reasons["authentication"],
            "replay": reasons["replay"] + reasons["sequence"],
        }
        out["acted_on_injected"] = _acted_on_injected(segment)
    return out


def _acted_on_injected(segment: LonSegment) -> int:
    """APDUs meters executed beyond what the concentrator sent them (0: no meter acted on a forgery)."""
    sent: Counter[tuple[int, int]] = Counter()
    for link in segment.concentrator.links.values():
        address = link.address
        if isinstance(address, SubnetNodeAddress):
            sent[(address.destination_subnet, address.destination_node)] += link.sent_apdus
    return sum(
        max(0, m.endpoint.requests - sent[(m.address.destination_subnet, m.address.destination_node)])
        for m in segment.meters
    )


@dataclass(slots=True)
class _RunOptions:
    """What every ``sim lon`` run (power line or CN/IP) takes from the command line."""

    duration: float
    seed: int
    as_json: bool
    security: str
    status_every: float
    observer: FrameObserver | None = None
    signals: SignalFlag | None = None
    """SIGINT/SIGTERM seen between the power-line rounds."""
    stopped: int = 0
    """128 + the signal that cut the run short (0: it ran to its end)."""

    def interrupted(self) -> str | None:
        """The signal that arrived (``SIGTERM``), or None."""
        return self.signals.name if self.signals is not None else None


def _run_pl(
    console: Console,
    meters: int,
    run: _RunOptions,
    probabilities: dict[str, float] | None = None,
    keys: _KeyFile | None = None,
) -> bool:
    seed, security = run.seed, run.security
    keystore = keys.load() if keys is not None else None
    with contextlib.ExitStack() as stack:
        counters = stack.enter_context(keys.counters()) if keys is not None else None
        segment = build_segment(
            meters,
            seed=seed,
            history=DEFAULT_HISTORY,
            security=security,
            keystore=keystore,
            counter_store=counters,
            commission=False,
        )
        if run.observer is not None:  # before the secure channels are opened: they are captured too
            attach_sniffer(segment.channel, run.observer, segment.meters[0].endpoint.epoch)
        segment.commission()
        if keys is not None and keystore is not None:
            keys.save(keystore)
        injector = _injector_for(segment, probabilities, seed)
        return _read_rounds(console, segment, meters, run, injector)


def _injector_for(segment: LonSegment, probabilities: dict[str, float] | None, seed: int) -> Injector | None:
    if not probabilities:
        return None
    victims = [segment.concentrator.stack, *(m.endpoint.stack for m in segment.meters)]
    return attach_injector(segment.channel, victims, probabilities, seed)


def _read_rounds(
    console: Console, segment: LonSegment, meters: int, run: _RunOptions, injector: Injector | None
) -> bool:
    duration, as_json, security = run.duration, run.as_json, run.security
    status = StatusClock(run.status_every)
    report = read_segment(segment)
    rounds = 1
    ok = report.ok
    wall = report.wall_seconds
    while segment.channel.now < duration and run.interrupted() is None:
        report = read_segment(segment)
        rounds += 1
        ok = ok and report.ok
        wall += report.wall_seconds
        if status.due():
            _pl_status(segment, rounds, duration, sum(1 for r in report.reads if not r.errors))
    total = segment.channel.now
    stopped_by = run.interrupted()
    if stopped_by is not None and run.signals is not None:
        run.stopped = run.signals.exit_code
    if as_json:
        summary = report.to_json()
        statistics = summary.pop("channel")
        statistics["utilisation"] = round(segment.channel.statistics.utilisation(total), 4)
        summary.update(
            {
                "channel": "pl",
                "statistics": statistics,
                "rounds": rounds,
                "ok": ok,
                "total_simulated_seconds": round(total, 3),
                "silent_meters": [
                    address_text(s.address)
                    for s in segment.concentrator.silent_meters()
                    if isinstance(s.address, SubnetNodeAddress)
                ],
            }
        )
        summary.update(_security_summary(segment, injector))
        if injector is not None:
            summary["ok"] = ok = ok and _all_rejected(summary)
        if stopped_by is not None:
            summary["interrupted"] = stopped_by
        print(json.dumps(summary))
        return ok
    console.print(
        f"[bold]IEC 62056-8-8 segment[/]: 1 data concentrator, {meters} OSGP meters, simulated power line "
        f"at {report.bit_rate / 1000:.1f} kbit/s; LN {ENERGY_REGISTER} + SN BT23 per meter"
    )
    console.print(segment_table(report.reads))
    if rounds > 1:
        console.print(f"{rounds} rounds in {total:.1f} s simulated ({wall:.2f} s wall); the last round:")
    console.print(channel_text(report))
    facts = _security_summary(segment, injector)
    text = f"security: {security}"
    if segment.concentrator_security is not None:
        text += f", {facts['secure_channels']}/{meters} secure channels"
    if injector is not None:
        ok = ok and _all_rejected(facts)
        text += f"; injected {facts['injected']}, rejected {facts['rejected']}"
        text += f", acted on: {facts['acted_on_injected']}"
    console.print(text)
    if stopped_by is not None:
        console.print(f"stopped by {stopped_by} after {rounds} round(s)")
    return ok


def _pl_status(segment: LonSegment, rounds: int, duration: float, read_ok: int) -> None:
    """``[120 s/600 s simulated] round 14: 20/20 meters read; 1234 frames, 3 collisions``, on stderr."""
    statistics = segment.channel.statistics
    click.echo(
        f"[{segment.channel.now:.0f} s/{duration:.0f} s simulated] round {rounds}: "
        f"{read_ok}/{len(segment.meters)} meters read; {statistics.frames} frames, "
        f"{statistics.collisions} collisions",
        err=True,
    )


@dataclass(slots=True)
class _FeederRun:
    """What ``sim lon --topology`` takes from the command line."""

    spec: str
    meters: int
    seed: int
    as_json: bool
    security: str
    repeater_loss: int


def _feeder(console: Console, run: _FeederRun, observer: FrameObserver | None, signals: SignalFlag) -> bool:
    """Discover, commission and read the feeder; ``observer`` (``--trace``/``--pcap``) hears every frame
    from the start of discovery. A signal is acted on when the run ends (the summary names it)."""
    from cosemnet.cli.sim_lon_feeder import run_feeder

    try:
        return run_feeder(
            console,
            run.spec,
            run.meters,
            run.seed,
            run.as_json,
            run.security,
            run.repeater_loss,
            observer=observer,
            interrupted=lambda: signals.name,
        )
    except (OSError, ValueError) as exc:
        raise click.BadParameter(str(exc), param_hint="--topology") from None


class _KeyFile:
    """``--key-file``: load (when it exists) and save the concentrator's :class:`KeyStore`."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)
        if not self.path.parent.is_dir():  # nothing is created (the counter directory goes beside it)
            raise click.ClickException(f"{path}: no such directory")
        text = os.environ.get(KEK_ENVIRONMENT_VARIABLE, "")
        try:
            self.kek = bytes.fromhex(text) if text else None
        except ValueError:
            raise click.BadParameter(f"{KEK_ENVIRONMENT_VARIABLE} is not hex") from None
        if self.kek is not None and len(self.kek) != 16:
            raise click.BadParameter(f"{KEK_ENVIRONMENT_VARIABLE} must hold 16 bytes")

    def load(self) -> KeyStore:
        if not self.path.exists():
            return KeyStore()
        try:
            return KeyStore.load(self.path, self.kek)
        except KeyStoreError as exc:
            raise click.ClickException(str(exc)) from None

    def counters(self) -> FileCounterStore:
        """The concentrator's frame counters, durable beside the key file (``<file>.counters/``)."""
        try:
            return FileCounterStore(self.path.with_name(self.path.name + ".counters"))
        except (OSError, CounterStoreError) as exc:
            raise click.ClickException(f"cannot use the counter directory: {exc}") from None

    def save(self, store: KeyStore) -> None:
        try:
            store.save(self.path, self.kek)
        except OSError as exc:
            raise click.ClickException(f"cannot write the key file: {exc.strerror}") from None


def _all_rejected(facts: dict[str, Any]) -> bool:
    injected, rejected = facts["injected"], facts["rejected"]
    return all(rejected[k] >= injected[k] for k in INJECT_KINDS) and facts["acted_on_injected"] == 0


def _run_unconfigured(
    meters: int, duration: float, port: int, seed: int, security: str, key_file: str | None
) -> None:
    from cosemnet.cli.sim_lon_cnip import run_unconfigured

    keys = _KeyFile(key_file) if key_file is not None and security == SECURITY_OSGP else None
    keystore = keys.load() if keys is not None else None

    def ready(summary: dict[str, Any]) -> None:
        if keys is not None and keystore is not None:  # the meters' keys, before a tool may need them
            keys.save(keystore)
        print(json.dumps(summary), flush=True)

    try:
        summary = asyncio.run(
            run_unconfigured(
                meters,
                seed=seed,
                port=port,
                duration=duration,
                security=security,
                keystore=keystore,
                on_ready=ready,
            )
        )
    except OSError as exc:
        raise click.ClickException(f"cannot open UDP sockets: {exc}") from None
    print(json.dumps(summary), flush=True)
    if interrupted_exit_code(summary):
        raise SystemExit(interrupted_exit_code(summary))


def _run_cnip_command(
    console: Console, meters: int, port: int, run: _RunOptions, keys: _KeyFile | None = None
) -> bool:
    duration, seed, as_json, security = run.duration, run.seed, run.as_json, run.security
    keystore = keys.load() if keys is not None else None

    def show(summary: dict[str, Any], reads: list[MeterRead]) -> None:
        if keys is not None and keystore is not None:  # before the summary: a reader may use it at once
            keys.save(keystore)
        if as_json:
            print(json.dumps(summary))
        else:
            console.print(
                f"[bold]IEC 62056-8-8 segment over CN/IP[/] (ISO/IEC 14908-4, loopback UDP): 1 data "
                f"concentrator ({summary['concentrator']}), {meters} OSGP meters"
            )
            console.print(segment_table(reads))
            cnip = summary["cnip"]
            console.print(
                f"CN/IP: {cnip['packets_sent']} packets sent, {cnip['rejected']} rejected, "
                f"{cnip['retries']} 14908-1 retries; {summary['wall_seconds']:.2f} s"
            )
            if duration > 0:
                first = summary["nodes"][0]
                console.print(
                    f"meters up for {duration:g} s; read one with: [bold]cosemnet read --profile lon "
                    f"{first['udp']} --lon-node {first['meter']} --lon-local {summary['concentrator']} "
                    f"{ENERGY_REGISTER} --class-id 3[/]"
                )
        sys.stdout.flush()

    try:
        summary = asyncio.run(
            run_cnip(
                meters,
                seed=seed,
                port=port,
                duration=duration,
                on_round=show,
                security=security,
                keystore=keystore,
                observer=run.observer,
                status_every=run.status_every,
            )
        )
    except OSError as exc:
        raise click.ClickException(f"cannot open UDP sockets: {exc}") from None
    run.stopped = interrupted_exit_code(summary)
    if run.stopped:
        click.echo(f"stopped by {summary['interrupted']}", err=True)
    return bool(summary["ok"])


__all__ = ["EndpointPort", "lon_command", "run_cnip"]
