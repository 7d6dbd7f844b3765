"""Health per shop and per interface, the webhook backlog, and alerts as events, end to end:
shops synced against the sandboxes with faults injected through their control APIs, then
`GET /v1/health/...` and the alert evaluator. Time passing is simulated by moving the
shop's sync-log records (or its cursor) into the past, never by sleeping."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event, select

from shopbridge.core.events import EVENT_TYPES
from shopbridge.core.time import utcnow
from shopbridge.delivery.dispatcher import DeliverySettings, Dispatcher
from shopbridge.delivery.http import WebhookClient
from shopbridge.delivery.schedule import RetrySchedule
from shopbridge.sandbox.common.runner import RunningServer
from shopbridge.storage.health import classify, id_floor, token_expiry
from shopbridge.storage.tables import SyncLogRow, WebhookDeliveryRow
from shopbridge.sync import alerts as alerts_module
from shopbridge.sync import state as sync_state
from shopbridge.sync.alerts import Alert, evaluate_alerts, evaluate_alerts_if_due
from shopbridge.sync.engine import SyncEngine
from shopbridge.sync.synclog import SYNC_LOG
from tests.conftest import TenantClient
from tests.operations.conftest import (
    SHOPIFY_SECRET,
    SHOPIFY_TOKEN,
    TAOBAO_KEY,
    TAOBAO_SECRET,
    TAOBAO_SESSION,
    Shop,
    connect,
)

SHOP_KEYS = {
    "shop_id",
    "display_name",
    "platform",
    "status",
    "sync_state",
    "last_success_at",
    "last_attempt_at",
    "last_error",
    "lag_seconds",
    "error_rate_5m",
    "error_rate_1h",
    "calls_5m",
    "calls_1h",
    "interfaces",
    "queue",
    "token_expires_at",
    "alerts",
}
INTERFACE_KEYS = {
    "interface",
    "direction",
    "calls_1h",
    "errors_1h",
    "rate_limited_1h",
    "error_rate_1h",
    "last_ok_at",
    "last_error_at",
    "last_error_code",
    "last_explanation",
    "last_action",
}
ERROR_KEYS = {"code", "message", "explanation", "action", "at", "interface"}
WEBHOOK_KEYS = {
    "endpoint_id",
    "url",
    "enabled",
    "pending",
    "failed",
    "oldest_pending_at",
    "last_error",
    "last_error_at",
    "disabled_reason",
}
POLL = 60.0  # the test settings' default poll interval (`sync_poll_interval_seconds`)


# -- helpers --------------------------------------------------------------------------------


def fault(shop: Shop, **rule: Any) -> None:
    shop.control.post("/faults", json=rule).raise_for_status()


def create_orders(shop: Shop, count: int) -> None:
    if shop.platform == "shopify":
        shop.control.post("/orders", json={"count": count, "payment": "paid"}).raise_for_status()
    else:
        shop.control.post("/trades", json={"count": count}).raise_for_status()


async def sync(app: FastAPI, engine: SyncEngine, shop: Shop, times: int = 1) -> None:
    for _ in range(times):
        await engine.sync_shop(await shop.row(app))


async def health(app: FastAPI, shop: Shop) -> dict[str, Any]:
    """The shop's health once everything recorded so far is in the sync log (the writer
    would flush it within a second)."""
    await SYNC_LOG.flush(app.state.db)
    resp = await shop.tenant.get(f"/v1/health/shops/{shop.id}")
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


async def age_log(app: FastAPI, shop: Shop, by: timedelta) -> None:
    """Pretend `by` has passed for the shop's sync log."""
    await SYNC_LOG.flush(app.state.db)
    async with app.state.db.transaction() as session:
        rows = (
            await session.scalars(select(SyncLogRow).where(SyncLogRow.shop_id == shop.id))
        ).all()
        for row in rows:
            row.created_at = row.created_at - by


async def alerts_of(app: FastAPI, shop: Shop) -> list[Alert]:
    await SYNC_LOG.flush(app.state.db)
    found = await evaluate_alerts(
        app.state.db, app.state.box, poll_interval=POLL, tenant_ids=[shop.tenant.tenant_id]
    )
    return [a for a in found if a.shop_id == shop.id]


