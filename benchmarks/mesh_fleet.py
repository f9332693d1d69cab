"""Mesh fleet benchmark: one head-end process reading one ciphered register from every meter of a
simulated fleet (IEC TS 62056-8-20), with gurux-dlms's client reading the same fleet as the reference.

::

    .venv/bin/python benchmarks/mesh_fleet.py                 # 10,000 meters
    .venv/bin/python benchmarks/mesh_fleet.py --quick --json  # 500 meters, machine-readable
    .venv/bin/python benchmarks/mesh_fleet.py --meters 2000 --gurux-sample 100
    .venv/bin/python benchmarks/mesh_fleet.py --scale --meters 100000 --anyip fd00:c05e::/64 --netns NS

``--scale``: the fleet-size run (issue 13): start ``--meters`` meters, wait for every registration,
read every meter once (association included) and report meters/s, the fleet process's file
descriptors and its memory per meter (``ru_maxrss`` delta / meters); nothing else (no window sweep, no
gurux). With ``--anyip`` the fleet serves every meter from one shared socket (IPV6_PKTINFO,
docs/decisions/0118), so its file descriptors do not grow with the fleet; ``--netns NS`` (root) runs
the whole benchmark inside a network namespace it creates with the AnyIP route of the prefix on
``lo`` (and deletes at the end).

Layout: the fleet (:class:`cosemnet.simulator.mesh_fleet.MeshFleet`) runs in a *separate process*
(this script started again with ``--fleet-worker``; its ``RLIMIT_NOFILE`` soft limit raised to the
hard limit: one socket per meter), every meter on ``::1`` with its own UDP port (or, with ``--anyip
PREFIX``, its own address of the prefix: root, the AnyIP route in place, e.g. run the benchmark under
``ip netns exec NS`` after ``ip -n NS link set lo up; ip -n NS -6 route add local PREFIX dev lo``); the
head-end (:class:`cosemnet.headend.HeadEndService` on ``::1``, HLS-GMAC associations, general-glo
ciphering, Green Book test keys, throttle limits raised to 512 requests in flight, 5 s timeout) runs
in this process. With ``--anyip`` the fleet serves every meter from one shared socket (decision 0118),
so its file descriptors stay constant. One fleet process only: fleet meters take their system titles
from their index (``serial = index + 1``), so two fleet processes would register the same titles. Steps:

1. the fleet registers with the head-end (registration time reported);
2. pass 1, timed and reported separately: one collect of 3/1-0:1.8.0*255/2 from every meter,
   *including* the AARQ/AARE of every long-lived association;
3. pass 2, the figure compared with the target: the same collect on the established associations;
4. verification: for a few meters, the value read must lie between the meter's own value (asked from
   the fleet process) just before and just after a fresh read;
5. memory, measured in the fleet process: peak RSS (``VmHWM``) minus the RSS before the fleet was built,
   per meter (compared with the target: it covers every socket, association and Python object), and,
   in a second, traced fleet of ``--traced-meters`` meters going through the same registration and
   association, the ``tracemalloc`` peak per meter (Python objects only);
6. gurux-dlms reference: ``GXDLMSSecureClient`` (HLS-GMAC, authentication + encryption, wrapper)
   reading the same register *sequentially* (associate, read, release) from a sample of the fleet
   (``--gurux-sample``, default 200 meters); its meters/s is that sample's rate (extrapolated: the
   sequential rate does not depend on the fleet size). Runs after the cosemnet passes, because a
   meter keeps one association per client wPort and gurux takes over the head-end's (client wPort 1).
"""

# mypy: disable-error-code="import-untyped"
from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import datetime as _dt
import gc
import io
import json
import os
import platform
import resource
import socket
import subprocess
import sys
import time
import tracemalloc
from typing import Any

from cosemnet.client.connection import AwaitApdu, ClientConfig, ClientConnection, Done, SendApdu
from cosemnet.codec.wrapper import WrapperFrame
from cosemnet.headend import AttributeRef, HeadEnd, HeadEndConfig, HeadEndService
from cosemnet.headend.headend import MESH_CONFORMANCE
from cosemnet.headend.keys import DEFAULT_HEAD_END_SYSTEM_TITLE, TEST_AK, TEST_EK
from cosemnet.profiles.mesh import AddressBook, ThrottleConfig
from cosemnet.security.control import SecurityPolicy
from cosemnet.security.counters import MemoryInvocationCounter
from cosemnet.security.hls import Mechanism
from cosemnet.security.keys import KeySet
from cosemnet.simulator.mesh_fleet import FleetConfig, MeshFleet, fleet_profile

