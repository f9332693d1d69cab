"""The meter side of the mesh profile (IEC TS 62056-8-20), sans-IO: one meter as a mesh node.

:class:`MeshMeterNode` ties a :class:`~cosemnet.simulator.SimulatedMeter`-like device (anything with
``system_title``, ``device``, ``effects``, ``anchor``, ``handle_timer(now)``, ``pop_events()`` and
``association(client_sap)``) to the profile's wire protocol:

* **Unicast requests** (wrapper frames to the meter's wPorts) go through its own
  :class:`~cosemnet.server.MeterServer`. [design] The server's UDP pseudo-connections are keyed by
  ``(client wPort, server wPort)`` under one fixed peer label (:data:`MESH_PEER`), *not* by the peer's
  IP address: an association (and its security context, invocation counters and replay windows)
  survives a change of the meter's own address (migration, 6.2.2) and of the head-end's address. The
  reply goes to the address the request came from. The client system title is checked by the
  association itself (AARQ calling-AP-title, general-glo-ciphering system title); a meter serves one
  head-end per client wPort (two head-ends using the same client wPort would share one association).
  Associations are long-lived: no inactivity timeout by default (``inactivity_timeout``).
* **Registration** (5.5.3, Annex A): :meth:`MeshMeterNode.join` / :meth:`change_address` start a
  :class:`~cosemnet.profiles.mesh.registration.MeterRegistration` push (address registration data,
  or address update data after an address change) to the head-end destination of the registration
  Push setup (``[addr]:port``), honouring communication window, randomisation start interval, retries
  and repetition delay until the head-end's confirmation (a Data-Notification carrying
  :class:`AddressConfirmation` sent to the meter's wPort) arrives. A confirmation with a
  ``periodic_interval`` schedules a PERIODIC re-registration. [design, decision 0036] Registrations
  are general-glo-ciphered (authenticated and encrypted) with the keys of the management
  association's Security setup and the server's invocation counter for it; only a confirmation
  ciphered and authenticated by the head-end (the Security setup's client system title) is acted
  on. ``protect_registrations=False`` is a lab option: plain registrations, plain confirmations
  accepted, but a plain ``stale`` never resynchronises the sequence number.
* **Associations bound to the authenticated peer** (decision 0036): once an association with a
  security context is established on a wPort pair, an RLRQ without protected user-information and
  an AARQ whose glo-initiate does not authenticate with that association's keys (same client system
  title, counter above its window) are dropped (``stats.refused``); so a stranger can neither release
  nor replace it.
* **Group requests** (8.2): a frame to wPort 127 whose destination is one of the
  :class:`MulticastScheme` addresses is checked with
  :func:`~cosemnet.profiles.mesh.groups.evaluate_group_request` (broadcast key, authentication,
  membership evaluated against the meter's own attribute values). [design] A member executes it in
  the long-lived association that the same client wPort holds with the management logical device
  (server wPort 1): that association holds the keys (including the broadcast key) and the replay
  windows, so the request needs no association of its own. A meter without such an association drops
  the request (counted in ``stats.group_no_association``). A request that the association refuses
  (authentication, replay: the server's answer would be an exception-response) is dropped silently
  and counted in ``stats.group_rejected``, not as executed. The server answers with the request's
  security control, i.e. ciphered with the broadcast key; the node gives that association an
  invocation counter of its own for the broadcast key (in memory). [open] answering with the unicast
  key would need a change in :class:`~cosemnet.server.ServerAssociation`.
* **Delayed, randomised responses** (8.3): the answers of a group request leave at
  ``received + ResponseWindow.delay(rng)`` with ``rng = response_rng(system_title, invoke key,
  seed)`` (reproducible), so members spread over the window.

The node follows the sans-IO contract (docs/sans-io.md): datagrams in with
:meth:`MeshMeterNode.receive_datagram`, :meth:`MeshMeterNode.handle_timer` when
:meth:`MeshMeterNode.get_timer` passes, and :class:`Outgoing` items ``(destination (host, port),
datagram, send_at)`` out of :meth:`MeshMeterNode.pop_outgoing` (it has no events: its counters are in
``stats``). Times are float seconds; ``anchor`` is the calendar instant of ``now == 0`` (default the
POSIX epoch, so ``now`` is POSIX seconds, as the asyncio fleet uses): the registration's push windows
are located through it, and the served meter is run on it (the meter's own anchor is its start).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import heapq
import ipaddress
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final, Protocol

from cosemnet.codec.acse import AARQ, RLRQ, ApplicationContextName
from cosemnet.codec.ciphered import is_protected_tag
from cosemnet.codec.obis import Obis
from cosemnet.codec.types import DataValue
from cosemnet.codec.wrapper import WrapperFrame
from cosemnet.codec.xdlms.notification import DataNotification
from cosemnet.cosem.association import AssociationBase
from cosemnet.cosem.context import AccessContext, SideEffects
from cosemnet.cosem.logical_device import LogicalDevice
from cosemnet.cosem.security_setup import SecuritySetup
from cosemnet.errors import DecodeError, EncodeError
from cosemnet.profiles.mesh.groups import (
    DEFAULT_SCHEME,
    GroupDecision,
    GroupMembership,
    GroupMembershipObject,
    MulticastScheme,
    evaluate_group_request,
)
from cosemnet.profiles.mesh.meter_objects import (
    INVOCATION_COUNTER_LN,
    install_meter_objects,
    lowest_acceptable_counter,
)
from cosemnet.profiles.mesh.ports import MeshPortConfig
from cosemnet.profiles.mesh.push_schedule import (
    POSIX_EPOCH,
    PushSchedule,
    PushState,
    RepetitionDelay,
    check_anchor,
)
from cosemnet.profiles.mesh.registration import (
    DEFAULT_OBJECTS,
    AddressConfirmation,
    AddressEntry,
    MeterRegistration,
    RegistrationMessage,
    RegistrationObjects,
    RegistrationReason,
    scope_of,
)
from cosemnet.profiles.mesh.response_window import (
    ResponseWindow,
    ResponseWindowObject,
    response_rng,
)
from cosemnet.security.ciphering import Role, SecurityContext, gcm_keystream_xor, protect_apdu, unprotect_apdu
from cosemnet.security.control import SecurityPolicy
from cosemnet.security.counters import MemoryInvocationCounter, ReplayGuard
from cosemnet.security.envelope import EnvelopeError, EnvelopeInfo, read_envelope
from cosemnet.security.errors import SecurityError
from cosemnet.security.hls import Mechanism
from cosemnet.security.keys import KeyRole, KeySet
from cosemnet.server import (
    DEFAULT_LN_CONFORMANCE,
    DEFAULT_SN_CONFORMANCE,
    AssociationProfile,
    AssociationState,
    ServedDevice,
    ServerAssociation,
)
from cosemnet.server.server import MeterServer

__all__ = [
    "DEFAULT_RESPONSE_WINDOW",
    "INVOCATION_COUNTER_LN",
    "MESH_PEER",
    "MeshMeterNode",
    "MeshNodeStats",
    "MeterDevice",
    "MeterDeviceAssociation",
    "Outgoing",
    "mesh_served_device",
]

MESH_PEER: Final = "mesh"
"""[design] The single peer label under which the meter's server keys its UDP associations."""

