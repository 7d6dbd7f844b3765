"""Client-side pacing so a connector never exceeds its platform's limit.

A token bucket per shop: `acquire()` waits until a call is allowed. When the platform still
answers "rate limited" (other clients share the shop's quota), `penalize()` empties the bucket
for the time it asked us to wait.
"""

from __future__ import annotations

import asyncio
import time

from shopbridge.connectors.base import RateLimit

HEADROOM = 0.1
"""Share of the platform's quota left unused. The platform counts a call when it arrives, we
count it when it leaves; connection setup and queueing in between would otherwise let a burst
arrive faster than it left and be throttled."""


class TokenBucket:
    def __init__(self, limit: RateLimit, *, headroom: float = HEADROOM) -> None:
        self.rate = limit.rate * (1 - headroom)
        self.capacity = float(max(1, int(limit.burst * (1 - headroom))))
        self.tokens = self.capacity
        self.updated = time.monotonic()
        self.blocked_until = 0.0
        self._lock = asyncio.Lock()

    def _refill(self, now: float) -> None:
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now

    async def acquire(self) -> float:
        """Wait for one call's worth of quota; returns the seconds waited."""
        waited = 0.0
        async with self._lock:
            while True:
                now = time.monotonic()
                self._refill(now)
                if now < self.blocked_until:
                    delay = self.blocked_until - now
                elif self.tokens >= 1:
                    self.tokens -= 1
                    return waited
                else:
                    delay = (1 - self.tokens) / self.rate
                await asyncio.sleep(delay)
                waited += delay

    def penalize(self, retry_after: float) -> None:
        now = time.monotonic()
        self._refill(now)
        self.tokens = 0.0
        self.blocked_until = max(self.blocked_until, now + retry_after)
