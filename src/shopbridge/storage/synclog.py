"""The sync log's table: one batched insert, a tenant-scoped newest-first list, pruning.

Records are built (and scrubbed of buyer data) by `shopbridge.sync.synclog`; this module only
moves them in and out of the database.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from shopbridge.storage.tables import SyncLogRow


async def insert_batch(session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> None:
    """One INSERT for the whole batch (SQLAlchemy sends it as a multi-row VALUES)."""
    if rows:
        await session.execute(insert(SyncLogRow), list(rows))


async def list_entries(
    session: AsyncSession,
    tenant_id: str,
    *,
    shop_id: str | None = None,
    platform: str | None = None,
    interface: str | None = None,
    outcome: str | None = None,
    failed: bool | None = None,
    since: datetime | None = None,
    before_id: str | None = None,
    limit: int = 50,
) -> Sequence[SyncLogRow]:
    """Newest first (ids are time-ordered), paged by id; `failed` keeps only (or drops)
    records whose outcome is not `ok`."""
    stmt = select(SyncLogRow).where(SyncLogRow.tenant_id == tenant_id)
    if shop_id:
        stmt = stmt.where(SyncLogRow.shop_id == shop_id)
    if platform:
        stmt = stmt.where(SyncLogRow.platform == platform)
    if interface:
        stmt = stmt.where(SyncLogRow.interface == interface)
    if outcome:
        stmt = stmt.where(SyncLogRow.outcome == outcome)
    if failed is not None:
        stmt = stmt.where((SyncLogRow.outcome != "ok") if failed else (SyncLogRow.outcome == "ok"))
    if since is not None:
        stmt = stmt.where(SyncLogRow.created_at >= since)
    if before_id:
        stmt = stmt.where(SyncLogRow.id < before_id)
    return (await session.scalars(stmt.order_by(SyncLogRow.id.desc()).limit(limit))).all()


async def prune(session: AsyncSession, older_than: datetime) -> int:
    """Drop records older than the retention (`sync_log_retention_days`), across tenants;
    one indexed delete on `created_at`."""
    result = await session.execute(delete(SyncLogRow).where(SyncLogRow.created_at < older_than))
    return int(getattr(result, "rowcount", 0) or 0)
