"""TOP wire shapes: response envelopes (JSON, simplified JSON, XML), ``error_response``,
field selection, buyer-data masking and the JSON of trades, refunds, items and messages.

* Success: ``{"<api name without 'taobao.', dots -> '_'>_response": {..., "request_id"}}``;
  lists are wrapped by their element type (``"trades": {"trade": [...]}``). With
  ``simplify=true`` there is no root and lists are plain arrays. XML uses the same root,
  ``<trades list="true"><trade>...</trade></trades>``.
* Errors (HTTP 200): ``{"error_response": {"code", "msg", "sub_code"?, "sub_msg"?,
  "request_id"}}``; the root stays even with ``simplify=true``.
* Times are ``yyyy-MM-dd HH:mm:ss`` in GMT+8, money is a yuan string with two decimals,
  ``tid``/``oid`` are int64 JSON numbers with ``tid_str``/``oid_str`` beside them.
* Buyer data is masked as Taobao masks it for ISVs (``张**``, ``140****5678``,
  ``文三路****``); the recipient is identified by its ``oaid``.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo
from decimal import Decimal
from typing import Any
from xml.sax.saxutils import escape

from shopbridge.sandbox.taobao.state import (
    Carrier,
    Item,
    Order,
    Refund,
    Sku,
    StateError,
    Trade,
)

JSON = dict[str, Any]


# ---------------------------------------------------------------------------------------
# errors


class TopError(Exception):
    """An error the gateway answers with ``error_response`` (or a bare HTTP error)."""

    def __init__(
        self,
        code: int,
        msg: str,
        sub_code: str | None = None,
        sub_msg: str | None = None,
        *,
        http_status: int = 200,
    ) -> None:
        super().__init__(f"{code} {msg} {sub_code or ''}".strip())
        self.code = code
        self.msg = msg
        self.sub_code = sub_code
        self.sub_msg = sub_msg
        self.http_status = http_status

    @classmethod
    def from_state(cls, exc: StateError) -> TopError:
        return cls(exc.code, exc.msg, exc.sub_code, exc.sub_msg)

    def body(self, request_id: str) -> JSON:
        data: JSON = {"code": self.code, "msg": self.msg}
        if self.sub_code is not None:
            data["sub_code"] = self.sub_code
        if self.sub_msg is not None:
            data["sub_msg"] = self.sub_msg
        data["request_id"] = request_id
        return {"error_response": data}


def missing_method() -> TopError:
    return TopError(21, "Missing method")


def invalid_method() -> TopError:
    return TopError(22, "Invalid method")


def invalid_format() -> TopError:
    return TopError(23, "Invalid format")


def missing_signature() -> TopError:
    return TopError(24, "Missing signature")


def invalid_signature() -> TopError:
    return TopError(25, "Invalid signature")


def missing_session() -> TopError:
    return TopError(26, "Missing session")


def invalid_session() -> TopError:
    return TopError(27, "Invalid session", "invalid-sessionkey", "SessionKey非法")


def session_expired() -> TopError:
    return TopError(27, "Invalid session:session-expired", "session-expired", "SessionKey已过期")


def missing_app_key() -> TopError:
    return TopError(28, "Missing app key")


def invalid_app_key() -> TopError:
    return TopError(29, "Invalid app Key", "isv.appkey-not-exists")


def missing_timestamp() -> TopError:
    return TopError(30, "Missing timestamp")


def invalid_timestamp(detail: str) -> TopError:
    return TopError(31, "Invalid timestamp", "isv.invalid-timestamp", detail)


def missing_version() -> TopError:
    return TopError(32, "Missing version")


def unsupported_version() -> TopError:
    return TopError(34, "Unsupported version")


def missing_argument(name: str) -> TopError:
    return TopError(40, f"Missing required arguments:{name}")


def invalid_argument(name: str, sub_msg: str | None = None) -> TopError:
    if sub_msg is None:
        return TopError(41, f"Invalid arguments:{name}")
    return TopError(41, f"Invalid arguments:{name}", f"isv.invalid-parameter:{name}", sub_msg)


def http_action_not_allowed() -> TopError:
    return TopError(9, "Http Action Not Allowed")


def insufficient_isv_permissions(api: str) -> TopError:
    return TopError(
        11,
        "Insufficient isv permissions",
        "isv.permission-api-package-limit",
        f"scope ids is 11655 (api {api} is not in the app's permission packages)",
    )


def app_call_limited(ban_seconds: int) -> TopError:
    return TopError(
        7,
        "App Call Limited",
        "accesscontrol.limited-by-app-access-count",
        f"This ban will last for {ban_seconds} more seconds",
    )


ISP_MESSAGES: dict[str, str] = {
    "isp.top-remote-connection-error": "远程连接错误",
    "isp.top-remote-connection-timeout": "远程连接超时",
    "isp.remote-service-timeout": "API调用服务超时",
    "isp.top-remote-unknown-error": "远程服务未知错误",
    "isp.top-remote-service-unavailable": "远程服务不可用",
    "isp.service-error": "服务内部错误,请稍后重试",
}


def remote_service_error(sub_code: str = "isp.top-remote-connection-error") -> TopError:
    """A server-side fault (``isp.*``): clients should retry later."""
    return TopError(15, "Remote service error", sub_code, ISP_MESSAGES.get(sub_code, "服务异常"))


def new_request_id() -> str:
    """A TOP-style request id: 12-14 lower-case base-36 characters."""
    alphabet = "0123456789abcdefghijklmnopqrstuvwxyz"
    return "".join(secrets.choice(alphabet) for _ in range(13))


# ---------------------------------------------------------------------------------------
# lists and rendering


@dataclass(frozen=True)
class ListOf:
    """A list field: ``{"trade": [...]}`` on the wire, a plain array when simplified."""

    element: str
    items: list[Any]


def response_root(api: str) -> str:
    """``taobao.trades.sold.get`` -> ``trades_sold_get_response``."""
    name = api.removeprefix("taobao.")
    return name.replace(".", "_") + "_response"


def to_wire(value: Any, simplify: bool) -> Any:
    if isinstance(value, ListOf):
        items = [to_wire(item, simplify) for item in value.items]
        return items if simplify else {value.element: items}
    if isinstance(value, Mapping):
        return {k: to_wire(v, simplify) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [to_wire(item, simplify) for item in value]
    if isinstance(value, Decimal):
        return str(value)
    return value


def dump(data: Any) -> bytes:
    """Compact UTF-8 JSON (Chinese text unescaped, as TOP sends it)."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def success_json(api: str, body: Mapping[str, Any], request_id: str, *, simplify: bool) -> JSON:
    payload = to_wire(body, simplify)
    payload["request_id"] = request_id
    if simplify:
        result: JSON = payload
        return result
    return {response_root(api): payload}


