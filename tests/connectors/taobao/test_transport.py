"""TOP on the wire over httpx.MockTransport: request shape, envelopes, error classification,
rate-limit waits, timeouts."""

from __future__ import annotations

import hashlib
import hmac
import time

import httpx
import pytest

from shopbridge.connectors import (
    AuthExpired,
    MappingError,
    NotFound,
    RateLimited,
    Rejected,
    Unavailable,
)
from shopbridge.connectors.taobao.transport import classify_error, classify_response
from shopbridge.connectors.transport import CallRecord
from tests.connectors.taobao.helpers import (
    APP_KEY,
    APP_SECRET,
    GATEWAY,
    SESSION,
    connector,
    form,
    fullinfo,
    load,
    top_error,
)

TID = "3950334567890123456"


def trade_ok(request: httpx.Request) -> httpx.Response:
    return fullinfo(load("shipped"))


# ------------------------------------------------------------------ request shape


async def test_request_shape_and_signature() -> None:
    conn, sent, client = connector(trade_ok)
    order = await conn.get_order(TID)
    assert order.platform_order_id == TID
    (request,) = sent
    assert request.method == "POST"
    assert str(request.url) == GATEWAY
    assert request.headers["Content-Type"].startswith("application/x-www-form-urlencoded")
    params = form(request)
    assert params["method"] == "taobao.trade.fullinfo.get"
    assert params["app_key"] == APP_KEY
    assert params["session"] == SESSION
    assert params["timestamp"] == "2026-12-03 09:02:03"
    assert (params["format"], params["v"], params["sign_method"]) == ("json", "2.0", "hmac-sha256")
    assert params["tid"] == TID
    assert "orders" in params["fields"].split(",") and "oaid" in params["fields"].split(",")
    text = "".join(k + params[k] for k in sorted(params) if k != "sign")
    expected = hmac.new(APP_SECRET.encode(), text.encode(), hashlib.sha256).hexdigest().upper()
    assert params["sign"] == expected
    await client.aclose()


async def test_base_url_and_md5() -> None:
    conn, sent, client = connector(trade_ok, base_url="http://127.0.0.1:8124", sign_method="md5")
    await conn.get_order(TID)
    (request,) = sent
    assert str(request.url) == "http://127.0.0.1:8124/router/rest"
    params = form(request)
    text = "".join(k + params[k] for k in sorted(params) if k != "sign")
    key = APP_SECRET
    assert params["sign"] == hashlib.md5((key + text + key).encode()).hexdigest().upper()
    await client.aclose()


async def test_simplified_answer_without_root() -> None:
    conn, _, client = connector(lambda r: httpx.Response(200, json={"trade": load("shipped")}))
    assert (await conn.get_order(TID)).platform_order_id == TID
    await client.aclose()


# ------------------------------------------------------------------ classification


@pytest.mark.parametrize(
    ("answer", "error", "code"),
    [
        (
            top_error(27, "Invalid session", "invalid-sessionkey", "SessionKey非法"),
            AuthExpired,
            "27/invalid-sessionkey",
        ),
        (top_error(26, "Missing session"), AuthExpired, "26"),
        (
            top_error(15, "Remote service error", "isv.session-expired", "session过期"),
            AuthExpired,
            None,
        ),
        (top_error(25, "Invalid signature"), Rejected, "25"),
        (top_error(29, "Invalid app Key"), Rejected, "29"),
        (top_error(31, "Invalid timestamp"), Rejected, "31"),
        (
            top_error(11, "Insufficient isv permissions", "isv.permission-api-package-limit"),
            Rejected,
            None,
        ),
        (top_error(40, "Missing required arguments:tid"), Rejected, "40"),
        (top_error(41, "Invalid arguments:tid"), Rejected, "41"),
        (
            top_error(15, "Remote service error", "isv.trade-not-exist", "交易订单不存在"),
            NotFound,
            None,
        ),
        (
            top_error(
                15,
                "Remote service error",
                "isv.logistics-offline-service-error:B04",
                "订单状态不对",
            ),
            Rejected,
            None,
        ),
        (
            top_error(15, "Remote service error", "isp.top-remote-connection-timeout"),
            Unavailable,
            None,
        ),
        (top_error(15, "Remote service error"), Unavailable, "15"),
        (top_error(10, "Service currently unavailable"), Unavailable, "10"),
        (top_error(520, "Remote service error", "isp.remote-service-timeout"), Unavailable, None),
        (
            top_error(50, "Remote service error", "isv.invalid-parameter", "非法参数"),
            Rejected,
            None,
        ),
        (httpx.Response(502, text="<html>bad gateway</html>"), Unavailable, "http_502"),
        (httpx.Response(503), Unavailable, "http_503"),
        (httpx.Response(404, text="not here"), Rejected, "http_404"),
        (httpx.Response(200, text="<html>maintenance</html>"), Unavailable, "bad_json"),
        (httpx.Response(200, json=[1, 2]), MappingError, None),
    ],
)
def test_classification(answer: httpx.Response, error: type[Exception], code: str | None) -> None:
    result = classify_response(answer)
    assert isinstance(result, error)
    assert result.platform == "taobao"
    if code is not None:
        assert result.code == code
    assert result.message


