"""Shared by the long-running commands (`meter serve`, `hes listen`, `sim mesh`, `sim lon`).

A command stopped by SIGINT or SIGTERM stops cleanly (summary printed, captures flushed) and exits
128 + the signal: 130 after SIGINT, 143 after SIGTERM (docs/decisions/0130).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable
from types import FrameType, TracebackType
from typing import Any

__all__ = [
    "SignalFlag",
    "SignalStop",
    "interrupted_exit_code",
    "note_interruption",
    "on_signals",
    "signal_exit_code",
    "stop_on_signals",
]

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def signal_exit_code(received: int | None) -> int:
    """128 + ``received`` (130 for SIGINT, 143 for SIGTERM); 0 when no signal was received."""
    return 0 if received is None else 128 + received


def note_interruption(summary: dict[str, Any], stop: SignalStop | SignalFlag) -> dict[str, Any]:
    """``summary`` with ``"interrupted"`` set to the signal's name (``SIGTERM``) when one arrived."""
    if stop.name is not None:
        summary["interrupted"] = stop.name
    return summary


def interrupted_exit_code(summary: dict[str, Any]) -> int:
    """128 + the signal named by ``summary["interrupted"]`` (:func:`note_interruption`); else 0."""
    name = summary.get("interrupted")
    return signal_exit_code(signal.Signals[name]) if isinstance(name, str) else 0


def on_signals(callback: Callable[[int], None]) -> None:
    """Call ``callback(signal number)`` on SIGINT or SIGTERM in the running loop (nothing is installed
    where the loop cannot: not the main thread, or a platform without signal handlers)."""
    loop = asyncio.get_running_loop()
    for sig in _STOP_SIGNALS:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, callback, int(sig))


class SignalStop(asyncio.Event):
    """An event set by the first SIGINT or SIGTERM, which it remembers (:attr:`received`)."""

    def __init__(self) -> None:
        super().__init__()
        self.received: int | None = None
        """The first signal received (None: none)."""

    def receive(self, sig: int) -> None:
        """Record ``sig`` (the first one only) and set the event."""
        if self.received is None:
            self.received = sig
        self.set()

    @property
    def name(self) -> str | None:
        """``SIGINT`` / ``SIGTERM``, or None when no signal was received."""
        return None if self.received is None else signal.Signals(self.received).name

    @property
    def exit_code(self) -> int:
        """130 after SIGINT, 143 after SIGTERM, else 0."""
        return signal_exit_code(self.received)


def stop_on_signals() -> SignalStop:
    """An event set by SIGINT or SIGTERM, for the running loop.

    Where the loop cannot install signal handlers (not the main thread, or a platform without them),
    the event is only set by the caller and Ctrl-C raises KeyboardInterrupt as usual.
    """
    stop = SignalStop()
    on_signals(stop.receive)
    return stop


class SignalFlag:
    """For synchronous loops (simulated time): within ``with``, SIGINT and SIGTERM only record the first
    signal (:attr:`received`), which the loop checks between steps; the previous handlers come back on
    exit. Outside the main thread nothing is installed."""

    def __init__(self) -> None:
        self.received: int | None = None
        """The first signal received (None: none)."""
        self._previous: dict[int, object] = {}

    def _handle(self, sig: int, _frame: FrameType | None) -> None:
        if self.received is None:
            self.received = sig

    @property
    def name(self) -> str | None:
        """``SIGINT`` / ``SIGTERM``, or None when no signal was received."""
        return None if self.received is None else signal.Signals(self.received).name

    @property
    def exit_code(self) -> int:
        """130 after SIGINT, 143 after SIGTERM, else 0."""
        return signal_exit_code(self.received)

    def __enter__(self) -> SignalFlag:
        """Install the handlers."""
        for sig in _STOP_SIGNALS:
            with contextlib.suppress(ValueError):  # not the main thread
                self._previous[int(sig)] = signal.signal(sig, self._handle)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Restore the previous handlers."""
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)  # type: ignore[arg-type]
        self._previous.clear()
