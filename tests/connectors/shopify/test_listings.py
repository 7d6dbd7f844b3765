"""Shopify listings: the pure product/variant mapping on real-shaped `products.json` payloads,
the calls `pull_listings` sends (MockTransport), and one pull against the sandbox."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from shopbridge.connectors import Listing, MappingError, ShopContext
from shopbridge.connectors.shopify import ShopifyConnector
from shopbridge.connectors.shopify.listings import (
    PRODUCT_FIELDS,
    listing_title,
    map_product_listings,
    product_id_of,
)
from shopbridge.sandbox.common.runner import RunningServer, start_in_thread
from shopbridge.sandbox.shopify import ShopifySandboxOptions, create_app
from tests.connectors.shopify.helpers import BASE, connector, json_response, load


def query(request: httpx.Request) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(str(request.url)).query).items()}


def products() -> list[dict[str, object]]:
    items: list[dict[str, object]] = load("products")["products"]
    return items


# ------------------------------------------------------------------ mapping


def test_one_listing_per_variant_addressed_for_stock_updates() -> None:
    nano = products()[0]
    listings = map_product_listings(nano)
    assert [
        (x.platform_listing_id, x.platform_sku_id, x.merchant_sku, x.title, x.quantity)
        for x in listings
    ] == [
        ("632910392", "808950810", "IPOD2008PINK", "IPod Nano - 8GB / Pink", 10),
        ("632910392", "49148385", "IPOD2008RED", "IPod Nano - 8GB / Red", 20),
        ("632910392", "457924702", None, "IPod Nano - 8GB / Black", -3),
    ]
    assert listings[0].raw is nano["variants"][0]  # type: ignore[index]


def test_default_variant_is_titled_by_its_product() -> None:
    [touch] = map_product_listings(products()[1])
    assert touch == Listing(
        platform_listing_id="921728736",
        platform_sku_id="447654529",
        merchant_sku="IPOD2009BLACK",
        title="IPod Touch 8GB",
        quantity=13,
        raw=touch.raw,
        platform_variant_id=str(touch.raw["id"]),
    )


@pytest.mark.parametrize("status", ["draft", "archived"])
def test_products_not_for_sale_give_no_listings(status: str) -> None:
    product = products()[2]
    product["status"] = status
    assert map_product_listings(product) == []


@pytest.mark.parametrize("status", ["active", "unlisted", None])
def test_sellable_or_unstated_status_is_listed(status: str | None) -> None:
    product = products()[1]
    if status is None:
        del product["status"]  # `fields=` without status, or an older payload
    else:
        product["status"] = status
    assert len(map_product_listings(product)) == 1


def test_product_without_variants_and_digit_string_ids() -> None:
    product = products()[1]
    assert map_product_listings({**product, "variants": None}) == []
    variant = dict(product["variants"][0])  # type: ignore[index]
    variant["inventory_item_id"] = "447654529"
    variant["inventory_quantity"] = None
    variant["sku"] = "   "
    [listing] = map_product_listings({**product, "id": "921728736", "variants": [variant]})
    assert (listing.platform_listing_id, listing.platform_sku_id) == ("921728736", "447654529")
    assert (listing.merchant_sku, listing.quantity) == (None, None)


@pytest.mark.parametrize(
    ("change", "path"),
    [
        (lambda p: p.pop("id"), "$.id"),
        (lambda p: p.update(id=6.3291e8), "$.id"),
        (lambda p: p.update(variants="IPOD2008PINK"), "$.variants"),
        (lambda p: p["variants"].__setitem__(1, "Red"), "$.variants[1]"),
        (lambda p: p["variants"][0].pop("id"), "$.variants[0].id"),
        (
            lambda p: p["variants"][2].update(inventory_quantity="10"),
            "$.variants[2].inventory_quantity",
        ),
        (lambda p: p["variants"][0].update(sku=12), "$.variants[0].sku"),
        (
            lambda p: p["variants"][1].update(inventory_item_id=True),
            "$.variants[1].inventory_item_id",
        ),
        (lambda p: p.update(title=["IPod"]), "$.title"),
    ],
)
def test_unreadable_products_name_the_path_never_the_value(change: object, path: str) -> None:
    product = products()[0]
    change(product)  # type: ignore[operator]
    with pytest.raises(MappingError) as caught:
        map_product_listings(product)
    assert caught.value.path == path
    assert caught.value.message.startswith(f"{path}: ")
    for value in ("IPOD2008PINK", "632910392", "IPod", "Red"):
        assert value not in caught.value.message


def test_product_must_be_an_object_and_ids_for_logs() -> None:
    with pytest.raises(MappingError):
        map_product_listings(["not", "a", "product"], "$.products[4]")
    assert product_id_of(products()[0]) == "632910392"
    assert product_id_of({"id": 1.5}) is None
    assert product_id_of("x") is None


@pytest.mark.parametrize(
    ("product", "variant", "title"),
    [
        ("Shirt", "M", "Shirt / M"),
        ("Shirt", "Default Title", "Shirt"),
        ("Shirt", None, "Shirt"),
        (None, "M", "M"),
        (None, None, None),
    ],
)
def test_listing_title(product: str | None, variant: str | None, title: str | None) -> None:
    assert listing_title(product, variant) == title


# ------------------------------------------------------------------ pull_listings calls


async def test_pull_listings_first_page_then_follow_page_info() -> None:
    page_one, page_two = products()[:2], products()[2:]
    broken = {"id": "not-an-id", "status": "active", "variants": []}

    def handler(request: httpx.Request) -> httpx.Response:
        if "page_info" in query(request):
            return json_response(200, {"products": page_two})
        return json_response(
            200,
            {"products": [*page_one, broken]},
            Link=f'<{BASE}/products.json?limit=2&fields={PRODUCT_FIELDS}&page_info=cDI>; rel="next"',
        )

    conn, sent, client = connector(handler, page_size=2)
    first = await conn.pull_listings()
    assert [x.merchant_sku for x in first.listings] == [
        "IPOD2008PINK",
        "IPOD2008RED",
        None,
        "IPOD2009BLACK",
    ]
    assert first.next_page == "cDI"
    second = await conn.pull_listings(first.next_page)
    assert second.listings == []  # the draft product
    assert second.next_page is None
    one, two = sent
    assert one.url.path == "/admin/api/2026-07/products.json"
    assert query(one) == {"status": "active", "limit": "2", "fields": PRODUCT_FIELDS}
    assert query(two) == {"limit": "2", "fields": PRODUCT_FIELDS, "page_info": "cDI"}
    await client.aclose()


async def test_pull_listings_default_page_size_and_wrong_shape() -> None:
    conn, sent, client = connector(lambda r: json_response(200, {"product": {}}))
    with pytest.raises(MappingError) as caught:
        await conn.pull_listings()
    assert caught.value.interface == "products.json"
    assert query(sent[0])["limit"] == "250"
    await client.aclose()


# ------------------------------------------------------------------ against the sandbox

TOKEN = "shpat_listings_test"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[RunningServer]:
    server = start_in_thread(
        create_app(ShopifySandboxOptions(access_token=TOKEN, seed=0, random_seed=5))
    )
    try:
        yield server
    finally:
        server.stop()


async def test_pull_listings_from_the_sandbox(sandbox: RunningServer) -> None:
    control = httpx.AsyncClient(base_url=f"{sandbox.base_url}/_sandbox")
    await control.post("/reset", json={"seed": 0})
    await control.post(
        "/products",
        json={"title": "Draft", "status": "draft", "variants": [{"sku": "DRAFT-1"}]},
    )
    catalog = (await control.get("/products", params={"status": "active"})).json()["products"]
    await control.aclose()
    conn = ShopifyConnector(
        ShopContext(
            shop_id="shop_listings",
            platform_shop_id="demo-shop",
            credentials={"access_token": TOKEN},
            settings={"page_size": 5},
            base_url=sandbox.base_url,
        )
    )
    listings: list[Listing] = []
    page: str | None = None
    pages = 0
    while True:
        result = await conn.pull_listings(page)
        listings += result.listings
        pages += 1
        if (page := result.next_page) is None:
            break
    await conn.aclose()
    expected = [
        (str(p["id"]), str(v["inventory_item_id"]), v["sku"] or None, v["available"])
        for p in catalog
        for v in p["variants"]
    ]
    got = [(x.platform_listing_id, x.platform_sku_id, x.merchant_sku, x.quantity) for x in listings]
    assert sorted(got) == sorted(expected)
    assert pages == -(-len(catalog) // 5)
    assert "DRAFT-1" not in {x.merchant_sku for x in listings}
    assert any("deprecated" in notice for notice in conn.api.notices)
