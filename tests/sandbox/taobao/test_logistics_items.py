"""Shipping (offline/online/dummy send, split shipping) and stock (items, SKUs, updates)."""

from __future__ import annotations

from tests.sandbox.taobao.conftest import Tb

FIELDS = "tid,status,is_part_consign,consign_time,orders"


def test_logistics_companies(tb: Tb) -> None:
    body = tb.top.ok("taobao.logistics.companies.get", fields="id,code,name,reg_mail_no")
    companies = body["logistics_companies"]["logistics_company"]
    codes = {c["code"] for c in companies}
    assert {"SF", "ZTO", "YTO", "STO", "YUNDA", "EMS", "POSTB", "JD", "DBL", "ZJS"} <= codes
    assert all(set(c) == {"id", "code", "name", "reg_mail_no"} for c in companies)
    recommended = tb.top.ok("taobao.logistics.companies.get", fields="code", is_recommended="true")
    assert len(recommended["logistics_companies"]["logistics_company"]) < len(companies)


def test_offline_send_ships_everything(tb: Tb) -> None:
    trade = tb.create(line_count=2)
    tid = trade["tid"]
    body = tb.top.ok(
        "taobao.logistics.offline.send", tid=tid, out_sid="75123456789012", company_code="ZTO"
    )
    assert body == {"shipping": {"is_success": True}, "request_id": body["request_id"]}
    after = tb.top.ok("taobao.trade.fullinfo.get", tid=tid, fields=FIELDS)["trade"]
    assert after["status"] == "WAIT_BUYER_CONFIRM_GOODS"
    assert after["consign_time"]
    for order in after["orders"]["order"]:
        assert order["status"] == "WAIT_BUYER_CONFIRM_GOODS"
        assert (order["logistics_company"], order["invoice_no"]) == ("中通快递", "75123456789012")
    shipments = tb.get("shipments", tid=tid)["shipments"]
    assert len(shipments) == 1
    shipment = shipments[0]
    assert shipment["api"] == "taobao.logistics.offline.send"
    assert (shipment["company_code"], shipment["out_sid"]) == ("ZTO", "75123456789012")
    assert sorted(shipment["oids"]) == sorted(o["oid"] for o in trade["orders"]["order"])
    assert shipment["trade_status_after"] == "WAIT_BUYER_CONFIRM_GOODS"
    # shipping again is refused with Taobao's B04
    err = tb.top.error(
        "taobao.logistics.offline.send", tid=tid, out_sid="75123456789013", company_code="ZTO"
    )
    assert (err["code"], err["msg"], err["sub_code"]) == (
        15,
        "Remote service error",
        "isv.logistics-offline-service-error:B04",
    )
    assert err["sub_msg"] == "订单状态不对该物流订单已经发货或者已关闭\uff0c不能重复发货"
    topics = [m["topic"] for m in tb.messages(tid=tid)]
    assert topics[-1] == "taobao_trade_TradeSellerShip"


def test_split_shipping_with_sub_tid(tb: Tb) -> None:
    trade = tb.create(line_count=3)
    tid = trade["tid"]
    oids = [o["oid"] for o in trade["orders"]["order"]]
    first = tb.top.ok(
        "taobao.logistics.offline.send",
        tid=tid,
        out_sid="SF1234567890001",
        company_code="SF",
        is_split=1,
        sub_tid=str(oids[0]),
    )
    assert first["shipping"]["is_success"] is True
    after = tb.top.ok("taobao.trade.fullinfo.get", tid=tid, fields=FIELDS)["trade"]
    assert after["status"] == "SELLER_CONSIGNED_PART" and after["is_part_consign"] is True
    statuses = {o["oid"]: o["status"] for o in after["orders"]["order"]}
    assert statuses[oids[0]] == "WAIT_BUYER_CONFIRM_GOODS"
    assert statuses[oids[1]] == statuses[oids[2]] == "WAIT_SELLER_SEND_GOODS"
    # an already shipped or foreign sub-order fails the split check
    err = tb.top.error(
        "taobao.logistics.offline.send",
        tid=tid,
        out_sid="SF1234567890002",
        company_code="SF",
        is_split=1,
        sub_tid=f"{oids[0]},{oids[1]}",
    )
    assert err["sub_code"] == "isv.logistics-offline-service-error:P38"
    err = tb.top.error(
        "taobao.logistics.offline.send", tid=tid, out_sid="SF1", company_code="SF", is_split=1
    )
    assert err["msg"] == "Missing required arguments:sub_tid"
    tb.top.ok(
        "taobao.logistics.offline.send",
        tid=tid,
        out_sid="YT1234567890123",
        company_code="YTO",
        is_split=1,
        sub_tid=f"{oids[1]},{oids[2]}",
    )
    after = tb.top.ok("taobao.trade.fullinfo.get", tid=tid, fields=FIELDS)["trade"]
    assert after["status"] == "WAIT_BUYER_CONFIRM_GOODS"
    companies = {o["oid"]: o["logistics_company"] for o in after["orders"]["order"]}
    assert companies == {oids[0]: "顺丰速运", oids[1]: "圆通速递", oids[2]: "圆通速递"}
    shipments = tb.get("shipments", tid=tid)["shipments"]
    assert [s["trade_status_after"] for s in shipments] == [
        "SELLER_CONSIGNED_PART",
        "WAIT_BUYER_CONFIRM_GOODS",
    ]
    topics = [m["topic"] for m in tb.messages(tid=tid)]
    assert topics[-2:] == ["taobao_trade_TradePartlySellerShip", "taobao_trade_TradeSellerShip"]


