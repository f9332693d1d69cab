"""Head-end core (sans-IO) against in-process fake meters: our MeterServer around simulated meters."""

from __future__ import annotations

import io
import ipaddress
from pathlib import Path

import pytest

from cosemnet.codec.apdu import decode_apdu
from cosemnet.codec.axdr import encode_data
from cosemnet.codec.ciphered import SecurityHeader
from cosemnet.codec.obis import Obis
from cosemnet.codec.wrapper import WrapperFrame
from cosemnet.codec.xdlms.notification import DataNotification
from cosemnet.headend import (
    AttributeRef,
    DerivedKeyStore,
    HeadEnd,
    HeadEndConfig,
    HeadEndStore,
    MappingKeyStore,
    StaticKeyStore,
)
from cosemnet.headend.keys import SHARED_KEY_OWNER, TEST_AK, TEST_EK
from cosemnet.profiles.mesh import (
    AddressBook,
    AddressConfirmation,
    ConfirmationStatus,
    GroupMembership,
    ResponseWindow,
    ThrottleConfig,
    UpsertResult,
    check_group_request_protection,
)
from cosemnet.profiles.mesh.registration import DEFAULT_OBJECTS
from cosemnet.security.ciphering import Role, SecurityContext, unprotect_apdu
from cosemnet.security.control import SecurityPolicy
from cosemnet.security.keys import KeySet
from cosemnet.security.suite import SecuritySuite

from .fakes import HEAD_END_PORT, FakeMesh, FakeMeter

NOW = 1_700_000_000.0
ENERGY = AttributeRef.parse("3/1-0:1.8.0*255/2")
SCALER = AttributeRef.parse("3/1-0:1.8.0*255/3")


def fleet(n: int, *, per_prefix: int = 10, first: int = 1000) -> list[FakeMeter]:
    return [FakeMeter(first + i, f"2001:db8:0:{i // per_prefix:x}::{i + 1:x}") for i in range(n)]


def head_end(book: AddressBook | None = None, **throttle: float) -> HeadEnd:
    config = HeadEndConfig(throttle=ThrottleConfig(**throttle))  # type: ignore[arg-type]
    return HeadEnd(book or AddressBook(":memory:"), config=config)


def _open(apdu: bytes) -> bytes:
    """A meter's view of a general-glo APDU from the head-end (test keys, no replay window)."""
    if apdu[:1] != b"\xdb":
        return apdu
    context = SecurityContext(
        suite=SecuritySuite.SUITE_0,
        policy=SecurityPolicy(0),
        system_title=bytes(8),
        peer_system_title=None,
        keys=KeySet(ek=TEST_EK, ak=TEST_AK),
        role=Role.SERVER,
    )
    return unprotect_apdu(apdu, context)[0]


def confirmation_of(data: bytes) -> AddressConfirmation:
    apdu = decode_apdu(_open(WrapperFrame.decode(data).apdu))
    assert isinstance(apdu, DataNotification)
    item = DEFAULT_OBJECTS.decode_body(apdu.notification_body)
    assert isinstance(item, AddressConfirmation)
    return item


# -- attribute references ------------------------------------------------------------------------


def test_attribute_ref_parse() -> None:
    assert AttributeRef.parse("1-0:1.8.0*255") == AttributeRef(3, Obis.parse("1-0:1.8.0*255"), 2)
    ref = AttributeRef.parse("8/0-0:1.0.0*255/2")
    assert (ref.class_id, str(ref.logical_name), ref.attribute_id) == (8, "0-0:1.0.0*255", 2)
    assert str(ref) == "8/0-0:1.0.0*255/2"
    for bad in ("", "3/1-0:1.8.0*255", "x/1-0:1.8.0*255/2", "3/nonsense/2", "3/1-0:1.8.0*255/2/1"):
        with pytest.raises(ValueError):
            AttributeRef.parse(bad)


# -- key stores ----------------------------------------------------------------------------------


