"""Kill -9 a `shopbridge worker` in the middle of a backfill, start another: every order ends
up stored exactly once, with exactly one `order.created` event each."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from shopbridge.sandbox.common.runner import RunningServer, start_in_thread
from shopbridge.sandbox.shopify import ShopifySandboxOptions, create_app
from shopbridge.storage.crypto import SecretBox, generate_key
from shopbridge.storage.db import Database
from shopbridge.storage.migrate import upgrade
from shopbridge.storage.shops import ShopRepository
from shopbridge.storage.tables import OrderRow, OutboxEventRow
from shopbridge.storage.tenants import ensure_default_tenant

TOKEN = "shpat_crash_test"
SECRET = "crash-test-secret"
ORDERS = 400


@pytest.fixture(scope="module")
def sandbox() -> Iterator[RunningServer]:
    server = start_in_thread(
        create_app(
            ShopifySandboxOptions(
                access_token=TOKEN, app_secret=SECRET, seed=ORDERS, seed_days=1, random_seed=13
            )
        )
    )
    yield server
    server.stop()


async def _count(db: Database) -> tuple[int, int, int]:
    async with db.read() as session:
        orders = await session.scalar(select(func.count()).select_from(OrderRow))
        distinct = await session.scalar(
            select(func.count(func.distinct(OrderRow.platform_order_id)))
        )
        events = await session.scalar(
            select(func.count())
            .select_from(OutboxEventRow)
            .where(OutboxEventRow.type == "order.created")
        )
    return int(orders or 0), int(distinct or 0), int(events or 0)


def _worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "shopbridge.cli", "worker"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def test_sigkill_mid_sync_loses_and_duplicates_nothing(
    tmp_path: Path, sandbox: RunningServer, fresh_database_url: str
) -> None:
    key = generate_key()
    url = fresh_database_url
    db = Database(url)
    await upgrade(db)
    async with db.transaction() as session:
        tenant = await ensure_default_tenant(session)
        await ShopRepository(
            session, tenant.id, SecretBox.from_config(key, tmp_path / "unused")
        ).connect(
            platform="shopify",
            platform_shop_id="demo-shop.myshopify.com",
            display_name="crash",
            credentials={"access_token": TOKEN, "app_secret": SECRET},
            settings={"base_url": sandbox.base_url, "page_size": 20, "backfill_days": 2},
        )
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOPBRIDGE_")}
    env.update(
        SHOPBRIDGE_DATABASE_URL=url,
        SHOPBRIDGE_SECRET_KEY=key,
        SHOPBRIDGE_DATA_DIR=str(tmp_path),
        SHOPBRIDGE_SYNC_LEASE_SECONDS="3",
    )
    try:
        first = _worker(env)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            stored, _, _ = await _count(db)
            if stored >= 40:
                break
            await asyncio.sleep(0.05)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        stored_at_kill, _, _ = await _count(db)
        assert 0 < stored_at_kill < ORDERS, "the kill must land mid-backfill"

        second = _worker(env)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and (await _count(db))[0] < ORDERS:
            await asyncio.sleep(0.2)
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=20)
        assert await _count(db) == (ORDERS, ORDERS, ORDERS)
    finally:
        await db.dispose()
