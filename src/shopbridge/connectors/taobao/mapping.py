"""Taobao/Tmall trade -> unified `Order`. Pure functions: no I/O, no clock, no state.

The input is one TOP `Trade` (`taobao.trade.fullinfo.get` `trade`, or an element of
`taobao.trades.sold.increment.get` `trades`), in either JSON form TOP produces: the default
one, where lists are wrapped by their element name (`"orders": {"order": [...]}`), or the
`simplify=true` one with plain arrays.

Reading rules:

- **Money** is yuan as a decimal string (`"200.07"`), read as CNY. A JSON float is refused
  (`MappingError`), never converted. An empty string is "absent".
- **Times** are Asia/Shanghai wall clock, `yyyy-MM-dd HH:mm:ss`, converted to UTC with
  `parse_platform_local` (`2026-11-11 00:00:05` -> `2026-11-10T16:00:05Z`). A string with its
  own offset keeps it.
- **Ids** are strings: `tid_str` / `oid_str` when present, else the int64 `tid` / `oid` as
  `str(int)`. A float id is refused: it has already lost digits above 2^53.
- **Personal data** (receiver name, phones, street address, postcode, buyer nick, e-mail, a
  personal invoice title) only goes into the typed `Sensitive` fields, exactly as TOP sent it
  (usually masked, `pii_form` says so), never into `extensions` or an error message. The
  `oaid` addressee token is kept on the receiver for privacy shipping.
- Everything else stays in `raw`; notable fields are copied to `extensions` under their TOP
  names (`unknown_order_fields` names fields this module has never heard of).

A payload the mapping cannot read raises `MappingError("<JSON path>: <reason>")`; the reason
never quotes the value.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Final, NoReturn

from pydantic import ValidationError

from shopbridge.connectors.errors import MappingError
from shopbridge.connectors.taobao import statuses
from shopbridge.connectors.taobao.carriers import unified_carrier_code
from shopbridge.core import (
    Address,
    Discount,
    DiscountKind,
    DiscountScope,
    InvoiceMedium,
    InvoiceRequest,
    Money,
    Order,
    OrderLine,
    OrderStatus,
    Party,
    PartyType,
    PaymentSummary,
    PiiForm,
    PresaleInfo,
    PresaleStage,
    Shipment,
    ShipmentLine,
    parse_platform_local,
)

__all__ = [
    "CURRENCY",
    "KNOWN_ORDER_FIELDS",
    "MAPPED_ORDER_FIELDS",
    "TIMEZONE",
    "list_items",
    "map_order",
    "parse_time",
    "sub_order_id_of",
    "trade_id_of",
    "unknown_order_fields",
]

PLATFORM: Final = "taobao"
CURRENCY: Final = "CNY"
TIMEZONE: Final = "Asia/Shanghai"

MAPPED_ORDER_FIELDS: Final = frozenset(
    {
        "tid",
        "tid_str",
        "status",
        "type",
        "step_trade_status",
        "step_paid_fee",
        "step_pay_details",
        "created",
        "modified",
        "pay_time",
        "consign_time",
        "end_time",
        "payment",
        "total_fee",
        "post_fee",
        "discount_fee",
        "adjust_fee",
        "received_payment",
        "order_tax_fee",
        "alipay_no",
        "buyer_nick",
        "buyer_open_uid",
        "buyer_email",
        "buyer_message",
        "seller_memo",
        "receiver_name",
        "receiver_country",
        "receiver_state",
        "receiver_city",
        "receiver_district",
        "receiver_town",
        "receiver_address",
        "receiver_zip",
        "receiver_mobile",
        "receiver_phone",
        "oaid",
        "invoice_name",
        "invoice_type",
        "invoice_kind",
        "orders",
        "promotion_details",
    }
)
"""Top-level trade fields the mapping reads into unified fields."""

_ORDER_EXTENSION_FIELDS: Final = (
    "type",
    "status",
    "step_trade_status",
    "step_paid_fee",
    "seller_nick",
    "shipping_type",
    "seller_flag",
    "trade_from",
    "trade_source",
    "title",
    "adjust_fee",
    "received_payment",
    "commission_fee",
    "available_confirm_fee",
    "credit_card_fee",
    "coupon_fee",
    "tmall_coupon_fee",
    "paid_coupon_fee",
    "platform_subsidy_fee",
    "point_fee",
    "real_point_fee",
    "buyer_obtain_point_fee",
    "cod_fee",
    "cod_status",
    "buyer_cod_fee",
    "seller_cod_fee",
    "express_agency_fee",
    "yfx_fee",
    "has_yfx",
    "yfx_type",
    "order_tax_fee",
    "order_tax_promotion_fee",
    "end_time",
    "timeout_action_time",
    "est_con_time",
    "send_time",
    "has_buyer_message",
    "is_part_consign",
    "is_lgtype",
    "is_force_wlb",
    "is_brand_sale",
    "is_daixiao",
    "is_wt",
    "is_sh_ship",
    "is_force_dc",
    "is_cycle_buy",
    "is_o2o_passport",
    "is_gift",
    "is_istore",
    "is_openmall",
    "is_3D",
    "zero_purchase",
    "new_presell",
    "general_new_presell",
    "you_xiang",
    "forbid_consign",
    "top_hold",
    "team_buy_hold",
    "share_group_hold",
    "ofp_hold",
    "delay_create_delivery",
    "toptype",
    "biz_code",
    "cloud_store",
    "tmall_delivery",
    "threepl_timing",
    "timing_promise",
    "promise_service",
    "cutoff_minutes",
    "es_time",
    "delivery_time",
    "collect_time",
    "dispatch_time",
    "sign_time",
    "promise_sign_time",
    "priority_consign_time",
    "cn_service",
    "lg_aging_type",
    "lg_aging",
    "arrive_interval",
    "consign_interval",
    "arrive_cut_time",
    "post_gate_declare",
    "cross_bonded_declare",
    "real_name_auth_status",
    "third_party_customs_declaration",
    "market",
    "service_type",
    "stage_address_type",
    "mark_desc",
    "rx_audit_status",
    "no_shipping",
    "pay_channel",
    "asdp_biz_type",
    "asdp_ads",
    "ob_tag",
    "lm",
    "og_id",
    "receipt_type",
    "sorted",
    "sid",
    "acookie_id",
    "snapshot_url",
    "invoice_type",
    "invoice_kind",
)
"""Scalar trade fields copied verbatim to `extensions` (none is buyer data)."""

KNOWN_ORDER_FIELDS: Final = (
    MAPPED_ORDER_FIELDS
    | frozenset(_ORDER_EXTENSION_FIELDS)
    | frozenset(
        {
            # Buyer, receiver and seller personal data: kept in `raw` only.
            "buyer_alipay_no",
            "buyer_area",
            "buyer_memo",
            "buyer_flag",
            "buyer_rate",
            "alipay_id",
            "seller_alipay_no",
            "seller_mobile",
            "seller_phone",
            "seller_name",
            "seller_email",
            "donee_nick",
            "donee_open_uid",
            "hk_en_name",
            "hk_flight_no",
            "hk_china_name",
            "hk_card_code",
            "hk_card_type",
            "hk_flight_date",
            "hk_gender",
            "hk_birthday",
            "hk_pickup",
            "hk_pickup_id",
            "o2o_service_mobile",
            "o2o_service_name",
            "o2o_service_state",
            "o2o_service_city",
            "o2o_service_district",
            "o2o_service_town",
            "o2o_service_address",
            "address_details",
            "aid",
            "trade_memo",
            # Single-sub-order item echoes, nested structures and niche verticals: raw only.
            "num",
            "num_iid",
            "price",
            "pic_path",
            "iid",
            "seller_rate",
            "seller_can_rate",
            "can_rate",
            "service_orders",
            "service_tags",
            "logistics_infos",
            "agree_refund_checks",
            "delivery_plan",
            "combine_logistics_details",
            "logistics_consign_info",
            "logistics_modify_info",
            "receipt_rel_ids",
            "trade_ext",
            "sort_info",
            "expandcard_info",
            "identify_info",
            "logistics_agreement",
            "promotion",
            "eticket_ext",
            "eticket_service_addr",
            "yfx_id",
            "o2o",
            "o2o_guide_id",
            "o2o_guide_name",
            "o2o_shop_id",
            "o2o_shop_name",
            "o2o_delivery",
            "o2o_out_trade_id",
            "o2o_snatch_status",
            "o2o_step_trade_detail",
            "o2o_step_trade_detail_new",
            "o2o_step_order_id",
            "o2o_et_order_id",
            "o2o_voucher_price",
            "o2o_xiaopiao",
            "o2o_contract",
            "shop_code",
            "shop_pick",
            "et_ser_time",
            "et_shop_name",
            "et_verified_shop_name",
            "et_plate_number",
            "et_type",
            "et_shop_id",
            "obs",
            "es_date",
            "es_range",
            "os_date",
            "os_range",
            "trade_attr",
            "omni_attr",
            "omni_param",
            "omni_package",
            "omnichannel_param",
            "assembly",
            "identity",
            "recharge_fee",
            "retail_store_code",
            "retail_out_order_id",
            "retail_store_id",
            "nr_offline",
            "nr_store_order_id",
            "nr_shop_id",
            "nr_shop_name",
            "nr_shop_guide_id",
            "nr_shop_guide_name",
            "nr_no_handle",
            "nr_deposit_order_id",
            "nr_store_code",
            "wtt_param",
            "suning_shop_code",
            "suning_shop_valid",
            "allow_appkeys",
            "ua",
            "linkedmall_ext_info",
            "rt_omni_send_type",
            "rt_omni_store_id",
            "rt_omni_outer_store_id",
            "tcps_start",
            "tcps_code",
            "tcps_end",
            "m_tariff_fee",
            "outer_partner_member_id",
            "root_cat",
            "gifting",
            "gifting_takeout",
            "oi_date",
            "oi_range",
            "hold_install",
            "app_name",
            "easy_home_city_type",
            "propoint",
            "zqs_order_tag",
            "txp_freezer_id",
            "txp_receive_method",
            "extend_info",
            "brand_light_shop_source",
            "brand_light_shop_store_id",
            "is_wmly",
            "ncz_ext_attr",
            "invoice_detail_pay",
            "invoice_detail_mid_refund",
            "invoice_detail_after_refund",
            "expand_card_basic_price",
            "expand_card_expand_price",
            "expand_card_basic_price_used",
            "expand_card_expand_price_used",
            "delivery_cps",
            "order_follow_id",
            "drug_register",
            "scenario_group",
            "play_type",
            "async_modified",
            "nut_feature",
            "alipay_point",
            "pcc_af",
            "v_logistics_create",
            "q_r_pay",
            "is_istore",
        }
    )
)
"""Every top-level trade field this mapping knows: read, copied to `extensions`, or left in
`raw` on purpose (personal data, nested or niche fields). A field outside it is new: it is
kept in `raw` and reported by `unknown_order_fields`."""

_LINE_EXTENSION_FIELDS: Final = (
    "outer_iid",
    "outer_sku_id",
    "status",
    "refund_id",
    "item_meal_id",
    "item_meal_name",
    "cid",
    "seller_type",
    "order_from",
    "shipping_type",
    "logistics_company",
    "invoice_no",
    "consign_time",
    "end_time",
    "timeout_action_time",
    "estimate_con_time",
    "is_oversold",
    "is_service_order",
    "is_daixiao",
    "bind_oid",
    "bind_oids",
    "bind_oids_all_status",
    "store_code",
    "combo_id",
    "inv_type",
    "f_type",
    "f_status",
    "zhengji_status",
    "payment",
    "total_fee",
    "discount_fee",
    "adjust_fee",
    "divide_order_fee",
    "part_mjz_discount",
    "sub_order_tax_fee",
    "sub_order_tax_rate",
    "sub_order_tax_promotion_fee",
    "s_tariff_fee",
    "tax_coupon_discount",
    "lijian",
    "special_refund_type",
    "timing_promise",
    "promise_service",
    "cutoff_minutes",
    "es_time",
    "delivery_time",
    "collect_time",
    "dispatch_time",
    "sign_time",
    "promise_collect_time",
    "distribute_status",
    "auto_flow",
    "is_idle",
    "gift_mids",
    "b2b_daixiao",
    "modify_address",
    "credit_buy",
    "fqg_num",
    "snapshot_url",
    "pic_path",
)
"""Scalar sub-order fields copied verbatim to the line's `extensions`."""

