"""Carrier tracking reported by the ERP: stored once, latest status on the shipment, one
event per report with what was new."""

from __future__ import annotations

from fastapi import FastAPI

from shopbridge.sandbox.common.runner import RunningServer
from tests.logistics.conftest import Shop, events_of, shopify_order, ups_number


async def test_tracking_events_are_stored_deduplicated_and_announced(
    app: FastAPI, shopify_shop: Shop, shopify_sandbox: RunningServer
) -> None:
    order_id, _, _ = await shopify_order(app, shopify_shop, shopify_sandbox)
    client = shopify_shop.tenant
    created = await client.post(
        f"/v1/orders/{order_id}/shipments",
        json={"carrier_code": "UPS", "tracking_number": ups_number()},
    )
    shipment_id = created.json()["id"]
    url = f"/v1/shipments/{shipment_id}/tracking"

    first = await client.post(
        url,
        json={
            "source": "carrier",
            "events": [
                {
                    "occurred_at": "2026-12-01T09:00:00+08:00",
                    "status": "info_received",
                    "description": "Label created",
                },
                {
                    "occurred_at": "2026-12-01T18:30:00+08:00",
                    "status": "in_transit",
                    "location": "Hangzhou hub",
                },
                # the same scan twice in one report
                {"occurred_at": "2026-12-01T10:30:00Z", "status": "in_transit"},
            ],
        },
    )
    assert first.status_code == 200, first.text
    assert first.json()["added"] == 2 and first.json()["duplicates"] == 1
    shipment = first.json()["shipment"]
    assert shipment["tracking_status"] == "in_transit"
    assert [e["status"] for e in shipment["tracking_events"]] == ["info_received", "in_transit"]
    assert shipment["tracking_events"][1]["occurred_at"] == "2026-12-01T10:30:00Z"
    assert shipment["tracking_events"][1]["location"] == "Hangzhou hub"
    assert shipment["tracking_events"][0]["source"] == "carrier"

    # A repeat of everything plus an older event that arrived late: the latest stays.
    second = await client.post(
        url,
        json={
            "events": [
                {"occurred_at": "2026-12-01T01:00:00Z", "status": "info_received"},
                {"occurred_at": "2026-12-01T10:30:00Z", "status": "in_transit"},
                {"occurred_at": "2026-11-30T20:00:00-05:00", "status": "exception"},
            ]
        },
    )
    assert second.json()["added"] == 1 and second.json()["duplicates"] == 2
    assert second.json()["shipment"]["tracking_status"] == "in_transit"

    third = await client.post(
        url, json={"events": [{"occurred_at": "2026-12-02T11:00:00+08:00", "status": "delivered"}]}
    )
    assert third.json()["added"] == 1
    detail = (await client.get(f"/v1/shipments/{shipment_id}")).json()
    assert detail["tracking_status"] == "delivered"
    assert [e["status"] for e in detail["tracking_events"]] == [
        "info_received",
        "exception",
        "in_transit",
        "delivered",
    ]
    assert detail["tracking_events"][1]["source"] == "erp"

    nothing_new = await client.post(
        url, json={"events": [{"occurred_at": "2026-12-02T03:00:00Z", "status": "delivered"}]}
    )
    assert nothing_new.json()["added"] == 0

    updates = await events_of(app, client.tenant_id, "shipment.tracking_updated")
    assert len(updates) == 3, "one event per report that added something"
    assert [e["status"] for e in updates[0].payload["events"]] == ["info_received", "in_transit"]
    assert [e["status"] for e in updates[1].payload["events"]] == ["exception"]
    assert updates[2].payload["shipment"]["tracking_status"] == "delivered"
    assert all(e.subject_id == order_id for e in updates)


async def test_tracking_input_is_validated(
    app: FastAPI, shopify_shop: Shop, shopify_sandbox: RunningServer
) -> None:
    order_id, _, _ = await shopify_order(app, shopify_shop, shopify_sandbox)
    client = shopify_shop.tenant
    created = await client.post(
        f"/v1/orders/{order_id}/shipments",
        json={"carrier_code": "UPS", "tracking_number": ups_number()},
    )
    url = f"/v1/shipments/{created.json()['id']}/tracking"
    for events in (
        [],
        [{"occurred_at": "2026-12-01T09:00:00", "status": "in_transit"}],  # naive
        [{"occurred_at": "2026-12-01T09:00:00Z", "status": "teleported"}],
        [{"occurred_at": "2026-12-01T09:00:00Z", "status": "in_transit", "extra": 1}],
    ):
        resp = await client.post(url, json={"events": events})
        assert resp.status_code == 422, (events, resp.text)
    assert (await client.post(url, json={"events": [], "source": "x"})).status_code == 422
    assert await events_of(app, client.tenant_id, "shipment.tracking_updated") == []


async def test_reading_needs_orders_read_and_writing_orders_write(
    app: FastAPI, shopify_shop: Shop, shopify_sandbox: RunningServer
) -> None:
    order_id, _, _ = await shopify_order(app, shopify_shop, shopify_sandbox)
    client = shopify_shop.tenant
    created = await client.post(
        f"/v1/orders/{order_id}/shipments",
        json={"carrier_code": "UPS", "tracking_number": ups_number()},
    )
    shipment_id = created.json()["id"]
    key = await client.post("/v1/api-keys", json={"name": "reader", "scopes": ["orders:read"]})
    reader = {"Authorization": f"Bearer {key.json()['key']}"}
    assert (await client.get(f"/v1/shipments/{shipment_id}", headers=reader)).status_code == 200
    listed = await client.get(f"/v1/orders/{order_id}/shipments", headers=reader)
    assert listed.status_code == 200 and len(listed.json()["data"]) == 1
    denied = [
        await client.post(
            f"/v1/orders/{order_id}/shipments",
            headers=reader,
            json={"carrier_code": "UPS", "tracking_number": ups_number()},
        ),
        await client.post(
            f"/v1/shipments/{shipment_id}/tracking",
            headers=reader,
            json={"events": [{"occurred_at": "2026-12-01T09:00:00Z", "status": "in_transit"}]},
        ),
    ]
    assert [r.status_code for r in denied] == [403, 403]
