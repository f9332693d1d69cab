"""Path management for Annex E repeating in the data concentrator (sans-IO, docs/decisions/0071).

The concentrator learns *who hears whom and how well* from link observations (a node's neighbour table:
the share of a sender's frames it received), chooses repeater chains (fewest hops first, then the best
links), retries on another chain after a repeating failure, and re-learns when a repeater disappears.

* A link is usable when both directions were observed with quality >= ``min_quality`` and it is not
  under a failure penalty; its cost is ``-log(q_ab * q_ba)`` (the chance a request and its response both
  get through), so among the paths with the fewest hops the one most likely to work wins.
* :meth:`PathManager.report` (the :class:`~.repeater.RouteProvider` interface) takes the outcome: a
  failure at link ``i`` puts that link under penalty for ``failure_penalty`` seconds and counts a failure
  against the node it leads to; a repeater that fails ``forget_after`` times in a row is forgotten (its
  links dropped) and listed in :attr:`PathManager.relearn` until it is observed again.
* Nothing here reads a clock or does I/O: every call takes ``now``.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from cosemnet.profiles.lon.addresses import Address, SubnetNodeAddress

NodeKey = tuple[int, int]
"""(subnet, node) of a 14908-1 node."""


@dataclass(slots=True, frozen=True)
class PathConfig:
    """[design, docs/decisions/0071]"""

    min_quality: float = 0.5
    max_repeaters: int = 8
    failure_penalty: float = 900.0
    forget_after: int = 2
    max_links: int = 65536
    """Bound on the link table (observations beyond it are ignored)."""


@dataclass(slots=True)
class _Link:
    quality: float
    seen: float
    penalty_until: float = -math.inf


@dataclass(slots=True)
class PathManager:
    """Link table and path choice of one proxy source (the concentrator at ``source``)."""

    source: NodeKey
    config: PathConfig = field(default_factory=PathConfig)
    links: dict[tuple[NodeKey, NodeKey], _Link] = field(default_factory=dict)
    """(sender, receiver) -> what the receiver reported about hearing the sender."""
    failures: dict[NodeKey, int] = field(default_factory=dict)
    relearn: set[NodeKey] = field(default_factory=set)
    """Repeaters forgotten after repeated failures; cleared for a node when it is observed again."""
    switches: int = 0
    """Times :meth:`report` made the next route differ from the failed one."""
    _adjacency: dict[NodeKey, set[NodeKey]] | None = field(default=None, repr=False)
    """Who has a link with whom, rebuilt after a link is added or dropped (a path is asked per send)."""

    # ------------------------------------------------------------------ learning

    def observe(self, sender: NodeKey, receiver: NodeKey, quality: float, now: float) -> None:
        """``receiver`` hears ``sender`` with ``quality`` (0..1, share of frames received)."""
        if sender == receiver or not 0.0 <= quality <= 1.0:
            return
        key = (sender, receiver)
        link = self.links.get(key)
        if link is None:
            if len(self.links) >= self.config.max_links:
                return
            self.links[key] = _Link(quality, now)
            self._adjacency = None
        else:
            link.quality, link.seen = quality, now
        if quality >= self.config.min_quality:
            self.relearn.discard(sender)

    def observe_table(self, receiver: NodeKey, heard: Mapping[NodeKey, float], now: float) -> None:
        """A neighbour table: sender -> quality as ``receiver`` measured it."""
        for sender, quality in heard.items():
            self.observe(sender, receiver, quality, now)

    def forget(self, node: NodeKey) -> None:
        """Drop every link of ``node`` (it disappeared); it is listed in :attr:`relearn`."""
        self.links = {k: v for k, v in self.links.items() if node not in k}
        self._adjacency = None
        self.failures.pop(node, None)
        self.relearn.add(node)

    # ------------------------------------------------------------------ path choice

    def link_cost(self, a: NodeKey, b: NodeKey, now: float) -> float | None:
        """Cost of using ``a`` <-> ``b`` (None: unusable)."""
        ab, ba = self.links.get((a, b)), self.links.get((b, a))
        if ab is None or ba is None:
            return None
        if ab.penalty_until > now or ba.penalty_until > now:
            return None
        low = self.config.min_quality
        if ab.quality < low or ba.quality < low:
            return None
        return -math.log(max(ab.quality * ba.quality, 1e-12))

    def _neighbours(self) -> dict[NodeKey, set[NodeKey]]:
        if self._adjacency is None:
            out: dict[NodeKey, set[NodeKey]] = {}
            for a, b in self.links:
                out.setdefault(a, set()).add(b)
                out.setdefault(b, set()).add(a)
            self._adjacency = out
        return self._adjacency

    def path(self, target: NodeKey, now: float) -> list[NodeKey] | None:
        """Repeaters from the source to ``target`` (``[]``: direct), fewest hops then lowest cost; None:
        no usable path known."""
        neighbours = self._neighbours()
        best: dict[NodeKey, tuple[int, float]] = {self.source: (0, 0.0)}
        previous: dict[NodeKey, NodeKey] = {}
        heap: list[tuple[int, float, NodeKey]] = [(0, 0.0, self.source)]
        limit = self.config.max_repeaters + 1
        while heap:
            hops, cost, node = heapq.heappop(heap)
            if best.get(node, (limit + 1, 0.0)) < (hops, cost):
                continue
            if node == target:
                break
            if hops >= limit:
                continue
            for other in sorted(neighbours.get(node, ())):
                step = self.link_cost(node, other, now)
                if step is None:
                    continue
                key = (hops + 1, cost + step)
                if key < best.get(other, (limit + 1, math.inf)):
                    best[other] = key
                    previous[other] = node
                    heapq.heappush(heap, (key[0], key[1], other))
        if target not in best or target == self.source:
            return None
        chain = []
        node = target
        while node != self.source:
            node = previous[node]
            if node != self.source:
                chain.append(node)
        chain.reverse()
        return chain

    # ------------------------------------------------------------------ RouteProvider

    def route(self, destination: Address, now: float) -> list[SubnetNodeAddress] | None:
        if not isinstance(destination, SubnetNodeAddress):
            return None
        chain = self.path((destination.destination_subnet, destination.destination_node), now)
        if chain is None:
            return None
        return [SubnetNodeAddress(s, n) for s, n in chain]

    def report(
        self, destination: Address, route: list[SubnetNodeAddress], broken: int | None, now: float
    ) -> None:
        if not isinstance(destination, SubnetNodeAddress):
            return
        nodes = [
            self.source,
            *((r.destination_subnet, r.destination_node) for r in route),
            (destination.destination_subnet, destination.destination_node),
        ]
        if broken is None:
            for node in nodes[1:]:
                self.failures.pop(node, None)
            return
        if not 0 <= broken < len(nodes) - 1:
            return
        a, b = nodes[broken], nodes[broken + 1]
        for key in ((a, b), (b, a)):
            link = self.links.get(key)
            if link is not None:
                link.penalty_until = now + self.config.failure_penalty
        count = self.failures.get(b, 0) + 1
        self.failures[b] = count
        if b != nodes[-1] and count >= self.config.forget_after:
            self.forget(b)
        before = [(r.destination_subnet, r.destination_node) for r in route]
        if self.path(nodes[-1], now) != before:
            self.switches += 1


def qualities(heard: Mapping[NodeKey, int], sent: Mapping[NodeKey, int]) -> dict[NodeKey, float]:
    """A neighbour table from frame counts: frames heard from each sender / frames it sent."""
    return {s: min(1.0, n / sent[s]) for s, n in heard.items() if sent.get(s)}


__all__ = ["NodeKey", "PathConfig", "PathManager", "qualities"]
