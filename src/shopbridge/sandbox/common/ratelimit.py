"""Request limiters.

* :class:`LeakyBucket` - the model Shopify REST, among others, uses: every accepted request
  adds one unit to the bucket; the bucket drains continuously at ``leak_per_second``. A
  request that would overflow ``capacity`` is refused and does not fill the bucket.
* :class:`WindowLimiter` - calls per key in a fixed window, and a ban once the limit is
  exceeded (the model of gateways such as Taobao's TOP: "This ban will last for N more
  seconds").
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class BucketDecision:
    """Outcome of one :meth:`LeakyBucket.acquire`."""

    allowed: bool
    used: int
    capacity: int
    seconds_until_free: float


class LeakyBucket:
    """Thread-safe leaky bucket."""

    def __init__(
        self,
        capacity: int,
        leak_per_second: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        if leak_per_second <= 0:
            raise ValueError("leak_per_second must be positive")
        self._capacity = capacity
        self._leak = leak_per_second
        self._monotonic = monotonic
        self._level = 0.0
        self._stamp = monotonic()
        self._lock = threading.Lock()

    @property
    def capacity(self) -> int:
        return self._capacity

    @property
    def leak_per_second(self) -> float:
        return self._leak

    def _drain(self) -> None:
        now = self._monotonic()
        self._level = max(0.0, self._level - (now - self._stamp) * self._leak)
        self._stamp = now

    @staticmethod
    def _shown(level: float) -> int:
        return math.ceil(level - 1e-9)

    def acquire(self) -> BucketDecision:
        """Try to add one request to the bucket."""
        with self._lock:
            self._drain()
            if self._level + 1 > self._capacity + 1e-9:
                wait = (self._level + 1 - self._capacity) / self._leak
                return BucketDecision(False, self._capacity, self._capacity, wait)
            self._level += 1
            return BucketDecision(True, self._shown(self._level), self._capacity, 0.0)

    def used(self) -> int:
        """Return the current fill level, rounded up to whole requests."""
        with self._lock:
            self._drain()
            return self._shown(self._level)

    def configure(
        self,
        *,
        capacity: int | None = None,
        leak_per_second: float | None = None,
        level: float | None = None,
    ) -> None:
        """Change size, leak rate or current level (e.g. ``level=capacity`` to fill it)."""
        with self._lock:
            self._drain()
            if capacity is not None:
                if capacity < 1:
                    raise ValueError("capacity must be at least 1")
                self._capacity = capacity
            if leak_per_second is not None:
                if leak_per_second <= 0:
                    raise ValueError("leak_per_second must be positive")
                self._leak = leak_per_second
            if level is not None:
                self._level = min(max(0.0, level), float(self._capacity))
            self._level = min(self._level, float(self._capacity))

    def reset(self) -> None:
        """Empty the bucket."""
        self.configure(level=0.0)


@dataclass(frozen=True)
class WindowDecision:
    """Outcome of one :meth:`WindowLimiter.acquire`."""

    allowed: bool
    used: int
    """Calls counted in the current window (after this one, if allowed)."""
    limit: int
    ban_seconds_left: float
    """When refused: seconds until the ban ends (0 when allowed)."""

    @property
    def ban_seconds_left_whole(self) -> int:
        """The remaining ban rounded up to whole seconds (at least 1 when refused)."""
        if self.allowed:
            return 0
        return max(1, math.ceil(self.ban_seconds_left - 1e-9))


class WindowLimiter:
    """Thread-safe fixed-window call counter with a ban, per key.

    The model many gateways use (calls per app per window; going over bans the caller
    for a while): at most ``limit`` calls per key in each ``window_seconds`` window;
    the call that goes over starts a ban of ``ban_seconds`` during which every call of
    that key is refused, and a new window starts when the ban ends. Refused calls are not
    counted. ``limit=0`` disables the limit (explicit :meth:`ban` still applies).
    """

    def __init__(
        self,
        limit: int,
        window_seconds: float,
        ban_seconds: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._windows: dict[str, tuple[float, int]] = {}
        self._bans: dict[str, float] = {}
        self._limit = 0
        self._window = 1.0
        self._ban = 1.0
        self.configure(limit=limit, window_seconds=window_seconds, ban_seconds=ban_seconds)

    @property
    def limit(self) -> int:
        return self._limit

    @property
    def window_seconds(self) -> float:
        return self._window

    @property
    def ban_seconds(self) -> float:
        return self._ban

    def configure(
        self,
        *,
        limit: int | None = None,
        window_seconds: float | None = None,
        ban_seconds: float | None = None,
    ) -> None:
        """Change the limit, the window or the ban length (current counts are kept)."""
        with self._lock:
            if limit is not None:
                if limit < 0:
                    raise ValueError("limit must not be negative")
                self._limit = limit
            if window_seconds is not None:
                if window_seconds <= 0:
                    raise ValueError("window_seconds must be positive")
                self._window = window_seconds
            if ban_seconds is not None:
                if ban_seconds < 0:
                    raise ValueError("ban_seconds must not be negative")
                self._ban = ban_seconds

    def acquire(self, key: str) -> WindowDecision:
        """Count one call of ``key`` unless it is banned or over the limit."""
        with self._lock:
            now = self._monotonic()
            banned_until = self._bans.get(key)
            if banned_until is not None:
                if now < banned_until:
                    return WindowDecision(False, self._limit, self._limit, banned_until - now)
                del self._bans[key]
                self._windows.pop(key, None)  # a new window starts when the ban ends
            if self._limit == 0:
                return WindowDecision(True, 0, 0, 0.0)
            start, count = self._windows.get(key, (now, 0))
            if now - start >= self._window:
                start, count = now, 0
            if count >= self._limit:
                ban = self._ban if self._ban > 0 else self._window - (now - start)
                self._bans[key] = now + ban
                self._windows[key] = (start, count)
                return WindowDecision(False, count, self._limit, ban)
            count += 1
            self._windows[key] = (start, count)
            return WindowDecision(True, count, self._limit, 0.0)

    def ban(self, key: str, seconds: float) -> None:
        """Ban ``key`` for ``seconds`` from now (e.g. to simulate an exhausted quota)."""
        with self._lock:
            self._bans[key] = self._monotonic() + max(0.0, seconds)

    def used(self, key: str) -> int:
        """Calls of ``key`` counted in its current window."""
        with self._lock:
            start, count = self._windows.get(key, (0.0, 0))
            return count if self._monotonic() - start < self._window else 0

    def banned_for(self, key: str) -> float:
        """Seconds left in the ban of ``key`` (0 when not banned)."""
        with self._lock:
            until = self._bans.get(key)
            return max(0.0, until - self._monotonic()) if until is not None else 0.0

    def reset(self) -> None:
        """Forget all counts and bans."""
        with self._lock:
            self._windows.clear()
            self._bans.clear()
