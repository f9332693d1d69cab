"""``cosemnet decode --osgp-key`` on a protected frame of a simulated segment (real processes), and the
demo's LON section rejecting the tampered, replayed and wrong-key frames."""

from __future__ import annotations

import json

from rich.console import Console

from cosemnet.cli.demo_lon import run_lon_demo
from cosemnet.cli.lon_inject import protected_message
from cosemnet.cli.messages import decode_lon_frame
from cosemnet.cli.osgp_decode import open_lon_message
from cosemnet.simulator.lon_segment import build_segment, read_segment

from .conftest import RunCli


def _protected_frame() -> tuple[str, str, str]:
    segment = build_segment(1, seed=5)
    start = len(segment.capture.frames)
    read_segment(segment, ln=False)
    meter = segment.meters[0]
    frame = next(
        f
        for f in segment.capture.frames[start:]
        if protected_message(f) is not None and f.npdu.destination == meter.address
    )
    agent = segment.concentrator_security
    assert agent is not None
    ctx = agent.contexts[("node", (1 << 8) | 2)]
    assert ctx.current is not None
    return frame.encode().hex(), ctx.sessions[ctx.current].key.hex(), ctx.local_id.hex()


def test_decode_opens_the_envelope(run_cli: RunCli) -> None:
    frame, key, sender = _protected_frame()
    result = run_cli(
        "decode", "--profile", "lon", "--json", frame, "--osgp-key", key, "--osgp-sender", sender
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    envelope = out["osgp"]
    assert envelope["verified"] is True and envelope["key"] == "session" and envelope["key_id"] == 1
    assert envelope["frame_counter"] >= 1 and len(envelope["tag"]) == 16
    assert envelope["dlms"]["apdu"] in ("AARQ", "ReadRequest")
    assert key not in result.stdout  # the key is never echoed
    tree = run_cli("decode", "--profile", "lon", frame, "--osgp-key", key, "--osgp-sender", sender)
    assert "OSGP-AES-128-PSK envelope: session key 1" in tree.stdout and "verified" in tree.stdout


def test_decode_wrong_key_tampered_or_missing_sender(run_cli: RunCli) -> None:
    frame, key, sender = _protected_frame()
    wrong = run_cli("decode", "--profile", "lon", frame, "--osgp-key", "00" * 16, "--osgp-sender", sender)
    assert wrong.returncode == 1 and "not verified" in wrong.stdout and "OSGP envelope" in wrong.stderr
    assert run_cli("decode", frame, "--osgp-key", key).returncode == 2  # the sender's node ID is needed
    message = decode_lon_frame(bytes.fromhex(frame))
    good = open_lon_message(message, bytes.fromhex(key), bytes.fromhex(sender))
    assert good is not None and good.verified
    other = open_lon_message(message, bytes.fromhex(key), bytes(6))
    assert other is not None and not other.verified  # the sender's ID is in the nonce
    assert message.adp is not None
    payload = bytearray(message.adp.payload)
    payload[7] ^= 0x01
    message.adp.payload = bytes(payload)
    tampered = open_lon_message(message, bytes.fromhex(key), bytes.fromhex(sender))
    assert tampered is not None and not tampered.verified


def test_demo_lon_section_rejects_the_three_forgeries() -> None:
    console = Console(record=True, width=1000, highlight=False)
    summary = run_lon_demo(console, False)
    osgp = summary["osgp"]
    assert osgp["secure_channels"] == summary["meters"]
    assert osgp["attacks"] == {
        "tampered": "authentication",
        "replayed": "replay",
        "wrong_key": "authentication",
    }
    assert osgp["executed_by_meter"] == 0 and summary["ok"] is True
    text = console.export_text()
    assert "tampered -> rejected (authentication)" in text and "wrong key -> rejected" in text
