"""Firmware campaigns: image transfer (class 18) to many meters, sans-IO (issue 12 item 2).

A :class:`FirmwareCampaign` decides, from what the meters answered, what the head-end sends next; it
never sends anything itself. Each step is a :class:`CampaignRequest`: one GET (with list) or one ACTION
to a set of meters, which the caller runs through the head-end's own machinery (``HeadEnd.collect``
with ``system_titles`` and ``operation``: associations, the throttle, timeouts and retries), then hands
the run's results back with :meth:`FirmwareCampaign.handle_results`. When the only thing left is to
wait for the activation time, the step is a :class:`CampaignWait`. See
:mod:`cosemnet.headend.firmware_service` for the asyncio loop and docs/decisions/0116.

Per meter (IEC 62056-6-2 image transfer process, Blue Book 4.4.6):

1. *probe*: GET image_block_size (2), image_transfer_enabled (5), image_transfer_status (6),
   image_to_activate_info (7). A meter already running the image (status activation successful, the
   identifier and size in attribute 7) is done; one whose verified image is ours goes straight to
   activation; one our database says was transferring and whose status is still initiated (or
   verification failed) resumes without a new initiate;
2. *initiate*: ACTION image_transfer_initiate {identifier, size}; every block is then missing;
3. *blocks*: ACTION image_block_transfer {number, value}, one round per block number to the meters
   that need it, at most ``round_meters`` per round (the meters move in lanes: a caller may run
   several rounds at once over disjoint meters, see ``busy``); the throttle retries a request whose
   answer is lost; a block whose every attempt went unanswered is *unsure*, not re-sent blindly;
4. *status*: GET image_transferred_blocks_status (3) and image_first_not_transferred_block_number (4):
   the blocks the meter lacks are the only ones sent again (per-meter repair, at most
   ``repair_passes`` times);
5. *verify*: ACTION image_verify; a failure reads the status again (a block may be missing);
6. *activate*: at ``activate_at`` (or at once), when every meter is verified or failed, ACTION
   image_activate, then GET attributes 6 and 7 until the status says activation successful
   (a meter that restarts into the new image may not answer the ACTION itself).

With ``group_id`` the first pass of blocks goes as unconfirmed group requests, one per block for
every meter, each then *unsure* until the meter's status read (docs/decisions/0117).

Progress is written to :class:`~cosemnet.headend.firmware_store.FirmwareStore` after every step, so a
campaign is resumable (:meth:`FirmwareCampaign.resume`) after the head-end restarts: activated meters
are left alone, verified ones only confirmed, partially transferred ones asked which blocks they hold.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import re
from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

from cosemnet.codec.obis import Obis
from cosemnet.codec.types import BitString, DataValue, DoubleLongUnsigned, Integer
from cosemnet.cosem.image_transfer import IMAGE_TRANSFER_LN, ImageTransferStatus
from cosemnet.headend.firmware_store import CampaignRow, FirmwareStore, MeterRow
from cosemnet.headend.headend import AttributeRef, MeterResult
from cosemnet.headend.operations import Operation

__all__ = [
    "IMAGE_TRANSFER_CLASS",
    "CampaignConfig",
    "CampaignError",
    "CampaignRequest",
    "CampaignWait",
    "FirmwareCampaign",
    "MeterProgress",
    "MeterStatus",
    "Stage",
]

_log = logging.getLogger(__name__)

IMAGE_TRANSFER_CLASS: Final = 18
_ATTEMPTS: Final = re.compile(r"after (\d+) attempts")


class CampaignError(Exception):
    """A campaign cannot start or resume (unknown id, another image)."""


class MeterStatus(StrEnum):
    """A meter's stored status in a campaign."""

    PENDING = "pending"
    TRANSFERRING = "transferring"
    VERIFIED = "verified"
    ACTIVATED = "activated"
    FAILED = "failed"


class Stage(StrEnum):
    """What a meter needs next (in memory; a resume starts every unfinished meter at PROBE)."""

    PROBE = "probe"
    INITIATE = "initiate"
    BLOCKS = "blocks"
    STATUS = "status"
    VERIFY = "verify"
    ACTIVATE = "activate"
    CHECK = "check"
    DONE = "done"


