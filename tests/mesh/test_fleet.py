"""The mesh fleet over real UDP sockets on ::1, against a small fake head-end written here.

The fake head-end stores registrations with the profile's AddressBook (``handle_notification``) and
answers with the confirmation; it can drop a share of the registrations it receives, and it runs a
``ClientConnection`` association over UDP to a meter, rebinding to the address the book holds.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import json
import os
import pathlib
import random
import shutil
import socket
import subprocess
import sys
import threading
import time
import tracemalloc
from typing import Any

import pytest
from click.testing import CliRunner

from cosemnet.cli.sim import sim_group
from cosemnet.client import ClientConfig, ClientConnection
from cosemnet.client.connection import Done, SendApdu
from cosemnet.codec.obis import Obis
from cosemnet.codec.types import DoubleLongUnsigned
from cosemnet.codec.wrapper import WrapperFrame
from cosemnet.codec.xdlms.common import CosemAttributeDescriptor
from cosemnet.codec.xdlms.get import GetRequestNormal, GetResponseNormal
from cosemnet.codec.xdlms.notification import DataNotification
from cosemnet.profiles.mesh import (
    AddressBook,
    AddressConfirmation,
    ConfirmationStatus,
    MulticastScheme,
    ResponseWindow,
)
from cosemnet.profiles.mesh.meter_node import MeshMeterNode
from cosemnet.security.ciphering import SecurityContext, gcm_keystream_xor, protect_apdu, unprotect_apdu
from cosemnet.security.control import SecurityPolicy
from cosemnet.security.counters import MemoryInvocationCounter
from cosemnet.security.hls import Mechanism
from cosemnet.security.keys import KeyRole, KeySet
from cosemnet.security.suite import SecuritySuite
from cosemnet.simulator import build_meter
from cosemnet.simulator.mesh_fleet import (
    FLEET_PROFILE_ENTRIES,
    FleetConfig,
    MeshFleet,
    fleet_profile,
    group_gateway_datagram,
)

from .helpers import HeadEndSide

EK = bytes.fromhex("000102030405060708090A0B0C0D0E0F")  # Green Book test keys (public)
AK = bytes.fromhex("D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF")
CLIENT_TITLE = bytes.fromhex("4D4D4D0000000001")
ENERGY = Obis.parse("1-0:1.8.0*255")

pytestmark = pytest.mark.skipif(not socket.has_ipv6, reason="no IPv6 on this host")


class FakeHeadEnd(asyncio.DatagramProtocol):
    """Registrations -> AddressBook -> confirmations; everything else to ``inbox``."""

    def __init__(self, drop: float = 0.0, seed: int = 0) -> None:
        self.book = AddressBook()
        self.transport: asyncio.DatagramTransport | None = None
        self.drop = drop
        self.rng = random.Random(seed)
        self.registrations = 0
        self.dropped = 0
        self.inbox: asyncio.Queue[tuple[bytes, Any, float]] = asyncio.Queue()
        self.side = HeadEndSide()
        self.receiving = SecurityContext(
            suite=SecuritySuite.SUITE_0,
            policy=SecurityPolicy(0),
            system_title=CLIENT_TITLE,
            peer_system_title=None,
            keys=KeySet(ek=EK, ak=AK),
        )

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: Any) -> None:
        frame = WrapperFrame.decode(data)
        apdu, sender = frame.apdu, None
        if apdu[:1] == b"\xdb" and self._peek_notification(apdu):
            # registrations come general-glo-ciphered (decision 0036)
            apdu, _, _ = unprotect_apdu(apdu, self.receiving)
            sender = frame.apdu[2:10]
        if apdu[:1] == bytes((DataNotification.TAG,)):
            handled = self.book.handle_notification(
                DataNotification.decode(apdu), time.time(), sender_system_title=sender
            )
            if handled is not None:
                self.registrations += 1
                if self.drop and self.rng.random() < self.drop:
                    self.dropped += 1
                    return
                answer = handled[1].encode()
                if sender is not None:
                    answer = protect_apdu(answer, self.side.context, "general-glo")
                reply = WrapperFrame(frame.destination_wport, frame.source_wport, answer)
                assert self.transport is not None
                self.transport.sendto(reply.encode(), addr)
                return
        self.inbox.put_nowait((frame.apdu, addr, time.monotonic()))

    @staticmethod
    def _peek_notification(apdu: bytes) -> bool:
        iv = apdu[2:10] + apdu[12:16]
        return gcm_keystream_xor(EK, iv, apdu[16:17]) == bytes((DataNotification.TAG,))

    def where(self, title: bytes) -> tuple[str, int]:
        entry = self.book.lookup(title)
        assert entry is not None
        return entry.primary_address.compressed, entry.binding.udp_port

    def send(self, apdu: bytes, to: tuple[str, int], destination_wport: int = 1) -> None:
        assert self.transport is not None
        self.transport.sendto(WrapperFrame(1, destination_wport, apdu).encode(), to)

    async def exchange(self, connection: ClientConnection, apdu: bytes, to: tuple[str, int]) -> object:
        event: object = SendApdu(apdu)
        while isinstance(event, SendApdu):
            self.send(event.apdu, to)
            reply, _, _ = await asyncio.wait_for(self.inbox.get(), 5)
            event = connection.receive(reply)
        assert isinstance(event, Done)
        return event.result


async def _head_end(**kwargs: Any) -> tuple[FakeHeadEnd, asyncio.DatagramTransport]:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(
        lambda: FakeHeadEnd(**kwargs), local_addr=("::1", 0)
    )
    return protocol, transport


async def _fleet(head: asyncio.DatagramTransport, **kwargs: Any) -> MeshFleet:
    host, port = head.get_extra_info("sockname")[:2]
    kwargs.setdefault("randomisation_start_interval", 0)
    kwargs.setdefault("repetition_delay", 1)
    fleet = MeshFleet(FleetConfig(head_end=(host, port), **kwargs))
    await fleet.start()
    return fleet


def _management() -> ClientConnection:
    return ClientConnection(
        ClientConfig(
            client_sap=1,
            mechanism=Mechanism.HLS_GMAC,
            keys=KeySet(ek=EK, ak=AK, broadcast_key=EK),
            system_title=CLIENT_TITLE,
            ciphering="general-glo",
            invocation_counter=MemoryInvocationCounter(100),
        )
    )


async def _meters_register_migrate_and_reregister() -> None:
    head, transport = await _head_end()
    fleet = await _fleet(transport, meters=20)
    try:
        assert await fleet.wait_registered(10)
        titles = {node.system_title for node in fleet.nodes}
        assert len(titles) == 20
        for i, node in enumerate(fleet.nodes):
            assert head.where(node.system_title) == fleet.endpoint(i)
        moved = [await fleet.change_address(i) for i in range(0, 20, 4)]
        assert len(set(moved)) == 5
        assert await fleet.wait_registered(10)
        for i, where in zip(range(0, 20, 4), moved, strict=True):
            assert head.where(fleet.nodes[i].system_title) == where
            history = head.book.history(fleet.nodes[i].system_title)
            assert len(history) == 2  # created, then changed by the address update
        assert (
            fleet.nodes[0].message is not None
            and type(fleet.nodes[0].message).__name__ == "AddressUpdateData"
        )
    finally:
        await fleet.stop()
        transport.close()


async def _association_survives_a_meter_address_change() -> None:
    head, transport = await _head_end()
    fleet = await _fleet(transport, meters=3)
    try:
        assert await fleet.wait_registered(10)
        node = fleet.nodes[1]
        client = _management()
        info = await head.exchange(client, client.associate(), head.where(node.system_title))
        assert getattr(info, "server_system_title", None) == node.system_title
        first = await head.exchange(client, client.get(3, ENERGY, 2), head.where(node.system_title))
        old = head.where(node.system_title)
        new = await fleet.change_address(1)
        assert new != old
        assert await fleet.wait_registered(10)
        assert head.where(node.system_title) == new  # the head-end rebinds on the address update
        second = await head.exchange(client, client.get(3, ENERGY, 2), head.where(node.system_title))
        assert isinstance(first, DoubleLongUnsigned) and isinstance(second, DoubleLongUnsigned)
        assert second >= first
        assert client.is_associated
        assert len(node.server.associations()) == 1  # the same association, no new AARQ
        # the old address is gone: a request there reaches nobody
        head.send(client.get(3, ENERGY, 2), old)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(head.inbox.get(), 0.3)
    finally:
        await fleet.stop()
        transport.close()


async def _group_request_members_answer_inside_the_window() -> None:
    head, transport = await _head_end()
    window = ResponseWindow(200, 1200)
    fleet = await _fleet(transport, meters=8, groups=2, response_window=window)
    try:
        assert await fleet.wait_registered(10)
        clients = {}
        for node in fleet.nodes:  # long-lived associations (the group request runs in them)
            client = _management()
            await head.exchange(client, client.associate(), head.where(node.system_title))
            clients[node.system_title] = client
        sender = clients[fleet.nodes[0].system_title]
        assert sender.security is not None
        sender.security.invocation_counters[KeyRole.GLOBAL_BROADCAST] = MemoryInvocationCounter(1)
        plain = GetRequestNormal(5, CosemAttributeDescriptor(3, ENERGY, 2)).encode()
        request = protect_apdu(plain, sender.security, "general-glo", broadcast=True)
        gateway = fleet.group_gateway
        assert gateway is not None
        members = {n.system_title for i, n in enumerate(fleet.nodes) if i % 2 == 1}  # group 2
        sent = time.monotonic()
        head.send(group_gateway_datagram(MulticastScheme().address(2), b""), gateway)  # too short: ignored
        assert transport is not None
        transport.sendto(
            group_gateway_datagram(MulticastScheme().address(2), WrapperFrame(1, 127, request).encode()),
            gateway,
        )
        answers: dict[bytes, float] = {}
        deadline = sent + window.end_offset / 1000 + 1.0
        while time.monotonic() < deadline:
            try:
                apdu, _, at = await asyncio.wait_for(head.inbox.get(), deadline - time.monotonic())
            except TimeoutError:
                break
            title = apdu[2:10]  # general-glo-ciphering: DB 08 <system title>
            plain_reply, _, header = unprotect_apdu(apdu, clients[title].security)  # type: ignore[arg-type]
            assert header is not None and header.security_control & 0x40  # answered with the broadcast key
            response = GetResponseNormal.decode(plain_reply)
            assert response.invoke_id == 5
            answers[title] = at - sent
        assert set(answers) == members
        delays = sorted(answers.values())
        assert delays[0] >= 0.15 and delays[-1] <= 1.2 + 0.3
        assert delays[-1] - delays[0] > 0.1  # spread, not all at once
        stats = [n.stats for n in fleet.nodes]
        assert sum(s.group_executed for s in stats) == 4
        # an unprotected group request is executed by nobody
        transport.sendto(
            group_gateway_datagram(MulticastScheme().address(2), WrapperFrame(1, 127, plain).encode()),
            gateway,
        )
        await asyncio.sleep(0.1)
        assert sum(n.stats.group_unprotected for n in fleet.nodes) == 4
    finally:
        await fleet.stop()
        transport.close()


async def _registration_retries_through_loss() -> None:
    head, transport = await _head_end(drop=0.3, seed=3)
    fleet = await _fleet(
        transport, meters=30, loss=0.2, duplicate=0.2, reorder=0.3, number_of_retries=10, seed=5
    )
    try:
        assert await fleet.wait_registered(20)
        assert fleet.stats.lost > 0 and head.dropped > 0
        assert fleet.stats.duplicated > 0 and fleet.stats.reordered > 0
        assert sum(n.stats.registrations_sent for n in fleet.nodes) > 30  # retries happened
        assert len(list(head.book.entries())) == 30
    finally:
        await fleet.stop()
        transport.close()


async def _churn_keeps_the_book_current() -> None:
    head, transport = await _head_end()
    fleet = await _fleet(transport, meters=20, churn=40.0, rejoin_after=0.2, seed=7)
    try:
        assert await fleet.wait_registered(10)
        await fleet.run(1.0)
        assert fleet.stats.address_changes + fleet.stats.leaves > 5
        for i, node in enumerate(fleet.nodes):
            if not node.online:
                fleet.join(i)
        assert await fleet.wait_registered(10)
        for i, node in enumerate(fleet.nodes):
            assert head.where(node.system_title) == fleet.endpoint(i)
    finally:
        await fleet.stop()
        transport.close()


def test_memory_per_meter_for_1000_meters(capsys: pytest.CaptureFixture[str]) -> None:
    """Sans-IO nodes (meter + server + registration), without sockets; at build (registration
    pending) and after 2 simulated hours (load profile and event log full, registration confirmed)."""
    template = fleet_profile()
    rng = random.Random(0)
    start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    t0 = start.timestamp()
    warm = MeshMeterNode(build_meter(template, start=start), address="::1", head_end=("::1", 1), rng=rng)
    warm.join(t0)
    warm.meter.handle_timer(2 * 3600.0)  # the meter's time counts from its start
    warm.meter.pop_events()
    head_end = HeadEndSide()
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        nodes = []
        meters = []
        for i in range(1000):
            meters.append(build_meter(template, serial=i + 1, seed=i, start=start))
            node = MeshMeterNode(
                meters[-1],
                address="::1",
                udp_port=20000 + i,
                head_end=("::1", 1),
                rng=rng,
            )
            node.join(t0)
            nodes.append(node)
        gc.collect()
        at_build = (tracemalloc.get_traced_memory()[0] - before) / len(nodes)
        sample = 100  # the growth is measured on a sample (tracemalloc slows the simulation down)
        before_growth = tracemalloc.get_traced_memory()[0]
        for node, meter in zip(nodes[:sample], meters[:sample], strict=True):
            meter.handle_timer(2 * 3600.0)
            meter.pop_events()
            meter.power_down(start + dt.timedelta(hours=2))  # one more event log row
            meter.power_up(start + dt.timedelta(hours=2, seconds=1))
            message = node.message
            assert message is not None
            confirmation = AddressConfirmation.for_message(
                message, ConfirmationStatus.ACCEPTED, message.sequence_number
            )
            node.receive_datagram(("::1", 1), head_end.confirmation(confirmation), t0 + 1)
        gc.collect()
        running = at_build + (tracemalloc.get_traced_memory()[0] - before_growth) / sample
    finally:
        tracemalloc.stop()
    with capsys.disabled():
        print(
            f"\nmesh meter node: {at_build:.0f} bytes per meter at build, {running:.0f} bytes with full "
            "logs (1,000 meters, tracemalloc)"
        )
    assert all(n.registered for n in nodes[:100])
    rows = nodes[0].meter.device.find(7, "1-0:99.1.0*255")
    assert rows is not None and len(rows.buffer) == FLEET_PROFILE_ENTRIES  # type: ignore[attr-defined]
    assert at_build < running < 20 * 1024
    assert len({n.system_title for n in nodes}) == 1000


def test_meters_register_migrate_and_reregister() -> None:
    asyncio.run(_meters_register_migrate_and_reregister())


def test_association_survives_a_meter_address_change() -> None:
    asyncio.run(_association_survives_a_meter_address_change())


def test_group_request_members_answer_inside_the_window() -> None:
    asyncio.run(_group_request_members_answer_inside_the_window())


def test_registration_retries_through_loss() -> None:
    asyncio.run(_registration_retries_through_loss())


def test_churn_keeps_the_book_current() -> None:
    asyncio.run(_churn_keeps_the_book_current())


def test_cli_sim_mesh_registers_every_meter_with_a_head_end() -> None:
    book = AddressBook()
    sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    sock.bind(("::1", 0))
    sock.settimeout(0.1)
    port = sock.getsockname()[1]
    done = threading.Event()

    def serve() -> None:
        while not done.is_set():
            try:
                data, addr = sock.recvfrom(2048)
            except TimeoutError:
                continue
            frame = WrapperFrame.decode(data)
            handled = book.handle_notification(DataNotification.decode(frame.apdu), time.time())
            if handled is not None:
                reply = WrapperFrame(frame.destination_wport, frame.source_wport, handled[1].encode())
                sock.sendto(reply.encode(), addr)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        result = CliRunner().invoke(
            sim_group,
            [
                "mesh",
                "--meters",
                "25",
                "--head-end",
                f"[::1]:{port}",
                "--duration",
                "2",
                "--json",
                "--churn",
                "4",
                "--seed",
                "2",
                "--plain-registrations",  # the plain book below: the lab option
            ],
        )
    finally:
        done.set()
        thread.join()
        sock.close()
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["meters"] == 25
    assert summary["all_registered_after"] is not None and summary["registrations_per_second"] > 0
    assert summary["meter_totals"]["confirmations"] >= 25
    assert len(list(book.entries())) == 25
    assert summary["group_gateway"].startswith("[::1]:")


def test_cli_sim_mesh_refuses_a_bad_head_end() -> None:
    result = CliRunner().invoke(sim_group, ["mesh", "--head-end", "::1:9"])
    assert result.exit_code == 2 and "write [::1]:9" in result.output


_ANYIP_SCRIPT = """
import asyncio, sys
sys.path.insert(0, sys.argv[1])
from mesh.test_fleet import FakeHeadEnd
from cosemnet.simulator.mesh_fleet import FleetConfig, MeshFleet

