"""Issue 9, findings 4 and 6: invocation counters never reused, replays refused across associations and
restarts, plain RLRQ refused on ciphered associations (real ``cosemnet`` processes on loopback).

Every process runs with default flags; only ``XDG_STATE_HOME`` points at a directory of the test.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from cosemnet.client.connection import AwaitApdu, ClientConfig, ClientConnection, Done, SendApdu
from cosemnet.codec.acse import AARE, AARQ, RLRE, RLRQ, AssociationResult, ReleaseResponseReason
from cosemnet.codec.ciphered import GeneralGloCiphering, is_protected_tag, parse_ciphered_apdu
from cosemnet.codec.obis import Obis
from cosemnet.codec.wrapper import HEADER_SIZE, WrapperFrame, WrapperHeader
from cosemnet.codec.xdlms import (
    ActionRequestNormal,
    ActionResponseNormal,
    ExceptionResponse,
    ExceptionServiceError,
)
from cosemnet.security.ciphering import decrypt_payload
from cosemnet.security.counters import MemoryInvocationCounter, key_fingerprint
from cosemnet.security.hls import Mechanism
from cosemnet.security.keys import KeySet

EK = bytes.fromhex("000102030405060708090A0B0C0D0E0F")
AK = bytes.fromhex("D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF")
CLIENT_TITLE = bytes.fromhex("4D4D4D0000000001")
ENERGY = Obis.parse("1-0:1.8.0*255")

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


def cosemnet_command() -> list[str]:
    script = Path(sys.executable).parent / "cosemnet"
    return [str(script)] if script.exists() else [sys.executable, "-m", "cosemnet.cli"]


class Meter:
    """``cosemnet meter serve`` with default flags, XDG_STATE_HOME = ``state_home``."""

    def __init__(self, state_home: Path) -> None:
        self.env = {**os.environ, "XDG_STATE_HOME": str(state_home), "PYTHONUNBUFFERED": "1"}
        self.process: subprocess.Popen[str] | None = None
        self.port = 0

    def start(self) -> Meter:
        process = subprocess.Popen(
            [*cosemnet_command(), "meter", "serve", "--bind", "127.0.0.1:0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            env=self.env,
        )
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], 30)
        line = process.stdout.readline().strip() if ready else ""
        if not line.startswith("listening on tcp"):
            process.kill()
            pytest.fail(f"meter serve did not start: {line!r} {process.communicate()[1]}")
        self.process = process
        self.port = int(line.rsplit(":", 1)[1])
        return self

    def stop(self) -> str:
        process = self.process
        assert process is not None
        process.send_signal(signal.SIGTERM)
        try:
            _, err = process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
        self.process = None
        assert process.returncode == 143, err  # stopped by SIGTERM (docs/decisions/0130)
        return err


@pytest.fixture
def meter(tmp_path: Path) -> Iterator[Meter]:
    running = Meter(tmp_path / "state")
    yield running
    if running.process is not None:
        running.process.kill()
        running.process.wait(10)


# --------------------------------------------------------------------------------------------------
# A recording proxy: every wrapper frame, both directions


class RecordingProxy:
    """Forwards 127.0.0.1:port to the meter's current port and keeps every APDU with its direction."""

    def __init__(self) -> None:
        self.upstream = 0
        self.frames: list[tuple[str, bytes]] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.upstream), timeout=30)
            threading.Thread(target=self._pump, args=(client, server, "c2s"), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, "s2c"), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, direction: str) -> None:
        buffer = b""
        try:
            while data := source.recv(65536):
                sink.sendall(data)
                buffer += data
                while len(buffer) >= HEADER_SIZE:
                    length = WrapperHeader.decode(buffer[:HEADER_SIZE]).length
                    if len(buffer) < HEADER_SIZE + length:
                        break
                    self.frames.append((direction, buffer[HEADER_SIZE : HEADER_SIZE + length]))
                    buffer = buffer[HEADER_SIZE + length :]
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._listener.close()


def _hls_counter(plain: bytes) -> int | None:
    """The invocation counter of an HLS-GMAC f(StoC)/f(CtoS) (SC || IC || tag) in a reply_to_HLS
    ACTION request or response, or None."""
    blob: object = None
    if plain[:2] == b"\xc3\x01":
        blob = ActionRequestNormal.decode(plain).method_invocation_parameters
    elif plain[:2] == b"\xc7\x01":
        result = ActionResponseNormal.decode(plain).single_response.return_parameters
        blob = getattr(result, "data", result)
    if isinstance(blob, bytes) and len(blob) == 17 and blob[0] & 0x10:
        return int.from_bytes(blob[1:5], "big")
    return None


