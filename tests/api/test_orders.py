"""Orders over the API: list filters, cursor paging, lookups, masking, raw, isolation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from shopbridge.storage.orders import OrderRepository
from shopbridge.storage.shops import ShopRepository
from tests.api.test_auth_and_keys import _problem
from tests.api.test_shops import shop_body
from tests.conftest import TenantClient
from tests.factories import later, make_order


async def _seed(
    app: FastAPI, tenant_id: str, shop_id: str, specs: list[dict[str, Any]]
) -> list[str]:
    ids = []
    async with app.state.db.transaction() as session:
        shop = await ShopRepository(session, tenant_id, app.state.box).get(shop_id)
        repo = OrderRepository(session, tenant_id)
        for spec in specs:
            ids.append((await repo.upsert(shop, make_order(**spec))).order_id)
    return ids


@pytest.fixture
async def shops(tenant: TenantClient) -> dict[str, str]:
    tb = (
        await tenant.post("/v1/shops", json=shop_body(platform="taobao", platform_shop_id="tb"))
    ).json()
    sp = (
        await tenant.post("/v1/shops", json=shop_body(platform="shopify", platform_shop_id="sp"))
    ).json()
    return {"taobao": tb["id"], "shopify": sp["id"]}


async def test_empty_list(tenant: TenantClient) -> None:
    assert (await tenant.get("/v1/orders")).json() == {
        "data": [],
        "next_cursor": None,
        "has_more": False,
    }


async def test_get_by_id_and_by_platform_id(
    app: FastAPI, tenant: TenantClient, shops: dict[str, str]
) -> None:
    [order_id] = await _seed(
        app, tenant.tenant_id, shops["taobao"], [{"platform_order_id": "3028689418086124"}]
    )
    by_id = await tenant.get(f"/v1/orders/{order_id}")
    assert by_id.status_code == 200, by_id.text
    body = by_id.json()
    assert body["id"] == order_id
    assert body["shop_id"] == shops["taobao"]
    assert body["platform_order_id"] == "3028689418086124"
    assert body["status"] == "awaiting_shipment"
    assert body["native_status"] == "WAIT_SELLER_SEND_GOODS"
    assert body["total"] == {"amount": "108.00", "currency": "CNY"}
    assert body["version"] == 1
    assert body["extensions"] == {"seller_flag": 1}
    by_native = await tenant.get(f"/v1/shops/{shops['taobao']}/orders/3028689418086124")
    assert by_native.json() == body
    _problem(
        await tenant.get(f"/v1/shops/{shops['shopify']}/orders/3028689418086124"), 404, "not-found"
    )
    _problem(await tenant.get("/v1/orders/ord_missing"), 404, "not-found")


async def test_buyer_data_is_masked_without_pii_scope(
    app: FastAPI, tenant: TenantClient, anon: httpx.AsyncClient, shops: dict[str, str]
) -> None:
    [order_id] = await _seed(
        app, tenant.tenant_id, shops["taobao"], [{"platform_order_id": "9001"}]
    )
    reader = (
        await tenant.post("/v1/api-keys", json={"name": "erp", "scopes": ["orders:read"]})
    ).json()
    headers = {"Authorization": f"Bearer {reader['key']}"}
    masked = await anon.get(f"/v1/orders/{order_id}", headers=headers)
    assert masked.status_code == 200
    text = masked.text
    for secret in ("欧阳娜娜", "13812345678", "文三路", "310012"):
        assert secret not in text, secret
    receiver = masked.json()["receiver"]
    assert receiver["phone"] == "138****5678"
    assert receiver["address"]["district"] == "西湖区"
    assert "raw" not in masked.json()
    _problem(
        await anon.get(f"/v1/orders/{order_id}", params={"include_raw": "true"}, headers=headers),
        403,
        "insufficient-scope",
    )
    # The tenant's admin key was created with pii:read: it sees plain data and raw.
    full = (await tenant.get(f"/v1/orders/{order_id}", params={"include_raw": "true"})).json()
    assert full["receiver"]["phone"] == "13812345678"
    assert full["raw"]["receiver_name"] == "欧阳娜娜"


async def test_filters_and_paging(
    app: FastAPI, tenant: TenantClient, shops: dict[str, str]
) -> None:
    tb = await _seed(
        app,
        tenant.tenant_id,
        shops["taobao"],
        [
            {"platform_order_id": f"tb{i}", "status": "shipped" if i % 2 else "awaiting_shipment"}
            for i in range(5)
        ],
    )
    sp = await _seed(
        app,
        tenant.tenant_id,
        shops["shopify"],
        [{"platform_order_id": f"sp{i}", "platform": "shopify"} for i in range(2)],
    )
    everything = (await tenant.get("/v1/orders", params={"limit": 500})).json()["data"]
    assert [o["id"] for o in everything] == sorted(tb + sp, reverse=True)  # newest first

    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = (await tenant.get("/v1/orders", params=params)).json()
        seen += [o["id"] for o in page["data"]]
        if not page["has_more"]:
            break
        cursor = page["next_cursor"]
    assert seen == [o["id"] for o in everything]

    by_shop = (await tenant.get("/v1/orders", params={"shop_id": shops["shopify"]})).json()["data"]
    assert sorted(o["id"] for o in by_shop) == sorted(sp)
    by_platform = (await tenant.get("/v1/orders", params={"platform": "taobao"})).json()["data"]
    assert sorted(o["id"] for o in by_platform) == sorted(tb)
    shipped = (await tenant.get("/v1/orders", params={"status": "shipped"})).json()["data"]
    assert len(shipped) == 2
    both = (
        await tenant.get(
            "/v1/orders", params=[("status", "shipped"), ("status", "awaiting_shipment")]
        )
    ).json()
    assert len(both["data"]) == 7

    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert (await tenant.get("/v1/orders", params={"updated_after": future})).json()["data"] == []
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    assert len((await tenant.get("/v1/orders", params={"updated_after": past})).json()["data"]) == 7


async def test_updated_after_sees_changes(
    app: FastAPI, tenant: TenantClient, shops: dict[str, str]
) -> None:
    [order_id] = await _seed(app, tenant.tenant_id, shops["taobao"], [{"platform_order_id": "u1"}])
    mark = datetime.now(UTC).isoformat()
    assert (await tenant.get("/v1/orders", params={"updated_after": mark})).json()["data"] == []
    await _seed(
        app,
        tenant.tenant_id,
        shops["taobao"],
        [{"platform_order_id": "u1", "status": "shipped", "platform_updated_at": later(3)}],
    )
    changed = (await tenant.get("/v1/orders", params={"updated_after": mark})).json()["data"]
    assert [(o["id"], o["version"], o["status"]) for o in changed] == [(order_id, 2, "shipped")]


@pytest.mark.parametrize(
    ("params", "where"),
    [
        ({"status": "teleported"}, "status"),
        ({"limit": 0}, "limit"),
        ({"limit": 501}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"updated_after": "2026-11-11T00:00:00"}, "updated_after"),  # naive: refused
        ({"updated_after": "yesterday"}, "updated_after"),
        ({"updated_after": "1700000000"}, "updated_after"),  # epoch numbers: refused
        ({"platform": "Not A Platform"}, "platform"),
        ({"shop_id": "x\x00y"}, "shop_id"),
    ],
)
async def test_bad_query_parameters(
    tenant: TenantClient, params: dict[str, Any], where: str
) -> None:
    body = _problem(await tenant.get("/v1/orders", params=params), 422, "validation-error")
    assert any(e.get("parameter") == where for e in body["errors"])  # type: ignore[union-attr, attr-defined]


async def test_cursor_bound_to_filters(
    app: FastAPI, tenant: TenantClient, shops: dict[str, str]
) -> None:
    await _seed(
        app, tenant.tenant_id, shops["taobao"], [{"platform_order_id": f"c{i}"} for i in range(3)]
    )
    page = (await tenant.get("/v1/orders", params={"limit": 1})).json()
    _problem(
        await tenant.get(
            "/v1/orders", params={"limit": 1, "cursor": page["next_cursor"], "platform": "shopify"}
        ),
        400,
        "invalid-cursor",
    )


async def test_another_tenant_cannot_see_orders(
    app: FastAPI, tenant: TenantClient, admin: httpx.AsyncClient, shops: dict[str, str]
) -> None:
    [order_id] = await _seed(
        app, tenant.tenant_id, shops["taobao"], [{"platform_order_id": "secret-1"}]
    )
    _problem(await admin.get(f"/v1/orders/{order_id}"), 404, "not-found")
    _problem(await admin.get(f"/v1/shops/{shops['taobao']}/orders/secret-1"), 404, "not-found")
    listed = (await admin.get("/v1/orders", params={"shop_id": shops["taobao"]})).json()
    assert listed["data"] == []