async def feed(client: httpx.AsyncClient, *types: str) -> list[dict[str, Any]]:
    resp = await client.get("/v1/events", params={"types": list(types), "limit": 1000})
    assert resp.status_code == 200, resp.text
    data: list[dict[str, Any]] = resp.json()["data"]
    return data


def in_days(days: float) -> datetime:
    return (utcnow() + timedelta(days=days)).replace(microsecond=0)


# -- the pure parts -------------------------------------------------------------------------


def test_token_expiry_reads_the_usual_credential_forms() -> None:
    moment = datetime(2026, 11, 11, 12, 0, tzinfo=UTC)
    millis = int(moment.timestamp() * 1000)
    assert token_expiry({"expire_time": millis}) == moment  # Taobao's OAuth answer
    assert token_expiry({"expire_time": str(millis)}) == moment
    assert token_expiry({"expires_at": int(moment.timestamp())}) == moment
    assert token_expiry({"expires_at": "2026-11-11T20:00:00+08:00"}) == moment
    assert token_expiry({"expires_at": "2026-11-11T12:00:00Z"}) == moment
    assert token_expiry({"expires_at": 1.5e12, "expire_time": millis}) is not None
    assert token_expiry({"expires_at": "2026-11-11 12:00:00"}) is None, "no zone: not guessed"
    assert token_expiry({"expires_at": "soon"}) is None
    assert token_expiry({"expires_at": True}) is None
    assert token_expiry({"access_token": "x"}) is None


def test_id_floor_orders_like_the_ids_of_that_time() -> None:
    from shopbridge.core.ids import new_id

    before = utcnow()
    made = new_id("slog")
    after = utcnow() + timedelta(milliseconds=2)
    assert id_floor("slog", before - timedelta(milliseconds=1)) <= made < id_floor("slog", after)


@pytest.mark.parametrize(
    ("changes", "status"),
    [
        ({}, "healthy"),
        ({"shop_status": "paused"}, "paused"),
        ({"shop_status": "disconnected", "sync_state": "paused"}, "disconnected"),
        ({"sync_state": "paused"}, "failing"),
        ({"auth_expired": True}, "failing"),
        ({"calls_5m": 3, "errors_5m": 2, "calls_1h": 3, "errors_1h": 2}, "failing"),
        ({"calls_5m": 2, "errors_5m": 2, "calls_1h": 2, "errors_1h": 2}, "degraded"),
        ({"consecutive_failures": 3}, "failing"),
        ({"calls_1h": 10, "errors_1h": 1}, "degraded"),
        ({"calls_1h": 11, "errors_1h": 1}, "healthy"),
        ({"lag_seconds": 3 * POLL + 1}, "degraded"),
        ({"lag_seconds": 3 * POLL}, "healthy"),
        ({"token_expires_at": "6d"}, "degraded"),
        ({"token_expires_at": "8d"}, "healthy"),
        ({"token_expires_at": "-1d"}, "failing"),
    ],
)
def test_status_rules(changes: dict[str, Any], status: str) -> None:
    now = utcnow()
    values: dict[str, Any] = {
        "shop_status": "active",
        "sync_state": "idle",
        "paused_reason": None,
        "auth_expired": False,
        "token_expires_at": None,
        "calls_5m": 0,
        "errors_5m": 0,
        "calls_1h": 0,
        "errors_1h": 0,
        "consecutive_failures": 0,
        "lag_seconds": None,
        "poll_interval_seconds": POLL,
        "now": now,
    }
    values.update(changes)
    if isinstance(values["token_expires_at"], str):
        values["token_expires_at"] = now + timedelta(days=float(values["token_expires_at"][:-1]))
    got, reasons = classify(**values)
    assert got == status
    assert bool(reasons) == (status != "healthy")


# -- health of a shop -----------------------------------------------------------------------


