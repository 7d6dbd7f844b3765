"""Unit tests of the Taobao sandbox building blocks (no server)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from shopbridge.sandbox import SANDBOX_PLATFORMS
from shopbridge.sandbox.common import WindowLimiter
from shopbridge.sandbox.taobao import TaobaoSandbox, TaobaoSandboxOptions
from shopbridge.sandbox.taobao.app import Options
from shopbridge.sandbox.taobao.envelope import (
    Fields,
    ListOf,
    mask_address,
    mask_mobile,
    mask_name,
    mask_nick,
    mask_phone,
    response_root,
    success_json,
    success_xml,
)
from shopbridge.sandbox.taobao.signing import sign_params, verify_push_signature, verify_signature
from shopbridge.sandbox.taobao.state import CARRIERS, StateError

VECTOR = {
    "method": "taobao.user.seller.get",
    "timestamp": "2013-05-06 13:52:03",
    "format": "xml",
    "app_key": "test",
    "v": "2.0",
    "fields": "nick",
    "session": "test",
}


@pytest.mark.parametrize(
    ("method", "expected"),
    [
        ("md5", "72CB4D809B375A54502C09360D879C64"),  # published TOP example
        ("hmac", "FA15A9D5B42AB2D6F3397843851ED09A"),
        ("hmac-sha256", "267B9C1C7A2FE1CE413DBB95E596616D32107AE0992BE2C22143CFCE303E8E34"),
    ],
)
def test_signature_vectors(method: str, expected: str) -> None:
    params = {**VECTOR, "sign_method": method}
    assert sign_params(params, "test", method) == expected  # type: ignore[arg-type]
    assert verify_signature({**params, "sign": expected.lower()}, "test", method)  # type: ignore[arg-type]
    assert not verify_signature({**params, "sign": expected}, "other", method)  # type: ignore[arg-type]


def test_push_signature_roundtrip() -> None:
    from shopbridge.sandbox.taobao.signing import push_signature

    body = b'{"id":1}'
    assert verify_push_signature(body, push_signature(body, "s"), "s")
    assert not verify_push_signature(body + b" ", push_signature(body, "s"), "s")


def test_window_limiter_bans_then_starts_a_new_window() -> None:
    now = [0.0]
    limiter = WindowLimiter(2, 10.0, 3.0, lambda: now[0])
    assert limiter.acquire("a").allowed and limiter.acquire("a").allowed
    refused = limiter.acquire("a")
    assert not refused.allowed and refused.ban_seconds_left_whole == 3
    assert limiter.acquire("b").allowed  # per key
    now[0] = 2.5
    assert limiter.acquire("a").ban_seconds_left_whole == 1
    now[0] = 3.1
    assert limiter.acquire("a").allowed and limiter.used("a") == 1
    limiter.configure(limit=0)
    assert all(limiter.acquire("a").allowed for _ in range(50))
    limiter.ban("a", 1.0)
    assert not limiter.acquire("a").allowed
    limiter.reset()
    assert limiter.acquire("a").allowed
    with pytest.raises(ValueError, match="window"):
        limiter.configure(window_seconds=0)


def test_masking() -> None:
    assert mask_name("欧阳明月") == "欧**"
    assert mask_mobile("14012345678") == "140****5678"
    assert mask_phone("0571-88886666") == "0571-****6666"
    assert mask_address("文三路138号5幢1201室") == "文三路****"
    assert mask_nick("tb38219071") == "t**1"


def test_fields_and_envelopes() -> None:
    fields = Fields.parse("tid, status ,orders.oid,orders.title")
    assert "tid" in fields and "orders" not in fields and fields.wants("orders")
    assert fields.sub("orders").select({"oid": 1, "title": "x", "num": 2}) == {
        "oid": 1,
        "title": "x",
    }
    assert response_root("taobao.tmc.messages.consume") == "tmc_messages_consume_response"
    body = {"total_results": 1, "trades": ListOf("trade", [{"tid": 2**60, "ok": True}])}
    wrapped = success_json("taobao.trades.sold.get", body, "r1", simplify=False)
    assert wrapped == {
        "trades_sold_get_response": {
            "total_results": 1,
            "trades": {"trade": [{"tid": 2**60, "ok": True}]},
            "request_id": "r1",
        }
    }
    assert success_json("taobao.trades.sold.get", body, "r1", simplify=True)["trades"] == [
        {"tid": 2**60, "ok": True}
    ]
    xml = success_xml("taobao.time.get", {"time": "a<b", "flag": False}, "r2").decode()
    assert xml.endswith(
        "<time_get_response><time>a&lt;b</time><flag>false</flag>"
        "<request_id>r2</request_id></time_get_response>"
    )


def test_options_and_cli_compatibility() -> None:
    assert "taobao" in SANDBOX_PLATFORMS and "shopify" in SANDBOX_PLATFORMS
    options = Options(
        app_key="k",
        app_secret="s",
        access_token="t",
        seed=3,
        random_seed=9,
        push_url="http://127.0.0.1:9/x",
        orders_per_second=1.5,
    )
    assert options.seed == 3 and options.tmc_groups == frozenset(("default",))
    with pytest.raises(ValidationError):
        TaobaoSandboxOptions(push_url="ftp://x")
    with pytest.raises(ValidationError):
        TaobaoSandboxOptions(timezone="Mars/Base")
    with pytest.raises(ValidationError):
        TaobaoSandboxOptions(start_time=datetime(2026, 1, 1))


def test_same_seed_same_shop_and_rules() -> None:
    start = datetime(2026, 12, 3, 4, 0, tzinfo=UTC)
    a = TaobaoSandbox(TaobaoSandboxOptions(seed=40, random_seed=5, start_time=start))
    b = TaobaoSandbox(TaobaoSandboxOptions(seed=40, random_seed=5, start_time=start))
    assert list(a.state.trades) == list(b.state.trades)
    assert [t.payment for t in a.state.trades.values()] == [
        t.payment for t in b.state.trades.values()
    ]
    trade = next(t for t in a.state.trades.values() if t.status == "WAIT_SELLER_SEND_GOODS")
    with pytest.raises(StateError) as caught:
        a.state.confirm_receipt(trade.tid)
    assert caught.value.code == 15
    assert all(c.code.isupper() for c in CARRIERS)
