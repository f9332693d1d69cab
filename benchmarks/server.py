"""Server benchmark: cosemnet's sans-IO meter server against gurux-dlms's ``GXDLMSServer``, in one process.

Both servers hold the same data: an energy register (value and scaler_unit) and a 1,000-row load
profile taken from cosemnet's simulated meter (``cosemnet.simulator``), mirrored into gurux objects of the
same types. Both are driven with the same requests, wrapper-framed (IEC 62056-4-7), produced by gurux's own
client (``GXDLMSClient``, public client 16, no security, ``--max-pdu`` as the client's max receive PDU
size), bytes in and bytes out, no sockets:

* **register GET**: one GET-request-normal for ``register.value`` -> decode, dispatch, encode -> the
  GET-response frame;
* **profile read**: the whole 1,000-row buffer of the load profile: the GET-request-normal and then one
  GET-request-next per data block until the last block; one operation is the whole read (every round).

Before timing, each server's answers are checked once by gurux's client (``getData`` reassembles the
blocks): the register value and every row must be the expected ones, and the frames the timed loop replays
are the ones that client sent. Timing: a ``time.perf_counter`` loop per server sized to at least
``--min-time`` seconds, ``--repeat`` rounds alternating the two servers, best round kept, GC enabled.

    python benchmarks/server.py            # full run, prints a table
    python benchmarks/server.py --json     # machine-readable results
    python benchmarks/server.py --quick    # smoke run (about a second, numbers meaningless)
    python benchmarks/server.py --profile  # also print a cProfile summary of cosemnet's two paths
"""

# mypy: disable-error-code="import-untyped"
from __future__ import annotations

import argparse
import asyncio
import cProfile
import dataclasses
import datetime as dt
import gc
import io
import json
import os
import platform
import pstats
import socket
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

CLIENT_SAP = 16  # public client: no authentication, no ciphering
SERVER_SAP = 1  # management logical device
REGISTER_OBIS = "1-0:1.8.0*255"
PROFILE_OBIS = "1-0:99.1.0*255"
PROFILE_ROWS = 1000
DEFAULT_MAX_PDU = 1024
# The targets.
REGISTER_TARGET = 4.0  # cosemnet ops/s >= 4x gurux's
PROFILE_TARGET = 5.0  # cosemnet time <= 1/5 of gurux's

Handler = Callable[[bytes], bytes]


def _gurux_ln(obis: str) -> str:
    """``1-0:1.8.0*255`` -> gurux's ``1.0.1.8.0.255``."""
    return obis.replace("-", ".").replace(":", ".").replace("*", ".")


# --------------------------------------------------------------------------------------------------
# The data both servers serve


@dataclass(slots=True)
class Column:
    """One capture object of the profile: class id, logical name, attribute, data_index, A-XDR tag."""

    class_id: int
    obis: str
    attribute: int
    data_index: int
    tag: int


@dataclass(slots=True)
class MeterData:
    register_value: int
    register_tag: int
    scaler: int
    unit: int
    columns: list[Column]
    rows: list[tuple[Any, ...]]  # plain Python values: int / bytes


# --------------------------------------------------------------------------------------------------
# gurux-dlms: a minimal GXDLMSServer that answers


class _GuruxTransaction:
    """What gurux's GET block-transfer code expects of a long transaction and 1.0.203's class lacks.

    ``GXDLMSLNCommandHandler.getRequestNextDataBlock`` iterates ``transaction.targets`` and calls
    ``transaction.setData()``; gurux's own ``GXDLMSLongTransaction`` stores a single target and has no
    ``setData``. The server's ``setTransaction`` (which gurux calls but its base class does not define)
    wraps the transaction in this adapter. No gurux code is changed.
    """

    def __init__(self, transaction: Any) -> None:
        targets = transaction.targets
        self.targets = targets if isinstance(targets, list) else [targets]
        self.command = transaction.command
        self.data = transaction.data

    def setData(self, value: Any) -> None:
        from gurux_dlms import GXByteBuffer

        self.data = GXByteBuffer()
        self.data.set(value)


