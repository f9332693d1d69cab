"""A power-line topology for the simulated channel: nodes on feeders, attenuation, noise, frame error rates.

[design, docs/decisions/0071] The standard describes no channel model; this one is small, seeded and
deterministic:

* **Feeders**: the nodes form a tree rooted at node 0 (the data concentrator at the transformer). Each
  node hangs off its ``parent`` at ``distance_m`` metres of cable. The cable distance between two nodes
  is the length of the tree path between them.
* **Attenuation** of a link ``a -> b`` (dB) = ``db_per_m`` x cable distance + ``tap_loss_db`` for every
  node connected along the way (each meter on the cable loads the line) + any explicit ``extra_db`` the
  link is given (a TOML ``[[link]]`` entry).
* **Noise**: each receiver has a noise floor drawn once from ``normal(0, noise_sd_db)`` (seeded); the
  signal-to-noise ratio of ``a -> b`` is ``budget_db - attenuation - noise[b]`` (``budget_db`` = transmit
  level minus mean noise). Links are therefore not symmetric.
* **Frame error rate**: bit error rate of a coherent binary modulation, ``BER = erfc(sqrt(snr)) / 2``
  (``snr`` linear), and ``FER = 1 - (1 - BER) ** frame_bits`` for a reference frame of ``frame_bits``.
  A receiver hears (senses the carrier of, and collides with) a sender only when ``snr >= min_snr_db``;
  below that the link does not exist. Each reception on an existing link is then lost with its FER.

:meth:`Topology.apply` writes the links into a :class:`~.channel.PowerLineChannel` built with
``auto_link=False``; the flat channel (everybody hears everybody, ``auto_link=True``) is unchanged.
Built-in generators: :func:`line` (one feeder), :func:`tree` (a trunk with branches), :func:`cluster` (a
dense block at the end of a long cable); :func:`load_topology`
reads a small TOML file (see its docstring).
"""

from __future__ import annotations

import math
import random
import tomllib
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cosemnet.profiles.lon.channel import PowerLineChannel


@dataclass(slots=True, frozen=True)
class TopologyConfig:
    """Model parameters [design, docs/decisions/0071]."""

    db_per_m: float = 0.05
    """Cable attenuation (CENELEC A band on low-voltage cable: a few dB per 100 m)."""
    tap_loss_db: float = 1.5
    """Loss added by every node connected between sender and receiver."""
    budget_db: float = 40.0
    """Transmit level minus the mean receiver noise floor."""
    noise_sd_db: float = 3.0
    """Standard deviation of the per-receiver noise floor."""
    min_snr_db: float = 4.0
    """Below this SNR a receiver does not hear the sender at all (no carrier, no collision)."""
    frame_bits: int = 8 * 64
    """Length of the reference frame the FER is computed for."""
    seed: int = 0


def bit_error_rate(snr_db: float) -> float:
    """``erfc(sqrt(snr)) / 2`` for a linear SNR."""
    return 0.5 * math.erfc(math.sqrt(10.0 ** (snr_db / 10.0)))


def frame_error_rate(snr_db: float, frame_bits: int) -> float:
    """Probability that a frame of ``frame_bits`` has at least one bit error."""
    ber = bit_error_rate(snr_db)
    return 1.0 - (1.0 - ber) ** frame_bits


