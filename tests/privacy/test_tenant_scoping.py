"""Tenant scoping at the storage layer (`shopbridge.storage.scoping`): while a tenant is bound,
an ORM statement without its `WHERE tenant_id = …` still sees and touches only that tenant's
rows, writing another tenant's row is refused, and `unscoped()` is the explicit way out.

The API binds the caller's tenant in `authenticate`; the second half checks that the binding
reaches every kind of route (plain, long-poll, streamed body, background task, sync def) and
nothing else: not the test's own context, not a concurrent request of another tenant, not
the push intake whose group commit writes several tenants' rows in one transaction."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, BackgroundTasks, Depends, FastAPI
from fastapi.responses import StreamingResponse
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import aliased

from shopbridge.api.app import create_app
from shopbridge.api.deps import get_db
from shopbridge.api.security import Principal, authenticate
from shopbridge.config import Settings
from shopbridge.storage.crypto import SecretBox
from shopbridge.storage.db import Database
from shopbridge.storage.orders import OrderRepository
from shopbridge.storage.scoping import (
    TenantScopeViolation,
    current_tenant,
    scoped_classes,
    tenant_scope,
    unscoped,
)
from shopbridge.storage.shops import ShopRepository
from shopbridge.storage.tables import (
    Base,
    OrderLineRow,
    OrderRow,
    ShopRow,
    SkuRow,
    TenantRow,
)
from shopbridge.storage.tenants import create_tenant
from shopbridge.sync import push as push_intake
from tests.connectors.shopify.helpers import load
from tests.factories import make_order

# --- storage level -----------------------------------------------------------------------


@dataclass(frozen=True)
class Pair:
    """Two tenants, each with a shop and an order of the same platform order id."""

    a: str
    b: str
    shop_a: str
    shop_b: str
    order_a: str
    order_b: str
    platform_order_id: str


@pytest.fixture
def db(app: FastAPI) -> Database:
    database: Database = app.state.db
    return database


@pytest.fixture
async def pair(db: Database, app: FastAPI) -> Pair:
    box: SecretBox = app.state.box
    platform_order_id = f"SCOPE-{secrets.token_hex(4)}"
    made: dict[str, tuple[str, str, str]] = {}
    async with db.transaction() as session:
        for name in ("a", "b"):
            tenant = await create_tenant(session, f"scope-{name}-{secrets.token_hex(3)}")
            shop, _ = await ShopRepository(session, tenant.id, box).connect(
                platform="taobao",
                platform_shop_id=f"seller-{name}",
                display_name=f"shop {name}",
                credentials={"session": "s"},
                settings={},
            )
            order = await OrderRepository(session, tenant.id).upsert(
                shop, make_order(platform_order_id)
            )
            made[name] = (tenant.id, shop.id, order.order_id)
    return Pair(
        a=made["a"][0],
        b=made["b"][0],
        shop_a=made["a"][1],
        shop_b=made["b"][1],
        order_a=made["a"][2],
        order_b=made["b"][2],
        platform_order_id=platform_order_id,
    )


def test_every_table_with_a_tenant_id_is_scoped() -> None:
    with_column = {t.name for t in Base.metadata.tables.values() if "tenant_id" in t.c}
    assert {cls.__table__.name for cls in scoped_classes()} == with_column
    assert "orders" in with_column and "api_keys" in with_column and "tenants" not in with_column


async def test_unfiltered_selects_see_only_the_bound_tenant(db: Database, pair: Pair) -> None:
    with tenant_scope(pair.a):
        async with db.read() as session:
            orders = (await session.scalars(select(OrderRow))).all()
            assert pair.order_a in {o.id for o in orders}
            assert {o.tenant_id for o in orders} == {pair.a}
            shops = (await session.scalars(select(ShopRow))).all()
            assert {s.id for s in shops} == {pair.shop_a}
            lines = (await session.scalars(select(OrderLineRow))).all()
            assert lines and {line.tenant_id for line in lines} == {pair.a}
            # by primary key, counted, joined, in a subquery, through an alias
            assert await session.get(OrderRow, pair.order_b) is None
            assert await session.get(ShopRow, pair.shop_b) is None
            count = await session.scalar(select(func.count()).select_from(OrderRow))
            assert count == len(orders)
            joined = (
                await session.execute(
                    select(OrderRow.id, ShopRow.id).join(ShopRow, ShopRow.id == OrderRow.shop_id)
                )
            ).all()
            assert {shop_id for _, shop_id in joined} == {pair.shop_a}
            by_id = (
                await session.scalars(
                    select(OrderRow.id).where(
                        OrderRow.platform_order_id == pair.platform_order_id,
                        OrderRow.shop_id.in_(select(ShopRow.id)),
                    )
                )
            ).all()
            assert by_id == [pair.order_a]
            shop_alias = aliased(ShopRow)
            assert (await session.scalars(select(shop_alias.id))).all() == [pair.shop_a]
            # tables without a tenant_id (the tenants themselves) are not narrowed
            tenants = (
                await session.scalars(
                    select(TenantRow.id).where(TenantRow.id.in_([pair.a, pair.b]))
                )
            ).all()
            assert sorted(tenants) == sorted([pair.a, pair.b])
    assert current_tenant() is None


async def test_orm_update_and_delete_touch_only_the_bound_tenant(db: Database, pair: Pair) -> None:
    same = OrderRow.platform_order_id == pair.platform_order_id
    with tenant_scope(pair.a):
        async with db.transaction() as session:
            await session.execute(update(OrderRow).where(same).values(native_status="touched"))
            await session.execute(update(ShopRow).values(display_name="renamed"))
    async with db.read() as session:
        statuses = dict((await session.execute(select(OrderRow.id, OrderRow.native_status))).all())
        assert statuses[pair.order_a] == "touched"
        assert statuses[pair.order_b] != "touched"
        b_shop = await session.get(ShopRow, pair.shop_b)
        assert b_shop is not None and b_shop.display_name == "shop b"

    with tenant_scope(pair.b):
        async with db.transaction() as session:
            await session.execute(delete(OrderLineRow))
            await session.execute(delete(OrderRow).where(same))
    async with db.read() as session:
        left = (await session.scalars(select(OrderRow.id).where(same))).all()
        assert left == [pair.order_a]
        a_lines = await session.scalar(
            select(func.count()).where(OrderLineRow.order_id == pair.order_a)
        )
        assert a_lines


async def _refused(db: Database, tenant_id: str, work: Callable[[Any], Awaitable[object]]) -> None:
    with tenant_scope(tenant_id), pytest.raises(TenantScopeViolation):
        async with db.transaction() as session:
            await work(session)


async def test_writing_another_tenants_row_is_refused(db: Database, pair: Pair) -> None:
    now = datetime.now(UTC)

    async def add_shop_of_b(session: Any) -> None:
        session.add(
            ShopRow(
                id=f"shop_{secrets.token_hex(8)}",
                tenant_id=pair.b,
                platform="taobao",
                platform_shop_id="planted",
                display_name="planted",
                status="connected",
                settings={},
                created_at=now,
                updated_at=now,
            )
        )
        await session.flush()

    async def change_loaded_shop_of_b(session: Any) -> None:
        with unscoped():
            shop = await session.get(ShopRow, pair.shop_b)
        shop.display_name = "hijacked"
        await session.flush()

    async def delete_loaded_shop_of_b(session: Any) -> None:
        with unscoped():
            shop = await session.get(ShopRow, pair.shop_b)
        await session.delete(shop)
        await session.flush()

    async def insert_statement_for_b(session: Any) -> None:
        await session.execute(insert(SkuRow).values(tenant_id=pair.b, sku="X", updated_at=now))

    async def bulk_insert_for_b(session: Any) -> None:
        rows = [{"tenant_id": t, "sku": "Y", "updated_at": now} for t in (pair.a, pair.b)]
        await session.execute(insert(SkuRow), rows)

    async def move_own_shop_to_b(session: Any) -> None:
        await session.execute(
            update(ShopRow).where(ShopRow.id == pair.shop_a).values(tenant_id=pair.b)
        )

    async def bulk_update_by_primary_key(session: Any) -> None:
        await session.execute(
            update(ShopRow),
            [
                {"id": pair.shop_a, "display_name": "fine"},
                {"id": pair.shop_b, "display_name": "hijacked"},
            ],
        )

    for work in (
        add_shop_of_b,
        change_loaded_shop_of_b,
        delete_loaded_shop_of_b,
        insert_statement_for_b,
        bulk_insert_for_b,
        move_own_shop_to_b,
        bulk_update_by_primary_key,
    ):
        await _refused(db, pair.a, work)

    async with db.read() as session:
        shops = (
            await session.scalars(select(ShopRow).where(ShopRow.tenant_id.in_([pair.a, pair.b])))
        ).all()
        assert {(s.id, s.tenant_id, s.display_name) for s in shops} == {
            (pair.shop_a, pair.a, "shop a"),
            (pair.shop_b, pair.b, "shop b"),
        }
        planted = select(SkuRow).where(SkuRow.tenant_id == pair.b, SkuRow.sku.in_(["X", "Y"]))
        assert not (await session.scalars(planted)).all()

    # the tenant's own rows are written as usual, bulk by primary key included
    with tenant_scope(pair.a):
        async with db.transaction() as session:
            await session.execute(update(ShopRow), [{"id": pair.shop_a, "display_name": "own"}])
            await session.execute(insert(SkuRow).values(tenant_id=pair.a, sku="A", updated_at=now))


async def test_unscoped_sees_every_tenant(db: Database, pair: Pair) -> None:
    both = ShopRow.id.in_([pair.shop_a, pair.shop_b])
    with tenant_scope(pair.a):
        with unscoped():
            assert current_tenant() is None
            async with db.transaction() as session:
                rows = (await session.scalars(select(ShopRow).where(both))).all()
                assert {r.tenant_id for r in rows} == {pair.a, pair.b}
                shop_b = await session.get(ShopRow, pair.shop_b)
                assert shop_b is not None
                shop_b.display_name = "by the operator"  # writes are not refused either
        assert current_tenant() == pair.a
        async with db.read() as session:
            assert (await session.scalars(select(ShopRow.id).where(both))).all() == [pair.shop_a]
    async with db.read() as session:
        shop_b = await session.get(ShopRow, pair.shop_b)
        assert shop_b is not None and shop_b.display_name == "by the operator"


# --- the API binds the caller's tenant, for the whole request and nothing else --------------


async def _visible_tenants(db: Database) -> list[str]:
    """Which tenants' shops an unfiltered query sees: the scope in effect."""
    async with db.read() as session:
        return sorted(set((await session.scalars(select(ShopRow.tenant_id))).all()))


