"""The event feed: sequencing outbox events in commit order, reading them, pruning them.

Outbox rows get `seq` at insert, but on PostgreSQL two transactions can commit in the other
order, so a feed keyed on `seq` could let a reader's cursor pass an event that commits a
moment later: a lost event. Instead one sequencer at a time (it locks the `feed` counter row)
hands out `position` to committed, unsequenced events. Positions are therefore assigned in
commit order, every position up to the counter's value is visible once the counter is, and
the feed reads only up to that value. The same step fans events out to webhook endpoints.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shopbridge.core.ids import new_id
from shopbridge.core.time import utcnow
from shopbridge.storage.db import Database
from shopbridge.storage.scoping import unscoped
from shopbridge.storage.tables import (
    CounterRow,
    OutboxEventRow,
    WebhookDeliveryRow,
    WebhookEndpointRow,
)

FEED_COUNTER = "feed"
PRUNED_COUNTER = "feed_pruned_through"


class CursorExpired(Exception):
    """The cursor points before the oldest retained event: events were pruned in between."""

    def __init__(self, oldest_cursor: int) -> None:
        super().__init__(f"events up to position {oldest_cursor} were removed by retention")
        self.oldest_cursor = oldest_cursor


class CursorAhead(Exception):
    """The cursor is past the end of the feed: it was not issued by this installation."""


async def _counter(session: AsyncSession, name: str, *, lock: bool = False) -> int:
    if lock:
        # A no-op UPDATE takes the row lock (held until commit) on both backends.
        result = await session.execute(
            update(CounterRow).where(CounterRow.name == name).values(value=CounterRow.value)
        )
        if getattr(result, "rowcount", 0) == 0:
            session.add(CounterRow(name=name, value=0))
            await session.flush()
    value = await session.scalar(select(CounterRow.value).where(CounterRow.name == name))
    return int(value or 0)


async def _set_counter(session: AsyncSession, name: str, value: int) -> None:
    await session.execute(update(CounterRow).where(CounterRow.name == name).values(value=value))


async def has_unsequenced(session: AsyncSession) -> bool:
    stmt = select(OutboxEventRow.seq).where(OutboxEventRow.dispatched_at.is_(None)).limit(1)
    return (await session.scalar(stmt)) is not None


def endpoint_matches(endpoint: WebhookEndpointRow, event_type: str, shop_id: str | None) -> bool:
    """Empty filters mean everything; tenant-level events (no shop) ignore the shop filter."""
    if event_type == "webhook.test":
        return False
    if endpoint.event_types and event_type not in endpoint.event_types:
        return False
    return not (endpoint.shop_ids and shop_id is not None and shop_id not in endpoint.shop_ids)


@dataclass(frozen=True)
class SequencedEvent:
    seq: int
    id: str
    tenant_id: str
    shop_id: str | None
    type: str
    subject_id: str | None
    position: int


async def sequence_pending(session: AsyncSession, *, limit: int = 1000) -> list[SequencedEvent]:
    """Give the oldest committed unsequenced events their feed positions and create their
    webhook deliveries, in the caller's transaction (which must commit promptly: it holds
    the sequencer lock)."""
    high = await _counter(session, FEED_COUNTER, lock=True)
    cols = (
        OutboxEventRow.seq,
        OutboxEventRow.id,
        OutboxEventRow.tenant_id,
        OutboxEventRow.shop_id,
        OutboxEventRow.type,
        OutboxEventRow.subject_id,
    )
    rows = (
        await session.execute(
            select(*cols)
            .where(OutboxEventRow.dispatched_at.is_(None))
            .order_by(OutboxEventRow.seq)
            .limit(limit)
        )
    ).all()
    if not rows:
        return []
    now = utcnow()
    events = [
        SequencedEvent(r.seq, r.id, r.tenant_id, r.shop_id, r.type, r.subject_id, high + i)
        for i, r in enumerate(rows, start=1)
    ]
    await session.execute(
        update(OutboxEventRow),
        [{"seq": e.seq, "position": e.position, "dispatched_at": now} for e in events],
    )
    await _set_counter(session, FEED_COUNTER, events[-1].position)
    await fan_out(session, events, now)
    return events


async def fan_out(
    session: AsyncSession, events: Sequence[SequencedEvent], now: datetime | None = None
) -> int:
    """One delivery per (event, enabled endpoint whose filters match)."""
    now = now or utcnow()
    tenants = {e.tenant_id for e in events}
    endpoints = (
        await session.scalars(
            select(WebhookEndpointRow).where(
                WebhookEndpointRow.tenant_id.in_(tenants), WebhookEndpointRow.enabled.is_(True)
            )
        )
    ).all()
    if not endpoints:
        return 0
    deliveries = [
        {
            "id": new_id("del"),
            "tenant_id": e.tenant_id,
            "endpoint_id": ep.id,
            "event_id": e.id,
            "position": e.position,
            "ordering_key": e.subject_id or e.id,
            "state": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for e in events
        for ep in endpoints
        if ep.tenant_id == e.tenant_id and endpoint_matches(ep, e.type, e.shop_id)
    ]
    if deliveries:
        await session.execute(insert(WebhookDeliveryRow), deliveries)
    return len(deliveries)


@dataclass(frozen=True)
class FeedPage:
    events: list[OutboxEventRow]
    next_cursor: int
    has_more: bool


async def read_feed(
    session: AsyncSession,
    tenant_id: str,
    *,
    after: int | None,
    limit: int,
    types: Sequence[str] = (),
    shop_id: str | None = None,
) -> FeedPage:
    """Events after `after` in position order. With filters, the cursor still moves past
    the events that did not match, so a filtered reader never rescans them."""
    high = await _counter(session, FEED_COUNTER)
    pruned = await _counter(session, PRUNED_COUNTER)
    if after is not None and after < pruned:
        raise CursorExpired(pruned)
    if after is not None and after > high:
        raise CursorAhead(f"cursor {after} is beyond the newest event ({high})")
    lower = after if after is not None else pruned
    stmt = select(OutboxEventRow).where(
        OutboxEventRow.tenant_id == tenant_id,
        OutboxEventRow.position > lower,
        OutboxEventRow.position <= high,
    )
    if types:
        stmt = stmt.where(OutboxEventRow.type.in_(list(types)))
    if shop_id:
        stmt = stmt.where(OutboxEventRow.shop_id == shop_id)
    rows = list(
        (await session.scalars(stmt.order_by(OutboxEventRow.position).limit(limit + 1))).all()
    )
    if len(rows) > limit:
        shown = rows[:limit]
        return FeedPage(shown, int(shown[-1].position or lower), True)
    return FeedPage(rows, high, False)


async def get_event(session: AsyncSession, tenant_id: str, event_id: str) -> OutboxEventRow | None:
    stmt = select(OutboxEventRow).where(
        OutboxEventRow.tenant_id == tenant_id, OutboxEventRow.id == event_id
    )
    return (await session.scalars(stmt)).first()


async def prune_events(session: AsyncSession, *, older_than: datetime) -> int:
    """Drop events (and their finished deliveries) older than retention. Never drops an event
    that still has a pending delivery; records how far it went so old cursors get a clear
    `cursor-expired` instead of silently skipping."""
    await _counter(session, FEED_COUNTER, lock=True)
    pruned = await _counter(session, PRUNED_COUNTER)
    limit = await session.scalar(
        select(func.max(OutboxEventRow.position)).where(
            OutboxEventRow.position.is_not(None), OutboxEventRow.created_at < older_than
        )
    )
    if limit is None:
        return 0
    oldest_pending = await session.scalar(
        select(func.min(WebhookDeliveryRow.position)).where(WebhookDeliveryRow.state == "pending")
    )
    if oldest_pending is not None and oldest_pending <= limit:
        limit = oldest_pending - 1
    if limit <= pruned:
        return 0
    await session.execute(delete(WebhookDeliveryRow).where(WebhookDeliveryRow.position <= limit))
    result = await session.execute(
        delete(OutboxEventRow).where(
            OutboxEventRow.position.is_not(None), OutboxEventRow.position <= limit
        )
    )
    await _set_counter(session, PRUNED_COUNTER, int(limit))
    return int(getattr(result, "rowcount", 0) or 0)


async def sequence_committed(db: Database, *, limit: int = 1000) -> list[SequencedEvent]:
    """Sequence whatever has committed, skipping the write transaction (and, on SQLite, the
    writer lock) when there is nothing to do: the API's feed calls this on every poll.
    Sequencing is global (one feed order for all tenants), so it runs unscoped even when a
    tenant's request triggers it. (The dispatcher sequences inside its own rounds.)"""
    with unscoped():
        async with db.read() as session:
            if not await has_unsequenced(session):
                return []
        async with db.write_turn(), db.transaction() as session:
            return await sequence_pending(session, limit=limit)
