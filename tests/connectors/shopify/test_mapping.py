"""Shopify order payloads (shaped after Shopify's REST reference examples) -> unified Order."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from shopbridge.connectors import MappingError
from shopbridge.connectors.shopify.mapping import (
    KNOWN_ORDER_FIELDS,
    MAPPED_ORDER_FIELDS,
    map_order,
    order_id_of,
    unknown_order_fields,
)
from shopbridge.core import (
    DiscountKind,
    DiscountScope,
    Money,
    Order,
    OrderStatus,
    PiiForm,
    PresaleStage,
    RefundStatus,
    ShipmentStatus,
)
from tests.connectors.shopify.helpers import BUYER_STRINGS, ORDER_FIXTURES, SHOP_ID, load


def usd(amount: str) -> Money:
    return Money(amount=Decimal(amount), currency="USD")


def mapped(name: str, **kwargs: Any) -> Order:
    return map_order(load(name), shop_id=SHOP_ID, **kwargs)


def exact(money: Money | None) -> str:
    """The amount with its scale, so `12.3` and `12.30` differ."""
    assert money is not None
    return f"{money.amount} {money.currency}"


# ------------------------------------------------------------------ every fixture


@pytest.mark.parametrize("name", ORDER_FIXTURES)
def test_every_fixture_maps_round_trips_and_keeps_raw(name: str) -> None:
    payload = load(name)
    order = map_order(payload, shop_id=SHOP_ID)

    assert order.platform == "shopify"
    assert order.platform_order_id == str(payload["id"])
    assert order.raw == payload
    for key, value in payload.items():
        assert key in MAPPED_ORDER_FIELDS or order.raw[key] == value
    assert unknown_order_fields(payload) == []
    assert set(payload) <= KNOWN_ORDER_FIELDS
    # storage round trip is lossless
    assert Order.model_validate(order.model_dump(mode="json")) == order


@pytest.mark.parametrize("name", ORDER_FIXTURES)
def test_times_are_aware_utc(name: str) -> None:
    order = mapped(name)
    moments = [order.placed_at, order.platform_updated_at, order.cancelled_at, order.shipped_at]
    moments += [s.shipped_at for s in order.shipments]
    for moment in moments:
        if moment is not None:
            assert moment.tzinfo is not None
            assert moment.utcoffset() == UTC.utcoffset(None)


@pytest.mark.parametrize("name", ORDER_FIXTURES)
def test_extensions_hold_no_personal_data(name: str) -> None:
    order = mapped(name)
    dumped = str([order.extensions] + [line.extensions for line in order.lines])
    dumped += str([s.extensions for s in order.shipments])
    for text in BUYER_STRINGS:
        assert text not in dumped


# ------------------------------------------------------------------ one order in detail


def test_paid_unfulfilled_multi_line_with_discounts_and_taxes() -> None:
    order = mapped("paid_unfulfilled")

    assert order.status is OrderStatus.AWAITING_SHIPMENT
    assert order.native_status == "financial_status=paid;fulfillment_status=null"
    assert order.refund_status is RefundStatus.NONE
    assert order.currency == "USD"
    assert exact(order.total) == "206.09 USD"
    assert exact(order.subtotal) == "199.98 USD"
    assert exact(order.shipping_fee) == "12.00 USD"
    assert exact(order.discount_total) == "17.00 USD"
    assert exact(order.tax_total) == "11.11 USD"
    assert order.placed_at == datetime(2026, 11, 11, 0, 0, 5, tzinfo=UTC)
    assert order.platform_updated_at == datetime(2026, 11, 11, 0, 0, 7, tzinfo=UTC)
    assert order.buyer_note == "Please gift wrap"
    assert order.tags == ["vip", "wholesale"]

    tee, cap, lamp = order.lines
    assert (tee.native_id, tee.sku, tee.platform_product_id, tee.platform_variant_id) == (
        "6601000001",
        "DET-BLK-L",
        "4401000001",
        "4501000001",
    )
    assert tee.title == "Difference Engine Tee"
    assert tee.variant_title == "Black / L"
    assert tee.quantity == 2
    assert exact(tee.unit_price) == "49.99 USD"
    assert exact(tee.discount) == "5.00 USD"
    assert exact(tee.tax) == "5.70 USD"
    # taxes are not included in prices: 2 x 49.99 - 5.00 + 5.70
    assert exact(tee.total) == "100.68 USD"
    assert exact(cap.discount) == "6.25 USD"  # order code share + line promotion
    assert exact(cap.total) == "19.88 USD"
    assert lamp.variant_title is None
    assert exact(lamp.total) == "75.53 USD"
    # lines + shipping after its discount = what the buyer pays
    assert Money.sum([line.total for line in order.lines], "USD") + usd("10.00") == order.total

    coupon, promotion, shipping = order.discounts
    assert (coupon.kind, coupon.scope, coupon.code, exact(coupon.amount)) == (
        DiscountKind.COUPON,
        DiscountScope.ORDER,
        "TENOFF",
        "10.00 USD",
    )
    assert coupon.line_id is None
    assert (promotion.kind, promotion.scope, promotion.line_id) == (
        DiscountKind.PROMOTION,
        DiscountScope.LINE,
        "6601000002",
    )
    assert promotion.description == "Hat week"
    assert exact(promotion.amount) == "5.00 USD"
    assert (shipping.kind, shipping.scope, exact(shipping.amount)) == (
        DiscountKind.SHIPPING,
        DiscountScope.SHIPPING,
        "2.00 USD",
    )
    assert Money.sum([d.amount for d in order.discounts], "USD") == order.discount_total

    assert order.payment is not None
    assert order.payment.method == "shopify_payments"
    assert exact(order.payment.paid_amount) == "206.09 USD"
    assert order.paid_at is None  # Shopify's order carries no payment time

    ext = order.extensions
    assert ext["name"] == "#1001"
    assert ext["order_number"] == 1001
    assert ext["source_name"] == "web"
    assert ext["processed_at"] == "2026-11-10T16:00:05-08:00"
    assert ext["discount_codes"] == [{"code": "TENOFF", "type": "fixed_amount", "amount": "10.00"}]
    assert ext["tax_lines"] == [{"title": "CA State Tax", "rate": 0.06, "price": "11.11"}]
    assert "presentment" not in ext
    assert tee.extensions["fulfillable_quantity"] == 2
    assert tee.extensions["vendor"] == "Analytical Goods"


def test_buyer_and_receiver_are_sensitive_parties() -> None:
    order = mapped("paid_unfulfilled")
    buyer, receiver = order.buyer, order.receiver
    assert buyer is not None
    assert receiver is not None
    assert buyer.platform_buyer_id == "7301000001"
    assert buyer.name is not None
    assert buyer.name.reveal() == "Ada Lovelace"
    assert buyer.email is not None
    assert buyer.email.reveal() == "ada@example.com"
    assert buyer.phone is not None
    assert buyer.phone.reveal() == "+14155550132"
    assert buyer.pii_form is PiiForm.PLAIN
    assert receiver.address is not None
    assert receiver.address.country == "US"
    assert receiver.address.province == "California"
    assert receiver.address.province_code == "CA"
    assert receiver.address.city == "San Francisco"
    assert [line.reveal() for line in receiver.address.lines] == ["12 Analytical Row", "Suite 4"]
    assert receiver.address.postal_code is not None
    assert receiver.address.postal_code.reveal() == "94107"
    # nothing personal in the repr or the masked dump
    text = repr(order) + str(order.model_dump(mode="json", context={"mask_pii": True}))
    for secret in BUYER_STRINGS[1:]:
        assert secret not in text


def test_partially_fulfilled() -> None:
    order = mapped("partially_fulfilled")
    assert order.status is OrderStatus.PARTIALLY_SHIPPED
    assert order.native_status == "financial_status=paid;fulfillment_status=partial"
    shipped, open_line = order.lines
    assert shipped.status is OrderStatus.SHIPPED
    assert shipped.native_status == "fulfilled"
    assert open_line.status is None
    (parcel,) = order.shipments
    assert parcel.native_id == "8701000001"
    assert parcel.carrier_code == "UPS"
    assert parcel.native_carrier_code == "UPS"
    assert parcel.tracking_number == "1Z999AA10123456784"
    assert parcel.tracking_url == "https://www.ups.com/track?tracknum=1Z999AA10123456784"
    assert parcel.status is ShipmentStatus.IN_TRANSIT
    assert parcel.native_status == "status=success;shipment_status=in_transit"
    assert [(line.line_id, line.quantity) for line in parcel.lines] == [("6601000011", 1)]
    assert parcel.shipped_at == datetime(2026, 11, 11, 17, 30, tzinfo=UTC)
    assert order.shipped_at is None  # not everything shipped yet
    assert parcel.extensions["name"] == "#1002.1"


def test_fulfilled_keeps_cancelled_fulfillment_and_reports_delivery() -> None:
    order = mapped("fulfilled")
    assert order.status is OrderStatus.SHIPPED
    cancelled, delivered = order.shipments
    assert (cancelled.status, cancelled.carrier_code) == (ShipmentStatus.CANCELLED, "USPS")
    assert (delivered.status, delivered.carrier_code) == (ShipmentStatus.DELIVERED, "FEDEX")
    assert delivered.native_carrier_code == "FedEx"
    # shipped_at is the last successful fulfillment, never the cancelled one
    assert order.shipped_at == datetime(2026, 11, 11, 18, 15, tzinfo=UTC)


def test_fulfilled_and_closed_is_completed() -> None:
    payload = load("fulfilled")
    payload["closed_at"] = "2026-11-20T00:00:00+00:00"
    order = map_order(payload, shop_id=SHOP_ID)
    assert order.status is OrderStatus.COMPLETED
    assert order.completed_at == datetime(2026, 11, 20, tzinfo=UTC)
    assert order.native_status == "financial_status=paid;fulfillment_status=fulfilled;closed"


def test_cancelled_and_refunded() -> None:
    order = mapped("cancelled_refunded")
    assert order.status is OrderStatus.CANCELLED
    assert order.refund_status is RefundStatus.REFUNDED
    assert order.native_status == "financial_status=refunded;fulfillment_status=null;cancelled"
    assert order.native_refund_status == "financial_status=refunded"
    assert order.cancelled_at == datetime(2026, 11, 11, 2, 0, tzinfo=UTC)
    assert order.extensions["cancel_reason"] == "customer"
    (line,) = order.lines
    assert line.refund_status is RefundStatus.REFUNDED
    assert line.native_refund_status == "refunded_quantity=1"
    assert order.extensions["current_total_price"] == "0.00"


def test_partially_refunded() -> None:
    order = mapped("partially_refunded")
    assert order.status is OrderStatus.SHIPPED
    assert order.refund_status is RefundStatus.PARTIALLY_REFUNDED
    (line,) = order.lines
    assert line.refund_status is RefundStatus.PARTIALLY_REFUNDED
    assert line.native_refund_status == "refunded_quantity=1"
    assert order.shipments[0].carrier_code == "ROYAL_MAIL"


def test_pending_refund_transaction_is_processing() -> None:
    payload = load("partially_refunded")
    payload["financial_status"] = "paid"
    payload["refunds"][0]["transactions"][0]["status"] = "pending"
    order = map_order(payload, shop_id=SHOP_ID)
    assert order.refund_status is RefundStatus.PROCESSING
    assert order.native_refund_status == "financial_status=paid;refund_transaction=pending"


def test_pending_payment() -> None:
    order = mapped("pending_payment")
    assert order.status is OrderStatus.PENDING_PAYMENT
    assert order.payment is None
    assert order.extensions["payment_gateway_names"] == ["Bank Deposit"]
    assert order.extensions["total_outstanding"] == "79.50"


def test_payment_terms_make_an_unpaid_order_shippable() -> None:
    payload = load("pending_payment")
    payload["payment_terms"] = {
        "id": 306184297,
        "payment_terms_name": "Net 30",
        "payment_terms_type": "net",
        "due_in_days": 30,
        "payment_schedules": [],
    }
    order = map_order(payload, shop_id=SHOP_ID)
    assert order.status is OrderStatus.AWAITING_SHIPMENT
    assert order.native_status is not None
    assert order.native_status.endswith(";payment_terms")
    assert order.extensions["payment_terms"] == {
        "payment_terms_name": "Net 30",
        "payment_terms_type": "net",
        "due_in_days": 30,
    }


def test_partially_paid_without_terms_is_a_deposit_order() -> None:
    payload = load("pending_payment")
    payload["financial_status"] = "partially_paid"
    payload["total_outstanding"] = "50.00"
    order = map_order(payload, shop_id=SHOP_ID)
    assert order.status is OrderStatus.PRESALE_DEPOSIT_PAID
    assert order.presale is not None
    assert order.presale.stage is PresaleStage.DEPOSIT_PAID
    assert exact(order.presale.deposit) == "29.50 USD"
    assert exact(order.presale.balance) == "50.00 USD"
    assert order.payment is not None
    assert exact(order.payment.paid_amount) == "29.50 USD"


def test_authorized() -> None:
    order = mapped("authorized")
    assert order.status is OrderStatus.AWAITING_SHIPMENT
    assert order.native_status == "financial_status=authorized;fulfillment_status=null"
    assert order.payment is not None
    assert exact(order.payment.paid_amount) == "0.00 USD"  # held, not captured


def test_voided() -> None:
    order = mapped("voided")
    assert order.status is OrderStatus.CANCELLED
    assert order.refund_status is RefundStatus.NONE
    assert order.cancelled_at is None  # voided, never cancelled on Shopify


def test_on_hold_needs_fulfillment_orders() -> None:
    holds = load("on_hold_fulfillment_orders")["fulfillment_orders"]
    assert mapped("on_hold").status is OrderStatus.AWAITING_SHIPMENT
    order = mapped("on_hold", fulfillment_orders=holds)
    assert order.status is OrderStatus.ON_HOLD
    assert order.native_status == "financial_status=paid;fulfillment_status=null;held"


def test_hold_on_one_of_two_fulfillment_orders_still_ships() -> None:
    holds = load("on_hold_fulfillment_orders")["fulfillment_orders"]
    other = dict(holds[0], id=1046000902, status="open")
    closed = dict(holds[0], id=1046000903, status="closed")
    order = mapped("on_hold", fulfillment_orders=[*holds, other, closed])
    assert order.status is OrderStatus.AWAITING_SHIPMENT
    only_hold = mapped("on_hold", fulfillment_orders=[*holds, closed])
    assert only_hold.status is OrderStatus.ON_HOLD


def test_display_style_on_hold_value_is_understood() -> None:
    payload = load("on_hold")
    payload["fulfillment_status"] = "on_hold"
    order = map_order(payload, shop_id=SHOP_ID)
    assert order.status is OrderStatus.ON_HOLD
    assert order.native_status == "financial_status=paid;fulfillment_status=on_hold"


def test_presentment_currency_stays_in_extensions() -> None:
    order = mapped("presentment_currency")
    assert order.currency == "USD"
    assert exact(order.total) == "169.00 USD"
    assert order.extensions["presentment"] == {
        "currency": "EUR",
        "total_price": "155.48",
        "subtotal_price": "138.00",
        "total_line_items_price": "138.00",
        "total_discounts": "0.00",
        "total_tax": "8.28",
        "total_shipping_price": "9.20",
        "current_total_price": "155.48",
    }
    (line,) = order.lines
    assert exact(line.unit_price) == "75.00 USD"
    assert line.extensions["presentment_price"] == {"amount": "69.00", "currency": "EUR"}


def test_pos_order_without_customer_or_address() -> None:
    order = mapped("pos_no_customer")
    assert order.buyer is None
    assert order.receiver is None
    assert order.status is OrderStatus.COMPLETED
    (line,) = order.lines
    # taxes included in the price: the tax is not added on top
    assert exact(line.tax) == "1.42 USD"
    assert exact(line.total) == "25.00 USD"
    (parcel,) = order.shipments
    assert parcel.carrier_code is None
    assert parcel.tracking_number is None
    assert order.payment is not None
    assert order.payment.method == "cash"
    assert order.extensions["location_id"] == 6501000001


# ------------------------------------------------------------------ unknown values


def test_unknown_financial_status_maps_to_unknown_and_keeps_native() -> None:
    payload = load("paid_unfulfilled")
    payload["financial_status"] = "partially_disputed"
    order = map_order(payload, shop_id=SHOP_ID)
    assert order.status is OrderStatus.UNKNOWN
    assert order.refund_status is RefundStatus.UNKNOWN
    assert order.native_status == "financial_status=partially_disputed;fulfillment_status=null"
    assert order.extensions["financial_status"] == "partially_disputed"


def test_unknown_fulfillment_status_maps_to_unknown() -> None:
    payload = load("paid_unfulfilled")
    payload["fulfillment_status"] = "teleported"
    assert map_order(payload, shop_id=SHOP_ID).status is OrderStatus.UNKNOWN


def test_unknown_fulfillment_and_shipment_statuses() -> None:
    payload = load("partially_fulfilled")
    payload["fulfillments"][0]["shipment_status"] = "lost_in_space"
    payload["line_items"][0]["fulfillment_status"] = "beamed"
    order = map_order(payload, shop_id=SHOP_ID)
    assert order.shipments[0].status is ShipmentStatus.UNKNOWN
    assert order.lines[0].status is OrderStatus.UNKNOWN
    assert order.lines[0].native_status == "beamed"


def test_new_top_level_field_is_kept_and_reported() -> None:
    payload = load("paid_unfulfilled")
    payload["influencer_commission"] = {"amount": "1.00"}
    order = map_order(payload, shop_id=SHOP_ID)
    assert isinstance(order.raw, dict)
    assert order.raw["influencer_commission"] == {"amount": "1.00"}
    assert unknown_order_fields(payload) == ["influencer_commission"]


def test_unknown_tracking_company_is_other_with_native_name() -> None:
    payload = load("partially_fulfilled")
    payload["fulfillments"][0]["tracking_company"] = "Bob's Courier"
    parcel = map_order(payload, shop_id=SHOP_ID).shipments[0]
    assert parcel.carrier_code == "OTHER"
    assert parcel.native_carrier_code == "Bob's Courier"
    assert parcel.carrier_name == "Bob's Courier"


def test_discount_codes_fallback_without_allocations() -> None:
    payload = load("paid_unfulfilled")
    for line in payload["line_items"]:
        line["discount_allocations"] = []
    payload["shipping_lines"][0]["discount_allocations"] = []
    order = map_order(payload, shop_id=SHOP_ID)
    (code,) = order.discounts
    assert (code.kind, code.scope, code.code, exact(code.amount)) == (
        DiscountKind.COUPON,
        DiscountScope.ORDER,
        "TENOFF",
        "10.00 USD",
    )


# ------------------------------------------------------------------ refusals


def _corrupt(path: list[str | int], value: Any) -> dict[str, Any]:
    payload = load("paid_unfulfilled")
    target: Any = payload
    for key in path[:-1]:
        target = target[key]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return payload


_DELETE = object()


@pytest.mark.parametrize(
    ("path", "value", "where"),
    [
        (["id"], _DELETE, "$.id"),
        (["id"], None, "$.id"),
        (["id"], True, "$.id"),
        (["currency"], "usd", "$.currency"),
        (["total_price"], 206.09, "$.total_price"),
        (["total_price"], "206.09.1", "$.total_price"),
        (["total_price"], "0.30000000000000004", "$.total_price"),
        (["line_items", 1, "price"], 25.0, "$.line_items[1].price"),
        (["line_items", 1, "quantity"], 0, "$.line_items[1].quantity"),
        (["line_items", 1, "quantity"], "1", "$.line_items[1].quantity"),
        (["line_items", 2, "id"], _DELETE, "$.line_items[2].id"),
        (
            ["line_items", 0, "tax_lines", 0, "price"],
            {"x": 1},
            "$.line_items[0].tax_lines[0].price",
        ),
        (["created_at"], "2026-11-10 16:00:05", "$.created_at"),
        (["created_at"], "yesterday", "$.created_at"),
        (["created_at"], _DELETE, "$.created_at"),
        (["line_items"], {"not": "a list"}, "$.line_items"),
        (
            ["total_price_set", "shop_money", "currency_code"],
            "EUR",
            None,
        ),
    ],
)
def test_bad_payload_raises_mapping_error_with_path(
    path: list[str | int], value: Any, where: str | None
) -> None:
    payload = _corrupt(path, value)
    if path[0] == "total_price_set":
        del payload["total_price"]
        where = "$.total_price_set.shop_money.currency_code"
    with pytest.raises(MappingError) as info:
        map_order(payload, shop_id=SHOP_ID)
    assert info.value.path == where
    assert str(info.value).startswith("shopify")
    assert where is not None
    assert where in info.value.message


def test_money_as_json_number_is_refused_not_rounded() -> None:
    with pytest.raises(MappingError, match="JSON number"):
        map_order(_corrupt(["total_price"], 206.09), shop_id=SHOP_ID)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (["shipping_address", "country_code"], "Ada Lovelace, 12 Analytical Row"),
        (["shipping_address", "name"], "Ada\x00Lovelace"),
        (["customer", "phone"], ["415-555-0132"]),
        (["email"], {"ada@example.com": "415-555-0132"}),
        (["shipping_address", "zip"], 94107),
        (["customer", "first_name"], "Ada" * 30000),
    ],
)
def test_errors_never_echo_buyer_data(path: list[str | int], value: Any) -> None:
    with pytest.raises(MappingError) as info:
        map_order(_corrupt(path, value), shop_id=SHOP_ID)
    error = info.value
    text = " ".join(str(part) for part in (error, error.message, error.path, error.args))
    for secret in BUYER_STRINGS:
        assert secret not in text


def test_payload_must_be_an_object() -> None:
    with pytest.raises(MappingError) as info:
        map_order([1, 2], shop_id=SHOP_ID)
    assert info.value.path == "$"


def test_duplicate_line_ids_are_refused_by_the_model() -> None:
    payload = load("paid_unfulfilled")
    payload["line_items"][1]["id"] = payload["line_items"][0]["id"]
    with pytest.raises(MappingError) as info:
        map_order(payload, shop_id=SHOP_ID)
    assert info.value.path is not None
    assert info.value.path.startswith("Order")


def test_order_id_of() -> None:
    assert order_id_of({"id": 820982911946154508}) == "820982911946154508"
    assert order_id_of({"id": None}) is None
    assert order_id_of({"id": True}) is None
    assert order_id_of("nope") is None


def test_partial_tax_and_code_entries_are_copied_as_far_as_they_go() -> None:
    payload = load("paid_unfulfilled")
    del payload["tax_lines"][0]["title"]
    del payload["discount_codes"][0]["type"]
    ext = map_order(payload, shop_id=SHOP_ID).extensions
    assert ext["tax_lines"] == [{"rate": 0.06, "price": "11.11"}]
    assert ext["discount_codes"] == [{"code": "TENOFF", "amount": "10.00"}]