async def main():
    loop = asyncio.get_running_loop()
    tr, head = await loop.create_datagram_endpoint(FakeHeadEnd, local_addr=("fd00:c05e::1", 61616))
    fleet = MeshFleet(FleetConfig(meters=50, head_end=("fd00:c05e::1", 61616), host="fd00:c05e::1",
                                  anyip_prefix="fd00:c05e::/64", randomisation_start_interval=0))
    await fleet.start()
    assert await fleet.wait_registered(10)
    assert {head.where(n.system_title) for n in fleet.nodes} == {fleet.endpoint(i) for i in range(50)}
    assert len({fleet.endpoint(i)[0] for i in range(50)}) == 50
    moved = await fleet.change_address(7)
    assert await fleet.wait_registered(10) and head.where(fleet.nodes[7].system_title) == moved
    await fleet.stop()
    tr.close()
    print("anyip ok", moved)

asyncio.run(main())
"""


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0 or shutil.which("ip") is None,
    reason="needs root and iproute2 to create a network namespace with an AnyIP route",
)
def test_anyip_addresses_in_a_network_namespace() -> None:
    """Each meter on its own IPv6 address of an AnyIP /64, inside a namespace created for the test."""
    name = f"cosemnet-mesh-{os.getpid()}"
    if subprocess.run(["ip", "netns", "add", name], capture_output=True).returncode != 0:
        pytest.skip("cannot create a network namespace here")
    try:
        setup = (
            "ip link set lo up && ip -6 route add local fd00:c05e::/64 dev lo"
            " && ip -6 addr add fd00:c05e::1/128 dev lo"
        )
        subprocess.run(["ip", "netns", "exec", name, "sh", "-c", setup], check=True, capture_output=True)
        tests_dir = str(pathlib.Path(__file__).resolve().parent.parent)
        result = subprocess.run(
            ["ip", "netns", "exec", name, sys.executable, "-c", _ANYIP_SCRIPT, tests_dir],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr[-2000:]
        assert "anyip ok ('fd00:c05e::" in result.stdout
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)
