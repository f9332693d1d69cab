"""Hostile nodes on the LON segment (issue 9 findings 8 and 9): associations are per sender, failed
authentications back off per (client SAP, sender) and land in the meter's event log. Simulated time."""

from __future__ import annotations

import logging

import pytest

from cosemnet.client.connection import ClientConfig, Referencing
from cosemnet.codec.acse import AARE, RLRQ, AssociateSourceDiagnostic, AssociationResult
from cosemnet.codec.xdlms import ExceptionResponse, ExceptionServiceError, StateError
from cosemnet.profiles.lon.addresses import SubnetNodeAddress
from cosemnet.profiles.lon.adp_service import AdpConfig
from cosemnet.profiles.lon.auth_backoff import AuthBackoff, BackoffConfig
from cosemnet.profiles.lon.dlms import (
    LonAuthenticationFailure,
    LonConcentratorEndpoint,
    MeterLink,
    _failure_kind,
    power_line_stack_config,
    run_exchange,
)
from cosemnet.profiles.lon.node import LonNode
from cosemnet.profiles.lon.preestablished import PUBLIC
from cosemnet.profiles.lon.sap import NNAP_CLIENT, PUBLIC_CLIENT
from cosemnet.profiles.lon.short_names import table_short_name
from cosemnet.profiles.lon.stack import LonStack
from cosemnet.security.hls import Mechanism
from cosemnet.server.association import AssociationSession, AssociationState, ServerAssociation
from cosemnet.simulator.osgp_meter import (
    AUTHENTICATION_FAILURE_CODE,
    AUTHENTICATION_FAILURE_EVENT,
    CONCENTRATOR_NODE,
    CONCENTRATOR_SUBNET,
    DEFAULT_DOMAIN,
    LONG_RECEIVE_TIMER,
    OsgpSegment,
    build_osgp_segment,
)
from cosemnet.simulator.profile import EVENT_LOG_LN

DC = SubnetNodeAddress(CONCENTRATOR_SUBNET, CONCENTRATOR_NODE)
BT01 = table_short_name(1, 4)


def nnap(password: bytes = b"12345678") -> ClientConfig:
    return ClientConfig(
        client_sap=NNAP_CLIENT, referencing=Referencing.SN, mechanism=Mechanism.LLS, password=password
    )


def stranger(segment: OsgpSegment, node: int) -> LonConcentratorEndpoint:
    """Another node of the domain, speaking as a concentrator with the ADP's null suite (the fixture
    segment's meters allow it on the protected SAPs, as a meter without the OSGP-AES suite would)."""
    lon = LonNode.configured_in(bytes((0x05, 0, 0, 9, 0, node)), DEFAULT_DOMAIN, CONCENTRATOR_SUBNET, node)
    lon.non_group_receive_timer = LONG_RECEIVE_TIMER
    stack = LonStack(lon, power_line_stack_config())
    segment.channel.attach(stack)
    return LonConcentratorEndpoint(stack, adp_config=AdpConfig(allow_null_suite=True))


def run(segment: OsgpSegment, *others: LonConcentratorEndpoint, limit: float = 300.0) -> float:
    return run_exchange(segment.channel, [*segment.endpoints, *others], limit=limit)


def read_bt01(link: MeterLink) -> None:
    link.submit(lambda c: c.read([BT01]))


def assert_read_ok(link: MeterLink) -> None:
    result = link.results[-1]
    assert not isinstance(result, Exception), result
    [value] = result  # type: ignore[misc]
    assert isinstance(value, bytes) and value[:4] == b"CSMN"


def associated_concentrator() -> tuple[OsgpSegment, MeterLink]:
    segment = build_osgp_segment(1, seed=31)
    m = segment.meters[0]
    link = segment.concentrator.add_meter(m.address, nnap())
    link.submit(lambda c: c.associate())
    read_bt01(link)
    run(segment)
    assert_read_ok(link)
    assert m.endpoint.is_associated(DC, NNAP_CLIENT, 1)
    return segment, link


