"""The operator's view end to end: the real app and database, the Shopify and Taobao
sandboxes over HTTP with faults injected through their control APIs, shops connected through
the API with the sandbox as their `base_url`."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from shopbridge.sandbox.common.runner import RunningServer, start_in_thread
from shopbridge.sandbox.shopify import ShopifySandboxOptions
from shopbridge.sandbox.shopify import create_app as shopify_app
from shopbridge.sandbox.taobao import app as taobao_app
from shopbridge.storage.tables import ShopRow
from shopbridge.sync.engine import SyncEngine, SyncSettings
from shopbridge.sync.synclog import SYNC_LOG
from tests.conftest import TenantClient

SHOPIFY_TOKEN = "shpat_operations_test_token"
SHOPIFY_SECRET = "operations-shopify-secret"
SHOPIFY_DOMAIN = "ops-shop.myshopify.com"
SHOPIFY_VERSION = "2026-07"
TAOBAO_KEY = "56789012"
TAOBAO_SECRET = "operations-taobao-secret"
TAOBAO_SESSION = "6100operations0session"


@pytest.fixture(scope="package")
def shopify_sandbox() -> Iterator[RunningServer]:
    server = start_in_thread(
        shopify_app(
            ShopifySandboxOptions(
                access_token=SHOPIFY_TOKEN,
                app_secret=SHOPIFY_SECRET,
                shop_domain=SHOPIFY_DOMAIN,
                seed=0,
                random_seed=11,
            )
        )
    )
    yield server
    server.stop()


@pytest.fixture(scope="package")
def taobao_sandbox() -> Iterator[RunningServer]:
    server = start_in_thread(
        taobao_app.create_app(
            taobao_app.Options(
                app_key=TAOBAO_KEY,
                app_secret=TAOBAO_SECRET,
                access_token=TAOBAO_SESSION,
                seed=0,
                random_seed=7,
            )
        )
    )
    yield server
    server.stop()


def _control(sandbox: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{sandbox.base_url}/_sandbox", timeout=30) as client:
        client.post("/reset", json={"seed": 0}).raise_for_status()
        client.delete("/faults").raise_for_status()
        yield client
        client.delete("/faults")


@pytest.fixture
def shopify(shopify_sandbox: RunningServer) -> Iterator[httpx.Client]:
    """The Shopify sandbox's control API, reset, no faults."""
    yield from _control(shopify_sandbox)


@pytest.fixture
def taobao(taobao_sandbox: RunningServer) -> Iterator[httpx.Client]:
    """The Taobao sandbox's control API, reset, no faults."""
    yield from _control(taobao_sandbox)


@dataclass
class Shop:
    """A shop of the test's tenant, connected to a sandbox."""

    id: str
    platform: str
    tenant: TenantClient
    control: httpx.Client
    base_url: str

    async def row(self, app: FastAPI) -> ShopRow:
        async with app.state.db.read() as session:
            row: ShopRow | None = await session.get(ShopRow, self.id)
        assert row is not None
        return row


async def connect(
    client: TenantClient,
    platform: str,
    base_url: str,
    control: httpx.Client,
    *,
    credentials: dict[str, str] | None = None,
) -> Shop:
    settings: dict[str, Any] = {"base_url": base_url, "backfill_days": 1, "page_size": 2}
    if platform == "shopify":
        body: dict[str, Any] = {
            "platform": "shopify",
            "platform_shop_id": SHOPIFY_DOMAIN,
            "display_name": "Ops Shopify",
            "credentials": credentials
            or {"access_token": SHOPIFY_TOKEN, "app_secret": SHOPIFY_SECRET},
            "settings": settings,
        }
    else:
        body = {
            "platform": "taobao",
            "platform_shop_id": f"22012{secrets.randbelow(10**8):08d}",
            "display_name": "Ops Taobao",
            "credentials": credentials
            or {"app_key": TAOBAO_KEY, "app_secret": TAOBAO_SECRET, "session": TAOBAO_SESSION},
            "settings": settings,
        }
    resp = await client.post("/v1/shops", json=body)
    assert resp.status_code == 201, resp.text
    return Shop(resp.json()["id"], platform, client, control, base_url)


@pytest.fixture
async def shopify_shop(
    tenant: TenantClient, shopify_sandbox: RunningServer, shopify: httpx.Client
) -> Shop:
    return await connect(tenant, "shopify", shopify_sandbox.base_url, shopify)


@pytest.fixture
async def taobao_shop(
    tenant: TenantClient, taobao_sandbox: RunningServer, taobao: httpx.Client
) -> Shop:
    return await connect(tenant, "taobao", taobao_sandbox.base_url, taobao)


@pytest.fixture
def engine(app: FastAPI) -> SyncEngine:
    return SyncEngine(app.state.db, app.state.box, settings=SyncSettings(), worker_id="ops-test")


async def sync_log(app: FastAPI, client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    """Everything recorded so far written out (the background writer would within a
    second), then `GET /v1/sync-log` with `params`."""
    await SYNC_LOG.flush(app.state.db)
    resp = await client.get("/v1/sync-log", params={"limit": 500, **params})
    assert resp.status_code == 200, resp.text
    data: list[dict[str, Any]] = resp.json()["data"]
    return data
