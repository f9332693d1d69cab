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

With a key file (``--key-file``, the concentrator's key store that ``cosemnet sim lon --key-file`` writes;
mode 0600 checked, RFC 3394-wrapped when ``COSEMNET_OSGP_KEK`` holds the KEK) the reader first reads the
meter's unique node ID (class 130, 0-0:32.0.0*255 attribute 6) over the public association, looks up its
long-term key, opens an OSGP-AES-128-PSK secure channel with it (Annex D.7) and reads over the protected
management association (client SAP 0x01, pre-established) unless another client SAP is given.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
from collections.abc import Callable
from pathlib import Path
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
from cosemnet.profiles.lon.adp_service import address_key
from cosemnet.profiles.lon.cnip import CNIP_PORT
from cosemnet.profiles.lon.cnip_transport import PeerAddress
from cosemnet.profiles.lon.dlms import LonConcentratorEndpoint, MeterLink, Request
from cosemnet.profiles.lon.node import Domain, LonNode
from cosemnet.profiles.lon.osgp_aes.agent import ChannelState, ConcentratorSecurity
from cosemnet.profiles.lon.osgp_aes.keys import KeyStore, KeyStoreError
from cosemnet.profiles.lon.osgp_aes.setup import secure_concentrator
from cosemnet.profiles.lon.preestablished import PUBLIC, pre_established_for
from cosemnet.profiles.lon.sap import MANAGEMENT_CLIENT, PUBLIC_CLIENT
from cosemnet.profiles.lon.stack import LonStack
from cosemnet.security.hls import Mechanism
from cosemnet.trace import FrameObserver

READER_SUBNET: Final = 1
READER_NODE: Final = 126
READER_UNIQUE_ID: Final = bytes.fromhex("4C4F4E520001")
IDENTIFICATION: Final = Obis.parse("0-0:32.0.0*255")
IDENTIFICATION_CLASS_ID: Final = 130
UNIQUE_NODE_ID_ATTRIBUTE: Final = 6
KEK_ENVIRONMENT_VARIABLE: Final = "COSEMNET_OSGP_KEK"


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
        keystore: KeyStore | None = None,
        observer: FrameObserver | None = None,
    ) -> None:
        self.keystore = keystore
        self.observer = observer
        """``--trace`` / ``--pcap``: sees every CN/IP datagram of the reader's port."""
        self.security: ConcentratorSecurity | None = None
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
        """Start the client's event loop and CN/IP socket."""
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
        """Release the association (after a clean exit, when this client opened it), then close the
        socket and the event loop."""
        try:
            if kind is None and self._opened_with_aarq and self._loop is not None:
                self._loop.run_until_complete(self._call(lambda c: c.release()))
        finally:
            self._close()

    async def _start(self) -> None:
        node = LonNode(READER_UNIQUE_ID, domains=[Domain(self.domain_id, READER_SUBNET, READER_NODE)])
        endpoint = LonConcentratorEndpoint(LonStack(node))
        self._port = EndpointPort(endpoint, [self.peer])
        self._port.observer = self.observer
        await self._port.start(self.local)
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(self._port.drive(self._stop))
        cfg = self.config
        if self.keystore is not None:
            await self._secure_channel(endpoint)
            if cfg.client_sap == PUBLIC_CLIENT:
                cfg = self.config = dataclasses.replace(cfg, client_sap=MANAGEMENT_CLIENT)
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

    async def _secure_channel(self, endpoint: LonConcentratorEndpoint) -> None:
        """Read the meter's unique node ID, find its key, open the secure channel (D.7)."""
        assert self.keystore is not None and self._port is not None
        agent = secure_concentrator(endpoint, READER_UNIQUE_ID, (READER_SUBNET, READER_NODE), self.keystore)
        self.security = agent
        self._link = endpoint.add_meter(self.meter, pre_established=PUBLIC, response_timeout=self.timeout)

        def unique_id(c: ClientConnection) -> bytes | None:
            return c.get(IDENTIFICATION_CLASS_ID, IDENTIFICATION, UNIQUE_NODE_ID_ATTRIBUTE)

        node_id = await self._call(unique_id)
        where = f"{self.meter.destination_subnet}/{self.meter.destination_node}"
        if not isinstance(node_id, bytes) or len(node_id) != 6:
            raise CosemnetError(f"meter {where} gave no unique node ID")
        if self.keystore.entry(node_id) is None:
            raise CosemnetError(
                f"the key file holds no key for meter {where} (unique node ID {node_id.hex()})"
            )
        loop = asyncio.get_running_loop()
        agent.commission(self.meter, node_id, loop.time())
        self._port.kick.set()
        deadline = loop.time() + self.timeout * 4
        while not agent.established(self.meter):
            channel = agent.channels.get(address_key(self.meter))
            if agent.stats.rejected["authentication"]:
                raise CosemnetError(f"meter {where} does not hold the key of the key file")
            if loop.time() > deadline or (channel is not None and channel.state is ChannelState.FAILED):
                raise CosemnetError(f"no secure channel with meter {where}")
            await asyncio.sleep(0.005)

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

    def set_attribute(self, class_id: int, instance: Obis, attribute_id: int, value: DataValue) -> None:
        """SET one attribute (LN; ``cosemnet lon set``); a refusal raises the client's AccessError."""
        self._run(lambda c: c.set(class_id, instance, attribute_id, value))

    def invoke_method(
        self, class_id: int, instance: Obis, method_id: int, parameters: DataValue
    ) -> DataValue:
        """ACTION on one method (LN; ``cosemnet lon action``): its return parameters (None: none)."""
        return cast(DataValue, self._run(lambda c: c.action(class_id, instance, method_id, parameters)))

    def _run(self, request: Request) -> object:
        if self._loop is None:
            raise ClientError("the client is not open")
        return self._loop.run_until_complete(self._call(request))

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
    key_file: str | None = None,
) -> Callable[[FrameObserver | None], LonCnipClient]:
    """What ``cosemnet read --profile lon`` opens (click usage errors for bad options).

    ``peer`` comes from ``parse_host(host)``; when ``host`` gives no port, the CN/IP port 1628 is used.
    ``key_file``: the concentrator's key store (see the module docstring).
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

    keystore = None if key_file is None else load_key_file(key_file)

    def open_client(observer: FrameObserver | None = None) -> LonCnipClient:
        return LonCnipClient(
            peer,
            local_address,
            meter,
            config,
            domain_id=domain_id,
            timeout=timeout,
            keystore=keystore,
            observer=observer,
        )

    return open_client


def load_key_file(path: str) -> KeyStore:
    """The key store in ``path`` (mode 0600 checked; unwrapped with the KEK of ``COSEMNET_OSGP_KEK``)."""
    text = os.environ.get(KEK_ENVIRONMENT_VARIABLE, "")
    try:
        kek = bytes.fromhex(text) if text else None
    except ValueError:
        raise click.BadParameter(f"{KEK_ENVIRONMENT_VARIABLE} is not hex") from None
    if kek is not None and len(kek) != 16:
        raise click.BadParameter(f"{KEK_ENVIRONMENT_VARIABLE} must hold 16 bytes")
    try:
        return KeyStore.load(Path(path), kek)
    except KeyStoreError as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        raise click.ClickException(f"cannot read the key file: {exc.strerror}") from None


__all__ = ["LonCnipClient", "load_key_file", "lon_client_factory", "parse_subnet_node"]
