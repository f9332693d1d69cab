"""Alarm acknowledgement: the head-end clears a meter's alarm register once it stored the alarm push
(issue 12 item 3; the rules are ours, see docs/decisions/0127).

:class:`AlarmAcknowledger` is sans-IO: :meth:`~AlarmAcknowledger.on_push` takes every stored
:class:`~cosemnet.headend.pushes.PushEvent` and keeps, per meter, the alarm bits the meter pushed (the
head-end calls it only after the push is in ``push_events``, so no bit that was not stored is ever
cleared); :meth:`~AlarmAcknowledger.take` hands out what to clear, one SET per distinct mask, and
:meth:`~AlarmAcknowledger.done` puts the bits of an unanswered meter back for the next round (bounded:
one integer per meter). The SET writes the mask of the stored bits; the meter clears those bits only
(write-one-to-clear), so an alarm raised between the push and the SET stays set.
:func:`acknowledge_alarms` runs the rounds through a :class:`~cosemnet.headend.service.HeadEndService`
(each SET stored in ``operation_results`` like ``hes set``).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cosemnet.codec.obis import Obis
from cosemnet.codec.types import DoubleLongUnsigned
from cosemnet.headend.headend import AttributeRef
from cosemnet.headend.operations import Operation
from cosemnet.headend.pushes import PushEvent

if TYPE_CHECKING:
    from cosemnet.headend.service import HeadEndService

__all__ = ["AlarmAcknowledger", "AlarmConfig", "acknowledge_alarms", "alarm_bits"]

_log = logging.getLogger(__name__)

ALARM_REGISTER = Obis("0-0:97.98.0*255")
"""Alarm register 1 (class 1, a double-long-unsigned bit field)."""
ALARM_PUSH_SETUP = Obis("0-4:25.9.0*255")
"""The Push setup of alarms (IDIS numbering; configurable)."""


@dataclass(frozen=True, slots=True)
class AlarmConfig:
    """Which pushes carry alarms and how they are acknowledged (docs/decisions/0127).

    A data-notification is an alarm push when its body is a structure whose first element is the
    logical name of ``push_setup`` (the push setup's attribute 1 as first push object); the alarm bits
    are the element at ``position`` (default: the last one). ``clear``: acknowledge by SET of
    ``register`` attribute 2 with the stored bits; False: store only."""

    push_setup: Obis = ALARM_PUSH_SETUP
    register: Obis = ALARM_REGISTER
    position: int = -1
    clear: bool = True
    max_attempts: int = 5
    """Rounds a meter's acknowledgement is tried before it is given up (logged; the bits stay set in
    the meter and its next alarm push carries them again)."""


def alarm_bits(event: PushEvent, config: AlarmConfig) -> int | None:
    """The alarm bits an alarm push carries (None: not an alarm push)."""
    body = event.value
    if event.kind != "data-notification" or not isinstance(body, list | tuple) or len(body) < 2:
        return None
    if body[0] != bytes(config.push_setup):
        return None
    try:
        value = body[config.position]
    except IndexError:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return int(value) & 0xFFFFFFFF


@dataclass(slots=True)
class AlarmAcknowledger:
    """Per-meter alarm bits stored and not yet cleared (sans-IO)."""

    config: AlarmConfig = field(default_factory=AlarmConfig)
    pending: dict[bytes, int] = field(default_factory=dict)
    attempts: dict[bytes, int] = field(default_factory=dict)
    cleared: int = 0
    given_up: int = 0

    def on_push(self, event: PushEvent) -> int | None:
        """A push the head-end stored: remember its alarm bits (returns them; None: not an alarm)."""
        bits = alarm_bits(event, self.config)
        if bits and self.config.clear:
            self.pending[event.system_title] = self.pending.get(event.system_title, 0) | bits
        return bits

    def operation(self, mask: int) -> Operation:
        """The SET that clears ``mask`` in the alarm register."""
        return Operation("set", 1, self.config.register, 2, DoubleLongUnsigned(mask))

    def take(self) -> dict[int, list[bytes]]:
        """What to clear now: mask -> meters (the pending set is empty afterwards)."""
        rounds: dict[int, list[bytes]] = {}
        for title, mask in self.pending.items():
            rounds.setdefault(mask, []).append(title)
        self.pending = {}
        return rounds

    def done(self, title: bytes, mask: int, result: str) -> None:
        """The meter's result for clearing ``mask``: ``success``, or the bits go back (retried at the
        next round, at most ``max_attempts`` times)."""
        if result == "success":
            self.cleared += 1
            self.attempts.pop(title, None)
            return
        tries = self.attempts.get(title, 0) + 1
        if tries >= self.config.max_attempts:
            self.attempts.pop(title, None)
            self.given_up += 1
            _log.warning(
                "alarm acknowledgement of %s given up after %d tries (%s)", title.hex(), tries, result
            )
            return
        self.attempts[title] = tries
        self.pending[title] = self.pending.get(title, 0) | mask


async def acknowledge_round(service: HeadEndService, acks: AlarmAcknowledger) -> list[int]:
    """Clear the pending alarm bits now (one SET run per distinct mask); the run ids."""
    runs: list[int] = []
    store = service.head_end.store
    for mask, titles in acks.take().items():
        operation = acks.operation(mask)
        ref = AttributeRef(1, acks.config.register, 2)
        run = await service.collect([ref], system_titles=titles, operation=operation)
        runs.append(run.run_id)
        results = {row.system_title: row.result for row in store.operation_results(run.run_id)}
        for title in titles:
            acks.done(title, mask, results.get(title, "no-answer"))
    return runs


async def acknowledge_alarms(service: HeadEndService, acks: AlarmAcknowledger, interval: float = 1.0) -> None:
    """Acknowledge the alarm pushes the head-end stores, every ``interval`` seconds, until cancelled.
    Chains ``head_end.on_push``: the previous callback still runs first."""
    head_end = service.head_end
    previous = head_end.on_push

    def on_push(event: PushEvent) -> None:
        if previous is not None:
            previous(event)
        acks.on_push(event)

    head_end.on_push = on_push
    try:
        while True:
            await asyncio.sleep(interval)
            if acks.pending:
                await acknowledge_round(service, acks)
    finally:
        head_end.on_push = previous
