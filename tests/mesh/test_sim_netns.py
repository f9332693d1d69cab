"""``cosemnet sim mesh --netns``: the fleet in a network namespace of its own.

The root-only test wires two namespaces with a veth pair carrying real IPv6 addresses: the fleet runs
in one (each meter on its own address of an AnyIP /64, the route added by ``--netns``), a head-end in
the other; the meters register across the veth and the head-end reads every one of them.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from cosemnet.cli import sim
from cosemnet.cli.sim import sim_group

ROOT = hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("ip") is not None
needs_root = pytest.mark.skipif(not ROOT, reason="needs root and iproute2 (network namespaces, veth)")

LINK_FLEET = "fd00:c05f:1::1"
LINK_HEAD_END = "fd00:c05f:1::2"
FLEET_PREFIX = "fd00:c05f:2::/64"
METERS = 20

_HEAD_END_SCRIPT = """
import asyncio, json, sys, time
from cosemnet.headend import AttributeRef, HeadEnd, HeadEndConfig, HeadEndService
from cosemnet.profiles.mesh import AddressBook, ThrottleConfig

async def main():
    meters = int(sys.argv[1])
    config = HeadEndConfig(throttle=ThrottleConfig(max_per_prefix=32, timeout=2.0, backoff_base=0.2))
    head_end = HeadEnd(AddressBook(":memory:"), config=config)
    service = HeadEndService(head_end)
    await service.start(sys.argv[2], 61616)
    print("ready", flush=True)
    end = time.monotonic() + 15
    while len(head_end.book) < meters and time.monotonic() < end:
        await asyncio.sleep(0.05)
    run = await asyncio.wait_for(service.collect([AttributeRef.parse("3/1-0:1.8.0*255/2")]), 15)
    addresses = sorted({str(e.primary_address) for e in head_end.book.entries()})
    values = [r.values[0] for r in run.results.values()]
    print(json.dumps({"registered": len(head_end.book), "read": len(values), "failed": len(run.failed),
                      "ints": all(isinstance(v, int) for v in values), "addresses": addresses}), flush=True)
    await service.close()

asyncio.run(main())
"""


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


def _namespaces() -> set[str]:
    listing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return {line.split(" ", 1)[0] for line in listing.splitlines()}


def test_netns_without_root_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    result = CliRunner().invoke(sim_group, ["mesh", "--head-end", "[::1]:9", "--netns", "x"])
    assert result.exit_code == 1
    assert "--netns needs root" in result.output


def test_netns_command_line_round_trip() -> None:
    argv = sim._argv(
        {
            "meters": 5,
            "head_end": "[::1]:9",
            "anyip": None,
            "as_json": True,
            "netns": "n",
            "window": "0:10",
            "port_base": 0,
        }
    )
    assert argv == [
        "--meters",
        "5",
        "--head-end",
        "[::1]:9",
        "--json",
        "--response-window",
        "0:10",
        "--port-base",
        "0",
    ]


@needs_root
def test_netns_is_created_and_removed() -> None:
    name = f"cmsim{os.getpid()}"
    done = subprocess.run(
        [sys.executable, "-m", "cosemnet.cli", "sim", "mesh", "--netns", name, "--meters", "3",
         "--duration", "0.5", "--head-end", "[::1]:9", "--json"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    if done.returncode != 0 and "cannot create network namespace" in done.stderr:
        pytest.skip("network namespaces are not available here")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["meters"] == 3
    assert name not in _namespaces()


@needs_root
def test_fleet_and_head_end_in_two_namespaces_across_a_veth() -> None:
    tag = f"{os.getpid() % 100000}"
    fleet_ns, head_ns = f"cmfleet{tag}", f"cmhes{tag}"
    veth_fleet, veth_head = f"cmvf{tag}", f"cmvh{tag}"
    created: list[str] = []
    processes: list[subprocess.Popen[str]] = []
    try:
        for name in (fleet_ns, head_ns):
            if subprocess.run(["ip", "netns", "add", name], capture_output=True).returncode != 0:
                pytest.skip("cannot create network namespaces here")
            created.append(name)
        _ip("link", "add", veth_fleet, "type", "veth", "peer", "name", veth_head)
        _ip("link", "set", veth_fleet, "netns", fleet_ns)
        _ip("link", "set", veth_head, "netns", head_ns)
        _ip("-n", fleet_ns, "-6", "addr", "add", f"{LINK_FLEET}/64", "dev", veth_fleet, "nodad")
        _ip("-n", fleet_ns, "link", "set", veth_fleet, "up")
        _ip("-n", head_ns, "-6", "addr", "add", f"{LINK_HEAD_END}/64", "dev", veth_head, "nodad")
        _ip("-n", head_ns, "link", "set", veth_head, "up")
        _ip("-n", head_ns, "link", "set", "lo", "up")
        _ip("-n", head_ns, "-6", "route", "add", FLEET_PREFIX, "via", LINK_FLEET)

        head_end = subprocess.Popen(
            ["ip", "netns", "exec", head_ns, sys.executable, "-c", _HEAD_END_SCRIPT, str(METERS),
             LINK_HEAD_END],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        processes.append(head_end)
        assert head_end.stdout is not None
        assert head_end.stdout.readline().strip() == "ready", (
            head_end.stderr.read() if head_end.stderr else ""
        )
        fleet = subprocess.Popen(
            [sys.executable, "-m", "cosemnet.cli", "sim", "mesh", "--netns", fleet_ns,
             "--meters", str(METERS), "--anyip", FLEET_PREFIX, "--head-end", f"[{LINK_HEAD_END}]:61616",
             "--randomisation", "0",
             "--duration", "25", "--json"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        processes.append(fleet)
        out, err = head_end.communicate(timeout=40)
        assert head_end.returncode == 0, err[-2000:]
        report = json.loads(out.strip().splitlines()[-1])
        assert report["registered"] == METERS
        assert report["read"] == METERS and report["failed"] == 0 and report["ints"]
        # every meter registered from its own address of the AnyIP prefix, seen across the veth
        assert len(report["addresses"]) == METERS
        assert all(a.startswith("fd00:c05f:2::") for a in report["addresses"])
        # the fleet stops cleanly on SIGTERM (forwarded into the namespace) and removes its route
        time.sleep(0.2)
        fleet.send_signal(signal.SIGTERM)
        fleet_out, fleet_err = fleet.communicate(timeout=20)
        assert fleet.returncode == 143, fleet_err[-2000:]  # 128 + SIGTERM (docs/decisions/0130)
        assert json.loads(fleet_out)["registered"] == METERS
        routes = subprocess.run(
            ["ip", "-n", fleet_ns, "-6", "route", "show", "table", "local"], capture_output=True, text=True
        ).stdout
        assert "fd00:c05f:2::/64" not in routes
        assert fleet_ns in _namespaces()  # an existing namespace is used, not removed
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
        for name in created:
            subprocess.run(["ip", "netns", "del", name], capture_output=True)
