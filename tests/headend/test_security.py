"""Issue 9 (finding 5), head-end side: hostile peers over real UDP sockets on ::1 (decision 0036).

Registrations and address updates count only when protected with the meter's keys; unseen system
titles cost no state; sequence numbers use serial-number arithmetic; the session table is bounded."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from cosemnet.codec.wrapper import WrapperFrame
from cosemnet.headend import AttributeRef, HeadEnd, HeadEndConfig, HeadEndService
from cosemnet.headend.keys import TEST_AK, TEST_EK, MappingKeyStore
from cosemnet.profiles.mesh import AddressBook, AddressEntry, AddressUpdateData, ThrottleConfig
from cosemnet.profiles.mesh.address_book import UpsertResult
from cosemnet.profiles.mesh.registration import DEFAULT_OBJECTS, AddressRegistrationData, serial_greater
from cosemnet.security.keys import KeySet

from .fakes import HEAD_END_PORT, FakeMesh, FakeMeter

NOW = 1_700_000_000.0
ENERGY = AttributeRef.parse("3/1-0:1.8.0*255/2")


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


needs_loopback = pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback")


class Peer:
    """A UDP socket on ::1 (a meter or a hostile host) that counts what it is sent."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        self.sock.bind(("::1", 0))
        self.sock.setblocking(False)
        self.port = int(self.sock.getsockname()[1])
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


async def _settle(service: HeadEndService, count: int, timeout: float = 20.0) -> None:
    """Wait until the service has taken ``count`` datagrams in, or until nothing more arrives for
    0.5 s (loopback may drop a few under load: at least 90 % must have arrived)."""
    end = time.monotonic() + timeout
    last, quiet = service.received, time.monotonic()
    while service.received < count and time.monotonic() < end:
        await asyncio.sleep(0.02)
        if service.received != last:
            last, quiet = service.received, time.monotonic()
        elif time.monotonic() - quiet > 0.5:
            break
    await asyncio.sleep(0.05)
    assert service.received >= count * 0.9


def _update(title: bytes, address: str, sequence: int, *, port: int) -> bytes:
    """A plain address update datagram (what a forger sends)."""
    item = AddressUpdateData(
        title, (), (AddressEntry.of(address),), sequence, udp_port=port
    )  # previous addresses unknown to the forger
    return WrapperFrame(1, 1, DEFAULT_OBJECTS.notification(item, sequence & 0xFFFFFF).encode()).encode()


def _invented(index: int, port: int) -> bytes:
    title = b"EVL" + index.to_bytes(5, "big")
    item = AddressRegistrationData(title, (AddressEntry.of("2001:db8:bad::1"),), 1, udp_port=port)
    return WrapperFrame(1, 1, DEFAULT_OBJECTS.notification(item, 1).encode()).encode()


async def _service(config: HeadEndConfig | None = None, **kwargs: object) -> HeadEndService:
    head_end = HeadEnd(AddressBook(":memory:"), config=config or HeadEndConfig(), **kwargs)  # type: ignore[arg-type]
    service = HeadEndService(head_end)
    await service.start("::1", 0)
    return service


def _meter(serial: int, peer: Peer) -> FakeMeter:
    return FakeMeter(serial, "::1", udp_port=peer.port)


@needs_loopback
def test_forged_plain_updates_move_no_binding_and_store_no_invented_meter() -> None:
    """Default config: 20 genuine (ciphered) registrations, then a forger sends a plain update for
    every one of them (sequence 0xFFFFFFFF, its own address) and 2,000 invented meters."""

    async def main() -> None:
        service = await _service()
        head_end = service.head_end
        meter_sock, forger = Peer(), Peer()
        try:
            meters = [_meter(100 + i, meter_sock) for i in range(20)]
            for m in meters:
                meter_sock.send(m.ciphered_registration(), service.local_address)
            await _until(lambda: len(head_end.book) == 20)
            before = {m.title: head_end.book.lookup(m.title) for m in meters}
            sent = service.received
            for m in meters:
                forger.send(_update(m.title, "::1", 0xFFFFFFFF, port=forger.port), service.local_address)
            for i in range(2000):
                forger.send(_invented(i, forger.port), service.local_address)
                if i % 50 == 49:
                    await asyncio.sleep(0.002)  # let the service read (no socket overflow)
            await _settle(service, sent + 2020)
            moved = sum(1 for m in meters if head_end.book.lookup(m.title) != before[m.title])
            assert moved == 0
            assert len(head_end.book) == 20  # 0 invented meters stored
            assert forger.drain() == []  # nothing confirmed to the forger
            assert head_end.security_events >= 2020 and head_end.session_count == 20
        finally:
            meter_sock.close()
            forger.close()
            await service.close()

    asyncio.run(main())


