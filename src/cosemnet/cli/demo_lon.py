"""The LON segment of ``cosemnet demo`` (IEC 62056-8-8 over a simulated power-line channel).

A data concentrator commissions 20 simulated OSGP meters (OSGP-AES-128-PSK secure channels and a domain
key, Annex D) and reads them over one 5.4 kbit/s power-line channel in simulated time: by logical name
(GET-with-list of 1-0:1.8.0 value and scaler_unit on the pre-established public association) and by
short name / utility tables (AARQ of the NNAP client, then one SN Read of BT21 and BT23, over the
protected NNAP association), then prints what it read and the channel statistics. Last, an attacker
sends one meter a tampered, a replayed and a wrong-key frame: each is rejected and the meter executes
none. See :mod:`cosemnet.simulator.lon_segment`. Then a feeder where a third of the meters need 1-3
repeaters is discovered, commissioned and read automatically (:mod:`cosemnet.cli.demo_lon_feeder`).
"""

from __future__ import annotations

import datetime as _dt
import os
from typing import Any, Final

from rich.console import Console

from cosemnet.cli.demo_lon_feeder import run_feeder_demo
from cosemnet.cli.lon_inject import forge, protected_message
from cosemnet.profiles.lon.adp import ADP_MESSAGE_CODE, AdpData, decode_adp_pdu
from cosemnet.profiles.lon.frames import LonFrame
from cosemnet.profiles.lon.lon_apdu import ApplicationMessage
from cosemnet.profiles.lon.osgp_aes.context import (
    NONCE_DATA,
    Envelope,
    associated_data,
    encode_security_header,
    nonce,
)
from cosemnet.profiles.lon.transport import Spdu, Tpdu
from cosemnet.security.osgp import OsgpAead
from cosemnet.simulator.lon_segment import (
    LonSegment,
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
        apdu = pdu.apdu if isinstance(pdu, Tpdu | Spdu) else pdu  # DLMS rides REQUEST/RESPONSE (0093)
        if isinstance(apdu, ApplicationMessage) and apdu.code == ADP_MESSAGE_CODE:
            adp = decode_adp_pdu(apdu.data)
            if isinstance(adp, AdpData) and adp.security_suite_id is None:
                return frame.encode().hex().upper()
    return ""


def _attack(segment: LonSegment, frame: LonFrame, data: bytes) -> str:
    """Hand ``data`` in ``frame``'s addressing to meter 0 as if heard on the line; the rejection reason
    its suite counted ("" if it was accepted)."""
    meter = segment.meters[0]
    assert meter.security is not None
    before = dict(meter.security.stats.rejected)
    meter.endpoint.stack.receive_lon_frame(forge(frame, data), segment.channel.now)
    segment.run(limit=60)
    after = meter.security.stats.rejected
    return ", ".join(k for k in after if after[k] > before.get(k, 0))


def _security_demo(segment: LonSegment) -> dict[str, Any]:
    """Open one genuine protected frame with the session key, then try three forgeries on meter 0."""
    agent, meter = segment.concentrator_security, segment.meters[0]
    if agent is None or meter.security is None:
        return {"suite": "none"}
    frames = [f for f in segment.capture.frames if f.npdu.destination == meter.address]
    genuine = next((f for f in reversed(frames) if protected_message(f) is not None), None)
    message = None if genuine is None else protected_message(genuine)
    ctx = agent.contexts.get(
        ("node", (meter.address.destination_subnet << 8) | meter.address.destination_node)
    )
    if genuine is None or message is None or ctx is None or ctx.current is None:
        return {"suite": "OSGP-AES-128-PSK", "error": "no protected frame to show"}
    header, envelope = message.data[:4], Envelope.parse(message.data[4:], session_id=ctx.current)
    target = bytes((meter.address.destination_subnet, meter.address.destination_node))
    plain = envelope.open(ctx.sessions[ctx.current].key, ctx.local_id, header, target)
    requests = meter.endpoint.requests
    tampered = bytearray(message.data)
    tampered[-1] ^= 0x01
    counter = envelope.counter + 1000
    security_header = bytes((envelope.key_id,)) + counter.to_bytes(4, "big")
    wrong = OsgpAead(os.urandom(16)).encrypt(
        nonce(NONCE_DATA, ctx.local_id, envelope.key_id, counter),
        plain,
        associated_data(header, security_header, target),
    )
    attacks = {
        "tampered": _attack(segment, genuine, bytes(tampered)),
        "replayed": _attack(segment, genuine, message.data),
        "wrong_key": _attack(
            segment, genuine, header + encode_security_header(envelope.key_id, counter) + wrong
        ),
    }
    return {
        "suite": "OSGP-AES-128-PSK",
        "secure_channels": sum(1 for m in segment.meters if agent.established(m.address)),
        "envelope": {"key_id": envelope.key_id, "frame_counter": envelope.counter, "plaintext": plain.hex()},
        "attacks": attacks,
        "executed_by_meter": meter.endpoint.requests - requests,
        "ok": all(attacks.values()) and meter.endpoint.requests == requests,
    }


def run_lon_demo(console: Console | None, json_mode: bool) -> dict[str, Any]:
    """Run the LON segment; print to ``console`` unless ``json_mode``. Returns the JSON summary
    (``"ok"``: every meter answered both reads and LN and BT23 agree)."""
    segment = build_segment(DEMO_METERS, seed=DEMO_SEED, history=DEMO_HISTORY)
    report = read_segment(segment)
    agree = _agree(report)
    security = _security_demo(segment)
    ok = report.ok and agree and bool(security.get("ok"))
    summary = report.to_json()
    summary["ln_bt23_agree"] = agree
    summary["osgp"] = security
    summary["ok"] = ok
    sample = _sample_frame(segment.capture.frames)
    summary["sample_frame"] = sample
    if console is None or json_mode:
        return _with_feeder(summary, None)

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
    if "attacks" in security:
        attacks = security["attacks"]
        env = security["envelope"]
        console.print(
            f"OSGP-AES-128-PSK: {security['secure_channels']}/{DEMO_METERS} secure channels; a protected "
            f"frame to meter 1/2 opens with its session key (key {env['key_id']}, frame counter "
            f"{env['frame_counter']}). Sent to that meter: tampered -> rejected ({attacks['tampered']}), "
            f"replayed -> rejected ({attacks['replayed']}), wrong key -> rejected ({attacks['wrong_key']}); "
            f"executed: {security['executed_by_meter']} "
            f"{'[green]✓[/]' if security['ok'] else '[bold red]✗[/]'}"
        )
    if sample:
        console.print(f"Try: [bold]cosemnet decode {sample}[/]")
    return _with_feeder(summary, console)


def _with_feeder(summary: dict[str, Any], console: Console | None) -> dict[str, Any]:
    """Run the feeder part (printing to ``console`` unless None) into ``summary["feeder"]``."""
    feeder = run_feeder_demo(console)
    summary["feeder"] = feeder
    summary["ok"] = bool(summary["ok"]) and bool(feeder["ok"])
    return summary


__all__ = ["DEMO_METERS", "run_lon_demo"]
