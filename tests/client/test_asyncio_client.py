"""AsyncClient and the blocking Client over real loopback sockets (TCP and UDP, IPv4 and IPv6)."""

from __future__ import annotations

import asyncio
import datetime as dt
import socket

import pytest

from cosemnet.client import (
    AccessError,
    AssociationRejected,
    AsyncClient,
    Client,
    ClientConfig,
    ClientTimeout,
)
from cosemnet.client.connection import ConnectionState
from cosemnet.codec.datetime import CosemDateTime
from cosemnet.codec.types import DoubleLongUnsigned
from cosemnet.security.hls import Mechanism

from .fake_meter import CLOCK, ENERGY, NOW, PROFILE, PROFILE_ROWS, PROFILE_START, SERIAL, FakeMeter, serve


def _has_ipv6() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.parametrize("transport", ["tcp", "udp"])
def test_blocking_client_reads_everything(transport: str) -> None:
    meter = FakeMeter()
    with (
        serve(meter, transport) as port,
        Client(
            "127.0.0.1",
            port,
            ClientConfig(max_receive_pdu_size=200),
            transport=transport,
            timeout=3,  # type: ignore[arg-type]
        ) as client,
    ):
        objects = client.object_list()
        assert {(o.class_id, o.logical_name) for o in objects} == {
            (obj.class_id, obj.logical_name) for obj in meter.device
        }
        register = next(o for o in objects if o.logical_name == ENERGY)
        assert register.class_name == "Register" and register.access_summary().startswith("1:")
        energy = client.read_register(ENERGY)
        assert energy.raw == DoubleLongUnsigned(1234567) and energy.scaler == -3 and energy.unit == 30
        assert str(energy) == "1234.567 Wh"
        clock = client.read_clock(CLOCK)
        assert isinstance(clock, CosemDateTime) and clock.to_datetime() == NOW
        # the whole profile does not fit the 200-byte PDU: GET data blocks
        columns, rows = client.read_profile(PROFILE)
        assert [c.name for c in columns] == ["0-0:1.0.0*255:2", "1-0:1.8.0*255:2"]
        assert len(rows) == PROFILE_ROWS
        assert rows[5]["1-0:1.8.0*255:2"] == DoubleLongUnsigned(1005)
        first = rows[0]["0-0:1.0.0*255:2"]
        assert isinstance(first, CosemDateTime) and first.to_datetime() == PROFILE_START
        # by range: two hours = 9 rows (both ends included)
        start = PROFILE_START + dt.timedelta(hours=1)
        _, selected = client.read_profile(PROFILE, start=start, end=start + dt.timedelta(hours=2))
        assert [r["1-0:1.8.0*255:2"] for r in selected] == [DoubleLongUnsigned(1004 + i) for i in range(9)]
        # by entry
        _, entries = client.read_profile(PROFILE, from_entry=2, to_entry=3)
        assert [r["1-0:1.8.0*255:2"] for r in entries] == [DoubleLongUnsigned(1001), DoubleLongUnsigned(1002)]
        # set, then read back; errors do not end the association
        client.set(1, SERIAL, 2, "CHANGED")
        assert client.get(1, SERIAL, 2) == "CHANGED"
        with pytest.raises(AccessError):
            client.get(1, "0-0:96.1.9*255", 2)
        assert client.get_with_list([(1, SERIAL, 2), (1, "0-0:96.1.9*255", 2)])[0] == "CHANGED"
    assert client.connection.state is ConnectionState.RELEASED
    assert meter.requests[-1][0] == 0x62  # RLRQ sent


@pytest.mark.skipif(not _has_ipv6(), reason="no IPv6 loopback")
@pytest.mark.parametrize("transport", ["tcp", "udp"])
def test_ipv6(transport: str) -> None:
    with (
        serve(FakeMeter(), transport, "::1") as port,
        Client(
            "[::1]",
            port,
            transport=transport,
            timeout=3,  # type: ignore[arg-type]
        ) as client,
    ):
        assert client.get(1, SERIAL, 2) == "CNT-0001"


def test_rejected_association_and_lls() -> None:
    meter = FakeMeter(password=b"secret")
    with serve(meter) as port:
        with pytest.raises(AssociationRejected, match="authentication-failure"):
            Client(
                "127.0.0.1", port, ClientConfig(mechanism=Mechanism.LLS, password=b"nope"), timeout=3
            ).__enter__()
        config = ClientConfig(mechanism=Mechanism.LLS, password=b"secret")
        with Client("127.0.0.1", port, config, timeout=3) as client:
            assert client.get(1, SERIAL, 2) == "CNT-0001"


def test_udp_timeout_after_retries() -> None:
    meter = FakeMeter(answer=False)
    with serve(meter, "udp") as port:
        client = Client("127.0.0.1", port, transport="udp", timeout=0.2, retries=2)
        with pytest.raises(ClientTimeout):
            client.associate()
        client.close()
    assert len(meter.requests) == 3  # first send and two retries
    assert client.connection.state is ConnectionState.IDLE


def test_tcp_timeout_and_refused_connection() -> None:
    with serve(FakeMeter(answer=False)) as port:
        client = Client("127.0.0.1", port, timeout=0.2)
        with pytest.raises(ClientTimeout):
            client.associate()
        client.close()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    with pytest.raises(Exception, match="cannot connect"):
        Client("127.0.0.1", free, timeout=1).associate()


def test_async_client_context_manager() -> None:
    async def main(port: int) -> object:
        async with AsyncClient("127.0.0.1", port, timeout=3) as client:
            return await client.get(3, ENERGY, 2)

    with serve(FakeMeter()) as port:
        assert asyncio.run(main(port)) == DoubleLongUnsigned(1234567)