probe = APIRouter(include_in_schema=False)
background_seen: dict[str, dict[str, Any]] = {}


@probe.get("/_probe/plain")
async def probe_plain(
    _: Principal = Depends(authenticate), db: Database = Depends(get_db)
) -> dict[str, Any]:
    return {"bound": current_tenant(), "visible": await _visible_tenants(db)}


@probe.get("/_probe/long-poll")
async def probe_long_poll(
    _: Principal = Depends(authenticate), db: Database = Depends(get_db)
) -> dict[str, Any]:
    for _round in range(3):  # like GET /v1/events?wait=: poll, sleep, poll again
        await asyncio.sleep(0.02)
        visible = await _visible_tenants(db)
    return {"bound": current_tenant(), "visible": visible}


@probe.get("/_probe/stream")
async def probe_stream(
    _: Principal = Depends(authenticate), db: Database = Depends(get_db)
) -> StreamingResponse:
    async def body() -> AsyncIterator[bytes]:
        await asyncio.sleep(0.01)
        yield json.dumps(
            {"bound": current_tenant(), "visible": await _visible_tenants(db)}
        ).encode()

    return StreamingResponse(body(), media_type="application/json")


@probe.get("/_probe/background")
async def probe_background(
    tasks: BackgroundTasks,
    marker: str,
    _: Principal = Depends(authenticate),
    db: Database = Depends(get_db),
) -> dict[str, Any]:
    async def later() -> None:
        background_seen[marker] = {
            "bound": current_tenant(),
            "visible": await _visible_tenants(db),
        }

    tasks.add_task(later)
    return {}


