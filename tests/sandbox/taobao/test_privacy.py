"""Privacy shipping on the Taobao sandbox: ``cainiao.waybill.ii.get`` by OAID (plaintext
refused and counted) and ``taobao.top.oaid.decrypt``, through the independent TOP client."""

from __future__ import annotations

import json
import re
from typing import Any

from tests.sandbox.taobao.conftest import Tb

WAYBILL = "cainiao.waybill.ii.get"
DECRYPT = "taobao.top.oaid.decrypt"
BUYER = {
    "name": "欧阳明月",
    "mobile": "13912345678",
    "phone": "0571-88886666",
    "state": "浙江省",
    "city": "杭州市",
    "district": "西湖区",
    "town": "文新街道",
    "address": "文一西路969号3号楼",
}
TEMPLATE = "http://cloudprint.cainiao.com/template/standard/101"


def _sender() -> dict[str, Any]:
    return {
        "name": "仓库发货员",
        "mobile": "13000000000",
        "address": {
            "province": "浙江省",
            "city": "杭州市",
            "district": "余杭区",
            "detail": "仓前街道良睦路1号",
        },
    }


def _dto(trade: dict[str, Any], package_id: str | None = "P1", **recipient: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "address": {"province": "浙江省", "city": "杭州市", "district": "西湖区"},
        "oaid": trade["oaid"],
        "tid": trade["tid_str"],
    }
    body.update(recipient)
    package: dict[str, Any] = {"items": [{"name": "T恤", "count": 1}], "weight": 300}
    if package_id is not None:
        package["id"] = package_id
    return {
        "object_id": f"obj-{trade['tid_str']}-{package_id}",
        "order_info": {"order_channels_type": "TB", "trade_order_list": [trade["tid_str"]]},
        "package_info": package,
        "recipient": {k: v for k, v in body.items() if v is not None},
        "template_url": TEMPLATE,
    }


def _request(*dtos: dict[str, Any], cp_code: str = "SF", **extra: Any) -> str:
    return json.dumps(
        {"cp_code": cp_code, "sender": _sender(), "trade_order_info_dtos": list(dtos), **extra},
        ensure_ascii=False,
    )


def _modules(body: dict[str, Any]) -> list[dict[str, Any]]:
    modules: list[dict[str, Any]] = body["modules"]["waybill_cloud_print_response"]
    return modules


def _query(trade: dict[str, Any], scene: str = "1001", **extra: Any) -> dict[str, Any]:
    return {"tid": trade["tid_str"], "oaid": trade["oaid"], "scene": scene, **extra}


def test_waybill_by_oaid_prints_without_plaintext(tb: Tb) -> None:
    trade = tb.create(buyer=BUYER)
    assert trade["receiver_name"] == "欧**" and trade["oaid"]
    body = tb.top.ok(WAYBILL, param_waybill_cloud_print_apply_new_request=_request(_dto(trade)))
    (module,) = _modules(body)
    assert module["object_id"] == f"obj-{trade['tid_str']}-P1"
    assert re.fullmatch(r"SF\d{13}", module["waybill_code"])
    assert module["cp_code"] == "SF"
    assert "parent_waybill_code" not in module
    document = json.loads(module["print_data"])
    assert set(document) == {"encryptedData", "signature", "templateURL", "ver"}
    assert document["templateURL"] == TEMPLATE
    for value in (BUYER["name"], BUYER["mobile"], BUYER["address"], "88886666"):
        assert value not in module["print_data"]
    # only the cloud-print component reads the label, with the real recipient on it
    label = tb.act("cloudprint/render", print_data=module["print_data"])["label"]
    assert label["waybillCode"] == module["waybill_code"]
    assert label["recipient"]["name"] == BUYER["name"]
    assert label["recipient"]["address"]["detail"] == BUYER["address"]
    state = tb.get("waybills", tid=trade["tid"])
    assert state["plaintext_violations"] == 0
    (request,) = state["requests"]
    assert request["accepted"] and request["used_oaid"] and request["plaintext_paths"] == []
    (issued,) = state["waybills"]
    assert (issued["waybill_code"], issued["recipient_mode"]) == (module["waybill_code"], "oaid")


def test_same_package_same_waybill_and_multi_package_parent(tb: Tb) -> None:
    trade = tb.create(buyer=BUYER)
    param = _request(_dto(trade, "P1"))
    first = _modules(tb.top.ok(WAYBILL, param_waybill_cloud_print_apply_new_request=param))[0]
    again = _modules(tb.top.ok(WAYBILL, param_waybill_cloud_print_apply_new_request=param))[0]
    assert again["waybill_code"] == first["waybill_code"]
    other = _modules(
        tb.top.ok(
            WAYBILL,
            param_waybill_cloud_print_apply_new_request=_request(
                _dto(trade, "P2"), multi_packages_shipment=True
            ),
        )
    )[0]
    assert other["waybill_code"] != first["waybill_code"]
    assert other["parent_waybill_code"] == first["waybill_code"]
    zto = _modules(
        tb.top.ok(
            WAYBILL,
            param_waybill_cloud_print_apply_new_request=_request(_dto(trade), cp_code="ZTO"),
        )
    )[0]
    assert re.fullmatch(r"7[3-8]\d{12}", zto["waybill_code"])
    issued = tb.get("waybills", tid=trade["tid"])["waybills"]
    assert len(issued) == 3
    assert (
        next(w for w in issued if w["package_id"] == "P1" and w["cp_code"] == "SF")["requests"] == 2
    )


