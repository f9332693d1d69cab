"""Client and server SAPs of the DLMS/COSEM over ISO/IEC 14908 profile (IEC 62056-8-8, Table 2).

The ADP carries one byte for each SAP (decision 0012). The assignments follow the DLMS SAP conventions
of the other profiles (spec-notes section 1: client 0 no-station, 1 management client, 16 public
client; server 0 no-station, 1 management logical device, 127 all-station); the rest is the project's
design [design, decision 0012], since Table 2 itself is not public:

==========  ======  ================================  ==============  ====================
role        SAP     name                              authentication  ADP protection
==========  ======  ================================  ==============  ====================
client      0x00    no-station (never a source)       -               -
client      0x01    management client                 high (HLS)      protected
client      0x10    public client                     none            unprotected
client      0x20    NNAP (data concentrator) client   low (LLS)       protected
client      0x30    broadcast client (pre-est.)       none            protected
client      other   0x02-0x7F reserved for utility-specific clients; 0x80-0xFF not used
server      0x00    no-station                        -               -
server      0x01    management logical device         -               -
server      0x02+   other logical devices (0x02-0x7E)
server      0x7F    all-station (broadcast)
==========  ======  ================================  ==============  ====================

The public client reaches the management logical device without security (read-only public
association); the management client is the head-end's management association relayed by the NNAP;
the NNAP client is the data concentrator's own reading association; the broadcast client is a
pre-established association (no AARQ) used for unconfirmed broadcasts to server SAP 0x7F
(time synchronisation, tariff changes), protected at the ADP level.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Final


class SapRole(IntEnum):
    CLIENT = 0
    SERVER = 1


class Authentication(IntEnum):
    """Authentication mechanism expected on an association for a client SAP."""

    NONE = 0
    LOW = 1
    HIGH = 2


NO_STATION: Final = 0x00
MANAGEMENT_CLIENT: Final = 0x01
PUBLIC_CLIENT: Final = 0x10
NNAP_CLIENT: Final = 0x20
BROADCAST_CLIENT: Final = 0x30

MANAGEMENT_LOGICAL_DEVICE: Final = 0x01
ALL_STATION: Final = 0x7F
FIRST_LOGICAL_DEVICE: Final = 0x02
LAST_LOGICAL_DEVICE: Final = 0x7E


@dataclass(frozen=True, slots=True)
class SapInfo:
    """One row of Table 2."""

    role: SapRole
    sap: int
    name: str
    authentication: Authentication = Authentication.NONE
    adp_protected: bool = False
    pre_established: bool = False


CLIENT_SAPS: Final[tuple[SapInfo, ...]] = (
    SapInfo(SapRole.CLIENT, MANAGEMENT_CLIENT, "management client", Authentication.HIGH, True),
    SapInfo(SapRole.CLIENT, PUBLIC_CLIENT, "public client", Authentication.NONE, False, True),
    SapInfo(SapRole.CLIENT, NNAP_CLIENT, "NNAP client", Authentication.LOW, True),
    SapInfo(SapRole.CLIENT, BROADCAST_CLIENT, "broadcast client", Authentication.NONE, True, True),
)
"""The client SAPs this profile assigns."""

SERVER_SAPS: Final[tuple[SapInfo, ...]] = (
    SapInfo(SapRole.SERVER, MANAGEMENT_LOGICAL_DEVICE, "management logical device"),
    SapInfo(SapRole.SERVER, ALL_STATION, "all-station"),
)
"""The server SAPs with a fixed meaning (logical devices 0x02-0x7E are free)."""


def client_sap_info(sap: int) -> SapInfo | None:
    """The Table 2 row of a client SAP, None for unassigned ones."""
    for info in CLIENT_SAPS:
        if info.sap == sap:
            return info
    return None


def is_valid_client_sap(sap: int) -> bool:
    """A client SAP that may originate traffic: 0x01-0x7F (0 is no-station)."""
    return 0x01 <= sap <= 0x7F


def is_valid_server_sap(sap: int) -> bool:
    """A server SAP that may be addressed: a logical device 0x01-0x7E or all-station 0x7F."""
    return 0x01 <= sap <= ALL_STATION


def is_broadcast_server_sap(sap: int) -> bool:
    return sap == ALL_STATION


def protected_client_saps() -> frozenset[int]:
    """Client SAPs whose traffic must use the protected ADP form (the service's default policy)."""
    return frozenset(info.sap for info in CLIENT_SAPS if info.adp_protected)


__all__ = [
    "ALL_STATION",
    "BROADCAST_CLIENT",
    "CLIENT_SAPS",
    "FIRST_LOGICAL_DEVICE",
    "LAST_LOGICAL_DEVICE",
    "MANAGEMENT_CLIENT",
    "MANAGEMENT_LOGICAL_DEVICE",
    "NNAP_CLIENT",
    "NO_STATION",
    "PUBLIC_CLIENT",
    "SERVER_SAPS",
    "Authentication",
    "SapInfo",
    "SapRole",
    "client_sap_info",
    "is_broadcast_server_sap",
    "is_valid_client_sap",
    "is_valid_server_sap",
    "protected_client_saps",
]
