"""A simulated IEC 62056-8-8 segment: one data concentrator and N OSGP meters on one power-line channel.

Shared by ``cosemnet sim lon``, the LON part of ``cosemnet demo`` and ``benchmarks/lon_wire.py``.
Everything runs in simulated time (:class:`~cosemnet.profiles.lon.channel.PowerLineChannel`,
:func:`~cosemnet.profiles.lon.dlms.run_exchange`); nothing sleeps.

What the concentrator reads from every meter [design: the reading plan of the tools]:

* **LN**: on the pre-established public association (client SAP 0x10, Table C.1, no AARQ), one
  GET-with-list of the active energy import register 1-0:1.8.0*255, attributes 2 (value) and 3
  (scaler_unit);
* **SN / utility tables**: an association of the NNAP client (0x20, SN, LLS, ADP protected form) opened
  with an AARQ, then one SN Read of the buffers of BT21 (actual register: the dimensions) and BT23
  (current register data), whose summations are decoded with
  :func:`cosemnet.simulator.osgp_meter.decode_bt23`.

Security (Annex D): with ``security="osgp-aes"`` (the default) every meter is provisioned with a random
long-term key (in the concentrator's :class:`~cosemnet.profiles.lon.osgp_aes.keys.KeyStore`), the
concentrator opens a secure channel with each (:meth:`LonSegment.commission`) and hands out a domain key,
and the protected SAPs (NNAP, management, broadcast) travel under OSGP-AES-128-PSK; ``"none"`` keeps the
null suite on them (explicitly allowed). The public association is unprotected either way (Table 2).

Addresses [design]: one 1-byte domain (:data:`DOMAIN_ID`), the concentrator is subnet 1 node 1, meter
``i`` is subnet ``1 + i // 120`` node ``2 + i % 120`` (so up to 120 meters per subnet).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from rich.markup import escape
from rich.table import Table

from cosemnet.client.connection import ClientConfig, ClientConnection, Referencing
from cosemnet.codec.obis import Obis
from cosemnet.cosem.context import AccessContext
from cosemnet.errors import CosemnetError
from cosemnet.profiles.lon.addresses import SubnetNodeAddress
from cosemnet.profiles.lon.atm import AtmAgent
from cosemnet.profiles.lon.channel import ChannelConfig, PowerLineChannel
from cosemnet.profiles.lon.dlms import LonConcentratorEndpoint, LonMeterEndpoint, MeterLink, run_exchange
from cosemnet.profiles.lon.frames import LonFrame
from cosemnet.profiles.lon.node import Domain, LonNode
from cosemnet.profiles.lon.osgp_aes.agent import (
    ConcentratorSecurity,
    MeterSecurity,
    SecurityEvent,
    SecurityEventKind,
)
from cosemnet.profiles.lon.osgp_aes.keys import KeyStore
from cosemnet.profiles.lon.osgp_aes.setup import null_suite_config, secure_concentrator, secure_meter
from cosemnet.profiles.lon.preestablished import PUBLIC
from cosemnet.profiles.lon.sap import NNAP_CLIENT
from cosemnet.profiles.lon.short_names import table_short_name
from cosemnet.profiles.lon.stack import LonStack, NetworkHook
from cosemnet.security.counters import CounterStore
from cosemnet.security.hls import Mechanism
from cosemnet.simulator.meter import DEFAULT_START
from cosemnet.simulator.osgp_meter import OsgpMeter, build_osgp_meter, decode_bt21, decode_bt23

DOMAIN_ID: Final = b"\x4c"
"""[design] The 1-byte domain of the simulated segment."""

CONCENTRATOR_ADDRESS: Final = SubnetNodeAddress(1, 1)
METERS_PER_SUBNET: Final = 120
MAX_METERS: Final = METERS_PER_SUBNET * 254

ENERGY_REGISTER: Final = Obis.parse("1-0:1.8.0*255")
REGISTER_CLASS_ID: Final = 3
LLS_PASSWORD: Final = b"12345678"
"""The SN reader password of the default simulated-meter profile (a test password)."""

SECURITY_OSGP: Final = "osgp-aes"
SECURITY_NONE: Final = "none"
SECURITY_CHOICES: Final = (SECURITY_OSGP, SECURITY_NONE)

BT21_BUFFER: Final = table_short_name(21, 4)
BT23_BUFFER: Final = table_short_name(23, 4)


def meter_address(index: int) -> SubnetNodeAddress:
    """The subnet/node of meter ``index`` (0-based)."""
    if not 0 <= index < MAX_METERS:
        raise ValueError(f"meter index must be 0..{MAX_METERS - 1}")
    return SubnetNodeAddress(1 + index // METERS_PER_SUBNET, 2 + index % METERS_PER_SUBNET)


def address_text(address: SubnetNodeAddress) -> str:
    return f"{address.destination_subnet}/{address.destination_node}"


def _unique_id(kind: int, index: int) -> bytes:
    return bytes((0x4C, 0x4F, 0x4E, kind)) + index.to_bytes(2, "big")


def meter_unique_id(index: int) -> bytes:
    """The 6-byte unique node ID (Neuron ID) of meter ``index``: its identity in the OSGP suite."""
    return _unique_id(1, index)


class FrameCapture(NetworkHook):
    """Keeps every frame a stack sends (``outbound`` hook), for the wire-efficiency counts."""

    def __init__(self) -> None:
        self.frames: list[LonFrame] = []

    def outbound(self, stack: LonStack, frame: LonFrame) -> LonFrame | None:
        self.frames.append(frame)
        return frame


@dataclass(slots=True)
class SegmentMeter:
    index: int
    address: SubnetNodeAddress
    osgp: OsgpMeter
    endpoint: LonMeterEndpoint
    security: MeterSecurity | None = None

    @property
    def name(self) -> str:
        return self.osgp.meter.logical_device_name.decode("ascii", "replace")


@dataclass(slots=True)
class LonSegment:
    channel: PowerLineChannel
    concentrator: LonConcentratorEndpoint
    meters: list[SegmentMeter]
    capture: FrameCapture
    """Every frame any node of the segment sent."""
    public_links: dict[int, MeterLink] = field(default_factory=dict)
    sn_links: dict[int, MeterLink] = field(default_factory=dict)
    security: str = SECURITY_NONE
    concentrator_security: ConcentratorSecurity | None = None

    def commission(self, limit: float = 3600.0) -> int:
        """Open the secure channel with every meter and hand out a domain key (D.7, D.10.2); returns the
        number of meters with an established channel (every one, unless the channel failed)."""
        agent = self.concentrator_security
        if agent is None:
            return 0
        for meter in self.meters:  # one meter at a time: the set-ups do not collide (decision 0094)
            if not agent.established(meter.address):
                agent.commission(meter.address, _unique_id(1, meter.index), self.channel.now)
                run_exchange(self.channel, self.endpoints(), limit=limit)
        agent.update_domain_key(self.channel.now)
        run_exchange(self.channel, self.endpoints(), limit=limit)
        return sum(1 for m in self.meters if agent.established(m.address))

    def endpoints(self) -> list[Any]:
        return [self.concentrator, *(m.endpoint for m in self.meters)]

    def run(self, limit: float = 3600.0) -> float:
        """Run until every queued request is answered (or ``limit`` simulated seconds); the time reached."""
        return run_exchange(self.channel, self.endpoints(), limit=limit)

    def public_link(self, meter: SegmentMeter) -> MeterLink:
        link = self.public_links.get(meter.index)
        if link is None:
            link = self.concentrator.add_meter(meter.address, pre_established=PUBLIC)
            self.public_links[meter.index] = link
        return link

    def sn_link(self, meter: SegmentMeter) -> MeterLink:
        """The NNAP (SN, LLS) link; its AARQ is queued the first time."""
        link = self.sn_links.get(meter.index)
        if link is None:
            config = ClientConfig(
                client_sap=NNAP_CLIENT,
                referencing=Referencing.SN,
                mechanism=Mechanism.LLS,
                password=LLS_PASSWORD,
            )
            link = self.concentrator.add_meter(meter.address, config)
            link.submit(_associate)
            self.sn_links[meter.index] = link
        return link


def _associate(connection: ClientConnection) -> bytes | None:
    return connection.associate() if not connection.is_associated else None


def build_segment(
    count: int,
    *,
    seed: int = 0,
    history: _dt.timedelta = _dt.timedelta(0),
    start: _dt.datetime = DEFAULT_START,
    channel_config: ChannelConfig | None = None,
    security: str = SECURITY_OSGP,
    commission: bool = True,
    keystore: KeyStore | None = None,
    counter_store: CounterStore | None = None,
    configured: bool = True,
) -> LonSegment:
    """A concentrator and ``count`` simulated OSGP meters on one power-line channel.

    ``configured=False``: the meters start unconfigured (no domain), each with an Annex F ATM agent, for
    a manager to discover and commission (``cosemnet lon commission``); meter ``i`` is still planned at
    :func:`meter_address` ``(i)``, but a meter takes whatever address its commissioning gives
    (:func:`follow_domain`).

    ``keystore``: the meters' long-term keys (by unique node ID); a meter it lacks gets a random key,
    added to it. ``counter_store``: where the concentrator keeps its frame counters (give a durable
    one with a persisted key store, or a persisted domain key is not sent with).
    ``security``: ``"osgp-aes"`` (Annex D suite; with ``commission`` the secure channels are opened
    before this returns) or ``"none"`` (the null suite, explicitly allowed, on the protected SAPs).

    ``history``: how long the meters ran before ``start`` (their registers hold that much energy; a few
    milliseconds of wall time per simulated day and meter).
    """
    if not 1 <= count <= MAX_METERS:
        raise ValueError(f"the segment holds 1..{MAX_METERS} meters")
    capture = FrameCapture()
    channel = PowerLineChannel(channel_config, seed=seed)
    dc_node = LonNode(
        _unique_id(0, 0),
        domains=[
            Domain(DOMAIN_ID, CONCENTRATOR_ADDRESS.destination_subnet, CONCENTRATOR_ADDRESS.destination_node)
        ],
    )
    if security not in SECURITY_CHOICES:
        raise ValueError(f"security must be one of {', '.join(SECURITY_CHOICES)}")
    plain = null_suite_config() if security == SECURITY_NONE else None
    concentrator = LonConcentratorEndpoint(LonStack(dc_node, hook=capture), adp_config=plain)
    keystore = keystore if keystore is not None else KeyStore()
    dc_security = None
    if security == SECURITY_OSGP:
        dc_security = secure_concentrator(
            concentrator, _unique_id(0, 0), _pair(CONCENTRATOR_ADDRESS), keystore, counter_store=counter_store
        )
    channel.attach(concentrator.stack)
    epoch = start.timestamp()
    meters: list[SegmentMeter] = []
    for index in range(count):
        address = meter_address(index)
        domain = Domain(DOMAIN_ID, address.destination_subnet, address.destination_node)
        node = LonNode(_unique_id(1, index), domains=[domain] if configured else [])
        stack = LonStack(node, hook=capture)
        osgp = build_osgp_meter(
            stack, serial=index + 1, seed=seed * 7919 + index, start=start, history=history
        )
        endpoint = LonMeterEndpoint(
            stack,
            [osgp.served],
            epoch=epoch,
            on_security_event=osgp.record_authentication_failure,
            protocol_setup=osgp.protocol_setup,
            adp_config=plain,
        )
        meter_security = None
        if security == SECURITY_OSGP:
            entry = keystore.entry(_unique_id(1, index))
            if entry is None:  # provisioned at "manufacture": the key store holds a copy
                keystore.provision(_unique_id(1, index), secrets.token_bytes(16))
                entry = keystore.entry(_unique_id(1, index))
            assert entry is not None
            meter_security = secure_meter(
                endpoint, _unique_id(1, index), _pair(address), entry.current, on_event=_event_log(osgp)
            )
        if not configured:
            endpoint.adp.attach(AtmAgent(stack))
        channel.attach(stack)
        meters.append(SegmentMeter(index, address, osgp, endpoint, meter_security))
    segment = LonSegment(
        channel, concentrator, meters, capture, security=security, concentrator_security=dc_security
    )
    if commission and dc_security is not None:
        segment.commission()
    return segment


def follow_domain(meter: SegmentMeter) -> bool:
    """A meter commissioned over the air takes the subnet/node of its first domain table entry as its
    address (and its OSGP suite's); True when it changed."""
    domains = meter.endpoint.stack.node.domains
    domain = domains[0] if domains else None
    if domain is None:
        return False
    pair = (domain.subnet, domain.node)
    if _pair(meter.address) == pair:
        return False
    meter.address = SubnetNodeAddress(*pair)
    if meter.security is not None:
        meter.security.config = dataclasses.replace(meter.security.config, address=pair)
    return True


def _event_log(osgp: OsgpMeter) -> Callable[[SecurityEvent], None]:
    """D.7.6: the suite's intrusion detector writes to the meter's event log (decision 0046)."""

    def log(event: SecurityEvent) -> None:
        if event.kind is SecurityEventKind.INTRUSION_SUSPECTED:
            meter = osgp.meter
            meter.log_event("security_intrusion", AccessContext.local(meter.now, meter.effects))

    return log


def _pair(address: SubnetNodeAddress) -> tuple[int, int]:
    return (address.destination_subnet, address.destination_node)


@dataclass(slots=True)
class MeterRead:
    """What the concentrator read from one meter."""

    address: str
    name: str
    energy: int | None = None
    """1-0:1.8.0 attribute 2 (raw value)."""
    scaler: int | None = None
    unit: int | None = None
    bt23_summations: tuple[int, ...] | None = None
    bt23_demands: tuple[tuple[int, ...], ...] | None = None
    bt23_length: int | None = None
    errors: list[str] = field(default_factory=list)

    @property
    def energy_wh(self) -> float | None:
        if self.energy is None:
            return None
        return self.energy * 10.0 ** (self.scaler or 0)

    def to_json(self) -> dict[str, Any]:
        return {
            "meter": self.address,
            "logical_device_name": self.name,
            "ln": None
            if self.energy is None
            else {
                "obis": str(ENERGY_REGISTER),
                "value": self.energy,
                "scaler": self.scaler,
                "unit": self.unit,
            },
            "bt23": None
            if self.bt23_summations is None
            else {
                "length": self.bt23_length,
                "summations": list(self.bt23_summations),
                "demands": [list(d) for d in self.bt23_demands or ()],
            },
            "errors": self.errors,
        }


@dataclass(slots=True)
class ChannelSummary:
    frames: int
    bytes: int
    airtime: float
    busy_time: float
    utilisation: float
    collisions: int
    collided_frames: int
    losses: int
    deferrals: int
    deliveries: int
    retries: int
    """14908-1 retransmissions (transmit_tx_retries) summed over every node."""

    def to_json(self) -> dict[str, Any]:
        return {
            "frames": self.frames,
            "bytes": self.bytes,
            "airtime_s": round(self.airtime, 4),
            "busy_time_s": round(self.busy_time, 4),
            "utilisation": round(self.utilisation, 4),
            "collisions": self.collisions,
            "collided_frames": self.collided_frames,
            "losses": self.losses,
            "deferrals": self.deferrals,
            "deliveries": self.deliveries,
            "retries": self.retries,
        }


@dataclass(slots=True)
class SegmentReport:
    reads: list[MeterRead]
    simulated_seconds: float
    wall_seconds: float
    channel: ChannelSummary
    bit_rate: float
    security: str = SECURITY_NONE

    @property
    def ok(self) -> bool:
        return all(not r.errors for r in self.reads)

    def to_json(self) -> dict[str, Any]:
        return {
            "meters": len(self.reads),
            "security": self.security,
            "read_ok": sum(1 for r in self.reads if not r.errors),
            "ok": self.ok,
            "bit_rate": self.bit_rate,
            "simulated_seconds": round(self.simulated_seconds, 3),
            "wall_seconds": round(self.wall_seconds, 3),
            "channel": self.channel.to_json(),
            "reads": [r.to_json() for r in self.reads],
        }


def channel_summary(segment: LonSegment, elapsed: float) -> ChannelSummary:
    s = segment.channel.statistics
    retries = segment.concentrator.stack.statistics.transmit_tx_retries + sum(
        m.endpoint.stack.statistics.transmit_tx_retries for m in segment.meters
    )
    return ChannelSummary(
        frames=s.frames,
        bytes=s.bytes,
        airtime=s.airtime,
        busy_time=s.busy_time,
        utilisation=s.utilisation(elapsed),
        collisions=s.collisions,
        collided_frames=s.collided_frames,
        losses=s.losses,
        deferrals=s.deferrals,
        deliveries=s.deliveries,
        retries=retries,
    )


def ln_request(connection: ClientConnection) -> bytes | None:
    """GET-with-list of 1-0:1.8.0 value and scaler_unit."""
    items: list[tuple[int, Obis | str, int]] = [
        (REGISTER_CLASS_ID, ENERGY_REGISTER, 2),
        (REGISTER_CLASS_ID, ENERGY_REGISTER, 3),
    ]
    return connection.get_with_list(items)


def sn_request(connection: ClientConnection) -> bytes | None:
    """SN Read of the BT21 and BT23 buffers."""
    return connection.read([BT21_BUFFER, BT23_BUFFER])


def read_segment(
    segment: LonSegment,
    *,
    ln: bool = True,
    sn: bool = True,
    limit: float = 3600.0,
    only: list[SegmentMeter] | None = None,
) -> SegmentReport:
    """The concentrator reads every meter (or those in ``only``; LN and/or SN, see the module docstring),
    all queued at once."""
    started = time.perf_counter()
    t0 = segment.channel.now
    marks: dict[tuple[str, int], int] = {}
    meters = segment.meters if only is None else only
    for meter in meters:
        if ln:
            link = segment.public_link(meter)
            marks[("ln", meter.index)] = len(link.results)
            link.submit(ln_request)
        if sn:
            link = segment.sn_link(meter)
            marks[("sn", meter.index)] = len(link.results)
            link.submit(sn_request)
    end = segment.run(limit)
    reads: list[MeterRead] = []
    for meter in meters:
        read = MeterRead(address_text(meter.address), meter.name)
        if ln:
            fill_ln(read, segment.public_links[meter.index].results[marks[("ln", meter.index)] :])
        if sn:
            fill_sn(read, segment.sn_links[meter.index].results[marks[("sn", meter.index)] :])
        reads.append(read)
    elapsed = end - t0
    return SegmentReport(
        reads,
        elapsed,
        time.perf_counter() - started,
        channel_summary(segment, end),
        segment.channel.config.bit_rate,
        segment.security,
    )


def segment_table(reads: list[MeterRead]) -> Table:
    """A rich table of what was read: one row per meter."""
    table = Table(show_edge=False, pad_edge=False, box=None, header_style="bold")
    table.add_column("meter", justify="right")
    table.add_column("logical device")
    table.add_column("LN 1-0:1.8.0 (kWh)", justify="right")
    table.add_column("SN BT23 +A (kWh)", justify="right")
    table.add_column("more BT23 summations (Wh)")
    for read in reads:
        ln = "-" if read.energy_wh is None else f"{read.energy_wh / 1000:,.3f}"
        sums = read.bt23_summations or ()
        bt23 = "-" if not sums else f"{sums[0] / 1000:,.3f}"
        rest = " ".join(str(v) for v in sums[1:4]) + (" …" if len(sums) > 4 else "")
        status = "" if not read.errors else f" [red]{escape('; '.join(read.errors))}[/]"
        table.add_row(read.address, escape(read.name), ln, bt23, rest + status)
    return table


def channel_text(report: SegmentReport) -> str:
    """One line of channel statistics (rich markup)."""
    ch = report.channel
    return (
        f"channel: {ch.frames:,} frames, {ch.bytes:,} bytes, airtime {ch.airtime:.1f} s in "
        f"{report.simulated_seconds:.1f} s simulated (utilisation {ch.utilisation:.0%}), "
        f"{ch.collisions:,} receptions lost to collisions ({ch.collided_frames} frames), "
        f"{ch.retries} retries, {ch.deferrals} deferrals; {report.wall_seconds:.2f} s of wall time"
    )


def fill_ln(read: MeterRead, results: list[object]) -> None:
    """Fill ``read`` from the results of an :func:`ln_request`."""
    if not results:
        read.errors.append("LN: no answer")
        return
    result = results[-1]
    if isinstance(result, Exception):
        read.errors.append(f"LN: {result}")
        return
    if not isinstance(result, list) or len(result) != 2:
        read.errors.append(f"LN: unexpected result {result!r}")
        return
    value, scaler_unit = result
    if isinstance(value, int):
        read.energy = int(value)
    else:
        read.errors.append(f"LN value: {value}")
    if isinstance(scaler_unit, tuple) and len(scaler_unit) == 2:
        read.scaler, read.unit = int(scaler_unit[0]), int(scaler_unit[1])


def fill_sn(read: MeterRead, results: list[object]) -> None:
    """Fill ``read`` from the results of an optional AARQ and an :func:`sn_request`."""
    if not results:
        read.errors.append("SN: no answer")
        return
    for result in results[:-1]:  # the AARQ, when it was queued with this read
        if isinstance(result, Exception):
            read.errors.append(f"SN association: {result}")
            return
    result = results[-1]
    if isinstance(result, Exception):
        read.errors.append(f"SN: {result}")
        return
    if not isinstance(result, list) or len(result) != 2:
        read.errors.append(f"SN: unexpected result {result!r}")
        return
    bt21, bt23 = result
    if not isinstance(bt21, bytes) or not isinstance(bt23, bytes):
        read.errors.append(f"SN: {bt21 if not isinstance(bt21, bytes) else bt23}")
        return
    try:
        data = decode_bt23(bt23, decode_bt21(bt21))
    except CosemnetError as exc:
        read.errors.append(f"BT23: {exc}")
        return
    read.bt23_summations = data.summations
    read.bt23_demands = data.demands
    read.bt23_length = len(bt23)


__all__ = [
    "BT21_BUFFER",
    "BT23_BUFFER",
    "CONCENTRATOR_ADDRESS",
    "DOMAIN_ID",
    "ENERGY_REGISTER",
    "LLS_PASSWORD",
    "REGISTER_CLASS_ID",
    "SECURITY_CHOICES",
    "SECURITY_NONE",
    "SECURITY_OSGP",
    "ChannelSummary",
    "FrameCapture",
    "LonSegment",
    "MeterRead",
    "SegmentMeter",
    "SegmentReport",
    "address_text",
    "build_segment",
    "channel_summary",
    "channel_text",
    "fill_ln",
    "fill_sn",
    "follow_domain",
    "ln_request",
    "meter_address",
    "meter_unique_id",
    "read_segment",
    "segment_table",
    "sn_request",
]