def test_key_stores_and_counter_owners() -> None:
    static = StaticKeyStore()
    a, b = static.keys_for(b"A" * 8), static.keys_for(b"B" * 8)
    assert a.counter_owner == b.counter_owner == SHARED_KEY_OWNER  # one counter for a shared key
    derived = DerivedKeyStore(b"\x11" * 16)
    ka, kb = derived.keys_for(b"A" * 8), derived.keys_for(b"B" * 8)
    assert ka.counter_owner == b"A" * 8 and kb.counter_owner == b"B" * 8
    assert ka.keys.ek != kb.keys.ek and ka.keys.ak != kb.keys.ak and ka.keys.ek is not None
    assert DerivedKeyStore(b"\x11" * 16).keys_for(b"A" * 8).keys.ek == ka.keys.ek  # deterministic
    assert DerivedKeyStore(b"\x12" * 16).keys_for(b"A" * 8).keys.ek != ka.keys.ek
    table = MappingKeyStore({b"C" * 8: KeySet(ek=TEST_EK, ak=TEST_AK)})
    assert table.keys_for(b"C" * 8).counter_owner == b"C" * 8
    with pytest.raises(KeyError):
        table.keys_for(b"D" * 8)
    assert MappingKeyStore({}, fallback=static).keys_for(b"D" * 8) is a
    for store in (static, derived, table):
        assert TEST_EK.hex() not in repr(store).lower() and "0001020304" not in repr(store)
    with pytest.raises(ValueError):
        StaticKeyStore(ek=b"short")


# -- registration --------------------------------------------------------------------------------


def test_plain_registration_fills_the_address_book_with_the_lab_option() -> None:
    he = head_end()
    he.config.accept_plain_registrations = True
    meter = FakeMeter(1, "2001:db8::10", border_router="2001:db8::ff")
    he.receive_datagram("2001:db8::10", HEAD_END_PORT, meter.registration(), NOW)
    (out,) = he.pop_outgoing()
    assert (out.address, out.port) == ("2001:db8::10", HEAD_END_PORT)
    confirmation = confirmation_of(out.data)
    assert confirmation.status is ConfirmationStatus.ACCEPTED and confirmation.system_title == meter.title
    entry = he.book.lookup(meter.title)
    assert entry is not None and entry.primary_address.compressed == "2001:db8::10"
    assert entry.binding.border_router is not None
    assert [e.result for e in he.registrations] == [UpsertResult.CREATED]
    # the same datagram again (retry whose confirmation was lost): duplicate, confirmed as unchanged
    meter.sequence -= 1
    he.receive_datagram("2001:db8::10", HEAD_END_PORT, meter.registration(), NOW + 1)
    assert confirmation_of(he.pop_outgoing()[0].data).status is ConfirmationStatus.UNCHANGED


def test_plain_registrations_refused_by_default() -> None:
    he = HeadEnd(AddressBook(":memory:"), config=HeadEndConfig())
    meter = FakeMeter(1, "2001:db8::10")
    he.receive_datagram("2001:db8::10", HEAD_END_PORT, meter.registration(), NOW)
    assert he.pop_outgoing() == [] and len(he.book) == 0 and he.security_events == 1


def test_ciphered_registration_is_authenticated_and_confirmed_ciphered() -> None:
    he = head_end()
    meter = FakeMeter(2, "2001:db8::20")
    he.receive_datagram("2001:db8::20", HEAD_END_PORT, meter.ciphered_registration(), NOW)
    (out,) = he.pop_outgoing()
    apdu = WrapperFrame.decode(out.data).apdu
    assert apdu[0] == 0xDB  # ciphered back with the meter's key
    meter.context.peer_system_title = None
    plain, _, _ = unprotect_apdu(apdu, meter.context)
    notification = decode_apdu(plain)
    assert isinstance(notification, DataNotification)
    item = DEFAULT_OBJECTS.decode_body(notification.notification_body)
    assert isinstance(item, AddressConfirmation) and item.status is ConfirmationStatus.ACCEPTED
    assert he.book.lookup(meter.title) is not None
    # tampered: dropped as a security event, nothing stored
    other = FakeMeter(3, "2001:db8::30")
    data = bytearray(other.ciphered_registration())
    data[-1] ^= 1
    he.receive_datagram("2001:db8::30", HEAD_END_PORT, bytes(data), NOW)
    assert he.pop_outgoing() == [] and he.book.lookup(other.title) is None and he.security_events == 1


