"""`POST /v1/orders/{id}/shipments` against the Shopify and Taobao sandboxes: full and partial
shipments confirm on the platform and the order follows; repeats are the same shipment;
refusals of ours write nothing; the platform's refusals are recorded, not retried."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from shopbridge.sandbox.common.runner import RunningServer
from shopbridge.sync.shipments import ShipmentWorker
from tests.logistics.conftest import (
    Shop,
    events_of,
    sf_number,
    shipment_rows,
    shopify_order,
    taobao_order,
    ups_number,
)

PROBLEM = "urn:shopbridge:problem:"


async def test_full_shipment_confirms_on_shopify_and_the_order_ships(
    app: FastAPI, shopify_shop: Shop, shopify_sandbox: RunningServer
) -> None:
    order_id, native_id, _ = await shopify_order(app, shopify_shop, shopify_sandbox)
    client = shopify_shop.tenant
    number = ups_number()
    resp = await client.post(
        f"/v1/orders/{order_id}/shipments",
        json={"carrier_code": "ups", "tracking_number": number, "notify_buyer": True},
    )
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert resp.headers["location"] == f"/v1/shipments/{body['id']}"
    assert body["state"] == "confirmed", body
    assert body["carrier_code"] == "UPS" and body["platform"] == "shopify"
    assert body["platform_order_id"] == native_id
    assert body["platform_shipment_id"]
    assert body["lines"] == [] and body["notify_buyer"] is True
    assert body["tracking_url"] and number in body["tracking_url"]
    assert body["error"] is None and body["next_attempt_at"] is None

    made = shopify_shop.control.get("/shipments", params={"order_id": native_id}).json()
    assert len(made["shipments"]) == 1
    order = (await client.get(f"/v1/orders/{order_id}")).json()
    assert order["status"] == "shipped"
    assert any(s["tracking_number"] == number for s in order["shipments"])

    types = [e.type for e in await events_of(app, client.tenant_id)]
    assert types.index("shipment.created") < types.index("shipment.confirmed")
    assert types.index("shipment.confirmed") < types.index("order.status_changed")
    confirmed = [e for e in await events_of(app, client.tenant_id, "shipment.confirmed")]
    assert confirmed[0].subject_id == order_id
    assert confirmed[0].payload["shipment"]["id"] == body["id"]


async def test_full_shipment_confirms_on_taobao_and_the_order_ships(
    app: FastAPI, taobao_shop: Shop
) -> None:
    order_id, tid, _ = await taobao_order(app, taobao_shop)
    client = taobao_shop.tenant
    number = sf_number()
    resp = await client.post(
        f"/v1/orders/{order_id}/shipments", json={"carrier_code": "SF", "tracking_number": number}
    )
    assert resp.status_code == 201, resp.text
    assert resp.json()["state"] == "confirmed", resp.json()
    made = taobao_shop.control.get("/shipments", params={"tid": tid}).json()["shipments"]
    assert [(s["company_code"], s["out_sid"], s["is_split"]) for s in made] == [
        ("SF", number, False)
    ]
    order = (await client.get(f"/v1/orders/{order_id}")).json()
    assert order["status"] == "shipped"
    types = {e.type for e in await events_of(app, client.tenant_id)}
    assert {"shipment.created", "shipment.confirmed", "order.status_changed"} <= types


async def test_partial_shipment_then_the_rest_on_shopify(
    app: FastAPI, shopify_shop: Shop, shopify_sandbox: RunningServer
) -> None:
    order_id, native_id, lines = await shopify_order(app, shopify_shop, shopify_sandbox, (3, 1))
    client = shopify_shop.tenant
    first = await client.post(
        f"/v1/orders/{order_id}/shipments",
        json={
            "carrier_code": "FEDEX",
            "tracking_number": "123456789012",
            "lines": [{"line_id": lines[0], "quantity": 2}],
        },
    )
    assert first.status_code == 201 and first.json()["state"] == "confirmed", first.text
    assert first.json()["lines"] == [{"line_id": lines[0], "quantity": 2}]
    assert (await client.get(f"/v1/orders/{order_id}")).json()["status"] == "partially_shipped"

    too_many = await client.post(
        f"/v1/orders/{order_id}/shipments",
        json={
            "carrier_code": "FEDEX",
            "tracking_number": "123456789013",
            "lines": [{"line_id": lines[0], "quantity": 2}],
        },
    )
    assert too_many.status_code == 422
    assert too_many.json()["type"] == PROBLEM + "quantity-exceeds-unshipped"
    assert too_many.json()["errors"][0]["pointer"] == "#/lines/0/quantity"

    rest = await client.post(
        f"/v1/orders/{order_id}/shipments",
        json={"carrier_code": "FEDEX", "tracking_number": "123456789014"},
    )
    assert rest.status_code == 201 and rest.json()["state"] == "confirmed", rest.text
    made = shopify_shop.control.get("/shipments", params={"order_id": native_id}).json()
    assert len(made["shipments"]) == 2
    assert (await client.get(f"/v1/orders/{order_id}")).json()["status"] == "shipped"

    nothing_left = await client.post(
        f"/v1/orders/{order_id}/shipments",
        json={"carrier_code": "FEDEX", "tracking_number": "123456789015"},
    )
    assert nothing_left.status_code == 422
    assert nothing_left.json()["type"] == PROBLEM + "quantity-exceeds-unshipped"

    listed = (await client.get(f"/v1/orders/{order_id}/shipments")).json()
    assert [s["tracking_number"] for s in listed["data"]] == ["123456789012", "123456789014"]
    assert listed["has_more"] is False


async def test_partial_shipment_then_the_rest_on_taobao(app: FastAPI, taobao_shop: Shop) -> None:
    order_id, tid, oids = await taobao_order(app, taobao_shop, lines=2)
    client = taobao_shop.tenant
    order = (await client.get(f"/v1/orders/{order_id}")).json()
    quantity = {line["native_id"]: line["quantity"] for line in order["lines"]}
    first = await client.post(
        f"/v1/orders/{order_id}/shipments",
        json={
            "carrier_code": "SF",
            "tracking_number": sf_number(),
            "lines": [{"line_id": oids[0], "quantity": quantity[oids[0]]}],
        },
    )
    assert first.status_code == 201 and first.json()["state"] == "confirmed", first.text
    assert (await client.get(f"/v1/orders/{order_id}")).json()["status"] == "partially_shipped"
    rest = await client.post(
        f"/v1/orders/{order_id}/shipments",
        json={"carrier_code": "SF", "tracking_number": sf_number()},
    )
    assert rest.status_code == 201 and rest.json()["state"] == "confirmed", rest.text
    made = taobao_shop.control.get("/shipments", params={"tid": tid}).json()["shipments"]
    assert made[0]["oids"] == [int(oids[0])] and made[0]["is_split"] is True
    assert len(made) == 2
    assert (await client.get(f"/v1/orders/{order_id}")).json()["status"] == "shipped"


async def test_the_same_shipment_posted_again_is_the_same_shipment(
    app: FastAPI, shopify_shop: Shop, shopify_sandbox: RunningServer
) -> None:
    order_id, native_id, _ = await shopify_order(app, shopify_shop, shopify_sandbox)
    client = shopify_shop.tenant
    payload = {"carrier_code": "UPS", "tracking_number": ups_number()}
    first = await client.post(f"/v1/orders/{order_id}/shipments", json=payload)
    assert first.status_code == 201, first.text
    events_before = len(await events_of(app, client.tenant_id))
    again = await client.post(
        f"/v1/orders/{order_id}/shipments", json={**payload, "carrier_code": "ups"}
    )
    assert again.status_code == 200, again.text
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["location"] == first.headers["location"]
    assert again.json()["state"] == "confirmed"
    assert len(await events_of(app, client.tenant_id)) == events_before
    made = shopify_shop.control.get("/shipments", params={"order_id": native_id}).json()
    assert len(made["shipments"]) == 1
    assert len(await shipment_rows(app, client.tenant_id)) == 1


async def test_refusals_of_ours_write_nothing(
    app: FastAPI, shopify_shop: Shop, shopify_sandbox: RunningServer
) -> None:
    order_id, native_id, lines = await shopify_order(app, shopify_shop, shopify_sandbox, (2,))
    client = shopify_shop.tenant
    events_before = len(await events_of(app, client.tenant_id))
    url = f"/v1/orders/{order_id}/shipments"

    unknown = await client.post(url, json={"carrier_code": "PONY", "tracking_number": "X1"})
    assert unknown.status_code == 422
    assert unknown.json()["type"] == PROBLEM + "unknown-carrier"
    assert "SF" in unknown.json()["detail"] and "DHL_EXPRESS" in unknown.json()["detail"]
    assert unknown.json()["errors"][0]["pointer"] == "#/carrier_code"

    unsupported = await client.post(url, json={"carrier_code": "ZTO", "tracking_number": "X2"})
    assert unsupported.status_code == 422
    assert unsupported.json()["type"] == PROBLEM + "carrier-not-supported"
    assert "shopify" in unsupported.json()["detail"]
    assert "OTHER" in unsupported.json()["detail"]

    too_many = await client.post(
        url,
        json={
            "carrier_code": "UPS",
            "tracking_number": "X3",
            "lines": [{"line_id": lines[0], "quantity": 3}],
        },
    )
    assert too_many.status_code == 422
    assert too_many.json()["type"] == PROBLEM + "quantity-exceeds-unshipped"
    assert "3 requested, 2 not shipped yet" in too_many.json()["errors"][0]["detail"]

    no_line = await client.post(
        url,
        json={
            "carrier_code": "UPS",
            "tracking_number": "X4",
            "lines": [{"line_id": "999", "quantity": 1}],
        },
    )
    assert no_line.status_code == 422
    assert no_line.json()["errors"][0] == {
        "detail": f"order {order_id} has no line '999'",
        "pointer": "#/lines/0/line_id",
        "code": "unknown_line",
    }

    nameless = await client.post(url, json={"carrier_code": "OTHER", "tracking_number": "X5"})
    assert nameless.status_code == 422
    assert nameless.json()["errors"][0]["pointer"] == "#/carrier_name"

    twice = await client.post(
        url,
        json={
            "carrier_code": "UPS",
            "tracking_number": "X6",
            "lines": [{"line_id": lines[0], "quantity": 1}, {"line_id": lines[0], "quantity": 1}],
        },
    )
    assert twice.status_code == 422

    assert await shipment_rows(app, client.tenant_id) == []
    assert len(await events_of(app, client.tenant_id)) == events_before
    made = shopify_shop.control.get("/shipments", params={"order_id": native_id}).json()
    assert made["shipments"] == []


async def test_taobao_refuses_other_and_unconfirmed_carriers_before_any_call(
    app: FastAPI, taobao_shop: Shop
) -> None:
    order_id, _, _ = await taobao_order(app, taobao_shop)
    client = taobao_shop.tenant
    for body in (
        {"carrier_code": "OTHER", "carrier_name": "Bob", "tracking_number": sf_number()},
        {"carrier_code": "UPS", "tracking_number": "1Z0001"},
    ):
        resp = await client.post(f"/v1/orders/{order_id}/shipments", json=body)
        assert resp.status_code == 422, resp.text
        assert resp.json()["type"] == PROBLEM + "carrier-not-supported"
        assert "taobao" in resp.json()["detail"]
    assert await shipment_rows(app, client.tenant_id) == []


async def test_a_taobao_shop_can_map_an_unconfirmed_carrier(
    app: FastAPI, taobao_shop: Shop
) -> None:
    """`settings.carrier_codes` (checked against the platform's list by the operator) makes a
    carrier acceptable for that shop; the pre-check follows the connector."""
    client = taobao_shop.tenant
    patched = await client.patch(
        f"/v1/shops/{taobao_shop.id}",
        json={"settings": {**(await taobao_shop.row(app)).settings, "carrier_codes": {"JD": "JD"}}},
    )
    assert patched.status_code == 200, patched.text
    order_id, tid, _ = await taobao_order(app, taobao_shop)
    resp = await client.post(
        f"/v1/orders/{order_id}/shipments",
        json={"carrier_code": "JD", "tracking_number": "JDVA12345678901"},
    )
    assert resp.status_code == 201, resp.text
    assert resp.json()["state"] == "confirmed", resp.json()
    made = taobao_shop.control.get("/shipments", params={"tid": tid}).json()["shipments"]
    assert made[0]["company_code"] == "JD"


async def test_cancelled_order_is_not_shippable(
    app: FastAPI, shopify_shop: Shop, shopify_sandbox: RunningServer
) -> None:
    order_id, native_id, _ = await shopify_order(app, shopify_shop, shopify_sandbox)
    shopify_shop.control.post(f"/orders/{native_id}/cancel", json={}).raise_for_status()
    from tests.logistics.conftest import import_order

    await import_order(app, shopify_shop, native_id)
    client = shopify_shop.tenant
    assert (await client.get(f"/v1/orders/{order_id}")).json()["status"] == "cancelled"
    resp = await client.post(
        f"/v1/orders/{order_id}/shipments",
        json={"carrier_code": "UPS", "tracking_number": ups_number()},
    )
    assert resp.status_code == 409
    assert resp.json()["type"] == PROBLEM + "order-not-shippable"
    assert resp.json()["errors"][0]["code"] == "order_cancelled"
    assert await shipment_rows(app, client.tenant_id) == []


async def test_already_shipped_on_the_platform_is_rejected_with_its_reason(
    app: FastAPI, shopify_shop: Shop, shopify_sandbox: RunningServer, worker: ShipmentWorker
) -> None:
    order_id, native_id, _ = await shopify_order(app, shopify_shop, shopify_sandbox)
    # Shipped in Shopify's admin meanwhile; our copy of the order does not know yet.
    shopify_shop.control.post(
        f"/orders/{native_id}/fulfill", json={"tracking_number": "9400100000000000000000"}
    ).raise_for_status()
    client = shopify_shop.tenant
    resp = await client.post(
        f"/v1/orders/{order_id}/shipments",
        json={"carrier_code": "UPS", "tracking_number": ups_number()},
    )
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["state"] == "rejected"
    assert body["error"]["code"] == "nothing_to_ship"
    assert "nothing is left to ship" in body["error"]["message"]
    assert body["next_attempt_at"] is None
    failed = await events_of(app, client.tenant_id, "shipment.failed")
    assert len(failed) == 1
    assert failed[0].payload["error"]["code"] == "nothing_to_ship"
    assert failed[0].subject_id == order_id
    # not retried: nothing is due, and the platform saw no second attempt
    assert await worker.run_once({body["id"]}) == []
    made = shopify_shop.control.get("/shipments", params={"order_id": native_id}).json()
    assert made["shipments"] == []


async def test_taobao_refusal_keeps_the_platform_code(app: FastAPI, taobao_shop: Shop) -> None:
    order_id, tid, _ = await taobao_order(app, taobao_shop)
    taobao_shop.control.post(f"/trades/{tid}/ship", json={}).raise_for_status()
    resp = await taobao_shop.tenant.post(
        f"/v1/orders/{order_id}/shipments",
        json={"carrier_code": "SF", "tracking_number": sf_number()},
    )
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["state"] == "rejected"
    assert body["error"]["code"] == "not_shippable"
    assert "already shipped" in body["error"]["message"]


async def test_bad_tracking_number_is_rejected_by_the_platform(
    app: FastAPI, taobao_shop: Shop
) -> None:
    """The sandbox checks SF waybill numbers like Taobao does (`reg_mail_no`)."""
    order_id, _, _ = await taobao_order(app, taobao_shop)
    resp = await taobao_shop.tenant.post(
        f"/v1/orders/{order_id}/shipments",
        json={"carrier_code": "SF", "tracking_number": "NOT-AN-SF-NUMBER"},
    )
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["state"] == "rejected", body
    assert body["error"]["code"] and "B60" in body["error"]["code"]


async def test_other_tenants_get_404_on_every_shipment_endpoint(
    app: FastAPI,
    shopify_shop: Shop,
    shopify_sandbox: RunningServer,
    admin: httpx.AsyncClient,
) -> None:
    order_id, _, _ = await shopify_order(app, shopify_shop, shopify_sandbox)
    created = await shopify_shop.tenant.post(
        f"/v1/orders/{order_id}/shipments",
        json={"carrier_code": "UPS", "tracking_number": ups_number()},
    )
    shipment_id = created.json()["id"]
    other = admin  # the default tenant's bootstrap key: another tenant
    calls = [
        other.post(
            f"/v1/orders/{order_id}/shipments",
            json={"carrier_code": "UPS", "tracking_number": ups_number()},
        ),
        other.get(f"/v1/orders/{order_id}/shipments"),
        other.get(f"/v1/shipments/{shipment_id}"),
        other.post(
            f"/v1/shipments/{shipment_id}/tracking",
            json={"events": [{"occurred_at": "2026-12-01T10:00:00+08:00", "status": "in_transit"}]},
        ),
    ]
    for call in calls:
        resp = await call
        assert resp.status_code == 404, resp.text
        assert resp.json()["type"] == PROBLEM + "not-found"
    assert len(await shipment_rows(app, shopify_shop.tenant.tenant_id)) == 1
