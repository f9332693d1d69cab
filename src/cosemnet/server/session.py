"""Per-association state of a :class:`~cosemnet.server.association.ServerAssociation`, in one object.

Everything an association negotiates or keeps between two requests lives in :class:`AssociationSession`;
the association replaces the whole object when it is released or aborted (RLRQ, a new AARQ, a failed
HLS pass 3, a timeout), so no block transfer, general-block-transfer, HLS or ciphering state can survive
into the next association on the same connection.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Final

from cosemnet.codec.initiate import Conformance
from cosemnet.codec.obis import Obis
from cosemnet.codec.xdlms import SelectiveAccessDescriptor
from cosemnet.cosem.association import AssociationStatus
from cosemnet.cosem.base import InterfaceClass
from cosemnet.cosem.context import AccessContext
from cosemnet.security.ciphering import ProtectionKind, SecurityContext
from cosemnet.security.hls import HlsServer
from cosemnet.server.config import AssociationProfile
from cosemnet.server.gbt import GbtSession

__all__ = [
    "PLAIN",
    "AssociationSession",
    "AssociationState",
    "LongRequest",
    "LongResponse",
    "Protection",
    "Target",
]

Target = tuple[int, Obis, int, SelectiveAccessDescriptor | None]
"""(class id, logical name, attribute or method index, selection) of one SET/ACTION block target."""


class AssociationState(IntEnum):
    """Life cycle of a :class:`~cosemnet.server.association.ServerAssociation`."""

    IDLE = 0
    PENDING = 1
    """Accepted, HLS pass 3/4 not done yet."""
    ASSOCIATED = 2


@dataclass(slots=True, frozen=True)
class Protection:
    """How the request in progress was protected (None kind = plain)."""

    kind: ProtectionKind | None = None
    security_control: int = 0


PLAIN: Final = Protection()

_NONE: Final = Conformance(0)


@dataclass(slots=True)
class LongResponse:
    """An outgoing response split in service-specific blocks."""

    service: int  # ApduTag.GET_RESPONSE, ACTION_RESPONSE or READ_RESPONSE
    invoke_byte: int
    raw: bytes
    block_size: int
    sent: int = 0

    @property
    def total(self) -> int:
        return max(1, -(-len(self.raw) // self.block_size))

    def block(self, number: int) -> tuple[bool, bytes]:
        start = (number - 1) * self.block_size
        return number >= self.total, self.raw[start : start + self.block_size]


@dataclass(slots=True)
class LongRequest:
    """An incoming SET/ACTION request arriving in blocks."""

    service: int  # ApduTag.SET_REQUEST or ACTION_REQUEST
    invoke_byte: int
    targets: list[Target]
    with_list: bool
    data: bytearray
    block_number: int


@dataclass(slots=True)
class AssociationSession:
    """All the state of one association (replaced, never reset field by field)."""

    state: AssociationState = AssociationState.IDLE
    profile: AssociationProfile | None = None
    conformance: Conformance = _NONE
    max_send_pdu_size: int = 0
    """The client's max receive PDU size: the limit of what we send."""
    security: SecurityContext | None = None
    hls: HlsServer | None = None
    ctx: AccessContext | None = None
    status: AssociationStatus = AssociationStatus.NON_ASSOCIATED
    get_negotiated: bool = False
    protection: Protection = PLAIN
    """Protection of the request in progress (responses are protected the same way)."""
    via_gbt: bool = False
    """The request in progress came in general-block-transfer (answer in GBT)."""
    release_after: bool = False
    """End the association once the request in progress is answered (failed HLS pass 3)."""
    long_response: LongResponse | None = None
    long_request: LongRequest | None = None
    gbt: GbtSession = field(default_factory=GbtSession)
    objects: dict[tuple[int, bytes], InterfaceClass] = field(default_factory=dict)
    """Objects resolved on this association (the fast GET path)."""
    aarq_exchange: tuple[bytes, bytes] | None = None
    """HLS: the AARQ that opened this association and our AARE; the same AARQ again (a retransmission
    that crossed our answer) gets the same AARE and restarts nothing (docs/decisions/0008)."""
