"""The timed sans-IO interface of the client core: request objects in, typed events and deadlines out.

Time is a fake clock (plain floats): nothing here sleeps.
"""

from __future__ import annotations

import pytest

from cosemnet.client import (
    Action,
    ActionCompleted,
    ActionWithList,
    ActionWithListCompleted,
    Associate,
    AssociationEstablished,
    AssociationExpired,
    ClientConfig,
    ClientConnection,
    ClientError,
    ClientTimeout,
    FailureKind,
    Get,
    GetCompleted,
    GetWithList,
    GetWithListCompleted,
    KeySet,
    Mechanism,
    Read,
    ReadCompleted,
    Referencing,
    Release,
    ReleaseCompleted,
    RequestKind,
    ServiceFailed,
    Set,
    SetCompleted,
    SetWithList,
    SetWithListCompleted,
    Write,
    WriteCompleted,
)
from cosemnet.client.connection import AssociationInfo, ConnectionState
from cosemnet.client.events import ClientEvent
from cosemnet.codec.acse import (
    AARE,
    RLRE,
    ApplicationContextName,
    AssociateSourceDiagnostic,
    AssociationResult,
)
from cosemnet.codec.initiate import Conformance, InitiateResponse
from cosemnet.codec.service_error import ConfirmedService, ConfirmedServiceError, ServiceError
from cosemnet.codec.types import DoubleLongUnsigned, LongUnsigned
from cosemnet.codec.xdlms import (
    ActionResponseNormal,
    ActionResponseWithList,
    ActionResponseWithOptionalData,
    ActionResult,
    DataAccessResult,
    DataBlockG,
    ExceptionResponse,
    ExceptionServiceError,
    GetResponseNormal,
    GetResponseWithDataBlock,
    GetResponseWithList,
    ReadResponse,
    SetResponseNormal,
    SetResponseWithList,
    StateError,
    WriteResponse,
)
from cosemnet.sansio import SansIOCore, TimerCore
from cosemnet.security.ciphering import Role, SecurityContext, protect_apdu, unprotect_apdu
from cosemnet.security.control import SecurityPolicy
from cosemnet.security.counters import MemoryInvocationCounter
from cosemnet.security.keys import KeyRole
from cosemnet.security.suite import SecuritySuite

H = bytes.fromhex
AARQ_VECTOR = H("601DA109060760857405080101BE10040E01000000065F1F0400001E1DFFFF")
AARE_ACCEPTED = H("6129A109060760857405080101A203020100A305A103020100BE10040E0800065F1F040000501F01F40007")
INFO = AssociationInfo(Conformance(0x00501F), 500, 7, None, Mechanism.NONE, False)


def only(conn: ClientConnection) -> ClientEvent:
    events = conn.pop_events()
    assert len(events) == 1, events
    return events[0]


def connection(**kwargs: object) -> ClientConnection:
    config = ClientConfig(proposed_conformance=Conformance(0x001E1D))
    return ClientConnection(config, **kwargs)  # type: ignore[arg-type]


def associated(now: float = 0.0, **kwargs: object) -> ClientConnection:
    conn = connection(**kwargs)
    conn.send_request(Associate(), now)
    conn.pop_outgoing()
    conn.receive_apdu(AARE_ACCEPTED, now)
    assert isinstance(only(conn), AssociationEstablished)
    return conn


def test_the_core_follows_the_sans_io_protocol() -> None:
    conn = connection()
    assert isinstance(conn, SansIOCore) and isinstance(conn, TimerCore)
    assert not isinstance(object(), TimerCore)


def test_association_established_carries_the_negotiated_parameters() -> None:
    conn = connection(response_timeout=5.0)
    assert conn.get_timer() is None
    conn.send_request(Associate(), 100.0)
    assert conn.pop_outgoing() == [AARQ_VECTOR]  # the published AARQ, byte for byte
    assert conn.request_kind is RequestKind.ASSOCIATE and conn.request == Associate()
    assert conn.get_timer() == 105.0
    conn.receive_apdu(AARE_ACCEPTED, 101.0)
    event = only(conn)
    assert isinstance(event, AssociationEstablished) and event.request == Associate()
    assert event.info == INFO
    assert conn.state is ConnectionState.ASSOCIATED and conn.get_timer() is None


def test_get_completed_with_the_published_vector() -> None:
    conn = associated()
    conn.send_request(Get(1, "0-0:43.1.0*255", 2), 1.0)
    assert conn.pop_outgoing() == [H("C001C0000100002B0100FF0200")]
    conn.receive_apdu(H("C401C0000600001391"), 2.0)
    event = only(conn)
    assert event == GetCompleted(DoubleLongUnsigned(0x1391), Get(1, "0-0:43.1.0*255", 2))


