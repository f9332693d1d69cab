"""Firmware download over the OSGP-AES-128-PSK suite (decision 0049) on the simulated power-line segment:
broadcast under the domain key, per-meter unicast repair of exactly the missing blocks, verification of
the whole image, scheduled activation through the meters' Image transfer objects; tampered, forged and
replayed messages rejected; the message codec strict."""

from __future__ import annotations

import dataclasses
import random

import pytest

from cosemnet.cosem.image_transfer import ImageTransferStatus
from cosemnet.errors import DecodeError
from cosemnet.profiles.lon.addresses import SubnetNodeAddress
from cosemnet.profiles.lon.channel import ChannelConfig
from cosemnet.profiles.lon.frames import LonFrame
from cosemnet.profiles.lon.lon_apdu import ApplicationMessage
from cosemnet.profiles.lon.osgp_aes.context import DOMAIN_FLAG
from cosemnet.profiles.lon.osgp_aes.firmware import (
    CampaignConfig,
    CampaignPhase,
    FirmwareCampaign,
    FirmwareReceiver,
    MeterPhase,
)
from cosemnet.profiles.lon.osgp_aes.firmware_messages import (
    FIRMWARE_MESSAGE_CODE,
    FirmwareMessageType,
    ImageActivate,
    ImageBlock,
    ImageStart,
    ImageState,
    ImageStatus,
    ImageVerify,
    StatusQuery,
    decode_body,
)
from cosemnet.profiles.lon.stack import LonStack, NetworkHook
from cosemnet.profiles.lon.transaction import Service
from cosemnet.profiles.lon.transport import Spdu, Tpdu
from cosemnet.simulator.lon_segment import LonSegment, build_segment
from cosemnet.simulator.osgp_firmware import attach_receiver, start_campaign

IMAGE = bytes((i * 7 + 3) & 0xFF for i in range(40 * 192 + 77))  # 41 blocks, the last one short
IDENTIFIER = b"osgp-fw-2.0"


def _segment(meters: int, loss: float, seed: int = 5) -> tuple[LonSegment, list[FirmwareReceiver]]:
    segment = build_segment(meters, seed=seed, channel_config=ChannelConfig(default_loss=loss))
    receivers = []
    for m in segment.meters:
        assert m.security is not None
        receivers.append(attach_receiver(m.endpoint, m.security, m.osgp))
    return segment, receivers


def _campaign(segment: LonSegment, config: CampaignConfig, image: bytes = IMAGE) -> FirmwareCampaign:
    assert segment.concentrator_security is not None
    return start_campaign(
        segment.concentrator,
        segment.concentrator_security,
        [m.address for m in segment.meters],
        IDENTIFIER,
        image,
        config=config,
    )


def _firmware_message(frame: LonFrame) -> ApplicationMessage | None:
    pdu = frame.npdu.pdu
    apdu = pdu.apdu if isinstance(pdu, Tpdu | Spdu) else pdu
    if isinstance(apdu, ApplicationMessage) and apdu.code == FIRMWARE_MESSAGE_CODE:
        return apdu
    return None


def _with_data(frame: LonFrame, data: bytes) -> LonFrame:
    pdu = frame.npdu.pdu
    message = ApplicationMessage(FIRMWARE_MESSAGE_CODE, data)
    new = dataclasses.replace(pdu, apdu=message) if isinstance(pdu, Tpdu | Spdu) else message
    return dataclasses.replace(frame, npdu=dataclasses.replace(frame.npdu, pdu=new))


def _is_broadcast_block(message: ApplicationMessage) -> bool:
    return message.data[0] == FirmwareMessageType.IMAGE_BLOCK and bool(message.data[1] & DOMAIN_FLAG)


