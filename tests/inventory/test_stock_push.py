"""Stock fan-out against the Shopify sandbox over HTTP: the platform ends up showing the
target, pushes that lower a listing go before pushes that raise one, a burst coalesces into
the latest value, and a refused push keeps the platform's reason and is announced once."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from shopbridge.connectors import Listing
from shopbridge.sandbox.common.runner import RunningServer, start_in_thread
from shopbridge.sandbox.shopify import ShopifySandboxOptions, create_app
from shopbridge.storage.listings import ListingRepository
from shopbridge.storage.shops import ShopRepository
from shopbridge.storage.tables import ListingRow, ShopRow
from shopbridge.sync.stock import StockPusher
from tests.conftest import TenantClient

TOKEN = "shpat_stock_test"
SECRET = "stock-test-secret"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[RunningServer]:
    server = start_in_thread(
        create_app(
            ShopifySandboxOptions(access_token=TOKEN, app_secret=SECRET, seed=0, random_seed=5)
        )
    )
    yield server
    server.stop()


@pytest.fixture
def control(sandbox: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{sandbox.base_url}/_sandbox", timeout=30) as client:
        client.post("/reset", json={"seed": 0}).raise_for_status()
        client.delete("/faults").raise_for_status()
        yield client


def variants(sandbox: RunningServer) -> list[dict[str, Any]]:
    with httpx.Client(base_url=sandbox.base_url, headers={"X-Shopify-Access-Token": TOKEN}) as c:
        products = c.get("/admin/api/2026-10/products.json", params={"limit": 3}).json()
    return [v | {"product_id": p["id"]} for p in products["products"] for v in p["variants"]]


def level(control: httpx.Client, sku: str) -> int:
    for item in control.get("/inventory").json()["inventory"]:
        if item["sku"] == sku:
            return int(sum(lv["available"] for lv in item["levels"][:1]))
    raise AssertionError(sku)


@pytest.fixture
async def wired(
    app: FastAPI, tenant: TenantClient, sandbox: RunningServer, control: httpx.Client
) -> tuple[ShopRow, list[ListingRow], StockPusher]:
    async with app.state.db.transaction() as session:
        shop, _ = await ShopRepository(session, tenant.tenant_id, app.state.box).connect(
            platform="shopify",
            platform_shop_id=f"stock-{secrets.token_hex(3)}.myshopify.com",
            display_name="Stock",
            credentials={"access_token": TOKEN, "app_secret": SECRET},
            settings={"base_url": sandbox.base_url, "location_id": "71024000000"},
        )
        found = [
            Listing(
                str(v["product_id"]),
                str(v["inventory_item_id"]),
                v["sku"],
                v["title"],
                None,
                platform_variant_id=str(v["id"]),
            )
            for v in variants(sandbox)[:3]
        ]
        repo = ListingRepository(session, tenant.tenant_id)
        await repo.upsert_pulled(shop, found)
        rows = sorted(await repo.list(shop_id=shop.id), key=lambda r: r.merchant_sku or "")
    pusher = StockPusher(app.state.db, app.state.box, tenant_ids=frozenset({tenant.tenant_id}))
    return shop, list(rows), pusher


async def test_push_sets_the_platform_quantity_and_coalesces(
    wired: tuple[ShopRow, list[ListingRow], StockPusher],
    tenant: TenantClient,
    control: httpx.Client,
) -> None:
    _, rows, pusher = wired
    sku = rows[0].merchant_sku
    assert sku
    for version, on_hand in enumerate([50, 40, 30, 7], start=1):  # a burst: latest value wins
        await tenant.put(
            "/v1/stock", json={"items": [{"sku": sku, "on_hand": on_hand, "version": version}]}
        )
    assert await pusher.run_once() == 1
    assert level(control, sku) == 7
    changes = control.get("/inventory/changes", params={"sku": sku}).json()["changes"]
    assert len(changes) == 1
    detail = (await tenant.get(f"/v1/stock/{sku}")).json()
    [listing] = detail["listings"]
    assert listing["pushed_quantity"] == 7 and listing["push_state"] == "idle"
    assert await pusher.run_once() == 0


async def test_decreases_are_pushed_before_increases(
    wired: tuple[ShopRow, list[ListingRow], StockPusher],
    tenant: TenantClient,
    control: httpx.Client,
) -> None:
    _, rows, pusher = wired
    up, down = rows[0].merchant_sku, rows[1].merchant_sku
    await tenant.put(
        "/v1/stock",
        json={
            "items": [
                {"sku": up, "on_hand": 5, "version": 1},
                {"sku": down, "on_hand": 5, "version": 1},
            ]
        },
    )
    await pusher.run_once()
    resp = await tenant.post(
        "/v1/stock/adjustments",
        json={
            "adjustments": [
                {"sku": up, "delta": 3, "reason": "moved in"},
                {"sku": down, "delta": -3, "reason": "moved out"},
            ]
        },
    )
    assert resp.status_code == 200
    await pusher.run_once()
    changes = control.get("/inventory/changes").json()["changes"]
    last_two = [(c["sku"], c["available"]) for c in changes[-2:]]
    assert last_two == [(down, 2), (up, 8)]


async def test_refused_push_keeps_reason_and_is_announced_once(
    app: FastAPI, wired: tuple[ShopRow, list[ListingRow], StockPusher], tenant: TenantClient
) -> None:
    shop, _, pusher = wired
    async with app.state.db.transaction() as session:
        await ListingRepository(session, tenant.tenant_id).upsert_pulled(
            shop, [Listing("1", "999999999", "GHOST", "gone", None)]
        )
    await tenant.put("/v1/stock", json={"items": [{"sku": "GHOST", "on_hand": 3, "version": 1}]})
    await pusher.run_once()
    failed = (await tenant.get("/v1/listings", params={"push_state": "failed"})).json()["data"]
    [listing] = failed
    assert listing["merchant_sku"] == "GHOST"
    assert listing["last_error"]
    await pusher.run_once()  # not due yet (backoff): nothing happens
    async with app.state.db.transaction() as session:
        row = await session.get(ListingRow, listing["id"])
        assert row is not None
        row.next_push_at = row.last_error_at
    await pusher.run_once()
    events = (await tenant.get("/v1/events", params={"types": "stock.push_failed"})).json()["data"]
    assert len(events) == 1
    assert events[0]["data"]["error"] == listing["last_error"]
