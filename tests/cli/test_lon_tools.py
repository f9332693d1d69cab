"""``cosemnet lon discover`` / ``cosemnet lon commission`` against ``cosemnet sim lon --channel cnip
--unconfigured`` (issue 11 item 6): real processes on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from cosemnet.cli.lon import parse_domain, parse_meters_file, parse_segment
from cosemnet.cli.main import cli
from cosemnet.profiles.lon.addresses import BroadcastAddress, SubnetNodeAddress
from cosemnet.profiles.lon.cnip import CnipPacket
from cosemnet.profiles.lon.frames import LonFrame
from cosemnet.profiles.lon.lon_apdu import ApplicationMessage
from cosemnet.profiles.lon.node import LonNode
from cosemnet.profiles.lon.osgp_aes.keys import KeyStore
from cosemnet.profiles.lon.stack import LonStack
from cosemnet.profiles.lon.transaction import Service
from cosemnet.simulator.lon_cnip import CnipHub, simulated_long_term_key
from cosemnet.simulator.lon_segment import meter_unique_id

from .conftest import RunCli


@contextmanager
def segment(cosemnet: list[str], *args: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """A running ``sim lon --channel cnip --unconfigured``; its segment address."""
    sim = subprocess.Popen(
        [*cosemnet, "sim", "lon", "--channel", "cnip", "--unconfigured", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert sim.stdout is not None
        ready = json.loads(sim.stdout.readline())
        assert ready["unconfigured"] is True
        yield ready["segment"], sim
    finally:
        if sim.poll() is None:
            sim.terminate()
        sim.wait(timeout=20)


def final_state(sim: subprocess.Popen[str]) -> dict[str, Any]:
    sim.terminate()
    out, err = sim.communicate(timeout=20)
    assert sim.returncode == 143, err  # stopped by SIGTERM (docs/decisions/0130)
    return dict(json.loads(out.strip().splitlines()[-1]))


def only_json(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert "Traceback" not in result.stderr
    return dict(json.loads(result.stdout))


def test_discover_commission_and_read_five_unconfigured_meters(cosemnet: list[str], run_cli: RunCli) -> None:
    expected = {meter_unique_id(i).hex() for i in range(5)}
    with segment(cosemnet, "--meters", "5") as (address, sim):
        host, port = address.split(":")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as junk:  # not CN/IP: dropped by the hub
            junk.sendto(b"\x00\x01garbage", (host, int(port)))
        found = run_cli("lon", "discover", "--segment", address, "--json")
        assert found.returncode == 0, found.stderr
        discovered = only_json(found)
        assert {m["unique_id"] for m in discovered["meters"]} == expected  # exactly the meters present
        assert discovered["discovered"] == 5 and discovered["settled"] is True
        assert all(m["address"] is None and m["state"] == "discovered" for m in discovered["meters"])
        assert "query 1: 5 new" in found.stderr  # progress on stderr, JSON alone on stdout

        done = run_cli("lon", "commission", "--segment", address, "--test-keys", "--json", timeout=150)
        assert done.returncode == 0, done.stderr
        summary = only_json(done)
        assert (summary["discovered"], summary["commissioned"], summary["read_ok"]) == (5, 5, 5)
        assert summary["failed"] == 0 and summary["skipped"] == [] and summary["missing"] == []
        assert {m["unique_id"] for m in summary["meters"]} == expected
        assert all(m["commissioned_times"] == 1 and m["state"] == "in_service" for m in summary["meters"])
        assigned = {m["unique_id"]: m["address"] for m in summary["meters"]}
        assert len(set(assigned.values())) == 5

        again = run_cli("lon", "discover", "--segment", address, "--json")  # all configured now
        assert again.returncode == 0 and only_json(again)["discovered"] == 0
        state = final_state(sim)
    assert state["configured"] == 5 and state["hub"]["rejected"] >= 1
    for node in state["nodes"]:
        assert node["address"] == assigned[node["unique_id"]] and node["domain_id"] == "4c"
        assert node["requests"] >= 1  # the verifying read reached the meter's DLMS server


def test_commission_a_listed_meter_with_the_segment_key_file(
    cosemnet: list[str], run_cli: RunCli, tmp_path: Path
) -> None:
    keys = tmp_path / "keys.json"
    wanted = meter_unique_id(1).hex()
    (tmp_path / "meters.txt").write_text(f"# the one to commission\n{wanted} 2/40\n")
    with segment(cosemnet, "--meters", "3", "--key-file", str(keys)) as (address, sim):
        store = KeyStore.load(keys)  # the meters' keys, written by the segment
        entry = store.entry(meter_unique_id(1))
        assert entry is not None and entry.current.key != simulated_long_term_key(meter_unique_id(1))
        args = ("--segment", address, "--meters", str(tmp_path / "meters.txt"), "--subnet", "2")
        done = run_cli("lon", "commission", *args, "--keys", str(keys), "--json", timeout=150)
        assert done.returncode == 0, done.stderr
        summary = only_json(done)
        assert summary["commissioned"] == 1 and summary["read_ok"] == 1 and summary["failed"] == 0
        assert summary["skipped"] == sorted(meter_unique_id(i).hex() for i in (0, 2))
        (meter,) = summary["meters"]
        assert (meter["unique_id"], meter["address"], meter["commissioned_times"]) == (wanted, "2/40", 1)
        state = final_state(sim)
    assert state["configured"] == 1
    (node,) = [n for n in state["nodes"] if n["configured"]]
    assert node["unique_id"] == wanted and node["address"] == "2/40" and node["address_changes"] == 1


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _one_line_error(code: int, stdout: str, stderr: str, returncode: int, text: str) -> None:
    assert returncode == code, stderr
    assert "Traceback" not in stderr and stdout == ""
    errors = [line for line in stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1 and text in errors[0]


def test_unreachable_segment_and_bad_key_file(run_cli: RunCli, tmp_path: Path) -> None:
    """Real processes: exit 1 for a segment nobody listens on, 2 for a bad key file; one line each."""
    nobody = f"127.0.0.1:{_free_udp_port()}"
    for args in (("discover",), ("commission", "--test-keys")):
        result = run_cli("lon", *args, "--segment", nobody, "--timeout", "3")
        _one_line_error(1, result.stdout, result.stderr, result.returncode, "no CN/IP segment at " + nobody)
    bad = tmp_path / "keys.json"
    bad.write_text('{"not": "a key file"}')
    bad.chmod(0o600)
    result = run_cli("lon", "commission", "--segment", nobody, "--keys", str(bad))
    _one_line_error(2, result.stdout, result.stderr, result.returncode, "malformed key file")


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (("lon", "commission", "--segment", "127.0.0.1:9"), "needs --keys FILE or --test-keys"),
        (
            ("lon", "commission", "--segment", "127.0.0.1:9", "--keys", "k", "--test-keys"),
            "exclude each other",
        ),
        (
            ("lon", "commission", "--segment", "h:9", "--test-keys", "--meters", "M", "--all-discovered"),
            "exclude",
        ),
        (("lon", "commission", "--segment", "127.0.0.1:9", "--test-keys", "--meters", "METERS"), "line 1"),
        (("lon", "discover", "--segment", "127.0.0.1:0"), "--segment"),
        (("lon", "discover", "--segment", "127.0.0.1:9", "--domain", "0102"), "--domain"),
        (("sim", "lon", "--unconfigured"), "--channel cnip"),
    ],
)
def test_usage_errors(args: tuple[str, ...], text: str, tmp_path: Path) -> None:
    meters = tmp_path / "meters.txt"
    meters.write_text("4c4f4e0100 1/2\n")  # 5 bytes
    argv = [str(meters) if a == "METERS" else a for a in args]
    result = CliRunner().invoke(cli, argv)
    _one_line_error(2, result.stdout, result.stderr, result.exit_code, text)


def test_segment_domain_and_meters_file_parsing(tmp_path: Path) -> None:
    assert parse_domain("4c") == b"\x4c" and parse_domain("010203") == b"\x01\x02\x03"
    for bad in ("0102", "zz", ""):
        with pytest.raises(click.BadParameter):
            parse_domain(bad)
    assert parse_segment("127.0.0.1") == ("127.0.0.1", 1628)
    assert parse_segment("[::1]:16280") == ("::1", 16280)
    listed = tmp_path / "found.json"
    listed.write_text(json.dumps({"meters": [{"unique_id": "4c4f4e010000", "address": None}]}))
    assert parse_meters_file(str(listed)) == {bytes.fromhex("4c4f4e010000"): None}
    text = tmp_path / "meters.txt"
    text.write_text("4c4f4e010001 3/9  # planned\n\n")
    assert parse_meters_file(str(text)) == {bytes.fromhex("4c4f4e010001"): SubnetNodeAddress(3, 9)}
    text.write_text("4c4f4e010001 3/200\n")  # node 200 is out of range
    with pytest.raises(click.BadParameter):
        parse_meters_file(str(text))


def a_frame() -> LonFrame:
    stack = LonStack(LonNode.configured_in(bytes(6), b"\x4c", 1, 1))
    stack.send(BroadcastAddress(0), ApplicationMessage(0x10, b"x"), Service.UNACKD, now=0.0)
    (frame,) = stack.pop_outgoing()
    return frame


def test_hub_forwards_cnip_to_other_members_only_and_bounds_the_tools() -> None:
    async def run() -> None:
        hub = CnipHub(max_learned=2)
        address = await hub.start()
        loop = asyncio.get_running_loop()
        socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(4)]
        try:
            for s in socks:
                s.bind(("127.0.0.1", 0))
                s.setblocking(False)
            member = socks[0].getsockname()
            hub.add_member(member)
            packet = CnipPacket.data_packet(a_frame()).encode()
            socks[1].sendto(b"junk", address)
            for s in socks[1:]:
                s.sendto(packet, address)
            for _ in range(3):
                assert await asyncio.wait_for(loop.sock_recv(socks[0], 2048), 5) == packet
            assert hub.rejected == 1 and len(hub.learned) == 2  # the first tool was forgotten
            assert socks[1].getsockname() not in hub.learned and tuple(member) not in hub.learned
        finally:
            for s in socks:
                s.close()
            hub.close()

    asyncio.run(run())


def test_simulated_keys_are_per_meter() -> None:
    keys = {simulated_long_term_key(meter_unique_id(i)) for i in range(20)}
    assert len(keys) == 20 and all(len(k) == 16 for k in keys)
