"""Issue 9's retention check, end to end over real processes: orders whose buyer fields hold
unique marker strings come from the Shopify sandbox, a `shopbridge worker` (sync + delivery)
ingests them and delivers their events to two sample ERP sinks (one endpoint allowed to
receive buyer data, one not), then every byte ShopBridge stored is scanned.

* `vault` (default): the markers reach the allowed sink in clear and the other one masked;
  on disk (every SQLite file, WAL included, or every PostgreSQL row) they appear nowhere:
  only ciphertext.
* `passthrough`: the same deliveries, and the markers appear nowhere on disk either, because
  personal fields and native payloads were never written (not even encrypted).
* Either way the worker's log (DEBUG level) never contains one.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from shopbridge.sandbox.common.runner import RunningServer, start_in_thread
from shopbridge.sandbox.shopify import ShopifySandboxOptions, create_app
from shopbridge.storage.crypto import SecretBox, generate_key
from shopbridge.storage.db import Database
from shopbridge.storage.migrate import upgrade
from shopbridge.storage.shops import ShopRepository
from shopbridge.storage.tables import Base
from shopbridge.storage.tenants import ensure_default_tenant
from shopbridge.storage.webhooks import WebhookRepository
from tests.conftest import PG_ENV
from tests.delivery.chaos_support import (
    Sink,
    WorkerSlot,
    new_webhook_secret,
    progress,
    tail,
    worker_env,
)

TOKEN = "shpat_retention_test"
APP_SECRET = "retention-test-app-secret"
ORDERS = 4
SETTINGS = {
    "SHOPBRIDGE_SYNC_POLL_INTERVAL_SECONDS": "1",
    "SHOPBRIDGE_DELIVERY_POLL_INTERVAL_SECONDS": "0.05",
    "SHOPBRIDGE_LOG_LEVEL": "DEBUG",
    "SHOPBRIDGE_LOG_FORMAT": "json",
}


@pytest.fixture
def sandbox() -> Iterator[RunningServer]:
    server = start_in_thread(
        create_app(
            ShopifySandboxOptions(
                access_token=TOKEN,
                app_secret=APP_SECRET,
                seed=0,
                orders_per_second=0,
                rate_limit_bucket_size=400,
                rate_limit_leak_per_second=20,
            )
        )
    )
    yield server
    server.stop()


def buyer(mark: str, index: int) -> dict[str, str]:
    return {
        "first_name": f"{mark}first{index}",
        "last_name": f"{mark}last{index}",
        "email": f"{mark}.mail{index}@example.com",
        "phone": f"+1 555 01{index:02d} 4{index}71",
        "address1": f"{index} {mark} Road",
        "address2": f"Flat {mark}{index}",
        "city": "Springfield",
    }


def markers(mark: str) -> list[bytes]:
    """What must never be on disk: the marker (in every name, e-mail and address line) and
    each phone's digits, in the forms a serializer could write them."""
    found = [mark.encode(), mark.lower().encode()]
    for i in range(ORDERS):
        digits = f"155501{i:02d}4{i}71"
        found += [digits.encode(), f"555 01{i:02d} 4{i}71".encode(), digits[1:].encode()]
    return found


async def stored_bytes(db: Database, database_url: str) -> bytes:
    """Everything ShopBridge has on disk: the SQLite files byte for byte (WAL and shared
    memory included), or every row of every table on PostgreSQL."""
    if not os.environ.get(PG_ENV):
        path = Path(database_url.split("///", 1)[1])
        files = [p for p in path.parent.iterdir() if p.name.startswith(path.name)]
        assert files, "no database file found"
        return b"".join(p.read_bytes() for p in files)
    chunks = []
    async with db.read() as session:
        for table in Base.metadata.sorted_tables:
            rows = await session.execute(text(f'SELECT t::text FROM "{table.name}" t'))
            chunks.extend(r[0].encode() for r in rows)
    return b"\n".join(chunks)


def body_text(event: dict[str, object]) -> str:
    return json.dumps(event["body"], ensure_ascii=False)


