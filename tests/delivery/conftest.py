"""A real HTTP receiver whose behaviour each test scripts, and a tenant with a shop whose
orders produce events: the dispatcher is exercised over real sockets and a real database."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shopbridge.core import Order
from shopbridge.delivery.dispatcher import DeliverySettings, Dispatcher
from shopbridge.delivery.http import WebhookClient
from shopbridge.delivery.schedule import RetrySchedule
from shopbridge.storage.db import Database
from shopbridge.storage.orders import OrderRepository, UpsertResult
from shopbridge.storage.tables import ShopRow
from tests.conftest import TenantClient
from tests.helpers import free_port

Plan = Callable[[dict[str, Any], int], tuple[int, dict[str, str], float]]


@dataclass
class Hit:
    name: str
    headers: dict[str, str]
    body: bytes
    at: float
    status: int = 200

    @property
    def event(self) -> dict[str, Any]:
        import json

        data: dict[str, Any] = json.loads(self.body)
        return data


@dataclass
class Receiver:
    base_url: str
    hits: list[Hit] = field(default_factory=list)
    plans: dict[str, Plan] = field(default_factory=dict)
    calls: dict[tuple[str, str], int] = field(default_factory=dict)

    def url(self, name: str) -> str:
        return f"{self.base_url}/hook/{name}"

    def of(self, name: str) -> list[Hit]:
        return [h for h in self.hits if h.name == name]

    async def handle(self, request: Request) -> Response:
        import json

        name = request.path_params["name"]
        body = await request.body()
        event = json.loads(body)
        key = (name, event["id"])
        self.calls[key] = self.calls.get(key, 0) + 1
        plan = self.plans.get(name)
        status, headers, delay = plan(event, self.calls[key]) if plan else (200, {}, 0.0)
        if delay:
            await asyncio.sleep(delay)
        self.hits.append(Hit(name, dict(request.headers), body, time.monotonic(), status))
        return Response(b'{"ok":true}', status_code=status, headers=headers)


@pytest.fixture(scope="session")
def receiver_server() -> Iterator[Receiver]:
    receiver = Receiver(base_url="")
    app = Starlette(routes=[Route("/hook/{name}", receiver.handle, methods=["POST"])])
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    receiver.base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield receiver
    server.should_exit = True
    thread.join(timeout=5)


@pytest.fixture
def receiver(receiver_server: Receiver) -> Receiver:
    receiver_server.hits.clear()
    receiver_server.plans.clear()
    receiver_server.calls.clear()
    return receiver_server


@dataclass
class Shop:
    """A tenant with one connected shop, its API client, and a way to write orders."""

    client: TenantClient
    row: ShopRow
    db: Database

    @property
    def tenant_id(self) -> str:
        return self.client.tenant_id

    async def upsert(self, order: Order) -> UpsertResult:
        async with self.db.transaction() as session:
            return await OrderRepository(session, self.tenant_id).upsert(self.row, order)

    async def endpoint(self, url: str, **extra: Any) -> dict[str, Any]:
        resp = await self.client.post("/v1/webhook-endpoints", json={"url": url, **extra})
        assert resp.status_code == 201, resp.text
        body: dict[str, Any] = resp.json()
        return body


@pytest.fixture
async def shop(tenant: TenantClient, app: FastAPI) -> Shop:
    resp = await tenant.post(
        "/v1/shops",
        json={
            "platform": "taobao",
            "platform_shop_id": "2201234567890",
            "display_name": "TB",
            "credentials": {"session": "s"},
            "settings": {},
        },
    )
    assert resp.status_code == 201, resp.text
    db: Database = app.state.db
    async with db.read() as session:
        row = await session.get(ShopRow, resp.json()["id"])
    assert row is not None
    return Shop(tenant, row, db)


def fast_settings(**overrides: Any) -> DeliverySettings:
    values: dict[str, Any] = {
        "schedule": RetrySchedule.parse("0.05s,0.05s,0.05s"),
        "timeout": 2.0,
        "poll_interval": 0.02,
        "lease_seconds": 5.0,
    }
    values.update(overrides)
    return DeliverySettings(**values)


@pytest.fixture
async def dispatcher_for(app: FastAPI) -> AsyncIterator[Callable[..., Dispatcher]]:
    made: list[Dispatcher] = []

    def make(shop: Shop, **overrides: Any) -> Dispatcher:
        d = Dispatcher(
            app.state.db,
            app.state.box,
            fast_settings(**overrides),
            client=WebhookClient(),
            tenant_ids=frozenset({shop.tenant_id}),
        )
        made.append(d)
        return d

    yield make
    for d in made:
        if d.client is not None:
            await d.client.aclose()
