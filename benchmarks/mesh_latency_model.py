"""Discrete-event model of the head-end throttle on a high-latency lossy mesh (decision 0100).

::

    .venv/bin/python benchmarks/mesh_latency_model.py                      # 500 meters, 0/10/30 % loss
    .venv/bin/python benchmarks/mesh_latency_model.py --loss 0.3 --seed 2
    .venv/bin/python benchmarks/mesh_latency_model.py --loss-tolerance 0 --shared-rto   # decision 0080 alone
    .venv/bin/python benchmarks/mesh_latency_model.py --loss 0 --capacity 20 --queue 10  # a congested mesh

The real :class:`cosemnet.profiles.mesh.Throttle` in simulated time (no sockets, no crypto: seconds of
mesh run in milliseconds), against meters that each need three round trips (AARQ, HLS pass 3, GET) of
their own delay, drawn uniformly from ``--latency`` and stretched by up to ``--jitter`` per datagram.
Each answer is lost with probability ``--loss``; a lost AARE or pass 4 restarts the association (the
head-end's behaviour), a lost GET response repeats the GET; three silent attempts in a row restart it
too. ``--capacity`` adds a bottleneck (answers per second, ``--queue`` datagrams of buffer, drops
beyond): congestion, as opposed to random loss. The figures of decision 0100 come from this model;
benchmarks/mesh_loss.py measures the real head-end and fleet over loopback.
"""

from __future__ import annotations

import argparse
import heapq
import ipaddress
import json
import random
import sys
from typing import Any

from cosemnet.profiles.mesh import ThrottleConfig
from cosemnet.profiles.mesh.throttle import Throttle, ThrottledRequest, ThrottleEventKind

ADDRESS = ipaddress.IPv6Address("::1")


class _Model:
    def __init__(self, args: argparse.Namespace, loss: float) -> None:
        self.args = args
        self.loss = loss
        self.rng = random.Random(args.seed)
        low, high = args.latency
        self.delay = [self.rng.uniform(low, high) for _ in range(args.meters)]
        self.stage = [0] * args.meters
        self.token = [0] * args.meters
        self.silent = [0] * args.meters
        self.events: list[tuple[float, int, int, int, int]] = []
        self.seq = 0
        self.link_free = 0.0
        self.drops = 0
        self.sent = 0

    def send(self, i: int, now: float) -> None:
        self.sent += 1
        self.token[i] += 1
        if self.rng.random() < self.loss:
            return
        at = now + self.delay[i] * (1 + self.args.jitter * self.rng.random())
        if self.args.capacity:
            start = max(now, self.link_free)
            if (start - now) * self.args.capacity >= self.args.queue:
                self.drops += 1
                return
            self.link_free = start + 1 / self.args.capacity
            at += self.link_free - now
        self.seq += 1
        heapq.heappush(self.events, (at, self.seq, i, self.token[i], self.stage[i]))

    def run(self, throttle: Throttle) -> dict[str, Any]:
        n = self.args.meters
        for i in range(n):
            throttle.submit(ThrottledRequest(i, ADDRESS, None, i, ("meter", i)), 0.0)
        now, done, failed = 0.0, 0, 0
        while True:
            for event in throttle.expire(now):
                i = event.request.key
                assert isinstance(i, int)
                self.silent[i] += 1
                if self.stage[i] == 1 or self.silent[i] >= 3:
                    self.stage[i] = 0  # pass 4 lost, or silent three times: a fresh AARQ
                failed += event.kind is ThrottleEventKind.GAVE_UP
            while (attempt := throttle.next_ready(now)) is not None:
                key = attempt.request.key
                assert isinstance(key, int)
                self.send(key, now)
            if throttle.pending == 0:
                break
            times = [t for t in (throttle.get_timer(), self.events[0][0] if self.events else None) if t]
            if not times:
                break
            now = max(now, min(times))
            done += self._deliver(throttle, now)
        return {
            "seconds": round(now, 1),
            "read": done,
            "failed": failed,
            "datagrams_sent": self.sent,
            "timeouts": throttle.timeouts,
            "bottleneck_drops": self.drops,
        }

    def _deliver(self, throttle: Throttle, now: float) -> int:
        done = 0
        while self.events and self.events[0][0] <= now:
            _, _, i, token, stage = heapq.heappop(self.events)
            if stage != self.stage[i] or (
                stage != 2 and (token != self.token[i] or not throttle.is_in_flight(i))
            ):
                continue  # an answer to an exchange the head-end has left
            self.silent[i] = 0
            if stage < 2:
                if throttle.progress(i, now):
                    self.stage[i] += 1
                    self.send(i, now)
            elif throttle.completed(i, now).value == "completed":
                done += 1
                self.stage[i] = 3
        return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--meters", type=int, default=500)
    parser.add_argument("--loss", type=float, action="append", help="repeatable; default 0, 0.1, 0.3")
    parser.add_argument("--latency", type=lambda v: tuple(float(x) for x in v.split(":")), default=(0.2, 2.0))
    parser.add_argument("--jitter", type=float, default=0.25)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-per-prefix", type=int, default=64)
    parser.add_argument("--max-in-flight", type=int, default=256)
    parser.add_argument("--retries", type=int, default=20)
    parser.add_argument("--loss-tolerance", type=float, default=ThrottleConfig().loss_tolerance)
    parser.add_argument("--shared-rto", action="store_true")
    parser.add_argument("--capacity", type=float, default=0.0)
    parser.add_argument("--queue", type=int, default=10)
    args = parser.parse_args(argv)
    config = ThrottleConfig(
        max_in_flight=args.max_in_flight,
        max_per_prefix=args.max_per_prefix,
        max_per_border_router=args.max_per_prefix,
        max_retries=args.retries,
        loss_tolerance=args.loss_tolerance,
        per_destination=not args.shared_rto,
    )
    for loss in args.loss or [0.0, 0.1, 0.3]:
        result = _Model(args, loss).run(Throttle(config, random.Random(args.seed)))
        print(json.dumps({"loss": loss, **result}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
