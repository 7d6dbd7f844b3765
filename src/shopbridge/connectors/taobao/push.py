"""TMC (Taobao Message Channel) messages -> `PushMessage`s, and ShopBridge's TMC relay.

TOP pushes through TMC, a message channel, not a webhook: an app either holds a WebSocket to
`mc.api.taobao.com` or pulls with `taobao.tmc.messages.consume` and acknowledges with
`taobao.tmc.messages.confirm` (`TaobaoConnector.consume_messages` / `confirm_messages`). A
message is `{"id", "topic", "content" (a JSON string), "pub_time", "pub_app_key", "user_id",
"user_nick"}`. Trade and refund messages are thin: `content` names the trade (`tid`), and the
sync engine fetches the trade itself.

**ShopBridge TMC relay (not a Taobao format).** For deployments where a separate process holds
the TMC connection and forwards messages over HTTP, `verify_push(headers, body)` accepts:

- body: one TMC message object, a JSON array of them, or a `taobao.tmc.messages.consume`
  response (`{"tmc_messages_consume_response": {"messages": {"tmc_message": [...]}}}`, or
  `{"messages": [...]}`), forwarded byte for byte;
- header `X-Shopbridge-Tmc-Sign`: hex HMAC-SHA256 of the raw body keyed with the app secret
  (either case; `previous_app_secret` is accepted during a rotation).

The signature is checked on the raw bytes, in constant time, before anything is parsed. A
correctly signed message of a topic this module does not handle is acknowledged and dropped.
`message_id` is the TMC message id: deduplicate on it (TMC delivers at least once).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from shopbridge.connectors.base import PushMessage
from shopbridge.connectors.errors import MappingError, PushRejected
from shopbridge.connectors.taobao.mapping import list_items, parse_time
from shopbridge.core import from_epoch_millis

__all__ = [
    "REFUND_TOPICS",
    "RELAY_SIGNATURE_HEADER",
    "TRADE_TOPICS",
    "TmcMessageError",
    "compute_relay_signature",
    "consumed_message",
    "parse_relay",
    "parse_tmc_message",
    "relay_messages",
    "verify_relay_signature",
]

PLATFORM: Final = "taobao"
INTERFACE: Final = "tmc"
RELAY_SIGNATURE_HEADER: Final = "X-Shopbridge-Tmc-Sign"

TRADE_TOPICS: Final = frozenset(
    {
        "taobao_trade_TradeCreate",
        "taobao_trade_TradeAlipayCreate",
        "taobao_trade_TradeBuyerPay",
        "taobao_trade_TradeBuyerStepPay",
        "taobao_trade_TradeChanged",
        "taobao_trade_TradeSellerShip",
        "taobao_trade_TradePartlySellerShip",
        "taobao_trade_TradeSuccess",
        "taobao_trade_TradeClose",
        "taobao_trade_TradeCloseAndModifyDetailOrder",
        "taobao_trade_TradeMemoModified",
        "taobao_trade_TradeLogisticsAddressChanged",
        "taobao_trade_TradeModifyFee",
        "taobao_trade_TradePartlyRefund",
        "taobao_trade_TradeRated",
    }
)
"""Trade topics: `content.tid` names the trade to fetch."""

REFUND_TOPICS: Final = frozenset(
    {
        "taobao_refund_RefundCreated",
        "taobao_refund_RefundSellerAgreeAgreement",
        "taobao_refund_RefundSellerRefuseAgreement",
        "taobao_refund_RefundBuyerModifyAgreement",
        "taobao_refund_RefundBuyerReturnGoods",
        "taobao_refund_RefundCreateMessage",
        "taobao_refund_RefundBlockMessage",
        "taobao_refund_RefundClosed",
        "taobao_refund_RefundSuccess",
    }
)
"""Refund topics: `content.tid` is the trade whose refund state changed."""


class TmcMessageError(ValueError):
    """A TMC message that cannot be read (no id, bad content). Never quotes the message."""


def compute_relay_signature(secret: str, body: bytes) -> str:
    """Uppercase hex HMAC-SHA256(secret, body): the relay's `X-Shopbridge-Tmc-Sign`."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest().upper()


def _reject(message: str, code: str) -> PushRejected:
    return PushRejected(message, platform=PLATFORM, interface=INTERFACE, code=code)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted and value.strip():
            return value.strip()
    return None


def verify_relay_signature(headers: Mapping[str, str], body: bytes, secrets: Sequence[str]) -> None:
    """Raise `PushRejected` unless the body carries a valid relay signature."""
    if not secrets:
        raise _reject("no app_secret is configured for this shop", "no_secret")
    signature = _header(headers, RELAY_SIGNATURE_HEADER)
    if signature is None:
        raise _reject(f"missing {RELAY_SIGNATURE_HEADER} header", "missing_signature")
    try:
        received = bytes.fromhex(signature)
    except ValueError:
        raise _reject(f"{RELAY_SIGNATURE_HEADER} is not hex", "bad_signature") from None
    ok = False
    for secret in secrets:
        expected = hmac.new(secret.encode(), body, hashlib.sha256).digest()
        ok |= hmac.compare_digest(expected, received)
    if not ok:
        raise _reject("relay signature does not match", "bad_signature")