def counters_used(frames: list[tuple[str, bytes]], server_title: list[bytes]) -> list[tuple[bytes, int]]:
    """(sender system title, invocation counter) of every GCM use seen on the wire: ciphered envelopes,
    ciphered InitiateRequest/-Response in AARQ/AARE/RLRQ/RLRE, and the HLS-GMAC proofs inside them."""
    pairs: list[tuple[bytes, int]] = []
    for direction, apdu in frames:
        sender = CLIENT_TITLE if direction == "c2s" else None
        ciphered: bytes | None = None
        if apdu[0] == 0x60:
            ciphered = AARQ.decode(apdu).user_information
        elif apdu[0] == 0x61:
            aare = AARE.decode(apdu)
            if aare.responding_ap_title is not None:
                server_title.append(aare.responding_ap_title)
            ciphered = aare.user_information
        elif apdu[0] == 0x62:
            ciphered = RLRQ.decode(apdu).user_information
        elif apdu[0] == 0x63:
            ciphered = RLRE.decode(apdu).user_information
        elif is_protected_tag(apdu[0]):
            ciphered = apdu
        if ciphered is None or not is_protected_tag(ciphered[0]):
            continue
        title = sender if sender is not None else server_title[-1]
        parts = parse_ciphered_apdu(ciphered, title)
        assert parts.system_title is not None
        pairs.append((parts.system_title, parts.header.invocation_counter))
        if isinstance(parts.envelope, GeneralGloCiphering):
            plain = decrypt_payload(
                parts.header.security_control,
                parts.system_title,
                parts.header.invocation_counter,
                EK,
                AK,
                parts.payload,
            )
            inner = _hls_counter(plain)
            if inner is not None:
                pairs.append((parts.system_title, inner))
    return pairs


def ciphered_read(port: int, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            *cosemnet_command(), "read", f"127.0.0.1:{port}", "1-0:1.8.0:2", "--class-id", "3",
            "--client-sap", "1", "--auth", "hls-gmac", "--ciphering", "general-glo",
            "--ek", EK.hex(), "--ak", AK.hex(), "--system-title", CLIENT_TITLE.hex(),
        ],
        capture_output=True, text=True, env=env, timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def test_three_ciphered_reads_and_a_restart_reuse_no_counter(meter: Meter, tmp_path: Path) -> None:
    proxy = RecordingProxy()
    try:
        proxy.upstream = meter.start().port
        for _ in range(2):
            result = ciphered_read(proxy.port, meter.env)
            assert result.returncode == 0, result.stderr
            assert "Wh" in result.stdout
        meter.stop()
        proxy.upstream = meter.start().port
        result = ciphered_read(proxy.port, meter.env)
        assert result.returncode == 0, result.stderr
        meter.stop()
    finally:
        proxy.close()
    pairs = counters_used(proxy.frames, [])
    titles = {title for title, _ in pairs}
    assert CLIENT_TITLE in titles and len(titles) == 2  # both directions were seen
    # per read: AARQ, HLS proof, GET x2 and RLRQ from the client; AARE, HLS proof, answers, RLRE back
    assert len(pairs) >= 3 * 8
    assert len(set(pairs)) == len(pairs), sorted(p for p in pairs if pairs.count(p) > 1)
    # the client counter file: named by system title and key fingerprint, never the key
    files = sorted((tmp_path / "state" / "cosemnet" / "client-counters").glob("*.ic"))
    assert [f.name for f in files] == [f"{CLIENT_TITLE.hex()}-k{key_fingerprint(EK)}.ic"]
    for path in (tmp_path / "state").rglob("*"):
        for key in (EK, AK):
            assert key.hex() not in path.name.lower() and key.hex().upper() not in path.name
            if path.is_file():
                assert key.hex() not in path.read_text("latin-1").lower()


# --------------------------------------------------------------------------------------------------
# Replay and release, driving the sans-IO client over a raw socket