@probe.get("/_probe/sync")
def probe_sync(_: Principal = Depends(authenticate)) -> dict[str, Any]:
    return {"bound": current_tenant(), "visible": None}


@pytest.fixture(scope="module")
async def probe_app(settings: Settings, app: FastAPI) -> AsyncIterator[FastAPI]:
    """A second app on the session's database, with probe routes added."""
    application = create_app(settings, migrate_on_start=False)
    application.include_router(probe)
    async with application.router.lifespan_context(application):
        yield application


@dataclass
class ProbeTenant:
    tenant_id: str
    client: httpx.AsyncClient


@pytest.fixture
async def probe_tenants(
    probe_app: FastAPI, admin: httpx.AsyncClient
) -> AsyncIterator[list[ProbeTenant]]:
    made: list[ProbeTenant] = []
    for name in ("x", "y"):
        created = (await admin.post("/v1/tenants", json={"name": f"probe-{name}"})).json()
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=probe_app),
            base_url="http://shopbridge.test",
            headers={"Authorization": f"Bearer {created['admin_key']['key']}"},
        )
        resp = await client.post(
            "/v1/shops",
            json={"platform": "taobao", "platform_shop_id": f"probe-{name}", "display_name": name},
        )
        assert resp.status_code == 201, resp.text
        made.append(ProbeTenant(created["id"], client))
    yield made
    for tenant in made:
        await tenant.client.aclose()


