"""Transactional outbox: events are appended inside the caller's transaction.

Nothing here commits: the caller's unit of work writes the state change and its event
together, so neither can exist without the other after a crash.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from shopbridge.core.ids import new_id
from shopbridge.core.time import utcnow
from shopbridge.storage.on_commit import on_commit
from shopbridge.storage.tables import OutboxEventRow

_subscribers: weakref.WeakKeyDictionary[asyncio.Event, asyncio.AbstractEventLoop] = (
    weakref.WeakKeyDictionary()
)


def subscribe() -> asyncio.Event:
    """An event set whenever a transaction of this process that appended outbox events has
    committed (the dispatcher waits on it instead of only polling; events written by other
    processes are still found by polling)."""
    flag = asyncio.Event()
    _subscribers[flag] = asyncio.get_running_loop()
    return flag


def _mark(session: AsyncSession) -> None:
    # Once per transaction is enough, but a mark made in a savepoint that rolls back is
    # forgotten with it (`on_commit`), so every append marks.
    on_commit(session, _notify)


def _notify() -> None:
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    for flag, loop in list(_subscribers.items()):
        if loop is running:
            flag.set()
        elif not loop.is_closed():
            loop.call_soon_threadsafe(flag.set)


def event_values(
    *,
    tenant_id: str,
    type: str,
    payload: dict[str, Any],
    shop_id: str | None = None,
    subject_id: str | None = None,
    subject_version: int | None = None,
) -> dict[str, Any]:
    """One event as the column values `append_events` writes (its id is given here)."""
    return {
        "id": new_id("evt"),
        "tenant_id": tenant_id,
        "shop_id": shop_id,
        "type": type,
        "subject_id": subject_id,
        "subject_version": subject_version,
        "payload": payload,
        "created_at": utcnow(),
    }


async def append_events(session: AsyncSession, events: Sequence[dict[str, Any]]) -> None:
    """Many events (`event_values`) in one statement, in list order (the order of their
    `seq`, so the feed sequences them as if appended one by one)."""
    if events:
        await session.execute(insert(OutboxEventRow), list(events))
        _mark(session)


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
    _mark(session)
    return row
