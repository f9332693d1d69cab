"""Prometheus metrics of a serving command (``meter serve --metrics-port N``), see docs/decisions/0091.

The metrics are computed from the frames the asyncio adapter hands to its
:class:`~cosemnet.trace.FrameObserver`, so neither the sans-IO cores nor the adapters know about
Prometheus, and a command without ``--metrics-port`` does not even import ``prometheus_client``.

Exposed (a registry of its own, on ``http://HOST:N/metrics``):

- ``cosemnet_meter_requests_total{apdu}``: frames received, by APDU type (``GetRequestNormal``,
  ``AARQ``, ``GeneralGloCiphering``, ``undecodable``...);
- ``cosemnet_meter_responses_total{apdu}``: frames sent, by APDU type;
- ``cosemnet_meter_associations_total{result}``: AAREs sent (``accepted``, ``rejected_permanent``,
  ``rejected_transient``);
- ``cosemnet_meter_failures_total{kind}``: refusals visible in the clear: rejected associations,
  ExceptionResponse, ConfirmedServiceError, and GET/SET/ACTION results other than success (ciphered
  answers are counted as responses only: the observer has no keys);
- ``cosemnet_meter_response_seconds``: histogram of the time from a frame received from a peer to the
  next frame sent to it.
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


class MeterMetrics:
    """A :class:`~cosemnet.trace.FrameObserver` updating the Prometheus metrics of a meter server."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.registry = registry if registry is not None else CollectorRegistry()
        self.requests = Counter(
            "cosemnet_meter_requests", "Frames received, by APDU type", ["apdu"], registry=self.registry
        )
        self.responses = Counter(
            "cosemnet_meter_responses", "Frames sent, by APDU type", ["apdu"], registry=self.registry
        )
        self.associations = Counter(
            "cosemnet_meter_associations", "AAREs sent, by result", ["result"], registry=self.registry
        )
        self.failures = Counter(
            "cosemnet_meter_failures", "Refusals seen in the clear, by kind", ["kind"], registry=self.registry
        )
        self.latency = Histogram(
            "cosemnet_meter_response_seconds",
            "Time from a frame received to the next frame sent to the same peer",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._pending: dict[Address, float] = {}

    def frame(self, record: FrameRecord) -> None:
        apdu = _apdu(record.data)
        name = type(apdu).__name__ if apdu is not None else "undecodable"
        if record.direction is Direction.RECEIVED:
            self.requests.labels(name).inc()
            if len(self._pending) >= MAX_PENDING:
                self._pending.pop(next(iter(self._pending)))
            self._pending.setdefault(record.peer, time.monotonic())
            return
        self.responses.labels(name).inc()
        started = self._pending.pop(record.peer, None)
        if started is not None:
            self.latency.observe(time.monotonic() - started)
        if isinstance(apdu, AARE):
            self.associations.labels(_result_name(apdu)).inc()
        failure = _failure(apdu) if apdu is not None else None
        if failure is not None:
            self.failures.labels(failure).inc()

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


__all__ = ["LATENCY_BUCKETS", "MAX_PENDING", "MeterMetrics"]
