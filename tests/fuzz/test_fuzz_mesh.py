"""Fuzz smoke: the 62056-8-20 mesh receive paths, HeadEnd.receive_datagram and MeshMeterNode.receive.

The corpus is the traffic of a registration, a collect run and a group request between a head-end and
the fake meters of tests/headend/fakes.py. Each head-end episode starts with registered meters and a
collect in progress (sessions waiting for answers); each meter node episode with a joined node.
Only errors of cosemnet.errors may come out; see tests/fuzz/engine.py.
"""

from __future__ import annotations

import random

from cosemnet.codec.wrapper import WrapperFrame
from cosemnet.headend import AttributeRef, HeadEnd, HeadEndConfig
from cosemnet.headend.headend import DEFAULT_HEAD_END_SYSTEM_TITLE
from cosemnet.headend.keys import TEST_AK, TEST_BROADCAST_KEY, TEST_EK
from cosemnet.profiles.mesh import AddressBook, MulticastScheme
from cosemnet.profiles.mesh.meter_node import MeshMeterNode
from cosemnet.security.ciphering import Role, SecurityContext, protect_apdu
from cosemnet.security.control import SecurityPolicy
from cosemnet.security.counters import MemoryInvocationCounter
from cosemnet.security.keys import KeyRole, KeySet
from cosemnet.security.suite import SecuritySuite
from cosemnet.simulator import build_meter
from cosemnet.simulator.mesh_fleet import fleet_profile
from headend.fakes import HEAD_END, HEAD_END_PORT, FakeMeter

from . import corpus
from .engine import fuzz

NOW = corpus.NOW
METER_ADDRESSES = ("2001:db8::1", "2001:db8::2", "2001:db8::3", "2001:db8::99", "fe80::1", "2001:db8::dead")