@dataclass(slots=True)
class Topology:
    """Nodes on a feeder tree; node 0 is the root (the concentrator). See the module docstring."""

    names: list[str]
    parents: list[int | None]
    distances: list[float]
    """Cable metres from each node to its parent (0 for the root)."""
    config: TopologyConfig = field(default_factory=TopologyConfig)
    extra_db: dict[tuple[int, int], float] = field(default_factory=dict)
    """Extra attenuation of a link (both directions), from the TOML file."""
    noise: list[float] = field(init=False)
    _depth: list[int] = field(init=False)

    def __post_init__(self) -> None:
        n = len(self.names)
        if n == 0 or len(self.parents) != n or len(self.distances) != n:
            raise ValueError("names, parents and distances must have one entry per node")
        if self.parents[0] is not None or any(p is None for p in self.parents[1:]):
            raise ValueError("node 0 is the root, every other node has a parent")
        depth = [0] * n
        for index in range(1, n):
            parent = self.parents[index]
            assert parent is not None
            if not 0 <= parent < index:
                raise ValueError(f"node {index}: the parent must be an earlier node")
            if self.distances[index] < 0:
                raise ValueError(f"node {index}: negative distance")
            depth[index] = depth[parent] + 1
        self._depth = depth
        rng = random.Random(self.config.seed)
        self.noise = [
            rng.gauss(0.0, self.config.noise_sd_db) if self.config.noise_sd_db > 0 else 0.0 for _ in range(n)
        ]

    def __len__(self) -> int:
        return len(self.names)

    def index(self, name: str) -> int:
        return self.names.index(name)

    def _path(self, a: int, b: int) -> tuple[float, int]:
        """(cable metres, nodes strictly between) on the tree path a..b."""
        metres = 0.0
        x, y = a, b
        steps = 0
        while x != y:
            if self._depth[x] >= self._depth[y]:
                metres += self.distances[x]
                parent = self.parents[x]
                assert parent is not None
                x = parent
            else:
                metres += self.distances[y]
                parent = self.parents[y]
                assert parent is not None
                y = parent
            steps += 1
        return metres, max(0, steps - 1)

    def attenuation_db(self, a: int, b: int) -> float:
        metres, between = self._path(a, b)
        extra = self.extra_db.get((min(a, b), max(a, b)), 0.0)
        return self.config.db_per_m * metres + self.config.tap_loss_db * between + extra

    def snr_db(self, sender: int, receiver: int) -> float:
        return self.config.budget_db - self.attenuation_db(sender, receiver) - self.noise[receiver]

    def hears(self, receiver: int, sender: int) -> bool:
        return receiver != sender and self.snr_db(sender, receiver) >= self.config.min_snr_db

    def frame_error_rate(self, sender: int, receiver: int) -> float:
        return frame_error_rate(self.snr_db(sender, receiver), self.config.frame_bits)

    def links(self) -> list[tuple[int, int, float]]:
        """Every audible directed link ``(sender, receiver, FER)``."""
        n = len(self.names)
        return [(a, b, self.frame_error_rate(a, b)) for a in range(n) for b in range(n) if self.hears(b, a)]

    def neighbours(self, node: int) -> list[int]:
        """Nodes that hear ``node`` and that ``node`` hears."""
        return [o for o in range(len(self.names)) if self.hears(o, node) and self.hears(node, o)]

    def hops_from_root(self, max_fer: float = 0.5, without: frozenset[int] = frozenset()) -> list[int | None]:
        """Fewest radio hops from node 0 over links good both ways (FER <= ``max_fer``), with the nodes in
        ``without`` gone; None: unreachable."""
        n = len(self.names)
        good = [
            [
                o
                for o in self.neighbours(a)
                if o not in without
                and max(self.frame_error_rate(a, o), self.frame_error_rate(o, a)) <= max_fer
            ]
            for a in range(n)
        ]
        hops: list[int | None] = [None] * n
        hops[0] = 0
        queue = deque([0])
        while queue:
            a = queue.popleft()
            for o in good[a]:
                if hops[o] is None:
                    hops[o] = (hops[a] or 0) + 1
                    queue.append(o)
        return hops

    def apply(self, channel: PowerLineChannel, stations: list[int] | None = None) -> None:
        """Create the channel links: node ``i`` is channel station ``stations[i]`` (default ``i``).

        The channel should be built with ``ChannelConfig(auto_link=False)`` so that nothing else links.
        """
        station = stations if stations is not None else list(range(len(self.names)))
        if len(station) != len(self.names):
            raise ValueError("one station per topology node")
        for a, b, fer in self.links():
            channel.link(station[a], station[b], min(1.0, fer), symmetric=False)


def line(
    count: int, *, spacing_m: float = 30.0, config: TopologyConfig | None = None, first_m: float | None = None
) -> Topology:
    """One feeder: the concentrator (node 0) then ``count`` meters every ``spacing_m`` metres."""
    if count < 0:
        raise ValueError("count must be >= 0")
    names = ["concentrator", *(f"meter-{i + 1}" for i in range(count))]
    parents: list[int | None] = [None, *range(count)]
    distances = [
        0.0,
        *([spacing_m if first_m is None else first_m] if count else []),
        *[spacing_m] * max(0, count - 1),
    ]
    return Topology(names, parents, distances, config or TopologyConfig())


