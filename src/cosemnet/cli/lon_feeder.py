"""A simulated IEC 62056-8-8 segment on a power-line *feeder*: meters hear only their neighbours, and the
concentrator reaches the far ones through Annex E repeating (docs/decisions/0070, 0071).

:func:`build_feeder` returns the same :class:`~cosemnet.simulator.lon_segment.LonSegment` as
:func:`~cosemnet.simulator.lon_segment.build_segment`, so
:func:`~cosemnet.simulator.lon_segment.read_segment` reads it unchanged; every node is a
:class:`~cosemnet.profiles.lon.repeater.ProxyStack` (meters repeat), the channel's links come from a
:class:`~cosemnet.profiles.lon.topology.Topology`, and the concentrator's routes from a
:class:`~cosemnet.profiles.lon.paths.PathManager` that :func:`learn_paths` fills.

:func:`learn_paths` lets every node send service pins and then hands every node's neighbour table to the
path manager directly (a test shortcut). :func:`discover` does it over the air instead: with
``build_feeder(configured=False)`` the meters start unconfigured and the concentrator's Annex F ATM
manager (:mod:`cosemnet.profiles.lon.atm`, docs/decisions/0072) discovers them (also behind repeaters),
commissions them (domain, subnet/node, group, node mode, OSGP-AES-128-PSK keys) and collects their
neighbour tables.
"""

from __future__ import annotations

import datetime as _dt
import secrets
from dataclasses import dataclass

from cosemnet.client.connection import ClientConnection
from cosemnet.profiles.lon.addresses import SubnetNodeAddress
from cosemnet.profiles.lon.atm import AtmAgent, AtmConfig, AtmManager, MeterState
from cosemnet.profiles.lon.channel import ChannelConfig, PowerLineChannel
from cosemnet.profiles.lon.dlms import LonConcentratorEndpoint, LonMeterEndpoint, run_exchange
from cosemnet.profiles.lon.node import Domain, LonNode
from cosemnet.profiles.lon.osgp_aes.keys import KeyStore
from cosemnet.profiles.lon.osgp_aes.setup import null_suite_config, secure_concentrator, secure_meter
from cosemnet.profiles.lon.paths import PathManager, qualities
from cosemnet.profiles.lon.preestablished import open_pre_established
from cosemnet.profiles.lon.repeater import ProxyStack, RepeaterConfig
from cosemnet.profiles.lon.stack import StackConfig
from cosemnet.profiles.lon.topology import Topology
from cosemnet.simulator.lon_segment import (
    CONCENTRATOR_ADDRESS,
    DOMAIN_ID,
    SECURITY_NONE,
    SECURITY_OSGP,
    FrameCapture,
    LonSegment,
    SegmentMeter,
    SegmentReport,
    meter_address,
    read_segment,
)
from cosemnet.simulator.meter import DEFAULT_START
from cosemnet.simulator.osgp_meter import build_osgp_meter

READ_ROUNDS: int = 3
"""Reading rounds of :func:`read_feeder`: a meter whose read failed is read again (links reset, paths
re-learnt if a repeater was forgotten) at most this many times in all (docs/decisions/0071)."""

RECEIVE_TIMER: int = 15
"""Receive records of a repeated feeder outlive a whole chain (decision 0070): 24.6 s."""

BROADCAST_BACKLOG: int = 4
"""Delta backlog of a feeder node's acknowledged / request broadcasts (docs/decisions/0073): with the
stack default (15) every retry of a discovery query pushes each hearer's contention window out by 15 x 16
slots, so the answers come after the agent and the repeaters before it have given up."""


def feeder_stack_config() -> StackConfig:
    return StackConfig(broadcast_backlog=BROADCAST_BACKLOG)


@dataclass(slots=True)
class Feeder:
    segment: LonSegment
    topology: Topology
    paths: PathManager
    agents: list[AtmAgent] | None = None
    manager: AtmManager | None = None

    def stacks(self) -> list[ProxyStack]:
        """The feeder's repeating stacks: the concentrator's and every meter's."""
        out = [self.segment.concentrator.stack, *(m.endpoint.stack for m in self.segment.meters)]
        return [s for s in out if isinstance(s, ProxyStack)]

    def max_hops(self) -> int:
        """Repeaters on the longest route the concentrator currently knows."""
        now = self.segment.channel.now
        routes = [self.paths.route(m.address, now) for m in self.segment.meters]
        return max((len(r) for r in routes if r is not None), default=0)


