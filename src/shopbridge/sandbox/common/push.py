"""Webhook push queue: deliver signed HTTP POSTs with timeout, retry and backoff.

The platform builds a :class:`PushRequest` (URL, raw body, headers - already signed);
this module only moves bytes and records what happened. A delivery succeeds when the
receiver answers 2xx within ``RetryPolicy.timeout`` seconds (connect + read, total);
otherwise it is retried after ``backoff_base * backoff_factor ** (attempt - 1)`` seconds
(capped at ``backoff_max``) until ``max_attempts`` attempts were made.

Chaos switches reproduce what real push channels do to receivers:

* :meth:`PushDispatcher.duplicate_next` - the next N pushes are delivered twice
  (identical headers and body, as a platform redelivery would be);
* :meth:`PushDispatcher.reorder_next` - the next K pushes are held and released in
  reverse order (or when ``reorder_flush_seconds`` elapse, whichever comes first).

Payload bodies are kept in memory for the control API but never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import aiohttp

from shopbridge.sandbox.common.clock import Clock, SystemClock

logger = logging.getLogger("shopbridge.sandbox.push")


@dataclass(frozen=True)
class RetryPolicy:
    """Timeout and retry schedule for deliveries."""

    timeout: float = 5.0
    connect_timeout: float = 1.0
    max_attempts: int = 9
    backoff_base: float = 1.0
    backoff_factor: float = 2.0
    backoff_max: float = 3600.0

    def __post_init__(self) -> None:
        if self.timeout <= 0 or self.connect_timeout <= 0:
            raise ValueError("timeouts must be positive")
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.backoff_base < 0 or self.backoff_factor < 1 or self.backoff_max < 0:
            raise ValueError("invalid backoff settings")

    def delay_after(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        return float(
            min(self.backoff_max, self.backoff_base * self.backoff_factor ** (attempt - 1))
        )


@dataclass(frozen=True)
class PushRequest:
    """One push to deliver; identical on every attempt."""

    url: str
    body: bytes
    headers: Mapping[str, str]
    topic: str
    delivery_key: str
    """Identifier the receiver sees and that stays stable across redeliveries."""
    event_key: str
    """Identifier of the platform event (shared by all deliveries of one event)."""
    meta: Mapping[str, Any] = field(default_factory=dict)


class DeliveryState(StrEnum):
    """Lifecycle of a delivery."""

    HELD = "held"
    PENDING = "pending"
    RETRYING = "retrying"
    DELIVERED = "delivered"
    FAILED = "failed"


@dataclass
class AttemptRecord:
    """One HTTP attempt."""

    number: int
    started_at: datetime
    duration_ms: float
    status_code: int | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    def to_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "started_at": self.started_at.isoformat(),
            "duration_ms": round(self.duration_ms, 1),
            "status_code": self.status_code,
            "error": self.error,
            "ok": self.ok,
        }


@dataclass
class DeliveryRecord:
    """A push and everything that happened to it."""

    id: str
    request: PushRequest
    created_at: datetime
    state: DeliveryState = DeliveryState.PENDING
    attempts: list[AttemptRecord] = field(default_factory=list)
    next_attempt_at: datetime | None = None
    duplicate_of: str | None = None
    reordered: bool = False
    sequence: int = 0
    """Order in which the first attempt was actually sent (1-based, 0 = not yet)."""

    def to_dict(self, *, include_body: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "topic": self.request.topic,
            "url": self.request.url,
            "delivery_key": self.request.delivery_key,
            "event_key": self.request.event_key,
            "state": self.state.value,
            "created_at": self.created_at.isoformat(),
            "next_attempt_at": self.next_attempt_at.isoformat() if self.next_attempt_at else None,
            "duplicate_of": self.duplicate_of,
            "reordered": self.reordered,
            "sequence": self.sequence,
            "attempts": [attempt.to_dict() for attempt in self.attempts],
            "headers": dict(self.request.headers),
            "meta": dict(self.request.meta),
        }
        if include_body:
            data["body"] = self.request.body.decode("utf-8", errors="replace")
        return data


class PushDispatcher:
    """Deliver :class:`PushRequest` objects in the background of an asyncio loop."""

    def __init__(
        self,
        policy: RetryPolicy | None = None,
        *,
        concurrency: int = 8,
        clock: Clock | None = None,
        reorder_flush_seconds: float = 2.0,
        user_agent: str = "ShopBridge-Sandbox-Push/1.0",
        max_records: int = 10_000,
    ) -> None:
        self.policy = policy or RetryPolicy()
        self._clock = clock or SystemClock()
        self._concurrency = concurrency
        self._reorder_flush_seconds = reorder_flush_seconds
        self._user_agent = user_agent
        self._max_records = max_records
        self._lock = threading.Lock()
        self._records: dict[str, DeliveryRecord] = {}
        self._ids = itertools.count(1)
        self._sent = itertools.count(1)
        self._backlog: list[list[DeliveryRecord]] = []
        self._held: list[DeliveryRecord] = []
        self._duplicate_remaining = 0
        self._reorder_remaining = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: aiohttp.ClientSession | None = None
        self._semaphore: asyncio.Semaphore | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._flush_handle: asyncio.TimerHandle | None = None

    # lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Bind to the running loop and send anything queued before start."""
        self._loop = asyncio.get_running_loop()
        self._semaphore = asyncio.Semaphore(self._concurrency)
        # aiohttp, not httpx: a platform pushes hundreds of webhooks a second at peak, and
        # httpx spends 1.3-2.6 ms of CPU per request to aiohttp's 0.15-0.2 ms, which in
        # `bench peak` was CPU taken from the system under test.
        self._client = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(
                total=self.policy.timeout, sock_connect=self.policy.connect_timeout
            ),
            cookie_jar=aiohttp.DummyCookieJar(),
            trust_env=False,
        )
        with self._lock:
            backlog, self._backlog = self._backlog, []
        for batch in backlog:
            self._launch(batch)

    async def stop(self) -> None:
        """Cancel in-flight deliveries and close the HTTP client."""
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._client is not None:
            await self._client.close()
            self._client = None
        self._loop = None

    # chaos ---------------------------------------------------------------------------

    def duplicate_next(self, count: int) -> None:
        """Deliver each of the next ``count`` pushes twice."""
        with self._lock:
            self._duplicate_remaining = max(0, count)

    def reorder_next(self, count: int) -> None:
        """Hold the next ``count`` pushes and release them in reverse order."""
        with self._lock:
            self._reorder_remaining = max(0, count)

    def chaos(self) -> dict[str, int]:
        with self._lock:
            return {
                "duplicate_remaining": self._duplicate_remaining,
                "reorder_remaining": self._reorder_remaining,
                "held": len(self._held),
            }

    # submit --------------------------------------------------------------------------

    def submit(self, request: PushRequest) -> DeliveryRecord:
        """Queue a push. Thread-safe; returns the (first) delivery record."""
        now = self._clock.now()
        release: list[DeliveryRecord] | None = None
        schedule_flush = False
        with self._lock:
            record = self._new_record(request, now)
            batch = [record]
            if self._duplicate_remaining > 0:
                self._duplicate_remaining -= 1
                copy = self._new_record(request, now)
                copy.duplicate_of = record.id
                batch.append(copy)
            if self._reorder_remaining > 0:
                self._reorder_remaining -= 1
                for item in batch:
                    item.state = DeliveryState.HELD
                    item.reordered = True
                schedule_flush = not self._held
                self._held.extend(batch)
                if self._reorder_remaining == 0:
                    release = self._take_held()
            else:
                release = batch
        if schedule_flush:
            self._call_in_loop(self._arm_flush)
        if release:
            if release[0].reordered:
                self._call_in_loop(self._disarm_flush)
            self._dispatch(release)
        return record

    def redeliver(self, record_id: str) -> DeliveryRecord:
        """Send an existing delivery again (same body and headers) as a new record."""
        with self._lock:
            original = self._records.get(record_id)
            if original is None:
                raise KeyError(record_id)
            record = self._new_record(original.request, self._clock.now())
            record.duplicate_of = original.id
        self._dispatch([record])
        return record

    def records(self) -> list[DeliveryRecord]:
        """Every delivery, oldest first."""
        with self._lock:
            return list(self._records.values())

    def get(self, record_id: str) -> DeliveryRecord | None:
        with self._lock:
            return self._records.get(record_id)

    def clear(self) -> None:
        """Forget history and chaos settings and cancel in-flight deliveries and retries."""
        with self._lock:
            self._records.clear()
            self._held.clear()
            self._backlog.clear()
            self._duplicate_remaining = 0
            self._reorder_remaining = 0
        self._call_in_loop(self._cancel_tasks)

    def _cancel_tasks(self) -> None:
        self._disarm_flush()
        for task in list(self._tasks):
            task.cancel()

    async def wait_idle(self, within: float = 10.0) -> bool:
        """Wait until nothing is pending or retrying; return False on timeout."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            with self._lock:
                busy = any(
                    r.state in (DeliveryState.PENDING, DeliveryState.RETRYING, DeliveryState.HELD)
                    for r in self._records.values()
                )
            if not busy:
                return True
            await asyncio.sleep(0.02)
        return False

    # internals -----------------------------------------------------------------------

    def _new_record(self, request: PushRequest, now: datetime) -> DeliveryRecord:
        record = DeliveryRecord(id=f"dlv_{next(self._ids):06d}", request=request, created_at=now)
        self._records[record.id] = record
        if len(self._records) > self._max_records:
            finished = (DeliveryState.DELIVERED, DeliveryState.FAILED)
            for old_id in [k for k, v in self._records.items() if v.state in finished][:1000]:
                del self._records[old_id]
        return record

    def _take_held(self) -> list[DeliveryRecord]:
        held, self._held = self._held, []
        held.reverse()
        for item in held:
            item.state = DeliveryState.PENDING
        return held

    def _call_in_loop(self, callback: Any) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            callback()
        else:
            loop.call_soon_threadsafe(callback)

    def _arm_flush(self) -> None:
        loop = self._loop
        if loop is None:
            return
        if self._flush_handle is not None:
            self._flush_handle.cancel()
        self._flush_handle = loop.call_later(self._reorder_flush_seconds, self._flush_held)

    def _disarm_flush(self) -> None:
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None

    def _flush_held(self) -> None:
        self._flush_handle = None
        with self._lock:
            if not self._held:
                return
            self._reorder_remaining = 0
            release = self._take_held()
        if release:
            self._dispatch(release)

    def _dispatch(self, batch: list[DeliveryRecord]) -> None:
        if self._loop is None:
            with self._lock:
                self._backlog.append(batch)
            return
        self._call_in_loop(lambda: self._launch(batch))

    def _launch(self, batch: list[DeliveryRecord]) -> None:
        task = asyncio.get_running_loop().create_task(self._run_batch(batch))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run_batch(self, batch: list[DeliveryRecord]) -> None:
        # First attempts go out in batch order (this is what makes reordering visible);
        # retries then proceed independently.
        for record in batch:
            delivered = await self._attempt(record)
            if not delivered:
                self._schedule_retry(record)

    def _schedule_retry(self, record: DeliveryRecord) -> None:
        if len(record.attempts) >= self.policy.max_attempts:
            record.state = DeliveryState.FAILED
            record.next_attempt_at = None
            logger.warning(
                "push %s (%s) failed after %d attempts",
                record.id,
                record.request.topic,
                len(record.attempts),
            )
            return
        delay = self.policy.delay_after(len(record.attempts))
        record.state = DeliveryState.RETRYING
        record.next_attempt_at = self._clock.now() + timedelta(seconds=delay)
        task = asyncio.get_running_loop().create_task(self._retry_later(record, delay))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _retry_later(self, record: DeliveryRecord, delay: float) -> None:
        await asyncio.sleep(delay)
        if not await self._attempt(record):
            self._schedule_retry(record)

    async def _attempt(self, record: DeliveryRecord) -> bool:
        client = self._client
        semaphore = self._semaphore
        if client is None or semaphore is None:
            raise RuntimeError("PushDispatcher.start() was not awaited")
        async with semaphore:
            number = len(record.attempts) + 1
            if number == 1:
                record.sequence = next(self._sent)
            started_at = self._clock.now()
            started = time.perf_counter()
            status: int | None = None
            error: str | None = None
            headers = {"User-Agent": self._user_agent, **record.request.headers}
            try:
                async with asyncio.timeout(self.policy.timeout):
                    async with client.post(
                        record.request.url,
                        data=record.request.body,
                        headers=headers,
                        allow_redirects=False,
                    ) as response:
                        await response.read()
                        status = response.status
                if not 200 <= status < 300:
                    error = f"HTTP {status}"
            except TimeoutError:
                error = f"timeout after {self.policy.timeout:g}s"
            except aiohttp.ClientError as exc:
                error = f"{type(exc).__name__}: {exc}"
            duration = (time.perf_counter() - started) * 1000
            attempt = AttemptRecord(number, started_at, duration, status, error)
            record.attempts.append(attempt)
            if attempt.ok:
                record.state = DeliveryState.DELIVERED
                record.next_attempt_at = None
                return True
            logger.info(
                "push %s (%s) attempt %d failed: %s", record.id, record.request.topic, number, error
            )
            return False
