"""gurux-dlms's Python client reads our meter: ``cosemnet meter serve`` as a real process on loopback.

Over TCP and over UDP (IEC 62056-4-7 wrapper), as the public client 16 (no security) and as the
management client 1 (HLS-GMAC, every APDU glo-ciphered with the Green Book suite-0 keys), gurux reads the
object list, an energy register with its scaler_unit, the clock, and the 15-minute load profile with a
range selective access of more than 1,000 rows, which its small max PDU size (512) forces into block
transfer.

What gurux gets is checked against an in-process twin of the served meter: the same profile, seed and
start time, advanced to the same moment (the simulator is deterministic). Values, not only "no
exception": the object list must be the association's list exactly, the register value must lie between
the twin's values just before and just after the read, every profile row must equal the twin's row
(timestamps and the four energy columns), and gurux's typed reading of the timestamps must be the instants
the twin captured at.
"""

# mypy: disable-error-code="import-untyped"
from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from .peers import (
    MANAGEMENT_CLIENT,
    PUBLIC_CLIENT,
    GuruxReplyError,
    GuruxSecurity,
    MeterProcess,
    MeterScenario,
    gurux_ln,
    gurux_session,
    next_invocation_counter,
    plain,
)

pytest.importorskip("gurux_dlms")
simulator = pytest.importorskip("cosemnet.simulator", reason="cosemnet.simulator (the served meter) missing")

MAX_PDU = 512
ENERGY_REGISTER = "1-0:1.8.0*255"
CLOCK = "0-0:1.0.0*255"
LOAD_PROFILE = "1-0:99.1.0*255"

TRANSPORTS = ("tcp", "udp")
CLIENTS = {
    "public-16": (PUBLIC_CLIENT, False),
    "hls-gmac-1": (MANAGEMENT_CLIENT, True),
}


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> MeterScenario:
    return MeterScenario.create(tmp_path_factory.mktemp("meter"))


@pytest.fixture(scope="module", params=TRANSPORTS)
def meter(request: pytest.FixtureRequest, scenario: MeterScenario) -> Iterator[tuple[str, MeterProcess]]:
    transport: str = request.param
    with MeterProcess(transport, scenario.serve_args()) as process:
        yield transport, process


@pytest.fixture(params=sorted(CLIENTS))
def client(request: pytest.FixtureRequest) -> tuple[int, GuruxSecurity | None]:
    client_sap, hls = CLIENTS[request.param]
    security = GuruxSecurity(invocation_counter=next_invocation_counter()) if hls else None
    return client_sap, security


def test_object_list_is_the_association_view(
    meter: tuple[str, MeterProcess], client: tuple[int, GuruxSecurity | None], scenario: MeterScenario
) -> None:
    transport, process = meter
    client_sap, security = client
    with gurux_session(transport, "127.0.0.1", process.port, client_sap, security, MAX_PDU) as session:
        objects = session.object_list()
        rounds = session.link.rounds
        server_system_title = session.client.settings.sourceSystemTitle
    got = sorted((int(obj.objectType), str(obj.logicalName)) for obj in objects)
    expected = sorted(
        (entry.class_id, gurux_ln(entry.logical_name)) for entry in scenario.object_list(client_sap)
    )
    assert got == expected, process.log()
    assert len(objects) == len(expected)
    # versions too: gurux keeps the version of each object_list element
    versions = {(int(o.objectType), str(o.logicalName)): int(o.version) for o in objects}
    assert versions == {
        (e.class_id, gurux_ln(e.logical_name)): e.version for e in scenario.object_list(client_sap)
    }
    if client_sap == MANAGEMENT_CLIENT:
        # the AARE's responding-AP-title, which gurux used to check f(CtoS)
        assert bytes(server_system_title) == scenario.system_title()
        assert rounds > 3, "the management object list should need block transfer at PDU 512"


def test_register_value_and_scaler_unit(
    meter: tuple[str, MeterProcess], client: tuple[int, GuruxSecurity | None], scenario: MeterScenario
) -> None:
    from gurux_dlms.objects import GXDLMSRegister

    transport, process = meter
    client_sap, security = client
    register = GXDLMSRegister(gurux_ln(ENERGY_REGISTER))
    with gurux_session(transport, "127.0.0.1", process.port, client_sap, security, MAX_PDU) as session:
        session.read(register, 3)
        before = scenario.utc_now()
        raw = session.read_raw(register, 2)
        after = scenario.utc_now()
    scaler, unit = scenario.scaler_unit(ENERGY_REGISTER)
    # gurux keeps the scaler as the factor 10**scaler
    assert register.scaler == pytest.approx(10.0**scaler)
    assert int(register.unit) == unit
    low, high = scenario.register_bounds(ENERGY_REGISTER, before, after)
    assert isinstance(raw, int)
    assert low <= raw <= high, (raw, low, high)
    assert raw > 0  # twelve days of consumption


