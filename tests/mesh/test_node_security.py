"""Issue 9 (findings 5, 6, 7), meter side: hostile hosts against the mesh fleet over real UDP sockets
on ::1, with the real head-end (decision 0036)."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable

import pytest

from cosemnet.client import ClientConfig, ClientConnection
from cosemnet.codec.acse import RLRQ
from cosemnet.codec.wrapper import WrapperFrame
from cosemnet.codec.xdlms.common import CosemAttributeDescriptor
from cosemnet.codec.xdlms.get import GetRequestNormal
from cosemnet.headend import AttributeRef, HeadEnd, HeadEndConfig, HeadEndService
from cosemnet.headend.keys import DEFAULT_HEAD_END_SYSTEM_TITLE, TEST_AK, TEST_BROADCAST_KEY
from cosemnet.profiles.mesh import AddressBook, ResponseWindow, ThrottleConfig
from cosemnet.profiles.mesh.registration import AddressConfirmation, ConfirmationStatus
from cosemnet.security.ciphering import Role, SecurityContext, protect_apdu
from cosemnet.security.control import SecurityPolicy
from cosemnet.security.counters import MemoryInvocationCounter
from cosemnet.security.hls import Mechanism
from cosemnet.security.keys import KeyRole, KeySet
from cosemnet.security.suite import SecuritySuite
from cosemnet.simulator.mesh_fleet import FleetConfig, MeshFleet, group_gateway_datagram

from .helpers import HeadEndSide, plain_confirmation


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


pytestmark = pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback")
ENERGY = AttributeRef.parse("3/1-0:1.8.0*255/2")
WINDOW = ResponseWindow(0, 100)


class Stranger:
    """Another host on ::1: sends datagrams and counts what comes back."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        self.sock.bind(("::1", 0))
        self.sock.setblocking(False)
        self.received: list[bytes] = []

    def send(self, data: bytes, to: tuple[str, int]) -> None:
        self.sock.sendto(data, to)

    def drain(self) -> list[bytes]:
        while True:
            try:
                self.received.append(self.sock.recv(4096))
            except BlockingIOError:
                return self.received

    def close(self) -> None:
        self.sock.close()


async def _until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, "timed out"
        await asyncio.sleep(0.01)


async def _setup(meters: int, **fleet: object) -> tuple[HeadEndService, MeshFleet]:
    config = HeadEndConfig(
        throttle=ThrottleConfig(max_per_prefix=16, timeout=2.0, backoff_base=0.2, rto_min=0.2)
    )
    service = HeadEndService(HeadEnd(AddressBook(":memory:"), config=config))
    await service.start("::1", 0)
    cfg = FleetConfig(meters=meters, head_end=service.local_address, response_window=WINDOW, **fleet)  # type: ignore[arg-type]
    mesh = MeshFleet(cfg)
    await mesh.start()
    service.group_gateway = mesh.group_gateway
    return service, mesh


def test_registrations_are_protected_and_plain_confirmations_from_a_stranger_are_ignored() -> None:
    """The fleet registers ciphered with the real head-end (default config); a stranger's plain
    confirmation, and one ciphered with the wrong key, do not stop a pending registration."""

    async def main() -> None:
        silent = Stranger()  # a head-end that never confirms: the registration stays pending
        stranger = Stranger()
        mesh = MeshFleet(FleetConfig(meters=1, head_end=("::1", silent.sock.getsockname()[1]), seed=4))
        await mesh.start()
        try:
            await _until(lambda: len(silent.drain()) >= 1)
            registration = WrapperFrame.decode(silent.received[0]).apdu
            assert registration[0] == 0xDB and registration[2:10] == mesh.nodes[0].system_title
            node = mesh.nodes[0]
            message = node.message
            assert message is not None
            confirmation = AddressConfirmation.for_message(
                message, ConfirmationStatus.STALE, 0x7FFFFFFF, periodic_interval=1
            )
            stranger.send(plain_confirmation(confirmation), mesh.endpoint(0))
            wrong = HeadEndSide(ak=bytes(16))
            stranger.send(wrong.confirmation(confirmation), mesh.endpoint(0))
            await _until(lambda: node.stats.confirmations_refused == 2)
            assert not node.registered and node.registration.sequence_number == message.sequence_number
            assert stranger.drain() == []
            # the genuine head-end's protected answer is acted on
            right = HeadEndSide()
            ok = AddressConfirmation.for_message(
                message, ConfirmationStatus.ACCEPTED, message.sequence_number
            )
            stranger.send(right.confirmation(ok), mesh.endpoint(0))  # from anywhere: the keys count
            await _until(lambda: node.registered)
        finally:
            await mesh.stop()
            silent.close()
            stranger.close()

        service, mesh = await _setup(5, seed=5)
        try:
            await _until(lambda: mesh.registered == 5)
            assert len(service.head_end.book) == 5 and service.head_end.security_events == 0
            assert all(e.authenticated for e in service.head_end.book.entries())
        finally:
            await mesh.stop()
            await service.close()

    asyncio.run(main())