def test_garbage_is_dropped() -> None:
    he = head_end()
    for data in (
        b"",
        b"\x00\x01",
        WrapperFrame(1, 1, b"").encode(),
        WrapperFrame(1, 1, b"\xc4\x01").encode(),
    ):
        he.receive_datagram("2001:db8::99", HEAD_END_PORT, data, NOW)
    assert he.pop_outgoing() == [] and he.dropped == 4


# -- collect -------------------------------------------------------------------------------------


def test_collect_reads_every_meter_and_stores_readings() -> None:
    meters = fleet(40)
    he = head_end(max_in_flight=16, max_per_prefix=4)
    mesh = FakeMesh(he, meters)
    mesh.register_all(NOW)
    progress: list[int] = []
    run = he.collect([ENERGY, SCALER], NOW, on_progress=lambda r: progress.append(r.done))
    mesh.run(NOW)
    assert run.finished and not run.failed and len(run.results) == 40
    assert progress == list(range(1, 41))
    for m in meters:
        result = run.results[m.title]
        assert result.ok and result.values == [
            m.read(3, ENERGY.logical_name, 2),
            m.read(3, ENERGY.logical_name, 3),
        ]
        assert m.requests[0] == 0x60  # AARQ, then HLS pass 3, then the GET-with-list
    rows = he.store.readings(run.run_id)
    assert len(rows) == 80 and all(r.error is None and r.value is not None for r in rows)
    out = io.StringIO()
    assert he.store.write_csv(run.run_id, out) == 80
    assert out.getvalue().splitlines()[0].startswith("system_title,class_id")
    assert he.aarq_sent == 40
    # a second collect uses the established associations: no AARQ
    run2 = he.collect([ENERGY], NOW + 60)
    mesh.run(NOW + 60)
    assert len(run2.results) == 40 and he.aarq_sent == 40
    assert all(m.requests.count(0x60) == 1 for m in meters)


def test_collect_through_the_throttle_with_loss_respects_limits() -> None:
    meters = fleet(120, per_prefix=30)
    he = head_end(max_in_flight=20, max_per_prefix=6, timeout=5.0, backoff_base=1.0, max_retries=8)
    mesh = FakeMesh(he, meters, loss=0.15, seed=7)
    mesh.register_all(NOW)
    peak: list[int] = []
    original = mesh.deliver

    def deliver(out, now):  # type: ignore[no-untyped-def]
        peak.append(he.throttle.in_flight)
        for prefix in range(4):
            assert he.throttle.in_flight_for_prefix(ipaddress.IPv6Address(f"2001:db8:0:{prefix}::")) <= 6
        return original(out, now)

    mesh.deliver = deliver  # type: ignore[method-assign]
    run = he.collect([ENERGY], NOW)
    mesh.run(NOW, limit=36000)
    assert run.finished
    assert len(run.results) + len(run.failed) == 120
    assert len(run.results) >= 114  # 15 % loss each way, 9 attempts: almost all succeed
    assert max(peak) <= 20
    assert any(r.attempts > 1 for r in run.results.values())  # retries happened
    for title, result in run.results.items():
        meter = next(m for m in meters if m.title == title)
        assert result.values == [meter.read(3, ENERGY.logical_name, 2)]


def test_silent_meter_is_given_up_after_the_retries() -> None:
    meters = fleet(3)
    he = head_end(timeout=2.0, max_retries=2, backoff_base=1.0)
    mesh = FakeMesh(he, meters)
    mesh.register_all(NOW)
    silent = meters[1]
    mesh.all = [m for m in meters if m is not silent]
    mesh.rebuild_index()
    run = he.collect([ENERGY], NOW)
    mesh.run(NOW)
    assert set(run.results) == {meters[0].title, meters[2].title}
    assert "3 attempts" in run.failed[silent.title]
    rows = [r for r in he.store.readings(run.run_id) if r.system_title == silent.title]
    assert len(rows) == 1 and rows[0].error is not None and rows[0].value is None


