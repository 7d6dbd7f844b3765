"""The I/O boundary every connector shares: pacing, timeouts, rate-limit waits, call records.

Platform folders build and sign their own requests and decide what a response means
(`classify`); this module sends them. Keeping the loop here means every platform waits out
rate limits, reports timeouts as `Unavailable`, and feeds the sync log the same way.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from shopbridge.connectors.base import RateLimit
from shopbridge.connectors.errors import ConnectorError, RateLimited, Unavailable
from shopbridge.connectors.ratelimit import TokenBucket
from shopbridge.logging import get_logger

log = get_logger(__name__)


@dataclass(frozen=True)
class CallRecord:
    """One platform call, for the sync log and metrics. Never holds payloads."""

    platform: str
    interface: str
    status: int | None
    outcome: str  # "ok" | error class name
    code: str | None
    duration: float
    message: str | None = None
    """The platform's own words for a failure (ours when it said none). Raw: it may quote
    buyer data, so an observer scrubs it before keeping it (the sync log does)."""


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
                unanswered = Unavailable(
                    "the platform did not answer in time",
                    platform=self.platform,
                    interface=interface,
                    code="timeout",
                )
                self._record(interface, None, started, unanswered)
                raise unanswered from exc
            except asyncio.CancelledError:
                # The caller stopped waiting (its own deadline, or shutdown): the call's
                # outcome is unknown, which the sync log must still show.
                abandoned = Unavailable(
                    "ShopBridge stopped waiting for the platform's answer",
                    platform=self.platform,
                    interface=interface,
                    code="cancelled",
                )
                self._record(interface, None, started, abandoned)
                raise
            except httpx.TransportError as exc:
                unreachable = Unavailable(
                    f"cannot reach the platform ({type(exc).__name__})",
                    platform=self.platform,
                    interface=interface,
                    code="connection",
                )
                self._record(interface, None, started, unreachable)
                raise unreachable from exc
            error = classify(response)
            if error is None:
                self._record(interface, response.status_code, started)
                return response
            error.platform = error.platform or self.platform
            error.interface = error.interface or interface
            self._record(interface, response.status_code, started, error)
            if (
                isinstance(error, RateLimited)
                and waited + error.retry_after <= self.max_rate_limit_wait
            ):
                self.bucket.penalize(error.retry_after)
                continue
            raise error

    def _record(
        self,
        interface: str,
        status: int | None,
        started: float,
        error: ConnectorError | None = None,
    ) -> None:
        """Hand one call to the observer (the sync log and platform-call metrics, installed
        by the sync layer when it builds the connector). An observer that fails must not
        fail the call it observes."""
        if self.observer is None:
            return
        duration = time.monotonic() - started
        if error is None:
            record = CallRecord(self.platform, interface, status, "ok", None, duration)
        else:
            record = CallRecord(
                self.platform,
                interface,
                status,
                type(error).__name__,
                error.code,
                duration,
                error.platform_message or error.message,
            )
        try:
            self.observer(record)
        except Exception as exc:  # never let bookkeeping break a platform call
            log.warning("call_observer_failed", error_type=type(exc).__name__)

    async def aclose(self) -> None:
        if self._owns_client:
            await self.client.aclose()
