from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from shopbridge.core import (
    Address,
    AfterSale,
    Discount,
    InvoiceRequest,
    Listing,
    Money,
    Order,
    OrderLine,
    OrderStatus,
    Party,
    PresaleInfo,
    Product,
    RefundStatus,
    Sensitive,
    Shipment,
    ShipmentLine,
    Shop,
    ShopStatus,
    StockLevel,
    Tenant,
    TrackingEvent,
    Variant,
    Waybill,
    parse_platform_local,
)
from shopbridge.core.enums import (
    AfterSaleStatus,
    AfterSaleType,
    DiscountKind,
    DiscountScope,
    InvoiceType,
    ListingStatus,
    PartyType,
    PresaleStage,
    ShipmentStatus,
    TrackingStatus,
)
from shopbridge.core.schema import PUBLIC_MODELS

NOW = datetime(2026, 11, 10, 16, 0, 5, tzinfo=UTC)


def cny(amount: str) -> Money:
    return Money(amount=amount, currency="CNY")


# --- Order --------------------------------------------------------------------------------


def test_a_taobao_order_validates(order_doc: dict[str, Any]) -> None:
    order = Order.model_validate(order_doc)
    assert order.native_id == "3028689418086124"
    assert order.status is OrderStatus.AWAITING_SHIPMENT
    assert order.refund_status is RefundStatus.NONE
    assert order.lines[0].total == cny("108.00")
    assert isinstance(order.receiver, Party)
    assert order.receiver.phone == Sensitive("13812345678", "phone")
    assert order.placed_at == parse_platform_local("2026-11-11 00:00:05")
    assert order.model_dump(mode="json", exclude_defaults=True)["raw"] == order_doc["raw"]


def test_platform_order_id_must_be_a_string(order_doc: dict[str, Any]) -> None:
    order_doc["platform_order_id"] = 3028689418086124
    with pytest.raises(ValidationError, match="platform_order_id"):
        Order.model_validate(order_doc)


def test_unknown_fields_are_rejected_at_every_level(order_doc: dict[str, Any]) -> None:
    at_top = order_doc | {"step_paid_fee": "10.00"}
    in_line = copy.deepcopy(order_doc)
    in_line["lines"][0]["divide_order_fee"] = "108.00"
    in_address = copy.deepcopy(order_doc)
    in_address["receiver"]["address"]["receiver_town"] = "文新街道"
    for doc in (at_top, in_line, in_address):
        with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
            Order.model_validate(doc)


def test_every_public_model_forbids_extra_fields() -> None:
    for model in PUBLIC_MODELS:
        assert model.model_config.get("extra") == "forbid", model.__name__


@pytest.mark.parametrize(
    "path",
    [
        ("total",),
        ("lines", 0, "unit_price"),
        ("lines", 0, "discount"),
        ("shipping_fee",),
    ],
)
def test_all_money_of_an_order_shares_its_currency(
    order_doc: dict[str, Any], path: tuple[Any, ...]
) -> None:
    target: Any = order_doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = {"amount": "1.00", "currency": "USD"}
    with pytest.raises(ValidationError, match="all amounts must be in CNY, found USD"):
        Order.model_validate(order_doc)


def test_nested_money_currency_is_checked_too(order_doc: dict[str, Any]) -> None:
    order_doc["presale"] = {
        "stage": "deposit_paid",
        "deposit": {"amount": "50.00", "currency": "USD"},
    }
    with pytest.raises(ValidationError, match="found USD"):
        Order.model_validate(order_doc)
    order_doc["presale"] = None
    order_doc["invoice_request"] = {
        "title_type": "individual",
        "amount": {"amount": "108.00", "currency": "USD"},
    }
    with pytest.raises(ValidationError, match="found USD"):
        Order.model_validate(order_doc)