def test_plaintext_recipient_is_refused_and_counted(tb: Tb) -> None:
    trade = tb.create(buyer=BUYER)
    leaks = [
        _dto(trade, name=BUYER["name"]),
        _dto(trade, mobile=BUYER["mobile"]),
        _dto(trade, phone="0571 8888 6666"),
        _dto(trade, address={"province": "浙江省", "city": "杭州市", "detail": BUYER["address"]}),
    ]
    leaky_items = _dto(trade)
    leaky_items["package_info"]["items"][0]["name"] = f"T恤 给{BUYER['name']}"
    leaks.append(leaky_items)
    for dto in leaks:
        err = tb.top.error(WAYBILL, param_waybill_cloud_print_apply_new_request=_request(dto))
        assert (err["code"], err["sub_code"]) == (15, "isv.invalid-parameter")
        assert "oaid" in err["sub_msg"]
        for value in (BUYER["name"], BUYER["mobile"], BUYER["address"]):
            assert value not in err["sub_msg"]
    state = tb.get("waybills", tid=trade["tid"])
    assert state["plaintext_violations"] == len(leaks)
    assert state["waybills"] == []
    paths = [r["plaintext_paths"] for r in state["requests"]]
    assert paths[0] == ["trade_order_info_dtos[0].recipient.name"]
    assert paths[2] == ["trade_order_info_dtos[0].recipient.phone"]
    assert paths[4] == ["trade_order_info_dtos[0].package_info.items[0].name"]
    assert not any(r["accepted"] for r in state["requests"])
    # the masked values Taobao hands out are not plaintext
    masked = _dto(trade, name=trade["receiver_name"], mobile=trade["receiver_mobile"])
    tb.top.ok(WAYBILL, param_waybill_cloud_print_apply_new_request=_request(masked))
    assert tb.get("waybills")["plaintext_violations"] == len(leaks)


def test_taobao_orders_need_a_current_oaid_and_tid(tb: Tb) -> None:
    trade = tb.create(buyer=BUYER)
    for dto in (_dto(trade, oaid=None), _dto(trade, tid=None)):
        err = tb.top.error(WAYBILL, param_waybill_cloud_print_apply_new_request=_request(dto))
        assert err["sub_code"] == "isv.invalid-parameter" and "oaid" in err["sub_msg"]
    wrong = _dto(trade, oaid="1" + "A" * 44)
    err = tb.top.error(WAYBILL, param_waybill_cloud_print_apply_new_request=_request(wrong))
    assert err["sub_code"] == "isv.invalid-parameter"
    missing = dict(trade, tid_str="3981204512306999999", oaid=trade["oaid"])
    err = tb.top.error(WAYBILL, param_waybill_cloud_print_apply_new_request=_request(_dto(missing)))
    assert err["sub_code"] == "isv.trade-not-exist"
    # the buyer moves: the old OAID goes stale for printing and for decryption
    moved = tb.act(f"trades/{trade['tid']}/receiver", name="欧阳明月", mobile="13912345678")
    new_oaid = moved["trade"]["oaid"]
    assert new_oaid != trade["oaid"]
    err = tb.top.error(WAYBILL, param_waybill_cloud_print_apply_new_request=_request(_dto(trade)))
    assert "taobao.trade.fullinfo.get" in err["sub_msg"]
    body = tb.top.ok(
        WAYBILL,
        param_waybill_cloud_print_apply_new_request=_request(_dto(dict(trade, oaid=new_oaid))),
    )
    assert _modules(body)[0]["waybill_code"]
    assert tb.get("waybills")["plaintext_violations"] == 0


def test_waybill_request_errors(tb: Tb) -> None:
    trade = tb.create(buyer=BUYER)
    err = tb.top.error(WAYBILL)
    assert (err["code"], err["msg"]) == (40, "Missing required arguments:" + WAYBILL_PARAM)
    err = tb.top.error(WAYBILL, param_waybill_cloud_print_apply_new_request="{not json")
    assert err["code"] == 41
    err = tb.top.error(
        WAYBILL, param_waybill_cloud_print_apply_new_request=_request(_dto(trade), cp_code="NOPE")
    )
    assert err["sub_code"] == "isv.invalid-parameter" and "NOPE" in err["sub_msg"]
    eleven = [_dto(trade, f"P{i}") for i in range(11)]
    err = tb.top.error(WAYBILL, param_waybill_cloud_print_apply_new_request=_request(*eleven))
    assert err["code"] == 41
    # a non-Taobao order prints from plaintext (there is no trade of this shop to protect)
    plain = {
        "object_id": "ext-1",
        "order_info": {"order_channels_type": "OTHERS", "trade_order_list": ["EXT-1001"]},
        "package_info": {"items": [{"name": "书", "count": 2}]},
        "recipient": {
            "name": "李四",
            "mobile": "13800000000",
            "address": {"province": "上海", "city": "上海市", "detail": "世纪大道1号"},
        },
        "template_url": TEMPLATE,
    }
    body = tb.top.ok(WAYBILL, param_waybill_cloud_print_apply_new_request=_request(plain))
    assert _modules(body)[0]["object_id"] == "ext-1"
    # signed like every call: a wrong secret is code 25
    err = tb.top.error(
        WAYBILL, secret="wrong", param_waybill_cloud_print_apply_new_request=_request(plain)
    )
    assert err["code"] == 25