def test_forged_aarq_from_a_stranger_leaves_the_concentrator_association_working() -> None:
    segment, link = associated_concentrator()
    m = segment.meters[0]
    evil = stranger(segment, 66)
    forged = evil.add_meter(m.address, nnap(b"guessing"))
    forged.submit(lambda c: c.associate())
    run(segment, evil)
    [refused] = forged.results
    assert isinstance(refused, Exception) and "authentication" in str(refused).lower()
    assert m.endpoint.auth_failures == 1
    # the concentrator reads again in the same association, without a new AARQ
    assert m.endpoint.is_associated(DC, NNAP_CLIENT, 1)
    sent = link.sent_apdus
    read_bt01(link)
    run(segment, evil)
    assert_read_ok(link)
    assert link.sent_apdus == sent + 1


def test_stray_rlrq_from_another_node_does_not_release_the_association() -> None:
    segment, link = associated_concentrator()
    m = segment.meters[0]
    evil = stranger(segment, 67)
    evil.adp.data_request(NNAP_CLIENT, 1, RLRQ().encode(), segment.channel.now, destination=m.address)
    run(segment, evil)
    assert m.endpoint.requests >= 3  # AARQ, READ, the stray RLRQ
    assert m.endpoint.is_associated(DC, NNAP_CLIENT, 1)
    read_bt01(link)
    run(segment, evil)
    assert_read_ok(link)
    # the concentrator's own RLRQ still releases it
    link.submit(lambda c: c.release())
    run(segment, evil)
    assert link.results[-1] is None
    assert not m.endpoint.is_associated(DC, NNAP_CLIENT, 1)


def test_repeated_wrong_passwords_back_off_and_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    segment, link = associated_concentrator()
    m = segment.meters[0]
    events: list[LonAuthenticationFailure] = []
    record = m.endpoint.on_security_event
    assert record is not None

    def spy(event: LonAuthenticationFailure) -> None:
        events.append(event)
        record(event)

    m.endpoint.on_security_event = spy
    evil = stranger(segment, 68)
    guesses = evil.add_meter(m.address, nnap(b"guess-00"))
    for i in range(6):
        guesses.submit(lambda c, i=i: (setattr(c.config, "password", b"guess-%02d" % i), c.associate())[1])
    with caplog.at_level(logging.WARNING, logger="cosemnet.profiles.lon.dlms"):
        run(segment, evil)
    assert len(guesses.results) == 6 and all(isinstance(r, Exception) for r in guesses.results)
    endpoint = m.endpoint
    # 2 free failures, then 10 s of back-off: the 6 AARQs of about one second each are not all evaluated
    assert 3 <= endpoint.auth_failures < 6
    assert endpoint.throttled == 6 - endpoint.auth_failures
    assert [e.failures for e in events] == list(range(1, endpoint.auth_failures + 1))
    assert all(
        e.kind == "lls" and e.client_sap == NNAP_CLIENT and e.source == SubnetNodeAddress(1, 68)
        for e in events
    )
    assert events[-1].blocked_until > events[-1].time
    warnings = [r for r in caplog.records if "authentication failure (lls)" in r.getMessage()]
    assert len(warnings) == endpoint.auth_failures
    assert all("guess" not in r.getMessage() for r in caplog.records)  # no secret in the log
    # in the meter's event log, with the event's code
    logged = [
        e for e in m.meter.meter.pop_events() if getattr(e, "name", None) == AUTHENTICATION_FAILURE_EVENT
    ]
    assert len(logged) == endpoint.auth_failures
    rows = m.meter.device.get(7, EVENT_LOG_LN, 2, m.meter.meter.context())
    assert isinstance(rows, list)
    assert sum(1 for row in rows if int(row[1]) == AUTHENTICATION_FAILURE_CODE) == endpoint.auth_failures  # type: ignore[index, call-overload]
    # while the stranger backs off, even the right password is refused unevaluated (rejected-transient) ...
    blocked_until = events[-1].blocked_until
    failures = endpoint.auth_failures
    right = guesses
    right.connection.config.password = b"12345678"
    right.submit(lambda c: c.associate())
    run(segment, evil)
    assert isinstance(right.results[-1], Exception) and endpoint.auth_failures == failures
    assert segment.channel.now < blocked_until
    # ... the concentrator (another node) is not slowed down ...
    read_bt01(link)
    run(segment, evil)
    assert_read_ok(link)
    # ... and after the back-off the right password opens the stranger's own association
    segment.channel.run_until(blocked_until + 1.0)
    right.connection.abort()
    right.submit(lambda c: c.associate())
    run(segment, evil)
    assert not isinstance(right.results[-1], Exception), right.results[-1]
    assert endpoint.is_associated(SubnetNodeAddress(1, 68), NNAP_CLIENT, 1)
    assert endpoint.is_associated(DC, NNAP_CLIENT, 1)


