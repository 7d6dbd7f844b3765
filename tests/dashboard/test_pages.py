"""The dashboard without a browser: sign-in, sessions and CSRF, every page rendered through
the real app (its API, its database), escaping, masking, and the health derivation used
when a build has no `/v1/health/shops`. The browser scenario is in test_browser.py."""

from __future__ import annotations

import os
import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from shopbridge.core.ids import new_id
from shopbridge.dashboard.api import ApiError, DashboardApi
from shopbridge.dashboard.health import derive, endpoint_health, from_health
from shopbridge.dashboard.render import ago, duration, render
from shopbridge.dashboard.session import (
    DashboardSession,
    InvalidSession,
    open_session,
    seal_session,
)
from shopbridge.dashboard.throughput import ulid_floor
from shopbridge.storage.crypto import SecretBox
from shopbridge.storage.tables import ShopRow
from shopbridge.sync.state import PAUSED, ensure_state
from tests.conftest import TenantClient

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    match = CSRF.search(html)
    assert match, html[:500]
    return match.group(1)


async def browser(app: FastAPI) -> httpx.AsyncClient:
    """A cookie-keeping client that does not follow redirects (the tests look at them)."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=("10.9.8.7", 5000)),
        base_url="http://shopbridge.test",
    )


async def sign_in(client: httpx.AsyncClient, key: str, next_path: str = "/dashboard") -> str:
    page = await client.get("/dashboard/login", params={"next": next_path})
    assert page.status_code == 200
    resp = await client.post(
        "/dashboard/login",
        data={"key": key, "csrf": csrf_of(page.text), "next": next_path},
    )
    assert resp.status_code == 303, resp.text
    assert resp.headers["location"] == next_path
    overview = await client.get("/dashboard")
    assert overview.status_code == 200, overview.text
    return csrf_of(overview.text)


# --- sign-in and sessions -------------------------------------------------------------------


async def test_root_redirects_to_the_dashboard_and_it_asks_to_sign_in(app: FastAPI) -> None:
    async with await browser(app) as client:
        root = await client.get("/")
        assert root.status_code == 307 and root.headers["location"] == "/dashboard"
        page = await client.get("/dashboard")
        assert page.status_code == 303
        assert page.headers["location"] == "/dashboard/login?next=/dashboard"
        login = await client.get("/dashboard/login")
        assert login.status_code == 200 and 'name="key"' in login.text
        assert login.headers["content-security-policy"].startswith("default-src 'none'")
        assert login.headers["cache-control"] == "no-store"
        # A fragment request without a session is told so (the page script then reloads).
        assert (
            await client.get("/dashboard", headers={"X-Dashboard-Fragment": "1"})
        ).status_code == 401


async def test_sign_in_sets_a_sealed_strict_httponly_cookie(
    app: FastAPI, tenant: TenantClient
) -> None:
    async with await browser(app) as client:
        page = await client.get("/dashboard/login")
        resp = await client.post(
            "/dashboard/login",
            data={"key": tenant.key, "csrf": csrf_of(page.text), "next": "/dashboard/stock"},
        )
        assert resp.status_code == 303 and resp.headers["location"] == "/dashboard/stock"
        cookie = next(
            h for h in resp.headers.get_list("set-cookie") if h.startswith("sb_dashboard=")
        )
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/dashboard" in cookie
        assert tenant.key not in cookie, "the key is sealed, not readable in the cookie"
        overview = await client.get("/dashboard")
        assert overview.status_code == 200 and "Overview" in overview.text
        assert tenant.tenant_id in overview.text  # who is signed in, in the header


async def test_sign_in_refuses_bad_keys_missing_csrf_and_foreign_origins(
    app: FastAPI, tenant: TenantClient
) -> None:
    async with await browser(app) as client:
        page = await client.get("/dashboard/login")
        token = csrf_of(page.text)
        bad = await client.post("/dashboard/login", data={"key": "sbk_nope", "csrf": token})
        assert bad.status_code == 401 and "not valid" in bad.text
        assert "sb_dashboard=" not in "".join(bad.headers.get_list("set-cookie"))
        no_csrf = await client.post("/dashboard/login", data={"key": tenant.key})
        assert no_csrf.status_code == 403
        foreign = await client.post(
            "/dashboard/login",
            data={"key": tenant.key, "csrf": token},
            headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
        )
        assert foreign.status_code == 403
        # An open redirect after sign-in is refused: only dashboard paths.
        ok = await client.post(
            "/dashboard/login",
            data={"key": tenant.key, "csrf": token, "next": "//evil.example/x"},
        )
        assert ok.status_code == 303 and ok.headers["location"] == "/dashboard"


async def test_actions_need_the_session_csrf_token_and_logout_ends_the_session(
    app: FastAPI, tenant: TenantClient
) -> None:
    async with await browser(app) as client:
        csrf = await sign_in(client, tenant.key)
        forged = await client.post("/dashboard/webhooks/whe_x/replay", data={"csrf": "wrong"})
        assert forged.status_code == 403
        assert (await client.post("/dashboard/logout", data={"csrf": "wrong"})).headers[
            "location"
        ] == "/dashboard"
        out = await client.post("/dashboard/logout", data={"csrf": csrf})
        assert out.status_code == 303 and "signed_out" in out.headers["location"]
        assert (await client.get("/dashboard")).status_code == 303


async def test_a_revoked_key_ends_the_session_at_the_next_page(
    app: FastAPI, tenant: TenantClient
) -> None:
    issued = await tenant.post("/v1/api-keys", json={"name": "ops", "scopes": ["shops:read"]})
    assert issued.status_code == 201
    async with await browser(app) as client:
        await sign_in(client, issued.json()["key"])
        assert (await tenant.delete(f"/v1/api-keys/{issued.json()['id']}")).status_code == 204
        resp = await client.get("/dashboard")
        assert resp.status_code == 303 and "reason=expired" in resp.headers["location"]


def test_sealed_sessions_do_not_open_when_tampered_foreign_or_old() -> None:
    box, other = SecretBox([os.urandom(32)]), SecretBox([os.urandom(32)])
    now = time.time()
    value = seal_session(box, DashboardSession("sbk_abc", "tok", now))
    assert open_session(box, value).key == "sbk_abc"
    tampered = value[:-3] + ("AAA" if not value.endswith("AAA") else "BBB")
    for bad in (tampered, "", "x" * 5000, "not-base64!!"):
        with pytest.raises(InvalidSession):
            open_session(box, bad)
    with pytest.raises(InvalidSession):
        open_session(other, value)
    with pytest.raises(InvalidSession):
        open_session(box, value, now=now + 13 * 3600)


# --- pages ----------------------------------------------------------------------------------


async def test_every_page_renders_and_escapes_what_platforms_send(
    app: FastAPI, tenant: TenantClient
) -> None:
    evil = "<script>alert(1)</script> Shop"
    shop = await tenant.post(
        "/v1/shops",
        json={"platform": "shopify", "platform_shop_id": "esc.myshopify.com", "display_name": evil},
    )
    assert shop.status_code == 201, shop.text
    shop_id = shop.json()["id"]
    await tenant.put(
        "/v1/stock", json={"items": [{"sku": "<b>SKU</b>", "on_hand": 4, "version": 1}]}
    )
    async with await browser(app) as client:
        await sign_in(client, tenant.key)
        for path in (
            "/dashboard",
            f"/dashboard/shops/{shop_id}",
            "/dashboard/webhooks",
            "/dashboard/orders",
            "/dashboard/stock",
        ):
            for fragment in (False, True):
                headers = {"X-Dashboard-Fragment": "1"} if fragment else {}
                resp = await client.get(path, headers=headers)
                assert resp.status_code == 200, (path, resp.text[:2000])
                assert "<script>alert(1)" not in resp.text
                assert "<b>SKU</b>" not in resp.text
        overview = (await client.get("/dashboard")).text
        assert "&lt;script&gt;alert(1)&lt;/script&gt; Shop" in overview
        assert "Retention: vault" in overview
        assert "&lt;b&gt;SKU&lt;/b&gt;" in (await client.get("/dashboard/stock")).text
        missing = await client.get("/dashboard/shops/shop_nope")
        assert missing.status_code == 404 and "not found" in missing.text


async def test_a_key_without_a_scope_sees_the_rest_of_the_page(
    app: FastAPI, tenant: TenantClient
) -> None:
    issued = await tenant.post("/v1/api-keys", json={"name": "ro", "scopes": ["shops:read"]})
    async with await browser(app) as client:
        await sign_in(client, issued.json()["key"])
        overview = await client.get("/dashboard")
        assert overview.status_code == 200
        assert "needs webhooks:read" in overview.text
        orders = await client.get("/dashboard/orders")
        assert orders.status_code == 200 and "orders:read" in orders.text
        stock = await client.get("/dashboard/stock")
        assert stock.status_code == 200 and "stock:read" in stock.text


async def test_order_search_posts_the_criteria_and_keeps_them_out_of_urls(
    app: FastAPI, tenant: TenantClient
) -> None:
    async with await browser(app) as client:
        csrf = await sign_in(client, tenant.key)
        resp = await client.post(
            "/dashboard/orders", data={"csrf": csrf, "phone": "+86 138 0000 0000"}
        )
        assert resp.status_code == 200
        assert 'data-testid="search-results"' in resp.text and "No orders match" in resp.text
        empty = await client.post("/dashboard/orders", data={"csrf": csrf})
        assert "Give a phone number" in empty.text


async def test_sync_now_uses_the_sync_endpoint_and_resumes_a_paused_shop(
    app: FastAPI, tenant: TenantClient
) -> None:
    shop = await tenant.post(
        "/v1/shops",
        json={"platform": "shopify", "platform_shop_id": "sn.myshopify.com", "display_name": "SN"},
    )
    shop_id = shop.json()["id"]
    async with await browser(app) as client:
        csrf = await sign_in(client, tenant.key)
        forged = await client.post(f"/dashboard/shops/{shop_id}/sync", data={"csrf": "wrong"})
        assert forged.status_code == 403
        done = await client.post(f"/dashboard/shops/{shop_id}/sync", data={"csrf": csrf})
        assert done.status_code == 303 and "notice=sync_requested" in done.headers["location"]
        assert (await tenant.get(f"/v1/shops/{shop_id}/sync")).json()["next_run_at"]
        await tenant.patch(f"/v1/shops/{shop_id}", json={"status": "paused"})
        resumed = await client.post(f"/dashboard/shops/{shop_id}/sync", data={"csrf": csrf})
        assert "notice=resumed" in resumed.headers["location"]
        assert (await tenant.get(f"/v1/shops/{shop_id}")).json()["status"] == "active"


async def test_reauthorise_form_replaces_credentials_and_requests_a_sync(
    app: FastAPI, tenant: TenantClient
) -> None:
    shop = await tenant.post(
        "/v1/shops",
        json={"platform": "shopify", "platform_shop_id": "ra.myshopify.com", "display_name": "RA"},
    )
    shop_id = shop.json()["id"]
    assert shop.json()["has_credentials"] is False
    async with app.state.db.transaction() as session:
        row = await session.get(ShopRow, shop_id)
        assert row is not None
        state = await ensure_state(session, row)
        state.state = PAUSED
        state.paused_reason = "re-authorise the shop: the access token expired"
    token, secret = "shpat_NEW_TOKEN_1234567890", "app-secret-NEW-0987"
    async with await browser(app) as client:
        csrf = await sign_in(client, tenant.key)
        page = await client.get(f"/dashboard/shops/{shop_id}")
        assert 'data-testid="reauthorise-form" data-prominent="true"' in page.text
        assert 'name="access_token" type="password"' in page.text
        assert "replace" in page.text

        # CSRF required: nothing changes without the session's token.
        forged = await client.post(
            f"/dashboard/shops/{shop_id}/credentials",
            data={"csrf": "wrong", "access_token": token},
        )
        assert forged.status_code == 403 and token not in forged.text
        assert (await tenant.get(f"/v1/shops/{shop_id}")).json()["has_credentials"] is False

        # A missing required field changes nothing and echoes no value.
        missing = await client.post(
            f"/dashboard/shops/{shop_id}/credentials", data={"csrf": csrf, "app_secret": secret}
        )
        assert missing.status_code == 400 and "Admin API access token" in missing.text
        assert secret not in missing.text
        assert (await tenant.get(f"/v1/shops/{shop_id}")).json()["has_credentials"] is False

        done = await client.post(
            f"/dashboard/shops/{shop_id}/credentials",
            data={"csrf": csrf, "access_token": token, "app_secret": secret},
        )
        assert done.status_code == 303, done.text
        assert done.headers["location"] == (
            f"/dashboard/shops/{shop_id}?notice=credentials_updated"
        )
        assert token not in done.headers["location"] and token not in done.text
        after = await client.get(done.headers["location"])
        assert after.status_code == 200
        assert "Credentials updated, sync requested." in after.text
        assert token not in after.text and secret not in after.text
        assert 'data-testid="reauthorise-form" data-prominent="false"' in after.text

    stored = (await tenant.get(f"/v1/shops/{shop_id}")).json()
    assert stored["has_credentials"] is True and stored["status"] == "active"
    sync_state = (await tenant.get(f"/v1/shops/{shop_id}/sync")).json()
    assert sync_state["state"] != "paused" and sync_state["paused_reason"] is None
    assert sync_state["next_run_at"] is not None
    async with app.state.db.read() as session:
        row = await session.get(ShopRow, shop_id)
        assert row is not None and row.credentials_sealed is not None
        assert token.encode() not in row.credentials_sealed


async def test_pages_fall_back_to_the_sync_state_without_the_health_api(
    app: FastAPI, tenant: TenantClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A build without `/v1/health/...` (404) still colours its shops, from the sync state."""
    original = DashboardApi.get

    async def without_health(self: DashboardApi, path: str, *args: Any, **kwargs: Any) -> Any:
        if path.startswith("/v1/health/"):
            raise ApiError(404, "Not found", "no such route")
        return await original(self, path, *args, **kwargs)

    monkeypatch.setattr(DashboardApi, "get", without_health)
    shop = await tenant.post(
        "/v1/shops",
        json={"platform": "shopify", "platform_shop_id": "fb.myshopify.com", "display_name": "FB"},
    )
    shop_id = shop.json()["id"]
    async with await browser(app) as client:
        await sign_in(client, tenant.key)
        overview = await client.get("/dashboard")
        assert overview.status_code == 200 and "Status derived" in overview.text
        assert f'data-shop-id="{shop_id}" data-status="degraded"' in overview.text
        page = await client.get(f"/dashboard/shops/{shop_id}")
        assert page.status_code == 200 and "waiting for the first sync" in page.text
        hooks = await client.get("/dashboard/webhooks")
        assert hooks.status_code == 200