def test_rebinding_after_an_address_update_without_reassociation() -> None:
    meters = fleet(5)
    he = head_end()
    mesh = FakeMesh(he, meters)
    mesh.register_all(NOW)
    mesh.run(NOW)
    run = he.collect([ENERGY], NOW)
    mesh.run(NOW)
    assert len(run.results) == 5
    moving = meters[2]
    old = moving.address
    update = moving.migrate("2001:db8:99::2")
    mesh.rebuild_index()  # only the new address reaches the meter now
    he.receive_datagram(moving.address, HEAD_END_PORT, update, NOW + 10)
    (confirmation,) = he.pop_outgoing()
    assert confirmation.address == "2001:db8:99::2"
    assert confirmation_of(confirmation.data).status is ConfirmationStatus.ACCEPTED
    assert [h.new.addresses[0].address.compressed for h in he.book.history(moving.title)][
        -1
    ] == "2001:db8:99::2"
    before = len(moving.requests)
    run2 = he.collect([ENERGY], NOW + 20)
    mesh.run(NOW + 20)
    assert len(run2.results) == 5 and run2.results[moving.title].attempts == 1
    assert moving.requests[before:] == [0xDB]  # one ciphered GET, no AARQ
    assert moving.requests.count(0x60) == 1 and he.aarq_sent == 5
    assert old not in {o for o in mesh.meters}


def test_restart_keeps_the_address_book_associations_and_counters(tmp_path: Path) -> None:
    path = tmp_path / "hes.db"
    meters = fleet(6)
    book = AddressBook(path)
    he = HeadEnd(book)
    mesh = FakeMesh(he, meters)
    mesh.register_all(NOW)
    run = he.collect([ENERGY], NOW)
    mesh.run(NOW)
    assert len(run.results) == 6
    last_ic = max(
        m.server.associations()[0].security.replay_guard.windows.get((he.config.system_title, 0), 0)  # type: ignore[union-attr]
        for m in meters
    )
    he.close()
    book.close()

    book2 = AddressBook(path)
    assert len(book2) == 6
    he2 = HeadEnd(book2)
    sent: list[int] = []
    mesh2 = FakeMesh(he2, meters)
    original = mesh2.deliver

    def deliver(out, now):  # type: ignore[no-untyped-def]
        apdu = WrapperFrame.decode(out.data).apdu
        sent.append(SecurityHeader.decode(apdu[11:16]).invocation_counter if apdu[0] == 0xDB else -1)
        return original(out, now)

    mesh2.deliver = deliver  # type: ignore[method-assign]
    run2 = he2.collect([ENERGY], NOW + 100)
    mesh2.run(NOW + 100)
    assert len(run2.results) == 6 and not run2.failed  # the meters accepted every request
    assert he2.aarq_sent == 0 and all(m.requests.count(0x60) == 1 for m in meters)  # resumed
    assert min(sent) > last_ic  # counters continue above everything used before the restart
    he2.close()
    book2.close()


def test_meter_that_lost_its_association_is_associated_again() -> None:
    meters = fleet(3)
    he = head_end(timeout=2.0, backoff_base=0.5)
    mesh = FakeMesh(he, meters)
    mesh.register_all(NOW)
    he.collect([ENERGY], NOW)
    mesh.run(NOW)
    rebooted = meters[1]
    rebooted.server.close()  # forgets every association: answers exception-responses
    run = he.collect([ENERGY], NOW + 100)
    mesh.run(NOW + 100)
    assert len(run.results) == 3 and run.results[rebooted.title].attempts == 2
    assert rebooted.requests.count(0x60) == 2 and he.aarq_sent == 4