def gurux_server_classes() -> tuple[type, type]:
    """A ``GXDLMSServer`` subclass and a ``GXServerReply`` subclass with what gurux calls on them.

    gurux-dlms 1.0.203's Python server does not run as shipped: the abstract callbacks must be given,
    and it calls methods neither base class defines (``notifyRead``, ``getTransaction``,
    ``setTransaction``, ``onPostRead()`` without argument, ``GXServerReply.setReply`` /
    ``getConnectionInfo`` / ``setCount`` / ``getCount``) and reads ``settings.gbtWndowSize`` (sic) when
    it sends a block. These subclasses supply exactly those names; everything else is gurux's own.
    """
    from gurux_dlms import GXDLMSServer, GXServerReply
    from gurux_dlms.enums.AccessMode import AccessMode
    from gurux_dlms.enums.MethodAccessMode import MethodAccessMode
    from gurux_dlms.enums.SourceDiagnostic import SourceDiagnostic

    class Reply(GXServerReply):  # type: ignore[misc]
        def setReply(self, value: Any) -> None:
            self.reply = value

        def getConnectionInfo(self) -> Any:
            return self.connectionInfo

        def setCount(self, value: int) -> None:
            self.count = value

        def getCount(self) -> int:
            return int(self.count)

    class Server(GXDLMSServer):  # type: ignore[misc]
        def isTarget(self, server_address: int, client_address: int) -> bool:
            return True

        def onValidateAuthentication(self, authentication: Any, password: Any) -> Any:
            return SourceDiagnostic.NONE

        def onGetAttributeAccess(self, arg: Any) -> Any:
            return AccessMode.READ

        def onGetMethodAccess(self, arg: Any) -> Any:
            return MethodAccessMode.NO_ACCESS

        def onFindObject(self, object_type: Any, sn: int, ln: str) -> Any:
            return None

        def getTransaction(self) -> Any:
            return self.transaction

        def setTransaction(self, transaction: Any) -> None:
            self.transaction = None if transaction is None else _GuruxTransaction(transaction)

        def notifyRead(self) -> None:
            pass

        def onPostRead(self, args: Any = None) -> None:
            pass

        def onPreRead(self, args: Any) -> None:
            pass

        def onPreGet(self, args: Any) -> None:
            pass

        def onPostGet(self, args: Any) -> None:
            pass

        def onPreWrite(self, args: Any) -> None:
            pass

        def onPostWrite(self, args: Any) -> None:
            pass

        def onPreAction(self, args: Any) -> None:
            pass

        def onPostAction(self, args: Any) -> None:
            pass

        def onConnected(self, connection_info: Any) -> None:
            pass

        def onInvalidConnection(self, connection_info: Any) -> None:
            pass

        def onDisconnected(self, connection_info: Any) -> None:
            pass

    return Server, Reply


def gurux_endpoint(data: MeterData) -> tuple[Handler, str]:
    """gurux's server holding ``data``; the handler is ``GXDLMSServer.handleRequest`` on one frame."""
    from gurux_dlms import GXDLMSClient
    from gurux_dlms.enums import DataType, InterfaceType, Unit
    from gurux_dlms.objects import (
        GXDLMSAssociationLogicalName,
        GXDLMSCaptureObject,
        GXDLMSProfileGeneric,
        GXDLMSRegister,
    )

    server_class, reply_class = gurux_server_classes()
    server = server_class(True, InterfaceType.WRAPPER)
    register = GXDLMSRegister(_gurux_ln(REGISTER_OBIS))
    register.setDataType(2, DataType(data.register_tag))
    register.value = data.register_value
    # gurux keeps the scaler as the factor 10^scaler and encodes log10 of it back.
    register.scaler = 10.0**data.scaler
    register.unit = Unit(data.unit)
    server.items.append(register)
    objects: dict[tuple[int, str], Any] = {(3, REGISTER_OBIS): register}
    profile = GXDLMSProfileGeneric(_gurux_ln(PROFILE_OBIS))
    for column in data.columns:
        key = (column.class_id, column.obis)
        obj = objects.get(key)
        if obj is None:
            obj = GXDLMSClient.createObject(column.class_id)
            obj.logicalName = _gurux_ln(column.obis)
            objects[key] = obj
            server.items.append(obj)
        obj.setDataType(column.attribute, DataType(column.tag))
        profile.captureObjects.append((obj, GXDLMSCaptureObject(column.attribute, column.data_index)))
    # gurux's natural representation of a buffer: a list of rows, each a list of column values.
    profile.buffer = [[bytearray(v) if isinstance(v, bytes) else v for v in row] for row in data.rows]
    profile.profileEntries = len(data.rows)
    server.items.append(profile)
    # GXDLMSServer.initialize() appends the collection itself to a new association's object list, which
    # gurux's collection refuses (TypeError); an association LN object with its list filled avoids it.
    association = GXDLMSAssociationLogicalName()
    for obj in list(server.items):
        association.objectList.append(obj)
    association.objectList.append(association)
    server.items.append(association)
    server.settings.gbtWndowSize = 1  # the misspelt name gurux's block code reads (see above)
    server.initialize()

    def handle(frame: bytes) -> bytes:
        reply = reply_class(frame)
        server.handleRequest(reply)
        return reply.reply  # type: ignore[no-any-return]

    return handle, "GXDLMSServer.handleRequest(GXServerReply(frame)) -> reply frame (InterfaceType.WRAPPER)"


