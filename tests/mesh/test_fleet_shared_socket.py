"""The fleet's shared-socket mode (docs/decisions/0118): one UDP socket answering for every meter
address (IPV6_PKTINFO in, IPV6_PKTINFO out), file descriptors O(1) in meters, memory per meter.

The head-end read runs inside a network namespace created for the test (root: an AnyIP route for the
prefix on its ``lo``); the socket mechanics, fd count and memory checks need no privileges (the
shared socket binds ``::`` or ``::1``; meters that nobody reaches still build and join).
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import shutil
import socket
import subprocess
import sys

import pytest

from cosemnet.simulator.mesh_fleet import FleetConfig
from cosemnet.simulator.shared_socket import SharedDatagramSocket


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


pytestmark = pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback on this host")


# --------------------------------------------------------------------------------------------------
# The socket adapter on ::1 (no privileges)


def test_shared_socket_reports_the_destination_and_answers_from_the_given_source() -> None:
    asyncio.run(_reports_destination_and_answers())


async def _reports_destination_and_answers() -> None:
    got: asyncio.Queue[tuple[bytes, bytes, tuple[str, int]]] = asyncio.Queue()
    shared = SharedDatagramSocket(lambda data, local, peer: got.put_nowait((data, local, peer)), burst=2)
    shared.open("::", 0)
    port = shared.local_address[1]
    client = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    client.bind(("::1", 0))
    client.settimeout(5)
    try:
        for i in range(5):  # more than one burst: every datagram is drained
            client.sendto(b"ping %d" % i, ("::1", port))
        received = [await asyncio.wait_for(got.get(), 5) for _ in range(5)]
        assert [r[0] for r in received] == [b"ping %d" % i for i in range(5)]
        assert {r[1] for r in received} == {ipaddress.IPv6Address("::1").packed}
        assert {r[2] for r in received} == {client.getsockname()[:2]}
        assert shared.send(b"pong", ipaddress.IPv6Address("::1").packed, client.getsockname()[:2])
        data, source = await asyncio.to_thread(client.recvfrom, 100)
        assert data == b"pong" and source[:2] == ("::1", port)
        assert shared.received == 5 and shared.sent == 1 and shared.errors == 0
    finally:
        shared.close()
        client.close()
    assert not shared.send(b"late", ipaddress.IPv6Address("::1").packed, ("::1", 9))
    assert shared.dropped == 1


def test_shared_mode_needs_an_anyip_prefix() -> None:
    with pytest.raises(ValueError, match="AnyIP"):
        FleetConfig(meters=1, head_end=("::1", 1), sockets="shared")
    with pytest.raises(ValueError, match="sockets"):
        FleetConfig(meters=1, head_end=("::1", 1), sockets="one")


# --------------------------------------------------------------------------------------------------
# fds and memory of a fleet process (subprocess, no privileges)

_FDS_AND_MEMORY = """
import asyncio, gc, json, os, socket, sys, tracemalloc
from cosemnet.simulator.mesh_fleet import FleetConfig, MeshFleet, fleet_profile

async def main(meters):
    fleet_profile()
    gc.collect()
    fds = len(os.listdir("/proc/self/fd"))
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as free:
        free.bind(("::1", 0))
        port = free.getsockname()[1]
    tracemalloc.start()  # what the fleet holds (the peak RSS may have been set before: it can't tell)
    # the prefix is not routed here: nobody reaches these meters, they build, bind and join all the same
    fleet = MeshFleet(FleetConfig(meters=meters, head_end=("::1", 9), anyip_prefix="fd00:c05e::/64",
                                  shared_host="::1", udp_port=port, gateway_port=None,
                                  randomisation_start_interval=3600))
    await fleet.start()
    gc.collect()
    report = {
        "fds_before": fds,
        "fds": len(os.listdir("/proc/self/fd")),
        "shared": fleet.shared_socket is not None,
        "addresses": len({fleet.endpoint(i)[0] for i in range(meters)}),
        "bytes_per_meter": tracemalloc.get_traced_memory()[0] / meters,
    }
    await fleet.stop()
    print(json.dumps(report))

