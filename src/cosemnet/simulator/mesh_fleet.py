"""A fleet of simulated mesh meters (IEC TS 62056-8-20) in one asyncio event loop.

Each meter is a :class:`~cosemnet.profiles.mesh.meter_node.MeshMeterNode` around a
:class:`~cosemnet.simulator.SimulatedMeter` built from one shared template, with its own system title,
its own IPv6 address / UDP port and its own UDP socket. Design choices (decision record
``docs/decisions/0026-mesh-meter-node.md``):

* **Addressing.** Default: every meter on ``::1`` (``host``) with a distinct UDP port
  (``port_base + index``, or ephemeral ports with ``port_base = 0``); an address change gives the meter
  a new port (and a new socket). With ``anyip_prefix`` (e.g. ``fd00:c05e::/64``) every meter binds its
  own address ``prefix::100``, ``prefix::101``, ... on ``udp_port`` (default 61616) and an address
  change moves it to a new host number; this needs a local route for the prefix (``ip -6 route add
  local fd00:c05e::/64 dev lo``, root), which the fleet never adds by itself; the sockets bind with
  ``IP_FREEBIND`` (Linux). Sockets (``sockets``, decision docs/decisions/0118): in AnyIP mode one
  socket serves the whole fleet by default (``"shared"``: bound to ``[shared_host]:udp_port``, the
  destination address of each datagram from ``IPV6_PKTINFO``, each answer sent from its meter's own
  address, see :mod:`cosemnet.simulator.shared_socket`), so the fleet's file descriptors do not
  grow with its size; ``"per-meter"`` keeps one socket per meter (the only mode on ``::1``, where
  meters are told apart by their ports).
* **Group requests.** Loopback has no IPv6 multicast routing, so the fleet opens a *group gateway*
  socket emulating the mesh's multicast forwarding (MPL): a datagram sent to it is ``IPv6 multicast
  destination address (16 bytes) || wrapper frame``; the fleet delivers the frame to every online
  meter with that destination address (each meter decides membership and protection itself) and the
  answers come back from the meters' own sockets to the sender. [design] simulator-only envelope.
* **Impairments** on every datagram a meter sends: loss (dropped), duplication (sent twice) and
  reordering (held back by a random delay up to ``reorder_delay``), each with its probability, and
  latency: each meter has its own delay drawn from ``latency`` (min, max seconds), and each datagram
  adds a jitter of up to ``jitter`` times that delay (the whole round trip is put on the meter's
  answers). :class:`LinkModel` decides, sans-IO and deterministically from ``seed``, when (and how
  many times) each datagram is delivered; the fleet only arms the timers.
* **Churn**: ``churn`` events per second over the whole fleet (Poisson); an event picks a random meter:
  an online meter changes its address (probability ``address_change_share``) or leaves the mesh; a
  meter that left rejoins after an exponential time (mean ``rejoin_after`` s), at its old address or
  (probability 0.5) a new one.
* **Memory**: meters share their template (:func:`fleet_profile`: the default profile with 4 load
  profile rows, 4 event log rows, LN associations only, no image transfer
  or demand register) and one registration RNG.

Time is the wall clock (``clock``, POSIX seconds), as for :mod:`cosemnet.server.asyncio_server`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as _dt
import errno
import heapq
import ipaddress
import logging
import random
import socket
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Final

from cosemnet.profiles.mesh.groups import ALL_METERS_GROUP, DEFAULT_SCHEME, GroupMembership, MulticastScheme
from cosemnet.profiles.mesh.meter_node import MeshMeterNode, Outgoing
from cosemnet.profiles.mesh.ports import MESH_UDP_PORT, MeshPortConfig
from cosemnet.profiles.mesh.push_schedule import PushSchedule, RepetitionDelay
from cosemnet.profiles.mesh.response_window import ResponseWindow
from cosemnet.simulator.meter import MeterTemplate, PushEvent, SimulatedMeter, build_meter, compile_profile
from cosemnet.simulator.profile import ImageTransferConfig, parse_profile
from cosemnet.simulator.shared_socket import SharedDatagramSocket
from cosemnet.trace import Direction, FrameObserver, FrameRecord, Transport

__all__ = [
    "ANYIP_FIRST_HOST",
    "FLEET_EVENT_ENTRIES",
    "FLEET_PROFILE_ENTRIES",
    "GATEWAY_HEADER",
    "FleetConfig",
    "FleetStats",
    "LinkModel",
    "MeshFleet",
    "fleet_profile",
    "group_gateway_datagram",
]

logger = logging.getLogger(__name__)

_IP_FREEBIND: Final = getattr(socket, "IP_FREEBIND", 15)
"""Linux IP_FREEBIND (also honoured by IPv6 sockets): bind an address that is not configured."""

ANYIP_FIRST_HOST: Final = 0x100
"""In AnyIP mode meter addresses start at ``prefix::100`` (lower ones stay free for the head-end)."""

GATEWAY_HEADER: Final = 16
"""Bytes of the group gateway envelope before the wrapper frame (the IPv6 multicast destination)."""

FLEET_PROFILE_ENTRIES: Final = 4
"""Load-profile rows a fleet meter keeps (one hour of quarter hours; ~330 B per row)."""
FLEET_EVENT_ENTRIES: Final = 4

_template: MeterTemplate | None = None
_image_templates: dict[int, MeterTemplate] = {}


def fleet_profile(image_block_size: int | None = None) -> MeterTemplate:
    """The shared template of fleet meters (cached): the default profile with a small load profile
    (4 rows) and event log (4 rows), without the short-name reader association (client 17), image
    transfer and demand register, so that a meter with full logs stays under 20 KiB.
    ``image_block_size``: the same with an image transfer object of that block size (firmware)."""
    global _template
    if image_block_size is not None:
        found = _image_templates.get(image_block_size)
        if found is None:
            transfer = ImageTransferConfig(block_size=image_block_size)
            profile = dataclasses.replace(fleet_profile().profile, image_transfer=transfer)
            found = _image_templates[image_block_size] = compile_profile(profile)
        return found
    if _template is None:
        text = resources.files("cosemnet.simulator").joinpath("profiles/default.toml").read_text("utf-8")
        data: dict[str, Any] = tomllib.loads(text)
        data["load_profile"]["profile_entries"] = FLEET_PROFILE_ENTRIES
        data["load_profile"]["max_entries"] = 96
        data["event_log"]["profile_entries"] = FLEET_EVENT_ENTRIES
        # mesh meters are LN only (no short-name reader association),
        data["associations"] = [a for a in data["associations"] if a.get("referencing") != "sn"]
        # nor firmware image transfer and demand register (memory: ~0.9 KB and ~1.4 KB per meter)
        data.pop("image_transfer", None)
        data.pop("demand_registers", None)
        gone = {"1-0:0.2.0*255", "1-0:1.4.0*255"}
        for association in data["associations"]:
            if isinstance(association.get("objects"), list):
                association["objects"] = [o for o in association["objects"] if o not in gone]
        _template = compile_profile(parse_profile(data))
    return _template


def group_gateway_datagram(group_address: ipaddress.IPv6Address | str, frame: bytes) -> bytes:
    """The datagram a head-end sends to the fleet's group gateway for ``frame`` to ``group_address``."""
    return ipaddress.IPv6Address(group_address).packed + frame