# --------------------------------------------------------------------------------------------------
# cosemnet


BENCH_START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
"""Simulated start of the benchmark meter (fixed, so every run serves the same values)."""


def cosemnet_meter_data(rows: int = PROFILE_ROWS) -> tuple[Any, MeterData]:
    """cosemnet's simulated meter (default profile) with exactly ``rows`` load-profile rows, and the data
    to mirror into gurux.

    The meter starts at ``BENCH_START`` and runs ``rows`` quarter hours plus one second of simulated time;
    the load profile's ``profile_entries`` is set to ``rows`` first (the default profile keeps 960).
    """
    from cosemnet.codec.axdr import data_tag
    from cosemnet.codec.types import TypedInt
    from cosemnet.cosem.register import Register
    from cosemnet.simulator.meter import build_meter

    meter = build_meter(start=BENCH_START)
    profile = meter.load_profile
    assert profile is not None, "the default simulator profile has no load profile"
    profile.max_entries = max(profile.max_entries, rows)
    profile.profile_entries = rows
    meter.catch_up(BENCH_START + dt.timedelta(seconds=900 * rows + 1))
    if len(profile.buffer) != rows:
        raise AssertionError(f"the simulated meter captured {len(profile.buffer)} rows, expected {rows}")
    register = meter.device.find(3, REGISTER_OBIS)
    assert isinstance(register, Register), f"no register {REGISTER_OBIS} in the simulated meter"
    value = register.get(2, meter.context())
    assert isinstance(value, TypedInt), f"register value {value!r} is not an integer type"
    first = profile.buffer[0]
    columns = [
        Column(c.class_id, str(c.logical_name), c.attribute_index, c.data_index, int(data_tag(v)))
        for c, v in zip(profile.capture_objects, first, strict=True)
    ]
    data = MeterData(
        register_value=int(value),
        register_tag=int(data_tag(value)),
        scaler=int(register.scaler),
        unit=int(register.unit),
        columns=columns,
        rows=[tuple(v if isinstance(v, bytes) else int(v) for v in row) for row in profile.buffer],  # type: ignore[arg-type]
    )
    return meter, data


def cosemnet_endpoint(meter: Any) -> tuple[Handler, str]:
    """cosemnet's ``MeterServer`` serving the meter; the handler is one TCP connection's
    ``receive_data(frame, now)`` + ``pop_outgoing()`` (wrapper de-framing, association, dispatch,
    encoding, framing)."""
    from cosemnet.server.config import ServedDevice
    from cosemnet.server.server import MeterServer

    server = MeterServer([ServedDevice(meter.device, effects=meter.effects)], inactivity_timeout=None)
    now = meter.now.timestamp()
    connection = server.open_connection(now)

    def handle(frame: bytes) -> bytes:
        connection.receive_data(frame, now)
        return b"".join(connection.pop_outgoing())

    return handle, "MeterServer.open_connection(): receive_data(frame, now); pop_outgoing() -> frames"


# --------------------------------------------------------------------------------------------------
# Driving both servers with gurux's client, once, to verify and record the frames


@dataclass(slots=True)
class Recorded:
    """The frames one server needs for each case, and what it answered when verified."""

    register_request: bytes = b""
    profile_requests: list[bytes] = field(default_factory=list)
    register_value: Any = None
    profile_rows: list[Any] = field(default_factory=list)


