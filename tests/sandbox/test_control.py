"""The /_sandbox control plane."""

from __future__ import annotations

import time
from decimal import Decimal

import httpx

from shopbridge.sandbox.shopify import ShopifySandboxOptions, create_app
from tests.sandbox.conftest import Sandbox


def test_create_explicit_order_prices_it_like_checkout(sandbox: Sandbox) -> None:
    order = sandbox.create_order(
        payment="paid",
        line_items=[{"sku": "NP-TRS-9", "quantity": 2}],
        buyer={
            "first_name": "Test",
            "last_name": "Buyer",
            "email": "test.buyer@example.com",
            "city": "San Diego",
            "province": "California",
            "province_code": "CA",
            "zip": "92101",
        },
        discount={"code": "WELCOME10", "value": "10", "type": "percentage"},
        shipping={"title": "Standard Shipping", "price": "5.99"},
        tags="vip",
    )
    assert order["total_line_items_price"] == "238.00"
    assert order["total_discounts"] == "23.80"
    assert order["subtotal_price"] == "214.20"
    assert order["total_tax"] == "15.53"  # 7.25 % CA sales tax on the discounted lines
    assert order["tax_lines"][0]["title"] == "CA State Tax"
    assert order["total_price"] == "235.72"
    assert order["financial_status"] == "paid"
    assert order["discount_codes"] == [
        {"code": "WELCOME10", "amount": "23.80", "type": "percentage"}
    ]
    assert order["line_items"][0]["discount_allocations"][0]["amount"] == "23.80"
    assert order["customer"]["email"] == "test.buyer@example.com"
    assert order["tags"] == "vip"
    fetched = sandbox.api.get(sandbox.admin(f"orders/{order['id']}.json")).json()["order"]
    assert fetched["total_price"] == "235.72"


def test_lifecycle_moves(sandbox: Sandbox) -> None:
    order = sandbox.create_order(payment="pending", line_items=[{"sku": "FL-OCT-M", "quantity": 3}])
    order_id = order["id"]
    assert order["financial_status"] == "pending"
    paid = sandbox.control.post(f"/_sandbox/orders/{order_id}/pay").json()["order"]
    assert paid["financial_status"] == "paid"
    assert paid["total_outstanding"] == "0.00"

    fulfilled = sandbox.control.post(
        f"/_sandbox/orders/{order_id}/fulfill",
        json={
            "line_items": [{"sku": "FL-OCT-M", "quantity": 2}],
            "tracking_number": "1Z123",
            "tracking_company": "UPS",
        },
    ).json()
    assert fulfilled["order"]["fulfillment_status"] == "partial"
    assert fulfilled["fulfillment"]["tracking_company"] == "UPS"

    refunded = sandbox.control.post(
        f"/_sandbox/orders/{order_id}/refund",
        json={"line_items": [{"sku": "FL-OCT-M", "quantity": 1}]},
    ).json()["order"]
    assert refunded["financial_status"] == "partially_refunded"
    assert Decimal(refunded["current_total_price"]) < Decimal(refunded["total_price"])
    line = refunded["line_items"][0]
    assert (line["current_quantity"], line["fulfillable_quantity"], line["fulfillment_status"]) == (
        2,
        0,
        "fulfilled",
    )
    assert refunded["fulfillment_status"] == "fulfilled"
    assert refunded["refunds"][0]["refund_line_items"][0]["restock_type"] == "return"

    cannot = sandbox.control.post(f"/_sandbox/orders/{order_id}/cancel")
    assert cannot.status_code == 422  # orders with fulfillments cannot be cancelled

    closed = sandbox.control.post(f"/_sandbox/orders/{order_id}/close").json()["order"]
    assert closed["closed_at"] is not None
    closed_ids = sandbox.api.get(
        sandbox.admin("orders.json"), params={"status": "closed", "limit": 250, "fields": "id"}
    ).json()["orders"]
    assert order_id in {o["id"] for o in closed_ids}
    assert sandbox.control.delete(f"/_sandbox/orders/{order_id}").status_code == 200
    assert sandbox.api.get(sandbox.admin(f"orders/{order_id}.json")).status_code == 404


def test_cancel_unpaid_orders_void_payment(sandbox: Sandbox) -> None:
    authorized = sandbox.create_order(payment="authorized")
    cancelled = sandbox.control.post(
        f"/_sandbox/orders/{authorized['id']}/cancel", json={"reason": "fraud"}
    ).json()
    assert cancelled["order"]["financial_status"] == "voided"
    assert cancelled["order"]["cancel_reason"] == "fraud"
    assert cancelled["order"]["fulfillment_status"] == "restocked"