@dataclass(frozen=True, slots=True)
class CampaignConfig:
    """Limits of a campaign (docs/decisions/0116)."""

    logical_name: Obis = IMAGE_TRANSFER_LN
    repair_passes: int = 5
    """Status reads (each followed by re-sending the blocks the meter lacks) before a meter fails."""
    verify_attempts: int = 3
    step_retries: int = 2
    """Rounds without an answer a meter may miss (probe, initiate, verify, activation check)."""
    check_interval: float = 5.0
    """Seconds between activation checks while a meter reports activation initiated."""
    activation_checks: int = 12
    round_meters: int = 32
    """Meters per round at most: the meters of a campaign move through the blocks in lanes of this
    size, so a slow meter holds back its own lane only (the throttle still bounds the concurrency)."""


@dataclass(frozen=True, slots=True)
class CampaignRequest:
    """One step: GET ``attributes`` (with list) or run ``operation`` on each of ``titles``."""

    stage: Stage
    titles: tuple[bytes, ...]
    attributes: tuple[AttributeRef, ...]
    operation: Operation | None = None
    block: int | None = None
    """The block number of an image_block_transfer round."""
    group: int | None = None
    """Send ``operation`` (unconfirmed) once to this group instead (decision 0117): no answers;
    :meth:`FirmwareCampaign.handle_group_sent` once it is sent."""


@dataclass(frozen=True, slots=True)
class CampaignWait:
    """Nothing to send before ``until`` (the activation time, or the next activation check)."""

    until: float


@dataclass(slots=True)
class MeterProgress:
    system_title: bytes
    status: MeterStatus = MeterStatus.PENDING
    stage: Stage = Stage.PROBE
    blocks_done: int = 0
    block_count: int = 0
    blocks_sent: int = 0
    reason: str | None = None
    block_size: int = 0
    group_pass: bool = False
    """The first pass of blocks goes by group requests (decision 0117)."""
    resumed_transfer: bool = False
    """The database says the meter was transferring: a status initiated resumes without initiate."""
    missing: set[int] = field(default_factory=set)
    cursor: int = 0
    """No block below it is missing (blocks leave ``missing`` in order; reset with ``missing``)."""
    unsure: set[int] = field(default_factory=set)
    """Blocks sent without any answer: the next status read says whether they arrived."""
    status_reads: int = 0
    verifies: int = 0
    silent: int = 0
    """Consecutive unanswered rounds of a non-block step."""
    checks: int = 0
    activate_error: str | None = None
    not_before: float = 0.0
    dirty: bool = True

    def row(self, campaign_id: int, now: float) -> MeterRow:
        """The meter's progress as a store row of ``campaign_id``."""
        return MeterRow(
            campaign_id,
            self.system_title,
            self.status.value,
            self.blocks_done,
            self.block_count,
            self.blocks_sent,
            self.reason,
            now,
        )


_ACTIVE: Final = frozenset({Stage.PROBE, Stage.INITIATE, Stage.BLOCKS, Stage.STATUS, Stage.VERIFY})


def _attempts(reason: str) -> int:
    found = _ATTEMPTS.search(reason)
    return int(found.group(1)) if found else 1


def _first_missing(m: MeterProgress) -> int:
    """The lowest block of a non-empty ``m.missing``, amortised O(1)."""
    while m.cursor not in m.missing and m.cursor < m.block_count:
        m.cursor += 1
    if m.cursor not in m.missing:  # not reached (every missing block is below block_count)
        m.cursor = min(m.missing)
    return m.cursor


def _missing_blocks(bits: DataValue, first: DataValue, count: int) -> set[int]:
    """The blocks a meter lacks: the 0 bits of attribute 3 (bits beyond its length count as missing);
    without a bit-string, every block from attribute 4 on."""
    if isinstance(bits, BitString):
        return {n for n in range(count) if n >= bits.length or not bits[n]}
    if isinstance(first, int):
        return set(range(max(0, int(first)), count))
    return set(range(count))


