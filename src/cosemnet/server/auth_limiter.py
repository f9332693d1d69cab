"""Rate limiting of failed association authentications, sans-IO (time in, decisions out).

A failure is a wrong LLS password, an HLS pass 1 or pass 3 that does not verify, or an AARQ whose
ciphered InitiateRequest does not decipher. Failures are counted per key, the server uses
``(client SAP, source address)``. After ``free_failures`` consecutive failures the key is blocked
for ``base_delay`` seconds, doubling with every further failure up to ``max_delay``; while blocked,
AARQs of that key are refused without looking at their secret. A successful authentication clears
the key. The table holds at most ``max_entries`` keys; an entry without a failure for
``forget_after`` seconds (and no longer blocked) is forgotten, and when the table is full the entry
whose last failure is the oldest is evicted. See docs/decisions/0034.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Final

__all__ = [
    "DEFAULT_BASE_DELAY",
    "DEFAULT_FREE_FAILURES",
    "DEFAULT_MAX_DELAY",
    "AuthFailureLimiter",
    "AuthLimits",
]

DEFAULT_FREE_FAILURES: Final = 3
DEFAULT_BASE_DELAY: Final = 1.0
DEFAULT_MAX_DELAY: Final = 300.0


@dataclass(frozen=True, slots=True)
class AuthLimits:
    """Configuration of :class:`AuthFailureLimiter` (defaults: docs/decisions/0034)."""

    free_failures: int = DEFAULT_FREE_FAILURES
    """Consecutive failures allowed before the back-off starts."""
    base_delay: float = DEFAULT_BASE_DELAY
    """First back-off in seconds (doubles with every further failure)."""
    max_delay: float = DEFAULT_MAX_DELAY
    """Longest back-off in seconds."""
    forget_after: float = 3600.0
    """Seconds without a failure after which a key starts over (if no longer blocked)."""
    max_entries: int = 4096
    """Keys remembered at most (bounded memory)."""

    def __post_init__(self) -> None:
        if self.free_failures < 0 or self.base_delay < 0 or self.max_delay < self.base_delay:
            raise ValueError("auth limits: free_failures >= 0 and 0 <= base_delay <= max_delay")
        if self.forget_after <= 0 or self.max_entries < 1:
            raise ValueError("auth limits: forget_after > 0 and max_entries >= 1")


_DEFAULT_LIMITS: Final = AuthLimits()


class _Entry:
    __slots__ = ("blocked_until", "failures", "last_failure")

    def __init__(self, now: float) -> None:
        self.failures = 0
        self.last_failure = now
        self.blocked_until = 0.0


class AuthFailureLimiter:
    """Exponential back-off per key after failed authentications (see the module docstring)."""

    __slots__ = ("_entries", "limits", "refused")

    def __init__(self, limits: AuthLimits | None = None) -> None:
        self.limits = limits if limits is not None else _DEFAULT_LIMITS
        self._entries: OrderedDict[Hashable, _Entry] | None = None  # created at the first failure
        self.refused = 0
        """AARQs refused during a back-off (without checking their secret)."""

    def __len__(self) -> int:
        return len(self._entries) if self._entries is not None else 0

    def blocked_until(self, key: Hashable, now: float) -> float | None:
        """The end of the back-off of ``key`` if it is blocked at ``now``, else None."""
        if self._entries is None:
            return None
        entry = self._entries.get(key)
        if entry is None or now >= entry.blocked_until:
            return None
        self.refused += 1
        return entry.blocked_until

    def failure(self, key: Hashable, now: float) -> float | None:
        """Record a failed authentication; returns the end of the back-off it starts (None: none)."""
        limits = self.limits
        entries = self._entries
        if entries is None:
            entries = self._entries = OrderedDict()
        entry = entries.get(key)
        if (
            entry is not None
            and now - entry.last_failure > limits.forget_after
            and now >= entry.blocked_until
        ):
            entry = None
            del entries[key]
        if entry is None:
            self._make_room(entries, now)
            entry = entries[key] = _Entry(now)
        else:
            entries.move_to_end(key)
        entry.failures += 1
        entry.last_failure = now
        excess = entry.failures - limits.free_failures
        if excess < 0:
            return None
        delay = limits.max_delay if excess >= 64 else min(limits.base_delay * 2.0**excess, limits.max_delay)
        entry.blocked_until = now + delay
        return entry.blocked_until

    def success(self, key: Hashable) -> None:
        """A successful authentication: ``key`` starts over."""
        if self._entries is not None:
            self._entries.pop(key, None)

    def _make_room(self, entries: OrderedDict[Hashable, _Entry], now: float) -> None:
        forget_after = self.limits.forget_after
        while entries:  # oldest last failure first
            key, oldest = next(iter(entries.items()))
            if now - oldest.last_failure > forget_after and now >= oldest.blocked_until:
                del entries[key]
            else:
                break
        while len(entries) >= self.limits.max_entries:
            entries.popitem(last=False)
