"""Shops: connect, list, get, update, disconnect; credentials write-only; bad input."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select

from shopbridge.storage.tables import ShopRow
from tests.api.test_auth_and_keys import _problem
from tests.conftest import TenantClient


def shop_body(**overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "platform": "shopify",
        "platform_shop_id": "demo-shop.myshopify.com",
        "display_name": "Demo Shop",
        "credentials": {"access_token": "shpat_secret_value", "api_version": "2025-10"},
        "settings": {"backfill_days": 30},
    }
    body.update(overrides)
    return body


async def test_connect_get_list(tenant: TenantClient) -> None:
    resp = await tenant.post("/v1/shops", json=shop_body())
    assert resp.status_code == 201, resp.text
    shop = resp.json()
    assert resp.headers["location"] == f"/v1/shops/{shop['id']}"
    assert shop["id"].startswith("shop_")
    assert shop["tenant_id"] == tenant.tenant_id
    assert shop["has_credentials"] is True
    assert "credentials" not in shop
    assert "shpat_secret_value" not in resp.text
    got = (await tenant.get(f"/v1/shops/{shop['id']}")).json()
    assert got == shop
    listed = (await tenant.get("/v1/shops")).json()
    assert [s["id"] for s in listed["data"]] == [shop["id"]]
    assert listed["has_more"] is False and listed["next_cursor"] is None


async def test_credentials_are_encrypted_at_rest(tenant: TenantClient, app: object) -> None:
    shop = (await tenant.post("/v1/shops", json=shop_body(platform_shop_id="enc-check"))).json()
    async with app.state.db.transaction() as session:  # type: ignore[attr-defined]
        row = (await session.scalars(select(ShopRow).where(ShopRow.id == shop["id"]))).one()
    assert row.credentials_sealed is not None
    assert b"shpat_secret_value" not in row.credentials_sealed


async def test_duplicate_connect_is_409_and_reconnect_after_disconnect(
    tenant: TenantClient,
) -> None:
    first = (await tenant.post("/v1/shops", json=shop_body())).json()
    _problem(await tenant.post("/v1/shops", json=shop_body()), 409, "conflict")
    gone = await tenant.post(f"/v1/shops/{first['id']}/disconnect")
    assert gone.status_code == 200
    assert gone.json()["status"] == "disconnected"
    assert gone.json()["has_credentials"] is False
    _problem(
        await tenant.patch(f"/v1/shops/{first['id']}", json={"display_name": "x"}), 409, "conflict"
    )
    again = await tenant.post("/v1/shops", json=shop_body(display_name="Back again"))
    assert again.status_code == 200
    assert again.json()["id"] == first["id"]
    assert again.json()["status"] == "active"
    assert again.json()["display_name"] == "Back again"


async def test_same_platform_shop_in_two_tenants_is_allowed(
    tenant: TenantClient, admin: httpx.AsyncClient
) -> None:
    body = shop_body(platform_shop_id="shared-shop")
    assert (await tenant.post("/v1/shops", json=body)).status_code == 201
    assert (await admin.post("/v1/shops", json=body)).status_code in (200, 201)


async def test_update_settings_credentials_and_pause(tenant: TenantClient) -> None:
    shop = (await tenant.post("/v1/shops", json=shop_body(credentials=None))).json()
    assert shop["has_credentials"] is False
    resp = await tenant.patch(
        f"/v1/shops/{shop['id']}",
        json={
            "settings": {"backfill_days": 7},
            "credentials": {"access_token": "t2"},
            "status": "paused",
        },
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["settings"] == {"backfill_days": 7}
    assert body["has_credentials"] is True
    assert body["status"] == "paused"
    assert "t2" not in resp.text
    listed = (await tenant.get("/v1/shops", params={"status": "paused"})).json()["data"]
    assert [s["id"] for s in listed] == [shop["id"]]


async def test_list_filters_and_pagination(tenant: TenantClient) -> None:
    ids = []
    for i in range(5):
        platform = "shopify" if i % 2 else "taobao"
        resp = await tenant.post(
            "/v1/shops", json=shop_body(platform=platform, platform_shop_id=f"s{i}")
        )
        ids.append(resp.json()["id"])
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, object] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = (await tenant.get("/v1/shops", params=params)).json()
        seen += [s["id"] for s in page["data"]]
        if not page["has_more"]:
            break
        cursor = page["next_cursor"]
    assert seen == sorted(ids)
    taobao = (await tenant.get("/v1/shops", params={"platform": "taobao"})).json()["data"]
    assert {s["platform"] for s in taobao} == {"taobao"} and len(taobao) == 3
    # A cursor issued for one filter is refused for another.
    first = (await tenant.get("/v1/shops", params={"limit": 1})).json()
    _problem(
        await tenant.get(
            "/v1/shops", params={"platform": "taobao", "cursor": first["next_cursor"]}
        ),
        400,
        "invalid-cursor",
    )
    _problem(await tenant.get("/v1/shops", params={"cursor": "!!!garbage"}), 400, "invalid-cursor")


async def test_platforms_listing(tenant: TenantClient) -> None:
    platforms = {p["id"] for p in (await tenant.get("/v1/platforms")).json()}
    assert {"shopify", "taobao", "jd", "pdd", "doudian"} <= platforms


BAD_BODIES = [
    ("unknown platform", shop_body(platform="myspace"), 422, "unknown-platform", "#/platform"),
    ("unknown field", {**shop_body(), "colour": "red"}, 422, "validation-error", "#/colour"),
    ("wrong type", shop_body(display_name=12), 422, "validation-error", "#/display_name"),
    ("empty name", shop_body(display_name=""), 422, "validation-error", "#/display_name"),
    ("missing field", {"platform": "shopify"}, 422, "validation-error", "#/platform_shop_id"),
    (
        "NUL in id",
        shop_body(platform_shop_id="a\x00b"),
        422,
        "validation-error",
        "#/platform_shop_id",
    ),
    ("NUL in settings", shop_body(settings={"k": "a\x00"}), 422, "validation-error", "#/settings"),
    ("nested credentials", shop_body(credentials={"a": {"b": 1}}), 422, "validation-error", None),
    ("body is a list", [1, 2], 422, "validation-error", None),
]


@pytest.mark.parametrize(
    ("name", "body", "status", "slug", "pointer"), BAD_BODIES, ids=[b[0] for b in BAD_BODIES]
)
async def test_bad_bodies_change_nothing(
    tenant: TenantClient, name: str, body: object, status: int, slug: str, pointer: str | None
) -> None:
    problem = _problem(await tenant.post("/v1/shops", json=body), status, slug)
    if pointer:
        pointers = [e.get("pointer") for e in problem["errors"]]  # type: ignore[union-attr, attr-defined]
        assert any(p and p.startswith(pointer) for p in pointers), pointers
    assert (await tenant.get("/v1/shops")).json()["data"] == []


async def test_malformed_json_is_400(tenant: TenantClient) -> None:
    resp = await tenant.post(
        "/v1/shops",
        content=b'{"platform": "shopify",',
        headers={"content-type": "application/json"},
    )
    _problem(resp, 400, "malformed-json")
    resp = await tenant.post(
        "/v1/shops",
        content=b'{"platform": "\\ud800"}',
        headers={"content-type": "application/json"},
    )
    assert resp.status_code in (400, 422)
    assert (await tenant.get("/v1/shops")).json()["data"] == []


async def test_lone_surrogate_is_refused(tenant: TenantClient) -> None:
    raw = b'{"platform": "shopify", "platform_shop_id": "x\\ud800", "display_name": "n"}'
    resp = await tenant.post("/v1/shops", content=raw, headers={"content-type": "application/json"})
    assert resp.status_code == 422, resp.text
    assert (await tenant.get("/v1/shops")).json()["data"] == []


async def test_another_tenants_shop_is_404(tenant: TenantClient, admin: httpx.AsyncClient) -> None:
    shop = (await admin.post("/v1/shops", json=shop_body(platform_shop_id="admins-own"))).json()
    for resp in (
        await tenant.get(f"/v1/shops/{shop['id']}"),
        await tenant.patch(f"/v1/shops/{shop['id']}", json={"display_name": "mine now"}),
        await tenant.post(f"/v1/shops/{shop['id']}/disconnect"),
    ):
        _problem(resp, 404, "not-found")
    assert (await admin.get(f"/v1/shops/{shop['id']}")).json()["display_name"] == "Demo Shop"
    _problem(await tenant.get("/v1/shops/shop_doesnotexist"), 404, "not-found")
    _problem(await tenant.get("/v1/shops/bad%00id"), 422, "validation-error")


async def test_non_json_body_is_415(tenant: TenantClient) -> None:
    resp = await tenant.post(
        "/v1/shops",
        content=b'{"platform": "shopify", "platform_shop_id": "a", "display_name": "b"}',
        headers={"content-type": "text/plain"},
    )
    _problem(resp, 415, "unsupported-media-type")
    resp = await tenant.post("/v1/shops", data={"platform": "shopify"})
    _problem(resp, 415, "unsupported-media-type")
    assert (await tenant.get("/v1/shops")).json()["data"] == []


async def test_oversized_body_is_413(tenant: TenantClient) -> None:
    huge = shop_body(settings={"blob": "x" * (1024 * 1024)})
    _problem(await tenant.post("/v1/shops", json=huge), 413, "payload-too-large")
    assert (await tenant.get("/v1/shops")).json()["data"] == []


async def test_sync_now_makes_the_next_pull_due_and_refuses_paused_shops(
    tenant: TenantClient,
) -> None:
    shop = (await tenant.post("/v1/shops", json=shop_body())).json()
    resp = await tenant.post(f"/v1/shops/{shop['id']}/sync")
    assert resp.status_code == 202, resp.text
    body = resp.json()
    assert body["shop_id"] == shop["id"] and body["next_run_at"] is not None
    assert body["state"] != "paused" and "shpat_secret_value" not in resp.text
    assert (await tenant.get(f"/v1/shops/{shop['id']}/sync")).json()["next_run_at"] == body[
        "next_run_at"
    ]

    await tenant.patch(f"/v1/shops/{shop['id']}", json={"status": "paused"})
    paused = await tenant.post(f"/v1/shops/{shop['id']}/sync")
    assert paused.status_code == 409 and "resume it first" in paused.text
    assert (await tenant.get(f"/v1/shops/{shop['id']}")).json()["status"] == "paused"

    await tenant.post(f"/v1/shops/{shop['id']}/disconnect")
    assert (await tenant.post(f"/v1/shops/{shop['id']}/sync")).status_code == 409
    assert (await tenant.post("/v1/shops/shop_nope/sync")).status_code == 404
