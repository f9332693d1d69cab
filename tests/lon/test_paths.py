"""Path management: learning links, fewest hops then best links, failures, forgetting, re-learning."""

from __future__ import annotations

import itertools

import pytest

from cosemnet.profiles.lon import SubnetNodeAddress
from cosemnet.profiles.lon.addresses import GroupAddress
from cosemnet.profiles.lon.paths import PathConfig, PathManager, qualities

DC, A, B, C, T = (1, 1), (1, 2), (1, 3), (1, 4), (1, 9)


def both(m: PathManager, x: tuple[int, int], y: tuple[int, int], q: float) -> None:
    m.observe(x, y, q, 0.0)
    m.observe(y, x, q, 0.0)


def manager() -> PathManager:
    m = PathManager(DC)
    both(m, DC, A, 0.95)
    both(m, DC, B, 0.7)
    both(m, A, T, 0.6)
    both(m, B, T, 0.99)
    both(m, A, C, 0.99)
    both(m, C, T, 0.99)
    return m


def test_fewest_hops_first_then_best_links() -> None:
    m = manager()
    # two 1-repeater paths: via A (0.95^2 * 0.6^2 = 0.32) and via B (0.7^2 * 0.99^2 = 0.48): B wins;
    # the 2-repeater path via A, C is better still but longer
    assert m.path(T, 0.0) == [B]
    assert m.path(A, 0.0) == []
    assert m.route(SubnetNodeAddress(1, 9), 0.0) == [SubnetNodeAddress(1, 3)]
    assert m.path((1, 77), 0.0) is None and m.route(GroupAddress(3), 0.0) is None


def test_one_way_or_weak_links_are_not_used() -> None:
    m = PathManager(DC, PathConfig(min_quality=0.5))
    both(m, DC, A, 0.9)
    m.observe(A, T, 0.9, 0.0)  # T hears A, but A never heard T
    assert m.path(T, 0.0) is None
    m.observe(T, A, 0.4, 0.0)
    assert m.path(T, 0.0) is None
    m.observe(T, A, 0.8, 0.0)
    assert m.path(T, 0.0) == [A]


def test_failure_penalises_the_link_and_the_next_path_is_taken() -> None:
    m = manager()
    m.report(SubnetNodeAddress(1, 9), [SubnetNodeAddress(1, 3)], 1, 10.0)  # B could not reach T
    assert m.path(T, 10.0) == [A]
    assert m.switches == 1
    assert m.path(T, 10.0 + m.config.failure_penalty + 1) == [B]  # the penalty runs out
    m.report(SubnetNodeAddress(1, 9), [SubnetNodeAddress(1, 2)], None, 2000.0)
    assert m.failures == {}


def test_repeater_forgotten_after_repeated_failures_and_relearned() -> None:
    m = manager()
    for now in (1.0, 2.0):
        m.report(SubnetNodeAddress(1, 9), [SubnetNodeAddress(1, 3)], 0, now)  # DC -> B broke, twice
    assert B in m.relearn and all(B not in k for k in m.links)
    assert m.path(T, 3000.0) == [A]
    both(m, DC, B, 0.7)
    both(m, B, T, 0.99)
    assert B not in m.relearn and m.path(T, 3000.0) == [B]


def test_qualities_from_frame_counts_and_bounds() -> None:
    assert qualities({A: 3, B: 9, C: 1}, {A: 4, B: 6}) == {A: 0.75, B: 1.0}
    m = PathManager(DC, PathConfig(max_links=2))
    for n in range(2, 10):
        m.observe(DC, (1, n), 1.0, 0.0)
    assert len(m.links) == 2
    m.observe(DC, DC, 1.0, 0.0)
    m.observe(DC, A, 1.5, 0.0)
    assert len(m.links) == 2


@pytest.mark.parametrize("length", [2, 5, 8])
def test_long_line_path_uses_every_repeater(length: int) -> None:
    m = PathManager(DC)
    nodes = [DC, *((1, n) for n in range(2, 2 + length))]
    for x, y in itertools.pairwise(nodes):
        both(m, x, y, 0.9)
    assert m.path(nodes[-1], 0.0) == nodes[1:-1]
    m9 = PathManager(DC, PathConfig(max_repeaters=length - 2))
    for x, y in itertools.pairwise(nodes):
        both(m9, x, y, 0.9)
    assert m9.path(nodes[-1], 0.0) is None
