"""Orders of one tenant: idempotent upsert with versioning and outbox events, and queries.

The upsert is the single write path for platform orders (sync, push, backfill all use it), so
its rules hold everywhere: a re-read of unchanged data writes nothing, older platform state
never overwrites newer, and every real change bumps `version` and appends exactly one event
in the same transaction.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shopbridge.core import Order, OrderStatus
from shopbridge.core.ids import new_id
from shopbridge.core.time import utcnow
from shopbridge.storage.errors import NotFound
from shopbridge.storage.inventory import Inventory
from shopbridge.storage.on_commit import on_commit
from shopbridge.storage.outbox import append_events, event_values
from shopbridge.storage.tables import OrderLineRow, OrderRow, OrderSearchRow, ShopRow
from shopbridge.storage.vault import PASSTHROUGH_MARK, open_order, vault_of
from shopbridge.sync.platform_metrics import ORDERS_INGESTED

ORDER_CREATED = "order.created"
ORDER_UPDATED = "order.updated"
ORDER_STATUS_CHANGED = "order.status_changed"
ORDER_CANCELLED = "order.cancelled"
ORDER_EVENT_TYPES = (ORDER_CREATED, ORDER_UPDATED, ORDER_STATUS_CHANGED, ORDER_CANCELLED)


@dataclass(frozen=True)
class UpsertResult:
    order_id: str
    version: int
    outcome: str  # "created" | "updated" | "unchanged" | "stale"
    event_type: str | None


def _document(order: Order) -> tuple[dict[str, Any], Any]:
    doc = order.model_dump(mode="json")  # one pass; the native payload is stored apart
    return doc, doc.pop("raw", None)


def _event_type(previous_status: str | None, status: str) -> str:
    if previous_status is None:
        return ORDER_CREATED
    if status != previous_status and status == OrderStatus.CANCELLED.value:
        return ORDER_CANCELLED
    if status != previous_status:
        return ORDER_STATUS_CHANGED
    return ORDER_UPDATED


@dataclass
class ReadableOrder:
    """An order row with its personal fields opened, for responses (never written back:
    the row itself keeps its ciphertext)."""

    id: str
    tenant_id: str
    shop_id: str
    version: int
    created_at: datetime
    updated_at: datetime
    document: dict[str, Any]
    raw: Any
    buyer_data: str
    """`stored` (vault), `in_memory` (pass-through, not yet delivered) or `dropped`
    (pass-through, delivered or expired: personal fields are absent)."""


async def open_rows(session: AsyncSession, rows: Sequence[OrderRow]) -> list[ReadableOrder]:
    readable = []
    for row in rows:
        opened = await open_order(
            session,
            tenant_id=row.tenant_id,
            order_id=row.id,
            version=row.version,
            document=row.document,
            raw=row.raw,
        )
        passthrough = row.document.get("pii") == PASSTHROUGH_MARK
        readable.append(
            ReadableOrder(
                id=row.id,
                tenant_id=row.tenant_id,
                shop_id=row.shop_id,
                version=row.version,
                created_at=row.created_at,
                updated_at=row.updated_at,
                document=opened.document,
                raw=opened.raw,
                buyer_data=(
                    "stored"
                    if not passthrough
                    else "in_memory"
                    if opened.personal_available
                    else "dropped"
                ),
            )
        )
    return readable


async def load_order(session: AsyncSession, row: OrderRow) -> Order:
    """The unified order of a row, personal fields opened (vault) or recalled (pass-through)."""
    opened = await open_order(
        session,
        tenant_id=row.tenant_id,
        order_id=row.id,
        version=row.version,
        document=row.document,
        raw=row.raw,
    )
    return Order.model_validate({**opened.document, "id": row.id, "raw": opened.raw})


@dataclass
class _Change:
    """One applied change of a batch, in the order it was applied."""

    shop: ShopRow
    row_id: str
    version: int
    order: Order
    event: dict[str, Any]
    stock_events: list[dict[str, Any]] = dataclasses.field(default_factory=list)


def _line_values(tenant_id: str, order_id: str, order: Order) -> list[dict[str, Any]]:
    return [
        {
            "order_id": order_id,
            "tenant_id": tenant_id,
            "line_no": index,
            "native_id": line.native_id,
            "sku": line.sku,
            "title": line.title,
            "quantity": line.quantity,
            "unit_price": str(line.unit_price.amount) if line.unit_price else None,
            "total_amount": str(line.total.amount) if line.total else None,
            "currency": order.currency,
        }
        for index, line in enumerate(order.lines, start=1)
    ]


async def upsert_orders(
    session: AsyncSession, items: Sequence[tuple[ShopRow, Order]]
) -> list[UpsertResult]:
    """Upsert many orders (any tenants) in the caller's transaction, in a few statements for
    the whole list; the result is what upserting them one by one, in list order, would give
    (an order may appear more than once: each occurrence sees the ones before it).

    Nothing is caught here: on any error the caller rolls the whole unit back (the push
    intake then applies the same pushes one by one, each in a savepoint of its own)."""
    if not items:
        return []
    vault = vault_of(session)
    await vault.refresh_if_stale(session)
    rows = await _lock_orders(session, items)
    stored_before = {row.id for row in rows.values()}
    results: list[UpsertResult] = []
    changes: list[_Change] = []
    lines: dict[str, list[dict[str, Any]]] = {}
    search: dict[str, list[dict[str, Any]]] = {}
    for shop, order in items:
        key = (shop.id, order.platform_order_id)
        row = rows.get(key)
        if order.shop_id != shop.id or order.platform != shop.platform:
            order = order.model_copy(update={"shop_id": shop.id, "platform": shop.platform})
        doc, raw = _document(order)
        digest = vault.content_hash(doc, raw)
        now = utcnow()
        if row is None:
            row = OrderRow(
                id=new_id("ord"),
                tenant_id=shop.tenant_id,
                shop_id=shop.id,
                platform=shop.platform,
                platform_order_id=order.platform_order_id,
                version=0,
                created_at=now,
            )
            previous_status = None
            session.add(row)
            rows[key] = row
        else:
            if (
                row.platform_updated_at is not None
                and order.platform_updated_at is not None
                and order.platform_updated_at < row.platform_updated_at
            ):
                results.append(UpsertResult(row.id, row.version, "stale", None))
                continue
            if row.content_hash == digest:
                results.append(UpsertResult(row.id, row.version, "unchanged", None))
                continue
            previous_status = row.status
        doc["id"] = row.id
        stored = vault.protect_order(shop.tenant_id, doc, raw, digest=digest)
        OrderRepository._apply(row, order, stored.document, stored.raw, digest, now)
        vault.remember(row.id, row.version, stored.personal, raw)
        lines[row.id] = _line_values(shop.tenant_id, row.id, order)
        search[row.id] = [
            {"tenant_id": shop.tenant_id, "order_id": row.id, "field": name, "digest": value}
            for name, value in stored.search
        ]
        event_type = _event_type(previous_status, row.status)
        changes.append(
            _Change(
                shop,
                row.id,
                row.version,
                order,
                event=event_values(
                    tenant_id=shop.tenant_id,
                    type=event_type,
                    shop_id=shop.id,
                    subject_id=row.id,
                    subject_version=row.version,
                    payload={"order": stored.document, "previous_status": previous_status},
                ),
            )
        )
        results.append(
            UpsertResult(
                row.id,
                row.version,
                "created" if previous_status is None else "updated",
                event_type,
            )
        )
    if not changes:
        return results
    await session.flush()  # the order rows first: lines and reservations refer to them
    replaced = sorted(set(lines) & stored_before)
    if replaced:
        await session.execute(delete(OrderLineRow).where(OrderLineRow.order_id.in_(replaced)))
        await session.execute(delete(OrderSearchRow).where(OrderSearchRow.order_id.in_(replaced)))
    line_values = [value for values in lines.values() for value in values]
    if line_values:
        await session.execute(insert(OrderLineRow), line_values)
    search_values = [value for values in search.values() for value in values]
    if search_values:
        await session.execute(insert(OrderSearchRow), search_values)
    # Stock follows the order in the same transaction: reserved the moment it appears.
    inventories: dict[str, Inventory] = {}
    for change in changes:
        if change.shop.tenant_id not in inventories:
            inventories[change.shop.tenant_id] = Inventory(
                session, change.shop.tenant_id, actor="orders"
            )
    for tenant_id, inventory in inventories.items():
        await inventory.prepare_orders(
            [
                (c.shop, c.row_id, c.order, c.row_id not in stored_before)
                for c in changes
                if c.shop.tenant_id == tenant_id
            ]
        )
    for change in changes:
        inventory = inventories[change.shop.tenant_id]
        await inventory.apply_order_version(
            change.shop, change.row_id, change.version, change.order
        )
        change.stock_events = inventory.finish_order()
    for inventory in inventories.values():
        await inventory.finish_batch()
    await append_events(session, [event for c in changes for event in (*c.stock_events, c.event)])
    # Counted when the caller's transaction commits: the push intake rolls a failed batch
    # back and writes its pushes again one by one, which must not count them twice.
    ingested = Counter(
        (shop.platform, result.outcome)
        for result, (shop, _) in zip(results, items, strict=True)
        if result.outcome in ("created", "updated")
    )
    on_commit(session, partial(_count_ingested, ingested))
    return results


def _count_ingested(ingested: Counter[tuple[str, str]]) -> None:
    for (platform, outcome), count in ingested.items():
        ORDERS_INGESTED.labels(platform, outcome).inc(count)


async def _lock_orders(
    session: AsyncSession, items: Sequence[tuple[ShopRow, Order]]
) -> dict[tuple[str, str], OrderRow]:
    """The stored rows of the orders, locked, by (shop id, platform order id)."""
    wanted = {(shop.id, order.platform_order_id) for shop, order in items}
    if len(wanted) == 1:
        [(shop_id, platform_order_id)] = wanted
        where = [OrderRow.shop_id == shop_id, OrderRow.platform_order_id == platform_order_id]
    else:
        # Both lists ride the unique (shop_id, platform_order_id) index; pairs that only
        # cross-match (another shop's order of the same number) are dropped below.
        where = [
            OrderRow.shop_id.in_(sorted({shop_id for shop_id, _ in wanted})),
            OrderRow.platform_order_id.in_(sorted({poid for _, poid in wanted})),
        ]
    stmt = select(OrderRow).where(*where).order_by(OrderRow.id).with_for_update()
    found = (await session.scalars(stmt)).all()
    return {
        (row.shop_id, row.platform_order_id): row
        for row in found
        if (row.shop_id, row.platform_order_id) in wanted
    }


class OrderRepository:
    def __init__(self, session: AsyncSession, tenant_id: str) -> None:
        self.session = session
        self.tenant_id = tenant_id

    async def upsert(self, shop: ShopRow, order: Order) -> UpsertResult:
        if shop.tenant_id != self.tenant_id:
            raise NotFound(f"shop {shop.id} not found")
        for attempt in range(2):
            try:
                async with self.session.begin_nested():
                    [result] = await upsert_orders(self.session, [(shop, order)])
                    return result
            except IntegrityError:
                # A concurrent writer inserted the same order first; retry as an update.
                if attempt:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _apply(
        row: OrderRow, order: Order, doc: dict[str, Any], raw: Any, digest: str, now: datetime
    ) -> None:
        row.status = order.status.value
        row.native_status = order.native_status
        row.refund_status = order.refund_status.value
        row.currency = order.currency
        row.total_amount = str(order.total.amount)
        row.placed_at = order.placed_at
        row.platform_updated_at = order.platform_updated_at
        row.version += 1
        row.content_hash = digest
        row.document = doc
        row.raw = raw
        row.updated_at = now

    async def search(
        self,
        criteria: Sequence[tuple[str, str]],
        *,
        shop_id: str | None = None,
        before_id: str | None = None,
        limit: int = 50,
    ) -> Sequence[OrderRow]:
        """Orders matching every (field, plaintext) criterion, by keyed hash only; newest
        first. A value that normalizes to nothing matches nothing."""
        vault = vault_of(self.session)
        stmt = select(OrderRow).where(OrderRow.tenant_id == self.tenant_id)
        for field, value in criteria:
            digest = vault.search_digest(self.tenant_id, field, value)
            if digest is None:
                return []
            stmt = stmt.where(
                OrderRow.id.in_(
                    select(OrderSearchRow.order_id).where(
                        OrderSearchRow.tenant_id == self.tenant_id,
                        OrderSearchRow.field == field,
                        OrderSearchRow.digest == digest,
                    )
                )
            )
        if shop_id:
            stmt = stmt.where(OrderRow.shop_id == shop_id)
        if before_id:
            stmt = stmt.where(OrderRow.id < before_id)
        return (await self.session.scalars(stmt.order_by(OrderRow.id.desc()).limit(limit))).all()

    async def get(self, order_id: str) -> OrderRow:
        stmt = select(OrderRow).where(OrderRow.tenant_id == self.tenant_id, OrderRow.id == order_id)
        row = (await self.session.scalars(stmt)).first()
        if row is None:
            raise NotFound(f"order {order_id} not found")
        return row

    async def get_by_platform_id(self, shop_id: str, platform_order_id: str) -> OrderRow:
        stmt = select(OrderRow).where(
            OrderRow.tenant_id == self.tenant_id,
            OrderRow.shop_id == shop_id,
            OrderRow.platform_order_id == platform_order_id,
        )
        row = (await self.session.scalars(stmt)).first()
        if row is None:
            raise NotFound(f"order {platform_order_id!r} of shop {shop_id} not found")
        return row

    async def list(
        self,
        *,
        shop_id: str | None = None,
        platform: str | None = None,
        statuses: Sequence[str] = (),
        updated_after: datetime | None = None,
        before_id: str | None = None,
        limit: int = 50,
    ) -> Sequence[OrderRow]:
        """Newest first, paged by id (ids are time-ordered ULIDs, so the keyset is stable
        even while orders are being updated)."""
        stmt = select(OrderRow).where(OrderRow.tenant_id == self.tenant_id)
        if shop_id:
            stmt = stmt.where(OrderRow.shop_id == shop_id)
        if platform:
            stmt = stmt.where(OrderRow.platform == platform)
        if statuses:
            stmt = stmt.where(OrderRow.status.in_(list(statuses)))
        if updated_after is not None:
            stmt = stmt.where(OrderRow.updated_at > updated_after)
        if before_id:
            stmt = stmt.where(OrderRow.id < before_id)
        stmt = stmt.order_by(OrderRow.id.desc()).limit(limit)
        return (await self.session.scalars(stmt)).all()