def _plain(value: Any) -> Any:
    if isinstance(value, bytearray | bytes):
        return bytes(value)
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def record(handle: Handler, max_pdu: int) -> Recorded:
    """Associate with gurux's client, GET the register value, read the whole profile buffer; record."""
    from gurux_dlms import GXDLMSClient, GXReplyData
    from gurux_dlms.enums import Authentication, InterfaceType
    from gurux_dlms.objects import GXDLMSProfileGeneric, GXDLMSRegister

    client = GXDLMSClient(True, CLIENT_SAP, SERVER_SAP, Authentication.NONE, None, InterfaceType.WRAPPER)
    client.maxReceivePDUSize = max_pdu
    sent: list[bytes] = []

    def exchange(frames: Sequence[Any]) -> Any:
        reply = GXReplyData()
        for frame in frames:
            sent.append(bytes(frame))
            reply.clear()
            if not client.getData(bytearray(handle(bytes(frame))), reply, None):
                raise AssertionError("incomplete reply frame")
        while reply.isMoreData():
            frame = client.receiverReady(reply)
            sent.append(bytes(frame))
            if not client.getData(bytearray(handle(bytes(frame))), reply, None):
                raise AssertionError("incomplete reply frame")
        if reply.error:
            raise AssertionError(f"server answered with error {reply.error}: {reply.getErrorMessage()}")
        return reply

    reply = exchange(client.aarqRequest())
    client.parseAareResponse(reply.data)
    out = Recorded()
    sent.clear()
    out.register_value = exchange(client.read(GXDLMSRegister(_gurux_ln(REGISTER_OBIS)), 2)).value
    out.register_request = sent[0]
    sent.clear()
    out.profile_rows = _plain(exchange(client.read(GXDLMSProfileGeneric(_gurux_ln(PROFILE_OBIS)), 2)).value)
    out.profile_requests = list(sent)
    return out


def verify(name: str, recorded: Recorded, data: MeterData) -> None:
    if recorded.register_value != data.register_value:
        raise AssertionError(f"{name}: register value {recorded.register_value!r} != {data.register_value!r}")
    expected = [list(row) for row in data.rows]
    if recorded.profile_rows != expected:
        got = recorded.profile_rows
        first = next((i for i, (a, b) in enumerate(zip(got, expected, strict=False)) if a != b), None)
        raise AssertionError(
            f"{name}: profile rows differ ({len(got)} rows, expected {len(expected)}; first difference at "
            f"row {first}: {got[first] if first is not None else None!r} != "
            f"{expected[first] if first is not None else None!r})"
        )
    if len(recorded.profile_requests) < 2:
        raise AssertionError(f"{name}: the profile came in one APDU, no block transfer")


# --------------------------------------------------------------------------------------------------
# Timing


def _loop(fn: Callable[[], Any], number: int) -> float:
    start = time.perf_counter()
    for _ in range(number):
        fn()
    return time.perf_counter() - start


def calibrate(fn: Callable[[], Any], min_time: float) -> int:
    """How many calls take at least ``min_time`` seconds (grown until a tenth of it is measured)."""
    number = 1
    while True:
        elapsed = _loop(fn, number)
        if elapsed >= min_time / 10 or number >= 1 << 30:
            break
        number *= 4 if elapsed < min_time / 100 else 2
    return max(1, round(number * min_time / max(elapsed, 1e-9)))


def measure(fns: dict[str, Callable[[], Any]], min_time: float, repeat: int) -> dict[str, float]:
    """Operations per second of each function, best of ``repeat`` rounds that alternate the functions."""
    numbers = {name: calibrate(fn, min_time) for name, fn in fns.items()}
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(repeat):
        for name, fn in fns.items():
            best[name] = min(best[name], _loop(fn, numbers[name]))
    return {name: numbers[name] / best[name] for name in fns}


def replay(handle: Handler, frames: Sequence[bytes]) -> Callable[[], Any]:
    if len(frames) == 1:
        only = frames[0]
        return lambda: handle(only)

    def run() -> None:
        for frame in frames:
            handle(frame)

    return run