@pytest.mark.timeout(180)
@pytest.mark.parametrize("retention", ["vault", "passthrough"])
async def test_buyer_data_on_disk_and_in_logs(
    retention: str, tmp_path: Path, sandbox: RunningServer, fresh_database_url: str
) -> None:
    mark = "Zq" + secrets.token_hex(5)
    key = generate_key()
    db = Database(fresh_database_url)
    await upgrade(db)
    env = worker_env(
        database_url=fresh_database_url,
        secret_key=key,
        data_dir=tmp_path,
        overrides={**SETTINGS, "SHOPBRIDGE_RETENTION": retention},
    )
    sinks_dir = tmp_path / "erp"
    (sinks_dir / "a").mkdir(parents=True)
    (sinks_dir / "b").mkdir(parents=True)
    secret_a, secret_b = new_webhook_secret(), new_webhook_secret()
    allowed = await Sink.start(sinks_dir / "a", secret_a, env)
    masked = await Sink.start(sinks_dir / "b", secret_b, env)
    box = SecretBox.from_config(key, tmp_path / "unused.key")
    async with db.transaction() as session:
        tenant = await ensure_default_tenant(session)
        shop, _ = await ShopRepository(session, tenant.id, box).connect(
            platform="shopify",
            platform_shop_id="demo-shop.myshopify.com",
            display_name="retention",
            credentials={"access_token": TOKEN, "app_secret": APP_SECRET},
            settings={"base_url": sandbox.base_url, "poll_interval_seconds": 1},
        )
        hooks = WebhookRepository(session, tenant.id, box)
        await hooks.create(url=allowed.webhook_url, secret=secret_a, pii_allowed=True)
        await hooks.create(url=masked.webhook_url, secret=secret_b)
    async with httpx.AsyncClient(base_url=sandbox.base_url) as control:
        for index in range(ORDERS):
            resp = await control.post(
                "/_sandbox/orders", json={"buyer": buyer(mark, index), "payment": "paid"}
            )
            assert resp.status_code == 201, resp.text
    worker = WorkerSlot("worker", env, tmp_path / "worker.log")
    try:
        worker.start()
        await worker.wait_ready()
        deadline = time.monotonic() + 60
        while True:
            state = await progress(db, tenant.id, shop.id)
            got_a, got_b = (await allowed.stats())["distinct"], (await masked.stats())["distinct"]
            if (
                state.orders == ORDERS
                and state.unsequenced == 0
                and state.pending == 0
                and got_a == got_b == state.events
            ):
                break
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"not delivered in 60 s: {state.describe()} sinks={got_a},{got_b}\n"
                    f"{tail(worker.log)}"
                )
            await asyncio.sleep(0.2)
        worker.terminate()
        events_a = await allowed.events()
        events_b = await masked.events()
    finally:
        worker.terminate()
        allowed.stop()
        masked.stop()

    # The ERP allowed to receive buyer data got it in clear (pass-through: from memory)...
    created_a = [e for e in events_a if e["type"] == "order.created"]
    assert len(created_a) == ORDERS
    for event in created_a:
        order = event["body"]["data"]["order"]
        assert order["receiver"]["name"].startswith(mark) or order["buyer"]["name"].startswith(
            mark
        ), body_text(event)
        if retention == "passthrough":
            assert event["body"]["data"]["buyer_data"] == "in_memory"
    # ...the other one only masked values.
    for event in events_b:
        assert mark not in body_text(event)
        assert mark.lower() not in body_text(event).lower()

    on_disk = await stored_bytes(db, fresh_database_url)
    await db.dispose()
    # The scan sees stored order content (the city is not personal data: it is kept).
    assert b"Springfield" in on_disk
    for marker in markers(mark):
        assert marker not in on_disk, f"{marker!r} found on disk in {retention} mode"
    if retention == "vault":
        assert b"sbv1:" in on_disk, "expected sealed buyer data in vault mode"
    else:
        assert b"sbv1:" not in on_disk, "pass-through must not store buyer data, even sealed"

    log = worker.log.read_bytes()
    assert b"order" in log or b"sync" in log, "the worker logged nothing; the check is void"
    for marker in markers(mark):
        assert marker not in log, f"{marker!r} found in the worker's log"