def feeder_unique_id(unique: int) -> bytes:
    """Unique node ID of feeder node ``unique`` (0: the concentrator, i + 1: meter i)."""
    return bytes((0x4C, 0x4F, 0x4E, 0x46)) + unique.to_bytes(2, "big")


def _node(unique: int, subnet: int, node: int, configured: bool = True) -> LonNode:
    domains: list[Domain | None] = [Domain(DOMAIN_ID, subnet, node)] if configured else []
    result = LonNode(feeder_unique_id(unique), domains=domains)
    result.non_group_receive_timer = RECEIVE_TIMER
    return result


def build_feeder(
    topology: Topology,
    *,
    seed: int = 0,
    history: _dt.timedelta = _dt.timedelta(0),
    start: _dt.datetime = DEFAULT_START,
    repeater: RepeaterConfig | None = None,
    configured: bool = True,
    security: str = SECURITY_NONE,
) -> Feeder:
    """The concentrator (topology node 0) and one OSGP meter per other topology node.

    ``configured=False``: the meters start unconfigured (no domain), each with an ATM agent, for
    :func:`discover`. ``security="osgp-aes"``: the OSGP-AES-128-PSK suite on the protected SAPs (the
    secure channels are opened by :func:`discover`, or by ``segment.commission()``); else the null suite.
    """
    count = len(topology) - 1
    capture = FrameCapture()
    channel = PowerLineChannel(ChannelConfig(auto_link=False), seed=seed)
    source = (CONCENTRATOR_ADDRESS.destination_subnet, CONCENTRATOR_ADDRESS.destination_node)
    paths = PathManager(source)
    dc = ProxyStack(_node(0, *source), feeder_stack_config(), hook=capture, routes=paths, repeater=repeater)
    osgp_on = security == SECURITY_OSGP
    plain = None if osgp_on else null_suite_config()
    concentrator = LonConcentratorEndpoint(dc, adp_config=plain)
    keystore = KeyStore()
    dc_security = (
        secure_concentrator(concentrator, feeder_unique_id(0), source, keystore) if osgp_on else None
    )
    channel.attach(dc)
    meters: list[SegmentMeter] = []
    agents: list[AtmAgent] = []
    for index in range(count):
        address = meter_address(index)
        stack = ProxyStack(
            _node(index + 1, address.destination_subnet, address.destination_node, configured),
            feeder_stack_config(),
            hook=capture,
            repeater=repeater,
        )
        osgp = build_osgp_meter(
            stack, serial=index + 1, seed=seed * 7919 + index, start=start, history=history
        )
        endpoint = LonMeterEndpoint(
            stack,
            [osgp.served],
            epoch=start.timestamp(),
            on_security_event=osgp.record_authentication_failure,
            protocol_setup=osgp.protocol_setup,
            adp_config=plain,
        )
        meter_security = None
        if osgp_on:
            uid = feeder_unique_id(index + 1)
            keystore.provision(uid, secrets.token_bytes(16))
            entry = keystore.entry(uid)
            assert entry is not None
            pair = (address.destination_subnet, address.destination_node)
            meter_security = secure_meter(endpoint, uid, pair, entry.current)
        if not configured:
            agent = AtmAgent(stack)
            endpoint.adp.attach(agent)
            agents.append(agent)
        channel.attach(stack)
        meters.append(SegmentMeter(index, address, osgp, endpoint, meter_security))
    topology.apply(channel)
    segment = LonSegment(
        channel,
        concentrator,
        meters,
        capture,
        security=SECURITY_OSGP if osgp_on else SECURITY_NONE,
        concentrator_security=dc_security,
    )
    return Feeder(segment, topology, paths, agents if not configured else None)


def discover(feeder: Feeder, limit: float = 86400.0) -> AtmManager:
    """Annex F over the air: the concentrator's ATM manager discovers and commissions every meter it can
    reach (directly or through repeaters), collects the neighbour tables, then (OSGP) hands out a domain
    key. Meter ``i`` gets :func:`meter_address` ``(i)`` (the plan of the head end)."""
    segment = feeder.segment
    plan = {feeder_unique_id(m.index + 1): m.address for m in segment.meters}

    def address_of(uid: bytes) -> SubnetNodeAddress | None:
        return plan.get(uid)

    manager = feeder.manager
    if manager is None:
        manager = AtmManager(
            segment.concentrator.stack,
            feeder.paths,
            AtmConfig(domain_id=DOMAIN_ID),
            plan=address_of,
            keys=segment.concentrator_security,
        )
        feeder.manager = manager
    channel = segment.channel
    manager.start_discovery(channel.now)
    run_exchange(channel, [manager, *segment.endpoints()], until=lambda: manager.done, limit=limit)
    if segment.concentrator_security is not None:
        segment.concentrator_security.update_domain_key(channel.now)
        run_exchange(channel, [manager, *segment.endpoints()], limit=limit)
    return manager