def test_reset_is_deterministic(sandbox: Sandbox) -> None:
    def snapshot(random_seed: int) -> list[tuple[int, str, str, str]]:
        sandbox.control.post("/_sandbox/reset", json={"seed": 20, "random_seed": random_seed})
        orders = sandbox.api.get(
            sandbox.admin("orders.json"), params={"status": "any", "limit": 250}
        ).json()["orders"]
        return [(o["id"], o["name"], o["total_price"], o["email"]) for o in orders]

    first = snapshot(99)
    assert len(first) == 20
    assert snapshot(99) == first
    assert snapshot(100) != first


def test_tick_and_stream(sandbox: Sandbox) -> None:
    before = sandbox.api.get(sandbox.admin("orders/count.json"), params={"status": "any"}).json()[
        "count"
    ]
    steps = sandbox.control.post("/_sandbox/tick", json={"steps": 30}).json()["steps"]
    assert len(steps) == 30
    created = sum(1 for s in steps if s["action"] == "create")
    assert created > 0 and {s["action"] for s in steps} - {"create", "noop"}
    after = sandbox.api.get(sandbox.admin("orders/count.json"), params={"status": "any"}).json()[
        "count"
    ]
    assert after == before + created
    # The live stream runs in the background of the server.
    assert (
        sandbox.control.post("/_sandbox/stream", json={"orders_per_second": 40}).status_code == 200
    )
    time.sleep(0.5)
    stopped = sandbox.control.post("/_sandbox/stream", json={"orders_per_second": 0}).json()
    assert stopped == {"orders_per_second": 0}
    live = sandbox.api.get(sandbox.admin("orders/count.json"), params={"status": "any"}).json()[
        "count"
    ]
    assert live > after
    sandbox.receiver.wait_for(lambda rs: any(r.topic == "orders/create" for r in rs))


def test_state_faults_and_rate_limit_endpoints(sandbox: Sandbox) -> None:
    summary = sandbox.control.get("/_sandbox/state").json()
    assert summary["orders"]["total"] == 130
    assert summary["rate_limit"]["bucket_size"] == 40
    bad = sandbox.control.post("/_sandbox/faults", json={"kind": "error", "path_pattern": "("})
    assert bad.status_code == 422
    rule = sandbox.control.post(
        "/_sandbox/faults",
        json={"kind": "error", "status": 502, "count": None, "path_pattern": "shop"},
    ).json()["fault"]
    assert [f["id"] for f in sandbox.control.get("/_sandbox/faults").json()["faults"]] == [
        rule["id"]
    ]
    for _ in range(2):
        failed = sandbox.api.get(sandbox.admin("shop.json"))
        assert (failed.status_code, failed.json()) == (502, {"errors": "Bad Gateway"})
    assert sandbox.control.delete(f"/_sandbox/faults/{rule['id']}").status_code == 200
    assert sandbox.api.get(sandbox.admin("shop.json")).status_code == 200
    configured = sandbox.control.post(
        "/_sandbox/rate_limit", json={"bucket_size": 80, "leak_per_second": 4}
    ).json()
    assert (configured["bucket_size"], configured["leak_per_second"]) == (80, 4)
    assert (
        sandbox.api.get(sandbox.admin("shop.json"))
        .headers["x-shopify-shop-api-call-limit"]
        .endswith("/80")
    )


async def test_control_token_and_cny_shop() -> None:
    app = create_app(ShopifySandboxOptions(seed=8, currency="CNY", control_token="ctl-secret"))
    transport = httpx.ASGITransport(app=app)  # in-process; no lifespan needed here
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox.test") as client:
        assert (await client.get("/_sandbox/health")).status_code == 401
        health = await client.get("/_sandbox/health", headers={"X-Sandbox-Token": "ctl-secret"})
        assert health.json()["orders"] == 8
        headers = {"X-Shopify-Access-Token": "shpat_sandbox_token"}
        shop = (await client.get("/admin/api/2026-10/shop.json", headers=headers)).json()["shop"]
        assert (shop["currency"], shop["iana_timezone"], shop["taxes_included"]) == (
            "CNY",
            "Asia/Shanghai",
            True,
        )
        response = await client.get(
            "/admin/api/2026-10/orders.json", params={"status": "any"}, headers=headers
        )
        orders = response.json()["orders"]
        assert "link" not in response.headers  # one page
    assert len(orders) == 8
    for order in orders:
        assert order["currency"] == "CNY" and order["taxes_included"] is True
        assert order["created_at"].endswith("+08:00")
        assert order["tax_lines"][0]["rate"] == 0.13
        assert order["shipping_address"]["country_code"] == "CN"
        lines = sum(
            (Decimal(li["price"]) * li["quantity"] for li in order["line_items"]), Decimal(0)
        )
        shipping = Decimal(order["total_shipping_price_set"]["shop_money"]["amount"])
        discounts = Decimal(order["total_discounts"])
        assert Decimal(order["total_price"]) == lines + shipping - discounts  # VAT included
