"""Wire-level details checked with raw HTTP: headers, bodies, versions, errors."""

from __future__ import annotations

import re
import time
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.sandbox.conftest import VERSION, Sandbox

LINK = re.compile(r'^<(?P<url>[^<> ]+)>; rel="(?P<rel>next|previous)"$')
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}$")
MONEY = re.compile(r"^-?\d+\.\d{2}$")


def _links(header: str | None) -> dict[str, str]:
    """Parse a Link header the strict way the Python SDK does (split on ', ' then '; ')."""
    if header is None:
        return {}
    links = {}
    for part in header.split(", "):
        match = LINK.match(part)
        assert match, part
        assert ", " not in match["url"]
        links[match["rel"]] = match["url"]
    return links


def test_link_header_format_and_walk(sandbox: Sandbox) -> None:
    first = sandbox.api.get(
        sandbox.admin("orders.json"), params={"status": "any", "limit": 50, "fields": "id,name"}
    )
    assert first.status_code == 200
    links = _links(first.headers.get("link"))
    assert set(links) == {"next"}
    url = urlsplit(links["next"])
    assert f"{url.scheme}://{url.netloc}" == sandbox.base_url
    assert url.path == f"/admin/api/{VERSION}/orders.json"
    query = parse_qs(url.query)
    assert set(query) == {"limit", "fields", "page_info"}
    assert query["limit"] == ["50"] and query["fields"] == ["id,name"]
    assert "fields=id,name" in url.query  # commas stay literal

    second = sandbox.api.get(links["next"])
    middle = _links(second.headers.get("link"))
    assert set(middle) == {"previous", "next"}
    third = sandbox.api.get(middle["next"])
    last = _links(third.headers.get("link"))
    assert set(last) == {"previous"}
    ids = [o["id"] for r in (first, second, third) for o in r.json()["orders"]]
    assert len(ids) == len(set(ids)) == 130
    back = sandbox.api.get(last["previous"]).json()["orders"]
    assert [o["id"] for o in back] == [o["id"] for o in second.json()["orders"]]


def test_single_page_has_no_link_header(sandbox: Sandbox) -> None:
    response = sandbox.api.get(
        sandbox.admin("orders.json"), params={"status": "any", "limit": 250, "fields": "id"}
    )
    assert "link" not in response.headers
    assert len(response.json()["orders"]) == 130


def test_page_info_with_other_filters_is_rejected(sandbox: Sandbox) -> None:
    first = sandbox.api.get(sandbox.admin("orders.json"), params={"status": "any", "limit": 10})
    page_info = parse_qs(urlsplit(_links(first.headers["link"])["next"]).query)["page_info"][0]
    response = sandbox.api.get(
        sandbox.admin("orders.json"),
        params={"page_info": page_info, "updated_at_min": "2026-01-01T00:00:00Z"},
    )
    assert response.status_code == 400
    assert response.json() == {
        "errors": {
            "updated_at_min": "updated_at_min cannot be passed when page_info is present. "
            "See https://shopify.dev/api/usage/pagination-rest for more information."
        }
    }
    bogus = sandbox.api.get(sandbox.admin("orders.json"), params={"page_info": "not-a-cursor"})
    assert bogus.status_code == 400


def test_limit_over_250(sandbox: Sandbox) -> None:
    response = sandbox.api.get(sandbox.admin("orders.json"), params={"limit": 251})
    assert response.status_code == 400
    assert response.json() == {"errors": "Limit exceeds maximum limit of 250"}


def test_call_limit_and_request_id_headers(sandbox: Sandbox) -> None:
    used = []
    request_ids = set()
    for _ in range(3):
        response = sandbox.api.get(sandbox.admin("shop.json"), params={"fields": "id"})
        used.append(int(response.headers["x-shopify-shop-api-call-limit"].split("/")[0]))
        assert response.headers["x-shopify-shop-api-call-limit"].endswith("/40")
        request_ids.add(response.headers["x-request-id"])
        assert response.headers["x-shopify-api-version"] == VERSION
        assert response.headers["content-type"].startswith("application/json")
    assert used[0] >= 1 and used[1] >= used[0] and used[2] >= used[1]  # leaks 2/s only
    assert len(request_ids) == 3


def test_leaky_bucket_overflows_with_a_burst(sandbox: Sandbox) -> None:
    started = time.monotonic()
    accepted = 0
    for _ in range(200):
        response = sandbox.api.get(sandbox.admin("shop.json"), params={"fields": "id"})
        if response.status_code == 429:
            break
        accepted += 1
    else:
        pytest.fail("the bucket never overflowed")
    elapsed = time.monotonic() - started
    # 40 fit in the empty bucket; it leaks 2 per second meanwhile.
    assert 40 <= accepted <= 40 + 2 * elapsed + 1
    assert response.headers["retry-after"] == "2.0"
    assert response.headers["x-shopify-shop-api-call-limit"] == "40/40"
    assert response.json()["errors"].startswith("Exceeded 2 calls per second for api client.")


