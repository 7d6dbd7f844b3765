"""Checkout enforces stock like Shopify: a `deny`-policy variant cannot sell more than its
fulfilling location has available; a `continue` one may oversell."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.sandbox.conftest import Sandbox


def _product(sandbox: Sandbox, sku: str, available: int, policy: str = "deny") -> dict[str, Any]:
    response = sandbox.control.post(
        "/_sandbox/products",
        json={
            "title": f"Hot {sku}",
            "variants": [{"sku": sku, "available": available, "inventory_policy": policy}],
        },
    )
    assert response.status_code == 201, response.text
    variant: dict[str, Any] = response.json()["product"]["variants"][0]
    return variant


def _available(sandbox: Sandbox, sku: str) -> int:
    rows = sandbox.control.get("/_sandbox/inventory").json()["inventory"]
    row = next(r for r in rows if r["sku"] == sku)
    return sum(level["available"] for level in row["levels"])


def _checkout(sandbox: Sandbox, **body: Any) -> httpx.Response:
    return sandbox.control.post("/_sandbox/checkout", json=body)


def test_checkout_takes_stock_and_fires_order_and_inventory_webhooks(sandbox: Sandbox) -> None:
    variant = _product(sandbox, "HOT-1", 3)
    answer = _checkout(sandbox, sku="HOT-1", quantity=2)
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["available"] == 1
    assert body["order"]["sku"] == "HOT-1" and body["order"]["quantity"] == 2
    assert body["order"]["financial_status"] == "paid"
    assert _available(sandbox, "HOT-1") == 1
    order = sandbox.api.get(sandbox.admin(f"orders/{body['order']['id']}.json")).json()["order"]
    assert [(li["sku"], li["quantity"]) for li in order["line_items"]] == [("HOT-1", 2)]
    by_id = _checkout(sandbox, variant_id=variant["id"])
    assert by_id.status_code == 201 and by_id.json()["available"] == 0
    sandbox.receiver.wait_for(
        lambda got: (
            sum(r.topic == "orders/create" for r in got) == 2
            and sum(r.topic == "inventory_levels/update" for r in got) >= 2
        )
    )


def test_checkout_beyond_stock_is_refused_and_changes_nothing(sandbox: Sandbox) -> None:
    _product(sandbox, "HOT-2", 2)
    orders_before = sandbox.control.get("/_sandbox/health").json()["orders"]
    too_many = _checkout(sandbox, sku="HOT-2", quantity=3)
    assert too_many.status_code == 422
    error = too_many.json()["errors"]["line_items"][0]
    assert error["code"] == "not_enough_in_stock"
    assert error["message"] == "Not enough items available"
    assert (error["requested"], error["available"]) == (3, 2)
    assert _checkout(sandbox, sku="HOT-2", quantity=2).status_code == 201
    sold_out = _checkout(sandbox, sku="HOT-2")
    assert sold_out.status_code == 422
    assert sold_out.json()["errors"]["line_items"][0]["message"] == "Hot HOT-2 is out of stock"
    assert _available(sandbox, "HOT-2") == 0
    assert sandbox.control.get("/_sandbox/health").json()["orders"] == orders_before + 1
    sandbox.wait_pushes()
    assert len(sandbox.receiver.received("orders/create")) == 1


def test_continue_policy_oversells_as_on_shopify(sandbox: Sandbox) -> None:
    _product(sandbox, "PRE-1", 1, policy="continue")
    assert _checkout(sandbox, sku="PRE-1").status_code == 201
    assert _checkout(sandbox, sku="PRE-1", quantity=2).status_code == 201
    assert _available(sandbox, "PRE-1") == -2


def test_orders_with_explicit_lines_obey_stock_generated_orders_do_not(sandbox: Sandbox) -> None:
    _product(sandbox, "HOT-3", 1)
    refused = sandbox.control.post(
        "/_sandbox/orders", json={"line_items": [{"sku": "HOT-3", "quantity": 2}]}
    )
    assert refused.status_code == 422
    assert refused.json()["detail"] == {"line_items": ["Not enough items available"]}
    # Two lines of one variant count together.
    split = sandbox.control.post(
        "/_sandbox/orders",
        json={"line_items": [{"sku": "HOT-3", "quantity": 1}, {"sku": "HOT-3", "quantity": 1}]},
    )
    assert split.status_code == 422
    sandbox.create_order(line_items=[{"sku": "HOT-3", "quantity": 1}])
    assert _available(sandbox, "HOT-3") == 0
    # Generated orders (the live stream, bursts) are not checkouts of a chosen variant.
    generated = sandbox.control.post("/_sandbox/orders", json={"count": 3})
    assert generated.status_code == 201


def test_checkout_needs_a_known_variant(sandbox: Sandbox) -> None:
    assert _checkout(sandbox, sku="NO-SUCH-SKU").status_code == 404
    assert _checkout(sandbox, quantity=1).status_code == 422


def test_concurrent_checkouts_never_sell_more_than_the_stock(sandbox: Sandbox) -> None:
    _product(sandbox, "HOT-4", 7)

    async def buyers() -> list[int]:
        async with httpx.AsyncClient(base_url=sandbox.base_url, trust_env=False) as client:
            gate = asyncio.Event()

            async def buy() -> int:
                await gate.wait()
                response = await client.post("/_sandbox/checkout", json={"sku": "HOT-4"})
                return response.status_code

            tasks = [asyncio.create_task(buy()) for _ in range(40)]
            await asyncio.sleep(0)
            gate.set()
            return list(await asyncio.gather(*tasks))

    codes = asyncio.run(buyers())
    assert codes.count(201) == 7 and codes.count(422) == 33
    assert _available(sandbox, "HOT-4") == 0
