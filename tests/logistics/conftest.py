"""Shipments end to end: the real app and database, the Shopify and Taobao sandboxes over
HTTP, shops connected through the API with the sandbox as their `base_url`."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update

from shopbridge.connectors import ShopContext
from shopbridge.connectors.registry import connector_class
from shopbridge.core.time import utcnow
from shopbridge.sandbox.common.runner import RunningServer, start_in_thread
from shopbridge.sandbox.shopify import ShopifySandboxOptions
from shopbridge.sandbox.shopify import create_app as shopify_app
from shopbridge.sandbox.taobao import app as taobao_app
from shopbridge.storage.orders import OrderRepository
from shopbridge.storage.shops import open_credentials
from shopbridge.storage.tables import OutboxEventRow, ShipmentRow, ShopRow
from shopbridge.sync.shipments import ShipmentSettings, ShipmentWorker
from tests.conftest import TenantClient

SHOPIFY_TOKEN = "shpat_logistics_test"
SHOPIFY_SECRET = "logistics-secret"
TAOBAO_KEY = "45678901"
TAOBAO_SECRET = "logistics-taobao-secret"
TAOBAO_SESSION = "6100logistics0session"
SHOPIFY_VERSION = "2026-10"


@pytest.fixture(scope="package")
def shopify_sandbox() -> Iterator[RunningServer]:
    server = start_in_thread(
        shopify_app(
            ShopifySandboxOptions(
                access_token=SHOPIFY_TOKEN, app_secret=SHOPIFY_SECRET, seed=0, random_seed=5
            )
        )
    )
    yield server
    server.stop()


@pytest.fixture(scope="package")
def taobao_sandbox() -> Iterator[RunningServer]:
    server = start_in_thread(
        taobao_app.create_app(
            taobao_app.Options(
                app_key=TAOBAO_KEY,
                app_secret=TAOBAO_SECRET,
                access_token=TAOBAO_SESSION,
                seed=0,
                random_seed=3,
            )
        )
    )
    yield server
    server.stop()


@pytest.fixture
def shopify(shopify_sandbox: RunningServer) -> Iterator[httpx.Client]:
    """The Shopify sandbox's control API, reset."""
    with httpx.Client(base_url=f"{shopify_sandbox.base_url}/_sandbox", timeout=30) as client:
        client.post("/reset", json={"seed": 0}).raise_for_status()
        client.delete("/faults").raise_for_status()
        yield client
        client.delete("/faults")


@pytest.fixture
def taobao(taobao_sandbox: RunningServer) -> Iterator[httpx.Client]:
    """The Taobao sandbox's control API, reset."""
    with httpx.Client(base_url=f"{taobao_sandbox.base_url}/_sandbox", timeout=30) as client:
        client.post("/reset", json={"seed": 0}).raise_for_status()
        client.delete("/faults").raise_for_status()
        yield client
        client.delete("/faults")


@dataclass
class Shop:
    """A shop of the test's tenant, connected to a sandbox."""

    id: str
    platform: str
    tenant: TenantClient
    control: httpx.Client

    async def row(self, app: FastAPI) -> ShopRow:
        async with app.state.db.read() as session:
            row = await session.get(ShopRow, self.id)
        assert row is not None
        return row


async def connect(
    client: TenantClient, platform: str, base_url: str, control: httpx.Client
) -> Shop:
    if platform == "shopify":
        body: dict[str, Any] = {
            "platform": "shopify",
            "platform_shop_id": "demo-shop.myshopify.com",
            "display_name": "Logistics Shopify",
            "credentials": {"access_token": SHOPIFY_TOKEN, "app_secret": SHOPIFY_SECRET},
            "settings": {"base_url": base_url},
        }
    else:
        body = {
            "platform": "taobao",
            "platform_shop_id": "2201234567890",
            "display_name": "Logistics Taobao",
            "credentials": {
                "app_key": TAOBAO_KEY,
                "app_secret": TAOBAO_SECRET,
                "session": TAOBAO_SESSION,
            },
            "settings": {"base_url": base_url},
        }
    resp = await client.post("/v1/shops", json=body)
    assert resp.status_code == 201, resp.text
    return Shop(resp.json()["id"], platform, client, control)


@pytest.fixture
async def shopify_shop(
    tenant: TenantClient, shopify_sandbox: RunningServer, shopify: httpx.Client
) -> Shop:
    return await connect(tenant, "shopify", shopify_sandbox.base_url, shopify)


