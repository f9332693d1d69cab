"""A simulated IEC 62056-8-8 segment on a power-line *feeder*: meters hear only their neighbours, and the
concentrator reaches the far ones through Annex E repeating (docs/decisions/0070, 0071).

:func:`build_feeder` returns the same :class:`~cosemnet.simulator.lon_segment.LonSegment` as
:func:`~cosemnet.simulator.lon_segment.build_segment`, so
:func:`~cosemnet.simulator.lon_segment.read_segment` reads it unchanged; every node is a
:class:`~cosemnet.profiles.lon.repeater.ProxyStack` (meters repeat), the channel's links come from a
:class:`~cosemnet.profiles.lon.topology.Topology`, and the concentrator's routes from a
:class:`~cosemnet.profiles.lon.paths.PathManager` that :func:`learn_paths` fills.

[design] Until discovery (Annex F) exists, :func:`learn_paths` lets every node send service pins and then
hands every node's neighbour table to the path manager directly (what discovery will collect over the air).
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass

from cosemnet.profiles.lon.channel import ChannelConfig, PowerLineChannel
from cosemnet.profiles.lon.dlms import LonConcentratorEndpoint, LonMeterEndpoint
from cosemnet.profiles.lon.node import Domain, LonNode
from cosemnet.profiles.lon.osgp_aes.setup import null_suite_config
from cosemnet.profiles.lon.paths import PathManager, qualities
from cosemnet.profiles.lon.repeater import ProxyStack, RepeaterConfig
from cosemnet.profiles.lon.topology import Topology
from cosemnet.simulator.lon_segment import (
    CONCENTRATOR_ADDRESS,
    DOMAIN_ID,
    FrameCapture,
    LonSegment,
    SegmentMeter,
    meter_address,
)
from cosemnet.simulator.meter import DEFAULT_START
from cosemnet.simulator.osgp_meter import build_osgp_meter

RECEIVE_TIMER: int = 15
"""Receive records of a repeated feeder outlive a whole chain (decision 0070): 24.6 s."""


@dataclass(slots=True)
class Feeder:
    segment: LonSegment
    topology: Topology
    paths: PathManager

    def stacks(self) -> list[ProxyStack]:
        out = [self.segment.concentrator.stack, *(m.endpoint.stack for m in self.segment.meters)]
        return [s for s in out if isinstance(s, ProxyStack)]

    def max_hops(self) -> int:
        """Repeaters on the longest route the concentrator currently knows."""
        now = self.segment.channel.now
        routes = [self.paths.route(m.address, now) for m in self.segment.meters]
        return max((len(r) for r in routes if r is not None), default=0)


def _node(unique: int, subnet: int, node: int) -> LonNode:
    result = LonNode(
        bytes((0x4C, 0x4F, 0x4E, 0x46)) + unique.to_bytes(2, "big"), domains=[Domain(DOMAIN_ID, subnet, node)]
    )
    result.non_group_receive_timer = RECEIVE_TIMER
    return result


def build_feeder(
    topology: Topology,
    *,
    seed: int = 0,
    history: _dt.timedelta = _dt.timedelta(0),
    start: _dt.datetime = DEFAULT_START,
    repeater: RepeaterConfig | None = None,
) -> Feeder:
    """The concentrator (topology node 0) and one OSGP meter per other topology node."""
    count = len(topology) - 1
    capture = FrameCapture()
    channel = PowerLineChannel(ChannelConfig(auto_link=False), seed=seed)
    source = (CONCENTRATOR_ADDRESS.destination_subnet, CONCENTRATOR_ADDRESS.destination_node)
    paths = PathManager(source)
    dc = ProxyStack(_node(0, *source), hook=capture, routes=paths, repeater=repeater)
    # the feeder runs the null suite on the protected SAPs, explicitly (the OSGP-AES suite over repeaters:
    # not wired yet)
    concentrator = LonConcentratorEndpoint(dc, adp_config=null_suite_config())
    channel.attach(dc)
    meters: list[SegmentMeter] = []
    for index in range(count):
        address = meter_address(index)
        stack = ProxyStack(
            _node(index + 1, address.destination_subnet, address.destination_node),
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
            adp_config=null_suite_config(),
        )
        channel.attach(stack)
        meters.append(SegmentMeter(index, address, osgp, endpoint))
    topology.apply(channel)
    return Feeder(LonSegment(channel, concentrator, meters, capture), topology, paths)


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
            sent[(domain.subnet, domain.node)] = stack.statistics.frames_sent
    for stack in stacks:
        domain = stack.node.domains[0]
        if domain is not None:
            feeder.paths.observe_table(
                (domain.subnet, domain.node), qualities(stack.heard, sent), channel.now
            )


__all__ = ["RECEIVE_TIMER", "Feeder", "build_feeder", "learn_paths"]