class _TamperBroadcast(NetworkHook):
    """Flips one ciphertext bit of the ``which``-th block broadcast (every transmission of it)."""

    def __init__(self, inner: NetworkHook, which: int) -> None:
        self.inner, self.which, self.seen, self.tampered = inner, which, 0, 0
        self._counter: bytes | None = None

    def outbound(self, stack: LonStack, frame: LonFrame) -> LonFrame | None:
        message = _firmware_message(frame)
        if message is not None and _is_broadcast_block(message):
            counter = message.data[2:6]
            if self._counter != counter:
                self._counter, self.seen = counter, self.seen + 1
            if self.seen == self.which:
                data = bytearray(message.data)
                data[10] ^= 0x40
                frame = _with_data(frame, bytes(data))
                self.tampered += 1
        return self.inner.outbound(stack, frame)


def test_campaign_with_loss_repairs_only_missing_blocks_and_activates_on_schedule() -> None:
    segment, receivers = _segment(5, loss=0.2)
    activate_at = segment.channel.now + 600.0
    config = CampaignConfig(broadcast_service=Service.UNACKD, activate_at=activate_at)
    job = _campaign(segment, config)
    segment.run(limit=5000)
    progress = job.progress()
    assert progress.finished and progress.done == 5 and progress.blocks_broadcast == job.block_count == 41
    all_blocks = set(range(job.block_count))
    repaired_somewhere = False
    for receiver, meter, campaign_meter in zip(receivers, segment.meters, job.meters.values(), strict=True):
        record = receiver.record
        # each block went by unicast only to a meter that lacked it, once
        assert campaign_meter.repaired == record.unicast_blocks
        assert sorted(record.unicast_blocks) == sorted(all_blocks - record.broadcast_blocks)
        assert record.duplicate_unicast == 0
        repaired_somewhere = repaired_somewhere or bool(record.unicast_blocks)
        # the whole image verified and activated through the meter's Image transfer object
        it = meter.osgp.meter.image_transfer
        assert it is not None and it.image == IMAGE
        assert it.status is ImageTransferStatus.ACTIVATION_SUCCESSFUL
        assert receiver.active_identifier == IDENTIFIER
        assert receiver.activated_at is not None and receiver.activated_at >= activate_at
        assert receiver.stats.rejected.total() == 0
    assert repaired_somewhere  # 20 % loss on an unrepeated broadcast: some meter missed blocks
    assert progress.repair_blocks == sum(len(r.record.unicast_blocks) for r in receivers)


def test_campaign_is_deterministic() -> None:
    runs = []
    for _ in range(2):
        segment, _receivers = _segment(3, loss=0.15, seed=9)
        job = _campaign(segment, CampaignConfig(broadcast_service=Service.UNACKD))
        end = segment.run(limit=5000)
        runs.append(
            (
                end,
                segment.channel.statistics.airtime,
                [m.repaired for m in job.meters.values()],
                job.progress(),
            )
        )
    assert runs[0] == runs[1]


def test_tampered_broadcast_block_is_rejected_and_repaired() -> None:
    segment, receivers = _segment(3, loss=0.0)
    stack = segment.concentrator.stack
    hook = _TamperBroadcast(stack.hook, which=4)
    stack.hook = hook
    job = _campaign(segment, CampaignConfig(broadcast_service=Service.UNACKD_RPT))
    segment.run(limit=5000)
    assert hook.tampered == 4  # the first transmission and its three repeats
    assert job.progress().done == 3
    for receiver in receivers:
        assert receiver.stats.rejected["authentication"] == 1  # 14908-1 drops the repeats as duplicates
        assert 3 not in receiver.record.broadcast_blocks  # block 3 (the 4th) never taken from the air
        assert receiver.record.unicast_blocks == [3]
        assert receiver.image == IMAGE


def test_block_forged_under_the_domain_key_fails_verification_and_is_replaced() -> None:
    """A holder of the domain key (any meter) can broadcast a block; the image MAC under each meter's own
    key catches it, the meter drops its blocks and the campaign sends them again by unicast."""
    segment, receivers = _segment(2, loss=0.0)
    job = _campaign(segment, CampaignConfig())
    genuine = job.block
    forged_once = {"done": False}

    def block(number: int) -> bytes:
        data = genuine(number)
        if number == 7 and not forged_once["done"]:
            forged_once["done"] = True
            return bytes(len(data))
        return data

    job.block = block  # type: ignore[method-assign]
    segment.run(limit=20000)
    assert job.progress().done == 2
    for receiver, meter in zip(receivers, segment.meters, strict=True):
        assert receiver.record.verify_failures == 1
        assert sorted(receiver.record.unicast_blocks) == list(range(job.block_count))
        it = meter.osgp.meter.image_transfer
        assert it is not None and it.image == IMAGE