def test_line_ids_are_unique_and_references_resolve(order_doc: dict[str, Any]) -> None:
    doc = copy.deepcopy(order_doc)
    doc["lines"].append(copy.deepcopy(doc["lines"][0]))
    with pytest.raises(ValidationError, match="duplicate order line native_id"):
        Order.model_validate(doc)

    doc = copy.deepcopy(order_doc)
    doc["shipments"] = [{"carrier_code": "SF", "lines": [{"line_id": "nope", "quantity": 1}]}]
    with pytest.raises(ValidationError, match="shipment refers to unknown line 'nope'"):
        Order.model_validate(doc)

    doc = copy.deepcopy(order_doc)
    doc["discounts"] = [
        {
            "kind": "coupon",
            "scope": "line",
            "line_id": "nope",
            "amount": {"amount": "1", "currency": "CNY"},
        }
    ]
    with pytest.raises(ValidationError, match="discount refers to unknown line 'nope'"):
        Order.model_validate(doc)


def test_assignment_is_validated(order_doc: dict[str, Any]) -> None:
    order = Order.model_validate(order_doc)
    order.status = OrderStatus.SHIPPED
    with pytest.raises(ValidationError):
        order.status = "sent"  # type: ignore[assignment]
    with pytest.raises(ValidationError, match="found USD"):
        order.total = Money(amount="1", currency="USD")
    with pytest.raises(ValidationError, match="timezone"):
        order.paid_at = datetime(2026, 11, 11)


def test_naive_datetimes_are_rejected(order_doc: dict[str, Any]) -> None:
    order_doc["placed_at"] = "2026-11-11 00:00:05"
    with pytest.raises(ValidationError, match="placed_at"):
        Order.model_validate(order_doc)


def test_presale_order() -> None:
    deposit_paid = parse_platform_local("2026-10-21 20:00:00")
    order = Order(
        shop_id="shop_01",
        platform="tmall",
        platform_order_id="4000000000000001",
        status=OrderStatus.PRESALE_DEPOSIT_PAID,
        native_status="WAIT_BUYER_PAY",
        currency="CNY",
        lines=[
            OrderLine(
                native_id="4000000000000002",
                title="预售 羽绒服",
                quantity=1,
                unit_price=cny("999.00"),
                total=cny("999.00"),
            )
        ],
        total=cny("999.00"),
        presale=PresaleInfo(
            stage=PresaleStage.DEPOSIT_PAID,
            native_stage="FRONT_PAID_FINAL_NOPAID",
            deposit=cny("100.00"),
            balance=cny("899.00"),
            deposit_paid_at=deposit_paid,
            balance_payable_from=parse_platform_local("2026-11-11 00:00:00"),
            balance_due_at=parse_platform_local("2026-11-11 23:59:59"),
        ),
        placed_at=deposit_paid,
    )
    assert order.presale is not None
    assert order.presale.balance is not None
    assert order.presale.deposit + order.presale.balance == order.total
    assert Order.model_validate(order.model_dump(mode="json")) == order


def test_discount_scope_and_line_id_agree() -> None:
    Discount(kind=DiscountKind.COUPON, scope=DiscountScope.ORDER, amount=cny("5"))
    Discount(kind=DiscountKind.PROMOTION, scope=DiscountScope.LINE, line_id="1", amount=cny("5"))
    with pytest.raises(ValidationError, match="line_id is required"):
        Discount(kind=DiscountKind.COUPON, scope=DiscountScope.LINE, amount=cny("5"))
    with pytest.raises(ValidationError, match="line_id is required"):
        Discount(kind=DiscountKind.COUPON, scope=DiscountScope.ORDER, line_id="1", amount=cny("5"))


def test_order_line_quantity_bounds() -> None:
    line = {"native_id": "1", "title": "t", "unit_price": cny("1"), "total": cny("1")}
    for bad in (0, -1, 10**9 + 1, 1.0, "1", True):
        with pytest.raises(ValidationError, match="quantity"):
            OrderLine.model_validate({**line, "quantity": bad})


