"""Wire efficiency of DLMS/COSEM over the simulated ISO/IEC 14908 power-line channel (IEC 62056-8-8).

Everything runs in simulated time on :class:`cosemnet.profiles.lon.channel.PowerLineChannel` (5.4 kbit/s,
CENELEC A band, 40 overhead bits per frame for preamble / sync / end of frame; decision 0011), with the
segment of ``cosemnet demo`` / ``cosemnet sim lon`` (``cosemnet.simulator.lon_segment``: a data concentrator
and simulated OSGP meters, ``cosemnet.profiles.lon.dlms`` endpoints, ADP over 14908-1 ACKD).

1. **Per exchange**, on a segment of one concentrator and one meter (no contention), for each case the
   frames both nodes sent are captured and counted: wire bytes (PPDU + NPDU + TPDU + message code + ADP
   header + APDU + CRC-16, ACK frames included) and airtime (each frame's bits + overhead / bit rate),
   against the **payload-only minimum**: the xDLMS request and response APDU bytes alone, sent
   back to back at the same bit rate with no framing at all. Cases:

   * register read: GET-request-normal of 1-0:1.8.0*255 attribute 2 on the pre-established public
     association (no AARQ);
   * register read with scaler_unit: GET-request-with-list of attributes 2 and 3 (what the tools send);
   * BT23 read: SN Read of the BT23 buffer (short name 0x1478) on the NNAP association, already open;
   * SN association: the AARQ / AARE of the NNAP client (LLS), for reference (paid once per meter).

   Each result is checked (the register value is an integer, BT23 decodes with BT21's dimensions and its
   first summation equals the register's value within the energy of the seconds between the reads).

   Each exchange is also set against the **14908-1 framing minimum**: the same two data frames
   (request and response, no ACK) with the shortest unicast addressing (subnet/node, zero-length
   domain), the ADP DATA header that IEC 62056-8-8 needs and the CRC -- what any 14908-1 carriage of
   these APDUs must put on the wire.

2. **Reads per hour** of a ``--meters`` (100) and a 300-meter flat segment, and of a line feeder
   (``cosemnet.cli.lon_feeder.build_feeder``, meters 80 m apart, the far ones behind Annex E
   repeaters): the concentrator queues one read for every meter at once, its scheduler
   (``cosemnet.profiles.lon.scheduler``, decision 0094) lets them out, and the segment runs until all
   are answered (CSMA contention, collisions and 14908-1 retries included); reads per hour = meters /
   simulated time x 3600. The "airtime bound" is 3600 / the airtime of one contention-free exchange:
   what a perfectly scheduled channel would carry; on the feeder, where an exchange costs more frames
   the more repeaters it crosses, it is the meters over the airtime of every frame the round sent.

The segment runs with ``--security none`` (the null suite on the protected SAPs) for comparability
with earlier runs; the register read uses the public association, unprotected under either setting.

    python benchmarks/lon_wire.py             # tables
    python benchmarks/lon_wire.py --json      # machine-readable
    python benchmarks/lon_wire.py --quick     # 20 meters (smoke run)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cosemnet.cli.lon_feeder import build_feeder, learn_paths
from cosemnet.client.connection import ClientConnection
from cosemnet.codec.obis import Obis
from cosemnet.profiles.lon.addresses import SubnetNodeAddress
from cosemnet.profiles.lon.adp import ADP_MESSAGE_CODE, OSGP_AES_128_PSK_SUITE_ID, AdpData, decode_adp_pdu
from cosemnet.profiles.lon.channel import ChannelConfig
from cosemnet.profiles.lon.frames import LonFrame
from cosemnet.profiles.lon.lon_apdu import ApplicationMessage
from cosemnet.profiles.lon.osgp_aes.context import OVERHEAD as OSGP_OVERHEAD
from cosemnet.profiles.lon.topology import TopologyConfig, line
from cosemnet.profiles.lon.transport import Spdu, Tpdu
from cosemnet.simulator.lon_segment import (
    BT21_BUFFER,
    BT23_BUFFER,
    ENERGY_REGISTER,
    REGISTER_CLASS_ID,
    SECURITY_NONE,
    LonSegment,
    build_segment,
)
from cosemnet.simulator.osgp_meter import decode_bt21, decode_bt23

Request = Callable[[ClientConnection], bytes | None]


def _get_value(c: ClientConnection) -> bytes | None:
    return c.get(REGISTER_CLASS_ID, ENERGY_REGISTER, 2)


def _get_value_and_scaler(c: ClientConnection) -> bytes | None:
    items: list[tuple[int, Obis | str, int]] = [
        (REGISTER_CLASS_ID, ENERGY_REGISTER, 2),
        (REGISTER_CLASS_ID, ENERGY_REGISTER, 3),
    ]
    return c.get_with_list(items)


def _read_bt23(c: ClientConnection) -> bytes | None:
    return c.read([BT23_BUFFER])


def _read_bt21(c: ClientConnection) -> bytes | None:
    return c.read([BT21_BUFFER])


@dataclass(slots=True)
class Exchange:
    name: str
    frames: int
    data_frames: int
    wire_bytes: int
    airtime: float
    payload_bytes: int
    payload_airtime: float
    latency: float
    framing_bytes: int = 0
    framing_airtime: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "frames": self.frames,
            "data_frames": self.data_frames,
            "wire_bytes": self.wire_bytes,
            "airtime_s": round(self.airtime, 5),
            "payload_bytes": self.payload_bytes,
            "payload_airtime_s": round(self.payload_airtime, 5),
            "bytes_ratio": round(self.wire_bytes / self.payload_bytes, 3),
            "airtime_ratio": round(self.airtime / self.payload_airtime, 3),
            "latency_s": round(self.latency, 4),
            "framing_min_bytes": self.framing_bytes,
            "framing_min_airtime_s": round(self.framing_airtime, 5),
            "bytes_vs_framing_min": round(self.wire_bytes / self.framing_bytes, 3),
            "airtime_vs_framing_min": round(self.airtime / self.framing_airtime, 3),
        }


def _adp_payload(frame: LonFrame) -> int:
    """Bytes of DLMS APDU an unprotected / null-suite ADP DATA frame carries (0 for ACKs and others)."""
    pdu = frame.npdu.pdu
    apdu = pdu.apdu if isinstance(pdu, Tpdu | Spdu) else pdu
    if not isinstance(apdu, ApplicationMessage) or apdu.code != ADP_MESSAGE_CODE:
        return 0
    adp = decode_adp_pdu(apdu.data)
    if not isinstance(adp, AdpData):
        return 0
    if adp.security_suite_id == OSGP_AES_128_PSK_SUITE_ID:
        return len(adp.payload) - OSGP_OVERHEAD  # key id, frame counter and CCM tag
    if adp.security_suite_id not in (None, 0):
        raise ValueError("an unknown security suite: payload size unknown")
    return len(adp.payload)


def _minimal(frame: LonFrame) -> LonFrame:
    """The frame with the shortest unicast addressing: subnet/node, zero-length domain."""
    npdu = frame.npdu
    if not isinstance(npdu.destination, SubnetNodeAddress):
        raise ValueError("a unicast exchange was expected")
    return dataclasses.replace(frame, npdu=dataclasses.replace(npdu, domain_id=b""))


def measure(segment: LonSegment, name: str, link_kind: str, request: Request) -> tuple[Exchange, object]:
    """One exchange on an idle segment: what the frames cost against the APDU bytes."""
    meter = segment.meters[0]
    link = segment.public_link(meter) if link_kind == "public" else segment.sn_link(meter)
    segment.run()  # an AARQ queued by sn_link goes first, outside the measurement
    channel = segment.channel
    first_frame = len(segment.capture.frames)
    before = len(link.results)
    t0 = channel.now
    link.submit(request)
    end = segment.run()
    frames = segment.capture.frames[first_frame:]
    wire = [len(f.encode()) for f in frames]
    payload = sum(_adp_payload(f) for f in frames)
    result = link.results[before]
    if isinstance(result, Exception):
        raise RuntimeError(f"{name}: {result}")
    bit_rate = channel.config.bit_rate
    minimal = [len(_minimal(f).encode()) for f in frames if _adp_payload(f)]
    exchange = Exchange(
        name,
        len(frames),
        sum(1 for f in frames if _adp_payload(f)),
        sum(wire),
        sum(channel.airtime(n) for n in wire),
        payload,
        8 * payload / bit_rate,
        end - t0,
        sum(minimal),
        sum(channel.airtime(n) for n in minimal),
    )
    return exchange, result


def _associate(c: ClientConnection) -> bytes | None:
    return c.associate()


def per_exchange(bit_rate: float, seed: int) -> dict[str, Exchange]:
    segment = build_segment(
        1, seed=seed, channel_config=ChannelConfig(bit_rate=bit_rate), security=SECURITY_NONE
    )
    results: dict[str, Exchange] = {}
    # the SN association, measured on its own (sn_link queues the AARQ: take it out and measure it)
    link = segment.sn_link(segment.meters[0])
    link.queue.clear()
    results["sn_association"], _ = measure(segment, "SN association (AARQ/AARE, LLS)", "sn", _associate)
    results["register_read"], value = measure(segment, "register read (GET)", "public", _get_value)
    results["register_read_with_scaler"], pair = measure(
        segment, "register value + scaler_unit (GET-with-list)", "public", _get_value_and_scaler
    )
    _, bt21 = measure(segment, "BT21", "sn", _read_bt21)
    results["bt23_read"], bt23 = measure(segment, "BT23 read (SN Read)", "sn", _read_bt23)
    # verification
    if not isinstance(value, int) or not isinstance(pair, list) or not isinstance(pair[0], int):
        raise RuntimeError(f"register read gave {value!r} / {pair!r}")
    if not (isinstance(bt21, list) and isinstance(bt23, list) and isinstance(bt23[0], bytes)):
        raise RuntimeError(f"BT21/BT23 read gave {bt21!r} / {bt23!r}")
    assert isinstance(bt21[0], bytes)
    data = decode_bt23(bt23[0], decode_bt21(bt21[0]))
    if abs(data.summations[0] - int(value)) > 50:
        raise RuntimeError(f"BT23 +A {data.summations[0]} is not the register's {int(value)}")
    return results


@dataclass(slots=True)
class Round:
    name: str
    meters: int
    simulated: float
    reads_per_hour: float
    airtime_bound_per_hour: float
    frames: int
    collisions: int
    retries: int
    failed: int
    wall: float

    def to_json(self) -> dict[str, Any]:
        return {
            "meters": self.meters,
            "simulated_s": round(self.simulated, 3),
            "reads_per_hour": round(self.reads_per_hour, 1),
            "airtime_bound_per_hour": round(self.airtime_bound_per_hour, 1),
            "frames": self.frames,
            "collisions": self.collisions,
            "retries": self.retries,
            "failed": self.failed,
            "wall_s": round(self.wall, 3),
        }


def _retries(segment: LonSegment) -> int:
    return segment.concentrator.stack.statistics.transmit_tx_retries + sum(
        m.endpoint.stack.statistics.transmit_tx_retries for m in segment.meters
    )


def read_round(segment: LonSegment, name: str, kind: str, request: Request, single: Exchange) -> Round:
    links = [segment.public_link(m) if kind == "public" else segment.sn_link(m) for m in segment.meters]
    segment.run()  # associations (SN) first
    stats = segment.channel.statistics
    frames0, collisions0, retries0 = stats.frames, stats.collisions, _retries(segment)
    marks = [len(link.results) for link in links]
    started = time.perf_counter()
    t0 = segment.channel.now
    for link in links:
        link.submit(request)
    end = segment.run()
    wall = time.perf_counter() - started
    failed = sum(
        1
        for link, mark in zip(links, marks, strict=True)
        if len(link.results) <= mark or isinstance(link.results[mark], Exception)
    )
    elapsed = end - t0
    count = len(links) - failed
    return Round(
        name,
        len(links),
        elapsed,
        count / elapsed * 3600 if elapsed > 0 else 0.0,
        3600 / single.airtime,
        stats.frames - frames0,
        stats.collisions - collisions0,
        _retries(segment) - retries0,
        failed,
        wall,
    )


def flat_rounds(meters: int, bit_rate: float, seed: int, exchanges: dict[str, Exchange]) -> dict[str, Round]:
    segment = build_segment(
        meters, seed=seed, channel_config=ChannelConfig(bit_rate=bit_rate), security=SECURITY_NONE
    )
    return {
        "register_read": read_round(
            segment, "register read (GET)", "public", _get_value, exchanges["register_read"]
        ),
        "bt23_read": read_round(segment, "BT23 read (SN Read)", "sn", _read_bt23, exchanges["bt23_read"]),
    }


def feeder_round(meters: int, seed: int) -> tuple[Round, int]:
    """Register reads of every meter of a line feeder (80 m apart): the far ones through repeaters.
    The airtime bound is the meters over the airtime of every frame the round sent."""
    feeder = build_feeder(line(meters, spacing_m=80.0, config=TopologyConfig(seed=seed)), seed=seed)
    learn_paths(feeder)
    segment = feeder.segment
    stats = segment.channel.statistics
    airtime0 = stats.airtime
    single = Exchange("feeder", 0, 0, 0, 1.0, 0, 0.0, 0.0)
    result = read_round(segment, "register read (GET), line feeder", "public", _get_value, single)
    spent = stats.airtime - airtime0
    result.airtime_bound_per_hour = meters / spent * 3600 if spent > 0 else 0.0
    return result, feeder.max_hops()


def run(meters: int, bit_rate: float, seed: int, *, large: int = 300, feeder: int = 30) -> dict[str, Any]:
    started = time.perf_counter()
    exchanges = per_exchange(bit_rate, seed)
    rounds = flat_rounds(meters, bit_rate, seed, exchanges)
    report: dict[str, Any] = {
        "settings": {"meters": meters, "bit_rate": bit_rate, "seed": seed, "overhead_bits": 40},
        "per_exchange": {k: {"what": v.name, **v.to_json()} for k, v in exchanges.items()},
        "segment": {k: {"what": v.name, **v.to_json()} for k, v in rounds.items()},
    }
    if large:
        big = flat_rounds(large, bit_rate, seed, exchanges)
        report["segment_large"] = {k: {"what": v.name, **v.to_json()} for k, v in big.items()}
    if feeder:
        line_round, hops = feeder_round(feeder, seed)
        report["feeder"] = {"what": line_round.name, "max_hops": hops, **line_round.to_json()}
    report["wall_s"] = round(time.perf_counter() - started, 2)
    return report


def render(report: dict[str, Any]) -> str:
    s = report["settings"]
    lines = [
        f"Wire efficiency at {s['bit_rate'] / 1000:g} kbit/s (simulated power line, {s['overhead_bits']} "
        "overhead bits per frame); minimum = the xDLMS request + response bytes alone",
        "",
        "| exchange | frames | wire bytes | payload bytes | bytes / min | airtime | min airtime "
        "| airtime / min | latency | framing min | bytes / framing min | airtime / framing min |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for v in report["per_exchange"].values():
        lines.append(
            f"| {v['what']} | {v['frames']} ({v['data_frames']} data) | {v['wire_bytes']} | "
            f"{v['payload_bytes']} | {v['bytes_ratio']:.2f}x | {v['airtime_s'] * 1000:.1f} ms | "
            f"{v['payload_airtime_s'] * 1000:.1f} ms | {v['airtime_ratio']:.2f}x | "
            f"{v['latency_s'] * 1000:.0f} ms | {v['framing_min_bytes']} B, "
            f"{v['framing_min_airtime_s'] * 1000:.1f} ms | {v['bytes_vs_framing_min']:.2f}x | "
            f"{v['airtime_vs_framing_min']:.2f}x |"
        )
    lines += [
        "",
        "Reads of every meter queued at once (CSMA, collisions and retries included):",
        "",
        "| meters | read | simulated time | reads per hour | airtime bound | of bound | frames "
        "| lost receptions | retries | failed |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    rows = [(s["meters"], v) for v in report["segment"].values()]
    rows += [(v["meters"], v) for v in report.get("segment_large", {}).values()]
    if "feeder" in report:
        rows.append((report["feeder"]["meters"], report["feeder"]))
    for meters, v in rows:
        share = v["reads_per_hour"] / v["airtime_bound_per_hour"] if v["airtime_bound_per_hour"] else 0.0
        lines.append(
            f"| {meters} | {v['what']} | {v['simulated_s']:.1f} s | {v['reads_per_hour']:,.0f} | "
            f"{v['airtime_bound_per_hour']:,.0f} | {share:.1%} | {v['frames']} | {v['collisions']} | "
            f"{v['retries']} | {v['failed']} |"
        )
    if "feeder" in report:
        lines.append("")
        lines.append(f"Line feeder: up to {report['feeder']['max_hops']} radio hops from the concentrator.")
    lines.append("")
    lines.append(f"(wall time {report['wall_s']} s)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--meters", type=int, default=100, help="meters in the segment (default 100)")
    parser.add_argument("--bit-rate", type=float, default=5400.0, help="channel bit rate (default 5400)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--large", type=int, default=300, help="meters of the large segment (0: none)")
    parser.add_argument("--feeder", type=int, default=30, help="meters on the line feeder (0: none)")
    parser.add_argument("--quick", action="store_true", help="20 meters, a 6-meter feeder: a smoke run")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args(argv)
    meters = 20 if args.quick else args.meters
    large = 0 if args.quick else args.large
    report = run(meters, args.bit_rate, args.seed, large=large, feeder=6 if args.quick else args.feeder)
    report["settings"]["quick"] = bool(args.quick)
    if args.json:
        print(json.dumps(report))
    else:
        print(render(report))
    failed = sum(v["failed"] for v in report["segment"].values())
    failed += sum(v["failed"] for v in report.get("segment_large", {}).values())
    failed += report["feeder"]["failed"] if "feeder" in report else 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
