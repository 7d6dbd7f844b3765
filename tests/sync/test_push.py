"""Pushes end to end over real HTTP: the Shopify sandbox sends signed webhooks to ShopBridge's
push receiver (a live server); orders appear at /v1/orders within seconds; duplicated and
out-of-order pushes create no duplicates and never regress an order; a forged push is
refused and stores nothing."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Iterator

import httpx
import pytest

from shopbridge.sandbox.common.runner import RunningServer, start_in_thread
from shopbridge.sandbox.shopify import ShopifySandboxOptions, create_app
from tests.conftest import ADMIN_KEY

TOKEN = "shpat_push_test"
SECRET = "push-test-secret"
SHOP = "push-test.myshopify.com"
VERSION = "2026-10"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[RunningServer]:
    server = start_in_thread(
        create_app(
            ShopifySandboxOptions(
                access_token=TOKEN, app_secret=SECRET, shop_domain=SHOP, seed=0, random_seed=9
            )
        )
    )
    yield server
    server.stop()


@pytest.fixture
def wired(
    live_server: str, sandbox: RunningServer
) -> Iterator[tuple[httpx.Client, httpx.Client, str]]:
    """A tenant with a shop connected to the sandbox, whose webhooks point at ShopBridge."""
    admin = httpx.Client(
        base_url=live_server, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=30
    )
    created = admin.post("/v1/tenants", json={"name": f"push-{secrets.token_hex(3)}"}).json()
    api = httpx.Client(
        base_url=live_server,
        headers={"Authorization": f"Bearer {created['admin_key']['key']}"},
        timeout=30,
    )
    shop = api.post(
        "/v1/shops",
        json={
            "platform": "shopify",
            "platform_shop_id": SHOP,
            "display_name": "Push",
            "credentials": {"access_token": TOKEN, "app_secret": SECRET},
            "settings": {"base_url": sandbox.base_url},
        },
    ).json()
    control = httpx.Client(base_url=f"{sandbox.base_url}/_sandbox", timeout=30)
    control.post("/reset", json={"seed": 0}).raise_for_status()
    address = f"{live_server}/v1/push/shopify/{shop['id']}"
    for topic in ("orders/create", "orders/updated", "orders/fulfilled", "orders/cancelled"):
        httpx.post(
            f"{sandbox.base_url}/admin/api/{VERSION}/webhooks.json",
            headers={"X-Shopify-Access-Token": TOKEN},
            json={"webhook": {"topic": topic, "address": address, "format": "json"}},
        ).raise_for_status()
    yield api, control, shop["id"]
    api.close()
    admin.close()
    control.close()


def orders_of(api: httpx.Client, shop_id: str) -> list[dict[str, object]]:
    return list(api.get("/v1/orders", params={"shop_id": shop_id, "limit": 500}).json()["data"])


def wait_for(predicate: object, timeout: float = 5.0) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if predicate():  # type: ignore[operator]
            return time.monotonic() - started
        time.sleep(0.05)
    pytest.fail("condition not met in time")


async def test_new_order_arrives_by_push_within_two_seconds(
    wired: tuple[httpx.Client, httpx.Client, str],
) -> None:
    api, control, shop_id = wired
    created = control.post("/orders", json={"count": 1, "payment": "paid"}).json()["orders"][0]
    elapsed = await asyncio.to_thread(
        wait_for,
        lambda: any(o["platform_order_id"] == str(created["id"]) for o in orders_of(api, shop_id)),
    )
    assert elapsed < 2.0


async def test_duplicated_and_out_of_order_pushes(
    wired: tuple[httpx.Client, httpx.Client, str],
) -> None:
    api, control, shop_id = wired
    ids = [
        str(o["id"])
        for o in control.post("/orders", json={"count": 3, "payment": "paid"}).json()["orders"]
    ]
    await asyncio.to_thread(wait_for, lambda: len(orders_of(api, shop_id)) >= 3)
    control.post("/push_faults", json={"duplicate": 4, "reorder": 4}).raise_for_status()
    control.post(f"/orders/{ids[0]}/fulfill").raise_for_status()
    control.post(
        f"/orders/{ids[1]}/cancel", json={"reason": "customer", "refund": True}
    ).raise_for_status()
    control.post("/pushes/wait", params={"within": 15}).raise_for_status()

    def settled() -> bool:
        by_id = {o["platform_order_id"]: o for o in orders_of(api, shop_id)}
        return by_id[ids[0]]["status"] == "shipped" and by_id[ids[1]]["status"] == "cancelled"

    await asyncio.to_thread(wait_for, settled, 10.0)
    orders = orders_of(api, shop_id)
    assert len(orders) == len({o["platform_order_id"] for o in orders}) == 3


async def test_forged_push_is_refused_and_stores_nothing(
    live_server: str, wired: tuple[httpx.Client, httpx.Client, str]
) -> None:
    api, _, shop_id = wired
    body = json.dumps({"id": 4242, "name": "#4242", "line_items": []}).encode()
    forged = base64.b64encode(hmac.new(b"wrong-secret", body, hashlib.sha256).digest()).decode()
    headers = {
        "Content-Type": "application/json",
        "X-Shopify-Hmac-Sha256": forged,
        "X-Shopify-Topic": "orders/create",
        "X-Shopify-Shop-Domain": SHOP,
        "X-Shopify-Webhook-Id": "forged-1",
    }
    resp = httpx.post(f"{live_server}/v1/push/shopify/{shop_id}", content=body, headers=headers)
    assert resp.status_code == 401
    assert resp.headers["content-type"] == "application/problem+json"
    assert orders_of(api, shop_id) == []
    missing = httpx.post(f"{live_server}/v1/push/shopify/shop_nope", content=body, headers=headers)
    assert missing.status_code == 404
