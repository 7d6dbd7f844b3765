"""The outbox dispatcher: sequences committed events, then delivers them to webhook endpoints.

Guarantees, and how:
- at least once: a delivery is claimed with a lease before it is sent and only marked
  succeeded after a 2xx; a worker killed mid-send leaves the lease to expire and another
  worker (or the same one restarted) sends it again with the same `webhook-id`;
- per-order order: only the earliest pending delivery of an (endpoint, order) pair is ever a
  candidate, so a later event of an order waits while an earlier one is pending, even while
  it backs off; different orders and endpoints proceed in parallel;
- no endpoint blocks another: each attempt is bounded by a timeout and each endpoint has its
  own cap of requests in flight.
Results are written back in batches, one transaction per batch, to spare SQLite's writer.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import socket
import time
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial

from prometheus_client import Counter as MetricCounter
from prometheus_client import Gauge, Histogram
from sqlalchemy import and_, exists, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from shopbridge import __version__
from shopbridge.config import Settings
from shopbridge.core import fastjson
from shopbridge.core.time import utcnow
from shopbridge.delivery.envelope import encode, event_body
from shopbridge.delivery.http import SendFailure, WebhookClient
from shopbridge.delivery.schedule import RetrySchedule, parse_retry_after
from shopbridge.delivery.signing import sign_headers
from shopbridge.logging import get_logger
from shopbridge.storage import outbox
from shopbridge.storage.audit import Access, event_order, order_accesses
from shopbridge.storage.audit import prune as prune_audit
from shopbridge.storage.audit import record as record_audit
from shopbridge.storage.crypto import SecretBox
from shopbridge.storage.db import Database
from shopbridge.storage.events import (
    SequencedEvent,
    has_unsequenced,
    prune_events,
    sequence_pending,
)
from shopbridge.storage.on_commit import on_commit
from shopbridge.storage.scoping import unscoped
from shopbridge.storage.tables import (
    OutboxEventRow,
    WebhookAttemptRow,
    WebhookDeliveryRow,
    WebhookEndpointRow,
)
from shopbridge.storage.vault import PASSTHROUGH_MARK, UnknownDataKey, fresh_vault
from shopbridge.storage.webhooks import (
    FAILED,
    PENDING,
    SUCCEEDED,
    disable_endpoint,
    signing_secrets,
)

log = get_logger(__name__)
USER_AGENT = f"ShopBridge-Webhooks/{__version__}"
LEASE_MARGIN_SECONDS = 0.25
MAX_TRANSIENT_TRACKED = 200_000
"""An attempt must end this long before its claim expires (see `Dispatcher._attempt`)."""
DELIVERIES = MetricCounter(
    "shopbridge_webhook_attempts_total", "Webhook attempts by outcome", ["outcome"]
)
DELIVERY_LATENCY = Histogram(
    "shopbridge_webhook_delivery_seconds",
    "From event creation to the endpoint's 2xx",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600, 86400),
)
EVENTS_SEQUENCED = MetricCounter(
    "shopbridge_events_sequenced_total", "Events given a feed position"
)
OUTBOX_BACKLOG = Gauge(
    "shopbridge_outbox_backlog",
    "Outbox work waiting: events not yet sequenced plus pending webhook deliveries (all "
    "tenants; refreshed by the dispatcher every `BACKLOG_REFRESH_SECONDS`)",
)
BACKLOG_REFRESH_SECONDS = 15.0


@dataclass(frozen=True)
class _Claimed:
    """Deliveries leased in a transaction: (delivery, event, endpoint) rows, when, until."""

    rows: list[tuple[WebhookDeliveryRow, OutboxEventRow, WebhookEndpointRow]]
    now: datetime
    expires: datetime


@dataclass(frozen=True)
class DeliverySettings:
    schedule: RetrySchedule = field(
        default_factory=lambda: RetrySchedule.parse("5s,30s,2m,10m,30m,1h,2h,4h,8h,12h,24h,24h")
    )
    timeout: float = 15.0
    disable_after: timedelta = timedelta(hours=120)
    max_in_flight: int = 128
    max_in_flight_per_endpoint: int = 32
    poll_interval: float = 0.1
    retention: timedelta = timedelta(days=30)
    audit_retention: timedelta = timedelta(days=365)
    maintenance_interval: float = 60.0
    lease_seconds: float | None = None

    @property
    def lease(self) -> timedelta:
        """By default longer than any attempt can take, so a live attempt never loses its
        claim; a crashed worker's claims are picked up again after this long."""
        if self.lease_seconds is not None:
            return timedelta(seconds=self.lease_seconds)
        return timedelta(seconds=self.timeout * 2 + 10)