WAYBILL_PARAM = "param_waybill_cloud_print_apply_new_request"


def test_decrypt_returns_the_receiver(tb: Tb) -> None:
    trade = tb.create(buyer=BUYER)
    other = tb.create()
    body = tb.top.ok(DECRYPT, query_list=json.dumps([_query(trade), _query(other, "2001")]))
    first, second = body["receiver_list"]["receiver"]
    assert first["tid"] == trade["tid_str"] and first["oaid"] == trade["oaid"]
    assert first["matched"] is True and first["privacy_protection"] is False
    assert (first["name"], first["mobile"], first["phone"]) == (
        BUYER["name"],
        BUYER["mobile"],
        BUYER["phone"],
    )
    assert (first["state"], first["city"], first["district"], first["town"]) == (
        "浙江省",
        "杭州市",
        "西湖区",
        "文新街道",
    )
    assert first["address_detail"] == BUYER["address"]
    assert second["matched"] is True and second["tid"] == other["tid_str"]
    decrypts = tb.get("decrypts")["decrypts"]
    assert [(d["tid_str"], d["scene"], d["matched"]) for d in decrypts] == [
        (trade["tid_str"], "1001", True),
        (other["tid_str"], "2001", True),
    ]
    simplified = tb.top.call(DECRYPT, simplify=True, query_list=json.dumps([_query(trade)]))
    assert simplified["receiver_list"][0]["name"] == BUYER["name"]


def test_decrypt_stale_oaid_and_privacy_number(tb: Tb) -> None:
    trade = tb.create(buyer=BUYER)
    tb.act(f"trades/{trade['tid']}/receiver", name="新收件人", mobile="13700000000")
    body = tb.top.ok(DECRYPT, query_list=json.dumps([_query(trade)]))
    (row,) = body["receiver_list"]["receiver"]
    assert row == {"tid": trade["tid_str"], "oaid": trade["oaid"], "matched": False}
    protected = tb.create(buyer=BUYER, privacy_protection=True)
    body = tb.top.ok(DECRYPT, query_list=json.dumps([_query(protected, secret_no_days=3)]))
    (row,) = body["receiver_list"]["receiver"]
    assert row["privacy_protection"] is True and row["matched"] is True
    assert re.fullmatch(r"170\d{8}-\d{3}", row["mobile"]) and "phone" not in row
    assert row["secret_no_expire_time"]


def test_decrypt_errors(tb: Tb) -> None:
    trade = tb.create(buyer=BUYER)
    err = tb.top.error(DECRYPT, query_list=json.dumps([_query(trade)] * 21))
    assert (err["code"], err["sub_code"]) == (41, "isv.invalid-parameter:query_list")
    assert "20" in err["sub_msg"]
    err = tb.top.error(DECRYPT, query_list=json.dumps([_query(trade, scene="9999")]))
    assert (err["code"], err["sub_code"]) == (41, "isv.invalid-parameter:scene")
    err = tb.top.error(DECRYPT, query_list=json.dumps([_query(trade, secret_no_days=0)]))
    assert err["code"] == 41
    err = tb.top.error(DECRYPT)
    assert err["code"] == 40
    err = tb.top.error(DECRYPT, query_list="[]")
    assert err["code"] == 41
    err = tb.top.error(DECRYPT, query_list=json.dumps([dict(_query(trade), tid="1")]))
    assert err["sub_code"] == "isv.trade-not-exist"
    err = tb.top.error(DECRYPT, session=False, query_list=json.dumps([_query(trade)]))
    assert err["code"] == 26
    assert tb.get("decrypts")["decrypts"] == []
    tb.act("permissions", deny=[DECRYPT])
    err = tb.top.error(DECRYPT, query_list=json.dumps([_query(trade)]))
    assert err["code"] == 11


def test_render_refuses_foreign_print_data(tb: Tb) -> None:
    response = tb.control.post(
        "/_sandbox/cloudprint/render",
        json={"print_data": json.dumps({"encryptedData": "AAAA", "signature": "x"})},
    )
    assert response.status_code == 422
    assert response.json()["detail"]["sub_code"] == "isv.print-data-invalid"
