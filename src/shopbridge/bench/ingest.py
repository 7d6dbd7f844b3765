"""`bench ingest`: orders per second through the real path — platform sandbox over HTTP →
connector (signing, paging, mapping) → sync engine → database (upsert + outbox event) — and,
from the same run, the bare mapping baseline (the connector's pure mapping over the same
native payloads, no I/O), so the cost of each layer is visible."""

from __future__ import annotations

import platform as host_platform
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from shopbridge import __version__
from shopbridge.connectors import ShopContext
from shopbridge.connectors.registry import connector_class
from shopbridge.sandbox.common.runner import start_in_thread
from shopbridge.storage.crypto import SecretBox, generate_key
from shopbridge.storage.db import Database
from shopbridge.storage.migrate import upgrade
from shopbridge.storage.shops import ShopRepository
from shopbridge.storage.tables import OrderRow
from shopbridge.storage.tenants import create_tenant
from shopbridge.storage.vault import attach_vault
from shopbridge.sync.engine import SyncEngine, SyncSettings

TOKEN = "shpat_bench_token"  # noqa: S105 - the local sandbox's token
SECRET = "bench-app-secret"  # noqa: S105 - the local sandbox's secret
SHOP = "bench-shop.myshopify.com"
TOP_APP_KEY = "45678901"
TOP_SESSION = "6100bench0session"
TOP_SELLER = "2201234567890"


@dataclass(frozen=True)
class BenchTarget:
    """One platform's sandbox and how a shop connects to it."""

    platform_shop_id: str
    credentials: dict[str, str]
    make_app: Callable[[int], Any]


def _shopify_sandbox(orders: int) -> Any:
    from shopbridge.sandbox.shopify import ShopifySandboxOptions, create_app

    options = ShopifySandboxOptions(
        access_token=TOKEN,
        app_secret=SECRET,
        shop_domain=SHOP,
        seed=orders,
        seed_days=1,
        random_seed=42,
    )
    return create_app(options)


def _taobao_sandbox(orders: int) -> Any:
    from shopbridge.sandbox.taobao import app as taobao_app

    options = taobao_app.Options(
        app_key=TOP_APP_KEY,
        app_secret=SECRET,
        access_token=TOP_SESSION,
        seed=orders,
        seed_days=1,
        random_seed=42,
        call_limit=0,
    )
    return taobao_app.create_app(options)


SANDBOXES = {
    "shopify": BenchTarget(SHOP, {"access_token": TOKEN, "app_secret": SECRET}, _shopify_sandbox),
    "taobao": BenchTarget(
        TOP_SELLER,
        {"app_key": TOP_APP_KEY, "app_secret": SECRET, "session": TOP_SESSION},
        _taobao_sandbox,
    ),
}


async def run_ingest(platform: str, orders: int, database_url: str | None = None) -> dict[str, Any]:
    if platform not in SANDBOXES:
        raise ValueError(f"no ingest benchmark for {platform!r}; available: {', '.join(SANDBOXES)}")
    target = SANDBOXES[platform]
    server = start_in_thread(target.make_app(orders))
    workdir = tempfile.TemporaryDirectory(prefix="shopbridge-bench-")
    url = database_url or f"sqlite+aiosqlite:///{Path(workdir.name) / 'bench.db'}"
    db = Database(url)
    box = SecretBox.from_config(generate_key(), Path(workdir.name) / "unused.key")
    try:
        await upgrade(db)
        vault = await attach_vault(db, box)
        async with db.transaction() as session:
            tenant = await create_tenant(session, "bench")
            shop, _ = await ShopRepository(session, tenant.id, box).connect(
                platform=platform,
                platform_shop_id=target.platform_shop_id,
                display_name="bench",
                credentials=target.credentials,
                settings={"base_url": server.base_url, "backfill_days": 2},
            )
        engine = SyncEngine(db, box, settings=SyncSettings(), worker_id="bench")
        started = time.perf_counter()
        result = await engine.sync_shop(shop)
        elapsed = time.perf_counter() - started
        if result.error:
            raise RuntimeError(f"ingest failed: {result.error}")

        async with db.read() as session:
            sealed = list(
                await session.execute(
                    select(OrderRow.tenant_id, OrderRow.raw).where(OrderRow.shop_id == shop.id)
                )
            )
        raws = [vault.open_raw(tenant_id, raw) for tenant_id, raw in sealed]
        connector = connector_class(platform)(
            ShopContext(
                shop_id=shop.id,
                platform_shop_id=target.platform_shop_id,
                credentials={},
                base_url=server.base_url,
            )
        )
        parse_started = time.perf_counter()
        for raw in raws:
            connector.map_order(raw)
        parse_elapsed = time.perf_counter() - parse_started
        await connector.aclose()
        ingested = result.created + result.updated + result.unchanged
        return {
            "scenario": "ingest",
            "platform": platform,
            "orders_requested": orders,
            "orders_ingested": ingested,
            "pages": result.pages,
            "unmapped": result.unmapped,
            "seconds": round(elapsed, 3),
            "orders_per_second": round(ingested / elapsed, 1) if elapsed else None,
            "baseline_parse_orders_per_second": round(len(raws) / parse_elapsed, 1)
            if parse_elapsed
            else None,
            "database": db.dialect,
            "shopbridge": __version__,
            "python": host_platform.python_version(),
            "machine": host_platform.machine(),
            "note": "real HTTP to a local sandbox, platform rate limit paced as declared by the connector",
        }
    finally:
        await db.dispose()
        server.stop()
        workdir.cleanup()
