"""Inventory: absolute stock with version guards, adjustments, reservations that follow
orders (reserve, release, consume), allocation rules, bundles, the ledger, and the API."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from fastapi import FastAPI

from shopbridge.connectors import Listing
from shopbridge.storage.inventory import Component, even_out
from shopbridge.storage.listings import ListingRepository
from shopbridge.storage.tables import ListingRow
from tests.conftest import TenantClient
from tests.delivery.conftest import Shop
from tests.factories import later, make_order


def line(sku: str, quantity: int, native: str = "1") -> dict[str, Any]:
    return {
        "native_id": native,
        "sku": sku,
        "title": sku,
        "quantity": quantity,
        "unit_price": {"amount": "10.00", "currency": "CNY"},
        "total": {"amount": f"{10 * quantity}.00", "currency": "CNY"},
    }


async def stock(client: TenantClient, sku: str) -> dict[str, Any]:
    resp = await client.get(f"/v1/stock/{sku}")
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


async def put(client: TenantClient, *items: dict[str, Any]) -> dict[str, Any]:
    resp = await client.put("/v1/stock", json={"items": list(items)})
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


async def listings(shop: Shop, *specs: tuple[str, str | None]) -> list[ListingRow]:
    async with shop.db.transaction() as session:
        repo = ListingRepository(session, shop.tenant_id)
        await repo.upsert_pulled(
            shop.row,
            [
                Listing(f"item-{i}", f"sku-{i}", merchant, f"listing {i}", 0)
                for i, (_, merchant) in enumerate(specs)
            ],
        )
        return list(await repo.list(shop_id=shop.row.id, limit=100))


async def test_absolute_stock_with_version_guard(shop: Shop) -> None:
    client = shop.client
    first = await put(client, {"sku": "A", "on_hand": 10, "version": 2})
    assert first["results"] == [
        {"sku": "A", "warehouse": "default", "applied": True, "on_hand": 10, "reason": None}
    ]
    stale = await put(client, {"sku": "A", "on_hand": 3, "version": 1})
    assert stale["results"][0]["applied"] is False
    assert "stale" in stale["results"][0]["reason"]
    await put(client, {"sku": "A", "on_hand": 5, "warehouse": "sh-2", "version": 1})
    got = await stock(client, "A")
    assert got["on_hand"] == 15
    assert got["available"] == 15
    assert [(w["warehouse"], w["on_hand"]) for w in got["warehouses"]] == [
        ("default", 10),
        ("sh-2", 5),
    ]
    assert [e["kind"] for e in got["ledger"]] == ["set", "set"]
    # as_of works as the version too
    await put(client, {"sku": "A", "on_hand": 7, "as_of": "2026-11-11T00:00:00+08:00"})
    assert (await stock(client, "A"))["on_hand"] == 12


@pytest.mark.parametrize(
    "item",
    [
        {"sku": "A", "on_hand": 1},
        {"sku": "A", "on_hand": 1, "version": 1, "as_of": "2026-11-11T00:00:00Z"},
        {"sku": "A", "on_hand": -1, "version": 1},
        {"sku": "A", "on_hand": 1.5, "version": 1},
        {"sku": "", "on_hand": 1, "version": 1},
        {"sku": "A", "on_hand": 1, "as_of": "2026-11-11T00:00:00"},
    ],
)
async def test_bad_stock_items_change_nothing(tenant: TenantClient, item: dict[str, Any]) -> None:
    resp = await tenant.put(
        "/v1/stock", json={"items": [{"sku": "OK", "on_hand": 1, "version": 1}, item]}
    )
    assert resp.status_code == 422, resp.text
    assert (await tenant.get("/v1/stock/OK")).status_code == 404


async def test_adjustments_are_all_or_nothing(shop: Shop) -> None:
    client = shop.client
    await put(client, {"sku": "B", "on_hand": 4, "version": 1})
    resp = await client.post(
        "/v1/stock/adjustments",
        json={"adjustments": [{"sku": "B", "delta": 2, "reason": "return"}]},
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()[0]["on_hand"] == 6
    refused = await client.post(
        "/v1/stock/adjustments",
        json={
            "adjustments": [
                {"sku": "B", "delta": -1, "reason": "damaged"},
                {"sku": "B", "delta": -10, "reason": "count", "warehouse": "default"},
            ]
        },
    )
    assert refused.status_code == 409
    assert refused.json()["type"] == "urn:shopbridge:problem:insufficient-stock"
    got = await stock(client, "B")
    assert got["on_hand"] == 6
    assert got["ledger"][0]["reason"] == "return"


async def test_orders_reserve_release_and_consume(shop: Shop) -> None:
    client = shop.client
    await put(client, {"sku": "C", "on_hand": 10, "version": 1})
    await shop.upsert(make_order("O1", lines=[line("C", 3)]))
    got = await stock(client, "C")
    assert (got["on_hand"], got["reserved"], got["available"]) == (10, 3, 7)
    [reservation] = got["reservations"]
    assert reservation["quantity"] == 3 and reservation["state"] == "reserved"
    # an update that does not change status or lines changes nothing in stock
    await shop.upsert(
        make_order("O1", lines=[line("C", 3)], extensions={"gift": 1}, platform_updated_at=later(1))
    )
    assert (await stock(client, "C"))["reserved"] == 3
    await shop.upsert(
        make_order("O1", lines=[line("C", 3)], status="cancelled", platform_updated_at=later(2))
    )
    got = await stock(client, "C")
    assert (got["on_hand"], got["reserved"], got["available"]) == (10, 0, 10)
    await shop.upsert(make_order("O2", lines=[line("C", 2)]))
    await shop.upsert(
        make_order("O2", lines=[line("C", 2)], status="shipped", platform_updated_at=later(3))
    )
    got = await stock(client, "C")
    assert (got["on_hand"], got["reserved"], got["available"]) == (8, 0, 8)
    kinds = [e["kind"] for e in reversed(got["ledger"])]
    assert kinds == ["set", "reserve", "release", "reserve", "consume"]
    assert all(e["actor"].startswith(("order:", "api-key:")) for e in got["ledger"])
    # A shipped order that later shows as cancelled does not put goods back.
    await shop.upsert(
        make_order("O2", lines=[line("C", 2)], status="cancelled", platform_updated_at=later(4))
    )
    assert (await stock(client, "C"))["on_hand"] == 8


async def test_first_seen_cancelled_order_holds_nothing(shop: Shop) -> None:
    await put(shop.client, {"sku": "D", "on_hand": 5, "version": 1})
    await shop.upsert(make_order("O3", lines=[line("D", 1)], status="cancelled"))
    got = await stock(shop.client, "D")
    assert got["reserved"] == 0 and got["reservations"] == []


async def test_untracked_skus_are_reserved_but_not_announced(shop: Shop) -> None:
    await shop.upsert(make_order("O4", lines=[line("NEW", 2)]))
    got = await stock(shop.client, "NEW")
    assert got["tracked"] is False and got["reserved"] == 2
    events = (await shop.client.get("/v1/events", params={"types": "stock.changed"})).json()
    assert events["data"] == []
    await put(shop.client, {"sku": "NEW", "on_hand": 5, "version": 1})
    events = (await shop.client.get("/v1/events", params={"types": "stock.changed"})).json()
    [event] = events["data"]
    assert event["data"]["sku"] == "NEW"
    assert (event["data"]["on_hand"], event["data"]["reserved"]) == (5, 2)
    assert event["data"]["available"] == 3


async def test_allocation_shared_split_caps_and_safety(shop: Shop, app: FastAPI) -> None:
    client = shop.client
    rows = await listings(shop, ("E", "E"), ("E", "E"), ("E", "E"))
    assert {r.mapping for r in rows} == {"auto"}
    await put(client, {"sku": "E", "on_hand": 10, "version": 1})

    async def targets() -> list[int | None]:
        return [lst["target_quantity"] for lst in (await stock(client, "E"))["listings"]]

    assert await targets() == [10, 10, 10]
    resp = await client.put("/v1/stock-rules/E", json={"safety_stock": 2})
    assert resp.json()["available"] == 8
    assert await targets() == [8, 8, 8]
    await client.put("/v1/stock-rules/E", json={"allocation": "split"})
    assert sorted(await targets()) == [2, 3, 3]
    await client.put(
        "/v1/stock-rules/E",
        json={
            "allocation": "shared",
            "low_stock_threshold": 5,
            "shop_caps": {shop.row.id: {"fixed": 6}},
        },
    )
    assert await targets() == [6, 6, 6]
    await shop.upsert(make_order("O5", lines=[line("E", 4)]))
    # ATP 4 <= threshold 5: low-stock mode splits so the listings never promise more than 4
    assert sum(t or 0 for t in await targets()) == 4
    bad = await client.put("/v1/stock-rules/E", json={"shop_caps": {"shop_nope": {"fixed": 1}}})
    assert bad.status_code == 404


async def test_bundle_and_manual_mapping(shop: Shop) -> None:
    client = shop.client
    rows = await listings(shop, ("", None))
    [bundle] = rows
    assert bundle.mapping == "unmapped"
    unmapped = (await client.get("/v1/listings", params={"mapping": "unmapped"})).json()["data"]
    assert [lst["id"] for lst in unmapped] == [bundle.id]
    await put(
        client,
        {"sku": "CUP", "on_hand": 9, "version": 1},
        {"sku": "LID", "on_hand": 4, "version": 1},
    )
    resp = await client.put(
        f"/v1/listings/{bundle.id}/mapping",
        json={"components": [{"sku": "CUP", "quantity": 2}, {"sku": "LID", "quantity": 1}]},
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["mapping"] == "manual"
    assert body["target_quantity"] == 4  # min(9 // 2, 4 // 1)
    # An order of the bundle listing reserves both components.
    async with shop.db.read() as session:
        row = await session.get(ListingRow, bundle.id)
    assert row is not None
    order_line = line("whatever", 1) | {
        "platform_product_id": row.platform_listing_id,
        "platform_variant_id": row.platform_sku_id,
    }
    await shop.upsert(make_order("O6", lines=[order_line]))
    assert (await stock(client, "CUP"))["reserved"] == 2
    assert (await stock(client, "LID"))["reserved"] == 1
    back = await client.put(f"/v1/listings/{bundle.id}/mapping", json={"components": None})
    assert back.json()["mapping"] == "unmapped"


async def test_mapping_components_are_validated(shop: Shop) -> None:
    [row] = await listings(shop, ("X", "X"))
    for body in ({"components": []}, {"components": [{"sku": "X", "quantity": 0}]}, {}):
        resp = await shop.client.put(f"/v1/listings/{row.id}/mapping", json=body)
        assert resp.status_code == 422, body


async def test_stock_is_tenant_scoped(shop: Shop, admin: Any) -> None:
    await put(shop.client, {"sku": "SECRET-SKU", "on_hand": 1, "version": 1})
    [row] = await listings(shop, ("S", "S"))
    assert (await admin.get("/v1/stock/SECRET-SKU")).status_code == 404
    assert "SECRET-SKU" not in (await admin.get("/v1/stock", params={"limit": 500})).text
    assert (await admin.get(f"/v1/listings/{row.id}")).status_code == 404
    resp = await admin.put(f"/v1/listings/{row.id}/mapping", json={"components": [{"sku": "Z"}]})
    assert resp.status_code == 404


async def test_component_dataclass_roundtrip() -> None:
    assert Component("A", 2) == Component("A", 2)


@pytest.mark.parametrize(
    ("current", "total", "expected"),
    [
        ([0, 0, 0], 100, [34, 33, 33]),  # from nothing: an even split
        ([33, 33, 33], 99, [33, 33, 33]),  # a pure sell-down moves nothing
        ([10, 30, 5], 40, [10, 25, 5]),  # a shortfall comes off the largest
        ([10, 30, 5], 50, [10, 30, 10]),  # a surplus goes to the smallest
        ([0, 12, 3], 0, [0, 0, 0]),
        ([], 5, []),
    ],
)
def test_even_out_moves_as_few_units_as_possible(
    current: list[int], total: int, expected: list[int]
) -> None:
    result = even_out(current, total)
    assert result == expected
    assert sum(result) == (total if current else 0)


async def test_a_sale_lowers_only_the_listing_that_sold_it(shop: Shop) -> None:
    """With split allocation a listing keeps its share while it sells down: the order takes
    the unit off the listing that sold it and nothing is rebalanced (no push could offer a
    unit again that another shop already sold)."""
    client = shop.client
    rows = await listings(shop, ("F", "F"), ("F", "F"))
    await put(client, {"sku": "F", "on_hand": 10, "version": 1})
    await client.put("/v1/stock-rules/F", json={"allocation": "split"})
    async with shop.db.transaction() as session:
        for row in await ListingRepository(session, shop.tenant_id).list(shop_id=shop.row.id):
            row.pushed_quantity = row.target_quantity  # as if the pusher had pushed 5 / 5
            row.push_state = "idle"
    sold = rows[0]
    order_line = line("F", 2) | {
        "platform_product_id": sold.platform_listing_id,
        "platform_variant_id": sold.platform_sku_id,
    }
    await shop.upsert(make_order("O7", lines=[order_line], placed_at=later(60)))
    detail = {lst["id"]: lst for lst in (await stock(client, "F"))["listings"]}
    assert detail[sold.id]["pushed_quantity"] == 3
    assert detail[sold.id]["target_quantity"] == 3
    other = next(i for i in detail if i != sold.id)
    assert detail[other]["target_quantity"] == 5
    assert {lst["push_state"] for lst in detail.values()} == {"idle"}


async def test_two_listing_refreshes_of_one_shop_at_once_both_succeed(shop: Shop) -> None:
    # The sync worker's refresh and an API call used to collide on PostgreSQL: both inserted
    # the listings neither had seen, and the second failed on the unique key.
    pulled = [Listing(f"item-{i}", f"sku-{i}", f"M-{i}", f"listing {i}", 5) for i in range(20)]

    async def refresh() -> None:
        async with shop.db.transaction() as session:
            await ListingRepository(session, shop.tenant_id).upsert_pulled(shop.row, pulled)

    await asyncio.gather(refresh(), refresh(), refresh())
    async with shop.db.read() as session:
        rows = await ListingRepository(session, shop.tenant_id).list(shop_id=shop.row.id, limit=100)
    assert sorted(r.platform_listing_id for r in rows) == sorted(f"item-{i}" for i in range(20))
