"""In-process fake meters and mesh for the head-end tests: our MeterServer around a simulated meter,
plus a group-request responder built from ``profiles.mesh.groups`` (the meter-side node does the
same in the fleet simulator)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from cosemnet.codec.obis import Obis
from cosemnet.codec.types import DataValue
from cosemnet.codec.wrapper import WrapperFrame
from cosemnet.cosem.security_setup import SecuritySetup
from cosemnet.headend.headend import HeadEnd, Outgoing
from cosemnet.headend.keys import TEST_AK, TEST_BROADCAST_KEY, TEST_EK
from cosemnet.profiles.mesh import (
    AddressEntry,
    AddressRegistrationData,
    AddressUpdateData,
    GroupDecision,
    GroupMembership,
    MulticastScheme,
    RegistrationReason,
    evaluate_group_request,
)
from cosemnet.profiles.mesh.registration import DEFAULT_OBJECTS
from cosemnet.security.ciphering import Role, SecurityContext, protect_apdu
from cosemnet.security.control import SecurityPolicy
from cosemnet.security.counters import MemoryInvocationCounter
from cosemnet.security.keys import KeyRole, KeySet
from cosemnet.security.suite import SecuritySuite
from cosemnet.server import MeterServer, ServedDevice
from cosemnet.simulator import build_meter

HEAD_END = "2001:db8::1"
HEAD_END_PORT = 61616
START = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


@dataclass(eq=False)
class FakeMeter:
    serial: int
    address: str
    groups: GroupMembership = field(default_factory=GroupMembership)
    border_router: str | None = None
    sequence: int = 0
    udp_port: int = HEAD_END_PORT
    requests: list[int] = field(default_factory=list)
    """First byte of every unicast APDU received (0x60 = AARQ)."""

    def __post_init__(self) -> None:
        self.meter = build_meter(serial=self.serial, start=START)
        self.title = self.meter.identity.system_title
        self.server = MeterServer([ServedDevice(self.meter.device, effects=self.meter.effects)])
        management = self.meter.association(1)
        assert management is not None and management.security_setup is not None
        self.setup: SecuritySetup = management.security_setup
        self.context = SecurityContext(
            suite=SecuritySuite.SUITE_0,
            policy=SecurityPolicy.AUTHENTICATED_RESPONSE | SecurityPolicy.ENCRYPTED_RESPONSE,
            system_title=self.title,
            peer_system_title=None,
            keys=KeySet(ek=TEST_EK, ak=TEST_AK, broadcast_key=TEST_BROADCAST_KEY),
            invocation_counters={KeyRole.GLOBAL_UNICAST: self.server.counter_provider(self.setup)},
            role=Role.SERVER,
        )

    def registration(self, reason: RegistrationReason = RegistrationReason.JOIN) -> bytes:
        self.sequence = (self.sequence + 1) & 0xFFFFFFFF
        entry = AddressEntry.of(self.address)
        router = ipaddress.IPv6Address(self.border_router) if self.border_router else None
        item = AddressRegistrationData(
            self.title, (entry,), self.sequence, reason, udp_port=self.udp_port, border_router=router
        )
        return WrapperFrame(
            1, 1, DEFAULT_OBJECTS.notification(item, self.sequence & 0xFFFFFF).encode()
        ).encode()

    def ciphered_registration(self) -> bytes:
        """The registration, general-glo-ciphered with the meter's unicast key."""
        plain = WrapperFrame.decode(self.registration()).apdu
        return WrapperFrame(1, 1, protect_apdu(plain, self.context, "general-glo")).encode()

    def migrate(self, new_address: str, *, plain: bool = False) -> bytes:
        """Move to ``new_address``; returns the address update datagram (general-glo-ciphered
        unless ``plain``)."""
        self.sequence = (self.sequence + 1) & 0xFFFFFFFF
        old = AddressEntry.of(self.address)
        self.address = new_address
        item = AddressUpdateData(self.title, (old,), (AddressEntry.of(new_address),), self.sequence)
        apdu = DEFAULT_OBJECTS.notification(item, self.sequence & 0xFFFFFF).encode()
        if not plain:
            apdu = protect_apdu(apdu, self.context, "general-glo")
        return WrapperFrame(1, 1, apdu).encode()

    def read(self, class_id: int, logical_name: Obis, attribute_index: int) -> DataValue:
        ctx = self.meter.context(None)
        return self.meter.device.get(class_id, logical_name, attribute_index, ctx)

    def receive(self, destination: str, data: bytes, now: float) -> list[bytes]:
        frame = WrapperFrame.decode(data)
        if frame.destination_wport == 127:
            return self._group(destination, frame)
        self.requests.append(frame.apdu[0])
        self.server.receive_datagram((HEAD_END, HEAD_END_PORT), data, now)
        return [d.data for d in self.server.pop_outgoing()]

    def _group(self, destination: str, frame: WrapperFrame) -> list[bytes]:
        """Like the mesh meter node: evaluate membership, then execute the request inside the
        association the client wPort holds with the management logical device; the server answers
        with the request's protection (broadcast key), from wPort 1."""
        sc = frame.apdu[11] if frame.apdu[:1] == b"\xdb" and len(frame.apdu) > 11 else None
        decision = evaluate_group_request(
            ipaddress.IPv6Address(destination), frame.destination_wport, sc, self.groups, self.read
        )
        if decision is not GroupDecision.EXECUTE:
            return []
        association = next(
            (a for a in self.server.associations() if a.client_sap == frame.source_wport and a.associated),
            None,
        )
        if association is None or association.security is None:
            return []
        counters = association.security.invocation_counters
        counters.setdefault(KeyRole.GLOBAL_BROADCAST, MemoryInvocationCounter())
        routed = WrapperFrame(frame.source_wport, 1, frame.apdu).encode()
        self.server.receive_datagram((HEAD_END, HEAD_END_PORT), routed, 0.0)
        return [d.data for d in self.server.pop_outgoing()]


