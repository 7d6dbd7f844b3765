"""The single write path for orders: versioning, no regressions, one outbox event per real
change written in the same transaction, tenant scoping."""

from __future__ import annotations

import secrets

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from shopbridge.storage.crypto import SecretBox
from shopbridge.storage.db import Database
from shopbridge.storage.errors import NotFound
from shopbridge.storage.orders import OrderRepository, load_order
from shopbridge.storage.shops import ShopRepository
from shopbridge.storage.tables import OrderLineRow, OrderRow, OutboxEventRow, ShopRow
from shopbridge.storage.tenants import create_tenant
from tests.factories import later, make_order


@pytest.fixture
async def db(app: FastAPI) -> Database:
    database: Database = app.state.db
    return database


@pytest.fixture
async def shop(db: Database, app: FastAPI) -> ShopRow:
    box: SecretBox = app.state.box
    async with db.transaction() as session:
        tenant = await create_tenant(session, f"store-{secrets.token_hex(3)}")
        row, _ = await ShopRepository(session, tenant.id, box).connect(
            platform="taobao",
            platform_shop_id="seller-1",
            display_name="TB",
            credentials={"session": "s"},
            settings={},
        )
    return row


async def _events(db: Database, order_id: str) -> list[OutboxEventRow]:
    async with db.transaction() as session:
        stmt = (
            select(OutboxEventRow)
            .where(OutboxEventRow.subject_id == order_id)
            .order_by(OutboxEventRow.seq)
        )
        return list((await session.scalars(stmt)).all())


async def test_create_then_unchanged_then_update(db: Database, shop: ShopRow) -> None:
    async with db.transaction() as session:
        created = await OrderRepository(session, shop.tenant_id).upsert(shop, make_order())
    assert created.outcome == "created" and created.version == 1
    assert created.event_type == "order.created"

    async with db.transaction() as session:
        again = await OrderRepository(session, shop.tenant_id).upsert(shop, make_order())
    assert again.outcome == "unchanged" and again.version == 1 and again.event_type is None

    changed = make_order(seller_note="加急", platform_updated_at=later(1))
    async with db.transaction() as session:
        updated = await OrderRepository(session, shop.tenant_id).upsert(shop, changed)
    assert updated.outcome == "updated" and updated.version == 2
    assert updated.event_type == "order.updated"

    events = await _events(db, created.order_id)
    assert [e.type for e in events] == ["order.created", "order.updated"]
    assert [e.subject_version for e in events] == [1, 2]
    assert events[1].payload["order"]["seller_note"] == "加急"


async def test_status_change_and_cancel_events(db: Database, shop: ShopRow) -> None:
    async with db.transaction() as session:
        repo = OrderRepository(session, shop.tenant_id)
        first = await repo.upsert(shop, make_order("111"))
        shipped = await repo.upsert(
            shop,
            make_order(
                "111",
                status="shipped",
                native_status="WAIT_BUYER_CONFIRM_GOODS",
                platform_updated_at=later(5),
            ),
        )
    assert shipped.event_type == "order.status_changed"
    async with db.transaction() as session:
        cancelled = await OrderRepository(session, shop.tenant_id).upsert(
            shop,
            make_order(
                "111",
                status="cancelled",
                native_status="TRADE_CLOSED",
                platform_updated_at=later(9),
            ),
        )
    assert cancelled.event_type == "order.cancelled"
    events = await _events(db, first.order_id)
    assert [e.type for e in events] == ["order.created", "order.status_changed", "order.cancelled"]
    assert events[1].payload["previous_status"] == "awaiting_shipment"


async def test_older_platform_state_never_overwrites_newer(db: Database, shop: ShopRow) -> None:
    async with db.transaction() as session:
        repo = OrderRepository(session, shop.tenant_id)
        await repo.upsert(shop, make_order("222", status="shipped", platform_updated_at=later(10)))
        stale = await repo.upsert(
            shop, make_order("222", status="awaiting_shipment", platform_updated_at=later(2))
        )
    assert stale.outcome == "stale" and stale.version == 1
    async with db.transaction() as session:
        row = await OrderRepository(session, shop.tenant_id).get(stale.order_id)
    assert row.status == "shipped"
    assert len(await _events(db, stale.order_id)) == 1


async def test_change_and_event_commit_together_or_not_at_all(db: Database, shop: ShopRow) -> None:
    with pytest.raises(RuntimeError):
        async with db.transaction() as session:
            await OrderRepository(session, shop.tenant_id).upsert(shop, make_order("333"))
            raise RuntimeError("crash after the write, before commit")
    async with db.transaction() as session:
        orders = await session.scalar(
            select(func.count()).select_from(OrderRow).where(OrderRow.shop_id == shop.id)
        )
        events = await session.scalar(
            select(func.count())
            .select_from(OutboxEventRow)
            .where(OutboxEventRow.shop_id == shop.id)
        )
    assert orders == 0 and events == 0


async def test_document_round_trips_exactly_with_lines(db: Database, shop: ShopRow) -> None:
    order = make_order("444")
    async with db.transaction() as session:
        result = await OrderRepository(session, shop.tenant_id).upsert(shop, order)
    async with db.transaction() as session:
        row = await OrderRepository(session, shop.tenant_id).get(result.order_id)
        lines = (
            await session.scalars(select(OrderLineRow).where(OrderLineRow.order_id == row.id))
        ).all()
    async with db.read() as session:
        loaded = await load_order(session, row)
    expected = order.model_copy(update={"id": row.id, "shop_id": shop.id})
    assert loaded == expected
    assert loaded.total.amount.as_tuple() == order.total.amount.as_tuple()  # scale kept: 108.00
    assert loaded.raw == order.raw
    assert [(ln.sku, ln.quantity, ln.unit_price) for ln in lines] == [("TS-BLK-L", 2, "59.00")]


async def test_repositories_are_tenant_scoped(db: Database, shop: ShopRow) -> None:
    async with db.transaction() as session:
        result = await OrderRepository(session, shop.tenant_id).upsert(shop, make_order("555"))
    async with db.transaction() as session:
        other = OrderRepository(session, "ten_someone_else")
        with pytest.raises(NotFound):
            await other.get(result.order_id)
        with pytest.raises(NotFound):
            await other.get_by_platform_id(shop.id, "555")
        assert await other.list() == []
        with pytest.raises(NotFound):
            await other.upsert(shop, make_order("556"))