async def test_healthy_after_a_good_sync(
    app: FastAPI, engine: SyncEngine, shopify_shop: Shop
) -> None:
    create_orders(shopify_shop, 5)
    await sync(app, engine, shopify_shop)

    body = await health(app, shopify_shop)
    assert set(body) == SHOP_KEYS
    assert body["shop_id"] == shopify_shop.id
    assert body["display_name"] == "Ops Shopify" and body["platform"] == "shopify"
    assert body["status"] == "healthy" and body["alerts"] == []
    assert body["sync_state"] == "idle"
    assert body["last_success_at"] is not None and body["last_attempt_at"] is not None
    assert body["last_error"] is None
    assert 0 <= body["lag_seconds"] < 30, "the cursor's high water is the start of this sync"
    assert body["calls_5m"] == body["calls_1h"] >= 3, "five orders, two per page"
    assert body["error_rate_5m"] == body["error_rate_1h"] == 0
    assert body["token_expires_at"] is None, "Shopify offline tokens do not expire"
    assert body["queue"] == {"unsequenced_events": 5, "pending_deliveries": 0}
    [interface] = body["interfaces"]
    assert set(interface) == INTERFACE_KEYS
    assert interface["interface"] == "orders.json" and interface["direction"] == "call"
    assert interface["calls_1h"] == body["calls_1h"] and interface["errors_1h"] == 0
    assert interface["error_rate_1h"] == 0 and interface["last_ok_at"] is not None
    assert interface["last_error_at"] is None and interface["last_error_code"] is None

    await feed(shopify_shop.tenant)  # the feed sequences what committed
    assert (await health(app, shopify_shop))["queue"]["unsequenced_events"] == 0

    listed = (await shopify_shop.tenant.get("/v1/health/shops")).json()
    assert set(listed) == {"data"}
    assert [s["shop_id"] for s in listed["data"]] == [shopify_shop.id]
    assert listed["data"][0]["status"] == "healthy"
    only_taobao = await shopify_shop.tenant.get("/v1/health/shops", params={"platform": "taobao"})
    assert only_taobao.json() == {"data": []}


async def test_a_new_shop_is_healthy_with_nothing_known_yet(shopify_shop: Shop) -> None:
    body = (await shopify_shop.tenant.get(f"/v1/health/shops/{shopify_shop.id}")).json()
    assert body["status"] == "healthy" and body["sync_state"] == "never_run"
    assert body["lag_seconds"] is None and body["error_rate_5m"] is None
    assert body["calls_1h"] == 0 and body["interfaces"] == [] and body["last_error"] is None


async def test_failing_with_the_explanation_after_injected_500s(
    app: FastAPI, engine: SyncEngine, shopify_shop: Shop
) -> None:
    create_orders(shopify_shop, 1)
    fault(shopify_shop, kind="error", status=500, path_pattern="orders", count=None)
    await sync(app, engine, shopify_shop, times=3)

    body = await health(app, shopify_shop)
    assert body["status"] == "failing"
    assert body["sync_state"] == "backoff"
    assert body["calls_5m"] == 3 and body["error_rate_5m"] == 1.0 and body["error_rate_1h"] == 1.0
    assert "3 of 3 platform calls failed in the last 5 minutes." in body["alerts"]
    assert "3 syncs in a row failed." in body["alerts"]
    error = body["last_error"]
    assert set(error) == ERROR_KEYS
    assert error["code"] == "500" and error["interface"] == "orders.json"
    assert "server error" in error["explanation"]
    assert "retries automatically" in error["action"]
    assert error["at"] is not None
    [interface] = body["interfaces"]
    assert interface["errors_1h"] == 3 and interface["last_ok_at"] is None
    assert interface["last_error_code"] == "500"
    assert interface["last_explanation"] == error["explanation"]
    assert interface["last_action"] == error["action"]


async def test_degraded_on_partial_errors(
    app: FastAPI, engine: SyncEngine, shopify_shop: Shop
) -> None:
    create_orders(shopify_shop, 5)
    fault(shopify_shop, kind="error", status=502, path_pattern="orders", skip=2)
    await sync(app, engine, shopify_shop)

    body = await health(app, shopify_shop)
    assert body["calls_5m"] == 3, "two pages, then the third fails"
    assert body["status"] == "degraded", body["alerts"]
    assert body["error_rate_1h"] == pytest.approx(1 / 3, abs=1e-3)
    assert body["alerts"] == ["33 % of platform calls failed in the last hour (1 of 3)."]
    assert body["last_error"]["code"] == "502"


async def test_rate_limits_are_calls_but_not_errors(
    app: FastAPI, engine: SyncEngine, shopify_shop: Shop
) -> None:
    create_orders(shopify_shop, 1)
    fault(shopify_shop, kind="rate_limit", path_pattern="orders", count=1)
    await sync(app, engine, shopify_shop)

    body = await health(app, shopify_shop)
    assert body["status"] == "healthy"
    assert body["calls_1h"] == 2 and body["error_rate_1h"] == 0
    [interface] = body["interfaces"]
    assert interface["rate_limited_1h"] == 1 and interface["errors_1h"] == 0
    assert body["last_error"] is None


