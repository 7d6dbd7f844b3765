"""The sync log end to end: a sync runs against a sandbox with faults injected through its
control API, and `GET /v1/sync-log` names the failing interface with its outcome, the
platform's code, a plain explanation and the action to take; successes are logged with
their durations; pushes are logged; `/metrics` counts the calls; the log is tenant-scoped,
filterable, paged, and pruned after its retention."""

from __future__ import annotations

import asyncio
import json
import re
import secrets
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from shopbridge.connectors.shopify.push import compute_signature
from shopbridge.core.ids import new_id
from shopbridge.core.time import utcnow
from shopbridge.storage.tables import SyncLogRow
from shopbridge.sync.engine import SyncEngine, SyncSettings
from tests.conftest import TenantClient
from tests.operations.conftest import (
    SHOPIFY_DOMAIN,
    SHOPIFY_SECRET,
    SHOPIFY_TOKEN,
    SHOPIFY_VERSION,
    TAOBAO_KEY,
    TAOBAO_SESSION,
    Shop,
    connect,
    sync_log,
)


def fault(shop: Shop, **rule: Any) -> None:
    shop.control.post("/faults", json=rule).raise_for_status()


def create_orders(shop: Shop, count: int) -> None:
    if shop.platform == "shopify":
        shop.control.post("/orders", json={"count": count, "payment": "paid"}).raise_for_status()
    else:
        shop.control.post("/trades", json={"count": count}).raise_for_status()


# -- successes ---------------------------------------------------------------------------


async def test_every_call_of_a_sync_is_logged_with_its_duration(
    app: FastAPI, engine: SyncEngine, shopify_shop: Shop
) -> None:
    create_orders(shopify_shop, 5)
    result = await engine.sync_shop(await shopify_shop.row(app))
    assert result.error is None and result.created == 5

    rows = await sync_log(app, shopify_shop.tenant, shop_id=shopify_shop.id)
    assert len(rows) >= 3, "five orders at two per page: at least three pulls"
    for row in rows:
        assert row["direction"] == "call"
        assert row["platform"] == "shopify" and row["shop_id"] == shopify_shop.id
        assert row["interface"] == "orders.json"
        assert row["outcome"] == "ok" and row["http_status"] == 200
        assert isinstance(row["duration_ms"], int) and 0 <= row["duration_ms"] < 30_000
        assert row["code"] is None and row["message"] is None
        assert row["explanation"] is None and row["action"] is None
    ids = [row["id"] for row in rows]
    assert ids == sorted(ids, reverse=True), "newest first"


async def test_pages_follow_the_cursor_and_filters(
    app: FastAPI, engine: SyncEngine, shopify_shop: Shop
) -> None:
    create_orders(shopify_shop, 5)
    fault(shopify_shop, kind="error", status=502, path_pattern="orders", skip=2)
    await engine.sync_shop(await shopify_shop.row(app))
    everything = await sync_log(app, shopify_shop.tenant, shop_id=shopify_shop.id)
    assert len(everything) == 3

    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"shop_id": shopify_shop.id, "limit": 1}
        if cursor:
            params["cursor"] = cursor
        body = (await shopify_shop.tenant.get("/v1/sync-log", params=params)).json()
        seen += [row["id"] for row in body["data"]]
        cursor = body["next_cursor"]
        if not body["has_more"]:
            break
    assert seen == [row["id"] for row in everything]

    client = shopify_shop.tenant
    assert [r["outcome"] for r in await sync_log(app, client, failed=True)] == ["unavailable"]
    assert len(await sync_log(app, client, failed=False)) == 2
    assert len(await sync_log(app, client, outcome="ok", interface="orders.json")) == 2
    assert await sync_log(app, client, interface="orders/{id}.json") == []
    assert await sync_log(app, client, platform="taobao") == []
    assert len(await sync_log(app, client, platform="shopify")) == 3
    later = (utcnow() + timedelta(minutes=1)).isoformat()
    assert await sync_log(app, client, since=later) == []

    first = (await client.get("/v1/sync-log", params={"limit": 1})).json()
    other_filters = {"cursor": first["next_cursor"], "outcome": "ok"}
    wrong = await client.get("/v1/sync-log", params=other_filters)
    assert wrong.status_code == 400  # a cursor only works with the filters it was issued for
    for params in ({"outcome": "exploded"}, {"interface": "orders\x00.json"}, {"shop_id": "x y"}):
        assert (await client.get("/v1/sync-log", params=params)).status_code == 422, params