_PROMOTION_FIELDS: Final = (
    "id",
    "promotion_name",
    "promotion_id",
    "promotion_desc",
    "discount_fee",
    "gift_item_name",
    "gift_item_id",
    "gift_item_num",
    "kd_discount_fee",
    "kd_child_discount_fee",
)

_TIME: Final = re.compile(
    r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:Z|[+-]\d{2}:?\d{2})?$"
)
_ENCRYPTED: Final = re.compile(r"^([~$#]).+\1$")
"""TOP's legacy field-encryption envelopes: `~...~` (text), `$...$` (phone), `#...#` (nick)."""
_CARRIER_CODE: Final = re.compile(r"^[A-Za-z0-9_\-]{1,32}$")
"""A company code (`SF`, `POSTB`), as opposed to a display name (`顺丰速运`)."""
_RELAY_NUMBER: Final = re.compile(r"^1\d{10}-\d{1,8}$")
"""A privacy relay number with its extension (`18877771111-123`)."""
_COMPANY_WORDS: Final = (
    "公司",
    "有限",
    "集团",
    "企业",
    "中心",
    "研究",
    "学校",
    "学院",
    "大学",
    "医院",
    "事务所",
    "工作室",
    "商行",
    "银行",
    "协会",
    "委员会",
    "政府",
    "合作社",
    "经营部",
    "门市部",
    "co.",
    "ltd",
    "llc",
    "inc.",
    "gmbh",
    "corp",
    "company",
)
_COMPANY_SUFFIXES: Final = ("厂", "店", "局", "所", "院", "社", "部", "馆", "站", "处")
_PERSONAL_TITLES: Final = frozenset({"个人", "個人", "personal", "individual"})