class FirmwareCampaign:
    """One campaign's state machine (see the module docstring)."""

    def __init__(
        self,
        store: FirmwareStore,
        campaign: CampaignRow,
        image: bytes,
        meters: Iterable[MeterProgress],
        config: CampaignConfig | None = None,
    ) -> None:
        if hashlib.sha256(image).digest() != campaign.image_digest or len(image) != campaign.image_size:
            raise CampaignError(f"campaign {campaign.campaign_id} transfers another image (SHA-256 differs)")
        self.store = store
        self.campaign = campaign
        self.image = image
        self.config = config if config is not None else CampaignConfig()
        self.meters: dict[bytes, MeterProgress] = {m.system_title: m for m in meters}
        self.blocks_sent = 0
        """Block requests sent in this session (unicast retries included, a group request once)."""
        self.group_blocks_sent = 0
        self._group_block_size: int | None = None
        self.rounds = 0

    # -- creation ------------------------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        store: FirmwareStore,
        identifier: bytes,
        image: bytes,
        titles: Iterable[bytes],
        now: float,
        *,
        activate: bool = True,
        activate_at: float | None = None,
        group_id: int | None = None,
        config: CampaignConfig | None = None,
    ) -> FirmwareCampaign:
        """A new campaign for ``titles`` (stored with every meter pending); ``group_id``: the first pass
        of blocks by unconfirmed group requests to that group, the rest unicast (decision 0117)."""
        if not image:
            raise CampaignError("the image is empty")
        unique = list(dict.fromkeys(bytes(t) for t in titles))
        digest = hashlib.sha256(image).digest()
        campaign_id = store.create_campaign(
            identifier,
            len(image),
            digest,
            unique,
            activate=activate,
            activate_at=activate_at,
            group_id=group_id,
            now=now,
        )
        row = store.campaign(campaign_id)
        assert row is not None
        _log.info("campaign %d: %d bytes to %d meters", campaign_id, len(image), len(unique))
        return cls(store, row, image, [MeterProgress(t) for t in unique], config)

    @classmethod
    def resume(
        cls, store: FirmwareStore, campaign_id: int, image: bytes, config: CampaignConfig | None = None
    ) -> FirmwareCampaign:
        """Continue a stored campaign: activated meters are done; the others are probed again (a failed
        one gets another chance, a transferring one is asked which blocks it holds)."""
        row = store.campaign(campaign_id)
        if row is None:
            raise CampaignError(f"no firmware campaign {campaign_id} in the database")
        meters = []
        for m in store.meters(campaign_id):
            progress = MeterProgress(
                m.system_title,
                MeterStatus(m.status),
                blocks_done=m.blocks_done,
                block_count=m.block_count,
                blocks_sent=m.blocks_sent,
                reason=m.reason,
                resumed_transfer=m.status == MeterStatus.TRANSFERRING,
                dirty=False,
            )
            if progress.status is MeterStatus.ACTIVATED:
                progress.stage = Stage.DONE
            elif progress.status is MeterStatus.FAILED:
                progress.status = MeterStatus.PENDING
                progress.reason = None
                progress.dirty = True
            meters.append(progress)
        store.reopen_campaign(campaign_id)
        return cls(store, row, image, meters, config)

    # -- what next -------------------------------------------------------------------------------------

    @property
    def campaign_id(self) -> int:
        """The campaign's id in the store (what ``--resume`` takes)."""
        return self.campaign.campaign_id

    @property
    def finished(self) -> bool:
        """True when the campaign ended (every meter done, or stopped)."""
        return all(m.stage is Stage.DONE for m in self.meters.values())

    def _ref(self, attribute: int) -> AttributeRef:
        return AttributeRef(IMAGE_TRANSFER_CLASS, self.config.logical_name, attribute)

    def _action(self, method: int, value: DataValue) -> Operation:
        return Operation("action", IMAGE_TRANSFER_CLASS, self.config.logical_name, method, value)

    def _in(self, stage: Stage, busy: AbstractSet[bytes] = frozenset()) -> tuple[bytes, ...]:
        """Up to ``round_meters`` meters at ``stage``, not ``busy``."""
        limit = max(1, self.config.round_meters)
        found = (t for t, m in self.meters.items() if m.stage is stage and t not in busy)
        return tuple(itertools.islice(found, limit))

    def next_request(
        self, now: float, busy: AbstractSet[bytes] = frozenset()
    ) -> CampaignRequest | CampaignWait | None:
        """The next step for meters not ``busy`` (in a round still running); None: nothing to start
        now (the campaign is over when nothing is busy either)."""
        probe = self._in(Stage.PROBE, busy)
        if probe:
            return CampaignRequest(Stage.PROBE, probe, tuple(self._ref(a) for a in (2, 5, 6, 7)))
        initiate = self._in(Stage.INITIATE, busy)
        if initiate:
            value = (self.campaign.identifier, DoubleLongUnsigned(self.campaign.image_size))
            return CampaignRequest(Stage.INITIATE, initiate, (self._ref(1),), self._action(1, value))
        blocks = self._next_block(busy)
        if blocks is not None:
            return blocks
        status = self._in(Stage.STATUS, busy)
        if status:
            return CampaignRequest(Stage.STATUS, status, (self._ref(3), self._ref(4)))
        verify = self._in(Stage.VERIFY, busy)
        if verify:
            return CampaignRequest(Stage.VERIFY, verify, (self._ref(3),), self._action(3, Integer(0)))
        return self._activation_step(now, busy)

    def _next_group_block(self, busy: AbstractSet[bytes]) -> CampaignRequest | None:
        """The next block of the group pass: to the group, for the meters of the group block size (the
        most common one; meters of another size leave the group pass)."""
        group = self.campaign.group_id
        passing = [
            m
            for m in self.meters.values()
            if m.stage is Stage.BLOCKS and m.group_pass and m.missing and m.system_title not in busy
        ]
        if group is None or not passing:
            return None
        if any(m.stage in (Stage.PROBE, Stage.INITIATE) for m in self.meters.values()):
            return None  # one group pass for every meter: wait until all are initiated
        if self._group_block_size is None:
            sizes = [m.block_size for m in passing]
            self._group_block_size = max(set(sizes), key=sizes.count)
        size = self._group_block_size
        for m in passing:
            m.group_pass = m.block_size == size
        passing = [m for m in passing if m.group_pass]
        if not passing:
            return None
        number = min(_first_missing(m) for m in passing)
        titles = tuple(m.system_title for m in passing if number in m.missing)
        value = (DoubleLongUnsigned(number), self.image[number * size : (number + 1) * size])
        operation = Operation(
            "action", IMAGE_TRANSFER_CLASS, self.config.logical_name, 2, value, confirmed=False
        )
        return CampaignRequest(Stage.BLOCKS, titles, (self._ref(2),), operation, number, group)

    def handle_group_sent(self, request: CampaignRequest, now: float) -> None:
        """A group block was sent: for its meters the block is unsure until their status read."""
        assert request.block is not None
        self.blocks_sent += 1
        self.group_blocks_sent += 1
        for title in request.titles:
            m = self.meters[title]
            m.missing.discard(request.block)
            m.unsure.add(request.block)
            if not m.missing:
                m.group_pass = False
                m.stage = Stage.STATUS
            m.dirty = True
        if self.group_blocks_sent % 16 == 0:
            self.save(now)

    def _next_block(self, busy: AbstractSet[bytes]) -> CampaignRequest | None:
        """The lowest block some idle meter lacks, to the idle meters (of that block size, at most
        ``round_meters``) that lack it."""
        group = self._next_group_block(busy)
        if group is not None:
            return group
        best: tuple[int, int] | None = None
        idle = [
            m
            for m in self.meters.values()
            if m.stage is Stage.BLOCKS and m.missing and not m.group_pass and m.system_title not in busy
        ]
        for m in idle:
            key = (_first_missing(m), m.block_size)
            if best is None or key < best:
                best = key
        if best is None:
            return None
        number, size = best
        found = (m.system_title for m in idle if m.block_size == size and number in m.missing)
        titles = tuple(itertools.islice(found, max(1, self.config.round_meters)))
        value = (DoubleLongUnsigned(number), self.image[number * size : (number + 1) * size])
        return CampaignRequest(Stage.BLOCKS, titles, (self._ref(2),), self._action(2, value), number)

    def _activation_step(self, now: float, busy: AbstractSet[bytes]) -> CampaignRequest | CampaignWait | None:
        if any(m.stage in _ACTIVE for m in self.meters.values()):
            return None  # meters still transferring (in a running round): activation waits for all
        activate = self._in(Stage.ACTIVATE, busy)
        if activate:
            at = self.campaign.activate_at
            if at is not None and now < at:
                return CampaignWait(at)
            return CampaignRequest(Stage.ACTIVATE, activate, (self._ref(4),), self._action(4, Integer(0)))
        check = [m for m in self.meters.values() if m.stage is Stage.CHECK and m.system_title not in busy]
        if not check:
            return None
        due = tuple(m.system_title for m in check if m.not_before <= now)[: max(1, self.config.round_meters)]
        if not due:
            return CampaignWait(min(m.not_before for m in check))
        return CampaignRequest(Stage.CHECK, due, (self._ref(6), self._ref(7)))

    # -- results ---------------------------------------------------------------------------------------

    def handle_results(
        self,
        request: CampaignRequest,
        results: Mapping[bytes, MeterResult],
        failed: Mapping[bytes, str],
        now: float,
    ) -> None:
        """What the meters of ``request`` answered (``results``) and which gave no answer (``failed``,
        with the head-end's reason); the progress is stored before this returns."""
        self.rounds += 1
        handlers = {
            Stage.PROBE: self._on_probe,
            Stage.INITIATE: self._on_initiate,
            Stage.STATUS: self._on_status,
            Stage.VERIFY: self._on_verify,
            Stage.ACTIVATE: self._on_activate,
            Stage.CHECK: self._on_check,
        }
        for title in request.titles:
            m = self.meters.get(title)
            if m is None or m.stage is not request.stage:
                continue
            result = results.get(title)
            if result is None and title not in failed:
                continue  # not attempted (the round was stopped): unchanged
            if request.stage is Stage.BLOCKS:
                assert request.block is not None
                self._on_block(m, request.block, result, failed.get(title))
            elif result is None:
                self._on_silent(m, failed.get(title, "no answer"))
            elif len(result.values) != len(request.attributes) and request.operation is None:
                self._fail(
                    m, f"{request.stage.value}: {len(result.values)} values for {len(request.attributes)}"
                )
            else:
                m.silent = 0
                handlers[request.stage](m, result, now)
            m.dirty = True
        self.save(now)

    def _fail(self, m: MeterProgress, reason: str) -> None:
        _log.info("campaign %d: %s failed: %s", self.campaign_id, m.system_title.hex().upper(), reason)
        m.status = MeterStatus.FAILED
        m.stage = Stage.DONE
        m.reason = reason

    def _on_silent(self, m: MeterProgress, reason: str) -> None:
        if m.stage is Stage.ACTIVATE:
            m.stage, m.checks = Stage.CHECK, 0  # it may have restarted into the new image
            return
        m.silent += 1
        if m.silent > self.config.step_retries:
            self._fail(m, f"{m.stage.value}: {reason}")

    def _on_probe(self, m: MeterProgress, r: MeterResult, now: float) -> None:
        if not r.ok:
            self._fail(m, f"probe: {next(e for e in r.errors if e is not None)}")
            return
        size, enabled, status, info = r.values
        if self._runs_image(info):
            if status == ImageTransferStatus.ACTIVATION_SUCCESSFUL:
                m.status, m.stage = MeterStatus.ACTIVATED, Stage.DONE
                return
            if status == ImageTransferStatus.VERIFICATION_SUCCESSFUL:
                m.status = MeterStatus.VERIFIED
                m.stage = Stage.ACTIVATE if self.campaign.activate else Stage.DONE
                return
        if not isinstance(size, int) or size <= 0:
            self._fail(m, f"probe: unusable image_block_size {size!r}")
            return
        if enabled is not True:
            self._fail(m, "image transfer disabled on the meter (image_transfer_enabled false)")
            return
        m.block_size = int(size)
        m.block_count = -(-self.campaign.image_size // m.block_size)
        resumable = (ImageTransferStatus.INITIATED, ImageTransferStatus.VERIFICATION_FAILED)
        if m.resumed_transfer and status in resumable:
            m.stage = Stage.STATUS  # ask which blocks it holds (no initiate: it would start afresh)
        else:
            m.stage = Stage.INITIATE

    def _runs_image(self, info: DataValue) -> bool:
        """Attribute 7 names our image (identification and size)."""
        if not isinstance(info, list):
            return False
        for item in info:
            if isinstance(item, tuple) and len(item) == 3:
                size, identification = item[0], item[1]
                if identification == self.campaign.identifier and size == self.campaign.image_size:
                    return True
        return False

    def _on_initiate(self, m: MeterProgress, r: MeterResult, now: float) -> None:
        if not r.ok:
            self._fail(m, f"image_transfer_initiate: {r.errors[0]}")
            return
        m.status = MeterStatus.TRANSFERRING
        m.stage = Stage.BLOCKS
        m.group_pass = self.campaign.group_id is not None
        m.missing = set(range(m.block_count))
        m.cursor = 0
        m.unsure = set()
        m.blocks_done = 0

    def _on_block(self, m: MeterProgress, number: int, r: MeterResult | None, reason: str | None) -> None:
        sent = r.attempts if r is not None else _attempts(reason or "")
        m.blocks_sent += sent
        self.blocks_sent += sent
        m.missing.discard(number)
        if r is None:
            m.unsure.add(number)  # every attempt unanswered: the status read tells
        elif r.ok:
            m.blocks_done += 1
        else:
            self._fail(m, f"image_block_transfer {number}: {r.errors[0]}")
            return
        if not m.missing:
            m.stage = Stage.STATUS if m.unsure else Stage.VERIFY

    def _on_status(self, m: MeterProgress, r: MeterResult, now: float) -> None:
        if r.errors[0] is not None and r.errors[1] is not None:
            self._fail(m, f"image_transferred_blocks_status: {r.errors[0]}")
            return
        m.status = MeterStatus.TRANSFERRING
        missing = _missing_blocks(r.values[0], r.values[1], m.block_count)
        m.blocks_done = m.block_count - len(missing)
        m.unsure = set()
        if not missing:
            m.stage = Stage.VERIFY
            return
        m.status_reads += 1
        if m.status_reads > self.config.repair_passes:
            self._fail(m, f"{len(missing)} blocks still missing after {self.config.repair_passes} repairs")
            return
        m.missing = missing
        m.cursor = 0
        m.stage = Stage.BLOCKS

    def _on_verify(self, m: MeterProgress, r: MeterResult, now: float) -> None:
        if r.ok:
            m.status = MeterStatus.VERIFIED
            m.blocks_done = m.block_count
            m.stage = Stage.ACTIVATE if self.campaign.activate else Stage.DONE
            return
        m.verifies += 1
        if m.verifies >= self.config.verify_attempts:
            self._fail(m, f"image_verify: {r.errors[0]}")
        else:
            m.stage = Stage.STATUS  # a block may be missing or damaged: ask again

    def _on_activate(self, m: MeterProgress, r: MeterResult, now: float) -> None:
        # an error may answer a retry whose first attempt activated (its answer lost): the status
        # read decides (decision 0116)
        m.activate_error = None if r.ok else f"image_activate: {r.errors[0]}"
        m.stage, m.checks = Stage.CHECK, 0

    def _on_check(self, m: MeterProgress, r: MeterResult, now: float) -> None:
        status, info = r.values
        if status == ImageTransferStatus.ACTIVATION_SUCCESSFUL and self._runs_image(info):
            m.status, m.stage = MeterStatus.ACTIVATED, Stage.DONE
            return
        m.checks += 1
        if status == ImageTransferStatus.ACTIVATION_INITIATED and m.checks < self.config.activation_checks:
            m.not_before = now + self.config.check_interval
            return
        self._fail(m, m.activate_error or f"activation: image_transfer_status {status!r}")

    # -- persistence and reporting -------------------------------------------------------------------

    def save(self, now: float) -> None:
        """Write every meter changed since the last save."""
        rows = []
        for m in self.meters.values():
            if m.dirty:
                rows.append(m.row(self.campaign_id, now))
                m.dirty = False
        self.store.update_meters(rows)

    def finish(self, now: float, stopped: str | None = None) -> None:
        """Store the progress and the end of the campaign (``stopped``: why it ended early)."""
        self.save(now)
        self.store.finish_campaign(self.campaign_id, now, stopped)

    def counts(self) -> dict[str, int]:
        """How many meters are in each :class:`MeterStatus`."""
        counts = {s.value: 0 for s in MeterStatus}
        for m in self.meters.values():
            counts[m.status.value] += 1
        return counts

    @property
    def blocks_confirmed(self) -> int:
        """Blocks the meters confirmed holding, summed over the meters."""
        return sum(m.blocks_done for m in self.meters.values())

    @property
    def blocks_total(self) -> int:
        """Blocks to transfer, summed over the meters."""
        return sum(m.block_count for m in self.meters.values())
