"""Exponential back-off of failed authentications on a LON meter, per (client SAP, source node), sans-IO.

IEC 62056-8-8 gives no rule; see docs/decisions/0039. A meter endpoint asks :meth:`AuthBackoff.blocked`
before it evaluates anything that can authenticate (an AARQ, a ciphered APDU) and reports each outcome
with :meth:`AuthBackoff.failure` / :meth:`AuthBackoff.success`. The first ``free_failures`` failures of
a key cost nothing; each later one blocks the key for ``base_delay`` x 2^k seconds (k = 0, 1, ...), at
most ``max_delay``. A key is forgotten ``forget_after`` seconds after its last failure, on success, or
when the table is full (the entry whose last failure is oldest goes): memory stays under ``max_entries``
entries whatever the number of sources.

Time is the caller's (float seconds, the channel's simulated time on the simulated power line).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Final

from cosemnet.profiles.lon.adp_service import PeerKey

DEFAULT_FREE_FAILURES: Final = 2
DEFAULT_BASE_DELAY: Final = 10.0
DEFAULT_MAX_DELAY: Final = 3600.0
DEFAULT_FORGET_AFTER: Final = 86400.0
DEFAULT_MAX_ENTRIES: Final = 256

BackoffKey = tuple[int, PeerKey]
"""(client SAP, source node as :func:`~cosemnet.profiles.lon.adp_service.address_key` gives it)."""


@dataclass(frozen=True, slots=True)
class BackoffConfig:
    """Back-off settings (defaults: docs/decisions/0039)."""

    free_failures: int = DEFAULT_FREE_FAILURES
    """Failures of one key answered without delay before the back-off starts."""
    base_delay: float = DEFAULT_BASE_DELAY
    """Seconds the first delayed failure blocks the key; doubled by each further failure."""
    max_delay: float = DEFAULT_MAX_DELAY
    forget_after: float = DEFAULT_FORGET_AFTER
    """Seconds after its last failure a key starts over."""
    max_entries: int = DEFAULT_MAX_ENTRIES

    def __post_init__(self) -> None:
        if self.free_failures < 0 or self.max_entries < 1:
            raise ValueError("free_failures must be >= 0 and max_entries >= 1")
        if not 0 < self.base_delay <= self.max_delay or self.forget_after < self.max_delay:
            raise ValueError("need 0 < base_delay <= max_delay <= forget_after")

    def delay(self, failures: int) -> float:
        """Seconds a key is blocked after its ``failures``-th failure."""
        excess = failures - self.free_failures
        if excess <= 0:
            return 0.0
        return min(self.max_delay, self.base_delay * 2.0 ** min(excess - 1, 62))


@dataclass(slots=True)
class _Entry:
    failures: int
    last_failure: float
    blocked_until: float


@dataclass(frozen=True, slots=True)
class BackoffState:
    """What :meth:`AuthBackoff.failure` decided for a key."""

    failures: int
    """Failures of the key so far (since it was last forgotten)."""
    blocked_until: float
    """Simulated time before which the key's attempts are refused unevaluated (= now: not blocked)."""


class AuthBackoff:
    """The failure table (see the module docstring)."""

    __slots__ = ("_entries", "config", "evicted")

    def __init__(self, config: BackoffConfig | None = None) -> None:
        self.config = config if config is not None else BackoffConfig()
        self._entries: OrderedDict[BackoffKey, _Entry] = OrderedDict()
        self.evicted = 0
        """Entries dropped because the table was full."""

    def __len__(self) -> int:
        return len(self._entries)

    def blocked(self, key: BackoffKey, now: float) -> bool:
        """Whether attempts of ``key`` are refused at ``now``."""
        entry = self._entries.get(key)
        if entry is None:
            return False
        if now - entry.last_failure >= self.config.forget_after:
            del self._entries[key]
            return False
        return now < entry.blocked_until

    def failure(self, key: BackoffKey, now: float) -> BackoffState:
        """Record one failed authentication of ``key`` at ``now``."""
        entry = self._entries.pop(key, None)
        if entry is None or now - entry.last_failure >= self.config.forget_after:
            self._make_room(now)
            entry = _Entry(0, now, now)
        entry.failures += 1
        entry.last_failure = now
        entry.blocked_until = now + self.config.delay(entry.failures)
        self._entries[key] = entry  # most recent failure last
        return BackoffState(entry.failures, entry.blocked_until)

    def success(self, key: BackoffKey) -> None:
        """``key`` authenticated: forget its failures."""
        self._entries.pop(key, None)

    def _make_room(self, now: float) -> None:
        while self._entries:
            key, oldest = next(iter(self._entries.items()))
            if (
                now - oldest.last_failure < self.config.forget_after
                and len(self._entries) < self.config.max_entries
            ):
                return
            del self._entries[key]
            if now - oldest.last_failure < self.config.forget_after:
                self.evicted += 1


__all__ = [
    "DEFAULT_BASE_DELAY",
    "DEFAULT_FORGET_AFTER",
    "DEFAULT_FREE_FAILURES",
    "DEFAULT_MAX_DELAY",
    "DEFAULT_MAX_ENTRIES",
    "AuthBackoff",
    "BackoffConfig",
    "BackoffKey",
    "BackoffState",
]
