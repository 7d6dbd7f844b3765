"""Counts for the overview that the API has no list endpoint for: orders ingested in the last
5 minutes and hour, and outbox events not yet handed to delivery.

Why read the database here when everything else goes through the API: these are aggregates
(no row, no buyer data leaves), and counting them through paged list calls would read up to
tens of thousands of orders every two seconds during a flash sale. The caller has already
proven the key (and its `orders:read` / `events:read` scope) through `/v1/me`; the queries
filter by the key's tenant and run with that tenant bound (`bind_tenant`), so the storage
layer's scoping guards them like any request.

Order ids are time-ordered ULIDs, so "created since T" is a range on the `(tenant_id, id)`
index, not a scan. Results are cached per tenant for a few seconds: every open dashboard
tab refreshes every two seconds, the numbers need not be fresher than that.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select

from shopbridge.core.time import utcnow
from shopbridge.storage.db import Database
from shopbridge.storage.scoping import bind_tenant
from shopbridge.storage.tables import OrderRow, OutboxEventRow

CACHE_SECONDS = 5.0
_CACHE_LIMIT = 1024
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


@dataclass(frozen=True)
class Throughput:
    orders_5m: int | None
    orders_1h: int | None
    outbox_backlog: int | None


_cache: dict[tuple[str, bool, bool], tuple[float, Throughput]] = {}


def ulid_floor(prefix: str, at: datetime) -> str:
    """The smallest id of type `prefix` minted at or after `at` (`shopbridge.core.ids`
    layout: 10 Crockford characters of Unix milliseconds, then 16 of randomness)."""
    ms = int(at.timestamp() * 1000)
    chars = []
    for _ in range(10):
        chars.append(_CROCKFORD[ms & 31])
        ms >>= 5
    return f"{prefix}_{''.join(reversed(chars))}{'0' * 16}"


async def throughput(
    db: Database, tenant_id: str, *, orders: bool, outbox: bool, now: datetime | None = None
) -> Throughput:
    """Counts for `tenant_id`; a count the key may not see (`orders` / `outbox` false) is None."""
    key = (tenant_id, orders, outbox)
    cached = _cache.get(key)
    if cached is not None and time.monotonic() - cached[0] < CACHE_SECONDS:
        return cached[1]
    now = now or utcnow()
    bind_tenant(tenant_id)  # this request's own task: the binding ends with it
    orders_5m = orders_1h = backlog = None
    async with db.read() as session:
        if orders:
            counts = []
            for window in (timedelta(minutes=5), timedelta(hours=1)):
                counted = await session.scalar(
                    select(func.count())
                    .select_from(OrderRow)
                    .where(
                        OrderRow.tenant_id == tenant_id,
                        OrderRow.id >= ulid_floor("ord", now - window),
                    )
                )
                counts.append(int(counted or 0))
            orders_5m, orders_1h = counts
        if outbox:
            backlog = int(
                await session.scalar(
                    select(func.count())
                    .select_from(OutboxEventRow)
                    .where(
                        OutboxEventRow.dispatched_at.is_(None),
                        OutboxEventRow.tenant_id == tenant_id,
                    )
                )
                or 0
            )
    result = Throughput(orders_5m, orders_1h, backlog)
    if len(_cache) >= _CACHE_LIMIT:
        _cache.clear()
    _cache[key] = (time.monotonic(), result)
    return result