def test_replayed_and_foreign_firmware_messages_are_rejected() -> None:
    segment, receivers = _segment(2, loss=0.0)
    captured: list[LonFrame] = []

    class Keep(NetworkHook):
        def outbound(self, stack: LonStack, frame: LonFrame) -> LonFrame | None:
            if _firmware_message(frame) is not None:
                captured.append(frame)
            return frame

    segment.concentrator.stack.hook = Keep()
    job = _campaign(segment, CampaignConfig(activate=False))
    segment.run(limit=5000)
    assert job.progress().done == 2
    meter = segment.meters[0]
    receiver = receivers[0]
    blocks = [f for f in captured if (m := _firmware_message(f)) is not None and _is_broadcast_block(m)]
    before = receiver.record.broadcast_blocks.copy()
    meter.endpoint.stack.receive_lon_frame(blocks[0], segment.channel.now)
    segment.run(limit=60)
    assert receiver.stats.rejected["replay"] >= 1
    assert receiver.record.broadcast_blocks == before
    # garbage under the firmware code: counted, never raised
    rng = random.Random(1)
    source = SubnetNodeAddress(1, 1)
    for _ in range(300):
        data = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 60)))
        receiver.message_received(
            source, ApplicationMessage(FIRMWARE_MESSAGE_CODE, data), segment.channel.now
        )
        job.message_received(
            meter.address, ApplicationMessage(FIRMWARE_MESSAGE_CODE, data), segment.channel.now
        )
    assert receiver.stats.rejected.total() >= 300
    assert receiver.download is not None and receiver.download.state is ImageState.VERIFIED


def test_meter_without_a_channel_or_refusing_the_image_fails_alone() -> None:
    segment, receivers = _segment(3, loss=0.0)
    receivers[1].max_image_size = 1000  # too small for the image: the meter refuses it
    agent = segment.concentrator_security
    assert agent is not None
    stranger = SubnetNodeAddress(1, 99)
    job = FirmwareCampaign(agent, 2, IDENTIFIER, IMAGE, [m.address for m in segment.meters] + [stranger])
    segment.concentrator.adp.attach(job)
    segment.run(limit=5000)
    phases = {str(m.address): (m.phase, m.reason) for m in job.meters.values()}
    assert phases[str(stranger)] == (MeterPhase.FAILED, "no secure channel")
    assert phases[str(segment.meters[1].address)] == (MeterPhase.FAILED, "meter reports REFUSED")
    assert job.phase is CampaignPhase.FINISHED and job.progress().done == 2
    assert receivers[0].active_identifier == IDENTIFIER and receivers[1].active_identifier is None


@pytest.mark.parametrize(
    "message",
    [
        ImageStart(1, 5000, 192, b"fw"),
        ImageBlock(65535, 3, b"\x01" * 192),
        StatusQuery(7, 1024, 9),
        ImageStatus(7, ImageState.RECEIVING, 41, 0, 41, b"\xff" * 5 + b"\x80", 3),
        ImageVerify(2, bytes(range(16))),
        ImageActivate(2, 3600),
    ],
)
def test_message_codec_round_trip_and_strictness(message: object) -> None:
    assert hasattr(message, "body") and hasattr(message, "TYPE")
    body = message.body()  # type: ignore[attr-defined]
    kind = int(message.TYPE)  # type: ignore[attr-defined]
    assert decode_body(kind, body) == message
    if not isinstance(message, ImageBlock):
        with pytest.raises(DecodeError):
            decode_body(kind, body + b"\x00")
    with pytest.raises(DecodeError):
        decode_body(kind, body[:3])
    with pytest.raises(DecodeError):
        decode_body(0x09, body)