def test_clock(
    meter: tuple[str, MeterProcess], client: tuple[int, GuruxSecurity | None], scenario: MeterScenario
) -> None:
    from gurux_dlms.enums import DataType
    from gurux_dlms.objects import GXDLMSClock

    transport, process = meter
    client_sap, security = client
    clock = GXDLMSClock(gurux_ln(CLOCK))
    with gurux_session(transport, "127.0.0.1", process.port, client_sap, security, MAX_PDU) as session:
        before = scenario.utc_now()
        raw = session.read_raw(clock, 2)
        after = scenario.utc_now()
        session.read(clock, 3)
    assert isinstance(raw, bytes) and len(raw) == 12
    instant = scenario.clock_instant(raw)
    assert before - dt.timedelta(seconds=2) <= instant <= after + dt.timedelta(seconds=2), (instant, before)
    # gurux's own reading of the date-time (deviation and hundredths included) is the same instant
    typed = session.client.changeType(bytearray(raw), DataType.DATETIME)
    assert typed.value.astimezone(dt.UTC) == instant
    assert clock.timeZone == scenario.time_zone()


def test_profile_by_range_over_1000_rows(
    meter: tuple[str, MeterProcess], client: tuple[int, GuruxSecurity | None], scenario: MeterScenario
) -> None:
    from gurux_dlms.objects import GXDLMSProfileGeneric

    transport, process = meter
    client_sap, security = client
    start, end = scenario.range_for_rows()
    profile = GXDLMSProfileGeneric(gurux_ln(LOAD_PROFILE))
    with gurux_session(transport, "127.0.0.1", process.port, client_sap, security, MAX_PDU) as session:
        session.read(profile, 3)  # capture objects, so gurux types the columns
        rounds_before = session.link.rounds
        raw_rows, typed_rows = session.read_rows_by_range(profile, start, end)
        rounds = session.link.rounds - rounds_before
    expected = scenario.profile_rows(start, end)
    assert len(expected) >= 1000
    assert len(raw_rows) == len(expected)
    assert raw_rows == [plain(row) for row in expected]
    assert rounds > 10, f"{rounds} rounds: expected block transfer at PDU {MAX_PDU}"
    # capture objects as the twin defines them, and gurux's typed timestamps are the capture instants
    columns = [(int(obj.objectType), str(obj.logicalName)) for obj, _ in profile.captureObjects]
    assert columns == [(c.class_id, gurux_ln(c.logical_name)) for c in scenario.capture_objects()]
    first, last = typed_rows[0][0].value.astimezone(dt.UTC), typed_rows[-1][0].value.astimezone(dt.UTC)
    assert first == scenario.clock_instant(expected[0][0])
    assert last == scenario.clock_instant(expected[-1][0])
    assert (last - first) == dt.timedelta(minutes=15) * (len(expected) - 1)


@pytest.mark.parametrize("wrong", ["authentication_key", "block_cipher_key"])
def test_hls_gmac_with_a_wrong_key_is_rejected(meter: tuple[str, MeterProcess], wrong: str) -> None:
    from gurux_dlms.enums import AssociationResult
    from gurux_dlms.GXDLMSException import GXDLMSException

    transport, process = meter
    security = GuruxSecurity(invocation_counter=next_invocation_counter())
    setattr(security, wrong, bytes(16))
    refusals = process.log_count("association refused: client 1")
    with (
        pytest.raises(GXDLMSException) as refused,
        gurux_session(transport, "127.0.0.1", process.port, MANAGEMENT_CLIENT, security, MAX_PDU),
    ):
        pass
    assert refused.value.result == AssociationResult.PERMANENT_REJECTED
    assert process.wait_for_log("association refused: client 1", refusals + 1), process.log()


def test_public_client_cannot_read_outside_its_view(
    meter: tuple[str, MeterProcess], scenario: MeterScenario
) -> None:
    from gurux_dlms.enums import ErrorCode
    from gurux_dlms.objects import GXDLMSData, GXDLMSSecuritySetup

    transport, process = meter
    management_security_setup = GXDLMSSecuritySetup("0.0.43.0.0.255")  # only client 1 sees it
    with gurux_session(transport, "127.0.0.1", process.port, PUBLIC_CLIENT, None, MAX_PDU) as session:
        with pytest.raises(GuruxReplyError) as denied:
            session.read(management_security_setup, 2)
        assert denied.value.code == ErrorCode.UNDEFINED_OBJECT  # data-access-result object-undefined (4)
        # the association is still usable afterwards: the logical device name
        assert session.read_raw(GXDLMSData("0.0.42.0.0.255"), 2) == scenario.logical_device_name()