@needs_loopback
def test_unseen_system_titles_create_no_session() -> None:
    """10,000 general-glo datagrams from random system titles (wrong tags): no session, no row;
    with a key store that does not know the titles, the same."""

    async def main() -> None:
        for keys in (None, MappingKeyStore({})):
            service = await _service(keys=keys)
            head_end = service.head_end
            attacker = Peer()
            try:
                for i in range(10_000):
                    title = os.urandom(8)
                    body = bytes((0x30,)) + i.to_bytes(4, "big") + os.urandom(40)
                    apdu = bytes((0xDB, 8)) + title + bytes((len(body),)) + body
                    attacker.send(WrapperFrame(1, 1, apdu).encode(), service.local_address)
                    if i % 50 == 49:
                        await asyncio.sleep(0.002)
                await _settle(service, 10_000)
                assert head_end.session_count == 0
                assert len(head_end.book) == 0 and head_end.security_events >= 9_000
                assert attacker.drain() == []
            finally:
                attacker.close()
                await service.close()

    asyncio.run(main())


@needs_loopback
def test_lab_option_plain_update_cannot_move_an_authenticated_binding() -> None:
    async def main() -> None:
        service = await _service(HeadEndConfig(accept_plain_registrations=True))
        head_end = service.head_end
        meter_sock, forger = Peer(), Peer()
        try:
            meter = _meter(7, meter_sock)
            meter_sock.send(meter.ciphered_registration(), service.local_address)
            await _until(lambda: head_end.book.lookup(meter.title) is not None)
            entry = head_end.book.lookup(meter.title)
            assert entry is not None and entry.authenticated
            sent = service.received
            for sequence in (2, 0x7FFFFFFF, 0xFFFFFFFF):
                forger.send(_update(meter.title, "::1", sequence, port=forger.port), service.local_address)
            await _settle(service, sent + 3)
            assert head_end.book.lookup(meter.title) == entry
            assert [e.result for e in list(head_end.registrations)[-3:]] == [UpsertResult.REFUSED] * 3
            # the genuine meter still moves it, with an authenticated update
            sent = service.received
            meter_sock.send(meter.migrate("2001:db8::77"), service.local_address)
            await _until(lambda: service.received > sent)
            entry = head_end.book.lookup(meter.title)
            assert entry is not None and entry.primary_address.compressed == "2001:db8::77"
            # invented titles are still refused when the key store does not know them
            lab = await _service(HeadEndConfig(accept_plain_registrations=True), keys=MappingKeyStore({}))
            try:
                forger.send(_invented(1, forger.port), lab.local_address)
                await _settle(lab, 1)
                assert len(lab.head_end.book) == 0 and lab.head_end.security_events == 1
            finally:
                await lab.close()
        finally:
            meter_sock.close()
            forger.close()
            await service.close()

    asyncio.run(main())


@needs_loopback
def test_sequence_0xffffffff_cannot_freeze_a_meter_out() -> None:
    """Lab option, a meter registered plain with sequence 1: a forged 0xFFFFFFFF update is stale
    (serial arithmetic: it is *behind* 1); a forged 0x7FFFFFFF one is applied (plain over plain is
    what the lab option allows), but the meter's next authenticated registration takes the binding
    back whatever its sequence number, and from then on plain updates are refused."""

    async def main() -> None:
        service = await _service(HeadEndConfig(accept_plain_registrations=True))
        head_end = service.head_end
        meter_sock, forger = Peer(), Peer()
        target = service.local_address

        async def send(peer: Peer, data: bytes) -> UpsertResult | None:
            count = len(head_end.registrations)
            peer.send(data, target)
            await _until(lambda: len(head_end.registrations) > count)
            return head_end.registrations[-1].result

        def port() -> int:
            entry = head_end.book.lookup(meter.title)
            assert entry is not None
            return entry.binding.udp_port

        try:
            meter = _meter(9, meter_sock)
            assert await send(meter_sock, meter.registration()) is UpsertResult.CREATED  # plain, 1
            forged = _update(meter.title, "::1", 0xFFFFFFFF, port=forger.port)
            assert await send(forger, forged) is UpsertResult.STALE and port() == meter_sock.port
            forged = _update(meter.title, "::1", 0x7FFFFFFF, port=forger.port)
            assert await send(forger, forged) is UpsertResult.CHANGED and port() == forger.port
            meter.sequence = 2  # far behind the forged value: authentication resynchronises
            assert await send(meter_sock, meter.ciphered_registration()) is UpsertResult.CHANGED
            assert port() == meter_sock.port
            forged = _update(meter.title, "::1", 0x7FFFFFFF + 9, port=forger.port)
            assert await send(forger, forged) is UpsertResult.REFUSED and port() == meter_sock.port
            for sequence in (0x80000001, 0xFFFFFFFE):  # the meter's own counter runs up and wraps
                meter.sequence = sequence
                assert await send(meter_sock, meter.ciphered_registration()) is UpsertResult.REFRESHED
            assert await send(meter_sock, meter.ciphered_registration()) is UpsertResult.REFRESHED
            entry = head_end.book.lookup(meter.title)
            assert entry is not None and entry.authenticated and entry.last_sequence == 0
        finally:
            meter_sock.close()
            forger.close()
            await service.close()

    asyncio.run(main())


