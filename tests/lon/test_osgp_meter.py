"""The simulated OSGP meter: C12.19 tables agree with the COSEM objects, classes 130-133 read the stack."""

from __future__ import annotations

import contextlib
import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cosemnet.client.connection import ClientConfig, Referencing
from cosemnet.codec.obis import Obis
from cosemnet.codec.types import DataValue, LongUnsigned
from cosemnet.codec.xdlms import ParameterizedAccess
from cosemnet.cosem.utility_tables import UtilityTables
from cosemnet.errors import DecodeError
from cosemnet.profiles.lon.node import LonNode
from cosemnet.profiles.lon.preestablished import PUBLIC
from cosemnet.profiles.lon.sap import NNAP_CLIENT
from cosemnet.profiles.lon.short_names import standard_table_base_name, table_logical_name, table_short_name
from cosemnet.profiles.lon.stack import LonStack
from cosemnet.security.hls import Mechanism
from cosemnet.simulator.osgp_meter import (
    NO_CAPTURE,
    OSGP_TABLES,
    OsgpMeter,
    bt00_tables_used,
    build_osgp_meter,
    build_osgp_segment,
    decode_bt21,
    decode_bt23,
    decode_bt28,
    decode_bt52,
    decode_bt61,
    decode_bt63,
    decode_bt64,
)

HOUR = dt.timedelta(hours=1)


def _get(meter: OsgpMeter, class_id: int, ln: str | Obis, attribute: int) -> DataValue:
    return meter.device.get(class_id, ln, attribute, meter.meter.context())


def _energy_values(meter: OsgpMeter) -> list[int]:
    return [int(_get(meter, 3, s.logical_name, 2)) for s in meter.summations]  # type: ignore[call-overload]


def test_tables_are_utility_tables_with_table_c3_base_names() -> None:
    meter = build_osgp_meter()
    assert set(meter.tables) == set(OSGP_TABLES)
    for table_id, obj in meter.tables.items():
        assert isinstance(obj, UtilityTables)
        assert obj.logical_name == table_logical_name(table_id)
        assert obj.base_name == standard_table_base_name(table_id)
        assert _get(meter, 26, obj.logical_name, 2) == LongUnsigned(table_id)
        buffer = _get(meter, 26, obj.logical_name, 4)
        assert isinstance(buffer, bytes) and buffer == meter.table(table_id)
        assert int(_get(meter, 26, obj.logical_name, 3)) == len(buffer)  # type: ignore[call-overload]
    assert bt00_tables_used(meter.table(0)) == frozenset(OSGP_TABLES)
    assert meter.table(1)[:4] == b"CSMN" and meter.table(1)[16:] == b"0000000012345678"
    assert meter.table(5) == b"MMM0000012345678    "


@pytest.mark.parametrize("hours", [0, 5, 13, 30])
def test_bt23_and_bt28_equal_the_cosem_registers(hours: int) -> None:
    meter = build_osgp_meter(seed=3, history=dt.timedelta(hours=hours))
    actual = decode_bt21(meter.table(21))
    assert (actual.nbr_summations, actual.nbr_demands, actual.nbr_present_values) == (6, 1, 10)
    selection = meter.table(22)
    assert list(selection[:6]) == [s.source_id for s in meter.summations]
    data = decode_bt23(meter.table(23), actual)
    assert list(data.summations) == _energy_values(meter)
    assert data.summations[0] == data.summations[1] + data.summations[2]  # T1 + T2 = total import
    assert data.demands == ((int(_get(meter, 5, "1-0:1.4.0*255", 2)),),)  # type: ignore[call-overload]
    present = decode_bt28(meter.table(28), actual)
    expected = [int(_get(meter, 3, s.logical_name, 2)) for s in meter.present_values]  # type: ignore[call-overload]
    assert list(present) == expected
    assert list(meter.table(27)) == [s.source_id for s in meter.present_values]


def test_bt23_moves_with_simulated_time() -> None:
    meter = build_osgp_meter(seed=1)
    actual = decode_bt21(meter.table(21))
    before = decode_bt23(meter.table(23), actual).summations[0]
    later = meter.meter.now + 6 * HOUR
    after = decode_bt23(meter.table(23, later), actual).summations[0]
    assert after > before
    assert after == _energy_values(meter)[0]


@pytest.mark.parametrize(
    ("start", "dst"),
    [
        (dt.datetime(2024, 1, 10, 12, 34, 56, tzinfo=dt.UTC), False),
        (dt.datetime(2024, 7, 3, 8, 0, tzinfo=dt.UTC), True),
    ],
)
def test_bt52_is_the_clock(start: dt.datetime, dst: bool) -> None:
    meter = build_osgp_meter(start=start)
    clock = decode_bt52(meter.table(52))
    offset = dt.timedelta(hours=2 if dst else 1)  # CET / CEST
    assert clock.local_time == (start + offset).replace(tzinfo=None)
    assert clock.dst is dst and not clock.gmt
    assert clock.day_of_week == (start + offset).isoweekday() % 7


