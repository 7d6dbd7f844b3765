"""Webhook pushes: signature, headers, redelivery, bounded retries, chaos switches."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import datetime

from tests.sandbox.conftest import SECRET, SHOP, VERSION, Received, Sandbox

REQUIRED_HEADERS = (
    "x-shopify-topic",
    "x-shopify-hmac-sha256",
    "x-shopify-shop-domain",
    "x-shopify-api-version",
    "x-shopify-webhook-id",
    "x-shopify-event-id",
    "x-shopify-triggered-at",
)


def independent_hmac_ok(request: Received, secret: str = SECRET) -> bool:
    """Verify X-Shopify-Hmac-Sha256 without using any sandbox or SDK code."""
    digest = hmac.new(secret.encode(), request.body, hashlib.sha256).digest()
    expected = base64.b64encode(digest).decode()
    return hmac.compare_digest(expected, request.headers["x-shopify-hmac-sha256"])


def test_order_create_push_is_signed(sandbox: Sandbox) -> None:
    order = sandbox.create_order(payment="paid")
    received = sandbox.receiver.wait_for(
        lambda rs: {"orders/create", "orders/paid"} <= {r.topic for r in rs}
    )
    create = next(r for r in received if r.topic == "orders/create")
    assert create.path == "/push"
    for header in REQUIRED_HEADERS:
        assert create.headers.get(header), header
    assert create.headers["x-shopify-shop-domain"] == SHOP
    assert create.headers["x-shopify-api-version"] == VERSION
    assert create.headers["content-type"] == "application/json"
    assert datetime.fromisoformat(create.headers["x-shopify-triggered-at"]).tzinfo is not None
    assert independent_hmac_ok(create)
    assert not independent_hmac_ok(create, secret="some-other-secret")
    payload = json.loads(create.body)
    assert payload["id"] == order["id"] and payload["name"] == order["name"]
    assert payload["financial_status"] == "paid"
    assert all(independent_hmac_ok(r) for r in received)
    event_ids = {r.headers["x-shopify-event-id"] for r in received}
    assert len(event_ids) == len(received)  # one event per topic here


def test_redelivered_after_a_failure(sandbox: Sandbox) -> None:
    sandbox.receiver.respond(500, topic="orders/create")
    sandbox.create_order(payment="pending")
    received = sandbox.receiver.wait_for(
        lambda rs: len([r for r in rs if r.topic == "orders/create"]) == 2
    )
    first, second = (r for r in received if r.topic == "orders/create")
    assert (first.status, second.status) == (500, 200)
    for header in (
        "x-shopify-webhook-id",
        "x-shopify-event-id",
        "x-shopify-triggered-at",
        "x-shopify-hmac-sha256",
    ):
        assert first.headers[header] == second.headers[header]
    assert first.body == second.body
    sandbox.wait_pushes()
    record = sandbox.pushes(topic="orders/create")[0]
    assert record["state"] == "delivered"
    assert [a["status_code"] for a in record["attempts"]] == [500, 200]


def test_redelivered_after_a_timeout(sandbox: Sandbox) -> None:
    # The fixture's timeout is 1 s (Shopify: 5 s); the receiver answers after 1.5 s.
    sandbox.receiver.respond(200, delay=1.5, topic="orders/create")
    sandbox.create_order(payment="pending")
    sandbox.receiver.wait_for(lambda rs: len([r for r in rs if r.topic == "orders/create"]) == 2)
    sandbox.wait_pushes()
    record = sandbox.pushes(topic="orders/create")[0]
    assert record["state"] == "delivered"
    assert record["attempts"][0]["status_code"] is None
    assert "timeout" in record["attempts"][0]["error"]
    assert record["attempts"][1]["status_code"] == 200


def test_attempts_are_bounded(sandbox: Sandbox) -> None:
    sandbox.receiver.respond(503, times=4, topic="orders/create")
    sandbox.create_order(payment="pending")
    sandbox.wait_pushes()
    record = sandbox.pushes(topic="orders/create")[0]
    assert record["state"] == "failed"
    assert len(record["attempts"]) == 4  # webhook_max_attempts in the fixture
    assert len(sandbox.receiver.received("orders/create")) == 4
    again = sandbox.control.post(f"/_sandbox/pushes/{record['id']}/redeliver")
    assert again.status_code == 200
    sandbox.wait_pushes()
    assert sandbox.pushes(topic="orders/create")[-1]["state"] == "delivered"


def test_duplicate_pushes(sandbox: Sandbox) -> None:
    sandbox.control.post("/_sandbox/push_faults", json={"duplicate": 1})
    sandbox.create_order(payment="pending")
    received = sandbox.receiver.wait_for(
        lambda rs: len([r for r in rs if r.topic == "orders/create"]) == 2
    )
    first, second = (r for r in received if r.topic == "orders/create")
    assert first.headers["x-shopify-webhook-id"] == second.headers["x-shopify-webhook-id"]
    assert first.headers["x-shopify-event-id"] == second.headers["x-shopify-event-id"]
    assert first.body == second.body
    records = sandbox.pushes(topic="orders/create")
    assert records[1]["duplicate_of"] == records[0]["id"]


def test_out_of_order_pushes(sandbox: Sandbox) -> None:
    sandbox.control.post("/_sandbox/push_faults", json={"reorder": 2})
    # A pending one-line order emits exactly orders/create then inventory_levels/update.
    sandbox.create_order(payment="pending", line_items=[{"sku": "FL-CTB", "quantity": 1}])
    received = sandbox.receiver.wait_for(lambda rs: len(rs) >= 2)
    assert [r.topic for r in received[:2]] == ["inventory_levels/update", "orders/create"]
    records = sorted(sandbox.pushes(), key=lambda r: r["sequence"])
    assert [r["topic"] for r in records] == ["inventory_levels/update", "orders/create"]
    assert all(r["reordered"] for r in records)


def test_inventory_level_update_payload(sandbox: Sandbox) -> None:
    inventory = sandbox.control.get("/_sandbox/inventory").json()["inventory"]
    item = next(row for row in inventory if row["levels"])
    location_id = item["levels"][0]["location_id"]
    response = sandbox.api.post(
        sandbox.admin("inventory_levels/set.json"),
        json={
            "location_id": location_id,
            "inventory_item_id": item["inventory_item_id"],
            "available": 5,
        },
    )
    assert response.status_code == 200
    received = sandbox.receiver.wait_for(
        lambda rs: any(r.topic == "inventory_levels/update" for r in rs)
    )
    push = next(r for r in received if r.topic == "inventory_levels/update")
    assert independent_hmac_ok(push)
    payload = json.loads(push.body)
    assert (payload["inventory_item_id"], payload["location_id"], payload["available"]) == (
        item["inventory_item_id"],
        location_id,
        5,
    )
