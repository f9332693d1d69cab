"""Learning a meter's lowest acceptable invocation counter (issue 12 item 8, decision 0126): a fresh
head-end (no counter state) whose counter is below the meter's replay floor reads the meter's
invocation counter object in a public association and starts above it."""

from __future__ import annotations

import pytest

from cosemnet.headend import AttributeRef, HeadEndConfig
from cosemnet.headend.keys import DEFAULT_HEAD_END_SYSTEM_TITLE, SHARED_KEY_OWNER, TEST_EK
from cosemnet.profiles.mesh import ThrottleConfig
from cosemnet.profiles.mesh.meter_node import INVOCATION_COUNTER_LN, MeshMeterNode
from cosemnet.security.counters import counter_name
from cosemnet.security.keys import KeyRole

from .test_keyrotation import _setup

ENERGY = AttributeRef.parse("3/1-0:1.8.0*255/2")
FLOOR = 10**6


def _raise_floor(node: MeshMeterNode) -> None:
    """The meter accepted counter FLOOR from an earlier head-end with the same system title."""
    windows = node.server.replay_floors.guard(TEST_EK).windows
    windows[(DEFAULT_HEAD_END_SYSTEM_TITLE, KeyRole.GLOBAL_UNICAST)] = FLOOR


def _config(mode: str) -> HeadEndConfig:
    throttle = ThrottleConfig(max_per_prefix=8, max_retries=3, rto_min=0.2)
    return HeadEndConfig(throttle=throttle, learn_counters=mode)  # type: ignore[arg-type]


@pytest.mark.parametrize("mode", ["on-refusal", "first-contact"])
def test_fresh_head_end_reads_a_meter_with_a_high_replay_floor(mode: str) -> None:
    head_end, nodes, mesh, now = _setup(2, 0.0, associate=False, config=_config(mode))
    _raise_floor(nodes[0])
    run = head_end.collect([ENERGY], now)
    now = mesh.run(now, lambda: run.finished)
    assert not run.failed and len(run.results) == 2
    counter = head_end._counters[(SHARED_KEY_OWNER, "guek")]
    assert counter.value > FLOOR
    assert head_end._counter_store.load(counter_name(SHARED_KEY_OWNER, "guek")) is not None
    # the public association was released: only the management associations remain
    assert [len(n.server.associations()) for n in nodes] == [1, 1]
    # the counter object now says the meter accepts only what is above our last request
    meter = nodes[0].meter
    public_floor = meter.device.get(1, INVOCATION_COUNTER_LN, 2, meter.context())
    assert FLOOR < int(public_floor) <= counter.value  # type: ignore[call-overload]


def test_without_learning_the_meter_keeps_refusing() -> None:
    head_end, nodes, mesh, now = _setup(1, 0.0, associate=False, config=_config("never"))
    _raise_floor(nodes[0])
    run = head_end.collect([ENERGY], now)
    now = mesh.run(now, lambda: run.finished)
    assert list(run.failed) == [nodes[0].system_title]
