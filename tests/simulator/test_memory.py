"""Memory per meter: 1,000 meters from one profile, measured with tracemalloc (fleet target 20 KiB).

The growth after 6 simulated hours (24 load-profile rows, demand periods...) is measured on 10 of
them (tracemalloc makes the simulation several times slower)."""

from __future__ import annotations

import datetime as dt
import gc
import tracemalloc

from cosemnet.simulator import build_meter, compile_profile, load_profile

from .helpers import T0

TARGET = 20 * 1024


def _current() -> int:
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


def test_memory_per_meter_for_1000_meters(capsys) -> None:  # type: ignore[no-untyped-def]
    template = compile_profile(load_profile())
    build_meter(template).handle_timer(0.0)  # warm the caches every meter shares
    tracemalloc.start()
    try:
        before = _current()
        meters = [build_meter(template, serial=i + 1, seed=i, start=T0) for i in range(1000)]
        per_meter = (_current() - before) / len(meters)
        before = _current()
        for m in meters[:10]:
            m.handle_timer(m.seconds(T0 + dt.timedelta(hours=6)))
            m.pop_events()
        per_row = (_current() - before) / 10 / 24
    finally:
        tracemalloc.stop()
    with capsys.disabled():
        print(
            f"\nsimulated meter: {per_meter:.0f} bytes per meter at build, "
            f"{per_row:.0f} bytes per load-profile row (6 h of growth / 24 rows)"
        )
    assert 4000 < per_meter < TARGET
    assert per_row < 400
    assert len({m.system_title for m in meters}) == 1000
