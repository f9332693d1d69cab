"""IEC TS 62056-8-20: the DLMS/COSEM mesh profile over UDP/IPv6, sans-IO foundations.

The TS is public only as a table of contents and a scope list; every structure below that the TS does
not pin is **our design**, documented in ``docs/decisions/0020``-``0025`` and configurable:

* :mod:`.ports` -- default UDP port 61616 (0xF0B0, 6LoWPAN-compressible), 4059 selectable, wPorts,
  the datagram budget beyond which general-block-transfer is used, Push setup UDP destinations;
* :mod:`.registration` -- address registration data (Table 2), address update data (Table 3) and the
  head-end's confirmation, carried in Data-Notifications;
* :mod:`.push_schedule` -- a Push setup's communication windows, randomised start, retries and
  repetition delay (constant or version 2 exponential), until confirmed;
* :mod:`.groups` -- group membership conditions, multicast group addresses, broadcast-key protection;
* :mod:`.response_window` -- randomised response delays (meter) and the answer collector (head-end);
* :mod:`.address_book` -- the head-end's SQLite address book with change history and security counters;
* :mod:`.throttle` -- requests in flight overall / per border router / per prefix, timeouts, backoff.

Nothing here opens a socket, starts a thread or sleeps (the address book does file I/O through SQLite).
"""

from cosemnet.profiles.mesh.address_book import (
    AddressBook,
    AddressBookCounterStore,
    AddressBookEntry,
    AddressBookError,
    Binding,
    HistoryEntry,
    UpsertResult,
)
from cosemnet.profiles.mesh.groups import (
    ALL_METERS_GROUP,
    Condition,
    GroupDecision,
    GroupDefinition,
    GroupMembership,
    GroupProtectionError,
    GroupRequestTarget,
    MatchMode,
    MulticastScheme,
    Operator,
    ValueReader,
    check_group_request_protection,
    evaluate_group_request,
    group_request_target,
)
from cosemnet.profiles.mesh.ports import (
    MESH_UDP_PORT,
    MeshPortConfig,
    apdu_budget,
    compressed_udp_ports_size,
    format_udp_destination,
    needs_block_transfer,
    parse_udp_destination,
)
from cosemnet.profiles.mesh.push_schedule import (
    CommunicationWindows,
    PushAttempt,
    PushSchedule,
    PushScheduleError,
    PushScheduler,
    PushState,
    RepetitionDelay,
)
from cosemnet.profiles.mesh.registration import (
    AddressConfirmation,
    AddressEntry,
    AddressRegistrationData,
    AddressScope,
    AddressUpdateData,
    ConfirmationStatus,
    MeterRegistration,
    RegistrationMessage,
    RegistrationObjects,
    RegistrationReason,
    decode_registration_body,
    registration_push_setup,
)
from cosemnet.profiles.mesh.response_window import (
    AddResult,
    CollectionReport,
    ResponseCollector,
    ResponseWindow,
    response_rng,
)
from cosemnet.profiles.mesh.throttle import (
    Attempt,
    Completion,
    Throttle,
    ThrottleConfig,
    ThrottledRequest,
    ThrottleEvent,
    ThrottleEventKind,
)

__all__ = [
    "ALL_METERS_GROUP",
    "MESH_UDP_PORT",
    "AddResult",
    "AddressBook",
    "AddressBookCounterStore",
    "AddressBookEntry",
    "AddressBookError",
    "AddressConfirmation",
    "AddressEntry",
    "AddressRegistrationData",
    "AddressScope",
    "AddressUpdateData",
    "Attempt",
    "Binding",
    "CollectionReport",
    "CommunicationWindows",
    "Completion",
    "Condition",
    "ConfirmationStatus",
    "GroupDecision",
    "GroupDefinition",
    "GroupMembership",
    "GroupProtectionError",
    "GroupRequestTarget",
    "HistoryEntry",
    "MatchMode",
    "MeshPortConfig",
    "MeterRegistration",
    "MulticastScheme",
    "Operator",
    "PushAttempt",
    "PushSchedule",
    "PushScheduleError",
    "PushScheduler",
    "PushState",
    "RegistrationMessage",
    "RegistrationObjects",
    "RegistrationReason",
    "RepetitionDelay",
    "ResponseCollector",
    "ResponseWindow",
    "Throttle",
    "ThrottleConfig",
    "ThrottleEvent",
    "ThrottleEventKind",
    "ThrottledRequest",
    "UpsertResult",
    "ValueReader",
    "apdu_budget",
    "check_group_request_protection",
    "compressed_udp_ports_size",
    "decode_registration_body",
    "evaluate_group_request",
    "format_udp_destination",
    "group_request_target",
    "needs_block_transfer",
    "parse_udp_destination",
    "registration_push_setup",
    "response_rng",
]
