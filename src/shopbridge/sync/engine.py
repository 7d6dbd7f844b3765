"""The order sync engine's pull side: incremental pull by update time with a persisted
cursor per shop, an overlap window, a first-connect backfill, leases, and fault handling.

Why it is safe to crash anywhere: orders are written through the idempotent upsert (one event
per real change, same transaction), and the cursor only moves forward after a whole window has
been written. A worker killed mid-window re-pulls that window; nothing is lost or doubled.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import socket
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from shopbridge.config import Settings
from shopbridge.connectors import (
    AuthExpired,
    Capability,
    Connector,
    ConnectorError,
    MappingError,
    NotFound,
    PullWindow,
    RateLimited,
    StreamSpec,
)
from shopbridge.connectors.registry import UnknownConnector, connector_class
from shopbridge.core.time import utcnow
from shopbridge.logging import collect_pii, get_logger
from shopbridge.storage.crypto import SecretBox
from shopbridge.storage.db import Database
from shopbridge.storage.errors import is_transient
from shopbridge.storage.orders import OrderRepository
from shopbridge.storage.synclog import prune as prune_sync_log
from shopbridge.storage.tables import ShopRow, ShopSyncStateRow
from shopbridge.sync import state as sync_state
from shopbridge.sync.alerts import evaluate_alerts_if_due
from shopbridge.sync.connect import build_connector
from shopbridge.sync.push import first_receipt, prune_push_receipts
from shopbridge.sync.synclog import SYNC_LOG

log = get_logger(__name__)
PAGE_ATTEMPTS = 4
"""Tries of one page's transaction when the database aborts it to break a deadlock."""
ConnectorFactory = Callable[[str], type[Connector]]


@dataclass
class SyncSettings:
    """Engine defaults; `sync_settings()` reads the operator's `SHOPBRIDGE_SYNC_*` values."""

    poll_interval: timedelta = timedelta(seconds=60)
    """How often a shop is pulled when nothing else wakes it (per-shop `poll_interval_seconds`)."""
    backfill: timedelta = timedelta(days=3)
    """How far back the first pull of a new shop reaches (per-shop `backfill_days`)."""
    lease: timedelta = timedelta(minutes=5)
    batch: int = 4
    """Shops one worker syncs concurrently."""
    idle_sleep: float = 1.0
    channel_interval: float = 2.0
    """Seconds between polls of platform message channels (Taobao TMC)."""
    reconcile_every: timedelta = timedelta(hours=1)
    """How often a shop's recent past is pulled again, to catch anything a push or an
    incremental window missed (per-shop `reconcile_every_minutes`)."""
    reconcile_lookback: timedelta = timedelta(hours=6)
    """How far back that reconciliation pass reaches (per-shop `reconcile_lookback_hours`)."""
    push_receipt_retention: timedelta = timedelta(days=7)
    """Inbound push message ids older than this are pruned (`push_receipt_retention_days`)."""
    maintenance_every: timedelta = timedelta(hours=1)
    """How often a worker prunes; the first pass runs at start."""
    sync_log_retention: timedelta = timedelta(days=14)
    """Sync-log records older than this are pruned (`sync_log_retention_days`)."""


@dataclass
class SyncResult:
    shop_id: str
    windows: int = 0
    pages: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    stale: int = 0
    unmapped: int = 0
    error: str | None = None
    reconciled: bool = False


def sync_settings(settings: Settings) -> SyncSettings:
    return SyncSettings(
        poll_interval=timedelta(seconds=settings.sync_poll_interval_seconds),
        backfill=timedelta(days=settings.sync_backfill_days),
        lease=timedelta(seconds=settings.sync_lease_seconds),
        push_receipt_retention=timedelta(days=settings.push_receipt_retention_days),
        sync_log_retention=timedelta(days=settings.sync_log_retention_days),
    )


def _shop_setting(shop: ShopRow, key: str, default: float) -> float:
    value = shop.settings.get(key) if isinstance(shop.settings, dict) else None
    return float(value) if isinstance(value, int | float) and value > 0 else default