def test_get_refused_is_a_typed_service_failed_and_the_association_stays() -> None:
    conn = associated()
    request = Get(1, "0-0:96.1.9*255", 2)
    conn.send_request(request, 1.0)
    conn.receive_apdu(GetResponseNormal(0, DataAccessResult.OBJECT_UNDEFINED).encode(), 1.5)
    event = only(conn)
    assert isinstance(event, ServiceFailed) and event.request == request
    assert event.kind is FailureKind.ACCESS
    assert event.data_access_result is DataAccessResult.OBJECT_UNDEFINED and event.action_result is None
    assert conn.is_associated and not conn.busy


def test_set_and_action_completed_and_refused() -> None:
    conn = associated()
    conn.send_request(Set(1, "0-0:96.1.0*255", 2, b"x"), 1.0)
    conn.receive_apdu(SetResponseNormal(0, DataAccessResult.SUCCESS).encode(), 1.0)
    assert only(conn) == SetCompleted(Set(1, "0-0:96.1.0*255", 2, b"x"))
    conn.send_request(Action(70, "0-0:96.3.10*255", 1, 0), 2.0)
    reply = ActionResponseWithOptionalData(ActionResult.SUCCESS, LongUnsigned(9))
    conn.receive_apdu(ActionResponseNormal(1, reply).encode(), 2.0)
    event = only(conn)
    assert isinstance(event, ActionCompleted) and event.return_value == LongUnsigned(9)
    conn.send_request(Action(70, "0-0:96.3.10*255", 1, 0), 3.0)
    refused = ActionResponseWithOptionalData(ActionResult.TEMPORARY_FAILURE)
    conn.receive_apdu(ActionResponseNormal(2, refused).encode(), 3.0)
    failed = only(conn)
    assert isinstance(failed, ServiceFailed) and failed.kind is FailureKind.ACCESS
    assert failed.action_result is ActionResult.TEMPORARY_FAILURE and failed.data_access_result is None


def test_list_services_complete_with_their_events() -> None:
    conn = associated()
    conn.send_request(GetWithList(((1, "0-0:96.1.0*255", 2), (1, "0-0:96.1.9*255", 2))), 1.0)
    conn.receive_apdu(GetResponseWithList(0, [b"abc", DataAccessResult.OBJECT_UNDEFINED]).encode(), 1.0)
    get = only(conn)
    assert isinstance(get, GetWithListCompleted) and get.results[0] == b"abc"
    assert getattr(get.results[1], "result", None) is DataAccessResult.OBJECT_UNDEFINED
    conn.send_request(SetWithList(((1, "0-0:96.1.0*255", 2, b"x"),)), 2.0)
    conn.receive_apdu(SetResponseWithList(1, [DataAccessResult.READ_WRITE_DENIED]).encode(), 2.0)
    set_ = only(conn)
    assert isinstance(set_, SetWithListCompleted) and set_.results == [DataAccessResult.READ_WRITE_DENIED]
    conn.send_request(ActionWithList(((70, "0-0:96.3.10*255", 1, 0),)), 3.0)
    answer = ActionResponseWithList(2, [ActionResponseWithOptionalData(ActionResult.SUCCESS)])
    conn.receive_apdu(answer.encode(), 3.0)
    action = only(conn)
    assert isinstance(action, ActionWithListCompleted) and action.results == [None]


def test_sn_read_and_write_events() -> None:
    conn = ClientConnection(ClientConfig(referencing=Referencing.SN))
    conn.send_request(Associate(), 0.0)
    aare = AARE(
        application_context_name=ApplicationContextName.SN,
        result=AssociationResult.ACCEPTED,
        result_source_diagnostic=AssociateSourceDiagnostic.ACSE_SERVICE_USER_NULL,
        user_information=InitiateResponse(
            negotiated_conformance=Conformance(0x1C0000), server_max_receive_pdu_size=500, vaa_name=0xFA00
        ).encode(),
    ).encode()
    conn.receive_apdu(aare, 0.0)
    assert isinstance(only(conn), AssociationEstablished)
    conn.send_request(Read((0x1008,)), 1.0)
    conn.receive_apdu(ReadResponse([LongUnsigned(3)]).encode(), 1.0)
    assert only(conn) == ReadCompleted([LongUnsigned(3)], Read((0x1008,)))
    conn.send_request(Write(((0x1008, LongUnsigned(4)),)), 2.0)
    conn.receive_apdu(WriteResponse([None]).encode(), 2.0)
    assert only(conn) == WriteCompleted([None], Write(((0x1008, LongUnsigned(4)),)))


def test_release_completed_carries_the_rlre() -> None:
    conn = associated()
    conn.send_request(Release(), 1.0)
    assert conn.pop_outgoing() == [H("6203800100")]
    conn.receive_apdu(H("6300"), 1.0)
    event = only(conn)
    assert isinstance(event, ReleaseCompleted) and isinstance(event.response, RLRE)
    assert conn.state is ConnectionState.RELEASED