async def test_static_files_are_a_fixed_list(app: FastAPI) -> None:
    async with await browser(app) as client:
        css = await client.get("/dashboard/static/dashboard.css")
        assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
        js = await client.get("/dashboard/static/dashboard.js")
        assert js.status_code == 200 and "data-live" in js.text
        assert (await client.get("/dashboard/static/..%2Fsession.py")).status_code == 404
        assert (await client.get("/dashboard/static/routes.py")).status_code == 404


# --- health derivation, formatting ---------------------------------------------------------

SHOP = {"id": "shop_1", "display_name": "One", "platform": "shopify", "status": "active"}


def sync(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "state": "idle",
        "last_success_at": "2026-11-11T00:00:00+00:00",
        "last_attempt_at": "2026-11-11T00:00:00+00:00",
        "lag_seconds": 5.0,
        "consecutive_failures": 0,
        "paused_reason": None,
        "last_error": None,
    }
    return base | fields


FAILURE = {
    "shop_id": "shop_1",
    "interface": "orders.json",
    "outcome": "unavailable",
    "code": "503",
    "message": "Service Unavailable",
    "explanation": "Shopify is down or overloaded.",
    "action": "Nothing to do: ShopBridge retries.",
    "created_at": "2026-11-11T00:01:00+00:00",
}