def _xml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return escape(str(value))


def _xml_fields(body: Mapping[str, Any]) -> str:
    parts: list[str] = []
    for key, value in body.items():
        if value is None:
            continue
        if isinstance(value, ListOf):
            inner = "".join(
                f"<{value.element}>{_xml_inner(item)}</{value.element}>" for item in value.items
            )
            parts.append(f'<{key} list="true">{inner}</{key}>')
        else:
            parts.append(f"<{key}>{_xml_inner(value)}</{key}>")
    return "".join(parts)


def _xml_inner(value: Any) -> str:
    if isinstance(value, Mapping):
        return _xml_fields(value)
    return _xml_value(value)


XML_PROLOG = '<?xml version="1.0" encoding="utf-8" ?>'


def success_xml(api: str, body: Mapping[str, Any], request_id: str) -> bytes:
    root = response_root(api)
    inner = _xml_fields({**body, "request_id": request_id})
    return f"{XML_PROLOG}<{root}>{inner}</{root}>".encode()


def error_xml(error: TopError, request_id: str) -> bytes:
    inner = _xml_fields(error.body(request_id)["error_response"])
    return f"{XML_PROLOG}<error_response>{inner}</error_response>".encode()


# ---------------------------------------------------------------------------------------
# field selection


@dataclass(frozen=True)
class Fields:
    """A parsed ``fields`` parameter: ``tid,status,orders`` or ``orders.oid,orders.title``."""

    names: frozenset[str]
    nested: Mapping[str, frozenset[str]]
    """For ``orders.oid`` style selections: the chosen sub-fields per list field."""

    @classmethod
    def parse(cls, text: str) -> Fields:
        names: set[str] = set()
        nested: dict[str, set[str]] = {}
        for raw in text.split(","):
            name = raw.strip()
            if not name:
                continue
            head, dot, tail = name.partition(".")
            if dot and tail:
                nested.setdefault(head, set()).add(tail)
            else:
                names.add(name)
        return cls(frozenset(names), {k: frozenset(v) for k, v in nested.items()})

    @classmethod
    def everything(cls) -> Fields:
        return cls(frozenset(("*",)), {})

    def __contains__(self, name: object) -> bool:
        return "*" in self.names or name in self.names

    def wants(self, name: str) -> bool:
        return name in self or name in self.nested

    def sub(self, name: str) -> Fields:
        """Selection inside a list field (all of it when the field itself was named)."""
        if name in self:
            return Fields.everything()
        return Fields(self.nested.get(name, frozenset()), {})

    def select(self, data: Mapping[str, Any]) -> JSON:
        if "*" in self.names:
            return dict(data)
        return {k: v for k, v in data.items() if k in self.names}


