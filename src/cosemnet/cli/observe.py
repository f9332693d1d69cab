"""``--trace`` and ``--pcap FILE`` for the commands that talk (read, objects, profile, meter serve).

:func:`observe_options` adds both options; :class:`Observation` turns them into one
:class:`~cosemnet.trace.FrameObserver` (None when neither is given, so the adapters pay nothing), opens
the capture file *before* anything is sent (a bad path is an error at once, not after the meter was
read) and closes it at the end. Trace lines go to stderr (:class:`~cosemnet.cli.trace.TraceWriter`),
decrypted when the keys are known.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import click

from cosemnet.cli.messages import Keys
from cosemnet.cli.trace import TraceFormatter, TraceWriter
from cosemnet.trace import FrameObserver, FrameRecord, FrameTee
from cosemnet.trace.pcap import PcapCapture


def observe_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """``--trace`` (flag) and ``--pcap FILE``, passed as ``trace`` and ``pcap``."""
    function = click.option(
        "--pcap",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        metavar="FILE",
        help="Write the frames exchanged to FILE, a pcap capture that tshark/Wireshark read "
        "(synthesized IP/TCP/UDP headers; 'cosemnet wireshark install' for the dissector).",
    )(function)
    return click.option(
        "--trace",
        is_flag=True,
        help="One line per frame sent (->) or received (<-) on stderr: time, peer, hex, decoded summary "
        "(decrypted when the keys are known).",
    )(function)


class _Flushing:
    """Flushes the capture after every frame, so a killed process leaves a readable file."""

    def __init__(self, capture: PcapCapture) -> None:
        self.capture = capture

    def frame(self, record: FrameRecord) -> None:
        self.capture.frame(record)
        self.capture.writer.flush()


class Observation:
    """The observer of one command run (``with Observation(trace, pcap, keys) as observer:``)."""

    def __init__(self, trace: bool, pcap: Path | None, keys: Keys | None = None) -> None:
        self.trace = trace
        self.pcap = pcap
        self.keys = keys
        self.capture: PcapCapture | None = None

    def __enter__(self) -> FrameObserver | None:
        observers: list[FrameObserver] = []
        if self.pcap is not None:
            self.capture = PcapCapture.open(str(self.pcap))  # OSError: reported by user_errors
            observers.append(_Flushing(self.capture))
        if self.trace:
            observers.append(TraceWriter(formatter=TraceFormatter(self.keys)))
        if not observers:
            return None
        return observers[0] if len(observers) == 1 else FrameTee(*observers)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.capture is not None:
            self.capture.close()
            self.capture = None


__all__ = ["Observation", "observe_options"]
