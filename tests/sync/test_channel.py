"""Taobao's message channel (TMC) end to end: the sandbox queues messages as trades change;
the engine consumes them, fetches each trade, upserts it and confirms the messages; duplicated
messages change nothing; unconfirmed ones would be redelivered."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from shopbridge.sandbox.common.runner import RunningServer, start_in_thread
from shopbridge.sandbox.taobao import app as taobao_app
from shopbridge.storage.shops import ShopRepository
from shopbridge.storage.tables import OrderRow, ShopRow
from shopbridge.storage.tenants import create_tenant
from shopbridge.sync.engine import SyncEngine

APP_KEY = "34567890"
SECRET = "channel-test-secret"
SESSION = "6100channel0session"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[RunningServer]:
    server = start_in_thread(
        taobao_app.create_app(
            taobao_app.Options(
                app_key=APP_KEY, app_secret=SECRET, access_token=SESSION, seed=0, random_seed=3
            )
        )
    )
    yield server
    server.stop()


@pytest.fixture
def control(sandbox: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{sandbox.base_url}/_sandbox", timeout=30) as client:
        client.post("/reset", json={"seed": 0}).raise_for_status()
        yield client


@pytest.fixture
async def shop(app: FastAPI, sandbox: RunningServer) -> ShopRow:
    async with app.state.db.transaction() as session:
        tenant = await create_tenant(session, f"tmc-{secrets.token_hex(3)}")
        row, _ = await ShopRepository(session, tenant.id, app.state.box).connect(
            platform="taobao",
            platform_shop_id="2201234567890",
            display_name="TMC",
            credentials={"app_key": APP_KEY, "app_secret": SECRET, "session": SESSION},
            settings={"base_url": sandbox.base_url},
        )
    return row


async def statuses(app: FastAPI, shop: ShopRow) -> dict[str, str]:
    async with app.state.db.read() as session:
        rows = (await session.scalars(select(OrderRow).where(OrderRow.shop_id == shop.id))).all()
    return {r.platform_order_id: r.status for r in rows}


async def test_channel_messages_become_orders_and_are_confirmed(
    app: FastAPI, control: httpx.Client, shop: ShopRow
) -> None:
    engine = SyncEngine(app.state.db, app.state.box, worker_id="tmc-test")
    created = control.post("/trades", json={"count": 2}).json()["trades"]
    tids = sorted(str(t["tid_str"]) for t in created)
    assert await engine.drain_channels({shop.id}) >= 2
    assert sorted(await statuses(app, shop)) == tids
    for state in ("pending", "in_flight"):
        assert control.get("/tmc/messages", params={"state": state}).json()["messages"] == []
    assert control.get("/tmc/messages", params={"state": "confirmed"}).json()["messages"]

    control.post("/tmc/chaos", json={"duplicate": 3}).raise_for_status()
    control.post(f"/trades/{tids[0]}/ship", json={}).raise_for_status()
    await engine.drain_channels({shop.id})
    await engine.drain_channels({shop.id})
    after = await statuses(app, shop)
    assert sorted(after) == tids, "duplicated messages never duplicate an order"
    assert after[tids[0]] == "shipped"