asyncio.run(main(int(sys.argv[1])))
"""


def test_fleet_fds_do_not_grow_with_meters_and_memory_stays_bounded() -> None:
    """2,000 meters on one shared socket: the process's file descriptors grow by a constant, not by
    the meter count, and its memory per meter stays under a generous bound (exact: benchmarks/)."""
    done = subprocess.run(
        [sys.executable, "-c", _FDS_AND_MEMORY, "2000"],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = __import__("json").loads(done.stdout)
    assert report["shared"] is True, report
    assert report["addresses"] == 2000, report
    assert report["fds"] - report["fds_before"] <= 8, report  # the shared socket, not one per meter
    assert 0 < report["bytes_per_meter"] < 32 * 1024, report


# --------------------------------------------------------------------------------------------------
# A head-end read in a network namespace (root)

_HEAD_END_READ = """
import asyncio, collections, ipaddress, socket, sys
from cosemnet.headend import AttributeRef, HeadEnd, HeadEndConfig, HeadEndService
from cosemnet.profiles.mesh import AddressBook, ThrottleConfig
from cosemnet.simulator.mesh_fleet import FleetConfig, MeshFleet

METERS = int(sys.argv[1])
ENERGY = AttributeRef.parse("3/1-0:1.8.0*255/2")

async def main():
    throttle = ThrottleConfig(max_in_flight=64, max_per_border_router=64, max_per_prefix=64, timeout=5.0,
                              rto_min=0.5)  # no spurious AARQ retries on a loaded machine
    head = HeadEnd(AddressBook(":memory:"), config=HeadEndConfig(throttle=throttle))
    service = HeadEndService(head)
    await service.start("::1", 0)
    sources = collections.Counter()
    deliver = head.receive_datagram
    def record(address, port, data, now):
        sources[(ipaddress.IPv6Address(address).compressed, port)] += 1
        deliver(address, port, data, now)
    head.receive_datagram = record
    fleet = MeshFleet(FleetConfig(meters=METERS, head_end=service.local_address,
                                  anyip_prefix="fd00:c05e::/64", randomisation_start_interval=1))
    await fleet.start()
    assert fleet.shared_socket is not None
    assert await fleet.wait_registered(60), fleet.registered
    run = await service.collect([ENERGY])
    ok = [t for t, r in run.results.items() if r.ok and isinstance(r.values[0], int)]
    assert len(ok) == METERS, (len(ok), run.failed)
    endpoints = {fleet.endpoint(i) for i in range(METERS)}
    assert len({e[0] for e in endpoints}) == METERS
    # every datagram the head-end got came from a meter's own address and port, and every meter sent
    # at least its registration, its AARE and its read answer from there
    assert set(sources) == endpoints, set(sources) ^ endpoints
    assert min(sources.values()) >= 3
    for i, node in enumerate(fleet.nodes):
        assert head.book.lookup(node.system_title).primary_address.compressed == fleet.endpoint(i)[0]
    # an address change: the meter answers from its new address, the old one is nobody's any more
    old = fleet.endpoint(7)
    new = await fleet.change_address(7)
    assert await fleet.wait_registered(30)
    sources.clear()
    title = fleet.nodes[7].system_title
    again = await service.collect([ENERGY], system_titles=[title])
    assert again.results[title].ok and set(sources) == {new}, sources
    probe = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    probe.sendto(b"stray", old)
    probe.close()
    for _ in range(100):
        if fleet.stats.unaddressed:
            break
        await asyncio.sleep(0.02)
    assert fleet.stats.unaddressed == 1
    await fleet.stop()
    await service.close()
    print("shared ok", len(ok), new[0])

asyncio.run(main())
"""


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0 or shutil.which("ip") is None,
    reason="needs root and iproute2 to create a network namespace with an AnyIP route",
)
def test_head_end_reads_200_meters_served_by_one_socket_from_their_own_addresses() -> None:
    name = f"cosemnet-shared-{os.getpid()}"
    if subprocess.run(["ip", "netns", "add", name], capture_output=True).returncode != 0:
        pytest.skip("cannot create a network namespace here")
    try:
        setup = "ip link set lo up && ip -6 route add local fd00:c05e::/64 dev lo"
        subprocess.run(["ip", "netns", "exec", name, "sh", "-c", setup], check=True, capture_output=True)
        result = subprocess.run(
            ["ip", "netns", "exec", name, sys.executable, "-c", _HEAD_END_READ, "200"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        assert "shared ok 200 fd00:c05e::" in result.stdout
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)
