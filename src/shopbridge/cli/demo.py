"""`shopbridge serve --demo`: local platform sandboxes with demo shops and a live order stream,
connected to the default tenant, so a new user sees real orders flowing within a minute.

The demo is composition only: the sandboxes are the same ones the tests use, the shops are
connected through the same storage code as `POST /v1/shops`, orders arrive through the real
connectors, push receiver and sync engine.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from shopbridge.core.time import utcnow
from shopbridge.delivery.signing import generate_secret
from shopbridge.erpsink.app import create_app as create_sink
from shopbridge.erpsink.store import Store
from shopbridge.sandbox.common.runner import RunningServer, start_in_thread
from shopbridge.storage.crypto import SecretBox
from shopbridge.storage.db import Database
from shopbridge.storage.errors import Conflict
from shopbridge.storage.shops import ShopRepository
from shopbridge.storage.tables import ShopRow
from shopbridge.storage.tenants import DEFAULT_TENANT_ID, issue_key
from shopbridge.storage.webhooks import WebhookRepository
from shopbridge.sync.state import ensure_state

SHOPIFY_PORT = 8081
SHOPIFY_TOKEN = "shpat_demo_token"  # noqa: S105 - the local sandbox's demo token
SHOPIFY_SECRET = "demo-app-secret"  # noqa: S105 - the local sandbox's demo secret
SHOPIFY_DOMAIN = "demo-shop.myshopify.com"
TAOBAO_PORT = 8082
TAOBAO_APP_KEY = "12345678"
TAOBAO_SECRET = "demo-top-secret"  # noqa: S105 - the local sandbox's demo secret
TAOBAO_SESSION = "6100demo0session0key"
TAOBAO_SELLER_ID = "2201234567890"
DASHBOARD_SCOPES = ("shops:read", "orders:read", "webhooks:read", "stock:read", "events:read")
ERP_SINK_PORT = 8090
ERP_ENDPOINT_DESCRIPTION = "demo: the sample ERP receiver (shopbridge erp-sink)"


def _port(preferred: int) -> int:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", preferred))
        except OSError:
            sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Demo:
    api_base: str
    data_dir: Path = Path("data")
    orders_per_second: float = 0.3
    servers: list[RunningServer] = field(default_factory=list)
    dashboard_key: str | None = None
    erp_sink_url: str | None = None
    _erp_secret: str = field(default_factory=generate_secret)
    _erp_store: Store | None = None

    def start_erp_sink(self) -> str:
        """The sample ERP receiver, so the demo shows the whole path: platform → ShopBridge →
        signed webhook → ERP. Its store survives restarts like an ERP's would."""
        self._erp_store = Store(self.data_dir / "demo-erp-sink.db")
        sink = start_in_thread(
            create_sink([self._erp_secret], self._erp_store), port=_port(ERP_SINK_PORT)
        )
        self.servers.append(sink)
        self.erp_sink_url = sink.base_url
        return sink.base_url

    async def subscribe_erp_sink(self, db: Database, box: SecretBox) -> None:
        """One endpoint of the default tenant points at this run's sink (port and secret
        change between runs, so the previous run's demo endpoint is replaced)."""
        assert self.erp_sink_url is not None
        async with db.transaction() as session:
            repo = WebhookRepository(session, DEFAULT_TENANT_ID, box)
            for row in await repo.list(limit=500):
                if row.description == ERP_ENDPOINT_DESCRIPTION:
                    await repo.delete(row.id)
            await repo.create(
                url=f"{self.erp_sink_url}/webhooks",
                secret=self._erp_secret,
                description=ERP_ENDPOINT_DESCRIPTION,
            )

    def start_sandboxes(self) -> dict[str, str]:
        from shopbridge.sandbox.shopify import ShopifySandboxOptions, create_app

        shopify = start_in_thread(
            create_app(
                ShopifySandboxOptions(
                    access_token=SHOPIFY_TOKEN,
                    app_secret=SHOPIFY_SECRET,
                    shop_domain=SHOPIFY_DOMAIN,
                    seed=25,
                    seed_days=2,
                    orders_per_second=self.orders_per_second,
                )
            ),
            port=_port(SHOPIFY_PORT),
        )
        self.servers.append(shopify)
        from shopbridge.sandbox.taobao import app as taobao_app

        taobao = start_in_thread(
            taobao_app.create_app(
                taobao_app.Options(
                    app_key=TAOBAO_APP_KEY,
                    app_secret=TAOBAO_SECRET,
                    access_token=TAOBAO_SESSION,
                    seed=25,
                    seed_days=2,
                    orders_per_second=self.orders_per_second,
                )
            ),
            port=_port(TAOBAO_PORT),
        )
        self.servers.append(taobao)
        return {"shopify": shopify.base_url, "taobao": taobao.base_url}

    async def connect_shops(
        self, db: Database, box: SecretBox, urls: dict[str, str]
    ) -> list[ShopRow]:
        shops = [
            await self._shop(
                db,
                box,
                "shopify",
                SHOPIFY_DOMAIN,
                "Shopify demo shop",
                {"access_token": SHOPIFY_TOKEN, "app_secret": SHOPIFY_SECRET},
                {"base_url": urls["shopify"], "poll_interval_seconds": 15, "backfill_days": 2},
            )
        ]
        await self._register_shopify_webhooks(urls["shopify"], shops[0].id)
        shops.append(
            await self._shop(
                db,
                box,
                "taobao",
                TAOBAO_SELLER_ID,
                "淘宝演示店 (Taobao demo shop)",
                {"app_key": TAOBAO_APP_KEY, "app_secret": TAOBAO_SECRET, "session": TAOBAO_SESSION},
                # Kept current by its TMC channel (every 2 s) plus incremental pull.
                {"base_url": urls["taobao"], "poll_interval_seconds": 30, "backfill_days": 2},
            )
        )
        async with db.transaction() as session:
            issued = await issue_key(
                session,
                DEFAULT_TENANT_ID,
                name=f"demo dashboard {utcnow():%Y-%m-%d %H:%M}",
                scopes=DASHBOARD_SCOPES,
            )
        self.dashboard_key = issued.token
        return shops

    async def _shop(
        self,
        db: Database,
        box: SecretBox,
        platform: str,
        platform_shop_id: str,
        name: str,
        credentials: dict[str, Any],
        settings: dict[str, Any],
    ) -> ShopRow:
        async with db.transaction() as session:
            repo = ShopRepository(session, DEFAULT_TENANT_ID, box)
            try:
                row, _ = await repo.connect(
                    platform=platform,
                    platform_shop_id=platform_shop_id,
                    display_name=name,
                    credentials=credentials,
                    settings=settings,
                )
            except Conflict:
                [row] = [
                    r
                    for r in await repo.list(platform=platform, limit=500)
                    if r.platform_shop_id == platform_shop_id
                ]
                # Sandbox ports can change between runs: point the shop at this run's sandbox.
                row = await repo.update(
                    row.id, settings=settings, credentials=credentials, status="active"
                )
            state = await ensure_state(session, row)
            state.state = "idle"
            state.paused_reason = None
            state.next_run_at = utcnow()
        return row

    async def _register_shopify_webhooks(self, sandbox_url: str, shop_id: str) -> None:
        address = f"{self.api_base}/v1/push/shopify/{shop_id}"
        async with httpx.AsyncClient(
            base_url=f"{sandbox_url}/admin/api/2026-10",
            headers={"X-Shopify-Access-Token": SHOPIFY_TOKEN},
        ) as client:
            for topic in (
                "orders/create",
                "orders/updated",
                "orders/paid",
                "orders/fulfilled",
                "orders/cancelled",
            ):
                await client.post(
                    "/webhooks.json",
                    json={"webhook": {"topic": topic, "address": address, "format": "json"}},
                )

    def stop(self) -> None:
        for server in self.servers:
            server.stop()
        if self._erp_store is not None:
            self._erp_store.close()
