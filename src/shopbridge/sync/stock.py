"""Stock fan-out: push each listing's target quantity to its platform.

Targets are computed by `shopbridge.storage.inventory` in the transaction that changed the
stock; this worker only carries them out:
- coalescing: a listing is claimed with whatever its target is *now*, so a burst of changes
  becomes one push of the latest value;
- decrease before increase: in every round all pushes that lower a listing finish before any
  that raises one, so stock moving between shops is never promised twice, even briefly;
- each platform's rate limit is honoured by its connector; shops are pushed in parallel;
- failures keep their reason on the listing (`last_error`), are retried with backoff, and are
  announced once per failure streak as `stock.push_failed`.
It also refreshes each shop's listings from the platform now and then (new variants, changed
SKU codes), which is what automatic mapping runs on.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update

from shopbridge.connectors import (
    AuthExpired,
    Capability,
    Connector,
    ConnectorError,
    StockUpdate,
    StockUpdateResult,
)
from shopbridge.connectors.registry import UnknownConnector, connector_class
from shopbridge.core.time import utcnow
from shopbridge.logging import get_logger
from shopbridge.storage.crypto import SecretBox
from shopbridge.storage.db import Database
from shopbridge.storage.listings import ListingRepository, ListingSyncResult
from shopbridge.storage.outbox import append_event
from shopbridge.storage.tables import ListingRow, ShopRow
from shopbridge.sync.connect import ConnectorFactory, build_connector
from shopbridge.sync.platform_metrics import STOCK_PUSHES

log = get_logger(__name__)
PUSH_FAILED = "stock.push_failed"
BACKOFF = (5, 30, 120, 600, 1800, 3600)


@dataclass(frozen=True)
class Claimed:
    listing_id: str
    tenant_id: str
    shop_id: str
    platform_listing_id: str
    platform_sku_id: str
    target: int
    previous: int | None

    @property
    def lowers(self) -> bool:
        return self.previous is None or self.target < self.previous


@dataclass
class StockPusher:
    db: Database
    box: SecretBox
    connectors: ConnectorFactory = connector_class
    worker_id: str = field(
        default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:{os.urandom(3).hex()}"
    )
    lease: timedelta = timedelta(seconds=120)
    poll_interval: float = 0.2
    batch: int = 500
    listing_refresh: timedelta = timedelta(minutes=15)
    base_urls: dict[str, str] = field(default_factory=dict)
    tenant_ids: frozenset[str] | None = None
    _refreshed: dict[str, datetime] = field(default_factory=dict)

    async def run_forever(self, stop: asyncio.Event) -> None:
        log.info("stock_pusher_started", worker=self.worker_id)
        while not stop.is_set():
            try:
                pushed = await self.run_once()
                await self.refresh_due_listings()
            except Exception as exc:  # keep pushing; the cause is logged by type
                log.error("stock_push_cycle_failed", error_type=type(exc).__name__)
                pushed = 0
            if not pushed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.poll_interval)

    # -- pushes ------------------------------------------------------------------------------

    async def run_once(self) -> int:
        """Push every due listing once (decreases first); returns how many were attempted."""
        claimed = await self._claim()
        if not claimed:
            return 0
        by_shop: dict[str, list[Claimed]] = defaultdict(list)
        for item in claimed:
            by_shop[item.shop_id].append(item)
        async with self.db.read() as session:
            shops = {
                s.id: s
                for s in (
                    await session.scalars(select(ShopRow).where(ShopRow.id.in_(list(by_shop))))
                ).all()
            }
        outcomes: dict[str, str | None] = {}
        for lowering in (True, False):
            phase = {
                shop_id: [i for i in items if i.lowers == lowering]
                for shop_id, items in by_shop.items()
            }
            results = await asyncio.gather(
                *(
                    self._push_shop(shops.get(shop_id), items)
                    for shop_id, items in phase.items()
                    if items
                )
            )
            for result in results:
                outcomes.update(result)
        await self._record(claimed, outcomes)
        for item in claimed:
            shop = shops.get(item.shop_id)
            outcome = "ok" if outcomes.get(item.listing_id, "not attempted") is None else "failed"
            STOCK_PUSHES.labels(shop.platform if shop else "unknown", outcome).inc()
        return len(claimed)

    async def _claim(self) -> list[Claimed]:
        now = utcnow()
        due = (
            select(ListingRow.id)
            .where(
                ListingRow.push_state.in_(("pending", "failed")),
                ListingRow.next_push_at <= now,
                ListingRow.target_quantity.is_not(None),
                or_(ListingRow.lease_expires_at.is_(None), ListingRow.lease_expires_at < now),
            )
            .order_by(ListingRow.next_push_at)
            .limit(self.batch)
        )
        if self.tenant_ids is not None:
            due = due.where(ListingRow.tenant_id.in_(self.tenant_ids))
        async with self.db.read() as session:
            ids = list((await session.scalars(due)).all())
        if not ids:
            return []
        expires = now + self.lease
        async with self.db.transaction() as session:
            await session.execute(
                update(ListingRow)
                .where(
                    ListingRow.id.in_(ids),
                    or_(ListingRow.lease_expires_at.is_(None), ListingRow.lease_expires_at < now),
                )
                .values(lease_owner=self.worker_id, lease_expires_at=expires)
            )
            rows = (
                await session.scalars(
                    select(ListingRow).where(
                        ListingRow.id.in_(ids),
                        ListingRow.lease_owner == self.worker_id,
                        ListingRow.lease_expires_at == expires,
                    )
                )
            ).all()
        return [
            Claimed(
                r.id,
                r.tenant_id,
                r.shop_id,
                r.platform_listing_id,
                r.platform_sku_id,
                int(r.target_quantity or 0),
                r.pushed_quantity if r.pushed_quantity is not None else r.platform_quantity,
            )
            for r in rows
        ]

    def _connector(self, shop: ShopRow) -> Connector:
        return build_connector(
            self.box, shop, connectors=self.connectors, base_url=self.base_urls.get(shop.id)
        )

    async def _push_shop(self, shop: ShopRow | None, items: list[Claimed]) -> dict[str, str | None]:
        """Outcome per listing: None when the platform took it, else the reason."""
        if shop is None or shop.status != "active" or shop.credentials_sealed is None:
            state = "not connected" if shop is None else shop.status
            return {i.listing_id: f"shop is {state}; nothing was pushed" for i in items}
        try:
            connector = self._connector(shop)
        except UnknownConnector as exc:
            return {i.listing_id: str(exc) for i in items}
        if Capability.STOCK_UPDATE not in connector.info.capabilities:
            await connector.aclose()
            return {i.listing_id: f"{shop.platform} does not accept stock updates" for i in items}
        updates = [
            StockUpdate(i.platform_listing_id, i.platform_sku_id or None, i.target) for i in items
        ]
        try:
            results: list[StockUpdateResult] = await connector.update_stock(updates)
        except AuthExpired as exc:
            return {i.listing_id: f"re-authorise the shop: {exc}" for i in items}
        except ConnectorError as exc:
            return {i.listing_id: str(exc) for i in items}
        finally:
            await connector.aclose()
        return {
            item.listing_id: (None if result.ok else (result.error or "refused"))
            for item, result in zip(items, results, strict=True)
        }

    async def _record(self, claimed: list[Claimed], outcomes: dict[str, str | None]) -> None:
        now = utcnow()
        async with self.db.transaction() as session:
            rows = {
                r.id: r
                for r in (
                    await session.scalars(
                        select(ListingRow).where(ListingRow.id.in_([c.listing_id for c in claimed]))
                    )
                ).all()
            }
            for item in claimed:
                row = rows.get(item.listing_id)
                if row is None:
                    continue
                error = outcomes.get(item.listing_id, "not attempted")
                row.lease_owner = None
                row.lease_expires_at = None
                if error is None:
                    row.pushed_quantity = item.target
                    row.platform_quantity = item.target
                    row.pushed_at = now
                    row.push_attempts = 0
                    row.last_error = None
                    # Coalescing: a target that moved while we pushed stays due.
                    done = row.target_quantity == item.target
                    row.push_state = "idle" if done else "pending"
                    row.next_push_at = None if done else now
                    continue
                first_failure = row.push_state != "failed"
                row.push_attempts += 1
                row.push_state = "failed"
                row.last_error = error
                row.last_error_at = now
                delay = BACKOFF[min(row.push_attempts, len(BACKOFF)) - 1]
                row.next_push_at = now + timedelta(seconds=delay)
                if first_failure:
                    await append_event(
                        session,
                        tenant_id=row.tenant_id,
                        type=PUSH_FAILED,
                        shop_id=row.shop_id,
                        subject_id=row.id,
                        payload={
                            "listing_id": row.id,
                            "shop_id": row.shop_id,
                            "platform_listing_id": row.platform_listing_id,
                            "platform_sku_id": row.platform_sku_id or None,
                            "quantity": item.target,
                            "error": error,
                        },
                    )
                log.warning("stock_push_failed", listing=row.id, shop=row.shop_id, reason=error)

    # -- listings ------------------------------------------------------------------------------

    async def refresh_due_listings(self) -> None:
        async with self.db.read() as session:
            stmt = select(ShopRow).where(ShopRow.status == "active")
            if self.tenant_ids is not None:
                stmt = stmt.where(ShopRow.tenant_id.in_(self.tenant_ids))
            shops = (await session.scalars(stmt)).all()
        now = utcnow()
        for shop in shops:
            last = self._refreshed.get(shop.id)
            if last is not None and now - last < self.listing_refresh:
                continue
            self._refreshed[shop.id] = now
            try:
                await sync_listings(
                    self.db,
                    self.box,
                    shop,
                    connectors=self.connectors,
                    base_url=self.base_urls.get(shop.id),
                )
            except (ConnectorError, NotImplementedError, UnknownConnector) as exc:
                log.info("listing_refresh_skipped", shop=shop.id, reason=str(exc)[:200])


async def sync_listings(
    db: Database,
    box: SecretBox,
    shop: ShopRow,
    *,
    connectors: ConnectorFactory = connector_class,
    base_url: str | None = None,
    max_pages: int = 1000,
) -> ListingSyncResult:
    """Pull every page of the shop's listings, then record them in one transaction."""
    connector = build_connector(box, shop, connectors=connectors, base_url=base_url)
    try:
        if Capability.LISTINGS_PULL not in connector.info.capabilities:
            raise NotImplementedError(f"{shop.platform} does not list its listings")
        listings = []
        page: str | None = None
        for _ in range(max_pages):
            result = await connector.pull_listings(page)
            listings.extend(result.listings)
            page = result.next_page
            if page is None:
                break
    finally:
        await connector.aclose()
    async with db.transaction() as session:
        return await ListingRepository(session, shop.tenant_id, actor="listing-sync").upsert_pulled(
            shop, listings
        )
