"""Broadcast key distribution and rotation (issue 12 item 6, decision 0125), sans-IO: the head-end and
real mesh meter nodes (simulated meters) on an in-process mesh that loses datagrams; the new key is
distributed by ACTION key_transfer (wrapped with each meter's KEK), group requests reach old-key and
new-key meters during the transition, and the rotation ends with every meter answering a group
request under the new key."""

from __future__ import annotations

import datetime as dt
import ipaddress
import random
from collections.abc import Callable

from cosemnet.headend import AttributeRef, HeadEnd, HeadEndConfig
from cosemnet.headend.keyrotation import (
    BroadcastKeyRotation,
    MeterKeyState,
    RotationStore,
    key_transfer_attribute,
)
from cosemnet.headend.keys import TEST_BROADCAST_KEY
from cosemnet.headend.runs import BroadcastRun, CollectRun
from cosemnet.profiles.mesh import (
    AddressBook,
    GroupMembership,
    MulticastScheme,
    PushSchedule,
    RepetitionDelay,
    ResponseWindow,
    ThrottleConfig,
)
from cosemnet.profiles.mesh.meter_node import MeshMeterNode
from cosemnet.simulator import build_meter
from cosemnet.simulator.mesh_fleet import fleet_profile

START = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)
T0 = START.timestamp()
HE = ("2001:db8::1", 4059)
KEK = bytes.fromhex("000102030405060708090A0B0C0D0E0F")  # the simulated meters' (published test KEK)
NEW_KEY = bytes(range(0x40, 0x50))
CLOCK = AttributeRef.parse("8/0-0:1.0.0*255/2")
GROUP = 3
WINDOW = ResponseWindow(0, 2000)


class LossyMesh:
    """Head-end and meter nodes exchanging datagrams in simulated time; every datagram (each copy of
    a multicast) is lost with probability ``loss``."""

    def __init__(self, head_end: HeadEnd, nodes: list[MeshMeterNode], loss: float, seed: int = 7) -> None:
        self.head_end = head_end
        self.nodes = nodes
        self.by_address = {n.address.compressed: n for n in nodes}
        self.loss = loss
        self.rng = random.Random(seed)
        self.scheme = MulticastScheme()
        self.lost = 0

    def _lost(self) -> bool:
        if self.rng.random() < self.loss:
            self.lost += 1
            return True
        return False

    def _exchange(self, now: float) -> None:
        moved = True
        while moved:
            moved = False
            for out in self.head_end.pop_outgoing():
                moved = True
                address = ipaddress.IPv6Address(out.address)
                if self.scheme.group_id(address) is not None:
                    targets = list(self.nodes)
                else:
                    found = self.by_address.get(address.compressed)
                    targets = [found] if found is not None else []
                for node in targets:
                    if not self._lost():
                        node.receive_datagram(HE, out.data, now, destination=address)
            for node in self.nodes:
                for item in node.pop_outgoing():
                    moved = True
                    if not self._lost():
                        self.head_end.receive_datagram(
                            node.address.compressed, node.udp_port, item.datagram, now
                        )

    def run(self, now: float, done: Callable[[], bool], limit: float = 3600.0) -> float:
        end = now + limit
        while now < end:
            self.head_end.handle_timer(now)
            for node in self.nodes:
                node.handle_timer(now)
            self._exchange(now)
            if done():
                return now
            timers = [t for t in (self.head_end.get_timer(), *(n.get_timer() for n in self.nodes)) if t]
            now = max(min(timers) if timers else now + 1.0, now + 0.001)
        raise AssertionError("the simulation did not reach its goal in time")


def _setup(
    meters: int, loss: float, *, associate: bool = True, config: HeadEndConfig | None = None
) -> tuple[HeadEnd, list[MeshMeterNode], LossyMesh, float]:
    if config is None:
        config = HeadEndConfig(throttle=ThrottleConfig(max_per_prefix=8, max_retries=12, rto_min=0.2))
    head_end = HeadEnd(AddressBook(":memory:"), config=config, rng=random.Random(3))
    nodes = [
        MeshMeterNode(
            build_meter(fleet_profile(), serial=i, seed=i, start=START),
            address=f"2001:db8:1::{i:x}",
            head_end=HE,
            schedule=PushSchedule((), 5, 30, RepetitionDelay.constant(10)),
            rng=random.Random(i),
            seed=i,
            membership=GroupMembership.static([GROUP]),
            response_window=WINDOW,
        )
        for i in range(1, meters + 1)
    ]
    mesh = LossyMesh(head_end, nodes, loss)
    for node in nodes:
        node.join(T0)
    now = mesh.run(T0, lambda: all(n.registered for n in nodes))
    if not associate:
        return head_end, nodes, mesh, now
    run = head_end.ensure_associations(now)
    now = mesh.run(now, lambda: run.finished)
    assert not run.failed
    return head_end, nodes, mesh, now


