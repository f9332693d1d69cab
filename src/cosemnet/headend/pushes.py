"""Meter-initiated pushes and liveness at the head-end (issue 12; see docs/decisions/0099).

A data-notification that is not a registration (push setups: alarms, periodic data) and an
event-notification are kept as :class:`PushEvent` (meter, receive time, the meter's own time when it
sent one, what it pushed) and stored in the ``push_events`` table. Only authenticated pushes reach this
module: the same rule as registrations (decision 0036); the head-end drops the others before.

:class:`Liveness` keeps "last seen" for every meter that sent an authenticated datagram, in memory, and
writes it to the address book (``AddressBook.touch``) in batches, so the receive path costs no write.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cosemnet.codec.datetime import CosemDateTime
from cosemnet.codec.types import DataValue
from cosemnet.codec.xdlms.notification import DataNotification, EventNotificationRequest
from cosemnet.errors import DecodeError
from cosemnet.headend.store import value_text

if TYPE_CHECKING:
    from cosemnet.profiles.mesh import AddressBook

__all__ = ["Liveness", "PushEvent", "push_event"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PushEvent:
    """One authenticated push from a meter."""

    system_title: bytes
    kind: str
    """``data-notification`` or ``event-notification``."""
    at: float
    """When the head-end received it."""
    meter_time: str | None
    """The meter's date-time in the APDU (ISO 8601), when present and valid."""
    source: str | None
    """event-notification: CLASS/OBIS/ATTR of the attribute; data-notification: None."""
    value: DataValue
    address: str = ""

    def to_json(self) -> dict[str, object]:
        """The ``hes listen --json`` line (``event`` is the push kind)."""
        return {
            "event": self.kind,
            "system_title": self.system_title.hex().upper(),
            "at": self.at,
            "meter_time": self.meter_time,
            "source": self.source,
            "value": value_text(self.value),
            "from": self.address,
        }

    def describe(self) -> str:
        """One line for people: system title, kind, source, value."""
        source = f" {self.source}" if self.source else ""
        return f"{self.system_title.hex().upper()}  {self.kind}{source}  {value_text(self.value)}"


def _meter_time(raw: bytes | None) -> str | None:
    if not raw or len(raw) != 12:
        return None
    try:
        return CosemDateTime.from_bytes(raw).to_datetime().isoformat()
    except (DecodeError, ValueError, ArithmeticError):
        return raw.hex().upper()  # unspecified fields or an out-of-range value: keep the bytes


def push_event(title: bytes, apdu: object, address: str, now: float) -> PushEvent | None:
    """The :class:`PushEvent` of a decoded push APDU (None: not a push)."""
    if isinstance(apdu, EventNotificationRequest):
        d = apdu.cosem_attribute_descriptor
        source = f"{d.class_id}/{d.instance_id}/{d.attribute_id}"
        return PushEvent(
            title, "event-notification", now, _meter_time(apdu.time), source, apdu.attribute_value, address
        )
    if isinstance(apdu, DataNotification):
        return PushEvent(
            title,
            "data-notification",
            now,
            _meter_time(apdu.date_time),
            None,
            apdu.notification_body,
            address,
        )
    return None


class Liveness:
    """Last seen per meter (authenticated datagrams only), written to the book by :meth:`flush`."""

    def __init__(self) -> None:
        self._seen: dict[bytes, float] = {}

    def seen(self, title: bytes, now: float) -> None:
        """Record an authenticated datagram from ``title`` at ``now``."""
        if now > self._seen.get(title, 0.0):
            self._seen[title] = now

    def flush(self, book: AddressBook) -> int:
        """Write the pending "last seen" times (one transaction); returns how many."""
        seen, self._seen = self._seen, {}
        if seen:
            book.touch_many(seen)
        return len(seen)