def tree(
    count: int,
    *,
    branches: int = 3,
    trunk_m: float = 60.0,
    spacing_m: float = 30.0,
    config: TopologyConfig | None = None,
) -> Topology:
    """A trunk with ``branches`` feeders: branch ``k`` leaves the trunk at ``(k + 1) * trunk_m`` metres
    (junction nodes are meters too); the ``count`` meters are dealt round-robin onto the branches,
    ``spacing_m`` apart."""
    if count < 0 or branches < 1:
        raise ValueError("count must be >= 0 and branches >= 1")
    names = ["concentrator"]
    parents: list[int | None] = [None]
    distances = [0.0]
    tails: list[int] = []
    for k in range(min(branches, count)):  # junction meters along the trunk
        names.append(f"meter-{k + 1}")
        parents.append(tails[-1] if tails else 0)
        distances.append(trunk_m)
        tails.append(k + 1)
    k = 0
    while len(names) - 1 < count:
        names.append(f"meter-{len(names)}")
        parents.append(tails[k])
        distances.append(spacing_m)
        tails[k] = len(names) - 1
        k = (k + 1) % len(tails)
    return Topology(names, parents, distances, config or TopologyConfig())


def cluster(
    count: int,
    *,
    trunk: int = 3,
    trunk_m: float = 250.0,
    drop_m: float = 10.0,
    config: TopologyConfig | None = None,
) -> Topology:
    """A dense cluster at the end of a long cable: ``trunk`` meters ``trunk_m`` apart, then the other
    meters each on a ``drop_m`` drop from the last trunk meter (a block of flats). The cluster meters all
    hear each other well and, with the defaults, not the concentrator: one discovery query through a
    trunk meter reaches all of them at once."""
    if count < 0 or trunk < 0:
        raise ValueError("count and trunk must be >= 0")
    names = ["concentrator", *(f"meter-{i + 1}" for i in range(count))]
    spine = min(trunk, count)
    parents: list[int | None] = [None, *range(spine), *([spine] * (count - spine))]
    distances = [0.0, *([trunk_m] * spine), *([drop_m] * (count - spine))]
    return Topology(names, parents, distances, config or TopologyConfig())


def _config_from(table: dict[str, Any], seed: int) -> TopologyConfig:
    known = {f for f in TopologyConfig.__dataclass_fields__}
    unknown = set(table) - known
    if unknown:
        raise ValueError(f"unknown model parameters: {', '.join(sorted(unknown))}")
    values: dict[str, Any] = {"seed": seed}
    for key, value in table.items():
        if key == "frame_bits":
            values[key] = int(value)
        elif key != "seed":
            values[key] = float(value)
    return TopologyConfig(**values)


def load_topology(path: str | Path) -> Topology:
    """Read a topology from TOML::

    seed = 1                      # optional
    [model]                       # optional TopologyConfig fields
    db_per_m = 0.05
    [[node]]                      # the first node is the root (concentrator): no parent
    name = "dc"
    [[node]]
    name = "m1"
    parent = "dc"
    distance_m = 40
    [[link]]                      # optional extra attenuation between two nodes (both ways)
    a = "dc"
    b = "m1"
    extra_db = 6
    """
    with open(path, "rb") as handle:
        data = tomllib.load(handle)
    nodes = data.get("node")
    if not isinstance(nodes, list) or not nodes:
        raise ValueError("a topology needs at least one [[node]]")
    config = _config_from(dict(data.get("model", {})), int(data.get("seed", 0)))
    names: list[str] = []
    parents: list[int | None] = []
    distances: list[float] = []
    for entry in nodes:
        name = str(entry["name"])
        if name in names:
            raise ValueError(f"duplicate node name {name!r}")
        parent = entry.get("parent")
        if (parent is None) != (not names):
            raise ValueError(f"node {name!r}: only the first node has no parent")
        if parent is not None and str(parent) not in names:
            raise ValueError(f"node {name!r}: parent {parent!r} must be listed before it")
        names.append(name)
        parents.append(None if parent is None else names.index(str(parent)))
        distances.append(float(entry.get("distance_m", 0.0)))
    extra: dict[tuple[int, int], float] = {}
    for entry in data.get("link", []):
        a, b = names.index(str(entry["a"])), names.index(str(entry["b"]))
        extra[(min(a, b), max(a, b))] = float(entry.get("extra_db", 0.0))
    return Topology(names, parents, distances, config, extra)


def build_topology(spec: str, count: int, *, seed: int = 0) -> Topology:
    """``line``, ``tree``, ``cluster`` or a TOML file path (``count`` is ignored for a file)."""
    config = TopologyConfig(seed=seed)
    if spec == "line":
        return line(count, config=config)
    if spec == "tree":
        return tree(count, config=config)
    if spec == "cluster":
        return cluster(count, config=config)
    return load_topology(spec)


__all__ = [
    "Topology",
    "TopologyConfig",
    "bit_error_rate",
    "build_topology",
    "cluster",
    "frame_error_rate",
    "line",
    "load_topology",
    "tree",
]