_PAID_STATUSES: Final = frozenset(
    {
        OrderStatus.AWAITING_SHIPMENT,
        OrderStatus.ON_HOLD,
        OrderStatus.PARTIALLY_SHIPPED,
        OrderStatus.SHIPPED,
        OrderStatus.DELIVERED,
        OrderStatus.COMPLETED,
        OrderStatus.CLOSED,
    }
)
_SHIPPED_ORDER_STATUSES: Final = frozenset(
    {
        OrderStatus.PARTIALLY_SHIPPED,
        OrderStatus.SHIPPED,
        OrderStatus.DELIVERED,
        OrderStatus.COMPLETED,
    }
)


# --------------------------------------------------------------------------- reading helpers


def _fail(path: str, reason: str) -> NoReturn:
    raise MappingError(f"{path}: {reason}", path=path, platform=PLATFORM)


def parse_time(value: object, path: str) -> datetime:
    """A TOP timestamp (Asia/Shanghai wall clock unless it carries an offset) as aware UTC."""
    if not isinstance(value, str):
        _fail(path, "timestamp must be a 'yyyy-MM-dd HH:mm:ss' string")
    text = value.strip()
    if not _TIME.fullmatch(text):
        _fail(path, "not a 'yyyy-MM-dd HH:mm:ss' timestamp")
    try:
        return parse_platform_local(text, tz=TIMEZONE)
    except ValueError:
        _fail(path, "not a valid date and time")


