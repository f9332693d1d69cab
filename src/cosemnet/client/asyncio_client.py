"""asyncio client over the IEC 62056-4-7 wrapper, TCP or UDP, IPv4 or IPv6.

A thin adapter: :class:`~cosemnet.client.connection.ClientConnection` decides every byte; this module
moves wrapper frames and keeps time. ::

    async with AsyncClient("meter.example", config=ClientConfig(client_sap=16)) as client:
        energy = await client.read_register("1-0:1.8.0*255")
        objects = await client.object_list()

Timeouts: every answer must arrive within ``timeout`` seconds (:class:`ClientTimeout` otherwise; the
association is then considered lost). Over UDP a request whose answer does not come is sent again, up
to ``retries`` times (design choice: the same bytes, so a ciphered request keeps its invocation counter;
a server that did receive the first copy drops the repeat as a replay and the wait ends in a timeout).
Both are the connection core's own timers (``get_timer``/``handle_timer``), driven by
:func:`cosemnet.aio.run_until`; this adapter keeps no deadline of its own.
Frames whose wPorts do not match the association are ignored.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as _dt
import os
import socket
import time
from collections.abc import Callable
from types import TracebackType
from typing import Literal, TypeVar, cast

from cosemnet.aio import run_until
from cosemnet.client.connection import (
    AssociationInfo,
    ClientConfig,
    ClientConnection,
    ConnectionState,
    Referencing,
    short_name,
)
from cosemnet.client.errors import AccessError, ClientError, ClientTimeout, ProtocolError
from cosemnet.client.events import (
    ActionCompleted,
    ActionWithListCompleted,
    AssociationEstablished,
    ClientEvent,
    FailureKind,
    GetCompleted,
    GetWithListCompleted,
    ReadCompleted,
    ReleaseCompleted,
    ServiceFailed,
    SetCompleted,
    SetWithListCompleted,
    WriteCompleted,
)
from cosemnet.client.objects import (
    SCALED_CLASS_IDS,
    Column,
    ObjectDescription,
    ScaledValue,
    entry_selection,
    parse_capture_objects,
    parse_object_list,
    profile_rows,
    range_selection,
    scaled_value,
    scaler_unit_attribute,
)
from cosemnet.client.requests import (
    Action,
    ActionWithList,
    Associate,
    Get,
    GetWithList,
    Read,
    Release,
    Request,
    Set,
    SetWithList,
    Write,
)
from cosemnet.codec.datetime import CosemDateTime
from cosemnet.codec.obis import Obis
from cosemnet.codec.types import DataValue
from cosemnet.codec.wrapper import WrapperFrame, WrapperStream
from cosemnet.codec.xdlms import ParameterizedAccess, SelectiveAccessDescriptor
from cosemnet.errors import DecodeError
from cosemnet.trace import Direction, FrameObserver, FrameRecord
from cosemnet.trace import Transport as FrameTransport

__all__ = ["DEFAULT_PORT", "AsyncClient", "Transport"]

DEFAULT_PORT = 4059
Transport = Literal["tcp", "udp"]

ASSOCIATION_LN = Obis(b"\x00\x00\x28\x00\x00\xff")
PROFILE_GENERIC = 7

E = TypeVar("E")


def _os_reason(exc: OSError) -> str:
    """ "Connection refused" rather than asyncio's "Connect call failed ('127.0.0.1', 1)"."""
    if exc.errno and exc.errno > 0 and not isinstance(exc, socket.gaierror):
        return os.strerror(exc.errno)
    return str(exc.strerror or exc)


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes | Exception] = asyncio.Queue()
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        self.queue.put_nowait(data)

    def error_received(self, exc: Exception) -> None:
        self.queue.put_nowait(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self.queue.put_nowait(exc or ConnectionResetError("UDP endpoint closed"))


class AsyncClient:
    """One association with one logical device over the 4-7 wrapper.

    ``host``/``port``: the meter (IPv4, IPv6 or a name; 4059 by default); ``config``: the
    association's parameters (SAPs, authentication, keys, ciphering); ``transport``: ``"tcp"`` or
    ``"udp"``; ``timeout``: seconds each answer may take (the connection core's response timer);
    ``retries``: over UDP, how often an unanswered APDU is sent again; ``observer``: a
    :class:`~cosemnet.trace.FrameObserver` handed every wrapper frame sent and received (``--trace``,
    ``--pcap``; None costs nothing). ``async with`` associates on entry and releases on exit. One
    request runs at a time (further calls wait their turn).
    """

    def __init__(
        self,
        host: str,
        port: int = DEFAULT_PORT,
        config: ClientConfig | None = None,
        *,
        transport: Transport = "tcp",
        timeout: float = 10.0,
        retries: int = 2,
        observer: FrameObserver | None = None,
    ) -> None:
        """Nothing is sent until :meth:`connect` or the first request."""
        if transport not in ("tcp", "udp"):
            raise ClientError(f"unknown transport {transport!r} (tcp or udp)")
        self.host = host.strip("[]")
        self.port = port
        self.config = config if config is not None else ClientConfig()
        self.transport: Transport = transport
        self.timeout = timeout
        self.retries = retries
        self.connection = ClientConnection(self.config)
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._udp: _UdpProtocol | None = None
        self._stream = WrapperStream()
        self._frames: list[WrapperFrame] = []
        self._lock = asyncio.Lock()
        self.observer = observer
        self._ends: tuple[tuple[str, int], tuple[str, int]] = (("0.0.0.0", 0), ("0.0.0.0", 0))

    # -- transport -------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """True while the TCP connection or the UDP endpoint is open."""
        return self._writer is not None or self._udp is not None

    async def connect(self) -> None:
        """Open the TCP connection or the UDP endpoint."""
        if self.connected:
            return
        try:
            if self.transport == "tcp":
                self._reader, self._writer = await asyncio.wait_for(
                    asyncio.open_connection(self.host, self.port), self.timeout
                )
            else:
                loop = asyncio.get_running_loop()
                _, protocol = await asyncio.wait_for(
                    loop.create_datagram_endpoint(_UdpProtocol, remote_addr=(self.host, self.port)),
                    self.timeout,
                )
                self._udp = protocol
        except TimeoutError:
            raise ClientTimeout(f"no connection to {self._where} within {self.timeout:g} s") from None
        except OSError as exc:
            raise ClientError(f"cannot connect to {self._where}: {_os_reason(exc)}") from None
        except UnicodeError:  # the IDNA codec refuses the name (a label empty or over 63 characters)
            raise ClientError(f"cannot connect to {self._where}: not a valid host name") from None
        self._stream = WrapperStream()
        self._frames = []
        if self.observer is not None:
            self._ends = self._endpoints()

    def _endpoints(self) -> tuple[tuple[str, int], tuple[str, int]]:
        """(local, peer) of the open transport, for frame records."""
        extra = self._writer if self._writer is not None else (self._udp.transport if self._udp else None)
        local = extra.get_extra_info("sockname") if extra is not None else None
        peer = extra.get_extra_info("peername") if extra is not None else None
        return (
            (str(local[0]), int(local[1])) if local else ("0.0.0.0", 0),
            (str(peer[0]), int(peer[1])) if peer else (self.host, self.port),
        )

    def _observe(self, direction: Direction, frame: bytes) -> None:
        assert self.observer is not None
        transport = FrameTransport.TCP if self.transport == "tcp" else FrameTransport.UDP
        local, peer = self._ends
        self.observer.frame(FrameRecord(time.time(), direction, transport, local, peer, frame))

    @property
    def _where(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}/{self.transport}"

    async def close(self) -> None:
        """Close the transport (without releasing; see :meth:`release`)."""
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError, asyncio.TimeoutError):
                await asyncio.wait_for(writer.wait_closed(), 1.0)
        udp, self._udp = self._udp, None
        if udp is not None and udp.transport is not None:
            udp.transport.close()
        if self.connection.state is not ConnectionState.RELEASED:
            self.connection.abort()

    def _send(self, apdu: bytes) -> None:
        frame = WrapperFrame(self.config.client_sap, self.config.server_sap, apdu).encode()
        if self.observer is not None:
            self._observe(Direction.SENT, frame)
        if self._writer is not None:
            self._writer.write(frame)
        elif self._udp is not None and self._udp.transport is not None:
            self._udp.transport.sendto(frame)
        else:
            raise ClientError("not connected")

    def _accept(self, frame: WrapperFrame) -> bool:
        return (
            frame.source_wport == self.config.server_sap and frame.destination_wport == self.config.client_sap
        )

    async def _receive_tcp(self) -> bytes:
        assert self._reader is not None
        while True:
            while self._frames:
                frame = self._frames.pop(0)
                if self._accept(frame):
                    return frame.apdu
            data = await self._reader.read(65536)
            if not data:
                raise ClientError(f"{self._where} closed the connection")
            try:
                frames = self._stream.feed(data)
            except DecodeError as exc:
                raise ProtocolError(f"bad wrapper frame: {exc}") from None
            if self.observer is not None:
                for received in frames:
                    self._observe(Direction.RECEIVED, received.encode())
            self._frames.extend(frames)

    async def _receive_udp(self) -> bytes:
        assert self._udp is not None
        while True:
            item = await self._udp.queue.get()
            if isinstance(item, Exception):
                raise ClientError(f"UDP error from {self._where}: {item}")
            if self.observer is not None:
                self._observe(Direction.RECEIVED, item)
            try:
                frame = WrapperFrame.decode(item)
            except DecodeError:
                continue  # not a wrapper datagram: ignore
            if self._accept(frame):
                return frame.apdu

    async def _receive_apdu(self) -> bytes:
        if self.transport == "tcp":
            return await self._receive_tcp()
        return await self._receive_udp()

    async def _flush(self) -> None:
        for apdu in self.connection.pop_outgoing():
            self._send(apdu)
        if self._writer is not None:
            await self._writer.drain()

    async def _exchange(self, request: Request) -> ClientEvent:
        """Run ``request`` to its end on the core's own timers (:func:`cosemnet.aio.run_until`);
        the completion event, or the error of a :class:`ServiceFailed`."""
        async with self._lock:
            if not self.connected:
                await self.connect()
            conn = self.connection
            conn.response_timeout = self.timeout
            conn.retries = self.retries if self.transport == "udp" else 0
            loop = asyncio.get_running_loop()
            conn.handle_timer(loop.time())  # an idle association may have expired meanwhile
            conn.pop_events()
            conn.send_request(request, loop.time())
            events: list[ClientEvent] = []
            received = 0

            def deliver(apdu: bytes, now: float) -> None:
                nonlocal received
                received += len(apdu)
                if self._progress is not None:
                    self._progress(received)
                conn.receive_apdu(apdu, now)

            def done() -> bool:
                events.extend(conn.pop_events())
                return bool(events)

            try:
                await run_until(
                    conn,
                    done=done,
                    flush=self._flush,
                    receive=self._receive_apdu,
                    deliver=deliver,
                    clock=loop.time,
                )
            except asyncio.CancelledError:
                conn.cancel()  # the caller gave up: the association stays, a late answer is dropped
                raise
            except ClientError:
                conn.abort()  # transport lost
                raise
        event = events[0]
        if isinstance(event, ServiceFailed):
            if event.kind is FailureKind.TIMEOUT:
                raise ClientTimeout(f"no answer from {self._where} within {self.timeout:g} s")
            raise event.error
        return event

    async def _run(self, request: Request, expected: type[E]) -> E:
        event = await self._exchange(request)
        if not isinstance(event, expected):
            raise ProtocolError(f"{type(event).__name__} in answer to {type(request).__name__}")
        return event

    # -- association -----------------------------------------------------------------------------

    async def associate(self) -> AssociationInfo:
        """Connect if needed and establish the association (AARQ/AARE, plus HLS passes 3 and 4 when
        the mechanism asks for them). AssociationRejected, ClientSecurityError, ClientTimeout."""
        await self.connect()
        return (await self._run(Associate(), AssociationEstablished)).info

    async def release(self) -> None:
        """Send RLRQ and wait for RLRE (a missing RLRE within the timeout is tolerated); nothing
        when not associated or not connected."""
        if not self.connection.is_associated or not self.connected:
            return
        with contextlib.suppress(ClientTimeout):
            await self._run(Release(), ReleaseCompleted)

    async def __aenter__(self) -> AsyncClient:
        """Connect and associate; the association is released and the transport closed on exit
        (the release is skipped when the block ends with an error other than AccessError)."""
        try:
            await self.associate()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Release (see :meth:`__aenter__`), then close the transport."""
        try:
            if exc is None or isinstance(exc, AccessError):
                with contextlib.suppress(ClientError):
                    await self.release()
        finally:
            await self.close()

    # -- services --------------------------------------------------------------------------------

    async def get(
        self,
        class_id: int,
        instance: Obis | str,
        attribute_id: int,
        selection: SelectiveAccessDescriptor | None = None,
    ) -> DataValue:
        """GET one attribute (LN), with optional selective access; AccessError when the server
        refuses (``.result`` is the Data-Access-Result)."""
        return (await self._run(Get(class_id, instance, attribute_id, selection), GetCompleted)).value

    async def get_with_list(self, items: list[tuple[int, Obis | str, int]]) -> list[DataValue | AccessError]:
        """GET several attributes ``(class_id, instance, attribute_id)`` in one request (LN); per item
        the value or an AccessError (returned, not raised)."""
        return (await self._run(GetWithList(tuple(items)), GetWithListCompleted)).results

    async def set(
        self,
        class_id: int,
        instance: Obis | str,
        attribute_id: int,
        value: DataValue,
        selection: SelectiveAccessDescriptor | None = None,
    ) -> None:
        """SET one attribute (LN; in data blocks when too large for the server); AccessError when
        the server refuses."""
        await self._run(Set(class_id, instance, attribute_id, value, selection), SetCompleted)

    async def set_with_list(self, items: list[tuple[int, Obis | str, int, DataValue]]) -> list[object]:
        """SET several attributes ``(class_id, instance, attribute_id, value)`` at once (LN); the
        Data-Access-Result of each (not raised)."""
        return list((await self._run(SetWithList(tuple(items)), SetWithListCompleted)).results)

    async def action(
        self, class_id: int, instance: Obis | str, method_id: int, parameters: DataValue = None
    ) -> DataValue:
        """Invoke one method (LN; parameters in pblocks when too large); its return parameters (None
        when the server sent none); AccessError when the server refuses."""
        return (
            await self._run(Action(class_id, instance, method_id, parameters), ActionCompleted)
        ).return_value

    async def action_with_list(self, items: list[tuple[int, Obis | str, int, DataValue]]) -> list[object]:
        """Invoke several methods ``(class_id, instance, method_id, parameters)`` at once (LN); per
        method the return value or an AccessError (returned, not raised)."""
        return list((await self._run(ActionWithList(tuple(items)), ActionWithListCompleted)).results)

    async def read(self, variables: list[int | ParameterizedAccess]) -> list[DataValue | AccessError]:
        """SN Read of short names (or parameterized accesses); per variable the value or an
        AccessError (returned, not raised)."""
        return (await self._run(Read(tuple(variables)), ReadCompleted)).results

    async def write(self, variables: list[tuple[int, DataValue]]) -> list[AccessError | None]:
        """SN Write of ``(short_name, value)`` pairs; per variable None or an AccessError."""
        return (await self._run(Write(tuple(variables)), WriteCompleted)).results

    async def read_sn(self, base_name: int, attribute_id: int) -> DataValue:
        """SN Read of one attribute; raises AccessError."""
        (value,) = await self.read([short_name(base_name, attribute_id)])
        if isinstance(value, AccessError):
            raise value
        return value

    # -- higher-level reads ----------------------------------------------------------------------

    async def get_attribute(self, class_id: int, instance: Obis | str, attribute_id: int) -> DataValue:
        """GET for LN; for SN the base name is looked up in the object list (read once and cached)."""
        if self.config.referencing is Referencing.LN:
            return await self.get(class_id, instance, attribute_id)
        base_name = await self._base_name(class_id, Obis(instance))
        return await self.read_sn(base_name, attribute_id)

    _sn_names: dict[tuple[int, bytes], int] | None = None

    async def _base_name(self, class_id: int, obis: Obis) -> int:
        if self._sn_names is None:
            self._sn_names = {
                (o.class_id, bytes(o.logical_name)): o.base_name or 0 for o in await self.object_list()
            }
        base = self._sn_names.get((class_id, bytes(obis)))
        if base is None:
            raise ClientError(f"{obis} (class {class_id}) is not in the association's object list")
        return base

    async def object_list(self) -> list[ObjectDescription]:
        """The current association's object list (attribute 2 of 0-0:40.0.0*255; SN: of base name 0xFA00
        taken from the InitiateResponse vaa-name)."""
        if self.config.referencing is Referencing.LN:
            value = await self.get(15, ASSOCIATION_LN, 2)
            return parse_object_list(value)
        info = self.connection.info
        vaa = info.vaa_name if info is not None else 0xFA00
        value = await self.read_sn(vaa, 2)
        return parse_object_list(value, short_names=True)

    async def read_register(self, instance: Obis | str, class_id: int = 3) -> ScaledValue:
        """Value and scaler_unit of a register (class 3, 4 or 5)."""
        if class_id not in SCALED_CLASS_IDS:
            raise ClientError(f"class {class_id} has no scaler_unit")
        value = await self.get_attribute(class_id, instance, 2)
        scaler_unit = await self.get_attribute(class_id, instance, scaler_unit_attribute(class_id))
        return scaled_value(value, scaler_unit)

    async def read_clock(self, instance: Obis | str = "0-0:1.0.0*255") -> CosemDateTime | DataValue:
        """The clock time (class 8 attribute 2) as a CosemDateTime when it is a valid date-time."""
        value = await self.get_attribute(8, instance, 2)
        if isinstance(value, bytes) and len(value) == 12:
            try:
                return CosemDateTime.from_bytes(value)
            except DecodeError:
                return value
        return value

    async def capture_objects(self, instance: Obis | str) -> list[Column]:
        """The columns of a profile generic (its capture_objects, attribute 3)."""
        return parse_capture_objects(await self.get_attribute(PROFILE_GENERIC, instance, 3))

    async def read_profile(
        self,
        instance: Obis | str,
        *,
        start: _dt.datetime | None = None,
        end: _dt.datetime | None = None,
        from_entry: int | None = None,
        to_entry: int = 0,
        columns: list[Column] | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> tuple[list[Column], list[dict[str, DataValue | CosemDateTime]]]:
        """Rows of a profile generic buffer keyed by capture object (``"OBIS:attr"``).

        ``start``/``end``: range selective access on the clock column (the first capture object of class
        8 attribute 2; ``end`` defaults to now); ``from_entry``/``to_entry``: entry selective access.
        ``progress`` is called with the number of bytes received so far (for progress bars).
        """
        if columns is None:
            columns = await self.capture_objects(instance)
        selection: SelectiveAccessDescriptor | None = None
        if start is not None or end is not None:
            clock = next((c for c in columns if c.is_clock), None)
            if clock is None:
                raise ClientError("the profile has no clock column to select a range on")
            now = _dt.datetime.now(_dt.UTC)
            selection = range_selection(
                clock.definition,
                start if start is not None else _dt.datetime(2000, 1, 1, tzinfo=_dt.UTC),
                end if end is not None else now,
            )
        elif from_entry is not None:
            selection = entry_selection(from_entry, to_entry)
        if self.config.referencing is Referencing.SN:
            if selection is not None:
                base = await self._base_name(PROFILE_GENERIC, Obis(instance))
                (buffer,) = await self.read(
                    [
                        ParameterizedAccess(
                            short_name(base, 2), selection.access_selector, selection.access_parameters
                        )
                    ]
                )
                if isinstance(buffer, AccessError):
                    raise buffer
            else:
                buffer = await self.get_attribute(PROFILE_GENERIC, instance, 2)
        else:
            if progress is not None:
                self._progress = progress
            try:
                buffer = await self.get(PROFILE_GENERIC, instance, 2, selection)
            finally:
                self._progress = None
        return columns, profile_rows(buffer, columns)

    _progress: Callable[[int], None] | None = None
