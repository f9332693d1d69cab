"""Seed corpora for the fuzz smoke tests: the valid vectors of the other tests and recorded traffic.

* spec-notes vectors (tests/cli/corpus.py) and the hand-encoded xDLMS vectors (tests/codec);
* values and APDUs drawn from the test strategies (tests/strategies.py, tests/cli/corpus.py,
  tests/lon/strategies.py, tests/mesh/strategies.py) with hypothesis derandomized, so the corpus is
  the same on every run;
* the APDUs a real client sends to the simulated meter (public and HLS-GMAC ciphered management
  associations, block transfers), the frames a data concentrator sends to an OSGP meter over the
  simulated power line, and the datagrams of the mesh head-end tests' fake meters.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from typing import Any, TypeVar

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import strategies as shared
from cli.corpus import ALL_VECTORS, APDU_CLASS_NAMES, apdu_bytes
from codec.test_xdlms_vectors import VECTORS as XDLMS_VECTORS
from cosemnet.client import ClientConfig, ClientConnection, Done, SendApdu
from cosemnet.codec.axdr import encode_data
from cosemnet.codec.types import DoubleLongUnsigned
from cosemnet.codec.wrapper import WrapperFrame, WrapperStream
from cosemnet.errors import CosemnetError
from cosemnet.profiles.lon.frames import LonFrame
from cosemnet.security.counters import MemoryInvocationCounter
from cosemnet.security.hls import Mechanism
from cosemnet.security.keys import KeySet
from cosemnet.server import MeterServer, ServedDevice
from cosemnet.simulator import build_meter

T = TypeVar("T")
START = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)
NOW = START.timestamp()
EK = bytes.fromhex("000102030405060708090A0B0C0D0E0F")  # Green Book test keys (public)
AK = bytes.fromhex("D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF")
STOC = bytes.fromhex("503677524A323146")
"""The server's HLS challenge, fixed, so the recorded pass 3 is valid again on a fresh server."""


def collect(strategy: st.SearchStrategy[T], count: int) -> list[T]:
    """``count`` examples of ``strategy``, the same on every run (hypothesis derandomized)."""
    found: list[T] = []

    @settings(
        derandomize=True,
        database=None,
        max_examples=count,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        deadline=None,
    )
    @given(strategy)
    def draw(value: T) -> None:
        found.append(value)

    draw()
    return found


@functools.cache
def apdus() -> list[bytes]:
    """Valid APDUs: the published and hand-encoded vectors, then two of every APDU class."""
    out = [bytes.fromhex(v) for v in ALL_VECTORS.values()]
    out += [raw for _, raw, _ in XDLMS_VECTORS]
    for name in APDU_CLASS_NAMES:
        out += collect(apdu_bytes(name), 2)
    return out


@functools.cache
def data_values() -> list[bytes]:
    """Encoded A-XDR Data values drawn from tests/strategies.py (compact arrays and rows included)."""
    values: list[Any] = collect(shared.data_values(), 80)
    values += collect(shared.compact_arrays(), 20)
    values += collect(shared.uniform_rows(8, 12), 4)
    return [encode_data(v) for v in values]


# --------------------------------------------------------------------------------------------------
# A client talking to the simulated meter


class RecordingLoop:
    """A ClientConnection wired to a MeterServer connection; records every frame the client sends."""

    def __init__(self, server: MeterServer, client_sap: int, server_sap: int) -> None:
        self.connection = server.open_connection(NOW)
        self.client_sap, self.server_sap = client_sap, server_sap
        self.stream = WrapperStream()
        self.frames: list[WrapperFrame] = []
        self.sent: list[bytes] = []

    def exchange(self, client: ClientConnection, apdu: bytes) -> object:
        event: object = SendApdu(apdu)
        while not isinstance(event, Done):
            if isinstance(event, SendApdu):
                self.sent.append(event.apdu)
                frame = WrapperFrame(self.client_sap, self.server_sap, event.apdu).encode()
                self.connection.receive_data(frame, NOW)
                for out in self.connection.pop_outgoing():
                    self.frames.extend(self.stream.feed(out))
            if not self.frames:
                return None
            try:
                event = client.receive(self.frames.pop(0).apdu)
            except CosemnetError:  # refused (access rights): the request was recorded all the same
                return None
        return event.result


def simulated_server() -> MeterServer:
    meter = build_meter(serial=1, start=START)
    return MeterServer([ServedDevice(meter.device, effects=meter.effects)], challenge_factory=lambda: STOC)


