"""Shopify webhooks: verify the signature, then turn the delivery into `PushMessage`s.

A delivery is a JSON POST signed with `X-Shopify-Hmac-Sha256` = base64(HMAC-SHA256(app client
secret, raw body bytes)). The signature is checked on the raw bytes, before any parsing, in
constant time; during a secret rotation the previous secret is accepted too. Shopify's
un-prefixed header form (`Shopify-Hmac-Sha256`, ...) is accepted as well.

The message id is `X-Shopify-Webhook-Id` (one delivery; retries of it keep the id), which is
what Shopify says to deduplicate on. `orders/*` topics carry the whole order and are mapped;
`orders/delete` and `refunds/create` only name the order, which the sync engine then fetches
(or marks deleted). A correctly signed delivery of a topic this connector does not handle is
acknowledged with no messages.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Final

from shopbridge.connectors.base import PushMessage
from shopbridge.connectors.errors import MappingError, PushRejected
from shopbridge.connectors.shopify.mapping import map_order, order_id_of, parse_timestamp
from shopbridge.core import fastjson

__all__ = [
    "ID_ONLY_TOPICS",
    "ORDER_TOPICS",
    "compute_signature",
    "parse_webhook",
    "verify_signature",
]

PLATFORM: Final = "shopify"
INTERFACE: Final = "webhook"

ORDER_TOPICS: Final = frozenset(
    {
        "orders/create",
        "orders/updated",
        "orders/paid",
        "orders/cancelled",
        "orders/fulfilled",
        "orders/partially_fulfilled",
    }
)
"""Topics whose body is a full REST order."""

ID_ONLY_TOPICS: Final[Mapping[str, str]] = {"orders/delete": "id", "refunds/create": "order_id"}
"""Topics that only name the order, and the body field that holds its id."""


def _reject(message: str, code: str) -> PushRejected:
    return PushRejected(message, platform=PLATFORM, interface=INTERFACE, code=code)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """`X-Shopify-<name>` or `Shopify-<name>`, case-insensitively."""
    wanted = {f"x-shopify-{name}".lower(), f"shopify-{name}".lower()}
    for key, value in headers.items():
        if key.lower() in wanted and value.strip():
            return value.strip()
    return None


def compute_signature(secret: str, body: bytes) -> str:
    """base64(HMAC-SHA256(secret, body)), the value Shopify puts in the header."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def verify_signature(headers: Mapping[str, str], body: bytes, secrets: Sequence[str]) -> None:
    """Raise `PushRejected` unless the body is signed by one of `secrets`."""
    if not secrets:
        raise _reject("no app_secret is configured for this shop", "no_secret")
    signature = _header(headers, "Hmac-Sha256")
    if signature is None:
        raise _reject("missing X-Shopify-Hmac-Sha256 header", "missing_signature")
    try:
        received = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        raise _reject("X-Shopify-Hmac-Sha256 is not base64", "bad_signature") from None
    ok = False
    for secret in secrets:
        expected = hmac.new(secret.encode(), body, hashlib.sha256).digest()
        ok |= hmac.compare_digest(expected, received)
    if not ok:
        raise _reject("webhook signature does not match", "bad_signature")


TRIGGER_LEEWAY: Final = timedelta(hours=1)
"""How much later than the body's own timestamp `X-Shopify-Triggered-At` may be and still be
believed (Shopify triggers a webhook moments after the change it reports)."""


def _parsed(value: object, path: str) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_timestamp(value, path)
    except MappingError:
        return None


def _occurred_at(
    headers: Mapping[str, str], payload: Mapping[str, Any], field: str
) -> datetime | None:
    """When the delivery was triggered: the timestamp the gateway's replay window is checked
    against.

    `X-Shopify-Triggered-At` is the precise answer, but Shopify's HMAC covers the body only,
    so the header is not signed: a captured delivery replayed with a fresh header would pass
    the window. The body's own timestamp (`updated_at` / `created_at`) is signed, so when the
    header claims a time more than `TRIGGER_LEEWAY` after it, the body's time is used
    instead; a replay of an old delivery is then as old as its body says."""
    triggered = _parsed(_header(headers, "Triggered-At"), "X-Shopify-Triggered-At")
    signed = _parsed(payload.get(field), f"$.{field}")
    if triggered is None:
        return signed
    if signed is not None and triggered - signed > TRIGGER_LEEWAY:
        return signed
    return triggered


def parse_webhook(
    headers: Mapping[str, str],
    body: bytes,
    *,
    shop_id: str,
    secrets: Sequence[str],
    shop_domain: str | None = None,
) -> list[PushMessage]:
    """Verify and parse one delivery (raises `PushRejected`).

    `shop_domain` (`acme.myshopify.com`), when known, must match `X-Shopify-Shop-Domain`, so
    a delivery for another shop that shares the app secret is refused.
    """
    verify_signature(headers, body, secrets)
    topic = _header(headers, "Topic")
    if topic is None:
        raise _reject("missing X-Shopify-Topic header", "missing_topic")
    message_id = _header(headers, "Webhook-Id")
    if message_id is None:
        raise _reject("missing X-Shopify-Webhook-Id header", "missing_webhook_id")
    sender = _header(headers, "Shop-Domain")
    if shop_domain is not None and sender is not None and sender.lower() != shop_domain.lower():
        raise _reject("the delivery is for another shop", "wrong_shop")
    try:
        payload = fastjson.loads(body)
    except ValueError:
        raise _reject("webhook body is not JSON", "bad_json") from None
    if not isinstance(payload, dict):
        raise _reject("webhook body is not a JSON object", "bad_json")

    if topic in ORDER_TOPICS:
        order_id = order_id_of(payload)
        if order_id is None:
            raise _reject(f"{topic} body has no order id", "bad_payload")
        try:
            order = map_order(payload, shop_id=shop_id)
        except MappingError:
            order = None  # authentic but unreadable: the engine fetches and records it
        occurred = _occurred_at(headers, payload, "updated_at")
        return [
            PushMessage(
                message_id=message_id,
                topic=topic,
                platform_order_id=order_id,
                occurred_at=occurred,
                order=order,
                raw=payload,
            )
        ]
    if topic in ID_ONLY_TOPICS:
        field = ID_ONLY_TOPICS[topic]
        order_id = order_id_of({"id": payload.get(field)})
        if order_id is None:
            raise _reject(f"{topic} body has no {field}", "bad_payload")
        return [
            PushMessage(
                message_id=message_id,
                topic=topic,
                platform_order_id=order_id,
                occurred_at=_occurred_at(headers, payload, "created_at"),
                raw=payload,
            )
        ]
    return []