@pytest.fixture
async def taobao_shop(
    tenant: TenantClient, taobao_sandbox: RunningServer, taobao: httpx.Client
) -> Shop:
    return await connect(tenant, "taobao", taobao_sandbox.base_url, taobao)


async def import_order(app: FastAPI, shop: Shop, platform_order_id: str) -> str:
    """Fetch one order through the shop's connector and store it (as sync would); its id."""
    row = await shop.row(app)
    connector = connector_class(row.platform)(
        ShopContext(
            shop_id=row.id,
            platform_shop_id=row.platform_shop_id,
            credentials=open_credentials(app.state.box, row),
            settings=dict(row.settings),
            base_url=row.settings["base_url"],
        )
    )
    try:
        order = await connector.get_order(platform_order_id)
    finally:
        await connector.aclose()
    async with app.state.db.transaction() as session:
        result = await OrderRepository(session, row.tenant_id).upsert(row, order)
    return result.order_id


def shopify_skus(sandbox: RunningServer) -> list[str]:
    products = httpx.get(
        f"{sandbox.base_url}/admin/api/{SHOPIFY_VERSION}/products.json",
        headers={"X-Shopify-Access-Token": SHOPIFY_TOKEN},
    ).json()["products"]
    return [v["sku"] for p in products for v in p["variants"] if v.get("sku")]


async def shopify_order(
    app: FastAPI, shop: Shop, sandbox: RunningServer, quantities: tuple[int, ...] = (3, 1)
) -> tuple[str, str, list[str]]:
    """A paid Shopify order with one line per quantity, stored in ShopBridge:
    (order id, platform order id, line ids)."""
    skus = shopify_skus(sandbox)
    created = shop.control.post(
        "/orders",
        json={
            "count": 1,
            "payment": "paid",
            "line_items": [
                {"sku": sku, "quantity": q} for sku, q in zip(skus, quantities, strict=False)
            ],
        },
    )
    created.raise_for_status()
    native = created.json()["orders"][0]
    order_id = await import_order(app, shop, str(native["id"]))
    return order_id, str(native["id"]), [str(line["id"]) for line in native["line_items"]]


async def taobao_order(app: FastAPI, shop: Shop, lines: int = 2) -> tuple[str, str, list[str]]:
    """A Taobao trade waiting to ship with `lines` sub-orders, stored in ShopBridge."""
    created = shop.control.post("/trades", json={"count": 1, "line_count": lines})
    created.raise_for_status()
    trade = created.json()["trades"][0]
    order_id = await import_order(app, shop, trade["tid_str"])
    return order_id, trade["tid_str"], [o["oid_str"] for o in trade["orders"]["order"]]


def sf_number() -> str:
    """An SF waybill number the Taobao sandbox accepts (`SF` + 13 digits), unique per call."""
    return "SF" + str(secrets.randbelow(10**13)).zfill(13)


def ups_number() -> str:
    return "1Z" + secrets.token_hex(8).upper()


async def events_of(app: FastAPI, tenant_id: str, prefix: str = "") -> list[OutboxEventRow]:
    async with app.state.db.read() as session:
        rows = (
            await session.scalars(
                select(OutboxEventRow)
                .where(
                    OutboxEventRow.tenant_id == tenant_id, OutboxEventRow.type.like(f"{prefix}%")
                )
                .order_by(OutboxEventRow.seq)
            )
        ).all()
    return list(rows)


async def shipment_rows(app: FastAPI, tenant_id: str) -> list[ShipmentRow]:
    async with app.state.db.read() as session:
        rows = (
            await session.scalars(select(ShipmentRow).where(ShipmentRow.tenant_id == tenant_id))
        ).all()
    return list(rows)


async def make_due(app: FastAPI, shipment_id: str) -> None:
    """Skip the backoff wait: the shipment's next attempt is now."""
    async with app.state.db.transaction() as session:
        await session.execute(
            update(ShipmentRow)
            .where(ShipmentRow.id == shipment_id)
            .values(next_attempt_at=utcnow() - timedelta(seconds=1))
        )


@pytest.fixture
def worker(app: FastAPI) -> ShipmentWorker:
    return ShipmentWorker(app.state.db, app.state.box, settings=ShipmentSettings(timeout=5.0))


@pytest.fixture
async def short_timeout(app: FastAPI) -> AsyncIterator[ShipmentSettings]:
    """The API waits 1 s for the platform instead of 20 s (restored afterwards)."""
    settings = ShipmentSettings(timeout=1.0)
    app.state.shipment_settings = settings
    yield settings
    del app.state.shipment_settings