MESH_POLICY = (
    SecurityPolicy.AUTHENTICATED_REQUEST
    | SecurityPolicy.ENCRYPTED_REQUEST
    | SecurityPolicy.AUTHENTICATED_RESPONSE
    | SecurityPolicy.ENCRYPTED_RESPONSE
)
ENERGY = AttributeRef.parse("3/1-0:1.8.0*255/2")
TARGET_RATE = 2000.0
TARGET_BYTES = 20 * 1024
CHECKED_METERS = 5


# --------------------------------------------------------------------------------------------------
# The fleet process


def _status_kib(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _raise_nofile() -> tuple[int, int]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def _meter_value(fleet: MeshFleet, index: int) -> int:
    meter = fleet.nodes[index].meter
    meter.catch_up(_dt.datetime.now(_dt.UTC))  # type: ignore[attr-defined]  # a SimulatedMeter
    value = meter.device.get(3, ENERGY.logical_name, 2, meter.context())
    assert isinstance(value, int)
    return value


async def _fleet_worker(args: argparse.Namespace) -> None:
    """Run the fleet; commands (one JSON object a line) on stdin, answers on stdout."""
    nofile = _raise_nofile()
    fleet_profile()  # the shared template is not per-meter memory
    gc.collect()
    if args.traced:
        tracemalloc.start()
    rss_before = _status_kib("VmRSS")
    maxrss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    fds_before = len(os.listdir("/proc/self/fd"))
    host, port = args.head_end.rsplit(":", 1)
    config = FleetConfig(
        meters=args.meters,
        head_end=(host.strip("[]"), int(port)),
        anyip_prefix=args.anyip,
        randomisation_start_interval=args.randomisation,
        repetition_delay=args.repetition_delay,
        number_of_retries=args.retries,
        seed=1,
    )
    fleet = MeshFleet(config)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    def answer(obj: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()

    try:
        await fleet.start()
    except OSError as exc:
        answer({"error": f"cannot open the fleet's sockets: {exc} (RLIMIT_NOFILE {nofile})"})
        return
    answer({"started": len(fleet.nodes), "nofile": list(nofile), "gateway": fleet.group_gateway})
    try:
        while True:
            line = await reader.readline()
            if not line:
                break
            command = json.loads(line)
            kind = command["cmd"]
            if kind == "registered":
                answer({"registered": fleet.registered})
            elif kind == "endpoints":
                indexes = command["indexes"]
                answer(
                    {"endpoints": [[fleet.nodes[i].system_title.hex(), *fleet.endpoint(i)] for i in indexes]}
                )
            elif kind == "cpu":
                times = os.times()
                answer({"cpu": times.user + times.system})
            elif kind == "values":
                answer({"values": [_meter_value(fleet, i) for i in command["indexes"]]})
            elif kind == "memory":
                gc.collect()
                report: dict[str, Any] = {
                    "maxrss_before_kib": maxrss_before,
                    "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                    "fds_before": fds_before,
                    "fds": len(os.listdir("/proc/self/fd")),
                    "shared_socket": fleet.shared_socket is not None,
                    "rss_before_kib": rss_before,
                    "rss_now_kib": _status_kib("VmRSS"),
                    "rss_peak_kib": _status_kib("VmHWM"),
                    "meters": len(fleet.nodes),
                }
                if tracemalloc.is_tracing():
                    current, peak = tracemalloc.get_traced_memory()
                    report["tracemalloc_current"] = current
                    report["tracemalloc_peak"] = peak
                answer(report)
            elif kind == "stop":
                break
    finally:
        await fleet.stop()
    answer({"stopped": True, "stats": fleet.stats.as_dict()})


class FleetProcess:
    """The fleet worker, driven over its stdin / stdout."""

    def __init__(
        self,
        meters: int,
        head_end: tuple[str, int],
        anyip: str | None,
        traced: bool,
        randomisation: int = 0,
        retries: int = 10,
        repetition_delay: int = 2,
    ) -> None:
        command = [
            sys.executable,
            os.path.abspath(__file__),
            "--fleet-worker",
            "--meters",
            str(meters),
            "--head-end",
            f"[{head_end[0]}]:{head_end[1]}",
            "--randomisation",
            str(randomisation or max(1, meters // 2000)),
            "--retries",
            str(retries),
            "--repetition-delay",
            str(repetition_delay),
        ]
        if anyip:
            command += ["--anyip", anyip]
        if traced:
            command.append("--traced")
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1
        )
        self.started: dict[str, Any] = {}

    async def read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = await asyncio.to_thread(self.process.stdout.readline)
        if not line:
            raise RuntimeError(f"the fleet process ended (exit code {self.process.wait()})")
        answer: dict[str, Any] = json.loads(line)
        if "error" in answer:
            raise RuntimeError(answer["error"])
        return answer

    async def ask(self, **command: Any) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        return await self.read()

    async def stop(self) -> dict[str, Any] | None:
        try:
            return await asyncio.wait_for(self.ask(cmd="stop"), 30)
        except (RuntimeError, OSError, TimeoutError):
            return None
        finally:
            with contextlib.suppress(OSError):
                self.process.stdin.close()  # type: ignore[union-attr]
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


# --------------------------------------------------------------------------------------------------
# The head-end side


def _head_end() -> HeadEnd:
    throttle = ThrottleConfig(
        max_in_flight=512,
        max_per_border_router=512,
        max_per_prefix=512,
        timeout=5.0,
        max_retries=5,
        backoff_base=0.5,
        adaptive=False,  # the lossless raw rate, as measured before decision 0080 (mesh_loss.py: adaptive)
    )
    return HeadEnd(AddressBook(":memory:"), config=HeadEndConfig(throttle=throttle))


async def _wait_registered(
    head_end: HeadEnd, meters: int, timeout: float, stall: float | None = None
) -> float:
    """Seconds until ``meters`` are in the book; an error after ``timeout`` s, or after ``stall`` s
    without a new registration."""
    start = last_change = time.perf_counter()
    seen = 0
    while len(head_end.book) < meters:
        now = time.perf_counter()
        if len(head_end.book) != seen:
            seen, last_change = len(head_end.book), now
        if now - start > timeout or (stall is not None and now - last_change > stall):
            raise RuntimeError(
                f"only {len(head_end.book)} of {meters} meters registered in {now - start:.0f} s"
            )
        await asyncio.sleep(0.05)
    return time.perf_counter() - start


async def _timed_collect(service: HeadEndService, meters: int) -> dict[str, Any]:
    aarq_before = service.head_end.aarq_sent
    start = time.perf_counter()
    run = await service.collect([ENERGY])
    seconds = time.perf_counter() - start
    ok = sum(1 for r in run.results.values() if r.ok and isinstance(r.values[0], int))
    return {
        "meters": meters,
        "read": ok,
        "failed": len(run.failed) + len(run.results) - ok,
        "seconds": round(seconds, 3),
        "meters_per_s": round(ok / seconds, 1),
        "aarq_sent": service.head_end.aarq_sent - aarq_before,
        "retries": sum(r.attempts - 1 for r in run.results.values()),
    }


async def _window_sweep(service: HeadEndService, meters: int, windows: list[int]) -> dict[str, Any]:
    """The established-association pass again at each window (requests in flight): meters/s and
    head-end CPU (process time) per read."""
    throttle = service.head_end.throttle
    original = throttle.config
    sweep: dict[str, Any] = {}
    try:
        for window in windows:
            throttle.config = dataclasses.replace(
                original, max_in_flight=window, max_per_border_router=window, max_per_prefix=window
            )
            cpu = time.process_time()
            timed = await _timed_collect(service, meters)
            cpu = time.process_time() - cpu
            timed["head_end_cpu_us_per_read"] = round(cpu / max(1, timed["read"]) * 1e6, 1)
            sweep[str(window)] = timed
    finally:
        throttle.config = original
    return sweep


async def _verify(service: HeadEndService, fleet: FleetProcess, indexes: list[int]) -> dict[str, Any]:
    """The value read must lie between the meter's own value just before and just after the read."""
    endpoints = (await fleet.ask(cmd="endpoints", indexes=indexes))["endpoints"]
    titles = [bytes.fromhex(e[0]) for e in endpoints]
    before = (await fleet.ask(cmd="values", indexes=indexes))["values"]
    run = await service.collect([ENERGY], system_titles=titles)
    after = (await fleet.ask(cmd="values", indexes=indexes))["values"]
    checked = []
    for title, low, high in zip(titles, before, after, strict=True):
        result = run.results.get(title)
        value = None if result is None else result.values[0]
        if not (isinstance(value, int) and low <= value <= high):
            raise RuntimeError(f"meter {title.hex()}: read {value!r}, its own value went {low} -> {high}")
        checked.append([title.hex(), low, value, high])
    return {"verified": True, "checked": checked}


# --------------------------------------------------------------------------------------------------
# gurux-dlms reference


class _GuruxReader:
    """gurux-dlms's byte-in/byte-out client (wrapper, HLS-GMAC, suite 0) over one IPv6 UDP socket."""

    def __init__(self, invocation_counter: int) -> None:
        self.counter = invocation_counter
        self.sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        self.sock.settimeout(5.0)

    def _client(self) -> Any:
        from gurux_dlms.enums import Authentication, InterfaceType, Security
        from gurux_dlms.secure import GXDLMSSecureClient

        client = GXDLMSSecureClient(True, 1, 1, Authentication.HIGH_GMAC, None, InterfaceType.WRAPPER)
        client.ciphering.security = Security.AUTHENTICATION_ENCRYPTION
        client.ciphering.systemTitle = bytearray(DEFAULT_HEAD_END_SYSTEM_TITLE)
        client.ciphering.blockCipherKey = bytearray(TEST_EK)
        client.ciphering.authenticationKey = bytearray(TEST_AK)
        client.ciphering.invocationCounter = self.counter
        # mesh meters refuse an unprotected RLRQ in a ciphered association (decision 0036)
        client.useProtectedRelease = True
        return client

    def _exchange(self, client: Any, frames: Any, target: tuple[str, int]) -> Any:
        from gurux_dlms import GXReplyData

        reply = GXReplyData()
        for frame in frames:
            reply.clear()
            self.sock.sendto(bytes(frame), target)
            while True:
                data, _ = self.sock.recvfrom(65535)
                if client.getData(bytearray(data), reply, None):
                    break
        if reply.error:
            raise RuntimeError(f"gurux: error {reply.error} from {target}")
        return reply

    def read(self, target: tuple[str, int]) -> int:
        """Associate (AARQ, HLS pass 3/4), read the register value, release."""
        from gurux_dlms.objects import GXDLMSRegister

        client = self._client()
        reply = self._exchange(client, client.aarqRequest(), target)
        client.parseAareResponse(reply.data)
        if client.getIsAuthenticationRequired():
            answer = self._exchange(client, client.getApplicationAssociationRequest(), target)
            client.parseApplicationAssociationResponse(answer.data)
        register = GXDLMSRegister(".".join(str(b) for b in ENERGY.logical_name))
        value = self._exchange(client, client.read(register, 2), target).value
        release = client.releaseRequest()
        if release:
            self._exchange(client, release, target)
        self.counter = int(client.ciphering.invocationCounter) + 1
        return int(value)

    def close(self) -> None:
        self.sock.close()


class _CosemnetReader:
    """The same sequential workload as :class:`_GuruxReader` with cosemnet's client core
    (:class:`ClientConnection`, HLS-GMAC, general-glo, suite 0) over one blocking IPv6 UDP socket:
    associate (AARQ, HLS pass 3/4), GET, protected release -- one meter after the other."""

    def __init__(self, invocation_counter: int) -> None:
        self.counter = MemoryInvocationCounter(invocation_counter)
        self.sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        self.sock.settimeout(5.0)

    def _exchange(self, conn: ClientConnection, apdu: bytes, target: tuple[str, int]) -> object:
        while True:
            self.sock.sendto(WrapperFrame(1, 1, apdu).encode(), target)
            while True:
                data, _ = self.sock.recvfrom(65535)
                event = conn.receive(WrapperFrame.decode(data).apdu)
                if not isinstance(event, AwaitApdu):
                    break
            if isinstance(event, Done):
                return event.result
            assert isinstance(event, SendApdu)
            apdu = event.apdu

    def read(self, target: tuple[str, int], system_title: bytes) -> int:
        conn = ClientConnection(
            ClientConfig(
                client_sap=1,
                server_sap=1,
                mechanism=Mechanism.HLS_GMAC,
                keys=KeySet(ek=TEST_EK, ak=TEST_AK),
                system_title=DEFAULT_HEAD_END_SYSTEM_TITLE,
                server_system_title=system_title,
                security_policy=MESH_POLICY,
                ciphering="general-glo",
                invocation_counter=self.counter,
                proposed_conformance=MESH_CONFORMANCE,
                use_general_block_transfer=True,
            )
        )
        self._exchange(conn, conn.associate(), target)
        value = self._exchange(
            conn, conn.get(ENERGY.class_id, ENERGY.logical_name, ENERGY.attribute_id), target
        )
        self._exchange(conn, conn.release(), target)
        assert isinstance(value, int)
        return value

    def close(self) -> None:
        self.sock.close()


async def _cosemnet_sequential(fleet: FleetProcess, indexes: list[int]) -> dict[str, Any]:
    """cosemnet doing what the gurux reference does: associate + read + release, sequentially."""
    endpoints = (await fleet.ask(cmd="endpoints", indexes=indexes))["endpoints"]
    targets = [((str(e[1]), int(e[2])), bytes.fromhex(e[0])) for e in endpoints]
    reader = _CosemnetReader(invocation_counter=1 << 29)  # above the head-end's, below gurux's

    def timed() -> float:
        start = time.perf_counter()
        for target, title in targets:
            reader.read(target, title)
        return time.perf_counter() - start

    try:
        seconds = await asyncio.to_thread(timed)
    finally:
        reader.close()
    return {
        "sample": len(targets),
        "seconds": round(seconds, 3),
        "meters_per_s": round(len(targets) / seconds, 1),
        "workload": "associate + read + release, one meter after the other",
    }


async def _gurux_reference(fleet: FleetProcess, indexes: list[int]) -> dict[str, Any]:
    import gurux_dlms

    endpoints = (await fleet.ask(cmd="endpoints", indexes=indexes))["endpoints"]
    targets = [(str(e[1]), int(e[2])) for e in endpoints]
    # our head-end used the same client system title: start far above its invocation counters
    reader = _GuruxReader(invocation_counter=1 << 30)
    try:
        # verification on the first meter: between the meter's own value before and after
        low = (await fleet.ask(cmd="values", indexes=indexes[:1]))["values"][0]
        with contextlib.redirect_stdout(io.StringIO()):
            first = await asyncio.to_thread(reader.read, targets[0])
        high = (await fleet.ask(cmd="values", indexes=indexes[:1]))["values"][0]
        if not low <= first <= high:
            raise RuntimeError(f"gurux read {first}, the meter's own value went {low} -> {high}")

        def timed() -> tuple[float, list[int]]:
            start = time.perf_counter()
            values = [reader.read(t) for t in targets]
            return time.perf_counter() - start, values

        with contextlib.redirect_stdout(io.StringIO()):  # gurux prints "Encryption is applied." a read
            seconds, values = await asyncio.to_thread(timed)
    finally:
        reader.close()
    return {
        "version": getattr(gurux_dlms, "__version__", None) or _version("gurux-dlms"),
        "sample": len(targets),
        "seconds": round(seconds, 3),
        "meters_per_s": round(len(targets) / seconds, 1),
        "extrapolated": True,
        "verified": True,
        "values_positive": all(v >= 0 for v in values),
    }


def _version(package: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


# --------------------------------------------------------------------------------------------------
# One benchmark run


async def _memory_run(meters: int, anyip: str | None) -> dict[str, Any]:
    """A traced fleet (tracemalloc on in the fleet process): registration, associations, one read."""
    head_end = _head_end()
    service = HeadEndService(head_end)
    await service.start("::1", 0)
    fleet = FleetProcess(meters, service.local_address, anyip, traced=True)
    try:
        await fleet.read()
        await _wait_registered(head_end, meters, 60 + meters / 100)
        registered = await fleet.ask(cmd="memory")
        await service.collect([ENERGY])
        memory = await fleet.ask(cmd="memory")
    finally:
        await fleet.stop()
        await service.close()
    return {
        "meters": meters,
        "tracemalloc_peak_bytes_per_meter": round(memory["tracemalloc_peak"] / meters),
        "tracemalloc_current_bytes_per_meter": round(memory["tracemalloc_current"] / meters),
        "tracemalloc_registered_bytes_per_meter": round(registered["tracemalloc_current"] / meters),
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    meters = args.meters
    head_end = _head_end()
    service = HeadEndService(head_end)
    await service.start("::1", 0)
    # the service sizes its own receive buffer to the window (what `hes collect` gets too)
    results_buffer = getattr(service, "receive_buffer", None)
    built_at = time.perf_counter()
    fleet = FleetProcess(meters, service.local_address, args.anyip, traced=False)
    results: dict[str, Any] = {}
    try:
        started = await fleet.read()
        results["fleet_start_seconds"] = round(time.perf_counter() - built_at, 3)
        results["nofile"] = started["nofile"]
        results["registration_seconds"] = round(
            await _wait_registered(head_end, meters, 120 + meters / 50), 3
        )
        results["first_pass_with_association"] = await _timed_collect(service, meters)
        fleet_cpu = (await fleet.ask(cmd="cpu"))["cpu"]
        head_end_cpu = time.process_time()
        results["established"] = await _timed_collect(service, meters)
        head_end_cpu = time.process_time() - head_end_cpu
        results["established"]["head_end_cpu_us_per_read"] = round(
            head_end_cpu / max(1, results["established"]["read"]) * 1e6, 1
        )
        fleet_cpu = (await fleet.ask(cmd="cpu"))["cpu"] - fleet_cpu
        seconds = results["established"]["seconds"]
        # CPU seconds per wall second of the timed pass: ~1.0 means that process is saturated
        results["established"]["fleet_cpu_load"] = round(fleet_cpu / seconds, 2)
        results["established"]["head_end_cpu_load"] = round(head_end_cpu / seconds, 2)
        results["windows"] = await _window_sweep(service, meters, args.windows)
        results["receive_buffer_bytes"] = results_buffer
        step = max(1, meters // CHECKED_METERS)
        results["verification"] = await _verify(service, fleet, list(range(0, meters, step))[:CHECKED_METERS])
        memory = await fleet.ask(cmd="memory")
        peak = (memory["rss_peak_kib"] - memory["rss_before_kib"]) * 1024
        results["memory"] = {
            "rss_before_kib": memory["rss_before_kib"],
            "rss_peak_kib": memory["rss_peak_kib"],
            "rss_peak_delta_bytes_per_meter": round(peak / meters),
        }
        sample = min(args.gurux_sample, meters)
        step = max(1, meters // sample)
        sampled = list(range(0, meters, step))[:sample]
        results["cosemnet_sequential"] = await _cosemnet_sequential(fleet, sampled)
        results["gurux"] = await _gurux_reference(fleet, sampled)
    finally:
        stats = await fleet.stop()
        await service.close()
    results["fleet_stats"] = None if stats is None else stats["stats"]
    if args.traced_meters:
        results["memory"].update(await _memory_run(min(args.traced_meters, meters), args.anyip))
    rate = results["established"]["meters_per_s"]
    per_meter = results["memory"]["rss_peak_delta_bytes_per_meter"]
    results["summary"] = {
        "meters_per_s": rate,
        "meters_per_s_target": TARGET_RATE,
        "rate_met": rate >= TARGET_RATE,
        "bytes_per_meter": per_meter,
        "bytes_per_meter_measure": "RSS peak (VmHWM) delta of the fleet process / meters",
        "bytes_per_meter_target": TARGET_BYTES,
        "memory_met": per_meter <= TARGET_BYTES,
        "versus_gurux": round(rate / results["gurux"]["meters_per_s"], 1),
        "versus_gurux_note": "NOT like for like: concurrent reads on open associations vs gurux's "
        "sequential associate+read+release",
        "versus_gurux_like_for_like": round(
            results["cosemnet_sequential"]["meters_per_s"] / results["gurux"]["meters_per_s"], 1
        ),
    }
    return results


async def scale_run(args: argparse.Namespace) -> dict[str, Any]:
    """The fleet-size run (``--scale``): start, register, one read of every meter, fds and memory."""
    meters = args.meters
    head_end = _head_end()
    service = HeadEndService(head_end)
    await service.start("::1", 0)
    built_at = time.perf_counter()
    fleet = FleetProcess(
        meters,
        service.local_address,
        args.anyip,
        traced=False,
        # registrations spread over meters/1000 s and retried for 150 s: a 100,000-meter fleet must
        # not outrun a head-end sharing a loaded 2-core machine
        randomisation=args.randomisation or max(1, meters // 1000),
        retries=30,
        repetition_delay=5,
    )
    results: dict[str, Any] = {}
    try:
        started = await fleet.read()
        results["fleet_start_seconds"] = round(time.perf_counter() - built_at, 3)
        results["nofile"] = started["nofile"]
        registration_at = time.perf_counter()
        results["registration_seconds"] = round(
            await _wait_registered(head_end, meters, 300 + meters / 50, stall=200), 3
        )
        results["registrations_per_s"] = round(meters / (time.perf_counter() - registration_at), 1)
        fleet_cpu = (await fleet.ask(cmd="cpu"))["cpu"]
        results["read_with_association"] = await _timed_collect(service, meters)
        fleet_cpu = (await fleet.ask(cmd="cpu"))["cpu"] - fleet_cpu
        results["read_with_association"]["fleet_cpu_us_per_meter"] = round(fleet_cpu / meters * 1e6, 1)
        memory = await fleet.ask(cmd="memory")
    finally:
        stats = await fleet.stop()
        await service.close()
    results["fleet_stats"] = None if stats is None else stats["stats"]
    results["fds"] = {"before_fleet": memory["fds_before"], "with_fleet": memory["fds"]}
    results["shared_socket"] = memory["shared_socket"]
    maxrss_delta = (memory["maxrss_kib"] - memory["maxrss_before_kib"]) * 1024
    results["memory"] = {
        "maxrss_before_kib": memory["maxrss_before_kib"],
        "maxrss_kib": memory["maxrss_kib"],
        "maxrss_delta_bytes_per_meter": round(maxrss_delta / meters),
        "rss_now_delta_bytes_per_meter": round(
            (memory["rss_now_kib"] - memory["rss_before_kib"]) * 1024 / meters
        ),
    }
    results["summary"] = {
        "meters": meters,
        "read": results["read_with_association"]["read"],
        "meters_per_s": results["read_with_association"]["meters_per_s"],
        "bytes_per_meter": results["memory"]["maxrss_delta_bytes_per_meter"],
        "bytes_per_meter_measure": "ru_maxrss delta of the fleet process / meters",
        "bytes_per_meter_target": TARGET_BYTES,
        "memory_met": results["memory"]["maxrss_delta_bytes_per_meter"] <= TARGET_BYTES,
        "fleet_fds": memory["fds"],
    }
    return results


def _print_scale(report: dict[str, Any]) -> None:
    r = report["results"]
    read, s, mem = r["read_with_association"], r["summary"], r["memory"]
    print(
        f"fleet: {s['meters']:,} meters (separate process, "
        f"{'one shared socket' if r['shared_socket'] else 'one socket per meter'}), head-end: this process"
    )
    print(
        f"fleet up in {r['fleet_start_seconds']} s; all registered after {r['registration_seconds']} s "
        f"({r['registrations_per_s']:,.0f}/s)"
    )
    print()
    print("| measure | value | target |")
    print("|---|---:|---|")
    print(
        f"| read 3/1-0:1.8.0*255/2 once, association included | {read['meters_per_s']:,.0f} meters/s "
        f"({read['read']:,} of {s['meters']:,} in {read['seconds']} s, {read['retries']} retries) | |"
    )
    print(f"| fleet CPU during the read | {read['fleet_cpu_us_per_meter']} us per meter | |")
    print(
        f"| fleet memory per meter, ru_maxrss delta | {s['bytes_per_meter']:,} B "
        f"(RSS now: {mem['rss_now_delta_bytes_per_meter']:,} B) | <= 20 KiB: "
        f"{'met' if s['memory_met'] else 'not met'} |"
    )
    print(
        f"| fleet file descriptors | {r['fds']['with_fleet']} (before the fleet: {r['fds']['before_fleet']}; "
        f"RLIMIT_NOFILE {r['nofile'][0]:,}) | O(1) in meters |"
    )
    m = report["machine"]
    print(f"Machine: {m['cpu_count']} CPUs, {m['platform']}, CPython {m['python']}, load {m['load_average']}")


def _in_netns(name: str, prefix: str, argv: list[str]) -> int:
    """Run this benchmark again inside network namespace ``name`` (created here, with ``lo`` up and
    the AnyIP route of ``prefix``), then delete the namespace; the run's exit code."""
    if os.geteuid() != 0:
        raise SystemExit("--netns needs root (ip netns add, ip route add local)")
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        for step in (["link", "set", "lo", "up"], ["-6", "route", "add", "local", prefix, "dev", "lo"]):
            subprocess.run(["ip", "-n", name, *step], check=True)
        command = ["ip", "netns", "exec", name, sys.executable, os.path.abspath(__file__), *argv]
        return subprocess.run(command, check=False).returncode
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def _without_netns(argv: list[str]) -> list[str]:
    out: list[str] = []
    skip = False
    for item in argv:
        if skip:
            skip = False
        elif item == "--netns":
            skip = True
        elif not item.startswith("--netns="):
            out.append(item)
    return out


def _machine() -> dict[str, Any]:
    return {
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "versions": {"cosemnet": _version("cosemnet"), "gurux-dlms": _version("gurux-dlms")},
    }


def _print_table(report: dict[str, Any]) -> None:
    r = report["results"]
    first, est, mem, gx, s = (
        r["first_pass_with_association"],
        r["established"],
        r["memory"],
        r["gurux"],
        r["summary"],
    )
    print(f"fleet: {report['settings']['meters']:,} meters (separate process), head-end: this process")
    print(f"fleet up in {r['fleet_start_seconds']} s, all registered after {r['registration_seconds']} s")
    print()
    print("| measure | cosemnet | gurux-dlms (sequential) | target |")
    print("|---|---:|---:|---|")
    print(
        f"| read 3/1-0:1.8.0*255/2, established associations | {est['meters_per_s']:,.0f} meters/s "
        f"({est['read']:,} in {est['seconds']} s) | {gx['meters_per_s']:,.0f} meters/s "
        f"(associate+read+release, {gx['sample']} meters, extrapolated) | >= 2,000/s: "
        f"{'met' if s['rate_met'] else 'not met'} |"
    )
    print(
        f"| first pass, including association | {first['meters_per_s']:,.0f} meters/s "
        f"({first['read']:,} in {first['seconds']} s, {first['aarq_sent']:,} AARQ) | | |"
    )
    print(
        f"| fleet memory per meter, RSS peak delta | {mem['rss_peak_delta_bytes_per_meter']:,} B | | "
        f"<= 20 KiB: {'met' if s['memory_met'] else 'not met'} |"
    )
    if "tracemalloc_peak_bytes_per_meter" in mem:
        print(
            f"| fleet memory per meter, tracemalloc peak ({mem['meters']:,} meters) | "
            f"{mem['tracemalloc_peak_bytes_per_meter']:,} B | | (not compared) |"
        )
        print(
            f"| of which: registered, before any association / after the read (current) | "
            f"{mem['tracemalloc_registered_bytes_per_meter']:,} B / "
            f"{mem['tracemalloc_current_bytes_per_meter']:,} B | | |"
        )
    print()
    seq = r["cosemnet_sequential"]
    print(
        f"| sequential associate+read+release ({seq['sample']} meters, same as gurux) | "
        f"{seq['meters_per_s']:,.0f} meters/s | {gx['meters_per_s']:,.0f} meters/s | like for like |"
    )
    for window, w in r["windows"].items():
        print(
            f"| established, {window} in flight | {w['meters_per_s']:,.0f} meters/s, head-end CPU "
            f"{w['head_end_cpu_us_per_read']} us/read | | |"
        )
    print()
    print(
        f"like for like (sequential associate+read+release): cosemnet / gurux-dlms "
        f"{s['versus_gurux_like_for_like']}x; concurrent established reads / gurux sequential: "
        f"{s['versus_gurux']}x (not like for like); failed reads: {first['failed']} / {est['failed']}"
    )
    print(f"receive buffer granted: {r['receive_buffer_bytes']} bytes")
    print(
        f"CPU load during the timed pass (CPU s / wall s): fleet process {est['fleet_cpu_load']}, "
        f"head-end process {est['head_end_cpu_load']}"
    )
    m = report["machine"]
    print(f"Machine: {m['cpu_count']} CPUs, {m['platform']}, CPython {m['python']}, load {m['load_average']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--meters", type=int, default=None, help="fleet size (default 10,000; --quick 500)")
    parser.add_argument("--quick", action="store_true", help="a small fleet (500 meters), a smoke run")
    parser.add_argument("--json", action="store_true", help="the report as JSON on stdout")
    parser.add_argument(
        "--windows",
        type=lambda text: [int(w) for w in text.split(",")],
        default=[64, 512, 2048],
        help="requests in flight of the window sweep (default 64,512,2048)",
    )
    parser.add_argument("--gurux-sample", type=int, default=None, help="meters gurux reads (default 200)")
    parser.add_argument("--traced-meters", type=int, default=None, help="size of the tracemalloc fleet")
    parser.add_argument("--anyip", default=None, help="AnyIP prefix (root, route in place)")
    parser.add_argument(
        "--netns",
        default=None,
        help="run inside this network namespace, created with the --anyip route (root)",
    )
    parser.add_argument(
        "--scale", action="store_true", help="fleet-size run: register, read once, fds and memory per meter"
    )
    parser.add_argument("--fleet-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--head-end", default=None, help=argparse.SUPPRESS)
    parser.add_argument(
        "--randomisation", type=int, default=0, help="registration randomisation interval, s (0: meters/2000)"
    )
    parser.add_argument("--traced", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--retries", type=int, default=10, help=argparse.SUPPRESS)
    parser.add_argument("--repetition-delay", type=int, default=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.fleet_worker:
        asyncio.run(_fleet_worker(args))
        return 0
    if args.netns:
        if not args.anyip:
            parser.error("--netns needs --anyip")
        return _in_netns(args.netns, args.anyip, _without_netns(sys.argv[1:] if argv is None else argv))
    if args.meters is None:
        args.meters = 500 if args.quick else 10_000
    if args.gurux_sample is None:
        args.gurux_sample = 20 if args.quick else 200
    if args.traced_meters is None:
        args.traced_meters = min(args.meters, 100 if args.quick else 2000)
    machine = _machine()
    if args.scale:
        scale = {
            "settings": {"meters": args.meters, "scale": True, "anyip": args.anyip, "attribute": str(ENERGY)},
            "results": asyncio.run(scale_run(args)),
            "machine": machine,
        }
        if args.json:
            print(json.dumps(scale, indent=2))
        else:
            _print_scale(scale)
        return 0
    results = asyncio.run(run(args))
    report = {
        "settings": {
            "meters": args.meters,
            "quick": args.quick,
            "gurux_sample": args.gurux_sample,
            "traced_meters": args.traced_meters,
            "anyip": args.anyip,
            "attribute": str(ENERGY),
        },
        "results": results,
        "machine": machine,
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print_table(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