def test_exception_response_fields_are_enums() -> None:
    conn = associated()
    conn.send_request(Get(1, "0-0:96.1.0*255", 2), 1.0)
    answer = ExceptionResponse(StateError.SERVICE_NOT_ALLOWED, ExceptionServiceError.OPERATION_NOT_POSSIBLE)
    conn.receive_apdu(answer.encode(), 1.0)
    event = only(conn)
    assert isinstance(event, ServiceFailed) and event.kind is FailureKind.EXCEPTION_RESPONSE
    assert event.state_error is StateError.SERVICE_NOT_ALLOWED
    assert event.service_error is ExceptionServiceError.OPERATION_NOT_POSSIBLE
    assert str(event.error).startswith("exception-response")  # the text older callers match


def test_rejected_association_has_result_diagnostic_and_initiate_error() -> None:
    conn = ClientConnection(ClientConfig(mechanism=Mechanism.LLS, password=b"wrong"))
    conn.send_request(Associate(), 0.0)
    aare = AARE(
        application_context_name=ApplicationContextName.LN,
        result=AssociationResult.REJECTED_PERMANENT,
        result_source_diagnostic=AssociateSourceDiagnostic.ACSE_SERVICE_USER_AUTHENTICATION_FAILURE,
        user_information=ConfirmedServiceError(
            ConfirmedService.INITIATE_ERROR, ServiceError.INITIATE_OTHER
        ).encode(),
    ).encode()
    conn.receive_apdu(aare, 0.5)
    event = only(conn)
    assert isinstance(event, ServiceFailed) and event.kind is FailureKind.ASSOCIATION_REJECTED
    assert event.association_result is AssociationResult.REJECTED_PERMANENT
    assert event.diagnostic is AssociateSourceDiagnostic.ACSE_SERVICE_USER_AUTHENTICATION_FAILURE
    assert event.confirmed_error is ServiceError.INITIATE_OTHER
    assert conn.state is ConnectionState.IDLE


def test_garbage_ends_the_request_without_raising() -> None:
    conn = associated()
    conn.send_request(Get(1, "0-0:96.1.0*255", 2), 1.0)
    conn.receive_apdu(b"\xc4\x01", 1.0)
    event = only(conn)
    assert isinstance(event, ServiceFailed) and event.kind is FailureKind.PROTOCOL
    assert conn.is_associated and not conn.busy
    conn.receive_apdu(b"\xc4\x01\xc0\x00\x00", 2.0)  # nothing in progress: dropped, counted
    assert conn.unexpected_apdus == 1 and conn.pop_events() == []


# -- timers ------------------------------------------------------------------------------------------


def test_response_timeout_retries_the_same_bytes_then_fails() -> None:
    conn = associated(response_timeout=5.0, retries=2)
    conn.send_request(Get(1, "0-0:96.1.0*255", 2), 10.0)
    (first,) = conn.pop_outgoing()
    assert conn.get_timer() == 15.0
    conn.handle_timer(14.9)  # early: nothing happens
    assert conn.pop_outgoing() == [] and conn.pop_events() == []
    conn.handle_timer(15.0)
    assert conn.pop_outgoing() == [first] and conn.get_timer() == 20.0
    conn.handle_timer(20.0)
    assert conn.pop_outgoing() == [first] and conn.get_timer() == 25.0
    conn.handle_timer(25.0)
    event = only(conn)
    assert isinstance(event, ServiceFailed) and event.kind is FailureKind.TIMEOUT
    assert isinstance(event.error, ClientTimeout)
    assert conn.pop_outgoing() == [] and conn.state is ConnectionState.IDLE and conn.get_timer() is None


def test_each_answer_of_a_block_transfer_restarts_the_response_timer() -> None:
    conn = associated(response_timeout=5.0)
    conn.send_request(Get(7, "1-0:99.1.0*255", 2), 0.0)
    conn.pop_outgoing()
    conn.receive_apdu(GetResponseWithDataBlock(0, DataBlockG(False, 1, b"\x09\x03ab")).encode(), 4.0)
    (next_block,) = conn.pop_outgoing()
    assert next_block[:2] == b"\xc0\x02" and conn.get_timer() == 9.0  # GetRequestNext, new deadline
    conn.receive_apdu(GetResponseWithDataBlock(0, DataBlockG(True, 2, b"c")).encode(), 8.0)
    assert only(conn) == GetCompleted(b"abc", Get(7, "1-0:99.1.0*255", 2))


