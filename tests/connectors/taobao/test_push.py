"""TMC messages: the ShopBridge relay (`verify_push`) and the pull channel
(`consume_messages` / `confirm_messages`). Signatures are computed here with `hmac`."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from shopbridge.connectors import PushRejected
from shopbridge.connectors.taobao import TaobaoConnector
from shopbridge.connectors.taobao.push import (
    RELAY_SIGNATURE_HEADER,
    compute_relay_signature,
    parse_tmc_message,
)
from tests.connectors.taobao.helpers import (
    APP_SECRET,
    SELLER_USER_ID,
    connector,
    form,
    ok,
    shop,
)

TID = 3950117702384416531


def message(
    topic: str = "taobao_trade_TradeBuyerPay", tid: Any = TID, **extra: Any
) -> dict[str, Any]:
    content = {
        "buyer_nick": "t**9",
        "buyer_open_uid": "AAGZ9Lx2AAeGwJedwSHpg8bT",
        "payment": "265.35",
        "oid": 3950117702385416531,
        "tid": tid,
        "type": "fixed",
        "seller_nick": "青禾家居旗舰店",
        "status": "WAIT_SELLER_SEND_GOODS",
    }
    return {
        "id": 6412301288877712345,
        "topic": topic,
        "pub_app_key": "12497914",
        "pub_time": "2026-11-11 00:00:31",
        "user_id": int(SELLER_USER_ID),
        "user_nick": "青禾家居旗舰店",
        "content": json.dumps(content, ensure_ascii=False),
        **extra,
    }


def signed(body: bytes, secret: str = APP_SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest().upper()
    return {RELAY_SIGNATURE_HEADER: digest, "Content-Type": "application/json"}


def encode(payload: Any) -> bytes:
    # Big integers stay exact: Python's json writes them digit for digit.
    return json.dumps(payload, ensure_ascii=False).encode()


def conn(**credentials: str) -> TaobaoConnector:
    creds = {"app_key": "12345678", "app_secret": APP_SECRET, "session": "s", **credentials}
    return TaobaoConnector(shop(credentials=creds))


# ------------------------------------------------------------------ relay


def test_signature_helper_matches() -> None:
    body = b'{"id":1}'
    assert compute_relay_signature(APP_SECRET, body) == signed(body)[RELAY_SIGNATURE_HEADER]


def test_one_relayed_message() -> None:
    body = encode(message())
    (msg,) = conn().verify_push(signed(body), body)
    assert msg.message_id == "6412301288877712345"
    assert msg.topic == "taobao_trade_TradeBuyerPay"
    assert msg.platform_order_id == str(TID)  # beyond 2^53, exact
    assert msg.occurred_at == datetime(2026, 11, 10, 16, 0, 31, tzinfo=UTC)
    assert msg.order is None  # thin: the engine fetches the trade
    assert msg.raw["user_nick"] == "青禾家居旗舰店"


def test_lower_case_header_and_signature() -> None:
    body = encode(message())
    headers = {RELAY_SIGNATURE_HEADER.lower(): signed(body)[RELAY_SIGNATURE_HEADER].lower()}
    assert len(conn().verify_push(headers, body)) == 1


@pytest.mark.parametrize(
    "wrap",
    [
        lambda m: [m, m | {"id": 2, "topic": "taobao_refund_RefundSuccess"}],
        lambda m: {"messages": [m, m | {"id": 2, "topic": "taobao_refund_RefundSuccess"}]},
        lambda m: {
            "tmc_messages_consume_response": {
                "messages": {
                    "tmc_message": [m, m | {"id": 2, "topic": "taobao_refund_RefundSuccess"}]
                }
            }
        },
    ],
)
def test_batches_and_consume_responses(wrap: Any) -> None:
    body = encode(wrap(message()))
    messages = conn().verify_push(signed(body), body)
    assert [(m.message_id, m.topic) for m in messages] == [
        ("6412301288877712345", "taobao_trade_TradeBuyerPay"),
        ("2", "taobao_refund_RefundSuccess"),
    ]
    assert {m.platform_order_id for m in messages} == {str(TID)}


def test_every_trade_and_refund_topic_names_the_trade() -> None:
    for topic in (
        "taobao_trade_TradeCreate",
        "taobao_trade_TradeChanged",
        "taobao_trade_TradeSellerShip",
        "taobao_trade_TradeSuccess",
        "taobao_trade_TradeClose",
        "taobao_trade_TradeMemoModified",
        "taobao_trade_TradeBuyerStepPay",
        "taobao_refund_RefundCreated",
        "taobao_refund_RefundSuccess",
    ):
        parsed = parse_tmc_message(message(topic))
        assert parsed is not None and parsed.platform_order_id == str(TID)


def test_refund_message_time_falls_back_to_content_modified() -> None:
    refund = message(
        "taobao_refund_RefundCreated",
        content=json.dumps(
            {"tid": TID, "refund_id": 210987654321098765, "modified": "2026-11-12 08:00:00"}
        ),
    )
    del refund["pub_time"]
    parsed = parse_tmc_message(refund)
    assert parsed is not None
    assert parsed.occurred_at == datetime(2026, 11, 12, 0, 0, 0, tzinfo=UTC)


def test_unhandled_topic_is_acknowledged() -> None:
    body = encode(message("taobao_item_ItemUpshelf"))
    assert conn().verify_push(signed(body), body) == []


@pytest.mark.parametrize(
    ("headers", "body", "code"),
    [
        ({}, encode(message()), "missing_signature"),
        ({RELAY_SIGNATURE_HEADER: "not-hex"}, encode(message()), "bad_signature"),
        (signed(b"other"), encode(message()), "bad_signature"),
        (signed(encode(message()), "wrong-secret"), encode(message()), "bad_signature"),
        (signed(b"{not json"), b"{not json", "bad_json"),
        (signed(encode("text")), encode("text"), "bad_payload"),
        (signed(encode({"hello": 1})), encode({"hello": 1}), "bad_payload"),
        (signed(encode(message(tid=None))), encode(message(tid=None)), "bad_payload"),
        (
            signed(encode(message(tid=3.950117702384417e18))),
            encode(message(tid=3.950117702384417e18)),
            "bad_payload",
        ),
        (signed(encode(message(id=None))), encode(message(id=None)), "bad_payload"),
        (signed(encode(message(content="{oops"))), encode(message(content="{oops")), "bad_payload"),
        (signed(encode(message(user_id=42))), encode(message(user_id=42)), "wrong_shop"),
    ],
)
def test_rejections(headers: dict[str, str], body: bytes, code: str) -> None:
    with pytest.raises(PushRejected) as caught:
        conn().verify_push(headers, body)
    assert caught.value.code == code
    assert "t**9" not in str(caught.value) and "265.35" not in str(caught.value)


def test_tampered_body_is_rejected() -> None:
    body = encode(message())
    headers = signed(body)
    with pytest.raises(PushRejected):
        conn().verify_push(headers, body[:-1] + b" ")


def test_previous_secret_during_rotation_and_no_secret() -> None:
    body = encode(message())
    rotated = conn(app_secret="new-secret", previous_app_secret=APP_SECRET)
    assert len(rotated.verify_push(signed(body), body)) == 1
    with pytest.raises(PushRejected) as caught:
        TaobaoConnector(shop(credentials={})).verify_push(signed(body), body)
    assert caught.value.code == "no_secret"


def test_no_seller_check_without_a_numeric_shop_id() -> None:
    body = encode(message(user_id=42))
    nick_shop = TaobaoConnector(shop(platform_shop_id="青禾家居旗舰店"))
    assert len(nick_shop.verify_push(signed(body), body)) == 1


# ------------------------------------------------------------------ consume / confirm


async def test_consume_messages() -> None:
    batch = [
        message(),
        message("taobao_item_ItemUpshelf", id=7),
        message(id=8, content="{oops"),
        {"topic": "taobao_trade_TradeChanged"},  # no id: cannot be confirmed, skipped
    ]

    def handler(request: httpx.Request) -> httpx.Response:
        return ok("taobao.tmc.messages.consume", {"messages": {"tmc_message": batch}})

    tb, sent, client = connector(handler, tmc_group="shop-qinghe")
    messages = await tb.consume_messages(quantity=500)
    params = form(sent[0])
    assert params["method"] == "taobao.tmc.messages.consume"
    assert (params["group_name"], params["quantity"]) == ("shop-qinghe", "200")
    assert "session" not in params
    assert [(m.message_id, m.topic, m.platform_order_id) for m in messages] == [
        ("6412301288877712345", "taobao_trade_TradeBuyerPay", str(TID)),
        ("7", "taobao_item_ItemUpshelf", None),
        ("8", "taobao_trade_TradeBuyerPay", None),
    ]
    await client.aclose()


async def test_consume_nothing_and_minimum_quantity() -> None:
    tb, sent, client = connector(lambda r: ok("taobao.tmc.messages.consume", {}))
    assert await tb.consume_messages("default", quantity=1) == []
    assert form(sent[0])["quantity"] == "10"
    assert form(sent[0])["group_name"] == "default"
    await client.aclose()


async def test_confirm_messages_in_batches() -> None:
    tb, sent, client = connector(lambda r: ok("taobao.tmc.messages.confirm", {"is_success": True}))
    await tb.confirm_messages([str(n) for n in range(450)] + ["", " "])
    batches = [form(r)["s_message_ids"].split(",") for r in sent]
    assert [len(b) for b in batches] == [200, 200, 50]
    assert all("session" not in form(r) for r in sent)
    await client.aclose()
    tb, _, client = connector(lambda r: ok("taobao.tmc.messages.confirm", {"is_success": False}))
    with pytest.raises(Exception, match="did not confirm"):
        await tb.confirm_messages(["1"])
    await client.aclose()