async def test_lag_over_three_poll_intervals_is_degraded(
    app: FastAPI, engine: SyncEngine, shopify_shop: Shop
) -> None:
    await sync(app, engine, shopify_shop)
    shop = await shopify_shop.row(app)
    async with app.state.db.transaction() as session:
        cursor = await sync_state.read_cursor(session, shop.id, "orders") or {}
        behind = (utcnow() - timedelta(minutes=10)).isoformat()
        await sync_state.write_cursor(session, shop, "orders", {**cursor, "high_water": behind})

    body = await health(app, shopify_shop)
    assert body["status"] == "degraded"
    assert 595 <= body["lag_seconds"] < 660
    [reason] = body["alerts"]
    assert reason.startswith("Orders are 60") and "3 × the 60 s poll interval" in reason


async def test_expired_authorisation_is_failing_with_reauthorise(
    app: FastAPI, engine: SyncEngine, shopify_shop: Shop
) -> None:
    fault(shopify_shop, kind="auth_expired", path_pattern="orders", count=1)
    await sync(app, engine, shopify_shop)

    body = await health(app, shopify_shop)
    assert body["status"] == "failing"
    assert body["sync_state"] == "paused"
    assert body["last_error"]["code"] == "401"
    assert "Re-authorise the shop" in body["last_error"]["action"]
    assert any("re-authorise the shop" in reason for reason in body["alerts"])

    # The merchant re-authorises: new credentials resume the sync, which succeeds.
    resp = await shopify_shop.tenant.patch(
        f"/v1/shops/{shopify_shop.id}",
        json={"credentials": {"access_token": SHOPIFY_TOKEN, "app_secret": SHOPIFY_SECRET}},
    )
    assert resp.status_code == 200, resp.text
    await sync(app, engine, shopify_shop)
    body = await health(app, shopify_shop)
    assert body["sync_state"] == "idle"
    assert body["status"] == "degraded", "one call in two failed within the hour"
    assert not any("authorisation" in reason for reason in body["alerts"])

    await age_log(app, shopify_shop, timedelta(hours=1, minutes=1))
    body = await health(app, shopify_shop)
    assert body["status"] == "healthy" and body["alerts"] == []
    assert body["last_error"]["code"] == "401", "the engine's last recorded error remains"
    assert body["last_error"]["interface"] is None


async def test_token_expiry_from_the_stored_credentials(
    app: FastAPI, tenant: TenantClient, taobao_sandbox: RunningServer, taobao: httpx.Client
) -> None:
    expires = in_days(3)
    shop = await connect(
        tenant,
        "taobao",
        taobao_sandbox.base_url,
        taobao,
        credentials={
            "app_key": TAOBAO_KEY,
            "app_secret": TAOBAO_SECRET,
            "session": TAOBAO_SESSION,
            "expire_time": str(int(expires.timestamp() * 1000)),
        },
    )
    body = await health(app, shop)
    assert datetime.fromisoformat(body["token_expires_at"]) == expires
    assert body["status"] == "degraded"
    [reason] = body["alerts"]
    assert "token expires" in reason and "re-authorise" in reason

    await tenant.patch(
        f"/v1/shops/{shop.id}",
        json={"credentials": {"session": TAOBAO_SESSION, "expires_at": "2020-01-01T00:00:00Z"}},
    )
    body = await health(app, shop)
    assert body["status"] == "failing"
    assert any("authorisation expired at 2020-01-01" in reason for reason in body["alerts"])


# -- alerts as events -----------------------------------------------------------------------