def _amount(value: object, path: str) -> Money:
    if isinstance(value, float):
        _fail(path, "amount is a JSON number, not a decimal string")
    if isinstance(value, bool) or not isinstance(value, str | int):
        _fail(path, "amount must be a decimal string")
    try:
        return Money.from_major(value, CURRENCY)
    except ValueError:
        _fail(path, "not a valid decimal amount")


def list_items(value: object, element: str, path: str) -> list[tuple[object, str]]:
    """A TOP list in either JSON form (`{"<element>": [...]}` or `[...]`), with item paths."""
    if value is None:
        return []
    if isinstance(value, dict):
        if not value:
            return []
        if element not in value:
            _fail(path, f"list object has no {element} array")
        path = f"{path}.{element}"
        value = value[element]
        if isinstance(value, dict):
            return [(value, f"{path}[0]")]
    if not isinstance(value, list):
        _fail(path, "must be a JSON array")
    return [(item, f"{path}[{index}]") for index, item in enumerate(value)]


class _Node:
    """One JSON object of the payload plus its path, with typed readers that raise
    `MappingError` naming the path (never the value)."""

    __slots__ = ("data", "path")

    def __init__(self, data: Mapping[str, Any], path: str) -> None:
        self.data = data
        self.path = path

    def at(self, key: str) -> str:
        return f"{self.path}.{key}"

    def get(self, key: str) -> Any:
        return self.data.get(key)

    def present(self, key: str) -> bool:
        value = self.data.get(key)
        return value is not None and value != ""

    def opt_id(self, key: str) -> str | None:
        value = self.data.get(key)
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            _fail(self.at(key), "id must be an integer or a string")
        if isinstance(value, int):
            if value < 0:
                _fail(self.at(key), "id must not be negative")
            return str(value)
        if isinstance(value, float):
            _fail(self.at(key), "id is a JSON float and may have lost digits; send the _str form")
        if isinstance(value, str):
            text = value.strip()
            if not text or len(text) > 255:
                _fail(self.at(key), "id must be 1 to 255 characters")
            return text
        _fail(self.at(key), "id must be an integer or a string")

    def native_id(self, key: str) -> str:
        """`<key>_str` when present (exact for ids beyond 2^53), else the int64 `<key>`."""
        value = self.opt_id(f"{key}_str") or self.opt_id(key)
        if value is None:
            _fail(self.at(key), "required id is missing")
        return value

    def opt_str(self, key: str) -> str | None:
        """A string field; empty or whitespace-only reads as absent."""
        value = self.data.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            _fail(self.at(key), "must be a string")
        return value if value.strip() else None

    def req_str(self, key: str) -> str:
        value = self.opt_str(key)
        if value is None:
            _fail(self.at(key), "required field is missing")
        return value

    def opt_code(self, key: str) -> str | None:
        """An enum-like value TOP sends as a string or a number (`invoice_kind`)."""
        value = self.data.get(key)
        if value is None or value == "":
            return None
        if isinstance(value, bool) or not isinstance(value, str | int):
            _fail(self.at(key), "must be a string or an integer")
        return str(value).strip() or None

    def opt_int(self, key: str) -> int | None:
        value = self.data.get(key)
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            _fail(self.at(key), "must be an integer")
        if isinstance(value, int):
            return value
        if isinstance(value, str) and value.strip().isdigit() and value.strip().isascii():
            return int(value.strip())
        _fail(self.at(key), "must be an integer")

    def opt_money(self, key: str) -> Money | None:
        value = self.data.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        return _amount(value, self.at(key))

    def money(self, key: str) -> Money:
        value = self.opt_money(key)
        if value is None:
            _fail(self.at(key), "required amount is missing")
        return value

    def opt_time(self, key: str) -> datetime | None:
        value = self.data.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        return parse_time(value, self.at(key))

    def time(self, key: str) -> datetime:
        value = self.opt_time(key)
        if value is None:
            _fail(self.at(key), "required timestamp is missing")
        return value

    def objs(self, key: str, element: str) -> list[_Node]:
        nodes: list[_Node] = []
        for item, path in list_items(self.data.get(key), element, self.at(key)):
            if not isinstance(item, dict):
                _fail(path, "must be a JSON object")
            nodes.append(_Node(item, path))
        return nodes


