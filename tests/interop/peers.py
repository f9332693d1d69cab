"""Drivers for the interop tests: our meter as a real process, and the two Python peers as clients.

* :class:`MeterProcess` starts ``cosemnet meter serve`` as a subprocess on loopback and waits for its
  ``listening on ...`` line.
* :class:`TcpWrapperLink` / :class:`UdpWrapperLink` move whole IEC 62056-4-7 wrapper frames over a real
  socket (8-byte header: version 1, source wPort, destination wPort, length; then ``length`` bytes).
* :class:`GuruxSession` runs gurux-dlms's byte-in/byte-out ``GXDLMSClient`` (``InterfaceType.WRAPPER``)
  over such a link: association (incl. HLS-GMAC), object list, GET, profile by range, release, and counts
  every request/response round.
* :func:`dlms_cosem_client` builds dlms-cosem's blocking ``DlmsClient`` over its own TCP IO.

Only the peers' public entry points are called; nothing of theirs is copied here.
"""

# mypy: disable-error-code="import-untyped"
from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import os
import re
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

WRAPPER_VERSION = 1
WRAPPER_HEADER = struct.Struct(">HHHH")

# Green Book suite-0 test keys and system titles (spec-notes section 1).
GREEN_BOOK_EK = bytes(range(16))
GREEN_BOOK_AK = bytes(range(0xD0, 0xE0))
GREEN_BOOK_CLIENT_SYSTEM_TITLE = bytes.fromhex("4D4D4D0000000001")
GREEN_BOOK_SERVER_SYSTEM_TITLE = bytes.fromhex("4D4D4D0000BC614E")

PUBLIC_CLIENT = 16
MANAGEMENT_CLIENT = 1
MANAGEMENT_LOGICAL_DEVICE = 1

# "listening on tcp 127.0.0.1:4059" / "listening on udp [::1]:4059"
_LISTENING = re.compile(r"listening on\b.*:(?P<port>\d+)\s*$", re.IGNORECASE)


# --------------------------------------------------------------------------------------------------
# Our meter as a subprocess


def cosemnet_command() -> list[str]:
    """The ``cosemnet`` console script of the running interpreter's environment (or ``-m`` fallback)."""
    script = Path(sys.executable).with_name("cosemnet")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "cosemnet.cli"]


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A port that was free on 127.0.0.1 a moment ago (used only when the server cannot bind port 0)."""
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class MeterProcess:
    """``cosemnet meter serve`` as a child process; ``with MeterProcess(...) as meter: meter.port``.

    Its stdout and stderr are drained by a thread (so a chatty server never blocks on a full pipe) and
    kept in :attr:`output` for failure messages. Only this child is terminated on exit.
    """

    def __init__(
        self,
        transport: str = "tcp",
        extra_args: Sequence[str] = (),
        host: str = "127.0.0.1",
        port: int | None = None,
        startup_timeout: float = 20.0,
    ) -> None:
        self.transport = transport
        self.host = host
        self.requested_port = port if port is not None else 0
        self.extra_args = list(extra_args)
        self.startup_timeout = startup_timeout
        # each meter process has its own counters and replay floors (one process per state directory)
        self._state = tempfile.TemporaryDirectory(prefix="cosemnet-meter-")
        self.state_dir = self._state.name
        self.port = 0
        self.output: list[str] = []
        self._listening = threading.Event()
        self._process: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None

    @property
    def command(self) -> list[str]:
        state = (
            [] if {"--state-dir", "--no-state"} & set(self.extra_args) else ["--state-dir", self.state_dir]
        )
        return [
            *cosemnet_command(),
            "meter",
            "serve",
            "--transport",
            self.transport,
            "--bind",
            f"{self.host}:{self.requested_port}",
            *state,
            *self.extra_args,
        ]

    def _drain(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        for line in self._process.stdout:
            self.output.append(line.rstrip("\n"))
            match = _LISTENING.search(line)
            if match and not self._listening.is_set():
                self.port = int(match.group("port"))
                self._listening.set()

    def __enter__(self) -> MeterProcess:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self._process = subprocess.Popen(
            self.command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + self.startup_timeout
        while not self._listening.wait(0.05):
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.__exit__(None, None, None)
                raise RuntimeError(
                    f"meter did not start listening ({' '.join(self.command)}):\n" + "\n".join(self.output)
                )
        if self.port == 0:
            self.__exit__(None, None, None)
            raise RuntimeError("the server printed port 0 in its listening line:\n" + "\n".join(self.output))
        return self

    def __exit__(self, *exc_info: object) -> None:
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        if self._reader is not None:
            self._reader.join(2)
        self._process = None

    def log(self) -> str:
        return "\n".join(self.output)

    def log_count(self, text: str) -> int:
        """How many lines of the server's output so far contain ``text``."""
        return sum(text in line for line in list(self.output))

    def wait_for_log(self, text: str, count: int = 1, timeout: float = 5.0) -> bool:
        """Whether ``count`` lines containing ``text`` are on the server's output within ``timeout`` s
        (the server logs after it answers, so a client can be faster than the log)."""
        deadline = time.monotonic() + timeout
        while self.log_count(text) < count:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True


