"""Load profiles collected incrementally, gaps repaired (issue 12 item 4): the fleet simulator over
loopback UDP, meters with 15-minute profiles and 24 h of history; simulated time moved by the test."""

from __future__ import annotations

import asyncio
import itertools
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from cosemnet.codec.axdr import decode_data
from cosemnet.codec.obis import Obis
from cosemnet.codec.types import DataValue
from cosemnet.codec.xdlms.selective_access import RangeDescriptor
from cosemnet.cosem.profile_generic import ProfileGeneric
from cosemnet.cosem.register import Register
from cosemnet.cosem.selective import comparison_key
from cosemnet.headend import HeadEnd, HeadEndConfig, HeadEndService
from cosemnet.headend.profiles import (
    GAP_CONFIRMED,
    GAP_REPAIRED,
    ProfileConfig,
    ProfileReport,
    collect_profile,
)
from cosemnet.profiles.mesh import AddressBook, ThrottleConfig
from cosemnet.simulator.mesh_fleet import FleetConfig, MeshFleet

LP = "1-0:99.1.0*255"
PERIOD = 900
DAY = 86400.0
METERS = 4
EPOCH = 62135596800.0  # comparison_key of 1970-01-01T00:00Z (seconds since 0001-01-01)


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


pytestmark = pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback")


