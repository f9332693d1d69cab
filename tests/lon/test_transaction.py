"""ISO/IEC 14908-1 transaction bookkeeping: timer tables, transaction numbers, receive records."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cosemnet.profiles.lon.transaction import (
    LONG_TX_TIMER_MS,
    RECEIVE_TIMER_MS,
    REPEAT_TIMER_MS,
    TX_TIMER_MS,
    ReceiveRecord,
    ReceiveRecordTable,
    Service,
    TransactionIdAllocator,
    receive_timer_seconds,
    tx_timer_seconds,
)

# Published tables (lon-stack-dx lcs_eeprom.c rptTimerCodeLGbl / rcvTimerCodeLGbl, spec notes timer table).
PUBLISHED_TX = [16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048, 3072]
PUBLISHED_RCV = [128, 192, 256, 384, 512, 768, 1024, 1536, 2048, 3072, 4096, 6144, 8192, 12288, 16384, 24576]
PUBLISHED_LONG = [4096, 6144, 8192, 12288, 16384]


def test_timer_tables_match_the_published_values() -> None:
    assert list(TX_TIMER_MS) == PUBLISHED_TX
    assert list(REPEAT_TIMER_MS) == PUBLISHED_TX
    assert list(RECEIVE_TIMER_MS) == PUBLISHED_RCV
    assert list(LONG_TX_TIMER_MS) == PUBLISHED_LONG
    assert tx_timer_seconds(11) == 0.768
    assert tx_timer_seconds(2, long_timer=True) == 8.192
    assert receive_timer_seconds(10) == 4.096


DEST_A = (b"\x01", "subnet_node", 1, b"\x02")
DEST_B = (b"\x01", "subnet_node", 1, b"\x03")


def test_transaction_numbers_roll_over_from_15_to_1_never_0() -> None:
    tids = TransactionIdAllocator()
    seen = []
    for i in range(40):
        # alternate destinations so that the "same as last time" bump does not interfere
        seen.append(tids.new(False, DEST_A if i % 2 else DEST_B, float(i)))
        tids.done(False)
    assert 0 not in seen
    assert seen[:15] == list(range(1, 16))
    assert seen[15:17] == [1, 2]  # 15 wraps to 1, skipping 0
    assert set(seen) == set(range(1, 16))


def test_same_destination_never_gets_its_last_number_again() -> None:
    tids = TransactionIdAllocator()
    last = tids.new(False, DEST_A, 0.0)
    tids.done(False)
    # 14 transactions to B: the shared counter comes back to A's last number
    for i in range(14):
        tids.new(False, DEST_B, 1.0 + i)
        tids.done(False)
    assert tids.peek(False) == last
    again = tids.new(False, DEST_A, 20.0)
    assert again != last
    assert again == last % 15 + 1


def test_priorities_have_independent_counters_and_one_transaction_each() -> None:
    tids = TransactionIdAllocator()
    assert tids.new(False, DEST_A, 0.0) == 1
    assert tids.new(True, DEST_A, 0.0) == 1
    with pytest.raises(RuntimeError):
        tids.new(False, DEST_B, 0.0)
    assert tids.in_progress(False) and tids.in_progress(True)
    tids.done(False)
    assert not tids.in_progress(False)
    assert tids.new(False, DEST_B, 0.0) == 2


@given(st.lists(st.sampled_from([DEST_A, DEST_B]), min_size=1, max_size=200))
def test_transaction_numbers_stay_in_range_and_differ_per_destination(
    dests: list[tuple[bytes, str, int, bytes]],
) -> None:
    tids = TransactionIdAllocator()
    last: dict[object, int] = {}
    for i, dest in enumerate(dests):
        tid = tids.new(False, dest, float(i))
        assert 1 <= tid <= 15
        assert last.get(dest) != tid
        last[dest] = tid
        tids.done(False)


def test_enhanced_mode_uses_12_bit_numbers() -> None:
    tids = TransactionIdAllocator(enhanced=True)
    values = []
    for i in range(4100):
        values.append(tids.new(False, DEST_A if i % 2 else DEST_B, 0.0))
        tids.done(False)
    assert max(values) == 4095 and min(values) == 1 and 0 not in values


def _record(key_node: int, expires: float, request_id: int = 0) -> ReceiveRecord:
    key = (False, 0, b"\x01", "subnet_node", 1, key_node, 0)
    return ReceiveRecord(key, 3, bool(request_id), Service.ACKD, b"\x10", expires, request_id=request_id)


def test_receive_records_expire_and_are_found_by_request_id() -> None:
    table = ReceiveRecordTable(capacity=2)
    table.put(_record(1, 5.0, request_id=7))
    table.put(_record(2, 3.0))
    assert table.full()
    assert table.get_timer() == 3.0
    assert table.by_request(7) is not None
    assert [r.key[5] for r in table.expire(3.0)] == [2]
    assert not table.full()
    table.expire(10.0)
    assert len(table) == 0 and table.by_request(7) is None and table.get_timer() is None