class FakeMesh:
    """Delivers the head-end's datagrams to fake meters (with optional loss / duplication)."""

    def __init__(
        self, head_end: HeadEnd, meters: list[FakeMeter], *, loss: float = 0.0, seed: int = 1
    ) -> None:
        self.head_end = head_end
        self.meters = {ipaddress.IPv6Address(m.address).compressed: m for m in meters}
        self.all = meters
        self.loss = loss
        self.rng = random.Random(seed)
        self.scheme = MulticastScheme()
        self.sent = 0
        self.duplicate_group_answers = False
        self.tamper: Callable[[bytes], bytes] | None = None

    def rebuild_index(self) -> None:
        self.meters = {ipaddress.IPv6Address(m.address).compressed: m for m in self.all}

    def register_all(self, now: float) -> None:
        for m in self.all:
            self.head_end.receive_datagram(m.address, HEAD_END_PORT, m.ciphered_registration(), now)
        self.head_end.pop_outgoing()  # confirmations

    def deliver(self, out: Outgoing, now: float) -> list[tuple[str, bytes]]:
        self.sent += 1
        if self.loss and self.rng.random() < self.loss:
            return []
        address = ipaddress.IPv6Address(out.address)
        if self.scheme.group_id(address) is not None:
            replies = []
            for m in self.all:
                for r in m.receive(out.address, out.data, now):
                    replies.append((m.address, r))
                    if self.duplicate_group_answers:
                        replies.append((m.address, r))
            return replies
        meter = self.meters.get(address.compressed)
        if meter is None:
            return []
        replies = [(meter.address, r) for r in meter.receive(out.address, out.data, now)]
        if self.loss:
            replies = [r for r in replies if self.rng.random() >= self.loss]
        return replies

    def run(self, now: float, *, step: float = 0.5, limit: float = 3600.0) -> float:
        """Pump until the head-end has nothing in progress; returns the simulated time."""
        end = now + limit
        while now < end:
            self.head_end.handle_timer(now)
            outgoing = self.head_end.pop_outgoing()
            if not outgoing and not self.head_end.busy:
                return now
            for out in outgoing:
                for address, reply in self.deliver(out, now):
                    self.head_end.receive_datagram(address, HEAD_END_PORT, reply, now)
            if not outgoing:
                deadline = self.head_end.get_timer()
                now = max(now + step, deadline) if deadline is not None else now + step
        return now
