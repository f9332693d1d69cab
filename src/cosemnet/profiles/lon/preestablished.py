"""Pre-established application associations of the LON profile (IEC 62056-8-8, Table C.1) [design].

Table C.1 is not public. This module is the project's Table C.1 (decision 0014): the application
associations a meter on the ISO/IEC 14908 power line holds from power-up, without an AARQ, and the
parameters a client assumes for them. A pre-established association is exactly the association an
AARQ with these parameters would have opened (:meth:`PreEstablishedAssociation.aarq`): the server
builds it by accepting that AARQ internally, the client by filling in what the AARE would have said
(:meth:`PreEstablishedAssociation.association_info`).

=====  =================  ========  =========  ==========  ========  =========  ===============
SAP    name               context   mechanism  access      max PDU   ADP form   releasable
=====  =================  ========  =========  ==========  ========  =========  ===============
0x10   public             LN        none       read-only   1024      plain      no
0x01   management         LN        none (1)   read-write  2048      protected  no
0x30   broadcast          LN        none       write (2)   1024      protected  no
=====  =================  ========  =========  ==========  ========  =========  ===============

(1) On OSGP meters security lives below DLMS: the ADP protected form (Annex D suite, decision 0012)
authenticates every segment, so the management association needs no ACSE authentication or xDLMS
ciphering. The binding refuses any APDU for a SAP marked ``adp_protected`` that did not arrive in the
protected form. (2) Unconfirmed SET / ACTION to the all-station SAP 0x7F (time synchronisation, tariff
switching); no response is ever sent on it.

Server SAP: the management logical device (0x01) for unicast rows; the broadcast row addresses the
all-station SAP 0x7F and is served by every logical device.

Max PDU sizes [design]: one 14908-1 message carries at most 228 bytes, so 225 bytes of APDU travel
unsegmented and a 1024-byte PDU takes five ADP segments (about 2 s of airtime at 5.4 kbit/s). 1024
keeps each GET block short enough that a lost frame costs one block; the management association
uses 2048 so configuration objects fit without block transfer. Both are well under the ADP's
``max_apdu_length`` (4096).

COSEM-OPEN / COSEM-RELEASE mapping (Green Book 4.x service parameters -> this profile):

* ``Protocol_Connection_Parameters``: ADP client SAP, server SAP and the 14908-1 address of the peer
  (:class:`CosemOpenParameters`);
* ``ACSE_Protocol_Version``, ``Application_Context_Name``, ``Calling/Called AP title``,
  ``Mechanism_Name``, ``Calling_Authentication_Value``: the AARQ fields;
* ``DLMS_Version_Number`` (6), ``Proposed_Conformance``, ``Client_Max_Receive_PDU_Size``: the
  InitiateRequest in the AARQ user-information;
* ``Service_Class`` confirmed: the AARQ is sent; for a pre-established row the COSEM-OPEN.request is
  answered locally (``COSEM-OPEN.confirm(OK)``) without any PDU on the power line;
* COSEM-RELEASE of a pre-established association is local only (``use_rlrq`` False): the client
  forgets it; an RLRQ the server receives on such a SAP is answered RLRE ``not-finished`` and the
  association stays (it cannot be released, Green Book). [design]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from cosemnet.client.connection import (
    AssociationInfo,
    ClientConfig,
    ClientConnection,
    ConnectionState,
    Referencing,
)
from cosemnet.codec.acse import AARQ, ApplicationContextName
from cosemnet.codec.conformance import (
    LN_CLIENT_CONFORMANCE,
    LN_READ_ONLY_CONFORMANCE,
    LN_SET_ACTION_CONFORMANCE,
)
from cosemnet.codec.initiate import VAA_NAME_LN, Conformance, InitiateRequest
from cosemnet.profiles.lon.addresses import Address
from cosemnet.profiles.lon.sap import (
    ALL_STATION,
    BROADCAST_CLIENT,
    MANAGEMENT_CLIENT,
    MANAGEMENT_LOGICAL_DEVICE,
    PUBLIC_CLIENT,
)
from cosemnet.security.hls import Mechanism

VAA_NAME_SN: Final = 0xFA00
"""The customary base name of the current Association SN (the vaa-name of an SN association)."""

POWER_LINE_PDU_SIZE: Final = 1024
"""Max receive PDU size of the public and broadcast rows (both sides) [design]."""
MANAGEMENT_PDU_SIZE: Final = 2048
"""Max receive PDU size of the management row (both sides) [design]."""

PUBLIC_CONFORMANCE: Final = LN_READ_ONLY_CONFORMANCE
"""Read-only LN services: GET (normal, with-list, next block) with selective access."""

MANAGEMENT_CONFORMANCE: Final = LN_CLIENT_CONFORMANCE
"""Every LN service but general block transfer (the ADP already segments)."""

BROADCAST_CONFORMANCE: Final = LN_SET_ACTION_CONFORMANCE
"""Unconfirmed SET / ACTION only."""


@dataclass(frozen=True, slots=True)
class PreEstablishedAssociation:
    """One row of Table C.1."""

    name: str
    client_sap: int
    server_sap: int
    referencing: Referencing
    conformance: Conformance
    max_pdu_size: int
    """Both the client's and the server's max receive PDU size."""
    adp_protected: bool
    read_only: bool
    mechanism: Mechanism = Mechanism.NONE
    releasable: bool = False

    @property
    def application_context_name(self) -> ApplicationContextName:
        return ApplicationContextName.SN if self.referencing is Referencing.SN else ApplicationContextName.LN

    @property
    def vaa_name(self) -> int:
        return VAA_NAME_LN if self.referencing is Referencing.LN else VAA_NAME_SN

    def initiate_request(self) -> InitiateRequest:
        """The xDLMS InitiateRequest this association stands for (DLMS version 6)."""
        return InitiateRequest(
            proposed_conformance=self.conformance, client_max_receive_pdu_size=self.max_pdu_size
        )

    def aarq(self) -> AARQ:
        """The AARQ whose acceptance the pre-established association is (COSEM-OPEN.request mapping)."""
        return AARQ(
            application_context_name=self.application_context_name,
            user_information=self.initiate_request().encode(),
        )

    def association_info(self) -> AssociationInfo:
        """What the client takes the (never sent) AARE to have said."""
        return AssociationInfo(
            negotiated_conformance=self.conformance,
            server_max_receive_pdu_size=self.max_pdu_size,
            vaa_name=self.vaa_name,
            server_system_title=None,
            mechanism=self.mechanism,
            ciphered=False,
        )

    def client_config(self, **overrides: object) -> ClientConfig:
        """A :class:`ClientConfig` matching this row (``overrides``: further ClientConfig fields)."""
        config = ClientConfig(
            client_sap=self.client_sap,
            server_sap=self.server_sap,
            referencing=self.referencing,
            mechanism=self.mechanism,
            proposed_conformance=self.conformance,
            max_receive_pdu_size=self.max_pdu_size,
        )
        for key, value in overrides.items():
            setattr(config, key, value)
        return config


PUBLIC: Final = PreEstablishedAssociation(
    "public",
    PUBLIC_CLIENT,
    MANAGEMENT_LOGICAL_DEVICE,
    Referencing.LN,
    PUBLIC_CONFORMANCE,
    POWER_LINE_PDU_SIZE,
    adp_protected=False,
    read_only=True,
)
MANAGEMENT: Final = PreEstablishedAssociation(
    "management",
    MANAGEMENT_CLIENT,
    MANAGEMENT_LOGICAL_DEVICE,
    Referencing.LN,
    MANAGEMENT_CONFORMANCE,
    MANAGEMENT_PDU_SIZE,
    adp_protected=True,
    read_only=False,
)
BROADCAST: Final = PreEstablishedAssociation(
    "broadcast",
    BROADCAST_CLIENT,
    ALL_STATION,
    Referencing.LN,
    BROADCAST_CONFORMANCE,
    POWER_LINE_PDU_SIZE,
    adp_protected=True,
    read_only=False,
)

TABLE_C1: Final[tuple[PreEstablishedAssociation, ...]] = (PUBLIC, MANAGEMENT, BROADCAST)
"""Our Table C.1."""


def pre_established_for(client_sap: int) -> PreEstablishedAssociation | None:
    """The Table C.1 row of a client SAP (None: that SAP must open its association with an AARQ)."""
    for row in TABLE_C1:
        if row.client_sap == client_sap:
            return row
    return None


def open_pre_established(connection: ClientConnection, row: PreEstablishedAssociation) -> AssociationInfo:
    """COSEM-OPEN.request on a pre-established association: confirmed locally, nothing is sent.

    The connection becomes ASSOCIATED with the row's negotiated parameters; its configuration must
    match the row (client SAP and referencing).
    """
    cfg = connection.config
    if cfg.client_sap != row.client_sap or cfg.referencing is not row.referencing:
        raise ValueError(f"the connection does not match the pre-established {row.name} association")
    if connection.state not in (ConnectionState.IDLE, ConnectionState.RELEASED):
        raise ValueError(f"cannot open in state {connection.state.name.lower()}")
    info = row.association_info()
    connection.info = info
    connection.state = ConnectionState.ASSOCIATED
    return info


def release_pre_established(connection: ClientConnection) -> None:
    """COSEM-RELEASE.request (use_rlrq false) of a pre-established association: local only."""
    connection.abort()
    connection.state = ConnectionState.RELEASED


@dataclass(frozen=True, slots=True)
class CosemOpenParameters:
    """The protocol-connection parameters of COSEM-OPEN in this profile."""

    client_sap: int
    server_sap: int
    peer: Address | None = None
    """The 14908-1 address of the server (None: the ADP address table's entry for the server SAP)."""


__all__ = [
    "BROADCAST",
    "BROADCAST_CONFORMANCE",
    "MANAGEMENT",
    "MANAGEMENT_CONFORMANCE",
    "MANAGEMENT_PDU_SIZE",
    "POWER_LINE_PDU_SIZE",
    "PUBLIC",
    "PUBLIC_CONFORMANCE",
    "TABLE_C1",
    "VAA_NAME_SN",
    "CosemOpenParameters",
    "PreEstablishedAssociation",
    "open_pre_established",
    "pre_established_for",
    "release_pre_established",
]