def delivery_settings(settings: Settings) -> DeliverySettings:
    return DeliverySettings(
        schedule=RetrySchedule.parse(settings.webhook_retry_schedule),
        timeout=settings.webhook_timeout_seconds,
        disable_after=timedelta(hours=settings.webhook_disable_after_hours),
        max_in_flight=settings.webhook_max_in_flight,
        max_in_flight_per_endpoint=settings.webhook_max_in_flight_per_endpoint,
        poll_interval=settings.delivery_poll_interval_seconds,
        retention=timedelta(days=settings.event_retention_days),
        audit_retention=timedelta(days=settings.audit_retention_days),
        lease_seconds=settings.webhook_lease_seconds,
    )


@dataclass(frozen=True)
class Job:
    delivery_id: str
    tenant_id: str
    endpoint_id: str
    event_id: str
    attempts: int
    url: str
    secrets: tuple[str, ...]
    body: bytes
    event_created_at: datetime
    lease_expires_at: datetime
    audit: tuple[Access, ...] = ()
    """What `body` discloses (pii_allowed endpoints only), recorded with the attempt."""


def _disclosed(body: bytes, endpoint_id: str) -> tuple[Access, ...]:
    """What an unmasked event body discloses to an endpoint, read back from the bytes that
    are sent, so the record lists exactly what left (a pass-through order whose buyer data
    was already dropped discloses nothing and is not recorded)."""
    order = event_order(fastjson.loads(body))
    if order is None:
        return ()
    accesses = order_accesses(
        order, actor_type="webhook_endpoint", actor_id=endpoint_id, via="webhook"
    )
    return tuple(accesses)


@dataclass(frozen=True)
class AttemptResult:
    status_code: int | None
    error: str | None
    excerpt: str | None
    duration_ms: int
    retry_after: timedelta | None
    attempted_at: datetime

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


async def post_signed(
    client: WebhookClient,
    *,
    url: str,
    secrets: tuple[str, ...] | list[str],
    message_id: str,
    body: bytes,
    limit_seconds: float,
) -> AttemptResult:
    """One attempt, never longer than `limit_seconds`, never raising: every failure becomes a
    reason an operator can read."""
    now = utcnow()
    headers = sign_headers(secrets, message_id=message_id, timestamp=now, body=body)
    headers["content-type"] = "application/json"
    headers["user-agent"] = USER_AGENT
    started = time.perf_counter()
    status: int | None = None
    error: str | None = None
    excerpt: str | None = None
    retry_after: timedelta | None = None
    try:
        answer = await client.post(url, body, headers, limit_seconds=limit_seconds)
        status, excerpt = answer.status, answer.excerpt
        retry_after = parse_retry_after(answer.retry_after, now)
        if 300 <= status < 400:
            error = f"answered {status} (redirects are not followed; update the endpoint URL)"
        elif not 200 <= status < 300:
            error = f"answered HTTP {status}"
    except TimeoutError:
        error = f"no answer within {limit_seconds:g} s"
    except SendFailure as exc:
        error = str(exc)
    duration = int((time.perf_counter() - started) * 1000)
    return AttemptResult(status, error, excerpt, duration, retry_after, now)