def profile_summary(fns: dict[str, Callable[[], Any]], seconds: float = 1.0, lines: int = 25) -> str:
    out = io.StringIO()
    for name, fn in fns.items():
        number = calibrate(fn, seconds)
        profiler = cProfile.Profile()
        profiler.enable()
        _loop(fn, number)
        profiler.disable()
        out.write(f"\n=== cProfile: cosemnet {name} ({number} operations), by own time ===\n")
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(lines)
    return out.getvalue()


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "platform": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "versions": {"cosemnet": version("cosemnet"), "gurux-dlms": version("gurux-dlms")},
    }


def run(min_time: float, repeat: int, max_pdu: int, progress: bool, with_profile: bool) -> dict[str, Any]:
    started_on = machine()
    meter, data = cosemnet_meter_data()
    endpoints = {"cosemnet": cosemnet_endpoint(meter), "gurux-dlms": gurux_endpoint(data)}
    recorded: dict[str, Recorded] = {}
    for name, (handle, _what) in endpoints.items():
        recorded[name] = record(handle, max_pdu)
        verify(name, recorded[name], data)
    gc.enable()
    cases = {
        "register_get": {
            name: replay(h, [recorded[name].register_request]) for name, (h, _) in endpoints.items()
        },
        "profile_read": {
            name: replay(h, recorded[name].profile_requests) for name, (h, _) in endpoints.items()
        },
    }
    results: dict[str, dict[str, Any]] = {}
    for case, fns in cases.items():
        rates = measure(fns, min_time, repeat)
        results[case] = {}
        for name, rate in rates.items():
            rounds = 1 if case == "register_get" else len(recorded[name].profile_requests)
            results[case][name] = {
                "ops_per_s": rate,
                "ms_per_op": 1000.0 / rate,
                "rounds": rounds,
                "what": endpoints[name][1],
                "verified": True,
            }
            if progress:
                print(f"  {case:13s} {name:11s} {rate:12,.1f}/s ({rounds} rounds)", file=sys.stderr)
    register_ratio = (
        results["register_get"]["cosemnet"]["ops_per_s"] / results["register_get"]["gurux-dlms"]["ops_per_s"]
    )
    profile_ratio = (
        results["profile_read"]["cosemnet"]["ops_per_s"] / results["profile_read"]["gurux-dlms"]["ops_per_s"]
    )
    summary = {
        "register_get": {
            "ratio": register_ratio,
            "target": REGISTER_TARGET,
            "met": register_ratio >= REGISTER_TARGET,
        },
        "profile_read": {
            "ratio": profile_ratio,
            "target": PROFILE_TARGET,
            "met": profile_ratio >= PROFILE_TARGET,
        },
    }
    report: dict[str, Any] = {
        "machine": started_on,
        "settings": {
            "min_time_s": min_time,
            "repeat": repeat,
            "rows": len(data.rows),
            "columns": len(data.columns),
            "max_pdu": max_pdu,
            "client_sap": CLIENT_SAP,
            "gc": "enabled",
        },
        "results": results,
        "summary": summary,
    }
    if with_profile:
        report["cprofile"] = profile_summary({case: fns["cosemnet"] for case, fns in cases.items()})
    return report


# --------------------------------------------------------------------------------------------------
# Over TCP: 100 connections, one request in flight each, the three servers behind asyncio

TCP_CONNECTIONS = 100
TCP_SECONDS = 2.0
TCP_WARMUP = 0.3
TCP_GURUX_TARGET = 3.0  # cosemnet requests/s >= 3x gurux's behind the same adapter
TCP_CEILING_TARGET = 0.3  # cosemnet requests/s >= 30% of the canned server's (the transport ceiling)
_WRAPPER_HEADER = 8


def _frames(buffer: bytearray) -> list[bytes]:
    """Cut the complete wrapper frames (8-byte header, length in its last two bytes) off ``buffer``."""
    frames = []
    while len(buffer) >= _WRAPPER_HEADER:
        size = _WRAPPER_HEADER + int.from_bytes(buffer[6:8], "big")
        if len(buffer) < size:
            break
        frames.append(bytes(buffer[:size]))
        del buffer[:size]
    return frames


