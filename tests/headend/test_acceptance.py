"""Issue 12 acceptance on a test fleet over loopback UDP, verified from the store: the head-end
disconnects 10 % of the meters (class 70 remote_disconnect; results in ``operation_results`` and the
control state read back), and receives the alarms the meters push (stored with meter and time in
``push_events``, then acknowledged: the meters' alarm registers cleared, docs/decisions/0127).

The other acceptance items live with their features: firmware on 100 meters at 5 % loss in
tests/headend/test_firmware_fleet.py (w/fw), 24 h of profile collected incrementally with gaps
repaired in the load-profile tests of w/lp (tests/headend/test_profiles*.py)."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import pytest

from cosemnet.codec.obis import Obis
from cosemnet.codec.types import Enumerated, Integer
from cosemnet.headend import AttributeRef, HeadEnd, HeadEndConfig, HeadEndService, HeadEndStore
from cosemnet.headend.alarms import AlarmAcknowledger, acknowledge_round
from cosemnet.headend.operations import Operation
from cosemnet.profiles.mesh import AddressBook, ThrottleConfig
from cosemnet.simulator.mesh_fleet import FleetConfig, MeshFleet


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


pytestmark = pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback")

METERS = 60
DISCONNECT = Obis("0-0:96.3.10*255")
OUTPUT_STATE = AttributeRef(70, DISCONNECT, 2)
CONTROL_STATE = AttributeRef(70, DISCONNECT, 3)
ALARM_REGISTER = AttributeRef(1, Obis("0-0:97.98.0*255"), 2)


def _head_end(db: Path) -> tuple[AddressBook, HeadEnd]:
    book = AddressBook(db, synchronous="NORMAL")
    # rto_min 0.05: on loopback a learned timeout of a few ms fires before a busy event loop answers
    throttle = ThrottleConfig(max_per_prefix=16, max_per_border_router=16, max_retries=12, rto_min=0.05)
    return book, HeadEnd(book, config=HeadEndConfig(throttle=throttle))


async def _disconnect_ten_percent(service: HeadEndService, fleet: MeshFleet, titles: list[bytes]) -> None:
    chosen = titles[:: len(titles) // (len(titles) // 10)][: len(titles) // 10]
    assert len(chosen) == METERS // 10
    run = await service.collect(
        [OUTPUT_STATE], system_titles=chosen, operation=Operation("action", 70, DISCONNECT, 1, Integer(0))
    )
    store = service.head_end.store
    rows = store.operation_results(run.run_id)
    assert {r.system_title for r in rows} == set(chosen)
    assert {(r.kind, r.target, r.result) for r in rows} == {("action", "70/0-0:96.3.10*255/1", "success")}
    # read back from every meter: the chosen ones disconnected (output false, control state 0), the rest
    # connected (output true, control state 1)
    back = await service.collect([OUTPUT_STATE, CONTROL_STATE], system_titles=titles)
    assert len(back.results) == METERS and not back.failed
    expected = {t: [t not in chosen, Enumerated(0 if t in chosen else 1)] for t in titles}
    assert {t: list(r.values) for t, r in back.results.items()} == expected
    # and the meters themselves agree
    for node in fleet.nodes:
        dc = node.meter.disconnect_control
        assert dc is not None and dc.output_state is (node.meter.system_title not in chosen)


async def _alarms(service: HeadEndService, fleet: MeshFleet, titles: list[bytes]) -> None:
    head_end = service.head_end
    acks = AlarmAcknowledger()
    head_end.on_push = acks.on_push
    raised = {i: 1 << (i % 8) for i in range(0, METERS, 7)}  # 9 meters, different bits
    before = time.time()
    for i, bits in raised.items():
        assert fleet.raise_alarm(i, bits)
    deadline = time.monotonic() + 30
    while len(head_end.store.events(since=before)) < len(raised) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    rows = head_end.store.events(since=before)
    assert sorted(r.system_title for r in rows) == sorted(titles[i] for i in raised)
    for r in rows:
        i = titles.index(r.system_title)
        assert r.kind == "data-notification" and r.meter_time is not None and before <= r.at <= time.time()
        assert r.value_text.endswith(f"({raised[i]}))"), r.value_text  # the register, last element
    # one meter raises another alarm after its push was stored: acknowledging must not clear it
    late = next(iter(raised))
    alarm = fleet.nodes[late].meter.alarm_register
    assert alarm is not None
    alarm.raise_bits(1 << 20)
    assert acks.pending == {titles[i]: bits for i, bits in raised.items()}
    runs = await acknowledge_round(service, acks)
    results = [r for run_id in runs for r in head_end.store.operation_results(run_id)]
    assert len(results) == len(raised) and {r.result for r in results} == {"success"}
    assert acks.pending == {} and acks.cleared == len(raised)
    back = await service.collect([ALARM_REGISTER], system_titles=titles)
    registers = {t: r.values[0] for t, r in back.results.items()}
    assert len(registers) == METERS
    assert registers == {t: (1 << 20 if t == titles[late] else 0) for t in titles}


def test_fleet_disconnect_ten_percent_and_alarms_stored_and_cleared(tmp_path: Path) -> None:
    async def main() -> None:
        book, head_end = _head_end(tmp_path / "hes.db")
        service = HeadEndService(head_end)
        await service.start("::1", 0)
        fleet = MeshFleet(FleetConfig(meters=METERS, head_end=service.local_address, gateway_port=None))
        await fleet.start()
        try:
            assert await fleet.wait_registered(60)
            titles = [n.meter.identity.system_title for n in fleet.nodes]
            await _disconnect_ten_percent(service, fleet, titles)
            await _alarms(service, fleet, titles)
        finally:
            await fleet.stop()
            await service.close()
            book.close()
        store = HeadEndStore(tmp_path / "hes.db")  # what a later `hes events` / report sees
        try:
            assert len(store.events()) == 9
        finally:
            store.close()

    asyncio.run(main())


def test_alarm_of_an_unreachable_meter_stays_pending_then_is_cleared(tmp_path: Path) -> None:
    async def main() -> None:
        book = AddressBook(tmp_path / "hes.db", synchronous="NORMAL")
        throttle = ThrottleConfig(max_retries=1, rto_min=0.05, rto_max=0.3, rto_initial=0.2)
        head_end = HeadEnd(book, config=HeadEndConfig(throttle=throttle))
        service = HeadEndService(head_end)
        await service.start("::1", 0)
        fleet = MeshFleet(FleetConfig(meters=3, head_end=service.local_address, gateway_port=None))
        await fleet.start()
        acks = AlarmAcknowledger()
        head_end.on_push = acks.on_push
        try:
            assert await fleet.wait_registered(30)
            title = fleet.nodes[1].meter.system_title
            assert fleet.raise_alarm(1, 0x10)
            deadline = time.monotonic() + 10
            while not acks.pending and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            assert acks.pending == {title: 0x10}
            fleet.leave(1)  # off the mesh: the clearing SET gets no answer
            (run_id,) = await acknowledge_round(service, acks)
            (row,) = head_end.store.operation_results(run_id)
            assert row.system_title == title and row.result == "no-answer"
            alarm = fleet.nodes[1].meter.alarm_register
            assert alarm is not None and alarm.value == 0x10  # not cleared, still pending
            assert acks.pending == {title: 0x10} and acks.cleared == 0
            fleet.join(1)
            (run_id,) = await acknowledge_round(service, acks)
            assert [r.result for r in head_end.store.operation_results(run_id)] == ["success"]
            assert alarm.value == 0 and acks.pending == {} and acks.cleared == 1
        finally:
            await fleet.stop()
            await service.close()
            book.close()

    asyncio.run(main())