def test_reasons_say_what_to_do() -> None:
    signature = classify_error({"code": 25, "msg": "Invalid signature"})
    assert isinstance(signature, Rejected) and "app_secret" in signature.reason
    clock = classify_error({"code": 31, "msg": "Invalid timestamp"})
    assert isinstance(clock, Rejected) and "clock" in clock.reason
    business = classify_error(
        {
            "code": 15,
            "msg": "Remote service error",
            "sub_code": "isv.x",
            "sub_msg": "运单号不符合规则",
        }
    )
    assert isinstance(business, Rejected) and business.reason == "运单号不符合规则"
    assert business.platform_message == "Remote service error; isv.x; 运单号不符合规则"
    session = classify_error({"code": 27, "msg": "Invalid session"})
    assert isinstance(session, AuthExpired) and "re-authorise" in session.message


@pytest.mark.parametrize(
    ("error", "seconds"),
    [
        (
            {
                "code": 7,
                "msg": "App Call Limited",
                "sub_code": "accesscontrol.limited-by-api-access-count",
                "sub_msg": "This ban will last for 37 more seconds",
            },
            37.0,
        ),
        ({"code": 7, "msg": "App Call Limited"}, 5.0),
        ({"code": 8, "msg": "App Call Exceeds Limited Frequency"}, 1.0),
        (
            {
                "code": 5,
                "msg": "Session Call Limited",
                "sub_msg": "This ban will last for 3 more seconds",
            },
            3.0,
        ),
        ({"code": 15, "msg": "x", "sub_code": "accesscontrol.limited-by-app-access-count"}, 5.0),
    ],
)
def test_call_limits(error: dict[str, object], seconds: float) -> None:
    result = classify_error(error)
    assert isinstance(result, RateLimited)
    assert result.retry_after == seconds


async def test_call_limit_is_waited_out_then_succeeds() -> None:
    answers = iter(
        [
            top_error(
                7,
                "App Call Limited",
                "accesscontrol.limited-by-api-access-count",
                "This ban will last for 1 more seconds",
            ),
            fullinfo(load("shipped")),
        ]
    )
    calls: list[CallRecord] = []
    conn, sent, client = connector(lambda r: next(answers))
    conn.api.transport.observer = calls.append
    started = time.monotonic()
    order = await conn.get_order(TID)
    assert order.platform_order_id == TID
    assert time.monotonic() - started >= 0.9
    assert len(sent) == 2
    assert [c.outcome for c in calls] == ["RateLimited", "ok"]
    assert calls[0].code == "7/accesscontrol.limited-by-api-access-count"
    assert calls[0].interface == "taobao.trade.fullinfo.get"
    await client.aclose()


async def test_call_limit_longer_than_the_budget_is_raised() -> None:
    conn, sent, client = connector(
        lambda r: top_error(
            7, "App Call Limited", sub_msg="This ban will last for 3600 more seconds"
        )
    )
    with pytest.raises(RateLimited) as caught:
        await conn.get_order(TID)
    assert caught.value.retry_after == 3600
    assert caught.value.interface == "taobao.trade.fullinfo.get"
    assert len(sent) == 1
    await client.aclose()


async def test_expired_session() -> None:
    conn, _, client = connector(lambda r: top_error(27, "Invalid session", "invalid-sessionkey"))
    with pytest.raises(AuthExpired) as caught:
        await conn.get_order(TID)
    assert caught.value.platform == "taobao"
    assert caught.value.interface == "taobao.trade.fullinfo.get"
    assert SESSION not in str(caught.value)
    await client.aclose()


async def test_http_502_then_recovery() -> None:
    answers = iter([httpx.Response(502), fullinfo(load("shipped"))])
    conn, _, client = connector(lambda r: next(answers))
    with pytest.raises(Unavailable):
        await conn.get_order(TID)
    assert (await conn.get_order(TID)).platform_order_id == TID
    await client.aclose()


@pytest.mark.parametrize(
    ("exc", "code"),
    [(httpx.ReadTimeout("slow"), "timeout"), (httpx.ConnectError("refused"), "connection")],
)
async def test_timeouts_and_connection_errors(exc: Exception, code: str) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise exc

    conn, _, client = connector(fail)
    with pytest.raises(Unavailable) as caught:
        await conn.get_order(TID)
    assert caught.value.code == code
    await client.aclose()


async def test_non_json_success_is_unavailable() -> None:
    conn, _, client = connector(lambda r: httpx.Response(200, text="<xml/>"))
    with pytest.raises(Unavailable) as caught:
        await conn.get_order(TID)
    assert caught.value.code == "bad_json"
    await client.aclose()


async def test_wrong_shape_success_is_a_mapping_error() -> None:
    conn, _, client = connector(
        lambda r: httpx.Response(200, json={"trade_fullinfo_get_response": {"trade": "oops"}})
    )
    with pytest.raises(MappingError) as caught:
        await conn.get_order(TID)
    assert caught.value.path == "$.trade"
    await client.aclose()


async def test_missing_credentials_send_nothing() -> None:
    conn, sent, client = connector(trade_ok, credentials={"app_key": APP_KEY, "session": SESSION})
    with pytest.raises(AuthExpired):
        await conn.get_order(TID)
    assert sent == []
    await client.aclose()