# --------------------------------------------------------------------------------------------------
# Wrapper links over real sockets


class WrapperLink(Protocol):
    rounds: int

    def send(self, frame: bytes) -> None: ...

    def receive(self) -> bytes: ...

    def close(self) -> None: ...


def _check_header(frame: bytes) -> int:
    version, _source, _destination, length = WRAPPER_HEADER.unpack_from(frame)
    if version != WRAPPER_VERSION:
        raise ConnectionError(f"wrapper version {version}, expected {WRAPPER_VERSION}")
    return int(length)


@dataclass(slots=True)
class TcpWrapperLink:
    """Whole wrapper frames over one TCP connection: read the 8-byte header, then exactly ``length``."""

    host: str
    port: int
    timeout: float = 10.0
    rounds: int = 0
    sock: socket.socket = field(init=False)

    def __post_init__(self) -> None:
        self.sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _exactly(self, n: int) -> bytes:
        chunks = bytearray()
        while len(chunks) < n:
            chunk = self.sock.recv(n - len(chunks))
            if not chunk:
                raise ConnectionError(f"connection closed after {len(chunks)} of {n} bytes")
            chunks += chunk
        return bytes(chunks)

    def send(self, frame: bytes) -> None:
        self.rounds += 1
        self.sock.sendall(frame)

    def receive(self) -> bytes:
        header = self._exactly(WRAPPER_HEADER.size)
        return header + self._exactly(_check_header(header))

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


@dataclass(slots=True)
class UdpWrapperLink:
    """One wrapper frame per datagram (4-7 over UDP); a connected UDP socket to the meter."""

    host: str
    port: int
    timeout: float = 10.0
    rounds: int = 0
    sock: socket.socket = field(init=False)

    def __post_init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect((self.host, self.port))

    def send(self, frame: bytes) -> None:
        self.rounds += 1
        self.sock.send(frame)

    def receive(self) -> bytes:
        datagram = self.sock.recv(65535)
        length = _check_header(datagram)
        if len(datagram) != WRAPPER_HEADER.size + length:
            raise ConnectionError(f"datagram of {len(datagram)} bytes, wrapper header says {length} + 8")
        return datagram

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


def open_link(transport: str, host: str, port: int, timeout: float = 10.0) -> WrapperLink:
    if transport == "tcp":
        return TcpWrapperLink(host, port, timeout)
    if transport == "udp":
        return UdpWrapperLink(host, port, timeout)
    raise ValueError(f"unknown transport {transport!r}")


# --------------------------------------------------------------------------------------------------
# gurux-dlms client


