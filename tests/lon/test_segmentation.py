"""Segmentation and reassembly (decision 0012): planning, reassembly, duplicates, reordering, missing
segments, timeouts, eviction, and hostile segment streams that must not grow memory or hang."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cosemnet.errors import EncodeError
from cosemnet.profiles.lon.adp import (
    MAX_MESSAGE_DATA,
    AbortReason,
    AdpData,
    AdpDirection,
    Segmentation,
    decode_adp_pdu,
)
from cosemnet.profiles.lon.segmentation import (
    MAX_SEGMENTS,
    Reassembler,
    ReassemblyStatus,
    SegmentationConfig,
    SegmentSpec,
    plan_segments,
    segment_capacity,
)

C2S = AdpDirection.CLIENT_TO_SERVER


def to_pdus(specs: list[SegmentSpec], message_id: int = 5, client_sap: int = 16) -> list[AdpData]:
    out = []
    for s in specs:
        segmented = s.segmentation != Segmentation.UNSEGMENTED
        out.append(
            AdpData(
                C2S,
                client_sap,
                1,
                s.chunk,
                s.segmentation,
                message_id if segmented else None,
                s.total_length,
                s.segment_number,
            )
        )
    return out


def apdu_of(n: int) -> bytes:
    return bytes(i & 0xFF for i in range(n))


# --------------------------------------------------------------------------------------------------
# Planning


def test_capacities_for_a_power_line_frame() -> None:
    assert segment_capacity(228, Segmentation.UNSEGMENTED, None) == 225
    assert segment_capacity(228, Segmentation.FIRST, None) == 222
    assert segment_capacity(228, Segmentation.MIDDLE, None) == 223
    assert segment_capacity(228, Segmentation.FIRST, 12) == 228 - 7 - 12


def test_plan_boundaries() -> None:
    assert [s.segmentation for s in plan_segments(apdu_of(225), MAX_MESSAGE_DATA)] == [
        Segmentation.UNSEGMENTED
    ]
    specs = plan_segments(apdu_of(226), MAX_MESSAGE_DATA)
    assert [(s.segmentation, s.segment_number, len(s.chunk)) for s in specs] == [
        (Segmentation.FIRST, None, 222),
        (Segmentation.LAST, 1, 4),
    ]
    assert specs[0].total_length == 226
    specs = plan_segments(apdu_of(222 + 223 + 1), MAX_MESSAGE_DATA)
    assert [s.segmentation for s in specs] == [Segmentation.FIRST, Segmentation.MIDDLE, Segmentation.LAST]
    assert [s.segment_number for s in specs] == [None, 1, 2]


def test_every_encoded_segment_fits_the_frame() -> None:
    for overhead in (None, 0, 12):
        for pdu in to_pdus(plan_segments(apdu_of(3000), MAX_MESSAGE_DATA, overhead)):
            if overhead is not None:
                pdu.security_suite_id = 1
                pdu.payload += b"\x00" * overhead
            assert len(pdu.encode()) <= MAX_MESSAGE_DATA


def test_plan_limits() -> None:
    with pytest.raises(EncodeError):
        plan_segments(b"", MAX_MESSAGE_DATA)
    with pytest.raises(EncodeError):
        plan_segments(apdu_of(0x10000), MAX_MESSAGE_DATA)
    # 20-byte frames carry 14 + 15 * 255 bytes at most
    assert len(plan_segments(apdu_of(14 + 15 * 255), 20)) == MAX_SEGMENTS
    with pytest.raises(EncodeError):
        plan_segments(apdu_of(14 + 15 * 255 + 1), 20)
    with pytest.raises(EncodeError):
        plan_segments(apdu_of(10), 8, 4)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_message_data": 7},
        {"max_apdu_length": 0},
        {"max_apdu_length": 0x10000},
        {"reassembly_timeout": 0},
        {"segment_timeout": -1},
        {"reorder_window": 256},
        {"max_reassemblies_per_peer": 0},
        {"max_reassemblies": 0},
    ],
)
def test_config_validation(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        SegmentationConfig(**kwargs)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------------
# Reassembly


@given(
    st.integers(1, 5000),
    st.integers(24, 228),
    st.integers(0, 2**32),
    st.integers(0, 4),
)
@settings(max_examples=150, deadline=None)
def test_round_trip_with_reordering_and_duplicates(length: int, frame: int, seed: int, window: int) -> None:
    rnd = random.Random(seed)
    apdu = rnd.randbytes(length)
    try:
        specs = plan_segments(apdu, frame)
    except EncodeError:
        return  # more than 256 segments for this frame size
    pdus = to_pdus(specs)
    # wire round trip of every segment
    pdus = [decode_adp_pdu(p.encode()) for p in pdus]  # type: ignore[misc]
    # local reordering within the window (FIRST stays first), plus random duplicates
    order = list(range(1, len(pdus)))
    for i in range(len(order) - 1):
        if window and rnd.random() < 0.3 and order[i + 1] - order[i] <= window:
            order[i], order[i + 1] = order[i + 1], order[i]
    stream = [pdus[0]] + [pdus[i] for i in order]
    stream += [rnd.choice(pdus) for _ in range(rnd.randint(0, 3))]
    r = Reassembler(SegmentationConfig(max_apdu_length=0xFFFF, reorder_window=window))
    results = [r.receive("peer", p, 0.0) for p in stream]
    complete = [o for o in results if o.status == ReassemblyStatus.COMPLETE]
    if len(pdus) == 1:
        assert all(o.apdu == apdu for o in complete)
        return
    assert len(complete) == 1 and complete[0].apdu == apdu
    assert not [o for o in results if o.status == ReassemblyStatus.ABORTED]
    assert len(r) == 0  # late duplicates of the completed message do not start a new reassembly
    assert r.buffered_bytes() <= len(apdu)


def test_acks_are_cumulative() -> None:
    pdus = to_pdus(plan_segments(apdu_of(1000), 100))
    r = Reassembler()
    assert r.receive("p", pdus[0], 0).ack_segment == 0
    assert r.receive("p", pdus[2], 0).ack_segment == 0  # segment 1 still missing
    assert r.receive("p", pdus[1], 0).ack_segment == 2
    dup = r.receive("p", pdus[1], 0)
    assert dup.status == ReassemblyStatus.DUPLICATE and dup.ack_segment == 2
    assert r.receive("p", pdus[0], 0).status == ReassemblyStatus.DUPLICATE


def test_late_duplicates_after_completion_are_recognised() -> None:
    pdus = to_pdus(plan_segments(apdu_of(300), 100))
    r = Reassembler(SegmentationConfig(segment_timeout=10))
    outs = [r.receive("p", p, 0.0) for p in pdus]
    assert outs[-1].status == ReassemblyStatus.COMPLETE
    for p in pdus:
        out = r.receive("p", p, 5.0)
        assert out.status == ReassemblyStatus.DUPLICATE and out.ack_segment == len(pdus) - 1
    assert len(r) == 0
    # after segment_timeout the key is forgotten: the same message id may start a new message
    assert r.receive("p", pdus[0], 10.0).status == ReassemblyStatus.IN_PROGRESS


def test_unsegmented_passes_through_and_unknown_segments_are_dropped() -> None:
    r = Reassembler()
    out = r.receive("p", AdpData(C2S, 1, 1, b"abc"), 0)
    assert out.status == ReassemblyStatus.COMPLETE and out.apdu == b"abc"
    mid = AdpData(C2S, 1, 1, b"x", Segmentation.MIDDLE, 9, None, 1)
    assert r.receive("p", mid, 0).status == ReassemblyStatus.UNKNOWN
    assert len(r) == 0


def test_too_long_is_refused_before_buffering() -> None:
    r = Reassembler(SegmentationConfig(max_apdu_length=1000))
    first = AdpData(C2S, 1, 1, b"x" * 200, Segmentation.FIRST, 1, 60000)
    out = r.receive("p", first, 0)
    assert out.status == ReassemblyStatus.ABORTED and out.abort_reason == AbortReason.TOO_LONG
    assert len(r) == 0 and r.buffered_bytes() == 0


@pytest.mark.parametrize("total", [0, 1, 5])
def test_first_must_leave_something_for_later(total: int) -> None:
    out = Reassembler().receive("p", AdpData(C2S, 1, 1, b"x" * 5, Segmentation.FIRST, 1, total), 0)
    assert out.abort_reason == AbortReason.LENGTH_MISMATCH


def test_missing_segment_beyond_window_aborts() -> None:
    pdus = to_pdus(plan_segments(apdu_of(2000), 100))
    r = Reassembler(SegmentationConfig(reorder_window=2))
    r.receive("p", pdus[0], 0)
    out = r.receive("p", pdus[4], 0)  # expected 1, window 2 -> at most 3
    assert out.status == ReassemblyStatus.ABORTED and out.abort_reason == AbortReason.SEQUENCE_ERROR
    assert len(r) == 0


def test_strict_order_with_window_zero() -> None:
    pdus = to_pdus(plan_segments(apdu_of(500), 100))
    r = Reassembler(SegmentationConfig(reorder_window=0))
    r.receive("p", pdus[0], 0)
    assert r.receive("p", pdus[2], 0).abort_reason == AbortReason.SEQUENCE_ERROR


def test_length_mismatches_abort() -> None:
    r = Reassembler()
    r.receive("p", AdpData(C2S, 1, 1, b"x" * 10, Segmentation.FIRST, 1, 15), 0)
    out = r.receive("p", AdpData(C2S, 1, 1, b"y" * 6, Segmentation.LAST, 1, None, 1), 0)
    assert out.abort_reason == AbortReason.LENGTH_MISMATCH  # 16 > 15
    r.receive("p", AdpData(C2S, 1, 1, b"x" * 10, Segmentation.FIRST, 2, 15), 0)
    out = r.receive("p", AdpData(C2S, 1, 1, b"y" * 4, Segmentation.LAST, 2, None, 1), 0)
    assert out.abort_reason == AbortReason.LENGTH_MISMATCH  # 14 < 15
    r.receive("p", AdpData(C2S, 1, 1, b"x" * 10, Segmentation.FIRST, 3, 15), 0)
    out = r.receive("p", AdpData(C2S, 1, 1, b"", Segmentation.MIDDLE, 3, None, 1), 0)
    assert out.abort_reason == AbortReason.LENGTH_MISMATCH  # empty middle
    assert len(r) == 0


def test_segments_after_last_or_last_before_held_ones_abort() -> None:
    r = Reassembler()
    r.receive("p", AdpData(C2S, 1, 1, b"x" * 10, Segmentation.FIRST, 1, 40), 0)
    r.receive("p", AdpData(C2S, 1, 1, b"x", Segmentation.LAST, 1, None, 2), 0)
    out = r.receive("p", AdpData(C2S, 1, 1, b"x", Segmentation.MIDDLE, 1, None, 3), 0)
    assert out.abort_reason == AbortReason.SEQUENCE_ERROR
    r.receive("p", AdpData(C2S, 1, 1, b"x" * 10, Segmentation.FIRST, 2, 40), 0)
    r.receive("p", AdpData(C2S, 1, 1, b"x", Segmentation.MIDDLE, 2, None, 3), 0)
    out = r.receive("p", AdpData(C2S, 1, 1, b"x", Segmentation.LAST, 2, None, 2), 0)
    assert out.abort_reason == AbortReason.SEQUENCE_ERROR


def test_first_restart_replaces_the_old_reassembly() -> None:
    r = Reassembler()
    r.receive("p", AdpData(C2S, 1, 1, b"a" * 10, Segmentation.FIRST, 1, 40), 0)
    out = r.receive("p", AdpData(C2S, 1, 1, b"b" * 10, Segmentation.FIRST, 1, 12), 1)
    assert out.status == ReassemblyStatus.IN_PROGRESS
    out = r.receive("p", AdpData(C2S, 1, 1, b"cc", Segmentation.LAST, 1, None, 1), 2)
    assert out.apdu == b"b" * 10 + b"cc"


def test_keys_separate_peers_directions_saps_and_messages() -> None:
    r = Reassembler(SegmentationConfig(max_reassemblies_per_peer=8))
    base = AdpData(C2S, 1, 1, b"a" * 4, Segmentation.FIRST, 1, 8)
    variants = [
        ("p", base),
        ("q", base),
        ("p", AdpData(AdpDirection.SERVER_TO_CLIENT, 1, 1, b"a" * 4, Segmentation.FIRST, 1, 8)),
        ("p", AdpData(C2S, 2, 1, b"a" * 4, Segmentation.FIRST, 1, 8)),
        ("p", AdpData(C2S, 1, 2, b"a" * 4, Segmentation.FIRST, 1, 8)),
        ("p", AdpData(C2S, 1, 1, b"a" * 4, Segmentation.FIRST, 2, 8)),
    ]
    for peer, pdu in variants:
        assert r.receive(peer, pdu, 0).status == ReassemblyStatus.IN_PROGRESS
    assert len(r) == len(variants)
    assert r.abort(("p", C2S, 1, 1, 1)) and not r.abort(("p", C2S, 1, 1, 1))


def test_timeouts_inactivity_and_lifetime() -> None:
    cfg = SegmentationConfig(segment_timeout=10, reassembly_timeout=25)
    r = Reassembler(cfg)
    assert r.deadline() is None
    r.receive("p", AdpData(C2S, 1, 1, b"x", Segmentation.FIRST, 1, 200), 100.0)
    assert r.deadline() == 110.0
    assert r.expire(109.9) == []
    # a slow drip: a segment every 9 s keeps the inactivity timer alive but not the lifetime
    for i, t in enumerate((109.0, 118.0), start=1):
        r.receive("p", AdpData(C2S, 1, 1, b"x", Segmentation.MIDDLE, 1, None, i), t)
    assert r.deadline() == 125.0
    expired = r.expire(125.0)
    assert [e.key for e in expired] == [("p", C2S, 1, 1, 1)]
    assert expired[0].reason == AbortReason.REASSEMBLY_TIMEOUT
    assert len(r) == 0 and r.deadline() is None


def test_eviction_per_peer_and_global() -> None:
    r = Reassembler(SegmentationConfig(max_reassemblies_per_peer=2, max_reassemblies=3))
    for mid, t in ((1, 0.0), (2, 1.0)):
        r.receive("p", AdpData(C2S, 1, 1, b"x", Segmentation.FIRST, mid, 9), t)
    out = r.receive("p", AdpData(C2S, 1, 1, b"x", Segmentation.FIRST, 3, 9), 2.0)
    assert out.evicted == [("p", C2S, 1, 1, 1)]
    r.receive("q", AdpData(C2S, 1, 1, b"x", Segmentation.FIRST, 1, 9), 3.0)
    out = r.receive("s", AdpData(C2S, 1, 1, b"x", Segmentation.FIRST, 1, 9), 4.0)
    assert out.evicted == [("p", C2S, 1, 1, 2)]  # the least recently active overall
    assert len(r) == 3


# --------------------------------------------------------------------------------------------------
# Hostile streams


@st.composite
def hostile_pdus(draw: st.DrawFn) -> tuple[int, AdpData, float]:
    seg = draw(st.sampled_from([Segmentation.FIRST, Segmentation.MIDDLE, Segmentation.LAST]))
    return (
        draw(st.integers(0, 40)),  # peer
        AdpData(
            draw(st.sampled_from(AdpDirection)),
            draw(st.integers(0, 3)),
            1,
            draw(st.binary(min_size=0, max_size=220)),
            seg,
            draw(st.integers(0, 3)),
            draw(st.integers(0, 0xFFFF)) if seg == Segmentation.FIRST else None,
            draw(st.integers(1, 255)) if seg != Segmentation.FIRST else None,
        ),
        draw(st.floats(0, 5)),
    )


@given(st.lists(hostile_pdus(), max_size=300))
@settings(max_examples=60, deadline=None)
def test_hostile_streams_stay_bounded(stream: list[tuple[int, AdpData, float]]) -> None:
    cfg = SegmentationConfig(max_apdu_length=2048, max_reassemblies=8, max_reassemblies_per_peer=2)
    r = Reassembler(cfg)
    now = 0.0
    for peer, pdu, dt in stream:
        now += dt
        r.receive(peer, pdu, now)
        r.expire(now)
        assert len(r) <= cfg.max_reassemblies
        assert r.buffered_bytes() <= cfg.max_reassemblies * cfg.max_apdu_length
        per_peer: dict[object, int] = {}
        for key in r.in_progress():
            per_peer[key[0]] = per_peer.get(key[0], 0) + 1
        assert max(per_peer.values(), default=0) <= cfg.max_reassemblies_per_peer


def test_endless_middles_cannot_outgrow_the_declared_total() -> None:
    r = Reassembler(SegmentationConfig(max_apdu_length=0xFFFF, reorder_window=0))
    r.receive("p", AdpData(C2S, 1, 1, b"x" * 200, Segmentation.FIRST, 1, 0xFFFF), 0)
    statuses = []
    for n in range(1, 400):
        if not 1 <= n <= 255:
            break
        out = r.receive("p", AdpData(C2S, 1, 1, b"y" * 220, Segmentation.MIDDLE, 1, None, n), 0)
        statuses.append(out.status)
        assert r.buffered_bytes() <= 0xFFFF
    # 200 + 255 * 220 < 65535, so all 255 middles fit; the next one would need number 256, which the
    # one-byte field cannot express: the reassembly can only complete, abort or time out
    assert statuses.count(ReassemblyStatus.IN_PROGRESS) == 255
    assert r.deadline() is not None
    assert r.expire(r.deadline() or 0)
    assert r.buffered_bytes() == 0


def test_long_hostile_stream_from_many_peers() -> None:
    """20 000 segments: valid transfers interleaved with floods of FIRSTs, huge totals, endless middles."""
    rnd = random.Random(2026)
    cfg = SegmentationConfig(max_apdu_length=4096, max_reassemblies=16, max_reassemblies_per_peer=2)
    r = Reassembler(cfg)
    now = 0.0
    completed = 0
    good = to_pdus(plan_segments(apdu_of(1500), MAX_MESSAGE_DATA), message_id=200, client_sap=1)
    for i in range(20_000):
        now += 0.01
        if i % 50 < len(good):  # a well-behaved peer repeats a transfer
            out = r.receive("good", good[i % 50], now)
            completed += out.status == ReassemblyStatus.COMPLETE
            continue
        peer = rnd.randrange(500)
        kind = rnd.random()
        if kind < 0.3:
            pdu = AdpData(C2S, 16, 1, rnd.randbytes(200), Segmentation.FIRST, rnd.randrange(256), 0xFFFF)
        elif kind < 0.6:
            pdu = AdpData(C2S, 16, 1, rnd.randbytes(100), Segmentation.FIRST, rnd.randrange(4), 4096)
        else:
            seg = Segmentation.MIDDLE if kind < 0.9 else Segmentation.LAST
            pdu = AdpData(C2S, 16, 1, rnd.randbytes(200), seg, rnd.randrange(4), None, rnd.randrange(1, 256))
        r.receive(peer, pdu, now)
        if i % 100 == 0:
            r.expire(now)
        assert len(r) <= cfg.max_reassemblies and r.remembered() <= cfg.max_reassemblies
        assert r.buffered_bytes() <= cfg.max_reassemblies * cfg.max_apdu_length
    assert completed > 0  # eviction is LRU, so an active well-behaved transfer still gets through
