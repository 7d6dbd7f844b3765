"""Orders of one tenant: idempotent upsert with versioning and outbox events, and queries.

The upsert is the single write path for platform orders (sync, push, backfill all use it), so
its rules hold everywhere: a re-read of unchanged data writes nothing, older platform state
never overwrites newer, and every real change bumps `version` and appends exactly one event
in the same transaction.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shopbridge.core import Order, OrderStatus
from shopbridge.core.ids import new_id
from shopbridge.core.time import utcnow
from shopbridge.storage.errors import NotFound
from shopbridge.storage.inventory import Inventory
from shopbridge.storage.outbox import append_event
from shopbridge.storage.tables import OrderLineRow, OrderRow, ShopRow

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
    doc = order.model_dump(mode="json", exclude={"raw"})
    return doc, order.model_dump(mode="json", include={"raw"}).get("raw")


def content_hash(document: dict[str, Any], raw: Any) -> str:
    canonical = {k: v for k, v in document.items() if k not in ("id", "shop_id")}
    blob = json.dumps([canonical, raw], sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8", "surrogatepass")).hexdigest()


def _event_type(previous_status: str | None, status: str) -> str:
    if previous_status is None:
        return ORDER_CREATED
    if status != previous_status and status == OrderStatus.CANCELLED.value:
        return ORDER_CANCELLED
    if status != previous_status:
        return ORDER_STATUS_CHANGED
    return ORDER_UPDATED


def row_to_order(row: OrderRow) -> Order:
    return Order.model_validate({**row.document, "id": row.id, "raw": row.raw})


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
                    return await self._upsert_once(shop, order)
            except IntegrityError:
                # A concurrent writer inserted the same order first; retry as an update.
                if attempt:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def _upsert_once(self, shop: ShopRow, order: Order) -> UpsertResult:
        stmt = (
            select(OrderRow)
            .where(
                OrderRow.shop_id == shop.id, OrderRow.platform_order_id == order.platform_order_id
            )
            .with_for_update()
        )
        row = (await self.session.scalars(stmt)).first()
        order = order.model_copy(update={"shop_id": shop.id, "platform": shop.platform})
        doc, raw = _document(order)
        digest = content_hash(doc, raw)
        now = utcnow()
        if row is None:
            row = OrderRow(
                id=new_id("ord"),
                tenant_id=self.tenant_id,
                shop_id=shop.id,
                platform=shop.platform,
                platform_order_id=order.platform_order_id,
                version=0,
                created_at=now,
            )
            previous_status = None
            self.session.add(row)
        else:
            if (
                row.platform_updated_at is not None
                and order.platform_updated_at is not None
                and order.platform_updated_at < row.platform_updated_at
            ):
                return UpsertResult(row.id, row.version, "stale", None)
            if row.content_hash == digest:
                return UpsertResult(row.id, row.version, "unchanged", None)
            previous_status = row.status
        doc["id"] = row.id
        self._apply(row, order, doc, raw, digest, now)
        await self.session.flush()
        await self._replace_lines(row, order)
        # Stock follows the order in the same transaction: reserved the moment it appears.
        inventory = Inventory(self.session, self.tenant_id, actor=f"order:{row.id}")
        await inventory.apply_order(shop, row, order)
        await inventory.finish()
        event_type = _event_type(previous_status, row.status)
        await append_event(
            self.session,
            tenant_id=self.tenant_id,
            type=event_type,
            shop_id=shop.id,
            subject_id=row.id,
            subject_version=row.version,
            payload={
                "order": doc,
                "previous_status": previous_status,
            },
        )
        return UpsertResult(
            row.id, row.version, "created" if previous_status is None else "updated", event_type
        )

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

    async def _replace_lines(self, row: OrderRow, order: Order) -> None:
        await self.session.execute(delete(OrderLineRow).where(OrderLineRow.order_id == row.id))
        self.session.add_all(
            OrderLineRow(
                order_id=row.id,
                tenant_id=self.tenant_id,
                line_no=index,
                native_id=line.native_id,
                sku=line.sku,
                title=line.title,
                quantity=line.quantity,
                unit_price=str(line.unit_price.amount) if line.unit_price else None,
                total_amount=str(line.total.amount) if line.total else None,
                currency=order.currency,
            )
            for index, line in enumerate(order.lines, start=1)
        )
        await self.session.flush()

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
