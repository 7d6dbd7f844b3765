"""Taobao listings: the pure item/SKU mapping on TOP-shaped `taobao.items.onsale.get` and
`taobao.item.skus.get` answers, the calls `pull_listings` sends (MockTransport), and one pull
against the sandbox."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from shopbridge.connectors import AuthExpired, Listing, MappingError, Rejected, ShopContext
from shopbridge.connectors.taobao import TaobaoConnector
from shopbridge.connectors.taobao.listings import (
    ITEM_FIELDS,
    ONSALE_METHOD,
    SKU_FIELDS,
    SKUS_METHOD,
    decode_listing_page,
    encode_listing_page,
    group_skus,
    item_id_of,
    map_item_listings,
    sku_option_text,
)
from shopbridge.sandbox.common.runner import RunningServer, start_in_thread
from shopbridge.sandbox.taobao import app as taobao_sandbox
from tests.connectors.taobao.helpers import connector, form, load, ok, top_error


def items() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = load("items_onsale")["items_onsale_get_response"]["items"]["item"]
    return rows


def skus() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = load("item_skus")["item_skus_get_response"]["skus"]["sku"]
    return rows


# ------------------------------------------------------------------ mapping


def test_one_listing_per_sku_deleted_skus_skipped() -> None:
    listings = map_item_listings(items()[0], skus())
    assert [
        (x.platform_listing_id, x.platform_sku_id, x.merchant_sku, x.quantity) for x in listings
    ] == [
        ("673508204810", "5129834471020", "QH-SJT-GRY-18", 120),
        ("673508204810", "5129834471021", "QH-SJT-WHT-18", 95),
        ("673508204810", "5129834471022", None, 0),
    ]
    assert listings[0].title == "青禾 纯棉四件套 1.8米床 / 颜色分类:烟灰;适用床尺寸:1.8m（6英尺）床"
    assert listings[0].raw == {"item": items()[0], "sku": skus()[0]}


def test_item_without_skus_is_a_listing_itself() -> None:
    towel, pillow = items()[1], items()[2]
    assert map_item_listings(towel) == [
        Listing(
            platform_listing_id="673508931177",
            platform_sku_id=None,
            merchant_sku="QH-MJ-3",
            title="青禾 竹纤维毛巾 三条装",
            quantity=480,
            raw=towel,
        )
    ]
    [listing] = map_item_listings(pillow, [])
    assert (listing.platform_listing_id, listing.merchant_sku, listing.quantity) == (
        "673509118024",
        None,
        0,
    )


def test_ids_and_quantities_as_strings_are_read() -> None:
    sku = {**skus()[0], "sku_id": "5129834471020", "num_iid": "673508204810", "quantity": "12"}
    [listing] = map_item_listings({**items()[0], "num_iid": "673508204810"}, [sku])
    assert (listing.platform_sku_id, listing.quantity) == ("5129834471020", 12)


@pytest.mark.parametrize(
    ("item_change", "sku_change", "path"),
    [
        ({"num_iid": None}, {}, "$.items[0].num_iid"),
        ({"num_iid": 6.735e11}, {}, "$.items[0].num_iid"),
        ({"num_iid": "-5"}, {}, "$.items[0].num_iid"),
        ({"title": 5}, {}, "$.items[0].title"),
        ({}, {"sku_id": None}, "$.items[0].skus[0].sku_id"),
        ({}, {"sku_id": 5.129834471020e12}, "$.items[0].skus[0].sku_id"),
        ({}, {"quantity": "many"}, "$.items[0].skus[0].quantity"),
        ({}, {"outer_id": ["QH"]}, "$.items[0].skus[0].outer_id"),
    ],
)
def test_unreadable_rows_name_the_path_never_the_value(
    item_change: dict[str, Any], sku_change: dict[str, Any], path: str
) -> None:
    item = {**items()[0], **item_change}
    sku = {**skus()[0], **sku_change}
    with pytest.raises(MappingError) as caught:
        map_item_listings(item, [sku], "$.items[0]")
    assert caught.value.path == path
    for value in ("QH-SJT", "青禾", "673508204810"):
        assert value not in caught.value.message


def test_item_level_quantity_must_be_an_integer() -> None:
    with pytest.raises(MappingError) as caught:
        map_item_listings({**items()[1], "num": 4.5})
    assert caught.value.path == "$.num"
    with pytest.raises(MappingError):
        map_item_listings("673508931177")


@pytest.mark.parametrize(
    ("text", "options"),
    [
        ("1627207:28320:颜色分类:白色;20509:28314:尺码:M", "颜色分类:白色;尺码:M"),
        ("20000:3275069:型号#cln#规格:A#scln#B", "型号:规格:A;B"),
        ("1627207:28320", None),
        ("", None),
        (None, None),
    ],
)
def test_sku_option_text(text: str | None, options: str | None) -> None:
    assert sku_option_text(text) == options


def test_group_skus_and_item_ids() -> None:
    grouped = group_skus([*skus(), {"sku_id": 1}, "junk", {**skus()[0], "num_iid": 99}])
    assert sorted(grouped) == ["673508204810", "99"]
    assert len(grouped["673508204810"]) == 4
    assert item_id_of(items()[2]) == "673509118024"
    assert item_id_of({"num_iid": 1.5}) is None
    assert item_id_of(None) is None


def test_page_tokens() -> None:
    assert decode_listing_page(encode_listing_page(7)) == 7
    for bad in ("7", "items:v1:0", "items:v2:3", "v1:1700000000:1:", "items:v1:-1"):
        with pytest.raises(Rejected) as caught:
            decode_listing_page(bad)
        assert caught.value.code == "bad_page_token"


# ------------------------------------------------------------------ pull_listings calls


def handler_for(
    rows: list[dict[str, Any]], sku_rows: list[dict[str, Any]], *, total: int | None = None
) -> Any:
    def handler(request: httpx.Request) -> httpx.Response:
        params = form(request)
        if params["method"] == ONSALE_METHOD:
            body: dict[str, Any] = {"items": {"item": rows}} if rows else {}
            body["total_results"] = len(rows) if total is None else total
            return ok(ONSALE_METHOD, body)
        assert params["method"] == SKUS_METHOD
        wanted = set(params["num_iids"].split(","))
        found = [s for s in sku_rows if str(s["num_iid"]) in wanted]
        return ok(SKUS_METHOD, {"skus": {"sku": found}} if found else {})

    return handler


async def test_pull_listings_lists_items_then_their_skus() -> None:
    conn, sent, client = connector(handler_for(items(), skus()))
    page = await conn.pull_listings()
    assert [(x.platform_listing_id, x.platform_sku_id) for x in page.listings] == [
        ("673508204810", "5129834471020"),
        ("673508204810", "5129834471021"),
        ("673508204810", "5129834471022"),
        ("673508931177", None),
        ("673509118024", None),
    ]
    assert page.next_page is None
    onsale, sku_call = (form(r) for r in sent)
    assert {k: onsale[k] for k in ("fields", "page_no", "page_size", "order_by")} == {
        "fields": ITEM_FIELDS,
        "page_no": "1",
        "page_size": "200",
        "order_by": "list_time:asc",
    }
    assert "use_has_next" not in onsale  # not a parameter of this call
    assert sku_call["fields"] == SKU_FIELDS
    assert sku_call["num_iids"] == "673508204810,673508931177,673509118024"
    assert onsale["session"] and sku_call["sign"]
    await client.aclose()


async def test_pages_follow_total_results_and_skus_go_40_items_a_call() -> None:
    rows = [
        {"num_iid": 700000000000 + n, "title": f"商品{n}", "outer_id": f"P-{n}", "num": n}
        for n in range(45)
    ]
    conn, sent, client = connector(handler_for(rows, [], total=95), page_size=45)
    first = await conn.pull_listings()
    assert len(first.listings) == 45
    assert first.next_page == encode_listing_page(2)
    calls = [form(r) for r in sent]
    assert [c["method"] for c in calls] == [ONSALE_METHOD, SKUS_METHOD, SKUS_METHOD]
    assert [len(c["num_iids"].split(",")) for c in calls[1:]] == [40, 5]
    assert calls[0]["page_size"] == "45"
    sent.clear()
    last = await conn.pull_listings(encode_listing_page(3))  # 3 x 45 >= 95: the last page
    assert form(sent[0])["page_no"] == "3"
    assert last.next_page is None
    await client.aclose()


@pytest.mark.parametrize(
    ("body", "more"),
    [
        ({"has_next": True}, True),
        ({"has_next": "false"}, False),
        ({"total_results": "7"}, True),
        ({}, True),  # neither: a full page means there may be more
    ],
)
async def test_has_next_when_the_answer_says_it_differently(
    body: dict[str, Any], more: bool
) -> None:
    rows = [{"num_iid": 710000000000 + n, "title": "t", "num": 1} for n in range(3)]

    def handler(request: httpx.Request) -> httpx.Response:
        if form(request)["method"] == ONSALE_METHOD:
            return ok(ONSALE_METHOD, {"items": rows, **body})  # simplified list form too
        return ok(SKUS_METHOD, {})

    conn, _, client = connector(handler, page_size=3)
    page = await conn.pull_listings()
    assert (page.next_page is not None) is more
    await client.aclose()


async def test_empty_shop_and_unreadable_rows() -> None:
    conn, sent, client = connector(handler_for([], []))
    page = await conn.pull_listings()
    assert (page.listings, page.next_page) == ([], None)
    assert len(sent) == 1  # no SKU call for no items
    await client.aclose()

    broken = [{"num_iid": "n/a", "title": "坏数据"}, items()[1]]
    conn, _, client = connector(handler_for(broken, []))
    page = await conn.pull_listings()
    assert [x.platform_listing_id for x in page.listings] == ["673508931177"]
    await client.aclose()


async def test_errors_of_either_call_fail_the_page() -> None:
    def expired(request: httpx.Request) -> httpx.Response:
        if form(request)["method"] == SKUS_METHOD:
            return top_error(27, "Invalid session", "invalid-sessionkey")
        return handler_for(items(), [])(request)

    conn, _, client = connector(expired)
    with pytest.raises(AuthExpired):
        await conn.pull_listings()
    await client.aclose()

    conn, _, client = connector(lambda r: ok(ONSALE_METHOD, {"items": {"product": []}}))
    with pytest.raises(MappingError) as caught:
        await conn.pull_listings()
    assert caught.value.interface == ONSALE_METHOD
    with pytest.raises(Rejected):
        await conn.pull_listings("not-a-token")
    await client.aclose()


# ------------------------------------------------------------------ against the sandbox

APP_KEY, SECRET, SESSION = "34567890", "listings-secret", "6100listings0session"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[RunningServer]:
    options = taobao_sandbox.Options(
        app_key=APP_KEY, app_secret=SECRET, access_token=SESSION, seed=0, random_seed=9
    )
    server = start_in_thread(taobao_sandbox.create_app(options))
    try:
        yield server
    finally:
        server.stop()


async def test_pull_listings_from_the_sandbox(sandbox: RunningServer) -> None:
    control = httpx.AsyncClient(base_url=f"{sandbox.base_url}/_sandbox")
    await control.post("/reset", json={"seed": 0})
    await control.post(
        "/items",
        json={
            "title": "下架商品",
            "approve_status": "instock",
            "skus": [{"outer_id": "OFF-1", "quantity": 1}, {"outer_id": "OFF-2", "quantity": 2}],
        },
    )
    stock = (await control.get("/stock")).json()["items"]
    await control.aclose()
    conn = TaobaoConnector(
        ShopContext(
            shop_id="shop_listings",
            platform_shop_id="演示小店",
            credentials={"app_key": APP_KEY, "app_secret": SECRET, "session": SESSION},
            settings={"page_size": 4},
            base_url=sandbox.base_url,
        )
    )
    listings: list[Listing] = []
    page: str | None = None
    while True:
        result = await conn.pull_listings(page)
        listings += result.listings
        if (page := result.next_page) is None:
            break
    await conn.aclose()
    expected: list[tuple[str, str | None, str | None, int]] = []
    for item in stock:
        if item["approve_status"] != "onsale":
            continue
        if not item["skus"]:
            expected.append((str(item["num_iid"]), None, item["outer_id"] or None, item["num"]))
        expected += [
            (str(item["num_iid"]), str(s["sku_id"]), s["outer_id"] or None, s["quantity"])
            for s in item["skus"]
        ]
    got = [(x.platform_listing_id, x.platform_sku_id, x.merchant_sku, x.quantity) for x in listings]
    assert sorted(got, key=str) == sorted(expected, key=str)
    assert all(x.title and " / " in x.title for x in listings if x.platform_sku_id)