def test_counter_lock_refuses_a_second_head_end_on_the_same_file(tmp_path: Path) -> None:
    from cosemnet.security.errors import CounterStoreError

    path = tmp_path / "hes.db"
    book = AddressBook(path)
    he = HeadEnd(book)
    with pytest.raises(CounterStoreError):
        HeadEnd(AddressBook(path), store=HeadEndStore(":memory:"))
    he.close()
    book.close()


# -- group requests ------------------------------------------------------------------------------


def test_group_request_members_answer_non_members_missing_duplicates_dropped() -> None:
    meters = fleet(20)
    for i, m in enumerate(meters):
        if i % 2 == 0:
            m.groups = GroupMembership.static([7])
        elif i % 5 == 1:
            m.groups = GroupMembership.static([8])
    he = head_end()
    mesh = FakeMesh(he, meters)
    mesh.duplicate_group_answers = True
    mesh.register_all(NOW)
    members = {m.title for i, m in enumerate(meters) if i % 2 == 0}
    he.ensure_associations(NOW)
    mesh.run(NOW)
    assert all(he.is_associated(m.title) for m in meters)
    run = he.broadcast(7, ENERGY, NOW, window=ResponseWindow.seconds(0, 5))
    (out,) = he.pop_outgoing()
    frame = WrapperFrame.decode(out.data)
    assert frame.destination_wport == 127 and out.address.startswith("ff15::")
    sc = frame.apdu[2 + 8 + 1]
    check_group_request_protection(sc, require_encryption=True)  # broadcast key bit, A+E
    for address, reply in mesh.deliver(out, NOW):
        he.receive_datagram(address, HEAD_END_PORT, reply, NOW + 1)
    mesh.run(NOW + 1)
    report = he.broadcast_report(run)
    assert report.closed and set(report.answered) == members
    assert report.missing == {m.title for m in meters} - members
    assert report.duplicates == len(members) and not report.late
    for m in meters:
        if m.title in members:
            assert run.values[m.title] == m.read(3, ENERGY.logical_name, 2)
    # a straggler after the window is late; a non-member never executes
    late_meter = meters[1]
    late_meter.groups = GroupMembership.static([7])
    for a in late_meter.server.associations():  # as if the request reached it only now
        assert a.security is not None
        a.security.replay_guard.windows.clear()
    (reply,) = late_meter.receive(out.address, out.data, NOW + 30)
    he.receive_datagram(late_meter.address, HEAD_END_PORT, reply, NOW + 30)
    assert late_meter.title in he.broadcast_report(run).late


def test_group_request_for_conditional_group_reports_unexpected_answers() -> None:
    meters = fleet(6)
    for m in meters[:3]:
        m.groups = GroupMembership.static([9])
    he = head_end()
    mesh = FakeMesh(he, meters)
    mesh.register_all(NOW)
    he.ensure_associations(NOW)
    mesh.run(NOW)
    run = he.broadcast(9, ENERGY, NOW, window=ResponseWindow.seconds(0, 1), expected=[meters[0].title])
    mesh.run(NOW)
    report = he.broadcast_report(run)
    assert set(report.answered) == {meters[0].title}
    assert set(report.unexpected) == {m.title for m in meters[1:3]}


def test_access_errors_are_reported_per_attribute() -> None:
    meters = fleet(2)
    he = head_end()
    mesh = FakeMesh(he, meters)
    mesh.register_all(NOW)
    missing = AttributeRef.parse("3/1-0:99.99.0*255/2")
    run = he.collect([ENERGY, missing], NOW)
    mesh.run(NOW)
    for result in run.results.values():
        assert result.values[0] is not None and result.errors[0] is None
        assert result.values[1] is None and "object-undefined" in (result.errors[1] or "")
    run = he.collect([missing], NOW + 10)
    mesh.run(NOW + 10)
    assert all("object-undefined" in (r.errors[0] or "") for r in run.results.values())
    rows = he.store.readings(run.run_id)
    assert len(rows) == 2 and all(r.value is None and r.error for r in rows)