def _json_scalar(value: object) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _copy_scalars(node: _Node, keys: Iterable[str]) -> dict[str, Any]:
    return {
        key: node.data[key]
        for key in keys
        if node.data.get(key) is not None and node.data[key] != "" and _json_scalar(node.data[key])
    }


def _positive(money: Money | None) -> Money | None:
    return money if money is not None and money.amount > 0 else None


def _sum(amounts: Iterable[Money | None]) -> Money | None:
    items = [amount for amount in amounts if amount is not None]
    return Money.sum(items, CURRENCY) if items else None


# --------------------------------------------------------------------------- public helpers


def trade_id_of(payload: object) -> str | None:
    """The trade id of a payload, when it can be read at all (for `UnmappedOrder`)."""
    if not isinstance(payload, dict):
        return None
    try:
        return _Node(payload, "$").native_id("tid")
    except MappingError:
        return None


def sub_order_id_of(payload: object) -> str | None:
    """The sub-order id (`oid_str`, else `oid`) of a sub-order payload, when readable."""
    if not isinstance(payload, dict):
        return None
    try:
        return _Node(payload, "$").native_id("oid")
    except MappingError:
        return None


def unknown_order_fields(payload: Mapping[str, Any]) -> list[str]:
    """Top-level fields the mapping has never heard of (new platform fields), sorted."""
    return sorted(key for key in payload if key not in KNOWN_ORDER_FIELDS)


# --------------------------------------------------------------------------- the mapping


def map_order(payload: object, *, shop_id: str) -> Order:
    """Map one TOP `Trade` to an `Order` (see the module docstring)."""
    if not isinstance(payload, dict):
        _fail("$", "trade payload must be a JSON object")
    t = _Node(payload, "$")
    try:
        return _map_trade(t, payload, shop_id)
    except ValidationError as exc:
        raise _model_error(exc) from None


def _model_error(exc: ValidationError) -> MappingError:
    """The unified model refused what the mapping built: report where, never the input."""
    error = exc.errors(include_input=False, include_url=False)[0]
    path = "Order." + ".".join(str(part) for part in error["loc"]) if error["loc"] else "Order"
    return MappingError(
        f"{path}: rejected by the unified model ({error['msg']})", path=path, platform=PLATFORM
    )


class _Line:
    """A mapped sub-order with what the order-level rules need from it."""

    __slots__ = ("line", "native_status", "node")

    def __init__(self, line: OrderLine, node: _Node, native_status: str | None) -> None:
        self.line = line
        self.node = node
        self.native_status = native_status


