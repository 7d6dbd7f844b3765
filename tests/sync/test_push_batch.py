"""Push intake under a burst: pushes are written in batches (a few statements per batch), and
a batch must give exactly what applying its pushes one by one would: one receipt per message
id, one order version and one event per real change, duplicates within the same batch
acknowledged as duplicates, a push that cannot be stored failing alone. The shop a push is
verified with may be a remembered copy: a shop disconnected or given new credentials since
is noticed before anything is stored."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import itertools
import json
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import REGISTRY
from sqlalchemy import func, select

from shopbridge.connectors import Listing
from shopbridge.core import Order
from shopbridge.core.time import utcnow
from shopbridge.storage.crypto import SecretBox
from shopbridge.storage.db import Database
from shopbridge.storage.inventory import Inventory, StockSet
from shopbridge.storage.listings import ListingRepository
from shopbridge.storage.orders import OrderRepository, upsert_orders
from shopbridge.storage.shops import ShopRepository
from shopbridge.storage.tables import (
    ListingRow,
    OrderLineRow,
    OrderRow,
    OutboxEventRow,
    PushReceiptRow,
    ShopRow,
    SkuRow,
    StockLedgerRow,
    StockReservationRow,
)
from shopbridge.storage.tenants import create_tenant
from shopbridge.sync import push as push_intake
from tests.conftest import TenantClient
from tests.connectors.shopify.helpers import load
from tests.factories import later, make_order

SECRET = "batch-test-app-secret"


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def shopify_push(
    domain: str,
    order_id: int,
    *,
    updated: datetime,
    note: str = "",
    webhook_id: str | None = None,
    secret: str = SECRET,
    sku: str | None = None,
) -> tuple[dict[str, str], bytes]:
    order = load("paid_unfulfilled")
    order["id"] = order_id
    order["created_at"] = order["processed_at"] = iso(updated - timedelta(minutes=5))
    order["updated_at"] = iso(updated)
    order["note"] = note
    if sku is not None:
        for item in order["line_items"]:
            item["sku"] = sku
    body = json.dumps(order, separators=(",", ":")).encode()
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    headers = {
        "Content-Type": "application/json",
        "X-Shopify-Topic": "orders/updated",
        "X-Shopify-Hmac-Sha256": base64.b64encode(digest).decode(),
        "X-Shopify-Shop-Domain": domain,
        "X-Shopify-API-Version": "2026-07",
        "X-Shopify-Webhook-Id": webhook_id or secrets.token_hex(16),
        "X-Shopify-Triggered-At": iso(updated),
    }
    return headers, body


@pytest.fixture
async def shop(tenant: TenantClient) -> tuple[str, str]:
    domain = f"batch-{secrets.token_hex(4)}.myshopify.com"
    resp = await tenant.post(
        "/v1/shops",
        json={
            "platform": "shopify",
            "platform_shop_id": domain,
            "display_name": "Batch",
            "credentials": {"access_token": "shpat_batch_test", "app_secret": SECRET},
            "settings": {},
        },
    )
    assert resp.status_code == 201, resp.text
    return str(resp.json()["id"]), domain


async def count(db: Database, stmt: Any) -> int:
    async with db.read() as session:
        return int(await session.scalar(stmt) or 0)


async def post_all(
    anon: httpx.AsyncClient, shop_id: str, pushes: list[tuple[dict[str, str], bytes]]
) -> list[httpx.Response]:
    """All at once, so the intake writes them in as few batches as it can."""
    return list(
        await asyncio.gather(
            *(
                anon.post(f"/v1/push/shopify/{shop_id}", content=body, headers=headers)
                for headers, body in pushes
            )
        )
    )


async def test_a_burst_is_what_one_by_one_would_be(
    app: FastAPI, anon: httpx.AsyncClient, shop: tuple[str, str]
) -> None:
    db: Database = app.state.db
    shop_id, domain = shop
    now = utcnow()
    base = 7_000_000_000 + secrets.randbelow(10**6) * 100
    sku = f"BATCH-{secrets.token_hex(3)}"
    pushes = [shopify_push(domain, base + i, updated=now, sku=sku) for i in range(30)]
    pushes.append(pushes[3])  # the same delivery twice in the burst
    answers = await post_all(anon, shop_id, pushes)
    assert all(r.status_code == 200 for r in answers), [r.text for r in answers]
    bodies = [r.json() for r in answers]
    assert sum(b["accepted"] for b in bodies) == 30
    assert {bodies[3]["duplicates"], bodies[30]["duplicates"]} == {0, 1}
    # Then, in one burst: a real update of order 0, an older state of order 1 (must not
    # overwrite), an unchanged re-send of order 2 (writes nothing), and new orders.
    later_pushes = [
        shopify_push(domain, base, updated=now + timedelta(seconds=1), note="gift", sku=sku),
        shopify_push(domain, base + 1, updated=now - timedelta(minutes=1), sku=sku),
        shopify_push(domain, base + 2, updated=now, sku=sku),
    ]
    answers = await post_all(anon, shop_id, later_pushes)
    assert all(r.status_code == 200 and r.json()["accepted"] == 1 for r in answers)
    pushes += later_pushes

    assert (
        await count(
            db,
            select(func.count())
            .select_from(PushReceiptRow)
            .where(PushReceiptRow.shop_id == shop_id),
        )
        == len(pushes) - 1
    )
    assert (
        await count(
            db, select(func.count()).select_from(OrderRow).where(OrderRow.shop_id == shop_id)
        )
        == 30
    )
    async with db.read() as session:
        rows = {
            r.platform_order_id: r
            for r in await session.scalars(select(OrderRow).where(OrderRow.shop_id == shop_id))
        }
        first = rows[str(base)]
        assert first.version == 2 and rows[str(base + 1)].version == 1
        assert rows[str(base + 2)].version == 1
        events = list(
            await session.scalars(
                select(OutboxEventRow)
                .where(OutboxEventRow.shop_id == shop_id)
                .order_by(OutboxEventRow.seq)
            )
        )
        # one event per real change: 30 creations and the update of order 0, after its creation
        assert len(events) == 31
        of_first = [e for e in events if e.subject_id == first.id]
        assert [(e.type, e.subject_version) for e in of_first] == [
            ("order.created", 1),
            ("order.updated", 2),
        ]
        lines = await session.scalar(
            select(func.count()).select_from(OrderLineRow).where(OrderLineRow.order_id == first.id)
        )
        assert lines == len(load("paid_unfulfilled")["line_items"])
        # stock: every order reserved once, the update reserved nothing more
        quantity = sum(int(i["quantity"]) for i in load("paid_unfulfilled")["line_items"])
        held = await session.scalar(
            select(func.sum(StockReservationRow.quantity)).where(
                StockReservationRow.sku == sku, StockReservationRow.state == "reserved"
            )
        )
        assert held == 30 * quantity
        ledger = list(
            await session.scalars(
                select(StockLedgerRow).where(StockLedgerRow.sku == sku).order_by(StockLedgerRow.id)
            )
        )
        # one ledger row per reserved line, each continuing from the one before
        assert len(ledger) == 30 * len(load("paid_unfulfilled")["line_items"])
        assert ledger[0].reserved_before == 0 and ledger[-1].reserved_after == 30 * quantity
        for before, after in itertools.pairwise(ledger):
            assert after.reserved_before == before.reserved_after


def _created_count() -> float:
    value = REGISTRY.get_sample_value(
        "shopbridge_orders_ingested_total", {"platform": "shopify", "outcome": "created"}
    )
    return value or 0.0


@pytest.mark.parametrize("fails", ["before writing", "after writing"])
async def test_a_push_that_cannot_be_stored_fails_alone(
    app: FastAPI, shop: tuple[str, str], monkeypatch: pytest.MonkeyPatch, fails: str
) -> None:
    db: Database = app.state.db
    anon = httpx.AsyncClient(  # answers 500 instead of raising the app's error here
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
        base_url="http://shopbridge.test",
    )
    shop_id, domain = shop
    now = utcnow()
    base = 8_000_000_000 + secrets.randbelow(10**6) * 100
    bad = str(base + 5)

    def failing(upsert: Callable[..., Any]) -> Callable[..., Any]:
        async def wrapped(*args: Any) -> Any:
            orders = args[-1] if isinstance(args[-1], list) else [(args[-2], args[-1])]
            is_bad = any(order.platform_order_id == bad for _shop, order in orders)
            if is_bad and fails == "before writing":
                raise RuntimeError("cannot store this one")
            result = await upsert(*args)
            if is_bad:  # written, then the unit of work fails and rolls back
                raise RuntimeError("cannot store this one")
            return result

        return wrapped

    monkeypatch.setattr(push_intake, "upsert_orders", failing(push_intake.upsert_orders))
    monkeypatch.setattr(OrderRepository, "upsert", failing(OrderRepository.upsert))
    created_before = _created_count()
    pushes = [shopify_push(domain, base + i, updated=now) for i in range(12)]
    answers = await post_all(anon, shop_id, pushes)
    assert [r.status_code for r in answers] == [500 if i == 5 else 200 for i in range(12)]
    async with db.read() as session:
        stored = set(
            await session.scalars(
                select(OrderRow.platform_order_id).where(OrderRow.shop_id == shop_id)
            )
        )
        received = await session.scalar(
            select(func.count())
            .select_from(PushReceiptRow)
            .where(PushReceiptRow.shop_id == shop_id)
        )
    assert stored == {str(base + i) for i in range(12)} - {bad}
    assert received == 11  # the failed push is not remembered: its retry is applied
    # Each stored order counted once, though batches that held the bad push were written
    # twice (whole, rolled back, then one by one).
    assert _created_count() - created_before == 11

    monkeypatch.undo()
    headers, body = pushes[5]
    retry = await anon.post(f"/v1/push/shopify/{shop_id}", content=body, headers=headers)
    assert retry.status_code == 200 and retry.json()["accepted"] == 1, retry.text
    await anon.aclose()


async def test_a_remembered_shop_is_checked_before_anything_is_stored(
    app: FastAPI, anon: httpx.AsyncClient, tenant: TenantClient, shop: tuple[str, str]
) -> None:
    db: Database = app.state.db
    shop_id, domain = shop
    now = utcnow()
    base = 9_000_000_000 + secrets.randbelow(10**6) * 100
    headers, body = shopify_push(domain, base, updated=now)
    resp = await anon.post(f"/v1/push/shopify/{shop_id}", content=body, headers=headers)
    assert resp.status_code == 200, resp.text  # the shop is remembered from here on

    # New credentials: a push signed with the new secret verifies, the old secret no longer.
    new_secret = "batch-test-rotated-secret"
    resp = await tenant.patch(
        f"/v1/shops/{shop_id}",
        json={"credentials": {"access_token": "shpat_batch_test", "app_secret": new_secret}},
    )
    assert resp.status_code == 200, resp.text
    headers, body = shopify_push(domain, base + 1, updated=now, secret=new_secret)
    resp = await anon.post(f"/v1/push/shopify/{shop_id}", content=body, headers=headers)
    assert resp.status_code == 200 and resp.json()["accepted"] == 1, resp.text
    headers, body = shopify_push(domain, base + 2, updated=now)
    resp = await anon.post(f"/v1/push/shopify/{shop_id}", content=body, headers=headers)
    assert resp.status_code == 401, resp.text

    # Disconnected: refused as an unknown shop, nothing stored.
    resp = await tenant.post(f"/v1/shops/{shop_id}/disconnect")
    assert resp.status_code == 200, resp.text
    headers, body = shopify_push(domain, base + 3, updated=now, secret=new_secret)
    resp = await anon.post(f"/v1/push/shopify/{shop_id}", content=body, headers=headers)
    assert resp.status_code == 404, resp.text
    assert (
        await count(
            db, select(func.count()).select_from(OrderRow).where(OrderRow.shop_id == shop_id)
        )
        == 2
    )


# -- the batch upsert itself ---------------------------------------------------------------


def _line(sku: str, quantity: int, native: str, product: str | None = None) -> dict[str, Any]:
    line: dict[str, Any] = {
        "native_id": native,
        "sku": sku,
        "title": sku,
        "quantity": quantity,
        "unit_price": {"amount": "10.00", "currency": "CNY"},
        "total": {"amount": f"{10 * quantity}.00", "currency": "CNY"},
    }
    if product is not None:
        line["platform_product_id"], line["platform_variant_id"] = product, f"v-{product}"
    return line


def _sequence() -> list[Order]:
    """Orders as a sync page or a burst of pushes may bring them, repeats included."""
    return [
        make_order("B1", lines=[_line("F", 2, "1", "item-0"), _line("G", 1, "2")]),
        make_order("B2", lines=[_line("F", 1, "1", "item-1")], placed_at=later(1)),
        make_order(
            "B1",
            lines=[_line("F", 2, "1", "item-0"), _line("G", 1, "2")],
            status="shipped",
            platform_updated_at=later(2),
        ),
        make_order("B3", lines=[_line("F", 3, "1")], status="cancelled"),
        make_order(
            "B2",
            lines=[_line("F", 1, "1", "item-1")],
            status="cancelled",
            platform_updated_at=later(3),
        ),
        make_order("B4", lines=[_line("NEW-X", 4, "1"), _line("F", 1, "2")]),
        make_order("B4", lines=[_line("NEW-X", 1, "1")], platform_updated_at=later(-5)),
        make_order("B4", lines=[_line("NEW-X", 4, "1"), _line("F", 1, "2")]),
        make_order(
            "B4",
            lines=[_line("NEW-X", 2, "1")],
            seller_note="one line less",
            platform_updated_at=later(4),
        ),
        make_order("B5", lines=[_line("G", 5, "1")], status="cancelled"),
        make_order(
            "B5",
            lines=[_line("G", 5, "1")],
            status="awaiting_shipment",
            platform_updated_at=later(5),
        ),
    ]


async def _tenant_with_stock(db: Database, box: SecretBox) -> ShopRow:
    async with db.transaction() as session:
        tenant = await create_tenant(session, f"batch-{secrets.token_hex(3)}")
        shop, _ = await ShopRepository(session, tenant.id, box).connect(
            platform="taobao",
            platform_shop_id=f"seller-{secrets.token_hex(3)}",
            display_name="batch",
            credentials={"session": "s"},
            settings={},
        )
        listings = ListingRepository(session, tenant.id)
        await listings.upsert_pulled(
            shop,
            [Listing(f"item-{i}", f"v-item-{i}", "F", f"listing {i}", 0) for i in range(2)],
        )
        inventory = Inventory(session, tenant.id, actor="test")
        await inventory.set_stock([StockSet("F", 10, 1), StockSet("G", 10, 1)])
        await inventory.set_rules("F", allocation="split")
        for row in await listings.list(shop_id=shop.id):
            row.pushed_quantity = row.target_quantity
            row.push_state = "idle"
    return shop


async def _state(db: Database, shop: ShopRow) -> dict[str, Any]:
    """Everything the upserts wrote, without ids and times that differ between two runs."""
    async with db.read() as session:
        orders = {
            r.id: r.platform_order_id
            for r in await session.scalars(select(OrderRow).where(OrderRow.shop_id == shop.id))
        }
        rows = await session.scalars(select(OrderRow).where(OrderRow.shop_id == shop.id))
        events = await session.scalars(
            select(OutboxEventRow)
            .where(OutboxEventRow.tenant_id == shop.tenant_id)
            .order_by(OutboxEventRow.seq)
        )
        reservations = await session.scalars(
            select(StockReservationRow).where(StockReservationRow.tenant_id == shop.tenant_id)
        )
        ledger = await session.scalars(
            select(StockLedgerRow)
            .where(StockLedgerRow.tenant_id == shop.tenant_id)
            .order_by(StockLedgerRow.id)
        )
        skus = await session.scalars(select(SkuRow).where(SkuRow.tenant_id == shop.tenant_id))
        listings = await session.scalars(
            select(ListingRow).where(ListingRow.shop_id == shop.id).order_by(ListingRow.id)
        )
        lines = await session.scalars(
            select(OrderLineRow).where(OrderLineRow.tenant_id == shop.tenant_id)
        )
        return {
            "orders": sorted((r.platform_order_id, r.version, r.status) for r in rows),
            "lines": sorted((orders[r.order_id], r.line_no, r.sku, r.quantity) for r in lines),
            "events": [
                (
                    e.type,
                    e.payload["sku"]
                    if e.type == "stock.changed"
                    else orders.get(e.subject_id or "", e.subject_id),
                    e.subject_version,
                    e.payload.get("previous_status"),
                    e.payload if e.type == "stock.changed" else None,
                )
                for e in events
            ],
            "reservations": sorted(
                (orders[r.order_id], r.line_no, r.sku, r.quantity, r.state) for r in reservations
            ),
            "ledger": [
                (
                    r.sku,
                    r.kind,
                    r.reference,
                    r.on_hand_before,
                    r.on_hand_after,
                    r.reserved_before,
                    r.reserved_after,
                )
                for r in ledger
            ],
            "skus": sorted((r.sku, r.on_hand, r.reserved, r.tracked) for r in skus),
            "listings": [
                (
                    r.platform_listing_id,
                    r.target_quantity,
                    r.pushed_quantity,
                    r.platform_quantity,
                    r.push_state,
                )
                for r in listings
            ],
        }


async def test_upsert_orders_equals_upserting_one_by_one(app: FastAPI) -> None:
    db: Database = app.state.db
    one_by_one = await _tenant_with_stock(db, app.state.box)
    batched = await _tenant_with_stock(db, app.state.box)
    async with db.transaction() as session:
        repo = OrderRepository(session, one_by_one.tenant_id)
        expected = [await repo.upsert(one_by_one, order) for order in _sequence()]
    async with db.transaction() as session:
        got = await upsert_orders(session, [(batched, order) for order in _sequence()])
    assert [(r.outcome, r.version, r.event_type) for r in got] == [
        (r.outcome, r.version, r.event_type) for r in expected
    ]
    assert [r.outcome for r in got] == [
        "created",
        "created",
        "updated",
        "created",
        "updated",
        "created",
        "stale",
        "unchanged",
        "updated",
        "created",
        "updated",
    ]
    want, have = await _state(db, one_by_one), await _state(db, batched)
    for part in want:
        assert have[part] == want[part], part
    assert ("NEW-X", 0, 2, False) in have["skus"]  # created untracked, still reserved
