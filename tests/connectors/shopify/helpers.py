"""Shared test helpers: recorded Shopify-shaped payloads and a connector wired to a local
`httpx.MockTransport` (no network, no sandbox)."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import httpx

from shopbridge.connectors import ShopContext
from shopbridge.connectors.shopify import ShopifyConnector

PAYLOADS = Path(__file__).parent / "payloads"

ORDER_FIXTURES = (
    "paid_unfulfilled",
    "partially_fulfilled",
    "fulfilled",
    "cancelled_refunded",
    "partially_refunded",
    "pending_payment",
    "authorized",
    "voided",
    "on_hold",
    "presentment_currency",
    "pos_no_customer",
)

BUYER_STRINGS = (
    "Ada",
    "Lovelace",
    "ada@example.com",
    "415-555-0132",
    "4155550132",
    "Analytical Row",
    "Suite 4",
    "94107",
)
"""Personal data in the fixtures; none of it may ever appear in an error message."""

SHOP_ID = "shop_test"
BASE = "https://analytical-goods.myshopify.com/admin/api/2026-07"


@cache
def _read(name: str) -> str:
    return (PAYLOADS / f"{name}.json").read_text()


def load(name: str) -> dict[str, Any]:
    """A fresh copy of a recorded payload (tests may mutate it)."""
    data: dict[str, Any] = json.loads(_read(name))
    return copy.deepcopy(data)


def shop(
    *,
    credentials: dict[str, Any] | None = None,
    base_url: str | None = None,
    platform_shop_id: str = "analytical-goods",
    **settings: Any,
) -> ShopContext:
    return ShopContext(
        shop_id=SHOP_ID,
        platform_shop_id=platform_shop_id,
        credentials=credentials
        if credentials is not None
        else {"access_token": "shpat_test_token", "app_secret": "hush"},
        settings=settings,
        base_url=base_url,
    )


Handler = Callable[[httpx.Request], httpx.Response]


def connector(
    handler: Handler, **kwargs: Any
) -> tuple[ShopifyConnector, list[httpx.Request], httpx.AsyncClient]:
    """A connector whose HTTP goes to `handler`; returns it with the list of requests sent."""
    sent: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return handler(request)

    client = httpx.AsyncClient(transport=httpx.MockTransport(record))
    return ShopifyConnector(shop(**kwargs), client=client), sent, client


def json_response(status: int, body: Any, **headers: str) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers)
