"""The access audit: every time buyer data leaves ShopBridge in plaintext (an API reveal, a
raw payload, a webhook to an endpoint allowed to receive it, a platform decrypt), one record
says who, what, which fields, why and through which door.

Records never hold the data itself, only field names.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from shopbridge.core.ids import new_id
from shopbridge.core.time import utcnow
from shopbridge.storage.tables import AuditRow

MAX_REASON = 500


@dataclass(frozen=True)
class Access:
    """One disclosure of buyer data, before it is written."""

    actor_type: str
    """`api_key`, `webhook_endpoint` or `cli`."""
    actor_id: str
    action: str
    """`reveal` (masked fields shown in clear), `raw` (native payload), `decrypt` (platform
    decrypt call), `waybill` (receiver handed to a logistics API)."""
    subject_type: str
    subject_id: str | None
    fields: Sequence[str]
    via: str
    reason: str | None = None


def record(session: AsyncSession, tenant_id: str, accesses: Sequence[Access]) -> list[AuditRow]:
    """Adds the records to the session (the caller's transaction commits them)."""
    now = utcnow()
    rows = [
        AuditRow(
            id=new_id("aud"),
            tenant_id=tenant_id,
            actor_type=a.actor_type,
            actor_id=a.actor_id,
            action=a.action,
            subject_type=a.subject_type,
            subject_id=a.subject_id,
            fields=sorted(set(a.fields)),
            reason=(a.reason or None) and a.reason[:MAX_REASON],
            via=a.via[:255],
            created_at=now,
        )
        for a in accesses
    ]
    session.add_all(rows)
    return rows


async def list_records(
    session: AsyncSession,
    tenant_id: str,
    *,
    subject_id: str | None = None,
    actor_id: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    before_id: str | None = None,
    limit: int = 50,
) -> Sequence[AuditRow]:
    """Newest first, paged by id."""
    stmt = select(AuditRow).where(AuditRow.tenant_id == tenant_id)
    if subject_id:
        stmt = stmt.where(AuditRow.subject_id == subject_id)
    if actor_id:
        stmt = stmt.where(AuditRow.actor_id == actor_id)
    if action:
        stmt = stmt.where(AuditRow.action == action)
    if since is not None:
        stmt = stmt.where(AuditRow.created_at >= since)
    if before_id:
        stmt = stmt.where(AuditRow.id < before_id)
    return (await session.scalars(stmt.order_by(AuditRow.id.desc()).limit(limit))).all()


async def prune(session: AsyncSession, older_than: datetime) -> int:
    result = await session.execute(delete(AuditRow).where(AuditRow.created_at < older_than))
    return int(getattr(result, "rowcount", 0) or 0)