# --- parties ------------------------------------------------------------------------------


def test_address_helpers() -> None:
    address = Address(
        country="CN",
        province="浙江省",
        city="杭州市",
        district="西湖区",
        town="文新街道",
        lines=["文三路 478 号", "7 楼"],
        postal_code="310012",
    )
    assert address.masked() == "CN 浙江省 杭州市 西湖区 文新街道 **** **** 310***"
    district = address.district_only()
    assert district.lines == []
    assert district.postal_code is None
    assert (district.province, district.city, district.district, district.town) == (
        "浙江省",
        "杭州市",
        "西湖区",
        "文新街道",
    )
    assert Address(country="US").masked() == "US"


@pytest.mark.parametrize("country", ["cn", "CHN", "", "C1"])
def test_address_country_is_alpha2(country: str) -> None:
    with pytest.raises(ValidationError):
        Address(country=country)


# --- invoices -----------------------------------------------------------------------------


def test_invoice_title_rules() -> None:
    InvoiceRequest(title_type=PartyType.INDIVIDUAL, personal_name="张三")
    InvoiceRequest(title_type=PartyType.INDIVIDUAL)
    InvoiceRequest(
        title_type=PartyType.ORGANIZATION,
        type=InvoiceType.VAT_SPECIAL,
        company_name="杭州某某科技有限公司",
        tax_number="91330100MA2XXXXXXX",
    )
    with pytest.raises(ValidationError, match="needs company_name"):
        InvoiceRequest(title_type=PartyType.ORGANIZATION)
    with pytest.raises(ValidationError, match="has no personal_name"):
        InvoiceRequest(title_type=PartyType.ORGANIZATION, company_name="c", personal_name="p")
    with pytest.raises(ValidationError, match="has no company_name"):
        InvoiceRequest(title_type=PartyType.INDIVIDUAL, company_name="c")
    with pytest.raises(ValidationError, match="VAT special"):
        InvoiceRequest(title_type=PartyType.ORGANIZATION, type="vat_special", company_name="c")


# --- logistics ----------------------------------------------------------------------------


def test_shipment_tracking_and_waybill() -> None:
    shipment = Shipment(
        platform_order_id="3028689418086124",
        carrier_code="SF",
        native_carrier_code="SF",
        tracking_number="SF1234567890123",
        lines=[ShipmentLine(line_id="1", quantity=1), ShipmentLine(line_id="2", quantity=3)],
        status=ShipmentStatus.SHIPPED,
        shipped_at=NOW,
    )
    assert Shipment.model_validate_json(shipment.model_dump_json()) == shipment
    with pytest.raises(ValidationError, match="duplicate shipment line_id"):
        Shipment(lines=[ShipmentLine(line_id="1", quantity=1)] * 2)
    event = TrackingEvent(
        tracking_number="SF1234567890123",
        carrier_code="SF",
        status=TrackingStatus.DELIVERED,
        native_status="SIGNED",
        description="快件已签收",
        occurred_at=NOW,
    )
    assert event.status is TrackingStatus.DELIVERED
    waybill = Waybill(carrier_code="ZTO", tracking_number="73100000000001", print_data="ENC:xyz")
    assert "ENC:xyz" not in repr(waybill)


# --- after-sales --------------------------------------------------------------------------


def test_after_sale() -> None:
    after_sale = AfterSale(
        shop_id="shop_01",
        platform="taobao",
        native_id="200000000001",
        type=AfterSaleType.RETURN_REFUND,
        status=AfterSaleStatus.AWAITING_BUYER_RETURN,
        native_status="WAIT_BUYER_RETURN_GOODS",
        platform_order_id="3028689418086124",
        lines=[{"line_id": "1", "quantity": 1, "refund_amount": cny("59.00")}],
        refund_amount=cny("59.00"),
        requested_at=NOW,
    )
    assert after_sale.lines[0].refund_amount == cny("59")
    with pytest.raises(ValidationError, match="all amounts must be in"):
        AfterSale.model_validate(
            after_sale.model_dump() | {"refund_amount": Money(amount="1", currency="USD")}
        )
    with pytest.raises(ValidationError, match="duplicate after-sale line_id"):
        AfterSale.model_validate(
            after_sale.model_dump() | {"lines": [{"line_id": "1"}, {"line_id": "1"}]}
        )


