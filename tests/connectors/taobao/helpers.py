"""Shared test helpers: TOP-shaped trade payloads written from the public docs, and a
connector wired to a local `httpx.MockTransport` (no network, no sandbox)."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx

from shopbridge.connectors import ShopContext
from shopbridge.connectors.taobao import TaobaoConnector

PAYLOADS = Path(__file__).parent / "payloads"

TRADE_FIXTURES = (
    "awaiting_shipment_multi",
    "partially_shipped",
    "shipped",
    "finished",
    "closed_refunded",
    "closed_by_taobao",
    "presale_deposit_paid",
    "presale_balance_paid",
    "paid_forbid_consign",
    "tmall_invoice",
    "big_ids_plain",
)

BUYER_STRINGS = (
    "李雷",
    "lilei_1985",
    "lilei@example.cn",
    "13912345678",
    "0571-88157858",
    "网商路699号",
    "310052",
    "王**",
    "*******8821",
    "文**路**号****",
    "t**9",
)
"""Personal data in the fixtures; none of it may ever appear in an error message or in
`extensions`."""

SHOP_ID = "shop_tb"
APP_KEY = "12345678"
APP_SECRET = "helloworld"
SESSION = "6100e2f0c0ffee7a5eb1ee7abc0d3e5f6a7b8c9d0e1f2a3b4c"
SELLER_USER_ID = "2200001234567"
GATEWAY = "https://eco.taobao.com/router/rest"
FIXED_NOW = datetime(2026, 12, 3, 1, 2, 3, tzinfo=UTC)
"""2026-12-03 09:02:03 in Asia/Shanghai."""


@cache
def _read(name: str) -> str:
    return (PAYLOADS / f"{name}.json").read_text()


def load(name: str) -> dict[str, Any]:
    """A fresh copy of a payload (tests may mutate it)."""
    data: dict[str, Any] = json.loads(_read(name))
    return copy.deepcopy(data)


def shop(
    *,
    credentials: dict[str, Any] | None = None,
    base_url: str | None = None,
    platform_shop_id: str = SELLER_USER_ID,
    **settings: Any,
) -> ShopContext:
    return ShopContext(
        shop_id=SHOP_ID,
        platform_shop_id=platform_shop_id,
        credentials=credentials
        if credentials is not None
        else {"app_key": APP_KEY, "app_secret": APP_SECRET, "session": SESSION},
        settings=settings,
        base_url=base_url,
    )


Handler = Callable[[httpx.Request], httpx.Response]


def form(request: httpx.Request) -> dict[str, str]:
    """The parameters of a TOP call (form body merged with any query string)."""
    params = dict(parse_qsl(request.url.query.decode(), keep_blank_values=True))
    params.update(parse_qsl(request.content.decode(), keep_blank_values=True))
    return params


def connector(
    handler: Handler, **kwargs: Any
) -> tuple[TaobaoConnector, list[httpx.Request], httpx.AsyncClient]:
    """A connector whose HTTP goes to `handler`, with a fixed clock; returns it with the list
    of requests sent."""
    sent: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return handler(request)

    client = httpx.AsyncClient(transport=httpx.MockTransport(record))
    conn = TaobaoConnector(shop(**kwargs), client=client)
    conn.api.clock = lambda: FIXED_NOW
    return conn, sent, client


def root(method: str) -> str:
    return method.removeprefix("taobao.").replace(".", "_") + "_response"


def ok(method: str, body: dict[str, Any]) -> httpx.Response:
    """A TOP success answer (default, non-simplified JSON)."""
    return httpx.Response(200, json={root(method): {**body, "request_id": "req-test-1"}})


def top_error(
    code: int, msg: str, sub_code: str | None = None, sub_msg: str | None = None
) -> httpx.Response:
    """A TOP error answer: HTTP 200 with `error_response`."""
    error: dict[str, Any] = {"code": code, "msg": msg, "request_id": "req-test-err"}
    if sub_code is not None:
        error["sub_code"] = sub_code
    if sub_msg is not None:
        error["sub_msg"] = sub_msg
    return httpx.Response(200, json={"error_response": error})


def fullinfo(trade: dict[str, Any]) -> httpx.Response:
    return ok("taobao.trade.fullinfo.get", {"trade": trade})
