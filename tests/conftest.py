"""Test infrastructure: a real database (SQLite file, or PostgreSQL when
SHOPBRIDGE_TEST_DATABASE_URL is set, in a database of its own per run) and the real app."""

from __future__ import annotations

import asyncio
import os
import secrets
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy.engine import make_url

from shopbridge.api.app import create_app
from shopbridge.config import Settings
from shopbridge.storage.crypto import generate_key
from tests.helpers import free_port, wait_ready

ADMIN_KEY = "sbk_test_bootstrap_admin_key_0123456789"
PG_ENV = "SHOPBRIDGE_TEST_DATABASE_URL"


def _asyncpg_dsn(url: str, database: str) -> str:
    parsed = make_url(url).set(drivername="postgresql", database=database)
    return parsed.render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One fresh database per test run, so parallel runs never collide."""
    base = os.environ.get(PG_ENV)
    if not base:
        path = tmp_path_factory.mktemp("db") / "shopbridge.db"
        yield f"sqlite+aiosqlite:///{path}"
        return
    import asyncio

    name = f"sbtest_{os.getpid()}_{secrets.token_hex(4)}"
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


@pytest.fixture(scope="session")
def settings(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(
        data_dir=tmp_path_factory.mktemp("data"),
        database_url=database_url,
        secret_key=generate_key(),
        admin_key=ADMIN_KEY,
        # Every test client is 127.0.0.1 and many tests send bad keys on purpose: the
        # brute-force limiter is tested with an app of its own (tests/privacy/).
        auth_failures_per_minute=1_000_000,
    )


@pytest.fixture(scope="session")
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings, migrate_on_start=True)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture(scope="session")
async def admin(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Client with the bootstrap key (operator + admin of the default tenant)."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://shopbridge.test",
        headers={"Authorization": f"Bearer {ADMIN_KEY}"},
    ) as client:
        yield client


@pytest.fixture
async def anon(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://shopbridge.test"
    ) as client:
        yield client


class TenantClient(httpx.AsyncClient):
    tenant_id: str
    key: str


@pytest.fixture
async def tenant(app: FastAPI, admin: httpx.AsyncClient) -> AsyncIterator[TenantClient]:
    """A fresh tenant per test, with a client holding its admin key: tests stay isolated."""
    resp = await admin.post("/v1/tenants", json={"name": f"t-{secrets.token_hex(3)}"})
    assert resp.status_code == 201, resp.text
    body = resp.json()
    client = TenantClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://shopbridge.test",
        headers={"Authorization": f"Bearer {body['admin_key']['key']}"},
    )
    client.tenant_id = body["id"]
    client.key = body["admin_key"]["key"]
    async with client:
        yield client


@pytest.fixture
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def live_server(settings: Settings) -> Iterator[str]:
    """The real app under uvicorn in a thread with its own event loop (as in production)."""
    port = free_port()
    # Long-polls are bounded to 1 s here: the API fuzzer asks for `wait=60` as readily as 0.
    fuzzable = settings.model_copy(update={"feed_max_wait_seconds": 1})
    config = uvicorn.Config(
        create_app(fuzzable, migrate_on_start=True),
        host="127.0.0.1",
        port=port,
        log_level="warning",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    if not wait_ready(base):
        pytest.fail("live server did not start")
    yield base
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
async def fresh_database_url(tmp_path: Path) -> AsyncIterator[str]:
    """An empty database of its own: a SQLite file, or a new PostgreSQL database when the
    suite runs on PostgreSQL (dropped afterwards)."""
    base = os.environ.get(PG_ENV)
    if not base:
        yield f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
        return
    name = f"sbfresh_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(_asyncpg_dsn(base, make_url(base).database or "postgres"))
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