def plan_windows(start: datetime, end: datetime, spec: StreamSpec) -> list[PullWindow]:
    """Consecutive half-open windows of at most `spec.window` covering [start, end)."""
    windows = []
    cursor = start
    while cursor < end:
        upper = min(cursor + spec.window, end)
        windows.append(PullWindow(cursor, upper))
        cursor = upper
    return windows


class SyncEngine:
    def __init__(
        self,
        db: Database,
        box: SecretBox,
        *,
        settings: SyncSettings | None = None,
        worker_id: str | None = None,
        connectors: ConnectorFactory = connector_class,
        base_urls: dict[str, str] | None = None,
    ) -> None:
        self.db = db
        self.box = box
        self.settings = settings or SyncSettings()
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}"
        self.connectors = connectors
        self.base_urls = base_urls or {}
        """Per-shop API endpoint overrides (shop id → URL), e.g. the demo's sandboxes."""

    # scheduling ---------------------------------------------------------------------------

    async def run_once(self, shop_ids: Collection[str] | None = None) -> list[SyncResult]:
        """Claim the shops that are due (optionally only these) and sync them."""
        async with self.db.transaction() as session:
            await sync_state.register_new_shops(session)
            claimed = await sync_state.claim_due_shops(
                session,
                self.worker_id,
                lease=self.settings.lease,
                limit=self.settings.batch,
                shop_ids=shop_ids,
            )
            shops = [shop for shop, _ in claimed]
        return list(await asyncio.gather(*(self.sync_shop(shop) for shop in shops)))

    async def run_forever(
        self, stop: asyncio.Event, shop_ids: Collection[str] | None = None
    ) -> None:
        # This process's platform calls (sync, stock, shipments) reach the sync log through
        # this writer; the API shares it when it runs the worker in-process.
        async with SYNC_LOG.writing(self.db):
            await self._run_forever(stop, shop_ids)

    async def _run_forever(self, stop: asyncio.Event, shop_ids: Collection[str] | None) -> None:
        log.info("sync_worker_started", worker=self.worker_id)
        next_channel_poll = 0.0
        next_maintenance = 0.0
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            try:
                results = await self.run_once(shop_ids)
                if loop.time() >= next_channel_poll:
                    next_channel_poll = loop.time() + self.settings.channel_interval
                    await self.drain_channels(shop_ids)
                if loop.time() >= next_maintenance:
                    next_maintenance = loop.time() + self.settings.maintenance_every.total_seconds()
                    await self.maintenance()
                # Health alerts (shop.sync_degraded, ...): at most once a minute across workers.
                await evaluate_alerts_if_due(
                    self.db,
                    self.box,
                    poll_interval=self.settings.poll_interval.total_seconds(),
                    shop_ids=shop_ids,
                )
            except Exception as exc:  # keep the worker alive; the cause is logged by type
                log.error("sync_cycle_failed", error_type=type(exc).__name__)
                results = []
            if not results:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.settings.idle_sleep)
        log.info("sync_worker_stopped", worker=self.worker_id)

    async def maintenance(self) -> int:
        """Prune push receipts and sync-log records older than their retentions (several
        workers pruning the same rows is harmless); returns the rows removed. Settings
        guarantee the receipt retention outlasts the push replay window, so a pruned message
        id can no longer be replayed: its push would be stale."""
        removed = await prune_push_receipts(
            self.db, older_than=utcnow() - self.settings.push_receipt_retention
        )
        if removed:
            log.info("push_receipts_pruned", removed=removed)
        async with self.db.transaction() as session:
            pruned = await prune_sync_log(session, utcnow() - self.settings.sync_log_retention)
        if pruned:
            log.info("sync_log_pruned", removed=pruned)
        return removed + pruned

    # message channels (platform-kept push queues such as Taobao TMC) ----------------------

    async def drain_channels(self, shop_ids: Collection[str] | None = None) -> int:
        """Apply the pending channel messages of every active shop whose platform has one."""
        async with self.db.read() as session:
            stmt = select(ShopRow).where(ShopRow.status == "active")
            if shop_ids is not None:
                stmt = stmt.where(ShopRow.id.in_(list(shop_ids)))
            shops = [
                s for s in (await session.scalars(stmt)).all() if self._has_channel(s.platform)
            ]
            paused_stmt = select(ShopSyncStateRow.shop_id).where(
                ShopSyncStateRow.state == sync_state.PAUSED
            )
            paused = set((await session.scalars(paused_stmt)).all())
        applied = 0
        for shop in shops:
            if shop.id in paused or shop.credentials_sealed is None:
                continue
            try:
                applied += await self.drain_channel(shop)
            except ConnectorError as exc:
                await self._failed(shop, exc, SyncResult(shop_id=shop.id))
        return applied

    def _has_channel(self, platform: str) -> bool:
        try:
            return Capability.PUSH_CHANNEL in self.connectors(platform).info.capabilities
        except UnknownConnector:
            return False

    async def drain_channel(self, shop: ShopRow) -> int:
        """Fetch, apply and acknowledge one batch. A thin message is resolved with `get_order`
        here; a message whose order cannot be fetched is not acknowledged, so the platform
        redelivers it (and the next pull would catch the order anyway). Buyer values seen
        meanwhile are kept out of its log lines."""
        with collect_pii():
            return await self._drain_channel(shop)

    async def _drain_channel(self, shop: ShopRow) -> int:
        connector = self._connector(shop)
        applied = 0
        try:
            messages = await connector.poll_channel()
            done: list[str] = []
            for message in messages:
                order = message.order
                if order is None and message.platform_order_id is not None:
                    try:
                        order = await connector.get_order(message.platform_order_id)
                    except (NotFound, MappingError):
                        order = None  # deleted or unreadable: nothing to apply, still acknowledged
                async with self.db.transaction() as session:
                    if await first_receipt(session, shop, message) and order is not None:
                        await OrderRepository(session, shop.tenant_id).upsert(shop, order)
                        applied += 1
                done.append(message.message_id)
            if done:
                await connector.ack_channel(done)
        finally:
            await connector.aclose()
        return applied

    # one shop -----------------------------------------------------------------------------

    async def sync_shop(self, shop: ShopRow) -> SyncResult:
        """Pull one shop; buyer values seen meanwhile are kept out of its log lines."""
        with collect_pii():
            return await self._sync_shop(shop)

    async def _sync_shop(self, shop: ShopRow) -> SyncResult:
        result = SyncResult(shop_id=shop.id)
        if shop.credentials_sealed is None:
            await self._pause(
                shop,
                "no credentials stored: add them with PATCH /v1/shops/{id}",
                "no_credentials",
                result,
            )
            return result
        connector: Connector | None = None
        try:
            connector = self._connector(shop)
            for spec in connector.info.streams:
                if spec.name == "orders":
                    await self._pull_orders(shop, connector, spec, result)
        except ConnectorError as exc:
            await self._failed(shop, exc, result)
            return result
        except SQLAlchemyError as exc:
            # Not the platform's fault, but the shop must not stay leased until the lease
            # runs out: it backs off like a failed pull and the reason is visible.
            await self._failed(
                shop,
                ConnectorError(
                    f"database error ({type(exc).__name__}); will retry", code="database_error"
                ),
                result,
            )
            return result
        except UnknownConnector as exc:
            await self._pause(shop, f"no connector installed for {shop.platform}", str(exc), result)
            return result
        finally:
            if connector is not None:
                await connector.aclose()
        await self._succeeded(shop, result)
        return result

    def _connector(self, shop: ShopRow) -> Connector:
        return build_connector(
            self.box, shop, connectors=self.connectors, base_url=self.base_urls.get(shop.id)
        )

    async def _pull_orders(
        self, shop: ShopRow, connector: Connector, spec: StreamSpec, result: SyncResult
    ) -> None:
        now = utcnow()
        async with self.db.read() as session:
            cursor = await sync_state.read_cursor(session, shop.id, spec.name)
        if cursor and cursor.get("high_water"):
            start = datetime.fromisoformat(cursor["high_water"]) - spec.overlap
        else:
            days = _shop_setting(
                shop, "backfill_days", self.settings.backfill.total_seconds() / 86400
            )
            start = now - timedelta(days=days)
        if spec.max_lookback is not None:
            start = max(start, now - spec.max_lookback)
        for window in plan_windows(start, now, spec):
            await self._pull_window(shop, connector, spec, window, result)
            result.windows += 1
        await self._reconcile(shop, connector, spec, cursor, now, result)

    async def _reconcile(
        self,
        shop: ShopRow,
        connector: Connector,
        spec: StreamSpec,
        cursor: dict[str, Any] | None,
        now: datetime,
        result: SyncResult,
    ) -> None:
        """Re-pull the recent past now and then; the upsert makes it free when nothing was missed."""
        if not cursor:
            return  # the first run was a backfill just now
        every = timedelta(
            minutes=_shop_setting(
                shop, "reconcile_every_minutes", self.settings.reconcile_every.total_seconds() / 60
            )
        )
        last = cursor.get("reconciled_at")
        if last and now - datetime.fromisoformat(last) < every:
            return
        lookback = timedelta(
            hours=_shop_setting(
                shop,
                "reconcile_lookback_hours",
                self.settings.reconcile_lookback.total_seconds() / 3600,
            )
        )
        start = (
            now - lookback
            if spec.max_lookback is None
            else max(now - lookback, now - spec.max_lookback)
        )
        for window in plan_windows(start, now, spec):
            await self._pull_window(shop, connector, spec, window, result, advance_cursor=False)
        async with self.db.transaction() as session:
            current = await sync_state.read_cursor(session, shop.id, spec.name) or {}
            await sync_state.write_cursor(
                session, shop, spec.name, {**current, "reconciled_at": now.isoformat()}
            )
        result.reconciled = True

    async def resync(
        self,
        shop: ShopRow,
        since: datetime,
        until: datetime | None = None,
        *,
        progress: Callable[[int, int], None] | None = None,
    ) -> SyncResult:
        """Re-pull [since, until) for one shop (operator's repair tool); the cursor is untouched."""
        result = SyncResult(shop_id=shop.id)
        connector = self._connector(shop)
        try:
            spec = next(s for s in connector.info.streams if s.name == "orders")
            windows = plan_windows(since, until or utcnow(), spec)
            for done, window in enumerate(windows, start=1):
                await self._pull_window(shop, connector, spec, window, result, advance_cursor=False)
                result.windows += 1
                if progress is not None:
                    progress(done, len(windows))
        finally:
            await connector.aclose()
        return result

    async def _pull_window(
        self,
        shop: ShopRow,
        connector: Connector,
        spec: StreamSpec,
        window: PullWindow,
        result: SyncResult,
        *,
        advance_cursor: bool = True,
    ) -> None:
        page: str | None = None
        while True:
            fetched = await connector.pull_orders(window, page)
            result.pages += 1
            for attempt in range(1, PAGE_ATTEMPTS + 1):
                outcomes: list[str] = []
                try:
                    async with self.db.transaction() as session:
                        orders = OrderRepository(session, shop.tenant_id)
                        for order in fetched.orders:
                            outcomes.append((await orders.upsert(shop, order)).outcome)
                        for failure in fetched.unmapped:
                            await sync_state.record_unmapped(
                                session,
                                shop,
                                failure.platform_order_id,
                                failure.reason,
                                failure.raw,
                            )
                    break
                except DBAPIError as exc:
                    # Another writer (a concurrent sync, the stock pusher) met the same SKUs
                    # in another order and the database broke the deadlock by aborting us:
                    # the page is applied again, nothing of the first try was committed.
                    if attempt == PAGE_ATTEMPTS or not is_transient(exc):
                        raise
                    log.info("sync_page_retried", shop_id=shop.id, attempt=attempt)
                    await asyncio.sleep(random.uniform(0.05, 0.25) * attempt)  # noqa: S311
            for outcome in outcomes:
                setattr(result, outcome, getattr(result, outcome) + 1)
            result.unmapped += len(fetched.unmapped)
            await self._renew_lease(shop)
            page = fetched.next_page
            if page is None:
                break
        if advance_cursor:
            async with self.db.transaction() as session:
                current = await sync_state.read_cursor(session, shop.id, spec.name) or {}
                await sync_state.write_cursor(
                    session, shop, spec.name, {**current, "high_water": window.end.isoformat()}
                )

    async def _renew_lease(self, shop: ShopRow) -> None:
        """Long syncs keep their lease alive page by page, so a lease only expires when its
        worker is gone (and another worker then takes the shop over)."""
        async with self.db.transaction() as session:
            await session.execute(
                update(ShopSyncStateRow)
                .where(
                    ShopSyncStateRow.shop_id == shop.id,
                    ShopSyncStateRow.lease_owner == self.worker_id,
                )
                .values(lease_expires_at=utcnow() + self.settings.lease)
            )

    # outcomes -----------------------------------------------------------------------------

    async def _state(self, session: Any, shop: ShopRow) -> ShopSyncStateRow:
        return await sync_state.ensure_state(session, shop)

    async def _succeeded(self, shop: ShopRow, result: SyncResult) -> None:
        now = utcnow()
        async with self.db.transaction() as session:
            row = await self._state(session, shop)
            row.state = sync_state.IDLE
            row.last_success_at = now
            row.consecutive_failures = 0
            row.orders_seen += result.created
            row.next_run_at = now + timedelta(
                seconds=_shop_setting(
                    shop, "poll_interval_seconds", self.settings.poll_interval.total_seconds()
                )
            )
            row.lease_owner = None
            row.lease_expires_at = None
            row.updated_at = now

    async def _failed(self, shop: ShopRow, exc: ConnectorError, result: SyncResult) -> None:
        result.error = str(exc)
        if isinstance(exc, AuthExpired):
            await self._pause(shop, f"re-authorise the shop: {exc.message}", exc.code, result)
            return
        now = utcnow()
        async with self.db.transaction() as session:
            row = await self._state(session, shop)
            if isinstance(exc, RateLimited):
                # The platform asked us to slow down: wait, but this is not a failure.
                row.state = sync_state.BACKOFF
                row.next_run_at = now + timedelta(seconds=max(exc.retry_after, 1.0))
            else:
                row.state = sync_state.BACKOFF
                row.consecutive_failures += 1
                row.last_error = str(exc)
                row.last_error_code = exc.code
                row.last_error_at = now
                row.next_run_at = now + sync_state.backoff_delay(row.consecutive_failures)
            row.lease_owner = None
            row.lease_expires_at = None
            row.updated_at = now
        log.warning(
            "shop_sync_failed", shop_id=shop.id, error_type=type(exc).__name__, code=exc.code
        )

    async def _pause(
        self, shop: ShopRow, reason: str, code: str | None, result: SyncResult
    ) -> None:
        now = utcnow()
        result.error = reason
        async with self.db.transaction() as session:
            row = await self._state(session, shop)
            row.state = sync_state.PAUSED
            row.paused_reason = reason
            row.last_error = reason
            row.last_error_code = code
            row.last_error_at = now
            row.next_run_at = None
            row.lease_owner = None
            row.lease_expires_at = None
            row.updated_at = now
        log.warning("shop_sync_paused", shop_id=shop.id, code=code)


async def resume_shop(db: Database, shop: ShopRow) -> None:
    """After new credentials (or an operator's resume): clear the pause, run now."""
    async with db.transaction() as session:
        await sync_state.resume_sync(session, shop)