def _public_session(loop: RecordingLoop) -> None:
    client = ClientConnection(ClientConfig(client_sap=16, max_receive_pdu_size=256))
    loop.exchange(client, client.associate())
    loop.exchange(client, client.get(3, "1-0:1.8.0*255", 2))
    loop.exchange(client, client.get(8, "0-0:1.0.0*255", 2))
    loop.exchange(client, client.get(7, "1-0:99.1.0*255", 2))  # the load profile: GET in blocks
    loop.exchange(client, client.get_with_list([(3, "1-0:1.8.0*255", 2), (1, "0-0:96.1.0*255", 2)]))
    loop.exchange(client, client.set(3, "1-0:1.8.0*255", 2, DoubleLongUnsigned(5)))
    loop.exchange(client, client.release())


def _management_session(loop: RecordingLoop, ciphering: Any) -> None:
    client = ClientConnection(
        ClientConfig(
            client_sap=1,
            mechanism=Mechanism.HLS_GMAC,
            keys=KeySet(ek=EK, ak=AK),
            ciphering=ciphering,
            invocation_counter=MemoryInvocationCounter(1),
            max_receive_pdu_size=256,
        )
    )
    loop.exchange(client, client.associate())
    loop.exchange(client, client.get(3, "1-0:1.8.0*255", 2))
    loop.exchange(client, client.get(7, "1-0:99.1.0*255", 2))
    loop.exchange(client, client.set(1, "0-0:96.1.0*255", 2, b"fuzz" * 80))  # SET in blocks
    loop.exchange(client, client.action(70, "0-0:96.3.10*255", 1, 0))
    loop.exchange(client, client.release())


@functools.cache
def server_sessions() -> list[tuple[int, list[bytes]]]:
    """(client SAP, the APDUs of one association in order) for the public and the management client."""
    sessions: list[tuple[int, list[bytes]]] = []
    for run, sap in ((_public_session, 16), (lambda lp: _management_session(lp, "general-glo"), 1)):
        loop = RecordingLoop(simulated_server(), sap, 1)
        run(loop)
        sessions.append((sap, loop.sent))
    loop = RecordingLoop(simulated_server(), 1, 1)
    _management_session(loop, "service-specific-glo")
    sessions.append((1, loop.sent))
    return sessions


# --------------------------------------------------------------------------------------------------
# LON: frames a data concentrator sends to an OSGP meter


@functools.cache
def lon_traffic() -> list[LonFrame]:
    """Every frame the first meter of a simulated segment hears while the concentrator reads it."""
    from cosemnet.profiles.lon.preestablished import PUBLIC
    from cosemnet.simulator.osgp_meter import build_osgp_segment

    segment = build_osgp_segment(1, seed=3)
    meter = segment.meters[0]
    heard: list[LonFrame] = []
    stack = meter.endpoint.stack
    original: Callable[[LonFrame, float], None] = stack.receive_lon_frame

    def record(frame: LonFrame, now: float) -> None:
        heard.append(frame)
        original(frame, now)

    stack.receive_lon_frame = record  # type: ignore[method-assign]
    link = segment.concentrator.add_meter(meter.address, pre_established=PUBLIC)
    link.submit(lambda c: c.get(8, "0-0:1.0.0*255", 2), lambda c: c.get(3, "1-0:1.8.0*255", 2))
    link.submit(lambda c: c.get(7, "1-0:99.1.0*255", 2))
    segment.run(limit=300)
    return heard


@functools.cache
def lon_frames() -> list[bytes]:
    """Valid 14908-1 frames with CRC: recorded traffic and frames drawn from tests/lon/strategies.py."""
    from lon.strategies import frames

    out = [frame.encode() for frame in lon_traffic()]
    out += [frame.encode() for frame in collect(frames, 60)]
    return out


# --------------------------------------------------------------------------------------------------
# Mesh: the datagrams between a head-end and the fake meters of tests/headend/fakes.py


