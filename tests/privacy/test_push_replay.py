"""Inbound push replay protection: a correctly signed push is still refused when its signed
timestamp is outside the accepted window, duplicates are acknowledged and ignored, and push
receipts are pruned only once they are older than the retention (which must outlast the
window). Pushes go through the real app and the real connectors; signatures are computed here
independently."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import ValidationError
from sqlalchemy import func, select

from shopbridge.config import Settings
from shopbridge.connectors import PushMessage, PushRejected
from shopbridge.connectors.shopify.push import parse_webhook
from shopbridge.core.time import utcnow
from shopbridge.storage.db import Database
from shopbridge.storage.tables import PushReceiptRow
from shopbridge.sync.engine import SyncEngine, SyncSettings
from shopbridge.sync.push import FUTURE_TOLERANCE, check_fresh, prune_push_receipts
from tests.conftest import TenantClient
from tests.connectors.shopify.helpers import load

SHOPIFY_SECRET = "replay-test-app-secret"
TAOBAO_SECRET = "replay-taobao-secret"
SELLER = "2200009876543"
MAX_AGE = timedelta(seconds=Settings().push_max_age_seconds)
BUYER_EMAIL = "ada@example.com"  # in the Shopify fixture: must never be echoed back


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def shopify_push(
    domain: str, *, triggered: datetime | None, updated: datetime, webhook_id: str | None = None
) -> tuple[dict[str, str], bytes]:
    """An `orders/updated` delivery as Shopify signs it (HMAC over the body only)."""
    order = load("paid_unfulfilled")
    order["id"] = order["id"] + secrets.randbelow(10**6)
    order["created_at"] = order["processed_at"] = iso(updated - timedelta(minutes=5))
    order["updated_at"] = iso(updated)
    body = json.dumps(order, separators=(",", ":")).encode()
    digest = hmac.new(SHOPIFY_SECRET.encode(), body, hashlib.sha256).digest()
    headers = {
        "Content-Type": "application/json",
        "X-Shopify-Topic": "orders/updated",
        "X-Shopify-Hmac-Sha256": base64.b64encode(digest).decode(),
        "X-Shopify-Shop-Domain": domain,
        "X-Shopify-API-Version": "2026-07",
        "X-Shopify-Webhook-Id": webhook_id or secrets.token_hex(16),
    }
    if triggered is not None:
        headers["X-Shopify-Triggered-At"] = iso(triggered)
    return headers, body


def taobao_relay(published: datetime) -> tuple[dict[str, str], bytes]:
    """One TMC message forwarded by a ShopBridge relay; `pub_time` is Shanghai wall clock."""
    shanghai = published.astimezone(UTC) + timedelta(hours=8)
    message = {
        "id": secrets.randbelow(10**18),
        "topic": "taobao_trade_TradeBuyerPay",
        "pub_app_key": "12497914",
        "pub_time": shanghai.strftime("%Y-%m-%d %H:%M:%S"),
        "user_id": int(SELLER),
        "user_nick": "replay-seller",
        "content": json.dumps({"tid": 3950117702384416531, "status": "WAIT_SELLER_SEND_GOODS"}),
    }
    body = json.dumps(message).encode()
    sign = hmac.new(TAOBAO_SECRET.encode(), body, hashlib.sha256).hexdigest().upper()
    return {"Content-Type": "application/json", "X-Shopbridge-Tmc-Sign": sign}, body


@pytest.fixture
async def shopify_shop(tenant: TenantClient) -> tuple[str, str]:
    domain = f"replay-{secrets.token_hex(4)}.myshopify.com"
    resp = await tenant.post(
        "/v1/shops",
        json={
            "platform": "shopify",
            "platform_shop_id": domain,
            "display_name": "Replay",
            "credentials": {"access_token": "shpat_replay_test", "app_secret": SHOPIFY_SECRET},
            "settings": {},
        },
    )
    assert resp.status_code == 201, resp.text
    return str(resp.json()["id"]), domain


async def receipts(db: Database, shop_id: str) -> int:
    async with db.read() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(PushReceiptRow)
            .where(PushReceiptRow.shop_id == shop_id)
        )
    return int(count or 0)


async def orders(tenant: TenantClient, shop_id: str) -> list[dict[str, Any]]:
    resp = await tenant.get("/v1/orders", params={"shop_id": shop_id})
    assert resp.status_code == 200, resp.text
    return list(resp.json()["data"])


def assert_refused_as_stale(resp: httpx.Response) -> None:
    assert resp.status_code == 401, resp.text
    assert resp.headers["content-type"] == "application/problem+json"
    problem = resp.json()
    assert "stale/replayed" in problem["detail"]
    assert BUYER_EMAIL not in resp.text and "Lovelace" not in resp.text  # no body echo


# -- through the app --------------------------------------------------------------------------


async def test_old_signed_push_is_refused_and_stores_nothing(
    app: FastAPI, anon: httpx.AsyncClient, tenant: TenantClient, shopify_shop: tuple[str, str]
) -> None:
    shop_id, domain = shopify_shop
    old = utcnow() - MAX_AGE - timedelta(hours=1)
    headers, body = shopify_push(domain, triggered=old, updated=old - timedelta(seconds=2))
    assert_refused_as_stale(
        await anon.post(f"/v1/push/shopify/{shop_id}", content=body, headers=headers)
    )
    assert await receipts(app.state.db, shop_id) == 0
    assert await orders(tenant, shop_id) == []


async def test_old_body_with_a_fresh_unsigned_header_is_refused(
    app: FastAPI, anon: httpx.AsyncClient, shopify_shop: tuple[str, str]
) -> None:
    """Shopify's HMAC covers the body only: a replayer can rewrite X-Shopify-Triggered-At, but
    not the body's `updated_at`."""
    shop_id, domain = shopify_shop
    old = utcnow() - MAX_AGE - timedelta(days=2)
    headers, body = shopify_push(domain, triggered=utcnow(), updated=old)
    assert_refused_as_stale(
        await anon.post(f"/v1/push/shopify/{shop_id}", content=body, headers=headers)
    )
    headers, body = shopify_push(domain, triggered=None, updated=old)  # header dropped
    assert_refused_as_stale(
        await anon.post(f"/v1/push/shopify/{shop_id}", content=body, headers=headers)
    )
    assert await receipts(app.state.db, shop_id) == 0