async def test_alerts_are_emitted_once_per_change_and_reach_the_feed(
    app: FastAPI, engine: SyncEngine, shopify_shop: Shop
) -> None:
    await sync(app, engine, shopify_shop)
    assert await alerts_of(app, shopify_shop) == [], "healthy, never alerted: nothing to say"

    fault(shopify_shop, kind="error", status=500, path_pattern="orders", count=None)
    await sync(app, engine, shopify_shop, times=3)
    [failing] = await alerts_of(app, shopify_shop)
    assert failing.type == "shop.sync_degraded"
    assert failing.payload["status"] == "failing"
    assert failing.payload["previous_status"] == "healthy"
    assert failing.payload["last_error"]["code"] == "500"
    assert "3 syncs in a row failed." in failing.payload["reasons"]
    assert await alerts_of(app, shopify_shop) == [], "no change, no second alert"

    shopify_shop.control.delete("/faults").raise_for_status()
    await sync(app, engine, shopify_shop)
    assert (await health(app, shopify_shop))["status"] == "failing", "3 of 4 calls in 5 min"
    assert await alerts_of(app, shopify_shop) == []

    await age_log(app, shopify_shop, timedelta(minutes=6))
    [degraded] = await alerts_of(app, shopify_shop)
    assert degraded.type == "shop.sync_degraded"
    assert degraded.payload["status"] == "degraded"
    assert degraded.payload["previous_status"] == "failing"

    await age_log(app, shopify_shop, timedelta(hours=1))
    [recovered] = await alerts_of(app, shopify_shop)
    assert recovered.type == "shop.sync_recovered"
    assert recovered.payload["previous_status"] == "degraded"
    assert recovered.payload["degraded_since"] is not None
    assert await alerts_of(app, shopify_shop) == []

    events = await feed(
        shopify_shop.tenant, "shop.sync_degraded", "shop.sync_recovered", "shop.auth_expiring"
    )
    assert [(e["type"], e["data"]["status"]) for e in events] == [
        ("shop.sync_degraded", "failing"),
        ("shop.sync_degraded", "degraded"),
        ("shop.sync_recovered", "healthy"),
    ]
    assert all(e["shop_id"] == shopify_shop.id for e in events)
    assert events[0]["data"]["last_error"]["explanation"]
    by_shop = await shopify_shop.tenant.get("/v1/events", params={"shop": shopify_shop.id})
    assert {e["type"] for e in by_shop.json()["data"]} >= {"shop.sync_recovered"}


async def test_auth_expiring_is_alerted_once_per_expiry(
    app: FastAPI, tenant: TenantClient, taobao_sandbox: RunningServer, taobao: httpx.Client
) -> None:
    first = in_days(2)
    shop = await connect(
        tenant,
        "taobao",
        taobao_sandbox.base_url,
        taobao,
        credentials={
            "app_key": TAOBAO_KEY,
            "app_secret": TAOBAO_SECRET,
            "session": TAOBAO_SESSION,
            "expires_at": first.isoformat(),
        },
    )
    found = {a.type: a for a in await alerts_of(app, shop)}
    assert set(found) == {"shop.auth_expiring", "shop.sync_degraded"}
    expiring = found["shop.auth_expiring"].payload
    assert datetime.fromisoformat(expiring["token_expires_at"]) == first
    assert expiring["expired"] is False and 0 < expiring["expires_in_seconds"] <= 2 * 86400
    assert "Re-authorise" in expiring["action"]
    assert await alerts_of(app, shop) == []

    # Renewed for a month: recovered, nothing about the token.
    renewed = {"session": TAOBAO_SESSION, "app_key": TAOBAO_KEY, "app_secret": TAOBAO_SECRET}
    await tenant.patch(
        f"/v1/shops/{shop.id}",
        json={"credentials": {**renewed, "expires_at": in_days(30).isoformat()}},
    )
    [recovered] = await alerts_of(app, shop)
    assert recovered.type == "shop.sync_recovered"

    # That token nears its end too, later: a new expiry, a new alert.
    await tenant.patch(
        f"/v1/shops/{shop.id}",
        json={"credentials": {**renewed, "expires_at": in_days(1).isoformat()}},
    )
    assert {a.type for a in await alerts_of(app, shop)} == {
        "shop.auth_expiring",
        "shop.sync_degraded",
    }
    events = await feed(tenant, "shop.auth_expiring")
    assert len(events) == 2 and all(e["shop_id"] == shop.id for e in events)


async def test_paused_and_disconnected_shops_are_not_alerted(
    app: FastAPI, engine: SyncEngine, shopify_shop: Shop
) -> None:
    fault(shopify_shop, kind="error", status=500, path_pattern="orders", count=None)
    await sync(app, engine, shopify_shop, times=3)
    resp = await shopify_shop.tenant.patch(
        f"/v1/shops/{shopify_shop.id}", json={"status": "paused"}
    )
    assert resp.status_code == 200, resp.text
    assert (await health(app, shopify_shop))["status"] == "paused"
    assert await alerts_of(app, shopify_shop) == []

    await shopify_shop.tenant.post(f"/v1/shops/{shopify_shop.id}/disconnect")
    body = await health(app, shopify_shop)
    assert body["status"] == "disconnected" and body["token_expires_at"] is None
    assert await alerts_of(app, shopify_shop) == []


