"""The firmware campaign's state machine, sans-IO (issue 12 item 2, decision 0116): driven by a fake
network of ImageTransfer objects that loses requests and answers on purpose, so that what is sent
again can be compared with what was lost, exactly."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from pathlib import Path

import pytest

from cosemnet.codec.types import DataValue, DoubleLongUnsigned, Enumerated
from cosemnet.cosem.image_transfer import ImageTransfer, ImageTransferStatus
from cosemnet.cosem.results import CosemAccessError
from cosemnet.headend.firmware import (
    CampaignConfig,
    CampaignError,
    CampaignRequest,
    CampaignWait,
    FirmwareCampaign,
    MeterStatus,
    Stage,
)
from cosemnet.headend.firmware_store import FirmwareStore
from cosemnet.headend.headend import MeterResult

Drop = Callable[[bytes, CampaignRequest], bool]


class FakeNet:
    """Meters as ImageTransfer objects; ``drop_request`` / ``drop_answer`` decide losses (no retries:
    an unanswered meter is reported as failed, as the head-end does after its last attempt)."""

    def __init__(self, titles: list[bytes], block_size: int = 64) -> None:
        self.meters = {t: ImageTransfer(image_block_size=block_size) for t in titles}
        self.active: dict[bytes, bytes] = {}
        self.drop_request: Drop = lambda t, r: False
        self.drop_answer: Drop = lambda t, r: False
        self.blocks_lost: list[tuple[bytes, int]] = []
        self.blocks_delivered: list[tuple[bytes, int]] = []

    def _get(self, it: ImageTransfer, attribute: int) -> DataValue:
        if attribute == 2:
            return DoubleLongUnsigned(it.image_block_size)
        if attribute == 3:
            return it.transferred_blocks_status()
        if attribute == 4:
            return DoubleLongUnsigned(it.first_not_transferred_block_number())
        if attribute == 5:
            return it.image_transfer_enabled
        if attribute == 6:
            return Enumerated(it.status)
        return [(DoubleLongUnsigned(s), i, d) for s, i, d in it.image_to_activate_info]

    def _act(self, it: ImageTransfer, title: bytes, method: int, value: DataValue) -> None:
        if method == 1:
            assert isinstance(value, tuple)
            it.initiate(value[0], int(value[1]))  # type: ignore[arg-type]
        elif method == 2:
            assert isinstance(value, tuple)
            it.transfer_block(int(value[0]), value[1])  # type: ignore[arg-type]
        elif method == 3:
            it.verify()
        else:
            if it.status is not ImageTransferStatus.VERIFICATION_SUCCESSFUL:
                it.verify()
            self.active[title] = it.image_identifier
            it.status = ImageTransferStatus.ACTIVATION_SUCCESSFUL

    def run(self, request: CampaignRequest, now: float) -> tuple[dict[bytes, MeterResult], dict[bytes, str]]:
        results: dict[bytes, MeterResult] = {}
        failed: dict[bytes, str] = {}
        for title in request.titles:
            it = self.meters[title]
            if self.drop_request(title, request):
                if request.block is not None:
                    self.blocks_lost.append((title, request.block))
                failed[title] = "no answer after 1 attempts"
                continue
            if request.block is not None:
                self.blocks_delivered.append((title, request.block))
            values: list[DataValue | None] = []
            errors: list[str | None] = []
            if request.operation is None:
                values = [self._get(it, a.attribute_id) for a in request.attributes]
                errors = [None] * len(values)
            else:
                try:
                    self._act(it, title, request.operation.index, request.operation.value)
                    values, errors = [None], [None]
                except CosemAccessError as exc:
                    values, errors = [None], [f"18/0-0:44.0.0*255/method: {exc}"]
            if self.drop_answer(title, request):
                failed[title] = "no answer after 1 attempts"
                continue
            results[title] = MeterResult(title, values, errors, 1, now)
        return results, failed


def _drive(campaign: FirmwareCampaign, net: FakeNet, now: float = 1000.0, limit: int = 10_000) -> float:
    for _ in range(limit):
        step = campaign.next_request(now)
        if step is None:
            campaign.finish(now)
            return now
        if isinstance(step, CampaignWait):
            assert step.until > now
            now = step.until
            continue
        results, failed = net.run(step, now)
        campaign.handle_results(step, results, failed, now)
        now += 0.1
    raise AssertionError("the campaign did not end")


TITLES = [bytes([0x4D, 0x4D, 0x4D, 0, 0, 0, 0, i]) for i in range(1, 21)]


@pytest.fixture()
def store(tmp_path: Path) -> FirmwareStore:
    s = FirmwareStore(tmp_path / "hes.db")
    yield s  # type: ignore[misc]
    s.close()


def test_lost_blocks_and_only_they_are_sent_again(store: FirmwareStore) -> None:
    """30 % of block requests and 30 % of block answers lost: every meter activated; the blocks sent
    again are exactly the ones whose request was lost (a lost answer is settled by the status read)."""
    image = random.Random(1).randbytes(64 * 12 + 7)
    net = FakeNet(TITLES)
    rng = random.Random(7)
    net.drop_request = lambda t, r: r.stage is Stage.BLOCKS and rng.random() < 0.3
    net.drop_answer = lambda t, r: r.stage is Stage.BLOCKS and rng.random() < 0.3
    config = CampaignConfig(repair_passes=50)  # 30 % loss: a block may be lost many times in a row
    campaign = FirmwareCampaign.create(store, b"fw-9", image, TITLES, 1000.0, config=config)
    _drive(campaign, net)
    assert campaign.counts()["activated"] == len(TITLES)
    assert all(it.image == image for it in net.meters.values())
    assert set(net.active.values()) == {b"fw-9"}
    blocks = 13
    assert net.blocks_lost and len(net.blocks_delivered) == len(TITLES) * blocks  # each delivered once
    assert campaign.blocks_sent == len(TITLES) * blocks + len(net.blocks_lost)
    rows = store.meters(campaign.campaign_id)
    assert {r.status for r in rows} == {"activated"} and {r.blocks_done for r in rows} == {blocks}
    assert sum(r.blocks_sent for r in rows) == campaign.blocks_sent


def test_activation_waits_for_the_scheduled_time(store: FirmwareStore) -> None:
    net = FakeNet(TITLES[:3])
    campaign = FirmwareCampaign.create(store, b"fw", b"z" * 300, TITLES[:3], 1000.0, activate_at=5000.0)
    now = 1000.0
    waited = None
    for _ in range(100):
        step = campaign.next_request(now)
        if isinstance(step, CampaignWait):
            waited = step.until
            assert not net.active and campaign.counts()["verified"] == 3
            now = step.until
            continue
        if step is None:
            break
        results, failed = net.run(step, now)
        campaign.handle_results(step, results, failed, now)
        now += 0.1
    assert waited == 5000.0 and campaign.counts()["activated"] == 3


def test_no_activate_stops_at_verified_and_errors_are_per_meter(store: FirmwareStore) -> None:
    net = FakeNet(TITLES[:4])
    net.meters[TITLES[1]].image_transfer_enabled = False
    net.meters[TITLES[2]].max_image_size = 100  # refuses the initiate
    campaign = FirmwareCampaign.create(store, b"fw", b"q" * 500, TITLES[:4], 0.0, activate=False)
    _drive(campaign, net)
    meters = campaign.meters
    assert meters[TITLES[0]].status is MeterStatus.VERIFIED and not net.active
    assert meters[TITLES[1]].status is MeterStatus.FAILED and "disabled" in (meters[TITLES[1]].reason or "")
    assert meters[TITLES[2]].status is MeterStatus.FAILED
    assert "initiate" in (meters[TITLES[2]].reason or "")
    assert meters[TITLES[3]].status is MeterStatus.VERIFIED


def test_lost_activate_answer_is_settled_by_the_status(store: FirmwareStore) -> None:
    """The activation ran but its answer was lost; the retry (another round) is refused by the meter
    (already active): the status read still counts the meter as activated."""
    net = FakeNet(TITLES[:2])
    net.drop_answer = lambda t, r: r.stage is Stage.ACTIVATE
    campaign = FirmwareCampaign.create(store, b"fw", b"a" * 200, TITLES[:2], 0.0)
    _drive(campaign, net)
    assert campaign.counts()["activated"] == 2


def test_silent_meter_fails_after_its_retries_others_finish(store: FirmwareStore) -> None:
    net = FakeNet(TITLES[:3])
    net.drop_request = lambda t, r: t == TITLES[0]
    campaign = FirmwareCampaign.create(store, b"fw", b"s" * 200, TITLES[:3], 0.0)
    _drive(campaign, net)
    assert campaign.counts() == {"pending": 0, "transferring": 0, "verified": 0, "activated": 2, "failed": 1}
    assert "no answer" in (campaign.meters[TITLES[0]].reason or "")


def test_resume_continues_from_the_blocks_the_meter_holds(store: FirmwareStore) -> None:
    image = bytes(range(256)) * 4  # 16 blocks of 64
    net = FakeNet(TITLES[:4])
    campaign = FirmwareCampaign.create(store, b"fw-r", image, TITLES[:4], 0.0)
    now = 0.0
    while campaign.blocks_confirmed < 4 * 7:  # stop mid-transfer
        step = campaign.next_request(now)
        assert isinstance(step, CampaignRequest)
        results, failed = net.run(step, now)
        campaign.handle_results(step, results, failed, now)
    campaign.finish(now, "SIGINT")
    assert store.campaign(campaign.campaign_id).stopped == "SIGINT"  # type: ignore[union-attr]
    held = sum(len(it._blocks) for it in net.meters.values())
    resumed = FirmwareCampaign.resume(store, campaign.campaign_id, image)
    net.blocks_delivered.clear()
    _drive(resumed, net)
    assert resumed.counts()["activated"] == 4
    assert resumed.blocks_sent == 4 * 16 - held  # only the missing ones
    assert len(set(net.blocks_delivered)) == len(net.blocks_delivered)  # none twice
    with pytest.raises(CampaignError, match="another image"):
        FirmwareCampaign.resume(store, campaign.campaign_id, image[::-1])
    with pytest.raises(CampaignError, match="no firmware campaign"):
        FirmwareCampaign.resume(store, 999, image)
    assert store.campaign(campaign.campaign_id).image_digest == hashlib.sha256(image).digest()  # type: ignore[union-attr]


def test_a_meter_already_running_the_image_gets_nothing(store: FirmwareStore) -> None:
    image = b"m" * 300
    net = FakeNet(TITLES[:2])
    first = FirmwareCampaign.create(store, b"fw-x", image, TITLES[:1], 0.0)
    _drive(first, net)
    second = FirmwareCampaign.create(store, b"fw-x", image, TITLES[:2], 100.0)
    net.blocks_delivered.clear()
    _drive(second, net)
    assert second.counts()["activated"] == 2
    assert second.meters[TITLES[0]].blocks_sent == 0
    assert {t for t, _ in net.blocks_delivered} == {TITLES[1]}


def test_malformed_answers_fail_the_meter_not_the_campaign(store: FirmwareStore) -> None:
    """A meter answering the probe with too few values, or a status with no bit-string and no block
    number: a clear per-meter failure or a full repair, never an exception."""
    net = FakeNet(TITLES[:3])
    run = net.run

    def broken(request: CampaignRequest, now: float) -> tuple[dict[bytes, MeterResult], dict[bytes, str]]:
        results, failed = run(request, now)
        if request.stage is Stage.PROBE and TITLES[0] in results:
            results[TITLES[0]] = MeterResult(TITLES[0], [None], [None], 1, now)
        if request.stage is Stage.STATUS and TITLES[1] in results:
            results[TITLES[1]] = MeterResult(TITLES[1], [b"junk", "junk"], [None, None], 1, now)
        return results, failed

    net.run = broken  # type: ignore[method-assign]
    net.drop_answer = lambda t, r: r.stage is Stage.BLOCKS and r.block == 0  # forces a status read
    campaign = FirmwareCampaign.create(store, b"fw", b"k" * 300, TITLES[:3], 0.0)
    _drive(campaign, net)
    meters = campaign.meters
    assert meters[TITLES[0]].status is MeterStatus.FAILED and "1 values for 4" in (
        meters[TITLES[0]].reason or ""
    )
    assert meters[TITLES[1]].status is MeterStatus.FAILED  # every repair pass sees everything missing
    assert "still missing" in (meters[TITLES[1]].reason or "")
    assert meters[TITLES[2]].status is MeterStatus.ACTIVATED


def test_lanes_rounds_are_disjoint_and_bounded(store: FirmwareStore) -> None:
    """Rounds of at most ``round_meters`` meters, several in flight at once over disjoint meters (as
    run_campaign runs them): every meter activated, every block sent once."""
    net = FakeNet(TITLES[:10])
    campaign = FirmwareCampaign.create(
        store, b"fw-l", b"L" * (64 * 5), TITLES[:10], 0.0, config=CampaignConfig(round_meters=3)
    )
    pending: list[CampaignRequest] = []
    most = 0
    for _ in range(10_000):
        busy = {t for r in pending for t in r.titles}
        step = campaign.next_request(0.0, busy)
        if isinstance(step, CampaignRequest):
            assert not set(step.titles) & busy and 0 < len(step.titles) <= 3
            pending.append(step)
            most = max(most, len(pending))
            if len(pending) < 4:
                continue
        if not pending:
            assert step is None
            break
        done = pending.pop(0)
        results, failed = net.run(done, 0.0)
        campaign.handle_results(done, results, failed, 0.0)
    assert most == 4 and campaign.counts()["activated"] == 10
    assert campaign.blocks_sent == 10 * 5 == len(net.blocks_delivered)
