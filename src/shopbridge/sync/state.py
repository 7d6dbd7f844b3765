"""Sync bookkeeping per shop: leases (so two workers never sync one shop at once), when each
shop runs next, and the last outcome with its reason."""

from __future__ import annotations

import random
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from shopbridge.core.time import utcnow
from shopbridge.logging import scrub
from shopbridge.storage.tables import ShopRow, ShopSyncStateRow, SyncCursorRow, UnmappedPayloadRow
from shopbridge.storage.vault import vault_of

IDLE = "idle"
SYNCING = "syncing"
BACKOFF = "backoff"
PAUSED = "paused"

MAX_BACKOFF = timedelta(minutes=10)


def backoff_delay(failures: int, *, base: float = 5.0) -> timedelta:
    """Exponential backoff with full jitter, capped: 5 s, 10 s, 20 s … 10 min."""
    ceiling = min(base * 2 ** max(failures - 1, 0), MAX_BACKOFF.total_seconds())
    return timedelta(seconds=random.uniform(ceiling / 2, ceiling))  # noqa: S311 - jitter, not crypto


async def ensure_state(session: AsyncSession, shop: ShopRow) -> ShopSyncStateRow:
    row = await session.get(ShopSyncStateRow, shop.id)
    if row is None:
        row = ShopSyncStateRow(
            shop_id=shop.id,
            tenant_id=shop.tenant_id,
            state=IDLE,
            next_run_at=utcnow(),
            consecutive_failures=0,
            orders_seen=0,
            updated_at=utcnow(),
        )
        session.add(row)
        await session.flush()
    return row


async def claim_due_shops(
    session: AsyncSession,
    owner: str,
    *,
    lease: timedelta,
    limit: int,
    now: datetime | None = None,
    shop_ids: Collection[str] | None = None,
) -> Sequence[tuple[ShopRow, ShopSyncStateRow]]:
    """Lease up to `limit` active shops whose next run is due and whose lease is free.

    On PostgreSQL `FOR UPDATE SKIP LOCKED` lets many workers claim concurrently without
    blocking each other; on SQLite the write transaction itself serialises claims.
    """
    now = now or utcnow()
    stmt = (
        select(ShopRow, ShopSyncStateRow)
        .join(ShopSyncStateRow, ShopSyncStateRow.shop_id == ShopRow.id)
        .where(
            ShopRow.status == "active",
            ShopSyncStateRow.state != PAUSED,
            ShopSyncStateRow.next_run_at <= now,
            or_(
                ShopSyncStateRow.lease_expires_at.is_(None), ShopSyncStateRow.lease_expires_at < now
            ),
        )
        .order_by(ShopSyncStateRow.next_run_at)
        .limit(limit)
        .with_for_update(skip_locked=True, of=ShopSyncStateRow)
    )
    if shop_ids is not None:
        stmt = stmt.where(ShopRow.id.in_(list(shop_ids)))
    claimed = []
    for shop, state in (await session.execute(stmt)).all():
        state.lease_owner = owner
        state.lease_expires_at = now + lease
        state.state = SYNCING
        state.last_attempt_at = now
        state.updated_at = now
        claimed.append((shop, state))
    await session.flush()
    return claimed


async def register_new_shops(session: AsyncSession) -> int:
    """Give every shop without sync state one, due now (first connect → backfill)."""
    stmt = (
        select(ShopRow)
        .outerjoin(ShopSyncStateRow, ShopSyncStateRow.shop_id == ShopRow.id)
        .where(and_(ShopSyncStateRow.shop_id.is_(None), ShopRow.status == "active"))
    )
    shops = (await session.scalars(stmt)).all()
    for shop in shops:
        await ensure_state(session, shop)
    return len(shops)


async def read_cursor(session: AsyncSession, shop_id: str, stream: str) -> dict[str, Any] | None:
    row = await session.get(SyncCursorRow, (shop_id, stream))
    return dict(row.cursor) if row else None


async def write_cursor(
    session: AsyncSession, shop: ShopRow, stream: str, cursor: dict[str, Any]
) -> None:
    row = await session.get(SyncCursorRow, (shop.id, stream))
    if row is None:
        session.add(
            SyncCursorRow(
                shop_id=shop.id,
                stream=stream,
                tenant_id=shop.tenant_id,
                cursor=cursor,
                updated_at=utcnow(),
            )
        )
    else:
        row.cursor = cursor
        row.updated_at = utcnow()
    await session.flush()


async def record_unmapped(
    session: AsyncSession, shop: ShopRow, platform_order_id: str | None, reason: str, raw: Any
) -> None:
    """Keeps a payload that did not map, sealed like every native payload (pass-through
    retention keeps only the reason: the payload is buyer data)."""
    vault = vault_of(session)
    raw = None if vault.passthrough or raw is None else vault.seal_value(raw, shop.tenant_id)
    reason = scrub(reason)[:2000]  # a mapping error may quote a buyer's value
    now = utcnow()
    stmt = select(UnmappedPayloadRow).where(
        UnmappedPayloadRow.shop_id == shop.id,
        UnmappedPayloadRow.platform_order_id == platform_order_id,
        UnmappedPayloadRow.reason == reason,
    )
    row = (await session.scalars(stmt)).first()
    if row is None:
        session.add(
            UnmappedPayloadRow(
                tenant_id=shop.tenant_id,
                shop_id=shop.id,
                platform_order_id=platform_order_id,
                reason=reason,
                raw=raw,
                first_seen_at=now,
                last_seen_at=now,
                occurrences=1,
            )
        )
    else:
        row.raw = raw
        row.last_seen_at = now
        row.occurrences += 1
    await session.flush()


@dataclass(frozen=True)
class SyncStatus:
    state: str
    last_success_at: datetime | None
    last_attempt_at: datetime | None
    next_run_at: datetime | None
    lag_seconds: float | None
    consecutive_failures: int
    paused_reason: str | None
    last_error: str | None
    last_error_code: str | None
    last_error_at: datetime | None
    unmapped: int


async def sync_status(session: AsyncSession, shop_id: str, *, stream: str = "orders") -> SyncStatus:
    row = await session.get(ShopSyncStateRow, shop_id)
    cursor = await read_cursor(session, shop_id, stream)
    lag = None
    if cursor and cursor.get("high_water"):
        lag = max((utcnow() - datetime.fromisoformat(cursor["high_water"])).total_seconds(), 0.0)
    unmapped = await session.scalar(
        select(func.count())
        .select_from(UnmappedPayloadRow)
        .where(UnmappedPayloadRow.shop_id == shop_id)
    )
    if row is None:
        return SyncStatus(
            "never_run", None, None, None, lag, 0, None, None, None, None, int(unmapped or 0)
        )
    return SyncStatus(
        row.state,
        row.last_success_at,
        row.last_attempt_at,
        row.next_run_at,
        lag,
        row.consecutive_failures,
        row.paused_reason,
        row.last_error,
        row.last_error_code,
        row.last_error_at,
        int(unmapped or 0),
    )


async def resume_sync(session: AsyncSession, shop: ShopRow) -> None:
    """Lift a pause (new credentials, operator resume) and run the shop now."""
    row = await ensure_state(session, shop)
    row.state = IDLE
    row.paused_reason = None
    row.next_run_at = utcnow()
    row.updated_at = utcnow()