def test_plain_rlrq_and_forged_aarq_from_another_host_leave_the_association_working() -> None:
    async def main() -> None:
        service, mesh = await _setup(3, seed=6)
        head_end = service.head_end
        stranger = Stranger()
        try:
            await _until(lambda: mesh.registered == 3)
            run = await asyncio.wait_for(service.collect([ENERGY]), 20)
            assert len(run.results) == 3 and head_end.aarq_sent == 3
            forger = ClientConnection(  # right system title, wrong keys
                ClientConfig(
                    client_sap=1,
                    mechanism=Mechanism.HLS_GMAC,
                    keys=KeySet(ek=bytes(16), ak=bytes(16)),
                    system_title=DEFAULT_HEAD_END_SYSTEM_TITLE,
                    ciphering="general-glo",
                    invocation_counter=MemoryInvocationCounter(1 << 31),
                )
            )
            aarq = forger.associate()
            for i in range(3):
                stranger.send(WrapperFrame(1, 1, RLRQ().encode()).encode(), mesh.endpoint(i))
                stranger.send(WrapperFrame(1, 1, aarq).encode(), mesh.endpoint(i))
            await _until(lambda: all(n.stats.refused == 2 for n in mesh.nodes))
            assert stranger.drain() == []
            assert all(len(n.server.associations()) == 1 for n in mesh.nodes)
            run = await asyncio.wait_for(service.collect([ENERGY]), 20)
            assert len(run.results) == 3 and not run.failed
            assert head_end.aarq_sent == 3  # the same associations answered
        finally:
            stranger.close()
            await mesh.stop()
            await service.close()

    asyncio.run(main())


def _group_request(invoke_id: int = 5) -> bytes:
    """A group GET protected with the broadcast key, as the head-end would send it."""
    context = SecurityContext(
        suite=SecuritySuite.SUITE_0,
        policy=SecurityPolicy.AUTHENTICATED_REQUEST | SecurityPolicy.ENCRYPTED_REQUEST,
        system_title=DEFAULT_HEAD_END_SYSTEM_TITLE,
        peer_system_title=None,
        keys=KeySet(ak=TEST_AK, broadcast_key=TEST_BROADCAST_KEY),
        invocation_counters={KeyRole.GLOBAL_BROADCAST: MemoryInvocationCounter(1 << 30)},
        role=Role.CLIENT,
    )
    plain = GetRequestNormal(invoke_id, CosemAttributeDescriptor(3, ENERGY.logical_name, 2)).encode()
    return WrapperFrame(1, 127, protect_apdu(plain, context, "general-glo", broadcast=True)).encode()


def test_group_request_with_a_wrong_tag_draws_no_answer_and_counts_as_rejected() -> None:
    async def main() -> None:
        service, mesh = await _setup(6, seed=7)
        stranger = Stranger()
        try:
            await _until(lambda: mesh.registered == 6)
            run = await asyncio.wait_for(service.collect([ENERGY]), 20)
            assert len(run.results) == 6
            gateway = mesh.group_gateway
            assert gateway is not None
            group0 = service.head_end.config.scheme.address(0)
            genuine = _group_request()
            forged = bytearray(genuine)
            forged[-1] ^= 1  # wrong authentication tag
            stranger.send(group_gateway_datagram(group0, bytes(forged)), gateway)
            await _until(lambda: sum(n.stats.group_rejected for n in mesh.nodes) == 6)
            await asyncio.sleep(WINDOW.end_offset / 1000 + 0.2)
            assert stranger.drain() == []  # 1 datagram in, 0 out
            assert sum(n.stats.group_executed for n in mesh.nodes) == 0
            # control: the same request with its tag intact is executed and answered by all 6
            stranger.send(group_gateway_datagram(group0, genuine), gateway)
            await _until(lambda: len(stranger.drain()) == 6)
            assert sum(n.stats.group_executed for n in mesh.nodes) == 6
        finally:
            stranger.close()
            await mesh.stop()
            await service.close()

    asyncio.run(main())