def test_association_table_is_bounded_and_keeps_authenticated_associations() -> None:
    segment, link = associated_concentrator()
    m = segment.meters[0]
    m.endpoint.max_associations = 2
    others = [stranger(segment, 70 + i) for i in range(3)]
    readers = [o.add_meter(m.address, pre_established=PUBLIC) for o in others]
    for reader in readers:
        reader.submit(lambda c: c.get(1, "0-0:42.0.0*255", 2))
    run(segment, *others)
    assert all(not isinstance(r.results[-1], Exception) for r in readers)  # served, even without room
    assert len(m.endpoint.associations) <= 2
    assert m.endpoint.evicted >= 2
    # the LLS association of the concentrator was never evicted
    assert m.endpoint.association(DC, NNAP_CLIENT, 1) is not None
    read_bt01(link)
    run(segment, *others)
    assert_read_ok(link)
    # public reads of every node keep working, with or without a kept association
    assert m.endpoint.is_associated(SubnetNodeAddress(1, 70), PUBLIC_CLIENT, 1)


def test_backoff_delays_forgetting_and_bounded_table() -> None:
    config = BackoffConfig(
        free_failures=2, base_delay=10.0, max_delay=80.0, forget_after=1000.0, max_entries=4
    )
    assert [config.delay(n) for n in range(1, 8)] == [0.0, 0.0, 10.0, 20.0, 40.0, 80.0, 80.0]
    table = AuthBackoff(config)
    key = (0x20, ("node", 0x142))
    for _ in range(3):
        state = table.failure(key, 100.0)
    assert state.failures == 3 and state.blocked_until == 110.0
    assert table.blocked(key, 109.9) and not table.blocked(key, 110.0)
    assert table.failure(key, 110.0).blocked_until == 130.0
    assert not table.blocked(key, 1110.0)  # forgotten after forget_after
    assert table.failure(key, 1111.0).failures == 1
    table.success(key)
    assert len(table) == 0
    for i in range(10_000):
        table.failure((0x20, ("node", i)), 2000.0 + i)
    assert len(table) == 4 and table.evicted == 9_996
    with pytest.raises(ValueError):
        BackoffConfig(base_delay=0.0)


def test_failure_kinds_of_hls_and_deciphering() -> None:
    idle = ServerAssociation.__new__(ServerAssociation)
    idle._session = AssociationSession()  # an idle association (its state lives in the session)
    deciphering = ExceptionResponse(
        StateError.SERVICE_NOT_ALLOWED, ExceptionServiceError.DECIPHERING_ERROR
    ).encode()
    assert _failure_kind(b"\xc8\x10", AssociationState.ASSOCIATED, idle, [deciphering]) == "deciphering"
    # HLS pass 3 refused: the pending association ends
    assert _failure_kind(b"\xc3\x01", AssociationState.PENDING, idle, [b"\xc7\x01"]) == "authentication"
    assert _failure_kind(b"\x62\x00", AssociationState.PENDING, idle, [b"\x63\x00"]) is None  # RLRQ
    refused = AARE(
        result=AssociationResult.REJECTED_PERMANENT,
        result_source_diagnostic=AssociateSourceDiagnostic.ACSE_SERVICE_USER_AUTHENTICATION_FAILURE,
        application_context_name=PUBLIC.application_context_name,
    ).encode()
    assert _failure_kind(b"\x60\x00", AssociationState.IDLE, idle, [refused]) == "authentication"