# ---------------------------------------------------------------------------------------
# formatting and masking


def fmt_time(moment: datetime | None, zone: tzinfo) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")


def money(value: Decimal | None) -> str | None:
    if value is None:
        return None
    return f"{value:.2f}"


def mask_name(name: str) -> str:
    """``张三丰`` -> ``张**``."""
    return (name[:1] + "**") if name else ""


def mask_mobile(mobile: str) -> str:
    """``14012345678`` -> ``140****5678``."""
    digits = mobile.strip()
    if len(digits) >= 7:
        return digits[:3] + "****" + digits[-4:]
    return "*" * len(digits)


def mask_phone(phone: str) -> str:
    """``0571-88886666`` -> ``0571-****6666``."""
    area, dash, number = phone.rpartition("-")
    if dash and len(number) > 4:
        return f"{area}-{'*' * (len(number) - 4)}{number[-4:]}"
    return mask_mobile(phone)


def mask_address(address: str) -> str:
    """Keep the first three characters of the street address: ``文三路****``."""
    return address[:3] + "****" if address else ""


def mask_nick(nick: str) -> str:
    """``tb3821907`` -> ``t**7``."""
    if len(nick) <= 2:
        return nick[:1] + "**"
    return f"{nick[0]}**{nick[-1]}"


# ---------------------------------------------------------------------------------------
# resources

# The recipient fields that must all be requested for an OAID to be returned.
OAID_FIELDS = frozenset(
    ("receiver_name", "receiver_address", "created", "receiver_mobile", "receiver_phone")
)


@dataclass(frozen=True)
class RenderContext:
    zone: tzinfo
    seller_nick: str
    shop_title: str


