"""The asyncio work behind ``cosemnet lon discover`` and ``cosemnet lon commission`` (see cli/lon.py).

Both run one node of the CN/IP segment (the tool is the concentrator, subnet/node ``SUBNET``/1 in the
chosen domain) on a connected UDP socket to the segment's port (docs/decisions/0110):

* :func:`discover` sends the F.4.3 discovery query itself (NM query ID, selector *unconfigured*, as a
  broadcast REQUEST) until ``QUIET_ROUNDS`` queries in a row find nobody new; it commissions nothing.
* :func:`commission` runs the concentrator's Annex F ATM manager (:class:`~cosemnet.profiles.lon.atm.
  AtmManager`, docs/decisions/0072) over CN/IP: discovery, then domain/subnet/node, group, node mode and
  the OSGP-AES-128-PSK keys of every wanted meter, then reads every commissioned meter once (LN
  1-0:1.8.0 on the public association). The CN/IP transport hands the stack to the manager first
  (``claim_events``), the rest goes to the concentrator's DLMS endpoint, as on the simulated channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final

from cosemnet.cli.sim_lon import EndpointPort
from cosemnet.errors import DecodeError
from cosemnet.profiles.lon.addresses import Address, BroadcastAddress, SubnetNodeAddress
from cosemnet.profiles.lon.atm import (
    MAX_METERS,
    AtmConfig,
    AtmManager,
    KeyCommissioner,
    MeterRecord,
    MeterState,
)
from cosemnet.profiles.lon.cnip_transport import CnipTransport, PeerAddress
from cosemnet.profiles.lon.dlms import LonConcentratorEndpoint
from cosemnet.profiles.lon.netmgmt import QueryIdRequest, QueryIdResponse, QueryIdSelector
from cosemnet.profiles.lon.node import LonNode
from cosemnet.profiles.lon.osgp_aes.agent import ConcentratorSecurity
from cosemnet.profiles.lon.osgp_aes.keys import KeyStore
from cosemnet.profiles.lon.osgp_aes.setup import null_suite_config, secure_concentrator
from cosemnet.profiles.lon.paths import PathManager
from cosemnet.profiles.lon.preestablished import PUBLIC
from cosemnet.profiles.lon.stack import Completed, Event, LonStack, ResponseReceived, StackConfig
from cosemnet.profiles.lon.transaction import Service
from cosemnet.sansio import earliest
from cosemnet.simulator.lon_cnip import simulated_long_term_key
from cosemnet.simulator.lon_segment import MeterRead, address_text, fill_ln, ln_request

TOOL_UNIQUE_ID: Final = bytes((0x4C, 0x4F, 0x4E, 0x00, 0x00, 0x00))
"""The tool's unique node ID (that of the simulated segments' concentrator)."""

CNIP_TX_TIMER: Final = 7
"""[design, decision 0111] 14908-1 transmit timer code of the tool on CN/IP: 192 ms (the power-line
default, 768 ms, is for a 5.4 kbit/s channel; a loopback or LAN round trip takes well under 10 ms)."""

QUIET_ROUNDS: Final = 2
"""``lon discover`` stops after this many queries in a row found nobody new."""

DISCOVERY_RETRIES: Final = 1
"""Retries of each ``lon discover`` query [design]: a query is repeated anyway until QUIET_ROUNDS find
nobody new, so one retry per query is enough on CN/IP."""

Progress = Callable[[str], None]


def stderr_progress(text: str) -> None:
    """Print one progress line on stderr."""
    print(text, file=sys.stderr, flush=True)


def tool_stack(domain: bytes, subnet: int) -> LonStack:
    node = LonNode.configured_in(TOOL_UNIQUE_ID, domain, subnet, 1)
    return LonStack(node, StackConfig(tx_timer=CNIP_TX_TIMER))


def _local_for(segment: PeerAddress) -> PeerAddress:
    return ("::", 0) if ":" in segment[0] else ("0.0.0.0", 0)


def query_answer(event: Event) -> tuple[QueryIdResponse, Address | None] | None:
    """A query ID answer (and where it came from, None: an unconfigured node's 0/0) or None."""
    if not isinstance(event, ResponseReceived):
        return None
    try:
        answer = QueryIdResponse.decode(event.apdu.encode())
    except DecodeError:
        return None
    source = (event.source_subnet, event.source_node)
    return answer, None if source == (0, 0) else SubnetNodeAddress(*source)


# --------------------------------------------------------------------------------------------------
# lon discover


@dataclass(slots=True)
class Discovered:
    unique_id: bytes
    program_id: bytes
    address: Address | None
    first_round: int

    def to_json(self) -> dict[str, Any]:
        """The meter as JSON: unique ID, program ID, address (None while unconfigured)."""
        address = self.address
        return {
            "unique_id": self.unique_id.hex(),
            "neuron_id": self.unique_id.hex(),
            "program_id": self.program_id.hex(),
            "address": address_text(address) if isinstance(address, SubnetNodeAddress) else None,
            "state": MeterState.DISCOVERED.value,
            "round": self.first_round,
        }


@dataclass(slots=True)
class DiscoverResult:
    found: dict[bytes, Discovered] = field(default_factory=dict)
    rounds: int = 0
    settled: bool = False
    """QUIET_ROUNDS queries in a row found nobody new (False: the timeout came first)."""
    send_errors: int = 0
    seconds: float = 0.0


async def _one_query(transport: CnipTransport, result: DiscoverResult, deadline: float) -> int:
    """One broadcast query ID (unconfigured); the number of meters it found that were new."""
    loop = asyncio.get_running_loop()
    query = QueryIdRequest(QueryIdSelector.UNCONFIGURED).to_apdu()
    handle = transport.send(BroadcastAddress(0), query, Service.REQUEST, retry_count=DISCOVERY_RETRIES)
    result.rounds += 1
    new = 0
    while True:
        event = await transport.next_event(max(0.0, deadline - loop.time()))
        if isinstance(event, Completed) and event.handle == handle:
            return new
        found = query_answer(event)
        if found is None or not isinstance(event, ResponseReceived) or event.handle != handle:
            continue
        answer, source = found
        if answer.unique_id not in result.found and len(result.found) < MAX_METERS:
            result.found[answer.unique_id] = Discovered(
                answer.unique_id, answer.program_id, source, result.rounds
            )
            new += 1


async def discover(
    segment: PeerAddress, domain: bytes, subnet: int, timeout: float, progress: Progress
) -> DiscoverResult:
    """F.4.3 discovery only (see the module docstring)."""
    loop = asyncio.get_running_loop()
    started = time.perf_counter()
    transport = CnipTransport(tool_stack(domain, subnet), peers=[segment])
    await transport.start(_local_for(segment), remote_addr=segment)
    result = DiscoverResult()
    deadline = loop.time() + timeout
    quiet = 0
    try:
        while quiet < QUIET_ROUNDS:
            new = await _one_query(transport, result, deadline)
            quiet = 0 if new else quiet + 1
            progress(f"query {result.rounds}: {new} new, {len(result.found)} meter(s) in all")
        result.settled = True
    except TimeoutError:
        progress(f"timeout after {timeout:g} s")
    finally:
        result.send_errors = transport.send_errors
        result.seconds = time.perf_counter() - started
        await transport.close()
    return result


# --------------------------------------------------------------------------------------------------
# lon commission


class SimulatedKeys:
    """The keys step with the simulated meters' long-term keys (``--test-keys``): each meter's key is
    derived from its unique node ID (:func:`~cosemnet.simulator.lon_cnip.simulated_long_term_key`)
    into the key store just before its secure channel is opened."""

    def __init__(self, agent: ConcentratorSecurity, keystore: KeyStore) -> None:
        self.agent = agent
        self.keystore = keystore

    def commission(self, address: SubnetNodeAddress, node_id: bytes, now: float) -> None:
        """Open the secure channel with ``node_id`` at ``address`` (its simulated key provisioned first)."""
        if self.keystore.entry(node_id) is None:
            self.keystore.provision(node_id, simulated_long_term_key(node_id))
        self.agent.commission(address, node_id, now)

    def established(self, address: Address) -> bool:
        """True when the secure channel with ``address`` is open."""
        return self.agent.established(address)


@dataclass(slots=True)
class Plan:
    """Which meters to commission and where (``--meters FILE`` / ``--all-discovered``, ``--subnet``)."""

    subnet: int
    wanted: dict[bytes, SubnetNodeAddress | None] | None = None
    """Unique node ID -> address (None: the next free one); None: every meter discovered."""
    assigned: dict[bytes, SubnetNodeAddress] = field(default_factory=dict)

    def wants(self, unique_id: bytes) -> bool:
        """True when ``unique_id`` is to be commissioned (every meter without ``--meters``)."""
        return self.wanted is None or unique_id in self.wanted

    def address_of(self, unique_id: bytes) -> SubnetNodeAddress | None:
        """The address ``unique_id`` is given (the next free one on first use), or None when not wanted."""
        if not self.wants(unique_id):
            return None
        known = self.assigned.get(unique_id)
        if known is not None:
            return known
        fixed = self.wanted.get(unique_id) if self.wanted is not None else None
        if fixed is None:
            used = {(a.destination_subnet, a.destination_node) for a in self._all_addresses()}
            node = next((n for n in range(2, 128) if (self.subnet, n) not in used), None)
            if node is None:
                return None
            fixed = SubnetNodeAddress(self.subnet, node)
        self.assigned[unique_id] = fixed
        return fixed

    def _all_addresses(self) -> Iterable[SubnetNodeAddress]:
        yield from self.assigned.values()
        if self.wanted is not None:
            yield from (a for a in self.wanted.values() if a is not None)


class ToolPort(EndpointPort):
    """The tool's CN/IP port: the ATM manager takes its events first (``claim_events``), the query
    answers of meters not wanted are set aside (they are never commissioned), the rest goes to the
    concentrator's DLMS endpoint."""

    def __init__(
        self, concentrator: LonConcentratorEndpoint, segment: PeerAddress, manager: AtmManager, plan: Plan
    ) -> None:
        super().__init__(concentrator, [segment])
        self.manager = manager
        self.plan = plan
        self.skipped: dict[bytes, QueryIdResponse] = {}
        self.claim_events = self._claim

    def _unwanted(self, event: Event) -> bool:
        found = query_answer(event)
        return found is not None and not self.plan.wants(found[0].unique_id)

    def _claim(self, now: float) -> bool:
        for event in self.endpoint.stack.take_events(self._unwanted):
            found = query_answer(event)
            if found is not None and len(self.skipped) < MAX_METERS:
                self.skipped[found[0].unique_id] = found[0]
        return self.manager.pump(now)

    async def drive(self, stop: asyncio.Event) -> None:
        """Process events and timers until ``stop``."""
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            self.kick.clear()
            self.process()
            deadline = earliest((self.endpoint.deadline(), self.manager.deadline()))
            wait = 0.2 if deadline is None else min(0.2, max(0.0, deadline - loop.time()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.kick.wait(), wait)


@dataclass(slots=True)
class CommissionResult:
    manager: AtmManager
    plan: Plan
    skipped: dict[bytes, QueryIdResponse]
    reads: dict[bytes, MeterRead]
    settled: bool
    send_errors: int
    seconds: float


async def _wait(until: Callable[[], bool], deadline: float, kick: asyncio.Event) -> bool:
    loop = asyncio.get_running_loop()
    kick.set()
    while not until():
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(0.01)
    return True


def _progress_watch(port: ToolPort, progress: Progress) -> Callable[[], bool]:
    """A condition for :func:`_wait` that reports the manager's progress when it changes; also true
    when the segment refused our packets (ICMP port unreachable) and nothing was ever heard."""
    manager = port.manager
    seen = (-1, -1)

    def done() -> bool:
        nonlocal seen
        now = (manager.statistics.discovered, manager.statistics.commissioned)
        if now != seen:
            seen = now
            progress(f"discovered {now[0]}, commissioned {now[1]}")
        unreachable = port.send_errors > 0 and port.stack.statistics.layer2_received == 0
        return manager.done or unreachable

    return done


async def _read_all(
    concentrator: LonConcentratorEndpoint, records: list[MeterRecord], deadline: float, kick: asyncio.Event
) -> dict[bytes, MeterRead]:
    links = []
    for record in records:
        assert record.address is not None
        link = concentrator.add_meter(record.address, pre_established=PUBLIC)
        link.submit(ln_request)
        links.append((record.unique_id, record.address, link))
    await _wait(lambda: not concentrator.busy(), deadline, kick)
    reads = {}
    for uid, address, link in links:
        read = MeterRead(address_text(address), uid.hex())
        fill_ln(read, link.results)
        reads[uid] = read
    return reads


@dataclass(slots=True)
class CommissionOptions:
    segment: PeerAddress
    domain: bytes
    plan: Plan
    keystore: KeyStore | None
    """None: no keys step (the null suite on the protected SAPs)."""
    simulated_keys: bool
    timeout: float


def _concentrator(
    options: CommissionOptions,
) -> tuple[LonConcentratorEndpoint, ConcentratorSecurity | None, KeyCommissioner | None]:
    stack = tool_stack(options.domain, options.plan.subnet)
    if options.keystore is None:
        return LonConcentratorEndpoint(stack, adp_config=null_suite_config()), None, None
    concentrator = LonConcentratorEndpoint(stack)
    agent = secure_concentrator(concentrator, TOOL_UNIQUE_ID, (options.plan.subnet, 1), options.keystore)
    keys: KeyCommissioner = SimulatedKeys(agent, options.keystore) if options.simulated_keys else agent
    return concentrator, agent, keys


async def commission(options: CommissionOptions, progress: Progress) -> CommissionResult:
    """Discovery and commissioning by the ATM manager, then one read per commissioned meter."""
    loop = asyncio.get_running_loop()
    started = time.perf_counter()
    concentrator, agent, keys = _concentrator(options)
    plan = options.plan
    config = AtmConfig(domain_id=options.domain, max_repeaters=0)  # CN/IP: no repeaters (decision 0111)
    manager = AtmManager(
        concentrator.stack, PathManager((plan.subnet, 1)), config, plan=plan.address_of, keys=keys
    )
    port = ToolPort(concentrator, options.segment, manager, plan)
    await port.start(_local_for(options.segment), remote_addr=options.segment)
    stop = asyncio.Event()
    task = asyncio.create_task(port.drive(stop))
    deadline = loop.time() + options.timeout
    try:
        manager.start_discovery(loop.time())
        settled = await _wait(_progress_watch(port, progress), deadline, port.kick)
        done = manager.in_state(MeterState.COMMISSIONED)
        if agent is not None and done:
            key_id = agent.update_domain_key(loop.time())
            await _wait(lambda: agent.domain.current == key_id, deadline, port.kick)
        if done:
            progress(f"reading {len(done)} meter(s)")
        reads = await _read_all(concentrator, done, deadline, port.kick)
        for uid, read in reads.items():
            if not read.errors:
                manager.mark_in_service(uid, loop.time())
    finally:
        stop.set()
        await task
        await port.close()
    return CommissionResult(
        manager, plan, port.skipped, reads, settled, port.send_errors, time.perf_counter() - started
    )


__all__ = [
    "CNIP_TX_TIMER",
    "TOOL_UNIQUE_ID",
    "CommissionOptions",
    "CommissionResult",
    "DiscoverResult",
    "Discovered",
    "Plan",
    "SimulatedKeys",
    "ToolPort",
    "commission",
    "discover",
    "stderr_progress",
]