class Session:
    """One TCP connection to the meter, client SAP 1 -> server SAP 1."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=15)

    def send(self, apdu: bytes) -> bytes:
        self.sock.sendall(WrapperFrame(1, 1, apdu).encode())
        return self.receive()

    def receive(self) -> bytes:
        data = b""
        while len(data) < HEADER_SIZE:
            chunk = self.sock.recv(HEADER_SIZE - len(data))
            assert chunk, "connection closed"
            data += chunk
        length = WrapperHeader.decode(data).length
        body = b""
        while len(body) < length:
            chunk = self.sock.recv(length - len(body))
            assert chunk, "connection closed"
            body += chunk
        return body

    def run(self, conn: ClientConnection, first: bytes) -> object:
        event = conn.receive(self.send(first))
        while not isinstance(event, Done):
            if isinstance(event, SendApdu):
                event = conn.receive(self.send(event.apdu))
            else:
                assert isinstance(event, AwaitApdu)
                event = conn.receive(self.receive())
        return event.result

    def close(self) -> None:
        self.sock.close()


def management(counter: MemoryInvocationCounter) -> ClientConnection:
    return ClientConnection(
        ClientConfig(
            client_sap=1,
            mechanism=Mechanism.HLS_GMAC,
            keys=KeySet(ek=EK, ak=AK),
            system_title=CLIENT_TITLE,
            ciphering="general-glo",
            invocation_counter=counter,
        )
    )


def assert_replay_refused(answer: bytes) -> None:
    response = ExceptionResponse.decode(answer)
    assert response.service_error == ExceptionServiceError.INVOCATION_COUNTER_ERROR
    assert response.invocation_counter is not None and response.invocation_counter > 1


def test_old_requests_are_refused_in_a_new_association_and_after_a_restart(meter: Meter) -> None:
    counter = MemoryInvocationCounter(1)  # the genuine client's counter, growing across sessions
    meter.start()
    first = Session(meter.port)
    conn = management(counter)
    old_aarq = conn.associate()
    first.run(conn, old_aarq)
    old_get = conn.get(3, ENERGY, 2)
    assert isinstance(first.run(conn, old_get), int)
    first.run(conn, conn.release())
    first.close()

    second = Session(meter.port)  # a new association of the genuine client, then the replay
    conn = management(counter)
    second.run(conn, conn.associate())
    assert_replay_refused(second.send(old_get))
    assert isinstance(second.run(conn, conn.get(3, ENERGY, 2)), int)  # the association still works
    second.run(conn, conn.release())
    second.close()

    meter.stop()
    meter.start()
    third = Session(meter.port)
    replayed = AARE.decode(third.send(old_aarq))  # the old AARQ's InitiateRequest counter is used up
    assert replayed.result != AssociationResult.ACCEPTED
    third.close()
    fourth = Session(meter.port)
    conn = management(counter)
    fourth.run(conn, conn.associate())
    assert_replay_refused(fourth.send(old_get))
    fourth.run(conn, conn.release())
    fourth.close()
    log = meter.stop()
    assert "EK" not in log and EK.hex() not in log.lower()


def test_plain_rlrq_does_not_release_a_ciphered_association(meter: Meter) -> None:
    meter.start()
    session = Session(meter.port)
    conn = management(MemoryInvocationCounter(1))
    session.run(conn, conn.associate())
    refused = RLRE.decode(session.send(RLRQ(reason=None).encode()))
    assert refused.reason == ReleaseResponseReason.NOT_FINISHED
    assert isinstance(session.run(conn, conn.get(3, ENERGY, 2)), int)  # still associated
    session.run(conn, conn.release())  # our client's release is protected: accepted
    assert conn.release_response is not None
    assert conn.release_response.reason == ReleaseResponseReason.NORMAL
    session.close()
    assert "release refused" in meter.stop()


def test_client_counter_file_survives_runs(meter: Meter, tmp_path: Path) -> None:
    meter.start()
    directory = tmp_path / "state" / "cosemnet" / "client-counters"
    ceilings = []
    for _ in range(2):
        result = ciphered_read(meter.port, meter.env)
        assert result.returncode == 0, result.stderr
        (path,) = directory.glob("*.ic")
        ceilings.append(int(path.read_text().split()[1]))
    assert ceilings[1] > ceilings[0]
    meter.stop()
    # the server's state went to the default place too: its counter and the replay floors
    served = tmp_path / "state" / "cosemnet" / "meter"
    assert list(served.glob("*.ic")) and (served / "replay-floors").exists()


def test_no_state_needs_the_flag_and_warns(tmp_path: Path) -> None:
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state"), "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [*cosemnet_command(), "meter", "serve", "--bind", "127.0.0.1:0", "--no-state"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], 30)
    assert ready and process.stdout.readline().startswith("listening on tcp")
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=20)
    assert "warning: --no-state" in err
    assert not (tmp_path / "state").exists()
    result = subprocess.run(
        [*cosemnet_command(), "read", "127.0.0.1:1", "1-0:1.8.0", "--ciphering", "general-glo",
         "--ek", EK.hex(), "--ak", AK.hex(), "--no-state", "--timeout", "1"],
        capture_output=True, text=True, env=env, timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert "warning: --no-state" in result.stderr
    assert not (tmp_path / "state").exists()