class HeadEndTarget:
    def __init__(self, seed: int, wports: list[tuple[int, int]]) -> None:
        self.rng = random.Random(seed)
        self.wports = wports
        self.now = NOW
        self.head_end = HeadEnd(AddressBook(":memory:"), config=HeadEndConfig())
        self.meter = FakeMeter(1000, METER_ADDRESSES[0])

    def reset(self) -> None:
        self.head_end = HeadEnd(AddressBook(":memory:"), config=HeadEndConfig())
        _, to_head_end = corpus.mesh_traffic()
        for index, datagram in enumerate(to_head_end[:6]):  # the registrations, plain and ciphered
            self.head_end.receive_datagram(METER_ADDRESSES[index // 2], HEAD_END_PORT, datagram, self.now)
        self.head_end.collect([AttributeRef.parse("3/1-0:1.8.0*255/2")], self.now)
        self.head_end.handle_timer(self.now)
        self.head_end.pop_outgoing()

    def run(self, data: bytes) -> None:
        self.now += 0.1
        if self.rng.random() < 0.3:  # as the plaintext of a valid general-glo APDU of meter 1000
            meter = self.meter
            ciphered = protect_apdu(data, meter.context, "general-glo")
            self.head_end.receive_datagram(
                meter.address, HEAD_END_PORT, WrapperFrame(1, 1, ciphered).encode(), self.now
            )
            return
        address = self.rng.choice(METER_ADDRESSES)
        port = HEAD_END_PORT if self.rng.random() < 0.9 else self.rng.randrange(0x10000)
        self.head_end.receive_datagram(address, port, _datagram(self.rng, data, self.wports), self.now)
        if self.rng.random() < 0.05:
            self.head_end.handle_timer(self.now + self.rng.choice((0.0, 5.0, 60.0)))
            self.head_end.pop_outgoing()

    def replay(self, data: bytes) -> None:
        self.reset()
        for address in METER_ADDRESSES[:3]:
            self.head_end.receive_datagram(address, HEAD_END_PORT, data, self.now)
            for wports in self.wports:
                self.head_end.receive_datagram(
                    address, HEAD_END_PORT, WrapperFrame(*wports, data).encode(), self.now
                )


def _unwrapped(datagrams: list[bytes]) -> tuple[list[bytes], list[tuple[int, int]]]:
    """The APDUs of ``datagrams`` and their (source, destination) wPorts."""
    frames = [WrapperFrame.decode(d) for d in datagrams]
    return [f.apdu for f in frames], sorted({(f.source_wport, f.destination_wport) for f in frames})


def _datagram(rng: random.Random, data: bytes, wports: list[tuple[int, int]]) -> bytes:
    """Most inputs are APDUs: wrap them with the wPorts seen in the traffic; the rest go as they are."""
    if rng.random() < 0.8:
        return WrapperFrame(*rng.choice(wports), data).encode()
    return data


def test_fuzz_head_end_datagrams() -> None:
    _, to_head_end = corpus.mesh_traffic()
    apdus, wports = _unwrapped(to_head_end)
    target = HeadEndTarget(21, wports)
    fuzz(
        "HeadEnd.receive_datagram",
        apdus + to_head_end + [a for a in corpus.apdus() if a[:1] in (b"\xc4", b"\x61", b"\xd8", b"\x0f")],
        target.run,
        20000,
        seed=21,
        reset=target.reset,
        reset_every=250,
        replay=target.replay,
    ).check()


HEAD_END_CONTEXT = SecurityContext(
    SecuritySuite.SUITE_0,
    SecurityPolicy.AUTHENTICATED_REQUEST | SecurityPolicy.ENCRYPTED_REQUEST,
    DEFAULT_HEAD_END_SYSTEM_TITLE,
    None,
    KeySet(ek=TEST_EK, ak=TEST_AK, broadcast_key=TEST_BROADCAST_KEY),
    {
        KeyRole.GLOBAL_UNICAST: MemoryInvocationCounter(1_000_000),
        KeyRole.GLOBAL_BROADCAST: MemoryInvocationCounter(1_000_000),
    },
    role=Role.CLIENT,
)
"""The head-end's keys (the test keys of the fleet profile): ciphers plaintext fuzz inputs."""


class MeterNodeTarget:
    def __init__(self, seed: int, wports: list[tuple[int, int]]) -> None:
        self.rng = random.Random(seed)
        self.wports = wports
        self.now = NOW
        self.serial = 1000
        self.node = self._node()
        self.group_address = str(MulticastScheme().address(7))

    def _node(self) -> MeshMeterNode:
        self.serial += 1
        meter = build_meter(fleet_profile(), serial=self.serial, seed=self.serial, start=corpus.START)
        node = MeshMeterNode(
            meter, address="2001:db8::2", head_end=(HEAD_END, HEAD_END_PORT), seed=self.serial, rng=self.rng
        )
        node.join(self.now)
        return node

    def reset(self) -> None:
        self.node = self._node()

    def run(self, data: bytes) -> None:
        self.now += 0.1
        source = (HEAD_END, HEAD_END_PORT) if self.rng.random() < 0.9 else ("2001:db8::66", 4059)
        destination = self.group_address if self.rng.random() < 0.2 else None
        if self.rng.random() < 0.3:  # as the plaintext of a valid general-glo APDU of the head-end
            data = protect_apdu(data, HEAD_END_CONTEXT, "general-glo", broadcast=destination is not None)
        self.node.receive_datagram(
            source, _datagram(self.rng, data, self.wports), self.now, destination=destination
        )
        if self.rng.random() < 0.05:
            deadline = self.node.get_timer()
            if deadline is not None:
                self.node.handle_timer(max(deadline, self.now))
        self.node.pop_outgoing()

    def replay(self, data: bytes) -> None:
        self.reset()
        for datagram in (data, *(WrapperFrame(*wports, data).encode() for wports in self.wports)):
            self.node.receive_datagram((HEAD_END, HEAD_END_PORT), datagram, self.now)
            self.node.receive_datagram(
                (HEAD_END, HEAD_END_PORT), datagram, self.now, destination=self.group_address
            )


def test_fuzz_mesh_meter_node() -> None:
    to_meters, _ = corpus.mesh_traffic()
    apdus, wports = _unwrapped(to_meters)
    target = MeterNodeTarget(22, wports)
    fuzz(
        "MeshMeterNode.receive",
        apdus
        + to_meters
        + [a for a in corpus.apdus() if a[:1] in (b"\xc0", b"\xc1", b"\xc3", b"\x60", b"\x62")],
        target.run,
        20000,
        seed=22,
        reset=target.reset,
        reset_every=250,
        replay=target.replay,
    ).check()
