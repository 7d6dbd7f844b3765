"""Transactional outbox: events are appended inside the caller's transaction.

Nothing here commits: the caller's unit of work writes the state change and its event
together, so neither can exist without the other after a crash.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from shopbridge.core.ids import new_id
from shopbridge.core.time import utcnow
from shopbridge.storage.tables import OutboxEventRow


async def append_event(
    session: AsyncSession,
    *,
    tenant_id: str,
    type: str,
    payload: dict[str, Any],
    shop_id: str | None = None,
    subject_id: str | None = None,
    subject_version: int | None = None,
) -> OutboxEventRow:
    row = OutboxEventRow(
        id=new_id("evt"),
        tenant_id=tenant_id,
        shop_id=shop_id,
        type=type,
        subject_id=subject_id,
        subject_version=subject_version,
        payload=payload,
        created_at=utcnow(),
    )
    session.add(row)
    await session.flush()
    return row
