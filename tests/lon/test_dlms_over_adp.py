"""DLMS/COSEM application associations over the LON adaptation layer, in simulated time."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from cosemnet.client.connection import ClientConfig, ClientConnection, ConnectionState, Referencing
from cosemnet.client.errors import ServiceErrorResponse
from cosemnet.codec.acse import AARQ, RLRE, ApplicationContextName, ReleaseResponseReason
from cosemnet.codec.axdr import encode_data
from cosemnet.codec.initiate import InitiateRequest
from cosemnet.codec.types import LongUnsigned
from cosemnet.profiles.lon.addresses import BroadcastAddress, SubnetNodeAddress
from cosemnet.profiles.lon.adp_service import AdpConfig
from cosemnet.profiles.lon.dlms import LonTransferError, answers
from cosemnet.profiles.lon.preestablished import (
    BROADCAST,
    MANAGEMENT,
    PUBLIC,
    TABLE_C1,
    open_pre_established,
    pre_established_for,
    release_pre_established,
)
from cosemnet.profiles.lon.sap import (
    ALL_STATION,
    MANAGEMENT_CLIENT,
    MANAGEMENT_LOGICAL_DEVICE,
    NNAP_CLIENT,
    PUBLIC_CLIENT,
    client_sap_info,
)
from cosemnet.profiles.lon.segmentation import SegmentationConfig
from cosemnet.profiles.lon.short_names import table_short_name
from cosemnet.security.hls import Mechanism
from cosemnet.simulator.osgp_meter import (
    CONCENTRATOR_NODE,
    CONCENTRATOR_SUBNET,
    build_osgp_segment,
    decode_bt21,
    decode_bt23,
)

DC = SubnetNodeAddress(CONCENTRATOR_SUBNET, CONCENTRATOR_NODE)
"""The concentrator of :func:`build_osgp_segment`."""


def nnap_config() -> ClientConfig:
    return ClientConfig(
        client_sap=NNAP_CLIENT, referencing=Referencing.SN, mechanism=Mechanism.LLS, password=b"12345678"
    )


# --------------------------------------------------------------------------------------------------
# Table C.1


def test_table_c1_rows_follow_table_2() -> None:
    assert [row.client_sap for row in TABLE_C1] == [PUBLIC_CLIENT, MANAGEMENT_CLIENT, 0x30]
    for row in TABLE_C1:
        info = client_sap_info(row.client_sap)
        assert info is not None and info.adp_protected == row.adp_protected
        assert row.max_pdu_size <= SegmentationConfig().max_apdu_length
        assert pre_established_for(row.client_sap) is row
    assert PUBLIC.read_only and not PUBLIC.adp_protected and PUBLIC.server_sap == MANAGEMENT_LOGICAL_DEVICE
    assert MANAGEMENT.adp_protected and not MANAGEMENT.read_only
    assert BROADCAST.server_sap == ALL_STATION
    assert pre_established_for(NNAP_CLIENT) is None


@pytest.mark.parametrize("row", TABLE_C1, ids=lambda r: r.name)
def test_pre_established_row_is_the_aarq_it_stands_for(row: object) -> None:
    assert row in TABLE_C1
    aarq = AARQ.decode(row.aarq().encode())  # type: ignore[attr-defined]
    assert aarq.application_context_name is ApplicationContextName.LN
    assert aarq.mechanism_name is None
    assert aarq.user_information is not None
    initiate = InitiateRequest.decode(aarq.user_information)
    assert initiate.proposed_conformance == row.conformance  # type: ignore[attr-defined]
    assert initiate.client_max_receive_pdu_size == row.max_pdu_size  # type: ignore[attr-defined]


def test_client_opens_and_releases_a_pre_established_association_locally() -> None:
    conn = ClientConnection(PUBLIC.client_config())
    info = open_pre_established(conn, PUBLIC)
    assert conn.is_associated and info.server_max_receive_pdu_size == PUBLIC.max_pdu_size
    assert conn.get(3, "1-0:1.8.0*255", 2)[:2] == b"\xc0\x01"  # the first APDU is a GET, no AARQ
    release_pre_established(conn)
    assert conn.state is ConnectionState.RELEASED
    with pytest.raises(ValueError):
        open_pre_established(ClientConnection(nnap_config()), PUBLIC)


def test_answers_recognises_late_answers() -> None:
    assert answers(bytes.fromhex("c00181"), bytes.fromhex("c40181"))
    assert not answers(bytes.fromhex("c00182"), bytes.fromhex("c40181"))
    assert not answers(bytes.fromhex("620380"), bytes.fromhex("0c0100"))
    assert answers(bytes.fromhex("620380"), bytes.fromhex("630380"))
    assert answers(bytes.fromhex("0501"), bytes.fromhex("d80102"))
    assert not answers(bytes.fromhex("603600"), bytes.fromhex("c40181"))


# --------------------------------------------------------------------------------------------------
# Over the simulated power line


def test_pre_established_public_association_reads_without_aarq() -> None:
    segment = build_osgp_segment(1, seed=11, history=dt.timedelta(hours=2))
    m = segment.meters[0]
    assert m.endpoint.is_associated(DC, PUBLIC_CLIENT, 1)  # from power-up, without state yet
    assert m.endpoint.association(DC, PUBLIC_CLIENT, 1) is None
    link = segment.concentrator.add_meter(m.address, pre_established=PUBLIC)
    link.submit(lambda c: c.get(8, "0-0:1.0.0*255", 2), lambda c: c.get(3, "1-0:1.8.0*255", 2))
    end = segment.run(limit=120)
    assert link.sent_apdus == 2 and link.received_apdus == 2
    clock, energy = link.results
    assert isinstance(clock, bytes) and len(clock) == 12
    meter = m.meter
    assert energy == meter.device.get(3, "1-0:1.8.0*255", 2, meter.meter.context())
    assert meter.meter.now == dt.datetime.fromtimestamp(m.endpoint.epoch, dt.UTC) + dt.timedelta(
        seconds=meter.meter.now.timestamp() - m.endpoint.epoch
    )
    assert 0 < end < 30
    assert m.endpoint.requests == 2 and m.endpoint.responses == 2


def test_rlrq_on_a_pre_established_association_does_not_release_it() -> None:
    segment = build_osgp_segment(1, seed=2)
    m = segment.meters[0]
    link = segment.concentrator.add_meter(m.address, pre_established=PUBLIC)
    link.submit(lambda c: c.release())
    segment.run(limit=120)
    assert link.results == [None]
    response = link.connection.release_response
    assert isinstance(response, RLRE) and response.reason is ReleaseResponseReason.NOT_FINISHED
    assert m.endpoint.is_associated(DC, PUBLIC_CLIENT, 1)
    open_pre_established(link.connection, PUBLIC)
    link.submit(lambda c: c.get(3, "1-0:1.8.0*255", 2))
    segment.run(limit=120)
    assert not isinstance(link.results[-1], Exception)


def test_aarq_aare_rlrq_rlre_with_a_segmented_object_list() -> None:
    segment = build_osgp_segment(1, seed=4)
    m = segment.meters[0]
    config = ClientConfig(
        client_sap=PUBLIC_CLIENT, max_receive_pdu_size=4096, proposed_conformance=PUBLIC.conformance
    )
    link = segment.concentrator.add_meter(m.address, config)
    link.submit(lambda c: c.associate(), lambda c: c.get(15, "0-0:40.0.0*255", 2), lambda c: c.release())
    frames_before = segment.channel.statistics.frames
    segment.run(limit=300)
    info, object_list, released = link.results
    assert not isinstance(info, Exception) and released is None
    assert link.received_apdus == 3  # AARE, one GET response (no block transfer), RLRE
    assert isinstance(object_list, list)
    assert len(object_list) == len(m.meter.public_association.entries)
    encoded = encode_data(object_list)
    assert len(encoded) > 1024  # one APDU in several ADP segments of at most 223 bytes
    assert segment.channel.statistics.frames - frames_before > 2 * (len(encoded) // 223)
    response = link.connection.release_response
    assert isinstance(response, RLRE) and response.reason is ReleaseResponseReason.NORMAL
    # the AARQ replaced the pre-established association; releasing it brings that one back
    assert m.endpoint.is_associated(DC, PUBLIC_CLIENT, 1)
    again = segment.concentrator.add_meter(m.address, nnap_config())
    again.submit(lambda c: c.associate(), lambda c: c.read([0xFA08]), lambda c: c.release())
    segment.run(limit=300)
    sn_info, [sn_list], sn_released = again.results  # type: ignore[misc]
    assert sn_info.vaa_name == 0xFA00 and sn_info.mechanism is Mechanism.LLS
    assert isinstance(sn_list, list) and len(sn_list) == len(m.meter.sn_association.entries)
    base_names = {int(entry[0]) & 0xFFFF for entry in sn_list}
    assert {table_short_name(t, 1) for t in m.meter.tables} <= base_names
    assert sn_released is None
    assert not m.endpoint.is_associated(DC, NNAP_CLIENT, 1)
    assert again.connection.state is ConnectionState.RELEASED


def test_wrong_lls_password_is_refused_over_adp() -> None:
    segment = build_osgp_segment(1, seed=4)
    m = segment.meters[0]
    config = nnap_config()
    config.password = b"wrong"
    link = segment.concentrator.add_meter(m.address, config)
    link.submit(lambda c: c.associate())
    segment.run(limit=120)
    [result] = link.results
    assert isinstance(result, Exception) and not isinstance(result, LonTransferError)
    assert not m.endpoint.is_associated(DC, NNAP_CLIENT, 1)


def test_management_association_requires_the_protected_form() -> None:
    segment = build_osgp_segment(1, seed=8)
    m = segment.meters[0]
    link = segment.concentrator.add_meter(m.address, pre_established=MANAGEMENT)
    link.submit(
        lambda c: c.set(131, "0-0:32.1.0*255", 2, LongUnsigned(45)),
        lambda c: c.get(131, "0-0:32.1.0*255", 2),
    )
    segment.run(limit=120)
    assert link.results == [None, LongUnsigned(45)]
    assert m.meter.protocol_setup.inactivity_timeout == 45
    # the public association may read it but not write it
    public = segment.concentrator.add_meter(m.address, pre_established=PUBLIC)
    public.submit(lambda c: c.set(131, "0-0:32.1.0*255", 2, LongUnsigned(5)))
    segment.run(limit=120)
    [refused] = public.results
    assert isinstance(refused, ServiceErrorResponse) and "service-not-supported" in str(refused)

    # a concentrator that sends the management SAP unprotected is not heard
    plain = build_osgp_segment(1, seed=8, concentrator_adp=AdpConfig(protected_client_saps=frozenset()))
    pm = plain.meters[0]
    bad = plain.concentrator.add_meter(pm.address, pre_established=MANAGEMENT, response_timeout=20.0)
    bad.submit(lambda c: c.get(131, "0-0:32.1.0*255", 2))
    plain.run(limit=120)
    [timeout] = bad.results
    assert isinstance(timeout, LonTransferError)
    assert pm.endpoint.requests == 0
    assert any("unprotected" in d.reason for d in pm.endpoint.dropped)


def test_iso14908_counters_change_after_traffic() -> None:
    segment = build_osgp_segment(1, seed=6)
    m = segment.meters[0]
    link = segment.concentrator.add_meter(m.address, pre_established=PUBLIC)
    link.submit(
        lambda c: c.get(130, "0-0:32.0.0*255", 2),
        lambda c: c.get(132, "0-0:32.2.0*255", 10),
        lambda c: c.get(3, "1-0:1.8.0*255", 2),
        lambda c: c.get(132, "0-0:32.2.0*255", 10),
        lambda c: c.get(132, "0-0:32.2.0*255", 8),
        lambda c: c.get(133, "0-0:32.3.0*255", 3),
    )
    segment.run(limit=120)
    node_id, received_1, _, received_2, layer2, state = link.results
    assert node_id == m.address.destination_node
    assert int(received_2) > int(received_1) > 0  # type: ignore[call-overload]
    assert int(layer2) >= int(received_2)  # type: ignore[call-overload]
    assert state == 3  # configured-online
    assert int(received_2) <= m.endpoint.stack.statistics.messages_received  # type: ignore[call-overload]


def test_twenty_meters_by_logical_and_short_name() -> None:
    started = time.perf_counter()
    segment = build_osgp_segment(20, seed=20, history=dt.timedelta(hours=1))
    bt23, bt21 = table_short_name(23, 4), table_short_name(21, 4)
    links = []
    for m in segment.meters:
        ln = segment.concentrator.add_meter(m.address, pre_established=PUBLIC)
        ln.submit(lambda c: c.get(3, "1-0:1.8.0*255", 2), lambda c: c.get(8, "0-0:1.0.0*255", 2))
        sn = segment.concentrator.add_meter(m.address, nnap_config())
        sn.submit(lambda c: c.associate(), lambda c: c.read([bt21, bt23]), lambda c: c.release())
        links.append((m, ln, sn))
    end = segment.run(limit=1800)
    for m, ln, sn in links:
        assert all(not isinstance(r, Exception) for r in ln.results + sn.results), (ln.results, sn.results)
        raw21, raw23 = sn.results[1]  # type: ignore[misc]
        data = decode_bt23(raw23, decode_bt21(raw21))
        assert data.summations[0] >= int(ln.results[0])  # type: ignore[call-overload]  # read later, energy grows
        assert data.summations[0] <= int(m.meter.device.get(3, "1-0:1.8.0*255", 2, m.meter.meter.context()))  # type: ignore[call-overload]
    assert end < 600  # simulated seconds
    assert segment.channel.statistics.frames > 20 * 8
    assert time.perf_counter() - started < 20


def test_all_station_requests_are_executed_by_every_meter_and_never_answered() -> None:
    segment = build_osgp_segment(3, seed=9)
    conn = ClientConnection(PUBLIC.client_config())
    open_pre_established(conn, PUBLIC)
    get = conn.get(3, "1-0:1.8.0*255", 2)
    dc = segment.concentrator
    dc.adp.data_request(PUBLIC_CLIENT, ALL_STATION, get, 0.0, destination=BroadcastAddress(0))
    segment.run(limit=60)
    assert [m.endpoint.requests for m in segment.meters] == [1, 1, 1]
    assert [m.endpoint.responses for m in segment.meters] == [0, 0, 0]
    assert dc.unexpected == 0
