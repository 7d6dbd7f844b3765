"""Fixtures: a real Shopify sandbox on a free loopback port, a webhook receiver, the SDK.

One uvicorn server (background thread) serves the whole module set; every test starts
from a fresh shop (``POST /_sandbox/reset``) and an empty receiver.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
import shopify

from shopbridge.sandbox.common.runner import RunningServer, start_in_thread
from shopbridge.sandbox.shopify import ShopifySandboxOptions, create_app

# urllib (used by the SDK) honours proxy variables; loopback must never go through one.
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"

TOKEN = "shpat_test_token_0001"
SECRET = "test-app-secret"
SHOP = "bridge-test.myshopify.com"
VERSION = "2026-10"
SEED = 130
RANDOM_SEED = 7


# ---------------------------------------------------------------------------------------
# webhook receiver


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int
    at: float

    @property
    def topic(self) -> str:
        return self.headers.get("x-shopify-topic", "")


@dataclass
class _Action:
    status: int
    delay: float
    topic: str | None


@dataclass
class Receiver:
    """A tiny HTTP server that records every POST and answers as scripted."""

    url: str = ""
    requests: list[Received] = field(default_factory=list)
    _script: deque[_Action] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def respond(
        self, status: int, *, times: int = 1, delay: float = 0.0, topic: str | None = None
    ) -> None:
        """Answer the next ``times`` matching requests with ``status`` after ``delay`` s."""
        with self._lock:
            for _ in range(times):
                self._script.append(_Action(status, delay, topic))

    def _next(self, topic: str) -> _Action:
        with self._lock:
            for action in self._script:
                if action.topic is None or action.topic == topic:
                    self._script.remove(action)
                    return action
        return _Action(200, 0.0, None)

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()
            self._script.clear()

    def received(self, topic: str | None = None) -> list[Received]:
        with self._lock:
            return [r for r in self.requests if topic is None or r.topic == topic]

    def wait_for(
        self, predicate: Callable[[list[Received]], bool], timeout: float = 8.0
    ) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            snapshot = self.received()
            if predicate(snapshot):
                return snapshot
            time.sleep(0.02)
        raise AssertionError(
            f"receiver condition not met in {timeout}s; got {[r.topic for r in self.received()]}"
        )


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            headers = {k.lower(): v for k, v in self.headers.items()}
            action = receiver._next(headers.get("x-shopify-topic", ""))
            with receiver._lock:
                receiver.requests.append(
                    Received(self.path, headers, body, action.status, time.monotonic())
                )
            if action.delay:
                time.sleep(action.delay)
            try:
                self.send_response(action.status)
                self.send_header("Content-Length", "0")
                self.end_headers()
            except (BrokenPipeError, ConnectionResetError):
                pass

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


@pytest.fixture(scope="session")
def receiver() -> Iterator[Receiver]:
    recv = Receiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(recv))
    server.daemon_threads = True
    recv.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, name="webhook-receiver", daemon=True)
    thread.start()
    yield recv
    server.shutdown()
    server.server_close()


# ---------------------------------------------------------------------------------------
# sandbox


@pytest.fixture(scope="session")
def sandbox_server(receiver: Receiver) -> Iterator[RunningServer]:
    options = ShopifySandboxOptions(
        app_key="test-app-key",
        app_secret=SECRET,
        access_token=TOKEN,
        shop_domain=SHOP,
        seed=SEED,
        random_seed=RANDOM_SEED,
        push_url=f"{receiver.url}/push",
        webhook_timeout_seconds=1.0,
        webhook_backoff_seconds=0.05,
        webhook_max_attempts=4,
    )
    server = start_in_thread(create_app(options))
    yield server
    server.stop()


@dataclass
class Sandbox:
    """Handles for one test: raw Admin API client, control client, receiver."""

    base_url: str
    api: httpx.Client
    control: httpx.Client
    receiver: Receiver

    def admin(self, path: str, version: str = VERSION) -> str:
        return f"/admin/api/{version}/{path}"

    def create_order(self, **body: Any) -> dict[str, Any]:
        response = self.control.post("/_sandbox/orders", json=body)
        assert response.status_code == 201, response.text
        order: dict[str, Any] = response.json()["orders"][0]
        return order

    def pushes(self, **params: Any) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.control.get("/_sandbox/pushes", params=params).json()[
            "pushes"
        ]
        return result

    def wait_pushes(self) -> None:
        assert self.control.post("/_sandbox/pushes/wait", params={"within": 10}).json()["idle"]


@pytest.fixture
def sandbox(sandbox_server: RunningServer, receiver: Receiver) -> Iterator[Sandbox]:
    base = sandbox_server.base_url
    with (
        httpx.Client(
            base_url=base, headers={"X-Shopify-Access-Token": TOKEN}, timeout=10, trust_env=False
        ) as api,
        httpx.Client(base_url=base, timeout=30, trust_env=False) as control,
    ):
        assert control.post("/_sandbox/reset").status_code == 200
        receiver.clear()
        yield Sandbox(base, api, control, receiver)


@pytest.fixture
def sdk(sandbox: Sandbox) -> Iterator[Sandbox]:
    """The official SDK, activated for the sandbox shop.

    A normal ``shopify.Session`` supplies token and version; only the site is replaced
    by the sandbox URL (``ShopifyResource.site`` is a public, settable SDK attribute).
    """
    session = shopify.Session(SHOP, VERSION, TOKEN)
    shopify.ShopifyResource.activate_session(session)
    shopify.ShopifyResource.site = f"{sandbox.base_url}/admin/api/{VERSION}"
    try:
        yield sandbox
    finally:
        shopify.ShopifyResource.clear_session()
        shopify.ShopifyResource.timeout = None