class _FrameProtocol(asyncio.Protocol):
    """The adapter gurux and the canned server sit behind: the same shape as cosemnet's ``_TcpProtocol``
    (bytes in, the handler's bytes written back, TCP_NODELAY), plus the wrapper de-framing that cosemnet
    does inside its connection."""

    def __init__(self, make_handler: Callable[[], Handler]) -> None:
        self.make_handler = make_handler
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.handle: Handler | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.handle = self.make_handler()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.transport is None or self.handle is None:
            return
        for frame in _frames(self.buffer):
            self.transport.write(self.handle(frame))


async def _serve_cosemnet(tick_per_request: bool) -> tuple[Any, Callable[[], Any]]:
    """``cosemnet meter serve``'s server: the default simulated meter, run up to the request time before
    every request (``on_request``), the inactivity timer on, on the asyncio TCP adapter."""
    from cosemnet.cli.meter import load_devices
    from cosemnet.server.asyncio_server import serve_tcp
    from cosemnet.server.server import MeterServer

    devices, _tick = load_devices(None, time.time())
    if not tick_per_request:
        devices = [dataclasses.replace(d, on_request=None) for d in devices]
    running = await serve_tcp(MeterServer(devices), "127.0.0.1", 0)
    return running, running.close


async def _serve_frames(make_handler: Callable[[], Handler]) -> tuple[Any, Callable[[], Any]]:
    loop = asyncio.get_running_loop()
    listener = await loop.create_server(lambda: _FrameProtocol(make_handler), "127.0.0.1", 0, backlog=512)

    async def close() -> None:
        listener.close()
        await listener.wait_closed()

    return listener, close


def _port(running: Any) -> int:
    sockets = running.sockets if isinstance(running, asyncio.Server) else None
    if sockets is not None:
        return int(sockets[0].getsockname()[1])
    return int(running.addresses[0][1])


def load_client(
    port: int, connections: int, seconds: float, warmup: float, frames_hex: list[str]
) -> dict[str, Any]:
    """The load generator (its own process): ``connections`` sockets, each sends ``frames[0]`` (the AARQ)
    once, then ``frames[1]`` (the GET) whenever the previous answer is complete (one request in flight per
    connection); counts the answers completed between ``warmup`` and ``warmup + seconds``."""
    import selectors

    aarq, request = (bytes.fromhex(f) for f in frames_hex)
    selector = selectors.DefaultSelector()
    buffers: dict[socket.socket, bytearray] = {}
    for _ in range(connections):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(aarq)
        buffers[sock] = bytearray()
        selector.register(sock, selectors.EVENT_READ)
    first: bytes | None = None
    associated: set[socket.socket] = set()
    now = time.perf_counter()
    start_count = stop_at = now + 600.0  # set once every connection is associated
    done = counted = 0
    while now < stop_at:
        for key, _ in selector.select(timeout=1.0):
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("the server closed a connection")
            buffer = buffers[sock]
            buffer += chunk
            for frame in _frames(buffer):
                done += 1
                if first is None and sock in associated:
                    first = frame  # the first answer to a GET, for the caller to check
                associated.add(sock)
                sock.send(request)
        now = time.perf_counter()
        if done >= connections and start_count > now + warmup:
            start_count, stop_at = now + warmup, now + warmup + seconds
        if now < start_count:
            counted = done
    for sock in buffers:
        sock.close()
    return {
        "answers": done - counted,
        "all_answers": done,
        "seconds": now - start_count,
        "first_answer": (first or b"").hex(),
    }


async def _drive(
    port: int, connections: int, seconds: float, warmup: float, frames: list[bytes]
) -> dict[str, Any]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--load-client",
        json.dumps([port, connections, seconds, warmup, [f.hex() for f in frames]]),
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError("the load client failed")
    result: dict[str, Any] = json.loads(out)
    return result


def _tcp_frames() -> tuple[bytes, bytes]:
    """The AARQ and the GET register.value frames, built by gurux's client (as in the in-process case)."""
    from gurux_dlms import GXDLMSClient
    from gurux_dlms.enums import Authentication, InterfaceType
    from gurux_dlms.objects import GXDLMSRegister

    client = GXDLMSClient(True, CLIENT_SAP, SERVER_SAP, Authentication.NONE, None, InterfaceType.WRAPPER)
    aarq = bytes(client.aarqRequest()[0])
    get = bytes(client.read(GXDLMSRegister(_gurux_ln(REGISTER_OBIS)), 2)[0])
    return aarq, get


