"""OSGP firmware download (decision 0049) through Annex E repeaters: the envelope's associated data binds
only the meter's end-to-end address (decision 0096), so a meter behind 1 or 2 repeaters, which sees the
agent as the sender, opens the campaign's messages and its answers open at the concentrator. The blocks
broadcast directly reach only the meters in direct reach; the others get every block by unicast repair
through their repeaters. The meters' ATM agents (code 0x0C) and firmware receivers (0x0F) share the ADP.
Simulated time."""

from __future__ import annotations

from cosemnet.cli.lon_feeder import build_feeder, discover
from cosemnet.cosem.image_transfer import ImageTransferStatus
from cosemnet.profiles.lon.osgp_aes.firmware import REPEATED_BLOCK_SIZE, CampaignConfig
from cosemnet.profiles.lon.topology import TopologyConfig, line
from cosemnet.simulator.lon_segment import SECURITY_OSGP
from cosemnet.simulator.osgp_firmware import attach_receiver, start_campaign

IMAGE = bytes((i * 11 + 5) & 0xFF for i in range(6 * 84 + 40))  # 7 blocks, the last one short
IDENTIFIER = b"osgp-fw-3.1"


def test_firmware_campaign_through_two_repeaters() -> None:
    topology = line(3, spacing_m=400.0, config=TopologyConfig(seed=2))  # each meter hears its neighbours
    assert topology.hops_from_root() == [0, 1, 2, 3]
    feeder = build_feeder(topology, seed=2, configured=False, security=SECURITY_OSGP)
    manager = discover(feeder)  # Annex F over the air, keys included; the ATM agents stay attached
    assert manager.statistics.commissioned == 3
    segment = feeder.segment
    routes = [feeder.paths.route(m.address, segment.channel.now) for m in segment.meters]
    assert [len(r or []) for r in routes] == [0, 1, 2]
    receivers = []
    for m in segment.meters:
        assert m.security is not None
        receivers.append(attach_receiver(m.endpoint, m.security, m.osgp))
    assert segment.concentrator_security is not None
    job = start_campaign(
        segment.concentrator,
        segment.concentrator_security,
        [m.address for m in segment.meters],
        IDENTIFIER,
        IMAGE,
        config=CampaignConfig(block_size=REPEATED_BLOCK_SIZE),
    )
    segment.run(limit=20000)
    progress = job.progress()
    assert progress.finished and progress.done == 3, progress
    for receiver, meter in zip(receivers, segment.meters, strict=True):
        it = meter.osgp.meter.image_transfer
        assert it is not None and it.image == IMAGE
        assert it.status is ImageTransferStatus.ACTIVATION_SUCCESSFUL
        assert receiver.active_identifier == IDENTIFIER
        assert receiver.stats.rejected.total() == 0
    # out of direct reach: no broadcast block arrived, all came by unicast through the repeaters
    for receiver in receivers[1:]:
        assert not receiver.record.broadcast_blocks
        assert sorted(receiver.record.unicast_blocks) == list(range(job.block_count))