def _broadcast_key(node: MeshMeterNode) -> bytes | None:
    management = node.meter.association(1)
    assert management is not None and management.security_setup is not None
    return management.security_setup.keys.broadcast_key


def _rotate(head_end: HeadEnd, mesh: LossyMesh, rotation: BroadcastKeyRotation, now: float) -> float:
    rotation.start(now)
    while True:
        batches = rotation.next_round(now)
        if not batches:
            return now
        runs: list[CollectRun] = [
            head_end.collect([key_transfer_attribute(op)], now, system_titles=titles, operation=op)
            for op, titles in batches
        ]
        now = mesh.run(now, lambda runs=runs: all(r.finished for r in runs))  # type: ignore[misc]
        for run in runs:
            rotation.record(run, now)


def _answered(head_end: HeadEnd, runs: list[BroadcastRun]) -> set[bytes]:
    return {t for r in runs for t in head_end.broadcast_report(r).answered}


def test_rotation_over_a_lossy_mesh_loses_no_meter() -> None:
    """20 meters, 10 % of the datagrams lost both ways: every meter ends on the new key, confirmed in
    the store, and answers a group request protected with it; the old key is retired."""
    head_end, nodes, mesh, now = _setup(20, 0.0)
    mesh.loss = 0.10
    titles = [n.system_title for n in nodes]
    store = RotationStore()
    rotation = BroadcastKeyRotation(
        head_end, NEW_KEY, titles, kek_for=lambda t: KEK, group_id=GROUP, max_rounds=5, store=store
    )
    now = _rotate(head_end, mesh, rotation, now)
    assert rotation.finished and rotation.report().failed == {}
    assert all(_broadcast_key(n) == NEW_KEY for n in nodes)
    assert store.states(rotation.rotation_id) == dict.fromkeys(titles, MeterKeyState.NEW)
    assert head_end.keys.broadcast_keys().broadcast_key == NEW_KEY  # the old key is retired
    assert mesh.lost > 0
    # every meter answers a group request under the new key (repeated for those whose copy was lost)
    answered: set[bytes] = set()
    for _ in range(10):
        missing = [t for t in titles if t not in answered]
        if not missing:
            break
        runs = rotation.group_request(CLOCK, now, window=WINDOW, expected=missing)
        assert len(runs) == 1  # one request: the new key only
        now = mesh.run(now, lambda runs=runs: all(r.report is not None for r in runs))  # type: ignore[misc]
        answered |= _answered(head_end, runs)
    assert answered == set(titles)


def test_during_the_transition_group_requests_reach_old_and_new_key_meters() -> None:
    head_end, nodes, mesh, now = _setup(4, 0.0)
    titles = [n.system_title for n in nodes]
    rotation = BroadcastKeyRotation(head_end, NEW_KEY, titles, kek_for=lambda t: KEK, group_id=GROUP)
    rotation.start(now)
    ((operation, batch),) = rotation.next_round(now)
    first = head_end.collect(
        [key_transfer_attribute(operation)], now, system_titles=batch[:2], operation=operation
    )
    now = mesh.run(now, lambda: first.finished)
    rotation.record(first, now)
    assert [_broadcast_key(n) for n in nodes] == [NEW_KEY] * 2 + [TEST_BROADCAST_KEY] * 2
    runs = rotation.group_request(CLOCK, now, window=WINDOW)
    assert len(runs) == 2  # under the old key, then under the new one
    now = mesh.run(now, lambda: all(r.report is not None for r in runs))
    old_run, new_run = (head_end.broadcast_report(r) for r in runs)
    assert set(old_run.answered) == set(titles[2:]) and set(new_run.answered) == set(titles[:2])
    assert sum(n.stats.group_rejected for n in nodes) == 4  # each meter dropped the other key's request
    assert not rotation.finished  # the old key is kept while meters hold it
