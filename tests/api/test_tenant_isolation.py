"""Tenant isolation over every endpoint of the published API: tenant A's key, given the ids
of tenant B's objects, gets 404 (never B's data, never "forbidden", which would confirm the
id exists), and B's objects never appear in A's lists or event feed.

The test walks `/openapi.json`, so a new endpoint with a path parameter fails here until it
is taught which of B's ids to try: isolation cannot be forgotten."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from shopbridge.connectors import Listing
from shopbridge.core.ids import new_id
from shopbridge.storage.listings import ListingRepository
from shopbridge.storage.orders import OrderRepository
from shopbridge.storage.tables import ShipmentRow, ShopRow
from tests.conftest import TenantClient
from tests.factories import make_order

# Bodies valid enough to get past request validation, so the lookup itself is exercised.
BODIES: dict[tuple[str, str], Any] = {
    ("patch", "/v1/shops/{shop_id}"): {"display_name": "x"},
    ("put", "/v1/listings/{listing_id}/mapping"): {"components": [{"sku": "X"}]},
    ("patch", "/v1/webhook-endpoints/{endpoint_id}"): {"description": "x"},
    ("post", "/v1/webhook-endpoints/{endpoint_id}/rotate-secret"): {},
    ("post", "/v1/orders/{order_id}/shipments"): {"carrier_code": "SF", "tracking_number": "SF1"},
    ("post", "/v1/orders/{order_id}/waybill"): {
        "carrier": "SF",
        "sender": {
            "name": "Warehouse",
            "mobile": "13800000000",
            "address": {"province": "浙江省", "city": "杭州市", "detail": "1 号"},
        },
        "package": {"items": [{"name": "T-shirt", "quantity": 1}]},
        "template_url": "http://cloudprint.cainiao.com/template/standard/101",
    },
    ("post", "/v1/shipments/{shipment_id}/tracking"): {
        "events": [{"occurred_at": "2026-11-11T00:00:00Z", "status": "in_transit"}]
    },
}
# Paths where a tenant-scoped name, not an id, is addressed: A writing SKU "X" writes its own
# SKU "X". Only reads are checked for those.
OWN_NAMESPACE = {("put", "/v1/stock-rules/{sku}")}
# Not addressed by API key: platform pushes are authenticated by the platform's signature.
NOT_KEYED = {"/v1/push/{platform}/{shop_id}"}
# Tenant management is operator-only; a tenant admin is refused whatever the id.
OPERATOR_ONLY = {"/v1/tenants/{tenant_id}"}
LISTS = [
    "/v1/shops",
    "/v1/orders",
    "/v1/api-keys",
    "/v1/webhook-endpoints",
    "/v1/events",
    "/v1/listings",
    "/v1/stock",
    "/v1/audit",
    "/v1/sync-log",
    "/v1/health/shops",
    "/v1/health/webhooks",
]


@pytest.fixture
async def victim(app: FastAPI, admin: httpx.AsyncClient) -> dict[str, str]:
    """Tenant B with one object of every kind; returns the ids by path parameter name."""
    resp = await admin.post("/v1/tenants", json={"name": "victim"})
    body = resp.json()
    key = body["admin_key"]["key"]
    headers = {"Authorization": f"Bearer {key}"}
    b = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://x", headers=headers
    )
    async with b:
        shop = (
            await b.post(
                "/v1/shops",
                json={"platform": "taobao", "platform_shop_id": "victim", "display_name": "V"},
            )
        ).json()
        endpoint = (
            await b.post("/v1/webhook-endpoints", json={"url": "http://127.0.0.1:9/hook"})
        ).json()
        await b.put(
            "/v1/stock", json={"items": [{"sku": "VICTIM-SKU", "on_hand": 3, "version": 1}]}
        )
        async with app.state.db.transaction() as session:
            shop_row = await session.get(ShopRow, shop["id"])
            assert shop_row is not None
            order = await OrderRepository(session, body["id"]).upsert(
                shop_row, make_order("VICTIM-ORDER-1")
            )
            await ListingRepository(session, body["id"]).upsert_pulled(
                shop_row, [Listing("victim-item", "victim-sku", "VICTIM-SKU", "v", 1)]
            )
            [listing] = await ListingRepository(session, body["id"]).list()
            shipment = ShipmentRow(
                id=new_id("shp"),
                tenant_id=body["id"],
                order_id=order.order_id,
                shop_id=shop["id"],
                carrier_code="SF",
                tracking_number="SFVICTIM1",
                lines=[],
                state="confirmed",
                attempts=1,
                created_at=datetime.now(UTC),
                updated_at=datetime.now(UTC),
            )
            session.add(shipment)
        event = (await b.get("/v1/events")).json()["data"][0]
    return {
        "tenant_id": body["id"],
        "key_id": body["admin_key"]["id"],
        "shop_id": shop["id"],
        "order_id": order.order_id,
        "platform_order_id": "VICTIM-ORDER-1",
        "endpoint_id": endpoint["id"],
        "event_id": event["id"],
        "listing_id": listing.id,
        "shipment_id": shipment.id,
        "sku": "VICTIM-SKU",
        "platform": "taobao",
    }


async def test_every_endpoint_hides_other_tenants_objects(
    tenant: TenantClient, victim: dict[str, str], app: FastAPI
) -> None:
    spec = app.openapi()
    checked = 0
    for path, operations in spec["paths"].items():
        params = re.findall(r"{(\w+)}", path)
        if not params or path in NOT_KEYED:
            continue
        for method in operations:
            if (method, path) in OWN_NAMESPACE:
                continue
            missing = [p for p in params if p not in victim]
            assert not missing, f"teach this test tenant B's {missing} for {method} {path}"
            url = path.format(**victim)
            resp = await tenant.request(method.upper(), url, json=BODIES.get((method, path)))
            expected = {403, 404} if path in OPERATOR_ONLY else {404}
            assert resp.status_code in expected, (method, path, resp.status_code, resp.text)
            for value in victim.values():
                if value not in ("taobao",):
                    assert value not in resp.text or value in url, (method, path, resp.text)
            checked += 1
    assert checked >= 20
    replay = await tenant.post("/v1/events/replay", json={"event_id": victim["event_id"]})
    assert replay.status_code == 404


async def test_lists_and_feed_never_show_other_tenants_objects(
    tenant: TenantClient, victim: dict[str, str]
) -> None:
    for path in LISTS:
        resp = await tenant.get(path, params={"limit": 500})
        assert resp.status_code == 200, (path, resp.text)
        for name, value in victim.items():
            if name in ("platform",):
                continue
            assert value not in resp.text, (path, name)
    events = await tenant.get("/v1/events", params={"shop": victim["shop_id"]})
    assert events.json()["data"] == []