# -- failures, with their explanations ------------------------------------------------------


async def test_a_shopify_outage_names_the_interface_and_says_it_is_retried(
    app: FastAPI, engine: SyncEngine, shopify_shop: Shop
) -> None:
    create_orders(shopify_shop, 1)
    fault(shopify_shop, kind="error", status=503, path_pattern="orders", count=None)
    result = await engine.sync_shop(await shopify_shop.row(app))
    assert result.error is not None

    [row] = await sync_log(app, shopify_shop.tenant, shop_id=shopify_shop.id, failed=True)
    assert row["interface"] == "orders.json"
    assert row["outcome"] == "unavailable"
    assert row["code"] == "503" and row["http_status"] == 503
    assert "server error" in row["explanation"]
    assert "retries automatically" in row["action"]
    assert row["message"]


async def test_a_shopify_429_is_rate_limited_with_nothing_to_do(
    app: FastAPI, engine: SyncEngine, shopify_shop: Shop
) -> None:
    create_orders(shopify_shop, 1)
    fault(shopify_shop, kind="rate_limit", path_pattern="orders", count=1)
    result = await engine.sync_shop(await shopify_shop.row(app))
    assert result.error is None, "the 429 is waited out and the sync goes on"

    rows = await sync_log(app, shopify_shop.tenant, shop_id=shopify_shop.id)
    limited = [r for r in rows if r["outcome"] == "rate_limited"]
    assert len(limited) == 1
    [row] = limited
    assert row["code"] == "429" and row["http_status"] == 429
    assert "call limit" in row["explanation"] and "slowed down" in row["explanation"]
    assert row["action"].startswith("Nothing to do")
    assert rows[0]["outcome"] == "ok", "the retry after the wait succeeded"


async def test_a_shopify_401_says_reauthorise_the_shop(
    app: FastAPI, engine: SyncEngine, shopify_shop: Shop
) -> None:
    fault(shopify_shop, kind="auth_expired", path_pattern="orders", count=1)
    result = await engine.sync_shop(await shopify_shop.row(app))
    assert result.error is not None

    [row] = await sync_log(app, shopify_shop.tenant, shop_id=shopify_shop.id, failed=True)
    assert row["outcome"] == "auth_expired"
    assert row["code"] == "401" and row["http_status"] == 401
    assert "Re-authorise the shop" in row["action"]
    assert SHOPIFY_TOKEN not in json.dumps(row)


async def test_a_hanging_platform_is_logged_as_a_timeout(
    app: FastAPI, engine: SyncEngine, shopify_shop: Shop
) -> None:
    """The caller stopped waiting (its deadline): the abandoned call is still logged."""
    fault(shopify_shop, kind="hang", seconds=3, path_pattern="orders", count=1)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(engine.sync_shop(await shopify_shop.row(app)), timeout=0.5)

    [row] = await sync_log(app, shopify_shop.tenant, shop_id=shopify_shop.id)
    assert row["interface"] == "orders.json"
    assert row["outcome"] == "timeout" and row["code"] == "cancelled"
    assert row["http_status"] is None
    assert "stopped waiting" in row["explanation"]
    assert row["action"].startswith("Nothing to do")
    assert row["duration_ms"] >= 400