async def test_the_worker_hook_is_throttled_and_never_raises(
    app: FastAPI, engine: SyncEngine, shopify_shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    alerts_module._next_local.clear()
    db, box = app.state.db, app.state.box
    await sync(app, engine, shopify_shop)
    every = timedelta(hours=1)
    first = await evaluate_alerts_if_due(
        db, box, poll_interval=POLL, shop_ids=[shopify_shop.id], every=every
    )
    assert first == []

    fault(shopify_shop, kind="error", status=500, path_pattern="orders", count=None)
    await sync(app, engine, shopify_shop, times=3)
    await SYNC_LOG.flush(db)
    throttled = await evaluate_alerts_if_due(
        db, box, poll_interval=POLL, shop_ids=[shopify_shop.id], every=every
    )
    assert throttled == [], "evaluated less than `every` ago in this process"

    alerts_module._next_local.clear()

    async def broken(*_: Any, **__: Any) -> list[Alert]:
        raise RuntimeError("database went away")

    monkeypatch.setattr(alerts_module, "evaluate_alerts", broken)
    assert await evaluate_alerts_if_due(db, box, poll_interval=POLL, shop_ids=[]) == []
    alerts_module._next_local.clear()


async def test_concurrent_evaluators_emit_a_change_once(
    app: FastAPI, engine: SyncEngine, shopify_shop: Shop
) -> None:
    fault(shopify_shop, kind="error", status=500, path_pattern="orders", count=None)
    await sync(app, engine, shopify_shop, times=3)
    await SYNC_LOG.flush(app.state.db)
    tenant_ids = [shopify_shop.tenant.tenant_id]
    results = await asyncio.gather(
        *(
            evaluate_alerts(app.state.db, app.state.box, poll_interval=POLL, tenant_ids=tenant_ids)
            for _ in range(3)
        )
    )
    assert sum(len(r) for r in results) == 1


def test_the_alert_types_are_in_the_catalogue() -> None:
    for name in ("shop.sync_degraded", "shop.sync_recovered", "shop.auth_expiring"):
        assert name in EVENT_TYPES


# -- webhook backlog ------------------------------------------------------------------------


async def test_webhook_backlog_and_dead_letters_per_endpoint(
    app: FastAPI, engine: SyncEngine, shopify_shop: Shop
) -> None:
    client = shopify_shop.tenant
    resp = await client.post(
        "/v1/webhook-endpoints",
        json={"url": "http://127.0.0.1:9/hook", "event_types": ["order.created"]},
    )
    assert resp.status_code == 201, resp.text
    endpoint_id = resp.json()["id"]
    idle = await client.post("/v1/webhook-endpoints", json={"url": "http://127.0.0.1:9/idle"})
    idle_id = idle.json()["id"]
    await client.patch(f"/v1/webhook-endpoints/{idle_id}", json={"enabled": False})

    create_orders(shopify_shop, 3)
    await sync(app, engine, shopify_shop)
    await feed(client)  # sequences the events and fans them out to the endpoint

    body = (await client.get("/v1/health/webhooks")).json()
    assert set(body) == {"data"}
    by_id = {e["endpoint_id"]: e for e in body["data"]}
    assert set(by_id) == {endpoint_id, idle_id}
    backlog = by_id[endpoint_id]
    assert set(backlog) == WEBHOOK_KEYS
    assert backlog["url"] == "http://127.0.0.1:9/hook" and backlog["enabled"] is True
    assert backlog["pending"] == 3 and backlog["failed"] == 0
    assert backlog["oldest_pending_at"] is not None and backlog["last_error"] is None
    assert by_id[idle_id]["enabled"] is False
    assert by_id[idle_id]["disabled_reason"] == "disabled through the API"
    assert by_id[idle_id]["pending"] == 0
    assert (await health(app, shopify_shop))["queue"] == {
        "unsequenced_events": 0,
        "pending_deliveries": 3,
    }

    # Nothing listens on port 9: every attempt fails until the schedule gives up.
    dispatcher = Dispatcher(
        app.state.db,
        app.state.box,
        DeliverySettings(
            schedule=RetrySchedule.parse("0.05s,0.05s"), timeout=2.0, poll_interval=0.02
        ),
        client=WebhookClient(),
        tenant_ids=frozenset({client.tenant_id}),
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            await dispatcher.drain()
            async with app.state.db.read() as session:
                states = (
                    await session.scalars(
                        select(WebhookDeliveryRow.state).where(
                            WebhookDeliveryRow.endpoint_id == endpoint_id
                        )
                    )
                ).all()
            if states and all(s == "failed" for s in states):
                break
            await asyncio.sleep(0.05)
    finally:
        assert dispatcher.client is not None
        await dispatcher.client.aclose()

    backlog = {
        e["endpoint_id"]: e for e in (await client.get("/v1/health/webhooks")).json()["data"]
    }[endpoint_id]
    assert backlog["pending"] == 0 and backlog["failed"] == 3
    assert backlog["oldest_pending_at"] is None
    assert backlog["last_error"] and backlog["last_error_at"] is not None
    assert (await health(app, shopify_shop))["queue"]["pending_deliveries"] == 0


# -- isolation, access, cost ----------------------------------------------------------------


async def test_health_is_tenant_scoped_and_needs_its_scopes(
    app: FastAPI, engine: SyncEngine, shopify_shop: Shop, admin: httpx.AsyncClient
) -> None:
    await sync(app, engine, shopify_shop)
    await shopify_shop.tenant.post("/v1/webhook-endpoints", json={"url": "http://127.0.0.1:9/a"})
    other = (await admin.post("/v1/tenants", json={"name": "health-other"})).json()
    headers = {"Authorization": f"Bearer {other['admin_key']['key']}"}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://x", headers=headers
    ) as stranger:
        assert (await stranger.get(f"/v1/health/shops/{shopify_shop.id}")).status_code == 404
        assert (await stranger.get("/v1/health/shops")).json() == {"data": []}
        assert (await stranger.get("/v1/health/webhooks")).json() == {"data": []}
        # The stranger's own evaluation never touches our shop.
        found = await evaluate_alerts(
            app.state.db, app.state.box, poll_interval=POLL, tenant_ids=[other["id"]]
        )
        assert found == []

    key = await shopify_shop.tenant.post(
        "/v1/api-keys", json={"name": "orders only", "scopes": ["orders:read"]}
    )
    headers = {"Authorization": f"Bearer {key.json()['key']}"}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://x", headers=headers
    ) as narrow:
        assert (await narrow.get("/v1/health/shops")).status_code == 403
        assert (await narrow.get(f"/v1/health/shops/{shopify_shop.id}")).status_code == 403
        assert (await narrow.get("/v1/health/webhooks")).status_code == 403
    missing = await shopify_shop.tenant.get("/v1/health/shops/shop_doesnotexist")
    assert missing.status_code == 404


