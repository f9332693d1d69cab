"""Shared by the long-running commands (`meter serve`, `hes listen`, `sim mesh`)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable


def on_signals(callback: Callable[[int], None]) -> None:
    """Call ``callback(signal number)`` on SIGINT or SIGTERM in the running loop (nothing is installed
    where the loop cannot: not the main thread, or a platform without signal handlers)."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, callback, int(sig))


def stop_on_signals() -> asyncio.Event:
    """An event set by SIGINT or SIGTERM, for the running loop.

    Where the loop cannot install signal handlers (not the main thread, or a platform without them),
    the event is only set by the caller and Ctrl-C raises KeyboardInterrupt as usual.
    """
    stop = asyncio.Event()
    on_signals(lambda _sig: stop.set())
    return stop
