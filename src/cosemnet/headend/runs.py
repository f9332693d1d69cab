"""The records of the head-end's work: the attributes it reads, a collect run and each meter's result,
a group request (:class:`~cosemnet.headend.headend.HeadEnd` fills them; decisions 0027, 0081)."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field

from cosemnet.codec.obis import Obis
from cosemnet.codec.types import DataValue
from cosemnet.codec.xdlms import ActionResult, DataAccessResult, SelectiveAccessDescriptor
from cosemnet.errors import DecodeError
from cosemnet.headend.operations import Operation, OperationOutcome
from cosemnet.profiles.mesh.response_window import CollectionReport

__all__ = ["AccessResult", "AttributeRef", "BroadcastRun", "CollectRun", "MeterResult"]

AccessResult = DataAccessResult | ActionResult
"""The result code of a refused attribute access or method invocation."""


@dataclass(frozen=True, slots=True)
class AttributeRef:
    """One COSEM attribute: class id, logical name, attribute index; ``selection``: the selective
    access of the GET (e.g. a profile generic buffer's range, :mod:`cosemnet.headend.profiles`)."""

    class_id: int
    logical_name: Obis
    attribute_id: int
    selection: SelectiveAccessDescriptor | None = field(default=None, hash=False)

    @classmethod
    def parse(cls, text: str) -> AttributeRef:
        """``"CLASS/OBIS/ATTR"`` (e.g. ``3/1-0:1.8.0*255/2``) or ``"OBIS"`` (class 3, attribute 2)."""
        parts = text.strip().split("/")
        try:
            if len(parts) == 1:
                return cls(3, Obis.parse(parts[0]), 2)
            if len(parts) == 3:
                return cls(int(parts[0]), Obis.parse(parts[1]), int(parts[2]))
        except (ValueError, DecodeError) as exc:
            raise ValueError(f"bad attribute {text!r}: {exc}") from None
        raise ValueError(f"bad attribute {text!r}: expected CLASS/OBIS/ATTRIBUTE or OBIS")

    def __str__(self) -> str:
        return f"{self.class_id}/{self.logical_name}/{self.attribute_id}"


@dataclass(slots=True)
class MeterResult:
    """What one meter answered in a collect (values in the order of the run's attributes)."""

    system_title: bytes
    values: list[DataValue | None]
    errors: list[str | None]
    attempts: int
    at: float
    access_results: list[AccessResult | None] = field(default_factory=list)
    """Per attribute: the result code of a refused access (None: success), as the meter sent it."""

    @property
    def ok(self) -> bool:
        """True when every attribute was read without an error."""
        return all(e is None for e in self.errors)


@dataclass(slots=True, eq=False)
class CollectRun:
    run_id: int
    attributes: tuple[AttributeRef, ...]
    total: int
    results: dict[bytes, MeterResult] = field(default_factory=dict)
    failed: dict[bytes, str] = field(default_factory=dict)
    """Meters given up on (or with no usable binding): the last reason."""
    started: float = 0.0
    finished_at: float | None = None
    on_progress: Callable[[CollectRun], None] | None = None
    pending: set[bytes] = field(default_factory=set)
    """Meters not finished yet (queued, in flight or waiting for a retry)."""
    not_attempted: int = 0
    """Stopped before their first request was sent."""
    interrupted: int = 0
    """Stopped after a request was sent but before an answer (nothing stored: ``--resume`` reads them)."""
    stopped: str | None = None
    """Why the run was stopped early (e.g. ``"SIGTERM"``); None while it runs to its end."""
    resumed_answered: int = 0
    """A resumed run: meters that had a reading stored before (not read again)."""
    operation: Operation | None = None
    """A SET or ACTION run (results in ``operation_results``, not ``readings``)."""

    @property
    def done(self) -> int:
        """Meters with a result or given up on."""
        return len(self.results) + len(self.failed)

    @property
    def finished(self) -> bool:
        """True when every meter is done, not attempted or interrupted."""
        return self.done + self.not_attempted + self.interrupted >= self.total

    @property
    def answered(self) -> int:
        """Meters with an answer stored in this run (a resumed run counts the earlier ones too)."""
        return self.resumed_answered + len(self.results)


@dataclass(slots=True, eq=False)
class BroadcastRun:
    invoke_id: int
    group_id: int
    attribute: AttributeRef
    address: ipaddress.IPv6Address
    deadline: float
    values: dict[bytes, DataValue | str] = field(default_factory=dict)
    report: CollectionReport | None = None
    """Set when the window closed (answers arriving later are counted by :meth:`HeadEnd.broadcast_report`)."""
    final: bool = False
    """The invoke id was reused by a later group request: ``report`` no longer changes."""
    operation: Operation | None = None
    """A group SET or ACTION: ``outcomes`` holds each answer."""
    outcomes: dict[bytes, OperationOutcome] = field(default_factory=dict)
