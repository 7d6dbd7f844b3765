"""TOP trade -> unified Order, on payloads shaped like `taobao.trade.fullinfo.get`."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shopbridge.connectors import MappingError
from shopbridge.connectors.taobao.mapping import (
    KNOWN_ORDER_FIELDS,
    MAPPED_ORDER_FIELDS,
    map_order,
    parse_time,
    trade_id_of,
    unknown_order_fields,
)
from shopbridge.core import (
    DiscountKind,
    DiscountScope,
    InvoiceMedium,
    Money,
    Order,
    OrderStatus,
    PartyType,
    PiiForm,
    PresaleStage,
    RefundStatus,
    ShipmentStatus,
)
from tests.connectors.taobao.helpers import BUYER_STRINGS, SHOP_ID, TRADE_FIXTURES, load


def cny(text: str) -> Money:
    return Money(amount=Decimal(text), currency="CNY")


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def mapped(name: str) -> Order:
    return map_order(load(name), shop_id=SHOP_ID)


def all_extensions(order: Order) -> str:
    parts: list[Any] = [order.extensions]
    parts += [line.extensions for line in order.lines]
    parts += [shipment.extensions for shipment in order.shipments]
    if order.invoice_request is not None:
        parts.append(order.invoice_request.extensions)
    return json.dumps(parts, ensure_ascii=False)


# ------------------------------------------------------------------ every fixture


@pytest.mark.parametrize("name", TRADE_FIXTURES)
def test_every_fixture_maps_losslessly(name: str) -> None:
    payload = load(name)
    order = map_order(payload, shop_id=SHOP_ID)
    assert order.platform == "taobao"
    assert order.shop_id == SHOP_ID
    assert order.currency == "CNY"
    assert order.raw == payload
    assert unknown_order_fields(payload) == []
    assert set(payload) <= KNOWN_ORDER_FIELDS
    assert Order.model_validate(order.model_dump(mode="json")) == order
    assert order.native_status and order.status is not OrderStatus.UNKNOWN
    for moment in (
        order.placed_at,
        order.paid_at,
        order.shipped_at,
        order.completed_at,
        order.cancelled_at,
        order.platform_updated_at,
        *(s.shipped_at for s in order.shipments),
    ):
        assert moment is None or moment.utcoffset() == UTC.utcoffset(None)
    text = all_extensions(order)
    for secret in BUYER_STRINGS:
        assert secret not in text


def test_mapped_fields_are_known() -> None:
    assert MAPPED_ORDER_FIELDS <= KNOWN_ORDER_FIELDS


# ------------------------------------------------------------------ one scenario each


def test_multi_line_awaiting_shipment_exact() -> None:
    order = mapped("awaiting_shipment_multi")
    assert order.platform_order_id == "3950117702384416531"
    assert order.status is OrderStatus.AWAITING_SHIPMENT
    assert order.native_status == "WAIT_SELLER_SEND_GOODS"
    assert order.refund_status is RefundStatus.NONE
    assert order.native_refund_status == "NO_REFUND"
    assert str(order.total) == "265.35 CNY"
    assert order.total.amount.as_tuple() == Decimal("265.35").as_tuple()
    assert order.subtotal == cny("287.90")
    assert order.shipping_fee == cny("8.00")
    assert order.discount_total == cny("28.55")
    assert order.tax_total is None
    assert order.placed_at == utc("2026-11-10T16:00:05")
    assert order.paid_at == utc("2026-11-10T16:00:31")
    assert order.platform_updated_at == utc("2026-11-10T16:02:10")
    assert order.shipped_at is None and order.shipments == []
    assert order.buyer_note == "请用纸箱包装，谢谢"
    assert order.seller_note == "优先发顺丰"

    first, second, third = order.lines
    assert first.native_id == "3950117702385416531"
    assert first.sku == "QH-PILLOW-GRY-L"
    assert first.platform_product_id == "712345678901"
    assert first.platform_variant_id == "5123456789012"
    assert first.variant_title == "颜色:灰色;尺码:L"
    assert first.quantity == 2
    assert first.unit_price == cny("89.00")
    assert str(first.discount) == "18.40 CNY"
    assert str(first.total) == "159.60 CNY"
    assert first.status is OrderStatus.AWAITING_SHIPMENT
    assert first.native_status == "WAIT_SELLER_SEND_GOODS"
    assert first.refund_status is RefundStatus.NONE
    assert first.extensions["outer_iid"] == "QH-PILLOW"
    assert first.extensions["cid"] == 50008163
    assert second.discount == cny("2.90")
    assert str(second.total) == "55.00 CNY"
    assert third.sku == "QH-EARPLUG"  # no outer_sku_id: the item's outer id
    assert third.platform_variant_id is None
    assert order.shipping_fee is not None
    lines_total = Money.sum((line.total for line in order.lines), "CNY")
    assert lines_total + order.shipping_fee == order.total  # 257.35 + 8.00, exactly

    by_line = [(d.line_id, d.kind, str(d.amount), d.scope) for d in order.discounts]
    assert by_line == [
        (first.native_id, DiscountKind.PROMOTION, "10.00 CNY", DiscountScope.LINE),
        (first.native_id, DiscountKind.PROMOTION, "8.40 CNY", DiscountScope.LINE),
        (second.native_id, DiscountKind.PROMOTION, "2.90 CNY", DiscountScope.LINE),
        (second.native_id, DiscountKind.SELLER_ADJUSTMENT, "2.00 CNY", DiscountScope.LINE),
        (third.native_id, DiscountKind.PROMOTION, "5.00 CNY", DiscountScope.LINE),
        (third.native_id, DiscountKind.PROMOTION, "2.25 CNY", DiscountScope.LINE),
    ]

    receiver = order.receiver
    assert receiver is not None
    assert receiver.pii_form is PiiForm.MASKED
    assert receiver.name is not None and receiver.name.reveal() == "王**"
    assert receiver.phone is not None and receiver.phone.reveal() == "*******8821"
    assert receiver.alt_phone is None  # sent as ""
    assert receiver.oaid == load("awaiting_shipment_multi")["oaid"]
    address = receiver.address
    assert address is not None
    assert (address.country, address.province, address.city, address.district, address.town) == (
        "CN",
        "浙江省",
        "杭州市",
        "西湖区",
        "文新街道",
    )
    assert [line.reveal() for line in address.lines] == ["文**路**号****"]
    assert address.postal_code is not None and address.postal_code.reveal() == "310012"
    buyer = order.buyer
    assert buyer is not None
    assert buyer.platform_buyer_id == "AAGZ9Lx2AAeGwJedwSHpg8bT"
    assert buyer.nickname is not None and buyer.nickname.reveal() == "t**9"
    assert buyer.pii_form is PiiForm.MASKED

    assert order.payment is not None
    assert order.payment.paid_amount == cny("265.35")
    assert order.payment.method == "alipay"
    assert order.payment.transaction_id == "2026111122001188660512345678"
    assert order.payment.paid_at == order.paid_at

    ext = order.extensions
    assert ext["seller_flag"] == 1
    assert ext["trade_from"] == "WAP,JHS"
    assert ext["is_tmall"] is False
    assert ext["timeout_action_time"] == "2026-11-14 00:00:31"
    assert [p["promotion_id"] for p in ext["promotion_details"]] == [
        "crossShop-6683017",
        "shopbonus-5519120",
    ]
    assert "buyer_nick" not in ext and "receiver_name" not in ext


def test_partially_shipped_plain_arrays_and_parcels() -> None:
    order = mapped("partially_shipped")  # `orders` as a plain array (simplify=true form)
    assert order.status is OrderStatus.PARTIALLY_SHIPPED
    assert [line.status for line in order.lines] == [
        OrderStatus.SHIPPED,
        OrderStatus.AWAITING_SHIPMENT,
    ]
    (parcel,) = order.shipments
    assert parcel.carrier_code == "ZTO"
    assert parcel.carrier_name == "中通快递"
    assert parcel.native_carrier_code is None  # a display name, not a company code
    assert parcel.tracking_number == "78912345678901"
    assert parcel.status is ShipmentStatus.SHIPPED
    assert parcel.native_status == "WAIT_BUYER_CONFIRM_GOODS"
    assert [(line.line_id, line.quantity, line.sku) for line in parcel.lines] == [
        ("3950223456789012346", 2, "QH-TOWEL-WHT")
    ]
    assert parcel.shipped_at == utc("2026-11-04T02:31:06")
    assert order.shipped_at == utc("2026-11-04T02:31:06")
    assert order.extensions["is_part_consign"] is True


def test_shipped_and_finished() -> None:
    shipped = mapped("shipped")
    assert shipped.status is OrderStatus.SHIPPED
    assert shipped.shipped_at == utc("2026-11-21T07:42:18")
    (parcel,) = shipped.shipments
    assert (parcel.carrier_code, parcel.tracking_number) == ("SF", "SF1402837465102")
    finished = mapped("finished")
    assert finished.status is OrderStatus.COMPLETED
    assert finished.completed_at == utc("2026-10-09T00:15:44")
    (parcel,) = finished.shipments
    assert (parcel.carrier_code, parcel.native_carrier_code) == ("YTO", "YTO")
    assert parcel.status is ShipmentStatus.DELIVERED


def test_closed_after_refund() -> None:
    order = mapped("closed_refunded")
    assert order.status is OrderStatus.CLOSED
    assert order.refund_status is RefundStatus.REFUNDED
    assert order.native_refund_status == "SUCCESS;TRADE_CLOSED"
    assert {line.refund_status for line in order.lines} == {RefundStatus.REFUNDED}
    assert order.lines[0].extensions["refund_id"] == 210987654321098765
    assert order.payment is not None and order.payment.paid_amount == cny("120.00")
    assert order.cancelled_at is None and order.completed_at is None


def test_closed_by_taobao_before_payment() -> None:
    order = mapped("closed_by_taobao")
    assert order.status is OrderStatus.CANCELLED
    assert order.cancelled_at == utc("2026-11-30T16:05:01")
    assert order.payment is None and order.paid_at is None
    assert order.refund_status is RefundStatus.NONE


def test_presale_deposit_paid() -> None:
    order = mapped("presale_deposit_paid")
    assert order.status is OrderStatus.PRESALE_DEPOSIT_PAID
    assert order.native_status == "WAIT_BUYER_PAY;step_trade_status=FRONT_PAID_FINAL_NOPAID"
    presale = order.presale
    assert presale is not None
    assert presale.stage is PresaleStage.DEPOSIT_PAID
    assert presale.native_stage == "FRONT_PAID_FINAL_NOPAID"
    assert str(presale.deposit) == "50.00 CNY"
    assert str(presale.balance) == "349.00 CNY"
    assert presale.deposit_paid_at == utc("2026-10-24T12:01:39")
    assert order.payment is not None and order.payment.paid_amount == cny("50.00")
    assert order.extensions["type"] == "step"


def test_presale_balance_paid() -> None:
    order = mapped("presale_balance_paid")
    assert order.status is OrderStatus.AWAITING_SHIPMENT
    presale = order.presale
    assert presale is not None
    assert presale.stage is PresaleStage.BALANCE_PAID
    assert (presale.deposit, presale.balance) == (cny("50.00"), cny("349.00"))


def test_presale_without_stage_amounts() -> None:
    payload = load("presale_deposit_paid")
    del payload["step_pay_details"]
    presale = map_order(payload, shop_id=SHOP_ID).presale
    assert presale is not None and presale.deposit == cny("50.00")
    payload["step_trade_status"] = "FRONT_NOPAID_FINAL_NOPAID"
    payload["step_paid_fee"] = "0.00"
    order = map_order(payload, shop_id=SHOP_ID)
    assert order.status is OrderStatus.PENDING_PAYMENT
    assert order.presale is None  # no deposit amount known: the stage stays in extensions
    assert order.extensions["step_trade_status"] == "FRONT_NOPAID_FINAL_NOPAID"
    payload["step_trade_status"] = "FRONT_PAID_FRONT_FORFEITED"
    payload["status"] = "TRADE_CLOSED_BY_TAOBAO"
    payload["step_paid_fee"] = "50.00"
    order = map_order(payload, shop_id=SHOP_ID)
    assert order.status is OrderStatus.CANCELLED
    assert order.presale is not None and order.presale.stage is PresaleStage.DEPOSIT_FORFEITED


def test_paid_forbid_consign_is_on_hold() -> None:
    order = mapped("paid_forbid_consign")
    assert order.status is OrderStatus.ON_HOLD
    assert order.extensions["team_buy_hold"] == 1
    assert order.payment is not None


def test_tmall_trade_with_company_invoice() -> None:
    order = mapped("tmall_invoice")
    invoice = order.invoice_request
    assert invoice is not None
    assert invoice.title_type is PartyType.ORGANIZATION
    assert invoice.company_name == "宁波青禾贸易有限公司"
    assert invoice.personal_name is None
    assert invoice.medium is InvoiceMedium.ELECTRONIC
    assert invoice.extensions == {"invoice_kind": "1", "invoice_type": "商品明细"}
    assert order.extensions["is_tmall"] is True
    assert order.extensions["timing_promise"] == "tmallPromise"
    assert order.lines[0].extensions["store_code"] == "NB-WH-01"
    assert order.receiver is not None and order.receiver.oaid is not None


def test_personal_invoice_title_is_sensitive() -> None:
    payload = load("tmall_invoice")
    payload["invoice_name"] = "周晓明"
    payload["invoice_kind"] = 2
    invoice = map_order(payload, shop_id=SHOP_ID).invoice_request
    assert invoice is not None
    assert invoice.title_type is PartyType.INDIVIDUAL
    assert invoice.company_name is None
    assert invoice.personal_name is not None and invoice.personal_name.reveal() == "周晓明"
    assert "周晓明" not in repr(invoice)
    assert invoice.medium is InvoiceMedium.PAPER
    generic = mapped("big_ids_plain").invoice_request  # "个人": a personal title, no name
    assert generic is not None
    assert generic.title_type is PartyType.INDIVIDUAL and generic.personal_name is None


def test_plain_receiver_and_64_bit_ids() -> None:
    order = mapped("big_ids_plain")
    assert order.platform_order_id == "9187654321098765432"
    assert order.lines[0].native_id == "9187654321098765433"
    assert order.lines[0].platform_product_id == "9007199254740993"  # 2^53 + 1, exact
    assert order.lines[0].platform_variant_id == "9007199254740995"
    receiver = order.receiver
    assert receiver is not None
    assert receiver.pii_form is PiiForm.PLAIN
    assert receiver.alt_phone is not None and receiver.alt_phone.reveal() == "0571-88157858"
    assert receiver.address is not None and receiver.address.country == "CN"
    assert order.buyer is not None and order.buyer.email is not None
    assert order.buyer.platform_buyer_id is None


def test_ids_from_int64_numbers_without_the_str_form() -> None:
    payload = load("big_ids_plain")
    del payload["tid_str"]
    del payload["orders"]["order"][0]["oid_str"]
    order = map_order(payload, shop_id=SHOP_ID)
    assert order.platform_order_id == "9187654321098765432"
    assert order.lines[0].native_id == "9187654321098765433"
    assert trade_id_of(payload) == "9187654321098765432"


def test_float_ids_are_refused() -> None:
    payload = load("big_ids_plain")
    del payload["tid_str"]
    payload["tid"] = 9.187654321098765e18
    with pytest.raises(MappingError) as caught:
        map_order(payload, shop_id=SHOP_ID)
    assert caught.value.path == "$.tid"
    assert "float" in caught.value.message


def test_decimal_exactness() -> None:
    order = mapped("big_ids_plain")
    assert order.total.amount == Decimal("0.10")
    assert str(order.total.amount) == "0.10"
    assert order.subtotal is not None and order.discount_total is not None
    assert order.subtotal - order.discount_total == order.total  # 0.30 - 0.20, exactly
    assert order.lines[0].discount == cny("0.20")
    assert 0.1 + 0.2 != 0.3  # what a float pipeline would have done


@pytest.mark.parametrize(
    ("wall_clock", "expected"),
    [
        ("2026-11-11 00:00:05", "2026-11-10T16:00:05"),
        ("2026-01-01 07:59:59", "2025-12-31T23:59:59"),
        ("2026-03-08 02:30:00", "2026-03-07T18:30:00"),  # no daylight saving in China
        ("2026-12-31 23:59:59", "2026-12-31T15:59:59"),
        ("2026-11-11T00:00:05+00:00", "2026-11-11T00:00:05"),  # an explicit offset wins
    ],
)
def test_shanghai_wall_clock_to_utc(wall_clock: str, expected: str) -> None:
    assert parse_time(wall_clock, "$.created") == utc(expected)


@pytest.mark.parametrize(
    "bad", ["2026/11/11 00:00:05", "2026-11-11", "tomorrow", "", "2026-13-01 00:00:00"]
)
def test_malformed_times(bad: str) -> None:
    with pytest.raises(MappingError) as caught:
        parse_time(bad, "$.created")
    assert caught.value.path == "$.created"


# ------------------------------------------------------------------ refunds and unknowns


def test_partial_refund_rolls_up() -> None:
    payload = load("awaiting_shipment_multi")
    lines = payload["orders"]["order"]
    lines[0]["refund_status"] = "SUCCESS"
    order = map_order(payload, shop_id=SHOP_ID)
    assert order.refund_status is RefundStatus.PARTIALLY_REFUNDED
    assert order.native_refund_status == "SUCCESS,NO_REFUND"
    lines[1]["refund_status"] = "WAIT_SELLER_AGREE"
    assert map_order(payload, shop_id=SHOP_ID).refund_status is RefundStatus.REQUESTED
    lines[1]["refund_status"] = "SOMETHING_NEW"
    order = map_order(payload, shop_id=SHOP_ID)
    assert order.refund_status is RefundStatus.UNKNOWN
    assert order.lines[1].native_refund_status == "SOMETHING_NEW"


def test_unknown_status_keeps_the_native_value() -> None:
    payload = load("shipped")
    payload["status"] = "TRADE_WAIT_SOMETHING_NEW"
    payload["orders"]["order"][0]["status"] = "TRADE_WAIT_SOMETHING_NEW"
    order = map_order(payload, shop_id=SHOP_ID)
    assert order.status is OrderStatus.UNKNOWN
    assert order.native_status == "TRADE_WAIT_SOMETHING_NEW"
    assert order.lines[0].status is OrderStatus.UNKNOWN


def test_new_field_is_reported_and_kept() -> None:
    payload = load("shipped")
    payload["influencer_commission_fee"] = "3.00"
    order = map_order(payload, shop_id=SHOP_ID)
    assert unknown_order_fields(payload) == ["influencer_commission_fee"]
    assert order.raw is not None and order.raw["influencer_commission_fee"] == "3.00"


def test_pii_forms() -> None:
    payload = load("big_ids_plain")
    payload["receiver_mobile"] = "18877771111-123"
    receiver = map_order(payload, shop_id=SHOP_ID).receiver
    assert receiver is not None and receiver.pii_form is PiiForm.VIRTUAL
    payload["receiver_name"] = "~AgAAAAAb6x0Bz8zXRqBf3lO4F8s=~1~"
    receiver = map_order(payload, shop_id=SHOP_ID).receiver
    assert receiver is not None and receiver.pii_form is PiiForm.ENCRYPTED


def test_single_sub_order_payment_includes_postage() -> None:
    payload = load("shipped")
    payload.update(payment="109.00", post_fee="10.00")
    line = payload["orders"]["order"][0]
    del line["divide_order_fee"]
    line["payment"] = "109.00"
    order = map_order(payload, shop_id=SHOP_ID)
    assert order.lines[0].total == cny("99.00")
    assert order.shipping_fee == cny("10.00") and order.total == cny("109.00")
    # several sub-orders: their `payment` excludes postage and is taken as is
    multi = load("awaiting_shipment_multi")
    for item in multi["orders"]["order"]:
        del item["divide_order_fee"]
    assert [str(x.total) for x in map_order(multi, shop_id=SHOP_ID).lines] == [
        "168.00 CNY",
        "57.90 CNY",
        "45.00 CNY",
    ]


def test_trade_without_receiver_or_lines() -> None:
    payload = load("shipped")
    for key in [k for k in payload if k.startswith("receiver_") or k == "orders"]:
        del payload[key]
    order = map_order(payload, shop_id=SHOP_ID)
    assert order.receiver is None and order.lines == [] and order.shipments == []
    assert order.refund_status is RefundStatus.NONE


# ------------------------------------------------------------------ damage


def _damage(payload: dict[str, Any], path: str, value: Any) -> None:
    keys = path.split(".")
    target: Any = payload
    for key in keys[:-1]:
        target = target[int(key)] if isinstance(target, list) else target[key]
    last: Any = int(keys[-1]) if isinstance(target, list) else keys[-1]
    if value is ...:
        del target[last]
    else:
        target[last] = value


@pytest.mark.parametrize(
    ("where", "value", "path"),
    [
        ("tid", ..., None),  # tid_str alone is enough
        ("tid_str", ..., None),  # and so is tid
        ("status", ..., "$.status"),
        ("created", ..., "$.created"),
        ("created", "2026/11/11 00:00:05", "$.created"),
        ("modified", 1762790410000, "$.modified"),
        ("payment", ..., "$.payment"),
        ("payment", 265.35, "$.payment"),
        ("payment", "26 5.35", "$.payment"),
        ("post_fee", "8.00.1", "$.post_fee"),
        ("receiver_name", 42, "$.receiver_name"),
        ("orders", "three lines", "$.orders"),
        ("orders.order.0", "a line", "$.orders.order[0]"),
        ("orders.order.0.price", 89.0, "$.orders.order[0].price"),
        ("orders.order.0.num", "two", "$.orders.order[0].num"),
        ("orders.order.0.num", 0, "$.orders.order[0].num"),
        ("orders.order.0.title", ..., "$.orders.order[0].title"),
        ("orders.order.1.oid_str", ..., None),
    ],
)
def test_mapping_errors_name_the_path(where: str, value: Any, path: str | None) -> None:
    payload = load("awaiting_shipment_multi")
    _damage(payload, where, value)
    if path is None:
        map_order(payload, shop_id=SHOP_ID)
        return
    with pytest.raises(MappingError) as caught:
        map_order(payload, shop_id=SHOP_ID)
    assert caught.value.path == path
    assert caught.value.message.startswith(path)


def test_missing_trade_id() -> None:
    payload = load("awaiting_shipment_multi")
    del payload["tid"], payload["tid_str"]
    with pytest.raises(MappingError) as caught:
        map_order(payload, shop_id=SHOP_ID)
    assert caught.value.path == "$.tid"
    assert trade_id_of(payload) is None


def test_not_an_object() -> None:
    for payload in (None, [], "trade", 3):
        with pytest.raises(MappingError) as caught:
            map_order(payload, shop_id=SHOP_ID)
        assert caught.value.path == "$"


def test_model_refusals_become_mapping_errors() -> None:
    payload = load("awaiting_shipment_multi")
    lines = payload["orders"]["order"]
    lines[1]["oid_str"] = lines[0]["oid_str"]
    with pytest.raises(MappingError) as caught:
        map_order(payload, shop_id=SHOP_ID)
    assert caught.value.path is not None and caught.value.path.startswith("Order")


@pytest.mark.parametrize(
    "field",
    [
        "receiver_name",
        "receiver_mobile",
        "receiver_phone",
        "receiver_address",
        "receiver_zip",
        "buyer_nick",
        "buyer_email",
    ],
)
def test_no_buyer_data_in_errors(field: str) -> None:
    payload = load("big_ids_plain")
    payload[field] = {"leak": payload[field]}
    payload["payment"] = 0.1
    for damaged in (payload, {**load("big_ids_plain"), field: ["李雷", "13912345678"]}):
        with pytest.raises(MappingError) as caught:
            map_order(damaged, shop_id=SHOP_ID)
        text = f"{caught.value} {caught.value.message} {caught.value.path}"
        for secret in BUYER_STRINGS:
            assert secret not in text


# ------------------------------------------------------------------ properties


@settings(max_examples=60, deadline=None)
@given(
    st.decimals(min_value=Decimal("0"), max_value=Decimal("99999999.99"), places=2),
    st.integers(min_value=1, max_value=999),
)
def test_amounts_are_read_exactly(price: Decimal, quantity: int) -> None:
    payload = load("shipped")
    line = payload["orders"]["order"][0]
    text = f"{price:.2f}"
    line["price"] = text
    line["num"] = quantity
    line["divide_order_fee"] = f"{price * quantity:.2f}"
    payload["payment"] = f"{price * quantity:.2f}"
    order = map_order(payload, shop_id=SHOP_ID)
    assert order.lines[0].unit_price.amount == Decimal(text)
    assert str(order.total.amount) == f"{price * quantity:.2f}"
