"""dlms-cosem's client (test-only peer) reads our meter over TCP: ``cosemnet meter serve`` on loopback.

dlms-cosem 25.1 (``DlmsClient`` over its ``TcpTransport`` / ``BlockingTcpIO``) associates as the public
client 16 and reads an energy register with its scaler_unit, the clock and the load profile by range
(more than 1,000 rows, in data blocks: its max receive PDU is set to 512); then, as the management client 1,
associates with HLS-GMAC and glo-ciphering (Green Book keys) and reads the register again. Every value is
checked against the in-process twin of the served meter (see ``peers.MeterScenario``).

dlms-cosem cannot decrypt ciphered APDUs longer than 255 bytes (spec-notes section 4), so the ciphered
association reads only short values.
"""

# mypy: disable-error-code="import-untyped"
from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest

from .peers import (
    MANAGEMENT_CLIENT,
    MeterProcess,
    MeterScenario,
    dlms_cosem_client,
    next_invocation_counter,
    plain,
)

pytest.importorskip("dlms_cosem")
pytest.importorskip("cosemnet.simulator", reason="cosemnet.simulator (the served meter) missing")

MAX_PDU = 512


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> MeterScenario:
    return MeterScenario.create(tmp_path_factory.mktemp("meter"))


@pytest.fixture(scope="module")
def meter(scenario: MeterScenario) -> Iterator[MeterProcess]:
    with MeterProcess("tcp", scenario.serve_args()) as process:
        yield process


@pytest.fixture
def public_client(meter: MeterProcess) -> Iterator[Any]:
    client = dlms_cosem_client("127.0.0.1", meter.port, max_pdu=MAX_PDU)
    client.connect()
    try:
        response = client.associate()
        assert int(response.result) == 0  # accepted
        yield client
        with contextlib.suppress(Exception):  # release is tested on its own; a failed test leaves
            client.release_association()  # dlms-cosem's state machine mid-exchange
    finally:
        client.disconnect()


def test_association_and_release(meter: MeterProcess, scenario: MeterScenario) -> None:
    from dlms_cosem import enumerations

    client = dlms_cosem_client("127.0.0.1", meter.port, max_pdu=MAX_PDU)
    client.connect()
    try:
        response = client.associate()
        assert response.result is enumerations.AssociationResult.ACCEPTED
        name = _parse(client.get(_attribute(1, "0-0:42.0.0*255", 2)))  # logical device name
        assert name == scenario.logical_device_name()
        release = client.release_association()
        assert release is not None and int(release.reason) == 0  # RLRE, normal
    finally:
        client.disconnect()


def _attribute(class_id: int, obis: str, attribute: int) -> Any:
    from dlms_cosem import cosem, enumerations

    return cosem.CosemAttribute(
        interface=enumerations.CosemInterface(class_id),
        instance=cosem.Obis.from_string(obis),
        attribute=attribute,
    )


def _parse(raw: bytes) -> Any:
    from dlms_cosem import utils

    return plain(utils.parse_as_dlms_data(raw))


def test_register_value_and_scaler_unit(public_client: Any, scenario: MeterScenario) -> None:
    scaler_unit = _parse(public_client.get(_attribute(3, "1-0:1.8.0*255", 3)))
    assert scaler_unit == list(scenario.scaler_unit("1-0:1.8.0*255"))
    before = scenario.utc_now()
    value = _parse(public_client.get(_attribute(3, "1-0:1.8.0*255", 2)))
    after = scenario.utc_now()
    low, high = scenario.register_bounds("1-0:1.8.0*255", before, after)
    assert low <= value <= high, (value, low, high)


def test_clock(public_client: Any, scenario: MeterScenario) -> None:
    from dlms_cosem import time as dlms_time

    before = scenario.utc_now()
    raw = _parse(public_client.get(_attribute(8, "0-0:1.0.0*255", 2)))
    after = scenario.utc_now()
    assert isinstance(raw, bytes) and len(raw) == 12
    instant = scenario.clock_instant(raw)
    assert before - dt.timedelta(seconds=2) <= instant <= after + dt.timedelta(seconds=2)
    # dlms-cosem reads the same instant (deviation and all)
    theirs, _status = dlms_time.datetime_from_bytes(raw)
    assert theirs.astimezone(dt.UTC) == instant
    time_zone = _parse(public_client.get(_attribute(8, "0-0:1.0.0*255", 3)))
    assert time_zone == scenario.time_zone()


def test_profile_by_range_over_1000_rows(public_client: Any, scenario: MeterScenario) -> None:
    from dlms_cosem import enumerations
    from dlms_cosem.cosem.capture_object import CaptureObject
    from dlms_cosem.cosem.selective_access import RangeDescriptor

    start, end = scenario.range_for_rows()
    descriptor = RangeDescriptor(
        restricting_object=CaptureObject(
            cosem_attribute=_attribute(enumerations.CosemInterface.CLOCK, "0-0:1.0.0*255", 2),
            data_index=0,
        ),
        from_value=start,
        to_value=end,
    )
    rounds_before = public_client.transport.rounds
    try:
        raw = public_client.get(_attribute(7, "1-0:99.1.0*255", 2), access_descriptor=descriptor)
    except KeyError as exc:
        if "224" not in str(exc):
            raise
        pytest.fail(
            "the meter answered with general-block-transfer (tag 0xE0): dlms-cosem proposes GBT in its "
            "conformance but cannot parse it; a meter should answer a GET with GET-response-with-datablock "
            "when block-transfer-with-get was negotiated too"
        )
    rounds = public_client.transport.rounds - rounds_before
    rows = _parse(raw)
    expected = scenario.profile_rows(start, end)
    assert len(expected) >= 1000
    assert rounds >= len(raw) // MAX_PDU, f"{rounds} rounds for {len(raw)} bytes: no block transfer?"
    assert rows == [plain(row) for row in expected]
    capture_objects = _parse(public_client.get(_attribute(7, "1-0:99.1.0*255", 3)))
    assert capture_objects == [
        [c.class_id, bytes(c.logical_name), c.attribute_index, c.data_index]
        for c in scenario.capture_objects()
    ]


def test_hls_gmac_ciphered_association(meter: MeterProcess, scenario: MeterScenario) -> None:
    client = dlms_cosem_client(
        "127.0.0.1",
        meter.port,
        client_address=MANAGEMENT_CLIENT,
        hls_gmac=True,
        max_pdu=MAX_PDU,
        invocation_counter=next_invocation_counter(),
    )
    client.connect()
    try:
        response = client.associate()  # raises HLSError unless our f(CtoS) checks out
        assert int(response.result) == 0
        assert response.system_title == scenario.system_title()
        before = scenario.utc_now()
        value = _parse(client.get(_attribute(3, "1-0:1.8.0*255", 2)))
        after = scenario.utc_now()
        low, high = scenario.register_bounds("1-0:1.8.0*255", before, after)
        assert low <= value <= high
        client.release_association()
    finally:
        client.disconnect()
