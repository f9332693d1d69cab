"""``cosemnet sim lon`` with the OSGP-AES-128-PSK suite (real processes): the JSON summary, the null-suite
opt-in, and an attacker whose every tampered or replayed frame is rejected and acted on by no meter."""

from __future__ import annotations

import json
import stat
import subprocess
from pathlib import Path

import pytest

from cosemnet.cli.lon_inject import forge, parse_inject, protected_message
from cosemnet.simulator.lon_segment import build_segment, read_segment

from .conftest import RunCli


def test_sim_lon_json_security_fields(run_cli: RunCli) -> None:
    result = run_cli("sim", "lon", "--meters", "3", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["security"] == "osgp-aes" and summary["meters"] == 3 and summary["read_ok"] == 3
    assert summary["secure_channels"] == 3 and summary["rejected_by_reason"] == {}
    plain = json.loads(run_cli("sim", "lon", "--meters", "2", "--security", "none", "--json").stdout)
    assert plain["security"] == "none" and plain["read_ok"] == 2 and plain["secure_channels"] == 0


def test_sim_lon_injected_frames_are_all_rejected(run_cli: RunCli) -> None:
    result = run_cli("sim", "lon", "--meters", "6", "--inject", "tamper=0.3,replay=0.3", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    injected, rejected = summary["injected"], summary["rejected"]
    assert injected["tamper"] > 0 and injected["replay"] > 0
    assert rejected == injected
    assert summary["acted_on_injected"] == 0
    assert summary["read_ok"] == 6  # the genuine traffic still gets through


def test_sim_lon_inject_usage(run_cli: RunCli) -> None:
    assert run_cli("sim", "lon", "--security", "none", "--inject", "replay=0.1").returncode == 2
    for bad in ("tamper=2", "flood=0.1", "tamper"):
        with pytest.raises(ValueError):
            parse_inject(bad)
    assert parse_inject("tamper=0.5, replay=0") == {"tamper": 0.5, "replay": 0.0}


def test_no_secure_channel_no_protected_association() -> None:
    # without a commissioned channel the protected NNAP association is not used at all (never in clear)
    segment = build_segment(1, seed=3, commission=False)
    report = read_segment(segment, ln=False, sn=True, limit=300)
    assert report.reads[0].errors and "NO_SECURITY_SUITE" in report.reads[0].errors[0]
    assert segment.meters[0].endpoint.requests == 0
    assert segment.commission() == 1
    segment.sn_links[0].submit(lambda c: c.associate())
    assert not read_segment(segment, ln=False, sn=True, limit=300).reads[0].errors


def test_keys_roll_over_without_losing_a_reading() -> None:
    segment = build_segment(4, seed=4)
    agent = segment.concentrator_security
    assert agent is not None
    old_domain = agent.domain.current
    marks = {}
    for meter in segment.meters:  # reads queued, then every key renewed while they run
        link = segment.sn_link(meter)
        marks[meter.index] = len(link.results)
        link.submit(lambda c: c.read([0x1478]))
    for meter in segment.meters:
        agent.renew(meter.address, segment.channel.now)
    agent.update_domain_key(segment.channel.now)
    segment.run()
    for meter in segment.meters:
        results = segment.sn_links[meter.index].results[marks[meter.index] :]
        assert len(results) == 2 and not any(isinstance(r, Exception) for r in results), results
        ctx = agent.contexts[
            ("node", (meter.address.destination_subnet << 8) | meter.address.destination_node)
        ]
        assert ctx.current == 2  # the renewal completed
    assert agent.domain.current != old_domain
    assert read_segment(segment, ln=False).ok


def test_intrusion_is_written_to_the_meter_event_log() -> None:
    segment = build_segment(1, seed=6)
    start = len(segment.capture.frames)
    read_segment(segment, ln=False)
    meter = segment.meters[0]
    frame = next(
        f
        for f in segment.capture.frames[start:]
        if protected_message(f) is not None and f.npdu.destination == meter.address
    )
    message = protected_message(frame)
    assert message is not None and meter.security is not None
    meter.osgp.meter.pop_events()
    for i in range(meter.security.config.max_failures):
        data = bytearray(message.data)
        data[-1 - i] ^= 0x40
        meter.endpoint.stack.receive_lon_frame(forge(frame, bytes(data)), segment.channel.now + i)
        segment.run(limit=30)
    names = [getattr(e, "name", "") for e in meter.osgp.meter.pop_events()]
    assert "security_intrusion" in names
    assert any(e.kind.value == "intrusion_suspected" for e in meter.security.events)


def test_sim_lon_key_file(cosemnet: list[str], tmp_path: Path) -> None:
    path = tmp_path / "dc-keys.json"
    kek = "07" * 16
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "COSEMNET_OSGP_KEK": kek}

    def sim(meters: int, environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*cosemnet, "sim", "lon", "--meters", str(meters), "--key-file", str(path), "--json"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env=environment,
        )

    first = sim(2, env)
    assert first.returncode == 0, first.stderr
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    stored = json.loads(path.read_text())
    assert stored["wrapped"] is True and len(stored["meters"]) == 2
    ltks = {node: item["ltk"] for node, item in stored["meters"].items()}
    assert all(len(v) == 48 for v in ltks.values())  # RFC 3394-wrapped 16-byte keys
    second = sim(3, env)  # the two meters keep their keys, a third is added
    assert second.returncode == 0 and json.loads(second.stdout)["secure_channels"] == 3
    again = json.loads(path.read_text())["meters"]
    assert len(again) == 3 and all(again[n]["ltk"] == ltks[n] for n in ltks)
    assert kek not in first.stdout + first.stderr + second.stdout
    assert list((tmp_path / "dc-keys.json.counters").glob("*.ic"))  # durable frame counters beside the keys
    path.chmod(0o640)
    loose = sim(2, {**env, "COSEMNET_OSGP_KEK": "08" * 16})
    assert loose.returncode == 1 and "accessible to others" in loose.stderr  # checked before any unwrap