def test_load_profile_tables_follow_the_cosem_load_profile() -> None:
    meter = build_osgp_meter(seed=2, history=dt.timedelta(hours=30))
    actual = decode_bt61(meter.table(61))
    assert (actual.nbr_blks, actual.nbr_blk_ints, actual.nbr_chns, actual.max_int_time) == (2, 96, 4, 15)
    assert actual.lp_memory_len == len(meter.table(64))
    control = meter.table(62)
    assert control[-1] == 4 and len(control) == 3 * 4 + 1
    status = decode_bt63(meter.table(63))
    assert status.nbr_valid_blocks == 2 and status.flags & 0x02  # 30 h of history span 3 local days
    blocks = decode_bt64(meter.table(64), actual, status)
    buffer = _get(meter, 7, "1-0:99.1.0*255", 2)
    assert isinstance(buffer, list)
    last = buffer[-1]
    assert isinstance(last, tuple)
    newest = blocks[-1].intervals
    assert status.nbr_valid_int > 0
    assert list(newest[status.nbr_valid_int - 1]) == [int(v) for v in last[1:]]  # type: ignore[call-overload]
    assert all(row == (NO_CAPTURE,) * 4 for row in newest[status.nbr_valid_int :])
    captured = sum(1 for block in blocks for row in block.intervals if row[0] != NO_CAPTURE)
    assert captured <= len(buffer)
    assert blocks[0].end_time < blocks[1].end_time


def test_iso14908_objects_read_the_stack_live() -> None:
    node = LonNode.configured_in(bytes.fromhex("050000000777"), b"\x42", 3, 17, program_id=bytes(range(8)))
    stack = LonStack(node)
    meter = build_osgp_meter(stack)
    assert _get(meter, 130, "0-0:32.0.0*255", 2) == 17
    assert _get(meter, 130, "0-0:32.0.0*255", 3) == 3
    assert _get(meter, 130, "0-0:32.0.0*255", 4) == b"\x42"
    assert _get(meter, 130, "0-0:32.0.0*255", 5) == bytes(range(8))
    assert _get(meter, 130, "0-0:32.0.0*255", 6) == bytes.fromhex("050000000777")
    assert _get(meter, 132, "0-0:32.2.0*255", 2) == 0
    assert _get(meter, 133, "0-0:32.3.0*255", 2) == 0  # not available: nothing heard yet
    stack.receive_frame(b"\x00\x01\x02", 1.0)  # bad CRC
    assert _get(meter, 132, "0-0:32.2.0*255", 2) == 1
    assert _get(meter, 133, "0-0:32.3.0*255", 2) == 3  # poor: every frame heard was bad
    assert _get(meter, 133, "0-0:32.3.0*255", 3) == 3  # configured-online
    assert _get(meter, 133, "0-0:32.3.0*255", 4) == 4


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64))
def test_decoders_raise_only_decode_error(data: bytes) -> None:
    actual = decode_bt21(bytes((0, 0, 0, 6, 1, 0, 1, 0, 0, 10)))
    lp = decode_bt61(bytes.fromhex("0a0c0000000004020060000400"[:26]))
    status = decode_bt63(bytes.fromhex("26020001000b4d000002000400"))
    decoders = [
        decode_bt21,
        decode_bt52,
        decode_bt61,
        decode_bt63,
        bt00_tables_used,
        lambda b: decode_bt23(b, actual),
        lambda b: decode_bt28(b, actual),
        lambda b: decode_bt64(b, lp, status),
    ]
    for decoder in decoders:
        with contextlib.suppress(DecodeError):
            decoder(data)


def test_bt52_refuses_an_impossible_date() -> None:
    with pytest.raises(DecodeError):
        decode_bt52(bytes((24, 2, 30, 0, 0, 0, 0)))


def test_concentrator_reads_bt23_by_short_name_and_registers_by_logical_name() -> None:
    segment = build_osgp_segment(2, seed=5, history=3 * HOUR)
    for m in segment.meters:
        m.meter.meter.power_down(m.meter.meter.now)  # freeze the energy: LN and SN reads at any time agree
    links = []
    for m in segment.meters:
        ln = segment.concentrator.add_meter(m.address, pre_established=PUBLIC)
        ln.submit(*(lambda c, s=s: c.get(3, s.logical_name, 2) for s in m.meter.summations))
        sn_config = ClientConfig(
            client_sap=NNAP_CLIENT, referencing=Referencing.SN, mechanism=Mechanism.LLS, password=b"12345678"
        )
        sn = segment.concentrator.add_meter(m.address, sn_config)
        bt23 = table_short_name(23, 4)
        first = m.meter.summations[0]
        register = m.meter.device.find(3, first.logical_name)
        assert register is not None and register.base_name is not None
        partial = ParameterizedAccess(table_short_name(64, 4), 1, (LongUnsigned(0), LongUnsigned(5)))
        sn.submit(
            lambda c: c.associate(),
            lambda c, b=bt23, r=register.base_name + 8: c.read([b, r, table_short_name(21, 4)]),
            lambda c, p=partial: c.read([p]),
            lambda c: c.release(),
        )
        links.append((m, ln, sn))
    segment.run(limit=600)
    for m, ln, sn in links:
        assert all(not isinstance(r, Exception) for r in ln.results + sn.results), (ln.results, sn.results)
        ln_values = [int(v) for v in ln.results]  # type: ignore[call-overload]
        bt23_raw, register_value, bt21_raw = sn.results[1]  # type: ignore[misc]
        data = decode_bt23(bt23_raw, decode_bt21(bt21_raw))
        assert list(data.summations) == ln_values
        assert data.summations[0] == int(register_value)
        [partial_read] = sn.results[2]  # type: ignore[misc]
        assert partial_read == m.meter.table(64)[:5]
        assert sn.results[3] is None
