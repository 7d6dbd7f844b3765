"""Property tests: a unified object survives JSON and the storage path exactly.

Storage persists `model_dump(mode="json")` and reloads with `model_validate`; the API and
webhooks use `model_dump_json()`. Any drift (a Decimal losing its scale, a datetime losing its
offset, a sensitive field dumped masked, an int id turned into a float) would corrupt data
silently, so these round trips are checked on generated orders rather than a few examples.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

import jsonschema_rs
from hypothesis import given, settings
from hypothesis import strategies as st

from shopbridge.core import (
    Address,
    AfterSale,
    AfterSaleLine,
    Discount,
    InvoiceRequest,
    Listing,
    Money,
    Order,
    OrderLine,
    Party,
    PaymentSummary,
    PresaleInfo,
    Shipment,
    ShipmentLine,
    StockLevel,
    unified_model_json_schema,
)
from shopbridge.core.base import iter_money
from shopbridge.core.enums import (
    AfterSaleStatus,
    AfterSaleType,
    DiscountKind,
    DiscountScope,
    InvoiceMedium,
    InvoiceType,
    ListingStatus,
    OrderStatus,
    PartyType,
    PiiForm,
    PresaleStage,
    RefundStatus,
    ShipmentStatus,
)

SETTINGS = settings(max_examples=100, deadline=None)

ORDER_SCHEMA = jsonschema_rs.Draft202012Validator(
    {**unified_model_json_schema(), "$ref": "#/$defs/Order"}
)

# Any Unicode text the model accepts: UTF-8 encodable (no lone surrogates), no NUL.
safe_chars = st.characters(codec="utf-8", exclude_characters="\x00")
safe_text = st.text(alphabet=safe_chars, max_size=12)
ids = st.text(alphabet=safe_chars, min_size=1, max_size=20)
numeric_ids = st.integers(min_value=1, max_value=2**63 - 1).map(str)
currencies = st.sampled_from(["CNY", "USD", "JPY", "KWD", "EUR"])
moments = st.datetimes(
    min_value=datetime(1971, 1, 1),
    max_value=datetime(2100, 1, 1),
    timezones=st.sampled_from(
        [
            UTC,
            ZoneInfo("Asia/Shanghai"),
            ZoneInfo("America/New_York"),
            timezone(timedelta(hours=5, minutes=30)),
        ]
    ),
)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | safe_text,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(safe_text, children, max_size=3)
    ),
    max_leaves=12,
)
json_objects = st.dictionaries(safe_text, json_values, max_size=4)
payloads = st.none() | json_objects | st.lists(json_values, max_size=3)


@cache
def optional(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


# Strategies are built once per currency (cached): building them inside each draw costs
# more than the test itself.
@cache
def money(currency: str) -> st.SearchStrategy[Money]:
    @st.composite
    def draw_money(draw: st.DrawFn) -> Money:
        places = draw(st.integers(min_value=0, max_value=4))
        amount = draw(
            st.decimals(
                min_value=Decimal("-1000000"),
                max_value=Decimal("999999999999999999"),
                places=places,
                allow_nan=False,
                allow_infinity=False,
            )
        )
        # Feed every accepted input form: Decimal, canonical string, int when integral.
        form = draw(st.sampled_from(["decimal", "str", "int"]))
        value: Decimal | str | int = amount
        if form == "str":
            value = str(amount)
        elif form == "int" and places == 0:
            value = int(amount)
        return Money(amount=value, currency=currency)

    return draw_money()


addresses = st.builds(
    Address,
    country=st.sampled_from(["CN", "US", "GB", "JP"]),
    province=optional(safe_text),
    province_code=optional(safe_text),
    city=optional(safe_text),
    district=optional(safe_text),
    town=optional(safe_text),
    lines=st.lists(safe_text, max_size=3),
    postal_code=optional(safe_text),
)

parties = st.builds(
    Party,
    type=optional(st.sampled_from(PartyType)),
    name=optional(safe_text),
    phone=optional(safe_text),
    alt_phone=optional(safe_text),
    email=optional(safe_text),
    nickname=optional(safe_text),
    company=optional(safe_text),
    address=optional(addresses),
    platform_buyer_id=optional(ids),
    open_id=optional(ids),
    oaid=optional(safe_text),
    pii_form=optional(st.sampled_from(PiiForm)),
)


@cache
def order_line_fields(currency: str) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "title": safe_text,
            "quantity": st.integers(min_value=1, max_value=10**9),
            "unit_price": money(currency),
            "total": money(currency),
            "refund_status": st.sampled_from(RefundStatus),
        },
        optional={
            "sku": optional(ids),
            "platform_product_id": optional(numeric_ids),
            "platform_variant_id": optional(numeric_ids),
            "variant_title": optional(safe_text),
            "discount": optional(money(currency)),
            "tax": optional(money(currency)),
            "status": optional(st.sampled_from(OrderStatus)),
            "native_status": optional(safe_text),
            "native_refund_status": optional(safe_text),
            "extensions": json_objects,
            "raw": payloads,
        },
    )


shipment_fields = st.fixed_dictionaries(
    {"status": st.sampled_from(ShipmentStatus)},
    optional={
        "native_id": optional(ids),
        "carrier_code": optional(st.sampled_from(["SF", "ZTO", "DHL_EXPRESS", "OTHER"])),
        "native_carrier_code": optional(safe_text),
        "tracking_number": optional(ids),
        "tracking_url": optional(st.just("https://t.example/SF1")),
        "shipped_at": optional(moments),
        "delivered_at": optional(moments),
        "extensions": json_objects,
        "raw": payloads,
    },
)


@st.composite
def shipments(draw: st.DrawFn, line_ids: tuple[str, ...]) -> Shipment:
    chosen = draw(st.lists(st.sampled_from(line_ids), unique=True)) if line_ids else []
    lines = [ShipmentLine(line_id=line_id, quantity=draw(st.integers(1, 5))) for line_id in chosen]
    return Shipment(lines=lines, **draw(shipment_fields))


@st.composite
def discounts(draw: st.DrawFn, currency: str, line_ids: tuple[str, ...]) -> Discount:
    scopes = list(DiscountScope) if line_ids else [DiscountScope.ORDER, DiscountScope.SHIPPING]
    scope = draw(st.sampled_from(scopes))
    return Discount(
        kind=draw(st.sampled_from(DiscountKind)),
        scope=scope,
        amount=draw(money(currency)),
        line_id=draw(st.sampled_from(line_ids)) if scope is DiscountScope.LINE else None,
        code=draw(optional(safe_text)),
        description=draw(optional(safe_text)),
    )


@cache
def invoice_requests(currency: str) -> st.SearchStrategy[InvoiceRequest]:
    personal = st.builds(
        InvoiceRequest,
        title_type=st.just(PartyType.INDIVIDUAL),
        medium=st.sampled_from(InvoiceMedium),
        personal_name=optional(safe_text),
        email=optional(safe_text),
        amount=optional(money(currency)),
    )
    company = st.builds(
        InvoiceRequest,
        title_type=st.just(PartyType.ORGANIZATION),
        type=st.sampled_from(InvoiceType),
        company_name=ids,
        tax_number=ids,
        invoice_number=optional(ids),
        issued_at=optional(moments),
        amount=optional(money(currency)),
    )
    return personal | company


@cache
def order_fields(currency: str) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "shop_id": ids,
            "platform": st.sampled_from(["taobao", "shopify", "my_plugin_2"]),
            "platform_order_id": numeric_ids,
            "status": st.sampled_from(OrderStatus),
            "total": money(currency),
            "placed_at": moments,
        },
        optional={
            "id": optional(ids),
            "native_status": optional(safe_text),
            "refund_status": st.sampled_from(RefundStatus),
            "buyer": optional(parties),
            "receiver": optional(parties),
            "payment": optional(
                st.builds(
                    PaymentSummary,
                    method=optional(safe_text),
                    transaction_id=optional(ids),
                    paid_amount=money(currency),
                    paid_at=optional(moments),
                )
            ),
            "subtotal": optional(money(currency)),
            "shipping_fee": optional(money(currency)),
            "discount_total": optional(money(currency)),
            "tax_total": optional(money(currency)),
            "presale": optional(
                st.builds(
                    PresaleInfo,
                    stage=st.sampled_from(PresaleStage),
                    native_stage=optional(safe_text),
                    deposit=money(currency),
                    balance=optional(money(currency)),
                    deposit_paid_at=optional(moments),
                    balance_payable_from=optional(moments),
                    balance_due_at=optional(moments),
                    balance_paid_at=optional(moments),
                )
            ),
            "paid_at": optional(moments),
            "platform_updated_at": optional(moments),
            "buyer_note": optional(safe_text),
            "seller_note": optional(safe_text),
            "invoice_request": optional(invoice_requests(currency)),
            "tags": st.lists(safe_text, max_size=3),
            "extensions": json_objects,
            "raw": payloads,
        },
    )


@st.composite
def orders(draw: st.DrawFn) -> Order:
    currency = draw(currencies)
    line_ids = tuple(draw(st.lists(ids, max_size=4, unique=True)))
    return Order(
        currency=currency,
        lines=[
            OrderLine(native_id=line_id, **draw(order_line_fields(currency)))
            for line_id in line_ids
        ],
        discounts=draw(st.lists(discounts(currency, line_ids), max_size=3)),
        shipments=draw(st.lists(shipments(line_ids), max_size=2)),
        **draw(order_fields(currency)),
    )


def money_scales(order: Order) -> list[tuple[str, tuple[int, tuple[int, ...], int | str]]]:
    return [(m.currency, m.amount.as_tuple()) for m in iter_money(order)]


@SETTINGS
@given(orders())
def test_order_round_trips_are_lossless(order: Order) -> None:
    # API and webhooks: model_dump_json -> model_validate_json.
    text = order.model_dump_json()
    again = Order.model_validate_json(text)
    assert again == order
    assert again.model_dump_json() == text
    assert money_scales(again) == money_scales(order)

    # Storage: model_dump(mode="json") -> JSON column -> model_validate.
    doc = order.model_dump(mode="json")
    stored = Order.model_validate(json.loads(json.dumps(doc, ensure_ascii=False)))
    assert stored == order
    assert stored.model_dump(mode="json") == doc
    assert money_scales(stored) == money_scales(order)

    # What ShopBridge emits is what the published JSON Schema promises.
    ORDER_SCHEMA.validate(doc)

    # Python-mode dumps (which keep Sensitive objects) feed straight back too.
    assert Order.model_validate(order.model_dump()) == order

    # A masked dump is still well-formed, with native payloads withheld.
    masked = json.loads(order.model_dump_json(context={"mask_pii": True}))
    ORDER_SCHEMA.validate(masked)
    assert masked["raw"] is None
    assert all(line["raw"] is None for line in masked["lines"])
    if order.buyer is not None and order.buyer.phone is not None:
        assert masked["buyer"]["phone"] == order.buyer.phone.masked()


@SETTINGS
@given(currencies.flatmap(money))
def test_money_json_keeps_scale(value: Money) -> None:
    text = value.model_dump_json()
    assert json.loads(text)["amount"] == str(value.amount)
    again = Money.model_validate_json(text)
    assert again.amount.as_tuple() == value.amount.as_tuple()


@SETTINGS
@given(
    st.builds(
        AfterSale,
        shop_id=ids,
        platform=st.just("taobao"),
        native_id=numeric_ids,
        type=st.sampled_from(AfterSaleType),
        status=st.sampled_from(AfterSaleStatus),
        platform_order_id=numeric_ids,
        lines=st.lists(
            st.builds(AfterSaleLine, line_id=st.just("1"), quantity=optional(st.integers(1, 9))),
            max_size=1,
        ),
        refund_amount=optional(money("CNY")),
        reason=optional(safe_text),
        return_shipment=optional(shipments(())),
        requested_at=moments,
        extensions=json_objects,
        raw=payloads,
    )
)
def test_after_sale_round_trip(after_sale: AfterSale) -> None:
    again = AfterSale.model_validate_json(after_sale.model_dump_json())
    assert again == after_sale
    assert again.model_dump_json() == after_sale.model_dump_json()


@SETTINGS
@given(
    st.builds(
        Listing,
        shop_id=ids,
        platform=st.just("shopify"),
        platform_listing_id=numeric_ids,
        platform_sku_id=optional(numeric_ids),
        sku=optional(ids),
        quantity=optional(st.integers(0, 10**9)),
        price=optional(money("USD")),
        status=st.sampled_from(ListingStatus),
        platform_updated_at=optional(moments),
        raw=payloads,
    ),
    st.builds(
        StockLevel,
        sku=ids,
        warehouse=optional(ids),
        on_hand=st.integers(0, 10**9),
        reserved=st.integers(0, 10**9),
        available=st.integers(-(10**9), 10**9),
        version=optional(st.integers(0, 2**62)),
        updated_at=moments,
    ),
)
def test_catalog_round_trip(listing: Listing, stock: StockLevel) -> None:
    assert Listing.model_validate_json(listing.model_dump_json()) == listing
    assert StockLevel.model_validate(stock.model_dump(mode="json")) == stock
