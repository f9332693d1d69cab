"""``cosemnet sim lon --channel cnip --unconfigured``: unconfigured meters on a CN/IP segment for
``cosemnet lon discover`` / ``cosemnet lon commission`` (docs/decisions/0110).

The meters start without a domain, each with an Annex F ATM agent, on their own UDP sockets; the
segment's port (``--port``) is a :class:`~cosemnet.simulator.lon_cnip.CnipHub` that carries every CN/IP
packet to every member, so a tool needs only that one address. No concentrator runs here: the tool is
the concentrator. The command prints one JSON line when the segment is up (``"segment": "HOST:PORT"``),
runs until ``--duration`` seconds have passed (0: until SIGINT / SIGTERM), then prints what became of
every meter.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as _dt
from collections.abc import Callable
from typing import Any

from cosemnet.cli.signals import stop_on_signals
from cosemnet.cli.sim_lon import EndpointPort
from cosemnet.profiles.lon.osgp_aes.keys import KeyStore
from cosemnet.simulator.lon_cnip import CnipHub, simulated_long_term_key
from cosemnet.simulator.lon_segment import (
    DOMAIN_ID,
    SECURITY_OSGP,
    SegmentMeter,
    address_text,
    build_segment,
    follow_domain,
    meter_unique_id,
)
from cosemnet.simulator.meter import DEFAULT_START


class MeterPort(EndpointPort):
    """A meter's CN/IP port; the meter follows the address its commissioning gives it."""

    def __init__(self, meter: SegmentMeter, peers: list[tuple[str, int]]) -> None:
        super().__init__(meter.endpoint, peers)
        self.meter = meter
        self.address_changes = 0

    def process(self) -> None:
        """Process as an endpoint port, then follow a new address given by commissioning."""
        super().process()
        if follow_domain(self.meter):
            self.address_changes += 1


def simulated_keystore(meters: int) -> KeyStore:
    """The simulated meters' long-term keys when no key file is given (:func:`simulated_long_term_key`)."""
    store = KeyStore()
    for index in range(meters):
        uid = meter_unique_id(index)
        store.provision(uid, simulated_long_term_key(uid))
    return store


def _meter_state(port: MeterPort) -> dict[str, Any]:
    meter = port.meter
    node = meter.endpoint.stack.node
    return {
        "unique_id": node.unique_id.hex(),
        "configured": node.configured,
        "address": address_text(meter.address) if node.configured else None,
        "domain_id": node.domains[0].domain_id.hex() if node.domains and node.domains[0] else None,
        "address_changes": port.address_changes,
        "requests": meter.endpoint.requests,
    }


async def run_unconfigured(
    meters: int,
    *,
    seed: int,
    port: int,
    duration: float,
    security: str,
    keystore: KeyStore | None,
    on_ready: Callable[[dict[str, Any]], None],
) -> dict[str, Any]:
    """Run the segment (see the module docstring); return the final summary."""
    keys = "file" if keystore is not None else "simulated"
    if keystore is None and security == SECURITY_OSGP:
        keystore = simulated_keystore(meters)
    segment = build_segment(
        meters,
        seed=seed,
        history=_dt.timedelta(days=1),
        security=security,
        commission=False,
        keystore=keystore,
        configured=False,
    )
    loop = asyncio.get_running_loop()
    epoch = DEFAULT_START.timestamp() - loop.time()
    for meter in segment.meters:
        meter.endpoint.epoch = epoch
    stop = stop_on_signals()
    hub = CnipHub()
    segment_address = await hub.start(("127.0.0.1", port))
    ports: list[MeterPort] = []
    tasks: list[asyncio.Task[None]] = []
    try:
        for meter in segment.meters:
            mp = MeterPort(meter, [segment_address])
            hub.add_member(await mp.start(("127.0.0.1", 0)))
            ports.append(mp)
        tasks = [asyncio.create_task(p.drive(stop)) for p in ports]
        on_ready(
            {
                "channel": "cnip",
                "unconfigured": True,
                "segment": f"{segment_address[0]}:{segment_address[1]}",
                "meters": meters,
                "security": security,
                "keys": keys if security == SECURITY_OSGP else None,
                "domain_id_planned": DOMAIN_ID.hex(),
            }
        )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), duration if duration > 0 else None)
        states = [_meter_state(p) for p in ports]
        summary = {
            "channel": "cnip",
            "unconfigured": True,
            "meters": meters,
            "configured": sum(1 for s in states if s["configured"]),
            "hub": {"forwarded": hub.forwarded, "rejected": hub.rejected, "tools": len(hub.learned)},
            "nodes": states,
        }
        if stop.name is not None:  # exit 128 + the signal (docs/decisions/0130)
            summary["interrupted"] = stop.name
        return summary
    finally:
        stop.set()
        for task in tasks:
            await task
        for mp in ports:
            await mp.close()
        hub.close()


__all__ = ["MeterPort", "run_unconfigured", "simulated_keystore"]