def _answer_value(frame: bytes) -> Any:
    from cosemnet.codec.xdlms import GetResponseNormal

    return GetResponseNormal.decode(frame[_WRAPPER_HEADER:]).result


async def _tcp_round(
    name: str,
    connections: int,
    seconds: float,
    warmup: float,
    frames: list[bytes],
    canned: bytes,
    data: MeterData,
) -> dict[str, Any]:
    if name.startswith("cosemnet"):
        running, close = await _serve_cosemnet(name == "cosemnet")
    elif name == "gurux-dlms":
        running, close = await _serve_frames(lambda: gurux_endpoint(data)[0])
    else:
        running, close = await _serve_frames(lambda: lambda frame: canned)
    try:
        cpu = time.process_time()
        result = await _drive(_port(running), connections, seconds, warmup, frames)
        result["server_cpu_s"] = time.process_time() - cpu
    finally:
        await close()
    first = bytes.fromhex(result.pop("first_answer"))
    if name == "canned":
        ok = first == canned
    else:
        value = _answer_value(first)
        ok = isinstance(value, int) and (value == data.register_value if name == "gurux-dlms" else value >= 0)
    if not ok:
        raise AssertionError(f"{name} over TCP: unexpected answer {first.hex()}")
    result["requests_per_s"] = result["answers"] / result["seconds"]
    return result


TCP_SERVERS = ("canned", "cosemnet", "cosemnet-no-tick", "gurux-dlms")
TCP_WHAT = {
    "canned": "asyncio Protocol answering every request frame with the recorded GET-response frame "
    "(no decoding): the transport ceiling",
    "cosemnet": "cosemnet meter serve's server: serve_tcp(MeterServer), default simulated meter run up to "
    "the request time before each request (on_request), inactivity timer on",
    "cosemnet-no-tick": "the same without on_request (the meter is not run per request)",
    "gurux-dlms": "GXDLMSServer.handleRequest per frame (one server per connection, register only) behind "
    "an asyncio Protocol of the same shape as cosemnet's",
}


def run_tcp(connections: int, seconds: float, repeat: int, progress: bool) -> dict[str, Any]:
    """Every server ``repeat`` times in alternation (best round kept), the same load client each time."""
    meter, data = cosemnet_meter_data(rows=1)
    aarq, get = _tcp_frames()
    handle, _ = cosemnet_endpoint(meter)
    handle(aarq)
    canned = handle(get)  # the canned answer: the GET-response frame cosemnet's server gives, recorded once
    best: dict[str, dict[str, Any]] = {}
    for _ in range(repeat):
        for name in TCP_SERVERS:
            result = asyncio.run(
                _tcp_round(name, connections, seconds, TCP_WARMUP, [aarq, get], canned, data)
            )
            if name not in best or result["requests_per_s"] > best[name]["requests_per_s"]:
                best[name] = result
            if progress:
                print(f"  tcp {name:17s} {result['requests_per_s']:10,.0f} requests/s", file=sys.stderr)
    for name, result in best.items():
        result["what"] = TCP_WHAT[name]
        # the server process's CPU time over the whole round / every answer it gave in that round
        result["server_cpu_us_per_request"] = 1e6 * result["server_cpu_s"] / max(result["all_answers"], 1)
    ours = best["cosemnet"]["requests_per_s"]
    vs_gurux = ours / best["gurux-dlms"]["requests_per_s"]
    of_ceiling = ours / best["canned"]["requests_per_s"]
    return {
        "connections": connections,
        "seconds": seconds,
        "repeat": repeat,
        "results": best,
        "summary": {
            "vs_gurux": {"ratio": vs_gurux, "target": TCP_GURUX_TARGET, "met": vs_gurux >= TCP_GURUX_TARGET},
            "of_ceiling": {
                "ratio": of_ceiling,
                "target": TCP_CEILING_TARGET,
                "met": of_ceiling >= TCP_CEILING_TARGET,
            },
        },
    }


