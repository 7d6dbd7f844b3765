"""ShopifyConnector operations against a local MockTransport playing Shopify."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from shopbridge.connectors import (
    AuthExpired,
    Capability,
    PullWindow,
    Rejected,
    ShipmentLineRequest,
    ShipmentRequest,
    StockUpdate,
)
from shopbridge.connectors.registry import connector_class, installed_platforms
from shopbridge.connectors.shopify import ShopifyConnector
from shopbridge.core import OrderStatus
from tests.connectors.shopify.helpers import BASE, connector, json_response, load, shop

WINDOW = PullWindow(
    start=datetime(2026, 11, 11, 0, 0, tzinfo=UTC), end=datetime(2026, 11, 12, 0, 0, tzinfo=UTC)
)


def query(request: httpx.Request) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(str(request.url)).query).items()}


def body(request: httpx.Request) -> Any:
    return json.loads(request.content)


# ------------------------------------------------------------------ declaration


def test_info_and_entry_point() -> None:
    info = ShopifyConnector.info
    assert info.platform == "shopify"
    assert info.api_version == "2026-07"
    assert info.capabilities == {
        Capability.ORDERS_PULL,
        Capability.ORDERS_GET,
        Capability.ORDERS_PUSH,
        Capability.SHIPMENT_CONFIRM,
        Capability.STOCK_UPDATE,
        Capability.LISTINGS_PULL,
    }
    assert (info.rate_limit.rate, info.rate_limit.burst) == (2.0, 40)
    (stream,) = info.streams
    assert (stream.name, stream.cursor_field, stream.page_size) == ("orders", "updated_at", 250)
    assert stream.overlap == timedelta(minutes=5)
    assert "shopify" in installed_platforms()
    assert connector_class("shopify") is ShopifyConnector


# ------------------------------------------------------------------ pull


async def test_pull_first_page_then_follow_page_info() -> None:
    page_one = [load("paid_unfulfilled"), load("partially_fulfilled")]
    page_two = [load("fulfilled")]
    page_two[0]["updated_at"] = "2026-11-11T20:00:00-08:00"  # 04:00Z next day: other window
    broken = load("voided")
    broken["total_price"] = 79.5
    page_two.append(broken)
    next_link = f'<{BASE}/orders.json?limit=250&page_info=cGFnZTI>; rel="next"'

    def handler(request: httpx.Request) -> httpx.Response:
        if "page_info" in query(request):
            return json_response(
                200,
                {"orders": page_two},
                Link=f'<{BASE}/orders.json?limit=250&page_info=cHJldg>; rel="previous"',
            )
        return json_response(200, {"orders": page_one}, Link=next_link)

    conn, sent, client = connector(handler)
    first = await conn.pull_orders(WINDOW)
    assert [o.platform_order_id for o in first.orders] == ["5501000001", "5501000002"]
    assert first.unmapped == []
    assert first.next_page == "cGFnZTI"
    assert query(sent[0]) == {
        "status": "any",
        "updated_at_min": "2026-11-11T00:00:00+00:00",
        "updated_at_max": "2026-11-12T00:00:00+00:00",
        "limit": "250",
        "order": "updated_at asc",
    }
    assert str(sent[0].url).startswith(f"{BASE}/orders.json?")

    second = await conn.pull_orders(WINDOW, first.next_page)
    # only limit and page_info may travel with page_info
    assert query(sent[1]) == {"limit": "250", "page_info": "cGFnZTI"}
    assert second.orders == []  # the fulfilled order was updated after the window
    (unmapped,) = second.unmapped
    assert unmapped.platform_order_id == "5501000008"
    assert "$.total_price" in unmapped.reason
    assert unmapped.raw == broken
    assert second.next_page is None
    await client.aclose()


async def test_pull_window_is_half_open_and_sub_second_bounds_widen() -> None:
    at_end = load("paid_unfulfilled")
    at_end["updated_at"] = "2026-11-12T00:00:00Z"
    at_start = load("authorized")
    at_start["updated_at"] = "2026-11-11T00:00:00Z"
    conn, sent, client = connector(lambda r: json_response(200, {"orders": [at_end, at_start]}))
    page = await conn.pull_orders(WINDOW)
    assert [o.platform_order_id for o in page.orders] == ["5501000007"]

    odd = PullWindow(
        start=datetime(2026, 11, 11, 0, 0, 0, 500000, tzinfo=UTC),
        end=datetime(2026, 11, 11, 6, 0, 0, 250000, tzinfo=UTC),
    )
    await conn.pull_orders(odd)
    params = query(sent[1])
    assert params["updated_at_min"] == "2026-11-11T00:00:00+00:00"
    assert params["updated_at_max"] == "2026-11-11T06:00:01+00:00"
    await client.aclose()


async def test_pull_without_orders_array_is_mapping_error() -> None:
    conn, _, client = connector(lambda r: json_response(200, {"order": {}}))
    with pytest.raises(Exception, match="no orders array"):
        await conn.pull_orders(WINDOW)
    await client.aclose()


async def test_detect_holds_reads_fulfillment_orders_for_orders_awaiting_shipment() -> None:
    holds = load("on_hold_fulfillment_orders")

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/fulfillment_orders.json"):
            return json_response(200, holds)
        return json_response(200, {"orders": [load("on_hold"), load("fulfilled")]})

    conn, sent, client = connector(handler, detect_holds=True)
    page = await conn.pull_orders(WINDOW)
    by_id = {o.platform_order_id: o.status for o in page.orders}
    assert by_id["5501000009"] is OrderStatus.ON_HOLD
    # only the order awaiting shipment cost an extra call
    assert [r.url.path.rsplit("/", 2)[-2:] for r in sent[1:]] == [
        ["5501000009", "fulfillment_orders.json"]
    ]
    await client.aclose()


# ------------------------------------------------------------------ confirm shipment


def fulfillment_orders_handler(
    fulfillment_orders: dict[str, Any], *, created: dict[str, Any] | None = None
) -> Any:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            assert request.url.path.endswith("/orders/5501000002/fulfillment_orders.json")
            return json_response(200, fulfillment_orders)
        assert request.url.path.endswith("/fulfillments.json")
        return json_response(
            201, created or {"fulfillment": {"id": 1069019898, "status": "success"}}
        )

    return handler


async def test_confirm_everything_left() -> None:
    conn, sent, client = connector(fulfillment_orders_handler(load("fulfillment_orders")))
    result = await conn.confirm_shipment(
        "5501000002",
        ShipmentRequest(
            carrier_code="UPS",
            tracking_number="1Z999AA10123456784",
            tracking_url="https://www.ups.com/track?tracknum=1Z999AA10123456784",
            notify_buyer=True,
        ),
    )
    assert result.platform_shipment_id == "1069019898"
    assert result.raw == {"id": 1069019898, "status": "success"}
    get, post = sent
    assert str(get.url) == f"{BASE}/orders/5501000002/fulfillment_orders.json"
    assert str(post.url) == f"{BASE}/fulfillments.json"
    assert body(post) == {
        "fulfillment": {
            "line_items_by_fulfillment_order": [
                {
                    "fulfillment_order_id": 1046000802,
                    "fulfillment_order_line_items": [{"id": 1058000802, "quantity": 2}],
                }
            ],
            "tracking_info": {
                "number": "1Z999AA10123456784",
                "company": "UPS",
                "url": "https://www.ups.com/track?tracknum=1Z999AA10123456784",
            },
            "notify_customer": True,
        }
    }
    await client.aclose()


def two_locations() -> dict[str, Any]:
    data = load("fulfillment_orders")
    extra = json.loads(json.dumps(data["fulfillment_orders"][1]))
    extra["id"] = 1046000803
    extra["assigned_location_id"] = 6501000002
    extra["line_items"][0].update(
        {"id": 1058000803, "line_item_id": 6601000013, "fulfillment_order_id": 1046000803}
    )
    data["fulfillment_orders"].append(extra)
    return data


async def test_confirm_partial_quantity_of_one_line() -> None:
    conn, sent, client = connector(fulfillment_orders_handler(two_locations()))
    await conn.confirm_shipment(
        "5501000002",
        ShipmentRequest(
            carrier_code="OTHER",
            carrier_name="Bob's Courier",
            tracking_number="BOB-1",
            lines=(ShipmentLineRequest(line_id="6601000012", quantity=1),),
        ),
    )
    fulfillment = body(sent[1])["fulfillment"]
    assert fulfillment["line_items_by_fulfillment_order"] == [
        {
            "fulfillment_order_id": 1046000802,
            "fulfillment_order_line_items": [{"id": 1058000802, "quantity": 1}],
        }
    ]
    assert fulfillment["tracking_info"] == {"number": "BOB-1", "company": "Bob's Courier"}
    assert fulfillment["notify_customer"] is False
    await client.aclose()


async def test_confirm_lines_split_over_fulfillment_orders_of_one_location() -> None:
    data = two_locations()
    data["fulfillment_orders"][2]["assigned_location_id"] = 6501000001
    data["fulfillment_orders"][2]["status"] = "in_progress"
    conn, sent, client = connector(fulfillment_orders_handler(data))
    await conn.confirm_shipment(
        "5501000002",
        ShipmentRequest(
            carrier_code="FEDEX",
            tracking_number="123456789012",
            lines=(
                ShipmentLineRequest(line_id="6601000012", quantity=2),
                ShipmentLineRequest(line_id="6601000013", quantity=1),
            ),
        ),
    )
    groups = body(sent[1])["fulfillment"]["line_items_by_fulfillment_order"]
    assert [g["fulfillment_order_id"] for g in groups] == [1046000802, 1046000803]
    await client.aclose()


@pytest.mark.parametrize(
    ("lines", "reason"),
    [
        ((), "2 Shopify locations"),
        ((ShipmentLineRequest("6601000012", 3),), "3 requested, only 2 left"),
        ((ShipmentLineRequest("6601000011", 1),), "nothing left to ship"),
        ((ShipmentLineRequest("9999", 1),), "nothing left to ship"),
    ],
)
async def test_confirm_refusals(lines: tuple[ShipmentLineRequest, ...], reason: str) -> None:
    conn, sent, client = connector(fulfillment_orders_handler(two_locations()))
    with pytest.raises(Rejected) as info:
        await conn.confirm_shipment(
            "5501000002", ShipmentRequest(carrier_code="UPS", tracking_number="1Z1", lines=lines)
        )
    assert reason in info.value.reason
    assert [r.method for r in sent] == ["GET"]  # nothing was created
    await client.aclose()


@pytest.mark.parametrize("status", ["closed", "cancelled"])
async def test_confirm_with_nothing_left_names_the_fulfillment_order_status(status: str) -> None:
    data = load("fulfillment_orders")
    for fo in data["fulfillment_orders"]:
        fo["status"] = status
        fo["supported_actions"] = []
        for line in fo["line_items"]:
            line["fulfillable_quantity"] = 0
    conn, sent, client = connector(fulfillment_orders_handler(data))
    with pytest.raises(Rejected) as info:
        await conn.confirm_shipment("5501000002", ShipmentRequest("UPS", "1Z1"))
    assert info.value.code == "nothing_to_ship"
    assert info.value.reason == (
        f"nothing is left to ship on this order (fulfillment order status: {status})"
    )
    assert [r.method for r in sent] == ["GET"]
    await client.aclose()


async def test_confirm_on_hold_says_so() -> None:
    holds = load("on_hold_fulfillment_orders")

    def handler(request: httpx.Request) -> httpx.Response:
        return json_response(200, holds)

    conn, _, client = connector(handler)
    with pytest.raises(Rejected, match="on_hold"):
        await conn.confirm_shipment("5501000009", ShipmentRequest("UPS", "1Z1"))
    with pytest.raises(Rejected, match="on_hold"):
        await conn.confirm_shipment(
            "5501000009",
            ShipmentRequest("UPS", "1Z1", lines=(ShipmentLineRequest("6601000081", 1),)),
        )
    await client.aclose()


async def test_confirm_unsupported_carrier_is_refused_before_any_call() -> None:
    conn, sent, client = connector(fulfillment_orders_handler(load("fulfillment_orders")))
    with pytest.raises(Rejected, match="ZTO is not in Shopify's tracking company list"):
        await conn.confirm_shipment("5501000002", ShipmentRequest("ZTO", "73100000000001"))
    assert sent == []
    await client.aclose()


async def test_confirm_japanese_carrier_name_setting() -> None:
    conn, sent, client = connector(
        fulfillment_orders_handler(load("fulfillment_orders")), carrier_language="ja"
    )
    await conn.confirm_shipment("5501000002", ShipmentRequest("YAMATO", "123456789012"))
    assert body(sent[1])["fulfillment"]["tracking_info"]["company"] == "Yamato (JA)"
    await client.aclose()


async def test_confirm_platform_refusal_is_rejected_with_reason() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return json_response(200, load("fulfillment_orders"))
        return json_response(
            422, {"errors": {"base": ["Fulfillment order is not in an open state"]}}
        )

    conn, _, client = connector(handler)
    with pytest.raises(Rejected) as info:
        await conn.confirm_shipment("5501000002", ShipmentRequest("UPS", "1Z1"))
    assert info.value.reason == "Fulfillment order is not in an open state"
    await client.aclose()


# ------------------------------------------------------------------ stock


def stock_handler(*, fail_items: dict[int, tuple[int, dict[str, Any]]] | None = None) -> Any:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/locations.json"):
            return json_response(200, load("locations"))
        data = body(request)
        if fail_items and data["inventory_item_id"] in fail_items:
            status, payload = fail_items[data["inventory_item_id"]]
            return json_response(status, payload)
        return json_response(
            200,
            {
                "inventory_level": {
                    "inventory_item_id": data["inventory_item_id"],
                    "location_id": data["location_id"],
                    "available": data["available"],
                    "updated_at": "2026-11-11T10:00:00-05:00",
                }
            },
        )

    return handler


async def test_update_stock_discovers_location_once_and_isolates_failures() -> None:
    handler = stock_handler(
        fail_items={
            4601000002: (
                422,
                {"errors": ["Inventory item does not have inventory tracking enabled"]},
            )
        }
    )
    conn, sent, client = connector(handler)
    updates = [
        StockUpdate(platform_listing_id="4401000001", platform_sku_id="4601000001", quantity=7),
        StockUpdate(platform_listing_id="4401000002", platform_sku_id="4601000002", quantity=3),
        StockUpdate(platform_listing_id="4401000003", platform_sku_id=None, quantity=1),
        StockUpdate(
            platform_listing_id="4401000004",
            platform_sku_id="4601000004",
            quantity=-2,
            location_id="6501000009",
        ),
    ]
    results = await conn.update_stock(updates)
    assert [r.ok for r in results] == [True, False, False, True]
    assert results[1].error is not None
    assert "inventory tracking" in results[1].error
    assert results[2].error is not None
    assert "platform_sku_id" in results[2].error
    paths = [r.url.path.rsplit("/", 2)[-2:] for r in sent]
    assert paths[0] == ["2026-07", "locations.json"]
    assert [p for p in paths if p[-1] == "locations.json"] == [["2026-07", "locations.json"]]
    posts = [body(r) for r in sent if r.method == "POST"]
    assert posts[0] == {"location_id": 6501000001, "inventory_item_id": 4601000001, "available": 7}
    assert posts[-1] == {
        "location_id": 6501000009,
        "inventory_item_id": 4601000004,
        "available": -2,
    }
    # second call reuses the discovered location
    await conn.update_stock(updates[:1])
    assert sum(1 for r in sent if r.url.path.endswith("locations.json")) == 1
    await client.aclose()


async def test_update_stock_location_setting_skips_discovery() -> None:
    conn, sent, client = connector(stock_handler(), location_id="6501000005")
    (result,) = await conn.update_stock([StockUpdate("1", "4601000001", 5)])
    assert result.ok
    assert [r.method for r in sent] == ["POST"]
    assert body(sent[0])["location_id"] == 6501000005
    await client.aclose()


async def test_update_stock_auth_expired_stops_everything() -> None:
    conn, _, client = connector(
        stock_handler(fail_items={4601000001: (401, {"errors": "[API] Invalid API key"})}),
        location_id="6501000005",
    )
    with pytest.raises(AuthExpired):
        await conn.update_stock(
            [StockUpdate("1", "4601000001", 5), StockUpdate("2", "4601000002", 1)]
        )
    await client.aclose()


async def test_update_stock_transient_failure_is_reported_per_update() -> None:
    conn, _, client = connector(
        stock_handler(fail_items={4601000001: (503, {"errors": "Service Unavailable"})}),
        location_id="6501000005",
    )
    first, second = await conn.update_stock(
        [StockUpdate("1", "4601000001", 5), StockUpdate("2", "4601000002", 1)]
    )
    assert not first.ok
    assert first.error is not None
    assert "Service Unavailable" in first.error
    assert second.ok
    await client.aclose()


async def test_update_stock_without_any_location() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return json_response(200, {"locations": [{"id": 1, "active": False}]})

    conn, sent, client = connector(handler)
    results = await conn.update_stock([StockUpdate("1", "2", 3), StockUpdate("4", "5", 6)])
    assert [r.ok for r in results] == [False, False]
    assert all(r.error and "no active location" in r.error for r in results)
    assert len(sent) == 1
    await client.aclose()


async def test_aclose_leaves_a_passed_client_open() -> None:
    conn, _, client = connector(stock_handler())
    await conn.aclose()
    assert not client.is_closed
    await client.aclose()


async def test_own_client_is_closed() -> None:
    conn = ShopifyConnector(shop())
    await conn.aclose()
    assert conn.api.transport.client.is_closed
