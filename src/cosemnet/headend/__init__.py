"""The mesh head-end (IEC TS 62056-8-20): address book driven, long-lived UDP associations keyed by
system title, throttled collection, group requests. Decision record ``docs/decisions/0027``.

* :mod:`.headend` -- :class:`HeadEnd`, the sans-IO core;
* :mod:`.events` -- the core's typed events (``HeadEnd.pop_events``);
* :mod:`.runs` -- the records it fills: :class:`AttributeRef`, :class:`CollectRun`, :class:`MeterResult`,
  :class:`BroadcastRun`;
* :mod:`.service` -- :class:`HeadEndService`, the core on one asyncio UDP socket;
* :mod:`.keys` -- key stores (static test keys, per-meter derived keys, explicit tables);
* :mod:`.store` -- the ``readings`` and ``headend_associations`` tables next to the address book.
"""

from cosemnet.headend.events import (
    FailReason,
    GroupRequestClosed,
    HeadEndEvent,
    MeterCompleted,
    MeterFailed,
    RunFinished,
)
from cosemnet.headend.headend import (
    AttributeRef,
    BroadcastRun,
    CollectRun,
    HeadEnd,
    HeadEndConfig,
    MeterResult,
    Outgoing,
    RegistrationEvent,
)
from cosemnet.headend.keys import (
    DEFAULT_HEAD_END_SYSTEM_TITLE,
    SHARED_KEY_OWNER,
    DerivedKeyStore,
    KeyStore,
    MappingKeyStore,
    MeterKeys,
    StaticKeyStore,
)
from cosemnet.headend.service import HeadEndService
from cosemnet.headend.store import HeadEndStore, ReadingRow, StoredAssociation

__all__ = [
    "DEFAULT_HEAD_END_SYSTEM_TITLE",
    "SHARED_KEY_OWNER",
    "AttributeRef",
    "BroadcastRun",
    "CollectRun",
    "DerivedKeyStore",
    "FailReason",
    "GroupRequestClosed",
    "HeadEnd",
    "HeadEndConfig",
    "HeadEndEvent",
    "HeadEndService",
    "HeadEndStore",
    "KeyStore",
    "MappingKeyStore",
    "MeterCompleted",
    "MeterFailed",
    "MeterKeys",
    "MeterResult",
    "Outgoing",
    "ReadingRow",
    "RegistrationEvent",
    "RunFinished",
    "StaticKeyStore",
    "StoredAssociation",
]
