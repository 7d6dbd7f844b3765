"""Trades: incremental download, paging, detail, masking/OAID, presale, statuses, memo."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from tests.sandbox.taobao.conftest import ORDER_FIELDS, Tb, parse_top_time, top_time

TIME = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
MONEY = re.compile(r"^\d+\.\d{2}$")


def _window(hours: float = 24) -> dict[str, str]:
    now = datetime.now(UTC)
    return {
        "start_modified": top_time(now - timedelta(hours=hours) + timedelta(seconds=5)),
        "end_modified": top_time(now + timedelta(seconds=5)),
    }


def test_increment_get_has_next_paging_backwards_complete(tb: Tb) -> None:
    api = "taobao.trades.sold.increment.get"
    full = tb.top.ok(api, fields="tid,modified", page_size=100, **_window())
    total = full["total_results"]
    assert total >= 30, "most seeded trades changed in the last day"
    assert "has_next" not in full
    modified = [parse_top_time(t["modified"]) for t in full["trades"]["trade"]]
    assert modified == sorted(modified, reverse=True), "newest modification first"

    seen: list[int] = []
    page_no, pages = 1, 0
    while True:
        body = tb.top.ok(
            api,
            fields="tid,tid_str",
            page_size=10,
            page_no=page_no,
            use_has_next="true",
            **_window(),
        )
        assert "total_results" not in body
        rows = body.get("trades", {}).get("trade", [])
        seen.extend(r["tid"] for r in rows)
        assert all(str(r["tid"]) == r["tid_str"] for r in rows)
        pages += 1
        if not body["has_next"]:
            break
        page_no += 1
    assert pages >= 3
    assert len(seen) == len(set(seen)) == total
    assert max(seen) > 2**53, "tids are above 2**53: clients need tid_str or int64"

    # past the end: no trades key at all (TOP leaves empty lists out)
    beyond = tb.top.ok(api, fields="tid", page_no=99, page_size=100, **_window())
    assert beyond["total_results"] == total and "trades" not in beyond


def test_increment_get_rules(tb: Tb) -> None:
    api = "taobao.trades.sold.increment.get"
    now = datetime.now(UTC)
    err = tb.top.error(api, fields="tid", start_modified=top_time(now - timedelta(hours=1)))
    assert err["msg"] == "Missing required arguments:end_modified"
    err = tb.top.error(
        api,
        fields="tid",
        start_modified=top_time(now - timedelta(days=1, minutes=1)),
        end_modified=top_time(now),
    )
    assert (err["code"], err["msg"]) == (41, "Invalid arguments:end_modified")
    err = tb.top.error(
        api,
        fields="tid",
        start_modified=top_time(now),
        end_modified=top_time(now - timedelta(hours=1)),
    )
    assert err["code"] == 41
    err = tb.top.error(api, fields="tid", start_modified="2026-12-01T10:00:00", end_modified="x")
    assert err["msg"] == "Invalid arguments:start_modified"

    paid = tb.top.ok(api, fields="tid,status", status="WAIT_SELLER_SEND_GOODS", **_window())
    assert {t["status"] for t in paid["trades"]["trade"]} == {"WAIT_SELLER_SEND_GOODS"}
    waiting = tb.top.ok(api, fields="status", status="ALL_WAIT_PAY", page_size=100, **_window())
    assert {t["status"] for t in waiting.get("trades", {}).get("trade", [])} <= {
        "WAIT_BUYER_PAY",
        "TRADE_NO_CREATE_PAY",
    }
    # tmall_i18n is not among the default types: only returned when asked for
    created = tb.create(type="tmall_i18n")
    default = tb.top.ok(api, fields="tid", page_size=100, **_window(1))
    assert created["tid"] not in [t["tid"] for t in default.get("trades", {}).get("trade", [])]
    explicit = tb.top.ok(api, fields="tid,type", type="tmall_i18n", page_size=100, **_window(1))
    assert created["tid"] in [t["tid"] for t in explicit["trades"]["trade"]]


def test_new_changes_appear_in_the_window(tb: Tb) -> None:
    trade = tb.create(status="WAIT_BUYER_PAY", line_count=1)
    window = _window(0.1)
    body = tb.top.ok(
        "taobao.trades.sold.increment.get", fields="tid,status", **window, page_size=100
    )
    assert {"tid": trade["tid"], "status": "WAIT_BUYER_PAY"} in body["trades"]["trade"]
    tb.act(f"trades/{trade['tid']}/pay")
    body = tb.top.ok(
        "taobao.trades.sold.increment.get", fields="tid,status", **_window(0.1), page_size=100
    )
    assert {"tid": trade["tid"], "status": "WAIT_SELLER_SEND_GOODS"} in body["trades"]["trade"]


def test_sold_get_by_creation(tb: Tb) -> None:
    now = datetime.now(UTC)
    body = tb.top.ok(
        "taobao.trades.sold.get",
        fields="tid,created",
        start_created=top_time(now - timedelta(days=30)),
        end_created=top_time(now),
        page_size=100,
        page_no=2,
    )
    assert body["total_results"] > 100
    created = [parse_top_time(t["created"]) for t in body["trades"]["trade"]]
    assert created == sorted(created, reverse=True)


def _check_trade(trade: dict[str, Any]) -> None:
    for key in ("created", "modified"):
        assert TIME.match(trade[key]), trade[key]
    for key in ("payment", "total_fee", "post_fee", "discount_fee", "adjust_fee"):
        assert MONEY.match(trade[key]), (key, trade[key])
    orders = trade["orders"]["order"]
    assert orders
    gross = sum(Decimal(o["price"]) * o["num"] for o in orders)
    assert Decimal(trade["total_fee"]) == gross
    payment = (
        sum(Decimal(o["total_fee"]) for o in orders)
        - Decimal(trade["discount_fee"])
        + Decimal(trade["post_fee"])
    )
    assert Decimal(trade["payment"]) == payment
    if len(orders) == 1:
        assert orders[0]["oid"] == trade["tid"]
        assert orders[0]["payment"] == trade["payment"]
    for order in orders:
        assert order["oid_str"] == str(order["oid"])
        assert order["refund_status"]
        assert order.get("sku_id") is None or isinstance(order["sku_id"], str)
        assert Decimal(order["divide_order_fee"]) == Decimal(order["total_fee"]) - Decimal(
            order["part_mjz_discount"]
        )


def test_fullinfo_shape_masking_and_oaid(tb: Tb) -> None:
    trade = tb.create(
        line_count=2,
        buyer={"name": "欧阳明月", "mobile": "14012345678", "address": "文三路138号5幢1201室"},
        invoice={"kind": "1", "name": "杭州示例科技有限公司", "type": "明细"},
        buyer_message="请尽快发货",
    )
    tid = trade["tid"]
    body = tb.top.ok("taobao.trade.fullinfo.get", tid=tid, fields=ORDER_FIELDS)
    full = body["trade"]
    _check_trade(full)
    assert full["tid_str"] == str(tid)
    assert full["receiver_name"] == "欧**"
    assert full["receiver_mobile"] == "140****5678"
    assert full["receiver_address"] == "文三路****"
    assert "14012345678" not in str(body) and "明月" not in str(body)
    assert full["buyer_nick"].count("*") == 2 and full["buyer_open_uid"].startswith("AAE")
    assert full["receiver_state"] == "浙江省" and full["receiver_city"] == "杭州市"
    assert full["invoice_kind"] == "1" and full["invoice_name"] == "杭州示例科技有限公司"
    assert full["buyer_message"] == "请尽快发货"
    assert len(full["oaid"]) > 30

    # the OAID is only generated when all five recipient fields are requested
    partial = tb.top.ok("taobao.trade.fullinfo.get", tid=tid, fields="tid,oaid,receiver_name")
    assert "oaid" not in partial["trade"]
    # same recipient, another trade: same OAID (mergeable)
    again = tb.create(
        buyer={"name": "欧阳明月", "mobile": "14012345678", "address": "文三路138号5幢1201室"}
    )
    second = tb.top.ok("taobao.trade.fullinfo.get", tid=again["tid"], fields=ORDER_FIELDS)
    assert second["trade"]["oaid"] == full["oaid"]


def test_every_seeded_trade_is_consistent(tb: Tb) -> None:
    body = tb.top.ok("taobao.trades.sold.get", fields=ORDER_FIELDS, page_size=100)
    rows = list(body["trades"]["trade"])
    body = tb.top.ok("taobao.trades.sold.get", fields=ORDER_FIELDS, page_size=100, page_no=2)
    rows.extend(body["trades"]["trade"])
    statuses = set()
    for trade in rows:
        _check_trade(trade)
        statuses.add(trade["status"])
    assert {
        "WAIT_BUYER_PAY",
        "WAIT_SELLER_SEND_GOODS",
        "SELLER_CONSIGNED_PART",
        "WAIT_BUYER_CONFIRM_GOODS",
        "TRADE_FINISHED",
        "TRADE_CLOSED",
        "TRADE_CLOSED_BY_TAOBAO",
    } <= statuses
    shipped = [t for t in rows if t["status"] == "WAIT_BUYER_CONFIRM_GOODS"]
    order = shipped[0]["orders"]["order"][0]
    assert order["logistics_company"] and order["invoice_no"] and order["consign_time"]


def test_presale_trade_stages(tb: Tb) -> None:
    trade = tb.create(type="step", line_count=1, deposit="50.00")
    tid = trade["tid"]
    assert (trade["type"], trade["status"]) == ("step", "WAIT_BUYER_PAY")
    assert trade["step_trade_status"] == "FRONT_NOPAID_FINAL_NOPAID"
    assert trade["step_paid_fee"] == "0.00"
    tb.act(f"trades/{tid}/pay_deposit")
    fields = "tid,status,step_trade_status,step_paid_fee,payment"
    body = tb.top.ok("taobao.trade.fullinfo.get", tid=tid, fields=fields)["trade"]
    assert body["status"] == "WAIT_BUYER_PAY"
    assert body["step_trade_status"] == "FRONT_PAID_FINAL_NOPAID"
    assert body["step_paid_fee"] == "50.00"
    err = tb.top.error(
        "taobao.logistics.offline.send", tid=tid, out_sid="SF1234567890123", company_code="SF"
    )
    assert err["sub_code"] == "isv.logistics-offline-service-error:B04"
    tb.act(f"trades/{tid}/pay_balance")
    body = tb.top.ok("taobao.trade.fullinfo.get", tid=tid, fields=fields)["trade"]
    assert (body["status"], body["step_trade_status"]) == (
        "WAIT_SELLER_SEND_GOODS",
        "FRONT_PAID_FINAL_PAID",
    )
    assert body["step_paid_fee"] == body["payment"]
    topics = [m["topic"] for m in tb.messages(tid=tid)]
    assert topics == [
        "taobao_trade_TradeCreate",
        "taobao_trade_TradeBuyerStepPay",
        "taobao_trade_TradeBuyerPay",
    ]
    # presale trades are listed with the default types ("step" is one of them)
    listed = tb.top.ok(
        "taobao.trades.sold.increment.get", fields="tid", page_size=100, **_window(0.1)
    )
    assert tid in [t["tid"] for t in listed["trades"]["trade"]]


def test_special_statuses_via_control(tb: Tb) -> None:
    for status in (
        "TRADE_NO_CREATE_PAY",
        "PAY_PENDING",
        "WAIT_PRE_AUTH_CONFIRM",
        "PAID_FORBID_CONSIGN",
        "SELLER_CONSIGNED_PART",
        "TRADE_BUYER_SIGNED",
        "TRADE_FINISHED",
        "TRADE_CLOSED",
        "TRADE_CLOSED_BY_TAOBAO",
    ):
        trade = tb.create(status=status, type="cod" if status == "TRADE_BUYER_SIGNED" else None)
        assert trade["status"] == status, (status, trade["status"])
    forbidden = tb.create(status="PAID_FORBID_CONSIGN", line_count=1)
    err = tb.top.error(
        "taobao.logistics.offline.send",
        tid=forbidden["tid"],
        out_sid="SF1234567890123",
        company_code="SF",
    )
    assert err["sub_code"].endswith(":B04")
    released = tb.act(f"trades/{forbidden['tid']}/release")["trade"]
    assert released["status"] == "WAIT_SELLER_SEND_GOODS"


def test_memo_update_via_api(tb: Tb) -> None:
    trade = tb.create()
    body = tb.top.ok("taobao.trade.memo.update", tid=trade["tid"], memo="仓库A已拣货", flag=3)
    assert body["trade"]["tid"] == trade["tid"]
    fields = "seller_memo,seller_flag"
    after = tb.top.ok("taobao.trade.fullinfo.get", tid=trade["tid"], fields=fields)["trade"]
    assert after == {"seller_memo": "仓库A已拣货", "seller_flag": 3}
    assert tb.top.error("taobao.trade.memo.update", tid=trade["tid"], flag=9)["code"] == 41
    topics = [m["topic"] for m in tb.messages(tid=trade["tid"])]
    assert topics[-1] == "taobao_trade_TradeMemoModified"