@functools.cache
def mesh_traffic() -> tuple[list[bytes], list[bytes]]:
    """(datagrams the head-end sends to meters, datagrams meters send to the head-end) of a
    registration, a collect run and a group request."""
    from cosemnet.headend import AttributeRef, HeadEnd, HeadEndConfig, Outgoing
    from cosemnet.profiles.mesh import AddressBook, ResponseWindow
    from headend.fakes import HEAD_END_PORT, FakeMesh, FakeMeter

    head_end = HeadEnd(AddressBook(":memory:"), config=HeadEndConfig())
    meters = [FakeMeter(1000 + i, f"2001:db8::{i + 1:x}") for i in range(3)]
    to_meters: list[bytes] = []
    to_head_end: list[bytes] = []
    for meter in meters:
        for datagram in (meter.registration(), meter.ciphered_registration()):
            to_head_end.append(datagram)
            head_end.receive_datagram(meter.address, HEAD_END_PORT, datagram, NOW)
    to_head_end.append(meters[1].migrate("2001:db8::99"))
    to_meters += [out.data for out in head_end.pop_outgoing()]
    mesh = FakeMesh(head_end, meters)
    deliver = mesh.deliver

    def record(out: Outgoing, now: float) -> list[tuple[str, bytes]]:
        to_meters.append(out.data)
        replies = deliver(out, now)
        to_head_end.extend(reply for _, reply in replies)
        return replies

    mesh.deliver = record  # type: ignore[method-assign]
    energy = AttributeRef.parse("3/1-0:1.8.0*255/2")
    head_end.collect([energy, AttributeRef.parse("8/0-0:1.0.0*255/2")], NOW)
    mesh.run(NOW)
    head_end.broadcast(7, energy, NOW + 60, window=ResponseWindow.seconds(0, 5))
    mesh.run(NOW + 60)
    return to_meters, to_head_end


# --------------------------------------------------------------------------------------------------
# LON: ADP PDUs and CN/IP packets


@functools.cache
def adp_pdus() -> list[bytes]:
    """ADP PDUs: the recorded ones, the sessions' DLMS APDUs as unsegmented DATA for the public (0x10)
    and management (0x20) client SAPs, segments, segment acknowledgements and aborts."""
    from cosemnet.profiles.lon.adp import AdpAbort, AdpData, AdpDirection, AdpSegmentAck, Segmentation
    from cosemnet.profiles.lon.lon_apdu import ApplicationMessage

    out = []
    for frame in lon_traffic():
        apdu = getattr(frame.npdu.pdu, "apdu", None)
        if isinstance(apdu, ApplicationMessage):
            out.append(apdu.data)
    up = AdpDirection.CLIENT_TO_SERVER
    for sap, session in server_sessions():
        for apdu in session:
            out.append(AdpData(up, 0x10 if sap == 16 else 0x20, 1, apdu).encode())
    long = server_sessions()[0][1][3] * 8
    out.append(AdpData(up, 0x10, 1, long[:40], Segmentation.FIRST, 5, len(long), None, True).encode())
    out.append(AdpData(up, 0x10, 1, long[40:80], Segmentation.MIDDLE, 5, None, 1, True).encode())
    out.append(AdpData(up, 0x10, 1, long[80:], Segmentation.LAST, 5, None, 2).encode())
    out.append(AdpSegmentAck(up, 0x10, 1, 5, 1).encode())
    out.append(AdpAbort(up, 0x10, 1, 5).encode())
    return out


@functools.cache
def cnip_packets() -> list[bytes]:
    """CN/IP data packets around recorded frames (plain and MD5-authenticated) and a control packet."""
    from cosemnet.profiles.lon.cnip import CnipPacket, CnipPacketType

    frames = [frame.encode(crc=False) for frame in lon_traffic()]
    out = [CnipPacket(payload=f, sequence_number=i).encode() for i, f in enumerate(frames)]
    out += [CnipPacket(payload=f, security=True).encode(secret=bytes(16)) for f in frames[:2]]
    out.append(CnipPacket(CnipPacketType(next(iter(CnipPacketType))), extended_header=bytes(4)).encode())
    out.append(b"".join(out[:3]))  # several packets in one datagram
    return out


@functools.cache
def meter_frames() -> list[bytes]:
    """Frames addressed to the segment's first meter: the recorded ones, and the recorded request frame
    carrying each of :func:`adp_pdus` (so the stack's receive path reaches the ADP and DLMS)."""
    import dataclasses

    from cosemnet.profiles.lon.lon_apdu import ApplicationMessage

    recorded = lon_traffic()
    out = [frame.encode() for frame in recorded]
    request = next(f for f in recorded if isinstance(getattr(f.npdu.pdu, "apdu", None), ApplicationMessage))
    tpdu = request.npdu.pdu
    code = tpdu.apdu.code  # type: ignore[union-attr]
    for number, adp in enumerate(adp_pdus()):
        pdu = dataclasses.replace(tpdu, apdu=ApplicationMessage(code, adp), transaction_number=number % 16)
        out.append(dataclasses.replace(request, npdu=dataclasses.replace(request.npdu, pdu=pdu)).encode())
    return out
