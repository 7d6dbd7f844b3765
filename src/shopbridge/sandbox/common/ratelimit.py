"""A leaky-bucket request limiter (the model Shopify REST, among others, uses).

Every accepted request adds one unit to the bucket; the bucket drains continuously at
``leak_per_second``. A request that would overflow ``capacity`` is refused and does not
fill the bucket.
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
