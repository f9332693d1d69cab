"""Typed events of the head-end core (:meth:`cosemnet.headend.headend.HeadEnd.pop_events`).

The head-end reports what happened as frozen dataclasses whose fields are values and enums, in the
order it happened (docs/sans-io.md): one :class:`MeterCompleted` or :class:`MeterFailed` per meter of
a collect run, then :class:`RunFinished`; :class:`GroupRequestClosed` when a group request's window
closes; :class:`RegistrationEvent` for each registration handled and
:class:`~cosemnet.headend.pushes.PushEvent` for each other authenticated push (docs/decisions/0104).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from cosemnet.client.events import FailureKind
from cosemnet.codec.types import DataValue
from cosemnet.codec.xdlms import ActionResult, DataAccessResult
from cosemnet.headend.pushes import PushEvent
from cosemnet.profiles.mesh.address_book import UpsertResult
from cosemnet.profiles.mesh.response_window import CollectionReport

__all__ = [
    "FailReason",
    "GroupRequestClosed",
    "HeadEndEvent",
    "MeterCompleted",
    "MeterFailed",
    "RegistrationEvent",
    "RunFinished",
]


@dataclass(frozen=True, slots=True)
class RegistrationEvent:
    """A registration or address update handled (and confirmed) by the head-end."""

    system_title: bytes
    result: UpsertResult | None
    """None: rejected (a meter registering another one's title)."""
    address: str
    at: float


@dataclass(frozen=True, slots=True)
class MeterCompleted:
    """A meter of a collect run answered. Per attribute of the run (one for a SET or ACTION run):
    ``values`` holds the value (the ACTION's return value; None for a SET or an error) and
    ``access_results`` the Data-Access-Result / Action-Result of a refused access (None: success)."""

    run_id: int
    system_title: bytes
    values: tuple[DataValue | None, ...]
    access_results: tuple[DataAccessResult | ActionResult | None, ...]
    attempts: int
    at: float

    @property
    def ok(self) -> bool:
        """True when every attribute was read without an error."""
        return all(r is None for r in self.access_results)


class FailReason(Enum):
    """Why a meter of a collect run got no answer stored."""

    NOT_IN_ADDRESS_BOOK = "not-in-address-book"
    NO_KEYS = "no-keys"
    SESSIONS_FULL = "sessions-full"
    """Every session slot holds an exchange in progress (``HeadEndConfig.max_sessions``)."""
    REQUEST_NOT_BUILT = "request-not-built"
    """The client core refused the request locally (a bad argument, a value too large)."""
    NO_ANSWER = "no-answer"
    """Every attempt timed out."""
    SERVICE_FAILED = "service-failed"
    """The last attempt ended in the client core's ``ServiceFailed`` (``failure`` says how)."""


@dataclass(frozen=True, slots=True)
class MeterFailed:
    """A meter of a collect run was given up on (its reason text is in ``CollectRun.failed``)."""

    run_id: int
    system_title: bytes
    reason: FailReason
    attempts: int
    at: float
    failure: FailureKind | None = None
    """For ``SERVICE_FAILED``: the client core's failure kind."""


@dataclass(frozen=True, slots=True)
class RunFinished:
    """A collect run ended (every meter done, or stopped): its counts as written in ``runs``."""

    run_id: int
    answered: int
    failed: int
    not_attempted: int
    interrupted: int
    stopped: str | None
    """The reason given to ``stop_collect``/``abandon_collect`` (None: it ran to its end)."""
    at: float


@dataclass(frozen=True, slots=True)
class GroupRequestClosed:
    """The response window of a group request closed (answers arriving later are counted in
    ``HeadEnd.broadcast_report``)."""

    invoke_id: int
    group_id: int
    report: CollectionReport


HeadEndEvent = MeterCompleted | MeterFailed | RunFinished | GroupRequestClosed | RegistrationEvent | PushEvent
"""Every event :meth:`HeadEnd.pop_events` gives."""
