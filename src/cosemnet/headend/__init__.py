"""The mesh head-end (IEC TS 62056-8-20): address book driven, long-lived UDP associations keyed by
system title, throttled collection, group requests. Decision record ``docs/decisions/0027``.

* :mod:`.headend` -- :class:`HeadEnd`, the sans-IO core;
* :mod:`.events` -- the core's typed events (``HeadEnd.pop_events``);
* :mod:`.runs` -- the records it fills: :class:`AttributeRef`, :class:`CollectRun`, :class:`MeterResult`,
  :class:`BroadcastRun`;
* :mod:`.service` -- :class:`HeadEndService`, the core on one asyncio UDP socket;
* :mod:`.keys` -- key stores (static test keys, per-meter derived keys, explicit tables);
* :mod:`.store` -- the ``readings`` and ``headend_associations`` tables next to the address book;
* :mod:`.operations` -- SET / ACTION on many meters (:class:`Operation`, :class:`OperationOutcome`);
* :mod:`.pushes` -- alarms and events pushed by meters (:class:`PushEvent`, :class:`Liveness`);
* :mod:`.firmware`, :mod:`.firmware_service`, :mod:`.firmware_store` -- firmware campaigns (class 18):
  :class:`FirmwareCampaign`, :func:`run_campaign`, :class:`FirmwareStore`.
"""

from cosemnet.headend.events import (
    FailReason,
    GroupRequestClosed,
    HeadEndEvent,
    MeterCompleted,
    MeterFailed,
    RunFinished,
)
from cosemnet.headend.firmware import (
    CampaignConfig,
    CampaignError,
    CampaignRequest,
    CampaignWait,
    FirmwareCampaign,
    MeterProgress,
    MeterStatus,
    Stage,
)
from cosemnet.headend.firmware_service import run_campaign
from cosemnet.headend.firmware_store import CampaignRow, FirmwareStore
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
from cosemnet.headend.operations import Operation, OperationOutcome
from cosemnet.headend.pushes import Liveness, PushEvent
from cosemnet.headend.runs import AccessResult
from cosemnet.headend.service import HeadEndService
from cosemnet.headend.store import HeadEndStore, ReadingRow, StoredAssociation

__all__ = [
    "DEFAULT_HEAD_END_SYSTEM_TITLE",
    "SHARED_KEY_OWNER",
    "AccessResult",
    "AttributeRef",
    "BroadcastRun",
    "CampaignConfig",
    "CampaignError",
    "CampaignRequest",
    "CampaignRow",
    "CampaignWait",
    "CollectRun",
    "DerivedKeyStore",
    "FailReason",
    "FirmwareCampaign",
    "FirmwareStore",
    "GroupRequestClosed",
    "HeadEnd",
    "HeadEndConfig",
    "HeadEndEvent",
    "HeadEndService",
    "HeadEndStore",
    "KeyStore",
    "Liveness",
    "MappingKeyStore",
    "MeterCompleted",
    "MeterFailed",
    "MeterKeys",
    "MeterProgress",
    "MeterResult",
    "MeterStatus",
    "Operation",
    "OperationOutcome",
    "Outgoing",
    "PushEvent",
    "ReadingRow",
    "RegistrationEvent",
    "RunFinished",
    "Stage",
    "StaticKeyStore",
    "StoredAssociation",
    "run_campaign",
]
