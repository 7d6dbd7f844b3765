"""TOP request signing, checked against the published vector and an independent computation."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime

import pytest

from shopbridge.connectors import AuthExpired, Rejected
from shopbridge.connectors.taobao import TaobaoConnector
from shopbridge.connectors.taobao.transport import (
    DEFAULT_GATEWAY,
    format_timestamp,
    gateway_url,
    parse_ban_seconds,
    response_root,
    sign_params,
    signing_text,
)
from tests.connectors.taobao.helpers import APP_KEY, APP_SECRET, FIXED_NOW, SESSION, shop

PUBLISHED = {
    "method": "taobao.user.seller.get",
    "timestamp": "2013-05-06 13:52:03",
    "format": "xml",
    "app_key": "test",
    "v": "2.0",
    "fields": "nick",
    "sign_method": "md5",
    "session": "test",
}
"""The worked example of TOP's signature documentation (secret `test`)."""


def test_published_md5_vector() -> None:
    assert signing_text(PUBLISHED) == (
        "app_keytestfieldsnickformatxmlmethodtaobao.user.seller.getsessiontest"
        "sign_methodmd5timestamp2013-05-06 13:52:03v2.0"
    )
    assert sign_params(PUBLISHED, "test", "md5") == "72CB4D809B375A54502C09360D879C64"


@pytest.mark.parametrize(
    ("method", "expected"),
    [
        ("hmac", "FA15A9D5B42AB2D6F3397843851ED09A"),
        ("hmac-sha256", "267B9C1C7A2FE1CE413DBB95E596616D32107AE0992BE2C22143CFCE303E8E34"),
    ],
)
def test_hmac_vectors(method: str, expected: str) -> None:
    params = {**PUBLISHED, "sign_method": method}
    assert sign_params(params, "test", method) == expected


def _independent(params: dict[str, str], secret: str, method: str) -> str:
    text = "".join(k + params[k] for k in sorted(params) if k != "sign").encode()
    key = secret.encode()
    if method == "md5":
        return hashlib.md5(key + text + key).hexdigest().upper()
    algo = hashlib.md5 if method == "hmac" else hashlib.sha256
    return hmac.new(key, text, algo).hexdigest().upper()


@pytest.mark.parametrize("method", ["md5", "hmac", "hmac-sha256"])
def test_signature_matches_an_independent_computation(method: str) -> None:
    params = {
        "method": "taobao.trade.fullinfo.get",
        "fields": "tid,status,orders",
        "tid": "3950117702384416531",
        "timestamp": "2026-12-03 09:02:03",
        "v": "2.0",
        "app_key": "12345678",
        "sign_method": method,
        "format": "json",
        "session": "6100e2f0",
        "sign": "ignored",
    }
    assert sign_params(params, "helloworld", method) == _independent(params, "helloworld", method)


def test_unsupported_sign_method() -> None:
    with pytest.raises(ValueError, match="unsupported"):
        sign_params(PUBLISHED, "test", "sha1")


def test_signed_params_leave_out_empty_values() -> None:
    conn = TaobaoConnector(shop())
    conn.api.clock = lambda: FIXED_NOW
    params = conn.api.signed_params(
        "taobao.trade.fullinfo.get", {"tid": "1", "fields": "tid", "include_oaid": "", "x": None}
    )
    assert params["timestamp"] == "2026-12-03 09:02:03"
    assert params["app_key"] == APP_KEY and params["session"] == SESSION
    assert params["sign_method"] == "hmac-sha256"
    assert "include_oaid" not in params and "x" not in params
    assert params["sign"] == _independent(params, APP_SECRET, "hmac-sha256")
    unsigned = conn.api.signed_params("taobao.tmc.messages.consume", {}, session=False)
    assert "session" not in unsigned
    with pytest.raises(ValueError, match="clashes"):
        conn.api.signed_params("taobao.trade.fullinfo.get", {"method": "x"})


def test_missing_credentials_are_auth_expired_before_any_call() -> None:
    conn = TaobaoConnector(shop(credentials={"app_key": APP_KEY, "app_secret": APP_SECRET}))
    with pytest.raises(AuthExpired) as caught:
        conn.api.signed_params("taobao.trade.fullinfo.get", {})
    assert caught.value.code == "no_credentials"
    assert "session" in caught.value.message


def test_sign_method_setting() -> None:
    assert TaobaoConnector(shop(sign_method="md5")).api.sign_method == "md5"
    with pytest.raises(Rejected) as caught:
        TaobaoConnector(shop(sign_method="sha1"))
    assert caught.value.code == "configuration"


def test_gateway_urls() -> None:
    assert gateway_url(shop()) == DEFAULT_GATEWAY == "https://eco.taobao.com/router/rest"
    assert (
        gateway_url(shop(base_url="http://127.0.0.1:9000/")) == "http://127.0.0.1:9000/router/rest"
    )
    assert (
        gateway_url(shop(base_url="https://gw.api.tbsandbox.com/router/rest"))
        == "https://gw.api.tbsandbox.com/router/rest"
    )
    with pytest.raises(Rejected):
        gateway_url(shop(base_url="ftp://example.com"))


def test_response_roots() -> None:
    assert response_root("taobao.trade.fullinfo.get") == "trade_fullinfo_get_response"
    assert response_root("taobao.trades.sold.increment.get") == "trades_sold_increment_get_response"
    assert response_root("taobao.tmc.messages.consume") == "tmc_messages_consume_response"


def test_timestamps_are_shanghai_wall_clock() -> None:
    assert format_timestamp(datetime(2026, 11, 10, 16, 0, 5, tzinfo=UTC)) == "2026-11-11 00:00:05"
    with pytest.raises(ValueError, match="naive"):
        format_timestamp(datetime(2026, 11, 10, 16, 0, 5))


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("This ban will last for 1 more seconds", 1.0),
        ("This ban will last for 37 more seconds", 37.0),
        ("this ban will last for 2.5 more seconds", 2.5),
        ("禁止访问，剩余 12 秒", 12.0),
        ("App Call Limited", None),
        (None, None),
    ],
)
def test_ban_seconds(text: str | None, seconds: float | None) -> None:
    assert parse_ban_seconds(text) == seconds