def test_serial_number_arithmetic() -> None:
    assert serial_greater(0, 0xFFFFFFFF) and serial_greater(5, 0xFFFFFFFF)
    assert not serial_greater(0xFFFFFFFF, 0) and serial_greater(0xFFFFFFFF, 0x80000000)
    assert not serial_greater(0x80000000, 0) and not serial_greater(0, 0x80000000)  # undefined: no
    assert not serial_greater(7, 7) and serial_greater(8, 7) and not serial_greater(6, 7)
    book = AddressBook(":memory:")
    title = b"MMM\x00\x00\x00\x00\x09"
    item = AddressRegistrationData(title, (AddressEntry.of("2001:db8::1"),), 0xFFFFFFFF)
    assert book.upsert(item, NOW, authenticated=True) is UpsertResult.CREATED
    wrapped = AddressRegistrationData(title, (AddressEntry.of("2001:db8::2"),), 0)
    assert book.upsert(wrapped, NOW, authenticated=True) is UpsertResult.CHANGED  # the counter wrapped
    old = AddressRegistrationData(title, (AddressEntry.of("2001:db8::3"),), 0xFFFFFFFE)
    assert book.upsert(old, NOW, authenticated=True) is UpsertResult.STALE


def test_session_table_is_bounded_and_sessions_expire() -> None:
    """max_sessions 3 for 6 meters: every collect succeeds, at most 3 sessions, and an evicted
    association is resumed without a new AARQ; idle sessions expire."""
    meters = [FakeMeter(300 + i, f"2001:db8:0:{i:x}::1") for i in range(6)]
    config = HeadEndConfig(
        throttle=ThrottleConfig(max_in_flight=2), max_sessions=3, session_idle_timeout=60.0
    )
    he = HeadEnd(AddressBook(":memory:"), config=config)
    mesh = FakeMesh(he, meters)
    mesh.register_all(NOW)
    assert he.session_count <= 3
    for step in range(2):
        run = he.collect([ENERGY], NOW + step)
        mesh.run(NOW + step)
        assert len(run.results) == 6 and not run.failed
        assert he.session_count <= 3
    assert he.aarq_sent == 6 and he.sessions_evicted > 0
    assert [m.requests.count(0x60) for m in meters] == [1] * 6
    he.handle_timer(NOW + 3600)
    assert he.session_count == 0
    run = he.collect([ENERGY], NOW + 3601)
    mesh.run(NOW + 3601)
    assert len(run.results) == 6 and he.aarq_sent == 6


def test_unknown_title_with_valid_keys_elsewhere_gets_no_session() -> None:
    """A key store that knows one meter: a ciphered registration from another title is refused
    before any state, the known meter gets its session."""
    known = FakeMeter(11, "2001:db8::11")
    stranger = FakeMeter(12, "2001:db8::12")
    he = HeadEnd(AddressBook(":memory:"), keys=MappingKeyStore({known.title: KeySet(ek=TEST_EK, ak=TEST_AK)}))
    he.receive_datagram(stranger.address, HEAD_END_PORT, stranger.ciphered_registration(), NOW)
    assert he.session_count == 0 and len(he.book) == 0 and he.pop_outgoing() == []
    he.receive_datagram(known.address, HEAD_END_PORT, known.ciphered_registration(), NOW)
    assert he.session_count == 1 and len(he.book) == 1 and len(he.pop_outgoing()) == 1


def _listen(db: Path, *extra: str) -> tuple[list[dict[str, object]], list[bytes], str]:
    """Run ``cosemnet hes listen`` as a process; send it one plain registration; its JSON lines,
    what came back to the sender, and its stderr."""
    command = [sys.executable, "-m", "cosemnet.cli", "hes", "listen", "--db", str(db), "--bind", "::1"]
    process = subprocess.Popen(
        [*command, "--port", "0", "--duration", "2", "--json", "--test-keys", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    first = json.loads(process.stdout.readline())
    meter_sock = Peer()
    try:
        meter = _meter(21, meter_sock)
        meter_sock.send(meter.registration(), ("::1", int(first["port"])))
        out, err = process.communicate(timeout=30)
        time.sleep(0.05)
        return [first] + [json.loads(line) for line in out.splitlines()], meter_sock.drain(), err
    finally:
        meter_sock.close()


@needs_loopback
def test_cli_listen_refuses_plain_registrations_unless_the_lab_flag_is_given(tmp_path: Path) -> None:
    lines, answers, _ = _listen(tmp_path / "a.db")
    assert lines[0]["event"] == "listening" and len(lines) == 1 and answers == []
    with AddressBook(tmp_path / "a.db") as book:
        assert len(book) == 0
    lines, answers, err = _listen(tmp_path / "b.db", "--accept-plain-registrations")
    assert "lab use only" in err
    assert [line.get("result") for line in lines[1:]] == ["created"] and len(answers) == 1
    with AddressBook(tmp_path / "b.db") as book:
        assert len(book) == 1
