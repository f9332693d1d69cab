"""Wireshark cross-check of ISO/IEC 14908-1 authentication: the frames of real challenge/reply exchanges
(standard and OMA, subnet/node and group messages) dissect in tshark as AuthPDUs, and the authenticated
message carries the auth bit. Skipped only when tshark is not installed.

Wireshark 4.0 names only types 0 CHALLENGE and 2 REPLY (the standard, address-omitted variants) and reads
the raw AuthPDU byte (``lon.authpdu``) and transaction number right; its fmt/type sub-field masks are
wrong, so the raw byte is asserted.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from cosemnet.profiles.lon import (
    AuthPdu,
    AuthPduType,
    CnipPacket,
    GroupAddress,
    LonFrame,
    SubnetNodeAddress,
    Tpdu,
)

from .test_authentication import keyed
from .test_stack import MSG, Recorder, network
from .test_tshark import TSHARK, pcap, udp_ipv4

pytestmark = pytest.mark.skipif(TSHARK is None, reason="tshark is not installed (run `make tshark` as root)")

FIELDS = [
    "lon.pdufmt",
    "lon.addrfmt",
    "lon.domain",
    "lon.auth",
    "lon.authpdu",
    "lon.trans_no",
    "_ws.expert.message",
]


def exchange(group: bool, auth_type: int) -> list[LonFrame]:
    (a, ra), (b, rb), (c, rc) = keyed(1, auth_type=auth_type), keyed(2, auth_type=auth_type), keyed(3)
    recorders: list[Recorder] = [ra, rb]
    net = network(a, b, c)
    if group:
        b.node.join_group(0, 0x20, 0)
        c.node.join_group(0, 0x20, 1)
        recorders.append(rc)
        a.send(GroupAddress(0x20), MSG, auth=True, group_size=2, now=a.now)
    else:
        a.send(SubnetNodeAddress(1, 2), MSG, auth=True, now=a.now)
    net.run()
    return [f for r in recorders for f in r.sent]


@pytest.fixture(scope="module")
def dissected(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[LonFrame, dict[str, str]]]:
    frames = exchange(False, 0) + exchange(True, 0) + exchange(False, 1)
    datagrams = [
        udp_ipv4(
            CnipPacket.data_packet(f, session_id=7, sequence_number=i, timestamp=0).encode(None), 41000 + i
        )
        for i, f in enumerate(frames)
    ]
    path: Path = tmp_path_factory.mktemp("tshark-auth") / "auth.pcap"
    path.write_bytes(pcap(datagrams))
    command = [
        TSHARK or "tshark",
        "-n",
        "-r",
        str(path),
        "-T",
        "fields",
        "-E",
        "header=y",
        "-E",
        "separator=/t",
    ]
    for name in FIELDS:
        command += ["-e", name]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)
    lines = result.stdout.rstrip("\n").split("\n")
    header = lines[0].split("\t")
    rows = [dict(zip(header, line.split("\t"), strict=True)) for line in lines[1:]]
    assert len(rows) == len(frames)
    return list(zip(frames, rows, strict=True))


def test_exchanges_contain_every_auth_pdu_kind(dissected: list[tuple[LonFrame, dict[str, str]]]) -> None:
    kinds = {f.npdu.pdu.auth_pdu_type for f, _ in dissected if isinstance(f.npdu.pdu, AuthPdu)}
    assert kinds == set(AuthPduType)


def test_auth_pdus_dissect_as_auth_pdus(dissected: list[tuple[LonFrame, dict[str, str]]]) -> None:
    seen = 0
    for frame, row in dissected:
        pdu = frame.npdu.pdu
        if not isinstance(pdu, AuthPdu):
            continue
        seen += 1
        assert int(row["lon.pdufmt"], 0) == 2
        assert int(row["lon.addrfmt"], 0) == frame.npdu.address_format
        assert int(row["lon.authpdu"], 0) == pdu.encode()[0]
        assert int(row["lon.trans_no"], 0) == pdu.transaction_number
        assert row["lon.domain"].replace(":", "") == frame.npdu.domain_id.hex()
        if pdu.auth_pdu_type in (AuthPduType.CHALLENGE, AuthPduType.REPLY):
            assert row["_ws.expert.message"] == "", row  # a type Wireshark knows, nothing malformed
    assert seen >= 8


def test_authenticated_messages_carry_the_auth_bit(dissected: list[tuple[LonFrame, dict[str, str]]]) -> None:
    messages = [(f, r) for f, r in dissected if isinstance(f.npdu.pdu, Tpdu) and f.npdu.pdu.apdu is not None]
    assert len(messages) == 3
    for _, row in messages:
        assert int(row["lon.auth"], 0) == 1