def _message_id(message: Mapping[str, Any]) -> str:
    for key in ("id", "message_id"):
        value = message.get(key)
        if isinstance(value, bool) or value is None:
            continue
        if isinstance(value, int) and value >= 0:
            return str(value)
        if isinstance(value, str) and value.strip() and len(value.strip()) <= 255:
            return value.strip()
    raise TmcMessageError("message has no usable id")


def _content(message: Mapping[str, Any]) -> dict[str, Any]:
    content = message.get("content")
    if isinstance(content, str):
        try:
            content = json.loads(content)
        except ValueError:
            raise TmcMessageError("content is not JSON") from None
    if not isinstance(content, dict):
        raise TmcMessageError("content is not a JSON object")
    return content


def _tid(content: Mapping[str, Any]) -> str:
    for key in ("tid_str", "tid"):
        value = content.get(key)
        if isinstance(value, bool) or value is None:
            continue
        if isinstance(value, int) and value > 0:
            return str(value)
        if isinstance(value, str) and value.strip().isdigit() and value.strip().isascii():
            return value.strip()
        if isinstance(value, float):
            raise TmcMessageError("content tid is a float and may have lost digits")
    raise TmcMessageError("content has no tid")


def _published_at(message: Mapping[str, Any], content: Mapping[str, Any]) -> datetime | None:
    value = message.get("pub_time")
    try:
        if isinstance(value, str) and value.strip():
            return parse_time(value, "$.pub_time")
        if isinstance(value, int) and not isinstance(value, bool):
            return from_epoch_millis(value)  # the WebSocket form carries epoch milliseconds
        modified = content.get("modified")
        if isinstance(modified, str) and modified.strip():
            return parse_time(modified, "$.content.modified")
    except (MappingError, ValueError):
        return None
    return None


def parse_tmc_message(message: object) -> PushMessage | None:
    """One TMC message -> a thin `PushMessage` (None for a topic this module does not handle).
    Raises `TmcMessageError` for a message it cannot read."""
    if not isinstance(message, dict):
        raise TmcMessageError("message is not a JSON object")
    message_id = _message_id(message)
    topic = message.get("topic")
    if not isinstance(topic, str) or not topic.strip():
        raise TmcMessageError("message has no topic")
    topic = topic.strip()
    if topic not in TRADE_TOPICS and topic not in REFUND_TOPICS:
        return None
    content = _content(message)
    return PushMessage(
        message_id=message_id,
        topic=topic,
        platform_order_id=_tid(content),
        occurred_at=_published_at(message, content),
        raw=message,
    )


def consumed_message(message: object) -> tuple[PushMessage, str | None]:
    """A consumed TMC message as a `PushMessage`, whatever its topic, plus the reason when its
    content could not be read. Every message with an id is returned (topics this module does
    not handle and unreadable ones with `platform_order_id=None`), so it can be confirmed.
    Raises `TmcMessageError` only for a message without a usable id."""
    if not isinstance(message, dict):
        raise TmcMessageError("message is not a JSON object")
    message_id = _message_id(message)
    problem: str | None = None
    try:
        parsed = parse_tmc_message(message)
    except TmcMessageError as exc:
        parsed, problem = None, str(exc)
    if parsed is not None:
        return parsed, None
    topic = message.get("topic")
    return (
        PushMessage(
            message_id=message_id,
            topic=topic.strip() if isinstance(topic, str) else "",
            platform_order_id=None,
            occurred_at=None,
            raw=message,
        ),
        problem,
    )


def relay_messages(payload: object) -> list[object]:
    """The TMC messages in a relay body (see the module docstring)."""
    if isinstance(payload, list):
        return list(payload)
    if not isinstance(payload, dict):
        raise TmcMessageError("body is neither a message, a list nor a consume response")
    root = payload.get("tmc_messages_consume_response")
    if isinstance(root, dict):
        payload = root
    if "messages" in payload:
        try:
            return [item for item, _ in list_items(payload["messages"], "tmc_message", "$")]
        except MappingError:
            raise TmcMessageError("messages is not a list of TMC messages") from None
    if "topic" in payload:
        return [payload]
    if root is not None:
        return []  # a consume response without messages
    raise TmcMessageError("body is neither a message, a list nor a consume response")


def parse_relay(
    headers: Mapping[str, str],
    body: bytes,
    *,
    secrets: Sequence[str],
    seller_user_id: str | None = None,
) -> list[PushMessage]:
    """Verify and parse one relay delivery (raises `PushRejected`).

    `seller_user_id` (the shop's Taobao user id), when known, must match every message's
    `user_id`, so messages for another seller of the same app are refused.
    """
    verify_relay_signature(headers, body, secrets)
    try:
        payload = json.loads(body)
    except ValueError:
        raise _reject("relay body is not JSON", "bad_json") from None
    try:
        messages = relay_messages(payload)
    except TmcMessageError as exc:
        raise _reject(str(exc), "bad_payload") from None
    parsed: list[PushMessage] = []
    for message in messages:
        if seller_user_id is not None and isinstance(message, dict):
            user_id = message.get("user_id")
            sender = "" if user_id is None or isinstance(user_id, bool) else str(user_id).strip()
            if sender and sender != seller_user_id:
                raise _reject("the message is for another seller", "wrong_shop")
        try:
            item = parse_tmc_message(message)
        except TmcMessageError as exc:
            raise _reject(str(exc), "bad_payload") from None
        if item is not None:
            parsed.append(item)
    return parsed
