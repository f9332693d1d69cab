"""Prometheus metrics of the commands that talk (``--metrics-port N``), see docs/decisions/0091.

The metrics are computed from the frames the asyncio adapter hands to its
:class:`~cosemnet.trace.FrameObserver`, so neither the sans-IO cores nor the adapters know about
Prometheus, and a command without ``--metrics-port`` does not even import ``prometheus_client``.

Exposed by ``meter serve`` (a registry of its own, on ``http://HOST:N/metrics``):

- ``cosemnet_meter_requests_total{apdu}``: frames received, by APDU type (``GetRequestNormal``,
  ``AARQ``, ``GeneralGloCiphering``, ``undecodable``...);
- ``cosemnet_meter_responses_total{apdu}``: frames sent, by APDU type;
- ``cosemnet_meter_associations_total{result}``: AAREs sent (``accepted``, ``rejected_permanent``,
  ``rejected_transient``);
- ``cosemnet_meter_failures_total{kind}``: refusals visible in the clear: rejected associations,
  ExceptionResponse, ConfirmedServiceError, and GET/SET/ACTION results other than success (ciphered
  answers are counted as responses only: the observer has no keys);
- ``cosemnet_meter_response_seconds``: histogram of the time from the first frame exchanged with a
  peer to the next frame in the other direction (a request and its answer).

The ``hes`` commands expose the same as ``cosemnet_hes_*`` seen from the client (requests = frames
sent; responses = frames received, registrations and pushes included), plus
``cosemnet_hes_registrations_total{result}`` and ``cosemnet_hes_meters_total{outcome}``;
``sim mesh`` exposes ``cosemnet_fleet_*`` (its meters answer: the server's view).
"""

from __future__ import annotations

import time
from enum import Enum
from typing import TYPE_CHECKING, Final

from cosemnet.codec.acse import AARE
from cosemnet.codec.apdu import decode_apdu
from cosemnet.codec.wrapper import WrapperFrame
from cosemnet.errors import CosemnetError
from cosemnet.trace import Address, Direction, FrameRecord

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

MAX_PENDING: Final = 10_000
"""Peers whose request waits for its answer, remembered for the latency histogram (memory bound)."""

LATENCY_BUCKETS: Final = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


def _apdu(data: bytes) -> object | None:
    try:
        frame = WrapperFrame.decode(data)
        return decode_apdu(frame.apdu)
    except (CosemnetError, ValueError):
        return None


def _failure(apdu: object) -> str | None:
    """The failure an answer shows in the clear, or None."""
    name = type(apdu).__name__
    if name in ("ExceptionResponse", "ConfirmedServiceError"):
        return name
    if isinstance(apdu, AARE):
        return None if apdu.result == 0 else f"association_{_result_name(apdu)}"
    result = getattr(apdu, "result", None)
    if isinstance(result, Enum) and result.name.lower() != "success":
        return result.name.lower()
    return None


def _result_name(aare: AARE) -> str:
    result = aare.result
    return result.name.lower() if isinstance(result, Enum) else str(result)


class FrameMetrics:
    """A :class:`~cosemnet.trace.FrameObserver` updating Prometheus metrics from the frames of one node.

    ``role`` ``server`` (a meter): frames received are requests, frames sent responses, the latency runs
    from a frame received to the next frame sent to the same peer. ``client`` (the head-end, a
    simulated fleet's meters seen from the other side): frames sent are requests, frames received
    responses, the latency runs from a frame sent to the next frame received from that peer. Metric
    names are ``cosemnet_<namespace>_...``.
    """

    def __init__(
        self, namespace: str = "meter", role: str = "server", registry: CollectorRegistry | None = None
    ) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        if role not in ("server", "client"):
            raise ValueError(f"role must be server or client, not {role!r}")
        self.role = role
        self.registry = registry if registry is not None else CollectorRegistry()
        prefix = f"cosemnet_{namespace}"
        self.requests = Counter(
            f"{prefix}_requests", "Requests (frames), by APDU type", ["apdu"], registry=self.registry
        )
        self.responses = Counter(
            f"{prefix}_responses", "Responses (frames), by APDU type", ["apdu"], registry=self.registry
        )
        self.associations = Counter(
            f"{prefix}_associations", "AAREs, by result", ["result"], registry=self.registry
        )
        self.failures = Counter(
            f"{prefix}_failures", "Refusals seen in the clear, by kind", ["kind"], registry=self.registry
        )
        self.latency = Histogram(
            f"{prefix}_response_seconds",
            "Time from a request to the next response exchanged with the same peer",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._pending: dict[Address, tuple[Direction, float]] = {}

    def frame(self, record: FrameRecord) -> None:
        apdu = _apdu(record.data)
        name = type(apdu).__name__ if apdu is not None else "undecodable"
        self._latency(record)
        if (record.direction is Direction.RECEIVED) == (self.role == "server"):
            self.requests.labels(name).inc()
            return
        self.responses.labels(name).inc()
        if isinstance(apdu, AARE):
            self.associations.labels(_result_name(apdu)).inc()
        failure = _failure(apdu) if apdu is not None else None
        if failure is not None:
            self.failures.labels(failure).inc()

    def _latency(self, record: FrameRecord) -> None:
        """The first frame exchanged with a peer starts the clock, the next frame in the other direction
        stops it (a request and its answer; a meter's registration and its confirmation)."""
        pending = self._pending.get(record.peer)
        if pending is not None and pending[0] is not record.direction:
            del self._pending[record.peer]
            self.latency.observe(time.monotonic() - pending[1])
            return
        if pending is None:
            if len(self._pending) >= MAX_PENDING:
                self._pending.pop(next(iter(self._pending)))
            self._pending[record.peer] = (record.direction, time.monotonic())

    def serve(self, host: str, port: int) -> object:
        """Start the HTTP endpoint (a daemon thread); what to :meth:`stop` later. OSError: port in use."""
        from prometheus_client import start_http_server

        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        return server

    @staticmethod
    def stop(server: object) -> None:
        shutdown = getattr(server, "shutdown", None)
        if shutdown is not None:
            shutdown()
        close = getattr(server, "server_close", None)
        if close is not None:
            close()


class MeterMetrics(FrameMetrics):
    """The metrics of ``meter serve`` (``cosemnet_meter_*``, server role)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        super().__init__("meter", "server", registry)


class HeadEndMetrics(FrameMetrics):
    """The metrics of the ``hes`` commands (``cosemnet_hes_*``, client role), plus what the head-end
    reports beyond frames: registrations by result and meters by outcome of a run."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        from prometheus_client import Counter

        super().__init__("hes", "client", registry)
        self.registrations = Counter(
            "cosemnet_hes_registrations", "Registrations, by result", ["result"], registry=self.registry
        )
        self.meters = Counter(
            "cosemnet_hes_meters",
            "Meters at the end of a run, by outcome (answered, failed, not_attempted)",
            ["outcome"],
            registry=self.registry,
        )


class FleetMetrics(FrameMetrics):
    """The metrics of ``sim mesh`` (``cosemnet_fleet_*``): the simulated meters answer (server role)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        super().__init__("fleet", "server", registry)


__all__ = ["LATENCY_BUCKETS", "MAX_PENDING", "FleetMetrics", "FrameMetrics", "HeadEndMetrics", "MeterMetrics"]
