"""The official ShopifyAPI SDK, unmodified, against the sandbox."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pyactiveresource.connection as arc
import pytest
import shopify

from tests.sandbox.conftest import SHOP, TOKEN, VERSION, Sandbox

UNAUTHORIZED = {
    "errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"
}


def _body(error: arc.ConnectionError) -> object:
    return json.loads(error.response.body)


def test_shop_current(sdk: Sandbox) -> None:
    shop = shopify.Shop.current()
    assert shop.myshopify_domain == SHOP
    assert shop.currency == "USD"
    assert shop.iana_timezone == "America/New_York"
    assert isinstance(shop.id, int)
    assert isinstance(shop.primary_location_id, int)


def test_access_scopes_use_the_unversioned_path(sdk: Sandbox) -> None:
    handles = {scope.handle for scope in shopify.AccessScope.find()}
    assert {"read_orders", "write_orders", "write_inventory"} <= handles


def test_order_find_with_filters(sdk: Sandbox) -> None:
    since = datetime.now().astimezone() - timedelta(days=3)
    # ``fields`` keeps the SDK's (slow, pure-Python) object building out of the test time.
    slim = "id,financial_status,updated_at,cancelled_at,closed_at"
    orders = shopify.Order.find(
        status="any",
        financial_status="paid",
        updated_at_min=since.isoformat(),
        limit=250,
        fields=slim,
    )
    assert len(orders) > 0
    for order in orders:
        assert order.financial_status == "paid"
        assert datetime.fromisoformat(order.updated_at) >= since.replace(microsecond=0)
    cancelled = shopify.Order.find(status="cancelled", limit=250, fields=slim)
    assert cancelled and all(o.cancelled_at for o in cancelled)
    default = shopify.Order.find(limit=250, fields=slim)  # status=open by default
    assert all(o.cancelled_at is None and o.closed_at is None for o in default)


def test_pagination_across_pages(sdk: Sandbox) -> None:
    total = shopify.Order.count(status="any")
    page = shopify.Order.find(status="any", limit=40, fields="id,name")
    assert not page.has_previous_page()
    pages = [page]
    while page.has_next_page():
        page = page.next_page()
        pages.append(page)
    assert len(pages) >= 3
    ids = [order.id for p in pages for order in p]
    assert len(ids) == len(set(ids)) == total
    assert ids == sorted(ids, reverse=True)  # newest first
    assert all(set(o.attributes) == {"id", "name"} for p in pages for o in p)  # fields kept
    back = pages[-1].previous_page(no_cache=True)
    assert [o.id for o in back] == [o.id for o in pages[-2]]


def test_find_by_id_and_fields(sdk: Sandbox) -> None:
    first = shopify.Order.find(status="any", limit=1)[0]
    order = shopify.Order.find(first.id)
    assert order.name.startswith("#")
    assert order.order_number == int(order.name[1:])
    assert order.admin_graphql_api_id == f"gid://shopify/Order/{order.id}"
    line = order.line_items[0]
    assert isinstance(line.id, int) and isinstance(line.variant_id, int)
    assert isinstance(line.price, str) and "." in line.price
    slim = shopify.Order.find(first.id, fields="id,name")
    assert set(slim.attributes) == {"id", "name"}


def test_not_found(sdk: Sandbox) -> None:
    with pytest.raises(arc.ResourceNotFound) as caught:
        shopify.Order.find(1)
    assert caught.value.code == 404
    assert _body(caught.value) == {"errors": "Not Found"}


def test_bad_token_is_unauthorized(sdk: Sandbox) -> None:
    shopify.ShopifyResource.headers["X-Shopify-Access-Token"] = "shpat_wrong"
    with pytest.raises(arc.UnauthorizedAccess) as caught:
        shopify.Shop.current()
    assert _body(caught.value) == UNAUTHORIZED
    shopify.ShopifyResource.headers["X-Shopify-Access-Token"] = TOKEN
    assert shopify.Shop.current().myshopify_domain == SHOP


def test_token_expiry_and_rotation(sdk: Sandbox) -> None:
    assert sdk.control.post("/_sandbox/token", json={"action": "expire"}).status_code == 200
    with pytest.raises(arc.UnauthorizedAccess):
        shopify.Order.count()
    sdk.control.post("/_sandbox/token", json={"action": "rotate", "token": "shpat_new"})
    with pytest.raises(arc.UnauthorizedAccess):
        shopify.Order.count()
    shopify.ShopifyResource.headers["X-Shopify-Access-Token"] = "shpat_new"
    assert shopify.Order.count() >= 0


def test_rate_limit_429(sdk: Sandbox) -> None:
    sdk.control.post("/_sandbox/rate_limit", json={"level": 40})
    with pytest.raises(arc.ClientError) as caught:
        shopify.Order.find(limit=1)
    error = caught.value
    assert error.code == 429
    headers = {k.lower(): v for k, v in error.response.headers.items()}
    assert headers["retry-after"] == "2.0"
    assert headers["x-shopify-shop-api-call-limit"] == "40/40"
    assert _body(error) == {
        "errors": "Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service."
    }


def test_call_limit_header_on_sdk_responses(sdk: Sandbox) -> None:
    shopify.Shop.current()
    shopify.Order.find(limit=1)
    headers = shopify.Order.connection.response.headers
    # Lower-case names, as Shopify's edge sends them (shopify.Limits, which looks up the
    # mixed-case name, cannot see it - against real Shopify either).
    used, size = headers["x-shopify-shop-api-call-limit"].split("/")
    assert size == "40"
    assert 2 <= int(used) <= 40


def test_inventory_level_set(sdk: Sandbox) -> None:
    location = shopify.Location.find()[0]
    product = shopify.Product.find(limit=1)[0]
    variant = shopify.Variant.find(product.variants[0].id)
    level = shopify.InventoryLevel.set(location.id, variant.inventory_item_id, 37)
    assert (level.location_id, level.inventory_item_id, level.available) == (
        location.id,
        variant.inventory_item_id,
        37,
    )
    levels = shopify.InventoryLevel.find(inventory_item_ids=str(variant.inventory_item_id))
    assert any(lv.location_id == location.id and lv.available == 37 for lv in levels)
    changes = sdk.control.get("/_sandbox/inventory/changes").json()["changes"]
    assert changes[-1]["sku"] == variant.sku
    assert (changes[-1]["operation"], changes[-1]["available"]) == ("set", 37)
    sdk.receiver.wait_for(lambda rs: any(r.topic == "inventory_levels/update" for r in rs))


def _open_paid_order(sdk: Sandbox, quantity: int = 3) -> shopify.Order:
    created = sdk.create_order(
        payment="paid",
        line_items=[{"sku": "NP-TRS-9", "quantity": quantity}, {"sku": "FL-CTB", "quantity": 1}],
    )
    return shopify.Order.find(created["id"])


def test_fulfillment_partial_then_full(sdk: Sandbox) -> None:
    order = _open_paid_order(sdk)
    shoe = next(li for li in order.line_items if li.sku == "NP-TRS-9")
    fulfillment_order = shopify.FulfillmentOrders.find(order_id=order.id)[0]
    assert fulfillment_order.status == "open"
    fo_line = next(li for li in fulfillment_order.line_items if li.line_item_id == shoe.id)

    partial = shopify.FulfillmentV2(
        {
            "line_items_by_fulfillment_order": [
                {
                    "fulfillment_order_id": fulfillment_order.id,
                    "fulfillment_order_line_items": [{"id": fo_line.id, "quantity": 2}],
                }
            ],
            "tracking_info": {"number": "1Z999AA10123456784", "company": "UPS"},
            "notify_customer": False,
        }
    )
    assert partial.save(), partial.errors.full_messages()
    assert partial.status == "success"
    assert partial.tracking_number == "1Z999AA10123456784"
    assert partial.tracking_url.startswith("https://www.ups.com/")
    after = shopify.Order.find(order.id)
    assert after.fulfillment_status == "partial"
    shoe_after = next(li for li in after.line_items if li.id == shoe.id)
    assert shoe_after.fulfillable_quantity == 1
    assert shoe_after.fulfillment_status == "partial"
    assert shopify.FulfillmentOrders.find(order_id=order.id)[0].status == "in_progress"

    rest = shopify.FulfillmentV2(
        {"line_items_by_fulfillment_order": [{"fulfillment_order_id": fulfillment_order.id}]}
    )
    assert rest.save(), rest.errors.full_messages()
    final = shopify.Order.find(order.id)
    assert final.fulfillment_status == "fulfilled"
    assert all(li.fulfillable_quantity == 0 for li in final.line_items)
    assert shopify.FulfillmentOrders.find(order_id=order.id)[0].status == "closed"

    shipments = sdk.control.get("/_sandbox/shipments", params={"order_id": order.id}).json()[
        "shipments"
    ]
    assert [s["tracking_numbers"] for s in shipments] == [["1Z999AA10123456784"], []]
    assert shipments[0]["line_items"] == [
        {"line_item_id": shoe.id, "sku": "NP-TRS-9", "quantity": 2}
    ]
    received = sdk.receiver.wait_for(
        lambda rs: (
            {"orders/partially_fulfilled", "orders/fulfilled"} <= {r.topic for r in rs}
            and len([r for r in rs if r.topic == "fulfillments/create"]) == 2
        )
    )
    assert any(r.topic == "orders/updated" for r in received)


def test_update_tracking_and_cancel_fulfillment(sdk: Sandbox) -> None:
    order = _open_paid_order(sdk, quantity=1)
    fulfillment_order = shopify.FulfillmentOrders.find(order_id=order.id)[0]
    created = shopify.FulfillmentV2(
        {"line_items_by_fulfillment_order": [{"fulfillment_order_id": fulfillment_order.id}]}
    )
    assert created.save()
    legacy = shopify.Fulfillment.find(created.id, order_id=order.id)
    legacy.update_tracking({"number": "9400100000000000000000", "company": "USPS"}, True)
    assert legacy.tracking_company == "USPS"
    assert legacy.tracking_urls == [
        "https://tools.usps.com/go/TrackConfirmAction?tLabels=9400100000000000000000"
    ]
    legacy.cancel()  # the SDK posts to the legacy /orders/{id}/fulfillments/{id}/cancel.json
    assert legacy.status == "cancelled"
    reopened = shopify.Order.find(order.id)
    assert reopened.fulfillment_status is None
    assert shopify.FulfillmentOrders.find(order_id=order.id)[0].status == "open"


def test_fulfillment_rejects_too_many_units(sdk: Sandbox) -> None:
    order = _open_paid_order(sdk, quantity=1)
    fulfillment_order = shopify.FulfillmentOrders.find(order_id=order.id)[0]
    line = fulfillment_order.line_items[0]
    too_many = shopify.FulfillmentV2(
        {
            "line_items_by_fulfillment_order": [
                {
                    "fulfillment_order_id": fulfillment_order.id,
                    "fulfillment_order_line_items": [
                        {"id": line.id, "quantity": line.quantity + 5}
                    ],
                }
            ]
        }
    )
    assert not too_many.save()
    assert too_many.errors.full_messages()
    assert shopify.Order.find(order.id).fulfillment_status is None


def test_cancel_close_open(sdk: Sandbox) -> None:
    order = _open_paid_order(sdk)
    order.cancel(reason="customer", restock="true")
    assert order.cancelled_at is not None
    assert order.cancel_reason == "customer"
    assert order.financial_status == "refunded"
    assert order.fulfillment_status == "restocked"
    assert order.current_total_price == "0.00"
    sdk.receiver.wait_for(lambda rs: any(r.topic == "orders/cancelled" for r in rs))
    sdk.receiver.wait_for(lambda rs: any(r.topic == "refunds/create" for r in rs))
    order.close()
    assert order.closed_at is not None
    assert order.id in {o.id for o in shopify.Order.find(status="closed", limit=250, fields="id")}
    order.open()
    assert order.closed_at is None


def test_deleted_orders_show_up_as_destroy_events(sdk: Sandbox) -> None:
    victim = shopify.Order.find(status="cancelled", limit=1)[0]
    victim.destroy()
    with pytest.raises(arc.ResourceNotFound):
        shopify.Order.find(victim.id)
    events = shopify.Event.find(filter="Order", verb="destroy")
    assert [e.subject_id for e in events] == [victim.id]
    assert events[0].subject_type == "Order"
    deleted = sdk.receiver.wait_for(lambda rs: any(r.topic == "orders/delete" for r in rs))
    body = next(r for r in deleted if r.topic == "orders/delete").body
    assert json.loads(body) == {"id": victim.id}


def test_webhook_subscription(sdk: Sandbox) -> None:
    address = f"{sdk.receiver.url}/subscribed"
    hook = shopify.Webhook.create(
        {"topic": "orders/create", "address": address, "fields": ["id", "name"]}
    )
    assert hook.id and hook.api_version == VERSION
    duplicate = shopify.Webhook.create({"topic": "orders/create", "address": address})
    assert duplicate.errors.on("address") == "for this topic has already been taken"
    assert [w.id for w in shopify.Webhook.find(topic="orders/create")] == [hook.id]
    created = sdk.create_order()
    received = sdk.receiver.wait_for(
        lambda rs: (
            any(r.path == "/subscribed" for r in rs)
            and any(r.path == "/push" and r.topic == "orders/create" for r in rs)
        )
    )
    delivery = next(r for r in received if r.path == "/subscribed")
    assert json.loads(delivery.body) == {"id": created["id"], "name": created["name"]}
    firehose = next(r for r in received if r.path == "/push" and r.topic == "orders/create")
    assert firehose.headers["x-shopify-event-id"] == delivery.headers["x-shopify-event-id"]
    assert firehose.headers["x-shopify-webhook-id"] != delivery.headers["x-shopify-webhook-id"]
    hook.destroy()
    assert shopify.Webhook.find() == []


def test_server_error_fault(sdk: Sandbox) -> None:
    sdk.control.post(
        "/_sandbox/faults", json={"kind": "error", "status": 503, "path_pattern": "orders"}
    )
    with pytest.raises(arc.ServerError) as caught:
        shopify.Order.find(limit=1)
    assert caught.value.code == 503
    assert shopify.Order.find(limit=1)  # the fault was for one request only


def test_hang_fault_times_out_the_client(sdk: Sandbox) -> None:
    sdk.control.post(
        "/_sandbox/faults", json={"kind": "hang", "seconds": 1.0, "path_pattern": "shop"}
    )
    shopify.ShopifyResource.timeout = 0.3
    with pytest.raises((TimeoutError, arc.Error)):
        shopify.Shop.current()


def test_session_setup_alternative(sandbox: Sandbox) -> None:
    """The other documented way: Session class settings protocol/myshopify_domain/port."""
    port = int(sandbox.base_url.rsplit(":", 1)[1])
    saved = (shopify.Session.protocol, shopify.Session.myshopify_domain, shopify.Session.port)
    shopify.Session.setup(protocol="http", myshopify_domain="0.0.1", port=port)
    try:
        session = shopify.Session("127", VERSION, TOKEN)
        assert session.site == f"http://127.0.0.1:{port}/admin/api/{VERSION}"
        shopify.ShopifyResource.activate_session(session)
        assert shopify.Shop.current().myshopify_domain == SHOP
    finally:
        shopify.Session.protocol, shopify.Session.myshopify_domain, shopify.Session.port = saved
        shopify.ShopifyResource.clear_session()


def test_refund_calculate_then_create(sdk: Sandbox) -> None:
    order = _open_paid_order(sdk)
    shoe = next(li for li in order.line_items if li.sku == "NP-TRS-9")
    lines = [{"line_item_id": shoe.id, "quantity": 1, "restock_type": "return"}]
    calculated = shopify.Refund.calculate(order.id, refund_line_items=lines)
    suggestion = calculated.transactions[0]
    assert suggestion.kind == "suggested_refund"
    refund = shopify.Refund.create(
        {
            "order_id": order.id,
            "note": "returned",
            "refund_line_items": lines,
            "transactions": [
                {
                    "parent_id": suggestion.parent_id,
                    "amount": suggestion.amount,
                    "kind": "refund",
                    "gateway": "x",
                }
            ],
        }
    )
    assert refund.id and refund.transactions[0].amount == suggestion.amount
    assert isinstance(refund.refund_line_items[0].subtotal, float)  # a JSON number, as on Shopify
    after = shopify.Order.find(order.id)
    assert after.financial_status == "partially_refunded"
    assert next(li for li in after.line_items if li.id == shoe.id).current_quantity == 2
    sdk.receiver.wait_for(lambda rs: any(r.topic == "refunds/create" for r in rs))


def test_capture_an_authorization(sdk: Sandbox) -> None:
    created = sdk.create_order(payment="authorized")
    order = shopify.Order.find(created["id"])
    assert order.financial_status == "authorized"
    capture = order.capture()
    assert capture.kind == "capture" and capture.status == "success"
    assert shopify.Order.find(order.id).financial_status == "paid"
    kinds = [t.kind for t in order.transactions()]
    assert kinds == ["authorization", "capture"]