@pytest.mark.parametrize("route", ["plain", "long-poll", "stream", "sync"])
async def test_the_request_is_scoped_to_the_callers_tenant(
    probe_tenants: list[ProbeTenant], route: str
) -> None:
    # Concurrent requests of two tenants: each sees its own scope, none leaks into another.
    async def call(tenant: ProbeTenant) -> dict[str, Any]:
        resp = await tenant.client.get(f"/_probe/{route}")
        assert resp.status_code == 200, resp.text
        body: dict[str, Any] = resp.json()
        return body

    results = await asyncio.gather(*(call(t) for t in probe_tenants * 3))
    for tenant, body in zip(probe_tenants * 3, results, strict=True):
        assert body["bound"] == tenant.tenant_id
        if body["visible"] is not None:
            assert body["visible"] == [tenant.tenant_id]
    assert current_tenant() is None  # the test's own context was never bound


async def test_background_tasks_stay_in_the_requests_scope(
    probe_tenants: list[ProbeTenant],
) -> None:
    markers = [secrets.token_hex(4) for _ in probe_tenants]
    await asyncio.gather(
        *(
            t.client.get("/_probe/background", params={"marker": m})
            for t, m in zip(probe_tenants, markers, strict=True)
        )
    )
    for tenant, marker in zip(probe_tenants, markers, strict=True):
        assert background_seen[marker] == {
            "bound": tenant.tenant_id,
            "visible": [tenant.tenant_id],
        }


async def test_long_poll_of_the_feed_works_scoped(
    probe_tenants: list[ProbeTenant],
) -> None:
    """The real long-poll (`GET /v1/events?wait=`) runs its whole loop, including the feed
    sequencer, inside the caller's scope."""
    x, y = probe_tenants
    resp_x, resp_y = await asyncio.gather(
        x.client.get("/v1/events", params={"wait": 1}),
        y.client.get("/v1/events", params={"wait": 1}),
    )
    for tenant, resp in ((x, resp_x), (y, resp_y)):
        assert resp.status_code == 200, resp.text
        for event in resp.json()["data"]:
            assert event.get("tenant_id", tenant.tenant_id) == tenant.tenant_id


async def test_authentication_reads_keys_whatever_the_callers_context(
    probe_app: FastAPI, probe_tenants: list[ProbeTenant]
) -> None:
    """The key lookup precedes any tenant: it is unscoped even if the calling context were
    bound to another tenant (ASGITransport runs the app in the caller's context)."""
    x, y = probe_tenants
    with tenant_scope(x.tenant_id):
        resp = await y.client.get("/_probe/plain")
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"bound": y.tenant_id, "visible": [y.tenant_id]}


