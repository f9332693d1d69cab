"""``cosemnet decode`` / ``encode`` on Annex E proxy frames from a real repeated exchange (real
processes): the tree shows the proxy layer (header, hops, agent part, outcome) and decode --json | encode
gives the same bytes."""

from __future__ import annotations

import json

from lon.test_proxy_tshark import proxy_frames, repeated_frames

from .conftest import RunCli


def test_proxy_frames_decode_and_round_trip(run_cli: RunCli) -> None:
    frames = proxy_frames(repeated_frames())
    raws = [f.encode().hex().upper() for f in frames]
    tree = run_cli("decode", "--profile", "lon", *raws)
    assert tree.returncode == 0, tree.stderr
    out = tree.stdout
    assert "IEC 62056-8-8 Annex E proxy message, 2 hop address(es) left, uniform by destination" in out
    assert "IEC 62056-8-8 Annex E proxy message, 0 hop address(es) left" in out
    assert "target type 1 SUBNET_NODE, REQUEST NORMAL" in out
    assert "Annex E proxy success / uplink poll" in out
    assert "Annex E repeating failure at the node with count 1" in out
    result = run_cli("decode", "--profile", "lon", "--json", *raws)
    assert result.returncode == 0, result.stderr
    objs = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(objs) == len(frames)
    encoded = run_cli("encode", stdin=result.stdout)
    assert encoded.returncode == 0, encoded.stderr
    assert encoded.stdout.split() == raws