def render_order(trade: Trade, order: Order, ctx: RenderContext) -> JSON:
    t = ctx.zone
    return {
        "oid": order.oid,
        "oid_str": str(order.oid),
        "num_iid": order.num_iid,
        "sku_id": str(order.sku_id) if order.sku_id is not None else None,
        "outer_iid": order.outer_iid,
        "outer_sku_id": order.outer_sku_id,
        "title": order.title,
        "pic_path": order.pic_path,
        "cid": order.cid,
        "price": money(order.price),
        "num": order.num,
        "total_fee": money(order.total_fee),
        "payment": money(trade.order_payment(order)),
        "discount_fee": money(order.discount_fee),
        "adjust_fee": money(order.adjust_fee),
        "divide_order_fee": money(order.divide_order_fee),
        "part_mjz_discount": money(order.part_mjz_discount),
        "sku_properties_name": order.sku_properties_name or None,
        "status": order.status,
        "refund_status": order.refund_status,
        "refund_id": str(order.refund_id) if order.refund_id is not None else None,
        "logistics_company": order.logistics_company,
        "invoice_no": order.invoice_no,
        "consign_time": fmt_time(order.consign_time, t),
        "shipping_type": order.shipping_type,
        "end_time": fmt_time(order.end_time, t),
        "seller_type": order.seller_type,
        "is_oversold": order.is_oversold,
        "buyer_rate": order.buyer_rate,
        "seller_rate": order.seller_rate,
        "order_from": "WAP,WAP",
        "snapshot_url": f"s:{order.oid}_1",
    }


def render_trade(trade: Trade, ctx: RenderContext, fields: Fields) -> JSON:
    """A ``Trade`` as TOP returns it, restricted to ``fields``."""
    t = ctx.zone
    receiver = trade.buyer.receiver
    single = trade.orders[0] if len(trade.orders) == 1 else None
    data: JSON = {
        "tid": trade.tid,
        "tid_str": str(trade.tid),
        "status": trade.status,
        "type": trade.type,
        "title": ctx.shop_title,
        "seller_nick": ctx.seller_nick,
        "buyer_nick": mask_nick(trade.buyer.nick),
        "buyer_open_uid": trade.buyer.open_uid,
        "created": fmt_time(trade.created, t),
        "modified": fmt_time(trade.modified, t),
        "pay_time": fmt_time(trade.pay_time, t),
        "consign_time": fmt_time(trade.consign_time, t),
        "end_time": fmt_time(trade.end_time, t),
        "payment": money(trade.payment),
        "total_fee": money(trade.total_fee),
        "post_fee": money(trade.post_fee),
        "discount_fee": money(trade.discount_fee),
        "adjust_fee": money(trade.adjust_fee),
        "received_payment": money(trade.received_payment),
        "commission_fee": money(Decimal("0.00")),
        "cod_fee": money(Decimal("0.00")),
        "point_fee": 0,
        "real_point_fee": 0,
        "buyer_obtain_point_fee": 0,
        "alipay_no": trade.alipay_no,
        "buyer_message": trade.buyer_message,
        "has_buyer_message": bool(trade.buyer_message),
        "seller_memo": trade.seller_memo,
        "seller_flag": trade.seller_flag,
        "buyer_flag": 0,
        "shipping_type": trade.shipping_type,
        "trade_from": trade.trade_from,
        "receiver_name": mask_name(receiver.name),
        "receiver_state": receiver.state,
        "receiver_city": receiver.city,
        "receiver_district": receiver.district,
        "receiver_town": receiver.town,
        "receiver_address": mask_address(receiver.address),
        "receiver_zip": receiver.zip,
        "receiver_mobile": mask_mobile(receiver.mobile),
        "receiver_phone": mask_phone(receiver.phone) if receiver.phone else None,
        "receiver_country": receiver.country or None,
        "invoice_kind": trade.invoice.kind if trade.invoice else None,
        "invoice_name": trade.invoice.name if trade.invoice else None,
        "invoice_type": trade.invoice.type if trade.invoice else None,
        "step_trade_status": trade.step_trade_status,
        "step_paid_fee": money(trade.step_paid_fee),
        "new_presell": True if trade.type == "step" else None,
        "send_time": fmt_time(trade.send_time, t),
        "is_part_consign": trade.is_part_consign,
        "seller_rate": False,
        "buyer_rate": False,
        "seller_can_rate": trade.status == "TRADE_FINISHED",
        "is_daixiao": False,
        "num_iid": single.num_iid if single else None,
        "num": single.num if single else 0,
        "price": money(single.price) if single else None,
        "pic_path": single.pic_path if single else None,
    }
    selected = fields.select(data)
    # Taobao only generates an OAID when the five recipient fields are requested too.
    if "*" in fields.names or ("oaid" in fields.names and fields.names >= OAID_FIELDS):
        selected["oaid"] = trade.oaid
    if fields.wants("orders"):
        sub = fields.sub("orders")
        selected["orders"] = ListOf(
            "order", [sub.select(render_order(trade, o, ctx)) for o in trade.orders]
        )
    return selected


