"""``--trace``, ``--pcap FILE`` and ``--metrics-port N`` for the commands that talk on the mesh (``hes``
commands, ``sim mesh``).

The frames come from the adapters' :class:`~cosemnet.trace.FrameObserver` hook
(``HeadEndService(observer=...)``, ``MeshFleet.observer``); :class:`MeshObservation` assembles the
observers a command asked for (trace lines on stderr, a pcap capture opened before anything is sent,
Prometheus metrics served on the ``--bind`` host, docs/decisions/0091) and tears them down at the end.
Trace lines of the head-end decrypt with the key store's keys: the meter's keys are found from the
system title of a ciphered frame it sent, and used for the frames sent to it afterwards.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final

import click

from cosemnet.cli.messages import Keys
from cosemnet.cli.observe import Observation, observe_options
from cosemnet.cli.params import EndpointValue, describe_os_error
from cosemnet.cli.trace import TraceFormatter, TraceWriter
from cosemnet.codec.wrapper import WrapperFrame
from cosemnet.errors import CosemnetError
from cosemnet.security.envelope import read_envelope
from cosemnet.trace import Address, Direction, FrameObserver, FrameRecord, FrameTee

if TYPE_CHECKING:
    from cosemnet.cli.metrics import FrameMetrics
    from cosemnet.headend import KeyStore

__all__ = ["KeyStoreTraceFormatter", "MeshObservation", "mesh_observe_options"]

_GENERAL_GLO: Final = 0xDB
_PEERS_REMEMBERED: Final = 4096
"""Peers whose system title the trace formatter remembers (oldest forgotten first)."""


def mesh_observe_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """``--trace``, ``--pcap FILE`` and ``--metrics-port N`` (passed as ``trace``, ``pcap``,
    ``metrics_port``)."""
    function = click.option(
        "--metrics-port",
        type=click.IntRange(0, 65535),
        default=None,
        metavar="N",
        help="Serve Prometheus metrics on http://HOST:N/metrics, HOST being the --bind host (0: any free "
        "port; the address is printed on stderr). Requests, associations, failures, latency (0091).",
    )(function)
    return observe_options(function)


def _title_of(data: bytes) -> bytes | None:
    """The system title in a general-glo-ciphering APDU inside a wrapper frame, or None."""
    try:
        apdu = WrapperFrame.decode(data).apdu
        if not apdu or apdu[0] != _GENERAL_GLO:
            return None
        return read_envelope(apdu).system_title
    except (CosemnetError, ValueError):
        return None


class KeyStoreTraceFormatter(TraceFormatter):
    """Trace lines decrypted with a head-end key store (per meter, by system title)."""

    def __init__(self, store: KeyStore, hex_limit: int | None = 64) -> None:
        super().__init__(None, hex_limit)
        self.store = store
        self._titles: OrderedDict[Address, bytes] = OrderedDict()

    def summary(self, record: FrameRecord) -> str:
        title = _title_of(record.data) if record.direction is Direction.RECEIVED else None
        if title is not None:
            self._titles[record.peer] = title
            self._titles.move_to_end(record.peer)
            while len(self._titles) > _PEERS_REMEMBERED:
                self._titles.popitem(last=False)
        else:
            title = self._titles.get(record.peer)
        self.keys = self._keys(title)
        return super().summary(record)

    def _keys(self, title: bytes | None) -> Keys:
        broadcast = self.store.broadcast_keys()
        if title is None:
            return Keys(ak=broadcast.ak, broadcast_key=broadcast.broadcast_key)
        try:
            keys = self.store.keys_for(title).keys
        except KeyError:
            return Keys(ak=broadcast.ak, broadcast_key=broadcast.broadcast_key)
        return Keys(ek=keys.ek, ak=keys.ak, broadcast_key=keys.broadcast_key)


class MeshObservation:
    """The observer of one mesh command run: ``with MeshObservation(...) as observation:`` then
    ``observation.observer`` (None when nothing was asked) and ``observation.metrics``."""

    def __init__(
        self,
        trace: bool,
        pcap: Path | None,
        metrics_port: int | None,
        metrics_host: str,
        make_metrics: Callable[[], FrameMetrics],
        formatter: TraceFormatter | None = None,
    ) -> None:
        self._files = Observation(False, pcap)
        self.trace = trace
        self.metrics_port = metrics_port
        self.metrics_host = metrics_host
        self.make_metrics = make_metrics
        self.formatter = formatter
        self.observer: FrameObserver | None = None
        self.metrics: FrameMetrics | None = None
        self._server: object | None = None

    def __enter__(self) -> MeshObservation:
        observers: list[FrameObserver] = []
        capture = self._files.__enter__()  # OSError: reported by the command's user_errors
        if capture is not None:
            observers.append(capture)
        if self.trace:
            observers.append(TraceWriter(formatter=self.formatter or TraceFormatter()))
        if self.metrics_port is not None:
            try:
                self._start_metrics(self.metrics_port)
            except BaseException:
                self._files.__exit__(None, None, None)
                raise
            assert self.metrics is not None
            observers.append(self.metrics)
        if observers:
            self.observer = observers[0] if len(observers) == 1 else FrameTee(*observers)
        return self

    def _start_metrics(self, port: int) -> None:
        metrics = self.make_metrics()
        try:
            self._server = metrics.serve(self.metrics_host, port)
        except OSError as exc:
            where = EndpointValue(self.metrics_host, port)
            raise click.ClickException(f"cannot serve metrics on {where}: {describe_os_error(exc)}") from None
        self.metrics = metrics
        bound = int(getattr(self._server, "server_port", port))
        click.echo(f"metrics on http://{EndpointValue(self.metrics_host, bound)}/metrics", err=True)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._server is not None and self.metrics is not None:
            self.metrics.stop(self._server)
            self._server = None
        self._files.__exit__(exc_type, exc, tb)