@pytest.fixture
def statements(app: FastAPI) -> Iterator[list[str]]:
    """Every SQL statement the app's database runs while the test does."""
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    engine = app.state.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    yield seen
    event.remove(engine, "before_cursor_execute", count)


async def test_the_cost_does_not_grow_with_shops_or_log_records(
    app: FastAPI,
    engine: SyncEngine,
    tenant: TenantClient,
    taobao_sandbox: RunningServer,
    taobao: httpx.Client,
    statements: list[str],
) -> None:
    """A fixed number of statements per request, whatever the shops and records: the work
    is grouped in the database, never a query per shop or per record."""
    first = await connect(tenant, "taobao", taobao_sandbox.base_url, taobao)
    await tenant.get("/v1/health/shops")  # warm up (key's last-used stamp)

    async def cost() -> int:
        await SYNC_LOG.flush(app.state.db)
        statements.clear()
        resp = await tenant.get("/v1/health/shops")
        assert resp.status_code == 200, resp.text
        return len(statements)

    alone = await cost()
    shops = [first] + [
        await connect(tenant, "taobao", taobao_sandbox.base_url, taobao) for _ in range(3)
    ]
    create_orders(first, 3)
    for shop in shops:
        await engine.sync_shop(await shop.row(app))
    assert await cost() == alone
    data = (await tenant.get("/v1/health/shops")).json()["data"]
    assert len(data) == 4 and all(s["calls_1h"] >= 1 for s in data)
