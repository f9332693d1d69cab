"""OSGP-AES-128-PSK through Annex E repeaters (decision 0096): a feeder where the far meter is two
repeaters away is discovered and commissioned over the air (as ``sim lon --topology`` does), its secure
channel is set up and a protected register read answered; a frame tampered on the repeated path, a
stranger's copy of a protected frame from another address and a frame redirected to another meter are
rejected. Simulated time, deterministic."""

from __future__ import annotations

import dataclasses
from functools import cache

from cosemnet.cli.lon_feeder import Feeder, build_feeder, discover, feeder_unique_id
from cosemnet.cli.lon_inject import forge, protected_message
from cosemnet.profiles.lon.frames import LonFrame
from cosemnet.profiles.lon.topology import TopologyConfig, line
from cosemnet.simulator.lon_segment import SECURITY_OSGP, SegmentMeter, read_segment


def _feeder() -> Feeder:
    topology = line(3, spacing_m=400.0, config=TopologyConfig(seed=3))
    assert topology.hops_from_root()[-1] == 3  # the far meter: two repeaters
    feeder = build_feeder(topology, seed=3, configured=False, security=SECURITY_OSGP)
    discover(feeder)
    return feeder


@cache
def _read_feeder() -> tuple[Feeder, bool]:
    feeder = _feeder()
    return feeder, read_segment(feeder.segment, limit=3600).ok


def _last_protected_to(feeder: Feeder, meter: SegmentMeter) -> LonFrame:
    frames = [f for f in feeder.segment.capture.frames if f.npdu.destination == meter.address]
    return next(f for f in reversed(frames) if protected_message(f) is not None)


def _deliver(feeder: Feeder, meter: SegmentMeter, frame: LonFrame) -> None:
    segment = feeder.segment
    meter.endpoint.stack.receive_lon_frame(frame, segment.channel.now)
    segment.run(limit=60)


def test_secure_channel_and_protected_read_over_two_repeaters() -> None:
    feeder, ok = _read_feeder()
    segment = feeder.segment
    far = segment.meters[-1]
    route = feeder.paths.route(far.address, segment.channel.now)
    assert route is not None and len(route) == 2
    agent = segment.concentrator_security
    assert agent is not None and far.security is not None
    assert all(agent.established(m.address) for m in segment.meters)
    assert ok  # LN (public) and SN (the protected NNAP association) reads of every meter
    # the meter holds one channel, named by the concentrator's identity, reached through its agent
    assert list(far.security.channels) == [feeder_unique_id(0)]
    assert far.security.stats.accepted >= 2 and not far.security.stats.rejected
    last_hop = _last_protected_to(feeder, far).npdu
    assert (last_hop.source_subnet, last_hop.source_node) == (
        route[-1].destination_subnet,
        route[-1].destination_node,
    )


def test_frame_tampered_on_the_repeated_path_is_rejected() -> None:
    feeder, _ = _read_feeder()
    far = feeder.segment.meters[-1]
    assert far.security is not None
    frame = _last_protected_to(feeder, far)
    message = protected_message(frame)
    assert message is not None
    requests, rejected = far.endpoint.requests, far.security.stats.rejected["authentication"]
    tampered = bytearray(message.data)
    tampered[-3] ^= 0x20
    _deliver(feeder, far, forge(frame, bytes(tampered)))
    assert far.endpoint.requests == requests
    assert far.security.stats.rejected["authentication"] == rejected + 1


def test_stranger_replaying_from_another_address_is_rejected() -> None:
    feeder = _feeder()  # its own feeder: it reads again afterwards
    assert read_segment(feeder.segment, ln=False, limit=3600).ok
    segment = feeder.segment
    far = segment.meters[-1]
    assert far.security is not None
    frame = _last_protected_to(feeder, far)
    message = protected_message(frame)
    assert message is not None
    requests, replays = far.endpoint.requests, far.security.stats.rejected["replay"]
    stranger = dataclasses.replace(frame.npdu, source_subnet=1, source_node=99)
    _deliver(feeder, far, forge(dataclasses.replace(frame, npdu=stranger), message.data))
    assert far.endpoint.requests == requests  # authentic, but seen before: a replay
    assert far.security.stats.rejected["replay"] == replays + 1
    assert far.security.channels[feeder_unique_id(0)].peer_address != (1, 99)  # errors not redirected
    # redirected to another meter (its own address and keys): fails authentication
    other = segment.meters[0]
    assert other.security is not None
    before, served = other.security.stats.rejected.total(), other.endpoint.requests
    redirected = dataclasses.replace(frame.npdu, destination=other.address)
    _deliver(feeder, other, forge(dataclasses.replace(frame, npdu=redirected), message.data))
    assert other.security.stats.rejected.total() == before + 1 and other.endpoint.requests == served
    # the genuine channel keeps working
    again = read_segment(segment, ln=False, limit=3600)
    assert again.ok, [r.errors for r in again.reads]
