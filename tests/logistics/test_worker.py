"""Transient failures leave a shipment pending; the worker confirms it once the platform is
back, never twice, and gives up after a day."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

from fastapi import FastAPI
from sqlalchemy import update

from shopbridge.core.time import utcnow
from shopbridge.sandbox.common.runner import RunningServer
from shopbridge.storage.shipments import Claim, claim_due
from shopbridge.storage.tables import ShipmentRow
from shopbridge.sync.shipments import ShipmentSettings, ShipmentWorker, backoff
from tests.logistics.conftest import (
    Shop,
    events_of,
    make_due,
    sf_number,
    shopify_order,
    taobao_order,
    ups_number,
)


async def test_shopify_down_then_the_worker_confirms(
    app: FastAPI, shopify_shop: Shop, shopify_sandbox: RunningServer, worker: ShipmentWorker
) -> None:
    order_id, native_id, _ = await shopify_order(app, shopify_shop, shopify_sandbox)
    shopify_shop.control.post(
        "/faults",
        json={
            "kind": "error",
            "status": 503,
            "count": None,
            "method": "POST",
            "path_pattern": r"/fulfillments\.json",
        },
    ).raise_for_status()
    client = shopify_shop.tenant
    resp = await client.post(
        f"/v1/orders/{order_id}/shipments",
        json={"carrier_code": "UPS", "tracking_number": ups_number()},
    )
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["state"] == "pending"
    assert body["error"]["code"] == "503"
    assert body["attempts"] == 1 and body["next_attempt_at"] is not None
    assert [e.type for e in await events_of(app, client.tenant_id, "shipment.")] == [
        "shipment.created"
    ]
    assert await worker.run_once({body["id"]}) == [], "not due before its backoff"

    await make_due(app, body["id"])
    [still_down] = await worker.run_once({body["id"]})
    assert still_down.state == "pending" and still_down.recorded
    again = (await client.get(f"/v1/shipments/{body['id']}")).json()
    assert again["attempts"] == 2 and again["error"]["code"] == "503"

    shopify_shop.control.delete("/faults").raise_for_status()
    await make_due(app, body["id"])
    [result] = await worker.run_once({body["id"]})
    assert result.state == "confirmed" and result.recorded
    shipment = (await client.get(f"/v1/shipments/{body['id']}")).json()
    assert shipment["state"] == "confirmed" and shipment["error"] is None
    assert shipment["attempts"] == 3 and shipment["platform_shipment_id"]
    made = shopify_shop.control.get("/shipments", params={"order_id": native_id}).json()
    assert len(made["shipments"]) == 1
    assert (await client.get(f"/v1/orders/{order_id}")).json()["status"] == "shipped"
    types = [e.type for e in await events_of(app, client.tenant_id, "shipment.")]
    assert types == ["shipment.created", "shipment.confirmed"]


async def test_taobao_down_then_the_worker_confirms(
    app: FastAPI, taobao_shop: Shop, worker: ShipmentWorker
) -> None:
    order_id, tid, _ = await taobao_order(app, taobao_shop)
    taobao_shop.control.post(
        "/faults", json={"kind": "error", "api": r"logistics\.offline", "count": None}
    ).raise_for_status()
    client = taobao_shop.tenant
    resp = await client.post(
        f"/v1/orders/{order_id}/shipments",
        json={"carrier_code": "SF", "tracking_number": sf_number()},
    )
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["state"] == "pending", body
    assert body["error"]["message"]
    taobao_shop.control.delete("/faults").raise_for_status()
    await make_due(app, body["id"])
    [result] = await worker.run_once({body["id"]})
    assert result.state == "confirmed"
    made = taobao_shop.control.get("/shipments", params={"tid": tid}).json()["shipments"]
    assert len(made) == 1
    assert (await client.get(f"/v1/orders/{order_id}")).json()["status"] == "shipped"


async def test_an_attempt_that_timed_out_stays_pending(
    app: FastAPI,
    shopify_shop: Shop,
    shopify_sandbox: RunningServer,
    short_timeout: ShipmentSettings,
) -> None:
    """The API waits for the platform only so long (20 s; 1 s here), then answers pending."""
    order_id, _, _ = await shopify_order(app, shopify_shop, shopify_sandbox)
    shopify_shop.control.post(
        "/faults",
        json={"kind": "hang", "seconds": 3, "path_pattern": r"fulfillment_orders\.json"},
    ).raise_for_status()
    started = time.monotonic()
    resp = await shopify_shop.tenant.post(
        f"/v1/orders/{order_id}/shipments",
        json={"carrier_code": "UPS", "tracking_number": ups_number()},
    )
    assert time.monotonic() - started < 2.5
    body = resp.json()
    assert body["state"] == "pending" and body["error"]["code"] == "timeout", body
    assert "1 s" in body["error"]["message"]


async def test_a_call_whose_answer_was_lost_is_not_sent_again(
    app: FastAPI, shopify_shop: Shop, shopify_sandbox: RunningServer, worker: ShipmentWorker
) -> None:
    """The first attempt reached the platform but its answer was lost (a crash, a timeout):
    the retry finds the parcel on the order and confirms it without shipping again."""
    order_id, native_id, _ = await shopify_order(app, shopify_shop, shopify_sandbox)
    shopify_shop.control.post(
        "/faults",
        json={"kind": "error", "status": 504, "method": "POST", "path_pattern": "fulfillments"},
    ).raise_for_status()
    number = ups_number()
    resp = await shopify_shop.tenant.post(
        f"/v1/orders/{order_id}/shipments", json={"carrier_code": "UPS", "tracking_number": number}
    )
    body = resp.json()
    assert body["state"] == "pending", body
    # ... yet the platform did ship it (as if the 504 came after Shopify had acted).
    shipped = shopify_shop.control.post(
        f"/orders/{native_id}/fulfill", json={"tracking_number": number, "tracking_company": "UPS"}
    )
    shipped.raise_for_status()
    fulfillment_id = str(shipped.json()["fulfillment"]["id"])
    await make_due(app, body["id"])
    [result] = await worker.run_once({body["id"]})
    assert result.state == "confirmed"
    made = shopify_shop.control.get("/shipments", params={"order_id": native_id}).json()
    assert made["shipments"] == [], "no second fulfillment was created through the API"
    shipment = (await shopify_shop.tenant.get(f"/v1/shipments/{body['id']}")).json()
    assert shipment["platform_shipment_id"] == fulfillment_id
    assert (await shopify_shop.tenant.get(f"/v1/orders/{order_id}")).json()["status"] == "shipped"


async def test_two_workers_never_confirm_twice(
    app: FastAPI, shopify_shop: Shop, shopify_sandbox: RunningServer
) -> None:
    order_id, native_id, _ = await shopify_order(app, shopify_shop, shopify_sandbox)
    shopify_shop.control.post(
        "/faults",
        json={"kind": "error", "status": 502, "method": "POST", "path_pattern": "fulfillments"},
    ).raise_for_status()
    resp = await shopify_shop.tenant.post(
        f"/v1/orders/{order_id}/shipments",
        json={"carrier_code": "UPS", "tracking_number": ups_number()},
    )
    shipment_id = resp.json()["id"]
    assert resp.json()["state"] == "pending"
    await make_due(app, shipment_id)
    workers = [ShipmentWorker(app.state.db, app.state.box) for _ in range(3)]
    results = await asyncio.gather(*(w.run_once({shipment_id}) for w in workers))
    attempted = [r for batch in results for r in batch]
    assert [(r.state, r.recorded) for r in attempted] == [("confirmed", True)]
    made = shopify_shop.control.get("/shipments", params={"order_id": native_id}).json()
    assert len(made["shipments"]) == 1
    confirmed = await events_of(app, shopify_shop.tenant.tenant_id, "shipment.confirmed")
    assert len(confirmed) == 1


async def test_a_claim_taken_over_writes_nothing_and_calls_nobody(
    app: FastAPI, shopify_shop: Shop, shopify_sandbox: RunningServer, worker: ShipmentWorker
) -> None:
    """A worker whose lease ran out (it hung) cannot act on its old claim once another
    worker took the shipment over."""
    order_id, native_id, _ = await shopify_order(app, shopify_shop, shopify_sandbox)
    shopify_shop.control.post(
        "/faults",
        json={"kind": "error", "status": 503, "method": "POST", "path_pattern": "fulfillments"},
    ).raise_for_status()
    resp = await shopify_shop.tenant.post(
        f"/v1/orders/{order_id}/shipments",
        json={"carrier_code": "UPS", "tracking_number": ups_number()},
    )
    shipment_id = resp.json()["id"]
    await make_due(app, shipment_id)
    async with app.state.db.transaction() as session:
        [stale] = await claim_due(
            session, lease=timedelta(minutes=2), limit=10, shipment_ids=[shipment_id]
        )
    assert stale.attempt == 2
    await make_due(app, shipment_id)  # the stale claim's lease "ran out"
    [taken_over] = await worker.run_once({shipment_id})
    assert taken_over.state == "confirmed"
    late = await worker.confirmer.attempt(Claim(shipment_id, stale.tenant_id, stale.attempt))
    assert late.recorded is False and late.state == "confirmed"
    made = shopify_shop.control.get("/shipments", params={"order_id": native_id}).json()
    assert len(made["shipments"]) == 1


async def test_expired_token_stays_pending_and_says_re_authorise(
    app: FastAPI, shopify_shop: Shop, shopify_sandbox: RunningServer, worker: ShipmentWorker
) -> None:
    order_id, _, _ = await shopify_order(app, shopify_shop, shopify_sandbox)
    shopify_shop.control.post("/token", json={"action": "expire"}).raise_for_status()
    try:
        resp = await shopify_shop.tenant.post(
            f"/v1/orders/{order_id}/shipments",
            json={"carrier_code": "UPS", "tracking_number": ups_number()},
        )
        body = resp.json()
        assert body["state"] == "pending", body
        assert "re-authorise" in body["error"]["message"]
    finally:
        shopify_shop.control.post("/token", json={"action": "restore"}).raise_for_status()
    await make_due(app, body["id"])
    [result] = await worker.run_once({body["id"]})
    assert result.state == "confirmed"


async def test_gives_up_after_a_day_as_rejected(
    app: FastAPI, taobao_shop: Shop, worker: ShipmentWorker
) -> None:
    order_id, _, _ = await taobao_order(app, taobao_shop)
    taobao_shop.control.post(
        "/faults", json={"kind": "error", "api": r"logistics\.offline", "count": None}
    ).raise_for_status()
    resp = await taobao_shop.tenant.post(
        f"/v1/orders/{order_id}/shipments",
        json={"carrier_code": "SF", "tracking_number": sf_number()},
    )
    shipment_id = resp.json()["id"]
    assert resp.json()["state"] == "pending"
    async with app.state.db.transaction() as session:
        await session.execute(
            update(ShipmentRow)
            .where(ShipmentRow.id == shipment_id)
            .values(created_at=utcnow() - timedelta(hours=25))
        )
    await make_due(app, shipment_id)
    [result] = await worker.run_once({shipment_id})
    assert result.state == "rejected"
    body = (await taobao_shop.tenant.get(f"/v1/shipments/{shipment_id}")).json()
    assert body["error"]["code"] == "gave_up"
    assert body["error"]["message"].startswith("gave up after 2 attempts: ")
    failed = await events_of(app, taobao_shop.tenant.tenant_id, "shipment.failed")
    assert [e.payload["error"]["code"] for e in failed] == ["gave_up"]


def test_backoff_doubles_from_ten_seconds_to_an_hour() -> None:
    settings = ShipmentSettings()
    assert 10 <= backoff(1, settings) <= 11
    assert 20 <= backoff(2, settings) <= 22
    assert 3600 <= backoff(20, settings) <= 3960
    assert backoff(1, settings, retry_after=30) == 30