@dataclass(slots=True)
class FleetConfig:
    """How the fleet runs (every probability 0..1, times in seconds)."""

    meters: int
    head_end: tuple[str, int]
    host: str = "::1"
    port_base: int = 0
    """First UDP port (meter i gets port_base + i); 0 = ephemeral ports."""
    anyip_prefix: str | None = None
    udp_port: int = MESH_UDP_PORT
    """The meters' port in AnyIP mode."""
    sockets: str = "auto"
    """``"shared"`` (one socket for every meter, AnyIP only), ``"per-meter"``, or ``"auto"``: shared
    with ``anyip_prefix``, per meter without (docs/decisions/0118)."""
    shared_host: str = "::"
    """The address the shared socket binds (with ``udp_port``)."""
    churn: float = 0.0
    address_change_share: float = 0.5
    rejoin_after: float = 5.0
    loss: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0
    reorder_delay: float = 0.05
    latency: tuple[float, float] = (0.0, 0.0)
    """Per-meter one-way delay of the meters' datagrams, drawn uniformly from (min, max) seconds."""
    jitter: float = 0.0
    """Per-datagram extra delay, uniform in [0, jitter * the meter's latency]."""
    seed: int = 0
    randomisation_start_interval: int = 1
    number_of_retries: int = 5
    repetition_delay: int = 2
    response_window: ResponseWindow = field(default_factory=lambda: ResponseWindow(0, 2000))
    groups: int = 0
    """Meter i is a static member of group ``1 + i % groups`` (0: no groups besides group 0)."""
    scheme: MulticastScheme = DEFAULT_SCHEME
    gateway_port: int | None = 0
    """Port of the group gateway on ``host`` (0 = ephemeral, None = no gateway)."""
    start_joined: bool = True
    plain_registrations: bool = False
    """[lab option] register unprotected and act on plain confirmations (decision 0036); by default
    registrations are general-glo-ciphered with each meter's management keys."""
    image_block_size: int | None = None
    """Give every meter the image transfer object (class 18) with this image_block_size (firmware
    campaigns); None: no image transfer (the smaller default template)."""

    def __post_init__(self) -> None:
        if self.meters < 0:
            raise ValueError("meters must not be negative")
        if self.sockets not in ("auto", "shared", "per-meter"):
            raise ValueError("sockets must be auto, shared or per-meter")
        if self.sockets == "shared" and not self.anyip_prefix:
            raise ValueError("a shared socket needs an AnyIP prefix (one address per meter)")
        for name in ("loss", "duplicate", "reorder", "address_change_share"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be 0..1")
        if self.churn < 0 or self.rejoin_after <= 0 or self.reorder_delay < 0:
            raise ValueError("churn, rejoin_after and reorder_delay must be positive")
        low, high = self.latency
        if not 0.0 <= low <= high or self.jitter < 0:
            raise ValueError("latency must be 0 <= min <= max, jitter >= 0")


@dataclass(slots=True)
class FleetStats:
    datagrams_sent: int = 0
    datagrams_received: int = 0
    lost: int = 0
    duplicated: int = 0
    reordered: int = 0
    joins: int = 0
    leaves: int = 0
    address_changes: int = 0
    group_datagrams: int = 0
    send_errors: int = 0
    unaddressed: int = 0
    """Datagrams to the shared socket for an address no meter has (any more)."""

    def as_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


class LinkModel:
    """When the datagrams a meter sends arrive (sans-IO): loss, duplication, reordering, per-meter
    latency and jitter, from ``config`` and a generator seeded with ``config.seed`` (same seed and
    same sequence of calls: same schedule)."""

    def __init__(self, config: FleetConfig) -> None:
        self.config = config
        self.rng = random.Random(f"cosemnet-link-{config.seed}")
        self._latency: dict[int, float] = {}

    def latency(self, index: int) -> float:
        """Meter ``index``'s own delay (seconds), a function of the seed and the index only."""
        found = self._latency.get(index)
        if found is None:
            low, high = self.config.latency
            found = random.Random(f"cosemnet-latency-{self.config.seed}-{index}").uniform(low, high)
            self._latency[index] = found
        return found

    def schedule(self, index: int, now: float, stats: FleetStats | None = None) -> list[float]:
        """Delivery times of one datagram sent by meter ``index`` at ``now`` (empty: lost; two:
        duplicated)."""
        cfg = self.config
        rng = self.rng
        if cfg.loss and rng.random() < cfg.loss:
            if stats is not None:
                stats.lost += 1
            return []
        copies = 2 if cfg.duplicate and rng.random() < cfg.duplicate else 1
        if copies == 2 and stats is not None:
            stats.duplicated += 1
        base = self.latency(index) if cfg.latency[1] > 0 else 0.0
        times = []
        for _ in range(copies):
            at = now + base
            if base and cfg.jitter:
                at += rng.uniform(0.0, cfg.jitter * base)
            if cfg.reorder and rng.random() < cfg.reorder:
                if stats is not None:
                    stats.reordered += 1
                at += rng.uniform(0.0, cfg.reorder_delay)
            times.append(at)
        return times


class _MeterProtocol(asyncio.DatagramProtocol):
    __slots__ = ("fleet", "index", "transport")

    def __init__(self, fleet: MeshFleet, index: int) -> None:
        self.fleet = fleet
        self.index = index
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a datagram transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.fleet._received(self.index, data, addr)

    def error_received(self, exc: Exception) -> None:  # pragma: no cover - ICMP port unreachable
        self.fleet.stats.send_errors += 1


class _GatewayProtocol(asyncio.DatagramProtocol):
    def __init__(self, fleet: MeshFleet) -> None:
        self.fleet = fleet

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.fleet._group_datagram(data, addr)


class MeshFleet:
    """N mesh meters sharing one event loop (see the module docstring).

    ::

        fleet = MeshFleet(FleetConfig(meters=100, head_end=("::1", 61616)))
        await fleet.start()            # sockets bound, every meter joins (registration starts)
        await fleet.run(60)            # churn for 60 s
        await fleet.stop()
    """

    def __init__(self, config: FleetConfig, *, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.clock = clock
        self.rng = random.Random(config.seed)
        self.link = LinkModel(config)
        self.stats = FleetStats()
        self.nodes: list[MeshMeterNode] = []
        self._protocols: list[_MeterProtocol | None] = []
        self._scheduled: list[float | None] = []
        self._heap: list[tuple[float, int]] = []
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._gateway: asyncio.DatagramTransport | None = None
        self._next_host = ANYIP_FIRST_HOST - 1
        self._next_port = 0
        self._prefix = ipaddress.IPv6Network(config.anyip_prefix) if config.anyip_prefix else None
        self._rejoin: list[tuple[float, int]] = []
        self._closed = False
        self._registered: list[bool] = []
        self._registered_count = 0
        self.observer: FrameObserver | None = None
        """Sees every datagram a meter sends or receives (``sim mesh --trace/--pcap``); None: no cost."""
        self.shared_socket: SharedDatagramSocket | None = None
        self._by_address: dict[bytes, int] = {}
        """Shared-socket mode: meter index by its current address (16 bytes)."""

    @property
    def wants_shared_socket(self) -> bool:
        """True when the configuration asks for one socket for every meter (docs/decisions/0118);
        :attr:`shared_socket` is that socket once open."""
        mode = self.config.sockets
        return mode == "shared" or (mode == "auto" and self._prefix is not None)

    # ----------------------------------------------------------------------------------------------
    # Addresses

    def _allocate(self) -> tuple[str, int]:
        """A fresh (address, port) for a meter (port 0: ephemeral, read back after binding)."""
        cfg = self.config
        if self._prefix is not None:
            self._next_host += 1
            if self._next_host >= self._prefix.num_addresses:
                raise RuntimeError("AnyIP prefix exhausted")
            return str(self._prefix[self._next_host]), cfg.udp_port
        if cfg.port_base:
            port = cfg.port_base + self._next_port
            self._next_port += 1
            if port > 0xFFFF:
                raise RuntimeError("port range exhausted")
            return cfg.host, port
        return cfg.host, 0

    async def _bind(self, index: int, host: str, port: int) -> tuple[str, int]:
        if self.shared_socket is not None:
            self._by_address[ipaddress.IPv6Address(host).packed] = index
            return host, port
        loop = asyncio.get_running_loop()
        protocol = _MeterProtocol(self, index)
        if self._prefix is None:
            transport, _ = await loop.create_datagram_endpoint(lambda: protocol, local_addr=(host, port))
        else:
            # an address of the AnyIP prefix is routed locally but not configured: bind it freely
            sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
            try:
                sock.setsockopt(socket.SOL_IP, _IP_FREEBIND, 1)
                sock.setblocking(False)
                sock.bind((host, port))
            except OSError:
                sock.close()
                raise
            transport, _ = await loop.create_datagram_endpoint(lambda: protocol, sock=sock)
        sockname = transport.get_extra_info("sockname")
        self._protocols[index] = protocol
        return str(sockname[0]), int(sockname[1])

    def _unbind(self, index: int) -> None:
        """Meter ``index`` leaves its current address (its socket closes, or the shared socket stops
        delivering that address to it)."""
        if self.shared_socket is not None:
            key = self.nodes[index].address.packed
            if self._by_address.get(key) == index:
                del self._by_address[key]
            return
        protocol = self._protocols[index]
        if protocol is not None and protocol.transport is not None:
            protocol.transport.close()
        self._protocols[index] = None

    def endpoint(self, index: int) -> tuple[str, int]:
        """The (address, port) meter ``index`` currently listens on."""
        node = self.nodes[index]
        return node.address.compressed, node.udp_port

    @property
    def group_gateway(self) -> tuple[str, int] | None:
        if self._gateway is None:
            return None
        sockname = self._gateway.get_extra_info("sockname")
        return str(sockname[0]), int(sockname[1])

    # ----------------------------------------------------------------------------------------------
    # Life cycle

    async def start(self) -> None:
        """Build the meters, bind their sockets (and the group gateway) and let them join."""
        cfg = self.config
        loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        now = self.clock()
        template = fleet_profile(cfg.image_block_size)
        start = _dt.datetime.fromtimestamp(now, _dt.UTC)
        schedule = PushSchedule(
            (),
            cfg.randomisation_start_interval,
            cfg.number_of_retries,
            RepetitionDelay.constant(cfg.repetition_delay),
        )
        ports = MeshPortConfig(udp_port=cfg.udp_port, head_end_udp_port=cfg.head_end[1])
        if self.wants_shared_socket:
            self._open_shared_socket()
        for i in range(cfg.meters):
            meter = build_meter(template, serial=i + 1, seed=cfg.seed + i, start=start)
            membership = GroupMembership.static([1 + i % cfg.groups]) if cfg.groups else GroupMembership(())
            self._protocols.append(None)
            self._scheduled.append(None)
            self._registered.append(False)
            host, port = await self._bind(i, *self._allocate())
            node = MeshMeterNode(
                meter,
                address=host,
                udp_port=port,
                head_end=cfg.head_end,
                ports=ports,
                schedule=schedule,
                rng=self.rng,
                membership=membership,
                response_window=cfg.response_window,
                scheme=cfg.scheme,
                seed=cfg.seed + i,
                protect_registrations=not cfg.plain_registrations,
            )
            self.nodes.append(node)
        if cfg.gateway_port is not None:
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _GatewayProtocol(self), local_addr=(cfg.host, cfg.gateway_port)
            )
            self._gateway = transport
        self._task = asyncio.create_task(self._scheduler())
        if cfg.start_joined:
            now = self.clock()
            for i in range(cfg.meters):
                self.join(i, now)

    def _open_shared_socket(self) -> None:
        """The fleet's one socket; in ``auto`` mode, when ``[shared_host]:udp_port`` is taken (a
        head-end on the meters' port at an address of the same host: a wildcard bind conflicts with
        it), one socket per meter instead (docs/decisions/0118)."""
        cfg = self.config
        shared = SharedDatagramSocket(self._shared_received)
        try:
            shared.open(cfg.shared_host, cfg.udp_port)
        except OSError as exc:
            if cfg.sockets == "shared" or exc.errno != errno.EADDRINUSE:
                raise
            logger.warning(
                "[%s]:%d is in use: one socket per meter instead of a shared socket",
                cfg.shared_host,
                cfg.udp_port,
            )
            return
        self.shared_socket = shared

    async def stop(self) -> None:
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for protocol in self._protocols:
            if protocol is not None and protocol.transport is not None:
                protocol.transport.close()
        if self.shared_socket is not None:
            self.shared_socket.close()
        if self._gateway is not None:
            self._gateway.close()
            self._gateway = None
        for node in self.nodes:
            node.server.close()
        await asyncio.sleep(0)

    async def __aenter__(self) -> MeshFleet:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ----------------------------------------------------------------------------------------------
    # Mesh events

    def join(self, index: int, now: float | None = None) -> None:
        self.stats.joins += 1
        self.nodes[index].join(self.clock() if now is None else now)
        self._track(index)
        self._reschedule(index)

    def leave(self, index: int, now: float | None = None) -> None:
        self.stats.leaves += 1
        self.nodes[index].leave(self.clock() if now is None else now)
        self._track(index)

    async def change_address(self, index: int) -> tuple[str, int]:
        """Move meter ``index`` to a new address (new socket); it pushes address update data."""
        self._unbind(index)
        host, port = await self._bind(index, *self._allocate())
        self.stats.address_changes += 1
        self.nodes[index].change_address(host, self.clock(), port)
        self._track(index)
        self._reschedule(index)
        return host, port

    def raise_alarm(self, index: int, bits: int) -> bool:
        """Raise ``bits`` in meter ``index``'s alarm register; its alarm Push setup pushes the register
        to the head-end (general-glo, like a registration). False: nothing was sent."""
        node, now = self.nodes[index], self.clock()
        meter = node.meter
        assert isinstance(meter, SimulatedMeter)
        if not meter.raise_alarm(bits, node.anchor + _dt.timedelta(seconds=now)):
            return False
        sent = False
        for event in meter.pop_events():  # the meter's other events are dropped, as on requests
            if isinstance(event, PushEvent):
                sent = node.send_push(event.data_notification().encode(), now) or sent
        self._flush(index)
        return sent

    @property
    def registered(self) -> int:
        """Meters whose current binding the head-end confirmed."""
        return self._registered_count

    def _track(self, index: int) -> None:
        now_registered = self.nodes[index].registered
        if now_registered is not self._registered[index]:
            self._registered[index] = now_registered
            self._registered_count += 1 if now_registered else -1

    async def wait_registered(self, timeout: float, count: int | None = None) -> bool:
        """Wait until ``count`` (default: all) meters are registered; False on timeout."""
        target = len(self.nodes) if count is None else count
        end = time.monotonic() + timeout
        while self.registered < target:
            if time.monotonic() >= end:
                return False
            await asyncio.sleep(0.01)
        return True

    async def run(self, duration: float) -> None:
        """Run for ``duration`` seconds with churn (if configured)."""
        cfg = self.config
        end = time.monotonic() + duration
        while True:
            remaining = end - time.monotonic()
            if remaining <= 0:
                return
            if cfg.churn <= 0 or not self.nodes:
                await asyncio.sleep(min(remaining, self._next_rejoin_delay(remaining)))
                await self._rejoins()
                continue
            wait = min(remaining, self.rng.expovariate(cfg.churn), self._next_rejoin_delay(remaining))
            await asyncio.sleep(wait)
            await self._rejoins()
            if time.monotonic() < end and wait < remaining:
                await self.churn_event()

    def _next_rejoin_delay(self, default: float) -> float:
        if not self._rejoin:
            return default
        return max(0.0, self._rejoin[0][0] - self.clock())

    async def _rejoins(self) -> None:
        now = self.clock()
        while self._rejoin and self._rejoin[0][0] <= now:
            _, index = heapq.heappop(self._rejoin)
            if self.nodes[index].online:
                continue
            if self.rng.random() < 0.5:
                self._unbind(index)
                host, port = await self._bind(index, *self._allocate())
                self.nodes[index].address = ipaddress.IPv6Address(host)
                self.nodes[index].udp_port = port
                self.stats.address_changes += 1
            self.join(index, now)

    async def churn_event(self) -> None:
        """One churn event on a random meter (see the module docstring)."""
        index = self.rng.randrange(len(self.nodes))
        node = self.nodes[index]
        if not node.online:
            return
        if self.rng.random() < self.config.address_change_share:
            await self.change_address(index)
        else:
            self.leave(index)
            heapq.heappush(
                self._rejoin, (self.clock() + self.rng.expovariate(1 / self.config.rejoin_after), index)
            )

    # ----------------------------------------------------------------------------------------------
    # Datagrams

    def _observe(self, direction: Direction, local: tuple[str, int], peer: Any, data: bytes) -> None:
        if self.observer is not None:
            peer_address = (str(peer[0]), int(peer[1]))
            self.observer.frame(
                FrameRecord(self.clock(), direction, Transport.UDP, local, peer_address, data)
            )

    def _received(self, index: int, data: bytes, addr: Any) -> None:
        if self.observer is not None:
            self._observe(Direction.RECEIVED, self.endpoint(index), addr, data)
        self.stats.datagrams_received += 1
        self.nodes[index].receive_datagram((str(addr[0]), int(addr[1])), data, self.clock())
        self._flush(index)

    def _shared_received(self, data: bytes, local: bytes, peer: tuple[str, int]) -> None:
        index = self._by_address.get(local)
        if index is None:
            self.stats.unaddressed += 1
            return
        self._received(index, data, peer)

    def _group_datagram(self, data: bytes, addr: Any) -> None:
        if len(data) <= GATEWAY_HEADER:
            return
        self.stats.group_datagrams += 1
        destination = ipaddress.IPv6Address(data[:GATEWAY_HEADER])
        frame = data[GATEWAY_HEADER:]
        source = (str(addr[0]), int(addr[1]))
        now = self.clock()
        group = self.config.scheme.group_id(destination)
        if self.observer is not None:
            self._observe(Direction.RECEIVED, (destination.compressed, self.config.udp_port), addr, frame)
        for index, node in enumerate(self.nodes):
            if not node.online:
                continue
            if group not in (None, ALL_METERS_GROUP) and group not in node.membership.group_ids:
                # the node's IP stack is not subscribed to that group: the mesh drops it there
                continue
            node.receive_datagram(source, frame, now, destination=destination)
            self._flush(index)

    def _flush(self, index: int) -> None:
        node = self.nodes[index]
        node.handle_timer(self.clock())
        for item in node.pop_outgoing():
            self._send(index, item)
        self._track(index)
        self._reschedule(index)

    def _send(self, index: int, item: Outgoing) -> None:
        cfg = self.config
        if not (cfg.loss or cfg.duplicate or cfg.reorder or cfg.latency[1]):
            self._transmit(index, item)
            return
        now = self.clock()
        for at in self.link.schedule(index, now, self.stats):
            if at <= now:
                self._transmit(index, item)
            else:
                asyncio.get_running_loop().call_later(at - now, self._transmit, index, item)

    def _transmit(self, index: int, item: Outgoing) -> None:
        shared = self.shared_socket
        if shared is not None:
            if shared.send(item.datagram, self.nodes[index].address.packed, item.destination):
                self.stats.datagrams_sent += 1
                if self.observer is not None:
                    self._observe(Direction.SENT, self.endpoint(index), item.destination, item.datagram)
            else:
                self.stats.send_errors += 1
            return
        protocol = self._protocols[index]
        if protocol is None or protocol.transport is None or protocol.transport.is_closing():
            self.stats.send_errors += 1
            return
        try:
            protocol.transport.sendto(item.datagram, item.destination)
        except OSError:
            self.stats.send_errors += 1
            return
        self.stats.datagrams_sent += 1
        if self.observer is not None:
            self._observe(Direction.SENT, self.endpoint(index), item.destination, item.datagram)

    # ----------------------------------------------------------------------------------------------
    # Timers

    def _reschedule(self, index: int) -> None:
        deadline = self.nodes[index].get_timer()
        if deadline is None:
            return
        current = self._scheduled[index]
        if current is not None and current <= deadline:
            return
        self._scheduled[index] = deadline
        heapq.heappush(self._heap, (deadline, index))
        if self._wake is not None and self._heap[0] == (deadline, index):
            self._wake.set()

    async def _scheduler(self) -> None:
        wake = self._wake
        assert wake is not None
        heap = self._heap
        burst = 0
        while not self._closed:
            if not heap:
                wake.clear()
                await wake.wait()
                continue
            now = self.clock()
            deadline, index = heap[0]
            if deadline > now:
                wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), timeout=max(0.0, deadline - now))
                continue
            heapq.heappop(heap)
            if self._scheduled[index] != deadline:
                continue  # superseded by an earlier entry that already ran
            self._scheduled[index] = None
            self._flush(index)
            if len(heap) > 4 * len(self.nodes) + 64:
                self._compact()
            burst += 1
            if burst >= 64:  # let the sockets in between long runs of due timers
                burst = 0
                await asyncio.sleep(0)

    def _compact(self) -> None:
        self._heap[:] = [(d, i) for d, i in self._heap if self._scheduled[i] == d]
        heapq.heapify(self._heap)
