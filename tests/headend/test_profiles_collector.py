"""The profile collector without a network (sans-IO): what it asks for, what it stores from an answer,
how gaps are recorded and settled, and what a malformed or hostile answer does (issue 12 item 4)."""

from __future__ import annotations

import asyncio
import datetime as _dt

import pytest

from cosemnet.client.errors import ProtocolError
from cosemnet.codec.datetime import CosemDateTime
from cosemnet.codec.obis import Obis
from cosemnet.codec.types import DataValue, DoubleLongUnsigned, Enumerated, Integer
from cosemnet.codec.xdlms.selective_access import CaptureObjectDefinition, RangeDescriptor
from cosemnet.cosem.selective import comparison_key
from cosemnet.headend import HeadEnd, HeadEndService, HeadEndStore
from cosemnet.headend.profiles import (
    GAP_CONFIRMED,
    GAP_GIVEN_UP,
    GAP_OPEN,
    GAP_REPAIRED,
    ProfileCollector,
    ProfileConfig,
    ProfileReport,
    RangeRead,
    collect_profile,
    find_gaps,
)
from cosemnet.profiles.mesh import AddressBook

LP = "1-0:99.1.0*255"
TITLE = bytes.fromhex("4D4D4D0000000001")
T0 = 1_765_152_000.0  # 2025-12-08T00:00Z
EPOCH = 62135596800.0  # comparison_key of 1970-01-01T00:00Z


def _clock(at: float) -> bytes:
    return CosemDateTime.from_datetime(_dt.datetime.fromtimestamp(at, _dt.UTC)).to_bytes()


def _collector(store: HeadEndStore, **config: float) -> ProfileCollector:
    collector = ProfileCollector(store, LP, ProfileConfig(**config))  # type: ignore[arg-type]
    objects = [
        CaptureObjectDefinition(8, Obis("0-0:1.0.0*255"), 2).to_data(),
        CaptureObjectDefinition(3, Obis("1-0:1.8.0*255"), 2).to_data(),
        CaptureObjectDefinition(1, Obis("0-0:96.10.1*255"), 2).to_data(),
    ]
    assert [str(a) for a in collector.scaler_attributes(objects)] == ["3/1-0:1.8.0*255/3"]
    collector.absorb_channels(TITLE, objects, DoubleLongUnsigned(900), [(Integer(-1), Enumerated(30))], T0)
    return collector


