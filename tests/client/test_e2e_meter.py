"""Our client against ``cosemnet meter serve`` as a real subprocess (the default simulated meter)."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from cosemnet.cli.main import cli
from cosemnet.client import (
    AccessError,
    AssociationRejected,
    Client,
    ClientConfig,
    ClientError,
    ClientSecurityError,
    Referencing,
)
from cosemnet.codec.datetime import CosemDateTime
from cosemnet.codec.initiate import Conformance
from cosemnet.security.counters import MemoryInvocationCounter
from cosemnet.security.hls import Mechanism
from cosemnet.security.keys import KeySet
from interop.peers import (
    GREEN_BOOK_AK,
    GREEN_BOOK_CLIENT_SYSTEM_TITLE,
    GREEN_BOOK_EK,
    GREEN_BOOK_SERVER_SYSTEM_TITLE,
    MeterProcess,
)

ENERGY = "1-0:1.8.0*255"


@pytest.fixture(scope="module", params=["tcp", "udp"])
def meter(request: pytest.FixtureRequest) -> Iterator[MeterProcess]:
    with MeterProcess(request.param) as process:
        yield process


def _client(meter: MeterProcess, config: ClientConfig | None = None) -> Client:
    transport = "udp" if meter.transport == "udp" else "tcp"
    timeout = 2.0 if transport == "tcp" else 0.5  # loopback answers in milliseconds
    return Client("127.0.0.1", meter.port, config, transport=transport, timeout=timeout, retries=1)


def test_public_client(meter: MeterProcess) -> None:
    with _client(meter) as client:
        objects = {str(o.logical_name): o for o in client.object_list()}
        assert objects[ENERGY].class_id == 3 and objects["0-0:1.0.0*255"].class_id == 8
        energy = client.read_register(ENERGY)
        assert energy.unit == 30 and energy.unit_symbol == "Wh" and isinstance(energy.raw, int)
        clock = client.read_clock()
        assert isinstance(clock, CosemDateTime) and clock.year >= 2020
        columns, _ = client.read_profile("1-0:99.1.0*255")
        assert any(c.is_clock for c in columns)
        listed = client.get_with_list([(3, ENERGY, 2), (1, "0-0:96.1.0*255", 2)])
        assert isinstance(listed[0], int) and isinstance(energy.raw, int) and listed[0] >= energy.raw
        # the public view does not contain the security setup of the management association
        with pytest.raises(AccessError):
            client.get(64, "0-0:43.0.0*255", 2)
        assert client.get(3, ENERGY, 3) == (energy.scaler, energy.unit)


def test_management_client_with_hls_gmac_and_ciphering(meter: MeterProcess) -> None:
    config = ClientConfig(
        client_sap=1,
        mechanism=Mechanism.HLS_GMAC,
        keys=KeySet(ek=GREEN_BOOK_EK, ak=GREEN_BOOK_AK),
        system_title=GREEN_BOOK_CLIENT_SYSTEM_TITLE,
        ciphering="general-glo",
        invocation_counter=MemoryInvocationCounter(1000),
    )
    with _client(meter, config) as client:
        info = client.connection.info
        assert info is not None and info.server_system_title == GREEN_BOOK_SERVER_SYSTEM_TITLE
        assert client.read_register(ENERGY).unit == 30
        assert len(client.object_list()) > 24  # the management view lists everything


def test_management_client_with_a_wrong_key_is_refused(meter: MeterProcess) -> None:
    config = ClientConfig(
        client_sap=1,
        mechanism=Mechanism.HLS_GMAC,
        keys=KeySet(ek=bytes(16), ak=GREEN_BOOK_AK),
        system_title=GREEN_BOOK_CLIENT_SYSTEM_TITLE,
        ciphering="general-glo",
    )
    with pytest.raises(ClientError) as info:
        _client(meter, config).__enter__()
    assert isinstance(info.value, ClientSecurityError | AssociationRejected), info.value


def test_cli_against_the_meter(meter: MeterProcess) -> None:
    host = f"127.0.0.1:{meter.port}"
    runner = CliRunner()
    result = runner.invoke(
        cli,
        ["read", host, ENERGY, "--class-id", "3", "--json", "--transport", meter.transport, "--timeout", "1"],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["unit_symbol"] == "Wh"
    result = runner.invoke(cli, ["objects", host, "--json", "--transport", meter.transport])
    assert result.exit_code == 0 and ENERGY in {r["obis"] for r in json.loads(result.stdout)}
    result = runner.invoke(
        cli,
        [
            "read", host, ENERGY, "--class-id", "3", "--client-sap", "1", "--auth", "hls-gmac",
            "--ek", GREEN_BOOK_EK.hex(), "--ak", GREEN_BOOK_AK.hex(),
            "--system-title", GREEN_BOOK_CLIENT_SYSTEM_TITLE.hex(), "--transport", meter.transport,
            "--invocation-counter", "5000", "--ciphering", "general-glo",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Wh" in result.stdout


@pytest.mark.parametrize("gbt", [False, True], ids=["get-data-blocks", "general-block-transfer"])
def test_block_transfer_with_a_small_pdu(meter: MeterProcess, gbt: bool) -> None:
    with _client(meter) as client:
        reference = client.object_list()
    config = ClientConfig(max_receive_pdu_size=128, use_general_block_transfer=gbt)
    if gbt:  # propose GBT only, so the server cannot fall back to GET data blocks
        config.proposed_conformance = Conformance.GET | Conformance.SET | Conformance.ACTION
    with _client(meter, config) as client:
        info = client.connection.info
        assert info is not None
        assert bool(info.negotiated_conformance & Conformance.GENERAL_BLOCK_TRANSFER) is gbt
        assert bool(info.negotiated_conformance & Conformance.BLOCK_TRANSFER_WITH_GET_OR_READ) is not gbt
        tags: list[int] = []
        receive = client.connection.receive

        def spy(apdu: bytes | bytearray | memoryview) -> object:
            tags.append(bytes(apdu)[0])
            return receive(apdu)

        client.connection.receive = spy  # type: ignore[method-assign]
        assert client.object_list() == reference
    assert tags[-1] == 0x63  # the RLRE
    assert len(tags) > 3 and set(tags[:-1]) == ({0xE0} if gbt else {0xC4})


def test_short_name_client_with_lls(meter: MeterProcess) -> None:
    config = ClientConfig(
        client_sap=17, referencing=Referencing.SN, mechanism=Mechanism.LLS, password=b"12345678"
    )
    with _client(meter, config) as client:
        info = client.connection.info
        assert info is not None and info.vaa_name == 0xFA00
        objects = {str(o.logical_name): o for o in client.object_list()}
        assert objects["0-0:40.0.3*255"].base_name == 0xFA00
        assert all(o.base_name is not None and o.base_name % 8 == 0 for o in objects.values())
        energy = client.read_register(ENERGY)  # two SN Reads at base_name + 8 and + 16
        assert energy.unit == 30 and isinstance(energy.raw, int)
        clock = client.read_clock()
        assert isinstance(clock, CosemDateTime)
        base = objects[ENERGY].base_name
        assert base is not None
        value, scaler_unit = client.read([base + 8, base + 16])
        assert isinstance(value, int) and scaler_unit == (energy.scaler, energy.unit)
    wrong = ClientConfig(client_sap=17, referencing=Referencing.SN, mechanism=Mechanism.LLS, password=b"nope")
    with pytest.raises(AssociationRejected, match="authentication-failure"):
        _client(meter, wrong).__enter__()


@pytest.fixture(scope="module")
def meter_with_history() -> Iterator[tuple[MeterProcess, dt.datetime]]:
    start = (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
    with MeterProcess("tcp", ["--start", start.isoformat()]) as process:
        yield process, start


def test_profile_by_range(meter_with_history: tuple[MeterProcess, dt.datetime]) -> None:
    meter, start = meter_with_history
    with _client(meter) as client:
        columns, rows = client.read_profile("1-0:99.1.0*255")
        clock = next(c.name for c in columns if c.is_clock)
        assert len(rows) >= 90  # a day of 15-minute rows
        times = []
        for row in rows:
            stamp = row[clock]
            assert isinstance(stamp, CosemDateTime)
            times.append(stamp.to_datetime())
        assert times == sorted(times) and times[0] >= start
        assert all(b - a == dt.timedelta(minutes=15) for a, b in itertools.pairwise(times))
        begin = start + dt.timedelta(hours=5)
        _, selected = client.read_profile("1-0:99.1.0*255", start=begin, end=begin + dt.timedelta(hours=2))
        assert len(selected) == 9  # both ends included
        assert selected == [
            r for r, t in zip(rows, times, strict=True) if begin <= t <= begin + dt.timedelta(hours=2)
        ]
    result = CliRunner().invoke(
        cli,
        [
            "profile", f"127.0.0.1:{meter.port}", "1-0:99.1.0*255", "--csv", "-",
            "--from", begin.isoformat(), "--to", (begin + dt.timedelta(hours=2)).isoformat(),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert lines[0].split(",")[0] == clock and len(lines) == 10
