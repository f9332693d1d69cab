"""A small fake 14908-1 network for the OSGP-AES-128-PSK tests: one concentrator (NNAP) and meters
(LNAPs), each an AdpService with its security agent; frames are delivered in order, and a hook may
tamper with, replay or drop them."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

from cosemnet.profiles.lon.addresses import Address, BroadcastAddress, SubnetNodeAddress
from cosemnet.profiles.lon.adp import OSGP_AES_128_PSK_SUITE_ID
from cosemnet.profiles.lon.adp_service import (
    AddressTable,
    AdpConfig,
    AdpDataIndication,
    AdpDropped,
    AdpEvent,
    AdpService,
    LonService,
)
from cosemnet.profiles.lon.lon_apdu import ApplicationMessage
from cosemnet.profiles.lon.osgp_aes.agent import ConcentratorSecurity, MeterSecurity, OsgpConfig
from cosemnet.profiles.lon.osgp_aes.keys import KeyStore, LongTermKey
from cosemnet.profiles.lon.sap import SapRole

NNAP_ADDRESS = SubnetNodeAddress(1, 1)
NNAP_ID = bytes.fromhex("4c4f4e000000")


def meter_id(i: int) -> bytes:
    return bytes.fromhex("4c4f4e01") + i.to_bytes(2, "big")


def ltk(i: int) -> bytes:
    return bytes((i + 1,)) * 16


@dataclass
class Frame:
    sender: Address
    destination: Address
    apdu: ApplicationMessage
    owner: AdpService | None = None
    handle: Hashable = None

    def completed(self, now: float) -> None:
        if self.owner is not None:
            self.owner.completed(self.handle, True, now)


class Lower:
    def __init__(self, net: Net, address: SubnetNodeAddress) -> None:
        self.net = net
        self.address = address
        self.handle = 0
        self.owner: AdpService | None = None

    def send(self, destination: Address, apdu: ApplicationMessage, service: LonService) -> Hashable:
        self.handle += 1
        handle = (id(self), self.handle)
        message = ApplicationMessage(apdu.code, bytes(apdu.data))
        self.net.queue.append(Frame(self.address, destination, message, self.owner, handle))
        return handle


@dataclass
class Node:
    address: SubnetNodeAddress
    adp: AdpService
    events: list[AdpEvent] = field(default_factory=list)

    def indications(self) -> list[AdpDataIndication]:
        self.events += self.adp.drain_events()
        out = [e for e in self.events if isinstance(e, AdpDataIndication)]
        self.events = [e for e in self.events if not isinstance(e, AdpDataIndication)]
        return out

    def dropped(self) -> list[AdpDropped]:
        self.events += self.adp.drain_events()
        return [e for e in self.events if isinstance(e, AdpDropped)]


class Net:
    def __init__(self, meters: int = 2, *, hook: Callable[[Frame], list[Frame]] | None = None) -> None:
        self.queue: list[Frame] = []
        self.now = 0.0
        self.hook = hook
        self.keystore = KeyStore()
        config = AdpConfig(send_suite_id=OSGP_AES_128_PSK_SUITE_ID)
        lower = Lower(self, NNAP_ADDRESS)
        table = AddressTable()
        self.nnap_security = ConcentratorSecurity(OsgpConfig(NNAP_ID, (1, 1)), self.keystore)
        self.nnap = Node(
            NNAP_ADDRESS,
            AdpService(lower, SapRole.CLIENT, config=config, address_table=table, suites=self.nnap_security),
        )
        self.nnap.adp.attach(self.nnap_security)
        lower.owner = self.nnap.adp
        self.meters: list[Node] = []
        self.meter_security: list[MeterSecurity] = []
        for i in range(meters):
            address = SubnetNodeAddress(1, 2 + i)
            security = MeterSecurity(OsgpConfig(meter_id(i), (1, 2 + i)), [LongTermKey(1, ltk(i))])
            meter_lower = Lower(self, address)
            adp = AdpService(meter_lower, SapRole.SERVER, config=config, suites=security)
            meter_lower.owner = adp
            adp.attach(security)
            self.meters.append(Node(address, adp))
            self.meter_security.append(security)
            self.keystore.provision(meter_id(i), ltk(i))
        self.log: list[Frame] = []

    def nodes(self) -> list[Node]:
        return [self.nnap, *self.meters]

    def deliver(self, frame: Frame) -> None:
        for node in self.nodes():
            if node.address == frame.sender:
                continue
            if isinstance(frame.destination, BroadcastAddress) or frame.destination == node.address:
                node.adp.message_received(frame.sender, frame.apdu, self.now)

    def run(self, limit: int = 500) -> None:
        """Deliver frames (each send completes once delivered) until nothing is queued and no node has
        work in progress; timers run only while some node has work in progress."""
        for _ in range(limit):
            if self.queue:
                frame = self.queue.pop(0)
                self.log.append(frame)
                for f in self.hook(frame) if self.hook is not None else [frame]:
                    self.deliver(f)
                frame.completed(self.now)
                continue
            if not any(n.adp.pending() for n in self.nodes()):
                return
            deadlines = [d for d in (n.adp.deadline() for n in self.nodes()) if d is not None]
            if not deadlines:
                return
            self.now = max(self.now, min(deadlines))
            for node in self.nodes():
                due = node.adp.deadline()
                if due is not None and due <= self.now:
                    node.adp.timer_expired(self.now)

    def commission_all(self) -> None:
        for i, meter in enumerate(self.meters):
            self.nnap_security.commission(meter.address, meter_id(i), self.now)
        self.run()
