"""IEC 62056-8-8 connection management (5.5) on the simulated power line: class 131's inactivity
timeout ends associations on the meter, the concentrator reports meters that stopped communicating,
and the class 132/133 counters are fed. Simulated time, deterministic."""

from __future__ import annotations

from cosemnet.client.connection import ClientConfig, Referencing
from cosemnet.codec.types import LongUnsigned
from cosemnet.profiles.lon.addresses import BroadcastAddress, SubnetNodeAddress
from cosemnet.profiles.lon.dlms import LonTransferError, MeterBack, MeterLink, MeterSilent, run_exchange
from cosemnet.profiles.lon.lon_apdu import ApplicationMessage
from cosemnet.profiles.lon.preestablished import MANAGEMENT, PUBLIC
from cosemnet.profiles.lon.sap import NNAP_CLIENT, PUBLIC_CLIENT
from cosemnet.profiles.lon.short_names import table_short_name
from cosemnet.profiles.lon.transaction import Service
from cosemnet.security.hls import Mechanism
from cosemnet.simulator.osgp_meter import (
    CONCENTRATOR_NODE,
    CONCENTRATOR_SUBNET,
    OsgpSegment,
    build_osgp_segment,
)

DC = SubnetNodeAddress(CONCENTRATOR_SUBNET, CONCENTRATOR_NODE)
BT01 = table_short_name(1, 4)
SETUP = "0-0:32.1.0*255"


def nnap() -> ClientConfig:
    return ClientConfig(
        client_sap=NNAP_CLIENT, referencing=Referencing.SN, mechanism=Mechanism.LLS, password=b"12345678"
    )


def idle_until(segment: OsgpSegment, when: float) -> None:
    limit = when - segment.channel.now
    run_exchange(segment.channel, segment.endpoints, until=lambda: segment.channel.now >= when, limit=limit)


def set_timeout(segment: OsgpSegment, minutes: int) -> None:
    m = segment.meters[0]
    management = segment.concentrator.add_meter(m.address, pre_established=MANAGEMENT)
    management.submit(lambda c: c.set(131, SETUP, 2, LongUnsigned(minutes)))
    segment.run(limit=120)
    assert management.results == [None]
    assert m.meter.protocol_setup.inactivity_timeout == minutes


def read(segment: OsgpSegment, link: MeterLink) -> object:
    link.submit(lambda c: c.read([BT01]))
    segment.run(limit=300)
    return link.results[-1]


def test_inactivity_timeout_set_by_management_ends_the_associations_of_a_silent_node() -> None:
    segment = build_osgp_segment(1, seed=41)
    m = segment.meters[0]
    set_timeout(segment, 2)
    link = segment.concentrator.add_meter(m.address, nnap())
    link.submit(lambda c: c.associate())
    assert not isinstance(read(segment, link), Exception)
    public = segment.concentrator.add_meter(m.address, pre_established=PUBLIC)
    # messages within the timeout keep the node's associations
    idle_until(segment, segment.channel.now + 100.0)
    assert not isinstance(read(segment, link), Exception)
    idle_until(segment, segment.channel.now + 100.0)
    assert m.endpoint.is_associated(DC, NNAP_CLIENT, 1) and m.endpoint.inactivity_releases == 0
    # two silent minutes end them: the LLS one is gone, the pre-established one starts afresh
    last = segment.channel.now
    idle_until(segment, last + 121.0)
    assert not m.endpoint.is_associated(DC, NNAP_CLIENT, 1)
    assert m.endpoint.association(DC, PUBLIC_CLIENT, 1) is None and m.endpoint.is_associated(
        DC, PUBLIC_CLIENT, 1
    )
    assert m.endpoint.inactivity_releases >= 2  # management and NNAP (public was never used)
    assert m.endpoint.out_of_communication(segment.channel.now)
    stale = read(segment, link)
    assert isinstance(stale, Exception) and not isinstance(stale, LonTransferError)  # refused, not lost
    public.submit(lambda c: c.get(3, "1-0:1.8.0*255", 2))  # no AARQ needed
    segment.run(limit=120)
    assert not isinstance(public.results[-1], Exception)
    assert not m.endpoint.out_of_communication(segment.channel.now)
    link.connection.abort()
    link.submit(lambda c: c.associate())
    assert not isinstance(read(segment, link), Exception)


def test_inactivity_timeout_zero_never_ends_associations() -> None:
    segment = build_osgp_segment(1, seed=42)
    m = segment.meters[0]
    set_timeout(segment, 0)
    link = segment.concentrator.add_meter(m.address, nnap())
    link.submit(lambda c: c.associate())
    assert not isinstance(read(segment, link), Exception)
    idle_until(segment, segment.channel.now + 7200.0)
    assert m.endpoint.inactivity_releases == 0 and m.endpoint.is_associated(DC, NNAP_CLIENT, 1)
    assert not isinstance(read(segment, link), Exception)


def test_concentrator_reports_a_meter_that_stopped_communicating_and_its_return() -> None:
    segment = build_osgp_segment(2, seed=43)
    dc = segment.concentrator
    links = [dc.add_meter(m.address, pre_established=PUBLIC, response_timeout=30.0) for m in segment.meters]

    def poll() -> None:
        for link in links:
            link.submit(lambda c: c.get(3, "1-0:1.8.0*255", 2))
        segment.run(limit=600)

    poll()
    assert dc.silent_meters() == [] and not dc.communication_events
    gone = segment.meters[1]
    segment.channel.unlink(0, 2)  # the second meter's link breaks
    poll()
    assert isinstance(links[1].results[-1], LonTransferError)
    assert dc.silent_meters() == []  # one failure is not yet silence
    poll()
    [silent] = dc.silent_meters()
    assert silent.address == gone.address and silent.failures == 2 and silent.last_heard is not None
    assert isinstance(dc.communication_events[-1], MeterSilent)
    assert not isinstance(links[0].results[-1], Exception)  # the other meter is fine
    segment.channel.link(0, 2)
    poll()
    assert dc.silent_meters() == []
    back = dc.communication_events[-1]
    assert isinstance(back, MeterBack) and back.address == gone.address


def test_class_133_counters_are_fed() -> None:
    segment = build_osgp_segment(1, seed=44)
    m = segment.meters[0]
    dc = segment.concentrator
    # acknowledged broadcasts raise every listener's backlog by 15 per frame: the estimate overflows
    for _ in range(6):
        dc.stack.send(BroadcastAddress(0), ApplicationMessage(0x3E, b"\x00"), Service.ACKD, now=dc.stack.now)
    segment.run(limit=300)
    assert m.endpoint.stack.statistics.backlog_overflows > 0
    # ADP_DATA.requests that never reach the stack (destination queue full)
    before = dc.stack.statistics.transmit_no_data
    for _ in range(10):
        dc.adp.data_request(PUBLIC_CLIENT, 1, b"\xc0\x01\x81" + bytes(10), 0.0, destination=m.address)
    segment.run(limit=300)
    assert dc.stack.statistics.transmit_no_data == before + 2  # 8 queued, 2 refused
    # the meter's class 133 object shows its counters
    link = dc.add_meter(m.address, pre_established=PUBLIC)
    link.submit(lambda c: c.get(133, "0-0:32.3.0*255", 7), lambda c: c.get(133, "0-0:32.3.0*255", 6))
    segment.run(limit=120)
    overflows, no_data = link.results
    assert int(overflows) == m.endpoint.stack.statistics.backlog_overflows > 0  # type: ignore[call-overload]
    assert int(no_data) == m.endpoint.stack.statistics.transmit_no_data  # type: ignore[call-overload]