async def test_future_dated_push_is_refused(
    app: FastAPI, anon: httpx.AsyncClient, shopify_shop: tuple[str, str]
) -> None:
    shop_id, domain = shopify_shop
    ahead = utcnow() + FUTURE_TOLERANCE + timedelta(minutes=5)
    headers, body = shopify_push(domain, triggered=ahead, updated=ahead - timedelta(seconds=1))
    assert_refused_as_stale(
        await anon.post(f"/v1/push/shopify/{shop_id}", content=body, headers=headers)
    )
    assert await receipts(app.state.db, shop_id) == 0


async def test_fresh_push_is_accepted_and_its_replay_is_a_duplicate(
    app: FastAPI, anon: httpx.AsyncClient, tenant: TenantClient, shopify_shop: tuple[str, str]
) -> None:
    shop_id, domain = shopify_shop
    now = utcnow()
    # A little clock skew either way is normal.
    headers, body = shopify_push(domain, triggered=now + timedelta(minutes=2), updated=now)
    first = await anon.post(f"/v1/push/shopify/{shop_id}", content=body, headers=headers)
    assert first.status_code == 200, first.text
    assert first.json() == {"accepted": 1, "duplicates": 0, "pull_requested": False}
    again = await anon.post(f"/v1/push/shopify/{shop_id}", content=body, headers=headers)
    assert again.status_code == 200, again.text
    assert again.json() == {"accepted": 0, "duplicates": 1, "pull_requested": False}
    assert await receipts(app.state.db, shop_id) == 1
    assert len(await orders(tenant, shop_id)) == 1

    # A delivery retried by Shopify hours later keeps its id and trigger time: accepted.
    late = now - timedelta(hours=5)
    headers, body = shopify_push(domain, triggered=late, updated=late - timedelta(seconds=3))
    resp = await anon.post(f"/v1/push/shopify/{shop_id}", content=body, headers=headers)
    assert resp.status_code == 200 and resp.json()["accepted"] == 1, resp.text


async def test_taobao_relay_is_checked_against_its_signed_pub_time(
    app: FastAPI, anon: httpx.AsyncClient, tenant: TenantClient
) -> None:
    resp = await tenant.post(
        "/v1/shops",
        json={
            "platform": "taobao",
            "platform_shop_id": SELLER + str(secrets.randbelow(1000)),
            "display_name": "Replay TB",
            "credentials": {"app_key": "12345678", "app_secret": TAOBAO_SECRET, "session": "s"},
            "settings": {"seller_user_id": SELLER},
        },
    )
    assert resp.status_code == 201, resp.text
    shop_id = resp.json()["id"]
    headers, body = taobao_relay(utcnow() - MAX_AGE - timedelta(minutes=10))
    assert_refused_as_stale(
        await anon.post(f"/v1/push/taobao/{shop_id}", content=body, headers=headers)
    )
    assert await receipts(app.state.db, shop_id) == 0
    headers, body = taobao_relay(utcnow())
    fresh = await anon.post(f"/v1/push/taobao/{shop_id}", content=body, headers=headers)
    assert fresh.status_code == 200, fresh.text
    assert fresh.json()["accepted"] == 1
    again = await anon.post(f"/v1/push/taobao/{shop_id}", content=body, headers=headers)
    assert again.json()["duplicates"] == 1


