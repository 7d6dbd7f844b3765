"""The pull engine against a real Shopify sandbox over HTTP, on the real database: backfill,
cursor, overlap, idempotence, faults (pause on expired token, backoff on outages), and a
failure mid-window that loses and duplicates nothing."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from shopbridge.sandbox.common.runner import RunningServer, start_in_thread
from shopbridge.sandbox.shopify import ShopifySandboxOptions, create_app
from shopbridge.storage.orders import OrderRepository
from shopbridge.storage.shops import ShopRepository
from shopbridge.storage.tables import OrderRow, OutboxEventRow, ShopRow, ShopSyncStateRow
from shopbridge.storage.tenants import create_tenant
from shopbridge.sync.engine import SyncEngine, SyncSettings, resume_shop
from tests.conftest import TenantClient

TOKEN = "shpat_sync_engine_test"
SECRET = "sync-engine-secret"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[RunningServer]:
    server = start_in_thread(
        create_app(
            ShopifySandboxOptions(access_token=TOKEN, app_secret=SECRET, seed=0, random_seed=5)
        )
    )
    yield server
    server.stop()


@pytest.fixture
def control(sandbox: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{sandbox.base_url}/_sandbox", timeout=30) as client:
        client.post("/reset", json={"seed": 0}).raise_for_status()
        client.delete("/faults").raise_for_status()
        client.post("/rate_limit", json={"level": 0}).raise_for_status()
        yield client


@pytest.fixture
async def shop(app: FastAPI, sandbox: RunningServer) -> ShopRow:
    async with app.state.db.transaction() as session:
        tenant = await create_tenant(session, f"sync-{secrets.token_hex(3)}")
        row, _ = await ShopRepository(session, tenant.id, app.state.box).connect(
            platform="shopify",
            platform_shop_id="demo-shop.myshopify.com",
            display_name="Sync",
            credentials={"access_token": TOKEN, "app_secret": SECRET},
            settings={"base_url": sandbox.base_url, "page_size": 3, "backfill_days": 1},
        )
    return row


@pytest.fixture
def engine(app: FastAPI) -> SyncEngine:
    return SyncEngine(app.state.db, app.state.box, settings=SyncSettings(), worker_id="test-worker")


def create(control: httpx.Client, count: int) -> list[str]:
    body = control.post("/orders", json={"count": count, "payment": "paid"}).json()
    return [str(o["id"]) for o in body["orders"]]


async def counts(app: FastAPI, shop: ShopRow) -> tuple[int, int]:
    async with app.state.db.read() as session:
        orders = await session.scalar(
            select(func.count()).select_from(OrderRow).where(OrderRow.shop_id == shop.id)
        )
        events = await session.scalar(
            select(func.count())
            .select_from(OutboxEventRow)
            .where(OutboxEventRow.shop_id == shop.id)
        )
    return int(orders or 0), int(events or 0)


async def sync_state(app: FastAPI, shop: ShopRow) -> ShopSyncStateRow:
    async with app.state.db.read() as session:
        row = await session.get(ShopSyncStateRow, shop.id)
        assert row is not None
        return row


async def test_backfill_then_incremental_then_idempotent(
    app: FastAPI, engine: SyncEngine, control: httpx.Client, shop: ShopRow
) -> None:
    created = create(control, 7)
    [result] = [r for r in await engine.run_once({shop.id}) if r.shop_id == shop.id]
    assert result.error is None
    assert result.created == 7 and result.pages >= 3
    assert await counts(app, shop) == (7, 7)

    again = await engine.sync_shop(shop)
    assert again.created == 0 and again.updated == 0
    assert await counts(app, shop) == (7, 7), "an unchanged re-read writes nothing"

    control.post(f"/orders/{created[0]}/fulfill").raise_for_status()
    create(control, 1)
    third = await engine.sync_shop(shop)
    assert third.created == 1
    assert third.updated >= 1
    orders, events = await counts(app, shop)
    assert (orders, events) == (8, 8 + third.updated), "one event per real change, no duplicates"
    async with app.state.db.read() as session:
        fulfilled = await OrderRepository(session, shop.tenant_id).get_by_platform_id(
            shop.id, created[0]
        )
    assert fulfilled.status == "shipped" and fulfilled.version == 2
    state = await sync_state(app, shop)
    assert state.last_success_at is not None and state.state == "idle"


async def test_failure_mid_window_loses_and_duplicates_nothing(
    app: FastAPI, engine: SyncEngine, control: httpx.Client, shop: ShopRow
) -> None:
    create(control, 7)
    # The second page request fails (after the first page was written).
    control.post(
        "/faults",
        json={"kind": "error", "status": 503, "count": 1, "skip": 1, "path_pattern": "orders"},
    ).raise_for_status()
    failed = await engine.sync_shop(shop)
    assert failed.error is not None
    stored, _ = await counts(app, shop)
    assert 0 < stored < 7
    state = await sync_state(app, shop)
    assert state.state == "backoff" and state.consecutive_failures == 1
    assert state.last_error and "503" in (state.last_error_code or "") + state.last_error
    recovered = await engine.sync_shop(shop)
    assert recovered.error is None
    assert await counts(app, shop) == (7, 7)


async def test_expired_token_pauses_the_shop_until_resumed(
    app: FastAPI, engine: SyncEngine, control: httpx.Client, shop: ShopRow
) -> None:
    create(control, 2)
    control.post("/token", json={"action": "expire"}).raise_for_status()
    result = await engine.sync_shop(shop)
    assert result.error is not None
    state = await sync_state(app, shop)
    assert state.state == "paused"
    assert state.paused_reason and "re-authorise" in state.paused_reason
    assert state.next_run_at is None
    assert [
        r for r in await engine.run_once({shop.id}) if r.shop_id == shop.id
    ] == []  # not claimed
    control.post("/token", json={"action": "restore"}).raise_for_status()
    await resume_shop(app.state.db, shop)
    [resumed] = [r for r in await engine.run_once({shop.id}) if r.shop_id == shop.id]
    assert resumed.error is None and resumed.created == 2


async def test_platform_rate_limit_slows_down_without_failing(
    app: FastAPI, engine: SyncEngine, control: httpx.Client, shop: ShopRow
) -> None:
    create(control, 4)
    control.post("/faults", json={"kind": "rate_limit", "count": 2}).raise_for_status()
    result = await engine.sync_shop(shop)
    assert result.error is None and result.created == 4
    state = await sync_state(app, shop)
    assert state.consecutive_failures == 0 and state.last_error is None


async def test_sync_status_over_the_api(
    app: FastAPI,
    engine: SyncEngine,
    control: httpx.Client,
    sandbox: RunningServer,
    tenant: TenantClient,
) -> None:
    body = {
        "platform": "shopify",
        "platform_shop_id": "demo-shop.myshopify.com",
        "display_name": "API sync",
        "credentials": {"access_token": TOKEN, "app_secret": SECRET},
        "settings": {"base_url": sandbox.base_url, "backfill_days": 1},
    }
    shop_id = (await tenant.post("/v1/shops", json=body)).json()["id"]
    assert (await tenant.get(f"/v1/shops/{shop_id}/sync")).json()["state"] == "never_run"
    create(control, 2)
    async with app.state.db.read() as session:
        shop = await session.get(ShopRow, shop_id)
    assert shop is not None
    await engine.sync_shop(shop)
    status = (await tenant.get(f"/v1/shops/{shop_id}/sync")).json()
    assert status["state"] == "idle"
    assert status["last_success_at"] and status["last_error"] is None
    assert 0 <= status["lag_seconds"] < 60
    listed = (await tenant.get("/v1/orders", params={"shop_id": shop_id})).json()["data"]
    assert len(listed) == 2

    control.post("/token", json={"action": "expire"}).raise_for_status()
    await engine.sync_shop(shop)
    paused = (await tenant.get(f"/v1/shops/{shop_id}/sync")).json()
    assert paused["state"] == "paused"
    assert "re-authorise" in paused["paused_reason"]
    assert paused["last_error"]["message"]
    # New credentials lift the pause.
    control.post("/token", json={"action": "restore"}).raise_for_status()
    await tenant.patch(
        f"/v1/shops/{shop_id}", json={"credentials": {"access_token": TOKEN, "app_secret": SECRET}}
    )
    assert (await tenant.get(f"/v1/shops/{shop_id}/sync")).json()["state"] == "idle"
    assert (await tenant.get("/v1/shops/shop_missing/sync")).status_code == 404


async def _forget_orders(app: FastAPI, shop: ShopRow) -> None:
    """Simulate orders a push and a window both missed: they vanish from our side only."""
    from sqlalchemy import delete

    async with app.state.db.transaction() as session:
        await session.execute(delete(OrderRow).where(OrderRow.shop_id == shop.id))


async def test_reconciliation_pass_catches_what_was_missed(
    app: FastAPI, engine: SyncEngine, control: httpx.Client, shop: ShopRow
) -> None:
    create(control, 3)
    first = await engine.sync_shop(shop)
    assert first.created == 3 and not first.reconciled  # a backfill needs no reconciliation
    await _forget_orders(app, shop)
    shop.settings = {**shop.settings, "reconcile_every_minutes": 0.0001}
    second = await engine.sync_shop(shop)
    assert second.reconciled
    orders, _ = await counts(app, shop)
    assert orders == 3


async def test_resync_repulls_a_window_with_progress(
    app: FastAPI, engine: SyncEngine, control: httpx.Client, shop: ShopRow
) -> None:
    from datetime import UTC, datetime, timedelta

    create(control, 4)
    await engine.sync_shop(shop)
    await _forget_orders(app, shop)
    seen: list[tuple[int, int]] = []
    result = await engine.resync(
        shop, datetime.now(UTC) - timedelta(hours=1), progress=lambda d, t: seen.append((d, t))
    )
    assert result.created == 4
    assert seen and seen[-1][0] == seen[-1][1]
    orders, _ = await counts(app, shop)
    assert orders == 4


async def test_without_push_an_order_arrives_within_one_poll_interval(
    app: FastAPI, control: httpx.Client, shop: ShopRow
) -> None:
    import asyncio
    import time

    engine = SyncEngine(
        app.state.db, app.state.box, settings=SyncSettings(idle_sleep=0.1), worker_id="poller"
    )
    shop.settings = {**shop.settings, "poll_interval_seconds": 1}
    async with app.state.db.transaction() as session:
        row = await session.get(ShopRow, shop.id)
        assert row is not None
        row.settings = shop.settings
    stop = asyncio.Event()
    worker = asyncio.create_task(engine.run_forever(stop, {shop.id}))
    try:
        await asyncio.sleep(0.5)  # first run (backfill) done
        [platform_order_id] = create(control, 1)
        started = time.monotonic()
        while time.monotonic() - started < 5:
            async with app.state.db.read() as session:
                found = await session.scalar(
                    select(func.count())
                    .select_from(OrderRow)
                    .where(
                        OrderRow.shop_id == shop.id, OrderRow.platform_order_id == platform_order_id
                    )
                )
            if found:
                break
            await asyncio.sleep(0.1)
        elapsed = time.monotonic() - started
    finally:
        stop.set()
        await worker
    assert found == 1
    assert elapsed < 1 + 1.5  # one poll interval plus the pull itself
