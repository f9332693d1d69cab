"""asyncio driver of a :class:`~cosemnet.headend.firmware.FirmwareCampaign` on a
:class:`~cosemnet.headend.service.HeadEndService` (thin: the decisions are in the sans-IO campaign).

::

    campaign = FirmwareCampaign.create(FirmwareStore("hes.db"), b"fw-2.0", image, titles, time.time())
    stopped = await run_campaign(service, campaign)       # None: ran to its end

Each step runs as one head-end collect (GET) or operation run (ACTION) on the step's meters, up to
``max_rounds`` at once over disjoint meters (the campaign's lanes); a set
``stop`` event stops starting requests, gives those in flight ``grace`` seconds, abandons the rest and
stores the progress (the campaign is then resumable). A group step (decision 0117) is one unconfirmed
group request (``HeadEndService.broadcast``), sent every ``group_interval`` seconds without waiting
for its window: at most ``_GROUP_OPEN`` are open at once (the 4-bit invoke ids of group requests).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Final

from cosemnet.headend.firmware import CampaignRequest, CampaignWait, FirmwareCampaign
from cosemnet.headend.headend import CollectRun
from cosemnet.headend.service import HeadEndService
from cosemnet.profiles.mesh.response_window import ResponseWindow

__all__ = ["run_campaign"]

_log = logging.getLogger(__name__)

_GROUP_OPEN: Final = 15
_NO_ANSWER: Final = ResponseWindow(0, 0)
"""Unconfirmed group blocks: nobody answers, the window only keeps the invoke id busy until it closes."""


class _GroupSender:
    """Paces the group requests of a campaign and keeps at most ``_GROUP_OPEN`` open."""

    def __init__(self, service: HeadEndService, interval: float) -> None:
        self.service = service
        self.interval = interval
        self.open: list[asyncio.Future[object]] = []

    async def send(self, step: CampaignRequest) -> None:
        assert step.group is not None and step.operation is not None
        while len(self.open) >= _GROUP_OPEN:
            await asyncio.wait({self.open[0]})
            self.open = [f for f in self.open if not f.done()]
        coroutine = self.service.broadcast(
            step.group, step.attributes[0], _NO_ANSWER, expected=(), operation=step.operation
        )
        self.open.append(asyncio.ensure_future(coroutine))
        await asyncio.sleep(self.interval)

    def close(self) -> None:
        for future in self.open:
            future.cancel()
        self.open = []


async def _stopped_within(stop: asyncio.Event | None, seconds: float) -> bool:
    """Sleep ``seconds`` unless ``stop`` is set first (True: it was)."""
    if stop is None:
        await asyncio.sleep(max(0.0, seconds))
        return False
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), max(0.0, seconds))
    return stop.is_set()


async def _round(
    service: HeadEndService,
    step: CampaignRequest,
    stop: asyncio.Event | None,
    grace: float,
    on_progress: Callable[[CollectRun], None] | None,
) -> CollectRun:
    run = service.start_collect(
        list(step.attributes), system_titles=step.titles, operation=step.operation, on_progress=on_progress
    )
    finished = asyncio.ensure_future(service.wait_run(run))
    try:
        if stop is not None:
            waiter = asyncio.ensure_future(stop.wait())
            try:
                await asyncio.wait({finished, waiter}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiter.cancel()
            if not run.finished:
                service.stop_collect(run, "stopped")
                await asyncio.wait({finished}, timeout=grace)
            if not run.finished:
                service.abandon_collect(run, "stopped")
        else:
            await finished
    finally:
        finished.cancel()
    return run


class _Runner:
    """Starts the campaign's steps as head-end runs, up to ``max_rounds`` at once over disjoint meters,
    and hands each finished run back to the campaign."""

    def __init__(
        self,
        service: HeadEndService,
        campaign: FirmwareCampaign,
        stop: asyncio.Event | None,
        grace: float,
        group_interval: float,
        max_rounds: int,
    ) -> None:
        self.service = service
        self.campaign = campaign
        self.stop = stop
        self.grace = grace
        self.group = _GroupSender(service, group_interval)
        self.max_rounds = max(1, max_rounds)
        self.rounds: dict[asyncio.Future[CollectRun], CampaignRequest] = {}
        self.on_step: Callable[[FirmwareCampaign], None] | None = None
        self.on_progress: Callable[[CollectRun], None] | None = None

    @property
    def stopped(self) -> bool:
        return self.stop is not None and self.stop.is_set()

    def _busy(self) -> set[bytes]:
        return {t for step in self.rounds.values() for t in step.titles}

    def _stepped(self) -> None:
        if self.on_step is not None:
            self.on_step(self.campaign)

    async def _start_rounds(self) -> CampaignWait | None:
        """Start every step the campaign has now; the wait it asks for, if any."""
        while len(self.rounds) < self.max_rounds and not self.stopped:
            step = self.campaign.next_request(self.service.clock(), self._busy())
            if step is None or isinstance(step, CampaignWait):
                return step
            if step.group is not None:
                await self.group.send(step)
                self.campaign.handle_group_sent(step, self.service.clock())
                self._stepped()
                continue
            future = asyncio.ensure_future(
                _round(self.service, step, self.stop, self.grace, self.on_progress)
            )
            self.rounds[future] = step
        return None

    async def _collect(self, timeout: float | None) -> None:
        """Wait for a round to end (at most ``timeout`` seconds) and hand every finished one back."""
        done, _ = await asyncio.wait(self.rounds, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        for future in done:
            step = self.rounds.pop(future)
            run = future.result()
            self.campaign.handle_results(step, run.results, run.failed, self.service.clock())
            self._stepped()

    async def run(self) -> bool:
        """True: the campaign ran to its end; False: stopped (every round ended and handed back)."""
        try:
            while True:
                if self.stopped:
                    while self.rounds:  # each round stops itself (grace, then abandon)
                        await self._collect(None)
                    return False
                wait = await self._start_rounds()
                timeout = None if wait is None else max(0.0, wait.until - self.service.clock())
                if self.rounds:
                    await self._collect(timeout)
                elif wait is None:
                    if not self.stopped:
                        return True
                else:
                    _log.info("campaign %d: waiting %.1f s", self.campaign.campaign_id, timeout)
                    await _stopped_within(self.stop, timeout or 0.0)
        finally:
            self.group.close()
            for future in self.rounds:
                future.cancel()


async def run_campaign(
    service: HeadEndService,
    campaign: FirmwareCampaign,
    *,
    stop: asyncio.Event | None = None,
    grace: float = 2.0,
    on_step: Callable[[FirmwareCampaign], None] | None = None,
    on_progress: Callable[[CollectRun], None] | None = None,
    stop_reason: Callable[[], str] | None = None,
    group_interval: float = 0.1,
    max_rounds: int = 8,
) -> str | None:
    """Run ``campaign`` to its end (returns None) or until ``stop`` is set (returns the reason:
    ``stop_reason()`` or ``"stopped"``); the progress is stored either way. ``on_step`` runs after
    every step; ``group_interval``: seconds between two group blocks; ``max_rounds``: head-end runs
    (each over at most ``CampaignConfig.round_meters`` meters) at once, their requests all through the
    throttle."""
    runner = _Runner(service, campaign, stop, grace, group_interval, max_rounds)
    runner.on_step, runner.on_progress = on_step, on_progress
    if await runner.run():
        campaign.finish(service.clock())
        return None
    reason = stop_reason() if stop_reason is not None else "stopped"
    campaign.finish(service.clock(), reason)
    return reason