Address = tuple[str, int]

DEFAULT_PORTS: Final = MeshPortConfig()
NO_GROUPS: Final = GroupMembership(())
DEFAULT_RESPONSE_WINDOW: Final = ResponseWindow(0, 5000)
"""[design] group answers spread over the 5 s after reception unless configured."""


class MeterDeviceAssociation(Protocol):
    """What :func:`mesh_served_device` needs from a meter association (``MeterAssociation``)."""

    @property
    def client_sap(self) -> int: ...
    @property
    def mechanism_id(self) -> int: ...
    @property
    def referencing(self) -> str: ...
    @property
    def application_context_name(self) -> bytes: ...
    @property
    def association(self) -> AssociationBase: ...
    @property
    def security_setup(self) -> SecuritySetup | None: ...


class MeterDevice(Protocol):
    """The meter the node serves (a :class:`cosemnet.simulator.SimulatedMeter` fits)."""

    @property
    def system_title(self) -> bytes: ...
    @property
    def device(self) -> LogicalDevice: ...
    @property
    def effects(self) -> SideEffects: ...
    @property
    def client_saps(self) -> tuple[int, ...]: ...

    @property
    def anchor(self) -> _dt.datetime: ...

    def association(self, client_sap: int) -> MeterDeviceAssociation | None: ...
    def handle_timer(self, now: float) -> None: ...
    def pop_events(self) -> Sequence[object]: ...
    def context(self) -> AccessContext: ...


