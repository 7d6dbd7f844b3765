"""The TOP protocol: system parameters, signatures, envelopes, errors, call limit."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from tests.sandbox.taobao.conftest import APP_KEY, SECRET, Tb, top_sign, top_time


@pytest.mark.parametrize("sign_method", ["md5", "hmac", "hmac-sha256"])
def test_each_sign_method_good_and_bad(tb: Tb, sign_method: str) -> None:
    body = tb.top.ok("taobao.time.get", sign_method=sign_method)
    assert (
        abs(
            (
                datetime.strptime(body["time"], "%Y-%m-%d %H:%M:%S")
                - datetime.now(UTC).replace(tzinfo=None)
                - timedelta(hours=8)
            ).total_seconds()
        )
        < 5
    )
    err = tb.top.error("taobao.time.get", sign_method=sign_method, secret="wrong-secret")
    assert (err["code"], err["msg"]) == (25, "Invalid signature")


def test_signature_covers_query_and_body(tb: Tb) -> None:
    # Tamper with a business parameter after signing: the body is part of the signature.
    params = {
        "method": "taobao.trade.fullinfo.get",
        "app_key": APP_KEY,
        "timestamp": top_time(),
        "format": "json",
        "v": "2.0",
        "sign_method": "md5",
        "session": tb.top.session or "",
    }
    business = {"tid": "1", "fields": "tid"}
    params["sign"] = top_sign({**params, **business}, SECRET, "md5")
    ok = tb.top.http.post("/router/rest", params=params, data=business).json()
    assert ok["error_response"]["sub_code"] == "isv.trade-not-exist"  # signature accepted
    tampered = tb.top.http.post("/router/rest", params=params, data={**business, "tid": "2"})
    assert tampered.json()["error_response"]["code"] == 25
    # Everything in the query string (GET) works too, and so does the /top/ path.
    get = tb.top.ok("taobao.time.get", http_method="GET")
    assert get["time"]
    tb.top.path = "/top/router/rest"
    assert tb.top.ok("taobao.time.get")["time"]


def test_empty_values_signed_either_way(tb: Tb) -> None:
    params = {
        "method": "taobao.logistics.companies.get",
        "app_key": APP_KEY,
        "timestamp": top_time(),
        "format": "json",
        "v": "2.0",
        "sign_method": "md5",
    }
    business = {"fields": "code", "order_mode": ""}
    java_style = top_sign({**params, "fields": "code"}, SECRET, "md5")  # empty value left out
    python_style = top_sign({**params, **business}, SECRET, "md5")  # "order_mode" + ""
    for sign in (java_style, python_style):
        data = tb.top.http.post(
            "/router/rest", params={**params, "sign": sign}, data=business
        ).json()
        assert "logistics_companies_get_response" in data, data


def test_legacy_millisecond_timestamp_and_skew(tb: Tb) -> None:
    millis = str(int(time.time() * 1000))
    assert tb.top.ok("taobao.time.get", timestamp=millis)["time"]
    old = top_time(datetime.now(UTC) - timedelta(minutes=11))
    err = tb.top.error("taobao.time.get", timestamp=old)
    assert (err["code"], err["msg"]) == (31, "Invalid timestamp")
    assert "10" in err["sub_msg"]
    near = top_time(datetime.now(UTC) - timedelta(minutes=9))
    assert tb.top.ok("taobao.time.get", timestamp=near)["time"]
    err = tb.top.error("taobao.time.get", timestamp="2026/12/03 10:00")
    assert err["code"] == 31


@pytest.mark.parametrize(
    ("drop", "code", "msg"),
    [
        ("method", 21, "Missing method"),
        ("app_key", 28, "Missing app key"),
        ("timestamp", 30, "Missing timestamp"),
        ("v", 32, "Missing version"),
        ("sign", 24, "Missing signature"),
    ],
)
def test_missing_system_parameters(tb: Tb, drop: str, code: int, msg: str) -> None:
    err = tb.top.error("taobao.time.get", drop=(drop,))
    assert (err["code"], err["msg"]) == (code, msg)


def test_protocol_errors(tb: Tb) -> None:
    err = tb.top.error("taobao.no.such.api")
    assert (err["code"], err["msg"]) == (22, "Invalid method")
    other_app = tb.top.error("taobao.time.get", system={"app_key": "99999999"})
    assert (other_app["code"], other_app["sub_code"]) == (29, "isv.appkey-not-exists")
    assert tb.top.error("taobao.time.get", system={"v": "1.0"})["code"] == 34
    assert tb.top.error("taobao.time.get", system={"sign_method": "sha1"})["code"] == 41
    response = tb.top.request("taobao.time.get", fmt="yaml")
    assert response.json()["error_response"]["code"] == 23
    response = tb.top.request("taobao.time.get", http_method="PUT")
    assert response.status_code == 200
    assert response.json()["error_response"]["code"] == 9
    # sign_method omitted: md5 (what the Java SDK does when it is not set)
    assert tb.top.ok("taobao.time.get", drop=("sign_method",))["time"]


def test_session_errors(tb: Tb) -> None:
    api = "taobao.trades.sold.get"
    err = tb.top.error(api, session=False, fields="tid")
    assert (err["code"], err["msg"]) == (26, "Missing session")
    err = tb.top.error(api, session="6100not-a-session", fields="tid")
    assert (err["code"], err["msg"], err["sub_code"]) == (
        27,
        "Invalid session",
        "invalid-sessionkey",
    )
    tb.act("session", action="expire")
    err = tb.top.error(api, fields="tid")
    assert (err["code"], err["sub_code"]) == (27, "session-expired")
    tb.act("session", action="rotate", session="6100rotated")
    assert tb.top.error(api, fields="tid")["code"] == 27
    assert tb.top.ok(api, session="6100rotated", fields="tid")["total_results"] > 0
    # APIs without user authorization do not need a session
    assert tb.top.ok("taobao.logistics.companies.get", session=False, fields="code")


def test_missing_and_invalid_business_arguments(tb: Tb) -> None:
    err = tb.top.error("taobao.trade.fullinfo.get", tid="123")
    assert (err["code"], err["msg"]) == (40, "Missing required arguments:fields")
    err = tb.top.error("taobao.trade.fullinfo.get", fields="tid")
    assert (err["code"], err["msg"]) == (40, "Missing required arguments:tid")
    err = tb.top.error("taobao.trade.fullinfo.get", fields="tid", tid="abc")
    assert (err["code"], err["msg"]) == (41, "Invalid arguments:tid")
    err = tb.top.error("taobao.trades.sold.get", fields="tid", page_size=101)
    assert (err["code"], err["msg"]) == (41, "Invalid arguments:page_size")
    err = tb.top.error("taobao.trades.sold.get", fields="tid", status="SHIPPED")
    assert err["code"] == 41
    err = tb.top.error("taobao.trade.fullinfo.get", fields="tid", tid="1")
    assert (err["code"], err["msg"], err["sub_code"], err["sub_msg"]) == (
        15,
        "Remote service error",
        "isv.trade-not-exist",
        "交易订单不存在",
    )


def test_permission_denied(tb: Tb) -> None:
    tb.act("permissions", deny=["taobao.trades.sold.get"])
    err = tb.top.error("taobao.trades.sold.get", fields="tid")
    assert (err["code"], err["sub_code"]) == (11, "isv.permission-api-package-limit")
    tb.act("permissions", allow=["taobao.trades.sold.get"])
    assert tb.top.ok("taobao.trades.sold.get", fields="tid")["total_results"] > 0


def test_call_limit_bans_with_seconds(tb: Tb) -> None:
    tb.act("rate_limit", call_limit=3, window_seconds=30, ban_seconds=2)
    for _ in range(3):
        tb.top.ok("taobao.time.get")
    err = tb.top.error("taobao.time.get")
    assert (err["code"], err["msg"], err["sub_code"]) == (
        7,
        "App Call Limited",
        "accesscontrol.limited-by-app-access-count",
    )
    assert err["sub_msg"] == "This ban will last for 2 more seconds"
    again = tb.top.error("taobao.time.get")
    assert again["code"] == 7 and "more seconds" in again["sub_msg"]
    state = tb.get("rate_limit")
    assert state["banned_for"] > 0
    time.sleep(2.05)
    assert tb.top.ok("taobao.time.get")["time"]  # the ban is over, a new window starts
    tb.act("rate_limit", ban=30)
    assert tb.top.error("taobao.time.get")["sub_msg"] == "This ban will last for 30 more seconds"
    tb.act("rate_limit", reset=True)
    assert tb.top.ok("taobao.time.get")["time"]


def test_envelopes_json_simplified_xml(tb: Tb) -> None:
    fields = "tid,status,orders.oid,orders.title"
    data = tb.top.call("taobao.trades.sold.get", fields=fields, page_size=2)
    body = data["trades_sold_get_response"]
    assert set(body) == {"total_results", "trades", "request_id"}
    trade = body["trades"]["trade"][0]
    assert set(trade) == {"tid", "status", "orders"}
    assert set(trade["orders"]["order"][0]) == {"oid", "title"}

    simple = tb.top.call("taobao.trades.sold.get", fields=fields, page_size=2, simplify=True)
    assert set(simple) == {"total_results", "trades", "request_id"}
    assert isinstance(simple["trades"], list)
    assert isinstance(simple["trades"][0]["orders"], list)
    err = tb.top.call("taobao.trade.fullinfo.get", fields="tid", tid=1, simplify=True)
    assert set(err) == {"error_response"}  # errors keep their root

    xml = tb.top.request("taobao.trades.sold.get", fmt="xml", fields=fields, page_size=1)
    assert xml.headers["content-type"].startswith("text/xml")
    text = xml.text
    assert text.startswith('<?xml version="1.0" encoding="utf-8" ?><trades_sold_get_response>')
    assert '<trades list="true"><trade><tid>' in text and "<request_id>" in text
    bad = tb.top.request("taobao.no.such.api", fmt="xml").text
    assert "<error_response><code>22</code><msg>Invalid method</msg>" in bad

    raw = tb.top.request("taobao.time.get")
    assert raw.headers["content-type"] == "text/javascript;charset=UTF-8"
    calls = tb.get("calls")["calls"]
    assert calls[-1]["api"] == "taobao.time.get" and calls[-1]["ok"] is True