@pytest.mark.parametrize(
    ("kind", "outcome", "code", "action"),
    [
        ("error", "unavailable", "15/isp.top-remote-connection-error", "retries automatically"),
        (
            "rate_limit",
            "rate_limited",
            "7/accesscontrol.limited-by-app-access-count",
            "Nothing to do",
        ),
        ("auth_expired", "auth_expired", "27/session-expired", "Re-authorise the shop"),
    ],
)
async def test_taobao_faults_are_explained(
    app: FastAPI,
    engine: SyncEngine,
    taobao_shop: Shop,
    kind: str,
    outcome: str,
    code: str,
    action: str,
) -> None:
    create_orders(taobao_shop, 2)
    fault(taobao_shop, kind=kind, api=r"trades\.sold\.increment", count=1, seconds=1)
    await engine.sync_shop(await taobao_shop.row(app))

    [row] = await sync_log(app, taobao_shop.tenant, shop_id=taobao_shop.id, outcome=outcome)
    assert row["interface"] == "taobao.trades.sold.increment.get"
    assert row["code"] == code
    assert action in row["action"]
    assert row["explanation"] and row["message"]
    assert TAOBAO_SESSION not in json.dumps(row)


async def test_a_wrong_app_secret_says_check_the_secret(
    app: FastAPI,
    engine: SyncEngine,
    tenant: TenantClient,
    taobao_sandbox: Any,
    taobao: httpx.Client,
) -> None:
    shop = await connect(
        tenant,
        "taobao",
        taobao_sandbox.base_url,
        taobao,
        credentials={
            "app_key": TAOBAO_KEY,
            "app_secret": "not-the-app-secret",
            "session": TAOBAO_SESSION,
        },
    )
    result = await engine.sync_shop(await shop.row(app))
    assert result.error is not None

    [row] = await sync_log(app, tenant, shop_id=shop.id)
    assert row["outcome"] == "rejected"
    assert row["code"].split("/")[0] == "25"
    assert "signature" in row["explanation"]
    assert "app_secret" in row["action"]
    assert "not-the-app-secret" not in json.dumps(row)


# -- pushes --------------------------------------------------------------------------------


def _webhook(
    shopify_sandbox: Any, topic: str = "orders/updated", secret: str = SHOPIFY_SECRET
) -> tuple[bytes, dict[str, str]]:
    orders = httpx.get(
        f"{shopify_sandbox.base_url}/admin/api/{SHOPIFY_VERSION}/orders.json",
        params={"status": "any"},
        headers={"X-Shopify-Access-Token": SHOPIFY_TOKEN},
    ).json()["orders"]
    body = json.dumps(orders[0]).encode()
    headers = {
        "X-Shopify-Topic": topic,
        "X-Shopify-Hmac-Sha256": compute_signature(secret, body),
        "X-Shopify-Webhook-Id": secrets.token_hex(8),
        "X-Shopify-Shop-Domain": SHOPIFY_DOMAIN,
        "Content-Type": "application/json",
    }
    return body, headers


async def test_pushes_are_logged_accepted_and_refused(
    app: FastAPI, shopify_shop: Shop, shopify_sandbox: Any, anon: httpx.AsyncClient
) -> None:
    create_orders(shopify_shop, 1)
    url = f"/v1/push/shopify/{shopify_shop.id}"
    body, headers = _webhook(shopify_sandbox)
    assert (await anon.post(url, content=body, headers=headers)).status_code == 200
    body, headers = _webhook(shopify_sandbox, secret="a-forged-secret")
    assert (await anon.post(url, content=body, headers=headers)).status_code == 401

    refused, accepted = await sync_log(app, shopify_shop.tenant, shop_id=shopify_shop.id)
    assert accepted["direction"] == "push" and accepted["interface"] == "orders/updated"
    assert accepted["outcome"] == "ok" and accepted["explanation"] is None
    assert refused["direction"] == "push" and refused["interface"] == "webhook"
    assert refused["outcome"] == "rejected" and refused["code"] == "bad_signature"
    assert "app_secret" in refused["action"]


# -- metrics --------------------------------------------------------------------------------