def _map_trade(t: _Node, payload: dict[str, Any], shop_id: str) -> Order:
    tid = t.native_id("tid")
    native = t.req_str("status")
    step = t.opt_str("step_trade_status")
    status = statuses.order_status(native, step)

    line_nodes = t.objs("orders", "order")
    # A single sub-order's `payment` includes the postage (TOP API note); several do not.
    postage = t.opt_money("post_fee") if len(line_nodes) == 1 else None
    lines = [_map_line(node, postage) for node in line_nodes]
    refund_status = statuses.order_refund_status((x.line.refund_status for x in lines), native)
    line_refunds = [x.line.native_refund_status or "NO_REFUND" for x in lines]
    native_refund = ",".join(dict.fromkeys(line_refunds)) if lines else None
    if native == "TRADE_CLOSED":
        native_refund = f"{native_refund};TRADE_CLOSED" if native_refund else "TRADE_CLOSED"

    total = t.money("payment")
    placed_at = t.time("created")
    paid_at = t.opt_time("pay_time")
    consigned_at = t.opt_time("consign_time")
    end_time = t.opt_time("end_time")
    presale = _presale(t, step, total, paid_at)

    return Order(
        shop_id=shop_id,
        platform=PLATFORM,
        platform_order_id=tid,
        status=status,
        native_status=statuses.native_order_status(native, step),
        refund_status=refund_status,
        native_refund_status=native_refund,
        currency=CURRENCY,
        lines=[x.line for x in lines],
        buyer=_buyer(t),
        receiver=_receiver(t),
        payment=_payment(t, status, total, paid_at, presale),
        discounts=_discounts(lines),
        subtotal=t.opt_money("total_fee"),
        shipping_fee=t.opt_money("post_fee"),
        discount_total=t.opt_money("discount_fee"),
        tax_total=_positive(t.opt_money("order_tax_fee")),
        total=total,
        presale=presale,
        placed_at=placed_at,
        paid_at=paid_at,
        shipped_at=consigned_at if status in _SHIPPED_ORDER_STATUSES else None,
        completed_at=end_time if status is OrderStatus.COMPLETED else None,
        cancelled_at=end_time if status is OrderStatus.CANCELLED else None,
        platform_updated_at=t.opt_time("modified"),
        buyer_note=t.opt_str("buyer_message"),
        seller_note=t.opt_str("seller_memo"),
        invoice_request=_invoice(t),
        shipments=_shipments(lines, consigned_at),
        extensions=_order_extensions(t, lines),
        raw=payload,
    )


def _map_line(node: _Node, postage: Money | None = None) -> _Line:
    """One sub-order. `postage`: the trade's `post_fee` when this is its only sub-order, whose
    `payment` then includes it."""
    oid = node.native_id("oid")
    title = node.req_str("title")
    quantity = node.opt_int("num")
    if quantity is None or quantity <= 0:
        _fail(node.at("num"), "quantity must be a positive integer")
    unit_price = node.money("price")
    discount_fee = _positive(node.opt_money("discount_fee"))
    part_mjz = _positive(node.opt_money("part_mjz_discount"))
    adjust = node.opt_money("adjust_fee")
    total = node.opt_money("divide_order_fee")
    paid = node.opt_money("payment")
    if total is None and paid is not None:
        total = paid - postage if postage is not None and postage.amount <= paid.amount else paid
    if total is None:
        total = Money(amount=unit_price.amount * quantity, currency=CURRENCY)
        if adjust is not None:
            total = total + adjust
        if discount_fee is not None:
            total = total - discount_fee
        if part_mjz is not None:
            total = total - part_mjz
    native_status = node.opt_str("status")
    native_refund = node.opt_str("refund_status")
    line = OrderLine(
        native_id=oid,
        sku=node.opt_str("outer_sku_id") or node.opt_str("outer_iid"),
        platform_product_id=node.opt_id("num_iid"),
        platform_variant_id=node.opt_id("sku_id"),
        title=title,
        variant_title=node.opt_str("sku_properties_name"),
        quantity=quantity,
        unit_price=unit_price,
        discount=_sum((discount_fee, part_mjz)),
        tax=_positive(node.opt_money("sub_order_tax_fee")),
        total=total,
        status=statuses.line_status(native_status),
        native_status=native_status,
        refund_status=statuses.refund_status(native_refund),
        native_refund_status=native_refund,
        extensions=_copy_scalars(node, _LINE_EXTENSION_FIELDS),
    )
    return _Line(line, node, native_status)


def _discounts(lines: list[_Line]) -> list[Discount]:
    """Per sub-order: `discount_fee` (its own promotions), `part_mjz_discount` (its share of
    order-level promotions) and `adjust_fee` (the seller's price change; positive raises the
    price, so it is a negative discount). Trade-level totals are not re-derived."""
    discounts: list[Discount] = []
    for x in lines:
        node, line_id = x.node, x.line.native_id
        own = _positive(node.opt_money("discount_fee"))
        if own is not None:
            discounts.append(
                Discount(
                    kind=DiscountKind.PROMOTION,
                    scope=DiscountScope.LINE,
                    amount=own,
                    line_id=line_id,
                    description="sub-order discount (discount_fee)",
                )
            )
        shared = _positive(node.opt_money("part_mjz_discount"))
        if shared is not None:
            discounts.append(
                Discount(
                    kind=DiscountKind.PROMOTION,
                    scope=DiscountScope.LINE,
                    amount=shared,
                    line_id=line_id,
                    description="share of order-level promotions (part_mjz_discount)",
                )
            )
        adjust = node.opt_money("adjust_fee")
        if adjust is not None and adjust.amount != 0:
            discounts.append(
                Discount(
                    kind=DiscountKind.SELLER_ADJUSTMENT,
                    scope=DiscountScope.LINE,
                    amount=-adjust,
                    line_id=line_id,
                    description="seller price adjustment (adjust_fee)",
                )
            )
    return discounts