def _count_attempts(outcomes: list[str], latencies: list[float]) -> None:
    for outcome in outcomes:
        DELIVERIES.labels(outcome).inc()
    for seconds in latencies:
        DELIVERY_LATENCY.observe(seconds)


@dataclass
class Dispatcher:
    db: Database
    box: SecretBox
    settings: DeliverySettings = field(default_factory=DeliverySettings)
    client: WebhookClient | None = None
    worker_id: str = field(
        default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:{os.urandom(3).hex()}"
    )
    rng: random.Random = field(default_factory=random.Random)
    tenant_ids: frozenset[str] | None = None  # deliver only these tenants' (tests, tools)

    def __post_init__(self) -> None:
        self._inflight: dict[str, asyncio.Task[None]] = {}
        self._per_endpoint: Counter[str] = Counter()
        self._done: list[tuple[Job, AttemptResult]] = []
        self._wake = asyncio.Event()
        self._written: asyncio.Event | None = None  # set when this process committed events
        self._polled_at = float("-inf")
        self._more_events = False
        self._next_maintenance = 0.0
        self._next_backlog = 0.0
        self._own_client = self.client is None
        # Pass-through retention: events whose buyer data is held in memory until delivered.
        self._transient: OrderedDict[str, tuple[str, int]] = OrderedDict()

    # -- loop ------------------------------------------------------------------------------

    async def run_forever(self, stop: asyncio.Event) -> None:
        log.info("dispatcher_started", worker=self.worker_id)
        written = self._written = outbox.subscribe()
        try:
            while not stop.is_set():
                try:
                    progressed = await self.step()
                except Exception as exc:  # keep delivering; the cause is logged by type
                    log.error(
                        "dispatch_cycle_failed", error_type=type(exc).__name__, error=str(exc)[:200]
                    )
                    progressed = False
                if not progressed:
                    self._wake.clear()
                    waiters = [
                        asyncio.ensure_future(stop.wait()),
                        asyncio.ensure_future(self._wake.wait()),
                        asyncio.ensure_future(written.wait()),
                    ]
                    await asyncio.wait(
                        waiters,
                        timeout=self.settings.poll_interval,
                        return_when=asyncio.FIRST_COMPLETED,
                    )
                    for w in waiters:
                        w.cancel()
            await self._finish_inflight()
        finally:
            await self.close()
            log.info("dispatcher_stopped", worker=self.worker_id)

    async def close(self) -> None:
        if self._own_client and self.client is not None:
            await self.client.aclose()
            self.client = None

    def _http(self) -> WebhookClient:
        if self.client is None:
            self.client = WebhookClient(max_connections=self.settings.max_in_flight)
        return self.client

    async def step(self, *, poll: bool = False) -> bool:
        """One round: record finished attempts, sequence new events, start due deliveries.

        The database is asked for new events and due deliveries at least every
        `poll_interval` (`poll` forces it), and in between only when something may have
        changed: this process committed events, attempts finished (an order's next event may
        now go, capacity is free), or the last round sequenced some. Under a steady stream a
        round then costs the queries its work needs, not a read of every table it might."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        if poll or now - self._polled_at >= self.settings.poll_interval:
            poll, self._polled_at = True, now
        written = self._written is not None and self._written.is_set()
        if written and self._written is not None:
            self._written.clear()
        progressed = False
        # One turn at the database's writer for the round's writes (record, sequence,
        # claim), not one each: the push intake's batches go in between rounds.
        async with self.db.write_turn():
            if self._done or written or self._more_events:
                # Busy: attempts to record or events just committed. Everything in one
                # transaction (a round per event at moderate rates made three).
                progressed = await self._busy_round(sequence=poll or written or self._more_events)
            elif poll:
                progressed = await self._idle_poll()
        if loop.time() >= self._next_maintenance:
            self._next_maintenance = loop.time() + self.settings.maintenance_interval
            await self.maintenance()
        if loop.time() >= self._next_backlog:
            self._next_backlog = loop.time() + BACKLOG_REFRESH_SECONDS
            await self.refresh_backlog()
        return progressed

    async def refresh_backlog(self) -> None:
        """Set `shopbridge_outbox_backlog` from two indexed counts, here in the loop rather
        than in the `/metrics` handler, so a scrape never waits on the database."""
        try:
            async with self.db.read() as session:
                unsequenced = await session.scalar(
                    select(func.count())
                    .select_from(OutboxEventRow)
                    .where(OutboxEventRow.dispatched_at.is_(None))
                )
                pending = await session.scalar(
                    select(func.count())
                    .select_from(WebhookDeliveryRow)
                    .where(WebhookDeliveryRow.state == PENDING)
                )
        except Exception as exc:  # a metric must never stop delivery
            log.warning("outbox_backlog_refresh_failed", error_type=type(exc).__name__)
            return
        OUTBOX_BACKLOG.set((unsequenced or 0) + (pending or 0))

    async def drain(self, *, max_rounds: int = 10_000) -> None:
        """For tests and tools: run until nothing is in flight and nothing is due now."""
        for _ in range(max_rounds):
            progressed = await self.step(poll=True)
            if self._inflight:
                await asyncio.wait(
                    list(self._inflight.values()), return_when=asyncio.FIRST_COMPLETED
                )
                continue
            if not progressed and not self._done:
                return

    async def _finish_inflight(self) -> None:
        if self._inflight:
            await asyncio.wait(list(self._inflight.values()), timeout=self.settings.timeout + 1)
        if self._done:
            await self._record()

    async def _busy_round(self, *, sequence: bool) -> bool:
        """Record finished attempts, sequence committed events and claim what is due, in one
        transaction; start the claimed deliveries once it has committed."""
        batch = self._take_done()
        capacity = self.settings.max_in_flight - len(self._inflight)
        async with self.db.transaction() as session:
            if batch:
                await self._record_rows(session, batch)
            sequenced: list[SequencedEvent] = []
            if sequence:
                with unscoped():
                    sequenced = await sequence_pending(session)
            claimed = await self._claim_rows(
                session, None, capacity, lock_held=bool(batch or sequence)
            )
        EVENTS_SEQUENCED.inc(len(sequenced))
        self._more_events = bool(sequenced)  # more may have committed meanwhile
        if batch:
            await self._after_record(batch)
        started = await self._start(claimed)
        return bool(batch or sequenced or started)

    # -- claiming --------------------------------------------------------------------------

    async def _candidates(
        self, session: AsyncSession, now: datetime, limit: int
    ) -> list[tuple[str, str]]:
        earlier = aliased(WebhookDeliveryRow)
        blocked = exists().where(
            earlier.endpoint_id == WebhookDeliveryRow.endpoint_id,
            earlier.ordering_key == WebhookDeliveryRow.ordering_key,
            # Pending, or still claimed: after a lease takeover the old owner may record the
            # success while the new owner's resend is still on its way.
            or_(earlier.state == PENDING, earlier.lease_expires_at > now),
            earlier.position < WebhookDeliveryRow.position,
        )
        stmt = (
            select(WebhookDeliveryRow.id, WebhookDeliveryRow.endpoint_id)
            .where(
                WebhookDeliveryRow.state == PENDING,
                WebhookDeliveryRow.next_attempt_at <= now,
                or_(
                    WebhookDeliveryRow.lease_expires_at.is_(None),
                    WebhookDeliveryRow.lease_expires_at < now,
                ),
                ~blocked,
            )
            .order_by(WebhookDeliveryRow.position)
            .limit(limit)
        )
        if self.tenant_ids is not None:
            stmt = stmt.where(WebhookDeliveryRow.tenant_id.in_(self.tenant_ids))
        return [(r.id, r.endpoint_id) for r in (await session.execute(stmt)).all()]

    def _choose(self, candidates: list[tuple[str, str]], capacity: int) -> list[str]:
        """The due deliveries to start now, within the per-endpoint limit."""
        chosen: list[str] = []
        budget = Counter(self._per_endpoint)
        for delivery_id, endpoint_id in candidates:
            if (
                delivery_id in self._inflight
                or budget[endpoint_id] >= self.settings.max_in_flight_per_endpoint
            ):
                continue
            budget[endpoint_id] += 1
            chosen.append(delivery_id)
            if len(chosen) >= capacity:
                break
        return chosen

    async def _idle_poll(self) -> bool:
        """Look for work in one read transaction, and take the writer lock only if there is
        some: an idle dispatcher polls every `poll_interval`, and on SQLite a write
        transaction would queue every other writer behind each poll."""
        capacity = self.settings.max_in_flight - len(self._inflight)
        async with self.db.read() as session:
            with unscoped():
                unsequenced = await has_unsequenced(session)
            candidates = (
                []
                if unsequenced or capacity <= 0
                else await self._candidates(session, utcnow(), capacity * 2)
            )
        if unsequenced:  # committed by another process (or before a wake-up was missed)
            return await self._busy_round(sequence=True)
        chosen = self._choose(candidates, capacity)
        if not chosen:
            return False
        async with self.db.transaction() as session:
            claimed = await self._claim_rows(session, chosen, capacity, lock_held=False)
        return await self._start(claimed) > 0

    async def _start(self, claimed: _Claimed) -> int:
        """Start sending what a committed transaction leased; returns how many."""
        jobs = await self._jobs(claimed)
        for job in jobs:
            self._per_endpoint[job.endpoint_id] += 1
            self._inflight[job.delivery_id] = asyncio.create_task(
                self._attempt(job), name=f"deliver-{job.delivery_id}"
            )
        return len(jobs)

    async def _claim_rows(
        self, session: AsyncSession, chosen: list[str] | None, capacity: int, *, lock_held: bool
    ) -> _Claimed:
        """Lease `chosen` (or, if None, the due deliveries found in this transaction). The
        caller starts them (`_start`) once the transaction has committed."""
        if capacity <= 0:
            return _Claimed([], utcnow(), utcnow())
        if self.db.dialect == "sqlite" and not lock_held:
            # The lease runs from when the claim is made: on SQLite the transaction first
            # waits for the writer lock (a sync page being written can hold it for
            # seconds), and a claim must not be born expired (see `_attempt`).
            await session.execute(select(1))
        now = utcnow()
        if chosen is None:
            chosen = self._choose(await self._candidates(session, now, capacity * 2), capacity)
        if not chosen:
            return _Claimed([], now, now)
        expires = now + self.settings.lease
        if self.db.dialect == "sqlite":
            ids = chosen  # the writer lock is held: nobody else can be recording them
        else:
            # Lock in id order and skip rows another worker holds (recording its
            # results): two workers taking the same rows in different orders would
            # deadlock.
            ids = list(
                (
                    await session.scalars(
                        select(WebhookDeliveryRow.id)
                        .where(WebhookDeliveryRow.id.in_(chosen))
                        .order_by(WebhookDeliveryRow.id)
                        .with_for_update(skip_locked=True)
                    )
                ).all()
            )
            if not ids:
                return _Claimed([], now, expires)
        await session.execute(
            update(WebhookDeliveryRow)
            .where(
                WebhookDeliveryRow.id.in_(ids),
                WebhookDeliveryRow.state == PENDING,
                or_(
                    WebhookDeliveryRow.lease_expires_at.is_(None),
                    WebhookDeliveryRow.lease_expires_at < now,
                ),
            )
            .values(lease_owner=self.worker_id, lease_expires_at=expires)
        )
        rows = (
            await session.execute(
                select(WebhookDeliveryRow, OutboxEventRow, WebhookEndpointRow)
                .join(OutboxEventRow, OutboxEventRow.id == WebhookDeliveryRow.event_id)
                .join(WebhookEndpointRow, WebhookEndpointRow.id == WebhookDeliveryRow.endpoint_id)
                .where(
                    WebhookDeliveryRow.id.in_(ids),
                    and_(
                        WebhookDeliveryRow.lease_owner == self.worker_id,
                        WebhookDeliveryRow.lease_expires_at == expires,
                    ),
                )
                .order_by(WebhookDeliveryRow.position)
            )
        ).all()
        return _Claimed([(d, e, p) for d, e, p in rows], now, expires)

    async def _jobs(self, claimed: _Claimed) -> list[Job]:
        """The claimed deliveries with their bodies, built after the transaction committed:
        it holds SQLite's writer lock, and unmasked bodies decrypt buyer data first."""
        rows, now, expires = claimed.rows, claimed.now, claimed.expires
        secrets: dict[str, tuple[str, ...]] = {}
        bodies: dict[tuple[str, bool], bytes] = {}
        jobs: list[Job] = []
        for delivery, event, endpoint in rows:
            if endpoint.id not in secrets:
                secrets[endpoint.id] = tuple(signing_secrets(self.box, endpoint, now))
            key = (event.id, endpoint.pii_allowed)
            if key not in bodies:
                bodies[key] = await self._body(event, reveal=endpoint.pii_allowed)
            jobs.append(
                Job(
                    delivery.id,
                    delivery.tenant_id,
                    endpoint.id,
                    event.id,
                    delivery.attempts,
                    endpoint.url,
                    secrets[endpoint.id],
                    bodies[key],
                    event.created_at,
                    expires,
                    _disclosed(bodies[key], endpoint.id) if endpoint.pii_allowed else (),
                )
            )
        return jobs

    async def _body(self, event: OutboxEventRow, *, reveal: bool) -> bytes:
        vault = await fresh_vault(self.db)
        order = event.payload.get("order")
        if vault.passthrough and isinstance(order, dict) and order.get("pii") == PASSTHROUGH_MARK:
            self._transient[event.id] = (event.subject_id or "", event.subject_version or 0)
            while len(self._transient) > MAX_TRANSIENT_TRACKED:
                self._transient.popitem(last=False)
        try:
            return encode(event_body(event, reveal=reveal, vault=vault))
        except UnknownDataKey:  # sealed with a data key rotated in by another process
            await vault.reload()
            return encode(event_body(event, reveal=reveal, vault=vault))

    async def _attempt(self, job: Job) -> None:
        # Send only while the claim holds, and end before it runs out. Once the lease has
        # expired (the event loop was stalled between claim and send, e.g. by CPU-bound sync
        # work in the same process) another worker may have taken the delivery over, sent
        # it and then the order's next event; sending now would put this event after that
        # one. Not sent, not recorded: the delivery is claimed again like a crashed one.
        limit = round(
            min(
                self.settings.timeout,
                (job.lease_expires_at - utcnow()).total_seconds() - LEASE_MARGIN_SECONDS,
            ),
            2,
        )
        if limit <= 0:
            self._inflight.pop(job.delivery_id, None)
            self._per_endpoint[job.endpoint_id] -= 1
            log.warning(
                "webhook_claim_expired_before_send",
                delivery=job.delivery_id,
                event_id=job.event_id,
            )
            self._wake.set()
            return
        try:
            result = await post_signed(
                self._http(),
                url=job.url,
                secrets=job.secrets,
                message_id=job.event_id,
                body=job.body,
                limit_seconds=limit,
            )
        except Exception as exc:  # a bug here must not lose the delivery: it retries
            result = AttemptResult(
                None, f"internal error: {type(exc).__name__}", None, 0, None, utcnow()
            )
        self._done.append((job, result))
        self._wake.set()

    # -- recording -------------------------------------------------------------------------

    async def _record(self) -> None:
        batch = self._take_done()
        async with self.db.write_turn(), self.db.transaction() as session:
            await self._record_rows(session, batch)
        await self._after_record(batch)

    def _take_done(self) -> list[tuple[Job, AttemptResult]]:
        batch, self._done = self._done, []
        batch.sort(key=lambda done: done[0].delivery_id)  # the lock order `_claim_rows` uses
        for job, _ in batch:
            self._inflight.pop(job.delivery_id, None)
            self._per_endpoint[job.endpoint_id] -= 1
        return batch

    async def _record_rows(
        self, session: AsyncSession, batch: list[tuple[Job, AttemptResult]]
    ) -> None:
        now = utcnow()
        # One statement for the batch (objects added to the session would each be
        # inserted on their own, to read back their generated ids).
        await session.execute(
            insert(WebhookAttemptRow),
            [
                {
                    "delivery_id": job.delivery_id,
                    "tenant_id": job.tenant_id,
                    "endpoint_id": job.endpoint_id,
                    "attempted_at": result.attempted_at,
                    "status_code": result.status_code,
                    "error": result.error,
                    "response_excerpt": result.excerpt,
                    "duration_ms": result.duration_ms,
                }
                for job, result in batch
            ],
        )
        # Every attempt of an unmasked body is audited, failed ones too: the receiver
        # may have read the body before it failed to answer 2xx.
        audited: dict[str, list[Access]] = {}
        for job, _ in batch:
            audited.setdefault(job.tenant_id, []).extend(job.audit)
        for tenant_id, accesses in audited.items():
            record_audit(session, tenant_id, accesses)
        succeeded_endpoints: set[str] = set()
        failed_endpoints: dict[str, str] = {}
        gone: dict[str, str] = {}
        delivered: list[dict[str, object]] = []
        # Counted when the transaction commits: a busy round that fails rolls its records
        # back, and the attempts are made and counted again.
        outcomes: list[str] = []
        latencies: list[float] = []
        on_commit(session, partial(_count_attempts, outcomes, latencies))
        for job, result in batch:
            if result.ok:
                outcomes.append("succeeded")
                latencies.append(max((now - job.event_created_at).total_seconds(), 0))
                succeeded_endpoints.add(job.endpoint_id)
                delivered.append(
                    {
                        "id": job.delivery_id,
                        "state": SUCCEEDED,
                        "attempts": job.attempts + 1,
                        "delivered_at": result.attempted_at,
                        "last_attempt_at": result.attempted_at,
                        "last_status_code": result.status_code,
                        "last_error": None,
                        "last_response": result.excerpt,
                    }
                )
                continue
            reason = result.error or "failed"
            failed_endpoints[job.endpoint_id] = reason
            attempts = job.attempts + 1
            if result.status_code == 410:
                outcomes.append("gone")
                gone[job.endpoint_id] = "the endpoint answered 410 Gone"
                state, next_at, error = FAILED, now, f"{reason}: endpoint disabled"
            else:
                delay = self.settings.schedule.next_delay(
                    attempts, retry_after=result.retry_after, rng=self.rng
                )
                if delay is None:
                    outcomes.append("dead")
                    state, next_at, error = (
                        FAILED,
                        now,
                        f"gave up after {attempts} attempts: {reason}",
                    )
                else:
                    outcomes.append("retry")
                    state, next_at, error = PENDING, now + delay, reason
            await session.execute(
                update(WebhookDeliveryRow)
                .where(
                    WebhookDeliveryRow.id == job.delivery_id,
                    WebhookDeliveryRow.state == PENDING,
                    WebhookDeliveryRow.lease_owner == self.worker_id,
                )
                .values(
                    state=state,
                    attempts=attempts,
                    next_attempt_at=next_at,
                    last_attempt_at=result.attempted_at,
                    last_status_code=result.status_code,
                    last_error=error,
                    last_response=result.excerpt,
                    lease_owner=None,
                    lease_expires_at=None,
                )
            )
        if delivered:
            # One executemany by primary key for every success of the batch (under load
            # nearly all of them), instead of one UPDATE round trip per delivery.
            await session.execute(update(WebhookDeliveryRow), delivered)
            # Release only our own (or lapsed) claims: another worker's live claim keeps
            # the order's next event waiting until its resend is done.
            await session.execute(
                update(WebhookDeliveryRow)
                .where(
                    WebhookDeliveryRow.id.in_([d["id"] for d in delivered]),
                    or_(
                        WebhookDeliveryRow.lease_owner == self.worker_id,
                        WebhookDeliveryRow.lease_expires_at < now,
                    ),
                )
                .values(lease_owner=None, lease_expires_at=None)
            )
        await self._update_endpoints(session, succeeded_endpoints, failed_endpoints, gone, now)

    async def _after_record(self, batch: list[tuple[Job, AttemptResult]]) -> None:
        for job, result in batch:
            if not result.ok:
                log.info(
                    "webhook_attempt_failed",
                    endpoint=job.endpoint_id,
                    event_id=job.event_id,
                    status=result.status_code,
                    reason=result.error,
                )
        await self._forget_delivered([job.event_id for job, result in batch if result.ok])

    async def _forget_delivered(self, event_ids: list[str]) -> None:
        """Pass-through retention: once every delivery of an event succeeded, the buyer data
        its body needed is dropped from memory (it was never on disk)."""
        done = {e for e in event_ids if e in self._transient}
        if not done:
            return
        async with self.db.read() as session:
            pending = set(
                await session.scalars(
                    select(WebhookDeliveryRow.event_id).where(
                        WebhookDeliveryRow.event_id.in_(done),
                        WebhookDeliveryRow.state == PENDING,
                    )
                )
            )
        vault = self.db.session_info["vault"]
        for event_id in done - pending:
            order_id, version = self._transient.pop(event_id)
            vault.memory.drop(order_id, version)

    async def _update_endpoints(
        self,
        session: AsyncSession,
        succeeded: set[str],
        failed: dict[str, str],
        gone: dict[str, str],
        now: datetime,
    ) -> None:
        touched = succeeded | set(failed)
        if not touched:
            return
        endpoints = (
            await session.scalars(
                select(WebhookEndpointRow).where(WebhookEndpointRow.id.in_(touched))
            )
        ).all()
        for endpoint in endpoints:
            if endpoint.id in succeeded:
                endpoint.failing_since = None
                endpoint.last_success_at = now
            elif endpoint.failing_since is None:
                endpoint.failing_since = now
            if not endpoint.enabled:
                continue
            reason = gone.get(endpoint.id)
            if (
                reason is None
                and endpoint.failing_since is not None
                and now - endpoint.failing_since >= self.settings.disable_after
            ):
                hours = self.settings.disable_after.total_seconds() / 3600
                reason = f"failing for more than {hours:g} h; last error: {failed.get(endpoint.id, 'unknown')}"
            if reason is not None:
                moved = await disable_endpoint(session, endpoint, reason, now)
                log.warning(
                    "webhook_endpoint_disabled",
                    endpoint=endpoint.id,
                    reason=reason,
                    dead_lettered=moved,
                )

    # -- maintenance -----------------------------------------------------------------------

    async def maintenance(self) -> None:
        """Retention: events older than the configured period leave the feed, and audit
        records older than theirs (`audit_retention_days`) are dropped."""
        cutoff = utcnow() - self.settings.retention
        async with self.db.transaction() as session:
            removed = await prune_events(session, older_than=cutoff)
        if removed:
            log.info("events_pruned", removed=removed)
        async with self.db.transaction() as session:
            removed = await prune_audit(session, utcnow() - self.settings.audit_retention)
        if removed:
            log.info("audit_records_pruned", removed=removed)
        with contextlib.suppress(Exception):
            await self._prune_idempotency_keys()

    async def _prune_idempotency_keys(self) -> None:
        try:
            from shopbridge.storage.idempotency import delete_expired_idempotency_keys
        except ImportError:  # pragma: no cover - during development only
            return
        async with self.db.transaction() as session:
            await delete_expired_idempotency_keys(session, utcnow())