def mesh_served_device(meter: MeterDevice, anchor: _dt.datetime = POSIX_EPOCH) -> ServedDevice:
    """The :class:`ServedDevice` of a simulated meter: one association profile per client SAP, the
    meter run up to the request time before each request (its events dropped). ``anchor`` is the
    calendar instant of the server's ``now == 0``."""
    profiles = []
    for client_sap in meter.client_saps:
        association = meter.association(client_sap)
        if association is None:
            continue
        profiles.append(
            AssociationProfile(
                client_sap=client_sap,
                association=association.association,
                application_context_name=ApplicationContextName(association.application_context_name[-1]),
                mechanism=Mechanism(association.mechanism_id),
                conformance=DEFAULT_SN_CONFORMANCE
                if association.referencing == "sn"
                else DEFAULT_LN_CONFORMANCE,
                security_setup=association.security_setup,
            )
        )

    offset = (meter.anchor - anchor).total_seconds()  # the meter's time is seconds since its anchor

    def tick(now: float) -> None:
        meter.handle_timer(now - offset)
        meter.pop_events()

    return ServedDevice(meter.device, effects=meter.effects, profiles=profiles, on_request=tick)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """Send ``datagram`` to ``destination`` (host, UDP port) at ``send_at`` (POSIX seconds)."""

    destination: Address
    datagram: bytes
    send_at: float


@dataclass(slots=True)
class MeshNodeStats:
    registrations_sent: int = 0
    confirmations: int = 0
    registration_exhausted: int = 0
    requests: int = 0
    group_requests: int = 0
    group_executed: int = 0
    group_not_member: int = 0
    group_unprotected: int = 0
    group_not_a_group: int = 0
    group_no_association: int = 0
    group_rejected: int = 0
    """Group requests the association refused (authentication, replay): dropped without answer."""
    confirmations_refused: int = 0
    """Confirmations not acted on: plain, or failing authentication (decision 0036)."""
    refused: int = 0
    """RLRQ / AARQ dropped because they would release or replace an authenticated association."""
    dropped: int = 0
    """Datagrams dropped: not a wrapper frame, or received while the node is off the mesh."""


def _envelope(apdu: bytes) -> EnvelopeInfo | None:
    """The cleartext header of a ciphered APDU, read once per datagram (None: not ciphered, or
    malformed)."""
    if not apdu or not is_protected_tag(apdu[0]):
        return None
    try:
        return read_envelope(apdu)
    except EnvelopeError:
        return None


def _invocation_key(apdu: bytes, envelope: EnvelopeInfo | None) -> int:
    """A number identifying one group request for the response RNG: its invocation counter when it
    is ciphered (always, for an accepted group request), else a hash of the bytes."""
    if envelope is not None and envelope.invocation_counter is not None:
        return envelope.invocation_counter
    return hash(apdu) & 0xFFFFFFFF