def test_inactivity_timeout_expires_an_idle_association() -> None:
    conn = associated(0.0, inactivity_timeout=60.0)
    assert conn.get_timer() == 60.0
    conn.send_request(Get(1, "0-0:96.1.0*255", 2), 30.0)
    assert conn.get_timer() is None  # no response timeout configured, and busy: no inactivity
    conn.receive_apdu(GetResponseNormal(0, b"x").encode(), 31.0)
    conn.pop_events()
    assert conn.get_timer() == 91.0
    conn.handle_timer(90.0)
    assert conn.pop_events() == []
    conn.handle_timer(91.0)
    assert only(conn) == AssociationExpired(31.0)
    assert conn.state is ConnectionState.IDLE
    with pytest.raises(ClientError, match="not associated"):
        conn.send_request(Get(1, "0-0:96.1.0*255", 2), 92.0)


# -- cancel and resume -------------------------------------------------------------------------------


def test_cancel_keeps_the_association_and_drops_the_late_answer() -> None:
    conn = associated(response_timeout=5.0)
    first = Get(1, "0-0:96.1.0*255", 2)
    conn.send_request(first, 1.0)
    assert len(conn.pop_outgoing()) == 1  # sent: its answer may still come
    assert conn.cancel() == first
    assert conn.is_associated and not conn.busy and conn.get_timer() is None and conn.pop_events() == []
    second = Get(1, "0-0:96.1.1*255", 2)
    conn.send_request(second, 2.0)
    conn.receive_apdu(GetResponseNormal(0, b"late").encode(), 2.5)  # invoke-id 0: the cancelled GET
    assert conn.pop_events() == [] and conn.busy and conn.unexpected_apdus == 1
    conn.receive_apdu(GetResponseNormal(1, b"mine").encode(), 3.0)
    assert only(conn) == GetCompleted(b"mine", second)
    assert conn.cancel() is None


def test_cancelled_association_leaves_the_connection_idle() -> None:
    conn = connection(response_timeout=5.0)
    conn.send_request(Associate(), 0.0)
    assert conn.cancel() == Associate()
    assert conn.state is ConnectionState.IDLE and conn.get_timer() is None
    assert conn.pop_outgoing() == []  # the unsent AARQ is dropped
    conn.send_request(Associate(), 1.0)  # may start again
    assert conn.pop_outgoing() == [AARQ_VECTOR]


def test_resume_uses_a_known_association_without_an_aarq() -> None:
    conn = ClientConnection(ClientConfig(keys=KeySet()), inactivity_timeout=10.0)
    conn.resume(INFO, 5.0)
    assert conn.is_associated and conn.info == INFO and conn.get_timer() == 15.0
    conn.send_request(Get(1, "0-0:96.1.0*255", 2), 6.0)
    with pytest.raises(ClientError, match="in progress"):
        conn.resume(INFO, 6.0)
    assert conn.pop_outgoing()[0][0] == 0xC0  # a GET, no AARQ


def test_untimed_interface_keeps_working_beside() -> None:
    conn = connection()
    assert conn.associate() == AARQ_VECTOR
    event = conn.receive(AARE_ACCEPTED)
    assert getattr(event, "result", None) == INFO
    assert conn.pop_outgoing() == [] and conn.pop_events() == [] and conn.get_timer() is None


def test_an_answer_deciphered_by_the_caller_is_not_deciphered_again() -> None:
    """A router that verified and deciphered the answer itself (the mesh head-end, decision 0098)
    hands the plaintext over with ``deciphered=True``; without it the core wants the envelope."""
    ek, ak, server_title = bytes(range(16)), bytes(range(16, 32)), b"METER001"
    config = ClientConfig(
        keys=KeySet(ek=ek, ak=ak), server_system_title=server_title, ciphering="general-glo"
    )
    meter = SecurityContext(
        suite=SecuritySuite.SUITE_0,
        policy=SecurityPolicy.AUTHENTICATED_RESPONSE | SecurityPolicy.ENCRYPTED_RESPONSE,
        system_title=server_title,
        peer_system_title=config.system_title,
        keys=KeySet(ek=ek, ak=ak),
        invocation_counters={KeyRole.GLOBAL_UNICAST: MemoryInvocationCounter()},
        role=Role.SERVER,
    )
    for deciphered in (True, False):
        conn = ClientConnection(config)
        conn.resume(AssociationInfo(Conformance(0x00501F), 500, 7, server_title, Mechanism.NONE, True), 0.0)
        conn.send_request(Get(1, "0-0:96.1.0*255", 2), 1.0)
        conn.pop_outgoing()
        answer = protect_apdu(GetResponseNormal(0, LongUnsigned(7)).encode(), meter, "general-glo")
        assert conn.security is not None
        plain, _, _ = unprotect_apdu(answer, conn.security)
        conn.receive_apdu(plain, 2.0, deciphered=deciphered)
        event = only(conn)
        if deciphered:
            assert isinstance(event, GetCompleted) and event.value == LongUnsigned(7)
        else:  # a plain answer where a protected one is required
            assert isinstance(event, ServiceFailed) and event.kind is FailureKind.SECURITY
