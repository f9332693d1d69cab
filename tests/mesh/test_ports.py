"""Ports, datagram budget and Push setup UDP destinations."""

from __future__ import annotations

import contextlib
import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cosemnet.errors import DecodeError, EncodeError
from cosemnet.profiles.mesh.ports import (
    DLMS_PORT,
    MESH_UDP_PORT,
    WPORT_ALL_STATION,
    MeshPortConfig,
    apdu_budget,
    compressed_udp_ports_size,
    format_udp_destination,
    needs_block_transfer,
    parse_udp_destination,
)


def test_defaults() -> None:
    assert MESH_UDP_PORT == 61616 == 0xF0B0
    cfg = MeshPortConfig()
    assert (cfg.udp_port, cfg.head_end_udp_port, cfg.group_wport) == (61616, 61616, WPORT_ALL_STATION)
    assert MeshPortConfig.iana().udp_port == DLMS_PORT == 4059
    with pytest.raises(EncodeError):
        MeshPortConfig(udp_port=0)
    with pytest.raises(EncodeError):
        MeshPortConfig(client_wport=0x10000)


def test_rfc6282_port_compression() -> None:
    # both ports in 0xF0B0..0xF0BF: 4 bits each
    assert compressed_udp_ports_size(0xF0B0, 0xF0B0) == 1
    assert compressed_udp_ports_size(0xF0BF, 0xF0B3) == 1
    # one port in 0xF000..0xF0FF: 8 bits + 16 bits
    assert compressed_udp_ports_size(0xF0B0, 4059) == 3
    assert compressed_udp_ports_size(4059, 0xF012) == 3
    # neither
    assert compressed_udp_ports_size(4059, 4059) == 4
    assert compressed_udp_ports_size(0xF100, 0xF0C0) == 3


def test_budget() -> None:
    assert apdu_budget() == 1280 - 40 - 8 - 8 == 1224
    assert not needs_block_transfer(1224)
    assert needs_block_transfer(1225)
    assert MeshPortConfig(ipv6_mtu=1500).apdu_budget == 1444


@given(st.binary(min_size=16, max_size=16), st.none() | st.integers(1, 0xFFFF))
def test_destination_round_trip(raw: bytes, port: int | None) -> None:
    addr = ipaddress.IPv6Address(raw)
    text = format_udp_destination(addr, port)
    assert parse_udp_destination(text, default_port=4059) == (addr, 4059 if port is None else port)


@pytest.mark.parametrize(
    "bad",
    [
        b"2001:db8::1",
        b"[2001:db8::1",
        b"[nothing]:1",
        b"[::1]:0",
        b"[::1]:70000",
        b"[::1]x",
        b"[::1]:",
        b"[fe80::1%eth0]:1",
        b"\xff",
        b"[::1]:\xd9\xa1",
    ],
)
def test_bad_destinations(bad: bytes) -> None:
    with pytest.raises(DecodeError):
        parse_udp_destination(bad)


@given(st.binary(max_size=40))
def test_destination_parser_raises_only_decode_error(raw: bytes) -> None:
    with contextlib.suppress(DecodeError):
        parse_udp_destination(raw)
