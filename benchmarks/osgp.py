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
3. **Firmware download** (decision 0049): airtime of a campaign sending one image to N meters on a
   lossy channel (broadcast under the domain key, then unicast repair of the missing blocks, then
   verification and activation) against N unicast transfers of the same image with the same messages
   (no broadcast). Two broadcast services: unacknowledged-repeated (4 transmissions) and
   unacknowledged (1; losses repaired by unicast). Every meter must end with the verified image
   activated, else the benchmark fails.

    python benchmarks/osgp.py            # tables
    python benchmarks/osgp.py --json
    python benchmarks/osgp.py --quick    # fewer iterations, a small campaign (smoke run)
    python benchmarks/osgp.py --meters 20 --image-kib 32 --loss 0.1
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
from cosemnet.profiles.lon.channel import ChannelConfig
from cosemnet.profiles.lon.dlms import MeterLink
from cosemnet.profiles.lon.osgp_aes.context import (
    CryptoContext,
    DomainKeys,
    KeyState,
    PeerSuite,
    SecurityStats,
)
from cosemnet.profiles.lon.osgp_aes.firmware import CampaignConfig
from cosemnet.profiles.lon.preestablished import MANAGEMENT
from cosemnet.profiles.lon.sap import NNAP_CLIENT
from cosemnet.profiles.lon.transaction import Service
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
from cosemnet.simulator.osgp_firmware import attach_receiver, start_campaign
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
    meter = CryptoContext(
        b"\x00" * 5 + b"\x02", b"\x00" * 5 + b"\x01", (1, 2), (1, 1), os.urandom(16), local_is_server=True
    )
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


def campaign(meters: int, image_bytes: int, loss: float, seed: int, config: CampaignConfig) -> dict[str, Any]:
    """One firmware campaign on a fresh segment (after commissioning); what it cost on the channel."""
    segment = build_segment(meters, seed=seed, channel_config=ChannelConfig(default_loss=loss))
    receivers = []
    for m in segment.meters:
        assert m.security is not None
        receivers.append(attach_receiver(m.endpoint, m.security, m.osgp))
    image = bytes((i * 131 + 7) & 0xFF for i in range(image_bytes))
    assert segment.concentrator_security is not None
    stats = segment.channel.statistics
    t0, airtime0, frames0, bytes0 = segment.channel.now, stats.airtime, stats.frames, stats.bytes
    job = start_campaign(
        segment.concentrator,
        segment.concentrator_security,
        [m.address for m in segment.meters],
        b"bench-fw-2",
        image,
        config=config,
    )
    end = segment.run(limit=10 * 86400)
    progress = job.progress()
    if progress.done != meters or any(r.image != image or r.active_identifier is None for r in receivers):
        raise RuntimeError(f"firmware campaign did not complete: {progress}")
    return {
        "blocks": job.block_count,
        "broadcast_blocks": progress.blocks_broadcast,
        "repair_blocks": progress.repair_blocks,
        "frames": stats.frames - frames0,
        "wire_bytes": stats.bytes - bytes0,
        "airtime_s": round(stats.airtime - airtime0, 2),
        "duration_s": round(end - t0, 1),
    }


def firmware(meters: int, image_bytes: int, loss: float, seed: int) -> dict[str, Any]:
    cases = {
        "broadcast_repeated": CampaignConfig(broadcast_service=Service.UNACKD_RPT),
        "broadcast_once": CampaignConfig(broadcast_service=Service.UNACKD),
        "unicast": CampaignConfig(broadcast=False, repair_batch=64),
    }
    out: dict[str, Any] = {"meters": meters, "image_bytes": image_bytes, "loss": loss}
    for name, config in cases.items():
        out[name] = campaign(meters, image_bytes, loss, seed, config)
    unicast = out["unicast"]["airtime_s"]
    out["airtime_ratio_to_unicast"] = {
        name: round(out[name]["airtime_s"] / unicast, 3) for name in ("broadcast_repeated", "broadcast_once")
    }
    return out


def run(seed: int, iterations: int, fw: tuple[int, int, float] = (20, 32 * 1024, 0.1)) -> dict[str, Any]:
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
        "firmware": firmware(fw[0], fw[1], fw[2], seed),
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
    ]
    lines += render_firmware(report["firmware"])
    lines.append(f"(wall time {report['wall_s']} s)")
    return "\n".join(lines)


def render_firmware(fw: dict[str, Any]) -> list[str]:
    lines = [
        "",
        f"Firmware campaign: {fw['image_bytes']:,}-byte image ({fw['unicast']['blocks']} blocks) to "
        f"{fw['meters']} meters, {fw['loss']:.0%} loss per reception, verification and activation included:",
        "",
        "| transfer | broadcast blocks | unicast blocks | frames | wire bytes | airtime | vs unicast "
        "| duration |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    names = {
        "broadcast_repeated": "broadcast (UNACKD_RPT) + unicast repair",
        "broadcast_once": "broadcast (UNACKD) + unicast repair",
        "unicast": f"{fw['meters']} unicast transfers",
    }
    for case, name in names.items():
        r = fw[case]
        ratio = fw["airtime_ratio_to_unicast"].get(case, 1.0)
        lines.append(
            f"| {name} | {r['broadcast_blocks']} | {r['repair_blocks']} | {r['frames']:,} | "
            f"{r['wire_bytes']:,} | {r['airtime_s']:,.1f} s | {ratio:.3f}x | {r['duration_s']:,.0f} s |"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--iterations", type=int, default=20000)
    parser.add_argument("--quick", action="store_true", help="2000 iterations: a smoke run")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--meters", type=int, default=20, help="firmware campaign: meters (default 20)")
    parser.add_argument("--image-kib", type=float, default=32.0, help="firmware image size (default 32 KiB)")
    parser.add_argument("--loss", type=float, default=0.1, help="loss probability per reception (0.1)")
    args = parser.parse_args(argv)
    fw = (5, 8 * 1024, args.loss) if args.quick else (args.meters, int(args.image_kib * 1024), args.loss)
    report = run(args.seed, 2000 if args.quick else args.iterations, fw)
    report["settings"]["quick"] = bool(args.quick)
    print(json.dumps(report) if args.json else render(report))
    return 0 if report["within_target"] else 1


if __name__ == "__main__":
    sys.exit(main())
