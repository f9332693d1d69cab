"""The LON segment of ``cosemnet demo`` (IEC 62056-8-8 over a simulated power-line channel).

A data concentrator reads 20 simulated OSGP meters over one 5.4 kbit/s power-line channel in simulated
time: by logical name (GET-with-list of 1-0:1.8.0 value and scaler_unit on the pre-established public
association) and by short name / utility tables (AARQ of the NNAP client, then one SN Read of BT21 and
BT23), then prints what it read and the channel statistics. See :mod:`cosemnet.simulator.lon_segment`.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any, Final

from rich.console import Console

from cosemnet.profiles.lon.adp import ADP_MESSAGE_CODE, AdpData, decode_adp_pdu
from cosemnet.profiles.lon.frames import LonFrame
from cosemnet.profiles.lon.lon_apdu import ApplicationMessage
from cosemnet.profiles.lon.transport import Tpdu
from cosemnet.simulator.lon_segment import (
    SegmentReport,
    build_segment,
    channel_text,
    read_segment,
    segment_table,
)

DEMO_METERS: Final = 20
DEMO_SEED: Final = 1
DEMO_HISTORY: Final = _dt.timedelta(days=1)
MAX_DRIFT_WH: Final = 50
"""LN and BT23 are read a few simulated seconds apart; their +A totals may differ by that much."""


def _agree(report: SegmentReport) -> bool:
    for read in report.reads:
        if read.energy is None or not read.bt23_summations:
            return False
        if abs(read.bt23_summations[0] - read.energy) > MAX_DRIFT_WH:
            return False
    return True


def _sample_frame(frames: list[LonFrame]) -> str:
    """The hex (with CRC) of the first frame carrying an unsegmented ADP DATA PDU: a ``decode`` example."""
    for frame in frames:
        pdu = frame.npdu.pdu
        apdu = pdu.apdu if isinstance(pdu, Tpdu) else pdu
        if isinstance(apdu, ApplicationMessage) and apdu.code == ADP_MESSAGE_CODE:
            adp = decode_adp_pdu(apdu.data)
            if isinstance(adp, AdpData) and adp.security_suite_id is None:
                return frame.encode().hex().upper()
    return ""


def run_lon_demo(console: Console | None, json_mode: bool) -> dict[str, Any]:
    """Run the LON segment; print to ``console`` unless ``json_mode``. Returns the JSON summary
    (``"ok"``: every meter answered both reads and LN and BT23 agree)."""
    segment = build_segment(DEMO_METERS, seed=DEMO_SEED, history=DEMO_HISTORY)
    report = read_segment(segment)
    agree = _agree(report)
    ok = report.ok and agree
    summary = report.to_json()
    summary["ln_bt23_agree"] = agree
    summary["ok"] = ok
    sample = _sample_frame(segment.capture.frames)
    summary["sample_frame"] = sample
    if console is None or json_mode:
        return summary

    console.print(
        f"\n[bold underline]6. IEC 62056-8-8 LON segment[/]: a data concentrator reads {DEMO_METERS} "
        f"simulated OSGP meters over one {report.bit_rate / 1000:.1f} kbit/s power-line channel "
        "(simulated time)"
    )
    console.print(segment_table(report.reads))
    console.print(
        f"LN: GET-with-list on the pre-established public association; SN: AARQ (LLS, NNAP client) + "
        f"Read of BT21 and BT23 -- LN and BT23 agree {'[green]✓[/]' if agree else '[bold red]✗[/]'}"
    )
    console.print(channel_text(report))
    if sample:
        console.print(f"Try: [bold]cosemnet decode {sample}[/]")
    return summary


__all__ = ["DEMO_METERS", "run_lon_demo"]
