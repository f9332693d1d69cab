"""A minimal test-only meter for the client tests: cosemnet's object model behind a tiny request loop.

It answers AARQ (LN, no security, or LLS with a password), GET normal / with-list (with selective
access, and GET data blocks when the answer exceeds the client's max PDU size), SET normal and RLRQ,
over the 4-7 wrapper on TCP or UDP, IPv4 or IPv6, in a background thread with its own event loop.
It is not the product's server (``cosemnet.server``); it exists so the client and the CLI can be tested
against real sockets with known data.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from cosemnet.codec.acse import (
    AARE,
    AARQ,
    RLRE,
    ApplicationContextName,
    AssociateSourceDiagnostic,
    AssociationResult,
    ReleaseResponseReason,
)
from cosemnet.codec.apdu import decode_apdu
from cosemnet.codec.axdr import encode_data
from cosemnet.codec.datetime import CosemDateTime
from cosemnet.codec.initiate import Conformance, InitiateRequest, InitiateResponse
from cosemnet.codec.obis import Obis
from cosemnet.codec.types import DataValue, DoubleLongUnsigned
from cosemnet.codec.wrapper import WrapperFrame, WrapperStream
from cosemnet.codec.xdlms import (
    CaptureObjectDefinition,
    DataAccessResult,
    DataBlockG,
    GetRequestNext,
    GetRequestNormal,
    GetRequestWithList,
    GetResponseNormal,
    GetResponseWithDataBlock,
    GetResponseWithList,
    SetRequestNormal,
    SetResponseNormal,
)
from cosemnet.cosem import AssociationLN, Clock, Data, LogicalDevice, ProfileGeneric, Register
from cosemnet.cosem.access import ObjectAccessRights
from cosemnet.cosem.context import AccessContext
from cosemnet.cosem.results import CosemAccessError

NOW = dt.datetime(2024, 3, 1, 12, 0, tzinfo=dt.UTC)
PROFILE = Obis.parse("1-0:99.1.0*255")
ENERGY = Obis.parse("1-0:1.8.0*255")
CLOCK = Obis.parse("0-0:1.0.0*255")
SERIAL = Obis.parse("0-0:96.1.0*255")
PROFILE_START = dt.datetime(2024, 2, 29, 0, 0, tzinfo=dt.UTC)
PROFILE_ROWS = 96  # one day of 15-minute rows
SERVER_MAX_PDU = 256


def build_device() -> tuple[LogicalDevice, AssociationLN]:
    device = LogicalDevice(b"CNT0000000000001")
    association = device.add(AssociationLN())
    device.add(Clock())
    device.add(Register(ENERGY, DoubleLongUnsigned(1234567), -3, 30))
    device.add(Data(SERIAL, "CNT-0001"))
    columns = [CaptureObjectDefinition(8, CLOCK, 2), CaptureObjectDefinition(3, ENERGY, 2)]
    profile = device.add(ProfileGeneric(PROFILE, columns, capture_period=900, profile_entries=1000))
    for i in range(PROFILE_ROWS):
        when = PROFILE_START + dt.timedelta(minutes=15 * i)
        profile.buffer.append((CosemDateTime.from_datetime(when).to_bytes(), DoubleLongUnsigned(1000 + i)))
    device.grant_all(association, lambda obj: ObjectAccessRights.full(type(obj)))
    return device, association


class FakeMeter:
    """Byte-in/byte-out handler of one association at a time."""

    def __init__(self, password: bytes | None = None, answer: bool = True) -> None:
        self.device, self.association = build_device()
        self.password = password
        self.answer = answer
        self.client_max_pdu = 0xFFFF
        self.pending_blocks: list[bytes] = []
        self.requests: list[bytes] = []

    def ctx(self) -> AccessContext:
        return AccessContext(now=NOW, association=self.association)

    def handle(self, apdu: bytes) -> bytes | None:
        self.requests.append(apdu)
        if not self.answer:
            return None
        if apdu[0] == 0x60:
            return self._aarq(AARQ.decode(apdu))
        if apdu[0] == 0x62:
            return RLRE(reason=ReleaseResponseReason.NORMAL).encode()
        request = decode_apdu(apdu)
        if isinstance(request, GetRequestNormal):
            d = request.cosem_attribute_descriptor
            try:
                value = self.device.get(
                    d.class_id, d.instance_id, d.attribute_id, self.ctx(), request.access_selection
                )
            except CosemAccessError as exc:
                return GetResponseNormal(request.invoke_id, exc.data_access_result).encode()
            whole = GetResponseNormal(request.invoke_id, value).encode()
            if len(whole) <= self.client_max_pdu:
                return whole
            raw = encode_data(value)
            size = self.client_max_pdu - 16
            self.pending_blocks = [raw[i : i + size] for i in range(0, len(raw), size)]
            return self._block(request.invoke_id, 1)
        if isinstance(request, GetRequestNext):
            return self._block(request.invoke_id, request.block_number + 1)
        if isinstance(request, GetRequestWithList):
            results: list[DataAccessResult | DataValue] = []
            for item in request.attribute_descriptor_list:
                d = item.cosem_attribute_descriptor
                try:
                    results.append(self.device.get(d.class_id, d.instance_id, d.attribute_id, self.ctx()))
                except CosemAccessError as exc:
                    results.append(exc.data_access_result)
            return GetResponseWithList(request.invoke_id, results).encode()
        if isinstance(request, SetRequestNormal):
            d = request.cosem_attribute_descriptor
            try:
                self.device.set(d.class_id, d.instance_id, d.attribute_id, request.value, self.ctx())
            except CosemAccessError as exc:
                return SetResponseNormal(request.invoke_id, exc.data_access_result).encode()
            return SetResponseNormal(request.invoke_id, DataAccessResult.SUCCESS).encode()
        raise AssertionError(f"fake meter cannot answer {request!r}")

    def _block(self, invoke_id: int, number: int) -> bytes:
        last = number == len(self.pending_blocks)
        return GetResponseWithDataBlock(
            invoke_id, DataBlockG(last, number, self.pending_blocks[number - 1])
        ).encode()

    def _aarq(self, aarq: AARQ) -> bytes:
        initiate = aarq.decode_user_information()
        assert isinstance(initiate, InitiateRequest)
        self.client_max_pdu = initiate.client_max_receive_pdu_size or 0xFFFF
        ok = self.password is None or aarq.calling_authentication_value == self.password
        return AARE(
            application_context_name=ApplicationContextName.LN,
            result=AssociationResult.ACCEPTED if ok else AssociationResult.REJECTED_PERMANENT,
            result_source_diagnostic=(
                AssociateSourceDiagnostic.ACSE_SERVICE_USER_NULL
                if ok
                else AssociateSourceDiagnostic.ACSE_SERVICE_USER_AUTHENTICATION_FAILURE
            ),
            user_information=InitiateResponse(
                negotiated_conformance=initiate.proposed_conformance & Conformance(0x00FF1F),
                server_max_receive_pdu_size=SERVER_MAX_PDU,
            ).encode(),
        ).encode()


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, meter: FakeMeter) -> None:
        self.meter = meter
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        frame = WrapperFrame.decode(data)
        reply = self.meter.handle(frame.apdu)
        if reply is not None and self.transport is not None:
            self.transport.sendto(
                WrapperFrame(frame.destination_wport, frame.source_wport, reply).encode(), addr
            )


async def _tcp_session(meter: FakeMeter, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    stream = WrapperStream()
    try:
        while data := await reader.read(65536):
            for frame in stream.feed(data):
                reply = meter.handle(frame.apdu)
                if reply is not None:
                    writer.write(WrapperFrame(frame.destination_wport, frame.source_wport, reply).encode())
            await writer.drain()
    finally:
        writer.close()


@contextmanager
def serve(meter: FakeMeter, transport: str = "tcp", host: str = "127.0.0.1") -> Iterator[int]:
    """Run ``meter`` on ``host`` (a free port) in a thread; yields the port."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    port: list[int] = []
    stop = asyncio.Event()

    async def main() -> None:
        if transport == "tcp":
            server = await asyncio.start_server(lambda r, w: _tcp_session(meter, r, w), host, 0)
            port.append(server.sockets[0].getsockname()[1])
            ready.set()
            async with server:
                await stop.wait()
        else:
            udp, _ = await loop.create_datagram_endpoint(lambda: _Udp(meter), local_addr=(host, 0))
            port.append(udp.get_extra_info("sockname")[1])
            ready.set()
            await stop.wait()
            udp.close()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(5)
    try:
        yield port[0]
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(5)
        loop.close()