class GuruxReplyError(Exception):
    """The meter answered with an error (gurux's ``GXReplyData.error``: data-access-result etc.)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


@dataclass(slots=True)
class GuruxSecurity:
    """What gurux needs for HLS-GMAC + glo-ciphering (authentication and encryption, suite 0)."""

    system_title: bytes = GREEN_BOOK_CLIENT_SYSTEM_TITLE
    block_cipher_key: bytes = field(default=GREEN_BOOK_EK, repr=False)
    authentication_key: bytes = field(default=GREEN_BOOK_AK, repr=False)
    invocation_counter: int = 1


class GuruxSession:
    """gurux-dlms's ``GXDLMSClient`` (LN, wrapper framing) driven over a :class:`WrapperLink`.

    ``max_pdu`` is the client's proposed max receive PDU size (small values force block transfer).
    Every request frame sent is one round (``link.rounds``).
    """

    def __init__(
        self,
        link: WrapperLink,
        client_address: int = PUBLIC_CLIENT,
        server_address: int = MANAGEMENT_LOGICAL_DEVICE,
        security: GuruxSecurity | None = None,
        max_pdu: int = 0xFFFF,
    ) -> None:
        from gurux_dlms.enums import Authentication, InterfaceType, Security
        from gurux_dlms.secure import GXDLMSSecureClient

        self.link = link
        authentication = Authentication.HIGH_GMAC if security is not None else Authentication.NONE
        client = GXDLMSSecureClient(
            True, client_address, server_address, authentication, None, InterfaceType.WRAPPER
        )
        client.maxReceivePDUSize = max_pdu
        if security is not None:
            client.ciphering.security = Security.AUTHENTICATION_ENCRYPTION
            client.ciphering.systemTitle = bytearray(security.system_title)
            client.ciphering.blockCipherKey = bytearray(security.block_cipher_key)
            client.ciphering.authenticationKey = bytearray(security.authentication_key)
            client.ciphering.invocationCounter = security.invocation_counter
        self.client = client
        self.associated = False

    # -- exchanges ---------------------------------------------------------------------------------

    def _one(self, frame: Any, reply: Any) -> None:
        """Send one request frame, feed reply frames to gurux until it has a complete reply."""
        self.link.send(bytes(frame))
        while True:
            data = self.link.receive()
            if self.client.getData(bytearray(data), reply, None):
                return

    def exchange(self, frames: Sequence[Any]) -> Any:
        """Send a request (one or more frames) and follow block transfer to the end; the GXReplyData."""
        from gurux_dlms import GXReplyData

        reply = GXReplyData()
        for frame in frames:
            reply.clear()
            self._one(frame, reply)
        while reply.isMoreData():
            if reply.isStreaming():
                self._one_streaming(reply)
            else:
                self._one(self.client.receiverReady(reply), reply)
        if reply.error:
            raise GuruxReplyError(int(reply.error), str(reply.getErrorMessage()))
        return reply

    def _one_streaming(self, reply: Any) -> None:
        while True:
            data = self.link.receive()
            if self.client.getData(bytearray(data), reply, None):
                return

    # -- services ----------------------------------------------------------------------------------

    def associate(self) -> Any:
        """AARQ/AARE; for HLS, the reply_to_HLS_authentication round trip and the check of f(CtoS)."""
        reply = self.exchange(self.client.aarqRequest())
        self.client.parseAareResponse(reply.data)
        if self.client.getIsAuthenticationRequired():
            challenge_reply = self.exchange(self.client.getApplicationAssociationRequest())
            self.client.parseApplicationAssociationResponse(challenge_reply.data)
        self.associated = True
        return reply

    def object_list(self) -> Any:
        """The association's object_list as a ``GXDLMSObjectCollection`` (unknown classes included)."""
        reply = self.exchange([self.client.getObjectsRequest()])
        return self.client.parseObjects(reply.data, False, False)

    def read(self, obj: Any, attribute: int) -> Any:
        """GET one attribute and store it in the gurux object; returns the stored value."""
        reply = self.exchange(self.client.read(obj, attribute))
        return self.client.updateValue(obj, attribute, reply.value)

    def read_raw(self, obj: Any, attribute: int) -> Any:
        """GET one attribute; the value as gurux decoded it from the A-XDR (bytearray -> bytes), untyped."""
        return plain(self.exchange(self.client.read(obj, attribute)).value)

    def read_rows_by_range(self, profile: Any, start: Any, end: Any) -> tuple[list[Any], list[Any]]:
        """GET buffer with range selective access (gurux's readRowsByRange).

        Returns the rows as decoded from the A-XDR (lists of int / bytes) and as gurux types them by the
        profile's capture objects (``profile.buffer``: date-times become ``GXDateTime``).
        """
        reply = self.exchange(self.client.readRowsByRange(profile, start, end))
        raw = plain(reply.value)
        self.client.updateValue(profile, 2, reply.value)
        return raw, list(profile.buffer)

    def release(self) -> None:
        frames = self.client.releaseRequest()
        if frames:
            self.exchange(frames)
        self.associated = False


@contextlib.contextmanager
def gurux_session(
    transport: str,
    host: str,
    port: int,
    client_address: int = PUBLIC_CLIENT,
    security: GuruxSecurity | None = None,
    max_pdu: int = 0xFFFF,
) -> Iterator[GuruxSession]:
    """An associated gurux session over TCP or UDP; released and closed on exit."""
    link = open_link(transport, host, port)
    try:
        session = GuruxSession(link, client_address, security=security, max_pdu=max_pdu)
        session.associate()
        yield session
        if session.associated:
            session.release()
    finally:
        link.close()


