"""``cosemnet decode`` / ``encode`` on the frames of ISO/IEC 14908-1 authenticated transactions (real
processes): the tree names challenge and reply, and decode --json | encode gives the same bytes."""

from __future__ import annotations

import json

from cosemnet.profiles.lon import AuthPdu, AuthPduType, GroupAddress, LonFrame, SubnetNodeAddress
from lon.test_authentication import keyed
from lon.test_stack import MSG, network

from .conftest import RunCli


def exchange_frames() -> list[LonFrame]:
    frames: list[LonFrame] = []
    for auth_type in (0, 1):
        (a, ra), (b, rb), (c, rc) = keyed(1, auth_type=auth_type), keyed(2, auth_type=auth_type), keyed(3)
        b.node.join_group(0, 0x20, 0)
        c.node.join_group(0, 0x20, 1)
        net = network(a, b, c)
        a.send(SubnetNodeAddress(1, 2), MSG, auth=True, now=a.now)
        net.run()
        a.send(GroupAddress(0x20), MSG, auth=True, group_size=2, now=a.now)
        net.run()
        frames += ra.sent + rb.sent + rc.sent
    return frames


def test_authentication_frames_decode_and_round_trip(run_cli: RunCli) -> None:
    frames = exchange_frames()
    kinds = {f.npdu.pdu.auth_pdu_type for f in frames if isinstance(f.npdu.pdu, AuthPdu)}
    assert kinds == set(AuthPduType)
    raws = [f.encode().hex().upper() for f in frames]
    tree = run_cli("decode", "--profile", "lon", *raws)
    assert tree.returncode == 0, tree.stderr
    out = tree.stdout
    assert "AuthPDU CHALLENGE (standard, address omitted) for a subnet/node message" in out
    assert "AuthPDU REPLY (standard, address omitted) for a group message" in out
    assert "AuthPDU CHALLENGE (OMA, address included) for a group message" in out
    assert "AuthPDU REPLY (OMA, address included) for a subnet/node message" in out
    assert "TPDU ACKD, transaction 1, authentication requested" in out

    result = run_cli("decode", "--profile", "lon", "--json", *raws)
    assert result.returncode == 0, result.stderr
    objs = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(objs) == len(frames)
    pdus = [o["frame"]["npdu"]["pdu"] for o in objs]
    assert {p["auth_pdu_type"] for p in pdus if p["type"] == "AuthPdu"} == {m.name for m in AuthPduType}
    encoded = run_cli("encode", stdin=result.stdout)
    assert encoded.returncode == 0, encoded.stderr
    assert encoded.stdout.split() == raws
