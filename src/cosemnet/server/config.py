"""What a served logical device accepts: one :class:`AssociationProfile` per client SAP.

An Association LN object already says everything the server needs (associated_partners_id,
application_context_name, authentication_mechanism_name, xDLMS_context_info, secret,
security_setup_reference): :func:`profiles_of` derives the profiles of a device from its
Association LN objects. Association SN (class 12) has none of these attributes, so SN associations
are declared with an explicit :class:`AssociationProfile`.

:class:`ServedDevice` bundles a :class:`~cosemnet.cosem.LogicalDevice`, the side effects its objects
use and its association profiles; :class:`~cosemnet.server.server.MeterServer` serves a set of them,
one per server SAP.

Design choices (the standard is silent):

* an xDLMS_context_info conformance of all zeros means "the default conformance of the referencing
  kind" (:data:`DEFAULT_LN_CONFORMANCE` / :data:`DEFAULT_SN_CONFORMANCE`);
* several Association LN objects with the same client SAP: the first one (registration order) wins.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Final

from cosemnet.codec.acse import ApplicationContextName
from cosemnet.codec.conformance import LN_SERVER_CONFORMANCE, SN_CONFORMANCE
from cosemnet.codec.initiate import Conformance
from cosemnet.cosem.association import AssociationBase
from cosemnet.cosem.association_ln import AssociationLN
from cosemnet.cosem.context import SideEffects
from cosemnet.cosem.logical_device import DeviceEffects, LogicalDevice
from cosemnet.cosem.security_setup import SecuritySetup
from cosemnet.security.hls import Mechanism

DEFAULT_LN_CONFORMANCE: Final = LN_SERVER_CONFORMANCE
"""Server conformance of an LN association whose xDLMS_context_info leaves it all zeros."""

DEFAULT_SN_CONFORMANCE: Final = SN_CONFORMANCE
"""Server conformance of an SN association declared without one."""

_CIPHERED: Final = frozenset({ApplicationContextName.LN_CIPHERED, ApplicationContextName.SN_CIPHERED})
_SHORT_NAMES: Final = frozenset({ApplicationContextName.SN, ApplicationContextName.SN_CIPHERED})


@dataclass(slots=True)
class AssociationProfile:
    """What the server accepts from one client SAP on one logical device.

    ``association`` is the Association LN/SN object that gives the association its object list,
    rights and secret. ``security_setup`` provides keys, system titles, suite and security policy
    (required for ciphered contexts and for HLS-GMAC).
    """

    client_sap: int
    association: AssociationBase
    application_context_name: ApplicationContextName
    mechanism: Mechanism = Mechanism.NONE
    conformance: Conformance = DEFAULT_LN_CONFORMANCE
    max_receive_pdu_size: int = 0xFFFF
    security_setup: SecuritySetup | None = None

    @property
    def ciphered(self) -> bool:
        """The application context is one of the ciphered ones."""
        return self.application_context_name in _CIPHERED

    @property
    def short_names(self) -> bool:
        """Short-name referencing (Association SN)."""
        return self.application_context_name in _SHORT_NAMES


def profile_of(association: AssociationLN, device: LogicalDevice) -> AssociationProfile:
    """The profile an Association LN object describes (see the module docstring)."""
    context_oid = association.application_context_name
    try:
        context = ApplicationContextName(context_oid[-1]) if len(context_oid) == 7 else None
    except ValueError:
        context = None
    if context is None:
        raise ValueError(f"{association!r}: application_context_name {context_oid.hex()} is not a DLMS one")
    try:
        mechanism = Mechanism(association.mechanism_id)
    except ValueError:
        raise ValueError(f"{association!r}: mechanism {association.mechanism_id} is not 0..7") from None
    info = association.xdlms_context_info
    conformance = Conformance(int.from_bytes(info.conformance.data[:3].ljust(3, b"\0"), "big"))
    if not conformance:
        conformance = DEFAULT_SN_CONFORMANCE if context in _SHORT_NAMES else DEFAULT_LN_CONFORMANCE
    found = device.find(SecuritySetup.CLASS_ID, association.security_setup_reference)
    security_setup = found if isinstance(found, SecuritySetup) else None
    return AssociationProfile(
        client_sap=association.client_sap,
        association=association,
        application_context_name=context,
        mechanism=mechanism,
        conformance=conformance,
        max_receive_pdu_size=info.max_receive_pdu_size,
        security_setup=security_setup,
    )


def profiles_of(device: LogicalDevice) -> list[AssociationProfile]:
    """One profile per Association LN object of ``device`` (first object wins per client SAP)."""
    seen: set[int] = set()
    result = []
    for association in device.of_class(AssociationLN):
        if association.client_sap in seen:
            continue
        seen.add(association.client_sap)
        result.append(profile_of(association, device))
    return result


@dataclass(slots=True)
class ServedDevice:
    """A logical device as the server serves it.

    ``effects`` defaults to :class:`~cosemnet.cosem.logical_device.DeviceEffects` over the device;
    ``profiles`` default to :func:`profiles_of` (computed once, at construction); ``server_sap``
    defaults to the device's own. ``on_request(now)``, when given, runs before every APDU addressed
    to the device (a simulated meter catches up with the time there). ``on_security_event(name, now)``,
    when given, records a security event (e.g. ``association_authentication_failure``) in the
    device's event log (docs/decisions/0034).
    """

    device: LogicalDevice
    effects: SideEffects | None = None
    profiles: Iterable[AssociationProfile] | None = None
    server_sap: int | None = None
    on_request: Callable[[float], None] | None = None
    on_security_event: Callable[[str, float], None] | None = None
    by_client_sap: dict[int, AssociationProfile] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        if self.effects is None:
            self.effects = DeviceEffects(self.device)
        if self.server_sap is None:
            self.server_sap = self.device.server_sap
        profiles = list(self.profiles) if self.profiles is not None else profiles_of(self.device)
        self.profiles = profiles
        for profile in profiles:
            self.by_client_sap.setdefault(profile.client_sap, profile)


@dataclass(frozen=True, slots=True)
class ServerLimits:
    """Resource limits of a :class:`~cosemnet.server.server.MeterServer` (see docs/decisions/0030).

    Each bounds what one peer can make the server hold; ``None`` in a count disables that cap.

    * ``max_connections`` / ``max_connections_per_source``: open TCP connections plus live UDP
      pseudo-connections, in total and per source address (the host, whatever its port); a connection
      over the cap is closed at once (TCP) or its datagram dropped (UDP).
    * ``max_pending_associations`` / ``max_pending_associations_per_source``: associations waiting for
      HLS pass 3; an AARQ that would open one more is refused (AARE rejected-transient).
    * ``output_budget``: bytes of answers a connection produces before it waits for the transport to
      drain (the frames not processed yet stay in the connection and the adapter stops reading). It also
      bounds a general-block-transfer window (at least one block).
    * ``max_block_transfer``: bytes of one incoming SET/ACTION block transfer or general-block-transfer
      reassembly; beyond it the transfer is refused and forgotten.
    * ``udp_max_datagram``: the largest UDP payload (wrapper header + APDU) the server sends; the PDU
      sizes negotiated on UDP are capped to fit it (1232: the IPv6 minimum MTU, no fragmentation).
    * ``udp_amplification_factor``: before an association is established, a UDP answer is at most this
      many times the datagram that drew it (RFC 9000 section 8.1 uses 3).
    """

    max_connections: int | None = 512
    max_connections_per_source: int | None = 64
    max_pending_associations: int | None = 256
    max_pending_associations_per_source: int | None = 16
    output_budget: int = 64 * 1024
    max_block_transfer: int = 1 << 20
    udp_max_datagram: int = 1232
    udp_amplification_factor: int = 3

    def __post_init__(self) -> None:
        for name in (
            "max_connections",
            "max_connections_per_source",
            "max_pending_associations",
            "max_pending_associations_per_source",
        ):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"{name} must be >= 0 or None, got {value}")
        if self.output_budget < 1:
            raise ValueError(f"output_budget must be >= 1, got {self.output_budget}")
        if self.max_block_transfer < 1:
            raise ValueError(f"max_block_transfer must be >= 1, got {self.max_block_transfer}")
        if not 20 <= self.udp_max_datagram <= 65507:
            raise ValueError(f"udp_max_datagram must be 20..65507, got {self.udp_max_datagram}")
        if self.udp_amplification_factor < 1:
            raise ValueError(f"udp_amplification_factor must be >= 1, got {self.udp_amplification_factor}")


__all__ = [
    "DEFAULT_LN_CONFORMANCE",
    "DEFAULT_SN_CONFORMANCE",
    "AssociationProfile",
    "ServedDevice",
    "ServerLimits",
    "profile_of",
    "profiles_of",
]