async def test_operator_routes_cross_tenants(admin: httpx.AsyncClient) -> None:
    created = await admin.post("/v1/tenants", json={"name": "made-by-operator"})
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["admin_key"]["tenant_id"] == body["id"]
    assert (await admin.get(f"/v1/tenants/{body['id']}")).status_code == 200
    listed = (await admin.get("/v1/tenants", params={"limit": 500})).json()["data"]
    assert body["id"] in {t["id"] for t in listed}


# --- the push intake is not scoped: its group commit serves every tenant ---------------------

SHOPIFY_SECRET = "scope-push-secret"


def _signed_push(domain: str, order_id: int) -> tuple[bytes, dict[str, str]]:
    payload = load("paid_unfulfilled")
    payload["id"] = order_id
    payload["admin_graphql_api_id"] = f"gid://shopify/Order/{order_id}"
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    payload["updated_at"] = now  # fresh: the intake refuses replays of old deliveries
    body = json.dumps(payload, separators=(",", ":")).encode()
    digest = hmac.new(SHOPIFY_SECRET.encode(), body, hashlib.sha256).digest()
    return body, {
        "Content-Type": "application/json",
        "X-Shopify-Topic": "orders/create",
        "X-Shopify-Hmac-Sha256": base64.b64encode(digest).decode(),
        "X-Shopify-Shop-Domain": domain,
        "X-Shopify-Webhook-Id": secrets.token_hex(16),
        "X-Shopify-Triggered-At": now,
    }


async def test_push_group_commit_writes_several_tenants_in_one_batch(
    app: FastAPI, admin: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    shops: list[tuple[str, str, str]] = []  # (tenant id, shop id, domain)
    clients: list[httpx.AsyncClient] = []
    for name in ("p", "q"):
        created = (await admin.post("/v1/tenants", json={"name": f"push-{name}"})).json()
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://shopbridge.test",
            headers={"Authorization": f"Bearer {created['admin_key']['key']}"},
        )
        clients.append(client)
        domain = f"scope-{name}-{secrets.token_hex(3)}.myshopify.com"
        shop = await client.post(
            "/v1/shops",
            json={
                "platform": "shopify",
                "platform_shop_id": domain,
                "display_name": name,
                "credentials": {"access_token": "shpat_x", "app_secret": SHOPIFY_SECRET},
            },
        )
        assert shop.status_code == 201, shop.text
        shops.append((created["id"], shop.json()["id"], domain))

    batches: list[tuple[str | None, set[str]]] = []
    original = push_intake._GroupCommit._write

    async def observed(self: Any, batch: list[Any]) -> None:
        batches.append((current_tenant(), {p.shop.tenant_id for p in batch}))
        if len(batches) == 1:
            await asyncio.sleep(0.2)  # let the other pushes queue up behind the first batch
        await original(self, batch)

    monkeypatch.setattr(push_intake._GroupCommit, "_write", observed)
    base = 9_100_000_000 + secrets.randbelow(1_000_000) * 10
    pushes = [
        (shop_id, *_signed_push(domain, base + i)) for i in range(3) for _, shop_id, domain in shops
    ]
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://shopbridge.test"
    ) as anon:
        answers = await asyncio.gather(
            *(
                anon.post(f"/v1/push/shopify/{shop_id}", content=body, headers=headers)
                for shop_id, body, headers in pushes
            )
        )
    for resp in answers:
        assert resp.status_code == 200, resp.text
        assert resp.json()["accepted"] == 1
    assert all(bound is None for bound, _ in batches)  # the writer is never scoped
    assert any(len(tenants) == 2 for _, tenants in batches)  # one transaction, two tenants
    for (_, shop_id, _), client in zip(shops, clients, strict=True):
        orders = (await client.get("/v1/orders", params={"shop_id": shop_id})).json()["data"]
        assert len(orders) == 3
        assert {o["shop_id"] for o in orders} == {shop_id}
        await client.aclose()