class Clock:
    """Wall time moved by ``offset``: the meters and the head-end share it, so a jump of the offset
    is simulated time passing for both (chosen so that no capture boundary is near a read)."""

    def __init__(self) -> None:
        base = time.time()
        start = (base // PERIOD) * PERIOD - DAY - PERIOD + PERIOD / 2  # half-way between two captures
        self.offset = start - base

    def __call__(self) -> float:
        return time.time() + self.offset


def _compress(profile: ProfileGeneric, sent: list[int]) -> None:
    """The meter answers range reads in the Blue Book's compressed form: a row one capture period
    after the previous one carries null-data instead of its date-time (``sent``: rows sent so)."""
    select = profile.select_range

    def compressed(descriptor: RangeDescriptor) -> list[DataValue]:
        rows = select(descriptor)
        out: list[DataValue] = []
        previous: float | None = None
        for row in rows:
            assert isinstance(row, tuple)
            at = comparison_key(row[0])
            if previous is not None and at - previous == PERIOD:
                row = (None, *row[1:])
                sent.append(1)
            out.append(row)
            previous = at
        return out

    profile.select_range = compressed  # type: ignore[method-assign]


def _drop_first_answer(fleet: MeshFleet, index: int) -> list[object]:
    """Meter ``index`` loses the next datagram it sends (returned in the list once it happened)."""
    send = fleet._send
    dropped: list[object] = []

    def dropping(sender: int, item: Any) -> None:
        if sender == index and not dropped:
            dropped.append(item)
            return
        send(sender, item)

    fleet._send = dropping  # type: ignore[method-assign]
    return dropped


def _values(he: HeadEnd, title: bytes, channel: str) -> dict[float, float | None]:
    return {r.capture_time: r.value for r in he.store.profile_rows(LP, title) if r.channel == channel}


def test_24h_collected_incrementally_gaps_repaired_compressed_clock_scaled(tmp_path: Path) -> None:
    clock = Clock()
    compressed_rows: list[int] = []

    async def main() -> list[ProfileReport]:
        book = AddressBook(tmp_path / "hes.db", synchronous="NORMAL")
        throttle = ThrottleConfig(max_per_prefix=16, max_retries=10, rto_min=0.05)
        head_end = HeadEnd(book, config=HeadEndConfig(throttle=throttle))
        service = HeadEndService(head_end, clock=clock)
        await service.start("::1", 0)
        fleet = MeshFleet(
            FleetConfig(meters=METERS, head_end=service.local_address, gateway_port=None), clock=clock
        )
        await fleet.start()
        reports: list[ProfileReport] = []
        try:
            for node in fleet.nodes:
                lp = node.meter.load_profile
                assert lp is not None and lp.capture_period == PERIOD
                lp.profile_entries = 96  # 24 h of quarter hours (the fleet template allows 96)
            device = fleet.nodes[0].meter.device
            energy, reactive = device.find(3, "1-0:1.8.0*255"), device.find(3, "1-0:3.8.0*255")
            assert isinstance(energy, Register) and isinstance(reactive, Register)
            energy.scaler, reactive.scaler = 1, -2  # meter 0 sends 1.8.0 in daWh, 3.8.0 in cvarh
            compressed_lp = fleet.nodes[1].meter.load_profile
            assert compressed_lp is not None
            _compress(compressed_lp, compressed_rows)
            assert await fleet.wait_registered(30)
            config = ProfileConfig(backfill=DAY + 3600)
            clock.offset += DAY  # the meters live 24 h (96 captures), caught up at the first request
            reports.append(await collect_profile(service, LP, config=config))
            clock.offset += 3600  # one hour later: 4 new captures per meter
            marks.append(len(compressed_rows))
            dropped = _drop_first_answer(fleet, 2)  # meter 2's GET response lost: asked again
            reports.append(await collect_profile(service, LP, config=config))
            assert dropped and head_end.throttle.timeouts > 0
            titles = [n.meter.identity.system_title for n in fleet.nodes]
            times = head_end.store.capture_times(LP, titles[2])
            # rows lost in our store (a crash, an operator): 3 rows of meter 2, 1 row of meter 3
            head_end.store.delete_profile_rows(LP, titles[2], times[10], times[12])
            head_end.store.delete_profile_rows(LP, titles[3], times[50], times[50])
            # rows the meter really lacks (it was off): gone from the meter and from our store
            buffer = fleet.nodes[0].meter.load_profile.buffer  # type: ignore[union-attr]
            lacking = [comparison_key(row[0]) - EPOCH for row in buffer[20:22]]
            del buffer[20:22]
            head_end.store.delete_profile_rows(LP, titles[0], lacking[0], lacking[1])
            reports.append(await collect_profile(service, LP, config=config))
            # nothing new, nothing to repair
            reports.append(await collect_profile(service, LP, config=config))
            _check_store(head_end, titles, lacking)
        finally:
            await fleet.stop()
            await service.close()
            book.close()
        return reports

    marks: list[int] = []
    first, second, third, fourth = asyncio.run(main())
    assert marks == [95]  # all but the first row of the answer went compressed
    assert len(compressed_rows) == 95 + 3
    # first run: 96 rows per meter (4 channels each), metadata read once per meter
    assert first.rows_received == 96 * METERS and first.values_stored == 96 * METERS * 4
    assert not first.failed and first.reads == METERS
    # second run: only the 4 new rows per meter went over the air
    assert second.rows_received == 4 * METERS and second.values_stored == 4 * METERS * 4
    assert second.buffer_bytes < first.buffer_bytes / 10
    # third run: the 3 gaps read again; the meter's own gap answered without rows: confirmed
    assert third.values_stored == (3 + 1) * 4 and third.gaps_repaired == 2 and third.gaps_confirmed == 1
    assert third.rows_received == 4  # the incremental reads found nothing new
    # fourth run: the confirmed gap is not asked again, nothing else missing
    assert fourth.reads == METERS and fourth.rows_received == 0 and fourth.values_stored == 0


def _check_store(he: HeadEnd, titles: list[bytes], lacking: list[float]) -> None:
    store = he.store
    for i, title in enumerate(titles):
        times = store.capture_times(LP, title)
        expected = 100 - (2 if i == 0 else 0)
        assert len(times) == expected, (i, len(times))
        assert all(t % PERIOD == 0 for t in times)  # on the quarter hours (compressed rows too)
        for t in lacking if i == 0 else ():
            assert t not in times
        rows = store.profile_rows(LP, title)
        assert len(rows) == expected * 4 and {r.channel for r in rows} == {
            "1-0:1.8.0*255:2",
            "1-0:2.8.0*255:2",
            "1-0:3.8.0*255:2",
            "1-0:4.8.0*255:2",
        }
    # the compressed-clock meter: every row dated, one period apart
    times = store.capture_times(LP, titles[1])
    assert [b - a for a, b in itertools.pairwise(times)] == [PERIOD] * 99
    # scaler and unit applied per channel (meter 0: 1.8.0 scaler 1, 3.8.0 scaler -2)
    channels = {c.name: c for c in store.profile_channels(LP, titles[0])}
    assert channels["1-0:1.8.0*255:2"].scaler == 1 and channels["1-0:3.8.0*255:2"].scaler == -2
    assert channels["1-0:1.8.0*255:2"].unit == 30 and channels["1-0:3.8.0*255:2"].unit == 32
    for row in store.profile_rows(LP, titles[0]):
        raw = decode_data(row.raw or b"")[0]
        assert isinstance(raw, int)
        scaler = {"1-0:1.8.0*255:2": 1, "1-0:3.8.0*255:2": -2}.get(row.channel, 0)
        assert row.value == pytest.approx(raw * 10.0**scaler)
    energy = _values(he, titles[0], "1-0:1.8.0*255:2")
    assert sorted(energy.values()) == [energy[t] for t in sorted(energy)]  # an energy index grows
    assert any(v for v in energy.values())
    gaps = store.gaps(LP)
    assert {g.status for g in gaps if g.system_title == titles[0]} == {GAP_CONFIRMED}
    assert {g.status for g in gaps if g.system_title != titles[0]} == {GAP_REPAIRED}
    # the buffers are not kept twice: the readings of the profile runs hold no value
    assert all(r.value is None for r in store.readings() if r.class_id == 7 and r.attribute_id == 2)
    assert Obis(LP)