def _pii_form(values: Iterable[str | None], mobile: str | None = None) -> PiiForm | None:
    present = [value.strip() for value in values if value is not None and value.strip()]
    if not present:
        return None
    if any(_ENCRYPTED.fullmatch(value) for value in present):
        return PiiForm.ENCRYPTED
    if any("*" in value for value in present):
        return PiiForm.MASKED
    if mobile is not None and _RELAY_NUMBER.fullmatch(mobile.strip()):
        return PiiForm.VIRTUAL
    return PiiForm.PLAIN


def _country(t: _Node) -> str:
    value = t.opt_str("receiver_country")
    if value is not None:
        code = value.strip().upper()
        if len(code) == 2 and code.isascii() and code.isalpha():
            return code
    return "CN"


def _receiver(t: _Node) -> Party | None:
    name = t.opt_str("receiver_name")
    mobile = t.opt_str("receiver_mobile")
    phone = t.opt_str("receiver_phone")
    street = t.opt_str("receiver_address")
    postal = t.opt_str("receiver_zip")
    oaid = t.opt_str("oaid")
    divisions = [t.opt_str(key) for key in ("receiver_state", "receiver_city", "receiver_district")]
    town = t.opt_str("receiver_town")
    address = None
    if street is not None or postal is not None or town is not None or any(divisions):
        address = Address(
            country=_country(t),
            province=divisions[0],
            city=divisions[1],
            district=divisions[2],
            town=town,
            lines=[street] if street is not None else [],
            postal_code=postal,
        )
    if name is None and mobile is None and phone is None and address is None and oaid is None:
        return None
    return Party(
        name=name,
        phone=mobile,
        alt_phone=phone,
        address=address,
        oaid=oaid,
        pii_form=_pii_form((name, mobile, phone, street, postal), mobile),
    )


def _buyer(t: _Node) -> Party | None:
    nick = t.opt_str("buyer_nick")
    email = t.opt_str("buyer_email")
    open_uid = t.opt_id("buyer_open_uid")
    if nick is None and email is None and open_uid is None:
        return None
    return Party(
        nickname=nick,
        email=email,
        platform_buyer_id=open_uid,
        pii_form=_pii_form((nick, email)),
    )


def _is_company_title(title: str) -> bool:
    lowered = title.strip().casefold()
    return any(word in lowered for word in _COMPANY_WORDS) or lowered.endswith(_COMPANY_SUFFIXES)


def _invoice(t: _Node) -> InvoiceRequest | None:
    """`invoice_name` (the title the buyer asked for), `invoice_kind` (1 electronic, 2 paper)
    and `invoice_type`. TOP does not say whether the title is a company or a person: a title
    that reads like an organisation (`...有限公司`, `... Ltd`) is a company title, anything else
    is treated as a person's name and typed sensitive."""
    title = t.opt_str("invoice_name")
    if title is None:
        return None
    kind = t.opt_code("invoice_kind")
    medium = {"1": InvoiceMedium.ELECTRONIC, "2": InvoiceMedium.PAPER}.get(kind or "")
    extensions = _copy_scalars(t, ("invoice_kind", "invoice_type"))
    raw = {
        key: t.get(key)
        for key in ("invoice_name", "invoice_type", "invoice_kind")
        if t.get(key) is not None
    }
    if _is_company_title(title):
        return InvoiceRequest(
            title_type=PartyType.ORGANIZATION,
            company_name=title.strip(),
            medium=medium or InvoiceMedium.ELECTRONIC,
            extensions=extensions,
            raw=raw,
        )
    personal = None if title.strip().casefold() in _PERSONAL_TITLES else title.strip()
    return InvoiceRequest(
        title_type=PartyType.INDIVIDUAL,
        personal_name=personal,
        medium=medium or InvoiceMedium.ELECTRONIC,
        extensions=extensions,
        raw=raw,
    )


