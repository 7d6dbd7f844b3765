"""API keys: bearer auth, scopes, expiry, revocation, tenant isolation of keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.conftest import TenantClient


def _problem(resp: httpx.Response, status: int, slug: str) -> dict[str, object]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"] == "application/problem+json"
    body: dict[str, object] = resp.json()
    assert body["type"] == f"urn:shopbridge:problem:{slug}"
    assert body["status"] == status
    assert isinstance(body["detail"], str) and body["detail"]
    return body


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer sbk_not_a_real_key"},
        {"Authorization": "Bearer " + "x" * 5000},
    ],
)
async def test_missing_or_wrong_key_is_401(
    anon: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    resp = await anon.get("/v1/shops", headers=headers)
    _problem(resp, 401, "unauthorized")
    assert resp.headers["www-authenticate"].startswith("Bearer")


async def test_me_shows_scopes(tenant: TenantClient) -> None:
    body = (await tenant.get("/v1/me")).json()
    assert body["tenant_id"] == tenant.tenant_id
    assert "admin" in body["scopes"]


async def test_key_is_returned_once_and_works(
    tenant: TenantClient, anon: httpx.AsyncClient
) -> None:
    resp = await tenant.post("/v1/api-keys", json={"name": "erp", "scopes": ["orders:read"]})
    assert resp.status_code == 201, resp.text
    issued = resp.json()
    assert issued["key"].startswith("sbk_")
    assert issued["prefix"] == issued["key"][:12]
    listed = (await tenant.get("/v1/api-keys")).json()["data"]
    assert all("key" not in k for k in listed)
    assert issued["id"] in {k["id"] for k in listed}
    headers = {"Authorization": f"Bearer {issued['key']}"}
    assert (await anon.get("/v1/orders", headers=headers)).status_code == 200
    _problem(await anon.get("/v1/shops", headers=headers), 403, "insufficient-scope")
    _problem(
        await anon.post(
            "/v1/api-keys", headers=headers, json={"name": "x", "scopes": ["orders:read"]}
        ),
        403,
        "insufficient-scope",
    )


async def test_key_cannot_grant_more_than_it_has(
    tenant: TenantClient, anon: httpx.AsyncClient
) -> None:
    limited = (
        await tenant.post(
            "/v1/api-keys", json={"name": "k", "scopes": ["keys:write", "orders:read"]}
        )
    ).json()
    headers = {"Authorization": f"Bearer {limited['key']}"}
    resp = await anon.post(
        "/v1/api-keys", headers=headers, json={"name": "x", "scopes": ["shops:write"]}
    )
    _problem(resp, 403, "insufficient-scope")
    # An admin key of a tenant may not mint the cross-tenant operator scope either.
    _problem(
        await tenant.post("/v1/api-keys", json={"name": "x", "scopes": ["operator"]}),
        403,
        "insufficient-scope",
    )


async def test_unknown_scope_is_422(tenant: TenantClient) -> None:
    body = _problem(
        await tenant.post("/v1/api-keys", json={"name": "x", "scopes": ["orders:read", "root"]}),
        422,
        "validation-error",
    )
    assert body["errors"][0]["pointer"].startswith("#/scopes")  # type: ignore[index]


async def test_revoked_key_is_refused(tenant: TenantClient, anon: httpx.AsyncClient) -> None:
    issued = (
        await tenant.post("/v1/api-keys", json={"name": "k", "scopes": ["orders:read"]})
    ).json()
    assert (await tenant.delete(f"/v1/api-keys/{issued['id']}")).status_code == 204
    resp = await anon.get("/v1/orders", headers={"Authorization": f"Bearer {issued['key']}"})
    body = _problem(resp, 401, "unauthorized")
    assert "revoked" in str(body["detail"])
    assert (await tenant.get(f"/v1/api-keys/{issued['id']}")).json()["revoked_at"]


async def test_expiry_must_be_future_and_is_enforced(tenant: TenantClient) -> None:
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    _problem(
        await tenant.post(
            "/v1/api-keys", json={"name": "k", "scopes": ["orders:read"], "expires_at": past}
        ),
        422,
        "validation-error",
    )
    naive = datetime.now().replace(microsecond=0).isoformat()
    _problem(
        await tenant.post(
            "/v1/api-keys", json={"name": "k", "scopes": ["orders:read"], "expires_at": naive}
        ),
        422,
        "validation-error",
    )


async def test_keys_of_another_tenant_are_invisible(
    tenant: TenantClient, admin: httpx.AsyncClient
) -> None:
    own = (await tenant.post("/v1/api-keys", json={"name": "k", "scopes": ["orders:read"]})).json()
    _problem(await admin.get(f"/v1/api-keys/{own['id']}"), 404, "not-found")
    _problem(await admin.delete(f"/v1/api-keys/{own['id']}"), 404, "not-found")
    assert (await tenant.get(f"/v1/api-keys/{own['id']}")).json()["revoked_at"] is None


async def test_tenants_are_operator_only(tenant: TenantClient, admin: httpx.AsyncClient) -> None:
    _problem(await tenant.post("/v1/tenants", json={"name": "sneaky"}), 403, "insufficient-scope")
    _problem(await tenant.get("/v1/tenants"), 403, "insufficient-scope")
    assert (await tenant.get(f"/v1/tenants/{tenant.tenant_id}")).status_code == 200
    _problem(await tenant.get("/v1/tenants/ten_default"), 404, "not-found")
    listed = (await admin.get("/v1/tenants", params={"limit": 500})).json()["data"]
    assert tenant.tenant_id in {t["id"] for t in listed}


async def test_tenant_list_pages(admin: httpx.AsyncClient) -> None:
    for i in range(3):
        assert (await admin.post("/v1/tenants", json={"name": f"page-{i}"})).status_code == 201
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, str | int] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = (await admin.get("/v1/tenants", params=params)).json()
        seen.extend(t["id"] for t in page["data"])
        cursor = page["next_cursor"]
        if not page["has_more"]:
            break
    assert len(seen) == len(set(seen)) >= 4