# --------------------------------------------------------------------------------------------------
# dlms-cosem client


class CountingTransport:
    """dlms-cosem's ``TcpTransport`` with a count of request/response rounds (its DlmsTransport protocol)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.rounds = 0
        self.client_logical_address = inner.client_logical_address
        self.server_logical_address = inner.server_logical_address
        self.io = inner.io
        self.timeout = inner.timeout

    def connect(self) -> None:
        self.inner.connect()

    def disconnect(self) -> None:
        self.inner.disconnect()

    def send_request(self, bytes_to_send: bytes) -> bytes:
        self.rounds += 1
        response: bytes = self.inner.send_request(bytes_to_send)
        return response


def dlms_cosem_client(
    host: str,
    port: int,
    client_address: int = PUBLIC_CLIENT,
    server_address: int = MANAGEMENT_LOGICAL_DEVICE,
    hls_gmac: bool = False,
    max_pdu: int = 0xFFFF,
    invocation_counter: int = 1,
) -> Any:
    """dlms-cosem's blocking ``DlmsClient`` over its ``TcpTransport`` / ``BlockingTcpIO`` (unconnected).

    The transport is wrapped in a :class:`CountingTransport`: ``client.transport.rounds``.
    """
    from dlms_cosem.client import DlmsClient
    from dlms_cosem.io import BlockingTcpIO, TcpTransport
    from dlms_cosem.security import HighLevelSecurityGmacAuthentication, NoSecurityAuthentication

    io = BlockingTcpIO(host=host, port=port, timeout=10)
    transport = CountingTransport(
        TcpTransport(io=io, client_logical_address=client_address, server_logical_address=server_address)
    )
    if not hls_gmac:
        return DlmsClient(
            transport=transport, authentication=NoSecurityAuthentication(), max_pdu_size=max_pdu
        )
    return DlmsClient(
        transport=transport,
        authentication=HighLevelSecurityGmacAuthentication(challenge_length=32),
        encryption_key=GREEN_BOOK_EK,
        authentication_key=GREEN_BOOK_AK,
        client_system_title=GREEN_BOOK_CLIENT_SYSTEM_TITLE,
        client_initial_invocation_counter=invocation_counter,
        max_pdu_size=max_pdu,
    )


# --------------------------------------------------------------------------------------------------
# Values, names, counters


def plain(value: Any) -> Any:
    """Plain Python values for comparisons: bytearray/bytes -> bytes, lists/tuples -> lists, ints -> int,
    a ``CosemDateTime`` -> its 12 bytes (what the A-XDR carries)."""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    to_bytes = getattr(value, "to_bytes", None)
    if callable(to_bytes) and type(value).__name__ == "CosemDateTime":
        return bytes(to_bytes())
    return value


def gurux_ln(obis: Any) -> str:
    """Our OBIS (``1-0:1.8.0*255`` or 6 bytes) -> gurux's dotted ``1.0.1.8.0.255``."""
    if isinstance(obis, bytes | bytearray):
        return ".".join(str(b) for b in obis)
    return str(obis).replace("-", ".").replace(":", ".").replace("*", ".")


_invocation_counters = itertools.count(1, 100_000)


def next_invocation_counter() -> int:
    """A client invocation counter above every one this test process used before (each session of the
    management client starts from a fresh one; a meter process remembers the last counter it accepted)."""
    return next(_invocation_counters)


# --------------------------------------------------------------------------------------------------
# The served meter and its in-process twin

HISTORY = dt.timedelta(days=12)
"""How far in the past the served meter starts: 12 days of 15-minute captures = 1,152 rows."""
PROFILE_ENTRIES = 1200
"""The default profile keeps 960 entries (10 days); the scenario's profile keeps 1,200."""


