"""Annex E proxy frame formats: byte layouts, round trips (hypothesis), hop popping, uplink outcomes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cosemnet.errors import DecodeError, EncodeError
from cosemnet.profiles.lon import ApplicationMessage, ForeignFrame, SubnetNodeAddress
from cosemnet.profiles.lon.addresses import BroadcastAddress, GroupAddress, UniqueIdAddress
from cosemnet.profiles.lon.proxy import (
    MAX_PROXY_DATA,
    AgentMode,
    AgentPart,
    AlternateKey,
    HopAddress,
    ProxyAddressType,
    ProxyHeader,
    ProxyRequest,
    ProxySuccess,
    ProxyTarget,
    ProxyTxCtrl,
    RepeatingFailure,
    decode_outcome,
)
from cosemnet.profiles.lon.transaction import Service

from .strategies import apdus, nodes, u8

NID = bytes.fromhex("04d29a1b0001")


def register_read(node: int = 9) -> AgentPart:
    target = ProxyTarget(ProxyAddressType.SUBNET_NODE, subnet=1, node=node)
    return AgentPart(
        target, ApplicationMessage(0x0D, b"\x01\x02"), Service.REQUEST, tx_ctrl=ProxyTxCtrl(3, 11)
    )


def test_detailed_request_bytes() -> None:
    request = ProxyRequest(
        register_read(), [HopAddress(3, 1), HopAddress(4, 1, path=True)], ProxyTxCtrl(2, 9)
    )
    assert request.encode().hex() == "0201030184292c3b01090d0102"
    assert request.to_apdu() == ForeignFrame(0x4D, request.encode())


def test_header_bits_follow_table_e1() -> None:
    assert ProxyHeader(3, uniform_by_src=True).to_byte() == 0x13
    assert ProxyHeader(0, all_agents=True).to_byte() == 0x20
    assert ProxyHeader(1, long_timer=True).to_byte() == 0x41
    assert ProxyHeader(15, uniform_by_dest=True).to_byte() == 0x8F
    assert ProxyHeader.from_byte(0xF5) == ProxyHeader(5, True, True, True, True)
    assert ProxyTxCtrl.from_byte(0x3B) == ProxyTxCtrl(3, 11)


def test_uniform_hops_and_every_target_type() -> None:
    request = ProxyRequest(
        register_read(), [HopAddress(3), HopAddress(5)], ProxyTxCtrl(), uniform_by_dest=True
    )
    assert request.encode()[:4].hex() == "8203053b"
    sizes = [
        (ProxyTarget(ProxyAddressType.GROUP, group=7, size=3), "0703"),
        (ProxyTarget(ProxyAddressType.SUBNET_NODE, subnet=2, node=5), "0205"),
        (ProxyTarget(ProxyAddressType.NEURON_ID, subnet=2, unique_id=NID), "02" + NID.hex()),
        (ProxyTarget(ProxyAddressType.BROADCAST, subnet=0, backlog=15), "000f"),
        (ProxyTarget(ProxyAddressType.GROUP_COMPACT, group=7), "07"),
        (ProxyTarget(ProxyAddressType.SUBNET_NODE_COMPACT_SRC, node=5, path=True), "85"),
        (ProxyTarget(ProxyAddressType.NEURON_ID_COMPACT, unique_id=NID), NID.hex()),
        (ProxyTarget(ProxyAddressType.SUBNET_NODE_COMPACT_DEST, node=5), "05"),
    ]
    for target, body in sizes:
        agent = AgentPart(target, ApplicationMessage(1), Service.UNACKD)
        data = ProxyRequest(agent).encode()
        assert data[0] == 0 and data[1] >> 5 == target.address_type
        assert data[3:-1].hex() == body
        assert ProxyRequest.decode(data).agent.target == target


def test_alternate_key_trailer() -> None:
    key = AlternateKey(bytes(range(1, 7)))
    agent = AgentPart(
        register_read().target, ApplicationMessage(1), mode=AgentMode.ALTERNATE_KEY, alternate_key=key
    )
    data = ProxyRequest(agent).encode()
    assert data[1] & 0x03 == 2 and data[3:10].hex() == "00010203040506"
    assert ProxyRequest.decode(data).agent.alternate_key == key
    assert key.apply(bytes([0xFF] * 6)) == bytes(range(0, 6))
    oma = AlternateKey(bytes(12), oma=True)
    agent.alternate_key = oma
    assert ProxyRequest.decode(ProxyRequest(agent).encode()).agent.alternate_key == oma
    with pytest.raises(EncodeError):
        AgentPart(agent.target, agent.apdu, mode=AgentMode.ALTERNATE_KEY).encode_into(bytearray())


def test_repeater_pops_first_address_and_last_drops_txctrl() -> None:
    request = ProxyRequest(register_read(), [HopAddress(3, 1), HopAddress(4, 2)], ProxyTxCtrl(2, 9))
    nxt, path, forwarded = request.next_hop(1, 1)
    assert (nxt, path, forwarded.header.count) == (SubnetNodeAddress(1, 3), False, 1)
    nxt, _, last = forwarded.next_hop(1, 1)
    assert nxt == SubnetNodeAddress(2, 4) and last.tx_ctrl is None and last.hops == []
    assert last.encode()[0] == 0 and len(last.encode()) == len(request.encode()) - 5
    uniform = ProxyRequest(register_read(), [HopAddress(3)], ProxyTxCtrl(), uniform_by_src=True)
    assert uniform.next_hop(7, 9)[0] == SubnetNodeAddress(7, 3)
    uniform.uniform_by_src, uniform.uniform_by_dest = False, True
    assert uniform.next_hop(7, 9)[0] == SubnetNodeAddress(9, 3)


def test_target_resolution() -> None:
    assert ProxyTarget.for_address(GroupAddress(5), 3).resolve(1, 2) == (GroupAddress(5), 3)
    assert ProxyTarget(ProxyAddressType.SUBNET_NODE_COMPACT_SRC, node=4).resolve(1, 2)[
        0
    ] == SubnetNodeAddress(1, 4)
    assert ProxyTarget(ProxyAddressType.SUBNET_NODE_COMPACT_DEST, node=4).resolve(1, 2)[
        0
    ] == SubnetNodeAddress(2, 4)
    assert ProxyTarget(ProxyAddressType.NEURON_ID_COMPACT, unique_id=NID).resolve(1, 2)[0] == UniqueIdAddress(
        0, NID
    )
    assert ProxyTarget.for_address(BroadcastAddress(0), backlog=4).resolve(1, 1)[0] == BroadcastAddress(0)


def test_uplink_outcomes() -> None:
    assert ProxySuccess().to_apdu() == ForeignFrame(0x4D, b"")
    assert RepeatingFailure(2).to_apdu() == ForeignFrame(0x4C, b"\x02")
    assert RepeatingFailure(0, True).to_apdu() == ForeignFrame(0x4C, b"\x00\x01")
    assert decode_outcome(ForeignFrame(0x4D, b"")) == ProxySuccess()
    assert decode_outcome(ForeignFrame(0x4C, b"\x03")) == RepeatingFailure(3)
    assert decode_outcome(ForeignFrame(0x4C, b"\x01\x01")) == RepeatingFailure(1, True)
    assert decode_outcome(ApplicationMessage(0x0D, b"x")) is None
    with pytest.raises(DecodeError):
        decode_outcome(ForeignFrame(0x4C, b"\x01\x07"))


def test_malformed_requests_are_decode_errors() -> None:
    good = ProxyRequest(register_read(), [HopAddress(3, 1)], ProxyTxCtrl()).encode()
    for cut in range(len(good) - 2):  # the target APDU code is the last byte that must be there
        with pytest.raises(DecodeError):
            ProxyRequest.decode(good[:cut])
    with pytest.raises(DecodeError):
        ProxyRequest.decode(bytes((0x90,)) + good[1:])  # both uniform bits
    too_long = AgentPart(register_read().target, ApplicationMessage(1, bytes(MAX_PROXY_DATA + 1)))
    with pytest.raises(EncodeError):
        ProxyRequest(too_long).encode()
    with pytest.raises(DecodeError):
        ProxyRequest.decode(b"\x00\x24\x3b\x01\x05\x01" + bytes(MAX_PROXY_DATA + 1))


targets = st.one_of(
    st.builds(lambda g, s: ProxyTarget(ProxyAddressType.GROUP, group=g, size=s), u8, u8),
    st.builds(
        lambda s, n, p: ProxyTarget(ProxyAddressType.SUBNET_NODE, subnet=s, node=n, path=p),
        u8,
        nodes,
        st.booleans(),
    ),
    st.builds(
        lambda s, u: ProxyTarget(ProxyAddressType.NEURON_ID, subnet=s, unique_id=u),
        u8,
        st.binary(min_size=6, max_size=6),
    ),
    st.builds(
        lambda s, b: ProxyTarget(ProxyAddressType.BROADCAST, subnet=s, backlog=b), u8, st.integers(0, 63)
    ),
    st.builds(lambda g: ProxyTarget(ProxyAddressType.GROUP_COMPACT, group=g), u8),
    st.builds(
        lambda n, p: ProxyTarget(ProxyAddressType.SUBNET_NODE_COMPACT_SRC, node=n, path=p),
        nodes,
        st.booleans(),
    ),
    st.builds(
        lambda u: ProxyTarget(ProxyAddressType.NEURON_ID_COMPACT, unique_id=u),
        st.binary(min_size=6, max_size=6),
    ),
    st.builds(
        lambda n, p: ProxyTarget(ProxyAddressType.SUBNET_NODE_COMPACT_DEST, node=n, path=p),
        nodes,
        st.booleans(),
    ),
)
tx_ctrls = st.builds(ProxyTxCtrl, st.integers(0, 15), st.integers(0, 15))
keys = st.one_of(
    st.none(),
    st.builds(AlternateKey, st.binary(min_size=6, max_size=6), st.just(False)),
    st.builds(AlternateKey, st.binary(min_size=12, max_size=12), st.just(True)),
)


@st.composite
def requests(draw: st.DrawFn) -> ProxyRequest:
    key = draw(keys)
    mode = AgentMode.ALTERNATE_KEY if key is not None else draw(st.sampled_from([0, 1, 3]))
    agent = AgentPart(
        draw(targets),
        draw(apdus),
        Service(draw(st.integers(0, 3))),
        AgentMode(mode),
        draw(st.booleans()),
        draw(tx_ctrls),
        key,
    )
    uniform = draw(st.sampled_from(["", "src", "dest"]))
    count = draw(st.integers(0, 15))
    hops = [HopAddress(draw(nodes), None if uniform else draw(u8), draw(st.booleans())) for _ in range(count)]
    return ProxyRequest(
        agent,
        hops,
        draw(tx_ctrls) if hops else None,
        uniform == "src",
        uniform == "dest",
        draw(st.booleans()),
        draw(st.booleans()),
    )


@given(requests())
def test_round_trip(request: ProxyRequest) -> None:
    data = request.encode()
    assert ProxyRequest.decode(data) == request
    assert ProxyRequest.decode(data).encode() == data
    if request.hops:
        _, _, forwarded = request.next_hop(1, 1)
        assert ProxyRequest.decode(forwarded.encode()) == forwarded


@given(st.binary(max_size=80))
def test_arbitrary_bytes_decode_or_fail_cleanly(data: bytes) -> None:
    try:
        request = ProxyRequest.decode(data)
    except DecodeError:
        return
    assert ProxyRequest.decode(request.encode()) == request