class MeshMeterNode:
    """One meter of the mesh (see the module docstring). Sans-IO: datagrams and times in, datagrams
    with their send times out.

    ``head_end``: where registrations go (the registration Push setup's destination). ``rng`` draws the
    registration start delays (a fleet may share one). ``seed`` seeds the response delays.
    ``value_reader`` reads the meter's attributes for group conditions (default: GET through the
    meter's logical device with the meter's own access context, i.e. every attribute readable).
    """

    __slots__ = (
        "_confirm_window",
        "_group_object",
        "_heap",
        "_outgoing",
        "_sequence",
        "_window_object",
        "address",
        "anchor",
        "border_router",
        "head_end",
        "meter",
        "objects",
        "online",
        "periodic_at",
        "ports",
        "prefix_length",
        "protect_registrations",
        "registration",
        "scheme",
        "seed",
        "server",
        "stats",
        "udp_port",
        "value_reader",
    )

    def __init__(
        self,
        meter: MeterDevice,
        *,
        address: ipaddress.IPv6Address | str,
        head_end: Address,
        udp_port: int | None = None,
        ports: MeshPortConfig = DEFAULT_PORTS,
        schedule: PushSchedule | None = None,
        rng: random.Random | None = None,
        membership: GroupMembership | None = None,
        response_window: ResponseWindow | None = None,
        scheme: MulticastScheme = DEFAULT_SCHEME,
        seed: int = 0,
        prefix_length: int = 64,
        border_router: ipaddress.IPv6Address | None = None,
        sequence_number: int = 0,
        objects: RegistrationObjects = DEFAULT_OBJECTS,
        inactivity_timeout: float | None = None,
        server: MeterServer | None = None,
        value_reader: Callable[[int, Obis, int], DataValue] | None = None,
        protect_registrations: bool = True,
        anchor: _dt.datetime = POSIX_EPOCH,
    ) -> None:
        self.meter = meter
        self.anchor = check_anchor(anchor)
        self.address = ipaddress.IPv6Address(address)
        self.udp_port = ports.udp_port if udp_port is None else udp_port
        self.head_end = (str(head_end[0]), int(head_end[1]))
        self.ports = ports
        self.scheme = scheme
        self.seed = seed
        self.prefix_length = prefix_length
        self.border_router = border_router
        self.objects = objects
        if schedule is None:
            schedule = PushSchedule((), 60, 5, RepetitionDelay.constant(30))
        self.registration = MeterRegistration(
            meter.system_title,
            schedule,
            rng if rng is not None else random.Random(seed),
            sequence_number=sequence_number,
            objects=objects,
            anchor=self.anchor,
        )
        self.server = (
            server
            if server is not None
            else MeterServer([mesh_served_device(meter, self.anchor)], inactivity_timeout=inactivity_timeout)
        )
        self.value_reader = value_reader if value_reader is not None else self._read_value
        self._group_object, self._window_object = self._management_objects(membership, response_window)
        self.online = False
        self.periodic_at: float | None = None
        self.stats = MeshNodeStats()
        self._heap: list[tuple[float, int, Outgoing]] = []
        self._outgoing: list[Outgoing] = []
        self._sequence = 0
        self.protect_registrations = protect_registrations
        self._confirm_window = -1
        """Last invocation counter accepted from the head-end on a confirmation (-1: none)."""

    # ----------------------------------------------------------------------------------------------
    # Management objects (decisions 0124, 0126)

    def _management_objects(
        self, membership: GroupMembership | None, window: ResponseWindow | None
    ) -> tuple[GroupMembershipObject, ResponseWindowObject]:
        """The meter's group membership and response window objects (decisions 0124, 0126; see
        :func:`~cosemnet.profiles.mesh.meter_objects.install_meter_objects`); a constructor argument
        overrides what the object holds."""
        holders = ((sap, self.meter.association(sap)) for sap in self.meter.client_saps)
        group, response = install_meter_objects(
            self.meter.device,
            [(sap, h.association) for sap, h in holders if h is not None],
            self.ports.client_wport,
            lambda ctx: lowest_acceptable_counter(self.server.replay_floors, self._setup()),
        )
        if membership is not None:
            group.membership = membership
        if window is not None:
            response.window = window
        return group, response

    @property
    def membership(self) -> GroupMembership:
        """The group membership object's value (a SET of the object changes it at once)."""
        return self._group_object.membership

    @membership.setter
    def membership(self, value: GroupMembership) -> None:
        self._group_object.membership = value

    @property
    def response_window(self) -> ResponseWindow:
        """The response window object's value."""
        return self._window_object.window

    @response_window.setter
    def response_window(self, value: ResponseWindow) -> None:
        self._window_object.window = value

    # ----------------------------------------------------------------------------------------------
    # Identity and state

    @property
    def system_title(self) -> bytes:
        return self.meter.system_title

    @property
    def registered(self) -> bool:
        """On the mesh, and the head-end confirmed the current binding."""
        return self.online and self.registration.state is PushState.CONFIRMED

    @property
    def message(self) -> RegistrationMessage | None:
        return self.registration.message

    def _entries(self) -> tuple[AddressEntry, ...]:
        return (AddressEntry(self.address, self.prefix_length, scope_of(self.address)),)

    def _announce(self, now: float, reason: RegistrationReason) -> None:
        self.registration.announce(
            now,
            self._entries(),
            reason,
            wport=self.ports.server_wport,
            udp_port=self.udp_port,
            border_router=self.border_router,
        )
        self.periodic_at = None

    # ----------------------------------------------------------------------------------------------
    # Mesh events

    def join(self, now: float) -> None:
        """The node joined the mesh: register (JOIN the first time, REJOIN afterwards)."""
        self.online = True
        first = self.registration.message is None
        self._announce(now, RegistrationReason.JOIN if first else RegistrationReason.REJOIN)

    def leave(self, now: float) -> None:
        """The node left the mesh: nothing is received or sent until :meth:`join`. Associations and
        their security contexts are kept (long-lived); queued outputs are dropped."""
        self.online = False
        self._heap.clear()
        self._outgoing.clear()
        self.periodic_at = None  # the registration push pauses (not polled) until the next join

    def change_address(
        self, address: ipaddress.IPv6Address | str, now: float, udp_port: int | None = None
    ) -> None:
        """Our address (and optionally UDP port) changed: push address update data. Associations are
        kept; the next request may come to the new address."""
        self.address = ipaddress.IPv6Address(address)
        if udp_port is not None:
            self.udp_port = udp_port
        if self.online:
            self._announce(now, RegistrationReason.ADDRESS_CHANGE)

    # ----------------------------------------------------------------------------------------------
    # Input

    def receive_datagram(
        self,
        source: Address,
        datagram: bytes,
        now: float,
        *,
        destination: ipaddress.IPv6Address | str | None = None,
    ) -> None:
        """One datagram from ``source`` (host, port). ``destination`` is the IPv6 destination address
        of the datagram (needed for group requests: the multicast group; default our address). The
        answers due now are in :meth:`pop_outgoing` afterwards (delayed group answers when due)."""
        self._receive(source, datagram, now, destination)
        self._release(now)

    def _receive(
        self,
        source: Address,
        datagram: bytes,
        now: float,
        destination: ipaddress.IPv6Address | str | None,
    ) -> None:
        if not self.online:
            self.stats.dropped += 1
            return
        try:
            frame = WrapperFrame.decode(datagram)
        except DecodeError:
            self.stats.dropped += 1
            return
        apdu = frame.apdu
        if frame.destination_wport == self.ports.group_wport:
            self._group(source, frame, now, destination)
            return
        if apdu and apdu[0] == DataNotification.TAG and self._confirmation(apdu, now):
            return
        if apdu and apdu[0] == 0xDB and self._ciphered_confirmation(apdu, _envelope(apdu), now):
            return
        if apdu and apdu[0] in (AARQ.TAG, RLRQ.TAG) and not self._may_end_association(frame):
            self.stats.refused += 1
            return
        self.stats.requests += 1
        self.server.receive_datagram(MESH_PEER, datagram, now)
        replies = [d.data for d in self.server.pop_outgoing()]
        for reply in replies:
            self._queue(Outgoing((str(source[0]), int(source[1])), reply, now))

    def _confirmation(self, apdu: bytes, now: float, *, authenticated: bool = False) -> bool:
        """A Data-Notification for us: True when it was a confirmation (consumed)."""
        try:
            notification = DataNotification.decode(apdu)
            item = self.objects.decode_body(notification.notification_body)
        except DecodeError:
            return False
        if not isinstance(item, AddressConfirmation):
            return False
        if not authenticated and self.protect_registrations:
            self.stats.confirmations_refused += 1  # plain: anyone could have sent it (decision 0036)
            return True
        if self.registration.on_confirmation(item, now, authenticated=authenticated):
            self.stats.confirmations += 1
            if self.registered and item.periodic_interval:
                self.periodic_at = now + item.periodic_interval
        return True

    def _setup(self) -> SecuritySetup | None:
        association = self.meter.association(self.ports.client_wport)
        return association.security_setup if association is not None else None

    def _security(self, setup: SecuritySetup | None = None) -> SecurityContext | None:
        """The context registrations are protected with (built on demand, nothing kept per node but
        the confirmation window): the management association's Security setup, our server's
        invocation counter for it, the head-end (its client system title) as the peer."""
        if setup is None:
            setup = self._setup()
        if setup is None:
            return None
        keys = setup.keys
        try:
            context = SecurityContext(
                suite=setup.security_suite,
                policy=SecurityPolicy(int(setup.security_policy)),
                system_title=setup.server_system_title,
                peer_system_title=setup.client_system_title or None,
                keys=KeySet(ek=keys.ek, ak=keys.ak, broadcast_key=keys.broadcast_key),
                invocation_counters={KeyRole.GLOBAL_UNICAST: self.server.counter_provider(setup)},
                role=Role.SERVER,
            )
        except (SecurityError, EncodeError):
            return None
        if self._confirm_window >= 0 and context.peer_system_title is not None:
            context.replay_guard.restore(
                {(context.peer_system_title, KeyRole.GLOBAL_UNICAST): self._confirm_window}
            )
        return context

    def _ciphered_confirmation(self, apdu: bytes, envelope: EnvelopeInfo | None, now: float) -> bool:
        """A general-glo APDU from the head-end whose first plaintext byte says Data-Notification
        (peeked with one keystream block; the path authenticates it): True when consumed."""
        if envelope is None or envelope.role is not KeyRole.GLOBAL_UNICAST:
            return False
        setup = self._setup()
        title = envelope.system_title
        if setup is None or not setup.client_system_title or title != setup.client_system_title:
            return False
        body = envelope.payload_offset
        ek = setup.keys.ek
        if len(apdu) <= body or ek is None or envelope.invocation_counter is None:
            return False
        first = apdu[body : body + 1]
        if envelope.encrypted:
            try:
                first = gcm_keystream_xor(ek, title + envelope.invocation_counter.to_bytes(4, "big"), first)
            except ValueError:  # a key the cipher refuses
                return False
        if first != bytes((DataNotification.TAG,)):
            return False
        context = self._security(setup)
        if context is None:
            return False
        try:
            plain, _, header = unprotect_apdu(apdu, context)
        except (SecurityError, DecodeError):
            self.stats.confirmations_refused += 1
            return True
        if header is None or not header.security_control & 0x10:
            self.stats.confirmations_refused += 1  # not authenticated: no better than plain
            return True
        self._confirm_window = header.invocation_counter
        if not self._confirmation(plain, now, authenticated=True):
            self.stats.dropped += 1
        return True

    def _established(self, frame: WrapperFrame) -> ServerAssociation | None:
        for a in self.server.associations():
            if a.client_sap == frame.source_wport and a.server_sap == frame.destination_wport:
                return a
        return None

    def _may_end_association(self, frame: WrapperFrame) -> bool:
        """An AARQ or RLRQ would end the association of its wPort pair: allowed when there is none,
        when it has no security context, or when the request authenticates with that association's
        keys (decision 0036). The server then checks the request as usual."""
        association = self._established(frame)
        security = association.security if association is not None else None
        if association is None or security is None or association.state is not AssociationState.ASSOCIATED:
            return True
        try:
            if frame.apdu[0] == RLRQ.TAG:
                # the server verifies the protected user-information; none at all is refused here
                return RLRQ.decode(frame.apdu).user_information is not None
            aarq = AARQ.decode(frame.apdu)
            ciphered = aarq.decode_user_information()
        except DecodeError:
            return False
        if aarq.calling_ap_title != security.peer_system_title or not isinstance(ciphered, bytes):
            return False
        guard = ReplayGuard()
        guard.restore(security.replay_guard.snapshot())
        probe = dataclasses.replace(security, replay_guard=guard)  # the association's state is untouched
        try:
            _, _, header = unprotect_apdu(ciphered, probe)
        except (SecurityError, DecodeError, EncodeError):
            return False
        return header is not None and bool(header.security_control & 0x10)

    def _read_value(self, class_id: int, logical_name: Obis, attribute_index: int) -> DataValue:
        return self.meter.device.get(class_id, logical_name, attribute_index, self.meter.context())

    def _group(
        self,
        source: Address,
        frame: WrapperFrame,
        now: float,
        destination: ipaddress.IPv6Address | str | None,
    ) -> None:
        self.stats.group_requests += 1
        target = ipaddress.IPv6Address(destination) if destination is not None else self.address
        envelope = _envelope(frame.apdu)
        decision = evaluate_group_request(
            target,
            frame.destination_wport,
            envelope.security_control if envelope is not None else None,
            self.membership,
            self.value_reader,
            scheme=self.scheme,
            group_wport=self.ports.group_wport,
        )
        if decision is GroupDecision.NOT_A_GROUP:
            self.stats.group_not_a_group += 1
            return
        if decision is GroupDecision.UNPROTECTED:
            self.stats.group_unprotected += 1
            return
        if decision is GroupDecision.NOT_MEMBER:
            self.stats.group_not_member += 1
            return
        client = frame.source_wport
        server_wport = self.ports.server_wport
        association = next(
            (
                a
                for a in self.server.associations()
                if a.client_sap == client and a.server_sap == server_wport and a.associated
            ),
            None,
        )
        if association is None:
            self.stats.group_no_association += 1
            return
        security = association.security
        if security is not None and KeyRole.GLOBAL_BROADCAST not in security.invocation_counters:
            # [design] the server answers with the request's security control (broadcast key): give
            # it an invocation counter of its own for that key (in memory, like the simulator's)
            security.invocation_counters[KeyRole.GLOBAL_BROADCAST] = MemoryInvocationCounter()
        routed = WrapperFrame(client, server_wport, frame.apdu).encode()
        self.server.receive_datagram(MESH_PEER, routed, now)
        replies = [d.data for d in self.server.pop_outgoing()]
        if any(WrapperFrame.decode(r).apdu[:1] == b"\xd8" for r in replies):
            # exception-response: authentication or replay failed; no answer (1 datagram in, 0 out)
            self.stats.group_rejected += 1
            return
        self.stats.group_executed += 1
        rng = response_rng(self.system_title, _invocation_key(frame.apdu, envelope), self.seed)
        send_at = now + self.response_window.delay(rng)
        for reply in replies:
            self._queue(Outgoing((str(source[0]), int(source[1])), reply, send_at))

    # ----------------------------------------------------------------------------------------------
    # Output and timers

    def _queue(self, item: Outgoing) -> None:
        self._sequence += 1
        heapq.heappush(self._heap, (item.send_at, self._sequence, item))

    def get_timer(self) -> float | None:
        """When :meth:`handle_timer` has something to do (None: nothing pending)."""
        candidates: list[float] = []
        if self._heap:
            candidates.append(self._heap[0][0])
        if self.online:
            deadline = self.registration.get_timer()
            if deadline is not None:
                candidates.append(deadline)
            if self.periodic_at is not None:
                candidates.append(self.periodic_at)
        server_deadline = self.server.get_timer()
        if server_deadline is not None:
            candidates.append(server_deadline)
        return min(candidates) if candidates else None

    def handle_timer(self, now: float) -> None:
        """Advance to ``now``: the datagrams due for sending go to :meth:`pop_outgoing`."""
        out = self._outgoing
        if self.server.inactivity_timeout is not None:
            self.server.handle_timer(now)
            self.server.pop_events()  # the server forgets expired pseudo-connections itself
        if self.online:
            if self.periodic_at is not None and now >= self.periodic_at:
                self._announce(now, RegistrationReason.PERIODIC)
            due = self.registration.get_timer()
            if due is not None and now >= due:
                self._push(now, out)
        self._release(now)

    def _release(self, now: float) -> None:
        """Move the queued datagrams due at ``now`` to the outgoing queue."""
        heap, out = self._heap, self._outgoing
        while heap and heap[0][0] <= now:
            out.append(heapq.heappop(heap)[2])

    def pop_outgoing(self) -> list[Outgoing]:
        """The datagrams to send now, oldest first (the queue is empty afterwards)."""
        out, self._outgoing = self._outgoing, []
        return out

    def _push(self, now: float, out: list[Outgoing]) -> None:
        before = self.registration.state
        self.registration.handle_timer(now)
        for notification in self.registration.pop_outgoing():
            apdu = notification.encode()
            if self.protect_registrations:
                context = self._security()
                try:
                    if context is None:
                        raise SecurityError("no Security setup on the management association")
                    apdu = protect_apdu(
                        apdu, context, "general-glo", security_control=0x30 | int(context.suite)
                    )
                except (SecurityError, EncodeError):
                    self.stats.dropped += 1  # never fall back to plain (decision 0036)
                    return
            self.stats.registrations_sent += 1
            frame = WrapperFrame(self.ports.server_wport, self.ports.push_client_wport, apdu)
            out.append(Outgoing(self.head_end, frame.encode(), now))
            return
        if self.registration.state is PushState.EXHAUSTED and before is not PushState.EXHAUSTED:
            self.stats.registration_exhausted += 1

    def send_push(self, apdu: bytes, now: float) -> bool:
        """Send a meter-initiated push (the data-notification of a Push setup: an alarm) to the
        head-end, protected general-glo as registrations are and never plain when
        ``protect_registrations`` (decision 0036); False: not sent (off the mesh, no security)."""
        if not self.online:
            return False
        if self.protect_registrations:
            context = self._security()
            try:
                if context is None:
                    raise SecurityError("no Security setup on the management association")
                apdu = protect_apdu(apdu, context, "general-glo", security_control=0x30 | int(context.suite))
            except (SecurityError, EncodeError):
                self.stats.dropped += 1
                return False
        frame = WrapperFrame(self.ports.server_wport, self.ports.push_client_wport, apdu)
        self._queue(Outgoing(self.head_end, frame.encode(), now))
        return True

    def pending(self) -> int:
        """Datagrams queued for later (delayed group answers, not yet due)."""
        return len(self._heap)
