"""Refunds, TMC consume/confirm/redelivery, chaos, HTTP push, faults and the live stream."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import httpx

from tests.sandbox.taobao.conftest import SECRET, SELLER, Tb


def _consume(tb: Tb, **params: object) -> list[dict[str, object]]:
    body = tb.top.ok("taobao.tmc.messages.consume", session=False, **params)
    rows: list[dict[str, object]] = body.get("messages", {}).get("tmc_message", [])
    return rows


def test_refund_lifecycle_and_queries(tb: Tb) -> None:
    trade = tb.create(line_count=2, status="WAIT_BUYER_CONFIRM_GOODS")
    tid = trade["tid"]
    first, second = trade["orders"]["order"]
    created = tb.act(f"trades/{tid}/refunds", oid=first["oid"], reason="尺码拍错")["refund"]
    refund_id = created["refund_id"]
    assert created["status"] == "WAIT_SELLER_AGREE" and created["has_good_return"] is True

    fields = "refund_id,tid,oid,status,refund_fee,reason,refund_phase,has_good_return,modified"
    listed = tb.top.ok("taobao.refunds.receive.get", fields=fields, status="WAIT_SELLER_AGREE")
    ids = [r["refund_id"] for r in listed["refunds"]["refund"]]
    assert refund_id in ids
    detail = tb.top.ok("taobao.refund.get", refund_id=refund_id, fields=fields)["refund"]
    assert (detail["tid"], detail["oid"], detail["reason"]) == (tid, first["oid"], "尺码拍错")
    assert detail["refund_fee"] == first["divide_order_fee"]
    order_view = tb.top.ok("taobao.trade.fullinfo.get", tid=tid, fields="orders")["trade"]
    refunded = order_view["orders"]["order"][0]
    assert (refunded["refund_status"], refunded["refund_id"]) == ("WAIT_SELLER_AGREE", refund_id)

    tb.act(f"refunds/{refund_id}/agree")
    tb.act(f"refunds/{refund_id}/return_goods")
    tb.act(f"refunds/{refund_id}/success")
    after = tb.top.ok("taobao.trade.fullinfo.get", tid=tid, fields="status,orders")["trade"]
    orders = {o["oid"]: o for o in after["orders"]["order"]}
    assert orders[first["oid"]]["refund_status"] == "SUCCESS"
    assert orders[first["oid"]]["status"] == "TRADE_CLOSED"
    assert orders[second["oid"]]["refund_status"] == "NO_REFUND"
    assert after["status"] == "WAIT_BUYER_CONFIRM_GOODS"
    topics = [m["topic"] for m in tb.messages(tid=tid)]
    assert topics[-5:] == [
        "taobao_refund_RefundCreated",
        "taobao_refund_RefundSellerAgreeAgreement",
        "taobao_refund_RefundBuyerReturnGoods",
        "taobao_refund_RefundSuccess",
        "taobao_trade_TradePartlyRefund",
    ]
    content = json.loads(
        str(tb.messages(tid=tid, topic="taobao_refund_RefundSuccess")[0]["content"])
    )
    assert content["refund_id"] == int(refund_id) and content["bill_type"] == "return_bill"

    # refunding the last sub-order closes the trade
    other = tb.act(f"trades/{tid}/refunds", oid=second["oid"], has_good_return=False)["refund"]
    tb.act(f"refunds/{other['refund_id']}/agree")  # money only: agreeing completes it
    final = tb.top.ok("taobao.trade.fullinfo.get", tid=tid, fields="status")["trade"]
    assert final["status"] == "TRADE_CLOSED"
    assert tb.messages(tid=tid)[-1]["topic"] == "taobao_trade_TradeClose"
    refused = tb.create()
    rid = tb.act(f"trades/{refused['tid']}/refunds")["refund"]["refund_id"]
    assert tb.act(f"refunds/{rid}/refuse")["refund"]["status"] == "SELLER_REFUSE_BUYER"
    assert tb.top.error("taobao.refund.get", refund_id=1, fields="refund_id")["code"] == 15


def test_tmc_consume_confirm_and_redelivery(tb: Tb) -> None:
    assert _consume(tb) == []  # seeded history publishes nothing
    trade = tb.create(status="WAIT_SELLER_SEND_GOODS", line_count=1)
    batch = _consume(tb, quantity=10)
    assert [m["topic"] for m in batch] == [
        "taobao_trade_TradeCreate",
        "taobao_trade_TradeBuyerPay",
    ]
    message = batch[1]
    assert set(message) == {
        "id",
        "topic",
        "pub_app_key",
        "pub_time",
        "user_id",
        "user_nick",
        "content",
    }
    assert message["user_nick"] == SELLER and isinstance(message["id"], int)
    content = json.loads(str(message["content"]))
    assert content["tid"] == trade["tid"] and content["status"] == "WAIT_SELLER_SEND_GOODS"
    assert content["payment"] == trade["payment"] and content["buyer_open_uid"]
    assert content["buyer_nick"].count("*") == 2
    assert _consume(tb) == []  # in flight: not delivered twice before the timeout

    tb.top.ok("taobao.tmc.messages.confirm", session=False, s_message_ids=str(batch[0]["id"]))
    time.sleep(1.1)  # visibility timeout of the test sandbox is 1 s
    again = _consume(tb)
    assert [m["id"] for m in again] == [message["id"]]  # only the unconfirmed one, same id
    tb.top.ok("taobao.tmc.messages.confirm", session=False, f_message_ids=str(message["id"]))
    assert [m["id"] for m in _consume(tb)] == [message["id"]]  # failed: back immediately
    tb.top.ok("taobao.tmc.messages.confirm", session=False, s_message_ids=str(message["id"]))
    time.sleep(1.1)
    assert _consume(tb) == []
    states = {m["id"]: (m["state"], m["delivery_count"]) for m in tb.messages(tid=trade["tid"])}
    assert states == {batch[0]["id"]: ("confirmed", 1), message["id"]: ("confirmed", 3)}
    confirmations = tb.get("tmc/confirmations")["confirmations"]
    assert confirmations[-1]["s_message_ids"] == [message["id"]]


def test_tmc_quantity_groups_and_permit(tb: Tb) -> None:
    for _ in range(8):
        tb.create(status="WAIT_SELLER_SEND_GOODS", line_count=1)
    assert len(_consume(tb, quantity=10)) == 10
    assert len(_consume(tb, quantity=200)) == 6
    assert tb.top.error("taobao.tmc.messages.consume", session=False, quantity=500)["code"] == 41
    assert _consume(tb, group_name="erp_b") == []
    err = tb.top.error("taobao.tmc.messages.consume", session=False, group_name="nope")
    assert err["sub_code"] == "isv.group-not-exist"
    err = tb.top.error("taobao.tmc.messages.confirm", session=False)
    assert err["msg"] == "Missing required arguments:s_message_ids"

    tb.top.ok("taobao.tmc.user.cancel", session=False, nick=SELLER)
    user = tb.top.ok(
        "taobao.tmc.user.get", session=False, nick=SELLER, fields="user_nick,topics,is_valid"
    )["tmc_user"]
    assert user["is_valid"] is False
    tb.create()
    assert _consume(tb) == []  # not permitted: nothing is published
    tb.top.ok("taobao.tmc.user.permit", topics="taobao_trade_TradeSellerShip")
    assert tb.top.error("taobao.tmc.user.permit", topics="taobao_x_Y")["sub_code"] == (
        "isv.topic-not-exist"
    )
    paid = tb.create(line_count=1)
    assert _consume(tb) == []  # TradeCreate/TradeBuyerPay are not among the topics
    tb.act(f"trades/{paid['tid']}/ship")
    assert [m["topic"] for m in _consume(tb)] == ["taobao_trade_TradeSellerShip"]
    user = tb.top.ok("taobao.tmc.user.get", session=False, nick=SELLER, fields="topics,is_valid")
    assert user["tmc_user"] == {
        "is_valid": True,
        "topics": {"string": ["taobao_trade_TradeSellerShip"]},
    }


def test_tmc_duplicates_and_reordering(tb: Tb) -> None:
    tb.act("tmc/chaos", duplicate=1, reorder=3)
    trades = [tb.create(status="WAIT_BUYER_PAY", line_count=1) for _ in range(3)]
    messages = _consume(tb, quantity=50)
    tids = [json.loads(str(m["content"]))["tid"] for m in messages]
    # first message duplicated (new id, same content), then all of them in reverse order
    assert tids == [trades[2]["tid"], trades[1]["tid"], trades[0]["tid"], trades[0]["tid"]]
    assert messages[2]["content"] == messages[3]["content"]
    assert messages[2]["id"] != messages[3]["id"]
    rows = tb.messages()
    assert sum(1 for m in rows if m["duplicate_of"]) == 1
    assert all(m["reordered"] for m in rows)
    ids = ",".join(str(m["id"]) for m in messages)
    tb.top.ok("taobao.tmc.messages.confirm", session=False, s_message_ids=ids)
    # a partial reorder batch is released after the flush delay
    tb.act("tmc/chaos", reorder=5)
    tb.create(status="WAIT_BUYER_PAY", line_count=1)
    assert _consume(tb) == []
    time.sleep(2.1)
    assert len(_consume(tb)) == 1


def test_http_push_signed_and_retried(tb: Tb) -> None:
    tb.receiver.fail_next = 1
    trade = tb.create(status="WAIT_BUYER_PAY", line_count=1)
    received = tb.receiver.wait_for(lambda r: len(r) >= 2)
    assert tb.control.post("/_sandbox/pushes/wait", params={"within": 10}).json()["idle"]
    first, retry = received[0], received[1]
    assert first.body == retry.body  # the failed delivery was retried
    headers = retry.headers
    expected = hmac.new(SECRET.encode(), retry.body, hashlib.sha256).hexdigest().upper()
    assert headers["x-shopbridge-tmc-sign"] == expected
    assert headers["x-shopbridge-tmc-topic"] == "taobao_trade_TradeCreate"
    message = json.loads(retry.body)
    assert str(message["id"]) == headers["x-shopbridge-tmc-message-id"]
    assert json.loads(message["content"])["tid"] == trade["tid"]
    pushes = tb.get("pushes")["pushes"]
    assert pushes[0]["state"] == "delivered" and len(pushes[0]["attempts"]) == 2


def test_faults(tb: Tb) -> None:
    tb.act("faults", kind="error", api=r"trade\.fullinfo", count=2)
    err = tb.top.error("taobao.trade.fullinfo.get", tid=1, fields="tid")
    assert (err["code"], err["sub_code"]) == (15, "isp.top-remote-connection-error")
    tb.top.error("taobao.trade.fullinfo.get", tid=1, fields="tid")
    assert tb.top.error("taobao.trade.fullinfo.get", tid=1, fields="tid")["sub_code"] == (
        "isv.trade-not-exist"
    )
    assert tb.top.ok("taobao.time.get")  # other APIs were never affected

    tb.act("faults", kind="error", sub_code="isp.remote-service-timeout")
    assert tb.top.error("taobao.time.get")["sub_code"] == "isp.remote-service-timeout"
    tb.act("faults", kind="error", status=502)
    response = tb.top.request("taobao.time.get")
    assert response.status_code == 502 and "Bad Gateway" in response.text

    tb.act("faults", kind="rate_limit", seconds=5)
    err = tb.top.error("taobao.time.get")
    assert (err["code"], err["sub_msg"]) == (7, "This ban will last for 5 more seconds")
    tb.act("faults", kind="auth_expired")
    assert tb.top.error("taobao.time.get")["sub_code"] == "session-expired"

    tb.act("faults", kind="hang", seconds=0.6)
    started = time.monotonic()
    try:
        tb.top.request("taobao.time.get", timeout=0.2)
        raise AssertionError("the hang fault should make the client time out")
    except httpx.ReadTimeout:
        pass
    assert time.monotonic() - started < 0.6
    assert tb.get("faults")["faults"] == []
    assert (
        tb.control.post("/_sandbox/faults", json={"kind": "error", "sub_code": "x"}).status_code
        == 422
    )


def test_live_stream_tick_and_state(tb: Tb) -> None:
    before = tb.get("state")
    steps = tb.act("tick", steps=30)["steps"]
    assert len(steps) == 30 and any(s["action"] == "create" for s in steps)
    after = tb.get("state")
    assert after["trades"]["total"] > before["trades"]["total"]
    assert sum(after["tmc"]["messages"].values()) > 0
    health = tb.get("health")
    assert health["platform"] == "taobao" and health["seller_nick"] == SELLER
    tb.act("stream", orders_per_second=20)
    time.sleep(0.6)
    tb.act("stream", orders_per_second=0)
    assert tb.get("state")["stream"]["steps"] > 30
