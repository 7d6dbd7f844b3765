"""The I/O boundary every connector shares: pacing, timeouts, rate-limit waits, call records.

Platform folders build and sign their own requests and decide what a response means
(`classify`); this module sends them. Keeping the loop here means every platform waits out
rate limits, reports timeouts as `Unavailable`, and feeds the sync log the same way.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from shopbridge.connectors.base import RateLimit
from shopbridge.connectors.errors import ConnectorError, RateLimited, Unavailable
from shopbridge.connectors.ratelimit import TokenBucket


@dataclass(frozen=True)
class CallRecord:
    """One platform call, for the sync log and metrics. Never holds payloads."""

    platform: str
    interface: str
    status: int | None
    outcome: str  # "ok" | error class name
    code: str | None
    duration: float


Classifier = Callable[[httpx.Response], ConnectorError | None]
CallObserver = Callable[[CallRecord], None]


class Transport:
    def __init__(
        self,
        platform: str,
        rate_limit: RateLimit,
        *,
        client: httpx.AsyncClient | None = None,
        timeout: float = 30.0,
        max_rate_limit_wait: float = 120.0,
        observer: CallObserver | None = None,
    ) -> None:
        self.platform = platform
        self.bucket = TokenBucket(rate_limit)
        self.client = client or httpx.AsyncClient(timeout=httpx.Timeout(timeout))
        self._owns_client = client is None
        self.max_rate_limit_wait = max_rate_limit_wait
        self.observer = observer

    async def send(
        self, interface: str, request: httpx.Request, classify: Classifier
    ) -> httpx.Response:
        """Send `request`; a `RateLimited` answer is waited out (up to `max_rate_limit_wait`
        seconds in total) and retried, any other error is raised to the caller."""
        waited = 0.0
        while True:
            waited += await self.bucket.acquire()
            started = time.monotonic()
            try:
                response = await self.client.send(request)
                await response.aread()
            except httpx.TimeoutException as exc:
                self._record(interface, None, "Unavailable", "timeout", started)
                raise Unavailable(
                    "the platform did not answer in time",
                    platform=self.platform,
                    interface=interface,
                    code="timeout",
                ) from exc
            except httpx.TransportError as exc:
                self._record(interface, None, "Unavailable", "connection", started)
                raise Unavailable(
                    f"cannot reach the platform ({type(exc).__name__})",
                    platform=self.platform,
                    interface=interface,
                    code="connection",
                ) from exc
            error = classify(response)
            if error is None:
                self._record(interface, response.status_code, "ok", None, started)
                return response
            error.platform = error.platform or self.platform
            error.interface = error.interface or interface
            self._record(interface, response.status_code, type(error).__name__, error.code, started)
            if (
                isinstance(error, RateLimited)
                and waited + error.retry_after <= self.max_rate_limit_wait
            ):
                self.bucket.penalize(error.retry_after)
                continue
            raise error

    def _record(
        self, interface: str, status: int | None, outcome: str, code: str | None, started: float
    ) -> None:
        if self.observer is not None:
            self.observer(
                CallRecord(
                    self.platform, interface, status, outcome, code, time.monotonic() - started
                )
            )

    async def aclose(self) -> None:
        if self._owns_client:
            await self.client.aclose()