def _step_payments(t: _Node) -> dict[int, Money]:
    """`step_pay_details[]`: amount actually paid per stage (`step_no` 1 = deposit, 2 =
    balance); a stage not paid yet (`0.00`) is left out."""
    paid: dict[int, Money] = {}
    for node in t.objs("step_pay_details", "step_pay_detail"):
        step_no = node.opt_int("step_no")
        amount = node.opt_money("step_actual_pay_fee")
        if step_no is not None and amount is not None and amount.amount > 0:
            paid[step_no] = amount
    return paid


def _presale(
    t: _Node, step: str | None, total: Money, paid_at: datetime | None
) -> PresaleInfo | None:
    """Deposit/balance presale (`type=step`). The deposit is `step_pay_details` step 1 when
    present, else `step_paid_fee` while only the deposit is paid; the balance is step 2, else
    `payment - deposit`. Without a deposit amount the stage stays in `extensions` only."""
    stage = statuses.presale_stage(step)
    if stage is None:
        return None
    steps = _step_payments(t)
    step_paid = t.opt_money("step_paid_fee")
    deposit = steps.get(1)
    deposit_only = stage in (PresaleStage.DEPOSIT_PAID, PresaleStage.DEPOSIT_FORFEITED)
    if (
        deposit is None
        and step_paid is not None
        and step_paid.amount > 0
        and (
            deposit_only or (stage is PresaleStage.BALANCE_PAID and step_paid.amount < total.amount)
        )
    ):
        deposit = step_paid
    if deposit is None:
        return None
    balance = steps.get(2)
    if balance is None and deposit.amount <= total.amount:
        balance = total - deposit
    deposit_paid = stage in (
        PresaleStage.DEPOSIT_PAID,
        PresaleStage.BALANCE_PAID,
        PresaleStage.DEPOSIT_FORFEITED,
    )
    return PresaleInfo(
        stage=stage,
        native_stage=step,
        deposit=deposit,
        balance=balance,
        deposit_paid_at=paid_at if deposit_paid else None,
    )


def _payment(
    t: _Node,
    status: OrderStatus,
    total: Money,
    paid_at: datetime | None,
    presale: PresaleInfo | None,
) -> PaymentSummary | None:
    transaction = t.opt_id("alipay_no")
    if status is OrderStatus.PRESALE_DEPOSIT_PAID:
        deposit = presale.deposit if presale is not None else t.opt_money("step_paid_fee")
        if deposit is None:
            return None
        return PaymentSummary(
            method="alipay" if transaction else None,
            transaction_id=transaction,
            paid_amount=deposit,
            paid_at=paid_at,
        )
    if status not in _PAID_STATUSES:
        return None
    return PaymentSummary(
        method="alipay" if transaction else None,
        transaction_id=transaction,
        paid_amount=total,
        paid_at=paid_at,
    )


def _shipments(lines: list[_Line], consigned_at: datetime | None) -> list[Shipment]:
    """One parcel per (carrier, tracking number) found on the sub-orders
    (`logistics_company`, `invoice_no` = the waybill number, `consign_time`)."""
    parcels: dict[tuple[str, str], list[_Line]] = {}
    for x in lines:
        tracking = x.node.opt_str("invoice_no")
        if tracking is None:
            continue
        company = x.node.opt_str("logistics_company") or ""
        parcels.setdefault((company, tracking.strip()), []).append(x)
    shipments: list[Shipment] = []
    for (company, tracking), members in parcels.items():
        shipped = [t for x in members if (t := x.node.opt_time("consign_time")) is not None]
        natives = [x.native_status for x in members]
        carrier = unified_carrier_code(company or None)
        shipments.append(
            Shipment(
                carrier_code=carrier,
                native_carrier_code=company if _CARRIER_CODE.fullmatch(company) else None,
                carrier_name=company or None,
                tracking_number=tracking,
                lines=[
                    ShipmentLine(line_id=x.line.native_id, quantity=x.line.quantity, sku=x.line.sku)
                    for x in members
                ],
                status=statuses.shipment_status(natives),
                native_status=",".join(dict.fromkeys(n for n in natives if n)) or None,
                shipped_at=min(shipped) if shipped else consigned_at,
            )
        )
    return shipments


def _order_extensions(t: _Node, lines: list[_Line]) -> dict[str, Any]:
    ext = _copy_scalars(t, _ORDER_EXTENSION_FIELDS)
    seller_types = {x.node.opt_str("seller_type") for x in lines} - {None}
    if seller_types:
        ext["is_tmall"] = "B" in seller_types
    promotions = [
        _copy_scalars(node, _PROMOTION_FIELDS)
        for node in t.objs("promotion_details", "promotion_detail")
    ]
    if promotions:
        ext["promotion_details"] = promotions
    country = t.opt_str("receiver_country")
    if country is not None and _country(t) == "CN" and country.strip().upper() != "CN":
        ext["receiver_country"] = country
    return ext