# -- pruning ----------------------------------------------------------------------------------


async def test_pruning_removes_old_receipts_only(
    app: FastAPI, shopify_shop: tuple[str, str]
) -> None:
    shop_id, _ = shopify_shop
    db: Database = app.state.db
    now = utcnow()
    async with db.transaction() as session:
        for age_days, message_id in ((30, "ancient"), (8, "old"), (6, "recent"), (0, "new")):
            session.add(
                PushReceiptRow(
                    shop_id=shop_id,
                    message_id=message_id,
                    topic="orders/updated",
                    received_at=now - timedelta(days=age_days),
                )
            )
    removed = await prune_push_receipts(db, older_than=now - timedelta(days=7))
    assert removed >= 2
    async with db.read() as session:
        kept = set(
            (
                await session.scalars(
                    select(PushReceiptRow.message_id).where(PushReceiptRow.shop_id == shop_id)
                )
            ).all()
        )
    assert kept == {"recent", "new"}

    # The sync worker's maintenance pass does the same with the configured retention.
    async with db.transaction() as session:
        session.add(
            PushReceiptRow(
                shop_id=shop_id,
                message_id="stale-again",
                topic="orders/updated",
                received_at=now - timedelta(days=3),
            )
        )
    engine = SyncEngine(
        db, app.state.box, settings=SyncSettings(push_receipt_retention=timedelta(days=2))
    )
    assert await engine.maintenance() >= 2  # "stale-again" (3 d) and "recent" (6 d)
    async with db.read() as session:
        kept = set(
            (
                await session.scalars(
                    select(PushReceiptRow.message_id).where(PushReceiptRow.shop_id == shop_id)
                )
            ).all()
        )
    assert kept == {"new"}


# -- units ------------------------------------------------------------------------------------


def message(at: datetime | None) -> PushMessage:
    return PushMessage(
        message_id="m", topic="orders/updated", platform_order_id="1", occurred_at=at
    )


def test_the_window_bounds() -> None:
    now = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
    age = timedelta(hours=72)
    check_fresh([message(now - age), message(now + FUTURE_TOLERANCE), message(None)], age, now=now)
    check_fresh([message((now - timedelta(hours=1)).replace(tzinfo=None))], age, now=now)
    for at in (now - age - timedelta(seconds=1), now + FUTURE_TOLERANCE + timedelta(seconds=1)):
        with pytest.raises(PushRejected) as caught:
            check_fresh([message(now), message(at)], age, platform="shopify", now=now)
        assert caught.value.code == "stale" and "stale/replayed" in caught.value.message


def test_shopify_trusts_the_header_only_near_the_signed_body_time() -> None:
    now = utcnow()
    domain = "x.myshopify.com"
    headers, body = shopify_push(domain, triggered=now, updated=now - timedelta(seconds=2))
    [parsed] = parse_webhook(headers, body, shop_id="shop_x", secrets=[SHOPIFY_SECRET])
    assert parsed.occurred_at is not None and abs(parsed.occurred_at - now) < timedelta(seconds=1)
    old = now - timedelta(days=10)
    headers, body = shopify_push(domain, triggered=now, updated=old)
    [parsed] = parse_webhook(headers, body, shop_id="shop_x", secrets=[SHOPIFY_SECRET])
    assert parsed.occurred_at is not None and abs(parsed.occurred_at - old) < timedelta(seconds=1)


def test_receipts_must_outlast_the_replay_window() -> None:
    Settings()  # the defaults (7 days > 72 hours) are consistent
    with pytest.raises(ValidationError, match="PUSH_RECEIPT_RETENTION_DAYS"):
        Settings(push_receipt_retention_days=2, push_max_age_seconds=3 * 86400)
    with pytest.raises(ValidationError):
        Settings(push_receipt_retention_days=1, push_max_age_seconds=86400)
    Settings(push_receipt_retention_days=30, push_max_age_seconds=14 * 86400)