def test_derived_status_follows_the_sync_state() -> None:
    assert derive(SHOP, sync()).status == "healthy"
    assert derive(SHOP, sync(state="never_run", last_success_at=None)).status == "degraded"
    one = derive(SHOP, sync(state="backoff", consecutive_failures=1), [FAILURE])
    assert one.status == "degraded"
    assert one.last_error is not None and one.last_error.action == FAILURE["action"]
    assert derive(SHOP, sync(state="backoff", consecutive_failures=2)).status == "failing"
    paused = derive(
        SHOP, sync(state="paused", paused_reason="re-authorise the shop: token expired")
    )
    assert paused.status == "failing" and paused.needs_reauthorisation
    assert derive(SHOP, sync(lag_seconds=3600.0)).status == "degraded"
    assert derive(SHOP | {"status": "paused"}, sync()).status == "paused"
    assert derive(SHOP | {"status": "disconnected"}, None).status == "disconnected"
    # A failure older than the last success is history, not the current problem.
    old = FAILURE | {"created_at": "2026-11-10T00:00:00+00:00"}
    assert derive(SHOP, sync(state="backoff", consecutive_failures=1), [old]).last_error is None


def test_health_entries_are_read_leniently() -> None:
    entry = from_health(
        {
            "shop_id": "shop_1",
            "status": "weird",
            "alerts": ["Token expires soon: re-authorise the shop.", {"message": "x"}, 3],
            "queue": {"unsequenced_events": 2, "pending_deliveries": "no"},
            "last_error": {"message": "m", "action": "a"},
            "error_rate_5m": True,
        }
    )
    assert entry.status == "unknown" and entry.alerts[1] == "x" and len(entry.alerts) == 2
    assert entry.unsequenced_events == 2 and entry.pending_deliveries is None
    assert entry.error_rate_5m is None and entry.needs_reauthorisation