def mark_read(feeder: Feeder, ok_addresses: list[SubnetNodeAddress]) -> None:
    """Commissioned meters that answered a reading are in service (F.3)."""
    manager = feeder.manager
    if manager is None:
        return
    now = feeder.segment.channel.now
    for record in manager.in_state(MeterState.COMMISSIONED):
        if record.address in ok_addresses:
            manager.mark_in_service(record.unique_id, now)


def _associate(connection: ClientConnection) -> bytes | None:
    return connection.associate() if not connection.is_associated else None


def reset_links(feeder: Feeder, meter: SegmentMeter) -> None:
    """Start the concentrator's links with ``meter`` clean after a failed read: the meter keys its
    associations by the sender it sees, which behind repeaters is the Annex E agent (decisions 0039,
    0070), so after a route change the SN (LLS) association is opened again (AARQ first) and the
    pre-established LN one starts from its row."""
    segment = feeder.segment
    public = segment.public_links.get(meter.index)
    if public is not None and not public.waiting:
        public.connection.abort()
        if public.pre_established is not None:
            open_pre_established(public.connection, public.pre_established)
    sn = segment.sn_links.get(meter.index)
    if sn is not None and not sn.waiting:
        sn.connection.abort()
        sn.queue.clear()
        sn.submit(_associate)


def relearn(feeder: Feeder, limit: float = 3600.0) -> None:
    """A repeater disappeared (the path manager forgot it): the ATM manager collects the neighbour tables
    of the meters still on the network and the path manager re-learns the links (issue 11 item 3)."""
    manager = feeder.manager
    segment = feeder.segment
    if manager is None:
        return
    manager.collect_neighbours(segment.channel.now)
    run_exchange(segment.channel, [manager, *segment.endpoints()], until=lambda: manager.done, limit=limit)


def read_feeder(
    feeder: Feeder, *, ln: bool = True, sn: bool = True, rounds: int = READ_ROUNDS, limit: float = 3600.0
) -> SegmentReport:
    """:func:`~cosemnet.simulator.lon_segment.read_segment`, then up to ``rounds - 1`` more rounds for
    the meters whose read failed: their links reset (:func:`reset_links`), the paths re-learnt first
    when the path manager forgot a repeater (:func:`relearn`). The report holds every meter's last read;
    its time and channel figures cover all rounds."""
    segment = feeder.segment
    start = segment.channel.now
    report = read_segment(segment, ln=ln, sn=sn, limit=limit)
    reads = list(report.reads)
    forgotten = set(feeder.paths.relearn)
    for _ in range(rounds - 1):
        failed = [m for m, r in zip(segment.meters, reads, strict=True) if r.errors]
        if not failed:
            break
        if feeder.paths.relearn - forgotten:
            forgotten = set(feeder.paths.relearn)
            relearn(feeder, limit)
        for meter in failed:
            reset_links(feeder, meter)
        again = read_segment(segment, ln=ln, sn=sn, limit=limit, only=failed)
        for meter, read in zip(failed, again.reads, strict=True):
            reads[meter.index] = read
        report = again
    report.reads = reads
    report.simulated_seconds = segment.channel.now - start
    return report


def learn_paths(feeder: Feeder, pins: int = 3, spacing: float = 1.0) -> None:
    """Every node sends ``pins`` service pin messages (``spacing`` s apart); every neighbour table then
    becomes link observations of the concentrator's path manager (see the module docstring)."""
    channel = feeder.segment.channel
    stacks = feeder.stacks()
    for _ in range(pins):
        for stack in stacks:
            stack.service_pin(channel.now)
            channel.run_until(channel.now + spacing)
    channel.run_until_idle()
    sent = {}
    for stack in stacks:
        domain = stack.node.domains[0]
        if domain is not None:
            sent[(domain.subnet, domain.node)] = stack.frames_sent_as((domain.subnet, domain.node))
    for stack in stacks:
        domain = stack.node.domains[0]
        if domain is not None:
            feeder.paths.observe_table(
                (domain.subnet, domain.node), qualities(stack.heard, sent), channel.now
            )


__all__ = [
    "READ_ROUNDS",
    "RECEIVE_TIMER",
    "Feeder",
    "build_feeder",
    "discover",
    "feeder_unique_id",
    "learn_paths",
    "mark_read",
    "read_feeder",
    "relearn",
    "reset_links",
]