def tcp_table(tcp: dict[str, Any]) -> str:
    lines = [
        f"Over TCP, {tcp['connections']} connections, one request in flight each ({tcp['seconds']} s per "
        f"round, best of {tcp['repeat']}):",
        "",
        "| server | requests/s | server CPU per request |",
        "|---|---:|---:|",
    ]
    for name in TCP_SERVERS:
        r = tcp["results"][name]
        lines.append(f"| {name} | {r['requests_per_s']:,.0f} | {r['server_cpu_us_per_request']:.1f} us |")
    s = tcp["summary"]
    lines.append("")
    lines.append(
        f"cosemnet / gurux-dlms: **{s['vs_gurux']['ratio']:.1f}x** (target >= {s['vs_gurux']['target']}x: "
        f"{'met' if s['vs_gurux']['met'] else '**missed**'}); cosemnet / canned: "
        f"**{100 * s['of_ceiling']['ratio']:.0f}%** (target >= {100 * s['of_ceiling']['target']:.0f}%: "
        f"{'met' if s['of_ceiling']['met'] else '**missed**'})"
    )
    return "\n".join(lines)


def table(report: dict[str, Any]) -> str:
    titles = {
        "register_get": "register GET (value)",
        "profile_read": f"profile read ({report['settings']['rows']} rows)",
    }
    lines = [
        "| case | cosemnet | gurux-dlms | rounds (cosemnet / gurux) | cosemnet / gurux | target |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for case, title in titles.items():
        r = report["results"][case]
        s = report["summary"][case]
        ours, theirs = r["cosemnet"], r["gurux-dlms"]
        if case == "register_get":
            cells = f"{ours['ops_per_s']:,.0f}/s | {theirs['ops_per_s']:,.0f}/s"
            target = f">= {s['target']:.0f}x"
        else:
            cells = f"{ours['ms_per_op']:,.2f} ms | {theirs['ms_per_op']:,.1f} ms"
            target = f"<= 1/{s['target']:.0f} of the time"
        verdict = "met" if s["met"] else "**missed**"
        lines.append(
            f"| {title} | {cells} | {ours['rounds']} / {theirs['rounds']} | **{s['ratio']:.1f}x** "
            f"| {target}: {verdict} |"
        )
    m = report["machine"]
    lines.append("")
    lines.append(f"Machine: {m['cpu']}, {m['cpu_count']} CPUs, {m['platform']}, {m['python']}.")
    lines.append(f"Load average when the run started (1/5/15 min): {m['load_average']}.")
    v = m["versions"]
    lines.append(f"Versions: cosemnet {v['cosemnet']}, gurux-dlms {v['gurux-dlms']}.")
    lines.append(f"Client max receive PDU size: {report['settings']['max_pdu']}.")
    if "cprofile" in report:
        lines.append(report["cprofile"])
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print machine-readable results")
    parser.add_argument("--quick", action="store_true", help="short smoke run (numbers not meaningful)")
    parser.add_argument("--min-time", type=float, default=1.0, help="seconds per timed loop (default 1)")
    parser.add_argument("--repeat", type=int, default=3, help="timed loops per case, best kept (default 3)")
    parser.add_argument(
        "--max-pdu",
        type=int,
        default=DEFAULT_MAX_PDU,
        help=f"client max receive PDU size (default {DEFAULT_MAX_PDU})",
    )
    parser.add_argument(
        "--profile", action="store_true", help="append a cProfile summary of cosemnet's paths"
    )
    parser.add_argument(
        "--connections", type=int, default=TCP_CONNECTIONS, help="TCP connections (default 100)"
    )
    parser.add_argument(
        "--tcp-seconds",
        type=float,
        default=TCP_SECONDS,
        help="seconds per TCP round (default 2; 0 skips TCP)",
    )
    parser.add_argument("--load-client", help=argparse.SUPPRESS)  # internal: the TCP load generator
    args = parser.parse_args(argv)
    if args.load_client:
        port, connections, seconds, warmup, frames = json.loads(args.load_client)
        print(json.dumps(load_client(port, connections, seconds, warmup, frames)))
        return 0
    min_time, repeat = (0.01, 1) if args.quick else (args.min_time, args.repeat)
    report = run(min_time, repeat, args.max_pdu, progress=not args.json, with_profile=args.profile)
    report["settings"]["quick"] = args.quick
    if args.tcp_seconds > 0:
        seconds, connections = (0.2, 10) if args.quick else (args.tcp_seconds, args.connections)
        report["tcp"] = run_tcp(connections, seconds, repeat, progress=not args.json)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(table(report))
        if "tcp" in report:
            print()
            print(tcp_table(report["tcp"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