@dataclass(slots=True)
class MeterScenario:
    """The meter ``cosemnet meter serve`` runs in the interop tests, and a twin to compute expectations.

    The config is the simulator's default profile with ``profile_entries`` raised to 1,200; the meter
    starts ``HISTORY`` (12 days) before the test session at a whole hour, so it catches up 1,152
    load-profile captures when it starts. The twin is built from the same profile, seed and start and
    advanced in-process to any moment: the simulator being deterministic, it has the served meter's values.
    """

    config_path: Path
    start: dt.datetime
    seed: int = 0
    _profile: Any = None
    _twin: Any = None

    @classmethod
    def create(cls, directory: Path) -> MeterScenario:
        from importlib import resources

        default = (resources.files("cosemnet.simulator") / "profiles" / "default.toml").read_text("utf-8")
        text, count = re.subn(
            r"^(\[load_profile\][^\[]*?^profile_entries\s*=\s*)\d+",
            rf"\g<1>{PROFILE_ENTRIES}",
            default,
            count=1,
            flags=re.MULTILINE | re.DOTALL,
        )
        if count != 1:
            raise RuntimeError("the default simulator profile has no [load_profile] profile_entries to raise")
        path = directory / "meter.toml"
        path.write_text(text, "utf-8")
        now = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
        return cls(path, now - HISTORY)

    def serve_args(self) -> list[str]:
        return ["--config", str(self.config_path), "--start", self.start.isoformat()]

    # -- the twin -----------------------------------------------------------------------------------

    @property
    def profile(self) -> Any:
        if self._profile is None:
            from cosemnet.simulator.profile import load_profile

            self._profile = load_profile(self.config_path)
        return self._profile

    def new_twin(self) -> Any:
        from cosemnet.simulator.meter import build_meter

        return build_meter(self.profile, seed=self.seed, start=self.start)

    def twin_at(self, when: dt.datetime) -> Any:
        """The twin advanced to ``when`` (a fresh one if the cached twin is already later)."""
        if self._twin is None or self._twin.now > when:
            self._twin = self.new_twin()
        self._twin.catch_up(when)
        return self._twin

    @staticmethod
    def utc_now() -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    def object_list(self, client_sap: int) -> list[Any]:
        association = self.new_twin().association(client_sap)
        assert association is not None, f"the profile has no association for client {client_sap}"
        return list(association.association.entries)

    def _find(self, class_id: int, obis: str) -> Any:
        obj = self.new_twin().device.find(class_id, obis)
        assert obj is not None, f"the twin has no object {class_id}/{obis}"
        return obj

    def scaler_unit(self, obis: str) -> tuple[int, int]:
        register = self._find(3, obis)
        return int(register.scaler), int(register.unit)

    def register_bounds(self, obis: str, before: dt.datetime, after: dt.datetime) -> tuple[int, int]:
        """The register's value a little before ``before`` and a little after ``after`` (the served
        meter advances once a second, so its reading may lag by up to that)."""
        low_meter = self.twin_at(before - dt.timedelta(seconds=3))
        low = int(low_meter.device.find(3, obis).get(2, low_meter.context()))
        high_meter = self.twin_at(after + dt.timedelta(seconds=2))
        high = int(high_meter.device.find(3, obis).get(2, high_meter.context()))
        return low, high

    @staticmethod
    def clock_instant(raw: bytes) -> dt.datetime:
        from cosemnet.codec.datetime import CosemDateTime

        value = raw if isinstance(raw, CosemDateTime) else CosemDateTime.from_bytes(plain(raw))
        return value.to_datetime().astimezone(dt.UTC)

    def time_zone(self) -> int:
        return int(self.new_twin().clock.time_zone)

    def capture_objects(self) -> list[Any]:
        lp = self.new_twin().load_profile
        assert lp is not None
        return list(lp.capture_objects)

    def range_for_rows(self) -> tuple[dt.datetime, dt.datetime]:
        """From the second capture after the start to two quarter hours before now (all captured)."""
        now = self.utc_now()
        end = now.replace(minute=now.minute - now.minute % 15, second=0, microsecond=0)
        return self.start + dt.timedelta(minutes=30), end - dt.timedelta(minutes=30)

    def profile_rows(self, start: dt.datetime, end: dt.datetime) -> list[tuple[Any, ...]]:
        """The twin's load-profile rows captured from ``start`` to ``end`` inclusive."""
        twin = self.twin_at(max(end + dt.timedelta(seconds=1), self.start))
        lp = twin.load_profile
        assert lp is not None
        return [row for row in lp.buffer if start <= self.clock_instant(row[0]) <= end]

    def logical_device_name(self) -> bytes:
        return bytes(self.new_twin().logical_device_name)

    def system_title(self) -> bytes:
        return bytes(self.new_twin().system_title)