def test_late_answer_to_an_earlier_attempt_does_not_break_the_association() -> None:
    (meter,) = fleet(1)
    he = head_end(timeout=2.0, backoff_base=0.5, jitter=0.0, adaptive=False)
    mesh = FakeMesh(he, [meter])
    mesh.register_all(NOW)
    he.collect([ENERGY], NOW)
    mesh.run(NOW)  # associated
    run = he.collect([ENERGY], NOW + 10)
    he.handle_timer(NOW + 10)
    (first,) = he.pop_outgoing()
    held = mesh.deliver(first, NOW + 10)  # the answer is delayed in the mesh
    he.handle_timer(NOW + 12.5)  # timeout: a retry is scheduled 0.5 s later
    he.handle_timer(NOW + 13.0)
    (second,) = he.pop_outgoing()
    dropped = he.dropped
    for address, reply in held:  # the old answer arrives now (old invoke id): dropped
        he.receive_datagram(address, HEAD_END_PORT, reply, NOW + 13.1)
    assert not run.finished and he.dropped == dropped + 1 and he.pop_outgoing() == []
    for address, reply in mesh.deliver(second, NOW + 13.2):
        he.receive_datagram(address, HEAD_END_PORT, reply, NOW + 13.2)
    assert run.finished and run.results[meter.title].values == [meter.read(3, ENERGY.logical_name, 2)]
    assert run.results[meter.title].attempts == 2
    assert he.is_associated(meter.title) and meter.requests.count(0x60) == 1


def test_answers_larger_than_a_datagram_travel_in_general_block_transfer() -> None:
    # IEC TS 62056-8-20: the object list of the management association does not fit one datagram
    # (1224-byte APDU budget), so it must come back in general-block-transfer blocks.
    object_list = AttributeRef(15, Obis.parse("0-0:40.0.0*255"), 2)
    meters = fleet(2)
    he = head_end()
    mesh = FakeMesh(he, meters)
    mesh.register_all(NOW)
    run = he.collect([object_list], NOW)
    mesh.run(NOW)
    assert run.finished and not run.failed and len(run.results) == 2
    for m in meters:
        value = run.results[m.title].values[0]
        # 0-0:40.0.0 is "the current association": the head-end's is the management one, 0-0:40.0.2
        assert value == m.read(15, Obis.parse("0-0:40.0.2*255"), 2)
        assert isinstance(value, list) and len(encode_data(value)) > 1224
        assert 0xE0 in m.requests  # the head-end acknowledged GBT blocks


def test_forged_ciphered_answer_does_not_end_the_read_in_flight() -> None:
    """A general-glo datagram carrying the meter's system title but a bad tag is verified once,
    counted as a security event and dropped; the genuine answer then completes the read (0098)."""
    (meter,) = fleet(1)
    he = head_end(timeout=2.0, backoff_base=0.5, jitter=0.0, adaptive=False)
    mesh = FakeMesh(he, [meter])
    mesh.register_all(NOW)
    he.collect([ENERGY], NOW)
    mesh.run(NOW)  # associated
    run = he.collect([ENERGY], NOW + 10)
    he.handle_timer(NOW + 10)
    (request,) = he.pop_outgoing()
    genuine = mesh.deliver(request, NOW + 10)
    address, reply = genuine[0]
    frame = WrapperFrame.decode(reply)
    forged_apdu = frame.apdu[:-1] + bytes((frame.apdu[-1] ^ 0x01,))  # a bad authentication tag
    forged = WrapperFrame(frame.source_wport, frame.destination_wport, forged_apdu).encode()
    events = he.security_events
    he.receive_datagram(address, HEAD_END_PORT, forged, NOW + 10.1)
    assert he.security_events == events + 1 and not run.finished
    he.receive_datagram(address, HEAD_END_PORT, reply, NOW + 10.2)
    assert run.finished and run.results[meter.title].values == [meter.read(3, ENERGY.logical_name, 2)]
    assert run.results[meter.title].attempts == 1
