"""Real things for the dashboard's browser test: the app under uvicorn with sync, stock pushes
and webhook delivery running in-process, on a database of its own; two Shopify sandboxes;
a webhook receiver whose answers the test switches; and Debian's Chromium driven by
Playwright.

Chromium is the system package (`/usr/bin/chromium`, installed by `.ci/run`); Playwright's
own browser download is never used. Without it the browser tests skip with the reason, except
under CI (`CI=true`, or `SHOPBRIDGE_REQUIRE_BROWSER=1` as `.ci/run` sets), where a missing
browser is a broken machine and fails the run.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import uvicorn
from sqlalchemy.engine import make_url
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from shopbridge.api.app import create_app
from shopbridge.config import Settings
from shopbridge.sandbox.common.runner import RunningServer, start_in_thread
from shopbridge.sandbox.shopify import ShopifySandboxOptions
from shopbridge.sandbox.shopify import create_app as shopify_app
from shopbridge.storage.crypto import generate_key
from tests.conftest import PG_ENV, _asyncpg_dsn
from tests.helpers import free_port, wait_ready

ADMIN_KEY = "sbk_dashboard_test_admin_key_0123456789ab"
CHROMIUM_ENV = "SHOPBRIDGE_CHROMIUM"
DEFAULT_CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    # Root in a container: Chromium's own sandbox needs user namespaces it may not get.
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    # The machine's network is closed: no update checks, sync or Google lookups at start.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]


REQUIRE_ENV = "SHOPBRIDGE_REQUIRE_BROWSER"


def _unavailable(reason: str) -> None:
    """Skip, unless this is CI: `CI=true` (as CI services set it) or
    `SHOPBRIDGE_REQUIRE_BROWSER=1` (what `.ci/run` sets; it does not export `CI` itself,
    which would also switch other tools, Hypothesis for one, to their CI profiles)."""
    if os.environ.get("CI", "").lower() == "true" or os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{reason} (browser tests are required here; .ci/run installs Chromium)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def chromium() -> str:
    """Path of the system Chromium, or skip (fail under CI=true) saying what is missing."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _unavailable("playwright is not installed (it is in the dev extras: make setup)")
    path = os.environ.get(CHROMIUM_ENV) or DEFAULT_CHROMIUM
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        found = shutil.which("chromium")
        if found is None:
            _unavailable(
                f"no Chromium at {path}: install Debian's package (apt-get install chromium) "
                f"or point {CHROMIUM_ENV} at one"
            )
        else:
            path = found
    return path


@dataclass
class Receiver:
    """A webhook receiver that answers 500 while `failing`, 200 afterwards."""

    server: RunningServer
    failing: bool = True
    received: list[dict[str, Any]] = field(default_factory=list)
    refused: int = 0

    @property
    def url(self) -> str:
        return f"{self.server.base_url}/erp/shopbridge"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    holder: list[Receiver] = []

    async def hook(request: Request) -> JSONResponse:
        state = holder[0]
        event = await request.json()
        if state.failing:
            state.refused += 1
            return JSONResponse(
                {"error": "ERP maintenance window: order import paused"}, status_code=500
            )
        state.received.append(event)
        return JSONResponse({"ok": True})

    server = start_in_thread(Starlette(routes=[Route("/erp/shopbridge", hook, methods=["POST"])]))
    holder.append(Receiver(server))
    yield holder[0]
    server.stop()


@dataclass(frozen=True)
class Sandbox:
    server: RunningServer
    domain: str
    token: str
    secret: str

    @property
    def base_url(self) -> str:
        return self.server.base_url


def _sandbox(name: str, random_seed: int) -> Sandbox:
    domain = f"{name}.myshopify.com"
    token = f"shpat_dashboard_{name}"
    secret = f"dashboard-{name}-secret"
    server = start_in_thread(
        shopify_app(
            ShopifySandboxOptions(
                access_token=token,
                app_secret=secret,
                shop_domain=domain,
                shop_name=name.title(),
                seed=6,
                seed_days=1,
                random_seed=random_seed,
            )
        )
    )
    return Sandbox(server, domain, token, secret)


@pytest.fixture
def sandboxes() -> Iterator[tuple[Sandbox, Sandbox]]:
    """Two shops' platforms: the first stays healthy, the second is made to fail."""
    pair = (_sandbox("flagship", 21), _sandbox("outlet", 22))
    yield pair
    for sandbox in pair:
        sandbox.server.stop()


@pytest.fixture
def dashboard_database_url(tmp_path: Path) -> Iterator[str]:
    """A database of its own: the in-process sync worker syncs every shop it finds, and must
    not touch the other tests' shops in the session database."""
    base = os.environ.get(PG_ENV)
    if not base:
        yield f"sqlite+aiosqlite:///{tmp_path / 'dashboard.db'}"
        return
    name = f"sbdash_{secrets.token_hex(4)}"
    admin_dsn = _asyncpg_dsn(base, make_url(base).database or "postgres")

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(admin_dsn)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def dashboard_server(dashboard_database_url: str, tmp_path: Path) -> Iterator[str]:
    """The real app under uvicorn in a thread, sync and delivery in-process (as `shopbridge
    serve` runs it), tuned so the scenario takes seconds: quick polls, and a webhook retry
    schedule that dead-letters after three attempts."""
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=dashboard_database_url,
        secret_key=generate_key(),
        admin_key=ADMIN_KEY,
        auth_failures_per_minute=1000,
        sync_poll_interval_seconds=5,
        webhook_retry_schedule="0.2s,0.2s",
        webhook_timeout_seconds=2,
        delivery_poll_interval_seconds=0.1,
    )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, migrate_on_start=True, run_sync=True),
            host="127.0.0.1",
            port=port,
            log_level="warning",
        )
    )
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    if not wait_ready(base):
        pytest.fail("the dashboard's app did not start")
    yield base
    server.should_exit = True
    thread.join(timeout=15)
