"""Webhook verification: signatures computed here independently with `hmac`/`base64`."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from shopbridge.connectors import PushRejected
from shopbridge.connectors.shopify import ShopifyConnector
from shopbridge.connectors.shopify.push import compute_signature
from shopbridge.core import OrderStatus
from tests.connectors.shopify.helpers import BUYER_STRINGS, load, shop

SECRET = "hush"


def sign(body: bytes, secret: str = SECRET) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def headers(body: bytes, topic: str = "orders/updated", **extra: str) -> dict[str, str]:
    result = {
        "X-Shopify-Topic": topic,
        "X-Shopify-Hmac-Sha256": sign(body),
        "X-Shopify-Shop-Domain": "analytical-goods.myshopify.com",
        "X-Shopify-API-Version": "2026-07",
        "X-Shopify-Webhook-Id": "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
        "X-Shopify-Event-Id": "98880550-7158-44d4-b7cd-2c97c8a091b5",
        "X-Shopify-Triggered-At": "2026-11-11T00:00:08.123Z",
    }
    result.update(extra)
    return result


def body_of(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


@pytest.fixture
def connector() -> ShopifyConnector:
    return ShopifyConnector(shop())


def test_published_test_vector() -> None:
    body = b'{"id":820982911946154508,"email":"jon@example.com","total_price":"10.00"}'
    assert compute_signature("hush", body) == "m4FFod+h41Veq3iGu9IYC4BB/jVI4MOrGLOk7hjAbKU="
    assert sign(body) == compute_signature("hush", body)


def test_valid_order_webhook_is_mapped(connector: ShopifyConnector) -> None:
    payload = load("paid_unfulfilled")
    body = body_of(payload)
    (message,) = connector.verify_push(headers(body), body)
    assert message.message_id == "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"
    assert message.topic == "orders/updated"
    assert message.platform_order_id == "5501000001"
    assert message.occurred_at == datetime(2026, 11, 11, 0, 0, 8, 123000, tzinfo=UTC)
    assert message.order is not None
    assert message.order.status is OrderStatus.AWAITING_SHIPMENT
    assert message.raw == payload


@pytest.mark.parametrize(
    "topic",
    [
        "orders/create",
        "orders/updated",
        "orders/paid",
        "orders/cancelled",
        "orders/fulfilled",
        "orders/partially_fulfilled",
    ],
)
def test_every_order_topic_carries_the_order(connector: ShopifyConnector, topic: str) -> None:
    body = body_of(load("fulfilled"))
    (message,) = connector.verify_push(headers(body, topic), body)
    assert message.order is not None
    assert message.platform_order_id == "5501000003"


def test_delete_carries_only_the_id(connector: ShopifyConnector) -> None:
    body = b'{"id":820982911946154508}'
    (message,) = connector.verify_push(headers(body, "orders/delete"), body)
    assert message.platform_order_id == "820982911946154508"
    assert message.order is None
    assert message.occurred_at == datetime(2026, 11, 11, 0, 0, 8, 123000, tzinfo=UTC)


def test_refund_carries_the_order_id(connector: ShopifyConnector) -> None:
    refund = load("partially_refunded")["refunds"][0]
    body = body_of(refund)
    hdrs = headers(body, "refunds/create")
    del hdrs["X-Shopify-Triggered-At"]
    (message,) = connector.verify_push(hdrs, body)
    assert message.platform_order_id == "5501000005"
    assert message.order is None
    assert message.occurred_at == datetime(2026, 11, 12, 18, 0, tzinfo=UTC)


def test_unhandled_topic_is_acknowledged_without_messages(connector: ShopifyConnector) -> None:
    body = b'{"id":1}'
    assert connector.verify_push(headers(body, "products/update"), body) == []


def test_unmappable_order_still_yields_its_id(connector: ShopifyConnector) -> None:
    payload = load("paid_unfulfilled")
    payload["total_price"] = 1.5
    body = body_of(payload)
    (message,) = connector.verify_push(headers(body), body)
    assert message.order is None
    assert message.platform_order_id == "5501000001"


def test_lowercase_and_unprefixed_headers(connector: ShopifyConnector) -> None:
    body = body_of(load("voided"))
    hdrs = {k.lower().removeprefix("x-"): v for k, v in headers(body).items()}
    (message,) = connector.verify_push(hdrs, body)
    assert message.order is not None


def test_previous_secret_accepted_during_rotation() -> None:
    rotated = ShopifyConnector(
        shop(credentials={"app_secret": "new-secret", "previous_app_secret": SECRET})
    )
    body = b'{"id":5}'
    assert rotated.verify_push(headers(body, "orders/delete"), body)[0].platform_order_id == "5"


# ------------------------------------------------------------------ refusals


def test_tampered_body(connector: ShopifyConnector) -> None:
    body = body_of(load("paid_unfulfilled"))
    hdrs = headers(body)
    tampered = body.replace(b'"206.09"', b'"0.01"')
    assert tampered != body
    with pytest.raises(PushRejected, match="does not match"):
        connector.verify_push(hdrs, tampered)


def test_wrong_secret(connector: ShopifyConnector) -> None:
    body = b'{"id":5}'
    hdrs = headers(body, "orders/delete")
    hdrs["X-Shopify-Hmac-Sha256"] = sign(body, "not-the-secret")
    with pytest.raises(PushRejected) as info:
        connector.verify_push(hdrs, body)
    assert info.value.code == "bad_signature"


def test_hex_signature_is_not_accepted(connector: ShopifyConnector) -> None:
    body = b'{"id":5}'
    hdrs = headers(body, "orders/delete")
    hdrs["X-Shopify-Hmac-Sha256"] = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    with pytest.raises(PushRejected):
        connector.verify_push(hdrs, body)


@pytest.mark.parametrize(
    ("missing", "code"),
    [
        ("X-Shopify-Hmac-Sha256", "missing_signature"),
        ("X-Shopify-Topic", "missing_topic"),
        ("X-Shopify-Webhook-Id", "missing_webhook_id"),
    ],
)
def test_missing_header(connector: ShopifyConnector, missing: str, code: str) -> None:
    body = b'{"id":5}'
    hdrs = headers(body, "orders/delete")
    del hdrs[missing]
    with pytest.raises(PushRejected) as info:
        connector.verify_push(hdrs, body)
    assert info.value.code == code


def test_no_secret_configured() -> None:
    body = b'{"id":5}'
    bare = ShopifyConnector(shop(credentials={"access_token": "x"}))
    with pytest.raises(PushRejected, match="no app_secret"):
        bare.verify_push(headers(body, "orders/delete"), body)


@pytest.mark.parametrize("body", [b"not json", b"[1,2]", b'"string"', b'{"id": 1'])
def test_bad_json(connector: ShopifyConnector, body: bytes) -> None:
    with pytest.raises(PushRejected) as info:
        connector.verify_push(headers(body, "orders/delete"), body)
    assert info.value.code == "bad_json"


def test_order_topic_without_id(connector: ShopifyConnector) -> None:
    body = b'{"email":"x"}'
    with pytest.raises(PushRejected, match="no order id"):
        connector.verify_push(headers(body, "orders/create"), body)


def test_delivery_for_another_shop(connector: ShopifyConnector) -> None:
    body = b'{"id":5}'
    hdrs = headers(body, "orders/delete", **{"X-Shopify-Shop-Domain": "other.myshopify.com"})
    with pytest.raises(PushRejected, match="another shop"):
        connector.verify_push(hdrs, body)


def test_rejections_never_echo_the_body(connector: ShopifyConnector) -> None:
    payload = load("paid_unfulfilled")
    body = body_of(payload)
    hdrs = headers(body)
    hdrs["X-Shopify-Hmac-Sha256"] = sign(body, "wrong")
    with pytest.raises(PushRejected) as info:
        connector.verify_push(hdrs, body)
    for secret in BUYER_STRINGS:
        assert secret not in str(info.value)