def test_shipping_errors(tb: Tb) -> None:
    api = "taobao.logistics.offline.send"
    trade = tb.create()
    tid = trade["tid"]
    err = tb.top.error(api, tid=tid, out_sid="123", company_code="SF")
    assert err["sub_code"] == "isv.logistics-offline-service-error:B60"
    err = tb.top.error(api, tid=tid, out_sid="SF1234567890123", company_code="NOPE")
    assert (err["code"], err["msg"]) == (41, "Invalid arguments:company_code")
    err = tb.top.error(api, tid=1234, out_sid="SF1234567890123", company_code="SF")
    assert err["sub_code"] == "isv.logistics-offline-service-error:B01"
    err = tb.top.error(api, tid=tid, company_code="SF")
    assert err["msg"] == "Missing required arguments:out_sid"
    unpaid = tb.create(status="WAIT_BUYER_PAY")
    err = tb.top.error(api, tid=unpaid["tid"], out_sid="SF1234567890123", company_code="SF")
    assert err["sub_code"].endswith(":B04")
    cod = tb.create(type="cod")
    err = tb.top.error(api, tid=cod["tid"], out_sid="SF1234567890123", company_code="SF")
    assert err["sub_code"] == "isv.logistics-offline-service-error:CD01"
    # a tracking number already used for another trade is refused too
    tb.top.ok(api, tid=tid, out_sid="SF1234567890123", company_code="SF")
    other = tb.create()
    err = tb.top.error(api, tid=other["tid"], out_sid="SF1234567890123", company_code="SF")
    assert err["sub_code"].endswith(":B60")
    assert tb.get("shipments", tid=other["tid"])["shipments"] == []


def test_online_and_dummy_send(tb: Tb) -> None:
    cod = tb.create(type="cod")
    tid = cod["tid"]
    tb.top.ok("taobao.logistics.online.send", tid=tid, company_code="SF")
    pending = tb.top.ok("taobao.trade.fullinfo.get", tid=tid, fields="status")["trade"]
    assert pending["status"] == "WAIT_SELLER_SEND_GOODS"  # booked, no tracking number yet
    assert tb.get("shipments", tid=tid)["shipments"][0]["confirmed"] is False
    tb.top.ok("taobao.logistics.online.confirm", tid=tid, out_sid="SF1234567890777")
    shipped = tb.top.ok("taobao.trade.fullinfo.get", tid=tid, fields="status")["trade"]
    assert shipped["status"] == "WAIT_BUYER_CONFIRM_GOODS"
    tb.act(f"trades/{tid}/sign")
    signed = tb.top.ok("taobao.trade.fullinfo.get", tid=tid, fields="status")["trade"]
    assert signed["status"] == "TRADE_BUYER_SIGNED"

    virtual = tb.create()
    tb.top.ok("taobao.logistics.dummy.send", tid=virtual["tid"])
    body = tb.top.ok("taobao.trade.fullinfo.get", tid=virtual["tid"], fields="status,orders")
    assert body["trade"]["status"] == "WAIT_BUYER_CONFIRM_GOODS"
    assert body["trade"]["orders"]["order"][0]["shipping_type"] == "virtual"


def test_items_skus_discovery(tb: Tb) -> None:
    body = tb.top.ok(
        "taobao.items.onsale.get", fields="num_iid,title,num,outer_id,price", page_size=5
    )
    assert body["total_results"] == 10
    items = body["items"]["item"]
    assert len(items) == 5
    num_iids = [i["num_iid"] for i in items]
    skus = tb.top.ok(
        "taobao.item.skus.get",
        num_iids=",".join(map(str, num_iids)),
        fields="sku_id,num_iid,outer_id,quantity,properties_name,price",
    )["skus"]["sku"]
    assert {s["num_iid"] for s in skus} <= set(num_iids)
    assert all(":" in s["properties_name"] for s in skus)
    item = tb.top.ok("taobao.item.seller.get", num_iid=num_iids[0], fields="num_iid,num,title,sku")[
        "item"
    ]
    own = [s for s in skus if s["num_iid"] == num_iids[0]]
    if own:
        assert len(item["skus"]["sku"]) == len(own)
        assert item["num"] == sum(s["quantity"] for s in item["skus"]["sku"])
    err = tb.top.error("taobao.item.seller.get", num_iid=1, fields="num_iid")
    assert err["sub_code"].startswith("isv.item-not-exist")


