"""``cosemnet read --profile lon``: read a meter over ISO/IEC 14908-4 CN/IP (UDP) as a data concentrator.

:class:`LonCnipClient` offers what ``cosemnet read`` uses of the blocking wrapper client
(``with client: client.get_attribute(...)``) on top of a :class:`~cosemnet.profiles.lon.dlms.
LonConcentratorEndpoint` driven over one UDP socket (:class:`cosemnet.cli.sim_lon.EndpointPort`), with its
own event loop. The meter is a 14908-1 subnet/node reached through a CN/IP peer (HOST:PORT); the local
socket must be the address the meter sends to (a CN/IP channel has no configuration server here:
``cosemnet sim lon --channel cnip`` prints it).

[design] The reader is node 1/126 of the given domain (any node of the domain would do: meters answer
the source address of each request). Client SAPs with a Table C.1 row (0x10 public, LN, no
authentication) use the pre-established association; any other configuration opens one with an AARQ
and releases it (RLRQ) when done.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import TracebackType
from typing import Final, cast

import click

from cosemnet.cli.sim_lon import EndpointPort
from cosemnet.client.connection import ClientConfig, ClientConnection, Referencing
from cosemnet.client.errors import ClientError
from cosemnet.codec.jsonform import JsonFormError, parse_hex
from cosemnet.codec.obis import Obis
from cosemnet.codec.types import DataValue
from cosemnet.errors import CosemnetError
from cosemnet.profiles.lon.addresses import DOMAIN_LENGTHS, SubnetNodeAddress
from cosemnet.profiles.lon.cnip import CNIP_PORT
from cosemnet.profiles.lon.cnip_transport import PeerAddress
from cosemnet.profiles.lon.dlms import LonConcentratorEndpoint, MeterLink, Request
from cosemnet.profiles.lon.node import Domain, LonNode
from cosemnet.profiles.lon.preestablished import pre_established_for
from cosemnet.profiles.lon.stack import LonStack
from cosemnet.security.hls import Mechanism

READER_SUBNET: Final = 1
READER_NODE: Final = 126
READER_UNIQUE_ID: Final = bytes.fromhex("4C4F4E520001")


def parse_subnet_node(text: str) -> SubnetNodeAddress:
    """``SUBNET/NODE`` (subnet 1..255, node 1..127) -> the address; ValueError otherwise."""
    subnet, sep, node = text.strip().partition("/")
    if not sep or not subnet.isdigit() or not node.isdigit():
        raise ValueError(f"{text!r} is not SUBNET/NODE (e.g. 1/2)")
    s, n = int(subnet), int(node)
    if not 1 <= s <= 255 or not 1 <= n <= 127:
        raise ValueError(f"{text!r}: subnet must be 1..255 and node 1..127")
    return SubnetNodeAddress(s, n)


class LonCnipClient:
    """A blocking reader of one meter over CN/IP (see the module docstring)."""

    def __init__(
        self,
        peer: PeerAddress,
        local: PeerAddress,
        meter: SubnetNodeAddress,
        config: ClientConfig,
        *,
        domain_id: bytes,
        timeout: float = 10.0,
    ) -> None:
        self.peer = peer
        self.local = local
        self.meter = meter
        self.config = config
        self.domain_id = domain_id
        self.timeout = timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._port: EndpointPort | None = None
        self._stop: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._link: MeterLink | None = None
        self._opened_with_aarq = False

    def __enter__(self) -> LonCnipClient:
        self._loop = asyncio.new_event_loop()
        try:
            self._loop.run_until_complete(self._start())
        except BaseException:
            self._close()
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if kind is None and self._opened_with_aarq and self._loop is not None:
                self._loop.run_until_complete(self._call(lambda c: c.release()))
        finally:
            self._close()

    async def _start(self) -> None:
        node = LonNode(READER_UNIQUE_ID, domains=[Domain(self.domain_id, READER_SUBNET, READER_NODE)])
        endpoint = LonConcentratorEndpoint(LonStack(node))
        self._port = EndpointPort(endpoint, [self.peer])
        await self._port.start(self.local)
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(self._port.drive(self._stop))
        cfg = self.config
        row = pre_established_for(cfg.client_sap)
        if (
            row is not None
            and cfg.referencing is row.referencing
            and cfg.mechanism is Mechanism.NONE
            and cfg.ciphering == "none"
            and cfg.server_sap == row.server_sap
        ):
            self._link = endpoint.add_meter(self.meter, pre_established=row, response_timeout=self.timeout)
            return
        self._link = endpoint.add_meter(self.meter, cfg, response_timeout=self.timeout)
        await self._call(lambda c: c.associate())
        self._opened_with_aarq = True

    async def _call(self, request: Request) -> object:
        link, port = self._link, self._port
        assert link is not None and port is not None
        mark = len(link.results)
        link.submit(request)
        port.kick.set()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout + 1.0
        while len(link.results) <= mark:
            if loop.time() > deadline:
                raise CosemnetError(
                    f"no answer from {self.meter.destination_subnet}/"
                    f"{self.meter.destination_node} via {self.peer[0]}:{self.peer[1]}"
                )
            await asyncio.sleep(0.005)
        result = link.results[mark]
        if isinstance(result, Exception):
            raise result
        return result

    def get_attribute(self, class_id: int, instance: Obis, attribute_id: int) -> DataValue:
        """GET one attribute (LN referencing)."""
        if self.config.referencing is not Referencing.LN:
            raise ClientError("--profile lon reads by logical name: leave out --sn")
        if self._loop is None:
            raise ClientError("the client is not open")

        def get(c: ClientConnection) -> bytes | None:
            return c.get(class_id, instance, attribute_id)

        return cast(DataValue, self._loop.run_until_complete(self._call(get)))

    def _close(self) -> None:
        loop = self._loop
        if loop is None:
            return
        try:
            if self._stop is not None:
                self._stop.set()
            if self._task is not None:
                loop.run_until_complete(self._task)
            if self._port is not None:
                loop.run_until_complete(self._port.close())
        finally:
            loop.close()
            self._loop = None


def lon_client_factory(
    host: str,
    peer: PeerAddress,
    config: ClientConfig,
    timeout: float,
    node: str | None,
    local: str | None,
    domain: str,
) -> Callable[[], LonCnipClient]:
    """What ``cosemnet read --profile lon`` opens (click usage errors for bad options).

    ``peer`` comes from ``parse_host(host)``; when ``host`` gives no port, the CN/IP port 1628 is used.
    """
    from cosemnet.cli.read import parse_host

    if node is None or local is None:
        raise click.UsageError("--profile lon needs --lon-node SUBNET/NODE and --lon-local HOST:PORT")
    try:
        meter = parse_subnet_node(node)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--lon-node") from None
    local_address = parse_host(local)
    if not local.strip().endswith(f":{local_address[1]}"):
        raise click.BadParameter("give HOST:PORT", param_hint="--lon-local")
    try:
        domain_id = parse_hex(domain)
    except JsonFormError:
        raise click.BadParameter("hex digits", param_hint="--lon-domain") from None
    if len(domain_id) not in DOMAIN_LENGTHS:
        raise click.BadParameter("a domain ID is 0, 1, 3 or 6 bytes", param_hint="--lon-domain")
    if not host.strip().endswith(f":{peer[1]}"):
        peer = (peer[0], CNIP_PORT)

    def open_client() -> LonCnipClient:
        return LonCnipClient(peer, local_address, meter, config, domain_id=domain_id, timeout=timeout)

    return open_client


__all__ = ["LonCnipClient", "lon_client_factory", "parse_subnet_node"]