@pytest.mark.parametrize(
    ("version", "status", "served"),
    [
        ("2024-01", 200, "2024-01"),
        ("2025-07", 200, "2025-07"),
        ("2026-10", 200, "2026-10"),
        ("2027-01", 200, "2027-01"),  # release candidate
        ("unstable", 200, "unstable"),
        ("2023-10", 200, "2024-01"),  # retired: falls forward to the oldest supported
        ("2024-02", 404, None),  # not a Shopify version
        ("2031-01", 404, None),
        ("latest", 404, None),
    ],
)
def test_api_versions(sandbox: Sandbox, version: str, status: int, served: str | None) -> None:
    response = sandbox.api.get(f"/admin/api/{version}/shop.json", params={"fields": "id"})
    assert response.status_code == status
    assert response.headers.get("x-shopify-api-version") == served
    if status == 404:
        assert response.json() == {"errors": "Not Found"}


def test_unversioned_paths(sandbox: Sandbox) -> None:
    legacy = sandbox.api.get("/admin/shop.json", params={"fields": "id"})
    assert legacy.status_code == 200
    assert legacy.headers["x-shopify-api-version"] == "2024-01"
    scopes = sandbox.api.get("/admin/oauth/access_scopes.json").json()["access_scopes"]
    assert {"handle": "read_orders"} in scopes
    assert sandbox.api.get(sandbox.admin("oauth/access_scopes.json")).status_code == 404


def test_errors_have_shopify_shapes(sandbox: Sandbox) -> None:
    anonymous = sandbox.api.get(
        sandbox.admin("orders.json"), headers={"X-Shopify-Access-Token": ""}
    )
    assert anonymous.status_code == 401
    assert anonymous.json() == {
        "errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"
    }
    assert sandbox.api.get(sandbox.admin("orders.xml")).status_code == 406
    missing = sandbox.api.get(sandbox.admin("nothing_here.json"))
    assert (missing.status_code, missing.json()) == (404, {"errors": "Not Found"})
    no_root = sandbox.api.put(sandbox.admin("orders/1.json"), json={"note": "x"})
    assert no_root.status_code == 404  # unknown order first
    order_id = sandbox.api.get(sandbox.admin("orders.json"), params={"limit": 1}).json()["orders"][
        0
    ]["id"]
    bad = sandbox.api.put(sandbox.admin(f"orders/{order_id}.json"), json={"note": "x"})
    assert (bad.status_code, bad.json()) == (
        400,
        {"errors": {"order": "Required parameter missing or invalid"}},
    )
    hook = {"webhook": {"topic": "orders/create", "address": "https://example.com/hook"}}
    assert sandbox.api.post(sandbox.admin("webhooks.json"), json=hook).status_code == 201
    taken = sandbox.api.post(sandbox.admin("webhooks.json"), json=hook)
    assert (taken.status_code, taken.json()) == (
        422,
        {"errors": {"address": ["for this topic has already been taken"]}},
    )
    bad_topic = sandbox.api.post(
        sandbox.admin("webhooks.json"),
        json={"webhook": {"topic": "orders/nope", "address": "https://example.com"}},
    )
    assert bad_topic.status_code == 422 and "topic" in bad_topic.json()["errors"]


def _check_money_and_times(order: dict[str, Any]) -> None:
    for key in (
        "total_price",
        "subtotal_price",
        "total_tax",
        "total_discounts",
        "current_total_price",
    ):
        assert MONEY.match(order[key]), (key, order[key])
        assert order[f"{key}_set"]["shop_money"]["amount"] == order[key]
    for key in ("created_at", "updated_at", "processed_at"):
        assert TIMESTAMP.match(order[key]), order[key]
    assert isinstance(order["id"], int) and order["id"] > 2**32
    for line in order["line_items"]:
        assert MONEY.match(line["price"]) and isinstance(line["quantity"], int)
        for tax in line["tax_lines"]:
            assert isinstance(tax["rate"], float)