# --- catalog and stock --------------------------------------------------------------------


def test_product_variants_and_listing() -> None:
    product = Product(
        title="纯棉T恤",
        code="TS-2026",
        variants=[
            Variant(sku="TS-BLK-L", options={"颜色": "黑", "尺码": "L"}, price=cny("59.00")),
            Variant(sku="TS-BLK-M", options={"颜色": "黑", "尺码": "M"}),
        ],
    )
    assert list(product.variants[0].options) == ["颜色", "尺码"]
    with pytest.raises(ValidationError, match="duplicate variant sku"):
        Product(title="t", variants=[Variant(sku="A"), Variant(sku="A")])
    listing = Listing(
        shop_id="shop_01",
        platform="taobao",
        platform_listing_id="600000000001",
        platform_sku_id="4800000000001",
        sku=None,
        quantity=0,
        status=ListingStatus.SOLD_OUT,
    )
    assert listing.native_id == "600000000001"


def test_stock_level_bounds() -> None:
    oversold = StockLevel(sku="A", on_hand=0, reserved=3, available=-3, updated_at=NOW)
    assert oversold.available == -3
    for field, bad in (("on_hand", -1), ("reserved", -1), ("available", -(10**9) - 1)):
        with pytest.raises(ValidationError, match=field):
            StockLevel.model_validate(
                {"sku": "A", "on_hand": 1, "available": 1, "updated_at": NOW, field: bad}
            )


# --- tenancy ------------------------------------------------------------------------------


def shop(**overrides: Any) -> Shop:
    fields: dict[str, Any] = {
        "id": "shop_01",
        "tenant_id": "ten_01",
        "platform": "shopify",
        "platform_shop_id": "jsmith.myshopify.com",
        "display_name": "J Smith",
        "credentials_ref": "vault:shop_01",
        "settings": {"timezone": "America/New_York", "safety_stock": 2},
        "created_at": NOW,
        "updated_at": NOW,
    }
    return Shop.model_validate(fields | overrides)


def test_tenant_and_shop() -> None:
    assert Tenant(id="ten_01", name="Acme", created_at=NOW).name == "Acme"
    assert shop().status is ShopStatus.ACTIVE
    assert shop(status="disconnected").status is ShopStatus.DISCONNECTED
    with pytest.raises(ValidationError):
        shop(platform="Shopify!")


@pytest.mark.parametrize(
    "settings",
    [
        {"app_secret": "x"},
        {"Access_Token": "x"},
        {"oauth": {"refresh_token": "x"}},
        {"accounts": [{"password": "x"}]},
        {"apiKey": "x"},
    ],
)
def test_shop_settings_refuse_secrets(settings: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match="must not hold credentials"):
        shop(settings=settings)


def test_shop_settings_allow_ordinary_keys() -> None:
    assert shop(settings={"app_key": "12345678", "token_refresh_days": 3}).settings


def test_enums_all_have_unknown_where_natives_can_surprise() -> None:
    for enum in (OrderStatus, RefundStatus, AfterSaleStatus, AfterSaleType, ShipmentStatus):
        assert enum("unknown").value == "unknown"
    assert {s.value for s in OrderStatus} >= {
        "pending_payment",
        "presale_deposit_paid",
        "awaiting_shipment",
        "partially_shipped",
        "shipped",
        "delivered",
        "completed",
        "cancelled",
        "closed",
        "unknown",
    }