def _first_sku(tb: Tb) -> dict[str, int | str]:
    stock = tb.get("stock")["items"]
    item = next(i for i in stock if i["skus"])
    sku: dict[str, int | str] = item["skus"][0]
    return sku


def test_item_quantity_update_full_and_delta(tb: Tb) -> None:
    sku = _first_sku(tb)
    num_iid, sku_id = sku["num_iid"], sku["sku_id"]
    body = tb.top.ok(
        "taobao.item.quantity.update", num_iid=num_iid, sku_id=sku_id, quantity=77, type=1
    )
    item = body["item"]
    assert item["num_iid"] == num_iid
    assert item["skus"]["sku"][0] == {
        **item["skus"]["sku"][0],
        "sku_id": sku_id,
        "quantity": 77,
    }
    tb.top.ok("taobao.item.quantity.update", num_iid=num_iid, sku_id=sku_id, quantity=-7, type=2)
    err = tb.top.error(
        "taobao.item.quantity.update", num_iid=num_iid, sku_id=sku_id, quantity=-100, type=2
    )
    assert err["code"] == 15  # would go below zero (skus.quantity.update clamps instead)
    err = tb.top.error("taobao.item.quantity.update", num_iid=num_iid, sku_id=sku_id, quantity=-1)
    assert err["msg"] == "Invalid arguments:quantity"
    changes = tb.get("stock/changes", sku_id=sku_id)["changes"]
    assert [(c["type"], c["requested"], c["quantity"]) for c in changes] == [
        (1, 77, 77),
        (2, -7, 70),
    ]
    assert changes[0]["api"] == "taobao.item.quantity.update"
    assert changes[1]["previous"] == 77
    # by merchant code
    tb.top.ok("taobao.item.quantity.update", num_iid=num_iid, outer_id=sku["outer_id"], quantity=5)
    current = next(s for i in tb.get("stock")["items"] for s in i["skus"] if s["sku_id"] == sku_id)
    assert current["quantity"] == 5


def test_skus_quantity_update(tb: Tb) -> None:
    stock = tb.get("stock")["items"]
    item = next(i for i in stock if len(i["skus"]) >= 2)
    a, b = item["skus"][0], item["skus"][1]
    body = tb.top.ok(
        "taobao.skus.quantity.update",
        num_iid=item["num_iid"],
        skuid_quantities=f"{a['sku_id']}:10;{b['sku_id']}:20",
    )
    got = {s["sku_id"]: s["quantity"] for s in body["item"]["skus"]["sku"]}
    assert got == {a["sku_id"]: 10, b["sku_id"]: 20}
    body = tb.top.ok(
        "taobao.skus.quantity.update",
        num_iid=item["num_iid"],
        outerid_quantities=f"{a['outer_id']}:-50",
        type=2,
    )
    assert body["item"]["skus"]["sku"][0]["quantity"] == 0  # incremental clamps at zero
    err = tb.top.error("taobao.skus.quantity.update", num_iid=item["num_iid"])
    assert err["msg"] == "Missing required arguments:skuid_quantities"
    err = tb.top.error(
        "taobao.skus.quantity.update", num_iid=item["num_iid"], skuid_quantities="oops"
    )
    assert err["code"] == 41
    assert len(tb.get("stock/changes", num_iid=item["num_iid"])["changes"]) == 3


def test_stock_is_reserved_by_new_trades(tb: Tb) -> None:
    sku = _first_sku(tb)
    tb.top.ok(
        "taobao.item.quantity.update", num_iid=sku["num_iid"], sku_id=sku["sku_id"], quantity=3
    )
    trade = tb.create(lines=[{"sku_id": sku["sku_id"], "num": 2}], status="WAIT_BUYER_PAY")
    current = next(
        s for i in tb.get("stock")["items"] for s in i["skus"] if s["sku_id"] == sku["sku_id"]
    )
    assert current["quantity"] == 1
    tb.act(f"trades/{trade['tid']}/close")
    current = next(
        s for i in tb.get("stock")["items"] for s in i["skus"] if s["sku_id"] == sku["sku_id"]
    )
    assert current["quantity"] == 3