def _buffer(times: list[float], *, compress: bool = False) -> list[DataValue]:
    rows: list[DataValue] = []
    for i, at in enumerate(times):
        clock = None if compress and i and at - times[i - 1] == 900 else _clock(at)
        rows.append((clock, DoubleLongUnsigned(1000 + int(at - T0) // 900), b"\x00"))
    return rows


def test_first_read_backfills_then_reads_only_after_the_last_stored_row() -> None:
    store = HeadEndStore()
    collector = _collector(store, backfill=3600.0, lookahead=60.0)
    plan = collector.plan([TITLE, bytes(8)], T0 + 3600)  # a meter without channels is not read
    assert list(plan) == [TITLE]
    (read,) = plan[TITLE]
    assert (read.first, read.last, read.gap) == (T0, T0 + 3660, None)
    attribute = collector.attribute(read)
    assert (attribute.class_id, str(attribute.logical_name), attribute.attribute_id) == (7, LP, 2)
    assert attribute.selection is not None and attribute.selection.access_selector == 1
    descriptor = RangeDescriptor.from_data(attribute.selection.access_parameters)
    assert descriptor.restricting_object == CaptureObjectDefinition(8, Obis("0-0:1.0.0*255"), 2)
    assert comparison_key(descriptor.from_value) - EPOCH == T0
    report = ProfileReport(LP)
    collector.absorb(read, _buffer([T0 + 900 * i for i in range(1, 5)]), 1, T0 + 3600, report)
    assert report.rows_received == 4 and report.values_stored == 8
    (read,) = collector.plan([TITLE], T0 + 7200)[TITLE]
    assert read.first == T0 + 3601  # the last stored capture, exclusive
    # scaler and unit applied to the register channel, the status channel stored as it came
    rows = store.profile_rows(LP, TITLE)
    energy = [r for r in rows if r.channel == "1-0:1.8.0*255:2"]
    assert [r.value for r in energy] == [pytest.approx(100.1 + i * 0.1) for i in range(4)]
    assert {r.unit for r in energy} == {30}
    status = [r for r in rows if r.channel == "0-0:96.10.1*255:2"]
    assert {r.value for r in status} == {None} and {r.raw for r in status} == {b"\x09\x01\x00"}
    # the same rows read again are stored once
    again = ProfileReport(LP)
    collector.absorb(read, _buffer([T0 + 900 * i for i in range(1, 5)]), 2, T0 + 3600, again)
    assert again.values_stored == 0 and again.out_of_range == 4  # and they were not asked for


def test_compressed_clock_rows_dated_from_the_previous_row_and_the_capture_period() -> None:
    store = HeadEndStore()
    collector = _collector(store)
    times = [T0 + 900 * i for i in range(8)] + [T0 + 900 * 10, T0 + 900 * 11]  # a hole, then a full date
    report = ProfileReport(LP)
    read = RangeRead(TITLE, T0 - 1, T0 + 86400)
    collector.absorb(read, _buffer(times, compress=True), 1, T0, report)
    assert store.capture_times(LP, TITLE) == times and report.undated_rows == 0
    # a first row without a date cannot be placed: skipped, counted
    lost = ProfileReport(LP)
    collector.absorb(read, [(None, DoubleLongUnsigned(1), b"")], 1, T0, lost)
    assert lost.undated_rows == 1 and lost.values_stored == 0


def test_gaps_recorded_repaired_confirmed_and_given_up() -> None:
    store = HeadEndStore()
    collector = _collector(store, max_repair_attempts=2)
    times = [T0 + 900 * i for i in range(20) if i not in (3, 4, 10, 15)]
    report = ProfileReport(LP)
    collector.absorb(RangeRead(TITLE, T0, T0 + 86400), _buffer(times), 1, T0, report)
    assert find_gaps(store.capture_times(LP, TITLE), 900) == [
        (T0 + 2700, T0 + 3600),
        (T0 + 9000, T0 + 9000),
        (T0 + 13500, T0 + 13500),
    ]
    now = T0 + 20 * 900
    reads = collector.plan([TITLE], now, incremental=False)[TITLE]
    assert [(r.first, r.last) for r in reads] == [
        (T0 + 2700, T0 + 3600),
        (T0 + 9000, T0 + 9000),
        (T0 + 13500,) * 2,
    ]
    assert {g.status for g in store.gaps(LP)} == {GAP_OPEN}
    first, second, third = reads
    # the meter has only one of the two missing rows of the first gap: the other one is confirmed
    collector.absorb(first, _buffer([T0 + 2700]), 2, now, report)
    # the second gap's rows come back
    collector.absorb(second, _buffer([T0 + 9000]), 2, now, report)
    # the third gets no answer twice: given up
    collector.unanswered(third, "no answer after 9 attempts", now, report)
    (third,) = [r for r in collector.plan([TITLE], now, incremental=False)[TITLE]]
    assert third.gap is not None and third.gap.attempts == 1
    collector.unanswered(third, "no answer after 9 attempts", now, report)
    status = {(g.first, g.last): g.status for g in store.gaps(LP)}
    assert status == {
        (T0 + 2700, T0 + 3600): GAP_REPAIRED,  # replaced by what is still missing in it:
        (T0 + 3600, T0 + 3600): GAP_CONFIRMED,
        (T0 + 9000, T0 + 9000): GAP_REPAIRED,
        (T0 + 13500, T0 + 13500): GAP_GIVEN_UP,
    }
    assert (report.gaps_repaired, report.gaps_confirmed, report.gaps_given_up) == (1, 1, 1)
    assert collector.plan([TITLE], now, incremental=False) == {}  # nothing asked again


@pytest.mark.parametrize(
    "buffer",
    [
        b"not an array",
        [b"not a structure"],
        [(b"\x01", DoubleLongUnsigned(1), b"")],  # a clock cell that is no date-time
        [(_clock(T0 + 900), [1, 2, 3], None)],  # cells of any type
    ],
)
def test_malformed_answers_store_nothing_they_cannot_place(buffer: DataValue) -> None:
    store = HeadEndStore()
    collector = _collector(store)
    report = ProfileReport(LP)
    read = RangeRead(TITLE, T0, T0 + 86400)
    try:
        collector.absorb(read, buffer, 1, T0, report)
    except ProtocolError:
        assert not isinstance(buffer, list) or not isinstance(buffer[0], tuple)
        return
    rows = store.profile_rows(LP)
    assert all(r.capture_time == T0 + 900 and r.value is None for r in rows)


def test_bad_descriptions_refused() -> None:
    collector = ProfileCollector(HeadEndStore(), LP)
    with pytest.raises(ProtocolError):
        collector.absorb_channels(TITLE, [b"x"], DoubleLongUnsigned(900), [], T0)
    with pytest.raises(ProtocolError):
        collector.absorb_channels(TITLE, [], b"900", [], T0)
    without_clock = [CaptureObjectDefinition(3, Obis("1-0:1.8.0*255"), 2).to_data()]
    collector.absorb_channels(TITLE, without_clock, DoubleLongUnsigned(900), [None], T0)
    with pytest.raises(ProtocolError, match="no clock column"):
        collector.attribute(RangeRead(TITLE, T0, T0 + 1))


def test_collect_stopped_before_it_starts_sends_nothing() -> None:
    async def main() -> ProfileReport:
        service = HeadEndService(HeadEnd(AddressBook(":memory:")))
        stop = asyncio.Event()
        stop.set()
        report = await collect_profile(service, LP, stop=stop)
        assert service.head_end.pop_outgoing() == []
        await service.close()
        return report

    report = asyncio.run(main())
    assert report.stopped == "stopped" and report.reads == 0
