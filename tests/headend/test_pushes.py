"""Meter-initiated pushes (issue 12): authenticated data-notifications (push setups) and
event-notifications are stored with meter and time; unauthenticated ones are refused (decision 0036);
last seen follows authenticated datagrams."""

from __future__ import annotations

import datetime as _dt

from cosemnet.codec.datetime import CosemDateTime
from cosemnet.codec.obis import Obis
from cosemnet.codec.types import LongUnsigned
from cosemnet.codec.wrapper import WrapperFrame
from cosemnet.codec.xdlms import CosemAttributeDescriptor
from cosemnet.codec.xdlms.notification import DataNotification, EventNotificationRequest
from cosemnet.security.ciphering import protect_apdu

from .fakes import HEAD_END_PORT, FakeMesh, FakeMeter
from .test_headend import NOW, fleet, head_end

WHEN = CosemDateTime.from_datetime(_dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=_dt.UTC)).to_bytes()


def _push(meter: FakeMeter, apdu: bytes, *, cipher: bool = True) -> bytes:
    return WrapperFrame(1, 1, protect_apdu(apdu, meter.context, "general-glo") if cipher else apdu).encode()


def _alarm(meter: FakeMeter) -> bytes:
    body = [b"\x00\x00\x61\x62\x00\xff", LongUnsigned(0x40)]  # alarm register 1 and a value
    return _push(meter, DataNotification(7, WHEN, body).encode())


def _event(meter: FakeMeter) -> bytes:
    descriptor = CosemAttributeDescriptor(7, Obis("0-0:99.98.0*255"), 2)
    return _push(meter, EventNotificationRequest(WHEN, descriptor, LongUnsigned(17)).encode())


def test_authenticated_pushes_are_stored_and_reported() -> None:
    meters = fleet(3)
    he = head_end()
    mesh = FakeMesh(he, meters)
    mesh.register_all(NOW)
    seen = []
    he.on_push = seen.append
    he.receive_datagram(meters[0].address, HEAD_END_PORT, _alarm(meters[0]), NOW + 10)
    he.receive_datagram(meters[1].address, HEAD_END_PORT, _event(meters[1]), NOW + 11)
    # a meter that never registered but authenticates: stored too
    stranger = FakeMeter(5000, "2001:db8:9::1")
    he.receive_datagram(stranger.address, HEAD_END_PORT, _event(stranger), NOW + 12)
    rows = he.store.events()
    assert [(r.system_title, r.kind) for r in rows] == [
        (meters[0].title, "data-notification"),
        (meters[1].title, "event-notification"),
        (stranger.title, "event-notification"),
    ]
    assert (
        rows[0].at == NOW + 10
        and rows[0].meter_time is not None
        and rows[0].meter_time.startswith("2030-01-02")
    )
    assert rows[1].source == "7/0-0:99.98.0*255/2" and rows[1].value_text == "17"
    assert [e.system_title for e in seen] == [r.system_title for r in rows]
    assert not he.pop_outgoing()  # unconfirmed pushes: no answer


def test_unauthenticated_or_forged_pushes_are_refused() -> None:
    meters = fleet(2)
    he = head_end()
    mesh = FakeMesh(he, meters)
    mesh.register_all(NOW)
    m = meters[0]
    plain = _push(m, DataNotification(7, WHEN, LongUnsigned(1)).encode(), cipher=False)
    he.receive_datagram(m.address, HEAD_END_PORT, plain, NOW + 1)
    event = bytearray(_event(m))
    event[-1] ^= 1  # tag broken
    he.receive_datagram(m.address, HEAD_END_PORT, bytes(event), NOW + 2)
    plain_event = _push(
        m,
        EventNotificationRequest(None, CosemAttributeDescriptor(1, Obis("0-0:1.0.0*255"), 2), 1).encode(),
        cipher=False,
    )
    he.receive_datagram(m.address, HEAD_END_PORT, plain_event, NOW + 3)
    assert he.store.events() == [] and not he.pushes
    assert he.security_events >= 2


def test_last_seen_follows_authenticated_datagrams_only() -> None:
    meters = fleet(2)
    he = head_end()
    mesh = FakeMesh(he, meters)
    mesh.register_all(NOW)
    first = {m.title: he.book.lookup(m.title).last_seen for m in meters}  # type: ignore[union-attr]
    he.receive_datagram(meters[0].address, HEAD_END_PORT, _alarm(meters[0]), NOW + 500)
    forged = bytearray(_alarm(meters[1]))
    forged[-1] ^= 1
    he.receive_datagram(meters[1].address, HEAD_END_PORT, bytes(forged), NOW + 600)
    he.save_state()
    assert he.book.lookup(meters[0].title).last_seen == NOW + 500  # type: ignore[union-attr]
    assert he.book.lookup(meters[1].title).last_seen == first[meters[1].title]  # type: ignore[union-attr]


def test_release_associations_sends_protected_rlrq_and_meters_drop_them() -> None:
    meters = fleet(4)
    he = head_end()
    mesh = FakeMesh(he, meters)
    mesh.register_all(NOW)
    he.ensure_associations(NOW)
    mesh.run(NOW)
    assert all(m.server.associations() for m in meters) and len(he.store.associations()) == 4
    assert he.release_associations(NOW + 1) == 4
    out = he.pop_outgoing()
    assert len(out) == 4
    for o in out:
        rlrq = WrapperFrame.decode(o.data).apdu
        assert rlrq[0] == 0x62 and b"\xbe" in rlrq  # RLRQ with user-information (ciphered initiate)
        mesh.deliver(o, NOW + 1)
    assert not any(m.server.associations() for m in meters)
    assert he.store.associations() == {} and not any(he.is_associated(m.title) for m in meters)