def render_refund(refund: Refund, trade: Trade | None, ctx: RenderContext) -> JSON:
    t = ctx.zone
    return {
        "refund_id": str(refund.refund_id),
        "tid": refund.tid,
        "oid": refund.oid,
        "status": refund.status,
        "order_status": refund.order_status,
        "refund_fee": money(refund.refund_fee),
        "total_fee": money(refund.total_fee),
        "payment": money(refund.total_fee - refund.refund_fee),
        "has_good_return": refund.has_good_return,
        "good_status": refund.good_status,
        "reason": refund.reason,
        "desc": refund.desc,
        "refund_phase": refund.refund_phase,
        "refund_version": refund.refund_version,
        "created": fmt_time(refund.created, t),
        "modified": fmt_time(refund.modified, t),
        "good_return_time": fmt_time(refund.good_return_time, t),
        "company_name": refund.company_name,
        "sid": refund.sid,
        "title": refund.title,
        "price": money(refund.price),
        "num": refund.num,
        "num_iid": refund.num_iid,
        "sku": refund.sku or None,
        "outer_id": refund.outer_id,
        "seller_nick": ctx.seller_nick,
        "buyer_nick": mask_nick(trade.buyer.nick) if trade else None,
        "buyer_open_uid": trade.buyer.open_uid if trade else None,
        "alipay_no": trade.alipay_no if trade else None,
        "shipping_type": "express",
        "cs_status": 1,
        "dispute_type": "REFUND" if not refund.has_good_return else "REFUND_AND_RETURN",
    }


def render_sku(sku: Sku, ctx: RenderContext) -> JSON:
    return {
        "sku_id": sku.sku_id,
        "num_iid": sku.num_iid,
        "outer_id": sku.outer_id,
        "properties": sku.properties,
        "properties_name": sku.properties_name,
        "price": money(sku.price),
        "quantity": sku.quantity,
        "with_hold_quantity": sku.with_hold_quantity,
        "status": "normal",
        "created": fmt_time(sku.created, ctx.zone),
        "modified": fmt_time(sku.modified, ctx.zone),
    }


def render_item(item: Item, ctx: RenderContext, fields: Fields) -> JSON:
    t = ctx.zone
    data: JSON = {
        "num_iid": item.num_iid,
        "title": item.title,
        "nick": ctx.seller_nick,
        "type": item.item_type,
        "cid": item.cid,
        "pic_url": item.pic_url,
        "num": item.num,
        "price": money(item.price),
        "outer_id": item.outer_id,
        "approve_status": item.approve_status,
        "list_time": fmt_time(item.list_time, t),
        "delist_time": fmt_time(item.delist_time, t),
        "modified": fmt_time(item.modified, t),
        "created": fmt_time(item.created, t),
        "sold_quantity": item.sold_quantity,
        "has_discount": False,
        "has_invoice": True,
        "has_warranty": True,
        "has_showcase": False,
        "valid_thru": 7,
        "postage_id": 0,
        "seller_cids": ",",
        "props": "",
        "is_virtual": False,
    }
    selected = fields.select(data)
    if fields.wants("skus") or fields.wants("sku"):
        name = "skus" if fields.wants("skus") else "sku"
        sub = fields.sub(name)
        selected["skus"] = ListOf("sku", [sub.select(render_sku(s, ctx)) for s in item.skus])
    return selected


def render_carrier(carrier: Carrier, fields: Fields) -> JSON:
    data: JSON = {
        "id": carrier.id,
        "code": carrier.code,
        "name": carrier.name,
        "reg_mail_no": carrier.reg_mail_no,
    }
    return fields.select(data)