def test_endpoint_status_from_counts_and_deliveries() -> None:
    endpoint = {"id": "whe_1", "enabled": True, "failing_since": None}
    assert endpoint_health(endpoint, {"pending": 0, "failed": 0}).status == "healthy"
    retry = [{"attempts": 2, "last_status_code": 500, "last_error": None}]
    degraded = endpoint_health(endpoint, {"pending": 1, "failed": 0}, [], retry)
    assert degraded.status == "degraded" and degraded.reason == "HTTP 500"
    assert endpoint_health(endpoint, {"pending": 0, "failed": 3}).status == "failing"
    off = endpoint_health(endpoint | {"enabled": False, "disabled_reason": "failing 5 d"}, None)
    assert off.status == "failing" and off.reason == "failing 5 d"


def test_formatting_helpers() -> None:
    assert duration(45) == "45 s" and duration(600) == "10 min" and duration(None) == "—"
    assert ago(None) == "—" and ago("not a time") == "—"
    floor = ulid_floor("ord", datetime(2026, 1, 1, tzinfo=UTC))
    assert floor.startswith("ord_") and len(floor) == 30 and floor.endswith("0" * 16)
    # Ids minted now sort between the floors of a second ago and a second ahead.
    now = datetime.now(UTC)
    minted = new_id("ord")
    assert ulid_floor("ord", now - timedelta(seconds=1)) < minted
    assert minted < ulid_floor("ord", now + timedelta(seconds=1))
    html = render(
        "error.html",
        {
            "page": "error",
            "title": "<x>",
            "version": "0",
            "me": None,
            "pii": False,
            "retention": None,
            "csrf": "c",
            "notice": None,
            "refresh_ms": 2000,
            "status": 500,
            "message": "<img src=x onerror=alert(1)>",
        },
    )
    assert "<img" not in html and "&lt;img" in html