def test_order_shape_and_totals(sandbox: Sandbox) -> None:
    orders = sandbox.api.get(
        sandbox.admin("orders.json"), params={"status": "any", "limit": 250}
    ).json()["orders"]
    statuses = {o["financial_status"] for o in orders}
    assert {"paid", "refunded", "partially_refunded"} <= statuses
    assert {o["fulfillment_status"] for o in orders} >= {None, "partial", "fulfilled"}
    assert any(o["discount_codes"] for o in orders)
    assert any(o["refunds"] for o in orders)
    for order in orders:
        _check_money_and_times(order)
        subtotal = Decimal(order["subtotal_price"])
        shipping = Decimal(order["total_shipping_price_set"]["shop_money"]["amount"])
        shipping_discount = sum(
            (
                Decimal(a["amount"])
                for s in order["shipping_lines"]
                for a in s["discount_allocations"]
            ),
            Decimal(0),
        )
        tax = Decimal(order["total_tax"]) if not order["taxes_included"] else Decimal(0)
        assert Decimal(order["total_price"]) == subtotal + shipping - shipping_discount + tax
        lines = sum(
            (Decimal(li["price"]) * li["quantity"] for li in order["line_items"]), Decimal(0)
        )
        assert Decimal(order["total_line_items_price"]) == lines
        assert order["name"] == f"#{order['order_number']}"


def test_orders_count_and_since_id(sandbox: Sandbox) -> None:
    total = sandbox.api.get(sandbox.admin("orders/count.json"), params={"status": "any"}).json()
    assert total == {"count": 130}
    cancelled = sandbox.api.get(
        sandbox.admin("orders/count.json"), params={"status": "cancelled"}
    ).json()["count"]
    assert 0 < cancelled < 130
    newest_first = sandbox.api.get(
        sandbox.admin("orders.json"), params={"status": "any", "fields": "id"}
    ).json()
    pivot = sorted(o["id"] for o in newest_first["orders"])[0]
    after = sandbox.api.get(
        sandbox.admin("orders.json"),
        params={"status": "any", "since_id": pivot, "limit": 5, "fields": "id"},
    ).json()["orders"]
    ids = [o["id"] for o in after]
    assert ids == sorted(ids) and all(i > pivot for i in ids)


def test_products_variants_locations(sandbox: Sandbox) -> None:
    products = sandbox.api.get(sandbox.admin("products.json"))
    assert "x-shopify-api-deprecated-reason" in products.headers
    product = products.json()["products"][0]
    variant = product["variants"][0]
    single = sandbox.api.get(sandbox.admin(f"variants/{variant['id']}.json")).json()["variant"]
    assert (
        single["sku"] == variant["sku"]
        and single["inventory_item_id"] == variant["inventory_item_id"]
    )
    locations = sandbox.api.get(sandbox.admin("locations.json")).json()["locations"]
    assert len(locations) == 2
    levels = sandbox.api.get(
        sandbox.admin("inventory_levels.json"),
        params={"inventory_item_ids": variant["inventory_item_id"]},
    ).json()["inventory_levels"]
    assert levels and all(isinstance(level["available"], int) for level in levels)
    missing = sandbox.api.post(
        sandbox.admin("inventory_levels/set.json"), json={"location_id": locations[0]["id"]}
    )
    assert missing.status_code == 400
    assert missing.json() == {
        "errors": {"inventory_item_id": "Required parameter missing or invalid"}
    }


def test_head_and_fault_rate_limit(sandbox: Sandbox) -> None:
    head = sandbox.api.head(sandbox.admin("shop.json"))
    assert head.status_code == 200 and head.content == b""
    sandbox.control.post(
        "/_sandbox/faults", json={"kind": "rate_limit", "count": 2, "method": "GET"}
    )
    for _ in range(2):
        limited = sandbox.api.get(sandbox.admin("orders/count.json"))
        assert limited.status_code == 429
        assert limited.headers["retry-after"] == "2.0"
    assert sandbox.api.get(sandbox.admin("orders/count.json")).status_code == 200


def test_basic_auth_with_token_as_password(sandbox: Sandbox) -> None:
    """Legacy private-app style: HTTP Basic with the access token as the password."""
    url = f"{sandbox.base_url}{sandbox.admin('shop.json')}"
    assert (
        httpx.get(url, auth=("test-app-key", "shpat_test_token_0001"), trust_env=False).status_code
        == 200
    )
    assert httpx.get(url, auth=("test-app-key", "wrong"), trust_env=False).status_code == 401


def test_auth_expired_fault(sandbox: Sandbox) -> None:
    sandbox.control.post("/_sandbox/faults", json={"kind": "auth_expired", "count": 1})
    expired = sandbox.api.get(sandbox.admin("shop.json"))
    assert expired.status_code == 401
    assert expired.json()["errors"].startswith("[API] Invalid API key or access token")
    assert sandbox.api.get(sandbox.admin("shop.json")).status_code == 200
