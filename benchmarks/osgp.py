"""Cost of the OSGP-AES-128-PSK suite (IEC 62056-8-8 Annex D) on the simulated power line and on the CPU.

1. **Wire**: on a segment of one concentrator and one meter (``cosemnet.simulator.lon_segment``, 5.4 kbit/s,
   simulated time, no contention), the same reads over the *protected* SAPs with the suite and with the
   null suite (``--security none``): wire bytes (every frame both nodes sent, ACKs included) and
   airtime per read. Cases: a register read (GET 1-0:1.8.0*255 attribute 2 on the pre-established
   management association, client SAP 0x01) and a BT23 read (SN Read on the NNAP association, 0x20).
   Target: airtime with the suite at most 1.35x the null suite's. The one-off cost of the secure
   channel set-up and the domain key hand-out per meter is reported too.
2. **CPU**: protect + unprotect of a 40-byte APDU through two ``PeerSuite`` objects (the concentrator's
   and the meter's end of one session: nonce, AD, CCM, replay window), against raw ``AESCCM``
   encrypt + decrypt of the same sizes with a prebuilt key object, in the same run.

    python benchmarks/osgp.py            # tables
    python benchmarks/osgp.py --json
    python benchmarks/osgp.py --quick    # fewer iterations (smoke run)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESCCM

from cosemnet.client.connection import ClientConnection
from cosemnet.profiles.lon.adp import AdpData, AdpDirection, protect_pdu, unprotect_payload
from cosemnet.profiles.lon.dlms import MeterLink
from cosemnet.profiles.lon.osgp_aes.context import (
    CryptoContext,
    DomainKeys,
    KeyState,
    PeerSuite,
    SecurityStats,
)
from cosemnet.profiles.lon.preestablished import MANAGEMENT
from cosemnet.profiles.lon.sap import NNAP_CLIENT
from cosemnet.security.counters import InvocationCounter, MemoryCounterStore
from cosemnet.simulator.lon_segment import (
    BT21_BUFFER,
    BT23_BUFFER,
    ENERGY_REGISTER,
    REGISTER_CLASS_ID,
    SECURITY_NONE,
    SECURITY_OSGP,
    LonSegment,
    build_segment,
)
from cosemnet.simulator.osgp_meter import decode_bt21, decode_bt23

Request = Callable[[ClientConnection], bytes | None]
BIT_RATE = 5400.0


def _get(c: ClientConnection) -> bytes | None:
    return c.get(REGISTER_CLASS_ID, ENERGY_REGISTER, 2)


def _bt23(c: ClientConnection) -> bytes | None:
    return c.read([BT21_BUFFER, BT23_BUFFER])


def _exchange(segment: LonSegment, link: MeterLink, request: Request) -> tuple[dict[str, Any], object]:
    segment.run()
    first = len(segment.capture.frames)
    mark = len(link.results)
    link.submit(request)
    segment.run()
    frames = segment.capture.frames[first:]
    wire = [len(f.encode()) for f in frames]
    result = link.results[mark]
    if isinstance(result, Exception):
        raise RuntimeError(f"read failed: {result}")
    airtime = sum(segment.channel.airtime(n) for n in wire)
    return {"frames": len(frames), "wire_bytes": sum(wire), "airtime_s": round(airtime, 5)}, result


def wire(security: str, seed: int) -> dict[str, Any]:
    segment = build_segment(1, seed=seed, security=security, commission=False)
    setup: dict[str, Any] | None = None
    if security == SECURITY_OSGP:
        segment.commission()
        frames = segment.capture.frames
        sizes = [len(f.encode()) for f in frames]
        setup = {
            "frames": len(frames),
            "wire_bytes": sum(sizes),
            "airtime_s": round(sum(segment.channel.airtime(n) for n in sizes), 4),
        }
    meter = segment.meters[0]
    management = segment.concentrator.add_meter(meter.address, pre_established=MANAGEMENT)
    register, value = _exchange(segment, management, _get)
    nnap = segment.sn_link(meter)
    segment.run()  # the AARQ of the NNAP association
    bt23, tables = _exchange(segment, nnap, _bt23)
    if not isinstance(value, int):
        raise RuntimeError(f"register read gave {value!r}")
    if not (isinstance(tables, list) and all(isinstance(t, bytes) for t in tables)):
        raise RuntimeError(f"BT21/BT23 read gave {tables!r}")
    data = decode_bt23(tables[1], decode_bt21(tables[0]))
    if abs(data.summations[0] - value) > 50:
        raise RuntimeError("BT23 does not agree with the register")
    if nnap.client_sap != NNAP_CLIENT:
        raise RuntimeError("not the NNAP association")
    return {"register_read": register, "bt23_read": bt23, "setup": setup}


def _pair() -> tuple[PeerSuite, PeerSuite]:
    key = os.urandom(16)
    stats = SecurityStats()
    nnap = CryptoContext(b"\x00" * 5 + b"\x01", b"\x00" * 5 + b"\x02", (1, 1), (1, 2), os.urandom(16))
    meter = CryptoContext(b"\x00" * 5 + b"\x02", b"\x00" * 5 + b"\x01", (1, 2), (1, 1), os.urandom(16))
    for ctx in (nnap, meter):
        state = KeyState(1, key, 0.0, None)
        state.counter = InvocationCounter(
            MemoryCounterStore(), f"bench-{ctx.local_id.hex()}", block_size=1 << 20
        )
        ctx.install_session(state)
    return PeerSuite(nnap, DomainKeys(), stats), PeerSuite(meter, DomainKeys(), stats)


def cpu(iterations: int) -> dict[str, Any]:
    apdu = bytes(range(40))
    sender, receiver = _pair()
    template = AdpData(AdpDirection.CLIENT_TO_SERVER, NNAP_CLIENT, 1, b"")
    # verify once
    pdu = protect_pdu(AdpData(AdpDirection.CLIENT_TO_SERVER, NNAP_CLIENT, 1, b""), sender, apdu)
    if unprotect_payload(pdu, receiver) != apdu:
        raise RuntimeError("protect/unprotect round trip failed")
    header = pdu.encode_header()
    started = time.perf_counter()
    for _ in range(iterations):
        receiver.unprotect(header, sender.protect(header, apdu))
    suite_rate = iterations / (time.perf_counter() - started)
    started = time.perf_counter()
    for _ in range(iterations):
        template.payload = b""
        unprotect_payload(protect_pdu(template, sender, apdu), receiver)
    adp_rate = iterations / (time.perf_counter() - started)
    ccm = AESCCM(os.urandom(16), 8)
    nonce, ad = os.urandom(13), os.urandom(17)
    started = time.perf_counter()
    for _ in range(iterations):
        ccm.decrypt(nonce, ccm.encrypt(nonce, apdu, ad), ad)
    raw_rate = iterations / (time.perf_counter() - started)
    return {
        "apdu_bytes": len(apdu),
        "iterations": iterations,
        "suite_messages_per_s": round(suite_rate),
        "adp_pdu_messages_per_s": round(adp_rate),
        "raw_aesccm_messages_per_s": round(raw_rate),
        "ratio_to_raw": round(suite_rate / raw_rate, 3),
        "adp_ratio_to_raw": round(adp_rate / raw_rate, 3),
    }


def run(seed: int, iterations: int) -> dict[str, Any]:
    started = time.perf_counter()
    secured = wire(SECURITY_OSGP, seed)
    plain = wire(SECURITY_NONE, seed)
    ratios = {
        case: {
            "bytes": round(secured[case]["wire_bytes"] / plain[case]["wire_bytes"], 3),
            "airtime": round(secured[case]["airtime_s"] / plain[case]["airtime_s"], 3),
        }
        for case in ("register_read", "bt23_read")
    }
    return {
        "settings": {"seed": seed, "bit_rate": BIT_RATE, "iterations": iterations},
        "osgp_aes": secured,
        "null_suite": plain,
        "ratio": ratios,
        "target_airtime_ratio": 1.35,
        "within_target": all(r["airtime"] <= 1.35 for r in ratios.values()),
        "cpu": cpu(iterations),
        "wall_s": round(time.perf_counter() - started, 2),
    }


def render(report: dict[str, Any]) -> str:
    s, n = report["osgp_aes"], report["null_suite"]
    lines = [
        f"OSGP-AES-128-PSK vs the null suite on the protected SAPs, {BIT_RATE / 1000:g} kbit/s, one meter:",
        "",
        "| read | frames | wire bytes (suite / null) | airtime (suite / null) | bytes ratio "
        "| airtime ratio |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    names = {
        "register_read": "register read (GET, management 0x01)",
        "bt23_read": "BT21+BT23 read (SN, NNAP 0x20)",
    }
    for case, name in names.items():
        r = report["ratio"][case]
        lines.append(
            f"| {name} | {s[case]['frames']} / {n[case]['frames']} | {s[case]['wire_bytes']} / "
            f"{n[case]['wire_bytes']} | {s[case]['airtime_s'] * 1000:.1f} / "
            f"{n[case]['airtime_s'] * 1000:.1f} ms "
            f"| {r['bytes']:.3f}x | {r['airtime']:.3f}x |"
        )
    setup = s["setup"]
    c = report["cpu"]
    lines += [
        "",
        f"secure channel set-up + domain key, once per meter: {setup['frames']} frames, "
        f"{setup['wire_bytes']} bytes, {setup['airtime_s'] * 1000:.0f} ms of airtime",
        f"target airtime ratio <= {report['target_airtime_ratio']}: "
        f"{'met' if report['within_target'] else 'NOT met'}",
        "",
        f"CPU ({c['apdu_bytes']}-byte APDU, {c['iterations']} iterations), messages/s: "
        f"suite protect+unprotect {c['suite_messages_per_s']:,} ({c['ratio_to_raw']:.2f}x raw), "
        f"whole ADP PDU (encode header, protect, unprotect) {c['adp_pdu_messages_per_s']:,} "
        f"({c['adp_ratio_to_raw']:.2f}x), raw AESCCM encrypt+decrypt {c['raw_aesccm_messages_per_s']:,}",
        f"(wall time {report['wall_s']} s)",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--iterations", type=int, default=20000)
    parser.add_argument("--quick", action="store_true", help="2000 iterations: a smoke run")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    report = run(args.seed, 2000 if args.quick else args.iterations)
    report["settings"]["quick"] = bool(args.quick)
    print(json.dumps(report) if args.json else render(report))
    return 0 if report["within_target"] else 1


if __name__ == "__main__":
    sys.exit(main())