def _sample(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0]))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_metrics_count_calls_by_platform_interface_outcome_and_code(
    app: FastAPI, engine: SyncEngine, shopify_shop: Shop, anon: httpx.AsyncClient
) -> None:
    before = (await anon.get("/metrics")).text
    create_orders(shopify_shop, 1)
    fault(shopify_shop, kind="error", status=503, path_pattern="orders", count=1)
    await engine.sync_shop(await shopify_shop.row(app))
    await engine.sync_shop(await shopify_shop.row(app))
    after = (await anon.get("/metrics")).text

    failed = {"platform": "shopify", "interface": "orders.json", "outcome": "unavailable"}
    name = "shopbridge_platform_calls_total"
    assert (
        _sample(after, name, code="503", **failed) - _sample(before, name, code="503", **failed)
        == 1
    )
    ok = {"platform": "shopify", "interface": "orders.json", "outcome": "ok", "code": ""}
    assert _sample(after, name, **ok) > _sample(before, name, **ok)
    assert "shopbridge_platform_call_seconds_bucket{" in after
    count = "shopbridge_platform_call_seconds_count"
    where = {"platform": "shopify", "interface": "orders.json"}
    assert _sample(after, count, **where) >= _sample(before, count, **where) + 2
    for series in (
        "shopbridge_platform_pushes_total",
        "shopbridge_sync_log_dropped_total",
        "shopbridge_sync_log_buffered",
    ):
        assert f"# HELP {series}" in after


# -- isolation and access -------------------------------------------------------------------


async def test_the_log_is_tenant_scoped_and_needs_shops_read(
    app: FastAPI, engine: SyncEngine, shopify_shop: Shop, admin: httpx.AsyncClient
) -> None:
    create_orders(shopify_shop, 1)
    await engine.sync_shop(await shopify_shop.row(app))
    assert await sync_log(app, shopify_shop.tenant, shop_id=shopify_shop.id)

    other = (await admin.post("/v1/tenants", json={"name": "ops-other"})).json()
    headers = {"Authorization": f"Bearer {other['admin_key']['key']}"}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://x", headers=headers
    ) as stranger:
        assert await sync_log(app, stranger, shop_id=shopify_shop.id) == []
        everything = await sync_log(app, stranger)
        assert all(row["shop_id"] != shopify_shop.id for row in everything)

    key = await shopify_shop.tenant.post(
        "/v1/api-keys", json={"name": "orders only", "scopes": ["orders:read"]}
    )
    assert key.status_code == 201, key.text
    headers = {"Authorization": f"Bearer {key.json()['key']}"}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://x", headers=headers
    ) as narrow:
        assert (await narrow.get("/v1/sync-log")).status_code == 403


# -- retention ------------------------------------------------------------------------------


async def test_maintenance_prunes_records_past_the_retention(
    app: FastAPI, tenant: TenantClient
) -> None:
    now = utcnow()

    def row(age: timedelta) -> SyncLogRow:
        return SyncLogRow(
            id=new_id("slog"),
            tenant_id=tenant.tenant_id,
            shop_id="shop_retention",
            platform="shopify",
            direction="call",
            interface="orders.json",
            outcome="ok",
            duration_ms=5,
            created_at=now - age,
        )

    old, recent = row(timedelta(days=15)), row(timedelta(days=13))
    async with app.state.db.transaction() as session:
        session.add_all([old, recent])
    engine = SyncEngine(app.state.db, app.state.box, settings=SyncSettings())
    assert engine.settings.sync_log_retention == timedelta(days=14)
    await engine.maintenance()
    async with app.state.db.read() as session:
        assert await session.get(SyncLogRow, old.id) is None
        assert await session.get(SyncLogRow, recent.id) is not None

    short = SyncEngine(
        app.state.db, app.state.box, settings=SyncSettings(sync_log_retention=timedelta(days=1))
    )
    await short.maintenance()
    async with app.state.db.read() as session:
        assert await session.get(SyncLogRow, recent.id) is None
