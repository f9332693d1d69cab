"""Issue 12 item 1 over loopback against the fleet, each operation read back: disconnect and reconnect
(class 70) then the control state; clock set (attribute 2) and shift_time / adjust_to_minute (class 8
methods 6 and 3) then the clock; the disconnector's single action schedule (class 22) execution_time
SET, then the meter disconnecting at that time."""

from __future__ import annotations

import asyncio
import datetime as _dt
import time
from pathlib import Path

from cosemnet.codec.datetime import CosemDate, CosemDateTime, CosemTime
from cosemnet.codec.obis import Obis
from cosemnet.codec.types import DataValue, Enumerated, Integer, Long
from cosemnet.headend import AttributeRef, HeadEndService
from cosemnet.headend.operations import Operation
from cosemnet.simulator.mesh_fleet import FleetConfig, MeshFleet

from .test_acceptance import _head_end, pytestmark  # noqa: F401 (skips without IPv6 loopback)

DISCONNECT = Obis("0-0:96.3.10*255")
CLOCK = Obis("0-0:1.0.0*255")
SCHEDULE = Obis("0-0:15.0.1*255")


async def _operate(service: HeadEndService, titles: list[bytes], operation: Operation) -> None:
    ref = AttributeRef(operation.class_id, operation.logical_name, operation.index)
    run = await service.collect([ref], system_titles=titles, operation=operation)
    rows = service.head_end.store.operation_results(run.run_id)
    assert sorted(r.system_title for r in rows) == sorted(titles)
    assert {r.result for r in rows} == {"success"}, [(r.result, r.detail) for r in rows]


async def _read(service: HeadEndService, titles: list[bytes], ref: AttributeRef) -> dict[bytes, DataValue]:
    run = await service.collect([ref], system_titles=titles)
    assert not run.failed
    return {t: r.values[0] for t, r in run.results.items()}


def _clock(value: DataValue) -> _dt.datetime:
    assert isinstance(value, bytes)
    return CosemDateTime.from_bytes(value).to_datetime()


async def _disconnect_reconnect(service: HeadEndService, titles: list[bytes]) -> None:
    state = AttributeRef(70, DISCONNECT, 3)
    await _operate(service, titles[:2], Operation("action", 70, DISCONNECT, 1, Integer(0)))
    assert await _read(service, titles, state) == {t: Enumerated(0 if t in titles[:2] else 1) for t in titles}
    await _operate(service, titles[:1], Operation("action", 70, DISCONNECT, 2, Integer(0)))
    assert await _read(service, titles, state) == {t: Enumerated(0 if t == titles[1] else 1) for t in titles}


async def _clock_set_and_shift(service: HeadEndService, titles: list[bytes]) -> None:
    ref = AttributeRef(8, CLOCK, 2)
    target = _dt.datetime.now(_dt.UTC).replace(microsecond=0) + _dt.timedelta(days=3, seconds=17)
    value = CosemDateTime.from_datetime(target.astimezone(_dt.timezone(_dt.timedelta(hours=1)))).to_bytes()
    await _operate(service, titles, Operation("set", 8, CLOCK, 2, value))
    for read in (await _read(service, titles, ref)).values():
        assert _dt.timedelta(0) <= _clock(read) - target < _dt.timedelta(seconds=10)
    await _operate(service, titles[:1], Operation("action", 8, CLOCK, 6, Long(-600)))  # shift_time
    shifted = await _read(service, titles, ref)
    behind = _clock(shifted[titles[1]]) - _clock(shifted[titles[0]])
    assert _dt.timedelta(seconds=590) < behind < _dt.timedelta(seconds=610)
    await _operate(service, titles[1:2], Operation("action", 8, CLOCK, 3, Integer(0)))  # adjust_to_minute
    minute = _clock((await _read(service, titles[1:2], ref))[titles[1]])
    assert minute.second < 10  # rounded to the minute, then a few seconds of the read went by


async def _schedule(service: HeadEndService, fleet: MeshFleet, titles: list[bytes]) -> None:
    """SET the disconnector schedule of one meter 2 s ahead of its clock; it disconnects then."""
    title = titles[3]
    mine = [title]
    clock = _clock((await _read(service, mine, AttributeRef(8, CLOCK, 2)))[title])
    local = (clock + _dt.timedelta(seconds=2)).astimezone(_dt.timezone(_dt.timedelta(hours=1)))
    when = [
        (
            CosemTime(local.hour, local.minute, local.second, 0).to_bytes(),
            CosemDate(local.year, local.month, local.day, 0xFF).to_bytes(),
        )
    ]
    await _operate(service, mine, Operation("set", 22, SCHEDULE, 4, when))
    assert (await _read(service, mine, AttributeRef(22, SCHEDULE, 4)))[title] == when
    node = fleet.nodes[3]
    dc = node.meter.disconnect_control
    assert dc is not None and dc.output_state
    deadline = time.monotonic() + 10
    state = AttributeRef(70, DISCONNECT, 2)
    while (await _read(service, mine, state))[title] is True and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
    assert (await _read(service, mine, state))[title] is False and not dc.output_state


def test_disconnect_clock_and_schedule_operations_read_back(tmp_path: Path) -> None:
    async def main() -> None:
        book, head_end = _head_end(tmp_path / "hes.db")
        service = HeadEndService(head_end)
        await service.start("::1", 0)
        fleet = MeshFleet(FleetConfig(meters=4, head_end=service.local_address, gateway_port=None))
        await fleet.start()
        try:
            assert await fleet.wait_registered(30)
            titles = [n.meter.identity.system_title for n in fleet.nodes]
            await _disconnect_reconnect(service, titles)
            await _clock_set_and_shift(service, titles)
            await _schedule(service, fleet, titles)
        finally:
            await fleet.stop()
            await service.close()
            book.close()

    asyncio.run(main())
